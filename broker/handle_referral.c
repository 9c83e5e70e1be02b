/* The referral workflow and onward sharing, on signed metadata only (docs/referrals.md): the
 * broker tracks each referral per recipient agency (sent, delivered, then the state each
 * referral_response's signed response_status gives), escalates one not acknowledged by its
 * deadline with a notice it seals and signs itself, answers REFERRALS_REQUEST, and checks that
 * feedback, reshare requests and grants go back to the right originator and that a forward of
 * restricted information carries the originator's grant. Everything is audited. */
#include <jansson.h>
#include <string.h>

#include "fusion/content.h"
#include "fusion/vocab.h"
#include "server_internal.h"

#define HEX_SIZE         (2 * FX_MSG_ID_BYTES + 1)
#define ESCALATE_BATCH   32   /* overdue referrals escalated per tick */
#define LIST_MAX         1000 /* referrals in one REFERRALS answer (protocol.md, Referrals.more) */
#define NOTICE_TTL_MS    (7 * 24 * 3600 * 1000LL)
#define NO_DEADLINE      INT64_MAX /* the policy sets no referral_deadlines */
#define NOTICE_TEXT_SIZE 1024

typedef struct {
    char code[FX_STORE_CODE_MAX];
    char reason[FX_STORE_REASON_MAX];
} refusal_t;

/* A stored message, decoded (its signature was verified when it was accepted). */
typedef struct {
    fx_store_pending_t *row;
    fx_envelope_t *env;
} stored_t;

static int s_refuse(refusal_t *r, fx_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_refuse(refusal_t *r, fx_err_t err, const char *fmt, ...)
{
    snprintf(r->code, sizeof r->code, "%s", fx_err_code(err));
    va_list args;
    va_start(args, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, args);
    va_end(args);
    return -1;
}

static char *s_hex(const uint8_t *msg_id, char out[HEX_SIZE])
{
    return fx_hex(msg_id, FX_MSG_ID_BYTES, out);
}

static void s_stored_clear(stored_t *m)
{
    fx_envelope_destroy(&m->env);
    fx_store_pending_free(&m->row, 1);
}

/* Reads and decodes a stored message: FX_OK, FX_ERR_NOT_FOUND, or FX_ERR_STORAGE (the store
 * failed). A stored envelope that no longer decodes counts as not found. */
static fx_err_t s_stored(server_t *self, const uint8_t *msg_id, stored_t *m)
{
    memset(m, 0, sizeof *m);
    fx_err_t rc = fx_store_message_get(self->store, msg_id, &m->row);
    if (rc == FX_ERR_NOT_FOUND)
        return rc;
    if (rc != FX_OK) {
        server_storage_failed(self);
        return FX_ERR_STORAGE;
    }
    if (fx_envelope_decode(m->row->envelope, m->row->envelope_len, &m->env) != FX_OK) {
        s_stored_clear(m);
        return FX_ERR_NOT_FOUND;
    }
    return FX_OK;
}

/* 1 when principal holds a delivery of msg_id (it was a recipient). */
static int s_was_recipient(server_t *self, const uint8_t *msg_id, const char *principal)
{
    fx_delivery_state_t state;
    int attempts;
    return fx_store_delivery_state(self->store, msg_id, principal, &state, &attempts, NULL) ==
           FX_OK;
}

/* The one refusal of a message principal may not refer to: one the broker does not hold
 * (unknown, or expired and pruned) and one it holds but did not address to principal get the
 * same code and the same text, so that no principal learns from a refusal which msg_ids the
 * broker holds, nor their kind, exercise or sender (docs/referrals.md). */
static int s_refuse_unseen(refusal_t *r, const uint8_t *msg_id, const char *principal)
{
    char hex[HEX_SIZE];
    return s_refuse(r, FX_ERR_FORBIDDEN,
                    "message %s is not held by the broker for %s (unknown, expired, or not "
                    "addressed to it)",
                    s_hex(msg_id, hex), principal);
}

/* The stored message msg_id that principal refers to, read only when principal may see it: a
 * recipient of it (it holds a delivery of it), or with sent_ok its sender. 0 with *m filled;
 * -1 with the refusal otherwise (s_refuse_unseen, or a storage error), *m cleared. Checked
 * before anything that tells of the message. */
static int s_stored_seen(server_t *self, const uint8_t *msg_id, const char *principal, bool sent_ok,
                         stored_t *m, refusal_t *r)
{
    fx_err_t rc = s_stored(self, msg_id, m);
    if (rc == FX_ERR_STORAGE)
        return s_refuse(r, rc, "%s", fx_strerror(rc));
    if (rc == FX_OK && (s_was_recipient(self, msg_id, principal) ||
                        (sent_ok && strcmp(fx_envelope_sender(m->env), principal) == 0)))
        return 0;
    s_stored_clear(m);
    return s_refuse_unseen(r, msg_id, principal);
}

static fx_referral_state_t s_state_of(int status)
{
    switch (status) {
    case FUSION__RESPONSE_STATUS__RESPONSE_ACKNOWLEDGED:
        return FX_REFERRAL_ACKNOWLEDGED;
    case FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED:
        return FX_REFERRAL_ACCEPTED;
    case FUSION__RESPONSE_STATUS__RESPONSE_DECLINED:
        return FX_REFERRAL_DECLINED;
    case FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO:
        return FX_REFERRAL_NEED_INFO;
    default:
        return FX_REFERRAL_CLOSED;
    }
}

/* 1 when recipient (a principal) is covered by the list of principals and agencies. */
static int s_listed(char **list, size_t n, const char *recipient)
{
    char agency[FX_ID_MAX];
    fx_principal_agency(recipient, agency);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], recipient) == 0 || strcmp(list[i], agency) == 0)
            return 1;
    return 0;
}

/* 1 when id is a valid, unrevoked principal of the directory, or an agency with one. */
static int s_party_known(server_t *self, const char *id)
{
    if (fx_directory_find(self->directory, id))
        return 1;
    for (size_t i = 0; i < fx_directory_count(self->directory); i++)
        if (fx_directory_status_at(self->directory, i) == FX_CERT_STATUS_VALID &&
            strcmp(fx_cert_agency(fx_directory_at(self->directory, i)), id) == 0)
            return 1;
    return 0;
}

/* The recipients a reshare request asks for, or a grant grants (reshare_to), about message
 * orig_hex of originator, asked by requester: each a principal or agency of the directory,
 * named once, and neither the requester nor the originator, who hold the message already.
 * fusion-agent reshare-request and reshare-grant say the same sentences before sending. */
static int s_check_reshare_to(server_t *self, const Fusion__Header *h, const char *requester,
                              const char *originator, const char *orig_hex, refusal_t *r)
{
    for (size_t i = 0; i < h->n_reshare_to; i++) {
        const char *to = h->reshare_to[i];
        for (size_t j = 0; j < i; j++)
            if (strcmp(h->reshare_to[j], to) == 0)
                return s_refuse(r, FX_ERR_INVALID, "reshare_to names %s twice", to);
        if (strcmp(to, requester) == 0)
            return s_refuse(r, FX_ERR_INVALID,
                            "reshare_to names %s, the requester itself, which holds message %s "
                            "already",
                            to, orig_hex);
        if (strcmp(to, originator) == 0)
            return s_refuse(r, FX_ERR_INVALID,
                            "reshare_to names %s, the originator of message %s, who holds it "
                            "already",
                            to, orig_hex);
        if (!s_party_known(self, to))
            return s_refuse(r, FX_ERR_INVALID,
                            "reshare_to names %s, which is not a principal or agency of the "
                            "directory (or its certificate is revoked or expired)",
                            to);
    }
    return 0;
}

/* ---- Checks before a message is stored ------------------------------------------------------- */

/* A referral_response: about a referral sent to the responder's agency, in its exercise, not
 * closed, and only to the agency that sent the referral (the labels of its wrapped keys): its
 * sender, as respond addresses it, or others of the sender's agency when the sender cannot
 * receive it (revoked, or a sender who is no focal point, whom the policy may not let receive
 * it): a response to anyone else would move the referral's state (and stop its escalation)
 * without the sending agency ever getting an answer. */
static int s_check_response(server_t *self, const Fusion__Header *h, const char *agency,
                            zlistx_t *recipients, refusal_t *r)
{
    char hex[HEX_SIZE];
    if (h->in_reply_to.len != FX_MSG_ID_BYTES)
        return s_refuse(r, FX_ERR_INVALID,
                        "a referral_response must name the referral it answers (in_reply_to)");
    if (!h->response_status)
        return s_refuse(r, FX_ERR_INVALID,
                        "a referral_response must carry its status in the signed header "
                        "(response_status), for the broker to track the referral");
    fx_store_referral_t referral;
    fx_err_t rc = fx_store_referral_get(self->store, h->in_reply_to.data, agency, &referral);
    /* An exercise's referral is not there for anyone outside the exercise (as in the REFERRALS
     * answer): a live response from an officer of the agency who takes no part is refused as
     * for a referral that does not exist, and does not change the exercise's referral. */
    if (rc == FX_OK && referral.exercise[0] &&
        !fx_policy_exercise_participant(self->policy, referral.exercise, h->sender))
        rc = FX_ERR_NOT_FOUND;
    if (rc == FX_ERR_NOT_FOUND)
        return s_refuse(r, FX_ERR_INVALID, "message %s is not a referral sent to your agency %s",
                        s_hex(h->in_reply_to.data, hex), agency);
    if (rc != FX_OK) {
        server_storage_failed(self);
        return s_refuse(r, FX_ERR_STORAGE, "%s", fx_strerror(FX_ERR_STORAGE));
    }
    if (strcmp(referral.exercise, h->exercise) != 0)
        return s_refuse(r, FX_ERR_INVALID,
                        "referral %s is %s%s%s, and this referral_response is %s%s%s: a response "
                        "goes in its referral's exercise",
                        s_hex(h->in_reply_to.data, hex),
                        referral.exercise[0] ? "in exercise '" : "live traffic", referral.exercise,
                        referral.exercise[0] ? "'" : "",
                        h->exercise[0] ? "in exercise '" : "live traffic", h->exercise,
                        h->exercise[0] ? "'" : "");
    if (referral.state == FX_REFERRAL_CLOSED)
        return s_refuse(r, FX_ERR_INVALID, "referral %s to %s is closed already",
                        s_hex(h->in_reply_to.data, hex), agency);
    char sending[FX_ID_MAX];
    fx_principal_agency(referral.sender, sending);
    size_t len = strlen(sending);
    for (const char *to = zlistx_first(recipients); to; to = zlistx_next(recipients)) {
        /* to is a label as the sender wrote it: compared, never parsed. */
        bool of_sending = strncmp(to, sending, len) == 0 && to[len] == '.';
        if (strcmp(to, referral.sender) != 0 && !of_sending)
            return s_refuse(r, FX_ERR_FORBIDDEN,
                            "a referral_response to referral %s goes only to the agency that sent "
                            "it, %s (its sender %s, or when the sender cannot receive it, others "
                            "of %s), not to %s",
                            s_hex(h->in_reply_to.data, hex), sending, referral.sender, sending, to);
    }
    return 0;
}

/* Feedback and reshare requests: about a message the sender received, to its originator only. */
static int s_check_to_originator(server_t *self, const Fusion__Header *h, zlistx_t *recipients,
                                 refusal_t *r)
{
    const char *kind = fx_vocab_name(FX_VOCAB_KIND, (int) h->kind);
    char hex[HEX_SIZE];
    if (h->in_reply_to.len != FX_MSG_ID_BYTES)
        return s_refuse(r, FX_ERR_INVALID, "%s must name the message it is about (in_reply_to)",
                        kind);
    stored_t m;
    if (s_stored_seen(self, h->in_reply_to.data, h->sender, false, &m, r) != 0)
        return -1;
    int refused = 0;
    const char *originator = fx_envelope_sender(m.env);
    s_hex(h->in_reply_to.data, hex); /* every refusal below names it */
    if (strcmp(fx_envelope_header(m.env)->exercise, h->exercise) != 0)
        refused = s_refuse(r, FX_ERR_INVALID, "a%s %s stays in the exercise of message %s",
                           (int) h->kind == FX_KIND_ALERT_FEEDBACK ? "n" : "", kind, hex);
    else if ((int) h->kind == FX_KIND_ALERT_FEEDBACK &&
             (int) fx_envelope_header(m.env)->kind != FX_KIND_CASE_ALERT)
        refused = s_refuse(r, FX_ERR_INVALID, "alert_feedback answers a case_alert; %s is a %s",
                           hex, fx_vocab_name(FX_VOCAB_KIND, m.row->kind));
    else if ((int) h->kind == FX_KIND_RESHARE_REQUEST && h->n_reshare_to == 0)
        refused = s_refuse(r, FX_ERR_INVALID,
                           "a reshare_request must name who the information would go to "
                           "(reshare_to)");
    else if ((int) h->kind == FX_KIND_RESHARE_REQUEST)
        refused = s_check_reshare_to(self, h, h->sender, originator, hex, r);
    for (const char *to = zlistx_first(recipients); to && !refused; to = zlistx_next(recipients))
        if (strcmp(to, originator) != 0)
            refused = s_refuse(r, FX_ERR_FORBIDDEN,
                               "%s goes only to the originator of message %s (%s), not to %s", kind,
                               hex, originator, to);
    s_stored_clear(&m);
    return refused;
}

/* A request is granted once: -1 with the refusal when a grant of the request req_hex is stored
 * already (until it expires and is pruned), 0 otherwise. The agent refuses a second grant while
 * the first is in its outbox; this holds for a client that does not. */
static int s_granted_already(server_t *self, const uint8_t *request, const char *req_hex,
                             refusal_t *r)
{
    uint8_t first[FX_MSG_ID_BYTES];
    char hex[HEX_SIZE];
    fx_err_t rc = fx_store_reply_find(self->store, request, FX_KIND_RESHARE_GRANT, first);
    if (rc == FX_ERR_NOT_FOUND)
        return 0;
    if (rc != FX_OK) {
        server_storage_failed(self);
        return s_refuse(r, FX_ERR_STORAGE, "%s", fx_strerror(FX_ERR_STORAGE));
    }
    return s_refuse(r, FX_ERR_INVALID,
                    "reshare_request %s was granted already (reshare_grant %s): a request is "
                    "granted once",
                    req_hex, s_hex(first, hex));
}

/* A grant answers a reshare request that went to the grantor (so it was about the grantor's own
 * message), not granted yet, goes back to the requester only, and grants no more than was
 * asked. */
static int s_check_grant(server_t *self, const Fusion__Header *h, zlistx_t *recipients,
                         refusal_t *r)
{
    char hex[HEX_SIZE];
    if (h->in_reply_to.len != FX_MSG_ID_BYTES || h->n_reshare_to == 0)
        return s_refuse(r, FX_ERR_INVALID,
                        "a reshare_grant must name the reshare_request it answers (in_reply_to) "
                        "and who may receive the information (reshare_to)");
    /* Only a request addressed to the grantor (so about its own message) can be granted; any
     * other is answered as one not held, before its kind is told. */
    stored_t req;
    if (s_stored_seen(self, h->in_reply_to.data, h->sender, false, &req, r) != 0)
        return -1;
    const Fusion__Header *rh = fx_envelope_header(req.env);
    int refused = 0;
    s_hex(h->in_reply_to.data, hex);
    if ((int) rh->kind != FX_KIND_RESHARE_REQUEST)
        refused = s_refuse(r, FX_ERR_INVALID, "message %s is not a reshare_request", hex);
    else if (strcmp(rh->exercise, h->exercise) != 0)
        refused = s_refuse(r, FX_ERR_INVALID,
                           "a reshare_grant stays in the exercise of reshare_request %s", hex);
    else
        refused = s_granted_already(self, h->in_reply_to.data, hex, r);
    for (size_t i = 0; i < h->n_reshare_to && !refused; i++) {
        int asked = 0;
        for (size_t j = 0; j < rh->n_reshare_to && !asked; j++)
            asked = strcmp(h->reshare_to[i], rh->reshare_to[j]) == 0;
        if (!asked)
            refused = s_refuse(r, FX_ERR_INVALID, "reshare_request %s did not ask for %s", hex,
                               h->reshare_to[i]);
    }
    /* Granted, each must still be a party of the directory (one may have been revoked since
     * the request), and neither the requester nor the grantor (a request from before these
     * checks may name them). */
    if (!refused) {
        char orig_hex[HEX_SIZE] = "";
        if (rh->in_reply_to.len == FX_MSG_ID_BYTES)
            s_hex(rh->in_reply_to.data, orig_hex);
        refused = s_check_reshare_to(self, h, rh->sender, h->sender, orig_hex, r);
    }
    for (const char *to = zlistx_first(recipients); to && !refused; to = zlistx_next(recipients))
        if (strcmp(to, rh->sender) != 0)
            refused = s_refuse(r, FX_ERR_FORBIDDEN,
                               "a reshare_grant goes only to the requester %s, not to %s",
                               rh->sender, to);
    s_stored_clear(&req);
    return refused;
}

/* The grant behind a forward of restricted information: from the originator of the original,
 * answering a request of the forwarder about that original, still stored (not expired), and
 * naming every recipient. */
static int s_check_grant_for(server_t *self, const Fusion__Header *h, const stored_t *orig,
                             zlistx_t *recipients, refusal_t *r)
{
    char hex[HEX_SIZE], orig_hex[HEX_SIZE];
    s_hex(fx_envelope_msg_id(orig->env), orig_hex);
    stored_t grant = {0}, req = {0};
    int refused = 0;
    s_hex(h->reshare_grant.data, hex);
    if (s_stored_seen(self, h->reshare_grant.data, h->sender, false, &grant, r) != 0) {
        refused = -1;
        goto done;
    }
    const Fusion__Header *gh = fx_envelope_header(grant.env);
    if ((int) gh->kind != FX_KIND_RESHARE_GRANT ||
        strcmp(gh->sender, fx_envelope_sender(orig->env)) != 0 ||
        grant.row->expires_at <= fx_now_ms()) {
        refused = s_refuse(r, FX_ERR_FORBIDDEN,
                           "message %s is not a reshare_grant of %s (the originator of %s) to %s "
                           "that is still valid",
                           hex, fx_envelope_sender(orig->env), orig_hex, h->sender);
        goto done;
    }
    fx_err_t rc = s_stored(self, gh->in_reply_to.data, &req);
    if (rc == FX_ERR_STORAGE) {
        refused = s_refuse(r, rc, "%s", fx_strerror(rc));
        goto done;
    }
    const Fusion__Header *rh = rc == FX_OK ? fx_envelope_header(req.env) : NULL;
    if (!rh || strcmp(rh->sender, h->sender) != 0 || rh->in_reply_to.len != FX_MSG_ID_BYTES ||
        memcmp(rh->in_reply_to.data, fx_envelope_msg_id(orig->env), FX_MSG_ID_BYTES) != 0) {
        refused = s_refuse(r, FX_ERR_FORBIDDEN,
                           "reshare_grant %s does not answer a request of %s about message %s", hex,
                           h->sender, orig_hex);
        goto done;
    }
    for (const char *to = zlistx_first(recipients); to && !refused; to = zlistx_next(recipients))
        if (!s_listed(gh->reshare_to, gh->n_reshare_to, to))
            refused = s_refuse(r, FX_ERR_FORBIDDEN,
                               "reshare_grant %s does not cover %s: ask the originator %s again",
                               hex, to, gh->sender);
done:
    s_stored_clear(&req);
    s_stored_clear(&grant);
    return refused;
}

/* A forward declares its original; it keeps the original's section ids and markings, carries
 * only sections the forwarder was given, and, for TLP:AMBER+STRICT or TLP:RED sections or a
 * no_onward_sharing_without_consent original, names the originator's grant. */
static int s_check_forward(server_t *self, const Fusion__Header *h, zlistx_t *recipients,
                           refusal_t *r)
{
    char hex[HEX_SIZE];
    stored_t m;
    if (s_stored_seen(self, h->forwarded_from.data, h->sender, true, &m, r) != 0)
        return -1;
    s_hex(h->forwarded_from.data, hex);
    const Fusion__Header *mh = fx_envelope_header(m.env);
    int own = strcmp(mh->sender, h->sender) == 0, refused = 0, restricted = 0;
    const char *why = NULL;
    if (strcmp(mh->exercise, h->exercise) != 0)
        refused = s_refuse(r, FX_ERR_INVALID, "a forward stays in the exercise of message %s", hex);
    uint32_t handling = 0, orig_handling = 0;
    for (size_t i = 0; i < h->n_handling; i++)
        handling |= 1u << h->handling[i];
    for (size_t i = 0; i < mh->n_handling; i++)
        orig_handling |= 1u << mh->handling[i];
    if (!refused && (orig_handling & ~handling))
        refused = s_refuse(r, FX_ERR_INVALID,
                           "a forward keeps the handling restrictions of message %s", hex);
    if (orig_handling & (1u << FX_HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT))
        restricted = 1, why = "its originator marked it no_onward_sharing_without_consent";
    for (size_t i = 0; i < h->n_sections && !refused; i++) {
        const Fusion__SectionDescriptor *d = h->sections[i];
        const Fusion__SectionDescriptor *od = fx_envelope_descriptor(m.env, d->id);
        uint32_t cats = fx_envelope_section_categories(m.env, d->id), own_cats = 0;
        for (size_t c = 0; c < d->n_categories; c++)
            own_cats |= 1u << d->categories[c];
        if (!od)
            refused = s_refuse(r, FX_ERR_INVALID, "message %s has no section %u", hex, d->id);
        else if (!own && !fx_envelope_is_recipient(m.env, d->id, h->sender))
            refused = s_refuse(r, FX_ERR_FORBIDDEN, "section %u of message %s was not given to %s",
                               d->id, hex, h->sender);
        else if (d->tlp < od->tlp || (cats & ~own_cats))
            refused = s_refuse(r, FX_ERR_INVALID,
                               "section %u of a forward keeps the TLP and categories it had in "
                               "message %s",
                               d->id, hex);
        else if ((int) od->tlp >= FX_TLP_AMBER_STRICT && !restricted)
            restricted = 1, why = (int) od->tlp == FX_TLP_RED
                                      ? "a section of it is TLP:RED"
                                      : "a section of it is TLP:AMBER+STRICT";
    }
    int needs_grant = restricted && !own;
    /* Consent comes from the originator, whom only its own recipients know: restricted
     * information that was passed on once goes no further. */
    if (!refused && needs_grant && mh->forwarded_from.len)
        refused = s_refuse(r, FX_ERR_FORBIDDEN,
                           "message %s is itself a forward of restricted information (%s): "
                           "only the originator's own recipients may ask to pass it on",
                           hex, why);
    else if (!refused && needs_grant && !h->reshare_grant.len)
        refused = s_refuse(r, FX_ERR_FORBIDDEN,
                           "message %s may not be passed on: %s; ask its originator %s with "
                           "'fusion-agent reshare-request'",
                           hex, why, mh->sender);
    /* A grant the forward names is checked whether or not the original needed one: recipients
     * are told it is the originator's consent. */
    else if (!refused && h->reshare_grant.len != FX_MSG_ID_BYTES && h->reshare_grant.len)
        refused = s_refuse(r, FX_ERR_FORBIDDEN, "a reshare_grant is a msg_id of %d bytes",
                           FX_MSG_ID_BYTES);
    else if (!refused && h->reshare_grant.len)
        refused = s_check_grant_for(self, h, &m, recipients, r);
    s_stored_clear(&m);
    return refused;
}

int workflow_check(server_t *self, const fx_envelope_t *env, const fx_cert_t *sender,
                   zlistx_t *recipients, char *code, char *reason)
{
    const Fusion__Header *h = fx_envelope_header(env);
    refusal_t r = {{0}, {0}};
    int kind = (int) h->kind, rc = 0;
    int workflow = kind == FX_KIND_REFERRAL_RESPONSE || kind == FX_KIND_ALERT_FEEDBACK ||
                   kind == FX_KIND_RESHARE_REQUEST || kind == FX_KIND_RESHARE_GRANT;
    if (h->response_status && kind != FX_KIND_REFERRAL_RESPONSE)
        rc = s_refuse(&r, FX_ERR_INVALID, "only a referral_response carries a response_status");
    else if (h->n_reshare_to && kind != FX_KIND_RESHARE_REQUEST && kind != FX_KIND_RESHARE_GRANT)
        rc = s_refuse(&r, FX_ERR_INVALID, "only reshare requests and grants carry reshare_to");
    else if (h->forwarded_from.len && workflow)
        rc = s_refuse(&r, FX_ERR_INVALID, "a %s cannot be a forward",
                      fx_vocab_name(FX_VOCAB_KIND, kind));
    else if (h->reshare_grant.len && !h->forwarded_from.len)
        rc = s_refuse(&r, FX_ERR_INVALID, "reshare_grant is only for a forward (forwarded_from)");
    else if (kind == FX_KIND_REFERRAL_RESPONSE)
        rc = s_check_response(self, h, fx_cert_agency(sender), recipients, &r);
    else if (kind == FX_KIND_ALERT_FEEDBACK || kind == FX_KIND_RESHARE_REQUEST)
        rc = s_check_to_originator(self, h, recipients, &r);
    else if (kind == FX_KIND_RESHARE_GRANT)
        rc = s_check_grant(self, h, recipients, &r);
    else if (h->forwarded_from.len)
        rc = s_check_forward(self, h, recipients, &r);
    if (rc != 0) {
        snprintf(code, FX_STORE_CODE_MAX, "%s", r.code);
        snprintf(reason, FX_STORE_REASON_MAX, "%s", r.reason);
    }
    return rc;
}

/* ---- What an accepted message records ---------------------------------------------------------
 */

static json_t *s_id_list(char **ids, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(ids[i]));
    return list;
}

/* Tracks a referral per recipient agency, each with the deadline the policy sets for its
 * urgency (or its expiry, if sooner: it escalates while the broker still holds it). A referral of
 * an exercise runs on the exercise's clock: the policy's `speed` for that exercise (1 when it
 * gives none) divides the deadline. Live traffic has no exercise id, and an exercise message goes
 * only between that exercise's participants (exercise_segregation), so the operator's
 * acceleration reaches no live referral. */
static bool s_track(server_t *self, const Fusion__Header *h, const uint8_t *digest,
                    zlistx_t *recipients)
{
    int64_t now = fx_now_ms();
    int speed = fx_policy_exercise_speed(self->policy, h->exercise);
    int64_t due = fx_policy_referral_deadline(self->policy, (int) h->urgency);
    if (due > 0)
        due = due / speed > 0 ? due / speed : 1;
    int64_t deadline = due > 0 ? now + due : NO_DEADLINE;
    if (deadline > (int64_t) h->expires_at && due > 0)
        deadline = (int64_t) h->expires_at;
    zlistx_t *agencies = zlistx_new();
    zlistx_set_destructor(agencies, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator(agencies, (zlistx_comparator_fn *) strcmp);
    for (const char *to = zlistx_first(recipients); to; to = zlistx_next(recipients)) {
        char agency[FX_ID_MAX];
        fx_principal_agency(to, agency);
        if (!zlistx_find(agencies, agency))
            zlistx_add_end(agencies, fx_strdup(agency));
    }
    bool ok = true;
    for (const char *agency = zlistx_first(agencies); agency && ok;
         agency = zlistx_next(agencies)) {
        fx_store_referral_t ref = {
            .urgency = (int) h->urgency, .state = FX_REFERRAL_SENT, .deadline = deadline};
        memcpy(ref.msg_id, h->msg_id.data, FX_MSG_ID_BYTES);
        snprintf(ref.sender, sizeof ref.sender, "%s", h->sender);
        snprintf(ref.agency, sizeof ref.agency, "%s", agency);
        snprintf(ref.exercise, sizeof ref.exercise, "%s", h->exercise);
        fx_err_t rc = fx_store_referral_add(self->store, &ref);
        if (rc != FX_OK && rc != FX_ERR_EXISTS) {
            server_storage_failed(self);
            ok = false;
            break;
        }
        json_t *details = json_pack("{s:s, s:s, s:s}", "agency", agency, "state", "sent", "urgency",
                                    (int) h->urgency == FX_URGENCY_URGENT ? "urgent" : "normal");
        if (speed > 1)
            json_object_set_new(details, "exercise_speed", json_integer(speed));
        if (deadline != NO_DEADLINE) {
            char when[FX_TIME_BUFSIZE];
            fx_time_format(deadline, when);
            json_object_set_new(details, "deadline", json_string(when));
        }
        ok = server_audit(self, "referral_tracked", h->sender, agency, h->msg_id.data, digest,
                          details);
    }
    zlistx_destroy(&agencies);
    return ok;
}

static bool s_record_response(server_t *self, const Fusion__Header *h, const char *agency)
{
    fx_store_referral_t referral;
    if (fx_store_referral_get(self->store, h->in_reply_to.data, agency, &referral) != FX_OK) {
        server_storage_failed(self); /* checked before: only the store can fail here */
        return false;
    }
    fx_referral_state_t state = s_state_of((int) h->response_status);
    /* An acknowledgement after an answer changes nothing: the answer stands. */
    if (state == FX_REFERRAL_ACKNOWLEDGED && referral.state > FX_REFERRAL_DELIVERED)
        state = referral.state;
    if (state != referral.state &&
        fx_store_referral_set_state(self->store, h->in_reply_to.data, agency, state) != FX_OK) {
        server_storage_failed(self);
        return false;
    }
    /* The entry names the referral, with its header digest while the broker holds it. */
    fx_store_pending_t *row = NULL;
    fx_err_t got = fx_store_message_get(self->store, h->in_reply_to.data, &row);
    if (got != FX_OK && got != FX_ERR_NOT_FOUND) {
        server_storage_failed(self);
        return false;
    }
    char hex[HEX_SIZE];
    bool audited = server_audit(self, "referral_state", h->sender, agency, h->in_reply_to.data,
                                row ? row->header_digest : NULL,
                                json_pack("{s:s, s:s, s:s}", "response", s_hex(h->msg_id.data, hex),
                                          "from", fx_referral_state_name(referral.state), "state",
                                          fx_referral_state_name(state)));
    fx_store_pending_free(&row, 1);
    return audited;
}

bool workflow_record(server_t *self, const fx_envelope_t *env, const uint8_t *digest,
                     zlistx_t *recipients)
{
    const Fusion__Header *h = fx_envelope_header(env);
    char hex[HEX_SIZE], agency[FX_ID_MAX];
    const uint8_t *id = h->msg_id.data;
    fx_principal_agency(h->sender, agency);
    switch ((int) h->kind) {
    case FX_KIND_REFERRAL:
        return h->forwarded_from.len ? true : s_track(self, h, digest, recipients);
    case FX_KIND_REFERRAL_RESPONSE:
        return s_record_response(self, h, agency);
    case FX_KIND_ALERT_FEEDBACK:
        return server_audit(self, "alert_feedback", h->sender, zlistx_first(recipients), id, digest,
                            json_pack("{s:s}", "in_reply_to", s_hex(h->in_reply_to.data, hex)));
    case FX_KIND_RESHARE_REQUEST:
    case FX_KIND_RESHARE_GRANT:
        return server_audit(self,
                            (int) h->kind == FX_KIND_RESHARE_REQUEST ? "reshare_requested"
                                                                     : "reshare_granted",
                            h->sender, zlistx_first(recipients), id, digest,
                            json_pack("{s:s, s:o}", "in_reply_to", s_hex(h->in_reply_to.data, hex),
                                      "reshare_to", s_id_list(h->reshare_to, h->n_reshare_to)));
    default:
        break;
    }
    if (h->forwarded_from.len) {
        json_t *details = json_pack("{s:s}", "forwarded_from", s_hex(h->forwarded_from.data, hex));
        if (h->reshare_grant.len)
            json_object_set_new(details, "reshare_grant",
                                json_string(s_hex(h->reshare_grant.data, hex)));
        return server_audit(self, "forwarded", h->sender, NULL, id, digest, details);
    }
    return true;
}

/* ---- Delivery, escalation and the REFERRALS view -----------------------------------------------
 */

void referral_received(server_t *self, const char *principal, const uint8_t *msg_id,
                       const uint8_t *header_digest)
{
    char agency[FX_ID_MAX];
    fx_principal_agency(principal, agency);
    fx_store_referral_t referral;
    fx_err_t rc = fx_store_referral_get(self->store, msg_id, agency, &referral);
    if (rc == FX_ERR_NOT_FOUND || (rc == FX_OK && referral.state != FX_REFERRAL_SENT))
        return;
    if (rc != FX_OK ||
        fx_store_referral_set_state(self->store, msg_id, agency, FX_REFERRAL_DELIVERED) != FX_OK) {
        server_storage_failed(self);
        return;
    }
    server_audit(self, "referral_state", principal, agency, msg_id, header_digest,
                 json_pack("{s:s, s:s}", "from", "sent", "state", "delivered"));
}

/* The escalation notice of a referral as the broker signs it: its header and its one section
 * (TLP amber, operational). The policy decides its recipients on this header, as it decides a
 * PUBLISH's, and s_send_notice seals it, so both see the same message. */
typedef struct {
    Fusion__Header header;
    Fusion__SectionDescriptor section;
    Fusion__SectionDescriptor *sections[1];
    Fusion__Category categories[1];
} notice_t;

static void s_notice_init(server_t *self, notice_t *n, const fx_store_referral_t *ref,
                          const Fusion__Header *oh, int64_t now)
{
    int64_t ttl = self->config->max_ttl < NOTICE_TTL_MS ? self->config->max_ttl : NOTICE_TTL_MS;
    fusion__header__init(&n->header);
    fusion__section_descriptor__init(&n->section);
    n->categories[0] = FUSION__CATEGORY__CATEGORY_OPERATIONAL;
    n->section.id = 1;
    n->section.tlp = FUSION__TLP__TLP_AMBER;
    n->section.n_categories = 1;
    n->section.categories = n->categories;
    n->sections[0] = &n->section;
    n->header.sender = (char *) fx_keys_id(self->keys);
    n->header.kind = FUSION__KIND__KIND_NOTICE;
    n->header.urgency = (Fusion__Urgency) ref->urgency;
    n->header.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    n->header.exercise = oh->exercise;
    n->header.case_ref = oh->case_ref;
    n->header.in_reply_to = (ProtobufCBinaryData){FX_MSG_ID_BYTES, (uint8_t *) ref->msg_id};
    n->header.created_at = (uint64_t) now;
    n->header.expires_at = (uint64_t) (now + ttl);
    n->header.n_sections = 1;
    n->header.sections = n->sections;
}

static void s_deny(json_t *denied, const char *id, const char *code, const char *rule)
{
    json_t *entry = json_pack("{s:s, s:s}", "recipient", id, "code", code);
    if (rule)
        json_object_set_new(entry, "rule", json_string(rule));
    json_array_append_new(denied, entry);
}

/* Whom an escalation notice goes to: of the referral's sender and the recipient agency's focal
 * points that the referral did not reach (valid and unrevoked), those the policy does not refuse
 * the notice, decided for its own header (kind notice, TLP amber, operational, direct, the
 * referral's exercise or live traffic, from the broker's principal) as for any message, except
 * that it needs no permit rule (no_permit does not keep it from anyone): live notices never
 * reach a simulated principal (check 1), and a forbid rule such as the example's
 * trainers-exercise-traffic-only holds. Each one denied goes into denied ({recipient, code,
 * rule}); the others still get the notice. */
static zlistx_t *s_escalation_recipients(server_t *self, const fx_store_referral_t *ref,
                                         const fx_envelope_t *orig, const Fusion__Header *notice,
                                         json_t *denied)
{
    zlistx_t *candidates = zlistx_new(); /* const fx_cert_t * owned by the directory */
    const fx_cert_t *sender = fx_directory_find(self->directory, ref->sender);
    if (sender)
        zlistx_add_end(candidates, (void *) sender);
    for (size_t i = 0; i < fx_directory_count(self->directory); i++) {
        const fx_cert_t *cert = fx_directory_at(self->directory, i);
        const char *id = fx_cert_id(cert);
        if (fx_directory_status_at(self->directory, i) != FX_CERT_STATUS_VALID ||
            fx_directory_find(self->directory, id) != cert ||
            strcmp(fx_cert_agency(cert), ref->agency) != 0 ||
            !(fx_cert_roles(cert) & (1u << FX_ROLE_FOCAL_POINT)) || cert == sender)
            continue;
        int reached = 0;
        for (size_t s = 0; s < fx_envelope_section_count(orig) && !reached; s++)
            reached = fx_envelope_is_recipient(orig, fx_envelope_section_id(orig, s), id);
        if (!reached)
            zlistx_add_end(candidates, (void *) cert);
    }
    zlistx_t *to = zlistx_new();
    const fx_cert_t *broker = fx_directory_find(self->directory, fx_keys_id(self->keys));
    fx_policy_section_t sections[FX_ENVELOPE_MAX_SECTIONS];
    fx_policy_message_t message;
    server_policy_message(notice, sections, &message);
    fx_policy_principal_t from;
    fx_policy_query_t *query = NULL;
    char why[256];
    if (broker) {
        server_principal(broker, &from);
        if (fx_policy_query_new(self->policy, &from, &message, fx_now_ms(), &query, why,
                                sizeof why) != FX_OK) {
            server_log(self, "cannot decide the escalation notice's recipients: %s", why);
            query = NULL; /* fail closed: every candidate is denied */
        }
    }
    /* Without its own certificate the broker signs no notice (s_send_notice): nobody to decide. */
    for (const fx_cert_t *cert = broker ? zlistx_first(candidates) : NULL; cert;
         cert = zlistx_next(candidates)) {
        fx_policy_principal_t p;
        server_principal(cert, &p);
        size_t index;
        fx_policy_decision_t decision = {0};
        bool decided =
            query && fx_policy_query_add_recipient(query, &p, &index, why, sizeof why) == FX_OK;
        if (decided)
            fx_policy_decide(query, index, 0, &decision);
        /* The broker's own notice needs no permit rule (DESIGN.md: it goes to the sender and
         * the agency's other focal points): only what the policy refuses outright keeps it
         * from someone, the segregation and checks 2 to 4 or a forbid rule. */
        if (decided && (decision.allow || decision.code == FX_POLICY_NO_PERMIT))
            zlistx_add_end(to, (void *) cert);
        else if (decided)
            s_deny(denied, fx_cert_id(cert), fx_policy_code_name(decision.code), decision.rule);
        else
            s_deny(denied, fx_cert_id(cert), fx_err_code(FX_ERR_INVALID), NULL);
    }
    fx_policy_query_destroy(&query);
    zlistx_destroy(&candidates);
    return to;
}

/* Seals, signs and stores the escalation notice (its header n) as the broker's own principal;
 * its deliveries go out after the commit. false on a storage error; *notice_id filled when one
 * was stored. */
static bool s_send_notice(server_t *self, const fx_store_referral_t *ref, const notice_t *n,
                          zlistx_t *to, uint8_t notice_id[FX_MSG_ID_BYTES], bool *sent)
{
    *sent = false;
    const fx_cert_t *broker = fx_directory_find(self->directory, fx_keys_id(self->keys));
    size_t count = zlistx_size(to);
    if (count == 0 || !broker)
        return true;
    char hex[HEX_SIZE], deadline[FX_TIME_BUFSIZE], text[NOTICE_TEXT_SIZE];
    fx_time_format(ref->deadline, deadline);
    snprintf(text, sizeof text,
             "Escalation: the %s referral %s from %s to %s was not acknowledged by its deadline "
             "%s (the policy's referral_deadlines). Please make sure a focal point of %s "
             "acknowledges it: any focal point of %s can, the referral or this notice in its "
             "inbox, with 'fusion-agent respond %s acknowledge'.",
             ref->urgency == FX_URGENCY_URGENT ? "urgent" : "normal", s_hex(ref->msg_id, hex),
             ref->sender, ref->agency, deadline, ref->agency, ref->agency, hex);
    Fusion__Notice notice = FUSION__NOTICE__INIT;
    notice.text = text;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_NOTICE;
    content.notice = &notice;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    fx_content_encode(&content, &plain, &plain_len);
    fx_recipient_t *recipients = fx_calloc(count, sizeof *recipients);
    size_t i = 0;
    for (const fx_cert_t *cert = zlistx_first(to); cert; cert = zlistx_next(to), i++)
        recipients[i] = (fx_recipient_t){fx_cert_id(cert), fx_cert_box_key(cert)};
    fx_section_draft_t section = {
        n->section.id, (int) n->section.tlp, 1u << n->categories[0], plain, plain_len, recipients,
        count};
    const Fusion__Header *draft = &n->header;
    int64_t now = (int64_t) draft->created_at;
    fx_envelope_t *env = NULL;
    fx_err_t rc = fx_envelope_seal(self->keys, draft, &section, 1, &env);
    free(recipients);
    free(plain);
    if (rc != FX_OK) {
        server_log(self, "cannot seal the escalation notice of referral %s: %s", hex,
                   fx_strerror(rc));
        return true; /* recorded as escalated without a notice: never retried every tick */
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_envelope_encode(env, &bytes, &len);
    fx_store_message_t message = {.sender = fx_keys_id(self->keys),
                                  .sender_serial = fx_cert_serial(broker),
                                  .kind = FX_KIND_NOTICE,
                                  .urgency = ref->urgency,
                                  .created_at = now,
                                  .expires_at = (int64_t) draft->expires_at,
                                  .envelope = bytes,
                                  .envelope_len = len,
                                  .exercise = draft->exercise,
                                  .has_in_reply_to = true};
    memcpy(message.msg_id, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    memcpy(message.in_reply_to, ref->msg_id, FX_MSG_ID_BYTES);
    fx_envelope_header_digest(env, message.header_digest);
    memcpy(notice_id, message.msg_id, FX_MSG_ID_BYTES);
    rc = fx_store_put_message(self->store, &message);
    for (const fx_cert_t *cert = zlistx_first(to); cert && rc == FX_OK; cert = zlistx_next(to))
        rc = fx_store_delivery_add(self->store, message.msg_id, fx_cert_id(cert));
    free(bytes);
    bool ok = rc == FX_OK;
    if (!ok)
        server_storage_failed(self);
    else
        ok = server_audit(self, "accepted", message.sender, NULL, message.msg_id,
                          message.header_digest,
                          json_pack("{s:s, s:i, s:I}", "kind", "notice", "sections", 1,
                                    "recipients", (json_int_t) count));
    if (ok) {
        for (const fx_cert_t *cert = zlistx_first(to); cert; cert = zlistx_next(to))
            server_note_delivery(self, fx_cert_id(cert));
        *sent = true;
    }
    fx_envelope_destroy(&env);
    return ok;
}

/* Escalates one overdue referral, once: the notice, the escalated flag and the audit entry go
 * into one transaction, so a restart neither loses nor repeats it. */
static bool s_escalate(server_t *self, const fx_store_referral_t *ref)
{
    char hex[HEX_SIZE];
    s_hex(ref->msg_id, hex);
    stored_t orig;
    fx_err_t rc = s_stored(self, ref->msg_id, &orig);
    if (rc == FX_ERR_STORAGE)
        return false;
    json_t *denied = json_array();
    notice_t n;
    memset(&n, 0, sizeof n);
    if (rc == FX_OK)
        s_notice_init(self, &n, ref, fx_envelope_header(orig.env), fx_now_ms());
    zlistx_t *to = rc == FX_OK ? s_escalation_recipients(self, ref, orig.env, &n.header, denied)
                               : zlistx_new();
    uint8_t notice_id[FX_MSG_ID_BYTES];
    bool sent = false;
    bool ok = rc != FX_OK || s_send_notice(self, ref, &n, to, notice_id, &sent);
    if (ok && fx_store_referral_set_escalated(self->store, ref->msg_id, ref->agency) != FX_OK) {
        server_storage_failed(self);
        ok = false;
    }
    if (ok) {
        json_t *notified = json_array();
        if (sent)
            for (const fx_cert_t *cert = zlistx_first(to); cert; cert = zlistx_next(to))
                json_array_append_new(notified, json_string(fx_cert_id(cert)));
        char deadline[FX_TIME_BUFSIZE], notice_hex[HEX_SIZE];
        fx_time_format(ref->deadline, deadline);
        size_t n_denied = json_array_size(denied);
        json_t *details = json_pack("{s:s, s:s, s:s, s:o, s:O}", "agency", ref->agency, "state",
                                    fx_referral_state_name(ref->state), "deadline", deadline,
                                    "notified", notified, "denied", denied);
        if (sent)
            json_object_set_new(details, "notice", json_string(s_hex(notice_id, notice_hex)));
        if (rc != FX_OK)
            json_object_set_new(details, "note",
                                json_string("the referral is no longer held by the broker"));
        ok = server_audit(self, "escalated", "broker", ref->agency, ref->msg_id, NULL, details);
        if (ok)
            self->metrics.escalations++;
        server_log(self,
                   "escalated referral %s to %s (%s): notice to %zu principal(s), %zu denied by "
                   "the policy",
                   hex, ref->agency, fx_referral_state_name(ref->state), sent ? zlistx_size(to) : 0,
                   n_denied);
    }
    json_decref(denied);
    zlistx_destroy(&to);
    s_stored_clear(&orig);
    return ok;
}

void referral_escalate(server_t *self, int64_t now)
{
    if (self->failed)
        return;
    fx_store_referral_t *list = NULL;
    size_t count = 0;
    if (fx_store_referrals_overdue(self->store, now, ESCALATE_BATCH, &list, &count) != FX_OK) {
        server_storage_failed(self);
        return;
    }
    for (size_t i = 0; i < count && !self->failed; i++) {
        if (!server_begin(self) || fx_store_savepoint(self->store) != FX_OK) {
            server_storage_failed(self);
            break;
        }
        if (!s_escalate(self, &list[i]) || fx_store_savepoint_release(self->store) != FX_OK)
            server_storage_failed(self);
    }
    free(list);
}

/* Who asks for the REFERRALS answer. */
typedef struct {
    const fx_policy_t *policy;
    const char *principal;
    bool simulated; /* or no longer in the directory: sees only what it sent */
} viewer_t;

/* The exercise segregation of the REFERRALS answer (the policy's check 1, docs/exercises.md):
 * a principal sees the referrals it sent, those of an exercise only while the live policy lists
 * it as a participant of that exercise, and live ones only if it is not a simulated principal.
 * So an officer of the recipient agency who takes no part in an exercise sees nothing of it,
 * not even its msg_id, sender or state. */
static bool s_visible(const fx_store_referral_t *referral, void *arg)
{
    const viewer_t *viewer = arg;
    if (strcmp(referral->sender, viewer->principal) == 0)
        return true;
    if (referral->exercise[0])
        return fx_policy_exercise_participant(viewer->policy, referral->exercise,
                                              viewer->principal);
    return !viewer->simulated;
}

void handle_referrals(server_t *self, session_t *session, uint64_t request_id,
                      const Fusion__ReferralsRequest *request)
{
    char agency[FX_ID_MAX];
    fx_principal_agency(session->principal, agency);
    const fx_cert_t *cert = fx_directory_find(self->directory, session->principal);
    viewer_t viewer = {self->policy, session->principal,
                       !cert || (fx_cert_roles(cert) & (1u << FX_ROLE_SIMULATED))};
    fx_store_referral_t *list = NULL;
    size_t count = 0;
    /* One more than the answer carries tells whether there are more. */
    if (fx_store_referrals_list(self->store, session->principal, agency, s_visible, &viewer,
                                LIST_MAX + 1, &list, &count) != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        return;
    }
    bool more = count > LIST_MAX;
    if (more)
        count = LIST_MAX;
    Fusion__ReferralStatus *items = fx_calloc(count ? count : 1, sizeof *items);
    Fusion__ReferralStatus **ptrs = fx_calloc(count ? count : 1, sizeof *ptrs);
    for (size_t i = 0; i < count; i++) {
        fusion__referral_status__init(&items[i]);
        items[i].msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, list[i].msg_id};
        items[i].sender = list[i].sender;
        items[i].agency = list[i].agency;
        items[i].state = (char *) fx_referral_state_name(list[i].state);
        items[i].urgency = (Fusion__Urgency) list[i].urgency;
        items[i].deadline = list[i].deadline == NO_DEADLINE ? 0 : (uint64_t) list[i].deadline;
        items[i].escalated = list[i].escalated;
        if (request->with_exercise)               /* an older agent would drop the whole answer */
            items[i].exercise = list[i].exercise; /* "" for live ones: not on the wire */
        ptrs[i] = &items[i];
    }
    Fusion__Referrals referrals = FUSION__REFERRALS__INIT;
    referrals.n_referrals = count;
    referrals.referrals = ptrs;
    referrals.more = request->with_more && more; /* an older agent would drop the answer */
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_REFERRALS;
    frame.referrals = &referrals;
    server_answer(self, session, &frame);
    free(ptrs);
    free(items);
    free(list);
}
