/* Signed checkpoints, receipts and consistency answers (lib/audit.c), checked as an agency and an
 * auditor check them: a genuine receipt verifies; an altered entry, proof, index, checkpoint, a
 * checkpoint signed by another key or for another broker, an entry of another message, entries
 * out of order or left out, and another sender's message do not. */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/audit.h"
#include "fusion/codec.h"
#include "testutil.h"

#define ENTRIES 23 /* the trail: other messages' entries around the four of ours */

typedef struct {
    fx_keys_t *broker, *other;
    uint8_t msg_id[16], other_id[16], digest[32];
    fx_store_audit_entry_t trail[ENTRIES];
    fx_merkle_tree_t *tree;
    fx_store_checkpoint_t checkpoint;
    /* The receipt, built over the arrays below. */
    Fusion__Receipt receipt;
    Fusion__Checkpoint cp;
    Fusion__AuditEntry entries[4], *entry_ptrs[4];
    Fusion__InclusionProof proofs[4], *proof_ptrs[4];
    fx_merkle_hash_t paths[4][FX_MERKLE_PROOF_MAX];
    ProtobufCBinaryData path_items[4][FX_MERKLE_PROOF_MAX];
} fixture_t;

static const size_t s_ours[4] = {5, 6, 11, 17}; /* indices of our message's entries */

static void s_entry(fixture_t *f, size_t i, const char *event, const char *actor,
                    const char *subject, const uint8_t *msg_id, const char *details)
{
    f->trail[i] = (fx_store_audit_entry_t){.seq = (int64_t) i + 1,
                                           .time_ms = 1700000000000 + (int64_t) i,
                                           .event = event,
                                           .actor = actor,
                                           .subject = subject,
                                           .msg_id = msg_id,
                                           .header_digest = msg_id ? f->digest : NULL,
                                           .details = details};
}

/* (Re)builds the receipt of our message from the trail, proofs against the checkpoint. */
static void s_build(fixture_t *f)
{
    fusion__receipt__init(&f->receipt);
    fusion__checkpoint__init(&f->cp);
    f->cp.body = (ProtobufCBinaryData){f->checkpoint.body_len, f->checkpoint.body};
    f->cp.signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, f->checkpoint.signature};
    f->receipt.msg_id = (ProtobufCBinaryData){16, f->msg_id};
    f->receipt.checkpoint = &f->cp;
    for (size_t k = 0; k < 4; k++) {
        const fx_store_audit_entry_t *t = &f->trail[s_ours[k]];
        Fusion__AuditEntry *e = &f->entries[k];
        fusion__audit_entry__init(e);
        e->seq = (uint64_t) t->seq;
        e->time_ms = (uint64_t) t->time_ms;
        e->event = (char *) t->event;
        e->actor = (char *) t->actor;
        e->subject = (char *) t->subject;
        e->msg_id = (ProtobufCBinaryData){16, (uint8_t *) t->msg_id};
        e->header_digest = (ProtobufCBinaryData){32, (uint8_t *) t->header_digest};
        e->details = (char *) t->details;
        Fusion__InclusionProof *p = &f->proofs[k];
        fusion__inclusion_proof__init(p);
        p->leaf_index = (uint64_t) t->seq - 1;
        p->tree_size = ENTRIES;
        size_t len = 0;
        assert_int_equal(fx_merkle_inclusion_proof(p->leaf_index, ENTRIES, fx_merkle_tree_node,
                                                   f->tree, f->paths[k], &len),
                         0);
        for (size_t j = 0; j < len; j++)
            f->path_items[k][j] = (ProtobufCBinaryData){32, f->paths[k][j]};
        p->path = f->path_items[k];
        p->n_path = len;
        f->entry_ptrs[k] = e;
        f->proof_ptrs[k] = p;
    }
    f->receipt.entries = f->entry_ptrs;
    f->receipt.n_entries = 4;
    f->receipt.proofs = f->proof_ptrs;
    f->receipt.n_proofs = 4;
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->broker = fx_keys_new("RSO.FUSION.broker");
    f->other = fx_keys_new("THA.RTP.fp1");
    randombytes_buf(f->msg_id, 16);
    randombytes_buf(f->other_id, 16);
    randombytes_buf(f->digest, 32);
    for (size_t i = 0; i < ENTRIES; i++)
        s_entry(f, i, "received", "IDN.POLRI.fp1", "", f->other_id, "{}");
    s_entry(f, 0, "policy_loaded", "broker", "policy.yaml", NULL, "{\"policy_blake2b\":\"ab\"}");
    /* Two recipients: one in the accepted entry, one in the "recipients" entry continuing it. */
    s_entry(f, 5, "accepted", "THA.RTP.fp1", "", f->msg_id,
            "{\"allowed\":[{\"recipient\":\"MYS.RMP.lo1\",\"sections\":[{\"rule\":"
            "\"route-alerts\",\"section\":1}]}],\"denied\":[],\"kind\":\"case_alert\","
            "\"recipients\":2,\"sections\":2}");
    s_entry(f, 6, "recipients", "THA.RTP.fp1", "", f->msg_id,
            "{\"allowed\":[{\"recipient\":\"IDN.POLRI.fp1\",\"sections\":[{\"rule\":"
            "\"route-alerts\",\"section\":1}]}],\"denied\":[]}");
    s_entry(f, 11, "delivered", "broker", "MYS.RMP.lo1", f->msg_id, "{}");
    s_entry(f, 17, "received", "MYS.RMP.lo1", "", f->msg_id, "{}");
    f->tree = fx_merkle_tree_new(0);
    for (size_t i = 0; i < ENTRIES; i++) {
        uint8_t leaf[32];
        fx_store_audit_leaf_hash(&f->trail[i], leaf);
        fx_merkle_tree_append(f->tree, leaf);
    }
    uint8_t root[32];
    fx_merkle_tree_root(f->tree, root);
    fx_audit_checkpoint_sign(f->broker, ENTRIES, root, 1700000000100, &f->checkpoint);
    s_build(f);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    fx_keys_destroy(&f->broker);
    fx_keys_destroy(&f->other);
    fx_merkle_tree_destroy(&f->tree);
    free(f);
    return 0;
}

static fx_err_t s_verify(fixture_t *f, char *why)
{
    fx_audit_checkpoint_t cp;
    json_t *entries = NULL;
    fx_err_t rc =
        fx_audit_receipt_verify(&f->receipt, f->msg_id, fx_keys_sign_public(f->broker),
                                "RSO.FUSION.broker", "THA.RTP.fp1", &cp, &entries, why, 512);
    if (rc == FX_OK) {
        assert_int_equal(cp.tree_size, ENTRIES);
        assert_string_equal(cp.broker, "RSO.FUSION.broker");
        assert_int_equal(json_array_size(entries), f->receipt.n_entries);
    } else {
        assert_null(entries);
        assert_true(why[0] != '\0');
    }
    json_decref(entries);
    return rc;
}

static void test_genuine(void **state)
{
    fixture_t *f = *state;
    char why[512] = "";
    assert_int_equal(s_verify(f, why), FX_OK);
    /* The checkpoint alone, and the checkpoint through the codec. */
    fx_audit_checkpoint_t cp;
    assert_int_equal(fx_audit_checkpoint_verify(f->checkpoint.body, f->checkpoint.body_len,
                                                f->checkpoint.signature, FX_SIGNATURE_BYTES,
                                                fx_keys_sign_public(f->broker), &cp),
                     FX_OK);
    assert_int_equal(cp.time_ms, 1700000000100);
    /* Through the wire and back: the same receipt. */
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.body_case = FUSION__FRAME__BODY_RECEIPT;
    frame.receipt = &f->receipt;
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_codec_encode(&frame, &bytes, &len);
    Fusion__Frame *decoded = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_FRAME, bytes, len, (void **) &decoded), FX_OK);
    assert_int_equal(fx_audit_receipt_verify(decoded->receipt, f->msg_id,
                                             fx_keys_sign_public(f->broker), "RSO.FUSION.broker",
                                             "THA.RTP.fp1", &cp, NULL, why, sizeof why),
                     FX_OK);
    fx_codec_free(decoded);
    free(bytes);
}

static void test_altered_entries(void **state)
{
    fixture_t *f = *state;
    char why[512];
    /* A field of an entry. */
    f->entries[3].actor = (char *) "MYS.RMP.lo9";
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    assert_non_null(strstr(why, "entry 18 (received)"));
    s_build(f);
    f->entries[1].details = (char *) "{\"allowed\":[{\"recipient\":\"IDN.POLRI.fp9\"}]}";
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    assert_non_null(strstr(why, "entry 7 (recipients)"));
    s_build(f);
    f->entries[2].time_ms++;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    s_build(f);
    /* A proof hash, a proof's index, a proof of another tree size. */
    f->paths[0][1][7] ^= 1;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    assert_non_null(strstr(why, "entry 6 (accepted)"));
    s_build(f);
    f->proofs[2].leaf_index++;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    s_build(f);
    f->proofs[2].tree_size--;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    s_build(f);
    f->proofs[1].n_path--;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    s_build(f);
    f->path_items[1][0].len = 31;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
    s_build(f);
    /* Another message's entry, entries out of order, an entry left out, the receipt of another
     * message or sender. */
    f->entries[2].msg_id.data = f->other_id;
    assert_int_equal(s_verify(f, why), FX_ERR_INVALID);
    s_build(f);
    f->entry_ptrs[1] = &f->entries[2]; /* each with its own proof, out of order */
    f->proof_ptrs[1] = &f->proofs[2];
    f->entry_ptrs[2] = &f->entries[1];
    f->proof_ptrs[2] = &f->proofs[1];
    assert_int_equal(s_verify(f, why), FX_ERR_MALFORMED);
    assert_non_null(strstr(why, "in order"));
    s_build(f);
    f->entry_ptrs[1] = &f->entries[2];
    f->proof_ptrs[1] = &f->proofs[2];
    f->entry_ptrs[2] = &f->entries[3];
    f->proof_ptrs[2] = &f->proofs[3];
    f->receipt.n_entries = f->receipt.n_proofs = 3; /* the recipients entry left out */
    assert_int_equal(s_verify(f, why), FX_ERR_INVALID);
    assert_non_null(strstr(why, "left out"));
    s_build(f);
    f->receipt.n_proofs = 3;
    assert_int_equal(s_verify(f, why), FX_ERR_MALFORMED);
    s_build(f);
    f->receipt.msg_id.data = f->other_id;
    assert_int_equal(s_verify(f, why), FX_ERR_INVALID);
    s_build(f);
    fx_audit_checkpoint_t cp;
    assert_int_equal(fx_audit_receipt_verify(&f->receipt, f->msg_id, fx_keys_sign_public(f->broker),
                                             "RSO.FUSION.broker", "IDN.POLRI.fp1", &cp, NULL, why,
                                             sizeof why),
                     FX_ERR_INVALID);
    /* An agency checks its own messages' receipts (DESIGN.md): a colleague of the sender, or
     * the agency itself, verifies it; another agency of the same country, one whose name only
     * starts alike, does not. */
    const char *askers[] = {"THA.RTP.fp2", "THA.RTP", "THA.DSI.fp1", "THA.RTPX.fp1", "THA.RT"};
    for (size_t i = 0; i < 5; i++) {
        fx_err_t rc =
            fx_audit_receipt_verify(&f->receipt, f->msg_id, fx_keys_sign_public(f->broker),
                                    "RSO.FUSION.broker", askers[i], &cp, NULL, why, sizeof why);
        if (rc != (i < 2 ? FX_OK : FX_ERR_INVALID))
            fail_msg("%s: rc %d (%s)", askers[i], rc, why);
    }
    assert_non_null(strstr(why, "accepted or rejected from a principal of THA.RT"));
    f->entries[0].details = (char *) "[1]";
    assert_int_equal(s_verify(f, why), FX_ERR_MALFORMED);
    s_build(f);
    assert_int_equal(s_verify(f, why), FX_OK);
}

static void test_altered_checkpoint(void **state)
{
    fixture_t *f = *state;
    char why[512];
    f->checkpoint.body[f->checkpoint.body_len - 1] ^= 1;
    s_build(f);
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_SIGNATURE);
    f->checkpoint.body[f->checkpoint.body_len - 1] ^= 1;
    f->checkpoint.signature[0] ^= 1;
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_SIGNATURE);
    f->checkpoint.signature[0] ^= 1;
    f->receipt.checkpoint = NULL;
    assert_int_equal(s_verify(f, why), FX_ERR_MALFORMED);
    /* Signed by another key, with that key in the body: the pinned key refuses it. */
    fx_store_checkpoint_t forged;
    fx_audit_checkpoint_sign(f->other, ENTRIES, f->checkpoint.root_hash, f->checkpoint.time_ms,
                             &forged);
    fx_store_checkpoint_t genuine = f->checkpoint;
    f->checkpoint = forged;
    s_build(f);
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(why, "signature does not verify"));
    /* The right key, but the body naming another broker key: untrusted. */
    fx_audit_checkpoint_t cp;
    assert_int_equal(fx_audit_checkpoint_verify(forged.body, forged.body_len, forged.signature,
                                                FX_SIGNATURE_BYTES, fx_keys_sign_public(f->other),
                                                &cp),
                     FX_OK);
    assert_string_equal(cp.broker, "THA.RTP.fp1");
    f->checkpoint = genuine;
    s_build(f);
    /* Another broker's genuine checkpoint. */
    assert_int_equal(fx_audit_receipt_verify(&f->receipt, f->msg_id, fx_keys_sign_public(f->broker),
                                             "RSO.OTHER.broker", "THA.RTP.fp1", &cp, NULL, why,
                                             sizeof why),
                     FX_ERR_UNTRUSTED);
    /* A root for a tree that does not hold the entries. */
    uint8_t root[32];
    memcpy(root, f->checkpoint.root_hash, 32);
    root[0] ^= 1;
    fx_audit_checkpoint_sign(f->broker, ENTRIES, root, f->checkpoint.time_ms, &f->checkpoint);
    s_build(f);
    assert_int_equal(s_verify(f, why), FX_ERR_BAD_HASH);
}

static void test_consistency(void **state)
{
    fixture_t *f = *state;
    /* The auditor kept the checkpoint of the first 10 entries; the broker's tree has 23. */
    uint8_t old_root[32];
    assert_int_equal(fx_merkle_root(10, fx_merkle_tree_node, f->tree, old_root), 0);
    fx_audit_checkpoint_t old = {.tree_size = 10, .time_ms = 1700000000050};
    memcpy(old.root_hash, old_root, 32);
    fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
    ProtobufCBinaryData items[FX_MERKLE_PROOF_MAX];
    size_t len = 0;
    assert_int_equal(
        fx_merkle_consistency_proof(10, ENTRIES, fx_merkle_tree_node, f->tree, path, &len), 0);
    for (size_t i = 0; i < len; i++)
        items[i] = (ProtobufCBinaryData){32, path[i]};
    Fusion__Consistency c = FUSION__CONSISTENCY__INIT;
    c.first_size = 10;
    c.checkpoint = &f->cp;
    c.path = items;
    c.n_path = len;
    fx_audit_checkpoint_t latest;
    char why[512];
    const uint8_t *key = fx_keys_sign_public(f->broker);
    assert_int_equal(fx_audit_consistency_verify(&c, &old, key, &latest, why, sizeof why), FX_OK);
    assert_int_equal(latest.tree_size, ENTRIES);
    /* A rewritten old tree, a bad proof hash, a wrong first size, a newer kept checkpoint. */
    old.root_hash[5] ^= 1;
    assert_int_equal(fx_audit_consistency_verify(&c, &old, key, &latest, why, sizeof why),
                     FX_ERR_BAD_HASH);
    assert_non_null(strstr(why, "rewritten"));
    old.root_hash[5] ^= 1;
    path[0][0] ^= 1;
    assert_int_equal(fx_audit_consistency_verify(&c, &old, key, &latest, why, sizeof why),
                     FX_ERR_BAD_HASH);
    path[0][0] ^= 1;
    c.first_size = 9;
    assert_int_equal(fx_audit_consistency_verify(&c, &old, key, &latest, why, sizeof why),
                     FX_ERR_INVALID);
    c.first_size = 10;
    old.time_ms = 1800000000000;
    assert_int_equal(fx_audit_consistency_verify(&c, &old, key, &latest, why, sizeof why),
                     FX_ERR_BAD_HASH);
    assert_non_null(strstr(why, "rolled back"));
    old.time_ms = 0;
    assert_int_equal(fx_audit_consistency_verify(&c, &old, fx_keys_sign_public(f->other), &latest,
                                                 why, sizeof why),
                     FX_ERR_BAD_SIGNATURE);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genuine, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_altered_entries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_altered_checkpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_consistency, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
