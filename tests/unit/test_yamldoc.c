/* yamldoc: the node tree with positions, refused constructs, and each checked getter's errors. */
#include <stdlib.h>
#include <string.h>

#include "fusion/yamldoc.h"
#include "testutil.h"

static fx_yaml_t *s_parse(const char *text, fx_diag_t **diag_p)
{
    *diag_p = fx_diag_new("t.yaml");
    return fx_yaml_parse((const uint8_t *) text, strlen(text), *diag_p);
}

/* Asserts the diagnostics hold exactly one problem, at line:column, containing needle. */
static void s_expect_one(fx_diag_t *diag, unsigned line, unsigned column, const char *needle)
{
    assert_int_equal(fx_diag_count(diag), 1);
    assert_int_equal(fx_diag_line(diag, 0), line);
    assert_int_equal(fx_diag_column(diag, 0), column);
    if (!strstr(fx_diag_text(diag, 0), needle))
        fail_msg("'%s' does not contain '%s'", fx_diag_text(diag, 0), needle);
}

static void test_tree_and_positions(void **state)
{
    (void) state;
    fx_diag_t *diag;
    fx_yaml_t *doc = s_parse("a: 1\nlist:\n  - x\n  - 'y'\nmap: {k: v}\n", &diag);
    assert_non_null(doc);
    const fx_yaml_node_t *root = fx_yaml_root(doc);
    assert_int_equal(fx_yaml_type(root), FX_YAML_MAP);
    assert_int_equal(fx_yaml_count(root), 3);
    const fx_yaml_node_t *list = fx_yaml_value(root, 1);
    assert_int_equal(fx_yaml_type(list), FX_YAML_LIST);
    assert_int_equal(fx_yaml_line(list), 3);
    assert_int_equal(fx_yaml_column(list), 3);
    assert_string_equal(fx_yaml_text(fx_yaml_item(list, 1)), "y");
    assert_false(fx_yaml_plain(fx_yaml_item(list, 1)));
    assert_int_equal(fx_yaml_line(fx_yaml_item(list, 1)), 4);
    assert_int_equal(fx_yaml_column(fx_yaml_item(list, 1)), 5);
    assert_int_equal(fx_diag_count(diag), 0);
    fx_yaml_destroy(&doc);
    assert_null(doc);
    fx_diag_destroy(&diag);

    doc = s_parse("", &diag);
    assert_non_null(doc);
    assert_true(fx_yaml_is_null(fx_yaml_root(doc)));
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);
}

/* JSON writes a character above U+FFFF as an escaped surrogate pair, which libyaml refuses: in
 * a JSON text each pair reads as its character, and every position stays where it is written
 * (each pair is two characters longer than the escape libyaml is shown instead). */
static void test_json_surrogate_pairs(void **state)
{
    (void) state;
    fx_diag_t *diag;
    const char *text =
        "{\"a\": \"van \\ud83d\\ude90 \\uD83D\\uDE90\", \"b\": [\"\\ud83d\\ude90\", 7],\n"
        " \"c\": \"\\u00e9\\ud800\\udc00\", \"d\": true}\n";
    fx_yaml_t *doc = s_parse(text, &diag);
    assert_non_null(doc);
    assert_int_equal(fx_diag_count(diag), 0);
    const fx_yaml_node_t *root = fx_yaml_root(doc);
    assert_string_equal(fx_yaml_text(fx_yaml_value(root, 0)),
                        "van \xf0\x9f\x9a\x90 \xf0\x9f\x9a\x90");
    const fx_yaml_node_t *list = fx_yaml_value(root, 1);
    assert_string_equal(fx_yaml_text(fx_yaml_item(list, 0)), "\xf0\x9f\x9a\x90");
    /* Positions after the pairs, on their line and the next. */
    assert_int_equal(fx_yaml_line(fx_yaml_key(root, 1)), 1);
    assert_int_equal(fx_yaml_column(fx_yaml_key(root, 1)), 40);
    assert_int_equal(fx_yaml_column(fx_yaml_item(list, 0)), 46);
    assert_int_equal(fx_yaml_column(fx_yaml_item(list, 1)), 62);
    assert_string_equal(fx_yaml_text(fx_yaml_value(root, 2)), "\xc3\xa9\xf0\x90\x80\x80");
    assert_int_equal(fx_yaml_line(fx_yaml_key(root, 3)), 2);
    assert_int_equal(fx_yaml_column(fx_yaml_key(root, 3)), 29);
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);

    /* A syntax error after a pair is at its place as written. */
    doc = s_parse("{\"a\": \"\\ud83d\\ude90\\ud83d\\ude90\" \"b\": 1}", &diag);
    assert_null(doc);
    s_expect_one(diag, 1, 34, "YAML syntax error");
    fx_diag_destroy(&diag);

    /* A lone or mis-ordered surrogate is refused at its own line:column, saying why. */
    const struct {
        const char *text;
        unsigned line, column;
        const char *needle;
    } bad[] = {
        {"{\"a\": \"\\ud83d\\ude90\",\n \"b\": \"x \\ud83d y\"}", 2, 10,
         "the escape \\ud83d is half of a surrogate pair without its other half"},
        {"{\"a\": \"\\ude90\\ud83d\"}", 1, 8, "the escape \\ude90 is half of a surrogate pair"},
        {"[\"\\uDBFF\"]", 1, 3, "the escape \\uDBFF is half"},
        {"{\"a\": \"\\ud83d\\u0041\"}", 1, 8, "(\\ud800 to \\udbff) followed by a low one"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        doc = s_parse(bad[i].text, &diag);
        assert_null(doc);
        s_expect_one(diag, bad[i].line, bad[i].column, bad[i].needle);
        fx_diag_destroy(&diag);
    }
    /* Outside JSON, a backslash in a plain or single-quoted scalar is no escape: left alone. */
    doc = s_parse("a: C:\\ud83d\\ude90\nb: '\\ud83d'\n", &diag);
    assert_non_null(doc);
    assert_string_equal(fx_yaml_text(fx_yaml_value(fx_yaml_root(doc), 0)), "C:\\ud83d\\ude90");
    assert_string_equal(fx_yaml_text(fx_yaml_value(fx_yaml_root(doc), 1)), "\\ud83d");
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);
}

/* Outside a JSON text an escaped surrogate is no character (YAML reads none, and nothing says
 * the pair is meant as JSON means it): named at its backslash with what to write instead,
 * instead of libyaml's "found invalid Unicode character escape code". */
static void test_yaml_surrogate_escapes(void **state)
{
    (void) state;
    const struct {
        const char *text;
        unsigned line, column;
        const char *needle;
    } cases[] = {
        {"title: \"van \\ud83d\\ude90\"\n", 1, 13,
         "t.yaml:1:13: the escape \\ud83d\\ude90 is a UTF-16 surrogate pair, which YAML does not "
         "read (a JSON file may use one; this file is YAML): write the character itself or "
         "\\U0001F690, YAML's 8-digit escape for it"},
        {"a: 1\nb: [x, \"\\uD83D\\uDE90\\uD83D\\uDE90\"]\n", 2, 9,
         "the escape \\uD83D\\uDE90 is a UTF-16 surrogate pair"},
        {"a: \"x\\ud83d\"\n", 1, 6,
         "the escape \\ud83d is half of a UTF-16 surrogate pair, not a character, and YAML reads "
         "no surrogates: write the character itself or YAML's 8-digit escape for it, such as "
         "\\U0001F690"},
        {"a: \"\\ude90\\ud83d\"\n", 1, 5, "the escape \\ude90 is half of a UTF-16 surrogate pair"},
        /* After a UTF-8 byte-order mark (as Notepad saves), which is no column. */
        {"\xef\xbb\xbftitle: \"van \\ud83d\\ude90\"\n", 1, 13,
         "the escape \\ud83d\\ude90 is a UTF-16 surrogate pair"},
        {"a: \"\\U0000D83D\"\n", 1, 5, "the escape \\U0000D83D is half of a UTF-16 surrogate"},
        /* A JSON text up to its first mistake: the pair before it reads, the one after is named. */
        {"{\"a\": \"\\ud83d\\ude90\", b: \"\\ud83d\\ude90\"}\n", 1, 27,
         "the escape \\ud83d\\ude90 is a UTF-16 surrogate pair"},
        /* Not a surrogate: libyaml's own words. */
        {"a: \"\\U00110000\"\n", 1, 7, "YAML syntax error: found invalid Unicode character escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_diag_t *diag;
        assert_null(s_parse(cases[i].text, &diag));
        s_expect_one(diag, cases[i].line, cases[i].column, cases[i].needle);
        fx_diag_destroy(&diag);
    }
}

/* YAML allows a key at most 1024 characters from its start to its ':', and libyaml refuses a
 * longer one with an error about whatever it met next; it is named instead, at the key's
 * line:column, in a block mapping, under a list item, in a nested mapping and in JSON. A key
 * of exactly 1024 characters reads, and another mistake at a long key's ':' is not blamed on
 * the key. A key over several lines (plain or quoted) is named the same way. */
static void test_long_key(void **state)
{
    (void) state;
    char key[1102];
    memset(key, 'k', 1100);
    key[1100] = '\0';
    static char text[4096];
    const struct {
        const char *format;
        unsigned line, column, colon;
    } cases[] = {
        {"title: x\n%s: 1\n", 2, 1, 1101},
        {"\xef\xbb\xbf%s: 1\n", 1, 1, 1101}, /* after a byte-order mark, no column */
        {"title: x\n\"%s\": 1\n", 2, 1, 1103},
        {"title: x\nmap:\n  %s: 1\n", 3, 3, 1103},
        {"- %s: 1\n", 1, 3, 1103},
        {"{\"a\": 1, \"%s\": 2}\n", 1, 10, 1112},
        {"{\"a\": \"\\ud83d\\ude90\", \"%s\": 2}\n", 1, 23, 1125},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, cases[i].format, key);
        fx_diag_t *diag;
        assert_null(s_parse(text, &diag));
        s_expect_one(diag, cases[i].line, cases[i].column, "a key longer than 1024 characters: ");
        char expected[160];
        snprintf(expected, sizeof expected,
                 "%u from here to its ':' at line %u, column %u; YAML allows at most 1024 in a "
                 "key",
                 cases[i].colon - cases[i].column, cases[i].line, cases[i].colon);
        if (!strstr(fx_diag_text(diag, 0), expected))
            fail_msg("'%s' does not contain '%s'", fx_diag_text(diag, 0), expected);
        fx_diag_destroy(&diag);
    }
    /* A key over several lines, plain or quoted (folded at its line breaks), is named the same
     * way at its start, measured as libyaml measures it (its line breaks and indentation
     * included: 600 + 1 + 2 + 600 characters, and the quotes), adding that YAML wants it on one
     * line; libyaml's own error ("could not find expected ':'", "did not find expected ',' or
     * '}'") was shown at the ':'. */
    char half[601];
    memset(half, 'k', 600);
    half[600] = '\0';
    const struct {
        const char *format;
        unsigned line, column, length, colon_line, colon;
    } folded[] = {
        {"title: x\n%s\n  %s: 1\n", 2, 1, 1203, 3, 603},
        {"title: x\n\"%s\n  %s\": 1\n", 2, 1, 1205, 3, 604},
        {"title: x\n'%s\n  %s': 1\n", 2, 1, 1205, 3, 604},
        {"map:\n  \"%s\n   %s\": 1\n", 2, 3, 1206, 3, 605},
        {"{\"a\": 1, \"%s\n  %s\": 2}\n", 1, 10, 1205, 2, 604},
        {"{a: 1, %s\n  %s: 2}\n", 1, 8, 1203, 2, 603},
    };
    for (size_t i = 0; i < sizeof folded / sizeof folded[0]; i++) {
        snprintf(text, sizeof text, folded[i].format, half, half);
        fx_diag_t *diag;
        assert_null(s_parse(text, &diag));
        s_expect_one(diag, folded[i].line, folded[i].column, "a key longer than 1024 characters: ");
        char expected[200];
        snprintf(expected, sizeof expected,
                 "%u from here to its ':' at line %u, column %u; YAML allows at most 1024 in a "
                 "key, on one line",
                 folded[i].length, folded[i].colon_line, folded[i].colon);
        if (!strstr(fx_diag_text(diag, 0), expected))
            fail_msg("case %zu: '%s' does not contain '%s'", i, fx_diag_text(diag, 0), expected);
        fx_diag_destroy(&diag);
    }
    /* A value over several lines that holds ': ' is not a key: libyaml's error, at the ':'. */
    snprintf(text, sizeof text, "note: %s\n  %s: more\n", half, half);
    fx_diag_t *not_key;
    assert_null(s_parse(text, &not_key));
    s_expect_one(not_key, 2, 603, "YAML syntax error: mapping values are not allowed");
    fx_diag_destroy(&not_key);
    /* 1024 characters are a key; so is a longer one written as '? KEY'. */
    key[1024] = '\0';
    snprintf(text, sizeof text, "title: x\n%s: 1\n? %s%s\n: 2\n", key, key, key);
    fx_diag_t *diag;
    fx_yaml_t *doc = s_parse(text, &diag);
    assert_non_null(doc);
    assert_int_equal(fx_yaml_length(fx_yaml_key(fx_yaml_root(doc), 1)), 1024);
    assert_int_equal(fx_yaml_length(fx_yaml_key(fx_yaml_root(doc), 2)), 2048);
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);
    /* A value holding ': ' is a mistake whatever its length: libyaml's error, at the ':'. */
    key[1024] = 'k';
    snprintf(text, sizeof text, "a: %s: 1\n", key);
    assert_null(s_parse(text, &diag));
    s_expect_one(diag, 1, 1104, "YAML syntax error: mapping values are not allowed");
    fx_diag_destroy(&diag);
}

static void test_refused_constructs(void **state)
{
    (void) state;
    const struct {
        const char *text;
        unsigned line, column;
        const char *needle;
    } cases[] = {
        {"a: &x 1\nb: *x\n", 2, 4, "aliases"},
        {"a: !!str 1\n", 1, 4, "tags"},
        {"a: 1\n---\nb: 2\n", 2, 1, "single YAML document"},
        {"a: [1, 2\n", 2, 1, "YAML syntax error"},
        {"a: b: c\n", 1, 5, "YAML syntax error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_diag_t *diag;
        fx_yaml_t *doc = s_parse(cases[i].text, &diag);
        assert_null(doc);
        s_expect_one(diag, cases[i].line, cases[i].column, cases[i].needle);
        assert_non_null(strstr(fx_diag_text(diag, 0), "t.yaml:"));
        fx_diag_destroy(&diag);
    }
    /* Nesting beyond the cap. */
    char deep[256] = "";
    for (int i = 0; i < FX_YAML_MAX_DEPTH + 1; i++)
        strcat(deep, "[");
    fx_diag_t *diag;
    assert_null(s_parse(deep, &diag));
    assert_non_null(strstr(fx_diag_text(diag, 0), "nested"));
    fx_diag_destroy(&diag);
}

static void test_fields(void **state)
{
    (void) state;
    fx_diag_t *diag;
    fx_yaml_t *doc = s_parse("name: x\nport: 7\nname: y\nbogus: 1\n", &diag);
    static const char *const keys[] = {"name", "port"};
    const fx_yaml_node_t *found[2];
    assert_int_equal(fx_yaml_fields(diag, fx_yaml_root(doc), "the configuration", keys, 2, found),
                     0);
    assert_non_null(found[1]);
    assert_int_equal(fx_diag_count(diag), 2);
    assert_int_equal(fx_diag_line(diag, 0), 3);
    assert_non_null(strstr(fx_diag_text(diag, 0), "duplicate key 'name'"));
    assert_non_null(strstr(fx_diag_text(diag, 0), "first at line 1, column 1"));
    assert_string_equal(fx_diag_text(diag, 1),
                        "t.yaml:4:1: unknown key 'bogus' in the configuration (expected one of: "
                        "name, port)");
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);

    doc = s_parse("- 1\n", &diag);
    assert_int_equal(fx_yaml_fields(diag, fx_yaml_root(doc), "the configuration", keys, 2, found),
                     -1);
    s_expect_one(diag, 1, 1, "must be a mapping, found a list");
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);
}

static void test_getters(void **state)
{
    (void) state;
    fx_diag_t *diag;
    fx_yaml_t *doc = s_parse("[true, 'true', yes, 42, 4x2, 8h, 500ms, 0s, 2026-11-28, 2026-02-30, "
                             "amber, AMBER, purple, [green, red], ~]",
                             &diag);
    const fx_yaml_node_t *root = fx_yaml_root(doc);
    int b;
    long long n;
    int64_t ms;
    uint32_t mask;
    assert_int_equal(fx_yaml_bool(diag, fx_yaml_item(root, 0), "x", &b), 0);
    assert_true(b);
    assert_int_equal(fx_yaml_bool(diag, fx_yaml_item(root, 1), "x", &b), -1);
    assert_int_equal(fx_yaml_bool(diag, fx_yaml_item(root, 2), "x", &b), -1);
    assert_int_equal(fx_yaml_int(diag, fx_yaml_item(root, 3), "x", 0, 100, &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(fx_yaml_int(diag, fx_yaml_item(root, 3), "x", 0, 10, &n), -1);
    assert_int_equal(fx_yaml_int(diag, fx_yaml_item(root, 4), "x", 0, 100, &n), -1);
    assert_int_equal(fx_yaml_duration(diag, fx_yaml_item(root, 5), "x", &ms), 0);
    assert_int_equal(ms, 8 * 3600 * 1000);
    assert_int_equal(fx_yaml_duration(diag, fx_yaml_item(root, 6), "x", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(fx_yaml_duration(diag, fx_yaml_item(root, 7), "x", &ms), -1);
    assert_int_equal(fx_yaml_date(diag, fx_yaml_item(root, 8), "x", &ms), 0);
    assert_int_equal(fx_yaml_date(diag, fx_yaml_item(root, 9), "x", &ms), -1);
    assert_int_equal(fx_yaml_word(diag, fx_yaml_item(root, 10), FX_VOCAB_TLP, "tlp"), FX_TLP_AMBER);
    assert_int_equal(fx_yaml_word(diag, fx_yaml_item(root, 11), FX_VOCAB_TLP, "tlp"), -1);
    assert_int_equal(fx_yaml_word(diag, fx_yaml_item(root, 12), FX_VOCAB_TLP, "tlp"), -1);
    assert_int_equal(fx_yaml_word_mask(diag, fx_yaml_item(root, 13), FX_VOCAB_TLP, "tlp", 0, &mask),
                     0);
    assert_int_equal(mask, (1u << FX_TLP_GREEN) | (1u << FX_TLP_RED));
    assert_int_equal(fx_yaml_word_mask(diag, fx_yaml_item(root, 14), FX_VOCAB_TLP, "tlp", 0, &mask),
                     0);
    assert_int_equal(mask, 0);
    /* Every failure above was reported once, at its own column, in order. */
    assert_int_equal(fx_diag_count(diag), 8);
    for (size_t i = 1; i < fx_diag_count(diag); i++)
        assert_true(fx_diag_column(diag, i) >= fx_diag_column(diag, i - 1));
    assert_non_null(strstr(fx_diag_message(diag, 6), "lower case ('amber')"));
    assert_non_null(strstr(fx_diag_message(diag, 7), "expected one of: clear, green"));
    fx_yaml_destroy(&doc);
    fx_diag_destroy(&diag);
}

static void test_load_file(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "c.yaml");
    tu_write(path, "a: 1\n", 0600);
    fx_diag_t *diag = fx_diag_new(path);
    fx_yaml_t *doc = fx_yaml_load(path, 1024, diag);
    assert_non_null(doc);
    fx_yaml_destroy(&doc);
    assert_null(fx_yaml_load(path, 2, diag));
    assert_null(fx_yaml_load("/nonexistent.yaml", 1024, diag));
    assert_int_equal(fx_diag_count(diag), 2);
    fx_diag_destroy(&diag);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

/* fx_yaml_parse_ex: tighter caps, and messages that name the kind of document. */
static void test_limits_and_noun(void **state)
{
    (void) state;
    const fx_yaml_limits_t limits = {2, 5, "policy"};
    const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"a: &x 1\nb: *x\n",
         "YAML aliases (*name) are not allowed in a policy; write the value out"},
        {"a: !!str 1\n", "YAML tags (tag:yaml.org,2002:str) are not allowed in a policy"},
        {"a: 1\n---\nb: 2\n", "a policy is a single YAML document, and a second one starts here"},
        {"a: [[1]]\n", "values are nested more than 2 levels deep"},
        {"[1, 2, 3, 4, 5]\n", "the policy has more than 5 values; it is too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_diag_t *diag = fx_diag_new("t.yaml");
        const char *text = cases[i].text;
        assert_null(fx_yaml_parse_ex((const uint8_t *) text, strlen(text), diag, &limits));
        assert_int_equal(fx_diag_count(diag), 1);
        assert_string_equal(fx_diag_message(diag, 0), cases[i].message);
        fx_diag_destroy(&diag);
    }
    /* Within the caps; "an" before a vowel; NULL limits are the defaults. */
    const fx_yaml_limits_t draft = {0, 0, "agent configuration"};
    fx_diag_t *diag = fx_diag_new("t.yaml");
    fx_yaml_t *doc = fx_yaml_parse_ex((const uint8_t *) "a: [1]\n", 7, diag, &limits);
    assert_non_null(doc);
    fx_yaml_destroy(&doc);
    assert_null(fx_yaml_parse_ex((const uint8_t *) "a: !x 1\n", 8, diag, &draft));
    assert_null(fx_yaml_parse_ex((const uint8_t *) "a: !x 1\n", 8, diag, NULL));
    assert_string_equal(fx_diag_message(diag, 0),
                        "YAML tags (!x) are not allowed in an agent configuration");
    assert_string_equal(fx_diag_message(diag, 1), "YAML tags (!x) are not allowed");
    fx_diag_destroy(&diag);
}

/* A capped list keeps the first problems reported, in position order, and says how many more. */
static void test_diag_cap(void **state)
{
    (void) state;
    fx_diag_t *diag = fx_diag_new("t.yaml");
    fx_diag_set_max(diag, 3);
    fx_diag_add(diag, 9, 1, "nine");
    fx_diag_add(diag, 2, 1, "two");
    fx_diag_add(diag, 5, 1, "five");
    assert_int_equal(fx_diag_count(diag), 3);
    assert_string_equal(fx_diag_text(diag, 2), "t.yaml:9:1: nine");
    fx_diag_add(diag, 1, 1, "one, left out");
    assert_int_equal(fx_diag_count(diag), 3);
    assert_string_equal(fx_diag_text(diag, 0), "t.yaml:2:1: two");
    assert_string_equal(fx_diag_text(diag, 1), "t.yaml:5:1: five");
    assert_string_equal(fx_diag_text(diag, 2), "t.yaml: and 2 more errors not shown");
    assert_int_equal(fx_diag_line(diag, 2), 0);
    fx_diag_add(diag, 1, 1, "another");
    assert_string_equal(fx_diag_message(diag, 2), "and 3 more errors not shown");
    assert_null(fx_diag_text(diag, 3));
    fx_diag_destroy(&diag);

    /* Long names and messages are kept whole in the text. */
    char name[1200];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    diag = fx_diag_new(name);
    fx_diag_add(diag, 1, 2, "%s", "m");
    assert_int_equal(strlen(fx_diag_text(diag, 0)), strlen(name) + strlen(":1:2: m"));
    fx_diag_destroy(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions),
        cmocka_unit_test(test_json_surrogate_pairs),
        cmocka_unit_test(test_yaml_surrogate_escapes),
        cmocka_unit_test(test_long_key),
        cmocka_unit_test(test_refused_constructs),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_limits_and_noun),
        cmocka_unit_test(test_diag_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
