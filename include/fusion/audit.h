/* Signed checkpoints of the audit trail's Merkle tree, and the checks an agency or an auditor
 * runs on what the broker hands out: a checkpoint is the broker's Ed25519 signature over
 * "fusion/v1/checkpoint\0" followed by a serialized CheckpointBody (docs/audit.md). Every check
 * works on the exact bytes received. */
#ifndef FUSION_AUDIT_H
#define FUSION_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fusion.pb-c.h"
#include "fusion/keys.h"
#include "fusion/merkle.h"
#include "fusion/store.h"
#include "fusion/util.h"

#define FX_AUDIT_CHECKPOINT_VERSION 1

/* What a checkpoint's signed body says. */
typedef struct {
    char broker[FX_ID_MAX];
    uint64_t tree_size;
    uint8_t root_hash[FX_MERKLE_HASH_BYTES];
    uint64_t time_ms;
} fx_audit_checkpoint_t;

/* Builds and signs the checkpoint of a tree of tree_size entries with root root_hash at time_ms
 * with the broker's keys, into *out (body, signature and the copied-out fields). */
void fx_audit_checkpoint_sign(const fx_keys_t *broker, uint64_t tree_size,
                              const uint8_t root_hash[FX_MERKLE_HASH_BYTES], int64_t time_ms,
                              fx_store_checkpoint_t *out);

/* Verifies a checkpoint's signature over the exact body bytes with the pinned broker key, then
 * decodes the body: version 1, a 32-byte root, the body's own broker_key equal to the pinned
 * one. FX_ERR_BAD_SIGNATURE, FX_ERR_MALFORMED (or the codec's errors), FX_ERR_UNTRUSTED (another
 * key in the body). *out (may be NULL) gets the body's fields. */
fx_err_t fx_audit_checkpoint_verify(const uint8_t *body, size_t body_len, const uint8_t *signature,
                                    size_t signature_len, const uint8_t broker_key[FX_KEY_BYTES],
                                    fx_audit_checkpoint_t *out) FX_WUR;

/* What allowed one section of a message to one recipient (strings owned by the caller). */
typedef struct {
    const char *recipient;
    uint32_t section;
    const char *rule;      /* the allowing rule, or NULL */
    const char *agreement; /* the agreement it relied on, or NULL */
} fx_audit_allowance_t;

/* The details of a message's "accepted" audit entry: {allowed: [{recipient, sections: [{agreement,
 * rule, section}]}], denied: [{recipient, sections}], kind, recipients (how many allowed),
 * sections (how many)}. allowed holds n_allowed allowances, those of one recipient next to each
 * other (one item each); denied holds n_denied items, each the text of one JSON object, written
 * as given. When the lists make the text longer than budget bytes they continue in the details
 * of "recipients" entries, {allowed, denied}, each within budget (an item longer than budget
 * still goes in, alone). Returns a new NULL-terminated array of texts (the first the accepted
 * entry's), freed by fx_audit_details_free. */
char **fx_audit_accepted_details(const char *kind, size_t sections,
                                 const fx_audit_allowance_t *allowed, size_t n_allowed,
                                 const char *const *denied, size_t n_denied, size_t budget);
void fx_audit_details_free(char **texts);

/* Verifies a receipt (a Receipt frame body) for msg_id, as a principal of its sender's agency,
 * offline: the checkpoint is signed by the pinned broker key for broker_id; every entry is about
 * msg_id, numbered in increasing order, hashes (fx_store_audit_leaf_hash) to a leaf whose
 * inclusion proof leads to the checkpoint's root at its tree size; the message's accepted or
 * rejected entry names a principal of the agency of sender (a principal id, or COUNTRY.AGENCY:
 * DESIGN.md, an agency checks the receipts of its own messages);
 * and an accepted message lists as many allowed recipients (in its accepted entry and any
 * "recipients" entries continuing it) as it says it has. On FX_OK
 * *checkpoint gets the checkpoint and *entries_p (may be NULL) a new JSON array of the entries
 * ({seq, time_ms, event, actor, subject, details}). Otherwise why (why_size bytes) says which
 * entry or what does not hold: FX_ERR_BAD_SIGNATURE or FX_ERR_UNTRUSTED for the checkpoint,
 * FX_ERR_BAD_HASH for an entry not in the signed tree, FX_ERR_MALFORMED or FX_ERR_INVALID for
 * a receipt that is not one of this message or sender. */
struct json_t;
fx_err_t fx_audit_receipt_verify(const Fusion__Receipt *receipt, const uint8_t msg_id[16],
                                 const uint8_t broker_key[FX_KEY_BYTES], const char *broker_id,
                                 const char *sender, fx_audit_checkpoint_t *checkpoint,
                                 struct json_t **entries_p, char *why, size_t why_size) FX_WUR;

/* Verifies a Consistency answer against the checkpoint the auditor kept (old: its tree size and
 * root): the new checkpoint is signed by the pinned broker key, is not smaller or older, and the
 * proof shows the old tree is a prefix of the new one. FX_OK with *latest filled; otherwise why
 * says what does not hold (FX_ERR_BAD_HASH: the history was rewritten). */
fx_err_t fx_audit_consistency_verify(const Fusion__Consistency *consistency,
                                     const fx_audit_checkpoint_t *old,
                                     const uint8_t broker_key[FX_KEY_BYTES],
                                     fx_audit_checkpoint_t *latest, char *why,
                                     size_t why_size) FX_WUR;

#endif
