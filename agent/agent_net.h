/* What fusion-agent's network commands share: a session (configuration, keys, the pinned
 * authority key, the verified broker certificate, the mailbox and the connection), sealing a
 * draft for the recipients a PREPARED answer allows, and flushing the outbox. */
#ifndef FUSION_AGENT_NET_H
#define FUSION_AGENT_NET_H

#include <stdint.h>
#include <stdio.h>

#include "agent_config.h"
#include "fusion/client.h"
#include "fusion/draft.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/mailbox.h"

#define AGENT_DEFAULT_TIMEOUT_S 10

typedef struct {
    const char *command; /* for messages: "send", "listen", ... */
    agent_config_t *config;
    fx_keys_t *keys;
    uint8_t authority[FX_KEY_BYTES];
    fx_cert_t *broker_cert;
    fx_mailbox_t *mailbox;
    fx_client_t *client;
    fx_directory_t *directory; /* the broker's directory, once fetched (revocations) */
    int timeout_ms;            /* for each request */
} agent_session_t;

/* The local half of agent_session_open, for commands that read the inbox without the broker:
 * the configuration, the keys (checked against the configured id), the authority key and the
 * mailbox. FX_EXIT_OK, or the exit code after printing why; close with agent_session_close. */
int agent_session_open_local(agent_session_t *self, const char *command, const char *config_path);
/* Less again, for what is checked offline (receipt --verify): the configuration, the authority
 * key and the broker's certificate verified against it; no keys, no mailbox, no connection. */
int agent_session_open_offline(agent_session_t *self, const char *command, const char *config_path);
/* Opens a session from the configuration file config_path: loads and checks everything and
 * connects. Returns FX_EXIT_OK, or the exit code after printing what is wrong. */
int agent_session_open(agent_session_t *self, const char *command, const char *config_path,
                       int timeout_ms);
/* agent_session_open without the connection, for a command that may stop on what it decides
 * locally: a connection closed before its CURVE handshake completes is, for the broker, a
 * refused one (logged, audited, counted). agent_session_connect makes it when a request is
 * due; agent_session_directory, agent_publish_entry and agent_flush_outbox make it themselves
 * when they need it. */
int agent_session_open_unconnected(agent_session_t *self, const char *command,
                                   const char *config_path, int timeout_ms);
/* Sets up the session's connection (self->client) unless it is there: FX_OK, or the error after
 * printing it. */
fx_err_t agent_session_connect(agent_session_t *self);

/* Closes the connection and the mailbox and frees the session. */
void agent_session_close(agent_session_t *self);

/* Says why a call got no answer and returns the exit code: FX_EXIT_REFUSED when the broker
 * refused this principal's key in the handshake (not enrolled, revoked, expired), else
 * FX_EXIT_UNAVAILABLE ("the broker did not answer within N s (STATUS)"). What was to be sent
 * stays queued either way. */
int agent_session_unreachable(const agent_session_t *self);

/* Fetches the broker's directory once per session (for the revocation list), refusing a list
 * older than one seen before. FX_OK, FX_ERR_UNAVAILABLE, or an error already printed. */
fx_err_t agent_session_directory(agent_session_t *self);

/* Seals draft under header (the draft's, or the draft's with an exercise id) with keys for the
 * recipients prepared allows, section by section, dropping sections nobody may receive (each
 * dropped id goes into dropped, their count into *n_dropped_p, unless dropped is NULL).
 * FX_ERR_NOT_FOUND when no section has an allowed recipient. *env_p is new. */
fx_err_t agent_seal_prepared(const fx_keys_t *keys, const Fusion__Header *header,
                             const fx_draft_t *draft, const fx_prepared_t *prepared,
                             fx_envelope_t **env_p, uint32_t dropped[FX_ENVELOPE_MAX_SECTIONS],
                             size_t *n_dropped_p);

/* 1 when env's PUBLISH frame is larger than the broker client is connected to takes (as it
 * said: fx_client_max_frame), with the sentence naming both sizes in why (agent_too_large_fix
 * says what to do); 0 when it fits or the limit is unknown. fx_client_publish refuses such an
 * envelope with FX_ERR_TOO_LARGE, nothing sent. */
int agent_too_large(const fx_client_t *client, const fx_envelope_t *env, char *why, size_t size);

/* What its sender can do about a message under header that is larger than the broker takes,
 * by what made it: a forward passes on sections its sender did not write, as they are, so only
 * its recipients can change; a referral_response, alert_feedback, reshare_request or reshare_grant
 * names what in its command makes its text; any other message is split or shortened. Used
 * wherever a message is refused as too large (send, the workflow commands, flush), so a queued
 * one gets the same advice. */
const char *agent_too_large_fix(const Fusion__Header *header);

/* Why a draft was not sealed for sending: a code (as the broker's: no_recipient, too_large, or
 * the code of the broker's refusal to prepare it) and a sentence. */
typedef struct {
    char code[FX_CLIENT_CODE_MAX];
    char reason[FX_CLIENT_REASON_MAX + 160];
} agent_refusal_t;

/* Prepares and seals draft for the recipients the policy allows now, with no preview and no
 * confirmation (whoever queued it asked to send it to them), as flush seals a queued draft; name
 * names it in the lines written to out (sections dropped). FX_OK with *env_p new;
 * FX_ERR_FORBIDDEN when the broker refused to prepare it or the policy allows nobody, and
 * FX_ERR_TOO_LARGE when it is larger than the broker takes (agent_too_large's sentence), each
 * with its code and reason in refusal; FX_ERR_UNAVAILABLE (no answer, or rate limited); or
 * another error, printed. Nothing is recorded. */
fx_err_t agent_seal_draft(agent_session_t *self, const fx_draft_t *draft, const char *name,
                          FILE *out, fx_envelope_t **env_p, agent_refusal_t *refusal);

/* Records outbox entry as rejected locally (code, reason) and prints it to out as flush does. */
fx_err_t agent_refuse_entry(agent_session_t *self, const fx_outbox_entry_t *entry, const char *code,
                            const char *reason, FILE *out);

/* What a flush did. */
typedef struct {
    size_t accepted, rejected, pending;
    int unavailable; /* the broker could not be reached: the rest stays in the outbox */
    int failed;      /* a local error (storage) stopped it */
} agent_flush_t;

/* Sends the outbox's pending entries with ids up to max_id (0: all), oldest first, printing one
 * line per entry to out. Stops at the first unreachable broker. */
void agent_flush_outbox(agent_session_t *self, int64_t max_id, FILE *out, agent_flush_t *result);

/* Publishes sealed outbox entry id, records the answer and prints it (label given). A `stale`
 * refusal sends the entry back to queued. An envelope larger than the broker takes is not sent
 * but rejected as the broker would (code too_large, FX_ERR_TOO_LARGE). Returns the client's
 * error (FX_OK: accepted). */
fx_err_t agent_publish_entry(agent_session_t *self, int64_t id, FILE *out, fx_answer_t *answer);

/* Keeps the checkpoint the broker last pushed to this auditor, if any and if it verifies with
 * the broker's key, in STATE/audit-checkpoints-received for audit-consistency (agent_audit.c). */
void agent_keep_pushed_checkpoint(agent_session_t *session);

/* Lower-case hex of a msg_id into out (2 * FX_MSG_ID_BYTES + 1 bytes). */
char *agent_msg_id_hex(const uint8_t *msg_id, char out[2 * FX_MSG_ID_BYTES + 1]);

/* Parses --timeout seconds (1 .. 86400) into ms. 0, or -1 after printing the problem. */
int agent_parse_seconds(const char *command, const char *option, const char *text, int *ms_p);

/* Writes untrusted text for a terminal: control characters other than new lines and tabs (C1
 * ones included) and invalid UTF-8 shown as '?', each new line followed by indent, trailing new
 * lines left out. */
void agent_print_text(FILE *out, const char *text, const char *indent);

/* Sends a checked draft as `send` does (agent_send.c): older outbox entries first, PREPARE and
 * the per-section preview, confirmation on the terminal unless yes, sealing, the outbox, and
 * PUBLISH (or the queue when the broker is down). label names it in messages and the outbox.
 * Returns the exit code. */
int agent_send_draft(agent_session_t *s, const char *label, const fx_draft_t *draft, int yes);

/* Prints a verified delivery for its recipient: header, sender and fingerprint, each section it
 * may read, and the sections it was not given; as text, or one JSON object on a line
 * (agent_listen.c). Returns how many sections given to it could not be opened. */
int agent_show_delivery(agent_session_t *s, const fx_delivery_t *d, int json, int64_t received_at);

/* Runs command with /bin/sh for a new message, its msg_id, kind, sender, urgency and highest TLP
 * in the environment (FUSION_MSG_ID ...), its output on stderr; waits for it and logs a failure
 * (agent_inbox.c). */
void agent_run_hook(const char *command, const fx_delivery_t *d);

/* One line on stdout for a new message without its content: msg_id, kind, sender, urgency,
 * highest TLP given and exercise, as --exec is told (listen --summary; agent_inbox.c). */
void agent_print_summary(const fx_delivery_t *d);

/* The word every view of a message or referral gives its urgency (FX_URGENCY_*): "urgent", or
 * "normal" for normal and for a header without one, as the broker's deadline takes it. */
const char *agent_urgency_word(int urgency);

#endif
