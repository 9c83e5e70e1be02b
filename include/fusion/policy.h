/* The sharing guidelines (DESIGN.md, "Sharing guidelines (the policy)"): loading a YAML policy
 * strictly, with every error as NAME:LINE:COLUMN: message, compiled into bit masks and interned
 * symbols, and the decision for each (section, recipient) pair with its one-sentence reason. */
#ifndef FUSION_POLICY_H
#define FUSION_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fusion/util.h"

#define FX_POLICY_MAX_BYTES    (1024 * 1024) /* a policy file larger than this is refused */
#define FX_POLICY_MAX_SECTIONS 255           /* sections in one message */

typedef struct fx_policy fx_policy_t;               /* a loaded, compiled, immutable policy */
typedef struct fx_policy_errors fx_policy_errors_t; /* the load errors of one policy */
typedef struct fx_policy_query fx_policy_query_t;   /* one message bound to a policy */

/* ---- Loading ------------------------------------------------------------------------------- */

/* Loads and compiles the policy file at path. On FX_OK *policy_p is the new policy (caller
 * destroys). Otherwise *policy_p is NULL and, if errors_p is not NULL, *errors_p receives a list
 * with at least one error (caller destroys): FX_ERR_POLICY for an invalid policy,
 * FX_ERR_NOT_FOUND, FX_ERR_IO or FX_ERR_TOO_LARGE for a file that cannot be read, FX_ERR_INVALID
 * for a path that is a directory. */
fx_err_t fx_policy_load(const char *path, fx_policy_t **policy_p,
                        fx_policy_errors_t **errors_p) FX_WUR;

/* As fx_policy_load, from len bytes in memory (the exact bytes whose signature the caller
 * verified); name is what errors are prefixed with. The bytes are not kept. */
fx_err_t fx_policy_load_buffer(const char *name, const uint8_t *data, size_t len,
                               fx_policy_t **policy_p, fx_policy_errors_t **errors_p) FX_WUR;

/* Frees the policy; sets *self_p to NULL. Accepts NULL. */
void fx_policy_destroy(fx_policy_t **self_p);

/* Number of errors in the list (errors are sorted by line, then column). */
size_t fx_policy_errors_count(const fx_policy_errors_t *self);
/* How many errors were found: more than the count once the list is capped (its last line then
 * says how many were left out). */
size_t fx_policy_errors_total(const fx_policy_errors_t *self);
/* The whole error line "NAME:LINE:COLUMN: message" (or "NAME: message" when no position). */
const char *fx_policy_errors_text(const fx_policy_errors_t *self, size_t index);
/* The message alone, without the name and position. */
const char *fx_policy_errors_message(const fx_policy_errors_t *self, size_t index);
/* The 1-based line and column of the offending node; 0 when the error has no position. */
unsigned fx_policy_errors_line(const fx_policy_errors_t *self, size_t index);
unsigned fx_policy_errors_column(const fx_policy_errors_t *self, size_t index);
/* Frees the list; sets *self_p to NULL. Accepts NULL. */
void fx_policy_errors_destroy(fx_policy_errors_t **self_p);

/* ---- What a policy holds ------------------------------------------------------------------- */

/* The name the policy was loaded under (its path, or the name given to load_buffer). */
const char *fx_policy_name(const fx_policy_t *self);
/* 1 if the policy's default is permit, 0 if forbid. */
int fx_policy_default_permit(const fx_policy_t *self);
/* How many rules, agreements, taskforces and exercises the policy lists. */
size_t fx_policy_rule_count(const fx_policy_t *self);
size_t fx_policy_agreement_count(const fx_policy_t *self);
size_t fx_policy_taskforce_count(const fx_policy_t *self);
size_t fx_policy_exercise_count(const fx_policy_t *self);
/* The referral deadline for an urgency (FX_URGENCY_*; 0 is read as normal) in milliseconds, or
 * 0 when the policy sets none. */
int64_t fx_policy_referral_deadline(const fx_policy_t *self, int urgency);
/* 1 if the policy lists an exercise with this id (case-sensitive). */
int fx_policy_has_exercise(const fx_policy_t *self, const char *id);
/* 1 if the principal (COUNTRY.AGENCY.UNIT) takes part in the exercise with this id, listed by
 * its id or its agency; 0 otherwise (also for an exercise the policy does not list). */
int fx_policy_exercise_participant(const fx_policy_t *self, const char *exercise,
                                   const char *principal_id);
/* The clock of an exercise: exercise seconds per real second, as the policy's optional `speed`
 * authorises it (1 to FX_POLICY_MAX_EXERCISE_SPEED); 1 (real time) when the policy gives none or
 * does not list the exercise, and for live traffic (NULL or ""). The broker divides the referral
 * deadlines of the exercise's referrals by it. */
#define FX_POLICY_MAX_EXERCISE_SPEED 3600
int fx_policy_exercise_speed(const fx_policy_t *self, const char *exercise);
/* The guideline text of the rule with this id, or NULL (for "default" too). Policy-owned. */
const char *fx_policy_rule_guideline(const fx_policy_t *self, const char *rule_id);
/* Whether the policy has a forbid rule with this id (the only rule a denial names). */
bool fx_policy_has_forbid_rule(const fx_policy_t *self, const char *rule_id);
/* Writes a one-line summary ("default forbid; 4 rules, 1 agreement, ...") into buf. */
void fx_policy_summary(const fx_policy_t *self, char *buf, size_t size);

/* ---- Deciding ------------------------------------------------------------------------------ */

/* A principal with the attributes the policy looks at (from its certificate, or inline in an
 * explain query). Strings are copied by the query. */
typedef struct {
    const char *id;      /* COUNTRY.AGENCY.UNIT */
    const char *country; /* ISO 3166-1 alpha-3, any case; NULL: taken from id */
    const char *agency;  /* COUNTRY.AGENCY; NULL: taken from id */
    uint32_t roles;      /* bit v for role value v (FX_ROLE_*) */
} fx_policy_principal_t;

/* A section's signed labels. */
typedef struct {
    uint32_t id;
    int tlp;             /* FX_TLP_*; 0 (absent) is treated as red by the TLP check */
    uint32_t categories; /* bit v for category value v (FX_CATEGORY_*) */
} fx_policy_section_t;

/* The header fields the policy looks at. Enumerations hold FX_* values, 0 when absent. */
typedef struct {
    int kind, audience, purpose, subject_role, stage, urgency;
    uint32_t handling;     /* bit v for handling value v */
    int consent;           /* 0 or 1 */
    const char *route;     /* NULL or "": no route */
    const char *exercise;  /* NULL or "": live traffic */
    const char *taskforce; /* NULL or "": none */
    const char *agreement; /* NULL or "": none cited */
    const fx_policy_section_t *sections;
    size_t section_count; /* 1 .. FX_POLICY_MAX_SECTIONS */
} fx_policy_message_t;

/* The six denial codes of DESIGN.md, in the order the checks run. */
typedef enum {
    FX_POLICY_ALLOWED = 0,
    FX_POLICY_EXERCISE_SEGREGATION,
    FX_POLICY_TLP_AUDIENCE,
    FX_POLICY_AUDIENCE_MISMATCH,
    FX_POLICY_NO_AGREEMENT,
    FX_POLICY_FORBIDDEN,
    FX_POLICY_NO_PERMIT
} fx_policy_code_t;

/* The decision for one (section, recipient) pair. Strings are owned by the policy. */
typedef struct {
    int allow;             /* 1 allowed, 0 denied */
    fx_policy_code_t code; /* FX_POLICY_ALLOWED when allowed */
    const char *rule;      /* allowing rule ("default" for the default), forbidding rule, or NULL */
    const char *guideline; /* that rule's guideline text, or NULL */
    const char *agreement; /* the agreement that satisfied the agreement check, or NULL */
} fx_policy_decision_t;

/* The snake_case code of a denial ("tlp_audience"), or "allowed". */
const char *fx_policy_code_name(fx_policy_code_t code);

/* Binds a message of sender to the policy at time at_ms: interns the sender, parses the route and
 * does every per-message and per-section step once. The policy must outlive the query.
 * FX_ERR_INVALID (with a sentence in why, why_size bytes) for an invalid principal or route, no
 * sections or too many. */
fx_err_t fx_policy_query_new(const fx_policy_t *policy, const fx_policy_principal_t *sender,
                             const fx_policy_message_t *message, int64_t at_ms,
                             fx_policy_query_t **query_p, char *why, size_t why_size) FX_WUR;

/* Adds a recipient (interned once here, not per section); *index_p receives its index: 0, 1,
 * 2, ... in the order recipients are added.
 * FX_ERR_INVALID (with why) for an invalid principal id or country. */
fx_err_t fx_policy_query_add_recipient(fx_policy_query_t *self,
                                       const fx_policy_principal_t *recipient, size_t *index_p,
                                       char *why, size_t why_size) FX_WUR;

/* How many recipients were added, and how many sections the message has. */
size_t fx_policy_query_recipient_count(const fx_policy_query_t *self);
size_t fx_policy_query_section_count(const fx_policy_query_t *self);

/* Decides one (section, recipient) pair by index, in DESIGN.md's order; no string comparison. */
void fx_policy_decide(const fx_policy_query_t *self, size_t recipient, size_t section,
                      fx_policy_decision_t *decision);

/* One plain sentence explaining a decision made by fx_policy_decide for that pair, naming the
 * guideline or principle. Returns a new string (caller frees). */
char *fx_policy_reason(const fx_policy_query_t *self, size_t recipient, size_t section,
                       const fx_policy_decision_t *decision);

/* One plain sentence when the message's audience alone lets no one receive it (a taskforce the
 * policy does not list, not in force, or without the sender), new (caller frees); else NULL. */
char *fx_policy_audience_reason(const fx_policy_query_t *self);

/* Frees the query; sets *self_p to NULL. Accepts NULL. */
void fx_policy_query_destroy(fx_policy_query_t **self_p);

#endif
