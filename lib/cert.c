/* Enrolment requests, certificates and revocation lists signed by the registry authority, the
 * authority's public key file, and detached file signatures. Every signature is checked over the
 * exact bytes received, before the signed body is even decoded. */
#include "fusion/cert.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert_private.h"
#include "fusion/codec.h"
#include "fusion/vocab.h"

#define AUTHORITY_FILE_MAX 4096
#define SIG_FILE_MAX       4096
#define SIGNED_FILE_MAX    (64u << 20)
#define REVOCATIONS_MAX    (100000u)
#define VERIFIED_SLOTS     1024 /* authority signatures remembered as verified (32 KiB) */

struct fx_request {
    char id[FX_ID_MAX];
    uint8_t sign_key[FX_KEY_BYTES];
    uint8_t box_key[FX_KEY_BYTES];
    uint8_t curve_key[FX_KEY_BYTES];
    int64_t created_at;
};

struct fx_cert {
    char id[FX_ID_MAX];
    char country[4];
    char agency[FX_ID_MAX];
    uint32_t roles;
    uint8_t sign_key[FX_KEY_BYTES];
    uint8_t box_key[FX_KEY_BYTES];
    uint8_t curve_key[FX_KEY_BYTES];
    uint64_t serial;
    int64_t not_before;
    int64_t not_after;
    uint8_t *body; /* the exact signed body */
    size_t body_len;
    uint8_t signature[FX_SIGNATURE_BYTES];
    uint8_t *bytes; /* Certificate{body, signature}, canonical outer encoding */
    size_t bytes_len;
};

struct fx_revocations {
    uint64_t sequence;
    int64_t issued_at;
    uint64_t *serials; /* sorted, unique */
    size_t count;
    size_t capacity;
    uint8_t *body; /* verified lists only: the exact signed body */
    size_t body_len;
    uint8_t signature[FX_SIGNATURE_BYTES];
};

/* ---------------------------------------------------------------------------------------------
 * Shared checks */

static int s_all_zero(const uint8_t *bytes, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= bytes[i];
    return acc == 0;
}

/* Copies a 32-byte public key field; refuses other sizes and the all-zero key. */
static int s_key_field(const ProtobufCBinaryData *field, uint8_t out[FX_KEY_BYTES])
{
    if (field->len != FX_KEY_BYTES || s_all_zero(field->data, FX_KEY_BYTES))
        return -1;
    memcpy(out, field->data, FX_KEY_BYTES);
    return 0;
}

/* Copies a valid principal id (no embedded NUL: protobuf strings may carry one). */
static int s_id_field(const char *text, char id[FX_ID_MAX])
{
    if (!text || !fx_principal_id_valid(text))
        return -1;
    snprintf(id, FX_ID_MAX, "%s", text);
    return 0;
}

/* Milliseconds as carried on the wire (uint64) must fit the API's int64_t. */
static int s_time_field(uint64_t value, int64_t *out)
{
    if (value > (uint64_t) INT64_MAX)
        return -1;
    *out = (int64_t) value;
    return 0;
}

static uint32_t s_known_roles(void)
{
    int size = fx_vocab_size(FX_VOCAB_ROLE);
    uint32_t mask = 0;
    for (int v = 1; v < size && v < 32; v++)
        mask |= 1u << v;
    return mask;
}

/* Wraps a signed body in its outer {body, signature} message (same shape for all three). */
static void s_encode_signed(int type, const uint8_t *body, size_t body_len,
                            const uint8_t sig[FX_SIGNATURE_BYTES], uint8_t **data_p, size_t *len_p)
{
    ProtobufCBinaryData b = {body_len, (uint8_t *) body};
    ProtobufCBinaryData s = {FX_SIGNATURE_BYTES, (uint8_t *) sig};
    if (type == FX_MSG_CERTIFICATE) {
        Fusion__Certificate msg = FUSION__CERTIFICATE__INIT;
        msg.body = b;
        msg.signature = s;
        fx_codec_encode(&msg, data_p, len_p);
    } else if (type == FX_MSG_REVOCATION_LIST) {
        Fusion__RevocationList msg = FUSION__REVOCATION_LIST__INIT;
        msg.body = b;
        msg.signature = s;
        fx_codec_encode(&msg, data_p, len_p);
    } else {
        Fusion__EnrolmentRequest msg = FUSION__ENROLMENT_REQUEST__INIT;
        msg.body = b;
        msg.signature = s;
        fx_codec_encode(&msg, data_p, len_p);
    }
}

/* Authority signatures this process verified, by a digest of everything the verification read
 * (domain, key, body, signature): an agent is sent the same certificates again and again (every
 * PREPARED carries each recipient's, every DELIVER its sender's), and verifying one costs as much
 * as sealing a key for it. Only a signature that verified is remembered, so a hit stands for the
 * same verification with the same answer; anything else, a changed byte or another key, is a
 * digest of its own and is verified. Direct-mapped, shared by the process's threads. */
static struct {
    pthread_mutex_t lock;
    uint8_t digest[VERIFIED_SLOTS][crypto_generichash_BYTES];
    bool used[VERIFIED_SLOTS];
} s_verified = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void s_signed_digest(const char *domain, const uint8_t key[FX_KEY_BYTES],
                            const ProtobufCBinaryData *body, const ProtobufCBinaryData *sig,
                            uint8_t digest[crypto_generichash_BYTES])
{
    uint64_t lengths[2] = {strlen(domain), body->len}; /* so no two inputs read alike */
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, crypto_generichash_BYTES);
    crypto_generichash_update(&state, (const uint8_t *) lengths, sizeof lengths);
    crypto_generichash_update(&state, (const uint8_t *) domain, lengths[0]);
    crypto_generichash_update(&state, key, FX_KEY_BYTES);
    crypto_generichash_update(&state, body->data, body->len);
    crypto_generichash_update(&state, sig->data, sig->len);
    crypto_generichash_final(&state, digest, crypto_generichash_BYTES);
}

static size_t s_verified_slot(const uint8_t digest[crypto_generichash_BYTES])
{
    return ((size_t) digest[0] << 8 | digest[1]) % VERIFIED_SLOTS;
}

static bool s_verified_before(const uint8_t digest[crypto_generichash_BYTES])
{
    size_t slot = s_verified_slot(digest);
    pthread_mutex_lock(&s_verified.lock);
    bool hit = s_verified.used[slot] &&
               sodium_memcmp(s_verified.digest[slot], digest, crypto_generichash_BYTES) == 0;
    pthread_mutex_unlock(&s_verified.lock);
    return hit;
}

static void s_verified_remember(const uint8_t digest[crypto_generichash_BYTES])
{
    size_t slot = s_verified_slot(digest);
    pthread_mutex_lock(&s_verified.lock);
    memcpy(s_verified.digest[slot], digest, crypto_generichash_BYTES);
    s_verified.used[slot] = true;
    pthread_mutex_unlock(&s_verified.lock);
}

/* The body of a certificate or revocation list: the authority's signature over the exact body
 * bytes received is verified first (or found among the signatures verified before), so a body
 * the authority did not sign is never decoded.
 * FX_ERR_UNTRUSTED if it does not verify; *body_p as fx_codec_decode. */
static fx_err_t s_authority_body(const ProtobufCBinaryData *body, const ProtobufCBinaryData *sig,
                                 const char *domain, const uint8_t authority_key[FX_KEY_BYTES],
                                 fx_msg_type_t body_type, void **body_p)
{
    if (sig->len != FX_SIGNATURE_BYTES || body->len == 0)
        return FX_ERR_MALFORMED;
    uint8_t digest[crypto_generichash_BYTES];
    s_signed_digest(domain, authority_key, body, sig, digest);
    if (!s_verified_before(digest)) {
        if (fx_signature_verify(authority_key, domain, body->data, body->len, sig->data) != 0)
            return FX_ERR_UNTRUSTED;
        s_verified_remember(digest);
    }
    return fx_codec_decode(body_type, body->data, body->len, body_p);
}

/* ---------------------------------------------------------------------------------------------
 * Enrolment requests */

fx_err_t fx_request_create(const fx_keys_t *keys, uint8_t **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    if (!keys)
        return FX_ERR_INVALID;
    Fusion__EnrolmentRequestBody body = FUSION__ENROLMENT_REQUEST_BODY__INIT;
    body.version = FX_REQUEST_VERSION;
    body.id = (char *) fx_keys_id(keys);
    body.sign_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_sign_public(keys)};
    body.box_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_box_public(keys)};
    body.curve_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_curve_public(keys)};
    body.created_at = (uint64_t) fx_now_ms();
    uint8_t *body_bytes;
    size_t body_len;
    fx_codec_encode(&body, &body_bytes, &body_len);
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(keys, FX_DOMAIN_REQUEST, body_bytes, body_len, sig);
    s_encode_signed(FX_MSG_ENROLMENT_REQUEST, body_bytes, body_len, sig, data_p, len_p);
    free(body_bytes);
    return FX_OK;
}

fx_err_t fx_request_verify(const uint8_t *data, size_t len, fx_request_t **req_p)
{
    *req_p = NULL;
    Fusion__EnrolmentRequest *outer = NULL;
    Fusion__EnrolmentRequestBody *body = NULL;
    fx_request_t *self = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_ENROLMENT_REQUEST, data, len, (void **) &outer);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_MALFORMED;
    if (outer->signature.len != FX_SIGNATURE_BYTES)
        goto cleanup;
    /* The signer is named inside the body, so the body is decoded first; the signature is then
     * checked over the exact bytes received before anything in it is used. */
    rc = fx_codec_decode(FX_MSG_ENROLMENT_REQUEST_BODY, outer->body.data, outer->body.len,
                         (void **) &body);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_MALFORMED;
    self = fx_calloc(1, sizeof *self);
    if (body->version != FX_REQUEST_VERSION || s_id_field(body->id, self->id) != 0 ||
        s_key_field(&body->sign_key, self->sign_key) != 0 ||
        s_key_field(&body->box_key, self->box_key) != 0 ||
        s_key_field(&body->curve_key, self->curve_key) != 0 ||
        s_time_field(body->created_at, &self->created_at) != 0)
        goto cleanup;
    if (fx_signature_verify(self->sign_key, FX_DOMAIN_REQUEST, outer->body.data, outer->body.len,
                            outer->signature.data) != 0) {
        rc = FX_ERR_BAD_SIGNATURE;
        goto cleanup;
    }
    *req_p = self;
    self = NULL;
    rc = FX_OK;
cleanup:
    fx_request_destroy(&self);
    fx_codec_free(body);
    fx_codec_free(outer);
    return rc;
}

void fx_request_destroy(fx_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *fx_request_id(const fx_request_t *self)
{
    return self->id;
}

const uint8_t *fx_request_sign_key(const fx_request_t *self)
{
    return self->sign_key;
}

const uint8_t *fx_request_box_key(const fx_request_t *self)
{
    return self->box_key;
}

const uint8_t *fx_request_curve_key(const fx_request_t *self)
{
    return self->curve_key;
}

int64_t fx_request_created_at(const fx_request_t *self)
{
    return self->created_at;
}

void fx_request_fingerprint(const fx_request_t *self, char out[FX_FINGERPRINT_BUFSIZE])
{
    fx_fingerprint(self->sign_key, out);
}

/* ---------------------------------------------------------------------------------------------
 * Certificates */

fx_err_t fx_cert_issue(const fx_keys_t *authority, const fx_request_t *req, uint32_t roles_mask,
                       uint64_t serial, int64_t not_before_ms, int64_t not_after_ms,
                       uint8_t **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    if (!authority || !req || roles_mask == 0 || (roles_mask & ~s_known_roles()) != 0 ||
        serial == 0 || not_before_ms < 0 || not_after_ms <= not_before_ms)
        return FX_ERR_INVALID;
    Fusion__Role roles[32];
    size_t n_roles = 0;
    for (int v = 1; v < 32; v++)
        if (roles_mask & (1u << v))
            roles[n_roles++] = (Fusion__Role) v;
    char country[4], agency[FX_ID_MAX];
    memcpy(country, req->id, 3);
    country[3] = '\0';
    fx_principal_agency(req->id, agency);

    Fusion__CertificateBody body = FUSION__CERTIFICATE_BODY__INIT;
    body.version = FX_CERT_VERSION;
    body.serial = serial;
    body.id = (char *) req->id;
    body.country = country;
    body.agency = agency;
    body.n_roles = n_roles;
    body.roles = roles;
    body.sign_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) req->sign_key};
    body.box_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) req->box_key};
    body.curve_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) req->curve_key};
    body.not_before = (uint64_t) not_before_ms;
    body.not_after = (uint64_t) not_after_ms;
    body.authority_key =
        (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_sign_public(authority)};
    uint8_t *body_bytes;
    size_t body_len;
    fx_codec_encode(&body, &body_bytes, &body_len);
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(authority, FX_DOMAIN_CERT, body_bytes, body_len, sig);
    s_encode_signed(FX_MSG_CERTIFICATE, body_bytes, body_len, sig, data_p, len_p);
    free(body_bytes);
    return FX_OK;
}

/* Checks the decoded body and fills self. Everything here was signed by the authority, but the
 * authority's own tool could still have a bug, so nothing is taken on trust. */
static fx_err_t s_cert_fill(fx_cert_t *self, const Fusion__CertificateBody *body,
                            const uint8_t authority_key[FX_KEY_BYTES])
{
    if (body->authority_key.len != FX_KEY_BYTES ||
        sodium_memcmp(body->authority_key.data, authority_key, FX_KEY_BYTES) != 0)
        return FX_ERR_UNTRUSTED;
    if (body->version != FX_CERT_VERSION || body->serial == 0 ||
        s_id_field(body->id, self->id) != 0)
        return FX_ERR_MALFORMED;
    char agency[FX_ID_MAX];
    fx_principal_agency(self->id, agency);
    if (!body->country || strlen(body->country) != 3 || memcmp(body->country, self->id, 3) != 0 ||
        !body->agency || strcmp(body->agency, agency) != 0)
        return FX_ERR_MALFORMED;
    memcpy(self->country, self->id, 3);
    self->country[3] = '\0';
    memcpy(self->agency, agency, sizeof agency);
    if (body->n_roles == 0)
        return FX_ERR_MALFORMED;
    uint32_t known = s_known_roles();
    for (size_t i = 0; i < body->n_roles; i++) {
        int v = (int) body->roles[i];
        if (v <= 0 || v >= 32 || !(known & (1u << v)) || (self->roles & (1u << v)))
            return FX_ERR_MALFORMED; /* unknown, absent or repeated role */
        self->roles |= 1u << v;
    }
    if (s_key_field(&body->sign_key, self->sign_key) != 0 ||
        s_key_field(&body->box_key, self->box_key) != 0 ||
        s_key_field(&body->curve_key, self->curve_key) != 0 ||
        s_time_field(body->not_before, &self->not_before) != 0 ||
        s_time_field(body->not_after, &self->not_after) != 0 || self->not_after <= self->not_before)
        return FX_ERR_MALFORMED;
    self->serial = body->serial;
    return FX_OK;
}

/* Verifies signature and contents but not the validity window. */
static fx_err_t s_cert_parse(const uint8_t *data, size_t len,
                             const uint8_t authority_key[FX_KEY_BYTES], fx_cert_t **cert_p)
{
    *cert_p = NULL;
    Fusion__Certificate *outer = NULL;
    Fusion__CertificateBody *body = NULL;
    fx_cert_t *self = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_CERTIFICATE, data, len, (void **) &outer);
    if (rc == FX_OK)
        rc = s_authority_body(&outer->body, &outer->signature, FX_DOMAIN_CERT, authority_key,
                              FX_MSG_CERTIFICATE_BODY, (void **) &body);
    if (rc != FX_OK)
        goto cleanup;
    self = fx_calloc(1, sizeof *self);
    rc = s_cert_fill(self, body, authority_key);
    if (rc != FX_OK)
        goto cleanup;
    self->body = fx_malloc(outer->body.len);
    memcpy(self->body, outer->body.data, outer->body.len);
    self->body_len = outer->body.len;
    memcpy(self->signature, outer->signature.data, FX_SIGNATURE_BYTES);
    s_encode_signed(FX_MSG_CERTIFICATE, self->body, self->body_len, self->signature, &self->bytes,
                    &self->bytes_len);
    *cert_p = self;
    self = NULL;
    rc = FX_OK;
cleanup:
    fx_cert_destroy(&self);
    fx_codec_free(body);
    fx_codec_free(outer);
    return rc;
}

fx_err_t fx_cert_check_time(const fx_cert_t *self, int64_t now_ms)
{
    if (now_ms < self->not_before)
        return FX_ERR_CERT_NOT_YET_VALID;
    if (now_ms >= self->not_after)
        return FX_ERR_CERT_EXPIRED;
    return FX_OK;
}

fx_err_t fx_cert_verify(const uint8_t *data, size_t len, const uint8_t authority_key[FX_KEY_BYTES],
                        int64_t now_ms, fx_cert_t **cert_p)
{
    fx_cert_t *self = NULL;
    *cert_p = NULL;
    fx_err_t rc = s_cert_parse(data, len, authority_key, &self);
    if (rc == FX_OK)
        rc = fx_cert_check_time(self, now_ms);
    if (rc == FX_OK)
        *cert_p = self;
    else
        fx_cert_destroy(&self);
    return rc;
}

fx_err_t fx_cert_verify_any_time_(const uint8_t *data, size_t len,
                                  const uint8_t authority_key[FX_KEY_BYTES], fx_cert_t **cert_p)
{
    return s_cert_parse(data, len, authority_key, cert_p);
}

fx_cert_t *fx_cert_dup(const fx_cert_t *self)
{
    if (!self)
        return NULL;
    fx_cert_t *copy = fx_malloc(sizeof *copy);
    *copy = *self;
    copy->body = fx_malloc(self->body_len);
    memcpy(copy->body, self->body, self->body_len);
    copy->bytes = fx_malloc(self->bytes_len);
    memcpy(copy->bytes, self->bytes, self->bytes_len);
    return copy;
}

void fx_cert_destroy(fx_cert_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_cert_t *self = *self_p;
    free(self->body);
    free(self->bytes);
    free(self);
    *self_p = NULL;
}

const char *fx_cert_id(const fx_cert_t *self)
{
    return self->id;
}

const char *fx_cert_country(const fx_cert_t *self)
{
    return self->country;
}

const char *fx_cert_agency(const fx_cert_t *self)
{
    return self->agency;
}

uint32_t fx_cert_roles(const fx_cert_t *self)
{
    return self->roles;
}

int fx_cert_has_role(const fx_cert_t *self, int role)
{
    return role > 0 && role < 32 && (self->roles & (1u << role)) != 0;
}

const uint8_t *fx_cert_sign_key(const fx_cert_t *self)
{
    return self->sign_key;
}

const uint8_t *fx_cert_box_key(const fx_cert_t *self)
{
    return self->box_key;
}

const uint8_t *fx_cert_curve_key(const fx_cert_t *self)
{
    return self->curve_key;
}

void fx_cert_fingerprint(const fx_cert_t *self, char out[FX_FINGERPRINT_BUFSIZE])
{
    fx_fingerprint(self->sign_key, out);
}

uint64_t fx_cert_serial(const fx_cert_t *self)
{
    return self->serial;
}

int64_t fx_cert_not_before(const fx_cert_t *self)
{
    return self->not_before;
}

int64_t fx_cert_not_after(const fx_cert_t *self)
{
    return self->not_after;
}

const uint8_t *fx_cert_bytes(const fx_cert_t *self, size_t *len_p)
{
    *len_p = self->bytes_len;
    return self->bytes;
}

const uint8_t *fx_cert_body(const fx_cert_t *self, size_t *len_p)
{
    *len_p = self->body_len;
    return self->body;
}

const uint8_t *fx_cert_signature(const fx_cert_t *self)
{
    return self->signature;
}

/* ---------------------------------------------------------------------------------------------
 * Revocation lists */

fx_revocations_t *fx_revocations_new(const fx_revocations_t *previous)
{
    fx_revocations_t *self = fx_calloc(1, sizeof *self);
    self->sequence = previous ? previous->sequence + 1 : 1;
    if (previous && previous->count) {
        self->capacity = previous->count;
        self->serials = fx_malloc(self->capacity * sizeof *self->serials);
        memcpy(self->serials, previous->serials, previous->count * sizeof *self->serials);
        self->count = previous->count;
    }
    return self;
}

fx_err_t fx_revocations_add(fx_revocations_t *self, uint64_t serial)
{
    if (!self || serial == 0)
        return FX_ERR_INVALID;
    size_t at = fx_lower_bound_u64(self->serials, self->count, serial);
    if (at < self->count && self->serials[at] == serial)
        return FX_OK;
    if (self->count >= REVOCATIONS_MAX)
        return FX_ERR_LIMIT;
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 16;
        self->serials = fx_realloc(self->serials, self->capacity * sizeof *self->serials);
    }
    memmove(self->serials + at + 1, self->serials + at, (self->count - at) * sizeof *self->serials);
    self->serials[at] = serial;
    self->count++;
    return FX_OK;
}

fx_err_t fx_revocations_sign(const fx_revocations_t *self, const fx_keys_t *authority,
                             int64_t issued_at_ms, uint8_t **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    if (!self || !authority || issued_at_ms < 0)
        return FX_ERR_INVALID;
    Fusion__RevocationListBody body = FUSION__REVOCATION_LIST_BODY__INIT;
    body.version = FX_REVOCATIONS_VERSION;
    body.sequence = self->sequence;
    body.issued_at = (uint64_t) issued_at_ms;
    body.n_serials = self->count;
    body.serials = self->serials;
    body.authority_key =
        (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_sign_public(authority)};
    uint8_t *body_bytes;
    size_t body_len;
    fx_codec_encode(&body, &body_bytes, &body_len);
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(authority, FX_DOMAIN_REVOCATIONS, body_bytes, body_len, sig);
    s_encode_signed(FX_MSG_REVOCATION_LIST, body_bytes, body_len, sig, data_p, len_p);
    free(body_bytes);
    return FX_OK;
}

static int s_serial_compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

fx_err_t fx_revocations_verify(const uint8_t *data, size_t len,
                               const uint8_t authority_key[FX_KEY_BYTES], uint64_t min_sequence,
                               fx_revocations_t **list_p)
{
    *list_p = NULL;
    Fusion__RevocationList *outer = NULL;
    Fusion__RevocationListBody *body = NULL;
    fx_revocations_t *self = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_REVOCATION_LIST, data, len, (void **) &outer);
    if (rc == FX_OK)
        rc = s_authority_body(&outer->body, &outer->signature, FX_DOMAIN_REVOCATIONS, authority_key,
                              FX_MSG_REVOCATION_LIST_BODY, (void **) &body);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_UNTRUSTED;
    if (body->authority_key.len != FX_KEY_BYTES ||
        sodium_memcmp(body->authority_key.data, authority_key, FX_KEY_BYTES) != 0)
        goto cleanup;
    rc = FX_ERR_MALFORMED;
    self = fx_calloc(1, sizeof *self);
    if (body->version != FX_REVOCATIONS_VERSION || body->sequence == 0 ||
        body->n_serials > REVOCATIONS_MAX || s_time_field(body->issued_at, &self->issued_at) != 0)
        goto cleanup;
    self->sequence = body->sequence;
    if (body->n_serials) {
        self->serials = fx_malloc(body->n_serials * sizeof *self->serials);
        memcpy(self->serials, body->serials, body->n_serials * sizeof *self->serials);
        qsort(self->serials, body->n_serials, sizeof *self->serials, s_serial_compare);
        for (size_t i = 0; i < body->n_serials; i++) {
            if (self->serials[i] == 0)
                goto cleanup;
            if (self->count == 0 || self->serials[self->count - 1] != self->serials[i])
                self->serials[self->count++] = self->serials[i];
        }
        self->capacity = body->n_serials;
    }
    if (self->sequence < min_sequence) {
        rc = FX_ERR_REPLAY;
        goto cleanup;
    }
    self->body = fx_malloc(outer->body.len);
    memcpy(self->body, outer->body.data, outer->body.len);
    self->body_len = outer->body.len;
    memcpy(self->signature, outer->signature.data, FX_SIGNATURE_BYTES);
    *list_p = self;
    self = NULL;
    rc = FX_OK;
cleanup:
    fx_revocations_destroy(&self);
    fx_codec_free(body);
    fx_codec_free(outer);
    return rc;
}

void fx_revocations_destroy(fx_revocations_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_revocations_t *self = *self_p;
    free(self->serials);
    free(self->body);
    free(self);
    *self_p = NULL;
}

int fx_revocations_contains(const fx_revocations_t *self, uint64_t serial)
{
    size_t at = fx_lower_bound_u64(self->serials, self->count, serial);
    return at < self->count && self->serials[at] == serial;
}

uint64_t fx_revocations_sequence(const fx_revocations_t *self)
{
    return self->sequence;
}

int64_t fx_revocations_issued_at(const fx_revocations_t *self)
{
    return self->issued_at;
}

size_t fx_revocations_count(const fx_revocations_t *self)
{
    return self->count;
}

uint64_t fx_revocations_at(const fx_revocations_t *self, size_t index)
{
    return index < self->count ? self->serials[index] : 0;
}

const uint8_t *fx_revocations_body(const fx_revocations_t *self, size_t *len_p)
{
    *len_p = self->body_len;
    return self->body;
}

const uint8_t *fx_revocations_signature(const fx_revocations_t *self)
{
    return self->body ? self->signature : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Small text files: "name: value" lines after a magic first line */

/* Finds "name: value" at the start of a line and returns the value's length (up to the newline),
 * or -1. *value_p points into text. */
static int s_text_field(const char *text, const char *name, const char **value_p)
{
    size_t name_len = strlen(name);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, name, name_len) == 0 && line[name_len] == ':' &&
            line[name_len + 1] == ' ') {
            const char *value = line + name_len + 2;
            *value_p = value;
            return (int) strcspn(value, "\n");
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

/* Decodes exactly bin_len bytes of lower- or upper-case hex filling the whole value. */
static int s_hex_value(const char *text, const char *name, uint8_t *out, size_t bin_len)
{
    const char *value;
    int len = s_text_field(text, name, &value);
    if (len != (int) (2 * bin_len))
        return -1;
    size_t got = 0;
    if (sodium_hex2bin(out, bin_len, value, (size_t) len, NULL, &got, NULL) != 0 || got != bin_len)
        return -1;
    return 0;
}

/* 1 if text's first line is exactly magic. */
static int s_has_magic(const char *text, const char *magic)
{
    size_t len = strlen(magic);
    return strncmp(text, magic, len) == 0 && (text[len] == '\n' || text[len] == '\0');
}

static const char s_authority_magic[] = "fusion-authority-key: 1";

fx_err_t fx_authority_key_save(const char *path, const uint8_t key[FX_KEY_BYTES])
{
    char hex[2 * FX_KEY_BYTES + 1], fp[FX_FINGERPRINT_BUFSIZE], text[512];
    fx_hex(key, FX_KEY_BYTES, hex);
    fx_fingerprint(key, fp);
    int len = snprintf(text, sizeof text,
                       "%s\n"
                       "# The public key of a Fusion registry authority. Agents and brokers pin\n"
                       "# it; confirm the fingerprint with the fusion centre before trusting it.\n"
                       "key: %s\nfingerprint: %s\n",
                       s_authority_magic, hex, fp);
    return fx_file_write(path, text, (size_t) len, 0644, 1);
}

/* Parses the text of an authority.pub into key. FX_OK, or FX_ERR_MALFORMED with *fingerprint_p
 * set when only the fingerprint line is wrong (it does not match the key). */
static fx_err_t s_authority_parse(const char *text, size_t len, uint8_t key[FX_KEY_BYTES],
                                  bool *fingerprint_p)
{
    const char *fp_value;
    uint8_t parsed[FX_KEY_BYTES];
    char fp[FX_FINGERPRINT_BUFSIZE];
    *fingerprint_p = false;
    if (strlen(text) != len || !s_has_magic(text, s_authority_magic) ||
        s_hex_value(text, "key", parsed, FX_KEY_BYTES) != 0 || s_all_zero(parsed, FX_KEY_BYTES))
        return FX_ERR_MALFORMED;
    fx_fingerprint(parsed, fp);
    if (s_text_field(text, "fingerprint", &fp_value) != (int) strlen(fp) ||
        strncmp(fp_value, fp, strlen(fp)) != 0) {
        *fingerprint_p = true;
        return FX_ERR_MALFORMED;
    }
    memcpy(key, parsed, FX_KEY_BYTES);
    return FX_OK;
}

/* Reads and parses an authority.pub; see s_authority_parse. */
static fx_err_t s_authority_load(const char *path, uint8_t key[FX_KEY_BYTES], bool *fingerprint_p)
{
    uint8_t *data = NULL;
    size_t len = 0;
    *fingerprint_p = false;
    fx_err_t rc = fx_file_read(path, AUTHORITY_FILE_MAX, &data, &len);
    if (rc == FX_ERR_TOO_LARGE)
        return FX_ERR_MALFORMED;
    if (rc != FX_OK)
        return rc;
    rc = s_authority_parse((const char *) data, len, key, fingerprint_p);
    free(data);
    return rc;
}

fx_err_t fx_authority_key_load(const char *path, uint8_t key[FX_KEY_BYTES])
{
    bool fingerprint;
    return s_authority_load(path, key, &fingerprint);
}

const char *fx_authority_key_strerror(const char *path, fx_err_t err)
{
    uint8_t key[FX_KEY_BYTES];
    bool fingerprint = false;
    if (err == FX_ERR_MALFORMED && s_authority_load(path, key, &fingerprint) == FX_ERR_MALFORMED &&
        fingerprint)
        return "its fingerprint line does not match its key (a mistyped or altered copy: get "
               "authority.pub again and check its fingerprint with the fusion centre)";
    return fx_strerror(err);
}

/* ---------------------------------------------------------------------------------------------
 * Detached file signatures */

static const char s_sig_magic[] = "fusion-signature: 1";

fx_err_t fx_file_sign(const fx_keys_t *authority, const char *domain, const char *path)
{
    if (!authority || !domain || !path)
        return FX_ERR_INVALID;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, SIGNED_FILE_MAX, &data, &len);
    if (rc != FX_OK)
        return rc;
    uint8_t sig[FX_SIGNATURE_BYTES];
    fx_keys_sign(authority, domain, data, len, sig);
    free(data);
    char sig_hex[2 * FX_SIGNATURE_BYTES + 1], fp[FX_FINGERPRINT_BUFSIZE], text[1024];
    fx_hex(sig, sizeof sig, sig_hex);
    fx_fingerprint(fx_keys_sign_public(authority), fp);
    int text_len = snprintf(text, sizeof text, "%s\ndomain: %s\nsigner: %s\nsignature: %s\n",
                            s_sig_magic, domain, fp, sig_hex);
    size_t path_len = strlen(path);
    if (text_len < 0 || (size_t) text_len >= sizeof text)
        return FX_ERR_INVALID;
    char *sig_path = fx_malloc(path_len + 5);
    memcpy(sig_path, path, path_len);
    memcpy(sig_path + path_len, ".sig", 5);
    rc = fx_file_write(sig_path, text, (size_t) text_len, 0644, 0);
    free(sig_path);
    return rc;
}

fx_err_t fx_file_verify(const uint8_t authority_key[FX_KEY_BYTES], const char *domain,
                        const uint8_t *data, size_t len, const char *sig_path)
{
    if (!domain || !sig_path || (!data && len))
        return FX_ERR_INVALID;
    uint8_t *sig_data = NULL;
    size_t sig_len = 0;
    fx_err_t rc = fx_file_read(sig_path, SIG_FILE_MAX, &sig_data, &sig_len);
    if (rc == FX_ERR_TOO_LARGE)
        return FX_ERR_MALFORMED;
    if (rc != FX_OK)
        return rc;
    const char *text = (const char *) sig_data, *value;
    char fp[FX_FINGERPRINT_BUFSIZE];
    uint8_t sig[FX_SIGNATURE_BYTES];
    int vlen;
    rc = FX_ERR_MALFORMED;
    if (strlen(text) != sig_len || !s_has_magic(text, s_sig_magic))
        goto cleanup;
    vlen = s_text_field(text, "domain", &value);
    if (vlen != (int) strlen(domain) || strncmp(value, domain, (size_t) vlen) != 0)
        goto cleanup;
    if (s_hex_value(text, "signature", sig, sizeof sig) != 0)
        goto cleanup;
    fx_fingerprint(authority_key, fp);
    vlen = s_text_field(text, "signer", &value);
    if (vlen < 0)
        goto cleanup;
    if (vlen != (int) strlen(fp) || strncmp(value, fp, (size_t) vlen) != 0) {
        rc = FX_ERR_UNTRUSTED;
        goto cleanup;
    }
    /* The signer line is only a hint for people; the signature itself decides. */
    rc = fx_signature_verify(authority_key, domain, data, len, sig) == 0 ? FX_OK
                                                                         : FX_ERR_BAD_SIGNATURE;
cleanup:
    free(sig_data);
    return rc;
}
