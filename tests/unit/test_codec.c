/* Codec: round trips, size caps, unknown fields and enumeration values, malformed input. */
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "testutil.h"

static void s_sample_header(uint8_t **data, size_t *len)
{
    Fusion__Header header = FUSION__HEADER__INIT;
    Fusion__SectionDescriptor section = FUSION__SECTION_DESCRIPTOR__INIT;
    Fusion__SectionDescriptor *sections[] = {&section};
    Fusion__Category categories[] = {FUSION__CATEGORY__CATEGORY_OPERATIONAL};
    uint8_t msg_id[16] = {1, 2, 3}, hash[32] = {9};
    header.version = 1;
    header.msg_id = (ProtobufCBinaryData){sizeof msg_id, msg_id};
    header.sender = "THA.RTP.fp1";
    header.kind = FUSION__KIND__KIND_CASE_ALERT;
    header.route = "MMR>THA>MYS";
    section.id = 1;
    section.tlp = FUSION__TLP__TLP_GREEN;
    section.n_categories = 1;
    section.categories = categories;
    section.ciphertext_hash = (ProtobufCBinaryData){sizeof hash, hash};
    header.n_sections = 1;
    header.sections = sections;
    fx_codec_encode(&header, data, len);
}

static void test_round_trip(void **state)
{
    (void) state;
    uint8_t *data;
    size_t len;
    s_sample_header(&data, &len);
    Fusion__Header *header = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, data, len, (void **) &header), FX_OK);
    assert_string_equal(header->sender, "THA.RTP.fp1");
    assert_int_equal(header->n_sections, 1);
    assert_int_equal(header->sections[0]->tlp, FUSION__TLP__TLP_GREEN);
    assert_int_equal(fx_codec_size(header), len);
    fx_codec_free(header);
    fx_codec_free(NULL);
    free(data);
}

static void test_unknown_field_refused(void **state)
{
    (void) state;
    uint8_t *data;
    size_t len;
    s_sample_header(&data, &len);
    /* Field 99, varint 1 (tag 99 << 3 = 792 = varint 0x98 0x06): a field this version does not
     * know. */
    const uint8_t unknown[] = {0x98, 0x06, 0x01};
    uint8_t *longer = malloc(len + sizeof unknown);
    memcpy(longer, data, len);
    memcpy(longer + len, unknown, sizeof unknown);
    void *msg = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, longer, len + 3, &msg), FX_ERR_UNKNOWN_FIELD);
    assert_null(msg);
    free(longer);
    free(data);
}

static void test_unknown_enum_refused(void **state)
{
    (void) state;
    /* Header.kind (field 6, varint) = 77, an unknown kind. */
    const uint8_t bad_kind[] = {6 << 3, 77};
    void *msg = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, bad_kind, sizeof bad_kind, &msg),
                     FX_ERR_MALFORMED);
    /* The same inside a nested, repeated message: sections[0].categories = [42]. Header field
     * 20 (tag 162 = varint 0xa2 0x01), length 3: SectionDescriptor field 3 packed, length 1. */
    uint8_t nested[] = {0xa2, 0x01, 0x03, 3 << 3 | 2, 0x01, 42};
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, nested, sizeof nested, &msg), FX_ERR_MALFORMED);
    nested[5] = FUSION__CATEGORY__CATEGORY_MINOR;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, nested, sizeof nested, &msg), FX_OK);
    fx_codec_free(msg);
    const uint8_t good_kind[] = {6 << 3, 2};
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, good_kind, sizeof good_kind, &msg), FX_OK);
    fx_codec_free(msg);
}

static void test_size_cap_and_garbage(void **state)
{
    (void) state;
    size_t big = FX_MAX_HEADER_BYTES + 1;
    uint8_t *data = calloc(1, big);
    void *msg = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_HEADER, data, big, &msg), FX_ERR_TOO_LARGE);
    free(data);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(fx_codec_decode(FX_MSG_ENVELOPE, garbage, sizeof garbage, &msg),
                     FX_ERR_MALFORMED);
    /* A length-delimited field whose length runs past the end. */
    const uint8_t overrun[] = {1 << 3 | 2, 100, 'a'};
    assert_int_equal(fx_codec_decode(FX_MSG_ENVELOPE, overrun, sizeof overrun, &msg),
                     FX_ERR_MALFORMED);
    assert_int_equal(fx_codec_decode(FX_MSG_COUNT_, overrun, sizeof overrun, &msg), FX_ERR_INVALID);
    assert_null(msg);
}

static void test_every_truncation(void **state)
{
    (void) state;
    uint8_t *data;
    size_t len;
    s_sample_header(&data, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        void *msg = NULL;
        fx_err_t rc = fx_codec_decode(FX_MSG_HEADER, copy, cut, &msg);
        /* A cut on a field boundary decodes to a shorter header; any other cut is malformed. */
        assert_true(rc == FX_OK || rc == FX_ERR_MALFORMED);
        assert_true((rc == FX_OK) == (msg != NULL));
        fx_codec_free(msg);
        free(copy);
    }
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),           cmocka_unit_test(test_unknown_field_refused),
        cmocka_unit_test(test_unknown_enum_refused), cmocka_unit_test(test_size_cap_and_garbage),
        cmocka_unit_test(test_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
