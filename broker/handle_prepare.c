/* PREPARE: resolves the candidate recipients of a draft by its audience and answers, per section,
 * who the policy allows (with their certificates, so the agent can seal to them) and who it
 * denies, with the code, rule and reason. Nothing is stored. */
#include <jansson.h>
#include <string.h>

#include "server_internal.h"

#define PREPARE_MAX_CANDIDATES 10000

typedef struct {
    server_t *self;
    const char *sender;
    zlistx_t *candidates; /* const fx_cert_t * */
    zhashx_t *seen;       /* principal id -> 1 */
    zhashx_t *named;      /* principal id -> 1: named by its id in a direct draft */
    bool sender_simulated;
    bool sender_participant; /* of the draft's exercise (false for a live draft) */
    zlistx_t *unknown;       /* ids named in a direct draft that are not valid principals */
} resolve_t;

static void s_candidate(resolve_t *r, const fx_cert_t *cert)
{
    const char *id = fx_cert_id(cert);
    if (strcmp(id, r->sender) == 0 || zhashx_lookup(r->seen, id) ||
        zlistx_size(r->candidates) >= PREPARE_MAX_CANDIDATES)
        return;
    zhashx_insert(r->seen, id, (void *) 1);
    zlistx_add_end(r->candidates, (void *) cert);
}

/* Every valid principal, or those with a role (role > 0), or of an agency (agency != NULL). */
static void s_candidates_where(resolve_t *r, int role, const char *agency)
{
    fx_directory_t *dir = r->self->directory;
    for (size_t i = 0; i < fx_directory_count(dir); i++) {
        if (fx_directory_status_at(dir, i) != FX_CERT_STATUS_VALID)
            continue;
        const fx_cert_t *cert = fx_directory_at(dir, i);
        if (role > 0 && !fx_cert_has_role(cert, role))
            continue;
        if (agency && strcmp(fx_cert_agency(cert), agency) != 0)
            continue;
        s_candidate(r, cert);
    }
}

static void s_found_subscription(uint64_t id, void *arg)
{
    zlistx_add_end(arg, (void *) (uintptr_t) id);
}

static int s_candidates_on_route(resolve_t *r, const Fusion__Header *draft, char *why)
{
    fx_route_t *route = NULL;
    if (!draft->route[0]) {
        snprintf(why, FX_ROUTE_WHY_SIZE, "a message for a route audience needs a route");
        return -1;
    }
    if (fx_route_parse(draft->route, &route, why) != FX_OK)
        return -1;
    zlistx_t *ids = zlistx_new();
    fx_route_index_match(r->self->routes, route, s_found_subscription, ids);
    for (void *p = zlistx_first(ids); p; p = zlistx_next(ids)) {
        char key[32];
        snprintf(key, sizeof key, "%llu", (unsigned long long) (uintptr_t) p);
        const subscription_t *sub = zhashx_lookup(r->self->subscriptions, key);
        if (!sub)
            continue;
        if (draft->stage && sub->stages && !(sub->stages & (1u << draft->stage)))
            continue;
        if (draft->kind && sub->kinds && !(sub->kinds & (1u << draft->kind)))
            continue;
        if (strcmp(sub->exercise, draft->exercise) != 0)
            continue;
        const fx_cert_t *cert = fx_directory_find(r->self->directory, sub->principal);
        if (cert)
            s_candidate(r, cert);
    }
    zlistx_destroy(&ids);
    fx_route_destroy(&route);
    return 0;
}

/* An agency is COUNTRY.AGENCY: a principal id without its unit. */
static int s_is_agency(const char *text)
{
    char probe[FX_ID_MAX + 4];
    return snprintf(probe, sizeof probe, "%s.x", text) < (int) sizeof probe &&
           fx_principal_id_valid(probe);
}

static int s_resolve(resolve_t *r, const Fusion__Prepare *prepare, char *why)
{
    const Fusion__Header *draft = prepare->draft;
    switch (draft->audience) {
    case FUSION__AUDIENCE__AUDIENCE_DIRECT:
        if (prepare->n_recipients == 0) {
            snprintf(why, 160, "a direct message needs recipients (principal ids or agencies)");
            return -1;
        }
        for (size_t i = 0; i < prepare->n_recipients; i++) {
            const char *name = prepare->recipients[i];
            const fx_cert_t *cert = fx_directory_find(r->self->directory, name);
            if (cert) {
                s_candidate(r, cert);
                zhashx_insert(r->named, fx_cert_id(cert), (void *) 1);
            } else if (s_is_agency(name))
                s_candidates_where(r, 0, name);
            else
                zlistx_add_end(r->unknown, (void *) name);
        }
        return 0;
    case FUSION__AUDIENCE__AUDIENCE_ROUTE:
        return s_candidates_on_route(r, draft, why);
    case FUSION__AUDIENCE__AUDIENCE_TASKFORCE:
        if (!draft->taskforce[0]) {
            snprintf(why, 160, "a taskforce message needs the taskforce's id");
            return -1;
        }
        s_candidates_where(r, 0, NULL); /* the policy's audience check keeps the members */
        return 0;
    case FUSION__AUDIENCE__AUDIENCE_FOCAL_POINTS:
        s_candidates_where(r, FX_ROLE_FOCAL_POINT, NULL);
        return 0;
    default:
        snprintf(why, 160, "the draft needs an audience (direct, taskforce, route, focal_points)");
        return -1;
    }
}

int prepare_audience(server_t *self, const char *sender, const Fusion__Header *header,
                     zlistx_t *candidates)
{
    if (header->audience == FUSION__AUDIENCE__AUDIENCE_DIRECT)
        return 0; /* who was asked for is not in the message, only who got a key */
    Fusion__Prepare prepare = FUSION__PREPARE__INIT;
    prepare.draft = (Fusion__Header *) header;
    resolve_t r = {.self = self,
                   .sender = sender,
                   .candidates = candidates,
                   .seen = zhashx_new(),
                   .named = zhashx_new(),
                   .unknown = zlistx_new()};
    char why[512];
    int rc = s_resolve(&r, &prepare, why);
    zlistx_destroy(&r.unknown);
    zhashx_destroy(&r.named);
    zhashx_destroy(&r.seen);
    return rc;
}

/* A candidate the sender did not name by its id (it came with an agency, focal_points, route or
 * taskforce audience) that the policy denies only for exercise_segregation, where that
 * segregation is what keeps the candidate hidden from the sender:
 * - in a live draft, a simulated principal, to a sender that is not one (live traffic never
 *   reaches a simulated principal): it takes no part in live traffic, as one outside a taskforce
 *   takes no part in it, so the exercises' synthetic principals, enrolled for 30 days, are not
 *   shown to every live sender. When no one else is listed, they are, to say why nothing can
 *   go. A simulated sender's live draft is denied to everyone for that, and is
 *   listed as it is.
 * - in an exercise's draft, anyone, to a sender that is not a participant of the exercise: an
 *   exercise's subscribers are not shown to those outside it, as its referrals and subscriptions
 *   are not (a non-participant's SUBSCRIBE is refused the same whether or not the exercise
 *   exists), so never, not even when no one else is listed.
 * PREPARED does not list it. For the audiences route, focal_points and taskforce the `accepted`
 * audit entry still lists it under denied (PUBLISH resolves the audience again; a direct
 * message's entry lists no denials). A recipient named by its id is always listed, with its
 * code. */
static int s_unasked_segregated(const resolve_t *r, const Fusion__Header *draft,
                                const fx_cert_t *cert, const fx_policy_decision_t *decision)
{
    if (decision->allow || decision->code != FX_POLICY_EXERCISE_SEGREGATION ||
        zhashx_lookup(r->named, fx_cert_id(cert)))
        return 0;
    if (draft->exercise[0])
        return !r->sender_participant;
    return !r->sender_simulated && fx_cert_has_role(cert, FX_ROLE_SIMULATED);
}

static int s_valid_draft(const Fusion__Header *draft, char *why)
{
    if (draft->n_sections == 0 || draft->n_sections > FX_ENVELOPE_MAX_SECTIONS) {
        snprintf(why, 160, "a draft needs 1 to %d sections", FX_ENVELOPE_MAX_SECTIONS);
        return -1;
    }
    uint8_t seen[FX_SECTION_ID_MAX + 1] = {0};
    for (size_t i = 0; i < draft->n_sections; i++) {
        const Fusion__SectionDescriptor *d = draft->sections[i];
        if (d->id < 1 || d->id > FX_SECTION_ID_MAX || seen[d->id]++) {
            snprintf(why, 160, "section ids must be unique, from 1 to %d", FX_SECTION_ID_MAX);
            return -1;
        }
        if (d->tlp == FUSION__TLP__TLP_UNSPECIFIED || d->n_categories == 0) {
            snprintf(why, 160, "section %u needs a TLP marking and at least one category", d->id);
            return -1;
        }
    }
    return 0;
}

static void s_certificate(const fx_cert_t *cert, Fusion__Certificate *out)
{
    fusion__certificate__init(out);
    size_t len;
    const uint8_t *body = fx_cert_body(cert, &len);
    out->body = (ProtobufCBinaryData){len, (uint8_t *) body};
    out->signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, (uint8_t *) fx_cert_signature(cert)};
}

void handle_prepare(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Prepare *prepare)
{
    char why[512] = "";
    /* What PUBLISH would refuse is refused before any candidate is resolved or decided. */
    if (prepare->draft &&
        !server_within_message_limits(prepare->draft->n_sections, prepare->n_recipients,
                                      "the draft", why, sizeof why)) {
        server_error(self, session, request_id, FX_ERR_LIMIT, why);
        return;
    }
    if (!prepare->draft || s_valid_draft(prepare->draft, why) != 0) {
        server_error(self, session, request_id, FX_ERR_INVALID,
                     why[0] ? why : "the PREPARE frame carries no draft");
        return;
    }
    const Fusion__Header *draft = prepare->draft;
    resolve_t r = {.self = self,
                   .sender = session->principal,
                   .candidates = zlistx_new(),
                   .seen = zhashx_new(),
                   .named = zhashx_new(),
                   .unknown = zlistx_new()};
    fx_policy_query_t *query = NULL;
    size_t n_sections = draft->n_sections, n = 0;
    Fusion__SectionRecipients *sections = fx_calloc(n_sections, sizeof *sections);
    Fusion__SectionRecipients **section_ptrs = fx_calloc(n_sections, sizeof *section_ptrs);
    Fusion__Certificate *certs = NULL;
    Fusion__Certificate **cert_ptrs = NULL;
    Fusion__Denial *denials = NULL;
    Fusion__Denial **denial_ptrs = NULL;
    char **reasons = NULL;
    size_t nreasons = 0;
    if (s_resolve(&r, prepare, why) != 0) {
        server_error(self, session, request_id, FX_ERR_INVALID, why);
        goto cleanup;
    }
    /* Charged by the decisions it will make, one per (section, candidate), now that the
     * audience is resolved and before any is made (server_charge): a focal_points or taskforce
     * audience over a large directory is up to 16 x 10,000 of them. */
    if (!server_charge(self, session, request_id, n_sections * zlistx_size(r.candidates)))
        goto cleanup;
    fx_policy_section_t policy_sections[FX_ENVELOPE_MAX_SECTIONS];
    fx_policy_message_t message;
    server_policy_message(draft, policy_sections, &message);
    fx_policy_principal_t from;
    server_principal(fx_directory_find(self->directory, session->principal), &from);
    r.sender_simulated = (from.roles >> FX_ROLE_SIMULATED) & 1u;
    r.sender_participant =
        draft->exercise[0] &&
        fx_policy_exercise_participant(self->policy, draft->exercise, session->principal) == 1;
    if (fx_policy_query_new(self->policy, &from, &message, fx_now_ms(), &query, why, sizeof why) !=
        FX_OK) {
        server_error(self, session, request_id, FX_ERR_INVALID, why);
        goto cleanup;
    }
    /* A taskforce the policy does not list (or not in force, or without the sender) lets no one
     * receive the message; its members are not denials one by one, so say it once. */
    char *audience_reason = fx_policy_audience_reason(query);
    if (audience_reason) {
        server_error(self, session, request_id, FX_ERR_FORBIDDEN, audience_reason);
        free(audience_reason);
        goto cleanup;
    }
    n = zlistx_size(r.candidates);
    const fx_cert_t **by_index = fx_calloc(n ? n : 1, sizeof *by_index);
    size_t added = 0;
    for (const fx_cert_t *c = zlistx_first(r.candidates); c; c = zlistx_next(r.candidates)) {
        fx_policy_principal_t to;
        size_t index;
        server_principal(c, &to);
        if (fx_policy_query_add_recipient(query, &to, &index, why, sizeof why) == FX_OK)
            by_index[index] = c, added = index + 1 > added ? index + 1 : added;
    }
    size_t n_unknown = zlistx_size(r.unknown), slots = n_sections * (added + n_unknown);
    certs = fx_calloc(slots ? slots : 1, sizeof *certs);
    cert_ptrs = fx_calloc(slots ? slots : 1, sizeof *cert_ptrs);
    denials = fx_calloc(slots ? slots : 1, sizeof *denials);
    denial_ptrs = fx_calloc(slots ? slots : 1, sizeof *denial_ptrs);
    reasons = fx_calloc(slots ? slots : 1, sizeof *reasons);
    size_t used_certs = 0, used_denials = 0;
    for (size_t s = 0; s < n_sections; s++) {
        Fusion__SectionRecipients *out = &sections[s];
        fusion__section_recipients__init(out);
        section_ptrs[s] = out;
        out->section_id = draft->sections[s]->id;
        out->allowed = cert_ptrs + used_certs;
        out->denied = denial_ptrs + used_denials;
        /* The simulated principals of a live draft's audience are left out when anyone else is
         * listed (s_unasked_segregated); when no one else is, they say why nothing can go. Those
         * an exercise keeps from a sender outside it are left out always. */
        int show_segregated = !draft->exercise[0];
        for (size_t i = 0; i < added && show_segregated; i++) {
            fx_policy_decision_t decision;
            fx_policy_decide(query, i, s, &decision);
            show_segregated = s_unasked_segregated(&r, draft, by_index[i], &decision) ||
                              (draft->audience == FUSION__AUDIENCE__AUDIENCE_TASKFORCE &&
                               decision.code == FX_POLICY_AUDIENCE_MISMATCH);
        }
        show_segregated = show_segregated && n_unknown == 0;
        for (size_t i = 0; i < added; i++) {
            fx_policy_decision_t decision;
            fx_policy_decide(query, i, s, &decision);
            if (!show_segregated && s_unasked_segregated(&r, draft, by_index[i], &decision))
                continue;
            if (decision.allow) {
                s_certificate(by_index[i], &certs[used_certs]);
                cert_ptrs[used_certs] = &certs[used_certs];
                used_certs++;
                out->n_allowed++;
                continue;
            }
            /* Outside a taskforce is not a denial of its own: the principal is not in it. */
            if (draft->audience == FUSION__AUDIENCE__AUDIENCE_TASKFORCE &&
                decision.code == FX_POLICY_AUDIENCE_MISMATCH)
                continue;
            Fusion__Denial *d = &denials[used_denials];
            fusion__denial__init(d);
            d->recipient = (char *) fx_cert_id(by_index[i]);
            d->code = (char *) fx_policy_code_name(decision.code);
            d->rule = (char *) (decision.rule ? decision.rule : "");
            d->agreement = (char *) (decision.agreement ? decision.agreement : "");
            d->reason = reasons[nreasons++] = fx_policy_reason(query, i, s, &decision);
            denial_ptrs[used_denials++] = d;
            out->n_denied++;
        }
        for (const char *name = zlistx_first(r.unknown); name; name = zlistx_next(r.unknown)) {
            Fusion__Denial *d = &denials[used_denials];
            fusion__denial__init(d);
            d->recipient = (char *) name;
            d->code = (char *) fx_err_code(FX_ERR_UNKNOWN_RECIPIENT);
            d->reason = (char *) "Only enrolled principals may receive: this is not a valid, "
                                 "unrevoked principal or agency of the region's directory.";
            denial_ptrs[used_denials++] = d;
            out->n_denied++;
        }
    }
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Prepared prepared = FUSION__PREPARED__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_PREPARED;
    frame.prepared = &prepared;
    prepared.n_sections = n_sections;
    prepared.sections = section_ptrs;
    server_answer_within_frame(self, session, &frame,
                               "ask about fewer sections or recipients, or a narrower audience");
    free(by_index);
cleanup:
    for (size_t i = 0; i < nreasons; i++)
        free(reasons[i]);
    free(reasons);
    free(denial_ptrs);
    free(denials);
    free(cert_ptrs);
    free(certs);
    free(section_ptrs);
    free(sections);
    fx_policy_query_destroy(&query);
    zlistx_destroy(&r.unknown);
    zhashx_destroy(&r.named);
    zhashx_destroy(&r.seen);
    zlistx_destroy(&r.candidates);
}
