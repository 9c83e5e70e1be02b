/* The audit trail's Merkle tree, hashed as in RFC 6962 / RFC 9162 (Certificate Transparency):
 * SHA-256, leaves hashed with a 0x00 prefix and interior nodes with 0x01. Tree hashes, inclusion
 * proofs (audit paths) and consistency proofs, each in a logarithmic number of node hashes, and
 * an append-only tree that keeps only what its owner asks for: the compact frontier (one hash
 * per set bit of the size) to compute the root after every append, and optionally every complete
 * node from some level up, to answer proofs without rereading the leaves. */
#ifndef FUSION_MERKLE_H
#define FUSION_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fusion/util.h"

#define FX_MERKLE_HASH_BYTES 32
#define FX_MERKLE_PROOF_MAX  64 /* hashes in a proof of a tree of fewer than 2^64 leaves */
#define FX_MERKLE_NO_NODES   64 /* as base_level: keep no complete nodes, only the frontier */

typedef uint8_t fx_merkle_hash_t[FX_MERKLE_HASH_BYTES];

/* RFC 6962 leaf hash: SHA-256(0x00 || data). */
void fx_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[FX_MERKLE_HASH_BYTES]);

/* RFC 6962 interior node: SHA-256(0x01 || left || right). */
void fx_merkle_node_hash(const uint8_t left[FX_MERKLE_HASH_BYTES],
                         const uint8_t right[FX_MERKLE_HASH_BYTES],
                         uint8_t out[FX_MERKLE_HASH_BYTES]);

/* The hash of the empty tree: SHA-256 of nothing. */
void fx_merkle_empty_root(uint8_t out[FX_MERKLE_HASH_BYTES]);

/* Where proofs get their hashes: the hash of the complete subtree of 2^level leaves that starts
 * at leaf index << level. 0 on success, anything else to fail the computation (e.g. a store
 * error). */
typedef int (*fx_merkle_node_fn)(void *arg, unsigned level, uint64_t index,
                                 uint8_t out[FX_MERKLE_HASH_BYTES]);

/* The Merkle tree hash of the first size leaves. 0, or -1 if a node could not be had. */
int fx_merkle_root(uint64_t size, fx_merkle_node_fn node, void *arg,
                   uint8_t out[FX_MERKLE_HASH_BYTES]) FX_WUR;

/* The audit path of leaf index in the tree of the first size leaves, from the leaf up (RFC 9162
 * 2.1.3.1), into path (FX_MERKLE_PROOF_MAX hashes of room); *len_p gets its length. -1 if
 * index >= size or a node could not be had. */
int fx_merkle_inclusion_proof(uint64_t index, uint64_t size, fx_merkle_node_fn node, void *arg,
                              fx_merkle_hash_t *path, size_t *len_p) FX_WUR;

/* The consistency proof between the trees of the first old_size and new_size leaves (RFC 9162
 * 2.1.4.1), into path (FX_MERKLE_PROOF_MAX hashes of room). Empty when old_size is 0 or equal to
 * new_size. -1 if old_size > new_size or a node could not be had. */
int fx_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, fx_merkle_node_fn node,
                                void *arg, fx_merkle_hash_t *path, size_t *len_p) FX_WUR;

/* Whether path proves that leaf is leaf index of the tree of size leaves whose root is root
 * (RFC 9162 2.1.3.2). */
bool fx_merkle_inclusion_verify(const uint8_t leaf[FX_MERKLE_HASH_BYTES], uint64_t index,
                                uint64_t size, const fx_merkle_hash_t *path, size_t len,
                                const uint8_t root[FX_MERKLE_HASH_BYTES]);

/* Whether path proves that the tree of old_size leaves with root old_root is a prefix of the
 * tree of new_size leaves with root new_root (RFC 9162 2.1.4.2). Equal sizes need an empty path
 * and equal roots; an old size of 0 needs an empty path (the empty tree is a prefix of all). */
bool fx_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
                                  const uint8_t old_root[FX_MERKLE_HASH_BYTES],
                                  const uint8_t new_root[FX_MERKLE_HASH_BYTES],
                                  const fx_merkle_hash_t *path, size_t len);

/* --- The append-only tree ---------------------------------------------------------------- */

typedef struct fx_merkle_tree fx_merkle_tree_t;

/* A new empty tree that keeps every complete node of level >= base_level (0: every leaf and
 * node; FX_MERKLE_NO_NODES: none, only the frontier). Caller destroys it. */
fx_merkle_tree_t *fx_merkle_tree_new(unsigned base_level);

/* Frees the tree; sets *self_p to NULL. Accepts NULL. */
void fx_merkle_tree_destroy(fx_merkle_tree_t **self_p);

/* Appends one leaf hash (amortised constant time). */
void fx_merkle_tree_append(fx_merkle_tree_t *self, const uint8_t leaf[FX_MERKLE_HASH_BYTES]);

/* The number of leaves appended. */
uint64_t fx_merkle_tree_size(const fx_merkle_tree_t *self);

/* The root of the whole tree, from the frontier (logarithmic). */
void fx_merkle_tree_root(const fx_merkle_tree_t *self, uint8_t out[FX_MERKLE_HASH_BYTES]);

/* An fx_merkle_node_fn over the tree (arg is the tree): 0 with the node if it is complete and
 * kept (level >= base_level), -1 otherwise. */
int fx_merkle_tree_node(void *tree, unsigned level, uint64_t index,
                        uint8_t out[FX_MERKLE_HASH_BYTES]);

#endif
