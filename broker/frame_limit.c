/* The size check of answers (see frame_limit.h). */
#include "frame_limit.h"

#include <stdio.h>

bool broker_frame_within(const Fusion__Frame *frame, size_t limit, const char *hint, char *why,
                         size_t why_size)
{
    size_t size = fx_codec_size(frame);
    if (size <= limit)
        return true;
    snprintf(why, why_size, "the answer would be %zu bytes, more than an agent accepts (%zu): %s",
             size, limit, hint);
    return false;
}
