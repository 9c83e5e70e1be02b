/* Routes (MMR>THA:BKK>MYS), route patterns with '*' and '**', and the subscription index that
 * finds every pattern matching a route. Hops are packed into integers at parse time so matching
 * compares numbers, never strings. DESIGN.md, section Routes. */
#include "fusion/route.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A hop packs into 64 bits: the country in bits 32..46 (5 bits a letter, A = 1) and the point in
 * bits 0..29 (6 bits a character, '0' = 1 .. 'Z' = 36, first character highest, 0 = no point).
 * Characters are never 0, so distinct codes give distinct numbers. */
#define S_COUNTRY_SHIFT   32
#define S_COUNTRY_OF(key) ((key) >> S_COUNTRY_SHIFT)

/* Text limits follow from the hop limits: a hop is at most "AAA:PPPPP", 9 characters. */
#define S_HOP_TEXT_MAX     9
#define S_ROUTE_TEXT_MAX   (FX_ROUTE_MAX_HOPS * (S_HOP_TEXT_MAX + 1))
#define S_PATTERN_TEXT_MAX (FX_PATTERN_MAX_HOPS * (S_HOP_TEXT_MAX + 1))

/* How much of a bad hop an error message quotes. */
#define S_SHOW_MAX 40

typedef enum {
    S_HOP_COUNTRY, /* THA: that country at any point (in a route: THA with no point) */
    S_HOP_POINT,   /* THA:BKK: exactly that point */
    S_HOP_ANY,     /* '*': exactly one hop */
    S_HOP_ANY_SEQ  /* '**': zero or more hops */
} hop_kind_t;

typedef struct {
    uint64_t key; /* packed country and point; 0 for the wildcards */
    uint8_t kind; /* hop_kind_t */
} hop_t;

struct fx_route {
    size_t hop_count;
    uint64_t hops[FX_ROUTE_MAX_HOPS];
    char text[S_ROUTE_TEXT_MAX];
};

/* Sized to its pattern (a broker holds one per subscription): the hops, then the text. */
struct fx_route_pattern {
    size_t hop_count;
    size_t min_hops;       /* hops a route needs at least: all but the '**' */
    bool has_any_seq;      /* without '**' a route must have exactly hop_count hops */
    uint64_t any_seq_mask; /* bit j set when hop j is '**' */
    char *text;            /* normalised, after the hops in the same allocation */
    hop_t hops[];
};

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

static void s_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_why(char *why, const char *fmt, ...)
{
    if (!why)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, FX_ROUTE_WHY_SIZE, fmt, args);
    va_end(args);
}

/* Copies untrusted text into out for an error message: at most S_SHOW_MAX bytes of it, bytes
 * outside printable ASCII as \xNN, and "..." when cut short. */
static void s_show(const char *text, size_t len, char out[S_SHOW_MAX + 8])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    for (; i < len && o + 4 <= S_SHOW_MAX; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char) c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static bool s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool s_is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static unsigned s_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned) (c - 'a' + 'A') : (unsigned char) c;
}

/* Packs a valid three-letter country code (either case) into 15 bits. */
static uint64_t s_pack_country(const char *text)
{
    uint64_t code = 0;
    for (int i = 0; i < 3; i++)
        code = (code << 5) | (s_upper(text[i]) - 'A' + 1);
    return code;
}

/* Packs a valid point code of 3 to 5 letters or digits (either case) into 30 bits. */
static uint64_t s_pack_point(const char *text, size_t len)
{
    uint64_t code = 0;
    for (size_t i = 0; i < 5; i++) {
        unsigned v = 0;
        if (i < len)
            v = s_is_digit(text[i]) ? (unsigned) (text[i] - '0' + 1) : s_upper(text[i]) - 'A' + 11;
        code = (code << 6) | v;
    }
    return code;
}

/* Refuses an empty hop or one with white space in it. */
static fx_err_t s_check_shape(const char *text, size_t len, size_t pos, char *why)
{
    if (len == 0) {
        s_why(why, "hop %zu is empty (a '>' at the start or end, or two '>' in a row)", pos);
        return FX_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++)
        if (s_is_space(text[i])) {
            char shown[S_SHOW_MAX + 8];
            s_show(text, len, shown);
            s_why(why, "hop %zu '%s' contains white space", pos, shown);
            return FX_ERR_INVALID;
        }
    return FX_OK;
}

/* Parses one hop of len bytes at text (1-based position pos) into hop; on error writes why. */
static fx_err_t s_parse_hop(const char *text, size_t len, size_t pos, bool pattern, hop_t *hop,
                            char *why)
{
    char shown[S_SHOW_MAX + 8], part[S_SHOW_MAX + 8];
    s_show(text, len, shown);
    if (s_check_shape(text, len, pos, why) != FX_OK)
        return FX_ERR_INVALID;
    if (pattern && len <= 2 && memcmp(text, "**", len) == 0) {
        hop->key = 0;
        hop->kind = len == 1 ? S_HOP_ANY : S_HOP_ANY_SEQ;
        return FX_OK;
    }
    const char *colon = memchr(text, ':', len);
    size_t country_len = colon ? (size_t) (colon - text) : len;
    if (memchr(text, '*', len)) {
        if (!pattern)
            s_why(why, "hop %zu '%s': wildcards ('*', '**') are for patterns, not routes", pos,
                  shown);
        else if (colon && country_len > 0 && country_len <= 2 &&
                 memcmp(text, "**", country_len) == 0)
            s_why(why, "hop %zu '%s': a wildcard hop ('*' or '**') takes no point code", pos,
                  shown);
        else if (memchr(text, '*', country_len))
            s_why(why,
                  "hop %zu '%s' is not a wildcard: use '*' for one hop or '**' for any number "
                  "of hops",
                  pos, shown);
        else {
            s_show(text, country_len, part);
            s_why(why,
                  "hop %zu '%s': a point code cannot be a wildcard ('%s' alone matches any "
                  "point)",
                  pos, shown, part);
        }
        return FX_ERR_INVALID;
    }
    bool country_ok = country_len == 3;
    for (size_t i = 0; country_ok && i < 3; i++)
        country_ok = s_is_letter(text[i]);
    if (!country_ok) {
        if (colon) {
            s_show(text, country_len, part);
            s_why(why, "hop %zu '%s': '%s' is not a country code (three letters)", pos, shown,
                  part);
        } else {
            s_why(why, "hop %zu '%s' is not a country code (three letters)", pos, shown);
        }
        return FX_ERR_INVALID;
    }
    hop->key = s_pack_country(text) << S_COUNTRY_SHIFT;
    hop->kind = S_HOP_COUNTRY;
    if (!colon)
        return FX_OK;
    const char *point = colon + 1;
    size_t point_len = len - country_len - 1;
    bool point_ok = point_len >= 3 && point_len <= 5;
    for (size_t i = 0; point_ok && i < point_len; i++)
        point_ok = s_is_letter(point[i]) || s_is_digit(point[i]);
    if (!point_ok) {
        if (point_len == 0) {
            s_why(why, "hop %zu '%s': the point code after ':' is missing", pos, shown);
        } else {
            s_show(point, point_len, part);
            s_why(why, "hop %zu '%s': '%s' is not a point code (3 to 5 letters or digits)", pos,
                  shown, part);
        }
        return FX_ERR_INVALID;
    }
    hop->key |= s_pack_point(point, point_len);
    hop->kind = S_HOP_POINT;
    return FX_OK;
}

/* Parses a whole route or pattern: at most max_hops hops into hops, the count into count_p, and
 * the upper-cased text into out (room for max_hops hops). */
static fx_err_t s_parse(const char *text, bool pattern, size_t max_hops, hop_t *hops,
                        size_t *count_p, char *out, char *why)
{
    const char *what = pattern ? "pattern" : "route";
    if (!text || !*text) {
        s_why(why, "the %s is empty", what);
        return FX_ERR_INVALID;
    }
    /* Empty hops and white space first: they say the text is not a route at all, and a
     * message about them is clearer than one about a hop that looks too short. */
    size_t pos = 1;
    for (const char *hop = text;; pos++) {
        const char *end = strchr(hop, '>');
        size_t len = end ? (size_t) (end - hop) : strlen(hop);
        if (s_check_shape(hop, len, pos, why) != FX_OK)
            return FX_ERR_INVALID;
        if (!end)
            break;
        hop = end + 1;
    }
    size_t count = 0;
    const char *hop = text;
    for (;;) {
        const char *end = strchr(hop, '>');
        size_t len = end ? (size_t) (end - hop) : strlen(hop);
        hop_t parsed;
        fx_err_t rc = s_parse_hop(hop, len, count + 1, pattern, &parsed, why);
        if (rc != FX_OK)
            return rc;
        if (count == max_hops) {
            char shown[S_SHOW_MAX + 8];
            s_show(hop, len, shown);
            s_why(why, "hop %zu '%s': a %s has at most %zu hops", count + 1, shown, what, max_hops);
            return FX_ERR_INVALID;
        }
        hops[count++] = parsed;
        if (!end)
            break;
        hop = end + 1;
    }
    /* Every hop is now known to be short and plain ASCII, so the text fits. */
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i++)
        out[i] = (char) s_upper(text[i]);
    out[len] = '\0';
    *count_p = count;
    return FX_OK;
}

fx_err_t fx_route_parse(const char *text, fx_route_t **route_p, char *why)
{
    if (!route_p) {
        s_why(why, "no place to put the route");
        return FX_ERR_INVALID;
    }
    *route_p = NULL;
    hop_t hops[FX_ROUTE_MAX_HOPS];
    fx_route_t *self = fx_calloc(1, sizeof *self);
    fx_err_t rc = s_parse(text, false, FX_ROUTE_MAX_HOPS, hops, &self->hop_count, self->text, why);
    if (rc != FX_OK)
        goto cleanup;
    for (size_t i = 0; i < self->hop_count; i++)
        self->hops[i] = hops[i].key;
    *route_p = self;
    self = NULL;
cleanup:
    fx_route_destroy(&self);
    return rc;
}

void fx_route_destroy(fx_route_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *fx_route_text(const fx_route_t *self)
{
    return self ? self->text : NULL;
}

size_t fx_route_hop_count(const fx_route_t *self)
{
    return self ? self->hop_count : 0;
}

fx_err_t fx_route_pattern_parse(const char *text, fx_route_pattern_t **pattern_p, char *why)
{
    if (!pattern_p) {
        s_why(why, "no place to put the pattern");
        return FX_ERR_INVALID;
    }
    *pattern_p = NULL;
    hop_t hops[FX_PATTERN_MAX_HOPS];
    char text_out[S_PATTERN_TEXT_MAX];
    size_t hop_count = 0;
    fx_err_t rc = s_parse(text, true, FX_PATTERN_MAX_HOPS, hops, &hop_count, text_out, why);
    if (rc != FX_OK)
        return rc;
    size_t text_len = strlen(text_out);
    fx_route_pattern_t *self =
        fx_calloc(1, sizeof *self + hop_count * sizeof *self->hops + text_len + 1);
    self->hop_count = hop_count;
    memcpy(self->hops, hops, hop_count * sizeof *hops);
    self->text = (char *) &self->hops[hop_count];
    memcpy(self->text, text_out, text_len + 1);
    for (size_t i = 0; i < self->hop_count; i++) {
        if (self->hops[i].kind == S_HOP_ANY_SEQ) {
            self->has_any_seq = true;
            self->any_seq_mask |= UINT64_C(1) << i;
        } else {
            self->min_hops++;
        }
    }
    *pattern_p = self;
    return FX_OK;
}

void fx_route_pattern_destroy(fx_route_pattern_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *fx_route_pattern_text(const fx_route_pattern_t *self)
{
    return self ? self->text : NULL;
}

size_t fx_route_pattern_hop_count(const fx_route_pattern_t *self)
{
    return self ? self->hop_count : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Matching one pattern */

/* Whether a concrete pattern hop accepts a route hop: a country alone accepts any point. */
static bool s_hop_accepts(const hop_t *hop, uint64_t route_hop)
{
    if (hop->kind == S_HOP_COUNTRY)
        return S_COUNTRY_OF(route_hop) == S_COUNTRY_OF(hop->key);
    return route_hop == hop->key;
}

/* Adds to a state set every state reachable through '**' matching zero hops. */
static uint64_t s_closure(const fx_route_pattern_t *pattern, uint64_t states)
{
    uint64_t pending = states & pattern->any_seq_mask;
    while (pending) {
        int j = __builtin_ctzll(pending);
        pending &= pending - 1;
        uint64_t next = UINT64_C(1) << (j + 1);
        if (!(states & next)) {
            states |= next;
            pending |= next & pattern->any_seq_mask;
        }
    }
    return states;
}

/* A simulation of the pattern's automaton: state j means "hops 0..j-1 of the pattern have
 * matched". The set of live states is a bit mask, so the work is at most route hops x pattern
 * hops whatever the '**', with no backtracking. */
int fx_route_pattern_match(const fx_route_pattern_t *pattern, const fx_route_t *route)
{
    if (!pattern || !route)
        return 0;
    if (route->hop_count < pattern->min_hops ||
        (!pattern->has_any_seq && route->hop_count != pattern->hop_count))
        return 0;
    uint64_t states = s_closure(pattern, 1);
    for (size_t i = 0; i < route->hop_count && states; i++) {
        uint64_t next = 0, live = states & ~(UINT64_C(1) << pattern->hop_count);
        while (live) {
            int j = __builtin_ctzll(live);
            live &= live - 1;
            const hop_t *hop = &pattern->hops[j];
            if (hop->kind == S_HOP_ANY_SEQ)
                next |= UINT64_C(1) << j;
            else if (hop->kind == S_HOP_ANY || s_hop_accepts(hop, route->hops[i]))
                next |= UINT64_C(1) << (j + 1);
        }
        states = s_closure(pattern, next);
    }
    return (states >> pattern->hop_count) & 1;
}

/* ------------------------------------------------------------------------------------------ */
/* The subscription index: a trie over pattern hops. A node stands for a pattern prefix; its
 * children are reached by a concrete hop (kept sorted by packed key for binary search), by '*'
 * or by '**'. A node reached by '**' loops on any hop. Matching walks the route through the trie
 * keeping the set of live nodes, as fx_route_pattern_match does for one pattern, so the work
 * depends on the patterns that share the route's prefixes, not on how many patterns there are. */

#define S_ROOT 0u
#define S_NONE 0u /* as a child index: the root is nobody's child */

typedef struct {
    uint64_t key; /* a concrete pattern hop: country, and point or 0 */
    uint32_t node;
} edge_t;

typedef struct {
    edge_t *edges; /* concrete children, sorted by key */
    uint32_t edge_count, edge_cap;
    uint32_t any;     /* child by '*', or S_NONE */
    uint32_t any_seq; /* child by '**', or S_NONE */
    bool loops;       /* reached by '**': stays live on every hop */
    uint64_t *ids;    /* ids of the patterns that end here, sorted */
    size_t id_count, id_cap;
} node_t;

struct fx_route_index {
    node_t *nodes;
    uint32_t node_count, node_cap;
    uint32_t *free_nodes; /* indexes of pruned nodes, reused first */
    uint32_t free_count, free_cap;
    size_t size; /* (pattern, id) pairs */
};

fx_route_index_t *fx_route_index_new(void)
{
    fx_route_index_t *self = fx_calloc(1, sizeof *self);
    self->node_cap = 64;
    self->nodes = fx_calloc(self->node_cap, sizeof *self->nodes);
    self->node_count = 1; /* the root, zeroed */
    return self;
}

void fx_route_index_destroy(fx_route_index_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_route_index_t *self = *self_p;
    for (uint32_t i = 0; i < self->node_count; i++) {
        free(self->nodes[i].edges);
        free(self->nodes[i].ids);
    }
    free(self->nodes);
    free(self->free_nodes);
    free(self);
    *self_p = NULL;
}

size_t fx_route_index_size(const fx_route_index_t *self)
{
    return self ? self->size : 0;
}

/* The position of the first edge with a key >= key (binary search). */
static uint32_t s_edge_lower_bound(const node_t *node, uint64_t key)
{
    uint32_t lo = 0, hi = node->edge_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (node->edges[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The child of node by the concrete hop key, or S_NONE. */
static uint32_t s_edge_find(const node_t *node, uint64_t key)
{
    uint32_t at = s_edge_lower_bound(node, key);
    return at < node->edge_count && node->edges[at].key == key ? node->edges[at].node : S_NONE;
}

/* The child of node by a pattern hop, or S_NONE. */
static uint32_t s_child(const node_t *node, const hop_t *hop)
{
    if (hop->kind == S_HOP_ANY)
        return node->any;
    if (hop->kind == S_HOP_ANY_SEQ)
        return node->any_seq;
    return s_edge_find(node, hop->key);
}

/* A new empty node (a pruned one if there is one). Invalidates node pointers. */
static uint32_t s_node_new(fx_route_index_t *self)
{
    if (self->free_count > 0)
        return self->free_nodes[--self->free_count];
    if (self->node_count == self->node_cap) {
        self->node_cap *= 2;
        self->nodes = fx_realloc(self->nodes, self->node_cap * sizeof *self->nodes);
    }
    uint32_t index = self->node_count++;
    memset(&self->nodes[index], 0, sizeof self->nodes[index]);
    return index;
}

/* The child of parent by hop, created if missing. */
static uint32_t s_child_add(fx_route_index_t *self, uint32_t parent, const hop_t *hop)
{
    uint32_t child = s_child(&self->nodes[parent], hop);
    if (child != S_NONE)
        return child;
    child = s_node_new(self);
    node_t *node = &self->nodes[parent];
    if (hop->kind == S_HOP_ANY) {
        node->any = child;
    } else if (hop->kind == S_HOP_ANY_SEQ) {
        node->any_seq = child;
        self->nodes[child].loops = true;
    } else {
        if (node->edge_count == node->edge_cap) {
            node->edge_cap = node->edge_cap ? node->edge_cap * 2 : 4;
            node->edges = fx_realloc(node->edges, node->edge_cap * sizeof *node->edges);
        }
        uint32_t at = s_edge_lower_bound(node, hop->key);
        memmove(&node->edges[at + 1], &node->edges[at],
                (node->edge_count - at) * sizeof *node->edges);
        node->edges[at] = (edge_t){hop->key, child};
        node->edge_count++;
    }
    return child;
}

fx_err_t fx_route_index_add(fx_route_index_t *self, const fx_route_pattern_t *pattern, uint64_t id)
{
    if (!self || !pattern)
        return FX_ERR_INVALID;
    if (self->node_count > UINT32_MAX / 4) /* node indexes are 32 bits; far beyond real use */
        return FX_ERR_LIMIT;
    uint32_t at = S_ROOT;
    for (size_t i = 0; i < pattern->hop_count; i++)
        at = s_child_add(self, at, &pattern->hops[i]);
    node_t *node = &self->nodes[at];
    size_t pos = fx_lower_bound_u64(node->ids, node->id_count, id);
    if (pos < node->id_count && node->ids[pos] == id)
        return FX_OK;
    if (node->id_count == node->id_cap) {
        node->id_cap = node->id_cap ? node->id_cap * 2 : 2;
        node->ids = fx_realloc(node->ids, node->id_cap * sizeof *node->ids);
    }
    memmove(&node->ids[pos + 1], &node->ids[pos], (node->id_count - pos) * sizeof *node->ids);
    node->ids[pos] = id;
    node->id_count++;
    self->size++;
    return FX_OK;
}

/* Unlinks the empty child of parent by hop and keeps its index for reuse. */
static void s_prune(fx_route_index_t *self, uint32_t parent, const hop_t *hop, uint32_t child)
{
    node_t *node = &self->nodes[parent];
    if (hop->kind == S_HOP_ANY) {
        node->any = S_NONE;
    } else if (hop->kind == S_HOP_ANY_SEQ) {
        node->any_seq = S_NONE;
    } else {
        uint32_t at = s_edge_lower_bound(node, hop->key);
        memmove(&node->edges[at], &node->edges[at + 1],
                (node->edge_count - at - 1) * sizeof *node->edges);
        node->edge_count--;
    }
    node_t *gone = &self->nodes[child];
    free(gone->edges);
    free(gone->ids);
    memset(gone, 0, sizeof *gone);
    if (self->free_count == self->free_cap) {
        self->free_cap = self->free_cap ? self->free_cap * 2 : 16;
        self->free_nodes = fx_realloc(self->free_nodes, self->free_cap * sizeof *self->free_nodes);
    }
    self->free_nodes[self->free_count++] = child;
}

int fx_route_index_remove(fx_route_index_t *self, const fx_route_pattern_t *pattern, uint64_t id)
{
    if (!self || !pattern)
        return -1;
    uint32_t path[FX_PATTERN_MAX_HOPS + 1];
    path[0] = S_ROOT;
    for (size_t i = 0; i < pattern->hop_count; i++) {
        path[i + 1] = s_child(&self->nodes[path[i]], &pattern->hops[i]);
        if (path[i + 1] == S_NONE)
            return -1;
    }
    node_t *node = &self->nodes[path[pattern->hop_count]];
    size_t pos = fx_lower_bound_u64(node->ids, node->id_count, id);
    if (pos == node->id_count || node->ids[pos] != id)
        return -1;
    memmove(&node->ids[pos], &node->ids[pos + 1], (node->id_count - pos - 1) * sizeof *node->ids);
    node->id_count--;
    self->size--;
    /* Prune the nodes left with nothing, from the end of the pattern back. */
    for (size_t i = pattern->hop_count; i > 0; i--) {
        const node_t *leaf = &self->nodes[path[i]];
        if (leaf->id_count || leaf->edge_count || leaf->any != S_NONE || leaf->any_seq != S_NONE)
            break;
        s_prune(self, path[i - 1], &pattern->hops[i - 1], path[i]);
    }
    return 0;
}

/* A growable array that starts in place, so most matches allocate nothing. */
#define S_INLINE 64
typedef struct {
    uint32_t *items;
    size_t count, cap;
    uint32_t inline_items[S_INLINE];
} node_set_t;

static void s_set_init(node_set_t *set)
{
    set->items = set->inline_items;
    set->count = 0;
    set->cap = S_INLINE;
}

static void s_set_free(node_set_t *set)
{
    if (set->items != set->inline_items)
        free(set->items);
}

static void s_set_push(node_set_t *set, uint32_t node)
{
    if (set->count == set->cap) {
        set->cap *= 2;
        if (set->items == set->inline_items) {
            set->items = fx_malloc(set->cap * sizeof *set->items);
            memcpy(set->items, set->inline_items, sizeof set->inline_items);
        } else {
            set->items = fx_realloc(set->items, set->cap * sizeof *set->items);
        }
    }
    set->items[set->count++] = node;
}

static int s_compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return (x > y) - (x < y);
}

/* Sorts the set and drops duplicates: insertion sort for the small sets most hops give. */
static void s_set_sort_unique(node_set_t *set)
{
    if (set->count < 2)
        return;
    if (set->count <= 32) {
        for (size_t i = 1; i < set->count; i++) {
            uint32_t item = set->items[i];
            size_t j = i;
            for (; j > 0 && set->items[j - 1] > item; j--)
                set->items[j] = set->items[j - 1];
            set->items[j] = item;
        }
    } else {
        qsort(set->items, set->count, sizeof *set->items, s_compare_u32);
    }
    size_t kept = 1;
    for (size_t i = 1; i < set->count; i++)
        if (set->items[i] != set->items[kept - 1])
            set->items[kept++] = set->items[i];
    set->count = kept;
}

/* Whether node is among the first sorted items of the set (binary search). */
static bool s_set_has(const node_set_t *set, size_t sorted, uint32_t node)
{
    size_t lo = 0, hi = sorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->items[mid] < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sorted && set->items[lo] == node;
}

/* Drops duplicates, then adds the nodes reachable by '**' matching zero hops. A '**' child is
 * added only by its one parent, which is in the set once, so checking the deduplicated part
 * is enough to keep the whole set free of duplicates, even along chains like '**>**>**'. */
static void s_set_close(const fx_route_index_t *self, node_set_t *set)
{
    s_set_sort_unique(set);
    size_t sorted = set->count;
    for (size_t i = 0; i < set->count; i++) {
        uint32_t child = self->nodes[set->items[i]].any_seq;
        if (child != S_NONE && !s_set_has(set, sorted, child))
            s_set_push(set, child);
    }
}

/* Calls found once for each distinct id held by the live nodes (total ids in all), using an
 * open-addressing hash set that lives on the stack unless the ids are many. */
#define S_ID_SLOTS 1024
static size_t s_report_ids(const fx_route_index_t *self, const node_set_t *live, size_t total,
                           void (*found)(uint64_t id, void *arg), void *arg)
{
    uint64_t stack_keys[S_ID_SLOTS];
    uint8_t stack_used[S_ID_SLOTS];
    size_t slots = 16;
    int bits = 4;
    while (slots < 2 * total) {
        slots *= 2;
        bits++;
    }
    uint64_t *keys = slots <= S_ID_SLOTS ? stack_keys : fx_malloc(slots * sizeof *keys);
    uint8_t *used = slots <= S_ID_SLOTS ? stack_used : fx_malloc(slots);
    memset(used, 0, slots);
    size_t matched = 0;
    for (size_t k = 0; k < live->count; k++) {
        const node_t *node = &self->nodes[live->items[k]];
        for (size_t j = 0; j < node->id_count; j++) {
            uint64_t id = node->ids[j];
            size_t slot = (size_t) ((id * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - bits));
            while (used[slot] && keys[slot] != id)
                slot = (slot + 1) & (slots - 1);
            if (used[slot])
                continue;
            used[slot] = 1;
            keys[slot] = id;
            matched++;
            if (found)
                found(id, arg);
        }
    }
    if (keys != stack_keys)
        free(keys);
    if (used != stack_used)
        free(used);
    return matched;
}

size_t fx_route_index_match(const fx_route_index_t *self, const fx_route_t *route,
                            void (*found)(uint64_t id, void *arg), void *arg)
{
    if (!self || !route)
        return 0;
    node_set_t sets[2];
    s_set_init(&sets[0]);
    s_set_init(&sets[1]);
    node_set_t *live = &sets[0], *next = &sets[1];
    s_set_push(live, S_ROOT);
    s_set_close(self, live);
    for (size_t i = 0; i < route->hop_count && live->count; i++) {
        uint64_t hop = route->hops[i];
        uint64_t country_only = S_COUNTRY_OF(hop) << S_COUNTRY_SHIFT;
        next->count = 0;
        for (size_t k = 0; k < live->count; k++) {
            const node_t *node = &self->nodes[live->items[k]];
            if (node->loops)
                s_set_push(next, live->items[k]);
            if (node->any != S_NONE)
                s_set_push(next, node->any);
            if (node->edge_count) {
                uint32_t child = s_edge_find(node, country_only);
                if (child != S_NONE)
                    s_set_push(next, child);
                if (hop != country_only && (child = s_edge_find(node, hop)) != S_NONE)
                    s_set_push(next, child);
            }
        }
        s_set_close(self, next);
        node_set_t *swap = live;
        live = next;
        next = swap;
    }

    /* Each id once, even when several of its patterns matched. */
    size_t holders = 0, total = 0;
    const node_t *only = NULL;
    for (size_t k = 0; k < live->count; k++) {
        const node_t *node = &self->nodes[live->items[k]];
        if (node->id_count) {
            holders++;
            total += node->id_count;
            only = node;
        }
    }
    size_t matched = 0;
    if (holders == 1) {
        matched = only->id_count;
        for (size_t j = 0; found && j < matched; j++)
            found(only->ids[j], arg);
    } else if (holders > 1) {
        matched = s_report_ids(self, live, total, found, arg);
    }
    s_set_free(&sets[0]);
    s_set_free(&sets[1]);
    return matched;
}
