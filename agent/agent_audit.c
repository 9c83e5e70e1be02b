/* fusion-agent receipt and audit-consistency: an agency checks, without trusting the fusion
 * centre, what the broker recorded about one of its own messages (who received it and when, who
 * was denied and by which rule), against the broker's pinned key; an auditor checks that the
 * broker's audit tree only ever grew. docs/audit.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/audit.h"
#include "fusion/cli.h"
#include "fusion/codec.h"

#define KEPT_FILE     "audit-checkpoints" /* in the state directory: one checkpoint per line */
#define RECEIVED_FILE "audit-checkpoints-received" /* pushed while listening, not yet proven */
#define RECEIPT_BYTES FX_MAX_FRAME_BYTES

static void s_receipt_help(void)
{
    printf("Usage: %s receipt MSGID [--json] [--save FILE] [--timeout S] [--config FILE]\n"
           "       %s receipt MSGID --verify FILE [--json] [--config FILE]\n\n"
           "Asks the broker for the audit entries of one of your agency's messages (sent by\n"
           "you or by another principal of your agency), with their inclusion proofs against\n"
           "a checkpoint signed by the broker, and checks them here against the broker's\n"
           "certificate (pinned by the authority): each entry must be in the signed tree.\n"
           "Prints who was allowed which sections under which rule, who was denied (code,\n"
           "rule, agreement), and when it was delivered and received.\n"
           "--save FILE keeps the receipt as received; --verify FILE checks a saved receipt\n"
           "offline. Exit 0 when it verifies, 1 when it does not (saying what does not hold)\n"
           "or the broker has no receipt of that message for your agency, 2 when the\n"
           "--verify FILE is not there or is not a saved receipt.\n",
           AGENT_PROG, AGENT_PROG);
    fx_cli_print_exit_codes();
}

static void s_consistency_help(void)
{
    printf("Usage: %s audit-consistency [--json] [--timeout S] [--config FILE]\n\n"
           "For an auditor: asks the broker for its latest signed checkpoint and a proof that\n"
           "the newest checkpoint kept in the state directory is a prefix of it, checks both\n"
           "against the broker's certificate, and keeps the new checkpoint. The checkpoints\n"
           "the broker pushed to this auditor (on connecting, and to 'listen') are proven\n"
           "prefixes of it too. Exit 0 when the broker's tree only grew, 1 when its history\n"
           "was rewritten or rolled back.\n",
           AGENT_PROG);
    fx_cli_print_exit_codes();
}

static void s_print_sections(const json_t *sections)
{
    size_t i;
    json_t *s;
    json_array_foreach(sections, i, s)
    {
        printf("%s section %lld", i ? "," : "",
               (long long) json_integer_value(json_object_get(s, "section")));
        const char *code = json_string_value(json_object_get(s, "code"));
        const char *rule = json_string_value(json_object_get(s, "rule"));
        const char *agreement = json_string_value(json_object_get(s, "agreement"));
        if (code)
            printf(" %s", code);
        if (rule && rule[0])
            printf(" (rule %s)", rule);
        if (agreement && agreement[0])
            printf(" under agreement %s", agreement);
    }
}

/* The recipients an accepted entry lists, one line each: "allowed to X: section 1 (rule R)". */
static void s_print_recipients(const json_t *list, const char *how)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        printf("\n      %s ", how);
        agent_print_text(stdout, json_string_value(json_object_get(r, "recipient")), "?");
        printf(":");
        s_print_sections(json_object_get(r, "sections"));
    }
}

/* The history in words; strings from the broker are printed sanitised. */
static void s_print_history(const json_t *entries)
{
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        char time[FX_TIME_BUFSIZE];
        fx_time_format(json_integer_value(json_object_get(e, "time_ms")), time);
        const char *event = json_string_value(json_object_get(e, "event"));
        json_t *details = json_object_get(e, "details");
        printf("  %s  ", time);
        agent_print_text(stdout, event, "");
        if (strcmp(event, "accepted") == 0 || strcmp(event, "recipients") == 0) {
            if (strcmp(event, "accepted") == 0) {
                printf(" ");
                agent_print_text(stdout, json_string_value(json_object_get(details, "kind")), "?");
                printf(", %lld sections, for %lld recipients",
                       (long long) json_integer_value(json_object_get(details, "sections")),
                       (long long) json_integer_value(json_object_get(details, "recipients")));
            }
            s_print_recipients(json_object_get(details, "allowed"), "allowed to");
            s_print_recipients(json_object_get(details, "denied"), "denied for");
        } else if (strcmp(event, "delivered") == 0) {
            printf(" to ");
            agent_print_text(stdout, json_string_value(json_object_get(e, "subject")), "");
        } else if (strcmp(event, "received") == 0) {
            printf(" by ");
            agent_print_text(stdout, json_string_value(json_object_get(e, "actor")), "");
        } else if (strcmp(event, "rejected") == 0) {
            char *text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
            printf(" ");
            agent_print_text(stdout, text, "");
            free(text);
        } else {
            printf(" ");
            agent_print_text(stdout, json_string_value(json_object_get(e, "actor")), "");
        }
        printf("\n");
    }
}

int agent_receipt(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"save", required_argument, NULL, 's'},
        {"verify", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *save = NULL, *offline = NULL;
    int timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'c')
            config = optarg;
        else if (opt == 't') {
            if (agent_parse_seconds("receipt", "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'j')
            json = 1;
        else if (opt == 's')
            save = optarg;
        else if (opt == 'v')
            offline = optarg;
        else if (opt == 'h') {
            s_receipt_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG, "receipt: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    uint8_t msg_id[FX_MSG_ID_BYTES];
    size_t len = 0;
    const char *hex = argc - optind == 1 ? argv[optind] : "";
    if (strlen(hex) != 2 * FX_MSG_ID_BYTES ||
        sodium_hex2bin(msg_id, sizeof msg_id, hex, strlen(hex), NULL, &len, NULL) != 0 ||
        len != FX_MSG_ID_BYTES || (save && offline)) {
        fx_cli_error(AGENT_PROG, "receipt: give one MSGID (32 hex digits), and --save or "
                                 "--verify, not both (try --help)");
        return FX_EXIT_USAGE;
    }
    agent_session_t session;
    int status =
        offline ? agent_session_open_offline(&session, "receipt", agent_config_path(config))
                : agent_session_open(&session, "receipt", agent_config_path(config), timeout_ms);
    Fusion__Frame *frame = NULL;
    uint8_t *bytes = NULL;
    json_t *entries = NULL;
    if (status != FX_EXIT_OK)
        goto cleanup;
    fx_err_t rc;
    if (offline) {
        rc = fx_file_read(offline, RECEIPT_BYTES, &bytes, &len);
        if (rc == FX_OK)
            rc = fx_codec_decode(FX_MSG_FRAME, bytes, len, (void **) &frame);
        if (rc != FX_OK || frame->body_case != FUSION__FRAME__BODY_RECEIPT) {
            fx_cli_error(AGENT_PROG, "receipt: %s is not a saved receipt (%s)", offline,
                         rc != FX_OK ? fx_strerror(rc) : "another kind of frame");
            /* A file that is not there, or is not a receipt, is bad input (2); one that cannot
             * be read a system error (4). Exit 1 is only for a receipt that does not verify. */
            status = rc == FX_ERR_IO ? fx_err_exit(rc) : FX_EXIT_USAGE;
            goto cleanup;
        }
    } else {
        fx_answer_t answer;
        rc = fx_client_receipt(session.client, msg_id, timeout_ms, &frame, &answer);
        if (rc == FX_ERR_UNAVAILABLE && !answer.refused) {
            status = agent_session_unreachable(&session);
            goto cleanup;
        }
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG, "receipt: the broker gives no receipt of %s: %s", hex,
                         answer.refused ? answer.reason : fx_strerror(rc));
            status = FX_EXIT_NO;
            goto cleanup;
        }
        if (save) {
            fx_codec_encode(frame, &bytes, &len);
            if ((rc = fx_file_write(save, bytes, len, 0600, 0)) != FX_OK) {
                fx_cli_error(AGENT_PROG, "receipt: cannot write %s: %s", save,
                             fx_file_write_strerror(save, rc));
                status = fx_err_exit(rc);
                goto cleanup;
            }
        }
    }
    fx_audit_checkpoint_t checkpoint = {.tree_size = 0};
    char why[512];
    rc = fx_audit_receipt_verify(frame->receipt, msg_id, fx_cert_sign_key(session.broker_cert),
                                 fx_cert_id(session.broker_cert), session.config->id, &checkpoint,
                                 &entries, why, sizeof why);
    char time[FX_TIME_BUFSIZE];
    fx_time_format((int64_t) checkpoint.time_ms, time);
    if (json) {
        json_t *out = json_pack("{s:s, s:b}", "msg_id", hex, "verified", rc == FX_OK);
        if (rc == FX_OK) {
            json_object_set_new(out, "checkpoint",
                                json_pack("{s:s, s:I, s:s}", "broker", checkpoint.broker,
                                          "tree_size", (json_int_t) checkpoint.tree_size, "time",
                                          time));
            json_object_set(out, "entries", entries);
        } else {
            json_object_set_new(out, "error", json_string(why));
        }
        char *text = json_dumps(out, JSON_COMPACT);
        puts(text);
        free(text);
        json_decref(out);
    } else if (rc == FX_OK) {
        printf("receipt of %s verified: %zu entries in the audit tree of %s, checkpoint of "
               "tree size %llu signed %s\n",
               hex, json_array_size(entries), checkpoint.broker,
               (unsigned long long) checkpoint.tree_size, time);
        s_print_history(entries);
    } else {
        printf("receipt of %s does NOT verify: %s\n", hex, why);
    }
    status = rc == FX_OK ? FX_EXIT_OK : FX_EXIT_NO;
cleanup:
    json_decref(entries);
    free(bytes);
    fx_codec_free(frame);
    agent_session_close(&session);
    return status;
}

/* --- audit-consistency --------------------------------------------------------------------- */

/* The newest checkpoint kept in path that verifies with the broker key (the file holds lines of
 * "BODY_HEX SIGNATURE_HEX"). 1 found, 0 none, -1 a kept line that does not verify. */
static int s_newest_kept(const char *path, const uint8_t broker_key[FX_KEY_BYTES],
                         fx_audit_checkpoint_t *newest)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[2 * (FX_STORE_CHECKPOINT_BODY_MAX + FX_SIGNATURE_BYTES) + 8];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char *space = strchr(line, ' ');
        if (!space)
            continue;
        *space = '\0';
        uint8_t body[FX_STORE_CHECKPOINT_BODY_MAX], sig[FX_SIGNATURE_BYTES];
        size_t body_len = 0, sig_len = 0;
        fx_audit_checkpoint_t cp;
        if (sodium_hex2bin(body, sizeof body, line, strlen(line), NULL, &body_len, NULL) != 0 ||
            sodium_hex2bin(sig, sizeof sig, space + 1, strcspn(space + 1, "\n"), NULL, &sig_len,
                           NULL) != 0 ||
            fx_audit_checkpoint_verify(body, body_len, sig, sig_len, broker_key, &cp) != FX_OK) {
            found = -1;
            break;
        }
        if (!found || cp.tree_size >= newest->tree_size) {
            *newest = cp;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static int s_keep(const char *path, const Fusion__Checkpoint *cp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char body[2 * FX_STORE_CHECKPOINT_BODY_MAX + 1], sig[2 * FX_SIGNATURE_BYTES + 1];
    char line[sizeof body + sizeof sig + 2];
    int n = snprintf(line, sizeof line, "%s %s\n",
                     sodium_bin2hex(body, sizeof body, cp->body.data, cp->body.len),
                     sodium_bin2hex(sig, sizeof sig, cp->signature.data, cp->signature.len));
    int rc = write(fd, line, (size_t) n) == n && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    return rc;
}

/* Checks a pushed checkpoint against the latest one the broker proved: signed by the pinned
 * key, and its tree a prefix of the latest's (one more CONSISTENCY_REQUEST). */
static fx_err_t s_prove_prefix(agent_session_t *session, const fx_audit_checkpoint_t *old,
                               const fx_audit_checkpoint_t *latest, char *why, size_t why_size);

static fx_err_t s_check_pushed(agent_session_t *session, const Fusion__Checkpoint *pushed,
                               const fx_audit_checkpoint_t *latest, fx_audit_checkpoint_t *out,
                               char *why, size_t why_size)
{
    const uint8_t *key = fx_cert_sign_key(session->broker_cert);
    if (fx_audit_checkpoint_verify(pushed->body.data, pushed->body.len, pushed->signature.data,
                                   pushed->signature.len, key, out) != FX_OK) {
        snprintf(why, why_size, "the checkpoint the broker pushed does not verify with its key");
        return FX_ERR_BAD_SIGNATURE;
    }
    return s_prove_prefix(session, out, latest, why, why_size);
}

/* Asks for and checks a proof that the tree of old (a verified checkpoint) is a prefix of the
 * broker's latest, which must not be smaller than latest. */
static fx_err_t s_prove_prefix(agent_session_t *session, const fx_audit_checkpoint_t *old,
                               const fx_audit_checkpoint_t *latest, char *why, size_t why_size)
{
    const uint8_t *key = fx_cert_sign_key(session->broker_cert);
    const fx_audit_checkpoint_t *out = old;
    if (old->tree_size > latest->tree_size) {
        snprintf(why, why_size,
                 "the broker signed a tree of %llu entries before, but its latest has %llu: it "
                 "was rolled back",
                 (unsigned long long) old->tree_size, (unsigned long long) latest->tree_size);
        return FX_ERR_BAD_HASH;
    }
    Fusion__Frame *frame = NULL;
    fx_answer_t answer;
    fx_err_t rc = fx_client_consistency(session->client, out->tree_size, session->timeout_ms,
                                        &frame, &answer);
    fx_audit_checkpoint_t newest;
    if (rc != FX_OK)
        snprintf(why, why_size, "the broker gives no proof from its checkpoint of %llu entries: %s",
                 (unsigned long long) out->tree_size,
                 answer.refused ? answer.reason : fx_strerror(rc));
    else
        rc = fx_audit_consistency_verify(frame->consistency, out, key, &newest, why, why_size);
    if (rc == FX_OK && newest.tree_size < latest->tree_size) {
        snprintf(why, why_size, "the broker's tree shrank from %llu to %llu entries",
                 (unsigned long long) latest->tree_size, (unsigned long long) newest.tree_size);
        rc = FX_ERR_BAD_HASH;
    }
    fx_codec_free(frame);
    return rc;
}

void agent_keep_pushed_checkpoint(agent_session_t *session)
{
    Fusion__Frame *frame = NULL;
    const Fusion__Checkpoint *pushed = fx_client_pushed_checkpoint(session->client, &frame);
    fx_audit_checkpoint_t cp;
    if (pushed &&
        fx_audit_checkpoint_verify(pushed->body.data, pushed->body.len, pushed->signature.data,
                                   pushed->signature.len, fx_cert_sign_key(session->broker_cert),
                                   &cp) == FX_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", session->config->state, RECEIVED_FILE);
        if (s_keep(path, pushed) != 0)
            fx_cli_error(AGENT_PROG, "%s: cannot keep the broker's checkpoint in %s: %s",
                         session->command, path, strerror(errno));
    } else if (pushed) {
        fx_cli_error(AGENT_PROG,
                     "%s: the broker pushed a checkpoint that does not verify with "
                     "its key; not kept",
                     session->command);
    }
    fx_codec_free(frame);
}

/* Every checkpoint received while listening: each must be a prefix of the latest. *count_p gets
 * how many were proven. */
static fx_err_t s_check_received(agent_session_t *session, const char *path,
                                 const fx_audit_checkpoint_t *latest, size_t *count_p, char *why,
                                 size_t why_size)
{
    *count_p = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return FX_OK;
    char line[2 * (FX_STORE_CHECKPOINT_BODY_MAX + FX_SIGNATURE_BYTES) + 8];
    fx_err_t rc = FX_OK;
    while (rc == FX_OK && fgets(line, sizeof line, f)) {
        char *space = strchr(line, ' ');
        uint8_t body[FX_STORE_CHECKPOINT_BODY_MAX], sig[FX_SIGNATURE_BYTES];
        size_t body_len = 0, sig_len = 0;
        fx_audit_checkpoint_t cp;
        if (space)
            *space = '\0';
        if (!space ||
            sodium_hex2bin(body, sizeof body, line, strlen(line), NULL, &body_len, NULL) != 0 ||
            sodium_hex2bin(sig, sizeof sig, space + 1, strcspn(space + 1, "\n"), NULL, &sig_len,
                           NULL) != 0 ||
            fx_audit_checkpoint_verify(body, body_len, sig, sig_len,
                                       fx_cert_sign_key(session->broker_cert), &cp) != FX_OK) {
            snprintf(why, why_size, "a checkpoint received while listening (%s) does not verify",
                     RECEIVED_FILE);
            rc = FX_ERR_BAD_SIGNATURE;
            break;
        }
        rc = s_prove_prefix(session, &cp, latest, why, why_size);
        if (rc == FX_OK)
            (*count_p)++;
    }
    fclose(f);
    return rc;
}

int agent_audit_consistency(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000, json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'c')
            config = optarg;
        else if (opt == 't') {
            if (agent_parse_seconds("audit-consistency", "--timeout", optarg, &timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'j')
            json = 1;
        else if (opt == 'h') {
            s_consistency_help();
            return FX_EXIT_OK;
        } else {
            fx_cli_error(AGENT_PROG,
                         "audit-consistency: unknown or incomplete option '%s' (try --help)",
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "audit-consistency: takes no arguments (try --help)");
        return FX_EXIT_USAGE;
    }
    /* Connected after the local check of what it kept: a refusal there opens no connection. */
    agent_session_t session;
    int status = agent_session_open_unconnected(&session, "audit-consistency",
                                                agent_config_path(config), timeout_ms);
    Fusion__Frame *frame = NULL;
    char path[4096];
    if (status != FX_EXIT_OK)
        goto cleanup;
    const uint8_t *key = fx_cert_sign_key(session.broker_cert);
    snprintf(path, sizeof path, "%s/%s", session.config->state, KEPT_FILE);
    fx_audit_checkpoint_t kept = {.tree_size = 0};
    int have = s_newest_kept(path, key, &kept);
    if (have < 0) {
        fx_cli_error(AGENT_PROG,
                     "audit-consistency: %s holds a checkpoint that does not verify with the "
                     "broker's key",
                     path);
        status = FX_EXIT_NO;
        goto cleanup;
    }
    fx_err_t rc = agent_session_connect(&session);
    if (rc != FX_OK) {
        status = fx_err_exit(rc);
        goto cleanup;
    }
    fx_answer_t answer;
    rc = fx_client_consistency(session.client, kept.tree_size, timeout_ms, &frame, &answer);
    if (rc == FX_ERR_UNAVAILABLE && !answer.refused) {
        status = agent_session_unreachable(&session);
        goto cleanup;
    }
    char why[FX_CLIENT_REASON_MAX + 128];
    fx_audit_checkpoint_t latest = {.tree_size = 0};
    if (rc != FX_OK) {
        /* A broker whose latest tree is smaller than one it signed refuses the request. */
        snprintf(why, sizeof why, "the broker gives no proof from tree size %llu: %s",
                 (unsigned long long) kept.tree_size,
                 answer.refused ? answer.reason : fx_strerror(rc));
    } else {
        rc = fx_audit_consistency_verify(frame->consistency, &kept, key, &latest, why, sizeof why);
    }
    /* The checkpoint the broker pushed when this auditor connected must belong to the same
     * history: a broker that shows auditors one tree and proves another is caught here. */
    Fusion__Frame *pushed_frame = NULL;
    const Fusion__Checkpoint *pushed = fx_client_pushed_checkpoint(session.client, &pushed_frame);
    fx_audit_checkpoint_t pushed_cp = {.tree_size = 0};
    if (rc == FX_OK && pushed)
        rc = s_check_pushed(&session, pushed, &latest, &pushed_cp, why, sizeof why);
    fx_codec_free(pushed_frame);
    char received_path[4096];
    size_t received = 0;
    snprintf(received_path, sizeof received_path, "%s/%s", session.config->state, RECEIVED_FILE);
    if (rc == FX_OK)
        rc = s_check_received(&session, received_path, &latest, &received, why, sizeof why);
    if (rc == FX_OK && received > 0 && truncate(received_path, 0) != 0) {
        fx_cli_error(AGENT_PROG, "audit-consistency: cannot empty %s: %s", received_path,
                     strerror(errno));
        status = FX_EXIT_SYSTEM;
        goto cleanup;
    }
    if (rc == FX_OK && latest.tree_size != kept.tree_size &&
        s_keep(path, frame->consistency->checkpoint) != 0) {
        fx_cli_error(AGENT_PROG, "audit-consistency: cannot write %s: %s", path, strerror(errno));
        status = FX_EXIT_SYSTEM;
        goto cleanup;
    }
    char old_time[FX_TIME_BUFSIZE], new_time[FX_TIME_BUFSIZE];
    fx_time_format((int64_t) kept.time_ms, old_time);
    fx_time_format((int64_t) latest.time_ms, new_time);
    if (json) {
        json_t *out =
            json_pack("{s:b, s:I, s:I}", "consistent", rc == FX_OK, "kept_tree_size",
                      (json_int_t) kept.tree_size, "tree_size", (json_int_t) latest.tree_size);
        if (rc != FX_OK)
            json_object_set_new(out, "error", json_string(why));
        char *text = json_dumps(out, JSON_COMPACT);
        puts(text);
        free(text);
        json_decref(out);
    } else if (rc != FX_OK) {
        printf("the broker's audit trail is NOT consistent with what it signed before: %s\n", why);
    } else if (!have) {
        if (received)
            printf("%zu checkpoints received while listening are part of the same history\n",
                   received);
        if (pushed_cp.tree_size)
            printf("the checkpoint pushed on connecting (tree size %llu) is part of the same "
                   "history\n",
                   (unsigned long long) pushed_cp.tree_size);
        printf("kept the broker's checkpoint of tree size %llu signed %s (the first: nothing "
               "to compare yet)\n",
               (unsigned long long) latest.tree_size, new_time);
    } else {
        if (received)
            printf("%zu checkpoints received while listening are part of the same history\n",
                   received);
        if (pushed_cp.tree_size)
            printf("the checkpoint pushed on connecting (tree size %llu) is part of the same "
                   "history\n",
                   (unsigned long long) pushed_cp.tree_size);
        printf("consistent: the tree of %llu entries signed %s is a prefix of the broker's tree "
               "of %llu entries signed %s\n",
               (unsigned long long) kept.tree_size, old_time, (unsigned long long) latest.tree_size,
               new_time);
    }
    status = rc == FX_OK ? FX_EXIT_OK : FX_EXIT_NO;
cleanup:
    fx_codec_free(frame);
    agent_session_close(&session);
    return status;
}
