/* Composing a message from command-line options or a guided prompt (agent_compose.c), shared by
 * `alert`, `refer` and `can-share`. The options become a draft document that lib/draft.c checks
 * exactly as it checks a draft file, so labels and categories follow one set of rules. */
#ifndef FUSION_AGENT_COMPOSE_H
#define FUSION_AGENT_COMPOSE_H

#include <jansson.h>
#include <stdio.h>

#include "fusion/directory.h"
#include "fusion/draft.h"

typedef struct {
    const char *command; /* "alert", "refer", "can-share" */
    int kind;            /* FX_KIND_*: the message kind (can-share: from --kind) */
    int can_share;       /* sections may go without content; --to for any audience */
    const char *draft_path;
    const char *config;
    int timeout_ms;
    int yes, json;
    int composed;    /* a header or section option was given */
    json_t *doc;     /* the draft being built */
    json_t *section; /* the current section (in doc's "sections"), or NULL */
    json_t *body;    /* its structured content body, or NULL */
    json_t *to;      /* --to: principal or agency ids */
    int audience;    /* from --audience, 0 to infer it */
    int n_sections;
} compose_t;

/* Starts an empty composition for command. */
void agent_compose_init(compose_t *self, const char *command, int kind, int can_share);

/* Frees what the composition holds. */
void agent_compose_clear(compose_t *self);

/* Parses argv (from the command name on). Returns -1 when it printed --help (exit 0), 0 on
 * success, or an exit code after printing the problem. help prints the command's usage. */
int agent_compose_options(compose_t *self, int argc, char **argv, void (*help)(void));

/* Applies one option (its long name without dashes, e.g. "stage", "section", "person") with
 * value, as the command line would. 0, or -1 with a sentence for the officer in why. */
int agent_compose_apply(compose_t *self, const char *option, const char *value, char *why,
                        size_t why_size);

/* Asks for the message on a terminal: questions go to out, answers come from in (one per line,
 * an empty line skips an optional question); an invalid answer is explained and asked again.
 * 0, or -1 when the answers ran out (nothing is composed then). */
int agent_compose_prompt(compose_t *self, FILE *in, FILE *out);

/* Builds the draft: from the draft file, or from the options through lib/draft.c. Problems are
 * printed as "fusion-agent COMMAND: ..."; returns 0 or the exit code. *draft_p is new. */
int agent_compose_draft(compose_t *self, fx_draft_t **draft_p);

/* The options `alert`, `refer` and `can-share` share, for their --help. */
void agent_compose_print_options(const compose_t *self);

/* Checks the recipients named by --to or a draft's `recipients` against the directory, for
 * `send`, `alert`, `refer` and `can-share` alike: each must be the id of a valid, unrevoked
 * principal, or an agency with one. 0, or FX_EXIT_USAGE after printing "fusion-agent COMMAND: ID
 * is not a principal or agency of the directory ...", followed by tail. */
int agent_check_recipients(const char *command, const fx_directory_t *dir, const char *const *ids,
                           size_t n, const char *tail);

#endif
