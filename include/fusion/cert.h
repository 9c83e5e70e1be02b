/* Identities signed by the registry authority: a principal's self-signed enrolment request, the
 * certificate the authority issues from it, the signed revocation list, the authority's public key
 * file, and detached signatures over files such as the sharing policy. DESIGN.md, "Identities". */
#ifndef FUSION_CERT_H
#define FUSION_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/keys.h"
#include "fusion/util.h"

#define FX_CERT_VERSION        1
#define FX_REQUEST_VERSION     1
#define FX_REVOCATIONS_VERSION 1

typedef struct fx_request fx_request_t;         /* a verified enrolment request */
typedef struct fx_cert fx_cert_t;               /* a certificate whose signature has verified */
typedef struct fx_revocations fx_revocations_t; /* a revocation list (verified, or being built) */

/* ----------------------------------------------------------------------------------------------
 * Enrolment requests */

/* Serializes an EnrolmentRequest for the keys' id and public keys, its body signed with the
 * principal's own signing key (proof of possession). *data_p is new (caller frees). */
fx_err_t fx_request_create(const fx_keys_t *keys, uint8_t **data_p, size_t *len_p) FX_WUR;

/* Decodes a serialized EnrolmentRequest and checks its version, id, key sizes and that the body
 * is signed by the signing key it carries. FX_ERR_MALFORMED (or the codec's errors) for bad
 * bytes, FX_ERR_BAD_SIGNATURE for a body not signed by its own key. *req_p is new. */
fx_err_t fx_request_verify(const uint8_t *data, size_t len, fx_request_t **req_p) FX_WUR;

/* Frees a request; sets *self_p to NULL. Accepts NULL. */
void fx_request_destroy(fx_request_t **self_p);

/* The principal id the request asks for. */
const char *fx_request_id(const fx_request_t *self);
/* The requester's Ed25519, X25519 and CURVE public keys (FX_KEY_BYTES each). */
const uint8_t *fx_request_sign_key(const fx_request_t *self);
const uint8_t *fx_request_box_key(const fx_request_t *self);
const uint8_t *fx_request_curve_key(const fx_request_t *self);
/* When the requester made the request (ms since the epoch, as the requester's clock said). */
int64_t fx_request_created_at(const fx_request_t *self);
/* The fingerprint of the requester's signing key, to confirm aloud before enrolling. */
void fx_request_fingerprint(const fx_request_t *self, char out[FX_FINGERPRINT_BUFSIZE]);

/* ----------------------------------------------------------------------------------------------
 * Certificates */

/* Issues a certificate for a verified request, signed by the authority: roles_mask has bit v set
 * for each role value v (fusion/vocab.h), at least one; serial > 0; the certificate is valid for
 * not_before_ms <= now < not_after_ms. FX_ERR_INVALID for bad arguments. *data_p is the new
 * serialized Certificate (caller frees). */
fx_err_t fx_cert_issue(const fx_keys_t *authority, const fx_request_t *req, uint32_t roles_mask,
                       uint64_t serial, int64_t not_before_ms, int64_t not_after_ms,
                       uint8_t **data_p, size_t *len_p) FX_WUR;

/* Verifies a serialized Certificate against the pinned authority key at time now_ms: the
 * signature over the exact body bytes received (domain FX_DOMAIN_CERT), the body's authority key,
 * version, id, country (the id's first three letters), agency (the id's COUNTRY.AGENCY), roles and
 * key sizes, then the validity window. FX_ERR_MALFORMED (or the codec's errors), FX_ERR_UNTRUSTED
 * (not signed by that authority), FX_ERR_CERT_EXPIRED, FX_ERR_CERT_NOT_YET_VALID. *cert_p is new
 * and set only on FX_OK. Revocation is checked by the directory, not here. */
fx_err_t fx_cert_verify(const uint8_t *data, size_t len, const uint8_t authority_key[FX_KEY_BYTES],
                        int64_t now_ms, fx_cert_t **cert_p) FX_WUR;

/* FX_OK if now_ms is inside the certificate's window, else FX_ERR_CERT_NOT_YET_VALID or
 * FX_ERR_CERT_EXPIRED. */
fx_err_t fx_cert_check_time(const fx_cert_t *self, int64_t now_ms) FX_WUR;

/* A copy of a certificate (caller destroys it). */
fx_cert_t *fx_cert_dup(const fx_cert_t *self);

/* Frees a certificate; sets *self_p to NULL. Accepts NULL. */
void fx_cert_destroy(fx_cert_t **self_p);

/* The certified principal id, country (ISO 3166-1 alpha-3) and agency (COUNTRY.AGENCY). */
const char *fx_cert_id(const fx_cert_t *self);
const char *fx_cert_country(const fx_cert_t *self);
const char *fx_cert_agency(const fx_cert_t *self);
/* The roles as a bit mask: bit v set for role value v (FX_ROLE_* in fusion/vocab.h). */
uint32_t fx_cert_roles(const fx_cert_t *self);
/* 1 if the certificate carries role value role (FX_ROLE_*), else 0. */
int fx_cert_has_role(const fx_cert_t *self, int role);
/* The certified Ed25519, X25519 and CURVE public keys (FX_KEY_BYTES each). */
const uint8_t *fx_cert_sign_key(const fx_cert_t *self);
const uint8_t *fx_cert_box_key(const fx_cert_t *self);
const uint8_t *fx_cert_curve_key(const fx_cert_t *self);
/* The fingerprint of the certified signing key. */
void fx_cert_fingerprint(const fx_cert_t *self, char out[FX_FINGERPRINT_BUFSIZE]);
uint64_t fx_cert_serial(const fx_cert_t *self);
/* The validity window, ms since the epoch: valid for not_before <= now < not_after. */
int64_t fx_cert_not_before(const fx_cert_t *self);
int64_t fx_cert_not_after(const fx_cert_t *self);
/* The serialized Certificate to hand out in frames and files: the exact signed body bytes and the
 * signature, in a canonical outer encoding. Owned by the certificate. */
const uint8_t *fx_cert_bytes(const fx_cert_t *self, size_t *len_p);
/* The exact signed body bytes and the 64-byte signature, for filling a Fusion__Certificate in a
 * frame without decoding again. Owned by the certificate. */
const uint8_t *fx_cert_body(const fx_cert_t *self, size_t *len_p);
const uint8_t *fx_cert_signature(const fx_cert_t *self);

/* ----------------------------------------------------------------------------------------------
 * Revocation lists */

/* A new, unsigned revocation list: with previous NULL an empty list with sequence 1, otherwise
 * a copy of previous's serials with sequence previous + 1. Add serials, then sign. */
fx_revocations_t *fx_revocations_new(const fx_revocations_t *previous);

/* Adds a revoked certificate serial (> 0); adding one already present changes nothing. */
fx_err_t fx_revocations_add(fx_revocations_t *self, uint64_t serial) FX_WUR;

/* Serializes and signs the list with the authority key (domain FX_DOMAIN_REVOCATIONS), issued at
 * issued_at_ms. *data_p is the new serialized RevocationList (caller frees). */
fx_err_t fx_revocations_sign(const fx_revocations_t *self, const fx_keys_t *authority,
                             int64_t issued_at_ms, uint8_t **data_p, size_t *len_p) FX_WUR;

/* Verifies a serialized RevocationList against the pinned authority key, over the exact body bytes
 * received. FX_ERR_MALFORMED (or the codec's errors), FX_ERR_UNTRUSTED (not signed by that
 * authority), FX_ERR_REPLAY when its sequence is lower than min_sequence (a rollback to an older
 * list; pass the highest sequence already seen, or 0). *list_p is new and set only on FX_OK. */
fx_err_t fx_revocations_verify(const uint8_t *data, size_t len,
                               const uint8_t authority_key[FX_KEY_BYTES], uint64_t min_sequence,
                               fx_revocations_t **list_p) FX_WUR;

/* Frees a list; sets *self_p to NULL. Accepts NULL. */
void fx_revocations_destroy(fx_revocations_t **self_p);

/* 1 if serial is on the list, else 0. */
int fx_revocations_contains(const fx_revocations_t *self, uint64_t serial);
uint64_t fx_revocations_sequence(const fx_revocations_t *self);
/* When the list was signed (ms since the epoch); 0 for a list not yet signed. */
int64_t fx_revocations_issued_at(const fx_revocations_t *self);
/* The revoked serials, in increasing order. */
size_t fx_revocations_count(const fx_revocations_t *self);
uint64_t fx_revocations_at(const fx_revocations_t *self, size_t index);
/* For a verified list: the exact signed body bytes and the 64-byte signature (owned by the
 * list). NULL for a list built with fx_revocations_new. */
const uint8_t *fx_revocations_body(const fx_revocations_t *self, size_t *len_p);
const uint8_t *fx_revocations_signature(const fx_revocations_t *self);

/* ----------------------------------------------------------------------------------------------
 * The authority's public key file ("fusion-authority-key: 1", key, fingerprint) */

/* Writes the authority's public key file (mode 0644); refuses to overwrite an existing file. */
fx_err_t fx_authority_key_save(const char *path, const uint8_t key[FX_KEY_BYTES]) FX_WUR;

/* Reads an authority public key file. FX_ERR_NOT_FOUND, FX_ERR_IO, FX_ERR_MALFORMED (including
 * a fingerprint line that does not match the key, which catches a mistyped copy). */
fx_err_t fx_authority_key_load(const char *path, uint8_t key[FX_KEY_BYTES]) FX_WUR;

/* What to say of a failed fx_authority_key_load of path: for a file refused only because its
 * fingerprint line does not match its key, that (a mistyped copy); otherwise fx_strerror(err). */
const char *fx_authority_key_strerror(const char *path, fx_err_t err);

/* ----------------------------------------------------------------------------------------------
 * Detached signatures over files (the sharing policy) */

/* Signs the bytes of the file at path ("<domain>\0" + bytes) with the authority key and writes
 * PATH.sig: text with the domain, the signer's fingerprint and the hex signature (replacing an
 * older PATH.sig). */
fx_err_t fx_file_sign(const fx_keys_t *authority, const char *domain, const char *path) FX_WUR;

/* Verifies the detached signature in sig_path over data (the file bytes the caller read once and
 * will then parse). FX_ERR_NOT_FOUND without a signature file, FX_ERR_MALFORMED for one that is
 * not a Fusion signature for this domain, FX_ERR_UNTRUSTED when signed by another key,
 * FX_ERR_BAD_SIGNATURE when the data or the signature were altered. */
fx_err_t fx_file_verify(const uint8_t authority_key[FX_KEY_BYTES], const char *domain,
                        const uint8_t *data, size_t len, const char *sig_path) FX_WUR;

#endif
