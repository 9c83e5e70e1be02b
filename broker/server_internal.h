/* The broker's state, shared by the actor (server.c) and the one-per-message handlers
 * (handle_*.c). Private to fusion-broker. */
#ifndef FUSION_BROKER_SERVER_INTERNAL_H
#define FUSION_BROKER_SERVER_INTERNAL_H

#include <czmq.h>
#include <stdbool.h>

#include "config.h"
#include "ratelimit.h"
#include "fusion/codec.h"
#include "fusion/directory.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/policy.h"
#include "fusion/route.h"
#include "fusion/store.h"
#include "fusion/pool.h"
#include "metrics.h"

#define LOG_HELD_BYTES (16 * 1024) /* log lines of one group held at most, then written */

/* A DELIVER sent and not yet RECEIVED. */
typedef struct {
    size_t bytes;    /* its frame's */
    int64_t seq;     /* its delivery's (fx_store_pending_t.seq) */
    int64_t sent_at; /* the attempt's time, as the store recorded it (fx_store_delivery_sent) */
    uint8_t header_digest[FX_STORE_DIGEST_BYTES]; /* its message's, for the "received" entry */
} in_flight_t;

/* One connection of a principal (a ROUTER routing id). */
typedef struct {
    zframe_t *routing_id;
    char principal[FX_ID_MAX];
    size_t window;          /* the agent's CREDIT: most DELIVERs in flight */
    zhashx_t *in_flight;    /* DELIVERs sent and not yet RECEIVED: msg_id (hex) -> in_flight_t */
    size_t in_flight_bytes; /* their sum, held in the transport's queues at worst */
    bool drained;           /* the last delivery round sent everything pending in the store */
    bool noted;             /* in the server's to_deliver list */
    int64_t last_seen;
} session_t;

/* A subscription held in memory for route resolution (the store has the durable copy). */
typedef struct {
    int64_t id;
    char principal[FX_ID_MAX];
    fx_route_pattern_t *pattern;
    uint32_t stages, kinds;
    char *exercise; /* "" for live traffic */
} subscription_t;

/* An answer that waits for the group commit. */
typedef struct {
    zframe_t *routing_id;
    Fusion__Frame *frame; /* built with fx_malloc'd strings; freed by s_pending_free */
    uint8_t *bytes;       /* the encoded frame */
    size_t len;
    bool is_publish_answer;
    uint64_t request_id;
    uint8_t msg_id[FX_MSG_ID_BYTES];
} answer_t;

/* A PUBLISH's envelope decoded and its signature and ciphertext hashes verified ahead of
 * handle_publish, on any thread: pure work on inputs the loop thread gathered, so a batch's
 * checks can run on the verify pool while the loop thread keeps the sockets and the store. */
typedef struct {
    const Fusion__Envelope *message; /* in the decoded frame (not owned) */
    const fx_cert_t *sender;         /* the authenticated principal's certificate (not owned) */
    bool done;                       /* publish_check_run ran with these inputs */
    fx_err_t decoded;                /* fx_envelope_borrow's answer */
    fx_err_t verified;  /* fx_envelope_verify's, or FX_ERR_SENDER_MISMATCH when not tried */
    fx_envelope_t *env; /* owned; reads message, so freed before the frame; NULL unless decoded */
} publish_check_t;

/* Decodes check->message and verifies it against check->sender; thread-safe (it reads only its
 * inputs, which nobody writes while it runs, and writes only *check). */
void publish_check_run(publish_check_t *check);
/* Frees what the check holds and zeroes it. */
void publish_check_clear(publish_check_t *check);

/* A connection refused in s_session_for (server_t.refused_peers). */
typedef struct {
    char principal[FX_ID_MAX]; /* or "an unknown key" */
    fx_err_t why;
    size_t more;         /* frames refused since the first, or since the last report */
    int64_t last_seen;   /* ms: forgotten after SESSION_IDLE_MS of silence */
    int64_t reported_at; /* ms: the count is logged every REFUSED_REPORT_MS at most */
} refused_peer_t;

typedef struct {
    broker_config_t *config;
    zsock_t *pipe;
    zsock_t *router;
    zactor_t *monitor; /* failed CURVE handshakes on the router, for the log and the audit */
    int refused_this_tick, refused_suppressed;
    zloop_t *loop;
    char *endpoint; /* as bound */

    fx_keys_t *keys;                     /* the broker's own keys */
    uint8_t authority_key[FX_KEY_BYTES]; /* pinned */
    fx_directory_t *directory;
    zhashx_t *by_curve_key;   /* Z85 CURVE key -> principal id (strdup'd) */
    uint8_t *directory_frame; /* the encoded DIRECTORY answer body, cached */
    size_t directory_frame_len;
    fx_policy_t *policy;
    uint8_t policy_digest[32];
    fx_store_t *store;
    fx_route_index_t *routes;
    zhashx_t *subscriptions; /* id (as key string) -> subscription_t */

    zhashx_t *sessions;   /* routing id (hex) -> session_t */
    zhashx_t *session_of; /* principal -> session_t (the latest connection) */

    zlistx_t *answers;    /* answer_t waiting for the commit */
    zlistx_t *to_deliver; /* principal ids with new deliveries (strdup'd) */
    bool failed;          /* the store failed: no more accepting */
    fx_pool_t *pool;      /* runs a batch's publish checks on config->workers threads */
    metrics_t metrics;    /* counters for GET /metrics and fusion-admin status */
    metrics_http_t *metrics_http;
    metrics_gauges_t gauges; /* the store's figures, counted at most every GAUGES_MS */
    int64_t gauges_at;
    int64_t batch_received_us; /* when the group being handled was received */
    bool replaying;   /* the PUBLISH answer being sent is a replay's (metrics: not counted again) */
    int linger_timer; /* the zloop timer that commits a group of acknowledgements */
    /* Log lines of the group being handled, written together before its commit (server_log). */
    char held_log[LOG_HELD_BYTES];
    size_t held_log_len;
    bool holding_log;
    broker_ratelimit_t *limits; /* per-principal token buckets (limits.rate, limits.burst) */
    /* Principals with a frame refused this tick (s_frame_refused): its first is logged, the
     * rest counted here (size_t) and reported by the tick. */
    zhashx_t *refusals;
    /* The same for RECEIVED frames that name no delivery of their principal's
     * (server_received_unmatched). */
    zhashx_t *received_unmatched;
    /* The same for frames whose handler took longer than limits.slow_frame (s_slow_frame). */
    zhashx_t *slow_frames;
    /* The same for EXERCISE_AUDIT_REQUESTs refused (server_exercise_audit_refused), whose first
     * of each tick is audited too, and the rest one entry with the count. */
    zhashx_t *audit_refused;
    /* Connections whose frames are refused because their key is no valid principal any more
     * (revoked, expired, gone from the directory; s_session_for): routing id (hex) ->
     * refused_peer_t. The first refused frame is logged and audited, the rest counted and
     * reported by the tick (s_refusals_report). */
    zhashx_t *refused_peers;
    int64_t next_prune;
    struct audit_tree *audit; /* the audit trail's Merkle tree and checkpoints (audit_tree.c) */
} server_t;

/* Handlers: each takes ownership of nothing; frames they answer go through the queue below.
 * handle_publish uses check when it was run for this session's certificate (and takes its
 * envelope), and runs it inline otherwise. */
void handle_publish(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Publish *publish, publish_check_t *check);
void handle_prepare(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Prepare *prepare);
void handle_subscribe(server_t *self, session_t *session, uint64_t request_id,
                      const Fusion__Subscribe *subscribe);
void handle_unsubscribe(server_t *self, session_t *session, uint64_t request_id,
                        const Fusion__Unsubscribe *unsubscribe);
/* Answers SUBSCRIPTIONS with the principal's own route subscriptions. */
void handle_subscriptions(server_t *self, session_t *session, uint64_t request_id);
void handle_credit(server_t *self, session_t *session, const Fusion__Credit *credit);
/* request_id: the frame's, for the ERROR of a msg_id that is not 16 bytes. */
void handle_received(server_t *self, session_t *session, uint64_t request_id,
                     const Fusion__Received *received);
/* Logs a RECEIVED that names no delivery of the session's principal (what: why, after "sent a
 * RECEIVED "): only a principal's first of each tick is a line of its own, the rest a count in
 * the tick's report, so a flood of them cannot flood the log. */
void server_received_unmatched(server_t *self, const session_t *session, const char *what);
/* Logs and audits (exercise_audit_refused) an EXERCISE_AUDIT_REQUEST refused to the session's
 * principal: only its first of each tick is a line and an entry of its own, the rest are one line
 * and one entry with their count ("refused") in the tick's report, as refusals over the rate
 * limit are, so a principal repeating the request cannot grow the audit trail a second time
 * per request. */
void server_exercise_audit_refused(server_t *self, const session_t *session, const char *exercise);
void handle_explain(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Explain *explain);
void handle_directory(server_t *self, session_t *session, uint64_t request_id);
void handle_receipt_request(server_t *self, session_t *session, uint64_t request_id,
                            const Fusion__ReceiptRequest *request);
void handle_consistency_request(server_t *self, session_t *session, uint64_t request_id,
                                const Fusion__ConsistencyRequest *request);
/* Answers EXERCISE_AUDIT with an exercise's audit entries, to a trainer of that exercise only
 * (handle_exercise.c). */
void handle_exercise_audit(server_t *self, session_t *session, uint64_t request_id,
                           const Fusion__ExerciseAuditRequest *request);

/* The valid principals a message's audience reaches, as PREPARE resolves them (route
 * subscribers, focal points, every principal for a taskforce), into candidates (const fx_cert_t
 * *, not owned); none for audience direct. 0, or -1 for a draft PREPARE would refuse. */
int prepare_audience(server_t *self, const char *sender, const Fusion__Header *header,
                     zlistx_t *candidates);

/* The referral workflow and onward sharing (handle_referral.c). workflow_check runs before a
 * PUBLISH is stored: 0, or -1 with a code and reason (FX_STORE_CODE_MAX / FX_STORE_REASON_MAX
 * bytes) to reject it with. workflow_record runs in the message's savepoint once it is stored
 * (referral tracking, response states, audit entries); false after a storage error.
 * referral_received notes a referral committed by a recipient; referral_escalate (the tick)
 * escalates overdue referrals once; handle_referrals answers REFERRALS_REQUEST. */
int workflow_check(server_t *self, const fx_envelope_t *env, const fx_cert_t *sender,
                   zlistx_t *recipients, char *code, char *reason);
bool workflow_record(server_t *self, const fx_envelope_t *env, const uint8_t *digest,
                     zlistx_t *recipients);
void referral_received(server_t *self, const char *principal, const uint8_t *msg_id,
                       const uint8_t *header_digest);
void referral_escalate(server_t *self, int64_t now);
void handle_referrals(server_t *self, session_t *session, uint64_t request_id,
                      const Fusion__ReferralsRequest *request);

/* Queues an answer to go out after the group commit (or at once if nothing is being
 * committed). Takes ownership of frame's heap strings via answer_frame_free. */
void server_answer(server_t *self, session_t *session, Fusion__Frame *frame);
/* Answers ERROR with code and reason. */
void server_error(server_t *self, session_t *session, uint64_t request_id, fx_err_t err,
                  const char *reason);
/* The limits of what one message may carry, as PUBLISH enforces them (the envelope's
 * FX_ENVELOPE_MAX_SECTIONS sections, FX_ENVELOPE_MAX_RECIPIENTS recipients), applied to what an
 * EXPLAIN query or a PREPARE draft asks about (what: "the query", "the draft") before any
 * decision is made: false, with the figure and the maximum in why, when one is over. */
bool server_within_message_limits(size_t n_sections, size_t n_recipients, const char *what,
                                  char *why, size_t why_size);
/* Charges the session's principal, whose frame took one token of its rate limit, for the policy
 * decisions its handler is about to make (one token per DECISIONS_PER_TOKEN, server.c), before
 * it makes them: true to go on; false when its bucket does not hold them, after answering ERROR
 * rate_limited and reporting the refusal as any frame over the limit is. */
bool server_charge(server_t *self, session_t *session, uint64_t request_id, size_t decisions);
/* The same charge, answering nothing: false when refused, after reporting the refusal (a
 * PUBLISH answers REJECTED rate_limited itself). */
bool server_charge_decisions(server_t *self, const session_t *session, size_t decisions);
/* Sends an answer the way server_answer does if its encoding fits in what an agent accepts
 * (FX_MAX_FRAME_BYTES); otherwise answers ERROR too_large naming its size, the maximum and
 * what to ask instead (hint), and returns false. */
bool server_answer_within_frame(server_t *self, session_t *session, Fusion__Frame *frame,
                                const char *hint);
/* Starts the group transaction if none is open. false when the store has failed. */
bool server_begin(server_t *self);
/* Marks the store failed after an error (logs it once). */
void server_storage_failed(server_t *self);
/* Notes that principal has new deliveries to push after the commit. */
void server_note_delivery(server_t *self, const char *principal);
/* Notes that a session has room for more deliveries (a RECEIVED or a CREDIT): pushed after the
 * commit if the store may hold more for it. */
void server_note_room(server_t *self, session_t *session);
/* Pushes pending deliveries to principal's session within its window and byte budget. */
void server_deliver(server_t *self, const char *principal);
/* Appends an audit entry in the open transaction; false (and the store failed) on error. */
bool server_audit(server_t *self, const char *event, const char *actor, const char *subject,
                  const uint8_t *msg_id, const uint8_t *digest, json_t *details);
/* entry, for a store call that appends it with the state it records (a delivery's); NULL in
 * the bench-only build without the audit (tests/bench's fusion-broker-noaudit). */
const fx_store_audit_entry_t *server_audited(const fx_store_audit_entry_t *entry);
/* The same with details already written as the text of a JSON object (or NULL). */
bool server_audit_text(server_t *self, const char *event, const char *actor, const char *subject,
                       const uint8_t *msg_id, const uint8_t *digest, const char *details);
/* The same, filing an entry that concerns no stored message under an exercise (non-empty; NULL
 * or "" files nothing), so that its trainers find it (an exercise's subscriptions). */
bool server_audit_exercise(server_t *self, const char *exercise, const char *event,
                           const char *actor, const char *subject, const uint8_t *msg_id,
                           const uint8_t *digest, json_t *details);
/* Copies a stored audit entry into a wire entry (strings and bytes owned by it). */
void server_audit_entry_fill(Fusion__AuditEntry *wire, const fx_store_audit_entry_t *entry);
/* Frees what server_audit_entry_fill put in count wire entries, then the array. */
void server_audit_entries_free(Fusion__AuditEntry *wire, size_t count);
/* Fills a policy principal from a certificate. */
void server_principal(const fx_cert_t *cert, fx_policy_principal_t *principal);
/* One log line on stderr; while a group is handled, held with the group's other lines and
 * written with them before its commit or the first frame sent, whichever comes first. */
void server_log(server_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fills a policy message from a (draft) header; sections must hold header->n_sections. */
void server_policy_message(const Fusion__Header *header, fx_policy_section_t *sections,
                           fx_policy_message_t *message);

#endif
