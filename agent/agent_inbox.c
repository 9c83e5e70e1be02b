/* Receiving, after the fact: `fusion-agent inbox` lists the messages the local inbox holds, with
 * filters; `fusion-agent show MSGID` verifies a stored message again and prints it under its TLP
 * banner; and the command `listen --exec` runs for each new message. None of them needs the
 * broker: they read the agent's own mailbox. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/route.h"
#include "fusion/vocab.h"

#define INBOX_MAX 100000

/* ---- Opening the mailbox without the broker ------------------------------------------------- */

static int s_bad_option(const char *command, char **argv)
{
    fx_cli_error(AGENT_PROG, "%s: unknown or incomplete option '%s' (try --help)", command,
                 argv[optind - 1]);
    return FX_EXIT_USAGE;
}

/* ---- listen --exec -------------------------------------------------------------------------- */

static const char *s_max_tlp(const fx_envelope_t *env)
{
    int tlp = 0;
    for (size_t i = 0; i < fx_envelope_section_count(env); i++) {
        const Fusion__SectionDescriptor *d =
            fx_envelope_descriptor(env, fx_envelope_section_id(env, i));
        if (d && (int) d->tlp > tlp)
            tlp = (int) d->tlp;
    }
    const char *word = fx_vocab_name(FX_VOCAB_TLP, tlp);
    return word ? word : "";
}

/* What may be said of a message without its content: identifiers and words, for --exec's
 * environment and --summary's line. */
typedef struct {
    char hex[2 * FX_MSG_ID_BYTES + 1];
    const char *kind, *sender, *urgency, *tlp, *exercise;
} words_t;

static void s_words(const fx_delivery_t *d, words_t *w)
{
    const fx_envelope_t *env = fx_delivery_envelope(d);
    const Fusion__Header *h = fx_envelope_header(env);
    agent_msg_id_hex(fx_envelope_msg_id(env), w->hex);
    w->kind = fx_vocab_name(FX_VOCAB_KIND, (int) h->kind);
    if (!w->kind)
        w->kind = "";
    w->sender = fx_envelope_sender(env);
    w->urgency = agent_urgency_word((int) h->urgency);
    w->tlp = s_max_tlp(env);
    w->exercise = h->exercise ? h->exercise : "";
}

void agent_print_summary(const fx_delivery_t *d)
{
    words_t w;
    s_words(d, &w);
    printf("new message %s: %s from %s, urgency %s, tlp %s%s%s; unread in the inbox (%s show "
           "%s)\n",
           w.hex, w.kind, w.sender, w.urgency, w.tlp, w.exercise[0] ? ", exercise " : "",
           w.exercise, AGENT_PROG, w.hex);
    fflush(stdout);
}

void agent_run_hook(const char *command, const fx_delivery_t *d)
{
    words_t w;
    s_words(d, &w);
    const char *hex = w.hex;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fx_cli_error(AGENT_PROG, "listen: --exec: cannot start the command for %s", hex);
        return;
    }
    if (pid == 0) {
        /* Only identifiers and words go to the command: never content. */
        setenv("FUSION_MSG_ID", w.hex, 1);
        setenv("FUSION_KIND", w.kind, 1);
        setenv("FUSION_SENDER", w.sender, 1);
        setenv("FUSION_URGENCY", w.urgency, 1);
        setenv("FUSION_TLP", w.tlp, 1);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            close(null);
        }
        dup2(STDERR_FILENO, STDOUT_FILENO); /* keeps --json output on stdout clean */
        execl("/bin/sh", "sh", "-c", command, (char *) NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fx_cli_error(AGENT_PROG, "listen: --exec: lost the command for %s", hex);
            return;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fx_cli_error(AGENT_PROG,
                     "listen: --exec command failed for message %s (exit %d); "
                     "listening goes on",
                     hex, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fx_cli_error(AGENT_PROG,
                     "listen: --exec command for message %s was killed by signal "
                     "%d; listening goes on",
                     hex, WTERMSIG(status));
}

/* ---- fusion-agent inbox --------------------------------------------------------------------- */

typedef struct {
    fx_inbox_entry_t *entry;
    int64_t created_at; /* the header's, to order messages received in the same millisecond */
} row_t;

static int s_row_order(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int64_t rx = fx_inbox_entry_received_at(x->entry), ry = fx_inbox_entry_received_at(y->entry);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return memcmp(fx_inbox_entry_msg_id(x->entry), fx_inbox_entry_msg_id(y->entry),
                  FX_MSG_ID_BYTES);
}

typedef struct {
    const char *kind, *from, *tlp;
    fx_route_pattern_t *route;
    int unread, json;
    char from_id[FX_ID_MAX]; /* --from as given, its country in upper case */
} inbox_filter_t;

/* --from: a principal (THA.RTP.fp1), an agency (THA.RTP) or a country (THA), the country part
 * in any case as everywhere else; copied into f->from_id. 0, or -1 after printing the problem.
 * It is compared as a whole id (no wildcards): '*' or '%' is refused, not matched. */
static int s_from_option(inbox_filter_t *f, const char *text)
{
    size_t len = strlen(text);
    int ok = len < sizeof f->from_id;
    if (ok) {
        memcpy(f->from_id, text, len + 1);
        if (len == 3) { /* a country: three letters */
            for (size_t i = 0; i < 3 && ok; i++) {
                char c = f->from_id[i];
                ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
                if (c >= 'a' && c <= 'z')
                    f->from_id[i] = (char) (c - 'a' + 'A');
            }
        } else {
            fx_party_country_upper(f->from_id);
            ok = fx_principal_id_valid(f->from_id) || fx_agency_id_valid(f->from_id);
        }
    }
    if (!ok) {
        fx_cli_error(AGENT_PROG,
                     "inbox: --from '%.64s' is neither a principal (THA.RTP.fp1), an agency "
                     "(THA.RTP) nor a country (THA)",
                     text);
        return -1;
    }
    f->from = f->from_id;
    return 0;
}

/* The sender matches --from when it is that principal or belongs to that agency or country. */
static int s_from_matches(const char *sender, const char *from)
{
    size_t len = strlen(from);
    return strcmp(sender, from) == 0 || (strncmp(sender, from, len) == 0 && sender[len] == '.');
}

static int s_keep(const inbox_filter_t *f, const fx_inbox_entry_t *e)
{
    if (f->kind && strcmp(fx_inbox_entry_kind(e), f->kind) != 0)
        return 0;
    if (f->from && !s_from_matches(fx_inbox_entry_sender(e), f->from))
        return 0;
    if (f->tlp && strcmp(fx_inbox_entry_tlp(e), f->tlp) != 0)
        return 0;
    if (f->unread && fx_inbox_entry_state(e) != FX_INBOX_NEW)
        return 0;
    if (f->route) {
        fx_route_t *route = NULL;
        char why[FX_ROUTE_WHY_SIZE];
        int match = fx_inbox_entry_route(e)[0] &&
                    fx_route_parse(fx_inbox_entry_route(e), &route, why) == FX_OK &&
                    fx_route_pattern_match(f->route, route);
        fx_route_destroy(&route);
        if (!match)
            return 0;
    }
    return 1;
}

static void s_print_rows(row_t *rows, size_t n, int json)
{
    json_t *list = json ? json_array() : NULL;
    if (!json && n > 0)
        printf("%-32s  %-24s  %-17s  %-20s  %-12s  %-14s  %-7s  %s\n", "MSG_ID", "RECEIVED", "KIND",
               "FROM", "TLP", "ROUTE", "URGENCY", "STATE");
    for (size_t i = 0; i < n; i++) {
        const fx_inbox_entry_t *e = rows[i].entry;
        char hex[2 * FX_MSG_ID_BYTES + 1], when[FX_TIME_BUFSIZE];
        agent_msg_id_hex(fx_inbox_entry_msg_id(e), hex);
        fx_time_format(fx_inbox_entry_received_at(e), when);
        const char *state = fx_inbox_state_name(fx_inbox_entry_state(e));
        /* The word the mailbox keeps ("" for a header without urgency), as every view says it. */
        const char *urgency =
            agent_urgency_word(fx_vocab_parse(FX_VOCAB_URGENCY, fx_inbox_entry_urgency(e)));
        if (json) {
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", hex, "received_at", when,
                          "kind", fx_inbox_entry_kind(e), "sender", fx_inbox_entry_sender(e), "tlp",
                          fx_inbox_entry_tlp(e), "state", state, "urgency", urgency);
            if (rows[i].created_at) {
                char sent[FX_TIME_BUFSIZE];
                fx_time_format(rows[i].created_at, sent);
                json_object_set_new(o, "sent_at", json_string(sent));
            }
            if (fx_inbox_entry_route(e)[0])
                json_object_set_new(o, "route", json_string(fx_inbox_entry_route(e)));
            json_array_append_new(list, o);
        } else {
            const char *route = fx_inbox_entry_route(e)[0] ? fx_inbox_entry_route(e) : "-";
            printf("%-32s  %-24s  %-17s  %-20s  %-12s  %-14s  %-7s  %s\n", hex, when,
                   fx_inbox_entry_kind(e), fx_inbox_entry_sender(e), fx_inbox_entry_tlp(e), route,
                   urgency, state);
        }
    }
    if (json) {
        json_t *doc = json_pack("{s:o}", "messages", list);
        char *text = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else if (n == 0) {
        printf("no messages\n");
    }
}

static int s_list(agent_session_t *s, const inbox_filter_t *f)
{
    uint8_t *ids = NULL;
    size_t count = 0;
    if (fx_mailbox_inbox_list(s->mailbox, INBOX_MAX, &ids, &count) != FX_OK) {
        fx_cli_error(AGENT_PROG, "inbox: mailbox %s: cannot read the inbox",
                     fx_mailbox_path(s->mailbox));
        return FX_EXIT_SYSTEM;
    }
    row_t *rows = fx_calloc(count ? count : 1, sizeof *rows);
    size_t n = 0;
    int status = FX_EXIT_OK;
    for (size_t i = 0; i < count; i++) {
        fx_inbox_entry_t *e = NULL;
        if (fx_mailbox_inbox_get(s->mailbox, ids + i * FX_MSG_ID_BYTES, &e) != FX_OK) {
            status = FX_EXIT_SYSTEM;
            break;
        }
        if (!s_keep(f, e)) {
            fx_inbox_entry_destroy(&e);
            continue;
        }
        size_t len = 0;
        const uint8_t *bytes = fx_inbox_entry_envelope(e, &len);
        fx_envelope_t *env = NULL;
        if (fx_envelope_decode(bytes, len, &env) == FX_OK)
            rows[n].created_at = (int64_t) fx_envelope_header(env)->created_at;
        fx_envelope_destroy(&env);
        rows[n++].entry = e;
    }
    if (status == FX_EXIT_OK) {
        qsort(rows, n, sizeof *rows, s_row_order);
        s_print_rows(rows, n, f->json);
    } else {
        fx_cli_error(AGENT_PROG, "inbox: mailbox %s: cannot read a message",
                     fx_mailbox_path(s->mailbox));
    }
    for (size_t i = 0; i < n; i++)
        fx_inbox_entry_destroy(&rows[i].entry);
    free(rows);
    free(ids);
    return status;
}

static void s_inbox_help(void)
{
    printf("Usage: %s inbox [--kind K] [--from ID] [--tlp T] [--route PATTERN] [--unread]\n"
           "                 [--json] [--config FILE]\n\n"
           "Lists the messages in this agent's inbox, oldest first: msg_id, when it arrived,\n"
           "kind, sender, TLP (the highest of the sections you received), route, urgency and\n"
           "state (new or read). It reads the local mailbox only; 'listen' fills it.\n\n"
           "Options:\n"
           "  --kind K         only this kind (case_alert, referral, referral_response, ...)\n"
           "  --from ID        only from this principal (THA.RTP.fp1), agency (THA.RTP) or\n"
           "                   country (THA); a whole id, no wildcards\n"
           "  --tlp T          only messages whose highest TLP is T (clear, green, amber,\n"
           "                   amber_strict, red)\n"
           "  --route PATTERN  only messages on a route PATTERN matches ('MMR>**')\n"
           "  --unread         only messages not shown yet\n"
           "  --json           {\"messages\": [{\"msg_id\": ..., \"kind\": ..., ...}]}\n"
           "  --config FILE    agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help       this help\n",
           AGENT_PROG, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

/* Checks a word of an enumeration given as an option; prints the problem. */
static int s_word_option(const char *command, const char *option, fx_vocab_t vocab,
                         const char *word)
{
    if (fx_vocab_parse(vocab, word) > 0)
        return 0;
    char words[256];
    fx_vocab_list(vocab, words, sizeof words);
    fx_cli_error(AGENT_PROG, "%s: %s: unknown %s '%s' (expected one of: %s)", command, option,
                 fx_vocab_title(vocab), word, words);
    return -1;
}

int agent_inbox(int argc, char **argv)
{
    static const struct option options[] = {
        {"kind", required_argument, NULL, 'k'},
        {"from", required_argument, NULL, 'f'},
        {"tlp", required_argument, NULL, 'T'},
        {"route", required_argument, NULL, 'r'},
        {"unread", no_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    inbox_filter_t f = {NULL, NULL, NULL, NULL, 0, 0, ""};
    const char *config = NULL;
    int opt, status = FX_EXIT_USAGE;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'k') {
            if (s_word_option("inbox", "--kind", FX_VOCAB_KIND, optarg) != 0)
                goto cleanup;
            f.kind = optarg;
        } else if (opt == 'T') {
            if (s_word_option("inbox", "--tlp", FX_VOCAB_TLP, optarg) != 0)
                goto cleanup;
            f.tlp = optarg;
        } else if (opt == 'f') {
            if (s_from_option(&f, optarg) != 0)
                goto cleanup;
        } else if (opt == 'r') {
            char why[FX_ROUTE_WHY_SIZE];
            fx_route_pattern_destroy(&f.route);
            if (fx_route_pattern_parse(optarg, &f.route, why) != FX_OK) {
                fx_cli_error(AGENT_PROG, "inbox: --route: invalid route pattern '%s': %s", optarg,
                             why);
                goto cleanup;
            }
        } else if (opt == 'u') {
            f.unread = 1;
        } else if (opt == 'j') {
            f.json = 1;
        } else if (opt == 'c') {
            config = optarg;
        } else if (opt == 'h') {
            s_inbox_help();
            status = FX_EXIT_OK;
            goto cleanup;
        } else {
            status = s_bad_option("inbox", argv);
            goto cleanup;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "inbox: unexpected argument '%s' (try --help)", argv[optind]);
        goto cleanup;
    }
    agent_session_t session;
    status = agent_session_open_local(&session, "inbox", agent_config_path(config));
    if (status == FX_EXIT_OK)
        status = s_list(&session, &f);
    agent_session_close(&session);
cleanup:
    fx_route_pattern_destroy(&f.route);
    return status;
}

/* ---- fusion-agent show ---------------------------------------------------------------------- */

/* The FIRST TLP 2.0 label and what it asks of the reader. */
static void s_banner(const char *tlp, int colour)
{
    static const struct {
        const char *word, *label, *ansi, *meaning;
    } labels[] = {
        {"clear", "TLP:CLEAR", "\033[1;37;40m", "disclosure is not limited"},
        {"green", "TLP:GREEN", "\033[1;32;40m",
         "limited disclosure: you may share it within your community, not publicly"},
        {"amber", "TLP:AMBER", "\033[1;33;40m",
         "limited disclosure: share it only on a need-to-know basis within your organisation "
         "and with those who must act on it"},
        {"amber_strict", "TLP:AMBER+STRICT", "\033[1;33;40m",
         "limited disclosure: share it only on a need-to-know basis within your organisation"},
        {"red", "TLP:RED", "\033[1;31;40m",
         "for your eyes only: do not pass it on to anyone, not even within your organisation"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        if (strcmp(labels[i].word, tlp) != 0)
            continue;
        if (colour)
            printf("%s %s \033[0m %s\n", labels[i].ansi, labels[i].label, labels[i].meaning);
        else
            printf("[ %s ] %s\n", labels[i].label, labels[i].meaning);
        return;
    }
    printf("[ TLP unknown ]\n");
}

/* 32 hexadecimal digits into id; -1 otherwise. */
static int s_parse_msg_id(const char *text, uint8_t id[FX_MSG_ID_BYTES])
{
    if (strlen(text) != 2 * FX_MSG_ID_BYTES)
        return -1;
    for (size_t i = 0; i < FX_MSG_ID_BYTES; i++) {
        unsigned int byte;
        char pair[3] = {text[2 * i], text[2 * i + 1], '\0'};
        if (strspn(pair, "0123456789abcdefABCDEF") != 2 || sscanf(pair, "%2x", &byte) != 1)
            return -1;
        id[i] = (uint8_t) byte;
    }
    return 0;
}

static int s_show(agent_session_t *s, const char *text, int json)
{
    uint8_t id[FX_MSG_ID_BYTES];
    if (s_parse_msg_id(text, id) != 0) {
        fx_cli_error(AGENT_PROG,
                     "show: '%s' is not a msg_id (32 hexadecimal digits, as 'inbox' lists them)",
                     text);
        return FX_EXIT_USAGE;
    }
    fx_inbox_entry_t *entry = NULL;
    fx_delivery_t *d = NULL;
    fx_err_t rc = fx_mailbox_inbox_get(s->mailbox, id, &entry);
    int status = FX_EXIT_OK;
    if (rc == FX_ERR_NOT_FOUND) {
        fx_cli_error(AGENT_PROG, "show: no message %s in the inbox of %s (see '%s inbox')", text,
                     s->config->id, AGENT_PROG);
        return FX_EXIT_NO;
    }
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "show: mailbox %s: %s", fx_mailbox_path(s->mailbox),
                     fx_strerror(rc));
        return FX_EXIT_SYSTEM;
    }
    size_t env_len = 0, cert_len = 0;
    const uint8_t *env = fx_inbox_entry_envelope(entry, &env_len);
    const uint8_t *cert = fx_inbox_entry_sender_cert(entry, &cert_len);
    rc = fx_delivery_from_bytes(env, env_len, cert, cert_len, &d);
    if (rc == FX_OK)
        rc = fx_delivery_verify(d, s->authority, fx_now_ms());
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG,
                     "show: the stored message %s does not verify any more (%s); it is not shown",
                     text, fx_strerror(rc));
        status = FX_EXIT_REFUSED;
        goto cleanup;
    }
    if (!json) {
        const char *no_colour = getenv("NO_COLOR");
        int colour = isatty(STDOUT_FILENO) && !(no_colour && no_colour[0]);
        s_banner(fx_inbox_entry_tlp(entry), colour);
        const Fusion__Header *h = fx_envelope_header(fx_delivery_envelope(d));
        printf("verified: signed by %s, certified by the authority\n",
               fx_cert_id(fx_delivery_sender(d)));
        if (h->n_handling == 0)
            printf("handling: no restrictions from the originator beyond the TLP\n");
    }
    int unopened = agent_show_delivery(s, d, json, fx_inbox_entry_received_at(entry));
    if (!json)
        s_banner(fx_inbox_entry_tlp(entry), 0);
    if (unopened) {
        fx_cli_error(AGENT_PROG,
                     "show: %d section(s) of %s given to you cannot be opened (altered or wrong "
                     "key)",
                     unopened, text);
        status = FX_EXIT_REFUSED;
    }
    if (fx_mailbox_inbox_mark_read(s->mailbox, id) != FX_OK)
        fx_cli_error(AGENT_PROG, "show: mailbox: cannot mark %s read", text);
cleanup:
    fx_delivery_destroy(&d);
    fx_inbox_entry_destroy(&entry);
    return status;
}

static void s_show_help(void)
{
    printf("Usage: %s show MSGID [--json] [--config FILE]\n\n"
           "Shows one message of the inbox: its TLP banner (in colour on a terminal unless\n"
           "NO_COLOR is set), the sender, verified again against the authority, with the\n"
           "fingerprint of its certified key, the originator's handling restrictions, every\n"
           "section you may read, and the sections the message had that you were not given.\n"
           "The message is marked read.\n\n"
           "Options:\n"
           "  --json         the message as one JSON object (as 'listen --json' prints it)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 1 when the inbox holds no such message, 2 for a MSGID that is not 32\n"
           "hexadecimal digits, 3 when the stored message no longer verifies or a section\n"
           "given to you cannot be opened.\n");
    fx_cli_print_exit_codes();
}

int agent_show(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'j') {
            json = 1;
        } else if (opt == 'c') {
            config = optarg;
        } else if (opt == 'h') {
            s_show_help();
            return FX_EXIT_OK;
        } else {
            return s_bad_option("show", argv);
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "show: give exactly one MSGID (try '%s show --help')", AGENT_PROG);
        return FX_EXIT_USAGE;
    }
    agent_session_t session;
    int status = agent_session_open_local(&session, "show", agent_config_path(config));
    if (status == FX_EXIT_OK)
        status = s_show(&session, argv[optind], json);
    agent_session_close(&session);
    return status;
}
