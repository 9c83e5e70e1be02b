/* Ed25519 as Fusion verifies it: the RFC 8032 test vectors, and the malleable and degenerate
 * signatures a verifier must refuse: a non-canonical S (S + L, which verifies mathematically),
 * and small-order public keys and R points (which "verify" any message with S = 0). libsodium's
 * crypto_sign_verify_detached refuses them; these tests prove it, and that fx_signature_verify
 * and fx_envelope_verify, which rest on it, refuse them too. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/vocab.h"
#include "testutil.h"

/* RFC 8032, section 7.1, TEST 1 to TEST 3: secret key (seed), public key, message, signature. */
static const struct {
    const char *seed, *public_key, *message, *signature;
} s_vectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};

/* The order of the prime-order subgroup, L = 2^252 + 27742317777372353535851937790883648493,
 * little-endian as S is encoded. */
static const uint8_t s_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

/* Points of small order (encodings): the identity, the point of order 2, a point of order 4. */
static const char *const s_small_order[] = {
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
};

static size_t s_hex(const char *hex, uint8_t *out, size_t max)
{
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(out, max, hex, strlen(hex), NULL, &len, NULL), 0);
    return len;
}

/* sig with S replaced by S + L: the same point equation, another encoding. */
static void s_add_order(const uint8_t sig[64], uint8_t out[64])
{
    memcpy(out, sig, 64);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned sum = out[32 + i] + s_order[i] + carry;
        out[32 + i] = (uint8_t) sum;
        carry = sum >> 8;
    }
    assert_int_equal(carry, 0); /* S < L, so S + L < 2^253 fits */
}

static void test_rfc8032_vectors(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_vectors / sizeof s_vectors[0]; i++) {
        uint8_t seed[32], pk[32], want_pk[32], sk[64], msg[8], sig[64], want_sig[64], bad[64];
        s_hex(s_vectors[i].seed, seed, sizeof seed);
        s_hex(s_vectors[i].public_key, want_pk, sizeof want_pk);
        size_t len = s_hex(s_vectors[i].message, msg, sizeof msg);
        s_hex(s_vectors[i].signature, want_sig, sizeof want_sig);
        crypto_sign_seed_keypair(pk, sk, seed);
        assert_memory_equal(pk, want_pk, 32);
        crypto_sign_detached(sig, NULL, msg, len, sk);
        assert_memory_equal(sig, want_sig, 64);
        assert_int_equal(crypto_sign_verify_detached(want_sig, msg, len, want_pk), 0);
        /* Malleated: S + L. */
        s_add_order(want_sig, bad);
        assert_int_not_equal(crypto_sign_verify_detached(bad, msg, len, want_pk), 0);
        /* Any one bit of the signature, or of the message. */
        for (size_t bit = 0; bit < 512; bit += 7) {
            memcpy(bad, want_sig, 64);
            bad[bit / 8] ^= (uint8_t) (1u << (bit % 8));
            assert_int_not_equal(crypto_sign_verify_detached(bad, msg, len, want_pk), 0);
        }
        if (len > 0) {
            msg[0] ^= 1;
            assert_int_not_equal(crypto_sign_verify_detached(want_sig, msg, len, want_pk), 0);
        }
    }
}

static void test_small_order_keys(void **state)
{
    (void) state;
    static const uint8_t msg[] = "fusion";
    for (size_t k = 0; k < sizeof s_small_order / sizeof s_small_order[0]; k++) {
        uint8_t pk[32], sig[64] = {0};
        s_hex(s_small_order[k], pk, sizeof pk);
        /* R = the same small-order point, S = 0: [S]B = R + [h]A holds up to the cofactor. */
        for (size_t r = 0; r < sizeof s_small_order / sizeof s_small_order[0]; r++) {
            s_hex(s_small_order[r], sig, 32);
            memset(sig + 32, 0, 32);
            assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
            assert_int_not_equal(fx_signature_verify(pk, FX_DOMAIN_HEADER, msg, sizeof msg, sig),
                                 0);
        }
    }
    /* A real key with a small-order R and S = 0. */
    fx_keys_t *keys = fx_keys_new("THA.RTP.fp1");
    uint8_t sig[64] = {0};
    s_hex(s_small_order[0], sig, 32);
    assert_int_not_equal(
        fx_signature_verify(fx_keys_sign_public(keys), FX_DOMAIN_HEADER, msg, sizeof msg, sig), 0);
    fx_keys_destroy(&keys);
}

/* A signed envelope from sender to itself. */
static fx_envelope_t *s_envelope(const fx_keys_t *sender)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    fx_recipient_t recipient = {fx_keys_id(sender), fx_keys_box_public(sender)};
    fx_section_draft_t section = {
        1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, (const uint8_t *) "x", 1, &recipient, 1};
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(sender, &draft, &section, 1, &env), FX_OK);
    return env;
}

/* The envelope with its signature replaced, decoded again. */
static fx_envelope_t *s_resigned(const fx_envelope_t *env, const uint8_t sig[64])
{
    uint8_t *data = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    fx_envelope_encode(env, &data, &len);
    Fusion__Envelope *m = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_ENVELOPE, data, len, (void **) &m), FX_OK);
    assert_int_equal(m->signature.len, 64);
    memcpy(m->signature.data, sig, 64);
    fx_codec_encode(m, &again, &again_len);
    fx_codec_free(m);
    fx_envelope_t *out = NULL;
    assert_int_equal(fx_envelope_decode(again, again_len, &out), FX_OK);
    free(data);
    free(again);
    return out;
}

static void test_envelope_refuses_malleable_signatures(void **state)
{
    (void) state;
    fx_keys_t *keys = fx_keys_new("THA.RTP.fp1");
    fx_envelope_t *env = s_envelope(keys);
    const char *id = fx_keys_id(keys);
    uint8_t sig[64];
    memcpy(sig, fx_envelope_signature(env), 64);
    /* The control: the signature as made, through the same re-encoding. */
    fx_envelope_t *same = s_resigned(env, sig);
    assert_int_equal(fx_envelope_verify(same, id, fx_keys_sign_public(keys)), FX_OK);
    fx_envelope_destroy(&same);
    /* S + L: the same point equation, refused. */
    uint8_t bad[64];
    s_add_order(sig, bad);
    fx_envelope_t *malleated = s_resigned(env, bad);
    assert_int_equal(fx_envelope_verify(malleated, id, fx_keys_sign_public(keys)),
                     FX_ERR_BAD_SIGNATURE);
    fx_envelope_destroy(&malleated);
    /* A small-order signer key with R small-order and S = 0. */
    for (size_t k = 0; k < sizeof s_small_order / sizeof s_small_order[0]; k++) {
        uint8_t pk[32];
        s_hex(s_small_order[k], pk, sizeof pk);
        memset(bad, 0, sizeof bad);
        s_hex(s_small_order[k], bad, 32);
        fx_envelope_t *degenerate = s_resigned(env, bad);
        assert_int_equal(fx_envelope_verify(degenerate, id, pk), FX_ERR_BAD_SIGNATURE);
        fx_envelope_destroy(&degenerate);
    }
    fx_envelope_destroy(&env);
    fx_keys_destroy(&keys);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vectors),
        cmocka_unit_test(test_small_order_keys),
        cmocka_unit_test(test_envelope_refuses_malleable_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
