/* The broker's per-principal token buckets (broker/ratelimit.c, compiled in here): a burst, the
 * refill rate, principals independent of each other, one report per episode, and buckets that
 * are full again forgotten. */
#include <string.h>

#include "../../broker/ratelimit.c"
#include "testutil.h"

typedef struct {
    char principal[32];
    size_t refused;
    int calls;
} seen_t;

static void s_seen(const char *principal, size_t refused, void *arg)
{
    seen_t *seen = arg;
    snprintf(seen->principal, sizeof seen->principal, "%s", principal);
    seen->refused = refused;
    seen->calls++;
}

static void test_burst_then_rate(void **state)
{
    (void) state;
    broker_ratelimit_t *limits = broker_ratelimit_new(10, 5); /* 10/s, burst 5 */
    bool episode = false;
    for (int i = 0; i < 5; i++)
        assert_true(broker_ratelimit_take(limits, "THA.RTP.fp1", 1000, &episode));
    assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 1000, &episode));
    assert_true(episode); /* the first refusal starts an episode */
    assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 1000, &episode));
    assert_false(episode);
    /* Another principal has its own bucket. */
    assert_true(broker_ratelimit_take(limits, "IDN.POLRI.fp1", 1000, &episode));
    /* 100 ms later one token came back, and only one. */
    assert_true(broker_ratelimit_take(limits, "THA.RTP.fp1", 1100, &episode));
    assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 1100, &episode));
    /* A clock that goes back adds nothing. */
    assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 500, &episode));
    broker_ratelimit_destroy(&limits);
    assert_null(limits);
    broker_ratelimit_destroy(&limits); /* NULL is fine */
}

static void test_reports_and_episodes(void **state)
{
    (void) state;
    broker_ratelimit_t *limits = broker_ratelimit_new(1, 1);
    bool episode = false;
    seen_t seen = {"", 0, 0};
    assert_true(broker_ratelimit_take(limits, "THA.RTP.fp1", 0, &episode));
    for (int i = 0; i < 4; i++)
        assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 0, &episode));
    /* One refusal was reported at once (the episode), the three after it by the report. */
    broker_ratelimit_report(limits, 0, s_seen, &seen);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.principal, "THA.RTP.fp1");
    assert_int_equal(seen.refused, 3);
    /* A quiet interval: nothing to report, and the episode ends... */
    broker_ratelimit_report(limits, 10, s_seen, &seen);
    assert_int_equal(seen.calls, 1);
    /* ... so the next refusal starts a new one. */
    assert_true(broker_ratelimit_take(limits, "THA.RTP.fp1", 2000, &episode));
    assert_false(broker_ratelimit_take(limits, "THA.RTP.fp1", 2000, &episode));
    assert_true(episode);
    /* Full buckets are forgotten: memory follows the active principals. */
    broker_ratelimit_report(limits, 100000, s_seen, &seen);
    broker_ratelimit_report(limits, 200000, s_seen, &seen);
    assert_int_equal(zhashx_size(limits->by_id), 0);
    broker_ratelimit_destroy(&limits);
}

/* A frame charged by its cost (broker_ratelimit_charge) after it took its one token: it goes
 * while the bucket holds the whole cost; refused, it keeps only its one token taken and starts
 * an episode as any refusal does; a cost over the burst goes only from a bucket holding half the
 * burst (test_charge_over_half) and leaves it in debt, which the rate pays back before any frame
 * goes again. */
static void test_charge_by_cost(void **state)
{
    (void) state;
    broker_ratelimit_t *limits = broker_ratelimit_new(10, 20); /* 10/s, burst 20 */
    bool episode = false;
    const char *p = "THA.RTP.fp1";
    assert_true(broker_ratelimit_take(limits, p, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, p, 0, 15, &episode)); /* 20 -> 5 */
    assert_true(broker_ratelimit_take(limits, p, 0, &episode));
    assert_false(broker_ratelimit_charge(limits, p, 0, 6, &episode)); /* 5 < 6: refused */
    assert_true(episode);
    /* It took its one token: 4 are left, so a cost of 4 goes and nothing is left. */
    assert_true(broker_ratelimit_take(limits, p, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, p, 0, 4, &episode));
    assert_false(broker_ratelimit_take(limits, p, 0, &episode));
    assert_false(episode); /* the same episode */
    /* A cost of 1, or none, is the frame's own token. */
    assert_true(broker_ratelimit_take(limits, p, 100, &episode)); /* 1 token refilled */
    assert_true(broker_ratelimit_charge(limits, p, 100, 1, &episode));
    assert_true(broker_ratelimit_charge(limits, p, 100, 0, &episode));
    /* Over the burst: refused while the bucket holds less than half of it (9 < 10), then it
     * goes, into debt. */
    assert_true(broker_ratelimit_take(limits, p, 1000, &episode)); /* 10 tokens */
    assert_false(broker_ratelimit_charge(limits, p, 1000, 50, &episode));
    assert_true(broker_ratelimit_take(limits, p, 5000, &episode));       /* full: 20 */
    assert_true(broker_ratelimit_charge(limits, p, 5000, 50, &episode)); /* 20 - 50 = -30 */
    assert_false(broker_ratelimit_take(limits, p, 7000, &episode));      /* -10 after 2 s */
    assert_true(broker_ratelimit_take(limits, p, 8100, &episode));       /* 1 after 3.1 s */
    broker_ratelimit_destroy(&limits);
}

/* A cost over half the burst goes when the bucket holds half the burst (the frame's own token
 * included), into debt; below that it is refused. The client's own frames just before it (an
 * agent's DIRECTORY request before its PREPARE) do not make it wait for a full bucket. */
static void test_charge_over_half(void **state)
{
    (void) state;
    broker_ratelimit_t *limits = broker_ratelimit_new(10, 20); /* 10/s, burst 20: half 10 */
    bool episode = false;
    /* A DIRECTORY request, then a PREPARE of 50 at once: 19 held, it goes (was: refused, not
     * full). */
    const char *p = "THA.RTP.fp1";
    assert_true(broker_ratelimit_take(limits, p, 0, &episode));
    assert_true(broker_ratelimit_take(limits, p, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, p, 0, 50, &episode)); /* 19 -> -31 */
    assert_false(broker_ratelimit_take(limits, p, 3000, &episode));   /* -1 after 3 s */
    /* The boundary: exactly half the burst held goes. */
    const char *q = "THA.RTP.fp2";
    assert_true(broker_ratelimit_take(limits, q, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, q, 0, 10, &episode)); /* 20 -> 10 */
    assert_true(broker_ratelimit_take(limits, q, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, q, 0, 11, &episode)); /* 10 -> -1 */
    assert_false(episode);
    assert_false(broker_ratelimit_take(limits, q, 0, &episode));
    /* One token less is refused, and the bucket keeps only the frame's own token taken. */
    const char *r = "THA.RTP.fp3";
    assert_true(broker_ratelimit_take(limits, r, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, r, 0, 11, &episode)); /* 20 -> 9 */
    assert_true(broker_ratelimit_take(limits, r, 0, &episode));
    assert_false(broker_ratelimit_charge(limits, r, 0, 11, &episode)); /* 9 < 10: refused */
    assert_true(episode);
    /* A cost up to half the burst still needs all of it: 8 held (the refused frame took its
     * token), 9 is refused; then 7 held, 7 goes. */
    assert_true(broker_ratelimit_take(limits, r, 0, &episode));
    assert_false(broker_ratelimit_charge(limits, r, 0, 9, &episode)); /* 8 < 9 */
    assert_true(broker_ratelimit_take(limits, r, 0, &episode));
    assert_true(broker_ratelimit_charge(limits, r, 0, 7, &episode)); /* 7 -> 0 */
    assert_false(broker_ratelimit_take(limits, r, 0, &episode));
    /* Half the burst again after 1 s: it goes. */
    assert_true(broker_ratelimit_take(limits, r, 1000, &episode));
    assert_true(broker_ratelimit_charge(limits, r, 1000, 30, &episode)); /* 10 -> -20 */
    broker_ratelimit_destroy(&limits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_reports_and_episodes),
        cmocka_unit_test(test_charge_by_cost),
        cmocka_unit_test(test_charge_over_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
