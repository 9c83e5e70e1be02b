/* A JSON syntax check without allocation (include/fusion/jsontext.h). A recursive descent over
 * the grammar of RFC 8259, bounded in depth, reading each byte once. The same scan, lenient
 * about escaped NULs and lone surrogates, finds the escaped surrogate pairs of a text that YAML
 * readers are to be shown another way (fx_json_surrogates). */
#include "fusion/jsontext.h"

#include <stdint.h>

#include "fusion/util.h"

typedef struct {
    const unsigned char *p, *end;
    int depth;
    /* fx_json_surrogates: \u0000 is allowed, a lone surrogate escape is noted and the scan goes
     * on, and each escaped pair is passed to pair. */
    bool lenient;
    const unsigned char *start, *lone;
    fx_json_pair_fn *pair;
    void *arg;
} scan_t;

static bool s_value(scan_t *s);

static void s_space(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool s_take(scan_t *s, unsigned char c)
{
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* Four hex digits after \u, into *unit. */
static bool s_unit(scan_t *s, uint32_t *unit)
{
    if (s->end - s->p < 4)
        return false;
    *unit = 0;
    for (int i = 0; i < 4; i++) {
        int h = fx_hex_digit(*s->p++);
        if (h < 0)
            return false;
        *unit = *unit << 4 | (uint32_t) h;
    }
    return true;
}

/* The low surrogate escaped at p ("\uDCxx" .. "\uDFxx"), without moving: 0 when there is none. */
static uint32_t s_low_at(const scan_t *s)
{
    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
        return 0;
    uint32_t unit = 0;
    for (int i = 2; i < 6; i++) {
        int h = fx_hex_digit(s->p[i]);
        if (h < 0)
            return 0;
        unit = unit << 4 | (uint32_t) h;
    }
    return unit >= 0xDC00 && unit <= 0xDFFF ? unit : 0;
}

/* A surrogate escape that is not half of a pair: refused, or noted when lenient. */
static bool s_lone(scan_t *s, const unsigned char *at)
{
    if (s->lenient && !s->lone)
        s->lone = at;
    return s->lenient;
}

/* An escape after the backslash at `at`: a UTF-16 unit must not be NUL or an unpaired
 * surrogate. */
static bool s_escape(scan_t *s, const unsigned char *at)
{
    if (s->p >= s->end)
        return false;
    unsigned char c = *s->p++;
    if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
        c == 't')
        return true;
    uint32_t unit, low;
    if (c != 'u' || !s_unit(s, &unit) || (unit == 0 && !s->lenient))
        return false;
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        return s_lone(s, at);
    if (unit < 0xD800 || unit > 0xDBFF)
        return true;
    if ((low = s_low_at(s)) == 0)
        return s_lone(s, at);
    s->p += 6;
    if (s->pair)
        s->pair(s->arg, (size_t) (at - s->start),
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
    return true;
}

/* One UTF-8 sequence starting with a byte >= 0x80 (fx_utf8_sequence). */
static bool s_utf8(scan_t *s)
{
    size_t n = fx_utf8_sequence(s->p, (size_t) (s->end - s->p));
    s->p += n;
    return n > 0;
}

static bool s_string(scan_t *s)
{
    if (!s_take(s, '"'))
        return false;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            s->p++;
            if (!s_escape(s, s->p - 1))
                return false;
        } else if (c >= 0x80) {
            if (!s_utf8(s))
                return false;
        } else
            s->p++;
    }
    return false;
}

static bool s_digits(scan_t *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool s_number(scan_t *s)
{
    s_take(s, '-');
    if (s_take(s, '0')) {
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return false;
    } else if (!s_digits(s))
        return false;
    if (s_take(s, '.') && !s_digits(s))
        return false;
    if (s_take(s, 'e') || s_take(s, 'E')) {
        if (!s_take(s, '+'))
            s_take(s, '-');
        if (!s_digits(s))
            return false;
    }
    return true;
}

static bool s_word(scan_t *s, const char *word)
{
    for (; *word; word++)
        if (!s_take(s, (unsigned char) *word))
            return false;
    return true;
}

/* An object or an array, after its opening bracket. */
static bool s_members(scan_t *s, bool object)
{
    if (++s->depth > FX_JSON_DEPTH_MAX)
        return false;
    unsigned char close = object ? '}' : ']';
    s_space(s);
    if (!s_take(s, close)) {
        do {
            s_space(s);
            if (object) {
                if (!s_string(s))
                    return false;
                s_space(s);
                if (!s_take(s, ':'))
                    return false;
                s_space(s);
            }
            if (!s_value(s))
                return false;
            s_space(s);
        } while (s_take(s, ','));
        if (!s_take(s, close))
            return false;
    }
    s->depth--;
    return true;
}

static bool s_value(scan_t *s)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
        s->p++;
        return s_members(s, true);
    case '[':
        s->p++;
        return s_members(s, false);
    case '"':
        return s_string(s);
    case 't':
        return s_word(s, "true");
    case 'f':
        return s_word(s, "false");
    case 'n':
        return s_word(s, "null");
    default:
        return s_number(s);
    }
}

bool fx_json_object_text(const char *text, size_t len)
{
    if (!text)
        return false;
    scan_t s = {.p = (const unsigned char *) text, .end = (const unsigned char *) text + len};
    s_space(&s);
    if (!s_take(&s, '{') || !s_members(&s, true))
        return false;
    s_space(&s);
    return s.p == s.end;
}

int fx_json_surrogates(const char *text, size_t len, fx_json_pair_fn *pair, void *arg,
                       size_t *lone_p)
{
    if (!text)
        return 0;
    const unsigned char *start = (const unsigned char *) text;
    scan_t s = {
        .p = start, .end = start + len, .lenient = true, .start = start, .pair = pair, .arg = arg};
    s_space(&s);
    bool json = s_value(&s);
    if (json) {
        s_space(&s);
        json = s.p == s.end;
    }
    if (s.lone) {
        if (lone_p)
            *lone_p = (size_t) (s.lone - start);
        return -1;
    }
    return json ? 1 : 0;
}
