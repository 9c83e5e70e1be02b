/* rogue: a misbehaving client for the broker's integration tests. It connects without CURVE,
 * with a key nobody certified, or as a real principal, sends one hostile message, and prints the
 * broker's answer (or "no answer"). See --help. */
#include <czmq.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "fusion/codec.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/vocab.h"

static void s_help(void)
{
    printf("Usage: rogue --endpoint EP IDENTITY [--broker-cert FILE --authority FILE]\n"
           "             [--timeout MS] [--to KEYFILE] [--save FILE] ATTACK [ARG]\n\n"
           "Connects to a Fusion broker the way a hostile client would, sends one message and\n"
           "prints the broker's answer on one line:\n"
           "  ERROR <code>: <reason> | REJECTED <code> [<rule>]: <reason> | ACCEPTED <msg_id>\n"
           "  | DIRECTORY <n> certificates | REFERRALS <n> referrals, <m> marked with an\n"
           "  exercise | <other body> | undecodable answer (<n> bytes)\n"
           "  | no answer   (nothing within the timeout: refused handshake, dropped, silent)\n\n"
           "IDENTITY (one of):\n"
           "  --no-curve        a plain connection without CURVE\n"
           "  --unknown-key     CURVE with a fresh key pair that no authority certified\n"
           "  --key FILE        CURVE as the principal of that secret key file\n"
           "  --wrong-server-key  (with a CURVE identity) expect a server key that is not the\n"
           "                    broker's: the handshake cannot complete\n"
           "CURVE identities need the broker's key: --broker-cert FILE, verified against\n"
           "--authority FILE (authority.pub).\n\n"
           "ATTACK:\n"
           "  raw FILE          the bytes of FILE as one message\n"
           "  multipart FILE... the bytes of each FILE as one part of one message\n"
           "  sender ID         a well-formed PUBLISH whose header names principal ID as its\n"
           "                    sender (signed by a fresh key for ID): expect sender_mismatch\n"
           "  forged-signature  a PUBLISH from this principal whose signature was altered\n"
           "                    (under --msg-id HEX's msg_id, if given):\n"
           "                    expect bad_signature (needs --key)\n"
           "  oversized BYTES   one message of BYTES zero bytes (over the frame limit)\n"
           "  malformed         bytes that do not decode as a Frame: expect malformed\n"
           "  directory         a DIRECTORY_REQUEST (checks that the connection works)\n"
           "  explain RxS       an EXPLAIN query from this principal (needs --key) about R\n"
           "                    recipients of its agency that need not exist and S sections;\n"
           "                    an answer prints 'EXPLAINED <n> decisions (<bytes> bytes)'\n"
           "  prepare RxS[xL]   a PREPARE of a direct draft with S sections naming R principal\n"
           "                    ids of this principal's agency that need not exist (needs\n"
           "                    --key), each padded to L characters if given; an answer prints\n"
           "                    'PREPARED <s> sections, <a> allowed, <d> denied (<bytes> bytes)'\n"
           "  prepare-agency S  a PREPARE of a direct draft with S sections naming this\n"
           "                    principal's agency (every enrolled principal of it a candidate)\n"
           "  publish           a valid PUBLISH of one operational alert to --to KEYFILE's\n"
           "                    principal (its public half); --save FILE keeps the frame, so\n"
           "                    'raw FILE' replays it: expect the first answer again\n"
           "                    --created-offset MS moves created_at from now (negative: into\n"
           "                    the past), --expires-in MS sets expires_at that long after it\n"
           "                    --msg-id HEX (32 hex digits) publishes under that msg_id (the\n"
           "                    header re-signed; recipients cannot open its section)\n"
           "                    --pad BYTES makes its text that long (in sections of 3 MiB)\n"
           "                    --sections N gives it N sections (1..16), --also KEYFILE (up\n"
           "                    to 64 times) more recipients, each with a key to every section\n"
           "                    --focal-points gives it the audience focal_points (every focal\n"
           "                    point a candidate the broker decides), not direct\n"
           "  stale             the same, created an hour ago: expect stale\n"
           "  expired           the same, expired a minute ago: expect expired\n"
           "  hold SECONDS      opens a window of 1024 (CREDIT) and then reads nothing for\n"
           "                    SECONDS: a consumer that stopped draining its socket\n"
           "  drain SECONDS     opens a window, prints 'DELIVER <msg_id>' for each delivery,\n"
           "                    acknowledges none, re-sends CREDIT every second\n"
           "  window N SECONDS  the same with a window of N, acknowledging only the first\n"
           "                    delivery, 1.5 s after it came (so the deliveries in flight went\n"
           "                    out at different times); then prints 'UNACKNOWLEDGED <k>\n"
           "                    REPEATED <r>': the distinct msg_ids received and not\n"
           "                    acknowledged (at most N if the window holds) and how many\n"
           "                    deliveries came again\n\n"
           "  flip-each         for each byte of a valid signed envelope to --to KEYFILE, a fresh\n"
           "                    envelope with that byte inverted, published and answered in\n"
           "                    turn; prints 'FLIPS <n>: accepted <a>, rejected <r> (<code>\n"
           "                    <count> ...), errors <e>, no answer <x>' and, with --save FILE,\n"
           "                    writes the msg_ids of the accepted ones there\n"
           "  exercise-audit ID an EXERCISE_AUDIT_REQUEST for exercise ID; --save FILE keeps\n"
           "                    the frame (for 'flood N FILE')\n"
           "  flood N [FILE...] N frames at once without waiting (FILE's bytes, each FILE in\n"
           "                    turn when several, PUBLISHes to --to KEYFILE, or DIRECTORY\n"
           "                    requests), then every answer: prints\n"
           "                    'FLOOD <n>: accepted <a>, directory <d>, rate_limited <r>,\n"
           "                    other <o>, no answer <x>'\n\n"
           "  --timeout MS      how long to wait for the answer (default 2000)\n"
           "  --show-request-id prefix the answer with '[rid N] ', its request_id\n"
           "  --after FILE      connect, complete a DIRECTORY request, then wait until FILE\n"
           "                    exists before sending the attack (a principal revoked\n"
           "                    mid-session)\n\n"
           "Exit: 0 an answer came, 1 no answer, 2 usage or local error.\n");
}

/* Rewrites the PUBLISH frame in *data_p to carry msg_id (32 hex digits) instead of its own, the
 * header re-signed by from: another principal's msg_id under a message of one's own. The
 * sections stay sealed under the first msg_id (the broker checks their hashes, not their
 * associated data); with forge set, the signature is altered after. -1 for a bad msg_id. */
static int s_publish_msg_id(const fx_keys_t *from, const char *hex, int forge, uint8_t **data_p,
                            size_t *len_p)
{
    uint8_t id[FX_MSG_ID_BYTES];
    size_t id_len = 0;
    if (strlen(hex) != 2 * FX_MSG_ID_BYTES ||
        sodium_hex2bin(id, sizeof id, hex, strlen(hex), NULL, &id_len, NULL) != 0 ||
        id_len != sizeof id)
        return -1;
    Fusion__Frame *frame = NULL;
    Fusion__Header *header = NULL;
    if (fx_codec_decode(FX_MSG_FRAME, *data_p, *len_p, (void **) &frame) != FX_OK ||
        frame->body_case != FUSION__FRAME__BODY_PUBLISH || !frame->publish->envelope)
        return -1;
    Fusion__Envelope *env = frame->publish->envelope;
    if (fx_codec_decode(FX_MSG_HEADER, env->header.data, env->header.len, (void **) &header) !=
            FX_OK ||
        header->msg_id.len != FX_MSG_ID_BYTES) {
        fx_codec_free(frame);
        return -1;
    }
    memcpy(header->msg_id.data, id, sizeof id);
    uint8_t *header_bytes = NULL, signature[FX_SIGNATURE_BYTES];
    size_t header_len = 0;
    fx_codec_encode(header, &header_bytes, &header_len);
    fx_keys_sign(from, FX_DOMAIN_HEADER, header_bytes, header_len, signature);
    if (forge)
        signature[0] ^= 0x01;
    ProtobufCBinaryData old_header = env->header, old_signature = env->signature;
    env->header = (ProtobufCBinaryData){header_len, header_bytes};
    env->signature = (ProtobufCBinaryData){sizeof signature, signature};
    free(*data_p);
    fx_codec_encode(frame, data_p, len_p);
    env->header = old_header, env->signature = old_signature;
    free(header_bytes);
    fx_codec_free(header);
    fx_codec_free(frame);
    return 0;
}

#define PAD_SECTION_BYTES (3u << 20)
static size_t s_pad; /* --pad BYTES: the text of publish, instead of "rogue" */
#define ALSO_MAX 64
static fx_keys_t *s_also[ALSO_MAX]; /* --also KEYFILE: more recipients of publish */
static size_t s_n_also;
static size_t s_sections;  /* --sections N: publish's sections (0: one, or as --pad needs) */
static int s_focal_points; /* --focal-points: publish's audience is focal_points */

/* A PUBLISH frame around an envelope from `from` with one operational section for `to`; with
 * forge set, the signature is altered after sealing. created_at and expires_at: 0 for now and
 * the default lifetime. */
static int s_publish(const fx_keys_t *from, const fx_keys_t *to, int forge, int64_t created_at,
                     int64_t expires_at, uint8_t **data_p, size_t *len_p)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = s_focal_points ? FUSION__AUDIENCE__AUDIENCE_FOCAL_POINTS
                                    : FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    draft.created_at = (uint64_t) created_at;
    draft.expires_at = (uint64_t) expires_at;
    fx_recipient_t recipients[1 + ALSO_MAX];
    recipients[0] = (fx_recipient_t){fx_keys_id(to), fx_keys_box_public(to)};
    for (size_t i = 0; i < s_n_also; i++)
        recipients[1 + i] = (fx_recipient_t){fx_keys_id(s_also[i]), fx_keys_box_public(s_also[i])};
    /* --pad: that many bytes of text, in sections of at most PAD_SECTION_BYTES. */
    size_t n_sections = s_pad ? (s_pad + PAD_SECTION_BYTES - 1) / PAD_SECTION_BYTES : 1;
    if (s_sections && !s_pad)
        n_sections = s_sections;
    fx_section_draft_t sections[FX_ENVELOPE_MAX_SECTIONS];
    uint8_t *plains[FX_ENVELOPE_MAX_SECTIONS] = {NULL};
    if (n_sections > FX_ENVELOPE_MAX_SECTIONS)
        return -1;
    for (size_t i = 0; i < n_sections; i++) {
        size_t text_len = s_pad ? s_pad - i * PAD_SECTION_BYTES : 5;
        if (text_len > PAD_SECTION_BYTES)
            text_len = PAD_SECTION_BYTES;
        char *text = fx_malloc(text_len + 1);
        memset(text, 'x', text_len);
        text[text_len] = '\0';
        if (!s_pad)
            memcpy(text, "rogue", 5);
        Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
        content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
        content.text = text;
        size_t plain_len = 0;
        fx_codec_encode(&content, &plains[i], &plain_len);
        free(text);
        sections[i] = (fx_section_draft_t){
            (uint32_t) i + 1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, plains[i], plain_len,
            recipients,       1 + s_n_also};
    }
    fx_envelope_t *env = NULL;
    fx_err_t sealed = fx_envelope_seal(from, &draft, sections, n_sections, &env);
    for (size_t i = 0; i < n_sections; i++)
        free(plains[i]);
    if (sealed != FX_OK)
        return -1;
    uint8_t *bytes = NULL;
    size_t len = 0;
    fx_envelope_encode(env, &bytes, &len);
    fx_envelope_destroy(&env);
    Fusion__Envelope *msg = NULL;
    if (fx_codec_decode(FX_MSG_ENVELOPE, bytes, len, (void **) &msg) != FX_OK) {
        free(bytes);
        return -1;
    }
    free(bytes);
    if (forge)
        msg->signature.data[0] ^= 0x01;
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = msg;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = 1;
    frame.body_case = FUSION__FRAME__BODY_PUBLISH;
    frame.publish = &publish;
    fx_codec_encode(&frame, data_p, len_p);
    fx_codec_free(msg);
    return 0;
}

/* The agency of a principal id (COUNTRY.AGENCY.unit): its first two parts. */
static void s_agency(const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s", id);
    char *dot = strchr(out, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    if (dot)
        *dot = '\0';
}

/* An EXPLAIN frame: a query from `from` about n_recipients principals of its agency and
 * n_sections sections. */
static void s_explain(const fx_keys_t *from, long n_recipients, long n_sections, uint8_t **data_p,
                      size_t *len_p)
{
    char agency[FX_ID_MAX], country[8];
    s_agency(fx_keys_id(from), agency, sizeof agency);
    snprintf(country, sizeof country, "%.3s", agency);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    fprintf(out,
            "{\"sender\": {\"id\": \"%s\", \"country\": \"%s\", \"agency\": \"%s\", "
            "\"roles\": [\"police\"]}, \"recipients\": [",
            fx_keys_id(from), country, agency);
    for (long i = 0; i < n_recipients; i++)
        fprintf(out,
                "%s{\"id\": \"%s.r%ld\", \"country\": \"%s\", \"agency\": \"%s\", "
                "\"roles\": [\"police\"]}",
                i ? ", " : "", agency, i, country, agency);
    fprintf(out, "], \"message\": {\"kind\": \"case_alert\", \"audience\": \"direct\", "
                 "\"purpose\": \"investigation\", \"sections\": [");
    for (long i = 0; i < n_sections; i++)
        fprintf(out, "%s{\"id\": %ld, \"tlp\": \"green\", \"categories\": [\"operational\"]}",
                i ? ", " : "", i + 1);
    fprintf(out, "]}}");
    fclose(out);
    Fusion__Explain explain = FUSION__EXPLAIN__INIT;
    explain.query_json = text;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = 1;
    frame.body_case = FUSION__FRAME__BODY_EXPLAIN;
    frame.explain = &explain;
    fx_codec_encode(&frame, data_p, len_p);
    free(text);
}

/* A PREPARE frame: a direct draft with n_sections sections naming n_recipients principal ids of
 * from's agency, each padded with 'x' to length characters (0: as they come); n_recipients -1
 * names the agency itself. */
static void s_prepare(const fx_keys_t *from, long n_recipients, long n_sections, long length,
                      uint8_t **data_p, size_t *len_p)
{
    char agency[FX_ID_MAX];
    s_agency(fx_keys_id(from), agency, sizeof agency);
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    Fusion__Category operational = FUSION__CATEGORY__CATEGORY_OPERATIONAL;
    Fusion__SectionDescriptor *descs = calloc((size_t) n_sections, sizeof *descs);
    Fusion__SectionDescriptor **desc_ptrs = calloc((size_t) n_sections, sizeof *desc_ptrs);
    for (long i = 0; i < n_sections; i++) {
        fusion__section_descriptor__init(&descs[i]);
        descs[i].id = (uint32_t) (i + 1);
        descs[i].tlp = FUSION__TLP__TLP_GREEN;
        descs[i].n_categories = 1;
        descs[i].categories = &operational;
        desc_ptrs[i] = &descs[i];
    }
    draft.n_sections = (size_t) n_sections;
    draft.sections = desc_ptrs;
    bool whole_agency = n_recipients < 0;
    if (whole_agency)
        n_recipients = 1;
    char **names = calloc((size_t) n_recipients + 1, sizeof *names);
    for (long i = 0; i < n_recipients; i++) {
        if (whole_agency) {
            names[i] = strdup(agency);
            continue;
        }
        char name[FX_ID_MAX + 24];
        int n = snprintf(name, sizeof name, "%s.r%ld", agency, i);
        names[i] = calloc(1, (size_t) (length > n ? length : n) + 1);
        memcpy(names[i], name, (size_t) n);
        for (long k = n; k < length; k++)
            names[i][k] = 'x';
    }
    Fusion__Prepare prepare = FUSION__PREPARE__INIT;
    prepare.draft = &draft;
    prepare.n_recipients = (size_t) n_recipients;
    prepare.recipients = names;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = 1;
    frame.body_case = FUSION__FRAME__BODY_PREPARE;
    frame.prepare = &prepare;
    fx_codec_encode(&frame, data_p, len_p);
    for (long i = 0; i < n_recipients; i++)
        free(names[i]);
    free(names);
    free(desc_ptrs);
    free(descs);
}
static int s_show_rid; /* --show-request-id */

static void s_print_answer(const uint8_t *data, size_t len)
{
    Fusion__Frame *frame = NULL;
    if (fx_codec_decode(FX_MSG_FRAME, data, len, (void **) &frame) != FX_OK) {
        printf("undecodable answer (%zu bytes)\n", len);
        return;
    }
    if (s_show_rid)
        printf("[rid %llu] ", (unsigned long long) frame->request_id);
    char hex[2 * FX_MSG_ID_BYTES + 1] = "";
    switch (frame->body_case) {
    case FUSION__FRAME__BODY_ERROR:
        printf("ERROR %s: %s\n", frame->error->code, frame->error->reason);
        break;
    case FUSION__FRAME__BODY_REJECTED:
        printf("REJECTED %s%s%s%s: %s\n", frame->rejected->code,
               frame->rejected->rule[0] ? " [" : "", frame->rejected->rule,
               frame->rejected->rule[0] ? "]" : "", frame->rejected->reason);
        break;
    case FUSION__FRAME__BODY_ACCEPTED:
        if (frame->accepted->msg_id.len == FX_MSG_ID_BYTES)
            fx_hex(frame->accepted->msg_id.data, FX_MSG_ID_BYTES, hex);
        printf("ACCEPTED %s\n", hex);
        break;
    case FUSION__FRAME__BODY_DIRECTORY:
        printf("DIRECTORY %zu certificates\n", frame->directory->n_certificates);
        break;
    case FUSION__FRAME__BODY_EXPLAINED: {
        size_t decisions = 0;
        for (const char *p = frame->explained->answer_json; (p = strstr(p, "\"recipient\"")); p++)
            decisions++;
        printf("EXPLAINED %zu decisions (%zu bytes)\n", decisions, len);
        break;
    }
    case FUSION__FRAME__BODY_PREPARED: {
        size_t allowed = 0, denied = 0;
        for (size_t i = 0; i < frame->prepared->n_sections; i++) {
            allowed += frame->prepared->sections[i]->n_allowed;
            denied += frame->prepared->sections[i]->n_denied;
        }
        printf("PREPARED %zu sections, %zu allowed, %zu denied (%zu bytes)\n",
               frame->prepared->n_sections, allowed, denied, len);
        break;
    }
    case FUSION__FRAME__BODY_REFERRALS: {
        size_t marked = 0;
        for (size_t i = 0; i < frame->referrals->n_referrals; i++)
            marked += frame->referrals->referrals[i]->exercise[0] != '\0';
        printf("REFERRALS %zu referrals, %zu marked with an exercise\n",
               frame->referrals->n_referrals, marked);
        break;
    }
    default: {
        const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field(
            &fusion__frame__descriptor, (unsigned) frame->body_case);
        printf("%s\n", field ? field->name : "unknown answer");
    }
    }
    fx_codec_free(frame);
}

/* One answer within timeout_ms, decoded; NULL if none came or it does not decode. */
static Fusion__Frame *s_receive(zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new(sock, NULL);
    Fusion__Frame *frame = NULL;
    if (zpoller_wait(poller, timeout_ms) == sock) {
        zframe_t *in = zframe_recv(sock);
        if (in && fx_codec_decode(FX_MSG_FRAME, zframe_data(in), zframe_size(in),
                                  (void **) &frame) != FX_OK)
            frame = NULL;
        zframe_destroy(&in);
    }
    zpoller_destroy(&poller);
    return frame;
}

/* Counts of answer codes, for the summaries. */
typedef struct {
    char code[32];
    size_t count;
} tally_t;

static void s_tally(tally_t *tally, size_t max, const char *code)
{
    for (size_t i = 0; i < max; i++) {
        if (!tally[i].code[0])
            snprintf(tally[i].code, sizeof tally[i].code, "%s", code);
        if (strcmp(tally[i].code, code) == 0) {
            tally[i].count++;
            return;
        }
    }
}

/* flip-each: every byte of a fresh valid envelope inverted in turn, through the broker. */
static int s_flip_each(zsock_t *sock, const fx_keys_t *keys, const fx_keys_t *to, int timeout,
                       const char *save_path)
{
    FILE *save = save_path ? fopen(save_path, "w") : NULL;
    if (save_path && !save) {
        fprintf(stderr, "rogue: cannot write %s\n", save_path);
        return 2;
    }
    tally_t tally[16] = {{"", 0}};
    size_t accepted = 0, rejected = 0, errors = 0, silent = 0, positions = 0;
    for (size_t pos = 0;; pos++) {
        uint8_t *frame_bytes = NULL, *env_bytes = NULL;
        size_t frame_len = 0, env_len = 0;
        if (s_publish(keys, to, 0, 0, 0, &frame_bytes, &frame_len) != 0)
            return 2;
        Fusion__Frame *sent = NULL;
        if (fx_codec_decode(FX_MSG_FRAME, frame_bytes, frame_len, (void **) &sent) != FX_OK)
            return 2;
        fx_codec_encode(sent->publish->envelope, &env_bytes, &env_len);
        fx_codec_free(sent);
        uint8_t *at = memmem(frame_bytes, frame_len, env_bytes, env_len);
        free(env_bytes);
        if (!at || pos >= env_len) {
            free(frame_bytes);
            break;
        }
        at[pos] ^= 0xff;
        positions++;
        zframe_t *out = zframe_new(frame_bytes, frame_len);
        free(frame_bytes);
        zframe_send(&out, sock, 0);
        Fusion__Frame *answer = s_receive(sock, timeout);
        if (!answer) {
            silent++;
        } else if (answer->body_case == FUSION__FRAME__BODY_ACCEPTED) {
            accepted++;
            char hex[2 * FX_MSG_ID_BYTES + 1] = "";
            if (answer->accepted->msg_id.len == FX_MSG_ID_BYTES)
                fx_hex(answer->accepted->msg_id.data, FX_MSG_ID_BYTES, hex);
            if (save)
                fprintf(save, "%s %zu\n", hex, pos);
        } else if (answer->body_case == FUSION__FRAME__BODY_REJECTED) {
            rejected++;
            s_tally(tally, 16, answer->rejected->code);
        } else if (answer->body_case == FUSION__FRAME__BODY_ERROR) {
            errors++;
            s_tally(tally, 16, answer->error->code);
        } else {
            errors++;
            s_tally(tally, 16, "other");
        }
        fx_codec_free(answer);
    }
    if (save)
        fclose(save);
    printf("FLIPS %zu: accepted %zu, rejected %zu (", positions, accepted, rejected);
    for (size_t i = 0; i < 16 && tally[i].code[0]; i++)
        printf("%s%s %zu", i ? " " : "", tally[i].code, tally[i].count);
    printf("), errors %zu, no answer %zu\n", errors, silent);
    return 0;
}

#define FLOOD_FILES 16 /* flood N FILE...: at most this many files, sent in turn */

/* flood: n frames at once, then every answer. With files (n_raw of them), frame i is the bytes
 * of file i % n_raw. */
static int s_flood(zsock_t *sock, const fx_keys_t *keys, const fx_keys_t *to, size_t n, int timeout,
                   uint8_t *const *raws, const size_t *raw_lens, size_t n_raw)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        if (n_raw) {
            const uint8_t *raw = raws[i % n_raw];
            size_t raw_len = raw_lens[i % n_raw];
            data = fx_malloc(raw_len + 1);
            memcpy(data, raw, raw_len);
            len = raw_len;
        } else if (to) {
            if (s_publish(keys, to, 0, 0, 0, &data, &len) != 0)
                return 2;
        } else {
            Fusion__DirectoryRequest ask = FUSION__DIRECTORY_REQUEST__INIT;
            Fusion__Frame frame = FUSION__FRAME__INIT;
            frame.request_id = i + 1;
            frame.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
            frame.directory_request = &ask;
            fx_codec_encode(&frame, &data, &len);
        }
        zframe_t *out = zframe_new(data, len);
        free(data);
        zframe_send(&out, sock, 0);
    }
    size_t accepted = 0, directory = 0, limited = 0, other = 0, answered = 0;
    for (; answered < n; answered++) {
        Fusion__Frame *answer = s_receive(sock, timeout);
        if (!answer)
            break;
        const char *code = answer->body_case == FUSION__FRAME__BODY_REJECTED
                               ? answer->rejected->code
                           : answer->body_case == FUSION__FRAME__BODY_ERROR ? answer->error->code
                                                                            : "";
        if (answer->body_case == FUSION__FRAME__BODY_ACCEPTED)
            accepted++;
        else if (answer->body_case == FUSION__FRAME__BODY_DIRECTORY)
            directory++;
        else if (strcmp(code, "rate_limited") == 0)
            limited++;
        else
            other++;
        fx_codec_free(answer);
    }
    printf("FLOOD %zu: accepted %zu, directory %zu, rate_limited %zu, other %zu, no answer %zu\n",
           n, accepted, directory, limited, other, n - answered);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"broker-cert", required_argument, NULL, 'b'},
        {"authority", required_argument, NULL, 'a'},
        {"key", required_argument, NULL, 'k'},
        {"no-curve", no_argument, NULL, 'n'},
        {"unknown-key", no_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},
        {"to", required_argument, NULL, 'T'},
        {"save", required_argument, NULL, 'S'},
        {"wrong-server-key", no_argument, NULL, 'W'},
        {"created-offset", required_argument, NULL, 'C'},
        {"expires-in", required_argument, NULL, 'E'},
        {"msg-id", required_argument, NULL, 'M'},
        {"pad", required_argument, NULL, 'P'},
        {"sections", required_argument, NULL, 'N'},
        {"also", required_argument, NULL, 'L'},
        {"focal-points", no_argument, NULL, 'F'},
        {"show-request-id", no_argument, NULL, 'R'},
        {"after", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    fx_init();
    const char *endpoint = NULL, *cert_path = NULL, *authority_path = NULL, *key_path = NULL;
    const char *to_path = NULL, *save_path = NULL, *msg_id_hex = NULL, *after_path = NULL;
    zmsg_t *parts = NULL; /* the multipart attack's message */
    int no_curve = 0, unknown = 0, timeout = 2000, opt;
    long hold_seconds = 0;
    int drain = 0, wrong_server_key = 0, flip_each = 0;
    uint32_t window = 0; /* the window attack's */
    long flood = 0;
    uint8_t *flood_raws[FLOOD_FILES] = {NULL}; /* flood N FILE...: the files' bytes */
    size_t flood_lens[FLOOD_FILES] = {0}, flood_files = 0;
    long long created_offset = 0, expires_in = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'e':
            endpoint = optarg;
            break;
        case 'b':
            cert_path = optarg;
            break;
        case 'a':
            authority_path = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'n':
            no_curve = 1;
            break;
        case 'u':
            unknown = 1;
            break;
        case 't':
            timeout = atoi(optarg);
            break;
        case 'T':
            to_path = optarg;
            break;
        case 'S':
            save_path = optarg;
            break;
        case 'W':
            wrong_server_key = 1;
            break;
        case 'C':
            created_offset = atoll(optarg);
            break;
        case 'E':
            expires_in = atoll(optarg);
            break;
        case 'M':
            msg_id_hex = optarg;
            break;
        case 'P':
            s_pad = (size_t) strtoull(optarg, NULL, 10);
            break;
        case 'N':
            s_sections = (size_t) strtoull(optarg, NULL, 10);
            if (s_sections < 1 || s_sections > FX_ENVELOPE_MAX_SECTIONS) {
                fprintf(stderr, "rogue: --sections wants 1..%d\n", FX_ENVELOPE_MAX_SECTIONS);
                return 2;
            }
            break;
        case 'L':
            if (s_n_also == ALSO_MAX || fx_keys_load(optarg, &s_also[s_n_also]) != FX_OK) {
                fprintf(stderr, "rogue: cannot load %s (or more than %d --also)\n", optarg,
                        ALSO_MAX);
                return 2;
            }
            s_n_also++;
            break;
        case 'F':
            s_focal_points = 1;
            break;
        case 'R':
            s_show_rid = 1;
            break;
        case 'A':
            after_path = optarg;
            break;
        case 'h':
            s_help();
            return 0;
        default:
            s_help();
            return 2;
        }
    }
    if (!endpoint || no_curve + unknown + (key_path != NULL) != 1 || optind >= argc ||
        timeout <= 0 || (!no_curve && (!cert_path || !authority_path))) {
        fprintf(stderr, "rogue: give --endpoint, one identity and an attack (see --help)\n");
        return 2;
    }
    const char *attack = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    fx_keys_t *keys = NULL, *claimed = NULL, *to = NULL;
    fx_cert_t *broker_cert = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int status = 2;
    uint8_t authority[FX_KEY_BYTES];
    if (key_path && fx_keys_load(key_path, &keys) != FX_OK) {
        fprintf(stderr, "rogue: cannot load %s\n", key_path);
        goto cleanup;
    }
    if (unknown)
        keys = fx_keys_new("XXX.ROGUE.nobody");
    if (to_path && fx_keys_load(to_path, &to) != FX_OK) {
        fprintf(stderr, "rogue: cannot load %s\n", to_path);
        goto cleanup;
    }
    if (!no_curve &&
        (fx_authority_key_load(authority_path, authority) != FX_OK ||
         fx_broker_cert_load(cert_path, authority, fx_now_ms(), &broker_cert) != FX_OK)) {
        fprintf(stderr, "rogue: the broker certificate %s does not verify\n", cert_path);
        goto cleanup;
    }

    if (strcmp(attack, "multipart") == 0 && arg) {
        parts = zmsg_new();
        for (int a = optind + 1; a < argc; a++) {
            uint8_t *part = NULL;
            size_t part_len = 0;
            if (fx_file_read(argv[a], 64u << 20, &part, &part_len) != FX_OK) {
                fprintf(stderr, "rogue: cannot read %s\n", argv[a]);
                goto cleanup;
            }
            zmsg_addmem(parts, part, part_len);
            free(part);
        }
    } else if (strcmp(attack, "raw") == 0 && arg) {
        if (fx_file_read(arg, 64u << 20, &data, &len) != FX_OK) {
            fprintf(stderr, "rogue: cannot read %s\n", arg);
            goto cleanup;
        }
    } else if (strcmp(attack, "sender") == 0 && arg && fx_principal_id_valid(arg)) {
        claimed = fx_keys_new(arg);
        if (s_publish(claimed, claimed, 0, 0, 0, &data, &len) != 0)
            goto cleanup;
    } else if (strcmp(attack, "forged-signature") == 0 && keys) {
        if (s_publish(keys, keys, !msg_id_hex, 0, 0, &data, &len) != 0)
            goto cleanup;
        if (msg_id_hex && s_publish_msg_id(keys, msg_id_hex, 1, &data, &len) != 0) {
            fprintf(stderr, "rogue: --msg-id takes %d hex digits\n", 2 * FX_MSG_ID_BYTES);
            goto cleanup;
        }
    } else if ((strcmp(attack, "publish") == 0 || strcmp(attack, "stale") == 0 ||
                strcmp(attack, "expired") == 0) &&
               keys && to) {
        int64_t now = fx_now_ms(), created = 0, expires = 0;
        if (strcmp(attack, "stale") == 0)
            created = now - 3600 * 1000; /* an hour old: outside the replay window */
        else if (strcmp(attack, "expired") == 0)
            created = now - 120 * 1000, expires = now - 60 * 1000;
        if (created_offset)
            created = now + created_offset;
        if (expires_in > 0)
            expires = (created ? created : now) + expires_in;
        if (s_publish(keys, to, 0, created, expires, &data, &len) != 0)
            goto cleanup;
        if (msg_id_hex && s_publish_msg_id(keys, msg_id_hex, 0, &data, &len) != 0) {
            fprintf(stderr, "rogue: --msg-id takes %d hex digits\n", 2 * FX_MSG_ID_BYTES);
            goto cleanup;
        }
        if (save_path && fx_file_write(save_path, data, len, 0600, 0) != FX_OK) {
            fprintf(stderr, "rogue: cannot write %s\n", save_path);
            goto cleanup;
        }
    } else if (strcmp(attack, "flip-each") == 0 && keys && to) {
        flip_each = 1;
    } else if (strcmp(attack, "flood") == 0 && arg && atol(arg) > 0 && atol(arg) <= 100000 &&
               keys) {
        flood = atol(arg);
        /* flood N FILE...: the files' bytes in turn, N frames */
        for (int a = optind + 2; a < argc; a++) {
            if (flood_files == FLOOD_FILES) {
                fprintf(stderr, "rogue: flood takes at most %d files\n", FLOOD_FILES);
                goto cleanup;
            }
            uint8_t *bytes = NULL;
            size_t n_bytes = 0;
            if (fx_file_read(argv[a], 64u << 20, &bytes, &n_bytes) != FX_OK) {
                fprintf(stderr, "rogue: cannot read %s\n", argv[a]);
                goto cleanup;
            }
            if (!bytes)
                bytes = fx_malloc(1); /* an empty file: empty messages */
            flood_raws[flood_files] = bytes;
            flood_lens[flood_files++] = n_bytes;
        }
    } else if (strcmp(attack, "oversized") == 0 && arg && atol(arg) > 0) {
        len = (size_t) atol(arg);
        data = calloc(1, len);
    } else if (strcmp(attack, "malformed") == 0) {
        static const uint8_t junk[] = {0x08, 0x01, 0xa2, 0x01, 0xff, 0xff, 0xff, 0x7f, 0x00};
        len = sizeof junk;
        data = malloc(len);
        memcpy(data, junk, len);
    } else if (((strcmp(attack, "hold") == 0 || strcmp(attack, "drain") == 0) && arg &&
                atol(arg) > 0 && keys) ||
               (strcmp(attack, "window") == 0 && arg && atol(arg) > 0 && atol(arg) <= 64 &&
                optind + 2 < argc && atol(argv[optind + 2]) > 0 && keys)) {
        /* Opens the widest window, then never reads: a consumer that stopped draining. */
        Fusion__Credit credit = FUSION__CREDIT__INIT;
        credit.messages = 1024;
        if (strcmp(attack, "window") == 0) {
            window = (uint32_t) atol(arg);
            credit.messages = window;
            arg = argv[optind + 2];
        }
        Fusion__Frame frame = FUSION__FRAME__INIT;
        frame.body_case = FUSION__FRAME__BODY_CREDIT;
        frame.credit = &credit;
        fx_codec_encode(&frame, &data, &len);
        hold_seconds = atol(arg);
        drain = strcmp(attack, "drain") == 0 || window > 0;
    } else if ((strcmp(attack, "explain") == 0 || strcmp(attack, "prepare") == 0) && arg && keys) {
        long n_recipients = 0, n_sections = 0, length = 0;
        char extra;
        int fields = sscanf(arg, "%ldx%ldx%ld%c", &n_recipients, &n_sections, &length, &extra);
        if (fields < 2 || fields > 3 || (fields == 3 && strcmp(attack, "explain") == 0) ||
            length < 0 || length > 65536 || n_recipients < 0 || n_recipients > 1000000 ||
            n_sections < 1 || n_sections > 255) {
            fprintf(stderr, "rogue: %s wants RxS[xL] (0..1000000 recipients, 1..255 sections)\n",
                    attack);
            goto cleanup;
        }
        if (strcmp(attack, "explain") == 0)
            s_explain(keys, n_recipients, n_sections, &data, &len);
        else
            s_prepare(keys, n_recipients, n_sections, length, &data, &len);
    } else if (strcmp(attack, "prepare-agency") == 0 && arg && keys) {
        long n_sections = atol(arg);
        if (n_sections < 1 || n_sections > 255) {
            fprintf(stderr, "rogue: prepare-agency wants 1..255 sections\n");
            goto cleanup;
        }
        s_prepare(keys, -1, n_sections, 0, &data, &len);
    } else if (strcmp(attack, "exercise-audit") == 0 && arg) {
        Fusion__ExerciseAuditRequest ask = FUSION__EXERCISE_AUDIT_REQUEST__INIT;
        ask.exercise = (char *) arg;
        Fusion__Frame frame = FUSION__FRAME__INIT;
        frame.request_id = 1;
        frame.body_case = FUSION__FRAME__BODY_EXERCISE_AUDIT_REQUEST;
        frame.exercise_audit_request = &ask;
        fx_codec_encode(&frame, &data, &len);
        if (save_path && fx_file_write(save_path, data, len, 0600, 0) != FX_OK) {
            fprintf(stderr, "rogue: cannot write %s\n", save_path);
            goto cleanup;
        }
    } else if (strcmp(attack, "directory") == 0) {
        Fusion__DirectoryRequest ask = FUSION__DIRECTORY_REQUEST__INIT;
        Fusion__Frame frame = FUSION__FRAME__INIT;
        frame.request_id = 1;
        frame.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
        frame.directory_request = &ask;
        fx_codec_encode(&frame, &data, &len);
    } else {
        fprintf(stderr, "rogue: unknown or incomplete attack '%s' (see --help)\n", attack);
        goto cleanup;
    }

    zsock_t *sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(sock, 0);
    if (hold_seconds > 0 && !drain) {
        zsock_set_rcvbuf(sock, 4096);
        zsock_set_rcvhwm(sock, 1);
    }
    if (!no_curve) {
        zsock_set_curve_publickey_bin(sock, fx_keys_curve_public(keys));
        zsock_set_curve_secretkey_bin(sock, fx_keys_curve_secret(keys));
        uint8_t other[32];
        randombytes_buf(other, sizeof other);
        zsock_set_curve_serverkey_bin(sock,
                                      wrong_server_key ? other : fx_cert_curve_key(broker_cert));
    }
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        fprintf(stderr, "rogue: cannot connect to %s\n", endpoint);
        zsock_destroy(&sock);
        goto cleanup;
    }
    if (after_path) {
        Fusion__DirectoryRequest ask = FUSION__DIRECTORY_REQUEST__INIT;
        Fusion__Frame first = FUSION__FRAME__INIT;
        first.request_id = 1;
        first.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
        first.directory_request = &ask;
        uint8_t *first_bytes = NULL;
        size_t first_len = 0;
        fx_codec_encode(&first, &first_bytes, &first_len);
        zframe_t *hello = zframe_new(first_bytes, first_len);
        free(first_bytes);
        zframe_send(&hello, sock, 0);
        zpoller_t *waiter = zpoller_new(sock, NULL);
        zframe_t *in = zpoller_wait(waiter, timeout) == sock ? zframe_recv(sock) : NULL;
        zpoller_destroy(&waiter);
        if (!in) {
            printf("no answer\n");
            zsock_destroy(&sock);
            status = 1;
            goto cleanup;
        }
        zframe_destroy(&in);
        printf("connected\n");
        fflush(stdout);
        while (access(after_path, F_OK) != 0)
            zclock_sleep(50);
    }
    if (flip_each || flood) {
        status = flip_each ? s_flip_each(sock, keys, to, timeout, save_path)
                           : s_flood(sock, keys, to, (size_t) flood, timeout, flood_raws,
                                     flood_lens, flood_files);
        zsock_destroy(&sock);
        goto cleanup;
    }
    if (parts) {
        zmsg_send(&parts, sock);
    } else {
        zframe_t *out = zframe_new(data, len);
        zframe_send(&out, sock, 0);
    }
    if (hold_seconds > 0 && drain) {
        /* Reads every DELIVER and prints its msg_id, acknowledges none, and re-opens the window
         * every second: alive, never silent, never acknowledging. */
        int64_t end = fx_now_ms() + hold_seconds * 1000, next_credit = fx_now_ms() + 1000;
        int64_t ack_at = 0; /* window: when the first delivery is acknowledged */
        char seen[64][2 * FX_MSG_ID_BYTES + 1];
        size_t distinct = 0, repeated = 0;
        bool acked = false;
        zpoller_t *drainer = zpoller_new(sock, NULL);
        while (fx_now_ms() < end) {
            if (fx_now_ms() >= next_credit) {
                zframe_t *again = zframe_new(data, len);
                zframe_send(&again, sock, 0);
                next_credit += 1000;
            }
            if (window > 0 && ack_at > 0 && !acked && fx_now_ms() >= ack_at) {
                uint8_t id[FX_MSG_ID_BYTES];
                Fusion__Received received = FUSION__RECEIVED__INIT;
                received.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, id};
                for (size_t b = 0; b < FX_MSG_ID_BYTES; b++)
                    sscanf(seen[0] + 2 * b, "%2hhx", &id[b]);
                Fusion__Frame ack = FUSION__FRAME__INIT;
                ack.body_case = FUSION__FRAME__BODY_RECEIVED;
                ack.received = &received;
                uint8_t *ack_bytes = NULL;
                size_t ack_len = 0;
                fx_codec_encode(&ack, &ack_bytes, &ack_len);
                zframe_t *out_ack = zframe_new(ack_bytes, ack_len);
                free(ack_bytes);
                zframe_send(&out_ack, sock, 0);
                acked = true;
            }
            if (zpoller_wait(drainer, 100) != sock)
                continue;
            zframe_t *in = zframe_recv(sock);
            Fusion__Frame *frame = NULL;
            if (in &&
                fx_codec_decode(FX_MSG_FRAME, zframe_data(in), zframe_size(in), (void **) &frame) ==
                    FX_OK &&
                frame->body_case == FUSION__FRAME__BODY_DELIVER) {
                fx_envelope_t *env = NULL;
                if (fx_envelope_from_message(frame->deliver->envelope, &env) == FX_OK) {
                    char hex[2 * FX_MSG_ID_BYTES + 1];
                    printf("DELIVER %s\n", fx_hex(fx_envelope_msg_id(env), FX_MSG_ID_BYTES, hex));
                    fflush(stdout);
                    size_t k = 0;
                    while (k < distinct && strcmp(seen[k], hex) != 0)
                        k++;
                    if (k < distinct)
                        repeated++;
                    else if (distinct < 64)
                        memcpy(seen[distinct++], hex, sizeof hex);
                    if (window > 0 && ack_at == 0)
                        ack_at = fx_now_ms() + 1500;
                }
                fx_envelope_destroy(&env);
            }
            fx_codec_free(frame);
            zframe_destroy(&in);
        }
        zpoller_destroy(&drainer);
        zsock_destroy(&sock);
        if (window > 0)
            printf("UNACKNOWLEDGED %zu\nREPEATED %zu\n", distinct - (acked ? 1 : 0), repeated);
        status = 0;
        goto cleanup;
    }
    if (hold_seconds > 0) {
        /* Small receive buffers, so what the broker sends piles up on its side, not here. */
        printf("holding for %ld s\n", hold_seconds);
        fflush(stdout);
        zclock_sleep((int) (hold_seconds * 1000));
        zsock_destroy(&sock);
        status = 0;
        goto cleanup;
    }
    zpoller_t *poller = zpoller_new(sock, NULL);
    status = 1;
    if (zpoller_wait(poller, timeout) == sock) {
        zframe_t *in = zframe_recv(sock);
        if (in) {
            s_print_answer(zframe_data(in), zframe_size(in));
            status = 0;
        }
        zframe_destroy(&in);
    }
    if (status == 1)
        printf("no answer\n");
    zpoller_destroy(&poller);
    zsock_destroy(&sock);
cleanup:
    zmsg_destroy(&parts);
    free(data);
    for (size_t i = 0; i < flood_files; i++)
        free(flood_raws[i]);
    fx_cert_destroy(&broker_cert);
    fx_keys_destroy(&keys);
    fx_keys_destroy(&claimed);
    fx_keys_destroy(&to);
    for (size_t i = 0; i < s_n_also; i++)
        fx_keys_destroy(&s_also[i]);
    return status;
}
