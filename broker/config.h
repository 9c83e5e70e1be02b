/* The broker's configuration file (YAML): where its keys, region, policy and database are, the
 * endpoint it binds, and its limits. Relative paths are relative to the file's directory. */
#ifndef FUSION_BROKER_CONFIG_H
#define FUSION_BROKER_CONFIG_H

#include <stdint.h>

#include "fusion/yamldoc.h"

/* Where a key's value is written in the file, for a message about it found later. */
typedef struct {
    unsigned line, column;
} broker_config_at_t;

typedef struct {
    char *path;            /* the configuration file itself */
    char *id;              /* the broker's principal id (its certificate is in the region) */
    char *key_file;        /* the broker's secret key file */
    char *region;          /* authority.pub, directory/, revocations.crl */
    char *authority_file;  /* the pinned authority key; default REGION/authority.pub */
    char *policy_file;     /* the sharing policy; its signature is POLICY.sig */
    char *database;        /* the SQLite store */
    char *endpoint;        /* ZeroMQ endpoint to bind; port * for an ephemeral one */
    char *endpoint_file;   /* where to write the bound endpoint, or NULL */
    char *state_dir;       /* working files (the CURVE directory for ZAP) */
    int64_t replay_window; /* ms: created_at must be within this of the broker's clock */
    int64_t max_ttl;       /* ms: expires_at - created_at at most */
    int64_t retry;         /* ms: unacknowledged deliveries are sent again after this */
    int64_t heartbeat;     /* ms: ZMTP heartbeat interval */
    int64_t heartbeat_timeout;
    int64_t handshake; /* ms: a CURVE handshake must complete within this */
    long long max_message_bytes;
    int64_t prune_interval;      /* ms: expired messages are pruned this often */
    long long workers;           /* threads that verify signatures, the loop's own included */
    double rate;                 /* frames per second a principal may send, on average ... */
    long long burst;             /* ... and at once (limits: {rate: N/s, burst: M}) */
    long long max_subscriptions; /* route subscriptions one principal may hold */
    int64_t slow_frame;          /* ms: a handler taking longer is logged and counted */
    int64_t checkpoint_interval; /* ms: the audit tree is signed this often when it grew */
    char *metrics;               /* HOST:PORT on loopback for GET /metrics, or NULL: none */
    int check_only;              /* --check: load and verify, open and bind nothing */
    size_t check_skipped; /* --check: the directory's certificates skipped (the server sets it) */
    broker_config_at_t database_at, state_dir_at, endpoint_file_at;
} broker_config_t;

/* Loads a configuration file; problems go to diag (FILE:LINE:COLUMN). 0 or -1. */
int broker_config_load(const char *path, broker_config_t *config, fx_diag_t *diag);

/* Checks, by looking only, that the configured paths can work: state_dir is a directory or can
 * be created, database is a file or can be created in a directory that exists (or in state_dir,
 * which the broker creates), and so can endpoint_file, if set. Problems go to diag at the key's
 * position. 0 or -1. (Whether an existing database is a Fusion store is the store's check:
 * fx_store_check_file.) */
int broker_config_check_paths(const broker_config_t *config, fx_diag_t *diag);

/* Frees the strings of a configuration and zeroes it. */
void broker_config_free(broker_config_t *config);

#endif
