/* Placeholder until this command lands. */
#include "admin.h"
#include "fusion/cli.h"
#include "fusion/err.h"

int admin_init(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(ADMIN_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}

int admin_enroll(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(ADMIN_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}

int admin_revoke(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(ADMIN_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}

int admin_directory(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(ADMIN_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}
