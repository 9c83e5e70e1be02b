/* fusion-agent exercise: the trainer's commands. `validate` checks a scenario (and, with
 * --policy, that its exercise and participants are in the policy); `run` plays it against the
 * broker (exercise_run.c); `report` writes the after-action report from kept results
 * (exercise_report.c); `audit` prints the exercise's audit entries. docs/exercises.md describes the
 * scenario format. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_net.h"
#include "exercise.h"
#include "fusion/cli.h"
#include "fusion/policy.h"

/* ---- validate ------------------------------------------------------------------------------- */

static void s_validate_help(void)
{
    printf("Usage: %s exercise validate SCENARIO [--policy FILE]\n\n"
           "Checks an exercise scenario (YAML; see docs/exercises.md): its participants, the\n"
           "message drafts its injects send and their expectations. Every problem is printed\n"
           "as FILE:LINE:COLUMN: message. With --policy, the exercise must be listed in the\n"
           "policy's exercises, every participant must be one of that exercise's, and an\n"
           "'escalated' expectation needs a referral deadline for its referral's urgency.\n\n"
           "Options:\n"
           "  --policy FILE  the sharing policy the exercise will run under\n"
           "  -h, --help     this help\n",
           AGENT_PROG);
    printf("\nExits 0 for a valid scenario, 2 for an invalid one (or an invalid policy).\n");
    fx_cli_print_exit_codes();
}

/* Loads the policy at path, printing its errors. NULL on failure. */
static fx_policy_t *s_policy(const char *command, const char *path)
{
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    if (fx_policy_load(path, &policy, &errors) == FX_OK)
        return policy;
    for (size_t i = 0; errors && i < fx_policy_errors_count(errors); i++)
        fprintf(stderr, "%s: %s\n", AGENT_PROG, fx_policy_errors_text(errors, i));
    fx_cli_error(AGENT_PROG, "exercise %s: the policy %s is not usable", command, path);
    fx_policy_errors_destroy(&errors);
    return NULL;
}

static int s_validate(int argc, char **argv)
{
    static const struct option options[] = {
        {"policy", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *policy_path = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'p') {
            policy_path = optarg;
        } else if (opt == 'h') {
            s_validate_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "exercise validate: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "exercise validate: give exactly one SCENARIO (try --help)");
        return FX_EXIT_USAGE;
    }
    const char *path = argv[optind];
    fx_policy_t *policy = NULL;
    if (policy_path && !(policy = s_policy("validate", policy_path)))
        return FX_EXIT_USAGE;
    fx_diag_t *diag = fx_diag_new(path);
    fx_scenario_t *scenario = NULL;
    fx_err_t rc = fx_scenario_load(path, policy, fx_now_ms(), diag, &scenario);
    int status = FX_EXIT_OK;
    if (rc != FX_OK) {
        fx_diag_print(diag, stderr, AGENT_PROG ": ");
        status = rc == FX_ERR_IO ? FX_EXIT_SYSTEM : FX_EXIT_USAGE;
    } else {
        size_t simulated = 0, expectations = 0, designed = 0;
        for (size_t i = 0; i < fx_scenario_participant_count(scenario); i++)
            simulated += fx_scenario_participant(scenario, i)->simulated != 0;
        for (size_t i = 0; i < fx_scenario_inject_count(scenario); i++) {
            const fx_inject_t *inj = fx_scenario_inject(scenario, i);
            expectations += inj->n_expect;
            for (size_t k = 0; k < inj->n_expect; k++)
                designed += inj->expect[k].designed_to_fail != 0;
        }
        printf("%s: valid scenario for exercise %s: %zu participant(s) (%zu simulated), "
               "%zu inject(s), %zu expectation(s) (%zu designed to fail)%s%s\n",
               path, fx_scenario_exercise(scenario), fx_scenario_participant_count(scenario),
               simulated, fx_scenario_inject_count(scenario), expectations, designed,
               policy ? "; checked against " : "", policy ? policy_path : "");
    }
    fx_scenario_destroy(&scenario);
    fx_diag_destroy(&diag);
    fx_policy_destroy(&policy);
    return status;
}

/* ---- run ------------------------------------------------------------------------------------ */

static void s_run_help(void)
{
    printf("Usage: %s exercise run SCENARIO --config TRAINER_CONFIG\n"
           "                    [--region REGION] [--speed N] [--state DIR] [--report DIR]\n"
           "                    [--policy FILE] [--play-trainees KEYDIR] [--resume]\n"
           "                    [--wait S] [--take-over]\n\n"
           "Plays an exercise scenario against the running broker on an accelerated clock.\n"
           "Simulated participants get keys in STATE/keys and certificates with their roles\n"
           "and the role simulated. With --region (on the authority's machine) the runner\n"
           "enrols them in REGION through fusion-admin. Without it (the region kept off the\n"
           "network) it checks the broker's directory and writes what is to be enrolled\n"
           "into STATE/enrol: their requests (no secret key) and enroll.sh, to run on the\n"
           "authority's machine as 'sh enroll.sh REGION'. The broker admits them once it\n"
           "has reloaded its directory (systemctl reload fusion-broker, or SIGHUP; if it\n"
           "reads another copy of the region, copy REGION/directory/*.cert and\n"
           "REGION/revocations.crl to it first): the run waits for that.\n"
           "A simulated id enrolled with keys another state directory holds is not enrolled\n"
           "again (that would stop the other run) unless --take-over is given.\n"
           "Every message carries the scenario's exercise id. A progress line shows the inject,\n"
           "the expectations decided so far, and what the run waits for next and until when.\n"
           "SIGINT or SIGTERM stops the run and keeps its progress in STATE/progress.json;\n"
           "--resume continues it. At the end the results go to STATE/results.json and the\n"
           "after-action report to REPORT (default STATE/report).\n"
           "What trainees the runner does not play do is observed through the exercise's audit\n"
           "trail, when the configuration's principal is a trainer listed in the exercise.\n\n"
           "Options:\n"
           "  --region REGION   the region whose authority enrols the simulated participants\n"
           "                    (without it: the enrolment bundle STATE/enrol)\n"
           "  --config FILE     the trainer's agent configuration (broker, authority, key)\n"
           "  --speed N         exercise seconds per real second (default: the policy's\n"
           "                    speed for the exercise, on which the broker escalates its\n"
           "                    referrals; else the scenario's)\n"
           "  --state DIR       keys, progress and results (default ./exercise-ID)\n"
           "  --report DIR      where the report goes (default STATE/report)\n"
           "  --policy FILE     the policy, for the guidelines named in the report\n"
           "                    (default REGION/policy.yaml when it exists; none\n"
           "                    without --region)\n"
           "  --play-trainees KEYDIR\n"
           "                    also play the trainees, with their keys KEYDIR/ID.key\n"
           "                    (rehearsals and tests); their live traffic is not\n"
           "                    acknowledged, and waits for their own agents\n"
           "  --resume          continue a stopped run from STATE/progress.json\n"
           "  --wait S          seconds to wait for the broker to admit the simulated\n"
           "                    participants (default 120; then the progress is saved:\n"
           "                    enrol them if needed, copy the certificates, reload the\n"
           "                    broker and --resume)\n"
           "  --take-over       enrol new keys for simulated participants whose certificate\n"
           "                    certifies keys another state directory holds (the other\n"
           "                    run's keys stop working)\n"
           "  -h, --help        this help\n",
           AGENT_PROG);
    printf("\nExits 0 when every expectation came out as designed (met, or missed where the\n"
           "scenario designed it to be), 1 when some did not, 2 for a usage or scenario error\n"
           "(and a simulated id a live principal or another state directory's keys hold), 5\n"
           "when the run was stopped (resume it), the broker did not admit the participants\n"
           "or, without --region, did not answer.\n");
    fx_cli_print_exit_codes();
}

static int s_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"region", required_argument, NULL, 'r'}, {"config", required_argument, NULL, 'c'},
        {"speed", required_argument, NULL, 's'},  {"state", required_argument, NULL, 'S'},
        {"report", required_argument, NULL, 'R'}, {"play-trainees", required_argument, NULL, 'p'},
        {"policy", required_argument, NULL, 'P'}, {"resume", no_argument, NULL, 'u'},
        {"wait", required_argument, NULL, 'w'},   {"take-over", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    exercise_options_t o = {.timeout_s = 120};
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end = NULL;
        long n = 0;
        switch (opt) {
        case 'r':
            o.region = optarg;
            break;
        case 'c':
            o.config = optarg;
            break;
        case 'S':
            o.state_dir = optarg;
            break;
        case 'R':
            o.report_dir = optarg;
            break;
        case 'p':
            o.trainee_keys = optarg;
            break;
        case 'P':
            o.policy = optarg;
            break;
        case 'u':
            o.resume = 1;
            break;
        case 't':
            o.take_over = 1;
            break;
        case 's':
        case 'w':
            n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 1 ||
                n > (opt == 's' ? FX_SCENARIO_MAX_SPEED : 86400)) {
                fx_cli_error(AGENT_PROG, "exercise run: %s must be a whole number from 1 to %d",
                             opt == 's' ? "--speed" : "--wait",
                             opt == 's' ? FX_SCENARIO_MAX_SPEED : 86400);
                return FX_EXIT_USAGE;
            }
            if (opt == 's')
                o.speed = (int) n;
            else
                o.timeout_s = (int) n;
            break;
        case 'h':
            s_run_help();
            return FX_EXIT_OK;
        default:
            fx_cli_error(AGENT_PROG, "exercise run: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "exercise run: give exactly one SCENARIO (try --help)");
        return FX_EXIT_USAGE;
    }
    o.scenario_path = argv[optind];
    char state[512];
    if (!o.state_dir) {
        /* ./exercise-ID, from the scenario's exercise id (read once more by the runner). */
        fx_diag_t *diag = fx_diag_new(o.scenario_path);
        fx_scenario_t *s = NULL;
        if (fx_scenario_load(o.scenario_path, NULL, fx_now_ms(), diag, &s) != FX_OK) {
            fx_diag_print(diag, stderr, AGENT_PROG ": ");
            fx_diag_destroy(&diag);
            return FX_EXIT_USAGE;
        }
        snprintf(state, sizeof state, "exercise-%s", fx_scenario_exercise(s));
        fx_scenario_destroy(&s);
        fx_diag_destroy(&diag);
        o.state_dir = state;
    }
    return exercise_run(&o);
}

/* ---- report --------------------------------------------------------------------------------- */

static void s_report_help(void)
{
    printf("Usage: %s exercise report RESULTS.json --out DIR\n\n"
           "Writes the after-action report of a run from its results (the results.json that\n"
           "'exercise run' keeps in its state directory): DIR/report.md, DIR/report.html (one\n"
           "self-contained page with an SVG timeline) and DIR/report.json (the schema is\n"
           "docs/exercise-report.schema.json).\n\n"
           "  --out DIR    where the report goes\n"
           "  -h, --help   this help\n",
           AGENT_PROG);
    fx_cli_print_exit_codes();
}

static int s_report(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'o') {
            out = optarg;
        } else if (opt == 'h') {
            s_report_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "exercise report: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !out) {
        fx_cli_error(AGENT_PROG, "exercise report: give RESULTS.json and --out DIR (try --help)");
        return FX_EXIT_USAGE;
    }
    json_error_t err;
    json_t *results = json_load_file(argv[optind], JSON_REJECT_DUPLICATES, &err);
    if (!results) {
        fx_cli_error(AGENT_PROG, "exercise report: %s:%d:%d: %s", argv[optind], err.line,
                     err.column, err.text);
        return FX_EXIT_USAGE;
    }
    const char *why = exercise_results_check(results);
    int status = FX_EXIT_OK;
    if (why) {
        fx_cli_error(AGENT_PROG, "exercise report: %s: %s", argv[optind], why);
        status = FX_EXIT_USAGE;
    } else if ((status = exercise_report_write(results, out)) == FX_EXIT_OK) {
        printf("report: %s/report.html, %s/report.md, %s/report.json\n", out, out, out);
    }
    json_decref(results);
    return status;
}

/* ---- audit ---------------------------------------------------------------------------------- */

static void s_audit_help(void)
{
    printf("Usage: %s exercise audit EXERCISE [--config FILE] [--after SEQ] [--json]\n\n"
           "Prints the broker's audit entries of one exercise's messages and subscriptions,\n"
           "oldest first, from after entry SEQ (default: all): what the runner reads to observe\n"
           "the trainees it does not play. Only a principal with the role trainer whom the\n"
           "sharing policy lists as a participant of the exercise may read them; anyone else\n"
           "is refused (and the refusal is audited). Entries never hold content, and never\n"
           "concern live traffic or another exercise.\n\n"
           "Options:\n"
           "  --config FILE  the trainer's agent configuration (default $%s or ./%s)\n"
           "  --after SEQ    only the entries after this audit seq\n"
           "  --json         one JSON object per entry (seq, time, event, actor, subject,\n"
           "                 msg_id, details)\n"
           "  -h, --help     this help\n",
           AGENT_PROG, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    printf("\nExits 0 when the entries were printed, 3 when the broker refused.\n");
    fx_cli_print_exit_codes();
}

/* Prints one entry as a line of text or of JSON. */
static void s_audit_print(const Fusion__AuditEntry *e, int as_json)
{
    char when[FX_TIME_BUFSIZE], hex[2 * FX_MSG_ID_BYTES + 1] = "";
    fx_time_format((int64_t) e->time_ms, when);
    if (e->msg_id.len == FX_MSG_ID_BYTES)
        agent_msg_id_hex(e->msg_id.data, hex);
    if (!as_json) {
        printf("%llu  %s  %-14s %s%s%s%s%s  %s\n", (unsigned long long) e->seq, when, e->event,
               e->actor, e->subject[0] ? " -> " : "", e->subject, hex[0] ? "  " : "", hex,
               e->details);
        return;
    }
    json_t *details = json_loads(e->details, JSON_REJECT_DUPLICATES, NULL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "seq", (json_int_t) e->seq, "time", when,
                          "event", e->event, "actor", e->actor, "subject", e->subject);
    json_object_set_new(o, "msg_id", hex[0] ? json_string(hex) : json_null());
    json_object_set_new(o, "details", json_is_object(details) ? details : json_object());
    if (!json_is_object(details))
        json_decref(details);
    char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (line)
        printf("%s\n", line);
    free(line);
    json_decref(o);
}

static int s_audit(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"after", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    uint64_t after = 0;
    int as_json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end = NULL;
        if (opt == 'c') {
            config = optarg;
        } else if (opt == 'a') {
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-' || errno || n > INT64_MAX) {
                fx_cli_error(AGENT_PROG, "exercise audit: --after must be an audit seq (a whole "
                                         "number from 0)");
                return FX_EXIT_USAGE;
            }
            after = n;
        } else if (opt == 'j') {
            as_json = 1;
        } else if (opt == 'h') {
            s_audit_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "exercise audit: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !argv[optind][0]) {
        fx_cli_error(AGENT_PROG, "exercise audit: give exactly one EXERCISE id (try --help)");
        return FX_EXIT_USAGE;
    }
    const char *exercise = argv[optind];
    agent_session_t session;
    int status = agent_session_open(&session, "exercise audit", agent_config_path(config),
                                    AGENT_DEFAULT_TIMEOUT_S * 1000);
    if (status != FX_EXIT_OK)
        return status;
    for (;;) {
        Fusion__Frame *frame = NULL;
        fx_answer_t answer;
        fx_err_t rc = fx_client_exercise_audit(session.client, exercise, after, 0,
                                               session.timeout_ms, &frame, &answer);
        if (rc != FX_OK) {
            if (answer.refused)
                fx_cli_error(AGENT_PROG, "exercise audit: the broker refused: %s: %s", answer.code,
                             answer.reason);
            else
                fx_cli_error(AGENT_PROG, "exercise audit: %s%s%s", fx_strerror(rc),
                             rc == FX_ERR_UNAVAILABLE ? ": " : "",
                             rc == FX_ERR_UNAVAILABLE ? fx_client_status(session.client) : "");
            status = fx_err_exit(rc);
            break;
        }
        const Fusion__ExerciseAudit *got = frame->exercise_audit;
        for (size_t i = 0; i < got->n_entries; i++)
            s_audit_print(got->entries[i], as_json);
        after = got->next_seq;
        int more = got->more && got->n_entries > 0; /* a broker that does not move on: stop */
        fx_codec_free(frame);
        if (!more)
            break;
    }
    agent_session_close(&session);
    return status;
}

/* ---- the command ---------------------------------------------------------------------------- */

static const fx_command_t s_subcommands[] = {
    {"validate", s_validate, "check a scenario file (and, with --policy, against the policy)"},
    {"run", s_run, "play a scenario against the running broker (simulated participants)"},
    {"report", s_report, "write the after-action report from a run's results"},
    {"audit", s_audit, "print an exercise's audit entries (a trainer of the exercise)"},
    {NULL, NULL, NULL},
};

int agent_exercise(int argc, char **argv)
{
    return fx_cli_dispatch(AGENT_PROG " exercise",
                           "fusion-agent exercise: simulated multi-agency exercises on the real "
                           "system (docs/exercises.md).",
                           s_subcommands, argc, argv);
}
