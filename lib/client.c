/* The agent's client connection: a CZMQ DEALER with CURVE (the broker's key from its verified
 * certificate), heartbeats and reconnects, request/answer matching by request_id, a bounded queue
 * of DELIVERs, the periodic CREDIT window, and strict checks on everything the broker sends. */
#include "fusion/client.h"

#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fusion/vocab.h"
#include "fusion/route.h"

#define POLL_SLICE_MS 100 /* longest single wait, so timers and reconnects are noticed */
#define MAX_DENIALS   FX_DIRECTORY_MAX_CERTS
#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |                    \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)

struct fx_client {
    zsock_t *sock;
    zsock_t *monitor; /* PAIR receiving the DEALER's transport events */
    char *endpoint;
    const fx_keys_t *keys;
    uint64_t next_request_id;
    uint64_t connections;         /* CURVE handshakes that succeeded */
    uint64_t drops;               /* connections that ended */
    uint64_t connections_at_drop; /* connections when the latest one ended */
    int handshaking;              /* TCP connected, handshake not finished */
    int handshake_failed;         /* the last connection failed in the handshake */
    int key_refused;              /* ... because ZAP refused this principal's key */
    size_t max_frame;             /* the largest frame the broker takes, as it said; 0: unknown */
    char status[320];
    int window_set;
    uint32_t window;
    int64_t next_credit_at; /* monotonic ms */
    Fusion__Frame *queue[FX_CLIENT_MAX_QUEUED];
    size_t queue_head, queue_count;
    Fusion__Frame *checkpoint; /* the latest CHECKPOINT the broker pushed (auditors), or NULL */
};

typedef struct {
    uint32_t id;
    fx_cert_t **allowed;
    size_t n_allowed;
    fx_denial_t *denied;
    size_t n_denied;
} prepared_section_t;

struct fx_prepared {
    prepared_section_t *sections;
    size_t count;
    char **strings; /* every string the denials point to */
    size_t n_strings, cap_strings;
};

struct fx_delivery {
    Fusion__Frame *frame; /* the DELIVER as decoded */
    fx_envelope_t *envelope;
    uint8_t *cert_bytes; /* the sender's Certificate, encoded once */
    size_t cert_len;
    fx_cert_t *sender;
    int expired_since;
};

/* ---- Helpers -------------------------------------------------------------------------------- */

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies untrusted text for display: printable ASCII kept, anything else as '?', cut to size. */
static void s_copy_shown(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (; text && text[n] && n + 1 < size; n++) {
        unsigned char c = (unsigned char) text[n];
        out[n] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    out[n] = '\0';
}

static char *s_dup_shown(const char *text, size_t max)
{
    size_t len = text ? strnlen(text, max) : 0;
    char *copy = fx_malloc(len + 1);
    s_copy_shown(copy, len + 1, text ? text : "");
    return copy;
}

/* The fx_err_t of a code the broker answered; policy decisions and unknown codes are
 * FX_ERR_FORBIDDEN. */
static fx_err_t s_err_from_code(const char *code)
{
    for (int e = FX_OK + 1; e < FX_ERR_COUNT_; e++)
        if (code && strcmp(fx_err_code((fx_err_t) e), code) == 0)
            return (fx_err_t) e;
    return FX_ERR_FORBIDDEN;
}

static void s_answer_clear(fx_answer_t *answer)
{
    if (answer)
        memset(answer, 0, sizeof *answer);
}

static fx_err_t s_refused(fx_answer_t *answer, const char *code, const char *rule,
                          const char *reason)
{
    if (answer) {
        answer->refused = 1;
        s_copy_shown(answer->code, sizeof answer->code, code);
        s_copy_shown(answer->rule, sizeof answer->rule, rule);
        s_copy_shown(answer->reason, sizeof answer->reason, reason);
    }
    return s_err_from_code(code);
}

static int s_valid_endpoint(const char *endpoint)
{
    if (!endpoint || strlen(endpoint) > 256)
        return 0;
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr(endpoint + 6, ':');
        return colon && colon > endpoint + 6 && colon[1] != '\0' &&
               strspn(colon + 1, "0123456789") == strlen(colon + 1);
    }
    return strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '\0';
}

/* ---- Construction --------------------------------------------------------------------------- */

fx_err_t fx_broker_cert_load(const char *path, const uint8_t authority_key[FX_KEY_BYTES],
                             int64_t now_ms, fx_cert_t **cert_p)
{
    *cert_p = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, FX_MAX_CERT_BYTES, &data, &len);
    if (rc == FX_OK)
        rc = fx_cert_verify(data, len, authority_key, now_ms, cert_p);
    free(data);
    return rc;
}

fx_err_t fx_client_new(const char *endpoint, const fx_keys_t *keys, const fx_cert_t *broker_cert,
                       fx_client_t **client_p)
{
    *client_p = NULL;
    if (!s_valid_endpoint(endpoint) || !keys || !broker_cert)
        return FX_ERR_INVALID;
    fx_client_t *self = fx_calloc(1, sizeof *self);
    self->endpoint = fx_strdup(endpoint);
    self->keys = keys;
    self->next_request_id = 1;
    snprintf(self->status, sizeof self->status, "no connection to %s yet", endpoint);
    fx_err_t rc = FX_ERR_IO;

    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->sock)
        goto cleanup;
    /* The secret key goes straight into libzmq's own memory; no zcert copy lingers here. */
    zsock_set_curve_publickey_bin(self->sock, fx_keys_curve_public(keys));
    zsock_set_curve_secretkey_bin(self->sock, fx_keys_curve_secret(keys));
    zsock_set_curve_serverkey_bin(self->sock, fx_cert_curve_key(broker_cert));
    /* The PINGs find out that the broker is gone. They carry no time to live: the broker finds
     * out that an agent is gone with its own PINGs, and a TTL would make it start and cancel a
     * timer for every PING of every agent, where libzmq 4.3 cancels a timer by scanning every
     * timer of its I/O thread (idle broker with 1,000 agents: 55.5 -> 33.7 ms of CPU a second;
     * docs/performance.md). */
    zsock_set_heartbeat_ivl(self->sock, FX_CLIENT_HEARTBEAT_IVL_MS);
    zsock_set_heartbeat_timeout(self->sock, FX_CLIENT_HEARTBEAT_TIMEOUT_MS);
    zsock_set_reconnect_ivl(self->sock, FX_CLIENT_RECONNECT_IVL_MS);
    zsock_set_reconnect_ivl_max(self->sock, FX_CLIENT_RECONNECT_MAX_MS);
    zsock_set_linger(self->sock, FX_CLIENT_LINGER_MS);
    /* libzmq caps the frame as CURVE carries it (FX_CURVE_FRAME_OVERHEAD longer): so every frame
     * the codec takes gets through, and none larger (s_read_frame drops those). */
    zsock_set_maxmsgsize(self->sock, (int64_t) FX_MAX_FRAME_BYTES + FX_CURVE_FRAME_OVERHEAD);
    /* Queue nothing for a connection that is not up: a request either reaches a broker that
     * completed the handshake or waits here, where its timeout can see it. */
    zsock_set_immediate(self->sock, 1);

    /* A name never used before in this process: libzmq frees a stopped monitor's inproc name
     * only when its reaper thread has closed that socket, so a client made where a destroyed one
     * was (the same address) could find the name still taken (EADDRINUSE). */
    static atomic_ullong monitors;
    char monitor_endpoint[64];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://fx-client-monitor-%llu-%p",
             (unsigned long long) atomic_fetch_add(&monitors, 1), (void *) self);
    if (zmq_socket_monitor(zsock_resolve(self->sock), monitor_endpoint, MONITOR_EVENTS) != 0)
        goto cleanup;
    self->monitor = zsock_new(ZMQ_PAIR);
    if (!self->monitor || zsock_connect(self->monitor, "%s", monitor_endpoint) != 0)
        goto cleanup;
    if (zsock_connect(self->sock, "%s", endpoint) != 0) {
        rc = FX_ERR_INVALID;
        goto cleanup;
    }
    *client_p = self;
    return FX_OK;
cleanup:
    fx_client_destroy(&self);
    return rc;
}

void fx_client_destroy(fx_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_client_t *self = *self_p;
    if (self->sock)
        zmq_socket_monitor(zsock_resolve(self->sock), NULL, 0);
    zsock_destroy(&self->monitor);
    zsock_destroy(&self->sock);
    for (size_t i = 0; i < self->queue_count; i++)
        fx_codec_free(self->queue[(self->queue_head + i) % FX_CLIENT_MAX_QUEUED]);
    fx_codec_free(self->checkpoint);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

int fx_client_interrupted(void)
{
    return zsys_interrupted != 0;
}

const char *fx_client_status(const fx_client_t *self)
{
    return self->status;
}

int fx_client_key_refused(const fx_client_t *self)
{
    return self->key_refused;
}

uint64_t fx_client_connections(const fx_client_t *self)
{
    return self->connections;
}

/* ---- The transport loop ------------------------------------------------------------------- */

static void s_on_event(fx_client_t *self, uint16_t event, uint32_t value)
{
    const char *ep = self->endpoint;
    switch (event) {
    case ZMQ_EVENT_CONNECTED:
        self->handshaking = 1;
        self->handshake_failed = 0;
        snprintf(self->status, sizeof self->status, "connected to %s, CURVE handshake not finished",
                 ep);
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        /* Also follows a handshake failure: keep the more telling status then. */
        if (!self->handshake_failed)
            snprintf(self->status, sizeof self->status,
                     "cannot connect to %s: nothing accepts connections there (retrying)", ep);
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        self->handshaking = 0;
        self->handshake_failed = 0;
        self->key_refused = 0;
        self->connections++;
        snprintf(self->status, sizeof self->status, "connected to %s", ep);
        self->next_credit_at = s_mono_ms(); /* a new connection starts with a window of 0 */
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        self->handshaking = 0;
        self->handshake_failed = 1;
        self->key_refused = 1;
        snprintf(self->status, sizeof self->status,
                 "the broker at %s refused this principal's key (status %u): it is not "
                 "enrolled, or it was revoked or has expired",
                 ep, value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        self->handshaking = 0;
        self->handshake_failed = 1;
        snprintf(self->status, sizeof self->status,
                 "the CURVE handshake with %s failed (0x%x): is broker_cert the certificate of "
                 "the broker at this endpoint?",
                 ep, value);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        self->drops++;
        self->connections_at_drop = self->connections;
        if (self->handshake_failed)
            break;
        if (self->handshaking) {
            self->handshake_failed = 1;
            snprintf(self->status, sizeof self->status,
                     "the broker at %s closed the connection during the CURVE handshake: it "
                     "does not hold the key of broker_cert, or it refused this principal",
                     ep);
        } else
            snprintf(self->status, sizeof self->status,
                     "the connection to %s dropped (reconnecting)", ep);
        self->handshaking = 0;
        break;
    default:
        break;
    }
}

static void s_read_events(fx_client_t *self)
{
    void *raw = zsock_resolve(self->monitor);
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        int well_formed = zmq_msg_size(&part) == 6;
        if (well_formed) {
            memcpy(&event, zmq_msg_data(&part), 2);
            memcpy(&value, (uint8_t *) zmq_msg_data(&part) + 2, 4);
        }
        while (zmq_msg_more(&part)) { /* the endpoint, which we know */
            zmq_msg_close(&part);
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, raw, ZMQ_DONTWAIT) < 0)
                break;
        }
        zmq_msg_close(&part);
        if (well_formed)
            s_on_event(self, event, value);
    }
}

/* Sends one frame without waiting. FX_ERR_UNAVAILABLE when no connection can take it now. */
static fx_err_t s_send_now(fx_client_t *self, const uint8_t *data, size_t len)
{
    if (zmq_send(zsock_resolve(self->sock), data, len, ZMQ_DONTWAIT) == (int) len)
        return FX_OK;
    return FX_ERR_UNAVAILABLE;
}

static fx_err_t s_send_frame_now(fx_client_t *self, Fusion__Frame *frame)
{
    frame->request_id = self->next_request_id++;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_codec_encode(frame, &data, &len);
    fx_err_t rc = s_send_now(self, data, len);
    free(data);
    return rc;
}

/* Sends the window when it is due. 1 when it was sent just now. */
static int s_credit_tick(fx_client_t *self)
{
    if (!self->window_set || s_mono_ms() < self->next_credit_at)
        return 0;
    Fusion__Credit credit = FUSION__CREDIT__INIT;
    credit.messages = self->window;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.body_case = FUSION__FRAME__BODY_CREDIT;
    frame.credit = &credit;
    int64_t now = s_mono_ms();
    if (s_send_frame_now(self, &frame) == FX_OK) {
        self->next_credit_at = now + FX_CLIENT_CREDIT_INTERVAL_MS;
        return 1;
    }
    self->next_credit_at = now + POLL_SLICE_MS; /* not connected: try again soon */
    return 0;
}

/* Waits at most one slice (and never past deadline) for events on the socket; services the
 * monitor and the credit timer. 1 when the socket is ready for events, 0 when not yet, -1 when
 * the deadline has passed or the process was interrupted (SIGINT, SIGTERM). */
static int s_poll(fx_client_t *self, short events, int64_t deadline)
{
    s_credit_tick(self);
    int64_t now = s_mono_ms();
    if (now >= deadline || zsys_interrupted)
        return -1;
    int64_t wait = deadline - now;
    if (wait > POLL_SLICE_MS)
        wait = POLL_SLICE_MS;
    zmq_pollitem_t items[2] = {
        {zsock_resolve(self->sock), 0, events, 0},
        {zsock_resolve(self->monitor), 0, ZMQ_POLLIN, 0},
    };
    int n = zmq_poll(items, 2, (long) wait);
    if (n < 0)
        return zsys_interrupted || errno != EINTR ? -1 : 0;
    if (items[1].revents & ZMQ_POLLIN)
        s_read_events(self);
    s_credit_tick(self);
    return (items[0].revents & events) ? 1 : 0;
}

/* The bodies a broker may send to an agent. */
static int s_from_broker(const Fusion__Frame *frame)
{
    switch (frame->body_case) {
    case FUSION__FRAME__BODY_PREPARED:
    case FUSION__FRAME__BODY_ACCEPTED:
    case FUSION__FRAME__BODY_REJECTED:
    case FUSION__FRAME__BODY_SUBSCRIBED:
    case FUSION__FRAME__BODY_SUBSCRIPTIONS:
    case FUSION__FRAME__BODY_DELIVER:
    case FUSION__FRAME__BODY_EXPLAINED:
    case FUSION__FRAME__BODY_DIRECTORY:
    case FUSION__FRAME__BODY_REFERRALS:
    case FUSION__FRAME__BODY_ERROR:
    case FUSION__FRAME__BODY_RECEIPT:
    case FUSION__FRAME__BODY_CONSISTENCY:
    case FUSION__FRAME__BODY_CHECKPOINT:
    case FUSION__FRAME__BODY_EXERCISE_AUDIT:
        return 1;
    default:
        return 0;
    }
}

/* Keeps the largest frame the broker takes, as the handshake of the connection part came on
 * said (FX_MAX_FRAME_PROPERTY); 0 when it did not say, or said something that is not a number of
 * bytes. */
static void s_note_max_frame(fx_client_t *self, zmq_msg_t *part)
{
    const char *text = zmq_msg_gets(part, FX_MAX_FRAME_PROPERTY);
    size_t len = text ? strlen(text) : 0;
    unsigned long long value = 0;
    if (len > 0 && len <= 10 && strspn(text, "0123456789") == len)
        value = strtoull(text, NULL, 10);
    self->max_frame = value <= UINT32_MAX ? (size_t) value : 0;
}

/* Reads one waiting message: a frame of one part that decodes and is something a broker sends,
 * or NULL (nothing waiting, or a message dropped as hostile). */
static Fusion__Frame *s_read_frame(fx_client_t *self)
{
    void *raw = zsock_resolve(self->sock);
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, raw, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        return NULL;
    }
    s_note_max_frame(self, &part);
    Fusion__Frame *frame = NULL;
    if (zmq_msg_more(&part)) {
        /* Every broker message is one part: drop the whole multi-part message. */
        do {
            zmq_msg_close(&part);
            zmq_msg_init(&part);
        } while (zmq_msg_recv(&part, raw, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&part));
    } else if (fx_codec_decode(FX_MSG_FRAME, zmq_msg_data(&part), zmq_msg_size(&part),
                               (void **) &frame) == FX_OK &&
               !s_from_broker(frame)) {
        fx_codec_free(frame);
        frame = NULL;
    }
    zmq_msg_close(&part);
    return frame;
}

/* Keeps a DELIVER for fx_client_receive; beyond the cap it is dropped (it is not acknowledged,
 * so the broker sends it again). */
static void s_enqueue(fx_client_t *self, Fusion__Frame *frame)
{
    if (self->queue_count == FX_CLIENT_MAX_QUEUED) {
        fx_codec_free(frame);
        return;
    }
    self->queue[(self->queue_head + self->queue_count) % FX_CLIENT_MAX_QUEUED] = frame;
    self->queue_count++;
}

/* Keeps a pushed CHECKPOINT (only the latest: each one covers the ones before). 1 if frame was
 * one (taken), 0 otherwise. */
static int s_keep_checkpoint(fx_client_t *self, Fusion__Frame *frame)
{
    if (frame->body_case != FUSION__FRAME__BODY_CHECKPOINT || frame->request_id != 0)
        return 0;
    fx_codec_free(self->checkpoint);
    self->checkpoint = frame;
    return 1;
}

static Fusion__Frame *s_dequeue(fx_client_t *self)
{
    if (self->queue_count == 0)
        return NULL;
    Fusion__Frame *frame = self->queue[self->queue_head];
    self->queue_head = (self->queue_head + 1) % FX_CLIENT_MAX_QUEUED;
    self->queue_count--;
    return frame;
}

/* An ERROR refusing this principal itself, whatever frame it answers: the broker sends these
 * codes only when the key behind the connection is no valid principal any more (not enrolled,
 * revoked, or its certificate expired; server.c, s_authenticated), for a request as for a
 * CREDIT or RECEIVED, which wait for no answer. Any other ERROR is about one request. */
static int s_connection_error(const Fusion__Frame *frame)
{
    return frame->body_case == FUSION__FRAME__BODY_ERROR && frame->error && frame->error->code &&
           (strcmp(frame->error->code, "unauthenticated") == 0 ||
            strcmp(frame->error->code, "revoked") == 0 ||
            strcmp(frame->error->code, "cert_expired") == 0);
}

/* Notes a refusal of s_connection_error: fx_client_key_refused is 1 and the status says why,
 * until a handshake succeeds again. */
static void s_note_refused(fx_client_t *self, const Fusion__Frame *frame)
{
    char code[FX_CLIENT_CODE_MAX], reason[160];
    s_copy_shown(code, sizeof code, frame->error->code);
    s_copy_shown(reason, sizeof reason, frame->error->reason);
    self->key_refused = 1;
    int len = snprintf(self->status, sizeof self->status,
                       "the broker at %s refused this principal on its open connection: %s%s%s%s",
                       self->endpoint, code, reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
    (void) len; /* a long endpoint cuts the reason short, which the code still gives */
}

/* Sends request (its body set) and waits for the frame answering it, queueing DELIVERs that
 * arrive meanwhile. Every request of this protocol is idempotent, so it is sent again when the
 * connection it went out on dropped before an answer came (a request queued on a dead
 * connection is lost with it), once a new connection has completed its handshake: until
 * libzmq has closed the one that ended, a message sent can still go into its queue and be lost
 * there. An ERROR answer is returned as a refusal. */
static fx_err_t s_request(fx_client_t *self, Fusion__Frame *request, int timeout_ms,
                          Fusion__Frame **answer_p, fx_answer_t *answer)
{
    *answer_p = NULL;
    s_answer_clear(answer);
    int64_t deadline = s_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    request->request_id = self->next_request_id++;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_codec_encode(request, &data, &len);
    fx_err_t rc = FX_ERR_UNAVAILABLE;
    int sent = 0;
    unsigned dropped_after = 0; /* connections that ended after the request went out on them */
    uint64_t sent_drops = 0;
    for (;;) {
        if (sent && self->drops != sent_drops) { /* its connection ended before the answer */
            dropped_after++;
            sent = 0;
        }
        if (!sent && (self->drops == 0 || self->connections > self->connections_at_drop)) {
            int ready = s_poll(self, ZMQ_POLLOUT, deadline);
            if (ready < 0)
                break;
            if (ready == 0 || s_send_now(self, data, len) != FX_OK)
                continue;
            sent = 1;
            sent_drops = self->drops;
        }
        int ready = s_poll(self, ZMQ_POLLIN, deadline);
        if (ready < 0)
            break;
        Fusion__Frame *frame;
        while (ready && (frame = s_read_frame(self)) != NULL) {
            if (frame->body_case == FUSION__FRAME__BODY_DELIVER && frame->request_id == 0) {
                s_enqueue(self, frame);
            } else if (s_keep_checkpoint(self, frame)) {
                /* kept for fx_client_pushed_checkpoint */
            } else if (frame->request_id == request->request_id) {
                if (frame->body_case == FUSION__FRAME__BODY_ERROR) {
                    rc = s_refused(answer, frame->error->code, "", frame->error->reason);
                    fx_codec_free(frame);
                } else {
                    *answer_p = frame;
                    rc = FX_OK;
                }
                goto done;
            } else if (s_connection_error(frame)) {
                s_note_refused(self, frame);
                rc = s_refused(answer, frame->error->code, "", frame->error->reason);
                fx_codec_free(frame);
                goto done;
            } else {
                fx_codec_free(frame); /* a late answer to an earlier request, or noise */
            }
        }
    }
    /* No answer in time, and the broker ended the connection every time the request reached it:
     * say that, not just "connected". */
    if (dropped_after >= 2)
        snprintf(self->status, sizeof self->status,
                 "the connection to %s ended %u times, each time after this request (a frame of "
                 "%zu bytes) went out on it%s",
                 self->endpoint, dropped_after, len,
                 self->max_frame ? ""
                                 : "; a broker ends a connection so, without an answer, on a "
                                   "frame larger than its max_message_bytes");
done:
    free(data);
    return rc;
}

/* ---- PREPARE -------------------------------------------------------------------------------- */

static const char *s_keep(fx_prepared_t *p, const char *text, size_t max)
{
    if (p->n_strings == p->cap_strings) {
        p->cap_strings = p->cap_strings ? 2 * p->cap_strings : 16;
        p->strings = fx_realloc(p->strings, p->cap_strings * sizeof *p->strings);
    }
    char *copy = s_dup_shown(text, max);
    p->strings[p->n_strings++] = copy;
    return copy;
}

static void s_add_denial(fx_prepared_t *p, prepared_section_t *s, const char *recipient,
                         const char *code, const char *rule, const char *reason,
                         const char *agreement)
{
    s->denied = fx_realloc(s->denied, (s->n_denied + 1) * sizeof *s->denied);
    s->denied[s->n_denied++] = (fx_denial_t){
        s_keep(p, recipient, FX_ID_MAX),
        s_keep(p, code, FX_CLIENT_CODE_MAX - 1),
        s_keep(p, rule, FX_CLIENT_RULE_MAX - 1),
        s_keep(p, reason, FX_CLIENT_REASON_MAX - 1),
        s_keep(p, agreement, FX_CLIENT_RULE_MAX - 1),
    };
}

/* 1 when a direct draft addressed this certificate (by principal id or by agency). */
static int s_addressed(const fx_cert_t *cert, const char *const *recipients, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(recipients[i], fx_cert_id(cert)) == 0 ||
            strcmp(recipients[i], fx_cert_agency(cert)) == 0)
            return 1;
    return 0;
}

/* Checks one allowed certificate; NULL when it may receive the section, else why not (and the
 * code in *code_p). */
static const char *s_check_allowed(const fx_client_t *self, const fx_cert_t *cert,
                                   const Fusion__Header *draft, const char *const *recipients,
                                   size_t n_recipients, const fx_revocations_t *revocations,
                                   const char **code_p)
{
    *code_p = "unexpected_recipient";
    if (strcmp(fx_cert_id(cert), fx_keys_id(self->keys)) == 0)
        return "the broker offered the sender itself as a recipient";
    if (draft->audience == FUSION__AUDIENCE__AUDIENCE_DIRECT &&
        !s_addressed(cert, recipients, n_recipients))
        return "the broker offered a recipient this draft does not address";
    if (draft->audience == FUSION__AUDIENCE__AUDIENCE_FOCAL_POINTS &&
        !fx_cert_has_role(cert, FX_ROLE_FOCAL_POINT))
        return "the broker offered a recipient who is not a focal point";
    *code_p = "bad_certificate";
    if (revocations && fx_revocations_contains(revocations, fx_cert_serial(cert)))
        return "the recipient's certificate has been revoked";
    return NULL;
}

static fx_err_t s_fill_section(fx_client_t *self, fx_prepared_t *p, prepared_section_t *s,
                               const Fusion__SectionRecipients *sr, const Fusion__Header *draft,
                               const char *const *recipients, size_t n_recipients,
                               const uint8_t authority_key[FX_KEY_BYTES],
                               const fx_revocations_t *revocations, int64_t now_ms)
{
    if (sr->n_allowed > FX_ENVELOPE_MAX_RECIPIENTS || sr->n_denied > MAX_DENIALS)
        return FX_ERR_LIMIT;
    s->allowed = fx_calloc(sr->n_allowed, sizeof *s->allowed);
    for (size_t j = 0; j < sr->n_allowed; j++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        fx_cert_t *cert = NULL;
        /* The signature covers the body only, so re-encoding the wrapper is safe. */
        fx_codec_encode(sr->allowed[j], &bytes, &len);
        fx_err_t rc = fx_cert_verify(bytes, len, authority_key, now_ms, &cert);
        free(bytes);
        if (rc != FX_OK) {
            char reason[160];
            snprintf(reason, sizeof reason, "the certificate the broker gave does not verify: %s",
                     fx_strerror(rc));
            s_add_denial(p, s, "(unverified certificate)", "bad_certificate", "", reason, "");
            continue;
        }
        const char *code = NULL;
        const char *why =
            s_check_allowed(self, cert, draft, recipients, n_recipients, revocations, &code);
        int duplicate = 0;
        for (size_t k = 0; k < s->n_allowed && !duplicate; k++)
            duplicate = strcmp(fx_cert_id(s->allowed[k]), fx_cert_id(cert)) == 0;
        if (why)
            s_add_denial(p, s, fx_cert_id(cert), code, "", why, "");
        if (why || duplicate)
            fx_cert_destroy(&cert);
        else
            s->allowed[s->n_allowed++] = cert;
    }
    for (size_t j = 0; j < sr->n_denied; j++) {
        const Fusion__Denial *d = sr->denied[j];
        s_add_denial(p, s, d->recipient, d->code, d->rule, d->reason, d->agreement);
    }
    return FX_OK;
}

fx_err_t fx_client_prepare(fx_client_t *self, const Fusion__Header *draft,
                           const char *const *recipients, size_t n_recipients,
                           const uint8_t authority_key[FX_KEY_BYTES],
                           const fx_revocations_t *revocations, int64_t now_ms, int timeout_ms,
                           fx_prepared_t **prepared_p, fx_answer_t *answer)
{
    *prepared_p = NULL;
    s_answer_clear(answer);
    if (!draft || draft->n_sections == 0 || draft->n_sections > FX_ENVELOPE_MAX_SECTIONS)
        return FX_ERR_INVALID;
    /* The draft as the protocol wants it: no msg_id, times or hashes. */
    Fusion__Header header = *draft;
    header.msg_id = (ProtobufCBinaryData){0, NULL};
    header.created_at = 0;
    header.expires_at = 0;
    Fusion__SectionDescriptor descs[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__SectionDescriptor *desc_ptrs[FX_ENVELOPE_MAX_SECTIONS];
    for (size_t i = 0; i < draft->n_sections; i++) {
        descs[i] = *draft->sections[i];
        descs[i].ciphertext_hash = (ProtobufCBinaryData){0, NULL};
        desc_ptrs[i] = &descs[i];
    }
    header.sections = desc_ptrs;
    Fusion__Prepare prepare = FUSION__PREPARE__INIT;
    prepare.draft = &header;
    prepare.n_recipients = n_recipients;
    prepare.recipients = (char **) recipients;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_PREPARE;
    request.prepare = &prepare;

    Fusion__Frame *frame = NULL;
    fx_prepared_t *p = NULL;
    fx_err_t rc = s_request(self, &request, timeout_ms, &frame, answer);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_MALFORMED;
    if (frame->body_case != FUSION__FRAME__BODY_PREPARED)
        goto cleanup;
    const Fusion__Prepared *prepared = frame->prepared;
    if (prepared->n_sections > draft->n_sections)
        goto cleanup;
    p = fx_calloc(1, sizeof *p);
    p->count = draft->n_sections;
    p->sections = fx_calloc(p->count, sizeof *p->sections);
    for (size_t i = 0; i < p->count; i++)
        p->sections[i].id = draft->sections[i]->id;
    uint8_t seen[FX_ENVELOPE_MAX_SECTIONS] = {0};
    for (size_t k = 0; k < prepared->n_sections; k++) {
        const Fusion__SectionRecipients *sr = prepared->sections[k];
        size_t i = 0;
        while (i < p->count && p->sections[i].id != sr->section_id)
            i++;
        if (i == p->count || seen[i]) /* not a section of the draft, or answered twice */
            goto cleanup;
        seen[i] = 1;
        rc = s_fill_section(self, p, &p->sections[i], sr, draft, recipients, n_recipients,
                            authority_key, revocations, now_ms);
        if (rc != FX_OK)
            goto cleanup;
        rc = FX_ERR_MALFORMED;
    }
    *prepared_p = p;
    p = NULL;
    rc = FX_OK;
cleanup:
    fx_prepared_destroy(&p);
    fx_codec_free(frame);
    return rc;
}

void fx_prepared_destroy(fx_prepared_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_prepared_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        for (size_t j = 0; j < self->sections[i].n_allowed; j++)
            fx_cert_destroy(&self->sections[i].allowed[j]);
        free(self->sections[i].allowed);
        free(self->sections[i].denied);
    }
    for (size_t i = 0; i < self->n_strings; i++)
        free(self->strings[i]);
    free(self->strings);
    free(self->sections);
    free(self);
    *self_p = NULL;
}

size_t fx_prepared_section_count(const fx_prepared_t *self)
{
    return self->count;
}

uint32_t fx_prepared_section_id(const fx_prepared_t *self, size_t i)
{
    return i < self->count ? self->sections[i].id : 0;
}

size_t fx_prepared_allowed_count(const fx_prepared_t *self, size_t i)
{
    return i < self->count ? self->sections[i].n_allowed : 0;
}

const fx_cert_t *fx_prepared_allowed(const fx_prepared_t *self, size_t i, size_t j)
{
    if (i >= self->count || j >= self->sections[i].n_allowed)
        return NULL;
    return self->sections[i].allowed[j];
}

size_t fx_prepared_denied_count(const fx_prepared_t *self, size_t i)
{
    return i < self->count ? self->sections[i].n_denied : 0;
}

const fx_denial_t *fx_prepared_denied(const fx_prepared_t *self, size_t i, size_t j)
{
    if (i >= self->count || j >= self->sections[i].n_denied)
        return NULL;
    return &self->sections[i].denied[j];
}

/* ---- PUBLISH, SUBSCRIBE, UNSUBSCRIBE, SUBSCRIPTIONS, EXPLAIN, DIRECTORY ---------------------- */

static int s_same_msg_id(ProtobufCBinaryData id, const uint8_t *expected)
{
    return id.len == FX_MSG_ID_BYTES && memcmp(id.data, expected, FX_MSG_ID_BYTES) == 0;
}

size_t fx_client_max_frame(const fx_client_t *self)
{
    return self->max_frame;
}

size_t fx_client_publish_size(const fx_client_t *self, const fx_envelope_t *envelope)
{
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = (Fusion__Envelope *) fx_envelope_message(envelope);
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_PUBLISH;
    request.publish = &publish;
    request.request_id = self->next_request_id; /* the one s_request gives it */
    return fx_codec_size(&request);
}

fx_err_t fx_client_publish(fx_client_t *self, const fx_envelope_t *envelope, int timeout_ms,
                           fx_answer_t *answer)
{
    s_answer_clear(answer);
    /* libzmq would drop the connection on it without an answer, and again at every retry. */
    if (self->max_frame && fx_client_publish_size(self, envelope) > self->max_frame)
        return FX_ERR_TOO_LARGE;
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = (Fusion__Envelope *) fx_envelope_message(envelope);
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_PUBLISH;
    request.publish = &publish;
    Fusion__Frame *frame = NULL;
    fx_err_t rc = s_request(self, &request, timeout_ms, &frame, answer);
    if (rc != FX_OK)
        return rc;
    const uint8_t *msg_id = fx_envelope_msg_id(envelope);
    rc = FX_ERR_MALFORMED;
    if (frame->body_case == FUSION__FRAME__BODY_ACCEPTED &&
        s_same_msg_id(frame->accepted->msg_id, msg_id)) {
        rc = FX_OK;
    } else if (frame->body_case == FUSION__FRAME__BODY_REJECTED &&
               (frame->rejected->msg_id.len == 0 ||
                s_same_msg_id(frame->rejected->msg_id, msg_id))) {
        const Fusion__Rejected *r = frame->rejected;
        rc = s_refused(answer, r->code, r->rule, r->reason);
    }
    fx_codec_free(frame);
    return rc;
}

static fx_err_t s_subscription(fx_client_t *self, Fusion__Frame *request, int active,
                               int timeout_ms, fx_answer_t *answer)
{
    Fusion__Frame *frame = NULL;
    fx_err_t rc = s_request(self, request, timeout_ms, &frame, answer);
    if (rc != FX_OK)
        return rc;
    rc = frame->body_case == FUSION__FRAME__BODY_SUBSCRIBED &&
                 frame->subscribed->active == (protobuf_c_boolean) active
             ? FX_OK
             : FX_ERR_MALFORMED;
    fx_codec_free(frame);
    return rc;
}

fx_err_t fx_client_subscribe(fx_client_t *self, const char *pattern, uint32_t stages,
                             uint32_t kinds, const char *exercise, int timeout_ms,
                             fx_answer_t *answer)
{
    s_answer_clear(answer);
    if (!pattern)
        return FX_ERR_INVALID;
    Fusion__Stage stage_values[32];
    Fusion__Kind kind_values[32];
    Fusion__Subscribe subscribe = FUSION__SUBSCRIBE__INIT;
    subscribe.pattern = (char *) pattern;
    subscribe.exercise = (char *) (exercise ? exercise : "");
    for (int v = 1; v < fx_vocab_size(FX_VOCAB_STAGE); v++)
        if (stages & (1u << v))
            stage_values[subscribe.n_stages++] = (Fusion__Stage) v;
    for (int v = 1; v < fx_vocab_size(FX_VOCAB_KIND); v++)
        if (kinds & (1u << v))
            kind_values[subscribe.n_kinds++] = (Fusion__Kind) v;
    subscribe.stages = stage_values;
    subscribe.kinds = kind_values;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_SUBSCRIBE;
    request.subscribe = &subscribe;
    return s_subscription(self, &request, 1, timeout_ms, answer);
}

fx_err_t fx_client_unsubscribe(fx_client_t *self, const char *pattern, const char *exercise,
                               int timeout_ms, fx_answer_t *answer)
{
    s_answer_clear(answer);
    if (!pattern)
        return FX_ERR_INVALID;
    Fusion__Unsubscribe unsubscribe = FUSION__UNSUBSCRIBE__INIT;
    unsubscribe.pattern = (char *) pattern;
    unsubscribe.exercise = (char *) (exercise ? exercise : "");
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_UNSUBSCRIBE;
    request.unsubscribe = &unsubscribe;
    return s_subscription(self, &request, 0, timeout_ms, answer);
}

/* One subscription of a SUBSCRIPTIONS answer into out; -1 when it breaks the protocol. */
static int s_subscription_item(const Fusion__Subscribe *in, fx_subscription_t *out)
{
    memset(out, 0, sizeof *out);
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    if (!in->pattern || strlen(in->pattern) >= sizeof out->pattern ||
        fx_route_pattern_parse(in->pattern, &pattern, why) != FX_OK)
        return -1;
    snprintf(out->pattern, sizeof out->pattern, "%s", fx_route_pattern_text(pattern));
    fx_route_pattern_destroy(&pattern);
    if (in->n_stages > 32 || in->n_kinds > 32)
        return -1;
    for (size_t i = 0; i < in->n_stages; i++) {
        if ((int) in->stages[i] < 1 || (int) in->stages[i] >= fx_vocab_size(FX_VOCAB_STAGE))
            return -1;
        out->stages |= 1u << in->stages[i];
    }
    for (size_t i = 0; i < in->n_kinds; i++) {
        if ((int) in->kinds[i] < 1 || (int) in->kinds[i] >= fx_vocab_size(FX_VOCAB_KIND))
            return -1;
        out->kinds |= 1u << in->kinds[i];
    }
    if (in->exercise && strlen(in->exercise) >= sizeof out->exercise)
        return -1;
    s_copy_shown(out->exercise, sizeof out->exercise, in->exercise);
    return 0;
}

/* A request whose answer must have body want: the decoded frame (caller frees). */
static fx_err_t s_request_for(fx_client_t *self, Fusion__Frame *request, int want, int timeout_ms,
                              Fusion__Frame **frame_p, fx_answer_t *answer)
{
    fx_err_t rc = s_request(self, request, timeout_ms, frame_p, answer);
    if (rc == FX_OK && (int) (*frame_p)->body_case != want) {
        fx_codec_free(*frame_p);
        *frame_p = NULL;
        rc = FX_ERR_MALFORMED;
    }
    return rc;
}

fx_err_t fx_client_subscriptions(fx_client_t *self, int timeout_ms, fx_subscription_t **list_p,
                                 size_t *count_p, fx_answer_t *answer)
{
    *list_p = NULL;
    *count_p = 0;
    s_answer_clear(answer);
    Fusion__SubscriptionsRequest ask = FUSION__SUBSCRIPTIONS_REQUEST__INIT;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_SUBSCRIPTIONS_REQUEST;
    request.subscriptions_request = &ask;
    Fusion__Frame *frame = NULL;
    fx_err_t rc = s_request_for(self, &request, FUSION__FRAME__BODY_SUBSCRIPTIONS, timeout_ms,
                                &frame, answer);
    if (rc != FX_OK)
        return rc;
    rc = FX_ERR_MALFORMED;
    if (frame->subscriptions->n_subscriptions <= FX_CLIENT_MAX_SUBSCRIPTIONS) {
        size_t n = frame->subscriptions->n_subscriptions;
        fx_subscription_t *list = fx_calloc(n ? n : 1, sizeof *list);
        rc = FX_OK;
        for (size_t i = 0; i < n && rc == FX_OK; i++)
            if (s_subscription_item(frame->subscriptions->subscriptions[i], &list[i]) != 0)
                rc = FX_ERR_MALFORMED;
        if (rc == FX_OK) {
            *list_p = list;
            *count_p = n;
        } else {
            free(list);
        }
    }
    fx_codec_free(frame);
    return rc;
}

fx_err_t fx_client_explain(fx_client_t *self, const char *query_json, int timeout_ms,
                           char **answer_json_p, fx_answer_t *answer)
{
    *answer_json_p = NULL;
    s_answer_clear(answer);
    if (!query_json)
        return FX_ERR_INVALID;
    Fusion__Explain explain = FUSION__EXPLAIN__INIT;
    explain.query_json = (char *) query_json;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_EXPLAIN;
    request.explain = &explain;
    Fusion__Frame *frame = NULL;
    fx_err_t rc = s_request(self, &request, timeout_ms, &frame, answer);
    if (rc != FX_OK)
        return rc;
    if (frame->body_case == FUSION__FRAME__BODY_EXPLAINED && frame->explained->answer_json) {
        *answer_json_p = fx_strdup(frame->explained->answer_json);
        rc = FX_OK;
    } else {
        rc = FX_ERR_MALFORMED;
    }
    fx_codec_free(frame);
    return rc;
}

fx_err_t fx_client_directory(fx_client_t *self, const uint8_t authority_key[FX_KEY_BYTES],
                             int64_t now_ms, int timeout_ms, fx_directory_t **dir_p,
                             fx_answer_t *answer)
{
    *dir_p = NULL;
    Fusion__DirectoryRequest ask = FUSION__DIRECTORY_REQUEST__INIT;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
    request.directory_request = &ask;
    Fusion__Frame *frame = NULL;
    fx_err_t rc =
        s_request_for(self, &request, FUSION__FRAME__BODY_DIRECTORY, timeout_ms, &frame, answer);
    if (rc != FX_OK)
        return rc;
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_codec_encode(frame->directory, &bytes, &len);
    rc = fx_directory_from_bytes(bytes, len, authority_key, now_ms, dir_p);
    free(bytes);
    fx_codec_free(frame);
    return rc;
}

fx_err_t fx_client_referrals(fx_client_t *self, int timeout_ms, Fusion__Frame **frame_p,
                             fx_answer_t *answer)
{
    *frame_p = NULL;
    Fusion__ReferralsRequest ask = FUSION__REFERRALS_REQUEST__INIT;
    ask.with_exercise = 1;
    ask.with_more = 1;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_REFERRALS_REQUEST;
    request.referrals_request = &ask;
    Fusion__Frame *frame = NULL;
    fx_err_t rc =
        s_request_for(self, &request, FUSION__FRAME__BODY_REFERRALS, timeout_ms, &frame, answer);
    /* A broker older than Referrals.more, or than ReferralStatus.exercise too, refuses the field
     * that asks for it: ask as it knows (its answer says nothing of more, or marks no exercise
     * either). */
    if (rc != FX_OK && answer->refused && strcmp(answer->code, "unknown_field") == 0) {
        ask.with_more = 0;
        rc = s_request_for(self, &request, FUSION__FRAME__BODY_REFERRALS, timeout_ms, &frame,
                           answer);
    }
    if (rc != FX_OK && answer->refused && strcmp(answer->code, "unknown_field") == 0) {
        ask.with_exercise = 0;
        rc = s_request_for(self, &request, FUSION__FRAME__BODY_REFERRALS, timeout_ms, &frame,
                           answer);
    }
    if (rc != FX_OK)
        return rc;
    for (size_t i = 0; i < frame->referrals->n_referrals; i++) {
        const Fusion__ReferralStatus *r = frame->referrals->referrals[i];
        if (r->msg_id.len != FX_MSG_ID_BYTES || !fx_principal_id_valid(r->sender) ||
            !fx_recipient_id_valid(r->agency) || strlen(r->state) > 32 ||
            strlen(r->exercise) > FX_ENVELOPE_MAX_STRING) {
            fx_codec_free(frame);
            return FX_ERR_MALFORMED;
        }
    }
    *frame_p = frame;
    return FX_OK;
}

fx_err_t fx_client_receipt(fx_client_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES], int timeout_ms,
                           Fusion__Frame **frame_p, fx_answer_t *answer)
{
    *frame_p = NULL;
    Fusion__ReceiptRequest ask = FUSION__RECEIPT_REQUEST__INIT;
    ask.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, (uint8_t *) msg_id};
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_RECEIPT_REQUEST;
    request.receipt_request = &ask;
    return s_request_for(self, &request, FUSION__FRAME__BODY_RECEIPT, timeout_ms, frame_p, answer);
}

/* An audit entry as an exercise audit answer may carry one: the sizes the store keeps. */
static bool s_exercise_entry_ok(const Fusion__AuditEntry *e, uint64_t after_seq)
{
    return e->seq > after_seq && (e->msg_id.len == 0 || e->msg_id.len == FX_MSG_ID_BYTES) &&
           (e->header_digest.len == 0 || e->header_digest.len == 32) && e->event &&
           strlen(e->event) < 64 && e->actor && strlen(e->actor) < 1024 && e->subject &&
           strlen(e->subject) < 1024 && e->details && strlen(e->details) < (64u << 10);
}

fx_err_t fx_client_exercise_audit(fx_client_t *self, const char *exercise, uint64_t after_seq,
                                  uint32_t limit, int timeout_ms, Fusion__Frame **frame_p,
                                  fx_answer_t *answer)
{
    *frame_p = NULL;
    Fusion__ExerciseAuditRequest ask = FUSION__EXERCISE_AUDIT_REQUEST__INIT;
    ask.exercise = (char *) exercise;
    ask.after_seq = after_seq;
    ask.limit = limit;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_EXERCISE_AUDIT_REQUEST;
    request.exercise_audit_request = &ask;
    Fusion__Frame *frame = NULL;
    fx_err_t rc = s_request_for(self, &request, FUSION__FRAME__BODY_EXERCISE_AUDIT, timeout_ms,
                                &frame, answer);
    if (rc != FX_OK)
        return rc;
    const Fusion__ExerciseAudit *a = frame->exercise_audit;
    bool ok = a->exercise && strcmp(a->exercise, exercise) == 0 && a->next_seq >= after_seq &&
              (!limit || a->n_entries <= limit);
    uint64_t last = after_seq;
    for (size_t i = 0; ok && i < a->n_entries; i++) {
        ok = s_exercise_entry_ok(a->entries[i], last);
        last = a->entries[i]->seq;
    }
    if (!ok || a->next_seq != last) {
        fx_codec_free(frame);
        return FX_ERR_MALFORMED;
    }
    *frame_p = frame;
    return FX_OK;
}

fx_err_t fx_client_consistency(fx_client_t *self, uint64_t first_size, int timeout_ms,
                               Fusion__Frame **frame_p, fx_answer_t *answer)
{
    *frame_p = NULL;
    Fusion__ConsistencyRequest ask = FUSION__CONSISTENCY_REQUEST__INIT;
    ask.first_size = first_size;
    Fusion__Frame request = FUSION__FRAME__INIT;
    request.body_case = FUSION__FRAME__BODY_CONSISTENCY_REQUEST;
    request.consistency_request = &ask;
    return s_request_for(self, &request, FUSION__FRAME__BODY_CONSISTENCY, timeout_ms, frame_p,
                         answer);
}

Fusion__Checkpoint *fx_client_pushed_checkpoint(fx_client_t *self, Fusion__Frame **frame_p)
{
    *frame_p = self->checkpoint;
    self->checkpoint = NULL;
    return *frame_p ? (*frame_p)->checkpoint : NULL;
}

/* ---- Delivery -------------------------------------------------------------------------------- */

fx_err_t fx_client_set_window(fx_client_t *self, uint32_t window)
{
    self->window_set = 1;
    self->window = window;
    self->next_credit_at = 0;
    s_read_events(self);
    return s_credit_tick(self) ? FX_OK : FX_ERR_UNAVAILABLE;
}

fx_err_t fx_client_acknowledge(fx_client_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES])
{
    Fusion__Received received = FUSION__RECEIVED__INIT;
    received.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, (uint8_t *) msg_id};
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.body_case = FUSION__FRAME__BODY_RECEIVED;
    frame.received = &received;
    return s_send_frame_now(self, &frame);
}

static fx_err_t s_delivery_new(Fusion__Frame *frame, fx_delivery_t **delivery_p)
{
    *delivery_p = NULL;
    fx_envelope_t *envelope = NULL;
    if (!frame->deliver->envelope || !frame->deliver->sender) {
        fx_codec_free(frame);
        return FX_ERR_MALFORMED;
    }
    /* Read in place: the delivery keeps the frame, and frees the envelope first. */
    fx_err_t rc = fx_envelope_borrow(frame->deliver->envelope, &envelope);
    if (rc != FX_OK) {
        fx_codec_free(frame);
        return rc;
    }
    fx_delivery_t *self = fx_calloc(1, sizeof *self);
    self->frame = frame;
    self->envelope = envelope;
    /* The signature covers the certificate's body only, so re-encoding the wrapper is safe. */
    fx_codec_encode(frame->deliver->sender, &self->cert_bytes, &self->cert_len);
    *delivery_p = self;
    return FX_OK;
}

fx_err_t fx_delivery_from_bytes(const uint8_t *envelope, size_t envelope_len, const uint8_t *cert,
                                size_t cert_len, fx_delivery_t **delivery_p)
{
    *delivery_p = NULL;
    if (!cert || cert_len == 0 || cert_len > FX_MAX_ENVELOPE_BYTES)
        return FX_ERR_MALFORMED;
    fx_envelope_t *env = NULL;
    fx_err_t rc = fx_envelope_decode(envelope, envelope_len, &env);
    if (rc != FX_OK)
        return rc;
    fx_delivery_t *self = fx_calloc(1, sizeof *self);
    self->envelope = env;
    self->cert_bytes = fx_malloc(cert_len);
    memcpy(self->cert_bytes, cert, cert_len);
    self->cert_len = cert_len;
    *delivery_p = self;
    return FX_OK;
}

fx_err_t fx_client_receive(fx_client_t *self, int timeout_ms, fx_delivery_t **delivery_p)
{
    *delivery_p = NULL;
    Fusion__Frame *frame = s_dequeue(self);
    if (frame)
        return s_delivery_new(frame, delivery_p);
    int64_t deadline = s_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int ready = s_poll(self, ZMQ_POLLIN, deadline);
        if (ready < 0)
            return FX_ERR_UNAVAILABLE;
        while (ready && (frame = s_read_frame(self)) != NULL) {
            if (frame->body_case == FUSION__FRAME__BODY_DELIVER && frame->request_id == 0)
                return s_delivery_new(frame, delivery_p);
            if (s_connection_error(frame)) {
                /* The broker refuses this principal (it answers the CREDIT each call re-sends):
                 * nothing more will be delivered on this connection. */
                s_note_refused(self, frame);
                fx_err_t rc = s_err_from_code(frame->error->code);
                fx_codec_free(frame);
                return rc;
            }
            if (!s_keep_checkpoint(self, frame))
                fx_codec_free(frame); /* no request is waiting: a late answer, or noise */
        }
    }
}

void fx_delivery_destroy(fx_delivery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_delivery_t *self = *self_p;
    fx_envelope_destroy(&self->envelope);
    fx_cert_destroy(&self->sender);
    fx_codec_free(self->frame);
    free(self->cert_bytes);
    free(self);
    *self_p = NULL;
}

fx_envelope_t *fx_delivery_envelope(const fx_delivery_t *self)
{
    return self->envelope;
}

const uint8_t *fx_delivery_msg_id(const fx_delivery_t *self)
{
    return fx_envelope_msg_id(self->envelope);
}

const uint8_t *fx_delivery_cert_bytes(const fx_delivery_t *self, size_t *len_p)
{
    *len_p = self->cert_len;
    return self->cert_bytes;
}

fx_err_t fx_delivery_verify(fx_delivery_t *self, const uint8_t authority_key[FX_KEY_BYTES],
                            int64_t now_ms)
{
    fx_cert_destroy(&self->sender);
    self->expired_since = 0;
    const uint8_t *bytes = self->cert_bytes;
    size_t len = self->cert_len;
    fx_cert_t *cert = NULL;
    fx_err_t rc = fx_cert_verify(bytes, len, authority_key, now_ms, &cert);
    if (rc == FX_ERR_CERT_EXPIRED) {
        /* Stored messages can outlive their sender's certificate: what counts is that it was
         * valid when the message was made (the broker checked the time when it accepted it). */
        int64_t created = (int64_t) fx_envelope_header(self->envelope)->created_at;
        rc = fx_cert_verify(bytes, len, authority_key, created, &cert);
        self->expired_since = rc == FX_OK;
    }
    if (rc != FX_OK)
        return rc;
    if (strcmp(fx_cert_id(cert), fx_envelope_sender(self->envelope)) != 0) {
        fx_cert_destroy(&cert);
        return FX_ERR_SENDER_MISMATCH;
    }
    rc = fx_envelope_verify(self->envelope, fx_cert_id(cert), fx_cert_sign_key(cert));
    if (rc != FX_OK) {
        fx_cert_destroy(&cert);
        return rc;
    }
    self->sender = cert;
    return FX_OK;
}

const fx_cert_t *fx_delivery_sender(const fx_delivery_t *self)
{
    return self->sender;
}

int fx_delivery_sender_expired_since(const fx_delivery_t *self)
{
    return self->expired_since;
}
