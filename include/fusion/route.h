/* Migration routes (MMR>THA>MYS, LKA:CMB>ARE>DEU), route patterns with `*` and `**`, and an index
 * that finds every subscription pattern matching a route. DESIGN.md, section Routes. */
#ifndef FUSION_ROUTE_H
#define FUSION_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/util.h"

#define FX_ROUTE_MAX_HOPS   12
#define FX_PATTERN_MAX_HOPS 32
#define FX_ROUTE_WHY_SIZE   160

typedef struct fx_route fx_route_t;                 /* a parsed route, normalised to upper case */
typedef struct fx_route_pattern fx_route_pattern_t; /* a parsed route pattern */
typedef struct fx_route_index fx_route_index_t;     /* many patterns, matched at once */

/* Parses a route. On error returns FX_ERR_INVALID and writes into why (FX_ROUTE_WHY_SIZE bytes)
 * a sentence naming the bad hop, e.g. "hop 2 'THAI' is not a country code (three letters)". */
fx_err_t fx_route_parse(const char *text, fx_route_t **route_p, char *why) FX_WUR;
void fx_route_destroy(fx_route_t **self_p);
/* The normalised text ("MMR>THA:BKK>MYS"). */
const char *fx_route_text(const fx_route_t *self);
size_t fx_route_hop_count(const fx_route_t *self);

/* Parses a route pattern; errors as fx_route_parse. */
fx_err_t fx_route_pattern_parse(const char *text, fx_route_pattern_t **pattern_p, char *why) FX_WUR;
void fx_route_pattern_destroy(fx_route_pattern_t **self_p);
const char *fx_route_pattern_text(const fx_route_pattern_t *self);
/* The number of hops in the pattern, counting each '*' and '**' as one. */
size_t fx_route_pattern_hop_count(const fx_route_pattern_t *self);

/* 1 if the pattern matches the whole route, else 0. Linear in hops x pattern length. */
int fx_route_pattern_match(const fx_route_pattern_t *pattern, const fx_route_t *route);

/* The subscription index: patterns with a caller's 64-bit id each (a subscription row). */
fx_route_index_t *fx_route_index_new(void);
void fx_route_index_destroy(fx_route_index_t **self_p);
/* Adds a pattern under id; the same (pattern, id) twice is stored once. */
fx_err_t fx_route_index_add(fx_route_index_t *self, const fx_route_pattern_t *pattern,
                            uint64_t id) FX_WUR;
/* Removes (pattern, id); 0 if it was there, -1 if not. */
int fx_route_index_remove(fx_route_index_t *self, const fx_route_pattern_t *pattern, uint64_t id);
size_t fx_route_index_size(const fx_route_index_t *self);
/* Calls found(id, arg) once for each id whose pattern matches the route; returns how many. */
size_t fx_route_index_match(const fx_route_index_t *self, const fx_route_t *route,
                            void (*found)(uint64_t id, void *arg), void *arg);

#endif
