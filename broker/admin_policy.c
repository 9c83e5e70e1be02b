/* Placeholder until this command lands. */
#include "admin.h"
#include "fusion/cli.h"
#include "fusion/err.h"

int admin_policy(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(ADMIN_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}
