/* The wire codec: caps sizes, unpacks with protobuf-c, and refuses unknown fields and enumeration
 * values throughout the decoded tree. Nothing else in Fusion calls protobuf-c. */
#include "fusion/codec.h"

#include <stdlib.h>

static const struct {
    const ProtobufCMessageDescriptor *descriptor;
    size_t max_bytes;
} s_types[FX_MSG_COUNT_] = {
    [FX_MSG_ENROLMENT_REQUEST_BODY] = {&fusion__enrolment_request_body__descriptor,
                                       FX_MAX_CERT_BYTES},
    [FX_MSG_ENROLMENT_REQUEST] = {&fusion__enrolment_request__descriptor, FX_MAX_CERT_BYTES},
    [FX_MSG_CERTIFICATE_BODY] = {&fusion__certificate_body__descriptor, FX_MAX_CERT_BYTES},
    [FX_MSG_CERTIFICATE] = {&fusion__certificate__descriptor, FX_MAX_CERT_BYTES},
    [FX_MSG_REVOCATION_LIST_BODY] = {&fusion__revocation_list_body__descriptor, 1u << 20},
    [FX_MSG_REVOCATION_LIST] = {&fusion__revocation_list__descriptor, 1u << 20},
    [FX_MSG_HEADER] = {&fusion__header__descriptor, FX_MAX_HEADER_BYTES},
    [FX_MSG_ENVELOPE] = {&fusion__envelope__descriptor, FX_MAX_ENVELOPE_BYTES},
    [FX_MSG_SECTION_CONTENT] = {&fusion__section_content__descriptor, FX_MAX_CONTENT_BYTES},
    [FX_MSG_DIRECTORY] = {&fusion__directory__descriptor, FX_MAX_FRAME_BYTES},
    [FX_MSG_FRAME] = {&fusion__frame__descriptor, FX_MAX_FRAME_BYTES},
    [FX_MSG_CHECKPOINT_BODY] = {&fusion__checkpoint_body__descriptor, 512},
};

/* Our schema has no recursive messages; the cap only guards against a future mistake. */
#define MAX_DEPTH 8

static fx_err_t s_check(const ProtobufCMessage *msg, int depth);

static fx_err_t s_check_enum(const ProtobufCFieldDescriptor *field, int value)
{
    const ProtobufCEnumDescriptor *desc = field->descriptor;
    return protobuf_c_enum_descriptor_get_value(desc, value) ? FX_OK : FX_ERR_MALFORMED;
}

static fx_err_t s_check_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field,
                              int depth)
{
    const char *base = (const char *) msg;
    const void *member = base + field->offset;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *) (base + field->quantifier_offset);
        if (which != field->id)
            return FX_OK;
    }
    if (field->type != PROTOBUF_C_TYPE_MESSAGE && field->type != PROTOBUF_C_TYPE_ENUM)
        return FX_OK;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(const size_t *) (base + field->quantifier_offset);
        for (size_t i = 0; i < count; i++) {
            fx_err_t rc = field->type == PROTOBUF_C_TYPE_ENUM
                              ? s_check_enum(field, (*(int *const *) member)[i])
                              : s_check((*(ProtobufCMessage * *const *) member)[i], depth + 1);
            if (rc != FX_OK)
                return rc;
        }
        return FX_OK;
    }
    if (field->type == PROTOBUF_C_TYPE_ENUM)
        return s_check_enum(field, *(const int *) member);
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *) member;
    return sub ? s_check(sub, depth + 1) : FX_OK;
}

static fx_err_t s_check(const ProtobufCMessage *msg, int depth)
{
    if (depth > MAX_DEPTH)
        return FX_ERR_MALFORMED;
    if (msg->n_unknown_fields > 0)
        return FX_ERR_UNKNOWN_FIELD;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        fx_err_t rc = s_check_field(msg, &desc->fields[i], depth);
        if (rc != FX_OK)
            return rc;
    }
    return FX_OK;
}

fx_err_t fx_codec_decode(fx_msg_type_t type, const uint8_t *data, size_t len, void **msg_p)
{
    *msg_p = NULL;
    if ((unsigned) type >= FX_MSG_COUNT_)
        return FX_ERR_INVALID;
    if (len > s_types[type].max_bytes)
        return FX_ERR_TOO_LARGE;
    ProtobufCMessage *msg = protobuf_c_message_unpack(s_types[type].descriptor, NULL, len, data);
    if (!msg)
        return FX_ERR_MALFORMED;
    fx_err_t rc = s_check(msg, 0);
    if (rc != FX_OK) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    *msg_p = msg;
    return FX_OK;
}

size_t fx_codec_size(const void *msg)
{
    return protobuf_c_message_get_packed_size((const ProtobufCMessage *) msg);
}

size_t fx_codec_pack(const void *msg, uint8_t *out)
{
    return protobuf_c_message_pack((const ProtobufCMessage *) msg, out);
}

void fx_codec_encode(const void *msg, uint8_t **data_p, size_t *len_p)
{
    uint8_t *data = fx_malloc(fx_codec_size(msg));
    *len_p = fx_codec_pack(msg, data);
    *data_p = data;
}

void fx_codec_free(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked((ProtobufCMessage *) msg, NULL);
}

size_t fx_codec_max(fx_msg_type_t type)
{
    return (unsigned) type < FX_MSG_COUNT_ ? s_types[type].max_bytes : 0;
}
