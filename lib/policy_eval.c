/* Deciding with a compiled sharing policy: a query binds one message to the policy and does every
 * per-message and per-section step once (interning, route matching, the message-level conditions
 * of every rule), so that deciding a (section, recipient) pair is a few mask and integer tests.
 * The checks run in DESIGN.md's order; the reason sentence is built only when asked for. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/keys.h"
#include "fusion/vocab.h"
#include "policy_internal.h"

/* Why the exercise segregation check failed. */
enum {
    EX_OK = 0,
    EX_NOT_LISTED,
    EX_SENDER_NOT_PARTICIPANT,
    EX_SENDER_SIMULATED,
    EX_RECIPIENT_NOT_PARTICIPANT,
    EX_RECIPIENT_SIMULATED
};

/* Why the audience check failed. */
enum {
    AUD_OK = 0,
    AUD_NO_TASKFORCE,
    AUD_TASKFORCE_NOT_LISTED,
    AUD_TASKFORCE_NOT_IN_FORCE,
    AUD_SENDER_NOT_MEMBER,
    AUD_RECIPIENT_NOT_MEMBER,
    AUD_NOT_FOCAL_POINT
};

#define NONE_NAMED (-1) /* the message names no exercise, taskforce or agreement */
#define NOT_LISTED (-2) /* it names one the policy does not list */

typedef struct {
    char *id;
    uint32_t country; /* packed */
    uint32_t id_sym, agency_sym;
    uint32_t roles;
} party_t;

typedef struct {
    party_t party;
    uint8_t exercise_fail; /* EX_* */
    uint8_t audience_fail; /* AUD_* */
} recipient_t;

typedef struct {
    uint32_t id;
    int tlp;
    uint32_t categories;
    uint32_t protected_present; /* categories protected for the sender's country */
    int tlp_ok;
    uint32_t *forbid, nforbid; /* rules whose message-level conditions hold, in file order */
    uint32_t *permit, npermit;
    uint32_t *agreements, nagreements; /* agreements that cover this section but for the
                                          recipient's country, in file order */
} section_t;

struct fx_policy_query {
    const fx_policy_t *policy;
    party_t sender;
    int kind, audience, purpose, subject_role, stage, urgency, consent;
    uint32_t handling;
    fx_route_t *route;
    char *exercise, *taskforce, *agreement;                   /* NULL: none */
    char *exercise_shown, *taskforce_shown, *agreement_shown; /* safe to print in a reason */
    int exercise_idx, taskforce_idx, agreement_idx;
    uint8_t exercise_fail; /* sender or message level */
    uint8_t audience_fail;
    int64_t at;
    section_t *sections;
    size_t nsections;
    recipient_t *recipients;
    size_t nrecipients, recipients_cap;
};

static const char *const s_codes[] = {
    [FX_POLICY_ALLOWED] = "allowed",
    [FX_POLICY_EXERCISE_SEGREGATION] = "exercise_segregation",
    [FX_POLICY_TLP_AUDIENCE] = "tlp_audience",
    [FX_POLICY_AUDIENCE_MISMATCH] = "audience_mismatch",
    [FX_POLICY_NO_AGREEMENT] = "no_agreement",
    [FX_POLICY_FORBIDDEN] = "forbidden",
    [FX_POLICY_NO_PERMIT] = "no_permit",
};

const char *fx_policy_code_name(fx_policy_code_t code)
{
    return (unsigned) code <= FX_POLICY_NO_PERMIT ? s_codes[code] : "unknown";
}

/* ---- Binding principals ---------------------------------------------------------------------- */

static void s_why(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_why(char *why, size_t size, const char *fmt, ...)
{
    if (!why || !size)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, size, fmt, args);
    va_end(args);
}

static int s_mask_valid(uint32_t mask, fx_vocab_t vocab)
{
    uint32_t all = ((1u << fx_vocab_size(vocab)) - 1) & ~1u;
    return (mask & ~all) == 0;
}

static int s_value_valid(int value, fx_vocab_t vocab)
{
    return value >= 0 && value < fx_vocab_size(vocab);
}

/* Interns a principal against the policy: packed country, symbols of id and agency (0 when the
 * policy never names them). */
static fx_err_t s_party_bind(const fx_policy_t *policy, const fx_policy_principal_t *principal,
                             const char *what, party_t *party, char *why, size_t why_size)
{
    memset(party, 0, sizeof *party);
    if (!principal || !fx_principal_id_valid(principal->id)) {
        s_why(why, why_size, "%s id is not a principal id (COUNTRY.AGENCY.UNIT)", what);
        return FX_ERR_INVALID;
    }
    char agency[FX_ID_MAX], country[4];
    fx_principal_agency(principal->id, agency);
    memcpy(country, principal->id, 3);
    country[3] = '\0';
    const char *c = principal->country ? principal->country : country;
    const char *a = principal->agency ? principal->agency : agency;
    party->country = fx_policy_country_pack(c);
    if (!party->country) {
        s_why(why, why_size, "%s country is not a country code (three letters)", what);
        return FX_ERR_INVALID;
    }
    if (!fx_agency_id_valid(a)) {
        s_why(why, why_size, "%s agency is not an agency (COUNTRY.AGENCY)", what);
        return FX_ERR_INVALID;
    }
    if (!s_mask_valid(principal->roles, FX_VOCAB_ROLE)) {
        s_why(why, why_size, "%s roles hold a value that is not a role", what);
        return FX_ERR_INVALID;
    }
    party->id = fx_strdup(principal->id);
    party->id_sym = fx_policy_symbol_find(&policy->symbols, principal->id);
    party->agency_sym = fx_policy_symbol_find(&policy->symbols, a);
    party->roles = principal->roles;
    return FX_OK;
}

static int s_member(const policy_group_t *group, const party_t *party)
{
    return fx_policy_sorted_has(group->members, group->nmembers, party->id_sym) ||
           fx_policy_sorted_has(group->members, group->nmembers, party->agency_sym);
}

/* ---- Conditions ------------------------------------------------------------------------------ */

static int s_set_holds(const policy_cond_t *cond, uint32_t set)
{
    switch (cond->op) {
    case OP_ANY:
        return (set & cond->mask) != 0;
    case OP_ALL:
        return cond->mask != 0 && (set & cond->mask) == cond->mask;
    case OP_NONE:
        return (set & cond->mask) == 0;
    default:
        return 0;
    }
}

static int s_in_holds(const policy_cond_t *cond, uint32_t value)
{
    int in = value != 0 && fx_policy_sorted_has(cond->vals, cond->nvals, value);
    return cond->op == OP_IN ? in : !in;
}

/* A condition that does not depend on the recipient. Absent fields (value 0, no route) never
 * satisfy a condition: bit 0 is never set in a mask. */
static int s_message_cond(const policy_cond_t *cond, const fx_policy_query_t *q,
                          const section_t *section)
{
    switch (cond->field) {
    case F_KIND:
        return cond->mask >> q->kind & 1u;
    case F_AUDIENCE:
        return cond->mask >> q->audience & 1u;
    case F_PURPOSE:
        return cond->mask >> q->purpose & 1u;
    case F_SUBJECT_ROLE:
        return cond->mask >> q->subject_role & 1u;
    case F_STAGE:
        return cond->mask >> q->stage & 1u;
    case F_TLP:
        return cond->mask >> section->tlp & 1u;
    case F_CATEGORIES:
        return s_set_holds(cond, section->categories);
    case F_SENDER_COUNTRY:
        return s_in_holds(cond, q->sender.country);
    case F_SENDER_AGENCY:
        return s_in_holds(cond, q->sender.agency_sym);
    case F_SENDER_ID:
        return s_in_holds(cond, q->sender.id_sym);
    case F_SENDER_ROLES:
        return s_set_holds(cond, q->sender.roles);
    case F_CONSENT:
        return (uint32_t) q->consent == cond->mask;
    case F_EXERCISE:
        return (uint32_t) (q->exercise != NULL) == cond->mask;
    case F_ROUTE:
        return q->route && fx_route_pattern_match(cond->pattern, q->route);
    default:
        return 0;
    }
}

/* A condition on the recipient (or on sender and recipient together, cross_border). */
static inline int s_recipient_cond(const policy_cond_t *cond, const fx_policy_query_t *q,
                                   const party_t *r)
{
    switch (cond->field) {
    case F_RECIPIENT_COUNTRY:
        return s_in_holds(cond, r->country);
    case F_RECIPIENT_AGENCY:
        return s_in_holds(cond, r->agency_sym);
    case F_RECIPIENT_ID:
        return s_in_holds(cond, r->id_sym);
    case F_RECIPIENT_ROLES:
        return s_set_holds(cond, r->roles);
    case F_CROSS_BORDER:
        return (uint32_t) (r->country != q->sender.country) == cond->mask;
    default:
        return 0;
    }
}

static inline int s_rule_holds_for(const policy_rule_t *rule, const fx_policy_query_t *q,
                                   const party_t *r)
{
    const policy_cond_t *cond = rule->conds + rule->nmsg;
    for (uint32_t i = 0; i < rule->nrcpt; i++)
        if (!s_recipient_cond(&cond[i], q, r))
            return 0;
    return 1;
}

/* ---- Agreements ------------------------------------------------------------------------------ */

/* Does agreement a cover what this section needs, for the sender's side? (The recipient's
 * country is checked per pair.) */
static int s_agreement_covers(const fx_policy_query_t *q, const policy_agreement_t *a,
                              uint32_t needed)
{
    return q->purpose != 0 && (a->categories & needed) == needed &&
           (a->purposes >> q->purpose & 1u) &&
           fx_policy_in_force(a->has_from, a->from, a->has_until, a->until, q->at) &&
           fx_policy_sorted_has(a->parties, a->nparties, q->sender.country);
}

static uint32_t s_protected_for(const fx_policy_t *policy, uint32_t country)
{
    for (uint32_t i = 0; i < policy->ncountries; i++)
        if (policy->countries[i].country == country)
            return policy->countries[i].protected_categories;
    return policy->protected_categories;
}

/* The agreement that satisfies check 4 for this pair: its index, -1 if one is needed and none
 * does, -2 if none is needed. */
static inline int s_agreement_for(const fx_policy_query_t *q, const section_t *s, const party_t *r)
{
    if (!s->protected_present || r->country == q->sender.country)
        return -2;
    for (uint32_t i = 0; i < s->nagreements; i++) {
        const policy_agreement_t *a = &q->policy->agreements[s->agreements[i]];
        if (fx_policy_sorted_has(a->parties, a->nparties, r->country))
            return (int) s->agreements[i];
    }
    return -1;
}

/* ---- Queries --------------------------------------------------------------------------------- */

static int s_find_group(const policy_group_t *groups, uint32_t n, const char *id)
{
    if (!id)
        return NONE_NAMED;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(groups[i].id, id) == 0)
            return (int) i;
    return NOT_LISTED;
}

static char *s_optional(const char *text)
{
    return text && *text ? fx_strdup(text) : NULL;
}

/* A name for reasons: the policy's own id when the message names a listed one (valid UTF-8 from
 * libyaml), else the message's text as printable ASCII, at most 64 characters. */
static char *s_shown(const char *text, const char *listed)
{
    if (listed)
        return fx_strdup(listed);
    if (!text)
        return NULL;
    char *out = fx_malloc(68);
    size_t n = 0;
    for (const char *p = text; *p && n < 64; p++)
        out[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    if (strlen(text) > 64) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static void s_section_prepare(fx_policy_query_t *q, section_t *s)
{
    const fx_policy_t *policy = q->policy;
    /* Check 2: clear and green anywhere, amber not to a route, red only direct. An unmarked
     * section is handled as red. */
    int tlp = s->tlp ? s->tlp : FX_TLP_RED;
    s->tlp_ok = tlp <= FX_TLP_GREEN ||
                (tlp <= FX_TLP_AMBER_STRICT && q->audience != FX_AUDIENCE_ROUTE) ||
                q->audience == FX_AUDIENCE_DIRECT;

    s->protected_present = s->categories & s_protected_for(policy, q->sender.country);
    s->agreements = fx_calloc(policy->nagreements ? policy->nagreements : 1, sizeof(uint32_t));
    if (s->protected_present && q->agreement_idx >= 0) {
        if (s_agreement_covers(q, &policy->agreements[q->agreement_idx], s->protected_present))
            s->agreements[s->nagreements++] = (uint32_t) q->agreement_idx;
    } else if (s->protected_present && q->agreement_idx == NONE_NAMED) {
        for (uint32_t i = 0; i < policy->nagreements; i++)
            if (s_agreement_covers(q, &policy->agreements[i], s->protected_present))
                s->agreements[s->nagreements++] = i;
    }

    s->forbid = fx_calloc(policy->nrules ? policy->nrules : 1, sizeof(uint32_t));
    s->permit = fx_calloc(policy->nrules ? policy->nrules : 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < policy->nrules; i++) {
        const policy_rule_t *rule = &policy->rules[i];
        uint32_t c = 0;
        while (c < rule->nmsg && s_message_cond(&rule->conds[c], q, s))
            c++;
        if (c < rule->nmsg)
            continue;
        if (rule->permit)
            s->permit[s->npermit++] = i;
        else
            s->forbid[s->nforbid++] = i;
    }
}

fx_err_t fx_policy_query_new(const fx_policy_t *policy, const fx_policy_principal_t *sender,
                             const fx_policy_message_t *message, int64_t at_ms,
                             fx_policy_query_t **query_p, char *why, size_t why_size)
{
    *query_p = NULL;
    fx_policy_query_t *q = fx_calloc(1, sizeof *q);
    q->policy = policy;
    q->at = at_ms;
    fx_err_t rc = FX_ERR_INVALID;
    if (s_party_bind(policy, sender, "the sender", &q->sender, why, why_size) != FX_OK)
        goto cleanup;
    if (!s_value_valid(message->kind, FX_VOCAB_KIND) ||
        !s_value_valid(message->audience, FX_VOCAB_AUDIENCE) ||
        !s_value_valid(message->purpose, FX_VOCAB_PURPOSE) ||
        !s_value_valid(message->subject_role, FX_VOCAB_SUBJECT_ROLE) ||
        !s_value_valid(message->stage, FX_VOCAB_STAGE) ||
        !s_value_valid(message->urgency, FX_VOCAB_URGENCY) ||
        !s_mask_valid(message->handling, FX_VOCAB_HANDLING)) {
        s_why(why, why_size, "the message holds a value outside its enumeration");
        goto cleanup;
    }
    if (message->section_count == 0 || message->section_count > FX_POLICY_MAX_SECTIONS ||
        !message->sections) {
        s_why(why, why_size, "a message has 1 to %d sections", FX_POLICY_MAX_SECTIONS);
        goto cleanup;
    }
    q->kind = message->kind;
    q->audience = message->audience;
    q->purpose = message->purpose;
    q->subject_role = message->subject_role;
    q->stage = message->stage;
    q->urgency = message->urgency;
    q->handling = message->handling;
    q->consent = message->consent ? 1 : 0;
    if (message->route && *message->route) {
        char route_why[FX_ROUTE_WHY_SIZE] = "";
        if (fx_route_parse(message->route, &q->route, route_why) != FX_OK) {
            s_why(why, why_size, "the message's route is not a route: %s", route_why);
            goto cleanup;
        }
    }
    q->exercise = s_optional(message->exercise);
    q->taskforce = s_optional(message->taskforce);
    q->agreement = s_optional(message->agreement);
    q->exercise_idx = s_find_group(policy->exercises, policy->nexercises, q->exercise);
    q->taskforce_idx = s_find_group(policy->taskforces, policy->ntaskforces, q->taskforce);
    q->agreement_idx = NONE_NAMED;
    if (q->agreement) {
        q->agreement_idx = NOT_LISTED;
        for (uint32_t i = 0; i < policy->nagreements; i++)
            if (strcmp(policy->agreements[i].id, q->agreement) == 0)
                q->agreement_idx = (int) i;
    }

    q->exercise_shown =
        s_shown(q->exercise, q->exercise_idx >= 0 ? policy->exercises[q->exercise_idx].id : NULL);
    q->taskforce_shown = s_shown(
        q->taskforce, q->taskforce_idx >= 0 ? policy->taskforces[q->taskforce_idx].id : NULL);
    q->agreement_shown = s_shown(
        q->agreement, q->agreement_idx >= 0 ? policy->agreements[q->agreement_idx].id : NULL);

    /* Check 1, the sender's side. */
    if (q->exercise_idx == NOT_LISTED)
        q->exercise_fail = EX_NOT_LISTED;
    else if (q->exercise_idx >= 0 && !s_member(&policy->exercises[q->exercise_idx], &q->sender))
        q->exercise_fail = EX_SENDER_NOT_PARTICIPANT;
    else if (q->exercise_idx == NONE_NAMED && (q->sender.roles >> FX_ROLE_SIMULATED & 1u))
        q->exercise_fail = EX_SENDER_SIMULATED;

    /* Check 3, the message's and sender's side. */
    if (q->audience == FX_AUDIENCE_TASKFORCE) {
        const policy_group_t *tf =
            q->taskforce_idx >= 0 ? &policy->taskforces[q->taskforce_idx] : NULL;
        if (q->taskforce_idx == NONE_NAMED)
            q->audience_fail = AUD_NO_TASKFORCE;
        else if (!tf)
            q->audience_fail = AUD_TASKFORCE_NOT_LISTED;
        else if (!fx_policy_in_force(tf->has_from, tf->from, tf->has_until, tf->until, q->at))
            q->audience_fail = AUD_TASKFORCE_NOT_IN_FORCE;
        else if (!s_member(tf, &q->sender))
            q->audience_fail = AUD_SENDER_NOT_MEMBER;
    }

    q->nsections = message->section_count;
    q->sections = fx_calloc(q->nsections, sizeof *q->sections);
    for (size_t i = 0; i < q->nsections; i++) {
        const fx_policy_section_t *in = &message->sections[i];
        if (!s_value_valid(in->tlp, FX_VOCAB_TLP) ||
            !s_mask_valid(in->categories, FX_VOCAB_CATEGORY)) {
            s_why(why, why_size, "section %u holds a value outside its enumeration", in->id);
            goto cleanup;
        }
        q->sections[i].id = in->id;
        q->sections[i].tlp = in->tlp;
        q->sections[i].categories = in->categories;
        s_section_prepare(q, &q->sections[i]);
    }
    *query_p = q;
    q = NULL;
    rc = FX_OK;
cleanup:
    fx_policy_query_destroy(&q);
    return rc;
}

fx_err_t fx_policy_query_add_recipient(fx_policy_query_t *self,
                                       const fx_policy_principal_t *recipient, size_t *index_p,
                                       char *why, size_t why_size)
{
    recipient_t r = {0};
    if (s_party_bind(self->policy, recipient, "the recipient", &r.party, why, why_size) != FX_OK)
        return FX_ERR_INVALID;
    const fx_policy_t *policy = self->policy;
    /* Check 1, the recipient's side. */
    if (self->exercise_idx >= 0 && !s_member(&policy->exercises[self->exercise_idx], &r.party))
        r.exercise_fail = EX_RECIPIENT_NOT_PARTICIPANT;
    else if (self->exercise_idx == NONE_NAMED && (r.party.roles >> FX_ROLE_SIMULATED & 1u))
        r.exercise_fail = EX_RECIPIENT_SIMULATED;
    /* Check 3, the recipient's side. */
    if (self->audience == FX_AUDIENCE_TASKFORCE && self->taskforce_idx >= 0 &&
        !s_member(&policy->taskforces[self->taskforce_idx], &r.party))
        r.audience_fail = AUD_RECIPIENT_NOT_MEMBER;
    else if (self->audience == FX_AUDIENCE_FOCAL_POINTS &&
             !(r.party.roles >> FX_ROLE_FOCAL_POINT & 1u))
        r.audience_fail = AUD_NOT_FOCAL_POINT;

    if (self->nrecipients == self->recipients_cap) {
        self->recipients_cap = self->recipients_cap ? self->recipients_cap * 2 : 16;
        self->recipients =
            fx_realloc(self->recipients, self->recipients_cap * sizeof *self->recipients);
    }
    if (index_p)
        *index_p = self->nrecipients;
    self->recipients[self->nrecipients++] = r;
    return FX_OK;
}

size_t fx_policy_query_recipient_count(const fx_policy_query_t *self)
{
    return self->nrecipients;
}

size_t fx_policy_query_section_count(const fx_policy_query_t *self)
{
    return self->nsections;
}

void fx_policy_query_destroy(fx_policy_query_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_policy_query_t *self = *self_p;
    for (size_t i = 0; self->sections && i < self->nsections; i++) {
        free(self->sections[i].forbid);
        free(self->sections[i].permit);
        free(self->sections[i].agreements);
    }
    free(self->sections);
    for (size_t i = 0; i < self->nrecipients; i++)
        free(self->recipients[i].party.id);
    free(self->recipients);
    free(self->sender.id);
    fx_route_destroy(&self->route);
    free(self->exercise);
    free(self->taskforce);
    free(self->agreement);
    free(self->exercise_shown);
    free(self->taskforce_shown);
    free(self->agreement_shown);
    free(self);
    *self_p = NULL;
}

/* ---- Deciding -------------------------------------------------------------------------------- */

void fx_policy_decide(const fx_policy_query_t *q, size_t recipient, size_t section,
                      fx_policy_decision_t *d)
{
    memset(d, 0, sizeof *d);
    if (recipient >= q->nrecipients || section >= q->nsections) {
        d->code = FX_POLICY_NO_PERMIT; /* fail closed on a caller's bad index */
        return;
    }
    const recipient_t *r = &q->recipients[recipient];
    const section_t *s = &q->sections[section];
    const fx_policy_t *policy = q->policy;
    if (q->exercise_fail || r->exercise_fail) {
        d->code = FX_POLICY_EXERCISE_SEGREGATION;
        return;
    }
    if (!s->tlp_ok) {
        d->code = FX_POLICY_TLP_AUDIENCE;
        return;
    }
    if (q->audience_fail || r->audience_fail) {
        d->code = FX_POLICY_AUDIENCE_MISMATCH;
        return;
    }
    int a = s_agreement_for(q, s, &r->party);
    if (a == -1) {
        d->code = FX_POLICY_NO_AGREEMENT;
        return;
    }
    if (a >= 0)
        d->agreement = policy->agreements[a].id;
    for (uint32_t i = 0; i < s->nforbid; i++) {
        const policy_rule_t *rule = &policy->rules[s->forbid[i]];
        if (s_rule_holds_for(rule, q, &r->party)) {
            d->code = FX_POLICY_FORBIDDEN;
            d->rule = rule->id;
            d->guideline = rule->guideline;
            return;
        }
    }
    for (uint32_t i = 0; i < s->npermit; i++) {
        const policy_rule_t *rule = &policy->rules[s->permit[i]];
        if (s_rule_holds_for(rule, q, &r->party)) {
            d->allow = 1;
            d->code = FX_POLICY_ALLOWED;
            d->rule = rule->id;
            d->guideline = rule->guideline;
            return;
        }
    }
    if (policy->default_permit) {
        d->allow = 1;
        d->code = FX_POLICY_ALLOWED;
        d->rule = "default";
        return;
    }
    d->code = FX_POLICY_NO_PERMIT;
}

/* ---- Reasons --------------------------------------------------------------------------------- */

static char *s_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *s_format(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    char *out = fx_malloc(len > 0 ? (size_t) len + 1 : 1);
    va_start(args, fmt);
    vsnprintf(out, len > 0 ? (size_t) len + 1 : 1, fmt, args);
    va_end(args);
    return out;
}

/* "victim identity", "personal identifiers and travel document", ... into buf. */
static const char *s_words(fx_vocab_t vocab, uint32_t mask, char *buf, size_t size)
{
    size_t used = 0, count = 0, total = 0;
    buf[0] = '\0';
    for (int v = 1; v < fx_vocab_size(vocab); v++)
        total += mask >> v & 1u;
    for (int v = 1; v < fx_vocab_size(vocab) && used < size; v++) {
        if (!(mask >> v & 1u))
            continue;
        count++;
        const char *sep = count == 1 ? "" : count == total ? " and " : ", ";
        used += (size_t) snprintf(buf + used, size - used, "%s", sep);
        for (const char *w = fx_vocab_name(vocab, v); *w && used + 1 < size; w++)
            buf[used++] = *w == '_' ? ' ' : *w;
        if (used < size)
            buf[used] = '\0';
    }
    return buf;
}

static const char *s_word(fx_vocab_t vocab, int value, char *buf, size_t size)
{
    return s_words(vocab, value > 0 && value < 32 ? 1u << value : 0, buf, size);
}

static const char *s_tlp_label(int tlp)
{
    static const char *const labels[] = {"no TLP marking", "TLP:CLEAR",        "TLP:GREEN",
                                         "TLP:AMBER",      "TLP:AMBER+STRICT", "TLP:RED"};
    return tlp >= 0 && tlp <= FX_TLP_RED ? labels[tlp] : "an unknown TLP marking";
}

static const char *s_audience_phrase(int audience)
{
    switch (audience) {
    case FX_AUDIENCE_DIRECT:
        return "named recipients";
    case FX_AUDIENCE_TASKFORCE:
        return "a taskforce";
    case FX_AUDIENCE_ROUTE:
        return "everyone following a route";
    case FX_AUDIENCE_FOCAL_POINTS:
        return "focal points";
    default:
        return "a message that names no audience";
    }
}

static char *s_exercise_reason(const fx_policy_query_t *q, const recipient_t *r)
{
    int why = q->exercise_fail ? q->exercise_fail : r->exercise_fail;
    switch (why) {
    case EX_NOT_LISTED:
        return s_format("Exercise segregation: exercise %s is not listed in the sharing policy, "
                        "so its traffic may not reach anyone.",
                        q->exercise_shown);
    case EX_SENDER_NOT_PARTICIPANT:
        return s_format("Exercise segregation: the sender %s is not a participant of exercise "
                        "%s, so it may not send that exercise's traffic.",
                        q->sender.id, q->exercise_shown);
    case EX_SENDER_SIMULATED:
        return s_format("Exercise segregation: the sender %s is a simulated principal, which "
                        "may only send within an exercise, never live traffic.",
                        q->sender.id);
    case EX_RECIPIENT_NOT_PARTICIPANT:
        return s_format("Exercise segregation: %s is not a participant of exercise %s, and "
                        "exercise traffic must stay among the exercise's participants.",
                        r->party.id, q->exercise_shown);
    default:
        return s_format("Exercise segregation: %s is a simulated principal, and live "
                        "(non-exercise) traffic must never reach a simulated principal.",
                        r->party.id);
    }
}

static char *s_tlp_reason(const fx_policy_query_t *q, const section_t *s)
{
    if (!s->tlp)
        return s_format("Under the TLP 2.0 marking rules, section %u carries no TLP marking and "
                        "is handled as TLP:RED, which may only go to named recipients (audience "
                        "direct), not to %s.",
                        s->id, s_audience_phrase(q->audience));
    if (s->tlp == FX_TLP_RED)
        return s_format("Under the TLP 2.0 marking rules, section %u is marked TLP:RED, which "
                        "may only go to named recipients (audience direct), not to %s.",
                        s->id, s_audience_phrase(q->audience));
    return s_format("Under the TLP 2.0 marking rules, section %u is marked %s, which may not go "
                    "to everyone following a route; send it to named recipients, a taskforce or "
                    "focal points instead.",
                    s->id, s_tlp_label(s->tlp));
}

/* The guideline behind the audience check, named first in each of its reasons. */
#define TASKFORCE_GUIDELINE                                                                        \
    "Under the taskforce guideline (a cross-border taskforce shares only among its members, as "   \
    "the sharing policy lists them)"
#define FOCAL_GUIDELINE                                                                            \
    "Under the focal-point guideline (a message to focal points goes only to the agencies' "       \
    "designated focal points)"

static char *s_audience_reason(const fx_policy_query_t *q, const recipient_t *r)
{
    char when[FX_TIME_BUFSIZE];
    int why = q->audience_fail ? q->audience_fail : r->audience_fail;
    switch (why) {
    case AUD_NO_TASKFORCE:
        return s_format("%s, the message is addressed to a taskforce but names none.",
                        TASKFORCE_GUIDELINE);
    case AUD_TASKFORCE_NOT_LISTED:
        return s_format("%s, taskforce %s is not listed in the sharing policy, so no one may "
                        "receive traffic addressed to it.",
                        TASKFORCE_GUIDELINE, q->taskforce_shown);
    case AUD_TASKFORCE_NOT_IN_FORCE:
        fx_time_format(q->at, when);
        return s_format("%s, taskforce %s is not in force at %s, so traffic addressed to it may "
                        "not be shared.",
                        TASKFORCE_GUIDELINE, q->taskforce_shown, when);
    case AUD_SENDER_NOT_MEMBER:
        return s_format("%s, the sender %s is not a member of taskforce %s, so it may not share "
                        "with the taskforce.",
                        TASKFORCE_GUIDELINE, q->sender.id, q->taskforce_shown);
    case AUD_RECIPIENT_NOT_MEMBER:
        return s_format("%s, %s is not a member of taskforce %s.", TASKFORCE_GUIDELINE, r->party.id,
                        q->taskforce_shown);
    default:
        return s_format("%s, %s does not hold the focal point role.", FOCAL_GUIDELINE, r->party.id);
    }
}

static char *s_agreement_reason(const fx_policy_query_t *q, const section_t *s,
                                const recipient_t *r)
{
    char from[4], to[4], data[256], purpose[64], when[FX_TIME_BUFSIZE], what[256];
    fx_policy_country_unpack(q->sender.country, from);
    fx_policy_country_unpack(r->party.country, to);
    s_words(FX_VOCAB_CATEGORY, s->protected_present, data, sizeof data);
    s_word(FX_VOCAB_PURPOSE, q->purpose, purpose, sizeof purpose);
    fx_time_format(q->at, when);
    const char *head = "Under the agreement requirement for differing privacy laws";
    if (!q->purpose)
        return s_format("%s, sharing %s data from %s with %s needs a bilateral agreement "
                        "covering the purpose of sharing, and this message states no purpose.",
                        head, data, from, to);
    if (q->agreement_idx == NOT_LISTED)
        return s_format("%s, sharing %s data from %s with %s needs a bilateral agreement, and "
                        "the cited agreement %s is not in the sharing policy.",
                        head, data, from, to, q->agreement_shown);
    if (q->agreement_idx >= 0) {
        const policy_agreement_t *a = &q->policy->agreements[q->agreement_idx];
        if (!fx_policy_sorted_has(a->parties, a->nparties, q->sender.country))
            snprintf(what, sizeof what, "does not list %s as a party", from);
        else if (!fx_policy_sorted_has(a->parties, a->nparties, r->party.country))
            snprintf(what, sizeof what, "does not list %s as a party", to);
        else if ((a->categories & s->protected_present) != s->protected_present) {
            char missing[200];
            s_words(FX_VOCAB_CATEGORY, s->protected_present & ~a->categories, missing,
                    sizeof missing);
            snprintf(what, sizeof what, "does not cover %s data", missing);
        } else if (!(a->purposes >> q->purpose & 1u))
            snprintf(what, sizeof what, "does not cover the purpose %s", purpose);
        else
            snprintf(what, sizeof what, "is not in force at %s", when);
        return s_format("%s, sharing %s data from %s with %s needs a bilateral agreement, and "
                        "the cited agreement %s %s.",
                        head, data, from, to, a->id, what);
    }
    return s_format("%s, sharing %s data from %s with %s needs a bilateral agreement in force "
                    "that lists both countries and covers that data and the purpose %s, and the "
                    "sharing policy has none.",
                    head, data, from, to, purpose);
}

char *fx_policy_audience_reason(const fx_policy_query_t *self)
{
    if (!self->audience_fail)
        return NULL;
    const recipient_t nobody = {0};
    return s_audience_reason(self, &nobody);
}

char *fx_policy_reason(const fx_policy_query_t *q, size_t recipient, size_t section,
                       const fx_policy_decision_t *d)
{
    if (recipient >= q->nrecipients || section >= q->nsections)
        return fx_strdup("No such recipient or section in this message, so nothing may be "
                         "shared.");
    const recipient_t *r = &q->recipients[recipient];
    const section_t *s = &q->sections[section];
    char under[160] = "";
    if (d->agreement)
        snprintf(under, sizeof under, ", under agreement %s", d->agreement);
    switch (d->code) {
    case FX_POLICY_EXERCISE_SEGREGATION:
        return s_exercise_reason(q, r);
    case FX_POLICY_TLP_AUDIENCE:
        return s_tlp_reason(q, s);
    case FX_POLICY_AUDIENCE_MISMATCH:
        return s_audience_reason(q, r);
    case FX_POLICY_NO_AGREEMENT:
        return s_agreement_reason(q, s, r);
    case FX_POLICY_FORBIDDEN:
        return s_format("Sharing section %u with %s is forbidden by the guideline \"%s\" (rule "
                        "%s).",
                        s->id, r->party.id, d->guideline ? d->guideline : "", d->rule);
    case FX_POLICY_NO_PERMIT:
        return s_format("Sharing section %u with %s is not allowed: no guideline in the sharing "
                        "policy permits it, and the policy forbids what no rule permits.",
                        s->id, r->party.id);
    default:
        if (d->rule && d->guideline)
            return s_format("Sharing section %u with %s is allowed by the guideline \"%s\" (rule "
                            "%s)%s.",
                            s->id, r->party.id, d->guideline, d->rule, under);
        return s_format("Sharing section %u with %s is allowed because no guideline forbids it "
                        "and the sharing policy permits by default (rule default)%s.",
                        s->id, r->party.id, under);
    }
}
