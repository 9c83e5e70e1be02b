/* Message drafts: the YAML or JSON file an officer writes for `fusion-agent send` (header fields,
 * recipients for a direct message, and sections of free text, a text file or structured content),
 * checked strictly with FILE:LINE:COLUMN diagnostics. A section labelled below the categories its
 * content implies is refused. docs/drafts.md describes the format. */
#ifndef FUSION_DRAFT_H
#define FUSION_DRAFT_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/codec.h"
#include "fusion/util.h"
#include "fusion/yamldoc.h"

#define FX_DRAFT_MAX_BYTES      (1u << 20) /* a draft file */
#define FX_DRAFT_MAX_RECIPIENTS 256        /* principal or agency ids of a direct message */
#define FX_DRAFT_MAX_TTL_MS     (366LL * 24 * 3600 * 1000)
/* How far ahead of the clock an observation may be dated (clocks differ by a little). */
#define FX_DRAFT_OBSERVED_SKEW_MIN 5

typedef struct fx_draft fx_draft_t;

/* Reads and checks a draft file at now_ms (the time relative expiry and ages count from);
 * `file:` paths are relative to the draft's directory. Every problem goes to diag (named as the
 * caller made it, usually the path) as NAME:LINE:COLUMN: message; FX_ERR_INVALID when there was
 * any. *draft_p is new. */
fx_err_t fx_draft_load(const char *path, int64_t now_ms, fx_diag_t *diag,
                       fx_draft_t **draft_p) FX_WUR;

/* The same for a draft in memory, with `file:` paths relative to base_dir. */
fx_err_t fx_draft_parse(const uint8_t *data, size_t len, const char *base_dir, int64_t now_ms,
                        fx_diag_t *diag, fx_draft_t **draft_p) FX_WUR;

/* The same for a draft that is one mapping inside a larger YAML document (a scenario's inject):
 * positions in diag are those of that document. */
fx_err_t fx_draft_from_node(const fx_yaml_node_t *root, const char *base_dir, int64_t now_ms,
                            fx_diag_t *diag, fx_draft_t **draft_p) FX_WUR;

/* Frees a draft, wiping its plaintext; sets *self_p to NULL. Accepts NULL. */
void fx_draft_destroy(fx_draft_t **self_p);

/* The header as the sender will sign it, without msg_id, created_at and hashes: every header
 * field of the draft, expires_at as an absolute time, and one descriptor (id, tlp, categories)
 * per section. Owned by the draft. */
const Fusion__Header *fx_draft_header(const fx_draft_t *self);

/* The recipients of a direct message (principal or agency ids), in the draft's order. */
size_t fx_draft_recipient_count(const fx_draft_t *self);
const char *const *fx_draft_recipients(const fx_draft_t *self);

/* The sections, in the draft's order: id, TLP (FX_TLP_*), category mask (bit v for category v)
 * and the plaintext to seal (an encoded SectionContent, owned by the draft). */
size_t fx_draft_section_count(const fx_draft_t *self);
uint32_t fx_draft_section_id(const fx_draft_t *self, size_t i);
int fx_draft_section_tlp(const fx_draft_t *self, size_t i);
uint32_t fx_draft_section_categories(const fx_draft_t *self, size_t i);
const uint8_t *fx_draft_section_plaintext(const fx_draft_t *self, size_t i, size_t *len_p);

/* Serializes a checked draft for the outbox (caller frees *data_p). */
void fx_draft_serialize(const fx_draft_t *self, uint8_t **data_p, size_t *len_p);

/* Reads back a serialized draft. FX_ERR_MALFORMED for bytes that are not one. *draft_p is new. */
fx_err_t fx_draft_deserialize(const uint8_t *data, size_t len, fx_draft_t **draft_p) FX_WUR;

/* One section of a draft a program builds (fusion-agent respond, forward ...): id, TLP
 * (FX_TLP_*), category mask and plaintext (an encoded SectionContent, copied). */
typedef struct {
    uint32_t id;
    int tlp;
    uint32_t categories;
    const uint8_t *plaintext;
    size_t len;
} fx_draft_section_t;

/* Builds a draft from a header (every field as it will be signed except msg_id, created_at and
 * the section descriptors, which come from sections; copied), the recipients of a direct message
 * (principal or agency ids) and the sections, checked as fx_draft_parse checks a file: valid,
 * unique recipients and section ids, a TLP and categories per section, content that decodes and
 * is labelled with every category it implies at now_ms, and for a referral_response one status
 * (written into the header's response_status). FX_ERR_INVALID with a sentence in why (why_size
 * bytes). *draft_p is new. */
fx_err_t fx_draft_new(const Fusion__Header *header, const char *const *recipients,
                      size_t n_recipients, const fx_draft_section_t *sections, size_t n_sections,
                      int64_t now_ms, fx_draft_t **draft_p, char *why, size_t why_size) FX_WUR;

/* Category masks as words for messages ("personal_identifiers, victim_identity") into buf. */
void fx_draft_categories_text(uint32_t mask, char *buf, size_t size);

#endif
