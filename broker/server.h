/* The broker actor: owns the ROUTER socket, the store, the policy and the directory, and runs
 * every handler on one zloop. main() starts it with zactor_new(broker_server_actor, &config)
 * after starting zauth; the pipe takes RELOAD (policy and directory) and $TERM. After zactor_new
 * returns, the actor signals 0 once bound and ready, or 1 if it cannot start (logged). */
#ifndef FUSION_BROKER_SERVER_H
#define FUSION_BROKER_SERVER_H

#include <czmq.h>

#include "config.h"

/* The ZAP domain the ROUTER socket enforces. */
#define BROKER_ZAP_DOMAIN "fusion"

/* The directory of public CURVE certificates zauth serves, under the state directory. */
#define BROKER_CURVE_DIR "curve"

void broker_server_actor(zsock_t *pipe, void *args);

#endif
