/* Token buckets per principal (see ratelimit.h). */
#include "ratelimit.h"

#include <czmq.h>

#include "fusion/util.h"

struct broker_ratelimit {
    double rate;     /* tokens per millisecond */
    double burst;    /* the most tokens a bucket holds */
    zhashx_t *by_id; /* principal -> bucket_t */
};

typedef struct {
    double tokens;
    int64_t filled_at; /* ms: tokens were right at this time */
    bool limited;      /* in an episode: refused since the last report, or the one before */
    size_t refused;    /* refusals not reported yet */
} bucket_t;

static void s_bucket_free(void **item)
{
    free(*item);
    *item = NULL;
}

broker_ratelimit_t *broker_ratelimit_new(double rate, double burst)
{
    broker_ratelimit_t *self = fx_calloc(1, sizeof *self);
    self->rate = rate / 1000.0;
    self->burst = burst;
    self->by_id = zhashx_new();
    zhashx_set_destructor(self->by_id, s_bucket_free);
    return self;
}

void broker_ratelimit_destroy(broker_ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->by_id);
    free(*self_p);
    *self_p = NULL;
}

/* Brings a bucket's tokens up to now_ms (a clock that went back adds nothing). */
static void s_fill(const broker_ratelimit_t *self, bucket_t *bucket, int64_t now_ms)
{
    if (now_ms > bucket->filled_at) {
        bucket->tokens += (double) (now_ms - bucket->filled_at) * self->rate;
        if (bucket->tokens > self->burst)
            bucket->tokens = self->burst;
    }
    bucket->filled_at = now_ms;
}

/* The principal's bucket, filled up to now_ms (a new one is full). */
static bucket_t *s_bucket(broker_ratelimit_t *self, const char *principal, int64_t now_ms)
{
    bucket_t *bucket = zhashx_lookup(self->by_id, principal);
    if (!bucket) {
        bucket = fx_calloc(1, sizeof *bucket);
        bucket->tokens = self->burst;
        bucket->filled_at = now_ms;
        zhashx_insert(self->by_id, principal, bucket);
    }
    s_fill(self, bucket, now_ms);
    return bucket;
}

/* A refusal: the first of an episode sets *episode_p, the others are counted for the report. */
static bool s_refuse(bucket_t *bucket, bool *episode_p)
{
    if (!bucket->limited) {
        bucket->limited = true;
        *episode_p = true;
    } else {
        bucket->refused++;
    }
    return false;
}

bool broker_ratelimit_take(broker_ratelimit_t *self, const char *principal, int64_t now_ms,
                           bool *episode_p)
{
    *episode_p = false;
    bucket_t *bucket = s_bucket(self, principal, now_ms);
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return true;
    }
    return s_refuse(bucket, episode_p);
}

bool broker_ratelimit_charge(broker_ratelimit_t *self, const char *principal, int64_t now_ms,
                             double cost, bool *episode_p)
{
    *episode_p = false;
    if (cost <= 1.0)
        return true; /* the frame's own token paid for it */
    bucket_t *bucket = s_bucket(self, principal, now_ms);
    bucket->tokens += 1.0; /* the token the frame took is part of its cost */
    /* A cost up to half the burst goes when the bucket holds it. A larger one goes when the
     * bucket holds at least half the burst, and leaves it in debt, which the rate pays back
     * before anything else goes: a cost over the burst could never wait for that many tokens,
     * and asking for a full bucket made it depend on timing, as a client sends frames of its own
     * just before (an agent's DIRECTORY request before each PREPARE, its PREPARE before its
     * PUBLISH), each a token the rate has not given back yet. Half the burst tolerates any few
     * of them. It changes nothing of the principal's share in the long run (a debt is paid at
     * the rate, and nothing goes while there is one); what it can take at once is half the burst
     * and then one such frame's cost. */
    double half = self->burst / 2.0;
    double need = cost < half ? cost : half;
    if (bucket->tokens >= need) {
        bucket->tokens -= cost;
        return true;
    }
    bucket->tokens -= 1.0; /* refused, the frame still took its token */
    return s_refuse(bucket, episode_p);
}

void broker_ratelimit_report(broker_ratelimit_t *self, int64_t now_ms, broker_ratelimit_fn *fn,
                             void *arg)
{
    zlistx_t *full = zlistx_new();
    for (bucket_t *b = zhashx_first(self->by_id); b; b = zhashx_next(self->by_id)) {
        const char *principal = zhashx_cursor(self->by_id);
        if (b->refused > 0)
            fn(principal, b->refused, arg);
        else
            b->limited = false; /* a quiet interval ends the episode */
        b->refused = 0;
        s_fill(self, b, now_ms);
        if (!b->limited && b->tokens >= self->burst)
            zlistx_add_end(full, (void *) principal);
    }
    for (const char *p = zlistx_first(full); p; p = zlistx_next(full))
        zhashx_delete(self->by_id, p);
    zlistx_destroy(&full);
}
