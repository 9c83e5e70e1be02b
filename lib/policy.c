/* Loading a sharing policy: libyaml's event API builds a small tree with the line and column of
 * every node; a strict schema walk then reports every problem as NAME:LINE:COLUMN: message and
 * compiles the policy into bit masks, packed countries and interned symbols (policy_internal.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fusion/keys.h"
#include "fusion/vocab.h"
#include "policy_internal.h"

#define MAX_DEPTH      16     /* the schema needs 7 levels */
#define MAX_NODES      100000 /* scalars, lists and mappings in one policy */
#define MAX_ERRORS     200    /* further errors are summarised in one line */
#define MAX_ID_LEN     128
#define MAX_GUIDELINE  1024
#define MAX_DURATION_S (10LL * 366 * 24 * 3600)

/* ---- Error list ------------------------------------------------------------------------------ */

typedef struct {
    char *text;
    char *message;
    unsigned line, column;
    size_t seq;
} policy_error_t;

struct fx_policy_errors {
    policy_error_t *items;
    size_t count, cap;
    size_t dropped;
};

static void s_errors_add(fx_policy_errors_t *self, const char *name, unsigned line, unsigned column,
                         const char *message)
{
    if (self->count >= MAX_ERRORS) {
        self->dropped++;
        return;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->items = fx_realloc(self->items, self->cap * sizeof *self->items);
    }
    policy_error_t *e = &self->items[self->count];
    size_t size = strlen(name) + strlen(message) + 48;
    e->text = fx_malloc(size);
    if (line)
        snprintf(e->text, size, "%s:%u:%u: %s", name, line, column, message);
    else
        snprintf(e->text, size, "%s: %s", name, message);
    e->message = fx_strdup(message);
    e->line = line;
    e->column = column;
    e->seq = self->count;
    self->count++;
}

static int s_error_order(const void *a, const void *b)
{
    const policy_error_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void s_errors_finish(fx_policy_errors_t *self, const char *name)
{
    if (self->count > 1)
        qsort(self->items, self->count, sizeof *self->items, s_error_order);
    if (self->dropped && self->count > 0) {
        /* Replace the last error shown by a line saying how many were left out. */
        size_t more = self->dropped + 1;
        self->count--;
        free(self->items[self->count].text);
        free(self->items[self->count].message);
        self->dropped = 0;
        char message[96];
        snprintf(message, sizeof message, "and %zu more errors not shown", more);
        s_errors_add(self, name, 0, 0, message);
    }
}

size_t fx_policy_errors_count(const fx_policy_errors_t *self)
{
    return self ? self->count : 0;
}

const char *fx_policy_errors_text(const fx_policy_errors_t *self, size_t index)
{
    return self && index < self->count ? self->items[index].text : NULL;
}

const char *fx_policy_errors_message(const fx_policy_errors_t *self, size_t index)
{
    return self && index < self->count ? self->items[index].message : NULL;
}

unsigned fx_policy_errors_line(const fx_policy_errors_t *self, size_t index)
{
    return self && index < self->count ? self->items[index].line : 0;
}

unsigned fx_policy_errors_column(const fx_policy_errors_t *self, size_t index)
{
    return self && index < self->count ? self->items[index].column : 0;
}

void fx_policy_errors_destroy(fx_policy_errors_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_policy_errors_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->items[i].text);
        free(self->items[i].message);
    }
    free(self->items);
    free(self);
    *self_p = NULL;
}

/* ---- Small shared helpers (declared in policy_internal.h) ------------------------------------ */

uint32_t fx_policy_country_pack(const char *text)
{
    if (!text || strlen(text) != 3)
        return 0;
    uint32_t packed = 0;
    for (int i = 0; i < 3; i++) {
        unsigned char c = (unsigned char) text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return 0;
        packed = packed << 8 | (uint32_t) (c & ~0x20u);
    }
    return packed;
}

void fx_policy_country_unpack(uint32_t packed, char out[4])
{
    out[0] = (char) (packed >> 16 & 0xff);
    out[1] = (char) (packed >> 8 & 0xff);
    out[2] = (char) (packed & 0xff);
    out[3] = '\0';
}

int fx_policy_sorted_has(const uint32_t *vals, uint32_t n, uint32_t value)
{
    if (n <= 8) {
        for (uint32_t i = 0; i < n; i++)
            if (vals[i] == value)
                return 1;
        return 0;
    }
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (vals[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && vals[lo] == value;
}

int fx_policy_in_force(int has_from, int64_t from, int has_until, int64_t until, int64_t at)
{
    return (!has_from || at >= from) && (!has_until || at < until);
}

int fx_policy_agency_valid(const char *text)
{
    char id[FX_ID_MAX + 4];
    if (!text || strlen(text) + 2 >= FX_ID_MAX || strchr(text, '.') != strrchr(text, '.'))
        return 0;
    snprintf(id, sizeof id, "%s.x", text); /* an agency is a principal id without its unit */
    return fx_principal_id_valid(id);
}

/* ---- Symbol table ---------------------------------------------------------------------------- */

static uint32_t s_hash(const char *text)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

uint32_t fx_policy_symbol_find(const policy_symtab_t *table, const char *text)
{
    if (!table->nslots)
        return 0;
    uint32_t mask = table->nslots - 1;
    for (uint32_t i = s_hash(text) & mask;; i = (i + 1) & mask) {
        uint32_t sym = table->slots[i];
        if (sym == 0)
            return 0;
        if (strcmp(table->strings[sym - 1], text) == 0)
            return sym;
    }
}

static void s_symtab_grow(policy_symtab_t *table)
{
    uint32_t nslots = table->nslots ? table->nslots * 2 : 64;
    uint32_t *slots = fx_calloc(nslots, sizeof *slots);
    for (uint32_t s = 1; s <= table->count; s++) {
        uint32_t i = s_hash(table->strings[s - 1]) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = s;
    }
    free(table->slots);
    table->slots = slots;
    table->nslots = nslots;
}

static uint32_t s_symbol_intern(policy_symtab_t *table, const char *text)
{
    uint32_t sym = fx_policy_symbol_find(table, text);
    if (sym)
        return sym;
    if ((table->count + 1) * 2 > table->nslots)
        s_symtab_grow(table);
    if (table->count == table->cap) {
        table->cap = table->cap ? table->cap * 2 : 32;
        table->strings = fx_realloc(table->strings, table->cap * sizeof *table->strings);
    }
    table->strings[table->count++] = fx_strdup(text);
    sym = table->count;
    uint32_t i = s_hash(text) & (table->nslots - 1);
    while (table->slots[i])
        i = (i + 1) & (table->nslots - 1);
    table->slots[i] = sym;
    return sym;
}

/* ---- The YAML tree --------------------------------------------------------------------------- */

typedef enum { NODE_SCALAR, NODE_SEQ, NODE_MAP } node_type_t;

typedef struct node node_t;
struct node {
    node_type_t type;
    unsigned line, column; /* 1-based */
    int plain;             /* a scalar written without quotes or block style */
    char *text;            /* scalars: NUL-terminated (len may be larger if it holds a NUL) */
    size_t len;
    node_t **items; /* lists: the items; mappings: key, value, key, value ... */
    size_t count, cap;
};

typedef struct {
    const char *name;
    const uint8_t *data;
    size_t len;
    fx_policy_errors_t *errors;
    node_t **nodes; /* every node, for freeing without recursion */
    size_t nnodes, nodes_cap;
    node_t *root;
    fx_policy_t *policy;
} loader_t;

static void s_error_at(loader_t *ld, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_error_at(loader_t *ld, unsigned line, unsigned column, const char *fmt, ...)
{
    char message[640];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    s_errors_add(ld->errors, ld->name, line, column, message);
}

#define s_error(ld, node, ...) s_error_at((ld), (node)->line, (node)->column, __VA_ARGS__)

/* Copies user text for an error message: printable ASCII kept, the rest as '?', at most 60
 * characters. */
static const char *s_shown(const char *text, size_t len, char buf[72])
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

static node_t *s_node_new(loader_t *ld, node_type_t type, yaml_mark_t mark)
{
    if (ld->nnodes == ld->nodes_cap) {
        ld->nodes_cap = ld->nodes_cap ? ld->nodes_cap * 2 : 64;
        ld->nodes = fx_realloc(ld->nodes, ld->nodes_cap * sizeof *ld->nodes);
    }
    node_t *node = fx_calloc(1, sizeof *node);
    node->type = type;
    node->line = (unsigned) mark.line + 1;
    node->column = (unsigned) mark.column + 1;
    ld->nodes[ld->nnodes++] = node;
    return node;
}

static void s_node_append(node_t *parent, node_t *child)
{
    if (parent->count == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = fx_realloc(parent->items, parent->cap * sizeof *parent->items);
    }
    parent->items[parent->count++] = child;
}

static void s_tree_free(loader_t *ld)
{
    for (size_t i = 0; i < ld->nnodes; i++) {
        free(ld->nodes[i]->text);
        free(ld->nodes[i]->items);
        free(ld->nodes[i]);
    }
    free(ld->nodes);
    ld->nodes = NULL;
    ld->nnodes = ld->nodes_cap = 0;
    ld->root = NULL;
}

static void s_syntax_error(loader_t *ld, const yaml_parser_t *parser)
{
    unsigned line = (unsigned) parser->problem_mark.line + 1;
    unsigned column = (unsigned) parser->problem_mark.column + 1;
    if (parser->error == YAML_MEMORY_ERROR) {
        s_error_at(ld, 0, 0, "out of memory while reading the YAML");
        return;
    }
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it. */
        size_t end = parser->problem_offset < ld->len ? parser->problem_offset : ld->len;
        line = 1;
        column = 1;
        for (size_t i = 0; i < end; i++) {
            if (ld->data[i] == '\n') {
                line++;
                column = 1;
            } else if ((ld->data[i] & 0xc0) != 0x80) {
                column++;
            }
        }
    }
    const char *problem = parser->problem ? parser->problem : "unreadable input";
    if (parser->context)
        s_error_at(ld, line, column, "YAML syntax error: %s (%s started at line %u, column %u)",
                   problem, parser->context, (unsigned) parser->context_mark.line + 1,
                   (unsigned) parser->context_mark.column + 1);
    else
        s_error_at(ld, line, column, "YAML syntax error: %s", problem);
}

/* Builds the tree of the single document in ld->data. 0, or -1 with the error reported. */
static int s_tree_build(loader_t *ld)
{
    yaml_parser_t parser;
    yaml_event_t event;
    node_t *stack[MAX_DEPTH];
    size_t depth = 0;
    int documents = 0, rc = -1, done = 0;
    if (!yaml_parser_initialize(&parser)) {
        s_error_at(ld, 0, 0, "out of memory while reading the YAML");
        return -1;
    }
    yaml_parser_set_input_string(&parser, ld->data, ld->len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            s_syntax_error(ld, &parser);
            goto cleanup;
        }
        node_t *node = NULL;
        yaml_mark_t mark = event.start_mark;
        unsigned line = (unsigned) mark.line + 1, column = (unsigned) mark.column + 1;
        const char *tag = NULL;
        int failed = 0;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                s_error_at(ld, line, column,
                           "a policy is a single YAML document, and a second one starts here");
                failed = 1;
            }
            break;
        case YAML_ALIAS_EVENT:
            s_error_at(ld, line, column,
                       "YAML aliases (*name) are not allowed in a policy; write the value out");
            failed = 1;
            break;
        case YAML_SCALAR_EVENT:
            tag = (const char *) event.data.scalar.tag;
            node = s_node_new(ld, NODE_SCALAR, mark);
            node->len = event.data.scalar.length;
            node->text = fx_strndup((const char *) event.data.scalar.value, node->len);
            node->plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            tag = (const char *) event.data.sequence_start.tag;
            node = s_node_new(ld, NODE_SEQ, mark);
            break;
        case YAML_MAPPING_START_EVENT:
            tag = (const char *) event.data.mapping_start.tag;
            node = s_node_new(ld, NODE_MAP, mark);
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
            s_error_at(ld, line, column, "YAML tags (%s) are not allowed in a policy", tag);
            failed = 1;
        }
        if (!failed && ld->nnodes > MAX_NODES) {
            s_error_at(ld, line, column, "the policy has more than %d values; it is too large",
                       MAX_NODES);
            failed = 1;
        }
        if (!failed && node) {
            if (depth > 0)
                s_node_append(stack[depth - 1], node);
            else
                ld->root = node;
            if (node->type != NODE_SCALAR) {
                if (depth == MAX_DEPTH) {
                    s_error_at(ld, line, column, "values are nested more than %d levels deep",
                               MAX_DEPTH);
                    failed = 1;
                } else {
                    stack[depth++] = node;
                }
            }
        }
        yaml_event_delete(&event);
        if (failed)
            goto cleanup;
    }
    rc = 0;
cleanup:
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- Node helpers ---------------------------------------------------------------------------- */

static int s_is_null(const node_t *node)
{
    if (node->type != NODE_SCALAR || !node->plain)
        return 0;
    const char *t = node->text;
    return node->len == 0 || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

static const char *s_type_name(const node_t *node)
{
    if (s_is_null(node))
        return "nothing";
    return node->type == NODE_MAP ? "a mapping" : node->type == NODE_SEQ ? "a list" : "a value";
}

/* The text of a scalar that must be a single value, or NULL with an error. */
static const char *s_scalar(loader_t *ld, const node_t *node, const char *what)
{
    if (node->type != NODE_SCALAR || s_is_null(node)) {
        s_error(ld, node, "%s must be a single value, found %s", what, s_type_name(node));
        return NULL;
    }
    if (strlen(node->text) != node->len) {
        s_error(ld, node, "%s contains a NUL character", what);
        return NULL;
    }
    return node->text;
}

static int s_key_order(const void *a, const void *b)
{
    const node_t *const *x = a, *const *y = b;
    int c = strcmp((*x)->text, (*y)->text);
    if (c)
        return c;
    if ((*x)->line != (*y)->line)
        return (*x)->line < (*y)->line ? -1 : 1;
    return (*x)->column < (*y)->column ? -1 : (*x)->column > (*y)->column;
}

/* Reports keys that are not scalars and keys repeated in a mapping; returns flags, one per pair,
 * set for the pairs to skip (caller frees). Sorting keeps this O(n log n) for huge mappings. */
static unsigned char *s_map_check_keys(loader_t *ld, const node_t *map, const char *what)
{
    size_t pairs = map->count / 2;
    unsigned char *skip = fx_calloc(pairs ? pairs : 1, 1);
    node_t **keys = fx_malloc((pairs ? pairs : 1) * sizeof *keys);
    size_t n = 0;
    char shown[72];
    for (size_t p = 0; p < pairs; p++) {
        node_t *key = map->items[2 * p];
        if (key->type != NODE_SCALAR || s_is_null(key) || strlen(key->text) != key->len) {
            s_error(ld, key, "a key in %s must be a word, found %s", what, s_type_name(key));
            skip[p] = 1;
        } else {
            keys[n++] = key;
        }
    }
    qsort(keys, n, sizeof *keys, s_key_order);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i]->text, keys[i - 1]->text) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(keys[first - 1]->text, keys[i]->text) == 0)
            first--;
        s_error(ld, keys[i], "duplicate key '%s' in %s (first at line %u, column %u)",
                s_shown(keys[i]->text, keys[i]->len, shown), what, keys[first]->line,
                keys[first]->column);
        for (size_t p = 0; p < pairs; p++)
            if (map->items[2 * p] == keys[i])
                skip[p] = 1;
    }
    free(keys);
    return skip;
}

/* Walks a mapping with a fixed set of keys: reports non-mappings, duplicate and unknown keys;
 * found[k] receives the value of keys[k]. Returns 0, or -1 if node is not a mapping. */
static int s_map_fields(loader_t *ld, const node_t *node, const char *what, const char *const *keys,
                        size_t nkeys, const node_t **found)
{
    for (size_t k = 0; k < nkeys; k++)
        found[k] = NULL;
    if (node->type != NODE_MAP) {
        s_error(ld, node, "%s must be a mapping, found %s", what, s_type_name(node));
        return -1;
    }
    unsigned char *skip = s_map_check_keys(ld, node, what);
    char shown[72], expected[256];
    for (size_t p = 0; p < node->count / 2; p++) {
        if (skip[p])
            continue;
        const node_t *key = node->items[2 * p];
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
        s_error(ld, key, "unknown key '%s' in %s (expected one of: %s)",
                s_shown(key->text, key->len, shown), what, expected);
    }
    free(skip);
    return 0;
}

/* The items of a list (NULL with *n 0 for a null value). -1 with an error for anything else. */
static int s_list(loader_t *ld, const node_t *node, const char *what, node_t *const **items,
                  size_t *n)
{
    *items = NULL;
    *n = 0;
    if (s_is_null(node))
        return 0;
    if (node->type != NODE_SEQ) {
        s_error(ld, node, "%s must be a list, found %s", what, s_type_name(node));
        return -1;
    }
    *items = node->items;
    *n = node->count;
    return 0;
}

/* One enumeration word; -1 with an error naming the enumeration and its words. */
static int s_word(loader_t *ld, const node_t *node, fx_vocab_t vocab, const char *what)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return -1;
    int value = fx_vocab_parse(vocab, text);
    if (value > 0)
        return value;
    char shown[72], words[512], lower[72];
    fx_vocab_list(vocab, words, sizeof words);
    s_shown(text, node->len, shown);
    size_t i = 0;
    for (; text[i] && i < sizeof lower - 1; i++)
        lower[i] = (char) tolower((unsigned char) text[i]);
    lower[i] = '\0';
    if (fx_vocab_parse(vocab, lower) > 0)
        s_error(ld, node, "unknown %s '%s': enumeration words are lower case ('%s')",
                fx_vocab_title(vocab), shown, lower);
    else
        s_error(ld, node, "unknown %s '%s' (expected one of: %s)", fx_vocab_title(vocab), shown,
                words);
    return -1;
}

/* A list of enumeration words (or, when allow_single, one word) into a bit mask. */
static int s_word_mask(loader_t *ld, const node_t *node, fx_vocab_t vocab, const char *what,
                       int allow_single, uint32_t *mask_p)
{
    *mask_p = 0;
    if (allow_single && node->type == NODE_SCALAR && !s_is_null(node)) {
        int v = s_word(ld, node, vocab, what);
        if (v < 0)
            return -1;
        *mask_p = 1u << v;
        return 0;
    }
    node_t *const *items;
    size_t n;
    if (s_list(ld, node, what, &items, &n) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_word(ld, items[i], vocab, what);
        if (v < 0)
            rc = -1;
        else
            *mask_p |= 1u << v;
    }
    return rc;
}

static int s_country(loader_t *ld, const node_t *node, const char *what, uint32_t *packed_p)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return -1;
    *packed_p = fx_policy_country_pack(text);
    if (*packed_p)
        return 0;
    char shown[72];
    s_error(ld, node,
            "'%s' is not a country code (expected three letters, ISO 3166-1 alpha-3, "
            "such as THA)",
            s_shown(text, node->len, shown));
    return -1;
}

static int s_date(loader_t *ld, const node_t *node, const char *what, int64_t *ms_p)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return -1;
    if (fx_time_parse(text, ms_p) == 0)
        return 0;
    char shown[72];
    s_error(ld, node,
            "malformed date '%s' in %s (expected YYYY-MM-DD or an RFC 3339 timestamp "
            "such as 2026-11-28T00:00:00Z)",
            s_shown(text, node->len, shown), what);
    return -1;
}

static int s_bool(loader_t *ld, const node_t *node, const char *what, int *value_p)
{
    if (node->type == NODE_SCALAR && node->plain && strcmp(node->text, "true") == 0) {
        *value_p = 1;
        return 0;
    }
    if (node->type == NODE_SCALAR && node->plain && strcmp(node->text, "false") == 0) {
        *value_p = 0;
        return 0;
    }
    char shown[72];
    if (node->type == NODE_SCALAR && !s_is_null(node))
        s_error(ld, node, "%s must be true or false, found '%s'%s", what,
                s_shown(node->text, node->len, shown), node->plain ? "" : " (a quoted string)");
    else
        s_error(ld, node, "%s must be true or false, found %s", what, s_type_name(node));
    return -1;
}

/* An id of a rule, agreement, taskforce or exercise: 1 to 128 bytes, no control characters. */
static char *s_id(loader_t *ld, const node_t *node, const char *what)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return NULL;
    if (node->len == 0 || node->len > MAX_ID_LEN) {
        s_error(ld, node, "%s must have 1 to %d characters", what, MAX_ID_LEN);
        return NULL;
    }
    for (size_t i = 0; i < node->len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c < 0x20 || c == 0x7f || (c == ' ' && (i == 0 || i + 1 == node->len))) {
            s_error(ld, node,
                    "%s must not contain control characters or start or end with a "
                    "space",
                    what);
            return NULL;
        }
    }
    return fx_strdup(text);
}

/* An agency (COUNTRY.AGENCY) or principal id (COUNTRY.AGENCY.UNIT), as required by want:
 * 'a' agency, 'p' principal, 'e' either. Interned into the policy's symbols. */
static int s_party(loader_t *ld, const node_t *node, const char *what, int want, uint32_t *sym_p)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return -1;
    int is_principal = fx_principal_id_valid(text);
    int is_agency = !is_principal && fx_policy_agency_valid(text);
    char shown[72];
    if ((want == 'a' && !is_agency) || (want == 'p' && !is_principal) ||
        (want == 'e' && !is_agency && !is_principal)) {
        s_error(ld, node, "'%s' is not %s", s_shown(text, node->len, shown),
                want == 'a'   ? "an agency (COUNTRY.AGENCY, such as THA.RTP)"
                : want == 'p' ? "a principal id (COUNTRY.AGENCY.UNIT, such as THA.RTP.fp1)"
                              : "an agency (COUNTRY.AGENCY) or a principal id "
                                "(COUNTRY.AGENCY.UNIT)");
        return -1;
    }
    *sym_p = s_symbol_intern(&ld->policy->symbols, text);
    return 0;
}

static int s_u32_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

/* Sorts and removes repeated values; returns the new count. */
static uint32_t s_sort_unique(uint32_t *vals, uint32_t n)
{
    if (n < 2)
        return n;
    qsort(vals, n, sizeof *vals, s_u32_order);
    uint32_t out = 1;
    for (uint32_t i = 1; i < n; i++)
        if (vals[i] != vals[out - 1])
            vals[out++] = vals[i];
    return out;
}

/* Reports ids repeated within one kind (rules, agreements, ...), case-sensitively. */
typedef struct {
    const char *id;
    const node_t *node;
} id_ref_t;

static int s_id_ref_order(const void *a, const void *b)
{
    const id_ref_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->node->line != y->node->line ? (x->node->line < y->node->line ? -1 : 1)
                                          : (x->node->column < y->node->column ? -1 : 1);
}

static void s_check_unique_ids(loader_t *ld, id_ref_t *refs, size_t n, const char *kind)
{
    qsort(refs, n, sizeof *refs, s_id_ref_order);
    char shown[72];
    for (size_t i = 1; i < n; i++) {
        size_t first = i;
        while (first > 0 && strcmp(refs[first - 1].id, refs[i].id) == 0)
            first--;
        if (first != i)
            s_error(ld, refs[i].node, "duplicate %s id '%s' (first at line %u, column %u)", kind,
                    s_shown(refs[i].id, strlen(refs[i].id), shown), refs[first].node->line,
                    refs[first].node->column);
    }
}

/* The optional from/until window; reports malformed dates and from not before until. */
static int s_window(loader_t *ld, const node_t *from, const node_t *until, const char *what,
                    int *has_from, int64_t *from_ms, int *has_until, int64_t *until_ms)
{
    int rc = 0;
    *has_from = *has_until = 0;
    if (from) {
        if (s_date(ld, from, what, from_ms) == 0)
            *has_from = 1;
        else
            rc = -1;
    }
    if (until) {
        if (s_date(ld, until, what, until_ms) == 0)
            *has_until = 1;
        else
            rc = -1;
    }
    if (*has_from && *has_until && *from_ms >= *until_ms) {
        s_error(ld, until, "in %s, 'from' (%s) must come before 'until' (%s)", what, from->text,
                until->text);
        rc = -1;
    }
    return rc;
}

/* ---- Top-level sections ---------------------------------------------------------------------- */

/* Index of a packed country among the 26^3 three-letter codes (for duplicate detection). */
static size_t s_country_slot(uint32_t packed)
{
    return (size_t) ((packed >> 16 & 0xff) - 'A') * 676 + ((packed >> 8 & 0xff) - 'A') * 26 +
           ((packed & 0xff) - 'A');
}

static void s_countries(loader_t *ld, const node_t *node)
{
    if (s_is_null(node))
        return;
    if (node->type != NODE_MAP) {
        s_error(ld, node, "countries must be a mapping of country codes, found %s",
                s_type_name(node));
        return;
    }
    fx_policy_t *policy = ld->policy;
    unsigned char *skip = s_map_check_keys(ld, node, "countries");
    size_t pairs = node->count / 2;
    policy->countries = fx_calloc(pairs ? pairs : 1, sizeof *policy->countries);
    /* The key that first named each country, so that AUS and aus are one duplicate. */
    const node_t **first = fx_calloc(26 * 26 * 26, sizeof *first);
    static const char *const keys[] = {"protected_categories"};
    for (size_t p = 0; p < pairs; p++) {
        if (skip[p])
            continue;
        const node_t *key = node->items[2 * p], *value = node->items[2 * p + 1];
        uint32_t packed = 0;
        int known = s_country(ld, key, "a key of countries", &packed) == 0;
        if (known && first[s_country_slot(packed)]) {
            const node_t *earlier = first[s_country_slot(packed)];
            s_error(ld, key,
                    "duplicate country '%s' in countries (first at line %u, column %u; country "
                    "codes ignore case)",
                    key->text, earlier->line, earlier->column);
            known = 0;
        } else if (known) {
            first[s_country_slot(packed)] = key;
        }
        char what[96], shown[72];
        snprintf(what, sizeof what, "countries.%s", s_shown(key->text, key->len, shown));
        const node_t *found[1];
        uint32_t mask = 0;
        if (s_map_fields(ld, value, what, keys, 1, found) != 0)
            continue;
        if (!found[0])
            s_error(ld, value, "missing required key 'protected_categories' in %s", what);
        else if (s_word_mask(ld, found[0], FX_VOCAB_CATEGORY, "protected_categories", 0, &mask) ==
                     0 &&
                 known)
            policy->countries[policy->ncountries++] = (policy_country_t){packed, mask};
    }
    free(first);
    free(skip);
}

static int s_duration(loader_t *ld, const node_t *node, const char *what, int64_t *ms_p)
{
    const char *text = s_scalar(ld, node, what);
    if (!text)
        return -1;
    size_t len = node->len, digits = 0;
    int64_t value = 0;
    while (digits < len && isdigit((unsigned char) text[digits]) && digits < 9)
        value = value * 10 + (text[digits++] - '0');
    int64_t unit = 0;
    if (digits > 0 && digits + 1 == len) {
        switch (text[digits]) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            break;
        }
    }
    char shown[72];
    if (!unit) {
        s_error(ld, node,
                "malformed duration '%s' for %s (expected a whole number and a unit "
                "s, m, h or d, such as 30m, 8h, 72h or 2d)",
                s_shown(text, len, shown), what);
        return -1;
    }
    if (value == 0 || value * unit > MAX_DURATION_S) {
        s_error(ld, node, "duration '%s' for %s must be more than zero and at most ten years",
                s_shown(text, len, shown), what);
        return -1;
    }
    *ms_p = value * unit * 1000;
    return 0;
}

static void s_deadlines(loader_t *ld, const node_t *node)
{
    if (s_is_null(node))
        return;
    static const char *const keys[] = {"urgent", "normal"};
    const node_t *found[2];
    if (s_map_fields(ld, node, "referral_deadlines", keys, 2, found) != 0)
        return;
    if (found[0] &&
        s_duration(ld, found[0], "referral_deadlines.urgent", &ld->policy->deadline_urgent) != 0)
        ld->policy->deadline_urgent = 0;
    if (found[1] &&
        s_duration(ld, found[1], "referral_deadlines.normal", &ld->policy->deadline_normal) != 0)
        ld->policy->deadline_normal = 0;
}

/* Agreements. An agreement with errors is kept half-filled: any error drops the whole policy. */
static void s_agreements(loader_t *ld, const node_t *node)
{
    node_t *const *items;
    size_t n;
    if (s_list(ld, node, "agreements", &items, &n) != 0 || n == 0)
        return;
    fx_policy_t *policy = ld->policy;
    policy->agreements = fx_calloc(n, sizeof *policy->agreements);
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    static const char *const keys[] = {"id", "parties", "categories", "purposes", "from", "until"};
    for (size_t i = 0; i < n; i++) {
        const node_t *f[6];
        if (s_map_fields(ld, items[i], "an agreement", keys, 6, f) != 0)
            continue;
        policy_agreement_t *a = &policy->agreements[policy->nagreements++];
        for (int k = 0; k < 4; k++)
            if (!f[k])
                s_error(ld, items[i], "missing required key '%s' in an agreement", keys[k]);
        if (f[0] && (a->id = s_id(ld, f[0], "an agreement id")) != NULL)
            refs[nrefs++] = (id_ref_t){a->id, f[0]};
        node_t *const *parties;
        size_t np;
        if (f[1] && s_list(ld, f[1], "parties", &parties, &np) == 0) {
            if (np == 0)
                s_error(ld, f[1], "parties of an agreement must not be empty");
            a->parties = fx_calloc(np ? np : 1, sizeof *a->parties);
            for (size_t p = 0; p < np; p++)
                if (s_country(ld, parties[p], "a party", &a->parties[a->nparties]) == 0)
                    a->nparties++;
            a->nparties = s_sort_unique(a->parties, a->nparties);
        }
        if (f[2] &&
            s_word_mask(ld, f[2], FX_VOCAB_CATEGORY, "categories", 0, &a->categories) == 0 &&
            !a->categories)
            s_error(ld, f[2], "categories of an agreement must not be empty");
        if (f[3] && s_word_mask(ld, f[3], FX_VOCAB_PURPOSE, "purposes", 0, &a->purposes) == 0 &&
            !a->purposes)
            s_error(ld, f[3], "purposes of an agreement must not be empty");
        (void) s_window(ld, f[4], f[5], "an agreement", &a->has_from, &a->from, &a->has_until,
                        &a->until);
    }
    s_check_unique_ids(ld, refs, nrefs, "agreement");
    free(refs);
}

/* Taskforces (kind "taskforce", key "members", dates allowed) and exercises (kind "exercise",
 * key "participants", no dates). */
static void s_groups(loader_t *ld, const node_t *node, int exercises)
{
    const char *list = exercises ? "exercises" : "taskforces";
    const char *kind = exercises ? "exercise" : "taskforce";
    const char *what = exercises ? "an exercise" : "a taskforce";
    const char *members_key = exercises ? "participants" : "members";
    node_t *const *items;
    size_t n;
    if (s_list(ld, node, list, &items, &n) != 0 || n == 0)
        return;
    policy_group_t *groups = fx_calloc(n, sizeof *groups);
    uint32_t ngroups = 0;
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    const char *const keys[] = {"id", members_key, "from", "until"};
    for (size_t i = 0; i < n; i++) {
        const node_t *f[4];
        if (s_map_fields(ld, items[i], what, keys, exercises ? 2 : 4, f) != 0)
            continue;
        policy_group_t *g = &groups[ngroups++];
        for (int k = 0; k < 2; k++)
            if (!f[k])
                s_error(ld, items[i], "missing required key '%s' in %s", keys[k], what);
        if (f[0] && (g->id = s_id(ld, f[0], exercises ? "an exercise id" : "a taskforce id")))
            refs[nrefs++] = (id_ref_t){g->id, f[0]};
        if (f[1]) {
            node_t *const *members;
            size_t nm;
            if (s_list(ld, f[1], members_key, &members, &nm) == 0) {
                if (nm == 0)
                    s_error(ld, f[1], "%s of %s must not be empty", members_key, what);
                g->members = fx_calloc(nm ? nm : 1, sizeof *g->members);
                for (size_t m = 0; m < nm; m++)
                    if (s_party(ld, members[m], members_key, 'e', &g->members[g->nmembers]) == 0)
                        g->nmembers++;
                g->nmembers = s_sort_unique(g->members, g->nmembers);
            }
        }
        if (!exercises)
            (void) s_window(ld, f[2], f[3], what, &g->has_from, &g->from, &g->has_until, &g->until);
    }
    s_check_unique_ids(ld, refs, nrefs, kind);
    free(refs);
    if (exercises) {
        ld->policy->exercises = groups;
        ld->policy->nexercises = ngroups;
    } else {
        ld->policy->taskforces = groups;
        ld->policy->ntaskforces = ngroups;
    }
}

/* ---- Conditions ------------------------------------------------------------------------------ */

typedef enum {
    K_ENUM,      /* single-valued enumeration: value, list, not */
    K_TLP,       /* as K_ENUM, plus at_least and at_most */
    K_SET,       /* categories and roles: value, list, any_of, all_of, none_of */
    K_COUNTRY,   /* value, list, not */
    K_AGENCY,    /* value, list, not */
    K_PRINCIPAL, /* value, list, not */
    K_BOOL,      /* true or false */
    K_ROUTE      /* one route pattern */
} cond_kind_t;

static const struct {
    const char *name;
    policy_field_t field;
    cond_kind_t kind;
    fx_vocab_t vocab;
} s_fields[] = {
    {"kind", F_KIND, K_ENUM, FX_VOCAB_KIND},
    {"audience", F_AUDIENCE, K_ENUM, FX_VOCAB_AUDIENCE},
    {"purpose", F_PURPOSE, K_ENUM, FX_VOCAB_PURPOSE},
    {"subject_role", F_SUBJECT_ROLE, K_ENUM, FX_VOCAB_SUBJECT_ROLE},
    {"stage", F_STAGE, K_ENUM, FX_VOCAB_STAGE},
    {"tlp", F_TLP, K_TLP, FX_VOCAB_TLP},
    {"sender.country", F_SENDER_COUNTRY, K_COUNTRY, FX_VOCAB_COUNT_},
    {"sender.agency", F_SENDER_AGENCY, K_AGENCY, FX_VOCAB_COUNT_},
    {"sender.id", F_SENDER_ID, K_PRINCIPAL, FX_VOCAB_COUNT_},
    {"recipient.country", F_RECIPIENT_COUNTRY, K_COUNTRY, FX_VOCAB_COUNT_},
    {"recipient.agency", F_RECIPIENT_AGENCY, K_AGENCY, FX_VOCAB_COUNT_},
    {"recipient.id", F_RECIPIENT_ID, K_PRINCIPAL, FX_VOCAB_COUNT_},
    {"categories", F_CATEGORIES, K_SET, FX_VOCAB_CATEGORY},
    {"sender.roles", F_SENDER_ROLES, K_SET, FX_VOCAB_ROLE},
    {"recipient.roles", F_RECIPIENT_ROLES, K_SET, FX_VOCAB_ROLE},
    {"cross_border", F_CROSS_BORDER, K_BOOL, FX_VOCAB_COUNT_},
    {"consent", F_CONSENT, K_BOOL, FX_VOCAB_COUNT_},
    {"exercise", F_EXERCISE, K_BOOL, FX_VOCAB_COUNT_},
    {"route", F_ROUTE, K_ROUTE, FX_VOCAB_COUNT_},
};
#define NFIELDS (sizeof s_fields / sizeof s_fields[0])

/* Values of a country, agency or principal condition (one value or a list) into sorted vals. */
static int s_cond_values(loader_t *ld, const node_t *node, const char *name, cond_kind_t kind,
                         policy_cond_t *cond)
{
    node_t *const *items;
    size_t n;
    node_t *single[1];
    if (node->type == NODE_SCALAR && !s_is_null(node)) {
        single[0] = (node_t *) node;
        items = single;
        n = 1;
    } else if (s_list(ld, node, name, &items, &n) != 0) {
        return -1;
    }
    cond->vals = fx_calloc(n ? n : 1, sizeof *cond->vals);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int bad = kind == K_COUNTRY ? s_country(ld, items[i], name, &cond->vals[cond->nvals])
                                    : s_party(ld, items[i], name, kind == K_AGENCY ? 'a' : 'p',
                                              &cond->vals[cond->nvals]);
        if (bad)
            rc = -1;
        else
            cond->nvals++;
    }
    cond->nvals = s_sort_unique(cond->vals, cond->nvals);
    return rc;
}

static int s_condition(loader_t *ld, const node_t *key, const node_t *value, policy_cond_t *cond)
{
    char shown[72];
    size_t f = 0;
    while (f < NFIELDS && strcmp(s_fields[f].name, key->text) != 0)
        f++;
    if (f == NFIELDS) {
        s_error(ld, key,
                "unknown condition '%s' (expected one of: kind, audience, purpose, subject_role, "
                "stage, tlp, categories, sender.country, sender.agency, sender.id, sender.roles, "
                "recipient.country, recipient.agency, recipient.id, recipient.roles, "
                "cross_border, consent, exercise, route)",
                s_shown(key->text, key->len, shown));
        return -1;
    }
    const char *name = s_fields[f].name;
    cond_kind_t kind = s_fields[f].kind;
    fx_vocab_t vocab = s_fields[f].vocab;
    cond->field = (uint8_t) s_fields[f].field;

    if (kind == K_BOOL) {
        int b;
        if (s_bool(ld, value, name, &b) != 0)
            return -1;
        cond->op = OP_BOOL;
        cond->mask = (uint32_t) b;
        return 0;
    }
    if (kind == K_ROUTE) {
        if (value->type != NODE_SCALAR || s_is_null(value)) {
            s_error(ld, value, "route takes one route pattern (such as MMR>**>MYS), found %s",
                    s_type_name(value));
            return -1;
        }
        char why[FX_ROUTE_WHY_SIZE] = "";
        if (strlen(value->text) != value->len ||
            fx_route_pattern_parse(value->text, &cond->pattern, why) != FX_OK) {
            s_error(ld, value, "bad route pattern '%s': %s",
                    s_shown(value->text, value->len, shown),
                    why[0] ? why : "it contains a NUL character");
            return -1;
        }
        cond->op = OP_ROUTE;
        return 0;
    }

    /* The operator and its operand. */
    const char *op = NULL;
    const node_t *operand = value;
    if (value->type == NODE_MAP) {
        unsigned char *skip = s_map_check_keys(ld, value, name);
        size_t pairs = value->count / 2;
        int bad = 0;
        for (size_t p = 0; p < pairs; p++)
            bad |= skip[p];
        free(skip);
        if (bad)
            return -1;
        if (pairs == 0) {
            s_error(ld, value,
                    "the condition on %s is an empty mapping; write a value, a list or "
                    "one operator",
                    name);
            return -1;
        }
        if (pairs > 1) {
            char first[72];
            s_error(ld, value->items[2],
                    "more than one operator in the condition on %s ('%s' "
                    "after '%s'); write two rules instead",
                    name, s_shown(value->items[2]->text, value->items[2]->len, shown),
                    s_shown(value->items[0]->text, value->items[0]->len, first));
            return -1;
        }
        const node_t *opkey = value->items[0];
        op = opkey->text;
        operand = value->items[1];
        int is_set_op =
            strcmp(op, "any_of") == 0 || strcmp(op, "all_of") == 0 || strcmp(op, "none_of") == 0;
        int is_order_op = strcmp(op, "at_least") == 0 || strcmp(op, "at_most") == 0;
        if (kind == K_SET && strcmp(op, "not") == 0) {
            s_error(ld, opkey,
                    "'not' does not apply to %s, which hold several values; use "
                    "none_of",
                    name);
            return -1;
        }
        if (is_order_op && kind != K_TLP) {
            s_error(ld, opkey, "'%s' applies only to tlp, not to %s", op, name);
            return -1;
        }
        if (is_set_op && kind != K_SET) {
            s_error(ld, opkey,
                    "'%s' applies only to categories, sender.roles and "
                    "recipient.roles; on %s use a value, a list or not",
                    op, name);
            return -1;
        }
        if (!is_set_op && !is_order_op && strcmp(op, "not") != 0) {
            s_error(ld, opkey, "unknown operator '%s' in the condition on %s (expected %s)",
                    s_shown(op, opkey->len, shown), name,
                    kind == K_SET   ? "any_of, all_of or none_of"
                    : kind == K_TLP ? "not, at_least or at_most"
                                    : "not");
            return -1;
        }
        if (operand->type == NODE_MAP) {
            s_error(ld, operand, "the operand of '%s' must be %s, found a mapping", op,
                    is_order_op ? "one TLP word"
                    : is_set_op ? "a list"
                                : "a value or a list");
            return -1;
        }
        if (is_set_op && operand->type != NODE_SEQ && !s_is_null(operand)) {
            s_error(ld, operand, "the operand of '%s' must be a list, found a value", op);
            return -1;
        }
        if (is_order_op && operand->type != NODE_SCALAR) {
            s_error(ld, operand, "the operand of '%s' must be one TLP word, found a list", op);
            return -1;
        }
    }

    if (kind == K_SET) {
        if (s_word_mask(ld, operand, vocab, name, 1, &cond->mask) != 0)
            return -1;
        cond->op = !op || strcmp(op, "any_of") == 0 ? OP_ANY
                   : strcmp(op, "all_of") == 0      ? OP_ALL
                                                    : OP_NONE;
        return 0;
    }
    if (kind == K_ENUM || kind == K_TLP) {
        uint32_t all = ((1u << fx_vocab_size(vocab)) - 1) & ~1u, mask;
        cond->op = OP_MASK;
        if (op && (strcmp(op, "at_least") == 0 || strcmp(op, "at_most") == 0)) {
            int v = s_word(ld, operand, vocab, name);
            if (v < 0)
                return -1;
            uint32_t below = (1u << v) - 1; /* bits 0 .. v-1 */
            cond->mask = strcmp(op, "at_least") == 0 ? all & ~below : all & (below | 1u << v);
            return 0;
        }
        if (s_word_mask(ld, operand, vocab, name, 1, &mask) != 0)
            return -1;
        cond->mask = op ? all & ~mask : mask;
        return 0;
    }
    /* Countries, agencies and principal ids. */
    if (s_cond_values(ld, operand, name, kind, cond) != 0)
        return -1;
    cond->op = op ? OP_NOT_IN : OP_IN;
    return 0;
}

static void s_cond_free(policy_cond_t *cond)
{
    free(cond->vals);
    cond->vals = NULL;
    fx_route_pattern_destroy(&cond->pattern);
}

/* Compiles a rule's `when` into its conditions, message-level ones first. */
static int s_when(loader_t *ld, const node_t *node, policy_rule_t *rule)
{
    if (s_is_null(node))
        return 0;
    if (node->type != NODE_MAP) {
        s_error(ld, node, "when must be a mapping of conditions, found %s", s_type_name(node));
        return -1;
    }
    unsigned char *skip = s_map_check_keys(ld, node, "when");
    size_t pairs = node->count / 2;
    policy_cond_t *conds = fx_calloc(pairs ? pairs : 1, sizeof *conds);
    size_t n = 0;
    int rc = 0;
    for (size_t p = 0; p < pairs; p++) {
        if (skip[p]) {
            rc = -1;
            continue;
        }
        policy_cond_t cond = {0};
        if (s_condition(ld, node->items[2 * p], node->items[2 * p + 1], &cond) != 0) {
            s_cond_free(&cond);
            rc = -1;
            continue;
        }
        conds[n++] = cond;
    }
    free(skip);
    /* Stable partition: message-level conditions, then recipient-level ones. */
    rule->conds = fx_calloc(n ? n : 1, sizeof *rule->conds);
    for (size_t i = 0; i < n; i++)
        if (conds[i].field < F_RECIPIENT_FIRST)
            rule->conds[rule->nmsg++] = conds[i];
    for (size_t i = 0; i < n; i++)
        if (conds[i].field >= F_RECIPIENT_FIRST)
            rule->conds[rule->nmsg + rule->nrcpt++] = conds[i];
    free(conds);
    return rc;
}

static char *s_guideline(loader_t *ld, const node_t *node)
{
    const char *text = s_scalar(ld, node, "guideline");
    if (!text)
        return NULL;
    /* Stored on one line: runs of white space (folded YAML) become one space. */
    char *out = fx_malloc(node->len + 1);
    size_t n = 0;
    for (size_t i = 0; i < node->len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (isspace(c)) {
            if (n > 0 && out[n - 1] != ' ')
                out[n++] = ' ';
        } else if (c < 0x20 || c == 0x7f) {
            out[n++] = '?';
        } else {
            out[n++] = (char) c;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    if (n == 0 || n > MAX_GUIDELINE) {
        s_error(ld, node, "guideline must be a text of 1 to %d characters", MAX_GUIDELINE);
        free(out);
        return NULL;
    }
    return out;
}

static void s_rules(loader_t *ld, const node_t *node)
{
    node_t *const *items;
    size_t n;
    if (s_list(ld, node, "rules", &items, &n) != 0 || n == 0)
        return;
    fx_policy_t *policy = ld->policy;
    policy->rules = fx_calloc(n, sizeof *policy->rules);
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    static const char *const keys[] = {"id", "effect", "guideline", "when"};
    char shown[72];
    for (size_t i = 0; i < n; i++) {
        const node_t *f[4];
        if (s_map_fields(ld, items[i], "a rule", keys, 4, f) != 0)
            continue;
        policy_rule_t *rule = &policy->rules[policy->nrules++];
        for (int k = 0; k < 3; k++)
            if (!f[k])
                s_error(ld, items[i], "missing required key '%s' in a rule", keys[k]);
        if (f[0] && (rule->id = s_id(ld, f[0], "a rule id")) != NULL) {
            if (strcmp(rule->id, "default") == 0)
                s_error(ld, f[0],
                        "'default' is not a valid rule id: it names the policy's "
                        "default decision");
            else
                refs[nrefs++] = (id_ref_t){rule->id, f[0]};
        }
        if (f[1]) {
            const char *effect = s_scalar(ld, f[1], "effect");
            if (effect && strcmp(effect, "permit") == 0)
                rule->permit = 1;
            else if (effect && strcmp(effect, "forbid") != 0)
                s_error(ld, f[1], "effect must be permit or forbid, found '%s'",
                        s_shown(effect, f[1]->len, shown));
        }
        if (f[2])
            rule->guideline = s_guideline(ld, f[2]);
        if (f[3])
            (void) s_when(ld, f[3], rule);
    }
    s_check_unique_ids(ld, refs, nrefs, "rule");
    free(refs);
}

/* ---- Loading --------------------------------------------------------------------------------- */

static void s_group_free(policy_group_t *g)
{
    free(g->id);
    free(g->members);
}

void fx_policy_destroy(fx_policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_policy_t *self = *self_p;
    for (uint32_t i = 0; i < self->nrules; i++) {
        policy_rule_t *rule = &self->rules[i];
        for (uint32_t c = 0; c < rule->nmsg + rule->nrcpt; c++)
            s_cond_free(&rule->conds[c]);
        free(rule->conds);
        free(rule->id);
        free(rule->guideline);
    }
    free(self->rules);
    for (uint32_t i = 0; i < self->nagreements; i++) {
        free(self->agreements[i].id);
        free(self->agreements[i].parties);
    }
    free(self->agreements);
    for (uint32_t i = 0; i < self->ntaskforces; i++)
        s_group_free(&self->taskforces[i]);
    free(self->taskforces);
    for (uint32_t i = 0; i < self->nexercises; i++)
        s_group_free(&self->exercises[i]);
    free(self->exercises);
    free(self->countries);
    for (uint32_t i = 0; i < self->symbols.count; i++)
        free(self->symbols.strings[i]);
    free(self->symbols.strings);
    free(self->symbols.slots);
    free(self->name);
    free(self);
    *self_p = NULL;
}

static void s_document(loader_t *ld)
{
    const node_t *root = ld->root;
    if (!root || s_is_null(root)) {
        s_error_at(ld, 1, 1,
                   "the policy is empty (expected a mapping that starts with "
                   "fusion_policy: 1)");
        return;
    }
    static const char *const keys[] = {"fusion_policy",
                                       "default",
                                       "protected_categories",
                                       "countries",
                                       "referral_deadlines",
                                       "agreements",
                                       "taskforces",
                                       "exercises",
                                       "rules"};
    const node_t *f[9];
    if (s_map_fields(ld, root, "the policy", keys, 9, f) != 0)
        return;
    char shown[72];
    if (!f[0])
        s_error(ld, root, "missing required key 'fusion_policy' (write fusion_policy: 1)");
    else if (f[0]->type != NODE_SCALAR || s_is_null(f[0]))
        s_error(ld, f[0], "fusion_policy must be 1, found %s", s_type_name(f[0]));
    else if (!f[0]->plain || strcmp(f[0]->text, "1") != 0)
        s_error(ld, f[0], "unsupported policy version '%s' (this version reads fusion_policy: 1)",
                s_shown(f[0]->text, f[0]->len, shown));
    if (!f[1]) {
        s_error(ld, root,
                "missing required key 'default' (write default: forbid or default: "
                "permit)");
    } else {
        const char *d = s_scalar(ld, f[1], "default");
        if (d && strcmp(d, "permit") == 0)
            ld->policy->default_permit = 1;
        else if (d && strcmp(d, "forbid") != 0)
            s_error(ld, f[1], "default must be permit or forbid, found '%s'",
                    s_shown(d, f[1]->len, shown));
    }
    if (f[2])
        (void) s_word_mask(ld, f[2], FX_VOCAB_CATEGORY, "protected_categories", 0,
                           &ld->policy->protected_categories);
    if (f[3])
        s_countries(ld, f[3]);
    if (f[4])
        s_deadlines(ld, f[4]);
    if (f[5])
        s_agreements(ld, f[5]);
    if (f[6])
        s_groups(ld, f[6], 0);
    if (f[7])
        s_groups(ld, f[7], 1);
    if (f[8])
        s_rules(ld, f[8]);
}

fx_err_t fx_policy_load_buffer(const char *name, const uint8_t *data, size_t len,
                               fx_policy_t **policy_p, fx_policy_errors_t **errors_p)
{
    *policy_p = NULL;
    if (errors_p)
        *errors_p = NULL;
    loader_t ld = {.name = name ? name : "policy", .data = data, .len = len};
    ld.errors = fx_calloc(1, sizeof *ld.errors);
    ld.policy = fx_calloc(1, sizeof *ld.policy);
    ld.policy->name = fx_strdup(ld.name);
    fx_err_t rc = FX_ERR_POLICY;
    if (len > FX_POLICY_MAX_BYTES) {
        s_error_at(&ld, 0, 0, "the policy is larger than %d bytes", FX_POLICY_MAX_BYTES);
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    if (s_tree_build(&ld) != 0)
        goto cleanup;
    s_document(&ld);
    if (ld.errors->count == 0 && ld.errors->dropped == 0) {
        *policy_p = ld.policy;
        ld.policy = NULL;
        rc = FX_OK;
    }
cleanup:
    s_tree_free(&ld);
    fx_policy_destroy(&ld.policy);
    s_errors_finish(ld.errors, ld.name);
    if (rc != FX_OK && errors_p)
        *errors_p = ld.errors;
    else
        fx_policy_errors_destroy(&ld.errors);
    return rc;
}

fx_err_t fx_policy_load(const char *path, fx_policy_t **policy_p, fx_policy_errors_t **errors_p)
{
    *policy_p = NULL;
    if (errors_p)
        *errors_p = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, FX_POLICY_MAX_BYTES, &data, &len);
    if (rc != FX_OK) {
        if (errors_p) {
            *errors_p = fx_calloc(1, sizeof **errors_p);
            s_errors_add(*errors_p, path, 0, 0,
                         rc == FX_ERR_NOT_FOUND   ? "no such file"
                         : rc == FX_ERR_TOO_LARGE ? "the policy is larger than 1 MiB"
                                                  : "the file cannot be read");
        }
        return rc;
    }
    rc = fx_policy_load_buffer(path, data, len, policy_p, errors_p);
    free(data);
    return rc;
}

/* ---- What a policy holds --------------------------------------------------------------------- */

const char *fx_policy_name(const fx_policy_t *self)
{
    return self->name;
}

int fx_policy_default_permit(const fx_policy_t *self)
{
    return self->default_permit;
}

size_t fx_policy_rule_count(const fx_policy_t *self)
{
    return self->nrules;
}

size_t fx_policy_agreement_count(const fx_policy_t *self)
{
    return self->nagreements;
}

size_t fx_policy_taskforce_count(const fx_policy_t *self)
{
    return self->ntaskforces;
}

size_t fx_policy_exercise_count(const fx_policy_t *self)
{
    return self->nexercises;
}

int64_t fx_policy_referral_deadline(const fx_policy_t *self, int urgency)
{
    return urgency == FX_URGENCY_URGENT ? self->deadline_urgent : self->deadline_normal;
}

int fx_policy_has_exercise(const fx_policy_t *self, const char *id)
{
    for (uint32_t i = 0; id && i < self->nexercises; i++)
        if (strcmp(self->exercises[i].id, id) == 0)
            return 1;
    return 0;
}

const char *fx_policy_rule_guideline(const fx_policy_t *self, const char *rule_id)
{
    for (uint32_t i = 0; rule_id && i < self->nrules; i++)
        if (strcmp(self->rules[i].id, rule_id) == 0)
            return self->rules[i].guideline;
    return NULL;
}

void fx_policy_summary(const fx_policy_t *self, char *buf, size_t size)
{
    uint32_t permits = 0;
    for (uint32_t i = 0; i < self->nrules; i++)
        permits += (uint32_t) self->rules[i].permit;
    snprintf(buf, size,
             "default %s; %u rule%s (%u permit, %u forbid), %u agreement%s, %u taskforce%s, %u "
             "exercise%s",
             self->default_permit ? "permit" : "forbid", self->nrules, self->nrules == 1 ? "" : "s",
             permits, self->nrules - permits, self->nagreements, self->nagreements == 1 ? "" : "s",
             self->ntaskforces, self->ntaskforces == 1 ? "" : "s", self->nexercises,
             self->nexercises == 1 ? "" : "s");
}
