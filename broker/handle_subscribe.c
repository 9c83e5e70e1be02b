/* SUBSCRIBE and UNSUBSCRIBE (route subscriptions, durable, answered after the commit), the list of
 * a principal's own subscriptions (SUBSCRIPTIONS_REQUEST), CREDIT (the delivery window) and
 * RECEIVED (a delivery acknowledged). */
#include <jansson.h>
#include <string.h>

#include "server_internal.h"

static void s_answer_subscribed(server_t *self, session_t *session, uint64_t request_id,
                                const char *pattern, bool active)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Subscribed subscribed = FUSION__SUBSCRIBED__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_SUBSCRIBED;
    frame.subscribed = &subscribed;
    subscribed.pattern = (char *) pattern;
    subscribed.active = active;
    server_answer(self, session, &frame);
}

static subscription_t *s_lookup(server_t *self, int64_t id)
{
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long) id);
    return zhashx_lookup(self->subscriptions, key);
}

/* Parses the pattern and, for a subscription, checks the exercise; answers ERROR and returns
 * NULL when invalid. An exercise's traffic goes only between its participants
 * (exercise_segregation): a subscription of anyone else would never match, and is refused. A
 * principal that is no participant is answered the same whether or not the policy lists the
 * exercise (EXERCISE_AUDIT_REQUEST does the same): the answer does not tell which exercise ids
 * exist. Removing a subscription checks no exercise: a principal may always drop its own, also
 * after a policy took it out of the exercise or dropped the exercise (it answers not_found
 * alike for any exercise it holds nothing in). */
static fx_route_pattern_t *s_pattern(server_t *self, session_t *session, uint64_t request_id,
                                     const char *text, const char *exercise, bool subscribing)
{
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    if (fx_route_pattern_parse(text, &pattern, why) != FX_OK) {
        server_error(self, session, request_id, FX_ERR_INVALID, why);
        return NULL;
    }
    if (!subscribing || !exercise[0] ||
        fx_policy_exercise_participant(self->policy, exercise, session->principal))
        return pattern;
    /* Echoed only as the text it should be: an answer's reason is a protobuf string. No listed
     * exercise has an id that is not. */
    size_t len = strlen(exercise);
    bool printable = len <= 256 && fx_utf8_valid((const uint8_t *) exercise, len);
    for (size_t i = 0; i < len && printable; i++)
        printable = (unsigned char) exercise[i] >= 0x20 && exercise[i] != 0x7f;
    if (!printable) {
        server_error(self, session, request_id, FX_ERR_INVALID,
                     "the policy lists no exercise of that id (not text of at most 256 bytes)");
    } else {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "%s is not a participant of exercise '%s' (the policy lists each exercise's "
                 "participants; its traffic goes only between them)",
                 session->principal, exercise);
        server_error(self, session, request_id, FX_ERR_FORBIDDEN, reason);
    }
    fx_route_pattern_destroy(&pattern);
    return NULL;
}

/* How many route subscriptions a principal holds, and whether one of them is this pattern in
 * this exercise (subscribing to it again replaces its stages and kinds: no new subscription). */
typedef struct {
    const char *pattern, *exercise;
    long long count;
    bool held;
    uint32_t stages, kinds; /* the held one's */
} subscription_count_t;

static int s_count(const fx_store_subscription_t *row, void *arg)
{
    subscription_count_t *c = arg;
    c->count++;
    if (strcmp(row->pattern, c->pattern) == 0 && strcmp(row->exercise, c->exercise) == 0) {
        c->held = true;
        c->stages = row->stages;
        c->kinds = row->kinds;
    }
    return 0;
}

/* A principal holds at most limits.max_subscriptions: each is memory in the route index, a
 * stored row and an audit entry, and nothing else bounds how many one agent makes. *c receives
 * what it holds (whether this pattern, and with which stages and kinds). */
static bool s_within_limit(server_t *self, session_t *session, uint64_t request_id,
                           const char *pattern, const char *exercise, subscription_count_t *c_p)
{
    subscription_count_t c = {pattern, exercise, 0, false, 0, 0};
    bool ok = true;
    if (fx_store_subscription_each(self->store, session->principal, s_count, &c) != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        ok = false;
    } else if (!c.held && c.count >= self->config->max_subscriptions) {
        char reason[256];
        snprintf(reason, sizeof reason,
                 "%s holds %lld route subscriptions, the most this broker keeps for one "
                 "principal (limits: max_subscriptions): unsubscribe from one first",
                 session->principal, c.count);
        server_error(self, session, request_id, FX_ERR_LIMIT, reason);
        ok = false;
    }
    *c_p = c;
    return ok;
}

void handle_subscribe(server_t *self, session_t *session, uint64_t request_id,
                      const Fusion__Subscribe *subscribe)
{
    fx_route_pattern_t *pattern =
        s_pattern(self, session, request_id, subscribe->pattern, subscribe->exercise, true);
    if (!pattern)
        return;
    uint32_t stages = 0, kinds = 0;
    for (size_t i = 0; i < subscribe->n_stages; i++)
        stages |= 1u << subscribe->stages[i];
    for (size_t i = 0; i < subscribe->n_kinds; i++)
        kinds |= 1u << subscribe->kinds[i];
    if ((stages | kinds) & 1u) {
        server_error(self, session, request_id, FX_ERR_INVALID, "a stage or kind is unspecified");
        fx_route_pattern_destroy(&pattern);
        return;
    }
    const char *text = fx_route_pattern_text(pattern);
    subscription_count_t held;
    if (!s_within_limit(self, session, request_id, text, subscribe->exercise, &held)) {
        fx_route_pattern_destroy(&pattern);
        return;
    }
    if (held.held && held.stages == stages && held.kinds == kinds) {
        /* Held already, as asked: nothing changes, so nothing is written, audited or logged
         * (a principal repeating it grew the audit trail by an entry each time). */
        s_answer_subscribed(self, session, request_id, text, true);
        fx_route_pattern_destroy(&pattern);
        return;
    }
    int64_t id = 0;
    if (!server_begin(self) ||
        fx_store_subscription_add(self->store, session->principal, text, stages, kinds,
                                  subscribe->exercise, &id) != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
        fx_route_pattern_destroy(&pattern);
        return;
    }
    server_audit_exercise(self, subscribe->exercise, "subscribed", session->principal, text, NULL,
                          NULL,
                          json_pack("{s:s, s:I, s:I}", "exercise", subscribe->exercise, "stages",
                                    (json_int_t) stages, "kinds", (json_int_t) kinds));
    subscription_t *sub = s_lookup(self, id);
    if (sub) { /* an update of the stages or kinds */
        sub->stages = stages;
        sub->kinds = kinds;
        fx_route_pattern_destroy(&pattern);
    } else {
        sub = fx_calloc(1, sizeof *sub);
        sub->id = id;
        snprintf(sub->principal, sizeof sub->principal, "%s", session->principal);
        sub->pattern = pattern;
        sub->stages = stages;
        sub->kinds = kinds;
        sub->exercise = fx_strdup(subscribe->exercise);
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long) id);
        zhashx_insert(self->subscriptions, key, sub);
        if (fx_route_index_add(self->routes, pattern, (uint64_t) id) != FX_OK)
            server_log(self,
                       "the route index is full; subscription %lld is stored but not "
                       "matched until restart",
                       (long long) id);
    }
    server_log(self, "%s subscribed to %s", session->principal,
               fx_route_pattern_text(sub->pattern));
    s_answer_subscribed(self, session, request_id, fx_route_pattern_text(sub->pattern), true);
}

void handle_unsubscribe(server_t *self, session_t *session, uint64_t request_id,
                        const Fusion__Unsubscribe *unsubscribe)
{
    fx_route_pattern_t *pattern =
        s_pattern(self, session, request_id, unsubscribe->pattern, unsubscribe->exercise, false);
    if (!pattern)
        return;
    int64_t id = 0;
    fx_err_t rc = server_begin(self) ? fx_store_subscription_remove(self->store, session->principal,
                                                                    fx_route_pattern_text(pattern),
                                                                    unsubscribe->exercise, &id)
                                     : FX_ERR_STORAGE;
    if (rc == FX_ERR_NOT_FOUND) {
        server_error(self, session, request_id, rc, "no such subscription");
    } else if (rc != FX_OK) {
        server_storage_failed(self);
        server_error(self, session, request_id, FX_ERR_STORAGE, NULL);
    } else {
        subscription_t *sub = s_lookup(self, id);
        if (sub) {
            fx_route_index_remove(self->routes, sub->pattern, (uint64_t) id);
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long) id);
            zhashx_delete(self->subscriptions, key);
        }
        server_audit_exercise(self, unsubscribe->exercise, "unsubscribed", session->principal,
                              fx_route_pattern_text(pattern), NULL, NULL,
                              json_pack("{s:s}", "exercise", unsubscribe->exercise));
        s_answer_subscribed(self, session, request_id, fx_route_pattern_text(pattern), false);
    }
    fx_route_pattern_destroy(&pattern);
}

/* The widest window an agent may open: DELIVERs in flight are held in the transport's
 * queues, and each may be megabytes. */
#define WINDOW_MAX 256

void handle_credit(server_t *self, session_t *session, const Fusion__Credit *credit)
{
    session->window = credit->messages < WINDOW_MAX ? credit->messages : WINDOW_MAX;
    server_note_room(self, session);
}

void handle_received(server_t *self, session_t *session, uint64_t request_id,
                     const Fusion__Received *received)
{
    if (received->msg_id.len != FX_MSG_ID_BYTES) {
        char what[96];
        snprintf(what, sizeof what, "whose msg_id is %zu bytes, not %d: refused with %s",
                 received->msg_id.len, FX_MSG_ID_BYTES, fx_err_code(FX_ERR_MALFORMED));
        server_received_unmatched(self, session, what);
        server_error(self, session, request_id, FX_ERR_MALFORMED,
                     "RECEIVED needs a 16-byte msg_id");
        return;
    }
    bool changed = false;
    if (!server_begin(self))
        return;
    /* with the message's header digest, as every entry that names a message (DESIGN.md) */
    uint8_t digest[FX_STORE_DIGEST_BYTES];
    fx_store_audit_entry_t entry = {
        .event = "received", .actor = session->principal, .msg_id = received->msg_id.data};
    /* A DELIVER of this session names its delivery row; any other RECEIVED (one from before a
     * reconnection, or a repeated one) finds it through the msg_id. */
    char key[2 * FX_MSG_ID_BYTES + 1];
    fx_hex(received->msg_id.data, FX_MSG_ID_BYTES, key);
    in_flight_t *flight = zhashx_lookup(session->in_flight, key);
    fx_err_t rc = FX_ERR_NOT_FOUND;
    if (flight) {
        entry.header_digest = flight->header_digest;
        rc = fx_store_delivery_received_seq(self->store, flight->seq, session->principal,
                                            server_audited(&entry));
        changed = rc == FX_OK;
    }
    if (rc == FX_ERR_NOT_FOUND) {
        /* Without a DELIVER in flight, only a delivery the broker sent before (in an earlier
         * session or before a restart: attempts counts the DELIVERs, and a reconnection makes
         * the delivery pending again) or one received already is acknowledged. A pending
         * delivery never sent (outside the credit window, or to no session yet) is not marked
         * received and audited so: the message would never be delivered. Should a DELIVER have
         * gone out just before a crash lost its record, the refusal costs one redelivery, which
         * the agent acknowledges again. */
        fx_delivery_state_t state;
        int attempts = 0;
        rc = fx_store_delivery_state(self->store, received->msg_id.data, session->principal, &state,
                                     &attempts, digest);
        entry.header_digest = digest;
        if (rc == FX_OK && state == FX_DELIVERY_PENDING && attempts == 0)
            rc = FX_ERR_NOT_FOUND;
        else if (rc == FX_OK)
            rc = fx_store_delivery_received(self->store, received->msg_id.data, session->principal,
                                            server_audited(&entry), &changed);
    }
    if (rc == FX_ERR_NOT_FOUND) {
        /* Pruned, never for this principal, or not sent to it yet: nothing to do, but said (an
         * agent acknowledges only what it was delivered). A repeated RECEIVED of a delivery
         * received already is not: a retried DELIVER crossing the first RECEIVED makes one. */
        char what[200];
        snprintf(what, sizeof what,
                 "for msg_id %s, which names no delivery to it (no such message, one pruned, "
                 "another principal's, or one the broker has not sent it yet): ignored",
                 key);
        server_received_unmatched(self, session, what);
        return;
    }
    if (rc != FX_OK) {
        server_storage_failed(self);
        return;
    }
    if (changed) {
        self->metrics.received++;
        referral_received(self, session->principal, received->msg_id.data, entry.header_digest);
    }
    if (flight) {
        session->in_flight_bytes -= flight->bytes;
        zhashx_delete(session->in_flight, key);
    }
    server_note_room(self, session);
}

/* ---- SUBSCRIPTIONS_REQUEST: the principal's own subscriptions, oldest first ------------------ */

typedef struct {
    Fusion__Subscribe **items;
    size_t n, cap;
} subscription_list_t;

static int s_collect(const fx_store_subscription_t *row, void *arg)
{
    subscription_list_t *list = arg;
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 16;
        list->items = fx_realloc(list->items, list->cap * sizeof *list->items);
    }
    Fusion__Subscribe *sub = fx_calloc(1, sizeof *sub);
    fusion__subscribe__init(sub);
    sub->pattern = fx_strdup(row->pattern);
    sub->exercise = fx_strdup(row->exercise);
    sub->stages = fx_calloc(32, sizeof *sub->stages);
    sub->kinds = fx_calloc(32, sizeof *sub->kinds);
    for (int v = 1; v < 32; v++) {
        if (row->stages & (1u << v))
            sub->stages[sub->n_stages++] = (Fusion__Stage) v;
        if (row->kinds & (1u << v))
            sub->kinds[sub->n_kinds++] = (Fusion__Kind) v;
    }
    list->items[list->n++] = sub;
    return 0;
}

void handle_subscriptions(server_t *self, session_t *session, uint64_t request_id)
{
    subscription_list_t list = {NULL, 0, 0};
    if (fx_store_subscription_each(self->store, session->principal, s_collect, &list) != FX_OK) {
        server_error(self, session, request_id, FX_ERR_STORAGE, "cannot read the subscriptions");
    } else {
        Fusion__Frame frame = FUSION__FRAME__INIT;
        Fusion__Subscriptions subscriptions = FUSION__SUBSCRIPTIONS__INIT;
        frame.request_id = request_id;
        frame.body_case = FUSION__FRAME__BODY_SUBSCRIPTIONS;
        frame.subscriptions = &subscriptions;
        subscriptions.n_subscriptions = list.n;
        subscriptions.subscriptions = list.items;
        server_answer(self, session, &frame);
    }
    for (size_t i = 0; i < list.n; i++) {
        free(list.items[i]->pattern);
        free(list.items[i]->exercise);
        free(list.items[i]->stages);
        free(list.items[i]->kinds);
        free(list.items[i]);
    }
    free(list.items);
}
