/* fusion-agent keygen: a principal's three key pairs in a 0600 secret key file, and the public
 * enrolment request to send to the fusion centre. Secret keys never leave this machine. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/keys.h"
#include "fusion/util.h"

static void s_keygen_help(void)
{
    printf("Usage: %s keygen ID [--dir DIR]\n\n"
           "Generates the key pairs of principal ID (COUNTRY.AGENCY.UNIT, e.g. THA.RTP.fp1):\n"
           "Ed25519 for signing, X25519 for receiving section keys, and CURVE for the transport.\n"
           "Writes DIR/ID.key, the secret keys (mode 0600; never send or copy it), and\n"
           "DIR/ID.request, the public enrolment request for the fusion centre. Refuses to\n"
           "overwrite either file.\n\n"
           "Options:\n"
           "  --dir DIR   where to write the files (default: the current directory; created\n"
           "              with mode 0700 if missing)\n"
           "  -h, --help  this help\n",
           AGENT_PROG);
    fx_cli_print_exit_codes();
}

static char *s_file(const char *dir, const char *id, const char *suffix)
{
    size_t len = strlen(dir) + strlen(id) + strlen(suffix) + 2;
    char *path = fx_malloc(len);
    snprintf(path, len, "%s/%s%s", dir, id, suffix);
    return path;
}

int agent_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'd') {
            dir = optarg;
        } else if (opt == 'h') {
            s_keygen_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "keygen: unknown or incomplete option '%s' (try '%s keygen "
                         "--help')",
                         argv[optind - 1], AGENT_PROG);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "keygen: give exactly one principal ID (try '%s keygen --help')",
                     AGENT_PROG);
        return FX_EXIT_USAGE;
    }
    const char *id = argv[optind];
    if (!fx_principal_id_valid(id)) {
        fx_cli_error(AGENT_PROG,
                     "keygen: '%s' is not a principal id: expected COUNTRY.AGENCY.UNIT, COUNTRY "
                     "three upper-case letters (ISO 3166-1 alpha-3), AGENCY and UNIT 1 to 24 "
                     "letters, digits, '-' or '_' (e.g. THA.RTP.fp1)",
                     id);
        return FX_EXIT_USAGE;
    }
    if (fx_mkdir_p(dir) != 0) {
        fx_cli_error(AGENT_PROG, "keygen: %s: cannot create the directory: %s", dir,
                     strerror(errno));
        return FX_EXIT_SYSTEM;
    }

    char *key_path = s_file(dir, id, ".key"), *request_path = s_file(dir, id, ".request");
    fx_keys_t *keys = NULL;
    uint8_t *request = NULL;
    size_t request_len = 0;
    int status = FX_EXIT_OK;
    fx_err_t rc;
    const char *existing = access(key_path, F_OK) == 0       ? key_path
                           : access(request_path, F_OK) == 0 ? request_path
                                                             : NULL;
    if (existing) {
        fx_cli_error(AGENT_PROG,
                     "keygen: %s already exists; refusing to overwrite keys (move it away first "
                     "if you really mean to replace this principal's keys)",
                     existing);
        status = fx_err_exit(FX_ERR_EXISTS);
        goto cleanup;
    }
    keys = fx_keys_new(id);
    if ((rc = fx_keys_save(keys, key_path)) != FX_OK) {
        fx_cli_error(AGENT_PROG, "keygen: %s: %s", key_path, fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    if ((rc = fx_request_create(keys, &request, &request_len)) == FX_OK)
        rc = fx_file_write(request_path, request, request_len, 0644, 1);
    if (rc != FX_OK) {
        /* Without its request the new key file is of no use: remove the one just made. */
        unlink(key_path);
        fx_cli_error(AGENT_PROG, "keygen: %s: %s", request_path, fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    char fp[FX_FINGERPRINT_BUFSIZE];
    fx_fingerprint(fx_keys_sign_public(keys), fp);
    printf("Generated the keys of %s\n"
           "  secret keys:       %s (mode 0600; never send or copy this file)\n"
           "  enrolment request: %s\n"
           "  fingerprint:       %s\n\n"
           "Next:\n"
           "  1. Send %s to your fusion centre (it holds only public keys).\n"
           "  2. When the operator calls to confirm, read the fingerprint above aloud; they\n"
           "     enrol you only if it matches the one they see.\n",
           id, key_path, request_path, fp, request_path);
cleanup:
    fx_keys_destroy(&keys);
    free(request);
    free(key_path);
    free(request_path);
    return status;
}
