/* RECEIPT_REQUEST: the audit entries of one of the asking principal's agency's messages (DESIGN.md:
 * an agency checks the receipts of its own messages), each with
 * its inclusion proof against a signed checkpoint that covers them all (a fresh one is signed
 * only when the latest does not reach them). CONSISTENCY_REQUEST: a proof that the tree of
 * first_size entries is a prefix of the tree of the latest checkpoint. Both answers wait for the
 * group commit, since the checkpoint they name may have been signed in this group. */
#include <jansson.h>
#include <string.h>

#include "audit_tree.h"
#include "server_internal.h"

#define RECEIPT_MAX_ENTRIES 4096 /* keeps a receipt well under the frame cap */

/* Whose message a msg_id is: the agency (COUNTRY.AGENCY) of the sender of its `accepted` entry,
 * when it has one, so that any principal of that agency (a focal point on the next shift) gets
 * the same receipt. Anyone may put a msg_id they saw into a PUBLISH of their own that is rejected
 * (a bad signature is checked before the msg_id is looked up), so a `rejected` entry proves only
 * that its actor was rejected: the owning agency of an accepted message gets every entry but
 * other agencies' rejections, and the agency of a message never accepted only its own
 * principals' rejections. */
typedef struct {
    char agency[FX_ID_MAX]; /* the asking principal's */
    bool accepted;          /* the msg_id has an accepted entry ... */
    bool accepted_mine;     /* ... whose actor is of the agency */
    bool collecting;        /* the second walk: entries are kept */
    bool owned;             /* an entry was kept */
    bool too_many;          /* more entries than one receipt carries */
    size_t count;
    Fusion__AuditEntry *entries;
} receipt_walk_t;

static int s_find_owner(const fx_store_audit_entry_t *entry, void *arg)
{
    receipt_walk_t *w = arg;
    if (strcmp(entry->event, "accepted") == 0) {
        w->accepted = true;
        w->accepted_mine = fx_principal_of_agency(entry->actor, w->agency);
        return 1;
    }
    return 0;
}

static int s_collect(const fx_store_audit_entry_t *entry, void *arg)
{
    receipt_walk_t *w = arg;
    bool rejection = strcmp(entry->event, "rejected") == 0;
    bool mine = fx_principal_of_agency(entry->actor, w->agency);
    if (w->accepted ? rejection && !mine : !(rejection && mine))
        return 0;
    w->owned = true;
    if (w->count == RECEIPT_MAX_ENTRIES) {
        w->too_many = true;
        return 1;
    }
    Fusion__AuditEntry *e = &w->entries[w->count++];
    server_audit_entry_fill(e, entry);
    return 0;
}

void handle_receipt_request(server_t *self, session_t *session, uint64_t request_id,
                            const Fusion__ReceiptRequest *request)
{
    if (request->msg_id.len != FX_MSG_ID_BYTES) {
        server_error(self, session, request_id, FX_ERR_INVALID, "a msg_id is 16 bytes");
        return;
    }
    receipt_walk_t w = {.entries = fx_calloc(RECEIPT_MAX_ENTRIES, sizeof *w.entries)};
    fx_principal_agency(session->principal, w.agency);
    fx_err_t rc = fx_store_audit_of_message(self->store, request->msg_id.data, s_find_owner, &w);
    if (rc == FX_OK && !(w.accepted && !w.accepted_mine))
        rc = fx_store_audit_of_message(self->store, request->msg_id.data, s_collect, &w);
    if (rc != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        goto cleanup;
    }
    /* The same answer whether the message does not exist or is another agency's. */
    if (!w.owned) {
        server_error(self, session, request_id, FX_ERR_NOT_FOUND,
                     "no receipt: this is not a message your agency sent through this broker");
        goto cleanup;
    }
    if (w.too_many) {
        server_error(self, session, request_id, FX_ERR_LIMIT,
                     "the message has more audit entries than one receipt carries");
        goto cleanup;
    }
    const fx_store_checkpoint_t *checkpoint =
        audit_tree_covering(self, (int64_t) w.entries[w.count - 1].seq);
    if (!checkpoint) {
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        goto cleanup;
    }
    Fusion__InclusionProof *proofs = fx_calloc(w.count, sizeof *proofs);
    Fusion__InclusionProof **proof_ptrs = fx_calloc(w.count, sizeof *proof_ptrs);
    Fusion__AuditEntry **entry_ptrs = fx_calloc(w.count, sizeof *entry_ptrs);
    fx_merkle_hash_t *paths = fx_calloc(w.count * FX_MERKLE_PROOF_MAX, sizeof *paths);
    ProtobufCBinaryData *path_items = fx_calloc(w.count * FX_MERKLE_PROOF_MAX, sizeof *path_items);
    bool ok = true;
    for (size_t i = 0; i < w.count && ok; i++) {
        Fusion__InclusionProof *p = &proofs[i];
        fusion__inclusion_proof__init(p);
        p->leaf_index = w.entries[i].seq - 1;
        p->tree_size = (uint64_t) checkpoint->tree_size;
        size_t len = 0;
        fx_merkle_hash_t *path = paths + i * FX_MERKLE_PROOF_MAX;
        ok = audit_tree_inclusion(self, p->leaf_index, p->tree_size, path, &len) == 0;
        p->path = path_items + i * FX_MERKLE_PROOF_MAX;
        p->n_path = len;
        for (size_t j = 0; j < len; j++)
            p->path[j] = (ProtobufCBinaryData){FX_MERKLE_HASH_BYTES, path[j]};
        proof_ptrs[i] = p;
        entry_ptrs[i] = &w.entries[i];
    }
    if (!ok) {
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
    } else {
        Fusion__Frame frame = FUSION__FRAME__INIT;
        Fusion__Receipt receipt = FUSION__RECEIPT__INIT;
        Fusion__Checkpoint cp;
        audit_checkpoint_message(checkpoint, &cp);
        frame.request_id = request_id;
        frame.body_case = FUSION__FRAME__BODY_RECEIPT;
        frame.receipt = &receipt;
        receipt.msg_id = request->msg_id;
        receipt.checkpoint = &cp;
        receipt.n_entries = w.count;
        receipt.entries = entry_ptrs;
        receipt.n_proofs = w.count;
        receipt.proofs = proof_ptrs;
        server_answer(self, session, &frame);
    }
    free(path_items);
    free(paths);
    free(entry_ptrs);
    free(proof_ptrs);
    free(proofs);
cleanup:
    server_audit_entries_free(w.entries, w.count);
}

void handle_consistency_request(server_t *self, session_t *session, uint64_t request_id,
                                const Fusion__ConsistencyRequest *request)
{
    const fx_store_checkpoint_t *latest = audit_tree_latest(self);
    /* Up to date: a fresh checkpoint when the tree grew since the latest. */
    int64_t size = 0;
    if (fx_store_audit_count(self->store, &size) != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        return;
    }
    if (size > 0)
        latest = audit_tree_covering(self, size);
    if (!latest) {
        server_error(self, session, request_id, FX_ERR_NOT_FOUND,
                     "the broker has signed no checkpoint yet");
        return;
    }
    if (request->first_size > (uint64_t) latest->tree_size) {
        server_error(self, session, request_id, FX_ERR_INVALID,
                     "first_size is beyond the broker's latest checkpoint");
        return;
    }
    fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
    ProtobufCBinaryData items[FX_MERKLE_PROOF_MAX];
    size_t len = 0;
    if (audit_tree_consistency(self, request->first_size, (uint64_t) latest->tree_size, path,
                               &len) != 0) {
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        return;
    }
    for (size_t i = 0; i < len; i++)
        items[i] = (ProtobufCBinaryData){FX_MERKLE_HASH_BYTES, path[i]};
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Consistency consistency = FUSION__CONSISTENCY__INIT;
    Fusion__Checkpoint cp;
    audit_checkpoint_message(latest, &cp);
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_CONSISTENCY;
    frame.consistency = &consistency;
    consistency.first_size = request->first_size;
    consistency.checkpoint = &cp;
    consistency.n_path = len;
    consistency.path = items;
    server_answer(self, session, &frame);
}
