/* libFuzzer target for routes and route patterns: the input's first line is parsed as a
 * pattern and the rest as a route (and the whole input as each), then matched directly and
 * through the index. Checks that normalised text re-parses to itself and the two matchers agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* An error message is a non-empty string that fits its buffer. */
static void s_check_why(const char *why)
{
    size_t len = strnlen(why, FX_ROUTE_WHY_SIZE);
    S_CHECK(len > 0 && len < FX_ROUTE_WHY_SIZE);
}

/* Parses text as a route and checks what a parsed route promises. Returns it or NULL. */
static fx_route_t *s_route(const char *text)
{
    char why[FX_ROUTE_WHY_SIZE];
    memset(why, 0, sizeof why);
    fx_route_t *route = NULL;
    if (fx_route_parse(text, &route, why) != FX_OK) {
        S_CHECK(route == NULL);
        s_check_why(why);
        return NULL;
    }
    size_t hops = fx_route_hop_count(route);
    S_CHECK(hops >= 1 && hops <= FX_ROUTE_MAX_HOPS);
    const char *normalised = fx_route_text(route);
    S_CHECK(strlen(normalised) == strlen(text));
    for (const char *c = normalised; *c; c++)
        S_CHECK(!(*c >= 'a' && *c <= 'z'));
    fx_route_t *again = NULL;
    S_CHECK(fx_route_parse(normalised, &again, why) == FX_OK);
    S_CHECK(strcmp(fx_route_text(again), normalised) == 0);
    S_CHECK(fx_route_hop_count(again) == hops);
    fx_route_destroy(&again);

    /* A route is also a pattern, and it matches itself; '**' matches everything. */
    fx_route_pattern_t *self = NULL, *all = NULL;
    S_CHECK(fx_route_pattern_parse(normalised, &self, why) == FX_OK);
    S_CHECK(fx_route_pattern_parse("**", &all, why) == FX_OK);
    S_CHECK(fx_route_pattern_match(self, route) == 1);
    S_CHECK(fx_route_pattern_match(all, route) == 1);
    fx_route_pattern_destroy(&self);
    fx_route_pattern_destroy(&all);
    return route;
}

/* Parses text as a pattern and checks that its text re-parses to itself. Returns it or NULL. */
static fx_route_pattern_t *s_pattern(const char *text)
{
    char why[FX_ROUTE_WHY_SIZE];
    memset(why, 0, sizeof why);
    fx_route_pattern_t *pattern = NULL;
    if (fx_route_pattern_parse(text, &pattern, why) != FX_OK) {
        S_CHECK(pattern == NULL);
        s_check_why(why);
        return NULL;
    }
    size_t hops = fx_route_pattern_hop_count(pattern);
    S_CHECK(hops >= 1 && hops <= FX_PATTERN_MAX_HOPS);
    fx_route_pattern_t *again = NULL;
    S_CHECK(fx_route_pattern_parse(fx_route_pattern_text(pattern), &again, why) == FX_OK);
    S_CHECK(strcmp(fx_route_pattern_text(again), fx_route_pattern_text(pattern)) == 0);
    S_CHECK(fx_route_pattern_hop_count(again) == hops);
    fx_route_pattern_destroy(&again);
    return pattern;
}

static void s_count(uint64_t id, void *arg)
{
    S_CHECK(id == 42 || id == 43);
    (*(size_t *) arg)++;
}

/* The index with this one pattern (under two ids, one of them added twice) answers as the
 * direct match does, and is empty again after removing them. */
static void s_check_match(const fx_route_pattern_t *pattern, const fx_route_t *route)
{
    int matched = fx_route_pattern_match(pattern, route);
    S_CHECK(matched == 0 || matched == 1);
    fx_route_index_t *index = fx_route_index_new();
    S_CHECK(fx_route_index_add(index, pattern, 42) == FX_OK);
    S_CHECK(fx_route_index_add(index, pattern, 43) == FX_OK);
    S_CHECK(fx_route_index_add(index, pattern, 42) == FX_OK);
    S_CHECK(fx_route_index_size(index) == 2);
    size_t calls = 0;
    S_CHECK(fx_route_index_match(index, route, s_count, &calls) == (size_t) (matched ? 2 : 0));
    S_CHECK(calls == (size_t) (matched ? 2 : 0));
    S_CHECK(fx_route_index_remove(index, pattern, 42) == 0);
    S_CHECK(fx_route_index_remove(index, pattern, 42) == -1);
    S_CHECK(fx_route_index_remove(index, pattern, 43) == 0);
    S_CHECK(fx_route_index_size(index) == 0);
    S_CHECK(fx_route_index_match(index, route, NULL, NULL) == 0);
    fx_route_index_destroy(&index);
    S_CHECK(index == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    fx_route_t *whole_route = s_route(text);
    fx_route_pattern_t *whole_pattern = s_pattern(text);
    if (whole_route) /* anything that parses as a route parses as a pattern */
        S_CHECK(whole_pattern != NULL);
    if (whole_route && whole_pattern)
        s_check_match(whole_pattern, whole_route);

    char *newline = strchr(text, '\n');
    if (newline) {
        *newline = '\0';
        fx_route_pattern_t *pattern = s_pattern(text);
        fx_route_t *route = s_route(newline + 1);
        if (pattern && route)
            s_check_match(pattern, route);
        fx_route_pattern_destroy(&pattern);
        fx_route_destroy(&route);
    }
    fx_route_destroy(&whole_route);
    fx_route_pattern_destroy(&whole_pattern);
    free(text);
    return 0;
}
