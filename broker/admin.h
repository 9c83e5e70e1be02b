/* fusion-admin, the fusion-centre operator's tool: one function per command, each in the
 * admin_*.c file of its topic. Each takes argv from the command name on and returns the exit
 * code. */
#ifndef FUSION_ADMIN_H
#define FUSION_ADMIN_H

#include "fusion/err.h"
#include "fusion/keys.h"

#define ADMIN_PROG "fusion-admin"

/* The region from the --region option, else $FUSION_REGION; NULL (with an error printed). */
const char *admin_region(const char *command, const char *option);

/* Loads REGION/authority.key (refusing a file others can read) and checks that it matches
 * REGION/authority.pub. Returns the exit code; on 0 *keys_p is the authority's keys. */
int admin_load_authority(const char *command, const char *region, fx_keys_t **keys_p);

/* Prints "fusion-admin: command: path: why" for a file that could not be read and returns the
 * exit code: for FX_ERR_IO and FX_ERR_NOT_FOUND, why is found again (no such file or a
 * directory, exit 2; the system's reason, e.g. Permission denied, exit 4), otherwise it is
 * fx_strerror(err) with fx_err_exit(err). */
int admin_read_failed(const char *command, const char *path, fx_err_t err);

/* The same for a failed fx_authority_key_load, which also names a fingerprint line that does not
 * match the key. */
int admin_authority_failed(const char *command, const char *path, fx_err_t err);

/* For getopt_long's '?' (with opterr = 0): "fusion-admin: command: unknown or incomplete option
 * 'ARG' (try 'fusion-admin command --help')"; returns 2. Every command parses its options with
 * getopt_long, so "--" ends the options everywhere. */
int admin_unknown_option(const char *command, char **argv);

int admin_init(int argc, char **argv);      /* admin_region.c */
int admin_enroll(int argc, char **argv);    /* admin_region.c */
int admin_revoke(int argc, char **argv);    /* admin_region.c */
int admin_directory(int argc, char **argv); /* admin_region.c */
int admin_policy(int argc, char **argv);    /* admin_policy.c */
int admin_route(int argc, char **argv);     /* admin_route.c */
int admin_audit(int argc, char **argv);     /* admin_audit.c */
int admin_status(int argc, char **argv);    /* admin_status.c */

#endif
