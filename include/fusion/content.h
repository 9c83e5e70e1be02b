/* Section content: the plaintext of a section (case alert, referral, referral response, ...) as a
 * SectionContent message, and the data categories its fields imply, so an agent can refuse a
 * section labelled below what it carries (the broker cannot read content; it trusts the labels). */
#ifndef FUSION_CONTENT_H
#define FUSION_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/codec.h"
#include "fusion/util.h"

/* The bit of category value c in a category mask (as fx_vocab_parse_mask builds). */
#define FX_CATEGORY_BIT(c) (1u << (c))

#define FX_ADULT_AGE 18

/* Decodes a section's plaintext into *content_p (free with fx_content_free). FX_ERR_MALFORMED,
 * FX_ERR_UNKNOWN_FIELD or FX_ERR_TOO_LARGE; FX_ERR_MALFORMED also for a content with no body. */
fx_err_t fx_content_decode(const uint8_t *data, size_t len,
                           Fusion__SectionContent **content_p) FX_WUR;

/* Encodes a content into a new buffer (caller frees). */
void fx_content_encode(const Fusion__SectionContent *content, uint8_t **data_p, size_t *len_p);

/* Frees a content returned by fx_content_decode; sets *content_p to NULL. Accepts NULL. */
void fx_content_free(Fusion__SectionContent **content_p);

/* The category mask the content's fields imply at time now_ms (for the age of a date of birth):
 * operational for alerts, referrals, responses and feedback; personal_identifiers for a person's
 * name, date of birth or identifiers; travel_document for a document number; victim_identity for
 * a person in the role of victim; minor for an age under 18 or a birth less than 18 years before
 * now; health for health notes; biometric for a biometric reference; location for a location;
 * intel_source for an intelligence source. Notices and free text imply nothing. */
uint32_t fx_content_categories(const Fusion__SectionContent *content, int64_t now_ms);

/* The categories the content implies that the labels do not carry (0 when labelled enough). */
uint32_t fx_content_missing_labels(const Fusion__SectionContent *content, uint32_t labels,
                                   int64_t now_ms);

/* 1 if a date of birth (YYYY-MM-DD) is less than FX_ADULT_AGE years before now_ms, 0 if not, -1
 * if it is not a valid date. */
int fx_content_dob_minor(const char *date_of_birth, int64_t now_ms);

#endif
