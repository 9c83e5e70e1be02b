/* sign_checkpoint: signs an audit checkpoint with any principal's key, so the tests can plant a
 * checkpoint the broker never signed. Prints the body and the signature in hex, one per line.
 * Usage: sign_checkpoint KEYFILE TREE_SIZE ROOT_HEX TIME_MS
 *        sign_checkpoint resign KEYFILE RECEIPT_IN RECEIPT_OUT   (a saved receipt whose
 *        checkpoint, same size, root and time, is signed again with KEYFILE's key)
 *        sign_checkpoint file KEYFILE DOMAIN FILE   (FILE.sig over FILE's bytes under DOMAIN, as
 *        fx_file_sign writes it, unchecked: a signed policy that does not load) */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/audit.h"
#include "fusion/cert.h"
#include "fusion/codec.h"
#include "fusion/keys.h"

/* Re-signs the checkpoint of a saved receipt with another key. */
static int s_resign(const char *key_file, const char *in, const char *out)
{
    fx_keys_t *keys = NULL;
    uint8_t *data = NULL, *bytes = NULL;
    size_t len = 0;
    Fusion__Frame *frame = NULL;
    Fusion__CheckpointBody *body = NULL;
    int status = 4;
    if (fx_keys_load(key_file, &keys) != FX_OK ||
        fx_file_read(in, 8u << 20, &data, &len) != FX_OK ||
        fx_codec_decode(FX_MSG_FRAME, data, len, (void **) &frame) != FX_OK ||
        frame->body_case != FUSION__FRAME__BODY_RECEIPT || !frame->receipt->checkpoint ||
        fx_codec_decode(FX_MSG_CHECKPOINT_BODY, frame->receipt->checkpoint->body.data,
                        frame->receipt->checkpoint->body.len, (void **) &body) != FX_OK ||
        body->root_hash.len != FX_MERKLE_HASH_BYTES) {
        fprintf(stderr, "sign_checkpoint resign: cannot read %s or %s\n", key_file, in);
        goto cleanup;
    }
    fx_store_checkpoint_t cp;
    fx_audit_checkpoint_sign(keys, body->tree_size, body->root_hash.data, (int64_t) body->time_ms,
                             &cp);
    ProtobufCBinaryData old_body = frame->receipt->checkpoint->body;
    ProtobufCBinaryData old_signature = frame->receipt->checkpoint->signature;
    frame->receipt->checkpoint->body = (ProtobufCBinaryData){cp.body_len, cp.body};
    frame->receipt->checkpoint->signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, cp.signature};
    fx_codec_encode(frame, &bytes, &len);
    /* The decoded frame's fields point at cp now: give them back their own before freeing. */
    frame->receipt->checkpoint->body = old_body;
    frame->receipt->checkpoint->signature = old_signature;
    status = fx_file_write(out, bytes, len, 0600, 0) == FX_OK ? 0 : 4;
cleanup:
    fx_codec_free(body);
    fx_codec_free(frame);
    free(bytes);
    free(data);
    fx_keys_destroy(&keys);
    return status;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 4;
    if (argc == 5 && strcmp(argv[1], "resign") == 0)
        return s_resign(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "file") == 0) {
        fx_keys_t *keys = NULL;
        if (fx_keys_load(argv[2], &keys) != FX_OK) {
            fprintf(stderr, "sign_checkpoint file: cannot load %s\n", argv[2]);
            return 4;
        }
        fx_err_t rc = fx_file_sign(keys, argv[3], argv[4]);
        fx_keys_destroy(&keys);
        if (rc != FX_OK)
            fprintf(stderr, "sign_checkpoint file: cannot sign %s: %s\n", argv[4], fx_strerror(rc));
        return rc == FX_OK ? 0 : 4;
    }
    uint8_t root[FX_MERKLE_HASH_BYTES];
    size_t len = 0;
    if (argc != 5 ||
        sodium_hex2bin(root, sizeof root, argv[3], strlen(argv[3]), NULL, &len, NULL) != 0 ||
        len != sizeof root) {
        fprintf(stderr, "usage: sign_checkpoint KEYFILE TREE_SIZE ROOT_HEX TIME_MS\n");
        return 2;
    }
    fx_keys_t *keys = NULL;
    if (fx_keys_load(argv[1], &keys) != FX_OK) {
        fprintf(stderr, "sign_checkpoint: cannot load %s\n", argv[1]);
        return 4;
    }
    fx_store_checkpoint_t cp;
    fx_audit_checkpoint_sign(keys, strtoull(argv[2], NULL, 10), root, strtoll(argv[4], NULL, 10),
                             &cp);
    char hex[2 * FX_STORE_CHECKPOINT_BODY_MAX + 1];
    printf("%s\n", sodium_bin2hex(hex, sizeof hex, cp.body, cp.body_len));
    printf("%s\n", sodium_bin2hex(hex, sizeof hex, cp.signature, FX_SIGNATURE_BYTES));
    fx_keys_destroy(&keys);
    return 0;
}
