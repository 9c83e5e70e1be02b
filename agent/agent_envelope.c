/* fusion-agent seal and open: offline tools that seal a message for recipients whose certificates
 * are in a region's directory, and verify and open a sealed message as one of its recipients.
 * Nothing here talks to a broker; the README demo and the integration tests use them. */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/content.h"
#include "fusion/directory.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/route.h"
#include "fusion/util.h"
#include "fusion/vocab.h"

#define MAX_LIST_TEXT 512

/* ------------------------------------------------------------------------------------------ */
/* Shared: the trusted directory, the key file, printing */

/* Where certificates come from: a region, or an authority key file and a certificate folder. */
typedef struct {
    const char *region;
    const char *authority;
    const char *directory;
} trust_t;

static char *s_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = fx_malloc(len);
    snprintf(path, len, "%s/%s", dir, name);
    return path;
}

/* Loads the directory the options name (FUSION_REGION when none), verified against the pinned
 * authority key. Returns an exit code. */
static int s_load_directory(const char *cmd, trust_t trust, fx_directory_t **dir_p)
{
    *dir_p = NULL;
    if (!trust.region && !trust.authority && !trust.directory) {
        const char *env = getenv("FUSION_REGION");
        trust.region = env && *env ? env : NULL;
    }
    if (trust.region && (trust.authority || trust.directory)) {
        fx_cli_error(AGENT_PROG, "%s: give either --region or --authority with --directory", cmd);
        return FX_EXIT_USAGE;
    }
    if (!trust.region && (!trust.authority || !trust.directory)) {
        fx_cli_error(AGENT_PROG,
                     "%s: no directory of certificates: use --region REGION (or set "
                     "FUSION_REGION), or --authority FILE with --directory DIR",
                     cmd);
        return FX_EXIT_USAGE;
    }
    char *authority_path =
        trust.region ? s_join(trust.region, "authority.pub") : fx_strdup(trust.authority);
    const char *source = trust.region ? trust.region : trust.directory;
    uint8_t authority[FX_KEY_BYTES];
    int status = FX_EXIT_OK;
    fx_err_t rc = fx_authority_key_load(authority_path, authority);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: %s", cmd, authority_path,
                     rc == FX_ERR_NOT_FOUND ? "no authority key file here"
                                            : fx_authority_key_strerror(authority_path, rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    rc = fx_directory_load(source, authority, fx_now_ms(), dir_p);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: cannot load the directory: %s", cmd, source,
                     fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    for (size_t i = 0; i < fx_directory_problem_count(*dir_p); i++) {
        const char *file = NULL, *detail = NULL;
        (void) fx_directory_problem(*dir_p, i, &file, &detail);
        fx_cli_error(AGENT_PROG, "%s: warning: %s skipped: %s", cmd, file ? file : "?",
                     detail ? detail : "");
    }
cleanup:
    free(authority_path);
    return status;
}

static int s_load_keys(const char *cmd, const char *path, fx_keys_t **keys_p)
{
    if (!path) {
        fx_cli_error(AGENT_PROG, "%s: give your secret key file with --key FILE", cmd);
        return FX_EXIT_USAGE;
    }
    fx_err_t rc = fx_keys_load(path, keys_p);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: %s", cmd, path,
                     rc == FX_ERR_NOT_FOUND          ? "no such key file"
                     : rc == FX_ERR_IO && errno != 0 ? strerror(errno)
                                                     : fx_strerror(rc));
        return fx_err_exit(rc);
    }
    return FX_EXIT_OK;
}

/* The words of a mask of one enumeration, comma-separated. */
static void s_mask_text(fx_vocab_t vocab, uint32_t mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 1; v < fx_vocab_size(vocab) && used < size; v++)
        if (mask & (1u << v))
            used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? "," : "",
                                      fx_vocab_name(vocab, v));
}

static const char *s_word(fx_vocab_t vocab, int value)
{
    const char *word = fx_vocab_name(vocab, value);
    return word ? word : "-";
}

/* Parses one word of an enumeration for option, or explains what was expected. */
static int s_parse_word(const char *cmd, const char *option, fx_vocab_t vocab, const char *text,
                        int *value_p)
{
    int value = fx_vocab_parse(vocab, text);
    if (value < 0) {
        char list[MAX_LIST_TEXT];
        fx_vocab_list(vocab, list, sizeof list);
        fx_cli_error(AGENT_PROG, "%s: %s: unknown %s '%s'; expected one of: %s", cmd, option,
                     fx_vocab_title(vocab), text, list);
        return FX_EXIT_USAGE;
    }
    *value_p = value;
    return FX_EXIT_OK;
}

static int s_parse_mask(const char *cmd, const char *option, fx_vocab_t vocab, const char *text,
                        uint32_t *mask_p)
{
    char bad[64];
    if (fx_vocab_parse_mask(vocab, text, mask_p, bad, sizeof bad) != 0) {
        char list[MAX_LIST_TEXT];
        fx_vocab_list(vocab, list, sizeof list);
        fx_cli_error(AGENT_PROG, "%s: %s: unknown %s '%s'; expected one of: %s", cmd, option,
                     fx_vocab_title(vocab), bad, list);
        return FX_EXIT_USAGE;
    }
    return FX_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* seal */

static void s_seal_help(void)
{
    printf(
        "Usage: %s seal --key KEYFILE --region REGION --kind KIND --to ID[,ID...]\n"
        "                    --section SPEC [--section SPEC ...] [HEADER OPTIONS] --out MSGFILE\n\n"
        "Seals a message offline: each section is encrypted under a fresh key, the key is sealed\n"
        "to each of the section's recipients using their certificates from the directory, and\n"
        "the header (metadata only; never content, never recipients) is signed with your key.\n"
        "Nothing is sent; 'open' reads the file on the recipient's side.\n\n"
        "Options:\n"
        "  --key FILE           your secret key file (from 'keygen'; mode 0600)\n"
        "  --region REGION      the region whose authority.pub and directory/ to trust\n"
        "                       (default: $FUSION_REGION)\n"
        "  --authority FILE     instead of --region: the authority's public key file ...\n"
        "  --directory DIR      ... and the folder of certificates (with revocations.crl)\n"
        "  --kind KIND          case_alert, referral, referral_response, notice, ...\n"
        "  --to ID[,ID...]      recipients of every section that has no 'to=' of its own: a\n"
        "                       principal id (THA.RTP.fp1) or an agency (THA.RTP: each of its\n"
        "                       principals with a valid certificate)\n"
        "  --section SPEC       a section, as 'key=value' pairs separated by ';':\n"
        "                         tlp=clear|green|amber|amber_strict|red   (required)\n"
        "                         categories=operational,location,...       (labels; required\n"
        "                           unless content= implies them; never fewer than it implies)\n"
        "                         file=PATH       the section is the text of this file\n"
        "                         text=TEXT       the section is this text\n"
        "                         content=PATH    an encoded SectionContent (case alert, ...)\n"
        "                         to=ID,ID        this section's recipients instead of --to\n"
        "                         id=N            section id 1..255 (default: its position)\n"
        "                       Up to %d sections.\n"
        "  --out MSGFILE        where to write the sealed message ('-' for standard output);\n"
        "                       a regular file there is replaced, anything else is refused\n\n"
        "Header options (metadata the broker checks the sharing policy against):\n"
        "  --audience A         direct (default), taskforce, route, focal_points\n"
        "  --urgency U          urgent or normal\n"
        "  --handling H[,H]     crime_prevention_only, no_judicial_use_without_consent,\n"
        "                       no_onward_sharing_without_consent\n"
        "  --route ROUTE        a migration route, e.g. MMR>THA:MST>MYS (audience route\n"
        "                       needs one)\n"
        "  --stage S            pre_travel, at_border, post_arrival\n"
        "  --purpose P          prevention, border_screening, victim_protection, ...\n"
        "  --subject-role R     victim, suspect, witness, at_risk_migrant, unknown\n"
        "  --consent            the subject's consent is recorded\n"
        "  --taskforce ID       the taskforce, with --audience taskforce only (which needs it)\n"
        "  --agreement ID  --exercise ID  --case-ref TEXT\n"
        "  --in-reply-to MSGID  the msg_id (32 hex digits) this message answers\n"
        "  --expires WHEN       a duration from now (30m, 72h, 7d) or a date or RFC 3339\n"
        "                       time (default 7d)\n"
        "  -h, --help           this help\n",
        AGENT_PROG, FX_ENVELOPE_MAX_SECTIONS);
    fx_cli_print_exit_codes();
}

typedef struct {
    uint32_t id;
    int tlp;
    uint32_t categories;
    int labelled;
    uint8_t *plain;
    size_t plain_len;
    uint32_t implied; /* the categories the content implies */
    char *to;         /* this section's own recipients, or NULL */
    fx_recipient_t *recipients;
    size_t n_recipients;
} section_spec_t;

static int s_utf8_text(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > len || c == 0)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

/* A section whose content is free text. */
static int s_text_section(const char *cmd, const char *what, const uint8_t *text, size_t len,
                          section_spec_t *s)
{
    if (!s_utf8_text(text, len)) {
        fx_cli_error(AGENT_PROG, "%s: %s is not UTF-8 text (use content= for an encoded content)",
                     cmd, what);
        return FX_EXIT_USAGE;
    }
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    content.text = fx_strndup((const char *) text, len);
    fx_content_encode(&content, &s->plain, &s->plain_len);
    s->implied = fx_content_categories(&content, fx_now_ms());
    sodium_memzero(content.text, len);
    free(content.text);
    return FX_EXIT_OK;
}

static int s_read_section_file(const char *cmd, const char *path, int encoded, section_spec_t *s)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, FX_MAX_CONTENT_BYTES, &data, &len);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "%s: %s: %s", cmd, path,
                     rc == FX_ERR_NOT_FOUND ? "no such file" : fx_strerror(rc));
        return fx_err_exit(rc);
    }
    int status = FX_EXIT_OK;
    if (!encoded) {
        status = s_text_section(cmd, path, data, len, s);
    } else {
        Fusion__SectionContent *content = NULL;
        rc = fx_content_decode(data, len, &content);
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG, "%s: %s: not a section content: %s", cmd, path,
                         fx_strerror(rc));
            status = fx_err_exit(rc);
        } else {
            s->implied = fx_content_categories(content, fx_now_ms());
            s->plain = data;
            s->plain_len = len;
            data = NULL;
        }
        fx_content_free(&content);
    }
    if (data)
        sodium_memzero(data, len);
    free(data);
    return status;
}

/* Parses "tlp=amber;categories=operational;file=PATH;to=ID". */
static int s_parse_section(const char *cmd, const char *spec, uint32_t position, section_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->id = position;
    char *copy = fx_strdup(spec), *save = NULL;
    int status = FX_EXIT_OK, sources = 0;
    for (char *item = strtok_r(copy, ";", &save); item && status == FX_EXIT_OK;
         item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            fx_cli_error(AGENT_PROG, "%s: --section '%s': '%s' is not key=value", cmd, spec, item);
            status = FX_EXIT_USAGE;
            break;
        }
        *eq = '\0';
        const char *key = item, *value = eq + 1;
        if (strcmp(key, "tlp") == 0) {
            status = s_parse_word(cmd, "--section tlp", FX_VOCAB_TLP, value, &s->tlp);
        } else if (strcmp(key, "categories") == 0) {
            status =
                s_parse_mask(cmd, "--section categories", FX_VOCAB_CATEGORY, value, &s->categories);
            s->labelled = 1;
        } else if (strcmp(key, "file") == 0 || strcmp(key, "content") == 0) {
            sources++;
            if (sources == 1)
                status = s_read_section_file(cmd, value, key[0] == 'c', s);
        } else if (strcmp(key, "text") == 0) {
            sources++;
            if (sources == 1)
                status = s_text_section(cmd, "text=", (const uint8_t *) value, strlen(value), s);
        } else if (strcmp(key, "to") == 0) {
            free(s->to);
            s->to = fx_strdup(value);
        } else if (strcmp(key, "id") == 0) {
            char *end = NULL;
            unsigned long id = strtoul(value, &end, 10);
            if (!*value || *end || id < 1 || id > FX_SECTION_ID_MAX) {
                fx_cli_error(AGENT_PROG, "%s: --section '%s': id must be 1..%d", cmd, spec,
                             FX_SECTION_ID_MAX);
                status = FX_EXIT_USAGE;
            }
            s->id = (uint32_t) id;
        } else {
            fx_cli_error(AGENT_PROG,
                         "%s: --section '%s': unknown key '%s' (expected tlp, categories, file, "
                         "text, content, to, id)",
                         cmd, spec, key);
            status = FX_EXIT_USAGE;
        }
    }
    if (status == FX_EXIT_OK && !s->tlp) {
        fx_cli_error(AGENT_PROG, "%s: --section '%s': give its tlp (e.g. tlp=amber)", cmd, spec);
        status = FX_EXIT_USAGE;
    } else if (status == FX_EXIT_OK && sources != 1) {
        fx_cli_error(AGENT_PROG,
                     "%s: --section '%s': give exactly one of file=, text=, content=", cmd, spec);
        status = FX_EXIT_USAGE;
    } else if (status == FX_EXIT_OK && !s->labelled) {
        /* Without labels, take what the content implies; free text implies nothing. */
        s->categories = s->implied;
        if (!s->categories) {
            fx_cli_error(AGENT_PROG,
                         "%s: --section '%s': give its categories (e.g. "
                         "categories=operational,location)",
                         cmd, spec);
            status = FX_EXIT_USAGE;
        }
    }
    if (status == FX_EXIT_OK && (s->implied & ~s->categories)) {
        char missing[MAX_LIST_TEXT];
        s_mask_text(FX_VOCAB_CATEGORY, s->implied & ~s->categories, missing, sizeof missing);
        fx_cli_error(AGENT_PROG,
                     "%s: --section '%s': its content carries %s but the section is not "
                     "labelled so; add them to categories= (the broker relies on these labels)",
                     cmd, spec, missing);
        status = FX_EXIT_USAGE;
    }
    free(copy);
    return status;
}

static int s_add_recipient(const char *cmd, const fx_cert_t *cert, section_spec_t *s)
{
    for (size_t i = 0; i < s->n_recipients; i++)
        if (strcmp(s->recipients[i].id, fx_cert_id(cert)) == 0)
            return FX_EXIT_OK;
    if (s->n_recipients == FX_ENVELOPE_MAX_RECIPIENTS) {
        fx_cli_error(AGENT_PROG, "%s: section %u: more than %d recipients", cmd, s->id,
                     FX_ENVELOPE_MAX_RECIPIENTS);
        return FX_EXIT_USAGE;
    }
    s->recipients = fx_realloc(s->recipients, (s->n_recipients + 1) * sizeof *s->recipients);
    s->recipients[s->n_recipients++] = (fx_recipient_t){fx_cert_id(cert), fx_cert_box_key(cert)};
    return FX_EXIT_OK;
}

static fx_err_t s_status_error(fx_cert_status_t status)
{
    switch (status) {
    case FX_CERT_STATUS_REVOKED:
        return FX_ERR_REVOKED;
    case FX_CERT_STATUS_EXPIRED:
        return FX_ERR_CERT_EXPIRED;
    case FX_CERT_STATUS_NOT_YET_VALID:
        return FX_ERR_CERT_NOT_YET_VALID;
    case FX_CERT_STATUS_UNKNOWN:
        return FX_ERR_NOT_FOUND;
    default:
        return FX_OK;
    }
}

/* Resolves "ID,AGENCY,..." into certified recipients; only valid, unrevoked certificates. */
static int s_resolve(const char *cmd, const fx_directory_t *dir, const char *list,
                     section_spec_t *s)
{
    char *copy = fx_strdup(list), *save = NULL;
    int status = FX_EXIT_OK;
    for (char *id = strtok_r(copy, ",", &save); id && status == FX_EXIT_OK;
         id = strtok_r(NULL, ",", &save)) {
        if (fx_principal_id_valid(id)) {
            const fx_cert_t *cert = NULL;
            fx_cert_status_t st = fx_directory_status(dir, id, &cert);
            if (st != FX_CERT_STATUS_VALID) {
                fx_err_t rc = s_status_error(st);
                fx_cli_error(AGENT_PROG, "%s: recipient %s: %s", cmd, id,
                             st == FX_CERT_STATUS_UNKNOWN ? "no certificate in the directory"
                                                          : fx_strerror(rc));
                status = fx_err_exit(rc);
            } else {
                status = s_add_recipient(cmd, cert, s);
            }
            continue;
        }
        /* An agency: every principal of it with a valid certificate. */
        size_t found = 0;
        for (size_t i = 0; i < fx_directory_count(dir) && status == FX_EXIT_OK; i++) {
            const fx_cert_t *cert = fx_directory_at(dir, i);
            if (fx_directory_status_at(dir, i) == FX_CERT_STATUS_VALID &&
                strcmp(fx_cert_agency(cert), id) == 0) {
                status = s_add_recipient(cmd, cert, s);
                found++;
            }
        }
        if (status == FX_EXIT_OK && found == 0) {
            fx_cli_error(
                AGENT_PROG,
                "%s: recipient '%s' is neither an enrolled principal (COUNTRY.AGENCY.UNIT) "
                "nor an agency with a valid certificate in the directory",
                cmd, id);
            status = FX_EXIT_USAGE;
        }
    }
    free(copy);
    return status;
}

/* "30m", "72h", "7d" from now, or a date / RFC 3339 time. */
static int s_parse_expiry(const char *text, int64_t now, int64_t *at_p)
{
    char *end = NULL;
    long long n = strtoll(text, &end, 10);
    if (end != text && n > 0 && end[0] && !end[1] && n < 100000) {
        int64_t unit = end[0] == 'm'   ? 60000LL
                       : end[0] == 'h' ? 3600000LL
                       : end[0] == 'd' ? 86400000LL
                                       : 0;
        if (unit) {
            *at_p = now + n * unit;
            return 0;
        }
    }
    return fx_time_parse(text, at_p);
}

/* Header options; the strings point into argv. */
typedef struct {
    const char *kind, *urgency, *handling, *exercise, *route, *stage, *purpose, *subject_role;
    const char *audience, *taskforce, *agreement, *case_ref, *in_reply_to, *expires;
    int consent;
} header_opts_t;

/* Builds the header draft; *route_p keeps the normalised route alive. */
static int s_build_draft(const char *cmd, const header_opts_t *o, Fusion__Header *draft,
                         Fusion__Handling handling[3], uint8_t reply_to[FX_MSG_ID_BYTES],
                         fx_route_t **route_p)
{
    int value = 0, status;
    fusion__header__init(draft);
    if (!o->kind) {
        fx_cli_error(AGENT_PROG, "%s: give the message's --kind (e.g. --kind case_alert)", cmd);
        return FX_EXIT_USAGE;
    }
    if ((status = s_parse_word(cmd, "--kind", FX_VOCAB_KIND, o->kind, &value)))
        return status;
    draft->kind = (Fusion__Kind) value;
    if (o->urgency) {
        if ((status = s_parse_word(cmd, "--urgency", FX_VOCAB_URGENCY, o->urgency, &value)))
            return status;
        draft->urgency = (Fusion__Urgency) value;
    }
    if (o->handling) {
        uint32_t mask = 0;
        if ((status = s_parse_mask(cmd, "--handling", FX_VOCAB_HANDLING, o->handling, &mask)))
            return status;
        for (int v = 1; v < fx_vocab_size(FX_VOCAB_HANDLING) && draft->n_handling < 3; v++)
            if (mask & (1u << v))
                handling[draft->n_handling++] = (Fusion__Handling) v;
        draft->handling = handling;
    }
    if (o->stage) {
        if ((status = s_parse_word(cmd, "--stage", FX_VOCAB_STAGE, o->stage, &value)))
            return status;
        draft->stage = (Fusion__Stage) value;
    }
    if (o->purpose) {
        if ((status = s_parse_word(cmd, "--purpose", FX_VOCAB_PURPOSE, o->purpose, &value)))
            return status;
        draft->purpose = (Fusion__Purpose) value;
    }
    if (o->subject_role) {
        if ((status = s_parse_word(cmd, "--subject-role", FX_VOCAB_SUBJECT_ROLE, o->subject_role,
                                   &value)))
            return status;
        draft->subject_role = (Fusion__SubjectRole) value;
    }
    if ((status = s_parse_word(cmd, "--audience", FX_VOCAB_AUDIENCE,
                               o->audience ? o->audience : "direct", &value)))
        return status;
    draft->audience = (Fusion__Audience) value;
    /* The policy reads a taskforce only for audience taskforce (DESIGN.md, check 3): anywhere
     * else it would ride in the signed header and decide nothing. As alert, refer, can-share and
     * a draft say it. */
    int taskforce = o->taskforce && o->taskforce[0];
    if (taskforce && value != FX_AUDIENCE_TASKFORCE) {
        fx_cli_error(AGENT_PROG,
                     "%s: --taskforce is only for audience taskforce (its members receive the "
                     "message), but the audience is %s: pick one (--audience taskforce, or no "
                     "--taskforce)",
                     cmd, fx_vocab_name(FX_VOCAB_AUDIENCE, value));
        return FX_EXIT_USAGE;
    }
    if (!taskforce && value == FX_AUDIENCE_TASKFORCE) {
        fx_cli_error(AGENT_PROG, "%s: audience taskforce needs --taskforce ID", cmd);
        return FX_EXIT_USAGE;
    }
    if (o->route) {
        char why[FX_ROUTE_WHY_SIZE];
        if (fx_route_parse(o->route, route_p, why) != FX_OK) {
            fx_cli_error(AGENT_PROG, "%s: --route '%s': %s", cmd, o->route, why);
            return FX_EXIT_USAGE;
        }
        draft->route = (char *) fx_route_text(*route_p);
    } else if (value == FX_AUDIENCE_ROUTE) {
        /* As a draft says it: a route message reaches the route's followers. */
        fx_cli_error(AGENT_PROG, "%s: audience route needs --route ROUTE (e.g. MMR>THA>MYS)", cmd);
        return FX_EXIT_USAGE;
    }
    if (o->in_reply_to) {
        size_t bin_len = 0;
        const char *end = NULL;
        if (strlen(o->in_reply_to) != 2 * FX_MSG_ID_BYTES ||
            sodium_hex2bin(reply_to, FX_MSG_ID_BYTES, o->in_reply_to, 2 * FX_MSG_ID_BYTES, NULL,
                           &bin_len, &end) != 0 ||
            bin_len != FX_MSG_ID_BYTES) {
            fx_cli_error(AGENT_PROG, "%s: --in-reply-to: expected a msg_id of %d hex digits", cmd,
                         2 * FX_MSG_ID_BYTES);
            return FX_EXIT_USAGE;
        }
        draft->in_reply_to = (ProtobufCBinaryData){FX_MSG_ID_BYTES, reply_to};
    }
    int64_t now = fx_now_ms();
    draft->created_at = (uint64_t) now;
    if (o->expires) {
        int64_t at = 0;
        if (s_parse_expiry(o->expires, now, &at) != 0 || at <= now) {
            fx_cli_error(AGENT_PROG,
                         "%s: --expires '%s': expected a duration (30m, 72h, 7d) or a future "
                         "date or RFC 3339 time",
                         cmd, o->expires);
            return FX_EXIT_USAGE;
        }
        draft->expires_at = (uint64_t) at;
    }
    draft->consent = o->consent;
    draft->exercise = (char *) (o->exercise ? o->exercise : "");
    draft->taskforce = (char *) (o->taskforce ? o->taskforce : "");
    draft->agreement = (char *) (o->agreement ? o->agreement : "");
    draft->case_ref = (char *) (o->case_ref ? o->case_ref : "");
    return FX_EXIT_OK;
}

/* Checks the key file against the sender's own certificate, so that a message recipients would
 * reject is not sealed at all. */
static int s_check_sender(const char *cmd, const fx_directory_t *dir, const fx_keys_t *keys)
{
    const fx_cert_t *cert = NULL;
    fx_cert_status_t st = fx_directory_status(dir, fx_keys_id(keys), &cert);
    if (st != FX_CERT_STATUS_VALID) {
        fx_cli_error(AGENT_PROG,
                     "%s: warning: %s has no valid certificate in this directory (%s); recipients "
                     "will not be able to verify the message",
                     cmd, fx_keys_id(keys), fx_cert_status_name(st));
        return FX_EXIT_OK;
    }
    if (sodium_memcmp(fx_cert_sign_key(cert), fx_keys_sign_public(keys), FX_KEY_BYTES) != 0) {
        fx_cli_error(AGENT_PROG,
                     "%s: your key file does not hold the signing key certified for %s (keys "
                     "regenerated after enrolment?); recipients would reject the message",
                     cmd, fx_keys_id(keys));
        return FX_EXIT_REFUSED;
    }
    return FX_EXIT_OK;
}

int agent_seal(int argc, char **argv)
{
    enum {
        O_FIRST = 256,
        O_KEY = O_FIRST,
        O_REGION,
        O_AUTHORITY,
        O_DIRECTORY,
        O_KIND,
        O_TO,
        O_SECTION,
        O_OUT,
        O_URGENCY,
        O_HANDLING,
        O_EXERCISE,
        O_ROUTE,
        O_STAGE,
        O_PURPOSE,
        O_SUBJECT_ROLE,
        O_CONSENT,
        O_AUDIENCE,
        O_TASKFORCE,
        O_AGREEMENT,
        O_CASE_REF,
        O_IN_REPLY_TO,
        O_EXPIRES,
        O_END
    };
    static const struct option options[] = {
        {"key", required_argument, NULL, O_KEY},
        {"region", required_argument, NULL, O_REGION},
        {"authority", required_argument, NULL, O_AUTHORITY},
        {"directory", required_argument, NULL, O_DIRECTORY},
        {"kind", required_argument, NULL, O_KIND},
        {"to", required_argument, NULL, O_TO},
        {"section", required_argument, NULL, O_SECTION},
        {"out", required_argument, NULL, O_OUT},
        {"urgency", required_argument, NULL, O_URGENCY},
        {"handling", required_argument, NULL, O_HANDLING},
        {"exercise", required_argument, NULL, O_EXERCISE},
        {"route", required_argument, NULL, O_ROUTE},
        {"stage", required_argument, NULL, O_STAGE},
        {"purpose", required_argument, NULL, O_PURPOSE},
        {"subject-role", required_argument, NULL, O_SUBJECT_ROLE},
        {"consent", no_argument, NULL, O_CONSENT},
        {"audience", required_argument, NULL, O_AUDIENCE},
        {"taskforce", required_argument, NULL, O_TASKFORCE},
        {"agreement", required_argument, NULL, O_AGREEMENT},
        {"case-ref", required_argument, NULL, O_CASE_REF},
        {"in-reply-to", required_argument, NULL, O_IN_REPLY_TO},
        {"expires", required_argument, NULL, O_EXPIRES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "seal", *key_path = NULL, *to = NULL, *out = NULL;
    const char *specs[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_specs = 0;
    trust_t trust = {NULL, NULL, NULL};
    header_opts_t h = {0};
    int opt;
    opterr = 0;
    optind = 1;
    /* Every option but --consent, --section and --help just keeps its argument. */
    const char **keeps[] = {
        [O_KEY - O_FIRST] = &key_path,
        [O_REGION - O_FIRST] = &trust.region,
        [O_AUTHORITY - O_FIRST] = &trust.authority,
        [O_DIRECTORY - O_FIRST] = &trust.directory,
        [O_KIND - O_FIRST] = &h.kind,
        [O_TO - O_FIRST] = &to,
        [O_OUT - O_FIRST] = &out,
        [O_URGENCY - O_FIRST] = &h.urgency,
        [O_HANDLING - O_FIRST] = &h.handling,
        [O_EXERCISE - O_FIRST] = &h.exercise,
        [O_ROUTE - O_FIRST] = &h.route,
        [O_STAGE - O_FIRST] = &h.stage,
        [O_PURPOSE - O_FIRST] = &h.purpose,
        [O_SUBJECT_ROLE - O_FIRST] = &h.subject_role,
        [O_AUDIENCE - O_FIRST] = &h.audience,
        [O_TASKFORCE - O_FIRST] = &h.taskforce,
        [O_AGREEMENT - O_FIRST] = &h.agreement,
        [O_CASE_REF - O_FIRST] = &h.case_ref,
        [O_IN_REPLY_TO - O_FIRST] = &h.in_reply_to,
        [O_EXPIRES - O_FIRST] = &h.expires,
    };
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt >= O_FIRST && opt < O_END && keeps[opt - O_FIRST]) {
            *keeps[opt - O_FIRST] = optarg;
            continue;
        }
        switch (opt) {
        case O_CONSENT:
            h.consent = 1;
            break;
        case O_SECTION:
            if (n_specs == FX_ENVELOPE_MAX_SECTIONS) {
                fx_cli_error(AGENT_PROG, "seal: at most %d sections", FX_ENVELOPE_MAX_SECTIONS);
                return FX_EXIT_USAGE;
            }
            specs[n_specs++] = optarg;
            break;
        case 'h':
            s_seal_help();
            return FX_EXIT_OK;
        default:
            fx_cli_error(AGENT_PROG,
                         "seal: unknown or incomplete option '%s' (try '%s seal --help')",
                         argv[optind - 1], AGENT_PROG);
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG, "seal: unexpected argument '%s' (try '%s seal --help')",
                     argv[optind], AGENT_PROG);
        return FX_EXIT_USAGE;
    }
    if (n_specs == 0 || !out) {
        fx_cli_error(AGENT_PROG,
                     "seal: give at least one --section and the --out file (try '%s "
                     "seal --help')",
                     AGENT_PROG);
        return FX_EXIT_USAGE;
    }

    fx_keys_t *keys = NULL;
    fx_directory_t *dir = NULL;
    fx_route_t *route = NULL;
    fx_envelope_t *env = NULL;
    section_spec_t sections[FX_ENVELOPE_MAX_SECTIONS];
    fx_section_draft_t drafts[FX_ENVELOPE_MAX_SECTIONS];
    size_t n_sections = 0;
    uint8_t *data = NULL, reply_to[FX_MSG_ID_BYTES];
    size_t len = 0;
    Fusion__Header draft;
    Fusion__Handling handling[3];
    int status;
    fx_err_t rc;

    if ((status = s_build_draft(cmd, &h, &draft, handling, reply_to, &route)))
        goto cleanup;
    for (; n_sections < n_specs; n_sections++) {
        section_spec_t *s = &sections[n_sections];
        if ((status = s_parse_section(cmd, specs[n_sections], (uint32_t) n_sections + 1, s))) {
            n_sections++; /* partly filled: free it too */
            goto cleanup;
        }
        for (size_t j = 0; j < n_sections; j++)
            if (sections[j].id == s->id) {
                fx_cli_error(AGENT_PROG, "seal: two sections have id %u", s->id);
                status = FX_EXIT_USAGE;
                n_sections++;
                goto cleanup;
            }
        if (!s->to && !to) {
            fx_cli_error(AGENT_PROG, "seal: section %u has no recipients: give --to or to=", s->id);
            status = FX_EXIT_USAGE;
            n_sections++;
            goto cleanup;
        }
    }
    if ((status = s_load_keys(cmd, key_path, &keys)))
        goto cleanup;
    if ((status = s_load_directory(cmd, trust, &dir)))
        goto cleanup;
    if ((status = s_check_sender(cmd, dir, keys)))
        goto cleanup;
    for (size_t i = 0; i < n_sections; i++) {
        section_spec_t *s = &sections[i];
        if ((status = s_resolve(cmd, dir, s->to ? s->to : to, s)))
            goto cleanup;
        drafts[i] = (fx_section_draft_t){s->id,        s->tlp,        s->categories,  s->plain,
                                         s->plain_len, s->recipients, s->n_recipients};
    }
    rc = fx_envelope_seal(keys, &draft, drafts, n_sections, &env);
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "seal: cannot seal the message: %s", fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }
    fx_envelope_encode(env, &data, &len);
    if (strcmp(out, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            fx_cli_error(AGENT_PROG, "seal: cannot write to standard output");
            status = FX_EXIT_SYSTEM;
            goto cleanup;
        }
    } else if ((rc = fx_file_write(out, data, len, 0600, 0)) != FX_OK) {
        fx_cli_error(AGENT_PROG, "seal: %s: %s", out, fx_file_write_strerror(out, rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }

    FILE *report = strcmp(out, "-") == 0 ? stderr : stdout;
    char msg_id[2 * FX_MSG_ID_BYTES + 1], cats[MAX_LIST_TEXT];
    fx_hex(fx_envelope_msg_id(env), FX_MSG_ID_BYTES, msg_id);
    fprintf(report, "Sealed %s %s from %s (%zu bytes) into %s\n", s_word(FX_VOCAB_KIND, draft.kind),
            msg_id, fx_keys_id(keys), len, out);
    for (size_t i = 0; i < n_sections; i++) {
        s_mask_text(FX_VOCAB_CATEGORY, sections[i].categories, cats, sizeof cats);
        fprintf(report, "  section %u (tlp %s; %s) for", sections[i].id,
                s_word(FX_VOCAB_TLP, sections[i].tlp), cats);
        for (size_t r = 0; r < sections[i].n_recipients; r++)
            fprintf(report, "%s %s", r ? "," : "", sections[i].recipients[r].id);
        fputc('\n', report);
    }
cleanup:
    for (size_t i = 0; i < n_sections; i++) {
        if (sections[i].plain)
            sodium_memzero(sections[i].plain, sections[i].plain_len);
        free(sections[i].plain);
        free(sections[i].recipients);
        free(sections[i].to);
    }
    free(data);
    fx_envelope_destroy(&env);
    fx_route_destroy(&route);
    fx_directory_destroy(&dir);
    fx_keys_destroy(&keys);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* open */

static void s_open_help(void)
{
    printf("Usage: %s open --key KEYFILE --region REGION MSGFILE\n\n"
           "Verifies a sealed message and opens the sections addressed to you. The sender's\n"
           "certificate must be valid in the directory; the signature is checked over the exact\n"
           "header bytes and every section against its signed hash before anything is opened.\n"
           "Prints the verified sender and fingerprint, the header, each section you can open,\n"
           "and the sections that existed but were not given to you.\n\n"
           "Options:\n"
           "  --key FILE         your secret key file (mode 0600)\n"
           "  --region REGION    the region whose authority.pub and directory/ to trust\n"
           "                     (default: $FUSION_REGION)\n"
           "  --authority FILE   instead of --region: the authority's public key file ...\n"
           "  --directory DIR    ... and the folder of certificates (with revocations.crl)\n"
           "  -h, --help         this help\n\n"
           "MSGFILE may be '-' for standard input. Exit 3 when the message does not verify,\n"
           "nothing in it is addressed to you, or a section of yours was altered.\n",
           AGENT_PROG);
    fx_cli_print_exit_codes();
}

/* Prints untrusted text, indented, with control characters (terminal escapes) shown as \xNN. */
static void s_print_text(const char *label, const char *text)
{
    if (!text || !*text)
        return;
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        len--;
    if (len == 0)
        return;
    printf("    %s%s", label, *label ? ": " : "");
    const unsigned char *p = (const unsigned char *) text;
    for (const unsigned char *end = p + len; p < end; p++) {
        if (*p == '\n')
            printf("\n    %*s", *label ? (int) strlen(label) + 2 : 0, "");
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('\n');
}

static void s_print_persons(Fusion__Person **persons, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Fusion__Person *p = persons[i];
        char line[64];
        snprintf(line, sizeof line, "person %zu (%s)", i + 1,
                 s_word(FX_VOCAB_SUBJECT_ROLE, p->role));
        printf("    %s\n", line);
        s_print_text("  name", p->name);
        s_print_text("  date of birth", p->date_of_birth);
        if (p->age_given_case == FUSION__PERSON__AGE_GIVEN_AGE)
            printf("      age: %u\n", p->age);
        s_print_text("  nationality", p->nationality);
        s_print_text("  sex", p->sex);
        for (size_t k = 0; k < p->n_identifiers; k++)
            s_print_text("  identifier", p->identifiers[k]);
        if (p->biometric_ref.len)
            printf("      biometric reference: %zu bytes\n", p->biometric_ref.len);
        s_print_text("  health", p->health_notes);
    }
}

static void s_print_documents(Fusion__TravelDocument **docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_print_text("document", docs[i]->type);
        s_print_text("  number", docs[i]->number);
        s_print_text("  issued by", docs[i]->issuing_country);
        s_print_text("  expiry", docs[i]->expiry);
    }
}

static void s_print_grading(const Fusion__Grading *g)
{
    static const char *reliability = "?ABCX";
    if (g && (g->source_reliability || g->information_accuracy))
        printf("    grading: source %c, information %c\n",
               g->source_reliability <= 4 ? reliability[g->source_reliability] : '?',
               g->information_accuracy ? (char) ('0' + g->information_accuracy) : '?');
}

/* consent: the header's (signed; the policy decides on it). A referral's consent_recorded left
 * out (false) by an older agent never contradicts it (agent_listen.c). */
static void s_print_content(const Fusion__SectionContent *c, int consent)
{
    static const char *statuses[] = {"-",        "acknowledged", "accepted",
                                     "declined", "need_info",    "closed"};
    switch (c->body_case) {
    case FUSION__SECTION_CONTENT__BODY_TEXT:
        s_print_text("", c->text);
        break;
    case FUSION__SECTION_CONTENT__BODY_NOTICE:
        s_print_text("notice", c->notice->text);
        break;
    case FUSION__SECTION_CONTENT__BODY_CASE_ALERT: {
        const Fusion__CaseAlert *a = c->case_alert;
        printf("    case alert\n");
        s_print_text("summary", a->summary);
        s_print_text("modus operandi", a->modus_operandi);
        for (size_t i = 0; i < a->n_indicators; i++)
            s_print_text("indicator", a->indicators[i]);
        s_print_persons(a->persons, a->n_persons);
        s_print_documents(a->documents, a->n_documents);
        for (size_t i = 0; i < a->n_conveyances; i++) {
            s_print_text("conveyance", a->conveyances[i]->type);
            s_print_text("  identifier", a->conveyances[i]->identifier);
        }
        s_print_text("location", a->location);
        s_print_text("recommended action", a->recommended_action);
        s_print_text("intelligence source", a->intel_source);
        s_print_grading(a->grading);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL: {
        const Fusion__Referral *r = c->referral;
        printf("    referral\n");
        s_print_text("reason", r->reason);
        for (size_t i = 0; i < r->n_screening_indicators; i++)
            s_print_text("screening indicator", r->screening_indicators[i]);
        s_print_text("requested action", r->requested_action);
        if (r->reflection_period_days)
            printf("    reflection period: %u days\n", r->reflection_period_days);
        if (r->consent_recorded && !consent)
            printf("    consent recorded: yes in this referral, but not in the signed header (the "
                   "policy judged the message as sent without consent)\n");
        else
            printf("    consent recorded: %s\n", r->consent_recorded || consent ? "yes" : "no");
        s_print_persons(r->persons, r->n_persons);
        s_print_documents(r->documents, r->n_documents);
        s_print_text("location", r->location);
        s_print_grading(r->grading);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE: {
        const Fusion__ReferralResponse *r = c->referral_response;
        printf("    referral response: %s\n",
               r->status < sizeof statuses / sizeof statuses[0] ? statuses[r->status] : "?");
        s_print_text("reason", r->reason);
        s_print_text("outcome", r->outcome);
        break;
    }
    case FUSION__SECTION_CONTENT__BODY_ALERT_FEEDBACK:
        printf("    alert feedback\n");
        s_print_text("observation", c->alert_feedback->observation);
        s_print_text("location", c->alert_feedback->location);
        break;
    default:
        break;
    }
}

static void s_print_header(const fx_envelope_t *env, const fx_cert_t *sender)
{
    const Fusion__Header *h = fx_envelope_header(env);
    char msg_id[2 * FX_MSG_ID_BYTES + 1], fp[FX_FINGERPRINT_BUFSIZE], created[FX_TIME_BUFSIZE],
        expires[FX_TIME_BUFSIZE], words[MAX_LIST_TEXT];
    fx_hex(fx_envelope_msg_id(env), FX_MSG_ID_BYTES, msg_id);
    fx_cert_fingerprint(sender, fp);
    fx_time_format((int64_t) h->created_at, created);
    fx_time_format((int64_t) h->expires_at, expires);
    printf("Message %s: %s, %s\n", msg_id, s_word(FX_VOCAB_KIND, h->kind),
           h->urgency == FUSION__URGENCY__URGENCY_URGENT ? "urgent" : "normal");
    printf("From %s (%s), signature verified, key fingerprint %s\n", h->sender,
           fx_cert_agency(sender), fp);
    printf("Created %s, expires %s%s\n", created, expires,
           (int64_t) h->expires_at <= fx_now_ms() ? " (EXPIRED)" : "");
    printf("Audience %s", s_word(FX_VOCAB_AUDIENCE, h->audience));
    if (*h->route)
        printf(", route %s", h->route);
    if (h->stage)
        printf(", stage %s", s_word(FX_VOCAB_STAGE, h->stage));
    if (h->purpose)
        printf(", purpose %s", s_word(FX_VOCAB_PURPOSE, h->purpose));
    if (h->subject_role)
        printf(", subject %s", s_word(FX_VOCAB_SUBJECT_ROLE, h->subject_role));
    printf(", consent %s\n", h->consent ? "yes" : "no");
    uint32_t handling = 0;
    for (size_t i = 0; i < h->n_handling; i++)
        handling |= 1u << h->handling[i];
    if (handling) {
        s_mask_text(FX_VOCAB_HANDLING, handling, words, sizeof words);
        printf("Handling: %s\n", words);
    }
    /* Header strings come from the sender: printed with control characters escaped. */
    if (*h->taskforce || *h->agreement || *h->exercise || *h->case_ref || h->in_reply_to.len) {
        printf("Also:\n");
        s_print_text("taskforce", h->taskforce);
        s_print_text("agreement", h->agreement);
        s_print_text("exercise", h->exercise);
        s_print_text("case reference", h->case_ref);
        if (h->in_reply_to.len == FX_MSG_ID_BYTES) {
            char reply[2 * FX_MSG_ID_BYTES + 1];
            printf("    in reply to: %s\n", fx_hex(h->in_reply_to.data, FX_MSG_ID_BYTES, reply));
        }
    }
}

/* Opens and prints one section; returns its error (FX_ERR_NOT_RECIPIENT: not for us). */
static fx_err_t s_open_section(const fx_envelope_t *env, const fx_keys_t *keys,
                               const Fusion__SectionDescriptor *desc)
{
    char cats[MAX_LIST_TEXT];
    uint32_t labels = fx_envelope_section_categories(env, desc->id);
    s_mask_text(FX_VOCAB_CATEGORY, labels, cats, sizeof cats);
    printf("\nSection %u (tlp %s; %s)", desc->id, s_word(FX_VOCAB_TLP, desc->tlp), cats);
    uint8_t *plain = NULL;
    size_t len = 0;
    fx_err_t rc = fx_envelope_open(env, keys, desc->id, &plain, &len);
    if (rc == FX_ERR_NOT_RECIPIENT) {
        printf(": not given to you\n");
        return rc;
    }
    if (rc != FX_OK) {
        printf(": REFUSED: %s\n", fx_strerror(rc));
        return rc;
    }
    printf(":\n");
    Fusion__SectionContent *content = NULL;
    if (fx_content_decode(plain, len, &content) == FX_OK) {
        s_print_content(content, fx_envelope_header(env)->consent);
        uint32_t missing = fx_content_missing_labels(content, labels, fx_now_ms());
        if (missing) {
            s_mask_text(FX_VOCAB_CATEGORY, missing, cats, sizeof cats);
            printf("    WARNING: the content carries %s but the sender did not label the "
                   "section so\n",
                   cats);
        }
    } else {
        printf("    (%zu bytes that are not a Fusion section content)\n", len);
    }
    fx_content_free(&content);
    fx_plaintext_free(&plain, len);
    return FX_OK;
}

int agent_open(int argc, char **argv)
{
    enum { O_KEY = 256, O_REGION, O_AUTHORITY, O_DIRECTORY };
    static const struct option options[] = {
        {"key", required_argument, NULL, O_KEY},
        {"region", required_argument, NULL, O_REGION},
        {"authority", required_argument, NULL, O_AUTHORITY},
        {"directory", required_argument, NULL, O_DIRECTORY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "open", *key_path = NULL;
    trust_t trust = {NULL, NULL, NULL};
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case O_KEY:
            key_path = optarg;
            break;
        case O_REGION:
            trust.region = optarg;
            break;
        case O_AUTHORITY:
            trust.authority = optarg;
            break;
        case O_DIRECTORY:
            trust.directory = optarg;
            break;
        case 'h':
            s_open_help();
            return FX_EXIT_OK;
        default:
            fx_cli_error(AGENT_PROG,
                         "open: unknown or incomplete option '%s' (try '%s open --help')",
                         argv[optind - 1], AGENT_PROG);
            return FX_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(AGENT_PROG, "open: give exactly one message file (try '%s open --help')",
                     AGENT_PROG);
        return FX_EXIT_USAGE;
    }
    const char *path = argv[optind];
    fx_keys_t *keys = NULL;
    fx_directory_t *dir = NULL;
    fx_envelope_t *env = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int status;
    fx_err_t rc;
    if ((status = s_load_keys(cmd, key_path, &keys)))
        goto cleanup;
    if ((status = s_load_directory(cmd, trust, &dir)))
        goto cleanup;
    if ((rc = strcmp(path, "-") == 0
                  ? fx_stdin_read(FX_MAX_ENVELOPE_BYTES, &data, &len)
                  : fx_file_read(path, FX_MAX_ENVELOPE_BYTES, &data, &len)) != FX_OK ||
        (rc = fx_envelope_decode(data, len, &env)) != FX_OK) {
        fx_cli_error(AGENT_PROG, "open: %s: %s", path,
                     rc == FX_ERR_NOT_FOUND ? "no such file" : fx_strerror(rc));
        status = fx_err_exit(rc);
        goto cleanup;
    }

    /* The sender must hold a valid certificate from our authority, and have signed this. */
    const char *sender = fx_envelope_sender(env);
    const fx_cert_t *cert = NULL;
    fx_cert_status_t st = fx_directory_status(dir, sender, &cert);
    if (st != FX_CERT_STATUS_VALID) {
        rc = st == FX_CERT_STATUS_UNKNOWN ? FX_ERR_UNTRUSTED : s_status_error(st);
        fx_cli_error(AGENT_PROG, "open: %s: the sender %s %s; nothing was opened", path, sender,
                     st == FX_CERT_STATUS_UNKNOWN ? "has no certificate in the directory"
                     : st == FX_CERT_STATUS_REVOKED
                         ? "has been revoked"
                         : "holds a certificate outside its validity window");
        status = fx_err_exit(rc);
        goto cleanup;
    }
    if ((rc = fx_envelope_verify(env, sender, fx_cert_sign_key(cert))) != FX_OK) {
        fx_cli_error(AGENT_PROG, "open: %s: %s (claimed sender %s); nothing was opened", path,
                     fx_strerror(rc), sender);
        status = fx_err_exit(rc);
        goto cleanup;
    }
    int addressed = 0;
    for (size_t i = 0; i < fx_envelope_section_count(env) && !addressed; i++)
        addressed = fx_envelope_is_recipient(env, fx_envelope_section_id(env, i), fx_keys_id(keys));
    if (!addressed) {
        fx_cli_error(AGENT_PROG, "open: %s: signed by %s, but no section is addressed to %s", path,
                     sender, fx_keys_id(keys));
        status = fx_err_exit(FX_ERR_NOT_RECIPIENT);
        goto cleanup;
    }
    s_print_header(env, cert);

    /* Every section the signed header describes, in header order. */
    const Fusion__Header *h = fx_envelope_header(env);
    size_t opened = 0, refused = 0;
    for (size_t i = 0; i < h->n_sections; i++) {
        rc = s_open_section(env, keys, h->sections[i]);
        if (rc == FX_OK)
            opened++;
        else if (rc != FX_ERR_NOT_RECIPIENT)
            refused++;
    }
    if (opened + refused < h->n_sections) {
        printf("\nSections that exist but were not given to %s:", fx_keys_id(keys));
        for (size_t i = 0; i < h->n_sections; i++)
            if (!fx_envelope_is_recipient(env, h->sections[i]->id, fx_keys_id(keys)))
                printf(" %u", h->sections[i]->id);
        printf("\n");
    }
    if (refused) {
        fx_cli_error(AGENT_PROG, "open: %s: %zu section(s) addressed to you were altered", path,
                     refused);
        status = FX_EXIT_REFUSED;
    } else if (opened == 0) {
        fx_cli_error(AGENT_PROG, "open: %s: %s", path, fx_strerror(FX_ERR_NOT_RECIPIENT));
        status = fx_err_exit(FX_ERR_NOT_RECIPIENT);
    }
cleanup:
    fx_envelope_destroy(&env);
    free(data);
    fx_directory_destroy(&dir);
    fx_keys_destroy(&keys);
    return status;
}
