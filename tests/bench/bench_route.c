/* The subscription index against a linear scan: 10,000 realistic route patterns (origin and
 * destination with anything between, transit points, one-hop wildcards, concrete routes over
 * 40 countries), matched against the same routes both ways in the same run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/route.h"
#include "report.h"

#define S_PATTERNS 10000
#define S_ROUTES   2000

static const char *const s_countries[] = {"AFG", "ARE", "AUS", "BGD", "BRN", "BTN", "CHN", "DEU",
                                          "FJI", "GBR", "HKG", "IDN", "IND", "IRN", "IRQ", "JPN",
                                          "KHM", "KOR", "LAO", "LKA", "MDV", "MMR", "MNG", "MYS",
                                          "NPL", "NZL", "PAK", "PHL", "PNG", "QAT", "SAU", "SGP",
                                          "SLB", "THA", "TLS", "TUR", "USA", "VNM", "VUT", "NRU"};
#define S_COUNTRY_COUNT (sizeof s_countries / sizeof s_countries[0])
static const char *const s_points[] = {"AP1", "AP2", "SEA", "LND", "PORT1"};
#define S_POINT_COUNT (sizeof s_points / sizeof s_points[0])

/* A fixed-seed generator (xorshift64*), so runs compare. */
static uint64_t s_rng = 0x2545f4914f6cdd1du;

static unsigned s_rand(unsigned bound)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (unsigned) ((s_rng * 0x2545f4914f6cdd1du) >> 33) % bound;
}

static const char *s_country(void)
{
    return s_countries[s_rand(S_COUNTRY_COUNT)];
}

/* A country, with a point one time in pct_point. */
static void s_hop(char *out, size_t size, unsigned pct_point)
{
    if (s_rand(100) < pct_point)
        snprintf(out, size, "%s:%s", s_country(), s_points[s_rand(S_POINT_COUNT)]);
    else
        snprintf(out, size, "%s", s_country());
}

/* hops concrete hops joined by '>'. */
static void s_concrete(char *out, size_t size, unsigned hops, unsigned pct_point)
{
    out[0] = '\0';
    for (unsigned i = 0; i < hops; i++) {
        char hop[16];
        s_hop(hop, sizeof hop, pct_point);
        if (i)
            strncat(out, ">", size - strlen(out) - 1);
        strncat(out, hop, size - strlen(out) - 1);
    }
}

/* A pattern of the kinds liaison officers subscribe with. */
static void s_realistic_pattern(char *out, size_t size)
{
    char a[16], b[16], c[64];
    unsigned kind = s_rand(100);
    s_hop(a, sizeof a, 20);
    s_hop(b, sizeof b, 20);
    if (kind < 30) { /* origin and destination, anything between */
        snprintf(out, size, "%s>**>%s", a, b);
    } else if (kind < 50) { /* through one transit point */
        snprintf(out, size, "**>%s:%s>**", s_country(), s_points[s_rand(S_POINT_COUNT)]);
    } else if (kind < 60) { /* three hops with this country in the middle */
        snprintf(out, size, "*>%s>*", s_country());
    } else if (kind < 85) { /* a concrete route */
        s_concrete(c, sizeof c, 2 + s_rand(3), 25);
        snprintf(out, size, "%s", c);
    } else if (kind < 92) { /* everything leaving a country */
        snprintf(out, size, "%s>**", a);
    } else if (kind < 97) { /* everything arriving */
        snprintf(out, size, "**>%s", b);
    } else { /* everything through a country */
        snprintf(out, size, "**>%s>**", s_country());
    }
}

static void s_count(uint64_t id, void *arg)
{
    (void) id;
    (*(size_t *) arg)++;
}

int main(void)
{
    static fx_route_pattern_t *patterns[S_PATTERNS];
    static fx_route_t *routes[S_ROUTES];
    char text[256], why[FX_ROUTE_WHY_SIZE];
    int status = 1;
    fx_route_index_t *index = fx_route_index_new();

    double start = bench_now();
    for (size_t p = 0; p < S_PATTERNS; p++) {
        s_realistic_pattern(text, sizeof text);
        if (fx_route_pattern_parse(text, &patterns[p], why) != FX_OK) {
            fprintf(stderr, "bench_route: pattern '%s': %s\n", text, why);
            goto cleanup;
        }
        if (fx_route_index_add(index, patterns[p], p) != FX_OK)
            goto cleanup;
    }
    double build_ns = (bench_now() - start) * 1e9 / S_PATTERNS;
    for (size_t r = 0; r < S_ROUTES; r++) {
        s_concrete(text, sizeof text, 2 + s_rand(5), 40);
        if (fx_route_parse(text, &routes[r], why) != FX_OK) {
            fprintf(stderr, "bench_route: route '%s': %s\n", text, why);
            goto cleanup;
        }
    }

    /* The index: as many passes over the routes as fit in about half a second. */
    size_t index_found = 0, passes = 0;
    start = bench_now();
    double elapsed = 0;
    do {
        index_found = 0;
        for (size_t r = 0; r < S_ROUTES; r++)
            fx_route_index_match(index, routes[r], s_count, &index_found);
        passes++;
        elapsed = bench_now() - start;
    } while (elapsed < 0.5);
    double index_ns = elapsed * 1e9 / (double) (passes * S_ROUTES);

    /* The linear scan: one pass. */
    size_t linear_found = 0;
    start = bench_now();
    for (size_t r = 0; r < S_ROUTES; r++)
        for (size_t p = 0; p < S_PATTERNS; p++)
            linear_found += (size_t) fx_route_pattern_match(patterns[p], routes[r]);
    double linear_ns = (bench_now() - start) * 1e9 / S_ROUTES;

    if (index_found != linear_found) {
        fprintf(stderr, "bench_route: the index found %zu matches, the linear scan %zu\n",
                index_found, linear_found);
        goto cleanup;
    }
    bench_report("route index: ns per route, 10000 patterns", index_ns, "ns", linear_ns);
    bench_report("route index: speedup over linear scan", linear_ns / index_ns, "x", 0);
    bench_report("route index: matching patterns per route", (double) index_found / S_ROUTES,
                 "patterns", 0);
    bench_report("route index: ns per pattern parsed and added", build_ns, "ns", 0);
    status = 0;
cleanup:
    fx_route_index_destroy(&index);
    for (size_t p = 0; p < S_PATTERNS; p++)
        fx_route_pattern_destroy(&patterns[p]);
    for (size_t r = 0; r < S_ROUTES; r++)
        fx_route_destroy(&routes[r]);
    return status;
}
