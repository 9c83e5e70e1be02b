/* Keys: generation, the 0600 key file, signatures with domains, sealed keys, fingerprints. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/keys.h"
#include "testutil.h"

static void test_save_load_round_trip(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "THA.RTP.fp1.key");
    fx_keys_t *keys = fx_keys_new("THA.RTP.fp1");
    assert_non_null(keys);
    assert_int_equal(fx_keys_save(keys, path), FX_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fx_keys_save(keys, path), FX_ERR_EXISTS);

    fx_keys_t *loaded = NULL;
    assert_int_equal(fx_keys_load(path, &loaded), FX_OK);
    assert_string_equal(fx_keys_id(loaded), "THA.RTP.fp1");
    assert_memory_equal(fx_keys_sign_public(keys), fx_keys_sign_public(loaded), FX_KEY_BYTES);
    assert_memory_equal(fx_keys_box_public(keys), fx_keys_box_public(loaded), FX_KEY_BYTES);
    assert_memory_equal(fx_keys_curve_public(keys), fx_keys_curve_public(loaded), FX_KEY_BYTES);

    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(loaded, FX_DOMAIN_HEADER, (const uint8_t *) "abc", 3, sig);
    assert_int_equal(fx_signature_verify(fx_keys_sign_public(keys), FX_DOMAIN_HEADER,
                                         (const uint8_t *) "abc", 3, sig),
                     0);
    fx_keys_destroy(&keys);
    fx_keys_destroy(&loaded);
    assert_null(loaded);
    fx_keys_destroy(&loaded); /* NULL is accepted */
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static void test_readable_key_file_refused(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "k.key");
    fx_keys_t *keys = fx_keys_new("IDN.POLRI.lo1"), *loaded = NULL;
    assert_int_equal(fx_keys_save(keys, path), FX_OK);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(fx_keys_load(path, &loaded), FX_ERR_KEY_PERMISSIONS);
    assert_null(loaded);
    assert_non_null(strstr(fx_strerror(FX_ERR_KEY_PERMISSIONS), "chmod 600"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(fx_keys_load(path, &loaded), FX_ERR_KEY_PERMISSIONS);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(fx_keys_load(path, &loaded), FX_OK);
    fx_keys_destroy(&loaded);
    fx_keys_destroy(&keys);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* Secret keys are read only from a regular file: a symbolic link to a good key file, a directory
 * and a FIFO are refused (exit 3, as key_permissions), without waiting on the FIFO; a file that
 * cannot be opened is an I/O error whose reason is left in errno for the caller's message. */
static void test_key_file_not_regular(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "k.key"), *link = tu_path(dir, "link.key");
    char *fifo = tu_path(dir, "fifo.key"), *below = tu_path(dir, "k.key/x.key");
    fx_keys_t *keys = fx_keys_new("THA.RTP.fp1"), *loaded = NULL;
    assert_int_equal(fx_keys_save(keys, path), FX_OK);
    assert_int_equal(symlink("k.key", link), 0);
    assert_int_equal(fx_keys_load(link, &loaded), FX_ERR_KEY_NOT_REGULAR);
    assert_null(loaded);
    assert_int_equal(fx_keys_load(dir, &loaded), FX_ERR_KEY_NOT_REGULAR);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(fx_keys_load(fifo, &loaded), FX_ERR_KEY_NOT_REGULAR);
    assert_null(loaded);
    assert_int_equal(fx_err_exit(FX_ERR_KEY_NOT_REGULAR), FX_EXIT_REFUSED);
    assert_non_null(strstr(fx_strerror(FX_ERR_KEY_NOT_REGULAR),
                           "secret keys are read only from a regular file, not through a "
                           "symbolic link"));
    errno = 0;
    assert_int_equal(fx_keys_load(below, &loaded), FX_ERR_IO); /* k.key is not a directory */
    assert_int_equal(errno, ENOTDIR);
    assert_int_equal(fx_keys_load(path, &loaded), FX_OK);
    fx_keys_destroy(&loaded);
    fx_keys_destroy(&keys);
    tu_rmtree(dir);
    free(below);
    free(fifo);
    free(link);
    free(path);
    free(dir);
}

static void test_malformed_key_files(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "bad.key");
    const char *bad[] = {
        "",
        "fusion-secret-keys: 1\n",
        "fusion-secret-keys: 1\nid: nope\n",
        "fusion-secret-keys: 1\nid: THA.RTP.fp1\nsign-seed: 00\nbox-secret: 00\ncurve-secret: 00\n",
        "id: THA.RTP.fp1\nsign-seed: "
        "0000000000000000000000000000000000000000000000000000000000000000\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_write(path, bad[i], 0600);
        fx_keys_t *keys = NULL;
        assert_int_equal(fx_keys_load(path, &keys), FX_ERR_MALFORMED);
        assert_null(keys);
    }
    fx_keys_t *keys = NULL;
    assert_int_equal(fx_keys_load("/nonexistent/fusion.key", &keys), FX_ERR_NOT_FOUND);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static void test_signature_domains(void **state)
{
    (void) state;
    fx_keys_t *keys = fx_keys_new("AUS.ABF.alo1");
    const uint8_t msg[] = "header bytes";
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(keys, FX_DOMAIN_HEADER, msg, sizeof msg, sig);
    assert_int_equal(
        fx_signature_verify(fx_keys_sign_public(keys), FX_DOMAIN_HEADER, msg, sizeof msg, sig), 0);
    /* The same bytes under another domain do not verify: a header signature is not a cert. */
    assert_int_equal(
        fx_signature_verify(fx_keys_sign_public(keys), FX_DOMAIN_CERT, msg, sizeof msg, sig), -1);
    for (size_t i = 0; i < sizeof sig; i++) {
        sig[i] ^= 1;
        assert_int_equal(
            fx_signature_verify(fx_keys_sign_public(keys), FX_DOMAIN_HEADER, msg, sizeof msg, sig),
            -1);
        sig[i] ^= 1;
    }
    fx_keys_destroy(&keys);
}

static void test_sealed_section_key(void **state)
{
    (void) state;
    fx_keys_t *alice = fx_keys_new("THA.RTP.fp1"), *bob = fx_keys_new("IDN.POLRI.fp1");
    uint8_t key[FX_SECTION_KEY_BYTES], out[FX_SECTION_KEY_BYTES], sealed[FX_SEALED_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    fx_section_key_seal(fx_keys_box_public(bob), key, sealed);
    assert_int_equal(fx_keys_unseal(bob, sealed, sizeof sealed, out), 0);
    assert_memory_equal(key, out, sizeof key);
    assert_int_equal(fx_keys_unseal(alice, sealed, sizeof sealed, out), -1);
    sealed[40] ^= 0x80;
    assert_int_equal(fx_keys_unseal(bob, sealed, sizeof sealed, out), -1);
    assert_int_equal(fx_keys_unseal(bob, sealed, sizeof sealed - 1, out), -1);
    fx_keys_destroy(&alice);
    fx_keys_destroy(&bob);
}

static void test_fingerprint_and_ids(void **state)
{
    (void) state;
    uint8_t pk[FX_KEY_BYTES] = {0};
    char fp1[FX_FINGERPRINT_BUFSIZE], fp2[FX_FINGERPRINT_BUFSIZE];
    fx_fingerprint(pk, fp1);
    assert_int_equal(strlen(fp1), 19);
    assert_true(fp1[4] == '-' && fp1[9] == '-' && fp1[14] == '-');
    pk[0] = 1;
    fx_fingerprint(pk, fp2);
    assert_string_not_equal(fp1, fp2);

    assert_true(fx_principal_id_valid("THA.RTP.fp1"));
    assert_true(fx_principal_id_valid("LKA.DIE.smpu1"));
    assert_false(fx_principal_id_valid("tha.RTP.fp1"));
    assert_false(fx_principal_id_valid("THA.RTP"));
    assert_false(fx_principal_id_valid("THA..fp1"));
    assert_false(fx_principal_id_valid("THA.RTP.fp 1"));
    assert_false(fx_principal_id_valid("THAI.RTP.fp1"));
    assert_null(fx_keys_new("not an id"));
    assert_true(fx_recipient_id_valid("THA.RTP.fp1"));
    assert_true(fx_recipient_id_valid("THA.RTP"));
    assert_false(fx_recipient_id_valid("THA"));
    assert_false(fx_recipient_id_valid("THA.RTP.fp1.x"));
    assert_false(fx_recipient_id_valid("tha.RTP"));
    assert_false(fx_recipient_id_valid("THA."));
    assert_false(fx_recipient_id_valid(""));
    char agency[FX_ID_MAX];
    fx_principal_agency("IDN.POLRI.lo2", agency);
    assert_string_equal(agency, "IDN.POLRI");
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_readable_key_file_refused),
        cmocka_unit_test(test_key_file_not_regular),
        cmocka_unit_test(test_malformed_key_files),
        cmocka_unit_test(test_signature_domains),
        cmocka_unit_test(test_sealed_section_key),
        cmocka_unit_test(test_fingerprint_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
