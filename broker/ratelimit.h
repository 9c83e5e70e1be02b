/* Per-principal rate limiting: a token bucket for each authenticated principal, filled at
 * `rate` tokens per second up to `burst`. Every frame a principal sends, apart from the flow
 * control that answers the broker's own deliveries (CREDIT, RECEIVED), takes one token; a frame
 * that finds none is refused with rate_limited. A frame whose work grows with what it asks
 * (EXPLAIN, PREPARE, PUBLISH) is then charged the rest of its cost by its handler. Refusals are
 * reported per episode, so a flood costs one log line and one audit entry when it starts and at
 * most one per report after. */
#ifndef FUSION_BROKER_RATELIMIT_H
#define FUSION_BROKER_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct broker_ratelimit broker_ratelimit_t;

/* A limiter of rate tokens per second and bursts of burst tokens (both > 0). */
broker_ratelimit_t *broker_ratelimit_new(double rate, double burst);

/* Frees the limiter and sets *self_p to NULL. Accepts NULL. */
void broker_ratelimit_destroy(broker_ratelimit_t **self_p);

/* Takes one token of principal's bucket at now_ms: true if the frame may go on. On a refusal,
 * *episode_p is set when it is the first since the principal was last within its limit (the
 * caller logs and audits that one). */
bool broker_ratelimit_take(broker_ratelimit_t *self, const char *principal, int64_t now_ms,
                           bool *episode_p);

/* Charges a frame that took its one token (broker_ratelimit_take) the rest of its cost, in
 * tokens, once its handler knows it (an EXPLAIN, PREPARE or PUBLISH by the decisions it will
 * make): true if the bucket holds cost tokens, the frame's own included. A cost over half the
 * burst goes when the bucket holds half the burst and leaves it in debt (so the client's own
 * frames just before it do not make it wait for a full bucket). A refusal leaves the bucket as
 * broker_ratelimit_take's refusal does (the frame's one token taken, nothing more) and sets
 * *episode_p the same way. */
bool broker_ratelimit_charge(broker_ratelimit_t *self, const char *principal, int64_t now_ms,
                             double cost, bool *episode_p);

/* Called by broker_ratelimit_report for each principal refused since the last report. */
typedef void(broker_ratelimit_fn)(const char *principal, size_t refused, void *arg);

/* Reports the refusals since the last report (the first of each episode excluded: it was
 * reported at once), and ends the episodes of principals refused nothing since then. Buckets
 * that are full again are forgotten, so memory follows the principals that are active. */
void broker_ratelimit_report(broker_ratelimit_t *self, int64_t now_ms, broker_ratelimit_fn *fn,
                             void *arg);

#endif
