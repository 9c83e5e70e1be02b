/* fusion-admin: the fusion-centre operator's tool (region, enrolment, policy, routes). */
#include <stdlib.h>

#include "admin.h"
#include "fusion/cli.h"
#include "fusion/util.h"

static const fx_command_t s_commands[] = {
    {"init", admin_init, "create a new region: authority key and empty directory"},
    {"enroll", admin_enroll, "certify a principal's enrolment request with roles"},
    {"revoke", admin_revoke, "revoke a principal's certificate"},
    {"directory", admin_directory, "list enrolled principals with fingerprints"},
    {"policy", admin_policy, "check, explain and sign sharing policies"},
    {"route", admin_route, "test route patterns (route match PATTERN ROUTE)"},
    {"audit", admin_audit, "verify, export and show a broker's audit trail"},
    {"status", admin_status, "a running broker's figures: messages, deliveries, latency"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    fx_init();
    int status = fx_cli_dispatch(
        ADMIN_PROG, "fusion-admin: the fusion-centre operator's tool for a Fusion region.",
        s_commands, argc, argv);
    return fx_cli_close_stdout(ADMIN_PROG, status);
}
