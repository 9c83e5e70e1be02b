/* A Fusion message: a signed header (metadata, never content) and sections encrypted for their
 * recipients. Sealing, strict decoding with limits, signature and hash verification, opening a
 * section as a recipient, and the per-recipient copy the broker delivers. */
#ifndef FUSION_ENVELOPE_H
#define FUSION_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/codec.h"
#include "fusion/keys.h"
#include "fusion/util.h"

#define FX_ENVELOPE_VERSION        1
#define FX_MSG_ID_BYTES            16
#define FX_HASH_BYTES              32  /* BLAKE2b-256 of a section's ciphertext */
#define FX_NONCE_BYTES             24  /* XChaCha20-Poly1305 IETF */
#define FX_SECTION_ID_MAX          255 /* section ids are 1..255, unique within a message */
#define FX_ENVELOPE_MAX_SECTIONS   16
#define FX_ENVELOPE_MAX_RECIPIENTS 1024 /* wrapped keys per section */
#define FX_ENVELOPE_MAX_STRING     256 /* bytes in route, exercise, taskforce, agreement, case_ref */
#define FX_ENVELOPE_MAX_RESHARE_TO 256 /* principals or agencies in a header's reshare_to */
#define FX_ENVELOPE_DEFAULT_TTL_MS                                                                 \
    (7 * 24 * 3600 * 1000LL) /* expires_at when the draft has none                                 \
                              */

typedef struct fx_envelope fx_envelope_t;

/* One recipient of a section: its principal id (the wrapped key's label) and its X25519 box key,
 * taken from its authority-signed certificate. */
typedef struct {
    const char *id;
    const uint8_t *box_key; /* FX_KEY_BYTES */
} fx_recipient_t;

/* One section to seal. categories is a mask with bit v set for category value v (as
 * fx_vocab_parse_mask gives); it must not be empty. The plaintext is usually an encoded
 * SectionContent (fx_content_encode). */
typedef struct {
    uint32_t id; /* 1..FX_SECTION_ID_MAX */
    int tlp;     /* FX_TLP_* */
    uint32_t categories;
    const uint8_t *plaintext;
    size_t plaintext_len;
    const fx_recipient_t *recipients; /* 1..FX_ENVELOPE_MAX_RECIPIENTS, unique ids */
    size_t n_recipients;
} fx_section_draft_t;

/* Seals a new message from sender. draft carries the header metadata (kind, urgency, handling,
 * exercise, route, stage, purpose, subject_role, consent, audience, taskforce, agreement,
 * case_ref, in_reply_to, response_status, reshare_to, forwarded_from, reshare_grant, created_at,
 * expires_at); its version, msg_id, sender and sections are
 * ignored and set here. created_at 0 means now; expires_at 0 means created_at plus
 * FX_ENVELOPE_DEFAULT_TTL_MS. Each section gets a fresh key, sealed to each of its recipients;
 * the header is serialized once and signed. FX_ERR_INVALID or FX_ERR_LIMIT for a draft that
 * breaks the rules fx_envelope_decode enforces, FX_ERR_TOO_LARGE over FX_MAX_ENVELOPE_BYTES.
 * The new envelope counts as verified. Caller destroys *env_p. */
fx_err_t fx_envelope_seal(const fx_keys_t *sender, const Fusion__Header *draft,
                          const fx_section_draft_t *sections, size_t n_sections,
                          fx_envelope_t **env_p) FX_WUR;

/* Decodes and validates an encoded Envelope and its header. FX_ERR_TOO_LARGE and
 * FX_ERR_UNKNOWN_FIELD from the codec; FX_ERR_LIMIT for more than FX_ENVELOPE_MAX_SECTIONS
 * sections, FX_ENVELOPE_MAX_RECIPIENTS keys in a section or FX_ENVELOPE_MAX_STRING bytes in a
 * header string; FX_ERR_MALFORMED for anything else out of shape: a header that is not in this
 * codec's own (canonical) encoding, version not 1, msg_id not 16 bytes, in_reply_to neither empty
 * nor 16 bytes (likewise forwarded_from and reshare_grant), a reshare_to entry that is neither
 * a principal nor an agency id (more than FX_ENVELOPE_MAX_RESHARE_TO is FX_ERR_LIMIT), a sender
 * that is not a principal id, created_at 0 or expires_at not after it, no kind, repeated or absent
 * handling codes, control characters in strings, no descriptors, a descriptor id outside 1..255 or
 * twice, no tlp, no or repeated categories, a hash not 32 bytes; a signature not 64 bytes, no
 * sections, a section without a descriptor or present twice, a nonce not 24 bytes, a ciphertext
 * shorter than its tag, a section without keys, a label that is not a principal id or appears twice
 * in a section, a sealed key not 80 bytes. Urgency and audience may be absent. Does not check the
 * signature: call fx_envelope_verify. Caller destroys *env_p. */
fx_err_t fx_envelope_decode(const uint8_t *data, size_t len, fx_envelope_t **env_p) FX_WUR;

/* The same as fx_envelope_decode for an Envelope already decoded inside a Frame (copies it). */
fx_err_t fx_envelope_from_message(const Fusion__Envelope *msg, fx_envelope_t **env_p) FX_WUR;

/* The same without the copy: the envelope reads msg, which must outlive it and not change.
 * Everything fx_envelope_decode checks is checked (msg came from fx_codec_decode, which refused
 * unknown fields and values throughout). */
fx_err_t fx_envelope_borrow(const Fusion__Envelope *msg, fx_envelope_t **env_p) FX_WUR;

/* Frees the envelope; sets *self_p to NULL. Accepts NULL. */
void fx_envelope_destroy(fx_envelope_t **self_p);

/* Verifies the Ed25519 signature over the exact header bytes received, that the header's sender
 * is sender_id (the principal whose certificate gave sign_key), and the BLAKE2b-256 hash of every
 * ciphertext present against its signed descriptor. FX_ERR_BAD_SIGNATURE,
 * FX_ERR_SENDER_MISMATCH or FX_ERR_BAD_HASH. On success the envelope may be opened. */
fx_err_t fx_envelope_verify(fx_envelope_t *self, const char *sender_id,
                            const uint8_t sign_key[FX_KEY_BYTES]) FX_WUR;

/* Opens section section_id as recipient: finds the wrapped key labelled with the recipient's id,
 * unseals it into secure memory, checks the ciphertext hash and decrypts. *plain_p is a new
 * buffer of *len_p bytes that the caller releases with fx_plaintext_free. FX_ERR_INVALID if the
 * envelope was not verified, FX_ERR_NOT_FOUND for a section the header does not describe,
 * FX_ERR_NOT_RECIPIENT when no key in it is labelled for the recipient (or the section was
 * withheld from this copy), FX_ERR_BAD_HASH or FX_ERR_DECRYPT when something was altered. */
fx_err_t fx_envelope_open(const fx_envelope_t *self, const fx_keys_t *recipient,
                          uint32_t section_id, uint8_t **plain_p, size_t *len_p) FX_WUR;

/* Wipes and frees a plaintext returned by fx_envelope_open; sets *plain_p to NULL. */
void fx_plaintext_free(uint8_t **plain_p, size_t len);

/* The message of the copy for recipient_id (below), built in view without encoding it and
 * decoding it again: its fields point into self and into view, valid while both are. For
 * encoding it straight into a frame (the broker's DELIVER). FX_ERR_NOT_RECIPIENT if no section
 * is for recipient_id, FX_ERR_INVALID without one. */
typedef struct {
    Fusion__Envelope msg;
    Fusion__Section sections[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__Section *section_ptrs[FX_ENVELOPE_MAX_SECTIONS];
    Fusion__WrappedKey *key_ptrs[FX_ENVELOPE_MAX_SECTIONS];
} fx_envelope_view_t;
fx_err_t fx_envelope_view_for(const fx_envelope_t *self, const char *recipient_id,
                              fx_envelope_view_t *view) FX_WUR;

/* The copy the broker delivers to recipient_id: the same header bytes and signature, only the
 * sections with a key labelled for it, and in each only that key. The recipient still sees every
 * section's descriptor in the signed header (fx_envelope_withheld lists the ones it was not
 * given). FX_ERR_NOT_RECIPIENT (and NULL) if no section is for it. The copy is not yet verified.
 * Caller destroys *copy_p. */
fx_err_t fx_envelope_copy_for(const fx_envelope_t *self, const char *recipient_id,
                              fx_envelope_t **copy_p) FX_WUR;

/* Encodes the envelope into a new buffer (caller frees). */
void fx_envelope_encode(const fx_envelope_t *self, uint8_t **data_p, size_t *len_p);

/* The envelope as a generated message, read-only, to place in a Publish or Deliver frame. */
const Fusion__Envelope *fx_envelope_message(const fx_envelope_t *self);

/* The decoded header, read-only (valid while the envelope lives). */
const Fusion__Header *fx_envelope_header(const fx_envelope_t *self);

/* The header's msg_id (FX_MSG_ID_BYTES bytes). */
const uint8_t *fx_envelope_msg_id(const fx_envelope_t *self);

/* The header's sender principal id. */
const char *fx_envelope_sender(const fx_envelope_t *self);

/* The exact header bytes the signature covers, and their length in *len_p. */
const uint8_t *fx_envelope_header_bytes(const fx_envelope_t *self, size_t *len_p);

/* The Ed25519 signature over the header (FX_SIGNATURE_BYTES bytes). */
const uint8_t *fx_envelope_signature(const fx_envelope_t *self);

/* BLAKE2b-256 of the header bytes: the digest the audit trail records. */
void fx_envelope_header_digest(const fx_envelope_t *self, uint8_t digest[FX_HASH_BYTES]);

/* The signed descriptor (tlp, categories, hash) of a section, or NULL if the header has none. */
const Fusion__SectionDescriptor *fx_envelope_descriptor(const fx_envelope_t *self,
                                                        uint32_t section_id);

/* The category mask (bit v for category v) of a section's descriptor; 0 if there is none. */
uint32_t fx_envelope_section_categories(const fx_envelope_t *self, uint32_t section_id);

/* The number of sections whose ciphertext this envelope carries (a copy may carry fewer than the
 * header describes), and the id of the i-th. */
size_t fx_envelope_section_count(const fx_envelope_t *self);
uint32_t fx_envelope_section_id(const fx_envelope_t *self, size_t i);

/* The wrapped-key labels (recipient principal ids) of the i-th section present. */
size_t fx_envelope_recipient_count(const fx_envelope_t *self, size_t i);
const char *fx_envelope_recipient(const fx_envelope_t *self, size_t i, size_t j);

/* 1 if the section's ciphertext is present in this envelope, 0 otherwise. */
int fx_envelope_section_present(const fx_envelope_t *self, uint32_t section_id);

/* 1 if the section carries a key labelled recipient_id, 0 otherwise. */
int fx_envelope_is_recipient(const fx_envelope_t *self, uint32_t section_id,
                             const char *recipient_id);

/* Writes into ids the sections the signed header describes but this envelope does not carry
 * (what a recipient's copy withheld from it), in header order; returns how many. */
size_t fx_envelope_withheld(const fx_envelope_t *self, uint32_t ids[FX_ENVELOPE_MAX_SECTIONS]);

#endif
