/* Strict YAML documents: libyaml events built into a node tree with positions, a diagnostics
 * list, and checked getters that report NAME:LINE:COLUMN: message. */
#include "fusion/yamldoc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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

static fx_yaml_node_t *s_node_new(fx_yaml_t *doc, fx_yaml_type_t type, yaml_mark_t mark)
{
    if (doc->nnodes == doc->cap) {
        doc->cap = doc->cap ? doc->cap * 2 : 64;
        doc->nodes = fx_realloc(doc->nodes, doc->cap * sizeof *doc->nodes);
    }
    fx_yaml_node_t *node = fx_calloc(1, sizeof *node);
    node->type = type;
    node->line = (unsigned) mark.line + 1;
    node->column = (unsigned) mark.column + 1;
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

static void s_syntax_error(fx_diag_t *diag, const yaml_parser_t *parser, const uint8_t *data,
                           size_t len)
{
    unsigned line = (unsigned) parser->problem_mark.line + 1;
    unsigned column = (unsigned) parser->problem_mark.column + 1;
    if (parser->error == YAML_MEMORY_ERROR) {
        fx_diag_add(diag, 0, 0, "out of memory while reading the YAML");
        return;
    }
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it. */
        size_t end = parser->problem_offset < len ? parser->problem_offset : len;
        line = column = 1;
        for (size_t i = 0; i < end; i++) {
            if (data[i] == '\n') {
                line++;
                column = 1;
            } else if ((data[i] & 0xc0) != 0x80) {
                column++;
            }
        }
    }
    const char *problem = parser->problem ? parser->problem : "unreadable input";
    if (parser->context)
        fx_diag_add(diag, line, column, "YAML syntax error: %s (%s started at line %u, column %u)",
                    problem, parser->context, (unsigned) parser->context_mark.line + 1,
                    (unsigned) parser->context_mark.column + 1);
    else
        fx_diag_add(diag, line, column, "YAML syntax error: %s", problem);
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
    if (!yaml_parser_initialize(&parser)) {
        fx_diag_add(diag, 0, 0, "out of memory while reading the YAML");
        return NULL;
    }
    fx_yaml_t *doc = fx_calloc(1, sizeof *doc);
    yaml_parser_set_input_string(&parser, data, len);
    while (!done && !failed) {
        if (!yaml_parser_parse(&parser, &event)) {
            s_syntax_error(diag, &parser, data, len);
            failed = 1;
            break;
        }
        fx_yaml_node_t *node = NULL;
        yaml_mark_t mark = event.start_mark;
        unsigned line = (unsigned) mark.line + 1, column = (unsigned) mark.column + 1;
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
            node = s_node_new(doc, FX_YAML_SCALAR, mark);
            node->len = event.data.scalar.length;
            node->text = fx_strndup((const char *) event.data.scalar.value, node->len);
            node->plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            tag = (const char *) event.data.sequence_start.tag;
            node = s_node_new(doc, FX_YAML_LIST, mark);
            break;
        case YAML_MAPPING_START_EVENT:
            tag = (const char *) event.data.mapping_start.tag;
            node = s_node_new(doc, FX_YAML_MAP, mark);
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
    if (failed) {
        fx_yaml_destroy(&doc);
        return NULL;
    }
    if (!doc->root) {
        yaml_mark_t start = {0, 0, 0};
        doc->root = s_node_new(doc, FX_YAML_SCALAR, start);
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
