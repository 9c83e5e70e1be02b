/* forge_workflow: publishes, as a real principal, a message whose workflow links the agent would
 * never send (a forward without its grant or with lowered markings, feedback to someone else, a
 * response to a referral that went elsewhere), to show that the broker checks them itself and
 * fails closed. Prints "ACCEPTED <msg_id>" or "REJECTED <code>: <reason>". See --help. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/client.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/vocab.h"

static void s_help(void)
{
    printf("Usage: forge_workflow --endpoint EP --key FILE --broker-cert FILE --authority FILE\n"
           "                      --to KEYFILE [--in-reply-to HEX] [--forwarded-from HEX]\n"
           "                      [--grant HEX] [--status N] [--tlp WORD]\n"
           "                      [--reshare-to ID]... [--consent] [--referral-content]\n"
           "                      [--consent-recorded] KIND\n\n"
           "Publishes one message of KIND (case_alert, referral_response, alert_feedback, ...)\n"
           "from the principal of --key to the principal of --to KEYFILE, with one section\n"
           "(id 1, or 2 with --forwarded-from) of the given TLP (default green), and the header\n"
           "links given. --consent sets the header's consent; --referral-content makes the\n"
           "section a referral (reason 'forge') that leaves consent_recorded out, as older agents\n"
           "wrote it with the header's consent, and --consent-recorded sets it true.\n"
           "Exit: 0 ACCEPTED, 1 REJECTED, 2 usage or local error, 5 no answer.\n");
}

static int s_hex(const char *text, ProtobufCBinaryData *out, uint8_t buf[FX_MSG_ID_BYTES])
{
    if (strlen(text) != 2 * FX_MSG_ID_BYTES)
        return -1;
    for (size_t i = 0; i < FX_MSG_ID_BYTES; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1)
            return -1;
        buf[i] = (uint8_t) v;
    }
    *out = (ProtobufCBinaryData){FX_MSG_ID_BYTES, buf};
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"key", required_argument, NULL, 'k'},
        {"broker-cert", required_argument, NULL, 'b'},
        {"authority", required_argument, NULL, 'a'},
        {"to", required_argument, NULL, 'T'},
        {"in-reply-to", required_argument, NULL, 'r'},
        {"forwarded-from", required_argument, NULL, 'f'},
        {"grant", required_argument, NULL, 'g'},
        {"status", required_argument, NULL, 's'},
        {"tlp", required_argument, NULL, 'l'},
        {"reshare-to", required_argument, NULL, 'R'},
        {"consent", no_argument, NULL, 'C'},
        {"referral-content", no_argument, NULL, 'F'},
        {"consent-recorded", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fx_init();
    const char *endpoint = NULL, *key = NULL, *cert = NULL, *authority_path = NULL, *to_path = NULL;
    uint8_t reply[FX_MSG_ID_BYTES], forwarded[FX_MSG_ID_BYTES], grant[FX_MSG_ID_BYTES];
    Fusion__Header draft = FUSION__HEADER__INIT;
    char *reshare_to[8];
    int tlp = FX_TLP_GREEN, opt, bad = 0, referral = 0, recorded = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'e')
            endpoint = optarg;
        else if (opt == 'k')
            key = optarg;
        else if (opt == 'b')
            cert = optarg;
        else if (opt == 'a')
            authority_path = optarg;
        else if (opt == 'T')
            to_path = optarg;
        else if (opt == 'r')
            bad |= s_hex(optarg, &draft.in_reply_to, reply);
        else if (opt == 'f')
            bad |= s_hex(optarg, &draft.forwarded_from, forwarded);
        else if (opt == 'g')
            bad |= s_hex(optarg, &draft.reshare_grant, grant);
        else if (opt == 's')
            draft.response_status = (Fusion__ResponseStatus) atoi(optarg);
        else if (opt == 'l')
            bad |= (tlp = fx_vocab_parse(FX_VOCAB_TLP, optarg)) <= 0;
        else if (opt == 'C')
            draft.consent = 1;
        else if (opt == 'F')
            referral = 1;
        else if (opt == 'P')
            recorded = 1;
        else if (opt == 'R' && draft.n_reshare_to < sizeof reshare_to / sizeof reshare_to[0]) {
            reshare_to[draft.n_reshare_to++] = optarg;
            draft.reshare_to = reshare_to;
        } else {
            s_help();
            return opt == 'h' ? 0 : 2;
        }
    }
    int kind = optind + 1 == argc ? fx_vocab_parse(FX_VOCAB_KIND, argv[optind]) : -1;
    if (bad || kind <= 0 || !endpoint || !key || !cert || !authority_path || !to_path) {
        fprintf(stderr, "forge_workflow: bad arguments (see --help)\n");
        return 2;
    }
    fx_keys_t *keys = NULL, *to = NULL;
    fx_cert_t *broker = NULL;
    fx_client_t *client = NULL;
    fx_envelope_t *env = NULL;
    uint8_t authority[FX_KEY_BYTES];
    int status = 2;
    if (fx_keys_load(key, &keys) != FX_OK || fx_keys_load(to_path, &to) != FX_OK ||
        fx_authority_key_load(authority_path, authority) != FX_OK ||
        fx_broker_cert_load(cert, authority, fx_now_ms(), &broker) != FX_OK ||
        fx_client_new(endpoint, keys, broker, &client) != FX_OK) {
        fprintf(stderr, "forge_workflow: cannot load the keys or certificates\n");
        goto cleanup;
    }
    draft.kind = (Fusion__Kind) kind;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    fx_recipient_t recipient = {fx_keys_id(to), fx_keys_box_public(to)};
    static const uint8_t text[] = {0x32, 0x05, 'f', 'o', 'r', 'g', 'e'}; /* SectionContent text */
    /* SectionContent referral (2) {reason (1) "forge"[, consent_recorded (5) true]} */
    static const uint8_t ref[] = {0x12, 0x07, 0x0a, 0x05, 'f', 'o', 'r', 'g', 'e'};
    static const uint8_t ref_recorded[] = {0x12, 0x09, 0x0a, 0x05, 'f', 'o',
                                           'r',  'g',  'e',  0x28, 0x01};
    const uint8_t *plain = referral ? (recorded ? ref_recorded : ref) : text;
    size_t plain_len = referral ? (recorded ? sizeof ref_recorded : sizeof ref) : sizeof text;
    fx_section_draft_t section = {draft.forwarded_from.len ? 2 : 1,
                                  tlp,
                                  1u << FX_CATEGORY_OPERATIONAL,
                                  plain,
                                  plain_len,
                                  &recipient,
                                  1};
    if (fx_envelope_seal(keys, &draft, &section, 1, &env) != FX_OK) {
        fprintf(stderr, "forge_workflow: cannot seal\n");
        goto cleanup;
    }
    fx_answer_t answer;
    fx_err_t rc = fx_client_publish(client, env, 10000, &answer);
    char hex[2 * FX_MSG_ID_BYTES + 1];
    if (rc == FX_OK) {
        printf("ACCEPTED %s\n", fx_hex(fx_envelope_msg_id(env), FX_MSG_ID_BYTES, hex));
        status = 0;
    } else if (answer.refused) {
        printf("REJECTED %s: %s\n", answer.code, answer.reason);
        status = 1;
    } else {
        printf("no answer (%s)\n", fx_strerror(rc));
        status = 5;
    }
cleanup:
    fx_envelope_destroy(&env);
    fx_client_destroy(&client);
    fx_cert_destroy(&broker);
    fx_keys_destroy(&to);
    fx_keys_destroy(&keys);
    return status;
}
