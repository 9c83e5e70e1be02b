/* libFuzzer target for what an agency and an auditor receive from the broker about the audit
 * trail: a Frame holding a Receipt or a Consistency answer, verified by fx_audit_receipt_verify
 * and fx_audit_consistency_verify, and the input as a checkpoint body signed by a fixed test key
 * (fx_audit_checkpoint_verify). A receipt's checkpoint is also signed again with that key, so the
 * entry and proof checks behind the signature are reached (the seed in tests/fuzz/corpus/receipt
 * is a real broker's receipt). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/audit.h"
#include "fusion/codec.h"

/* A fixed test broker key, not a secret. */
static const char s_key_file[] =
    "fusion-secret-keys: 1\nid: RSO.FUSION.broker\n"
    "sign-seed: 0505050505050505050505050505050505050505050505050505050505050505\n"
    "box-secret: 0606060606060606060606060606060606060606060606060606060606060606\n"
    "curve-secret: 0707070707070707070707070707070707070707070707070707070707070707\n";

static fx_keys_t *s_broker;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fx_init();
    char path[] = "/tmp/fusion-fuzz-receipt-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        write(fd, s_key_file, sizeof s_key_file - 1) != (ssize_t) (sizeof s_key_file - 1))
        abort();
    close(fd);
    if (fx_keys_load(path, &s_broker) != FX_OK)
        abort();
    unlink(path);
    return 0;
}

static void s_receipt(Fusion__Receipt *receipt)
{
    const uint8_t *key = fx_keys_sign_public(s_broker);
    uint8_t msg_id[16] = {0};
    if (receipt->msg_id.len == 16)
        memcpy(msg_id, receipt->msg_id.data, 16);
    fx_audit_checkpoint_t cp;
    json_t *entries = NULL;
    char why[512];
    (void) fx_audit_receipt_verify(receipt, msg_id, key, NULL, "THA.RTP.fp1", &cp, NULL, why,
                                   sizeof why);
    if (!receipt->checkpoint || receipt->checkpoint->body.len == 0)
        return;
    /* The same checkpoint signed by the pinned key: the entries and proofs decide. */
    Fusion__CheckpointBody *body = NULL;
    if (fx_codec_decode(FX_MSG_CHECKPOINT_BODY, receipt->checkpoint->body.data,
                        receipt->checkpoint->body.len, (void **) &body) != FX_OK)
        return;
    if (body->root_hash.len == 32 && body->tree_size <= INT64_MAX && body->time_ms <= INT64_MAX) {
        fx_store_checkpoint_t signed_cp;
        fx_audit_checkpoint_sign(s_broker, body->tree_size, body->root_hash.data,
                                 (int64_t) body->time_ms, &signed_cp);
        Fusion__Checkpoint replaced = FUSION__CHECKPOINT__INIT;
        replaced.body = (ProtobufCBinaryData){signed_cp.body_len, signed_cp.body};
        replaced.signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, signed_cp.signature};
        Fusion__Checkpoint *original = receipt->checkpoint;
        receipt->checkpoint = &replaced;
        if (fx_audit_receipt_verify(receipt, msg_id, key, "RSO.FUSION.broker", "THA.RTP.fp1", &cp,
                                    &entries, why, sizeof why) == FX_OK &&
            (cp.tree_size != body->tree_size || !entries))
            abort();
        receipt->checkpoint = original;
    }
    fx_codec_free(body);
    json_decref(entries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fusion__Frame *frame = NULL;
    if (fx_codec_decode(FX_MSG_FRAME, data, size, (void **) &frame) == FX_OK) {
        if (frame->body_case == FUSION__FRAME__BODY_RECEIPT)
            s_receipt(frame->receipt);
        if (frame->body_case == FUSION__FRAME__BODY_CONSISTENCY) {
            fx_audit_checkpoint_t old = {.tree_size = frame->consistency->first_size}, latest;
            char why[512];
            (void) fx_audit_consistency_verify(
                frame->consistency, &old, fx_keys_sign_public(s_broker), &latest, why, sizeof why);
        }
    }
    fx_codec_free(frame);
    /* The input as a checkpoint body signed by the pinned key. */
    if (size <= FX_STORE_CHECKPOINT_BODY_MAX) {
        uint8_t sig[FX_SIGNATURE_BYTES];
        fx_keys_sign(s_broker, FX_DOMAIN_CHECKPOINT, data, size, sig);
        fx_audit_checkpoint_t cp;
        if (fx_audit_checkpoint_verify(data, size, sig, sizeof sig, fx_keys_sign_public(s_broker),
                                       &cp) == FX_OK &&
            strlen(cp.broker) >= FX_ID_MAX)
            abort();
    }
    return 0;
}
