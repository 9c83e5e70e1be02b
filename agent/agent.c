/* fusion-agent: an agency's tool for keys, sending, receiving and exercises. */
#include <stdlib.h>

#include "agent.h"
#include "fusion/cli.h"
#include "fusion/util.h"

static const fx_command_t s_commands[] = {
    {"keygen", agent_keygen, "generate a principal's key pairs and enrolment request"},
    {"seal", agent_seal, "seal a message offline for recipients from a directory"},
    {"open", agent_open, "verify and open a sealed message as its recipient"},
    {"send", agent_send, "send a message draft through the broker (outbox when it is down)"},
    {"listen", agent_listen, "receive messages in the foreground (--json for scripts)"},
    {"flush", agent_flush, "send what waits in the outbox"},
    {"subscribe", agent_subscribe, "follow alerts on a route pattern"},
    {"unsubscribe", agent_unsubscribe, "stop following a route pattern"},
    {"subscriptions", agent_subscriptions, "list the route patterns this principal follows"},
    {"alert", agent_alert, "compose and send a case alert (preview, then confirm)"},
    {"refer", agent_refer, "compose and send a referral (preview, then confirm)"},
    {"can-share", agent_can_share, "ask the live policy whether a message may be shared, and how"},
    {"inbox", agent_inbox, "list received messages (filters, --json)"},
    {"show", agent_show, "show one received message with its TLP banner and sender"},
    {"respond", agent_respond,
     "answer a referral (acknowledge, accept, decline, need-info, close)"},
    {"referrals", agent_referrals, "list open referrals sent and received, with time left"},
    {"feedback", agent_feedback, "send feedback on a case alert to its originator"},
    {"forward", agent_forward, "pass a received message on, as its markings allow"},
    {"reshare-request", agent_reshare_request, "ask an originator's consent to pass a message on"},
    {"reshare-grant", agent_reshare_grant, "grant a reshare request for your own message"},
    {"exercise", agent_exercise, "validate, run and report simulated exercises (trainers)"},
    {"receipt", agent_receipt, "check what the broker recorded about one of your messages"},
    {"audit-consistency", agent_audit_consistency,
     "auditor: check that the broker's audit trail only grew"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    fx_init();
    int status = fx_cli_dispatch(AGENT_PROG, "fusion-agent: an agency's tool for Fusion.",
                                 s_commands, argc, argv);
    return fx_cli_close_stdout(AGENT_PROG, status);
}
