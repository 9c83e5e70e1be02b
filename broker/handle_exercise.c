/* EXERCISE_AUDIT_REQUEST: the audit entries of one exercise's messages and subscriptions, for a
 * trainer of that exercise, so the exercise runner can observe what happens to the trainees it
 * does not play (deliveries, receipts, answers, denials, escalations). Only a principal with the
 * role `trainer` whom the signed policy lists as a participant of the exercise may ask; anyone
 * else is refused (forbidden) and the refusal is audited (a principal's first of each second, then
 * one entry with the count). Entries never hold content, and the
 * store's query takes only the exercise's own (never live traffic, never another exercise's).
 * The answer waits for the group commit: it may name entries written in this group. */
#include <jansson.h>
#include <string.h>

#include "server_internal.h"

#define EXERCISE_AUDIT_MAX_ENTRIES 1024           /* per answer */
#define EXERCISE_AUDIT_MAX_BYTES   (4u << 20)     /* of entry text per answer, under the cap */
#define EXERCISE_AUDIT_ENTRY_BASE  (16 + 32 + 64) /* msg_id, digest and framing, roughly */

typedef struct {
    size_t limit;
    size_t count;
    size_t bytes;
    bool more; /* entries were left for the next answer */
    uint64_t last_seq;
    Fusion__AuditEntry *entries;
} exercise_walk_t;

static int s_collect(const fx_store_audit_entry_t *entry, void *arg)
{
    exercise_walk_t *w = arg;
    size_t size = EXERCISE_AUDIT_ENTRY_BASE + strlen(entry->event) + strlen(entry->actor) +
                  strlen(entry->subject) + strlen(entry->details);
    /* One entry always goes, so that a poll moves on even past the largest entry. */
    if (w->count == w->limit || (w->count > 0 && w->bytes + size > EXERCISE_AUDIT_MAX_BYTES)) {
        w->more = true;
        return 1;
    }
    Fusion__AuditEntry *e = &w->entries[w->count++];
    server_audit_entry_fill(e, entry);
    w->bytes += size;
    w->last_seq = e->seq;
    return 0;
}

/* True when the principal of the session may read the exercise's audit trail. */
static bool s_trainer_of(server_t *self, const session_t *session, const char *exercise)
{
    const fx_cert_t *cert = fx_directory_find(self->directory, session->principal);
    return cert && (fx_cert_roles(cert) & 1u << FX_ROLE_TRAINER) &&
           fx_policy_exercise_participant(self->policy, exercise, session->principal) == 1;
}

void handle_exercise_audit(server_t *self, session_t *session, uint64_t request_id,
                           const Fusion__ExerciseAuditRequest *request)
{
    const char *exercise = request->exercise ? request->exercise : "";
    size_t len = strlen(exercise);
    if (len == 0 || len >= FX_STORE_EXERCISE_MAX || request->after_seq > (uint64_t) INT64_MAX) {
        server_error(self, session, request_id, FX_ERR_INVALID,
                     "an exercise audit request names an exercise id (1 to 256 bytes)");
        return;
    }
    if (!s_trainer_of(self, session, exercise)) {
        /* The same answer whether or not the policy lists the exercise. Audited and logged,
         * a principal's first of each second, then a count (server_exercise_audit_refused). */
        server_exercise_audit_refused(self, session, exercise);
        server_error(self, session, request_id, FX_ERR_FORBIDDEN,
                     "only a trainer whom the sharing policy lists as a participant of the "
                     "exercise may read its audit trail");
        return;
    }
    exercise_walk_t w = {.limit = request->limit && request->limit < EXERCISE_AUDIT_MAX_ENTRIES
                                      ? request->limit
                                      : EXERCISE_AUDIT_MAX_ENTRIES,
                         .last_seq = request->after_seq};
    w.entries = fx_calloc(w.limit, sizeof *w.entries);
    /* One more than the answer holds, to tell whether more are waiting. */
    fx_err_t rc = fx_store_audit_of_exercise(self->store, exercise, (int64_t) request->after_seq,
                                             w.limit + 1, s_collect, &w);
    if (rc != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        server_audit_entries_free(w.entries, w.count);
        return;
    }
    Fusion__AuditEntry **ptrs = fx_calloc(w.count ? w.count : 1, sizeof *ptrs);
    for (size_t i = 0; i < w.count; i++)
        ptrs[i] = &w.entries[i];
    Fusion__ExerciseAudit answer = FUSION__EXERCISE_AUDIT__INIT;
    answer.exercise = (char *) exercise;
    answer.n_entries = w.count;
    answer.entries = ptrs;
    answer.next_seq = w.last_seq;
    answer.more = w.more;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_EXERCISE_AUDIT;
    frame.exercise_audit = &answer;
    server_answer(self, session, &frame);
    free(ptrs);
    server_audit_entries_free(w.entries, w.count);
}
