/* Metrics: counters, the Prometheus text page, and a minimal HTTP/1.0 server on the broker's
 * own loop. The server takes only loopback connections' requests of at most 4 KiB, answers
 * each one and closes it; at most METRICS_CONNS are open at once. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fusion/util.h"

#define METRICS_CONNS    8
#define METRICS_REQ_MAX  4096
#define METRICS_REQ_WAIT 5000 /* ms a connection may take to send its request */

/* Upper bounds of the latency buckets, seconds. */
static const double s_bounds[METRICS_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                 0.05,   0.1,   0.25,  0.5,   1.0,  2.5};

void metrics_rejected(metrics_t *self, const char *code)
{
    size_t i;
    for (i = 0; i < self->rejected_codes; i++)
        if (strcmp(self->rejected[i].code, code) == 0)
            break;
    if (i == self->rejected_codes) {
        if (i == METRICS_CODES_MAX)
            i--; /* the last slot collects the rest */
        else
            self->rejected_codes++;
        snprintf(self->rejected[i].code, sizeof self->rejected[i].code, "%s",
                 i == METRICS_CODES_MAX - 1 ? "other" : code);
    }
    self->rejected[i].count++;
}

void metrics_latency(metrics_t *self, int64_t us)
{
    double seconds = us < 0 ? 0 : (double) us / 1e6;
    size_t b = 0;
    while (b < METRICS_BUCKETS && seconds > s_bounds[b])
        b++;
    self->latency[b]++;
    self->latency_count++;
    self->latency_sum += seconds;
}

/* A growing text buffer. */
typedef struct {
    char *data;
    size_t len, size;
} text_t;

static void s_add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_add(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(t->data + t->len, t->size - t->len, fmt, args);
        va_end(args);
        if (n >= 0 && (size_t) n < t->size - t->len) {
            t->len += (size_t) n;
            return;
        }
        t->size = t->size * 2 + (n > 0 ? (size_t) n : 0);
        t->data = fx_realloc(t->data, t->size);
    }
}

static void s_metric(text_t *t, const char *name, const char *type, const char *help)
{
    s_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(const metrics_t *self, const metrics_gauges_t *g)
{
    text_t t = {fx_malloc(4096), 0, 4096};
    s_metric(&t, "fusion_build_info", "gauge", "The broker's version.");
    s_add(&t, "fusion_build_info{version=\"%s\"} 1\n", FX_VERSION);
    s_metric(&t, "fusion_messages_published_total", "counter", "PUBLISH frames handled.");
    s_add(&t, "fusion_messages_published_total %llu\n", (unsigned long long) self->published);
    s_metric(&t, "fusion_messages_accepted_total", "counter",
             "Messages accepted (ACCEPTED sent after the commit).");
    s_add(&t, "fusion_messages_accepted_total %llu\n", (unsigned long long) self->accepted);
    s_metric(&t, "fusion_messages_replayed_total", "counter",
             "PUBLISH of a msg_id answered before: its sender got the first answer again, "
             "counted here only.");
    s_add(&t, "fusion_messages_replayed_total %llu\n", (unsigned long long) self->replayed);
    s_metric(&t, "fusion_messages_rejected_total", "counter", "Messages rejected, by code.");
    for (size_t i = 0; i < self->rejected_codes; i++)
        s_add(&t, "fusion_messages_rejected_total{code=\"%s\"} %llu\n", self->rejected[i].code,
              (unsigned long long) self->rejected[i].count);
    s_metric(&t, "fusion_deliveries_total", "counter", "DELIVER frames sent to recipients.");
    s_add(&t, "fusion_deliveries_total %llu\n", (unsigned long long) self->delivered);
    s_metric(&t, "fusion_deliveries_acknowledged_total", "counter",
             "Deliveries acknowledged by their recipient (RECEIVED).");
    s_add(&t, "fusion_deliveries_acknowledged_total %llu\n", (unsigned long long) self->received);
    s_metric(&t, "fusion_deliveries_pending", "gauge", "Deliveries not acknowledged yet.");
    s_add(&t, "fusion_deliveries_pending %lld\n", (long long) g->pending);
    s_metric(&t, "fusion_deliveries_oldest_pending_seconds", "gauge",
             "Age of the oldest delivery not acknowledged yet (0: none).");
    s_add(&t, "fusion_deliveries_oldest_pending_seconds %.3f\n",
          (double) g->oldest_pending_age / 1000.0);
    s_metric(&t, "fusion_referral_escalations_total", "counter",
             "Referrals escalated for missing their deadline.");
    s_add(&t, "fusion_referral_escalations_total %llu\n", (unsigned long long) self->escalations);
    s_metric(&t, "fusion_policy_reloads_total", "counter",
             "Reloads of the policy and directory, by result.");
    s_add(&t, "fusion_policy_reloads_total{result=\"loaded\"} %llu\n",
          (unsigned long long) self->reloads);
    s_add(&t, "fusion_policy_reloads_total{result=\"refused\"} %llu\n",
          (unsigned long long) self->reloads_refused);
    s_metric(&t, "fusion_publish_latency_seconds", "histogram",
             "From a PUBLISH received to its ACCEPTED or REJECTED sent.");
    uint64_t cumulative = 0;
    for (size_t b = 0; b < METRICS_BUCKETS; b++) {
        cumulative += self->latency[b];
        s_add(&t, "fusion_publish_latency_seconds_bucket{le=\"%g\"} %llu\n", s_bounds[b],
              (unsigned long long) cumulative);
    }
    s_add(&t, "fusion_publish_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
          (unsigned long long) self->latency_count);
    s_add(&t, "fusion_publish_latency_seconds_sum %.6f\n", self->latency_sum);
    s_add(&t, "fusion_publish_latency_seconds_count %llu\n",
          (unsigned long long) self->latency_count);
    s_metric(&t, "fusion_principals_connected", "gauge",
             "Principals connected: heard from within the heartbeat timeout (a listening agent "
             "always).");
    s_add(&t, "fusion_principals_connected %lld\n", (long long) g->connected);
    s_metric(&t, "fusion_auth_refused_total", "counter",
             "Refused CURVE handshakes and frames from unknown or revoked principals.");
    s_add(&t, "fusion_auth_refused_total %llu\n", (unsigned long long) self->auth_refused);
    s_metric(&t, "fusion_frames_refused_total", "counter",
             "Frames of authenticated principals refused unread: not decoding, of more than one "
             "part, or a body the broker does not take from agents.");
    s_add(&t, "fusion_frames_refused_total %llu\n", (unsigned long long) self->frames_refused);
    s_metric(&t, "fusion_slow_frames_total", "counter",
             "Frames whose handler held the broker's thread longer than limits.slow_frame.");
    s_add(&t, "fusion_slow_frames_total %llu\n", (unsigned long long) self->slow_frames);
    s_metric(&t, "fusion_storage_errors_total", "counter", "Failed writes, commits or fsyncs.");
    s_add(&t, "fusion_storage_errors_total %llu\n", (unsigned long long) self->storage_errors);
    s_metric(&t, "fusion_storage_failed", "gauge",
             "1 when the store failed and the broker no longer accepts messages.");
    s_add(&t, "fusion_storage_failed %d\n", g->storage_failed ? 1 : 0);
    s_metric(&t, "fusion_messages_stored", "gauge", "Messages in the store (not yet expired).");
    s_add(&t, "fusion_messages_stored %lld\n", (long long) g->stored_messages);
    s_metric(&t, "fusion_audit_entries", "gauge", "Entries in the audit trail.");
    s_add(&t, "fusion_audit_entries %lld\n", (long long) g->audit_entries);
    s_metric(&t, "fusion_wal_checkpoints_total", "counter",
             "Checkpoints of the store's write-ahead log by its checkpointer thread.");
    s_add(&t, "fusion_wal_checkpoints_total %lld\n", (long long) g->wal_checkpoints);
    s_metric(&t, "fusion_wal_checkpoint_failures_total", "counter",
             "Of those, failed ones (retried; the log keeps every committed frame).");
    s_add(&t, "fusion_wal_checkpoint_failures_total %lld\n",
          (long long) g->wal_checkpoint_failures);
    return t.data;
}

/* ---- The HTTP endpoint ------------------------------------------------------------------- */

typedef struct {
    int fd; /* -1: free */
    int64_t opened;
    size_t len;
    char request[METRICS_REQ_MAX + 1];
} conn_t;

struct metrics_http {
    zloop_t *loop;
    int fd;
    int timer;
    const metrics_t *metrics;
    metrics_gauges_fn *gauges;
    void *arg;
    conn_t conns[METRICS_CONNS];
};

static void s_close(metrics_http_t *self, conn_t *c)
{
    zmq_pollitem_t item = {NULL, c->fd, ZMQ_POLLIN, 0};
    zloop_poller_end(self->loop, &item);
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void s_reply(conn_t *c, const char *status, const char *type, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));
    /* Small pages on loopback: the socket buffer takes them whole; a peer that does not read
     * loses the rest when the connection closes. */
    if (send(c->fd, head, (size_t) n, MSG_NOSIGNAL) == n)
        (void) !send(c->fd, body, strlen(body), MSG_NOSIGNAL);
}

static void s_answer(metrics_http_t *self, conn_t *c)
{
    char method[8] = "", path[64] = "";
    if (sscanf(c->request, "%7s %63s", method, path) != 2) {
        s_reply(c, "400 Bad Request", "text/plain", "malformed request\n");
    } else if (strcmp(method, "GET") != 0) {
        s_reply(c, "405 Method Not Allowed", "text/plain", "only GET\n");
    } else if (strcmp(path, "/metrics") == 0) {
        metrics_gauges_t gauges = {0};
        self->gauges(self->arg, &gauges);
        char *page = metrics_render(self->metrics, &gauges);
        s_reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", page);
        free(page);
    } else {
        s_reply(c, "404 Not Found", "text/plain", "the broker's metrics are at /metrics\n");
    }
}

static int s_on_conn(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    metrics_http_t *self = arg;
    conn_t *c = NULL;
    for (size_t i = 0; i < METRICS_CONNS && !c; i++)
        if (self->conns[i].fd == item->fd)
            c = &self->conns[i];
    if (!c)
        return 0;
    ssize_t n = recv(c->fd, c->request + c->len, METRICS_REQ_MAX - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        s_close(self, c);
        return 0;
    }
    c->len += (size_t) n;
    c->request[c->len] = '\0';
    if (strstr(c->request, "\r\n\r\n") || strstr(c->request, "\n\n")) {
        s_answer(self, c);
        s_close(self, c);
    } else if (c->len == METRICS_REQ_MAX) {
        s_reply(c, "431 Request Header Fields Too Large", "text/plain", "request too large\n");
        s_close(self, c);
    }
    return 0;
}

static int s_on_accept(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    metrics_http_t *self = arg;
    int fd = accept4(item->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    conn_t *c = NULL, *oldest = &self->conns[0];
    for (size_t i = 0; i < METRICS_CONNS && !c; i++) {
        if (self->conns[i].fd < 0)
            c = &self->conns[i];
        else if (self->conns[i].opened < oldest->opened)
            oldest = &self->conns[i];
    }
    if (!c) { /* full: the slowest requester goes */
        s_close(self, oldest);
        c = oldest;
    }
    c->fd = fd;
    c->opened = fx_now_ms();
    c->len = 0;
    zmq_pollitem_t conn_item = {NULL, fd, ZMQ_POLLIN, 0};
    if (zloop_poller(loop, &conn_item, s_on_conn, self) != 0) {
        close(fd);
        c->fd = -1;
    }
    return 0;
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    metrics_http_t *self = arg;
    int64_t now = fx_now_ms();
    for (size_t i = 0; i < METRICS_CONNS; i++)
        if (self->conns[i].fd >= 0 && now - self->conns[i].opened > METRICS_REQ_WAIT)
            s_close(self, &self->conns[i]);
    return 0;
}

/* Splits HOST:PORT ([::1]:PORT for IPv6) into an address. NULL or the problem. */
static const char *s_parse(const char *address, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address || !colon[1] ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return "must be HOST:PORT, e.g. 127.0.0.1:9464";
    long port = strtol(colon + 1, NULL, 10);
    size_t hlen = (size_t) (colon - address);
    if (port > 65535 || strlen(colon + 1) > 5)
        return "the port must be 0 to 65535";
    if (hlen >= sizeof host)
        return "the host is too long";
    memcpy(host, address, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
            return "not a loopback address (they are served on 127.0.0.1, [::1] or localhost "
                   "only)";
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) port);
        *len = sizeof *v4;
        return NULL;
    }
    if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
            if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
                return "not a loopback address (they are served on 127.0.0.1, [::1] or localhost "
                       "only)";
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons((uint16_t) port);
            *len = sizeof *v6;
            return NULL;
        }
    }
    return "the host must be a loopback address: 127.0.0.1, [::1] or localhost";
}

const char *metrics_address_problem(const char *address)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return s_parse(address, &ss, &len);
}

metrics_http_t *metrics_http_new(zloop_t *loop, const char *address, const metrics_t *metrics,
                                 metrics_gauges_fn *fn, void *arg, char *bound, size_t bound_size,
                                 char *error, size_t error_size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *problem = s_parse(address, &ss, &len);
    if (problem) {
        snprintf(error, error_size, "metrics address %s: %s", address, problem);
        errno = EINVAL;
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *) &ss, len) != 0 || listen(fd, 16) != 0) {
        int err = errno; /* the caller tells an address in use from the others */
        snprintf(error, error_size, "cannot listen for metrics on %s: %s", address, strerror(err));
        if (fd >= 0)
            close(fd);
        errno = err;
        return NULL;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *) &ss, &len);
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, host, sizeof host);
        snprintf(bound, bound_size, "%s:%u", host, ntohs(((struct sockaddr_in *) &ss)->sin_port));
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, host, sizeof host);
        snprintf(bound, bound_size, "[%s]:%u", host,
                 ntohs(((struct sockaddr_in6 *) &ss)->sin6_port));
    }
    metrics_http_t *self = fx_calloc(1, sizeof *self);
    self->loop = loop;
    self->fd = fd;
    self->metrics = metrics;
    self->gauges = fn;
    self->arg = arg;
    for (size_t i = 0; i < METRICS_CONNS; i++)
        self->conns[i].fd = -1;
    zmq_pollitem_t item = {NULL, fd, ZMQ_POLLIN, 0};
    zloop_poller(loop, &item, s_on_accept, self);
    self->timer = zloop_timer(loop, 1000, 0, s_on_timer, self);
    return self;
}

void metrics_http_destroy(metrics_http_t **self_p)
{
    metrics_http_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < METRICS_CONNS; i++)
        if (self->conns[i].fd >= 0)
            s_close(self, &self->conns[i]);
    zmq_pollitem_t item = {NULL, self->fd, ZMQ_POLLIN, 0};
    zloop_poller_end(self->loop, &item);
    zloop_timer_end(self->loop, self->timer);
    close(self->fd);
    free(self);
    *self_p = NULL;
}
