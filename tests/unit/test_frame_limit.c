/* The size check of the broker's answers (broker/frame_limit.c, compiled in here): a DIRECTORY
 * whose encoding is over what an agent reads in one frame (FX_MAX_FRAME_BYTES) is refused with a
 * reason naming both sizes; one of exactly the limit passes. Its size comes from the directory's
 * length alone (broker_directory_answer_size), so one over what the codec decodes is too_large
 * too. Certificates of 1 MiB of filler stand for a region of many principals. */
#include <stdlib.h>
#include <string.h>

#include "../../broker/frame_limit.c"
#include "testutil.h"

#define FILLER (1u << 20)

/* A DIRECTORY answer of n certificates, each with a body of FILLER bytes (shared). */
typedef struct {
    Fusion__Frame frame;
    Fusion__Directory directory;
    Fusion__Certificate certs[16];
    Fusion__Certificate *cert_ptrs[16];
    uint8_t *filler;
} directory_answer_t;

static void s_directory_answer(directory_answer_t *a, size_t n)
{
    assert_true(n <= 16);
    fusion__frame__init(&a->frame);
    fusion__directory__init(&a->directory);
    a->filler = calloc(1, FILLER);
    assert_non_null(a->filler);
    for (size_t i = 0; i < n; i++) {
        fusion__certificate__init(&a->certs[i]);
        a->certs[i].body = (ProtobufCBinaryData){FILLER, a->filler};
        a->cert_ptrs[i] = &a->certs[i];
    }
    a->directory.n_certificates = n;
    a->directory.certificates = a->cert_ptrs;
    a->frame.request_id = 7;
    a->frame.body_case = FUSION__FRAME__BODY_DIRECTORY;
    a->frame.directory = &a->directory;
}

static void test_small_directory_fits(void **state)
{
    (void) state;
    directory_answer_t a;
    s_directory_answer(&a, 2);
    char why[320] = "";
    assert_true(broker_frame_within(&a.frame, FX_MAX_FRAME_BYTES, "hint", why, sizeof why));
    assert_string_equal(why, "");
    free(a.filler);
}

static void test_directory_over_the_agent_frame_refused(void **state)
{
    (void) state;
    directory_answer_t a;
    s_directory_answer(&a, 9); /* 9 MiB and some: over 8 MiB */
    size_t size = fx_codec_size(&a.frame);
    assert_true(size > FX_MAX_FRAME_BYTES);
    char why[320] = "", want[320];
    assert_false(
        broker_frame_within(&a.frame, FX_MAX_FRAME_BYTES, "tell the operator", why, sizeof why));
    snprintf(want, sizeof want,
             "the answer would be %zu bytes, more than an agent accepts (%u): tell the operator",
             size, FX_MAX_FRAME_BYTES);
    assert_string_equal(why, want);
    free(a.filler);
}

static void test_exactly_the_limit_fits(void **state)
{
    (void) state;
    directory_answer_t a;
    s_directory_answer(&a, 3);
    size_t size = fx_codec_size(&a.frame);
    char why[320] = "";
    assert_true(broker_frame_within(&a.frame, size, "hint", why, sizeof why));
    assert_false(broker_frame_within(&a.frame, size - 1, "hint", why, sizeof why));
    assert_non_null(strstr(why, "more than an agent accepts"));
    free(a.filler);
}

/* The DIRECTORY answer's size from the directory's length alone is the size of the frame the
 * handler builds, for any request id (the broker warns at load with the largest). */
static void test_directory_answer_size_without_decoding(void **state)
{
    (void) state;
    const uint64_t ids[] = {0, 1, 127, 128, 300000, UINT64_MAX};
    for (size_t n = 0; n <= 9; n += 3) {
        directory_answer_t a;
        s_directory_answer(&a, n);
        size_t len = fx_codec_size(&a.directory);
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            a.frame.request_id = ids[i];
            assert_int_equal(broker_directory_answer_size(len, ids[i]), fx_codec_size(&a.frame));
        }
        free(a.filler);
    }
}

/* A directory over 8 MiB (which the codec does not decode: the handler answered ERROR invalid)
 * is too_large, with its answer's size; one whose answer is exactly the limit fits. */
static void test_directory_over_the_codec_limit_too_large(void **state)
{
    (void) state;
    directory_answer_t a;
    s_directory_answer(&a, 9);
    size_t len = fx_codec_size(&a.directory);
    assert_true(len > fx_codec_max(FX_MSG_DIRECTORY));
    char why[320] = "", want[320];
    assert_false(broker_directory_within(len, 7, "tell the operator", why, sizeof why));
    snprintf(want, sizeof want,
             "the answer would be %zu bytes, more than an agent accepts (%u): tell the operator",
             fx_codec_size(&a.frame), FX_MAX_FRAME_BYTES);
    assert_string_equal(why, want);
    free(a.filler);
    size_t fits = FX_MAX_FRAME_BYTES - (broker_directory_answer_size(0, UINT64_MAX) + 3);
    assert_int_equal(broker_directory_answer_size(fits, UINT64_MAX), FX_MAX_FRAME_BYTES);
    assert_true(broker_directory_within(fits, UINT64_MAX, "hint", why, sizeof why));
    assert_false(broker_directory_within(fits + 1, UINT64_MAX, "hint", why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_directory_fits),
        cmocka_unit_test(test_directory_over_the_agent_frame_refused),
        cmocka_unit_test(test_exactly_the_limit_fits),
        cmocka_unit_test(test_directory_answer_size_without_decoding),
        cmocka_unit_test(test_directory_over_the_codec_limit_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
