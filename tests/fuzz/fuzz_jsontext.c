/* libFuzzer target for fx_json_object_text, differential against jansson: what the check
 * accepts jansson parses to an object (unless it refuses a duplicate key or a number too large
 * for it, which the check does not look at), and what jansson parses to an object within the
 * check's depth the check accepts. fx_json_surrogates agrees with both. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/jsontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The depth of the deepest array or object in value. */
static int s_depth(const json_t *value)
{
    int deepest = 0;
    if (json_is_object(value)) {
        const char *key;
        json_t *member;
        json_object_foreach((json_t *) value, key, member)
        {
            int d = s_depth(member);
            deepest = d > deepest ? d : deepest;
        }
    } else if (json_is_array(value)) {
        size_t i;
        json_t *member;
        json_array_foreach(value, i, member)
        {
            int d = s_depth(member);
            deepest = d > deepest ? d : deepest;
        }
    } else
        return 0;
    return deepest + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Details are C strings: the check sees the text up to its first NUL, as jansson does. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text);
    bool ok = fx_json_object_text(text, len);
    json_error_t error;
    json_t *value = json_loadb(text, len, 0, &error);
    bool parsed = value && json_is_object(value);
    if (ok && !parsed && !strstr(error.text, "duplicate") && !strstr(error.text, "too big") &&
        !strstr(error.text, "overflow") && !strstr(error.text, "maximum parsing depth"))
        abort(); /* accepted what is not a JSON object */
    if (!ok && parsed && s_depth(value) <= FX_JSON_DEPTH_MAX)
        abort(); /* refused a JSON object */
    json_decref(value);
    /* fx_json_surrogates: what the strict check accepts it takes as JSON with no half pair, and
     * what it takes as JSON with no half pair jansson parses (NUL escapes allowed). */
    int pairs = fx_json_surrogates(text, len, NULL, NULL, NULL);
    if (ok && pairs != 1)
        abort();
    value = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (pairs == 1 && !value && !strstr(error.text, "duplicate") &&
        !strstr(error.text, "too big") && !strstr(error.text, "overflow") &&
        !strstr(error.text, "maximum parsing depth") && !strstr(error.text, "NUL byte"))
        abort(); /* took for JSON what is not (jansson takes no NUL in a key) */
    json_decref(value);
    free(text);
    return 0;
}
