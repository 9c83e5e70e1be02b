/* The policy explain contract (DESIGN.md): a JSON query (sender, recipients and message header,
 * with attributes inline) evaluated against a policy into a JSON answer with one decision per
 * (recipient, section). Used by `fusion-admin policy explain` and the broker's EXPLAIN. */
#ifndef FUSION_EXPLAIN_H
#define FUSION_EXPLAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fusion/policy.h"

#define FX_EXPLAIN_MAX_RECIPIENTS 100000 /* recipients in one query */
#define FX_EXPLAIN_WHY_SIZE       512    /* enough for any query error sentence */

/* Validates query exactly as DESIGN.md says and evaluates it against policy at the query's `at`,
 * or at now_ms when it has none. FX_OK with *answer_p a new {"decisions": [...]} object (caller
 * decrefs), or FX_ERR_INVALID with a sentence naming the problem in why (why_size bytes). */
fx_err_t fx_explain(const fx_policy_t *policy, const json_t *query, int64_t now_ms,
                    json_t **answer_p, char *why, size_t why_size) FX_WUR;

/* One line an officer can read for one decision of an answer ("IDN.POLRI.fp1, section 2: allowed
 * by rule focal-points (guideline) under agreement X"); policy, when not NULL, supplies the
 * rule's guideline. Returns a new string (caller frees). */
char *fx_explain_decision_text(const fx_policy_t *policy, const json_t *decision);

#endif
