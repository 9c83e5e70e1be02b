/* fusion-agent send: a draft goes out end to end. Older outbox entries first; then PREPARE shows
 * who will and will not receive each section and why; after confirmation the message is sealed for
 * exactly the allowed recipients, stored in the outbox, and published. When the broker is down
 * the draft stays queued and a later send, listen or flush delivers it. */
#include <getopt.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_compose.h"
#include "agent_net.h"
#include "fusion/cli.h"
#include "fusion/vocab.h"

static void s_help(void)
{
    printf(
        "Usage: %s send DRAFT [--yes] [--timeout S] [--config FILE]\n\n"
        "Sends the message described by DRAFT (YAML or JSON; see docs/drafts.md). Older\n"
        "messages waiting in the outbox go first. The broker then says, for each section,\n"
        "who will receive it and who will not, with the rule and the reason; after you\n"
        "confirm, the message is sealed for exactly the allowed recipients (a section that\n"
        "nobody may receive is dropped), stored in the outbox, and published. On success it\n"
        "prints 'accepted: msg_id HEX'.\n\n"
        "When the broker cannot be reached the draft stays queued in the outbox (exit 5);\n"
        "a later send, listen or flush delivers it, to the recipients the policy allows then.\n\n"
        "Options:\n"
        "  -y, --yes      send without asking for confirmation (required without a terminal)\n"
        "  --timeout S    seconds to wait for each answer from the broker (default %d)\n"
        "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
        "  -h, --help     this help\n",
        AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the broker accepted the message, 1 when you did not confirm, 2 for an\n"
           "invalid draft (a recipient the directory does not hold included) or a sealed\n"
           "message larger than the broker takes (its max_message_bytes): nothing is sent; 3\n"
           "when the broker rejected it or nothing may be sent, 5 when it is queued because\n"
           "the broker could not be reached.\n");
    fx_cli_print_exit_codes();
}

static const char *s_word(fx_vocab_t vocab, int value)
{
    const char *word = fx_vocab_name(vocab, value);
    return word ? word : "-";
}

/* Queues the draft for a later send, listen or flush. */
static int s_queue(agent_session_t *s, const fx_draft_t *draft, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_draft_serialize(draft, &data, &len);
    char *copy = fx_strdup(path);
    int64_t id = 0;
    fx_err_t rc =
        fx_mailbox_outbox_add(s->mailbox, data, len, basename(copy),
                              (int64_t) fx_draft_header(draft)->expires_at, fx_now_ms(), &id);
    free(copy);
    sodium_memzero(data, len); /* plaintext */
    free(data);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s; the draft was NOT queued", s->command,
                     fx_mailbox_path(s->mailbox), fx_strerror(rc));
        return FX_EXIT_SYSTEM;
    }
    int status = agent_session_unreachable(s);
    fprintf(stderr,
            "%s: %s: the draft is queued in the outbox as #%lld; a later '%s send', "
            "'%s listen' or '%s flush' sends it, to the recipients the policy allows then\n",
            AGENT_PROG, s->command, (long long) id, AGENT_PROG, AGENT_PROG, AGENT_PROG);
    return status;
}

static void s_print_draft(const char *path, const fx_draft_t *draft)
{
    const Fusion__Header *h = fx_draft_header(draft);
    printf("Draft %s: %s, audience %s", path, s_word(FX_VOCAB_KIND, (int) h->kind),
           s_word(FX_VOCAB_AUDIENCE, (int) h->audience));
    if (h->route && h->route[0])
        printf(", route %s", h->route);
    if (h->stage)
        printf(", stage %s", s_word(FX_VOCAB_STAGE, (int) h->stage));
    if (h->purpose)
        printf(", purpose %s", s_word(FX_VOCAB_PURPOSE, (int) h->purpose));
    if (h->taskforce && h->taskforce[0])
        printf(", taskforce %s", h->taskforce);
    if (h->exercise && h->exercise[0])
        printf(", exercise %s", h->exercise);
    printf("\n");
}

/* Prints who will and will not receive each section; returns how many sections can go. */
static size_t s_print_prepared(const fx_draft_t *draft, const fx_prepared_t *prepared)
{
    size_t sendable = 0;
    for (size_t i = 0; i < fx_prepared_section_count(prepared); i++) {
        char cats[256];
        fx_draft_categories_text(fx_draft_section_categories(draft, i), cats, sizeof cats);
        printf("\nSection %u (tlp %s; %s):\n", fx_prepared_section_id(prepared, i),
               s_word(FX_VOCAB_TLP, fx_draft_section_tlp(draft, i)), cats);
        size_t allowed = fx_prepared_allowed_count(prepared, i);
        size_t denied = fx_prepared_denied_count(prepared, i);
        if (allowed) {
            sendable++;
            printf("  will receive it:\n");
            for (size_t j = 0; j < allowed; j++) {
                const fx_cert_t *cert = fx_prepared_allowed(prepared, i, j);
                char fp[FX_FINGERPRINT_BUFSIZE];
                fx_cert_fingerprint(cert, fp);
                printf("    %s (fingerprint %s)\n", fx_cert_id(cert), fp);
            }
        }
        if (denied) {
            printf("  will NOT receive it:\n");
            for (size_t j = 0; j < denied; j++) {
                const fx_denial_t *d = fx_prepared_denied(prepared, i, j);
                printf("    %s: %s%s%s%s\n", d->recipient, d->code, d->rule[0] ? " (rule " : "",
                       d->rule, d->rule[0] ? ")" : "");
                if (d->reason[0]) {
                    printf("      ");
                    agent_print_text(stdout, d->reason, "      ");
                    printf("\n");
                }
            }
        }
        if (!allowed)
            printf("  nobody may receive this section: it will be dropped\n");
    }
    return sendable;
}

/* Why nobody may receive any section when the broker named no one it denied: nobody but the
 * sender was a candidate for the audience (a message never goes to its sender). */
static void s_nobody_reason(const agent_session_t *s, const fx_draft_t *draft, char *buf,
                            size_t size)
{
    const Fusion__Header *h = fx_draft_header(draft);
    const char *self = fx_keys_id(s->keys);
    size_t n = fx_draft_recipient_count(draft), only_self = n > 0;
    for (size_t i = 0; i < n; i++)
        only_self = only_self && strcmp(fx_draft_recipients(draft)[i], self) == 0;
    switch (h->audience) {
    case FUSION__AUDIENCE__AUDIENCE_DIRECT:
        snprintf(buf, size, "%s",
                 only_self ? "you cannot send to yourself"
                           : "nobody but you is among the recipients named, and you cannot send "
                             "to yourself");
        break;
    case FUSION__AUDIENCE__AUDIENCE_ROUTE:
        snprintf(buf, size, "nobody follows this route (%s)", h->route ? h->route : "");
        break;
    case FUSION__AUDIENCE__AUDIENCE_TASKFORCE:
        snprintf(buf, size, "nobody but you is a member of the taskforce %s",
                 h->taskforce ? h->taskforce : "");
        break;
    case FUSION__AUDIENCE__AUDIENCE_FOCAL_POINTS:
        snprintf(buf, size, "there is no focal point but you");
        break;
    default:
        snprintf(buf, size, "the broker found no recipient for this audience");
    }
}

int agent_check_recipients(const char *command, const fx_directory_t *dir, const char *const *ids,
                           size_t n, const char *tail)
{
    for (size_t i = 0; i < n; i++) {
        int known = fx_directory_find(dir, ids[i]) != NULL;
        for (size_t k = 0; !known && k < fx_directory_count(dir); k++)
            known = fx_directory_status_at(dir, k) == FX_CERT_STATUS_VALID &&
                    strcmp(fx_cert_agency(fx_directory_at(dir, k)), ids[i]) == 0;
        if (!known) {
            /* An id typed wrong is bad input: exit 2, as for every other invalid recipient. */
            fx_cli_error(AGENT_PROG,
                         "%s: %s is not a principal or agency of the directory (or its "
                         "certificate is revoked or expired)%s",
                         command, ids[i], tail);
            return FX_EXIT_USAGE;
        }
    }
    return FX_EXIT_OK;
}

/* Asks on the terminal; 1 for yes. */
static int s_confirm(void)
{
    printf("\nSend it to the recipients above? [y/N] ");
    fflush(stdout);
    char line[32];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    return strcmp(line, "y\n") == 0 || strcmp(line, "Y\n") == 0 || strcmp(line, "yes\n") == 0;
}

static int s_send(agent_session_t *s, const char *path, const fx_draft_t *draft, int yes)
{
    /* Older messages first, so the outbox keeps its order. */
    int64_t *ids = NULL;
    size_t pending = 0;
    agent_flush_t flush = {0};
    if (fx_mailbox_outbox_pending(s->mailbox, 10000, &ids, &pending) == FX_OK && pending) {
        printf("Sending %zu older message(s) from the outbox first:\n", pending);
        agent_flush_outbox(s, 0, stdout, &flush);
    }
    free(ids);
    if (flush.failed)
        return FX_EXIT_SYSTEM;
    if (flush.unavailable)
        return s_queue(s, draft, path);

    fx_err_t rc = agent_session_directory(s);
    if (rc == FX_ERR_UNAVAILABLE)
        return s_queue(s, draft, path);
    if (rc != FX_OK)
        return fx_err_exit(rc);
    /* Named recipients the directory does not hold are a mistake to correct before anything is
     * sent, not recipients the policy denies. */
    int status = agent_check_recipients(s->command, s->directory, fx_draft_recipients(draft),
                                        fx_draft_recipient_count(draft), "; nothing was sent");
    if (status != FX_EXIT_OK)
        return status;
    fx_prepared_t *prepared = NULL;
    fx_envelope_t *env = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_answer_t answer;
    rc = fx_client_prepare(s->client, fx_draft_header(draft), fx_draft_recipients(draft),
                           fx_draft_recipient_count(draft), s->authority,
                           fx_directory_revocations(s->directory), fx_now_ms(), s->timeout_ms,
                           &prepared, &answer);
    if (rc == FX_ERR_UNAVAILABLE) {
        status = s_queue(s, draft, path);
        goto cleanup;
    }
    if (rc != FX_OK) {
        if (answer.refused)
            fx_cli_error(AGENT_PROG, "%s: the broker refused to prepare %s: %s: %s", s->command,
                         path, answer.code, answer.reason);
        else
            fx_cli_error(AGENT_PROG, "%s: the broker's PREPARED answer broke the protocol (%s)",
                         s->command, fx_strerror(rc));
        status = answer.refused ? fx_err_exit(rc) : FX_EXIT_SYSTEM;
        goto cleanup;
    }
    s_print_draft(path, draft);
    if (s_print_prepared(draft, prepared) == 0) {
        size_t denials = 0;
        for (size_t i = 0; i < fx_prepared_section_count(prepared); i++)
            denials += fx_prepared_denied_count(prepared, i);
        char why[FX_ENVELOPE_MAX_STRING + 96];
        if (denials)
            snprintf(why, sizeof why,
                     "the policy allows no recipient for any section (see the "
                     "reasons above)");
        else
            s_nobody_reason(s, draft, why, sizeof why);
        fx_cli_error(AGENT_PROG, "%s: nothing can be sent: %s", s->command, why);
        status = FX_EXIT_REFUSED;
        goto cleanup;
    }
    if (!yes && !s_confirm()) {
        printf("Not sent.\n");
        status = FX_EXIT_NO;
        goto cleanup;
    }
    uint32_t dropped[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_dropped = 0;
    rc = agent_seal_prepared(s->keys, fx_draft_header(draft), draft, prepared, &env, dropped,
                             &n_dropped);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: cannot seal the message: %s", s->command, fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    for (size_t i = 0; i < n_dropped; i++)
        printf("Section %u dropped: the policy allows no recipient for it.\n", dropped[i]);
    /* Larger than the broker takes: its transport would drop the connection with no answer, at
     * every try. Input over a limit, as a section's file over its limit: exit 2. */
    char why[FX_CLIENT_REASON_MAX];
    if (agent_too_large(s->client, env, why, sizeof why)) {
        fx_cli_error(AGENT_PROG, "%s: %s; nothing was sent: %s", s->command, why,
                     agent_too_large_fix(fx_envelope_header(env)));
        status = FX_EXIT_USAGE;
        goto cleanup;
    }

    /* Stored sealed before the first PUBLISH: every retry sends these exact bytes. */
    int64_t id = 0;
    char *copy = fx_strdup(path);
    fx_draft_serialize(draft, &data, &len);
    rc = fx_mailbox_outbox_add(s->mailbox, data, len, basename(copy),
                               (int64_t) fx_draft_header(draft)->expires_at, fx_now_ms(), &id);
    free(copy);
    if (rc == FX_OK)
        rc = fx_mailbox_outbox_seal(s->mailbox, id, env, fx_now_ms());
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: mailbox %s: %s; nothing was sent", s->command,
                     fx_mailbox_path(s->mailbox), fx_strerror(rc));
        status = FX_EXIT_SYSTEM;
        goto cleanup;
    }
    rc = agent_publish_entry(s, id, stdout, &answer);
    if (rc == FX_OK) {
        status = FX_EXIT_OK;
    } else if (answer.refused && strcmp(answer.code, "stale") == 0) {
        /* Back in the queue: prepare and seal once more with a fresh time. */
        agent_flush_outbox(s, id, stdout, &flush);
        status = flush.accepted      ? FX_EXIT_OK
                 : flush.rejected    ? FX_EXIT_REFUSED
                 : flush.unavailable ? FX_EXIT_UNAVAILABLE
                                     : FX_EXIT_SYSTEM;
    } else if (answer.refused && agent_too_large(s->client, env, why, sizeof why)) {
        /* The broker's limit changed since the check above (a restart): refused in the outbox */
        fx_cli_error(AGENT_PROG, "%s: %s; nothing was sent: %s", s->command, why,
                     agent_too_large_fix(fx_envelope_header(env)));
        status = FX_EXIT_USAGE;
    } else if (answer.refused) {
        fx_cli_error(AGENT_PROG, "%s: the broker rejected the message: %s%s%s%s: %s", s->command,
                     answer.code, answer.rule[0] ? " (rule " : "", answer.rule,
                     answer.rule[0] ? ")" : "", answer.reason);
        status = FX_EXIT_REFUSED;
    } else if (rc == FX_ERR_UNAVAILABLE) {
        status = agent_session_unreachable(s);
        fprintf(stderr,
                "%s: %s: the sealed message waits in the outbox as #%lld; a later '%s "
                "send', '%s listen' or '%s flush' sends it (with the same msg_id)\n",
                AGENT_PROG, s->command, (long long) id, AGENT_PROG, AGENT_PROG, AGENT_PROG);
    } else {
        status = FX_EXIT_SYSTEM;
    }
cleanup:
    if (data) {
        sodium_memzero(data, len);
        free(data);
    }
    fx_envelope_destroy(&env);
    fx_prepared_destroy(&prepared);
    return status;
}

int agent_send(int argc, char **argv)
{
    static const struct option options[] = {
        {"yes", no_argument, NULL, 'y'},
        {"timeout", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int yes = 0, timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "yh", options, NULL)) != -1) {
        if (opt == 'y') {
            yes = 1;
        } else if (opt == 't') {
            if (agent_parse_seconds("send", "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'c') {
            config = optarg;
        } else if (opt == 'h') {
            s_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG, "send: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "send: give exactly one DRAFT file (try '%s send --help')",
                     AGENT_PROG);
        return FX_EXIT_USAGE;
    }
    const char *path = argv[optind];
    if (!yes && !isatty(STDIN_FILENO)) {
        fx_cli_error(AGENT_PROG,
                     "send: there is no terminal to confirm the recipients on; run it on a "
                     "terminal, or add --yes to send to whoever the policy allows without "
                     "asking");
        return FX_EXIT_USAGE;
    }
    fx_diag_t *diag = fx_diag_new(path);
    fx_draft_t *draft = NULL;
    if (fx_draft_load(path, fx_now_ms(), diag, &draft) != FX_OK) {
        fx_diag_print(diag, stderr, AGENT_PROG ": ");
        fx_diag_destroy(&diag);
        return FX_EXIT_USAGE;
    }
    fx_diag_destroy(&diag);
    agent_session_t session;
    int status = agent_session_open(&session, "send", agent_config_path(config), timeout_ms);
    if (status == FX_EXIT_OK)
        status = s_send(&session, path, draft, yes);
    agent_session_close(&session);
    fx_draft_destroy(&draft);
    return status;
}

int agent_send_draft(agent_session_t *s, const char *label, const fx_draft_t *draft, int yes)
{
    return s_send(s, label, draft, yes);
}
