/* The enumeration words of DESIGN.md and their values (equal to the wire enums). */
#include "fusion/vocab.h"

#include <stdio.h>
#include <string.h>

static const char *const s_tlp[] = {NULL, "clear", "green", "amber", "amber_strict", "red"};
static const char *const s_category[] = {
    NULL,        "operational",     "statistical",     "personal_identifiers",
    "biometric", "travel_document", "victim_identity", "minor",
    "health",    "location",        "intel_source"};
static const char *const s_kind[] = {
    NULL,     "case_alert",     "referral",        "referral_response",
    "notice", "alert_feedback", "reshare_request", "reshare_grant"};
static const char *const s_urgency[] = {NULL, "urgent", "normal"};
static const char *const s_handling[] = {NULL, "crime_prevention_only",
                                         "no_judicial_use_without_consent",
                                         "no_onward_sharing_without_consent"};
static const char *const s_audience[] = {NULL, "direct", "taskforce", "route", "focal_points"};
static const char *const s_purpose[] = {
    NULL,          "prevention",           "border_screening", "victim_protection", "investigation",
    "prosecution", "return_reintegration", "training"};
static const char *const s_subject_role[] = {NULL,      "victim",          "suspect",
                                             "witness", "at_risk_migrant", "unknown"};
static const char *const s_stage[] = {NULL, "pre_travel", "at_border", "post_arrival"};
static const char *const s_role[] = {
    NULL,          "focal_point", "liaison_officer", "analyst",         "police",
    "immigration", "border",      "prosecution",     "social_services", "child_protection",
    "ngo",         "trainer",     "auditor",         "simulated"};

#define VOCAB(words, title)                                                                        \
    {                                                                                              \
        words, (int) (sizeof words / sizeof words[0]), title                                       \
    }
static const struct {
    const char *const *words;
    int size;
    const char *title;
} s_vocabs[FX_VOCAB_COUNT_] = {
    [FX_VOCAB_TLP] = VOCAB(s_tlp, "TLP"),
    [FX_VOCAB_CATEGORY] = VOCAB(s_category, "category"),
    [FX_VOCAB_KIND] = VOCAB(s_kind, "kind"),
    [FX_VOCAB_URGENCY] = VOCAB(s_urgency, "urgency"),
    [FX_VOCAB_HANDLING] = VOCAB(s_handling, "handling"),
    [FX_VOCAB_AUDIENCE] = VOCAB(s_audience, "audience"),
    [FX_VOCAB_PURPOSE] = VOCAB(s_purpose, "purpose"),
    [FX_VOCAB_SUBJECT_ROLE] = VOCAB(s_subject_role, "subject role"),
    [FX_VOCAB_STAGE] = VOCAB(s_stage, "stage"),
    [FX_VOCAB_ROLE] = VOCAB(s_role, "role"),
};

int fx_vocab_parse(fx_vocab_t vocab, const char *word)
{
    if ((unsigned) vocab >= FX_VOCAB_COUNT_ || !word)
        return -1;
    for (int v = 1; v < s_vocabs[vocab].size; v++)
        if (strcmp(s_vocabs[vocab].words[v], word) == 0)
            return v;
    return -1;
}

const char *fx_vocab_name(fx_vocab_t vocab, int value)
{
    if ((unsigned) vocab >= FX_VOCAB_COUNT_ || value <= 0 || value >= s_vocabs[vocab].size)
        return NULL;
    return s_vocabs[vocab].words[value];
}

int fx_vocab_size(fx_vocab_t vocab)
{
    return (unsigned) vocab < FX_VOCAB_COUNT_ ? s_vocabs[vocab].size : 0;
}

const char *fx_vocab_title(fx_vocab_t vocab)
{
    return (unsigned) vocab < FX_VOCAB_COUNT_ ? s_vocabs[vocab].title : "value";
}

void fx_vocab_list(fx_vocab_t vocab, char *buf, int size)
{
    int used = 0;
    buf[0] = '\0';
    for (int v = 1; v < fx_vocab_size(vocab) && used < size; v++)
        used += snprintf(buf + used, (size_t) (size - used), "%s%s", v > 1 ? ", " : "",
                         s_vocabs[vocab].words[v]);
}

int fx_vocab_parse_mask(fx_vocab_t vocab, const char *words, uint32_t *mask_p, char *bad,
                        int bad_size)
{
    uint32_t mask = 0;
    const char *p = words;
    while (*p) {
        size_t len = strcspn(p, ",");
        char word[64];
        if (len == 0 || len >= sizeof word) {
            snprintf(bad, (size_t) bad_size, "%.*s", (int) (len < 60 ? len : 60), p);
            return -1;
        }
        memcpy(word, p, len);
        word[len] = '\0';
        int v = fx_vocab_parse(vocab, word);
        if (v < 0) {
            snprintf(bad, (size_t) bad_size, "%s", word);
            return -1;
        }
        mask |= 1u << v;
        p += len;
        if (*p == ',' && *++p == '\0') {
            bad[0] = '\0'; /* a trailing comma: an empty item, as a leading or doubled one */
            return -1;
        }
    }
    *mask_p = mask;
    return 0;
}
