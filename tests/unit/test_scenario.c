/* Scenarios: a valid scenario with every kind of inject and expectation, the shipped scenarios
 * against the example policy, and each kind of error with its line:column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "fusion/policy.h"
#include "fusion/scenario.h"
#include "fusion/vocab.h"
#include "testutil.h"

/* 2026-11-28T00:00:00Z */
#define NOW 1795824000000LL

static const char s_valid[] =
    "fusion_scenario: 1\n"
    "exercise: EX-2026-11\n"
    "title: A test exercise\n"
    "reference: Outcome Statement\n"
    "objectives: [refer, answer]\n"
    "speed: 120\n"
    "participants:\n"
    "  - id: THA.RTP.fp1\n"
    "  - id: KHM.NCCT.sim1\n"
    "    name: simulated focal point\n"
    "    simulated: true\n"
    "    roles: [focal_point, police]\n"
    "    behaviour: {acknowledge_referrals_after: 5m, accept_referrals_after: 1h,\n"
    "                decline_without_consent: true}\n"
    "injects:\n"
    "  - id: sub\n"
    "    at: '+00:00'\n"
    "    from: KHM.NCCT.sim1\n"
    "    subscribe: {pattern: 'MMR>**', stages: [at_border], kinds: case_alert}\n"
    "  - id: ref\n"
    "    at: '+00:05:30'\n"
    "    from: THA.RTP.fp1\n"
    "    description: a referral\n"
    "    send:\n"
    "      kind: referral\n"
    "      audience: direct\n"
    "      recipients: [KHM.NCCT.sim1]\n"
    "      purpose: victim_protection\n"
    "      sections: [{id: 1, tlp: amber, categories: operational, text: hello}]\n"
    "    expect:\n"
    "      - {delivered: KHM.NCCT.sim1, within: 10m}\n"
    "      - {acknowledged: KHM.NCCT.sim1, within: 15m, designed_to_fail: true, note: late}\n"
    "      - {denied: MYS.RMP.fp1, code: exercise_segregation}\n"
    "      - {denied: THA.OAG.p1, code: forbidden, rule: nonpunishment-victim-data}\n"
    "      - {not_delivered: MYS.RMP.fp1}\n"
    "      - {escalated: THA.RTP.fp1, within: 8h}\n"
    "  - id: ans\n"
    "    at: '+01:00'\n"
    "    from: KHM.NCCT.sim1\n"
    "    respond: {to: ref, status: declined, reason: no consent}\n"
    "  - id: unsub\n"
    "    at: '+01:00'\n"
    "    from: KHM.NCCT.sim1\n"
    "    unsubscribe: {pattern: 'MMR>**'}\n";

static fx_scenario_t *s_parse(const char *text, const fx_policy_t *policy, fx_diag_t *diag)
{
    fx_scenario_t *s = NULL;
    fx_err_t rc =
        fx_scenario_parse((const uint8_t *) text, strlen(text), ".", policy, NOW, diag, &s);
    if (rc != FX_OK)
        assert_null(s);
    return s;
}

static void test_valid(void **state)
{
    (void) state;
    fx_diag_t *diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(s_valid, NULL, diag);
    if (!s)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_non_null(s);
    assert_string_equal(fx_scenario_exercise(s), "EX-2026-11");
    assert_string_equal(fx_scenario_title(s), "A test exercise");
    assert_int_equal(fx_scenario_speed(s), 120);
    assert_int_equal(fx_scenario_objective_count(s), 2);
    assert_int_equal(fx_scenario_participant_count(s), 2);
    const fx_participant_t *p = fx_scenario_find_participant(s, "KHM.NCCT.sim1");
    assert_non_null(p);
    assert_true(p->simulated);
    assert_int_equal(p->roles, 1u << FX_ROLE_FOCAL_POINT | 1u << FX_ROLE_POLICE);
    assert_int_equal(p->behaviour.acknowledge_after_ms, 5 * 60000);
    assert_int_equal(p->behaviour.accept_after_ms, 3600000);
    assert_true(p->behaviour.decline_without_consent);
    assert_false(fx_scenario_find_participant(s, "THA.RTP.fp1")->simulated);
    assert_int_equal(fx_scenario_inject_count(s), 4);
    const fx_inject_t *sub = fx_scenario_inject(s, 0);
    assert_int_equal(sub->kind, FX_INJECT_SUBSCRIBE);
    assert_string_equal(sub->pattern, "MMR>**");
    assert_int_equal(sub->stages, 1u << FX_STAGE_AT_BORDER);
    assert_int_equal(sub->kinds, 1u << FX_KIND_CASE_ALERT);
    const fx_inject_t *ref = fx_scenario_inject(s, 1);
    assert_int_equal(ref->kind, FX_INJECT_SEND);
    assert_int_equal(ref->message_kind, FX_KIND_REFERRAL);
    assert_int_equal(ref->at_ms, 330000);
    assert_int_equal(ref->n_expect, 6);
    assert_int_equal(ref->expect[0].kind, FX_EXPECT_DELIVERED);
    assert_int_equal(ref->expect[0].within_ms, 600000);
    assert_true(ref->expect[1].designed_to_fail);
    assert_string_equal(ref->expect[1].note, "late");
    assert_string_equal(ref->expect[3].rule, "nonpunishment-victim-data");
    assert_int_equal(ref->expect[4].within_ms, 0);
    assert_int_equal(ref->expect[5].kind, FX_EXPECT_ESCALATED);
    assert_int_equal(ref->expect[1].line, 32);
    assert_int_equal(ref->expect[1].column, 9);
    const fx_inject_t *ans = fx_scenario_inject(s, 2);
    assert_int_equal(ans->kind, FX_INJECT_RESPOND);
    assert_string_equal(ans->to, "ref");
    assert_int_equal(ans->status, FUSION__RESPONSE_STATUS__RESPONSE_DECLINED);
    assert_int_equal(fx_scenario_find_inject(s, "ans"), 2);
    assert_int_equal(fx_scenario_find_inject(s, "nope"), -1);
    char t[24];
    fx_scenario_time_text(ref->at_ms, t);
    assert_string_equal(t, "+00:05:30");
    fx_scenario_time_text(3600000, t);
    assert_string_equal(t, "+01:00");
    fx_scenario_destroy(&s);
    assert_null(s);
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
}

/* text with the first occurrence of from replaced by to (caller frees). */
static char *s_replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t size = strlen(text) + strlen(to) + 1;
    char *doc = malloc(size);
    snprintf(doc, size, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
    return doc;
}

/* Route input is case-insensitive: a pattern in lower or mixed case is kept normalised. */
static void test_route_pattern_in_any_case(void **state)
{
    (void) state;
    char *sub = s_replace(s_valid, "pattern: 'MMR>**', stages", "pattern: 'mmr:Mst>**', stages");
    char *doc =
        s_replace(sub, "unsubscribe: {pattern: 'MMR>**'}", "unsubscribe: {pattern: 'mmr>**'}");
    fx_diag_t *diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(doc, NULL, diag);
    if (!s)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_non_null(s);
    assert_string_equal(fx_scenario_inject(s, 0)->pattern, "MMR:MST>**");
    const fx_inject_t *unsub = fx_scenario_inject(s, fx_scenario_inject_count(s) - 1);
    assert_int_equal(unsub->kind, FX_INJECT_UNSUBSCRIBE);
    assert_string_equal(unsub->pattern, "MMR>**");
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
    free(doc);
    free(sub);
}

static int s_mismatches;

/* Replaces the first occurrence of from in s_valid with to, parses it, and checks that the
 * first error is at line:column and mentions text. */
static void s_error(const char *from, const char *to, unsigned line, unsigned column,
                    const char *text)
{
    char *doc = s_replace(s_valid, from, to);
    fx_diag_t *diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(doc, NULL, diag);
    if (s || fx_diag_count(diag) == 0 || fx_diag_line(diag, 0) != line ||
        fx_diag_column(diag, 0) != column || !strstr(fx_diag_message(diag, 0), text)) {
        fprintf(stderr, "replacing '%s' by '%s': expected %u:%u '%s', got:\n", from, to, line,
                column, text);
        fx_diag_print(diag, stderr, "  ");
        s_mismatches++;
    }
    assert_string_equal(fx_diag_text(diag, 0) + 0, fx_diag_text(diag, 0));
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
    free(doc);
}

static void test_errors(void **state)
{
    (void) state;
    s_error("fusion_scenario: 1", "fusion_scenario: 2", 1, 18, "fusion_scenario");
    s_error("fusion_scenario: 1\n", "", 1, 1, "fusion_scenario: 1");
    s_error("title: A test exercise\n", "title: A test exercise\ncolour: red\n", 4, 1, "colour");
    s_error("exercise: EX-2026-11", "exercise: 'EX 2026'", 2, 11, "exercise must be");
    s_error("speed: 120", "speed: 0", 6, 8, "speed");
    s_error("  - id: THA.RTP.fp1\n", "  - id: THA.RTP.fp1\n  - id: THA.RTP.fp1\n", 9, 9,
            "listed twice");
    s_error("  - id: THA.RTP.fp1\n", "  - id: thailand\n", 8, 9, "principal id");
    s_error("    roles: [focal_point, police]\n", "    roles: [focal_point, sheriff]\n", 12, 26,
            "sheriff");
    s_error("    simulated: true\n    roles: [focal_point, police]\n", "", 11, 16,
            "only for simulated");
    s_error("    roles: [focal_point, police]\n", "", 9, 5, "needs roles");
    s_error("  - id: THA.RTP.fp1\n", "  - id: THA.RTP.fp1\n    roles: [police]\n", 9, 12,
            "only for simulated");
    s_error("acknowledge_referrals_after: 5m", "acknowledge_referrals_after: soon", 13, 46,
            "duration");
    /* A delay the run would wait for without end is refused; 30 days is the most. */
    s_error("acknowledge_referrals_after: 5m", "acknowledge_referrals_after: 721h", 13, 46,
            "at most 30d (720h)");
    s_error("accept_referrals_after: 1h", "accept_referrals_after: 99999999h", 13, 74,
            "found '99999999h'");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}", "{delivered: KHM.NCCT.sim1, within: 31d}",
            31, 44, "within must be at most 30d (720h)");
    s_error("{not_delivered: MYS.RMP.fp1}", "{not_delivered: MYS.RMP.fp1, within: 99999999h}", 35,
            46, "within must be at most");
    /* A simulated participant holds no role that controls or reads the exercise or the audit. */
    s_error("    roles: [focal_point, police]\n", "    roles: [focal_point, trainer]\n", 12, 26,
            "KHM.NCCT.sim1 cannot have the role trainer");
    s_error("    roles: [focal_point, police]\n", "    roles: auditor\n", 12, 12,
            "cannot have the role auditor");
    s_error("at: '+00:05:30'", "at: '5 minutes'", 21, 9, "+HH:MM");
    s_error("at: '+00:05:30'", "at: '+00:65'", 21, 9, "+HH:MM");
    s_error("at: '+01:00'\n    from: KHM.NCCT.sim1\n    respond",
            "at: '+00:01'\n    from: KHM.NCCT.sim1\n    respond", 38, 9, "time order");
    s_error("    from: THA.RTP.fp1\n", "    from: MYS.RMP.fp1\n", 22, 11, "not a participant");
    s_error("  - id: ans\n", "  - id: ref\n", 37, 9, "used twice");
    s_error("      purpose: victim_protection\n", "      purpose: curiosity\n", 28, 16,
            "curiosity");
    s_error("      kind: referral\n", "      kind: referral\n      exercise: EX-OTHER\n", 25, 7,
            "exercise EX-OTHER");
    s_error("pattern: 'MMR>**', stages", "pattern: 'MMR>>X', stages", 19, 26, "invalid route");
    s_error("    subscribe: {pattern: 'MMR>**', stages: [at_border], kinds: case_alert}\n",
            "    subscribe: {pattern: 'MMR>**'}\n    unsubscribe: {pattern: 'MMR>**'}\n", 16, 5,
            "exactly one of");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}", "{delivered: KHM.NCCT.sim1}", 31, 9,
            "needs within");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}", "{delivered: MYS.RMP.fp1, within: 10m}", 31,
            21, "not a participant");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}",
            "{delivered: KHM.NCCT.sim1, denied: KHM.NCCT.sim1, within: 10m}", 31, 9,
            "exactly one of");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}", "{delivered: THA.RTP.fp1, within: 10m}", 31,
            9, "THA.RTP.fp1 is the inject's sender");
    s_error("{delivered: KHM.NCCT.sim1, within: 10m}",
            "{delivered: KHM.NCCT.sim1, within: 10m}\n      - {not_delivered: KHM.NCCT.sim1}", 32,
            9, "expected both delivered and not delivered");
    s_error("code: exercise_segregation", "code: rude", 33, 37, "unknown denial code");
    s_error("{denied: MYS.RMP.fp1, code: exercise_segregation}", "{denied: MYS.RMP.fp1}", 33, 9,
            "needs code");
    s_error("designed_to_fail: true", "designed_to_fail: yes", 32, 70, "true or false");
    s_error("{to: ref, status: declined, reason: no consent}", "{to: ref, status: declined}", 40,
            14, "needs a reason");
    s_error("{to: ref, status: declined, reason: no consent}",
            "{to: sub, status: declined, reason: no consent}", 40, 19, "does not send a referral");
    s_error("{to: ref, status: declined, reason: no consent}",
            "{to: ref, status: maybe, reason: no consent}", 40, 32, "unknown status");
    s_error("  - id: unsub\n    at: '+01:00'\n    from: KHM.NCCT.sim1\n    unsubscribe: {pattern: "
            "'MMR>**'}\n",
            "  - id: unsub\n    at: '+01:00'\n    from: KHM.NCCT.sim1\n    unsubscribe: {pattern: "
            "'MMR>**'}\n    expect: [{delivered: KHM.NCCT.sim1, within: 1m}]\n",
            45, 14, "sends no message");
    assert_int_equal(s_mismatches, 0);
    /* The longest delay is accepted. */
    char *doc = s_replace(s_valid, "within: 8h", "within: 720h");
    fx_diag_t *diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(doc, NULL, diag);
    if (!s)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_non_null(s);
    assert_int_equal(fx_scenario_inject(s, 1)->expect[5].within_ms, FX_SCENARIO_MAX_DELAY_MS);
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
    free(doc);
}

/* The shipped scenarios are valid against the example policy, and the policy is checked. */
static void test_shipped_and_policy(void **state)
{
    (void) state;
    fx_policy_t *policy = NULL;
    assert_int_equal(fx_policy_load("deploy/policy/bali-process.yaml", &policy, NULL), FX_OK);
    const char *names[] = {"scam-compound-repatriation", "smpu-visit-visa-alert", "lao-route-shift",
                           "mekong-taskforce"};
    size_t designed = 0;
    for (size_t i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "deploy/exercises/%s.yaml", names[i]);
        fx_diag_t *diag = fx_diag_new(path);
        fx_scenario_t *s = NULL;
        fx_err_t rc = fx_scenario_load(path, policy, NOW, diag, &s);
        if (rc != FX_OK)
            fx_diag_print(diag, stderr, "unexpected: ");
        assert_int_equal(rc, FX_OK);
        for (size_t k = 0; k < fx_scenario_inject_count(s); k++)
            for (size_t e = 0; e < fx_scenario_inject(s, k)->n_expect; e++)
                designed += fx_scenario_inject(s, k)->expect[e].designed_to_fail != 0;
        fx_scenario_destroy(&s);
        fx_diag_destroy(&diag);
    }
    assert_true(designed >= 1);
    assert_true(fx_policy_exercise_participant(policy, "EX-2026-11", "THA.RTP.anyone"));
    assert_true(fx_policy_exercise_participant(policy, "EX-2026-11", "LKA.DIE.smpu1"));
    assert_false(fx_policy_exercise_participant(policy, "EX-2026-11", "LKA.DIE.fp1"));
    assert_false(fx_policy_exercise_participant(policy, "EX-NONE", "THA.RTP.fp1"));
    assert_false(fx_policy_exercise_participant(policy, "EX-2026-11", "not an id"));

    /* Against the policy: an exercise it does not list, and a participant it does not. */
    fx_diag_t *diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(s_valid, policy, diag);
    assert_non_null(s);
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
    char *other = strdup(s_valid);
    memcpy(strstr(other, "THA.RTP.fp1"), "LKA.DIE.fp1", 11);
    diag = fx_diag_new("s.yaml");
    assert_null(s_parse(other, policy, diag));
    assert_int_equal(fx_diag_line(diag, 0), 8);
    assert_int_equal(fx_diag_column(diag, 0), 9);
    assert_true(strstr(fx_diag_message(diag, 0), "LKA.DIE.fp1 is not a participant") != NULL);
    fx_diag_destroy(&diag);
    free(other);
    other = strdup(s_valid);
    memcpy(strstr(other, "EX-2026-11"), "EX-2099-99", 10);
    diag = fx_diag_new("s.yaml");
    assert_null(s_parse(other, policy, diag));
    assert_int_equal(fx_diag_line(diag, 0), 2);
    assert_true(strstr(fx_diag_message(diag, 0), "not listed in the policy") != NULL);
    fx_diag_destroy(&diag);
    free(other);
    fx_policy_destroy(&policy);
}

/* An 'escalated' expectation against a policy: the broker escalates a referral only after the
 * policy's deadline for its urgency, so one without that deadline is an error at the
 * expectation; on an inject that sends no referral it is one with or without a policy. */
/* A denial names a rule only when a forbid rule decided it: one with another code, or one the
 * policy does not have as a forbid rule, is an error at the rule. */
static void test_denied_rule(void **state)
{
    (void) state;
    static const char policy_yaml[] = "fusion_policy: 1\n"
                                      "default: forbid\n"
                                      "referral_deadlines: {normal: 72h}\n"
                                      "exercises:\n"
                                      "  - id: EX-2026-11\n"
                                      "    participants: [THA.RTP, KHM.NCCT]\n"
                                      "rules:\n"
                                      "  - id: nonpunishment-victim-data\n"
                                      "    effect: permit\n"
                                      "    guideline: G\n";
    fx_policy_t *policy = NULL;
    assert_int_equal(fx_policy_load_buffer("permit.yaml", (const uint8_t *) policy_yaml,
                                           strlen(policy_yaml), &policy, NULL),
                     FX_OK);
    const char *rule = strstr(s_valid, "rule: nonpunishment-victim-data}");
    assert_non_null(rule);
    int line = 1, column = (int) (rule - s_valid);
    for (const char *c = s_valid; c < rule; c++)
        if (*c == '\n') {
            line++;
            column = (int) (rule - c);
        }
    /* The rule is a permit rule of this policy. */
    fx_diag_t *diag = fx_diag_new("s.yaml");
    assert_null(s_parse(s_valid, policy, diag));
    assert_int_equal(fx_diag_count(diag), 1);
    assert_int_equal(fx_diag_line(diag, 0), line);
    assert_int_equal(fx_diag_column(diag, 0), column + 6);
    assert_non_null(
        strstr(fx_diag_message(diag, 0), "has no forbid rule nonpunishment-victim-data"));
    fx_diag_destroy(&diag);
    fx_policy_destroy(&policy);
    /* With another code, with or without a policy. */
    char *other = fx_strdup(s_valid);
    memcpy(strstr(other, "code: forbidden"), "code: no_permit", 15);
    diag = fx_diag_new("s.yaml");
    assert_null(s_parse(other, NULL, diag));
    assert_int_equal(fx_diag_count(diag), 1);
    assert_non_null(strstr(fx_diag_message(diag, 0), "only a 'forbidden' denial names a rule"));
    fx_diag_destroy(&diag);
    free(other);
}

static void test_escalated_against_policy(void **state)
{
    (void) state;
    static const char policy_yaml[] = "fusion_policy: 1\n"
                                      "default: forbid\n"
                                      "referral_deadlines: {urgent: 8h}\n"
                                      "exercises:\n"
                                      "  - id: EX-2026-11\n"
                                      "    participants: [THA.RTP, KHM.NCCT]\n"
                                      "rules:\n"
                                      "  - id: nonpunishment-victim-data\n"
                                      "    effect: forbid\n"
                                      "    guideline: G\n"
                                      "    when: {categories: {any_of: [victim_identity]}}\n";
    fx_policy_t *policy = NULL;
    assert_int_equal(fx_policy_load_buffer("no-normal.yaml", (const uint8_t *) policy_yaml,
                                           strlen(policy_yaml), &policy, NULL),
                     FX_OK);
    assert_int_equal(fx_policy_referral_deadline(policy, FX_URGENCY_NORMAL), 0);
    /* The valid scenario's referral has no urgency (normal): never escalated. */
    fx_diag_t *diag = fx_diag_new("s.yaml");
    assert_null(s_parse(s_valid, policy, diag));
    assert_int_equal(fx_diag_count(diag), 1);
    assert_int_equal(fx_diag_line(diag, 0), 36);
    assert_int_equal(fx_diag_column(diag, 0), 9);
    assert_non_null(strstr(fx_diag_message(diag, 0),
                           "sets no referral deadline for normal referrals "
                           "(referral_deadlines.normal), so the broker never escalates"));
    fx_diag_destroy(&diag);
    /* Urgent, it is escalated after 8h: valid. */
    char *urgent = malloc(sizeof s_valid + 32);
    const char *at = strstr(s_valid, "      purpose: victim_protection\n");
    assert_non_null(at);
    snprintf(urgent, sizeof s_valid + 32, "%.*s      urgency: urgent\n%s", (int) (at - s_valid),
             s_valid, at);
    diag = fx_diag_new("s.yaml");
    fx_scenario_t *s = s_parse(urgent, policy, diag);
    if (!s)
        fx_diag_print(diag, stderr, "unexpected: ");
    assert_non_null(s);
    assert_int_equal(fx_scenario_inject(s, 1)->urgency, FX_URGENCY_URGENT);
    fx_scenario_destroy(&s);
    fx_diag_destroy(&diag);
    free(urgent);
    fx_policy_destroy(&policy);
    /* On an alert, with or without a policy: it applies to a referral. */
    static const char alert[] = "fusion_scenario: 1\n"
                                "exercise: EX-2026-11\n"
                                "title: t\n"
                                "participants: [{id: THA.RTP.fp1}, {id: KHM.NCCT.fp1}]\n"
                                "injects:\n"
                                "  - id: a\n"
                                "    at: '+00:01'\n"
                                "    from: THA.RTP.fp1\n"
                                "    send:\n"
                                "      kind: case_alert\n"
                                "      audience: direct\n"
                                "      recipients: [KHM.NCCT.fp1]\n"
                                "      purpose: investigation\n"
                                "      sections: [{id: 1, tlp: amber, categories: operational, "
                                "text: x}]\n"
                                "    expect:\n"
                                "      - {escalated: THA.RTP.fp1, within: 8h}\n";
    diag = fx_diag_new("a.yaml");
    assert_null(s_parse(alert, NULL, diag));
    assert_int_equal(fx_diag_line(diag, 0), 16);
    assert_int_equal(fx_diag_column(diag, 0), 9);
    assert_non_null(strstr(fx_diag_message(diag, 0), "'escalated' applies to a referral"));
    fx_diag_destroy(&diag);
}

static void test_file_errors(void **state)
{
    (void) state;
    fx_diag_t *diag = fx_diag_new("missing.yaml");
    fx_scenario_t *s = NULL;
    assert_int_equal(fx_scenario_load("/nonexistent/missing.yaml", NULL, NOW, diag, &s),
                     FX_ERR_NOT_FOUND);
    assert_null(s);
    assert_int_equal(fx_diag_count(diag), 1);
    fx_diag_destroy(&diag);
    diag = fx_diag_new("bad.yaml");
    assert_null(s_parse("a: [1, 2\n", NULL, diag));
    assert_true(fx_diag_count(diag) >= 1);
    fx_diag_destroy(&diag);
    diag = fx_diag_new("alias.yaml");
    assert_null(s_parse("a: &x 1\nb: *x\n", NULL, diag));
    fx_diag_destroy(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shipped_and_policy),
        cmocka_unit_test(test_escalated_against_policy),
        cmocka_unit_test(test_denied_rule),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_route_pattern_in_any_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
