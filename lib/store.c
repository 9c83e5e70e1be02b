/* The broker's durable store on SQLite: schema and its version check, prepared statements made
 * once, group-commit transactions, the FAILED state after any storage error, and reads that treat
 * every stored row as untrusted (lengths, types and the envelope's hash are checked). */
#include "fusion/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/codec.h"
#include "fusion/jsontext.h"
#include "fusion/sha256.h"
#include "fusion/vocab.h"
#include "store_vfs.h"
#include "store_wal.h"

#define APPLICATION_ID    0x46585354 /* "FXST": marks a Fusion store */
#define DEFAULT_CACHE_KIB 2048
#define DEFAULT_BUSY_MS   5000
#define WAL_SIZE_LIMIT    (64 * 1024 * 1024)
#define PRUNE_BATCH       256
#define RECENT_MESSAGES   1024 /* message row ids remembered for audit entries */
/* The WAL size that asks the checkpointer for a checkpoint, eight times SQLite's default: a page
 * written by several commits in between is copied back once, which matters for the msg_id index,
 * whose random inserts write a page for almost every message. */
#define WAL_CHECKPOINT_PAGES 8000
#define AUDIT_TEXT_MAX       1024 /* actor and subject, in bytes */
#define STATE_UNACKED_MAX    FX_REFERRAL_DELIVERED
#define ENVELOPE_HASH_SIZE   crypto_generichash_BYTES

/* The schema of version 1. The envelope is the last column of messages so that reading the
 * other columns never walks its overflow pages. Audit rows are append-only (triggers), and seq
 * runs without gaps so that entry seq is Merkle leaf seq - 1. */
static const char *const s_schema =
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused: audit rows name messages by it */
    " msg_id BLOB NOT NULL UNIQUE CHECK (length(msg_id) = 16),"
    " sender TEXT NOT NULL,"
    " sender_serial INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " urgency INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " header_digest BLOB NOT NULL CHECK (length(header_digest) = 32),"
    " exercise TEXT NOT NULL,"
    " in_reply_to BLOB CHECK (in_reply_to IS NULL OR length(in_reply_to) = 16),"
    " stored_at INTEGER NOT NULL,"
    " envelope_hash BLOB NOT NULL CHECK (length(envelope_hash) = 32),"
    " envelope BLOB NOT NULL"
    ") STRICT;"
    "CREATE INDEX messages_expiry ON messages (expires_at);"

    "CREATE TABLE answers ("
    " msg_id BLOB PRIMARY KEY CHECK (length(msg_id) = 16),"
    " accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),"
    " code TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " rule TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " answered_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX answers_expiry ON answers (expires_at);"

    "CREATE TABLE deliveries ("
    " seq INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " recipient TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 2),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " queued_at INTEGER NOT NULL,"
    " last_attempt_at INTEGER,"
    " received_at INTEGER,"
    " UNIQUE (message, recipient)"
    ") STRICT;"
    /* The deliveries of a recipient are found through deliveries_pending (the additions). */
    "CREATE INDEX deliveries_outstanding ON deliveries (queued_at) WHERE state < 2;"

    "CREATE TABLE subscriptions ("
    " id INTEGER PRIMARY KEY,"
    " principal TEXT NOT NULL,"
    " pattern TEXT NOT NULL,"
    " stages INTEGER NOT NULL,"
    " kinds INTEGER NOT NULL,"
    " exercise TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (principal, pattern, exercise)"
    ") STRICT;"

    "CREATE TABLE referrals ("
    " msg_id BLOB NOT NULL CHECK (length(msg_id) = 16),"
    " agency TEXT NOT NULL,"
    " sender TEXT NOT NULL,"
    " urgency INTEGER NOT NULL,"
    " state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 7),"
    " deadline INTEGER NOT NULL,"
    " escalated INTEGER NOT NULL DEFAULT 0 CHECK (escalated IN (0, 1)),"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (msg_id, agency)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX referrals_overdue ON referrals (deadline) WHERE state <= 2 AND escalated = 0;"

    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " msg_id BLOB CHECK (msg_id IS NULL OR length(msg_id) = 16),"
    " header_digest BLOB CHECK (header_digest IS NULL OR length(header_digest) = 32),"
    " details TEXT NOT NULL,"
    " leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),"
    /* The stored message the entry concerns (messages.id), so that finding a message's entries
     * walks an index whose keys grow with time: an index on the random msg_id would take a write
     * to a random page per entry. Not part of the entry or its hash. NULL for the delivered and
     * received entries, which their delivery row names instead (deliveries.delivered_entry and
     * received_entry, s_add_delivery_entries): it is written anyway, and an index is not. */
    " message INTEGER"
    ") STRICT;"
    "CREATE INDEX audit_by_message ON audit (message) WHERE message IS NOT NULL;"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;"

    "CREATE TABLE audit_checkpoints ("
    " tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 0),"
    " root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),"
    " time_ms INTEGER NOT NULL,"
    " signature BLOB NOT NULL CHECK (length(signature) = 64),"
    " body BLOB NOT NULL CHECK (length(body) BETWEEN 1 AND 512)"
    ") STRICT;"
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;";

/* Additions to schema version 1, created by every writable open of a store that lacks them (so a
 * store written before them gains them).
 * - What a trainer's query for the audit entries of one exercise walks
 *   (fx_store_audit_of_exercise). An exercise's messages are found through a partial index that
 *   live traffic (exercise '') never enters, and their entries through audit_by_message; the
 *   entries of an exercise's subscriptions, which concern no message, are filed by seq in
 *   audit_exercise when they are appended. Nothing is added to the append of any other entry.
 * - A recipient's deliveries still to be sent or acknowledged, in order: a delivery leaves the
 *   index when it is RECEIVED, the only change that sets received_at, so the index stays the size
 *   of what is outstanding and a RECEIVED writes no new entry to it. (A condition on state would
 *   not do: SQLite 3.40 does not see that the queries' state = 0 implies state < 2.) It replaces
 *   deliveries_by_recipient, which held every delivery ever received.
 * - The rejected entries by msg_id: a rejected message is never stored, so its entry names no
 *   message, and its sender's receipt finds it here (rejections are rare; the appends of
 *   accepted, delivered and received entries write nothing to it).
 * - The stored answers to a message by the message they answer (fx_store_reply_find: whether a
 *   reshare_request was granted already); a message that answers none never enters it. */
static const char *const s_schema_additions =
    "CREATE INDEX IF NOT EXISTS messages_by_exercise ON messages (exercise, id)"
    " WHERE exercise <> '';"
    "CREATE TABLE IF NOT EXISTS audit_exercise ("
    " exercise TEXT NOT NULL CHECK (exercise <> ''),"
    " seq INTEGER NOT NULL,"
    " PRIMARY KEY (exercise, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (recipient, state, seq)"
    " WHERE received_at IS NULL;"
    "DROP INDEX IF EXISTS deliveries_by_recipient;"
    "CREATE INDEX IF NOT EXISTS audit_rejected ON audit (msg_id) WHERE event = 'rejected';"
    "CREATE INDEX IF NOT EXISTS messages_replies ON messages (in_reply_to, kind)"
    " WHERE in_reply_to IS NOT NULL;";

/* Every statement the store runs, prepared once when the database is opened. */
typedef enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_MESSAGE_PUT,
    ST_MESSAGE_ROWID,
    ST_ANSWER_PUT,
    ST_ANSWER_GET,
    ST_DELIVERY_ADD,
    ST_PENDING_LIST,
    ST_DELIVERY_SENT,
    ST_DELIVERY_EXISTS,
    ST_DELIVERY_RECEIVED,
    ST_DELIVERY_RECEIVED_SEQ,
    ST_DELIVERY_STATE,
    ST_DELIVERY_RESET,
    ST_PENDING_COUNT_ALL,
    ST_PENDING_COUNT_ONE,
    ST_OLDEST_PENDING,
    ST_SUB_ADD,
    ST_SUB_REMOVE,
    ST_SUB_ALL,
    ST_SUB_ONE,
    ST_REF_ADD,
    ST_REF_SET_STATE,
    ST_REF_ESCALATE,
    ST_REF_GET,
    ST_REF_OVERDUE,
    ST_REF_LIST,
    ST_MESSAGE_GET,
    ST_REPLY_FIND,
    ST_AUDIT_LAST,
    ST_AUDIT_PUT,
    ST_AUDIT_EACH,
    ST_CHECKPOINT_PUT,
    ST_CHECKPOINT_LATEST,
    ST_CHECKPOINT_EACH,
    ST_AUDIT_LEAVES,
    ST_AUDIT_OF_MSG,
    ST_AUDIT_FILE_EXERCISE,
    ST_AUDIT_OF_EXERCISE,
    ST_AUDIT_LINKS,
    ST_PRUNE_MESSAGES,
    ST_PRUNE_ANSWERS,
    ST_COUNT_MESSAGES,
    ST_COUNT_ANSWERS,
    ST_COUNT_SUBS,
    ST_COUNT_REF_OPEN,
    ST_COUNT_
} stmt_id_t;

/* The columns of an audit entry as s_read_audit reads them, from audit AS a. */
#define AUDIT_COLUMNS                                                                              \
    "a.seq, a.time_ms, a.event, a.actor, a.subject, a.msg_id, a.header_digest, a.details,"         \
    " a.leaf_hash"

static const char *const s_sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT fx_unit",
    [ST_RELEASE] = "RELEASE fx_unit",
    [ST_ROLLBACK_TO] = "ROLLBACK TO fx_unit",
    [ST_MESSAGE_PUT] = "INSERT INTO messages (msg_id, sender, sender_serial, kind, urgency,"
                       " created_at, expires_at, header_digest, exercise, in_reply_to, stored_at,"
                       " envelope_hash, envelope)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_MESSAGE_ROWID] = "SELECT id FROM messages WHERE msg_id = ?1",
    [ST_ANSWER_PUT] = "INSERT INTO answers (msg_id, accepted, code, reason, rule, expires_at,"
                      " answered_at, sender) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* A stored message is its own accepted answer (the broker records no answer row for it). */
    [ST_ANSWER_GET] = "SELECT accepted, code, reason, rule, expires_at, sender FROM answers"
                      " WHERE msg_id = ?1"
                      " UNION ALL SELECT 1, '', '', '', expires_at, sender FROM messages"
                      " WHERE msg_id = ?1 LIMIT 1",
    [ST_DELIVERY_ADD] = "INSERT INTO deliveries (message, recipient, queued_at)"
                        " VALUES (?1, ?2, ?3) ON CONFLICT (message, recipient) DO NOTHING",
    [ST_PENDING_LIST] =
        "SELECT d.seq, d.attempts, m.msg_id, m.header_digest, m.sender, m.sender_serial, m.kind,"
        " m.expires_at, m.envelope_hash, m.envelope"
        " FROM deliveries AS d JOIN messages AS m ON m.id = d.message"
        " WHERE d.recipient = ?1 AND d.state = 0 AND d.received_at IS NULL"
        " AND m.expires_at > ?2"
        " ORDER BY d.seq LIMIT ?3",
    [ST_DELIVERY_SENT] = "UPDATE deliveries SET state = 1, attempts = attempts + 1,"
                         " last_attempt_at = ?2, delivered_entry = coalesce(?3, delivered_entry)"
                         " WHERE seq = ?1 AND state < 2",
    [ST_DELIVERY_EXISTS] = "SELECT 1 FROM deliveries WHERE seq = ?1",
    [ST_DELIVERY_RECEIVED] =
        "UPDATE deliveries SET state = 2, received_at = ?3, received_entry = ?4"
        " WHERE message = (SELECT id FROM messages WHERE msg_id = ?1) AND recipient = ?2"
        " AND state <> 2",
    [ST_DELIVERY_RECEIVED_SEQ] =
        "UPDATE deliveries SET state = 2, received_at = ?3, received_entry = ?4"
        " WHERE seq = ?1 AND recipient = ?2 AND state <> 2",
    [ST_DELIVERY_STATE] = "SELECT d.state, d.attempts, m.header_digest FROM deliveries AS d"
                          " JOIN messages AS m ON m.id = d.message"
                          " WHERE m.msg_id = ?1 AND d.recipient = ?2",
    [ST_DELIVERY_RESET] = "UPDATE deliveries SET state = 0"
                          " WHERE recipient = ?1 AND state = 1 AND received_at IS NULL"
                          " AND last_attempt_at < ?2",
    [ST_PENDING_COUNT_ALL] = "SELECT count(*) FROM deliveries WHERE state < 2",
    [ST_PENDING_COUNT_ONE] = "SELECT count(*) FROM deliveries"
                             " WHERE recipient = ?1 AND state < 2 AND received_at IS NULL",
    [ST_OLDEST_PENDING] = "SELECT min(queued_at) FROM deliveries WHERE state < 2",
    [ST_SUB_ADD] = "INSERT INTO subscriptions (principal, pattern, stages, kinds, exercise,"
                   " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                   " ON CONFLICT (principal, pattern, exercise)"
                   " DO UPDATE SET stages = excluded.stages, kinds = excluded.kinds"
                   " RETURNING id",
    [ST_SUB_REMOVE] = "DELETE FROM subscriptions WHERE principal = ?1 AND pattern = ?2"
                      " AND exercise = ?3 RETURNING id",
    [ST_SUB_ALL] = "SELECT id, principal, pattern, stages, kinds, exercise, created_at"
                   " FROM subscriptions ORDER BY id",
    [ST_SUB_ONE] = "SELECT id, principal, pattern, stages, kinds, exercise, created_at"
                   " FROM subscriptions WHERE principal = ?1 ORDER BY id",
    [ST_REF_ADD] = "INSERT INTO referrals (msg_id, agency, sender, urgency, state, deadline,"
                   " escalated, updated_at, exercise) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_REF_SET_STATE] = "UPDATE referrals SET state = ?3, updated_at = ?4"
                         " WHERE msg_id = ?1 AND agency = ?2",
    [ST_REF_ESCALATE] = "UPDATE referrals SET escalated = 1, updated_at = ?3"
                        " WHERE msg_id = ?1 AND agency = ?2",
    [ST_REF_GET] = "SELECT msg_id, sender, agency, urgency, state, deadline, escalated,"
                   " exercise FROM referrals WHERE msg_id = ?1 AND agency = ?2",
    [ST_REF_OVERDUE] =
        "SELECT msg_id, sender, agency, urgency, state, deadline, escalated,"
        " exercise FROM referrals WHERE state <= 2 AND escalated = 0 AND deadline <= ?1"
        " ORDER BY deadline LIMIT ?2",
    [ST_REF_LIST] = "SELECT msg_id, sender, agency, urgency, state, deadline, escalated,"
                    " exercise FROM referrals WHERE sender = ?1 OR agency = ?2"
                    " ORDER BY CASE WHEN state <= 2 THEN 0 WHEN state IN (5, 7) THEN 2 ELSE 1 END,"
                    " CASE WHEN state <= 2 THEN deadline END, updated_at DESC, msg_id, agency"
                    " LIMIT ?3",
    [ST_REPLY_FIND] = "SELECT msg_id FROM messages WHERE in_reply_to = ?1 AND kind = ?2"
                      " ORDER BY id LIMIT 1",
    [ST_MESSAGE_GET] = "SELECT 0, 0, msg_id, header_digest, sender, sender_serial, kind,"
                       " expires_at, envelope_hash, envelope FROM messages WHERE msg_id = ?1",
    [ST_AUDIT_LAST] = "SELECT coalesce(max(seq), 0) FROM audit",
    [ST_AUDIT_PUT] = "INSERT INTO audit (seq, time_ms, event, actor, subject, msg_id,"
                     " header_digest, details, leaf_hash, message)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                     " nullif(coalesce(?10, (SELECT id FROM messages WHERE msg_id = ?6)), 0))",
    [ST_AUDIT_EACH] = "SELECT seq, time_ms, event, actor, subject, msg_id, header_digest,"
                      " details, leaf_hash FROM audit WHERE seq >= ?1 ORDER BY seq",
    [ST_CHECKPOINT_PUT] = "INSERT INTO audit_checkpoints (tree_size, root_hash, time_ms,"
                          " signature, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_CHECKPOINT_LATEST] = "SELECT tree_size, root_hash, time_ms, signature, body"
                             " FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
    [ST_CHECKPOINT_EACH] = "SELECT tree_size, root_hash, time_ms, signature, body"
                           " FROM audit_checkpoints ORDER BY tree_size",
    [ST_AUDIT_LEAVES] = "SELECT seq, leaf_hash FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    /* Through audit_by_message: the message's never-reused row id, while it is stored. */
    /* and through the message's deliveries, for the entries filed under them. Those links
     * (audit.message, deliveries.*_entry) are an index, not part of any entry's hash: only entries
     * of the trail (seq >= 1) whose hashed msg_id is the message's are its history. */
    [ST_AUDIT_OF_MSG] = "SELECT " AUDIT_COLUMNS " FROM audit AS a"
                        " WHERE a.message = (SELECT id FROM messages WHERE msg_id = ?1)"
                        " AND a.msg_id = ?1 AND a.seq >= 1"
                        " UNION ALL"
                        " SELECT " AUDIT_COLUMNS " FROM deliveries AS d JOIN audit AS a"
                        " ON a.seq IN (d.delivered_entry, d.received_entry)"
                        " WHERE d.message = (SELECT id FROM messages WHERE msg_id = ?1)"
                        " AND a.msg_id = ?1 AND a.seq >= 1"
                        " UNION ALL"
                        " SELECT " AUDIT_COLUMNS " FROM audit AS a WHERE a.msg_id = ?1"
                        " AND a.event = 'rejected' AND a.message IS NULL AND a.seq >= 1"
                        " ORDER BY 1",
    [ST_AUDIT_FILE_EXERCISE] = "INSERT INTO audit_exercise (exercise, seq) VALUES (?1, ?2)",
    /* The exercise's messages through messages_by_exercise (the repeated `exercise <> ''` lets
     * SQLite use the partial index), each one's entries through audit_by_message and through its
     * deliveries, and the entries filed under the exercise; only the entries after ?2 are
     * sorted. */
    [ST_AUDIT_OF_EXERCISE] =
        "SELECT " AUDIT_COLUMNS " FROM messages AS m JOIN audit AS a ON a.message = m.id"
        " WHERE m.exercise = ?1 AND m.exercise <> '' AND a.seq > ?2 AND a.msg_id = m.msg_id"
        " UNION ALL"
        " SELECT " AUDIT_COLUMNS " FROM messages AS m JOIN deliveries AS d ON d.message = m.id"
        " JOIN audit AS a ON a.seq IN (d.delivered_entry, d.received_entry)"
        " WHERE m.exercise = ?1 AND m.exercise <> '' AND a.seq > ?2 AND a.msg_id = m.msg_id"
        " UNION ALL"
        " SELECT " AUDIT_COLUMNS " FROM audit_exercise AS x JOIN audit AS a ON a.seq = x.seq"
        " WHERE x.exercise = ?1 AND x.seq > ?2"
        " ORDER BY 1 LIMIT ?3",
    /* The first link filing an entry under a stored message that names no entry of that message
     * with the event it stands for: the column, the seq it names, the message, the event found.
     * Only the links of entries from seq ?1 on (the broker's start reads those after its latest
     * checkpoint: the entries through audit's primary key, the deliveries' links in a scan of
     * the deliveries, which the messages' expiry keeps to the messages stored). */
    [ST_AUDIT_LINKS] =
        "SELECT 'deliveries.delivered_entry', d.delivered_entry, m.msg_id, a.event, 'delivered'"
        " FROM deliveries AS d JOIN messages AS m ON m.id = d.message"
        " LEFT JOIN audit AS a ON a.seq = d.delivered_entry WHERE d.delivered_entry >= ?1"
        " AND (a.seq IS NULL OR a.seq < 1 OR a.msg_id IS NOT m.msg_id"
        " OR a.event IS NOT 'delivered' OR a.subject IS NOT d.recipient)"
        " UNION ALL"
        " SELECT 'deliveries.received_entry', d.received_entry, m.msg_id, a.event, 'received'"
        " FROM deliveries AS d JOIN messages AS m ON m.id = d.message"
        " LEFT JOIN audit AS a ON a.seq = d.received_entry WHERE d.received_entry >= ?1"
        " AND (a.seq IS NULL OR a.seq < 1 OR a.msg_id IS NOT m.msg_id"
        " OR a.event IS NOT 'received' OR a.actor IS NOT d.recipient)"
        " UNION ALL"
        " SELECT 'audit.message', a.seq, m.msg_id, a.event, NULL"
        " FROM audit AS a JOIN messages AS m ON m.id = a.message"
        " WHERE a.message IS NOT NULL AND a.seq >= ?1 AND a.msg_id IS NOT m.msg_id"
        " ORDER BY 2 LIMIT 1",
    [ST_PRUNE_MESSAGES] = "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
                          " WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
    [ST_PRUNE_ANSWERS] = "DELETE FROM answers WHERE msg_id IN (SELECT msg_id FROM answers"
                         " WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
    [ST_COUNT_MESSAGES] = "SELECT count(*) FROM messages",
    [ST_COUNT_ANSWERS] = "SELECT count(*) FROM answers",
    [ST_COUNT_SUBS] = "SELECT count(*) FROM subscriptions",
    [ST_COUNT_REF_OPEN] = "SELECT count(*) FROM referrals WHERE state <= 2",
};

/* ST_AUDIT_OF_MSG for a store opened read-only that predates the deliveries' entry columns. */
static const char *const s_audit_of_msg_indexed =
    "SELECT " AUDIT_COLUMNS " FROM audit AS a"
    " WHERE a.message = (SELECT id FROM messages WHERE msg_id = ?1)"
    " AND a.msg_id = ?1 AND a.seq >= 1"
    " UNION ALL"
    " SELECT " AUDIT_COLUMNS " FROM audit AS a WHERE a.msg_id = ?1"
    " AND a.event = 'rejected' AND a.message IS NULL AND a.seq >= 1 ORDER BY 1";

struct fx_store {
    char *path;
    fx_store_options_t options; /* options.vfs points at vfs_name */
    char *vfs_name;
    int lock_fd; /* the database file, locked (flock) while a writable store is open; -1 */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT_];
    bool failed;
    bool in_callback;   /* an iteration is calling the caller back */
    bool savepoint;     /* a savepoint is open */
    int64_t audit_last; /* the last audit seq written through this connection, -1: ask */
    /* The row ids of recently stored messages, so an audit entry about one need not probe the
     * msg_id index: direct-mapped on the msg_id's first bytes, emptied by any rollback (a rolled
     * back row id may be given to another message). */
    struct {
        uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
        int64_t rowid; /* 0: empty */
    } recent[RECENT_MESSAGES];
    store_wal_t *wal;     /* the WAL checkpointer thread (options.background_checkpoint), or NULL */
    int checkpoint_pages; /* the WAL size that asks it for a checkpoint */
    int wal_asked_at;     /* the WAL size when it was last asked, 0: not since the WAL began */
    char error[FX_STORE_WHY_SIZE];
};

static const char *const s_referral_states[] = {
    [FX_REFERRAL_SENT] = "sent",
    [FX_REFERRAL_DELIVERED] = "delivered",
    [FX_REFERRAL_ACKNOWLEDGED] = "acknowledged",
    [FX_REFERRAL_ACCEPTED] = "accepted",
    [FX_REFERRAL_DECLINED] = "declined",
    [FX_REFERRAL_NEED_INFO] = "need_info",
    [FX_REFERRAL_CLOSED] = "closed",
};

const char *fx_referral_state_name(fx_referral_state_t state)
{
    if (state < FX_REFERRAL_SENT || state > FX_REFERRAL_CLOSED)
        return NULL;
    return s_referral_states[state];
}

/* --- Failure ---------------------------------------------------------------------------- */

/* Resets every statement so none holds a read snapshot. */
static void s_reset_all(fx_store_t *self)
{
    self->audit_last = -1; /* a rollback may have taken entries back, and messages */
    memset(self->recent, 0, sizeof self->recent);
    for (int i = 0; i < ST_COUNT_; i++)
        if (self->st[i])
            sqlite3_reset(self->st[i]);
}

/* Enters the FAILED state: rolls back whatever is open and keeps the first reason. After this,
 * nothing more is written; the connection is closed without checkpointing the WAL, so that the
 * next open recovers from what is on disk rather than from pages the kernel may have dropped. */
static fx_err_t s_enter_failed(fx_store_t *self)
{
    self->failed = true;
    self->savepoint = false;
    if (self->db) {
        s_reset_all(self);
        if (!sqlite3_get_autocommit(self->db))
            sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *) NULL);
    }
    return FX_ERR_STORAGE;
}

/* A storage error from SQLite while doing what: record SQLite's message, fail. */
static fx_err_t s_fail(fx_store_t *self, const char *what, int rc)
{
    if (!self->failed) {
        const char *msg = self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc);
        if (self->db && sqlite3_extended_errcode(self->db) != rc)
            msg = sqlite3_errstr(rc);
        snprintf(self->error, sizeof self->error, "%s: %s (SQLite code %d)", what, msg, rc);
    }
    return s_enter_failed(self);
}

/* A stored row that cannot be what was written (wrong type or length, hash mismatch): fail. */
static fx_err_t s_corrupt(fx_store_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static fx_err_t s_corrupt(fx_store_t *self, const char *fmt, ...)
{
    if (!self->failed) {
        int used = snprintf(self->error, sizeof self->error, "corrupt database: ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(self->error + used, sizeof self->error - (size_t) used, fmt, ap);
        va_end(ap);
    }
    return s_enter_failed(self);
}

/* Whether the store can take a call now. */
static fx_err_t s_usable(const fx_store_t *self)
{
    if (!self || self->in_callback)
        return FX_ERR_INVALID;
    if (self->failed || !self->db)
        return FX_ERR_STORAGE;
    return FX_OK;
}

/* Finishes a statement: reset (keeping the FAILED state's reason) and clear its bindings. */
static void s_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Steps stmt once. FX_OK with *row_p set (a row, or done); a constraint violation maps to
 * FX_ERR_EXISTS (unique), FX_ERR_NOT_FOUND (foreign key) or FX_ERR_INVALID (check) and leaves
 * the transaction alone (SQLite undoes just that statement); anything else fails the store. */
static fx_err_t s_step(fx_store_t *self, sqlite3_stmt *stmt, const char *what, bool *row_p)
{
    int rc = sqlite3_step(stmt);
    if (row_p)
        *row_p = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return FX_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        sqlite3_reset(stmt);
        switch (rc) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:
            return FX_ERR_EXISTS;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
            return FX_ERR_NOT_FOUND;
        default:
            return FX_ERR_INVALID;
        }
    }
    return s_fail(self, what, rc);
}

/* Runs a statement that returns no rows (or whose rows are not wanted) to the end. */
static fx_err_t s_exec(fx_store_t *self, stmt_id_t id, const char *what)
{
    sqlite3_stmt *stmt = self->st[id];
    bool row = true;
    fx_err_t err = FX_OK;
    while (err == FX_OK && row)
        err = s_step(self, stmt, what, &row);
    s_done(stmt);
    return err;
}

/* Runs a statement that returns one integer (count, max). */
static fx_err_t s_scalar(fx_store_t *self, stmt_id_t id, const char *what, int64_t *value_p)
{
    sqlite3_stmt *stmt = self->st[id];
    bool row = false;
    fx_err_t err = s_step(self, stmt, what, &row);
    if (err == FX_OK && row) {
        if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
            *value_p = 0;
        else if (sqlite3_column_type(stmt, 0) == SQLITE_INTEGER)
            *value_p = sqlite3_column_int64(stmt, 0);
        else
            err = s_corrupt(self, "%s: not an integer", what);
    } else if (err == FX_OK)
        *value_p = 0;
    s_done(stmt);
    return err;
}

/* Reads one row of a statement into an item of a list. */
typedef fx_err_t (*s_read_row_fn)(fx_store_t *self, sqlite3_stmt *stmt, void *item);

/* Runs a SELECT whose last parameter is its row limit (bound here; the others by the caller)
 * into a new array of up to limit item_size items, each read by read and, with keep, kept only
 * when keep(item, arg) says so. *list_p and *count_p receive what was read even on an error
 * (caller frees). */
static fx_err_t s_collect_if(fx_store_t *self, sqlite3_stmt *stmt, const char *what, size_t limit,
                             size_t item_size, s_read_row_fn read,
                             bool (*keep)(const void *, void *), void *arg, void **list_p,
                             size_t *count_p)
{
    /* With keep, the rows it drops do not count: the statement runs to its end, or until limit
     * rows are kept. */
    sqlite3_bind_int64(stmt, sqlite3_bind_parameter_count(stmt),
                       keep || limit > INT64_MAX ? INT64_MAX : (sqlite3_int64) limit);
    size_t cap = limit < 16 ? limit : 16, count = 0;
    char *list = fx_calloc(cap, item_size);
    fx_err_t err = FX_OK;
    while (count < limit) {
        bool row = false;
        if ((err = s_step(self, stmt, what, &row)) != FX_OK || !row)
            break;
        if (count == cap) {
            cap *= 2;
            list = fx_realloc(list, cap * item_size);
        }
        if ((err = read(self, stmt, list + count * item_size)) != FX_OK)
            break;
        if (!keep || keep(list + count * item_size, arg))
            count++;
    }
    s_done(stmt);
    *list_p = list;
    *count_p = count;
    return err;
}

static fx_err_t s_collect(fx_store_t *self, sqlite3_stmt *stmt, const char *what, size_t limit,
                          size_t item_size, s_read_row_fn read, void **list_p, size_t *count_p)
{
    return s_collect_if(self, stmt, what, limit, item_size, read, NULL, NULL, list_p, count_p);
}

/* --- Checked reads of stored columns ----------------------------------------------------- */

/* Copies a blob column of exactly len bytes into out; a corrupt row fails the store. */
static fx_err_t s_col_blob(fx_store_t *self, sqlite3_stmt *stmt, int col, uint8_t *out, size_t len,
                           const char *what)
{
    if (sqlite3_column_type(stmt, col) != SQLITE_BLOB)
        return s_corrupt(self, "%s is not a blob", what);
    const void *data = sqlite3_column_blob(stmt, col);
    size_t got = (size_t) sqlite3_column_bytes(stmt, col);
    if (got != len || !data)
        return s_corrupt(self, "%s is %zu bytes, not %zu", what, got, len);
    memcpy(out, data, len);
    return FX_OK;
}

/* A text column as a C string (valid until the next step), checked for type, embedded NULs and
 * size (fewer than max bytes); a corrupt row fails the store. */
static fx_err_t s_col_text(fx_store_t *self, sqlite3_stmt *stmt, int col, size_t max,
                           const char *what, const char **text_p)
{
    if (sqlite3_column_type(stmt, col) != SQLITE_TEXT)
        return s_corrupt(self, "%s is not text", what);
    const char *text = (const char *) sqlite3_column_text(stmt, col);
    size_t len = (size_t) sqlite3_column_bytes(stmt, col);
    if (!text || strlen(text) != len)
        return s_corrupt(self, "%s holds a NUL byte", what);
    if (len >= max)
        return s_corrupt(self, "%s is %zu bytes, over %zu", what, len, max - 1);
    *text_p = text;
    return FX_OK;
}

/* Copies a text column into a buffer of size bytes. */
static fx_err_t s_col_copy(fx_store_t *self, sqlite3_stmt *stmt, int col, char *out, size_t size,
                           const char *what)
{
    const char *text = NULL;
    fx_err_t err = s_col_text(self, stmt, col, size, what, &text);
    if (err == FX_OK)
        memcpy(out, text, strlen(text) + 1);
    return err;
}

/* An integer column. */
static fx_err_t s_col_int(fx_store_t *self, sqlite3_stmt *stmt, int col, const char *what,
                          int64_t *value_p)
{
    if (sqlite3_column_type(stmt, col) != SQLITE_INTEGER)
        return s_corrupt(self, "%s is not an integer", what);
    *value_p = sqlite3_column_int64(stmt, col);
    return FX_OK;
}

/* --- Binding ---------------------------------------------------------------------------- */

static void s_bind_text(sqlite3_stmt *stmt, int col, const char *text)
{
    sqlite3_bind_text(stmt, col, text ? text : "", -1, SQLITE_STATIC);
}

static void s_bind_blob(sqlite3_stmt *stmt, int col, const void *data, size_t len)
{
    if (data)
        sqlite3_bind_blob64(stmt, col, data, len, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, col);
}

/* A required, short text argument: non-empty and shorter than max bytes. */
static bool s_text_ok(const char *text, size_t max)
{
    return text && text[0] && strlen(text) < max;
}

/* A text in a fixed-size array of the caller's: NUL-terminated within size, and non-empty. */
static bool s_array_text_ok(const char *text, size_t size)
{
    return text[0] && strnlen(text, size) < size;
}

/* An optional text argument (NULL is ""), shorter than max bytes. */
static bool s_opt_text_ok(const char *text, size_t max)
{
    return !text || strlen(text) < max;
}

/* --- Opening ---------------------------------------------------------------------------- */

/* Runs one PRAGMA and copies its first result column (text) into out, if any. */
static int s_pragma_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text(stmt, 0);
        if (out)
            snprintf(out, size, "%s", text ? text : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        if (out && size)
            out[0] = '\0';
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Runs one PRAGMA that answers with an integer. */
static int s_pragma_int(sqlite3 *db, const char *sql, int64_t *value_p)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *value_p = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Formats why from SQLite's message for rc while doing what. */
static fx_err_t s_why_sqlite(char *why, sqlite3 *db, const char *what, int rc)
{
    const char *msg =
        db && sqlite3_extended_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    snprintf(why, FX_STORE_WHY_SIZE, "%s: %s (SQLite code %d)", what, msg, rc);
    return FX_ERR_STORAGE;
}

/* Checks that the database is empty or a Fusion store of this schema version. With create set,
 * and inside the caller's IMMEDIATE transaction, creates the schema of an empty database (so two
 * processes cannot both create it) and sets *created_p. */
static fx_err_t s_schema_check(sqlite3 *db, bool create, char *why, bool *created_p)
{
    int64_t version = 0, app_id = 0, objects = 0;
    int rc;
    *created_p = false;
    if ((rc = s_pragma_int(db, "PRAGMA user_version", &version)) != SQLITE_OK ||
        (rc = s_pragma_int(db, "PRAGMA application_id", &app_id)) != SQLITE_OK ||
        (rc = s_pragma_int(db, "SELECT count(*) FROM sqlite_schema", &objects)) != SQLITE_OK)
        return s_why_sqlite(why, db, "cannot read the database", rc);
    if (version == 0 && app_id == 0 && objects == 0) {
        if (!create)
            return FX_OK;
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
                 APPLICATION_ID, FX_STORE_SCHEMA_VERSION);
        if ((rc = sqlite3_exec(db, s_schema, NULL, NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK)
            return s_why_sqlite(why, db, "cannot create the schema", rc);
        *created_p = true;
        return FX_OK;
    }
    if (app_id != APPLICATION_ID) {
        snprintf(why, FX_STORE_WHY_SIZE,
                 "not a Fusion store (SQLite application_id %lld, expected %d): refusing to "
                 "touch it",
                 (long long) app_id, APPLICATION_ID);
        return FX_ERR_STORAGE;
    }
    if (version > FX_STORE_SCHEMA_VERSION) {
        snprintf(why, FX_STORE_WHY_SIZE,
                 "the store has schema version %lld, newer than the %d this build knows: use "
                 "the Fusion release that wrote it",
                 (long long) version, FX_STORE_SCHEMA_VERSION);
        return FX_ERR_STORAGE;
    }
    if (version != FX_STORE_SCHEMA_VERSION) {
        snprintf(why, FX_STORE_WHY_SIZE,
                 "the store has unknown schema version %lld (this build: %d)", (long long) version,
                 FX_STORE_SCHEMA_VERSION);
        return FX_ERR_STORAGE;
    }
    return FX_OK;
}

/* Creates the schema of an empty database in one IMMEDIATE transaction, or checks it again. */
static fx_err_t s_schema_prepare(sqlite3 *db, char *why, bool *created_p)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return s_why_sqlite(why, db, "cannot start the schema check", rc);
    fx_err_t err = s_schema_check(db, true, why, created_p);
    if (err == FX_OK && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        err = s_why_sqlite(why, db, "cannot commit the schema", rc);
    if (err != FX_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

/* Runs the integrity check of the given strength; FX_ERR_STORAGE with the first problem. */
static fx_err_t s_integrity_check(sqlite3 *db, fx_store_check_t check, char *why)
{
    if (check == FX_STORE_CHECK_NONE)
        return FX_OK;
    const char *sql =
        check == FX_STORE_CHECK_FULL ? "PRAGMA integrity_check(4)" : "PRAGMA quick_check(4)";
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return s_why_sqlite(why, db, "integrity check failed", rc);
    /* The answer is "ok", or problems, the first of each database's headed by a line
     * "*** in database main ***" in the same row. */
    fx_err_t err = FX_OK;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text(stmt, 0);
        if (text && strncmp(text, "***", 3) == 0)
            text = strchr(text, '\n') ? strchr(text, '\n') + 1 : "";
        if (!text || !text[0] || strcmp(text, "ok") == 0)
            continue;
        snprintf(why, FX_STORE_WHY_SIZE, "integrity check failed: %s", text);
        err = FX_ERR_STORAGE;
        break;
    }
    if (err == FX_OK && rc != SQLITE_DONE)
        err = s_why_sqlite(why, db, "integrity check failed", rc);
    sqlite3_finalize(stmt);
    if (err != FX_OK || check != FX_STORE_CHECK_FULL)
        return err;
    char table[64];
    rc = s_pragma_text(db, "PRAGMA foreign_key_check", table, sizeof table);
    if (rc != SQLITE_OK)
        return s_why_sqlite(why, db, "foreign key check failed", rc);
    if (table[0]) {
        snprintf(why, FX_STORE_WHY_SIZE,
                 "foreign key check failed: a row of %s refers to a missing row", table);
        return FX_ERR_STORAGE;
    }
    return FX_OK;
}

/* Closes the connection and its statements. A FAILED store skips the checkpoint on close. */
static void s_disconnect(fx_store_t *self)
{
    if (!self->db)
        return;
    s_reset_all(self);
    if (!self->failed && !sqlite3_get_autocommit(self->db))
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    if (self->failed)
        sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *) NULL);
    for (int i = 0; i < ST_COUNT_; i++)
        sqlite3_finalize(self->st[i]);
    memset(self->st, 0, sizeof self->st);
    sqlite3_close_v2(self->db);
    self->db = NULL;
    self->savepoint = false;
}

/* The rest of a read-only open: a Fusion store of this schema (an empty file is not one), its
 * integrity checked, and nothing written. */
static fx_err_t s_connect_read_only(fx_store_t *self, fx_store_check_t check, char *why)
{
    int64_t objects = 0;
    int rc = s_pragma_int(self->db, "SELECT count(*) FROM sqlite_schema", &objects);
    if (rc != SQLITE_OK)
        return s_why_sqlite(why, self->db, "cannot read the database", rc);
    if (objects == 0) {
        snprintf(why, FX_STORE_WHY_SIZE, "%s is empty, not a Fusion store", self->path);
        return FX_ERR_STORAGE;
    }
    if ((rc = sqlite3_exec(self->db, "PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;", NULL,
                           NULL, NULL)) != SQLITE_OK)
        return s_why_sqlite(why, self->db, "cannot configure the database", rc);
    return s_integrity_check(self->db, check, why);
}

/* Additions to schema version 1, which SQL cannot make conditional: sql (one statement, or a
 * transaction of several) runs when table has no column named column yet. */
static int s_add_columns(sqlite3 *db, const char *table, const char *column, const char *sql)
{
    char probe[160];
    snprintf(probe, sizeof probe, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'",
             table, column);
    int64_t present = 0;
    int rc = s_pragma_int(db, probe, &present);
    if (rc != SQLITE_OK || present)
        return rc;
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The exercise a referral belongs to (referrals.exercise, '' for live traffic), so that the
 * REFERRALS answer keeps an exercise's referrals among its participants also after the message
 * itself has expired and been pruned. Referral rows marked live whose message the store holds in
 * an exercise take that exercise, at every open and not only the one that adds the column: rows
 * of a store from before it, and rows an older broker wrote since (it knows no column, and the
 * default is ''). A referral whose message was pruned before is read as live ('': its message is
 * gone, and so is what it said). */
static int s_add_referral_exercise(sqlite3 *db)
{
    int rc = s_add_columns(db, "referrals", "exercise",
                           "ALTER TABLE referrals ADD COLUMN exercise TEXT NOT NULL DEFAULT ''");
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_exec(db,
                        "UPDATE referrals SET exercise = (SELECT m.exercise FROM messages AS m"
                        " WHERE m.msg_id = referrals.msg_id)"
                        " WHERE exercise = '' AND EXISTS (SELECT 1 FROM messages AS m"
                        " WHERE m.msg_id = referrals.msg_id AND m.exercise <> '')",
                        NULL, NULL, NULL);
}

/* The audit entries that a delivery's DELIVER and RECEIVED appended (fx_store_delivery_sent,
 * _received), so that a message's entries are found through its deliveries without an index
 * entry each: both columns or neither. */
static int s_add_delivery_entries(sqlite3 *db)
{
    return s_add_columns(db, "deliveries", "delivered_entry",
                         "BEGIN IMMEDIATE;"
                         " ALTER TABLE deliveries ADD COLUMN delivered_entry INTEGER;"
                         " ALTER TABLE deliveries ADD COLUMN received_entry INTEGER;"
                         " COMMIT;");
}

/* The principal an answer was given to (answers.sender), so that it is given again to that
 * principal only. A row from before it has '' (given to nobody again: another PUBLISH of its
 * msg_id is refused as a replay). */
static int s_add_answer_sender(sqlite3 *db)
{
    return s_add_columns(db, "answers", "sender",
                         "ALTER TABLE answers ADD COLUMN sender TEXT NOT NULL DEFAULT ''");
}

/* After each commit: a WAL of checkpoint_pages pages or more asks the checkpointer, and asks
 * again only once it has grown by another quarter of that (or started again from its
 * beginning): each checkpoint ends with an fsync of the database file, and a commit's fsync of
 * the WAL waits behind it on the same disk. Asked after every commit, a checkpointer that
 * never catches up with a writer that commits without pause ran back to back, a few frames
 * and an fsync each time (14 a second at 1,000 commits a second). One half as large again is
 * copied by this thread itself (store_wal_catch_up), so that the WAL stops growing. A failed
 * store asks nothing (its connection writes nothing more until reopened). */
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void) name;
    fx_store_t *self = arg;
    if (pages < self->wal_asked_at)
        self->wal_asked_at = 0; /* the WAL started again */
    if (pages < self->checkpoint_pages || self->failed)
        return SQLITE_OK;
    if (pages >= self->checkpoint_pages + self->checkpoint_pages / 2) {
        /* the thread has not caught up with a writer that commits without pause */
        store_wal_catch_up(self->wal, db);
    } else if (!self->wal_asked_at || pages >= self->wal_asked_at + self->checkpoint_pages / 4) {
        store_wal_poke(self->wal);
        self->wal_asked_at = pages;
    }
    return SQLITE_OK;
}

/* path as an SQLite URI filename ("file:" and the path, with what a URI would read otherwise
 * percent-encoded) with query appended; NULL if it does not fit in size bytes. */
static char *s_file_uri(const char *path, const char *query, char *uri, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = (size_t) snprintf(uri, size, "file:");
    for (const unsigned char *p = (const unsigned char *) path; *p; p++) {
        if (n + 4 >= size)
            return NULL;
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20 || *p >= 0x7f) {
            uri[n++] = '%';
            uri[n++] = hex[*p >> 4];
            uri[n++] = hex[*p & 15];
        } else {
            uri[n++] = (char) *p;
        }
    }
    int more = snprintf(uri + n, size - n, "?%s", query);
    return more < 0 || (size_t) more >= size - n ? NULL : uri;
}

/* Opens the database at path for reading only, creating no file beside it, into *db_p (closed by
 * the caller, also on failure). A connection read-only creates the write-ahead log and its index
 * (-wal, -shm) when they are not there, and leaves them behind. With the log there and its index
 * (a broker running on it, or one that stopped without a checkpoint), or a log with frames in it
 * (committed transactions the file does not hold yet), it reads through them ("mode=ro": nothing
 * is written to the database; SQLite may rebuild an index it finds stale, and creates one for a
 * log left without it). Otherwise the file holds everything committed and is read as immutable,
 * without locks, log or index. (A store created and never checkpointed reads as empty then,
 * which it may: it is a store a broker opens as its own.) The broker's --check
 * (fx_store_check_file) and every read-only store (the auditor's tools) open so. FX_OK, or
 * FX_ERR_STORAGE with why. */
static fx_err_t s_open_read_only(const char *path, const char *vfs, int busy_ms, sqlite3 **db_p,
                                 char *why)
{
    *db_p = NULL;
    size_t len = strlen(path);
    char *wal = fx_malloc(len + 5), *shm = fx_malloc(len + 5);
    snprintf(wal, len + 5, "%s-wal", path);
    snprintf(shm, len + 5, "%s-shm", path);
    struct stat st;
    bool logged = stat(wal, &st) == 0 && (st.st_size > 0 || access(shm, F_OK) == 0);
    free(wal);
    free(shm);
    char uri[PATH_MAX * 3 + 32];
    if (!s_file_uri(path, logged ? "mode=ro" : "immutable=1", uri, sizeof uri)) {
        snprintf(why, FX_STORE_WHY_SIZE, "the path %s is too long", path);
        return FX_ERR_STORAGE;
    }
    int rc = sqlite3_open_v2(
        uri, db_p,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, vfs);
    if (rc != SQLITE_OK)
        return s_why_sqlite(why, *db_p, "cannot open the database", rc);
    sqlite3_extended_result_codes(*db_p, 1);
    sqlite3_busy_timeout(*db_p, busy_ms);
    sqlite3_db_config(*db_p, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *) NULL);
    return FX_OK;
}

/* Opens the connection: file mode, pragmas, schema, integrity check, statements. */
static fx_err_t s_connect(fx_store_t *self, fx_store_check_t check, char *why)
{
    const fx_store_options_t *opt = &self->options;
    self->audit_last = -1;
    memset(self->recent, 0, sizeof self->recent);
    /* Create the file ourselves so it is private from the start: it holds who wrote to whom.
     * SQLite gives the -wal and -shm files the database file's mode. */
    int fd = opt->read_only ? open(self->path, O_RDONLY | O_CLOEXEC)
                            : open(self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, FX_STORE_WHY_SIZE, "cannot open %s: %s", self->path, strerror(errno));
        return FX_ERR_STORAGE;
    }
    /* One writing process per store: a second broker on the same database would take the
     * write lock between the first one's transactions and fail its next commit. The lock is an
     * flock, which SQLite's own (POSIX) locks do not see, held on this descriptor until the
     * store is destroyed: closed only after SQLite's connections, as closing any descriptor of
     * the file drops the process's POSIX locks on it. */
    if (!opt->read_only && self->lock_fd < 0) {
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                snprintf(why, FX_STORE_WHY_SIZE,
                         "%s is in use by another process (is a broker already running on it?)",
                         self->path);
            else
                snprintf(why, FX_STORE_WHY_SIZE, "cannot lock %s: %s", self->path, strerror(e));
            return FX_ERR_STORAGE;
        }
        self->lock_fd = fd;
    } else {
        close(fd);
    }

    int busy_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : DEFAULT_BUSY_MS;
    fx_err_t err = FX_ERR_STORAGE;
    bool created = false;
    int rc = SQLITE_OK;
    /* A writer's WAL writes, and its checkpoints', go out together (lib/store_vfs.h). */
    const char *vfs = opt->read_only ? opt->vfs : store_vfs_batching(opt->vfs);
    /* A reader leaves no file beside the database. */
    if (opt->read_only) {
        if (s_open_read_only(self->path, vfs, busy_ms, &self->db, why) != FX_OK)
            goto cleanup;
    } else {
        if (!vfs) {
            snprintf(why, FX_STORE_WHY_SIZE, "cannot open %s: no SQLite VFS called %s", self->path,
                     opt->vfs ? opt->vfs : "(default)");
            return FX_ERR_STORAGE;
        }
        rc = sqlite3_open_v2(self->path, &self->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             vfs);
        if (rc != SQLITE_OK) {
            s_why_sqlite(why, self->db, "cannot open the database", rc);
            goto cleanup;
        }
        sqlite3_extended_result_codes(self->db, 1);
        sqlite3_busy_timeout(self->db, busy_ms);
    }
    /* Refuse a foreign or newer database before changing anything in it (its journal mode). */
    if (s_schema_check(self->db, false, why, &created) != FX_OK)
        goto cleanup;
    if (opt->read_only && (err = s_connect_read_only(self, check, why)) == FX_OK)
        goto prepare;
    if (opt->read_only)
        goto cleanup;
    char mode[16];
    if ((rc = s_pragma_text(self->db, "PRAGMA journal_mode = WAL", mode, sizeof mode)) !=
        SQLITE_OK) {
        s_why_sqlite(why, self->db, "cannot read the database", rc);
        goto cleanup;
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(why, FX_STORE_WHY_SIZE, "cannot switch the database to WAL (journal mode %s)",
                 mode);
        goto cleanup;
    }
    /* temp_store: a savepoint's rollback pages stay in memory instead of a temporary file. */
    char pragmas[320];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d;"
             " PRAGMA journal_size_limit = %d; PRAGMA trusted_schema = OFF;"
             " PRAGMA cell_size_check = ON; PRAGMA temp_store = MEMORY;",
             opt->cache_kib > 0 ? opt->cache_kib : DEFAULT_CACHE_KIB, WAL_SIZE_LIMIT);
    if ((rc = sqlite3_exec(self->db, pragmas, NULL, NULL, NULL)) != SQLITE_OK) {
        s_why_sqlite(why, self->db, "cannot configure the database", rc);
        goto cleanup;
    }
    if (opt->background_checkpoint && !self->wal)
        self->wal = store_wal_start(self->path, vfs, why);
    self->checkpoint_pages =
        opt->checkpoint_pages > 0 ? opt->checkpoint_pages : WAL_CHECKPOINT_PAGES;
    if (self->wal)
        sqlite3_wal_hook(self->db, s_wal_hook, self);
    why[0] = '\0'; /* without the checkpointer, SQLite checkpoints in this thread */
    if (s_schema_prepare(self->db, why, &created) != FX_OK)
        goto cleanup;
    if ((rc = sqlite3_exec(self->db, s_schema_additions, NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = s_add_delivery_entries(self->db)) != SQLITE_OK ||
        (rc = s_add_answer_sender(self->db)) != SQLITE_OK ||
        (rc = s_add_referral_exercise(self->db)) != SQLITE_OK) {
        s_why_sqlite(why, self->db, "cannot add to the schema", rc);
        goto cleanup;
    }
    if (!created && s_integrity_check(self->db, check, why) != FX_OK)
        goto cleanup;
    if (opt->max_page_count > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long) opt->max_page_count);
        if ((rc = s_pragma_text(self->db, sql, NULL, 0)) != SQLITE_OK) {
            s_why_sqlite(why, self->db, "cannot set max_page_count", rc);
            goto cleanup;
        }
    }
prepare:
    err = FX_ERR_STORAGE;
    for (int i = 0; i < ST_COUNT_; i++) {
        rc = sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->st[i],
                                NULL);
        /* A store read-only that predates the additions has no exercise queries and no
         * entries filed under deliveries: a message's entries are all in audit_by_message. */
        if (rc != SQLITE_OK && opt->read_only && i == ST_AUDIT_OF_MSG)
            rc = sqlite3_prepare_v3(self->db, s_audit_of_msg_indexed, -1, SQLITE_PREPARE_PERSISTENT,
                                    &self->st[i], NULL);
        if (rc != SQLITE_OK && opt->read_only &&
            (i == ST_AUDIT_FILE_EXERCISE || i == ST_AUDIT_OF_EXERCISE || i == ST_AUDIT_LINKS ||
             i == ST_ANSWER_PUT || i == ST_ANSWER_GET || i == ST_DELIVERY_SENT ||
             i == ST_DELIVERY_RECEIVED || i == ST_DELIVERY_RECEIVED_SEQ || i == ST_REF_ADD ||
             i == ST_REF_GET || i == ST_REF_OVERDUE || i == ST_REF_LIST)) {
            self->st[i] = NULL;
            continue;
        }
        if (rc != SQLITE_OK) {
            s_why_sqlite(why, self->db, "the store's schema does not match this build", rc);
            goto cleanup;
        }
    }
    err = FX_OK;
cleanup:
    if (err != FX_OK) {
        for (int i = 0; i < ST_COUNT_; i++)
            sqlite3_finalize(self->st[i]);
        memset(self->st, 0, sizeof self->st);
        sqlite3_close_v2(self->db);
        self->db = NULL;
    }
    return err;
}

/* SQLite's memory statistics take a global mutex on every allocation; nothing reads them. Set
 * once per process, before SQLite initialises (sqlite3_config is refused afterwards, harmlessly,
 * if the program used SQLite before opening a store). */
static void s_configure_sqlite(void)
{
    (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

fx_err_t fx_store_open(const char *path, const fx_store_options_t *options, fx_store_t **store_p,
                       char *why)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_configure_sqlite);
    char scratch[FX_STORE_WHY_SIZE];
    if (!why)
        why = scratch;
    why[0] = '\0';
    if (!store_p)
        return FX_ERR_INVALID;
    *store_p = NULL;
    if (!path || !path[0]) {
        snprintf(why, FX_STORE_WHY_SIZE, "no database path");
        return FX_ERR_INVALID;
    }
    fx_store_t *self = fx_calloc(1, sizeof *self);
    self->lock_fd = -1;
    self->path = fx_strdup(path);
    if (options)
        self->options = *options;
    if (self->options.vfs) {
        self->vfs_name = fx_strdup(self->options.vfs);
        self->options.vfs = self->vfs_name;
    }
    fx_err_t err = s_connect(self, self->options.check, why);
    if (err != FX_OK) {
        fx_store_destroy(&self);
        return err;
    }
    *store_p = self;
    return FX_OK;
}

fx_err_t fx_store_check_file(const char *path, char *why)
{
    char scratch[FX_STORE_WHY_SIZE];
    if (!why)
        why = scratch;
    why[0] = '\0';
    if (!path || !path[0]) {
        snprintf(why, FX_STORE_WHY_SIZE, "no database path");
        return FX_ERR_INVALID;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return FX_OK; /* the first writable open creates it */
        snprintf(why, FX_STORE_WHY_SIZE, "cannot open %s: %s", path, strerror(errno));
        return FX_ERR_STORAGE;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, FX_STORE_WHY_SIZE, "%s is not a regular file", path);
        return FX_ERR_STORAGE;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, FX_STORE_WHY_SIZE, "cannot open %s: %s", path, strerror(errno));
        return FX_ERR_STORAGE;
    }
    close(fd);
    sqlite3 *db = NULL;
    fx_err_t err = s_open_read_only(path, NULL, DEFAULT_BUSY_MS, &db, why);
    bool created = false;
    if (err == FX_OK)
        err = s_schema_check(db, false, why, &created);
    sqlite3_close_v2(db);
    return err;
}

void fx_store_destroy(fx_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_store_t *self = *self_p;
    store_wal_stop(&self->wal);
    s_disconnect(self);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self->path);
    free(self->vfs_name);
    free(self);
    *self_p = NULL;
}

fx_err_t fx_store_reopen(fx_store_t *self)
{
    if (!self || self->in_callback)
        return FX_ERR_INVALID;
    s_disconnect(self);
    char why[FX_STORE_WHY_SIZE];
    if (s_connect(self, FX_STORE_CHECK_FULL, why) != FX_OK) {
        self->failed = true;
        snprintf(self->error, sizeof self->error, "%s", why);
        return FX_ERR_STORAGE;
    }
    self->failed = false;
    self->error[0] = '\0';
    return FX_OK;
}

bool fx_store_failed(const fx_store_t *self)
{
    return self->failed;
}

const char *fx_store_error_text(const fx_store_t *self)
{
    return self->failed ? self->error : "";
}

/* --- Transactions ----------------------------------------------------------------------- */

fx_err_t fx_store_begin(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!sqlite3_get_autocommit(self->db))
        return FX_ERR_INVALID;
    return s_exec(self, ST_BEGIN, "begin");
}

fx_err_t fx_store_commit(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (sqlite3_get_autocommit(self->db))
        return FX_ERR_INVALID;
    if (self->savepoint)
        return FX_ERR_INVALID;
    /* Any failure here, SQLITE_BUSY included, fails the store: a commit is never retried. */
    sqlite3_stmt *stmt = self->st[ST_COMMIT];
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        err = s_fail(self, "commit", rc);
        s_done(stmt);
        return err;
    }
    s_done(stmt);
    return FX_OK;
}

fx_err_t fx_store_rollback(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (sqlite3_get_autocommit(self->db))
        return FX_ERR_INVALID;
    s_reset_all(self);
    self->savepoint = false;
    return s_exec(self, ST_ROLLBACK, "rollback");
}

bool fx_store_in_transaction(const fx_store_t *self)
{
    return self->db && !sqlite3_get_autocommit(self->db);
}

fx_err_t fx_store_savepoint(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (sqlite3_get_autocommit(self->db) || self->savepoint)
        return FX_ERR_INVALID;
    err = s_exec(self, ST_SAVEPOINT, "savepoint");
    self->savepoint = err == FX_OK;
    return err;
}

fx_err_t fx_store_savepoint_release(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!self->savepoint)
        return FX_ERR_INVALID;
    self->savepoint = false;
    return s_exec(self, ST_RELEASE, "release savepoint");
}

fx_err_t fx_store_savepoint_rollback(fx_store_t *self)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!self->savepoint)
        return FX_ERR_INVALID;
    s_reset_all(self);
    err = s_exec(self, ST_ROLLBACK_TO, "roll back to savepoint");
    if (err == FX_OK)
        err = s_exec(self, ST_RELEASE, "release savepoint");
    self->savepoint = false;
    return err;
}

/* Runs fn(self, arg) inside a transaction of its own when none is open, so that several
 * statements land together. */
static fx_err_t s_atomically(fx_store_t *self, fx_err_t (*fn)(fx_store_t *, void *), void *arg)
{
    if (!sqlite3_get_autocommit(self->db))
        return fn(self, arg);
    fx_err_t err = s_exec(self, ST_BEGIN, "begin");
    if (err != FX_OK)
        return err;
    err = fn(self, arg);
    if (err == FX_OK)
        return fx_store_commit(self);
    if (!self->failed && fx_store_rollback(self) != FX_OK)
        return FX_ERR_STORAGE;
    return err;
}

/* --- Messages and answers --------------------------------------------------------------- */

static size_t s_recent_slot(const uint8_t msg_id[FX_STORE_MSG_ID_BYTES])
{
    return ((size_t) msg_id[0] << 8 | msg_id[1]) % RECENT_MESSAGES; /* msg_ids are random */
}

static void s_recent_put(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                         int64_t rowid)
{
    size_t slot = s_recent_slot(msg_id);
    memcpy(self->recent[slot].msg_id, msg_id, FX_STORE_MSG_ID_BYTES);
    self->recent[slot].rowid = rowid;
}

/* The row id of a recently stored message, or 0. */
static int64_t s_recent_get(const fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES])
{
    size_t slot = s_recent_slot(msg_id);
    return self->recent[slot].rowid &&
                   memcmp(self->recent[slot].msg_id, msg_id, FX_STORE_MSG_ID_BYTES) == 0
               ? self->recent[slot].rowid
               : 0;
}

fx_err_t fx_store_put_message(fx_store_t *self, const fx_store_message_t *message)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!message || !s_text_ok(message->sender, FX_ID_MAX) ||
        !s_opt_text_ok(message->exercise, FX_STORE_EXERCISE_MAX) || message->kind <= 0 ||
        message->kind >= fx_vocab_size(FX_VOCAB_KIND) || message->urgency < 0 ||
        message->urgency >= fx_vocab_size(FX_VOCAB_URGENCY) || message->expires_at < 0 ||
        message->created_at < 0 || !message->envelope || message->envelope_len == 0)
        return FX_ERR_INVALID;
    if (message->envelope_len > FX_MAX_ENVELOPE_BYTES)
        return FX_ERR_TOO_LARGE;
    uint8_t hash[ENVELOPE_HASH_SIZE];
    crypto_generichash(hash, sizeof hash, message->envelope, message->envelope_len, NULL, 0);

    sqlite3_stmt *stmt = self->st[ST_MESSAGE_PUT];
    s_bind_blob(stmt, 1, message->msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_text(stmt, 2, message->sender);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64) message->sender_serial);
    sqlite3_bind_int(stmt, 4, message->kind);
    sqlite3_bind_int(stmt, 5, message->urgency);
    sqlite3_bind_int64(stmt, 6, message->created_at);
    sqlite3_bind_int64(stmt, 7, message->expires_at);
    s_bind_blob(stmt, 8, message->header_digest, FX_STORE_DIGEST_BYTES);
    s_bind_text(stmt, 9, message->exercise);
    s_bind_blob(stmt, 10, message->has_in_reply_to ? message->in_reply_to : NULL,
                FX_STORE_MSG_ID_BYTES);
    sqlite3_bind_int64(stmt, 11, fx_now_ms());
    s_bind_blob(stmt, 12, hash, sizeof hash);
    s_bind_blob(stmt, 13, message->envelope, message->envelope_len);
    err = s_step(self, stmt, "store message", NULL);
    s_done(stmt);
    if (err == FX_OK)
        s_recent_put(self, message->msg_id, sqlite3_last_insert_rowid(self->db));
    return err;
}

fx_err_t fx_store_put_answer(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                             const fx_store_answer_t *answer)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !answer || answer->expires_at < 0 ||
        strnlen(answer->code, sizeof answer->code) == sizeof answer->code ||
        strnlen(answer->reason, sizeof answer->reason) == sizeof answer->reason ||
        strnlen(answer->rule, sizeof answer->rule) == sizeof answer->rule ||
        strnlen(answer->sender, sizeof answer->sender) == sizeof answer->sender ||
        (!answer->accepted && !answer->code[0]))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_ANSWER_PUT];
    if (!stmt)
        return FX_ERR_STORAGE;
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    sqlite3_bind_int(stmt, 2, answer->accepted ? 1 : 0);
    s_bind_text(stmt, 3, answer->code);
    s_bind_text(stmt, 4, answer->reason);
    s_bind_text(stmt, 5, answer->rule);
    sqlite3_bind_int64(stmt, 6, answer->expires_at);
    sqlite3_bind_int64(stmt, 7, fx_now_ms());
    s_bind_text(stmt, 8, answer->sender);
    err = s_step(self, stmt, "store answer", NULL);
    s_done(stmt);
    return err;
}

fx_err_t fx_store_find_answer(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                              fx_store_answer_t *answer)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !answer)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_ANSWER_GET];
    if (!stmt) /* read-only, and older than answers.sender: nobody reads answers there */
        return FX_ERR_STORAGE;
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    bool row = false;
    int64_t accepted = 0;
    err = s_step(self, stmt, "find answer", &row);
    if (err != FX_OK)
        goto cleanup;
    if (!row) {
        err = FX_ERR_NOT_FOUND;
        goto cleanup;
    }
    memset(answer, 0, sizeof *answer);
    if ((err = s_col_int(self, stmt, 0, "answers.accepted", &accepted)) != FX_OK ||
        (err = s_col_copy(self, stmt, 1, answer->code, sizeof answer->code, "answers.code")) !=
            FX_OK ||
        (err = s_col_copy(self, stmt, 2, answer->reason, sizeof answer->reason,
                          "answers.reason")) != FX_OK ||
        (err = s_col_copy(self, stmt, 3, answer->rule, sizeof answer->rule, "answers.rule")) !=
            FX_OK ||
        (err = s_col_int(self, stmt, 4, "answers.expires_at", &answer->expires_at)) != FX_OK ||
        (err = s_col_copy(self, stmt, 5, answer->sender, sizeof answer->sender,
                          "answers.sender")) != FX_OK)
        goto cleanup;
    if (accepted != 0 && accepted != 1) {
        err = s_corrupt(self, "answers.accepted is %lld", (long long) accepted);
        goto cleanup;
    }
    answer->accepted = accepted == 1;
cleanup:
    s_done(stmt);
    return err;
}

/* --- Deliveries ------------------------------------------------------------------------- */

/* Appends to the FAILED reason which row it was about. */
static void s_error_context(fx_store_t *self, const char *fmt, long long key)
{
    size_t used = strlen(self->error);
    if (used < sizeof self->error)
        snprintf(self->error + used, sizeof self->error - used, fmt, key);
}

/* The row id of a stored message: FX_OK, FX_ERR_NOT_FOUND. */
static fx_err_t s_message_rowid(fx_store_t *self, const uint8_t *msg_id, int64_t *rowid_p)
{
    sqlite3_stmt *stmt = self->st[ST_MESSAGE_ROWID];
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    bool row = false;
    fx_err_t err = s_step(self, stmt, "find message", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK)
        err = s_col_int(self, stmt, 0, "messages.id", rowid_p);
    s_done(stmt);
    return err;
}

fx_err_t fx_store_delivery_add(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                               const char *recipient)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !s_text_ok(recipient, FX_ID_MAX))
        return FX_ERR_INVALID;
    int64_t message = 0;
    if ((err = s_message_rowid(self, msg_id, &message)) != FX_OK)
        return err;
    sqlite3_stmt *stmt = self->st[ST_DELIVERY_ADD];
    sqlite3_bind_int64(stmt, 1, message);
    s_bind_text(stmt, 2, recipient);
    sqlite3_bind_int64(stmt, 3, fx_now_ms());
    err = s_step(self, stmt, "add delivery", NULL);
    s_done(stmt);
    return err;
}

/* Reads one row of ST_PENDING_LIST into item, checking every column and the envelope's hash. */
static fx_err_t s_read_pending(fx_store_t *self, sqlite3_stmt *stmt, void *item_p)
{
    fx_store_pending_t *item = item_p;
    int64_t attempts = 0, serial = 0, kind = 0;
    uint8_t stored_hash[ENVELOPE_HASH_SIZE], hash[ENVELOPE_HASH_SIZE];
    fx_err_t err;
    memset(item, 0, sizeof *item);
    if ((err = s_col_int(self, stmt, 0, "deliveries.seq", &item->seq)) != FX_OK)
        return err;
    if ((err = s_col_int(self, stmt, 1, "deliveries.attempts", &attempts)) != FX_OK ||
        (err = s_col_blob(self, stmt, 2, item->msg_id, FX_STORE_MSG_ID_BYTES, "messages.msg_id")) !=
            FX_OK ||
        (err = s_col_blob(self, stmt, 3, item->header_digest, FX_STORE_DIGEST_BYTES,
                          "messages.header_digest")) != FX_OK ||
        (err = s_col_copy(self, stmt, 4, item->sender, sizeof item->sender, "messages.sender")) !=
            FX_OK ||
        (err = s_col_int(self, stmt, 5, "messages.sender_serial", &serial)) != FX_OK ||
        (err = s_col_int(self, stmt, 6, "messages.kind", &kind)) != FX_OK ||
        (err = s_col_int(self, stmt, 7, "messages.expires_at", &item->expires_at)) != FX_OK ||
        (err = s_col_blob(self, stmt, 8, stored_hash, sizeof stored_hash,
                          "messages.envelope_hash")) != FX_OK)
        goto fail;
    if (attempts < 0 || attempts > INT32_MAX || kind <= 0 || kind > INT32_MAX) {
        err = s_corrupt(self, "a delivery's attempts or kind is out of range");
        goto fail;
    }
    item->attempts = (int) attempts;
    item->kind = (int) kind;
    item->sender_serial = (uint64_t) serial;
    if (sqlite3_column_type(stmt, 9) != SQLITE_BLOB) {
        err = s_corrupt(self, "messages.envelope is not a blob");
        goto fail;
    }
    const void *envelope = sqlite3_column_blob(stmt, 9);
    size_t len = (size_t) sqlite3_column_bytes(stmt, 9);
    if (!envelope || len == 0 || len > FX_MAX_ENVELOPE_BYTES) {
        err = s_corrupt(self, "messages.envelope is %zu bytes", len);
        goto fail;
    }
    crypto_generichash(hash, sizeof hash, envelope, len, NULL, 0);
    if (sodium_memcmp(hash, stored_hash, sizeof hash) != 0) {
        err = s_corrupt(self, "an envelope does not match the hash stored with it");
        goto fail;
    }
    item->envelope = fx_malloc(len);
    memcpy(item->envelope, envelope, len);
    item->envelope_len = len;
    return FX_OK;
fail:
    s_error_context(self, " (delivery %lld)", (long long) item->seq);
    return err;
}

fx_err_t fx_store_pending_list(fx_store_t *self, const char *recipient, int64_t now_ms,
                               size_t limit, fx_store_pending_t **list_p, size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!list_p || !count_p || !s_text_ok(recipient, FX_ID_MAX) || limit == 0)
        return FX_ERR_INVALID;
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = self->st[ST_PENDING_LIST];
    s_bind_text(stmt, 1, recipient);
    sqlite3_bind_int64(stmt, 2, now_ms);
    void *items;
    size_t count;
    err = s_collect(self, stmt, "list pending deliveries", limit, sizeof(fx_store_pending_t),
                    s_read_pending, &items, &count);
    fx_store_pending_t *list = items;
    if (err != FX_OK) {
        fx_store_pending_free(&list, count);
        return err;
    }
    *list_p = list;
    *count_p = count;
    return FX_OK;
}

fx_err_t fx_store_message_get(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                              fx_store_pending_t **message_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !message_p)
        return FX_ERR_INVALID;
    *message_p = NULL;
    sqlite3_stmt *stmt = self->st[ST_MESSAGE_GET];
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    bool row = false;
    fx_store_pending_t *message = fx_calloc(1, sizeof *message);
    err = s_step(self, stmt, "read message", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK)
        err = s_read_pending(self, stmt, message);
    s_done(stmt);
    if (err != FX_OK) {
        fx_store_pending_free(&message, 1);
        return err;
    }
    *message_p = message;
    return FX_OK;
}

fx_err_t fx_store_reply_find(fx_store_t *self, const uint8_t in_reply_to[FX_STORE_MSG_ID_BYTES],
                             int kind, uint8_t msg_id[FX_STORE_MSG_ID_BYTES])
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!in_reply_to || !msg_id)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_REPLY_FIND];
    s_bind_blob(stmt, 1, in_reply_to, FX_STORE_MSG_ID_BYTES);
    sqlite3_bind_int(stmt, 2, kind);
    bool row = false;
    err = s_step(self, stmt, "find an answer to a message", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK) {
        if (sqlite3_column_bytes(stmt, 0) == FX_STORE_MSG_ID_BYTES)
            memcpy(msg_id, sqlite3_column_blob(stmt, 0), FX_STORE_MSG_ID_BYTES);
        else
            err = FX_ERR_STORAGE;
    }
    s_done(stmt);
    return err;
}

void fx_store_pending_free(fx_store_pending_t **list_p, size_t count)
{
    if (!list_p || !*list_p)
        return;
    for (size_t i = 0; i < count; i++)
        free((*list_p)[i].envelope);
    free(*list_p);
    *list_p = NULL;
}

fx_err_t fx_store_delivery_state(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                 const char *recipient, fx_delivery_state_t *state_p,
                                 int *attempts_p, uint8_t header_digest[FX_STORE_DIGEST_BYTES])
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !s_text_ok(recipient, FX_ID_MAX))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_DELIVERY_STATE];
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_text(stmt, 2, recipient);
    bool row = false;
    int64_t state = 0, attempts = 0;
    err = s_step(self, stmt, "read delivery", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK &&
        ((err = s_col_int(self, stmt, 0, "deliveries.state", &state)) != FX_OK ||
         (err = s_col_int(self, stmt, 1, "deliveries.attempts", &attempts)) != FX_OK ||
         (header_digest && (err = s_col_blob(self, stmt, 2, header_digest, FX_STORE_DIGEST_BYTES,
                                             "messages.header_digest")) != FX_OK)))
        goto cleanup;
    if (err == FX_OK && (state < FX_DELIVERY_PENDING || state > FX_DELIVERY_RECEIVED ||
                         attempts < 0 || attempts > INT32_MAX)) {
        err = s_corrupt(self, "a delivery's state or attempts is out of range");
        goto cleanup;
    }
    if (err == FX_OK) {
        if (state_p)
            *state_p = (fx_delivery_state_t) state;
        if (attempts_p)
            *attempts_p = (int) attempts;
    }
cleanup:
    s_done(stmt);
    return err;
}

/* Audit appends (below), which a delivery's change makes too. */
static bool s_audit_entry_ok(const fx_store_audit_entry_t *entry);
static fx_err_t s_audit_next(fx_store_t *self, int64_t *seq_p);
static fx_err_t s_audit_file(fx_store_t *self, const fx_store_audit_entry_t *entry, int64_t *seq_p);

/* A delivery's state change (its statement bound but for the entry's column, entry_param) and
 * the audit entry that records it, if any: the entry is numbered before the update so that the
 * delivery row names it, and appended only if the row changed. */
typedef struct {
    sqlite3_stmt *stmt;
    int entry_param;
    const fx_store_audit_entry_t *entry;
    int changes;
} delivery_mark_t;

static fx_err_t s_delivery_mark(fx_store_t *self, void *arg)
{
    delivery_mark_t *mark = arg;
    int64_t next = 0;
    fx_err_t err = mark->entry ? s_audit_next(self, &next) : FX_OK;
    if (err != FX_OK)
        return err;
    if (mark->entry)
        sqlite3_bind_int64(mark->stmt, mark->entry_param, next);
    err = s_step(self, mark->stmt, "mark a delivery", NULL);
    mark->changes = err == FX_OK ? sqlite3_changes(self->db) : 0;
    if (err != FX_OK || mark->changes == 0 || !mark->entry)
        return err;
    int64_t seq = 0;
    err = s_audit_file(self, mark->entry, &seq);
    if (err == FX_OK && seq != next)
        err = s_corrupt(self, "audit entry %lld appended where %lld was expected", (long long) seq,
                        (long long) next);
    return err;
}

/* Runs the bound statement stmt of a delivery change with its entry (NULL for none), in a
 * transaction of its own if none is open; the rows it changed in *changes_p. */
static fx_err_t s_delivery_change(fx_store_t *self, sqlite3_stmt *stmt, int entry_param,
                                  const fx_store_audit_entry_t *entry, int *changes_p)
{
    delivery_mark_t mark = {.stmt = stmt, .entry_param = entry_param, .entry = entry};
    fx_err_t err = s_atomically(self, s_delivery_mark, &mark);
    s_done(stmt);
    *changes_p = err == FX_OK ? mark.changes : 0;
    return err;
}

fx_err_t fx_store_delivery_sent(fx_store_t *self, int64_t seq, int64_t now_ms,
                                const fx_store_audit_entry_t *entry)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (entry && !s_audit_entry_ok(entry))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_DELIVERY_SENT];
    if (!stmt) /* read-only, and older than the entry columns */
        return FX_ERR_INVALID;
    /* By the delivery's own row id: no walk of the msg_id index, whose pages are random. */
    sqlite3_bind_int64(stmt, 1, seq);
    sqlite3_bind_int64(stmt, 2, now_ms);
    int changes = 0;
    if ((err = s_delivery_change(self, stmt, 3, entry, &changes)) != FX_OK || changes > 0)
        return err;
    /* RECEIVED already, or no such delivery */
    stmt = self->st[ST_DELIVERY_EXISTS];
    sqlite3_bind_int64(stmt, 1, seq);
    bool row = false;
    err = s_step(self, stmt, "find a delivery", &row);
    s_done(stmt);
    return err == FX_OK && !row ? FX_ERR_NOT_FOUND : err;
}

/* A RECEIVED of recipient's delivery of msg_id, or without msg_id of the delivery seq; the rows
 * it changed (0 or 1) in *changes_p. */
static fx_err_t s_delivery_received(fx_store_t *self, const uint8_t *msg_id, int64_t seq,
                                    const char *recipient, const fx_store_audit_entry_t *entry,
                                    int *changes_p)
{
    *changes_p = 0;
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!s_text_ok(recipient, FX_ID_MAX) || (entry && !s_audit_entry_ok(entry)))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[msg_id ? ST_DELIVERY_RECEIVED : ST_DELIVERY_RECEIVED_SEQ];
    if (!stmt) /* read-only, and older than the entry columns */
        return FX_ERR_INVALID;
    if (msg_id)
        s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    else
        sqlite3_bind_int64(stmt, 1, seq);
    s_bind_text(stmt, 2, recipient);
    sqlite3_bind_int64(stmt, 3, fx_now_ms());
    return s_delivery_change(self, stmt, 4, entry, changes_p);
}

fx_err_t fx_store_delivery_received(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                    const char *recipient, const fx_store_audit_entry_t *entry,
                                    bool *changed_p)
{
    int changes = 0;
    fx_err_t err =
        msg_id ? s_delivery_received(self, msg_id, 0, recipient, entry, &changes) : FX_ERR_INVALID;
    if (err == FX_OK && changes == 0) /* RECEIVED already, or no such delivery */
        err = fx_store_delivery_state(self, msg_id, recipient, NULL, NULL, NULL);
    if (changed_p)
        *changed_p = err == FX_OK && changes > 0;
    return err;
}

fx_err_t fx_store_delivery_received_seq(fx_store_t *self, int64_t seq, const char *recipient,
                                        const fx_store_audit_entry_t *entry)
{
    int changes = 0;
    fx_err_t err = s_delivery_received(self, NULL, seq, recipient, entry, &changes);
    return err == FX_OK && changes == 0 ? FX_ERR_NOT_FOUND : err;
}

fx_err_t fx_store_delivery_reset(fx_store_t *self, const char *recipient, int64_t sent_before_ms,
                                 size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!s_text_ok(recipient, FX_ID_MAX))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_DELIVERY_RESET];
    s_bind_text(stmt, 1, recipient);
    sqlite3_bind_int64(stmt, 2, sent_before_ms);
    err = s_step(self, stmt, "reset deliveries", NULL);
    if (count_p)
        *count_p = err == FX_OK ? (size_t) sqlite3_changes(self->db) : 0;
    s_done(stmt);
    return err;
}

fx_err_t fx_store_pending_count(fx_store_t *self, const char *recipient, size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!count_p || (recipient && !s_text_ok(recipient, FX_ID_MAX)))
        return FX_ERR_INVALID;
    int64_t count = 0;
    if (recipient)
        s_bind_text(self->st[ST_PENDING_COUNT_ONE], 1, recipient);
    err = s_scalar(self, recipient ? ST_PENDING_COUNT_ONE : ST_PENDING_COUNT_ALL,
                   "count pending deliveries", &count);
    *count_p = err == FX_OK && count > 0 ? (size_t) count : 0;
    return err;
}

fx_err_t fx_store_oldest_pending(fx_store_t *self, int64_t *queued_at_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!queued_at_p)
        return FX_ERR_INVALID;
    return s_scalar(self, ST_OLDEST_PENDING, "find the oldest pending delivery", queued_at_p);
}

/* --- Subscriptions ---------------------------------------------------------------------- */

fx_err_t fx_store_subscription_add(fx_store_t *self, const char *principal, const char *pattern,
                                   uint32_t stages, uint32_t kinds, const char *exercise,
                                   int64_t *id_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!s_text_ok(principal, FX_ID_MAX) || !s_text_ok(pattern, FX_STORE_PATTERN_MAX) ||
        !s_opt_text_ok(exercise, FX_STORE_EXERCISE_MAX))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_SUB_ADD];
    s_bind_text(stmt, 1, principal);
    s_bind_text(stmt, 2, pattern);
    sqlite3_bind_int64(stmt, 3, stages);
    sqlite3_bind_int64(stmt, 4, kinds);
    s_bind_text(stmt, 5, exercise);
    sqlite3_bind_int64(stmt, 6, fx_now_ms());
    bool row = false;
    int64_t id = 0;
    err = s_step(self, stmt, "add subscription", &row);
    if (err == FX_OK && !row)
        err = s_corrupt(self, "adding a subscription returned no id");
    if (err == FX_OK)
        err = s_col_int(self, stmt, 0, "subscriptions.id", &id);
    if (err == FX_OK) /* finish the statement before the transaction moves on */
        err = s_step(self, stmt, "add subscription", NULL);
    s_done(stmt);
    if (err == FX_OK && id_p)
        *id_p = id;
    return err;
}

fx_err_t fx_store_subscription_remove(fx_store_t *self, const char *principal, const char *pattern,
                                      const char *exercise, int64_t *id_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!s_text_ok(principal, FX_ID_MAX) || !s_text_ok(pattern, FX_STORE_PATTERN_MAX) ||
        !s_opt_text_ok(exercise, FX_STORE_EXERCISE_MAX))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_SUB_REMOVE];
    s_bind_text(stmt, 1, principal);
    s_bind_text(stmt, 2, pattern);
    s_bind_text(stmt, 3, exercise);
    bool row = false;
    int64_t id = 0;
    err = s_step(self, stmt, "remove subscription", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK)
        err = s_col_int(self, stmt, 0, "subscriptions.id", &id);
    if (err == FX_OK)
        err = s_step(self, stmt, "remove subscription", NULL);
    s_done(stmt);
    if (err == FX_OK && id_p)
        *id_p = id;
    return err;
}

/* Reads one subscription row (id, principal, pattern, stages, kinds, exercise, created_at). */
static fx_err_t s_read_subscription(fx_store_t *self, sqlite3_stmt *stmt,
                                    fx_store_subscription_t *sub)
{
    int64_t stages = 0, kinds = 0;
    fx_err_t err;
    memset(sub, 0, sizeof *sub);
    if ((err = s_col_int(self, stmt, 0, "subscriptions.id", &sub->id)) != FX_OK)
        return err;
    if ((err = s_col_copy(self, stmt, 1, sub->principal, sizeof sub->principal,
                          "subscriptions.principal")) != FX_OK ||
        (err = s_col_copy(self, stmt, 2, sub->pattern, sizeof sub->pattern,
                          "subscriptions.pattern")) != FX_OK ||
        (err = s_col_int(self, stmt, 3, "subscriptions.stages", &stages)) != FX_OK ||
        (err = s_col_int(self, stmt, 4, "subscriptions.kinds", &kinds)) != FX_OK ||
        (err = s_col_copy(self, stmt, 5, sub->exercise, sizeof sub->exercise,
                          "subscriptions.exercise")) != FX_OK ||
        (err = s_col_int(self, stmt, 6, "subscriptions.created_at", &sub->created_at)) != FX_OK)
        goto fail;
    if (stages < 0 || stages > UINT32_MAX || kinds < 0 || kinds > UINT32_MAX) {
        err = s_corrupt(self, "a subscription's stages or kinds is out of range");
        goto fail;
    }
    sub->stages = (uint32_t) stages;
    sub->kinds = (uint32_t) kinds;
    return FX_OK;
fail:
    s_error_context(self, " (subscription %lld)", (long long) sub->id);
    return err;
}

fx_err_t fx_store_subscription_each(fx_store_t *self, const char *principal,
                                    fx_store_subscription_fn fn, void *arg)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!fn || (principal && !s_text_ok(principal, FX_ID_MAX)))
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[principal ? ST_SUB_ONE : ST_SUB_ALL];
    if (principal)
        s_bind_text(stmt, 1, principal);
    fx_store_subscription_t sub;
    for (;;) {
        bool row = false;
        if ((err = s_step(self, stmt, "list subscriptions", &row)) != FX_OK || !row)
            break;
        if ((err = s_read_subscription(self, stmt, &sub)) != FX_OK)
            break;
        self->in_callback = true;
        int stop = fn(&sub, arg);
        self->in_callback = false;
        if (stop)
            break;
    }
    s_done(stmt);
    return err;
}

/* --- Referrals -------------------------------------------------------------------------- */

static bool s_referral_state_ok(int64_t state)
{
    return state >= FX_REFERRAL_SENT && state <= FX_REFERRAL_CLOSED;
}

fx_err_t fx_store_referral_add(fx_store_t *self, const fx_store_referral_t *referral)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!referral || !s_array_text_ok(referral->sender, sizeof referral->sender) ||
        !s_array_text_ok(referral->agency, sizeof referral->agency) ||
        strnlen(referral->exercise, sizeof referral->exercise) == sizeof referral->exercise ||
        !s_referral_state_ok(referral->state) || referral->urgency < 0)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_REF_ADD];
    if (!stmt) /* read-only, and older than referrals.exercise: nobody reads them there */
        return FX_ERR_STORAGE;
    s_bind_blob(stmt, 1, referral->msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_text(stmt, 2, referral->agency);
    s_bind_text(stmt, 3, referral->sender);
    sqlite3_bind_int(stmt, 4, referral->urgency);
    sqlite3_bind_int(stmt, 5, (int) referral->state);
    sqlite3_bind_int64(stmt, 6, referral->deadline);
    sqlite3_bind_int(stmt, 7, referral->escalated ? 1 : 0);
    sqlite3_bind_int64(stmt, 8, fx_now_ms());
    s_bind_text(stmt, 9, referral->exercise);
    err = s_step(self, stmt, "add referral", NULL);
    s_done(stmt);
    return err;
}

/* Runs a referral UPDATE keyed by (msg_id, agency) with one more value; NOT_FOUND if none. */
static fx_err_t s_referral_update(fx_store_t *self, stmt_id_t id, const uint8_t *msg_id,
                                  const char *agency, int state)
{
    sqlite3_stmt *stmt = self->st[id];
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_text(stmt, 2, agency);
    if (id == ST_REF_SET_STATE) {
        sqlite3_bind_int(stmt, 3, state);
        sqlite3_bind_int64(stmt, 4, fx_now_ms());
    } else
        sqlite3_bind_int64(stmt, 3, fx_now_ms());
    fx_err_t err = s_step(self, stmt, "update referral", NULL);
    if (err == FX_OK && sqlite3_changes(self->db) == 0)
        err = FX_ERR_NOT_FOUND;
    s_done(stmt);
    return err;
}

fx_err_t fx_store_referral_set_state(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                     const char *agency, fx_referral_state_t state)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !s_text_ok(agency, FX_ID_MAX) || !s_referral_state_ok(state))
        return FX_ERR_INVALID;
    return s_referral_update(self, ST_REF_SET_STATE, msg_id, agency, (int) state);
}

fx_err_t fx_store_referral_set_escalated(fx_store_t *self,
                                         const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                         const char *agency)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !s_text_ok(agency, FX_ID_MAX))
        return FX_ERR_INVALID;
    return s_referral_update(self, ST_REF_ESCALATE, msg_id, agency, 0);
}

/* Reads one referral row (msg_id, sender, agency, urgency, state, deadline, escalated). */
static fx_err_t s_read_referral(fx_store_t *self, sqlite3_stmt *stmt, void *ref_p)
{
    fx_store_referral_t *ref = ref_p;
    int64_t urgency = 0, state = 0, escalated = 0;
    fx_err_t err;
    memset(ref, 0, sizeof *ref);
    if ((err = s_col_blob(self, stmt, 0, ref->msg_id, FX_STORE_MSG_ID_BYTES, "referrals.msg_id")) !=
            FX_OK ||
        (err = s_col_copy(self, stmt, 1, ref->sender, sizeof ref->sender, "referrals.sender")) !=
            FX_OK ||
        (err = s_col_copy(self, stmt, 2, ref->agency, sizeof ref->agency, "referrals.agency")) !=
            FX_OK ||
        (err = s_col_int(self, stmt, 3, "referrals.urgency", &urgency)) != FX_OK ||
        (err = s_col_int(self, stmt, 4, "referrals.state", &state)) != FX_OK ||
        (err = s_col_int(self, stmt, 5, "referrals.deadline", &ref->deadline)) != FX_OK ||
        (err = s_col_int(self, stmt, 6, "referrals.escalated", &escalated)) != FX_OK ||
        (err = s_col_copy(self, stmt, 7, ref->exercise, sizeof ref->exercise,
                          "referrals.exercise")) != FX_OK)
        return err;
    if (!s_referral_state_ok(state) || urgency < 0 || urgency > INT32_MAX ||
        (escalated != 0 && escalated != 1))
        return s_corrupt(self, "a referral's state, urgency or escalated flag is out of range");
    ref->urgency = (int) urgency;
    ref->state = (fx_referral_state_t) state;
    ref->escalated = escalated == 1;
    return FX_OK;
}

fx_err_t fx_store_referral_get(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                               const char *agency, fx_store_referral_t *referral)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!msg_id || !s_text_ok(agency, FX_ID_MAX) || !referral)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_REF_GET];
    if (!stmt) /* read-only, and older than referrals.exercise: nobody reads them there */
        return FX_ERR_STORAGE;
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_text(stmt, 2, agency);
    bool row = false;
    err = s_step(self, stmt, "read referral", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK)
        err = s_read_referral(self, stmt, referral);
    s_done(stmt);
    return err;
}

typedef struct {
    fx_store_referral_keep_fn keep;
    void *arg;
} s_referral_keep_t;

static bool s_referral_keep(const void *item, void *arg)
{
    const s_referral_keep_t *filter = arg;
    return filter->keep(item, filter->arg);
}

fx_err_t fx_store_referrals_list(fx_store_t *self, const char *sender, const char *agency,
                                 fx_store_referral_keep_fn keep, void *arg, size_t limit,
                                 fx_store_referral_t **list_p, size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!list_p || !count_p || limit == 0 || !s_opt_text_ok(sender, FX_ID_MAX) ||
        !s_opt_text_ok(agency, FX_ID_MAX))
        return FX_ERR_INVALID;
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = self->st[ST_REF_LIST];
    if (!stmt) /* read-only, and older than referrals.exercise: nobody reads them there */
        return FX_ERR_STORAGE;
    s_bind_text(stmt, 1, sender);
    s_bind_text(stmt, 2, agency);
    void *items;
    size_t count;
    s_referral_keep_t filter = {keep, arg};
    err = s_collect_if(self, stmt, "list referrals", limit, sizeof(fx_store_referral_t),
                       s_read_referral, keep ? s_referral_keep : NULL, &filter, &items, &count);
    if (err != FX_OK) {
        free(items);
        return err;
    }
    *list_p = items;
    *count_p = count;
    return FX_OK;
}

fx_err_t fx_store_referrals_overdue(fx_store_t *self, int64_t now_ms, size_t limit,
                                    fx_store_referral_t **list_p, size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!list_p || !count_p || limit == 0)
        return FX_ERR_INVALID;
    *list_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = self->st[ST_REF_OVERDUE];
    if (!stmt) /* read-only, and older than referrals.exercise: nobody reads them there */
        return FX_ERR_STORAGE;
    sqlite3_bind_int64(stmt, 1, now_ms);
    void *items;
    size_t count;
    err = s_collect(self, stmt, "list overdue referrals", limit, sizeof(fx_store_referral_t),
                    s_read_referral, &items, &count);
    fx_store_referral_t *list = items;
    if (err != FX_OK) {
        free(list);
        return err;
    }
    *list_p = list;
    *count_p = count;
    return FX_OK;
}

/* --- Audit trail ------------------------------------------------------------------------ */

static void s_hash_u32(fx_sha256_t *h, uint32_t v)
{
    uint8_t b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};
    fx_sha256_update(h, b, sizeof b);
}

static void s_hash_u64(fx_sha256_t *h, uint64_t v)
{
    s_hash_u32(h, (uint32_t) (v >> 32));
    s_hash_u32(h, (uint32_t) v);
}

/* One length-prefixed field: u32 length || bytes. */
static void s_hash_field(fx_sha256_t *h, const void *data, size_t len)
{
    s_hash_u32(h, (uint32_t) len);
    if (len)
        fx_sha256_update(h, data, len);
}

static void s_hash_text(fx_sha256_t *h, const char *text)
{
    s_hash_field(h, text ? text : "", text ? strlen(text) : 0);
}

void fx_store_audit_leaf_hash(const fx_store_audit_entry_t *entry,
                              uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES])
{
    static const uint8_t leaf_prefix = 0x00; /* RFC 6962: leaves 0x00, nodes 0x01 */
    fx_sha256_t h;
    fx_sha256_init(&h);
    fx_sha256_update(&h, &leaf_prefix, 1);
    fx_sha256_update(&h, FX_STORE_AUDIT_DOMAIN, sizeof FX_STORE_AUDIT_DOMAIN); /* with its NUL */
    s_hash_u64(&h, (uint64_t) entry->seq);
    s_hash_u64(&h, (uint64_t) entry->time_ms);
    s_hash_text(&h, entry->event);
    s_hash_text(&h, entry->actor);
    s_hash_text(&h, entry->subject);
    s_hash_field(&h, entry->msg_id, entry->msg_id ? FX_STORE_MSG_ID_BYTES : 0);
    s_hash_field(&h, entry->header_digest, entry->header_digest ? FX_STORE_DIGEST_BYTES : 0);
    s_hash_text(&h, entry->details ? entry->details : "{}");
    fx_sha256_final(&h, leaf_hash);
}

bool fx_store_audit_entry_check(const fx_store_audit_entry_t *entry, int64_t expected, char *why,
                                size_t why_size)
{
    if (entry->seq < 1) { /* read first: seq orders them before entry 1 */
        snprintf(why, why_size,
                 "a row with seq %lld (%s) is not an entry of the trail, which starts at entry 1: "
                 "it was inserted",
                 (long long) entry->seq, entry->event);
        return false;
    }
    if (entry->seq != expected) {
        snprintf(why, why_size,
                 "entry %lld is missing: the trail goes from entry %lld to entry %lld (deleted)",
                 (long long) expected, (long long) expected - 1, (long long) entry->seq);
        return false;
    }
    uint8_t leaf[FX_STORE_LEAF_HASH_BYTES];
    fx_store_audit_leaf_hash(entry, leaf);
    if (sodium_memcmp(leaf, entry->leaf_hash, sizeof leaf) != 0) {
        snprintf(why, why_size,
                 "entry %lld (%s) does not match its stored leaf hash: its fields were modified, "
                 "or it was inserted or moved here",
                 (long long) expected, entry->event);
        return false;
    }
    return true;
}

/* What fx_store_audit_check_from carries from entry to entry. */
typedef struct {
    int64_t expected;
    int64_t bad_seq;
    char *why;
} audit_check_t;

static int s_audit_check_entry(const fx_store_audit_entry_t *entry, void *arg)
{
    audit_check_t *check = arg;
    if (!fx_store_audit_entry_check(entry, check->expected, check->why, FX_STORE_WHY_SIZE)) {
        check->bad_seq = check->expected;
        return 1;
    }
    check->expected++;
    return 0;
}

fx_err_t fx_store_audit_check_from(fx_store_t *self, int64_t from_seq, int64_t *seq_p,
                                   char why[FX_STORE_WHY_SIZE])
{
    if (!seq_p || !why || from_seq < 1)
        return FX_ERR_INVALID;
    *seq_p = 0;
    why[0] = '\0';
    audit_check_t check = {.expected = from_seq, .why = why};
    fx_err_t err = fx_store_audit_each(self, from_seq, s_audit_check_entry, &check);
    if (err != FX_OK || check.bad_seq > 0) {
        *seq_p = check.bad_seq;
        return err;
    }
    err = fx_store_audit_links_check(self, from_seq, seq_p, why);
    return err == FX_ERR_NOT_FOUND ? FX_OK : err; /* read-only and older than the links */
}

/* What fx_store_audit_append accepts. */
static bool s_audit_entry_ok(const fx_store_audit_entry_t *entry)
{
    return s_text_ok(entry->event, FX_STORE_EVENT_MAX) &&
           s_opt_text_ok(entry->actor, AUDIT_TEXT_MAX) &&
           s_opt_text_ok(entry->subject, AUDIT_TEXT_MAX) &&
           s_opt_text_ok(entry->exercise, FX_STORE_EXERCISE_MAX) && entry->time_ms >= 0 &&
           (!entry->details || (strlen(entry->details) < FX_STORE_DETAILS_MAX &&
                                fx_json_object_text(entry->details, strlen(entry->details))));
}

typedef struct {
    const fx_store_audit_entry_t *entry;
    bool filed; /* under its delivery (s_delivery_mark): not in audit_by_message */
    int64_t seq;
    uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES];
} audit_append_t;

/* The seq the next entry appended will have: entries are numbered by this connection only. */
static fx_err_t s_audit_next(fx_store_t *self, int64_t *seq_p)
{
    fx_err_t err;
    if (self->audit_last < 0 &&
        (err = s_scalar(self, ST_AUDIT_LAST, "number audit entry", &self->audit_last)) != FX_OK) {
        self->audit_last = -1;
        return err;
    }
    *seq_p = self->audit_last + 1;
    return FX_OK;
}

/* Numbers the entry after the last one, hashes it and inserts it. */
static fx_err_t s_audit_insert(fx_store_t *self, void *arg)
{
    audit_append_t *append = arg;
    fx_store_audit_entry_t entry = *append->entry;
    fx_err_t err = s_audit_next(self, &entry.seq);
    if (err != FX_OK)
        return err;
    if (entry.time_ms == 0)
        entry.time_ms = fx_now_ms();
    if (!entry.actor)
        entry.actor = "";
    if (!entry.subject)
        entry.subject = "";
    if (!entry.details)
        entry.details = "{}";
    fx_store_audit_leaf_hash(&entry, append->leaf_hash);
    sqlite3_stmt *stmt = self->st[ST_AUDIT_PUT];
    sqlite3_bind_int64(stmt, 1, entry.seq);
    sqlite3_bind_int64(stmt, 2, entry.time_ms);
    s_bind_text(stmt, 3, entry.event);
    s_bind_text(stmt, 4, entry.actor);
    s_bind_text(stmt, 5, entry.subject);
    s_bind_blob(stmt, 6, entry.msg_id, FX_STORE_MSG_ID_BYTES);
    s_bind_blob(stmt, 7, entry.header_digest, FX_STORE_DIGEST_BYTES);
    s_bind_text(stmt, 8, entry.details);
    s_bind_blob(stmt, 9, append->leaf_hash, FX_STORE_LEAF_HASH_BYTES);
    /* The stored message's row id if remembered, NULL to look it up, 0 for none (filed). */
    bool linked = entry.msg_id && !append->filed;
    int64_t rowid = linked ? s_recent_get(self, entry.msg_id) : 0;
    if (linked && rowid == 0)
        sqlite3_bind_null(stmt, 10);
    else
        sqlite3_bind_int64(stmt, 10, rowid);
    err = s_step(self, stmt, "append audit entry", NULL);
    s_done(stmt);
    /* The next seq is taken already: the trail was written by something other than this
     * connection, which the store's lock excludes; it cannot be trusted to go on. */
    if (err == FX_ERR_EXISTS)
        err = s_corrupt(self, "audit entry %lld exists already (written by another process?)",
                        (long long) entry.seq);
    if (err == FX_OK && entry.exercise && entry.exercise[0]) {
        stmt = self->st[ST_AUDIT_FILE_EXERCISE];
        s_bind_text(stmt, 1, entry.exercise);
        sqlite3_bind_int64(stmt, 2, entry.seq);
        err = s_step(self, stmt, "file audit entry under its exercise", NULL);
        s_done(stmt);
    }
    self->audit_last = err == FX_OK ? entry.seq : -1;
    append->seq = entry.seq;
    return err;
}

/* Appends entry filed under a delivery (s_delivery_mark); its seq in *seq_p. */
static fx_err_t s_audit_file(fx_store_t *self, const fx_store_audit_entry_t *entry, int64_t *seq_p)
{
    audit_append_t append = {.entry = entry, .filed = true};
    fx_err_t err = s_audit_insert(self, &append);
    *seq_p = append.seq;
    return err;
}

fx_err_t fx_store_audit_append(fx_store_t *self, const fx_store_audit_entry_t *entry,
                               int64_t *seq_p, uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES])
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!entry || !s_audit_entry_ok(entry))
        return FX_ERR_INVALID;
    audit_append_t append = {.entry = entry};
    err = s_atomically(self, s_audit_insert, &append);
    if (err == FX_OK && seq_p)
        *seq_p = append.seq;
    if (err == FX_OK && leaf_hash)
        memcpy(leaf_hash, append.leaf_hash, FX_STORE_LEAF_HASH_BYTES);
    return err;
}

fx_err_t fx_store_audit_count(fx_store_t *self, int64_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!count_p)
        return FX_ERR_INVALID;
    return s_scalar(self, ST_AUDIT_LAST, "count audit entries", count_p);
}

/* A nullable blob column of exactly len bytes: *data_p is NULL for SQL NULL. */
static fx_err_t s_col_opt_blob(fx_store_t *self, sqlite3_stmt *stmt, int col, size_t len,
                               const char *what, const uint8_t **data_p)
{
    *data_p = NULL;
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return FX_OK;
    if (sqlite3_column_type(stmt, col) != SQLITE_BLOB)
        return s_corrupt(self, "%s is not a blob", what);
    const uint8_t *data = sqlite3_column_blob(stmt, col);
    size_t got = (size_t) sqlite3_column_bytes(stmt, col);
    if (!data || got != len)
        return s_corrupt(self, "%s is %zu bytes, not %zu", what, got, len);
    *data_p = data;
    return FX_OK;
}

/* Reads one audit row into entry (pointers into the statement's current row). */
static fx_err_t s_read_audit(fx_store_t *self, sqlite3_stmt *stmt, fx_store_audit_entry_t *entry)
{
    fx_err_t err;
    memset(entry, 0, sizeof *entry);
    if ((err = s_col_int(self, stmt, 0, "audit.seq", &entry->seq)) != FX_OK)
        return err;
    if ((err = s_col_int(self, stmt, 1, "audit.time_ms", &entry->time_ms)) != FX_OK ||
        (err = s_col_text(self, stmt, 2, FX_STORE_EVENT_MAX, "audit.event", &entry->event)) !=
            FX_OK ||
        (err = s_col_text(self, stmt, 3, AUDIT_TEXT_MAX, "audit.actor", &entry->actor)) != FX_OK ||
        (err = s_col_text(self, stmt, 4, AUDIT_TEXT_MAX, "audit.subject", &entry->subject)) !=
            FX_OK ||
        (err = s_col_opt_blob(self, stmt, 5, FX_STORE_MSG_ID_BYTES, "audit.msg_id",
                              &entry->msg_id)) != FX_OK ||
        (err = s_col_opt_blob(self, stmt, 6, FX_STORE_DIGEST_BYTES, "audit.header_digest",
                              &entry->header_digest)) != FX_OK ||
        (err = s_col_text(self, stmt, 7, FX_STORE_DETAILS_MAX, "audit.details", &entry->details)) !=
            FX_OK ||
        (err = s_col_blob(self, stmt, 8, entry->leaf_hash, FX_STORE_LEAF_HASH_BYTES,
                          "audit.leaf_hash")) != FX_OK)
        s_error_context(self, " (audit entry %lld)", (long long) entry->seq);
    return err;
}

/* Calls fn for each audit entry the bound statement stmt selects, until fn returns non-zero;
 * resets stmt. */
static fx_err_t s_audit_rows(fx_store_t *self, sqlite3_stmt *stmt, fx_store_audit_fn fn, void *arg)
{
    fx_err_t err;
    fx_store_audit_entry_t entry;
    for (;;) {
        bool row = false;
        if ((err = s_step(self, stmt, "read audit entries", &row)) != FX_OK || !row)
            break;
        if ((err = s_read_audit(self, stmt, &entry)) != FX_OK)
            break;
        self->in_callback = true;
        int stop = fn(&entry, arg);
        self->in_callback = false;
        if (stop)
            break;
    }
    s_done(stmt);
    return err;
}

fx_err_t fx_store_audit_each(fx_store_t *self, int64_t from_seq, fx_store_audit_fn fn, void *arg)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!fn)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_AUDIT_EACH];
    sqlite3_bind_int64(stmt, 1, from_seq);
    return s_audit_rows(self, stmt, fn, arg);
}

fx_err_t fx_store_audit_of_message(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                   fx_store_audit_fn fn, void *arg)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!fn || !msg_id)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_AUDIT_OF_MSG];
    s_bind_blob(stmt, 1, msg_id, FX_STORE_MSG_ID_BYTES);
    return s_audit_rows(self, stmt, fn, arg);
}

fx_err_t fx_store_audit_of_exercise(fx_store_t *self, const char *exercise, int64_t after_seq,
                                    size_t limit, fx_store_audit_fn fn, void *arg)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!fn || !s_text_ok(exercise, FX_STORE_EXERCISE_MAX) || after_seq < 0 || limit == 0)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_AUDIT_OF_EXERCISE];
    if (!stmt) /* read-only, and older than the exercise index: nothing to walk */
        return FX_ERR_NOT_FOUND;
    s_bind_text(stmt, 1, exercise);
    sqlite3_bind_int64(stmt, 2, after_seq);
    sqlite3_bind_int64(stmt, 3, limit > INT64_MAX ? INT64_MAX : (int64_t) limit);
    return s_audit_rows(self, stmt, fn, arg);
}

fx_err_t fx_store_audit_links_check(fx_store_t *self, int64_t from_seq, int64_t *seq_p,
                                    char why[FX_STORE_WHY_SIZE])
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!seq_p || !why)
        return FX_ERR_INVALID;
    *seq_p = 0;
    why[0] = '\0';
    sqlite3_stmt *stmt = self->st[ST_AUDIT_LINKS];
    if (!stmt) /* read-only, and older than the entries filed under deliveries */
        return FX_ERR_NOT_FOUND;
    sqlite3_bind_int64(stmt, 1, from_seq);
    bool row = false;
    if ((err = s_step(self, stmt, "check the audit links", &row)) != FX_OK || !row) {
        s_done(stmt);
        return err;
    }
    const char *column = (const char *) sqlite3_column_text(stmt, 0);
    int64_t seq = sqlite3_column_int64(stmt, 1);
    char hex[2 * FX_STORE_MSG_ID_BYTES + 1] = "?";
    if (sqlite3_column_type(stmt, 2) == SQLITE_BLOB &&
        sqlite3_column_bytes(stmt, 2) == FX_STORE_MSG_ID_BYTES)
        fx_hex(sqlite3_column_blob(stmt, 2), FX_STORE_MSG_ID_BYTES, hex);
    const char *found = (const char *) sqlite3_column_text(stmt, 3);
    const char *expected = (const char *) sqlite3_column_text(stmt, 4);
    if (expected)
        snprintf(why, FX_STORE_WHY_SIZE,
                 "%s of message %s names entry %lld (%s), not the %s entry of that delivery",
                 column ? column : "?", hex, (long long) seq, found ? found : "none", expected);
    else
        snprintf(why, FX_STORE_WHY_SIZE,
                 "%s of entry %lld (%s) names message %s, which is not the entry's msg_id",
                 column ? column : "?", (long long) seq, found ? found : "?", hex);
    *seq_p = seq > 0 ? seq : 1;
    s_done(stmt);
    return FX_OK;
}

fx_err_t fx_store_audit_stray(fx_store_t *self, int64_t *seq_p, char event[FX_STORE_EVENT_MAX])
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!seq_p || !event)
        return FX_ERR_INVALID;
    *seq_p = 0;
    event[0] = '\0';
    /* Once, at start: the primary key's b-tree answers from its first rows. */
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(self->db,
                                "SELECT seq, event FROM audit WHERE seq < 1 ORDER BY seq LIMIT 1",
                                -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return s_fail(self, "look for audit rows below entry 1", rc);
    bool row = false;
    err = s_step(self, stmt, "look for audit rows below entry 1", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    else if (err == FX_OK) {
        const char *text = (const char *) sqlite3_column_text(stmt, 1);
        *seq_p = sqlite3_column_int64(stmt, 0);
        snprintf(event, FX_STORE_EVENT_MAX, "%s", text ? text : "?");
    }
    sqlite3_finalize(stmt);
    return err;
}

fx_err_t fx_store_audit_leaves(fx_store_t *self, int64_t from_seq, size_t max,
                               uint8_t (*leaves)[FX_STORE_LEAF_HASH_BYTES], size_t *count_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!leaves || !count_p || from_seq < 1)
        return FX_ERR_INVALID;
    *count_p = 0;
    sqlite3_stmt *stmt = self->st[ST_AUDIT_LEAVES];
    sqlite3_bind_int64(stmt, 1, from_seq);
    sqlite3_bind_int64(stmt, 2, max > INT64_MAX ? INT64_MAX : (sqlite3_int64) max);
    size_t count = 0;
    for (;;) {
        bool row = false;
        int64_t seq = 0;
        if ((err = s_step(self, stmt, "read audit leaves", &row)) != FX_OK || !row)
            break;
        if ((err = s_col_int(self, stmt, 0, "audit.seq", &seq)) != FX_OK)
            break;
        if (seq != from_seq + (int64_t) count) {
            err = s_corrupt(self, "audit entry %lld is missing",
                            (long long) (from_seq + (int64_t) count));
            break;
        }
        if ((err = s_col_blob(self, stmt, 1, leaves[count], FX_STORE_LEAF_HASH_BYTES,
                              "audit.leaf_hash")) != FX_OK) {
            s_error_context(self, " (audit entry %lld)", (long long) seq);
            break;
        }
        count++;
    }
    s_done(stmt);
    *count_p = count;
    return err;
}

fx_err_t fx_store_checkpoint_put(fx_store_t *self, const fx_store_checkpoint_t *checkpoint)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!checkpoint || checkpoint->tree_size < 0 || checkpoint->body_len < 1 ||
        checkpoint->body_len > FX_STORE_CHECKPOINT_BODY_MAX)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_CHECKPOINT_PUT];
    sqlite3_bind_int64(stmt, 1, checkpoint->tree_size);
    s_bind_blob(stmt, 2, checkpoint->root_hash, FX_STORE_ROOT_HASH_BYTES);
    sqlite3_bind_int64(stmt, 3, checkpoint->time_ms);
    s_bind_blob(stmt, 4, checkpoint->signature, FX_SIGNATURE_BYTES);
    s_bind_blob(stmt, 5, checkpoint->body, checkpoint->body_len);
    err = s_step(self, stmt, "store checkpoint", NULL);
    s_done(stmt);
    return err;
}

/* Reads one checkpoint row. */
static fx_err_t s_read_checkpoint(fx_store_t *self, sqlite3_stmt *stmt,
                                  fx_store_checkpoint_t *checkpoint)
{
    fx_err_t err;
    memset(checkpoint, 0, sizeof *checkpoint);
    if ((err = s_col_int(self, stmt, 0, "audit_checkpoints.tree_size", &checkpoint->tree_size)) !=
        FX_OK)
        return err;
    if ((err = s_col_blob(self, stmt, 1, checkpoint->root_hash, FX_STORE_ROOT_HASH_BYTES,
                          "audit_checkpoints.root_hash")) != FX_OK ||
        (err = s_col_int(self, stmt, 2, "audit_checkpoints.time_ms", &checkpoint->time_ms)) !=
            FX_OK ||
        (err = s_col_blob(self, stmt, 3, checkpoint->signature, FX_SIGNATURE_BYTES,
                          "audit_checkpoints.signature")) != FX_OK) {
        s_error_context(self, " (checkpoint of tree size %lld)", (long long) checkpoint->tree_size);
        return err;
    }
    size_t len = (size_t) sqlite3_column_bytes(stmt, 4);
    const void *body = sqlite3_column_blob(stmt, 4);
    if (sqlite3_column_type(stmt, 4) != SQLITE_BLOB || !body || len < 1 ||
        len > FX_STORE_CHECKPOINT_BODY_MAX)
        return s_corrupt(self, "the checkpoint of tree size %lld has a body of %zu bytes",
                         (long long) checkpoint->tree_size, len);
    memcpy(checkpoint->body, body, len);
    checkpoint->body_len = len;
    return FX_OK;
}

fx_err_t fx_store_checkpoint_latest(fx_store_t *self, fx_store_checkpoint_t *checkpoint)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!checkpoint)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_CHECKPOINT_LATEST];
    bool row = false;
    err = s_step(self, stmt, "read checkpoint", &row);
    if (err == FX_OK && !row)
        err = FX_ERR_NOT_FOUND;
    if (err == FX_OK)
        err = s_read_checkpoint(self, stmt, checkpoint);
    s_done(stmt);
    return err;
}

fx_err_t fx_store_checkpoint_each(fx_store_t *self, fx_store_checkpoint_fn fn, void *arg)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!fn)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt = self->st[ST_CHECKPOINT_EACH];
    fx_store_checkpoint_t checkpoint;
    for (;;) {
        bool row = false;
        if ((err = s_step(self, stmt, "read checkpoints", &row)) != FX_OK || !row)
            break;
        if ((err = s_read_checkpoint(self, stmt, &checkpoint)) != FX_OK)
            break;
        self->in_callback = true;
        int stop = fn(&checkpoint, arg);
        self->in_callback = false;
        if (stop)
            break;
    }
    s_done(stmt);
    return err;
}

/* --- Housekeeping ----------------------------------------------------------------------- */

/* Deletes up to batch expired rows with one statement; *deleted_p gets how many. */
static fx_err_t s_prune_batch(fx_store_t *self, stmt_id_t id, int64_t now_ms, size_t batch,
                              size_t *deleted_p)
{
    sqlite3_stmt *stmt = self->st[id];
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64) batch);
    fx_err_t err = s_step(self, stmt, "prune", NULL);
    *deleted_p = err == FX_OK ? (size_t) sqlite3_changes(self->db) : 0;
    s_done(stmt);
    return err;
}

fx_err_t fx_store_prune(fx_store_t *self, int64_t now_ms, size_t max_messages, size_t *pruned_p)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!sqlite3_get_autocommit(self->db))
        return FX_ERR_INVALID;
    size_t total = 0;
    for (;;) {
        size_t want = PRUNE_BATCH, messages = 0, answers = 0;
        if (max_messages && max_messages - total < want)
            want = max_messages - total;
        if (want == 0)
            break;
        if ((err = s_exec(self, ST_BEGIN, "begin prune")) != FX_OK)
            break;
        /* Deliveries go with their message (ON DELETE CASCADE). */
        if ((err = s_prune_batch(self, ST_PRUNE_MESSAGES, now_ms, want, &messages)) != FX_OK ||
            (err = s_prune_batch(self, ST_PRUNE_ANSWERS, now_ms, PRUNE_BATCH, &answers)) != FX_OK ||
            (err = fx_store_commit(self)) != FX_OK) {
            if (!self->failed)
                err = s_fail(self, "prune", SQLITE_ERROR);
            break;
        }
        total += messages;
        if (messages < want && answers < PRUNE_BATCH)
            break;
    }
    if (pruned_p)
        *pruned_p = total;
    return err;
}

fx_err_t fx_store_stats(fx_store_t *self, fx_store_stats_t *stats)
{
    fx_err_t err = s_usable(self);
    if (err != FX_OK)
        return err;
    if (!stats)
        return FX_ERR_INVALID;
    memset(stats, 0, sizeof *stats);
    if ((err = s_scalar(self, ST_COUNT_MESSAGES, "count messages", &stats->messages)) != FX_OK ||
        (err = s_scalar(self, ST_PENDING_COUNT_ALL, "count pending deliveries",
                        &stats->pending_deliveries)) != FX_OK ||
        (err = s_scalar(self, ST_COUNT_ANSWERS, "count answers", &stats->answers)) != FX_OK ||
        (err = s_scalar(self, ST_COUNT_SUBS, "count subscriptions", &stats->subscriptions)) !=
            FX_OK ||
        (err = s_scalar(self, ST_COUNT_REF_OPEN, "count open referrals", &stats->referrals_open)) !=
            FX_OK ||
        (err = s_scalar(self, ST_AUDIT_LAST, "count audit entries", &stats->audit_entries)) !=
            FX_OK ||
        (err = s_scalar(self, ST_OLDEST_PENDING, "find the oldest pending delivery",
                        &stats->oldest_pending_at)) != FX_OK)
        return err;
    if (self->wal) {
        long runs, failures;
        store_wal_counts(self->wal, &runs, &failures);
        stats->wal_checkpoints = runs;
        stats->wal_checkpoint_failures = failures;
    }
    return FX_OK;
}
