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

/* What an agent is told when the DIRECTORY answer is over its frame (the ERROR too_large's hint).
 */
#define BROKER_DIRECTORY_TOO_LARGE_HINT                                                            \
    "the region's directory has outgrown one answer; tell the broker's operator"

/* The encoded size of the DIRECTORY answer to request_id carrying a directory whose encoding
 * (fx_directory_encode, as the broker keeps it) is directory_len bytes, computed without
 * decoding it: a directory over the 8 MiB the codec decodes has a size too. */
size_t broker_directory_answer_size(size_t directory_len, uint64_t request_id);

/* broker_frame_within for the DIRECTORY answer to request_id of a directory of directory_len
 * bytes: the handler checks it before it decodes the directory, and the broker whenever it
 * installs one (with the largest request id, UINT64_MAX) to warn its operator. */
bool broker_directory_within(size_t directory_len, uint64_t request_id, const char *hint, char *why,
                             size_t why_size);

#endif
