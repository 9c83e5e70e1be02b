/* fusion-agent's configuration file (agent.yaml): who the agent is, where its keys, the pinned
 * authority key, the broker and its certificate, and its state directory are. Relative paths are
 * relative to the configuration file's directory. */
#ifndef FUSION_AGENT_CONFIG_H
#define FUSION_AGENT_CONFIG_H

#include "fusion/yamldoc.h"

#define AGENT_CONFIG_ENV     "FUSION_AGENT_CONFIG"
#define AGENT_CONFIG_DEFAULT "agent.yaml"
#define AGENT_CONFIG_MAX     (64u << 10)

typedef struct {
    char *path;        /* the configuration file */
    char *id;          /* the principal id */
    char *key;         /* its secret key file */
    char *authority;   /* the authority's public key file (authority.pub) */
    char *broker;      /* the broker's endpoint, tcp://HOST:PORT or ipc://PATH */
    char *broker_cert; /* the broker's certificate file */
    char *state;       /* the directory of the agent's mailbox */
} agent_config_t;

/* The configuration file to use: option (--config) if given, else $FUSION_AGENT_CONFIG, else
 * ./agent.yaml. */
const char *agent_config_path(const char *option);

/* Loads and checks a configuration file; problems go to diag as FILE:LINE:COLUMN: message.
 * NULL when there was any. */
agent_config_t *agent_config_load(const char *path, fx_diag_t *diag);

/* Frees a configuration; sets *self_p to NULL. Accepts NULL. */
void agent_config_destroy(agent_config_t **self_p);

#endif
