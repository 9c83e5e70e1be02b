/* Helpers of fusion-agent's workflow commands: msg_ids, inbox messages opened again, officers'
 * text, and sending a built draft through the outbox (see agent_workflow.h). */
#include "agent_workflow.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fusion/cli.h"
#include "fusion/content.h"

int workflow_msg_id(const char *command, const char *text, uint8_t msg_id[FX_MSG_ID_BYTES])
{
    size_t len = strlen(text);
    for (size_t i = 0; len == 2 * FX_MSG_ID_BYTES && i < FX_MSG_ID_BYTES; i++) {
        int hi = fx_hex_digit(text[2 * i]), lo = fx_hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            break;
        msg_id[i] = (uint8_t) (hi << 4 | lo);
        if (i + 1 == FX_MSG_ID_BYTES)
            return 0;
    }
    fx_cli_error(AGENT_PROG,
                 "%s: '%.40s' is not a msg_id: 32 hexadecimal digits, as listen and send print "
                 "them",
                 command, text);
    return -1;
}

void workflow_message_clear(workflow_message_t *m)
{
    fx_envelope_destroy(&m->env);
    fx_cert_destroy(&m->sender);
}

/* The message from an open mailbox, verified with the pinned authority key. */
static int s_inbox_read(const char *command, fx_mailbox_t *mailbox, const char *id,
                        const uint8_t authority[FX_KEY_BYTES], const char *hex,
                        workflow_message_t *m)
{
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (workflow_msg_id(command, hex, msg_id) != 0)
        return FX_EXIT_USAGE;
    fx_inbox_entry_t *entry = NULL;
    fx_err_t rc = fx_mailbox_inbox_get(mailbox, msg_id, &entry);
    if (rc == FX_ERR_NOT_FOUND) {
        fx_cli_error(AGENT_PROG,
                     "%s: there is no message %s in the inbox of %s (see 'fusion-agent listen'); "
                     "nothing was sent",
                     command, hex, id);
        return FX_EXIT_USAGE;
    }
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s", command, fx_mailbox_path(mailbox),
                     fx_strerror(rc));
        return FX_EXIT_SYSTEM;
    }
    size_t env_len = 0, cert_len = 0;
    const uint8_t *env_bytes = fx_inbox_entry_envelope(entry, &env_len);
    const uint8_t *cert_bytes = fx_inbox_entry_sender_cert(entry, &cert_len);
    rc = fx_envelope_decode(env_bytes, env_len, &m->env);
    if (rc == FX_OK) {
        rc = fx_cert_verify(cert_bytes, cert_len, authority, fx_now_ms(), &m->sender);
        if (rc == FX_ERR_CERT_EXPIRED) /* valid when the message was made */
            rc = fx_cert_verify(cert_bytes, cert_len, authority,
                                (int64_t) fx_envelope_header(m->env)->created_at, &m->sender);
    }
    if (rc == FX_OK)
        rc = fx_envelope_verify(m->env, fx_cert_id(m->sender), fx_cert_sign_key(m->sender));
    fx_inbox_entry_destroy(&entry);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: message %s in the inbox does not verify any more: %s",
                     command, hex, fx_strerror(rc));
        workflow_message_clear(m);
        return FX_EXIT_REFUSED;
    }
    return FX_EXIT_OK;
}

/* The agent's local state, without a connection: configuration, authority key, mailbox. */
int workflow_grant_covers(const Fusion__Header *grant, char **to, size_t n, const char **missing_p)
{
    for (size_t i = 0; i < n; i++) {
        char agency[FX_ID_MAX] = "";
        if (fx_principal_id_valid(to[i]))
            fx_principal_agency(to[i], agency);
        int ok = 0;
        for (size_t j = 0; j < grant->n_reshare_to && !ok; j++)
            ok = strcmp(grant->reshare_to[j], to[i]) == 0 ||
                 strcmp(grant->reshare_to[j], agency) == 0;
        if (!ok) {
            *missing_p = to[i];
            return 0;
        }
    }
    return 1;
}

/* 1 when this principal's outbox holds request_id, a reshare_request about orig_id. */
static int s_my_request(fx_mailbox_t *mailbox, const uint8_t *request_id, const uint8_t *orig_id)
{
    int64_t *ids = NULL;
    size_t count = 0, len = 0;
    int found = 0;
    if (fx_mailbox_outbox_list(mailbox, 10000, &ids, &count) != FX_OK)
        return 0;
    for (size_t i = 0; i < count && !found; i++) {
        fx_outbox_entry_t *entry = NULL;
        fx_envelope_t *env = NULL;
        if (fx_mailbox_outbox_get(mailbox, ids[i], &entry) != FX_OK)
            continue;
        const uint8_t *id = fx_outbox_entry_msg_id(entry);
        const uint8_t *bytes = fx_outbox_entry_envelope(entry, &len);
        if (id && bytes && memcmp(id, request_id, FX_MSG_ID_BYTES) == 0 &&
            fx_envelope_decode(bytes, len, &env) == FX_OK) {
            const Fusion__Header *h = fx_envelope_header(env);
            found = (int) h->kind == FX_KIND_RESHARE_REQUEST &&
                    h->in_reply_to.len == FX_MSG_ID_BYTES &&
                    memcmp(h->in_reply_to.data, orig_id, FX_MSG_ID_BYTES) == 0;
        }
        fx_envelope_destroy(&env);
        fx_outbox_entry_destroy(&entry);
    }
    free(ids);
    return found;
}

int workflow_find_grant(const char *command, const char *config_path, const fx_envelope_t *orig,
                        char **to, size_t n_to, char grant_hex[2 * FX_MSG_ID_BYTES + 1])
{
    agent_session_t l;
    if (agent_session_open_local(&l, command, config_path) != FX_EXIT_OK)
        return -1;
    uint8_t(*ids)[FX_MSG_ID_BYTES] = NULL;
    size_t count = 0;
    int found = 0;
    if (fx_mailbox_inbox_from(l.mailbox, "reshare_grant", fx_envelope_sender(orig), 256, &ids,
                              &count) != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: cannot read the inbox", command,
                     fx_mailbox_path(l.mailbox));
        agent_session_close(&l);
        return -1;
    }
    for (size_t i = 0; i < count && !found; i++) {
        char hex[2 * FX_MSG_ID_BYTES + 1];
        workflow_message_t g = {0};
        fx_hex(ids[i], FX_MSG_ID_BYTES, hex);
        if (s_inbox_read(command, l.mailbox, l.config->id, l.authority, hex, &g) != FX_EXIT_OK)
            continue;
        const Fusion__Header *gh = fx_envelope_header(g.env);
        const char *missing = NULL;
        found = (int) gh->kind == FX_KIND_RESHARE_GRANT &&
                strcmp(fx_cert_id(g.sender), fx_envelope_sender(orig)) == 0 &&
                (int64_t) gh->expires_at > fx_now_ms() && gh->in_reply_to.len == FX_MSG_ID_BYTES &&
                workflow_grant_covers(gh, to, n_to, &missing) &&
                s_my_request(l.mailbox, gh->in_reply_to.data, fx_envelope_msg_id(orig));
        if (found)
            memcpy(grant_hex, hex, sizeof hex);
        workflow_message_clear(&g);
    }
    free(ids);
    agent_session_close(&l);
    return found;
}

int workflow_inbox_read(const char *command, const char *config_path, const char *hex,
                        workflow_message_t *m)
{
    memset(m, 0, sizeof *m);
    agent_session_t l;
    int status = agent_session_open_local(&l, command, config_path);
    if (status == FX_EXIT_OK)
        status = s_inbox_read(command, l.mailbox, l.config->id, l.authority, hex, m);
    agent_session_close(&l);
    return status;
}

int workflow_inbox_read_kind(const char *command, const char *config_path, const char *hex,
                             int kind, workflow_message_t *m)
{
    int status = workflow_inbox_read(command, config_path, hex, m);
    if (status != FX_EXIT_OK)
        return status;
    const Fusion__Header *h = fx_envelope_header(m->env);
    int got = (int) h->kind;
    if (got == kind)
        return FX_EXIT_OK;
    /* A notice names the message it is about (an escalation notice, its referral): say so. */
    char about[96] = "";
    if (got == FX_KIND_NOTICE && h->in_reply_to.len == FX_MSG_ID_BYTES) {
        char ref[2 * FX_MSG_ID_BYTES + 1];
        snprintf(about, sizeof about, " (it is about message %s: give that msg_id)",
                 fx_hex(h->in_reply_to.data, FX_MSG_ID_BYTES, ref));
    }
    fx_cli_error(AGENT_PROG, "%s: message %s is of kind %s, not %s%s; nothing was sent", command,
                 hex, fx_vocab_name(FX_VOCAB_KIND, got), fx_vocab_name(FX_VOCAB_KIND, kind), about);
    workflow_message_clear(m);
    return FX_EXIT_USAGE;
}

/* The newest escalation notice of the broker (broker, its certificate) about referral msg_id in
 * the inbox: 1 with it in m, 0 none, -1 after printing a storage error. */
static int s_notice_about(const char *command, agent_session_t *l, const fx_cert_t *broker,
                          const uint8_t msg_id[FX_MSG_ID_BYTES], workflow_message_t *m)
{
    uint8_t(*ids)[FX_MSG_ID_BYTES] = NULL;
    size_t count = 0;
    if (fx_mailbox_inbox_from(l->mailbox, "notice", fx_cert_id(broker), 10000, &ids, &count) !=
        FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: cannot read the inbox", command,
                     fx_mailbox_path(l->mailbox));
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < count && !found; i++) {
        char hex[2 * FX_MSG_ID_BYTES + 1];
        fx_hex(ids[i], FX_MSG_ID_BYTES, hex);
        if (s_inbox_read(command, l->mailbox, l->config->id, l->authority, hex, m) != FX_EXIT_OK)
            continue; /* one that does not verify any more was said; it counts for nothing */
        const Fusion__Header *h = fx_envelope_header(m->env);
        found = (int) h->kind == FX_KIND_NOTICE &&
                strcmp(fx_cert_id(m->sender), fx_cert_id(broker)) == 0 &&
                h->in_reply_to.len == FX_MSG_ID_BYTES &&
                memcmp(h->in_reply_to.data, msg_id, FX_MSG_ID_BYTES) == 0;
        if (!found)
            workflow_message_clear(m);
    }
    free(ids);
    return found;
}

int workflow_inbox_read_referral(const char *command, const char *config_path, const char *hex,
                                 workflow_message_t *m, int *notice_p)
{
    memset(m, 0, sizeof *m);
    *notice_p = 0;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (workflow_msg_id(command, hex, msg_id) != 0)
        return FX_EXIT_USAGE;
    agent_session_t l;
    int status = agent_session_open_local(&l, command, config_path);
    if (status != FX_EXIT_OK)
        return status;
    fx_inbox_entry_t *entry = NULL;
    fx_err_t rc = fx_mailbox_inbox_get(l.mailbox, msg_id, &entry);
    fx_inbox_entry_destroy(&entry);
    if (rc != FX_ERR_NOT_FOUND) { /* the referral itself (or the error reading it) */
        agent_session_close(&l);
        return workflow_inbox_read_kind(command, config_path, hex, FX_KIND_REFERRAL, m);
    }
    fx_cert_t *broker = NULL;
    rc = fx_broker_cert_load(l.config->broker_cert, l.authority, fx_now_ms(), &broker);
    int found = rc == FX_OK ? s_notice_about(command, &l, broker, msg_id, m) : 0;
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: broker_cert %s: %s", command, l.config->broker_cert,
                     rc == FX_ERR_NOT_FOUND ? "no such file" : fx_strerror(rc));
        status = fx_err_exit(rc);
    } else if (found < 0)
        status = FX_EXIT_SYSTEM;
    else if (!found) {
        fx_cli_error(AGENT_PROG,
                     "%s: there is no message %s in the inbox of %s, nor an escalation notice "
                     "of the broker about it (see 'fusion-agent listen'); nothing was sent",
                     command, hex, l.config->id);
        status = FX_EXIT_USAGE;
    } else
        *notice_p = 1;
    fx_cert_destroy(&broker);
    agent_session_close(&l);
    return status;
}

int workflow_text_ok(const char *command, const char *option, const char *text)
{
    size_t len = strlen(text);
    const char *problem = NULL;
    if (len == 0)
        problem = "is empty";
    else if (len > WORKFLOW_TEXT_MAX)
        problem = "is too long (at most 16 KiB)";
    for (size_t i = 0; i < len && !problem; i++) {
        unsigned char c = (unsigned char) text[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            problem = "contains a control character";
    }
    for (size_t i = 0; i < len && !problem;) {
        unsigned char c = (unsigned char) text[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xe0) == 0xc0 ? 2
                   : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4
                                        : 0;
        if (n == 0 || c == 0xc0 || c == 0xc1 || c > 0xf4 || i + n > len)
            problem = "is not valid UTF-8";
        for (size_t k = 1; k < n && !problem; k++)
            if (((unsigned char) text[i + k] & 0xc0) != 0x80)
                problem = "is not valid UTF-8";
        i += n ? n : 1;
    }
    if (problem) {
        fx_cli_error(AGENT_PROG, "%s: %s %s; nothing was sent", command, option, problem);
        return -1;
    }
    return 0;
}

/* 1 when id is a valid, unrevoked principal of the directory, or an agency with one. */
static int s_party_known(const fx_directory_t *dir, const char *id)
{
    if (fx_directory_find(dir, id))
        return 1;
    for (size_t i = 0; i < fx_directory_count(dir); i++)
        if (fx_directory_status_at(dir, i) == FX_CERT_STATUS_VALID &&
            strcmp(fx_cert_agency(fx_directory_at(dir, i)), id) == 0)
            return 1;
    return 0;
}

int workflow_reshare_to_check(agent_session_t *s, char **to, size_t n, const char *requester,
                              const char *originator, const char *orig_hex, int *unreachable)
{
    *unreachable = 0;
    char why[FX_ID_MAX + 2 * FX_MSG_ID_BYTES + 160] = "";
    /* What needs no directory first: the broker says the same sentences (handle_referral.c). */
    for (size_t i = 0; i < n && !why[0]; i++) {
        for (size_t j = 0; j < i && !why[0]; j++)
            if (strcmp(to[j], to[i]) == 0)
                snprintf(why, sizeof why, "reshare_to names %s twice", to[i]);
        if (why[0])
            break;
        if (strcmp(to[i], requester) == 0)
            snprintf(why, sizeof why,
                     "reshare_to names %s, the requester itself, which holds message %s already",
                     to[i], orig_hex);
        else if (strcmp(to[i], originator) == 0)
            snprintf(why, sizeof why,
                     "reshare_to names %s, the originator of message %s, who holds it already",
                     to[i], orig_hex);
    }
    if (!why[0]) {
        fx_err_t rc = agent_session_directory(s);
        if (rc == FX_ERR_UNAVAILABLE) {
            *unreachable = 1; /* the broker checks it when the queued message goes */
            return FX_EXIT_OK;
        }
        if (rc != FX_OK)
            return fx_err_exit(rc); /* said by agent_session_directory */
        for (size_t i = 0; i < n && !why[0]; i++)
            if (!s_party_known(s->directory, to[i]))
                snprintf(why, sizeof why,
                         "reshare_to names %s, which is not a principal or agency of the "
                         "directory (or its certificate is revoked or expired)",
                         to[i]);
    }
    if (!why[0])
        return FX_EXIT_OK;
    fx_cli_error(AGENT_PROG, "%s: %s; nothing was sent", s->command, why);
    return FX_EXIT_USAGE;
}

int workflow_granted(agent_session_t *s, const uint8_t request_id[FX_MSG_ID_BYTES],
                     int64_t *entry_p, const char **state_p)
{
    int64_t *ids = NULL;
    size_t count = 0;
    int found = 0;
    if (fx_mailbox_outbox_list(s->mailbox, 10000, &ids, &count) != FX_OK)
        return 0;
    for (size_t i = 0; i < count && !found; i++) {
        fx_outbox_entry_t *entry = NULL;
        if (fx_mailbox_outbox_get(s->mailbox, ids[i], &entry) != FX_OK)
            continue;
        fx_outbox_state_t state = fx_outbox_entry_state(entry);
        size_t len = 0;
        const uint8_t *env_bytes = fx_outbox_entry_envelope(entry, &len);
        fx_envelope_t *env = NULL;
        fx_draft_t *draft = NULL;
        const Fusion__Header *h = NULL;
        if (state == FX_OUTBOX_REJECTED) {
            /* refused: it granted nothing */
        } else if (env_bytes && fx_envelope_decode(env_bytes, len, &env) == FX_OK) {
            h = fx_envelope_header(env);
        } else {
            const uint8_t *draft_bytes = fx_outbox_entry_draft(entry, &len);
            if (draft_bytes && fx_draft_deserialize(draft_bytes, len, &draft) == FX_OK)
                h = fx_draft_header(draft);
        }
        found = h && (int) h->kind == FX_KIND_RESHARE_GRANT &&
                h->in_reply_to.len == FX_MSG_ID_BYTES &&
                memcmp(h->in_reply_to.data, request_id, FX_MSG_ID_BYTES) == 0;
        if (found) {
            *entry_p = ids[i];
            *state_p = fx_outbox_state_name(state);
        }
        fx_draft_destroy(&draft);
        fx_envelope_destroy(&env);
        fx_outbox_entry_destroy(&entry);
    }
    free(ids);
    return found;
}

int workflow_max_tlp(const fx_envelope_t *env)
{
    const Fusion__Header *h = fx_envelope_header(env);
    int tlp = 0;
    for (size_t i = 0; i < h->n_sections; i++)
        if ((int) h->sections[i]->tlp > tlp)
            tlp = (int) h->sections[i]->tlp;
    return tlp;
}

void workflow_notice(const char *text, uint8_t **data_p, size_t *len_p)
{
    Fusion__Notice notice = FUSION__NOTICE__INIT;
    notice.text = (char *) text;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_NOTICE;
    content.notice = &notice;
    fx_content_encode(&content, data_p, len_p);
}

/* Queues draft in the outbox (*id_p its entry). FX_EXIT_OK, or FX_EXIT_SYSTEM after saying so. */
static int s_outbox_add(agent_session_t *s, const fx_draft_t *draft, const char *label,
                        int64_t *id_p)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_draft_serialize(draft, &data, &len);
    fx_err_t rc =
        fx_mailbox_outbox_add(s->mailbox, data, len, label,
                              (int64_t) fx_draft_header(draft)->expires_at, fx_now_ms(), id_p);
    sodium_memzero(data, len); /* plaintext */
    free(data);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s; nothing was sent", s->command,
                     fx_mailbox_path(s->mailbox), fx_strerror(rc));
        return FX_EXIT_SYSTEM;
    }
    return FX_EXIT_OK;
}

static void s_waits(const agent_session_t *s, int64_t id)
{
    fprintf(stderr,
            "%s: %s: the message waits in the outbox as #%lld; a later 'send', 'listen' "
            "or 'flush' sends it\n",
            AGENT_PROG, s->command, (long long) id);
}

int workflow_queue(agent_session_t *s, const fx_draft_t *draft, const char *label)
{
    int64_t id = 0;
    if (s_outbox_add(s, draft, label, &id) != FX_EXIT_OK)
        return FX_EXIT_SYSTEM;
    int status = agent_session_unreachable(s);
    s_waits(s, id);
    return status;
}

int workflow_send(agent_session_t *s, const fx_draft_t *draft, const char *label)
{
    /* Older messages first, so the outbox keeps its order. */
    agent_flush_t flush;
    agent_flush_outbox(s, 0, stdout, &flush);
    if (flush.failed)
        return FX_EXIT_SYSTEM;
    if (flush.unavailable)
        return workflow_queue(s, draft, label);
    /* Sealed before it is queued, as send does: one larger than the broker takes is input over a
     * limit (exit 2), neither sent nor kept. */
    fx_envelope_t *env = NULL;
    agent_refusal_t refusal;
    fx_err_t rc = agent_seal_draft(s, draft, label, stdout, &env, &refusal);
    if (rc == FX_ERR_TOO_LARGE) {
        fx_cli_error(AGENT_PROG, "%s: %s; nothing was sent: %s", s->command, refusal.reason,
                     agent_too_large_fix(fx_draft_header(draft)));
        return FX_EXIT_USAGE;
    }
    if (rc == FX_ERR_UNAVAILABLE)
        return workflow_queue(s, draft, label);
    int64_t id = 0;
    if (s_outbox_add(s, draft, label, &id) != FX_EXIT_OK) {
        fx_envelope_destroy(&env);
        return FX_EXIT_SYSTEM;
    }
    fx_outbox_entry_t *entry = NULL;
    if (rc == FX_ERR_FORBIDDEN) {
        /* refused for good: kept as rejected, as a flush keeps it */
        if (fx_mailbox_outbox_get(s->mailbox, id, &entry) == FX_OK)
            rc = agent_refuse_entry(s, entry, refusal.code, refusal.reason, stdout);
        fx_outbox_entry_destroy(&entry);
    } else if (rc == FX_OK) {
        rc = fx_mailbox_outbox_seal(s->mailbox, id, env, fx_now_ms());
        if (rc == FX_OK)
            agent_flush_outbox(s, id, stdout, &flush); /* publishes it; a stale one again */
        else
            fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s", s->command, fx_mailbox_path(s->mailbox),
                         fx_strerror(rc));
    } /* else a local or protocol error, printed: the draft waits in the outbox */
    fx_envelope_destroy(&env);
    if (flush.failed || fx_mailbox_outbox_get(s->mailbox, id, &entry) != FX_OK)
        return FX_EXIT_SYSTEM;
    fx_outbox_state_t state = fx_outbox_entry_state(entry);
    int status = FX_EXIT_SYSTEM;
    if (state == FX_OUTBOX_ACCEPTED) {
        status = FX_EXIT_OK;
    } else if (state == FX_OUTBOX_REJECTED) {
        fx_cli_error(AGENT_PROG, "%s: refused: %s%s%s%s: %s", s->command,
                     fx_outbox_entry_code(entry), fx_outbox_entry_rule(entry)[0] ? " (rule " : "",
                     fx_outbox_entry_rule(entry), fx_outbox_entry_rule(entry)[0] ? ")" : "",
                     fx_outbox_entry_reason(entry));
        status = FX_EXIT_REFUSED;
    } else if (flush.unavailable) {
        status = agent_session_unreachable(s);
        s_waits(s, id);
    }
    fx_outbox_entry_destroy(&entry);
    return status;
}
