/* libFuzzer target for untrusted identity bytes: fx_cert_verify, fx_request_verify,
 * fx_revocations_verify and fx_directory_from_bytes against a fixed authority key (the seeds in
 * tests/fuzz/corpus/cert are signed by it), and the same input signed as a certificate body and a
 * revocation list body, so the checks behind the signature are fuzzed too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/cert.h"
#include "fusion/codec.h"
#include "fusion/directory.h"

#define NOW_MS 1893456000000LL /* 2030-01-01, inside the seeds' validity */

/* A fixed test authority, not a secret: its seed bytes are 0x01, box 0x02, curve 0x03. */
static const char s_key_file[] =
    "fusion-secret-keys: 1\nid: RSO.FUSION.fuzz\n"
    "sign-seed: 0101010101010101010101010101010101010101010101010101010101010101\n"
    "box-secret: 0202020202020202020202020202020202020202020202020202020202020202\n"
    "curve-secret: 0303030303030303030303030303030303030303030303030303030303030303\n";

static fx_keys_t *s_authority;
static const uint8_t *s_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fx_init();
    char path[] = "/tmp/fusion-fuzz-cert-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        write(fd, s_key_file, sizeof s_key_file - 1) != (ssize_t) (sizeof s_key_file - 1))
        abort();
    close(fd);
    if (fx_keys_load(path, &s_authority) != FX_OK)
        abort();
    unlink(path);
    s_key = fx_keys_sign_public(s_authority);
    return 0;
}

/* What a verified certificate promises, whatever bytes it came from. */
static void s_check_cert(const fx_cert_t *cert)
{
    char agency[FX_ID_MAX];
    if (!fx_principal_id_valid(fx_cert_id(cert)) ||
        strncmp(fx_cert_id(cert), fx_cert_country(cert), 3) != 0)
        abort();
    fx_principal_agency(fx_cert_id(cert), agency);
    if (strcmp(agency, fx_cert_agency(cert)) != 0 || fx_cert_roles(cert) == 0 ||
        (fx_cert_roles(cert) & 1u) || fx_cert_serial(cert) == 0 ||
        fx_cert_not_after(cert) <= fx_cert_not_before(cert))
        abort();
    /* The bytes it hands out verify again to the same certificate. */
    size_t len;
    const uint8_t *bytes = fx_cert_bytes(cert, &len);
    fx_cert_t *again = NULL;
    if (fx_cert_verify(bytes, len, s_key, NOW_MS, &again) != fx_cert_check_time(cert, NOW_MS))
        abort();
    if (again && (strcmp(fx_cert_id(again), fx_cert_id(cert)) != 0 ||
                  fx_cert_serial(again) != fx_cert_serial(cert)))
        abort();
    fx_cert_destroy(&again);
}

static void s_signed(int type, const uint8_t *body, size_t size)
{
    uint8_t sig[FX_SIGNATURE_BYTES], *data;
    size_t len;
    ProtobufCBinaryData b = {size, (uint8_t *) body}, s = {sizeof sig, sig};
    if (type == FX_MSG_CERTIFICATE) {
        fx_keys_sign(s_authority, FX_DOMAIN_CERT, body, size, sig);
        Fusion__Certificate msg = FUSION__CERTIFICATE__INIT;
        msg.body = b;
        msg.signature = s;
        fx_codec_encode(&msg, &data, &len);
        fx_cert_t *cert = NULL;
        if (fx_cert_verify(data, len, s_key, NOW_MS, &cert) == FX_OK)
            s_check_cert(cert);
        fx_cert_destroy(&cert);
    } else {
        fx_keys_sign(s_authority, FX_DOMAIN_REVOCATIONS, body, size, sig);
        Fusion__RevocationList msg = FUSION__REVOCATION_LIST__INIT;
        msg.body = b;
        msg.signature = s;
        fx_codec_encode(&msg, &data, &len);
        fx_revocations_t *list = NULL;
        if (fx_revocations_verify(data, len, s_key, 0, &list) == FX_OK) {
            for (size_t i = 0; i < fx_revocations_count(list); i++)
                if (!fx_revocations_contains(list, fx_revocations_at(list, i)))
                    abort();
        }
        fx_revocations_destroy(&list);
    }
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_cert_t *cert = NULL;
    if (fx_cert_verify(data, size, s_key, NOW_MS, &cert) == FX_OK)
        s_check_cert(cert);
    fx_cert_destroy(&cert);

    fx_request_t *req = NULL;
    if (fx_request_verify(data, size, &req) == FX_OK && !fx_principal_id_valid(fx_request_id(req)))
        abort();
    fx_request_destroy(&req);

    fx_revocations_t *list = NULL;
    (void) fx_revocations_verify(data, size, s_key, 0, &list);
    fx_revocations_destroy(&list);

    fx_directory_t *dir = NULL;
    if (fx_directory_from_bytes(data, size, s_key, NOW_MS, &dir) == FX_OK) {
        for (size_t i = 0; i < fx_directory_count(dir); i++) {
            const fx_cert_t *c = fx_directory_at(dir, i);
            s_check_cert(c);
            const fx_cert_t *found = fx_directory_find(dir, fx_cert_id(c));
            if (found &&
                (fx_directory_status(dir, fx_cert_id(c), NULL) != FX_CERT_STATUS_VALID ||
                 fx_revocations_contains(fx_directory_revocations(dir), fx_cert_serial(found)) ||
                 fx_cert_check_time(found, NOW_MS) != FX_OK))
                abort();
        }
        /* Encoding and decoding again gives the same directory. */
        uint8_t *bytes;
        size_t len;
        fx_directory_encode(dir, &bytes, &len);
        fx_directory_t *again = NULL;
        if (fx_directory_from_bytes(bytes, len, s_key, NOW_MS, &again) != FX_OK ||
            fx_directory_count(again) != fx_directory_count(dir) ||
            fx_directory_problem_count(again) != 0)
            abort();
        fx_directory_destroy(&again);
        free(bytes);
    }
    fx_directory_destroy(&dir);

    if (size <= FX_MAX_CERT_BYTES - 128) {
        s_signed(FX_MSG_CERTIFICATE, data, size);
        s_signed(FX_MSG_REVOCATION_LIST, data, size);
    }
    return 0;
}
