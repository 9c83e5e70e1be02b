/* libFuzzer target: the broker's configuration loader (broker/config.c, compiled in here) over
 * arbitrary bytes written to a temporary file. A configuration that loads has every required
 * field and its limits in range; one that does not says why, as FILE:LINE:COLUMN. Seeds:
 * tests/fuzz/corpus/broker_config. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../broker/config.c"
#include "../../broker/metrics.c" /* config.c checks the metrics address with it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64] = "";
    if (!path[0]) {
        fx_init();
        snprintf(path, sizeof path, "/tmp/fuzz-broker-config-%ld.yaml", (long) getpid());
    }
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(data, 1, size, file) != size || fclose(file) != 0)
        abort();
    fx_diag_t *diag = fx_diag_new(path);
    broker_config_t config;
    if (broker_config_load(path, &config, diag) == 0) {
        if (!config.id || !config.key_file || !config.region || !config.policy_file ||
            !config.database || !config.endpoint || !config.state_dir || !config.authority_file)
            abort();
        if (config.workers < 1 || config.workers > WORKERS_MAX || !(config.rate > 0) ||
            config.rate > RATE_MAX || config.burst < 1 || config.max_message_bytes < 4096 ||
            fx_diag_count(diag) != 0)
            abort();
    } else {
        if (fx_diag_count(diag) == 0)
            abort(); /* a refused configuration always says why */
        for (size_t i = 0; i < fx_diag_count(diag); i++)
            if (strncmp(fx_diag_text(diag, i), path, strlen(path)) != 0)
                abort();
    }
    broker_config_free(&config);
    fx_diag_destroy(&diag);
    unlink(path);
    return 0;
}
