/* fusion-agent respond, referrals and feedback: answering a referral of the inbox (a
 * referral_response whose status the header also carries, so the broker tracks the referral
 * without reading it), the referrals the broker tracks for this principal and its agency with
 * their state and time left, and feedback on a case alert to its originator. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_workflow.h"
#include "fusion/cli.h"
#include "fusion/content.h"
#include "fusion/draft.h"
#include "fusion/vocab.h"

/* The header fields a reply takes over from the message it answers. */
static void s_reply_header(const Fusion__Header *orig, Fusion__Kind kind, Fusion__Header *h)
{
    fusion__header__init(h);
    h->kind = kind;
    h->audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    h->urgency = orig->urgency;
    h->purpose = orig->purpose;
    h->subject_role = orig->subject_role;
    h->exercise = orig->exercise;
    h->case_ref = orig->case_ref;
    h->in_reply_to = orig->msg_id;
    h->expires_at = (uint64_t) (fx_now_ms() + FX_ENVELOPE_DEFAULT_TTL_MS);
}

/* Parses the common options: --config, --timeout, --help; others are given to extra. */
typedef struct {
    const char *config;
    int timeout_ms;
} common_opts_t;

static int s_bad_option(const char *command, char **argv)
{
    fx_cli_error(AGENT_PROG, "%s: unknown or incomplete option '%s' (try --help)", command,
                 argv[optind - 1]);
    return FX_EXIT_USAGE;
}

/* ---- fusion-agent respond ------------------------------------------------------------------- */

static void s_respond_help(void)
{
    printf("Usage: %s respond MSGID acknowledge|accept|decline|need-info|close\n"
           "                    [--reason TEXT] [--outcome TEXT] [--timeout S] [--config FILE]\n\n"
           "Answers the referral MSGID of your inbox with a referral_response to its sender.\n"
           "A focal point the referral did not reach answers it the same way once the\n"
           "broker's escalation notice about it is in the inbox: the broker names the\n"
           "referral's sender (the response is TLP amber, as the notice).\n"
           "The broker tracks the referral's state from it (acknowledged, accepted, declined,\n"
           "need_info, closed); an answer after 'accept', 'decline' or 'need-info' keeps that\n"
           "answer, and nothing may follow 'close'. decline and need-info need --reason, close\n"
           "needs --outcome, which no other answer takes. The response goes through the outbox\n"
           "like 'send --yes'.\n\n"
           "Options:\n"
           "  --reason TEXT   why (declined, need_info; optional otherwise)\n"
           "  --outcome TEXT  what came of it (close only)\n"
           "  --timeout S     seconds to wait for each answer from the broker (default %d)\n"
           "  --config FILE   agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help      this help\n",
           AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the broker accepted the response, 2 for a bad argument, a msg_id that\n"
           "is not a referral in the inbox (nor named by an escalation notice there) or a\n"
           "response larger than the broker takes (nothing is sent or queued), 3 when it was\n"
           "refused, 5 when it waits in the outbox because the broker could not be reached\n"
           "(answering from a notice, nothing is queued then: run it again).\n");
    fx_cli_print_exit_codes();
}

static const struct {
    const char *word, *alias;
    Fusion__ResponseStatus status;
} s_statuses[] = {
    {"acknowledge", "acknowledged", FUSION__RESPONSE_STATUS__RESPONSE_ACKNOWLEDGED},
    {"accept", "accepted", FUSION__RESPONSE_STATUS__RESPONSE_ACCEPTED},
    {"decline", "declined", FUSION__RESPONSE_STATUS__RESPONSE_DECLINED},
    {"need-info", "need_info", FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO},
    {"close", "closed", FUSION__RESPONSE_STATUS__RESPONSE_CLOSED},
};

/* The sender of referral msg_id (hex) to this principal's agency as the broker tracks it (its
 * REFERRALS answer), for a referral known from its escalation notice only. FX_EXIT_OK with it in
 * sender, or the exit code after saying why (nothing was sent or queued). */
static int s_tracked_sender(agent_session_t *s, const uint8_t msg_id[FX_MSG_ID_BYTES],
                            const char *hex, char sender[FX_ID_MAX])
{
    char agency[FX_ID_MAX];
    fx_principal_agency(s->config->id, agency);
    Fusion__Frame *frame = NULL;
    fx_answer_t answer;
    fx_err_t err = fx_client_referrals(s->client, s->timeout_ms, &frame, &answer);
    int rc = FX_EXIT_OK;
    if (err == FX_ERR_UNAVAILABLE) {
        rc = agent_session_unreachable(s);
        fx_cli_error(AGENT_PROG,
                     "respond: referral %s is known here from its escalation notice only: the "
                     "broker names its sender; nothing was sent or queued, run respond again",
                     hex);
    } else if (err != FX_OK) {
        if (answer.refused)
            fx_cli_error(AGENT_PROG, "respond: the broker refused to list the referrals: %s: %s",
                         answer.code, answer.reason);
        else
            fx_cli_error(AGENT_PROG, "respond: the broker's answer broke the protocol (%s)",
                         fx_strerror(err));
        rc = answer.refused ? fx_err_exit(err) : FX_EXIT_SYSTEM;
    }
    const Fusion__ReferralStatus *found = NULL, *mine = NULL;
    for (size_t i = 0; rc == FX_EXIT_OK && i < frame->referrals->n_referrals; i++) {
        const Fusion__ReferralStatus *r = frame->referrals->referrals[i];
        if (r->msg_id.len != FX_MSG_ID_BYTES || memcmp(r->msg_id.data, msg_id, FX_MSG_ID_BYTES))
            continue;
        if (strcmp(r->agency, agency) == 0)
            found = r;
        else if (strcmp(r->sender, s->config->id) == 0)
            mine = r;
    }
    if (rc == FX_EXIT_OK && found)
        snprintf(sender, FX_ID_MAX, "%s", found->sender);
    else if (rc == FX_EXIT_OK && mine) {
        fx_cli_error(AGENT_PROG,
                     "respond: you sent referral %s: a focal point of %s answers it; nothing was "
                     "sent",
                     hex, mine->agency);
        rc = FX_EXIT_USAGE;
    } else if (rc == FX_EXIT_OK) {
        fx_cli_error(AGENT_PROG,
                     "respond: referral %s is not among the referrals the broker tracks for "
                     "your agency %s (see 'fusion-agent referrals --all'); nothing was sent",
                     hex, agency);
        rc = FX_EXIT_USAGE;
    }
    fx_codec_free(frame);
    return rc;
}

int agent_respond(int argc, char **argv)
{
    static const struct option options[] = {
        {"reason", required_argument, NULL, 'r'},  {"outcome", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 't'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    common_opts_t o = {NULL, AGENT_DEFAULT_TIMEOUT_S * 1000};
    const char *reason = NULL, *outcome = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'r')
            reason = optarg;
        else if (opt == 'o')
            outcome = optarg;
        else if (opt == 'c')
            o.config = optarg;
        else if (opt == 't') {
            if (agent_parse_seconds("respond", "--timeout", optarg, &o.timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'h') {
            s_respond_help();
            return FX_EXIT_OK;
        } else
            return s_bad_option("respond", argv);
    }
    if (argc - optind != 2) {
        fx_cli_error(AGENT_PROG, "respond: give MSGID and one of acknowledge, accept, decline, "
                                 "need-info, close (try --help)");
        return FX_EXIT_USAGE;
    }
    const char *hex = argv[optind], *word = argv[optind + 1];
    Fusion__ResponseStatus status = FUSION__RESPONSE_STATUS__RESPONSE_UNSPECIFIED;
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++)
        if (strcmp(word, s_statuses[i].word) == 0 || strcmp(word, s_statuses[i].alias) == 0)
            status = s_statuses[i].status;
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (!status) {
        fx_cli_error(AGENT_PROG,
                     "respond: unknown answer '%s' (expected one of: acknowledge, "
                     "accept, decline, need-info, close)",
                     word);
        return FX_EXIT_USAGE;
    }
    if (workflow_msg_id("respond", hex, msg_id) != 0 ||
        (reason && workflow_text_ok("respond", "--reason", reason) != 0) ||
        (outcome && workflow_text_ok("respond", "--outcome", outcome) != 0))
        return FX_EXIT_USAGE;
    if ((status == FUSION__RESPONSE_STATUS__RESPONSE_DECLINED ||
         status == FUSION__RESPONSE_STATUS__RESPONSE_NEED_INFO) &&
        !reason) {
        fx_cli_error(AGENT_PROG, "respond: %s needs --reason (say why, for the sender)", word);
        return FX_EXIT_USAGE;
    }
    if (status == FUSION__RESPONSE_STATUS__RESPONSE_CLOSED && !outcome) {
        fx_cli_error(AGENT_PROG, "respond: close needs --outcome (what came of the referral)");
        return FX_EXIT_USAGE;
    }
    if (status != FUSION__RESPONSE_STATUS__RESPONSE_CLOSED && outcome) {
        /* it would be sent and never shown as what it says: the referral is not closed */
        fx_cli_error(AGENT_PROG,
                     "respond: --outcome is only for close (what came of the referral); %s "
                     "takes --reason",
                     word);
        return FX_EXIT_USAGE;
    }
    agent_session_t s;
    workflow_message_t m = {0};
    fx_draft_t *draft = NULL;
    memset(&s, 0, sizeof s); /* opened only once there is something to send */
    int via_notice = 0;
    int rc =
        workflow_inbox_read_referral("respond", agent_config_path(o.config), hex, &m, &via_notice);
    if (rc != FX_EXIT_OK)
        goto cleanup;
    const Fusion__Header *orig = fx_envelope_header(m.env);
    /* The referral's sender: its own signature, or for one known from its escalation notice,
     * as the broker tracks it (asked before anything is built, so nothing is queued). */
    char referral_sender[FX_ID_MAX];
    snprintf(referral_sender, sizeof referral_sender, "%s", fx_cert_id(m.sender));
    if (via_notice) {
        rc = agent_session_open(&s, "respond", agent_config_path(o.config), o.timeout_ms);
        if (rc == FX_EXIT_OK)
            rc = s_tracked_sender(&s, msg_id, hex, referral_sender);
        if (rc != FX_EXIT_OK)
            goto cleanup;
    }
    Fusion__ReferralResponse response = FUSION__REFERRAL_RESPONSE__INIT;
    response.status = status;
    response.reason = (char *) (reason ? reason : "");
    response.outcome = (char *) (outcome ? outcome : "");
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE;
    content.referral_response = &response;
    uint8_t *plain = NULL;
    size_t len = 0;
    fx_content_encode(&content, &plain, &len);
    /* As restricted as the referral it answers, and at least amber (from a notice: amber, as
     * the notice; the referral's markings are not known to whoever did not receive it). */
    int tlp = workflow_max_tlp(m.env) > FX_TLP_AMBER ? workflow_max_tlp(m.env) : FX_TLP_AMBER;
    fx_draft_section_t section = {1, tlp, 1u << FX_CATEGORY_OPERATIONAL, plain, len};
    Fusion__Header h;
    /* A notice carries the referral's urgency, exercise and case_ref (handle_referral.c), and
     * names the referral in its in_reply_to. */
    s_reply_header(orig, FUSION__KIND__KIND_REFERRAL_RESPONSE, &h);
    if (via_notice)
        h.in_reply_to = orig->in_reply_to;
    h.response_status = status;
    const char *to[1] = {referral_sender};
    char why[256];
    fx_err_t err = fx_draft_new(&h, to, 1, &section, 1, fx_now_ms(), &draft, why, sizeof why);
    free(plain);
    if (err != FX_OK) {
        fx_cli_error(AGENT_PROG, "respond: %s; nothing was sent", why);
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char label[64];
    snprintf(label, sizeof label, "respond %.8s %s", hex, word);
    if (!via_notice) /* else open already */
        rc = agent_session_open(&s, "respond", agent_config_path(o.config), o.timeout_ms);
    if (rc == FX_EXIT_OK)
        rc = workflow_send(&s, draft, label);
    if (rc == FX_EXIT_OK)
        printf("answered referral %s from %s: %s\n", hex, to[0], s_statuses[status - 1].alias);
    else if (rc == FX_EXIT_REFUSED)
        fprintf(stderr,
                "%s: respond: when the referral's sender cannot receive a response (its "
                "certificate revoked, or no focal point), answer a focal point of its agency "
                "with a draft file (docs/referrals.md, Responses)\n",
                AGENT_PROG);
cleanup:
    fx_draft_destroy(&draft);
    workflow_message_clear(&m);
    agent_session_close(&s);
    return rc;
}

/* ---- fusion-agent referrals ----------------------------------------------------------------- */

static void s_referrals_help(void)
{
    printf("Usage: %s referrals [--all] [--json] [--timeout S] [--config FILE]\n\n"
           "Lists the referrals the broker tracks for you: those you sent and those sent to\n"
           "your agency, each per recipient agency, with its state (sent, delivered,\n"
           "acknowledged, accepted, declined, need_info, closed), its urgency, and the time\n"
           "left until its acknowledgement is due (or how long it is overdue, and whether it\n"
           "was escalated) while it waits for an answer: one that was answered (acknowledged,\n"
           "accepted, declined, need_info, closed) has no time left ('-', and seconds_left\n"
           "null in --json). Open referrals only (not declined or closed) unless --all.\n"
           "A referral of an exercise is shown only to its sender and the exercise's\n"
           "participants, marked with a line 'exercise ID' under it (\"exercise\" in --json,\n"
           "null for live traffic). The broker answers at most 1000, those awaiting an answer\n"
           "first (nearest deadline first), then the other open ones, then the declined and\n"
           "closed ones; when it holds more, a last line says 'showing the first 1000 of more\n"
           "referrals' (on stderr with --json, which prints the array as before).\n\n"
           "Options:\n"
           "  --all          also declined and closed referrals\n"
           "  --json         one JSON array of objects\n"
           "  --timeout S    seconds to wait for the broker (default %d)\n"
           "  --config FILE  agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

/* "3h 20m left", "overdue by 5m", "no deadline". */
static void s_time_left(int64_t deadline, int64_t now, char *buf, size_t size)
{
    if (deadline <= 0) {
        snprintf(buf, size, "no deadline");
        return;
    }
    int64_t left = deadline - now, abs = left < 0 ? -left : left;
    int64_t d = abs / 86400000, h = abs / 3600000 % 24, m = abs / 60000 % 60, sec = abs / 1000 % 60;
    char span[48];
    if (d)
        snprintf(span, sizeof span, "%lldd %lldh", (long long) d, (long long) h);
    else if (h)
        snprintf(span, sizeof span, "%lldh %lldm", (long long) h, (long long) m);
    else if (m)
        snprintf(span, sizeof span, "%lldm %llds", (long long) m, (long long) sec);
    else
        snprintf(span, sizeof span, "%llds", (long long) sec);
    if (left >= 0)
        snprintf(buf, size, "%s left", span);
    else
        snprintf(buf, size, "overdue by %s", span);
}

static int s_open_state(const char *state)
{
    return strcmp(state, "declined") != 0 && strcmp(state, "closed") != 0;
}

/* Only an unanswered referral can escalate (docs/referrals.md): its deadline is the one that
 * counts down. */
static int s_awaiting_answer(const char *state)
{
    return strcmp(state, "sent") == 0 || strcmp(state, "delivered") == 0;
}

int agent_referrals(int argc, char **argv)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'},           {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    common_opts_t o = {NULL, AGENT_DEFAULT_TIMEOUT_S * 1000};
    int all = 0, json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'a')
            all = 1;
        else if (opt == 'j')
            json = 1;
        else if (opt == 'c')
            o.config = optarg;
        else if (opt == 't') {
            if (agent_parse_seconds("referrals", "--timeout", optarg, &o.timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'h') {
            s_referrals_help();
            return FX_EXIT_OK;
        } else
            return s_bad_option("referrals", argv);
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "referrals: unexpected argument '%s' (try --help)", argv[optind]);
        return FX_EXIT_USAGE;
    }
    agent_session_t s;
    int rc = agent_session_open(&s, "referrals", agent_config_path(o.config), o.timeout_ms);
    Fusion__Frame *frame = NULL;
    if (rc != FX_EXIT_OK)
        goto cleanup;
    fx_answer_t answer;
    fx_err_t err = fx_client_referrals(s.client, o.timeout_ms, &frame, &answer);
    if (err == FX_ERR_UNAVAILABLE) {
        rc = agent_session_unreachable(&s);
        goto cleanup;
    }
    if (err != FX_OK) {
        if (answer.refused)
            fx_cli_error(AGENT_PROG, "referrals: the broker refused: %s: %s", answer.code,
                         answer.reason);
        else
            fx_cli_error(AGENT_PROG, "referrals: the broker's answer broke the protocol (%s)",
                         fx_strerror(err));
        rc = answer.refused ? fx_err_exit(err) : FX_EXIT_SYSTEM;
        goto cleanup;
    }
    int64_t now = fx_now_ms();
    json_t *list = json ? json_array() : NULL;
    size_t shown = 0;
    for (size_t i = 0; i < frame->referrals->n_referrals; i++) {
        const Fusion__ReferralStatus *r = frame->referrals->referrals[i];
        if (!all && !s_open_state(r->state))
            continue;
        char hex[2 * FX_MSG_ID_BYTES + 1], left[64], due[FX_TIME_BUFSIZE] = "";
        agent_msg_id_hex(r->msg_id.data, hex);
        const char *direction = strcmp(r->sender, s.config->id) == 0 ? "sent" : "received";
        const char *urgency = agent_urgency_word((int) r->urgency);
        /* An answered referral's acknowledgement was on time or escalated: nothing counts down. */
        int counting = s_awaiting_answer(r->state);
        if (counting)
            s_time_left((int64_t) r->deadline, now, left, sizeof left);
        else
            snprintf(left, sizeof left, "-");
        if (r->deadline && counting)
            fx_time_format((int64_t) r->deadline, due);
        if (json) {
            json_t *item =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "msg_id", hex, "direction",
                          direction, "sender", r->sender, "agency", r->agency, "state", r->state,
                          "urgency", urgency, "escalated", r->escalated);
            if (r->deadline)
                fx_time_format((int64_t) r->deadline, due);
            json_object_set_new(item, "deadline", r->deadline ? json_string(due) : json_null());
            json_object_set_new(item, "seconds_left",
                                r->deadline && counting
                                    ? json_integer(((int64_t) r->deadline - now) / 1000)
                                    : json_null());
            json_object_set_new(item, "exercise",
                                r->exercise[0] ? json_string(r->exercise) : json_null());
            json_array_append_new(list, item);
        } else {
            if (shown == 0)
                printf("%-32s  %-8s  %-15s  %-15s  %-12s  %-7s  %s\n", "MSG_ID", "WAY", "FROM",
                       "TO AGENCY", "STATE", "URGENCY", "DUE");
            printf("%-32s  %-8s  %-15s  %-15s  %-12s  %-7s  %s%s%s%s\n", hex, direction, r->sender,
                   r->agency, r->state, urgency, left, due[0] ? " (" : "", due, due[0] ? ")" : "");
            if (r->exercise[0])
                printf("%-32s  exercise %s: not live traffic (its deadline runs on the "
                       "exercise's clock)\n",
                       "", r->exercise);
            if (r->escalated)
                printf("%-32s  escalated: a notice went to the sender and the other focal "
                       "points of %s\n",
                       "", r->agency);
        }
        shown++;
    }
    if (json) {
        char *text = json_dumps(list, JSON_COMPACT);
        printf("%s\n", text ? text : "[]");
        free(text);
        json_decref(list);
    } else if (shown == 0) {
        printf("no %sreferrals\n", all ? "" : "open ");
    }
    /* The broker answers a limited list, open referrals first: say when it was cut (in --json
     * on stderr, so stdout stays one array). */
    if (frame->referrals->more)
        fprintf(json ? stderr : stdout,
                "%sshowing the first %zu of more referrals: the broker answers at most %zu, those "
                "awaiting an answer first (nearest deadline first), then the other open ones, "
                "then the declined and closed, each most recently changed first\n",
                json ? AGENT_PROG ": referrals: " : "", frame->referrals->n_referrals,
                frame->referrals->n_referrals);
    rc = FX_EXIT_OK;
cleanup:
    fx_codec_free(frame);
    agent_session_close(&s);
    return rc;
}

/* ---- fusion-agent feedback ------------------------------------------------------------------ */

static void s_feedback_help(void)
{
    printf("Usage: %s feedback MSGID --observation TEXT [--location TEXT] [--observed-at TIME]\n"
           "                     [--timeout S] [--config FILE]\n\n"
           "Sends alert_feedback on the case alert MSGID of your inbox to its originator: a hit\n"
           "on the alert (seen at a border point, a document recognised). The broker lets it go\n"
           "only to the originator, and only from a recipient of the alert. It goes through\n"
           "the outbox like 'send --yes'.\n\n"
           "Options:\n"
           "  --observation TEXT  what was seen (required)\n"
           "  --location TEXT     where (the section is then also labelled location)\n"
           "  --observed-at TIME  when (RFC 3339 or a date; default now); not in the future\n"
           "                      (up to %d minutes ahead are taken, for clocks that differ)\n"
           "  --timeout S         seconds to wait for each answer (default %d)\n"
           "  --config FILE       agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help          this help\n",
           AGENT_PROG, FX_DRAFT_OBSERVED_SKEW_MIN, AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV,
           AGENT_CONFIG_DEFAULT);
    fx_cli_print_exit_codes();
}

int agent_feedback(int argc, char **argv)
{
    static const struct option options[] = {
        {"observation", required_argument, NULL, 'b'},
        {"location", required_argument, NULL, 'l'},
        {"observed-at", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    common_opts_t o = {NULL, AGENT_DEFAULT_TIMEOUT_S * 1000};
    const char *observation = NULL, *location = NULL;
    int64_t observed_at = fx_now_ms();
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'b')
            observation = optarg;
        else if (opt == 'l')
            location = optarg;
        else if (opt == 'w') {
            if (fx_time_parse(optarg, &observed_at) != 0) {
                fx_cli_error(AGENT_PROG,
                             "feedback: --observed-at must be an RFC 3339 time or a date, not "
                             "'%.40s'",
                             optarg);
                return FX_EXIT_USAGE;
            }
            if (observed_at > fx_now_ms() + FX_DRAFT_OBSERVED_SKEW_MIN * 60 * 1000LL) {
                fx_cli_error(AGENT_PROG,
                             "feedback: --observed-at '%.40s' is in the future (more than %d "
                             "minutes ahead of this computer's clock)",
                             optarg, FX_DRAFT_OBSERVED_SKEW_MIN);
                return FX_EXIT_USAGE;
            }
        } else if (opt == 'c')
            o.config = optarg;
        else if (opt == 't') {
            if (agent_parse_seconds("feedback", "--timeout", optarg, &o.timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'h') {
            s_feedback_help();
            return FX_EXIT_OK;
        } else
            return s_bad_option("feedback", argv);
    }
    uint8_t msg_id[FX_MSG_ID_BYTES];
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "feedback: give exactly one MSGID (try --help)");
        return FX_EXIT_USAGE;
    }
    if (!observation) {
        fx_cli_error(AGENT_PROG, "feedback: --observation is required (what was seen)");
        return FX_EXIT_USAGE;
    }
    const char *hex = argv[optind];
    if (workflow_msg_id("feedback", hex, msg_id) != 0 ||
        workflow_text_ok("feedback", "--observation", observation) != 0 ||
        (location && workflow_text_ok("feedback", "--location", location) != 0))
        return FX_EXIT_USAGE;
    agent_session_t s;
    workflow_message_t m = {0};
    fx_draft_t *draft = NULL;
    memset(&s, 0, sizeof s); /* opened only once there is something to send */
    int rc = workflow_inbox_read_kind("feedback", agent_config_path(o.config), hex,
                                      FX_KIND_CASE_ALERT, &m);
    if (rc != FX_EXIT_OK)
        goto cleanup;
    const Fusion__Header *orig = fx_envelope_header(m.env);
    Fusion__AlertFeedback feedback = FUSION__ALERT_FEEDBACK__INIT;
    feedback.observation = (char *) observation;
    feedback.location = (char *) (location ? location : "");
    feedback.observed_at = (uint64_t) observed_at;
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK;
    content.alert_feedback = &feedback;
    uint8_t *plain = NULL;
    size_t len = 0;
    fx_content_encode(&content, &plain, &len);
    uint32_t categories = fx_content_categories(&content, fx_now_ms());
    fx_draft_section_t section = {1, FX_TLP_AMBER, categories, plain, len};
    Fusion__Header h;
    s_reply_header(orig, FUSION__KIND__KIND_ALERT_FEEDBACK, &h);
    const char *to[1] = {fx_cert_id(m.sender)};
    char why[256];
    fx_err_t err = fx_draft_new(&h, to, 1, &section, 1, fx_now_ms(), &draft, why, sizeof why);
    free(plain);
    if (err != FX_OK) {
        fx_cli_error(AGENT_PROG, "feedback: %s; nothing was sent", why);
        rc = FX_EXIT_USAGE;
        goto cleanup;
    }
    char label[64];
    snprintf(label, sizeof label, "feedback on %.8s", hex);
    rc = agent_session_open(&s, "feedback", agent_config_path(o.config), o.timeout_ms);
    if (rc == FX_EXIT_OK)
        rc = workflow_send(&s, draft, label);
    if (rc == FX_EXIT_OK)
        printf("feedback on alert %s went to its originator %s\n", hex, to[0]);
cleanup:
    fx_draft_destroy(&draft);
    workflow_message_clear(&m);
    agent_session_close(&s);
    return rc;
}
