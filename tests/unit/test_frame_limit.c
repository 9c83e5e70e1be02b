/* The size check of the broker's answers (broker/frame_limit.c, compiled in here): a DIRECTORY
 * whose encoding is over what an agent reads in one frame (FX_MAX_FRAME_BYTES) is refused with a
 * reason naming both sizes; one of exactly the limit passes. Certificates of 1 MiB of filler
 * stand for a region of many principals. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_directory_fits),
        cmocka_unit_test(test_directory_over_the_agent_frame_refused),
        cmocka_unit_test(test_exactly_the_limit_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
