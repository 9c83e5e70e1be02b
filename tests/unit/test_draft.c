/* Drafts: every header field, the three kinds of section content, JSON drafts, every error with
 * its line:column, sections labelled below what their content implies, and the outbox form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/content.h"
#include "fusion/draft.h"
#include "fusion/envelope.h"
#include "fusion/vocab.h"
#include "testutil.h"

/* 2026-11-28T00:00:00Z */
#define NOW 1795824000000LL
#define DAY (24 * 3600 * 1000LL)

static fx_draft_t *s_parse_ok(const char *text, const char *base_dir)
{
    fx_diag_t *diag = fx_diag_new("draft.yaml");
    fx_draft_t *draft = NULL;
    fx_err_t rc = fx_draft_parse((const uint8_t *) text, strlen(text), base_dir, NOW, diag, &draft);
    if (rc != FX_OK)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_int_equal(rc, FX_OK);
    assert_int_equal(fx_diag_count(diag), 0);
    fx_diag_destroy(&diag);
    return draft;
}

static fx_draft_t *s_load_ok(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/drafts/%s", tu_data_dir(), name);
    fx_diag_t *diag = fx_diag_new(path);
    fx_draft_t *draft = NULL;
    fx_err_t rc = fx_draft_load(path, NOW, diag, &draft);
    if (rc != FX_OK)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_int_equal(rc, FX_OK);
    fx_diag_destroy(&diag);
    return draft;
}

static void s_expect_error(const char *text, const char *expected);
static int s_failures;

static Fusion__SectionContent *s_content(const fx_draft_t *draft, size_t i)
{
    size_t len = 0;
    const uint8_t *plain = fx_draft_section_plaintext(draft, i, &len);
    Fusion__SectionContent *content = NULL;
    assert_int_equal(fx_content_decode(plain, len, &content), FX_OK);
    return content;
}

#define CAT(c) (1u << FX_CATEGORY_##c)

static void test_route_alert_every_field(void **state)
{
    (void) state;
    fx_draft_t *draft = s_load_ok("route-alert.yaml");
    const Fusion__Header *h = fx_draft_header(draft);
    assert_int_equal(h->kind, FX_KIND_CASE_ALERT);
    assert_int_equal(h->audience, FX_AUDIENCE_ROUTE);
    assert_string_equal(h->route, "MMR>THA>MYS"); /* normalised */
    assert_int_equal(h->stage, FX_STAGE_AT_BORDER);
    assert_int_equal(h->purpose, FX_PURPOSE_INVESTIGATION);
    assert_int_equal(h->subject_role, FX_SUBJECT_SUSPECT);
    assert_int_equal(h->urgency, FX_URGENCY_URGENT);
    assert_int_equal(h->n_handling, 1);
    assert_int_equal(h->handling[0], FX_HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT);
    assert_string_equal(h->case_ref, "RTP-2026-0113");
    assert_int_equal(h->expires_at, NOW + 3 * DAY);
    assert_int_equal(h->created_at, 0);
    assert_int_equal(h->msg_id.len, 0);
    assert_int_equal(fx_draft_recipient_count(draft), 0);
    assert_int_equal(fx_draft_section_count(draft), 2);
    assert_int_equal(fx_draft_section_id(draft, 0), 1);
    assert_int_equal(fx_draft_section_tlp(draft, 0), FX_TLP_GREEN);
    assert_int_equal(fx_draft_section_categories(draft, 0), CAT(OPERATIONAL) | CAT(LOCATION));
    assert_int_equal(fx_draft_section_tlp(draft, 1), FX_TLP_AMBER);
    assert_int_equal(fx_draft_section_categories(draft, 1),
                     CAT(OPERATIONAL) | CAT(PERSONAL_IDENTIFIERS) | CAT(TRAVEL_DOCUMENT));

    Fusion__SectionContent *c = s_content(draft, 0);
    assert_int_equal(c->body_case, FUSION__SECTION_CONTENT__BODY_CASE_ALERT);
    const Fusion__CaseAlert *a = c->case_alert;
    assert_non_null(strstr(a->summary, "Myawaddy to Mae Sot,\nthen by bus"));
    assert_int_equal(a->n_indicators, 2);
    assert_int_equal(a->n_conveyances, 1);
    assert_string_equal(a->conveyances[0]->identifier, "white Toyota Hiace");
    assert_string_equal(a->location, "Mae Sot bus station");
    assert_int_equal(a->window_start, NOW);
    assert_int_equal(a->window_end, NOW + 7 * DAY + 18 * 3600 * 1000LL);
    assert_int_equal(a->grading->source_reliability, 2);
    assert_int_equal(a->grading->information_accuracy, 2);
    fx_content_free(&c);

    c = s_content(draft, 1);
    a = c->case_alert;
    assert_int_equal(a->n_persons, 1);
    assert_int_equal(a->persons[0]->role, FX_SUBJECT_SUSPECT);
    assert_string_equal(a->persons[0]->name, "Example Person");
    assert_string_equal(a->persons[0]->date_of_birth, "1984-03-02");
    assert_string_equal(a->persons[0]->nationality, "MMR"); /* upper-cased */
    assert_string_equal(a->persons[0]->identifiers[0], "MMR-NRC-12/ABC(N)123456");
    assert_string_equal(a->documents[0]->number, "MA0000000");
    assert_string_equal(a->documents[0]->expiry, "2030-01-31");
    fx_content_free(&c);
    fx_draft_destroy(&draft);
    assert_null(draft);
    fx_draft_destroy(&draft);
}

static void test_json_referral(void **state)
{
    (void) state;
    fx_draft_t *draft = s_load_ok("referral.json");
    const Fusion__Header *h = fx_draft_header(draft);
    assert_int_equal(h->kind, FX_KIND_REFERRAL);
    assert_int_equal(h->audience, FX_AUDIENCE_DIRECT);
    assert_int_equal(fx_draft_recipient_count(draft), 1);
    assert_string_equal(fx_draft_recipients(draft)[0], "IDN.POLRI");
    assert_true(h->consent);
    assert_string_equal(h->agreement, "IDN-THA-NRM-2024");
    assert_string_equal(h->taskforce, ""); /* null means none */
    assert_int_equal(h->urgency, FX_URGENCY_NORMAL);
    assert_int_equal(h->n_handling, 1);
    assert_int_equal(h->expires_at, NOW + FX_ENVELOPE_DEFAULT_TTL_MS);
    assert_int_equal(fx_draft_section_tlp(draft, 1), FX_TLP_RED);
    Fusion__SectionContent *c = s_content(draft, 0);
    assert_int_equal(c->body_case, FUSION__SECTION_CONTENT__BODY_TEXT);
    fx_content_free(&c);
    c = s_content(draft, 1);
    assert_int_equal(c->body_case, FUSION__SECTION_CONTENT__BODY_REFERRAL);
    assert_int_equal(c->referral->reflection_period_days, 30);
    assert_true(c->referral->consent_recorded);
    assert_int_equal(c->referral->persons[0]->age, 24);
    assert_int_equal(c->referral->n_screening_indicators, 2);
    fx_content_free(&c);
    fx_draft_destroy(&draft);
}

/* A JSON draft as Python's json.dumps writes it: every character above U+FFFF is an escaped
 * surrogate pair, which reads as the character; an error after one is at its place as written;
 * half a pair is refused at its line:column. */
static void test_json_surrogate_pairs(void **state)
{
    (void) state;
    const char *text =
        "{\"kind\": \"case_alert\", \"audience\": \"focal_points\", \"sections\": [{\"id\": 1, "
        "\"tlp\": \"green\", \"content\": {\"case_alert\": {\"summary\": \"van \\ud83d\\ude90 to "
        "the border\", \"indicators\": [\"\\ud83d\\ude90\\ud83d\\ude90\"]}}}]}";
    fx_draft_t *draft = s_parse_ok(text, NULL);
    Fusion__SectionContent *c = s_content(draft, 0);
    assert_string_equal(c->case_alert->summary, "van \xf0\x9f\x9a\x90 to the border");
    assert_string_equal(c->case_alert->indicators[0], "\xf0\x9f\x9a\x90\xf0\x9f\x9a\x90");
    fx_content_free(&c);
    fx_draft_destroy(&draft);

    s_expect_error("{\"case_ref\": \"\\ud83d\\ude90\", \"stage\": \"arrival\"}",
                   "draft.yaml:1:39: unknown stage 'arrival'");
    s_expect_error("{\"case_ref\": \"a\",\n \"stage\": \"x\\ude90\\ud83d\"}",
                   "draft.yaml:2:13: the escape \\ude90 is half of a surrogate pair");
    /* In a YAML draft a pair is no character: named, with what to write instead. */
    s_expect_error("kind: case_alert\ncase_ref: \"van \\ud83d\\ude90\"\n",
                   "draft.yaml:2:16: the escape \\ud83d\\ude90 is a UTF-16 surrogate pair, which "
                   "YAML does not read (a JSON file may use one; this file is YAML): write the "
                   "character itself or \\U0001F690");
    assert_int_equal(s_failures, 0);
}

/* A key longer than YAML allows (a ': ' far into a long text) is named at its line:column,
 * not with libyaml's "could not find expected ':'". */
static void test_long_key(void **state)
{
    (void) state;
    static char text[1400];
    int n = snprintf(text, sizeof text, "kind: case_alert\nsections:\n  - id: 1\n    ");
    memset(text + n, 'x', 1100);
    snprintf(text + n + 1100, sizeof text - (size_t) n - 1100, ": 1\n");
    s_expect_error(text, "draft.yaml:4:5: a key longer than 1024 characters: 1100 from here to its "
                         "':' at line 4, column 1105");
    assert_int_equal(s_failures, 0);
}

static void test_file_section_and_response(void **state)
{
    (void) state;
    fx_draft_t *draft = s_load_ok("notice.yaml");
    assert_int_equal(fx_draft_header(draft)->audience, FX_AUDIENCE_FOCAL_POINTS);
    Fusion__SectionContent *c = s_content(draft, 0);
    assert_int_equal(c->body_case, FUSION__SECTION_CONTENT__BODY_TEXT);
    assert_non_null(strstr(c->text, "3 December"));
    assert_non_null(strstr(c->text, "\nAgenda"));
    fx_content_free(&c);
    fx_draft_destroy(&draft);

    draft = s_load_ok("response.yaml");
    const Fusion__Header *h = fx_draft_header(draft);
    assert_int_equal(h->in_reply_to.len, FX_MSG_ID_BYTES);
    assert_int_equal(h->in_reply_to.data[0], 0x00);
    assert_int_equal(h->in_reply_to.data[14], 0xee);
    assert_int_equal(h->in_reply_to.data[15], 0xff);
    c = s_content(draft, 0);
    assert_int_equal(c->referral_response->status, FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED);
    /* The status is signed into the header too, for the broker to track the referral. */
    assert_int_equal(h->response_status, FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED);
    fx_content_free(&c);
    fx_draft_destroy(&draft);
}

static void test_remaining_fields(void **state)
{
    (void) state;
    fx_draft_t *draft = s_parse_ok("kind: case_alert\n"
                                   "audience: taskforce\n"
                                   "taskforce: OP-MEKONG-SCAM\n"
                                   "exercise: EX-2026-11\n"
                                   "consent: false\n"
                                   "expires: 2026-12-01T12:00:00Z\n"
                                   "handling: [crime_prevention_only, "
                                   "no_judicial_use_without_consent]\n"
                                   "sections:\n"
                                   "  - id: 7\n"
                                   "    tlp: clear\n"
                                   "    categories: statistical\n"
                                   "    text: 42 groups screened in November\n"
                                   "  - id: 9\n"
                                   "    tlp: amber_strict\n"
                                   "    categories: [operational, minor, victim_identity, "
                                   "health, biometric, personal_identifiers]\n"
                                   "    content:\n"
                                   "      case_alert:\n"
                                   "        summary: A child travelling alone\n"
                                   "        persons:\n"
                                   "          - {role: victim, date_of_birth: 2012-05-01, "
                                   "health_notes: asthma, biometric_ref: FP-123}\n",
                                   NULL);
    const Fusion__Header *h = fx_draft_header(draft);
    assert_string_equal(h->taskforce, "OP-MEKONG-SCAM");
    assert_string_equal(h->exercise, "EX-2026-11");
    assert_false(h->consent);
    assert_int_equal(h->expires_at, NOW + 3 * DAY + 12 * 3600 * 1000LL);
    assert_int_equal(h->n_handling, 2);
    assert_int_equal(fx_draft_section_id(draft, 0), 7);
    assert_int_equal(fx_draft_section_tlp(draft, 1), FX_TLP_AMBER_STRICT);
    Fusion__SectionContent *c = s_content(draft, 1);
    assert_int_equal(c->case_alert->persons[0]->biometric_ref.len, 6);
    fx_content_free(&c);
    fx_draft_destroy(&draft);

    draft = s_parse_ok("kind: alert_feedback\naudience: direct\nrecipients: [THA.RTP.fp1]\n"
                       "sections:\n  - id: 1\n    tlp: green\n    categories: [operational, "
                       "location]\n    content:\n      alert_feedback: {observation: seen, "
                       "location: Sadao, observed_at: 2026-11-27}\n",
                       NULL);
    fx_draft_destroy(&draft);
    draft = s_parse_ok("kind: referral\naudience: focal_points\nsections:\n  - id: 1\n"
                       "    tlp: green\n    categories: operational\n    content:\n"
                       "      notice: {text: a notice fits any kind}\n",
                       NULL);
    fx_draft_destroy(&draft);
}

/* ---- Errors ------------------------------------------------------------------------------- */

static const char *const s_base = "kind: case_alert\naudience: focal_points\n";
static const char *const s_section = "sections:\n  - {id: 1, tlp: green, categories: "
                                     "operational, text: hello}\n";

typedef struct {
    const char *text;
    const char *expected; /* in the first diagnostic, with draft.yaml:LINE:COLUMN: */
} bad_case_t;

/* Checks one bad draft; a mismatch is printed and counted, so one run shows every mismatch. */
static void s_expect_error(const char *text, const char *expected)
{
    fx_diag_t *diag = fx_diag_new("draft.yaml");
    fx_draft_t *draft = NULL;
    fx_err_t rc =
        fx_draft_parse((const uint8_t *) text, strlen(text), "/nonexistent-dir", NOW, diag, &draft);
    int found = 0;
    for (size_t i = 0; i < fx_diag_count(diag) && !found; i++)
        found = strstr(fx_diag_text(diag, i), expected) != NULL;
    if (rc != FX_ERR_INVALID || !found || draft) {
        fprintf(stderr, "draft:\n%s\nexpected: %s\ngot:\n", text, expected);
        fx_diag_print(diag, stderr, "  ");
        s_failures++;
    }
    fx_draft_destroy(&draft);
    fx_diag_destroy(&diag);
}

static void test_header_errors(void **state)
{
    (void) state;
    char text[2048];
    const bad_case_t cases[] = {
        {"kindd: case_alert\n", "draft.yaml:1:1: unknown key 'kindd' in the draft"},
        {"kind: alert\n", "draft.yaml:1:7: unknown kind 'alert' (expected one of: case_alert"},
        {"kind: Case_Alert\n", "draft.yaml:1:7: unknown kind 'Case_Alert': enumeration words "
                               "are lower case"},
        {"audience: route\nroute: MMR>THA\n", "draft.yaml:1:1: the draft needs 'kind'"},
        {"kind: case_alert\n", "draft.yaml:1:1: the draft needs 'audience'"},
        {"kind: case_alert\naudience: direct\n", "draft.yaml:1:1: the draft needs 'sections'"},
        {"- kind\n", "draft.yaml:1:1: the draft must be a mapping, found a list"},
        {"kind: case_alert\nkind: notice\n", "draft.yaml:2:1: duplicate key 'kind'"},
        {"kind: case_alert\naudience: route\nroute: MMR>>THA\n",
         "draft.yaml:3:8: invalid route: hop 2"},
        {"kind: case_alert\naudience: route\n", "draft.yaml:2:11: audience route needs a 'route'"},
        {"kind: case_alert\naudience: direct\n",
         "draft.yaml:2:11: audience direct needs 'recipients'"},
        {"kind: case_alert\naudience: direct\nrecipients: []\n",
         "draft.yaml:3:13: recipients is empty"},
        {"kind: case_alert\naudience: taskforce\n",
         "draft.yaml:2:11: audience taskforce needs a 'taskforce'"},
        {"kind: case_alert\naudience: taskforce\ntaskforce: \"\"\n",
         "draft.yaml:2:11: audience taskforce needs a 'taskforce'"},
        {"kind: case_alert\naudience: focal_points\nrecipients: [THA.RTP.fp1]\n",
         "draft.yaml:3:13: recipients are only for audience direct"},
        /* A taskforce decides nothing outside audience taskforce: named recipients and a
         * taskforce are two audiences, and the draft must pick one. */
        {"kind: case_alert\naudience: direct\nrecipients: [MYS.RMP.fp1]\ntaskforce: "
         "OP-MEKONG-SCAM\n",
         "draft.yaml:4:12: a taskforce is only for audience taskforce (its members receive the "
         "message), but this draft's audience is direct (the recipients named): pick one"},
        {"kind: case_alert\naudience: route\nroute: MMR>THA\ntaskforce: OP-MEKONG-SCAM\n",
         "draft.yaml:4:12: a taskforce is only for audience taskforce (its members receive the "
         "message), but this draft's audience is route (everyone following the route)"},
        {"kind: case_alert\naudience: direct\nrecipients: [THA.RTP.fp1, thailand]\n",
         "draft.yaml:3:27: recipient 'thailand' is neither a principal id"},
        {"kind: case_alert\naudience: direct\nrecipients: [THA.RTP, THA.RTP]\n",
         "draft.yaml:3:23: recipient 'THA.RTP' is listed twice"},
        {"kind: referral_response\naudience: focal_points\n",
         "draft.yaml:1:7: a referral_response needs 'in_reply_to'"},
        {"in_reply_to: 0011\n", "draft.yaml:1:14: in_reply_to must be a msg_id: 32 hexadecimal"},
        {"expires: soon\n", "draft.yaml:1:10: expires must be a duration such as 12h or 7d"},
        {"expires: 2020-01-01\n", "draft.yaml:1:10: expires is in the past"},
        {"expires: 400d\n", "draft.yaml:1:10: expires is more than 366 days ahead"},
        {"consent: yes\n", "draft.yaml:1:10: consent must be true or false, found 'yes'"},
        {"handling: [crime_prevention_only, never]\n", "draft.yaml:1:35: unknown handling 'never'"},
        {"stage: arrival\n", "draft.yaml:1:8: unknown stage 'arrival'"},
        {"purpose: curiosity\n", "draft.yaml:1:10: unknown purpose 'curiosity'"},
        {"subject_role: smuggler\n", "draft.yaml:1:15: unknown subject role 'smuggler'"},
        {"urgency: asap\n", "draft.yaml:1:10: unknown urgency 'asap'"},
        {"case_ref: \"a\\u0007b\"\n", "draft.yaml:1:11: case_ref contains a control character"},
        {"exercise: [EX-1]\n", "draft.yaml:1:11: exercise must be a single value, found a list"},
        {"sections: {id: 1}\n", "draft.yaml:1:11: sections must be a list, found a mapping"},
        {"sections: []\n", "draft.yaml:1:11: a message needs at least one section"},
        {"{\"kind\": \"case_alert\",\n \"audience\": \"route\" \"route\": \"x\"}\n",
         "draft.yaml:2:22: YAML syntax error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_expect_error(cases[i].text, cases[i].expected);
    /* Cases that need a valid head and a valid section around the error. */
    snprintf(text, sizeof text, "kind: case_alert\naudience: focal_points\n%s", s_section);
    fx_draft_t *draft = s_parse_ok(text, NULL);
    fx_draft_destroy(&draft);
    snprintf(text, sizeof text, "%s%s", s_base, "sections:\n");
    for (int i = 0; i < 17; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "  - {id: %d, tlp: green, categories: operational, text: t}\n", i + 1);
    s_expect_error(text, "draft.yaml:4:3: a message has at most 16 sections");
    assert_int_equal(s_failures, 0);
}

static void test_section_errors(void **state)
{
    (void) state;
    const bad_case_t cases[] = {
        {"sections:\n  - {tlp: green, categories: operational, text: a}\n",
         "draft.yaml:4:6: section 1 needs 'id'"},
        {"sections:\n  - {id: 0, tlp: green, categories: operational, text: a}\n",
         "draft.yaml:4:10: a section id must be a whole number from 1 to 255, found '0'"},
        {"sections:\n  - {id: 2, categories: operational, text: a}\n",
         "draft.yaml:4:6: section 2 needs 'tlp'"},
        {"sections:\n  - {id: 2, tlp: white, categories: operational, text: a}\n",
         "draft.yaml:4:18: unknown TLP 'white'"},
        {"sections:\n  - {id: 2, tlp: green, text: a}\n",
         "draft.yaml:4:6: section 2 needs 'categories'"},
        {"sections:\n  - {id: 2, tlp: green, categories: [], text: a}\n",
         "draft.yaml:4:37: section 2 needs at least one category"},
        {"sections:\n  - {id: 2, tlp: green, categories: [operational, names], text: a}\n",
         "draft.yaml:4:51: unknown category 'names'"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational}\n",
         "draft.yaml:4:6: section 2 needs exactly one of 'text', 'file' or 'content'"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational, text: a, file: b}\n",
         "draft.yaml:4:6: section 2 needs exactly one of"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational, txt: a}\n",
         "draft.yaml:4:50: unknown key 'txt' in section 1"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational, text: a}\n"
         "  - {id: 2, tlp: green, categories: operational, text: b}\n",
         "draft.yaml:5:6: section id 2 is used twice"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational, file: missing.txt}\n",
         "draft.yaml:4:56: file /nonexistent-dir/missing.txt: no such file"},
        {"sections:\n  - {id: 2, tlp: green, categories: operational, text: \"a\\u001bb\"}\n",
         "draft.yaml:4:56: text contains a control character"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      case_alert: {summary: s}\n      notice: {text: t}\n",
         "draft.yaml:8:7: content must hold exactly one of"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      referral: {reason: r}\n",
         "draft.yaml:8:7: section 3 holds a referral, which does not belong in a message of "
         "kind case_alert"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      case_alert: {modus_operandi: m}\n",
         "draft.yaml:8:20: a case_alert needs 'summary'"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      case_alert: {summary: \"  \"}\n",
         "draft.yaml:8:29: 'summary' of a case_alert is empty"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      case_alert: {summary: \"\"}\n",
         "draft.yaml:8:29: 'summary' of a case_alert is empty"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: operational\n    content:\n"
         "      case_alert: {summary: s, victims: 3}\n",
         "draft.yaml:8:32: unknown key 'victims' in case_alert"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational, "
         "personal_identifiers]\n    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {role: smuggler, name: X}\n",
         "draft.yaml:11:20: unknown subject role 'smuggler'"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {nationality: Thai}\n",
         "draft.yaml:11:27: nationality must be a country code of three letters"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational, "
         "personal_identifiers]\n    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {date_of_birth: 1990-02-30}\n",
         "draft.yaml:11:29: date_of_birth must be a date YYYY-MM-DD, found '1990-02-30'"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational, "
         "personal_identifiers]\n    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {date_of_birth: 2030-01-01}\n",
         "draft.yaml:11:29: date_of_birth is in the future"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {age: 151}\n",
         "draft.yaml:11:19: age must be a whole number from 0 to 150"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        persons:\n          - {age: -1}\n",
         "draft.yaml:11:19: age must be a whole number from 0 to 150"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        grading: {source_reliability: D}\n",
         "draft.yaml:10:39: source_reliability must be A (completely reliable)"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        grading: {information_accuracy: 5}\n",
         "draft.yaml:10:41: information_accuracy must be a whole number from 1 to 4"},
        {"sections:\n  - id: 3\n    tlp: green\n    categories: [operational]\n"
         "    content:\n      case_alert:\n        summary: s\n"
         "        window_start: 2026-12-02\n        window_end: 2026-12-01\n",
         "draft.yaml:11:21: window_end is before window_start"},
    };
    char text[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s%s", s_base, cases[i].text);
        s_expect_error(text, cases[i].expected);
    }
    const bad_case_t responses[] = {
        {"      referral_response: {status: maybe}\n", "draft.yaml:10:35: unknown status 'maybe'"},
        {"      referral_response: {status: declined}\n",
         "draft.yaml:10:27: a referral_response that is declined needs a 'reason'"},
        {"      referral_response: {status: closed}\n",
         "draft.yaml:10:27: a closed referral_response needs an 'outcome'"},
    };
    for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
        snprintf(text, sizeof text,
                 "kind: referral_response\naudience: direct\nrecipients: [THA.RTP.fp1]\n"
                 "in_reply_to: 00112233445566778899aabbccddeeff\nsections:\n  - id: 1\n"
                 "    tlp: green\n    categories: operational\n    content:\n%s",
                 responses[i].text);
        s_expect_error(text, responses[i].expected);
    }
    /* An observation dated more than a few minutes ahead of the clock was not made yet. */
    s_expect_error("kind: alert_feedback\naudience: direct\nrecipients: [THA.RTP.fp1]\n"
                   "sections:\n  - id: 1\n    tlp: green\n    categories: operational\n"
                   "    content:\n      alert_feedback: {observation: seen, "
                   "observed_at: 2030-01-01}\n",
                   "draft.yaml:9:56: observed_at is in the future");
    assert_int_equal(s_failures, 0);
}

static void test_under_labelled_refused(void **state)
{
    (void) state;
    char text[2048];
    /* A suspect's name and passport number, labelled operational only. */
    snprintf(text, sizeof text,
             "%ssections:\n  - id: 4\n    tlp: amber\n    categories: operational\n"
             "    content:\n      case_alert:\n        summary: s\n"
             "        persons: [{role: suspect, name: A Name}]\n"
             "        documents: [{type: passport, number: X1}]\n",
             s_base);
    s_expect_error(text, "draft.yaml:6:17: section 4 is labelled operational, but its content "
                         "also carries personal_identifiers, travel_document: add them to its "
                         "categories");
    /* A child victim by age, with no name: victim_identity and minor are missing. */
    snprintf(text, sizeof text,
             "kind: referral\naudience: direct\nrecipients: [IDN.POLRI]\nsections:\n"
             "  - id: 1\n    tlp: red\n    categories: [operational, personal_identifiers]\n"
             "    content:\n      referral:\n        reason: r\n"
             "        persons: [{role: victim, age: 15}]\n");
    s_expect_error(text, "draft.yaml:7:17: section 1 is labelled operational, "
                         "personal_identifiers, but its content also carries victim_identity, "
                         "minor: add them");
    /* An intelligence source and a location under a statistical label. */
    snprintf(text, sizeof text,
             "%ssections:\n  - id: 1\n    tlp: green\n    categories: [statistical]\n"
             "    content:\n      case_alert: {summary: s, location: Mae Sot, intel_source: "
             "informant}\n",
             s_base);
    s_expect_error(text, "also carries operational, location, intel_source: add them");
    /* Health notes alone. */
    snprintf(text, sizeof text,
             "%ssections:\n  - id: 1\n    tlp: green\n    categories: [operational]\n"
             "    content:\n      case_alert: {summary: s, persons: [{health_notes: "
             "injured}]}\n",
             s_base);
    s_expect_error(text, "also carries health: add it to its categories");
    /* Labelled exactly: accepted. */
    snprintf(text, sizeof text,
             "%ssections:\n  - id: 1\n    tlp: green\n    categories: [operational, "
             "health]\n    content:\n      case_alert: {summary: s, persons: [{health_notes: "
             "injured}]}\n",
             s_base);
    assert_int_equal(s_failures, 0);
    fx_draft_t *draft = s_parse_ok(text, NULL);
    fx_draft_destroy(&draft);
}

/* Structured content without categories is labelled with what its fields imply; free text
 * without categories is refused (nothing can be derived from it). */
static void test_categories_derived(void **state)
{
    (void) state;
    char text[2048];
    snprintf(text, sizeof text,
             "kind: referral\naudience: direct\nrecipients: [IDN.POLRI]\nsections:\n"
             "  - id: 1\n    tlp: red\n    content:\n      referral:\n        reason: r\n"
             "        location: Bangkok\n        persons: [{role: victim, name: A, age: 15}]\n"
             "  - id: 2\n    tlp: green\n    content: {notice: {text: hello}}\n");
    fx_draft_t *draft = s_parse_ok(text, NULL);
    assert_int_equal(fx_draft_section_categories(draft, 0),
                     CAT(OPERATIONAL) | CAT(PERSONAL_IDENTIFIERS) | CAT(VICTIM_IDENTITY) |
                         CAT(MINOR) | CAT(LOCATION));
    /* A notice implies nothing: it is operational. */
    assert_int_equal(fx_draft_section_categories(draft, 1), CAT(OPERATIONAL));
    const Fusion__Header *h = fx_draft_header(draft);
    assert_int_equal(h->sections[0]->n_categories, 5);
    fx_draft_destroy(&draft);
    /* An infant under one year (age 0) is recorded, and is a minor. */
    snprintf(text, sizeof text,
             "kind: referral\naudience: direct\nrecipients: [IDN.POLRI]\nsections:\n"
             "  - id: 1\n    tlp: red\n    content:\n      referral:\n        reason: r\n"
             "        persons: [{role: victim, age: 0}]\n");
    draft = s_parse_ok(text, NULL);
    assert_int_equal(fx_draft_section_categories(draft, 0),
                     CAT(OPERATIONAL) | CAT(VICTIM_IDENTITY) | CAT(MINOR));
    size_t len = 0;
    const uint8_t *plain = fx_draft_section_plaintext(draft, 0, &len);
    Fusion__SectionContent *content = NULL;
    assert_int_equal(fx_content_decode(plain, len, &content), FX_OK);
    assert_int_equal(content->referral->persons[0]->age_given_case, FUSION__PERSON__AGE_GIVEN_AGE);
    assert_int_equal(content->referral->persons[0]->age, 0);
    fx_content_free(&content);
    fx_draft_destroy(&draft);
    snprintf(text, sizeof text, "%ssections:\n  - {id: 3, tlp: green, text: a}\n", s_base);
    s_expect_error(text, "draft.yaml:4:6: section 3 needs 'categories' (it is free text");
    assert_int_equal(s_failures, 0);
}

static void test_serialize_round_trip(void **state)
{
    (void) state;
    fx_draft_t *draft = s_load_ok("referral.json");
    uint8_t *data = NULL;
    size_t len = 0;
    fx_draft_serialize(draft, &data, &len);
    fx_draft_t *back = NULL;
    assert_int_equal(fx_draft_deserialize(data, len, &back), FX_OK);
    assert_int_equal(fx_draft_section_count(back), 2);
    assert_int_equal(fx_draft_recipient_count(back), 1);
    assert_string_equal(fx_draft_recipients(back)[0], "IDN.POLRI");
    assert_int_equal(fx_draft_header(back)->expires_at, fx_draft_header(draft)->expires_at);
    for (size_t i = 0; i < 2; i++) {
        size_t a_len, b_len;
        const uint8_t *a = fx_draft_section_plaintext(draft, i, &a_len);
        const uint8_t *b = fx_draft_section_plaintext(back, i, &b_len);
        assert_int_equal(a_len, b_len);
        assert_memory_equal(a, b, a_len);
        assert_int_equal(fx_draft_section_categories(draft, i),
                         fx_draft_section_categories(back, i));
    }
    fx_draft_destroy(&back);
    /* Truncated, extended, or altered in its magic: refused. */
    assert_int_equal(fx_draft_deserialize(data, len - 1, &back), FX_ERR_MALFORMED);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, data, len);
    longer[len] = 0;
    assert_int_equal(fx_draft_deserialize(longer, len + 1, &back), FX_ERR_MALFORMED);
    longer[0] ^= 1;
    assert_int_equal(fx_draft_deserialize(longer, len, &back), FX_ERR_MALFORMED);
    assert_int_equal(fx_draft_deserialize(NULL, 0, &back), FX_ERR_MALFORMED);
    for (size_t cut = 0; cut < len; cut += 7)
        assert_int_equal(fx_draft_deserialize(data, cut, &back), FX_ERR_MALFORMED);
    assert_null(back);
    free(longer);
    free(data);
    fx_draft_destroy(&draft);
}

static void test_missing_file(void **state)
{
    (void) state;
    fx_diag_t *diag = fx_diag_new("nothing.yaml");
    fx_draft_t *draft = NULL;
    assert_int_equal(fx_draft_load("/nonexistent/nothing.yaml", NOW, diag, &draft), FX_ERR_INVALID);
    assert_string_equal(fx_diag_text(diag, 0), "nothing.yaml: no such file");
    fx_diag_destroy(&diag);
}

/* The size limits (docs/drafts.md) are stated in the errors, with the size found: a draft file
 * of at most 1 MiB, a text value of at most 64 KiB, a section's file of at most 4 MiB less 1 KiB.
 */
static void test_size_limits(void **state)
{
    (void) state;
    char *dir = tu_tempdir(), *big = tu_path(dir, "big.txt"), *draft_path = tu_path(dir, "d.yaml");
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    for (size_t i = 0; i < (4u << 20) - 1024 + 1; i++)
        fputc('x', f);
    fclose(f);
    fx_diag_t *diag = fx_diag_new("d.yaml");
    fx_draft_t *draft = NULL;
    const char *text = "kind: notice\naudience: focal_points\nsections:\n"
                       "  - {id: 1, tlp: green, categories: operational, file: big.txt}\n";
    assert_int_equal(fx_draft_parse((const uint8_t *) text, strlen(text), dir, NOW, diag, &draft),
                     FX_ERR_INVALID);
    assert_non_null(strstr(fx_diag_text(diag, 0), "d.yaml:4:56: file "));
    assert_non_null(strstr(fx_diag_text(diag, 0),
                           "big.txt is 4193281 bytes, larger than a section's file may be (at "
                           "most 4193280 bytes: 4 MiB less 1 KiB)"));
    fx_diag_destroy(&diag);

    /* A draft file over 1 MiB: the big text file is one. */
    diag = fx_diag_new("big.txt");
    assert_int_equal(fx_draft_load(big, NOW, diag, &draft), FX_ERR_INVALID);
    assert_string_equal(fx_diag_text(diag, 0),
                        "big.txt: the draft is 4193281 bytes, larger than a draft may be (at most "
                        "1048576 bytes: 1 MiB; put long text in a section's 'file')");
    fx_diag_destroy(&diag);

    size_t n = (64u << 10) + 1, len = 0;
    char *long_text = malloc(n + 256);
    len += (size_t) sprintf(long_text, "kind: notice\naudience: focal_points\nsections:\n"
                                       "  - {id: 1, tlp: green, categories: operational, text: ");
    memset(long_text + len, 'y', n);
    strcpy(long_text + len + n, "}\n");
    s_expect_error(long_text,
                   "draft.yaml:4:56: text is 65537 bytes, longer than the 65536 bytes it "
                   "may be (64 KiB; longer text goes in a 'file')");
    assert_int_equal(s_failures, 0);
    free(long_text);
    tu_rmtree(dir);
    free(draft_path);
    free(big);
    free(dir);
}

/* A response whose sections carry no structured status cannot tell the broker its status. */
static void test_response_needs_status(void **state)
{
    (void) state;
    const char *text = "kind: referral_response\naudience: direct\nrecipients: [THA.RTP.fp1]\n"
                       "in_reply_to: 00112233445566778899aabbccddeeff\nsections:\n"
                       "  - {id: 1, tlp: amber, categories: operational, text: \"We accept.\"}\n";
    fx_diag_t *diag = fx_diag_new("draft.yaml");
    fx_draft_t *draft = NULL;
    assert_int_equal(fx_draft_parse((const uint8_t *) text, strlen(text), ".", NOW, diag, &draft),
                     FX_ERR_INVALID);
    assert_null(draft);
    assert_non_null(strstr(fx_diag_text(diag, 0), "needs exactly one status"));
    fx_diag_destroy(&diag);
}

/* A referral's consent_recorded and the header's consent answer one question: left out, the
 * referral takes the header's; given, it must agree (docs/drafts.md's JSON example leaves it
 * out, and its recipient read "consent recorded" in the header and "no" in the referral). */
static void test_referral_consent(void **state)
{
    (void) state;
    static const char *const head = "kind: referral\naudience: direct\nrecipients: [IDN.POLRI]\n";
    static const struct {
        const char *header, *field;
        int recorded; /* -1: refused */
        const char *error;
    } cases[] = {
        {"consent: true\n", "", 1, NULL},
        {"", "", 0, NULL},
        {"consent: false\n", "", 0, NULL},
        {"consent: true\n", ", consent_recorded: true", 1, NULL},
        {"consent: false\n", ", consent_recorded: false", 0, NULL},
        {"consent: true\n", ", consent_recorded: null", 1, NULL},
        {"", ", consent_recorded: true", -1,
         "draft.yaml:7:55: consent_recorded is true, but the draft's consent is false (not "
         "given): both say whether the subject's consent is recorded"},
        {"consent: false\n", ", consent_recorded: true", -1,
         "draft.yaml:8:55: consent_recorded is true, but the draft's consent is false: both say "
         "whether the subject's consent is recorded, and the recipient reads both (the policy "
         "decides on the draft's consent): if it is recorded, give 'consent: true'"},
        {"consent: true\n", ", consent_recorded: false", -1,
         "draft.yaml:8:55: consent_recorded is false, but the draft's consent is true: both say"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "%s%ssections:\n  - id: 1\n    tlp: red\n    content: {referral: {reason: r%s}}\n",
                 head, cases[i].header, cases[i].field);
        if (cases[i].recorded < 0) {
            s_expect_error(text, cases[i].error);
            continue;
        }
        fx_draft_t *draft = s_parse_ok(text, NULL);
        assert_int_equal(fx_draft_header(draft)->consent, cases[i].recorded);
        Fusion__SectionContent *c = s_content(draft, 0);
        assert_int_equal(c->body_case, FUSION__SECTION_CONTENT__BODY_REFERRAL);
        assert_int_equal(c->referral->consent_recorded, cases[i].recorded);
        fx_content_free(&c);
        fx_draft_destroy(&draft);
    }
    /* An invalid header consent is one error, not a second one about the referral. */
    fx_diag_t *diag = fx_diag_new("draft.yaml");
    fx_draft_t *draft = NULL;
    const char *bad = "kind: referral\naudience: focal_points\nconsent: yes\nsections:\n"
                      "  - {id: 1, tlp: red, content: {referral: {reason: r, consent_recorded: "
                      "true}}}\n";
    assert_int_equal(fx_draft_parse((const uint8_t *) bad, strlen(bad), ".", NOW, diag, &draft),
                     FX_ERR_INVALID);
    assert_int_equal(fx_diag_count(diag), 1);
    assert_non_null(strstr(fx_diag_text(diag, 0), "consent must be true or false"));
    fx_diag_destroy(&diag);
    assert_int_equal(s_failures, 0);
}

static void s_encode_text(const char *text, uint8_t **data_p, size_t *len_p)
{
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    content.text = (char *) text;
    fx_content_encode(&content, data_p, len_p);
}

/* Drafts built by a program get the checks a file gets. */
static void test_draft_new(void **state)
{
    (void) state;
    uint8_t *text = NULL, *response = NULL, *person = NULL;
    size_t text_len = 0, response_len = 0, person_len = 0;
    s_encode_text("Forwarded.", &text, &text_len);
    Fusion__ReferralResponse r = FUSION__REFERRAL_RESPONSE__INIT;
    r.status = FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO;
    r.reason = "Which shelter?";
    Fusion__SectionContent rc = FUSION__SECTION_CONTENT__INIT;
    rc.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE;
    rc.referral_response = &r;
    fx_content_encode(&rc, &response, &response_len);
    Fusion__Person p = FUSION__PERSON__INIT;
    p.name = "A Name";
    Fusion__Person *persons[] = {&p};
    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    alert.summary = "s";
    alert.n_persons = 1;
    alert.persons = persons;
    Fusion__SectionContent ac = FUSION__SECTION_CONTENT__INIT;
    ac.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    ac.case_alert = &alert;
    fx_content_encode(&ac, &person, &person_len);

    uint8_t original[FX_MSG_ID_BYTES] = {1, 2, 3};
    char *to[] = {"MYS.RMP.fp1", "MYS.RMP"};
    Fusion__Header h = FUSION__HEADER__INIT;
    h.kind = FUSION__KIND__KIND_CASE_ALERT;
    h.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    h.expires_at = NOW + DAY;
    h.forwarded_from = (ProtobufCBinaryData){FX_MSG_ID_BYTES, original};
    fx_draft_section_t sections[] = {
        {2, FX_TLP_RED, CAT(OPERATIONAL), text, text_len},
        {5, FX_TLP_AMBER, CAT(OPERATIONAL) | CAT(PERSONAL_IDENTIFIERS), person, person_len},
    };
    fx_draft_t *draft = NULL;
    char why[256];
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 2, sections, 2, NOW, &draft, why, sizeof why),
        FX_OK);
    const Fusion__Header *got = fx_draft_header(draft);
    assert_int_equal(got->n_sections, 2);
    assert_int_equal(got->sections[0]->id, 2);
    assert_int_equal(got->sections[0]->tlp, FX_TLP_RED);
    assert_int_equal(got->forwarded_from.len, FX_MSG_ID_BYTES);
    assert_int_equal(got->forwarded_from.data[2], 3);
    assert_int_equal(fx_draft_recipient_count(draft), 2);
    size_t len = 0;
    assert_memory_equal(fx_draft_section_plaintext(draft, 1, &len), person, person_len);
    /* It survives the outbox. */
    uint8_t *bytes = NULL;
    fx_draft_t *back = NULL;
    fx_draft_serialize(draft, &bytes, &len);
    assert_int_equal(fx_draft_deserialize(bytes, len, &back), FX_OK);
    assert_int_equal(fx_draft_header(back)->forwarded_from.len, FX_MSG_ID_BYTES);
    free(bytes);
    fx_draft_destroy(&back);
    fx_draft_destroy(&draft);

    /* Under-labelled, duplicate ids, bad recipients: refused with a reason. */
    sections[1].categories = CAT(OPERATIONAL);
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 2, sections, 2, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    assert_non_null(strstr(why, "personal_identifiers"));
    sections[1].categories = CAT(OPERATIONAL) | CAT(PERSONAL_IDENTIFIERS);
    sections[1].id = 2;
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 2, sections, 2, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    assert_non_null(strstr(why, "used twice"));
    sections[1].id = 5;
    char *bad[] = {"MYS.RMP.fp1", "MYS.RMP.fp1"};
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) bad, 2, sections, 2, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    bad[1] = "malaysia";
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) bad, 2, sections, 2, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    assert_null(draft);

    /* A response takes its header status from its content, and must agree with it. */
    h.kind = FUSION__KIND__KIND_REFERRAL_RESPONSE;
    h.forwarded_from = (ProtobufCBinaryData){0, NULL};
    fx_draft_section_t answer = {1, FX_TLP_AMBER, CAT(OPERATIONAL), response, response_len};
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 1, &answer, 1, NOW, &draft, why, sizeof why),
        FX_OK);
    assert_int_equal(fx_draft_header(draft)->response_status,
                     FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO);
    fx_draft_destroy(&draft);
    h.response_status = FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED;
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 1, &answer, 1, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    assert_int_equal(
        fx_draft_new(&h, (const char *const *) to, 1, sections, 1, NOW, &draft, why, sizeof why),
        FX_ERR_INVALID);
    free(text);
    free(response);
    free(person);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_alert_every_field),
        cmocka_unit_test(test_json_referral),
        cmocka_unit_test(test_json_surrogate_pairs),
        cmocka_unit_test(test_long_key),
        cmocka_unit_test(test_file_section_and_response),
        cmocka_unit_test(test_remaining_fields),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_under_labelled_refused),
        cmocka_unit_test(test_categories_derived),
        cmocka_unit_test(test_serialize_round_trip),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_response_needs_status),
        cmocka_unit_test(test_referral_consent),
        cmocka_unit_test(test_draft_new),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
