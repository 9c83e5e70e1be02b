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

bool broker_ratelimit_take(broker_ratelimit_t *self, const char *principal, int64_t now_ms,
                           bool *episode_p)
{
    *episode_p = false;
    bucket_t *bucket = zhashx_lookup(self->by_id, principal);
    if (!bucket) {
        bucket = fx_calloc(1, sizeof *bucket);
        bucket->tokens = self->burst;
        bucket->filled_at = now_ms;
        zhashx_insert(self->by_id, principal, bucket);
    }
    s_fill(self, bucket, now_ms);
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return true;
    }
    if (!bucket->limited) {
        bucket->limited = true;
        *episode_p = true;
    } else {
        bucket->refused++;
    }
    return false;
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
