/* fusion-admin route: lets an operator try a route pattern against a route before a liaison
 * officer subscribes with it (`fusion-admin route match 'MMR>**>MYS' MMR>THA>MYS`). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "fusion/cli.h"
#include "fusion/err.h"
#include "fusion/route.h"

static void s_usage_route(void)
{
    printf("fusion-admin route: test route patterns.\n\n"
           "Usage: fusion-admin route match PATTERN ROUTE\n"
           "       fusion-admin route match --help\n\n"
           "Commands:\n"
           "  match          say whether PATTERN matches the whole ROUTE\n\n"
           "A route is 1 to %d hops separated by '>' (MMR>THA:BKK>MYS): a hop is a three-letter\n"
           "country code, optionally followed by ':' and a point code of 3 to 5 letters or\n"
           "digits. A pattern has up to %d hops and may also use '*' (exactly one hop) and '**'\n"
           "(any number of hops); a country without a point matches it at any point.\n",
           FX_ROUTE_MAX_HOPS, FX_PATTERN_MAX_HOPS);
    fx_cli_print_exit_codes();
}

static void s_usage_match(void)
{
    printf("Usage: fusion-admin route match PATTERN ROUTE\n\n"
           "Prints 'match' and exits 0 when PATTERN matches the whole ROUTE, prints 'no match'\n"
           "and exits 1 when it does not. An invalid pattern or route is an error naming the\n"
           "bad hop (exit 2). Quote the arguments: '*' and '>' mean something to the shell.\n\n"
           "Examples:\n"
           "  fusion-admin route match 'MMR>**>MYS' 'MMR>THA>MYS'                 match\n"
           "  fusion-admin route match '*>THA>*' 'MMR>LAO>THA>MYS'                no match\n"
           "  fusion-admin route match '**>THA:BKK>**' 'LKA:CMB>THA:BKK>AUS:SYD'  match\n");
    fx_cli_print_exit_codes();
}

static int s_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* route match PATTERN ROUTE; argv[0] is "match". */
static int s_match(int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            s_usage_match();
            return FX_EXIT_OK;
        }
        return admin_unknown_option("route match", argv);
    }
    int operands = argc - optind;
    if (operands != 2) {
        fx_cli_error(ADMIN_PROG,
                     "route match: expected PATTERN and ROUTE, got %d argument%s "
                     "(try 'fusion-admin route match --help')",
                     operands, operands == 1 ? "" : "s");
        return FX_EXIT_USAGE;
    }
    fx_route_pattern_t *pattern = NULL;
    fx_route_t *route = NULL;
    char why[FX_ROUTE_WHY_SIZE];
    int exit_code = FX_EXIT_USAGE;
    if (fx_route_pattern_parse(argv[optind], &pattern, why) != FX_OK) {
        fx_cli_error(ADMIN_PROG, "route match: invalid pattern: %s", why);
        goto cleanup;
    }
    if (fx_route_parse(argv[optind + 1], &route, why) != FX_OK) {
        fx_cli_error(ADMIN_PROG, "route match: invalid route: %s", why);
        goto cleanup;
    }
    if (fx_route_pattern_match(pattern, route)) {
        puts("match");
        exit_code = FX_EXIT_OK;
    } else {
        puts("no match");
        exit_code = FX_EXIT_NO;
    }
cleanup:
    fx_route_pattern_destroy(&pattern);
    fx_route_destroy(&route);
    return exit_code;
}

int admin_route(int argc, char **argv)
{
    if (argc < 2) {
        fx_cli_error(ADMIN_PROG, "route: expected a command (try 'fusion-admin route --help')");
        return FX_EXIT_USAGE;
    }
    if (s_is_help(argv[1])) {
        s_usage_route();
        return FX_EXIT_OK;
    }
    if (strcmp(argv[1], "match") == 0)
        return s_match(argc - 1, argv + 1);
    fx_cli_error(ADMIN_PROG, "route: unknown command '%s' (try 'fusion-admin route --help')",
                 argv[1]);
    return FX_EXIT_USAGE;
}
