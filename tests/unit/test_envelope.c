/* Envelopes: sealing and opening per recipient, tampering with every byte, the per-recipient copy
 * and a broker that alters it, truncations, and the corrupt envelopes in tests/data/envelope. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "fusion/content.h"
#include "fusion/envelope.h"
#include "fusion/vocab.h"
#include "testutil.h"

/* The sender and four recipients. Section 1 goes to all four, section 2 to A and B, section 3 to
 * C only; D receives section 1 alone. */
enum { SENDER, A, B, C, D, OTHER, N_KEYS };
static const char *s_ids[N_KEYS] = {"THA.RTP.fp1",   "IDN.POLRI.lo1", "MYS.PDRM.fp1",
                                    "PHL.IACAT.fp1", "LKA.DIE.smpu1", "VNM.MPS.fp9"};
static fx_keys_t *s_keys[N_KEYS];

#define N_SECTIONS 3
static const uint32_t s_section_ids[N_SECTIONS] = {1, 2, 7};
static const char *s_plain[N_SECTIONS] = {
    "operational summary for every recipient",
    "personal identifiers for A and B",
    "intelligence source for C",
};
/* s_given[recipient][section]: whether the recipient holds a key for the section. */
static const int s_given[N_KEYS][N_SECTIONS] = {
    [A] = {1, 1, 0}, [B] = {1, 1, 0}, [C] = {1, 0, 1}, [D] = {1, 0, 0}};

static int s_setup(void **state)
{
    (void) state;
    for (int i = 0; i < N_KEYS; i++)
        s_keys[i] = fx_keys_new(s_ids[i]);
    return 0;
}

static int s_teardown(void **state)
{
    (void) state;
    for (int i = 0; i < N_KEYS; i++)
        fx_keys_destroy(&s_keys[i]);
    return 0;
}

static fx_recipient_t s_recipient(int who)
{
    return (fx_recipient_t){s_ids[who], fx_keys_box_public(s_keys[who])};
}

static void s_draft(Fusion__Header *draft)
{
    static Fusion__Handling handling[] = {
        FUSION__HANDLING__HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT};
    fusion__header__init(draft);
    draft->kind = FUSION__KIND__KIND_CASE_ALERT;
    draft->urgency = FUSION__URGENCY__URGENCY_URGENT;
    draft->n_handling = 1;
    draft->handling = handling;
    draft->route = "MMR>THA>MYS";
    draft->stage = FUSION__STAGE__STAGE_AT_BORDER;
    draft->purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    draft->subject_role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_SUSPECT;
    draft->audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft->case_ref = "RTP-2026-0042";
}

/* Seals the three-section message of the fixture. */
static fx_envelope_t *s_seal(void)
{
    fx_recipient_t all[] = {s_recipient(A), s_recipient(B), s_recipient(C), s_recipient(D)};
    fx_recipient_t ab[] = {s_recipient(A), s_recipient(B)};
    fx_recipient_t c[] = {s_recipient(C)};
    fx_section_draft_t sections[N_SECTIONS] = {
        {s_section_ids[0], FX_TLP_GREEN, FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL),
         (const uint8_t *) s_plain[0], strlen(s_plain[0]), all, 4},
        {s_section_ids[1], FX_TLP_AMBER, FX_CATEGORY_BIT(FX_CATEGORY_PERSONAL_IDENTIFIERS),
         (const uint8_t *) s_plain[1], strlen(s_plain[1]), ab, 2},
        {s_section_ids[2], FX_TLP_RED,
         FX_CATEGORY_BIT(FX_CATEGORY_INTEL_SOURCE) | FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL),
         (const uint8_t *) s_plain[2], strlen(s_plain[2]), c, 1},
    };
    Fusion__Header draft;
    s_draft(&draft);
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, sections, N_SECTIONS, &env), FX_OK);
    assert_non_null(env);
    return env;
}

static fx_envelope_t *s_decode(const uint8_t *data, size_t len)
{
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_decode(data, len, &env), FX_OK);
    return env;
}

/* Opens section index s as recipient who, and checks the answer against the fixture. */
static void s_expect_open(const fx_envelope_t *env, int who, int s, int given)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    fx_err_t rc = fx_envelope_open(env, s_keys[who], s_section_ids[s], &plain, &len);
    if (given) {
        assert_int_equal(rc, FX_OK);
        assert_int_equal(len, strlen(s_plain[s]));
        assert_memory_equal(plain, s_plain[s], len);
    } else {
        assert_int_equal(rc, FX_ERR_NOT_RECIPIENT);
        assert_null(plain);
    }
    fx_plaintext_free(&plain, len);
    assert_null(plain);
}

static void test_round_trip(void **state)
{
    (void) state;
    fx_envelope_t *sealed = s_seal();
    uint8_t *data;
    size_t len;
    fx_envelope_encode(sealed, &data, &len);
    fx_envelope_t *env = s_decode(data, len);

    /* Nothing opens before the signature is checked. */
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    assert_int_equal(fx_envelope_open(env, s_keys[A], 1, &plain, &plain_len), FX_ERR_INVALID);
    assert_int_equal(fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])),
                     FX_OK);

    for (int who = A; who <= D; who++)
        for (int s = 0; s < N_SECTIONS; s++)
            s_expect_open(env, who, s, s_given[who][s]);
    for (int s = 0; s < N_SECTIONS; s++) {
        s_expect_open(env, OTHER, s, 0);
        s_expect_open(env, SENDER, s, 0); /* the sender did not seal to itself */
    }
    assert_int_equal(fx_envelope_open(env, s_keys[A], 3, &plain, &plain_len), FX_ERR_NOT_FOUND);

    /* The accessors the broker uses. */
    const Fusion__Header *h = fx_envelope_header(env);
    assert_string_equal(fx_envelope_sender(env), s_ids[SENDER]);
    assert_string_equal(h->route, "MMR>THA>MYS");
    assert_string_equal(h->case_ref, "RTP-2026-0042");
    assert_int_equal(h->kind, FX_KIND_CASE_ALERT);
    assert_true(h->created_at > 0 && h->expires_at == h->created_at + FX_ENVELOPE_DEFAULT_TTL_MS);
    assert_memory_equal(fx_envelope_msg_id(env), fx_envelope_msg_id(sealed), FX_MSG_ID_BYTES);
    assert_memory_equal(fx_envelope_msg_id(env), h->msg_id.data, FX_MSG_ID_BYTES);
    assert_memory_equal(fx_envelope_signature(env), fx_envelope_signature(sealed),
                        FX_SIGNATURE_BYTES);
    size_t hlen = 0, hlen2 = 0;
    const uint8_t *hbytes = fx_envelope_header_bytes(env, &hlen);
    assert_memory_equal(hbytes, fx_envelope_header_bytes(sealed, &hlen2), hlen);
    assert_int_equal(hlen, hlen2);
    uint8_t digest[FX_HASH_BYTES], expect[FX_HASH_BYTES];
    fx_envelope_header_digest(env, digest);
    crypto_generichash(expect, sizeof expect, hbytes, hlen, NULL, 0);
    assert_memory_equal(digest, expect, sizeof digest);

    assert_int_equal(fx_envelope_section_count(env), N_SECTIONS);
    assert_int_equal(fx_envelope_section_id(env, 2), 7);
    assert_int_equal(fx_envelope_recipient_count(env, 0), 4);
    assert_string_equal(fx_envelope_recipient(env, 0, 3), s_ids[D]);
    assert_null(fx_envelope_recipient(env, 0, 4));
    assert_int_equal(fx_envelope_recipient_count(env, 1), 2);
    assert_true(fx_envelope_is_recipient(env, 7, s_ids[C]));
    assert_false(fx_envelope_is_recipient(env, 7, s_ids[A]));
    assert_int_equal(fx_envelope_section_categories(env, 7),
                     FX_CATEGORY_BIT(FX_CATEGORY_INTEL_SOURCE) |
                         FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL));
    assert_int_equal(fx_envelope_descriptor(env, 2)->tlp, FX_TLP_AMBER);
    assert_null(fx_envelope_descriptor(env, 3));
    uint32_t withheld[FX_ENVELOPE_MAX_SECTIONS];
    assert_int_equal(fx_envelope_withheld(env, withheld), 0);

    /* The header lists no recipients: their ids appear nowhere in the signed bytes. */
    for (int who = A; who <= D; who++)
        assert_null(memmem(hbytes, hlen, s_ids[who], strlen(s_ids[who])));

    /* The same message taken from a decoded Frame. */
    fx_envelope_t *again = NULL;
    assert_int_equal(fx_envelope_from_message(fx_envelope_message(env), &again), FX_OK);
    uint8_t *data2;
    size_t len2;
    fx_envelope_encode(again, &data2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(data, data2, len);
    free(data2);

    /* And read where it is, without the copy: destroying that envelope leaves the message to
     * its owner, whole. */
    fx_envelope_t *borrowed = NULL;
    assert_int_equal(fx_envelope_borrow(fx_envelope_message(env), &borrowed), FX_OK);
    assert_ptr_equal(fx_envelope_message(borrowed), fx_envelope_message(env));
    assert_int_equal(
        fx_envelope_verify(borrowed, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])), FX_OK);
    fx_envelope_destroy(&borrowed);
    fx_envelope_encode(env, &data2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(data, data2, len);
    assert_int_equal(fx_envelope_borrow(NULL, &borrowed), FX_ERR_MALFORMED);
    assert_null(borrowed);

    free(data2);
    free(data);
    fx_envelope_destroy(&again);
    fx_envelope_destroy(&env);
    fx_envelope_destroy(&sealed);
    assert_null(sealed);
    fx_envelope_destroy(&sealed);
}

/* Two messages with the same content differ in msg_id, nonces and ciphertexts. */
/* Seals and opens messages of its own, on several threads at once: each thread's section key is
 * its own (lib/envelope.c keeps one buffer per thread). Counts what went wrong; cmocka's checks
 * belong to the test's thread. */
#define THREAD_ROUNDS 40
typedef struct {
    int index;
    int failures;
} sealer_t;

static void *s_sealer(void *arg)
{
    sealer_t *sealer = arg;
    fx_recipient_t to[] = {s_recipient(A)};
    for (int round = 0; round < THREAD_ROUNDS; round++) {
        char text[64];
        int len = snprintf(text, sizeof text, "thread %d, round %d", sealer->index, round);
        fx_section_draft_t section = {1,
                                      FX_TLP_AMBER,
                                      FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL),
                                      (const uint8_t *) text,
                                      (size_t) len,
                                      to,
                                      1};
        Fusion__Header draft;
        s_draft(&draft);
        fx_envelope_t *sealed = NULL, *env = NULL;
        uint8_t *data = NULL, *plain = NULL;
        size_t data_len = 0, plain_len = 0;
        fx_err_t opened = FX_ERR_INVALID;
        if (fx_envelope_seal(s_keys[SENDER], &draft, &section, 1, &sealed) == FX_OK) {
            fx_envelope_encode(sealed, &data, &data_len);
            if (fx_envelope_decode(data, data_len, &env) == FX_OK &&
                fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])) ==
                    FX_OK)
                opened = fx_envelope_open(env, s_keys[A], 1, &plain, &plain_len);
        }
        sealer->failures +=
            opened != FX_OK || plain_len != (size_t) len || memcmp(plain, text, (size_t) len) != 0;
        fx_plaintext_free(&plain, plain_len);
        free(data);
        fx_envelope_destroy(&env);
        fx_envelope_destroy(&sealed);
    }
    return NULL;
}

static void test_threads_seal_and_open(void **state)
{
    (void) state;
    enum { THREADS = 3 };
    sealer_t sealers[THREADS + 1];
    pthread_t threads[THREADS];
    for (int i = 0; i <= THREADS; i++)
        sealers[i] = (sealer_t){.index = i};
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, s_sealer, &sealers[i]), 0);
    s_sealer(&sealers[THREADS]); /* and this thread at the same time */
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i <= THREADS; i++)
        assert_int_equal(sealers[i].failures, 0);
}

static void test_fresh_randomness(void **state)
{
    (void) state;
    fx_envelope_t *one = s_seal(), *two = s_seal();
    assert_memory_not_equal(fx_envelope_msg_id(one), fx_envelope_msg_id(two), FX_MSG_ID_BYTES);
    const Fusion__Envelope *m1 = fx_envelope_message(one), *m2 = fx_envelope_message(two);
    assert_memory_not_equal(m1->sections[0]->nonce.data, m2->sections[0]->nonce.data,
                            FX_NONCE_BYTES);
    assert_memory_not_equal(m1->sections[0]->ciphertext.data, m2->sections[0]->ciphertext.data,
                            m1->sections[0]->ciphertext.len);
    fx_envelope_destroy(&one);
    fx_envelope_destroy(&two);
}

/* Decodes, verifies and opens a possibly altered envelope. Returns 1 if the full message came
 * through intact (every recipient opens exactly what the fixture gave it) and 0 if anything was
 * refused with a typed error; fails the test if anything opened to different bytes or an error
 * code was not one of the expected ones. */
static int s_intact(const uint8_t *data, size_t len)
{
    fx_envelope_t *env = NULL;
    fx_err_t rc = fx_envelope_decode(data, len, &env);
    if (rc != FX_OK) {
        assert_true(rc == FX_ERR_MALFORMED || rc == FX_ERR_LIMIT || rc == FX_ERR_UNKNOWN_FIELD ||
                    rc == FX_ERR_TOO_LARGE);
        assert_null(env);
        return 0;
    }
    rc = fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER]));
    if (rc != FX_OK) {
        assert_true(rc == FX_ERR_BAD_SIGNATURE || rc == FX_ERR_BAD_HASH);
        fx_envelope_destroy(&env);
        return 0;
    }
    int intact = 1;
    for (int who = A; who <= D; who++)
        for (int s = 0; s < N_SECTIONS; s++) {
            uint8_t *plain = NULL;
            size_t plain_len = 0;
            rc = fx_envelope_open(env, s_keys[who], s_section_ids[s], &plain, &plain_len);
            if (rc == FX_OK) {
                /* Never different data: whatever opens is exactly what was sealed for it. */
                assert_true(s_given[who][s]);
                assert_int_equal(plain_len, strlen(s_plain[s]));
                assert_memory_equal(plain, s_plain[s], plain_len);
            } else {
                assert_true(rc == FX_ERR_NOT_RECIPIENT || rc == FX_ERR_DECRYPT ||
                            rc == FX_ERR_BAD_HASH);
                if (s_given[who][s])
                    intact = 0;
            }
            fx_plaintext_free(&plain, plain_len);
        }
    fx_envelope_destroy(&env);
    return intact;
}

/* Marks in covered[] the bytes of every field whose alteration must be detected. */
static void s_mark(const uint8_t *data, size_t len, const uint8_t *field, size_t field_len,
                   uint8_t *covered)
{
    const uint8_t *at = memmem(data, len, field, field_len);
    assert_non_null(at);
    memset(covered + (at - data), 1, field_len);
}

static void test_every_byte_flipped(void **state)
{
    (void) state;
    fx_envelope_t *env = s_seal();
    uint8_t *data;
    size_t len;
    fx_envelope_encode(env, &data, &len);
    assert_true(s_intact(data, len));

    /* The header bytes, the signature, every ciphertext and nonce and every sealed key. */
    const Fusion__Envelope *m = fx_envelope_message(env);
    uint8_t *covered = calloc(len, 1);
    s_mark(data, len, m->header.data, m->header.len, covered);
    s_mark(data, len, m->signature.data, m->signature.len, covered);
    for (size_t i = 0; i < m->n_sections; i++) {
        const Fusion__Section *s = m->sections[i];
        s_mark(data, len, s->ciphertext.data, s->ciphertext.len, covered);
        s_mark(data, len, s->nonce.data, s->nonce.len, covered);
        for (size_t k = 0; k < s->n_keys; k++)
            s_mark(data, len, s->keys[k]->sealed_key.data, s->keys[k]->sealed_key.len, covered);
    }

    /* Every position, two kinds of flip; the framing bytes around the fields must at least never
     * yield different plaintext. */
    const uint8_t flips[] = {0x01, 0xff};
    size_t detected = 0, covered_count = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            data[pos] ^= flips[f];
            int intact = s_intact(data, len);
            data[pos] ^= flips[f];
            if (covered[pos]) {
                if (intact)
                    fail_msg("flipping byte %zu by 0x%02x went undetected", pos, flips[f]);
                covered_count++;
            }
            detected += !intact;
        }
    }
    assert_true(covered_count > len); /* most of the message is signed or sealed content */
    assert_true(detected >= covered_count);
    free(covered);
    free(data);
    fx_envelope_destroy(&env);
}

/* Re-encodes an envelope with another signature over the same header bytes. */
static void s_resign(const uint8_t *data, size_t len, const uint8_t sig[FX_SIGNATURE_BYTES],
                     uint8_t **out, size_t *out_len)
{
    Fusion__Envelope *m = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_ENVELOPE, data, len, (void **) &m), FX_OK);
    memcpy(m->signature.data, sig, FX_SIGNATURE_BYTES);
    fx_codec_encode(m, out, out_len);
    fx_codec_free(m);
}

static void test_signed_by_another_principal(void **state)
{
    (void) state;
    fx_envelope_t *env = s_seal();
    uint8_t *data, *forged;
    size_t len, forged_len, hlen;
    fx_envelope_encode(env, &data, &len);
    const uint8_t *hbytes = fx_envelope_header_bytes(env, &hlen);

    /* OTHER signs the sender's header as it stands. */
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(s_keys[OTHER], FX_DOMAIN_HEADER, hbytes, hlen, sig);
    s_resign(data, len, sig, &forged, &forged_len);
    fx_envelope_t *bad = s_decode(forged, forged_len);
    assert_int_equal(fx_envelope_verify(bad, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])),
                     FX_ERR_BAD_SIGNATURE);
    /* With OTHER's own key the signature holds, but the header names someone else. */
    assert_int_equal(fx_envelope_verify(bad, s_ids[OTHER], fx_keys_sign_public(s_keys[OTHER])),
                     FX_ERR_SENDER_MISMATCH);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    assert_int_equal(fx_envelope_open(bad, s_keys[A], 1, &plain, &plain_len), FX_ERR_INVALID);
    fx_envelope_destroy(&bad);
    free(forged);

    /* A signature under another domain over the same bytes is not a header signature. */
    fx_keys_sign(s_keys[SENDER], FX_DOMAIN_CERT, hbytes, hlen, sig);
    s_resign(data, len, sig, &forged, &forged_len);
    bad = s_decode(forged, forged_len);
    assert_int_equal(fx_envelope_verify(bad, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])),
                     FX_ERR_BAD_SIGNATURE);
    fx_envelope_destroy(&bad);
    free(forged);

    /* The right key under the wrong name. */
    fx_envelope_t *good = s_decode(data, len);
    assert_int_equal(fx_envelope_verify(good, s_ids[A], fx_keys_sign_public(s_keys[SENDER])),
                     FX_ERR_SENDER_MISMATCH);
    assert_int_equal(fx_envelope_verify(good, NULL, fx_keys_sign_public(s_keys[SENDER])),
                     FX_ERR_SENDER_MISMATCH);
    fx_envelope_destroy(&good);
    free(data);
    fx_envelope_destroy(&env);
}

/* The copy for who, encoded and decoded as a recipient receives it; the view of it (what the
 * broker encodes into a DELIVER) encodes to the same bytes. */
static fx_envelope_t *s_copy_round_trip(const fx_envelope_t *env, int who)
{
    fx_envelope_t *copy = NULL;
    assert_int_equal(fx_envelope_copy_for(env, s_ids[who], &copy), FX_OK);
    uint8_t *data, *viewed;
    size_t len, viewed_len;
    fx_envelope_encode(copy, &data, &len);
    fx_envelope_view_t view;
    assert_int_equal(fx_envelope_view_for(env, s_ids[who], &view), FX_OK);
    fx_codec_encode(&view.msg, &viewed, &viewed_len);
    assert_int_equal(viewed_len, len);
    assert_memory_equal(viewed, data, len);
    free(viewed);
    fx_envelope_t *received = s_decode(data, len);
    free(data);
    fx_envelope_destroy(&copy);
    return received;
}

static void test_copy_for_each_recipient(void **state)
{
    (void) state;
    fx_envelope_t *env = s_seal();
    size_t full_len, copy_len;
    const uint8_t *full_header = fx_envelope_header_bytes(env, &full_len);
    for (int who = A; who <= D; who++) {
        fx_envelope_t *copy = s_copy_round_trip(env, who);
        const uint8_t *copy_header = fx_envelope_header_bytes(copy, &copy_len);
        assert_int_equal(copy_len, full_len);
        assert_memory_equal(copy_header, full_header, full_len);
        assert_int_equal(
            fx_envelope_verify(copy, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])), FX_OK);
        size_t given = 0;
        uint32_t withheld[FX_ENVELOPE_MAX_SECTIONS];
        size_t n_withheld = fx_envelope_withheld(copy, withheld), w = 0;
        for (int s = 0; s < N_SECTIONS; s++) {
            s_expect_open(copy, who, s, s_given[who][s]);
            assert_int_equal(fx_envelope_section_present(copy, s_section_ids[s]), s_given[who][s]);
            if (s_given[who][s])
                given++;
            else
                assert_int_equal(withheld[w++], s_section_ids[s]);
            /* Nobody else can open anything in this copy. */
            for (int other = A; other <= D; other++)
                if (other != who)
                    s_expect_open(copy, other, s, 0);
        }
        assert_int_equal(n_withheld, w);
        assert_int_equal(fx_envelope_section_count(copy), given);
        for (size_t i = 0; i < fx_envelope_section_count(copy); i++) {
            assert_int_equal(fx_envelope_recipient_count(copy, i), 1);
            assert_string_equal(fx_envelope_recipient(copy, i, 0), s_ids[who]);
        }
        fx_envelope_destroy(&copy);
    }
    fx_envelope_t *none = NULL;
    assert_int_equal(fx_envelope_copy_for(env, s_ids[OTHER], &none), FX_ERR_NOT_RECIPIENT);
    assert_null(none);
    fx_envelope_view_t view;
    assert_int_equal(fx_envelope_view_for(env, s_ids[OTHER], &view), FX_ERR_NOT_RECIPIENT);
    assert_int_equal(fx_envelope_view_for(env, NULL, &view), FX_ERR_INVALID);
    fx_envelope_destroy(&env);
}

/* Decodes data into a mutable generated Envelope for a test to alter. */
static Fusion__Envelope *s_mutable(const fx_envelope_t *env)
{
    uint8_t *data;
    size_t len;
    fx_envelope_encode(env, &data, &len);
    Fusion__Envelope *m = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_ENVELOPE, data, len, (void **) &m), FX_OK);
    free(data);
    return m;
}

static fx_envelope_t *s_from_mutable(const Fusion__Envelope *m)
{
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_from_message(m, &env), FX_OK);
    return env;
}

static fx_err_t s_verify(fx_envelope_t *env)
{
    return fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER]));
}

static fx_err_t s_open(const fx_envelope_t *env, int who, uint32_t section_id)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    fx_err_t rc = fx_envelope_open(env, s_keys[who], section_id, &plain, &len);
    fx_plaintext_free(&plain, len);
    return rc;
}

static void s_swap_bytes(ProtobufCBinaryData *x, ProtobufCBinaryData *y)
{
    ProtobufCBinaryData t = *x;
    *x = *y;
    *y = t;
}

static void test_broker_altered_copy(void **state)
{
    (void) state;
    fx_envelope_t *env = s_seal();

    /* A copy for D whose header was re-encoded without the descriptors D was not given, so that
     * D would not learn they existed: the signature no longer holds. */
    fx_envelope_t *copy = NULL;
    assert_int_equal(fx_envelope_copy_for(env, s_ids[D], &copy), FX_OK);
    Fusion__Envelope *m = s_mutable(copy);
    Fusion__Header *h = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, m->header.data, m->header.len, (void **) &h),
                     FX_OK);
    Fusion__Header trimmed = *h;
    trimmed.n_sections = 1;
    assert_int_equal(h->sections[0]->id, 1);
    uint8_t *trimmed_bytes;
    size_t trimmed_len;
    fx_codec_encode(&trimmed, &trimmed_bytes, &trimmed_len);
    ProtobufCBinaryData original = m->header;
    m->header = (ProtobufCBinaryData){trimmed_len, trimmed_bytes};
    fx_envelope_t *altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_ERR_BAD_SIGNATURE);
    assert_int_equal(s_open(altered, D, 1), FX_ERR_INVALID);
    fx_envelope_destroy(&altered);
    m->header = original;
    free(trimmed_bytes);
    fx_codec_free(h);
    fx_codec_free(m);
    fx_envelope_destroy(&copy);

    /* Wrapped keys swapped between recipients (labels kept): the signature and hashes hold, but
     * neither recipient can open. */
    m = s_mutable(env);
    Fusion__Section *s1 = m->sections[0], *s2 = m->sections[1], *s3 = m->sections[2];
    s_swap_bytes(&s1->keys[0]->sealed_key, &s1->keys[1]->sealed_key); /* A <-> B */
    altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_OK);
    assert_int_equal(s_open(altered, A, 1), FX_ERR_DECRYPT);
    assert_int_equal(s_open(altered, B, 1), FX_ERR_DECRYPT);
    assert_int_equal(s_open(altered, C, 1), FX_OK);
    /* ... and in the copy the broker would make for A. */
    assert_int_equal(fx_envelope_copy_for(altered, s_ids[A], &copy), FX_OK);
    assert_int_equal(s_verify(copy), FX_OK);
    assert_int_equal(s_open(copy, A, 1), FX_ERR_DECRYPT);
    assert_int_equal(s_open(copy, A, 2), FX_OK);
    fx_envelope_destroy(&copy);
    fx_envelope_destroy(&altered);
    s_swap_bytes(&s1->keys[0]->sealed_key, &s1->keys[1]->sealed_key);

    /* A's key for section 2 placed in section 1 under A's label: it unseals, but it is another
     * section's key and the associated data names section 1. */
    s_swap_bytes(&s1->keys[0]->sealed_key, &s2->keys[0]->sealed_key);
    altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_OK);
    assert_int_equal(s_open(altered, A, 1), FX_ERR_DECRYPT);
    assert_int_equal(s_open(altered, A, 2), FX_ERR_DECRYPT);
    assert_int_equal(s_open(altered, B, 2), FX_OK);
    fx_envelope_destroy(&altered);
    s_swap_bytes(&s1->keys[0]->sealed_key, &s2->keys[0]->sealed_key);

    /* A key sealed to C relabelled as B: B cannot open it. */
    char *label = s3->keys[0]->recipient;
    s3->keys[0]->recipient = (char *) s_ids[B];
    altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_OK);
    assert_int_equal(s_open(altered, B, 7), FX_ERR_DECRYPT);
    assert_int_equal(s_open(altered, C, 7), FX_ERR_NOT_RECIPIENT);
    fx_envelope_destroy(&altered);
    s3->keys[0]->recipient = label;

    /* Ciphertexts (with their nonces) swapped between sections: the signed hashes catch it. */
    s_swap_bytes(&s1->ciphertext, &s2->ciphertext);
    s_swap_bytes(&s1->nonce, &s2->nonce);
    altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_ERR_BAD_HASH);
    assert_int_equal(s_open(altered, A, 1), FX_ERR_INVALID);
    fx_envelope_destroy(&altered);
    s_swap_bytes(&s1->ciphertext, &s2->ciphertext);
    s_swap_bytes(&s1->nonce, &s2->nonce);

    /* Restored, it is the original message again. */
    altered = s_from_mutable(m);
    assert_int_equal(s_verify(altered), FX_OK);
    assert_int_equal(s_open(altered, A, 1), FX_OK);
    fx_envelope_destroy(&altered);
    fx_codec_free(m);
    fx_envelope_destroy(&env);
}

/* A section from another message with the same ids, keys and sender does not open here: the
 * associated data binds msg_id. The broker would need the hash too; the hash check goes first. */
static void test_section_from_another_message(void **state)
{
    (void) state;
    fx_envelope_t *one = s_seal(), *two = s_seal();
    Fusion__Envelope *m1 = s_mutable(one), *m2 = s_mutable(two);
    Fusion__Section *tmp = m1->sections[0];
    m1->sections[0] = m2->sections[0];
    m2->sections[0] = tmp;
    fx_envelope_t *mixed = s_from_mutable(m1);
    assert_int_equal(s_verify(mixed), FX_ERR_BAD_HASH);
    fx_envelope_destroy(&mixed);
    fx_codec_free(m1);
    fx_codec_free(m2);
    fx_envelope_destroy(&one);
    fx_envelope_destroy(&two);
}

static void test_every_truncation(void **state)
{
    (void) state;
    fx_envelope_t *env = s_seal();
    uint8_t *data;
    size_t len;
    fx_envelope_encode(env, &data, &len);
    /* A cut that falls exactly between two sections or two wrapped keys leaves a well-formed,
     * correctly signed envelope that carries less, exactly like a broker's copy; what it no
     * longer carries then fails to open with FX_ERR_NOT_RECIPIENT. Every other cut is refused by
     * decode or verify. Each cut is checked on a copy of exactly that length so that ASan sees
     * any read past the end. */
    size_t refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, data, cut);
        assert_false(s_intact(part, cut));
        fx_envelope_t *dec = NULL;
        if (fx_envelope_decode(part, cut, &dec) != FX_OK || s_verify(dec) != FX_OK)
            refused++;
        fx_envelope_destroy(&dec);
        free(part);
    }
    assert_true(refused > len - 16);
    free(data);
    fx_envelope_destroy(&env);
}

/* The workflow fields of the header (response status, reshare_to, forwarded_from, grant) are
 * signed and come back as sealed; out-of-shape ones are refused. */
static void test_workflow_fields(void **state)
{
    (void) state;
    fx_recipient_t r[] = {s_recipient(A)};
    const uint8_t text[] = "x";
    fx_section_draft_t ok = {1, FX_TLP_GREEN, FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL), text, 1, r,
                             1};
    uint8_t original[FX_MSG_ID_BYTES] = {9}, grant[FX_MSG_ID_BYTES] = {8};
    char *to[] = {"MYS.RMP", "IDN.POLRI.fp1"};
    Fusion__Header draft;
    s_draft(&draft);
    draft.response_status = FUSION__RESPONSE_STATUS__RESPONSE_DECLINED;
    draft.n_reshare_to = 2;
    draft.reshare_to = to;
    draft.forwarded_from = (ProtobufCBinaryData){FX_MSG_ID_BYTES, original};
    draft.reshare_grant = (ProtobufCBinaryData){FX_MSG_ID_BYTES, grant};
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_OK);
    uint8_t *data = NULL;
    size_t len = 0;
    fx_envelope_encode(env, &data, &len);
    fx_envelope_destroy(&env);
    env = s_decode(data, len);
    free(data);
    assert_int_equal(fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])),
                     FX_OK);
    const Fusion__Header *h = fx_envelope_header(env);
    assert_int_equal(h->response_status, FUSION__RESPONSE_STATUS__RESPONSE_DECLINED);
    assert_int_equal(h->n_reshare_to, 2);
    assert_string_equal(h->reshare_to[0], "MYS.RMP");
    assert_int_equal(h->forwarded_from.data[0], 9);
    assert_int_equal(h->reshare_grant.data[0], 8);
    fx_envelope_destroy(&env);

    char *bad[] = {"malaysia"};
    draft.n_reshare_to = 1;
    draft.reshare_to = bad;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    char *many[FX_ENVELOPE_MAX_RESHARE_TO + 1];
    for (size_t i = 0; i <= FX_ENVELOPE_MAX_RESHARE_TO; i++)
        many[i] = "MYS.RMP";
    draft.n_reshare_to = FX_ENVELOPE_MAX_RESHARE_TO + 1;
    draft.reshare_to = many;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_LIMIT);
    draft.n_reshare_to = 0;
    draft.forwarded_from.len = 5;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    draft.forwarded_from.len = 0;
    draft.reshare_grant.len = 17;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    assert_null(env);
}

static void test_seal_refuses_bad_drafts(void **state)
{
    (void) state;
    fx_recipient_t r[] = {s_recipient(A), s_recipient(B)};
    fx_recipient_t dup[] = {s_recipient(A), s_recipient(A)};
    fx_recipient_t bad_id[] = {{"not-an-id", fx_keys_box_public(s_keys[A])}};
    const uint8_t text[] = "x";
    fx_section_draft_t ok = {1, FX_TLP_GREEN, FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL), text, 1, r,
                             2};
    Fusion__Header draft;
    s_draft(&draft);
    fx_envelope_t *env = NULL;

    /* Header text is UTF-8 (a protobuf string: other decoders refuse anything else). */
    draft.case_ref = "\xff\xfe";
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    assert_null(env);
    draft.case_ref = "caf\xc3\xa9-\xf0\x9f\x9a\x90";
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_OK);
    fx_envelope_destroy(&env);
    s_draft(&draft);

    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 0, &env), FX_ERR_INVALID);
    fx_section_draft_t many[FX_ENVELOPE_MAX_SECTIONS + 1];
    for (size_t i = 0; i < FX_ENVELOPE_MAX_SECTIONS + 1; i++) {
        many[i] = ok;
        many[i].id = (uint32_t) i + 1;
    }
    assert_int_equal(
        fx_envelope_seal(s_keys[SENDER], &draft, many, FX_ENVELOPE_MAX_SECTIONS + 1, &env),
        FX_ERR_LIMIT);
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, many, FX_ENVELOPE_MAX_SECTIONS, &env),
                     FX_OK);
    fx_envelope_destroy(&env);
    many[1].id = 1;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, many, 2, &env), FX_ERR_INVALID);

    fx_section_draft_t d = ok;
    d.id = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d.id = 256;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d = ok;
    d.tlp = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d = ok;
    d.categories = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d.categories = FX_CATEGORY_BIT(11);
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d = ok;
    d.n_recipients = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d.recipients = dup;
    d.n_recipients = 2;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d.recipients = bad_id;
    d.n_recipients = 1;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_INVALID);
    d = ok;
    d.n_recipients = FX_ENVELOPE_MAX_RECIPIENTS + 1;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &d, 1, &env), FX_ERR_LIMIT);

    char long_route[FX_ENVELOPE_MAX_STRING + 2];
    memset(long_route, 'A', sizeof long_route - 1);
    long_route[sizeof long_route - 1] = '\0';
    draft.route = long_route;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_LIMIT);
    long_route[FX_ENVELOPE_MAX_STRING] = '\0'; /* exactly the limit */
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_OK);
    fx_envelope_destroy(&env);
    draft.route = "MMR>THA\n>MYS";
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    s_draft(&draft);
    draft.kind = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    s_draft(&draft);
    uint8_t short_id[5] = {0};
    draft.in_reply_to = (ProtobufCBinaryData){sizeof short_id, short_id};
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    s_draft(&draft);
    draft.created_at = 2000;
    draft.expires_at = 1000;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    draft.expires_at = 3000;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_OK);
    assert_int_equal(fx_envelope_header(env)->created_at, 2000);
    assert_int_equal(fx_envelope_header(env)->expires_at, 3000);
    fx_envelope_destroy(&env);
    s_draft(&draft);
    Fusion__Handling twice[] = {FUSION__HANDLING__HANDLING_CRIME_PREVENTION_ONLY,
                                FUSION__HANDLING__HANDLING_CRIME_PREVENTION_ONLY};
    draft.handling = twice;
    draft.n_handling = 2;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    draft.kind = (Fusion__Kind) 99; /* not a value of the enumeration */
    draft.n_handling = 0;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, &ok, 1, &env), FX_ERR_INVALID);
    assert_null(env);
}

/* Empty and large plaintexts, and the most recipients a section may have. */
static void test_sizes(void **state)
{
    (void) state;
    fx_recipient_t *many = calloc(FX_ENVELOPE_MAX_RECIPIENTS, sizeof *many);
    char(*ids)[FX_ID_MAX] = calloc(FX_ENVELOPE_MAX_RECIPIENTS, FX_ID_MAX);
    for (int i = 0; i < FX_ENVELOPE_MAX_RECIPIENTS; i++) {
        snprintf(ids[i], FX_ID_MAX, "IDN.POLRI.u%d", i);
        many[i] = (fx_recipient_t){ids[i], fx_keys_box_public(s_keys[B])};
    }
    snprintf(ids[FX_ENVELOPE_MAX_RECIPIENTS - 1], FX_ID_MAX, "%s", s_ids[A]);
    many[FX_ENVELOPE_MAX_RECIPIENTS - 1].box_key = fx_keys_box_public(s_keys[A]);
    size_t big_len = 1u << 20;
    uint8_t *big = malloc(big_len);
    randombytes_buf(big, big_len);
    fx_section_draft_t sections[] = {
        {1, FX_TLP_CLEAR, FX_CATEGORY_BIT(FX_CATEGORY_STATISTICAL), NULL, 0, many,
         FX_ENVELOPE_MAX_RECIPIENTS},
        {2, FX_TLP_AMBER_STRICT, FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL), big, big_len,
         many + 1023, 1},
    };
    Fusion__Header draft;
    s_draft(&draft);
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, sections, 2, &env), FX_OK);
    uint8_t *data;
    size_t len;
    fx_envelope_encode(env, &data, &len);
    fx_envelope_t *got = s_decode(data, len);
    assert_int_equal(s_verify(got), FX_OK);
    uint8_t *plain = NULL;
    size_t plain_len = 99;
    assert_int_equal(fx_envelope_open(got, s_keys[A], 1, &plain, &plain_len), FX_OK);
    assert_int_equal(plain_len, 0);
    assert_non_null(plain);
    fx_plaintext_free(&plain, plain_len);
    assert_int_equal(fx_envelope_open(got, s_keys[A], 2, &plain, &plain_len), FX_OK);
    assert_int_equal(plain_len, big_len);
    assert_memory_equal(plain, big, big_len);
    fx_plaintext_free(&plain, plain_len);

    /* Over the envelope cap: refused when sealing, and when decoding. */
    size_t huge_len = FX_MAX_ENVELOPE_BYTES;
    uint8_t *huge = calloc(huge_len + 1, 1);
    sections[1].plaintext = huge;
    sections[1].plaintext_len = huge_len + 1; /* refused before anything is encrypted */
    fx_envelope_t *too_big = NULL;
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, sections, 2, &too_big),
                     FX_ERR_TOO_LARGE);
    sections[1].plaintext_len = huge_len - 1000; /* under the cap, but not with the keys */
    assert_int_equal(fx_envelope_seal(s_keys[SENDER], &draft, sections, 2, &too_big),
                     FX_ERR_TOO_LARGE);
    assert_null(too_big);
    assert_int_equal(fx_envelope_decode(huge, huge_len + 1, &too_big), FX_ERR_TOO_LARGE);

    free(huge);
    free(data);
    free(big);
    free(ids);
    free(many);
    fx_envelope_destroy(&got);
    fx_envelope_destroy(&env);
}

/* The hand-made corrupt envelopes of tests/data/envelope (see make_fixtures.py there). */
static void test_corrupt_fixtures(void **state)
{
    (void) state;
    static const struct {
        const char *file;
        fx_err_t expect;
    } cases[] = {
        {"valid.bin", FX_OK},
        {"empty.bin", FX_ERR_MALFORMED},
        {"msg-id-15-bytes.bin", FX_ERR_MALFORMED},
        {"msg-id-17-bytes.bin", FX_ERR_MALFORMED},
        {"duplicate-descriptor-ids.bin", FX_ERR_MALFORMED},
        {"duplicate-section.bin", FX_ERR_MALFORMED},
        {"17-sections.bin", FX_ERR_LIMIT},
        {"section-without-descriptor.bin", FX_ERR_MALFORMED},
        {"section-id-0.bin", FX_ERR_MALFORMED},
        {"section-id-256.bin", FX_ERR_MALFORMED},
        {"huge-length-prefix.bin", FX_ERR_MALFORMED},
        {"length-past-end.bin", FX_ERR_MALFORMED},
        {"unknown-field.bin", FX_ERR_UNKNOWN_FIELD},
        {"unknown-field-in-header.bin", FX_ERR_UNKNOWN_FIELD},
        {"unknown-enum-value.bin", FX_ERR_MALFORMED},
        {"nonce-23-bytes.bin", FX_ERR_MALFORMED},
        {"hash-31-bytes.bin", FX_ERR_MALFORMED},
        {"sealed-key-79-bytes.bin", FX_ERR_MALFORMED},
        {"signature-63-bytes.bin", FX_ERR_MALFORMED},
        {"duplicate-recipient.bin", FX_ERR_MALFORMED},
        {"invalid-recipient-label.bin", FX_ERR_MALFORMED},
        {"no-wrapped-keys.bin", FX_ERR_MALFORMED},
        {"1025-recipients.bin", FX_ERR_LIMIT},
        {"route-257-bytes.bin", FX_ERR_LIMIT},
        {"control-character-in-case-ref.bin", FX_ERR_MALFORMED},
        {"no-descriptors.bin", FX_ERR_MALFORMED},
        {"no-categories.bin", FX_ERR_MALFORMED},
        {"expires-before-created.bin", FX_ERR_MALFORMED},
        {"wrong-version.bin", FX_ERR_MALFORMED},
        {"invalid-sender.bin", FX_ERR_MALFORMED},
        {"nul-in-sender.bin", FX_ERR_MALFORMED},
        {"header-not-canonical.bin", FX_ERR_MALFORMED},
        {"ciphertext-shorter-than-tag.bin", FX_ERR_MALFORMED},
        {"header-over-64k.bin", FX_ERR_TOO_LARGE},
    };
    char path[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/envelope/%s", tu_data_dir(), cases[i].file);
        uint8_t *data = NULL;
        size_t len = 0;
        if (fx_file_read(path, FX_MAX_ENVELOPE_BYTES + 1, &data, &len) != FX_OK)
            fail_msg("cannot read %s", path);
        fx_envelope_t *env = NULL;
        fx_err_t rc = fx_envelope_decode(data, len, &env);
        if (rc != cases[i].expect)
            fail_msg("%s: expected %s, got %s", cases[i].file, fx_err_code(cases[i].expect),
                     fx_err_code(rc));
        if (env) /* a valid structure signed by nobody we know */
            assert_int_equal(s_verify(env), FX_ERR_BAD_SIGNATURE);
        fx_envelope_destroy(&env);
        /* The same answer for the envelope of a decoded frame, read in place (the broker's). */
        Fusion__Envelope *msg = NULL;
        if (fx_codec_decode(FX_MSG_ENVELOPE, data, len, (void **) &msg) == FX_OK) {
            rc = fx_envelope_borrow(msg, &env);
            if (rc != cases[i].expect)
                fail_msg("%s borrowed: expected %s, got %s", cases[i].file,
                         fx_err_code(cases[i].expect), fx_err_code(rc));
            fx_envelope_destroy(&env);
            fx_codec_free(msg);
        }
        free(data);
    }
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fresh_randomness),
        cmocka_unit_test(test_threads_seal_and_open),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_signed_by_another_principal),
        cmocka_unit_test(test_copy_for_each_recipient),
        cmocka_unit_test(test_broker_altered_copy),
        cmocka_unit_test(test_section_from_another_message),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_workflow_fields),
        cmocka_unit_test(test_seal_refuses_bad_drafts),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_corrupt_fixtures),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
