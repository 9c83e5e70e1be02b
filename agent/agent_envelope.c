/* Placeholder until this command lands. */
#include "agent.h"
#include "fusion/cli.h"
#include "fusion/err.h"

int agent_seal(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(AGENT_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}

int agent_open(int argc, char **argv)
{
    (void) argc;
    fx_cli_error(AGENT_PROG, "%s: not built yet", argv[0]);
    return FX_EXIT_SYSTEM;
}
