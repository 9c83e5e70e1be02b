/* Whether an answer fits in the frame an agent reads (FX_MAX_FRAME_BYTES): the one check that
 * every answer whose size the agent does not bound (EXPLAINED, PREPARED, DIRECTORY) goes through
 * before it is sent. Pure, so that it is unit-tested without a broker. */
#ifndef FUSION_BROKER_FRAME_LIMIT_H
#define FUSION_BROKER_FRAME_LIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "fusion/codec.h"

/* true when frame's encoding is at most limit bytes; otherwise false, with why naming the
 * answer's size, the limit and what to do instead (hint), for an ERROR too_large. */
bool broker_frame_within(const Fusion__Frame *frame, size_t limit, const char *hint, char *why,
                         size_t why_size);

#endif
