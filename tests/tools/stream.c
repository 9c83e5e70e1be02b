/* stream: a publisher that keeps streaming through broker crashes, for the crash campaign. It
 * publishes one valid alert after another with the client library, retries a message that got
 * no answer with the same msg_id (as the agent's outbox does), and logs each answer it got, so
 * the test can hold the broker to every ACCEPTED. See --help. */
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/vocab.h"

static void s_help(void)
{
    printf("Usage: stream --endpoint EP --broker-cert FILE --authority FILE --to KEYFILE\n"
           "              --log FILE [--count N] [--timeout MS] [--interval MS] SENDER_KEYFILE\n\n"
           "Publishes operational alerts from SENDER_KEYFILE's principal to --to KEYFILE's\n"
           "principal, one at a time, until N were answered (default: until SIGTERM or\n"
           "SIGINT). A message that gets no answer within --timeout (default 1000) is sent\n"
           "again with the same msg_id until it is answered. Each answer is appended to --log\n"
           "as one line, flushed at once. --interval paces the stream: it waits MS (default 0)\n"
           "after each answer before the next message.\n"
           "Log lines:\n"
           "  ACCEPTED <msg_id> | REJECTED <code> <msg_id>\n"
           "Exit: 0 stopped as asked, 1 a message was rejected, 2 usage or local error.\n");
}

/* A sealed alert with a fresh msg_id. */
static fx_envelope_t *s_seal(const fx_keys_t *from, const fx_keys_t *to, long n)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    char text[64];
    int len = snprintf(text, sizeof text, "stream message %ld", n);
    fx_recipient_t recipient = {fx_keys_id(to), fx_keys_box_public(to)};
    fx_section_draft_t section = {1,
                                  FX_TLP_GREEN,
                                  1u << FX_CATEGORY_OPERATIONAL,
                                  (const uint8_t *) text,
                                  (size_t) len,
                                  &recipient,
                                  1};
    fx_envelope_t *env = NULL;
    return fx_envelope_seal(from, &draft, &section, 1, &env) == FX_OK ? env : NULL;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"broker-cert", required_argument, NULL, 'b'},
        {"authority", required_argument, NULL, 'a'},
        {"to", required_argument, NULL, 'T'},
        {"log", required_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fx_init();
    const char *endpoint = NULL, *cert_path = NULL, *authority_path = NULL, *to_path = NULL;
    const char *log_path = NULL;
    long count = 0, timeout = 1000, interval = 0;
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
        case 'l':
            log_path = optarg;
            break;
        case 'c':
            count = atol(optarg);
            break;
        case 't':
            timeout = atol(optarg);
            break;
        case 'i':
            interval = atol(optarg);
            break;
        case 'h':
            s_help();
            return 0;
        default:
            s_help();
            return 2;
        }
    }
    if (!endpoint || !cert_path || !authority_path || !to_path || !log_path || optind + 1 != argc ||
        count < 0 || timeout <= 0 || timeout > 600000 || interval < 0 || interval > 60000) {
        fprintf(stderr, "stream: give --endpoint, --broker-cert, --authority, --to, --log and "
                        "one sender key (see --help)\n");
        return 2;
    }
    int status = 2;
    fx_keys_t *keys = NULL, *to = NULL;
    fx_cert_t *broker_cert = NULL;
    fx_client_t *client = NULL;
    fx_envelope_t *env = NULL;
    FILE *log = NULL;
    uint8_t authority[FX_KEY_BYTES];
    if (fx_keys_load(argv[optind], &keys) != FX_OK || fx_keys_load(to_path, &to) != FX_OK ||
        fx_authority_key_load(authority_path, authority) != FX_OK ||
        fx_broker_cert_load(cert_path, authority, fx_now_ms(), &broker_cert) != FX_OK) {
        fprintf(stderr, "stream: cannot load the keys, the authority or the broker certificate\n");
        goto cleanup;
    }
    if (!(log = fopen(log_path, "a"))) {
        fprintf(stderr, "stream: cannot open %s\n", log_path);
        goto cleanup;
    }
    if (fx_client_new(endpoint, keys, broker_cert, &client) != FX_OK) {
        fprintf(stderr, "stream: cannot connect to %s\n", endpoint);
        goto cleanup;
    }
    status = 0;
    long answered = 0, attempts = 0;
    while (!fx_client_interrupted() && (count == 0 || answered < count)) {
        if (!env && !(env = s_seal(keys, to, answered + 1))) {
            fprintf(stderr, "stream: cannot seal a message\n");
            status = 2;
            break;
        }
        fx_answer_t answer;
        fx_err_t rc = fx_client_publish(client, env, (int) timeout, &answer);
        attempts++;
        if (rc == FX_ERR_UNAVAILABLE)
            continue; /* no answer: the same msg_id goes again */
        if (answer.refused && strcmp(answer.code, "rate_limited") == 0) {
            zclock_sleep(100); /* over the broker's rate limit: the same msg_id, a bit later */
            continue;
        }
        char hex[2 * FX_MSG_ID_BYTES + 1];
        fx_hex(fx_envelope_msg_id(env), FX_MSG_ID_BYTES, hex);
        if (rc == FX_OK) {
            fprintf(log, "ACCEPTED %s\n", hex);
        } else {
            fprintf(log, "REJECTED %s %s\n", answer.refused ? answer.code : fx_err_code(rc), hex);
            status = 1;
        }
        fflush(log);
        answered++;
        fx_envelope_destroy(&env);
        if (interval > 0)
            zclock_sleep((int) interval);
    }
    fprintf(stderr, "stream: %s: %ld answered in %ld attempts\n", fx_keys_id(keys), answered,
            attempts);
cleanup:
    if (log)
        fclose(log);
    fx_envelope_destroy(&env);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker_cert);
    fx_keys_destroy(&keys);
    fx_keys_destroy(&to);
    return status;
}
