/* fx_json_object_text (lib/jsontext.c), the allocation-free JSON check of audit details, case by
 * case and against jansson on every text of a table; and fx_audit_accepted_details (lib/audit.c),
 * which writes a message's accepted entry and, past a budget, the entries continuing it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/audit.h"
#include "fusion/jsontext.h"
#include "testutil.h"

static bool s_check(const char *text)
{
    return fx_json_object_text(text, strlen(text));
}

static void test_accepted(void **state)
{
    (void) state;
    static const char *const good[] = {
        "{}",
        " {\"a\" : 1 }\n",
        "{\"a\":[1,-0,0.5,-2.5e+3,1E9,2e-7,true,false,null,\"\",[],{}]}",
        "{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\"}",
        "{\"utf8\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"kind\":\"case_alert\",\"recipients\":1,\"sections\":2,\"allowed\":[{\"recipient\":"
        "\"MYS.RMP.lo1\",\"sections\":[{\"rule\":\"route-alerts\",\"section\":1}]}]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        json_error_t error;
        json_t *value = json_loads(good[i], 0, &error);
        assert_true(json_is_object(value)); /* the table itself is right */
        json_decref(value);
        if (!s_check(good[i]))
            fail_msg("refused: %s", good[i]);
    }
}

static void test_refused(void **state)
{
    (void) state;
    static const char *const bad[] = {
        "",
        "[]",
        "\"text\"",
        "1",
        "{",
        "{\"a\":1",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":[1,]}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u00\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\xc0\xaf\"}",         /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}",     /* a surrogate in UTF-8 */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"a\":\"\xe2\x82\"}",         /* cut short */
        "{\"a\":\"\x80\"}",
        "{\"a\":\"unterminated}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_error_t error;
        json_t *value = json_loads(bad[i], 0, &error);
        assert_false(json_is_object(value)); /* the table itself is right */
        json_decref(value);
        if (s_check(bad[i]))
            fail_msg("accepted: %s", bad[i]);
    }
    /* The length is respected: a valid prefix is not the text, nor is text past len read. */
    assert_false(fx_json_object_text("{\"a\":1}", 6));
    assert_true(fx_json_object_text("{\"a\":1}garbage", 7));
    assert_false(fx_json_object_text(NULL, 0));
}

static void test_depth(void **state)
{
    (void) state;
    char text[2 * (FX_JSON_DEPTH_MAX + 2) + 16];
    for (int depth = FX_JSON_DEPTH_MAX; depth <= FX_JSON_DEPTH_MAX + 1; depth++) {
        /* {"a":[[...]]} with depth levels in all */
        size_t n = 0;
        n += (size_t) sprintf(text, "{\"a\":");
        for (int i = 1; i < depth; i++)
            text[n++] = '[';
        for (int i = 1; i < depth; i++)
            text[n++] = ']';
        text[n++] = '}';
        text[n] = '\0';
        assert_int_equal(s_check(text), depth <= FX_JSON_DEPTH_MAX);
    }
}

/* The accepted entry and its continuations: one item per recipient with its sections, strings
 * escaped, keys in order (the text is what jansson writes with sorted keys); every item once,
 * in order, each text a JSON object within the budget, the counts in the first. */
static void test_accepted_details(void **state)
{
    (void) state;
    char **texts = fx_audit_accepted_details("case_alert", 2, NULL, 0, NULL, 0, 1000);
    assert_non_null(texts[0]);
    assert_null(texts[1]);
    assert_string_equal(texts[0], "{\"allowed\":[],\"denied\":[],\"kind\":\"case_alert\","
                                  "\"recipients\":0,\"sections\":2}");
    fx_audit_details_free(texts);
    texts = fx_audit_accepted_details(NULL, 1, NULL, 0, NULL, 0, 1000); /* an unknown kind */
    assert_string_equal(texts[0], "{\"allowed\":[],\"denied\":[],\"kind\":\"\",\"recipients\":0,"
                                  "\"sections\":1}");
    fx_audit_details_free(texts);

    const fx_audit_allowance_t two[] = {
        {.recipient = "MYS.RMP.lo1",
         .section = 1,
         .rule = "route \"alerts\"\\",
         .agreement = "a\x01\n\t\x1f/"},
        {.recipient = "MYS.RMP.lo1", .section = 2, .rule = "pd"},
        {.recipient = "IDN.POLRI.fp1", .section = 1},
    };
    const char *denied_one[] = {"{\"recipient\":\"THA.RTP.fp1\",\"sections\":[{\"code\":"
                                "\"no_agreement\",\"section\":2}]}"};
    texts = fx_audit_accepted_details("referral", 2, two, 3, denied_one, 1, 1000);
    assert_null(texts[1]);
    assert_string_equal(
        texts[0],
        "{\"allowed\":[{\"recipient\":\"MYS.RMP.lo1\",\"sections\":[{\"agreement\":"
        "\"a\\u0001\\n\\t\\u001F/\","
        "\"rule\":\"route \\\"alerts\\\"\\\\\",\"section\":1},{\"rule\":\"pd\",\"section\":2}]},"
        "{\"recipient\":\"IDN.POLRI.fp1\",\"sections\":[{\"rule\":\"\",\"section\":1}]}],"
        "\"denied\":[{\"recipient\":\"THA.RTP.fp1\",\"sections\":[{\"code\":\"no_agreement\","
        "\"section\":2}]}],\"kind\":\"referral\",\"recipients\":2,\"sections\":2}");
    json_t *parsed = json_loads(texts[0], JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(parsed);
    char *canonical = json_dumps(parsed, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(canonical, texts[0]);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(parsed, "allowed"), 0), "sections"),
                0),
            "rule")),
        "route \"alerts\"\\");
    free(canonical);
    json_decref(parsed);
    fx_audit_details_free(texts);

    fx_audit_allowance_t allowed[40];
    char ids[40][32];
    json_t *expected = json_array(), *denied = json_array();
    char *denied_items[10];
    size_t n_denied_items = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "MYS.RMP.lo%d", i);
        allowed[i] = (fx_audit_allowance_t){.recipient = ids[i], .section = 1, .rule = "r"};
        json_array_append_new(expected, json_pack("{s:s, s:[{s:i, s:s}]}", "recipient", ids[i],
                                                  "sections", "section", 1, "rule", "r"));
        if (i % 4 == 0) {
            json_t *item = json_pack("{s:s, s:[{s:i, s:s}]}", "recipient", ids[i], "sections",
                                     "section", 2, "code", "no_agreement");
            denied_items[n_denied_items++] = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
            json_array_append_new(denied, item);
        }
    }
    texts = fx_audit_accepted_details("case_alert", 2, allowed, 40,
                                      (const char *const *) denied_items, n_denied_items, 400);
    size_t n_texts = 0, n_allowed = 0, n_denied = 0;
    for (; texts[n_texts]; n_texts++) {
        const char *t = texts[n_texts];
        assert_true(s_check(t));
        json_t *d = json_loads(t, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(d);
        /* within the budget: the items, with their commas, take at most 400 bytes */
        assert_true(strlen(t) <= 400 + 100);
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(d, "allowed"), i, item)
            assert_true(json_equal(item, json_array_get(expected, n_allowed++)));
        json_array_foreach(json_object_get(d, "denied"), i, item)
            assert_true(json_equal(item, json_array_get(denied, n_denied++)));
        assert_int_equal(json_object_get(d, "recipients") != NULL, n_texts == 0);
        if (n_texts == 0)
            assert_int_equal(json_integer_value(json_object_get(d, "recipients")), 40);
        json_decref(d);
    }
    assert_true(n_texts > 5);
    assert_int_equal(n_allowed, 40);
    assert_int_equal(n_denied, 10);
    fx_audit_details_free(texts);
    for (size_t i = 0; i < n_denied_items; i++)
        free(denied_items[i]);
    json_decref(expected);
    json_decref(denied);
}

/* fx_json_surrogates: each escaped pair with its offset and character, in text order, as far
 * as the text is JSON; half a pair anywhere in that part is found; NUL escapes are JSON. */
typedef struct {
    size_t offsets[8];
    uint32_t codes[8];
    size_t n;
} seen_t;

static void s_seen(void *arg, size_t offset, uint32_t code)
{
    seen_t *seen = arg;
    if (seen->n < 8) {
        seen->offsets[seen->n] = offset;
        seen->codes[seen->n++] = code;
    }
}

static int s_surrogates(const char *text, seen_t *seen, size_t *lone)
{
    memset(seen, 0, sizeof *seen);
    *lone = 999;
    return fx_json_surrogates(text, strlen(text), s_seen, seen, lone);
}

static void test_surrogates(void **state)
{
    (void) state;
    seen_t seen;
    size_t lone;
    assert_int_equal(
        s_surrogates("{\"a\":\"x\\ud83d\\ude90\\u0000\",\"b\":[\"\\uDBFF\\uDFFF\"]}", &seen, &lone),
        1);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.offsets[0], 7);
    assert_int_equal(seen.codes[0], 0x1F690);
    assert_int_equal(seen.offsets[1], 33);
    assert_int_equal(seen.codes[1], 0x10FFFF);
    assert_int_equal(lone, 999);
    assert_int_equal(s_surrogates("\"\\ud800\\udc00\"", &seen, &lone), 1); /* any value */
    assert_int_equal(seen.codes[0], 0x10000);
    /* Not JSON after its first string: that string's pair is still found. */
    assert_int_equal(s_surrogates("[\"\\ud83d\\ude90\" \"\\ud83d\\ude90\"]", &seen, &lone), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(s_surrogates("a: \"\\ud83d\\ude90\"", &seen, &lone), 0); /* YAML */
    assert_int_equal(seen.n, 0);
    /* Half a pair: a lone high one, a lone low one, the two in the wrong order. */
    assert_int_equal(s_surrogates("[\"\\ud83d\\ude90\", \"\\ud83d\"]", &seen, &lone), -1);
    assert_int_equal(lone, 18);
    assert_int_equal(s_surrogates("[\"\\ude90\"]", &seen, &lone), -1);
    assert_int_equal(lone, 2);
    assert_int_equal(s_surrogates("[\"ab\\ude90\\ud83d\"]", &seen, &lone), -1);
    assert_int_equal(lone, 4);
    assert_int_equal(s_surrogates("[\"\\ud83d\\u0041\"]", &seen, &lone), -1);
    assert_int_equal(lone, 2);
    /* The strict check is unchanged: half a pair and an escaped NUL are not what it accepts. */
    assert_false(s_check("{\"a\":\"\\ud83d\"}"));
    assert_false(s_check("{\"a\":\"\\u0000\"}"));
    assert_true(s_check("{\"a\":\"\\ud83d\\ude90\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_accepted_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
