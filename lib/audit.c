/* Signed checkpoints of the audit tree: building and signing the CheckpointBody, and verifying a
 * received one against the pinned broker key before anything in it is believed. */
#include "fusion/audit.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fusion/codec.h"

void fx_audit_checkpoint_sign(const fx_keys_t *broker, uint64_t tree_size,
                              const uint8_t root_hash[FX_MERKLE_HASH_BYTES], int64_t time_ms,
                              fx_store_checkpoint_t *out)
{
    Fusion__CheckpointBody body = FUSION__CHECKPOINT_BODY__INIT;
    body.version = FX_AUDIT_CHECKPOINT_VERSION;
    body.broker = (char *) fx_keys_id(broker);
    body.tree_size = tree_size;
    body.root_hash = (ProtobufCBinaryData){FX_MERKLE_HASH_BYTES, (uint8_t *) root_hash};
    body.time_ms = (uint64_t) time_ms;
    body.broker_key = (ProtobufCBinaryData){FX_KEY_BYTES, (uint8_t *) fx_keys_sign_public(broker)};
    memset(out, 0, sizeof *out);
    size_t len = fx_codec_size(&body);
    assert(len <= FX_STORE_CHECKPOINT_BODY_MAX); /* an id of FX_ID_MAX bytes at most */
    uint8_t *bytes = NULL;
    fx_codec_encode(&body, &bytes, &len);
    memcpy(out->body, bytes, len);
    out->body_len = len;
    free(bytes);
    out->tree_size = (int64_t) tree_size;
    memcpy(out->root_hash, root_hash, FX_MERKLE_HASH_BYTES);
    out->time_ms = time_ms;
    fx_keys_sign(broker, FX_DOMAIN_CHECKPOINT, out->body, out->body_len, out->signature);
}

fx_err_t fx_audit_checkpoint_verify(const uint8_t *body, size_t body_len, const uint8_t *signature,
                                    size_t signature_len, const uint8_t broker_key[FX_KEY_BYTES],
                                    fx_audit_checkpoint_t *out)
{
    if (!body || body_len == 0 || body_len > FX_STORE_CHECKPOINT_BODY_MAX)
        return FX_ERR_MALFORMED;
    if (!signature || signature_len != FX_SIGNATURE_BYTES ||
        fx_signature_verify(broker_key, FX_DOMAIN_CHECKPOINT, body, body_len, signature) != 0)
        return FX_ERR_BAD_SIGNATURE;
    Fusion__CheckpointBody *decoded = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_CHECKPOINT_BODY, body, body_len, (void **) &decoded);
    if (rc != FX_OK)
        return rc;
    if (decoded->version != FX_AUDIT_CHECKPOINT_VERSION ||
        decoded->root_hash.len != FX_MERKLE_HASH_BYTES || !decoded->broker ||
        strlen(decoded->broker) >= FX_ID_MAX || decoded->time_ms > INT64_MAX ||
        decoded->tree_size > INT64_MAX)
        rc = FX_ERR_MALFORMED;
    else if (decoded->broker_key.len != FX_KEY_BYTES ||
             sodium_memcmp(decoded->broker_key.data, broker_key, FX_KEY_BYTES) != 0)
        rc = FX_ERR_UNTRUSTED;
    if (rc == FX_OK && out) {
        snprintf(out->broker, sizeof out->broker, "%s", decoded->broker);
        out->tree_size = decoded->tree_size;
        memcpy(out->root_hash, decoded->root_hash.data, FX_MERKLE_HASH_BYTES);
        out->time_ms = decoded->time_ms;
    }
    fx_codec_free(decoded);
    return rc;
}
