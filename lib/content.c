/* Section content: encoding through the codec, and the categories a content implies from the
 * fields it fills in (DESIGN.md "Content"). */
#include "fusion/content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/vocab.h"

fx_err_t fx_content_decode(const uint8_t *data, size_t len, Fusion__SectionContent **content_p)
{
    *content_p = NULL;
    Fusion__SectionContent *content = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_SECTION_CONTENT, data, len, (void **) &content);
    if (rc != FX_OK)
        return rc;
    if (content->body_case == FUSION__SECTION_CONTENT__BODY__NOT_SET) {
        fx_codec_free(content);
        return FX_ERR_MALFORMED;
    }
    *content_p = content;
    return FX_OK;
}

void fx_content_encode(const Fusion__SectionContent *content, uint8_t **data_p, size_t *len_p)
{
    fx_codec_encode(content, data_p, len_p);
}

void fx_content_free(Fusion__SectionContent **content_p)
{
    if (!content_p || !*content_p)
        return;
    fx_codec_free(*content_p);
    *content_p = NULL;
}

static int s_filled(const char *text)
{
    return text && text[0] != '\0';
}

int fx_content_dob_minor(const char *date_of_birth, int64_t now_ms)
{
    int64_t born_ms;
    if (!date_of_birth || strlen(date_of_birth) != 10 ||
        fx_time_parse(date_of_birth, &born_ms) != 0)
        return -1;
    int year = atoi(date_of_birth), month = atoi(date_of_birth + 5), day = atoi(date_of_birth + 8);
    char adult[48];
    int64_t adult_ms;
    snprintf(adult, sizeof adult, "%04d-%02d-%02d", year + FX_ADULT_AGE, month, day);
    if (fx_time_parse(adult, &adult_ms) != 0) {
        /* Born on 29 February: of age on 1 March when the year is not a leap year. */
        snprintf(adult, sizeof adult, "%04d-03-01", year + FX_ADULT_AGE);
        if (fx_time_parse(adult, &adult_ms) != 0)
            return -1;
    }
    return now_ms < adult_ms ? 1 : 0;
}

static uint32_t s_person(const Fusion__Person *p, int64_t now_ms)
{
    uint32_t mask = 0;
    if (s_filled(p->name) || s_filled(p->date_of_birth) || p->n_identifiers > 0)
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_PERSONAL_IDENTIFIERS);
    if (p->role == FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM)
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_VICTIM_IDENTITY);
    if ((p->age_given_case == FUSION__PERSON__AGE_GIVEN_AGE && p->age < FX_ADULT_AGE) ||
        fx_content_dob_minor(p->date_of_birth, now_ms) == 1)
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_MINOR);
    if (s_filled(p->health_notes))
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_HEALTH);
    if (p->biometric_ref.len > 0)
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_BIOMETRIC);
    return mask;
}

static uint32_t s_people(Fusion__Person **persons, size_t n_persons,
                         Fusion__TravelDocument **documents, size_t n_documents,
                         const char *location, int64_t now_ms)
{
    uint32_t mask = FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL);
    for (size_t i = 0; i < n_persons; i++)
        mask |= s_person(persons[i], now_ms);
    for (size_t i = 0; i < n_documents; i++)
        if (s_filled(documents[i]->number))
            mask |= FX_CATEGORY_BIT(FX_CATEGORY_TRAVEL_DOCUMENT);
    if (s_filled(location))
        mask |= FX_CATEGORY_BIT(FX_CATEGORY_LOCATION);
    return mask;
}

uint32_t fx_content_categories(const Fusion__SectionContent *content, int64_t now_ms)
{
    if (!content)
        return 0;
    switch (content->body_case) {
    case FUSION__SECTION_CONTENT__BODY_CASE_ALERT: {
        const Fusion__CaseAlert *a = content->case_alert;
        uint32_t mask =
            s_people(a->persons, a->n_persons, a->documents, a->n_documents, a->location, now_ms);
        if (s_filled(a->intel_source))
            mask |= FX_CATEGORY_BIT(FX_CATEGORY_INTEL_SOURCE);
        return mask;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL: {
        const Fusion__Referral *r = content->referral;
        return s_people(r->persons, r->n_persons, r->documents, r->n_documents, r->location,
                        now_ms);
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE:
        return FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL);
    case FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK: {
        uint32_t mask = FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL);
        if (s_filled(content->alert_feedback->location))
            mask |= FX_CATEGORY_BIT(FX_CATEGORY_LOCATION);
        return mask;
    }
    default: /* notices and free text: the officer labels them */
        return 0;
    }
}

uint32_t fx_content_missing_labels(const Fusion__SectionContent *content, uint32_t labels,
                                   int64_t now_ms)
{
    return fx_content_categories(content, now_ms) & ~labels;
}
