/* A syntax check of JSON text (RFC 8259) that allocates nothing, for text a caller already
 * wrote and only wants confirmed, such as the details of an audit entry on the broker's hot
 * path. It agrees with jansson's json_loads (without flags) on what is JSON, except that it
 * does not detect duplicate object keys. */
#ifndef FUSION_JSONTEXT_H
#define FUSION_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#define FX_JSON_DEPTH_MAX 64 /* arrays and objects nested deeper are refused */

/* Whether the len bytes at text are exactly one JSON object (surrounding whitespace allowed):
 * strings of valid UTF-8 without NUL (no \u0000, no unpaired surrogate escapes), numbers,
 * literals, nesting at most FX_JSON_DEPTH_MAX deep, nothing after it. */
bool fx_json_object_text(const char *text, size_t len);

#endif
