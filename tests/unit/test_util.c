/* Utilities: time parsing and formatting, whole-file I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/util.h"
#include "fusion/vocab.h"
#include "testutil.h"

static void test_time_parse(void **state)
{
    (void) state;
    int64_t ms;
    assert_int_equal(fx_time_parse("1970-01-01", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(fx_time_parse("2026-11-28T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795824000000LL);
    assert_int_equal(fx_time_parse("2026-11-28", &ms), 0);
    assert_int_equal(ms, 1795824000000LL);
    assert_int_equal(fx_time_parse("2026-11-28T07:00:00+07:00", &ms), 0);
    assert_int_equal(ms, 1795824000000LL);
    assert_int_equal(fx_time_parse("2026-11-28T00:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 1795824000250LL);
    assert_int_equal(fx_time_parse("2024-02-29", &ms), 0);
    const char *bad[] = {"",
                         "2026",
                         "2026-13-01",
                         "2023-02-29",
                         "2026-11-28T",
                         "2026-11-28T00:00Z",
                         "2026-11-28T00:00:00",
                         "2026-11-28 00:00:00Z",
                         "2026-11-28T25:00:00Z",
                         "2026-11-28T00:00:00Zx",
                         "26-11-28",
                         "2026-11-28T00:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fx_time_parse(bad[i], &ms), -1);
}

static void test_time_format(void **state)
{
    (void) state;
    char buf[FX_TIME_BUFSIZE];
    fx_time_format(1795824000000LL, buf);
    assert_string_equal(buf, "2026-11-28T00:00:00Z");
    fx_time_format(1795824000250LL, buf);
    assert_string_equal(buf, "2026-11-28T00:00:00.250Z");
}

static void test_file_io(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "f");
    assert_int_equal(fx_file_write(path, "hello", 5, 0640, 1), FX_OK);
    assert_int_equal(fx_file_write(path, "again", 5, 0640, 1), FX_ERR_EXISTS);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    uint8_t *data;
    size_t len;
    assert_int_equal(fx_file_read(path, 100, &data, &len), FX_OK);
    assert_int_equal(len, 5);
    assert_string_equal((char *) data, "hello");
    free(data);
    assert_int_equal(fx_file_read(path, 4, &data, &len), FX_ERR_TOO_LARGE);
    assert_null(data);
    assert_int_equal(fx_file_write(path, "again", 5, 0600, 0), FX_OK);
    assert_int_equal(fx_file_read("/nonexistent/x", 100, &data, &len), FX_ERR_NOT_FOUND);

    /* Only a regular file is replaced: a symbolic link, a FIFO or a directory at the path is
     * refused and left as it was (the rename would have replaced it, not written into it). */
    char *link = tu_path(dir, "link"), *fifo = tu_path(dir, "fifo"), *sub = tu_path(dir, "sub");
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    const char *refused[] = {link, fifo, sub};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(fx_file_write(refused[i], "x", 1, 0600, 0), FX_ERR_EXISTS);
        assert_int_equal(fx_file_write(refused[i], "x", 1, 0600, 1), FX_ERR_EXISTS);
        assert_non_null(
            strstr(fx_file_write_strerror(refused[i], FX_ERR_EXISTS), "not a regular file"));
    }
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(fx_file_read(path, 100, &data, &len), FX_OK);
    assert_string_equal((char *) data, "again");
    free(data);
    assert_string_equal(fx_file_write_strerror(path, FX_ERR_EXISTS), fx_strerror(FX_ERR_EXISTS));
    assert_string_equal(fx_file_write_strerror(path, FX_ERR_IO), fx_strerror(FX_ERR_IO));

    /* "-" is a file of that name, never standard input unless the caller asks for it; a file
     * larger than a buffer's first sizes is read whole. */
    char *big = tu_path(dir, "big");
    static char text[20000];
    memset(text, 'x', sizeof text - 1);
    assert_int_equal(fx_file_write(big, text, sizeof text - 1, 0600, 1), FX_OK);
    assert_non_null(freopen(big, "r", stdin));
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(fx_file_read("-", 100000, &data, &len), FX_ERR_NOT_FOUND);
    assert_int_equal(fx_file_write("-", "dash", 4, 0600, 1), FX_OK);
    assert_int_equal(fx_file_read("-", 100, &data, &len), FX_OK);
    assert_string_equal((char *) data, "dash");
    free(data);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(fx_stdin_read(100000, &data, &len), FX_OK);
    assert_int_equal(len, sizeof text - 1);
    assert_string_equal((char *) data, text);
    free(data);
    assert_int_equal(fx_file_read(big, 10000, &data, &len), FX_ERR_TOO_LARGE);
    assert_null(data);
    free(big);
    tu_rmtree(dir);
    free(link);
    free(fifo);
    free(sub);
    free(path);
    free(dir);
}

static void test_vocab(void **state)
{
    (void) state;
    assert_int_equal(fx_vocab_parse(FX_VOCAB_TLP, "amber_strict"), FX_TLP_AMBER_STRICT);
    assert_true(FX_TLP_CLEAR < FX_TLP_GREEN && FX_TLP_AMBER_STRICT < FX_TLP_RED);
    assert_int_equal(fx_vocab_parse(FX_VOCAB_TLP, "AMBER"), -1);
    assert_int_equal(fx_vocab_parse(FX_VOCAB_ROLE, "simulated"), FX_ROLE_SIMULATED);
    assert_string_equal(fx_vocab_name(FX_VOCAB_CATEGORY, FX_CATEGORY_INTEL_SOURCE), "intel_source");
    assert_null(fx_vocab_name(FX_VOCAB_STAGE, 0));
    assert_null(fx_vocab_name(FX_VOCAB_STAGE, 4));
    for (int v = 0; v < FX_VOCAB_COUNT_; v++)
        assert_true(fx_vocab_size((fx_vocab_t) v) <= 32);
    uint32_t mask;
    char bad[64];
    assert_int_equal(
        fx_vocab_parse_mask(FX_VOCAB_ROLE, "police,focal_point", &mask, bad, sizeof bad), 0);
    assert_int_equal(mask, (1u << FX_ROLE_POLICE) | (1u << FX_ROLE_FOCAL_POINT));
    assert_int_equal(fx_vocab_parse_mask(FX_VOCAB_ROLE, "police,chief", &mask, bad, sizeof bad),
                     -1);
    assert_string_equal(bad, "chief");
    /* An empty item, wherever its comma is. */
    const char *const empty[] = {"police,", ",police", "police,,analyst", ","};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        strcpy(bad, "x");
        assert_int_equal(fx_vocab_parse_mask(FX_VOCAB_ROLE, empty[i], &mask, bad, sizeof bad), -1);
        assert_string_equal(bad, "");
    }
    assert_int_equal(fx_vocab_parse_mask(FX_VOCAB_ROLE, "", &mask, bad, sizeof bad), 0);
    assert_int_equal(mask, 0);
    char list[256];
    fx_vocab_list(FX_VOCAB_TLP, list, sizeof list);
    assert_string_equal(list, "clear, green, amber, amber_strict, red");
}

static void test_utf8(void **state)
{
    (void) state;
    static const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {"", true},
        {"plain ASCII", true},
        {"caf\xc3\xa9", true},
        {"\xe0\xb8\x81", true},      /* Thai ko kai, three bytes */
        {"\xf0\x9f\x9a\x90", true},  /* U+1F690, four bytes */
        {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF, the last */
        {"\xff\xfe", false},         /* never in UTF-8 */
        {"\xc3", false},             /* cut short */
        {"\xc3(", false},            /* not a continuation byte */
        {"\xc0\xaf", false},         /* an overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong, three bytes */
        {"\xed\xa0\x80", false},     /* a surrogate, U+D800 */
        {"\xf4\x90\x80\x80", false}, /* beyond U+10FFFF */
        {"\x80", false},             /* a continuation byte alone */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *t = (const uint8_t *) cases[i].text;
        if (fx_utf8_valid(t, strlen(cases[i].text)) != cases[i].valid)
            fail_msg("case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
    }
    assert_int_equal(fx_utf8_sequence((const uint8_t *) "\xf0\x9f\x9a\x90", 4), 4);
    assert_int_equal(fx_utf8_sequence((const uint8_t *) "\xf0\x9f\x9a\x90", 3), 0);
    assert_int_equal(fx_utf8_sequence((const uint8_t *) "a", 0), 0);
}

static void test_lower_bound(void **state)
{
    (void) state;
    const uint64_t vals[] = {2, 4, 4, 9};
    assert_int_equal(fx_lower_bound_u64(vals, 4, 1), 0);
    assert_int_equal(fx_lower_bound_u64(vals, 4, 2), 0);
    assert_int_equal(fx_lower_bound_u64(vals, 4, 4), 1);
    assert_int_equal(fx_lower_bound_u64(vals, 4, 5), 3);
    assert_int_equal(fx_lower_bound_u64(vals, 4, 10), 4);
    assert_int_equal(fx_lower_bound_u64(NULL, 0, 7), 0);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),  cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_file_io),     cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_lower_bound), cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
