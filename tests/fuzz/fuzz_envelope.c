/* libFuzzer target: envelope decoding, verification, opening, content decoding and per-recipient
 * copies, with keys derived from fixed seeds so that the seed corpus (valid envelopes sealed with
 * those keys) reaches the deep paths. Invariants: nothing crashes, what decodes re-encodes and
 * decodes again, and the copy of a verified envelope verifies too.
 * Regenerate the seed corpus with:
 *     FUSION_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/envelope build/fuzz/fuzz_envelope */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fusion/content.h"
#include "fusion/envelope.h"
#include "fusion/vocab.h"

enum { SENDER, R1, R2, R3, N_KEYS };
static const char *s_ids[N_KEYS] = {"THA.RTP.fp1", "IDN.POLRI.lo1", "MYS.PDRM.fp1",
                                    "PHL.IACAT.fp1"};
static fx_keys_t *s_keys[N_KEYS];

/* The fuzz target's own deterministic keys: secrets are BLAKE2b of a label and the id, written in
 * the key file format fx_keys_load reads (a temporary 0600 file, removed at once). Test keys
 * only; nothing here is ever used outside the fuzzer. */
static void s_secret(const char *label, const char *id, char hex[65])
{
    uint8_t secret[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof secret);
    crypto_generichash_update(&st, (const uint8_t *) label, strlen(label) + 1);
    crypto_generichash_update(&st, (const uint8_t *) id, strlen(id));
    crypto_generichash_final(&st, secret, sizeof secret);
    sodium_bin2hex(hex, 65, secret, sizeof secret);
}

static fx_keys_t *s_fixed_keys(const char *id)
{
    char dir[] = "/tmp/fusion-fuzz-XXXXXX", path[64];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/k", dir);
    char sign[65], box[65], curve[65], text[512];
    s_secret("fuzz-sign", id, sign);
    s_secret("fuzz-box", id, box);
    s_secret("fuzz-curve", id, curve);
    int len = snprintf(text, sizeof text,
                       "fusion-secret-keys: 1\nid: %s\nsign-seed: %s\nbox-secret: %s\n"
                       "curve-secret: %s\n",
                       id, sign, box, curve);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, text, (size_t) len) != len)
        abort();
    close(fd);
    fx_keys_t *keys = NULL;
    if (fx_keys_load(path, &keys) != FX_OK)
        abort();
    unlink(path);
    rmdir(dir);
    return keys;
}

/* ------------------------------------------------------------------------------------------ */
/* Seed corpus */

static void s_write_seed(const char *dir, const char *name, const fx_envelope_t *env)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data;
    size_t len;
    fx_envelope_encode(env, &data, &len);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
    free(data);
}

static void s_alert_content(uint8_t **data, size_t *len)
{
    Fusion__Person person = FUSION__PERSON__INIT;
    person.role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM;
    person.name = "A. Example";
    person.date_of_birth = "2010-05-01";
    person.health_notes = "dehydrated";
    Fusion__Person *persons[] = {&person};
    Fusion__TravelDocument doc = FUSION__TRAVEL_DOCUMENT__INIT;
    doc.type = "passport";
    doc.number = "MA1234567";
    Fusion__TravelDocument *docs[] = {&doc};
    Fusion__CaseAlert alert = FUSION__CASE_ALERT__INIT;
    alert.summary = "group expected at the border crossing";
    alert.n_persons = 1;
    alert.persons = persons;
    alert.n_documents = 1;
    alert.documents = docs;
    alert.location = "Mae Sot";
    alert.intel_source = "community informant";
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_CASE_ALERT;
    content.case_alert = &alert;
    fx_content_encode(&content, data, len);
}

static void s_write_seeds(const char *dir)
{
    fx_recipient_t all[] = {{s_ids[R1], fx_keys_box_public(s_keys[R1])},
                            {s_ids[R2], fx_keys_box_public(s_keys[R2])},
                            {s_ids[R3], fx_keys_box_public(s_keys[R3])},
                            {"VNM.MPS.fp9", fx_keys_box_public(s_keys[R3])}};
    uint8_t *alert;
    size_t alert_len;
    s_alert_content(&alert, &alert_len);
    Fusion__SectionContent note = FUSION__SECTION_CONTENT__INIT;
    note.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    note.text = "exercise inject";
    uint8_t *text;
    size_t text_len;
    fx_content_encode(&note, &text, &text_len);
    const uint32_t ops = FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL);
    fx_section_draft_t three[] = {
        {1, FX_TLP_GREEN, ops, text, text_len, all, 4},
        {2, FX_TLP_AMBER, ops | FX_CATEGORY_BIT(FX_CATEGORY_PERSONAL_IDENTIFIERS), alert, alert_len,
         all, 2},
        {200, FX_TLP_RED, ops | FX_CATEGORY_BIT(FX_CATEGORY_INTEL_SOURCE), NULL, 0, all + 2, 1},
    };
    Fusion__Handling handling[] = {FUSION__HANDLING__HANDLING_CRIME_PREVENTION_ONLY,
                                   FUSION__HANDLING__HANDLING_NO_ONWARD_SHARING_WITHOUT_CONSENT};
    uint8_t reply_to[FX_MSG_ID_BYTES] = {7};
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.urgency = FUSION__URGENCY__URGENCY_URGENT;
    draft.route = "MMR>THA:MST>MYS";
    draft.stage = FUSION__STAGE__STAGE_AT_BORDER;
    draft.purpose = FUSION__PURPOSE__PURPOSE_VICTIM_PROTECTION;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.created_at = 1795000000000ULL;
    draft.expires_at = 1795600000000ULL;

    fx_envelope_t *env = NULL, *copy = NULL;
    if (fx_envelope_seal(s_keys[SENDER], &draft, three, 3, &env) != FX_OK)
        abort();
    s_write_seed(dir, "three-sections", env);
    for (int who = R1; who <= R3; who++) {
        char name[32];
        snprintf(name, sizeof name, "copy-for-r%d", who);
        if (fx_envelope_copy_for(env, s_ids[who], &copy) != FX_OK)
            abort();
        s_write_seed(dir, name, copy);
        fx_envelope_destroy(&copy);
    }
    fx_envelope_destroy(&env);

    draft.kind = FUSION__KIND__KIND_REFERRAL_RESPONSE;
    draft.n_handling = 2;
    draft.handling = handling;
    draft.in_reply_to = (ProtobufCBinaryData){sizeof reply_to, reply_to};
    draft.exercise = "EX-2026-11";
    draft.taskforce = "OP-MEKONG-SCAM";
    draft.agreement = "IDN-THA-NRM-2024";
    draft.case_ref = "RTP-2026-0042";
    draft.consent = 1;
    draft.subject_role = FUSION__SUBJECT_ROLE__SUBJECT_ROLE_VICTIM;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_TASKFORCE;
    if (fx_envelope_seal(s_keys[SENDER], &draft, three + 1, 1, &env) != FX_OK)
        abort();
    s_write_seed(dir, "one-section-all-fields", env);
    fx_envelope_destroy(&env);
    free(alert);
    free(text);
}

/* ------------------------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fx_init();
    for (int i = 0; i < N_KEYS; i++)
        s_keys[i] = s_fixed_keys(s_ids[i]);
    const char *seeds = getenv("FUSION_FUZZ_WRITE_SEEDS");
    if (seeds) {
        s_write_seeds(seeds);
        exit(0);
    }
    return 0;
}

static void s_open_all(const fx_envelope_t *env)
{
    const Fusion__Header *h = fx_envelope_header(env);
    for (int who = R1; who < N_KEYS; who++)
        for (size_t i = 0; i < h->n_sections; i++) {
            uint8_t *plain = NULL;
            size_t len = 0;
            if (fx_envelope_open(env, s_keys[who], h->sections[i]->id, &plain, &len) != FX_OK)
                continue;
            Fusion__SectionContent *content = NULL;
            if (fx_content_decode(plain, len, &content) == FX_OK) {
                (void) fx_content_missing_labels(
                    content, fx_envelope_section_categories(env, h->sections[i]->id),
                    1795000000000LL);
                fx_content_free(&content);
            }
            fx_plaintext_free(&plain, len);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_envelope_t *env = NULL, *again = NULL, *copy = NULL;
    if (fx_envelope_decode(data, size, &env) != FX_OK)
        return 0;

    /* What decodes re-encodes into something that decodes. */
    uint8_t *encoded;
    size_t encoded_len;
    fx_envelope_encode(env, &encoded, &encoded_len);
    if (fx_envelope_decode(encoded, encoded_len, &again) != FX_OK)
        abort();
    free(encoded);
    fx_envelope_destroy(&again);

    uint8_t digest[FX_HASH_BYTES];
    uint32_t withheld[FX_ENVELOPE_MAX_SECTIONS];
    fx_envelope_header_digest(env, digest);
    (void) fx_envelope_withheld(env, withheld);

    int verified =
        fx_envelope_verify(env, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])) == FX_OK;
    if (verified)
        s_open_all(env);

    /* Every label of the first section gets its copy (at most a few, to keep runs fast). */
    size_t labels = fx_envelope_recipient_count(env, 0);
    for (size_t j = 0; j < labels && j < 4; j++) {
        const char *label = fx_envelope_recipient(env, 0, j);
        if (fx_envelope_copy_for(env, label, &copy) != FX_OK)
            abort();
        int copy_ok =
            fx_envelope_verify(copy, s_ids[SENDER], fx_keys_sign_public(s_keys[SENDER])) == FX_OK;
        if (verified && !copy_ok)
            abort();
        if (copy_ok)
            s_open_all(copy);
        fx_envelope_destroy(&copy);
    }
    fx_envelope_destroy(&env);
    return 0;
}
