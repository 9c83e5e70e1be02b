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
    {"receipt", agent_receipt, "check what the broker recorded about one of your messages"},
    {"audit-consistency", agent_audit_consistency,
     "auditor: check that the broker's audit trail only grew"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    fx_init();
    return fx_cli_dispatch(AGENT_PROG, "fusion-agent: an agency's tool for Fusion.", s_commands,
                           argc, argv);
}
