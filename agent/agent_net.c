/* fusion-agent's network plumbing and its small commands: the session every network command
 * opens, sealing for a PREPARED answer, and flushing the outbox (`flush`). Route subscriptions
 * are in agent_subs.c. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/route.h"
#include "fusion/vocab.h"

/* ---- Small helpers -------------------------------------------------------------------------- */

char *agent_msg_id_hex(const uint8_t *msg_id, char out[2 * FX_MSG_ID_BYTES + 1])
{
    if (!msg_id) {
        out[0] = '\0';
        return out;
    }
    return fx_hex(msg_id, FX_MSG_ID_BYTES, out);
}

int agent_parse_seconds(const char *command, const char *option, const char *text, int *ms_p)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || *end || value < 1 || value > 86400) {
        fx_cli_error(AGENT_PROG, "%s: %s must be a number of seconds from 1 to 86400, not '%s'",
                     command, option, text);
        return -1;
    }
    *ms_p = (int) value * 1000;
    return 0;
}

/* The length of the valid UTF-8 sequence at p (2 to 4 bytes) that is not a C1 control character
 * (U+0080..U+009F, which some terminals obey like escape sequences), or 0. */
static size_t s_utf8_printable(const unsigned char *p)
{
    size_t n = (p[0] & 0xe0) == 0xc0   ? 2
               : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || (p[0] == 0xc2 && p[1] < 0xa0) || p[0] == 0xc0 || p[0] == 0xc1 || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void agent_print_text(FILE *out, const char *text, const char *indent)
{
    const unsigned char *p = (const unsigned char *) (text ? text : "");
    while (*p) {
        size_t n;
        if (*p == '\n') {
            if (p[strspn((const char *) p, "\n")] == '\0')
                break; /* trailing new lines would only leave empty lines */
            fprintf(out, "\n%s", indent);
            p++;
        } else if (*p == '\t' || (*p >= 0x20 && *p < 0x7f)) {
            fputc(*p++, out);
        } else if (*p >= 0x80 && (n = s_utf8_printable(p)) > 0) {
            fwrite(p, 1, n, out);
            p += n;
        } else {
            fputc('?', out);
            p++;
        }
    }
}

/* ---- The session ---------------------------------------------------------------------------- */

/* The configuration and the authority key it pins. */
static int s_open_config(agent_session_t *self, const char *command, const char *config_path)
{
    memset(self, 0, sizeof *self);
    self->command = command;
    fx_diag_t *diag = fx_diag_new(config_path);
    self->config = agent_config_load(config_path, diag);
    if (!self->config) {
        fx_diag_print(diag, stderr, AGENT_PROG ": ");
        fx_cli_error(AGENT_PROG,
                     "%s: the agent configuration %s is not usable (give --config FILE or set "
                     "%s)",
                     command, config_path, AGENT_CONFIG_ENV);
        fx_diag_destroy(&diag);
        return FX_EXIT_USAGE;
    }
    fx_diag_destroy(&diag);
    const agent_config_t *c = self->config;
    fx_err_t rc = fx_authority_key_load(c->authority, self->authority);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: authority %s: %s", command, c->authority,
                     rc == FX_ERR_NOT_FOUND ? "no such file"
                                            : fx_authority_key_strerror(c->authority, rc));
        return fx_err_exit(rc);
    }
    return FX_EXIT_OK;
}

/* The broker's certificate, verified against the pinned authority. */
static int s_load_broker_cert(agent_session_t *self)
{
    const agent_config_t *c = self->config;
    fx_err_t rc =
        fx_broker_cert_load(c->broker_cert, self->authority, fx_now_ms(), &self->broker_cert);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: broker_cert %s: %s", self->command, c->broker_cert,
                     rc == FX_ERR_NOT_FOUND ? "no such file" : fx_strerror(rc));
        return fx_err_exit(rc);
    }
    return FX_EXIT_OK;
}

static int s_open_local(agent_session_t *self, const char *command, const char *config_path)
{
    int status = s_open_config(self, command, config_path);
    if (status != FX_EXIT_OK)
        return status;
    const agent_config_t *c = self->config;
    fx_err_t rc = fx_keys_load(c->key, &self->keys);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: key %s: %s", command, c->key,
                     rc == FX_ERR_NOT_FOUND          ? "no such file"
                     : rc == FX_ERR_IO && errno != 0 ? strerror(errno)
                                                     : fx_strerror(rc));
        return fx_err_exit(rc);
    }
    if (strcmp(fx_keys_id(self->keys), c->id) != 0) {
        fx_cli_error(AGENT_PROG, "%s: key %s holds the keys of %s, but %s says id: %s", command,
                     c->key, fx_keys_id(self->keys), c->path, c->id);
        return FX_EXIT_USAGE;
    }
    rc = fx_mailbox_open(c->state, c->id, &self->mailbox);
    if (rc != FX_OK) {
        const char *why = rc == FX_ERR_KEY_PERMISSIONS
                              ? "group or others can read it; make it private with 'chmod 600'"
                          : rc == FX_ERR_INVALID ? "it belongs to another principal or version"
                                                 : fx_strerror(rc);
        fx_cli_error(AGENT_PROG, "%s: mailbox in %s: %s", command, c->state, why);
        return fx_err_exit(rc);
    }
    return FX_EXIT_OK;
}

/* Everything but the connection. */
static int s_open_unconnected(agent_session_t *self, const char *command, const char *config_path,
                              int timeout_ms)
{
    /* CZMQ's handlers, which making a socket installs: SIGINT and SIGTERM only set the flag
     * fx_client_interrupted reads, from here on, connected or not (exercise run saves its
     * progress when stopped while it enrols). */
    zsys_init();
    int status = s_open_local(self, command, config_path);
    if (status == FX_EXIT_OK)
        status = s_load_broker_cert(self);
    self->timeout_ms = timeout_ms;
    return status;
}

fx_err_t agent_session_connect(agent_session_t *self)
{
    if (self->client)
        return FX_OK;
    const agent_config_t *c = self->config;
    fx_err_t rc = fx_client_new(c->broker, self->keys, self->broker_cert, &self->client);
    if (rc != FX_OK)
        fx_cli_error(AGENT_PROG, "%s: cannot set up a connection to %s: %s", self->command,
                     c->broker, fx_strerror(rc));
    return rc;
}

/* The open functions leave nothing allocated when they fail. */
int agent_session_open_offline(agent_session_t *self, const char *command, const char *config_path)
{
    int status = s_open_config(self, command, config_path);
    if (status == FX_EXIT_OK)
        status = s_load_broker_cert(self);
    if (status != FX_EXIT_OK)
        agent_session_close(self);
    return status;
}

int agent_session_open_local(agent_session_t *self, const char *command, const char *config_path)
{
    int status = s_open_local(self, command, config_path);
    if (status != FX_EXIT_OK)
        agent_session_close(self);
    return status;
}

int agent_session_open_unconnected(agent_session_t *self, const char *command,
                                   const char *config_path, int timeout_ms)
{
    int status = s_open_unconnected(self, command, config_path, timeout_ms);
    if (status != FX_EXIT_OK)
        agent_session_close(self);
    return status;
}

int agent_session_open(agent_session_t *self, const char *command, const char *config_path,
                       int timeout_ms)
{
    int status = s_open_unconnected(self, command, config_path, timeout_ms);
    if (status == FX_EXIT_OK) {
        fx_err_t rc = agent_session_connect(self);
        status = rc == FX_OK ? FX_EXIT_OK : fx_err_exit(rc);
    }
    if (status != FX_EXIT_OK)
        agent_session_close(self);
    return status;
}

void agent_session_close(agent_session_t *self)
{
    fx_client_destroy(&self->client);
    fx_mailbox_destroy(&self->mailbox);
    fx_directory_destroy(&self->directory);
    fx_cert_destroy(&self->broker_cert);
    fx_keys_destroy(&self->keys);
    agent_config_destroy(&self->config);
}

int agent_session_unreachable(const agent_session_t *self)
{
    if (!self->client) { /* not reached: nothing asked it to connect */
        fx_cli_error(AGENT_PROG, "%s: no connection to the broker was made", self->command);
        return FX_EXIT_UNAVAILABLE;
    }
    if (fx_client_key_refused(self->client)) {
        fx_cli_error(AGENT_PROG, "%s: %s", self->command, fx_client_status(self->client));
        return FX_EXIT_REFUSED;
    }
    if (fx_client_interrupted()) /* Ctrl-C or SIGTERM while it waited: not a timeout */
        fx_cli_error(AGENT_PROG, "%s: stopped by a signal before the broker answered (%s)",
                     self->command, fx_client_status(self->client));
    else
        fx_cli_error(AGENT_PROG, "%s: the broker did not answer within %d s (%s)", self->command,
                     self->timeout_ms / 1000, fx_client_status(self->client));
    return FX_EXIT_UNAVAILABLE;
}

static void s_print_refusal(const agent_session_t *self, const char *what,
                            const fx_answer_t *answer)
{
    fx_cli_error(AGENT_PROG, "%s: the broker refused %s: %s%s%s%s%s%s", self->command, what,
                 answer->code, answer->rule[0] ? " (rule " : "", answer->rule,
                 answer->rule[0] ? ")" : "", answer->reason[0] ? ": " : "", answer->reason);
}

fx_err_t agent_session_directory(agent_session_t *self)
{
    if (self->directory)
        return FX_OK;
    fx_err_t rc = agent_session_connect(self);
    if (rc != FX_OK)
        return rc;
    fx_answer_t answer;
    rc = fx_client_directory(self->client, self->authority, fx_now_ms(), self->timeout_ms,
                             &self->directory, &answer);
    if (rc == FX_ERR_UNAVAILABLE)
        return rc;
    if (rc != FX_OK) {
        if (answer.refused)
            s_print_refusal(self, "the directory request", &answer);
        else
            fx_cli_error(AGENT_PROG,
                         "%s: the broker's directory does not verify against the authority "
                         "key: %s",
                         self->command, fx_strerror(rc));
        return rc;
    }
    uint64_t seen = 0, got = fx_directory_revocations_sequence(self->directory);
    rc = fx_mailbox_crl_sequence(self->mailbox, &seen);
    if (rc == FX_OK && got < seen) {
        fx_cli_error(AGENT_PROG,
                     "%s: the broker sent revocation list %llu, older than list %llu seen "
                     "before; refusing it (a rollback would bring revoked keys back)",
                     self->command, (unsigned long long) got, (unsigned long long) seen);
        fx_directory_destroy(&self->directory);
        return FX_ERR_REPLAY;
    }
    if (rc == FX_OK)
        rc = fx_mailbox_set_crl_sequence(self->mailbox, got);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox: %s", self->command, fx_strerror(rc));
        fx_directory_destroy(&self->directory);
    }
    return rc;
}

/* ---- Sealing -------------------------------------------------------------------------------- */

fx_err_t agent_seal_prepared(const fx_keys_t *keys, const Fusion__Header *header,
                             const fx_draft_t *draft, const fx_prepared_t *prepared,
                             fx_envelope_t **env_p, uint32_t dropped[FX_ENVELOPE_MAX_SECTIONS],
                             size_t *n_dropped_p)
{
    *env_p = NULL;
    if (dropped)
        *n_dropped_p = 0;
    fx_section_draft_t sections[FX_ENVELOPE_MAX_SECTIONS];
    fx_recipient_t *recipients[FX_ENVELOPE_MAX_SECTIONS] = {NULL};
    size_t n = 0;
    for (size_t i = 0; i < fx_draft_section_count(draft); i++) {
        uint32_t id = fx_draft_section_id(draft, i);
        size_t k = 0;
        while (k < fx_prepared_section_count(prepared) && fx_prepared_section_id(prepared, k) != id)
            k++;
        size_t allowed = fx_prepared_allowed_count(prepared, k);
        if (allowed == 0) {
            if (dropped)
                dropped[(*n_dropped_p)++] = id;
            continue;
        }
        recipients[n] = fx_calloc(allowed, sizeof *recipients[n]);
        for (size_t j = 0; j < allowed; j++) {
            const fx_cert_t *cert = fx_prepared_allowed(prepared, k, j);
            recipients[n][j] = (fx_recipient_t){fx_cert_id(cert), fx_cert_box_key(cert)};
        }
        size_t len = 0;
        const uint8_t *plain = fx_draft_section_plaintext(draft, i, &len);
        sections[n] = (fx_section_draft_t){id,
                                           fx_draft_section_tlp(draft, i),
                                           fx_draft_section_categories(draft, i),
                                           plain,
                                           len,
                                           recipients[n],
                                           allowed};
        n++;
    }
    fx_err_t rc = FX_ERR_NOT_FOUND;
    if (n > 0)
        rc = fx_envelope_seal(keys, header, sections, n, env_p);
    for (size_t i = 0; i < n; i++)
        free(recipients[i]);
    return rc;
}

int agent_too_large(const fx_client_t *client, const fx_envelope_t *env, char *why, size_t size)
{
    size_t max = fx_client_max_frame(client);
    size_t frame = fx_client_publish_size(client, env);
    if (max == 0 || frame <= max)
        return 0;
    if (max == FX_MAX_PUBLISH_FRAME_BYTES)
        snprintf(why, size,
                 "the sealed message is a frame of %zu bytes, larger than the %zu bytes the "
                 "broker takes (8 MiB less 4 KiB and 16 bytes: what a recipient can take with "
                 "the sender's certificate)",
                 frame, max);
    else
        snprintf(why, size,
                 "the sealed message is a frame of %zu bytes, larger than the %zu bytes the "
                 "broker takes (its max_message_bytes, less %d bytes of CURVE framing)",
                 frame, max, FX_CURVE_FRAME_OVERHEAD);
    return 1;
}

const char *agent_too_large_fix(const Fusion__Header *header)
{
    /* Only forward sets forwarded_from (a draft file has no such field). */
    if (header && header->forwarded_from.len)
        return "a forward passes on the sections of the message you can read as they are, with a "
               "key for each recipient in each: forward it to fewer recipients at a time, or, if "
               "it is too large even for one, it cannot be forwarded through this broker: ask its "
               "sender to share it in smaller messages";
    /* These kinds come from their commands or from a draft file: the advice fits both. */
    switch (header ? (int) header->kind : 0) {
    case FX_KIND_REFERRAL_RESPONSE:
        return "shorten its text (respond's --reason or --outcome)";
    case FX_KIND_ALERT_FEEDBACK:
        return "shorten its text (feedback's --observation or --location)";
    case FX_KIND_RESHARE_REQUEST:
        return "shorten its text (reshare-request's --reason)";
    case FX_KIND_RESHARE_GRANT:
        return "shorten its text (reshare-grant's names every recipient asked for: ask the "
               "requester to ask for fewer at a time)";
    default:
        return "send its sections as several messages, or shorten them";
    }
}

/* ---- The outbox ----------------------------------------------------------------------------- */

static void s_entry_name(const fx_outbox_entry_t *entry, char *buf, size_t size)
{
    snprintf(buf, size, "outbox #%lld (%s)", (long long) fx_outbox_entry_id(entry),
             fx_outbox_entry_label(entry));
}

fx_err_t agent_publish_entry(agent_session_t *self, int64_t id, FILE *out, fx_answer_t *answer)
{
    fx_outbox_entry_t *entry = NULL;
    fx_envelope_t *env = NULL;
    char name[160], hex[2 * FX_MSG_ID_BYTES + 1];
    memset(answer, 0, sizeof *answer);
    fx_err_t rc = fx_mailbox_outbox_get(self->mailbox, id, &entry);
    if (rc != FX_OK)
        goto storage;
    s_entry_name(entry, name, sizeof name);
    size_t len = 0;
    const uint8_t *bytes = fx_outbox_entry_envelope(entry, &len);
    /* Another fusion-agent (a flush at the same time) may have sent it since it was read: its
     * answer stands, and this one reports it rather than calling the entry damaged. */
    fx_outbox_state_t state = fx_outbox_entry_state(entry);
    if (state == FX_OUTBOX_ACCEPTED) {
        agent_msg_id_hex(fx_outbox_entry_msg_id(entry), hex);
        fprintf(out, "accepted: msg_id %s (%s, sent by another fusion-agent)\n", hex, name);
        rc = FX_OK;
        goto cleanup;
    }
    if (state == FX_OUTBOX_REJECTED) {
        answer->refused = 1;
        snprintf(answer->code, sizeof answer->code, "%s", fx_outbox_entry_code(entry));
        snprintf(answer->rule, sizeof answer->rule, "%s", fx_outbox_entry_rule(entry));
        snprintf(answer->reason, sizeof answer->reason, "%s", fx_outbox_entry_reason(entry));
        rc = FX_ERR_FORBIDDEN;
        goto cleanup;
    }
    if (state == FX_OUTBOX_QUEUED) {
        rc = FX_ERR_EXISTS; /* sent back to the queue by another: it prepares it again */
        goto cleanup;
    }
    if (!bytes || fx_envelope_decode(bytes, len, &env) != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: the stored envelope is missing or damaged", self->command,
                     name);
        rc = FX_ERR_MALFORMED;
        goto cleanup;
    }
    agent_msg_id_hex(fx_envelope_msg_id(env), hex);
    if ((rc = agent_session_connect(self)) != FX_OK)
        goto cleanup;
    /* Larger than the broker takes: its transport would drop the connection at every try, with
     * no answer. Refused here for good, as a rejection of the broker's is. */
    char why[FX_CLIENT_REASON_MAX - 64];
    if (agent_too_large(self->client, env, why, sizeof why)) {
        answer->refused = 1;
        snprintf(answer->reason, sizeof answer->reason, "%s; %s", why,
                 agent_too_large_fix(fx_envelope_header(env)));
        snprintf(answer->code, sizeof answer->code, "%s", fx_err_code(FX_ERR_TOO_LARGE));
        rc = fx_mailbox_outbox_reject(self->mailbox, id, answer->code, "", answer->reason,
                                      fx_now_ms());
        if (rc != FX_OK && rc != FX_ERR_NOT_FOUND)
            goto storage;
        fprintf(out, "rejected: msg_id %s (%s): %s\n    %s\n", hex, name, answer->code,
                answer->reason);
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    if ((rc = fx_mailbox_outbox_attempt(self->mailbox, id, fx_now_ms())) != FX_OK)
        goto storage;
    rc = fx_client_publish(self->client, env, self->timeout_ms, answer);
    if (rc == FX_OK) {
        /* not found: another fusion-agent recorded the same answer first (the broker answers a
         * msg_id the same way every time) */
        if ((rc = fx_mailbox_outbox_accept(self->mailbox, id, fx_now_ms())) == FX_ERR_NOT_FOUND)
            rc = FX_OK;
        if (rc != FX_OK)
            goto storage;
        fprintf(out, "accepted: msg_id %s (%s)\n", hex, name);
    } else if (answer->refused && strcmp(answer->code, "stale") == 0 &&
               fx_mailbox_outbox_requeue(self->mailbox, id, fx_now_ms()) == FX_OK) {
        fprintf(out,
                "%s: the broker found msg_id %s too old or too new (stale; check this "
                "computer's clock); it goes back to the queue to be prepared and sealed again\n",
                name, hex);
    } else if (answer->refused && strcmp(answer->code, "rate_limited") == 0) {
        /* Over the broker's rate limit: not a verdict on the message, which stays queued. */
        fprintf(out,
                "%s: the broker is rate limiting this principal; msg_id %s stays in the outbox\n",
                name, hex);
        answer->refused = 0;
        rc = FX_ERR_UNAVAILABLE;
    } else if (answer->refused && strcmp(answer->code, fx_err_code(FX_ERR_STORAGE)) == 0) {
        /* The broker's store failed: nothing was kept; the message is sent again until it is
         * ACCEPTED (a later flush or listen), as the outbox promises. */
        fprintf(out,
                "%s: the broker cannot store messages right now (storage failure); msg_id %s "
                "stays in the outbox and goes again once the broker is repaired\n",
                name, hex);
        answer->refused = 0;
        rc = FX_ERR_UNAVAILABLE;
    } else if (answer->refused) {
        fx_err_t st = fx_mailbox_outbox_reject(self->mailbox, id, answer->code, answer->rule,
                                               answer->reason, fx_now_ms());
        if (st != FX_OK && st != FX_ERR_NOT_FOUND) { /* not found: recorded by another first */
            rc = st;
            goto storage;
        }
        fprintf(out, "rejected: msg_id %s (%s): %s%s%s%s\n    %s\n", hex, name, answer->code,
                answer->rule[0] ? " (rule " : "", answer->rule, answer->rule[0] ? ")" : "",
                answer->reason[0] ? answer->reason : "(no reason given)");
    } else if (rc != FX_ERR_UNAVAILABLE) {
        fx_cli_error(AGENT_PROG,
                     "%s: %s: the broker's answer broke the protocol (%s); the message stays "
                     "in the outbox",
                     self->command, name, fx_strerror(rc));
    }
    goto cleanup;
storage:
    fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s", self->command, fx_mailbox_path(self->mailbox),
                 fx_strerror(rc));
cleanup:
    fx_envelope_destroy(&env);
    fx_outbox_entry_destroy(&entry);
    return rc;
}

fx_err_t agent_refuse_entry(agent_session_t *self, const fx_outbox_entry_t *entry, const char *code,
                            const char *reason, FILE *out)
{
    char name[160];
    s_entry_name(entry, name, sizeof name);
    fx_err_t rc = fx_mailbox_outbox_reject(self->mailbox, fx_outbox_entry_id(entry), code, "",
                                           reason, fx_now_ms());
    if (rc == FX_OK)
        fprintf(out, "rejected: %s: %s\n    %s\n", name, code, reason);
    return rc;
}

fx_err_t agent_seal_draft(agent_session_t *self, const fx_draft_t *draft, const char *name,
                          FILE *out, fx_envelope_t **env_p, agent_refusal_t *refusal)
{
    fx_prepared_t *prepared = NULL;
    fx_envelope_t *env = NULL;
    fx_answer_t answer;
    *env_p = NULL;
    memset(refusal, 0, sizeof *refusal);
    fx_err_t rc = agent_session_directory(self);
    if (rc != FX_OK)
        return rc;
    rc = fx_client_prepare(self->client, fx_draft_header(draft), fx_draft_recipients(draft),
                           fx_draft_recipient_count(draft), self->authority,
                           fx_directory_revocations(self->directory), fx_now_ms(), self->timeout_ms,
                           &prepared, &answer);
    if (rc != FX_OK) {
        if (answer.refused && (strcmp(answer.code, "rate_limited") == 0 ||
                               strcmp(answer.code, fx_err_code(FX_ERR_STORAGE)) == 0)) {
            rc = FX_ERR_UNAVAILABLE; /* rate limit or storage failure: the entry stays queued */
        } else if (answer.refused) {
            snprintf(refusal->code, sizeof refusal->code, "%s", answer.code);
            snprintf(refusal->reason, sizeof refusal->reason,
                     "the broker refused to prepare it: %s",
                     answer.reason[0] ? answer.reason : answer.code);
            rc = FX_ERR_FORBIDDEN;
        } else if (rc != FX_ERR_UNAVAILABLE) {
            fx_cli_error(AGENT_PROG, "%s: %s: the broker's PREPARED answer broke the protocol (%s)",
                         self->command, name, fx_strerror(rc));
        }
        goto cleanup;
    }
    uint32_t dropped[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_dropped = 0;
    rc = agent_seal_prepared(self->keys, fx_draft_header(draft), draft, prepared, &env, dropped,
                             &n_dropped);
    if (rc == FX_ERR_NOT_FOUND) {
        snprintf(refusal->code, sizeof refusal->code, "no_recipient");
        snprintf(refusal->reason, sizeof refusal->reason,
                 "the policy allows no recipient for any section");
        const fx_denial_t *d = fx_prepared_denied(prepared, 0, 0);
        if (d)
            snprintf(refusal->reason, sizeof refusal->reason,
                     "the policy allows no recipient for any section (first denial: %s: %s: %s)",
                     d->recipient, d->code, d->reason);
        rc = FX_ERR_FORBIDDEN;
        goto cleanup;
    }
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: cannot seal the message: %s", self->command, name,
                     fx_strerror(rc));
        goto cleanup;
    }
    for (size_t i = 0; i < n_dropped; i++)
        fprintf(out, "%s: section %u dropped: the policy allows no recipient for it\n", name,
                dropped[i]);
    /* Larger than the broker takes: its transport would drop the connection at every try, with
     * no answer. */
    if (agent_too_large(self->client, env, refusal->reason, sizeof refusal->reason)) {
        snprintf(refusal->code, sizeof refusal->code, "%s", fx_err_code(FX_ERR_TOO_LARGE));
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    *env_p = env;
    env = NULL;
cleanup:
    fx_envelope_destroy(&env);
    fx_prepared_destroy(&prepared);
    return rc;
}

/* Prepares and seals a queued entry (no confirmation: whoever queued it asked to send it to the
 * recipients the policy allows). FX_OK when it is now sealed; FX_ERR_FORBIDDEN when it was
 * refused for good (recorded); FX_ERR_UNAVAILABLE; or a local error. */
static fx_err_t s_seal_queued(agent_session_t *self, const fx_outbox_entry_t *entry, FILE *out)
{
    char name[160];
    s_entry_name(entry, name, sizeof name);
    if (fx_outbox_entry_expires_at(entry) <= fx_now_ms()) {
        fx_err_t rc = agent_refuse_entry(
            self, entry, "expired", "the draft expired in the outbox before it could be sent", out);
        return rc == FX_OK ? FX_ERR_FORBIDDEN : rc;
    }
    size_t len = 0;
    const uint8_t *bytes = fx_outbox_entry_draft(entry, &len);
    fx_draft_t *draft = NULL;
    fx_envelope_t *env = NULL;
    agent_refusal_t refusal;
    fx_err_t rc = fx_draft_deserialize(bytes, len, &draft);
    if (rc != FX_OK) {
        rc = agent_refuse_entry(self, entry, "malformed", "the stored draft is damaged", out);
        return rc == FX_OK ? FX_ERR_FORBIDDEN : rc;
    }
    rc = agent_seal_draft(self, draft, name, out, &env, &refusal);
    if (rc == FX_ERR_TOO_LARGE) /* refused for good, as a rejection of the broker's is */
        snprintf(refusal.reason + strlen(refusal.reason),
                 sizeof refusal.reason - strlen(refusal.reason), "; %s",
                 agent_too_large_fix(fx_draft_header(draft)));
    if (rc == FX_ERR_FORBIDDEN || rc == FX_ERR_TOO_LARGE) {
        rc = agent_refuse_entry(self, entry, refusal.code, refusal.reason, out);
        rc = rc == FX_OK ? FX_ERR_FORBIDDEN : rc;
        goto cleanup;
    }
    if (rc != FX_OK)
        goto cleanup;
    rc = fx_mailbox_outbox_seal(self->mailbox, fx_outbox_entry_id(entry), env, fx_now_ms());
    if (rc == FX_ERR_EXISTS)
        rc = FX_OK; /* another fusion-agent sealed it first: send that envelope */
    if (rc != FX_OK)
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s", self->command,
                     fx_mailbox_path(self->mailbox), fx_strerror(rc));
cleanup:
    fx_envelope_destroy(&env);
    fx_draft_destroy(&draft);
    return rc;
}

void agent_flush_outbox(agent_session_t *self, int64_t max_id, FILE *out, agent_flush_t *result)
{
    memset(result, 0, sizeof *result);
    int64_t *ids = NULL;
    size_t count = 0;
    if (fx_mailbox_outbox_pending(self->mailbox, 10000, &ids, &count) != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: cannot read the outbox", self->command,
                     fx_mailbox_path(self->mailbox));
        result->failed = 1;
        return;
    }
    for (size_t i = 0; i < count && !result->unavailable && !result->failed; i++) {
        if (max_id > 0 && ids[i] > max_id)
            break;
        /* Two passes at most: a `stale` answer sends a sealed entry back to queued once. */
        for (int pass = 0; pass < 2; pass++) {
            fx_outbox_entry_t *entry = NULL;
            if (fx_mailbox_outbox_get(self->mailbox, ids[i], &entry) != FX_OK) {
                result->failed = 1;
                break;
            }
            fx_outbox_state_t state = fx_outbox_entry_state(entry);
            fx_err_t rc = FX_OK;
            if (state == FX_OUTBOX_QUEUED)
                rc = s_seal_queued(self, entry, out);
            else if (state == FX_OUTBOX_SEALED && (rc = agent_session_connect(self)) == FX_OK &&
                     fx_client_max_frame(self->client) == 0)
                rc = agent_session_directory(self); /* its answer says the broker's limit */
            fx_outbox_entry_destroy(&entry);
            if (state == FX_OUTBOX_ACCEPTED || state == FX_OUTBOX_REJECTED)
                break; /* done meanwhile by another fusion-agent */
            if (rc == FX_ERR_FORBIDDEN) {
                result->rejected++;
                break;
            }
            if (rc == FX_OK) {
                fx_answer_t answer;
                rc = agent_publish_entry(self, ids[i], out, &answer);
                if (rc == FX_OK) {
                    result->accepted++;
                    break;
                }
                if (answer.refused && strcmp(answer.code, "stale") == 0 && pass == 0)
                    continue;
                if (answer.refused) {
                    result->rejected++;
                    break;
                }
            }
            if (rc == FX_ERR_UNAVAILABLE)
                result->unavailable = 1;
            else if (rc == FX_ERR_STORAGE || rc == FX_ERR_IO)
                result->failed = 1;
            else
                result->pending++; /* a protocol problem: left for a later try */
            break;
        }
    }
    free(ids);
    /* What is still waiting, whatever happened above. */
    int64_t *left = NULL;
    size_t n_left = 0;
    if (fx_mailbox_outbox_pending(self->mailbox, 10000, &left, &n_left) == FX_OK)
        result->pending = n_left;
    free(left);
}

/* ---- fusion-agent flush --------------------------------------------------------------------- */

static void s_flush_help(void)
{
    printf("Usage: %s flush [--timeout S] [--config FILE]\n\n"
           "Sends what waits in the outbox: drafts queued while the broker was unreachable are\n"
           "prepared and sealed for the recipients the policy allows now, and sealed messages\n"
           "are published again (with the same msg_id, so the broker never stores one twice).\n"
           "A message larger than the broker takes (its max_message_bytes, which it tells the\n"
           "agent) is not sent: it is rejected here, code too_large, as the broker's transport\n"
           "would only drop it. Prints one line per message: 'accepted: msg_id HEX' or\n"
           "'rejected: ...'. With nothing to send it does not connect to the broker.\n\n"
           "Options:\n"
           "  --timeout S    seconds to wait for each answer (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the outbox is empty, 3 when a message was rejected (by the broker, or\n"
           "here when its draft expired, the policy allows nobody, or it is larger than the\n"
           "broker takes: each leaves the outbox), 5 when the broker could not be reached (the\n"
           "rest stays queued).\n");
    fx_cli_print_exit_codes();
}

int agent_flush(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'c') {
            config = optarg;
        } else if (opt == 't') {
            if (agent_parse_seconds("flush", "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'h') {
            s_flush_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG, "flush: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "flush: unexpected argument '%s' (try --help)", argv[optind]);
        return FX_EXIT_USAGE;
    }
    /* Connected only when an entry is to be prepared or sent: an empty outbox, or entries
     * refused here (expired, damaged), open no connection the broker would see closed before
     * its handshake, as a refused one. */
    agent_session_t session;
    int status =
        agent_session_open_unconnected(&session, "flush", agent_config_path(config), timeout_ms);
    if (status == FX_EXIT_OK) {
        agent_flush_t result;
        agent_flush_outbox(&session, 0, stdout, &result);
        if (result.failed) {
            status = FX_EXIT_SYSTEM;
        } else if (result.unavailable) {
            status = agent_session_unreachable(&session);
            fprintf(stderr, "%s: flush: %zu message(s) stay in the outbox\n", AGENT_PROG,
                    result.pending);
        } else {
            if (result.accepted + result.rejected == 0 && result.pending == 0)
                printf("the outbox is empty\n");
            status = result.rejected  ? FX_EXIT_REFUSED
                     : result.pending ? FX_EXIT_SYSTEM
                                      : FX_EXIT_OK;
        }
    }
    agent_session_close(&session);
    return status;
}
