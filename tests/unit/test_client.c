/* The client against a scripted fake broker (a CURVE ROUTER in a CZMQ actor): request/answer
 * matching, DELIVERs queued while waiting, noise and hostile frames ignored, certificates the
 * broker hands out verified, the CREDIT window, RECEIVED, timeouts and a wrong broker key. */
#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "fusion/codec.h"
#include "fusion/vocab.h"
#include "testutil.h"

#define T2020   1577836800000LL
#define T2100   4102444800000LL
#define TIMEOUT 3000

enum { AUTHORITY, BROKER, ME, SENDER, PEER, ROGUE_AUTHORITY, ROGUE, N_KEYS };
static const char *s_ids[N_KEYS] = {"RSO.FUSION.authority", "RSO.FUSION.broker", "IDN.POLRI.fp1",
                                    "THA.RTP.fp1",          "MYS.RMP.fp1",       "XXX.EVIL.auth",
                                    "MYS.RMP.lo1"};

typedef struct {
    fx_keys_t *keys[N_KEYS];
    uint8_t *cert[N_KEYS]; /* BROKER, ME, SENDER, PEER by the authority; ROGUE by the rogue */
    size_t cert_len[N_KEYS];
    uint8_t *crl;
    size_t crl_len;
    uint8_t *deliver; /* a DELIVER frame for ME from SENDER */
    size_t deliver_len;
    uint8_t deliver_id[FX_MSG_ID_BYTES];
} fixture_t;

static fixture_t s_f;

/* What the fake broker saw, read by the test after a request (the actor writes it first). */
static volatile uint32_t s_window = 0;
static volatile int s_received = 0;
static volatile int s_credits = 0;
static volatile int s_publishes = 0;
static int s_subscription_lists = 0; /* SUBSCRIPTIONS_REQUESTs answered (actor thread only) */
/* How the fake answers a CREDIT: 0 not at all (as the broker), 1 with ERRORs that refuse no
 * principal (one to the CREDIT, one to an unrelated request_id), 2 with ERROR revoked (as the
 * broker does once the principal is revoked and reloaded). Set by the test. */
static volatile int s_credit_answer = 0;

static void s_issue(int who, int by, uint64_t serial, uint32_t roles)
{
    uint8_t *req_bytes = NULL;
    size_t req_len = 0;
    fx_request_t *req = NULL;
    assert_int_equal(fx_request_create(s_f.keys[who], &req_bytes, &req_len), FX_OK);
    assert_int_equal(fx_request_verify(req_bytes, req_len, &req), FX_OK);
    assert_int_equal(fx_cert_issue(s_f.keys[by], req, roles, serial, T2020, T2100, &s_f.cert[who],
                                   &s_f.cert_len[who]),
                     FX_OK);
    fx_request_destroy(&req);
    free(req_bytes);
}

static int s_setup(void **state)
{
    (void) state;
    for (int i = 0; i < N_KEYS; i++)
        s_f.keys[i] = fx_keys_new(s_ids[i]);
    uint32_t fp = 1u << FX_ROLE_FOCAL_POINT;
    s_issue(BROKER, AUTHORITY, 1, 1u << FX_ROLE_AUDITOR);
    s_issue(ME, AUTHORITY, 2, fp);
    s_issue(SENDER, AUTHORITY, 3, fp);
    s_issue(PEER, AUTHORITY, 4, fp);
    s_issue(ROGUE, ROGUE_AUTHORITY, 5, fp);
    fx_revocations_t *crl = fx_revocations_new(NULL);
    assert_int_equal(fx_revocations_add(crl, 4), FX_OK); /* PEER is revoked */
    assert_int_equal(fx_revocations_sign(crl, s_f.keys[AUTHORITY], T2020, &s_f.crl, &s_f.crl_len),
                     FX_OK);
    fx_revocations_destroy(&crl);

    /* A message from SENDER to ME, wrapped in a DELIVER frame. */
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_NOTICE;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    fx_recipient_t to = {s_ids[ME], fx_keys_box_public(s_f.keys[ME])};
    fx_section_draft_t section = {
        1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, (const uint8_t *) "hi", 2, &to, 1};
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(s_f.keys[SENDER], &draft, &section, 1, &env), FX_OK);
    memcpy(s_f.deliver_id, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    Fusion__Certificate *cert = NULL;
    assert_int_equal(fx_codec_decode(FX_MSG_CERTIFICATE, s_f.cert[SENDER], s_f.cert_len[SENDER],
                                     (void **) &cert),
                     FX_OK);
    Fusion__Deliver deliver = FUSION__DELIVER__INIT;
    deliver.envelope = (Fusion__Envelope *) fx_envelope_message(env);
    deliver.sender = cert;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.body_case = FUSION__FRAME__BODY_DELIVER;
    frame.deliver = &deliver;
    fx_codec_encode(&frame, &s_f.deliver, &s_f.deliver_len);
    fx_codec_free(cert);
    fx_envelope_destroy(&env);
    return 0;
}

static int s_teardown(void **state)
{
    (void) state;
    for (int i = 0; i < N_KEYS; i++) {
        fx_keys_destroy(&s_f.keys[i]);
        free(s_f.cert[i]);
    }
    free(s_f.crl);
    free(s_f.deliver);
    return 0;
}

/* ---- The fake broker -------------------------------------------------------------------- */

/* cmocka's asserts must not run in the actor's thread. */
#define ACTOR_CHECK(x)                                                                             \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static void s_reply(zsock_t *router, zframe_t *identity, const Fusion__Frame *frame)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_codec_encode(frame, &data, &len);
    zframe_t *id = zframe_dup(identity);
    zframe_send(&id, router, ZFRAME_MORE);
    zsock_send(router, "b", data, len);
    free(data);
}

static void s_reply_raw(zsock_t *router, zframe_t *identity, const void *data, size_t len)
{
    zframe_t *id = zframe_dup(identity);
    zframe_send(&id, router, ZFRAME_MORE);
    zsock_send(router, "b", data, len);
}

static Fusion__Certificate *s_cert_msg(int who)
{
    Fusion__Certificate *cert = NULL;
    ACTOR_CHECK(fx_codec_decode(FX_MSG_CERTIFICATE, s_f.cert[who], s_f.cert_len[who],
                                (void **) &cert) == FX_OK);
    return cert;
}

static void s_handle(zsock_t *router, zframe_t *identity, const Fusion__Frame *req)
{
    Fusion__Frame answer = FUSION__FRAME__INIT;
    answer.request_id = req->request_id;
    switch (req->body_case) {
    case FUSION__FRAME__BODY_PREPARE: {
        /* Noise first: an answer to someone else, a multi-part message, garbage. */
        Fusion__Frame noise = FUSION__FRAME__INIT;
        Fusion__Explained ex = FUSION__EXPLAINED__INIT;
        noise.request_id = req->request_id + 1000;
        noise.body_case = FUSION__FRAME__BODY_EXPLAINED;
        noise.explained = &ex;
        s_reply(router, identity, &noise);
        zframe_t *id = zframe_dup(identity);
        zframe_send(&id, router, ZFRAME_MORE);
        zsock_send(router, "ss", "two", "parts");
        s_reply_raw(router, identity, "\xff\xff\xff", 3);
        /* Section 1: PEER (revoked), SENDER (valid), ROGUE (another authority's certificate),
         * BROKER (not addressed). Section 2: nobody, one denial. */
        Fusion__Certificate *allowed[4] = {s_cert_msg(PEER), s_cert_msg(SENDER), s_cert_msg(ROGUE),
                                           s_cert_msg(BROKER)};
        Fusion__Denial denial = FUSION__DENIAL__INIT;
        denial.recipient = "AUS.ABF.pros1";
        denial.code = "forbidden";
        denial.rule = "nonpunishment-victim-data";
        denial.reason = "Victims' identities do not go to prosecutors.\x1b[31m";
        Fusion__Denial *denials[1] = {&denial};
        Fusion__SectionRecipients s1 = FUSION__SECTION_RECIPIENTS__INIT, s2 = s1;
        s1.section_id = 1;
        s1.n_allowed = 4;
        s1.allowed = allowed;
        s2.section_id = 2;
        s2.n_denied = 1;
        s2.denied = denials;
        Fusion__SectionRecipients *sections[2] = {&s2, &s1}; /* out of order on purpose */
        Fusion__Prepared prepared = FUSION__PREPARED__INIT;
        prepared.n_sections = 2;
        prepared.sections = sections;
        answer.body_case = FUSION__FRAME__BODY_PREPARED;
        answer.prepared = &prepared;
        s_reply(router, identity, &answer);
        for (int i = 0; i < 4; i++)
            fx_codec_free(allowed[i]);
        return;
    }
    case FUSION__FRAME__BODY_PUBLISH: {
        s_publishes++;
        /* A DELIVER arrives before the answer: the client must keep it for receive. */
        s_reply_raw(router, identity, s_f.deliver, s_f.deliver_len);
        Fusion__Header *h = NULL;
        const Fusion__Envelope *e = req->publish->envelope;
        ACTOR_CHECK(fx_codec_decode(FX_MSG_HEADER, e->header.data, e->header.len, (void **) &h) ==
                    FX_OK);
        if (strcmp(h->case_ref, "reject-me") == 0) {
            Fusion__Rejected r = FUSION__REJECTED__INIT;
            r.msg_id = h->msg_id;
            r.code = "no_permit";
            r.rule = "";
            r.reason = "No rule of the sharing policy permits this.";
            answer.body_case = FUSION__FRAME__BODY_REJECTED;
            answer.rejected = &r;
            s_reply(router, identity, &answer);
        } else if (strcmp(h->case_ref, "wrong-id") == 0) {
            Fusion__Accepted a = FUSION__ACCEPTED__INIT;
            uint8_t other[FX_MSG_ID_BYTES] = {1};
            a.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, other};
            answer.body_case = FUSION__FRAME__BODY_ACCEPTED;
            answer.accepted = &a;
            s_reply(router, identity, &answer);
        } else if (strcmp(h->case_ref, "silent") != 0) {
            Fusion__Accepted a = FUSION__ACCEPTED__INIT;
            a.msg_id = h->msg_id;
            answer.body_case = FUSION__FRAME__BODY_ACCEPTED;
            answer.accepted = &a;
            s_reply(router, identity, &answer);
        }
        fx_codec_free(h);
        return;
    }
    case FUSION__FRAME__BODY_SUBSCRIBE: {
        Fusion__Subscribed sub = FUSION__SUBSCRIBED__INIT;
        sub.pattern = req->subscribe->pattern;
        sub.active = req->subscribe->n_stages == 1 && req->subscribe->stages[0] == 2 &&
                     req->subscribe->n_kinds == 2;
        answer.body_case = FUSION__FRAME__BODY_SUBSCRIBED;
        answer.subscribed = &sub;
        s_reply(router, identity, &answer);
        return;
    }
    case FUSION__FRAME__BODY_UNSUBSCRIBE: {
        Fusion__Error err = FUSION__ERROR__INIT;
        err.code = "not_found";
        err.reason = "no such subscription";
        answer.body_case = FUSION__FRAME__BODY_ERROR;
        answer.error = &err;
        s_reply(router, identity, &answer);
        return;
    }
    case FUSION__FRAME__BODY_SUBSCRIPTIONS_REQUEST: {
        /* A good list first, then hostile ones: a bad pattern, an unspecified stage. */
        Fusion__Stage stages[1] = {s_subscription_lists == 2 ? FUSION__STAGE__STAGE_UNSPECIFIED
                                                             : FUSION__STAGE__STAGE_AT_BORDER};
        Fusion__Kind kinds[1] = {FUSION__KIND__KIND_CASE_ALERT};
        Fusion__Subscribe a = FUSION__SUBSCRIBE__INIT, b = FUSION__SUBSCRIBE__INIT;
        a.pattern = s_subscription_lists == 1 ? "MMR>>MYS" : "mmr>**>mys";
        a.n_stages = 1;
        a.stages = stages;
        a.n_kinds = 1;
        a.kinds = kinds;
        b.pattern = "LKA:CMB>**";
        b.exercise = "EX-1";
        Fusion__Subscribe *items[2] = {&a, &b};
        Fusion__Subscriptions list = FUSION__SUBSCRIPTIONS__INIT;
        list.n_subscriptions = 2;
        list.subscriptions = items;
        answer.body_case = FUSION__FRAME__BODY_SUBSCRIPTIONS;
        answer.subscriptions = &list;
        s_subscription_lists++;
        s_reply(router, identity, &answer);
        return;
    }
    case FUSION__FRAME__BODY_EXERCISE_AUDIT_REQUEST: {
        /* A good answer for EX-OK, a refusal for EX-NO, and hostile ones for the others. */
        const Fusion__ExerciseAuditRequest *q = req->exercise_audit_request;
        if (strcmp(q->exercise, "EX-NO") == 0) {
            Fusion__Error err = FUSION__ERROR__INIT;
            err.code = "forbidden";
            err.reason = "only a trainer of the exercise may read its audit trail";
            answer.body_case = FUSION__FRAME__BODY_ERROR;
            answer.error = &err;
            s_reply(router, identity, &answer);
            return;
        }
        uint8_t msg_id[FX_MSG_ID_BYTES] = {7};
        Fusion__AuditEntry e[2], *ptrs[2] = {&e[0], &e[1]};
        for (int i = 0; i < 2; i++) {
            fusion__audit_entry__init(&e[i]);
            e[i].seq = q->after_seq + 1 + (uint64_t) i;
            e[i].time_ms = 1000;
            e[i].event = i ? "received" : "accepted";
            e[i].actor = "IDN.POLRI.fp1";
            e[i].subject = "";
            e[i].msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, msg_id};
            e[i].details = "{}";
        }
        Fusion__ExerciseAudit a = FUSION__EXERCISE_AUDIT__INIT;
        a.exercise = q->exercise;
        a.n_entries = 2;
        a.entries = ptrs;
        a.next_seq = q->after_seq + 2;
        if (strcmp(q->exercise, "EX-OTHER") == 0)
            a.exercise = "EX-OK";
        else if (strcmp(q->exercise, "EX-BACKWARDS") == 0)
            e[1].seq = q->after_seq;
        else if (strcmp(q->exercise, "EX-BADID") == 0)
            e[1].msg_id.len = 5;
        else if (strcmp(q->exercise, "EX-NEXT") == 0)
            a.next_seq = q->after_seq + 9;
        answer.body_case = FUSION__FRAME__BODY_EXERCISE_AUDIT;
        answer.exercise_audit = &a;
        s_reply(router, identity, &answer);
        return;
    }
    case FUSION__FRAME__BODY_EXPLAIN: {
        Fusion__Explained ex = FUSION__EXPLAINED__INIT;
        ex.answer_json = "{\"decisions\": []}";
        answer.body_case = FUSION__FRAME__BODY_EXPLAINED;
        answer.explained = &ex;
        /* "frame:N": an answer whose frame is exactly N bytes. */
        size_t want = 0;
        char *padded = NULL;
        if (sscanf(req->explain->query_json, "frame:%zu", &want) == 1) {
            size_t len = want;
            padded = fx_malloc(want + 1);
            for (int round = 0; round < 4; round++) {
                memset(padded, ' ', len);
                padded[len] = '\0';
                ex.answer_json = padded;
                len += want - fx_codec_size(&answer);
            }
            ACTOR_CHECK(fx_codec_size(&answer) == want);
        }
        s_reply(router, identity, &answer);
        free(padded);
        return;
    }
    case FUSION__FRAME__BODY_DIRECTORY_REQUEST: {
        Fusion__Certificate *certs[2] = {s_cert_msg(ME), s_cert_msg(SENDER)};
        Fusion__RevocationList *crl = NULL;
        ACTOR_CHECK(fx_codec_decode(FX_MSG_REVOCATION_LIST, s_f.crl, s_f.crl_len, (void **) &crl) ==
                    FX_OK);
        Fusion__Directory dir = FUSION__DIRECTORY__INIT;
        dir.n_certificates = 2;
        dir.certificates = certs;
        dir.revocations = crl;
        answer.body_case = FUSION__FRAME__BODY_DIRECTORY;
        answer.directory = &dir;
        s_reply(router, identity, &answer);
        fx_codec_free(certs[0]);
        fx_codec_free(certs[1]);
        fx_codec_free(crl);
        return;
    }
    case FUSION__FRAME__BODY_CREDIT: {
        s_window = req->credit->messages;
        s_credits++;
        Fusion__Error error = FUSION__ERROR__INIT;
        answer.body_case = FUSION__FRAME__BODY_ERROR;
        answer.error = &error;
        if (s_credit_answer == 1) {
            error.code = "rate_limited";
            error.reason = "over the rate limit";
            s_reply(router, identity, &answer);
            answer.request_id = req->request_id + 1000;
            error.code = "malformed";
            error.reason = "an answer to some other request";
            s_reply(router, identity, &answer);
        } else if (s_credit_answer == 2) {
            error.code = "revoked";
            error.reason = "the certificate has been revoked";
            s_reply(router, identity, &answer);
        }
        return;
    }
    case FUSION__FRAME__BODY_RECEIVED:
        if (req->received->msg_id.len == FX_MSG_ID_BYTES &&
            memcmp(req->received->msg_id.data, s_f.deliver_id, FX_MSG_ID_BYTES) == 0)
            s_received++;
        return;
    default:
        return;
    }
}

/* How a fake broker's transport is set up (NULL: no limit, no handshake property). */
typedef struct {
    int max_message_bytes; /* ZMQ_MAXMSGSIZE, 0 for none */
    const char *metadata;  /* ZMQ_METADATA ("X-Name:value") or NULL */
} fake_transport_t;

static void s_fake_broker(zsock_t *pipe, void *args)
{
    const fake_transport_t *transport = args;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_curve_server(router, 1);
    zsock_set_curve_publickey_bin(router, fx_keys_curve_public(s_f.keys[BROKER]));
    zsock_set_curve_secretkey_bin(router, fx_keys_curve_secret(s_f.keys[BROKER]));
    if (transport && transport->max_message_bytes)
        zsock_set_maxmsgsize(router, transport->max_message_bytes);
    if (transport && transport->metadata) /* 95: ZMQ_METADATA, a draft option of libzmq 4.3 */
        ACTOR_CHECK(zmq_setsockopt(zsock_resolve(router), 95, transport->metadata,
                                   strlen(transport->metadata)) == 0);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    zsock_signal(pipe, 0);
    zsock_send(pipe, "i", port);
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe || !which)
            break;
        zmsg_t *msg = zmsg_recv(router);
        zframe_t *identity = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        Fusion__Frame *frame = NULL;
        if (body && fx_codec_decode(FX_MSG_FRAME, zframe_data(body), zframe_size(body),
                                    (void **) &frame) == FX_OK) {
            ACTOR_CHECK(frame->request_id != 0); /* every agent frame carries one */
            s_handle(router, identity, frame);
        }
        fx_codec_free(frame);
        zframe_destroy(&identity);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

static zactor_t *s_start_with(char *endpoint, size_t size, const fake_transport_t *transport)
{
    zactor_t *actor = zactor_new(s_fake_broker, (void *) transport);
    int port = 0;
    zsock_recv(actor, "i", &port);
    snprintf(endpoint, size, "tcp://127.0.0.1:%d", port);
    return actor;
}

static zactor_t *s_start(char *endpoint, size_t size)
{
    return s_start_with(endpoint, size, NULL);
}

static fx_cert_t *s_verified(int who)
{
    fx_cert_t *cert = NULL;
    assert_int_equal(fx_cert_verify(s_f.cert[who], s_f.cert_len[who],
                                    fx_keys_sign_public(s_f.keys[AUTHORITY]), fx_now_ms(), &cert),
                     FX_OK);
    return cert;
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void s_draft(Fusion__Header *h, Fusion__SectionDescriptor descs[2],
                    Fusion__SectionDescriptor *ptrs[2], Fusion__Category *cat)
{
    fusion__header__init(h);
    h->kind = FUSION__KIND__KIND_CASE_ALERT;
    h->audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    for (int i = 0; i < 2; i++) {
        fusion__section_descriptor__init(&descs[i]);
        descs[i].id = (uint32_t) i + 1;
        descs[i].tlp = FUSION__TLP__TLP_AMBER;
        descs[i].n_categories = 1;
        descs[i].categories = cat;
        ptrs[i] = &descs[i];
    }
    h->n_sections = 2;
    h->sections = ptrs;
}

static void test_requests_and_answers(void **state)
{
    (void) state;
    char endpoint[64];
    zactor_t *broker = s_start(endpoint, sizeof endpoint);
    fx_cert_t *broker_cert = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], broker_cert, &client), FX_OK);
    const uint8_t *authority = fx_keys_sign_public(s_f.keys[AUTHORITY]);
    fx_answer_t answer;

    /* DIRECTORY first: it carries the revocation list that PREPARE checks against. */
    fx_directory_t *dir = NULL;
    assert_int_equal(fx_client_directory(client, authority, fx_now_ms(), TIMEOUT, &dir, &answer),
                     FX_OK);
    assert_int_equal(fx_directory_count(dir), 2);
    assert_true(fx_client_connections(client) >= 1);
    assert_non_null(strstr(fx_client_status(client), "connected to tcp://127.0.0.1:"));

    Fusion__Header h;
    Fusion__SectionDescriptor descs[2], *ptrs[2];
    Fusion__Category cat = FUSION__CATEGORY__CATEGORY_OPERATIONAL;
    s_draft(&h, descs, ptrs, &cat);
    const char *recipients[] = {"THA.RTP", "MYS.RMP"};
    fx_prepared_t *prepared = NULL;
    assert_int_equal(fx_client_prepare(client, &h, recipients, 2, authority,
                                       fx_directory_revocations(dir), fx_now_ms(), TIMEOUT,
                                       &prepared, &answer),
                     FX_OK);
    assert_int_equal(fx_prepared_section_count(prepared), 2);
    assert_int_equal(fx_prepared_section_id(prepared, 0), 1); /* the draft's order */
    /* Only SENDER survives: PEER is revoked, ROGUE is another authority's, BROKER was not
     * addressed by this direct draft. */
    assert_int_equal(fx_prepared_allowed_count(prepared, 0), 1);
    assert_string_equal(fx_cert_id(fx_prepared_allowed(prepared, 0, 0)), "THA.RTP.fp1");
    assert_int_equal(fx_prepared_denied_count(prepared, 0), 3);
    const fx_denial_t *d = fx_prepared_denied(prepared, 0, 0);
    assert_string_equal(d->recipient, "MYS.RMP.fp1");
    assert_string_equal(d->code, "bad_certificate");
    assert_non_null(strstr(d->reason, "revoked"));
    d = fx_prepared_denied(prepared, 0, 1);
    assert_string_equal(d->code, "bad_certificate");
    assert_non_null(strstr(d->reason, "not signed by the pinned authority"));
    d = fx_prepared_denied(prepared, 0, 2);
    assert_string_equal(d->recipient, "RSO.FUSION.broker");
    assert_string_equal(d->code, "unexpected_recipient");
    assert_int_equal(fx_prepared_allowed_count(prepared, 1), 0);
    d = fx_prepared_denied(prepared, 1, 0);
    assert_string_equal(d->code, "forbidden");
    assert_string_equal(d->rule, "nonpunishment-victim-data");
    assert_null(strchr(d->reason, '\x1b')); /* control characters are not passed on */
    fx_prepared_destroy(&prepared);
    fx_directory_destroy(&dir);

    /* PUBLISH: accepted; the DELIVER that came first waits for receive. */
    fx_recipient_t to = {s_ids[SENDER], fx_keys_box_public(s_f.keys[SENDER])};
    fx_section_draft_t section = {
        1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, (const uint8_t *) "x", 1, &to, 1};
    fx_envelope_t *env = NULL;
    h.n_sections = 0;
    h.case_ref = "accept-me";
    assert_int_equal(fx_envelope_seal(s_f.keys[ME], &h, &section, 1, &env), FX_OK);
    assert_int_equal(fx_client_publish(client, env, TIMEOUT, &answer), FX_OK);
    assert_false(answer.refused);
    fx_envelope_destroy(&env);
    h.case_ref = "reject-me";
    assert_int_equal(fx_envelope_seal(s_f.keys[ME], &h, &section, 1, &env), FX_OK);
    assert_int_equal(fx_client_publish(client, env, TIMEOUT, &answer), FX_ERR_FORBIDDEN);
    assert_true(answer.refused);
    assert_string_equal(answer.code, "no_permit");
    assert_string_equal(answer.reason, "No rule of the sharing policy permits this.");
    fx_envelope_destroy(&env);
    h.case_ref = "wrong-id";
    assert_int_equal(fx_envelope_seal(s_f.keys[ME], &h, &section, 1, &env), FX_OK);
    assert_int_equal(fx_client_publish(client, env, TIMEOUT, &answer), FX_ERR_MALFORMED);
    fx_envelope_destroy(&env);
    h.case_ref = "silent";
    assert_int_equal(fx_envelope_seal(s_f.keys[ME], &h, &section, 1, &env), FX_OK);
    assert_int_equal(fx_client_publish(client, env, 300, &answer), FX_ERR_UNAVAILABLE);
    fx_envelope_destroy(&env);

    /* Four DELIVERs were queued (one per PUBLISH); each verifies and is acknowledged. */
    for (int i = 0; i < 4; i++) {
        fx_delivery_t *delivery = NULL;
        assert_int_equal(fx_client_receive(client, TIMEOUT, &delivery), FX_OK);
        assert_memory_equal(fx_delivery_msg_id(delivery), s_f.deliver_id, FX_MSG_ID_BYTES);
        assert_null(fx_delivery_sender(delivery));
        assert_int_equal(fx_delivery_verify(delivery, authority, fx_now_ms()), FX_OK);
        assert_string_equal(fx_cert_id(fx_delivery_sender(delivery)), "THA.RTP.fp1");
        assert_false(fx_delivery_sender_expired_since(delivery));
        uint8_t *plain = NULL;
        size_t len = 0;
        assert_int_equal(
            fx_envelope_open(fx_delivery_envelope(delivery), s_f.keys[ME], 1, &plain, &len), FX_OK);
        assert_memory_equal(plain, "hi", 2);
        fx_plaintext_free(&plain, len);
        /* Stored and read back (as the inbox does), it verifies again; tampered, it does not. */
        if (i == 0) {
            uint8_t *bytes = NULL;
            size_t bytes_len = 0, cert_len = 0;
            fx_envelope_encode(fx_delivery_envelope(delivery), &bytes, &bytes_len);
            const uint8_t *cert = fx_delivery_cert_bytes(delivery, &cert_len);
            fx_delivery_t *stored = NULL;
            assert_int_equal(fx_delivery_from_bytes(bytes, bytes_len, cert, cert_len, &stored),
                             FX_OK);
            assert_int_equal(fx_delivery_verify(stored, authority, fx_now_ms()), FX_OK);
            assert_string_equal(fx_cert_id(fx_delivery_sender(stored)), "THA.RTP.fp1");
            fx_delivery_destroy(&stored);
            uint8_t *bad_cert = fx_malloc(cert_len);
            memcpy(bad_cert, cert, cert_len);
            bad_cert[cert_len - 1] ^= 1;
            assert_int_equal(fx_delivery_from_bytes(bytes, bytes_len, bad_cert, cert_len, &stored),
                             FX_OK);
            assert_int_not_equal(fx_delivery_verify(stored, authority, fx_now_ms()), FX_OK);
            fx_delivery_destroy(&stored);
            free(bad_cert);
            assert_int_not_equal(
                fx_delivery_from_bytes(bytes, bytes_len / 2, cert, cert_len, &stored), FX_OK);
            assert_null(stored);
            assert_int_equal(fx_delivery_from_bytes(bytes, bytes_len, NULL, 0, &stored),
                             FX_ERR_MALFORMED);
            free(bytes);
        }
        /* Against another authority, the same delivery does not verify. */
        if (i == 0)
            assert_int_equal(fx_delivery_verify(delivery,
                                                fx_keys_sign_public(s_f.keys[ROGUE_AUTHORITY]),
                                                fx_now_ms()),
                             FX_ERR_UNTRUSTED);
        assert_int_equal(fx_client_acknowledge(client, fx_delivery_msg_id(delivery)), FX_OK);
        fx_delivery_destroy(&delivery);
        assert_null(delivery);
    }
    fx_delivery_t *none = NULL;
    assert_int_equal(fx_client_receive(client, 200, &none), FX_ERR_UNAVAILABLE);
    assert_null(none);

    /* SUBSCRIBE, UNSUBSCRIBE (refused: not_found), EXPLAIN. */
    assert_int_equal(fx_client_subscribe(client, "MMR>**>MYS", 1u << FX_STAGE_AT_BORDER,
                                         (1u << FX_KIND_CASE_ALERT) | (1u << FX_KIND_NOTICE), NULL,
                                         TIMEOUT, &answer),
                     FX_OK);
    assert_int_equal(fx_client_subscribe(client, "MMR>**>MYS", 0, 0, "EX-1", TIMEOUT, &answer),
                     FX_ERR_MALFORMED); /* the fake answers active: false for this one */
    assert_int_equal(fx_client_unsubscribe(client, "MMR>**>MYS", NULL, TIMEOUT, &answer),
                     FX_ERR_NOT_FOUND);
    assert_true(answer.refused);
    assert_string_equal(answer.code, "not_found");
    /* SUBSCRIPTIONS: checked like everything else the broker says. */
    fx_subscription_t *subs = NULL;
    size_t n_subs = 0;
    assert_int_equal(fx_client_subscriptions(client, TIMEOUT, &subs, &n_subs, &answer), FX_OK);
    assert_int_equal(n_subs, 2);
    assert_string_equal(subs[0].pattern, "MMR>**>MYS"); /* normalised */
    assert_int_equal(subs[0].stages, 1u << FX_STAGE_AT_BORDER);
    assert_int_equal(subs[0].kinds, 1u << FX_KIND_CASE_ALERT);
    assert_string_equal(subs[0].exercise, "");
    assert_string_equal(subs[1].pattern, "LKA:CMB>**");
    assert_int_equal(subs[1].stages, 0);
    assert_string_equal(subs[1].exercise, "EX-1");
    free(subs);
    assert_int_equal(fx_client_subscriptions(client, TIMEOUT, &subs, &n_subs, &answer),
                     FX_ERR_MALFORMED); /* an invalid pattern */
    assert_null(subs);
    assert_int_equal(fx_client_subscriptions(client, TIMEOUT, &subs, &n_subs, &answer),
                     FX_ERR_MALFORMED); /* an unspecified stage */
    assert_null(subs);
    assert_int_equal(n_subs, 0);
    char *json = NULL;
    assert_int_equal(fx_client_explain(client, "{}", TIMEOUT, &json, &answer), FX_OK);
    assert_string_equal(json, "{\"decisions\": []}");
    free(json);

    /* The window is sent at once and again periodically; acknowledgements arrived. */
    assert_int_equal(fx_client_set_window(client, 7), FX_OK);
    assert_int_equal(fx_client_receive(client, FX_CLIENT_CREDIT_INTERVAL_MS + 500, &none),
                     FX_ERR_UNAVAILABLE);
    assert_int_equal(s_window, 7);
    assert_true(s_credits >= 2);
    assert_int_equal(s_received, 4);

    fx_client_destroy(&client);
    assert_null(client);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);
}

/* While receiving, an ERROR that refuses the principal (the broker's answer to the CREDIT of
 * a principal revoked while connected) is returned as the request path returns it, and the
 * status says so; any other ERROR, whatever request it answers, is ignored. */
static void test_refused_while_receiving(void **state)
{
    (void) state;
    char endpoint[64];
    zactor_t *broker = s_start(endpoint, sizeof endpoint);
    fx_cert_t *broker_cert = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], broker_cert, &client), FX_OK);
    char *json = NULL;
    fx_answer_t answer;
    assert_int_equal(fx_client_explain(client, "{}", TIMEOUT, &json, &answer), FX_OK); /* up */
    free(json);
    s_credit_answer = 1;
    int credits = s_credits;
    assert_int_equal(fx_client_set_window(client, 3), FX_OK);
    fx_delivery_t *none = NULL;
    assert_int_equal(fx_client_receive(client, FX_CLIENT_CREDIT_INTERVAL_MS + 500, &none),
                     FX_ERR_UNAVAILABLE);
    assert_true(s_credits >= credits + 2); /* each answered with the two ERRORs */
    assert_false(fx_client_key_refused(client));
    s_credit_answer = 2;
    assert_int_equal(fx_client_receive(client, FX_CLIENT_CREDIT_INTERVAL_MS + 500, &none),
                     FX_ERR_REVOKED);
    assert_null(none);
    assert_true(fx_client_key_refused(client));
    assert_non_null(strstr(fx_client_status(client),
                           "refused this principal on its open connection: revoked (the "
                           "certificate has been revoked)"));
    s_credit_answer = 0;
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);
}

/* EXERCISE_AUDIT: a good answer, a refusal, and answers that break the protocol. */
static void test_exercise_audit_answers(void **state)
{
    (void) state;
    char endpoint[64];
    zactor_t *broker = s_start(endpoint, sizeof endpoint);
    fx_cert_t *broker_cert = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], broker_cert, &client), FX_OK);
    fx_answer_t answer;
    Fusion__Frame *frame = NULL;
    assert_int_equal(fx_client_exercise_audit(client, "EX-OK", 40, 0, TIMEOUT, &frame, &answer),
                     FX_OK);
    assert_int_equal(frame->exercise_audit->n_entries, 2);
    assert_int_equal(frame->exercise_audit->entries[0]->seq, 41);
    assert_int_equal(frame->exercise_audit->next_seq, 42);
    fx_codec_free(frame);
    assert_int_equal(fx_client_exercise_audit(client, "EX-NO", 0, 0, TIMEOUT, &frame, &answer),
                     FX_ERR_FORBIDDEN);
    assert_true(answer.refused);
    assert_string_equal(answer.code, "forbidden");
    assert_null(frame);
    const char *hostile[] = {"EX-OTHER", "EX-BACKWARDS", "EX-BADID", "EX-NEXT"};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        assert_int_equal(
            fx_client_exercise_audit(client, hostile[i], 40, 0, TIMEOUT, &frame, &answer),
            FX_ERR_MALFORMED);
        assert_null(frame);
    }
    /* More entries than asked for is as hostile. */
    assert_int_equal(fx_client_exercise_audit(client, "EX-OK", 0, 1, TIMEOUT, &frame, &answer),
                     FX_ERR_MALFORMED);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);
}

static void test_unreachable_and_wrong_key(void **state)
{
    (void) state;
    fx_cert_t *broker_cert = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new("tcp://nowhere", s_f.keys[ME], broker_cert, &client),
                     FX_ERR_INVALID);
    assert_int_equal(fx_client_new("http://127.0.0.1:1", s_f.keys[ME], broker_cert, &client),
                     FX_ERR_INVALID);

    /* Nothing listens: the request times out, and the status says why. The port is one that
     * was free a moment ago and lies below the kernel's ephemeral range, so no other socket
     * (not even this client's own, self-connecting) can take it meanwhile; and below 20000, where
     * the integration tests' brokers pick theirs, so a test suite running beside this one cannot
     * take it either. */
    char endpoint[64];
    for (int port = 10000 + (int) (fx_now_ms() % 9000);; port++) {
        /* A plain socket: its close is done when close() returns, where a ZeroMQ socket's
         * listener closes later in an I/O thread and could still answer the client. */
        int probe = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int bound = bind(probe, (struct sockaddr *) &addr, sizeof addr) == 0;
        close(probe);
        if (bound) {
            snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
            break;
        }
    }
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], broker_cert, &client), FX_OK);
    fx_answer_t answer;
    char *json = NULL;
    int64_t before = fx_now_ms();
    assert_int_equal(fx_client_explain(client, "{}", 700, &json, &answer), FX_ERR_UNAVAILABLE);
    assert_true(fx_now_ms() - before >= 690);
    assert_false(answer.refused);
    assert_null(json);
    /* The refused connection is reported by the socket monitor; under sanitizers that can take
     * longer than the first request, so more requests (12 s at most) give it the time. */
    for (int i = 0; i < 40 && !strstr(fx_client_status(client), "cannot connect"); i++)
        assert_int_equal(fx_client_explain(client, "{}", 300, &json, &answer), FX_ERR_UNAVAILABLE);
    if (!strstr(fx_client_status(client), "cannot connect"))
        print_error("status after the retries: %s\n", fx_client_status(client));
    assert_non_null(strstr(fx_client_status(client), endpoint));
    assert_non_null(strstr(fx_client_status(client), "cannot connect"));
    assert_int_equal(fx_client_set_window(client, 3), FX_ERR_UNAVAILABLE);
    fx_client_destroy(&client);

    /* A broker whose CURVE key is not the certificate's: no connection, no answer. */
    char real[64];
    zactor_t *broker = s_start(real, sizeof real);
    fx_cert_t *wrong = s_verified(SENDER);
    assert_int_equal(fx_client_new(real, s_f.keys[ME], wrong, &client), FX_OK);
    assert_int_equal(fx_client_explain(client, "{}", 800, &json, &answer), FX_ERR_UNAVAILABLE);
    assert_int_equal(fx_client_connections(client), 0);
    if (!strstr(fx_client_status(client), "handshake"))
        fprintf(stderr, "status: %s\n", fx_client_status(client));
    assert_non_null(strstr(fx_client_status(client), "handshake"));
    fx_client_destroy(&client);
    fx_cert_destroy(&wrong);
    zactor_destroy(&broker);
    fx_cert_destroy(&broker_cert);
}

/* An envelope from ME to SENDER with one section of len bytes. */
static fx_envelope_t *s_envelope_of(size_t len)
{
    Fusion__Header h = FUSION__HEADER__INIT;
    h.kind = FUSION__KIND__KIND_NOTICE;
    h.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    uint8_t *text = fx_malloc(len);
    memset(text, 'x', len);
    fx_recipient_t to = {s_ids[SENDER], fx_keys_box_public(s_f.keys[SENDER])};
    fx_section_draft_t section = {1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, text, len, &to,
                                  1};
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(s_f.keys[ME], &h, &section, 1, &env), FX_OK);
    free(text);
    return env;
}

/* A client connected to a fake broker with transport, its directory fetched (an answer). */
static fx_client_t *s_connected(const fake_transport_t *transport, zactor_t **broker_p,
                                fx_cert_t **broker_cert_p)
{
    char endpoint[64];
    *broker_p = s_start_with(endpoint, sizeof endpoint, transport);
    *broker_cert_p = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], *broker_cert_p, &client), FX_OK);
    assert_int_equal(fx_client_max_frame(client), 0); /* nothing received yet */
    fx_directory_t *dir = NULL;
    fx_answer_t answer;
    assert_int_equal(fx_client_directory(client, fx_keys_sign_public(s_f.keys[AUTHORITY]),
                                         fx_now_ms(), TIMEOUT, &dir, &answer),
                     FX_OK);
    fx_directory_destroy(&dir);
    return client;
}

/* The agent's socket takes every frame its codec takes (FX_MAX_FRAME_BYTES): libzmq applies
 * ZMQ_MAXMSGSIZE to the frame as CURVE carries it, FX_CURVE_FRAME_OVERHEAD bytes longer, so a
 * limit of FX_MAX_FRAME_BYTES alone dropped the connection on an answer of the last 33 bytes. */
static void test_largest_answer(void **state)
{
    (void) state;
    char endpoint[64];
    zactor_t *broker = s_start(endpoint, sizeof endpoint);
    fx_cert_t *broker_cert = s_verified(BROKER);
    fx_client_t *client = NULL;
    assert_int_equal(fx_client_new(endpoint, s_f.keys[ME], broker_cert, &client), FX_OK);
    fx_answer_t answer;
    char *json = NULL, query[32];
    snprintf(query, sizeof query, "frame:%u", FX_MAX_FRAME_BYTES);
    assert_int_equal(fx_client_explain(client, query, TIMEOUT, &json, &answer), FX_OK);
    assert_true(strlen(json) > FX_MAX_FRAME_BYTES - 16);
    free(json);
    /* One byte more is still refused, by the codec: nothing is answered. */
    snprintf(query, sizeof query, "frame:%u", FX_MAX_FRAME_BYTES + 1);
    assert_int_equal(fx_client_explain(client, query, 1000, &json, &answer), FX_ERR_UNAVAILABLE);
    assert_null(json);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);
}

static void test_broker_frame_limit(void **state)
{
    (void) state;
    zactor_t *broker = NULL;
    fx_cert_t *broker_cert = NULL;
    fx_answer_t answer;
    fx_envelope_t *big = s_envelope_of(5000), *small = s_envelope_of(100);

    /* A broker that says the largest frame it takes (max_message_bytes less CURVE's 33 bytes):
     * the client knows it from the first answer and refuses a larger PUBLISH without sending it
     * (its transport would drop the connection at every try); one that fits goes. */
    const fake_transport_t says = {4096, FX_MAX_FRAME_PROPERTY ":4063"};
    fx_client_t *client = s_connected(&says, &broker, &broker_cert);
    assert_int_equal(fx_client_max_frame(client), 4096 - FX_CURVE_FRAME_OVERHEAD);
    assert_true(fx_client_publish_size(client, big) > 4063);
    assert_true(fx_client_publish_size(client, small) <= 4063);
    int publishes = s_publishes;
    uint64_t connections = fx_client_connections(client);
    assert_int_equal(fx_client_publish(client, big, TIMEOUT, &answer), FX_ERR_TOO_LARGE);
    assert_false(answer.refused);
    assert_int_equal(fx_client_publish(client, small, TIMEOUT, &answer), FX_OK);
    assert_int_equal(s_publishes, publishes + 1); /* only the small one reached the broker */
    assert_int_equal(fx_client_connections(client), connections); /* and nothing was dropped */
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);

    /* A property that is not a number of bytes is no limit. */
    const fake_transport_t garbled = {0, FX_MAX_FRAME_PROPERTY ":4063x"};
    client = s_connected(&garbled, &broker, &broker_cert);
    assert_int_equal(fx_client_max_frame(client), 0);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);

    /* A broker that does not say (an older one): the PUBLISH goes, the broker's transport ends
     * the connection each time it arrives, and the status says that rather than "connected". */
    const fake_transport_t silent = {4096, NULL};
    client = s_connected(&silent, &broker, &broker_cert);
    assert_int_equal(fx_client_max_frame(client), 0);
    publishes = s_publishes;
    char expected[96];
    snprintf(expected, sizeof expected, "each time after this request (a frame of %zu bytes)",
             fx_client_publish_size(client, big));
    assert_int_equal(fx_client_publish(client, big, TIMEOUT, &answer), FX_ERR_UNAVAILABLE);
    assert_false(answer.refused);
    assert_int_equal(s_publishes, publishes); /* none of the tries got through */
    if (!strstr(fx_client_status(client), expected))
        print_error("status: %s\n", fx_client_status(client));
    assert_non_null(strstr(fx_client_status(client), expected));
    assert_non_null(strstr(fx_client_status(client), "larger than its max_message_bytes"));
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    zactor_destroy(&broker);
    fx_envelope_destroy(&big);
    fx_envelope_destroy(&small);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_and_answers),
        cmocka_unit_test(test_exercise_audit_answers),
        cmocka_unit_test(test_refused_while_receiving),
        cmocka_unit_test(test_unreachable_and_wrong_key),
        cmocka_unit_test(test_broker_frame_limit),
        cmocka_unit_test(test_largest_answer),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
