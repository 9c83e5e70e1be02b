/* RFC 6962 / RFC 9162 Merkle tree: hashes, proofs and their verification, and the append-only
 * tree with its compact frontier. Proof generation follows the RFC's recursive definitions over
 * subtrees D[begin:end); every subtree it needs is a complete node or splits into one complete
 * node and a smaller right edge, so each proof costs O(log^2 n) node look-ups at most. */
#include "fusion/merkle.h"
#include "fusion/sha256.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void fx_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[FX_MERKLE_HASH_BYTES])
{
    static const uint8_t prefix = 0x00;
    fx_sha256_t h;
    fx_sha256_init(&h);
    fx_sha256_update(&h, &prefix, 1);
    fx_sha256_update(&h, data, len);
    fx_sha256_final(&h, out);
}

void fx_merkle_node_hash(const uint8_t left[FX_MERKLE_HASH_BYTES],
                         const uint8_t right[FX_MERKLE_HASH_BYTES],
                         uint8_t out[FX_MERKLE_HASH_BYTES])
{
    uint8_t node[1 + 2 * FX_MERKLE_HASH_BYTES] = {0x01};
    memcpy(node + 1, left, FX_MERKLE_HASH_BYTES);
    memcpy(node + 1 + FX_MERKLE_HASH_BYTES, right, FX_MERKLE_HASH_BYTES);
    fx_sha256(node, sizeof node, out);
}

void fx_merkle_empty_root(uint8_t out[FX_MERKLE_HASH_BYTES])
{
    fx_sha256("", 0, out);
}

/* The largest power of two smaller than n (n >= 2): the RFC's split point k. */
static uint64_t s_split(uint64_t n)
{
    uint64_t k = 1;
    while (k < n - k)
        k <<= 1;
    return k;
}

/* Whether n is a power of two (n >= 1). */
static bool s_pow2(uint64_t n)
{
    return (n & (n - 1)) == 0;
}

static unsigned s_log2(uint64_t n)
{
    unsigned level = 0;
    while (n >>= 1)
        level++;
    return level;
}

/* MTH(D[begin:end)), end > begin. In the RFC's recursion a subtree of a power-of-two size is
 * always aligned on that size, so it is one node. */
static int s_subtree(uint64_t begin, uint64_t end, fx_merkle_node_fn node, void *arg,
                     uint8_t out[FX_MERKLE_HASH_BYTES])
{
    uint64_t n = end - begin;
    if (s_pow2(n)) {
        unsigned level = s_log2(n);
        if (begin & (n - 1))
            return -1; /* not a node: never asked by the recursions below */
        return node(arg, level, begin >> level, out) == 0 ? 0 : -1;
    }
    uint64_t k = s_split(n);
    uint8_t left[FX_MERKLE_HASH_BYTES], right[FX_MERKLE_HASH_BYTES];
    if (s_subtree(begin, begin + k, node, arg, left) != 0 ||
        s_subtree(begin + k, end, node, arg, right) != 0)
        return -1;
    fx_merkle_node_hash(left, right, out);
    return 0;
}

int fx_merkle_root(uint64_t size, fx_merkle_node_fn node, void *arg,
                   uint8_t out[FX_MERKLE_HASH_BYTES])
{
    if (size == 0) {
        fx_merkle_empty_root(out);
        return 0;
    }
    return s_subtree(0, size, node, arg, out);
}

/* PATH(m, D[begin:end)) appended to path: the recursion writes the deepest hash first. */
static int s_path(uint64_t m, uint64_t begin, uint64_t end, fx_merkle_node_fn node, void *arg,
                  fx_merkle_hash_t *path, size_t *len_p)
{
    uint64_t n = end - begin;
    if (n == 1)
        return 0;
    uint64_t k = s_split(n);
    int rc;
    if (m < k)
        rc = s_path(m, begin, begin + k, node, arg, path, len_p) ||
             s_subtree(begin + k, end, node, arg, path[*len_p]);
    else
        rc = s_path(m - k, begin + k, end, node, arg, path, len_p) ||
             s_subtree(begin, begin + k, node, arg, path[*len_p]);
    if (rc)
        return -1;
    (*len_p)++;
    return 0;
}

int fx_merkle_inclusion_proof(uint64_t index, uint64_t size, fx_merkle_node_fn node, void *arg,
                              fx_merkle_hash_t *path, size_t *len_p)
{
    *len_p = 0;
    if (index >= size)
        return -1;
    return s_path(index, 0, size, node, arg, path, len_p);
}

/* SUBPROOF(m, D[begin:end), whole): whole is true while the old tree's root is the node being
 * proven (then its hash is not needed in the proof). */
static int s_subproof(uint64_t m, uint64_t begin, uint64_t end, bool whole, fx_merkle_node_fn node,
                      void *arg, fx_merkle_hash_t *path, size_t *len_p)
{
    uint64_t n = end - begin;
    if (m == n) {
        if (whole)
            return 0;
        if (s_subtree(begin, end, node, arg, path[*len_p]) != 0)
            return -1;
        (*len_p)++;
        return 0;
    }
    uint64_t k = s_split(n);
    int rc;
    if (m <= k)
        rc = s_subproof(m, begin, begin + k, whole, node, arg, path, len_p) ||
             s_subtree(begin + k, end, node, arg, path[*len_p]);
    else
        rc = s_subproof(m - k, begin + k, end, false, node, arg, path, len_p) ||
             s_subtree(begin, begin + k, node, arg, path[*len_p]);
    if (rc)
        return -1;
    (*len_p)++;
    return 0;
}

int fx_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, fx_merkle_node_fn node,
                                void *arg, fx_merkle_hash_t *path, size_t *len_p)
{
    *len_p = 0;
    if (old_size > new_size)
        return -1;
    if (old_size == 0 || old_size == new_size)
        return 0;
    return s_subproof(old_size, 0, new_size, true, node, arg, path, len_p);
}

bool fx_merkle_inclusion_verify(const uint8_t leaf[FX_MERKLE_HASH_BYTES], uint64_t index,
                                uint64_t size, const fx_merkle_hash_t *path, size_t len,
                                const uint8_t root[FX_MERKLE_HASH_BYTES])
{
    if (index >= size || len > FX_MERKLE_PROOF_MAX)
        return false;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[FX_MERKLE_HASH_BYTES];
    memcpy(r, leaf, sizeof r);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            fx_merkle_node_hash(path[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            fx_merkle_node_hash(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, FX_MERKLE_HASH_BYTES) == 0;
}

bool fx_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
                                  const uint8_t old_root[FX_MERKLE_HASH_BYTES],
                                  const uint8_t new_root[FX_MERKLE_HASH_BYTES],
                                  const fx_merkle_hash_t *path, size_t len)
{
    if (old_size > new_size || len > FX_MERKLE_PROOF_MAX)
        return false;
    if (old_size == new_size)
        return len == 0 && sodium_memcmp(old_root, new_root, FX_MERKLE_HASH_BYTES) == 0;
    if (old_size == 0)
        return len == 0;
    if (len == 0)
        return false;
    /* A complete old tree is its own first hash; otherwise the proof starts with it. */
    size_t i = 0;
    const uint8_t *first = s_pow2(old_size) ? old_root : path[i++];
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[FX_MERKLE_HASH_BYTES], sr[FX_MERKLE_HASH_BYTES];
    memcpy(fr, first, sizeof fr);
    memcpy(sr, first, sizeof sr);
    for (; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            fx_merkle_node_hash(path[i], fr, fr);
            fx_merkle_node_hash(path[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            fx_merkle_node_hash(sr, path[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, old_root, FX_MERKLE_HASH_BYTES) == 0 &&
           sodium_memcmp(sr, new_root, FX_MERKLE_HASH_BYTES) == 0;
}

/* --- The append-only tree ---------------------------------------------------------------- */

typedef struct {
    fx_merkle_hash_t *nodes;
    uint64_t count, cap;
} level_t;

struct fx_merkle_tree {
    uint64_t size;
    unsigned base_level;
    fx_merkle_hash_t frontier[FX_MERKLE_PROOF_MAX]; /* frontier[l]: valid when bit l of size */
    level_t levels[FX_MERKLE_PROOF_MAX];            /* kept nodes, for l >= base_level */
};

fx_merkle_tree_t *fx_merkle_tree_new(unsigned base_level)
{
    fx_merkle_tree_t *self = fx_calloc(1, sizeof *self);
    self->base_level = base_level > FX_MERKLE_NO_NODES ? FX_MERKLE_NO_NODES : base_level;
    return self;
}

void fx_merkle_tree_destroy(fx_merkle_tree_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_merkle_tree_t *self = *self_p;
    for (unsigned l = 0; l < FX_MERKLE_PROOF_MAX; l++)
        free(self->levels[l].nodes);
    free(self);
    *self_p = NULL;
}

static void s_keep(fx_merkle_tree_t *self, unsigned level, const uint8_t hash[FX_MERKLE_HASH_BYTES])
{
    if (level < self->base_level)
        return;
    level_t *l = &self->levels[level];
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->nodes = fx_realloc(l->nodes, l->cap * sizeof *l->nodes);
    }
    memcpy(l->nodes[l->count++], hash, FX_MERKLE_HASH_BYTES);
}

void fx_merkle_tree_append(fx_merkle_tree_t *self, const uint8_t leaf[FX_MERKLE_HASH_BYTES])
{
    uint8_t carry[FX_MERKLE_HASH_BYTES];
    memcpy(carry, leaf, sizeof carry);
    s_keep(self, 0, carry);
    /* Like a binary increment: every complete subtree at a set low bit merges with the carry. */
    unsigned level = 0;
    while (self->size & ((uint64_t) 1 << level)) {
        fx_merkle_node_hash(self->frontier[level], carry, carry);
        level++;
        s_keep(self, level, carry);
    }
    memcpy(self->frontier[level], carry, sizeof carry);
    self->size++;
}

uint64_t fx_merkle_tree_size(const fx_merkle_tree_t *self)
{
    return self->size;
}

void fx_merkle_tree_root(const fx_merkle_tree_t *self, uint8_t out[FX_MERKLE_HASH_BYTES])
{
    if (self->size == 0) {
        fx_merkle_empty_root(out);
        return;
    }
    /* Fold from the smallest subtree (the right edge) up to the largest. */
    bool have = false;
    uint8_t r[FX_MERKLE_HASH_BYTES];
    for (unsigned level = 0; level < FX_MERKLE_PROOF_MAX; level++) {
        if (!(self->size & ((uint64_t) 1 << level)))
            continue;
        if (have)
            fx_merkle_node_hash(self->frontier[level], r, r);
        else
            memcpy(r, self->frontier[level], sizeof r);
        have = true;
    }
    memcpy(out, r, sizeof r);
}

int fx_merkle_tree_node(void *tree, unsigned level, uint64_t index,
                        uint8_t out[FX_MERKLE_HASH_BYTES])
{
    const fx_merkle_tree_t *self = tree;
    if (level >= FX_MERKLE_PROOF_MAX || level < self->base_level ||
        index >= self->levels[level].count)
        return -1;
    memcpy(out, self->levels[level].nodes[index], FX_MERKLE_HASH_BYTES);
    return 0;
}
