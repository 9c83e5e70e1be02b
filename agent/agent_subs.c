/* fusion-agent subscribe, unsubscribe and subscriptions: route subscriptions, whose patterns are
 * checked here before anything is sent, and the ones the broker holds for this principal
 * (SUBSCRIPTIONS_REQUEST), as text or JSON. The broker keeps one subscription per pattern and
 * exercise: subscribing again replaces its stages and kinds, and subscribe says so. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cli.h"
#include "fusion/route.h"
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

/* ---- fusion-agent subscribe / unsubscribe --------------------------------------------------- */

static void s_subscribe_help(int unsubscribe)
{
    if (unsubscribe)
        printf("Usage: %s unsubscribe PATTERN [--exercise ID] [--timeout S] [--config FILE]\n\n"
               "Stops route alerts for a pattern this principal subscribed to.\n\n",
               AGENT_PROG);
    else
        printf("Usage: %s subscribe PATTERN [--stage S,...] [--kind K,...] [--exercise ID]\n"
               "                 [--timeout S] [--config FILE]\n\n"
               "Subscribes this principal to alerts on the routes PATTERN matches (stored by\n"
               "the broker). A pattern is 1 to 32 hops separated by '>': a country code (THA),\n"
               "a country and point (THA:BKK), '*' (exactly one hop) or '**' (any number of\n"
               "hops); it must match the whole route. Examples: 'MMR>**>MYS', '**>THA:BKK>**'.\n"
               "Quote it: '>' and '*' mean something to the shell. Subscribing again to the same\n"
               "pattern (and exercise) replaces its stages and kinds: subscribe says what they\n"
               "were and what they are now.\n\n"
               "  --stage S,...  only these stages (pre_travel, at_border, post_arrival)\n"
               "  --kind K,...   only these message kinds (case_alert, referral, ...)\n",
               AGENT_PROG);
    printf("  --exercise ID  the subscription is for that exercise's traffic, not live traffic;\n"
           "                 only a participant of the exercise (as the policy lists them) may\n"
           "                 subscribe for it\n"
           "  --timeout S    seconds to wait for the broker (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the broker confirmed it, 2 for a bad pattern or option (nothing is\n"
           "sent), 3 when the broker refused it (an exercise the policy does not list, or one\n"
           "this principal takes no part in), 1 when unsubscribing from a pattern not\n"
           "subscribed to, 5 when the broker could not be reached.\n");
    fx_cli_print_exit_codes();
}

/* "stages at_border, kinds case_alert" ("all" for no limit). */
static void s_limits_text(uint32_t stages, uint32_t kinds, char *buf, size_t size)
{
    char stage_words[128], kind_words[256];
    s_words_text(FX_VOCAB_STAGE, stages, "all", stage_words, sizeof stage_words);
    s_words_text(FX_VOCAB_KIND, kinds, "all", kind_words, sizeof kind_words);
    snprintf(buf, size, "stages %s, kinds %s", stage_words, kind_words);
}

static int s_subscription(int argc, char **argv, int unsubscribe)
{
    const char *cmd = unsubscribe ? "unsubscribe" : "subscribe";
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"stage", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"exercise", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *exercise = "";
    uint32_t stages = 0, kinds = 0;
    int timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, opt;
    char bad[64];
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'c') {
            config = optarg;
        } else if (opt == 't') {
            if (agent_parse_seconds(cmd, "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'e') {
            exercise = optarg;
        } else if ((opt == 's' || opt == 'k') && !unsubscribe) {
            fx_vocab_t vocab = opt == 's' ? FX_VOCAB_STAGE : FX_VOCAB_KIND;
            uint32_t *mask = opt == 's' ? &stages : &kinds;
            int unknown = fx_vocab_parse_mask(vocab, optarg, mask, bad, sizeof bad) != 0;
            if (!unknown && *mask == 0) {
                /* an empty list would mean "all", the opposite of what a limit says */
                fx_cli_error(AGENT_PROG, "%s: --%s names no %s; leave it out for all", cmd,
                             opt == 's' ? "stage" : "kind", fx_vocab_title(vocab));
                return FX_EXIT_USAGE;
            }
            if (unknown) {
                char words[256];
                fx_vocab_list(vocab, words, sizeof words);
                fx_cli_error(AGENT_PROG, "%s: unknown %s '%s' (expected one of: %s)", cmd,
                             fx_vocab_title(vocab), bad, words);
                return FX_EXIT_USAGE;
            }
        } else if (opt == 'h') {
            s_subscribe_help(unsubscribe);
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG, "%s: unknown or incomplete option '%s' (try --help)", cmd,
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "%s: give exactly one route PATTERN (try --help)", cmd);
        return FX_EXIT_USAGE;
    }
    fx_route_pattern_t *pattern = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    if (fx_route_pattern_parse(argv[optind], &pattern, why) != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: invalid route pattern '%s': %s", cmd, argv[optind], why);
        return FX_EXIT_USAGE;
    }
    if (strlen(exercise) > FX_ENVELOPE_MAX_STRING) {
        fx_cli_error(AGENT_PROG, "%s: --exercise is longer than %d bytes", cmd,
                     FX_ENVELOPE_MAX_STRING);
        fx_route_pattern_destroy(&pattern);
        return FX_EXIT_USAGE;
    }
    fx_subscription_t *list = NULL, *old = NULL;
    size_t n = 0;
    agent_session_t session;
    int status = agent_session_open(&session, cmd, agent_config_path(config), timeout_ms);
    if (status != FX_EXIT_OK)
        goto cleanup;
    const char *text = fx_route_pattern_text(pattern);
    fx_answer_t answer;
    fx_err_t rc;
    if (!unsubscribe) {
        /* The subscription this one replaces, if any. A list the broker refuses is left out:
         * the subscription's own answer says what is wrong. */
        rc = fx_client_subscriptions(session.client, timeout_ms, &list, &n, &answer);
        if (rc == FX_ERR_UNAVAILABLE && !answer.refused) {
            status = agent_session_unreachable(&session);
            goto cleanup;
        }
        for (size_t i = 0; rc == FX_OK && i < n && !old; i++)
            if (strcmp(list[i].pattern, text) == 0 && strcmp(list[i].exercise, exercise) == 0)
                old = &list[i];
    }
    rc = unsubscribe ? fx_client_unsubscribe(session.client, text, exercise, timeout_ms, &answer)
                     : fx_client_subscribe(session.client, text, stages, kinds, exercise,
                                           timeout_ms, &answer);
    if (rc == FX_OK) {
        printf("%s %s%s%s\n", unsubscribe ? "unsubscribed from" : "subscribed to", text,
               exercise[0] ? " for exercise " : "", exercise);
        char was[512], now[512];
        s_limits_text(stages, kinds, now, sizeof now);
        if (old && old->stages == stages && old->kinds == kinds)
            printf("unchanged: it was subscribed to already, with %s\n", now);
        else if (old) {
            s_limits_text(old->stages, old->kinds, was, sizeof was);
            printf("replaced the subscription to the same pattern: it was %s; it is now %s\n", was,
                   now);
        }
        status = FX_EXIT_OK;
    } else if (rc == FX_ERR_UNAVAILABLE && !answer.refused) {
        status = agent_session_unreachable(&session);
    } else if (answer.refused) {
        /* One line: the code, then the broker's reason. */
        fx_cli_error(AGENT_PROG, "%s: the broker refused %s: %s%s%s", cmd,
                     unsubscribe ? "to unsubscribe" : "the subscription", answer.code,
                     answer.reason[0] ? ": " : "", answer.reason);
        status = rc == FX_ERR_NOT_FOUND                             ? FX_EXIT_NO
                 : rc == FX_ERR_STORAGE || rc == FX_ERR_UNAVAILABLE ? fx_err_exit(rc)
                                                                    : FX_EXIT_REFUSED;
    } else {
        fx_cli_error(AGENT_PROG, "%s: the broker's answer broke the protocol (%s)", cmd,
                     fx_strerror(rc));
        status = FX_EXIT_SYSTEM;
    }
cleanup:
    free(list);
    agent_session_close(&session);
    fx_route_pattern_destroy(&pattern);
    return status;
}

int agent_subscribe(int argc, char **argv)
{
    return s_subscription(argc, argv, 0);
}

int agent_unsubscribe(int argc, char **argv)
{
    return s_subscription(argc, argv, 1);
}
