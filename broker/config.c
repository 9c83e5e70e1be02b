/* The broker's configuration file: strict YAML, every problem reported with its position. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/keys.h"
#include "metrics.h"

#define CONFIG_MAX_BYTES  (64 * 1024)
#define WORKERS_MAX       64
#define RATE_DEFAULT      200 /* frames per second and principal */
#define BURST_DEFAULT     2000
#define RATE_MAX          1000000
#define BURST_MAX         10000000
#define SUBSCRIPTIONS_MAX 1000000 /* route subscriptions of one principal */

/* limits.rate: "N/s", "N/min" or "N/h", N a whole number from 1. The unit is required: a bare
 * number says nothing of the period it counts. */
static void s_rate(fx_diag_t *diag, const fx_yaml_node_t *node, double *rate_p)
{
    const char *text = fx_yaml_scalar(diag, node, "rate");
    if (!text)
        return;
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    double per = 1;
    if (end == text || text[0] == '-' || text[0] == '+' || n < 1)
        per = 0;
    else if (*end == '\0') {
        fx_yaml_error(diag, node, "rate needs its unit: N/s, N/min or N/h (e.g. %s/s), found '%s'",
                      text, text);
        return;
    } else if (strcmp(end, "/s") == 0)
        per = 1;
    else if (strcmp(end, "/min") == 0)
        per = 60;
    else if (strcmp(end, "/h") == 0)
        per = 3600;
    else
        per = 0;
    if (per == 0 || (double) n / per > RATE_MAX) {
        fx_yaml_error(diag, node,
                      "rate must be a whole number of frames per second, minute or hour, from "
                      "1/h to %d/s (e.g. 200/s), found '%s'",
                      RATE_MAX, text);
        return;
    }
    *rate_p = (double) n / per;
}

#define SECOND_MS ((int64_t) 1000)
#define HOUR_MS   (3600 * SECOND_MS)
#define DAY_MS    (24 * HOUR_MS)

/* The shortest and longest each duration may be. The longest: what the transport can represent
 * (ZMTP carries a heartbeat's time to live in tenths of a second in 16 bits, 6553.5 s; ZeroMQ
 * takes its intervals as an int of milliseconds) and what keeps a timer meaningful. The
 * shortest: 100 ms for the transport's timers (a PING every millisecond is a busy loop, and a
 * handshake cannot finish in one), 1 s for the replay window (less than clock differences and
 * transit take: every message would be stale) and for what the broker's housekeeping does once a
 * second (retries, pruning, audit checkpoints: a shorter interval would act as 1 s). max_ttl has
 * 1 s too, and must be longer than replay_window besides (s_max_ttl). */
static const struct {
    const char *key;
    int64_t min_ms;
    const char *min_text;
    int64_t max_ms;
    const char *max_text;
} s_duration_range[] = {
    {"replay_window", SECOND_MS, "1s", DAY_MS, "1d"},
    {"max_ttl", SECOND_MS, "1s", 3650 * DAY_MS, "3650d"},
    {"retry", SECOND_MS, "1s", DAY_MS, "1d"},
    {"prune_interval", SECOND_MS, "1s", DAY_MS, "1d"},
    {"heartbeat", 100, "100ms", HOUR_MS, "1h"},
    {"heartbeat_timeout", 100, "100ms", HOUR_MS, "1h"},
    {"handshake", 100, "100ms", 600 * SECOND_MS, "10m"},
    {"checkpoint_interval", SECOND_MS, "1s", DAY_MS, "1d"},
    {"slow_frame", 1, "1ms", HOUR_MS, "1h"},
};

static void s_duration(fx_diag_t *diag, const fx_yaml_node_t *node, const char *key, int64_t *ms_p)
{
    int64_t ms;
    if (fx_yaml_duration(diag, node, key, &ms) != 0)
        return;
    for (size_t i = 0; i < sizeof s_duration_range / sizeof s_duration_range[0]; i++) {
        if (strcmp(s_duration_range[i].key, key) != 0)
            continue;
        if (ms > s_duration_range[i].max_ms) {
            fx_yaml_error(diag, node, "%s must be at most %s, found '%s'", key,
                          s_duration_range[i].max_text, fx_yaml_scalar(diag, node, key));
            return;
        }
        if (ms < s_duration_range[i].min_ms) {
            fx_yaml_error(diag, node, "%s must be at least %s, found '%s'", key,
                          s_duration_range[i].min_text, fx_yaml_scalar(diag, node, key));
            return;
        }
    }
    *ms_p = ms;
}

/* A section of durations, and in limits the size and rate limits too; found[k] receives the
 * value of keys[k] or NULL. 0, or -1 when anything in it is wrong. */
static int s_section(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what,
                     const char *const *keys, size_t nkeys, int64_t **durations,
                     broker_config_t *config, const fx_yaml_node_t **found)
{
    size_t before = fx_diag_count(diag);
    if (fx_yaml_fields(diag, node, what, keys, nkeys, found) != 0)
        return -1;
    for (size_t k = 0; k < nkeys; k++) {
        if (!found[k])
            continue;
        if (strcmp(keys[k], "max_message_bytes") == 0)
            fx_yaml_int(diag, found[k], "max_message_bytes", 4096, 64LL << 20,
                        &config->max_message_bytes);
        else if (strcmp(keys[k], "rate") == 0)
            s_rate(diag, found[k], &config->rate);
        else if (strcmp(keys[k], "burst") == 0)
            fx_yaml_int(diag, found[k], "burst", 1, BURST_MAX, &config->burst);
        else if (strcmp(keys[k], "max_subscriptions") == 0)
            fx_yaml_int(diag, found[k], "max_subscriptions", 1, SUBSCRIPTIONS_MAX,
                        &config->max_subscriptions);
        else
            s_duration(diag, found[k], keys[k], durations[k]);
    }
    return fx_diag_count(diag) > before ? -1 : 0;
}

/* The agents are told (ZMTP's heartbeat TTL) to drop a connection that is silent for
 * heartbeat_timeout: PINGs further apart than that would cut every idle agent off between two. */
static void s_heartbeats(fx_diag_t *diag, const broker_config_t *config,
                         const fx_yaml_node_t *heartbeat, const fx_yaml_node_t *timeout)
{
    if (config->heartbeat_timeout > config->heartbeat)
        return;
    if (timeout && heartbeat)
        fx_yaml_error(diag, timeout,
                      "heartbeat_timeout must be longer than heartbeat (%s), found '%s'",
                      fx_yaml_text(heartbeat), fx_yaml_text(timeout));
    else if (timeout)
        fx_yaml_error(
            diag, timeout,
            "heartbeat_timeout must be longer than heartbeat (%gs by default), found '%s'",
            (double) config->heartbeat / 1000, fx_yaml_text(timeout));
    else
        fx_yaml_error(
            diag, heartbeat,
            "heartbeat must be shorter than heartbeat_timeout (%gs by default), found '%s'",
            (double) config->heartbeat_timeout / 1000, fx_yaml_text(heartbeat));
}

/* HOST:PORT split at its last ':' into host (without [ ]) and the port; 0 when there is none. */
static unsigned long s_host_port(const char *address, char *host, size_t size)
{
    const char *colon = strrchr(address, ':');
    if (!colon)
        return 0;
    const char *start = address, *end = colon;
    if (*start == '[' && end > start && end[-1] == ']') {
        start++;
        end--;
    }
    snprintf(host, size, "%.*s", (int) (end - start), start);
    char *rest;
    unsigned long port = strtoul(colon + 1, &rest, 10);
    return *rest ? 0 : port;
}

static bool s_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
           strcmp(host, "::1") == 0;
}

/* Whether a tcp:// endpoint and the metrics address (on loopback) would bind one port: the same
 * port on the same host, a wildcard host, or loopback both. */
static bool s_same_port(const char *endpoint, const char *metrics)
{
    char ehost[256], mhost[256];
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    unsigned long eport = s_host_port(endpoint + 6, ehost, sizeof ehost);
    unsigned long mport = s_host_port(metrics, mhost, sizeof mhost);
    if (eport == 0 || eport != mport)
        return false;
    return strcmp(ehost, "*") == 0 || strcmp(ehost, "0.0.0.0") == 0 || strcmp(ehost, "::") == 0 ||
           strcmp(ehost, mhost) == 0 || (s_loopback(ehost) && s_loopback(mhost));
}

/* A message may be created up to replay_window before the broker's clock (a sender whose clock is
 * behind, or transit): with a maximum time to live no longer than that, such a message, accepted
 * by the window, would already have expired, and the agents' messages would be refused as
 * expired or over the limit depending on their clocks. The check is made where max_ttl is
 * written (replay_window alone cannot reach the default max_ttl: it is at most 1d). */
static void s_max_ttl(fx_diag_t *diag, const broker_config_t *config,
                      const fx_yaml_node_t *replay_window, const fx_yaml_node_t *max_ttl)
{
    if (config->max_ttl > config->replay_window)
        return;
    if (replay_window)
        fx_yaml_error(diag, max_ttl, "max_ttl must be longer than replay_window (%s), found '%s'",
                      fx_yaml_text(replay_window), fx_yaml_text(max_ttl));
    else
        fx_yaml_error(diag, max_ttl,
                      "max_ttl must be longer than replay_window (%lldm by default), found '%s'",
                      (long long) (config->replay_window / 60000), fx_yaml_text(max_ttl));
}

int broker_config_load(const char *path, broker_config_t *config, fx_diag_t *diag)
{
    memset(config, 0, sizeof *config);
    config->path = fx_strdup(path);
    config->replay_window = 10 * 60 * 1000; /* whole minutes: s_max_ttl names it so */
    config->max_ttl = 30LL * 24 * 3600 * 1000;
    config->retry = 30 * 1000;
    config->heartbeat = 5 * 1000;
    config->heartbeat_timeout = 30 * 1000;
    config->handshake = 5 * 1000;
    config->max_message_bytes = 8LL << 20;
    config->max_subscriptions = 1000;
    config->prune_interval = 60 * 1000;
    config->checkpoint_interval = 10 * 1000;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    config->workers = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : cpus;
    config->rate = RATE_DEFAULT;
    config->burst = BURST_DEFAULT;
    config->slow_frame = 100;

    size_t before = fx_diag_count(diag);
    fx_yaml_t *doc = fx_yaml_load(path, CONFIG_MAX_BYTES, diag);
    if (!doc)
        return -1;
    char *copy = fx_strdup(path);
    const char *base = dirname(copy);
    static const char *const keys[] = {"id",        "key",      "region",   "authority",
                                       "policy",    "database", "endpoint", "endpoint_file",
                                       "state_dir", "limits",   "delivery", "transport",
                                       "workers",   "metrics",  "audit"};
    enum {
        ID,
        KEY,
        REGION,
        AUTHORITY,
        POLICY,
        DATABASE,
        ENDPOINT,
        ENDPOINT_FILE,
        STATE_DIR,
        LIMITS,
        DELIVERY,
        TRANSPORT,
        WORKERS,
        METRICS,
        AUDIT,
        NKEYS
    };
    const fx_yaml_node_t *found[NKEYS];
    const fx_yaml_node_t *root = fx_yaml_root(doc);
    if (fx_yaml_fields(diag, root, "the broker configuration", keys, NKEYS, found) == 0) {
        static const char *const required[] = {"id",       "key",      "region",   "policy",
                                               "database", "endpoint", "state_dir"};
        static const int required_index[] = {ID,       KEY,      REGION,   POLICY,
                                             DATABASE, ENDPOINT, STATE_DIR};
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (!found[required_index[i]])
                fx_yaml_error(diag, root, "the broker configuration needs '%s'", required[i]);
        if (found[ID]) {
            const char *id = fx_yaml_scalar(diag, found[ID], "id");
            if (id && !fx_principal_id_valid(id))
                fx_yaml_error(diag, found[ID],
                              "id '%s' is not a principal id (COUNTRY.AGENCY.UNIT, e.g. "
                              "RSO.FUSION.broker)",
                              id);
            else if (id)
                config->id = fx_strdup(id);
        }
        if (found[KEY])
            config->key_file = fx_yaml_path(diag, found[KEY], "key", base);
        if (found[REGION])
            config->region = fx_yaml_path(diag, found[REGION], "region", base);
        if (found[AUTHORITY])
            config->authority_file = fx_yaml_path(diag, found[AUTHORITY], "authority", base);
        if (found[POLICY])
            config->policy_file = fx_yaml_path(diag, found[POLICY], "policy", base);
        if (found[DATABASE]) {
            config->database = fx_yaml_path(diag, found[DATABASE], "database", base);
            config->database_at = (broker_config_at_t){fx_yaml_line(found[DATABASE]),
                                                       fx_yaml_column(found[DATABASE])};
        }
        if (found[ENDPOINT_FILE]) {
            config->endpoint_file = fx_yaml_path(diag, found[ENDPOINT_FILE], "endpoint_file", base);
            config->endpoint_file_at = (broker_config_at_t){fx_yaml_line(found[ENDPOINT_FILE]),
                                                            fx_yaml_column(found[ENDPOINT_FILE])};
        }
        if (found[STATE_DIR]) {
            config->state_dir = fx_yaml_path(diag, found[STATE_DIR], "state_dir", base);
            config->state_dir_at = (broker_config_at_t){fx_yaml_line(found[STATE_DIR]),
                                                        fx_yaml_column(found[STATE_DIR])};
        }
        if (found[ENDPOINT]) {
            const char *endpoint = fx_yaml_scalar(diag, found[ENDPOINT], "endpoint");
            if (endpoint && strncmp(endpoint, "tcp://", 6) != 0 &&
                strncmp(endpoint, "ipc://", 6) != 0)
                fx_yaml_error(diag, found[ENDPOINT],
                              "endpoint must be tcp://ADDRESS:PORT or ipc://PATH, found '%s'",
                              endpoint);
            else if (endpoint)
                config->endpoint = fx_strdup(endpoint);
        }
        const fx_yaml_node_t *in[7];
        if (found[LIMITS]) {
            static const char *const k[] = {
                "max_message_bytes", "replay_window", "max_ttl", "rate", "burst",
                "max_subscriptions", "slow_frame"};
            int64_t *d[] = {NULL, &config->replay_window, &config->max_ttl, NULL, NULL,
                            NULL, &config->slow_frame};
            if (s_section(diag, found[LIMITS], "limits", k, 7, d, config, in) == 0 && in[2])
                s_max_ttl(diag, config, in[1], in[2]);
        }
        if (found[DELIVERY]) {
            static const char *const k[] = {"retry", "prune_interval"};
            int64_t *d[] = {&config->retry, &config->prune_interval};
            (void) s_section(diag, found[DELIVERY], "delivery", k, 2, d, config, in);
        }
        if (found[TRANSPORT]) {
            static const char *const k[] = {"heartbeat", "heartbeat_timeout", "handshake"};
            int64_t *d[] = {&config->heartbeat, &config->heartbeat_timeout, &config->handshake};
            if (s_section(diag, found[TRANSPORT], "transport", k, 3, d, config, in) == 0 &&
                (in[0] || in[1]))
                s_heartbeats(diag, config, in[0], in[1]);
        }
        if (found[AUDIT]) {
            static const char *const k[] = {"checkpoint_interval"};
            int64_t *d[] = {&config->checkpoint_interval};
            (void) s_section(diag, found[AUDIT], "audit", k, 1, d, NULL, in);
        }
        if (found[WORKERS])
            fx_yaml_int(diag, found[WORKERS], "workers", 1, WORKERS_MAX, &config->workers);
        if (found[METRICS]) {
            const char *address = fx_yaml_scalar(diag, found[METRICS], "metrics");
            const char *problem = address ? metrics_address_problem(address) : NULL;
            if (problem)
                fx_yaml_error(diag, found[METRICS], "metrics '%s': %s", address, problem);
            else if (address && config->endpoint && s_same_port(config->endpoint, address))
                fx_yaml_error(diag, found[METRICS],
                              "metrics '%s' is on the endpoint's port (%s): the broker cannot "
                              "listen on both; pick another port",
                              address, config->endpoint);
            else if (address)
                config->metrics = fx_strdup(address);
        }
    }
    if (config->region && !config->authority_file) {
        char joined[PATH_MAX];
        snprintf(joined, sizeof joined, "%s/authority.pub", config->region);
        config->authority_file = fx_strdup(joined);
    }
    free(copy);
    fx_yaml_destroy(&doc);
    return fx_diag_count(diag) > before ? -1 : 0;
}

/* The length of path without its trailing slashes (a lone "/" stays). */
static size_t s_trimmed(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    return len;
}

/* Whether the directory of path will be there when the broker writes path: it exists, or it is
 * state_dir, which the broker creates at start. Otherwise its name in parent (PATH_MAX bytes). */
static bool s_parent_missing(const broker_config_t *config, const char *path, char *parent)
{
    char *copy = fx_strdup(path);
    snprintf(parent, PATH_MAX, "%s", dirname(copy));
    free(copy);
    size_t len = s_trimmed(parent);
    if (len == s_trimmed(config->state_dir) && strncmp(parent, config->state_dir, len) == 0)
        return false;
    struct stat st;
    return stat(parent, &st) != 0 && errno == ENOENT;
}

int broker_config_check_paths(const broker_config_t *config, fx_diag_t *diag)
{
    size_t before = fx_diag_count(diag);
    const broker_config_at_t *at = &config->state_dir_at;
    struct stat st;
    char parent[PATH_MAX];
    /* A state_dir that does not exist yet is created at start; one the user running a check
     * cannot write may well be the service's. */
    int found = stat(config->state_dir, &st) == 0;
    if (found && !S_ISDIR(st.st_mode))
        fx_diag_add(diag, at->line, at->column, "state_dir %s is not a directory",
                    config->state_dir);
    else if (!found && errno == ENOTDIR)
        fx_diag_add(diag, at->line, at->column,
                    "state_dir %s cannot be a directory: a part of its path is a file",
                    config->state_dir);

    at = &config->database_at;
    const char *db = config->database;
    if (stat(db, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            fx_diag_add(diag, at->line, at->column,
                        "database %s is a directory; name the database file in it (e.g. "
                        "%.*s/broker.db)",
                        db, (int) s_trimmed(db), db);
        else if (!S_ISREG(st.st_mode))
            fx_diag_add(diag, at->line, at->column, "database %s is not a regular file", db);
    } else if (errno == ENOTDIR) {
        fx_diag_add(diag, at->line, at->column,
                    "database %s cannot be created: a part of its path is a file", db);
    } else if (errno == ENOENT && s_parent_missing(config, db, parent)) {
        /* SQLite creates the file, not its directory; the broker creates only state_dir. */
        fx_diag_add(diag, at->line, at->column,
                    "database %s cannot be created: its directory %s does not exist", db, parent);
    }

    /* The bound endpoint is written there once listening: found only after the store opened
     * and the socket was bound, were it not checked now. */
    at = &config->endpoint_file_at;
    const char *endpoint_file = config->endpoint_file;
    if (!endpoint_file) {
        /* nothing to write */
    } else if (stat(endpoint_file, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            fx_diag_add(diag, at->line, at->column,
                        "endpoint_file %s is a directory; name the file to write in it (e.g. "
                        "%.*s/endpoint)",
                        endpoint_file, (int) s_trimmed(endpoint_file), endpoint_file);
    } else if (errno == ENOTDIR) {
        fx_diag_add(diag, at->line, at->column,
                    "endpoint_file %s cannot be written: a part of its path is a file",
                    endpoint_file);
    } else if (errno == ENOENT && s_parent_missing(config, endpoint_file, parent)) {
        fx_diag_add(diag, at->line, at->column,
                    "endpoint_file %s cannot be written: its directory %s does not exist",
                    endpoint_file, parent);
    }
    return fx_diag_count(diag) > before ? -1 : 0;
}

void broker_config_free(broker_config_t *config)
{
    free(config->path);
    free(config->id);
    free(config->key_file);
    free(config->region);
    free(config->authority_file);
    free(config->policy_file);
    free(config->database);
    free(config->endpoint);
    free(config->endpoint_file);
    free(config->state_dir);
    free(config->metrics);
    memset(config, 0, sizeof *config);
}
