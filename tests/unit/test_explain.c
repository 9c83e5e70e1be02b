/* The explain contract: the answer's shape and field presence, decision order, `at` defaults and
 * forms, null and empty values, and every kind of invalid query. Queries are a base query with a
 * JSON merge patch ('"$delete"' removes a key; single quotes stand for double quotes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/explain.h"
#include "fusion/policy.h"
#include "testutil.h"

static const char *s_policy_yaml =
    "fusion_policy: 1\n"
    "default: forbid\n"
    "protected_categories: [personal_identifiers, victim_identity]\n"
    "agreements:\n"
    "  - {id: OLD, parties: [IDN, THA], categories: [victim_identity], purposes: "
    "[victim_protection], until: 2000-01-01}\n"
    "  - {id: NEW, parties: [IDN, THA], categories: [victim_identity], purposes: "
    "[victim_protection], from: 2030-01-01}\n"
    "taskforces: [{id: TF, members: [THA.RTP, IDN.POLRI]}]\n"
    "exercises: [{id: EX, participants: [THA.RTP, IDN.POLRI]}]\n"
    "rules:\n"
    "  - {id: no-intel, effect: forbid, guideline: Protect sources, when: {categories: "
    "intel_source}}\n"
    "  - {id: staged, effect: permit, guideline: Not at the border, when: {stage: {not: "
    "at_border}, recipient.roles: liaison_officer}}\n"
    "  - {id: focal, effect: permit, guideline: Focal points, when: {recipient.roles: "
    "focal_point}}\n";

static const char *s_base =
    "{'at': '2026-11-28T00:00:00Z',"
    " 'sender': {'id': 'THA.RTP.fp1', 'country': 'THA', 'agency': 'THA.RTP', 'roles': "
    "['focal_point', 'police']},"
    " 'recipients': [{'id': 'IDN.POLRI.fp1', 'country': 'IDN', 'agency': 'IDN.POLRI', 'roles': "
    "['focal_point']},"
    "                {'id': 'IDN.POLRI.lo1', 'country': 'IDN', 'agency': 'IDN.POLRI', 'roles': "
    "['liaison_officer']}],"
    " 'message': {'kind': 'referral', 'audience': 'direct', 'route': null, 'stage': null,"
    "             'purpose': 'victim_protection', 'subject_role': 'victim', 'consent': false,"
    "             'taskforce': null, 'agreement': null, 'exercise': null,"
    "             'sections': [{'id': 1, 'tlp': 'amber', 'categories': ['operational']},"
    "                          {'id': 2, 'tlp': 'amber', 'categories': ['intel_source']}]}}";

static json_t *s_json(const char *text)
{
    char *copy = strdup(text);
    for (char *p = copy; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *value = json_loads(copy, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!value)
        fail_msg("bad test JSON (%s): %s", err.text, copy);
    free(copy);
    return value;
}

static void s_merge(json_t *target, json_t *patch)
{
    const char *key;
    json_t *value;
    json_object_foreach(patch, key, value)
    {
        json_t *old = json_object_get(target, key);
        if (json_is_string(value) && strcmp(json_string_value(value), "$delete") == 0)
            json_object_del(target, key);
        else if (json_is_object(value) && json_is_object(old))
            s_merge(old, value);
        else
            json_object_set(target, key, value);
    }
}

static json_t *s_query(const char *patch)
{
    json_t *query = s_json(s_base);
    if (patch && *patch) {
        json_t *p = s_json(patch);
        if (json_is_object(p)) {
            s_merge(query, p);
        } else {
            json_decref(query);
            query = json_incref(p);
        }
        json_decref(p);
    }
    return query;
}

static fx_policy_t *s_policy(void)
{
    fx_policy_t *policy = NULL;
    assert_int_equal(fx_policy_load_buffer("explain-test", (const uint8_t *) s_policy_yaml,
                                           strlen(s_policy_yaml), &policy, NULL),
                     FX_OK);
    return policy;
}

/* Runs a patched query; returns the decisions array (owned by *answer_p). */
static json_t *s_explain(const fx_policy_t *policy, const char *patch, json_t **answer_p)
{
    json_t *query = s_query(patch);
    char why[FX_EXPLAIN_WHY_SIZE] = "";
    int64_t now = 0;
    assert_int_equal(fx_time_parse("2026-01-01", &now), 0);
    fx_err_t rc = fx_explain(policy, query, now, answer_p, why, sizeof why);
    if (rc != FX_OK)
        fail_msg("explain(%s): %s", patch, why);
    json_decref(query);
    json_t *decisions = json_object_get(*answer_p, "decisions");
    assert_true(json_is_array(decisions));
    assert_int_equal(json_object_size(*answer_p), 1);
    return decisions;
}

static const char *s_get(json_t *decision, const char *key)
{
    return json_string_value(json_object_get(decision, key));
}

/* The contract's presence rules for one decision. */
static void s_check_fields(json_t *d)
{
    json_t *allow = json_object_get(d, "allow");
    assert_true(json_is_boolean(allow));
    assert_true(json_is_string(json_object_get(d, "recipient")));
    assert_true(json_is_integer(json_object_get(d, "section")));
    const char *reason = s_get(d, "reason");
    assert_non_null(reason);
    assert_true(strlen(reason) > 0);
    const char *code = s_get(d, "code");
    if (json_is_true(allow)) {
        assert_null(code);
        assert_non_null(s_get(d, "rule"));
    } else {
        assert_non_null(code);
        if (strcmp(code, "forbidden") == 0)
            assert_non_null(s_get(d, "rule"));
        else
            assert_null(json_object_get(d, "rule"));
    }
    const char *known[] = {"recipient", "section", "allow", "code", "rule", "agreement", "reason"};
    const char *key;
    json_t *value;
    json_object_foreach(d, key, value)
    {
        size_t k = 0;
        while (k < 7 && strcmp(known[k], key) != 0)
            k++;
        assert_true(k < 7);
    }
}

static void test_answer_shape_and_order(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    json_t *answer = NULL;
    json_t *d = s_explain(policy, "", &answer);
    assert_int_equal(json_array_size(d), 4);
    const char *who[] = {"IDN.POLRI.fp1", "IDN.POLRI.fp1", "IDN.POLRI.lo1", "IDN.POLRI.lo1"};
    const int section[] = {1, 2, 1, 2};
    const char *code[] = {NULL, "forbidden", "no_permit", "forbidden"};
    const char *rule[] = {"focal", "no-intel", NULL, "no-intel"};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(d, i);
        s_check_fields(e);
        assert_string_equal(s_get(e, "recipient"), who[i]);
        assert_int_equal(json_integer_value(json_object_get(e, "section")), section[i]);
        if (code[i])
            assert_string_equal(s_get(e, "code"), code[i]);
        else
            assert_null(json_object_get(e, "code"));
        if (rule[i])
            assert_string_equal(s_get(e, "rule"), rule[i]);
        else
            assert_null(json_object_get(e, "rule"));
        assert_null(json_object_get(e, "agreement"));
    }
    assert_non_null(strstr(s_get(json_array_get(d, 1), "reason"), "Protect sources"));
    json_decref(answer);

    /* Sections in the message's order, whatever their ids. */
    d = s_explain(policy,
                  "{'message': {'sections': [{'id': 9, 'tlp': 'green', 'categories': []},"
                  " {'id': 3, 'tlp': 'red', 'categories': []}]}, 'recipients': [{'id': "
                  "'THA.DSI.fp1', 'roles': "
                  "['focal_point']}]}",
                  &answer);
    assert_int_equal(json_array_size(d), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "section")), 9);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 1), "section")), 3);
    json_decref(answer);
    fx_policy_destroy(&policy);
}

static void test_no_recipients(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    /* Left out, null or []: DESIGN.md's "No recipients gives {"decisions": []}". */
    const char *patches[] = {"{'recipients': []}", "{'recipients': null}",
                             "{'recipients': '$delete'}"};
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        json_t *answer = NULL;
        json_t *d = s_explain(policy, patches[i], &answer);
        assert_int_equal(json_array_size(d), 0);
        char *text = json_dumps(answer, JSON_COMPACT);
        assert_string_equal(text, "{\"decisions\":[]}");
        free(text);
        json_decref(answer);
    }
    fx_policy_destroy(&policy);
}

/* at: RFC 3339 or a bare date; absent or null means now (2026-01-01 in these tests). */
static void test_at(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    const char *victim = "'message': {'sections': [{'id': 1, 'tlp': 'amber', 'categories': "
                         "['victim_identity']}]}";
    struct {
        const char *at;
        const char *agreement; /* NULL: no_agreement */
    } cases[] = {
        {"'1999-12-31'", "OLD"}, {"'1999-12-31T23:59:59Z'", "OLD"},
        {"'2000-01-01'", NULL},  {"'2000-01-01T06:59:59+07:00'", "OLD"},
        {"'2030-01-01'", "NEW"}, {"'2029-12-31T23:59:59.999Z'", NULL},
        {"'$delete'", NULL},     {"null", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char patch[512];
        snprintf(patch, sizeof patch, "{'at': %s, %s}", cases[i].at, victim);
        json_t *answer = NULL;
        json_t *d = json_array_get(s_explain(policy, patch, &answer), 0);
        s_check_fields(d);
        if (cases[i].agreement) {
            assert_true(json_is_true(json_object_get(d, "allow")));
            assert_string_equal(s_get(d, "agreement"), cases[i].agreement);
        } else {
            assert_string_equal(s_get(d, "code"), "no_agreement");
            assert_null(json_object_get(d, "agreement"));
        }
        json_decref(answer);
    }
    fx_policy_destroy(&policy);
}

/* null or "" for taskforce, agreement and exercise is none; null route, stage, purpose and
 * subject_role are absent (so conditions on them, `not` included, do not hold). */
static void test_null_and_empty_values(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    struct {
        const char *patch;
        size_t index;
        const char *code; /* NULL: allowed */
        const char *rule;
    } cases[] = {
        {"{'message': {'exercise': ''}}", 0, NULL, "focal"},
        {"{'message': {'exercise': 'EX'}}", 0, NULL, "focal"},
        {"{'message': {'exercise': 'NOPE'}}", 0, "exercise_segregation", NULL},
        {"{'message': {'agreement': ''}}", 0, NULL, "focal"},
        {"{'message': {'audience': 'taskforce', 'taskforce': ''}}", 0, "audience_mismatch", NULL},
        {"{'message': {'audience': 'taskforce', 'taskforce': null}}", 0, "audience_mismatch", NULL},
        {"{'message': {'audience': 'taskforce', 'taskforce': 'TF'}}", 0, NULL, "focal"},
        {"{'message': {'stage': null}}", 2, "no_permit", NULL},
        {"{'message': {'stage': '$delete'}}", 2, "no_permit", NULL},
        {"{'message': {'stage': 'post_arrival'}}", 2, NULL, "staged"},
        {"{'message': {'stage': 'at_border'}}", 2, "no_permit", NULL},
        {"{'message': {'route': null, 'stage': 'pre_travel'}}", 2, NULL, "staged"},
        {"{'message': {'route': 'mmr>tha', 'urgency': 'urgent', 'handling': "
         "['crime_prevention_only']}}",
         0, NULL, "focal"},
        {"{'message': {'urgency': null, 'handling': 'no_onward_sharing_without_consent'}}", 0, NULL,
         "focal"},
        {"{'message': {'purpose': null, 'subject_role': null, 'consent': null}}", 0, NULL, "focal"},
        /* What DESIGN.md lets be null, or what is derived, may also be left out. */
        {"{'at': '$delete', 'message': {'route': '$delete', 'stage': '$delete', 'purpose': "
         "'$delete', 'subject_role': '$delete', 'consent': '$delete', 'taskforce': '$delete', "
         "'agreement': '$delete', 'exercise': '$delete'}}",
         0, NULL, "focal"},
        {"{'recipients': [{'id': 'IDN.POLRI.fp1', 'roles': ['focal_point']}]}", 0, NULL, "focal"},
        {"{'message': {'purpose': null, 'sections': [{'id': 1, 'tlp': 'amber', 'categories': "
         "['victim_identity']}]}}",
         0, "no_agreement", NULL},
        {"{'sender': {'country': '$delete', 'agency': '$delete', 'roles': '$delete'}}", 0, NULL,
         "focal"},
        {"{'sender': {'country': 'tha'}}", 0, NULL, "focal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *answer = NULL;
        json_t *d = json_array_get(s_explain(policy, cases[i].patch, &answer), cases[i].index);
        s_check_fields(d);
        const char *code = s_get(d, "code");
        if (cases[i].code ? !code || strcmp(code, cases[i].code) != 0 : code != NULL)
            fail_msg("case %zu %s: code %s", i, cases[i].patch, code ? code : "(none)");
        if (cases[i].rule)
            assert_string_equal(s_get(d, "rule"), cases[i].rule);
        json_decref(answer);
    }
    fx_policy_destroy(&policy);
}

/* Invalid queries name the problem. */
static void test_invalid_queries(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    struct {
        const char *patch;
        const char *why;
    } cases[] = {
        {"[]", "must be a JSON object"},
        {"'query'", "must be a JSON object"},
        {"{'colour': 'red'}", "unknown key 'colour' in the query"},
        {"{'sender': {'unit': 'x'}}", "unknown key 'unit' in sender"},
        {"{'recipients': [{'id': 'IDN.POLRI.fp1', 'name': 'x'}]}",
         "unknown key 'name' in recipients[0]"},
        {"{'message': {'priority': 'high'}}", "unknown key 'priority' in message"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'green', 'label': 'x'}]}}",
         "unknown key 'label' in message.sections[0]"},
        {"{'message': {'sections': []}}", "no sections"},
        {"{'message': {'sections': null}}", "no sections"},
        {"{'message': {'sections': '$delete'}}", "no sections"},
        {"{'message': '$delete'}", "the query has no message"},
        {"{'message': {'sections': {'id': 1}}}", "sections must be a list"},
        {"{'message': 5}", "message must be an object"},
        {"{'message': {'kind': 'alert'}}", "message.kind: unknown kind 'alert'"},
        {"{'message': {'kind': ''}}", "unknown kind ''"},
        {"{'message': {'audience': 'everyone'}}", "unknown audience 'everyone'"},
        {"{'message': {'stage': 'landed'}}", "unknown stage 'landed'"},
        {"{'message': {'purpose': 'fun'}}", "unknown purpose 'fun'"},
        {"{'message': {'subject_role': 'Victim'}}", "unknown subject role 'Victim'"},
        {"{'message': {'urgency': 'now'}}", "unknown urgency 'now'"},
        {"{'message': {'handling': ['secret']}}", "unknown handling 'secret'"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'white'}]}}", "unknown TLP 'white'"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'green', 'categories': ['names']}]}}",
         "message.sections[0].categories[0]: unknown category 'names'"},
        {"{'sender': {'roles': ['chief']}}", "sender.roles[0]: unknown role 'chief'"},
        {"{'recipients': [{'id': 'IDN.POLRI.fp1', 'roles': ['focal_point', 'boss']}]}",
         "recipients[0].roles[1]: unknown role 'boss'"},
        {"{'sender': {'roles': 'police'}}", "sender.roles must be a list"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'green', 'categories': 'operational'}]}}",
         "categories must be a list"},
        {"{'message': {'consent': 'yes'}}", "consent must be true, false or null"},
        {"{'message': {'route': 5}}", "message.route must be a string or null"},
        {"{'message': {'route': 'MMR>>THA'}}", "route is not a route"},
        {"{'message': {'route': ''}}", "message.route is empty"},
        {"{'message': {'sections': [{'id': '1', 'tlp': 'green'}]}}", "id must be a whole number"},
        {"{'message': {'sections': [{'id': -1, 'tlp': 'green'}]}}", "id must be a whole number"},
        {"{'message': {'sections': [{'id': 1.5, 'tlp': 'green'}]}}", "id must be a whole number"},
        {"{'message': {'sections': [{'id': 1}]}}", "has no tlp"},
        {"{'message': {'sections': [5]}}", "must be an object"},
        {"{'at': 5}", "at must be a string"},
        {"{'at': 'yesterday'}", "at 'yesterday' is neither"},
        {"{'at': '2026-11-28T00:00:00'}", "is neither"},
        {"{'sender': '$delete'}", "no sender"},
        {"{'sender': 'THA.RTP.fp1'}", "sender must be an object"},
        {"{'sender': {'id': '$delete'}}", "sender has no id"},
        {"{'sender': {'id': 'THA.RTP'}}", "sender id is not a principal id"},
        {"{'sender': {'country': 'TH'}}", "country is not a country code"},
        {"{'sender': {'agency': 'RTP'}}", "agency is not an agency"},
        {"{'recipients': {'id': 'x'}}", "recipients must be a list"},
        {"{'recipients': ['IDN.POLRI.fp1']}", "recipients[0] must be an object"},
        {"{'recipients': [{'id': 'nobody'}]}", "recipients[0]: the recipient id is not"},
        {"{'sender': {'id': 'THA.RTP.f\\u0000p1'}}", "NUL"},
        /* A query has exactly the keys DESIGN.md shows: those it does not let be null or
         * derive are required, each named with its path (they were taken as null or empty). */
        {"{'message': {'kind': '$delete'}}", "message has no kind"},
        {"{'message': {'kind': null}}", "message.kind must be a string"},
        {"{'message': {'audience': '$delete'}}", "message has no audience"},
        {"{'message': {'audience': null}}", "message.audience must be a string"},
        {"{'sender': '$delete'}", "the query has no sender"},
        {"{'recipients': 3}", "recipients must be a list ([] for none)"},
        {"{'message': {'sections': [{'tlp': 'green', 'categories': []}]}}",
         "message.sections[0] has no id"},
        {"{'message': {'sections': [{'id': 1, 'categories': []}]}}",
         "message.sections[0] has no tlp"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'green', 'categories': []}, {'id': 2, "
         "'tlp': 'green'}]}}",
         "message.sections[1] has no categories (write [] for none)"},
        {"{'message': {'sections': [{'id': 1, 'tlp': 'green', 'categories': null}]}}",
         "message.sections[0].categories must be a list of words"},
        {"{'recipients': [{'country': 'IDN'}]}", "recipients[0] has no id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *query = s_query(cases[i].patch), *answer = NULL;
        char why[FX_EXPLAIN_WHY_SIZE] = "";
        fx_err_t rc = fx_explain(policy, query, 0, &answer, why, sizeof why);
        if (rc != FX_ERR_INVALID || !strstr(why, cases[i].why))
            fail_msg("case %zu %s: rc %d why '%s', expected '%s'", i, cases[i].patch, rc, why,
                     cases[i].why);
        assert_null(answer);
        json_decref(query);
    }
    /* 256 sections are too many; 255 are fine. */
    for (int n = 255; n <= 256; n++) {
        json_t *query = s_query(NULL), *sections = json_array(), *answer = NULL;
        for (int i = 0; i < n; i++)
            json_array_append_new(
                sections, json_pack("{s:i, s:s, s:[]}", "id", i + 1, "tlp", "green", "categories"));
        json_object_set_new(json_object_get(query, "message"), "sections", sections);
        char why[FX_EXPLAIN_WHY_SIZE];
        fx_err_t rc = fx_explain(policy, query, 0, &answer, why, sizeof why);
        assert_int_equal(rc, n == 255 ? FX_OK : FX_ERR_INVALID);
        if (answer)
            assert_int_equal(json_array_size(json_object_get(answer, "decisions")), 2 * 255);
        json_decref(answer);
        json_decref(query);
    }
    /* why may be NULL. */
    json_t *query = s_query("[]"), *answer = NULL;
    assert_int_equal(fx_explain(policy, query, 0, &answer, NULL, 0), FX_ERR_INVALID);
    json_decref(query);
    fx_policy_destroy(&policy);
}

static void test_decision_text(void **state)
{
    (void) state;
    fx_policy_t *policy = s_policy();
    json_t *answer = NULL;
    json_t *d = s_explain(policy,
                          "{'at': '1999-01-01', 'message': {'sections': [{'id': 2, 'tlp': "
                          "'amber', 'categories': ['victim_identity']}, {'id': 3, 'tlp': 'red', "
                          "'categories': ['intel_source']}]}}",
                          &answer);
    const char *expect[] = {
        "IDN.POLRI.fp1, section 2: allowed by rule focal (Focal points) under agreement OLD",
        "IDN.POLRI.fp1, section 3: denied (forbidden) by rule no-intel (Protect sources)",
        "IDN.POLRI.lo1, section 2: denied (no_permit): ",
    };
    for (size_t i = 0; i < 3; i++) {
        char *line = fx_explain_decision_text(policy, json_array_get(d, i));
        if (strncmp(line, expect[i], strlen(expect[i])) != 0)
            fail_msg("got '%s', expected '%s'", line, expect[i]);
        free(line);
    }
    char *line = fx_explain_decision_text(NULL, json_array_get(d, 0));
    assert_string_equal(line,
                        "IDN.POLRI.fp1, section 2: allowed by rule focal under agreement OLD");
    free(line);
    json_decref(answer);
    fx_policy_destroy(&policy);
}

/* Country codes are compared whatever their case (DESIGN.md), also as the country part of an
 * agency or principal id, in the policy and in the query; the agency and unit parts are
 * case-sensitive. */
static void test_country_case_in_ids(void **state)
{
    (void) state;
    static const char *yaml =
        "fusion_policy: 1\n"
        "default: forbid\n"
        "taskforces: [{id: TF, members: [tha.RTP, idn.POLRI.lo1]}]\n"
        "rules:\n"
        "  - {id: tf, effect: permit, guideline: g, when: {audience: taskforce,"
        " sender.agency: Tha.RTP, recipient.id: [idn.POLRI.lo1]}}\n"
        "  - {id: case, effect: permit, guideline: g, when: {sender.agency: "
        "tha.rtp}}\n";
    fx_policy_t *policy = NULL;
    assert_int_equal(
        fx_policy_load_buffer("case", (const uint8_t *) yaml, strlen(yaml), &policy, NULL), FX_OK);
    json_t *answer = NULL;
    json_t *d = s_explain(policy,
                          "{'sender': {'id': 'tha.RTP.fp1', 'country': '$delete', 'agency': "
                          "'tHA.RTP'}, 'recipients': [{'id': 'idn.POLRI.lo1', 'country': 'idn'}"
                          ", {'id': 'IDN.POLRI.fp1'}], 'message': "
                          "{'audience': 'taskforce', 'taskforce': 'TF', 'purpose': null, "
                          "'sections': [{'id': 1, 'tlp': 'green', 'categories': []}]}}",
                          &answer);
    assert_int_equal(json_array_size(d), 2);
    json_t *lo1 = json_array_get(d, 0), *fp1 = json_array_get(d, 1);
    assert_string_equal(s_get(lo1, "recipient"), "IDN.POLRI.lo1");
    assert_true(json_is_true(json_object_get(lo1, "allow")));
    assert_string_equal(s_get(lo1, "rule"), "tf");
    assert_string_equal(s_get(fp1, "code"), "audience_mismatch"); /* not a member */
    json_decref(answer);
    /* Rule case names agency THA.rtp, not the sender's THA.RTP. */
    d = s_explain(policy,
                  "{'sender': {'id': 'tha.RTP.fp1', 'country': '$delete', 'agency': '$delete'}, "
                  "'message': {'audience': 'direct', 'sections': [{'id': 1, 'tlp': 'green', "
                  "'categories': []}]}}",
                  &answer);
    assert_string_equal(s_get(json_array_get(d, 0), "code"), "no_permit");
    json_decref(answer);
    fx_policy_destroy(&policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_shape_and_order),
        cmocka_unit_test(test_no_recipients),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_null_and_empty_values),
        cmocka_unit_test(test_invalid_queries),
        cmocka_unit_test(test_decision_text),
        cmocka_unit_test(test_country_case_in_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
