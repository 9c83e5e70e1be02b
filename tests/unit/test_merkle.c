/* The RFC 6962 Merkle tree (lib/merkle.c): Certificate Transparency's test vectors for the 8-leaf
 * tree, and every root, inclusion proof and consistency proof for sizes up to 70 against a
 * deliberately simple recursive reference written here from the RFC's definitions, with altered
 * proofs rejected. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/merkle.h"
#include "testutil.h"

#define MAX_SIZE 70

/* --- The reference: straight from RFC 6962 section 2.1, over an array of leaf hashes -------- */

static uint64_t r_split(uint64_t n)
{
    uint64_t k = 1;
    while (2 * k < n)
        k *= 2;
    return k;
}

static void r_mth(const fx_merkle_hash_t *leaves, uint64_t n, uint8_t out[32])
{
    if (n == 0) {
        crypto_hash_sha256(out, (const uint8_t *) "", 0);
    } else if (n == 1) {
        memcpy(out, leaves[0], 32);
    } else {
        uint64_t k = r_split(n);
        uint8_t buf[65];
        buf[0] = 1;
        r_mth(leaves, k, buf + 1);
        r_mth(leaves + k, n - k, buf + 33);
        crypto_hash_sha256(out, buf, sizeof buf);
    }
}

static void r_path(uint64_t m, const fx_merkle_hash_t *leaves, uint64_t n, fx_merkle_hash_t *out,
                   size_t *len)
{
    if (n <= 1)
        return;
    uint64_t k = r_split(n);
    if (m < k) {
        r_path(m, leaves, k, out, len);
        r_mth(leaves + k, n - k, out[(*len)++]);
    } else {
        r_path(m - k, leaves + k, n - k, out, len);
        r_mth(leaves, k, out[(*len)++]);
    }
}

static void r_subproof(uint64_t m, const fx_merkle_hash_t *leaves, uint64_t n, int b,
                       fx_merkle_hash_t *out, size_t *len)
{
    if (m == n) {
        if (!b)
            r_mth(leaves, n, out[(*len)++]);
        return;
    }
    uint64_t k = r_split(n);
    if (m <= k) {
        r_subproof(m, leaves, k, b, out, len);
        r_mth(leaves + k, n - k, out[(*len)++]);
    } else {
        r_subproof(m - k, leaves + k, n - k, 0, out, len);
        r_mth(leaves, k, out[(*len)++]);
    }
}

/* A node source over the reference: the complete subtree (level, index) by r_mth. */
static int r_node(void *arg, unsigned level, uint64_t index, uint8_t out[32])
{
    const fx_merkle_hash_t *leaves = arg;
    uint64_t n = (uint64_t) 1 << level;
    if ((index + 1) * n > MAX_SIZE)
        return -1;
    r_mth(leaves + index * n, n, out);
    return 0;
}

static fx_merkle_hash_t s_leaves[MAX_SIZE];

static int s_setup(void **state)
{
    (void) state;
    for (int i = 0; i < MAX_SIZE; i++) {
        uint8_t data[2] = {(uint8_t) i, (uint8_t) (i * 7)};
        fx_merkle_leaf_hash(data, sizeof data, s_leaves[i]);
    }
    return 0;
}

static void s_hex(const char *hex, uint8_t out[32])
{
    assert_int_equal(sodium_hex2bin(out, 32, hex, strlen(hex), NULL, NULL, NULL), 0);
}

/* --- Certificate Transparency's vectors (merkle_tree_test.cc) ------------------------------- */

static const struct {
    const uint8_t *data;
    size_t len;
} s_ct_inputs[8] = {
    {(const uint8_t *) "", 0},
    {(const uint8_t *) "\x00", 1},
    {(const uint8_t *) "\x10", 1},
    {(const uint8_t *) "\x20\x21", 2},
    {(const uint8_t *) "\x30\x31", 2},
    {(const uint8_t *) "\x40\x41\x42\x43", 4},
    {(const uint8_t *) "\x50\x51\x52\x53\x54\x55\x56\x57", 8},
    {(const uint8_t *) "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
};

static const char *const s_ct_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* Leaf numbers in CT's table are 1-based; here they are 0-based indices. */
static const struct {
    uint64_t index, size;
    size_t len;
    const char *path[3];
} s_ct_paths[] = {
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0, 1, 0, {NULL}},
};

static const struct {
    uint64_t old_size, new_size;
    size_t len;
    const char *proof[3];
} s_ct_proofs[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static void test_ct_vectors(void **state)
{
    (void) state;
    uint8_t want[32], got[32];
    fx_merkle_tree_t *tree = fx_merkle_tree_new(0);
    fx_merkle_tree_root(tree, got);
    s_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want);
    assert_memory_equal(got, want, 32);
    for (int i = 0; i < 8; i++) {
        uint8_t leaf[32];
        fx_merkle_leaf_hash(s_ct_inputs[i].data, s_ct_inputs[i].len, leaf);
        fx_merkle_tree_append(tree, leaf);
        fx_merkle_tree_root(tree, got);
        s_hex(s_ct_roots[i], want);
        assert_memory_equal(got, want, 32);
        /* Every earlier root, recomputed from the kept nodes. */
        for (int j = 0; j <= i; j++) {
            assert_int_equal(fx_merkle_root((uint64_t) j + 1, fx_merkle_tree_node, tree, got), 0);
            s_hex(s_ct_roots[j], want);
            assert_memory_equal(got, want, 32);
        }
    }
    fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
    size_t len;
    for (size_t t = 0; t < sizeof s_ct_paths / sizeof s_ct_paths[0]; t++) {
        assert_int_equal(fx_merkle_inclusion_proof(s_ct_paths[t].index, s_ct_paths[t].size,
                                                   fx_merkle_tree_node, tree, path, &len),
                         0);
        assert_int_equal(len, s_ct_paths[t].len);
        for (size_t j = 0; j < len; j++) {
            s_hex(s_ct_paths[t].path[j], want);
            assert_memory_equal(path[j], want, 32);
        }
    }
    for (size_t t = 0; t < sizeof s_ct_proofs / sizeof s_ct_proofs[0]; t++) {
        assert_int_equal(fx_merkle_consistency_proof(s_ct_proofs[t].old_size,
                                                     s_ct_proofs[t].new_size, fx_merkle_tree_node,
                                                     tree, path, &len),
                         0);
        assert_int_equal(len, s_ct_proofs[t].len);
        for (size_t j = 0; j < len; j++) {
            s_hex(s_ct_proofs[t].proof[j], want);
            assert_memory_equal(path[j], want, 32);
        }
        uint8_t old_root[32], new_root[32];
        s_hex(s_ct_roots[s_ct_proofs[t].old_size - 1], old_root);
        s_hex(s_ct_roots[s_ct_proofs[t].new_size - 1], new_root);
        assert_true(fx_merkle_consistency_verify(s_ct_proofs[t].old_size, s_ct_proofs[t].new_size,
                                                 old_root, new_root, path, len));
    }
    /* Out of range. */
    assert_int_equal(fx_merkle_inclusion_proof(8, 8, fx_merkle_tree_node, tree, path, &len), -1);
    assert_int_equal(fx_merkle_consistency_proof(5, 4, fx_merkle_tree_node, tree, path, &len), -1);
    assert_int_equal(fx_merkle_inclusion_proof(0, 9, fx_merkle_tree_node, tree, path, &len), -1);
    fx_merkle_tree_destroy(&tree);
    assert_null(tree);
    fx_merkle_tree_destroy(NULL);
}

/* --- Every size against the reference ------------------------------------------------------ */

static void test_roots(void **state)
{
    (void) state;
    fx_merkle_tree_t *all = fx_merkle_tree_new(0);
    fx_merkle_tree_t *frontier = fx_merkle_tree_new(FX_MERKLE_NO_NODES);
    fx_merkle_tree_t *upper = fx_merkle_tree_new(3);
    uint8_t want[32], got[32];
    for (uint64_t n = 0; n <= MAX_SIZE; n++) {
        r_mth(s_leaves, n, want);
        fx_merkle_tree_root(all, got);
        assert_memory_equal(got, want, 32);
        fx_merkle_tree_root(frontier, got);
        assert_memory_equal(got, want, 32);
        assert_int_equal(fx_merkle_root(n, r_node, s_leaves, got), 0);
        assert_memory_equal(got, want, 32);
        assert_int_equal(fx_merkle_tree_size(frontier), n);
        if (n == MAX_SIZE)
            break;
        fx_merkle_tree_append(all, s_leaves[n]);
        fx_merkle_tree_append(frontier, s_leaves[n]);
        fx_merkle_tree_append(upper, s_leaves[n]);
    }
    /* The kept nodes are the reference's complete subtrees; below base_level there are none. */
    for (unsigned level = 0; level < 8; level++)
        for (uint64_t index = 0; index < 80; index++) {
            int have = r_node(s_leaves, level, index, want) == 0;
            assert_int_equal(fx_merkle_tree_node(all, level, index, got), have ? 0 : -1);
            if (have)
                assert_memory_equal(got, want, 32);
            assert_int_equal(fx_merkle_tree_node(upper, level, index, got),
                             have && level >= 3 ? 0 : -1);
            assert_int_equal(fx_merkle_tree_node(frontier, level, index, got), -1);
        }
    /* A proof that needs a node the source does not have fails. */
    fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
    size_t len;
    assert_int_equal(fx_merkle_inclusion_proof(5, 64, fx_merkle_tree_node, upper, path, &len), -1);
    fx_merkle_tree_destroy(&all);
    fx_merkle_tree_destroy(&frontier);
    fx_merkle_tree_destroy(&upper);
}

/* Flips one bit of each hash in turn, drops or adds a hash: never verifies. */
static void s_inclusion_altered(const uint8_t leaf[32], uint64_t m, uint64_t n,
                                fx_merkle_hash_t *path, size_t len, const uint8_t root[32])
{
    for (size_t j = 0; j < len; j++) {
        path[j][j % 32] ^= 0x40;
        assert_false(fx_merkle_inclusion_verify(leaf, m, n, path, len, root));
        path[j][j % 32] ^= 0x40;
    }
    if (len > 0)
        assert_false(fx_merkle_inclusion_verify(leaf, m, n, path, len - 1, root));
    memcpy(path[len], root, 32);
    assert_false(fx_merkle_inclusion_verify(leaf, m, n, path, len + 1, root));
    uint8_t other[32];
    memcpy(other, leaf, 32);
    other[31] ^= 1;
    assert_false(fx_merkle_inclusion_verify(other, m, n, path, len, root));
    memcpy(other, root, 32);
    other[0] ^= 1;
    assert_false(fx_merkle_inclusion_verify(leaf, m, n, path, len, other));
    if (m + 1 < n)
        assert_false(fx_merkle_inclusion_verify(leaf, m + 1, n, path, len, root));
    if (m > 0)
        assert_false(fx_merkle_inclusion_verify(leaf, m - 1, n, path, len, root));
    assert_false(fx_merkle_inclusion_verify(leaf, n, n, path, len, root));
}

static void test_inclusion(void **state)
{
    (void) state;
    fx_merkle_tree_t *tree = fx_merkle_tree_new(0);
    for (uint64_t i = 0; i < MAX_SIZE; i++)
        fx_merkle_tree_append(tree, s_leaves[i]);
    for (uint64_t n = 1; n <= MAX_SIZE; n++) {
        uint8_t root[32];
        r_mth(s_leaves, n, root);
        for (uint64_t m = 0; m < n; m++) {
            fx_merkle_hash_t want[FX_MERKLE_PROOF_MAX], got[FX_MERKLE_PROOF_MAX + 1];
            size_t want_len = 0, got_len = 0;
            r_path(m, s_leaves, n, want, &want_len);
            assert_int_equal(
                fx_merkle_inclusion_proof(m, n, fx_merkle_tree_node, tree, got, &got_len), 0);
            assert_int_equal(got_len, want_len);
            assert_memory_equal(got, want, 32 * want_len);
            /* The same from a source that is only the reference's subtrees. */
            assert_int_equal(fx_merkle_inclusion_proof(m, n, r_node, s_leaves, got, &got_len), 0);
            assert_memory_equal(got, want, 32 * want_len);
            assert_true(fx_merkle_inclusion_verify(s_leaves[m], m, n, got, got_len, root));
            s_inclusion_altered(s_leaves[m], m, n, got, got_len, root);
        }
    }
    fx_merkle_tree_destroy(&tree);
}

static void test_consistency(void **state)
{
    (void) state;
    fx_merkle_tree_t *tree = fx_merkle_tree_new(0);
    for (uint64_t i = 0; i < MAX_SIZE; i++)
        fx_merkle_tree_append(tree, s_leaves[i]);
    for (uint64_t n = 1; n <= MAX_SIZE; n++) {
        uint8_t new_root[32];
        r_mth(s_leaves, n, new_root);
        for (uint64_t m = 0; m <= n; m++) {
            uint8_t old_root[32];
            r_mth(s_leaves, m, old_root);
            fx_merkle_hash_t want[FX_MERKLE_PROOF_MAX], got[FX_MERKLE_PROOF_MAX + 1];
            size_t want_len = 0, got_len = 0;
            if (m > 0 && m < n)
                r_subproof(m, s_leaves, n, 1, want, &want_len);
            assert_int_equal(
                fx_merkle_consistency_proof(m, n, fx_merkle_tree_node, tree, got, &got_len), 0);
            assert_int_equal(got_len, want_len);
            assert_memory_equal(got, want, 32 * want_len);
            assert_true(fx_merkle_consistency_verify(m, n, old_root, new_root, got, got_len));
            if (m == 0)
                continue;
            /* Altered: a bit of each hash, a hash dropped or added, the other roots or sizes. */
            for (size_t j = 0; j < got_len; j++) {
                got[j][(j * 5) % 32] ^= 0x08;
                assert_false(fx_merkle_consistency_verify(m, n, old_root, new_root, got, got_len));
                got[j][(j * 5) % 32] ^= 0x08;
            }
            if (got_len > 0)
                assert_false(
                    fx_merkle_consistency_verify(m, n, old_root, new_root, got, got_len - 1));
            memcpy(got[got_len], new_root, 32);
            assert_false(fx_merkle_consistency_verify(m, n, old_root, new_root, got, got_len + 1));
            uint8_t bad[32];
            memcpy(bad, old_root, 32);
            bad[3] ^= 1;
            assert_false(fx_merkle_consistency_verify(m, n, bad, new_root, got, got_len));
            memcpy(bad, new_root, 32);
            bad[3] ^= 1;
            assert_false(fx_merkle_consistency_verify(m, n, old_root, bad, got, got_len));
            if (m < n) {
                /* A rewritten history: the old tree with its last leaf changed. */
                fx_merkle_hash_t forged[MAX_SIZE];
                memcpy(forged, s_leaves, sizeof forged);
                forged[m - 1][0] ^= 0x80;
                uint8_t forged_root[32];
                r_mth(forged, n, forged_root);
                assert_false(
                    fx_merkle_consistency_verify(m, n, old_root, forged_root, got, got_len));
                assert_false(fx_merkle_consistency_verify(n, m, new_root, old_root, got, got_len));
            }
        }
    }
    fx_merkle_tree_destroy(&tree);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ct_vectors),
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_inclusion),
        cmocka_unit_test(test_consistency),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
