/* The size check of answers (see frame_limit.h). */
#include "frame_limit.h"

#include <stdio.h>

static bool s_size_within(size_t size, size_t limit, const char *hint, char *why, size_t why_size)
{
    if (size <= limit)
        return true;
    snprintf(why, why_size, "the answer would be %zu bytes, more than an agent accepts (%zu): %s",
             size, limit, hint);
    return false;
}

bool broker_frame_within(const Fusion__Frame *frame, size_t limit, const char *hint, char *why,
                         size_t why_size)
{
    return s_size_within(fx_codec_size(frame), limit, hint, why, why_size);
}

size_t broker_directory_answer_size(size_t directory_len, uint64_t request_id)
{
    /* The answer with an empty directory (its field: tag, then a length of one byte, 0), then
     * that length's byte replaced by the directory's length and bytes. */
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Directory empty = FUSION__DIRECTORY__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_DIRECTORY;
    frame.directory = &empty;
    size_t varint = 1;
    for (size_t v = directory_len; v >= 0x80; v >>= 7)
        varint++;
    return fx_codec_size(&frame) - 1 + varint + directory_len;
}

bool broker_directory_within(size_t directory_len, uint64_t request_id, const char *hint, char *why,
                             size_t why_size)
{
    return s_size_within(broker_directory_answer_size(directory_len, request_id),
                         FX_MAX_FRAME_BYTES, hint, why, why_size);
}
