/* What fusion-agent's workflow commands share (respond, referrals, feedback, forward,
 * reshare-request, reshare-grant; docs/referrals.md): reading a msg_id, opening a message of the
 * inbox again (verified), checking officers' text, and sending a draft built in the program
 * through the outbox as `send --yes` does. */
#ifndef FUSION_AGENT_WORKFLOW_H
#define FUSION_AGENT_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "agent_net.h"

#define WORKFLOW_TEXT_MAX (16u << 10) /* bytes of a --reason, --outcome or --observation */

/* A message of the inbox, verified again against the authority and its sender's certificate,
 * so its sections may be opened. */
typedef struct {
    fx_envelope_t *env;
    fx_cert_t *sender;
} workflow_message_t;

/* Parses a msg_id of 32 hexadecimal digits. 0, or -1 after printing the problem. */
int workflow_msg_id(const char *command, const char *text, uint8_t msg_id[FX_MSG_ID_BYTES]);

/* Reads inbox message hex of the principal of the configuration at config_path, before any
 * connection is made (so a refusal sends nothing at all), and verifies it again. FX_EXIT_OK, or
 * the exit code after printing the problem (FX_EXIT_USAGE for a msg_id not in the inbox). */
int workflow_inbox_read(const char *command, const char *config_path, const char *hex,
                        workflow_message_t *m);
/* workflow_inbox_read of a message that must be of kind (FX_KIND_*): FX_EXIT_USAGE, after
 * saying what it is instead, for one of another kind. */
int workflow_inbox_read_kind(const char *command, const char *config_path, const char *hex,
                             int kind, workflow_message_t *m);
void workflow_message_clear(workflow_message_t *m);

/* The referral hex of the inbox, for respond: workflow_inbox_read_kind of a referral, or, when
 * the inbox does not hold message hex, the broker's escalation notice about it (DESIGN.md: it
 * goes to the recipient agency's focal points the referral did not reach): a notice signed by
 * the broker's principal (the configured broker_cert) whose in_reply_to is hex, the newest
 * one, in m with *notice_p 1. FX_EXIT_OK, or the exit code after printing the problem
 * (FX_EXIT_USAGE when the inbox holds neither). */
int workflow_inbox_read_referral(const char *command, const char *config_path, const char *hex,
                                 workflow_message_t *m, int *notice_p);

/* 1 when every recipient in to is covered by the grant's reshare_to (the same id, or a
 * principal of a granted agency); else 0 with the first one that is not in *missing_p. */
int workflow_grant_covers(const Fusion__Header *grant, char **to, size_t n, const char **missing_p);

/* Looks in the inbox for a reshare_grant that lets message orig go on to the recipients to: from
 * orig's sender, not expired, covering them, answering a reshare_request about orig that this
 * principal sent (its outbox). 1 (its msg_id in grant_hex), 0 none, -1 after printing an error. */
int workflow_find_grant(const char *command, const char *config_path, const fx_envelope_t *orig,
                        char **to, size_t n_to, char grant_hex[2 * FX_MSG_ID_BYTES + 1]);

/* Checks an officer's text for a content field: at most WORKFLOW_TEXT_MAX bytes of UTF-8
 * without control characters other than new lines and tabs. 0, or -1 after printing why. */
int workflow_text_ok(const char *command, const char *option, const char *text);

/* The highest TLP (FX_TLP_*) among the sections of a message's signed header, or 0. */
int workflow_max_tlp(const fx_envelope_t *env);

/* Sends draft (label shown in listings) as `send --yes` does, after whatever older entries of
 * the outbox wait: prepared for the recipients the policy allows, sealed, put in the outbox and
 * published, printing one line per entry ("accepted: msg_id HEX ..."). Returns the exit code
 * for this draft: 0 accepted; 2 larger than the broker takes (agent_too_large; nothing sent or
 * queued); 3 rejected (code, rule and reason printed; kept in the outbox as rejected); 5 queued
 * because the broker could not be reached. */
int workflow_send(agent_session_t *s, const fx_draft_t *draft, const char *label);

/* Queues draft in the outbox without trying to send it, for a broker known to be unreachable in
 * this session: says so and returns agent_session_unreachable's exit code (5, or 3 for a key the
 * broker refused). */
int workflow_queue(agent_session_t *s, const fx_draft_t *draft, const char *label);

/* Checks the recipients a reshare request asks for or a grant grants (reshare_to), about message
 * orig_hex of originator, asked by requester, as the broker does: each named once, neither the
 * requester nor the originator (they hold it already), and a principal or agency of the
 * broker's directory (fetched). FX_EXIT_OK, or the exit code after saying why (FX_EXIT_USAGE:
 * nothing was sent). *unreachable is 1 when the directory could not be fetched (the broker
 * checks the rest when the message goes). */
int workflow_reshare_to_check(agent_session_t *s, char **to, size_t n, const char *requester,
                              const char *originator, const char *orig_hex, int *unreachable);

/* 1 when this principal's outbox holds a reshare_grant answering request_id that was not
 * refused (accepted, or waiting to be sent): its entry id and state word in *entry_p and
 * *state_p. 0 otherwise. */
int workflow_granted(agent_session_t *s, const uint8_t request_id[FX_MSG_ID_BYTES],
                     int64_t *entry_p, const char **state_p);

/* Encodes a notice content (caller frees *data_p). */
void workflow_notice(const char *text, uint8_t **data_p, size_t *len_p);

#endif
