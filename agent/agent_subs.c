/* fusion-agent subscriptions: the route subscriptions the broker holds for this principal
 * (SUBSCRIPTIONS_REQUEST), as text or JSON. Subscribing and unsubscribing are in agent_net.c. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cli.h"
#include "fusion/vocab.h"

static void s_help(void)
{
    printf("Usage: %s subscriptions [--json] [--timeout S] [--config FILE]\n\n"
           "Lists the route patterns this principal follows, as the broker holds them, with\n"
           "the stages and kinds each is limited to and the exercise it belongs to.\n\n"
           "Options:\n"
           "  --json         one JSON document: {\"subscriptions\": [{\"pattern\": ...,\n"
           "                 \"stages\": [...], \"kinds\": [...], \"exercise\": ...}]}\n"
           "  --timeout S    seconds to wait for the broker (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

static json_t *s_words_json(fx_vocab_t vocab, uint32_t mask)
{
    json_t *list = json_array();
    for (int v = 1; v < fx_vocab_size(vocab); v++)
        if (mask & (1u << v))
            json_array_append_new(list, json_string(fx_vocab_name(vocab, v)));
    return list;
}

static void s_words_text(fx_vocab_t vocab, uint32_t mask, const char *all, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 1; v < fx_vocab_size(vocab) && used < size; v++)
        if (mask & (1u << v))
            used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? "," : "",
                                      fx_vocab_name(vocab, v));
    if (!mask)
        snprintf(buf, size, "%s", all);
}

static void s_print(const fx_subscription_t *list, size_t n, int json)
{
    if (json) {
        json_t *items = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                items, json_pack("{s:s, s:o, s:o, s:s?}", "pattern", list[i].pattern, "stages",
                                 s_words_json(FX_VOCAB_STAGE, list[i].stages), "kinds",
                                 s_words_json(FX_VOCAB_KIND, list[i].kinds), "exercise",
                                 list[i].exercise[0] ? list[i].exercise : NULL));
        json_t *doc = json_pack("{s:o}", "subscriptions", items);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(doc);
        return;
    }
    if (n == 0) {
        printf("no route subscriptions (add one with '%s subscribe PATTERN')\n", AGENT_PROG);
        return;
    }
    printf("%-32s %-34s %-28s %s\n", "PATTERN", "STAGES", "KINDS", "EXERCISE");
    for (size_t i = 0; i < n; i++) {
        char stages[128], kinds[256];
        s_words_text(FX_VOCAB_STAGE, list[i].stages, "all", stages, sizeof stages);
        s_words_text(FX_VOCAB_KIND, list[i].kinds, "all", kinds, sizeof kinds);
        printf("%-32s %-34s %-28s %s\n", list[i].pattern, stages, kinds,
               list[i].exercise[0] ? list[i].exercise : "(live)");
    }
}

int agent_subscriptions(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int json = 0, timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'j') {
            json = 1;
        } else if (opt == 'c') {
            config = optarg;
        } else if (opt == 't') {
            if (agent_parse_seconds("subscriptions", "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'h') {
            s_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "subscriptions: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "subscriptions: unexpected argument '%s' (try --help)",
                     argv[optind]);
        return FX_EXIT_USAGE;
    }
    agent_session_t session;
    int status =
        agent_session_open(&session, "subscriptions", agent_config_path(config), timeout_ms);
    if (status == FX_EXIT_OK) {
        fx_subscription_t *list = NULL;
        size_t n = 0;
        fx_answer_t answer;
        fx_err_t rc = fx_client_subscriptions(session.client, timeout_ms, &list, &n, &answer);
        if (rc == FX_OK) {
            s_print(list, n, json);
        } else if (rc == FX_ERR_UNAVAILABLE) {
            status = agent_session_unreachable(&session);
        } else if (answer.refused) {
            fx_cli_error(AGENT_PROG, "subscriptions: the broker refused: %s: %s", answer.code,
                         answer.reason);
            status = fx_err_exit(rc);
        } else {
            fx_cli_error(AGENT_PROG, "subscriptions: the broker's answer broke the protocol (%s)",
                         fx_strerror(rc));
            status = FX_EXIT_SYSTEM;
        }
        free(list);
    }
    agent_session_close(&session);
    return status;
}
