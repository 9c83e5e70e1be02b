/* Exercise scenarios (docs/exercises.md): a trainer's Master Scenario Events List in YAML (the
 * exercise, its participants, a clock speed and timed injects with expectations), loaded strictly
 * with every problem as FILE:LINE:COLUMN: message. The runner (fusion-agent exercise) plays it. */
#ifndef FUSION_SCENARIO_H
#define FUSION_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/policy.h"
#include "fusion/util.h"
#include "fusion/yamldoc.h"

#define FX_SCENARIO_MAX_BYTES        (2u << 20) /* a scenario file */
#define FX_SCENARIO_MAX_PARTICIPANTS 64
#define FX_SCENARIO_MAX_INJECTS      256
#define FX_SCENARIO_MAX_EXPECT       32                    /* expectations of one inject */
#define FX_SCENARIO_MAX_SPEED        3600                  /* scenario seconds per real second */
#define FX_SCENARIO_MAX_AT_MS        (1000LL * 3600 * 999) /* +999:59 at the latest */
/* An expectation's `within` and a standing behaviour's delays, at most: 30 days of exercise
 * time (a broker keeps a message 30 days at most by default), so every run ends. */
#define FX_SCENARIO_MAX_DELAY_MS   (1000LL * 3600 * 24 * 30)
#define FX_SCENARIO_MAX_DELAY_TEXT "30d (720h)"

typedef struct fx_scenario fx_scenario_t;

/* What an inject does. */
typedef enum {
    FX_INJECT_SEND = 1,    /* sends an embedded message draft (alert, referral, notice, ...) */
    FX_INJECT_RESPOND,     /* answers an earlier referral inject (referral_response) */
    FX_INJECT_FEEDBACK,    /* reports a hit on an earlier alert inject (alert_feedback) */
    FX_INJECT_SUBSCRIBE,   /* follows a route pattern for the exercise */
    FX_INJECT_UNSUBSCRIBE, /* stops following one */
} fx_inject_kind_t;

/* What an expectation checks, about the message of its inject. */
typedef enum {
    FX_EXPECT_DELIVERED = 1, /* principal receives it within `within` */
    FX_EXPECT_NOT_DELIVERED, /* principal never receives it (within `within`, else the run) */
    FX_EXPECT_DENIED,        /* the policy denies principal, with code (and rule) */
    FX_EXPECT_ACKNOWLEDGED,  /* principal answers the referral acknowledged (or more) in time */
    FX_EXPECT_ACCEPTED,      /* principal answers the referral accepted in time */
    FX_EXPECT_DECLINED,      /* principal answers the referral declined in time */
    FX_EXPECT_ESCALATED,     /* principal receives the broker's escalation notice in time */
} fx_expect_kind_t;

typedef struct {
    fx_expect_kind_t kind;
    const char *principal; /* a principal id */
    int64_t within_ms;     /* scenario time after the inject; 0: none given */
    const char *code;      /* denied: one of the six policy codes */
    const char *rule;      /* denied: the rule, or NULL */
    int designed_to_fail;  /* the scenario expects this one to be missed */
    const char *note;      /* what it shows, for the report, or NULL */
    unsigned line, column;
} fx_expectation_t;

/* Standing behaviour of a simulated participant on the referrals it receives; -1: never. */
typedef struct {
    int64_t acknowledge_after_ms;
    int64_t accept_after_ms;
    int decline_without_consent; /* answer `declined` (at acknowledge time) if consent is false */
} fx_behaviour_t;

typedef struct {
    const char *id;
    const char *name; /* who they are, for the report, or NULL */
    int simulated;    /* played by the runner with keys it generates */
    uint32_t roles;   /* simulated: bit v for role v (the runner adds `simulated`) */
    fx_behaviour_t behaviour;
    unsigned line, column;
} fx_participant_t;

typedef struct {
    const char *id;
    int64_t at_ms; /* scenario time from the start */
    const char *from;
    const char *description; /* or NULL */
    fx_inject_kind_t kind;
    const fx_yaml_node_t *draft; /* send: the embedded draft (parsed again when sent) */
    int message_kind;            /* send: the draft's kind (FX_KIND_*); respond/feedback too */
    int urgency;                 /* send: the draft's urgency (FX_URGENCY_*, 0 none given) */
    const char *to;              /* respond, feedback: the id of the inject answered */
    int status;                  /* respond: FUSION__RESPONSE_STATUS__* */
    const char *reason;          /* respond: declined, need_info */
    const char *outcome;         /* respond: closed */
    const char *observation;     /* feedback */
    char *pattern;               /* subscribe, unsubscribe: normalised route pattern (owned) */
    uint32_t stages, kinds;      /* subscribe: bit masks, 0 all */
    const fx_expectation_t *expect;
    size_t n_expect;
    unsigned line, column;
} fx_inject_t;

/* Reads and checks the scenario file at path (at now_ms, the time embedded drafts' relative
 * expiry counts from). When policy is not NULL the exercise must be one it lists and every
 * participant one of that exercise's. Problems go to diag as NAME:LINE:COLUMN: message;
 * FX_ERR_INVALID when there was any (FX_ERR_NOT_FOUND / FX_ERR_IO for a file that cannot be
 * read). *scenario_p is new. */
fx_err_t fx_scenario_load(const char *path, const fx_policy_t *policy, int64_t now_ms,
                          fx_diag_t *diag, fx_scenario_t **scenario_p) FX_WUR;

/* The same for a scenario in memory; embedded drafts' `file:` paths are relative to base_dir. */
fx_err_t fx_scenario_parse(const uint8_t *data, size_t len, const char *base_dir,
                           const fx_policy_t *policy, int64_t now_ms, fx_diag_t *diag,
                           fx_scenario_t **scenario_p) FX_WUR;

/* Frees a scenario; sets *self_p to NULL. Accepts NULL. */
void fx_scenario_destroy(fx_scenario_t **self_p);

const char *fx_scenario_exercise(const fx_scenario_t *self);
const char *fx_scenario_title(const fx_scenario_t *self);
const char *fx_scenario_reference(const fx_scenario_t *self); /* or NULL */
size_t fx_scenario_objective_count(const fx_scenario_t *self);
const char *fx_scenario_objective(const fx_scenario_t *self, size_t i);
/* Scenario seconds per real second (1: real time). */
int fx_scenario_speed(const fx_scenario_t *self);
/* The directory embedded drafts' `file:` paths are relative to. */
const char *fx_scenario_base_dir(const fx_scenario_t *self);

size_t fx_scenario_participant_count(const fx_scenario_t *self);
const fx_participant_t *fx_scenario_participant(const fx_scenario_t *self, size_t i);
/* The participant with this id, or NULL. */
const fx_participant_t *fx_scenario_find_participant(const fx_scenario_t *self, const char *id);

/* Injects in time order. */
size_t fx_scenario_inject_count(const fx_scenario_t *self);
const fx_inject_t *fx_scenario_inject(const fx_scenario_t *self, size_t i);
/* The index of the inject with this id, or -1. */
int fx_scenario_find_inject(const fx_scenario_t *self, const char *id);

/* The word of an expectation kind ("delivered", "not_delivered", ...) and of an inject kind. */
const char *fx_expect_kind_name(fx_expect_kind_t kind);
const char *fx_inject_kind_name(fx_inject_kind_t kind);

/* Formats a scenario time as +HH:MM (or +HH:MM:SS when it has seconds) into buf. */
void fx_scenario_time_text(int64_t ms, char buf[24]);

#endif
