/* fusion-agent, the agency's tool: one function per command, each in the agent_*.c file of its
 * topic. Each takes argv from the command name on and returns the exit code. */
#ifndef FUSION_AGENT_H
#define FUSION_AGENT_H

#define AGENT_PROG "fusion-agent"

int agent_keygen(int argc, char **argv); /* agent_keys.c */
int agent_seal(int argc, char **argv);   /* agent_envelope.c */
int agent_open(int argc, char **argv);   /* agent_envelope.c */

/* Network commands (they talk to the broker; docs/protocol.md). */
int agent_send(int argc, char **argv);          /* agent_send.c */
int agent_listen(int argc, char **argv);        /* agent_listen.c */
int agent_flush(int argc, char **argv);         /* agent_net.c */
int agent_subscribe(int argc, char **argv);     /* agent_net.c */
int agent_unsubscribe(int argc, char **argv);   /* agent_net.c */
int agent_subscriptions(int argc, char **argv); /* agent_subs.c */
int agent_alert(int argc, char **argv);         /* agent_compose.c */
int agent_refer(int argc, char **argv);         /* agent_compose.c */
int agent_can_share(int argc, char **argv);     /* agent_canshare.c */
int agent_inbox(int argc, char **argv);         /* agent_inbox.c */
int agent_show(int argc, char **argv);          /* agent_inbox.c */

/* The referral workflow and onward sharing (docs/referrals.md). */
int agent_respond(int argc, char **argv);         /* agent_respond.c */
int agent_referrals(int argc, char **argv);       /* agent_respond.c */
int agent_feedback(int argc, char **argv);        /* agent_respond.c */
int agent_forward(int argc, char **argv);         /* agent_reshare.c */
int agent_reshare_request(int argc, char **argv); /* agent_reshare.c */
int agent_reshare_grant(int argc, char **argv);   /* agent_reshare.c */

/* Training exercises (docs/exercises.md). */
int agent_exercise(int argc, char **argv); /* agent_exercise.c */

/* The audit trail's receipts and consistency (docs/audit.md). */
int agent_receipt(int argc, char **argv);           /* agent_audit.c */
int agent_audit_consistency(int argc, char **argv); /* agent_audit.c */

#endif
