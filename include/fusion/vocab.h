/* The enumerations of DESIGN.md (TLP, categories, kinds, roles, ...): their lower-case words and
 * values. Values equal the wire enums of proto/fusion.proto; 0 means "absent" in every one, and
 * every enumeration has fewer than 32 values, so a set of them fits in a uint32_t bit mask. */
#ifndef FUSION_VOCAB_H
#define FUSION_VOCAB_H

#include <stdint.h>

typedef enum {
    FX_VOCAB_TLP,
    FX_VOCAB_CATEGORY,
    FX_VOCAB_KIND,
    FX_VOCAB_URGENCY,
    FX_VOCAB_HANDLING,
    FX_VOCAB_AUDIENCE,
    FX_VOCAB_PURPOSE,
    FX_VOCAB_SUBJECT_ROLE,
    FX_VOCAB_STAGE,
    FX_VOCAB_ROLE,
    FX_VOCAB_COUNT_
} fx_vocab_t;

/* TLP values are ordered: clear < green < amber < amber_strict < red. */
enum { FX_TLP_CLEAR = 1, FX_TLP_GREEN, FX_TLP_AMBER, FX_TLP_AMBER_STRICT, FX_TLP_RED };
enum {
    FX_CATEGORY_OPERATIONAL = 1,
    FX_CATEGORY_STATISTICAL,
    FX_CATEGORY_PERSONAL_IDENTIFIERS,
    FX_CATEGORY_BIOMETRIC,
    FX_CATEGORY_TRAVEL_DOCUMENT,
    FX_CATEGORY_VICTIM_IDENTITY,
    FX_CATEGORY_MINOR,
    FX_CATEGORY_HEALTH,
    FX_CATEGORY_LOCATION,
    FX_CATEGORY_INTEL_SOURCE
};
enum {
    FX_KIND_CASE_ALERT = 1,
    FX_KIND_REFERRAL,
    FX_KIND_REFERRAL_RESPONSE,
    FX_KIND_NOTICE,
    FX_KIND_ALERT_FEEDBACK,
    FX_KIND_RESHARE_REQUEST,
    FX_KIND_RESHARE_GRANT
};
enum { FX_URGENCY_URGENT = 1, FX_URGENCY_NORMAL };
enum {
    FX_HANDLING_CRIME_PREVENTION_ONLY = 1,
    FX_HANDLING_NO_JUDICIAL_USE_WITHOUT_CONSENT,
    FX_HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT
};
enum { FX_AUDIENCE_DIRECT = 1, FX_AUDIENCE_TASKFORCE, FX_AUDIENCE_ROUTE, FX_AUDIENCE_FOCAL_POINTS };
enum {
    FX_PURPOSE_PREVENTION = 1,
    FX_PURPOSE_BORDER_SCREENING,
    FX_PURPOSE_VICTIM_PROTECTION,
    FX_PURPOSE_INVESTIGATION,
    FX_PURPOSE_PROSECUTION,
    FX_PURPOSE_RETURN_REINTEGRATION,
    FX_PURPOSE_TRAINING
};
enum {
    FX_SUBJECT_VICTIM = 1,
    FX_SUBJECT_SUSPECT,
    FX_SUBJECT_WITNESS,
    FX_SUBJECT_AT_RISK_MIGRANT,
    FX_SUBJECT_UNKNOWN
};
enum { FX_STAGE_PRE_TRAVEL = 1, FX_STAGE_AT_BORDER, FX_STAGE_POST_ARRIVAL };
enum {
    FX_ROLE_FOCAL_POINT = 1,
    FX_ROLE_LIAISON_OFFICER,
    FX_ROLE_ANALYST,
    FX_ROLE_POLICE,
    FX_ROLE_IMMIGRATION,
    FX_ROLE_BORDER,
    FX_ROLE_PROSECUTION,
    FX_ROLE_SOCIAL_SERVICES,
    FX_ROLE_CHILD_PROTECTION,
    FX_ROLE_NGO,
    FX_ROLE_TRAINER,
    FX_ROLE_AUDITOR,
    FX_ROLE_SIMULATED
};

/* The value of a lower-case word (exact match), or -1 if the enumeration has no such word. */
int fx_vocab_parse(fx_vocab_t vocab, const char *word);

/* The word of a value, or NULL for 0 and out-of-range values. */
const char *fx_vocab_name(fx_vocab_t vocab, int value);

/* The number of values including 0 (so valid values are 1 .. size-1). */
int fx_vocab_size(fx_vocab_t vocab);

/* What the enumeration is called in messages ("TLP", "category", "role", ...). */
const char *fx_vocab_title(fx_vocab_t vocab);

/* Writes the words of the enumeration, comma-separated, into buf (for "expected one of" errors). */
void fx_vocab_list(fx_vocab_t vocab, char *buf, int size);

/* Parses a comma-separated list of words into a bit mask (bit v for value v). Returns 0, or -1
 * with the first unknown word copied into bad (bad_size bytes): "" for an empty item, wherever
 * its comma is (leading, doubled or trailing). An empty list is mask 0. */
int fx_vocab_parse_mask(fx_vocab_t vocab, const char *words, uint32_t *mask_p, char *bad,
                        int bad_size);

#endif
