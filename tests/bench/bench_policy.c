/* Policy evaluation throughput: a generated policy of 200 rules (forbid and permit over every
 * kind of condition) and a message of 4 sections to 1,000 recipients, decided pair by pair as
 * the broker does for PREPARE and PUBLISH. Target: 1 million (section, recipient) decisions per
 * second on one core, the query set-up (interning, route, per-section rule filtering) included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/policy.h"
#include "fusion/vocab.h"
#include "report.h"

#define RULES      200
#define RECIPIENTS 1000
#define SECTIONS   4
#define TARGET     1000000.0

static uint32_t s_rand(uint32_t *state)
{
    *state ^= *state << 13; /* xorshift32: reproducible, no libc rand() state */
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

static const char *const s_countries[] = {"THA", "IDN", "MYS", "VNM", "PHL", "LKA",
                                          "AUS", "MMR", "KHM", "LAO", "BGD", "NZL"};
#define NCOUNTRIES (sizeof s_countries / sizeof s_countries[0])

static const char *s_word(fx_vocab_t vocab, uint32_t *rng)
{
    return fx_vocab_name(vocab, 1 + (int) (s_rand(rng) % (uint32_t) (fx_vocab_size(vocab) - 1)));
}

/* The field each condition form tests: a rule tests each field once. */
static const int s_form_field[14] = {0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 3};

/* Appends condition form `form`, one of the forms a real policy uses. */
static size_t s_condition(char *out, size_t size, int form, uint32_t *rng)
{
    const char *c1 = s_countries[s_rand(rng) % NCOUNTRIES];
    const char *c2 = s_countries[s_rand(rng) % NCOUNTRIES];
    switch (form) {
    case 0:
        return (size_t) snprintf(out, size, "kind: [%s, %s], ", s_word(FX_VOCAB_KIND, rng),
                                 s_word(FX_VOCAB_KIND, rng));
    case 1:
        return (size_t) snprintf(out, size, "tlp: {at_least: %s}, ", s_word(FX_VOCAB_TLP, rng));
    case 2:
        return (size_t) snprintf(out, size, "tlp: {at_most: %s}, ", s_word(FX_VOCAB_TLP, rng));
    case 3:
        return (size_t) snprintf(out, size, "categories: {any_of: [%s, %s]}, ",
                                 s_word(FX_VOCAB_CATEGORY, rng), s_word(FX_VOCAB_CATEGORY, rng));
    case 4:
        return (size_t) snprintf(out, size, "categories: {none_of: [%s]}, ",
                                 s_word(FX_VOCAB_CATEGORY, rng));
    case 5:
        return (size_t) snprintf(out, size, "recipient.roles: {any_of: [%s, %s]}, ",
                                 s_word(FX_VOCAB_ROLE, rng), s_word(FX_VOCAB_ROLE, rng));
    case 6:
        return (size_t) snprintf(out, size, "recipient.country: [%s, %s], ", c1, c2);
    case 7:
        return (size_t) snprintf(out, size, "recipient.country: {not: %s}, ", c1);
    case 8:
        return (size_t) snprintf(out, size, "sender.country: %s, ", c1);
    case 9:
        return (size_t) snprintf(out, size, "purpose: {not: [%s]}, ",
                                 s_word(FX_VOCAB_PURPOSE, rng));
    case 10:
        return (size_t) snprintf(out, size, "route: \"%s>**>%s\", ", c1, c2);
    case 11:
        return (size_t) snprintf(out, size, "cross_border: %s, ",
                                 s_rand(rng) % 2 ? "true" : "false");
    case 12:
        return (size_t) snprintf(out, size, "recipient.agency: [%s.AG%u, %s.AG%u], ", c1,
                                 s_rand(rng) % 20, c2, s_rand(rng) % 20);
    default:
        return (size_t) snprintf(out, size, "recipient.roles: {all_of: [%s, %s]}, ",
                                 s_word(FX_VOCAB_ROLE, rng), s_word(FX_VOCAB_ROLE, rng));
    }
}

static char *s_generate_policy(uint32_t *rng)
{
    size_t size = 256 * 1024, n = 0;
    char *yaml = malloc(size);
    if (!yaml)
        abort();
    n += (size_t) snprintf(yaml + n, size - n,
                           "fusion_policy: 1\ndefault: forbid\n"
                           "protected_categories: [personal_identifiers, biometric, "
                           "victim_identity, minor, health]\nagreements:\n");
    for (size_t i = 0; i < NCOUNTRIES / 2; i++) /* half the countries have an agreement */
        n += (size_t) snprintf(yaml + n, size - n,
                               "  - {id: AG-%zu, parties: [THA, %s], categories: "
                               "[personal_identifiers, victim_identity], purposes: "
                               "[investigation, victim_protection], from: 2024-01-01}\n",
                               i, s_countries[i]);
    n += (size_t) snprintf(yaml + n, size - n, "rules:\n");
    for (int r = 0; r < RULES; r++) {
        int permit = r % 3 != 0; /* one rule in three forbids */
        n += (size_t) snprintf(yaml + n, size - n,
                               "  - id: rule-%d\n    effect: %s\n    guideline: \"Generated "
                               "guideline %d\"\n    when: {",
                               r, permit ? "permit" : "forbid", r);
        /* Every rule tests the recipient (as real guidelines do: roles, country, agency), so
         * decisions differ per pair and most pairs pass every forbid rule to reach a permit. */
        static const int recipient_forms[] = {5, 6, 12, 13};
        static const int narrow_forms[] = {0, 1, 2, 3, 5, 6, 8, 10, 12, 13};
        int nconds = permit ? 2 + (int) (s_rand(rng) % 3) : 3 + (int) (s_rand(rng) % 2);
        unsigned used = 0;
        for (int c = 0; c < nconds; c++) {
            int form = c == 0   ? recipient_forms[s_rand(rng) % 4]
                       : permit ? (int) (s_rand(rng) % 14)
                                : narrow_forms[s_rand(rng) % 10];
            if (used >> s_form_field[form] & 1u)
                continue;
            used |= 1u << s_form_field[form];
            n += s_condition(yaml + n, size - n, form, rng);
        }
        n -= 2; /* the last ", " */
        n += (size_t) snprintf(yaml + n, size - n, "}\n");
        if (n + 512 > size)
            abort();
    }
    return yaml;
}

int main(void)
{
    uint32_t rng = 2463534242u;
    char *yaml = s_generate_policy(&rng);
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    double t0 = bench_now();
    int loads = 0;
    do {
        fx_policy_destroy(&policy);
        if (fx_policy_load_buffer("bench", (const uint8_t *) yaml, strlen(yaml), &policy,
                                  &errors) != FX_OK) {
            for (size_t i = 0; i < fx_policy_errors_count(errors); i++)
                fprintf(stderr, "%s\n", fx_policy_errors_text(errors, i));
            return 1;
        }
        loads++;
    } while (bench_now() - t0 < 0.5);
    double load_ms = (bench_now() - t0) * 1000.0 / loads;

    /* 1,000 recipients across countries, agencies and roles. */
    static char ids[RECIPIENTS][32], agencies[RECIPIENTS][16];
    fx_policy_principal_t recipients[RECIPIENTS];
    for (int i = 0; i < RECIPIENTS; i++) {
        const char *country = s_countries[s_rand(&rng) % NCOUNTRIES];
        snprintf(agencies[i], sizeof agencies[i], "%s.AG%u", country, s_rand(&rng) % 20);
        snprintf(ids[i], sizeof ids[i], "%.15s.u%d", agencies[i], i);
        uint32_t roles = 1u << (1 + s_rand(&rng) % 12) | 1u << (1 + s_rand(&rng) % 12);
        recipients[i] = (fx_policy_principal_t){ids[i], country, agencies[i], roles};
    }
    fx_policy_principal_t sender = {"THA.RTP.fp1", "THA", "THA.RTP",
                                    1u << FX_ROLE_FOCAL_POINT | 1u << FX_ROLE_POLICE};
    fx_policy_section_t sections[SECTIONS] = {
        {1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL},
        {2, FX_TLP_AMBER, 1u << FX_CATEGORY_PERSONAL_IDENTIFIERS | 1u << FX_CATEGORY_LOCATION},
        {3, FX_TLP_AMBER_STRICT, 1u << FX_CATEGORY_VICTIM_IDENTITY},
        {4, FX_TLP_RED, 1u << FX_CATEGORY_INTEL_SOURCE | 1u << FX_CATEGORY_TRAVEL_DOCUMENT},
    };
    fx_policy_message_t message = {.kind = FX_KIND_CASE_ALERT,
                                   .audience = FX_AUDIENCE_DIRECT,
                                   .purpose = FX_PURPOSE_INVESTIGATION,
                                   .subject_role = FX_SUBJECT_SUSPECT,
                                   .stage = FX_STAGE_AT_BORDER,
                                   .route = "MMR>THA>MYS",
                                   .sections = sections,
                                   .section_count = SECTIONS};
    int64_t at = 1795000000000LL; /* 2026-11-18 */

    long decisions = 0, allowed = 0, messages = 0;
    long by_code[FX_POLICY_NO_PERMIT + 1] = {0};
    double start = bench_now(), elapsed = 0;
    do {
        fx_policy_query_t *query = NULL;
        char why[256];
        if (fx_policy_query_new(policy, &sender, &message, at, &query, why, sizeof why) != FX_OK) {
            fprintf(stderr, "bench_policy: %s\n", why);
            return 1;
        }
        for (int r = 0; r < RECIPIENTS; r++)
            if (fx_policy_query_add_recipient(query, &recipients[r], NULL, why, sizeof why) !=
                FX_OK) {
                fprintf(stderr, "bench_policy: %s\n", why);
                return 1;
            }
        for (size_t r = 0; r < RECIPIENTS; r++) {
            for (size_t s = 0; s < SECTIONS; s++) {
                fx_policy_decision_t d;
                fx_policy_decide(query, r, s, &d);
                allowed += d.allow;
                by_code[d.code]++;
            }
        }
        decisions += RECIPIENTS * SECTIONS;
        messages++;
        fx_policy_query_destroy(&query);
        elapsed = bench_now() - start;
    } while (elapsed < 3.0);

    double rate = (double) decisions / elapsed;
    printf("bench_policy: %ld messages, %ld decisions in %.2f s (%.1f%% allowed;", messages,
           decisions, elapsed, 100.0 * (double) allowed / (double) decisions);
    for (int c = 0; c <= FX_POLICY_NO_PERMIT; c++)
        printf(" %s %ld", fx_policy_code_name((fx_policy_code_t) c), by_code[c]);
    printf(")\n");
    bench_report("policy: (section, recipient) decisions per second, 200 rules", rate,
                 "decisions/s", TARGET);
    bench_report("policy: messages of 4 sections x 1000 recipients per second",
                 (double) messages / elapsed, "messages/s", 0);
    bench_report("policy: load and compile of the 200-rule policy", load_ms, "ms", 0);
    fx_policy_destroy(&policy);
    free(yaml);
    return 0;
}
