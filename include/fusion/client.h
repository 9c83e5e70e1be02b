/* The agent's side of the client protocol (docs/protocol.md): a CURVE DEALER connection to the
 * broker, whose key comes only from an authority-signed broker certificate, with blocking
 * request/answer calls matched by request_id and a queue of the DELIVERs that arrive meanwhile.
 * Every byte from the broker is treated as hostile: sizes are capped, frames decoded strictly. */
#ifndef FUSION_CLIENT_H
#define FUSION_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/cert.h"
#include "fusion/codec.h"
#include "fusion/directory.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/util.h"

/* Transport settings (milliseconds unless said otherwise). */
#define FX_CLIENT_HEARTBEAT_IVL_MS     2000 /* ZMTP PING interval */
#define FX_CLIENT_HEARTBEAT_TIMEOUT_MS 6000 /* no traffic for this long: reconnect */
#define FX_CLIENT_RECONNECT_IVL_MS     100  /* first reconnect attempt */
#define FX_CLIENT_RECONNECT_MAX_MS     2000 /* reconnect back-off ceiling */
#define FX_CLIENT_LINGER_MS            500  /* time to flush RECEIVEDs when closing */
#define FX_CLIENT_CREDIT_INTERVAL_MS   3000 /* the window is re-sent this often */
#define FX_CLIENT_MAX_QUEUED           256  /* DELIVERs held while waiting for an answer */

/* The most bytes of a code, rule or reason kept from an answer (longer ones are cut). */
#define FX_CLIENT_CODE_MAX   64
#define FX_CLIENT_RULE_MAX   128
#define FX_CLIENT_REASON_MAX 1024

typedef struct fx_client fx_client_t;
typedef struct fx_prepared fx_prepared_t;
typedef struct fx_delivery fx_delivery_t;

/* What the broker said when it refused a request (REJECTED or ERROR). refused is 0 when the
 * broker did not refuse (the call succeeded, or failed locally or in transport). Strings are
 * printable ASCII: anything else the broker sent is shown as '?'. */
typedef struct {
    int refused;
    char code[FX_CLIENT_CODE_MAX];
    char rule[FX_CLIENT_RULE_MAX];
    char reason[FX_CLIENT_REASON_MAX];
} fx_answer_t;

/* Reads and verifies the broker's certificate file against the pinned authority key at now_ms.
 * The errors of fx_file_read and fx_cert_verify. *cert_p is new. */
fx_err_t fx_broker_cert_load(const char *path, const uint8_t authority_key[FX_KEY_BYTES],
                             int64_t now_ms, fx_cert_t **cert_p) FX_WUR;

/* Connects (asynchronously: the calls below wait for the connection) to the broker at endpoint
 * (tcp://HOST:PORT or ipc://PATH) as the principal of keys, authenticating the broker by the
 * CURVE key of its verified certificate. keys must outlive the client. FX_ERR_INVALID for a bad
 * endpoint. *client_p is new. */
fx_err_t fx_client_new(const char *endpoint, const fx_keys_t *keys, const fx_cert_t *broker_cert,
                       fx_client_t **client_p) FX_WUR;

/* Closes the connection (lingering FX_CLIENT_LINGER_MS to flush acknowledgements), frees
 * queued deliveries; sets *self_p to NULL. Accepts NULL. */
void fx_client_destroy(fx_client_t **self_p);

/* A sentence on the state of the transport, for messages when a call timed out ("no connection
 * to tcp://...", "the broker refused this principal's CURVE key ...", "connected"). */
const char *fx_client_status(const fx_client_t *self);

/* 1 when the broker's last answer to a CURVE handshake was a refusal of this principal's key
 * (ZAP: not enrolled, revoked or expired), or when it answered a frame on the open connection
 * with ERROR unauthenticated, revoked or cert_expired (the principal was revoked, or its
 * certificate expired, while connected), until a handshake succeeds. */
int fx_client_key_refused(const fx_client_t *self);

/* 1 once the process received SIGINT or SIGTERM (CZMQ's handler records them; the waits below
 * then return at once, so a command can stop cleanly). */
int fx_client_interrupted(void);

/* How many times a CURVE handshake with the broker has succeeded on this client. */
uint64_t fx_client_connections(const fx_client_t *self);

/* ---- Requests: each blocks up to timeout_ms; FX_ERR_UNAVAILABLE when no answer came in time.
 * When the broker refuses, answer (which may be NULL) is filled in and the call returns the
 * fx_err_t of the broker's code (FX_ERR_FORBIDDEN for policy codes such as no_permit).
 * FX_ERR_MALFORMED when the broker's answer breaks the protocol. */

/* PREPARE: asks who may receive each section of draft (a header without msg_id, times or
 * hashes; sections carry id, tlp and categories) and, for audience direct, recipients (principal
 * or agency ids). Every allowed certificate is verified against authority_key at now_ms and, when
 * revocations is not NULL, checked against it; one that fails is reported as a denial with code
 * "bad_certificate". *prepared_p is new. */
fx_err_t fx_client_prepare(fx_client_t *self, const Fusion__Header *draft,
                           const char *const *recipients, size_t n_recipients,
                           const uint8_t authority_key[FX_KEY_BYTES],
                           const fx_revocations_t *revocations, int64_t now_ms, int timeout_ms,
                           fx_prepared_t **prepared_p, fx_answer_t *answer) FX_WUR;

/* PUBLISH: FX_OK when the broker answered ACCEPTED for this envelope's msg_id; on REJECTED the
 * answer carries code, rule and reason. FX_ERR_TOO_LARGE, with nothing sent, when its frame is
 * larger than fx_client_max_frame (when known). */
fx_err_t fx_client_publish(fx_client_t *self, const fx_envelope_t *envelope, int timeout_ms,
                           fx_answer_t *answer) FX_WUR;

/* The largest frame the broker takes (its max_message_bytes less FX_CURVE_FRAME_OVERHEAD, at most
 * FX_MAX_PUBLISH_FRAME_BYTES), as it said in the handshake (FX_MAX_FRAME_PROPERTY) of the
 * connection the latest message came on; 0 when unknown (nothing received yet, or a broker that
 * does not say). A larger frame is dropped by the broker's transport with the connection, without
 * an answer. */
size_t fx_client_max_frame(const fx_client_t *self);

/* The size of the PUBLISH frame fx_client_publish would send now for envelope, as encoded. */
size_t fx_client_publish_size(const fx_client_t *self, const fx_envelope_t *envelope);

/* SUBSCRIBE to a route pattern; stages and kinds are bit masks (bit v for value v; 0: all),
 * exercise NULL or "" for live traffic. FX_OK when the broker confirmed it. */
fx_err_t fx_client_subscribe(fx_client_t *self, const char *pattern, uint32_t stages,
                             uint32_t kinds, const char *exercise, int timeout_ms,
                             fx_answer_t *answer) FX_WUR;

/* UNSUBSCRIBE from a route pattern (FX_ERR_NOT_FOUND when there was no such subscription). */
fx_err_t fx_client_unsubscribe(fx_client_t *self, const char *pattern, const char *exercise,
                               int timeout_ms, fx_answer_t *answer) FX_WUR;

/* A route subscription as the broker holds it. */
#define FX_CLIENT_MAX_SUBSCRIPTIONS 10000
typedef struct {
    char pattern[512]; /* a valid route pattern */
    uint32_t stages;   /* bit masks as for fx_client_subscribe; 0: all */
    uint32_t kinds;
    char exercise[257]; /* "" for live traffic; printable ASCII */
} fx_subscription_t;

/* SUBSCRIPTIONS_REQUEST: this principal's route subscriptions, oldest first. The answer is
 * checked (valid patterns, known stages and kinds, at most FX_CLIENT_MAX_SUBSCRIPTIONS);
 * FX_ERR_MALFORMED otherwise. *list_p is a new array of *count_p entries (caller frees). */
fx_err_t fx_client_subscriptions(fx_client_t *self, int timeout_ms, fx_subscription_t **list_p,
                                 size_t *count_p, fx_answer_t *answer) FX_WUR;

/* EXPLAIN: evaluates a policy query (JSON text) on the live policy. *answer_json_p is a new
 * NUL-terminated string (caller frees). */
fx_err_t fx_client_explain(fx_client_t *self, const char *query_json, int timeout_ms,
                           char **answer_json_p, fx_answer_t *answer) FX_WUR;

/* DIRECTORY: the broker's certificates and revocation list, verified against authority_key at
 * now_ms (fx_directory_from_bytes). *dir_p is new. */
fx_err_t fx_client_directory(fx_client_t *self, const uint8_t authority_key[FX_KEY_BYTES],
                             int64_t now_ms, int timeout_ms, fx_directory_t **dir_p,
                             fx_answer_t *answer) FX_WUR;

/* REFERRALS: the referrals this principal sent and those sent to its agency, as the broker
 * tracks them and its exercise segregation lets this principal see them, each with its exercise
 * ("" for live traffic, and from a broker older than the field; such a broker refuses the
 * request that asks for it, and it is asked again without), and `more` when the broker holds
 * more than it answered (asked for the same way: a broker older than it refuses, and it is
 * asked again without). Checked for form: msg_ids, ids.
 * *frame_p is the answer, whose `referrals` body the caller reads and frees with fx_codec_free. */
fx_err_t fx_client_referrals(fx_client_t *self, int timeout_ms, Fusion__Frame **frame_p,
                             fx_answer_t *answer) FX_WUR;

/* RECEIPT_REQUEST: the audit entries of one of this principal's own messages with their
 * inclusion proofs and a signed checkpoint. *frame_p is the answer, a Frame with a receipt body,
 * checked for form only: verify it with fx_audit_receipt_verify (caller frees it with
 * fx_codec_free). The broker answers not_found for a message this principal did not send. */
fx_err_t fx_client_receipt(fx_client_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES], int timeout_ms,
                           Fusion__Frame **frame_p, fx_answer_t *answer) FX_WUR;

/* EXERCISE_AUDIT_REQUEST: the audit entries of an exercise's messages and subscriptions with
 * seq > after_seq, oldest first, at most limit (0: the broker's maximum); only a trainer whom the
 * policy lists in the exercise gets them (forbidden otherwise). The answer is checked for form
 * (the exercise asked for, seq increasing past after_seq, next_seq the last seq, field sizes);
 * FX_ERR_MALFORMED otherwise. *frame_p is a Frame with an exercise_audit body (caller frees it
 * with fx_codec_free); ask again from its next_seq, at once when `more` is set. */
fx_err_t fx_client_exercise_audit(fx_client_t *self, const char *exercise, uint64_t after_seq,
                                  uint32_t limit, int timeout_ms, Fusion__Frame **frame_p,
                                  fx_answer_t *answer) FX_WUR;

/* CONSISTENCY_REQUEST: a proof that the broker's tree of first_size entries is a prefix of its
 * latest checkpoint's. *frame_p is a Frame with a consistency body, to verify with
 * fx_audit_consistency_verify (caller frees it with fx_codec_free). */
fx_err_t fx_client_consistency(fx_client_t *self, uint64_t first_size, int timeout_ms,
                               Fusion__Frame **frame_p, fx_answer_t *answer) FX_WUR;

/* The latest CHECKPOINT the broker pushed (to an auditor: on connecting, and each new one)
 * that arrived during the calls above, unverified: check it with fx_audit_checkpoint_verify.
 * *frame_p is the frame holding it (caller frees with fx_codec_free); NULL if none came. */
Fusion__Checkpoint *fx_client_pushed_checkpoint(fx_client_t *self, Fusion__Frame **frame_p);

/* ---- Delivery */

/* Sets the delivery window (CREDIT): the most DELIVERs the broker may have in flight to this
 * agent. The client re-sends it every FX_CLIENT_CREDIT_INTERVAL_MS and after every reconnect
 * while any call on it runs. 0 pauses delivery. FX_ERR_UNAVAILABLE when not connected right now
 * (it is sent as soon as the connection is up). */
fx_err_t fx_client_set_window(fx_client_t *self, uint32_t window);

/* Waits up to timeout_ms for a DELIVER (a queued one first). FX_ERR_UNAVAILABLE on timeout;
 * FX_ERR_MALFORMED (or the envelope's decoding errors) for a DELIVER whose envelope does not
 * decode: it cannot be acknowledged, and the call may be repeated. FX_ERR_UNAUTHENTICATED,
 * FX_ERR_REVOKED or FX_ERR_CERT_EXPIRED when the broker answered a frame of this connection (a
 * CREDIT) with that ERROR: it refuses this principal, as it would any request (exit 3);
 * fx_client_key_refused is 1 and fx_client_status says so. Any other ERROR (a late answer to
 * an earlier request) is ignored. *delivery_p is new. */
fx_err_t fx_client_receive(fx_client_t *self, int timeout_ms, fx_delivery_t **delivery_p) FX_WUR;

/* RECEIVED: tells the broker that the message is committed locally. Does not wait; a lost
 * acknowledgement only means the message is delivered again. */
fx_err_t fx_client_acknowledge(fx_client_t *self, const uint8_t msg_id[FX_MSG_ID_BYTES]);

/* ---- The PREPARED answer */

/* Frees a prepared answer; sets *self_p to NULL. Accepts NULL. */
void fx_prepared_destroy(fx_prepared_t **self_p);

/* The sections answered, in the order of the draft. A section the broker did not answer is
 * reported with no allowed and no denied recipient. */
size_t fx_prepared_section_count(const fx_prepared_t *self);
uint32_t fx_prepared_section_id(const fx_prepared_t *self, size_t i);

/* The allowed recipients of the i-th section: verified certificates (owned by the answer). */
size_t fx_prepared_allowed_count(const fx_prepared_t *self, size_t i);
const fx_cert_t *fx_prepared_allowed(const fx_prepared_t *self, size_t i, size_t j);

/* The denied recipients of the i-th section with the decision (code, rule, reason, agreement:
 * printable ASCII, possibly empty). Owned by the answer. */
typedef struct {
    const char *recipient;
    const char *code;
    const char *rule;
    const char *reason;
    const char *agreement;
} fx_denial_t;
size_t fx_prepared_denied_count(const fx_prepared_t *self, size_t i);
const fx_denial_t *fx_prepared_denied(const fx_prepared_t *self, size_t i, size_t j);

/* ---- A DELIVER */

/* Frees a delivery; sets *self_p to NULL. Accepts NULL. */
void fx_delivery_destroy(fx_delivery_t **self_p);

/* A delivery rebuilt from an envelope and the sender's certificate bytes as stored in the inbox,
 * to verify them again (fx_delivery_verify) before showing a stored message. The errors of
 * fx_envelope_decode; FX_ERR_MALFORMED without a certificate. *delivery_p is new. */
fx_err_t fx_delivery_from_bytes(const uint8_t *envelope, size_t envelope_len, const uint8_t *cert,
                                size_t cert_len, fx_delivery_t **delivery_p) FX_WUR;

/* The envelope as delivered (decoded and checked for form; verified only after
 * fx_delivery_verify). Owned by the delivery. */
fx_envelope_t *fx_delivery_envelope(const fx_delivery_t *self);
const uint8_t *fx_delivery_msg_id(const fx_delivery_t *self);

/* The sender's certificate bytes as delivered (unverified). Owned by the delivery. */
const uint8_t *fx_delivery_cert_bytes(const fx_delivery_t *self, size_t *len_p);

/* Verifies the sender's certificate against authority_key (at now_ms, or, for a certificate
 * that has expired since, at the message's created_at), that it certifies the header's sender,
 * and the envelope's signature and hashes against it. The errors of fx_cert_verify and
 * fx_envelope_verify. On FX_OK the envelope may be opened. */
fx_err_t fx_delivery_verify(fx_delivery_t *self, const uint8_t authority_key[FX_KEY_BYTES],
                            int64_t now_ms) FX_WUR;

/* The verified sender certificate (NULL before fx_delivery_verify succeeded). */
const fx_cert_t *fx_delivery_sender(const fx_delivery_t *self);

/* 1 when the sender's certificate was valid when the message was created but has expired since
 * (set by fx_delivery_verify). */
int fx_delivery_sender_expired_since(const fx_delivery_t *self);

#endif
