/* The broker's durable store: one SQLite database (WAL, synchronous=FULL) holding messages (their
 * encrypted envelopes, never content), publish answers, delivery rows, subscriptions, referral
 * state and the append-only audit trail. One thread owns a store; it is not thread-safe.
 *
 * Transactions: the broker groups every PUBLISH that arrived while the previous commit ran into
 * one transaction (fx_store_begin, many writes, fx_store_commit) and sends ACCEPTED only after
 * fx_store_commit returned FX_OK. A write outside a transaction commits on its own.
 *
 * Failure: on any storage error (a failed write, commit or fsync, a full disk, I/O error,
 * corruption, a stored row that does not read back as written) the store rolls back, enters the
 * FAILED state and every later call returns FX_ERR_STORAGE at once: a failed fsync is never
 * retried, because the kernel may have dropped the dirty pages it could not write (PostgreSQL's
 * "fsyncgate"). fx_store_error_text() says why. fx_store_reopen() is the way back, once an
 * operator has fixed the disk. */
#ifndef FUSION_STORE_H
#define FUSION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fusion/keys.h"
#include "fusion/util.h"

#define FX_STORE_SCHEMA_VERSION  1
#define FX_STORE_MSG_ID_BYTES    16
#define FX_STORE_DIGEST_BYTES    32 /* BLAKE2b-256 of the serialized header */
#define FX_STORE_LEAF_HASH_BYTES 32 /* RFC 6962 leaf hash, SHA-256 */
#define FX_STORE_ROOT_HASH_BYTES 32
#define FX_STORE_WHY_SIZE        256
#define FX_STORE_CODE_MAX        64          /* a rejection code, snake_case, with its NUL */
#define FX_STORE_RULE_MAX        128         /* a policy rule id, with its NUL */
#define FX_STORE_REASON_MAX      512         /* a human-readable rejection reason, with its NUL */
#define FX_STORE_PATTERN_MAX     512         /* a route pattern, with its NUL */
#define FX_STORE_EXERCISE_MAX    257         /* an exercise id (at most 256 bytes), with its NUL */
#define FX_STORE_EVENT_MAX       64          /* an audit event kind, with its NUL */
#define FX_STORE_DETAILS_MAX     (64 * 1024) /* an audit entry's details JSON, in bytes */
#define FX_STORE_AUDIT_DOMAIN    "fusion/v1/audit"

typedef struct fx_store fx_store_t;

/* How much integrity checking fx_store_open does on an existing database. */
typedef enum {
    FX_STORE_CHECK_QUICK = 0, /* PRAGMA quick_check: every page and CHECK constraint (default) */
    FX_STORE_CHECK_FULL,      /* PRAGMA integrity_check + foreign_key_check: also every index */
    FX_STORE_CHECK_NONE       /* no check (benchmarks) */
} fx_store_check_t;

/* Open options; a NULL pointer or zeroed fields mean the defaults. */
typedef struct {
    int cache_kib;              /* page cache bound in KiB (default 2048), so memory stays flat */
    int busy_timeout_ms;        /* wait this long for another process's lock (default 5000) */
    fx_store_check_t check;     /* integrity check at open (default quick) */
    int64_t max_page_count;     /* TESTS ONLY: cap the database at this many pages, to simulate a
                                   full disk (SQLITE_FULL); 0: no cap */
    const char *vfs;            /* TESTS ONLY: SQLite VFS name (fault injection); NULL: default */
    bool read_only;             /* open an existing store read-only, write nothing and create
                                   no file beside it (the auditor's tool): as immutable when
                                   no -wal is there, through the -wal and -shm when they are
                                   (a broker running on it); every write returns
                                   FX_ERR_STORAGE */
    bool background_checkpoint; /* copy the write-ahead log back into the database on a thread
                                   of the store's own (the broker), not in the thread that
                                   commits; falls back to the latter if it cannot start */
    int checkpoint_pages;       /* with background_checkpoint: the WAL size in pages that asks for
                                   a checkpoint (default 8000, 32 MiB) */
} fx_store_options_t;

/* Opens (creating on first use, mode 0600) the database at path and runs options->check on it.
 * Refuses a database of a newer or unknown schema version, a database that is not a Fusion store
 * (left untouched), and one that fails the integrity check: FX_ERR_STORAGE with a sentence in
 * why (FX_STORE_WHY_SIZE bytes, may be NULL). A store opened for writing is locked against
 * every other open for writing, in this process or another, until it is destroyed (a second
 * broker on the same database is refused, not left to fail the first one's commits); read-only
 * opens are not locked out. */
fx_err_t fx_store_open(const char *path, const fx_store_options_t *options, fx_store_t **store_p,
                       char *why) FX_WUR;

/* Checks, reading only and creating no file (no journal, no write-ahead log, no -shm), that the
 * database at path is one fx_store_open would take: absent (it is created), empty, or a Fusion
 * store of a schema version this build knows; no integrity check. FX_OK, or FX_ERR_STORAGE with
 * a sentence in why (FX_STORE_WHY_SIZE bytes, may be NULL): not a regular file, unreadable (the
 * system's reason), not an SQLite database, not a Fusion store, a newer schema. For the broker's
 * --check; it opens the file as a read_only store does. */
fx_err_t fx_store_check_file(const char *path, char *why) FX_WUR;

/* Rolls back any open transaction, closes the database and frees the store; sets *self_p to
 * NULL. Accepts NULL. A FAILED store is closed without checkpointing its write-ahead log. */
void fx_store_destroy(fx_store_t **self_p);

/* Closes and reopens the database (discarding an open transaction), runs the FULL integrity
 * check (integrity_check and foreign_key_check), and on success leaves the FAILED state. On
 * failure the store stays FAILED with the reason in fx_store_error_text(). */
fx_err_t fx_store_reopen(fx_store_t *self) FX_WUR;

/* True once a storage error has put the store in the FAILED state. */
bool fx_store_failed(const fx_store_t *self);

/* Why the store failed: SQLite's message and code, or a corrupt row's description, never
 * content. "" when the store has not failed. */
const char *fx_store_error_text(const fx_store_t *self);

/* An audit entry. Never content: codes, rules, agreements and ids go into details (a JSON
 * object built with jansson). The leaf hash is RFC 6962's SHA-256(0x00 || entry bytes), where the
 * entry bytes are, with u32/u64 big-endian and each field as u32 length || bytes:
 *   "fusion/v1/audit" 0x00 || u64 seq || u64 time_ms || event || actor || subject
 *   || msg_id (0 or 16 bytes) || header_digest (0 or 32 bytes) || details
 * seq numbers run 1, 2, 3 ... without gaps, so entry seq is Merkle leaf seq - 1. */
typedef struct {
    int64_t seq;                  /* out: assigned by fx_store_audit_append */
    int64_t time_ms;              /* 0 in fx_store_audit_append: now */
    const char *event;            /* "accepted", "rejected", "delivered", ... (non-empty) */
    const char *actor;            /* who acted (principal id, "broker"), or NULL */
    const char *subject;          /* who or what it concerns (recipient, policy), or NULL */
    const uint8_t *msg_id;        /* NULL or FX_STORE_MSG_ID_BYTES */
    const uint8_t *header_digest; /* NULL or FX_STORE_DIGEST_BYTES */
    const char *details;          /* a JSON object, or NULL for "{}" */
    uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES]; /* out */
    /* In fx_store_audit_append only: the exercise to file an entry under that concerns no
     * stored message (an exercise's subscription), NULL or "" for none. Not part of the entry
     * or its hash; never set by reads. */
    const char *exercise;
} fx_store_audit_entry_t;

/* --- Transactions ----------------------------------------------------------------------- */

/* Starts a write transaction (BEGIN IMMEDIATE). FX_ERR_INVALID if one is already open. */
fx_err_t fx_store_begin(fx_store_t *self) FX_WUR;

/* Commits durably (the WAL is fsynced before this returns FX_OK). On failure the store is
 * FAILED and nothing may be acknowledged. Whether the group is there after fx_store_reopen
 * depends on what reached the disk: all of it or none of it, never part. A PUBLISH retried after
 * that finds its answer (or not) and is answered consistently. */
fx_err_t fx_store_commit(fx_store_t *self) FX_WUR;

/* Abandons the open transaction; nothing it wrote stays. Its result may be ignored on error
 * paths: a rollback that fails leaves the store FAILED, which every later call reports. */
fx_err_t fx_store_rollback(fx_store_t *self);

/* True while a transaction is open. */
bool fx_store_in_transaction(const fx_store_t *self);

/* Marks a savepoint inside the open transaction, so that one PUBLISH of a group can be undone
 * alone (fx_store_savepoint_rollback) or kept (fx_store_savepoint_release). One level only. */
fx_err_t fx_store_savepoint(fx_store_t *self) FX_WUR;
fx_err_t fx_store_savepoint_release(fx_store_t *self) FX_WUR;
fx_err_t fx_store_savepoint_rollback(fx_store_t *self); /* may be ignored, as rollback */

/* --- Messages and publish answers ------------------------------------------------------ */

/* A message as the broker stores it: the signed header's metadata and the encoded envelope. */
typedef struct {
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    const char *sender; /* principal id */
    uint64_t sender_serial;
    int kind;    /* FX_KIND_* */
    int urgency; /* FX_URGENCY_*, or 0 */
    int64_t created_at;
    int64_t expires_at;
    uint8_t header_digest[FX_STORE_DIGEST_BYTES];
    const uint8_t *envelope; /* the encoded envelope, at most FX_MAX_ENVELOPE_BYTES */
    size_t envelope_len;
    const char *exercise; /* "" or NULL for live traffic */
    bool has_in_reply_to;
    uint8_t in_reply_to[FX_STORE_MSG_ID_BYTES];
} fx_store_message_t;

/* Stores a message (copies everything). FX_ERR_EXISTS if its msg_id is stored already,
 * FX_ERR_INVALID or FX_ERR_TOO_LARGE for a bad field. */
fx_err_t fx_store_put_message(fx_store_t *self, const fx_store_message_t *message) FX_WUR;

/* The first answer given to a PUBLISH of a msg_id. */
typedef struct {
    bool accepted;
    char code[FX_STORE_CODE_MAX];     /* rejection code ("" when accepted) */
    char reason[FX_STORE_REASON_MAX]; /* rejection reason ("" when accepted) */
    char rule[FX_STORE_RULE_MAX];     /* the policy rule that decided, or "" */
    int64_t expires_at;               /* remembered until then */
    char sender[FX_ID_MAX];           /* the principal it was given to ("" in a row from before
                                         answers had a sender) */
} fx_store_answer_t;

/* Remembers the answer to the first PUBLISH of msg_id until expires_at. FX_ERR_EXISTS if an
 * answer is stored already (the first one stays). FX_ERR_INVALID for an over-long field. */
fx_err_t fx_store_put_answer(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                             const fx_store_answer_t *answer) FX_WUR;

/* Finds the stored answer for msg_id (sees the open transaction's writes too): FX_OK and
 * *answer filled (with the principal it was given to: the broker gives it again to that
 * principal only), or FX_ERR_NOT_FOUND. A stored message counts as an accepted answer (until it
 * is pruned at its expiry, as answers are), so the broker writes no answer row for it. */
fx_err_t fx_store_find_answer(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                              fx_store_answer_t *answer) FX_WUR;

/* --- Deliveries ------------------------------------------------------------------------- */

typedef enum {
    FX_DELIVERY_PENDING = 0,  /* waiting to be sent */
    FX_DELIVERY_SENT = 1,     /* DELIVER sent, RECEIVED not yet back */
    FX_DELIVERY_RECEIVED = 2, /* the recipient committed it */
} fx_delivery_state_t;

/* One pending delivery with its message, as fx_store_pending_list returns it. */
typedef struct {
    int64_t seq; /* the recipient's order: deliveries are listed by increasing seq */
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    uint8_t header_digest[FX_STORE_DIGEST_BYTES];
    char sender[FX_ID_MAX];
    uint64_t sender_serial;
    int kind;
    int64_t expires_at;
    int attempts;      /* DELIVERs sent so far */
    uint8_t *envelope; /* owned by the list */
    size_t envelope_len;
} fx_store_pending_t;

/* Adds a pending delivery of a stored message to recipient, after every delivery added before
 * (its order). Adding the same pair twice keeps the first. FX_ERR_NOT_FOUND for an unknown
 * msg_id. */
fx_err_t fx_store_delivery_add(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                               const char *recipient) FX_WUR;

/* Lists up to limit PENDING deliveries of recipient, oldest first, leaving out expired messages
 * (expires_at <= now_ms). The caller frees the list with fx_store_pending_free. Each envelope is
 * checked against the hash stored with it: a corrupt row is FX_ERR_STORAGE. */
fx_err_t fx_store_pending_list(fx_store_t *self, const char *recipient, int64_t now_ms,
                               size_t limit, fx_store_pending_t **list_p, size_t *count_p) FX_WUR;

/* Reads one stored message (expired or not, until it is pruned) with its envelope, checked
 * against its stored hash, as a list of one (seq and attempts 0) that the caller frees with
 * fx_store_pending_free(message_p, 1). FX_OK, or FX_ERR_NOT_FOUND. */
fx_err_t fx_store_message_get(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                              fx_store_pending_t **message_p) FX_WUR;

/* The msg_id of the first stored message of kind (an fx_kind value) that answers in_reply_to
 * (its in_reply_to), until it is pruned: FX_OK, or FX_ERR_NOT_FOUND. */
fx_err_t fx_store_reply_find(fx_store_t *self, const uint8_t in_reply_to[FX_STORE_MSG_ID_BYTES],
                             int kind, uint8_t msg_id[FX_STORE_MSG_ID_BYTES]) FX_WUR;

/* Frees a list from fx_store_pending_list and sets *list_p to NULL. Accepts NULL. */
void fx_store_pending_free(fx_store_pending_t **list_p, size_t count);

/* Records that the DELIVER of delivery seq (fx_store_pending_t.seq) went out at now_ms: PENDING
 * or SENT -> SENT, attempts + 1. A RECEIVED delivery is left alone. FX_ERR_NOT_FOUND if there is
 * no such delivery. With entry (NULL for none), also appends that audit entry, as
 * fx_store_audit_append does, if the delivery changed, and files it under the delivery: the
 * entries of a message are found through its deliveries as well as through their own index
 * (fx_store_audit_of_message), and an entry filed so costs no write to an index. */
fx_err_t fx_store_delivery_sent(fx_store_t *self, int64_t seq, int64_t now_ms,
                                const fx_store_audit_entry_t *entry) FX_WUR;

/* Records a RECEIVED (idempotent): *changed_p tells whether the delivery was not RECEIVED before.
 * FX_ERR_NOT_FOUND if there is no such delivery (pruned, or never addressed to recipient). With
 * entry, also appends it if the delivery changed, filed under the delivery (as above). */
fx_err_t fx_store_delivery_received(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                    const char *recipient, const fx_store_audit_entry_t *entry,
                                    bool *changed_p) FX_WUR;

/* As fx_store_delivery_received for the delivery seq (fx_store_pending_t.seq) of recipient,
 * found by its row id instead of through the msg_id index, whose pages are random. FX_OK if it
 * changed to RECEIVED; FX_ERR_NOT_FOUND if it did not, being RECEIVED already or no delivery of
 * recipient (fx_store_delivery_received tells the two apart). */
fx_err_t fx_store_delivery_received_seq(fx_store_t *self, int64_t seq, const char *recipient,
                                        const fx_store_audit_entry_t *entry) FX_WUR;

/* Puts recipient's SENT deliveries last sent before sent_before_ms back to PENDING: all of them
 * on a reconnect (sent_before_ms = now), or those unacknowledged for too long (now - retry).
 * *count_p (may be NULL) gets how many. */
fx_err_t fx_store_delivery_reset(fx_store_t *self, const char *recipient, int64_t sent_before_ms,
                                 size_t *count_p) FX_WUR;

/* The state of one delivery: FX_OK, or FX_ERR_NOT_FOUND. Each out parameter may be NULL;
 * header_digest gets its message's (for the audit entry that records a change of it). */
fx_err_t fx_store_delivery_state(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                 const char *recipient, fx_delivery_state_t *state_p,
                                 int *attempts_p,
                                 uint8_t header_digest[FX_STORE_DIGEST_BYTES]) FX_WUR;

/* How many deliveries are not RECEIVED yet (PENDING or SENT, expired ones until pruned), for
 * recipient or, with recipient NULL, for everyone. */
fx_err_t fx_store_pending_count(fx_store_t *self, const char *recipient, size_t *count_p) FX_WUR;

/* When the oldest delivery not RECEIVED yet was queued (ms since the epoch), or 0 if none. */
fx_err_t fx_store_oldest_pending(fx_store_t *self, int64_t *queued_at_p) FX_WUR;

/* --- Subscriptions ---------------------------------------------------------------------- */

typedef struct {
    int64_t id; /* stable row id: the key in the broker's route index */
    char principal[FX_ID_MAX];
    char pattern[FX_STORE_PATTERN_MAX];
    uint32_t stages; /* bit mask of FX_STAGE_* (bit v for value v); 0: every stage */
    uint32_t kinds;  /* bit mask of FX_KIND_*; 0: every kind */
    char exercise[FX_STORE_EXERCISE_MAX];
    int64_t created_at;
} fx_store_subscription_t;

/* Adds or updates (stages, kinds) the subscription of principal to pattern in exercise ("" or
 * NULL for live traffic); *id_p (may be NULL) gets its id, unchanged by an update. */
fx_err_t fx_store_subscription_add(fx_store_t *self, const char *principal, const char *pattern,
                                   uint32_t stages, uint32_t kinds, const char *exercise,
                                   int64_t *id_p) FX_WUR;

/* Removes a subscription; *id_p (may be NULL) gets the id it had. FX_ERR_NOT_FOUND if none. */
fx_err_t fx_store_subscription_remove(fx_store_t *self, const char *principal, const char *pattern,
                                      const char *exercise, int64_t *id_p) FX_WUR;

/* Called once per subscription; return 0 to go on, anything else to stop. It must not call the
 * store (such calls return FX_ERR_INVALID). */
typedef int (*fx_store_subscription_fn)(const fx_store_subscription_t *subscription, void *arg);

/* Calls fn for every subscription of principal, or of everyone if principal is NULL, in id
 * order. */
fx_err_t fx_store_subscription_each(fx_store_t *self, const char *principal,
                                    fx_store_subscription_fn fn, void *arg) FX_WUR;

/* --- Referrals -------------------------------------------------------------------------- */

typedef enum {
    FX_REFERRAL_SENT = 1,
    FX_REFERRAL_DELIVERED,
    FX_REFERRAL_ACKNOWLEDGED,
    FX_REFERRAL_ACCEPTED,
    FX_REFERRAL_DECLINED,
    FX_REFERRAL_NEED_INFO,
    FX_REFERRAL_CLOSED,
} fx_referral_state_t;

/* A referral to one recipient agency; unacknowledged while SENT or DELIVERED. */
typedef struct {
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    char sender[FX_ID_MAX];
    char agency[FX_ID_MAX]; /* COUNTRY.AGENCY */
    int urgency;
    fx_referral_state_t state;
    int64_t deadline; /* ms; an answer is due by then */
    bool escalated;
    char exercise[FX_STORE_EXERCISE_MAX]; /* the referral's exercise; "" for live traffic */
} fx_store_referral_t;

/* The lower-case name of a referral state ("need_info"), or NULL. */
const char *fx_referral_state_name(fx_referral_state_t state);

/* Starts tracking a referral (its state, deadline, escalated as given). FX_ERR_EXISTS if the
 * (msg_id, agency) pair is tracked already. */
fx_err_t fx_store_referral_add(fx_store_t *self, const fx_store_referral_t *referral) FX_WUR;

/* Sets a referral's state. FX_ERR_NOT_FOUND if it is not tracked. */
fx_err_t fx_store_referral_set_state(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                     const char *agency, fx_referral_state_t state) FX_WUR;

/* Marks a referral escalated, so fx_store_referrals_overdue no longer lists it. */
fx_err_t fx_store_referral_set_escalated(fx_store_t *self,
                                         const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                         const char *agency) FX_WUR;

/* Reads one referral: FX_OK or FX_ERR_NOT_FOUND. */
fx_err_t fx_store_referral_get(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                               const char *agency, fx_store_referral_t *referral) FX_WUR;

/* Whether a listed referral is kept (fx_store_referrals_list); arg is the caller's. */
typedef bool (*fx_store_referral_keep_fn)(const fx_store_referral_t *referral, void *arg);

/* Lists up to limit referrals that sender sent or that were sent to agency (each may be ""),
 * into a new array (caller frees with free()): first those awaiting an answer (sent,
 * delivered), the nearest deadline first; then the other open ones (acknowledged, accepted,
 * need_info), then the declined and closed ones, each most recently changed first. So a flood
 * of answered or closed referrals never pushes an open one out of a limited list. With keep
 * (else NULL), only those it keeps, up to limit of them. */
fx_err_t fx_store_referrals_list(fx_store_t *self, const char *sender, const char *agency,
                                 fx_store_referral_keep_fn keep, void *arg, size_t limit,
                                 fx_store_referral_t **list_p, size_t *count_p) FX_WUR;

/* Lists up to limit unacknowledged, not yet escalated referrals whose deadline <= now_ms,
 * earliest deadline first, into a new array (caller frees with free()). */
fx_err_t fx_store_referrals_overdue(fx_store_t *self, int64_t now_ms, size_t limit,
                                    fx_store_referral_t **list_p, size_t *count_p) FX_WUR;

/* --- Audit trail ------------------------------------------------------------------------ */

/* (fx_store_audit_entry_t is above: deliveries append entries too.) */

/* Computes an entry's leaf hash from its fields (seq, time_ms, event ... details). */
void fx_store_audit_leaf_hash(const fx_store_audit_entry_t *entry,
                              uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES]);

/* Appends an entry, in the caller's transaction (the one that writes the state it records).
 * *seq_p and leaf_hash (each may be NULL) get the entry's seq and leaf hash. FX_ERR_INVALID for
 * an empty event, an over-long field or details that are not a JSON object. */
fx_err_t fx_store_audit_append(fx_store_t *self, const fx_store_audit_entry_t *entry,
                               int64_t *seq_p, uint8_t leaf_hash[FX_STORE_LEAF_HASH_BYTES]) FX_WUR;

/* The number of audit entries (the Merkle tree's size). */
fx_err_t fx_store_audit_count(fx_store_t *self, int64_t *count_p) FX_WUR;

/* Called once per entry (pointers valid during the call only); return 0 to go on, anything else
 * to stop. It must not call the store (such calls return FX_ERR_INVALID). */
typedef int (*fx_store_audit_fn)(const fx_store_audit_entry_t *entry, void *arg);

/* Calls fn for each entry with seq >= from_seq in seq order, with the leaf hash as stored (the
 * verifier recomputes it with fx_store_audit_leaf_hash). A row that cannot be an entry (a field
 * of the wrong type or length) is FX_ERR_STORAGE naming its seq. */
fx_err_t fx_store_audit_each(fx_store_t *self, int64_t from_seq, fx_store_audit_fn fn,
                             void *arg) FX_WUR;

/* Calls fn for each entry of the stored message msg_id in seq order (as fx_store_audit_each),
 * through an index, and the rejected entries of msg_id (a rejected message is never stored):
 * nothing for a message that was pruned at its expiry. fx_store_audit_each reads the whole trail
 * for those. */
fx_err_t fx_store_audit_of_message(fx_store_t *self, const uint8_t msg_id[FX_STORE_MSG_ID_BYTES],
                                   fx_store_audit_fn fn, void *arg) FX_WUR;

/* Calls fn for up to limit entries with seq > after_seq that concern the exercise (non-empty),
 * in seq order: the entries of its stored messages (messages.exercise; a message pruned at its
 * expiry takes its entries out of this view, not out of the trail) and those appended with
 * entry->exercise set. Never an entry of live traffic or of another exercise. Walks indexes:
 * the exercise's messages, then each one's entries, never the whole trail. FX_ERR_NOT_FOUND
 * only for a store opened read-only that was never opened writable by a build with this query. */
fx_err_t fx_store_audit_of_exercise(fx_store_t *self, const char *exercise, int64_t after_seq,
                                    size_t limit, fx_store_audit_fn fn, void *arg) FX_WUR;

/* The lowest audit row numbered below 1. Entries run from 1 without gaps and no append writes
 * another number, so such a row was inserted behind the store's back (the Merkle tree of entries
 * 1.. never reads it). FX_OK with its seq in *seq_p and its event in event; FX_ERR_NOT_FOUND when
 * there is none. Reads only. */
fx_err_t fx_store_audit_stray(fx_store_t *self, int64_t *seq_p,
                              char event[FX_STORE_EVENT_MAX]) FX_WUR;

/* Checks the links that file entries under a stored message (audit.message,
 * deliveries.delivered_entry and received_entry) of the entries from seq from_seq on (INT64_MIN:
 * all). They are an index, not part of any entry's hash: each must name an entry whose hashed
 * msg_id is that message's (and for a delivery, the delivered or received entry of its
 * recipient). FX_OK with *seq_p 0 when they all do; otherwise FX_OK with *seq_p > 0 and why
 * naming the first link that does not. Does not find an entry that no link names.
 * FX_ERR_NOT_FOUND for a store opened read-only that predates the links. */
fx_err_t fx_store_audit_links_check(fx_store_t *self, int64_t from_seq, int64_t *seq_p,
                                    char why[FX_STORE_WHY_SIZE]) FX_WUR;

/* Checks one entry of the trail read in seq order, as fusion-admin audit verify and the broker's
 * start (fx_store_audit_check_from) do: that it is numbered expected (a row numbered below 1 is
 * not an entry of the trail; another number means entries were deleted) and that its fields
 * hash to its stored leaf hash. true if it holds; otherwise false with a sentence in why
 * (why_size bytes) naming the entry. */
bool fx_store_audit_entry_check(const fx_store_audit_entry_t *entry, int64_t expected, char *why,
                                size_t why_size);

/* Checks the entries from seq from_seq (at least 1) on, as fusion-admin audit verify does: each
 * with fx_store_audit_entry_check, then the links of those entries
 * (fx_store_audit_links_check). The broker checks the entries after its latest signed
 * checkpoint so at start, before its next checkpoint signs over them. FX_OK with *seq_p 0 when
 * they hold; FX_OK with *seq_p the entry (or link) that does not and why; FX_ERR_STORAGE when
 * they cannot be read. Reads only those entries (through the primary key) and the deliveries. */
fx_err_t fx_store_audit_check_from(fx_store_t *self, int64_t from_seq, int64_t *seq_p,
                                   char why[FX_STORE_WHY_SIZE]) FX_WUR;

/* Reads the stored leaf hashes of up to max entries from seq from_seq on, in seq order, into
 * leaves; *count_p gets how many. A gap in the seq numbers is FX_ERR_STORAGE naming the missing
 * seq (the trail was tampered with). */
fx_err_t fx_store_audit_leaves(fx_store_t *self, int64_t from_seq, size_t max,
                               uint8_t (*leaves)[FX_STORE_LEAF_HASH_BYTES], size_t *count_p) FX_WUR;

#define FX_STORE_CHECKPOINT_BODY_MAX 512

/* A signed checkpoint of the audit tree: the exact signed body bytes (a CheckpointBody, see
 * docs/audit.md) and the broker's signature over them, with the body's size, root and time
 * copied out for queries. */
typedef struct {
    int64_t tree_size;
    uint8_t root_hash[FX_STORE_ROOT_HASH_BYTES];
    int64_t time_ms;
    uint8_t signature[FX_SIGNATURE_BYTES];
    uint8_t body[FX_STORE_CHECKPOINT_BODY_MAX];
    size_t body_len; /* 1 .. FX_STORE_CHECKPOINT_BODY_MAX */
} fx_store_checkpoint_t;

/* Stores a checkpoint. FX_ERR_EXISTS if one of that tree size is stored, FX_ERR_INVALID for a
 * body of a bad length. */
fx_err_t fx_store_checkpoint_put(fx_store_t *self, const fx_store_checkpoint_t *checkpoint) FX_WUR;

/* The checkpoint of the largest tree size: FX_OK, or FX_ERR_NOT_FOUND if there is none. */
fx_err_t fx_store_checkpoint_latest(fx_store_t *self, fx_store_checkpoint_t *checkpoint) FX_WUR;

/* Called once per checkpoint; return 0 to go on. It must not call the store. */
typedef int (*fx_store_checkpoint_fn)(const fx_store_checkpoint_t *checkpoint, void *arg);

/* Calls fn for every checkpoint in tree size order. A row that cannot be a checkpoint is
 * FX_ERR_STORAGE naming its tree size. */
fx_err_t fx_store_checkpoint_each(fx_store_t *self, fx_store_checkpoint_fn fn, void *arg) FX_WUR;

/* --- Housekeeping ----------------------------------------------------------------------- */

/* Deletes messages with expires_at <= now_ms, with their deliveries, and expired answers, in
 * transactions of a few hundred rows so no transaction is long; never audit entries. Deletes at
 * most max_messages messages (0: all). *pruned_p (may be NULL) gets how many messages went.
 * FX_ERR_INVALID inside a transaction. */
fx_err_t fx_store_prune(fx_store_t *self, int64_t now_ms, size_t max_messages,
                        size_t *pruned_p) FX_WUR;

/* Figures for metrics. Counting is linear in the rows: call from a timer, not per message. */
typedef struct {
    int64_t messages;
    int64_t pending_deliveries; /* not RECEIVED yet */
    int64_t answers;
    int64_t subscriptions;
    int64_t referrals_open; /* unacknowledged */
    int64_t audit_entries;
    int64_t oldest_pending_at;       /* ms, 0 if nothing is pending */
    int64_t wal_checkpoints;         /* by the checkpointer thread (options.background_checkpoint),
                                        and the committing thread's catch-ups with it */
    int64_t wal_checkpoint_failures; /* of those, failed (retried at the next request) */
} fx_store_stats_t;

/* Fills *stats. */
fx_err_t fx_store_stats(fx_store_t *self, fx_store_stats_t *stats) FX_WUR;

#endif
