/* Exercise scenarios: strict loading of the YAML Master Scenario Events List (docs/exercises.md)
 * into participants, injects in time order and their expectations, with every problem reported
 * as NAME:LINE:COLUMN through lib/yamldoc.c. Embedded drafts are checked by lib/draft.c. */
#include "fusion/scenario.h"

#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "fusion/draft.h"
#include "fusion/keys.h"
#include "fusion/route.h"
#include "fusion/vocab.h"

#define MAX_TEXT 4096 /* titles, objectives, descriptions, notes */
#define MAX_ID   64   /* exercise and inject ids */

struct fx_scenario {
    fx_yaml_t *doc; /* every string below points into it (the injects' patterns are copies) */
    char *base_dir;
    const char *exercise, *title, *reference;
    const char **objectives;
    size_t n_objectives;
    int speed;
    fx_participant_t *participants;
    size_t n_participants;
    fx_inject_t *injects;
    size_t n_injects;
    fx_expectation_t **expects; /* one array per inject */
};

typedef struct {
    fx_diag_t *diag;
    fx_scenario_t *s;
    const fx_policy_t *policy;
    int64_t now_ms;
} loader_t;

static const char *const s_expect_names[] = {
    [FX_EXPECT_DELIVERED] = "delivered", [FX_EXPECT_NOT_DELIVERED] = "not_delivered",
    [FX_EXPECT_DENIED] = "denied",       [FX_EXPECT_ACKNOWLEDGED] = "acknowledged",
    [FX_EXPECT_ACCEPTED] = "accepted",   [FX_EXPECT_DECLINED] = "declined",
    [FX_EXPECT_ESCALATED] = "escalated",
};
#define N_EXPECT_KINDS 7

static const char *const s_inject_names[] = {
    [FX_INJECT_SEND] = "send",
    [FX_INJECT_RESPOND] = "respond",
    [FX_INJECT_FEEDBACK] = "feedback",
    [FX_INJECT_SUBSCRIBE] = "subscribe",
    [FX_INJECT_UNSUBSCRIBE] = "unsubscribe",
};

static const char *const s_policy_codes[] = {
    "exercise_segregation", "tlp_audience", "audience_mismatch",
    "no_agreement",         "forbidden",    "no_permit"};

static const char *const s_statuses[] = {NULL,       "acknowledged", "accepted",
                                         "declined", "need_info",    "closed"};

const char *fx_expect_kind_name(fx_expect_kind_t kind)
{
    return kind >= FX_EXPECT_DELIVERED && kind <= FX_EXPECT_ESCALATED ? s_expect_names[kind] : "?";
}

const char *fx_inject_kind_name(fx_inject_kind_t kind)
{
    return kind >= FX_INJECT_SEND && kind <= FX_INJECT_UNSUBSCRIBE ? s_inject_names[kind] : "?";
}

void fx_scenario_time_text(int64_t ms, char buf[24])
{
    int64_t s = ms / 1000;
    if (s % 60)
        snprintf(buf, 24, "+%02lld:%02lld:%02lld", (long long) (s / 3600),
                 (long long) (s / 60 % 60), (long long) (s % 60));
    else
        snprintf(buf, 24, "+%02lld:%02lld", (long long) (s / 3600), (long long) (s / 60 % 60));
}

/* ---- Small checked readers ------------------------------------------------------------------ */

/* Free text: 1 to MAX_TEXT bytes, no control characters other than new lines and tabs. */
static const char *s_text(loader_t *ld, const fx_yaml_node_t *node, const char *what)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return NULL;
    size_t len = fx_yaml_length(node);
    if (len == 0 || len > MAX_TEXT) {
        fx_yaml_error(ld->diag, node, "%s must be 1 to %d characters", what, MAX_TEXT);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            fx_yaml_error(ld->diag, node, "%s contains a control character", what);
            return NULL;
        }
    }
    return text;
}

/* An id: 1 to MAX_ID letters, digits, '-', '_' or '.'. */
static const char *s_id(loader_t *ld, const fx_yaml_node_t *node, const char *what)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return NULL;
    size_t len = fx_yaml_length(node);
    int ok = len >= 1 && len <= MAX_ID;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char) text[i]) || strchr("-_.", text[i]);
    if (!ok) {
        char shown[72];
        fx_yaml_error(ld->diag, node,
                      "%s must be 1 to %d letters, digits, '-', '_' or '.', found '%s'", what,
                      MAX_ID, fx_yaml_shown(text, len, shown));
        return NULL;
    }
    return text;
}

static const char *s_principal(loader_t *ld, const fx_yaml_node_t *node, const char *what)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return NULL;
    if (!fx_principal_id_valid(text)) {
        char shown[72];
        fx_yaml_error(ld->diag, node,
                      "%s must be a principal id COUNTRY.AGENCY.UNIT (e.g. THA.RTP.fp1), found "
                      "'%s'",
                      what, fx_yaml_shown(text, fx_yaml_length(node), shown));
        return NULL;
    }
    return text;
}

/* "+HH:MM" or "+HH:MM:SS" (hours 0 to 999). */
static int s_at(loader_t *ld, const fx_yaml_node_t *node, int64_t *ms_p)
{
    const char *text = fx_yaml_scalar(ld->diag, node, "at");
    if (!text)
        return -1;
    unsigned h = 0, m = 0, sec = 0;
    int n = 0, end = 0;
    size_t len = fx_yaml_length(node);
    if (text[0] == '+' && len >= 5 && len <= 10 && strspn(text + 1, "0123456789:") == len - 1) {
        n = sscanf(text, "+%3u:%2u%n:%2u%n", &h, &m, &end, &sec, &end);
        if (n == 2 && (size_t) end == len && strlen(text) == len && text[len - 3] == ':')
            n = 2;
        else if (n == 3 && (size_t) end == len && text[len - 3] == ':' && text[len - 6] == ':')
            n = 3;
        else
            n = 0;
    }
    if (n == 0 || m > 59 || sec > 59) {
        char shown[72];
        fx_yaml_error(ld->diag, node,
                      "at must be a time from the start of the exercise as +HH:MM or +HH:MM:SS "
                      "(e.g. +01:30), found '%s'",
                      fx_yaml_shown(text, len, shown));
        return -1;
    }
    *ms_p = ((int64_t) h * 3600 + m * 60 + sec) * 1000;
    return 0;
}

/* A duration of exercise time (within, a behaviour's delay): at most FX_SCENARIO_MAX_DELAY_MS,
 * so that the run that waits for it ends. 0, or -1 after reporting the problem. */
static int s_delay(loader_t *ld, const fx_yaml_node_t *node, const char *what, int64_t *ms_p)
{
    int64_t ms = 0;
    if (fx_yaml_duration(ld->diag, node, what, &ms) != 0)
        return -1;
    if (ms > FX_SCENARIO_MAX_DELAY_MS) {
        char shown[72];
        fx_yaml_error(ld->diag, node,
                      "%s must be at most %s of exercise time (a run waits for it), found '%s'",
                      what, FX_SCENARIO_MAX_DELAY_TEXT,
                      fx_yaml_shown(fx_yaml_text(node), fx_yaml_length(node), shown));
        return -1;
    }
    *ms_p = ms;
    return 0;
}

/* A list of 0 to max free texts. */
static const char **s_texts(loader_t *ld, const fx_yaml_node_t *node, const char *what, size_t *n_p)
{
    size_t count = 0;
    *n_p = 0;
    if (fx_yaml_list(ld->diag, node, what, &count) != 0)
        return NULL;
    if (count > 64) {
        fx_yaml_error(ld->diag, node, "%s has more than 64 items", what);
        return NULL;
    }
    const char **out = fx_calloc(count + 1, sizeof *out);
    for (size_t i = 0; i < count; i++) {
        const char *t = s_text(ld, fx_yaml_item(node, i), what);
        if (t)
            out[(*n_p)++] = t;
    }
    return out;
}

/* ---- Participants --------------------------------------------------------------------------- */

enum { P_ID, P_NAME, P_SIMULATED, P_ROLES, P_BEHAVIOUR, P_COUNT };
static const char *const s_participant_keys[P_COUNT] = {"id", "name", "simulated", "roles",
                                                        "behaviour"};
enum { B_ACK, B_ACCEPT, B_DECLINE, B_COUNT };
static const char *const s_behaviour_keys[B_COUNT] = {
    "acknowledge_referrals_after", "accept_referrals_after", "decline_without_consent"};

static void s_behaviour(loader_t *ld, const fx_yaml_node_t *node, fx_behaviour_t *b)
{
    const fx_yaml_node_t *f[B_COUNT];
    if (fx_yaml_fields(ld->diag, node, "behaviour", s_behaviour_keys, B_COUNT, f) != 0)
        return;
    if (f[B_ACK])
        s_delay(ld, f[B_ACK], "acknowledge_referrals_after", &b->acknowledge_after_ms);
    if (f[B_ACCEPT])
        s_delay(ld, f[B_ACCEPT], "accept_referrals_after", &b->accept_after_ms);
    if (f[B_DECLINE])
        fx_yaml_bool(ld->diag, f[B_DECLINE], "decline_without_consent",
                     &b->decline_without_consent);
    if (b->decline_without_consent && b->acknowledge_after_ms < 0 && b->accept_after_ms < 0)
        fx_yaml_error(ld->diag, node,
                      "decline_without_consent needs acknowledge_referrals_after or "
                      "accept_referrals_after (the decline is sent at that time)");
}

/* A simulated participant plays a trainee's counterpart: it may not hold a role that controls or
 * reads the exercise and the audit trail (trainer: the exercise's audit entries; auditor: the
 * broker's checkpoints), which the runner, holding its keys, would then hold. Each such role is
 * an error at its place in the list. */
static void s_simulated_roles(loader_t *ld, const fx_yaml_node_t *roles, const char *id)
{
    static const int forbidden[] = {FX_ROLE_TRAINER, FX_ROLE_AUDITOR};
    size_t n = fx_yaml_type(roles) == FX_YAML_LIST ? fx_yaml_count(roles) : 1;
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item =
            fx_yaml_type(roles) == FX_YAML_LIST ? fx_yaml_item(roles, i) : roles;
        const char *word = fx_yaml_text(item);
        for (size_t k = 0; word && k < sizeof forbidden / sizeof *forbidden; k++)
            if (strcmp(word, fx_vocab_name(FX_VOCAB_ROLE, forbidden[k])) == 0)
                fx_yaml_error(ld->diag, item,
                              "simulated participant %s cannot have the role %s: a synthetic "
                              "principal must not control or read the exercise and the audit "
                              "trail (%s)",
                              id, word,
                              forbidden[k] == FX_ROLE_TRAINER
                                  ? "a trainer reads the exercise's audit entries"
                                  : "an auditor receives the broker's audit checkpoints");
    }
}

static void s_participants(loader_t *ld, const fx_yaml_node_t *node)
{
    size_t count = 0;
    if (fx_yaml_list(ld->diag, node, "participants", &count) != 0)
        return;
    if (count == 0 || count > FX_SCENARIO_MAX_PARTICIPANTS) {
        fx_yaml_error(ld->diag, node, "participants must list 1 to %d principals",
                      FX_SCENARIO_MAX_PARTICIPANTS);
        return;
    }
    fx_scenario_t *s = ld->s;
    s->participants = fx_calloc(count, sizeof *s->participants);
    for (size_t i = 0; i < count; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i), *f[P_COUNT];
        if (fx_yaml_fields(ld->diag, item, "a participant", s_participant_keys, P_COUNT, f) != 0)
            continue;
        fx_participant_t p = {.line = fx_yaml_line(item), .column = fx_yaml_column(item)};
        p.behaviour = (fx_behaviour_t){-1, -1, 0};
        if (!f[P_ID]) {
            fx_yaml_error(ld->diag, item, "a participant needs an id");
            continue;
        }
        if (!(p.id = s_principal(ld, f[P_ID], "a participant's id")))
            continue;
        if (fx_scenario_find_participant(s, p.id)) {
            fx_yaml_error(ld->diag, f[P_ID], "participant %s is listed twice", p.id);
            continue;
        }
        if (f[P_NAME])
            p.name = s_text(ld, f[P_NAME], "name");
        if (f[P_SIMULATED])
            fx_yaml_bool(ld->diag, f[P_SIMULATED], "simulated", &p.simulated);
        if (p.simulated) {
            if (!f[P_ROLES])
                fx_yaml_error(ld->diag, item,
                              "simulated participant %s needs roles (the runner enrols it with "
                              "them, and the role simulated)",
                              p.id);
            else if (fx_yaml_word_mask(ld->diag, f[P_ROLES], FX_VOCAB_ROLE, "roles", 1, &p.roles) ==
                     0) {
                if (p.roles == 0)
                    fx_yaml_error(ld->diag, f[P_ROLES], "roles must list at least one role");
                s_simulated_roles(ld, f[P_ROLES], p.id);
            }
            if (f[P_BEHAVIOUR])
                s_behaviour(ld, f[P_BEHAVIOUR], &p.behaviour);
        } else {
            if (f[P_ROLES])
                fx_yaml_error(ld->diag, f[P_ROLES],
                              "roles are given only for simulated participants (a trainee's "
                              "roles are those of its certificate)");
            if (f[P_BEHAVIOUR])
                fx_yaml_error(ld->diag, f[P_BEHAVIOUR],
                              "behaviour is given only for simulated participants (trainees "
                              "act for themselves)");
        }
        if (ld->policy && s->exercise && fx_policy_has_exercise(ld->policy, s->exercise) &&
            !fx_policy_exercise_participant(ld->policy, s->exercise, p.id))
            fx_yaml_error(ld->diag, f[P_ID],
                          "%s is not a participant of exercise %s in the policy %s (add it, or "
                          "its agency, to the exercise's participants)",
                          p.id, s->exercise, fx_policy_name(ld->policy));
        s->participants[s->n_participants++] = p;
    }
}

/* ---- Expectations --------------------------------------------------------------------------- */

enum { E_WITHIN = N_EXPECT_KINDS, E_CODE, E_RULE, E_DESIGNED, E_NOTE, E_COUNT };
static const char *const s_expect_keys[E_COUNT] = {
    "delivered", "not_delivered", "denied", "acknowledged", "accepted",         "declined",
    "escalated", "within",        "code",   "rule",         "designed_to_fail", "note"};

static int s_expectation(loader_t *ld, const fx_yaml_node_t *item, const fx_inject_t *inj,
                         fx_expectation_t *e)
{
    const fx_yaml_node_t *f[E_COUNT];
    if (fx_yaml_fields(ld->diag, item, "an expectation", s_expect_keys, E_COUNT, f) != 0)
        return -1;
    memset(e, 0, sizeof *e);
    e->line = fx_yaml_line(item);
    e->column = fx_yaml_column(item);
    const fx_yaml_node_t *who = NULL;
    int kinds = 0;
    for (int k = 0; k < N_EXPECT_KINDS; k++)
        if (f[k]) {
            kinds++;
            e->kind = (fx_expect_kind_t) (k + 1);
            who = f[k];
        }
    if (kinds != 1) {
        fx_yaml_error(ld->diag, item,
                      "an expectation needs exactly one of delivered, not_delivered, denied, "
                      "acknowledged, accepted, declined, escalated (each naming a principal)");
        return -1;
    }
    const char *name = fx_expect_kind_name(e->kind);
    int err = 0;
    if (!(e->principal = s_principal(ld, who, name)))
        err = 1;
    if (f[E_WITHIN] && s_delay(ld, f[E_WITHIN], "within", &e->within_ms) != 0)
        err = 1;
    int timed = e->kind != FX_EXPECT_DENIED && e->kind != FX_EXPECT_NOT_DELIVERED;
    if (timed && !f[E_WITHIN]) {
        fx_yaml_error(ld->diag, item, "a '%s' expectation needs within (a duration, e.g. 15m)",
                      name);
        err = 1;
    }
    if (e->kind == FX_EXPECT_DENIED && f[E_WITHIN]) {
        fx_yaml_error(ld->diag, f[E_WITHIN],
                      "within has no meaning for 'denied' (the policy answers before sending)");
        err = 1;
    }
    if (e->kind == FX_EXPECT_DENIED) {
        if (!f[E_CODE]) {
            fx_yaml_error(ld->diag, item,
                          "a 'denied' expectation needs code (exercise_segregation, "
                          "tlp_audience, audience_mismatch, no_agreement, forbidden, no_permit)");
            err = 1;
        } else if ((e->code = fx_yaml_scalar(ld->diag, f[E_CODE], "code"))) {
            size_t k = 0;
            while (k < 6 && strcmp(e->code, s_policy_codes[k]) != 0)
                k++;
            if (k == 6) {
                char shown[72];
                fx_yaml_error(ld->diag, f[E_CODE],
                              "unknown denial code '%s' (expected one of: exercise_segregation, "
                              "tlp_audience, audience_mismatch, no_agreement, forbidden, "
                              "no_permit)",
                              fx_yaml_shown(e->code, fx_yaml_length(f[E_CODE]), shown));
                err = 1;
            }
        } else {
            err = 1;
        }
        if (f[E_RULE] && !(e->rule = s_id(ld, f[E_RULE], "rule")))
            err = 1;
        /* A denial names a rule only when a forbid rule decided it (DESIGN.md): any other
         * rule, or a rule the policy does not have, could never be observed. */
        if (!err && e->rule && strcmp(e->code, "forbidden") != 0) {
            fx_yaml_error(ld->diag, f[E_RULE],
                          "only a 'forbidden' denial names a rule (the forbid rule that "
                          "decided it); a %s denial has none: leave rule out",
                          e->code);
            err = 1;
        } else if (!err && e->rule && ld->policy &&
                   !fx_policy_has_forbid_rule(ld->policy, e->rule)) {
            fx_yaml_error(ld->diag, f[E_RULE],
                          "the policy %s has no forbid rule %s, so no denial can name it",
                          fx_policy_name(ld->policy), e->rule);
            err = 1;
        }
    } else {
        for (int k = E_CODE; k <= E_RULE; k++)
            if (f[k]) {
                fx_yaml_error(ld->diag, f[k], "%s is only for 'denied' expectations",
                              s_expect_keys[k]);
                err = 1;
            }
    }
    if (f[E_DESIGNED] &&
        fx_yaml_bool(ld->diag, f[E_DESIGNED], "designed_to_fail", &e->designed_to_fail) != 0)
        err = 1;
    if (f[E_NOTE] && !(e->note = s_text(ld, f[E_NOTE], "note")))
        err = 1;
    if (err)
        return -1;
    /* What each inject can be expected to do. */
    int message = inj->kind == FX_INJECT_SEND || inj->kind == FX_INJECT_RESPOND ||
                  inj->kind == FX_INJECT_FEEDBACK;
    int referral = inj->kind == FX_INJECT_SEND && inj->message_kind == FX_KIND_REFERRAL;
    int about_response = e->kind == FX_EXPECT_ACKNOWLEDGED || e->kind == FX_EXPECT_ACCEPTED ||
                         e->kind == FX_EXPECT_DECLINED || e->kind == FX_EXPECT_ESCALATED;
    if (!message) {
        fx_yaml_error(ld->diag, item,
                      "this %s inject sends no message, so it cannot be expected to be %s",
                      fx_inject_kind_name(inj->kind), name);
        return -1;
    }
    if (about_response && !referral) {
        fx_yaml_error(ld->diag, item,
                      "'%s' applies to a referral (an inject that sends kind: "
                      "referral)",
                      name);
        return -1;
    }
    /* The broker escalates a referral only after the policy's deadline for its urgency
     * (referral_deadlines): without one, nothing is ever escalated. */
    if (e->kind == FX_EXPECT_ESCALATED && ld->policy &&
        fx_policy_referral_deadline(ld->policy, inj->urgency) <= 0) {
        const char *urgency = inj->urgency == FX_URGENCY_URGENT ? "urgent" : "normal";
        fx_yaml_error(ld->diag, item,
                      "the policy %s sets no referral deadline for %s referrals "
                      "(referral_deadlines.%s), so the broker never escalates this one: add "
                      "the deadline to the policy, or leave 'escalated' out",
                      fx_policy_name(ld->policy), urgency, urgency);
        return -1;
    }
    if (e->kind != FX_EXPECT_DENIED && e->kind != FX_EXPECT_NOT_DELIVERED &&
        e->kind != FX_EXPECT_ESCALATED && !fx_scenario_find_participant(ld->s, e->principal)) {
        fx_yaml_error(ld->diag, who,
                      "%s is not a participant of the scenario, so nothing it does can be "
                      "observed",
                      e->principal);
        return -1;
    }
    return 0;
}

/* ---- Injects -------------------------------------------------------------------------------- */

enum {
    I_ID,
    I_AT,
    I_FROM,
    I_DESCRIPTION,
    I_SEND,
    I_RESPOND,
    I_FEEDBACK,
    I_SUBSCRIBE,
    I_UNSUBSCRIBE,
    I_EXPECT,
    I_COUNT
};
static const char *const s_inject_keys[I_COUNT] = {
    "id",      "at",       "from",      "description", "send",
    "respond", "feedback", "subscribe", "unsubscribe", "expect"};

enum { R_TO, R_STATUS, R_REASON, R_OUTCOME, R_COUNT };
static const char *const s_respond_keys[R_COUNT] = {"to", "status", "reason", "outcome"};
enum { F_TO, F_OBSERVATION, F_COUNT };
static const char *const s_feedback_keys[F_COUNT] = {"to", "observation"};
enum { S_PATTERN, S_STAGES, S_KINDS, S_COUNT };
static const char *const s_subscribe_keys[S_COUNT] = {"pattern", "stages", "kinds"};

/* The earlier inject that `to` names, which must send a message of kind want. */
static const fx_inject_t *s_answered(loader_t *ld, const fx_yaml_node_t *node, size_t before,
                                     int want, const char *what)
{
    const char *to = s_id(ld, node, "to");
    if (!to)
        return NULL;
    for (size_t i = 0; i < before; i++) {
        const fx_inject_t *o = &ld->s->injects[i];
        if (o->id && strcmp(o->id, to) == 0) {
            if (o->kind == FX_INJECT_SEND && o->message_kind == want)
                return o;
            fx_yaml_error(ld->diag, node, "inject %s does not send a %s, so it cannot be %s", to,
                          fx_vocab_name(FX_VOCAB_KIND, want), what);
            return NULL;
        }
    }
    fx_yaml_error(ld->diag, node, "to must name an earlier inject, and '%s' is not one", to);
    return NULL;
}

static void s_send(loader_t *ld, const fx_yaml_node_t *node, fx_inject_t *inj)
{
    fx_draft_t *draft = NULL;
    /* A diagnostics list of its own: the draft reader fails when its list holds any problem,
     * including the scenario's own from before. */
    fx_diag_t *own = fx_diag_new("draft");
    fx_err_t rc = fx_draft_from_node(node, ld->s->base_dir, ld->now_ms, own, &draft);
    for (size_t i = 0; i < fx_diag_count(own); i++)
        fx_diag_add(ld->diag, fx_diag_line(own, i), fx_diag_column(own, i), "%s",
                    fx_diag_message(own, i));
    fx_diag_destroy(&own);
    if (rc != FX_OK) {
        if (fx_diag_count(ld->diag) == 0)
            fx_yaml_error(ld->diag, node, "the draft is not valid");
        return;
    }
    const Fusion__Header *h = fx_draft_header(draft);
    inj->draft = node;
    inj->message_kind = (int) h->kind;
    inj->urgency = (int) h->urgency;
    if (h->exercise && h->exercise[0] && ld->s->exercise && strcmp(h->exercise, ld->s->exercise))
        fx_yaml_error(ld->diag, node,
                      "the draft names exercise %s, but the scenario is exercise %s (leave "
                      "exercise out: the runner sets it)",
                      h->exercise, ld->s->exercise);
    if (h->in_reply_to.len)
        fx_yaml_error(ld->diag, node,
                      "a draft in a scenario cannot carry in_reply_to (msg_ids are only known "
                      "when the exercise runs): use respond or feedback with to: INJECT");
    if (inj->message_kind == FX_KIND_REFERRAL_RESPONSE ||
        inj->message_kind == FX_KIND_ALERT_FEEDBACK)
        fx_yaml_error(ld->diag, node,
                      "send a %s with respond or feedback (to: INJECT), which answer the "
                      "message an earlier inject sent",
                      fx_vocab_name(FX_VOCAB_KIND, (int) h->kind));
    fx_draft_destroy(&draft);
}

static void s_respond(loader_t *ld, const fx_yaml_node_t *node, size_t index, fx_inject_t *inj)
{
    const fx_yaml_node_t *f[R_COUNT];
    if (fx_yaml_fields(ld->diag, node, "respond", s_respond_keys, R_COUNT, f) != 0)
        return;
    inj->message_kind = FX_KIND_REFERRAL_RESPONSE;
    if (!f[R_TO] || !f[R_STATUS]) {
        fx_yaml_error(ld->diag, node, "respond needs to (the referral inject) and status");
        return;
    }
    const fx_inject_t *answered = s_answered(ld, f[R_TO], index, FX_KIND_REFERRAL, "answered");
    if (answered)
        inj->to = answered->id;
    const char *status = fx_yaml_scalar(ld->diag, f[R_STATUS], "status");
    for (int k = 1; status && k <= 5; k++)
        if (strcmp(status, s_statuses[k]) == 0)
            inj->status = k;
    if (status && !inj->status) {
        char shown[72];
        fx_yaml_error(ld->diag, f[R_STATUS],
                      "unknown status '%s' (expected one of: acknowledged, accepted, declined, "
                      "need_info, closed)",
                      fx_yaml_shown(status, fx_yaml_length(f[R_STATUS]), shown));
    }
    if (f[R_REASON])
        inj->reason = s_text(ld, f[R_REASON], "reason");
    if (f[R_OUTCOME])
        inj->outcome = s_text(ld, f[R_OUTCOME], "outcome");
    if ((inj->status == FUSION__RESPONSE_STATUS__RESPONSE_DECLINED ||
         inj->status == FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO) &&
        !f[R_REASON])
        fx_yaml_error(ld->diag, node, "a %s response needs a reason", status);
    if (inj->status == FUSION__RESPONSE_STATUS__RESPONSE_CLOSED && !f[R_OUTCOME])
        fx_yaml_error(ld->diag, node, "a closed response needs an outcome");
}

static void s_feedback(loader_t *ld, const fx_yaml_node_t *node, size_t index, fx_inject_t *inj)
{
    const fx_yaml_node_t *f[F_COUNT];
    if (fx_yaml_fields(ld->diag, node, "feedback", s_feedback_keys, F_COUNT, f) != 0)
        return;
    inj->message_kind = FX_KIND_ALERT_FEEDBACK;
    if (!f[F_TO] || !f[F_OBSERVATION]) {
        fx_yaml_error(ld->diag, node, "feedback needs to (the alert inject) and observation");
        return;
    }
    const fx_inject_t *answered =
        s_answered(ld, f[F_TO], index, FX_KIND_CASE_ALERT, "given feedback");
    if (answered)
        inj->to = answered->id;
    inj->observation = s_text(ld, f[F_OBSERVATION], "observation");
}

static void s_subscribe(loader_t *ld, const fx_yaml_node_t *node, fx_inject_t *inj, int unsub)
{
    const fx_yaml_node_t *f[S_COUNT];
    const char *what = unsub ? "unsubscribe" : "subscribe";
    if (fx_yaml_fields(ld->diag, node, what, s_subscribe_keys, unsub ? 1 : S_COUNT, f) != 0)
        return;
    if (!f[S_PATTERN]) {
        fx_yaml_error(ld->diag, node, "%s needs a pattern", what);
        return;
    }
    const char *text = fx_yaml_scalar(ld->diag, f[S_PATTERN], "pattern");
    if (!text)
        return;
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    if (fx_route_pattern_parse(text, &pattern, why) != FX_OK) {
        fx_yaml_error(ld->diag, f[S_PATTERN], "invalid route pattern: %s", why);
        return;
    }
    /* Route input is case-insensitive: the runner subscribes with, and finds in the audit, the
     * normalised text. */
    inj->pattern = fx_strdup(fx_route_pattern_text(pattern));
    fx_route_pattern_destroy(&pattern);
    if (!unsub && f[S_STAGES])
        fx_yaml_word_mask(ld->diag, f[S_STAGES], FX_VOCAB_STAGE, "stages", 1, &inj->stages);
    if (!unsub && f[S_KINDS])
        fx_yaml_word_mask(ld->diag, f[S_KINDS], FX_VOCAB_KIND, "kinds", 1, &inj->kinds);
}

/* Expectations no run can meet: about the inject's own sender (a message never goes to it), or
 * a principal expected both delivered and not delivered. Each is an error at its position. */
static void s_expectations_meetable(loader_t *ld, const fx_inject_t *inj)
{
    for (size_t a = 0; a < inj->n_expect; a++) {
        const fx_expectation_t *e = &inj->expect[a];
        int about_delivery = e->kind == FX_EXPECT_DELIVERED || e->kind == FX_EXPECT_NOT_DELIVERED ||
                             e->kind == FX_EXPECT_DENIED;
        if (about_delivery && inj->from && strcmp(e->principal, inj->from) == 0)
            fx_diag_add(ld->diag, e->line, e->column,
                        "%s is the inject's sender: a message never goes to its sender, so '%s' "
                        "cannot be expected of it",
                        e->principal, fx_expect_kind_name(e->kind));
        for (size_t b = 0; b < a; b++) {
            const fx_expectation_t *o = &inj->expect[b];
            if (strcmp(o->principal, e->principal) == 0 &&
                ((o->kind == FX_EXPECT_DELIVERED && e->kind == FX_EXPECT_NOT_DELIVERED) ||
                 (o->kind == FX_EXPECT_NOT_DELIVERED && e->kind == FX_EXPECT_DELIVERED)))
                fx_diag_add(ld->diag, e->line, e->column,
                            "%s is expected both delivered and not delivered by this inject",
                            e->principal);
        }
    }
}

static void s_injects(loader_t *ld, const fx_yaml_node_t *node)
{
    size_t count = 0;
    if (fx_yaml_list(ld->diag, node, "injects", &count) != 0)
        return;
    if (count == 0 || count > FX_SCENARIO_MAX_INJECTS) {
        fx_yaml_error(ld->diag, node, "injects must list 1 to %d injects", FX_SCENARIO_MAX_INJECTS);
        return;
    }
    fx_scenario_t *s = ld->s;
    s->injects = fx_calloc(count, sizeof *s->injects);
    s->expects = fx_calloc(count, sizeof *s->expects);
    int64_t last = 0;
    for (size_t i = 0; i < count; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i), *f[I_COUNT];
        if (fx_yaml_fields(ld->diag, item, "an inject", s_inject_keys, I_COUNT, f) != 0)
            continue;
        size_t index = s->n_injects;
        fx_inject_t *inj = &s->injects[index];
        inj->line = fx_yaml_line(item);
        inj->column = fx_yaml_column(item);
        if (!f[I_ID] || !f[I_AT] || !f[I_FROM]) {
            fx_yaml_error(ld->diag, item, "an inject needs id, at and from");
            continue;
        }
        if ((inj->id = s_id(ld, f[I_ID], "an inject's id")) &&
            fx_scenario_find_inject(s, inj->id) >= 0) {
            fx_yaml_error(ld->diag, f[I_ID], "inject id %s is used twice", inj->id);
            inj->id = NULL;
        }
        if (s_at(ld, f[I_AT], &inj->at_ms) == 0) {
            if (inj->at_ms < last)
                fx_yaml_error(ld->diag, f[I_AT],
                              "injects are listed in time order, and this one comes before the "
                              "one above it");
            else
                last = inj->at_ms;
        }
        if ((inj->from = s_principal(ld, f[I_FROM], "from")) &&
            !fx_scenario_find_participant(s, inj->from))
            fx_yaml_error(ld->diag, f[I_FROM],
                          "%s is not a participant (list it under participants)", inj->from);
        if (f[I_DESCRIPTION])
            inj->description = s_text(ld, f[I_DESCRIPTION], "description");
        int actions = 0;
        for (int k = I_SEND; k <= I_UNSUBSCRIBE; k++)
            if (f[k]) {
                actions++;
                inj->kind = (fx_inject_kind_t) (k - I_SEND + FX_INJECT_SEND);
            }
        if (actions != 1) {
            fx_yaml_error(ld->diag, item,
                          "an inject does exactly one of send, respond, feedback, subscribe or "
                          "unsubscribe");
            s->n_injects++;
            continue;
        }
        switch (inj->kind) {
        case FX_INJECT_SEND:
            s_send(ld, f[I_SEND], inj);
            break;
        case FX_INJECT_RESPOND:
            s_respond(ld, f[I_RESPOND], index, inj);
            break;
        case FX_INJECT_FEEDBACK:
            s_feedback(ld, f[I_FEEDBACK], index, inj);
            break;
        case FX_INJECT_SUBSCRIBE:
            s_subscribe(ld, f[I_SUBSCRIBE], inj, 0);
            break;
        case FX_INJECT_UNSUBSCRIBE:
            s_subscribe(ld, f[I_UNSUBSCRIBE], inj, 1);
            break;
        }
        s->n_injects++;
        if (!f[I_EXPECT])
            continue;
        size_t n = 0;
        if (fx_yaml_list(ld->diag, f[I_EXPECT], "expect", &n) != 0)
            continue;
        if (n > FX_SCENARIO_MAX_EXPECT) {
            fx_yaml_error(ld->diag, f[I_EXPECT], "an inject has at most %d expectations",
                          FX_SCENARIO_MAX_EXPECT);
            continue;
        }
        s->expects[index] = fx_calloc(n + 1, sizeof **s->expects);
        for (size_t k = 0; k < n; k++) {
            fx_expectation_t *e = &s->expects[index][inj->n_expect];
            if (s_expectation(ld, fx_yaml_item(f[I_EXPECT], k), inj, e) == 0)
                inj->n_expect++;
        }
        inj->expect = s->expects[index];
        s_expectations_meetable(ld, inj);
    }
}

/* ---- The document --------------------------------------------------------------------------- */

enum {
    T_VERSION,
    T_EXERCISE,
    T_TITLE,
    T_REFERENCE,
    T_OBJECTIVES,
    T_SPEED,
    T_PARTICIPANTS,
    T_INJECTS,
    T_COUNT
};
static const char *const s_top_keys[T_COUNT] = {"fusion_scenario", "exercise",   "title",
                                                "reference",       "objectives", "speed",
                                                "participants",    "injects"};

fx_err_t fx_scenario_parse(const uint8_t *data, size_t len, const char *base_dir,
                           const fx_policy_t *policy, int64_t now_ms, fx_diag_t *diag,
                           fx_scenario_t **scenario_p)
{
    *scenario_p = NULL;
    fx_yaml_limits_t limits = {0, 0, "scenario"};
    fx_yaml_t *doc = fx_yaml_parse_ex(data, len, diag, &limits);
    if (!doc)
        return FX_ERR_INVALID;
    size_t before = fx_diag_count(diag);
    fx_scenario_t *s = fx_calloc(1, sizeof *s);
    s->doc = doc;
    s->base_dir = fx_strdup(base_dir ? base_dir : ".");
    s->speed = 1;
    loader_t ld = {diag, s, policy, now_ms};
    const fx_yaml_node_t *root = fx_yaml_root(doc), *f[T_COUNT];
    if (fx_yaml_fields(diag, root, "a scenario", s_top_keys, T_COUNT, f) != 0)
        goto done;
    long long value = 0;
    if (!f[T_VERSION])
        fx_yaml_error(diag, root, "a scenario starts with fusion_scenario: 1");
    else if (fx_yaml_int(diag, f[T_VERSION], "fusion_scenario", 0, 1000000, &value) == 0 &&
             value != 1)
        fx_yaml_error(diag, f[T_VERSION],
                      "fusion_scenario must be 1 (the only version of the format), found %lld",
                      value);
    if (!f[T_EXERCISE])
        fx_yaml_error(diag, root, "a scenario needs exercise (an exercise id of the policy)");
    else if ((s->exercise = s_id(&ld, f[T_EXERCISE], "exercise")) && policy &&
             !fx_policy_has_exercise(policy, s->exercise))
        fx_yaml_error(diag, f[T_EXERCISE],
                      "exercise %s is not listed in the policy %s (its exercises: add it there "
                      "with its participants)",
                      s->exercise, fx_policy_name(policy));
    if (!f[T_TITLE])
        fx_yaml_error(diag, root, "a scenario needs a title");
    else
        s->title = s_text(&ld, f[T_TITLE], "title");
    if (f[T_REFERENCE])
        s->reference = s_text(&ld, f[T_REFERENCE], "reference");
    if (f[T_OBJECTIVES])
        s->objectives = s_texts(&ld, f[T_OBJECTIVES], "objectives", &s->n_objectives);
    if (f[T_SPEED] && fx_yaml_int(diag, f[T_SPEED], "speed", 1, FX_SCENARIO_MAX_SPEED, &value) == 0)
        s->speed = (int) value;
    if (!f[T_PARTICIPANTS])
        fx_yaml_error(diag, root, "a scenario needs participants");
    else
        s_participants(&ld, f[T_PARTICIPANTS]);
    if (!f[T_INJECTS])
        fx_yaml_error(diag, root, "a scenario needs injects");
    else
        s_injects(&ld, f[T_INJECTS]);
done:
    if (fx_diag_count(diag) > before) {
        fx_scenario_destroy(&s);
        return FX_ERR_INVALID;
    }
    *scenario_p = s;
    return FX_OK;
}

fx_err_t fx_scenario_load(const char *path, const fx_policy_t *policy, int64_t now_ms,
                          fx_diag_t *diag, fx_scenario_t **scenario_p)
{
    *scenario_p = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, FX_SCENARIO_MAX_BYTES, &data, &len);
    if (rc != FX_OK) {
        fx_diag_add(diag, 0, 0, "%s",
                    rc == FX_ERR_NOT_FOUND   ? "no such file"
                    : rc == FX_ERR_TOO_LARGE ? "the scenario is larger than 2 MiB"
                                             : "cannot read the file");
        return rc == FX_ERR_NOT_FOUND || rc == FX_ERR_IO ? rc : FX_ERR_INVALID;
    }
    char *copy = fx_strdup(path);
    rc = fx_scenario_parse(data, len, dirname(copy), policy, now_ms, diag, scenario_p);
    free(copy);
    free(data);
    return rc;
}

void fx_scenario_destroy(fx_scenario_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_scenario_t *self = *self_p;
    for (size_t i = 0; self->injects && i < self->n_injects; i++)
        free(self->injects[i].pattern);
    for (size_t i = 0; self->expects && i < self->n_injects; i++)
        free(self->expects[i]);
    free(self->expects);
    free(self->injects);
    free(self->participants);
    free(self->objectives);
    free(self->base_dir);
    fx_yaml_destroy(&self->doc);
    free(self);
    *self_p = NULL;
}

/* ---- Accessors ------------------------------------------------------------------------------ */

const char *fx_scenario_exercise(const fx_scenario_t *self)
{
    return self->exercise;
}

const char *fx_scenario_title(const fx_scenario_t *self)
{
    return self->title;
}

const char *fx_scenario_reference(const fx_scenario_t *self)
{
    return self->reference;
}

size_t fx_scenario_objective_count(const fx_scenario_t *self)
{
    return self->n_objectives;
}

const char *fx_scenario_objective(const fx_scenario_t *self, size_t i)
{
    return i < self->n_objectives ? self->objectives[i] : NULL;
}

int fx_scenario_speed(const fx_scenario_t *self)
{
    return self->speed;
}

const char *fx_scenario_base_dir(const fx_scenario_t *self)
{
    return self->base_dir;
}

size_t fx_scenario_participant_count(const fx_scenario_t *self)
{
    return self->n_participants;
}

const fx_participant_t *fx_scenario_participant(const fx_scenario_t *self, size_t i)
{
    return i < self->n_participants ? &self->participants[i] : NULL;
}

const fx_participant_t *fx_scenario_find_participant(const fx_scenario_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->n_participants; i++)
        if (strcmp(self->participants[i].id, id) == 0)
            return &self->participants[i];
    return NULL;
}

size_t fx_scenario_inject_count(const fx_scenario_t *self)
{
    return self->n_injects;
}

const fx_inject_t *fx_scenario_inject(const fx_scenario_t *self, size_t i)
{
    return i < self->n_injects ? &self->injects[i] : NULL;
}

int fx_scenario_find_inject(const fx_scenario_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->n_injects; i++)
        if (self->injects[i].id && strcmp(self->injects[i].id, id) == 0)
            return (int) i;
    return -1;
}
