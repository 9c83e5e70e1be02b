/* fusion-admin audit: the operator's and auditor's view of a broker's audit trail. `verify`
 * recomputes every leaf hash and the Merkle tree and checks every signed checkpoint against the
 * pinned broker key, naming the first entry or checkpoint that does not hold; `export` writes
 * the entries as JSON lines; `show --msg` tells one message's history. The database is opened
 * read-only: nothing here ever writes to it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "fusion/audit.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/client.h"
#include "fusion/err.h"
#include "fusion/merkle.h"
#include "fusion/store.h"
#include "fusion/yamldoc.h"

static void s_usage(void)
{
    printf(
        "fusion-admin audit: check and read a broker's audit trail (docs/audit.md).\n\n"
        "Usage: fusion-admin audit verify DB (--broker-cert FILE [--region REGION] | --key HEX)\n"
        "       fusion-admin audit verify [DB] --config BROKER.yaml\n"
        "       fusion-admin audit export DB\n"
        "       fusion-admin audit show DB --msg MSGID [--json]\n\n"
        "Commands:\n"
        "  verify   recompute every entry's leaf hash and the Merkle tree, and check every\n"
        "           signed checkpoint (signature by the pinned broker key, root at its tree\n"
        "           size, sizes and times in order). Exit 0 when everything holds; exit 1\n"
        "           naming the first entry or checkpoint that does not (modified, deleted,\n"
        "           inserted, reordered or truncated entries, altered or rolled-back\n"
        "           checkpoints). The broker key is its certificate (verified against the\n"
        "           region's authority.pub; REGION from --region, FUSION_REGION, or the\n"
        "           region the certificate is in, REGION/directory/ID.cert) or its Ed25519\n"
        "           public key in hex. --config takes the broker's id, region and\n"
        "           authority (and DB, when not given) from its configuration. Never\n"
        "           the broker the trail names: the trail is what is being checked.\n"
        "  export   write every entry as one JSON object per line (never content)\n"
        "  show     the history of one message: accepted (who was allowed, who denied) or "
        "rejected,\n"
        "           delivered and received\n\n"
        "DB is the broker's SQLite store; it is opened read-only and never changed.\n");
    fx_cli_print_exit_codes();
}

static int s_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* The one operand DB after getopt_long, if any, into *db_p; 2 (with a message) for more. */
static int s_operands(const char *command, int argc, char **argv, const char **db_p)
{
    if (argc - optind > 1) {
        fx_cli_error(ADMIN_PROG, "audit %s: unexpected argument '%s' (try --help)", command,
                     argv[optind + 1]);
        return FX_EXIT_USAGE;
    }
    *db_p = argc - optind == 1 ? argv[optind] : NULL;
    return FX_EXIT_OK;
}

static int s_open(const char *command, const char *path, fx_store_t **store_p)
{
    fx_store_options_t options = {.read_only = true};
    char why[FX_STORE_WHY_SIZE];
    /* A directory is bad input (SQLite calls it a disk I/O error); a DB that is not there is
     * one that cannot be read (exit 4, docs/audit.md), as an unreadable one, which gets the
     * system's reason. */
    int status;
    const char *problem = path[0] ? fx_cli_read_problem(path, &status) : NULL;
    if (problem) {
        fx_cli_error(ADMIN_PROG, "audit %s: %s: %s", command, path, problem);
        return access(path, F_OK) != 0 ? FX_EXIT_SYSTEM : status;
    }
    fx_err_t rc = fx_store_open(path, &options, store_p, why);
    if (rc != FX_OK) {
        fx_cli_error(ADMIN_PROG, "audit %s: cannot read %s: %s", command, path, why);
        return rc == FX_ERR_INVALID ? FX_EXIT_USAGE : FX_EXIT_SYSTEM; /* invalid: an empty DB */
    }
    return FX_EXIT_OK;
}

/* --- verify ---------------------------------------------------------------------------------- */

/* A checkpoint as verify keeps it while it reads the entries: what its signed body says, and
 * what is wrong with it on its own (signature, key, row), found while reading it. Compact, so
 * that years of checkpoints fit in memory. */
typedef struct {
    int64_t tree_size, time_ms;
    uint8_t root_hash[FX_MERKLE_HASH_BYTES];
    char *problem; /* NULL when the checkpoint holds on its own */
} checkpoint_t;

typedef struct {
    checkpoint_t *items;
    size_t count, cap;
    const uint8_t *broker_key;
    const char *broker_id; /* from the certificate, or NULL with --key */
} checkpoints_t;

/* What is wrong with a checkpoint on its own, as a new string, or NULL. */
static char *s_checkpoint_problem(const checkpoints_t *list, const fx_store_checkpoint_t *cp,
                                  fx_audit_checkpoint_t *body)
{
    char text[512];
    long long size = (long long) cp->tree_size;
    fx_err_t rc = fx_audit_checkpoint_verify(cp->body, cp->body_len, cp->signature,
                                             FX_SIGNATURE_BYTES, list->broker_key, body);
    if (rc == FX_ERR_BAD_SIGNATURE)
        snprintf(text, sizeof text,
                 "checkpoint of tree size %lld: its signature does not verify with the broker "
                 "key (forged, signed by another key, or its body altered)",
                 size);
    else if (rc == FX_ERR_UNTRUSTED)
        snprintf(text, sizeof text,
                 "checkpoint of tree size %lld: its signed body names another broker key", size);
    else if (rc != FX_OK)
        snprintf(text, sizeof text,
                 "checkpoint of tree size %lld: its signed body does not decode (%s)", size,
                 fx_strerror(rc));
    else if (list->broker_id && strcmp(body->broker, list->broker_id) != 0)
        snprintf(text, sizeof text, "checkpoint of tree size %lld: signed for broker %s, not %s",
                 size, body->broker, list->broker_id);
    else if ((int64_t) body->tree_size != cp->tree_size ||
             memcmp(body->root_hash, cp->root_hash, FX_MERKLE_HASH_BYTES) != 0 ||
             (int64_t) body->time_ms != cp->time_ms)
        snprintf(text, sizeof text,
                 "checkpoint of tree size %lld: its stored size, root or time differ from what "
                 "it signed (tree size %llu): the row was altered or moved",
                 size, (unsigned long long) body->tree_size);
    else
        return NULL;
    return fx_strdup(text);
}

static int s_collect_checkpoint(const fx_store_checkpoint_t *checkpoint, void *arg)
{
    checkpoints_t *list = arg;
    if (list->count == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 16;
        list->items = fx_realloc(list->items, list->cap * sizeof *list->items);
    }
    checkpoint_t *kept = &list->items[list->count++];
    fx_audit_checkpoint_t body;
    kept->problem = s_checkpoint_problem(list, checkpoint, &body);
    kept->tree_size = checkpoint->tree_size;
    kept->time_ms = checkpoint->time_ms;
    memcpy(kept->root_hash, checkpoint->root_hash, FX_MERKLE_HASH_BYTES);
    return 0;
}

typedef struct {
    fx_merkle_tree_t *tree;
    checkpoints_t checkpoints;
    size_t next_checkpoint;
    int64_t entries;
    int64_t last_entry_time;
    int64_t last_checkpoint_time, last_checkpoint_size;
    char failure[1024]; /* the first thing that does not hold */
} verify_t;

/* Checks the checkpoint against the tree as it stands (its tree size = the entries so far). */
static int s_check_checkpoint(verify_t *v, const checkpoint_t *cp)
{
    char time[FX_TIME_BUFSIZE];
    long long size = (long long) cp->tree_size;
    if (cp->problem) {
        snprintf(v->failure, sizeof v->failure, "%s", cp->problem);
        return 1;
    }
    uint8_t root[FX_MERKLE_HASH_BYTES];
    fx_merkle_tree_root(v->tree, root);
    fx_time_format(cp->time_ms, time);
    if (memcmp(root, cp->root_hash, sizeof root) != 0) {
        snprintf(v->failure, sizeof v->failure,
                 "checkpoint of tree size %lld (signed %s) does not match entries 1..%lld: one "
                 "of the entries after seq %lld was altered, inserted, removed or reordered and "
                 "its leaf hash recomputed",
                 size, time, size, (long long) v->last_checkpoint_size);
        return 1;
    }
    if (cp->time_ms < v->last_checkpoint_time) {
        snprintf(v->failure, sizeof v->failure,
                 "checkpoint of tree size %lld (signed %s) is older than the checkpoint of tree "
                 "size %lld before it: the checkpoints were rolled back",
                 size, time, (long long) v->last_checkpoint_size);
        return 1;
    }
    if (cp->tree_size > 0 && cp->time_ms < v->last_entry_time) {
        snprintf(v->failure, sizeof v->failure,
                 "checkpoint of tree size %lld (signed %s) is older than entry %lld it covers: "
                 "it was rolled back or the entry's time altered",
                 size, time, size);
        return 1;
    }
    v->last_checkpoint_time = cp->time_ms;
    v->last_checkpoint_size = cp->tree_size;
    return 0;
}

/* Checks the checkpoints whose tree size is the number of entries read so far. */
static int s_checkpoints_due(verify_t *v)
{
    while (v->next_checkpoint < v->checkpoints.count &&
           v->checkpoints.items[v->next_checkpoint].tree_size == v->entries) {
        if (s_check_checkpoint(v, &v->checkpoints.items[v->next_checkpoint]))
            return 1;
        v->next_checkpoint++;
    }
    return 0;
}

static int s_verify_entry(const fx_store_audit_entry_t *entry, void *arg)
{
    verify_t *v = arg;
    if (!fx_store_audit_entry_check(entry, v->entries + 1, v->failure, sizeof v->failure))
        return 1;
    fx_merkle_tree_append(v->tree, entry->leaf_hash); /* as checked */
    v->entries++;
    v->last_entry_time = entry->time_ms;
    return s_checkpoints_due(v);
}

static int s_verify(int argc, char **argv)
{
    static const struct option options[] = {{"broker-cert", required_argument, NULL, 'c'},
                                            {"key", required_argument, NULL, 'k'},
                                            {"region", required_argument, NULL, 'r'},
                                            {"config", required_argument, NULL, 'C'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *db = NULL, *cert_path = NULL, *key_hex = NULL, *region_opt = NULL,
               *config_path = NULL;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cert_path = optarg;
            break;
        case 'k':
            key_hex = optarg;
            break;
        case 'r':
            region_opt = optarg;
            break;
        case 'C':
            config_path = optarg;
            break;
        case 'h':
            s_usage();
            return FX_EXIT_OK;
        default:
            return admin_unknown_option("audit verify", argv);
        }
    }
    if (s_operands("verify", argc, argv, &db) != FX_EXIT_OK)
        return FX_EXIT_USAGE;
    /* The broker's key: --key, --broker-cert, or --config (its id, region and authority).
     * Never the broker the trail's checkpoints name: whoever can write the database could name
     * any principal whose key they hold and sign every checkpoint as it. */
    int ways = (cert_path != NULL) + (key_hex != NULL) + (config_path != NULL);
    if (ways == 0 && region_opt && db) {
        fx_cli_error(ADMIN_PROG,
                     "audit verify: --region only says where a --broker-cert's authority is; "
                     "name the broker to check the trail against: --broker-cert "
                     "%s/directory/BROKER-ID.cert, or --config BROKER.yaml (the trail cannot "
                     "be trusted to name its own broker)",
                     region_opt);
        return FX_EXIT_USAGE;
    }
    if (ways != 1 || (config_path && region_opt) || (!db && !config_path)) {
        fx_cli_error(ADMIN_PROG, "audit verify: expected DB and one of --broker-cert FILE, --key "
                                 "HEX or --config BROKER.yaml (try --help)");
        return FX_EXIT_USAGE;
    }
    char config_cert[4096], authority_path[4096] = "", config_db[4096];
    char config_id[FX_ID_MAX] = "";
    const char *named_by = NULL; /* how the certificate was found, when not given */
    if (config_path) {
        broker_config_t config;
        memset(&config, 0, sizeof config);
        fx_diag_t *diag = fx_diag_new(config_path);
        int loaded = broker_config_load(config_path, &config, diag);
        if (loaded != 0)
            fx_diag_print(diag, stderr, ADMIN_PROG ": audit verify: ");
        fx_diag_destroy(&diag);
        if (loaded != 0) {
            broker_config_free(&config);
            return FX_EXIT_USAGE;
        }
        if (!db) {
            snprintf(config_db, sizeof config_db, "%s", config.database);
            db = config_db;
        }
        snprintf(config_cert, sizeof config_cert, "%s/directory/%s.cert", config.region, config.id);
        snprintf(authority_path, sizeof authority_path, "%s", config.authority_file);
        snprintf(config_id, sizeof config_id, "%s", config.id);
        broker_config_free(&config);
        cert_path = config_cert;
        named_by = "the broker's configuration";
    }
    uint8_t key[FX_KEY_BYTES];
    fx_cert_t *cert = NULL;
    if (key_hex) {
        size_t len = 0;
        if (strlen(key_hex) != 2 * FX_KEY_BYTES ||
            sodium_hex2bin(key, sizeof key, key_hex, strlen(key_hex), NULL, &len, NULL) != 0 ||
            len != FX_KEY_BYTES) {
            fx_cli_error(ADMIN_PROG, "audit verify: --key needs the broker's Ed25519 public key "
                                     "as 64 hex digits");
            return FX_EXIT_USAGE;
        }
    } else {
        /* The region: --region, FUSION_REGION, or the one the certificate is in
         * (REGION/directory/ID.cert). */
        char path[4096], copy[4096];
        uint8_t authority[FX_KEY_BYTES];
        if (access(cert_path, F_OK) != 0) { /* say so before looking for its region */
            if (config_path)
                fx_cli_error(ADMIN_PROG,
                             "audit verify: %s: no such file (the certificate of broker %s in "
                             "the region of %s)",
                             cert_path, config_id, config_path);
            else
                fx_cli_error(ADMIN_PROG, "audit verify: --broker-cert %s: no such file", cert_path);
            return FX_EXIT_USAGE;
        }
        const char *region = region_opt ? region_opt : getenv("FUSION_REGION");
        if (authority_path[0]) {
            snprintf(path, sizeof path, "%s", authority_path);
        } else if (region && region[0]) {
            snprintf(path, sizeof path, "%s/authority.pub", region);
        } else {
            snprintf(copy, sizeof copy, "%s", cert_path);
            snprintf(path, sizeof path, "%s/../authority.pub", dirname(copy));
            if (access(path, F_OK) != 0 && errno == ENOENT) {
                fx_cli_error(ADMIN_PROG,
                             "audit verify: no region given, and %s is not in one (no %s): "
                             "use --region REGION or set FUSION_REGION, or give the broker's "
                             "key with --key HEX",
                             cert_path, path);
                return FX_EXIT_USAGE;
            }
        }
        fx_err_t rc = fx_authority_key_load(path, authority);
        if (rc != FX_OK)
            return admin_authority_failed("audit verify", path, rc);
        rc = fx_broker_cert_load(cert_path, authority, fx_now_ms(), &cert);
        if (rc != FX_OK) {
            fx_cli_error(ADMIN_PROG, "audit verify: %s: %s", cert_path, fx_strerror(rc));
            return fx_err_exit(rc);
        }
        memcpy(key, fx_cert_sign_key(cert), sizeof key);
    }
    fx_store_t *store = NULL;
    int status = s_open("verify", db, &store);
    if (status != FX_EXIT_OK) {
        fx_cert_destroy(&cert);
        return status;
    }
    verify_t v = {.checkpoints = {.broker_key = key, .broker_id = cert ? fx_cert_id(cert) : NULL},
                  .tree = fx_merkle_tree_new(FX_MERKLE_NO_NODES)};
    status = FX_EXIT_NO;
    if (fx_store_checkpoint_each(store, s_collect_checkpoint, &v.checkpoints) != FX_OK) {
        snprintf(v.failure, sizeof v.failure, "a checkpoint cannot be read: %s",
                 fx_store_error_text(store));
        goto report;
    }
    if (s_checkpoints_due(&v)) /* a checkpoint of the empty tree */
        goto report;
    /* From the lowest seq there is, so that a row inserted before entry 1 is seen too. */
    if (fx_store_audit_each(store, INT64_MIN, s_verify_entry, &v) != FX_OK) {
        snprintf(v.failure, sizeof v.failure, "an entry cannot be read: %s",
                 fx_store_error_text(store));
        goto report;
    }
    if (v.failure[0])
        goto report;
    if (v.next_checkpoint < v.checkpoints.count) {
        const checkpoint_t *cp = &v.checkpoints.items[v.next_checkpoint];
        snprintf(v.failure, sizeof v.failure,
                 "checkpoint of tree size %lld covers entries the trail no longer has: it ends "
                 "at entry %lld, so entries %lld..%lld were removed (truncated)",
                 (long long) cp->tree_size, (long long) v.entries, (long long) v.entries + 1,
                 (long long) cp->tree_size);
        goto report;
    }
    /* The links that file entries under a message (what show --msg and receipts read) are not
     * hashed: check that each names an entry of that message. */
    char why[FX_STORE_WHY_SIZE];
    int64_t bad_link = 0;
    fx_err_t links = fx_store_audit_links_check(store, INT64_MIN, &bad_link, why);
    if (links != FX_OK && links != FX_ERR_NOT_FOUND) {
        snprintf(v.failure, sizeof v.failure, "the links to entries cannot be read: %s",
                 fx_store_error_text(store));
        goto report;
    }
    if (links == FX_OK && bad_link > 0) {
        snprintf(v.failure, sizeof v.failure,
                 "%s: the index that files entries under their message was altered (the "
                 "entries themselves hold)",
                 why);
        goto report;
    }
    status = FX_EXIT_OK;
report:
    if (named_by && cert)
        printf("broker: %s, certificate %s (%s)\n", fx_cert_id(cert), cert_path, named_by);
    if (status == FX_EXIT_OK) {
        printf("audit trail holds: %lld entries, %zu signed checkpoints\n", (long long) v.entries,
               v.checkpoints.count);
        if (v.checkpoints.count == 0) {
            printf(
                "warning: no signed checkpoint: nothing binds the entries to the broker's key\n");
        } else {
            char time[FX_TIME_BUFSIZE];
            fx_time_format(v.last_checkpoint_time, time);
            printf("latest checkpoint: tree size %lld, signed %s\n",
                   (long long) v.last_checkpoint_size, time);
            if (v.entries > v.last_checkpoint_size)
                printf("note: entries %lld..%lld come after the latest checkpoint and are not "
                       "signed yet\n",
                       (long long) v.last_checkpoint_size + 1, (long long) v.entries);
        }
    } else {
        printf("audit trail does NOT hold: %s\n", v.failure);
    }
    for (size_t i = 0; i < v.checkpoints.count; i++)
        free(v.checkpoints.items[i].problem);
    free(v.checkpoints.items);
    fx_merkle_tree_destroy(&v.tree);
    fx_store_destroy(&store);
    fx_cert_destroy(&cert);
    return status;
}

/* --- export and show ------------------------------------------------------------------------- */

/* An entry as a JSON object (never content: the entries hold none). */
static json_t *s_entry_json(const fx_store_audit_entry_t *entry)
{
    char time[FX_TIME_BUFSIZE], hex[2 * FX_STORE_DIGEST_BYTES + 1];
    fx_time_format(entry->time_ms, time);
    json_error_t error;
    json_t *details = json_loads(entry->details, JSON_REJECT_DUPLICATES, &error);
    json_t *o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "seq", (json_int_t) entry->seq, "time",
                          time, "time_ms", (json_int_t) entry->time_ms, "event", entry->event,
                          "actor", entry->actor, "subject", entry->subject);
    json_object_set_new(o, "msg_id",
                        entry->msg_id
                            ? json_string(fx_hex(entry->msg_id, FX_STORE_MSG_ID_BYTES, hex))
                            : json_null());
    json_object_set_new(o, "header_digest",
                        entry->header_digest
                            ? json_string(fx_hex(entry->header_digest, FX_STORE_DIGEST_BYTES, hex))
                            : json_null());
    json_object_set_new(o, "details", details ? details : json_string(entry->details));
    json_object_set_new(o, "leaf_hash",
                        json_string(fx_hex(entry->leaf_hash, FX_STORE_LEAF_HASH_BYTES, hex)));
    return o;
}

static int s_print_json_line(const fx_store_audit_entry_t *entry, void *arg)
{
    size_t *count = arg;
    json_t *o = s_entry_json(entry);
    char *text = json_dumps(o, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(o);
    (*count)++;
    return 0;
}

static int s_export(int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt != 'h')
            return admin_unknown_option("audit export", argv);
        s_usage();
        return FX_EXIT_OK;
    }
    if (s_operands("export", argc, argv, &db) != FX_EXIT_OK)
        return FX_EXIT_USAGE;
    if (!db) {
        fx_cli_error(ADMIN_PROG, "audit export: expected DB (try --help)");
        return FX_EXIT_USAGE;
    }
    fx_store_t *store = NULL;
    int status = s_open("export", db, &store);
    if (status != FX_EXIT_OK)
        return status;
    size_t count = 0;
    if (fx_store_audit_each(store, 1, s_print_json_line, &count) != FX_OK) {
        fx_cli_error(ADMIN_PROG, "audit export: %s", fx_store_error_text(store));
        status = FX_EXIT_SYSTEM;
    }
    fx_store_destroy(&store);
    return status;
}

/* One line of a message's history, for people. */
static int s_print_human(const fx_store_audit_entry_t *entry, void *arg)
{
    size_t *count = arg;
    char time[FX_TIME_BUFSIZE];
    fx_time_format(entry->time_ms, time);
    printf("%s  #%lld  %-10s %s%s%s  %s\n", time, (long long) entry->seq, entry->event,
           entry->actor, entry->subject[0] ? " -> " : "", entry->subject, entry->details);
    (*count)++;
    return 0;
}

/* audit show for a message that is not stored: every entry is read, those of msg_id printed. */
typedef struct {
    const uint8_t *msg_id;
    int json;
    size_t count;
} show_scan_t;

static int s_print_matching(const fx_store_audit_entry_t *entry, void *arg)
{
    show_scan_t *scan = arg;
    if (!entry->msg_id || memcmp(entry->msg_id, scan->msg_id, FX_STORE_MSG_ID_BYTES) != 0)
        return 0;
    return scan->json ? s_print_json_line(entry, &scan->count) : s_print_human(entry, &scan->count);
}

static int s_show(int argc, char **argv)
{
    static const struct option options[] = {{"msg", required_argument, NULL, 'm'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *db = NULL, *msg = NULL;
    bool json = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            msg = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            s_usage();
            return FX_EXIT_OK;
        default:
            return admin_unknown_option("audit show", argv);
        }
    }
    if (s_operands("show", argc, argv, &db) != FX_EXIT_OK)
        return FX_EXIT_USAGE;
    uint8_t msg_id[FX_STORE_MSG_ID_BYTES];
    size_t len = 0;
    if (!db || !msg || strlen(msg) != 2 * FX_STORE_MSG_ID_BYTES ||
        sodium_hex2bin(msg_id, sizeof msg_id, msg, strlen(msg), NULL, &len, NULL) != 0 ||
        len != FX_STORE_MSG_ID_BYTES) {
        fx_cli_error(ADMIN_PROG, "audit show: expected DB and --msg MSGID (32 hex digits)");
        return FX_EXIT_USAGE;
    }
    fx_store_t *store = NULL;
    int status = s_open("show", db, &store);
    if (status != FX_EXIT_OK)
        return status;
    size_t count = 0;
    fx_err_t rc =
        fx_store_audit_of_message(store, msg_id, json ? s_print_json_line : s_print_human, &count);
    if (rc == FX_OK && count == 0) {
        /* Not stored (rejected) or pruned: the entries are found by reading the whole trail. */
        show_scan_t scan = {msg_id, json, 0};
        rc = fx_store_audit_each(store, 1, s_print_matching, &scan);
        count = scan.count;
    }
    if (rc != FX_OK) {
        fx_cli_error(ADMIN_PROG, "audit show: %s", fx_store_error_text(store));
        status = FX_EXIT_SYSTEM;
    } else if (count == 0) {
        fx_cli_error(ADMIN_PROG, "audit show: no audit entry names message %s", msg);
        status = FX_EXIT_NO;
    }
    fx_store_destroy(&store);
    return status;
}

int admin_audit(int argc, char **argv)
{
    if (argc < 2) {
        fx_cli_error(ADMIN_PROG, "audit: expected a command (try 'fusion-admin audit --help')");
        return FX_EXIT_USAGE;
    }
    if (s_is_help(argv[1])) {
        s_usage();
        return FX_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return s_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0)
        return s_export(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return s_show(argc - 1, argv + 1);
    fx_cli_error(ADMIN_PROG, "audit: unknown command '%s' (try 'fusion-admin audit --help')",
                 argv[1]);
    return FX_EXIT_USAGE;
}
