/* The broker's figures for operators: counters the server bumps as it works, gauges read when
 * asked, and a small HTTP endpoint on a loopback port that serves them in the Prometheus text
 * format (GET /metrics). fusion-admin status reads the same page. */
#ifndef FUSION_BROKER_METRICS_H
#define FUSION_BROKER_METRICS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define METRICS_CODES_MAX 32 /* distinct rejection codes counted; more go to "other" */
#define METRICS_BUCKETS   12 /* latency histogram upper bounds, +Inf excluded */

/* Counters: bumped by the server on its own thread, never reset while it runs. */
typedef struct {
    uint64_t published; /* PUBLISH frames handled */
    uint64_t accepted;  /* ACCEPTED after the commit */
    uint64_t replayed;  /* a msg_id's first answer given again to its sender */
    struct {
        char code[32];
        uint64_t count;
    } rejected[METRICS_CODES_MAX];
    size_t rejected_codes;
    uint64_t delivered;   /* DELIVER frames sent */
    uint64_t received;    /* RECEIVED acknowledgements */
    uint64_t escalations; /* referral escalation notices */
    uint64_t reloads, reloads_refused;
    uint64_t auth_refused;   /* refused handshakes and frames */
    uint64_t frames_refused; /* from principals: undecodable, multi-part, a body not for agents */
    uint64_t slow_frames;    /* frames whose handler took more than limits.slow_frame */
    uint64_t storage_errors; /* failed writes, commits or fsyncs */
    /* PUBLISH received -> ACCEPTED/REJECTED sent, in seconds (cumulative buckets at render). */
    uint64_t latency[METRICS_BUCKETS + 1];
    uint64_t latency_count;
    double latency_sum;
} metrics_t;

/* Gauges, filled by the server when a page is asked for. */
typedef struct {
    int64_t connected;          /* principals with a session */
    int64_t pending;            /* deliveries not acknowledged yet */
    int64_t oldest_pending_age; /* ms; 0 when nothing is pending */
    int64_t stored_messages;
    int64_t audit_entries;
    int64_t wal_checkpoints, wal_checkpoint_failures;
    bool storage_failed;
} metrics_gauges_t;

typedef void(metrics_gauges_fn)(void *arg, metrics_gauges_t *gauges);

/* Counts a rejection by its code. */
void metrics_rejected(metrics_t *self, const char *code);
/* Counts one PUBLISH answer's latency in microseconds. */
void metrics_latency(metrics_t *self, int64_t us);

/* The page in the Prometheus text format (caller frees). */
char *metrics_render(const metrics_t *self, const metrics_gauges_t *gauges);

/* An HTTP endpoint serving metrics_render on a loopback address. */
typedef struct metrics_http metrics_http_t;

/* Checks that address is HOST:PORT with a loopback host (127.0.0.0/8, ::1 in brackets, or
 * localhost) and a port 0..65535. NULL if it is, else what is wrong (a static string). */
const char *metrics_address_problem(const char *address);

/* Binds address and serves GET /metrics on loop, reading counters from metrics and gauges
 * through fn. *bound receives "HOST:PORT" as bound (port 0 picks one). NULL on failure, with
 * the reason in error and errno (EADDRINUSE: another process holds the address). */
metrics_http_t *metrics_http_new(zloop_t *loop, const char *address, const metrics_t *metrics,
                                 metrics_gauges_fn *fn, void *arg, char *bound, size_t bound_size,
                                 char *error, size_t error_size);
void metrics_http_destroy(metrics_http_t **self_p);

#endif
