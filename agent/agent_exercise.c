/* fusion-agent exercise: the trainer's commands. `validate` checks a scenario (and, with
 * --policy, that its exercise and participants are in the policy); `run` plays it against the
 * broker (exercise_run.c); `report` writes the after-action report from kept results
 * (exercise_report.c). docs/exercises.md describes the scenario format. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
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
           "policy's exercises and every participant must be one of that exercise's.\n\n"
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

/* ---- the command ---------------------------------------------------------------------------- */

static const fx_command_t s_subcommands[] = {
    {"validate", s_validate, "check a scenario file (and, with --policy, against the policy)"},
    {NULL, NULL, NULL},
};

int agent_exercise(int argc, char **argv)
{
    return fx_cli_dispatch(AGENT_PROG " exercise",
                           "fusion-agent exercise: simulated multi-agency exercises on the real "
                           "system (docs/exercises.md).",
                           s_subcommands, argc, argv);
}
