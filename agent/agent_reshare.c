/* fusion-agent forward, reshare-request and reshare-grant: onward sharing that respects the
 * originator's markings. A forward re-shares the sections of a received message this principal
 * can read, keeping their ids, TLP, categories and the handling restrictions, and names the
 * original (forwarded_from). TLP:AMBER+STRICT, TLP:RED and no_onward_sharing_without_consent
 * are refused unless the originator's reshare_grant for that message and those recipients is
 * in the inbox (--grant); the broker checks the same links again and fails closed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_workflow.h"
#include "fusion/cli.h"
#include "fusion/content.h"
#include "fusion/vocab.h"

#define MAX_TO 64

typedef struct {
    const char *config;
    int timeout_ms;
    char *to[MAX_TO];
    size_t n_to;
    const char *reason;
    const char *grant;
} reshare_opts_t;

static void s_opts_free(reshare_opts_t *o)
{
    for (size_t i = 0; i < o->n_to; i++)
        free(o->to[i]);
    o->n_to = 0;
}

/* Adds the comma-separated ids of text to o->to. 0, or -1 after printing the problem. */
static int s_add_to(const char *command, reshare_opts_t *o, const char *text)
{
    char *copy = fx_strdup(text), *save = NULL;
    int rc = 0;
    for (char *id = strtok_r(copy, ",", &save); id && rc == 0; id = strtok_r(NULL, ",", &save)) {
        if (!fx_recipient_id_valid(id)) {
            fx_cli_error(AGENT_PROG,
                         "%s: recipient '%.64s' is neither a principal id (COUNTRY.AGENCY.UNIT) "
                         "nor an agency (COUNTRY.AGENCY)",
                         command, id);
            rc = -1;
        } else if (o->n_to == MAX_TO) {
            fx_cli_error(AGENT_PROG, "%s: at most %d recipients", command, MAX_TO);
            rc = -1;
        } else {
            for (size_t i = 0; i < o->n_to && rc == 0; i++)
                if (strcmp(o->to[i], id) == 0) {
                    fx_cli_error(AGENT_PROG, "%s: recipient '%s' is listed twice", command, id);
                    rc = -1;
                }
            if (rc == 0)
                o->to[o->n_to++] = fx_strdup(id);
        }
    }
    free(copy);
    return rc;
}

/* Parses options; the first positional argument is the msg_id, further ones are more
 * recipients for --to. Returns -1 (exit code in *status) or the index of the msg_id. */
static int s_parse(const char *command, int argc, char **argv, int with_to, reshare_opts_t *o,
                   void (*help)(void), int *status)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, 'o'},
        {"reason", required_argument, NULL, 'r'},
        {"grant", required_argument, NULL, 'g'},
        {"timeout", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000;
    *status = FX_EXIT_USAGE;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'o' && with_to) {
            if (s_add_to(command, o, optarg) != 0)
                return -1;
        } else if (opt == 'r' && with_to == 2) {
            o->reason = optarg;
        } else if (opt == 'g' && with_to == 1) {
            o->grant = optarg;
        } else if (opt == 'c') {
            o->config = optarg;
        } else if (opt == 't') {
            if (agent_parse_seconds(command, "--timeout", optarg, &o->timeout_ms) != 0)
                return -1;
        } else if (opt == 'h') {
            help();
            *status = FX_EXIT_OK;
            return -1;
        } else {
            fx_cli_error(AGENT_PROG, "%s: unknown or incomplete option '%s' (try --help)", command,
                         argv[optind - 1]);
            return -1;
        }
    }
    if (optind >= argc) {
        fx_cli_error(AGENT_PROG, "%s: give the MSGID (try --help)", command);
        return -1;
    }
    for (int i = optind + 1; i < argc; i++) {
        if (!with_to || o->n_to == 0) {
            fx_cli_error(AGENT_PROG, "%s: unexpected argument '%s' (try --help)", command, argv[i]);
            return -1;
        }
        if (s_add_to(command, o, argv[i]) != 0)
            return -1;
    }
    if (with_to && o->n_to == 0) {
        fx_cli_error(AGENT_PROG, "%s: --to is required: the principals or agencies to share with",
                     command);
        return -1;
    }
    if (o->reason && workflow_text_ok(command, "--reason", o->reason) != 0)
        return -1;
    return optind;
}

/* Why a message may not go on without its originator's consent (into buf), judged on the
 * sections this copy carries and the handling restrictions; 0 when it may. */
static int s_restricted(const fx_envelope_t *env, char *buf, size_t size)
{
    const Fusion__Header *h = fx_envelope_header(env);
    for (size_t i = 0; i < h->n_handling; i++)
        if ((int) h->handling[i] == FX_HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT) {
            snprintf(buf, size,
                     "its originator marked it no_onward_sharing_without_consent (handling)");
            return 1;
        }
    for (size_t i = 0; i < fx_envelope_section_count(env); i++) {
        uint32_t id = fx_envelope_section_id(env, i);
        int tlp = (int) fx_envelope_descriptor(env, id)->tlp;
        if (tlp == FX_TLP_RED) {
            snprintf(buf, size, "section %u is TLP:RED (for the eyes of its named recipients only)",
                     id);
            return 1;
        }
        if (tlp == FX_TLP_AMBER_STRICT) {
            snprintf(buf, size,
                     "section %u is TLP:AMBER+STRICT (only within the recipient's own "
                     "organisation)",
                     id);
            return 1;
        }
    }
    return 0;
}

static int s_workflow_kind(int kind)
{
    return kind == FX_KIND_REFERRAL_RESPONSE || kind == FX_KIND_ALERT_FEEDBACK ||
           kind == FX_KIND_RESHARE_REQUEST || kind == FX_KIND_RESHARE_GRANT;
}

/* ---- fusion-agent forward ------------------------------------------------------------------- */

static void s_forward_help(void)
{
    printf("Usage: %s forward MSGID --to ID[,ID...] [--grant GRANT_MSGID] [--timeout S]\n"
           "                    [--config FILE]\n\n"
           "Passes the message MSGID of your inbox on to other principals or agencies: the\n"
           "sections you can read, with their TLP, categories and handling restrictions, in a\n"
           "new message that names the original (forwarded_from). The policy decides again who\n"
           "may receive each section. A message with a TLP:AMBER+STRICT or TLP:RED section you\n"
           "hold, or marked no_onward_sharing_without_consent, is refused, with the reason,\n"
           "unless a reshare_grant of its originator in your inbox covers these recipients\n"
           "(ask with '%s reshare-request MSGID --to ...'; forward finds the grant itself,\n"
           "or takes the one --grant names). The broker checks the markings and the grant\n"
           "again and refuses when they do not hold.\n\n"
           "Options:\n"
           "  --to ID,...    principals (THA.RTP.fp1) or agencies (THA.RTP); repeatable\n"
           "  --grant MSGID  the originator's reshare_grant, for restricted information\n"
           "  --timeout S    seconds to wait for each answer (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the broker accepted the forward, 2 for bad arguments, a msg_id that\n"
           "is not in the inbox or a forward larger than the broker takes (nothing is sent or\n"
           "queued), 3 when it is refused (the markings, the policy, the broker), 5 when it\n"
           "waits in the outbox because the broker could not be reached.\n");
    fx_cli_print_exit_codes();
}

int agent_forward(int argc, char **argv)
{
    reshare_opts_t o;
    int status;
    int at = s_parse("forward", argc, argv, 1, &o, s_forward_help, &status);
    if (at < 0) {
        s_opts_free(&o);
        return status;
    }
    const char *hex = argv[at];
    uint8_t msg_id[FX_MSG_ID_BYTES], grant_id[FX_MSG_ID_BYTES];
    if (workflow_msg_id("forward", hex, msg_id) != 0 ||
        (o.grant && workflow_msg_id("forward", o.grant, grant_id) != 0)) {
        s_opts_free(&o);
        return FX_EXIT_USAGE;
    }
    agent_session_t s;
    workflow_message_t m = {0}, g = {0};
    fx_draft_t *draft = NULL;
    fx_draft_section_t sections[FX_ENVELOPE_MAX_SECTIONS];
    uint8_t *plain[FX_ENVELOPE_MAX_SECTIONS] = {NULL};
    size_t plain_len[FX_ENVELOPE_MAX_SECTIONS] = {0}, n = 0;
    memset(&s, 0, sizeof s); /* opened only once there is something to send */
    int rc = workflow_inbox_read("forward", agent_config_path(o.config), hex, &m);
    if (rc != FX_EXIT_OK)
        goto cleanup;
    const Fusion__Header *orig = fx_envelope_header(m.env);
    if (s_workflow_kind((int) orig->kind)) {
        fx_cli_error(AGENT_PROG,
                     "forward: message %s is a %s, which is not passed on; nothing "
                     "was sent",
                     hex, fx_vocab_name(FX_VOCAB_KIND, (int) orig->kind));
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char why[512], found_hex[2 * FX_MSG_ID_BYTES + 1];
    if (s_restricted(m.env, why, sizeof why)) {
        if (orig->forwarded_from.len) {
            fx_cli_error(AGENT_PROG,
                         "forward: refused: message %s is itself a forward of restricted "
                         "information (%s); only the originator's own recipients may ask to pass "
                         "it on. Nothing was sent.",
                         hex, why);
            rc = FX_EXIT_REFUSED;
            goto cleanup;
        }
        int found = o.grant ? 1
                            : workflow_find_grant("forward", agent_config_path(o.config), m.env,
                                                  o.to, o.n_to, found_hex);
        if (found < 0) {
            rc = FX_EXIT_SYSTEM;
            goto cleanup;
        }
        if (!o.grant && found) {
            o.grant = found_hex;
            (void) workflow_msg_id("forward", o.grant, grant_id);
            printf("using the reshare_grant %s of %s in your inbox\n", o.grant, orig->sender);
        }
        if (!o.grant) {
            fx_cli_error(AGENT_PROG,
                         "forward: refused: message %s may not be passed on without its "
                         "originator's consent: %s, and no reshare_grant of the originator in "
                         "your inbox covers these recipients. Ask %s with '%s reshare-request %s "
                         "--to ...' and forward again once the grant has arrived. Nothing was "
                         "sent.",
                         hex, why, orig->sender, AGENT_PROG, hex);
            rc = FX_EXIT_REFUSED;
            goto cleanup;
        }
        rc = workflow_inbox_read("forward", agent_config_path(o.config), o.grant, &g);
        if (rc != FX_EXIT_OK)
            goto cleanup;
        const Fusion__Header *gh = fx_envelope_header(g.env);
        const char *missing = NULL;
        if ((int) gh->kind != FX_KIND_RESHARE_GRANT || strcmp(gh->sender, orig->sender) != 0) {
            fx_cli_error(AGENT_PROG,
                         "forward: refused: message %s is not a reshare_grant from %s, the "
                         "originator of %s (%s); nothing was sent",
                         o.grant, orig->sender, hex, why);
            rc = FX_EXIT_REFUSED;
            goto cleanup;
        }
        if (!workflow_grant_covers(gh, o.to, o.n_to, &missing)) {
            fx_cli_error(AGENT_PROG,
                         "forward: refused: the reshare_grant %s of %s does not cover %s (%s); "
                         "nothing was sent",
                         o.grant, orig->sender, missing, why);
            rc = FX_EXIT_REFUSED;
            goto cleanup;
        }
    }
    /* Connected once there is something to send (workflow_send): a forward refused below
     * opens no connection. */
    rc = agent_session_open_unconnected(&s, "forward", agent_config_path(o.config), o.timeout_ms);
    if (rc != FX_EXIT_OK)
        goto cleanup;
    for (size_t i = 0; i < fx_envelope_section_count(m.env); i++) {
        uint32_t id = fx_envelope_section_id(m.env, i);
        if (fx_envelope_open(m.env, s.keys, id, &plain[n], &plain_len[n]) != FX_OK)
            continue;
        const Fusion__SectionDescriptor *d = fx_envelope_descriptor(m.env, id);
        sections[n] = (fx_draft_section_t){
            id, (int) d->tlp, fx_envelope_section_categories(m.env, id), plain[n], plain_len[n]};
        n++;
    }
    if (n == 0) {
        fx_cli_error(AGENT_PROG,
                     "forward: message %s holds no section you can read; nothing "
                     "was sent",
                     hex);
        rc = FX_EXIT_REFUSED;
        goto cleanup;
    }
    Fusion__Header h = *orig; /* kind, markings, purpose ... as the originator set them */
    h.msg_id = (ProtobufCBinaryData){0, NULL};
    h.sender = (char *) "";
    h.created_at = 0;
    h.expires_at = orig->expires_at;
    h.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    h.taskforce = (char *) "";
    h.agreement = (char *) ""; /* the policy finds the one that covers this sender and these */
    h.in_reply_to = (ProtobufCBinaryData){0, NULL};
    h.forwarded_from = orig->msg_id;
    h.reshare_grant =
        o.grant ? (ProtobufCBinaryData){FX_MSG_ID_BYTES, grant_id} : (ProtobufCBinaryData){0, NULL};
    h.n_sections = 0;
    h.sections = NULL;
    char problem[256];
    if (fx_draft_new(&h, (const char *const *) o.to, o.n_to, sections, n, fx_now_ms(), &draft,
                     problem, sizeof problem) != FX_OK) {
        fx_cli_error(AGENT_PROG, "forward: %s; nothing was sent", problem);
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char label[64];
    snprintf(label, sizeof label, "forward of %.8s", hex);
    rc = workflow_send(&s, draft, label);
    if (rc == FX_EXIT_OK)
        printf("forwarded %s (%zu section(s)) from %s%s%s\n", hex, n, orig->sender,
               o.grant ? " with the grant " : "", o.grant ? o.grant : "");
cleanup:
    for (size_t i = 0; i < n; i++)
        fx_plaintext_free(&plain[i], plain_len[i]);
    fx_draft_destroy(&draft);
    workflow_message_clear(&g);
    workflow_message_clear(&m);
    agent_session_close(&s);
    s_opts_free(&o);
    return rc;
}

/* ---- fusion-agent reshare-request and reshare-grant ----------------------------------------- */

static void s_request_help(void)
{
    printf("Usage: %s reshare-request MSGID --to ID[,ID...] [--reason TEXT] [--timeout S]\n"
           "                            [--config FILE]\n\n"
           "Asks the originator of the message MSGID of your inbox for consent to pass it on to\n"
           "the principals or agencies given (a reshare_request; the broker records it in the\n"
           "audit trail and lets it go only to the originator). The originator answers with\n"
           "'%s reshare-grant REQUEST_MSGID'; then '%s forward MSGID --to ... --grant\n"
           "GRANT_MSGID' lets it through. Each recipient must be a principal or agency of the\n"
           "broker's directory, and neither you nor the originator (who hold the message\n"
           "already); otherwise nothing is sent (exit 2), and the broker refuses the same.\n\n"
           "Options:\n"
           "  --to ID,...    who would receive the information; repeatable\n"
           "  --reason TEXT  why, for the originator\n"
           "  --timeout S    seconds to wait for each answer (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_PROG, AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV,
           AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

static void s_grant_help(void)
{
    printf("Usage: %s reshare-grant REQUEST_MSGID [--timeout S] [--config FILE]\n\n"
           "Grants the reshare_request REQUEST_MSGID of your inbox, about a message you\n"
           "originated: the requester may then forward that message to the principals and\n"
           "agencies it asked for (a reshare_grant; the broker records it in the audit trail\n"
           "and checks it when the forward comes). A request you granted already (the grant\n"
           "is in your outbox, accepted or waiting) is not granted again, and one naming a\n"
           "recipient that is no longer in the directory is not granted (exit 2).\n\n"
           "Options:\n"
           "  --timeout S    seconds to wait for each answer (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

/* Sends a reshare_request (grant 0) or reshare_grant (grant 1) answering inbox message hex. */
static int s_reshare(const char *command, int grant, reshare_opts_t *o, const char *hex)
{
    agent_session_t s;
    workflow_message_t m = {0};
    fx_draft_t *draft = NULL;
    uint8_t *plain = NULL;
    size_t len = 0;
    memset(&s, 0, sizeof s); /* opened only once there is something to send */
    const char *config = agent_config_path(o->config);
    int rc = grant ? workflow_inbox_read_kind(command, config, hex, FX_KIND_RESHARE_REQUEST, &m)
                   : workflow_inbox_read(command, config, hex, &m);
    if (rc != FX_EXIT_OK)
        goto cleanup;
    const Fusion__Header *orig = fx_envelope_header(m.env);
    if (!grant && s_workflow_kind((int) orig->kind)) {
        fx_cli_error(AGENT_PROG, "%s: message %s is a %s, which is not passed on; nothing was sent",
                     command, hex, fx_vocab_name(FX_VOCAB_KIND, (int) orig->kind));
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char **to = grant ? orig->reshare_to : o->to;
    size_t n_to = grant ? orig->n_reshare_to : o->n_to;
    char list[1024] = "", text[WORKFLOW_TEXT_MAX + 1200];
    for (size_t i = 0; i < n_to; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", to[i]);
    char orig_hex[2 * FX_MSG_ID_BYTES + 1];
    agent_msg_id_hex(orig->in_reply_to.len == FX_MSG_ID_BYTES ? orig->in_reply_to.data : NULL,
                     orig_hex);
    if (grant)
        snprintf(text, sizeof text,
                 "Consent granted: you may pass message %s on to %s (reshare_request %s).",
                 orig_hex, list, hex);
    else
        snprintf(text, sizeof text, "May I pass message %s on to %s?%s%s", hex, list,
                 o->reason ? " Reason: " : "", o->reason ? o->reason : "");
    workflow_notice(text, &plain, &len);
    fx_draft_section_t section = {1, FX_TLP_AMBER, 1u << FX_CATEGORY_OPERATIONAL, plain, len};
    Fusion__Header h = FUSION__HEADER__INIT;
    h.kind = grant ? FUSION__KIND__KIND_RESHARE_GRANT : FUSION__KIND__KIND_RESHARE_REQUEST;
    h.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    h.purpose = orig->purpose;
    h.exercise = orig->exercise;
    h.case_ref = orig->case_ref;
    h.in_reply_to = orig->msg_id;
    h.n_reshare_to = n_to;
    h.reshare_to = to;
    h.expires_at = (uint64_t) (fx_now_ms() + FX_ENVELOPE_DEFAULT_TTL_MS);
    const char *originator[1] = {fx_cert_id(m.sender)};
    char problem[256];
    if (fx_draft_new(&h, originator, 1, &section, 1, fx_now_ms(), &draft, problem,
                     sizeof problem) != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s; nothing was sent", command, problem);
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char label[64];
    snprintf(label, sizeof label, "%s %.8s", command, hex);
    /* Connected only for the directory (workflow_reshare_to_check), after the checks that need
     * no broker: one refused by them opens no connection, which the broker would see closed
     * before its handshake and count as refused. */
    rc = agent_session_open_unconnected(&s, command, config, o->timeout_ms);
    int64_t entry = 0;
    const char *state = NULL;
    if (rc == FX_EXIT_OK && grant && workflow_granted(&s, orig->msg_id.data, &entry, &state)) {
        fx_cli_error(AGENT_PROG,
                     "%s: reshare_request %s was granted already (the grant is #%lld in the "
                     "outbox, %s); nothing was sent",
                     command, hex, (long long) entry, state);
        rc = FX_EXIT_USAGE;
    }
    /* Who asks (the requester) and who holds the information (the originator): for a grant,
     * the sender of the request and this principal. */
    int unreachable = 0;
    if (rc == FX_EXIT_OK)
        rc = workflow_reshare_to_check(&s, to, n_to, grant ? originator[0] : s.config->id,
                                       grant ? s.config->id : originator[0], grant ? orig_hex : hex,
                                       &unreachable);
    if (rc == FX_EXIT_OK)
        rc = unreachable ? workflow_queue(&s, draft, label) : workflow_send(&s, draft, label);
    if (rc == FX_EXIT_OK && grant)
        printf("granted: %s may pass message %s on to %s\n", originator[0], orig_hex, list);
    else if (rc == FX_EXIT_OK)
        printf("asked %s for consent to pass message %s on to %s\n", originator[0], hex, list);
cleanup:
    free(plain);
    fx_draft_destroy(&draft);
    workflow_message_clear(&m);
    agent_session_close(&s);
    return rc;
}

int agent_reshare_request(int argc, char **argv)
{
    reshare_opts_t o;
    int status;
    int at = s_parse("reshare-request", argc, argv, 2, &o, s_request_help, &status);
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (at >= 0)
        status = workflow_msg_id("reshare-request", argv[at], msg_id) != 0
                     ? FX_EXIT_USAGE
                     : s_reshare("reshare-request", 0, &o, argv[at]);
    s_opts_free(&o);
    return status;
}

int agent_reshare_grant(int argc, char **argv)
{
    reshare_opts_t o;
    int status;
    int at = s_parse("reshare-grant", argc, argv, 0, &o, s_grant_help, &status);
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (at >= 0 && at + 1 != argc) {
        fx_cli_error(AGENT_PROG, "reshare-grant: give exactly one REQUEST_MSGID (try --help)");
        status = FX_EXIT_USAGE;
    } else if (at >= 0) {
        status = workflow_msg_id("reshare-grant", argv[at], msg_id) != 0
                     ? FX_EXIT_USAGE
                     : s_reshare("reshare-grant", 1, &o, argv[at]);
    }
    s_opts_free(&o);
    return status;
}
