/* An agent's local mailbox: one SQLite database (WAL, synchronous=FULL, mode 0600) with the
 * OUTBOX, where a message waits until the broker accepts or rejects it, and the INBOX of received
 * messages, deduplicated by msg_id. Nothing is acknowledged or published before it is committed. */
#ifndef FUSION_MAILBOX_H
#define FUSION_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/envelope.h"
#include "fusion/util.h"

#define FX_MAILBOX_FILE "mailbox.db" /* inside the agent's state directory */

typedef struct fx_mailbox fx_mailbox_t;
typedef struct fx_outbox_entry fx_outbox_entry_t;
typedef struct fx_inbox_entry fx_inbox_entry_t;

/* The life of an outbox entry: queued (a draft, not yet prepared) -> sealed (the envelope is
 * stored; every retry sends these exact bytes, so the broker answers idempotently) -> accepted or
 * rejected. A sealed entry the broker refused as stale (it never stored it) may go back to
 * queued to be prepared and sealed again. */
typedef enum {
    FX_OUTBOX_QUEUED = 1,
    FX_OUTBOX_SEALED,
    FX_OUTBOX_ACCEPTED,
    FX_OUTBOX_REJECTED
} fx_outbox_state_t;

typedef enum { FX_INBOX_NEW = 1, FX_INBOX_READ } fx_inbox_state_t;

/* The word of a state ("queued", "sealed", "accepted", "rejected"; "new", "read"). */
const char *fx_outbox_state_name(fx_outbox_state_t state);
const char *fx_inbox_state_name(fx_inbox_state_t state);

/* Opens (creating it and its directory if needed) the mailbox of principal_id in state_dir.
 * A database made for another principal is refused (FX_ERR_INVALID); one that group or others
 * can read is refused (FX_ERR_KEY_PERMISSIONS: it holds plaintext drafts and messages).
 * FX_ERR_STORAGE when SQLite fails. *mailbox_p is new. */
fx_err_t fx_mailbox_open(const char *state_dir, const char *principal_id,
                         fx_mailbox_t **mailbox_p) FX_WUR;

/* Closes the database; sets *self_p to NULL. Accepts NULL. */
void fx_mailbox_destroy(fx_mailbox_t **self_p);

/* The database file's path. */
const char *fx_mailbox_path(const fx_mailbox_t *self);

/* ---- Outbox */

/* Queues a draft: draft is its serialized form (fx_draft_serialize), label a name to show (the
 * draft's file name), expires_at when it is no longer worth sending (ms). *id_p receives the
 * entry's id (increasing with age). */
fx_err_t fx_mailbox_outbox_add(fx_mailbox_t *self, const uint8_t *draft, size_t draft_len,
                               const char *label, int64_t expires_at, int64_t now_ms,
                               int64_t *id_p) FX_WUR;

/* Stores the sealed envelope of a queued entry and makes it sealed, in one transaction.
 * FX_ERR_EXISTS when the entry was no longer queued (another process sealed it first: use the
 * stored envelope instead); FX_ERR_NOT_FOUND for no such entry. */
fx_err_t fx_mailbox_outbox_seal(fx_mailbox_t *self, int64_t id, const fx_envelope_t *envelope,
                                int64_t now_ms) FX_WUR;

/* Records the broker's ACCEPTED for a sealed entry (and forgets the draft's plaintext). */
fx_err_t fx_mailbox_outbox_accept(fx_mailbox_t *self, int64_t id, int64_t now_ms) FX_WUR;

/* Records a final refusal (the broker's REJECTED, or a local one such as an expired draft or no
 * allowed recipient) with code, rule and reason (NULL for none), and forgets the plaintext. */
fx_err_t fx_mailbox_outbox_reject(fx_mailbox_t *self, int64_t id, const char *code,
                                  const char *rule, const char *reason, int64_t now_ms) FX_WUR;

/* Returns a sealed entry to queued, dropping its envelope (for a broker answer `stale`: the
 * broker stored nothing under that msg_id). FX_ERR_INVALID without a draft to seal again. */
fx_err_t fx_mailbox_outbox_requeue(fx_mailbox_t *self, int64_t id, int64_t now_ms) FX_WUR;

/* Counts an attempt to send an entry (shown in listings). */
fx_err_t fx_mailbox_outbox_attempt(fx_mailbox_t *self, int64_t id, int64_t now_ms) FX_WUR;

/* The ids of the entries still to send (queued or sealed), oldest first, at most max of them.
 * *ids_p is a new array of *count_p ids (caller frees). */
fx_err_t fx_mailbox_outbox_pending(fx_mailbox_t *self, size_t max, int64_t **ids_p,
                                   size_t *count_p) FX_WUR;

/* Every entry's id, newest first, at most max (for listings). */
fx_err_t fx_mailbox_outbox_list(fx_mailbox_t *self, size_t max, int64_t **ids_p,
                                size_t *count_p) FX_WUR;

/* Reads one entry. FX_ERR_NOT_FOUND for no such entry. *entry_p is new. */
fx_err_t fx_mailbox_outbox_get(fx_mailbox_t *self, int64_t id, fx_outbox_entry_t **entry_p) FX_WUR;

void fx_outbox_entry_destroy(fx_outbox_entry_t **self_p);
int64_t fx_outbox_entry_id(const fx_outbox_entry_t *self);
fx_outbox_state_t fx_outbox_entry_state(const fx_outbox_entry_t *self);
const char *fx_outbox_entry_label(const fx_outbox_entry_t *self);
int64_t fx_outbox_entry_created_at(const fx_outbox_entry_t *self);
int64_t fx_outbox_entry_updated_at(const fx_outbox_entry_t *self);
int64_t fx_outbox_entry_expires_at(const fx_outbox_entry_t *self);
int fx_outbox_entry_attempts(const fx_outbox_entry_t *self);
/* The serialized draft (NULL once accepted or rejected). */
const uint8_t *fx_outbox_entry_draft(const fx_outbox_entry_t *self, size_t *len_p);
/* The sealed envelope bytes and its msg_id (NULL while queued). */
const uint8_t *fx_outbox_entry_envelope(const fx_outbox_entry_t *self, size_t *len_p);
const uint8_t *fx_outbox_entry_msg_id(const fx_outbox_entry_t *self);
/* A refusal's code, rule and reason ("" when none). */
const char *fx_outbox_entry_code(const fx_outbox_entry_t *self);
const char *fx_outbox_entry_rule(const fx_outbox_entry_t *self);
const char *fx_outbox_entry_reason(const fx_outbox_entry_t *self);

/* ---- Inbox */

/* Commits a received, verified envelope with its sender's certificate bytes, unless its msg_id
 * is already in the inbox. *is_new_p is 1 when stored now, 0 for a duplicate. Call before
 * acknowledging it. */
fx_err_t fx_mailbox_inbox_store(fx_mailbox_t *self, const fx_envelope_t *envelope,
                                const uint8_t *sender_cert, size_t cert_len, int64_t now_ms,
                                int *is_new_p) FX_WUR;

/* Marks a message read. FX_ERR_NOT_FOUND for no such message. */
fx_err_t fx_mailbox_inbox_mark_read(fx_mailbox_t *self,
                                    const uint8_t msg_id[FX_MSG_ID_BYTES]) FX_WUR;

/* The number of messages, in one state or (state 0) all. */
fx_err_t fx_mailbox_inbox_count(fx_mailbox_t *self, int state, size_t *count_p) FX_WUR;

/* The msg_ids of the messages, oldest received first, at most max: *ids_p is a new array of
 * *count_p ids of FX_MSG_ID_BYTES each, back to back (caller frees). */
fx_err_t fx_mailbox_inbox_list(fx_mailbox_t *self, size_t max, uint8_t **ids_p,
                               size_t *count_p) FX_WUR;

/* Reads one message. FX_ERR_NOT_FOUND for no such message. *entry_p is new. */
fx_err_t fx_mailbox_inbox_get(fx_mailbox_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES],
                              fx_inbox_entry_t **entry_p) FX_WUR;

void fx_inbox_entry_destroy(fx_inbox_entry_t **self_p);
const uint8_t *fx_inbox_entry_msg_id(const fx_inbox_entry_t *self);
fx_inbox_state_t fx_inbox_entry_state(const fx_inbox_entry_t *self);
int64_t fx_inbox_entry_received_at(const fx_inbox_entry_t *self);
/* The header's kind, sender, route, urgency, and the highest TLP of the sections received, as
 * words ("" when absent). */
const char *fx_inbox_entry_kind(const fx_inbox_entry_t *self);
const char *fx_inbox_entry_sender(const fx_inbox_entry_t *self);
const char *fx_inbox_entry_tlp(const fx_inbox_entry_t *self);
const char *fx_inbox_entry_route(const fx_inbox_entry_t *self);
const char *fx_inbox_entry_urgency(const fx_inbox_entry_t *self);
/* The envelope copy and the sender certificate as received. */
const uint8_t *fx_inbox_entry_envelope(const fx_inbox_entry_t *self, size_t *len_p);
const uint8_t *fx_inbox_entry_sender_cert(const fx_inbox_entry_t *self, size_t *len_p);

/* The msg_ids of the inbox messages of one kind ("reshare_grant") from one sender, newest
 * first, at most max. *ids_p is a new array of *count_p msg_ids (caller frees). */
fx_err_t fx_mailbox_inbox_from(fx_mailbox_t *self, const char *kind, const char *sender, size_t max,
                               uint8_t (**ids_p)[FX_MSG_ID_BYTES], size_t *count_p) FX_WUR;

/* ---- Small persistent values */

/* The highest revocation-list sequence seen from the broker (0 if none), to refuse rollbacks. */
fx_err_t fx_mailbox_crl_sequence(fx_mailbox_t *self, uint64_t *sequence_p) FX_WUR;
/* Raises the stored sequence to sequence (a lower one is ignored). */
fx_err_t fx_mailbox_set_crl_sequence(fx_mailbox_t *self, uint64_t sequence) FX_WUR;

#endif
