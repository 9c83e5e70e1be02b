/* Message drafts: strict parsing of the YAML/JSON draft into a signed-header template, recipients
 * and encoded section contents; the label check against the categories the content implies; and
 * a small serialized form for the agent's outbox. */
#include "fusion/draft.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fusion/content.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/route.h"
#include "fusion/util.h"
#include "fusion/vocab.h"

#define SERIAL_MAGIC     "fusion-draft-1\n"
#define SERIAL_MAGIC_LEN (sizeof SERIAL_MAGIC - 1)
#define MAX_SHORT        256                           /* names, numbers, references */
#define MAX_LONG         (64u << 10)                   /* summaries, reasons, free text in YAML */
#define MAX_FILE_TEXT    (FX_MAX_CONTENT_BYTES - 1024) /* a `file:` section */
#define MAX_ITEMS        256                           /* persons, documents, indicators ... */

typedef struct {
    uint8_t *plaintext; /* encoded SectionContent */
    size_t len;
} section_t;

struct fx_draft {
    Fusion__Header *header; /* decoded, owned through the codec */
    char **recipients;
    size_t n_recipients;
    section_t *sections; /* one per header descriptor, same order */
};

/* ---- An arena for the generated structs of one parse (wiped: they hold content) ------------- */

typedef struct {
    struct {
        void *ptr;
        size_t size;
    } * blocks;
    size_t n, cap;
} arena_t;

static void *s_new(arena_t *a, size_t size)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->blocks = fx_realloc(a->blocks, a->cap * sizeof *a->blocks);
    }
    void *ptr = fx_calloc(1, size);
    a->blocks[a->n].ptr = ptr;
    a->blocks[a->n].size = size;
    a->n++;
    return ptr;
}

static char *s_keep(arena_t *a, const char *text, size_t len)
{
    char *copy = s_new(a, len + 1);
    memcpy(copy, text, len);
    return copy;
}

static void s_arena_free(arena_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        sodium_memzero(a->blocks[i].ptr, a->blocks[i].size);
        free(a->blocks[i].ptr);
    }
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

typedef struct {
    fx_diag_t *diag;
    arena_t arena;
    const char *base_dir;
    int64_t now;
    /* The header's consent, read before the sections: a referral's consent_recorded takes it
     * when left out, and must agree with it when given. consent_read is 0 when the header's
     * value was invalid (already an error). */
    int consent, consent_given, consent_read;
} parse_t;

/* ---- Scalars -------------------------------------------------------------------------------- */

static int s_present(const fx_yaml_node_t *node)
{
    return node && !fx_yaml_is_null(node);
}

/* Control characters other than newline and tab (multiline text) would reach terminals and logs
 * of the recipients. 0 when the text is clean. */
static int s_bad_char(const char *text, size_t len, int multiline)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\t'))))
            return 1;
    }
    return 0;
}

/* A text value of at most max bytes (a scalar as written). NULL, reported, otherwise. */
static char *s_text(parse_t *p, const fx_yaml_node_t *node, const char *what, size_t max,
                    int multiline)
{
    const char *text = fx_yaml_scalar(p->diag, node, what);
    if (!text)
        return NULL;
    size_t len = fx_yaml_length(node);
    if (len > max) {
        fx_yaml_error(p->diag, node, "%s is %zu bytes, longer than the %zu bytes it may be%s", what,
                      len, max, max == MAX_LONG ? " (64 KiB; longer text goes in a 'file')" : "");
        return NULL;
    }
    if (s_bad_char(text, len, multiline)) {
        fx_yaml_error(p->diag, node, "%s contains a control character%s", what,
                      multiline ? " (only new lines and tabs are allowed)" : "");
        return NULL;
    }
    return s_keep(&p->arena, text, len);
}

/* Sets *field to the text of an optional node (absent or null: unchanged). */
static void s_opt_text(parse_t *p, const fx_yaml_node_t *node, const char *what, size_t max,
                       int multiline, char **field)
{
    if (!s_present(node))
        return;
    char *text = s_text(p, node, what, max, multiline);
    if (text)
        *field = text;
}

/* A list of texts into a new array in the arena. */
static void s_text_list(parse_t *p, const fx_yaml_node_t *node, const char *what, size_t max,
                        char ***items_p, size_t *n_p)
{
    size_t n;
    if (!node || fx_yaml_list(p->diag, node, what, &n) != 0)
        return;
    if (n > MAX_ITEMS) {
        fx_yaml_error(p->diag, node, "%s has more than %d items", what, MAX_ITEMS);
        return;
    }
    char **items = s_new(&p->arena, (n ? n : 1) * sizeof *items);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *text = s_text(p, fx_yaml_item(node, i), what, max, 0);
        if (text)
            items[k++] = text;
    }
    *items_p = items;
    *n_p = k;
}

/* An ISO 3166-1 alpha-3 country code (three ASCII letters), upper case. */
static void s_country(parse_t *p, const fx_yaml_node_t *node, const char *what, char **field)
{
    if (!s_present(node))
        return;
    const char *text = fx_yaml_scalar(p->diag, node, what);
    if (!text)
        return;
    char shown[72];
    if (fx_yaml_length(node) != 3 || !isalpha((unsigned char) text[0]) ||
        !isalpha((unsigned char) text[1]) || !isalpha((unsigned char) text[2])) {
        fx_yaml_error(p->diag, node,
                      "%s must be a country code of three letters (ISO 3166-1 alpha-3, e.g. "
                      "THA), found '%s'",
                      what, fx_yaml_shown(text, fx_yaml_length(node), shown));
        return;
    }
    char *upper = s_keep(&p->arena, text, 3);
    for (int i = 0; i < 3; i++)
        upper[i] = (char) toupper((unsigned char) upper[i]);
    *field = upper;
}

/* A calendar date YYYY-MM-DD, kept as text; *ms_p (may be NULL) receives its time. */
static int s_day(parse_t *p, const fx_yaml_node_t *node, const char *what, char **field,
                 int64_t *ms_p)
{
    if (!s_present(node))
        return 0;
    const char *text = fx_yaml_scalar(p->diag, node, what);
    if (!text)
        return -1;
    int64_t ms;
    char shown[72];
    if (fx_yaml_length(node) != 10 || fx_time_parse(text, &ms) != 0) {
        fx_yaml_error(p->diag, node, "%s must be a date YYYY-MM-DD, found '%s'", what,
                      fx_yaml_shown(text, fx_yaml_length(node), shown));
        return -1;
    }
    *field = s_keep(&p->arena, text, 10);
    if (ms_p)
        *ms_p = ms;
    return 0;
}

static void s_time(parse_t *p, const fx_yaml_node_t *node, const char *what, uint64_t *field)
{
    int64_t ms;
    if (s_present(node) && fx_yaml_date(p->diag, node, what, &ms) == 0) {
        if (ms < 0)
            fx_yaml_error(p->diag, node, "%s is before 1970", what);
        else
            *field = (uint64_t) ms;
    }
}

/* Where to report a problem with a whole mapping: its first key (libyaml places a block
 * mapping's start at the end of the line before it). */
static const fx_yaml_node_t *s_at(const fx_yaml_node_t *node)
{
    if (fx_yaml_type(node) == FX_YAML_MAP && fx_yaml_count(node) > 0)
        return fx_yaml_key(node, 0);
    return node;
}

static void s_required(parse_t *p, const fx_yaml_node_t *map, const fx_yaml_node_t *value,
                       const char *key, const char *what)
{
    if (!s_present(value)) {
        fx_yaml_error(p->diag, s_at(map), "%s needs '%s'", what, key);
        return;
    }
    /* A required text that says nothing would reach the recipient as an empty alert. */
    if (fx_yaml_type(value) != FX_YAML_SCALAR)
        return;
    const char *text = fx_yaml_text(value);
    size_t len = fx_yaml_length(value), blank = 0;
    while (blank < len && strchr(" \t\r\n", text[blank]))
        blank++;
    if (blank == len)
        fx_yaml_error(p->diag, value, "'%s' of %s is empty: say what it is about", key, what);
}

/* ---- Structured content --------------------------------------------------------------------- */

static Fusion__Grading *s_grading(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"source_reliability", "information_accuracy"};
    const fx_yaml_node_t *f[2];
    if (!s_present(node) || fx_yaml_fields(p->diag, node, "grading", keys, 2, f) != 0)
        return NULL;
    Fusion__Grading *g = s_new(&p->arena, sizeof *g);
    fusion__grading__init(g);
    if (s_present(f[0])) {
        const char *text = fx_yaml_scalar(p->diag, f[0], "source_reliability");
        static const char *const grades = "ABCX";
        const char *at = text && fx_yaml_length(f[0]) == 1 ? strchr(grades, text[0]) : NULL;
        if (at && *at)
            g->source_reliability = (Fusion__Reliability) (at - grades + 1);
        else if (text)
            fx_yaml_error(p->diag, f[0],
                          "source_reliability must be A (completely reliable), B (usually "
                          "reliable), C (fairly reliable) or X (cannot be judged)");
    }
    long long accuracy;
    if (s_present(f[1]) && fx_yaml_int(p->diag, f[1], "information_accuracy", 1, 4, &accuracy) == 0)
        g->information_accuracy = (Fusion__Accuracy) accuracy;
    return g;
}

static Fusion__Person *s_person(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"role",        "name",          "date_of_birth",
                                       "age",         "nationality",   "sex",
                                       "identifiers", "biometric_ref", "health_notes"};
    const fx_yaml_node_t *f[9];
    if (fx_yaml_fields(p->diag, node, "a person", keys, 9, f) != 0)
        return NULL;
    Fusion__Person *person = s_new(&p->arena, sizeof *person);
    fusion__person__init(person);
    if (s_present(f[0])) {
        int v = fx_yaml_word(p->diag, f[0], FX_VOCAB_SUBJECT_ROLE, "a person's role");
        if (v > 0)
            person->role = (Fusion__SubjectRole) v;
    }
    s_opt_text(p, f[1], "name", MAX_SHORT, 0, &person->name);
    int64_t born;
    if (s_present(f[2]) && s_day(p, f[2], "date_of_birth", &person->date_of_birth, &born) == 0 &&
        born > p->now)
        fx_yaml_error(p->diag, f[2], "date_of_birth is in the future");
    long long age;
    if (s_present(f[3]) && fx_yaml_int(p->diag, f[3], "age", 0, 150, &age) == 0) {
        person->age_given_case = FUSION__PERSON__AGE_GIVEN_AGE; /* 0: an infant under one */
        person->age = (uint32_t) age;
    }
    s_country(p, f[4], "nationality", &person->nationality);
    s_opt_text(p, f[5], "sex", 32, 0, &person->sex);
    s_text_list(p, f[6], "identifiers", MAX_SHORT, &person->identifiers, &person->n_identifiers);
    if (s_present(f[7])) {
        char *ref = s_text(p, f[7], "biometric_ref", MAX_SHORT, 0);
        if (ref)
            person->biometric_ref = (ProtobufCBinaryData){strlen(ref), (uint8_t *) ref};
    }
    s_opt_text(p, f[8], "health_notes", MAX_LONG, 1, &person->health_notes);
    return person;
}

static Fusion__TravelDocument *s_document(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"type", "number", "issuing_country", "expiry"};
    const fx_yaml_node_t *f[4];
    if (fx_yaml_fields(p->diag, node, "a travel document", keys, 4, f) != 0)
        return NULL;
    Fusion__TravelDocument *d = s_new(&p->arena, sizeof *d);
    fusion__travel_document__init(d);
    s_opt_text(p, f[0], "type", MAX_SHORT, 0, &d->type);
    s_opt_text(p, f[1], "number", MAX_SHORT, 0, &d->number);
    s_country(p, f[2], "issuing_country", &d->issuing_country);
    s_day(p, f[3], "expiry", &d->expiry, NULL);
    return d;
}

static Fusion__Conveyance *s_conveyance(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"type", "identifier", "operator", "departure", "arrival"};
    const fx_yaml_node_t *f[5];
    if (fx_yaml_fields(p->diag, node, "a conveyance", keys, 5, f) != 0)
        return NULL;
    Fusion__Conveyance *c = s_new(&p->arena, sizeof *c);
    fusion__conveyance__init(c);
    s_opt_text(p, f[0], "type", MAX_SHORT, 0, &c->type);
    s_opt_text(p, f[1], "identifier", MAX_SHORT, 0, &c->identifier);
    s_opt_text(p, f[2], "operator", MAX_SHORT, 0, &c->operator_);
    s_opt_text(p, f[3], "departure", MAX_SHORT, 0, &c->departure);
    s_opt_text(p, f[4], "arrival", MAX_SHORT, 0, &c->arrival);
    return c;
}

/* A list of sub-messages built by one of the functions above. */
#define S_LIST(p, node, what, build, items_p, n_p)                                                 \
    do {                                                                                           \
        size_t n_ = 0;                                                                             \
        if ((node) && fx_yaml_list((p)->diag, (node), (what), &n_) == 0) {                         \
            if (n_ > MAX_ITEMS) {                                                                  \
                fx_yaml_error((p)->diag, (node), "%s has more than %d items", (what), MAX_ITEMS);  \
                break;                                                                             \
            }                                                                                      \
            *(items_p) = s_new(&(p)->arena, (n_ ? n_ : 1) * sizeof **(items_p));                   \
            for (size_t i_ = 0; i_ < n_; i_++) {                                                   \
                void *item_ = build((p), fx_yaml_item((node), i_));                                \
                if (item_)                                                                         \
                    (*(items_p))[(*(n_p))++] = item_;                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static Fusion__CaseAlert *s_case_alert(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {
        "summary",    "modus_operandi", "indicators",         "documents",
        "persons",    "conveyances",    "location",           "window_start",
        "window_end", "grading",        "recommended_action", "intel_source"};
    const fx_yaml_node_t *f[12];
    if (fx_yaml_fields(p->diag, node, "case_alert", keys, 12, f) != 0)
        return NULL;
    Fusion__CaseAlert *a = s_new(&p->arena, sizeof *a);
    fusion__case_alert__init(a);
    s_required(p, node, f[0], "summary", "a case_alert");
    s_opt_text(p, f[0], "summary", MAX_LONG, 1, &a->summary);
    s_opt_text(p, f[1], "modus_operandi", MAX_LONG, 1, &a->modus_operandi);
    s_text_list(p, f[2], "indicators", MAX_LONG, &a->indicators, &a->n_indicators);
    S_LIST(p, f[3], "documents", s_document, &a->documents, &a->n_documents);
    S_LIST(p, f[4], "persons", s_person, &a->persons, &a->n_persons);
    S_LIST(p, f[5], "conveyances", s_conveyance, &a->conveyances, &a->n_conveyances);
    s_opt_text(p, f[6], "location", MAX_SHORT, 0, &a->location);
    s_time(p, f[7], "window_start", &a->window_start);
    s_time(p, f[8], "window_end", &a->window_end);
    if (a->window_start && a->window_end && a->window_end < a->window_start)
        fx_yaml_error(p->diag, f[8], "window_end is before window_start");
    a->grading = s_grading(p, f[9]);
    s_opt_text(p, f[10], "recommended_action", MAX_LONG, 1, &a->recommended_action);
    s_opt_text(p, f[11], "intel_source", MAX_LONG, 1, &a->intel_source);
    return a;
}

static Fusion__Referral *s_referral(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"reason",           "screening_indicators",
                                       "requested_action", "reflection_period_days",
                                       "consent_recorded", "persons",
                                       "documents",        "location",
                                       "grading"};
    const fx_yaml_node_t *f[9];
    if (fx_yaml_fields(p->diag, node, "referral", keys, 9, f) != 0)
        return NULL;
    Fusion__Referral *r = s_new(&p->arena, sizeof *r);
    fusion__referral__init(r);
    s_required(p, node, f[0], "reason", "a referral");
    s_opt_text(p, f[0], "reason", MAX_LONG, 1, &r->reason);
    s_text_list(p, f[1], "screening_indicators", MAX_LONG, &r->screening_indicators,
                &r->n_screening_indicators);
    s_opt_text(p, f[2], "requested_action", MAX_LONG, 1, &r->requested_action);
    long long days;
    if (s_present(f[3]) &&
        fx_yaml_int(p->diag, f[3], "reflection_period_days", 0, 3650, &days) == 0)
        r->reflection_period_days = (uint32_t) days;
    /* consent_recorded and the header's consent answer one question, whether the subject's
     * consent is recorded: the header's (signed; the policy decides on it) is the answer, and a
     * referral that leaves the field out takes it. A referral that says otherwise is refused:
     * the recipient would read both. */
    int consent;
    if (!s_present(f[4]))
        r->consent_recorded = p->consent;
    else if (fx_yaml_bool(p->diag, f[4], "consent_recorded", &consent) == 0) {
        r->consent_recorded = consent;
        if (p->consent_read && consent != p->consent)
            fx_yaml_error(p->diag, f[4],
                          "consent_recorded is %s, but the draft's consent is %s%s: both say "
                          "whether the subject's consent is recorded, and the recipient reads "
                          "both (the policy decides on the draft's consent): %s",
                          consent ? "true" : "false", p->consent ? "true" : "false",
                          p->consent_given ? "" : " (not given)",
                          consent ? "if it is recorded, give 'consent: true' in the draft; the "
                                    "referral's consent_recorded then follows it and may be "
                                    "left out"
                                  : "leave consent_recorded out (the referral takes the "
                                    "draft's consent), or set the draft's consent to false if "
                                    "it is not recorded");
    }
    S_LIST(p, f[5], "persons", s_person, &r->persons, &r->n_persons);
    S_LIST(p, f[6], "documents", s_document, &r->documents, &r->n_documents);
    s_opt_text(p, f[7], "location", MAX_SHORT, 0, &r->location);
    r->grading = s_grading(p, f[8]);
    return r;
}

static Fusion__ReferralResponse *s_referral_response(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"status", "reason", "outcome"};
    static const char *const statuses[] = {NULL,       "acknowledged", "accepted",
                                           "declined", "need_info",    "closed"};
    const fx_yaml_node_t *f[3];
    if (fx_yaml_fields(p->diag, node, "referral_response", keys, 3, f) != 0)
        return NULL;
    Fusion__ReferralResponse *r = s_new(&p->arena, sizeof *r);
    fusion__referral_response__init(r);
    s_required(p, node, f[0], "status", "a referral_response");
    if (s_present(f[0])) {
        const char *text = fx_yaml_scalar(p->diag, f[0], "status");
        int v = 0;
        for (int i = 1; text && i < 6 && !v; i++)
            if (strcmp(text, statuses[i]) == 0)
                v = i;
        char shown[72];
        if (text && !v)
            fx_yaml_error(p->diag, f[0],
                          "unknown status '%s' (expected one of: acknowledged, accepted, "
                          "declined, need_info, closed)",
                          fx_yaml_shown(text, fx_yaml_length(f[0]), shown));
        r->status = (Fusion__ResponseStatus) v;
    }
    s_opt_text(p, f[1], "reason", MAX_LONG, 1, &r->reason);
    s_opt_text(p, f[2], "outcome", MAX_LONG, 1, &r->outcome);
    if ((r->status == FUSION__RESPONSE_STATUS__RESPONSE_DECLINED ||
         r->status == FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO) &&
        !s_present(f[1]))
        fx_yaml_error(p->diag, s_at(node), "a referral_response that is %s needs a 'reason'",
                      statuses[r->status]);
    if (r->status == FUSION__RESPONSE_STATUS__RESPONSE_CLOSED && !s_present(f[2]))
        fx_yaml_error(p->diag, s_at(node), "a closed referral_response needs an 'outcome'");
    return r;
}

static Fusion__AlertFeedback *s_alert_feedback(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"observation", "location", "observed_at"};
    const fx_yaml_node_t *f[3];
    if (fx_yaml_fields(p->diag, node, "alert_feedback", keys, 3, f) != 0)
        return NULL;
    Fusion__AlertFeedback *a = s_new(&p->arena, sizeof *a);
    fusion__alert_feedback__init(a);
    s_required(p, node, f[0], "observation", "an alert_feedback");
    s_opt_text(p, f[0], "observation", MAX_LONG, 1, &a->observation);
    s_opt_text(p, f[1], "location", MAX_SHORT, 0, &a->location);
    s_time(p, f[2], "observed_at", &a->observed_at);
    if (s_present(f[2]) &&
        a->observed_at > (uint64_t) p->now + FX_DRAFT_OBSERVED_SKEW_MIN * 60 * 1000LL)
        fx_yaml_error(p->diag, f[2],
                      "observed_at is in the future (more than %d minutes ahead of this "
                      "computer's clock)",
                      FX_DRAFT_OBSERVED_SKEW_MIN);
    return a;
}

static Fusion__Notice *s_notice(parse_t *p, const fx_yaml_node_t *node)
{
    static const char *const keys[] = {"text"};
    const fx_yaml_node_t *f[1];
    if (fx_yaml_fields(p->diag, node, "notice", keys, 1, f) != 0)
        return NULL;
    Fusion__Notice *n = s_new(&p->arena, sizeof *n);
    fusion__notice__init(n);
    s_required(p, node, f[0], "text", "a notice");
    s_opt_text(p, f[0], "text", MAX_LONG, 1, &n->text);
    return n;
}

/* `content:` — exactly one of the structured bodies; the message kind it belongs to in
 * *kind_p (0 for a notice, which fits any kind). */
static int s_content(parse_t *p, const fx_yaml_node_t *node, Fusion__SectionContent *content,
                     int *kind_p)
{
    static const char *const keys[] = {"case_alert", "referral", "referral_response",
                                       "alert_feedback", "notice"};
    const fx_yaml_node_t *f[5];
    *kind_p = 0;
    if (fx_yaml_fields(p->diag, node, "content", keys, 5, f) != 0)
        return -1;
    int given = 0;
    for (int k = 0; k < 5; k++)
        given += f[k] != NULL;
    if (given != 1) {
        fx_yaml_error(p->diag, s_at(node),
                      "content must hold exactly one of: case_alert, referral, "
                      "referral_response, alert_feedback, notice");
        return -1;
    }
    if (f[0] && (content->case_alert = s_case_alert(p, f[0]))) {
        content->body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
        *kind_p = FX_KIND_CASE_ALERT;
    } else if (f[1] && (content->referral = s_referral(p, f[1]))) {
        content->body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL;
        *kind_p = FX_KIND_REFERRAL;
    } else if (f[2] && (content->referral_response = s_referral_response(p, f[2]))) {
        content->body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE;
        *kind_p = FX_KIND_REFERRAL_RESPONSE;
    } else if (f[3] && (content->alert_feedback = s_alert_feedback(p, f[3]))) {
        content->body_case = FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK;
        *kind_p = FX_KIND_ALERT_FEEDBACK;
    } else if (f[4] && (content->notice = s_notice(p, f[4]))) {
        content->body_case = FUSION__SECTION_CONTENT__BODY_NOTICE;
    } else {
        return -1;
    }
    return 0;
}

/* ---- Sections ------------------------------------------------------------------------------- */

void fx_draft_categories_text(uint32_t mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 1; c < fx_vocab_size(FX_VOCAB_CATEGORY) && used < size; c++)
        if (mask & (1u << c))
            used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                      fx_vocab_name(FX_VOCAB_CATEGORY, c));
}

/* "1234567 bytes" for a regular file at path, "more than MAX bytes" when its size is unknown. */
static const char *s_file_size(const char *path, size_t max, char *buf, size_t size)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        snprintf(buf, size, "%lld bytes", (long long) st.st_size);
    else
        snprintf(buf, size, "more than %zu bytes", max);
    return buf;
}

/* Reads a `file:` section's text, relative to the draft's directory. */
static char *s_file_text(parse_t *p, const fx_yaml_node_t *node)
{
    const char *name = fx_yaml_scalar(p->diag, node, "file");
    if (!name)
        return NULL;
    char *path;
    if (name[0] == '/' || !p->base_dir) {
        path = fx_strdup(name);
    } else {
        size_t len = strlen(p->base_dir) + strlen(name) + 2;
        path = fx_malloc(len);
        snprintf(path, len, "%s/%s", p->base_dir, name);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, MAX_FILE_TEXT, &data, &len);
    int error = errno;
    char *text = NULL, size[64];
    if (rc == FX_ERR_TOO_LARGE)
        fx_yaml_error(p->diag, node,
                      "file %s is %s, larger than a section's file may be (at most %u bytes: "
                      "4 MiB less 1 KiB)",
                      path, s_file_size(path, MAX_FILE_TEXT, size, sizeof size), MAX_FILE_TEXT);
    else if (rc != FX_OK)
        fx_yaml_error(p->diag, node, "file %s: %s", path,
                      rc == FX_ERR_NOT_FOUND ? "no such file"
                      : error                ? strerror(error)
                                             : "cannot be read");
    else if (strlen((const char *) data) != len || !fx_utf8_valid(data, len) ||
             s_bad_char((const char *) data, len, 1))
        fx_yaml_error(p->diag, node,
                      "file %s is not plain text (UTF-8 without control characters other than "
                      "new lines and tabs)",
                      path);
    else
        text = s_keep(&p->arena, (const char *) data, len);
    if (data)
        sodium_memzero(data, len);
    free(data);
    free(path);
    return text;
}

typedef struct {
    uint32_t id;
    int tlp;
    uint32_t categories;
    uint8_t *plaintext;
    size_t len;
} parsed_section_t;

static int s_section(parse_t *p, const fx_yaml_node_t *node, size_t index, int kind,
                     parsed_section_t *out)
{
    static const char *const keys[] = {"id", "tlp", "categories", "text", "file", "content"};
    const fx_yaml_node_t *f[6];
    char what[48];
    snprintf(what, sizeof what, "section %zu", index + 1);
    if (fx_yaml_fields(p->diag, node, what, keys, 6, f) != 0)
        return -1;
    size_t before = fx_diag_count(p->diag);
    long long id = 0;
    s_required(p, node, f[0], "id", what);
    if (s_present(f[0]) &&
        fx_yaml_int(p->diag, f[0], "a section id", 1, FX_SECTION_ID_MAX, &id) == 0) {
        out->id = (uint32_t) id;
        snprintf(what, sizeof what, "section %lld", id);
    }
    s_required(p, node, f[1], "tlp", what);
    if (s_present(f[1])) {
        int tlp = fx_yaml_word(p->diag, f[1], FX_VOCAB_TLP, "tlp");
        out->tlp = tlp > 0 ? tlp : 0;
    }
    if (s_present(f[2]) &&
        fx_yaml_word_mask(p->diag, f[2], FX_VOCAB_CATEGORY, "categories", 1, &out->categories) ==
            0 &&
        out->categories == 0)
        fx_yaml_error(p->diag, f[2], "%s needs at least one category", what);

    int sources = (f[3] != NULL) + (f[4] != NULL) + (f[5] != NULL);
    if (sources != 1) {
        fx_yaml_error(p->diag, s_at(node), "%s needs exactly one of 'text', 'file' or 'content'",
                      what);
        return -1;
    }
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    int content_kind = 0;
    if (f[3]) {
        content.text = s_text(p, f[3], "text", MAX_LONG, 1);
        content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    } else if (f[4]) {
        content.text = s_file_text(p, f[4]);
        content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    } else if (s_content(p, f[5], &content, &content_kind) != 0) {
        return -1;
    }
    if (content.body_case == FUSION__SECTION_CONTENT__BODY_TEXT && !content.text)
        return -1;
    /* Structured content without labels is labelled with what its fields imply; free text
     * cannot be read for them, so its author must label it. */
    if (!s_present(f[2]) && content.body_case == FUSION__SECTION_CONTENT__BODY_TEXT) {
        fx_yaml_error(p->diag, s_at(node),
                      "%s needs 'categories' (it is free text: the agent cannot tell what it "
                      "holds)",
                      what);
        return -1;
    }
    if (!s_present(f[2]))
        out->categories = fx_content_categories(&content, p->now);
    if (!s_present(f[2]) && out->categories == 0)
        out->categories = 1u << FX_CATEGORY_OPERATIONAL;
    if (content_kind && kind > 0 && content_kind != kind) {
        fx_yaml_error(p->diag, f[5], "%s holds a %s, which does not belong in a message of kind %s",
                      what, fx_vocab_name(FX_VOCAB_KIND, content_kind),
                      fx_vocab_name(FX_VOCAB_KIND, kind));
        return -1;
    }
    if (fx_diag_count(p->diag) != before)
        return -1;
    uint32_t missing = fx_content_missing_labels(&content, out->categories, p->now);
    if (missing) {
        char labels[256], needed[256];
        fx_draft_categories_text(out->categories, labels, sizeof labels);
        fx_draft_categories_text(missing, needed, sizeof needed);
        fx_yaml_error(p->diag, f[2],
                      "%s is labelled %s, but its content also carries %s: add %s to its "
                      "categories (the broker cannot read content; it shares by these labels)",
                      what, labels, needed, missing & (missing - 1) ? "them" : "it");
        return -1;
    }
    size_t encoded = fx_codec_size(&content);
    if (encoded > FX_MAX_CONTENT_BYTES) {
        fx_yaml_error(p->diag, s_at(node),
                      "%s is %zu bytes encoded, larger than the %u bytes (4 MiB) a section may be",
                      what, encoded, FX_MAX_CONTENT_BYTES);
        return -1;
    }
    fx_content_encode(&content, &out->plaintext, &out->len);
    return 0;
}

/* ---- The draft ------------------------------------------------------------------------------ */

static void s_recipients(parse_t *p, const fx_yaml_node_t *node, char ***items_p, size_t *n_p)
{
    size_t n;
    if (fx_yaml_list(p->diag, node, "recipients", &n) != 0)
        return;
    if (n > FX_DRAFT_MAX_RECIPIENTS) {
        fx_yaml_error(p->diag, node, "recipients has more than %d entries",
                      FX_DRAFT_MAX_RECIPIENTS);
        return;
    }
    char **items = s_new(&p->arena, (n ? n : 1) * sizeof *items);
    size_t k = 0;
    char shown[72];
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i);
        const char *id = fx_yaml_scalar(p->diag, item, "a recipient");
        if (!id)
            continue;
        if (!fx_recipient_id_valid(id)) {
            fx_yaml_error(p->diag, item,
                          "recipient '%s' is neither a principal id (COUNTRY.AGENCY.UNIT, e.g. "
                          "IDN.POLRI.fp1) nor an agency (COUNTRY.AGENCY, e.g. IDN.POLRI)",
                          fx_yaml_shown(id, fx_yaml_length(item), shown));
            continue;
        }
        int duplicate = 0;
        for (size_t j = 0; j < k && !duplicate; j++)
            duplicate = strcmp(items[j], id) == 0;
        if (duplicate) {
            fx_yaml_error(p->diag, item, "recipient '%s' is listed twice", id);
            continue;
        }
        items[k++] = s_keep(&p->arena, id, strlen(id));
    }
    *items_p = items;
    *n_p = k;
}

static int s_hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void s_msg_id(parse_t *p, const fx_yaml_node_t *node, ProtobufCBinaryData *field)
{
    const char *text = fx_yaml_scalar(p->diag, node, "in_reply_to");
    if (!text)
        return;
    uint8_t *id = s_new(&p->arena, FX_MSG_ID_BYTES);
    int ok = fx_yaml_length(node) == 2 * FX_MSG_ID_BYTES;
    for (size_t i = 0; ok && i < FX_MSG_ID_BYTES; i++) {
        int hi = s_hex_value(text[2 * i]), lo = s_hex_value(text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        id[i] = (uint8_t) (hi << 4 | lo);
    }
    if (!ok) {
        fx_yaml_error(p->diag, node,
                      "in_reply_to must be a msg_id: 32 hexadecimal digits as fusion-agent "
                      "prints them");
        return;
    }
    *field = (ProtobufCBinaryData){FX_MSG_ID_BYTES, id};
}

static void s_expires(parse_t *p, const fx_yaml_node_t *node, uint64_t *field)
{
    const char *text = fx_yaml_scalar(p->diag, node, "expires");
    if (!text)
        return;
    int64_t ms, at;
    if (fx_duration_parse(text, &ms) == 0) {
        at = p->now + ms;
    } else if (fx_time_parse(text, &at) != 0) {
        char shown[72];
        fx_yaml_error(p->diag, node,
                      "expires must be a duration such as 12h or 7d, or a date YYYY-MM-DD or RFC "
                      "3339 time, found '%s'",
                      fx_yaml_shown(text, fx_yaml_length(node), shown));
        return;
    }
    if (at <= p->now) {
        fx_yaml_error(p->diag, node, "expires is in the past");
        return;
    }
    if (at - p->now > FX_DRAFT_MAX_TTL_MS) {
        fx_yaml_error(p->diag, node, "expires is more than 366 days ahead");
        return;
    }
    *field = (uint64_t) at;
}

static int s_enum(parse_t *p, const fx_yaml_node_t *node, fx_vocab_t vocab, const char *what)
{
    if (!s_present(node))
        return 0;
    int v = fx_yaml_word(p->diag, node, vocab, what);
    return v > 0 ? v : 0;
}

enum {
    K_KIND,
    K_AUDIENCE,
    K_ROUTE,
    K_STAGE,
    K_PURPOSE,
    K_SUBJECT_ROLE,
    K_CONSENT,
    K_URGENCY,
    K_HANDLING,
    K_CASE_REF,
    K_TASKFORCE,
    K_AGREEMENT,
    K_EXERCISE,
    K_EXPIRES,
    K_IN_REPLY_TO,
    K_RECIPIENTS,
    K_SECTIONS,
    K_COUNT
};

static const char *const s_keys[K_COUNT] = {
    "kind",     "audience", "route",       "stage",      "purpose",   "subject_role",
    "consent",  "urgency",  "handling",    "case_ref",   "taskforce", "agreement",
    "exercise", "expires",  "in_reply_to", "recipients", "sections"};

/* Builds the owned draft from the parsed header and sections. */
static fx_draft_t *s_finish(Fusion__Header *h, parsed_section_t *sections, size_t n,
                            char **recipients, size_t n_recipients)
{
    Fusion__SectionDescriptor descs[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__SectionDescriptor *desc_ptrs[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__Category cats[FX_ENVELOPE_MAX_SECTIONS][16];
    for (size_t i = 0; i < n; i++) {
        fusion__section_descriptor__init(&descs[i]);
        descs[i].id = sections[i].id;
        descs[i].tlp = (Fusion__Tlp) sections[i].tlp;
        for (int c = 1; c < fx_vocab_size(FX_VOCAB_CATEGORY); c++)
            if (sections[i].categories & (1u << c))
                cats[i][descs[i].n_categories++] = (Fusion__Category) c;
        descs[i].categories = cats[i];
        desc_ptrs[i] = &descs[i];
    }
    h->n_sections = n;
    h->sections = desc_ptrs;
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_codec_encode(h, &bytes, &len);
    Fusion__Header *owned = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_HEADER, bytes, len, (void **) &owned);
    free(bytes);
    h->sections = NULL;
    if (rc != FX_OK)
        return NULL;
    fx_draft_t *self = fx_calloc(1, sizeof *self);
    self->header = owned;
    self->recipients = fx_calloc(n_recipients ? n_recipients : 1, sizeof *self->recipients);
    for (size_t i = 0; i < n_recipients; i++)
        self->recipients[i] = fx_strdup(recipients[i]);
    self->n_recipients = n_recipients;
    self->sections = fx_calloc(n ? n : 1, sizeof *self->sections);
    for (size_t i = 0; i < n; i++) {
        self->sections[i].plaintext = sections[i].plaintext;
        self->sections[i].len = sections[i].len;
        sections[i].plaintext = NULL;
    }
    return self;
}

static void s_header_fields(parse_t *p, const fx_yaml_node_t *root, const fx_yaml_node_t **f,
                            Fusion__Header *h)
{
    s_required(p, root, f[K_KIND], "kind", "the draft");
    s_required(p, root, f[K_AUDIENCE], "audience", "the draft");
    h->kind = (Fusion__Kind) s_enum(p, f[K_KIND], FX_VOCAB_KIND, "kind");
    h->audience = (Fusion__Audience) s_enum(p, f[K_AUDIENCE], FX_VOCAB_AUDIENCE, "audience");
    h->stage = (Fusion__Stage) s_enum(p, f[K_STAGE], FX_VOCAB_STAGE, "stage");
    h->purpose = (Fusion__Purpose) s_enum(p, f[K_PURPOSE], FX_VOCAB_PURPOSE, "purpose");
    h->subject_role =
        (Fusion__SubjectRole) s_enum(p, f[K_SUBJECT_ROLE], FX_VOCAB_SUBJECT_ROLE, "subject_role");
    h->urgency = (Fusion__Urgency) s_enum(p, f[K_URGENCY], FX_VOCAB_URGENCY, "urgency");
    int consent;
    p->consent_given = s_present(f[K_CONSENT]);
    p->consent_read =
        !p->consent_given || fx_yaml_bool(p->diag, f[K_CONSENT], "consent", &consent) == 0;
    if (p->consent_given && p->consent_read)
        h->consent = consent;
    p->consent = h->consent ? 1 : 0;
    uint32_t handling = 0;
    if (s_present(f[K_HANDLING]))
        fx_yaml_word_mask(p->diag, f[K_HANDLING], FX_VOCAB_HANDLING, "handling", 1, &handling);
    Fusion__Handling *values = s_new(&p->arena, 32 * sizeof *values);
    for (int v = 1; v < fx_vocab_size(FX_VOCAB_HANDLING); v++)
        if (handling & (1u << v))
            values[h->n_handling++] = (Fusion__Handling) v;
    h->handling = values;
    s_opt_text(p, f[K_CASE_REF], "case_ref", FX_ENVELOPE_MAX_STRING, 0, &h->case_ref);
    s_opt_text(p, f[K_TASKFORCE], "taskforce", FX_ENVELOPE_MAX_STRING, 0, &h->taskforce);
    s_opt_text(p, f[K_AGREEMENT], "agreement", FX_ENVELOPE_MAX_STRING, 0, &h->agreement);
    s_opt_text(p, f[K_EXERCISE], "exercise", FX_ENVELOPE_MAX_STRING, 0, &h->exercise);
    h->expires_at = (uint64_t) (p->now + FX_ENVELOPE_DEFAULT_TTL_MS);
    if (s_present(f[K_EXPIRES]))
        s_expires(p, f[K_EXPIRES], &h->expires_at);
    if (s_present(f[K_IN_REPLY_TO]))
        s_msg_id(p, f[K_IN_REPLY_TO], &h->in_reply_to);
    if (s_present(f[K_ROUTE])) {
        char *text = s_text(p, f[K_ROUTE], "route", FX_ENVELOPE_MAX_STRING, 0);
        fx_route_t *route = NULL;
        char why[FX_ROUTE_WHY_SIZE];
        if (text && fx_route_parse(text, &route, why) != FX_OK)
            fx_yaml_error(p->diag, f[K_ROUTE], "invalid route: %s", why);
        else if (text)
            h->route = s_keep(&p->arena, fx_route_text(route), strlen(fx_route_text(route)));
        fx_route_destroy(&route);
    }
}

/* Cross-field rules: what each audience needs, and what a response answers. */
static void s_header_rules(parse_t *p, const fx_yaml_node_t **f, const Fusion__Header *h)
{
    const fx_yaml_node_t *audience = f[K_AUDIENCE], *recipients = f[K_RECIPIENTS];
    if ((int) h->audience == FX_AUDIENCE_DIRECT && !s_present(recipients))
        fx_yaml_error(p->diag, audience,
                      "audience direct needs 'recipients' (principal or agency ids)");
    else if ((int) h->audience == FX_AUDIENCE_DIRECT && fx_yaml_type(recipients) == FX_YAML_LIST &&
             fx_yaml_count(recipients) == 0)
        fx_yaml_error(p->diag, recipients, "recipients is empty");
    if (h->audience && (int) h->audience != FX_AUDIENCE_DIRECT && s_present(recipients))
        fx_yaml_error(p->diag, recipients,
                      "recipients are only for audience direct: for audience %s the broker "
                      "finds the recipients",
                      fx_vocab_name(FX_VOCAB_AUDIENCE, (int) h->audience));
    if ((int) h->audience == FX_AUDIENCE_ROUTE && !s_present(f[K_ROUTE]))
        fx_yaml_error(p->diag, audience, "audience route needs a 'route' (e.g. MMR>THA>MYS)");
    int taskforce = h->taskforce && h->taskforce[0];
    if ((int) h->audience == FX_AUDIENCE_TASKFORCE && !taskforce)
        fx_yaml_error(p->diag, audience, "audience taskforce needs a 'taskforce' id");
    /* The policy reads a taskforce only for audience taskforce (DESIGN.md, check 3): anywhere
     * else it would ride in the signed header and decide nothing. */
    if (h->audience && (int) h->audience != FX_AUDIENCE_TASKFORCE && taskforce)
        fx_yaml_error(p->diag, f[K_TASKFORCE],
                      "a taskforce is only for audience taskforce (its members receive the "
                      "message), but this draft's audience is %s (%s): pick one",
                      fx_vocab_name(FX_VOCAB_AUDIENCE, (int) h->audience),
                      (int) h->audience == FX_AUDIENCE_DIRECT  ? "the recipients named"
                      : (int) h->audience == FX_AUDIENCE_ROUTE ? "everyone following the route"
                                                               : "the focal points");
    if ((int) h->kind == FX_KIND_REFERRAL_RESPONSE && !s_present(f[K_IN_REPLY_TO]))
        fx_yaml_error(p->diag, f[K_KIND],
                      "a referral_response needs 'in_reply_to': the msg_id of the referral it "
                      "answers");
}

/* The status of a referral_response's structured content, for the signed header (the broker
 * tracks the referral without reading content). -1 when no section, or two that disagree, give
 * one. */
static int s_response_status(const parsed_section_t *sections, size_t n,
                             Fusion__ResponseStatus *out)
{
    Fusion__ResponseStatus status = FUSION__RESPONSE_STATUS__RESPONSE_UNSPECIFIED;
    for (size_t i = 0; i < n; i++) {
        Fusion__SectionContent *content = NULL;
        if (fx_content_decode(sections[i].plaintext, sections[i].len, &content) != FX_OK)
            return -1;
        Fusion__ResponseStatus here =
            content->body_case == FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE
                ? content->referral_response->status
                : FUSION__RESPONSE_STATUS__RESPONSE_UNSPECIFIED;
        fx_content_free(&content);
        if (here && status && here != status)
            return -1;
        if (here)
            status = here;
    }
    *out = status;
    return status ? 0 : -1;
}

fx_err_t fx_draft_from_node(const fx_yaml_node_t *root, const char *base_dir, int64_t now_ms,
                            fx_diag_t *diag, fx_draft_t **draft_p)
{
    *draft_p = NULL;
    parse_t p = {diag, {NULL, 0, 0}, base_dir, now_ms, 0, 0, 1};
    parsed_section_t sections[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_sections = 0;
    memset(sections, 0, sizeof sections);
    const fx_yaml_node_t *f[K_COUNT];
    Fusion__Header h = FUSION__HEADER__INIT;
    char **recipients = NULL;
    size_t n_recipients = 0;
    if (fx_yaml_fields(diag, root, "the draft", s_keys, K_COUNT, f) != 0)
        goto cleanup;
    h.version = FX_ENVELOPE_VERSION;
    s_header_fields(&p, root, f, &h);
    if (s_present(f[K_RECIPIENTS]))
        s_recipients(&p, f[K_RECIPIENTS], &recipients, &n_recipients);
    s_header_rules(&p, f, &h);

    size_t count = 0;
    s_required(&p, root, f[K_SECTIONS], "sections", "the draft");
    if (s_present(f[K_SECTIONS]) && fx_yaml_list(diag, f[K_SECTIONS], "sections", &count) == 0) {
        if (count > FX_ENVELOPE_MAX_SECTIONS)
            fx_yaml_error(diag, f[K_SECTIONS], "a message has at most %d sections",
                          FX_ENVELOPE_MAX_SECTIONS);
        for (size_t i = 0; i < count && i < FX_ENVELOPE_MAX_SECTIONS; i++) {
            const fx_yaml_node_t *node = fx_yaml_item(f[K_SECTIONS], i);
            parsed_section_t *s = &sections[n_sections];
            if (s_section(&p, node, i, (int) h.kind, s) != 0)
                continue;
            int duplicate = 0;
            for (size_t j = 0; j < n_sections && !duplicate; j++)
                duplicate = sections[j].id == s->id;
            if (duplicate) {
                fx_yaml_error(diag, s_at(node), "section id %u is used twice", s->id);
                sodium_memzero(s->plaintext, s->len);
                free(s->plaintext);
                memset(s, 0, sizeof *s);
                continue;
            }
            n_sections++;
        }
    }
    if (s_present(f[K_SECTIONS]) && fx_yaml_type(f[K_SECTIONS]) == FX_YAML_LIST && count == 0)
        fx_yaml_error(diag, f[K_SECTIONS], "a message needs at least one section");
    if ((int) h.kind == FX_KIND_REFERRAL_RESPONSE && fx_diag_count(diag) == 0 &&
        s_response_status(sections, n_sections, &h.response_status) != 0)
        fx_yaml_error(diag, f[K_KIND],
                      "a referral_response needs exactly one status: give one section a "
                      "structured 'referral_response' content (its status is also signed into "
                      "the header, for the broker to track the referral)");
    if (fx_diag_count(diag) == 0) {
        *draft_p = s_finish(&h, sections, n_sections, recipients, n_recipients);
        if (!*draft_p)
            fx_diag_add(diag, 0, 0, "the draft does not form a valid header");
    }
cleanup:
    for (size_t i = 0; i < FX_ENVELOPE_MAX_SECTIONS; i++) {
        if (sections[i].plaintext)
            sodium_memzero(sections[i].plaintext, sections[i].len);
        free(sections[i].plaintext);
    }
    s_arena_free(&p.arena);
    return *draft_p ? FX_OK : FX_ERR_INVALID;
}

fx_err_t fx_draft_parse(const uint8_t *data, size_t len, const char *base_dir, int64_t now_ms,
                        fx_diag_t *diag, fx_draft_t **draft_p)
{
    *draft_p = NULL;
    fx_yaml_t *doc = fx_yaml_parse(data, len, diag);
    if (!doc)
        return FX_ERR_INVALID;
    fx_err_t rc = fx_draft_from_node(fx_yaml_root(doc), base_dir, now_ms, diag, draft_p);
    fx_yaml_destroy(&doc);
    return rc;
}

fx_err_t fx_draft_load(const char *path, int64_t now_ms, fx_diag_t *diag, fx_draft_t **draft_p)
{
    *draft_p = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, FX_DRAFT_MAX_BYTES, &data, &len);
    int error = errno;
    char size[64];
    if (rc == FX_ERR_TOO_LARGE)
        fx_diag_add(diag, 0, 0,
                    "the draft is %s, larger than a draft may be (at most %u bytes: 1 MiB; put "
                    "long text in a section's 'file')",
                    s_file_size(path, FX_DRAFT_MAX_BYTES, size, sizeof size), FX_DRAFT_MAX_BYTES);
    else if (rc != FX_OK)
        fx_diag_add(diag, 0, 0, "%s",
                    rc == FX_ERR_NOT_FOUND ? "no such file"
                    : error                ? strerror(error)
                                           : "cannot read the file");
    if (rc != FX_OK)
        return rc == FX_ERR_IO ? FX_ERR_IO : FX_ERR_INVALID;
    char *copy = fx_strdup(path);
    rc = fx_draft_parse(data, len, dirname(copy), now_ms, diag, draft_p);
    free(copy);
    sodium_memzero(data, len);
    free(data);
    return rc;
}

void fx_draft_destroy(fx_draft_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_draft_t *self = *self_p;
    size_t n = self->header ? self->header->n_sections : 0;
    for (size_t i = 0; self->sections && i < n; i++) {
        if (self->sections[i].plaintext)
            sodium_memzero(self->sections[i].plaintext, self->sections[i].len);
        free(self->sections[i].plaintext);
    }
    free(self->sections);
    for (size_t i = 0; i < self->n_recipients; i++)
        free(self->recipients[i]);
    free(self->recipients);
    fx_codec_free(self->header);
    free(self);
    *self_p = NULL;
}

const Fusion__Header *fx_draft_header(const fx_draft_t *self)
{
    return self->header;
}

size_t fx_draft_recipient_count(const fx_draft_t *self)
{
    return self->n_recipients;
}

const char *const *fx_draft_recipients(const fx_draft_t *self)
{
    return (const char *const *) self->recipients;
}

size_t fx_draft_section_count(const fx_draft_t *self)
{
    return self->header->n_sections;
}

uint32_t fx_draft_section_id(const fx_draft_t *self, size_t i)
{
    return i < self->header->n_sections ? self->header->sections[i]->id : 0;
}

int fx_draft_section_tlp(const fx_draft_t *self, size_t i)
{
    return i < self->header->n_sections ? (int) self->header->sections[i]->tlp : 0;
}

uint32_t fx_draft_section_categories(const fx_draft_t *self, size_t i)
{
    uint32_t mask = 0;
    if (i >= self->header->n_sections)
        return 0;
    const Fusion__SectionDescriptor *d = self->header->sections[i];
    for (size_t k = 0; k < d->n_categories; k++)
        mask |= 1u << d->categories[k];
    return mask;
}

const uint8_t *fx_draft_section_plaintext(const fx_draft_t *self, size_t i, size_t *len_p)
{
    *len_p = i < self->header->n_sections ? self->sections[i].len : 0;
    return i < self->header->n_sections ? self->sections[i].plaintext : NULL;
}

/* ---- The outbox form: magic, then length-prefixed (big-endian u32) header, recipients and
 * section contents. ---------------------------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static void s_put(buf_t *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = fx_realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void s_put_u32(buf_t *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};
    s_put(b, be, 4);
}

static void s_put_chunk(buf_t *b, const void *data, size_t len)
{
    s_put_u32(b, (uint32_t) len);
    s_put(b, data, len);
}

void fx_draft_serialize(const fx_draft_t *self, uint8_t **data_p, size_t *len_p)
{
    buf_t b = {NULL, 0, 0};
    s_put(&b, SERIAL_MAGIC, SERIAL_MAGIC_LEN);
    uint8_t *header = NULL;
    size_t header_len = 0;
    fx_codec_encode(self->header, &header, &header_len);
    s_put_chunk(&b, header, header_len);
    free(header);
    s_put_u32(&b, (uint32_t) self->n_recipients);
    for (size_t i = 0; i < self->n_recipients; i++)
        s_put_chunk(&b, self->recipients[i], strlen(self->recipients[i]));
    s_put_u32(&b, (uint32_t) self->header->n_sections);
    for (size_t i = 0; i < self->header->n_sections; i++)
        s_put_chunk(&b, self->sections[i].plaintext, self->sections[i].len);
    *data_p = b.data;
    *len_p = b.len;
}

typedef struct {
    const uint8_t *data;
    size_t len, at;
} reader_t;

static int s_get_u32(reader_t *r, uint32_t *v)
{
    if (r->len - r->at < 4)
        return -1;
    const uint8_t *p = r->data + r->at;
    *v = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
    r->at += 4;
    return 0;
}

static int s_get_chunk(reader_t *r, const uint8_t **data_p, size_t *len_p)
{
    uint32_t len;
    if (s_get_u32(r, &len) != 0 || r->len - r->at < len)
        return -1;
    *data_p = r->data + r->at;
    *len_p = len;
    r->at += len;
    return 0;
}

fx_err_t fx_draft_deserialize(const uint8_t *data, size_t len, fx_draft_t **draft_p)
{
    *draft_p = NULL;
    if (!data || len < SERIAL_MAGIC_LEN || memcmp(data, SERIAL_MAGIC, SERIAL_MAGIC_LEN) != 0)
        return FX_ERR_MALFORMED;
    reader_t r = {data, len, SERIAL_MAGIC_LEN};
    fx_draft_t *self = fx_calloc(1, sizeof *self);
    fx_err_t rc = FX_ERR_MALFORMED;
    const uint8_t *chunk;
    size_t chunk_len;
    uint32_t n;
    if (s_get_chunk(&r, &chunk, &chunk_len) != 0 ||
        fx_codec_decode(FX_MSG_HEADER, chunk, chunk_len, (void **) &self->header) != FX_OK)
        goto cleanup;
    if (self->header->n_sections == 0 || self->header->n_sections > FX_ENVELOPE_MAX_SECTIONS)
        goto cleanup;
    if (s_get_u32(&r, &n) != 0 || n > FX_DRAFT_MAX_RECIPIENTS)
        goto cleanup;
    self->recipients = fx_calloc(n ? n : 1, sizeof *self->recipients);
    for (uint32_t i = 0; i < n; i++) {
        if (s_get_chunk(&r, &chunk, &chunk_len) != 0 || chunk_len >= FX_ID_MAX)
            goto cleanup;
        self->recipients[i] = fx_strndup((const char *) chunk, chunk_len);
        self->n_recipients++;
        if (!fx_recipient_id_valid(self->recipients[i]))
            goto cleanup;
    }
    if (s_get_u32(&r, &n) != 0 || n != self->header->n_sections)
        goto cleanup;
    self->sections = fx_calloc(n, sizeof *self->sections);
    for (uint32_t i = 0; i < n; i++) {
        Fusion__SectionContent *content = NULL;
        if (s_get_chunk(&r, &chunk, &chunk_len) != 0 ||
            fx_content_decode(chunk, chunk_len, &content) != FX_OK)
            goto cleanup;
        fx_content_free(&content);
        self->sections[i].plaintext = fx_malloc(chunk_len ? chunk_len : 1);
        memcpy(self->sections[i].plaintext, chunk, chunk_len);
        self->sections[i].len = chunk_len;
    }
    if (r.at != r.len)
        goto cleanup;
    *draft_p = self;
    return FX_OK;
cleanup:
    fx_draft_destroy(&self);
    return rc;
}

/* ---- A draft built by a program ------------------------------------------------------------- */

fx_err_t fx_draft_new(const Fusion__Header *header, const char *const *recipients,
                      size_t n_recipients, const fx_draft_section_t *sections, size_t n_sections,
                      int64_t now_ms, fx_draft_t **draft_p, char *why, size_t why_size)
{
    *draft_p = NULL;
    snprintf(why, why_size, "%s", "");
    if (!header || n_sections == 0 || n_sections > FX_ENVELOPE_MAX_SECTIONS ||
        n_recipients > FX_DRAFT_MAX_RECIPIENTS) {
        snprintf(why, why_size, "a message needs 1 to %d sections and at most %d recipients",
                 FX_ENVELOPE_MAX_SECTIONS, FX_DRAFT_MAX_RECIPIENTS);
        return FX_ERR_INVALID;
    }
    for (size_t i = 0; i < n_recipients; i++) {
        if (!recipients[i] || !fx_recipient_id_valid(recipients[i])) {
            snprintf(why, why_size, "recipient '%.64s' is neither a principal id nor an agency",
                     recipients[i] ? recipients[i] : "");
            return FX_ERR_INVALID;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(recipients[i], recipients[j]) == 0) {
                snprintf(why, why_size, "recipient '%s' is listed twice", recipients[i]);
                return FX_ERR_INVALID;
            }
    }
    parsed_section_t parsed[FX_ENVELOPE_MAX_SECTIONS];
    memset(parsed, 0, sizeof parsed);
    fx_err_t rc = FX_ERR_INVALID;
    for (size_t i = 0; i < n_sections; i++) {
        const fx_draft_section_t *s = &sections[i];
        Fusion__SectionContent *content = NULL;
        for (size_t j = 0; j < i; j++)
            if (sections[j].id == s->id) {
                snprintf(why, why_size, "section id %u is used twice", s->id);
                goto cleanup;
            }
        if (s->id < 1 || s->id > FX_SECTION_ID_MAX || s->tlp <= 0 ||
            s->tlp >= fx_vocab_size(FX_VOCAB_TLP) || s->categories == 0 ||
            (s->categories & ~((1u << fx_vocab_size(FX_VOCAB_CATEGORY)) - 2u))) {
            snprintf(why, why_size, "section %u needs an id from 1 to %d, a tlp and categories",
                     s->id, FX_SECTION_ID_MAX);
            goto cleanup;
        }
        if (!s->plaintext || fx_content_decode(s->plaintext, s->len, &content) != FX_OK) {
            snprintf(why, why_size, "section %u is not a valid section content", s->id);
            goto cleanup;
        }
        uint32_t missing = fx_content_missing_labels(content, s->categories, now_ms);
        fx_content_free(&content);
        if (missing) {
            char needed[256];
            fx_draft_categories_text(missing, needed, sizeof needed);
            snprintf(why, why_size, "section %u's content also carries %s, which its labels lack",
                     s->id, needed);
            goto cleanup;
        }
        parsed[i].id = s->id;
        parsed[i].tlp = s->tlp;
        parsed[i].categories = s->categories;
        parsed[i].plaintext = fx_malloc(s->len ? s->len : 1);
        memcpy(parsed[i].plaintext, s->plaintext, s->len);
        parsed[i].len = s->len;
    }
    Fusion__Header h = *header;
    h.version = FX_ENVELOPE_VERSION;
    if ((int) h.kind == FX_KIND_REFERRAL_RESPONSE) {
        Fusion__ResponseStatus status;
        if (s_response_status(parsed, n_sections, &status) != 0 ||
            (h.response_status && h.response_status != status)) {
            snprintf(why, why_size,
                     "a referral_response needs exactly one status, the same in "
                     "its content and its header");
            goto cleanup;
        }
        h.response_status = status;
    }
    *draft_p = s_finish(&h, parsed, n_sections, (char **) recipients, n_recipients);
    if (*draft_p)
        rc = FX_OK;
    else
        snprintf(why, why_size, "the header is not valid");
cleanup:
    for (size_t i = 0; i < n_sections; i++) {
        if (parsed[i].plaintext)
            sodium_memzero(parsed[i].plaintext, parsed[i].len);
        free(parsed[i].plaintext);
    }
    return rc;
}
