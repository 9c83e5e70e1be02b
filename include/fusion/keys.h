/* A principal's three key pairs (Ed25519 signing, X25519 for sealed section keys, CURVE for the
 * transport), their 0600 secret key file, domain-separated signatures and short fingerprints.
 * Secret keys live in sodium_malloc memory and are wiped when the object is destroyed. */
#ifndef FUSION_KEYS_H
#define FUSION_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fusion/util.h"

#define FX_KEY_BYTES           32
#define FX_SIGNATURE_BYTES     64
#define FX_SECTION_KEY_BYTES   32
#define FX_SEALED_KEY_BYTES    (FX_SECTION_KEY_BYTES + 48) /* crypto_box_SEALBYTES */
#define FX_FINGERPRINT_BUFSIZE 20                          /* "XXXX-XXXX-XXXX-XXXX" */
#define FX_ID_MAX              64

/* Signature domains: every signature covers "<domain>\0" followed by the signed bytes. */
#define FX_DOMAIN_HEADER      "fusion/v1/header"
#define FX_DOMAIN_REQUEST     "fusion/v1/request"
#define FX_DOMAIN_CERT        "fusion/v1/cert"
#define FX_DOMAIN_REVOCATIONS "fusion/v1/revocations"
#define FX_DOMAIN_POLICY      "fusion/v1/policy"
#define FX_DOMAIN_CHECKPOINT  "fusion/v1/checkpoint"

typedef struct fx_keys fx_keys_t;

/* Generates fresh key pairs for principal id. NULL if id is not a valid principal id. */
fx_keys_t *fx_keys_new(const char *id);

/* Wipes the secret keys and frees the object; sets *self_p to NULL. Accepts NULL. */
void fx_keys_destroy(fx_keys_t **self_p);

/* Writes the secret key file (mode 0600); refuses to overwrite an existing file. */
fx_err_t fx_keys_save(const fx_keys_t *self, const char *path) FX_WUR;

/* Loads a secret key file. Refuses (FX_ERR_KEY_PERMISSIONS) one that group or others can read,
 * FX_ERR_KEY_NOT_REGULAR a symbolic link (the last part of path is never followed) or anything
 * but a regular file, FX_ERR_MALFORMED a file that is not a Fusion key file. FX_ERR_NOT_FOUND
 * when there is no such file; FX_ERR_IO, with errno holding the system's reason (e.g. EACCES),
 * for a file that cannot be opened. */
fx_err_t fx_keys_load(const char *path, fx_keys_t **keys_p) FX_WUR;

const char *fx_keys_id(const fx_keys_t *self);
const uint8_t *fx_keys_sign_public(const fx_keys_t *self);
const uint8_t *fx_keys_box_public(const fx_keys_t *self);
const uint8_t *fx_keys_curve_public(const fx_keys_t *self);
/* The CURVE secret key, for the transport only (zcert). Do not copy it anywhere else. */
const uint8_t *fx_keys_curve_secret(const fx_keys_t *self);

/* Signs "<domain>\0" + msg with the principal's Ed25519 key. */
void fx_keys_sign(const fx_keys_t *self, const char *domain, const uint8_t *msg, size_t len,
                  uint8_t sig[FX_SIGNATURE_BYTES]);

/* Verifies a signature made by fx_keys_sign. 0 when it verifies, -1 otherwise. */
int fx_signature_verify(const uint8_t public_key[FX_KEY_BYTES], const char *domain,
                        const uint8_t *msg, size_t len,
                        const uint8_t sig[FX_SIGNATURE_BYTES]) FX_WUR;

/* Seals a section key to a recipient's X25519 public key (crypto_box_seal). */
void fx_section_key_seal(const uint8_t box_public[FX_KEY_BYTES],
                         const uint8_t key[FX_SECTION_KEY_BYTES],
                         uint8_t sealed[FX_SEALED_KEY_BYTES]);

/* Opens a section key sealed to this principal into key (caller's secure memory). 0 or -1. */
int fx_keys_unseal(const fx_keys_t *self, const uint8_t *sealed, size_t sealed_len,
                   uint8_t key[FX_SECTION_KEY_BYTES]) FX_WUR;

/* A fingerprint of a signing key short enough to read aloud: 80 bits of BLAKE2b in Crockford
 * base32, four groups of four ("7KQF-2MXA-9R3D-H4TW"). */
void fx_fingerprint(const uint8_t sign_public[FX_KEY_BYTES], char out[FX_FINGERPRINT_BUFSIZE]);

/* Principal ids are COUNTRY.AGENCY.UNIT: COUNTRY three upper-case ASCII letters, AGENCY and UNIT
 * 1 to 24 ASCII letters, digits, '-' or '_'. 1 when valid. */
int fx_principal_id_valid(const char *id);

/* 1 when id is an agency id: COUNTRY.AGENCY, a principal id without its unit. */
int fx_agency_id_valid(const char *id);

/* 1 when id is a principal id or an agency id (COUNTRY.AGENCY), as a recipient may be named. */
int fx_recipient_id_valid(const char *id);

/* Upper-cases the country part of what may be an agency or principal id (three ASCII letters
 * before the first dot), in place: country codes are compared whatever their case, the agency
 * and unit parts as written. Anything else is left as it is, for the validity check to refuse. */
void fx_party_country_upper(char *id);

/* Copies the COUNTRY.AGENCY prefix of a valid principal id into agency (FX_ID_MAX bytes). */
void fx_principal_agency(const char *id, char agency[FX_ID_MAX]);

/* Whether id names a principal of agency (COUNTRY.AGENCY): agency, a dot, then its unit. */
bool fx_principal_of_agency(const char *id, const char *agency);

#endif
