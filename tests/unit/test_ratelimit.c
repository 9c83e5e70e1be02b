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
 * an episode as any refusal does; a cost over the burst goes only from a full bucket and leaves
 * it in debt, which the rate pays back before any frame goes again. */
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
    /* Over the burst: refused until the bucket is full, then it goes, into debt. */
    assert_true(broker_ratelimit_take(limits, p, 1000, &episode)); /* 10 tokens */
    assert_false(broker_ratelimit_charge(limits, p, 1000, 50, &episode));
    assert_true(broker_ratelimit_take(limits, p, 5000, &episode));       /* full: 20 */
    assert_true(broker_ratelimit_charge(limits, p, 5000, 50, &episode)); /* 20 - 50 = -30 */
    assert_false(broker_ratelimit_take(limits, p, 7000, &episode));      /* -10 after 2 s */
    assert_true(broker_ratelimit_take(limits, p, 8100, &episode));       /* 1 after 3.1 s */
    broker_ratelimit_destroy(&limits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_reports_and_episodes),
        cmocka_unit_test(test_charge_by_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
