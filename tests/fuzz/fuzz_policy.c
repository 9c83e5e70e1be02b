/* libFuzzer target: the policy loader over arbitrary bytes from memory (YAML syntax, schema,
 * limits), and, for inputs that load, one decision against a fixed message so that compiled
 * conditions run too. Seeds: tests/fuzz/corpus/policy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/policy.h"
#include "fusion/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_decide_once(const fx_policy_t *policy)
{
    fx_policy_principal_t sender = {"THA.RTP.fp1", "THA", "THA.RTP",
                                    1u << FX_ROLE_FOCAL_POINT | 1u << FX_ROLE_POLICE};
    fx_policy_principal_t recipient = {"IDN.POLRI.fp1", NULL, NULL, 1u << FX_ROLE_FOCAL_POINT};
    fx_policy_section_t sections[2] = {
        {1, FX_TLP_AMBER, 1u << FX_CATEGORY_VICTIM_IDENTITY},
        {2, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL},
    };
    fx_policy_message_t message = {.kind = FX_KIND_REFERRAL,
                                   .audience = FX_AUDIENCE_DIRECT,
                                   .purpose = FX_PURPOSE_VICTIM_PROTECTION,
                                   .route = "MMR>THA>IDN",
                                   .exercise = "EX-2026-11",
                                   .sections = sections,
                                   .section_count = 2};
    fx_policy_query_t *query = NULL;
    char why[256];
    if (fx_policy_query_new(policy, &sender, &message, 1795000000000LL, &query, why, sizeof why) !=
        FX_OK)
        abort(); /* the message is valid: only the policy varies */
    if (fx_policy_query_add_recipient(query, &recipient, NULL, why, sizeof why) != FX_OK)
        abort();
    for (size_t s = 0; s < 2; s++) {
        fx_policy_decision_t decision;
        fx_policy_decide(query, 0, s, &decision);
        char *reason = fx_policy_reason(query, 0, s, &decision);
        if (!reason || !*reason)
            abort();
        free(reason);
    }
    fx_policy_query_destroy(&query);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    fx_err_t rc = fx_policy_load_buffer("fuzz.yaml", data, size, &policy, &errors);
    if (rc == FX_OK) {
        char summary[256];
        fx_policy_summary(policy, summary, sizeof summary);
        s_decide_once(policy);
    } else {
        if (fx_policy_errors_count(errors) == 0)
            abort(); /* a refused policy always says why */
        for (size_t i = 0; i < fx_policy_errors_count(errors); i++)
            if (strncmp(fx_policy_errors_text(errors, i), "fuzz.yaml", 9) != 0)
                abort();
    }
    fx_policy_errors_destroy(&errors);
    fx_policy_destroy(&policy);
    return 0;
}
