/* fusion-agent, the agency's tool: one function per command, each in the agent_*.c file of its
 * topic. Each takes argv from the command name on and returns the exit code. */
#ifndef FUSION_AGENT_H
#define FUSION_AGENT_H

#define AGENT_PROG "fusion-agent"

int agent_keygen(int argc, char **argv); /* agent_keys.c */
int agent_seal(int argc, char **argv);   /* agent_envelope.c */
int agent_open(int argc, char **argv);   /* agent_envelope.c */

/* Network commands (they talk to the broker; docs/protocol.md). */
int agent_send(int argc, char **argv);              /* agent_send.c */
int agent_listen(int argc, char **argv);            /* agent_listen.c */
int agent_flush(int argc, char **argv);             /* agent_net.c */
int agent_subscribe(int argc, char **argv);         /* agent_net.c */
int agent_unsubscribe(int argc, char **argv);       /* agent_net.c */
int agent_receipt(int argc, char **argv);           /* agent_audit.c */
int agent_audit_consistency(int argc, char **argv); /* agent_audit.c */

#endif
