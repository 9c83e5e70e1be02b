/* Certificates: enrolment requests, issuing and verifying, revocation lists, the directory,
 * the authority key file and signed files, including the corrupt fixtures in tests/data/cert. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fusion/cert.h"
#include "fusion/codec.h"
#include "fusion/directory.h"
#include "fusion/vocab.h"
#include "testutil.h"

#define T2020 1577836800000LL /* 2020-01-01 */
#define T2030 1893456000000LL /* 2030-01-01 */
#define T2100 4102444800000LL /* 2100-01-01 */
#define DAY   86400000LL

#define ROLES ((1u << FX_ROLE_FOCAL_POINT) | (1u << FX_ROLE_POLICE))

static fx_request_t *s_request(const fx_keys_t *keys)
{
    uint8_t *data;
    size_t len;
    fx_request_t *req = NULL;
    assert_int_equal(fx_request_create(keys, &data, &len), FX_OK);
    assert_int_equal(fx_request_verify(data, len, &req), FX_OK);
    free(data);
    return req;
}

/* A certificate for a fresh principal id, issued by authority. */
static void s_issue(const fx_keys_t *authority, const char *id, uint64_t serial, int64_t from,
                    int64_t until, uint8_t **data_p, size_t *len_p)
{
    fx_keys_t *keys = fx_keys_new(id);
    assert_non_null(keys);
    fx_request_t *req = s_request(keys);
    assert_int_equal(fx_cert_issue(authority, req, ROLES, serial, from, until, data_p, len_p),
                     FX_OK);
    fx_request_destroy(&req);
    fx_keys_destroy(&keys);
}

static void s_write_bytes(const char *path, const uint8_t *data, size_t len)
{
    assert_int_equal(fx_file_write(path, data, len, 0644, 0), FX_OK);
}

static void s_read(const char *path, uint8_t **data_p, size_t *len_p)
{
    assert_int_equal(fx_file_read(path, 1 << 20, data_p, len_p), FX_OK);
}

/* ---------------------------------------------------------------------------------------------
 * Requests */

static void test_request_round_trip(void **state)
{
    (void) state;
    fx_keys_t *keys = fx_keys_new("THA.RTP.fp1");
    fx_request_t *req = s_request(keys);
    assert_string_equal(fx_request_id(req), "THA.RTP.fp1");
    assert_memory_equal(fx_request_sign_key(req), fx_keys_sign_public(keys), FX_KEY_BYTES);
    assert_memory_equal(fx_request_box_key(req), fx_keys_box_public(keys), FX_KEY_BYTES);
    assert_memory_equal(fx_request_curve_key(req), fx_keys_curve_public(keys), FX_KEY_BYTES);
    assert_true(fx_request_created_at(req) > T2020);
    char fp1[FX_FINGERPRINT_BUFSIZE], fp2[FX_FINGERPRINT_BUFSIZE];
    fx_request_fingerprint(req, fp1);
    fx_fingerprint(fx_keys_sign_public(keys), fp2);
    assert_string_equal(fp1, fp2);
    fx_request_destroy(&req);
    assert_null(req);
    fx_request_destroy(&req);
    fx_keys_destroy(&keys);
}

static void test_request_forged_refused(void **state)
{
    (void) state;
    fx_keys_t *victim = fx_keys_new("THA.RTP.fp1"), *attacker = fx_keys_new("THA.RTP.fp9");
    uint8_t *data, *forged;
    size_t len, forged_len;
    assert_int_equal(fx_request_create(victim, &data, &len), FX_OK);
    /* The victim's body, signed by someone else: no proof of possession. */
    Fusion__EnrolmentRequest *msg = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_ENROLMENT_REQUEST, data, len, (void **) &msg), FX_OK);
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(attacker, FX_DOMAIN_REQUEST, msg->body.data, msg->body.len, sig);
    memcpy(msg->signature.data, sig, sizeof sig);
    fx_codec_encode(msg, &forged, &forged_len);
    fx_request_t *req = NULL;
    assert_int_equal(fx_request_verify(forged, forged_len, &req), FX_ERR_BAD_SIGNATURE);
    assert_null(req);
    free(forged);
    /* Signed by the right key but in another domain. */
    fx_keys_sign(victim, FX_DOMAIN_CERT, msg->body.data, msg->body.len, sig);
    memcpy(msg->signature.data, sig, sizeof sig);
    fx_codec_encode(msg, &forged, &forged_len);
    assert_int_equal(fx_request_verify(forged, forged_len, &req), FX_ERR_BAD_SIGNATURE);
    free(forged);
    fx_codec_free(msg);
    /* Truncated and garbage bytes. */
    assert_int_not_equal(fx_request_verify(data, len - 1, &req), FX_OK);
    assert_int_not_equal(fx_request_verify((const uint8_t *) "hello", 5, &req), FX_OK);
    assert_int_not_equal(fx_request_verify(NULL, 0, &req), FX_OK);
    assert_null(req);
    free(data);
    fx_keys_destroy(&victim);
    fx_keys_destroy(&attacker);
}

/* ---------------------------------------------------------------------------------------------
 * Certificates */

static void test_cert_issue_verify(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    fx_keys_t *keys = fx_keys_new("IDN.POLRI.lo2");
    fx_request_t *req = s_request(keys);
    uint8_t *data;
    size_t len;
    assert_int_equal(fx_cert_issue(authority, req, ROLES, 42, T2020, T2100, &data, &len), FX_OK);
    fx_cert_t *cert = NULL;
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(authority), T2030, &cert),
                     FX_OK);
    assert_string_equal(fx_cert_id(cert), "IDN.POLRI.lo2");
    assert_string_equal(fx_cert_country(cert), "IDN");
    assert_string_equal(fx_cert_agency(cert), "IDN.POLRI");
    assert_int_equal(fx_cert_roles(cert), ROLES);
    assert_true(fx_cert_has_role(cert, FX_ROLE_POLICE));
    assert_false(fx_cert_has_role(cert, FX_ROLE_NGO));
    assert_false(fx_cert_has_role(cert, 0));
    assert_false(fx_cert_has_role(cert, 40));
    assert_memory_equal(fx_cert_sign_key(cert), fx_keys_sign_public(keys), FX_KEY_BYTES);
    assert_memory_equal(fx_cert_box_key(cert), fx_keys_box_public(keys), FX_KEY_BYTES);
    assert_memory_equal(fx_cert_curve_key(cert), fx_keys_curve_public(keys), FX_KEY_BYTES);
    assert_int_equal(fx_cert_serial(cert), 42);
    assert_int_equal(fx_cert_not_before(cert), T2020);
    assert_int_equal(fx_cert_not_after(cert), T2100);
    size_t bytes_len, body_len;
    const uint8_t *bytes = fx_cert_bytes(cert, &bytes_len);
    assert_int_equal(bytes_len, len);
    assert_memory_equal(bytes, data, len);
    assert_non_null(fx_cert_body(cert, &body_len));
    assert_true(body_len > 0 && body_len < len);
    assert_int_equal(fx_signature_verify(fx_keys_sign_public(authority), FX_DOMAIN_CERT,
                                         fx_cert_body(cert, &body_len), body_len,
                                         fx_cert_signature(cert)),
                     0);
    fx_cert_t *copy = fx_cert_dup(cert);
    fx_cert_destroy(&cert);
    assert_null(cert);
    assert_string_equal(fx_cert_id(copy), "IDN.POLRI.lo2");
    assert_int_equal(fx_cert_check_time(copy, T2030), FX_OK);
    fx_cert_destroy(&copy);
    fx_cert_destroy(&copy);
    free(data);
    fx_request_destroy(&req);
    fx_keys_destroy(&keys);
    fx_keys_destroy(&authority);
}

static void test_cert_issue_bad_arguments(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority"), *keys = fx_keys_new("THA.RTP.a");
    fx_request_t *req = s_request(keys);
    uint8_t *data = NULL;
    size_t len;
    assert_int_equal(fx_cert_issue(authority, req, 0, 1, T2020, T2100, &data, &len),
                     FX_ERR_INVALID);
    assert_int_equal(fx_cert_issue(authority, req, 1u, 1, T2020, T2100, &data, &len),
                     FX_ERR_INVALID); /* bit 0 is "unspecified" */
    assert_int_equal(fx_cert_issue(authority, req, 1u << 20, 1, T2020, T2100, &data, &len),
                     FX_ERR_INVALID);
    assert_int_equal(fx_cert_issue(authority, req, ROLES, 0, T2020, T2100, &data, &len),
                     FX_ERR_INVALID);
    assert_int_equal(fx_cert_issue(authority, req, ROLES, 1, T2100, T2100, &data, &len),
                     FX_ERR_INVALID);
    assert_int_equal(fx_cert_issue(authority, req, ROLES, 1, -5, T2100, &data, &len),
                     FX_ERR_INVALID);
    assert_null(data);
    fx_request_destroy(&req);
    fx_keys_destroy(&keys);
    fx_keys_destroy(&authority);
}

static void test_cert_untrusted(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    fx_keys_t *other_region = fx_keys_new("EUR.FUSION.authority");
    uint8_t *data;
    size_t len;
    fx_cert_t *cert = NULL;
    /* Issued by another region's authority, checked against ours. */
    s_issue(other_region, "THA.RTP.fp1", 1, T2020, T2100, &data, &len);
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(authority), T2030, &cert),
                     FX_ERR_UNTRUSTED);
    assert_null(cert);
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(other_region), T2030, &cert),
                     FX_OK);
    fx_cert_destroy(&cert);
    /* Verified once with its own authority's key, it is still refused with ours. */
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(authority), T2030, &cert),
                     FX_ERR_UNTRUSTED);
    assert_null(cert);
    free(data);
    /* Issued by ours, checked against the other region's key. */
    s_issue(authority, "THA.RTP.fp1", 1, T2020, T2100, &data, &len);
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(other_region), T2030, &cert),
                     FX_ERR_UNTRUSTED);
    /* A principal's own key is not an authority. */
    fx_keys_t *principal = fx_keys_new("THA.RTP.fp2");
    assert_int_equal(fx_cert_verify(data, len, fx_keys_sign_public(principal), T2030, &cert),
                     FX_ERR_UNTRUSTED);
    assert_null(cert);
    free(data);
    fx_keys_destroy(&principal);
    fx_keys_destroy(&other_region);
    fx_keys_destroy(&authority);
}

static void test_cert_time_window(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    const uint8_t *key = fx_keys_sign_public(authority);
    uint8_t *data;
    size_t len;
    fx_cert_t *cert = NULL;
    s_issue(authority, "LKA.CID.x1", 3, T2020, T2020 + 30 * DAY, &data, &len);
    assert_int_equal(fx_cert_verify(data, len, key, T2030, &cert), FX_ERR_CERT_EXPIRED);
    assert_null(cert);
    assert_int_equal(fx_cert_verify(data, len, key, T2020 - 1, &cert), FX_ERR_CERT_NOT_YET_VALID);
    assert_null(cert);
    assert_int_equal(fx_cert_verify(data, len, key, T2020 + 30 * DAY, &cert), FX_ERR_CERT_EXPIRED);
    assert_int_equal(fx_cert_verify(data, len, key, T2020 + 30 * DAY - 1, &cert), FX_OK);
    assert_int_equal(fx_cert_check_time(cert, T2020 - 1), FX_ERR_CERT_NOT_YET_VALID);
    fx_cert_destroy(&cert);
    assert_int_equal(fx_cert_verify(data, len, key, T2020, &cert), FX_OK);
    fx_cert_destroy(&cert);
    /* Its signature verified just now, the window is still checked. */
    assert_int_equal(fx_cert_verify(data, len, key, T2030, &cert), FX_ERR_CERT_EXPIRED);
    assert_null(cert);
    free(data);
    fx_keys_destroy(&authority);
}

/* Flipping any bit of any byte, or cutting the certificate short, is never accepted, also right
 * after the certificate itself verified (lib/cert.c remembers signatures it verified). */
static void test_cert_every_byte_flip_rejected(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    const uint8_t *key = fx_keys_sign_public(authority);
    uint8_t *data;
    size_t len;
    s_issue(authority, "MYS.PDRM.sb1", 77, T2020, T2100, &data, &len);
    fx_cert_t *original = NULL;
    assert_int_equal(fx_cert_verify(data, len, key, T2030, &original), FX_OK);
    fx_cert_destroy(&original);
    uint8_t *copy = malloc(len);
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(copy, data, len);
            copy[i] ^= masks[m];
            fx_cert_t *cert = NULL;
            fx_err_t rc = fx_cert_verify(copy, len, key, T2030, &cert);
            if (rc == FX_OK)
                fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
            assert_null(cert);
        }
    }
    for (size_t cut = 0; cut < len; cut++) {
        fx_cert_t *cert = NULL;
        assert_int_not_equal(fx_cert_verify(data, cut, key, T2030, &cert), FX_OK);
        assert_null(cert);
    }
    assert_int_equal(fx_cert_verify(data, len, key, T2030, &original), FX_OK);
    assert_string_equal(fx_cert_id(original), "MYS.PDRM.sb1");
    fx_cert_destroy(&original);
    free(copy);
    free(data);
    fx_keys_destroy(&authority);
}

/* Signs an arbitrary body as a certificate, to test what the verifier checks inside it. */
static void s_sign_body(const fx_keys_t *authority, const Fusion__CertificateBody *body,
                        uint8_t **data_p, size_t *len_p)
{
    uint8_t *body_bytes, sig[FX_SIGNATURE_BYTES];
    size_t body_len;
    fx_codec_encode(body, &body_bytes, &body_len);
    fx_keys_sign(authority, FX_DOMAIN_CERT, body_bytes, body_len, sig);
    Fusion__Certificate cert = FUSION__CERTIFICATE__INIT;
    cert.body = (ProtobufCBinaryData){body_len, body_bytes};
    cert.signature = (ProtobufCBinaryData){sizeof sig, sig};
    fx_codec_encode(&cert, data_p, len_p);
    free(body_bytes);
}

static void test_cert_contents_checked(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority"), *other = fx_keys_new("X.Y.z");
    assert_null(other);
    other = fx_keys_new("EUR.FUSION.authority");
    uint8_t key[FX_KEY_BYTES], short_key[FX_KEY_BYTES - 1], zero_key[FX_KEY_BYTES] = {0};
    randombytes_buf(key, sizeof key);
    randombytes_buf(short_key, sizeof short_key);
    Fusion__Role one_role[] = {FUSION__ROLE__ROLE_POLICE};
    Fusion__Role unspecified[] = {FUSION__ROLE__ROLE_UNSPECIFIED};
    Fusion__Role twice[] = {FUSION__ROLE__ROLE_POLICE, FUSION__ROLE__ROLE_POLICE};
    enum {
        OK_CASE,
        WRONG_AUTHORITY_FIELD,
        VERSION,
        SERIAL,
        BAD_ID,
        COUNTRY,
        AGENCY,
        NO_ROLES,
        ROLE_ZERO,
        ROLE_TWICE,
        SHORT_KEY,
        ZERO_KEY,
        WINDOW,
        CASES
    };
    static const fx_err_t expected[CASES] = {
        [OK_CASE] = FX_OK,
        [WRONG_AUTHORITY_FIELD] = FX_ERR_UNTRUSTED,
        [VERSION] = FX_ERR_MALFORMED,
        [SERIAL] = FX_ERR_MALFORMED,
        [BAD_ID] = FX_ERR_MALFORMED,
        [COUNTRY] = FX_ERR_MALFORMED,
        [AGENCY] = FX_ERR_MALFORMED,
        [NO_ROLES] = FX_ERR_MALFORMED,
        [ROLE_ZERO] = FX_ERR_MALFORMED,
        [ROLE_TWICE] = FX_ERR_MALFORMED,
        [SHORT_KEY] = FX_ERR_MALFORMED,
        [ZERO_KEY] = FX_ERR_MALFORMED,
        [WINDOW] = FX_ERR_MALFORMED,
    };
    for (int c = 0; c < CASES; c++) {
        Fusion__CertificateBody body = FUSION__CERTIFICATE_BODY__INIT;
        body.version = c == VERSION ? 2 : FX_CERT_VERSION;
        body.serial = c == SERIAL ? 0 : 5;
        body.id = c == BAD_ID ? "THA.RTP" : "THA.RTP.fp1";
        body.country = c == COUNTRY ? "IDN" : "THA";
        body.agency = c == AGENCY ? "THA.DSI" : "THA.RTP";
        body.n_roles = c == NO_ROLES ? 0 : c == ROLE_TWICE ? 2 : 1;
        body.roles = c == ROLE_ZERO ? unspecified : c == ROLE_TWICE ? twice : one_role;
        body.sign_key = (ProtobufCBinaryData){sizeof key, key};
        body.box_key = c == SHORT_KEY ? (ProtobufCBinaryData){sizeof short_key, short_key}
                                      : (ProtobufCBinaryData){sizeof key, key};
        body.curve_key = c == ZERO_KEY ? (ProtobufCBinaryData){sizeof zero_key, zero_key}
                                       : (ProtobufCBinaryData){sizeof key, key};
        body.not_before = T2020;
        body.not_after = c == WINDOW ? T2020 : T2100;
        body.authority_key = (ProtobufCBinaryData){
            FX_KEY_BYTES,
            (uint8_t *) fx_keys_sign_public(c == WRONG_AUTHORITY_FIELD ? other : authority)};
        uint8_t *data;
        size_t len;
        s_sign_body(authority, &body, &data, &len);
        fx_cert_t *cert = NULL;
        fx_err_t rc = fx_cert_verify(data, len, fx_keys_sign_public(authority), T2030, &cert);
        if (rc != expected[c])
            fail_msg("case %d: %s, expected %s", c, fx_err_code(rc), fx_err_code(expected[c]));
        fx_cert_destroy(&cert);
        free(data);
    }
    fx_keys_destroy(&other);
    fx_keys_destroy(&authority);
}

/* The fixtures in tests/data/cert, made by the authority whose public key is authority.pub. */
static const struct {
    const char *file;
    fx_err_t expected;
} s_fixtures[] = {
    {"THA.RTP.fp1.cert", FX_OK},
    {"THA.RTP.truncated.cert", FX_ERR_MALFORMED},
    {"THA.RTP.bitflip.cert", FX_ERR_UNTRUSTED},
    {"THA.RTP.sigflip.cert", FX_ERR_UNTRUSTED},
    {"THA.RTP.wrongtype.cert", FX_ERR_MALFORMED},
    {"THA.RTP.empty.cert", FX_ERR_MALFORMED},
    {"THA.RTP.crl.cert", FX_ERR_UNTRUSTED},
    {"THA.RTP.otherauth.cert", FX_ERR_UNTRUSTED},
    {"THA.RTP.misnamed.cert", FX_OK}, /* a good certificate, for THA.RTP.fp2 */
};

static char *s_fixture(const char *name)
{
    char *dir = tu_path(tu_data_dir(), "cert"), *path = tu_path(dir, name);
    free(dir);
    return path;
}

static void s_fixture_authority(uint8_t key[FX_KEY_BYTES])
{
    char *path = s_fixture("authority.pub");
    assert_int_equal(fx_authority_key_load(path, key), FX_OK);
    free(path);
}

static void test_cert_fixtures(void **state)
{
    (void) state;
    uint8_t key[FX_KEY_BYTES];
    s_fixture_authority(key);
    for (size_t i = 0; i < sizeof s_fixtures / sizeof s_fixtures[0]; i++) {
        char *path = s_fixture(s_fixtures[i].file);
        size_t len;
        uint8_t *data = NULL;
        s_read(path, &data, &len);
        fx_cert_t *cert = NULL;
        fx_err_t rc = fx_cert_verify(data, len, key, T2030, &cert);
        if (rc != s_fixtures[i].expected)
            fail_msg("%s: %s, expected %s", s_fixtures[i].file, fx_err_code(rc),
                     fx_err_code(s_fixtures[i].expected));
        assert_true((cert != NULL) == (rc == FX_OK));
        fx_cert_destroy(&cert);
        free(data);
        free(path);
    }
}

static void test_directory_fixtures(void **state)
{
    (void) state;
    uint8_t key[FX_KEY_BYTES];
    s_fixture_authority(key);
    char *dir_path = tu_path(tu_data_dir(), "cert");
    fx_directory_t *dir = NULL;
    assert_int_equal(fx_directory_load(dir_path, key, T2030, &dir), FX_OK);
    assert_int_equal(fx_directory_count(dir), 1);
    assert_non_null(fx_directory_find(dir, "THA.RTP.fp1"));
    assert_null(fx_directory_find(dir, "THA.RTP.fp2"));
    assert_true(fx_revocations_contains(fx_directory_revocations(dir), 99));
    /* Every other fixture is reported, with its reason, and trusted for nothing. */
    size_t fixtures = sizeof s_fixtures / sizeof s_fixtures[0];
    assert_int_equal(fx_directory_problem_count(dir), fixtures - 1);
    for (size_t i = 0; i < fx_directory_problem_count(dir); i++) {
        const char *source, *detail;
        fx_err_t err = fx_directory_problem(dir, i, &source, &detail);
        assert_int_not_equal(err, FX_OK);
        assert_non_null(detail);
        int known = 0;
        for (size_t f = 0; f < fixtures; f++) {
            const char *name = s_fixtures[f].file;
            size_t n = strlen(source), m = strlen(name);
            if (n >= m && strcmp(source + n - m, name) == 0) {
                known = 1;
                assert_int_equal(err, s_fixtures[f].expected == FX_OK ? FX_ERR_INVALID
                                                                      : s_fixtures[f].expected);
            }
        }
        assert_true(known);
    }
    fx_directory_destroy(&dir);
    free(dir_path);
}

/* ---------------------------------------------------------------------------------------------
 * Revocation lists */

static void test_revocations(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority"), *other = fx_keys_new("EUR.F.a");
    const uint8_t *key = fx_keys_sign_public(authority);
    fx_revocations_t *first = fx_revocations_new(NULL);
    assert_int_equal(fx_revocations_sequence(first), 1);
    assert_int_equal(fx_revocations_add(first, 9), FX_OK);
    assert_int_equal(fx_revocations_add(first, 3), FX_OK);
    assert_int_equal(fx_revocations_add(first, 9), FX_OK);
    assert_int_equal(fx_revocations_add(first, 0), FX_ERR_INVALID);
    assert_int_equal(fx_revocations_count(first), 2);
    assert_int_equal(fx_revocations_at(first, 0), 3);
    assert_null(fx_revocations_signature(first));
    uint8_t *v1, *v2;
    size_t v1_len, v2_len;
    assert_int_equal(fx_revocations_sign(first, authority, T2020, &v1, &v1_len), FX_OK);

    fx_revocations_t *verified = NULL;
    assert_int_equal(fx_revocations_verify(v1, v1_len, key, 0, &verified), FX_OK);
    assert_true(fx_revocations_contains(verified, 3));
    assert_true(fx_revocations_contains(verified, 9));
    assert_false(fx_revocations_contains(verified, 4));
    assert_int_equal(fx_revocations_issued_at(verified), T2020);
    assert_non_null(fx_revocations_signature(verified));

    fx_revocations_t *second = fx_revocations_new(verified);
    assert_int_equal(fx_revocations_sequence(second), 2);
    assert_int_equal(fx_revocations_add(second, 4), FX_OK);
    assert_int_equal(fx_revocations_sign(second, authority, T2020 + 1, &v2, &v2_len), FX_OK);
    fx_revocations_destroy(&verified);
    assert_int_equal(fx_revocations_verify(v2, v2_len, key, 1, &verified), FX_OK);
    assert_int_equal(fx_revocations_count(verified), 3);
    assert_true(fx_revocations_contains(verified, 4));
    fx_revocations_destroy(&verified);

    /* Having seen sequence 2, sequence 1 is a rollback; the same sequence again is fine. */
    assert_int_equal(fx_revocations_verify(v1, v1_len, key, 2, &verified), FX_ERR_REPLAY);
    assert_null(verified);
    assert_int_equal(fx_revocations_verify(v2, v2_len, key, 2, &verified), FX_OK);
    fx_revocations_destroy(&verified);
    /* Another authority's key, altered bytes, a certificate presented as a list. */
    assert_int_equal(fx_revocations_verify(v2, v2_len, fx_keys_sign_public(other), 0, &verified),
                     FX_ERR_UNTRUSTED);
    for (size_t i = 0; i < v2_len; i++) {
        v2[i] ^= 0x20;
        assert_int_not_equal(fx_revocations_verify(v2, v2_len, key, 0, &verified), FX_OK);
        v2[i] ^= 0x20;
    }
    uint8_t *cert;
    size_t cert_len;
    s_issue(authority, "THA.RTP.fp1", 1, T2020, T2100, &cert, &cert_len);
    assert_int_not_equal(fx_revocations_verify(cert, cert_len, key, 0, &verified), FX_OK);
    assert_null(verified);
    free(cert);
    free(v1);
    free(v2);
    fx_revocations_destroy(&first);
    fx_revocations_destroy(&second);
    fx_keys_destroy(&other);
    fx_keys_destroy(&authority);
}

/* ---------------------------------------------------------------------------------------------
 * Directory */

/* CERTS/ID.cert: a certificate the authority issued. */
static void s_write_cert(const fx_keys_t *authority, const char *certs, const char *id,
                         uint64_t serial, int64_t from, int64_t until)
{
    uint8_t *data;
    size_t len;
    char name[FX_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.cert", id);
    char *path = tu_path(certs, name);
    s_issue(authority, id, serial, from, until, &data, &len);
    s_write_bytes(path, data, len);
    free(data);
    free(path);
}

/* A region with THA.RTP.fp1 (valid), IDN.POLRI.lo2 (revoked), LKA.CID.x1 (expired) and
 * MMR.MPF.ht1 (not yet valid). */
static char *s_region(const fx_keys_t *authority)
{
    char *region = tu_tempdir(), *certs = tu_path(region, FX_REGION_CERT_DIR);
    assert_int_equal(fx_mkdir_p(certs), 0);
    static const struct {
        const char *id;
        uint64_t serial;
        int64_t from, until;
    } principals[] = {
        {"THA.RTP.fp1", 1, T2020, T2100},
        {"IDN.POLRI.lo2", 2, T2020, T2100},
        {"LKA.CID.x1", 3, T2020, T2020 + DAY},
        {"MMR.MPF.ht1", 4, T2100 - DAY, T2100},
    };
    for (size_t i = 0; i < sizeof principals / sizeof principals[0]; i++)
        s_write_cert(authority, certs, principals[i].id, principals[i].serial, principals[i].from,
                     principals[i].until);
    fx_revocations_t *list = fx_revocations_new(NULL);
    assert_int_equal(fx_revocations_add(list, 2), FX_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(fx_revocations_sign(list, authority, T2020, &data, &len), FX_OK);
    char *crl = tu_path(region, FX_REGION_CRL_FILE);
    s_write_bytes(crl, data, len);
    free(crl);
    free(data);
    fx_revocations_destroy(&list);
    free(certs);
    return region;
}

static void s_check_statuses(const fx_directory_t *dir)
{
    assert_int_equal(fx_directory_count(dir), 4);
    assert_int_equal(fx_directory_problem_count(dir), 0);
    const fx_cert_t *cert = fx_directory_find(dir, "THA.RTP.fp1");
    assert_non_null(cert);
    assert_string_equal(fx_cert_id(cert), "THA.RTP.fp1");
    assert_int_equal(fx_directory_status(dir, "THA.RTP.fp1", NULL), FX_CERT_STATUS_VALID);

    assert_null(fx_directory_find(dir, "IDN.POLRI.lo2"));
    assert_int_equal(fx_directory_status(dir, "IDN.POLRI.lo2", &cert), FX_CERT_STATUS_REVOKED);
    assert_non_null(cert);
    assert_int_equal(fx_cert_serial(cert), 2);

    assert_null(fx_directory_find(dir, "LKA.CID.x1"));
    assert_int_equal(fx_directory_status(dir, "LKA.CID.x1", NULL), FX_CERT_STATUS_EXPIRED);
    assert_null(fx_directory_find(dir, "MMR.MPF.ht1"));
    assert_int_equal(fx_directory_status(dir, "MMR.MPF.ht1", NULL), FX_CERT_STATUS_NOT_YET_VALID);
    assert_null(fx_directory_find(dir, "VNM.MPS.x"));
    assert_int_equal(fx_directory_status(dir, "VNM.MPS.x", &cert), FX_CERT_STATUS_UNKNOWN);
    assert_null(cert);
    assert_string_equal(fx_cert_status_name(FX_CERT_STATUS_REVOKED), "revoked");

    /* In order of id. */
    assert_string_equal(fx_cert_id(fx_directory_at(dir, 0)), "IDN.POLRI.lo2");
    assert_int_equal(fx_directory_status_at(dir, 0), FX_CERT_STATUS_REVOKED);
    assert_string_equal(fx_cert_id(fx_directory_at(dir, 3)), "THA.RTP.fp1");
    assert_null(fx_directory_at(dir, 4));
    assert_int_equal(fx_directory_revocations_sequence(dir), 1);
}

static void test_directory_revoked_and_round_trip(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    const uint8_t *key = fx_keys_sign_public(authority);
    char *region = s_region(authority);
    fx_directory_t *dir = NULL, *copy = NULL;
    assert_int_equal(fx_directory_load(region, key, T2030, &dir), FX_OK);
    s_check_statuses(dir);
    assert_int_equal(fx_directory_now(dir), T2030);

    /* The same from the certificate directory itself (revocations.crl in its parent). */
    char *certs = tu_path(region, FX_REGION_CERT_DIR);
    assert_int_equal(fx_directory_load(certs, key, T2030, &copy), FX_OK);
    s_check_statuses(copy);
    fx_directory_destroy(&copy);

    /* Through a Directory frame and back. */
    uint8_t *frame;
    size_t frame_len;
    fx_directory_encode(dir, &frame, &frame_len);
    assert_int_equal(fx_directory_from_bytes(frame, frame_len, key, T2030, &copy), FX_OK);
    s_check_statuses(copy);
    fx_directory_destroy(&copy);
    fx_keys_t *other = fx_keys_new("EUR.FUSION.authority");
    assert_int_equal(
        fx_directory_from_bytes(frame, frame_len, fx_keys_sign_public(other), T2030, &copy),
        FX_ERR_UNTRUSTED);
    assert_null(copy);
    for (size_t i = 0; i < frame_len; i++) {
        /* An altered frame never yields a valid certificate it did not carry. */
        frame[i] ^= 0x08;
        if (fx_directory_from_bytes(frame, frame_len, key, T2030, &copy) == FX_OK) {
            for (size_t c = 0; c < fx_directory_count(copy); c++)
                if (fx_directory_status_at(copy, c) == FX_CERT_STATUS_VALID)
                    assert_string_equal(fx_cert_id(fx_directory_at(copy, c)), "THA.RTP.fp1");
            assert_null(fx_directory_find(copy, "IDN.POLRI.lo2"));
            fx_directory_destroy(&copy);
        }
        frame[i] ^= 0x08;
    }
    free(frame);
    fx_directory_destroy(&dir);
    fx_directory_destroy(&dir);

    /* A stray or forged certificate file is skipped and reported, never trusted. */
    char *stray = tu_path(certs, "VNM.MPS.x.cert");
    uint8_t *data;
    size_t len;
    s_issue(other, "VNM.MPS.x", 9, T2020, T2100, &data, &len);
    s_write_bytes(stray, data, len);
    free(data);
    char *ignored = tu_path(certs, "notes.txt");
    tu_write(ignored, "not a certificate\n", 0644);
    assert_int_equal(fx_directory_load(region, key, T2030, &dir), FX_OK);
    assert_int_equal(fx_directory_count(dir), 4);
    assert_null(fx_directory_find(dir, "VNM.MPS.x"));
    assert_int_equal(fx_directory_problem_count(dir), 1);
    const char *source = NULL;
    assert_int_equal(fx_directory_problem(dir, 0, &source, NULL), FX_ERR_UNTRUSTED);
    assert_string_equal(source, stray);
    fx_directory_destroy(&dir);

    /* Without a revocation list that verifies, nothing loads. */
    char *crl = tu_path(region, FX_REGION_CRL_FILE);
    size_t crl_len;
    uint8_t *crl_data = NULL;
    s_read(crl, &crl_data, &crl_len);
    crl_data[crl_len - 1] ^= 1;
    s_write_bytes(crl, crl_data, crl_len);
    assert_int_equal(fx_directory_load(region, key, T2030, &dir), FX_ERR_UNTRUSTED);
    assert_null(dir);
    assert_int_equal(remove(crl), 0);
    assert_int_equal(fx_directory_load(region, key, T2030, &dir), FX_ERR_NOT_FOUND);
    assert_null(dir);
    assert_int_equal(fx_directory_load("/nonexistent/region", key, T2030, &dir), FX_ERR_NOT_FOUND);

    free(crl_data);
    free(crl);
    free(ignored);
    free(stray);
    free(certs);
    tu_rmtree(region);
    free(region);
    fx_keys_destroy(&other);
    fx_keys_destroy(&authority);
}

/* A reload whose new principals must wait keeps the certificates in force that the new
 * directory still holds, under its newer revocation list: a revocation, a removal and a
 * replacement take effect, an addition does not. */
static void test_directory_revoked_by(void **state)
{
    (void) state;
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    const uint8_t *key = fx_keys_sign_public(authority);
    char *region = s_region(authority);
    char *certs = tu_path(region, FX_REGION_CERT_DIR);
    fx_directory_t *old = NULL, *newer = NULL;
    assert_int_equal(fx_directory_load(region, key, T2030, &old), FX_OK);
    assert_non_null(fx_directory_find(old, "THA.RTP.fp1"));

    static const struct {
        const char *id;
        uint64_t serial;
    } changes[] = {{"VNM.MPS.new", 5}, {"MMR.MPF.ht1", 6}}; /* an addition, a replacement */
    for (size_t i = 0; i < 2; i++)
        s_write_cert(authority, certs, changes[i].id, changes[i].serial, T2020, T2100);
    fx_revocations_t *list = fx_revocations_new(fx_directory_revocations(old));
    assert_int_equal(fx_revocations_add(list, 1), FX_OK); /* THA.RTP.fp1 */
    uint8_t *data;
    size_t len;
    assert_int_equal(fx_revocations_sign(list, authority, T2030, &data, &len), FX_OK);
    char *crl = tu_path(region, FX_REGION_CRL_FILE);
    s_write_bytes(crl, data, len);
    free(data);
    fx_revocations_destroy(&list);
    assert_int_equal(fx_directory_load(region, key, T2030 + DAY, &newer), FX_OK);
    uint64_t sequence = fx_directory_revocations_sequence(newer);
    assert_true(sequence > fx_directory_revocations_sequence(old));

    fx_directory_t *both = fx_directory_revoked_by(old, &newer);
    assert_null(newer);
    assert_int_equal(fx_directory_revocations_sequence(both), sequence);
    assert_int_equal(fx_directory_now(both), T2030 + DAY);
    assert_int_equal(fx_directory_status(both, "THA.RTP.fp1", NULL), FX_CERT_STATUS_REVOKED);
    assert_int_equal(fx_directory_status(both, "IDN.POLRI.lo2", NULL), FX_CERT_STATUS_REVOKED);
    assert_int_equal(fx_directory_status(both, "LKA.CID.x1", NULL), FX_CERT_STATUS_EXPIRED);
    assert_int_equal(fx_directory_status(both, "VNM.MPS.new", NULL), FX_CERT_STATUS_UNKNOWN);
    assert_int_equal(fx_directory_status(both, "MMR.MPF.ht1", NULL), FX_CERT_STATUS_UNKNOWN);
    assert_int_equal(fx_directory_count(both), 3);
    /* The one in force is untouched. */
    assert_non_null(fx_directory_find(old, "THA.RTP.fp1"));
    assert_int_equal(fx_directory_count(old), 4);

    fx_directory_destroy(&both);
    fx_directory_destroy(&old);
    free(crl);
    free(certs);
    tu_rmtree(region);
    free(region);
    fx_keys_destroy(&authority);
}

/* ---------------------------------------------------------------------------------------------
 * Authority key file and signed files */

static void test_authority_key_file(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "authority.pub");
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    uint8_t key[FX_KEY_BYTES];
    assert_int_equal(fx_authority_key_save(path, fx_keys_sign_public(authority)), FX_OK);
    assert_int_equal(fx_authority_key_save(path, fx_keys_sign_public(authority)), FX_ERR_EXISTS);
    assert_int_equal(fx_authority_key_load(path, key), FX_OK);
    assert_memory_equal(key, fx_keys_sign_public(authority), FX_KEY_BYTES);

    size_t len;
    char *text = NULL;
    s_read(path, (uint8_t **) &text, &len);
    char *key_line = strstr(text, "\nkey: ") + 6;
    key_line[0] = key_line[0] == 'a' ? 'b' : 'a'; /* a mistyped copy */
    tu_write(path, text, 0644);
    assert_int_equal(fx_authority_key_load(path, key), FX_ERR_MALFORMED);
    tu_write(path, "fusion-authority-key: 1\nkey: 00\nfingerprint: 0000-0000-0000-0000\n", 0644);
    assert_int_equal(fx_authority_key_load(path, key), FX_ERR_MALFORMED);
    tu_write(path, "", 0644);
    assert_int_equal(fx_authority_key_load(path, key), FX_ERR_MALFORMED);
    char *missing = tu_path(dir, "missing.pub");
    assert_int_equal(fx_authority_key_load(missing, key), FX_ERR_NOT_FOUND);
    free(missing);
    free(text);
    fx_keys_destroy(&authority);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static void test_signed_file(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "policy.yaml"),
         *sig_path = tu_path(dir, "policy.yaml.sig");
    fx_keys_t *authority = fx_keys_new("RSO.FUSION.authority");
    fx_keys_t *other = fx_keys_new("EUR.FUSION.authority");
    const uint8_t *key = fx_keys_sign_public(authority);
    const char *policy = "version: 1\nrules:\n  - allow: all\n";
    tu_write(path, policy, 0644);
    assert_int_equal(fx_file_sign(authority, FX_DOMAIN_POLICY, path), FX_OK);
    const uint8_t *bytes = (const uint8_t *) policy;
    size_t len = strlen(policy);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path), FX_OK);

    /* Altered file, another domain, another authority. */
    char *altered = strdup(policy);
    altered[len - 4] = 'n';
    assert_int_equal(
        fx_file_verify(key, FX_DOMAIN_POLICY, (const uint8_t *) altered, len, sig_path),
        FX_ERR_BAD_SIGNATURE);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len - 1, sig_path),
                     FX_ERR_BAD_SIGNATURE);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_CERT, bytes, len, sig_path), FX_ERR_MALFORMED);
    assert_int_equal(
        fx_file_verify(fx_keys_sign_public(other), FX_DOMAIN_POLICY, bytes, len, sig_path),
        FX_ERR_UNTRUSTED);

    /* Altered signature. */
    size_t sig_len;
    char *sig_text = NULL;
    s_read(sig_path, (uint8_t **) &sig_text, &sig_len);
    char *hex = strstr(sig_text, "\nsignature: ") + 12;
    hex[10] = hex[10] == '0' ? '1' : '0';
    tu_write(sig_path, sig_text, 0644);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path),
                     FX_ERR_BAD_SIGNATURE);
    hex[10] = 'x';
    tu_write(sig_path, sig_text, 0644);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path), FX_ERR_MALFORMED);

    /* Signed by another key that claims our fingerprint: the signature decides. */
    assert_int_equal(fx_file_sign(other, FX_DOMAIN_POLICY, path), FX_OK);
    free(sig_text);
    s_read(sig_path, (uint8_t **) &sig_text, &sig_len);
    char fp_ours[FX_FINGERPRINT_BUFSIZE], fp_theirs[FX_FINGERPRINT_BUFSIZE];
    fx_fingerprint(key, fp_ours);
    fx_fingerprint(fx_keys_sign_public(other), fp_theirs);
    char *signer = strstr(sig_text, fp_theirs);
    assert_non_null(signer);
    memcpy(signer, fp_ours, strlen(fp_ours));
    tu_write(sig_path, sig_text, 0644);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path),
                     FX_ERR_BAD_SIGNATURE);

    /* Re-signing replaces the old signature; no signature file at all. */
    assert_int_equal(fx_file_sign(authority, FX_DOMAIN_POLICY, path), FX_OK);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path), FX_OK);
    assert_int_equal(remove(sig_path), 0);
    assert_int_equal(fx_file_verify(key, FX_DOMAIN_POLICY, bytes, len, sig_path), FX_ERR_NOT_FOUND);
    char *missing = tu_path(dir, "missing.yaml");
    assert_int_equal(fx_file_sign(authority, FX_DOMAIN_POLICY, missing), FX_ERR_NOT_FOUND);

    free(missing);
    free(sig_text);
    free(altered);
    fx_keys_destroy(&other);
    fx_keys_destroy(&authority);
    tu_rmtree(dir);
    free(sig_path);
    free(path);
    free(dir);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_forged_refused),
        cmocka_unit_test(test_cert_issue_verify),
        cmocka_unit_test(test_cert_issue_bad_arguments),
        cmocka_unit_test(test_cert_untrusted),
        cmocka_unit_test(test_cert_time_window),
        cmocka_unit_test(test_cert_every_byte_flip_rejected),
        cmocka_unit_test(test_cert_contents_checked),
        cmocka_unit_test(test_cert_fixtures),
        cmocka_unit_test(test_directory_fixtures),
        cmocka_unit_test(test_revocations),
        cmocka_unit_test(test_directory_revoked_and_round_trip),
        cmocka_unit_test(test_directory_revoked_by),
        cmocka_unit_test(test_authority_key_file),
        cmocka_unit_test(test_signed_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
