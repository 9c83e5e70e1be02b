/* Section content: encoding round trips, and the categories its fields imply. */
#include <stdlib.h>
#include <string.h>

#include "fusion/content.h"
#include "fusion/vocab.h"
#include "testutil.h"

#define BIT(c) FX_CATEGORY_BIT(FX_CATEGORY_##c)

static int64_t s_at(const char *when)
{
    int64_t ms = 0;
    assert_int_equal(fx_time_parse(when, &ms), 0);
    return ms;
}

/* A case alert with one person and nothing else. */
static uint32_t s_alert_person(Fusion__Person *person, int64_t now)
{
    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    Fusion__Person *persons[] = {person};
    alert.summary = "Group of 12 expected at the land border";
    alert.n_persons = 1;
    alert.persons = persons;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    content.case_alert = &alert;
    return fx_content_categories(&content, now);
}

/* Gives a person an age in years (0: an infant under one). */
static void s_age(Fusion__Person *person, uint32_t age)
{
    person->age_given_case = FUSION__PERSON__AGE_GIVEN_AGE;
    person->age = age;
}

static void test_nothing_personal_is_operational_only(void **state)
{
    (void) state;
    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    char *indicators[] = {"recruitment through social media job offers"};
    alert.summary = "Recruiters offering call-centre jobs abroad";
    alert.modus_operandi = "tourist visas, onward travel by road";
    alert.n_indicators = 1;
    alert.indicators = indicators;
    alert.recommended_action = "secondary screening";
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    content.case_alert = &alert;
    int64_t now = s_at("2026-11-28");
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL));

    /* A person of unknown role with only a nationality is not identifying. */
    Fusion__Person anonymous = FUSION__PERSON__INIT;
    anonymous.nationality = "MMR";
    assert_int_equal(s_alert_person(&anonymous, now), BIT(OPERATIONAL));

    Fusion__Referral referral = FUSION__REFERRAL__INIT;
    referral.reason = "indicators of forced labour";
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL;
    content.referral = &referral;
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL));

    Fusion__ReferralResponse response = FUSION__REFERRAL_RESPONSE__INIT;
    response.status = FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED;
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE;
    content.referral_response = &response;
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL));

    content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    content.text = "exercise inject";
    assert_int_equal(fx_content_categories(&content, now), 0);
    assert_int_equal(fx_content_categories(NULL, now), 0);
}

static void test_person_fields(void **state)
{
    (void) state;
    int64_t now = s_at("2026-11-28");
    Fusion__Person p = FUSION__PERSON__INIT;
    p.name = "A. Example";
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS));

    fusion__person__init(&p);
    p.date_of_birth = "1990-04-02";
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS));

    fusion__person__init(&p);
    char *identifiers[] = {"national id 1234"};
    p.n_identifiers = 1;
    p.identifiers = identifiers;
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS));

    fusion__person__init(&p);
    p.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM;
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(VICTIM_IDENTITY));
    p.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_SUSPECT;
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL));

    fusion__person__init(&p);
    s_age(&p, 16);
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(MINOR));
    s_age(&p, 17);
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(MINOR));
    s_age(&p, 18);
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL));
    s_age(&p, 0); /* an infant under one year */
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(MINOR));
    fusion__person__init(&p); /* no age given: unknown */
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL));

    fusion__person__init(&p);
    p.health_notes = "needs insulin";
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(HEALTH));

    fusion__person__init(&p);
    uint8_t ref[] = {1, 2, 3};
    p.biometric_ref = (ProtobufCBinaryData){sizeof ref, ref};
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(BIOMETRIC));

    /* Everything at once: a named child victim. */
    fusion__person__init(&p);
    p.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM;
    p.name = "B. Example";
    s_age(&p, 14);
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS) |
                                                  BIT(VICTIM_IDENTITY) | BIT(MINOR));
}

static void test_date_of_birth_minor(void **state)
{
    (void) state;
    int64_t now = s_at("2026-11-28");
    Fusion__Person p = FUSION__PERSON__INIT;
    p.date_of_birth = "2016-11-28"; /* ten years ago */
    assert_int_equal(s_alert_person(&p, now),
                     BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS) | BIT(MINOR));
    p.date_of_birth = "2008-11-29"; /* 18 tomorrow */
    assert_int_equal(fx_content_dob_minor(p.date_of_birth, now), 1);
    assert_int_equal(s_alert_person(&p, now),
                     BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS) | BIT(MINOR));
    p.date_of_birth = "2008-11-28"; /* 18 today */
    assert_int_equal(fx_content_dob_minor(p.date_of_birth, now), 0);
    assert_int_equal(fx_content_dob_minor(p.date_of_birth, now - 1), 1);
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS));

    /* Born on 29 February: of age on 1 March of a non-leap year. */
    assert_int_equal(fx_content_dob_minor("2008-02-29", s_at("2026-02-28")), 1);
    assert_int_equal(fx_content_dob_minor("2008-02-29", s_at("2026-03-01")), 0);
    assert_int_equal(fx_content_dob_minor("2008-02-29", s_at("2026-03-01") - 1), 1);
    assert_int_equal(fx_content_dob_minor("2012-02-29", s_at("2030-02-28T23:59:59Z")), 1);

    /* A date that is not one is not a minor's, but still identifies. */
    assert_int_equal(fx_content_dob_minor("2016-13-01", now), -1);
    assert_int_equal(fx_content_dob_minor("2016-11-28T00:00:00Z", now), -1);
    assert_int_equal(fx_content_dob_minor("", now), -1);
    assert_int_equal(fx_content_dob_minor(NULL, now), -1);
    p.date_of_birth = "unknown";
    assert_int_equal(s_alert_person(&p, now), BIT(OPERATIONAL) | BIT(PERSONAL_IDENTIFIERS));
}

static void test_documents_location_source(void **state)
{
    (void) state;
    int64_t now = s_at("2026-11-28");
    Fusion__TravelDocument passport = FUSION__TRAVEL_DOCUMENT__INIT;
    passport.type = "passport";
    passport.number = "MA1234567";
    passport.issuing_country = "MMR";
    Fusion__TravelDocument *documents[] = {&passport};

    Fusion__Referral referral = FUSION__REFERRAL__INIT;
    referral.reason = "presumed victim of trafficking";
    referral.n_documents = 1;
    referral.documents = documents;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL;
    content.referral = &referral;
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL) | BIT(TRAVEL_DOCUMENT));

    passport.number = ""; /* only the type of document: nothing to identify it */
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL));
    passport.number = "MA1234567";

    referral.location = "Mae Sot";
    assert_int_equal(fx_content_categories(&content, now),
                     BIT(OPERATIONAL) | BIT(TRAVEL_DOCUMENT) | BIT(LOCATION));

    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    alert.summary = "vessel departure expected";
    alert.intel_source = "community informant";
    content.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    content.case_alert = &alert;
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL) | BIT(INTEL_SOURCE));

    Fusion__AlertFeedback feedback = FUSION__ALERT_FEEDBACK__INIT;
    feedback.observation = "vessel seen";
    feedback.location = "Ranong pier";
    content.body_case = FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK;
    content.alert_feedback = &feedback;
    assert_int_equal(fx_content_categories(&content, now), BIT(OPERATIONAL) | BIT(LOCATION));
}

static void test_missing_labels(void **state)
{
    (void) state;
    int64_t now = s_at("2026-11-28");
    Fusion__Person victim = FUSION__PERSON__INIT;
    victim.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM;
    victim.name = "C. Example";
    s_age(&victim, 16);
    Fusion__Person *persons[] = {&victim};
    Fusion__Referral referral = FUSION__REFERRAL__INIT;
    referral.n_persons = 1;
    referral.persons = persons;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL;
    content.referral = &referral;

    uint32_t labels = 0;
    char bad[32];
    assert_int_equal(fx_vocab_parse_mask(FX_VOCAB_CATEGORY, "operational,personal_identifiers",
                                         &labels, bad, sizeof bad),
                     0);
    assert_int_equal(fx_content_missing_labels(&content, labels, now),
                     BIT(VICTIM_IDENTITY) | BIT(MINOR));
    labels |= BIT(VICTIM_IDENTITY) | BIT(MINOR) | BIT(HEALTH); /* over-labelling is allowed */
    assert_int_equal(fx_content_missing_labels(&content, labels, now), 0);
}

static void test_encode_decode(void **state)
{
    (void) state;
    Fusion__Person person = FUSION__PERSON__INIT;
    person.name = "D. Example";
    person.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_WITNESS;
    Fusion__Person infant = FUSION__PERSON__INIT; /* an age of 0 is sent, not taken as unknown */
    s_age(&infant, 0);
    Fusion__Person *persons[] = {&person, &infant};
    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    alert.summary = "summary";
    alert.n_persons = 2;
    alert.persons = persons;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    content.case_alert = &alert;
    uint8_t *data;
    size_t len;
    fx_content_encode(&content, &data, &len);
    Fusion__SectionContent *got = NULL;
    assert_int_equal(fx_content_decode(data, len, &got), FX_OK);
    assert_int_equal(got->body_case, FUSION__SECTION_CONTENT__BODY_CASE_ALERT);
    assert_string_equal(got->case_alert->persons[0]->name, "D. Example");
    assert_int_equal(got->case_alert->persons[0]->age_given_case,
                     FUSION__PERSON__AGE_GIVEN__NOT_SET);
    assert_int_equal(got->case_alert->persons[1]->age_given_case, FUSION__PERSON__AGE_GIVEN_AGE);
    assert_int_equal(got->case_alert->persons[1]->age, 0);
    assert_true(fx_content_categories(got, 0) & BIT(MINOR));
    assert_int_equal(fx_content_categories(got, 0), fx_content_categories(&content, 0));
    fx_content_free(&got);
    assert_null(got);
    fx_content_free(&got);

    /* No body, garbage, an unknown field. */
    assert_int_equal(fx_content_decode((const uint8_t *) "", 0, &got), FX_ERR_MALFORMED);
    const uint8_t garbage[] = {0x0a, 0xff, 0xff};
    assert_int_equal(fx_content_decode(garbage, sizeof garbage, &got), FX_ERR_MALFORMED);
    const uint8_t unknown[] = {0x32, 0x01, 'x', 0xf8, 0x01, 0x01}; /* text "x", field 31 */
    assert_int_equal(fx_content_decode(unknown, sizeof unknown, &got), FX_ERR_UNKNOWN_FIELD);
    assert_null(got);
    free(data);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_personal_is_operational_only),
        cmocka_unit_test(test_person_fields),
        cmocka_unit_test(test_date_of_birth_minor),
        cmocka_unit_test(test_documents_location_source),
        cmocka_unit_test(test_missing_labels),
        cmocka_unit_test(test_encode_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
