/* The durable store: schema and version check, group commit, rollback, idempotent answers,
 * delivery order and states, expiry and pruning, subscriptions, referral deadlines, the audit
 * trail's leaf hashes, the WAL's writes gathered (lib/store_vfs.c), and failures: a full disk, a
 * failed fsync, a failed WAL write, corrupt files and rows. */
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fusion/store.h"
#include "../../lib/store_vfs.h" /* white-box: the batching VFS without the store */
#include "fusion/vocab.h"
#include "testutil.h"

#define SENDER     "THA.RTP.fp1"
#define RECIPIENT1 "IDN.POLRI.fp1"
#define RECIPIENT2 "MYS.PDRM.lo1"
#define FAR_FUTURE (4102444800000LL) /* 2100-01-01 */

/* --- Helpers ---------------------------------------------------------------------------- */

static void s_msg_id(int n, uint8_t msg_id[FX_STORE_MSG_ID_BYTES])
{
    memset(msg_id, 0, FX_STORE_MSG_ID_BYTES);
    msg_id[0] = 0xF5;
    msg_id[12] = (uint8_t) (n >> 24);
    msg_id[13] = (uint8_t) (n >> 16);
    msg_id[14] = (uint8_t) (n >> 8);
    msg_id[15] = (uint8_t) n;
}

static fx_store_t *s_open(const char *path, const fx_store_options_t *options)
{
    fx_store_t *store = NULL;
    char why[FX_STORE_WHY_SIZE];
    fx_err_t err = fx_store_open(path, options, &store, why);
    if (err != FX_OK)
        fail_msg("fx_store_open %s: %s", path, why);
    assert_non_null(store);
    return store;
}

/* Stores message n (envelope of len bytes derived from n) without deliveries. */
static fx_err_t s_put_message(fx_store_t *store, int n, int64_t expires_at, size_t len)
{
    uint8_t *envelope = malloc(len);
    assert_non_null(envelope);
    for (size_t i = 0; i < len; i++)
        envelope[i] = (uint8_t) (n * 31 + i);
    fx_store_message_t message = {
        .sender = SENDER,
        .sender_serial = 42,
        .kind = FX_KIND_CASE_ALERT,
        .urgency = FX_URGENCY_NORMAL,
        .created_at = 1000,
        .expires_at = expires_at,
        .envelope = envelope,
        .envelope_len = len,
        .exercise = "",
    };
    s_msg_id(n, message.msg_id);
    char header[32];
    snprintf(header, sizeof header, "header %d", n);
    crypto_generichash(message.header_digest, sizeof message.header_digest,
                       (const uint8_t *) header, strlen(header), NULL, 0);
    fx_err_t err = fx_store_put_message(store, &message);
    free(envelope);
    return err;
}

/* What the broker writes for one accepted PUBLISH: the message, a delivery per recipient, the
 * answer and an audit entry. Stops at the first error and returns it. */
static fx_err_t s_publish(fx_store_t *store, int n, int64_t expires_at, int recipients)
{
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    s_msg_id(n, msg_id);
    fx_err_t err = s_put_message(store, n, expires_at, 1024);
    if (err == FX_OK)
        err = fx_store_delivery_add(store, msg_id, RECIPIENT1);
    if (err == FX_OK && recipients > 1)
        err = fx_store_delivery_add(store, msg_id, RECIPIENT2);
    if (err == FX_OK) {
        fx_store_answer_t answer = {.accepted = true, .expires_at = expires_at};
        err = fx_store_put_answer(store, msg_id, &answer);
    }
    if (err == FX_OK) {
        fx_store_audit_entry_t entry = {
            .time_ms = 5000 + n,
            .event = "accepted",
            .actor = SENDER,
            .msg_id = msg_id,
            .details = "{\"recipients\":2}",
        };
        err = fx_store_audit_append(store, &entry, NULL, NULL);
    }
    return err;
}

static fx_store_stats_t s_stats(fx_store_t *store)
{
    fx_store_stats_t stats;
    assert_int_equal(fx_store_stats(store, &stats), FX_OK);
    return stats;
}

/* The message number encoded in a msg_id by s_msg_id. */
static int s_msg_number(const uint8_t msg_id[FX_STORE_MSG_ID_BYTES])
{
    return (msg_id[12] << 24) | (msg_id[13] << 16) | (msg_id[14] << 8) | msg_id[15];
}

/* Runs SQL on the database file with a connection of the test's own, outside the store. */
static void s_raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK)
        fail_msg("%s: %s", sql, error);
    sqlite3_close(db);
}

/* The first column of the first row of a query, as an integer. */
static long long s_raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

typedef struct {
    char *dir;
    char *path;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tempdir();
    fx->path = tu_path(fx->dir, "broker.db");
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *fx = *state;
    tu_rmtree(fx->dir);
    free(fx->path);
    free(fx->dir);
    free(fx);
    return 0;
}

/* --- Schema ----------------------------------------------------------------------------- */

static void test_create_and_reopen(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_false(fx_store_failed(store));
    assert_string_equal(fx_store_error_text(store), "");
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages, 0);
    assert_int_equal(stats.audit_entries, 0);
    assert_int_equal(stats.oldest_pending_at, 0);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    /* The write-ahead log is as private as the database. */
    char *wal = tu_path(fx->dir, "broker.db-wal");
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(wal);
    fx_store_destroy(&store);
    assert_null(store);
    fx_store_destroy(&store); /* NULL is accepted */

    assert_int_equal(s_raw_int(fx->path, "PRAGMA user_version"), FX_STORE_SCHEMA_VERSION);
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    assert_int_equal(s_stats(store).messages, 1);
    fx_store_destroy(&store);

    fx_store_t *none = NULL;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open("/nonexistent/dir/broker.db", NULL, &none, why), FX_ERR_STORAGE);
    assert_null(none);
    assert_non_null(strstr(why, "/nonexistent/dir/broker.db"));
}

/* One writer per store: a second open for writing, in this process or another, is refused and
 * changes nothing; read-only opens still work; the lock goes with the store, reopen included. */
static void test_one_writer(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    fx_store_t *second = NULL;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, NULL, &second, why), FX_ERR_STORAGE);
    assert_null(second);
    assert_non_null(strstr(why, "is in use by another process"));
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        fx_store_t *other = NULL;
        char other_why[FX_STORE_WHY_SIZE];
        _exit(fx_store_open(fx->path, NULL, &other, other_why) == FX_ERR_STORAGE &&
                      strstr(other_why, "in use")
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_store_t *reader = s_open(fx->path, &(fx_store_options_t){.read_only = true});
    assert_int_equal(s_stats(reader).messages, 1);
    fx_store_destroy(&reader);
    /* The refused opens left the first one working. */
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_reopen(store), FX_OK);
    assert_int_equal(fx_store_open(fx->path, NULL, &second, why), FX_ERR_STORAGE);
    fx_store_destroy(&store);
    store = s_open(fx->path, NULL);
    assert_int_equal(s_stats(store).messages, 2);
    fx_store_destroy(&store);
}

/* An audit seq taken behind the store's back (only something that ignores its lock can) fails
 * the store with a reason, rather than passing a constraint error up as if nothing was wrong. */
static void test_audit_seq_taken(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    s_raw_sql(fx->path, "INSERT INTO audit (seq, time_ms, event, actor, subject, details,"
                        " leaf_hash) SELECT max(seq) + 1, 0, 'x', '', '', '{}', zeroblob(32)"
                        " FROM audit");
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_ERR_STORAGE);
    assert_true(fx_store_failed(store));
    assert_non_null(strstr(fx_store_error_text(store), "exists already"));
    fx_store_destroy(&store);
}

static void test_newer_schema_refused(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_destroy(&store);
    s_raw_sql(fx->path, "PRAGMA user_version = 2");
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_null(store);
    assert_non_null(strstr(why, "schema version 2, newer"));

    s_raw_sql(fx->path, "PRAGMA user_version = 0");
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "unknown schema version 0"));

    /* Another program's database is refused and left as it was (not switched to WAL). */
    char *other = tu_path(fx->dir, "other.db");
    s_raw_sql(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    assert_int_equal(fx_store_open(other, NULL, &store, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a Fusion store"));
    assert_int_equal(s_raw_int(other, "SELECT count(*) FROM t"), 1);
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *) sqlite3_column_text(stmt, 0), "delete");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    free(other);
}

/* The names in dir, sorted, one per line, into out. */
static void s_listing(const char *dir, char *out, size_t size)
{
    char command[512];
    snprintf(command, sizeof command, "ls -a '%s'", dir);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t n = fread(out, 1, size - 1, pipe);
    out[n] = '\0';
    assert_int_equal(pclose(pipe), 0);
}

/* The broker's --check: fx_store_check_file reads what fx_store_open would refuse, and creates
 * no file beside the database (a read-only SQLite connection makes a -wal and a -shm when they
 * are not there, and leaves them). */
static void test_check_file(void **state)
{
    fixture_t *fx = *state;
    char before[1024], after[1024], why[FX_STORE_WHY_SIZE];
    s_listing(fx->dir, before, sizeof before);
    assert_int_equal(fx_store_check_file(fx->path, why), FX_OK); /* absent: created at start */
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);

    /* A store, closed (its log checkpointed and gone), then open with entries only in its log. */
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    fx_store_destroy(&store);
    s_listing(fx->dir, before, sizeof before);
    assert_null(strstr(before, "-wal"));
    assert_int_equal(fx_store_check_file(fx->path, why), FX_OK);
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);
    store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_OK);
    s_listing(fx->dir, before, sizeof before);
    assert_non_null(strstr(before, "broker.db-shm"));
    assert_int_equal(fx_store_check_file(fx->path, why), FX_OK);
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);
    fx_store_destroy(&store);

    /* A name that means something in an SQLite URI. */
    char *odd = tu_path(fx->dir, "odd?name#%41.db");
    store = s_open(odd, NULL);
    fx_store_destroy(&store);
    assert_int_equal(fx_store_check_file(odd, why), FX_OK);
    s_raw_sql(odd, "PRAGMA user_version = 2");
    assert_int_equal(fx_store_check_file(odd, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "schema version 2, newer"));
    free(odd);

    /* What the start refuses: a text file, another program's database, a directory. */
    char *yaml = tu_path(fx->dir, "broker.yaml");
    tu_write(yaml, "id: RSO.FUSION.broker\ndatabase: broker.yaml\n", 0644);
    s_listing(fx->dir, before, sizeof before);
    assert_int_equal(fx_store_check_file(yaml, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a database"));
    char *other = tu_path(fx->dir, "other.db");
    s_raw_sql(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    s_listing(fx->dir, before, sizeof before);
    assert_int_equal(fx_store_check_file(other, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a Fusion store"));
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(fx_store_check_file(fx->dir, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a regular file"));
    assert_int_equal(fx_store_check_file("", why), FX_ERR_INVALID);
    free(yaml);
    free(other);
}

/* Copies the file from to to, byte for byte. */
static void s_copy_file(const char *from, const char *to)
{
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(fx_file_read(from, 64u << 20, &data, &len), FX_OK);
    assert_int_equal(fx_file_write(to, data, len, 0600, 0), FX_OK);
    free(data);
}

/* The auditor's tools open the store read-only: they leave no file beside it (a read-only SQLite
 * connection makes a -wal and a -shm when they are not there, and leaves them), and still read
 * what a broker running on it committed, and what a log left beside it holds. */
static void test_read_only_leaves_no_file(void **state)
{
    fixture_t *fx = *state;
    char before[1024], after[1024];
    fx_store_options_t ro = {.read_only = true};
    int64_t count = 0;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    fx_store_destroy(&store);

    /* Stopped cleanly: the file alone, read as it is. */
    s_listing(fx->dir, before, sizeof before);
    assert_null(strstr(before, "-wal"));
    fx_store_t *reader = s_open(fx->path, &ro);
    assert_int_equal(fx_store_audit_count(reader, &count), FX_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fx_store_reopen(reader), FX_OK);
    assert_int_equal(s_stats(reader).messages, 1);
    fx_store_destroy(&reader);
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);

    /* A writer running on it: read through its log, which it keeps. */
    store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_OK);
    s_listing(fx->dir, before, sizeof before);
    assert_non_null(strstr(before, "broker.db-shm"));
    reader = s_open(fx->path, &ro);
    assert_int_equal(fx_store_audit_count(reader, &count), FX_OK);
    assert_int_equal(count, 2);
    fx_store_destroy(&reader);
    s_listing(fx->dir, after, sizeof after);
    assert_string_equal(before, after);

    /* A copy of the file with its log but not the log's index: what the log holds is read. */
    char *copy = tu_path(fx->dir, "copy.db");
    char *copy_wal = tu_path(fx->dir, "copy.db-wal");
    char *wal = tu_path(fx->dir, "broker.db-wal");
    s_copy_file(fx->path, copy);
    s_copy_file(wal, copy_wal);
    reader = s_open(copy, &ro);
    assert_int_equal(fx_store_audit_count(reader, &count), FX_OK);
    assert_int_equal(count, 2);
    fx_store_destroy(&reader);
    fx_store_destroy(&store);
    free(copy);
    free(copy_wal);
    free(wal);
}

/* --- Transactions ----------------------------------------------------------------------- */

static void test_group_commit_survives_reopen(void **state)
{
    fixture_t *fx = *state;
    enum { N = 500 };
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_begin(store), FX_OK);
    assert_true(fx_store_in_transaction(store));
    assert_int_equal(fx_store_begin(store), FX_ERR_INVALID);
    for (int n = 1; n <= N; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 2), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);
    assert_false(fx_store_in_transaction(store));
    assert_int_equal(fx_store_commit(store), FX_ERR_INVALID);
    fx_store_destroy(&store);

    store = s_open(fx->path, NULL);
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages, N);
    assert_int_equal(stats.answers, N);
    assert_int_equal(stats.pending_deliveries, 2 * N);
    assert_int_equal(stats.audit_entries, N);
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_pending_list(store, RECIPIENT2, 0, 1000, &list, &count), FX_OK);
    assert_int_equal(count, N);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(s_msg_number(list[i].msg_id), (int) i + 1);
        assert_int_equal(list[i].envelope_len, 1024);
        assert_int_equal(list[i].envelope[5], (uint8_t) ((i + 1) * 31 + 5));
        assert_string_equal(list[i].sender, SENDER);
        assert_int_equal(list[i].sender_serial, 42);
        assert_int_equal(list[i].kind, FX_KIND_CASE_ALERT);
        assert_int_equal(list[i].attempts, 0);
    }
    fx_store_pending_free(&list, count);
    assert_null(list);
    fx_store_destroy(&store);
}

/* With background_checkpoint, the WAL is copied back by the store's own thread: checkpoints
 * run while commits go on, the WAL file stops growing even though the commits never pause (the
 * writer copies what the thread has not yet, store_wal_catch_up), and every row is there after
 * reopening. */
static void test_background_checkpoint(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(
        fx->path, &(fx_store_options_t){.background_checkpoint = true, .checkpoint_pages = 1000});
    char *wal = tu_path(fx->dir, "broker.db-wal");
    int n = 0;
    /* 1 KiB envelopes, 50 per commit, ~2 pages each: 20 times the 1000 pages that ask for a
     * checkpoint, written without a pause between commits. */
    while (n < 10000) {
        assert_int_equal(fx_store_begin(store), FX_OK);
        for (int i = 0; i < 50; i++)
            assert_int_equal(s_publish(store, ++n, FAR_FUTURE, 1), FX_OK);
        assert_int_equal(fx_store_commit(store), FX_OK);
    }
    fx_store_stats_t stats = s_stats(store);
    assert_true(stats.wal_checkpoints >= 10);
    /* Asked at 1000 pages and again at 1250, then the writer's own copy at 1500: a few per WAL
     * cycle (19-20 in all measured), where a checkpointer asked after every commit ran back to
     * back, an fsync of the database each time (64-65). */
    assert_true(stats.wal_checkpoints <= 40);
    assert_int_equal(stats.wal_checkpoint_failures, 0);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    /* The WAL restarted from its beginning: it holds about the 1500 pages at which the writer
     * copies and a commit or two more (1,550-1,650 measured, also under ASan on two busy
     * cores), where without the writer's copy it held every message, 10,500 pages. The bound
     * leaves room for a slow disk (frames are 4096-byte pages with a 24-byte header). */
    assert_true(st.st_size < (off_t) 4000 * (4096 + 24));
    fx_store_destroy(&store);
    store = s_open(fx->path, NULL);
    assert_int_equal(s_stats(store).messages, n);
    assert_int_equal(s_stats(store).wal_checkpoints, 0); /* no checkpointer without the option */
    fx_store_destroy(&store);
    free(wal);
}

static void test_rollback_leaves_nothing(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_rollback(store), FX_ERR_INVALID);
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= 20; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 2), FX_OK);
    assert_int_equal(fx_store_rollback(store), FX_OK);
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages + stats.answers + stats.pending_deliveries, 0);
    assert_int_equal(stats.audit_entries, 0);

    /* One PUBLISH of a group undone alone: 1 and 3 stay, 2 goes. */
    assert_int_equal(fx_store_savepoint(store), FX_ERR_INVALID); /* no transaction */
    assert_int_equal(fx_store_begin(store), FX_OK);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_savepoint(store), FX_OK);
    assert_int_equal(fx_store_savepoint(store), FX_ERR_INVALID); /* one level */
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_ERR_INVALID); /* savepoint still open */
    assert_int_equal(fx_store_savepoint_rollback(store), FX_OK);
    assert_int_equal(fx_store_savepoint(store), FX_OK);
    assert_int_equal(s_publish(store, 3, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_savepoint_release(store), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);
    fx_store_destroy(&store);

    store = s_open(fx->path, NULL);
    fx_store_answer_t answer;
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    s_msg_id(1, msg_id);
    assert_int_equal(fx_store_find_answer(store, msg_id, &answer), FX_OK);
    s_msg_id(2, msg_id);
    assert_int_equal(fx_store_find_answer(store, msg_id, &answer), FX_ERR_NOT_FOUND);
    s_msg_id(3, msg_id);
    assert_int_equal(fx_store_find_answer(store, msg_id, &answer), FX_OK);
    assert_int_equal(s_stats(store).messages, 2);
    /* The audit trail has no gap where entry 2 was undone. */
    int64_t count = 0;
    assert_int_equal(fx_store_audit_count(store, &count), FX_OK);
    assert_int_equal(count, 2);
    assert_int_equal(s_raw_int(fx->path, "SELECT max(seq) FROM audit"), 2);
    fx_store_destroy(&store);
}

/* --- Messages and answers --------------------------------------------------------------- */

static void test_idempotent_answers(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint8_t id1[FX_STORE_MSG_ID_BYTES], id2[FX_STORE_MSG_ID_BYTES];
    s_msg_id(1, id1);
    s_msg_id(2, id2);
    fx_store_answer_t answer, found;
    assert_int_equal(fx_store_find_answer(store, id1, &found), FX_ERR_NOT_FOUND);

    memset(&answer, 0, sizeof answer);
    answer.accepted = false;
    snprintf(answer.code, sizeof answer.code, "tlp_audience");
    snprintf(answer.reason, sizeof answer.reason, "TLP:RED may go to direct recipients only");
    snprintf(answer.rule, sizeof answer.rule, "tlp-red-direct");
    snprintf(answer.sender, sizeof answer.sender, "THA.RTP.fp1");
    answer.expires_at = FAR_FUTURE;
    assert_int_equal(fx_store_begin(store), FX_OK);
    assert_int_equal(fx_store_put_answer(store, id1, &answer), FX_OK);
    /* A second PUBLISH in the same group sees the first answer. */
    assert_int_equal(fx_store_find_answer(store, id1, &found), FX_OK);
    assert_false(found.accepted);
    fx_store_answer_t second = {.accepted = true, .expires_at = FAR_FUTURE};
    assert_int_equal(fx_store_put_answer(store, id1, &second), FX_ERR_EXISTS);
    assert_int_equal(fx_store_commit(store), FX_OK);

    assert_int_equal(s_put_message(store, 2, FAR_FUTURE, 100), FX_OK);
    assert_int_equal(s_put_message(store, 2, FAR_FUTURE, 100), FX_ERR_EXISTS);
    assert_int_equal(fx_store_put_answer(store, id2, &second), FX_OK);
    assert_false(fx_store_failed(store));
    fx_store_destroy(&store);

    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_find_answer(store, id1, &found), FX_OK);
    assert_false(found.accepted);
    assert_string_equal(found.code, "tlp_audience");
    assert_string_equal(found.reason, "TLP:RED may go to direct recipients only");
    assert_string_equal(found.rule, "tlp-red-direct");
    assert_string_equal(found.sender, "THA.RTP.fp1"); /* given again to that principal only */
    assert_int_equal(found.expires_at, FAR_FUTURE);
    assert_int_equal(fx_store_find_answer(store, id2, &found), FX_OK);
    assert_true(found.accepted);
    assert_string_equal(found.code, "");
    assert_string_equal(found.sender, ""); /* the answer row says whom (none here) */
    uint8_t id3[FX_STORE_MSG_ID_BYTES];
    s_msg_id(3, id3);
    assert_int_equal(s_put_message(store, 3, FAR_FUTURE, 100), FX_OK);
    assert_int_equal(fx_store_find_answer(store, id3, &found), FX_OK);
    assert_true(found.accepted);
    assert_string_equal(found.sender, SENDER); /* a stored message's answer: its sender */
    assert_int_equal(s_stats(store).messages, 2);

    /* Bad input is refused without harming the store. */
    fx_store_answer_t bad = {.accepted = false, .expires_at = 1};
    assert_int_equal(fx_store_put_answer(store, id2, &bad), FX_ERR_INVALID); /* no code */
    fx_store_message_t message = {.sender = SENDER, .kind = 99, .envelope = id1, .envelope_len = 1};
    assert_int_equal(fx_store_put_message(store, &message), FX_ERR_INVALID);
    message.kind = FX_KIND_NOTICE;
    message.envelope_len = 9u << 20;
    assert_int_equal(fx_store_put_message(store, &message), FX_ERR_TOO_LARGE);
    assert_false(fx_store_failed(store));
    fx_store_destroy(&store);

    /* A store from before answers had a sender gets the column at its next writable open; its
     * rows say "" (given again to nobody). */
    s_raw_sql(fx->path, "ALTER TABLE answers DROP COLUMN sender");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_find_answer(store, id1, &found), FX_OK);
    assert_string_equal(found.code, "tlp_audience");
    assert_string_equal(found.sender, "");
    fx_store_destroy(&store);
}

/* --- Deliveries ------------------------------------------------------------------------- */

/* Lists recipient's pending deliveries and checks they are exactly the messages in expected. */
static void s_expect_pending(fx_store_t *store, const char *recipient, int64_t now_ms, size_t limit,
                             const int *expected, size_t n)
{
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_pending_list(store, recipient, now_ms, limit, &list, &count), FX_OK);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s_msg_number(list[i].msg_id), expected[i]);
    for (size_t i = 1; i < n; i++)
        assert_true(list[i].seq > list[i - 1].seq);
    fx_store_pending_free(&list, count);
}

/* The seq of recipient's pending delivery of message number n. */
static int64_t s_pending_seq(fx_store_t *store, const char *recipient, int n)
{
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    int64_t seq = 0;
    assert_int_equal(fx_store_pending_list(store, recipient, 0, 100, &list, &count), FX_OK);
    for (size_t i = 0; i < count; i++)
        if (s_msg_number(list[i].msg_id) == n)
            seq = list[i].seq;
    fx_store_pending_free(&list, count);
    assert_true(seq > 0);
    return seq;
}

static void test_delivery_order_and_states(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    int64_t before = fx_now_ms();
    /* Stored in the order 5, 3, 1, 4, 2: a recipient gets them in that order, not by id. */
    const int order[] = {5, 3, 1, 4, 2};
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int i = 0; i < 5; i++) {
        uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
        s_msg_id(order[i], msg_id);
        assert_int_equal(s_put_message(store, order[i], FAR_FUTURE, 64), FX_OK);
        assert_int_equal(fx_store_delivery_add(store, msg_id, RECIPIENT1), FX_OK);
        if (order[i] % 2)
            assert_int_equal(fx_store_delivery_add(store, msg_id, RECIPIENT2), FX_OK);
    }
    assert_int_equal(fx_store_commit(store), FX_OK);
    int64_t after = fx_now_ms();
    uint8_t id[6][FX_STORE_MSG_ID_BYTES];
    for (int n = 1; n <= 5; n++)
        s_msg_id(n, id[n]);

    s_expect_pending(store, RECIPIENT1, 0, 3, (const int[]){5, 3, 1}, 3);
    s_expect_pending(store, RECIPIENT2, 0, 10, (const int[]){5, 3, 1}, 3);
    /* Adding the same delivery again changes nothing. */
    assert_int_equal(fx_store_delivery_add(store, id[5], RECIPIENT1), FX_OK);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){5, 3, 1, 4, 2}, 5);
    uint8_t unknown[FX_STORE_MSG_ID_BYTES];
    s_msg_id(99, unknown);
    assert_int_equal(fx_store_delivery_add(store, unknown, RECIPIENT1), FX_ERR_NOT_FOUND);

    /* Sent (by the delivery's seq): out of the pending list, attempts counted. */
    int64_t seq5 = s_pending_seq(store, RECIPIENT1, 5), seq3 = s_pending_seq(store, RECIPIENT1, 3);
    assert_int_equal(fx_store_delivery_sent(store, seq5, 7000, NULL), FX_OK);
    assert_int_equal(fx_store_delivery_sent(store, seq3, 7000, NULL), FX_OK);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){1, 4, 2}, 3);
    fx_delivery_state_t dstate;
    int attempts = -1;
    uint8_t digest[FX_STORE_DIGEST_BYTES], expected[FX_STORE_DIGEST_BYTES];
    assert_int_equal(fx_store_delivery_state(store, id[5], RECIPIENT1, &dstate, &attempts, digest),
                     FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_SENT);
    assert_int_equal(attempts, 1);
    /* with its message's header digest, for the entry that records a change of it */
    crypto_generichash(expected, sizeof expected, (const uint8_t *) "header 5", 8, NULL, 0);
    assert_memory_equal(digest, expected, sizeof expected);
    assert_int_equal(fx_store_delivery_state(store, id[2], RECIPIENT2, &dstate, NULL, NULL),
                     FX_ERR_NOT_FOUND);
    assert_int_equal(fx_store_delivery_sent(store, 9999, 7000, NULL), FX_ERR_NOT_FOUND);

    /* Received: idempotent, and only for a delivery that exists. */
    bool changed = false;
    assert_int_equal(fx_store_delivery_received(store, id[5], RECIPIENT1, NULL, &changed), FX_OK);
    assert_true(changed);
    assert_int_equal(fx_store_delivery_received(store, id[5], RECIPIENT1, NULL, &changed), FX_OK);
    assert_false(changed);
    assert_int_equal(fx_store_delivery_received(store, id[2], RECIPIENT2, NULL, &changed),
                     FX_ERR_NOT_FOUND);
    assert_false(changed);
    assert_int_equal(fx_store_delivery_received(store, unknown, RECIPIENT1, NULL, &changed),
                     FX_ERR_NOT_FOUND);
    /* A late DELIVER of a received message does not bring it back. */
    assert_int_equal(fx_store_delivery_sent(store, seq5, 8000, NULL), FX_OK);
    assert_int_equal(fx_store_delivery_state(store, id[5], RECIPIENT1, &dstate, &attempts, NULL),
                     FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_RECEIVED);
    assert_int_equal(attempts, 1);

    /* A retry resets only what was last sent before its bound: 3 was sent at 7000, so a bound
     * of 7000 leaves it alone. */
    size_t reset = 0;
    assert_int_equal(fx_store_delivery_state(store, id[3], RECIPIENT1, &dstate, &attempts, NULL),
                     FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_SENT);
    assert_int_equal(fx_store_delivery_reset(store, RECIPIENT1, 7000, &reset), FX_OK);
    assert_int_equal(reset, 0);
    assert_int_equal(fx_store_delivery_state(store, id[3], RECIPIENT1, &dstate, &attempts, NULL),
                     FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_SENT);
    /* Reconnect: the sent-but-not-received one (3) is pending again, in its place. */
    assert_int_equal(fx_store_delivery_reset(store, RECIPIENT1, INT64_MAX, &reset), FX_OK);
    assert_int_equal(reset, 1);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){3, 1, 4, 2}, 4);
    assert_int_equal(fx_store_delivery_reset(store, RECIPIENT1, INT64_MAX, &reset), FX_OK);
    assert_int_equal(reset, 0);
    assert_int_equal(fx_store_delivery_sent(store, seq3, 9000, NULL), FX_OK);
    assert_int_equal(fx_store_delivery_state(store, id[3], RECIPIENT1, &dstate, &attempts, NULL),
                     FX_OK);
    assert_int_equal(attempts, 2);

    size_t count = 0;
    assert_int_equal(fx_store_pending_count(store, RECIPIENT1, &count), FX_OK);
    assert_int_equal(count, 4); /* 3 sent, 1 4 2 pending; 5 received */
    assert_int_equal(fx_store_pending_count(store, RECIPIENT2, &count), FX_OK);
    assert_int_equal(count, 3);
    assert_int_equal(fx_store_pending_count(store, NULL, &count), FX_OK);
    assert_int_equal(count, 7);
    assert_int_equal(fx_store_pending_count(store, "NZL.NZP.fp1", &count), FX_OK);
    assert_int_equal(count, 0);
    int64_t oldest = 0;
    assert_int_equal(fx_store_oldest_pending(store, &oldest), FX_OK);
    assert_true(oldest >= before && oldest <= after);

    /* Received by the delivery's seq: only the recipient's own, and once. */
    int64_t seq1 = s_pending_seq(store, RECIPIENT2, 1);
    assert_int_equal(fx_store_delivery_received_seq(store, seq1, RECIPIENT1, NULL),
                     FX_ERR_NOT_FOUND);
    assert_int_equal(fx_store_delivery_received_seq(store, seq1, RECIPIENT2, NULL), FX_OK);
    assert_int_equal(fx_store_delivery_state(store, id[1], RECIPIENT2, &dstate, NULL, NULL), FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_RECEIVED);
    assert_int_equal(fx_store_delivery_received_seq(store, seq1, RECIPIENT2, NULL),
                     FX_ERR_NOT_FOUND);
    assert_int_equal(fx_store_delivery_received(store, id[1], RECIPIENT2, NULL, &changed), FX_OK);
    assert_false(changed);
    assert_int_equal(fx_store_delivery_received_seq(store, 9999, RECIPIENT2, NULL),
                     FX_ERR_NOT_FOUND);
    s_expect_pending(store, RECIPIENT2, 0, 10, (const int[]){5, 3}, 2);
    fx_store_destroy(&store);

    /* States survive a restart. */
    store = s_open(fx->path, NULL);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){1, 4, 2}, 3);
    assert_int_equal(fx_store_delivery_state(store, id[5], RECIPIENT1, &dstate, NULL, NULL), FX_OK);
    assert_int_equal(dstate, FX_DELIVERY_RECEIVED);
    fx_store_pending_t *list = NULL;
    assert_int_equal(fx_store_pending_list(store, RECIPIENT1, 0, 0, &list, &count), FX_ERR_INVALID);
    fx_store_destroy(&store);

    /* A store written with the index of every delivery by recipient gets the index of the
     * outstanding ones instead at its next writable open, with the same answers. */
    s_raw_sql(fx->path, "DROP INDEX deliveries_pending; CREATE INDEX deliveries_by_recipient"
                        " ON deliveries (recipient, state, seq);");
    store = s_open(fx->path, NULL);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){1, 4, 2}, 3);
    assert_int_equal(fx_store_pending_count(store, RECIPIENT1, &count), FX_OK);
    assert_int_equal(count, 4);
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                         " 'deliveries_pending'"),
                     1);
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                         " 'deliveries_by_recipient'"),
                     0);
    fx_store_destroy(&store);
}

static void test_expiry_and_prune(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= 5; n++)
        assert_int_equal(s_publish(store, n, n <= 3 ? 100000 : 500000, 2), FX_OK);
    /* A rejection is remembered until the message would have expired. */
    uint8_t rejected[FX_STORE_MSG_ID_BYTES];
    s_msg_id(6, rejected);
    fx_store_answer_t answer = {.accepted = false, .code = "forbidden", .expires_at = 100000};
    assert_int_equal(fx_store_put_answer(store, rejected, &answer), FX_OK);
    assert_int_equal(fx_store_prune(store, 200000, 0, NULL), FX_ERR_INVALID); /* in a txn */
    assert_int_equal(fx_store_commit(store), FX_OK);

    s_expect_pending(store, RECIPIENT1, 50000, 10, (const int[]){1, 2, 3, 4, 5}, 5);
    s_expect_pending(store, RECIPIENT1, 100000, 10, (const int[]){4, 5}, 2);
    s_expect_pending(store, RECIPIENT2, 600000, 10, NULL, 0);

    size_t pruned = 0;
    assert_int_equal(fx_store_prune(store, 200000, 0, &pruned), FX_OK);
    assert_int_equal(pruned, 3);
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages, 2);
    assert_int_equal(stats.answers, 2);
    assert_int_equal(stats.pending_deliveries, 4);
    assert_int_equal(stats.audit_entries, 5); /* never pruned */
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    fx_store_answer_t found;
    for (int n = 1; n <= 6; n++) {
        s_msg_id(n, msg_id);
        assert_int_equal(fx_store_find_answer(store, msg_id, &found),
                         n == 4 || n == 5 ? FX_OK : FX_ERR_NOT_FOUND);
    }
    s_msg_id(2, msg_id);
    assert_int_equal(fx_store_delivery_state(store, msg_id, RECIPIENT1, NULL, NULL, NULL),
                     FX_ERR_NOT_FOUND);
    s_expect_pending(store, RECIPIENT1, 0, 10, (const int[]){4, 5}, 2);
    assert_int_equal(fx_store_prune(store, 200000, 0, &pruned), FX_OK);
    assert_int_equal(pruned, 0);

    /* Many expired messages go in several batches, and no more than asked. */
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 100; n < 800; n++)
        assert_int_equal(s_publish(store, n, 300000, 1), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);
    assert_int_equal(fx_store_prune(store, 300000, 600, &pruned), FX_OK);
    assert_int_equal(pruned, 600);
    assert_int_equal(s_stats(store).messages, 102);
    assert_int_equal(fx_store_prune(store, 300000, 0, &pruned), FX_OK);
    assert_int_equal(pruned, 100);
    stats = s_stats(store);
    assert_int_equal(stats.messages, 2);
    assert_int_equal(stats.answers, 2);
    assert_int_equal(stats.pending_deliveries, 4);
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM deliveries"), 4);
    fx_store_destroy(&store);
}

/* --- Subscriptions ---------------------------------------------------------------------- */

typedef struct {
    fx_store_t *store;
    fx_store_subscription_t seen[8];
    int count;
    int stop_after;
    fx_err_t reentrant;
} sub_walk_t;

static int s_collect_subscription(const fx_store_subscription_t *sub, void *arg)
{
    sub_walk_t *walk = arg;
    size_t pending = 0;
    walk->reentrant = fx_store_pending_count(walk->store, NULL, &pending);
    walk->seen[walk->count++] = *sub;
    return walk->stop_after && walk->count >= walk->stop_after;
}

static void test_subscriptions(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint32_t stages = (1u << FX_STAGE_AT_BORDER) | (1u << FX_STAGE_PRE_TRAVEL);
    int64_t a = 0, b = 0, c = 0, again = 0, removed = 0;
    assert_int_equal(
        fx_store_subscription_add(store, "AUS.ABF.alo1", "MMR>THA>**", stages, 0, NULL, &a), FX_OK);
    assert_int_equal(fx_store_subscription_add(store, "AUS.ABF.alo1", "LKA>*>AUS", 0,
                                               1u << FX_KIND_CASE_ALERT, "", &b),
                     FX_OK);
    assert_int_equal(
        fx_store_subscription_add(store, "AUS.ABF.alo1", "MMR>THA>**", 0, 0, "ex-2026-bkk", &c),
        FX_OK);
    /* Upsert: same (principal, pattern, exercise) keeps its id, takes the new masks. */
    assert_int_equal(fx_store_subscription_add(store, "AUS.ABF.alo1", "MMR>THA>**",
                                               1u << FX_STAGE_POST_ARRIVAL, 1u << FX_KIND_REFERRAL,
                                               NULL, &again),
                     FX_OK);
    assert_int_equal(again, a);
    assert_true(a != b && b != c && a != c);
    int64_t d = 0;
    assert_int_equal(fx_store_subscription_add(store, "THA.RTP.lo2", "**", 0, 0, NULL, &d), FX_OK);
    assert_int_equal(fx_store_subscription_add(store, "", "**", 0, 0, NULL, NULL), FX_ERR_INVALID);
    fx_store_destroy(&store);

    store = s_open(fx->path, NULL);
    sub_walk_t walk = {.store = store};
    assert_int_equal(fx_store_subscription_each(store, NULL, s_collect_subscription, &walk), FX_OK);
    assert_int_equal(walk.count, 4);
    assert_int_equal(walk.reentrant, FX_ERR_INVALID); /* no store calls from the callback */
    assert_int_equal(walk.seen[0].id, a);
    assert_string_equal(walk.seen[0].pattern, "MMR>THA>**");
    assert_int_equal(walk.seen[0].stages, 1u << FX_STAGE_POST_ARRIVAL);
    assert_int_equal(walk.seen[0].kinds, 1u << FX_KIND_REFERRAL);
    assert_string_equal(walk.seen[0].exercise, "");
    assert_true(walk.seen[0].created_at > 0);
    assert_int_equal(walk.seen[1].id, b);
    assert_int_equal(walk.seen[2].id, c);
    assert_string_equal(walk.seen[2].exercise, "ex-2026-bkk");
    assert_string_equal(walk.seen[3].principal, "THA.RTP.lo2");
    /* The store works again once the walk is over. */
    size_t pending = 1;
    assert_int_equal(fx_store_pending_count(store, NULL, &pending), FX_OK);

    walk = (sub_walk_t){.store = store};
    assert_int_equal(
        fx_store_subscription_each(store, "THA.RTP.lo2", s_collect_subscription, &walk), FX_OK);
    assert_int_equal(walk.count, 1);
    assert_int_equal(walk.seen[0].id, d);
    walk = (sub_walk_t){.store = store, .stop_after = 2};
    assert_int_equal(fx_store_subscription_each(store, NULL, s_collect_subscription, &walk), FX_OK);
    assert_int_equal(walk.count, 2);

    assert_int_equal(
        fx_store_subscription_remove(store, "AUS.ABF.alo1", "MMR>THA>**", "", &removed), FX_OK);
    assert_int_equal(removed, a);
    assert_int_equal(
        fx_store_subscription_remove(store, "AUS.ABF.alo1", "MMR>THA>**", NULL, &removed),
        FX_ERR_NOT_FOUND);
    walk = (sub_walk_t){.store = store};
    assert_int_equal(
        fx_store_subscription_each(store, "AUS.ABF.alo1", s_collect_subscription, &walk), FX_OK);
    assert_int_equal(walk.count, 2);
    assert_int_equal(walk.seen[0].id, b);
    assert_int_equal(walk.seen[1].id, c);
    assert_int_equal(s_stats(store).subscriptions, 3);
    fx_store_destroy(&store);
}

/* --- Referrals -------------------------------------------------------------------------- */

static fx_store_referral_t s_referral(int n, const char *agency, fx_referral_state_t state,
                                      int64_t deadline)
{
    fx_store_referral_t ref = {.urgency = FX_URGENCY_URGENT, .state = state, .deadline = deadline};
    s_msg_id(n, ref.msg_id);
    snprintf(ref.sender, sizeof ref.sender, "%s", SENDER);
    snprintf(ref.agency, sizeof ref.agency, "%s", agency);
    return ref;
}

static void test_referral_deadlines(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_referral_t refs[] = {
        s_referral(1, "IDN.POLRI", FX_REFERRAL_SENT, 100),
        s_referral(2, "IDN.POLRI", FX_REFERRAL_DELIVERED, 200),
        s_referral(2, "MYS.PDRM", FX_REFERRAL_SENT, 50), /* same message, another agency */
        s_referral(3, "IDN.POLRI", FX_REFERRAL_ACKNOWLEDGED, 150),
        s_referral(4, "IDN.POLRI", FX_REFERRAL_SENT, 1000),
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        assert_int_equal(fx_store_referral_add(store, &refs[i]), FX_OK);
    assert_int_equal(fx_store_referral_add(store, &refs[0]), FX_ERR_EXISTS);

    fx_store_referral_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_referrals_overdue(store, 500, 10, &list, &count), FX_OK);
    assert_int_equal(count, 3); /* earliest deadline first; 3 is acknowledged, 4 not due */
    assert_string_equal(list[0].agency, "MYS.PDRM");
    assert_int_equal(s_msg_number(list[0].msg_id), 2);
    assert_int_equal(s_msg_number(list[1].msg_id), 1);
    assert_int_equal(s_msg_number(list[2].msg_id), 2);
    assert_string_equal(list[2].agency, "IDN.POLRI");
    assert_int_equal(list[2].state, FX_REFERRAL_DELIVERED);
    assert_string_equal(list[1].sender, SENDER);
    assert_int_equal(list[1].urgency, FX_URGENCY_URGENT);
    assert_false(list[1].escalated);
    free(list);
    assert_int_equal(fx_store_referrals_overdue(store, 500, 1, &list, &count), FX_OK);
    assert_int_equal(count, 1);
    free(list);

    assert_int_equal(fx_store_referral_set_escalated(store, refs[2].msg_id, "MYS.PDRM"), FX_OK);
    assert_int_equal(
        fx_store_referral_set_state(store, refs[0].msg_id, "IDN.POLRI", FX_REFERRAL_NEED_INFO),
        FX_OK);
    assert_int_equal(
        fx_store_referral_set_state(store, refs[0].msg_id, "THA.RTP", FX_REFERRAL_ACCEPTED),
        FX_ERR_NOT_FOUND);
    assert_int_equal(
        fx_store_referral_set_state(store, refs[0].msg_id, "IDN.POLRI", (fx_referral_state_t) 9),
        FX_ERR_INVALID);
    fx_store_destroy(&store);

    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_referrals_overdue(store, 5000, 10, &list, &count), FX_OK);
    assert_int_equal(count, 2); /* 2 at IDN.POLRI and 4 */
    assert_int_equal(s_msg_number(list[0].msg_id), 2);
    assert_int_equal(s_msg_number(list[1].msg_id), 4);
    free(list);
    fx_store_referral_t got;
    assert_int_equal(fx_store_referral_get(store, refs[2].msg_id, "MYS.PDRM", &got), FX_OK);
    assert_true(got.escalated);
    assert_int_equal(got.state, FX_REFERRAL_SENT);
    assert_int_equal(got.deadline, 50);
    assert_int_equal(fx_store_referral_get(store, refs[0].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_int_equal(got.state, FX_REFERRAL_NEED_INFO);
    assert_int_equal(s_stats(store).referrals_open, 3);
    assert_string_equal(fx_referral_state_name(FX_REFERRAL_NEED_INFO), "need_info");
    assert_null(fx_referral_state_name((fx_referral_state_t) 0));
    fx_store_destroy(&store);
}

/* Keeps the referrals of no exercise (the REFERRALS answer to a live officer, say). */
static bool s_keep_live(const fx_store_referral_t *referral, void *arg)
{
    (*(int *) arg)++;
    return referral->exercise[0] == '\0';
}

/* A referral keeps its exercise (referrals.exercise); a filter decides what is listed, and the
 * limit counts what it keeps, not what it drops. A store from before the column gets it at its
 * next writable open, filled from the messages it still holds. */
static void test_referral_exercise(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_referral_t refs[] = {
        s_referral(1, "IDN.POLRI", FX_REFERRAL_SENT, 100),
        s_referral(2, "IDN.POLRI", FX_REFERRAL_SENT, 100),
        s_referral(3, "IDN.POLRI", FX_REFERRAL_SENT, 100),
    };
    snprintf(refs[0].exercise, sizeof refs[0].exercise, "%s", "EX-1");
    snprintf(refs[1].exercise, sizeof refs[1].exercise, "%s", "EX-1");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fx_store_referral_add(store, &refs[i]), FX_OK);
    fx_store_referral_t got;
    assert_int_equal(fx_store_referral_get(store, refs[0].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "EX-1");
    assert_int_equal(fx_store_referral_get(store, refs[2].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "");
    /* Two exercise referrals changed after the live one: a limit of 1 still finds it. */
    assert_int_equal(
        fx_store_referral_set_state(store, refs[0].msg_id, "IDN.POLRI", FX_REFERRAL_DELIVERED),
        FX_OK);
    fx_store_referral_t *list = NULL;
    size_t count = 0;
    int asked = 0;
    assert_int_equal(fx_store_referrals_list(store, "IDN.POLRI.fp2", "IDN.POLRI", s_keep_live,
                                             &asked, 1, &list, &count),
                     FX_OK);
    assert_int_equal(count, 1);
    assert_int_equal(s_msg_number(list[0].msg_id), 3);
    assert_true(asked >= 2);
    free(list);
    assert_int_equal(
        fx_store_referrals_list(store, "IDN.POLRI.fp2", "IDN.POLRI", NULL, NULL, 10, &list, &count),
        FX_OK);
    assert_int_equal(count, 3);
    free(list);
    /* An exercise id longer than the array holds is refused. */
    fx_store_referral_t bad = s_referral(4, "IDN.POLRI", FX_REFERRAL_SENT, 100);
    memset(bad.exercise, 'x', sizeof bad.exercise);
    assert_int_equal(fx_store_referral_add(store, &bad), FX_ERR_INVALID);
    /* The upgrade: message 1 is still held, in its exercise; message 2 was pruned. */
    assert_int_equal(s_put_message(store, 1, FAR_FUTURE, 100), FX_OK);
    fx_store_destroy(&store);
    s_raw_sql(fx->path, "UPDATE messages SET exercise = 'EX-1';"
                        " ALTER TABLE referrals DROP COLUMN exercise");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_referral_get(store, refs[0].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "EX-1");
    assert_int_equal(fx_store_referral_get(store, refs[1].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, ""); /* its message is gone, and what it said with it */
    assert_int_equal(fx_store_referral_get(store, refs[2].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "");
    fx_store_destroy(&store);
    /* An older broker run on the upgraded store since wrote the row as live (it knows no
     * column): the next open marks it again from its message. */
    s_raw_sql(fx->path, "UPDATE referrals SET exercise = ''");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_referral_get(store, refs[0].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "EX-1");
    assert_int_equal(fx_store_referral_get(store, refs[1].msg_id, "IDN.POLRI", &got), FX_OK);
    assert_string_equal(got.exercise, "");
    fx_store_destroy(&store);
    /* Read-only, a store from before the column opens; its referrals are not read there. */
    s_raw_sql(fx->path, "ALTER TABLE referrals DROP COLUMN exercise");
    store = s_open(fx->path, &(fx_store_options_t){.read_only = true});
    assert_int_equal(fx_store_referral_get(store, refs[0].msg_id, "IDN.POLRI", &got),
                     FX_ERR_STORAGE);
    fx_store_destroy(&store);
}

/* Who sees which referral: those a principal sent and those sent to its agency. */
static void test_referral_list(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_referral_t a = s_referral(1, "IDN.POLRI", FX_REFERRAL_SENT, 100);
    fx_store_referral_t b = s_referral(2, "MYS.PDRM", FX_REFERRAL_ACCEPTED, 100);
    fx_store_referral_t c = s_referral(3, "IDN.POLRI", FX_REFERRAL_CLOSED, 100);
    snprintf(c.sender, sizeof c.sender, "%s", "MYS.PDRM.fp1");
    assert_int_equal(fx_store_referral_add(store, &a), FX_OK);
    assert_int_equal(fx_store_referral_add(store, &b), FX_OK);
    assert_int_equal(fx_store_referral_add(store, &c), FX_OK);
    fx_store_referral_t *list = NULL;
    size_t count = 0;
    /* The sender sees what it sent, whatever the agency. */
    assert_int_equal(
        fx_store_referrals_list(store, SENDER, "THA.RTP", NULL, NULL, 10, &list, &count), FX_OK);
    assert_int_equal(count, 2);
    free(list);
    /* IDN.POLRI sees both referrals to it, from anyone, and nothing else. */
    assert_int_equal(
        fx_store_referrals_list(store, "IDN.POLRI.fp9", "IDN.POLRI", NULL, NULL, 10, &list, &count),
        FX_OK);
    assert_int_equal(count, 2);
    for (size_t i = 0; i < count; i++)
        assert_string_equal(list[i].agency, "IDN.POLRI");
    free(list);
    assert_int_equal(
        fx_store_referrals_list(store, "AUS.ABF.x", "AUS.ABF", NULL, NULL, 10, &list, &count),
        FX_OK);
    assert_int_equal(count, 0);
    free(list);
    assert_int_equal(fx_store_referrals_list(store, SENDER, "", NULL, NULL, 1, &list, &count),
                     FX_OK);
    assert_int_equal(count, 1);
    free(list);
    assert_int_equal(fx_store_referrals_list(store, SENDER, "", NULL, NULL, 0, &list, &count),
                     FX_ERR_INVALID);
    fx_store_destroy(&store);
}

/* The order of a limited list: those awaiting an answer first, nearest deadline first (none
 * last), then the other open ones, then the declined and closed, so a flood of closed or
 * answered referrals changed after them never pushes an open one out of the list. */
static void test_referral_list_order(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_referral_t open[] = {
        s_referral(1, "IDN.POLRI", FX_REFERRAL_SENT, 300),
        s_referral(2, "IDN.POLRI", FX_REFERRAL_DELIVERED, 200),
        s_referral(3, "IDN.POLRI", FX_REFERRAL_SENT, INT64_MAX), /* no deadline */
        s_referral(4, "IDN.POLRI", FX_REFERRAL_SENT, 100),
        s_referral(5, "IDN.POLRI", FX_REFERRAL_ACKNOWLEDGED, 50),
    };
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++)
        assert_int_equal(fx_store_referral_add(store, &open[i]), FX_OK);
    /* The flood: 40 closed or declined, 10 accepted, all changed after the open ones. */
    for (int n = 100; n < 150; n++) {
        fx_store_referral_t r = s_referral(n, "IDN.POLRI", FX_REFERRAL_SENT, 10);
        snprintf(r.sender, sizeof r.sender, "%s", "MYS.RMP.fp1");
        assert_int_equal(fx_store_referral_add(store, &r), FX_OK);
        fx_referral_state_t to = n < 120   ? FX_REFERRAL_CLOSED
                                 : n < 140 ? FX_REFERRAL_DECLINED
                                           : FX_REFERRAL_ACCEPTED;
        assert_int_equal(fx_store_referral_set_state(store, r.msg_id, "IDN.POLRI", to), FX_OK);
    }
    fx_store_referral_t *list = NULL;
    size_t count = 0;
    assert_int_equal(
        fx_store_referrals_list(store, "IDN.POLRI.fp1", "IDN.POLRI", NULL, NULL, 4, &list, &count),
        FX_OK);
    assert_int_equal(count, 4);
    assert_int_equal(s_msg_number(list[0].msg_id), 4); /* deadline 100 */
    assert_int_equal(s_msg_number(list[1].msg_id), 2); /* 200, delivered */
    assert_int_equal(s_msg_number(list[2].msg_id), 1); /* 300 */
    assert_int_equal(s_msg_number(list[3].msg_id), 3); /* no deadline */
    free(list);
    /* Then the acknowledged and accepted ones, before any closed or declined. */
    assert_int_equal(
        fx_store_referrals_list(store, "IDN.POLRI.fp1", "IDN.POLRI", NULL, NULL, 15, &list, &count),
        FX_OK);
    assert_int_equal(count, 15);
    for (size_t i = 4; i < count; i++) {
        assert_true(list[i].state == FX_REFERRAL_ACKNOWLEDGED ||
                    list[i].state == FX_REFERRAL_ACCEPTED);
    }
    free(list);
    assert_int_equal(fx_store_referrals_list(store, "IDN.POLRI.fp1", "IDN.POLRI", NULL, NULL, 100,
                                             &list, &count),
                     FX_OK);
    assert_int_equal(count, 55);
    for (size_t i = 15; i < count; i++)
        assert_true(list[i].state == FX_REFERRAL_CLOSED || list[i].state == FX_REFERRAL_DECLINED);
    free(list);
    fx_store_destroy(&store);
}

/* One stored message read back whole, checked against its hash; an unknown one is not found. */
static void test_message_get(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 7, FAR_FUTURE, 1), FX_OK);
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    s_msg_id(7, msg_id);
    fx_store_pending_t *m = NULL;
    assert_int_equal(fx_store_message_get(store, msg_id, &m), FX_OK);
    assert_non_null(m);
    assert_memory_equal(m->msg_id, msg_id, FX_STORE_MSG_ID_BYTES);
    assert_string_equal(m->sender, SENDER);
    assert_int_equal(m->kind, FX_KIND_CASE_ALERT);
    assert_int_equal(m->envelope_len, 1024);
    for (size_t i = 0; i < m->envelope_len; i++)
        assert_int_equal(m->envelope[i], (uint8_t) (7 * 31 + i));
    fx_store_pending_free(&m, 1);
    assert_null(m);
    s_msg_id(8, msg_id);
    assert_int_equal(fx_store_message_get(store, msg_id, &m), FX_ERR_NOT_FOUND);
    assert_null(m);
    fx_store_destroy(&store);
    /* A stored envelope altered on disk is a storage error, not a message. */
    s_raw_sql(fx->path, "UPDATE messages SET envelope = zeroblob(1024)");
    store = s_open(fx->path, NULL);
    s_msg_id(7, msg_id);
    assert_int_equal(fx_store_message_get(store, msg_id, &m), FX_ERR_STORAGE);
    assert_true(fx_store_failed(store));
    fx_store_destroy(&store);
}

/* Message n of kind answering message of (in_reply_to), without deliveries. */
static void s_put_reply(fx_store_t *store, int n, int kind, int of)
{
    uint8_t envelope[64] = {(uint8_t) n};
    fx_store_message_t message = {
        .sender = SENDER,
        .sender_serial = 42,
        .kind = kind,
        .urgency = FX_URGENCY_NORMAL,
        .created_at = 1000,
        .expires_at = FAR_FUTURE,
        .envelope = envelope,
        .envelope_len = sizeof envelope,
        .exercise = "",
        .has_in_reply_to = true,
    };
    s_msg_id(n, message.msg_id);
    s_msg_id(of, message.in_reply_to);
    crypto_generichash(message.header_digest, sizeof message.header_digest, envelope,
                       sizeof envelope, NULL, 0);
    assert_int_equal(fx_store_put_message(store, &message), FX_OK);
}

/* The first stored answer of a kind to a message (whether a reshare_request was granted). */
static void test_reply_find(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint8_t request[FX_STORE_MSG_ID_BYTES], found[FX_STORE_MSG_ID_BYTES];
    assert_int_equal(s_put_message(store, 1, FAR_FUTURE, 64), FX_OK);
    s_msg_id(1, request);
    assert_int_equal(fx_store_reply_find(store, request, FX_KIND_RESHARE_GRANT, found),
                     FX_ERR_NOT_FOUND);
    s_put_reply(store, 2, FX_KIND_ALERT_FEEDBACK, 1); /* another kind answers it */
    s_put_reply(store, 3, FX_KIND_RESHARE_GRANT, 9);  /* a grant of another request */
    assert_int_equal(fx_store_reply_find(store, request, FX_KIND_RESHARE_GRANT, found),
                     FX_ERR_NOT_FOUND);
    s_put_reply(store, 4, FX_KIND_RESHARE_GRANT, 1);
    s_put_reply(store, 5, FX_KIND_RESHARE_GRANT, 1);
    assert_int_equal(fx_store_reply_find(store, request, FX_KIND_RESHARE_GRANT, found), FX_OK);
    assert_int_equal(s_msg_number(found), 4);
    assert_int_equal(fx_store_reply_find(store, request, FX_KIND_ALERT_FEEDBACK, found), FX_OK);
    assert_int_equal(s_msg_number(found), 2);
    assert_int_equal(fx_store_reply_find(store, NULL, FX_KIND_RESHARE_GRANT, found),
                     FX_ERR_INVALID);
    fx_store_destroy(&store);
    /* The answers are found through their own index, which every writable open creates. */
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                         " AND name = 'messages_replies'"),
                     1);
}

/* --- Audit trail ------------------------------------------------------------------------ */

typedef struct {
    int64_t seq[16];
    uint8_t leaf[16][FX_STORE_LEAF_HASH_BYTES];
    bool recomputed_ok;
    int count;
} audit_walk_t;

static int s_collect_audit(const fx_store_audit_entry_t *entry, void *arg)
{
    audit_walk_t *walk = arg;
    uint8_t leaf[FX_STORE_LEAF_HASH_BYTES];
    fx_store_audit_leaf_hash(entry, leaf);
    if (memcmp(leaf, entry->leaf_hash, sizeof leaf) != 0)
        walk->recomputed_ok = false;
    walk->seq[walk->count] = entry->seq;
    memcpy(walk->leaf[walk->count], entry->leaf_hash, FX_STORE_LEAF_HASH_BYTES);
    walk->count++;
    return 0;
}

/* The entry bytes of DESIGN: written out by hand here, so a change of format shows. */
static void s_expected_leaf(uint8_t out[32])
{
    uint8_t bytes[512];
    size_t len = 0;
    bytes[len++] = 0x00; /* RFC 6962 leaf */
    memcpy(bytes + len, "fusion/v1/audit", 16);
    len += 16;
    const uint8_t seq_time[16] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0x9A, 0, 0, 0, 0x2A};
    memcpy(bytes + len, seq_time, 16);
    len += 16;
    const char *texts[] = {"rejected", SENDER, "IDN.POLRI.fp1"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(texts[i]);
        bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = (uint8_t) n;
        memcpy(bytes + len, texts[i], n);
        len += n;
    }
    bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 16;
    s_msg_id(7, bytes + len);
    len += 16;
    bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 0; /* no digest */
    const char *details = "{\"code\":\"forbidden\",\"rule\":\"r1\"}";
    bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = 0, bytes[len++] = (uint8_t) strlen(details);
    memcpy(bytes + len, details, strlen(details));
    len += strlen(details);
    crypto_hash_sha256(out, bytes, len);
}

typedef struct {
    int count;
    int64_t size[8];
} checkpoints_t;

static int s_collect_checkpoint(const fx_store_checkpoint_t *checkpoint, void *arg)
{
    checkpoints_t *seen = arg;
    if (seen->count < 8)
        seen->size[seen->count++] = checkpoint->tree_size;
    return 0;
}

static void test_audit_trail(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES], digest[FX_STORE_DIGEST_BYTES];
    s_msg_id(7, msg_id);
    memset(digest, 0xD1, sizeof digest);
    /* Entries name a stored message through its row id (fx_store_audit_of_message). */
    assert_int_equal(s_put_message(store, 7, FAR_FUTURE, 100), FX_OK);
    fx_store_audit_entry_t first = {
        .time_ms = 0x019A0000002ALL,
        .event = "rejected",
        .actor = SENDER,
        .subject = "IDN.POLRI.fp1",
        .msg_id = msg_id,
        .details = "{\"code\":\"forbidden\",\"rule\":\"r1\"}",
    };
    int64_t seq = 0;
    uint8_t leaf[FX_STORE_LEAF_HASH_BYTES], expected[FX_STORE_LEAF_HASH_BYTES];
    assert_int_equal(fx_store_audit_append(store, &first, &seq, leaf), FX_OK);
    assert_int_equal(seq, 1);
    s_expected_leaf(expected);
    assert_memory_equal(leaf, expected, sizeof leaf);

    audit_walk_t before = {.recomputed_ok = true};
    memcpy(before.leaf[0], leaf, sizeof leaf);
    assert_int_equal(fx_store_begin(store), FX_OK);
    fx_store_audit_entry_t entry = {.event = "delivered",
                                    .actor = "broker",
                                    .subject = RECIPIENT1,
                                    .msg_id = msg_id,
                                    .header_digest = digest};
    assert_int_equal(fx_store_audit_append(store, &entry, &seq, before.leaf[1]), FX_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(fx_store_rollback(store), FX_OK); /* entry 2 never happened */
    entry.event = "policy_reloaded";
    entry.msg_id = NULL;
    entry.header_digest = NULL;
    entry.details = "{\"policy\":\"sha256:ab\"}";
    assert_int_equal(fx_store_audit_append(store, &entry, &seq, before.leaf[1]), FX_OK);
    assert_int_equal(seq, 2);
    entry.event = "received";
    entry.msg_id = msg_id;
    entry.header_digest = digest;
    entry.details = NULL;
    assert_int_equal(fx_store_audit_append(store, &entry, &seq, before.leaf[2]), FX_OK);
    assert_int_equal(seq, 3);
    assert_memory_not_equal(before.leaf[1], before.leaf[2], FX_STORE_LEAF_HASH_BYTES);

    /* Bad entries are refused. */
    entry.details = "[1, 2]";
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_ERR_INVALID);
    entry.details = "{\"a\":";
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_ERR_INVALID);
    entry.details = NULL;
    entry.event = "";
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_ERR_INVALID);
    fx_store_destroy(&store);

    /* The trail is append-only even for SQL run behind the store's back. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET event = 'x'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    store = s_open(fx->path, NULL);
    int64_t count = 0;
    assert_int_equal(fx_store_audit_count(store, &count), FX_OK);
    assert_int_equal(count, 3);
    audit_walk_t walk = {.recomputed_ok = true};
    assert_int_equal(fx_store_audit_each(store, 1, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 3);
    assert_true(walk.recomputed_ok);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(walk.seq[i], i + 1);
        assert_memory_equal(walk.leaf[i], before.leaf[i], FX_STORE_LEAF_HASH_BYTES);
    }
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_each(store, 3, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 1);
    assert_int_equal(walk.seq[0], 3);

    /* Checkpoints of the tree (signed by a later part of the broker). */
    fx_store_checkpoint_t cp = {.tree_size = 2, .time_ms = 10}, latest;
    assert_int_equal(fx_store_checkpoint_latest(store, &latest), FX_ERR_NOT_FOUND);
    memset(cp.root_hash, 0xAA, sizeof cp.root_hash);
    memset(cp.signature, 0x55, sizeof cp.signature);
    assert_int_equal(fx_store_checkpoint_put(store, &cp), FX_ERR_INVALID); /* no body */
    cp.body_len = 5;
    memcpy(cp.body, "body2", 5);
    assert_int_equal(fx_store_checkpoint_put(store, &cp), FX_OK);
    cp.tree_size = 3;
    cp.root_hash[0] = 0xBB;
    cp.body_len = FX_STORE_CHECKPOINT_BODY_MAX + 1;
    assert_int_equal(fx_store_checkpoint_put(store, &cp), FX_ERR_INVALID);
    cp.body_len = 5;
    cp.body[4] = '3';
    assert_int_equal(fx_store_checkpoint_put(store, &cp), FX_OK);
    assert_int_equal(fx_store_checkpoint_put(store, &cp), FX_ERR_EXISTS);
    assert_int_equal(fx_store_checkpoint_latest(store, &latest), FX_OK);
    assert_int_equal(latest.tree_size, 3);
    assert_int_equal(latest.root_hash[0], 0xBB);
    assert_int_equal(latest.signature[63], 0x55);
    assert_int_equal(latest.body_len, 5);
    assert_memory_equal(latest.body, "body3", 5);
    checkpoints_t seen = {0};
    assert_int_equal(fx_store_checkpoint_each(store, s_collect_checkpoint, &seen), FX_OK);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.size[0], 2);
    assert_int_equal(seen.size[1], 3);

    /* The leaf hashes in order, and the entries of one message. */
    uint8_t leaves[4][FX_STORE_LEAF_HASH_BYTES];
    size_t got = 0;
    assert_int_equal(fx_store_audit_leaves(store, 1, 4, leaves, &got), FX_OK);
    assert_int_equal(got, 3);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(leaves[i], before.leaf[i], FX_STORE_LEAF_HASH_BYTES);
    assert_int_equal(fx_store_audit_leaves(store, 2, 1, leaves, &got), FX_OK);
    assert_int_equal(got, 1);
    assert_memory_equal(leaves[0], before.leaf[1], FX_STORE_LEAF_HASH_BYTES);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, msg_id, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 2);
    assert_int_equal(walk.seq[0], 1);
    assert_int_equal(walk.seq[1], 3);
    fx_store_destroy(&store);

    /* Read-only: everything reads, nothing writes, and a missing file is not created. */
    fx_store_options_t ro = {.read_only = true};
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, &ro, &store, why), FX_OK);
    assert_int_equal(fx_store_audit_count(store, &count), FX_OK);
    assert_int_equal(count, 3);
    entry.event = "delivered";
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_ERR_STORAGE);
    fx_store_destroy(&store);
    char *missing = tu_path(fx->dir, "missing.db");
    assert_int_equal(fx_store_open(missing, &ro, &store, why), FX_ERR_STORAGE);
    assert_int_equal(access(missing, F_OK), -1);
    free(missing);

    /* A gap in the trail is named. */
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER audit_no_delete;"
                                  " DELETE FROM audit WHERE seq = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_audit_leaves(store, 1, 4, leaves, &got), FX_ERR_STORAGE);
    assert_int_equal(got, 1);
    assert_non_null(strstr(fx_store_error_text(store), "audit entry 2 is missing"));
    fx_store_destroy(&store);
}

/* --- Storage failures ------------------------------------------------------------------- */

/* Every call of a FAILED store returns FX_ERR_STORAGE at once. */
static void s_expect_failed(fx_store_t *store)
{
    assert_true(fx_store_failed(store));
    assert_true(fx_store_error_text(store)[0] != '\0');
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    s_msg_id(1, msg_id);
    fx_store_answer_t answer;
    size_t count = 0;
    fx_store_stats_t stats;
    assert_int_equal(fx_store_begin(store), FX_ERR_STORAGE);
    assert_int_equal(fx_store_commit(store), FX_ERR_STORAGE);
    assert_int_equal(fx_store_find_answer(store, msg_id, &answer), FX_ERR_STORAGE);
    assert_int_equal(s_put_message(store, 999999, FAR_FUTURE, 10), FX_ERR_STORAGE);
    assert_int_equal(fx_store_pending_count(store, NULL, &count), FX_ERR_STORAGE);
    assert_int_equal(fx_store_subscription_add(store, SENDER, "**", 0, 0, NULL, NULL),
                     FX_ERR_STORAGE);
    assert_int_equal(fx_store_stats(store, &stats), FX_ERR_STORAGE);
    assert_int_equal(fx_store_prune(store, 0, 0, NULL), FX_ERR_STORAGE);
}

/* Checks that every stored message has its answer, delivery and audit entry: nothing partial. */
static void s_expect_whole(fx_store_t *store, int64_t messages)
{
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages, messages);
    assert_int_equal(stats.answers, messages);
    assert_int_equal(stats.pending_deliveries, messages);
    assert_int_equal(stats.audit_entries, messages);
}

/* Stores message n of an exercise ("" for live traffic) with an accepted and a delivered entry. */
static void s_put_exercise_message(fx_store_t *store, int n, const char *exercise)
{
    uint8_t envelope[64] = {(uint8_t) n};
    fx_store_message_t message = {.sender = SENDER,
                                  .sender_serial = 42,
                                  .kind = FX_KIND_REFERRAL,
                                  .urgency = FX_URGENCY_NORMAL,
                                  .created_at = 1000,
                                  .expires_at = FAR_FUTURE,
                                  .envelope = envelope,
                                  .envelope_len = sizeof envelope,
                                  .exercise = exercise};
    s_msg_id(n, message.msg_id);
    memset(message.header_digest, n, sizeof message.header_digest);
    assert_int_equal(fx_store_put_message(store, &message), FX_OK);
    fx_store_audit_entry_t entry = {.event = "accepted", .actor = SENDER, .msg_id = message.msg_id};
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
    entry = (fx_store_audit_entry_t){
        .event = "delivered", .actor = "broker", .subject = RECIPIENT1, .msg_id = message.msg_id};
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
}

/* An exercise's subscription entry, filed under it (exercise "" files nothing). */
static void s_subscription_entry(fx_store_t *store, const char *exercise)
{
    fx_store_audit_entry_t entry = {
        .event = "subscribed", .actor = RECIPIENT2, .subject = "**", .exercise = exercise};
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
}

/* The delivered and received entries that a delivery's changes append are filed under the
 * delivery instead of indexed: a message's entries are still found, in order, and an entry is
 * appended only when the delivery changed. A store from before the columns gains them at its
 * next writable open; read-only, it still answers from the index. */
static void test_audit_filed_under_deliveries(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint8_t id7[FX_STORE_MSG_ID_BYTES], id8[FX_STORE_MSG_ID_BYTES];
    s_msg_id(7, id7);
    s_msg_id(8, id8);
    assert_int_equal(fx_store_begin(store), FX_OK);
    assert_int_equal(s_publish(store, 7, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(s_publish(store, 8, FAR_FUTURE, 1), FX_OK); /* accepted: 1 and 2 */
    assert_int_equal(fx_store_commit(store), FX_OK);
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_pending_list(store, RECIPIENT1, 0, 10, &list, &count), FX_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(list[0].msg_id, id7, sizeof id7);
    fx_store_audit_entry_t delivered = {
        .event = "delivered", .actor = "broker", .subject = RECIPIENT1, .msg_id = id7};
    fx_store_audit_entry_t bad = {.event = "delivered", .details = "[1]"};
    assert_int_equal(fx_store_delivery_sent(store, list[0].seq, 5000, &bad), FX_ERR_INVALID);
    assert_int_equal(fx_store_delivery_sent(store, list[0].seq, 5000, &delivered), FX_OK); /* 3 */
    assert_int_equal(fx_store_delivery_sent(store, list[0].seq, 6000, NULL), FX_OK); /* retry */
    delivered.msg_id = id8;
    assert_int_equal(fx_store_delivery_sent(store, list[1].seq, 5000, &delivered), FX_OK); /* 4 */
    fx_store_pending_free(&list, count);
    fx_store_audit_entry_t received = {.event = "received", .actor = RECIPIENT1, .msg_id = id7};
    bool changed = false;
    assert_int_equal(fx_store_delivery_received(store, id7, RECIPIENT1, &received, &changed),
                     FX_OK); /* 5 */
    assert_true(changed);
    assert_int_equal(fx_store_delivery_received(store, id7, RECIPIENT1, &received, &changed),
                     FX_OK);
    assert_false(changed); /* already RECEIVED: no second entry */
    assert_int_equal(fx_store_delivery_received(store, id7, RECIPIENT2, &received, &changed),
                     FX_ERR_NOT_FOUND);
    int64_t entries = 0;
    assert_int_equal(fx_store_audit_count(store, &entries), FX_OK);
    assert_int_equal(entries, 5);
    audit_walk_t walk = {.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, id7, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 3);
    assert_int_equal(walk.seq[0], 1);
    assert_int_equal(walk.seq[1], 3);
    assert_int_equal(walk.seq[2], 5);
    assert_true(walk.recomputed_ok);
    fx_store_destroy(&store);
    /* Filed, not indexed: the delivery row names them and their message column is empty. */
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM audit WHERE message IS NULL"), 3);
    assert_int_equal(s_raw_int(fx->path, "SELECT delivered_entry * 10 + received_entry"
                                         " FROM deliveries WHERE received_at IS NOT NULL"),
                     35);

    s_raw_sql(fx->path, "ALTER TABLE deliveries DROP COLUMN delivered_entry;"
                        " ALTER TABLE deliveries DROP COLUMN received_entry;");
    fx_store_options_t ro = {.read_only = true};
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, &ro, &store, why), FX_OK);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, id7, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 1); /* the accepted entry, through the index */
    assert_int_equal(fx_store_delivery_sent(store, 1, 7000, NULL), FX_ERR_INVALID);
    assert_false(fx_store_failed(store));
    fx_store_destroy(&store);
    store = s_open(fx->path, NULL);
    fx_store_destroy(&store);
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM pragma_table_info('deliveries')"
                                         " WHERE name IN ('delivered_entry', 'received_entry')"),
                     2);
}

/* The links that file entries under a message are not hashed: a message's history is only the
 * entries of the trail whose hashed msg_id is its, and fx_store_audit_links_check finds a link
 * that names another entry. */
static void test_audit_links_tampered(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    uint8_t id7[FX_STORE_MSG_ID_BYTES], id8[FX_STORE_MSG_ID_BYTES];
    s_msg_id(7, id7);
    s_msg_id(8, id8);
    assert_int_equal(fx_store_begin(store), FX_OK);
    assert_int_equal(s_publish(store, 7, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(s_publish(store, 8, FAR_FUTURE, 1), FX_OK); /* accepted: 1 and 2 */
    assert_int_equal(fx_store_commit(store), FX_OK);
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_pending_list(store, RECIPIENT1, 0, 10, &list, &count), FX_OK);
    assert_int_equal(count, 2);
    fx_store_audit_entry_t delivered = {
        .event = "delivered", .actor = "broker", .subject = RECIPIENT1, .msg_id = id7};
    assert_int_equal(fx_store_delivery_sent(store, list[0].seq, 5000, &delivered), FX_OK); /* 3 */
    delivered.msg_id = id8;
    assert_int_equal(fx_store_delivery_sent(store, list[1].seq, 5000, &delivered), FX_OK); /* 4 */
    fx_store_pending_free(&list, count);
    int64_t bad = -1;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_audit_links_check(store, INT64_MIN, &bad, why), FX_OK);
    assert_int_equal(bad, 0);
    fx_store_destroy(&store);

    /* id7's delivery made to name id8's entries, and a copy of id7's accepted entry at seq 0. */
    s_raw_sql(fx->path, "UPDATE deliveries SET delivered_entry = 4, received_entry = 2"
                        " WHERE delivered_entry = 3;"
                        " DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
                        " INSERT INTO audit SELECT 0, time_ms, event, 'forged', subject, msg_id,"
                        " header_digest, details, leaf_hash, message FROM audit WHERE seq = 1;");
    fx_store_options_t ro = {.read_only = true};
    assert_int_equal(fx_store_open(fx->path, &ro, &store, why), FX_OK);
    audit_walk_t walk = {.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, id7, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 1); /* its accepted entry; not #0, not id8's #2 and #4 */
    assert_int_equal(walk.seq[0], 1);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, id8, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 2); /* 2 and 4 still, through their own links */
    assert_int_equal(fx_store_audit_links_check(store, INT64_MIN, &bad, why), FX_OK);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(why, "deliveries.received_entry"));
    fx_store_destroy(&store);

    /* An entry filed under another message through its own message column. */
    s_raw_sql(fx->path, "UPDATE deliveries SET delivered_entry = 3, received_entry = NULL"
                        " WHERE delivered_entry = 4 AND message = (SELECT message FROM audit"
                        " WHERE seq = 1);"
                        " UPDATE audit SET message = (SELECT message FROM audit WHERE seq = 1)"
                        " WHERE seq = 2;");
    assert_int_equal(fx_store_open(fx->path, &ro, &store, why), FX_OK);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_message(store, id7, s_collect_audit, &walk), FX_OK);
    assert_int_equal(walk.count, 2); /* 1 and 3; not id8's #2 */
    assert_int_equal(walk.seq[1], 3);
    assert_int_equal(fx_store_audit_links_check(store, INT64_MIN, &bad, why), FX_OK);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(why, "audit.message of entry 2"));
    fx_store_destroy(&store);
}

/* A row numbered below 1, which no append writes, is found (the broker refuses to start on it). */
static void test_audit_stray(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    assert_int_equal(s_publish(store, 1, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(s_publish(store, 2, FAR_FUTURE, 1), FX_OK);
    int64_t seq = 99;
    char event[FX_STORE_EVENT_MAX];
    assert_int_equal(fx_store_audit_stray(store, &seq, event), FX_ERR_NOT_FOUND);
    assert_int_equal(seq, 0);
    fx_store_destroy(&store);
    s_raw_sql(fx->path, "INSERT INTO audit SELECT 0, time_ms, 'forged', actor, subject, msg_id,"
                        " header_digest, details, leaf_hash, message FROM audit WHERE seq = 1;"
                        " INSERT INTO audit SELECT -5, time_ms, event, actor, subject, msg_id,"
                        " header_digest, details, leaf_hash, message FROM audit WHERE seq = 2;");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_audit_stray(store, &seq, event), FX_OK);
    assert_int_equal(seq, -5);
    assert_string_equal(event, "accepted");
    assert_false(fx_store_failed(store));
    assert_int_equal(fx_store_audit_stray(NULL, &seq, event), FX_ERR_INVALID);
    fx_store_destroy(&store);
}

/* The broker's start checks the entries after its latest checkpoint as audit verify does
 * (fx_store_audit_check_from): their leaf hashes, their numbering and their links, and only
 * those. */
static void test_audit_check_from(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    for (int n = 1; n <= 3; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    int64_t seq = 99;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_audit_check_from(store, 1, &seq, why), FX_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(fx_store_audit_check_from(store, 0, &seq, why), FX_ERR_INVALID);
    fx_store_destroy(&store);

    /* Entry 2 altered: found from 1 and from 2, not from 3 (the entries after it hold). */
    s_raw_sql(fx->path, "DROP TRIGGER audit_no_update;"
                        " UPDATE audit SET actor = 'XXX.EVIL.x' WHERE seq = 2;");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_audit_check_from(store, 1, &seq, why), FX_OK);
    assert_int_equal(seq, 2);
    assert_string_equal(why, "entry 2 (accepted) does not match its stored leaf hash: its fields "
                             "were modified, or it was inserted or moved here");
    assert_int_equal(fx_store_audit_check_from(store, 2, &seq, why), FX_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(fx_store_audit_check_from(store, 3, &seq, why), FX_OK);
    assert_int_equal(seq, 0);
    fx_store_destroy(&store);

    /* Entry 3 filed under message 1 (the link is not hashed), and entry 2 deleted. */
    s_raw_sql(fx->path, "UPDATE audit SET message = (SELECT min(id) FROM messages) WHERE seq = 3;");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_audit_check_from(store, 3, &seq, why), FX_OK);
    assert_int_equal(seq, 3);
    assert_non_null(strstr(why, "audit.message of entry 3 (accepted) names message"));
    fx_store_destroy(&store);
    s_raw_sql(fx->path, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;");
    store = s_open(fx->path, NULL);
    assert_int_equal(fx_store_audit_check_from(store, 2, &seq, why), FX_OK);
    assert_int_equal(seq, 2);
    assert_string_equal(why,
                        "entry 2 is missing: the trail goes from entry 1 to entry 3 (deleted)");
    assert_false(fx_store_failed(store));
    fx_store_destroy(&store);
}

static void test_audit_of_exercise(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, NULL);
    /* seq: 1-2 live, 3-4 EX-A, 5 EX-A subscription, 6-7 EX-B, 8 live subscription, 9 EX-B
     * subscription, 10 a receipt of live message 1, 11 a receipt of EX-A's message 2, 12 an
     * entry of no message. */
    assert_int_equal(fx_store_begin(store), FX_OK);
    s_put_exercise_message(store, 1, "");
    s_put_exercise_message(store, 2, "EX-A");
    s_subscription_entry(store, "EX-A");
    s_put_exercise_message(store, 3, "EX-B");
    s_subscription_entry(store, "");
    s_subscription_entry(store, "EX-B");
    uint8_t id1[FX_STORE_MSG_ID_BYTES], id2[FX_STORE_MSG_ID_BYTES];
    s_msg_id(1, id1);
    s_msg_id(2, id2);
    fx_store_audit_entry_t entry = {.event = "received", .actor = RECIPIENT1, .msg_id = id1};
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
    entry.msg_id = id2;
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
    entry = (fx_store_audit_entry_t){.event = "policy_reloaded", .actor = "broker"};
    assert_int_equal(fx_store_audit_append(store, &entry, NULL, NULL), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);

    audit_walk_t walk = {.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 0, 16, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(walk.count, 4);
    const int64_t want_a[] = {3, 4, 5, 11};
    for (int i = 0; i < 4; i++)
        assert_int_equal(walk.seq[i], want_a[i]);
    assert_true(walk.recomputed_ok); /* the entries as stored, hash and all */
    /* Incrementally after a seq, and at most limit. */
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 4, 1, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(walk.count, 1);
    assert_int_equal(walk.seq[0], 5);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 11, 16, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(walk.count, 0);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-B", 0, 16, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(walk.count, 3);
    assert_int_equal(walk.seq[0], 6);
    assert_int_equal(walk.seq[1], 7);
    assert_int_equal(walk.seq[2], 9);
    /* Live traffic is no exercise; the id is compared exactly. */
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "", 0, 16, s_collect_audit, &walk),
                     FX_ERR_INVALID);
    assert_int_equal(fx_store_audit_of_exercise(store, "ex-a", 0, 16, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", -1, 16, s_collect_audit, &walk),
                     FX_ERR_INVALID);
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 0, 0, s_collect_audit, &walk),
                     FX_ERR_INVALID);
    assert_int_equal(walk.count, 0);
    fx_store_destroy(&store);

    /* A store written before the exercise index gains it at the next writable open; until
     * then a read-only open still works, without the query. */
    s_raw_sql(fx->path, "DROP INDEX messages_by_exercise; DROP TABLE audit_exercise;");
    fx_store_options_t ro = {.read_only = true};
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, &ro, &store, why), FX_OK);
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 0, 16, s_collect_audit, &walk),
                     FX_ERR_NOT_FOUND);
    assert_false(fx_store_failed(store));
    fx_store_destroy(&store);
    store = s_open(fx->path, NULL);
    walk = (audit_walk_t){.recomputed_ok = true};
    assert_int_equal(fx_store_audit_of_exercise(store, "EX-A", 0, 16, s_collect_audit, &walk),
                     FX_OK);
    assert_int_equal(walk.count, 3); /* the subscription's filing went with the table */
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                         " ('messages_by_exercise', 'audit_exercise')"),
                     2);
    fx_store_destroy(&store);
}

static void test_full_disk(void **state)
{
    fixture_t *fx = *state;
    fx_store_options_t capped = {.max_page_count = 80};
    fx_store_t *store = s_open(fx->path, &capped);
    int committed = 0, n = 0;
    fx_err_t err = FX_OK;
    for (int batch = 0; batch < 100 && err == FX_OK; batch++) {
        assert_int_equal(fx_store_begin(store), FX_OK);
        for (int i = 0; i < 10 && err == FX_OK; i++)
            err = s_publish(store, ++n, FAR_FUTURE, 1);
        if (err == FX_OK)
            err = fx_store_commit(store);
        if (err == FX_OK)
            committed += 10;
    }
    assert_int_equal(err, FX_ERR_STORAGE);
    assert_true(committed > 0);
    assert_non_null(strstr(fx_store_error_text(store), "full"));
    assert_false(fx_store_in_transaction(store));
    s_expect_failed(store);

    /* The operator frees space; reopen brings the store back with what was committed. */
    assert_int_equal(fx_store_reopen(store), FX_OK);
    assert_false(fx_store_failed(store));
    assert_string_equal(fx_store_error_text(store), "");
    s_expect_whole(store, committed);
    fx_store_destroy(&store);

    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    s_expect_whole(store, committed);
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    fx_store_answer_t answer;
    s_msg_id(committed + 1, msg_id); /* the first of the failed group */
    assert_int_equal(fx_store_find_answer(store, msg_id, &answer), FX_ERR_NOT_FOUND);
    assert_int_equal(s_publish(store, committed + 1, FAR_FUTURE, 1), FX_OK); /* room now */
    fx_store_destroy(&store);
}

/* A VFS that forwards to the default one but can make every fsync fail, as a disk that has
 * started losing writes does, or every write to a WAL; it counts the writes to WAL and database
 * files. The
 * store opens it under its own batching layer (lib/store_vfs.c), so it sees what reaches the
 * disk. */
typedef struct {
    sqlite3_file base;
    sqlite3_file *real;
    int wal, main_db;
} faulty_file_t;

static sqlite3_vfs *s_real_vfs;
static int s_fail_syncs;
static int s_sync_calls;
static int s_fail_wal_writes;
static int s_wal_writes;
static int s_db_writes;

#define REAL(f) (((faulty_file_t *) (f))->real)

static int s_f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int s_f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int s_f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    s_db_writes += ((faulty_file_t *) f)->main_db;
    if (((faulty_file_t *) f)->wal) {
        s_wal_writes++;
        if (s_fail_wal_writes)
            return SQLITE_IOERR_WRITE;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int s_f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int s_f_sync(sqlite3_file *f, int flags)
{
    s_sync_calls++;
    if (s_fail_syncs)
        return SQLITE_IOERR_FSYNC;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int s_f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int s_f_lock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xLock(REAL(f), lock);
}
static int s_f_unlock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}
static int s_f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int s_f_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int s_f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int s_f_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int s_f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), page, size, extend, out);
}
static int s_f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void s_f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int s_f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}
static int s_f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, out);
}
static int s_f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods s_faulty_io = {
    3,           s_f_close,   s_f_read,     s_f_write,       s_f_truncate,  s_f_sync,
    s_f_size,    s_f_lock,    s_f_unlock,   s_f_reserved,    s_f_control,   s_f_sector,
    s_f_device,  s_f_shm_map, s_f_shm_lock, s_f_shm_barrier, s_f_shm_unmap, s_f_fetch,
    s_f_unfetch,
};

static int s_faulty_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                         int *out_flags)
{
    (void) vfs;
    faulty_file_t *f = (faulty_file_t *) file;
    f->real = (sqlite3_file *) (f + 1);
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = s_real_vfs->xOpen(s_real_vfs, name, f->real, flags, out_flags);
    f->base.pMethods = f->real->pMethods ? &s_faulty_io : NULL;
    return rc;
}

static int s_faulty_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void) vfs;
    return s_real_vfs->xDelete(s_real_vfs, name, sync_dir);
}

static int s_faulty_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void) vfs;
    return s_real_vfs->xAccess(s_real_vfs, name, flags, out);
}

static int s_faulty_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void) vfs;
    return s_real_vfs->xFullPathname(s_real_vfs, name, n, out);
}

static void s_register_faulty_vfs(void)
{
    static sqlite3_vfs vfs;
    if (s_real_vfs)
        return;
    s_real_vfs = sqlite3_vfs_find(NULL);
    vfs = *s_real_vfs;
    vfs.szOsFile = (int) sizeof(faulty_file_t) + s_real_vfs->szOsFile;
    vfs.zName = "fx-faulty";
    vfs.pNext = NULL;
    vfs.xOpen = s_faulty_open;
    vfs.xDelete = s_faulty_delete;
    vfs.xAccess = s_faulty_access;
    vfs.xFullPathname = s_faulty_full_pathname;
    assert_int_equal(sqlite3_vfs_register(&vfs, 0), SQLITE_OK);
}

static void test_failed_fsync(void **state)
{
    fixture_t *fx = *state;
    s_register_faulty_vfs();
    fx_store_options_t options = {.vfs = "fx-faulty"};
    fx_store_t *store = s_open(fx->path, &options);
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= 20; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);

    s_fail_syncs = 1;
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 21; n <= 40; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    int syncs = s_sync_calls;
    assert_int_equal(fx_store_commit(store), FX_ERR_STORAGE);
    assert_true(s_sync_calls > syncs);
    assert_non_null(strstr(fx_store_error_text(store), "commit: disk I/O error"));
    syncs = s_sync_calls;
    s_expect_failed(store);
    assert_int_equal(s_sync_calls, syncs); /* a failed fsync is never retried */
    fx_store_destroy(&store);
    assert_int_equal(s_sync_calls, syncs); /* nor on close: no checkpoint */
    s_fail_syncs = 0;

    /* What the WAL holds decides: the whole group or none of it, never part. */
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    int64_t messages = s_stats(store).messages;
    assert_true(messages == 20 || messages == 40);
    s_expect_whole(store, messages);
    fx_store_destroy(&store);
}

/* Checks message n's envelope as s_put_message wrote it (1,024 bytes). */
static void s_expect_envelope(fx_store_t *store, int n)
{
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    s_msg_id(n, msg_id);
    fx_store_pending_t *m = NULL;
    assert_int_equal(fx_store_message_get(store, msg_id, &m), FX_OK);
    assert_int_equal(m->envelope_len, 1024);
    for (size_t i = 0; i < m->envelope_len; i++)
        assert_int_equal(m->envelope[i], (uint8_t) (n * 31 + i));
    fx_store_pending_free(&m, 1);
}

/* A group commit reaches the WAL in a few writes, not two per page (lib/store_vfs.c), and all
 * of it is in the file: for a connection of its own while the store is open, and after it is
 * closed and reopened. The checkpoint at closing copies the pages back in a few writes too. */
static void test_wal_writes_together(void **state)
{
    fixture_t *fx = *state;
    s_register_faulty_vfs();
    fx_store_t *store = s_open(fx->path, &(fx_store_options_t){.vfs = "fx-faulty"});
    enum { MESSAGES = 200 }; /* 200 KiB of envelopes alone: at least 50 pages */
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= MESSAGES; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    s_wal_writes = 0;
    assert_int_equal(fx_store_commit(store), FX_OK);
    /* One write per frame header and one per page would be more than 100. */
    assert_true(s_wal_writes > 0);
    assert_true(s_wal_writes <= 10);
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM messages"), MESSAGES);
    s_db_writes = 0;
    fx_store_destroy(&store);
    assert_true(s_db_writes > 0);
    assert_true(s_db_writes <= 25); /* one per page would be more than 50 */
    char wal[512];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    assert_int_equal(access(wal, F_OK), -1); /* all of it copied back: the WAL is gone */
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    s_expect_whole(store, MESSAGES);
    for (int n = 1; n <= MESSAGES; n += 37)
        s_expect_envelope(store, n);
    fx_store_destroy(&store);
}

/* A transaction larger than the page cache spills pages into the WAL before its commit and
 * reads them back: what it reads is what it wrote. */
static void test_wal_spill_read_back(void **state)
{
    fixture_t *fx = *state;
    fx_store_t *store = s_open(fx->path, &(fx_store_options_t){.cache_kib = 64});
    enum { MESSAGES = 400 };
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= MESSAGES; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 2), FX_OK);
    for (int n = 1; n <= MESSAGES; n += 13)
        s_expect_envelope(store, n);
    assert_int_equal(fx_store_commit(store), FX_OK);
    fx_store_destroy(&store);
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    for (int n = 1; n <= MESSAGES; n += 13)
        s_expect_envelope(store, n);
    fx_store_stats_t stats = s_stats(store);
    assert_int_equal(stats.messages, MESSAGES);
    assert_int_equal(stats.pending_deliveries, 2 * MESSAGES);
    fx_store_destroy(&store);
}

/* Without a sync at commit (synchronous = OFF, which the store never sets), the frames a
 * commit holds still reach the file before other connections are told of them: the batching
 * VFS writes them out at the shared-memory barrier of the commit's publication. */
static void test_wal_published_without_sync(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = NULL;
    const char *vfs = store_vfs_batching(NULL);
    assert_non_null(vfs);
    assert_int_equal(
        sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
    char *error = NULL;
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;"
                     " CREATE TABLE t(x BLOB); BEGIN;"
                     " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
                     " INSERT INTO t SELECT randomblob(1024) FROM n; COMMIT;",
                     NULL, NULL, &error) != SQLITE_OK)
        fail_msg("%s", error);
    /* Fewer frames than one buffer holds: only the barrier can have written them. */
    assert_int_equal(s_raw_int(fx->path, "SELECT count(*) FROM t"), 50);
    sqlite3_close(db);
}

/* A WAL write that fails fails the commit it belongs to, though it reached the disk only at
 * the sync: the store stops, and the group is not there after reopening. */
static void test_failed_wal_write(void **state)
{
    fixture_t *fx = *state;
    s_register_faulty_vfs();
    fx_store_t *store = s_open(fx->path, &(fx_store_options_t){.vfs = "fx-faulty"});
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= 20; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);

    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 21; n <= 25; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 1), FX_OK);
    s_fail_wal_writes = 1;
    s_wal_writes = 0;
    assert_int_equal(fx_store_commit(store), FX_ERR_STORAGE);
    assert_true(s_wal_writes > 0);
    assert_non_null(strstr(fx_store_error_text(store), "commit: disk I/O error"));
    s_expect_failed(store);
    fx_store_destroy(&store);
    s_fail_wal_writes = 0;

    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_FULL});
    s_expect_whole(store, 20);
    fx_store_destroy(&store);
}

/* Fills a store, closes it and overwrites len bytes at offset with garbage. */
static void s_corrupt_file(const char *path, long offset, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t *garbage = malloc(len);
    assert_non_null(garbage);
    for (size_t i = 0; i < len; i++)
        garbage[i] = (uint8_t) (0x5A ^ (i * 7));
    assert_int_equal(pwrite(fd, garbage, len, offset), (ssize_t) len);
    close(fd);
    free(garbage);
}

static void s_fill(const char *path, int messages)
{
    fx_store_t *store = s_open(path, NULL);
    assert_int_equal(fx_store_begin(store), FX_OK);
    for (int n = 1; n <= messages; n++)
        assert_int_equal(s_publish(store, n, FAR_FUTURE, 2), FX_OK);
    assert_int_equal(fx_store_commit(store), FX_OK);
    fx_store_destroy(&store);
}

static int s_count_audit(const fx_store_audit_entry_t *entry, void *arg)
{
    (void) entry;
    (*(int *) arg)++;
    return 0;
}

/* Reads everything the broker reads; returns the first error. */
static fx_err_t s_read_everything(fx_store_t *store, int messages)
{
    const char *recipients[] = {RECIPIENT1, RECIPIENT2};
    fx_err_t err = FX_OK;
    for (int r = 0; r < 2 && err == FX_OK; r++) {
        fx_store_pending_t *list = NULL;
        size_t count = 0;
        err = fx_store_pending_list(store, recipients[r], 0, 100000, &list, &count);
        fx_store_pending_free(&list, count);
    }
    int entries = 0;
    if (err == FX_OK)
        err = fx_store_audit_each(store, 0, s_count_audit, &entries);
    for (int n = 1; n <= messages && err == FX_OK; n++) {
        uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
        fx_store_answer_t answer;
        s_msg_id(n, msg_id);
        err = fx_store_find_answer(store, msg_id, &answer);
    }
    return err;
}

static void test_corrupt_file(void **state)
{
    fixture_t *fx = *state;
    enum { N = 300 };
    s_fill(fx->path, N);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    long middle = (long) (st.st_size / 2 / 4096 * 4096);
    s_corrupt_file(fx->path, middle + 8, 2000);

    /* Found at open by the quick check... */
    fx_store_t *store = NULL;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_null(store);
    assert_non_null(strstr(why, "integrity check failed"));

    /* ...or, without the check, at the first read that touches the page, never a crash. */
    fx_err_t err =
        fx_store_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_NONE}, &store, why);
    if (err == FX_OK) {
        assert_int_equal(s_read_everything(store, N), FX_ERR_STORAGE);
        assert_true(fx_store_failed(store));
        assert_non_null(strstr(fx_store_error_text(store), "malformed"));
        /* Reopen runs the full check and refuses the damaged file. */
        assert_int_equal(fx_store_reopen(store), FX_ERR_STORAGE);
        assert_non_null(strstr(fx_store_error_text(store), "integrity check failed"));
        s_expect_failed(store);
        fx_store_destroy(&store);
    } else
        assert_int_equal(err, FX_ERR_STORAGE);

    /* A damaged header: not a database at all. */
    s_corrupt_file(fx->path, 0, 100);
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a database"));
    tu_write(fx->path, "this is a text file, not a store\n", 0600);
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "not a database"));
}

/* A damaged b-tree page: SQLite's check answers its first problem in the same row as the line
 * "*** in database main ***" that heads it, which must not pass for "ok". */
static void test_corrupt_page(void **state)
{
    fixture_t *fx = *state;
    s_fill(fx->path, 20);
    int64_t root = s_raw_int(fx->path, "SELECT rootpage FROM sqlite_schema"
                                       " WHERE name = 'deliveries'");
    assert_true(root > 1);
    s_corrupt_file(fx->path, (long) (root - 1) * 4096 + 8, 200); /* its cell pointers */
    fx_store_t *store = NULL;
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_null(store);
    char page[64];
    snprintf(page, sizeof page, "integrity check failed: On tree page %lld", (long long) root);
    assert_non_null(strstr(why, page));
}

static void test_corrupt_rows(void **state)
{
    fixture_t *fx = *state;
    s_fill(fx->path, 5);
    /* An envelope changed on disk, same length: pages and constraints are fine, the hash is
     * not. The store refuses to hand it out. */
    s_raw_sql(fx->path, "UPDATE messages SET envelope = zeroblob(1024) WHERE id = 3");
    fx_store_t *store = s_open(fx->path, NULL);
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    assert_int_equal(fx_store_pending_list(store, RECIPIENT1, 0, 10, &list, &count),
                     FX_ERR_STORAGE);
    assert_null(list);
    assert_non_null(strstr(fx_store_error_text(store), "does not match the hash"));
    s_expect_failed(store);
    fx_store_destroy(&store);

    /* A msg_id of the wrong length: the quick check at open sees the CHECK constraint... */
    s_raw_sql(fx->path, "UPDATE messages SET envelope = (SELECT envelope FROM messages WHERE id "
                        "= 2), envelope_hash = (SELECT envelope_hash FROM messages WHERE id = 2)"
                        " WHERE id = 3;"
                        "PRAGMA ignore_check_constraints = ON;"
                        "UPDATE messages SET msg_id = x'0102' WHERE id = 4;");
    char why[FX_STORE_WHY_SIZE];
    assert_int_equal(fx_store_open(fx->path, NULL, &store, why), FX_ERR_STORAGE);
    assert_non_null(strstr(why, "CHECK constraint failed in messages"));
    /* ...and without the check, the read does. */
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_NONE});
    assert_int_equal(fx_store_pending_list(store, RECIPIENT1, 0, 10, &list, &count),
                     FX_ERR_STORAGE);
    assert_non_null(strstr(fx_store_error_text(store), "messages.msg_id is 2 bytes, not 16"));
    fx_store_destroy(&store);

    /* An audit row with a short leaf hash names its entry. */
    s_raw_sql(fx->path, "PRAGMA ignore_check_constraints = ON;"
                        "UPDATE messages SET msg_id = x'F5000000000000000000000000000004' "
                        "WHERE id = 4;"
                        "DROP TRIGGER audit_no_update;"
                        "UPDATE audit SET leaf_hash = x'00' WHERE seq = 2;");
    store = s_open(fx->path, &(fx_store_options_t){.check = FX_STORE_CHECK_NONE});
    int entries = 0;
    assert_int_equal(fx_store_audit_each(store, 0, s_count_audit, &entries), FX_ERR_STORAGE);
    assert_int_equal(entries, 1);
    assert_non_null(strstr(fx_store_error_text(store), "audit entry 2"));
    fx_store_destroy(&store);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_one_writer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_seq_taken, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_check_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_leaves_no_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_background_checkpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_answers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_order_and_states, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_prune, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_referral_deadlines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_referral_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_referral_list_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_referral_exercise, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_message_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reply_find, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_trail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_of_exercise, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_filed_under_deliveries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_links_tampered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_stray, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_check_from, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_fsync, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_writes_together, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_spill_read_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_published_without_sync, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_wal_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_page, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_rows, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
