/* Durable commits on disk (WAL, synchronous=FULL). The floor: bare SQLite, one 1 KiB row per
 * transaction and GROUP rows per transaction. The store: one PUBLISH per transaction against
 * group commit of GROUP, each against the floor of the same grouping, and the store's CPU per
 * message with and without the audit entries. A PUBLISH is written as the broker writes an
 * accepted 1 KiB message for one recipient: under a savepoint, the message (random msg_id), its
 * delivery row and its accepted entry; in the same transaction, the previous transaction's
 * messages are marked sent and received, each with its delivered and received entry (filed
 * under the delivery, as the broker files them). */
#include <ftw.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fusion/store.h"
#include "fusion/vocab.h"
#include "proc.h"
#include "report.h"

#define ENVELOPE_BYTES 1024
#define PHASE_SECONDS  3.0
#define GROUP          64 /* messages per group commit, as one round of PUBLISH windows */
#define AUDIT_ROUNDS   5  /* alternating rounds with and without the audit entries */
#define RECIPIENT      "IDN.POLRI.fp1"

typedef struct {
    fx_store_t *store;
    const uint8_t *envelope;
    bool audit;      /* write the audit entries */
    size_t previous; /* messages of the previous transaction, to mark */
} writer_t;

static int s_audit(writer_t *w, const char *event, const char *actor, const char *subject,
                   const uint8_t *msg_id, const uint8_t *digest, const char *details)
{
    fx_store_audit_entry_t entry = {.event = event,
                                    .actor = actor,
                                    .subject = subject,
                                    .msg_id = msg_id,
                                    .header_digest = digest,
                                    .details = details};
    return !w->audit || fx_store_audit_append(w->store, &entry, NULL, NULL) == FX_OK ? 0 : -1;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

/* Marks the previous transaction's messages sent, as a delivery round does (it lists the
 * recipient's pending deliveries, which are these), and received, as the recipient's RECEIVED
 * answers do. */
static int s_mark_previous(writer_t *w)
{
    if (w->previous == 0)
        return 0;
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    if (fx_store_pending_list(w->store, RECIPIENT, fx_now_ms(), w->previous, &list, &count) !=
            FX_OK ||
        count != w->previous) {
        fx_store_pending_free(&list, count);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        const fx_store_pending_t *p = &list[i];
        bool changed = false;
        fx_store_audit_entry_t delivered = {.event = "delivered",
                                            .actor = "broker",
                                            .subject = RECIPIENT,
                                            .msg_id = p->msg_id,
                                            .header_digest = p->header_digest};
        fx_store_audit_entry_t received = {
            .event = "received", .actor = RECIPIENT, .msg_id = p->msg_id};
        if (fx_store_delivery_sent(w->store, p->seq, fx_now_ms(), w->audit ? &delivered : NULL) !=
                FX_OK ||
            fx_store_delivery_received(w->store, p->msg_id, RECIPIENT, w->audit ? &received : NULL,
                                       &changed) != FX_OK)
            rc = -1;
    }
    fx_store_pending_free(&list, count);
    return rc;
}

/* Writes one PUBLISH in the open transaction. */
static int s_publish(writer_t *w)
{
    fx_store_message_t message = {
        .sender = "THA.RTP.fp1",
        .sender_serial = 7,
        .kind = FX_KIND_CASE_ALERT,
        .urgency = FX_URGENCY_NORMAL,
        .created_at = fx_now_ms(),
        .expires_at = fx_now_ms() + 86400000,
        .envelope = w->envelope,
        .envelope_len = ENVELOPE_BYTES,
    };
    randombytes_buf(message.msg_id, sizeof message.msg_id);
    randombytes_buf(message.header_digest, sizeof message.header_digest);
    if (fx_store_savepoint(w->store) != FX_OK ||
        fx_store_put_message(w->store, &message) != FX_OK ||
        fx_store_delivery_add(w->store, message.msg_id, RECIPIENT) != FX_OK ||
        s_audit(w, "accepted", message.sender, NULL, message.msg_id, message.header_digest,
                "{\"allowed\":[{\"recipient\":\"" RECIPIENT "\",\"sections\":[{\"rule\":"
                "\"route-alerts\",\"section\":1}]}],\"denied\":[],\"kind\":\"case_alert\","
                "\"recipients\":1,\"sections\":1}") != 0 ||
        fx_store_savepoint_release(w->store) != FX_OK)
        return -1;
    return 0;
}

/* Writes transactions of group messages for PHASE_SECONDS; returns messages per second, and the
 * process's CPU per message in *cpu_us_p (the store's checkpointer thread included), or -1. */
static double s_phase(writer_t *w, int group, double *cpu_us_p)
{
    double start = bench_now(), elapsed = 0, cpu = bench_proc_cpu_us(getpid());
    long messages = 0;
    while (elapsed < PHASE_SECONDS) {
        if (fx_store_begin(w->store) != FX_OK || s_mark_previous(w) != 0)
            return -1;
        for (int i = 0; i < group; i++)
            if (s_publish(w) != 0)
                return -1;
        if (fx_store_commit(w->store) != FX_OK)
            return -1;
        w->previous = (size_t) group;
        messages += group;
        elapsed = bench_now() - start;
    }
    if (cpu_us_p)
        *cpu_us_p = (bench_proc_cpu_us(getpid()) - cpu) / (double) messages;
    return (double) messages / elapsed;
}

/* The store's CPU per message with the audit entries and without, GROUP per transaction,
 * alternating AUDIT_ROUNDS times in the same store; the median of each. 0, or -1. */
static int s_audit_cost(writer_t *w)
{
    double with[AUDIT_ROUNDS], without[AUDIT_ROUNDS];
    for (int round = 0; round < AUDIT_ROUNDS; round++)
        for (int audit = 1; audit >= 0; audit--) {
            w->audit = audit;
            if (s_phase(w, GROUP, audit ? &with[round] : &without[round]) < 0)
                return -1;
        }
    w->audit = true;
    char name[128];
    snprintf(name, sizeof name, "store: CPU per msg with the audit (vs without), %d per commit",
             GROUP);
    bench_report(name, bench_median(with, AUDIT_ROUNDS), "us", bench_median(without, AUDIT_ROUNDS));
    return 0;
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
    fx_store_options_t options = {.background_checkpoint = true}; /* as the broker's */
    writer_t writer = {.envelope = envelope, .audit = true};
    double single, grouped;
    if (fx_store_open(path, &options, &store, why) != FX_OK) {
        fprintf(stderr, "bench_store: %s\n", why);
        goto cleanup;
    }
    writer.store = store;
    if ((single = s_phase(&writer, 1, NULL)) <= 0 || (grouped = s_phase(&writer, GROUP, NULL)) <= 0)
        goto failed;
    bench_report("store: PUBLISH, one per commit (fsync)", single, "msg/s", floor_single);
    snprintf(name, sizeof name, "store: PUBLISH, %d per commit (group commit)", GROUP);
    bench_report(name, grouped, "msg/s", floor_grouped);
    snprintf(name, sizeof name, "store: group commits of %d vs commits of one", GROUP);
    bench_report(name, grouped / GROUP, "commit/s", single);
    if (s_audit_cost(&writer) != 0)
        goto failed;
    status = 0;
    goto cleanup;
failed:
    fprintf(stderr, "bench_store: %s\n", fx_store_error_text(store));
cleanup:
    fx_store_destroy(&store);
    nftw(dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
