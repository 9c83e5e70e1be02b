/* fusion-admin, the fusion-centre operator's tool: one function per command, each in the
 * admin_*.c file of its topic. Each takes argv from the command name on and returns the exit
 * code. */
#ifndef FUSION_ADMIN_H
#define FUSION_ADMIN_H

#define ADMIN_PROG "fusion-admin"

int admin_init(int argc, char **argv);      /* admin_region.c */
int admin_enroll(int argc, char **argv);    /* admin_region.c */
int admin_revoke(int argc, char **argv);    /* admin_region.c */
int admin_directory(int argc, char **argv); /* admin_region.c */
int admin_policy(int argc, char **argv);    /* admin_policy.c */
int admin_route(int argc, char **argv);     /* admin_route.c */

#endif
