/* dbstate: reads a broker database (read-only, beside a running broker) for the reliability
 * tests: the msg_ids it stores, or a digest of its state without the audit trail, so a test can
 * show that an attack changed nothing. See --help. */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/store.h"

static void s_help(void)
{
    printf(
        "Usage: dbstate DB ids | digest | count TABLE | leaf-hash SEQ\n\n"
        "  ids          every stored msg_id (messages table), one hex line each\n"
        "  digest       one line: the row counts of messages, deliveries, answers,\n"
        "               subscriptions and referrals, and a BLAKE2b digest of their rows\n"
        "               (the audit trail and delivery bookkeeping such as attempts and\n"
        "               times are left out: they change by design)\n"
        "  count TABLE  the number of rows of TABLE (messages, deliveries, answers, audit, ...)\n"
        "  leaf-hash SEQ  the leaf hash of the audit row SEQ's fields as they are now, in hex\n"
        "               (to forge an entry whose stored leaf hash matches it)\n"
        "Exit: 0 ok, 2 usage, 4 the database cannot be read.\n");
}

/* Feeds every column of every row of sql into the hash; returns the row count or -1. */
static long s_hash_rows(sqlite3 *db, const char *sql, crypto_generichash_state *hash)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    long rows = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        rows++;
        for (int c = 0; c < sqlite3_column_count(stmt); c++) {
            const void *data = sqlite3_column_blob(stmt, c);
            unsigned char len[4];
            int n = sqlite3_column_bytes(stmt, c);
            memcpy(len, &n, sizeof len);
            crypto_generichash_update(hash, len, sizeof len);
            if (data)
                crypto_generichash_update(hash, data, (unsigned long long) n);
        }
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? rows : -1;
}

/* Prints where the middle 32 bytes of the first stored envelope are in the file. */
static int s_envelope_offset(sqlite3 *db, const char *path)
{
    sqlite3_stmt *stmt = NULL;
    unsigned char probe[32];
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT envelope FROM messages ORDER BY id LIMIT 1", -1, &stmt,
                           NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_bytes(stmt, 0) > 128) {
        int len = sqlite3_column_bytes(stmt, 0);
        memcpy(probe, (const unsigned char *) sqlite3_column_blob(stmt, 0) + len / 2, 32);
        found = 1;
    }
    sqlite3_finalize(stmt);
    FILE *file = found ? fopen(path, "rb") : NULL;
    if (!file)
        return 4;
    static unsigned char data[64 << 20];
    size_t n = fread(data, 1, sizeof data, file);
    fclose(file);
    unsigned char *at = memmem(data, n, probe, sizeof probe);
    if (!at)
        return 4;
    printf("%ld\n", (long) (at - data));
    return 0;
}

/* Prints the leaf hash of audit row seq's fields as stored. */
static int s_leaf_hash(sqlite3 *db, const char *seq_text)
{
    sqlite3_stmt *stmt = NULL;
    int status = 4;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, time_ms, event, actor, subject, msg_id, header_digest, "
                           "details FROM audit WHERE seq = ?1",
                           -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(stmt, 1, strtoll(seq_text, NULL, 10)) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        fx_store_audit_entry_t entry = {
            .seq = sqlite3_column_int64(stmt, 0),
            .time_ms = sqlite3_column_int64(stmt, 1),
            .event = (const char *) sqlite3_column_text(stmt, 2),
            .actor = (const char *) sqlite3_column_text(stmt, 3),
            .subject = (const char *) sqlite3_column_text(stmt, 4),
            .msg_id = sqlite3_column_bytes(stmt, 5) == FX_STORE_MSG_ID_BYTES
                          ? sqlite3_column_blob(stmt, 5)
                          : NULL,
            .header_digest = sqlite3_column_bytes(stmt, 6) == FX_STORE_DIGEST_BYTES
                                 ? sqlite3_column_blob(stmt, 6)
                                 : NULL,
            .details = (const char *) sqlite3_column_text(stmt, 7),
        };
        uint8_t leaf[FX_STORE_LEAF_HASH_BYTES];
        char hex[2 * FX_STORE_LEAF_HASH_BYTES + 1];
        fx_store_audit_leaf_hash(&entry, leaf);
        printf("%s\n", sodium_bin2hex(hex, sizeof hex, leaf, sizeof leaf));
        status = 0;
    } else {
        fprintf(stderr, "dbstate: no audit row %s\n", seq_text);
    }
    sqlite3_finalize(stmt);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        s_help();
        return 0;
    }
    if (argc < 3 || sodium_init() < 0) {
        s_help();
        return 2;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "dbstate: cannot open %s: %s\n", argv[1], sqlite3_errmsg(db));
        sqlite3_close(db);
        return 4;
    }
    sqlite3_busy_timeout(db, 10000);
    int status = 4;
    if (strcmp(argv[2], "ids") == 0) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db, "SELECT lower(hex(msg_id)) FROM messages ORDER BY 1", -1, &stmt,
                               NULL) == SQLITE_OK) {
            int rc;
            while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                printf("%s\n", (const char *) sqlite3_column_text(stmt, 0));
            status = rc == SQLITE_DONE ? 0 : 4;
        }
        sqlite3_finalize(stmt);
    } else if (strcmp(argv[2], "digest") == 0) {
        static const char *const queries[] = {
            "SELECT msg_id, sender, created_at, expires_at, header_digest, envelope_hash "
            "FROM messages ORDER BY msg_id",
            "SELECT m.msg_id, d.recipient, d.state FROM deliveries d JOIN messages m "
            "ON m.id = d.message ORDER BY 1, 2",
            "SELECT msg_id, accepted, code, rule FROM answers ORDER BY msg_id",
            "SELECT principal, pattern, stages, kinds, exercise FROM subscriptions ORDER BY 1, 2, "
            "5",
            "SELECT msg_id, agency, state FROM referrals ORDER BY 1, 2",
        };
        static const char *const names[] = {"messages", "deliveries", "answers", "subscriptions",
                                            "referrals"};
        crypto_generichash_state hash;
        crypto_generichash_init(&hash, NULL, 0, 32);
        char line[512] = "";
        size_t used = 0;
        status = 0;
        for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
            long rows = s_hash_rows(db, queries[i], &hash);
            if (rows < 0) {
                fprintf(stderr, "dbstate: %s: %s\n", names[i], sqlite3_errmsg(db));
                status = 4;
                break;
            }
            used += (size_t) snprintf(line + used, sizeof line - used, "%s=%ld ", names[i], rows);
        }
        unsigned char digest[32];
        char hex[65];
        crypto_generichash_final(&hash, digest, sizeof digest);
        if (status == 0)
            printf("%sdigest=%s\n", line, sodium_bin2hex(hex, sizeof hex, digest, sizeof digest));
    } else if (strcmp(argv[2], "count") == 0 && argc == 4) {
        static const char *const tables[] = {"messages", "deliveries",    "answers",
                                             "audit",    "subscriptions", "referrals"};
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            if (strcmp(argv[3], tables[i]) != 0)
                continue;
            char sql[64];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
            sqlite3_stmt *stmt = NULL;
            if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
                sqlite3_step(stmt) == SQLITE_ROW) {
                printf("%lld\n", (long long) sqlite3_column_int64(stmt, 0));
                status = 0;
            }
            sqlite3_finalize(stmt);
        }
        if (status != 0)
            fprintf(stderr, "dbstate: cannot count %s\n", argv[3]);
    } else if (strcmp(argv[2], "leaf-hash") == 0 && argc == 4) {
        status = s_leaf_hash(db, argv[3]);
    } else if (strcmp(argv[2], "envelope-offset") == 0) {
        status = s_envelope_offset(db, argv[1]);
    } else if (strcmp(argv[2], "root-offset") == 0 && argc == 4) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2(db,
                               "SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM "
                               "sqlite_master WHERE type = 'table' AND name = ?1",
                               -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_bind_text(stmt, 1, argv[3], -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            printf("%lld\n", (sqlite3_column_int64(stmt, 0) - 1) * sqlite3_column_int64(stmt, 1));
            status = 0;
        }
        sqlite3_finalize(stmt);
    } else {
        s_help();
        status = 2;
    }
    sqlite3_close(db);
    return status;
}
