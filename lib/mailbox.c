/* The agent's mailbox in SQLite: the outbox state machine (queued, sealed, accepted, rejected),
 * the inbox deduplicated by msg_id, and a few persistent values. Every change is one durable
 * transaction (WAL, synchronous=FULL), so a crash never loses a message that was reported safe. */
#include "fusion/mailbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/vocab.h"

#define SCHEMA_VERSION  "1"
#define BUSY_TIMEOUT_MS 10000

struct fx_mailbox {
    sqlite3 *db;
    char *path;
};

struct fx_outbox_entry {
    int64_t id;
    fx_outbox_state_t state;
    char *label;
    int64_t created_at, updated_at, expires_at;
    int attempts;
    uint8_t *draft;
    size_t draft_len;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    int has_msg_id;
    uint8_t *envelope;
    size_t envelope_len;
    char *code, *rule, *reason;
};

struct fx_inbox_entry {
    uint8_t msg_id[FX_MSG_ID_BYTES];
    fx_inbox_state_t state;
    int64_t received_at;
    char *kind, *sender, *tlp, *route, *urgency;
    uint8_t *envelope;
    size_t envelope_len;
    uint8_t *cert;
    size_t cert_len;
};

static const char *const s_schema =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  state TEXT NOT NULL CHECK (state IN ('queued', 'sealed', 'accepted', 'rejected')),"
    "  label TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  draft BLOB,"
    "  msg_id BLOB UNIQUE CHECK (msg_id IS NULL OR length(msg_id) = 16),"
    "  envelope BLOB,"
    "  code TEXT NOT NULL DEFAULT '',"
    "  rule TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  CHECK (state <> 'queued' OR (draft IS NOT NULL AND envelope IS NULL)),"
    "  CHECK (state <> 'sealed' OR (envelope IS NOT NULL AND msg_id IS NOT NULL)));"
    "CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox (state, id);"
    "CREATE TABLE IF NOT EXISTS inbox ("
    "  msg_id BLOB PRIMARY KEY CHECK (length(msg_id) = 16),"
    "  state TEXT NOT NULL CHECK (state IN ('new', 'read')),"
    "  received_at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  tlp TEXT NOT NULL,"
    "  route TEXT NOT NULL,"
    "  urgency TEXT NOT NULL,"
    "  envelope BLOB NOT NULL,"
    "  sender_cert BLOB NOT NULL) WITHOUT ROWID;";

static const char *const s_outbox_states[] = {NULL, "queued", "sealed", "accepted", "rejected"};
static const char *const s_inbox_states[] = {NULL, "new", "read"};

const char *fx_outbox_state_name(fx_outbox_state_t state)
{
    return state >= FX_OUTBOX_QUEUED && state <= FX_OUTBOX_REJECTED ? s_outbox_states[state]
                                                                    : "unknown";
}

const char *fx_inbox_state_name(fx_inbox_state_t state)
{
    return state == FX_INBOX_NEW || state == FX_INBOX_READ ? s_inbox_states[state] : "unknown";
}

static int s_state_value(const char *const *names, int count, const char *word)
{
    for (int i = 1; i < count; i++)
        if (word && strcmp(names[i], word) == 0)
            return i;
    return 0;
}

/* ---- SQLite helpers ------------------------------------------------------------------------- */

static fx_err_t s_exec(fx_mailbox_t *self, const char *sql)
{
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? FX_OK : FX_ERR_STORAGE;
}

static sqlite3_stmt *s_prepare(fx_mailbox_t *self, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

/* Runs a statement that returns no rows; binds were made by the caller. Finalizes it. */
static fx_err_t s_step_done(sqlite3_stmt *stmt)
{
    if (!stmt)
        return FX_ERR_STORAGE;
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? FX_OK : FX_ERR_STORAGE;
}

static fx_err_t s_begin(fx_mailbox_t *self)
{
    return s_exec(self, "BEGIN IMMEDIATE");
}

static fx_err_t s_end(fx_mailbox_t *self, fx_err_t rc)
{
    if (rc == FX_OK)
        rc = s_exec(self, "COMMIT");
    if (rc != FX_OK)
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static char *s_column_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return fx_strdup(text ? (const char *) text : "");
}

static uint8_t *s_column_blob(sqlite3_stmt *stmt, int col, size_t *len_p)
{
    const void *blob = sqlite3_column_blob(stmt, col);
    int len = sqlite3_column_bytes(stmt, col);
    *len_p = 0;
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return NULL;
    uint8_t *copy = fx_malloc((size_t) len + 1);
    if (len > 0)
        memcpy(copy, blob, (size_t) len);
    *len_p = (size_t) len;
    return copy;
}

static fx_err_t s_meta_get(fx_mailbox_t *self, const char *key, char **value_p)
{
    *value_p = NULL;
    sqlite3_stmt *stmt = s_prepare(self, "SELECT value FROM meta WHERE key = ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *value_p = s_column_text(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FX_OK : FX_ERR_STORAGE;
}

static fx_err_t s_meta_set(fx_mailbox_t *self, const char *key, const char *value)
{
    sqlite3_stmt *stmt = s_prepare(self, "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (stmt) {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
    }
    return s_step_done(stmt);
}

/* ---- Opening -------------------------------------------------------------------------------- */

/* Creates the file with mode 0600 (SQLite gives its -wal and -shm files the same mode), or
 * checks that an existing one is private. */
static fx_err_t s_private_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return FX_OK;
    }
    if (errno != EEXIST)
        return FX_ERR_IO;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return FX_ERR_IO;
    return (st.st_mode & 077) ? FX_ERR_KEY_PERMISSIONS : FX_OK;
}

static fx_err_t s_setup(fx_mailbox_t *self, const char *principal_id)
{
    sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
    sqlite3_stmt *stmt = s_prepare(self, "PRAGMA journal_mode=WAL");
    int wal = stmt && sqlite3_step(stmt) == SQLITE_ROW &&
              strcmp((const char *) sqlite3_column_text(stmt, 0), "wal") == 0;
    sqlite3_finalize(stmt);
    if (!wal)
        return FX_ERR_STORAGE;
    fx_err_t rc = s_exec(self, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;");
    if (rc != FX_OK)
        return rc;
    if ((rc = s_begin(self)) != FX_OK)
        return rc;
    rc = s_exec(self, s_schema);
    char *version = NULL, *owner = NULL;
    if (rc == FX_OK)
        rc = s_meta_get(self, "schema", &version);
    if (rc == FX_OK && !version)
        rc = s_meta_set(self, "schema", SCHEMA_VERSION);
    else if (rc == FX_OK && strcmp(version, SCHEMA_VERSION) != 0)
        rc = FX_ERR_INVALID; /* made by another version of Fusion */
    if (rc == FX_OK)
        rc = s_meta_get(self, "principal", &owner);
    if (rc == FX_OK && !owner)
        rc = s_meta_set(self, "principal", principal_id);
    else if (rc == FX_OK && strcmp(owner, principal_id) != 0)
        rc = FX_ERR_INVALID; /* another principal's mailbox */
    free(version);
    free(owner);
    return s_end(self, rc);
}

fx_err_t fx_mailbox_open(const char *state_dir, const char *principal_id, fx_mailbox_t **mailbox_p)
{
    *mailbox_p = NULL;
    if (!state_dir || !principal_id || !fx_principal_id_valid(principal_id))
        return FX_ERR_INVALID;
    if (fx_mkdir_p(state_dir) != 0)
        return FX_ERR_IO;
    fx_mailbox_t *self = fx_calloc(1, sizeof *self);
    size_t len = strlen(state_dir) + sizeof FX_MAILBOX_FILE + 1;
    self->path = fx_malloc(len);
    snprintf(self->path, len, "%s/%s", state_dir, FX_MAILBOX_FILE);
    fx_err_t rc = s_private_file(self->path);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_STORAGE;
    if (sqlite3_open_v2(self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        goto cleanup;
    rc = s_setup(self, principal_id);
    if (rc != FX_OK)
        goto cleanup;
    *mailbox_p = self;
    return FX_OK;
cleanup:
    fx_mailbox_destroy(&self);
    return rc;
}

void fx_mailbox_destroy(fx_mailbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_mailbox_t *self = *self_p;
    if (self->db)
        sqlite3_close_v2(self->db);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const char *fx_mailbox_path(const fx_mailbox_t *self)
{
    return self->path;
}

/* ---- Outbox --------------------------------------------------------------------------------- */

fx_err_t fx_mailbox_outbox_add(fx_mailbox_t *self, const uint8_t *draft, size_t draft_len,
                               const char *label, int64_t expires_at, int64_t now_ms, int64_t *id_p)
{
    *id_p = 0;
    if (!draft || draft_len == 0 || draft_len > INT32_MAX)
        return FX_ERR_INVALID;
    sqlite3_stmt *stmt =
        s_prepare(self, "INSERT INTO outbox (state, label, created_at, updated_at, expires_at, "
                        "draft) VALUES ('queued', ?1, ?2, ?2, ?3, ?4)");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_text(stmt, 1, label ? label : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, now_ms);
    sqlite3_bind_int64(stmt, 3, expires_at);
    sqlite3_bind_blob(stmt, 4, draft, (int) draft_len, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return FX_ERR_STORAGE;
    *id_p = sqlite3_last_insert_rowid(self->db);
    return FX_OK;
}

/* Runs an UPDATE of one outbox row; FX_ERR_NOT_FOUND when no row changed. */
static fx_err_t s_update_one(fx_mailbox_t *self, sqlite3_stmt *stmt)
{
    fx_err_t rc = s_step_done(stmt);
    if (rc == FX_OK && sqlite3_changes(self->db) != 1)
        rc = FX_ERR_NOT_FOUND;
    return rc;
}

static fx_err_t s_outbox_state(fx_mailbox_t *self, int64_t id, fx_outbox_state_t *state_p)
{
    *state_p = 0;
    sqlite3_stmt *stmt = s_prepare(self, "SELECT state FROM outbox WHERE id = ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *state_p = (fx_outbox_state_t) s_state_value(s_outbox_states, 5,
                                                     (const char *) sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (rc == SQLITE_DONE)
        return FX_ERR_NOT_FOUND;
    return rc == SQLITE_ROW ? FX_OK : FX_ERR_STORAGE;
}

fx_err_t fx_mailbox_outbox_seal(fx_mailbox_t *self, int64_t id, const fx_envelope_t *envelope,
                                int64_t now_ms)
{
    if (!envelope)
        return FX_ERR_INVALID;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_envelope_encode(envelope, &data, &len);
    fx_err_t rc = s_begin(self);
    if (rc != FX_OK) {
        free(data);
        return rc;
    }
    fx_outbox_state_t state;
    rc = s_outbox_state(self, id, &state);
    if (rc == FX_OK && state != FX_OUTBOX_QUEUED)
        rc = FX_ERR_EXISTS;
    if (rc == FX_OK) {
        sqlite3_stmt *stmt =
            s_prepare(self, "UPDATE outbox SET state = 'sealed', msg_id = ?2, envelope = ?3, "
                            "updated_at = ?4 WHERE id = ?1 AND state = 'queued'");
        if (stmt) {
            sqlite3_bind_int64(stmt, 1, id);
            sqlite3_bind_blob(stmt, 2, fx_envelope_msg_id(envelope), FX_MSG_ID_BYTES,
                              SQLITE_STATIC);
            sqlite3_bind_blob(stmt, 3, data, (int) len, SQLITE_STATIC);
            sqlite3_bind_int64(stmt, 4, now_ms);
        }
        rc = s_update_one(self, stmt);
    }
    rc = s_end(self, rc);
    free(data);
    return rc;
}

fx_err_t fx_mailbox_outbox_accept(fx_mailbox_t *self, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *stmt =
        s_prepare(self, "UPDATE outbox SET state = 'accepted', draft = NULL, code = '', "
                        "rule = '', reason = '', updated_at = ?2 WHERE id = ?1 AND state = "
                        "'sealed'");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, now_ms);
    }
    return s_update_one(self, stmt);
}

fx_err_t fx_mailbox_outbox_reject(fx_mailbox_t *self, int64_t id, const char *code,
                                  const char *rule, const char *reason, int64_t now_ms)
{
    sqlite3_stmt *stmt =
        s_prepare(self, "UPDATE outbox SET state = 'rejected', draft = NULL, code = ?2, "
                        "rule = ?3, reason = ?4, updated_at = ?5 WHERE id = ?1 AND state IN "
                        "('queued', 'sealed')");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_text(stmt, 2, code ? code : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, rule ? rule : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 4, reason ? reason : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 5, now_ms);
    }
    return s_update_one(self, stmt);
}

fx_err_t fx_mailbox_outbox_requeue(fx_mailbox_t *self, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *stmt =
        s_prepare(self, "UPDATE outbox SET state = 'queued', msg_id = NULL, envelope = NULL, "
                        "updated_at = ?2 WHERE id = ?1 AND state = 'sealed' AND draft IS NOT "
                        "NULL");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, now_ms);
    }
    fx_err_t rc = s_update_one(self, stmt);
    return rc == FX_ERR_NOT_FOUND ? FX_ERR_INVALID : rc;
}

fx_err_t fx_mailbox_outbox_attempt(fx_mailbox_t *self, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *stmt =
        s_prepare(self, "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2 WHERE id = ?1");
    if (stmt) {
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, now_ms);
    }
    return s_update_one(self, stmt);
}

static fx_err_t s_ids(fx_mailbox_t *self, const char *sql, size_t max, int64_t **ids_p,
                      size_t *count_p)
{
    *ids_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = s_prepare(self, sql);
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64) (max > INT32_MAX ? INT32_MAX : max));
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ids = fx_realloc(ids, cap * sizeof *ids);
        }
        ids[n++] = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        free(ids);
        return FX_ERR_STORAGE;
    }
    *ids_p = ids;
    *count_p = n;
    return FX_OK;
}

fx_err_t fx_mailbox_outbox_pending(fx_mailbox_t *self, size_t max, int64_t **ids_p, size_t *count_p)
{
    return s_ids(self,
                 "SELECT id FROM outbox WHERE state IN ('queued', 'sealed') ORDER BY id "
                 "LIMIT ?1",
                 max, ids_p, count_p);
}

fx_err_t fx_mailbox_outbox_list(fx_mailbox_t *self, size_t max, int64_t **ids_p, size_t *count_p)
{
    return s_ids(self, "SELECT id FROM outbox ORDER BY id DESC LIMIT ?1", max, ids_p, count_p);
}

fx_err_t fx_mailbox_outbox_get(fx_mailbox_t *self, int64_t id, fx_outbox_entry_t **entry_p)
{
    *entry_p = NULL;
    sqlite3_stmt *stmt =
        s_prepare(self, "SELECT state, label, created_at, updated_at, expires_at, attempts, "
                        "draft, msg_id, envelope, code, rule, reason FROM outbox WHERE id = ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_int64(stmt, 1, id);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE ? FX_ERR_NOT_FOUND : FX_ERR_STORAGE;
    }
    fx_outbox_entry_t *e = fx_calloc(1, sizeof *e);
    e->id = id;
    e->state = (fx_outbox_state_t) s_state_value(s_outbox_states, 5,
                                                 (const char *) sqlite3_column_text(stmt, 0));
    e->label = s_column_text(stmt, 1);
    e->created_at = sqlite3_column_int64(stmt, 2);
    e->updated_at = sqlite3_column_int64(stmt, 3);
    e->expires_at = sqlite3_column_int64(stmt, 4);
    e->attempts = sqlite3_column_int(stmt, 5);
    e->draft = s_column_blob(stmt, 6, &e->draft_len);
    size_t id_len = 0;
    uint8_t *msg_id = s_column_blob(stmt, 7, &id_len);
    if (msg_id && id_len == FX_MSG_ID_BYTES) {
        memcpy(e->msg_id, msg_id, FX_MSG_ID_BYTES);
        e->has_msg_id = 1;
    }
    free(msg_id);
    e->envelope = s_column_blob(stmt, 8, &e->envelope_len);
    e->code = s_column_text(stmt, 9);
    e->rule = s_column_text(stmt, 10);
    e->reason = s_column_text(stmt, 11);
    sqlite3_finalize(stmt);
    *entry_p = e;
    return FX_OK;
}

void fx_outbox_entry_destroy(fx_outbox_entry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_outbox_entry_t *self = *self_p;
    if (self->draft)
        memset(self->draft, 0, self->draft_len); /* plaintext */
    free(self->draft);
    free(self->label);
    free(self->envelope);
    free(self->code);
    free(self->rule);
    free(self->reason);
    free(self);
    *self_p = NULL;
}

int64_t fx_outbox_entry_id(const fx_outbox_entry_t *self)
{
    return self->id;
}

fx_outbox_state_t fx_outbox_entry_state(const fx_outbox_entry_t *self)
{
    return self->state;
}

const char *fx_outbox_entry_label(const fx_outbox_entry_t *self)
{
    return self->label;
}

int64_t fx_outbox_entry_created_at(const fx_outbox_entry_t *self)
{
    return self->created_at;
}

int64_t fx_outbox_entry_updated_at(const fx_outbox_entry_t *self)
{
    return self->updated_at;
}

int64_t fx_outbox_entry_expires_at(const fx_outbox_entry_t *self)
{
    return self->expires_at;
}

int fx_outbox_entry_attempts(const fx_outbox_entry_t *self)
{
    return self->attempts;
}

const uint8_t *fx_outbox_entry_draft(const fx_outbox_entry_t *self, size_t *len_p)
{
    *len_p = self->draft_len;
    return self->draft;
}

const uint8_t *fx_outbox_entry_envelope(const fx_outbox_entry_t *self, size_t *len_p)
{
    *len_p = self->envelope_len;
    return self->envelope;
}

const uint8_t *fx_outbox_entry_msg_id(const fx_outbox_entry_t *self)
{
    return self->has_msg_id ? self->msg_id : NULL;
}

const char *fx_outbox_entry_code(const fx_outbox_entry_t *self)
{
    return self->code;
}

const char *fx_outbox_entry_rule(const fx_outbox_entry_t *self)
{
    return self->rule;
}

const char *fx_outbox_entry_reason(const fx_outbox_entry_t *self)
{
    return self->reason;
}

/* ---- Inbox ---------------------------------------------------------------------------------- */

static const char *s_word(fx_vocab_t vocab, int value)
{
    const char *word = fx_vocab_name(vocab, value);
    return word ? word : "";
}

fx_err_t fx_mailbox_inbox_store(fx_mailbox_t *self, const fx_envelope_t *envelope,
                                const uint8_t *sender_cert, size_t cert_len, int64_t now_ms,
                                int *is_new_p)
{
    *is_new_p = 0;
    if (!envelope || !sender_cert || cert_len == 0 || cert_len > INT32_MAX)
        return FX_ERR_INVALID;
    const Fusion__Header *h = fx_envelope_header(envelope);
    int tlp = 0;
    for (size_t i = 0; i < fx_envelope_section_count(envelope); i++) {
        const Fusion__SectionDescriptor *d =
            fx_envelope_descriptor(envelope, fx_envelope_section_id(envelope, i));
        if (d && (int) d->tlp > tlp)
            tlp = (int) d->tlp;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    fx_envelope_encode(envelope, &data, &len);
    sqlite3_stmt *stmt =
        s_prepare(self, "INSERT INTO inbox (msg_id, state, received_at, kind, sender, tlp, "
                        "route, urgency, envelope, sender_cert) VALUES (?1, 'new', ?2, ?3, ?4, "
                        "?5, ?6, ?7, ?8, ?9) ON CONFLICT (msg_id) DO NOTHING");
    if (!stmt) {
        free(data);
        return FX_ERR_STORAGE;
    }
    sqlite3_bind_blob(stmt, 1, fx_envelope_msg_id(envelope), FX_MSG_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now_ms);
    sqlite3_bind_text(stmt, 3, s_word(FX_VOCAB_KIND, (int) h->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, h->sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, s_word(FX_VOCAB_TLP, tlp), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, h->route ? h->route : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, s_word(FX_VOCAB_URGENCY, (int) h->urgency), -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 8, data, (int) len, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 9, sender_cert, (int) cert_len, SQLITE_STATIC);
    fx_err_t rc = s_step_done(stmt);
    if (rc == FX_OK)
        *is_new_p = sqlite3_changes(self->db) == 1;
    free(data);
    return rc;
}

fx_err_t fx_mailbox_inbox_mark_read(fx_mailbox_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES])
{
    sqlite3_stmt *stmt = s_prepare(self, "UPDATE inbox SET state = 'read' WHERE msg_id = ?1");
    if (stmt)
        sqlite3_bind_blob(stmt, 1, msg_id, FX_MSG_ID_BYTES, SQLITE_STATIC);
    return s_update_one(self, stmt);
}

fx_err_t fx_mailbox_inbox_count(fx_mailbox_t *self, int state, size_t *count_p)
{
    *count_p = 0;
    sqlite3_stmt *stmt =
        s_prepare(self, "SELECT count(*) FROM inbox WHERE ?1 IS NULL OR state = ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    if (state == FX_INBOX_NEW || state == FX_INBOX_READ)
        sqlite3_bind_text(stmt, 1, s_inbox_states[state], -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *count_p = (size_t) sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? FX_OK : FX_ERR_STORAGE;
}

fx_err_t fx_mailbox_inbox_from(fx_mailbox_t *self, const char *kind, const char *sender, size_t max,
                               uint8_t (**ids_p)[FX_MSG_ID_BYTES], size_t *count_p)
{
    *ids_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt = s_prepare(self, "SELECT msg_id FROM inbox WHERE kind = ?1 AND sender = ?2 "
                                         "ORDER BY received_at DESC LIMIT ?3");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, max > INT64_MAX ? INT64_MAX : (sqlite3_int64) max);
    uint8_t(*ids)[FX_MSG_ID_BYTES] = fx_calloc(max ? max : 1, FX_MSG_ID_BYTES);
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        if (sqlite3_column_bytes(stmt, 0) == FX_MSG_ID_BYTES)
            memcpy(ids[count++], sqlite3_column_blob(stmt, 0), FX_MSG_ID_BYTES);
    sqlite3_finalize(stmt);
    if (count < max && rc != SQLITE_DONE) {
        free(ids);
        return FX_ERR_STORAGE;
    }
    *ids_p = ids;
    *count_p = count;
    return FX_OK;
}

fx_err_t fx_mailbox_inbox_list(fx_mailbox_t *self, size_t max, uint8_t **ids_p, size_t *count_p)
{
    *ids_p = NULL;
    *count_p = 0;
    sqlite3_stmt *stmt =
        s_prepare(self, "SELECT msg_id FROM inbox ORDER BY received_at, msg_id LIMIT ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64) (max > INT32_MAX ? INT32_MAX : max));
    uint8_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(stmt, 0) != FX_MSG_ID_BYTES)
            continue; /* the schema's CHECK makes this impossible */
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ids = fx_realloc(ids, cap * FX_MSG_ID_BYTES);
        }
        memcpy(ids + n * FX_MSG_ID_BYTES, sqlite3_column_blob(stmt, 0), FX_MSG_ID_BYTES);
        n++;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        free(ids);
        return FX_ERR_STORAGE;
    }
    *ids_p = ids;
    *count_p = n;
    return FX_OK;
}

fx_err_t fx_mailbox_inbox_get(fx_mailbox_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES],
                              fx_inbox_entry_t **entry_p)
{
    *entry_p = NULL;
    sqlite3_stmt *stmt =
        s_prepare(self, "SELECT state, received_at, kind, sender, tlp, route, urgency, "
                        "envelope, sender_cert FROM inbox WHERE msg_id = ?1");
    if (!stmt)
        return FX_ERR_STORAGE;
    sqlite3_bind_blob(stmt, 1, msg_id, FX_MSG_ID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(stmt);
        return rc == SQLITE_DONE ? FX_ERR_NOT_FOUND : FX_ERR_STORAGE;
    }
    fx_inbox_entry_t *e = fx_calloc(1, sizeof *e);
    memcpy(e->msg_id, msg_id, FX_MSG_ID_BYTES);
    e->state = (fx_inbox_state_t) s_state_value(s_inbox_states, 3,
                                                (const char *) sqlite3_column_text(stmt, 0));
    e->received_at = sqlite3_column_int64(stmt, 1);
    e->kind = s_column_text(stmt, 2);
    e->sender = s_column_text(stmt, 3);
    e->tlp = s_column_text(stmt, 4);
    e->route = s_column_text(stmt, 5);
    e->urgency = s_column_text(stmt, 6);
    e->envelope = s_column_blob(stmt, 7, &e->envelope_len);
    e->cert = s_column_blob(stmt, 8, &e->cert_len);
    sqlite3_finalize(stmt);
    *entry_p = e;
    return FX_OK;
}

void fx_inbox_entry_destroy(fx_inbox_entry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_inbox_entry_t *self = *self_p;
    free(self->kind);
    free(self->sender);
    free(self->tlp);
    free(self->route);
    free(self->urgency);
    free(self->envelope);
    free(self->cert);
    free(self);
    *self_p = NULL;
}

const uint8_t *fx_inbox_entry_msg_id(const fx_inbox_entry_t *self)
{
    return self->msg_id;
}

fx_inbox_state_t fx_inbox_entry_state(const fx_inbox_entry_t *self)
{
    return self->state;
}

int64_t fx_inbox_entry_received_at(const fx_inbox_entry_t *self)
{
    return self->received_at;
}

const char *fx_inbox_entry_kind(const fx_inbox_entry_t *self)
{
    return self->kind;
}

const char *fx_inbox_entry_sender(const fx_inbox_entry_t *self)
{
    return self->sender;
}

const char *fx_inbox_entry_tlp(const fx_inbox_entry_t *self)
{
    return self->tlp;
}

const char *fx_inbox_entry_route(const fx_inbox_entry_t *self)
{
    return self->route;
}

const char *fx_inbox_entry_urgency(const fx_inbox_entry_t *self)
{
    return self->urgency;
}

const uint8_t *fx_inbox_entry_envelope(const fx_inbox_entry_t *self, size_t *len_p)
{
    *len_p = self->envelope_len;
    return self->envelope;
}

const uint8_t *fx_inbox_entry_sender_cert(const fx_inbox_entry_t *self, size_t *len_p)
{
    *len_p = self->cert_len;
    return self->cert;
}

/* ---- Persistent values ---------------------------------------------------------------------- */

fx_err_t fx_mailbox_crl_sequence(fx_mailbox_t *self, uint64_t *sequence_p)
{
    *sequence_p = 0;
    char *value = NULL;
    fx_err_t rc = s_meta_get(self, "crl_sequence", &value);
    if (rc == FX_OK && value)
        *sequence_p = strtoull(value, NULL, 10);
    free(value);
    return rc;
}

fx_err_t fx_mailbox_set_crl_sequence(fx_mailbox_t *self, uint64_t sequence)
{
    fx_err_t rc = s_begin(self);
    if (rc != FX_OK)
        return rc;
    char *value = NULL;
    rc = s_meta_get(self, "crl_sequence", &value);
    if (rc == FX_OK && (!value || strtoull(value, NULL, 10) < sequence)) {
        char text[32];
        snprintf(text, sizeof text, "%llu", (unsigned long long) sequence);
        rc = s_meta_set(self, "crl_sequence", text);
    }
    free(value);
    return s_end(self, rc);
}
