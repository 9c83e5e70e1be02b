/* Loading agent.yaml with yamldoc: six required keys, paths resolved against the file's own
 * directory, every problem reported as FILE:LINE:COLUMN. */
#include "agent_config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/keys.h"
#include "fusion/util.h"

const char *agent_config_path(const char *option)
{
    if (option)
        return option;
    const char *env = getenv(AGENT_CONFIG_ENV);
    return env && env[0] ? env : AGENT_CONFIG_DEFAULT;
}

void agent_config_destroy(agent_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agent_config_t *self = *self_p;
    free(self->path);
    free(self->id);
    free(self->key);
    free(self->authority);
    free(self->broker);
    free(self->broker_cert);
    free(self->state);
    free(self);
    *self_p = NULL;
}

static int s_endpoint_valid(const char *endpoint)
{
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr(endpoint + 6, ':');
        return colon && colon > endpoint + 6 && colon[1] &&
               strspn(colon + 1, "0123456789") == strlen(colon + 1);
    }
    return strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6];
}

agent_config_t *agent_config_load(const char *path, fx_diag_t *diag)
{
    static const char *const keys[] = {"id", "key", "authority", "broker", "broker_cert", "state"};
    enum { ID, KEY, AUTHORITY, BROKER, BROKER_CERT, STATE, COUNT };
    const fx_yaml_node_t *f[COUNT];
    agent_config_t *self = NULL;
    fx_yaml_t *doc = fx_yaml_load(path, AGENT_CONFIG_MAX, diag);
    if (!doc)
        return NULL;
    const fx_yaml_node_t *root = fx_yaml_root(doc);
    if (fx_yaml_fields(diag, root, "the agent configuration", keys, COUNT, f) != 0)
        goto cleanup;
    const char *values[COUNT] = {NULL};
    for (int k = 0; k < COUNT; k++) {
        if (!f[k]) {
            fx_yaml_error(diag, root, "the agent configuration needs '%s'", keys[k]);
            continue;
        }
        values[k] = fx_yaml_scalar(diag, f[k], keys[k]);
    }
    char shown[72];
    if (values[ID] && !fx_principal_id_valid(values[ID]))
        fx_yaml_error(diag, f[ID],
                      "id '%s' is not a principal id (COUNTRY.AGENCY.UNIT, e.g. THA.RTP.fp1)",
                      fx_yaml_shown(values[ID], strlen(values[ID]), shown));
    if (values[BROKER] && !s_endpoint_valid(values[BROKER]))
        fx_yaml_error(diag, f[BROKER],
                      "broker '%s' is not an endpoint such as tcp://127.0.0.1:7700 or "
                      "ipc:///run/fusion/broker.sock",
                      fx_yaml_shown(values[BROKER], strlen(values[BROKER]), shown));
    if (fx_diag_count(diag) > 0)
        goto cleanup;
    char *copy = fx_strdup(path);
    const char *dir = dirname(copy);
    self = fx_calloc(1, sizeof *self);
    self->path = fx_strdup(path);
    self->id = fx_strdup(values[ID]);
    self->key = fx_yaml_path(diag, f[KEY], "key", dir);
    self->authority = fx_yaml_path(diag, f[AUTHORITY], "authority", dir);
    self->broker = fx_strdup(values[BROKER]);
    self->broker_cert = fx_yaml_path(diag, f[BROKER_CERT], "broker_cert", dir);
    self->state = fx_yaml_path(diag, f[STATE], "state", dir);
    free(copy);
    if (fx_diag_count(diag) > 0)
        agent_config_destroy(&self);
cleanup:
    fx_yaml_destroy(&doc);
    return self;
}
