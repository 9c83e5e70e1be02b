/* Policy decisions through the C API: every condition form (value, list, not, any_of, all_of,
 * none_of, at_least, at_most, booleans, route), missing fields, the six denial codes in their
 * order, date bounds, agreement choice, per-country protected categories, exercise segregation
 * and the reason sentences. Cases are tables of patches applied to one base scenario. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/policy.h"
#include "fusion/vocab.h"
#include "testutil.h"

/* ---- A scenario: one sender, one recipient, one section, patched by "key=value ..." -------- */

typedef struct {
    char pool[24][96];
    int npool;
    fx_policy_principal_t sender, recipient;
    fx_policy_message_t msg;
    fx_policy_section_t section;
    int64_t at;
} scenario_t;

static const char *s_keep(scenario_t *sc, const char *text)
{
    assert_true(sc->npool < 24);
    snprintf(sc->pool[sc->npool], sizeof sc->pool[0], "%s", text);
    return sc->pool[sc->npool++];
}

static uint32_t s_mask(fx_vocab_t vocab, const char *words)
{
    uint32_t mask = 0;
    char bad[64];
    assert_int_equal(fx_vocab_parse_mask(vocab, words, &mask, bad, sizeof bad), 0);
    return mask;
}

static int s_enum(fx_vocab_t vocab, const char *word)
{
    if (!*word)
        return 0;
    int v = fx_vocab_parse(vocab, word);
    assert_true(v > 0);
    return v;
}

/* Base: THA.RTP.fp1 (focal point, police) sends a green operational case alert directly to
 * THA.DSI.fp1 (focal point, police), same country, purpose investigation, at 2026-11-28. */
static void s_scenario(scenario_t *sc, const char *patch)
{
    memset(sc, 0, sizeof *sc);
    sc->sender = (fx_policy_principal_t){"THA.RTP.fp1", "THA", "THA.RTP",
                                         s_mask(FX_VOCAB_ROLE, "focal_point,police")};
    sc->recipient = (fx_policy_principal_t){"THA.DSI.fp1", "THA", "THA.DSI",
                                            s_mask(FX_VOCAB_ROLE, "focal_point,police")};
    sc->section = (fx_policy_section_t){1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL};
    sc->msg.kind = FX_KIND_CASE_ALERT;
    sc->msg.audience = FX_AUDIENCE_DIRECT;
    sc->msg.purpose = FX_PURPOSE_INVESTIGATION;
    sc->msg.subject_role = FX_SUBJECT_SUSPECT;
    sc->msg.stage = FX_STAGE_AT_BORDER;
    sc->msg.route = "MMR>THA>MYS";
    sc->msg.sections = &sc->section;
    sc->msg.section_count = 1;
    assert_int_equal(fx_time_parse("2026-11-28", &sc->at), 0);

    char copy[512];
    snprintf(copy, sizeof copy, "%s", patch);
    for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        fx_policy_principal_t *p = key[0] == 's' && (key[1] == '.' || !key[1])   ? &sc->sender
                                   : key[0] == 'r' && (key[1] == '.' || !key[1]) ? &sc->recipient
                                                                                 : NULL;
        if (p && !key[1]) { /* s=ID or r=ID: country and agency follow from the id */
            p->id = s_keep(sc, val);
            p->country = NULL;
            p->agency = NULL;
        } else if (p && strcmp(key + 2, "id") == 0) {
            p->id = s_keep(sc, val);
        } else if (p && strcmp(key + 2, "country") == 0) {
            p->country = s_keep(sc, val);
        } else if (p && strcmp(key + 2, "agency") == 0) {
            p->agency = s_keep(sc, val);
        } else if (p && strcmp(key + 2, "roles") == 0) {
            p->roles = s_mask(FX_VOCAB_ROLE, val);
        } else if (strcmp(key, "kind") == 0) {
            sc->msg.kind = s_enum(FX_VOCAB_KIND, val);
        } else if (strcmp(key, "audience") == 0) {
            sc->msg.audience = s_enum(FX_VOCAB_AUDIENCE, val);
        } else if (strcmp(key, "purpose") == 0) {
            sc->msg.purpose = s_enum(FX_VOCAB_PURPOSE, val);
        } else if (strcmp(key, "subject_role") == 0) {
            sc->msg.subject_role = s_enum(FX_VOCAB_SUBJECT_ROLE, val);
        } else if (strcmp(key, "stage") == 0) {
            sc->msg.stage = s_enum(FX_VOCAB_STAGE, val);
        } else if (strcmp(key, "tlp") == 0) {
            sc->section.tlp = s_enum(FX_VOCAB_TLP, val);
        } else if (strcmp(key, "cats") == 0) {
            sc->section.categories = s_mask(FX_VOCAB_CATEGORY, val);
        } else if (strcmp(key, "consent") == 0) {
            sc->msg.consent = atoi(val);
        } else if (strcmp(key, "route") == 0) {
            sc->msg.route = s_keep(sc, val);
        } else if (strcmp(key, "exercise") == 0) {
            sc->msg.exercise = s_keep(sc, val);
        } else if (strcmp(key, "taskforce") == 0) {
            sc->msg.taskforce = s_keep(sc, val);
        } else if (strcmp(key, "agreement") == 0) {
            sc->msg.agreement = s_keep(sc, val);
        } else if (strcmp(key, "at") == 0) {
            assert_int_equal(fx_time_parse(val, &sc->at), 0);
        } else {
            fail_msg("unknown patch key %s", key);
        }
    }
}

static fx_policy_t *s_policy(const char *yaml)
{
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    fx_err_t rc =
        fx_policy_load_buffer("test", (const uint8_t *) yaml, strlen(yaml), &policy, &errors);
    for (size_t i = 0; i < fx_policy_errors_count(errors); i++)
        fprintf(stderr, "%s\n", fx_policy_errors_text(errors, i));
    fx_policy_errors_destroy(&errors);
    assert_int_equal(rc, FX_OK);
    return policy;
}

/* Decides the patched scenario; the reason must be one non-empty sentence (returned, or freed
 * when reason_p is NULL). */
static fx_policy_decision_t s_decide(const fx_policy_t *policy, const char *patch, char **reason_p)
{
    scenario_t sc;
    s_scenario(&sc, patch);
    fx_policy_query_t *q = NULL;
    char why[256] = "";
    fx_err_t rc = fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why);
    if (rc != FX_OK)
        fail_msg("query_new(%s): %s", patch, why);
    size_t index = 99;
    assert_int_equal(fx_policy_query_add_recipient(q, &sc.recipient, &index, why, sizeof why),
                     FX_OK);
    assert_int_equal(index, 0);
    fx_policy_decision_t d;
    fx_policy_decide(q, 0, 0, &d);
    char *reason = fx_policy_reason(q, 0, 0, &d);
    assert_non_null(reason);
    size_t len = strlen(reason);
    assert_true(len > 20);
    assert_int_equal(reason[len - 1], '.');
    assert_null(strchr(reason, '\n'));
    if (reason_p)
        *reason_p = reason;
    else
        free(reason);
    fx_policy_query_destroy(&q);
    assert_null(q);
    return d;
}

/* ---- Condition forms: one permit rule with the condition; holds iff allowed by it ----------- */

typedef struct {
    const char *when;
    const char *patch;
    int holds;
} cond_case_t;

static const cond_case_t s_conditions[] = {
    {"{}", "", 1},
    /* single-valued enumerations: value, list, not; absent never holds, not included */
    {"{kind: case_alert}", "", 1},
    {"{kind: referral}", "", 0},
    {"{kind: [referral, case_alert]}", "", 1},
    {"{kind: [referral, notice]}", "", 0},
    {"{kind: {not: referral}}", "", 1},
    {"{kind: {not: [referral, case_alert]}}", "", 0},
    {"{kind: {not: referral}}", "kind=", 0},
    {"{kind: []}", "", 0},
    {"{kind: {not: []}}", "", 1},
    {"{kind: {not: []}}", "kind=", 0},
    {"{audience: direct}", "", 1},
    {"{audience: {not: direct}}", "", 0},
    {"{audience: [route, focal_points]}", "audience=focal_points", 1},
    {"{purpose: investigation}", "", 1},
    {"{purpose: [prevention]}", "", 0},
    {"{purpose: {not: [prevention, training]}}", "", 1},
    {"{purpose: {not: prevention}}", "purpose=", 0},
    {"{purpose: investigation}", "purpose=", 0},
    {"{subject_role: suspect}", "", 1},
    {"{subject_role: {not: victim}}", "subject_role=witness", 1},
    {"{subject_role: {not: victim}}", "subject_role=", 0},
    {"{stage: at_border}", "", 1},
    {"{stage: {not: at_border}}", "stage=post_arrival", 1},
    {"{stage: {not: at_border}}", "stage=", 0},
    {"{stage: [pre_travel, post_arrival]}", "stage=", 0},
    /* tlp: value, list, not, at_least, at_most (clear < green < amber < amber_strict < red) */
    {"{tlp: green}", "", 1},
    {"{tlp: [amber, red]}", "", 0},
    {"{tlp: {not: green}}", "", 0},
    {"{tlp: {not: green}}", "tlp=clear", 1},
    {"{tlp: {at_least: amber}}", "tlp=green", 0},
    {"{tlp: {at_least: amber}}", "tlp=amber", 1},
    {"{tlp: {at_least: amber}}", "tlp=amber_strict", 1},
    {"{tlp: {at_least: amber}}", "tlp=red", 1},
    {"{tlp: {at_least: clear}}", "tlp=clear", 1},
    {"{tlp: {at_least: red}}", "tlp=amber_strict", 0},
    {"{tlp: {at_most: amber}}", "tlp=amber", 1},
    {"{tlp: {at_most: amber}}", "tlp=amber_strict", 0},
    {"{tlp: {at_most: amber}}", "tlp=clear", 1},
    {"{tlp: {at_most: clear}}", "tlp=green", 0},
    {"{tlp: {at_most: red}}", "tlp=red", 1},
    /* categories: value (contains), list (contains any), any_of, all_of, none_of */
    {"{categories: operational}", "", 1},
    {"{categories: minor}", "", 0},
    {"{categories: [minor, operational]}", "", 1},
    {"{categories: {any_of: [minor, health]}}", "cats=minor,location", 1},
    {"{categories: {any_of: [minor, health]}}", "cats=location", 0},
    {"{categories: {all_of: [minor, health]}}", "cats=minor,health,location", 1},
    {"{categories: {all_of: [minor, health]}}", "cats=minor", 0},
    {"{categories: {none_of: [minor, health]}}", "cats=location", 1},
    {"{categories: {none_of: [minor, health]}}", "cats=health", 0},
    {"{categories: {none_of: [minor]}}", "cats=", 1},
    {"{categories: {any_of: [operational]}}", "cats=", 0},
    /* empty lists: any_of [] never, none_of [] always, all_of [] never, a plain [] never */
    {"{categories: {any_of: []}}", "", 0},
    {"{categories: {none_of: []}}", "", 1},
    {"{categories: {all_of: []}}", "", 0},
    {"{categories: {all_of: []}}", "cats=", 0},
    {"{categories: []}", "", 0},
    /* roles */
    {"{sender.roles: police}", "", 1},
    {"{sender.roles: {all_of: [police, focal_point]}}", "", 1},
    {"{sender.roles: {all_of: [police, analyst]}}", "", 0},
    {"{sender.roles: {none_of: [simulated]}}", "", 1},
    {"{recipient.roles: {none_of: [prosecution]}}", "", 1},
    {"{recipient.roles: {any_of: [prosecution]}}", "r.roles=prosecution,focal_point", 1},
    {"{recipient.roles: [ngo, analyst]}", "", 0},
    {"{recipient.roles: {none_of: [police]}}", "r.roles=", 1},
    /* countries, case-insensitively */
    {"{sender.country: THA}", "", 1},
    {"{sender.country: tha}", "", 1},
    {"{sender.country: THA}", "s.country=tha", 1},
    {"{sender.country: [IDN, MYS]}", "", 0},
    {"{sender.country: {not: [IDN]}}", "", 1},
    {"{sender.country: {not: Tha}}", "", 0},
    {"{recipient.country: THA}", "r.country=tha", 1},
    {"{recipient.country: {not: tha}}", "", 0},
    {"{recipient.country: [IDN, MYS]}", "r=MYS.RMP.fp1", 1},
    /* agencies and principal ids, case-sensitively */
    {"{sender.agency: THA.RTP}", "", 1},
    {"{sender.agency: THA.DSI}", "", 0},
    {"{sender.agency: {not: THA.DSI}}", "", 1},
    {"{sender.id: THA.RTP.fp1}", "", 1},
    {"{sender.id: THA.RTP.FP1}", "", 0},
    {"{sender.id: {not: [THA.RTP.fp1]}}", "", 0},
    {"{recipient.agency: [THA.DSI, IDN.POLRI]}", "", 1},
    {"{recipient.agency: {not: [THA.DSI]}}", "r=THA.NEW.fp1", 1},
    {"{recipient.id: THA.DSI.fp2}", "", 0},
    {"{recipient.id: {not: THA.DSI.fp2}}", "", 1},
    {"{recipient.id: [THA.DSI.fp2, THA.DSI.fp1]}", "", 1},
    /* booleans; consent absent is false */
    {"{consent: false}", "", 1},
    {"{consent: true}", "", 0},
    {"{consent: true}", "consent=1", 1},
    {"{consent: false}", "consent=1", 0},
    {"{exercise: false}", "", 1},
    {"{exercise: true}", "", 0},
    {"{exercise: true}", "exercise=EX-1", 1},
    {"{exercise: false}", "exercise=EX-1", 0},
    {"{cross_border: false}", "", 1},
    {"{cross_border: true}", "", 0},
    {"{cross_border: true}", "r=IDN.POLRI.fp1", 1},
    {"{cross_border: false}", "r.country=tha", 1},
    /* route patterns; no route never holds */
    {"{route: \"MMR>**>MYS\"}", "", 1},
    {"{route: \"**\"}", "", 1},
    {"{route: \"**\"}", "route=", 0},
    {"{route: \"MMR>THA\"}", "", 0},
    {"{route: \"**>THA:BKK>**\"}", "", 0},
    {"{route: \"**>THA:BKK>**\"}", "route=MMR>THA:BKK>MYS", 1},
    {"{route: \"**>THA>**\"}", "route=MMR>THA:BKK>MYS", 1},
    {"{route: \"*>tha>*\"}", "route=mmr>tha>mys", 1},
    /* several conditions: all must hold */
    {"{kind: case_alert, tlp: red}", "", 0},
    {"{kind: case_alert, tlp: green, recipient.roles: police, cross_border: false}", "", 1},
    {"{kind: case_alert, recipient.roles: analyst}", "", 0},
};

static void test_condition_forms(void **state)
{
    (void) state;
    int failures = 0;
    for (size_t i = 0; i < sizeof s_conditions / sizeof s_conditions[0]; i++) {
        const cond_case_t *c = &s_conditions[i];
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "fusion_policy: 1\ndefault: forbid\n"
                 "exercises: [{id: EX-1, participants: [THA.RTP, THA.DSI]}]\n"
                 "rules:\n  - id: r\n    effect: permit\n    guideline: g\n    when: %s\n",
                 c->when);
        fx_policy_t *policy = s_policy(yaml);
        fx_policy_decision_t d = s_decide(policy, c->patch, NULL);
        int held = d.allow && d.rule && strcmp(d.rule, "r") == 0;
        if (held != c->holds || (!held && d.code != FX_POLICY_NO_PERMIT)) {
            fprintf(stderr, "case %zu: when %s with '%s': expected %s, got %s\n", i, c->when,
                    c->patch, c->holds ? "holds" : "does not hold", fx_policy_code_name(d.code));
            failures++;
        }
        /* The same condition in a forbid rule forbids exactly when it holds. */
        char *effect = strstr(yaml, "effect: permit");
        memcpy(effect, "effect: forbid", 14);
        fx_policy_destroy(&policy);
        policy = s_policy(yaml);
        d = s_decide(policy, c->patch, NULL);
        if ((d.code == FX_POLICY_FORBIDDEN) != c->holds) {
            fprintf(stderr, "case %zu (forbid): when %s with '%s': got %s\n", i, c->when, c->patch,
                    fx_policy_code_name(d.code));
            failures++;
        }
        fx_policy_destroy(&policy);
    }
    assert_int_equal(failures, 0);
}

/* ---- The six denial codes, their order, agreements, dates, countries, exercises ------------- */

static const char *s_rich =
    "fusion_policy: 1\n"
    "default: forbid\n"
    "protected_categories: [personal_identifiers, victim_identity, minor]\n"
    "countries:\n"
    "  AUS: { protected_categories: [travel_document] }\n"
    "  nzl: { protected_categories: [] }\n"
    "agreements:\n"
    "  - id: A-NARROW\n"
    "    parties: [IDN, THA]\n"
    "    categories: [victim_identity]\n"
    "    purposes: [victim_protection]\n"
    "    from: 2024-06-01\n"
    "    until: 2027-06-01\n"
    "  - id: A-WIDE\n"
    "    parties: [tha, IDN, MYS]\n"
    "    categories: [victim_identity, personal_identifiers, minor]\n"
    "    purposes: [investigation]\n"
    "    from: \"2024-06-01T12:00:00+07:00\"\n"
    "  - id: A-AUS\n"
    "    parties: [AUS, LKA]\n"
    "    categories: [travel_document]\n"
    "    purposes: [border_screening]\n"
    "    until: 2020-01-01\n"
    "taskforces:\n"
    "  - id: TF\n"
    "    members: [THA.RTP, IDN.POLRI, PHL.IACAT.fp1]\n"
    "    from: 2025-01-01\n"
    "    until: 2027-01-01\n"
    "exercises:\n"
    "  - id: EX\n"
    "    participants: [THA.RTP, IDN.POLRI.fp1, LKA.DIE.smpu1]\n"
    "rules:\n"
    "  - id: no-prosecutors\n"
    "    effect: forbid\n"
    "    guideline: \"Non-punishment principle\"\n"
    "    when: { categories: {any_of: [victim_identity]}, recipient.roles: {any_of: "
    "[prosecution]} }\n"
    "  - id: focal\n"
    "    effect: permit\n"
    "    guideline: \"Focal points\"\n"
    "    when: { recipient.roles: focal_point }\n"
    "  - id: no-intel\n"
    "    effect: forbid\n"
    "    guideline: \"Protection of intelligence sources\"\n"
    "    when: { categories: intel_source }\n";

typedef struct {
    const char *patch;
    fx_policy_code_t code;
    const char *rule;      /* NULL: must be absent */
    const char *agreement; /* NULL: must be absent */
    const char *reason;    /* a piece of the reason */
} decision_case_t;

#define ALLOWED FX_POLICY_ALLOWED
#define EXSEG   FX_POLICY_EXERCISE_SEGREGATION
#define TLPAUD  FX_POLICY_TLP_AUDIENCE
#define AUDMIS  FX_POLICY_AUDIENCE_MISMATCH
#define NOAGR   FX_POLICY_NO_AGREEMENT
#define FORBID  FX_POLICY_FORBIDDEN
#define NOPERM  FX_POLICY_NO_PERMIT

#define VICTIM_TO_IDN "r=IDN.POLRI.fp1 cats=victim_identity purpose=victim_protection "

static const decision_case_t s_decisions[] = {
    {"", ALLOWED, "focal", NULL, "guideline \"Focal points\" (rule focal)"},
    /* forbidden: forbid rules come before permit rules whatever their place in the file */
    {"cats=intel_source", FORBID, "no-intel", NULL, "Protection of intelligence sources"},
    {"r.roles=police,prosecution cats=victim_identity", FORBID, "no-prosecutors", NULL,
     "Non-punishment principle"},
    {"r.roles=police", NOPERM, NULL, NULL, "no guideline"},
    /* agreements: the first in file order that covers, unless the message names one */
    {VICTIM_TO_IDN, ALLOWED, "focal", "A-NARROW", "under agreement A-NARROW"},
    {"r=IDN.POLRI.fp1 cats=victim_identity,minor purpose=investigation", ALLOWED, "focal", "A-WIDE",
     "A-WIDE"},
    {"r=IDN.POLRI.fp1 cats=victim_identity,minor purpose=victim_protection", NOAGR, NULL, NULL,
     "differing privacy laws"},
    {"r=IDN.POLRI.fp1 cats=victim_identity,location purpose=investigation", ALLOWED, "focal",
     "A-WIDE", "focal"},
    {"agreement=A-WIDE r=IDN.POLRI.fp1 cats=victim_identity purpose=investigation", ALLOWED,
     "focal", "A-WIDE", "A-WIDE"},
    {"agreement=A-NARROW r=IDN.POLRI.fp1 cats=victim_identity purpose=investigation", NOAGR, NULL,
     NULL, "the cited agreement A-NARROW does not cover the purpose investigation"},
    {"agreement=A-NARROW r=IDN.POLRI.fp1 cats=personal_identifiers purpose=victim_protection",
     NOAGR, NULL, NULL, "does not cover personal identifiers data"},
    {"agreement=A-NARROW r=MYS.RMP.fp1 cats=victim_identity purpose=victim_protection", NOAGR, NULL,
     NULL, "does not list MYS as a party"},
    {"agreement=A-NARROW at=2028-01-01 " VICTIM_TO_IDN, NOAGR, NULL, NULL, "is not in force"},
    {"agreement=NOPE " VICTIM_TO_IDN, NOAGR, NULL, NULL, "NOPE is not in the sharing policy"},
    {"agreement=a-narrow " VICTIM_TO_IDN, NOAGR, NULL, NULL, "not in the sharing policy"},
    {"agreement=A-NARROW", ALLOWED, "focal", NULL, "focal"},
    {"agreement=NOPE cats=location r=IDN.POLRI.fp1", ALLOWED, "focal", NULL, "focal"},
    {"r=IDN.POLRI.fp1 cats=victim_identity purpose=", NOAGR, NULL, NULL, "states no purpose"},
    {"r=VNM.MPS.fp1 cats=victim_identity purpose=victim_protection", NOAGR, NULL, NULL,
     "from THA with VNM"},
    {"r=IDN.POLRI.fp1 cats=location", ALLOWED, "focal", NULL, "focal"},
    {"r=IDN.POLRI.fp1 r.country=idn "
     "cats=victim_identity purpose=victim_protection",
     ALLOWED, "focal", "A-NARROW", "A-NARROW"},
    /* the agreement stays in the answer whatever comes after check 4 */
    {VICTIM_TO_IDN "r.roles=focal_point,prosecution", FORBID, "no-prosecutors", "A-NARROW",
     "Non-punishment"},
    {VICTIM_TO_IDN "r.roles=police", NOPERM, NULL, "A-NARROW", "no guideline"},
    /* dates: from inclusive, until exclusive, compared as instants */
    {"at=2024-06-01 " VICTIM_TO_IDN, ALLOWED, "focal", "A-NARROW", "A-NARROW"},
    {"at=2024-05-31T23:59:59.999Z " VICTIM_TO_IDN, NOAGR, NULL, NULL, "has none"},
    {"at=2024-06-01T06:59:59+07:00 " VICTIM_TO_IDN, NOAGR, NULL, NULL, "has none"},
    {"at=2024-06-01T07:00:00+07:00 " VICTIM_TO_IDN, ALLOWED, "focal", "A-NARROW", "A-NARROW"},
    {"at=2027-05-31T23:59:59Z " VICTIM_TO_IDN, ALLOWED, "focal", "A-NARROW", "A-NARROW"},
    {"at=2027-06-01T06:59:59+07:00 " VICTIM_TO_IDN, ALLOWED, "focal", "A-NARROW", "A-NARROW"},
    {"at=2027-06-01 " VICTIM_TO_IDN, NOAGR, NULL, NULL, "has none"},
    {"at=2027-06-01T00:00:00.001Z " VICTIM_TO_IDN, NOAGR, NULL, NULL, "has none"},
    {"at=2024-06-01T04:59:59Z r=IDN.POLRI.fp1 cats=minor purpose=investigation", NOAGR, NULL, NULL,
     "has none"},
    {"at=2024-06-01T05:00:00Z r=IDN.POLRI.fp1 cats=minor purpose=investigation", ALLOWED, "focal",
     "A-WIDE", "A-WIDE"},
    {"at=2099-01-01 r=IDN.POLRI.fp1 cats=minor purpose=investigation", ALLOWED, "focal", "A-WIDE",
     "A-WIDE"},
    /* per-country protected categories replace the default list for that sender country */
    {"s=AUS.ABF.fp1 r=LKA.DIE.fp1 cats=travel_document purpose=border_screening", NOAGR, NULL, NULL,
     "travel document data from AUS with LKA"},
    {"at=2019-12-31 s=AUS.ABF.fp1 r=LKA.DIE.fp1 cats=travel_document purpose=border_screening",
     ALLOWED, "focal", "A-AUS", "A-AUS"},
    {"s=AUS.ABF.fp1 s.country=aus r=LKA.DIE.fp1 cats=travel_document purpose=border_screening",
     NOAGR, NULL, NULL, "AUS"},
    {"s=AUS.ABF.fp1 r=LKA.DIE.fp1 cats=victim_identity", ALLOWED, "focal", NULL, "focal"},
    {"r=LKA.DIE.fp1 cats=travel_document", ALLOWED, "focal", NULL, "focal"},
    {"s=NZL.POL.fp1 r=THA.RTP.fp2 cats=personal_identifiers,minor", ALLOWED, "focal", NULL,
     "focal"},
    {"s=LKA.DIE.fp1 r=AUS.ABF.fp1 cats=personal_identifiers purpose=border_screening", NOAGR, NULL,
     NULL, "personal identifiers data from LKA with AUS"},
    /* exercise segregation: participants by principal id or agency, both ways */
    {"exercise=EX r=IDN.POLRI.fp1", ALLOWED, "focal", NULL, "focal"},
    {"exercise=EX r=IDN.POLRI.fp2", EXSEG, NULL, NULL,
     "IDN.POLRI.fp2 is not a participant of exercise EX"},
    {"exercise=EX r=THA.RTP.fp9", ALLOWED, "focal", NULL, "focal"},
    {"exercise=EX s=MYS.RMP.fp1 r=IDN.POLRI.fp1", EXSEG, NULL, NULL,
     "the sender MYS.RMP.fp1 is not a participant"},
    {"exercise=NOPE", EXSEG, NULL, NULL, "exercise NOPE is not listed"},
    {"exercise=ex", EXSEG, NULL, NULL, "not listed"},
    {"r.roles=simulated,focal_point", EXSEG, NULL, NULL, "simulated principal"},
    {"s.roles=simulated,focal_point", EXSEG, NULL, NULL, "the sender THA.RTP.fp1 is a simulated"},
    {"exercise=EX r=LKA.DIE.smpu1 r.roles=simulated,focal_point", ALLOWED, "focal", NULL, "focal"},
    {"exercise=EX s=LKA.DIE.smpu1 s.roles=simulated r=IDN.POLRI.fp1", ALLOWED, "focal", NULL,
     "focal"},
    /* check order: exercise, tlp, audience, agreement, forbid, permit */
    {"exercise=NOPE tlp=red audience=route", EXSEG, NULL, NULL, "Exercise segregation"},
    {"tlp=red audience=taskforce", TLPAUD, NULL, NULL, "TLP:RED"},
    {"tlp=amber audience=route", TLPAUD, NULL, NULL, "TLP:AMBER"},
    {"tlp=amber_strict audience=route", TLPAUD, NULL, NULL, "TLP:AMBER+STRICT"},
    {"tlp=red audience=", TLPAUD, NULL, NULL, "names no audience"},
    {"tlp=red", ALLOWED, "focal", NULL, "focal"},
    {"audience=focal_points r.roles=police r=IDN.POLRI.lo1 cats=victim_identity purpose=", AUDMIS,
     NULL, NULL,
     "Under the focal-point guideline (a message to focal points goes only to the "
     "agencies' designated focal points), IDN.POLRI.lo1 does not hold the focal point role"},
    {"cats=victim_identity,intel_source r=VNM.MPS.fp1", NOAGR, NULL, NULL, "privacy laws"},
    /* audience mismatch: taskforce named, listed, in force, sender and recipient members */
    {"audience=taskforce", AUDMIS, NULL, NULL,
     "Under the taskforce guideline (a cross-border "
     "taskforce shares only among its members, as the sharing policy lists them), the message is "
     "addressed to a taskforce but names none"},
    {"audience=taskforce taskforce=NOPE", AUDMIS, NULL, NULL, "NOPE is not listed"},
    {"audience=taskforce taskforce=TF at=2024-12-31T23:59:59Z r=IDN.POLRI.fp1", AUDMIS, NULL, NULL,
     "not in force"},
    {"audience=taskforce taskforce=TF at=2025-01-01 r=IDN.POLRI.fp1", ALLOWED, "focal", NULL,
     "focal"},
    {"audience=taskforce taskforce=TF at=2027-01-01 r=IDN.POLRI.fp1", AUDMIS, NULL, NULL,
     "not in force"},
    {"audience=taskforce taskforce=TF", AUDMIS, NULL, NULL,
     "THA.DSI.fp1 is not a member of taskforce TF"},
    {"audience=taskforce taskforce=TF r=IDN.POLRI.fp9", ALLOWED, "focal", NULL, "focal"},
    {"audience=taskforce taskforce=TF r=PHL.IACAT.fp1", ALLOWED, "focal", NULL, "focal"},
    {"audience=taskforce taskforce=TF r=PHL.IACAT.fp2", AUDMIS, NULL, NULL, "not a member"},
    {"audience=taskforce taskforce=TF s=MYS.RMP.fp1 r=IDN.POLRI.fp1", AUDMIS, NULL, NULL,
     "sender MYS.RMP.fp1 is not a member"},
    {"audience=focal_points r.roles=police", AUDMIS, NULL, NULL, "focal point role"},
    {"audience=focal_points", ALLOWED, "focal", NULL, "focal"},
    {"taskforce=NOPE", ALLOWED, "focal", NULL, "focal"},
};

static void test_decisions(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    int failures = 0;
    for (size_t i = 0; i < sizeof s_decisions / sizeof s_decisions[0]; i++) {
        const decision_case_t *c = &s_decisions[i];
        char *reason = NULL;
        fx_policy_decision_t d = s_decide(policy, c->patch, &reason);
        int ok = d.code == c->code && d.allow == (c->code == FX_POLICY_ALLOWED) &&
                 (c->rule ? d.rule && strcmp(d.rule, c->rule) == 0 : d.rule == NULL) &&
                 (c->agreement ? d.agreement && strcmp(d.agreement, c->agreement) == 0
                               : d.agreement == NULL) &&
                 strstr(reason, c->reason) != NULL;
        if (!ok) {
            fprintf(stderr,
                    "case %zu '%s': expected %s rule %s agreement %s reason ...%s...\n"
                    "  got %s rule %s agreement %s: %s\n",
                    i, c->patch, fx_policy_code_name(c->code), c->rule ? c->rule : "-",
                    c->agreement ? c->agreement : "-", c->reason, fx_policy_code_name(d.code),
                    d.rule ? d.rule : "-", d.agreement ? d.agreement : "-", reason);
            failures++;
        }
        free(reason);
    }
    fx_policy_destroy(&policy);
    assert_int_equal(failures, 0);
}

/* Check 2 for every TLP and audience. */
static void test_tlp_audience_matrix(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    const char *tlps[] = {"clear", "green", "amber", "amber_strict", "red"};
    const char *audiences[] = {"direct", "taskforce taskforce=TF r=IDN.POLRI.fp1", "route",
                               "focal_points", ""};
    for (int t = 0; t < 5; t++) {
        for (int a = 0; a < 5; a++) {
            char patch[128];
            snprintf(patch, sizeof patch, "tlp=%s audience=%s", tlps[t], audiences[a]);
            fx_policy_decision_t d = s_decide(policy, patch, NULL);
            int tlp = t + 1;
            int ok = tlp <= FX_TLP_GREEN || (tlp <= FX_TLP_AMBER_STRICT && a != 2) || a == 0;
            if (ok != (d.code != FX_POLICY_TLP_AUDIENCE))
                fail_msg("tlp=%s audience=%s: %s", tlps[t], audiences[a],
                         fx_policy_code_name(d.code));
            if (ok)
                assert_int_equal(d.code, FX_POLICY_ALLOWED);
        }
    }
    fx_policy_destroy(&policy);
}

static void test_default_permit(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy("fusion_policy: 1\ndefault: permit\n"
                                   "protected_categories: [minor]\n"
                                   "agreements: [{id: A, parties: [THA, IDN], categories: [minor], "
                                   "purposes: [investigation]}]\n"
                                   "rules:\n  - {id: f, effect: forbid, guideline: G, when: "
                                   "{tlp: red}}\n");
    char *reason = NULL;
    fx_policy_decision_t d = s_decide(policy, "", &reason);
    assert_true(d.allow);
    assert_string_equal(d.rule, "default");
    assert_null(d.guideline);
    assert_null(d.agreement);
    assert_non_null(strstr(reason, "permits by default"));
    free(reason);
    d = s_decide(policy, "r=IDN.POLRI.fp1 cats=minor", NULL);
    assert_true(d.allow);
    assert_string_equal(d.rule, "default");
    assert_string_equal(d.agreement, "A");
    d = s_decide(policy, "tlp=red", NULL);
    assert_int_equal(d.code, FX_POLICY_FORBIDDEN);
    assert_string_equal(d.rule, "f");
    assert_string_equal(d.guideline, "G");
    fx_policy_destroy(&policy);
}

/* Many sections and recipients in one query, in any order, match one-pair queries. */
static void test_query_many_pairs(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    fx_policy_section_t sections[3] = {
        {1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL},
        {7, FX_TLP_AMBER, 1u << FX_CATEGORY_VICTIM_IDENTITY},
        {9, FX_TLP_AMBER, 1u << FX_CATEGORY_INTEL_SOURCE},
    };
    scenario_t sc;
    s_scenario(&sc, "purpose=victim_protection");
    sc.msg.sections = sections;
    sc.msg.section_count = 3;
    fx_policy_query_t *q = NULL;
    char why[256];
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_OK);
    fx_policy_principal_t recipients[] = {
        {"IDN.POLRI.fp1", NULL, NULL, 1u << FX_ROLE_FOCAL_POINT},
        {"VNM.MPS.fp1", "VNM", "VNM.MPS", 1u << FX_ROLE_FOCAL_POINT},
        {"THA.RTP.lo1", NULL, NULL, 1u << FX_ROLE_LIAISON_OFFICER},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t index;
        assert_int_equal(fx_policy_query_add_recipient(q, &recipients[i], &index, why, sizeof why),
                         FX_OK);
        assert_int_equal(index, i);
    }
    assert_int_equal(fx_policy_query_recipient_count(q), 3);
    assert_int_equal(fx_policy_query_section_count(q), 3);
    const fx_policy_code_t expect[3][3] = {
        {FX_POLICY_ALLOWED, FX_POLICY_ALLOWED, FX_POLICY_FORBIDDEN},
        {FX_POLICY_ALLOWED, FX_POLICY_NO_AGREEMENT, FX_POLICY_FORBIDDEN},
        {FX_POLICY_NO_PERMIT, FX_POLICY_NO_PERMIT, FX_POLICY_FORBIDDEN},
    };
    for (size_t r = 3; r-- > 0;)
        for (size_t s = 0; s < 3; s++) {
            fx_policy_decision_t d;
            fx_policy_decide(q, r, s, &d);
            assert_int_equal(d.code, expect[r][s]);
        }
    fx_policy_decision_t d;
    fx_policy_decide(q, 0, 1, &d);
    assert_string_equal(d.agreement, "A-NARROW");
    /* Out-of-range indexes fail closed. */
    fx_policy_decide(q, 3, 0, &d);
    assert_false(d.allow);
    fx_policy_decide(q, 0, 3, &d);
    assert_false(d.allow);
    char *reason = fx_policy_reason(q, 9, 9, &d);
    assert_non_null(reason);
    free(reason);
    fx_policy_query_destroy(&q);
    fx_policy_destroy(&policy);
}

static void test_invalid_queries(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    const char *bad[] = {"s=THA.RTP",      "s.country=TH", "s.agency=THA",  "s.id=tha.RTP.x",
                         "route=MMR>>THA", "route=THA:*",  "s.country=T1A", "s.agency=THA.RTP.x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        scenario_t sc;
        s_scenario(&sc, bad[i]);
        fx_policy_query_t *q = NULL;
        char why[256] = "";
        assert_int_equal(
            fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
            FX_ERR_INVALID);
        assert_null(q);
        assert_true(strlen(why) > 10);
    }
    scenario_t sc;
    s_scenario(&sc, "");
    fx_policy_query_t *q = NULL;
    char why[256];
    sc.msg.section_count = 0;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.msg.section_count = FX_POLICY_MAX_SECTIONS + 1;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.msg.section_count = 1;
    sc.msg.kind = 99;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.msg.kind = FX_KIND_REFERRAL;
    sc.section.tlp = 6;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.section.tlp = FX_TLP_GREEN;
    sc.section.categories = 1u << 20;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.section.categories = 1;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.section.categories = 0;
    sc.sender.roles = 1u << 30;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_ERR_INVALID);
    sc.sender.roles = 0;
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_OK);
    fx_policy_principal_t nobody = {"nobody", NULL, NULL, 0};
    assert_int_equal(fx_policy_query_add_recipient(q, &nobody, NULL, why, sizeof why),
                     FX_ERR_INVALID);
    assert_non_null(strstr(why, "recipient"));
    assert_int_equal(fx_policy_query_recipient_count(q), 0);
    fx_policy_query_destroy(&q);
    fx_policy_query_destroy(&q);
    fx_policy_destroy(&policy);
}

static void test_unmarked_section_is_red(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    char *reason = NULL;
    fx_policy_decision_t d = s_decide(policy, "tlp= audience=focal_points", &reason);
    assert_int_equal(d.code, FX_POLICY_TLP_AUDIENCE);
    assert_non_null(strstr(reason, "no TLP marking"));
    free(reason);
    d = s_decide(policy, "tlp=", NULL);
    assert_int_equal(d.code, FX_POLICY_ALLOWED);
    fx_policy_destroy(&policy);
}

/* Names the message brings that the policy does not list are printed safely in reasons. */
static void test_unlisted_names_in_reasons(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy(s_rich);
    scenario_t sc;
    s_scenario(&sc, "");
    sc.msg.exercise = "EX\x01\xff-2026";
    fx_policy_query_t *q = NULL;
    char why[256];
    assert_int_equal(fx_policy_query_new(policy, &sc.sender, &sc.msg, sc.at, &q, why, sizeof why),
                     FX_OK);
    assert_int_equal(fx_policy_query_add_recipient(q, &sc.recipient, NULL, why, sizeof why), FX_OK);
    fx_policy_decision_t d;
    fx_policy_decide(q, 0, 0, &d);
    assert_int_equal(d.code, FX_POLICY_EXERCISE_SEGREGATION);
    char *reason = fx_policy_reason(q, 0, 0, &d);
    assert_non_null(strstr(reason, "exercise EX?"
                                   "?-2026 is not listed"));
    free(reason);
    fx_policy_query_destroy(&q);
    fx_policy_destroy(&policy);
}

static void test_code_names(void **state)
{
    (void) state;
    const char *names[] = {"allowed",           "exercise_segregation", "tlp_audience",
                           "audience_mismatch", "no_agreement",         "forbidden",
                           "no_permit"};
    for (int c = FX_POLICY_ALLOWED; c <= FX_POLICY_NO_PERMIT; c++)
        assert_string_equal(fx_policy_code_name((fx_policy_code_t) c), names[c]);
    assert_string_equal(fx_policy_code_name((fx_policy_code_t) 42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_condition_forms),           cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_tlp_audience_matrix),       cmocka_unit_test(test_default_permit),
        cmocka_unit_test(test_query_many_pairs),          cmocka_unit_test(test_invalid_queries),
        cmocka_unit_test(test_unmarked_section_is_red),   cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_unlisted_names_in_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
