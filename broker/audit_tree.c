/* The audit trail's Merkle tree in the broker: built from the stored leaf hashes at start (and
 * checked against the latest signed checkpoint, so a trail edited while the broker was down is
 * never signed over), kept up to date from the store before each checkpoint, and signed at the
 * configured interval and on shutdown. Checkpoints go into the group transaction and out to the
 * connected auditors after the commit. Complete nodes from level KEPT_LEVEL up stay in memory;
 * a lower one is recomputed from its stored leaf hashes (fewer than 2^KEPT_LEVEL) when a proof
 * needs it.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "audit_tree.h"
#include "fusion/audit.h"
#include "fusion/cert.h"
#include "fusion/vocab.h"
#include "server_internal.h"

/* Level 8: the kept nodes cost about a quarter of a byte per entry (0.75 MB for 3,000,000
 * entries, 3 MB at level 6), and a proof recomputes at most 255 leaf hashes from the store. */
#define KEPT_LEVEL     8
#define CATCH_UP_CHUNK 1024

struct audit_tree {
    fx_merkle_tree_t *tree;
    bool have_latest;
    fx_store_checkpoint_t latest;
    int64_t next_due;
};

/* Appends the stored leaves after the tree's size, up to size limit. 0, or -1 (store failed). */
static int s_catch_up(server_t *self, int64_t limit)
{
    audit_tree_t *a = self->audit;
    uint8_t(*leaves)[FX_STORE_LEAF_HASH_BYTES] = fx_calloc(CATCH_UP_CHUNK, sizeof *leaves);
    int rc = 0;
    for (;;) {
        int64_t size = (int64_t) fx_merkle_tree_size(a->tree);
        if (size >= limit)
            break;
        size_t want = limit - size < CATCH_UP_CHUNK ? (size_t) (limit - size) : CATCH_UP_CHUNK;
        size_t got = 0;
        if (fx_store_audit_leaves(self->store, size + 1, want, leaves, &got) != FX_OK) {
            server_storage_failed(self);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < got; i++)
            fx_merkle_tree_append(a->tree, leaves[i]);
        if (got < want)
            break;
    }
    free(leaves);
    return rc;
}

int audit_tree_start(server_t *self)
{
    audit_tree_t *a = fx_calloc(1, sizeof *a);
    self->audit = a;
    a->tree = fx_merkle_tree_new(KEPT_LEVEL);
    a->next_due = fx_now_ms() + self->config->checkpoint_interval;
    fx_err_t rc = fx_store_checkpoint_latest(self->store, &a->latest);
    if (rc != FX_OK && rc != FX_ERR_NOT_FOUND) {
        server_log(self, "cannot read the audit checkpoints: %s", fx_store_error_text(self->store));
        return -1;
    }
    a->have_latest = rc == FX_OK;
    int64_t signed_size = a->have_latest ? a->latest.tree_size : 0;
    if (s_catch_up(self, signed_size) != 0) {
        server_log(self, "cannot read the audit trail: %s", fx_store_error_text(self->store));
        return -1;
    }
    if (a->have_latest) {
        uint8_t root[FX_MERKLE_HASH_BYTES];
        fx_merkle_tree_root(a->tree, root);
        if ((int64_t) fx_merkle_tree_size(a->tree) != signed_size ||
            memcmp(root, a->latest.root_hash, sizeof root) != 0) {
            server_log(self,
                       "the audit trail does not match its latest signed checkpoint (tree size "
                       "%lld): it was altered while the broker was down; refusing to sign over "
                       "it. Run 'fusion-admin audit verify %s' to find the first entry that "
                       "does not hold",
                       (long long) signed_size, self->config->database);
            return -1;
        }
    }
    if (s_catch_up(self, INT64_MAX) != 0) {
        server_log(self, "cannot read the audit trail: %s", fx_store_error_text(self->store));
        return -1;
    }
    server_log(self, "audit trail: %llu entries, latest checkpoint at %lld",
               (unsigned long long) fx_merkle_tree_size(a->tree), (long long) signed_size);
    return 0;
}

void audit_tree_destroy(server_t *self)
{
    if (!self->audit)
        return;
    fx_merkle_tree_destroy(&self->audit->tree);
    free(self->audit);
    self->audit = NULL;
}

/* Queues a checkpoint to a session (it goes out after the commit). */
static void s_send_checkpoint(server_t *self, session_t *session,
                              const fx_store_checkpoint_t *checkpoint)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Checkpoint body = FUSION__CHECKPOINT__INIT;
    frame.body_case = FUSION__FRAME__BODY_CHECKPOINT;
    frame.checkpoint = &body;
    audit_checkpoint_message(checkpoint, &body);
    server_answer(self, session, &frame);
}

void audit_checkpoint_message(const fx_store_checkpoint_t *checkpoint, Fusion__Checkpoint *out)
{
    fusion__checkpoint__init(out);
    out->body = (ProtobufCBinaryData){checkpoint->body_len, (uint8_t *) checkpoint->body};
    out->signature = (ProtobufCBinaryData){FX_SIGNATURE_BYTES, (uint8_t *) checkpoint->signature};
}

static bool s_is_auditor(server_t *self, const char *principal)
{
    const fx_cert_t *cert = fx_directory_find(self->directory, principal);
    return cert && fx_cert_has_role(cert, FX_ROLE_AUDITOR);
}

void audit_tree_checkpoint(server_t *self, bool force)
{
    audit_tree_t *a = self->audit;
    int64_t now = fx_now_ms();
    if (!a || self->failed || (!force && now < a->next_due))
        return;
    a->next_due = now + self->config->checkpoint_interval;
    if (!server_begin(self) || s_catch_up(self, INT64_MAX) != 0)
        return;
    uint64_t size = fx_merkle_tree_size(a->tree);
    if (size == 0 || (a->have_latest && (int64_t) size == a->latest.tree_size))
        return; /* the tree did not grow: the latest checkpoint still holds */
    uint8_t root[FX_MERKLE_HASH_BYTES];
    fx_merkle_tree_root(a->tree, root);
    /* Times never go back, even if the clock does. */
    int64_t time_ms = a->have_latest && a->latest.time_ms > now ? a->latest.time_ms : now;
    fx_store_checkpoint_t checkpoint;
    fx_audit_checkpoint_sign(self->keys, size, root, time_ms, &checkpoint);
    if (fx_store_checkpoint_put(self->store, &checkpoint) != FX_OK) {
        server_storage_failed(self);
        return;
    }
    a->latest = checkpoint;
    a->have_latest = true;
    for (session_t *s = zhashx_first(self->session_of); s; s = zhashx_next(self->session_of))
        if (s_is_auditor(self, s->principal))
            s_send_checkpoint(self, s, &checkpoint);
}

void audit_tree_session_opened(server_t *self, session_t *session)
{
    audit_tree_t *a = self->audit;
    if (a && a->have_latest && s_is_auditor(self, session->principal))
        s_send_checkpoint(self, session, &a->latest);
}

const fx_store_checkpoint_t *audit_tree_covering(server_t *self, int64_t seq)
{
    audit_tree_t *a = self->audit;
    if (!a || self->failed)
        return NULL;
    if (!a->have_latest || a->latest.tree_size < seq)
        audit_tree_checkpoint(self, true);
    if (self->failed || !a->have_latest || a->latest.tree_size < seq)
        return NULL;
    return &a->latest;
}

const fx_store_checkpoint_t *audit_tree_latest(server_t *self)
{
    audit_tree_t *a = self->audit;
    return a && a->have_latest ? &a->latest : NULL;
}

/* A node of the tree: kept in memory from KEPT_LEVEL up, recomputed from the stored leaf
 * hashes below. */
static int s_node(void *arg, unsigned level, uint64_t index, uint8_t out[FX_MERKLE_HASH_BYTES])
{
    server_t *self = arg;
    if (level >= KEPT_LEVEL)
        return fx_merkle_tree_node(self->audit->tree, level, index, out);
    size_t count = (size_t) 1 << level, got = 0;
    uint8_t leaves[1 << KEPT_LEVEL][FX_STORE_LEAF_HASH_BYTES];
    if (fx_store_audit_leaves(self->store, (int64_t) (index << level) + 1, count, leaves, &got) !=
            FX_OK ||
        got != count) {
        if (fx_store_failed(self->store))
            server_storage_failed(self);
        return -1;
    }
    fx_merkle_tree_t *sub = fx_merkle_tree_new(FX_MERKLE_NO_NODES);
    for (size_t i = 0; i < count; i++)
        fx_merkle_tree_append(sub, leaves[i]);
    fx_merkle_tree_root(sub, out);
    fx_merkle_tree_destroy(&sub);
    return 0;
}

int audit_tree_inclusion(server_t *self, uint64_t index, uint64_t size, fx_merkle_hash_t *path,
                         size_t *len_p)
{
    if (!self->audit || size > fx_merkle_tree_size(self->audit->tree))
        return -1;
    return fx_merkle_inclusion_proof(index, size, s_node, self, path, len_p);
}

int audit_tree_consistency(server_t *self, uint64_t old_size, uint64_t new_size,
                           fx_merkle_hash_t *path, size_t *len_p)
{
    if (!self->audit || new_size > fx_merkle_tree_size(self->audit->tree))
        return -1;
    return fx_merkle_consistency_proof(old_size, new_size, s_node, self, path, len_p);
}
