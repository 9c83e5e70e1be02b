/* Envelopes: sections sealed with XChaCha20-Poly1305 under fresh keys wrapped for each recipient,
 * a header signed once over its exact bytes, strict decoding with limits, the per-recipient copy.
 * The broker decodes, verifies and copies; agents seal and open. */
#include "fusion/envelope.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/util.h"
#include "fusion/vocab.h"

/* Associated data of a section: the domain, then the fixed-length msg_id and big-endian section
 * id, then the sender id, which runs to the end. Only the last field has a variable length, so the
 * encoding is unambiguous. */
#define SECTION_DOMAIN     "fusion/v1/section"
#define SECTION_DOMAIN_LEN (sizeof SECTION_DOMAIN) /* with its NUL */

/* Number of values of each enumeration, 0 ("absent") included. */
#define CATEGORY_VALUES (FX_CATEGORY_INTEL_SOURCE + 1)
#define HANDLING_VALUES (FX_HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT + 1)
#define TLP_VALUES      (FX_TLP_RED + 1)

struct fx_envelope {
    Fusion__Envelope *msg;  /* as decoded; owns the header bytes */
    bool borrowed;          /* msg is the caller's (fx_envelope_borrow): never freed here */
    Fusion__Header *header; /* decoded from msg->header */
    int verified;           /* fx_envelope_verify succeeded, or we sealed it */
};

/* ------------------------------------------------------------------------------------------ */
/* Validation shared by decoding and sealing */

/* Header text: at most FX_ENVELOPE_MAX_STRING bytes of UTF-8 (a protobuf string; other decoders
 * refuse anything else), no control characters (they would end up in logs and the audit
 * trail). */
static fx_err_t s_check_text(const char *text)
{
    if (!text)
        return FX_OK;
    size_t len = strnlen(text, FX_ENVELOPE_MAX_STRING + 1);
    if (len > FX_ENVELOPE_MAX_STRING)
        return FX_ERR_LIMIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c < 0x20 || c == 0x7f)
            return FX_ERR_MALFORMED;
    }
    return fx_utf8_valid((const uint8_t *) text, len) ? FX_OK : FX_ERR_MALFORMED;
}

/* Marks a section id (1 .. FX_SECTION_ID_MAX) in a 256-bit set; -1 if out of range or already
 * marked. */
static int s_id_once(uint8_t seen[32], uint32_t id)
{
    if (id < 1 || id > FX_SECTION_ID_MAX || (seen[id / 8] & (1u << (id % 8))))
        return -1;
    seen[id / 8] |= (uint8_t) (1u << (id % 8));
    return 0;
}

/* Adds enumeration value v (1 .. limit - 1) to *mask; -1 if out of range or already there. */
static int s_mask_once(uint32_t *mask, int v, int limit)
{
    if (v <= 0 || v >= limit || (*mask & (1u << v)))
        return -1;
    *mask |= 1u << v;
    return 0;
}

static fx_err_t s_check_descriptor(const Fusion__SectionDescriptor *desc, uint8_t seen[32])
{
    if (s_id_once(seen, desc->id) != 0)
        return FX_ERR_MALFORMED; /* out of range, or the same id twice */
    if (desc->tlp <= 0 || desc->tlp >= TLP_VALUES)
        return FX_ERR_MALFORMED;
    if (desc->n_categories == 0)
        return FX_ERR_MALFORMED; /* an unlabelled section would escape every category rule */
    if (desc->n_categories >= CATEGORY_VALUES)
        return FX_ERR_MALFORMED; /* more than there are distinct values */
    uint32_t mask = 0;
    for (size_t i = 0; i < desc->n_categories; i++)
        if (s_mask_once(&mask, (int) desc->categories[i], CATEGORY_VALUES) != 0)
            return FX_ERR_MALFORMED;
    if (desc->ciphertext_hash.len != FX_HASH_BYTES)
        return FX_ERR_MALFORMED;
    return FX_OK;
}

static fx_err_t s_check_header(const Fusion__Header *h)
{
    if (h->version != FX_ENVELOPE_VERSION || h->msg_id.len != FX_MSG_ID_BYTES)
        return FX_ERR_MALFORMED;
    if (!fx_principal_id_valid(h->sender))
        return FX_ERR_MALFORMED;
    if (h->created_at == 0 || h->expires_at <= h->created_at)
        return FX_ERR_MALFORMED;
    if (h->kind == FUSION__KIND__KIND_UNSPECIFIED)
        return FX_ERR_MALFORMED;
    if (h->n_handling >= HANDLING_VALUES)
        return FX_ERR_MALFORMED;
    uint32_t handling = 0;
    for (size_t i = 0; i < h->n_handling; i++)
        if (s_mask_once(&handling, (int) h->handling[i], HANDLING_VALUES) != 0)
            return FX_ERR_MALFORMED;
    const char *texts[] = {h->exercise, h->route, h->taskforce, h->agreement, h->case_ref};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fx_err_t rc = s_check_text(texts[i]);
        if (rc != FX_OK)
            return rc;
    }
    if (h->in_reply_to.len != 0 && h->in_reply_to.len != FX_MSG_ID_BYTES)
        return FX_ERR_MALFORMED;
    if ((h->forwarded_from.len != 0 && h->forwarded_from.len != FX_MSG_ID_BYTES) ||
        (h->reshare_grant.len != 0 && h->reshare_grant.len != FX_MSG_ID_BYTES))
        return FX_ERR_MALFORMED;
    if (h->n_reshare_to > FX_ENVELOPE_MAX_RESHARE_TO)
        return FX_ERR_LIMIT;
    for (size_t i = 0; i < h->n_reshare_to; i++)
        if (!fx_recipient_id_valid(h->reshare_to[i]))
            return FX_ERR_MALFORMED;
    if (h->n_sections == 0)
        return FX_ERR_MALFORMED;
    if (h->n_sections > FX_ENVELOPE_MAX_SECTIONS)
        return FX_ERR_LIMIT;
    uint8_t seen[32] = {0};
    for (size_t i = 0; i < h->n_sections; i++) {
        fx_err_t rc = s_check_descriptor(h->sections[i], seen);
        if (rc != FX_OK)
            return rc;
    }
    return FX_OK;
}

static const Fusion__SectionDescriptor *s_descriptor(const Fusion__Header *h, uint32_t id)
{
    for (size_t i = 0; i < h->n_sections; i++)
        if (h->sections[i]->id == id)
            return h->sections[i];
    return NULL;
}

static const Fusion__Section *s_section(const Fusion__Envelope *e, uint32_t id)
{
    for (size_t i = 0; i < e->n_sections; i++)
        if (e->sections[i]->id == id)
            return e->sections[i];
    return NULL;
}

static int s_label_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Labels must be valid principal ids, unique within the section (sorted, so a section of
 * FX_ENVELOPE_MAX_RECIPIENTS keys costs n log n comparisons, not n squared). */
static fx_err_t s_check_labels(const Fusion__Section *s)
{
    const char **labels = fx_malloc(s->n_keys * sizeof *labels);
    fx_err_t rc = FX_OK;
    for (size_t k = 0; k < s->n_keys; k++) {
        const Fusion__WrappedKey *wk = s->keys[k];
        if (!fx_principal_id_valid(wk->recipient) || wk->sealed_key.len != FX_SEALED_KEY_BYTES) {
            rc = FX_ERR_MALFORMED;
            goto cleanup;
        }
        labels[k] = wk->recipient;
    }
    qsort(labels, s->n_keys, sizeof *labels, s_label_compare);
    for (size_t k = 1; k < s->n_keys; k++)
        if (strcmp(labels[k - 1], labels[k]) == 0) {
            rc = FX_ERR_MALFORMED;
            goto cleanup;
        }
cleanup:
    free(labels);
    return rc;
}

static fx_err_t s_check_envelope(const Fusion__Envelope *e, const Fusion__Header *h)
{
    if (e->signature.len != FX_SIGNATURE_BYTES)
        return FX_ERR_MALFORMED;
    if (e->n_sections == 0)
        return FX_ERR_MALFORMED; /* even a recipient's copy carries the section it was given */
    if (e->n_sections > FX_ENVELOPE_MAX_SECTIONS)
        return FX_ERR_LIMIT;
    uint8_t seen[32] = {0};
    for (size_t i = 0; i < e->n_sections; i++) {
        const Fusion__Section *s = e->sections[i];
        if (s_id_once(seen, s->id) != 0 || !s_descriptor(h, s->id))
            return FX_ERR_MALFORMED;
        if (s->nonce.len != FX_NONCE_BYTES ||
            s->ciphertext.len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
            return FX_ERR_MALFORMED;
        if (s->n_keys == 0)
            return FX_ERR_MALFORMED;
        if (s->n_keys > FX_ENVELOPE_MAX_RECIPIENTS)
            return FX_ERR_LIMIT;
        fx_err_t rc = s_check_labels(s);
        if (rc != FX_OK)
            return rc;
    }
    return FX_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding */

/* Protobuf is not canonical; we still verify over the bytes received, but a header must also be
 * exactly what this codec would write for its fields. That rules out strings with embedded NULs
 * (which C would silently cut short) and gives each header one byte form and one digest. */
static fx_err_t s_check_canonical(const Fusion__Header *h, const uint8_t *bytes, size_t len)
{
    if (fx_codec_size(h) != len)
        return FX_ERR_MALFORMED;
    uint8_t *again = NULL;
    size_t again_len = 0;
    fx_codec_encode(h, &again, &again_len);
    fx_err_t rc = again_len == len && memcmp(again, bytes, len) == 0 ? FX_OK : FX_ERR_MALFORMED;
    free(again);
    return rc;
}

/* An envelope over msg, decoded and checked by the codec already, once its header and the
 * rest pass the checks of fx_envelope_decode. On success the envelope owns msg unless
 * borrowed; on failure msg is left to the caller. */
static fx_err_t s_envelope_over(Fusion__Envelope *msg, bool borrowed, fx_envelope_t **env_p)
{
    Fusion__Header *header = NULL;
    if (msg->header.len == 0)
        return FX_ERR_MALFORMED;
    fx_err_t rc =
        fx_codec_decode(FX_MSG_HEADER, msg->header.data, msg->header.len, (void **) &header);
    if (rc == FX_OK)
        rc = s_check_canonical(header, msg->header.data, msg->header.len);
    if (rc == FX_OK)
        rc = s_check_header(header);
    if (rc == FX_OK)
        rc = s_check_envelope(msg, header);
    if (rc != FX_OK) {
        fx_codec_free(header);
        return rc;
    }
    fx_envelope_t *self = fx_calloc(1, sizeof *self);
    self->msg = msg;
    self->borrowed = borrowed;
    self->header = header;
    *env_p = self;
    return FX_OK;
}

fx_err_t fx_envelope_decode(const uint8_t *data, size_t len, fx_envelope_t **env_p)
{
    *env_p = NULL;
    Fusion__Envelope *msg = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_ENVELOPE, data, len, (void **) &msg);
    if (rc == FX_OK && (rc = s_envelope_over(msg, false, env_p)) != FX_OK)
        fx_codec_free(msg);
    return rc;
}

/* What an Envelope decoded inside a Frame must be before it is taken as one: present, and
 * within the envelope's own size cap (a frame's is larger). */
static fx_err_t s_message_fits(const Fusion__Envelope *msg)
{
    if (!msg)
        return FX_ERR_MALFORMED;
    return fx_codec_size(msg) > FX_MAX_ENVELOPE_BYTES ? FX_ERR_TOO_LARGE : FX_OK;
}

fx_err_t fx_envelope_from_message(const Fusion__Envelope *msg, fx_envelope_t **env_p)
{
    *env_p = NULL;
    fx_err_t rc = s_message_fits(msg);
    if (rc != FX_OK)
        return rc;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_codec_encode(msg, &data, &len);
    rc = fx_envelope_decode(data, len, env_p);
    free(data);
    return rc;
}

fx_err_t fx_envelope_borrow(const Fusion__Envelope *msg, fx_envelope_t **env_p)
{
    *env_p = NULL;
    fx_err_t rc = s_message_fits(msg);
    /* Not written through: every use of an envelope's message reads it. */
    return rc == FX_OK ? s_envelope_over((Fusion__Envelope *) msg, true, env_p) : rc;
}

void fx_envelope_destroy(fx_envelope_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_envelope_t *self = *self_p;
    fx_codec_free(self->header);
    if (!self->borrowed)
        fx_codec_free(self->msg);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Cryptography */

static uint8_t *s_section_ad(const uint8_t msg_id[FX_MSG_ID_BYTES], uint32_t section_id,
                             const char *sender, size_t *len_p)
{
    size_t sender_len = strlen(sender);
    size_t len = SECTION_DOMAIN_LEN + FX_MSG_ID_BYTES + 4 + sender_len;
    uint8_t *ad = fx_malloc(len), *p = ad;
    memcpy(p, SECTION_DOMAIN, SECTION_DOMAIN_LEN);
    p += SECTION_DOMAIN_LEN;
    memcpy(p, msg_id, FX_MSG_ID_BYTES);
    p += FX_MSG_ID_BYTES;
    *p++ = (uint8_t) (section_id >> 24);
    *p++ = (uint8_t) (section_id >> 16);
    *p++ = (uint8_t) (section_id >> 8);
    *p++ = (uint8_t) section_id;
    memcpy(p, sender, sender_len);
    *len_p = len;
    return ad;
}

static void s_hash(const uint8_t *data, size_t len, uint8_t out[FX_HASH_BYTES])
{
    crypto_generichash(out, FX_HASH_BYTES, data, len, NULL, 0);
}

static int s_hash_matches(const Fusion__Section *s, const Fusion__SectionDescriptor *desc)
{
    uint8_t hash[FX_HASH_BYTES];
    s_hash(s->ciphertext.data, s->ciphertext.len, hash);
    return desc->ciphertext_hash.len == FX_HASH_BYTES &&
           sodium_memcmp(hash, desc->ciphertext_hash.data, FX_HASH_BYTES) == 0;
}

/* The buffer that holds a section key while it is used: guarded, locked memory (sodium_malloc),
 * taken once per thread and wiped after each use (s_section_key_wipe). Taken and given back for
 * each message, it cost the publisher two mappings, three protection changes and a TLB flush on
 * every core: more than sealing the key for its recipient. */
static uint8_t *s_section_key(void)
{
    static _Thread_local uint8_t *key;
    if (!key && !(key = sodium_malloc(FX_SECTION_KEY_BYTES))) {
        fprintf(stderr, "fusion: cannot allocate secure memory\n");
        abort();
    }
    return key;
}

static void s_section_key_wipe(uint8_t *key)
{
    sodium_memzero(key, FX_SECTION_KEY_BYTES);
}

fx_err_t fx_envelope_verify(fx_envelope_t *self, const char *sender_id,
                            const uint8_t sign_key[FX_KEY_BYTES])
{
    self->verified = 0;
    const Fusion__Envelope *e = self->msg;
    if (fx_signature_verify(sign_key, FX_DOMAIN_HEADER, e->header.data, e->header.len,
                            e->signature.data) != 0)
        return FX_ERR_BAD_SIGNATURE;
    if (!sender_id || strcmp(sender_id, self->header->sender) != 0)
        return FX_ERR_SENDER_MISMATCH;
    for (size_t i = 0; i < e->n_sections; i++)
        if (!s_hash_matches(e->sections[i], s_descriptor(self->header, e->sections[i]->id)))
            return FX_ERR_BAD_HASH;
    self->verified = 1;
    return FX_OK;
}

fx_err_t fx_envelope_open(const fx_envelope_t *self, const fx_keys_t *recipient,
                          uint32_t section_id, uint8_t **plain_p, size_t *len_p)
{
    *plain_p = NULL;
    *len_p = 0;
    if (!self->verified)
        return FX_ERR_INVALID;
    const Fusion__SectionDescriptor *desc = s_descriptor(self->header, section_id);
    if (!desc)
        return FX_ERR_NOT_FOUND;
    const Fusion__Section *s = s_section(self->msg, section_id);
    if (!s)
        return FX_ERR_NOT_RECIPIENT;
    const Fusion__WrappedKey *wk = NULL;
    for (size_t k = 0; k < s->n_keys && !wk; k++)
        if (strcmp(s->keys[k]->recipient, fx_keys_id(recipient)) == 0)
            wk = s->keys[k];
    if (!wk)
        return FX_ERR_NOT_RECIPIENT;
    if (!s_hash_matches(s, desc))
        return FX_ERR_BAD_HASH;

    fx_err_t rc = FX_ERR_DECRYPT;
    uint8_t *key = s_section_key();
    uint8_t *ad = NULL, *plain = NULL;
    size_t ad_len = 0;
    unsigned long long plain_len = 0;
    if (fx_keys_unseal(recipient, wk->sealed_key.data, wk->sealed_key.len, key) != 0)
        goto cleanup;
    ad = s_section_ad(self->header->msg_id.data, section_id, self->header->sender, &ad_len);
    /* One spare byte so an empty plaintext still gets a buffer of its own. */
    plain = fx_malloc(s->ciphertext.len - crypto_aead_xchacha20poly1305_ietf_ABYTES + 1);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL, s->ciphertext.data,
                                                   s->ciphertext.len, ad, ad_len, s->nonce.data,
                                                   key) != 0) {
        free(plain);
        plain = NULL;
        goto cleanup;
    }
    *plain_p = plain;
    *len_p = (size_t) plain_len;
    rc = FX_OK;
cleanup:
    s_section_key_wipe(key);
    free(ad);
    return rc;
}

void fx_plaintext_free(uint8_t **plain_p, size_t len)
{
    if (!plain_p || !*plain_p)
        return;
    sodium_memzero(*plain_p, len);
    free(*plain_p);
    *plain_p = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Sealing */

static fx_err_t s_check_drafts(const fx_section_draft_t *sections, size_t n_sections)
{
    if (n_sections == 0 || !sections)
        return FX_ERR_INVALID;
    if (n_sections > FX_ENVELOPE_MAX_SECTIONS)
        return FX_ERR_LIMIT;
    const uint32_t known = ((1u << CATEGORY_VALUES) - 1) & ~1u;
    size_t total = 0;
    for (size_t i = 0; i < n_sections; i++) {
        const fx_section_draft_t *d = &sections[i];
        /* Checked before encrypting anything; the encoded size is checked again at the end. */
        if (d->plaintext_len > FX_MAX_ENVELOPE_BYTES - total)
            return FX_ERR_TOO_LARGE;
        total += d->plaintext_len;
        if (d->id < 1 || d->id > FX_SECTION_ID_MAX || d->tlp <= 0 || d->tlp >= TLP_VALUES)
            return FX_ERR_INVALID;
        if (d->categories == 0 || (d->categories & ~known))
            return FX_ERR_INVALID;
        if (!d->plaintext && d->plaintext_len)
            return FX_ERR_INVALID;
        for (size_t j = 0; j < i; j++)
            if (sections[j].id == d->id)
                return FX_ERR_INVALID;
        if (d->n_recipients == 0 || !d->recipients)
            return FX_ERR_INVALID;
        if (d->n_recipients > FX_ENVELOPE_MAX_RECIPIENTS)
            return FX_ERR_LIMIT;
        for (size_t r = 0; r < d->n_recipients; r++)
            if (!fx_principal_id_valid(d->recipients[r].id) || !d->recipients[r].box_key)
                return FX_ERR_INVALID;
    }
    return FX_OK;
}

static const char *s_text_or_empty(const char *text)
{
    return text ? text : "";
}

/* Everything a sealed section's wire form points into; freed after encoding. */
typedef struct {
    Fusion__SectionDescriptor desc;
    Fusion__Category categories[CATEGORY_VALUES];
    uint8_t hash[FX_HASH_BYTES];
    Fusion__Section section;
    uint8_t nonce[FX_NONCE_BYTES];
    uint8_t *ciphertext;
    Fusion__WrappedKey *keys;
    Fusion__WrappedKey **key_ptrs;
    uint8_t *sealed; /* n_recipients * FX_SEALED_KEY_BYTES */
} sealed_section_t;

static void s_seal_section(sealed_section_t *out, const fx_section_draft_t *d,
                           const uint8_t msg_id[FX_MSG_ID_BYTES], const char *sender, uint8_t *key)
{
    fusion__section_descriptor__init(&out->desc);
    out->desc.id = d->id;
    out->desc.tlp = (Fusion__Tlp) d->tlp;
    for (int c = 1; c < CATEGORY_VALUES; c++)
        if (d->categories & (1u << c))
            out->categories[out->desc.n_categories++] = (Fusion__Category) c;
    out->desc.categories = out->categories;

    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(out->nonce, sizeof out->nonce);
    size_t ad_len = 0;
    uint8_t *ad = s_section_ad(msg_id, d->id, sender, &ad_len);
    size_t ct_len = d->plaintext_len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    out->ciphertext = fx_malloc(ct_len);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out->ciphertext, &written, d->plaintext,
                                               d->plaintext_len, ad, ad_len, NULL, out->nonce, key);
    free(ad);
    s_hash(out->ciphertext, ct_len, out->hash);
    out->desc.ciphertext_hash = (ProtobufCBinaryData){FX_HASH_BYTES, out->hash};

    out->keys = fx_calloc(d->n_recipients, sizeof *out->keys);
    out->key_ptrs = fx_calloc(d->n_recipients, sizeof *out->key_ptrs);
    out->sealed = fx_malloc(d->n_recipients * FX_SEALED_KEY_BYTES);
    for (size_t r = 0; r < d->n_recipients; r++) {
        uint8_t *sealed = out->sealed + r * FX_SEALED_KEY_BYTES;
        fx_section_key_seal(d->recipients[r].box_key, key, sealed);
        fusion__wrapped_key__init(&out->keys[r]);
        out->keys[r].recipient = (char *) d->recipients[r].id;
        out->keys[r].sealed_key = (ProtobufCBinaryData){FX_SEALED_KEY_BYTES, sealed};
        out->key_ptrs[r] = &out->keys[r];
    }
    sodium_memzero(key, FX_SECTION_KEY_BYTES);

    fusion__section__init(&out->section);
    out->section.id = d->id;
    out->section.nonce = (ProtobufCBinaryData){FX_NONCE_BYTES, out->nonce};
    out->section.ciphertext = (ProtobufCBinaryData){ct_len, out->ciphertext};
    out->section.n_keys = d->n_recipients;
    out->section.keys = out->key_ptrs;
}

fx_err_t fx_envelope_seal(const fx_keys_t *sender, const Fusion__Header *draft,
                          const fx_section_draft_t *sections, size_t n_sections,
                          fx_envelope_t **env_p)
{
    *env_p = NULL;
    if (!sender || !draft)
        return FX_ERR_INVALID;
    fx_err_t rc = s_check_drafts(sections, n_sections);
    if (rc != FX_OK)
        return rc;

    uint8_t msg_id[FX_MSG_ID_BYTES];
    randombytes_buf(msg_id, sizeof msg_id);
    const char *sender_id = fx_keys_id(sender);
    Fusion__Header header = FUSION__HEADER__INIT;
    header.version = FX_ENVELOPE_VERSION;
    header.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, msg_id};
    header.sender = (char *) sender_id;
    header.created_at = draft->created_at ? draft->created_at : (uint64_t) fx_now_ms();
    header.expires_at =
        draft->expires_at ? draft->expires_at : header.created_at + FX_ENVELOPE_DEFAULT_TTL_MS;
    header.kind = draft->kind;
    header.urgency = draft->urgency;
    header.n_handling = draft->n_handling;
    header.handling = draft->handling;
    header.exercise = (char *) s_text_or_empty(draft->exercise);
    header.route = (char *) s_text_or_empty(draft->route);
    header.stage = draft->stage;
    header.purpose = draft->purpose;
    header.subject_role = draft->subject_role;
    header.consent = draft->consent;
    header.audience = draft->audience;
    header.taskforce = (char *) s_text_or_empty(draft->taskforce);
    header.agreement = (char *) s_text_or_empty(draft->agreement);
    header.case_ref = (char *) s_text_or_empty(draft->case_ref);
    header.in_reply_to = draft->in_reply_to;
    header.response_status = draft->response_status;
    header.n_reshare_to = draft->n_reshare_to;
    header.reshare_to = draft->reshare_to;
    header.forwarded_from = draft->forwarded_from;
    header.reshare_grant = draft->reshare_grant;

    uint8_t *key = s_section_key();
    sealed_section_t *sealed = fx_calloc(n_sections, sizeof *sealed);
    Fusion__SectionDescriptor *desc_ptrs[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__Section *section_ptrs[FX_ENVELOPE_MAX_SECTIONS];
    uint8_t *header_bytes = NULL, *data = NULL;
    size_t header_len = 0, len = 0;
    uint8_t signature[FX_SIGNATURE_BYTES];
    Fusion__Envelope envelope = FUSION__ENVELOPE__INIT;
    fx_envelope_t *self = NULL;
    for (size_t i = 0; i < n_sections; i++) {
        s_seal_section(&sealed[i], &sections[i], msg_id, sender_id, key);
        desc_ptrs[i] = &sealed[i].desc;
        section_ptrs[i] = &sealed[i].section;
    }
    header.n_sections = n_sections;
    header.sections = desc_ptrs;

    /* The same rules a receiver applies; a draft that breaks one is the caller's mistake. */
    rc = s_check_header(&header);
    if (rc == FX_ERR_MALFORMED)
        rc = FX_ERR_INVALID;
    if (rc != FX_OK)
        goto cleanup;
    if (fx_codec_size(&header) > FX_MAX_HEADER_BYTES) {
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    /* Serialized once; these bytes are signed and sent as they are. */
    fx_codec_encode(&header, &header_bytes, &header_len);
    fx_keys_sign(sender, FX_DOMAIN_HEADER, header_bytes, header_len, signature);

    envelope.header = (ProtobufCBinaryData){header_len, header_bytes};
    envelope.signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, signature};
    envelope.n_sections = n_sections;
    envelope.sections = section_ptrs;
    if (fx_codec_size(&envelope) > FX_MAX_ENVELOPE_BYTES) {
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    fx_codec_encode(&envelope, &data, &len);
    /* Decoding what we wrote gives the sender exactly the object a receiver will see. */
    rc = fx_envelope_decode(data, len, &self);
    if (rc == FX_ERR_MALFORMED)
        rc = FX_ERR_INVALID;
    if (rc != FX_OK)
        goto cleanup;
    self->verified = 1;
    *env_p = self;
cleanup:
    for (size_t i = 0; i < n_sections; i++) {
        free(sealed[i].ciphertext);
        free(sealed[i].keys);
        free(sealed[i].key_ptrs);
        free(sealed[i].sealed);
    }
    free(sealed);
    free(header_bytes);
    free(data);
    s_section_key_wipe(key);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The per-recipient copy */

fx_err_t fx_envelope_view_for(const fx_envelope_t *self, const char *recipient_id,
                              fx_envelope_view_t *view)
{
    if (!recipient_id)
        return FX_ERR_INVALID;
    const Fusion__Envelope *e = self->msg;
    size_t n = 0;
    for (size_t i = 0; i < e->n_sections && n < FX_ENVELOPE_MAX_SECTIONS; i++) {
        const Fusion__Section *s = e->sections[i];
        for (size_t k = 0; k < s->n_keys; k++) {
            if (strcmp(s->keys[k]->recipient, recipient_id) != 0)
                continue;
            view->sections[n] = *s;
            view->key_ptrs[n] = s->keys[k];
            view->sections[n].n_keys = 1;
            view->sections[n].keys = &view->key_ptrs[n];
            view->section_ptrs[n] = &view->sections[n];
            n++;
            break;
        }
    }
    if (n == 0)
        return FX_ERR_NOT_RECIPIENT;
    view->msg = (Fusion__Envelope) FUSION__ENVELOPE__INIT;
    view->msg.header = e->header; /* the same bytes, so the same signature still verifies */
    view->msg.signature = e->signature;
    view->msg.n_sections = n;
    view->msg.sections = view->section_ptrs;
    return FX_OK;
}

fx_err_t fx_envelope_copy_for(const fx_envelope_t *self, const char *recipient_id,
                              fx_envelope_t **copy_p)
{
    *copy_p = NULL;
    fx_envelope_view_t view;
    fx_err_t rc = fx_envelope_view_for(self, recipient_id, &view);
    return rc == FX_OK ? fx_envelope_from_message(&view.msg, copy_p) : rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors */

void fx_envelope_encode(const fx_envelope_t *self, uint8_t **data_p, size_t *len_p)
{
    fx_codec_encode(self->msg, data_p, len_p);
}

const Fusion__Envelope *fx_envelope_message(const fx_envelope_t *self)
{
    return self->msg;
}

const Fusion__Header *fx_envelope_header(const fx_envelope_t *self)
{
    return self->header;
}

const uint8_t *fx_envelope_msg_id(const fx_envelope_t *self)
{
    return self->header->msg_id.data;
}

const char *fx_envelope_sender(const fx_envelope_t *self)
{
    return self->header->sender;
}

const uint8_t *fx_envelope_header_bytes(const fx_envelope_t *self, size_t *len_p)
{
    *len_p = self->msg->header.len;
    return self->msg->header.data;
}

const uint8_t *fx_envelope_signature(const fx_envelope_t *self)
{
    return self->msg->signature.data;
}

void fx_envelope_header_digest(const fx_envelope_t *self, uint8_t digest[FX_HASH_BYTES])
{
    s_hash(self->msg->header.data, self->msg->header.len, digest);
}

const Fusion__SectionDescriptor *fx_envelope_descriptor(const fx_envelope_t *self,
                                                        uint32_t section_id)
{
    return s_descriptor(self->header, section_id);
}

uint32_t fx_envelope_section_categories(const fx_envelope_t *self, uint32_t section_id)
{
    const Fusion__SectionDescriptor *desc = s_descriptor(self->header, section_id);
    uint32_t mask = 0;
    for (size_t i = 0; desc && i < desc->n_categories; i++)
        mask |= 1u << desc->categories[i];
    return mask;
}

size_t fx_envelope_section_count(const fx_envelope_t *self)
{
    return self->msg->n_sections;
}

uint32_t fx_envelope_section_id(const fx_envelope_t *self, size_t i)
{
    return i < self->msg->n_sections ? self->msg->sections[i]->id : 0;
}

size_t fx_envelope_recipient_count(const fx_envelope_t *self, size_t i)
{
    return i < self->msg->n_sections ? self->msg->sections[i]->n_keys : 0;
}

const char *fx_envelope_recipient(const fx_envelope_t *self, size_t i, size_t j)
{
    if (i >= self->msg->n_sections || j >= self->msg->sections[i]->n_keys)
        return NULL;
    return self->msg->sections[i]->keys[j]->recipient;
}

int fx_envelope_section_present(const fx_envelope_t *self, uint32_t section_id)
{
    return s_section(self->msg, section_id) != NULL;
}

int fx_envelope_is_recipient(const fx_envelope_t *self, uint32_t section_id,
                             const char *recipient_id)
{
    const Fusion__Section *s = s_section(self->msg, section_id);
    for (size_t k = 0; s && recipient_id && k < s->n_keys; k++)
        if (strcmp(s->keys[k]->recipient, recipient_id) == 0)
            return 1;
    return 0;
}

size_t fx_envelope_withheld(const fx_envelope_t *self, uint32_t ids[FX_ENVELOPE_MAX_SECTIONS])
{
    size_t n = 0;
    for (size_t i = 0; i < self->header->n_sections && n < FX_ENVELOPE_MAX_SECTIONS; i++)
        if (!s_section(self->msg, self->header->sections[i]->id))
            ids[n++] = self->header->sections[i]->id;
    return n;
}
