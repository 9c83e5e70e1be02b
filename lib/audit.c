/* Signed checkpoints of the audit tree: building and signing the CheckpointBody, and verifying a
 * received one against the pinned broker key before anything in it is believed. */
#include "fusion/audit.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
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

/* Formats why and returns err. */
static fx_err_t s_why(fx_err_t err, char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static fx_err_t s_why(fx_err_t err, char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return err;
}

/* Verifies the checkpoint of a receipt or consistency answer. */
static fx_err_t s_checkpoint(const Fusion__Checkpoint *cp, const uint8_t broker_key[FX_KEY_BYTES],
                             fx_audit_checkpoint_t *out, char *why, size_t size)
{
    if (!cp)
        return s_why(FX_ERR_MALFORMED, why, size, "it carries no signed checkpoint");
    fx_err_t rc = fx_audit_checkpoint_verify(cp->body.data, cp->body.len, cp->signature.data,
                                             cp->signature.len, broker_key, out);
    if (rc == FX_ERR_BAD_SIGNATURE)
        return s_why(rc, why, size,
                     "the checkpoint's signature does not verify with the broker's pinned key "
                     "(altered, or signed by another key)");
    if (rc == FX_ERR_UNTRUSTED)
        return s_why(rc, why, size, "the checkpoint names another broker key than the pinned one");
    if (rc != FX_OK)
        return s_why(rc, why, size, "the checkpoint's body does not decode (%s)", fx_strerror(rc));
    return FX_OK;
}

/* A growing text. */
typedef struct {
    char *data;
    size_t len, size;
} text_t;

static void s_add(text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->size) {
        t->size = (t->len + n + 1) * 2;
        t->data = fx_realloc(t->data, t->size);
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void s_adds(text_t *t, const char *s)
{
    s_add(t, s, strlen(s));
}

/* The two-character escape of c in a JSON string as jansson writes it, or NULL. */
static const char *s_short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        return NULL;
    }
}

/* s as a JSON string, escaped as jansson escapes it: quotes, backslashes and control
 * characters. */
static void s_add_quoted(text_t *t, const char *s)
{
    s_add(t, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char) *s;
        if (c != '\0' && c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_add(t, run, (size_t) (s - run));
        if (c == '\0')
            break;
        char escape[8];
        const char *known = s_short_escape(c);
        if (!known)
            snprintf(escape, sizeof escape, "\\u%04X", c);
        s_adds(t, known ? known : escape);
        run = s + 1;
    }
    s_add(t, "\"", 1);
}

/* The closing part of the accepted entry: kind and the counts. */
static void s_add_counts(text_t *t, const char *kind, size_t n_allowed, size_t sections)
{
    char counts[64];
    s_adds(t, "],\"kind\":");
    s_add_quoted(t, kind);
    snprintf(counts, sizeof counts, ",\"recipients\":%zu,\"sections\":%zu}", n_allowed, sections);
    s_adds(t, counts);
}

/* The details from item texts (allowed's and denied's): as many items in each text as fit in
 * budget bytes (counting each item and its comma; one at least), the first text the accepted
 * entry's with kind and the counts, the others "recipients" entries. */
static char **s_details(const char *kind, size_t sections, const char *const *allowed,
                        size_t n_allowed, const char *const *denied, size_t n_denied, size_t budget)
{
    const char *const *lists[2] = {allowed, denied};
    const size_t counts[2] = {n_allowed, n_denied};
    static const char *const opening[2] = {"{\"allowed\":[", "],\"denied\":["};
    char **texts = fx_calloc(1, sizeof *texts);
    size_t next[2] = {0, 0}, count = 0;
    for (bool first = true; first || next[0] < n_allowed || next[1] < n_denied; first = false) {
        text_t part = {0};
        size_t used = 0;
        bool full = false;
        for (int l = 0; l < 2; l++) {
            s_adds(&part, opening[l]);
            for (size_t n = 0; !full && next[l] < counts[l]; n++) {
                const char *item = lists[l][next[l]];
                size_t size = strlen(item) + 1;
                full = used > 0 && used + size > budget;
                if (!full) {
                    if (n)
                        s_add(&part, ",", 1);
                    s_adds(&part, item);
                    used += size;
                    next[l]++;
                }
            }
        }
        if (first)
            s_add_counts(&part, kind, n_allowed, sections);
        else
            s_adds(&part, "]}");
        texts = fx_realloc(texts, (count + 2) * sizeof *texts);
        texts[count++] = part.data;
        texts[count] = NULL;
    }
    return texts;
}

char **fx_audit_accepted_details(const char *kind, size_t sections,
                                 const fx_audit_allowance_t *allowed, size_t n_allowed,
                                 const char *const *denied, size_t n_denied, size_t budget)
{
    /* One item per recipient, written one after the other into one buffer (NUL-separated). */
    text_t items = {0};
    size_t *starts = fx_calloc(n_allowed + 1, sizeof *starts), n_items = 0;
    for (size_t i = 0; i < n_allowed; i++) {
        const fx_audit_allowance_t *a = &allowed[i];
        bool opens = i == 0 || strcmp(a->recipient, allowed[i - 1].recipient) != 0;
        if (opens) {
            if (i > 0)
                s_add(&items, "]}", 3); /* with the NUL that ends the previous item */
            starts[n_items++] = items.len;
            s_adds(&items, "{\"recipient\":");
            s_add_quoted(&items, a->recipient);
            s_adds(&items, ",\"sections\":[{");
        } else {
            s_adds(&items, ",{");
        }
        if (a->agreement) {
            s_adds(&items, "\"agreement\":");
            s_add_quoted(&items, a->agreement);
            s_add(&items, ",", 1);
        }
        char section[32];
        snprintf(section, sizeof section, ",\"section\":%" PRIu32 "}", a->section);
        s_adds(&items, "\"rule\":");
        s_add_quoted(&items, a->rule ? a->rule : "");
        s_adds(&items, section);
    }
    if (n_items > 0)
        s_adds(&items, "]}");
    const char **texts = fx_calloc(n_items + 1, sizeof *texts);
    for (size_t i = 0; i < n_items; i++)
        texts[i] = items.data + starts[i];
    /* Mostly everything fits: one entry. */
    kind = kind ? kind : "";
    char **details = s_details(kind, sections, texts, n_items, denied, n_denied, SIZE_MAX);
    if (strlen(details[0]) > budget) {
        fx_audit_details_free(details);
        details = s_details(kind, sections, texts, n_items, denied, n_denied, budget);
    }
    free(texts);
    free(starts);
    free(items.data);
    return details;
}

void fx_audit_details_free(char **texts)
{
    for (size_t i = 0; texts && texts[i]; i++)
        free(texts[i]);
    free(texts);
}

/* A string field of an entry: present, short, without NUL (protobuf strings are UTF-8). */
static bool s_field_ok(const char *text, size_t max)
{
    return text && strlen(text) < max;
}

fx_err_t fx_audit_receipt_verify(const Fusion__Receipt *receipt, const uint8_t msg_id[16],
                                 const uint8_t broker_key[FX_KEY_BYTES], const char *broker_id,
                                 const char *sender, fx_audit_checkpoint_t *checkpoint,
                                 json_t **entries_p, char *why, size_t why_size)
{
    if (entries_p)
        *entries_p = NULL;
    if (!receipt || receipt->msg_id.len != FX_STORE_MSG_ID_BYTES ||
        memcmp(receipt->msg_id.data, msg_id, FX_STORE_MSG_ID_BYTES) != 0)
        return s_why(FX_ERR_INVALID, why, why_size, "the receipt is for another message");
    fx_err_t rc = s_checkpoint(receipt->checkpoint, broker_key, checkpoint, why, why_size);
    if (rc != FX_OK)
        return rc;
    if (broker_id && strcmp(checkpoint->broker, broker_id) != 0)
        return s_why(FX_ERR_UNTRUSTED, why, why_size, "the checkpoint was signed for broker %s",
                     checkpoint->broker);
    if (receipt->n_entries == 0 || receipt->n_proofs != receipt->n_entries)
        return s_why(FX_ERR_MALFORMED, why, why_size, "the receipt has %zu entries and %zu proofs",
                     receipt->n_entries, receipt->n_proofs);
    /* The sender's agency: COUNTRY.AGENCY of a principal id, or the agency given as such. */
    char agency[FX_ID_MAX] = "";
    const char *dot = strchr(sender, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    size_t agency_len = dot ? (size_t) (dot - sender) : strlen(sender);
    if (agency_len < sizeof agency) {
        memcpy(agency, sender, agency_len);
        agency[agency_len] = '\0';
    }
    json_t *entries = json_array();
    uint64_t last_seq = 0;
    bool sender_named = false, accepted = false;
    json_int_t recipients = -1, allowed = 0;
    rc = FX_OK;
    for (size_t i = 0; i < receipt->n_entries && rc == FX_OK; i++) {
        const Fusion__AuditEntry *e = receipt->entries[i];
        const Fusion__InclusionProof *p = receipt->proofs[i];
        unsigned long long seq = (unsigned long long) e->seq;
        json_error_t error;
        json_t *details = NULL;
        if (e->seq <= last_seq || e->seq > INT64_MAX || e->time_ms > INT64_MAX ||
            !s_field_ok(e->event, FX_STORE_EVENT_MAX) || !e->event[0] ||
            !s_field_ok(e->actor, 1024) || !s_field_ok(e->subject, 1024) ||
            !s_field_ok(e->details, FX_STORE_DETAILS_MAX) ||
            (e->header_digest.len != 0 && e->header_digest.len != FX_STORE_DIGEST_BYTES) ||
            !(details = json_loads(e->details, JSON_REJECT_DUPLICATES, &error)) ||
            !json_is_object(details)) {
            json_decref(details);
            rc = s_why(FX_ERR_MALFORMED, why, why_size,
                       "entry %llu is not a well-formed audit entry in order", seq);
            break;
        }
        if (e->msg_id.len != FX_STORE_MSG_ID_BYTES ||
            memcmp(e->msg_id.data, msg_id, FX_STORE_MSG_ID_BYTES) != 0) {
            json_decref(details);
            rc = s_why(FX_ERR_INVALID, why, why_size, "entry %llu is about another message", seq);
            break;
        }
        fx_store_audit_entry_t entry = {
            .seq = (int64_t) e->seq,
            .time_ms = (int64_t) e->time_ms,
            .event = e->event,
            .actor = e->actor,
            .subject = e->subject,
            .msg_id = e->msg_id.data,
            .header_digest = e->header_digest.len ? e->header_digest.data : NULL,
            .details = e->details,
        };
        uint8_t leaf[FX_MERKLE_HASH_BYTES];
        fx_store_audit_leaf_hash(&entry, leaf);
        fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
        bool path_ok = p && p->n_path <= FX_MERKLE_PROOF_MAX;
        for (size_t j = 0; path_ok && j < p->n_path; j++) {
            path_ok = p->path[j].len == FX_MERKLE_HASH_BYTES;
            if (path_ok)
                memcpy(path[j], p->path[j].data, FX_MERKLE_HASH_BYTES);
        }
        if (!path_ok || p->leaf_index != e->seq - 1 || p->tree_size != checkpoint->tree_size ||
            !fx_merkle_inclusion_verify(leaf, p->leaf_index, p->tree_size, path, p->n_path,
                                        checkpoint->root_hash)) {
            json_decref(details);
            rc = s_why(FX_ERR_BAD_HASH, why, why_size,
                       "entry %llu (%s) is not in the broker's signed tree: its inclusion proof "
                       "does not lead to the checkpoint's root (the entry or its proof was "
                       "altered)",
                       seq, e->event);
            break;
        }
        if ((strcmp(e->event, "accepted") == 0 || strcmp(e->event, "rejected") == 0) &&
            fx_principal_of_agency(e->actor, agency))
            sender_named = true;
        if (strcmp(e->event, "accepted") == 0) {
            accepted = true;
            json_t *n = json_object_get(details, "recipients");
            recipients = json_is_integer(n) ? json_integer_value(n) : -1;
        }
        if (strcmp(e->event, "accepted") == 0 || strcmp(e->event, "recipients") == 0)
            allowed += (json_int_t) json_array_size(json_object_get(details, "allowed"));
        json_array_append_new(
            entries, json_pack("{s:I, s:I, s:s, s:s, s:s, s:o}", "seq", (json_int_t) e->seq,
                               "time_ms", (json_int_t) e->time_ms, "event", e->event, "actor",
                               e->actor, "subject", e->subject, "details", details));
        last_seq = e->seq;
    }
    if (rc == FX_OK && !sender_named)
        rc = s_why(FX_ERR_INVALID, why, why_size,
                   "the receipt does not show the message accepted or rejected from a principal "
                   "of %s",
                   agency);
    if (rc == FX_OK && accepted && recipients != allowed)
        rc = s_why(FX_ERR_INVALID, why, why_size,
                   "the broker accepted the message for %lld recipients but the receipt lists "
                   "%lld allowed (entries left out)",
                   (long long) recipients, (long long) allowed);
    if (rc == FX_OK && entries_p)
        *entries_p = entries;
    else
        json_decref(entries);
    return rc;
}

fx_err_t fx_audit_consistency_verify(const Fusion__Consistency *consistency,
                                     const fx_audit_checkpoint_t *old,
                                     const uint8_t broker_key[FX_KEY_BYTES],
                                     fx_audit_checkpoint_t *latest, char *why, size_t why_size)
{
    fx_err_t rc = s_checkpoint(consistency->checkpoint, broker_key, latest, why, why_size);
    if (rc != FX_OK)
        return rc;
    if (consistency->first_size != old->tree_size)
        return s_why(FX_ERR_INVALID, why, why_size,
                     "the proof starts at tree size %llu, not at the kept %llu",
                     (unsigned long long) consistency->first_size,
                     (unsigned long long) old->tree_size);
    if (latest->tree_size < old->tree_size || latest->time_ms < old->time_ms)
        return s_why(FX_ERR_BAD_HASH, why, why_size,
                     "the broker's latest checkpoint (tree size %llu) is smaller or older than "
                     "the one it signed before (tree size %llu): it was rolled back",
                     (unsigned long long) latest->tree_size, (unsigned long long) old->tree_size);
    fx_merkle_hash_t path[FX_MERKLE_PROOF_MAX];
    if (consistency->n_path > FX_MERKLE_PROOF_MAX)
        return s_why(FX_ERR_MALFORMED, why, why_size, "the proof is too long");
    for (size_t i = 0; i < consistency->n_path; i++) {
        if (consistency->path[i].len != FX_MERKLE_HASH_BYTES)
            return s_why(FX_ERR_MALFORMED, why, why_size, "a proof hash is not 32 bytes");
        memcpy(path[i], consistency->path[i].data, FX_MERKLE_HASH_BYTES);
    }
    if (!fx_merkle_consistency_verify(old->tree_size, latest->tree_size, old->root_hash,
                                      latest->root_hash, path, consistency->n_path))
        return s_why(FX_ERR_BAD_HASH, why, why_size,
                     "the broker's tree of %llu entries is NOT an extension of the tree of %llu "
                     "entries it signed before: its history was rewritten",
                     (unsigned long long) latest->tree_size, (unsigned long long) old->tree_size);
    return FX_OK;
}
