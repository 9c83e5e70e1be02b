/* The audit trail's Merkle tree and signed checkpoints in the broker (audit_tree.c). Private to
 * fusion-broker. */
#ifndef FUSION_BROKER_AUDIT_TREE_H
#define FUSION_BROKER_AUDIT_TREE_H

#include <stdbool.h>

#include "fusion/merkle.h"
#include "server_internal.h"

typedef struct audit_tree audit_tree_t;

/* Builds the tree from the stored entries and checks it against the latest checkpoint; -1
 * (logged) if the stored trail does not hold. */
int audit_tree_start(server_t *self);

/* Signs a checkpoint when the interval is due (or now, with force) and the tree grew since the
 * last one, in the group transaction, and queues it for the connected auditors (it goes out
 * after the commit). */
void audit_tree_checkpoint(server_t *self, bool force);

/* A new session: an auditor gets the latest checkpoint. */
void audit_tree_session_opened(server_t *self, session_t *session);

/* Frees the tree. Accepts a server without one. */
void audit_tree_destroy(server_t *self);

/* The latest checkpoint, or NULL if there is none yet. */
const fx_store_checkpoint_t *audit_tree_latest(server_t *self);

/* A checkpoint whose tree holds entry seq: the latest, or a fresh one signed now if the latest
 * does not reach it. NULL if none can be had (the store failed). */
const fx_store_checkpoint_t *audit_tree_covering(server_t *self, int64_t seq);

/* Proofs over the current tree (sizes up to its size). 0 or -1. */
int audit_tree_inclusion(server_t *self, uint64_t index, uint64_t size, fx_merkle_hash_t *path,
                         size_t *len_p);
int audit_tree_consistency(server_t *self, uint64_t old_size, uint64_t new_size,
                           fx_merkle_hash_t *path, size_t *len_p);

/* Fills a Checkpoint message that points into checkpoint's bytes. */
void audit_checkpoint_message(const fx_store_checkpoint_t *checkpoint, Fusion__Checkpoint *out);

#endif
