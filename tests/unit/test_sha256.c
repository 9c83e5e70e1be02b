/* fx_sha256 (lib/sha256.c), both ways it computes (the processor's SHA extensions where it has
 * them, and the portable code): the FIPS 180-4 example vectors, and libsodium's SHA-256 of every
 * length up to a few blocks, fed whole and in uneven pieces. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/sha256.h"
#include "testutil.h"

static void s_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void s_vectors(void)
{
    static const struct {
        const char *message;
        size_t repeat;
        const char *digest;
    } cases[] = {
        {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmno"
         "pqrlmnopqrsmnopqrstnopqrstu",
         1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fx_sha256_t h;
        fx_sha256_init(&h);
        for (size_t r = 0; r < cases[i].repeat; r++)
            fx_sha256_update(&h, cases[i].message, strlen(cases[i].message));
        uint8_t digest[FX_SHA256_BYTES];
        char hex[2 * FX_SHA256_BYTES + 1];
        fx_sha256_final(&h, digest);
        s_hex(digest, sizeof digest, hex);
        assert_string_equal(hex, cases[i].digest);
    }
}

/* Every length 0..300 (padding on each side of a block boundary), whole and in pieces of
 * 1..70 bytes, against libsodium. */
static void s_against_libsodium(void)
{
    uint8_t data[300];
    randombytes_buf(data, sizeof data);
    for (size_t len = 0; len <= sizeof data; len++) {
        uint8_t want[FX_SHA256_BYTES], whole[FX_SHA256_BYTES], pieces[FX_SHA256_BYTES];
        crypto_hash_sha256(want, data, len);
        fx_sha256(data, len, whole);
        assert_memory_equal(whole, want, sizeof want);
        fx_sha256_t h;
        fx_sha256_init(&h);
        for (size_t at = 0, step = 1 + len % 70; at < len; at += step, step = 1 + (step * 7) % 70)
            fx_sha256_update(&h, data + at, step < len - at ? step : len - at);
        fx_sha256_final(&h, pieces);
        assert_memory_equal(pieces, want, sizeof want);
    }
}

static void test_portable(void **state)
{
    (void) state;
    fx_sha256_use_extensions(false);
    assert_false(fx_sha256_extensions());
    s_vectors();
    s_against_libsodium();
    fx_sha256_use_extensions(true);
}

/* On a processor without the extensions this checks the portable code again (and says so). */
static void test_extensions(void **state)
{
    (void) state;
    fx_sha256_use_extensions(true);
    if (!fx_sha256_extensions())
        print_message("test_sha256: this processor has no SHA extensions; portable code only\n");
    s_vectors();
    s_against_libsodium();
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_extensions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
