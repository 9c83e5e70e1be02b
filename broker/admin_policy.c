/* fusion-admin policy: check a sharing policy (every error as FILE:LINE:COLUMN: message) and
 * explain decisions for a JSON query, as JSON or as lines an officer can read; sign a policy
 * with the authority key and verify such a signature. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/err.h"
#include "fusion/explain.h"
#include "fusion/policy.h"

/* For the usage lines; errors are "fusion-admin: policy COMMAND: ...", as the other commands'. */
#define PROG            ADMIN_PROG " policy"
#define QUERY_MAX_BYTES (16 * 1024 * 1024)

/* Loads a policy for `command` ("policy check" ...), printing every error to stderr: the
 * policy's own as FILE:LINE:COLUMN: message, one about the file itself (missing, unreadable, a
 * directory) with the tool's prefix. Returns the exit code (0 when loaded). */
static int s_load(const char *command, const char *path, fx_policy_t **policy_p)
{
    fx_policy_errors_t *errors = NULL;
    fx_err_t rc = fx_policy_load(path, policy_p, &errors);
    if (rc == FX_OK)
        return FX_EXIT_OK;
    size_t n = fx_policy_errors_total(errors);
    if (rc == FX_ERR_IO) { /* the library says only that the file cannot be read */
        fx_policy_errors_destroy(&errors);
        return admin_read_failed(command, path, rc);
    }
    for (size_t i = 0; i < fx_policy_errors_count(errors); i++) {
        if (rc == FX_ERR_POLICY)
            fprintf(stderr, "%s\n", fx_policy_errors_text(errors, i));
        else
            fx_cli_error(ADMIN_PROG, "%s: %s", command, fx_policy_errors_text(errors, i));
    }
    fx_policy_errors_destroy(&errors);
    if (rc == FX_ERR_POLICY)
        fx_cli_error(ADMIN_PROG, "%s: %s is not a valid policy (%zu error%s)", command, path, n,
                     n == 1 ? "" : "s");
    return rc == FX_ERR_IO ? FX_EXIT_SYSTEM : FX_EXIT_USAGE;
}

/* Parses options with getopt_long ("--" ends them): --help sets *help_p; --region, --policy
 * and --text, where the command takes them, set their pointers (NULL: not taken); the operands
 * are argv[optind..]. The exit code: 0, or 2 for an option unknown or without its value. */
static int s_options(const char *command, int argc, char **argv, int *help_p, const char **region_p,
                     const char **policy_p, int *text_p)
{
    static const struct option all[] = {{"help", no_argument, NULL, 'h'},
                                        {"region", required_argument, NULL, 'r'},
                                        {"policy", required_argument, NULL, 'p'},
                                        {"text", no_argument, NULL, 't'},
                                        {NULL, 0, NULL, 0}};
    struct option options[5];
    size_t n = 0;
    for (const struct option *o = all; o->name; o++)
        if (o->val == 'h' || (o->val == 'r' && region_p) || (o->val == 'p' && policy_p) ||
            (o->val == 't' && text_p))
            options[n++] = *o;
    options[n] = (struct option){NULL, 0, NULL, 0};
    *help_p = 0;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            *help_p = 1;
            break;
        case 'r':
            *region_p = optarg;
            break;
        case 'p':
            *policy_p = optarg;
            break;
        case 't':
            *text_p = 1;
            break;
        default:
            return admin_unknown_option(command, argv);
        }
    }
    return FX_EXIT_OK;
}

/* ---- policy check ---------------------------------------------------------------------------- */

static int s_check(int argc, char **argv)
{
    int help;
    int status = s_options("policy check", argc, argv, &help, NULL, NULL, NULL);
    if (status != FX_EXIT_OK)
        return status;
    if (help) {
        printf("Usage: %s check FILE\n\n"
               "Validates a sharing policy. Prints a one-line summary and exits 0 when it is\n"
               "valid; otherwise prints every error as FILE:LINE:COLUMN: message on stderr and\n"
               "exits 2.\n",
               PROG);
        fx_cli_print_exit_codes();
        return FX_EXIT_OK;
    }
    if (argc - optind != 1) {
        fx_cli_error(ADMIN_PROG, "policy check: usage: %s check FILE (try --help)", PROG);
        return FX_EXIT_USAGE;
    }
    const char *file = argv[optind];
    fx_policy_t *policy = NULL;
    status = s_load("policy check", file, &policy);
    if (status != FX_EXIT_OK)
        return status;
    char summary[256];
    fx_policy_summary(policy, summary, sizeof summary);
    printf("%s: valid policy (fusion_policy 1): %s\n", file, summary);
    fx_policy_destroy(&policy);
    return FX_EXIT_OK;
}

/* ---- policy explain -------------------------------------------------------------------------- */

static void s_explain_help(void)
{
    printf(
        "Usage: %s explain --policy FILE [--text] [QUERY|-]\n\n"
        "Evaluates a query against the policy and prints one decision per (recipient,\n"
        "section), in recipient order then section order. QUERY is a JSON file, or the\n"
        "query's JSON itself when it starts with '{' (a file named so: ./{...}); without\n"
        "it, or with -, the query is read from standard input. The query's \"at\" (RFC 3339\n"
        "or YYYY-MM-DD) defaults to now.\n\n"
        "Options:\n"
        "  --policy FILE  the sharing policy to evaluate against (required)\n"
        "  --text         one plain line per decision instead of JSON\n\n"
        "Query:\n"
        "  {\"at\": \"2026-11-28T00:00:00Z\",\n"
        "   \"sender\": {\"id\": \"THA.RTP.fp1\", \"country\": \"THA\", \"agency\": \"THA.RTP\",\n"
        "              \"roles\": [\"focal_point\"]},\n"
        "   \"recipients\": [{\"id\": \"IDN.POLRI.fp1\", \"country\": \"IDN\", ...}],\n"
        "   \"message\": {\"kind\": \"referral\", \"audience\": \"direct\", \"purpose\": ...,\n"
        "               \"sections\": [{\"id\": 1, \"tlp\": \"amber\", \"categories\": "
        "[...]}]}}\n\n"
        "Exits 0 when the query was evaluated, whatever was decided; 2 for an invalid query\n"
        "or policy.\n",
        PROG);
    fx_cli_print_exit_codes();
}

static int s_explain(int argc, char **argv)
{
    const char *policy_path = NULL, *query_path = NULL;
    int text = 0, help;
    int status = s_options("policy explain", argc, argv, &help, NULL, &policy_path, &text);
    if (status != FX_EXIT_OK)
        return status;
    if (help) {
        s_explain_help();
        return FX_EXIT_OK;
    }
    if (argc - optind > 1) {
        fx_cli_error(ADMIN_PROG, "policy explain: unexpected argument '%s' (try --help)",
                     argv[optind + 1]);
        return FX_EXIT_USAGE;
    }
    if (argc - optind == 1)
        query_path = argv[optind];
    if (!policy_path) {
        fx_cli_error(ADMIN_PROG, "policy explain: --policy FILE is required (try --help)");
        return FX_EXIT_USAGE;
    }
    if (!query_path)
        query_path = "-";

    fx_policy_t *policy = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *query = NULL, *answer = NULL;
    status = s_load("policy explain", policy_path, &policy);
    if (status != FX_EXIT_OK)
        goto cleanup;
    /* QUERY is the query's JSON itself when it starts with '{' (after blanks): no file name
     * does unless written so (./{...} names such a file). */
    const char *inline_query = query_path + strspn(query_path, " \t\r\n");
    if (*inline_query != '{')
        inline_query = NULL;
    const char *source = inline_query                   ? "the query argument"
                         : strcmp(query_path, "-") == 0 ? "standard input"
                                                        : query_path;
    fx_err_t rc = inline_query ? FX_OK
                  : strcmp(query_path, "-") == 0
                      ? fx_stdin_read(QUERY_MAX_BYTES, &data, &len)
                      : fx_file_read(query_path, QUERY_MAX_BYTES, &data, &len);
    if (rc != FX_OK) {
        const char *why = fx_strerror(rc);
        status = fx_err_exit(rc);
        const char *problem =
            (rc == FX_ERR_IO || rc == FX_ERR_NOT_FOUND) && strcmp(query_path, "-") != 0
                ? fx_cli_read_problem(query_path, &status)
                : NULL;
        if (problem)
            why = problem;
        fx_cli_error(ADMIN_PROG, "policy explain: cannot read the query %s: %s",
                     strcmp(query_path, "-") == 0 ? "from standard input" : query_path, why);
        goto cleanup;
    }
    json_error_t jerr;
    query = inline_query ? json_loads(inline_query, JSON_REJECT_DUPLICATES, &jerr)
                         : json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!query) {
        fx_cli_error(ADMIN_PROG,
                     "policy explain: invalid query in %s: not JSON (line %d, column %d: %s)",
                     source, jerr.line, jerr.column, jerr.text);
        status = FX_EXIT_USAGE;
        goto cleanup;
    }
    char why[FX_EXPLAIN_WHY_SIZE];
    if (fx_explain(policy, query, fx_now_ms(), &answer, why, sizeof why) != FX_OK) {
        fx_cli_error(ADMIN_PROG, "policy explain: invalid query in %s: %s", source, why);
        status = FX_EXIT_USAGE;
        goto cleanup;
    }
    if (text) {
        size_t i;
        json_t *decision;
        json_array_foreach(json_object_get(answer, "decisions"), i, decision)
        {
            char *line = fx_explain_decision_text(policy, decision);
            printf("%s\n", line);
            free(line);
        }
    } else {
        char *out = json_dumps(answer, JSON_INDENT(2));
        if (!out) {
            fx_cli_error(ADMIN_PROG, "policy explain: out of memory");
            status = FX_EXIT_SYSTEM;
            goto cleanup;
        }
        printf("%s\n", out);
        free(out);
    }
    /* A failed write to standard output is reported at exit (fx_cli_close_stdout). */
cleanup:
    json_decref(answer);
    json_decref(query);
    free(data);
    fx_policy_destroy(&policy);
    return status;
}

/* ---- policy sign / policy verify ------------------------------------------------------------- */

/* Parses [--region REGION] FILE for `command` ("policy sign" ...); returns the exit code (0:
 * region and file set, or *help_p set). */
static int s_region_and_file(const char *command, int argc, char **argv, const char *usage,
                             int *help_p, const char **region_p, const char **file_p)
{
    const char *option = NULL;
    *file_p = NULL;
    int status = s_options(command, argc, argv, help_p, &option, NULL, NULL);
    if (status != FX_EXIT_OK || *help_p)
        return status;
    if (argc - optind != 1) {
        fx_cli_error(ADMIN_PROG, "%s: usage: %s %s", command, PROG, usage);
        return FX_EXIT_USAGE;
    }
    *file_p = argv[optind];
    *region_p = admin_region(command, option);
    return *region_p ? FX_EXIT_OK : FX_EXIT_USAGE;
}

static int s_sign(int argc, char **argv)
{
    const char *usage = "sign [--region REGION] FILE";
    const char *region, *file;
    int help;
    int status = s_region_and_file("policy sign", argc, argv, usage, &help, &region, &file);
    if (status != FX_EXIT_OK)
        return status;
    if (help) {
        printf("Usage: %s %s\n\n"
               "Checks the policy, then signs its exact bytes with the region's authority key\n"
               "and writes FILE.sig. The broker loads only a policy whose signature verifies\n"
               "against the authority key it pins. The region comes from --region or\n"
               "$FUSION_REGION.\n",
               PROG, usage);
        fx_cli_print_exit_codes();
        return FX_EXIT_OK;
    }
    fx_policy_t *policy = NULL;
    if ((status = s_load("policy sign", file, &policy)) != FX_EXIT_OK) {
        int unused;
        if (!fx_cli_read_problem(file, &unused)) /* read, and found not valid */
            fx_cli_error(ADMIN_PROG, "policy sign: refusing to sign a policy that is not valid");
        return status;
    }
    char summary[256];
    fx_policy_summary(policy, summary, sizeof summary);
    fx_policy_destroy(&policy);
    fx_keys_t *authority = NULL;
    if ((status = admin_load_authority("policy sign", region, &authority)) != FX_EXIT_OK)
        return status;
    /* The broker verifies the exact bytes it then parses, so what is signed is what it enforces
     * even if the file changed after the check above (a changed file fails its check there). */
    fx_err_t rc = fx_file_sign(authority, FX_DOMAIN_POLICY, file);
    char fingerprint[FX_FINGERPRINT_BUFSIZE];
    fx_fingerprint(fx_keys_sign_public(authority), fingerprint);
    fx_keys_destroy(&authority);
    if (rc != FX_OK) {
        char sig_path[4096];
        snprintf(sig_path, sizeof sig_path, "%s.sig", file);
        if (rc == FX_ERR_EXISTS)
            fx_cli_error(ADMIN_PROG, "policy sign: %s: %s", sig_path,
                         fx_file_write_strerror(sig_path, rc));
        else
            fx_cli_error(ADMIN_PROG, "policy sign: %s: cannot sign: %s", file, fx_strerror(rc));
        return fx_err_exit(rc);
    }
    printf("signed %s (%s) with authority %s; signature in %s.sig\n", file, summary, fingerprint,
           file);
    return FX_EXIT_OK;
}

static int s_verify(int argc, char **argv)
{
    const char *usage = "verify [--region REGION] FILE";
    const char *region, *file;
    int help;
    int status = s_region_and_file("policy verify", argc, argv, usage, &help, &region, &file);
    if (status != FX_EXIT_OK)
        return status;
    if (help) {
        printf("Usage: %s %s\n\n"
               "Verifies FILE.sig against the region's authority public key (authority.pub),\n"
               "then checks the signed bytes as a policy. Exits 0 when both hold, 3 when the\n"
               "signature does not verify, 2 when the policy is invalid.\n",
               PROG, usage);
        fx_cli_print_exit_codes();
        return FX_EXIT_OK;
    }
    char pub_path[4096], sig_path[4096];
    snprintf(pub_path, sizeof pub_path, "%s/authority.pub", region);
    snprintf(sig_path, sizeof sig_path, "%s.sig", file);
    uint8_t authority[FX_KEY_BYTES];
    fx_err_t rc = fx_authority_key_load(pub_path, authority);
    if (rc != FX_OK)
        return admin_authority_failed("policy verify", pub_path, rc);
    uint8_t *data = NULL;
    size_t len = 0;
    rc = fx_file_read(file, FX_POLICY_MAX_BYTES, &data, &len);
    if (rc != FX_OK)
        return admin_read_failed("policy verify", file, rc);
    rc = fx_file_verify(authority, FX_DOMAIN_POLICY, data, len, sig_path);
    if (rc != FX_OK) {
        fx_cli_error(ADMIN_PROG, "policy verify: %s: the signature %s does not hold: %s", file,
                     sig_path,
                     rc == FX_ERR_NOT_FOUND ? "there is no signature file" : fx_strerror(rc));
        free(data);
        return FX_EXIT_REFUSED;
    }
    fx_policy_t *policy = NULL;
    fx_policy_errors_t *errors = NULL;
    rc = fx_policy_load_buffer(file, data, len, &policy, &errors);
    free(data);
    if (rc != FX_OK) {
        for (size_t i = 0; i < fx_policy_errors_count(errors); i++)
            fprintf(stderr, "%s\n", fx_policy_errors_text(errors, i));
        fx_policy_errors_destroy(&errors);
        return FX_EXIT_USAGE;
    }
    fx_policy_destroy(&policy);
    printf("%s: the authority's signature verifies and the policy is valid\n", file);
    return FX_EXIT_OK;
}

/* ---- Dispatch -------------------------------------------------------------------------------- */

static const fx_command_t s_commands[] = {
    {"check", s_check, "validate a policy: every error as FILE:LINE:COLUMN: message"},
    {"explain", s_explain, "explain decisions for a JSON query (--policy FILE [--text] [QUERY|-])"},
    {"sign", s_sign, "sign a valid policy with the authority key (writes FILE.sig)"},
    {"verify", s_verify, "verify FILE.sig against the authority and check the policy"},
    {NULL, NULL, NULL},
};

int admin_policy(int argc, char **argv)
{
    return fx_cli_dispatch(PROG,
                           "fusion-admin policy: check sharing policies and explain their "
                           "decisions.",
                           s_commands, argc, argv);
}
