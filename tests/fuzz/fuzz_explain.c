/* libFuzzer target: explain queries (arbitrary JSON) against a fixed compiled policy, the same
 * path as `fusion-admin policy explain` and the broker's EXPLAIN. Seeds:
 * tests/fuzz/corpus/explain. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/explain.h"
#include "fusion/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char s_policy_yaml[] =
    "fusion_policy: 1\n"
    "default: forbid\n"
    "protected_categories: [personal_identifiers, biometric, victim_identity, minor, health]\n"
    "countries:\n"
    "  AUS: { protected_categories: [personal_identifiers, travel_document] }\n"
    "agreements:\n"
    "  - {id: IDN-THA-NRM-2024, parties: [IDN, THA], categories: [personal_identifiers, "
    "victim_identity, travel_document], purposes: [victim_protection, return_reintegration], "
    "from: 2024-06-01, until: 2027-06-01}\n"
    "taskforces:\n"
    "  - {id: OP-MEKONG-SCAM, members: [THA.RTP, IDN.POLRI, PHL.IACAT], from: 2025-01-01}\n"
    "exercises:\n"
    "  - {id: EX-2026-11, participants: [THA.RTP, IDN.POLRI, LKA.DIE.smpu1]}\n"
    "rules:\n"
    "  - {id: nonpunishment, effect: forbid, guideline: Non-punishment, when: {categories: "
    "{any_of: [victim_identity]}, recipient.roles: {any_of: [prosecution]}, purpose: {not: "
    "[victim_protection]}}}\n"
    "  - {id: route-alerts, effect: permit, guideline: Routes, when: {kind: case_alert, "
    "audience: route, recipient.roles: liaison_officer, tlp: {at_most: green}, route: "
    "\"**>THA>**\"}}\n"
    "  - {id: focal-points, effect: permit, guideline: Focal points, when: {recipient.roles: "
    "focal_point, cross_border: true, consent: false}}\n"
    "  - {id: taskforce, effect: permit, guideline: Taskforces, when: {audience: taskforce, "
    "sender.agency: [THA.RTP, IDN.POLRI], recipient.country: {not: MMR}}}\n";

static fx_policy_t *s_policy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_policy && fx_policy_load_buffer("fuzz-policy", (const uint8_t *) s_policy_yaml,
                                           sizeof s_policy_yaml - 1, &s_policy, NULL) != FX_OK)
        abort();
    json_error_t jerr;
    json_t *query = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!query)
        return 0;
    json_t *answer = NULL;
    char why[FX_EXPLAIN_WHY_SIZE];
    if (fx_explain(s_policy, query, 1795000000000LL, &answer, why, sizeof why) == FX_OK) {
        size_t i;
        json_t *decision;
        json_array_foreach(json_object_get(answer, "decisions"), i, decision)
        {
            char *line = fx_explain_decision_text(s_policy, decision);
            free(line);
        }
        char *text = json_dumps(answer, 0);
        free(text);
    } else if (!why[0]) {
        abort(); /* an invalid query always says why */
    }
    json_decref(answer);
    json_decref(query);
    return 0;
}
