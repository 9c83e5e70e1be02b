/* Strict YAML documents: libyaml events built into a node tree with positions, a diagnostics
 * list, and checked getters that report NAME:LINE:COLUMN: message. */
#include "fusion/yamldoc.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fusion/jsontext.h"
#include "fusion/util.h"

/* ---- Diagnostics ----------------------------------------------------------------------------- */

/* A message is cut at this many bytes less one; user text in messages goes through
 * fx_yaml_shown, so only a pathological tag or date comes near it. */
#define MAX_MESSAGE 640

typedef struct {
    unsigned line, column;
    size_t order; /* insertion order, to keep the sort stable */
    char *message;
    char *text;
} diag_entry_t;

struct fx_diag {
    char *name;
    diag_entry_t *entries;
    size_t count, cap;
    size_t max;        /* 0: no cap */
    size_t dropped;    /* problems left out past max */
    diag_entry_t more; /* "and N more errors not shown", shown last once something is dropped */
    size_t more_for;   /* the dropped count more was written for */
    int sorted;
};

fx_diag_t *fx_diag_new(const char *name)
{
    fx_diag_t *self = fx_calloc(1, sizeof *self);
    self->name = fx_strdup(name ? name : "input");
    self->sorted = 1;
    return self;
}

void fx_diag_destroy(fx_diag_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_diag_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->entries[i].message);
        free(self->entries[i].text);
    }
    free(self->entries);
    free(self->more.message);
    free(self->more.text);
    free(self->name);
    free(self);
    *self_p = NULL;
}

void fx_diag_set_max(fx_diag_t *self, size_t max)
{
    self->max = max;
}

/* "NAME:LINE:COLUMN: message", or "NAME: message" without a position (caller frees). */
static char *s_entry_text(const fx_diag_t *self, unsigned line, unsigned column,
                          const char *message)
{
    size_t size = strlen(self->name) + strlen(message) + 32;
    char *text = fx_malloc(size);
    if (line)
        snprintf(text, size, "%s:%u:%u: %s", self->name, line, column, message);
    else
        snprintf(text, size, "%s: %s", self->name, message);
    return text;
}

static void s_diag_vadd(fx_diag_t *self, unsigned line, unsigned column, const char *fmt,
                        va_list args)
{
    self->sorted = 0;
    if (self->max && self->count >= self->max) {
        self->dropped++;
        return;
    }
    char message[MAX_MESSAGE];
    vsnprintf(message, sizeof message, fmt, args);
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->entries = fx_realloc(self->entries, self->cap * sizeof *self->entries);
    }
    self->entries[self->count] = (diag_entry_t){line, column, self->count, fx_strdup(message),
                                                s_entry_text(self, line, column, message)};
    self->count++;
}

void fx_diag_add(fx_diag_t *self, unsigned line, unsigned column, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_diag_vadd(self, line, column, fmt, args);
    va_end(args);
}

static int s_entry_order(const void *a, const void *b)
{
    const diag_entry_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The i-th problem in order: the kept ones sorted by position, the last of them replaced by
 * the count of those left out when the cap was reached. */
static const diag_entry_t *s_diag_entry(fx_diag_t *self, size_t i)
{
    if (!self->sorted) {
        if (self->count > 1)
            qsort(self->entries, self->count, sizeof *self->entries, s_entry_order);
        if (self->dropped && self->more_for != self->dropped) {
            char message[96];
            snprintf(message, sizeof message, "and %zu more errors not shown", self->dropped + 1);
            free(self->more.message);
            free(self->more.text);
            self->more = (diag_entry_t){0, 0, self->count, fx_strdup(message),
                                        s_entry_text(self, 0, 0, message)};
            self->more_for = self->dropped;
        }
        self->sorted = 1;
    }
    if (i >= self->count)
        return NULL;
    return self->dropped && i == self->count - 1 ? &self->more : &self->entries[i];
}

size_t fx_diag_count(const fx_diag_t *self)
{
    return self ? self->count : 0;
}

size_t fx_diag_total(const fx_diag_t *self)
{
    return self ? self->count + self->dropped : 0;
}

const char *fx_diag_text(fx_diag_t *self, size_t i)
{
    const diag_entry_t *e = s_diag_entry(self, i);
    return e ? e->text : NULL;
}

const char *fx_diag_message(fx_diag_t *self, size_t i)
{
    const diag_entry_t *e = s_diag_entry(self, i);
    return e ? e->message : NULL;
}

unsigned fx_diag_line(fx_diag_t *self, size_t i)
{
    const diag_entry_t *e = s_diag_entry(self, i);
    return e ? e->line : 0;
}

unsigned fx_diag_column(fx_diag_t *self, size_t i)
{
    const diag_entry_t *e = s_diag_entry(self, i);
    return e ? e->column : 0;
}

void fx_diag_print(fx_diag_t *self, FILE *out, const char *prefix)
{
    for (size_t i = 0; i < fx_diag_count(self); i++)
        fprintf(out, "%s%s\n", prefix ? prefix : "", fx_diag_text(self, i));
}

/* ---- The node tree --------------------------------------------------------------------------- */

struct fx_yaml_node {
    fx_yaml_type_t type;
    unsigned line, column;
    char *text; /* scalars */
    size_t len;
    int plain;
    fx_yaml_node_t **items; /* list items, or map keys and values interleaved */
    size_t count, cap;
};

struct fx_yaml {
    fx_yaml_node_t **nodes; /* every node, so freeing needs no recursion */
    size_t nnodes, cap;
    fx_yaml_node_t *root;
};

static fx_yaml_node_t *s_node_new(fx_yaml_t *doc, fx_yaml_type_t type, unsigned line,
                                  unsigned column)
{
    if (doc->nnodes == doc->cap) {
        doc->cap = doc->cap ? doc->cap * 2 : 64;
        doc->nodes = fx_realloc(doc->nodes, doc->cap * sizeof *doc->nodes);
    }
    fx_yaml_node_t *node = fx_calloc(1, sizeof *node);
    node->type = type;
    node->line = line;
    node->column = column;
    doc->nodes[doc->nnodes++] = node;
    return node;
}

static void s_append(fx_yaml_node_t *parent, fx_yaml_node_t *child)
{
    if (parent->count == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = fx_realloc(parent->items, parent->cap * sizeof *parent->items);
    }
    parent->items[parent->count++] = child;
}

void fx_yaml_destroy(fx_yaml_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_yaml_t *self = *self_p;
    for (size_t i = 0; i < self->nnodes; i++) {
        free(self->nodes[i]->text);
        free(self->nodes[i]->items);
        free(self->nodes[i]);
    }
    free(self->nodes);
    free(self);
    *self_p = NULL;
}

/* ---- Escaped surrogate pairs in JSON -------------------------------------------------------- */

/* JSON is YAML's flow syntax, but JSON writers escape a character above U+FFFF as a UTF-16
 * surrogate pair ("\ud83d\ude90", as Python's json.dumps does for every emoji), which YAML 1.1
 * and libyaml refuse. As far as the text is JSON (all of a JSON draft; up to its first mistake
 * otherwise), every escape is inside a string, which YAML reads as a double-quoted scalar: each
 * pair there is rewritten to YAML's escape of the same character, "\U0001F690", before libyaml
 * reads it. A backslash in YAML's plain or single-quoted scalars, comments or block scalars is
 * never taken for an escape: those are not JSON. The rewrite is two characters shorter and never
 * crosses a line, so a position after it on its line is moved back right by two. */
typedef struct {
    size_t *offsets;           /* of each pair's backslash in the text as written */
    uint32_t *codes;           /* the character each stands for */
    unsigned *lines, *columns; /* 0-based, in the rewritten text (libyaml's marks) */
    size_t n, cap;
} pairs_t;

static void s_on_pair(void *arg, size_t offset, uint32_t code_point)
{
    pairs_t *pairs = arg;
    if (pairs->n == pairs->cap) {
        pairs->cap = pairs->cap ? pairs->cap * 2 : 16;
        pairs->offsets = fx_realloc(pairs->offsets, pairs->cap * sizeof *pairs->offsets);
        pairs->codes = fx_realloc(pairs->codes, pairs->cap * sizeof *pairs->codes);
    }
    pairs->offsets[pairs->n] = offset;
    pairs->codes[pairs->n++] = code_point;
}

static void s_pairs_free(pairs_t *pairs)
{
    free(pairs->offsets);
    free(pairs->codes);
    free(pairs->lines);
    free(pairs->columns);
    memset(pairs, 0, sizeof *pairs);
}

/* The length of the line break at data[i] as libyaml counts one (CR LF, CR, LF, NEL, LS, PS),
 * or 0. */
static size_t s_break(const uint8_t *data, size_t len, size_t i)
{
    if (data[i] == '\r')
        return i + 1 < len && data[i + 1] == '\n' ? 2 : 1;
    if (data[i] == '\n')
        return 1;
    if (data[i] == 0xc2 && i + 1 < len && data[i + 1] == 0x85)
        return 2;
    if (data[i] == 0xe2 && i + 2 < len && data[i + 1] == 0x80 &&
        (data[i + 2] == 0xa8 || data[i + 2] == 0xa9))
        return 3;
    return 0;
}

/* The 0-based line and column (in characters, as libyaml counts) of each offset, in increasing
 * order, of data. */
static void s_positions(const uint8_t *data, size_t len, const size_t *offsets, size_t n,
                        unsigned *lines, unsigned *columns)
{
    unsigned line = 0, column = 0;
    size_t i = 0;
    for (size_t k = 0; k < n; k++) {
        while (i < offsets[k] && i < len) {
            size_t brk = s_break(data, len, i);
            if (brk) {
                line++;
                column = 0;
                i += brk;
            } else {
                column += (data[i] & 0xc0) != 0x80;
                i++;
            }
        }
        lines[k] = line;
        columns[k] = column;
    }
}

/* 1 when data may hold an escaped surrogate ("\uD800" to "\uDFFF"), so that only those texts
 * are scanned as JSON. */
static int s_may_have_surrogates(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (data[i] == '\\' && data[i + 1] == 'u' && (data[i + 2] | 0x20) == 'd' &&
            strchr("89abcdefABCDEF", data[i + 3]) && data[i + 3])
            return 1;
    return 0;
}

/* Rewrites the escaped surrogate pairs of a JSON text (see above) into *out_p (new; NULL when
 * there is nothing to rewrite). -1, with the problem in diag at its line:column, for a JSON text
 * with a surrogate escape that is not half of a pair. */
static int s_json_pairs(const uint8_t *data, size_t len, fx_diag_t *diag, pairs_t *pairs,
                        uint8_t **out_p, size_t *out_len_p)
{
    *out_p = NULL;
    if (!s_may_have_surrogates(data, len))
        return 0;
    size_t lone = 0;
    /* Pairs in the part that is JSON are in strings, whatever follows that part. */
    if (fx_json_surrogates((const char *) data, len, s_on_pair, pairs, &lone) == -1) {
        unsigned line, column;
        s_positions(data, len, &lone, 1, &line, &column);
        fx_diag_add(diag, line + 1, column + 1,
                    "the escape %.6s is half of a surrogate pair without its other half: JSON "
                    "writes a character above U+FFFF as a high surrogate (\\ud800 to \\udbff) "
                    "followed by a low one (\\udc00 to \\udfff), as in \\ud83d\\ude90",
                    (const char *) data + lone);
        s_pairs_free(pairs);
        return -1;
    }
    if (pairs->n == 0) {
        s_pairs_free(pairs);
        return 0;
    }
    pairs->lines = fx_calloc(pairs->n, sizeof *pairs->lines);
    pairs->columns = fx_calloc(pairs->n, sizeof *pairs->columns);
    s_positions(data, len, pairs->offsets, pairs->n, pairs->lines, pairs->columns);
    uint8_t *out = fx_malloc(len + 1);
    size_t from = 0, used = 0, before = 0; /* pairs before this one on its line */
    for (size_t k = 0; k < pairs->n; k++) {
        memcpy(out + used, data + from, pairs->offsets[k] - from);
        used += pairs->offsets[k] - from;
        char escape[11];
        snprintf(escape, sizeof escape, "\\U%08X", (unsigned) pairs->codes[k]);
        memcpy(out + used, escape, 10);
        used += 10;
        from = pairs->offsets[k] + 12;
        /* Columns in the rewritten text: each earlier pair on the line took two away. */
        before = k > 0 && pairs->lines[k - 1] == pairs->lines[k] ? before + 1 : 0;
        pairs->columns[k] -= 2 * (unsigned) before;
    }
    memcpy(out + used, data + from, len - from);
    used += len - from;
    *out_p = out;
    *out_len_p = used;
    return 0;
}

/* The index of the first pair at or after line:column of the rewritten text (n: none). */
static size_t s_pair_at_or_after(const pairs_t *pairs, size_t line, size_t column)
{
    size_t lo = 0, hi = pairs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pairs->lines[mid] < line || (pairs->lines[mid] == line && pairs->columns[mid] < column))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The 1-based line and column, in the text as written, of a libyaml mark in the rewritten one:
 * two more columns for each pair rewritten before it on its line. */
static void s_position(const pairs_t *pairs, size_t mark_line, size_t mark_column, unsigned *line_p,
                       unsigned *column_p)
{
    /* The pairs are in text order: those before the mark on its line are the ones from the
     * first at or after (mark_line, 0) to the first at or after (mark_line, mark_column). */
    size_t first = s_pair_at_or_after(pairs, mark_line, 0);
    size_t moved = s_pair_at_or_after(pairs, mark_line, mark_column) - first;
    *line_p = (unsigned) mark_line + 1;
    *column_p = (unsigned) (mark_column + 2 * moved) + 1;
}

/* The offset in data of the 0-based line and column (in characters, as libyaml counts them),
 * or len when the text has no such place. */
static size_t s_offset(const uint8_t *data, size_t len, size_t line, size_t column)
{
    size_t i = 0, at_line = 0, at_column = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3; /* a UTF-8 byte-order mark is not a column to libyaml */
    while (i < len && (at_line < line || at_column < column)) {
        size_t brk = s_break(data, len, i);
        if (brk) {
            if (at_line == line)
                return len; /* the line is shorter */
            at_line++;
            at_column = 0;
            i += brk;
            continue;
        }
        i++;
        while (i < len && (data[i] & 0xc0) == 0x80)
            i++;
        at_column++;
    }
    return at_line == line && at_column == column ? i : len;
}

static int s_hex(const uint8_t *text, size_t n, uint32_t *value_p)
{
    uint32_t value = 0;
    for (size_t i = 0; i < n; i++) {
        int c = text[i];
        if (!isxdigit(c))
            return -1;
        value = value * 16 + (uint32_t) (isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *value_p = value;
    return 0;
}

/* libyaml refuses an escaped UTF-16 surrogate in a double-quoted scalar ("\ud83d\ude90") with
 * its generic "found invalid Unicode character escape code", its mark on the escape's digits.
 * Outside a JSON text (see above) nothing says the pair is meant as JSON means it, so it stays
 * an error, one that names it and says what YAML takes instead. 1 when reported. */
static int s_surrogate_escape(fx_diag_t *diag, const yaml_parser_t *parser, const uint8_t *data,
                              size_t len, const pairs_t *pairs)
{
    if (!parser->problem || strcmp(parser->problem, "found invalid Unicode character escape code"))
        return 0;
    size_t line = parser->problem_mark.line, column = parser->problem_mark.column;
    size_t at = s_offset(data, len, line, column);
    if (column < 2 || at < 2 || at >= len || data[at - 2] != '\\' ||
        (data[at - 1] != 'u' && data[at - 1] != 'U'))
        return 0;
    size_t digits = data[at - 1] == 'u' ? 4 : 8;
    uint32_t high, low;
    if (at + digits > len || s_hex(data + at, digits, &high) != 0 || high < 0xd800 || high > 0xdfff)
        return 0;
    unsigned shown_line, shown_column;
    s_position(pairs, line, column - 2, &shown_line, &shown_column);
    const char *escape = (const char *) data + at - 2;
    if (digits == 4 && high <= 0xdbff && at + 10 <= len && data[at + 4] == '\\' &&
        data[at + 5] == 'u' && s_hex(data + at + 6, 4, &low) == 0 && low >= 0xdc00 &&
        low <= 0xdfff) {
        uint32_t code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
        fx_diag_add(diag, shown_line, shown_column,
                    "the escape %.12s is a UTF-16 surrogate pair, which YAML does not read (a "
                    "JSON file may use one; this file is YAML): write the character itself or "
                    "\\U%08X, YAML's 8-digit escape for it",
                    escape, (unsigned) code);
    } else {
        fx_diag_add(diag, shown_line, shown_column,
                    "the escape %.*s is half of a UTF-16 surrogate pair, not a character, and "
                    "YAML reads no surrogates: write the character itself or YAML's 8-digit "
                    "escape for it, such as \\U0001F690",
                    (int) digits + 2, escape);
    }
    return 1;
}

/* YAML allows a key (not written as '? KEY') at most this many characters from its start to its
 * ':' (libyaml's simple-key limit). */
#define YAML_MAX_KEY 1024

/* The mark of the first error parsing data, or index SIZE_MAX when it parses. */
static size_t s_first_error(const uint8_t *data, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    if (!yaml_parser_initialize(&parser))
        return 0;
    yaml_parser_set_input_string(&parser, data, len);
    size_t index = SIZE_MAX;
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            index = parser.problem_mark.index;
            break;
        }
        int end = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
        if (end)
            break;
    }
    yaml_parser_delete(&parser);
    return index;
}

/* The mark where the last scalar token starting before index starts (index SIZE_MAX: none). */
static yaml_mark_t s_scalar_before(const uint8_t *data, size_t len, size_t index)
{
    yaml_parser_t parser;
    yaml_token_t token;
    yaml_mark_t start = {SIZE_MAX, 0, 0};
    if (!yaml_parser_initialize(&parser))
        return start;
    yaml_parser_set_input_string(&parser, data, len);
    while (yaml_parser_scan(&parser, &token)) {
        int stop = token.type == YAML_STREAM_END_TOKEN || token.start_mark.index >= index;
        if (!stop) {
            start =
                token.type == YAML_SCALAR_TOKEN ? token.start_mark : (yaml_mark_t){SIZE_MAX, 0, 0};
        }
        yaml_token_delete(&token);
        if (stop)
            break;
    }
    yaml_parser_delete(&parser);
    return start;
}

/* libyaml refuses a key longer than YAML_MAX_KEY with an error about whatever it met next
 * ("could not find expected ':'", "mapping values are not allowed in this context", "did not find
 * expected ',' or '}'"), at the ':'. The key before that ':' is taken for the cause only when the
 * same text with a one-character key in its place reads past the ':'. A key over several lines
 * (plain, or quoted, folded at its line breaks) is measured as libyaml measures it, in
 * characters from its start, its line breaks included: YAML wants it on one line as well, which
 * the message then says. 1 when reported. */
static int s_long_key(fx_diag_t *diag, const yaml_parser_t *parser, const uint8_t *data, size_t len,
                      const pairs_t *pairs)
{
    yaml_mark_t colon = parser->problem_mark;
    size_t colon_at = s_offset(data, len, colon.line, colon.column);
    if (colon_at >= len || data[colon_at] != ':')
        return 0;
    yaml_mark_t start = parser->context && !strcmp(parser->context, "while scanning a simple key")
                            ? parser->context_mark
                            : s_scalar_before(data, len, colon.index);
    if (start.index == SIZE_MAX || start.index >= colon.index ||
        colon.index - start.index <= YAML_MAX_KEY)
        return 0;
    size_t start_at = s_offset(data, len, start.line, start.column), end_at = colon_at;
    while (end_at > start_at && (data[end_at - 1] == ' ' || data[end_at - 1] == '\t'))
        end_at--;
    if (start_at >= end_at)
        return 0;
    size_t key_chars = 0; /* the key's characters, less its spaces before the ':' */
    for (size_t i = start_at; i < end_at; i++)
        key_chars += (data[i] & 0xc0) != 0x80;
    /* The same text with the key "k". */
    size_t short_len = len - (end_at - start_at) + 1;
    uint8_t *text = fx_malloc(short_len);
    memcpy(text, data, start_at);
    text[start_at] = 'k';
    memcpy(text + start_at + 1, data + end_at, len - end_at);
    size_t error = s_first_error(text, short_len);
    sodium_memzero(text, short_len); /* a draft's content */
    free(text);
    if (error != SIZE_MAX && error <= colon.index - (key_chars - 1))
        return 0; /* the short key fails there as well: another mistake */
    unsigned line, column, colon_line, colon_column;
    s_position(pairs, start.line, start.column, &line, &column);
    s_position(pairs, colon.line, colon.column, &colon_line, &colon_column);
    /* In the file's characters: each surrogate pair between them was 2 more than libyaml read. */
    size_t moved = s_pair_at_or_after(pairs, colon.line, colon.column) -
                   s_pair_at_or_after(pairs, start.line, start.column);
    fx_diag_add(diag, line, column,
                "a key longer than %d characters: %zu from here to its ':' at line %u, column %u; "
                "YAML allows at most %d in a key%s (a ': ' in a long text makes what comes before "
                "it a key: quote the text)",
                YAML_MAX_KEY, colon.index - start.index + 2 * moved, colon_line, colon_column,
                YAML_MAX_KEY, colon.line != start.line ? ", on one line" : "");
    return 1;
}

static void s_syntax_error(fx_diag_t *diag, const yaml_parser_t *parser, const uint8_t *data,
                           size_t len, const pairs_t *pairs)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        fx_diag_add(diag, 0, 0, "out of memory while reading the YAML");
        return;
    }
    size_t mark_line = parser->problem_mark.line, mark_column = parser->problem_mark.column;
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it. */
        size_t end = parser->problem_offset < len ? parser->problem_offset : len;
        mark_line = mark_column = 0;
        for (size_t i = 0; i < end; i++) {
            if (data[i] == '\n') {
                mark_line++;
                mark_column = 0;
            } else if ((data[i] & 0xc0) != 0x80) {
                mark_column++;
            }
        }
    }
    if ((parser->error == YAML_SCANNER_ERROR || parser->error == YAML_PARSER_ERROR) &&
        (s_surrogate_escape(diag, parser, data, len, pairs) ||
         s_long_key(diag, parser, data, len, pairs)))
        return;
    unsigned line, column, context_line, context_column;
    s_position(pairs, mark_line, mark_column, &line, &column);
    const char *problem = parser->problem ? parser->problem : "unreadable input";
    if (parser->context) {
        s_position(pairs, parser->context_mark.line, parser->context_mark.column, &context_line,
                   &context_column);
        fx_diag_add(diag, line, column, "YAML syntax error: %s (%s started at line %u, column %u)",
                    problem, parser->context, context_line, context_column);
    } else {
        fx_diag_add(diag, line, column, "YAML syntax error: %s", problem);
    }
}

fx_yaml_t *fx_yaml_parse(const uint8_t *data, size_t len, fx_diag_t *diag)
{
    return fx_yaml_parse_ex(data, len, diag, NULL);
}

fx_yaml_t *fx_yaml_parse_ex(const uint8_t *data, size_t len, fx_diag_t *diag,
                            const fx_yaml_limits_t *limits)
{
    yaml_parser_t parser;
    yaml_event_t event;
    fx_yaml_node_t *stack[FX_YAML_MAX_DEPTH];
    size_t depth = 0;
    int documents = 0, done = 0, failed = 0;
    size_t max_depth = FX_YAML_MAX_DEPTH, max_nodes = FX_YAML_MAX_NODES;
    const char *noun = limits ? limits->noun : NULL;
    char a_noun[80] = ""; /* "a policy", for messages */
    if (limits && limits->max_depth && limits->max_depth < max_depth)
        max_depth = limits->max_depth;
    if (limits && limits->max_nodes)
        max_nodes = limits->max_nodes;
    if (noun)
        snprintf(a_noun, sizeof a_noun, "%s %s", noun[0] && strchr("aeiou", noun[0]) ? "an" : "a",
                 noun);
    pairs_t pairs = {0};
    uint8_t *rewritten = NULL;
    size_t rewritten_len = 0;
    if (s_json_pairs(data, len, diag, &pairs, &rewritten, &rewritten_len) != 0)
        return NULL;
    if (rewritten) {
        data = rewritten;
        len = rewritten_len;
    }
    if (!yaml_parser_initialize(&parser)) {
        fx_diag_add(diag, 0, 0, "out of memory while reading the YAML");
        s_pairs_free(&pairs);
        free(rewritten);
        return NULL;
    }
    fx_yaml_t *doc = fx_calloc(1, sizeof *doc);
    yaml_parser_set_input_string(&parser, data, len);
    while (!done && !failed) {
        if (!yaml_parser_parse(&parser, &event)) {
            s_syntax_error(diag, &parser, data, len, &pairs);
            failed = 1;
            break;
        }
        fx_yaml_node_t *node = NULL;
        yaml_mark_t mark = event.start_mark;
        unsigned line, column;
        s_position(&pairs, mark.line, mark.column, &line, &column);
        const char *tag = NULL;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                if (noun)
                    fx_diag_add(diag, line, column,
                                "%s is a single YAML document, and a second one starts here",
                                a_noun);
                else
                    fx_diag_add(diag, line, column,
                                "the file must hold a single YAML document, and a second one "
                                "starts here");
                failed = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            fx_diag_add(diag, line, column,
                        "YAML aliases (*name) are not allowed%s%s; write the value out",
                        noun ? " in " : "", a_noun);
            failed = 1;
            break;
        case YAML_SCALAR_EVENT:
            tag = (const char *) event.data.scalar.tag;
            node = s_node_new(doc, FX_YAML_SCALAR, line, column);
            node->len = event.data.scalar.length;
            node->text = fx_strndup((const char *) event.data.scalar.value, node->len);
            node->plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            tag = (const char *) event.data.sequence_start.tag;
            node = s_node_new(doc, FX_YAML_LIST, line, column);
            break;
        case YAML_MAPPING_START_EVENT:
            tag = (const char *) event.data.mapping_start.tag;
            node = s_node_new(doc, FX_YAML_MAP, line, column);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        if (!failed && tag) {
            fx_diag_add(diag, line, column, "YAML tags (%s) are not allowed%s%s", tag,
                        noun ? " in " : "", a_noun);
            failed = 1;
        }
        if (!failed && doc->nnodes > max_nodes) {
            fx_diag_add(diag, line, column, "the %s has more than %zu values; it is too large",
                        noun ? noun : "document", max_nodes);
            failed = 1;
        }
        if (!failed && node) {
            if (depth > 0)
                s_append(stack[depth - 1], node);
            else
                doc->root = node;
            if (node->type != FX_YAML_SCALAR) {
                if (depth == max_depth) {
                    fx_diag_add(diag, line, column, "values are nested more than %zu levels deep",
                                max_depth);
                    failed = 1;
                } else {
                    stack[depth++] = node;
                }
            }
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    s_pairs_free(&pairs);
    if (rewritten) {
        sodium_memzero(rewritten, len); /* a draft's content */
        free(rewritten);
    }
    if (failed) {
        fx_yaml_destroy(&doc);
        return NULL;
    }
    if (!doc->root) {
        doc->root = s_node_new(doc, FX_YAML_SCALAR, 1, 1);
        doc->root->text = fx_strdup("");
        doc->root->plain = 1;
    }
    return doc;
}

fx_yaml_t *fx_yaml_load(const char *path, size_t max_bytes, fx_diag_t *diag)
{
    uint8_t *data;
    size_t len;
    fx_err_t rc = fx_file_read(path, max_bytes, &data, &len);
    if (rc != FX_OK) {
        if (rc == FX_ERR_TOO_LARGE)
            fx_diag_add(diag, 0, 0, "the file is larger than %zu bytes", max_bytes);
        else if (rc == FX_ERR_NOT_FOUND)
            fx_diag_add(diag, 0, 0, "no such file");
        else
            fx_diag_add(diag, 0, 0, "cannot read the file: %s", strerror(errno));
        return NULL;
    }
    fx_yaml_t *doc = fx_yaml_parse(data, len, diag);
    free(data);
    return doc;
}

const fx_yaml_node_t *fx_yaml_root(const fx_yaml_t *self)
{
    return self->root;
}

fx_yaml_type_t fx_yaml_type(const fx_yaml_node_t *node)
{
    return node->type;
}

unsigned fx_yaml_line(const fx_yaml_node_t *node)
{
    return node->line;
}

unsigned fx_yaml_column(const fx_yaml_node_t *node)
{
    return node->column;
}

int fx_yaml_is_null(const fx_yaml_node_t *node)
{
    if (node->type != FX_YAML_SCALAR || !node->plain)
        return 0;
    const char *t = node->text;
    return node->len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

const char *fx_yaml_text(const fx_yaml_node_t *node)
{
    return node->type == FX_YAML_SCALAR ? node->text : NULL;
}

size_t fx_yaml_length(const fx_yaml_node_t *node)
{
    return node->len;
}

int fx_yaml_plain(const fx_yaml_node_t *node)
{
    return node->plain;
}

size_t fx_yaml_count(const fx_yaml_node_t *node)
{
    return node->type == FX_YAML_MAP ? node->count / 2 : node->count;
}

const fx_yaml_node_t *fx_yaml_item(const fx_yaml_node_t *node, size_t i)
{
    return node->type == FX_YAML_LIST && i < node->count ? node->items[i] : NULL;
}

const fx_yaml_node_t *fx_yaml_key(const fx_yaml_node_t *node, size_t i)
{
    return node->type == FX_YAML_MAP && 2 * i < node->count ? node->items[2 * i] : NULL;
}

const fx_yaml_node_t *fx_yaml_value(const fx_yaml_node_t *node, size_t i)
{
    return node->type == FX_YAML_MAP && 2 * i + 1 < node->count ? node->items[2 * i + 1] : NULL;
}

const char *fx_yaml_type_name(const fx_yaml_node_t *node)
{
    if (fx_yaml_is_null(node))
        return "nothing";
    return node->type == FX_YAML_MAP    ? "a mapping"
           : node->type == FX_YAML_LIST ? "a list"
                                        : "a value";
}

void fx_yaml_error(fx_diag_t *diag, const fx_yaml_node_t *node, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_diag_vadd(diag, node->line, node->column, fmt, args);
    va_end(args);
}

const char *fx_yaml_shown(const char *text, size_t len, char buf[72])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 60; i++) {
        unsigned char c = (unsigned char) text[i];
        buf[n++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    if (len > 60) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* ---- Checked getters ------------------------------------------------------------------------- */

const char *fx_yaml_scalar(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what)
{
    if (node->type != FX_YAML_SCALAR || fx_yaml_is_null(node)) {
        fx_yaml_error(diag, node, "%s must be a single value, found %s", what,
                      fx_yaml_type_name(node));
        return NULL;
    }
    if (strlen(node->text) != node->len) {
        fx_yaml_error(diag, node, "%s contains a NUL character", what);
        return NULL;
    }
    return node->text;
}

static int s_key_order(const void *a, const void *b)
{
    const fx_yaml_node_t *const *x = a, *const *y = b;
    int c = strcmp((*x)->text, (*y)->text);
    if (c)
        return c;
    if ((*x)->line != (*y)->line)
        return (*x)->line < (*y)->line ? -1 : 1;
    return (*x)->column < (*y)->column ? -1 : (*x)->column > (*y)->column;
}

unsigned char *fx_yaml_check_keys(fx_diag_t *diag, const fx_yaml_node_t *map, const char *what)
{
    size_t pairs = map->count / 2;
    unsigned char *skip = fx_calloc(pairs ? pairs : 1, 1);
    const fx_yaml_node_t **keys = fx_malloc((pairs ? pairs : 1) * sizeof *keys);
    size_t n = 0;
    char shown[72];
    for (size_t p = 0; p < pairs; p++) {
        const fx_yaml_node_t *key = map->items[2 * p];
        if (key->type != FX_YAML_SCALAR || fx_yaml_is_null(key) || strlen(key->text) != key->len) {
            fx_yaml_error(diag, key, "a key in %s must be a word, found %s", what,
                          fx_yaml_type_name(key));
            skip[p] = 1;
        } else {
            keys[n++] = key;
        }
    }
    /* Sorting keeps duplicate detection O(n log n) for huge mappings. */
    qsort(keys, n, sizeof *keys, s_key_order);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i]->text, keys[i - 1]->text) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(keys[first - 1]->text, keys[i]->text) == 0)
            first--;
        fx_yaml_error(diag, keys[i], "duplicate key '%s' in %s (first at line %u, column %u)",
                      fx_yaml_shown(keys[i]->text, keys[i]->len, shown), what, keys[first]->line,
                      keys[first]->column);
        for (size_t p = 0; p < pairs; p++)
            if (map->items[2 * p] == keys[i])
                skip[p] = 1;
    }
    free(keys);
    return skip;
}

int fx_yaml_fields(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what,
                   const char *const *keys, size_t nkeys, const fx_yaml_node_t **found)
{
    for (size_t k = 0; k < nkeys; k++)
        found[k] = NULL;
    if (node->type != FX_YAML_MAP) {
        fx_yaml_error(diag, node, "%s must be a mapping, found %s", what, fx_yaml_type_name(node));
        return -1;
    }
    unsigned char *skip = fx_yaml_check_keys(diag, node, what);
    char shown[72], expected[512];
    for (size_t p = 0; p < node->count / 2; p++) {
        if (skip[p])
            continue;
        const fx_yaml_node_t *key = node->items[2 * p];
        size_t k = 0;
        while (k < nkeys && strcmp(keys[k], key->text) != 0)
            k++;
        if (k < nkeys) {
            found[k] = node->items[2 * p + 1];
            continue;
        }
        size_t used = 0;
        expected[0] = '\0';
        for (size_t j = 0; j < nkeys && used < sizeof expected; j++)
            used += (size_t) snprintf(expected + used, sizeof expected - used, "%s%s",
                                      j ? ", " : "", keys[j]);
        fx_yaml_error(diag, key, "unknown key '%s' in %s (expected one of: %s)",
                      fx_yaml_shown(key->text, key->len, shown), what, expected);
    }
    free(skip);
    return 0;
}

int fx_yaml_list(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, size_t *count_p)
{
    *count_p = 0;
    if (fx_yaml_is_null(node))
        return 0;
    if (node->type != FX_YAML_LIST) {
        fx_yaml_error(diag, node, "%s must be a list, found %s", what, fx_yaml_type_name(node));
        return -1;
    }
    *count_p = node->count;
    return 0;
}

int fx_yaml_bool(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int *value_p)
{
    if (node->type == FX_YAML_SCALAR && node->plain && strcmp(node->text, "true") == 0) {
        *value_p = 1;
        return 0;
    }
    if (node->type == FX_YAML_SCALAR && node->plain && strcmp(node->text, "false") == 0) {
        *value_p = 0;
        return 0;
    }
    char shown[72];
    if (node->type == FX_YAML_SCALAR && !fx_yaml_is_null(node))
        fx_yaml_error(diag, node, "%s must be true or false, found '%s'%s", what,
                      fx_yaml_shown(node->text, node->len, shown),
                      node->plain ? "" : " (a quoted string)");
    else
        fx_yaml_error(diag, node, "%s must be true or false, found %s", what,
                      fx_yaml_type_name(node));
    return -1;
}

int fx_yaml_int(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, long long min,
                long long max, long long *value_p)
{
    const char *text = fx_yaml_scalar(diag, node, what);
    if (!text)
        return -1;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    char shown[72];
    if (errno || end == text || *end || !isdigit((unsigned char) text[text[0] == '-']) ||
        value < min || value > max) {
        fx_yaml_error(diag, node, "%s must be a whole number from %lld to %lld, found '%s'", what,
                      min, max, fx_yaml_shown(text, node->len, shown));
        return -1;
    }
    *value_p = value;
    return 0;
}

int fx_duration_parse(const char *text, int64_t *ms_p)
{
    if (!isdigit((unsigned char) text[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || n == 0 || n > 1000000000ULL)
        return -1;
    int64_t unit;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 24 * 3600 * 1000;
    else
        return -1;
    *ms_p = (int64_t) n * unit;
    return 0;
}

int fx_yaml_duration(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int64_t *ms_p)
{
    const char *text = fx_yaml_scalar(diag, node, what);
    if (!text)
        return -1;
    if (fx_duration_parse(text, ms_p) == 0)
        return 0;
    char shown[72];
    fx_yaml_error(diag, node, "%s must be a duration such as 500ms, 30s, 15m, 8h or 3d, found '%s'",
                  what, fx_yaml_shown(text, node->len, shown));
    return -1;
}

char *fx_yaml_path(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, const char *base)
{
    const char *text = fx_yaml_scalar(diag, node, what);
    if (!text)
        return NULL;
    char shown[72];
    if (!text[0]) {
        fx_yaml_error(diag, node, "%s must be a file path, found an empty value", what);
        return NULL;
    }
    const char *dir = base;
    if (strncmp(text, "credential:", 11) == 0) {
        text += 11;
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (!text[0] || strchr(text, '/') || strcmp(text, ".") == 0 || strcmp(text, "..") == 0) {
            fx_yaml_error(diag, node,
                          "%s: 'credential:%s' must name a credential file, such as "
                          "credential:broker.key",
                          what, fx_yaml_shown(text, strlen(text), shown));
            return NULL;
        }
        if (!dir || !dir[0]) {
            fx_yaml_error(diag, node,
                          "%s: 'credential:%s' needs $CREDENTIALS_DIRECTORY (set by "
                          "systemd's LoadCredential=), which is not set",
                          what, fx_yaml_shown(text, strlen(text), shown));
            return NULL;
        }
    } else if (text[0] == '/' || strcmp(base, ".") == 0) {
        return fx_strdup(text);
    }
    size_t len = strlen(dir) + strlen(text) + 2;
    char *out = fx_malloc(len);
    snprintf(out, len, "%s/%s", dir, text);
    return out;
}

int fx_yaml_date(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int64_t *ms_p)
{
    const char *text = fx_yaml_scalar(diag, node, what);
    if (!text)
        return -1;
    if (fx_time_parse(text, ms_p) == 0)
        return 0;
    char shown[72];
    fx_yaml_error(diag, node,
                  "malformed date '%s' in %s (expected YYYY-MM-DD or an RFC 3339 timestamp such "
                  "as 2026-11-28T00:00:00Z)",
                  fx_yaml_shown(text, node->len, shown), what);
    return -1;
}

int fx_yaml_word(fx_diag_t *diag, const fx_yaml_node_t *node, fx_vocab_t vocab, const char *what)
{
    const char *text = fx_yaml_scalar(diag, node, what);
    if (!text)
        return -1;
    int value = fx_vocab_parse(vocab, text);
    if (value > 0)
        return value;
    char shown[72], words[512], lower[72];
    fx_vocab_list(vocab, words, sizeof words);
    fx_yaml_shown(text, node->len, shown);
    size_t i = 0;
    for (; text[i] && i < sizeof lower - 1; i++)
        lower[i] = (char) tolower((unsigned char) text[i]);
    lower[i] = '\0';
    if (fx_vocab_parse(vocab, lower) > 0)
        fx_yaml_error(diag, node, "unknown %s '%s': enumeration words are lower case ('%s')",
                      fx_vocab_title(vocab), shown, lower);
    else
        fx_yaml_error(diag, node, "unknown %s '%s' (expected one of: %s)", fx_vocab_title(vocab),
                      shown, words);
    return -1;
}

int fx_yaml_word_mask(fx_diag_t *diag, const fx_yaml_node_t *node, fx_vocab_t vocab,
                      const char *what, int allow_single, uint32_t *mask_p)
{
    *mask_p = 0;
    if (allow_single && node->type == FX_YAML_SCALAR && !fx_yaml_is_null(node)) {
        int v = fx_yaml_word(diag, node, vocab, what);
        if (v < 0)
            return -1;
        *mask_p = 1u << v;
        return 0;
    }
    size_t n;
    if (fx_yaml_list(diag, node, what, &n) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = fx_yaml_word(diag, node->items[i], vocab, what);
        if (v < 0)
            rc = -1;
        else
            *mask_p |= 1u << v;
    }
    return rc;
}
