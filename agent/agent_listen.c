/* fusion-agent listen: the agent in the foreground. It opens the delivery window, and for every
 * DELIVER verifies the sender's certificate and the signature, commits the message to the inbox,
 * acknowledges it, and shows it to its recipient (readable text, or one JSON object per line).
 * It flushes the outbox when it connects and periodically. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cli.h"
#include "fusion/notify.h"
#include "fusion/content.h"
#include "fusion/vocab.h"

#define DEFAULT_WINDOW    32
#define FLUSH_INTERVAL_MS 30000
#define RECEIVE_SLICE_MS  1000

static void s_help(void)
{
    printf("Usage: %s listen [--json | --summary] [--exec CMD] [--count N] [--timeout S]\n"
           "                 [--window W] [--config FILE]\n\n"
           "Receives messages in the foreground until interrupted (Ctrl-C). Each message is\n"
           "verified (the sender's certificate against the authority, the signature and the\n"
           "section hashes against the certificate), committed to the inbox and only then\n"
           "acknowledged, and shown: sender and fingerprint, kind, msg_id, every section you\n"
           "were given, and the sections you were not. A message delivered twice is shown once.\n"
           "The outbox is flushed when the connection comes up and every %d s. If the broker\n"
           "refuses this principal while connected (revoked and reloaded, or its certificate\n"
           "expired), listen stops at once with a line saying why, exit 3.\n\n"
           "Options:\n"
           "  --json         one JSON object per message and line\n"
           "  --summary      one line per new message without its content (msg_id, kind,\n"
           "                 sender, urgency, highest TLP, exercise), which stays 'new' in the\n"
           "                 inbox: for a log such as the service's journal, where content\n"
           "                 must never go\n"
           "  --exec CMD     run CMD (with /bin/sh) for each new message, after it is stored;\n"
           "                 it gets FUSION_MSG_ID, FUSION_KIND, FUSION_SENDER, FUSION_URGENCY\n"
           "                 and FUSION_TLP in its environment, never the content. Its output\n"
           "                 goes to stderr; a failure is logged and listening goes on. The\n"
           "                 message stays 'new' in the inbox for '%s show'.\n"
           "  --count N      exit 0 after N new messages\n"
           "  --timeout S    exit after S seconds: 0 (1 if --count was given and not reached),\n"
           "                 but 5 if it never connected, 3 if the broker refused the key\n"
           "                 (the same when SIGINT or SIGTERM stops it)\n"
           "  --window W     how many deliveries may be in flight at once (1-%d, default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, FLUSH_INTERVAL_MS / 1000, AGENT_PROG, FX_CLIENT_MAX_QUEUED, DEFAULT_WINDOW,
           AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *s_word(fx_vocab_t vocab, int value)
{
    const char *word = fx_vocab_name(vocab, value);
    return word ? word : "";
}

static const char *const s_reliability[] = {"", "A", "B", "C", "X"};
static const char *const s_status[] = {"",         "acknowledged", "accepted",
                                       "declined", "need_info",    "closed"};

/* ---- Text ----------------------------------------------------------------------------------- */

/* n spaces of indentation (at most 32). */
static const char *s_pad(int n)
{
    static const char spaces[] = "                                ";
    return spaces + (sizeof spaces - 1) - (size_t) (n < 0 ? 0 : n > 32 ? 32 : n);
}

static void s_field(int indent, const char *label, const char *value)
{
    if (!value || !value[0])
        return;
    printf("%s%s: ", s_pad(indent), label);
    agent_print_text(stdout, value, s_pad(indent + 2));
    printf("\n");
}

static void s_list(int indent, const char *label, char **items, size_t n)
{
    if (n == 0)
        return;
    printf("%s%s:\n", s_pad(indent), label);
    for (size_t i = 0; i < n; i++) {
        printf("%s- ", s_pad(indent + 2));
        agent_print_text(stdout, items[i], s_pad(indent + 4));
        printf("\n");
    }
}

static void s_time_field(int indent, const char *label, uint64_t ms)
{
    if (!ms)
        return;
    char when[FX_TIME_BUFSIZE];
    fx_time_format((int64_t) ms, when);
    printf("%s%s: %s\n", s_pad(indent), label, when);
}

static void s_persons_text(int indent, Fusion__Person **persons, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Fusion__Person *p = persons[i];
        printf("%sPerson %zu%s%s\n", s_pad(indent), i + 1, p->role ? ", " : "",
               s_word(FX_VOCAB_SUBJECT_ROLE, (int) p->role));
        int deeper = indent + 2;
        s_field(deeper, "Name", p->name);
        s_field(deeper, "Date of birth", p->date_of_birth);
        if (p->age_given_case == FUSION__PERSON__AGE_GIVEN_AGE)
            printf("%sAge: %u\n", s_pad(deeper), p->age);
        s_field(deeper, "Nationality", p->nationality);
        s_field(deeper, "Sex", p->sex);
        s_list(deeper, "Identifiers", p->identifiers, p->n_identifiers);
        if (p->biometric_ref.len) {
            char *ref = fx_strndup((const char *) p->biometric_ref.data, p->biometric_ref.len);
            s_field(deeper, "Biometric reference", ref);
            free(ref);
        }
        s_field(deeper, "Health notes", p->health_notes);
    }
}

static void s_documents_text(int indent, Fusion__TravelDocument **docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Fusion__TravelDocument *d = docs[i];
        printf("%sDocument %zu\n", s_pad(indent), i + 1);
        int deeper = indent + 2;
        s_field(deeper, "Type", d->type);
        s_field(deeper, "Number", d->number);
        s_field(deeper, "Issuing country", d->issuing_country);
        s_field(deeper, "Expiry", d->expiry);
    }
}

static void s_grading_text(int indent, const Fusion__Grading *g)
{
    if (!g || (!g->source_reliability && !g->information_accuracy))
        return;
    printf("%sGrading: source %s, information %u\n", s_pad(indent),
           g->source_reliability <= 4 ? s_reliability[g->source_reliability] : "?",
           (unsigned) g->information_accuracy);
}

/* A referral's consent_recorded with the header's consent (signed; the policy decides on it):
 * one answer. The referral takes the header's when the sender leaves the field out (lib/draft.c),
 * but an older agent did not, and a false field is one left out: it never contradicts the
 * header. A referral that records consent the header does not is said so. */
static int s_consent_recorded(const Fusion__Referral *r, int consent)
{
    return r->consent_recorded || consent;
}

/* consent: the header's. */
static void s_content_text(const Fusion__SectionContent *c, int consent)
{
    const int in = 4;
    switch (c->body_case) {
    case FUSION__SECTION_CONTENT__BODY_TEXT:
        printf("%s", s_pad(in));
        agent_print_text(stdout, c->text, s_pad(in));
        printf("\n");
        break;
    case FUSION__SECTION_CONTENT__BODY_NOTICE:
        s_field(in, "Notice", c->notice->text);
        break;
    case FUSION__SECTION_CONTENT__BODY_CASE_ALERT: {
        const Fusion__CaseAlert *a = c->case_alert;
        s_field(in, "Summary", a->summary);
        s_field(in, "Modus operandi", a->modus_operandi);
        s_list(in, "Indicators", a->indicators, a->n_indicators);
        s_persons_text(in, a->persons, a->n_persons);
        s_documents_text(in, a->documents, a->n_documents);
        for (size_t i = 0; i < a->n_conveyances; i++) {
            const Fusion__Conveyance *v = a->conveyances[i];
            printf("%sConveyance %zu\n", s_pad(in), i + 1);
            s_field(in + 2, "Type", v->type);
            s_field(in + 2, "Identifier", v->identifier);
            s_field(in + 2, "Operator", v->operator_);
            s_field(in + 2, "Departure", v->departure);
            s_field(in + 2, "Arrival", v->arrival);
        }
        s_field(in, "Location", a->location);
        s_time_field(in, "Window start", a->window_start);
        s_time_field(in, "Window end", a->window_end);
        s_field(in, "Recommended action", a->recommended_action);
        s_grading_text(in, a->grading);
        s_field(in, "Intelligence source", a->intel_source);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL: {
        const Fusion__Referral *r = c->referral;
        s_field(in, "Reason", r->reason);
        s_list(in, "Screening indicators", r->screening_indicators, r->n_screening_indicators);
        s_field(in, "Requested action", r->requested_action);
        if (r->reflection_period_days)
            printf("%sReflection period: %u days\n", s_pad(in), r->reflection_period_days);
        if (r->consent_recorded && !consent)
            printf("%sConsent recorded: yes in this referral, but not in the signed header (the "
                   "policy judged the message as sent without consent)\n",
                   s_pad(in));
        else
            printf("%sConsent recorded: %s\n", s_pad(in),
                   s_consent_recorded(r, consent) ? "yes" : "no");
        s_persons_text(in, r->persons, r->n_persons);
        s_documents_text(in, r->documents, r->n_documents);
        s_field(in, "Location", r->location);
        s_grading_text(in, r->grading);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE: {
        const Fusion__ReferralResponse *r = c->referral_response;
        s_field(in, "Status", r->status <= 5 ? s_status[r->status] : "?");
        s_field(in, "Reason", r->reason);
        s_field(in, "Outcome", r->outcome);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK: {
        const Fusion__AlertFeedback *f = c->alert_feedback;
        s_field(in, "Observation", f->observation);
        s_field(in, "Location", f->location);
        s_time_field(in, "Observed at", f->observed_at);
        break;
    }
    default:
        printf("%s(empty)\n", s_pad(in));
    }
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/* A JSON string; text that is not valid UTF-8 is shown with '?' for its non-ASCII bytes. */
static json_t *s_jtext(const char *text)
{
    json_t *s = json_string(text);
    if (s)
        return s;
    char *copy = fx_strdup(text);
    for (char *p = copy; *p; p++)
        if ((unsigned char) *p >= 0x80)
            *p = '?';
    s = json_string(copy);
    free(copy);
    return s;
}

static void s_jset(json_t *obj, const char *key, const char *text)
{
    if (text && text[0])
        json_object_set_new(obj, key, s_jtext(text));
}

static void s_jlist(json_t *obj, const char *key, char **items, size_t n)
{
    if (n == 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, s_jtext(items[i]));
    json_object_set_new(obj, key, list);
}

static void s_jtime(json_t *obj, const char *key, uint64_t ms)
{
    if (!ms)
        return;
    char when[FX_TIME_BUFSIZE];
    fx_time_format((int64_t) ms, when);
    json_object_set_new(obj, key, json_string(when));
}

static void s_jpersons(json_t *obj, Fusion__Person **persons, size_t n)
{
    if (n == 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const Fusion__Person *p = persons[i];
        json_t *o = json_object();
        s_jset(o, "role", s_word(FX_VOCAB_SUBJECT_ROLE, (int) p->role));
        s_jset(o, "name", p->name);
        s_jset(o, "date_of_birth", p->date_of_birth);
        if (p->age_given_case == FUSION__PERSON__AGE_GIVEN_AGE)
            json_object_set_new(o, "age", json_integer(p->age));
        s_jset(o, "nationality", p->nationality);
        s_jset(o, "sex", p->sex);
        s_jlist(o, "identifiers", p->identifiers, p->n_identifiers);
        if (p->biometric_ref.len) {
            char *ref = fx_strndup((const char *) p->biometric_ref.data, p->biometric_ref.len);
            s_jset(o, "biometric_ref", ref);
            free(ref);
        }
        s_jset(o, "health_notes", p->health_notes);
        json_array_append_new(list, o);
    }
    json_object_set_new(obj, "persons", list);
}

static void s_jdocuments(json_t *obj, Fusion__TravelDocument **docs, size_t n)
{
    if (n == 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        s_jset(o, "type", docs[i]->type);
        s_jset(o, "number", docs[i]->number);
        s_jset(o, "issuing_country", docs[i]->issuing_country);
        s_jset(o, "expiry", docs[i]->expiry);
        json_array_append_new(list, o);
    }
    json_object_set_new(obj, "documents", list);
}

static void s_jgrading(json_t *obj, const Fusion__Grading *g)
{
    if (!g || (!g->source_reliability && !g->information_accuracy))
        return;
    json_t *o = json_object();
    if (g->source_reliability && g->source_reliability <= 4)
        json_object_set_new(o, "source_reliability",
                            json_string(s_reliability[g->source_reliability]));
    if (g->information_accuracy)
        json_object_set_new(o, "information_accuracy", json_integer(g->information_accuracy));
    json_object_set_new(obj, "grading", o);
}

/* The content in the shape of a draft's `content:` (or {"text": ...}). */
/* consent: the header's. */
static json_t *s_content_json(const Fusion__SectionContent *c, int consent)
{
    json_t *wrap = json_object(), *o = json_object();
    switch (c->body_case) {
    case FUSION__SECTION_CONTENT__BODY_TEXT:
        json_decref(o);
        json_object_set_new(wrap, "text", s_jtext(c->text));
        return wrap;
    case FUSION__SECTION_CONTENT__BODY_NOTICE:
        s_jset(o, "text", c->notice->text);
        json_object_set_new(wrap, "notice", o);
        break;
    case FUSION__SECTION_CONTENT__BODY_CASE_ALERT: {
        const Fusion__CaseAlert *a = c->case_alert;
        s_jset(o, "summary", a->summary);
        s_jset(o, "modus_operandi", a->modus_operandi);
        s_jlist(o, "indicators", a->indicators, a->n_indicators);
        s_jdocuments(o, a->documents, a->n_documents);
        s_jpersons(o, a->persons, a->n_persons);
        if (a->n_conveyances) {
            json_t *list = json_array();
            for (size_t i = 0; i < a->n_conveyances; i++) {
                const Fusion__Conveyance *v = a->conveyances[i];
                json_t *cv = json_object();
                s_jset(cv, "type", v->type);
                s_jset(cv, "identifier", v->identifier);
                s_jset(cv, "operator", v->operator_);
                s_jset(cv, "departure", v->departure);
                s_jset(cv, "arrival", v->arrival);
                json_array_append_new(list, cv);
            }
            json_object_set_new(o, "conveyances", list);
        }
        s_jset(o, "location", a->location);
        s_jtime(o, "window_start", a->window_start);
        s_jtime(o, "window_end", a->window_end);
        s_jset(o, "recommended_action", a->recommended_action);
        s_jgrading(o, a->grading);
        s_jset(o, "intel_source", a->intel_source);
        json_object_set_new(wrap, "case_alert", o);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL: {
        const Fusion__Referral *r = c->referral;
        s_jset(o, "reason", r->reason);
        s_jlist(o, "screening_indicators", r->screening_indicators, r->n_screening_indicators);
        s_jset(o, "requested_action", r->requested_action);
        if (r->reflection_period_days)
            json_object_set_new(o, "reflection_period_days",
                                json_integer(r->reflection_period_days));
        json_object_set_new(o, "consent_recorded", json_boolean(s_consent_recorded(r, consent)));
        s_jpersons(o, r->persons, r->n_persons);
        s_jdocuments(o, r->documents, r->n_documents);
        s_jset(o, "location", r->location);
        s_jgrading(o, r->grading);
        json_object_set_new(wrap, "referral", o);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE: {
        const Fusion__ReferralResponse *r = c->referral_response;
        s_jset(o, "status", r->status <= 5 ? s_status[r->status] : "");
        s_jset(o, "reason", r->reason);
        s_jset(o, "outcome", r->outcome);
        json_object_set_new(wrap, "referral_response", o);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK: {
        const Fusion__AlertFeedback *f = c->alert_feedback;
        s_jset(o, "observation", f->observation);
        s_jset(o, "location", f->location);
        s_jtime(o, "observed_at", f->observed_at);
        json_object_set_new(wrap, "alert_feedback", o);
        break;
    }
    default:
        json_decref(o);
    }
    return wrap;
}

static json_t *s_categories_json(uint32_t mask)
{
    json_t *list = json_array();
    for (int c = 1; c < fx_vocab_size(FX_VOCAB_CATEGORY); c++)
        if (mask & (1u << c))
            json_array_append_new(list, json_string(fx_vocab_name(FX_VOCAB_CATEGORY, c)));
    return list;
}

/* The header's workflow fields (docs/referrals.md): a response's signed status, the recipients
 * a reshare request or grant names, the original of a forward and the grant it relies on. */
static void s_workflow_json(json_t *obj, const Fusion__Header *h)
{
    char hex[2 * FX_MSG_ID_BYTES + 1];
    if (h->response_status && h->response_status <= 5)
        json_object_set_new(obj, "response_status", json_string(s_status[h->response_status]));
    if (h->n_reshare_to) {
        json_t *list = json_array();
        for (size_t i = 0; i < h->n_reshare_to; i++)
            json_array_append_new(list, json_string(h->reshare_to[i]));
        json_object_set_new(obj, "reshare_to", list);
    }
    if (h->forwarded_from.len == FX_MSG_ID_BYTES)
        json_object_set_new(obj, "forwarded_from",
                            json_string(agent_msg_id_hex(h->forwarded_from.data, hex)));
    if (h->reshare_grant.len == FX_MSG_ID_BYTES)
        json_object_set_new(obj, "reshare_grant",
                            json_string(agent_msg_id_hex(h->reshare_grant.data, hex)));
}

static void s_workflow_text(const Fusion__Header *h)
{
    char hex[2 * FX_MSG_ID_BYTES + 1];
    for (size_t i = 0; i < h->n_reshare_to; i++)
        printf("%s %s\n", (int) h->kind == FX_KIND_RESHARE_GRANT ? "granted for" : "asked for",
               h->reshare_to[i]);
    if (h->forwarded_from.len == FX_MSG_ID_BYTES)
        printf("forwarded from message %s\n", agent_msg_id_hex(h->forwarded_from.data, hex));
    if (h->reshare_grant.len == FX_MSG_ID_BYTES)
        printf("with the originator's reshare_grant %s\n",
               agent_msg_id_hex(h->reshare_grant.data, hex));
}

/* ---- One message ---------------------------------------------------------------------------- */

typedef struct {
    int json;
    int summary; /* one line per message, no content; it stays new */
    int window;
    int count;        /* 0: no limit */
    int timeout_ms;   /* 0: none */
    const char *exec; /* a command to run per new message (agent_inbox.c), or NULL */
} listen_opts_t;

const char *agent_urgency_word(int urgency)
{
    return urgency == FX_URGENCY_URGENT ? "urgent" : "normal";
}

int agent_show_delivery(agent_session_t *s, const fx_delivery_t *d, int json, int64_t received_at)
{
    int unopened = 0;
    const fx_envelope_t *env = fx_delivery_envelope(d);
    const Fusion__Header *h = fx_envelope_header(env);
    const fx_cert_t *sender = fx_delivery_sender(d);
    char hex[2 * FX_MSG_ID_BYTES + 1], fp[FX_FINGERPRINT_BUFSIZE], when[FX_TIME_BUFSIZE];
    agent_msg_id_hex(fx_envelope_msg_id(env), hex);
    fx_cert_fingerprint(sender, fp);
    json_t *obj = NULL, *sections = NULL;
    if (json) {
        obj = json_object();
        json_object_set_new(obj, "msg_id", json_string(hex));
        json_object_set_new(obj, "sender", json_string(fx_cert_id(sender)));
        json_object_set_new(obj, "sender_agency", json_string(fx_cert_agency(sender)));
        json_object_set_new(obj, "fingerprint", json_string(fp));
        if (fx_delivery_sender_expired_since(d))
            json_object_set_new(obj, "sender_certificate_expired_since", json_true());
        s_jset(obj, "kind", s_word(FX_VOCAB_KIND, (int) h->kind));
        json_object_set_new(obj, "urgency", json_string(agent_urgency_word((int) h->urgency)));
        s_jset(obj, "audience", s_word(FX_VOCAB_AUDIENCE, (int) h->audience));
        s_jtime(obj, "created_at", h->created_at);
        s_jtime(obj, "expires_at", h->expires_at);
        s_jtime(obj, "received_at", (uint64_t) received_at);
        s_jset(obj, "route", h->route);
        s_jset(obj, "stage", s_word(FX_VOCAB_STAGE, (int) h->stage));
        s_jset(obj, "purpose", s_word(FX_VOCAB_PURPOSE, (int) h->purpose));
        s_jset(obj, "subject_role", s_word(FX_VOCAB_SUBJECT_ROLE, (int) h->subject_role));
        json_object_set_new(obj, "consent", json_boolean(h->consent));
        if (h->n_handling) {
            json_t *list = json_array();
            for (size_t i = 0; i < h->n_handling; i++)
                json_array_append_new(list,
                                      json_string(s_word(FX_VOCAB_HANDLING, (int) h->handling[i])));
            json_object_set_new(obj, "handling", list);
        }
        s_jset(obj, "case_ref", h->case_ref);
        s_jset(obj, "taskforce", h->taskforce);
        s_jset(obj, "agreement", h->agreement);
        s_jset(obj, "exercise", h->exercise);
        if (h->in_reply_to.len == FX_MSG_ID_BYTES) {
            char reply[2 * FX_MSG_ID_BYTES + 1];
            json_object_set_new(obj, "in_reply_to",
                                json_string(agent_msg_id_hex(h->in_reply_to.data, reply)));
        }
        s_workflow_json(obj, h);
        sections = json_array();
    } else {
        fx_time_format((int64_t) h->created_at, when);
        printf("\n=== %s from %s (fingerprint %s)%s\n", s_word(FX_VOCAB_KIND, (int) h->kind),
               fx_cert_id(sender), fp,
               fx_delivery_sender_expired_since(d) ? " [sender's certificate has expired since]"
                                                   : "");
        printf("msg_id %s, sent %s, %s", hex, when, agent_urgency_word((int) h->urgency));
        printf(", audience %s\n", s_word(FX_VOCAB_AUDIENCE, (int) h->audience));
        /* The header's consent: the sender records the subject's consent (it decides what the
         * policy allows, e.g. a victim's identity for social services). Said when it is given,
         * and when a subject is named without it. */
        if (h->route[0] || h->stage || h->purpose || h->subject_role || h->consent) {
            const char *sep = "";
            if (h->route[0])
                printf("%sroute %s", sep, h->route), sep = ", ";
            if (h->stage)
                printf("%sstage %s", sep, s_word(FX_VOCAB_STAGE, (int) h->stage)), sep = ", ";
            if (h->purpose)
                printf("%spurpose %s", sep, s_word(FX_VOCAB_PURPOSE, (int) h->purpose)), sep = ", ";
            if (h->subject_role)
                printf("%ssubject %s", sep, s_word(FX_VOCAB_SUBJECT_ROLE, (int) h->subject_role)),
                    sep = ", ";
            if (h->consent)
                printf("%sconsent recorded", sep);
            else if (h->subject_role)
                printf("%sno consent recorded", sep);
            printf("\n");
        }
        s_field(0, "case_ref", h->case_ref);
        s_field(0, "taskforce", h->taskforce);
        s_field(0, "agreement", h->agreement);
        s_field(0, "exercise", h->exercise);
        for (size_t i = 0; i < h->n_handling; i++)
            printf("handling: %s\n", s_word(FX_VOCAB_HANDLING, (int) h->handling[i]));
        if (h->in_reply_to.len == FX_MSG_ID_BYTES) {
            char reply[2 * FX_MSG_ID_BYTES + 1];
            printf("in reply to %s\n", agent_msg_id_hex(h->in_reply_to.data, reply));
        }
        s_workflow_text(h);
    }
    for (size_t i = 0; i < fx_envelope_section_count(env); i++) {
        uint32_t id = fx_envelope_section_id(env, i);
        const Fusion__SectionDescriptor *desc = fx_envelope_descriptor(env, id);
        uint32_t cats = fx_envelope_section_categories(env, id);
        uint8_t *plain = NULL;
        size_t len = 0;
        Fusion__SectionContent *content = NULL;
        fx_err_t rc = fx_envelope_open(env, s->keys, id, &plain, &len);
        if (rc == FX_OK)
            rc = fx_content_decode(plain, len, &content);
        unopened += rc != FX_OK;
        if (json) {
            json_t *sec = json_object();
            json_object_set_new(sec, "id", json_integer(id));
            json_object_set_new(sec, "tlp", json_string(s_word(FX_VOCAB_TLP, (int) desc->tlp)));
            json_object_set_new(sec, "categories", s_categories_json(cats));
            if (rc == FX_OK) {
                json_t *body = s_content_json(content, h->consent);
                json_object_update(sec, body);
                json_decref(body);
            } else
                json_object_set_new(sec, "error", json_string(fx_strerror(rc)));
            json_array_append_new(sections, sec);
        } else {
            char words[256];
            fx_draft_categories_text(cats, words, sizeof words);
            printf("--- section %u (tlp %s; %s)\n", id, s_word(FX_VOCAB_TLP, (int) desc->tlp),
                   words);
            if (rc == FX_OK)
                s_content_text(content, h->consent);
            else
                printf("    cannot be opened: %s\n", fx_strerror(rc));
        }
        fx_content_free(&content);
        fx_plaintext_free(&plain, len);
    }
    uint32_t withheld[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_withheld = fx_envelope_withheld(env, withheld);
    if (json) {
        json_object_set_new(obj, "sections", sections);
        json_t *list = json_array();
        for (size_t i = 0; i < n_withheld; i++) {
            const Fusion__SectionDescriptor *desc = fx_envelope_descriptor(env, withheld[i]);
            json_t *w = json_object();
            json_object_set_new(w, "id", json_integer(withheld[i]));
            json_object_set_new(w, "tlp", json_string(s_word(FX_VOCAB_TLP, (int) desc->tlp)));
            json_object_set_new(
                w, "categories",
                s_categories_json(fx_envelope_section_categories(env, withheld[i])));
            json_array_append_new(list, w);
        }
        json_object_set_new(obj, "withheld", list);
        char *line = json_dumps(obj, JSON_COMPACT);
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(obj);
    } else if (n_withheld) {
        printf("--- not given to you:");
        for (size_t i = 0; i < n_withheld; i++) {
            const Fusion__SectionDescriptor *desc = fx_envelope_descriptor(env, withheld[i]);
            char words[256];
            fx_draft_categories_text(fx_envelope_section_categories(env, withheld[i]), words,
                                     sizeof words);
            printf("%s section %u (tlp %s; %s)", i ? "," : "", withheld[i],
                   s_word(FX_VOCAB_TLP, (int) desc->tlp), words);
        }
        printf("\n");
    }
    fflush(stdout);
    return unopened;
}

/* Verifies, stores, acknowledges and shows one delivery. 1 for a new message, 0 for a duplicate
 * or a refused one, -1 when the inbox cannot be written (nothing is acknowledged then). */
static int s_handle(agent_session_t *s, fx_delivery_t *d, const listen_opts_t *o)
{
    char hex[2 * FX_MSG_ID_BYTES + 1];
    agent_msg_id_hex(fx_delivery_msg_id(d), hex);
    int64_t now = fx_now_ms();
    fx_err_t rc = fx_delivery_verify(d, s->authority, now);
    if (rc != FX_OK) {
        char sender[FX_ID_MAX + 8];
        agent_msg_id_hex(fx_delivery_msg_id(d), hex);
        snprintf(sender, sizeof sender, "%s", fx_envelope_sender(fx_delivery_envelope(d)));
        fx_cli_error(AGENT_PROG,
                     "listen: refused message %s said to be from %s: %s; it is not stored", hex,
                     sender, fx_strerror(rc));
        /* A certificate not valid yet may be this computer's clock: let it come again. */
        if (rc != FX_ERR_CERT_NOT_YET_VALID)
            (void) fx_client_acknowledge(s->client, fx_delivery_msg_id(d));
        return 0;
    }
    size_t cert_len = 0;
    const uint8_t *cert = fx_delivery_cert_bytes(d, &cert_len);
    int is_new = 0;
    rc = fx_mailbox_inbox_store(s->mailbox, fx_delivery_envelope(d), cert, cert_len, now, &is_new);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "listen: mailbox %s: %s; message %s is not acknowledged",
                     fx_mailbox_path(s->mailbox), fx_strerror(rc), hex);
        return -1;
    }
    /* Committed: now the broker may forget it. A lost acknowledgement means a redelivery,
     * which the inbox recognises. */
    (void) fx_client_acknowledge(s->client, fx_delivery_msg_id(d));
    if (!is_new)
        return 0;
    if (o->summary)
        agent_print_summary(d);
    else /* each section says if it cannot be opened */
        (void) agent_show_delivery(s, d, o->json, now);
    if (o->exec)
        agent_run_hook(o->exec, d);
    else if (!o->summary && fx_mailbox_inbox_mark_read(s->mailbox, fx_delivery_msg_id(d)) != FX_OK)
        fx_cli_error(AGENT_PROG, "listen: mailbox: cannot mark %s read", hex);
    return 1;
}

static int s_has_pending(agent_session_t *s)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int any = fx_mailbox_outbox_pending(s->mailbox, 1, &ids, &n) == FX_OK && n > 0;
    free(ids);
    return any;
}

static int s_listen_loop(agent_session_t *s, const listen_opts_t *o)
{
    int64_t start = s_mono_ms(), next_flush = 0;
    uint64_t flushed_on = (uint64_t) -1;
    int received = 0;
    (void) fx_client_set_window(s->client, (uint32_t) o->window);
    for (;;) {
        int64_t now = s_mono_ms();
        if (fx_client_interrupted())
            break;
        if (o->count && received >= o->count)
            return FX_EXIT_OK;
        if (o->timeout_ms && now - start >= o->timeout_ms)
            break;
        /* The outbox goes out when a connection comes up, and then every FLUSH_INTERVAL_MS. */
        uint64_t connections = fx_client_connections(s->client);
        if (connections > 0 && connections != flushed_on) /* for systemctl status */
            fx_notify_status("receiving for %s (connected to the broker %llu time%s)",
                             fx_keys_id(s->keys), (unsigned long long) connections,
                             connections == 1 ? "" : "s");
        if (connections > 0 && (connections != flushed_on || now >= next_flush)) {
            flushed_on = connections;
            next_flush = now + FLUSH_INTERVAL_MS;
            if (s_has_pending(s)) {
                agent_flush_t result;
                agent_flush_outbox(s, 0, stderr, &result);
                if (result.failed)
                    return FX_EXIT_SYSTEM;
            }
        }
        int slice = RECEIVE_SLICE_MS;
        if (o->timeout_ms && o->timeout_ms - (now - start) < slice)
            slice = (int) (o->timeout_ms - (now - start));
        fx_delivery_t *d = NULL;
        fx_err_t rc = fx_client_receive(s->client, slice > 0 ? slice : 1, &d);
        agent_keep_pushed_checkpoint(s); /* an auditor keeps what the broker signs */
        if (rc == FX_ERR_UNAVAILABLE)
            continue;
        if ((rc == FX_ERR_REVOKED || rc == FX_ERR_UNAUTHENTICATED || rc == FX_ERR_CERT_EXPIRED) &&
            fx_client_key_refused(s->client)) {
            /* Revoked (or expired) while connected: the broker refuses every frame of this
             * connection, so nothing more can arrive; stopping says so (exit 3), where waiting
             * would end in a silent 0 at --timeout, or never under systemd. */
            fx_cli_error(AGENT_PROG, "listen: %s", fx_client_status(s->client));
            return fx_err_exit(rc);
        }
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG,
                         "listen: the broker delivered something that is not a "
                         "valid message (%s); ignored",
                         fx_strerror(rc));
            continue;
        }
        int got = s_handle(s, d, o);
        fx_delivery_destroy(&d);
        if (got < 0)
            return FX_EXIT_SYSTEM;
        received += got;
    }
    /* Never connected before the timeout or the signal that stopped it: unreachable (5), or
     * the broker refused the key (3). A listen that connected and then heard nothing is not an
     * error. */
    if (fx_client_connections(s->client) == 0) {
        if (fx_client_interrupted() && !fx_client_key_refused(s->client)) {
            fx_cli_error(AGENT_PROG, "listen: stopped before it ever reached the broker (%s)",
                         fx_client_status(s->client));
            return FX_EXIT_UNAVAILABLE;
        }
        s->timeout_ms = o->timeout_ms;
        return agent_session_unreachable(s);
    }
    if (o->count && received < o->count) {
        fx_cli_error(AGENT_PROG, "listen: %d of %d message(s) arrived before %s", received,
                     o->count, fx_client_interrupted() ? "the interruption" : "the timeout");
        if (fx_client_connections(s->client) == 0)
            fx_cli_error(AGENT_PROG, "listen: no connection to the broker: %s",
                         fx_client_status(s->client));
        return FX_EXIT_NO;
    }
    return FX_EXIT_OK;
}

/* listen under systemd (Type=notify): ready once listening, stopping when done. */
static int s_listen(agent_session_t *s, const listen_opts_t *o)
{
    fx_notify("READY=1");
    fx_notify_status("waiting for the broker (what is sent meanwhile stays in the outbox)");
    int status = s_listen_loop(s, o);
    fx_notify("STOPPING=1");
    return status;
}

static int s_number(const char *option, const char *text, int max, int *value_p)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || *end || value < 1 || value > max) {
        fx_cli_error(AGENT_PROG, "listen: %s must be a whole number from 1 to %d, not '%s'", option,
                     max, text);
        return -1;
    }
    *value_p = (int) value;
    return 0;
}

int agent_listen(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"exec", required_argument, NULL, 'x'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"window", required_argument, NULL, 'w'},
        {"config", required_argument, NULL, 'c'},
        {"summary", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    listen_opts_t o = {.window = DEFAULT_WINDOW};
    const char *config = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int bad = 0;
        if (opt == 'j')
            o.json = 1;
        else if (opt == 's')
            o.summary = 1;
        else if (opt == 'x')
            o.exec = optarg;
        else if (opt == 'n')
            bad = s_number("--count", optarg, 1000000, &o.count);
        else if (opt == 't')
            bad = agent_parse_seconds("listen", "--timeout", optarg, &o.timeout_ms);
        else if (opt == 'w')
            bad = s_number("--window", optarg, FX_CLIENT_MAX_QUEUED, &o.window);
        else if (opt == 'c')
            config = optarg;
        else if (opt == 'h') {
            s_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG, "listen: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
        if (bad)
            return FX_EXIT_USAGE;
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "listen: unexpected argument '%s' (try --help)", argv[optind]);
        return FX_EXIT_USAGE;
    }
    if (o.json && o.summary) {
        fx_cli_error(AGENT_PROG, "listen: --json and --summary exclude each other: pick one");
        return FX_EXIT_USAGE;
    }
    agent_session_t session;
    int status = agent_session_open(&session, "listen", agent_config_path(config),
                                    AGENT_DEFAULT_TIMEOUT_S * 1000);
    if (status == FX_EXIT_OK)
        status = s_listen(&session, &o);
    agent_session_close(&session);
    return status;
}
