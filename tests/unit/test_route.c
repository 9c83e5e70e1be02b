/* Routes and route patterns: parsing, normalisation, every error kind, matching (the DESIGN.md
 * examples and adversarial '**' patterns), and the subscription index checked against a linear
 * scan with fx_route_pattern_match. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fusion/route.h"
#include "testutil.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* count copies of hop joined by '>'; the caller frees. */
static char *s_repeat(const char *hop, size_t count)
{
    size_t len = strlen(hop);
    char *text = malloc(count * (len + 1) + 1);
    assert_non_null(text);
    char *at = text;
    for (size_t i = 0; i < count; i++) {
        if (i)
            *at++ = '>';
        memcpy(at, hop, len);
        at += len;
    }
    *at = '\0';
    return text;
}

static fx_route_t *s_route(const char *text)
{
    fx_route_t *route = NULL;
    char why[FX_ROUTE_WHY_SIZE] = "";
    if (fx_route_parse(text, &route, why) != FX_OK)
        fail_msg("route '%s' should parse: %s", text, why);
    return route;
}

static fx_route_pattern_t *s_pattern(const char *text)
{
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE] = "";
    if (fx_route_pattern_parse(text, &pattern, why) != FX_OK)
        fail_msg("pattern '%s' should parse: %s", text, why);
    return pattern;
}

static int s_match(const char *pattern_text, const char *route_text)
{
    fx_route_pattern_t *pattern = s_pattern(pattern_text);
    fx_route_t *route = s_route(route_text);
    int matched = fx_route_pattern_match(pattern, route);
    fx_route_pattern_destroy(&pattern);
    fx_route_destroy(&route);
    return matched;
}

static void test_route_parse_valid(void **state)
{
    (void) state;
    static const struct {
        const char *text, *normalised;
        size_t hops;
    } cases[] = {
        {"MMR", "MMR", 1},
        {"MMR>THA>MYS", "MMR>THA>MYS", 3},
        {"LKA:CMB>ARE>DEU", "LKA:CMB>ARE>DEU", 3},
        {"mmr>tha:bkk>mys", "MMR>THA:BKK>MYS", 3},
        {"Afg>iRn>TuR", "AFG>IRN>TUR", 3},
        {"THA:bkk", "THA:BKK", 1},
        {"DEU:DEHAM", "DEU:DEHAM", 1},
        {"AUS:SY1", "AUS:SY1", 1},
        {"IDN:123", "IDN:123", 1},
        {"IDN:12345", "IDN:12345", 1},
        {"AAA>BBB>CCC>DDD>EEE>FFF>GGG>HHH>III>JJJ>KKK>LLL",
         "AAA>BBB>CCC>DDD>EEE>FFF>GGG>HHH>III>JJJ>KKK>LLL", 12},
        {"zzz:zzzzz>aaa:00000", "ZZZ:ZZZZZ>AAA:00000", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_route_t *route = s_route(cases[i].text);
        assert_string_equal(fx_route_text(route), cases[i].normalised);
        assert_int_equal(fx_route_hop_count(route), cases[i].hops);
        /* The normalised text parses to itself. */
        fx_route_t *again = s_route(fx_route_text(route));
        assert_string_equal(fx_route_text(again), cases[i].normalised);
        fx_route_destroy(&again);
        fx_route_destroy(&route);
        assert_null(route);
    }
    fx_route_destroy(NULL);
    fx_route_t *none = NULL;
    fx_route_destroy(&none); /* NULL is accepted */
    assert_null(fx_route_text(NULL));
    assert_int_equal(fx_route_hop_count(NULL), 0);
}

/* Each bad input, and words its error message must contain (the hop's position and text). */
typedef struct {
    const char *text;
    const char *why1, *why2;
} bad_case_t;

static void s_check_bad(const bad_case_t *cases, size_t count, int pattern)
{
    for (size_t i = 0; i < count; i++) {
        char why[FX_ROUTE_WHY_SIZE];
        memset(why, 0, sizeof why);
        fx_err_t rc;
        if (pattern) {
            fx_route_pattern_t *parsed = (fx_route_pattern_t *) 1;
            rc = fx_route_pattern_parse(cases[i].text, &parsed, why);
            assert_null(parsed);
        } else {
            fx_route_t *parsed = (fx_route_t *) 1;
            rc = fx_route_parse(cases[i].text, &parsed, why);
            assert_null(parsed);
        }
        if (rc != FX_ERR_INVALID)
            fail_msg("'%s' should be refused (got %d)", cases[i].text ? cases[i].text : "(null)",
                     rc);
        assert_true(strlen(why) > 0 && strlen(why) < FX_ROUTE_WHY_SIZE);
        if (!strstr(why, cases[i].why1) || (cases[i].why2 && !strstr(why, cases[i].why2)))
            fail_msg("'%s': message '%s' should contain '%s' and '%s'", cases[i].text, why,
                     cases[i].why1, cases[i].why2 ? cases[i].why2 : "");
    }
}

static void test_route_parse_errors(void **state)
{
    (void) state;
    char *thirteen = s_repeat("THA", 13);
    char *long_hop = s_repeat("A", 5000);
    for (char *c = long_hop; *c; c++)
        *c = 'A'; /* one hop of 9999 letters once the '>' are overwritten */
    const bad_case_t cases[] = {
        {"", "empty", NULL},
        {NULL, "empty", NULL},
        {"A>>B", "hop 2 is empty", NULL},
        {"AAAA>>B", "hop 2 is empty", NULL},
        {"THAI>MMR >MYS", "hop 2 'MMR '", "white space"},
        {"MMR>>MYS", "hop 2 is empty", NULL},
        {"MMR>", "hop 2 is empty", NULL},
        {">MMR", "hop 1 is empty", NULL},
        {">", "hop 1 is empty", NULL},
        {"THA>", "hop 2 is empty", NULL},
        {"THAI", "hop 1 'THAI'", "not a country code"},
        {"MMR>THAI>MYS", "hop 2 'THAI'", "not a country code"},
        {"MMR>TH>MYS", "hop 2 'TH'", "not a country code"},
        {"MMR>T1A", "hop 2 'T1A'", "not a country code"},
        {"MMR>THAI:BKK", "hop 2 'THAI:BKK'", "'THAI' is not a country code"},
        {":BKK", "hop 1 ':BKK'", "'' is not a country code"},
        {"M\xc3\x9cR", "hop 1 'M\\xc3\\x9cR'", "not a country code"},
        {"MMR\x01", "hop 1 'MMR\\x01'", "not a country code"},
        {thirteen, "hop 13 'THA'", "at most 12 hops"},
        {long_hop, "hop 1 'AAAA", "..."},
        /* white space anywhere */
        {" MMR", "hop 1 ' MMR'", "white space"},
        {"MMR ", "hop 1 'MMR '", "white space"},
        {"MMR >THA", "hop 1 'MMR '", "white space"},
        {"MMR> THA", "hop 2 ' THA'", "white space"},
        {"MMR>THA:B K", "hop 2 'THA:B K'", "white space"},
        {"MMR\t>THA", "hop 1 'MMR\\x09'", "white space"},
        {"MMR>THA\n", "hop 2 'THA\\x0a'", "white space"},
        {" ", "hop 1 ' '", "white space"},
        /* point codes */
        {"THA:", "hop 1 'THA:'", "point code after ':' is missing"},
        {"THA:BK", "hop 1 'THA:BK'", "'BK' is not a point code"},
        {"THA:BKKBKK", "hop 1 'THA:BKKBKK'", "'BKKBKK' is not a point code"},
        {"THA:BK-K", "hop 1 'THA:BK-K'", "not a point code"},
        {"THA:BKK:X", "hop 1 'THA:BKK:X'", "'BKK:X' is not a point code"},
        {"THA::BKK", "hop 1 'THA::BKK'", "not a point code"},
        {"MMR>THA:\xff\xff\xff", "hop 2", "not a point code"},
        /* wildcards belong to patterns */
        {"*", "hop 1 '*'", "not routes"},
        {"MMR>**>MYS", "hop 2 '**'", "not routes"},
        {"*:BKK", "hop 1 '*:BKK'", "not routes"},
    };
    s_check_bad(cases, sizeof cases / sizeof cases[0], 0);
    free(thirteen);
    free(long_hop);

    /* why may be NULL; route_p may not. */
    fx_route_t *route = NULL;
    assert_int_equal(fx_route_parse("THAI", &route, NULL), FX_ERR_INVALID);
    char why[FX_ROUTE_WHY_SIZE];
    assert_int_equal(fx_route_parse("THA", NULL, why), FX_ERR_INVALID);
}

static void test_pattern_parse(void **state)
{
    (void) state;
    static const struct {
        const char *text, *normalised;
        size_t hops;
    } good[] = {
        {"**", "**", 1},
        {"*", "*", 1},
        {"mmr>**>mys", "MMR>**>MYS", 3},
        {"*>tha>*", "*>THA>*", 3},
        {"**>THA:bkk>**", "**>THA:BKK>**", 3},
        {"**>**", "**>**", 2},
        {"LKA:CMB>ARE>DEU", "LKA:CMB>ARE>DEU", 3},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fx_route_pattern_t *pattern = s_pattern(good[i].text);
        assert_string_equal(fx_route_pattern_text(pattern), good[i].normalised);
        assert_int_equal(fx_route_pattern_hop_count(pattern), good[i].hops);
        fx_route_pattern_destroy(&pattern);
        assert_null(pattern);
    }
    char *max = s_repeat("**", 32), *thirtythree = s_repeat("*", 33);
    fx_route_pattern_t *pattern = s_pattern(max);
    assert_int_equal(fx_route_pattern_hop_count(pattern), 32);
    fx_route_pattern_destroy(&pattern);
    fx_route_pattern_destroy(NULL);
    assert_null(fx_route_pattern_text(NULL));

    const bad_case_t bad[] = {
        {"", "pattern is empty", NULL},
        {NULL, "pattern is empty", NULL},
        {thirtythree, "hop 33 '*'", "at most 32 hops"},
        {"*:BKK", "hop 1 '*:BKK'", "takes no point code"},
        {"**:BKK", "hop 1 '**:BKK'", "takes no point code"},
        {"MMR>THA:*", "hop 2 'THA:*'", "point code cannot be a wildcard"},
        {"THA:**", "hop 1 'THA:**'", "point code cannot be a wildcard"},
        {"THA:BK*", "hop 1 'THA:BK*'", "point code cannot be a wildcard"},
        {"***", "hop 1 '***'", "not a wildcard"},
        {"MMR>***>MYS", "hop 2 '***'", "not a wildcard"},
        {"*THA", "hop 1 '*THA'", "not a wildcard"},
        {"TH*", "hop 1 'TH*'", "not a wildcard"},
        {"***:BKK", "hop 1 '***:BKK'", "not a wildcard"},
        {"**>", "hop 2 is empty", NULL},
        {">**", "hop 1 is empty", NULL},
        {"**>>MYS", "hop 2 is empty", NULL},
        {"** ", "hop 1 '** '", "white space"},
        {"MMR>** >MYS", "hop 2 '** '", "white space"},
        {"THAI>**", "hop 1 'THAI'", "not a country code"},
        {"**>THA:BK", "hop 2 'THA:BK'", "not a point code"},
    };
    s_check_bad(bad, sizeof bad / sizeof bad[0], 1);
    free(max);
    free(thirtythree);
}

static void test_match_examples(void **state)
{
    (void) state;
    static const struct {
        const char *pattern, *route;
        int match;
    } cases[] = {
        /* DESIGN.md */
        {"MMR>**>MYS", "MMR>MYS", 1},
        {"MMR>**>MYS", "MMR>THA>MYS", 1},
        {"MMR>**>MYS", "MMR>THA", 0},
        {"*>THA>*", "MMR>THA>MYS", 1},
        {"*>THA>*", "MMR>LAO>THA>MYS", 0},
        {"*>THA>*", "THA>MYS", 0},
        {"**>THA:BKK>**", "LKA:CMB>THA:BKK>AUS:SYD", 1},
        {"**>THA:BKK>**", "THA:BKK", 1},
        {"**>THA:BKK>**", "LKA>THA>AUS", 0},
        {"**>THA:BKK>**", "LKA>THA:HKT>AUS", 0},
        {"**>THA>**", "LKA>THA:BKK>AUS", 1},
        {"**", "AFG>IRN>TUR", 1},
        {"**", "AFG", 1},
        {"afg>**", "AFG>PAK", 1},
        /* a country alone matches any point; a point matches only itself */
        {"THA", "THA", 1},
        {"THA", "THA:BKK", 1},
        {"THA:BKK", "THA:BKK", 1},
        {"THA:BKK", "THA", 0},
        {"THA:BKK", "THA:HKT", 0},
        {"THA:BKK", "MYS:BKK", 0},
        {"tha:bkk", "THA:bkk", 1},
        {"THA:BKK1", "THA:BKK", 0},
        {"THA:BKK", "THA:BKK1", 0},
        /* the whole route */
        {"MMR>THA", "MMR>THA>MYS", 0},
        {"THA>MYS", "MMR>THA>MYS", 0},
        {"MMR>THA>MYS", "MMR>THA>MYS", 1},
        /* '**' at the start, in the middle, at the end */
        {"**>MYS", "MYS", 1},
        {"**>MYS", "MMR>THA>MYS", 1},
        {"**>MYS", "MMR>MYS>THA", 0},
        {"MMR>**", "MMR", 1},
        {"MMR>**", "MMR>THA>MYS", 1},
        {"MMR>**", "THA>MMR", 0},
        {"MMR>**>THA>**>MYS", "MMR>THA>MYS", 1},
        {"MMR>**>THA>**>MYS", "MMR>LAO>THA>KHM>VNM>MYS", 1},
        {"MMR>**>THA>**>MYS", "MMR>LAO>KHM>MYS", 0},
        /* '*' is exactly one hop */
        {"*", "MMR", 1},
        {"*", "MMR>THA", 0},
        {"*>*", "MMR>THA", 1},
        {"MMR>*>MYS", "MMR>MYS", 0},
        {"MMR>*>MYS", "MMR>THA:BKK>MYS", 1},
        /* many '**' */
        {"**>**", "MMR", 1},
        {"**>**>**>**", "MMR>THA>MYS", 1},
        {"**>*>**", "MMR", 1},
        {"**>*>**>*>**", "MMR", 0},
        {"**>*>**>*>**", "MMR>THA", 1},
        {"**>MMR>**>MMR>**", "MMR>THA>MMR", 1},
        {"**>MMR>**>MMR>**", "THA>MMR>THA", 0},
        {"*>**>*", "MMR>THA", 1},
        {"*>**>*", "MMR", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (s_match(cases[i].pattern, cases[i].route) != cases[i].match)
            fail_msg("'%s' against '%s' should be %s", cases[i].pattern, cases[i].route,
                     cases[i].match ? "match" : "no match");
    assert_int_equal(fx_route_pattern_match(NULL, NULL), 0);
}

/* `**>A>**>A>**>...` against a 12-hop route that almost matches: a backtracking matcher tries
 * every way to share the hops among the '**'; ours is one pass. */
static void test_match_adversarial(void **state)
{
    (void) state;
    char pattern_text[400] = "**", route_text[200] = "AAA";
    for (int i = 0; i < 10; i++)
        strcat(pattern_text, ">AAA>**");
    strcat(pattern_text, ">BBB");
    for (int i = 1; i < 11; i++)
        strcat(route_text, ">AAA");
    strcat(route_text, ">CCC");
    char stars[200] = "*";
    for (int i = 0; i < 31; i++)
        strcat(stars, ">**");
    fx_route_pattern_t *pattern = s_pattern(pattern_text), *many = s_pattern(stars);
    fx_route_pattern_t *near = s_pattern("**>AAA>**>AAA>**>AAA>**>AAA>**>AAA>**>AAA>**>CCC>**");
    fx_route_t *route = s_route(route_text);
    assert_int_equal(fx_route_pattern_hop_count(pattern), 22);
    assert_int_equal(fx_route_pattern_hop_count(many), 32);
    double start = s_now();
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(fx_route_pattern_match(pattern, route), 0);
        assert_int_equal(fx_route_pattern_match(many, route), 1);
        assert_int_equal(fx_route_pattern_match(near, route), 1);
    }
    double elapsed = s_now() - start;
    if (elapsed > 2.0)
        fail_msg("60000 adversarial matches took %.2f s", elapsed);

    /* The index copes too. */
    fx_route_index_t *index = fx_route_index_new();
    assert_int_equal(fx_route_index_add(index, pattern, 1), FX_OK);
    assert_int_equal(fx_route_index_add(index, many, 2), FX_OK);
    assert_int_equal(fx_route_index_add(index, near, 3), FX_OK);
    start = s_now();
    for (int i = 0; i < 20000; i++)
        assert_int_equal(fx_route_index_match(index, route, NULL, NULL), 2);
    elapsed = s_now() - start;
    if (elapsed > 2.0)
        fail_msg("20000 adversarial index matches took %.2f s", elapsed);
    fx_route_index_destroy(&index);
    fx_route_pattern_destroy(&pattern);
    fx_route_pattern_destroy(&many);
    fx_route_pattern_destroy(&near);
    fx_route_destroy(&route);
}

/* Collects matched ids for comparison. */
typedef struct {
    uint64_t ids[4096];
    size_t count;
} found_t;

static void s_found(uint64_t id, void *arg)
{
    found_t *found = arg;
    assert_true(found->count < sizeof found->ids / sizeof found->ids[0]);
    found->ids[found->count++] = id;
}

static int s_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static void s_sort(found_t *found)
{
    qsort(found->ids, found->count, sizeof found->ids[0], s_compare_u64);
}

static void test_index_basics(void **state)
{
    (void) state;
    fx_route_index_t *index = fx_route_index_new();
    fx_route_pattern_t *via_bkk = s_pattern("**>THA:BKK>**"), *mmr_mys = s_pattern("MMR>**>MYS");
    fx_route_pattern_t *via_bkk_copy = s_pattern("**>tha:bkk>**"), *all = s_pattern("**");
    fx_route_t *route = s_route("MMR>THA:BKK>MYS"), *other = s_route("LKA>ARE>DEU");
    assert_int_equal(fx_route_index_size(index), 0);
    assert_int_equal(fx_route_index_match(index, route, NULL, NULL), 0);

    assert_int_equal(fx_route_index_add(index, via_bkk, 7), FX_OK);
    assert_int_equal(fx_route_index_add(index, via_bkk_copy, 7), FX_OK); /* the same pair */
    assert_int_equal(fx_route_index_size(index), 1);
    assert_int_equal(fx_route_index_add(index, via_bkk, 8), FX_OK);
    assert_int_equal(fx_route_index_add(index, mmr_mys, 7), FX_OK); /* id 7 twice over */
    assert_int_equal(fx_route_index_add(index, mmr_mys, 9), FX_OK);
    assert_int_equal(fx_route_index_size(index), 4);

    found_t found = {.count = 0};
    assert_int_equal(fx_route_index_match(index, route, s_found, &found), 3);
    s_sort(&found);
    assert_int_equal(found.count, 3); /* 7 once, though two of its patterns match */
    assert_int_equal(found.ids[0], 7);
    assert_int_equal(found.ids[1], 8);
    assert_int_equal(found.ids[2], 9);
    assert_int_equal(fx_route_index_match(index, other, s_found, &found), 0);

    /* Remove: once, then not found; an unknown pattern is not found. */
    assert_int_equal(fx_route_index_remove(index, via_bkk_copy, 7), 0);
    assert_int_equal(fx_route_index_remove(index, via_bkk, 7), -1);
    assert_int_equal(fx_route_index_remove(index, all, 7), -1);
    assert_int_equal(fx_route_index_remove(index, via_bkk, 99), -1);
    assert_int_equal(fx_route_index_size(index), 3);
    found.count = 0;
    assert_int_equal(fx_route_index_match(index, route, s_found, &found), 3); /* 7 by mmr_mys */
    assert_int_equal(fx_route_index_remove(index, mmr_mys, 7), 0);
    assert_int_equal(fx_route_index_match(index, route, NULL, NULL), 2);
    assert_int_equal(fx_route_index_remove(index, mmr_mys, 9), 0);
    assert_int_equal(fx_route_index_remove(index, via_bkk, 8), 0);
    assert_int_equal(fx_route_index_size(index), 0);
    assert_int_equal(fx_route_index_match(index, route, NULL, NULL), 0);

    /* After pruning, the same patterns go back in and match again. */
    assert_int_equal(fx_route_index_add(index, all, 1), FX_OK);
    assert_int_equal(fx_route_index_add(index, via_bkk, 2), FX_OK);
    assert_int_equal(fx_route_index_match(index, route, NULL, NULL), 2);
    assert_int_equal(fx_route_index_match(index, other, NULL, NULL), 1);
    assert_int_equal(fx_route_index_add(NULL, all, 1), FX_ERR_INVALID);
    assert_int_equal(fx_route_index_add(index, NULL, 1), FX_ERR_INVALID);
    assert_int_equal(fx_route_index_remove(index, NULL, 1), -1);
    assert_int_equal(fx_route_index_match(index, NULL, NULL, NULL), 0);
    assert_int_equal(fx_route_index_size(NULL), 0);

    fx_route_index_destroy(&index);
    assert_null(index);
    fx_route_index_destroy(&index);
    fx_route_index_destroy(NULL);
    fx_route_pattern_destroy(&via_bkk);
    fx_route_pattern_destroy(&via_bkk_copy);
    fx_route_pattern_destroy(&mmr_mys);
    fx_route_pattern_destroy(&all);
    fx_route_destroy(&route);
    fx_route_destroy(&other);
}

/* A fixed-seed generator (xorshift64*), so a failure reproduces. */
static uint64_t s_rng = 0x9e3779b97f4a7c15u;

static unsigned s_rand(unsigned bound)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (unsigned) ((s_rng * 0x2545f4914f6cdd1du) >> 33) % bound;
}

/* A random concrete hop from a small alphabet, so that patterns and routes often meet. */
static void s_random_hop(char *out)
{
    static const char *const countries[] = {"AAA", "BBB", "CCC", "DDD"};
    static const char *const points[] = {"", ":X11", ":Y22"};
    sprintf(out, "%s%s", countries[s_rand(4)], points[s_rand(3)]);
}

static void s_random_text(char *out, size_t max_hops, int pattern)
{
    size_t hops = 1 + s_rand((unsigned) max_hops);
    out[0] = '\0';
    for (size_t i = 0; i < hops; i++) {
        char hop[16];
        unsigned roll = pattern ? s_rand(10) : 9;
        if (roll < 2)
            strcpy(hop, "**");
        else if (roll < 4)
            strcpy(hop, "*");
        else
            s_random_hop(hop);
        if (i)
            strcat(out, ">");
        strcat(out, hop);
    }
}

#define S_PATTERNS 400
#define S_ROUTES   600

/* The index answers exactly what a linear scan with fx_route_pattern_match answers. */
static void s_compare_with_scan(fx_route_index_t *index, fx_route_pattern_t **patterns,
                                const uint64_t *ids, const int *present, fx_route_t **routes,
                                size_t *matched_p)
{
    static found_t expected, got;
    for (size_t r = 0; r < S_ROUTES; r++) {
        expected.count = 0;
        for (size_t p = 0; p < S_PATTERNS; p++) {
            if (!present[p] || !fx_route_pattern_match(patterns[p], routes[r]))
                continue;
            int seen = 0;
            for (size_t k = 0; k < expected.count && !seen; k++)
                seen = expected.ids[k] == ids[p];
            if (!seen)
                expected.ids[expected.count++] = ids[p];
        }
        got.count = 0;
        size_t n = fx_route_index_match(index, routes[r], s_found, &got);
        assert_int_equal(n, got.count);
        s_sort(&expected);
        s_sort(&got);
        *matched_p += got.count;
        if (got.count != expected.count ||
            memcmp(got.ids, expected.ids, got.count * sizeof got.ids[0]) != 0)
            fail_msg("route '%s': index found %zu ids, scan %zu", fx_route_text(routes[r]),
                     got.count, expected.count);
    }
}

static void test_index_equals_linear_scan(void **state)
{
    (void) state;
    static fx_route_pattern_t *patterns[S_PATTERNS];
    static fx_route_t *routes[S_ROUTES];
    static uint64_t ids[S_PATTERNS];
    static int present[S_PATTERNS];
    char text[512];
    size_t matched = 0;
    fx_route_index_t *index = fx_route_index_new();
    for (size_t p = 0; p < S_PATTERNS; p++) {
        s_random_text(text, 7, 1);
        patterns[p] = s_pattern(text);
        ids[p] = s_rand(150); /* ids repeat across patterns */
        present[p] = 1;
        assert_int_equal(fx_route_index_add(index, patterns[p], ids[p]), FX_OK);
    }
    for (size_t r = 0; r < S_ROUTES; r++) {
        s_random_text(text, FX_ROUTE_MAX_HOPS, 0);
        routes[r] = s_route(text);
    }
    s_compare_with_scan(index, patterns, ids, present, routes, &matched);

    /* Remove about half, in random order; pairs stored twice go with their first removal. */
    for (size_t p = 0; p < S_PATTERNS; p++) {
        if (s_rand(2))
            continue;
        int stored = fx_route_index_remove(index, patterns[p], ids[p]) == 0;
        int twin = 0; /* an earlier-removed identical pair means this one is already gone */
        for (size_t q = 0; q < S_PATTERNS; q++)
            if (q != p && !present[q] && ids[q] == ids[p] &&
                strcmp(fx_route_pattern_text(patterns[q]), fx_route_pattern_text(patterns[p])) == 0)
                twin = 1;
        assert_int_equal(stored, !twin);
        present[p] = 0;
    }
    /* Pairs still present whose twin was removed are gone from the index too: drop them. */
    for (size_t p = 0; p < S_PATTERNS; p++)
        for (size_t q = 0; q < S_PATTERNS && present[p]; q++)
            if (!present[q] && ids[q] == ids[p] &&
                strcmp(fx_route_pattern_text(patterns[q]), fx_route_pattern_text(patterns[p])) == 0)
                present[p] = 0;
    s_compare_with_scan(index, patterns, ids, present, routes, &matched);

    /* Add everything back; then remove everything. */
    for (size_t p = 0; p < S_PATTERNS; p++) {
        assert_int_equal(fx_route_index_add(index, patterns[p], ids[p]), FX_OK);
        present[p] = 1;
    }
    s_compare_with_scan(index, patterns, ids, present, routes, &matched);
    /* The random cases are not trivial: on average a route matches several ids. */
    assert_true(matched > 3 * S_ROUTES);
    for (size_t p = 0; p < S_PATTERNS; p++)
        (void) fx_route_index_remove(index, patterns[p], ids[p]);
    assert_int_equal(fx_route_index_size(index), 0);
    for (size_t r = 0; r < S_ROUTES; r++)
        assert_int_equal(fx_route_index_match(index, routes[r], NULL, NULL), 0);

    fx_route_index_destroy(&index);
    for (size_t p = 0; p < S_PATTERNS; p++)
        fx_route_pattern_destroy(&patterns[p]);
    for (size_t r = 0; r < S_ROUTES; r++)
        fx_route_destroy(&routes[r]);
}

/* The pattern parsed from a route's own text matches it; every route matches '**'. */
static void test_route_as_pattern(void **state)
{
    (void) state;
    char text[512];
    fx_route_pattern_t *all = s_pattern("**");
    for (int i = 0; i < 500; i++) {
        s_random_text(text, FX_ROUTE_MAX_HOPS, 0);
        fx_route_t *route = s_route(text);
        fx_route_pattern_t *self = s_pattern(fx_route_text(route));
        assert_string_equal(fx_route_pattern_text(self), fx_route_text(route));
        assert_int_equal(fx_route_pattern_match(self, route), 1);
        assert_int_equal(fx_route_pattern_match(all, route), 1);
        fx_route_pattern_destroy(&self);
        fx_route_destroy(&route);
    }
    fx_route_pattern_destroy(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_parse_valid),
        cmocka_unit_test(test_route_parse_errors),
        cmocka_unit_test(test_pattern_parse),
        cmocka_unit_test(test_match_examples),
        cmocka_unit_test(test_match_adversarial),
        cmocka_unit_test(test_index_basics),
        cmocka_unit_test(test_index_equals_linear_scan),
        cmocka_unit_test(test_route_as_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
