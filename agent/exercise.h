/* fusion-agent exercise: what its three parts share. agent_exercise.c parses the command lines
 * (validate, run, report); exercise_run.c plays a scenario against the broker and keeps the
 * results as JSON; exercise_report.c turns those results into the after-action report. */
#ifndef FUSION_AGENT_EXERCISE_H
#define FUSION_AGENT_EXERCISE_H

#include <jansson.h>

#include "fusion/scenario.h"

#define EXERCISE_RESULTS_VERSION 1

/* What `exercise run` was asked to do. */
typedef struct {
    const char *scenario_path;
    const char *region;       /* the region directory (authority key) to enrol simulated ones */
    const char *config;       /* the trainer's agent configuration */
    const char *state_dir;    /* keys of simulated participants, progress, results */
    const char *report_dir;   /* where the after-action report goes (NULL: STATE/report) */
    const char *trainee_keys; /* --play-trainees: a directory of ID.key files, or NULL */
    const char *policy;       /* the policy, for guidelines in the report (NULL: REGION's) */
    int speed;                /* 0: the scenario's */
    int resume;
    int take_over; /* re-enrol simulated ids whose certificate another state's keys hold */
    int timeout_s; /* waiting for the broker to admit the simulated participants */
} exercise_options_t;

/* Plays the scenario; returns the exit code (0: every expectation came out as designed). */
int exercise_run(const exercise_options_t *options);

/* Writes report.md, report.html and report.json into out_dir from a results document (as
 * exercise_run keeps it). Returns the exit code: 0, or after printing the problem 2 (unusable
 * results; something at a report's path that is not a regular file) or 4. */
int exercise_report_write(const json_t *results, const char *out_dir);

/* Checks that a results document has the shape exercise_report_write needs; NULL when it does,
 * else a sentence naming the first problem (static). */
const char *exercise_results_check(const json_t *results);

#endif
