/* Policy loading: every kind of load error with its exact line and column, several errors
 * collected at once, the fixtures in tests/data/policy, limits, and what a valid policy holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/policy.h"
#include "fusion/vocab.h"
#include "testutil.h"

#define HEAD "fusion_policy: 1\ndefault: forbid\n"
/* 1100 characters: a key longer than YAML allows */
#define K10   "kkkkkkkkkk"
#define K100  K10 K10 K10 K10 K10 K10 K10 K10 K10 K10
#define K1100 K100 K100 K100 K100 K100 K100 K100 K100 K100 K100 K100
#define RULE  "rules:\n  - id: r\n    effect: permit\n    guideline: g\n    when:\n"

/* One invalid policy and the error expected in it: line, column, a piece of the message. */
typedef struct {
    const char *yaml;
    unsigned line, column;
    const char *message;
} bad_case_t;

static const bad_case_t s_bad[] = {
    /* YAML syntax, with libyaml's position */
    {HEAD "rules: [a\n", 4, 1, "YAML syntax error: did not find expected ','"},
    {"fusion_policy: 1\n  default: forbid\n", 2, 10, "YAML syntax error"},
    {HEAD "x: \"\xff\"\n", 3, 5, "invalid leading UTF-8 octet"},
    {HEAD K1100 ": 1\n", 3, 1,
     "a key longer than 1024 characters: 1100 from here to its ':' at line 3, column 1101"},
    {HEAD "rules:\n  - id: r\n    " K1100 ": 1\n", 5, 5, "a key longer than 1024 characters"},
    {HEAD "x: \"\\ud83d\\ude90\"\n", 3, 5, "the escape \\ud83d\\ude90 is a UTF-16 surrogate pair"},
    {HEAD "---\nfusion_policy: 1\n", 3, 1, "single YAML document"},
    {HEAD "rules: &a []\nagreements: *a\n", 4, 13, "aliases"},
    {HEAD "rules: !!seq []\n", 3, 8, "tags"},
    {"", 1, 1, "the policy is empty"},
    {"# only a comment\n", 1, 1, "the policy is empty"},
    {"- fusion_policy\n", 1, 1, "the policy must be a mapping, found a list"},
    /* required top-level keys and their values */
    {"default: forbid\n", 1, 1, "missing required key 'fusion_policy'"},
    {"fusion_policy: 1\n", 1, 1, "missing required key 'default'"},
    {"fusion_policy: 2\ndefault: forbid\n", 1, 16, "unsupported policy version '2'"},
    {"fusion_policy: \"1\"\ndefault: forbid\n", 1, 16,
     "fusion_policy must be the integer 1, not the string '1' (write fusion_policy: 1, without "
     "quotes)"},
    {"fusion_policy: '2'\ndefault: forbid\n", 1, 16,
     "fusion_policy must be the integer 1, not the string '2'"},
    {"fusion_policy: [1]\ndefault: forbid\n", 1, 16, "fusion_policy must be 1, found a list"},
    {"fusion_policy: 1\ndefault: allow\n", 2, 10, "default must be permit or forbid"},
    {"fusion_policy: 1\ndefault:\n", 2, 9, "default must be a single value, found nothing"},
    /* unknown keys */
    {HEAD "colour: red\n", 3, 1, "unknown key 'colour' in the policy"},
    {HEAD "rules:\n  - id: r\n    effect: permit\n    guideline: g\n    note: x\n", 7, 5,
     "unknown key 'note' in a rule"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor], purposes: [training], "
          "scope: x}\n",
     4, 72, "unknown key 'scope' in an agreement"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], lead: THA.RTP}\n", 4, 33,
     "unknown key 'lead' in a taskforce"},
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP], from: 2025-01-01}\n", 4, 38,
     "unknown key 'from' in an exercise"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], speed: 60}\n", 4, 33,
     "unknown key 'speed' in a taskforce"},
    /* an exercise's clock: a whole number of exercise seconds per real second, 1 to 3600 */
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP], speed: 0}\n", 4, 45,
     "speed of an exercise (exercise seconds per real second) must be a whole number from 1 to "
     "3600, found '0'"},
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP], speed: 3601}\n", 4, 45,
     "from 1 to 3600, found '3601'"},
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP], speed: fast}\n", 4, 45, "found 'fast'"},
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP], speed: 1.5}\n", 4, 45, "found '1.5'"},
    {HEAD "countries:\n  AUS: {protected: [minor]}\n", 4, 9,
     "unknown key 'protected' in countries.AUS"},
    {HEAD "referral_deadlines: {urgent: 8h, later: 2d}\n", 3, 34,
     "unknown key 'later' in referral_deadlines"},
    {HEAD RULE "      colour: red\n", 8, 7, "unknown condition 'colour'"},
    {HEAD RULE "      tlp: {above: green}\n", 8, 13, "unknown operator 'above'"},
    /* unknown enumeration words */
    {HEAD "protected_categories: [minor, names]\n", 3, 31, "unknown category 'names'"},
    {HEAD "protected_categories: [Minor]\n", 3, 24, "enumeration words are lower case ('minor')"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor], purposes: [fun]}\n", 4, 61,
     "unknown purpose 'fun'"},
    {HEAD RULE "      kind: alert\n", 8, 13, "unknown kind 'alert'"},
    {HEAD RULE "      audience: [direct, everyone]\n", 8, 26, "unknown audience 'everyone'"},
    {HEAD RULE "      stage: {not: landed}\n", 8, 20, "unknown stage 'landed'"},
    {HEAD RULE "      subject_role: victims\n", 8, 21, "unknown subject role 'victims'"},
    {HEAD RULE "      tlp: {at_least: white}\n", 8, 23, "unknown TLP 'white'"},
    {HEAD RULE "      recipient.roles: {any_of: [chef]}\n", 8, 34, "unknown role 'chef'"},
    {HEAD RULE "      categories: AMBER\n", 8, 19, "unknown category 'AMBER'"},
    {HEAD "rules:\n  - id: r\n    effect: maybe\n    guideline: g\n", 5, 13,
     "effect must be permit or forbid, found 'maybe'"},
    /* wrong types */
    {HEAD "rules: {id: r}\n", 3, 8, "rules must be a list, found a mapping"},
    {HEAD "rules:\n  - just a rule\n", 4, 5, "a rule must be a mapping, found a value"},
    {HEAD "agreements: yes\n", 3, 13, "agreements must be a list, found a value"},
    {HEAD "agreements:\n  - {id: a, parties: THA, categories: [minor], purposes: [training]}\n", 4,
     22, "parties must be a list, found a value"},
    {HEAD "protected_categories: minor\n", 3, 23, "protected_categories must be a list"},
    {HEAD "countries: [AUS]\n", 3, 12, "countries must be a mapping"},
    {HEAD "countries:\n  AUS: [minor]\n", 4, 8, "countries.AUS must be a mapping, found a list"},
    {HEAD "referral_deadlines: 8h\n", 3, 21, "referral_deadlines must be a mapping"},
    {HEAD "rules:\n  - {id: r, effect: permit, guideline: [a, b]}\n", 4, 40,
     "guideline must be a single value, found a list"},
    {HEAD "rules:\n  - {id: {x: 1}, effect: permit, guideline: g}\n", 4, 10,
     "a rule id must be a single value, found a mapping"},
    {HEAD "rules:\n  - {id: r, effect: permit, guideline: g, when: [kind]}\n", 4, 49,
     "when must be a mapping of conditions, found a list"},
    {HEAD "taskforces:\n  - {id: t, members: THA.RTP}\n", 4, 22,
     "members must be a list, found a value"},
    {HEAD RULE "      route: [\"**\"]\n", 8, 14, "route takes one route pattern"},
    {HEAD RULE "      tlp: {at_least: [green]}\n", 8, 23, "must be one TLP word, found a list"},
    {HEAD RULE "      categories: {any_of: minor}\n", 8, 28, "must be a list, found a value"},
    {HEAD RULE "      kind: {not: {a: b}}\n", 8, 19, "found a mapping"},
    {HEAD "? [a, b]\n: c\n", 3, 3, "a key in the policy must be a word"},
    /* duplicate keys */
    {HEAD "default: permit\n", 3, 1,
     "duplicate key 'default' in the policy (first at line 2, "
     "column 1)"},
    {HEAD "rules:\n  - id: r\n    effect: permit\n    guideline: g\n    effect: forbid\n", 7, 5,
     "duplicate key 'effect' in a rule (first at line 5, column 5)"},
    {HEAD RULE "      kind: referral\n      kind: notice\n", 9, 7, "duplicate key 'kind' in when"},
    {HEAD RULE "      kind: {not: referral, not: notice}\n", 8, 29, "duplicate key 'not' in kind"},
    {HEAD "countries:\n  AUS: {protected_categories: []}\n  aus: {protected_categories: []}\n", 5,
     3, "duplicate country 'aus'"},
    /* duplicate ids */
    {HEAD "rules:\n  - {id: r, effect: permit, guideline: g}\n  - {id: r, effect: forbid, "
          "guideline: h}\n",
     5, 10, "duplicate rule id 'r' (first at line 4, column 10)"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor], purposes: [training]}\n"
          "  - {id: a, parties: [IDN], categories: [minor], purposes: [training]}\n",
     5, 10, "duplicate agreement id 'a'"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP]}\n  - {id: t, members: [IDN.POLRI]}\n", 5,
     10, "duplicate taskforce id 't'"},
    {HEAD "exercises:\n  - {id: e, participants: [THA.RTP]}\n  - {id: e, participants: "
          "[THA.RTP]}\n",
     5, 10, "duplicate exercise id 'e'"},
    {HEAD "rules:\n  - {id: default, effect: permit, guideline: g}\n", 4, 10,
     "'default' is not a valid rule id"},
    /* missing or empty required fields */
    {HEAD "rules:\n  - {effect: permit, guideline: g}\n", 4, 5,
     "missing required key 'id' in a rule"},
    {HEAD "rules:\n  - {id: r, guideline: g}\n", 4, 5, "missing required key 'effect' in a rule"},
    {HEAD "rules:\n  - id: r\n    effect: permit\n", 4, 5,
     "missing required key 'guideline' in a rule"},
    {HEAD "rules:\n  - {id: r, effect: permit, guideline: \"  \"}\n", 4, 40,
     "guideline must be a text of 1 to"},
    {HEAD "rules:\n  - {id: \"\", effect: permit, guideline: g}\n", 4, 10,
     "a rule id must have 1 to 128 characters"},
    {HEAD "agreements:\n  - {id: a, categories: [minor], purposes: [training]}\n", 4, 5,
     "missing required key 'parties' in an agreement"},
    {HEAD "agreements:\n  - {id: a, parties: [], categories: [minor], purposes: [training]}\n", 4,
     22, "parties of an agreement must not be empty"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [], purposes: [training]}\n", 4, 41,
     "categories of an agreement must not be empty"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor]}\n", 4, 5,
     "missing required key 'purposes' in an agreement"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor], purposes: }\n", 4, 60,
     "purposes of an agreement must not be empty"},
    {HEAD "agreements:\n  - {parties: [THA], categories: [minor], purposes: [training]}\n", 4, 5,
     "missing required key 'id' in an agreement"},
    {HEAD "taskforces:\n  - {id: t}\n", 4, 5, "missing required key 'members' in a taskforce"},
    {HEAD "taskforces:\n  - {id: t, members: []}\n", 4, 22,
     "members of a taskforce must not be "
     "empty"},
    {HEAD "exercises:\n  - {id: e}\n", 4, 5, "missing required key 'participants' in an exercise"},
    {HEAD "exercises:\n  - {id: e, participants: []}\n", 4, 27,
     "participants of an exercise must not be empty"},
    {HEAD "countries:\n  AUS: {}\n", 4, 8, "missing required key 'protected_categories'"},
    /* dates */
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], from: 2025-13-01}\n", 4, 39,
     "malformed date '2025-13-01'"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], from: 2025-02-30}\n", 4, 39,
     "malformed date '2025-02-30'"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], until: 2025-1-1}\n", 4, 40,
     "malformed date '2025-1-1'"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], until: tomorrow}\n", 4, 40,
     "malformed date 'tomorrow'"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], until: 2025-01-01T25:00:00Z}\n", 4, 40,
     "malformed date"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], until: 2025-01-01 10:00}\n", 4, 40,
     "malformed date"},
    {HEAD "agreements:\n  - {id: a, parties: [THA], categories: [minor], purposes: [training], "
          "from: 2026-01-01, until: 2025-01-01}\n",
     4, 97, "'from' (2026-01-01) must come before 'until' (2025-01-01)"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], from: 2025-01-01, until: 2025-01-01}\n", 4,
     58, "must come before"},
    {HEAD "taskforces:\n  - {id: t, members: [THA.RTP], from: \"2025-01-01T08:00:00+07:00\", "
          "until: 2025-01-01T00:00:00Z}\n",
     4, 75, "must come before"},
    /* condition operators */
    {HEAD RULE "      tlp: {at_least: green, at_most: amber}\n", 8, 30,
     "more than one operator in the condition on tlp"},
    {HEAD RULE "      categories: {not: [minor]}\n", 8, 20, "'not' does not apply to categories"},
    {HEAD RULE "      recipient.roles: {not: police}\n", 8, 25,
     "'not' does not apply to recipient.roles"},
    {HEAD RULE "      sender.roles: {not: police}\n", 8, 22,
     "'not' does not apply to sender.roles"},
    {HEAD RULE "      purpose: {at_least: investigation}\n", 8, 17,
     "'at_least' applies only to tlp, not to purpose"},
    {HEAD RULE "      categories: {at_most: minor}\n", 8, 20, "'at_most' applies only to tlp"},
    {HEAD RULE "      kind: {any_of: [referral]}\n", 8, 14, "'any_of' applies only to categories"},
    {HEAD RULE "      tlp: {}\n", 8, 12, "the condition on tlp is an empty mapping"},
    /* a condition or operator written without its value: never "nothing" (it would make a
     * forbid rule hold never, or with not, always) */
    {HEAD RULE "      recipient.roles:\n", 8, 23, "the condition on recipient.roles has no value"},
    {HEAD RULE "      kind: ~\n", 8, 13, "the condition on kind has no value"},
    {HEAD RULE "      sender.country:\n", 8, 22, "the condition on sender.country has no value"},
    {HEAD RULE "      purpose: {not: }\n", 8, 22,
     "'not' in the condition on purpose has no operand"},
    {HEAD RULE "      recipient.agency: {not: null}\n", 8, 31,
     "'not' in the condition on recipient.agency has no operand"},
    {HEAD RULE "      categories: {none_of: }\n", 8, 29,
     "'none_of' in the condition on categories has no operand"},
    {HEAD RULE "      tlp: {at_least: }\n", 8, 23,
     "'at_least' in the condition on tlp has no operand; write one TLP word"},
    /* booleans */
    {HEAD RULE "      consent: yes\n", 8, 16, "consent must be true or false, found 'yes'"},
    {HEAD RULE "      consent: True\n", 8, 16, "consent must be true or false, found 'True'"},
    {HEAD RULE "      exercise: \"true\"\n", 8, 17, "found 'true' (a quoted string)"},
    {HEAD RULE "      cross_border: 1\n", 8, 21, "cross_border must be true or false, found '1'"},
    {HEAD RULE "      cross_border: [true]\n", 8, 21, "found a list"},
    {HEAD RULE "      consent:\n", 8, 15, "found nothing"},
    /* route patterns, with the route module's reason */
    {HEAD RULE "      route: \"THA:*\"\n", 8, 14, "bad route pattern 'THA:*': hop 1"},
    {HEAD RULE "      route: \"***\"\n", 8, 14, "bad route pattern '***'"},
    {HEAD RULE "      route: \"MMR>>MYS\"\n", 8, 14, "bad route pattern 'MMR>>MYS'"},
    {HEAD RULE "      route: \"\"\n", 8, 14, "bad route pattern ''"},
    /* country codes, agencies, principal ids */
    {HEAD "agreements:\n  - {id: a, parties: [THA, TH], categories: [minor], purposes: [a]}\n", 4,
     28, "'TH' is not a country code"},
    {HEAD "countries:\n  THAI: {protected_categories: []}\n", 4, 3, "'THAI' is not a country code"},
    {HEAD RULE "      sender.country: T1A\n", 8, 23, "'T1A' is not a country code"},
    {HEAD RULE "      recipient.country: {not: [IDN, 12]}\n", 8, 38, "'12' is not a country code"},
    {HEAD RULE "      sender.agency: THA\n", 8, 22, "'THA' is not an agency"},
    {HEAD RULE "      recipient.id: THA.RTP\n", 8, 21, "'THA.RTP' is not a principal id"},
    {HEAD "taskforces:\n  - {id: t, members: [THA RTP]}\n", 4, 23,
     "'THA RTP' is not an agency (COUNTRY.AGENCY) or a principal id"},
    /* referral deadlines */
    {HEAD "referral_deadlines: {urgent: 8}\n", 3, 30, "malformed duration '8'"},
    {HEAD "referral_deadlines: {urgent: h}\n", 3, 30, "malformed duration 'h'"},
    {HEAD "referral_deadlines: {urgent: -8h}\n", 3, 30, "malformed duration '-8h'"},
    {HEAD "referral_deadlines: {urgent: 1.5h}\n", 3, 30, "malformed duration '1.5h'"},
    {HEAD "referral_deadlines: {urgent: 8H}\n", 3, 30, "malformed duration '8H'"},
    {HEAD "referral_deadlines: {normal: 8 h}\n", 3, 30, "malformed duration '8 h'"},
    {HEAD "referral_deadlines: {normal: 0h}\n", 3, 30, "must be more than zero"},
    {HEAD "referral_deadlines: {normal: 99999d}\n", 3, 30, "at most ten years"},
    {HEAD "referral_deadlines: {normal: 1234567890123d}\n", 3, 30, "malformed duration"},
};

static fx_policy_errors_t *s_load_bad(const char *yaml)
{
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    fx_err_t rc =
        fx_policy_load_buffer("t.yaml", (const uint8_t *) yaml, strlen(yaml), &policy, &errors);
    if (rc == FX_OK)
        fprintf(stderr, "unexpectedly valid:\n%s\n", yaml);
    assert_int_equal(rc, FX_ERR_POLICY);
    assert_null(policy);
    assert_non_null(errors);
    assert_true(fx_policy_errors_count(errors) >= 1);
    return errors;
}

static void test_each_error_with_position(void **state)
{
    (void) state;
    int failures = 0;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const bad_case_t *c = &s_bad[i];
        fx_policy_errors_t *errors = s_load_bad(c->yaml);
        int found = 0;
        for (size_t e = 0; e < fx_policy_errors_count(errors); e++)
            if (fx_policy_errors_line(errors, e) == c->line &&
                fx_policy_errors_column(errors, e) == c->column &&
                strstr(fx_policy_errors_message(errors, e), c->message))
                found = 1;
        if (!found) {
            fprintf(stderr, "case %zu: expected %u:%u: ...%s...\n%s\ngot:\n", i, c->line, c->column,
                    c->message, c->yaml);
            for (size_t e = 0; e < fx_policy_errors_count(errors); e++)
                fprintf(stderr, "  %s\n", fx_policy_errors_text(errors, e));
            failures++;
        }
        /* The full text is NAME:LINE:COLUMN: message. */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "t.yaml:%u:%u: ", c->line, c->column);
        int prefixed = 0;
        for (size_t e = 0; e < fx_policy_errors_count(errors); e++)
            prefixed |= strncmp(fx_policy_errors_text(errors, e), prefix, strlen(prefix)) == 0;
        failures += !prefixed;
        fx_policy_errors_destroy(&errors);
        assert_null(errors);
    }
    assert_int_equal(failures, 0);
}

/* Every error of a file with many, in order, against tests/data/policy/bad-many.errors. */
static void test_collects_every_error(void **state)
{
    (void) state;
    char *yaml = tu_path(tu_data_dir(), "policy/bad-many.yaml");
    char *expected_path = tu_path(tu_data_dir(), "policy/bad-many.errors");
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    assert_int_equal(fx_policy_load(yaml, &policy, &errors), FX_ERR_POLICY);
    FILE *expected = fopen(expected_path, "r");
    assert_non_null(expected);
    char line[1024], got[1024];
    size_t n = 0;
    while (fgets(line, sizeof line, expected)) {
        line[strcspn(line, "\n")] = '\0';
        assert_true(n < fx_policy_errors_count(errors));
        snprintf(got, sizeof got, "%u:%u: %s", fx_policy_errors_line(errors, n),
                 fx_policy_errors_column(errors, n), fx_policy_errors_message(errors, n));
        assert_string_equal(got, line);
        /* and the full text starts with the path */
        assert_int_equal(strncmp(fx_policy_errors_text(errors, n), yaml, strlen(yaml)), 0);
        n++;
    }
    fclose(expected);
    assert_int_equal(n, fx_policy_errors_count(errors));
    assert_true(n >= 30);
    fx_policy_errors_destroy(&errors);
    free(yaml);
    free(expected_path);
}

static void test_valid_policies(void **state)
{
    (void) state;
    char *path = tu_path(tu_data_dir(), "policy/valid-full.yaml");
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    fx_err_t rc = fx_policy_load(path, &policy, &errors);
    for (size_t e = 0; e < fx_policy_errors_count(errors); e++)
        fprintf(stderr, "%s\n", fx_policy_errors_text(errors, e));
    assert_int_equal(rc, FX_OK);
    assert_null(errors);
    assert_string_equal(fx_policy_name(policy), path);
    assert_int_equal(fx_policy_default_permit(policy), 0);
    assert_int_equal(fx_policy_rule_count(policy), 4);
    assert_int_equal(fx_policy_agreement_count(policy), 2);
    assert_int_equal(fx_policy_taskforce_count(policy), 1);
    assert_int_equal(fx_policy_exercise_count(policy), 1);
    assert_int_equal(fx_policy_referral_deadline(policy, FX_URGENCY_URGENT), 8 * 3600 * 1000LL);
    assert_int_equal(fx_policy_referral_deadline(policy, FX_URGENCY_NORMAL), 3 * 86400 * 1000LL);
    assert_int_equal(fx_policy_referral_deadline(policy, 0), 3 * 86400 * 1000LL);
    assert_true(fx_policy_has_exercise(policy, "EX-2026-11"));
    assert_false(fx_policy_has_exercise(policy, "ex-2026-11"));
    assert_string_equal(fx_policy_rule_guideline(policy, "every-form"),
                        "A folded guideline over two lines");
    assert_string_equal(fx_policy_rule_guideline(policy, "2024"), "Numbers are ids too");
    assert_null(fx_policy_rule_guideline(policy, "default"));
    char summary[256];
    fx_policy_summary(policy, summary, sizeof summary);
    assert_non_null(strstr(summary, "4 rules (3 permit, 1 forbid)"));
    fx_policy_destroy(&policy);
    assert_null(policy);
    fx_policy_destroy(&policy);
    free(path);

    /* An exercise's speed: the policy's, else real time; live traffic is always real time. */
    const char *clocks = "fusion_policy: 1\ndefault: forbid\nexercises:\n"
                         "  - {id: EX-FAST, participants: [THA.RTP], speed: 60}\n"
                         "  - {id: EX-REAL, participants: [THA.RTP]}\n"
                         "  - {id: EX-MAX, participants: [THA.RTP], speed: 3600}\n";
    assert_int_equal(
        fx_policy_load_buffer("c", (const uint8_t *) clocks, strlen(clocks), &policy, NULL), FX_OK);
    assert_int_equal(fx_policy_exercise_speed(policy, "EX-FAST"), 60);
    assert_int_equal(fx_policy_exercise_speed(policy, "EX-REAL"), 1);
    assert_int_equal(fx_policy_exercise_speed(policy, "EX-MAX"), 3600);
    assert_int_equal(fx_policy_exercise_speed(policy, "ex-fast"), 1);
    assert_int_equal(fx_policy_exercise_speed(policy, "EX-OTHER"), 1);
    assert_int_equal(fx_policy_exercise_speed(policy, ""), 1);
    assert_int_equal(fx_policy_exercise_speed(policy, NULL), 1);
    fx_policy_destroy(&policy);

    /* The smallest valid policy; null lists are empty. */
    const char *minimal[] = {
        "fusion_policy: 1\ndefault: permit\n",
        "fusion_policy: 1\ndefault: \"forbid\"\nrules:\nagreements: []\ncountries: {}\n",
        "fusion_policy: 1\ndefault: forbid\nreferral_deadlines: {urgent: 30m, normal: 45s}\n",
    };
    for (size_t i = 0; i < sizeof minimal / sizeof minimal[0]; i++) {
        rc = fx_policy_load_buffer("m", (const uint8_t *) minimal[i], strlen(minimal[i]), &policy,
                                   NULL);
        assert_int_equal(rc, FX_OK);
        assert_int_equal(fx_policy_rule_count(policy), 0);
        fx_policy_destroy(&policy);
    }
}

static void test_files_and_limits(void **state)
{
    (void) state;
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    assert_int_equal(fx_policy_load("/nonexistent/policy.yaml", &policy, &errors),
                     FX_ERR_NOT_FOUND);
    assert_null(policy);
    assert_int_equal(fx_policy_errors_count(errors), 1);
    assert_string_equal(fx_policy_errors_text(errors, 0), "/nonexistent/policy.yaml: no such file");
    assert_int_equal(fx_policy_errors_line(errors, 0), 0);
    fx_policy_errors_destroy(&errors);
    /* A directory is a wrong argument, said as such, not a read error. */
    assert_int_equal(fx_policy_load("tests", &policy, &errors), FX_ERR_INVALID);
    assert_null(policy);
    assert_string_equal(fx_policy_errors_text(errors, 0),
                        "tests: is a directory, not a policy file");
    fx_policy_errors_destroy(&errors);

    /* Over 1 MiB. */
    size_t big = FX_POLICY_MAX_BYTES + 10;
    uint8_t *data = malloc(big);
    memset(data, '#', big);
    assert_int_equal(fx_policy_load_buffer("big", data, big, &policy, &errors), FX_ERR_TOO_LARGE);
    fx_policy_errors_destroy(&errors);

    /* Deep nesting is refused, not recursed into. */
    size_t n = 0;
    n += (size_t) sprintf((char *) data, HEAD "rules: ");
    for (int i = 0; i < 5000; i++)
        data[n++] = '[';
    assert_int_equal(fx_policy_load_buffer("deep", data, n, &policy, &errors), FX_ERR_POLICY);
    assert_non_null(strstr(fx_policy_errors_message(errors, 0), "nested more than"));
    fx_policy_errors_destroy(&errors);

    /* Too many values. */
    n = (size_t) sprintf((char *) data, HEAD "rules: [");
    for (int i = 0; i < 120000; i++) {
        memcpy(data + n, "1,", 2);
        n += 2;
    }
    data[n++] = ']';
    assert_int_equal(fx_policy_load_buffer("wide", data, n, &policy, &errors), FX_ERR_POLICY);
    assert_non_null(strstr(fx_policy_errors_message(errors, 0), "more than 100000 values"));
    fx_policy_errors_destroy(&errors);

    /* Thousands of errors are capped, with a last line saying how many more. */
    n = (size_t) sprintf((char *) data, HEAD "protected_categories: [");
    for (int i = 0; i < 5000; i++) {
        memcpy(data + n, "xx,", 3);
        n += 3;
    }
    data[n++] = ']';
    assert_int_equal(fx_policy_load_buffer("many", data, n, &policy, &errors), FX_ERR_POLICY);
    size_t count = fx_policy_errors_count(errors);
    assert_true(count <= 200);
    assert_non_null(strstr(fx_policy_errors_message(errors, count - 1), "more errors not shown"));
    assert_int_equal(fx_policy_errors_total(errors), 5000);
    char more[64];
    snprintf(more, sizeof more, "and %zu more errors not shown", 5000 - (count - 1));
    assert_string_equal(fx_policy_errors_message(errors, count - 1), more);
    fx_policy_errors_destroy(&errors);

    /* A huge mapping with repeated keys stays fast (sorted duplicate detection). */
    n = (size_t) sprintf((char *) data, HEAD "countries:\n");
    for (int i = 0; i < 20000; i++)
        n += (size_t) sprintf((char *) data + n, "  %c%c%c: {protected_categories: []}\n",
                              'A' + i % 26, 'A' + i / 26 % 26, 'A' + i / 676 % 26);
    assert_int_equal(fx_policy_load_buffer("map", data, n, &policy, &errors), FX_ERR_POLICY);
    assert_non_null(strstr(fx_policy_errors_message(errors, 0), "duplicate"));
    fx_policy_errors_destroy(&errors);
    free(data);

    /* A NUL inside a scalar. */
    const char nul[] = HEAD "rules:\n  - {id: \"a\\0b\", effect: permit, guideline: g}\n";
    assert_int_equal(
        fx_policy_load_buffer("nul", (const uint8_t *) nul, strlen(nul), &policy, &errors),
        FX_ERR_POLICY);
    assert_non_null(strstr(fx_policy_errors_message(errors, 0), "NUL"));
    fx_policy_errors_destroy(&errors);

    /* Accessors accept NULL lists. */
    assert_int_equal(fx_policy_errors_count(NULL), 0);
    assert_null(fx_policy_errors_text(NULL, 0));
    fx_policy_errors_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_error_with_position),
        cmocka_unit_test(test_collects_every_error),
        cmocka_unit_test(test_valid_policies),
        cmocka_unit_test(test_files_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
