/* libFuzzer target: the codec. Every input is decoded as every message type; whatever decodes
 * must encode again into bytes that decode (the codec refuses unknown fields and enumeration
 * values, so nothing it accepts can be lost on the way back out). Regenerate the seed corpus with:
 *     FUSION_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/frame build/fuzz/fuzz_frame */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/codec.h"
#include "fusion/content.h"
#include "fusion/envelope.h"
#include "fusion/vocab.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_write(const char *dir, const char *name, const void *msg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data;
    size_t len;
    fx_codec_encode(msg, &data, &len);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
    free(data);
}

/* One seed per frame body we can build without a region, plus a sealed envelope's pieces. */
static void s_write_seeds(const char *dir)
{
    fx_keys_t *sender = fx_keys_new("THA.RTP.fp1"), *recipient = fx_keys_new("IDN.POLRI.lo1");
    fx_recipient_t to[] = {{"IDN.POLRI.lo1", fx_keys_box_public(recipient)}};
    const uint8_t text[] = "operational summary";
    fx_section_draft_t section = {
        1, FX_TLP_GREEN, FX_CATEGORY_BIT(FX_CATEGORY_OPERATIONAL), text, sizeof text - 1, to, 1};
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.route = "MMR>THA>MYS";
    draft.audience = FUSION__AUDIENCE__AUDIENCE_ROUTE;
    fx_envelope_t *env = NULL;
    if (fx_envelope_seal(sender, &draft, &section, 1, &env) != FX_OK)
        abort();
    s_write(dir, "envelope", fx_envelope_message(env));
    s_write(dir, "header", fx_envelope_header(env));

    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = 42;
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = (Fusion__Envelope *) fx_envelope_message(env);
    frame.body_case = FUSION__FRAME__BODY_PUBLISH;
    frame.publish = &publish;
    s_write(dir, "frame-publish", &frame);

    Fusion__Deliver deliver = FUSION__DELIVER__INIT;
    Fusion__Certificate cert = FUSION__CERTIFICATE__INIT;
    uint8_t sig[64] = {1};
    cert.body = (ProtobufCBinaryData){3, (uint8_t *) "abc"};
    cert.signature = (ProtobufCBinaryData){sizeof sig, sig};
    deliver.envelope = publish.envelope;
    deliver.sender = &cert;
    frame.body_case = FUSION__FRAME__BODY_DELIVER;
    frame.deliver = &deliver;
    s_write(dir, "frame-deliver", &frame);

    Fusion__Prepare prepare = FUSION__PREPARE__INIT;
    char *recipients[] = {"IDN.POLRI", "MYS.PDRM.fp1"};
    prepare.draft = &draft;
    prepare.n_recipients = 2;
    prepare.recipients = recipients;
    frame.body_case = FUSION__FRAME__BODY_PREPARE;
    frame.prepare = &prepare;
    s_write(dir, "frame-prepare", &frame);

    Fusion__Prepared prepared = FUSION__PREPARED__INIT;
    Fusion__SectionRecipients sr = FUSION__SECTION_RECIPIENTS__INIT;
    Fusion__Denial denial = FUSION__DENIAL__INIT;
    Fusion__Certificate *allowed[] = {&cert};
    Fusion__Denial *denied[] = {&denial};
    Fusion__SectionRecipients *srs[] = {&sr};
    denial.recipient = "MYS.PDRM.fp1";
    denial.code = "no_agreement";
    denial.reason = "no agreement covers personal identifiers for this purpose";
    sr.section_id = 1;
    sr.n_allowed = 1;
    sr.allowed = allowed;
    sr.n_denied = 1;
    sr.denied = denied;
    prepared.n_sections = 1;
    prepared.sections = srs;
    frame.body_case = FUSION__FRAME__BODY_PREPARED;
    frame.prepared = &prepared;
    s_write(dir, "frame-prepared", &frame);

    Fusion__Subscribe subscribe = FUSION__SUBSCRIBE__INIT;
    Fusion__Stage stages[] = {FUSION__STAGE__STAGE_AT_BORDER};
    Fusion__Kind kinds[] = {FUSION__KIND__KIND_CASE_ALERT, FUSION__KIND__KIND_NOTICE};
    subscribe.pattern = "MMR>**>MYS";
    subscribe.n_stages = 1;
    subscribe.stages = stages;
    subscribe.n_kinds = 2;
    subscribe.kinds = kinds;
    frame.body_case = FUSION__FRAME__BODY_SUBSCRIBE;
    frame.subscribe = &subscribe;
    s_write(dir, "frame-subscribe", &frame);

    Fusion__Rejected rejected = FUSION__REJECTED__INIT;
    rejected.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, (uint8_t *) fx_envelope_msg_id(env)};
    rejected.code = "forbidden";
    rejected.rule = "nonpunishment-victim-data";
    frame.body_case = FUSION__FRAME__BODY_REJECTED;
    frame.rejected = &rejected;
    s_write(dir, "frame-rejected", &frame);

    Fusion__Credit credit = FUSION__CREDIT__INIT;
    credit.messages = 64;
    frame.body_case = FUSION__FRAME__BODY_CREDIT;
    frame.credit = &credit;
    s_write(dir, "frame-credit", &frame);

    Fusion__Directory directory = FUSION__DIRECTORY__INIT;
    Fusion__RevocationList crl = FUSION__REVOCATION_LIST__INIT;
    crl.body = cert.body;
    crl.signature = cert.signature;
    directory.n_certificates = 1;
    directory.certificates = allowed;
    directory.revocations = &crl;
    frame.body_case = FUSION__FRAME__BODY_DIRECTORY;
    frame.directory = &directory;
    s_write(dir, "frame-directory", &frame);
    s_write(dir, "directory", &directory);

    Fusion__CertificateBody body = FUSION__CERTIFICATE_BODY__INIT;
    Fusion__Role roles[] = {FUSION__ROLE__ROLE_FOCAL_POINT, FUSION__ROLE__ROLE_POLICE};
    body.version = 1;
    body.serial = 7;
    body.id = "THA.RTP.fp1";
    body.country = "THA";
    body.agency = "THA.RTP";
    body.n_roles = 2;
    body.roles = roles;
    body.sign_key = (ProtobufCBinaryData){32, (uint8_t *) fx_keys_sign_public(sender)};
    body.box_key = (ProtobufCBinaryData){32, (uint8_t *) fx_keys_box_public(sender)};
    body.not_before = 1780000000000ULL;
    body.not_after = 1811536000000ULL;
    s_write(dir, "certificate-body", &body);

    Fusion__ReferralResponse response = FUSION__REFERRAL_RESPONSE__INIT;
    response.status = FUSION__RESPONSE_STATUS__RESPONSE_DECLINED;
    response.reason = "outside our jurisdiction";
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_REFERRAL_RESPONSE;
    content.referral_response = &response;
    s_write(dir, "content-referral-response", &content);

    fx_envelope_destroy(&env);
    fx_keys_destroy(&sender);
    fx_keys_destroy(&recipient);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fx_init();
    const char *seeds = getenv("FUSION_FUZZ_WRITE_SEEDS");
    if (seeds) {
        s_write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int type = 0; type < FX_MSG_COUNT_; type++) {
        void *msg = NULL;
        if (fx_codec_decode((fx_msg_type_t) type, data, size, &msg) != FX_OK)
            continue;
        uint8_t *again;
        size_t len;
        fx_codec_encode(msg, &again, &len);
        if (len != fx_codec_size(msg))
            abort();
        void *back = NULL;
        fx_err_t rc = fx_codec_decode((fx_msg_type_t) type, again, len, &back);
        if (rc != FX_OK && rc != FX_ERR_TOO_LARGE)
            abort();
        fx_codec_free(back);
        free(again);
        fx_codec_free(msg);
    }
    return 0;
}
