/* PUBLISH: every check of docs/protocol.md in order, then the message, its delivery rows, its
 * answer and its audit entries go into the group transaction; ACCEPTED waits for the commit. */
#include <jansson.h>
#include <string.h>

#include "fusion/audit.h"
#include "server_internal.h"

/* What allowed one section to one recipient (an index into the PUBLISH's recipients). */
typedef struct {
    size_t recipient;
    uint32_t section;
    const char *rule;      /* owned by the policy, which outlives the PUBLISH */
    const char *agreement; /* or NULL */
} allowance_t;

typedef struct {
    server_t *self;
    session_t *session;
    uint64_t request_id;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    int have_id;
    uint8_t digest[FX_HASH_BYTES];
    int have_digest;
    int64_t expires_at; /* how long an answer is remembered; 0: not remembered */
    const char *denied; /* the recipient a policy denial rejected the message for, or NULL */
    json_t *denial;     /* what the audit entry of that rejection adds (owned) */
    /* What allowed each (section, recipient) pair, in the order the policy was asked (section by
     * section), for the accepted entry. */
    allowance_t *allowed;
    size_t n_allowed, allowed_size;
} publish_t;

static void s_answer_rejected(publish_t *p, const char *code, const char *reason, const char *rule)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Rejected rejected = FUSION__REJECTED__INIT;
    frame.request_id = p->request_id;
    frame.body_case = FUSION__FRAME__BODY_REJECTED;
    frame.rejected = &rejected;
    if (p->have_id)
        rejected.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, p->msg_id};
    rejected.code = (char *) code;
    rejected.reason = (char *) reason;
    rejected.rule = (char *) (rule ? rule : "");
    server_answer(p->self, p->session, &frame);
}

/* Rejects the message: audited, remembered with its msg_id when it was authenticated. */
static void s_reject(publish_t *p, const char *code, const char *reason, const char *rule)
{
    server_t *self = p->self;
    char hex[2 * FX_MSG_ID_BYTES + 1] = "-";
    if (p->have_id)
        fx_hex(p->msg_id, FX_MSG_ID_BYTES, hex);
    server_log(self, "rejected %s from %s: %s%s%s", hex, p->session->principal, code,
               rule ? " by rule " : "", rule ? rule : "");
    if (server_begin(self)) {
        json_t *details = json_pack("{s:s}", "code", code);
        if (rule)
            json_object_set_new(details, "rule", json_string(rule));
        if (p->denial)
            json_object_update(details, p->denial);
        server_audit(self, "rejected", p->session->principal, p->denied,
                     p->have_id ? p->msg_id : NULL, p->have_digest ? p->digest : NULL, details);
        if (p->have_id && p->expires_at > 0) {
            fx_store_answer_t answer = {.accepted = false, .expires_at = p->expires_at};
            snprintf(answer.code, sizeof answer.code, "%s", code);
            snprintf(answer.reason, sizeof answer.reason, "%s", reason);
            snprintf(answer.rule, sizeof answer.rule, "%s", rule ? rule : "");
            snprintf(answer.sender, sizeof answer.sender, "%s", p->session->principal);
            fx_err_t rc = fx_store_put_answer(self->store, p->msg_id, &answer);
            if (rc != FX_OK && rc != FX_ERR_EXISTS)
                server_storage_failed(self);
        }
    }
    if (self->failed)
        code = fx_err_code(FX_ERR_STORAGE), reason = fx_strerror(FX_ERR_STORAGE), rule = NULL;
    s_answer_rejected(p, code, reason, rule);
}

static void s_reject_err(publish_t *p, fx_err_t err, const char *reason)
{
    s_reject(p, fx_err_code(err), reason ? reason : fx_strerror(err), NULL);
}

static void s_answer_accepted(publish_t *p)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Accepted accepted = FUSION__ACCEPTED__INIT;
    frame.request_id = p->request_id;
    frame.body_case = FUSION__FRAME__BODY_ACCEPTED;
    frame.accepted = &accepted;
    accepted.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, p->msg_id};
    server_answer(p->self, p->session, &frame);
}

/* A msg_id another principal's PUBLISH was answered under: refused as a replay, with nothing
 * of the first message (its answer, sender or recipients). Not remembered (the msg_id's answer
 * stays the first sender's). Its audit entry carries the msg_id in its details only, so that it
 * files nothing under the first sender's message (a receipt of it stays the first sender's). */
static void s_reject_replay(publish_t *p)
{
    server_t *self = p->self;
    char hex[2 * FX_MSG_ID_BYTES + 1];
    fx_hex(p->msg_id, FX_MSG_ID_BYTES, hex);
    const char *code = fx_err_code(FX_ERR_REPLAY);
    const char *reason = "this msg_id was answered before; publish under a fresh random msg_id";
    server_log(self, "rejected %s from %s: %s (a msg_id answered before, not to this principal)",
               hex, p->session->principal, code);
    if (server_begin(self))
        server_audit(self, "rejected", p->session->principal, NULL, NULL, p->digest,
                     json_pack("{s:s, s:s}", "code", code, "msg_id", hex));
    if (self->failed)
        code = fx_err_code(FX_ERR_STORAGE), reason = fx_strerror(FX_ERR_STORAGE);
    s_answer_rejected(p, code, reason, NULL);
}

/* The first answer to this msg_id, given again to the principal it was given to; another
 * principal is refused (s_reject_replay). 1 if the msg_id was answered before. */
static int s_answer_again(publish_t *p)
{
    fx_store_answer_t prior;
    fx_err_t rc = fx_store_find_answer(p->self->store, p->msg_id, &prior);
    if (rc == FX_ERR_NOT_FOUND)
        return 0;
    /* Past its message's expiry (and before pruning) an answer is not given again: the time
     * checks below refuse the message as expired, and the stored answer stays the first. */
    if (rc == FX_OK && prior.expires_at <= fx_now_ms())
        return 0;
    if (rc != FX_OK) {
        server_storage_failed(p->self);
        s_answer_rejected(p, fx_err_code(FX_ERR_STORAGE), fx_strerror(FX_ERR_STORAGE), NULL);
        return 1;
    }
    /* A row from before answers had a sender ("") is given to nobody again. */
    if (strcmp(prior.sender, p->session->principal) != 0) {
        s_reject_replay(p);
        return 1;
    }
    char hex[2 * FX_MSG_ID_BYTES + 1];
    fx_hex(p->msg_id, FX_MSG_ID_BYTES, hex);
    server_log(p->self, "%.16s... from %s: replay: the first answer again (%s)", hex,
               p->session->principal, prior.accepted ? "accepted" : prior.code);
    p->self->replaying = true; /* counted as a replay, not as a new acceptance or rejection */
    if (prior.accepted)
        s_answer_accepted(p);
    else
        s_answer_rejected(p, prior.code, prior.reason, prior.rule[0] ? prior.rule : NULL);
    p->self->replaying = false;
    return 1;
}

/* An audit entry's details stay under this many bytes; one recipient's item (at most
 * FX_ENVELOPE_MAX_SECTIONS sections) is far smaller. */
#define AUDIT_DETAILS_BUDGET (FX_STORE_DETAILS_MAX - 4096)

/* The accepted entry names every recipient with what allowed each of its sections, and every
 * member of the audience the policy denied a section, so that one entry (one leaf, one proof)
 * tells a receipt who may read what; lists too long for one entry continue in "recipients"
 * entries (docs/audit.md). */
static bool s_audit_accepted(publish_t *p, const Fusion__Header *header, zlistx_t *recipients,
                             json_t *denied)
{
#ifdef FX_BENCH_NO_AUDIT
    (void) p, (void) header, (void) recipients, (void) denied;
    return true; /* the bench-only build without the audit (tests/bench) */
#endif
    /* The allowances grouped by recipient, in the recipients' first-seen order (a counting
     * sort: the policy was asked section by section). */
    size_t n_recipients = zlistx_size(recipients);
    const char **labels = fx_calloc(n_recipients + 1, sizeof *labels);
    size_t *at = fx_calloc(n_recipients + 1, sizeof *at);
    size_t r = 0;
    for (const char *label = zlistx_first(recipients); label; label = zlistx_next(recipients))
        labels[r++] = label;
    for (size_t i = 0; i < p->n_allowed; i++)
        at[p->allowed[i].recipient + 1]++;
    for (r = 1; r <= n_recipients; r++)
        at[r] += at[r - 1];
    fx_audit_allowance_t *grouped = fx_calloc(p->n_allowed + 1, sizeof *grouped);
    for (size_t i = 0; i < p->n_allowed; i++) {
        const allowance_t *a = &p->allowed[i];
        grouped[at[a->recipient]++] = (fx_audit_allowance_t){.recipient = labels[a->recipient],
                                                             .section = a->section,
                                                             .rule = a->rule,
                                                             .agreement = a->agreement};
    }
    /* Denials of the audience are few and rare: each item written by jansson. */
    size_t n_denied = json_array_size(denied);
    char **denied_items = fx_calloc(n_denied + 1, sizeof *denied_items);
    for (size_t i = 0; i < n_denied; i++)
        denied_items[i] = json_dumps(json_array_get(denied, i), JSON_COMPACT | JSON_SORT_KEYS);
    char **texts = fx_audit_accepted_details(
        fx_vocab_name(FX_VOCAB_KIND, (int) header->kind), header->n_sections, grouped, p->n_allowed,
        (const char *const *) denied_items, n_denied, AUDIT_DETAILS_BUDGET);
    bool ok = true;
    for (size_t i = 0; ok && texts[i]; i++)
        ok = server_audit_text(p->self, i ? "recipients" : "accepted", header->sender, NULL,
                               p->msg_id, p->digest, texts[i]);
    fx_audit_details_free(texts);
    fx_audit_details_free(denied_items);
    free(grouped);
    free(at);
    free(labels);
    return ok;
}

/* Stores the accepted message in the group transaction, under a savepoint so a failure undoes
 * this message alone. */
static int s_store(publish_t *p, fx_envelope_t *env, const fx_cert_t *sender, zlistx_t *recipients,
                   json_t *denied)
{
    server_t *self = p->self;
    const Fusion__Header *header = fx_envelope_header(env);
    if (!server_begin(self) || fx_store_savepoint(self->store) != FX_OK)
        return -1;
    uint8_t *bytes;
    size_t len;
    fx_envelope_encode(env, &bytes, &len);
    fx_store_message_t message = {.sender = header->sender,
                                  .sender_serial = fx_cert_serial(sender),
                                  .kind = (int) header->kind,
                                  .urgency = (int) header->urgency,
                                  .created_at = (int64_t) header->created_at,
                                  .expires_at = (int64_t) header->expires_at,
                                  .envelope = bytes,
                                  .envelope_len = len,
                                  .exercise = header->exercise,
                                  .has_in_reply_to = header->in_reply_to.len == FX_MSG_ID_BYTES};
    memcpy(message.msg_id, p->msg_id, FX_MSG_ID_BYTES);
    memcpy(message.header_digest, p->digest, FX_HASH_BYTES);
    if (message.has_in_reply_to)
        memcpy(message.in_reply_to, header->in_reply_to.data, FX_MSG_ID_BYTES);
    fx_err_t rc = fx_store_put_message(self->store, &message);
    free(bytes);
    for (const char *r = zlistx_first(recipients); r && rc == FX_OK; r = zlistx_next(recipients))
        rc = fx_store_delivery_add(self->store, p->msg_id, r);
    /* No answer row: the stored message is the accepted answer (fx_store_find_answer). */
    if (rc == FX_OK && !s_audit_accepted(p, header, recipients, denied))
        rc = FX_ERR_STORAGE;
    if (rc == FX_OK && !workflow_record(self, env, p->digest, recipients))
        rc = FX_ERR_STORAGE;
    if (rc != FX_OK) {
        if (!fx_store_failed(self->store) && fx_store_savepoint_rollback(self->store) == FX_OK)
            return -1;
        server_storage_failed(self);
        return -1;
    }
    if (fx_store_savepoint_release(self->store) != FX_OK) {
        server_storage_failed(self);
        return -1;
    }
    for (const char *r = zlistx_first(recipients); r; r = zlistx_next(recipients))
        server_note_delivery(self, r);
    return 0;
}

/* The audience's principals the policy denies a section that they hold no key for, as PREPARE
 * would have told the sender, into denied: [{recipient, sections: [{section, code, rule,
 * agreement}]}]; candidates are the audience's principals (prepare_audience). Outside a taskforce
 * is not a denial (the principal is not in it). Audience direct names nobody beyond the wrapped
 * keys, so it has none (docs/audit.md). */
static void s_audience_denials(const Fusion__Header *header, zlistx_t *candidates,
                               fx_policy_query_t *query, zhashx_t *keyed, json_t *denied)
{
    for (const fx_cert_t *c = zlistx_first(candidates); c; c = zlistx_next(candidates)) {
        json_t *sections = NULL;
        size_t index = SIZE_MAX;
        for (size_t s = 0; s < header->n_sections; s++) {
            char pair[FX_ID_MAX + 16];
            snprintf(pair, sizeof pair, "%s/%u", fx_cert_id(c), header->sections[s]->id);
            if (zhashx_lookup(keyed, pair))
                continue;
            char why[256];
            fx_policy_principal_t to;
            server_principal(c, &to);
            if (index == SIZE_MAX &&
                fx_policy_query_add_recipient(query, &to, &index, why, sizeof why) != FX_OK)
                break;
            fx_policy_decision_t decision;
            fx_policy_decide(query, index, s, &decision);
            if (decision.allow || (header->audience == FUSION__AUDIENCE__AUDIENCE_TASKFORCE &&
                                   decision.code == FX_POLICY_AUDIENCE_MISMATCH))
                continue;
            json_t *entry = json_pack("{s:I, s:s}", "section", (json_int_t) header->sections[s]->id,
                                      "code", fx_policy_code_name(decision.code));
            if (decision.rule)
                json_object_set_new(entry, "rule", json_string(decision.rule));
            if (decision.agreement)
                json_object_set_new(entry, "agreement", json_string(decision.agreement));
            if (!sections)
                sections = json_array();
            json_array_append_new(sections, entry);
        }
        if (sections)
            json_array_append_new(
                denied, json_pack("{s:s, s:o}", "recipient", fx_cert_id(c), "sections", sections));
    }
}

/* Checks every (section, wrapped key) pair against the policy; on the first denial rejects the
 * whole message (fail closed) and returns -1. Fills recipients (unique, first-seen order) and,
 * per recipient, what allowed it, and denied with the denials among candidates, the audience's
 * principals. */
static int s_decide(publish_t *p, fx_envelope_t *env, const fx_cert_t *sender, zlistx_t *recipients,
                    zlistx_t *candidates, json_t *denied)
{
    server_t *self = p->self;
    const Fusion__Header *header = fx_envelope_header(env);
    fx_policy_section_t sections[FX_ENVELOPE_MAX_SECTIONS];
    fx_policy_message_t message;
    server_policy_message(header, sections, &message);
    fx_policy_principal_t from;
    server_principal(sender, &from);
    fx_policy_query_t *query = NULL;
    char why[512];
    if (fx_policy_query_new(self->policy, &from, &message, fx_now_ms(), &query, why, sizeof why) !=
        FX_OK) {
        s_reject_err(p, FX_ERR_INVALID, why);
        return -1;
    }
    zhashx_t *index_of = zhashx_new(); /* recipient id -> query index + 1 */
    zhashx_t *keyed = zhashx_new();    /* "recipient/section" pairs that have a wrapped key */
    int rc = 0;
    for (size_t s = 0; s < header->n_sections && rc == 0; s++) {
        uint32_t section_id = header->sections[s]->id;
        size_t present = 0, count = fx_envelope_section_count(env);
        while (present + 1 < count && fx_envelope_section_id(env, present) != section_id)
            present++;
        for (size_t j = 0; j < fx_envelope_recipient_count(env, present) && rc == 0; j++) {
            const char *label = fx_envelope_recipient(env, present, j);
            char pair[FX_ID_MAX + 16];
            snprintf(pair, sizeof pair, "%s/%u", label, section_id);
            zhashx_insert(keyed, pair, (void *) 1);
            size_t index = (size_t) zhashx_lookup(index_of, label);
            if (!index) {
                const fx_cert_t *cert = fx_directory_find(self->directory, label);
                fx_policy_principal_t to;
                if (!cert) {
                    char reason[160];
                    snprintf(reason, sizeof reason,
                             "%s is not a valid, unrevoked principal of the directory", label);
                    p->denied = label;
                    s_reject(p, fx_err_code(FX_ERR_UNKNOWN_RECIPIENT), reason, NULL);
                    rc = -1;
                    break;
                }
                server_principal(cert, &to);
                if (fx_policy_query_add_recipient(query, &to, &index, why, sizeof why) != FX_OK) {
                    s_reject_err(p, FX_ERR_INVALID, why);
                    rc = -1;
                    break;
                }
                zhashx_insert(index_of, label, (void *) (index + 1));
                zlistx_add_end(recipients, (void *) label);
                index++;
            }
            fx_policy_decision_t decision;
            fx_policy_decide(query, index - 1, s, &decision);
            if (!decision.allow) {
                char *reason = fx_policy_reason(query, index - 1, s, &decision);
                char full[1024];
                snprintf(full, sizeof full, "section %u to %s: %s", section_id, label, reason);
                p->denied = label;
                p->denial = json_pack("{s:I}", "section", (json_int_t) section_id);
                if (decision.agreement)
                    json_object_set_new(p->denial, "agreement", json_string(decision.agreement));
                s_reject(p, fx_policy_code_name(decision.code), full, decision.rule);
                free(reason);
                rc = -1;
                break;
            }
            if (p->n_allowed == p->allowed_size) {
                p->allowed_size = p->allowed_size ? 2 * p->allowed_size : 8;
                p->allowed = fx_realloc(p->allowed, p->allowed_size * sizeof *p->allowed);
            }
            p->allowed[p->n_allowed++] = (allowance_t){.recipient = index - 1,
                                                       .section = section_id,
                                                       .rule = decision.rule,
                                                       .agreement = decision.agreement};
        }
    }
    if (rc == 0)
        s_audience_denials(header, candidates, query, keyed, denied);
    zhashx_destroy(&keyed);
    zhashx_destroy(&index_of);
    fx_policy_query_destroy(&query);
    return rc;
}

void publish_check_run(publish_check_t *check)
{
    check->done = true;
    check->env = NULL;
    check->verified = FX_ERR_SENDER_MISMATCH;
    check->decoded = fx_envelope_borrow(check->message, &check->env);
    if (check->decoded != FX_OK || !check->sender)
        return;
    /* A header naming someone else is rejected for that (check 2) before any signature work. */
    const char *principal = fx_cert_id(check->sender);
    if (strcmp(fx_envelope_header(check->env)->sender, principal) == 0)
        check->verified =
            fx_envelope_verify(check->env, principal, fx_cert_sign_key(check->sender));
}

void publish_check_clear(publish_check_t *check)
{
    fx_envelope_destroy(&check->env);
    memset(check, 0, sizeof *check);
}

void handle_publish(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Publish *publish, publish_check_t *check)
{
    publish_t p = {.self = self, .session = session, .request_id = request_id};
    fx_envelope_t *env = NULL;
    zlistx_t *recipients = zlistx_new(); /* labels owned by env */
    zlistx_t *candidates = zlistx_new(); /* the audience's principals (not owned) */
    json_t *denied = json_array();
    if (self->failed) {
        s_answer_rejected(&p, fx_err_code(FX_ERR_STORAGE), fx_strerror(FX_ERR_STORAGE), NULL);
        goto cleanup;
    }
    if (!publish->envelope) {
        s_reject_err(&p, FX_ERR_MALFORMED, "the PUBLISH frame carries no envelope");
        goto cleanup;
    }
    /* 1 and 3, done already on the verify pool (server.c, s_batch_check) unless the store had
     * failed then. It is redone here unless it ran on this very envelope for the certificate
     * this session authenticated as, so a stale check can never let a message through. */
    const fx_cert_t *sender = fx_directory_find(self->directory, session->principal);
    if (!check->done || check->message != publish->envelope || check->sender != sender) {
        publish_check_clear(check);
        check->message = publish->envelope;
        check->sender = sender;
        publish_check_run(check);
    }
    env = check->env; /* ours now */
    check->env = NULL;
    fx_err_t rc = check->decoded;
    if (rc != FX_OK) {
        s_reject_err(&p, rc, NULL);
        goto cleanup;
    }
    const Fusion__Header *header = fx_envelope_header(env);
    memcpy(p.msg_id, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    p.have_id = 1;
    fx_envelope_header_digest(env, p.digest);
    p.have_digest = 1;
    /* 2. The sender binding: the header's sender is the principal CURVE authenticated. */
    if (strcmp(header->sender, session->principal) != 0) {
        p.have_id = 0; /* not this principal's msg_id to answer for */
        s_reject_err(&p, FX_ERR_SENDER_MISMATCH, NULL);
        goto cleanup;
    }
    /* 3. The signature over the exact header bytes, and every ciphertext's signed hash. */
    rc = check->verified;
    if (rc != FX_OK) {
        s_reject_err(&p, rc, NULL);
        goto cleanup;
    }
    if (fx_envelope_section_count(env) != header->n_sections) {
        s_reject_err(&p, FX_ERR_MALFORMED, "every section the header describes must be present");
        goto cleanup;
    }
    /* 4. A msg_id answered before gets that answer again; nothing is stored twice. */
    if (s_answer_again(&p))
        goto cleanup;
    /* 5. Size: the transport let through up to max_message_bytes, but every recipient's copy
     * (at most this envelope, with the sender's certificate) must fit in the frame an agent
     * takes: the largest the broker tells agents (FX_MAX_PUBLISH_FRAME_BYTES), which the agent
     * checks itself; a larger message would be accepted and never delivered. */
    Fusion__Frame as_sent = FUSION__FRAME__INIT;
    as_sent.request_id = request_id;
    as_sent.body_case = FUSION__FRAME__BODY_PUBLISH;
    as_sent.publish = (Fusion__Publish *) publish;
    size_t frame_bytes = fusion__frame__get_packed_size(&as_sent);
    if (frame_bytes > FX_MAX_PUBLISH_FRAME_BYTES) {
        char why[200];
        snprintf(why, sizeof why,
                 "the message is a frame of %zu bytes, more than the %u a recipient's copy of it "
                 "can be delivered in",
                 frame_bytes, (unsigned) FX_MAX_PUBLISH_FRAME_BYTES);
        s_reject_err(&p, FX_ERR_TOO_LARGE, why);
        goto cleanup;
    }
    /* 6. Time: the replay window, expiry and the longest time to live. */
    int64_t now = fx_now_ms(), created = (int64_t) header->created_at;
    int64_t expires = (int64_t) header->expires_at;
    p.expires_at = expires > now && expires - now <= self->config->max_ttl
                       ? expires
                       : now + self->config->replay_window;
    if (created < now - self->config->replay_window ||
        created > now + self->config->replay_window) {
        s_reject_err(&p, FX_ERR_STALE, NULL);
        goto cleanup;
    }
    if (expires <= now) {
        s_reject_err(&p, FX_ERR_EXPIRED, NULL);
        goto cleanup;
    }
    if (expires - created > self->config->max_ttl) {
        /* The sender learns the bound it can meet (hours, rounded up for the message). */
        const int64_t hour = 3600 * 1000;
        char why[160];
        snprintf(why, sizeof why,
                 "the message lives %lld h, longer than the broker's maximum time to live "
                 "(%lld h); set it to expire sooner",
                 (long long) ((expires - created + hour - 1) / hour),
                 (long long) (self->config->max_ttl / hour));
        s_reject_err(&p, FX_ERR_LIMIT, why);
        goto cleanup;
    }
    /* The rate limit, charged by the decisions 7 makes before it makes any (server_charge): one
     * per wrapped key (a section to a recipient), and for an audience the broker resolves again
     * (route, focal_points, taskforce) one per section and candidate, for the denials the
     * accepted entry lists. 16 sections x 1024 keys are 40-60 ms of the thread every principal
     * waits on. Over the budget left: REJECTED rate_limited as a PUBLISH over the limit is,
     * nothing stored and the answer not remembered (it may be sent again later); the refusal is
     * logged and audited as any over the limit. A draft PREPARE would refuse (no audience)
     * resolves to no candidate, as before. */
    if (prepare_audience(self, session->principal, header, candidates) != 0)
        zlistx_purge(candidates);
    size_t decisions = header->n_sections * zlistx_size(candidates);
    for (size_t s = 0; s < fx_envelope_section_count(env); s++)
        decisions += fx_envelope_recipient_count(env, s);
    if (!server_charge_decisions(self, session, decisions)) {
        s_answer_rejected(&p, fx_err_code(FX_ERR_RATE_LIMITED), fx_strerror(FX_ERR_RATE_LIMITED),
                          NULL);
        goto cleanup;
    }
    /* 7. Every (section, recipient) pair against the policy, failing closed. */
    if (s_decide(&p, env, sender, recipients, candidates, denied) != 0)
        goto cleanup;
    /* 8. Workflow links: what a response, feedback, reshare or forward refers to. */
    char code[FX_STORE_CODE_MAX], reason[FX_STORE_REASON_MAX];
    if (workflow_check(self, env, sender, recipients, code, reason) != 0) {
        s_reject(&p, code, reason, NULL);
        goto cleanup;
    }
    if (s_store(&p, env, sender, recipients, denied) != 0) {
        if (self->failed)
            s_answer_rejected(&p, fx_err_code(FX_ERR_STORAGE), fx_strerror(FX_ERR_STORAGE), NULL);
        else
            s_reject_err(&p, FX_ERR_INVALID, "the message could not be stored");
        goto cleanup;
    }
    char hex[2 * FX_MSG_ID_BYTES + 1];
    server_log(self, "accepted %s from %s for %zu recipients",
               fx_hex(p.msg_id, FX_MSG_ID_BYTES, hex), session->principal, zlistx_size(recipients));
    s_answer_accepted(&p);
cleanup:
    json_decref(p.denial);
    json_decref(denied);
    free(p.allowed);
    zlistx_destroy(&recipients);
    zlistx_destroy(&candidates);
    fx_envelope_destroy(&env);
}
