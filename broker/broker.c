/* fusion-broker: the Fusion broker daemon. */
#include <stdio.h>
#include <string.h>

#include "fusion/cli.h"
#include "fusion/err.h"
#include "fusion/util.h"

static void s_help(void)
{
    printf("fusion-broker: the Fusion broker daemon.\n\n"
           "Usage: fusion-broker --config FILE [--check]\n\n"
           "  --config FILE  broker configuration (YAML)\n"
           "  --check        validate configuration, policy and directory, then exit\n"
           "  --help         this text\n"
           "  --version      the version\n");
    fx_cli_print_exit_codes();
}

int main(int argc, char **argv)
{
    fx_init();
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("fusion-broker %s\n", FX_VERSION);
        return FX_EXIT_OK;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        s_help();
        return FX_EXIT_OK;
    }
    fx_cli_error("fusion-broker", "the broker daemon is not built yet; only --help and --version work");
    return FX_EXIT_USAGE;
}
