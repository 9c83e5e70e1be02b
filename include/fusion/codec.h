/* The wire codec: the only module that calls protobuf-c. Decoding caps the size before
 * unpacking and refuses unknown fields and unknown enumeration values anywhere in the message,
 * so every byte that reaches the rest of Fusion is one this version understands. */
#ifndef FUSION_CODEC_H
#define FUSION_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fusion.pb-c.h"
#include "fusion/util.h"

typedef enum {
    FX_MSG_ENROLMENT_REQUEST_BODY,
    FX_MSG_ENROLMENT_REQUEST,
    FX_MSG_CERTIFICATE_BODY,
    FX_MSG_CERTIFICATE,
    FX_MSG_REVOCATION_LIST_BODY,
    FX_MSG_REVOCATION_LIST,
    FX_MSG_HEADER,
    FX_MSG_ENVELOPE,
    FX_MSG_SECTION_CONTENT,
    FX_MSG_DIRECTORY,
    FX_MSG_FRAME,
    FX_MSG_CHECKPOINT_BODY,
    FX_MSG_COUNT_
} fx_msg_type_t;

/* Size caps, checked before unpacking. */
#define FX_MAX_FRAME_BYTES    (8u << 20)
#define FX_MAX_ENVELOPE_BYTES (8u << 20)
#define FX_MAX_HEADER_BYTES   (64u << 10)
#define FX_MAX_CONTENT_BYTES  (4u << 20)
#define FX_MAX_CERT_BYTES     (4u << 10)

/* The broker's ZMQ_MAXMSGSIZE (its max_message_bytes) caps a frame with the bytes CURVE adds to
 * it: libzmq 4.3's MESSAGE command ("\x07MESSAGE", an 8-byte nonce, a flags byte and the 16-byte
 * MAC) is 33 bytes longer than the frame, so 65536 takes a frame of at most 65503 bytes. */
#define FX_CURVE_FRAME_OVERHEAD 33

/* The largest PUBLISH frame whose DELIVER an agent can still decode (at most FX_MAX_FRAME_BYTES):
 * a DELIVER carries the recipient's copy of the envelope (at most the one published) and the
 * sender's certificate (at most FX_MAX_CERT_BYTES), and its tags and lengths take at most 4 bytes
 * more than the PUBLISH frame's (16 are allowed). A larger message could be accepted and never
 * delivered (with the default 8 MiB, one in the last few hundred bytes was), so the broker never
 * tells agents a larger limit. */
#define FX_MAX_PUBLISH_FRAME_BYTES (FX_MAX_FRAME_BYTES - FX_MAX_CERT_BYTES - 16)

/* The ZMTP handshake property in which the broker tells each agent the largest frame it takes
 * (decimal bytes; docs/protocol.md). libzmq drops the connection on a larger one without an
 * answer, so the agent refuses such a message itself. */
#define FX_MAX_FRAME_PROPERTY "X-Fusion-Max-Frame"

/* Decodes data as a message of the given type into *msg_p (free with fx_codec_free).
 * FX_ERR_TOO_LARGE over the type's cap, FX_ERR_MALFORMED if it does not decode or carries an
 * enumeration value this version does not know, FX_ERR_UNKNOWN_FIELD for unknown fields. */
fx_err_t fx_codec_decode(fx_msg_type_t type, const uint8_t *data, size_t len, void **msg_p) FX_WUR;

/* Encodes a generated message (any Fusion__* struct) into a new buffer (caller frees). */
void fx_codec_encode(const void *msg, uint8_t **data_p, size_t *len_p);

/* The encoded size of a generated message. */
size_t fx_codec_size(const void *msg);

/* Encodes a generated message into out, which holds fx_codec_size(msg) bytes; returns the number
 * of bytes written. */
size_t fx_codec_pack(const void *msg, uint8_t *out);

/* Frees a message returned by fx_codec_decode. Accepts NULL. */
void fx_codec_free(void *msg);

/* The size cap of a message type. */
size_t fx_codec_max(fx_msg_type_t type);

#endif
