/* Strict YAML documents for configuration files, message drafts and scenarios: a node tree with
 * the line and column of every node, and checked getters that report each problem as
 * NAME:LINE:COLUMN: message into a diagnostics list. Aliases, tags and multiple documents are
 * refused; nesting and size are capped. */
#ifndef FUSION_YAMLDOC_H
#define FUSION_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fusion/util.h"
#include "fusion/vocab.h"

#define FX_YAML_MAX_DEPTH 32
#define FX_YAML_MAX_NODES 200000

typedef struct fx_diag fx_diag_t;           /* a list of NAME:LINE:COLUMN: message lines */
typedef struct fx_yaml fx_yaml_t;           /* a parsed document */
typedef struct fx_yaml_node fx_yaml_node_t; /* one node of it */

typedef enum { FX_YAML_SCALAR, FX_YAML_LIST, FX_YAML_MAP } fx_yaml_type_t;

/* A new, empty diagnostics list for the document called name (usually its path). */
fx_diag_t *fx_diag_new(const char *name);
void fx_diag_destroy(fx_diag_t **self_p);
/* Adds a problem at a 1-based line and column (0, 0: the whole document). */
void fx_diag_add(fx_diag_t *self, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Keeps at most max problems (0, the default: all). Past that, problems are counted but not
 * kept, and the last one listed becomes "and N more errors not shown"; the count stays at max. */
void fx_diag_set_max(fx_diag_t *self, size_t max);
size_t fx_diag_count(const fx_diag_t *self);
/* How many problems were found, those not kept included. */
size_t fx_diag_total(const fx_diag_t *self);
/* The i-th problem in line, column order: "NAME:LINE:COLUMN: message" (or "NAME: message"). */
const char *fx_diag_text(fx_diag_t *self, size_t i);
const char *fx_diag_message(fx_diag_t *self, size_t i);
unsigned fx_diag_line(fx_diag_t *self, size_t i);
unsigned fx_diag_column(fx_diag_t *self, size_t i);
/* Prints every problem, one per line, each prefixed with prefix (e.g. "fusion-broker: "). */
void fx_diag_print(fx_diag_t *self, FILE *out, const char *prefix);

/* Caps and wording for fx_yaml_parse_ex; a zero or NULL field takes the default. */
typedef struct {
    size_t max_depth; /* nesting of lists and mappings, at most FX_YAML_MAX_DEPTH (the default) */
    size_t max_nodes; /* scalars, lists and mappings; FX_YAML_MAX_NODES by default */
    const char *noun; /* what the document is, for messages: "policy" gives "YAML tags (!x) are
                       * not allowed in a policy"; by default they speak of the file/document */
} fx_yaml_limits_t;

/* Parses len bytes as one YAML document. NULL, with the problem in diag, on a syntax error, an
 * alias, a tag, a second document, or a document nested or sized beyond the caps. */
fx_yaml_t *fx_yaml_parse(const uint8_t *data, size_t len, fx_diag_t *diag);
/* As fx_yaml_parse, with the caps and wording of limits (NULL: the defaults). */
fx_yaml_t *fx_yaml_parse_ex(const uint8_t *data, size_t len, fx_diag_t *diag,
                            const fx_yaml_limits_t *limits);
/* Reads and parses a file of at most max_bytes (the problem goes to diag, named as it is). */
fx_yaml_t *fx_yaml_load(const char *path, size_t max_bytes, fx_diag_t *diag);
void fx_yaml_destroy(fx_yaml_t **self_p);
/* The document's root node; an empty document has a null scalar root. */
const fx_yaml_node_t *fx_yaml_root(const fx_yaml_t *self);

fx_yaml_type_t fx_yaml_type(const fx_yaml_node_t *node);
unsigned fx_yaml_line(const fx_yaml_node_t *node);
unsigned fx_yaml_column(const fx_yaml_node_t *node);
/* 1 for an empty or ~/null plain scalar. */
int fx_yaml_is_null(const fx_yaml_node_t *node);
/* A scalar's text (NUL-terminated; check fx_yaml_length for embedded NULs), or NULL. */
const char *fx_yaml_text(const fx_yaml_node_t *node);
size_t fx_yaml_length(const fx_yaml_node_t *node);
/* 1 for a plain (unquoted) scalar. */
int fx_yaml_plain(const fx_yaml_node_t *node);
/* Items of a list, or key/value pairs of a mapping. */
size_t fx_yaml_count(const fx_yaml_node_t *node);
const fx_yaml_node_t *fx_yaml_item(const fx_yaml_node_t *node, size_t i);
const fx_yaml_node_t *fx_yaml_key(const fx_yaml_node_t *node, size_t i);
const fx_yaml_node_t *fx_yaml_value(const fx_yaml_node_t *node, size_t i);
/* "a mapping", "a list", "a value" or "nothing", for messages. */
const char *fx_yaml_type_name(const fx_yaml_node_t *node);

/* Reports a problem at node. */
void fx_yaml_error(fx_diag_t *diag, const fx_yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies text for a message: printable ASCII kept, other bytes as '?', at most 60 characters. */
const char *fx_yaml_shown(const char *text, size_t len, char buf[72]);

/* Checked getters: each reports what is wrong at the node, naming `what`, and fails. */

/* Walks a mapping with a fixed set of keys: reports a non-mapping, non-word keys, duplicate and
 * unknown keys; found[k] receives the value of keys[k] or NULL. 0, or -1 if not a mapping. */
int fx_yaml_fields(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what,
                   const char *const *keys, size_t nkeys, const fx_yaml_node_t **found);
/* Reports non-word and duplicate keys of a mapping; skip[p] (caller frees) flags pairs to skip.
 * For mappings with free keys (ids). */
unsigned char *fx_yaml_check_keys(fx_diag_t *diag, const fx_yaml_node_t *map, const char *what);
/* A single non-null value without NUL bytes, or NULL. */
const char *fx_yaml_scalar(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what);
/* A list (a null value counts as an empty list); -1 for anything else. */
int fx_yaml_list(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, size_t *count_p);
/* true or false (plain) only. */
int fx_yaml_bool(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int *value_p);
/* A decimal integer in [min, max]. */
int fx_yaml_int(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, long long min,
                long long max, long long *value_p);
/* A duration: a positive integer followed by ms, s, m, h or d ("8h", "500ms"), in ms. */
int fx_yaml_duration(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int64_t *ms_p);
/* A file path (caller frees): absolute, relative to base (the configuration file's directory),
 * or "credential:NAME", a file systemd passed with LoadCredential= ($CREDENTIALS_DIRECTORY/NAME;
 * an error when the variable is unset or NAME is not a plain file name). */
char *fx_yaml_path(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, const char *base);
/* YYYY-MM-DD or an RFC 3339 timestamp, in ms. */
int fx_yaml_date(fx_diag_t *diag, const fx_yaml_node_t *node, const char *what, int64_t *ms_p);
/* One enumeration word; its value, or -1. */
int fx_yaml_word(fx_diag_t *diag, const fx_yaml_node_t *node, fx_vocab_t vocab, const char *what);
/* A list of enumeration words (or one word when allow_single) into a bit mask. */
int fx_yaml_word_mask(fx_diag_t *diag, const fx_yaml_node_t *node, fx_vocab_t vocab,
                      const char *what, int allow_single, uint32_t *mask_p);

/* Parses a duration text as fx_yaml_duration does. 0 or -1. */
int fx_duration_parse(const char *text, int64_t *ms_p) FX_WUR;

#endif
