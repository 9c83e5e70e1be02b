/* burst: many PUBLISHes from several principals at once, so the broker handles them in large
 * groups (and checks their signatures on its verify pool). A mix of valid messages, forged
 * signatures and headers naming another sender; every answer must be the right one for its own
 * message, and each sender's answers must come back in the order it published. See --help. */
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "fusion/codec.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/vocab.h"

#define SENDERS_MAX 16

typedef enum { VALID, FORGED, IMPOSTOR } variant_t;

/* What one PUBLISH was, so its answer can be checked. */
typedef struct {
    variant_t variant;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    uint8_t *data;
    size_t len;
} sent_t;

static void s_help(void)
{
    printf("Usage: burst --endpoint EP --broker-cert FILE --authority FILE --to KEYFILE\n"
           "             [--count N] [--timeout MS] SENDER_KEYFILE...\n\n"
           "Connects once per sender key, checks each connection with a DIRECTORY round trip,\n"
           "then sends N PUBLISHes per sender (default 60) interleaved across the senders without\n"
           "waiting: of sender s's i-th message, (i + s) %% 3 == 1 has a forged signature and\n"
           "(i + s) %% 7 == 5 names another principal as its sender; the rest are valid\n"
           "operational alerts for --to KEYFILE's principal. Then checks every answer: ACCEPTED\n"
           "with its msg_id, REJECTED bad_signature with its msg_id, or REJECTED sender_mismatch,\n"
           "in the order each sender published. Prints one summary line.\n\n"
           "Exit: 0 every answer right, 1 a wrong, missing or out-of-order answer, 2 usage.\n");
}

static variant_t s_variant(size_t sender, size_t i)
{
    if ((i + sender) % 7 == 5)
        return IMPOSTOR;
    if ((i + sender) % 3 == 1)
        return FORGED;
    return VALID;
}

/* A PUBLISH frame with request id request_id, sealed by from (for IMPOSTOR by a fresh key that
 * claims to be another principal), for to. */
static int s_publish(const fx_keys_t *from, const fx_keys_t *to, variant_t variant,
                     uint64_t request_id, sent_t *sent)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    fx_recipient_t recipient = {fx_keys_id(to), fx_keys_box_public(to)};
    fx_section_draft_t section = {
        1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, (const uint8_t *) "burst", 5, &recipient,
        1};
    fx_keys_t *impostor = variant == IMPOSTOR ? fx_keys_new(fx_keys_id(to)) : NULL;
    fx_envelope_t *env = NULL;
    if (fx_envelope_seal(impostor ? impostor : from, &draft, &section, 1, &env) != FX_OK) {
        fx_keys_destroy(&impostor);
        return -1;
    }
    fx_keys_destroy(&impostor);
    sent->variant = variant;
    memcpy(sent->msg_id, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_envelope_encode(env, &bytes, &len);
    fx_envelope_destroy(&env);
    Fusion__Envelope *msg = NULL;
    fx_err_t rc = fx_codec_decode(FX_MSG_ENVELOPE, bytes, len, (void **) &msg);
    free(bytes);
    if (rc != FX_OK)
        return -1;
    if (variant == FORGED)
        msg->signature.data[7] ^= 0x20;
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = msg;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_PUBLISH;
    frame.publish = &publish;
    fx_codec_encode(&frame, &sent->data, &sent->len);
    fx_codec_free(msg);
    return 0;
}

/* Checks one answer against what was sent; prints what is wrong. 0 if right. */
static int s_check(const char *who, uint64_t want_id, const sent_t *sent, const zframe_t *in)
{
    Fusion__Frame *frame = NULL;
    if (fx_codec_decode(FX_MSG_FRAME, zframe_data((zframe_t *) in), zframe_size((zframe_t *) in),
                        (void **) &frame) != FX_OK) {
        printf("%s: an undecodable answer to request %llu\n", who, (unsigned long long) want_id);
        return -1;
    }
    int ok = frame->request_id == want_id;
    const ProtobufCBinaryData *id = NULL;
    const char *got = "another body";
    if (frame->body_case == FUSION__FRAME__BODY_ACCEPTED) {
        got = "ACCEPTED";
        id = &frame->accepted->msg_id;
        ok = ok && sent->variant == VALID;
    } else if (frame->body_case == FUSION__FRAME__BODY_REJECTED) {
        got = frame->rejected->code;
        id = &frame->rejected->msg_id;
        ok = ok && ((sent->variant == FORGED && strcmp(got, "bad_signature") == 0) ||
                    (sent->variant == IMPOSTOR && strcmp(got, "sender_mismatch") == 0));
    } else if (frame->body_case == FUSION__FRAME__BODY_ERROR) {
        got = frame->error->code;
        ok = 0;
    }
    /* An impostor's msg_id is not the authenticated principal's to answer for. */
    if (ok && sent->variant != IMPOSTOR)
        ok = id && id->len == FX_MSG_ID_BYTES && memcmp(id->data, sent->msg_id, 16) == 0;
    if (ok && sent->variant == IMPOSTOR)
        ok = id && id->len == 0;
    if (!ok) {
        static const char *const names[] = {"valid", "forged", "impostor"};
        printf("%s: request %llu (%s) got %s for request %llu\n", who, (unsigned long long) want_id,
               names[sent->variant], got, (unsigned long long) frame->request_id);
    }
    fx_codec_free(frame);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"broker-cert", required_argument, NULL, 'b'},
        {"authority", required_argument, NULL, 'a'},
        {"to", required_argument, NULL, 'T'},
        {"count", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fx_init();
    const char *endpoint = NULL, *cert_path = NULL, *authority_path = NULL, *to_path = NULL;
    long count = 60, timeout = 10000;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'e':
            endpoint = optarg;
            break;
        case 'b':
            cert_path = optarg;
            break;
        case 'a':
            authority_path = optarg;
            break;
        case 'T':
            to_path = optarg;
            break;
        case 'c':
            count = atol(optarg);
            break;
        case 't':
            timeout = atol(optarg);
            break;
        case 'h':
            s_help();
            return 0;
        default:
            s_help();
            return 2;
        }
    }
    size_t senders = (size_t) (argc - optind);
    if (!endpoint || !cert_path || !authority_path || !to_path || senders == 0 ||
        senders > SENDERS_MAX || count <= 0 || count > 100000 || timeout <= 0) {
        fprintf(stderr,
                "burst: give --endpoint, --broker-cert, --authority, --to and 1..%d "
                "sender keys (see --help)\n",
                SENDERS_MAX);
        return 2;
    }
    int status = 2;
    fx_keys_t *keys[SENDERS_MAX] = {NULL}, *to = NULL;
    zsock_t *socks[SENDERS_MAX] = {NULL};
    sent_t *sent[SENDERS_MAX] = {NULL};
    fx_cert_t *broker_cert = NULL;
    uint8_t authority[FX_KEY_BYTES];
    if (fx_keys_load(to_path, &to) != FX_OK ||
        fx_authority_key_load(authority_path, authority) != FX_OK ||
        fx_broker_cert_load(cert_path, authority, fx_now_ms(), &broker_cert) != FX_OK) {
        fprintf(stderr, "burst: cannot load %s, %s or %s\n", to_path, authority_path, cert_path);
        goto cleanup;
    }
    for (size_t s = 0; s < senders; s++) {
        if (fx_keys_load(argv[optind + (int) s], &keys[s]) != FX_OK) {
            fprintf(stderr, "burst: cannot load %s\n", argv[optind + (int) s]);
            goto cleanup;
        }
        sent[s] = calloc((size_t) count, sizeof *sent[s]);
        for (long i = 0; i < count; i++)
            if (s_publish(keys[s], to, s_variant(s, (size_t) i), (uint64_t) i + 1, &sent[s][i]) !=
                0) {
                fprintf(stderr, "burst: cannot seal a message\n");
                goto cleanup;
            }
        socks[s] = zsock_new(ZMQ_DEALER);
        zsock_set_linger(socks[s], 0);
        zsock_set_sndhwm(socks[s], 0);
        zsock_set_rcvhwm(socks[s], 0);
        zsock_set_curve_publickey_bin(socks[s], fx_keys_curve_public(keys[s]));
        zsock_set_curve_secretkey_bin(socks[s], fx_keys_curve_secret(keys[s]));
        zsock_set_curve_serverkey_bin(socks[s], fx_cert_curve_key(broker_cert));
        if (zsock_connect(socks[s], "%s", endpoint) != 0) {
            fprintf(stderr, "burst: cannot connect to %s\n", endpoint);
            goto cleanup;
        }
    }
    status = 1;
    /* Every connection answers a DIRECTORY request first, so the burst is not spread out by
     * handshakes finishing one after another. */
    Fusion__DirectoryRequest ask = FUSION__DIRECTORY_REQUEST__INIT;
    Fusion__Frame probe = FUSION__FRAME__INIT;
    probe.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
    probe.directory_request = &ask;
    uint8_t *probe_data = NULL;
    size_t probe_len = 0;
    fx_codec_encode(&probe, &probe_data, &probe_len);
    for (size_t s = 0; s < senders; s++) {
        zframe_t *out = zframe_new(probe_data, probe_len);
        zframe_send(&out, socks[s], 0);
        zpoller_t *poller = zpoller_new(socks[s], NULL);
        zframe_t *in =
            zpoller_wait(poller, (int) timeout) == socks[s] ? zframe_recv(socks[s]) : NULL;
        zpoller_destroy(&poller);
        if (!in) {
            printf("%s: no answer to DIRECTORY\n", fx_keys_id(keys[s]));
            free(probe_data);
            goto cleanup;
        }
        zframe_destroy(&in);
    }
    free(probe_data);
    for (long i = 0; i < count; i++)
        for (size_t s = 0; s < senders; s++) {
            zframe_t *out = zframe_new(sent[s][i].data, sent[s][i].len);
            zframe_send(&out, socks[s], 0);
        }
    size_t counts[3] = {0, 0, 0}, wrong = 0;
    for (size_t s = 0; s < senders; s++) {
        zpoller_t *poller = zpoller_new(socks[s], NULL);
        for (long i = 0; i < count; i++) {
            zframe_t *in =
                zpoller_wait(poller, (int) timeout) == socks[s] ? zframe_recv(socks[s]) : NULL;
            if (!in) {
                printf("%s: no answer to request %ld\n", fx_keys_id(keys[s]), i + 1);
                wrong++;
                break;
            }
            if (s_check(fx_keys_id(keys[s]), (uint64_t) i + 1, &sent[s][i], in) != 0)
                wrong++;
            else
                counts[sent[s][i].variant]++;
            zframe_destroy(&in);
        }
        zpoller_destroy(&poller);
    }
    printf("%s: %zu senders x %ld messages: %zu accepted, %zu bad_signature, %zu "
           "sender_mismatch, %zu wrong\n",
           wrong ? "FAILED" : "ok", senders, count, counts[VALID], counts[FORGED], counts[IMPOSTOR],
           wrong);
    status = wrong ? 1 : 0;
cleanup:
    for (size_t s = 0; s < SENDERS_MAX; s++) {
        zsock_destroy(&socks[s]);
        for (long i = 0; sent[s] && i < count; i++)
            free(sent[s][i].data);
        free(sent[s]);
        fx_keys_destroy(&keys[s]);
    }
    fx_cert_destroy(&broker_cert);
    fx_keys_destroy(&to);
    return status;
}
