/* libFuzzer target: the scenario loader over arbitrary bytes (YAML syntax, the scenario schema,
 * embedded drafts, injects and expectations). A valid scenario is walked end to end; a refused
 * one must say why, at a position of its own. Seeds: tests/fuzz/corpus/scenario. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_diag_t *diag = fx_diag_new("fuzz.yaml");
    fx_scenario_t *scenario = NULL;
    /* base_dir "/nonexistent": a `file:` section never reads the fuzzer's file system. */
    fx_err_t rc =
        fx_scenario_parse(data, size, "/nonexistent", NULL, 1795824000000LL, diag, &scenario);
    if (rc == FX_OK) {
        if (fx_diag_count(diag) != 0 || !fx_scenario_exercise(scenario))
            abort();
        for (size_t i = 0; i < fx_scenario_inject_count(scenario); i++) {
            const fx_inject_t *inj = fx_scenario_inject(scenario, i);
            if (!inj->id || !inj->from || !fx_scenario_find_participant(scenario, inj->from))
                abort();
            for (size_t k = 0; k < inj->n_expect; k++)
                if (!inj->expect[k].principal)
                    abort();
        }
    } else {
        if (fx_diag_count(diag) == 0)
            abort(); /* a refused scenario always says why */
        for (size_t i = 0; i < fx_diag_count(diag); i++)
            if (strncmp(fx_diag_text(diag, i), "fuzz.yaml", 9) != 0)
                abort();
    }
    fx_scenario_destroy(&scenario);
    fx_diag_destroy(&diag);
    return 0;
}
