/* Durable commits on disk (WAL, synchronous=FULL). The floor: bare SQLite, one 1 KiB row per
 * transaction and GROUP rows per transaction. The store: one PUBLISH per transaction against
 * group commit of GROUP, each PUBLISH a 1 KiB envelope with a delivery, its answer and its audit
 * entry, as the broker writes them; each against the floor of the same grouping. */
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/store.h"
#include "fusion/vocab.h"
#include "report.h"

#define ENVELOPE_BYTES 1024
#define PHASE_SECONDS  3.0
#define GROUP          64 /* messages per group commit, as one round of PUBLISH windows */

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

/* Writes PUBLISH number n into the open transaction. */
static int s_publish(fx_store_t *store, uint32_t n, const uint8_t *envelope)
{
    fx_store_message_t message = {
        .sender = "THA.RTP.fp1",
        .sender_serial = 7,
        .kind = FX_KIND_CASE_ALERT,
        .urgency = FX_URGENCY_NORMAL,
        .created_at = fx_now_ms(),
        .expires_at = fx_now_ms() + 86400000,
        .envelope = envelope,
        .envelope_len = ENVELOPE_BYTES,
    };
    memcpy(message.msg_id, &n, sizeof n);
    memset(message.header_digest, 0x11, sizeof message.header_digest);
    fx_store_answer_t answer = {.accepted = true, .expires_at = message.expires_at};
    fx_store_audit_entry_t entry = {.event = "accepted",
                                    .actor = message.sender,
                                    .msg_id = message.msg_id,
                                    .header_digest = message.header_digest,
                                    .details = "{\"recipients\":1}"};
    if (fx_store_put_message(store, &message) != FX_OK ||
        fx_store_delivery_add(store, message.msg_id, "IDN.POLRI.fp1") != FX_OK ||
        fx_store_put_answer(store, message.msg_id, &answer) != FX_OK ||
        fx_store_audit_append(store, &entry, NULL, NULL) != FX_OK)
        return -1;
    return 0;
}

/* Publishes in transactions of group messages for PHASE_SECONDS; returns messages per second. */
static double s_phase(fx_store_t *store, uint32_t *next, int group, const uint8_t *envelope)
{
    double start = bench_now(), elapsed = 0;
    long messages = 0;
    while (elapsed < PHASE_SECONDS) {
        if (fx_store_begin(store) != FX_OK)
            return -1;
        for (int i = 0; i < group; i++)
            if (s_publish(store, (*next)++, envelope) != 0)
                return -1;
        if (fx_store_commit(store) != FX_OK)
            return -1;
        messages += group;
        elapsed = bench_now() - start;
    }
    return (double) messages / elapsed;
}

/* The floor: rows of ENVELOPE_BYTES inserted group per transaction into a one-table SQLite
 * database in WAL mode with synchronous=FULL (what fx_store sets), for PHASE_SECONDS; rows per
 * second, or -1. */
static double s_sqlite_floor(const char *path, int group, const uint8_t *row)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *insert = NULL;
    double rate = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS floor(id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO floor(body) VALUES (?)", -1, &insert, NULL) !=
            SQLITE_OK)
        goto cleanup;
    double start = bench_now(), elapsed = 0;
    long rows = 0;
    while (elapsed < PHASE_SECONDS) {
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            goto cleanup;
        for (int i = 0; i < group; i++) {
            sqlite3_bind_blob(insert, 1, row, ENVELOPE_BYTES, SQLITE_STATIC);
            if (sqlite3_step(insert) != SQLITE_DONE || sqlite3_reset(insert) != SQLITE_OK)
                goto cleanup;
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            goto cleanup;
        rows += group;
        elapsed = bench_now() - start;
    }
    rate = (double) rows / elapsed;
cleanup:
    if (rate < 0)
        fprintf(stderr, "bench_store: SQLite floor: %s\n", db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return rate;
}

int main(void)
{
    fx_init();
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/fusion-bench-store-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    int status = 1;
    char why[FX_STORE_WHY_SIZE];
    fx_store_t *store = NULL;
    uint8_t envelope[ENVELOPE_BYTES];
    for (size_t i = 0; i < sizeof envelope; i++)
        envelope[i] = (uint8_t) (i * 13);
    snprintf(path, sizeof path, "%s/floor.db", dir);
    double floor_single = s_sqlite_floor(path, 1, envelope);
    double floor_grouped = floor_single > 0 ? s_sqlite_floor(path, GROUP, envelope) : -1;
    if (floor_grouped <= 0)
        goto cleanup;
    char name[128];
    bench_report("floor: SQLite WAL synchronous=FULL, one 1 KiB row/commit", floor_single,
                 "commit/s", 0);
    snprintf(name, sizeof name, "floor: SQLite WAL synchronous=FULL, %d rows/commit", GROUP);
    bench_report(name, floor_grouped, "row/s", floor_single);
    snprintf(path, sizeof path, "%s/broker.db", dir);
    if (fx_store_open(path, NULL, &store, why) != FX_OK) {
        fprintf(stderr, "bench_store: %s\n", why);
        goto cleanup;
    }
    uint32_t next = 1;
    double single = s_phase(store, &next, 1, envelope);
    double grouped = s_phase(store, &next, GROUP, envelope);
    if (single <= 0 || grouped <= 0) {
        fprintf(stderr, "bench_store: %s\n", fx_store_error_text(store));
        goto cleanup;
    }
    bench_report("store: PUBLISH, one per commit (fsync)", single, "msg/s", floor_single);
    snprintf(name, sizeof name, "store: PUBLISH, %d per commit (group commit)", GROUP);
    bench_report(name, grouped, "msg/s", floor_grouped);
    snprintf(name, sizeof name, "store: group commits of %d vs commits of one", GROUP);
    bench_report(name, grouped / GROUP, "commit/s", single);
    status = 0;
cleanup:
    fx_store_destroy(&store);
    nftw(dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
