/* The broker actor: one zloop owns the ROUTER socket and the store. Frames that arrive together
 * are handled as one group: every write goes into one transaction, and the answers that promise
 * durability (ACCEPTED, SUBSCRIBED) go out only after it committed. */
#include "server.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "audit_tree.h"
#include "frame_limit.h"
#include "server_internal.h"

#define BATCH_MAX         256        /* frames handled in one group */
#define BATCH_BYTES       (16 << 20) /* frames received at once, checked, then handled */
#define TICK_MS           1000       /* housekeeping timer */
#define SESSION_IDLE_MS   (3 * 60 * 1000)
#define DELIVER_BATCH     32          /* envelopes read from the store per delivery round */
#define IN_FLIGHT_BYTES   (32u << 20) /* DELIVER bytes in flight to one session at most */
#define REFUSALS_PER_TICK 20    /* authentication refusals logged and audited one by one per tick */
#define REFUSED_REPORT_MS 60000 /* a refused connection's count is logged this often, at most */
#define GAUGES_MS         5000  /* the store's figures for GET /metrics are counted this often */
#define COMMIT_LINGER_MS  5     /* a group that promises nothing waits this long for company */
/* A listening agent re-sends CREDIT every FX_CLIENT_CREDIT_INTERVAL_MS: it is never silent this
 * long, whatever transport.heartbeat_timeout is (s_connected). */
#define CONNECTED_MIN_MS (2 * FX_CLIENT_CREDIT_INTERVAL_MS)

/* An address another process holds may be free at the next start (exit 5, which the unit
 * restarts); any other bind failure is the configuration's (exit 2). */
#define IN_USE_HINT " (another process holds it: exit 5, and systemd tries again)"

/* An answer waiting for the group commit. */
typedef struct {
    zframe_t *routing_id;
    uint8_t *bytes;
    size_t len;
    int is_publish; /* replaced by REJECTED storage if the commit fails */
    uint64_t request_id;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    size_t msg_id_len;   /* 0 when the answer named no msg_id (a rate-limited PUBLISH) */
    char code[32];       /* a PUBLISH answer: "" for ACCEPTED, else the REJECTED code */
    bool replay;         /* the first answer to its msg_id, given again (server_t.replaying) */
    int64_t received_us; /* when its PUBLISH arrived */
} queued_t;

/* Writes the log lines held so far (server_log). */
static void s_log_flush(server_t *self)
{
    if (self->held_log_len > 0)
        fwrite(self->held_log, 1, self->held_log_len, stderr);
    self->held_log_len = 0;
}

#define LOG_MESSAGE_MAX 1024                                     /* a line's text, at most */
#define LOG_LINE_MAX    (FX_TIME_BUFSIZE + LOG_MESSAGE_MAX + 32) /* with its time and name */
_Static_assert(LOG_HELD_BYTES >= LOG_LINE_MAX, "a held log buffer takes at least one whole line");

void server_log(server_t *self, const char *fmt, ...)
{
    char message[LOG_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    char now[FX_TIME_BUFSIZE], line[LOG_LINE_MAX];
    fx_time_format(fx_now_ms(), now);
    int len = snprintf(line, sizeof line, "%s fusion-broker: %s\n", now, message);
    if (len < 0)
        return;
    size_t n = (size_t) len < sizeof line ? (size_t) len : sizeof line - 1;
    if (!self->holding_log) {
        fwrite(line, 1, n, stderr);
        return;
    }
    /* Held, because stderr is unbuffered: written at once, each accepted message's line was a
     * system call of its own. */
    if (self->held_log_len + n > sizeof self->held_log)
        s_log_flush(self);
    memcpy(self->held_log + self->held_log_len, line, n);
    self->held_log_len += n;
}

/* ---- Trust: the directory and the signed policy ------------------------------------------ */

/* Why a load failed: for an I/O error the system's reason (errno as the loader left it, e.g.
 * "Permission denied"), otherwise the error's sentence. */
static const char *s_why(fx_err_t rc, int error)
{
    return rc == FX_ERR_IO && error != 0 ? strerror(error) : fx_strerror(rc);
}

static fx_err_t s_load_directory(server_t *self, fx_directory_t **dir_p)
{
    errno = 0;
    fx_err_t rc = fx_directory_load(self->config->region, self->authority_key, fx_now_ms(), dir_p);
    if (rc != FX_OK) {
        server_log(self, "cannot load the directory of %s: %s", self->config->region,
                   s_why(rc, errno));
        return rc;
    }
    for (size_t i = 0; i < fx_directory_problem_count(*dir_p); i++) {
        const char *source, *detail;
        fx_directory_problem(*dir_p, i, &source, &detail);
        server_log(self, "directory: skipped %s: %s", source, detail);
    }
    self->config->check_skipped = fx_directory_problem_count(*dir_p);
    return FX_OK;
}

static fx_err_t s_load_policy(server_t *self, fx_policy_t **policy_p, uint8_t digest[32])
{
    const char *path = self->config->policy_file;
    uint8_t *data = NULL;
    size_t len = 0;
    errno = 0;
    fx_err_t rc = fx_file_read(path, FX_POLICY_MAX_BYTES, &data, &len);
    if (rc != FX_OK) {
        server_log(self, "cannot read the policy %s: %s", path, s_why(rc, errno));
        return rc;
    }
    char sig_path[4096];
    snprintf(sig_path, sizeof sig_path, "%s.sig", path);
    errno = 0;
    rc = fx_file_verify(self->authority_key, FX_DOMAIN_POLICY, data, len, sig_path);
    if (rc == FX_ERR_IO) {
        server_log(self, "cannot read the policy's signature %s: %s", sig_path, s_why(rc, errno));
        free(data);
        return rc;
    }
    if (rc != FX_OK) {
        server_log(self,
                   "refusing the policy %s: its signature %s does not verify (%s); sign it "
                   "with 'fusion-admin policy sign'",
                   path, sig_path,
                   rc == FX_ERR_NOT_FOUND ? "there is no signature file" : fx_strerror(rc));
        free(data);
        /* An unsigned policy is refused for security, like one whose signature is wrong. */
        return rc == FX_ERR_NOT_FOUND || rc == FX_ERR_MALFORMED ? FX_ERR_BAD_SIGNATURE : rc;
    }
    fx_policy_errors_t *errors = NULL;
    rc = fx_policy_load_buffer(path, data, len, policy_p, &errors);
    if (rc != FX_OK) {
        for (size_t i = 0; i < fx_policy_errors_count(errors); i++)
            server_log(self, "%s", fx_policy_errors_text(errors, i));
        fx_policy_errors_destroy(&errors);
    } else {
        crypto_generichash(digest, 32, data, len, NULL, 0);
    }
    free(data);
    return rc;
}

/* Warns the operator, once per directory installed (at start, --check included, and at every
 * reload that installs one, after s_install_directory), when its DIRECTORY answer is over what an
 * agent reads in one frame: every agent that asks for it is then answered ERROR too_large
 * (handle_directory, with the same size), and nothing else would say so until one asks. Sized
 * from the cached encoding's length with the largest request id: nothing decoded or encoded. */
static void s_warn_directory_size(server_t *self)
{
    char why[320];
    if (!broker_directory_within(self->directory_frame_len, UINT64_MAX,
                                 "every agent that asks for it gets ERROR too_large; take expired "
                                 "and revoked principals' certificates out of the region's "
                                 "directory",
                                 why, sizeof why))
        server_log(self,
                   "warning: the directory of %zu certificates does not fit in one DIRECTORY "
                   "answer: %s",
                   fx_directory_count(self->directory), why);
}

/* Maps CURVE keys to principals and writes the public certificates zauth admits. */
static int s_install_directory(server_t *self)
{
    zhashx_purge(self->by_curve_key);
    free(self->directory_frame);
    fx_directory_encode(self->directory, &self->directory_frame, &self->directory_frame_len);
    if (self->config->check_only)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", self->config->state_dir, BROKER_CURVE_DIR);
    if (fx_mkdir_p(dir) != 0) {
        server_log(self, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    /* Remove every old public certificate first, so a revoked principal is gone. */
    zdir_t *old = zdir_new(dir, "-");
    if (old) {
        zfile_t **files = zdir_flatten(old);
        for (size_t i = 0; files && files[i]; i++)
            zfile_remove(files[i]);
        zdir_flatten_free(&files);
        zdir_destroy(&old);
    }
    uint8_t no_secret[32] = {0};
    for (size_t i = 0; i < fx_directory_count(self->directory); i++) {
        /* Every certificate's key is mapped, so a refused frame names its principal and why;
         * only valid ones are written for zauth to admit. */
        const fx_cert_t *cert = fx_directory_at(self->directory, i);
        char z85[41];
        zmq_z85_encode(z85, fx_cert_curve_key(cert), 32);
        zhashx_update(self->by_curve_key, z85, fx_strdup(fx_cert_id(cert)));
        if (fx_directory_status_at(self->directory, i) != FX_CERT_STATUS_VALID)
            continue;
        zcert_t *zcert = zcert_new_from(fx_cert_curve_key(cert), no_secret);
        zcert_set_meta(zcert, "principal", "%s", fx_cert_id(cert));
        char path[4096 + FX_ID_MAX + 8];
        snprintf(path, sizeof path, "%s/%s.pub", dir, fx_cert_id(cert));
        int rc = zcert_save_public(zcert, path);
        zcert_destroy(&zcert);
        if (rc != 0) {
            server_log(self, "cannot write %s", path);
            return -1;
        }
    }
    return 0;
}

/* A reload that was refused, whole or in part ("policy", "directory" or "both"; logged
 * already): counted and audited with the code of why. */
static fx_err_t s_reload_refused(server_t *self, fx_err_t rc, const char *part)
{
    self->metrics.reloads_refused++;
    if (self->store && server_begin(self))
        server_audit(self, "reload_refused", "broker", self->config->region, NULL, NULL,
                     json_pack("{s:s, s:s}", "code", fx_err_code(rc), "refused", part));
    return rc;
}

/* Whether a directory takes principals away from the one in force and adds or changes none:
 * every valid certificate of it is the valid certificate of the one in force (same serial, same
 * CURVE key). Under the policy in force it can admit only what that policy admits now. */
static bool s_directory_only_removes(const server_t *self, const fx_directory_t *directory)
{
    for (size_t i = 0; i < fx_directory_count(directory); i++) {
        if (fx_directory_status_at(directory, i) != FX_CERT_STATUS_VALID)
            continue;
        const fx_cert_t *cert = fx_directory_at(directory, i);
        const fx_cert_t *now = fx_directory_find(self->directory, fx_cert_id(cert));
        if (!now || fx_cert_serial(now) != fx_cert_serial(cert) ||
            memcmp(fx_cert_curve_key(now), fx_cert_curve_key(cert), 32) != 0)
            return false;
    }
    return true;
}

/* Loads the directory and the policy and replaces the ones in force. At start both must load:
 * FX_OK, or why not (its exit code is the broker's). On SIGHUP each part is installed on its own
 * (atomically) when it loads, so that an invalid policy cannot hold up a revocation: a refused
 * policy keeps the one in force, and of the new directory only what takes principals away
 * (its revocation list, certificates gone or replaced) is installed with it: the principals it
 * adds or changes wait (the policy in force was never asked about them, and may be what the
 * refused one meant to change for them; both parts are audited refused); a refused directory (or
 * an older revocation list) keeps the one in force, and a new policy is installed with it (the
 * directory in force holds every revocation seen so far). A refusal of either part is logged,
 * counted and audited as reload_refused with the part; FX_OK only when both loaded. */
static fx_err_t s_reload(server_t *self, int first)
{
    fx_directory_t *directory = NULL;
    fx_policy_t *policy = NULL;
    uint8_t digest[32];
    fx_err_t dir_rc = s_load_directory(self, &directory);
    if (first && dir_rc != FX_OK)
        return dir_rc;
    fx_err_t policy_rc = s_load_policy(self, &policy, digest);
    if (first && policy_rc != FX_OK) {
        fx_directory_destroy(&directory);
        return policy_rc;
    }
    if (!first && dir_rc == FX_OK &&
        fx_directory_revocations_sequence(directory) <
            fx_directory_revocations_sequence(self->directory)) {
        server_log(self,
                   "reload refused: the revocation list is older (sequence %llu) than the "
                   "one in force (%llu)",
                   (unsigned long long) fx_directory_revocations_sequence(directory),
                   (unsigned long long) fx_directory_revocations_sequence(self->directory));
        fx_directory_destroy(&directory);
        dir_rc = FX_ERR_REVOKED; /* a rollback brings the revoked back */
    }
    bool additions_wait = false;
    if (!first && dir_rc == FX_OK && policy_rc != FX_OK &&
        !s_directory_only_removes(self, directory)) {
        server_log(self, "reload: the new directory adds or changes principals; they wait for a "
                         "policy that loads");
        directory = fx_directory_revoked_by(self->directory, &directory);
        additions_wait = true;
    }
    if (!first && (dir_rc != FX_OK || policy_rc != FX_OK)) {
        if (dir_rc != FX_OK && policy_rc != FX_OK)
            server_log(self, "reload refused: the policy and directory in force stay");
        else if (additions_wait)
            server_log(self, "reload refused in part: the policy in force stays; of the new "
                             "directory only its revocations and removals are installed");
        else
            server_log(self,
                       "reload refused in part: the %s in force stays; the new %s is "
                       "installed",
                       dir_rc != FX_OK ? "directory" : "policy",
                       dir_rc != FX_OK ? "policy" : "directory (revocations apply at once)");
        s_reload_refused(self, policy_rc != FX_OK ? policy_rc : dir_rc,
                         (dir_rc != FX_OK || additions_wait) && policy_rc != FX_OK ? "both"
                         : dir_rc != FX_OK                                         ? "directory"
                                                                                   : "policy");
    } else if (!first) {
        self->metrics.reloads++;
    }
    char hex[65];
    if (directory) {
        fx_directory_destroy(&self->directory);
        self->directory = directory;
        if (s_install_directory(self) != 0) {
            fx_policy_destroy(&policy);
            return FX_ERR_IO;
        }
        server_log(self, "%s directory with %zu certificates (revocations sequence %llu)",
                   first ? "loaded" : "reloaded", fx_directory_count(directory),
                   (unsigned long long) fx_directory_revocations_sequence(directory));
        s_warn_directory_size(self);
        if (self->store && server_begin(self))
            server_audit(self, first ? "directory_loaded" : "directory_reloaded", "broker",
                         self->config->region, NULL, NULL,
                         json_pack("{s:I, s:I}", "certificates",
                                   (json_int_t) fx_directory_count(directory),
                                   "revocations_sequence",
                                   (json_int_t) fx_directory_revocations_sequence(directory)));
    }
    if (policy) {
        fx_policy_destroy(&self->policy);
        self->policy = policy;
        memcpy(self->policy_digest, digest, sizeof digest);
        char summary[256];
        fx_policy_summary(policy, summary, sizeof summary);
        server_log(self, "%s policy %s (%s)", first ? "loaded" : "reloaded",
                   self->config->policy_file, summary);
        if (self->store && server_begin(self))
            server_audit(self, first ? "policy_loaded" : "policy_reloaded", "broker",
                         self->config->policy_file, NULL, NULL,
                         json_pack("{s:s, s:s}", "policy_blake2b", fx_hex(digest, 32, hex),
                                   "summary", summary));
    }
    return dir_rc != FX_OK ? dir_rc : policy_rc;
}

/* ---- Sessions ----------------------------------------------------------------------------- */

static void s_in_flight_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_session_free(void **item)
{
    session_t *session = *item;
    if (session) {
        zframe_destroy(&session->routing_id);
        zhashx_destroy(&session->in_flight);
        free(session);
        *item = NULL;
    }
}

static void s_session_drop(server_t *self, session_t *session)
{
    if (zhashx_lookup(self->session_of, session->principal) == session)
        zhashx_delete(self->session_of, session->principal);
    char *key = zframe_strhex(session->routing_id);
    zhashx_delete(self->sessions, key); /* frees the session */
    free(key);
}

/* The valid certificate of the principal behind a frame, from the CURVE key ZAP authenticated,
 * or NULL and why not. Reads only: the batch's publish checks are prepared with it before any
 * session is touched. */
static const fx_cert_t *s_authenticated(server_t *self, zframe_t *payload, const char **user_id_p,
                                        const char **principal_p, fx_err_t *why_p)
{
    const char *user_id = zframe_meta(payload, "User-Id");
    const char *principal = user_id ? zhashx_lookup(self->by_curve_key, user_id) : NULL;
    const fx_cert_t *cert = principal ? fx_directory_find(self->directory, principal) : NULL;
    fx_err_t why = FX_ERR_UNAUTHENTICATED;
    if (principal && !cert) {
        fx_cert_status_t status = fx_directory_status(self->directory, principal, NULL);
        why = status == FX_CERT_STATUS_REVOKED ? FX_ERR_REVOKED : FX_ERR_CERT_EXPIRED;
    } else if (cert && fx_cert_check_time(cert, fx_now_ms()) != FX_OK) {
        why = FX_ERR_CERT_EXPIRED;
        cert = NULL;
    }
    if (cert) {
        /* The key must be the valid certificate's own: after a re-enrolment the revoked
         * certificate of the same id maps here too. */
        char z85[41];
        zmq_z85_encode(z85, fx_cert_curve_key(cert), 32);
        if (strcmp(z85, user_id) != 0) {
            why = FX_ERR_REVOKED;
            cert = NULL;
        }
    }
    *user_id_p = user_id;
    *principal_p = principal;
    *why_p = why;
    return cert;
}

/* The principal behind a frame; NULL (and an ERROR sent with the frame's request_id, and the
 * refusal audited) when it is not a valid principal any more. */
static session_t *s_session_for(server_t *self, zframe_t *routing_id, zframe_t *payload,
                                uint64_t request_id)
{
    const char *user_id, *principal;
    fx_err_t why;
    const fx_cert_t *cert = s_authenticated(self, payload, &user_id, &principal, &why);
    int64_t now = fx_now_ms();
    char *key = zframe_strhex(routing_id);
    session_t *session = zhashx_lookup(self->sessions, key);
    if (!cert) {
        self->metrics.auth_refused++;
        /* A revoked principal keeps its established connection (a ROUTER cannot close it) and
         * is not rate limited (it is no principal any more). Only the first refused frame of a
         * connection is logged and audited; the rest are counted (refused_peer_t), reported by
         * the tick (s_refusals_report), so an agent left running, whose CREDIT comes every few
         * seconds, or a flood, adds one entry per connection, not one per frame. First frames
         * are bounded as refused handshakes are, across all connections. */
        refused_peer_t *peer = zhashx_lookup(self->refused_peers, key);
        if (peer) {
            peer->more++;
            peer->last_seen = now;
        } else if (self->refused_this_tick++ < REFUSALS_PER_TICK) {
            const char *who = principal ? principal : "an unknown key";
            server_log(self,
                       "refused a frame from %s: %s (its connection's later frames are refused "
                       "too, and counted)",
                       who, fx_strerror(why));
            if (server_begin(self))
                server_audit(self, "auth_refused",
                             principal ? principal
                             : user_id ? user_id
                                       : "?",
                             NULL, NULL, NULL, json_pack("{s:s}", "code", fx_err_code(why)));
            peer = fx_calloc(1, sizeof *peer);
            snprintf(peer->principal, sizeof peer->principal, "%s", who);
            peer->why = why;
            peer->last_seen = now;
            zhashx_insert(self->refused_peers, key, peer);
        } else {
            self->refused_suppressed++;
        }
        if (session)
            s_session_drop(self, session);
        session_t stranger = {.routing_id = routing_id};
        server_error(self, &stranger, request_id, why, fx_strerror(why));
        free(key);
        return NULL;
    }
    refused_peer_t *was_refused =
        zhashx_size(self->refused_peers) > 0 ? zhashx_lookup(self->refused_peers, key) : NULL;
    if (was_refused) { /* admitted again (a reload): a later refusal is logged afresh */
        if (was_refused->more > 0)
            server_log(self, "refused %zu more frames of %s before it was admitted again",
                       was_refused->more, was_refused->principal);
        zhashx_delete(self->refused_peers, key);
    }
    if (session && strcmp(session->principal, principal) != 0) {
        s_session_drop(self, session); /* a routing id reused by another principal */
        session = NULL;
    }
    if (!session) {
        session = fx_calloc(1, sizeof *session);
        session->routing_id = zframe_dup(routing_id);
        session->in_flight = zhashx_new();
        zhashx_set_destructor(session->in_flight, s_in_flight_free);
        snprintf(session->principal, sizeof session->principal, "%s", principal);
        zhashx_insert(self->sessions, key, session);
        session_t *previous = zhashx_lookup(self->session_of, principal);
        zhashx_update(self->session_of, principal, session);
        if (previous)
            s_session_drop(self, previous);
        /* A new connection: what was sent and not acknowledged goes again. */
        size_t reset = 0;
        if (server_begin(self) &&
            fx_store_delivery_reset(self->store, principal, INT64_MAX, &reset) != FX_OK)
            server_storage_failed(self);
        server_log(self, "%s connected%s", principal,
                   reset ? " (unacknowledged deliveries will be sent again)" : "");
        audit_tree_session_opened(self, session);
    }
    session->last_seen = now;
    free(key);
    return session;
}

/* ---- Answers and the group commit --------------------------------------------------------- */

static void s_queued_free(void **item)
{
    queued_t *q = *item;
    if (q) {
        zframe_destroy(&q->routing_id);
        free(q->bytes);
        free(q);
        *item = NULL;
    }
}

/* Sends body (destroyed) to the peer of routing_id: a routing frame, then the body; false if
 * the peer is gone (ROUTER_MANDATORY). The log lines held so far go first, so that whatever a
 * peer is answered was logged before. */
static bool s_send_body(server_t *self, zframe_t *routing_id, zframe_t *body)
{
    s_log_flush(self);
    if (zframe_send(&routing_id, self->router, ZFRAME_MORE | ZFRAME_REUSE) != 0 ||
        zframe_send(&body, self->router, 0) != 0) {
        zframe_destroy(&body);
        return false;
    }
    return true;
}

/* Sends bytes to a routing id, as s_send_body. */
static bool s_send(server_t *self, zframe_t *routing_id, const uint8_t *bytes, size_t len)
{
    return s_send_body(self, routing_id, zframe_new(bytes, len));
}

/* Sends frame encoded straight into the ZeroMQ frame that carries it (no buffer of our own to
 * allocate, copy and free: a DELIVER is the size of its envelope); its encoded length in *len_p,
 * if not NULL. */
static bool s_send_frame(server_t *self, zframe_t *routing_id, const Fusion__Frame *frame,
                         size_t *len_p)
{
    zframe_t *body = zframe_new(NULL, fx_codec_size(frame));
    size_t len = fx_codec_pack(frame, zframe_data(body));
    if (len_p)
        *len_p = len;
    return s_send_body(self, routing_id, body);
}

/* Counts a PUBLISH answer as it goes out: a replay (the first answer again, whatever it was),
 * accepted (code "") or rejected, and its latency. */
static void s_count_answer(server_t *self, const char *code, bool replay, int64_t received_us)
{
    if (replay)
        self->metrics.replayed++;
    else if (!code || !code[0])
        self->metrics.accepted++;
    else
        metrics_rejected(&self->metrics, code);
    if (received_us > 0)
        metrics_latency(&self->metrics, zclock_usecs() - received_us);
}

void server_answer(server_t *self, session_t *session, Fusion__Frame *frame)
{
    bool publish_answer = frame->body_case == FUSION__FRAME__BODY_ACCEPTED ||
                          frame->body_case == FUSION__FRAME__BODY_REJECTED;
    /* Checkpoints, receipts and consistency proofs may name a checkpoint of this group, and an
     * exercise's audit entries may be of this group. */
    bool durable = publish_answer || frame->body_case == FUSION__FRAME__BODY_SUBSCRIBED ||
                   frame->body_case == FUSION__FRAME__BODY_CHECKPOINT ||
                   frame->body_case == FUSION__FRAME__BODY_RECEIPT ||
                   frame->body_case == FUSION__FRAME__BODY_CONSISTENCY ||
                   frame->body_case == FUSION__FRAME__BODY_EXERCISE_AUDIT;
    const char *code =
        frame->body_case == FUSION__FRAME__BODY_REJECTED ? frame->rejected->code : "";
    if (!durable || !fx_store_in_transaction(self->store)) {
        if (publish_answer)
            s_count_answer(self, code, self->replaying, self->batch_received_us);
        s_send_frame(self, session->routing_id, frame, NULL);
        return;
    }
    queued_t *q = fx_calloc(1, sizeof *q);
    q->routing_id = zframe_dup(session->routing_id);
    fx_codec_encode(frame, &q->bytes, &q->len);
    q->request_id = frame->request_id;
    if (publish_answer) {
        q->is_publish = 1;
        snprintf(q->code, sizeof q->code, "%s", code ? code : "");
        q->replay = self->replaying;
        q->received_us = self->batch_received_us;
        const ProtobufCBinaryData *id = frame->body_case == FUSION__FRAME__BODY_ACCEPTED
                                            ? &frame->accepted->msg_id
                                            : &frame->rejected->msg_id;
        if (id->len == FX_MSG_ID_BYTES) {
            memcpy(q->msg_id, id->data, FX_MSG_ID_BYTES);
            q->msg_id_len = FX_MSG_ID_BYTES;
        }
    }
    zlistx_add_end(self->answers, q);
}

void server_error(server_t *self, session_t *session, uint64_t request_id, fx_err_t err,
                  const char *reason)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Error error = FUSION__ERROR__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_ERROR;
    frame.error = &error;
    error.code = (char *) fx_err_code(err);
    error.reason = (char *) (reason ? reason : fx_strerror(err));
    s_send_frame(self, session->routing_id, &frame, NULL);
}

bool server_within_message_limits(size_t n_sections, size_t n_recipients, const char *what,
                                  char *why, size_t why_size)
{
    if (n_sections > FX_ENVELOPE_MAX_SECTIONS) {
        snprintf(why, why_size, "%s has %zu sections; a message may have at most %d", what,
                 n_sections, FX_ENVELOPE_MAX_SECTIONS);
        return false;
    }
    if (n_recipients > FX_ENVELOPE_MAX_RECIPIENTS) {
        snprintf(why, why_size, "%s names %zu recipients; a message may have at most %d", what,
                 n_recipients, FX_ENVELOPE_MAX_RECIPIENTS);
        return false;
    }
    return true;
}

bool server_answer_within_frame(server_t *self, session_t *session, Fusion__Frame *frame,
                                const char *hint)
{
    char why[320];
    if (broker_frame_within(frame, FX_MAX_FRAME_BYTES, hint, why, sizeof why)) {
        server_answer(self, session, frame);
        return true;
    }
    server_error(self, session, frame->request_id, FX_ERR_TOO_LARGE, why);
    return false;
}

bool server_begin(server_t *self)
{
    if (self->failed)
        return false;
    if (fx_store_in_transaction(self->store))
        return true;
    if (fx_store_begin(self->store) != FX_OK) {
        server_storage_failed(self);
        return false;
    }
    return true;
}

void server_storage_failed(server_t *self)
{
    self->metrics.storage_errors++;
    const char *why = fx_store_error_text(self->store);
    if (!self->failed)
        server_log(self,
                   "STORAGE FAILURE: %s; no longer accepting messages until an operator "
                   "fixes the storage and restarts the broker",
                   why[0] ? why : "a write to the store was refused without a storage error");
    self->failed = true;
}

/* Appends one entry whose details are already text; exercise files it for the exercise's
 * trainers (server_audit_exercise). */
static bool s_audit_append(server_t *self, const char *exercise, const char *event,
                           const char *actor, const char *subject, const uint8_t *msg_id,
                           const uint8_t *digest, const char *details)
{
#ifdef FX_BENCH_NO_AUDIT
    /* Only in tests/bench's fusion-broker-noaudit, which measures what the audit costs. */
    (void) self, (void) exercise, (void) event, (void) actor, (void) subject, (void) msg_id,
        (void) digest, (void) details;
    return true;
#endif
    fx_store_audit_entry_t entry = {.event = event,
                                    .actor = actor,
                                    .subject = subject,
                                    .msg_id = msg_id,
                                    .header_digest = digest,
                                    .details = details,
                                    .exercise = exercise};
    if (fx_store_audit_append(self->store, &entry, NULL, NULL) != FX_OK) {
        server_storage_failed(self);
        return false;
    }
    return true;
}

const fx_store_audit_entry_t *server_audited(const fx_store_audit_entry_t *entry)
{
#ifdef FX_BENCH_NO_AUDIT
    (void) entry;
    return NULL;
#else
    return entry;
#endif
}

bool server_audit_text(server_t *self, const char *event, const char *actor, const char *subject,
                       const uint8_t *msg_id, const uint8_t *digest, const char *details)
{
    return s_audit_append(self, NULL, event, actor, subject, msg_id, digest, details);
}

bool server_audit_exercise(server_t *self, const char *exercise, const char *event,
                           const char *actor, const char *subject, const uint8_t *msg_id,
                           const uint8_t *digest, json_t *details)
{
#ifdef FX_BENCH_NO_AUDIT
    json_decref(details);
    return true;
#endif
    char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(details);
    bool ok = s_audit_append(self, exercise, event, actor, subject, msg_id, digest, text);
    free(text);
    return ok;
}

bool server_audit(server_t *self, const char *event, const char *actor, const char *subject,
                  const uint8_t *msg_id, const uint8_t *digest, json_t *details)
{
    return server_audit_exercise(self, NULL, event, actor, subject, msg_id, digest, details);
}

static uint8_t *s_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = fx_malloc(len);
    memcpy(copy, data, len);
    return copy;
}

void server_audit_entry_fill(Fusion__AuditEntry *wire, const fx_store_audit_entry_t *entry)
{
    fusion__audit_entry__init(wire);
    wire->seq = (uint64_t) entry->seq;
    wire->time_ms = (uint64_t) entry->time_ms;
    wire->event = fx_strdup(entry->event);
    wire->actor = fx_strdup(entry->actor);
    wire->subject = fx_strdup(entry->subject);
    if (entry->msg_id)
        wire->msg_id = (ProtobufCBinaryData){FX_STORE_MSG_ID_BYTES,
                                             s_copy(entry->msg_id, FX_STORE_MSG_ID_BYTES)};
    if (entry->header_digest)
        wire->header_digest = (ProtobufCBinaryData){
            FX_STORE_DIGEST_BYTES, s_copy(entry->header_digest, FX_STORE_DIGEST_BYTES)};
    wire->details = fx_strdup(entry->details);
}

void server_audit_entries_free(Fusion__AuditEntry *wire, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(wire[i].event);
        free(wire[i].actor);
        free(wire[i].subject);
        free(wire[i].msg_id.data);
        free(wire[i].header_digest.data);
        free(wire[i].details);
    }
    free(wire);
}

void server_note_room(server_t *self, session_t *session)
{
    if (!session->drained)
        server_note_delivery(self, session->principal);
}

/* A principal without a session is not noted: its deliveries wait in the store, and its next
 * session's CREDIT asks for them (server_note_room). A session is noted once per round, so a
 * message to many recipients costs one lookup each, not a walk of the list. */
void server_note_delivery(server_t *self, const char *principal)
{
    session_t *session = zhashx_lookup(self->session_of, principal);
    if (!session)
        return;
    session->drained = false;
    if (session->noted)
        return;
    session->noted = true;
    zlistx_add_end(self->to_deliver, fx_strdup(principal));
}

/* Commits the group and sends what waited for it; on failure publishes are answered with the
 * storage code and nothing is promised. */
static void s_commit(server_t *self)
{
    if (self->linger_timer > 0)
        zloop_timer_end(self->loop, self->linger_timer);
    self->linger_timer = 0;
    bool committed = true;
    if (fx_store_in_transaction(self->store)) {
        if (self->failed || fx_store_commit(self->store) != FX_OK) {
            if (fx_store_in_transaction(self->store))
                (void) fx_store_rollback(self->store);
            server_storage_failed(self);
            committed = false;
        }
    }
    size_t unstored = 0;
    for (queued_t *q = zlistx_first(self->answers); q; q = zlistx_next(self->answers)) {
        if (q->is_publish)
            s_count_answer(self, committed ? q->code : fx_err_code(FX_ERR_STORAGE),
                           committed && q->replay, q->received_us);
        if (!committed && q->is_publish && !q->code[0])
            unstored++;
        if (committed) {
            s_send(self, q->routing_id, q->bytes, q->len);
            continue;
        }
        Fusion__Frame frame = FUSION__FRAME__INIT;
        frame.request_id = q->request_id;
        Fusion__Rejected rejected = FUSION__REJECTED__INIT;
        Fusion__Error error = FUSION__ERROR__INIT;
        if (q->is_publish) {
            frame.body_case = FUSION__FRAME__BODY_REJECTED;
            frame.rejected = &rejected;
            rejected.msg_id = (ProtobufCBinaryData){q->msg_id_len, q->msg_id};
            rejected.code = (char *) fx_err_code(FX_ERR_STORAGE);
            rejected.reason = (char *) fx_strerror(FX_ERR_STORAGE);
        } else {
            frame.body_case = FUSION__FRAME__BODY_ERROR;
            frame.error = &error;
            error.code = (char *) fx_err_code(FX_ERR_STORAGE);
            error.reason = (char *) fx_strerror(FX_ERR_STORAGE);
        }
        s_send_frame(self, q->routing_id, &frame, NULL);
    }
    if (unstored > 0) /* their "accepted" lines were logged when they were handled */
        server_log(self,
                   "the group commit failed: %zu message(s) logged as accepted in this group were "
                   "not stored and were answered REJECTED storage",
                   unstored);
    zlistx_purge(self->answers);
}

/* ---- Delivery ----------------------------------------------------------------------------- */

void server_principal(const fx_cert_t *cert, fx_policy_principal_t *principal)
{
    principal->id = fx_cert_id(cert);
    principal->country = fx_cert_country(cert);
    principal->agency = fx_cert_agency(cert);
    principal->roles = fx_cert_roles(cert);
}

void server_deliver(server_t *self, const char *principal)
{
    session_t *session = zhashx_lookup(self->session_of, principal);
    if (!session || session->window <= zhashx_size(session->in_flight) || self->failed)
        return;
    /* The byte budget: an agent that stops reading its socket must not make the broker hold
     * window x 8 MiB in the transport's queues. */
    if (session->in_flight_bytes >= IN_FLIGHT_BYTES)
        return;
    fx_store_pending_t *list = NULL;
    size_t count = 0;
    /* At most DELIVER_BATCH envelopes are read at once, however wide the window: each may be
     * megabytes, and the next RECEIVED triggers the next batch anyway. */
    size_t room = session->window - zhashx_size(session->in_flight);
    size_t asked = room < DELIVER_BATCH ? room : DELIVER_BATCH, i;
    if (fx_store_pending_list(self->store, principal, fx_now_ms(), asked, &list, &count) != FX_OK) {
        server_storage_failed(self);
        return;
    }
    /* Fewer than asked, all sent: nothing more is pending until a PUBLISH, a retry or a new
     * connection says so (server_note_delivery), so a RECEIVED need not ask the store again. */
    session->drained = false;
    for (i = 0; i < count && !self->failed && session->in_flight_bytes < IN_FLIGHT_BYTES; i++) {
        fx_store_pending_t *p = &list[i];
        fx_envelope_t *env = NULL;
        fx_envelope_view_t view; /* encoded into the frame as it is: no copy decoded again */
        if (fx_envelope_decode(p->envelope, p->envelope_len, &env) != FX_OK ||
            fx_envelope_view_for(env, principal, &view) != FX_OK) {
            server_log(self, "stored message %s for %s does not decode; not delivered",
                       fx_hex(p->msg_id, 8, (char[17]){0}), principal);
            fx_envelope_destroy(&env);
            continue;
        }
        const fx_cert_t *sender = NULL;
        fx_directory_status(self->directory, p->sender, &sender);
        Fusion__Frame frame = FUSION__FRAME__INIT;
        Fusion__Deliver deliver = FUSION__DELIVER__INIT;
        Fusion__Certificate cert = FUSION__CERTIFICATE__INIT;
        frame.body_case = FUSION__FRAME__BODY_DELIVER;
        frame.deliver = &deliver;
        deliver.envelope = &view.msg;
        if (sender) {
            size_t body_len;
            const uint8_t *body = fx_cert_body(sender, &body_len);
            cert.body = (ProtobufCBinaryData){body_len, (uint8_t *) body};
            cert.signature =
                (ProtobufCBinaryData){FX_SIGNATURE_BYTES, (uint8_t *) fx_cert_signature(sender)};
            deliver.sender = &cert;
        }
        size_t len;
        bool sent = s_send_frame(self, session->routing_id, &frame, &len);
        fx_envelope_destroy(&env);
        if (!sent) {
            server_log(self, "%s is gone; its deliveries wait for its next connection", principal);
            s_session_drop(self, session);
            break;
        }
        char key[2 * FX_MSG_ID_BYTES + 1];
        fx_hex(p->msg_id, FX_MSG_ID_BYTES, key);
        int64_t sent_at = fx_now_ms(); /* one time for the store and the window (s_retry_due) */
        in_flight_t *flight = fx_calloc(1, sizeof *flight);
        *flight = (in_flight_t){.bytes = len, .seq = p->seq, .sent_at = sent_at};
        memcpy(flight->header_digest, p->header_digest, sizeof flight->header_digest);
        if (zhashx_insert(session->in_flight, key, flight) == 0)
            session->in_flight_bytes += len;
        else
            free(flight);
        fx_store_audit_entry_t delivered = {.event = "delivered",
                                            .actor = "broker",
                                            .subject = principal,
                                            .msg_id = p->msg_id,
                                            .header_digest = p->header_digest};
        if (!server_begin(self) ||
            fx_store_delivery_sent(self->store, p->seq, sent_at,
                                   p->attempts == 0 ? server_audited(&delivered) : NULL) != FX_OK) {
            server_storage_failed(self);
            break;
        }
        self->metrics.delivered++;
    }
    if (i == count && count < asked)
        session->drained = true;
    fx_store_pending_free(&list, count);
}

static void s_deliver_noted(server_t *self)
{
    char *principal;
    while ((principal = zlistx_detach(self->to_deliver, NULL))) {
        session_t *session = zhashx_lookup(self->session_of, principal);
        if (session)
            session->noted = false;
        server_deliver(self, principal);
        free(principal);
    }
}

/* A principal over its rate limit: the first refusal of an episode (refused 0) and then, each
 * tick, how many more; one log line and one audit entry each. */
static void s_rate_limited_report(const char *principal, size_t refused, void *arg)
{
    server_t *self = arg;
    json_t *details = json_pack("{s:s, s:f, s:I}", "code", fx_err_code(FX_ERR_RATE_LIMITED), "rate",
                                self->config->rate, "burst", (json_int_t) self->config->burst);
    if (refused == 0) {
        server_log(self,
                   "%s is over its rate limit (%g frames/s, burst %lld): its frames are refused "
                   "with rate_limited",
                   principal, self->config->rate, self->config->burst);
    } else {
        server_log(self, "refused %zu more frames of %s over its rate limit", refused, principal);
        json_object_set_new(details, "refused", json_integer((json_int_t) refused));
    }
    if (server_begin(self))
        server_audit(self, "rate_limited", principal, NULL, NULL, NULL, details);
    else
        json_decref(details);
}

/* What one token of the rate limit buys of the work whose amount a frame chooses: policy
 * decisions, one per (section, recipient), as EXPLAIN, PREPARE and PUBLISH make them. A decision
 * costs the loop thread, which every principal waits on, about 18 us in an EXPLAIN (16 sections
 * x 1024 recipients, 16,384 decisions, took 0.3 s), the dearest; about 7-9 us in a PUBLISH (16
 * sections x 402 recipients took 40-60 ms, its delivery rows and audit entries included) and
 * about 2.3 us in a PREPARE (the same audience: 15 ms). One constant for all, priced for
 * EXPLAIN: at one token per 25 decisions the default limits (rate 200/s, burst 2000) let one
 * principal take at most 200 x 25 x 18 us = 90 ms of each second (9%) for as long as it keeps at
 * it, and 2000 x 25 x 18 us = 0.9 s once with a full bucket (then one frame's cost more, into
 * debt: ratelimit.c); PUBLISHes and PREPAREs alone stay under that. A frame counting one token,
 * as before, let one principal queue ten minutes of work at once and hold the thread for good
 * at a tenth of its rate. The largest EXPLAIN costs 656 tokens: an operator asking one every
 * few seconds never meets the limit. */
#define DECISIONS_PER_TOKEN 25

bool server_charge_decisions(server_t *self, const session_t *session, size_t decisions)
{
    size_t cost = (decisions + DECISIONS_PER_TOKEN - 1) / DECISIONS_PER_TOKEN;
    bool episode = false;
    if (broker_ratelimit_charge(self->limits, session->principal, fx_now_ms(), (double) cost,
                                &episode))
        return true;
    if (episode)
        s_rate_limited_report(session->principal, 0, self);
    return false;
}

bool server_charge(server_t *self, session_t *session, uint64_t request_id, size_t decisions)
{
    if (server_charge_decisions(self, session, decisions))
        return true;
    server_error(self, session, request_id, FX_ERR_RATE_LIMITED, fx_strerror(FX_ERR_RATE_LIMITED));
    return false;
}

/* ---- Frames ------------------------------------------------------------------------------- */

/* One frame of a batch: received, decoded and (a PUBLISH) checked before any is handled. */
typedef struct {
    zmsg_t *msg;
    Fusion__Frame *frame; /* NULL when it did not decode */
    fx_err_t decoded;
    uint64_t request_id; /* the frame's, or when it did not decode, as s_request_id reads it */
    size_t parts;        /* of the agent's message (the routing id not counted): 1 */
    bool limited; /* over its principal's rate limit: refused, neither verified nor handled */
    publish_check_t check;
} batch_item_t;

/* The checks of one batch that go to the verify pool. */
typedef struct {
    publish_check_t *checks[BATCH_MAX];
    size_t count;
} batch_checks_t;

static void s_batch_check_one(void *arg, size_t index)
{
    batch_checks_t *checks = arg;
    publish_check_run(checks->checks[index]);
}

/* Reads one varint at *at (advanced past it); false if data ends first or it runs over 10
 * bytes. */
static bool s_varint(const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        v |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = v;
            return true;
        }
    }
    return false;
}

/* The request_id of a frame that did not decode (an unknown field or enumeration value inside
 * it, a second part): its field 1, read when the frame's outer level is well-formed protobuf
 * (each field's tag and length hold; the last request_id wins, as when decoding), so that the
 * ERROR reaches the request it answers. 0 when it cannot be read: bytes that are not a frame. */
static uint64_t s_request_id(const uint8_t *data, size_t len)
{
    const uint8_t *at = data, *end = data + len;
    uint64_t request_id = 0, tag, value;
    while (at < end) {
        if (!s_varint(&at, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
            return 0;
        switch (tag & 7) {
        case 0: /* varint */
            if (!s_varint(&at, end, &value))
                return 0;
            if ((tag >> 3) == 1)
                request_id = value;
            continue;
        case 1: /* 64 bits */
            value = 8;
            break;
        case 2: /* length-delimited */
            if (!s_varint(&at, end, &value))
                return 0;
            break;
        case 5: /* 32 bits */
            value = 4;
            break;
        default: /* groups, which the schema has none of, and invalid wire types */
            return 0;
        }
        if ((tag >> 3) == 1 || value > (uint64_t) (end - at))
            return 0; /* request_id is a varint: another wire type does not decode */
        at += value;
    }
    return request_id;
}

/* Receives frames until the socket is empty, max frames are in, or they hold BATCH_BYTES; the
 * byte bound keeps a batch of large messages (each decoded and copied once more) in memory.
 * The socket's receive timeout is 0 (s_bind): a receive from an empty socket returns NULL at
 * once, and one from a socket with frames waiting makes no system call, where asking for
 * ZMQ_EVENTS before each frame made two (libzmq polls its mailbox and checks for a fork). */
static size_t s_batch_receive(zsock_t *reader, batch_item_t *batch, size_t max)
{
    size_t n = 0, bytes = 0;
    while (n < max && bytes < BATCH_BYTES) {
        zmsg_t *msg = zmsg_recv(reader);
        if (!msg)
            break;
        batch_item_t *item = &batch[n++];
        memset(item, 0, sizeof *item);
        item->msg = msg;
        item->decoded = FX_ERR_MALFORMED;
        item->parts = zmsg_size(msg) - 1; /* a ROUTER message is [routing id][the agent's parts] */
        if (item->parts == 0)
            continue;
        zframe_t *payload = zmsg_first(msg);
        payload = zmsg_next(msg);
        if (item->parts != 1) { /* refused unread (s_handle); counted in the batch's bytes */
            for (zframe_t *part = payload; part; part = zmsg_next(msg))
                bytes += zframe_size(part);
            item->request_id = s_request_id(zframe_data(payload), zframe_size(payload));
            continue;
        }
        bytes += zframe_size(payload);
        item->decoded = fx_codec_decode(FX_MSG_FRAME, zframe_data(payload), zframe_size(payload),
                                        (void **) &item->frame);
        item->request_id = item->frame ? item->frame->request_id
                                       : s_request_id(zframe_data(payload), zframe_size(payload));
    }
    return n;
}

/* Decodes and verifies the batch's PUBLISH envelopes on the verify pool, the loop thread
 * working too. Only reads happen meanwhile: sessions, answers and the store wait for the
 * handling in arrival order, which then finds each check done (handle_publish). */
static void s_batch_check(server_t *self, batch_item_t *batch, size_t n)
{
    batch_checks_t checks = {.count = 0};
    int64_t now = fx_now_ms();
    for (size_t i = 0; i < n; i++) {
        batch_item_t *item = &batch[i];
        if (item->parts == 0)
            continue; /* not a message of an agent's: refused when handled, counted still */
        const char *user_id, *principal;
        fx_err_t why;
        const fx_cert_t *sender =
            s_authenticated(self, zmsg_last(item->msg), &user_id, &principal, &why);
        if (!sender)
            continue; /* refused when its session is resolved */
        /* The rate limit comes before any signature work, in arrival order, and counts frames
         * that do not decode too. Flow control that answers the broker's own deliveries is not
         * counted. */
        Fusion__Frame__BodyCase body =
            item->frame ? item->frame->body_case : FUSION__FRAME__BODY__NOT_SET;
        if (body != FUSION__FRAME__BODY_CREDIT && body != FUSION__FRAME__BODY_RECEIVED) {
            bool episode = false;
            if (!broker_ratelimit_take(self->limits, fx_cert_id(sender), now, &episode)) {
                item->limited = true;
                if (episode)
                    s_rate_limited_report(fx_cert_id(sender), 0, self);
                continue;
            }
        }
        if (self->failed || body != FUSION__FRAME__BODY_PUBLISH || !item->frame->publish->envelope)
            continue; /* a failed store refuses every PUBLISH: nothing to verify */
        item->check.message = item->frame->publish->envelope;
        item->check.sender = sender;
        checks.checks[checks.count++] = &item->check;
    }
    fx_pool_run(self->pool, s_batch_check_one, &checks, checks.count);
}

/* Refuses a frame over its principal's rate limit: REJECTED rate_limited for a PUBLISH (no
 * msg_id: nothing of it was checked, and nothing is remembered, so it may come again later),
 * ERROR rate_limited for anything else (frame NULL: one that did not decode). Nothing is
 * stored. */
static void s_refuse_rate_limited(server_t *self, session_t *session, const Fusion__Frame *frame,
                                  uint64_t request_id)
{
    const char *reason = fx_strerror(FX_ERR_RATE_LIMITED);
    if (!frame || frame->body_case != FUSION__FRAME__BODY_PUBLISH) {
        server_error(self, session, request_id, FX_ERR_RATE_LIMITED, reason);
        return;
    }
    Fusion__Frame answer = FUSION__FRAME__INIT;
    Fusion__Rejected rejected = FUSION__REJECTED__INIT;
    answer.request_id = frame->request_id;
    answer.body_case = FUSION__FRAME__BODY_REJECTED;
    answer.rejected = &rejected;
    rejected.code = (char *) fx_err_code(FX_ERR_RATE_LIMITED);
    rejected.reason = (char *) reason;
    rejected.rule = (char *) "";
    server_answer(self, session, &answer); /* in order with the sender's other answers */
}

/* The body an agent sent that the broker does not take from agents, for the log. */
static const char *s_body_name(Fusion__Frame__BodyCase body)
{
    switch (body) {
    case FUSION__FRAME__BODY__NOT_SET:
        return "a frame without a body (an empty message, or a request_id alone)";
    case FUSION__FRAME__BODY_PREPARED:
        return "a PREPARED frame";
    case FUSION__FRAME__BODY_ACCEPTED:
        return "an ACCEPTED frame";
    case FUSION__FRAME__BODY_REJECTED:
        return "a REJECTED frame";
    case FUSION__FRAME__BODY_SUBSCRIBED:
        return "a SUBSCRIBED frame";
    case FUSION__FRAME__BODY_DELIVER:
        return "a DELIVER frame";
    case FUSION__FRAME__BODY_EXPLAINED:
        return "an EXPLAINED frame";
    case FUSION__FRAME__BODY_DIRECTORY:
        return "a DIRECTORY frame";
    case FUSION__FRAME__BODY_ERROR:
        return "an ERROR frame";
    case FUSION__FRAME__BODY_RECEIPT:
        return "a RECEIPT frame";
    case FUSION__FRAME__BODY_CONSISTENCY:
        return "a CONSISTENCY frame";
    case FUSION__FRAME__BODY_CHECKPOINT:
        return "a CHECKPOINT frame";
    case FUSION__FRAME__BODY_SUBSCRIPTIONS:
        return "a SUBSCRIPTIONS frame";
    case FUSION__FRAME__BODY_REFERRALS:
        return "a REFERRALS frame";
    case FUSION__FRAME__BODY_EXERCISE_AUDIT:
        return "an EXERCISE_AUDIT frame";
    default:
        return "a frame of a kind the broker does not know";
    }
}

/* true for a principal's first note in table this tick (it is to be logged); otherwise counts
 * it, for the tick's report. */
static bool s_first_this_tick(zhashx_t *table, const char *principal)
{
    size_t *more = zhashx_lookup(table, principal);
    if (more) {
        (*more)++;
        return false;
    }
    zhashx_insert(table, principal, fx_calloc(1, sizeof *more));
    return true;
}

/* Logs a frame refused before any handler saw it (one that does not decode, a message of more
 * than one part, a body the broker does not take from agents): one line naming the principal,
 * what it sent and the code it was answered with. Only a principal's first refusal of each tick
 * is logged; the tick reports how many more (s_refusals_report), so a flood of bad frames, which
 * the rate limit already bounds, cannot flood the log. */
static void s_frame_refused(server_t *self, const session_t *session, const char *what,
                            fx_err_t code)
{
    self->metrics.frames_refused++;
    if (s_first_this_tick(self->refusals, session->principal))
        server_log(self, "%s sent %s: refused with %s", session->principal, what,
                   fx_err_code(code));
}

void server_received_unmatched(server_t *self, const session_t *session, const char *what)
{
    if (s_first_this_tick(self->received_unmatched, session->principal))
        server_log(self, "%s sent a RECEIVED %s", session->principal, what);
}

/* The exercise ids a count entry of exercise_audit_refused names, each with its refusals; the
 * refusals for any other id are counted in unlisted ("and N more"), so a principal asking for
 * many ids cannot make the entry large. */
#define AUDIT_REFUSED_IDS 3

/* A principal's EXERCISE_AUDIT_REQUESTs refused this tick after its first (audit_refused). */
typedef struct {
    size_t more; /* first, as s_first_this_tick counts */
    size_t n_ids;
    char ids[AUDIT_REFUSED_IDS][FX_STORE_EXERCISE_MAX];
    size_t id_refused[AUDIT_REFUSED_IDS];
    size_t unlisted;
} audit_refused_t;

void server_exercise_audit_refused(server_t *self, const session_t *session, const char *exercise)
{
    audit_refused_t *r = zhashx_lookup(self->audit_refused, session->principal);
    if (r) {
        r->more++;
        size_t i = 0;
        while (i < r->n_ids && strcmp(r->ids[i], exercise) != 0)
            i++;
        /* An id jansson does not take as a string (not UTF-8) is counted, never named. */
        json_t *text = i == r->n_ids && i < AUDIT_REFUSED_IDS ? json_string(exercise) : NULL;
        if (text) {
            snprintf(r->ids[i], sizeof r->ids[i], "%s", exercise);
            r->n_ids++;
            json_decref(text);
        }
        if (i < r->n_ids)
            r->id_refused[i]++;
        else
            r->unlisted++;
        return;
    }
    zhashx_insert(self->audit_refused, session->principal, fx_calloc(1, sizeof *r));
    if (server_begin(self))
        server_audit(self, "exercise_audit_refused", session->principal, exercise, NULL, NULL,
                     json_pack("{s:s}", "code", fx_err_code(FX_ERR_FORBIDDEN)));
    server_log(self, "%s was refused the audit trail of an exercise", session->principal);
}

/* The tick's report of the refusals s_frame_refused, the RECEIVED frames
 * server_received_unmatched, and the exercise audit requests server_exercise_audit_refused did
 * not log (and audit) one by one. */
static void s_refusals_report(server_t *self)
{
    for (size_t *more = zhashx_first(self->refusals); more; more = zhashx_next(self->refusals))
        if (*more > 0)
            server_log(self,
                       "refused %zu more frames of %s (a principal's first refused frame of each "
                       "second is logged)",
                       *more, (const char *) zhashx_cursor(self->refusals));
    zhashx_purge(self->refusals);
    for (size_t *more = zhashx_first(self->received_unmatched); more;
         more = zhashx_next(self->received_unmatched))
        if (*more > 0)
            server_log(self,
                       "%zu more RECEIVED frames of %s named no delivery to it (a principal's "
                       "first such RECEIVED of each second is logged)",
                       *more, (const char *) zhashx_cursor(self->received_unmatched));
    zhashx_purge(self->received_unmatched);
    for (size_t *more = zhashx_first(self->slow_frames); more;
         more = zhashx_next(self->slow_frames))
        if (*more > 0)
            server_log(self,
                       "%zu more frames of %s took more than limits.slow_frame (%lld ms) each (a "
                       "principal's first such frame of each second is logged)",
                       *more, (const char *) zhashx_cursor(self->slow_frames),
                       (long long) self->config->slow_frame);
    zhashx_purge(self->slow_frames);
    for (audit_refused_t *r = zhashx_first(self->audit_refused); r;
         r = zhashx_next(self->audit_refused)) {
        if (r->more == 0)
            continue;
        const char *principal = zhashx_cursor(self->audit_refused);
        server_log(self,
                   "%s was refused the audit trail of an exercise %zu more times (a principal's "
                   "first such refusal of each second is logged and audited)",
                   principal, r->more);
        /* The exercises asked for, as the first entry names its own in its subject: at most
         * AUDIT_REFUSED_IDS with their counts, the refusals for others in unlisted. */
        json_t *ids = json_object();
        for (size_t i = 0; i < r->n_ids; i++)
            json_object_set_new(ids, r->ids[i], json_integer((json_int_t) r->id_refused[i]));
        json_t *details = json_pack("{s:s, s:I, s:o}", "code", fx_err_code(FX_ERR_FORBIDDEN),
                                    "refused", (json_int_t) r->more, "exercises", ids);
        if (details && r->unlisted > 0)
            json_object_set_new(details, "unlisted", json_integer((json_int_t) r->unlisted));
        if (server_begin(self))
            server_audit(self, "exercise_audit_refused", principal, NULL, NULL, NULL, details);
        else
            json_decref(details);
    }
    zhashx_purge(self->audit_refused);
    /* Refused connections (s_session_for): the frames refused after the first, at most once a
     * REFUSED_REPORT_MS, and what is left when one has been silent for SESSION_IDLE_MS, when it
     * is forgotten (its next frame, if it comes, is logged and audited again). */
    if (zhashx_size(self->refused_peers) == 0)
        return;
    int64_t now = fx_now_ms();
    zlistx_t *idle = zlistx_new(); /* the keys, copied: deleting an entry frees its key */
    zlistx_set_duplicator(idle, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor(idle, (zlistx_destructor_fn *) zstr_free);
    for (refused_peer_t *p = zhashx_first(self->refused_peers); p;
         p = zhashx_next(self->refused_peers)) {
        bool silent = now - p->last_seen > SESSION_IDLE_MS;
        if (p->more > 0 && (silent || now - p->reported_at >= REFUSED_REPORT_MS)) {
            server_log(self,
                       "refused %zu more frames of %s on a connection refused before (%s; a "
                       "connection's first refused frame is logged and audited, the rest "
                       "counted in fusion_auth_refused_total)",
                       p->more, p->principal, fx_err_code(p->why));
            p->more = 0;
            p->reported_at = now;
        }
        if (silent)
            zlistx_add_end(idle, (void *) zhashx_cursor(self->refused_peers));
    }
    for (const char *key = zlistx_first(idle); key; key = zlistx_next(idle))
        zhashx_delete(self->refused_peers, key);
    zlistx_destroy(&idle);
}

/* Hands a decoded frame to its handler. */
static void s_dispatch(server_t *self, session_t *session, Fusion__Frame *frame, batch_item_t *item)
{
    uint64_t id = frame->request_id;
    switch (frame->body_case) {
    case FUSION__FRAME__BODY_PUBLISH:
        self->metrics.published++;
        handle_publish(self, session, id, frame->publish, &item->check);
        break;
    case FUSION__FRAME__BODY_PREPARE:
        handle_prepare(self, session, id, frame->prepare);
        break;
    case FUSION__FRAME__BODY_SUBSCRIBE:
        handle_subscribe(self, session, id, frame->subscribe);
        break;
    case FUSION__FRAME__BODY_UNSUBSCRIBE:
        handle_unsubscribe(self, session, id, frame->unsubscribe);
        break;
    case FUSION__FRAME__BODY_SUBSCRIPTIONS_REQUEST:
        handle_subscriptions(self, session, id);
        break;
    case FUSION__FRAME__BODY_CREDIT:
        handle_credit(self, session, frame->credit);
        break;
    case FUSION__FRAME__BODY_RECEIVED:
        handle_received(self, session, id, frame->received);
        break;
    case FUSION__FRAME__BODY_EXPLAIN:
        handle_explain(self, session, id, frame->explain);
        break;
    case FUSION__FRAME__BODY_DIRECTORY_REQUEST:
        handle_directory(self, session, id);
        break;
    case FUSION__FRAME__BODY_REFERRALS_REQUEST:
        handle_referrals(self, session, id, frame->referrals_request);
        break;
    case FUSION__FRAME__BODY_RECEIPT_REQUEST:
        handle_receipt_request(self, session, id, frame->receipt_request);
        break;
    case FUSION__FRAME__BODY_CONSISTENCY_REQUEST:
        handle_consistency_request(self, session, id, frame->consistency_request);
        break;
    case FUSION__FRAME__BODY_EXERCISE_AUDIT_REQUEST:
        handle_exercise_audit(self, session, id, frame->exercise_audit_request);
        break;
    default: {
        char what[160];
        snprintf(what, sizeof what, "%s, which the broker does not take from agents",
                 s_body_name(frame->body_case));
        s_frame_refused(self, session, what, FX_ERR_INVALID);
        server_error(self, session, id, FX_ERR_INVALID,
                     "the broker does not take this kind of frame from agents");
    } break;
    }
}

/* The name a frame's body has in the protocol (EXPLAIN, PUBLISH, ...), for the log. */
static void s_frame_name(Fusion__Frame__BodyCase body, char *out, size_t size)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(&fusion__frame__descriptor, (unsigned) body);
    const char *name = field ? field->name : "frame";
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        out[i] = (char) toupper((unsigned char) name[i]);
    out[i] = '\0';
}

/* A handler that held the loop thread, which every principal waits on, for more than
 * limits.slow_frame: counted (fusion_slow_frames_total) and logged, naming the principal, the
 * frame's type and the time; a principal's first of each tick is a line of its own, the rest a
 * count in the tick's report (s_refusals_report), so a principal sending many cannot flood the
 * log. */
static void s_slow_frame(server_t *self, const session_t *session, Fusion__Frame__BodyCase body,
                         int64_t took_us)
{
    if (took_us <= self->config->slow_frame * 1000)
        return;
    self->metrics.slow_frames++;
    char name[64];
    s_frame_name(body, name, sizeof name);
    if (!s_first_this_tick(self->slow_frames, session->principal))
        return;
    /* In us below 10 ms, else in ms with one decimal rounded up: the limit is whole ms, so the
     * time always reads over it (whole ms truncated, a frame over a 1 ms limit read "took 1
     * ms"). */
    char took[32];
    if (took_us < 10000)
        snprintf(took, sizeof took, "%lld us", (long long) took_us);
    else
        snprintf(took, sizeof took, "%lld.%lld ms", (long long) ((took_us + 99) / 1000),
                 (long long) ((took_us + 99) / 100 % 10));
    server_log(self,
               "%s's %s took %s of the broker's thread (limits.slow_frame: %lld ms): every "
               "principal waited meanwhile",
               session->principal, name, took, (long long) self->config->slow_frame);
}

static void s_handle(server_t *self, batch_item_t *item)
{
    zmsg_t *msg = item->msg;
    if (item->parts == 0)
        return; /* a routing id alone: nothing an agent sent */
    zframe_t *routing_id = zmsg_first(msg);
    zframe_t *payload = zmsg_next(msg);
    session_t *session = s_session_for(self, routing_id, payload, item->request_id);
    if (!session)
        return;
    Fusion__Frame *frame = item->frame;
    if (item->limited) {
        s_refuse_rate_limited(self, session, frame, item->request_id);
        return;
    }
    if (item->parts != 1) {
        /* Nothing of it is read: which part would be the frame? The ERROR carries the first
         * part's request_id if it can be read, the one the agent most likely waits for. */
        char what[96];
        snprintf(what, sizeof what, "a message of %zu parts (every message is one part)",
                 item->parts);
        s_frame_refused(self, session, what, FX_ERR_MALFORMED);
        server_error(self, session, item->request_id, FX_ERR_MALFORMED,
                     "every message to the broker is exactly one part: one encoded Frame");
        return;
    }
    if (item->decoded != FX_OK) {
        char what[160];
        snprintf(what, sizeof what, "a frame that does not decode (%s)",
                 fx_strerror(item->decoded));
        s_frame_refused(self, session, what, item->decoded);
        server_error(self, session, item->request_id, item->decoded, NULL);
        return;
    }
    int64_t started_us = zclock_usecs();
    s_dispatch(self, session, frame, item);
    s_slow_frame(self, session, frame->body_case, zclock_usecs() - started_us);
}

/* A frame whose writes promise nothing to anyone: a RECEIVED (the delivery's state and its
 * `received` entry; the agent waits for no answer, and if a crash loses them the message is
 * delivered again and the agent's inbox drops it by msg_id) or a CREDIT (no write). */
static bool s_promises_nothing(const batch_item_t *item)
{
    if (item->limited || item->decoded != FX_OK)
        return false;
    Fusion__Frame__BodyCase body = item->frame->body_case;
    return body == FUSION__FRAME__BODY_RECEIVED || body == FUSION__FRAME__BODY_CREDIT;
}

static int s_on_linger(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    self->linger_timer = 0; /* a timer of one run ends by itself */
    s_commit(self);
    return 0;
}

/* Frames that arrive together form one group: received (in chunks, see s_batch_receive),
 * checked in parallel, then handled one by one in arrival order, so each sender's frames keep
 * their order, and committed once. A group of acknowledgements only is not committed at once
 * but within COMMIT_LINGER_MS, with the next group if one comes: at 1,000 messages a second,
 * each message's RECEIVED used to cost a durable commit of its own, and the next PUBLISH waited
 * for its fsync. */
static int s_on_router(zloop_t *loop, zsock_t *reader, void *arg)
{
    server_t *self = arg;
    batch_item_t batch[BATCH_MAX];
    size_t handled = 0, n;
    bool promised = false;
    self->batch_received_us = zclock_usecs();
    self->holding_log = true;
    while (handled < BATCH_MAX && (n = s_batch_receive(reader, batch, BATCH_MAX - handled)) > 0) {
        s_batch_check(self, batch, n);
        for (size_t i = 0; i < n; i++) {
            s_handle(self, &batch[i]);
            promised = promised || !s_promises_nothing(&batch[i]);
            publish_check_clear(&batch[i].check);
            fx_codec_free(batch[i].frame);
            zmsg_destroy(&batch[i].msg);
        }
        handled += n;
    }
    /* The group's lines before its commit, where each used to be written as it came. */
    self->holding_log = false;
    s_log_flush(self);
    bool linger = !promised && zlistx_size(self->answers) == 0;
    if (linger && fx_store_in_transaction(self->store) && !self->linger_timer)
        self->linger_timer = zloop_timer(loop, COMMIT_LINGER_MS, 1, s_on_linger, self);
    if (!linger || self->linger_timer < 0)
        s_commit(self);
    /* The delivery round's marks and `delivered` entries ride in the next group's transaction
     * (or the tick's, within a second): a DELIVER does not wait for them, and a mark lost to a
     * crash only sends the message again, which the recipient's inbox drops by msg_id. */
    s_deliver_noted(self);
    return 0;
}

/* A peer failed the CURVE handshake (ZAP refused its key, or it spoke no CURVE). Logged and
 * audited, but only so many per tick: an unauthenticated peer must not be able to force a
 * durable write per attempt. The monitor's address is the broker's own endpoint the attempt came
 * in on, not the peer's (libzmq 4.3's monitor of version 1 does not give the peer's, and the key
 * stays inside zauth), so the entry's actor is unknown and its subject that endpoint. */
static int s_on_monitor(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    server_t *self = arg;
    zmsg_t *msg = zmsg_recv(reader);
    if (!msg)
        return 0;
    char *event = zmsg_popstr(msg), *value = zmsg_popstr(msg), *peer = zmsg_popstr(msg);
    self->metrics.auth_refused++;
    if (self->refused_this_tick++ < REFUSALS_PER_TICK) {
        server_log(self, "refused a connection to %s: %s", peer ? peer : "?",
                   event && strcmp(event, "HANDSHAKE_FAILED_AUTH") == 0
                       ? "its CURVE key is not an enrolled, valid principal"
                       : "it did not complete a CURVE handshake");
        if (server_begin(self))
            server_audit(self, "auth_refused", "?", peer, NULL, NULL,
                         json_pack("{s:s}", "event", event ? event : "?"));
        s_commit(self);
    } else {
        self->refused_suppressed++;
    }
    zstr_free(&event);
    zstr_free(&value);
    zstr_free(&peer);
    zmsg_destroy(&msg);
    return 0;
}

/* Forgets the deliveries in flight to session that were sent before sent_before, the ones the
 * store's retry (fx_store_delivery_reset, the same bound) made pending again: each goes again and
 * takes the window slot it held, and the others, not due yet, keep theirs. Forgetting every
 * delivery in flight when any was due let the next round fill the window with new ones beside
 * those still unacknowledged: with a window of 2, four in flight. A late RECEIVED for a forgotten
 * delivery is still recorded (through its msg_id). Returns how many were forgotten. */
static size_t s_retry_due(session_t *session, int64_t sent_before)
{
    zlistx_t *due = zlistx_new(); /* the keys, copied: deleting an entry frees its key */
    zlistx_set_duplicator(due, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor(due, (zlistx_destructor_fn *) zstr_free);
    for (in_flight_t *f = zhashx_first(session->in_flight); f; f = zhashx_next(session->in_flight))
        if (f->sent_at < sent_before)
            zlistx_add_end(due, (void *) zhashx_cursor(session->in_flight));
    size_t count = zlistx_size(due);
    for (const char *key = zlistx_first(due); key; key = zlistx_next(due)) {
        in_flight_t *f = zhashx_lookup(session->in_flight, key);
        session->in_flight_bytes -= f->bytes;
        zhashx_delete(session->in_flight, key);
    }
    zlistx_destroy(&due);
    return count;
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    server_t *self = arg;
    int64_t now = fx_now_ms();
    if (self->refused_suppressed > 0) {
        server_log(self,
                   "refused %d more connections, or frames of principals no longer admitted, "
                   "without logging each",
                   self->refused_suppressed);
        if (server_begin(self))
            server_audit(self, "auth_refused", "?", NULL, NULL, NULL,
                         json_pack("{s:i}", "suppressed", self->refused_suppressed));
        self->refused_suppressed = 0;
    }
    self->refused_this_tick = 0;
    broker_ratelimit_report(self->limits, now, s_rate_limited_report, self);
    s_refusals_report(self);
    /* Sessions silent for long are forgotten (a listening agent re-sends CREDIT often). */
    zlistx_t *idle = zlistx_new();
    for (session_t *s = zhashx_first(self->sessions); s; s = zhashx_next(self->sessions))
        if (now - s->last_seen > SESSION_IDLE_MS)
            zlistx_add_end(idle, s);
    for (session_t *s = zlistx_first(idle); s; s = zlistx_next(idle))
        s_session_drop(self, s);
    zlistx_destroy(&idle);
    audit_tree_checkpoint(self, false);
    /* Deliveries sent and not acknowledged within the retry interval go again, each by its own
     * last attempt (a live agent that never acknowledges one must not hold its window forever).
     * New deliveries need no timer: a PUBLISH, a CREDIT or a RECEIVED already triggers them. */
    for (session_t *s = zhashx_first(self->session_of); s; s = zhashx_next(self->session_of)) {
        if (zhashx_size(s->in_flight) == 0)
            continue;
        size_t reset = 0;
        if (!server_begin(self) ||
            fx_store_delivery_reset(self->store, s->principal, now - self->config->retry, &reset) !=
                FX_OK) {
            server_storage_failed(self);
            break;
        }
        if (s_retry_due(s, now - self->config->retry) > 0 || reset > 0)
            server_note_delivery(self, s->principal);
    }
    /* Referrals not acknowledged by their deadline: escalated once, before any pruning. */
    referral_escalate(self, now);
    s_commit(self);
    s_deliver_noted(self);
    s_commit(self);
    if (now >= self->next_prune && !self->failed) {
        size_t pruned = 0;
        if (fx_store_prune(self->store, now, 10000, &pruned) != FX_OK)
            server_storage_failed(self);
        else if (pruned)
            server_log(self, "pruned %zu expired messages", pruned);
        self->next_prune = now + self->config->prune_interval;
    }
    return 0;
}

static int s_on_pipe(zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    server_t *self = arg;
    char *command = zstr_recv(reader);
    if (!command || strcmp(command, "$TERM") == 0) {
        free(command);
        return -1;
    }
    if (strcmp(command, "RELOAD") == 0) {
        s_reload(self, 0);
        s_commit(self);
        zsock_signal(reader, 0);
    } else if (strcmp(command, "ENDPOINT") == 0) {
        zstr_send(reader, self->endpoint);
    } else {
        server_log(self, "unknown pipe command %s", command);
    }
    free(command);
    return 0;
}

/* ---- Start and stop ----------------------------------------------------------------------- */

static int s_load_subscription(const fx_store_subscription_t *row, void *arg)
{
    server_t *self = arg;
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    if (fx_route_pattern_parse(row->pattern, &pattern, why) != FX_OK) {
        server_log(self, "stored subscription %lld has an invalid pattern (%s); ignored",
                   (long long) row->id, why);
        return 0;
    }
    subscription_t *sub = fx_calloc(1, sizeof *sub);
    sub->id = row->id;
    snprintf(sub->principal, sizeof sub->principal, "%s", row->principal);
    sub->pattern = pattern;
    sub->stages = row->stages;
    sub->kinds = row->kinds;
    sub->exercise = fx_strdup(row->exercise);
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long) row->id);
    zhashx_update(self->subscriptions, key, sub);
    return fx_route_index_add(self->routes, pattern, (uint64_t) row->id) == FX_OK ? 0 : 1;
}

static void s_subscription_free(void **item)
{
    subscription_t *sub = *item;
    if (sub) {
        fx_route_pattern_destroy(&sub->pattern);
        free(sub->exercise);
        free(sub);
        *item = NULL;
    }
}

/* ZMQ_METADATA is in libzmq 4.3's draft API; Debian 12's libzmq takes it (checked), and one that
 * does not refuses it (EINVAL), which is said below. */
#ifndef ZMQ_METADATA
#define ZMQ_METADATA 95
#endif

/* Tells every agent, in the ZMTP handshake (a property of each message it receives), the largest
 * frame this broker takes: libzmq drops the connection on a frame over ZMQ_MAXMSGSIZE and its
 * monitor reports only ZMQ_EVENT_DISCONNECTED with the file descriptor, as for an agent that
 * closed its connection, so neither side would learn why. An agent that knows the limit refuses
 * a larger message itself, before PUBLISH. The figure is at most what a recipient can still
 * take (FX_MAX_PUBLISH_FRAME_BYTES): a larger message could be accepted and never delivered. */
static void s_advertise_max_frame(server_t *self, zsock_t *router)
{
    long long max_frame = self->config->max_message_bytes - FX_CURVE_FRAME_OVERHEAD;
    if (max_frame > (long long) FX_MAX_PUBLISH_FRAME_BYTES)
        max_frame = FX_MAX_PUBLISH_FRAME_BYTES;
    char property[64];
    int len = snprintf(property, sizeof property, "%s:%lld", FX_MAX_FRAME_PROPERTY, max_frame);
    if (zmq_setsockopt(zsock_resolve(router), ZMQ_METADATA, property, (size_t) len) != 0)
        server_log(self,
                   "cannot tell agents the largest frame it takes (%lld bytes): this libzmq "
                   "refuses ZMQ_METADATA (%s); a larger message only closes its connection",
                   max_frame, zmq_strerror(zmq_errno()));
}

static int s_bind(server_t *self)
{
    broker_config_t *config = self->config;
    self->router = zsock_new(ZMQ_ROUTER);
    zsock_t *router = self->router;
    /* Fail closed: a ZAP domain, enforced, so a missing handler refuses instead of admitting. */
    zsock_set_zap_domain(router, BROKER_ZAP_DOMAIN);
    zsock_set_zap_enforce_domain(router, 1);
    zsock_set_curve_server(router, 1);
    zsock_set_curve_secretkey_bin(router, fx_keys_curve_secret(self->keys));
    zsock_set_curve_publickey_bin(router, fx_keys_curve_public(self->keys));
    zsock_set_router_mandatory(router, 1);
    zsock_set_maxmsgsize(router, (int) config->max_message_bytes);
    s_advertise_max_frame(self, router);
    zsock_set_heartbeat_ivl(router, (int) config->heartbeat);
    zsock_set_heartbeat_timeout(router, (int) config->heartbeat_timeout);
    zsock_set_heartbeat_ttl(router, (int) config->heartbeat_timeout);
    zsock_set_handshake_ivl(router, (int) config->handshake);
    zsock_set_linger(router, 1000);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    zsock_set_rcvtimeo(router, 0); /* never blocks: read only when zloop says so */
    self->monitor = zactor_new(zmonitor, router);
    zstr_sendx(self->monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL",
               "HANDSHAKE_FAILED_NO_DETAIL", NULL);
    zstr_sendx(self->monitor, "START", NULL);
    zsock_wait(self->monitor);
    if (zsock_bind(router, "%s", config->endpoint) < 0) {
        int err = zmq_errno();
        server_log(self, "cannot bind %s: %s%s", config->endpoint, zmq_strerror(err),
                   err == EADDRINUSE ? IN_USE_HINT : "");
        return err == EADDRINUSE ? FX_EXIT_UNAVAILABLE : FX_EXIT_USAGE;
    }
    self->endpoint = zsock_last_endpoint(router);
    fx_err_t rc = config->endpoint_file ? fx_file_write(config->endpoint_file, self->endpoint,
                                                        strlen(self->endpoint), 0644, 0)
                                        : FX_OK;
    if (rc != FX_OK) {
        server_log(self, "cannot write %s: %s", config->endpoint_file,
                   fx_file_write_strerror(config->endpoint_file, rc));
        return FX_EXIT_SYSTEM;
    }
    server_log(self, "listening on %s", self->endpoint);
    return 0;
}

/* fusion_principals_connected: the principals heard from within transport.heartbeat_timeout
 * (CONNECTED_MIN_MS at least), a listening agent always. A session is kept longer
 * (SESSION_IDLE_MS), for its deliveries in flight, but one that went (a command that ended, an
 * agent stopped or cut off) is not counted: libzmq 4.3 tells the broker of a closed connection
 * only by a file descriptor (the socket monitor), never by routing id, unless built with its
 * draft API (ZMQ_ROUTER_NOTIFY). */
static int64_t s_connected(server_t *self, int64_t now)
{
    int64_t limit = self->config->heartbeat_timeout > CONNECTED_MIN_MS
                        ? self->config->heartbeat_timeout
                        : CONNECTED_MIN_MS;
    int64_t count = 0;
    for (session_t *s = zhashx_first(self->session_of); s; s = zhashx_next(self->session_of))
        if (now - s->last_seen <= limit)
            count++;
    return count;
}

/* The gauges of GET /metrics. Counting the store is linear in its rows, so its figures are
 * refreshed at most every GAUGES_MS; the connected principals are always current. */
static void s_gauges(void *arg, metrics_gauges_t *gauges)
{
    server_t *self = arg;
    int64_t now = fx_now_ms();
    if (!self->failed && (self->gauges_at == 0 || now - self->gauges_at >= GAUGES_MS)) {
        fx_store_stats_t stats;
        if (fx_store_stats(self->store, &stats) == FX_OK) {
            self->gauges.pending = stats.pending_deliveries;
            self->gauges.oldest_pending_age =
                stats.oldest_pending_at > 0 ? now - stats.oldest_pending_at : 0;
            self->gauges.stored_messages = stats.messages;
            self->gauges.audit_entries = stats.audit_entries;
            self->gauges.wal_checkpoints = stats.wal_checkpoints;
            self->gauges.wal_checkpoint_failures = stats.wal_checkpoint_failures;
            self->gauges_at = now;
        }
    }
    *gauges = self->gauges;
    gauges->connected = s_connected(self, now);
    gauges->storage_failed = self->failed;
}

/* Serves GET /metrics on the configured loopback address; the address as bound goes to
 * STATE_DIR/metrics-endpoint (port 0 picks a free one). */
static int s_metrics_start(server_t *self)
{
    if (!self->config->metrics)
        return 0;
    char bound[96], error[256], path[4096];
    self->metrics_http = metrics_http_new(self->loop, self->config->metrics, &self->metrics,
                                          s_gauges, self, bound, sizeof bound, error, sizeof error);
    if (!self->metrics_http) {
        int err = errno;
        server_log(self, "%s%s", error, err == EADDRINUSE ? IN_USE_HINT : "");
        return err == EADDRINUSE ? FX_EXIT_UNAVAILABLE : FX_EXIT_USAGE;
    }
    snprintf(path, sizeof path, "%s/metrics-endpoint", self->config->state_dir);
    fx_err_t rc = fx_file_write(path, bound, strlen(bound), 0644, 0);
    if (rc != FX_OK) {
        server_log(self, "cannot write %s: %s", path, fx_file_write_strerror(path, rc));
        return FX_EXIT_SYSTEM;
    }
    server_log(self, "metrics on http://%s/metrics", bound);
    return 0;
}

/* Whether the directory holds the broker's own certificate, valid and for its keys. FX_OK, or
 * why not: untrusted, revoked, outside its window or for other keys is a refusal for security;
 * no certificate at all, a broker not enrolled yet. */
static fx_err_t s_check_own_cert(server_t *self)
{
    const char *id = self->config->id;
    const fx_cert_t *own = NULL;
    fx_cert_status_t status = fx_directory_status(self->directory, id, &own);
    if (status == FX_CERT_STATUS_UNKNOWN) {
        /* A certificate file for the id that was skipped says why there is none. */
        char file[FX_ID_MAX + sizeof FX_REGION_CERT_SUFFIX + 1];
        snprintf(file, sizeof file, "/%s%s", id, FX_REGION_CERT_SUFFIX);
        for (size_t i = 0; i < fx_directory_problem_count(self->directory); i++) {
            const char *source, *detail;
            fx_err_t err = fx_directory_problem(self->directory, i, &source, &detail);
            size_t n = strlen(source), m = strlen(file);
            if (n >= m && strcmp(source + n - m, file) == 0 &&
                fx_err_exit(err) == FX_EXIT_REFUSED) {
                server_log(self, "refusing to start: %s: %s", source, detail);
                return err;
            }
        }
        /* Without REGION/directory/ the region itself is read as the directory of
         * certificates, which finds none: say what is missing rather than "enrol". */
        char cert_dir[4096];
        struct stat st;
        snprintf(cert_dir, sizeof cert_dir, "%s/%s", self->config->region, FX_REGION_CERT_DIR);
        int found = stat(cert_dir, &st) == 0;
        if (!found || !S_ISDIR(st.st_mode)) {
            server_log(self,
                       "the region %s has no directory of certificates: %s %s (copy the "
                       "region's directory/ there, beside authority.pub and revocations.crl)",
                       self->config->region, cert_dir,
                       found             ? "is not a directory"
                       : errno == ENOENT ? "does not exist"
                                         : strerror(errno));
            return FX_ERR_NOT_FOUND;
        }
        server_log(self,
                   "the directory has no valid certificate for %s; enrol the broker with "
                   "'fusion-admin enroll'",
                   id);
        return FX_ERR_NOT_FOUND;
    }
    if (status != FX_CERT_STATUS_VALID) {
        server_log(self, "refusing to start: the certificate of %s is %s", id,
                   status == FX_CERT_STATUS_REVOKED   ? "revoked"
                   : status == FX_CERT_STATUS_EXPIRED ? "expired"
                                                      : "not valid yet");
        return status == FX_CERT_STATUS_REVOKED   ? FX_ERR_REVOKED
               : status == FX_CERT_STATUS_EXPIRED ? FX_ERR_CERT_EXPIRED
                                                  : FX_ERR_CERT_NOT_YET_VALID;
    }
    if (strcmp(fx_keys_id(self->keys), id) != 0) {
        server_log(self, "the key file %s holds the keys of %s, not of %s", self->config->key_file,
                   fx_keys_id(self->keys), id);
        return FX_ERR_INVALID;
    }
    if (memcmp(fx_cert_curve_key(own), fx_keys_curve_public(self->keys), 32) != 0) {
        server_log(self,
                   "refusing to start: the key file %s does not hold the keys certified for %s "
                   "(keys regenerated after enrolment?)",
                   self->config->key_file, id);
        return FX_ERR_UNTRUSTED;
    }
    return FX_OK;
}

/* Whether the audit table holds only entries of the trail, and whether those after the latest
 * signed checkpoint hold as fusion-admin audit verify checks them. The Merkle tree is built from
 * entry 1 on, so a row numbered below 1, which no append writes, would never be read, checked
 * against a checkpoint or refused: someone inserted it while the broker was down. Entries after
 * the latest checkpoint (a broker that stopped cleanly signed over all of its own: these come from
 * one that did not, or were written behind its back) are signed over by the next checkpoint: one
 * altered so that it no longer matches its leaf hash or its links would then be in the signed
 * tree as it is. Entries up to the checkpoint are checked against it (audit_tree_start). 0, or -1
 * (logged). */
static int s_check_audit_rows(server_t *self)
{
    int64_t seq = 0;
    char event[FX_STORE_EVENT_MAX];
    fx_err_t rc = fx_store_audit_stray(self->store, &seq, event);
    if (rc == FX_OK) {
        server_log(self,
                   "refusing to start: the audit trail has a row with seq %lld (%s), which is not "
                   "an entry of the trail (entries run from 1): it was inserted while the broker "
                   "was down. Run 'fusion-admin audit verify %s' to find what else does not hold",
                   (long long) seq, event, self->config->database);
        return -1;
    }
    fx_store_checkpoint_t latest;
    int64_t signed_size = 0;
    char why[FX_STORE_WHY_SIZE];
    if (rc == FX_ERR_NOT_FOUND) {
        rc = fx_store_checkpoint_latest(self->store, &latest);
        signed_size = rc == FX_OK ? latest.tree_size : 0;
    }
    if (rc == FX_OK || rc == FX_ERR_NOT_FOUND)
        rc = fx_store_audit_check_from(self->store, signed_size + 1, &seq, why);
    if (rc != FX_OK) {
        server_log(self, "cannot read the audit trail of the store %s: %s", self->config->database,
                   fx_store_error_text(self->store));
        return -1;
    }
    if (seq > 0) {
        server_log(self,
                   "refusing to start: the audit trail does not hold after its latest signed "
                   "checkpoint (tree size %lld), and the next checkpoint would sign over it: %s. "
                   "Run 'fusion-admin audit verify %s' to find what else does not hold",
                   (long long) signed_size, why, self->config->database);
        return -1;
    }
    return 0;
}

/* 0 when the broker is ready; otherwise its exit code: 2 for a configuration, policy or
 * directory that is not valid, 3 for a refusal for security (key file permissions, a signature,
 * trust, revocation), 4 for a system error (a file that cannot be read, the store: one that does
 * not open, cannot be read, or holds an audit trail that no longer holds); -1 for the rest (the
 * endpoint or the metrics address cannot be bound), which is exit 2. */
static int s_start(server_t *self)
{
    broker_config_t *config = self->config;
    errno = 0;
    fx_err_t rc = fx_keys_load(config->key_file, &self->keys);
    if (rc != FX_OK) {
        server_log(self, "cannot load the broker's keys %s: %s", config->key_file,
                   s_why(rc, errno));
        return fx_err_exit(rc);
    }
    errno = 0;
    rc = fx_authority_key_load(config->authority_file, self->authority_key);
    if (rc != FX_OK) {
        server_log(self, "cannot load the authority key %s: %s", config->authority_file,
                   rc == FX_ERR_MALFORMED ? fx_authority_key_strerror(config->authority_file, rc)
                                          : s_why(rc, errno));
        return fx_err_exit(rc);
    }
    char why[FX_STORE_WHY_SIZE] = "";
    /* WAL checkpoints on the store's own thread: a commit never waits for one. */
    fx_store_options_t store_options = {.background_checkpoint = true};
    /* --check opens nothing for writing: it only reads what the start would refuse (a file that
     * is not a Fusion store, a newer schema), creating no file beside the database. */
    if (config->check_only
            ? fx_store_check_file(config->database, why) != FX_OK
            : fx_store_open(config->database, &store_options, &self->store, why) != FX_OK) {
        server_log(self, "cannot open the store %s: %s", config->database, why);
        return FX_EXIT_SYSTEM; /* a storage fault, not a configuration mistake */
    }
    /* Before the loads below append their audit entries (rolled back if the start fails). */
    if (!config->check_only && s_check_audit_rows(self) != 0)
        return FX_EXIT_SYSTEM;
    if ((rc = s_reload(self, 1)) != FX_OK || (rc = s_check_own_cert(self)) != FX_OK)
        return fx_err_exit(rc);
    if (config->check_only)
        return 0;
    /* From here on, what fails at start is the store (a read, a commit, an audit trail that no
     * longer holds): exit 4, as for a store that does not open. */
    if (fx_store_subscription_each(self->store, NULL, s_load_subscription, self) != FX_OK) {
        server_log(self, "cannot read subscriptions from the store %s: %s", config->database,
                   fx_store_error_text(self->store));
        return FX_EXIT_SYSTEM;
    }
    /* The loop thread is one of the pool's threads: workers: 1 starts none. */
    self->pool = fx_pool_new((size_t) config->workers);
    server_log(self, "verifying signatures on %zu threads", fx_pool_threads(self->pool));
    if (audit_tree_start(self) != 0)
        return FX_EXIT_SYSTEM; /* logged: unreadable, or not matching its latest checkpoint */
    /* A restart: every connection is new, so what was in flight goes again on reconnect. */
    int bound = s_bind(self);
    if (bound == 0)
        bound = s_metrics_start(self);
    if (bound != 0)
        return bound;
    s_commit(self);
    return self->failed ? FX_EXIT_SYSTEM : 0;
}

void broker_server_actor(zsock_t *pipe, void *args)
{
    server_t self = {.config = args, .pipe = pipe};
    self.by_curve_key = zhashx_new();
    zhashx_set_destructor(self.by_curve_key, (zhashx_destructor_fn *) zstr_free);
    self.sessions = zhashx_new();
    zhashx_set_destructor(self.sessions, s_session_free);
    self.session_of = zhashx_new();
    self.subscriptions = zhashx_new();
    zhashx_set_destructor(self.subscriptions, s_subscription_free);
    self.routes = fx_route_index_new();
    self.answers = zlistx_new();
    zlistx_set_destructor(self.answers, s_queued_free);
    self.to_deliver = zlistx_new();
    zlistx_set_destructor(self.to_deliver, (zlistx_destructor_fn *) zstr_free);
    self.limits = broker_ratelimit_new(self.config->rate, (double) self.config->burst);
    self.refusals = zhashx_new();
    zhashx_set_destructor(self.refusals, s_in_flight_free); /* frees a size_t as well */
    self.received_unmatched = zhashx_new();
    zhashx_set_destructor(self.received_unmatched, s_in_flight_free);
    self.slow_frames = zhashx_new();
    zhashx_set_destructor(self.slow_frames, s_in_flight_free);
    self.audit_refused = zhashx_new();
    zhashx_set_destructor(self.audit_refused, s_in_flight_free);
    self.refused_peers = zhashx_new();
    zhashx_set_destructor(self.refused_peers, s_in_flight_free);

    self.loop = zloop_new();
    zsock_signal(pipe, 0); /* zactor_new's handshake; the second signal says how start went */
    int started = s_start(&self);
    /* The second signal carries the exit status: usage for a bad setup, system for the store. */
    zsock_signal(pipe, (byte) (started == 0 ? 0 : started > 0 ? started : FX_EXIT_USAGE));
    if (started != 0 || self.config->check_only) {
        /* An actor answers $TERM even when it has nothing to run (zactor_destroy waits). */
        char *command = NULL;
        while ((command = zstr_recv(pipe)) && strcmp(command, "$TERM") != 0)
            zstr_free(&command);
        zstr_free(&command);
    } else {
        zloop_set_nonstop(self.loop, true); /* only $TERM stops the broker */
        zloop_reader(self.loop, pipe, s_on_pipe, &self);
        zloop_reader(self.loop, self.router, s_on_router, &self);
        zloop_reader(self.loop, zactor_sock(self.monitor), s_on_monitor, &self);
        zloop_timer(self.loop, TICK_MS, 0, s_on_tick, &self);
        zloop_start(self.loop);
        audit_tree_checkpoint(&self, true); /* the shutdown checkpoint */
        s_commit(&self);
        server_log(&self, "stopped");
    }
    audit_tree_destroy(&self);
    metrics_http_destroy(&self.metrics_http);
    zloop_destroy(&self.loop);
    fx_pool_destroy(&self.pool);
    broker_ratelimit_destroy(&self.limits);
    zhashx_destroy(&self.refusals);
    zhashx_destroy(&self.received_unmatched);
    zhashx_destroy(&self.slow_frames);
    zhashx_destroy(&self.audit_refused);
    zhashx_destroy(&self.refused_peers);
    zactor_destroy(&self.monitor);
    zsock_destroy(&self.router);
    zstr_free(&self.endpoint);
    zlistx_destroy(&self.to_deliver);
    zlistx_destroy(&self.answers);
    zhashx_destroy(&self.session_of);
    zhashx_destroy(&self.sessions);
    zhashx_destroy(&self.subscriptions);
    fx_route_index_destroy(&self.routes);
    zhashx_destroy(&self.by_curve_key);
    free(self.directory_frame);
    fx_store_destroy(&self.store);
    fx_policy_destroy(&self.policy);
    fx_directory_destroy(&self.directory);
    fx_keys_destroy(&self.keys);
}

void server_policy_message(const Fusion__Header *header, fx_policy_section_t *sections,
                           fx_policy_message_t *message)
{
    memset(message, 0, sizeof *message);
    for (size_t i = 0; i < header->n_sections; i++) {
        const Fusion__SectionDescriptor *d = header->sections[i];
        sections[i].id = d->id;
        sections[i].tlp = (int) d->tlp;
        sections[i].categories = 0;
        for (size_t c = 0; c < d->n_categories; c++)
            sections[i].categories |= 1u << d->categories[c];
    }
    for (size_t i = 0; i < header->n_handling; i++)
        message->handling |= 1u << header->handling[i];
    message->kind = (int) header->kind;
    message->audience = (int) header->audience;
    message->purpose = (int) header->purpose;
    message->subject_role = (int) header->subject_role;
    message->stage = (int) header->stage;
    message->urgency = (int) header->urgency;
    message->consent = header->consent ? 1 : 0;
    message->route = header->route;
    message->exercise = header->exercise;
    message->taskforce = header->taskforce;
    message->agreement = header->agreement;
    message->sections = sections;
    message->section_count = header->n_sections;
}
