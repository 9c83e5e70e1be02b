/* The compiled form of a sharing policy, shared by lib/policy.c (loading and compiling) and
 * lib/policy_eval.c (deciding). Private to libfusion: not installed, not for other modules. */
#ifndef FUSION_POLICY_INTERNAL_H
#define FUSION_POLICY_INTERNAL_H

#include <stdint.h>

#include "fusion/policy.h"
#include "fusion/route.h"

/* The fields a condition can test. Those from F_RECIPIENT_FIRST on depend on the recipient and
 * are evaluated per pair; the others once per (message, section). */
typedef enum {
    F_KIND,
    F_AUDIENCE,
    F_PURPOSE,
    F_SUBJECT_ROLE,
    F_STAGE,
    F_TLP,
    F_CATEGORIES,
    F_SENDER_COUNTRY,
    F_SENDER_AGENCY,
    F_SENDER_ID,
    F_SENDER_ROLES,
    F_CONSENT,
    F_EXERCISE,
    F_ROUTE,
    F_RECIPIENT_COUNTRY,
    F_RECIPIENT_AGENCY,
    F_RECIPIENT_ID,
    F_RECIPIENT_ROLES,
    F_CROSS_BORDER,
    F_COUNT_
} policy_field_t;

#define F_RECIPIENT_FIRST F_RECIPIENT_COUNTRY

typedef enum {
    OP_MASK, /* single-valued enumeration: holds iff bit(value) is in mask (bit 0, absent, never) */
    OP_IN,   /* country or symbol in vals */
    OP_NOT_IN, /* country or symbol present and not in vals */
    OP_ANY,    /* set & mask != 0 */
    OP_ALL,    /* mask != 0 and set contains mask (an empty all_of never holds) */
    OP_NONE,   /* set & mask == 0 */
    OP_BOOL,   /* value == mask */
    OP_ROUTE   /* the message's route matches pattern */
} policy_op_t;

typedef struct {
    uint8_t field; /* policy_field_t */
    uint8_t op;    /* policy_op_t */
    uint32_t mask;
    uint32_t nvals;
    uint32_t *vals; /* sorted: packed countries or interned symbols */
    fx_route_pattern_t *pattern;
} policy_cond_t;

typedef struct {
    char *id;
    char *guideline;
    int permit;
    policy_cond_t *conds; /* message-level conditions first, then recipient-level ones */
    uint32_t nmsg, nrcpt;
} policy_rule_t;

typedef struct {
    char *id;
    uint32_t *parties; /* packed countries */
    uint32_t nparties;
    uint32_t categories, purposes;
    int64_t from, until; /* valid when has_from / has_until */
    int has_from, has_until;
} policy_agreement_t;

/* A taskforce (members, optional dates) or an exercise (participants, an optional speed). */
typedef struct {
    char *id;
    uint32_t *members; /* sorted symbols of agencies and principal ids */
    uint32_t nmembers;
    int64_t from, until;
    int has_from, has_until;
    int speed; /* an exercise: its clock's exercise seconds per real second (1: real time) */
} policy_group_t;

typedef struct {
    uint32_t country; /* packed */
    uint32_t protected_categories;
} policy_country_t;

/* Interned strings (principal ids and agencies named anywhere in the policy): symbol s >= 1 is
 * strings[s - 1]; 0 means "not named by the policy". */
typedef struct {
    char **strings;
    uint32_t count, cap;
    uint32_t *slots; /* open addressing, 0 empty, else symbol */
    uint32_t nslots; /* a power of two */
} policy_symtab_t;

struct fx_policy {
    char *name;
    int default_permit;
    uint32_t protected_categories;
    policy_country_t *countries;
    uint32_t ncountries;
    int64_t deadline_urgent, deadline_normal; /* ms, 0 none */
    policy_rule_t *rules;
    uint32_t nrules;
    policy_agreement_t *agreements;
    uint32_t nagreements;
    policy_group_t *taskforces;
    uint32_t ntaskforces;
    policy_group_t *exercises;
    uint32_t nexercises;
    policy_symtab_t symbols;
};

/* Packs a three-letter country code, upper-cased, into an integer; 0 if text is not three ASCII
 * letters. */
uint32_t fx_policy_country_pack(const char *text);
/* Writes a packed country as three upper-case letters and a NUL. */
void fx_policy_country_unpack(uint32_t packed, char out[4]);
/* The symbol of text, or 0 if the policy never names it. */
uint32_t fx_policy_symbol_find(const policy_symtab_t *table, const char *text);
/* 1 if the sorted array holds value (binary search past a few entries). */
int fx_policy_sorted_has(const uint32_t *vals, uint32_t n, uint32_t value);
/* 1 if the time is within the optional [from, until) window. */
int fx_policy_in_force(int has_from, int64_t from, int has_until, int64_t until, int64_t at);

#endif
