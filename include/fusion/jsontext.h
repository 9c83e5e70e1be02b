/* A syntax check of JSON text (RFC 8259) that allocates nothing, for text a caller already
 * wrote and only wants confirmed, such as the details of an audit entry on the broker's hot
 * path. It agrees with jansson's json_loads (without flags) on what is JSON, except that it
 * does not detect duplicate object keys. */
#ifndef FUSION_JSONTEXT_H
#define FUSION_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_JSON_DEPTH_MAX 64 /* arrays and objects nested deeper are refused */

/* Whether the len bytes at text are exactly one JSON object (surrounding whitespace allowed):
 * strings of valid UTF-8 without NUL (no \u0000, no unpaired surrogate escapes), numbers,
 * literals, nesting at most FX_JSON_DEPTH_MAX deep, nothing after it. */
bool fx_json_object_text(const char *text, size_t len);

/* Called for an escaped surrogate pair: the 12 bytes "\uD8xx\uDCxx" at offset stand for
 * code_point (U+10000 to U+10FFFF). */
typedef void fx_json_pair_fn(void *arg, size_t offset, uint32_t code_point);

/* The escaped surrogate pairs of a JSON text, which JSON writers use for every character above
 * U+FFFF and which YAML 1.1 readers refuse. Scans the len bytes at text as one JSON value (any
 * value; an escaped NUL allowed, but not a raw one) as far as they are JSON, and calls pair (may
 * be NULL) for each escaped pair in that part, in order: each is inside a string. Returns -1 when
 * that part holds a surrogate escape without its other half (a lone one, or a low one before its
 * high one), *lone_p (may be NULL) being the offset of the first one's backslash; otherwise 1
 * when the whole text is one JSON value, and 0 when it is not. */
int fx_json_surrogates(const char *text, size_t len, fx_json_pair_fn *pair, void *arg,
                       size_t *lone_p);

#endif
