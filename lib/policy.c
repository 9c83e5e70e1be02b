/* Loading a sharing policy: yamldoc reads the YAML into a tree with positions, under the policy's
 * caps; a strict schema walk reports every problem as NAME:LINE:COLUMN: message and compiles the
 * policy into bit masks, packed countries and interned symbols (policy_internal.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fusion/keys.h"
#include "fusion/vocab.h"
#include "fusion/yamldoc.h"
#include "policy_internal.h"

#define MAX_DEPTH      16     /* the schema needs 7 levels */
#define MAX_NODES      100000 /* scalars, lists and mappings in one policy */
#define MAX_ERRORS     200    /* further errors are summarised in one line */
#define MAX_ID_LEN     128
#define MAX_GUIDELINE  1024
#define MAX_DURATION_S (10LL * 366 * 24 * 3600)

/* ---- Error list ------------------------------------------------------------------------------ */

/* The public error list is the loader's diagnostics, capped at MAX_ERRORS. */
struct fx_policy_errors {
    fx_diag_t *diag;
};

size_t fx_policy_errors_count(const fx_policy_errors_t *self)
{
    return self ? fx_diag_count(self->diag) : 0;
}

size_t fx_policy_errors_total(const fx_policy_errors_t *self)
{
    return self ? fx_diag_total(self->diag) : 0;
}

const char *fx_policy_errors_text(const fx_policy_errors_t *self, size_t index)
{
    return self ? fx_diag_text(self->diag, index) : NULL;
}

const char *fx_policy_errors_message(const fx_policy_errors_t *self, size_t index)
{
    return self ? fx_diag_message(self->diag, index) : NULL;
}

unsigned fx_policy_errors_line(const fx_policy_errors_t *self, size_t index)
{
    return self ? fx_diag_line(self->diag, index) : 0;
}

unsigned fx_policy_errors_column(const fx_policy_errors_t *self, size_t index)
{
    return self ? fx_diag_column(self->diag, index) : 0;
}

void fx_policy_errors_destroy(fx_policy_errors_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_diag_destroy(&(*self_p)->diag);
    free(*self_p);
    *self_p = NULL;
}

/* Takes ownership of diag. */
static fx_policy_errors_t *s_errors_new(fx_diag_t **diag_p)
{
    fx_policy_errors_t *self = fx_calloc(1, sizeof *self);
    self->diag = *diag_p;
    *diag_p = NULL;
    return self;
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

/* ---- Policy-specific getters ----------------------------------------------------------------- */

typedef struct {
    fx_diag_t *diag;
    fx_policy_t *policy;
} loader_t;

static int s_country(loader_t *ld, const fx_yaml_node_t *node, const char *what, uint32_t *packed_p)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return -1;
    *packed_p = fx_policy_country_pack(text);
    if (*packed_p)
        return 0;
    char shown[72];
    fx_yaml_error(ld->diag, node,
                  "'%s' is not a country code (expected three letters, ISO 3166-1 alpha-3, "
                  "such as THA)",
                  fx_yaml_shown(text, fx_yaml_length(node), shown));
    return -1;
}

/* An id of a rule, agreement, taskforce or exercise: 1 to 128 bytes, no control characters. */
static char *s_id(loader_t *ld, const fx_yaml_node_t *node, const char *what)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return NULL;
    size_t len = fx_yaml_length(node);
    if (len == 0 || len > MAX_ID_LEN) {
        fx_yaml_error(ld->diag, node, "%s must have 1 to %d characters", what, MAX_ID_LEN);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c < 0x20 || c == 0x7f || (c == ' ' && (i == 0 || i + 1 == len))) {
            fx_yaml_error(ld->diag, node,
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
static int s_party(loader_t *ld, const fx_yaml_node_t *node, const char *what, int want,
                   uint32_t *sym_p)
{
    const char *written = fx_yaml_scalar(ld->diag, node, what);
    if (!written)
        return -1;
    char text[FX_ID_MAX];
    if (fx_yaml_length(node) >= sizeof text || strlen(written) != fx_yaml_length(node))
        text[0] = '\0'; /* too long, or with a NUL: neither form */
    else
        memcpy(text, written, fx_yaml_length(node) + 1);
    fx_party_country_upper(text);
    int is_principal = fx_principal_id_valid(text);
    int is_agency = !is_principal && fx_agency_id_valid(text);
    char shown[72];
    if ((want == 'a' && !is_agency) || (want == 'p' && !is_principal) ||
        (want == 'e' && !is_agency && !is_principal)) {
        fx_yaml_error(ld->diag, node, "'%s' is not %s",
                      fx_yaml_shown(written, fx_yaml_length(node), shown),
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
    const fx_yaml_node_t *node;
} id_ref_t;

static int s_id_ref_order(const void *a, const void *b)
{
    const id_ref_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    unsigned xl = fx_yaml_line(x->node), yl = fx_yaml_line(y->node);
    return xl != yl ? (xl < yl ? -1 : 1)
                    : (fx_yaml_column(x->node) < fx_yaml_column(y->node) ? -1 : 1);
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
            fx_yaml_error(ld->diag, refs[i].node,
                          "duplicate %s id '%s' (first at line %u, column %u)", kind,
                          fx_yaml_shown(refs[i].id, strlen(refs[i].id), shown),
                          fx_yaml_line(refs[first].node), fx_yaml_column(refs[first].node));
    }
}

/* The optional from/until window; reports malformed dates and from not before until. */
static int s_window(loader_t *ld, const fx_yaml_node_t *from, const fx_yaml_node_t *until,
                    const char *what, int *has_from, int64_t *from_ms, int *has_until,
                    int64_t *until_ms)
{
    int rc = 0;
    *has_from = *has_until = 0;
    if (from) {
        if (fx_yaml_date(ld->diag, from, what, from_ms) == 0)
            *has_from = 1;
        else
            rc = -1;
    }
    if (until) {
        if (fx_yaml_date(ld->diag, until, what, until_ms) == 0)
            *has_until = 1;
        else
            rc = -1;
    }
    if (*has_from && *has_until && *from_ms >= *until_ms) {
        fx_yaml_error(ld->diag, until, "in %s, 'from' (%s) must come before 'until' (%s)", what,
                      fx_yaml_text(from), fx_yaml_text(until));
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

static void s_countries(loader_t *ld, const fx_yaml_node_t *node)
{
    if (fx_yaml_is_null(node))
        return;
    if (fx_yaml_type(node) != FX_YAML_MAP) {
        fx_yaml_error(ld->diag, node, "countries must be a mapping of country codes, found %s",
                      fx_yaml_type_name(node));
        return;
    }
    fx_policy_t *policy = ld->policy;
    unsigned char *skip = fx_yaml_check_keys(ld->diag, node, "countries");
    size_t pairs = fx_yaml_count(node);
    policy->countries = fx_calloc(pairs ? pairs : 1, sizeof *policy->countries);
    /* The key that first named each country, so that AUS and aus are one duplicate. */
    const fx_yaml_node_t **first = fx_calloc(26 * 26 * 26, sizeof *first);
    static const char *const keys[] = {"protected_categories"};
    for (size_t p = 0; p < pairs; p++) {
        if (skip[p])
            continue;
        const fx_yaml_node_t *key = fx_yaml_key(node, p), *value = fx_yaml_value(node, p);
        uint32_t packed = 0;
        int known = s_country(ld, key, "a key of countries", &packed) == 0;
        if (known && first[s_country_slot(packed)]) {
            const fx_yaml_node_t *earlier = first[s_country_slot(packed)];
            fx_yaml_error(
                ld->diag, key,
                "duplicate country '%s' in countries (first at line %u, column %u; country "
                "codes ignore case)",
                fx_yaml_text(key), fx_yaml_line(earlier), fx_yaml_column(earlier));
            known = 0;
        } else if (known) {
            first[s_country_slot(packed)] = key;
        }
        char what[96], shown[72];
        snprintf(what, sizeof what, "countries.%s",
                 fx_yaml_shown(fx_yaml_text(key), fx_yaml_length(key), shown));
        const fx_yaml_node_t *found[1];
        uint32_t mask = 0;
        if (fx_yaml_fields(ld->diag, value, what, keys, 1, found) != 0)
            continue;
        if (!found[0])
            fx_yaml_error(ld->diag, value, "missing required key 'protected_categories' in %s",
                          what);
        else if (fx_yaml_word_mask(ld->diag, found[0], FX_VOCAB_CATEGORY, "protected_categories", 0,
                                   &mask) == 0 &&
                 known)
            policy->countries[policy->ncountries++] = (policy_country_t){packed, mask};
    }
    free(first);
    free(skip);
}

/* A referral deadline: at most nine digits and a unit s, m, h or d (no ms), up to ten years. */
static int s_duration(loader_t *ld, const fx_yaml_node_t *node, const char *what, int64_t *ms_p)
{
    const char *text = fx_yaml_scalar(ld->diag, node, what);
    if (!text)
        return -1;
    size_t len = fx_yaml_length(node), digits = strspn(text, "0123456789");
    char shown[72];
    if (digits == 0 || digits > 9 || digits + 1 != len || !strchr("smhd", text[digits])) {
        fx_yaml_error(ld->diag, node,
                      "malformed duration '%s' for %s (expected a whole number and a unit "
                      "s, m, h or d, such as 30m, 8h, 72h or 2d)",
                      fx_yaml_shown(text, len, shown), what);
        return -1;
    }
    int64_t ms;
    if (fx_duration_parse(text, &ms) != 0 || ms > MAX_DURATION_S * 1000) { /* 0 fails to parse */
        fx_yaml_error(ld->diag, node,
                      "duration '%s' for %s must be more than zero and at most ten years",
                      fx_yaml_shown(text, len, shown), what);
        return -1;
    }
    *ms_p = ms;
    return 0;
}

static void s_deadlines(loader_t *ld, const fx_yaml_node_t *node)
{
    if (fx_yaml_is_null(node))
        return;
    static const char *const keys[] = {"urgent", "normal"};
    const fx_yaml_node_t *found[2];
    if (fx_yaml_fields(ld->diag, node, "referral_deadlines", keys, 2, found) != 0)
        return;
    if (found[0] &&
        s_duration(ld, found[0], "referral_deadlines.urgent", &ld->policy->deadline_urgent) != 0)
        ld->policy->deadline_urgent = 0;
    if (found[1] &&
        s_duration(ld, found[1], "referral_deadlines.normal", &ld->policy->deadline_normal) != 0)
        ld->policy->deadline_normal = 0;
}

/* Agreements. An agreement with errors is kept half-filled: any error drops the whole policy. */
static void s_agreements(loader_t *ld, const fx_yaml_node_t *node)
{
    size_t n;
    if (fx_yaml_list(ld->diag, node, "agreements", &n) != 0 || n == 0)
        return;
    fx_policy_t *policy = ld->policy;
    policy->agreements = fx_calloc(n, sizeof *policy->agreements);
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    static const char *const keys[] = {"id", "parties", "categories", "purposes", "from", "until"};
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i), *f[6];
        if (fx_yaml_fields(ld->diag, item, "an agreement", keys, 6, f) != 0)
            continue;
        policy_agreement_t *a = &policy->agreements[policy->nagreements++];
        for (int k = 0; k < 4; k++)
            if (!f[k])
                fx_yaml_error(ld->diag, item, "missing required key '%s' in an agreement", keys[k]);
        if (f[0] && (a->id = s_id(ld, f[0], "an agreement id")) != NULL)
            refs[nrefs++] = (id_ref_t){a->id, f[0]};
        size_t np;
        if (f[1] && fx_yaml_list(ld->diag, f[1], "parties", &np) == 0) {
            if (np == 0)
                fx_yaml_error(ld->diag, f[1], "parties of an agreement must not be empty");
            a->parties = fx_calloc(np ? np : 1, sizeof *a->parties);
            for (size_t p = 0; p < np; p++)
                if (s_country(ld, fx_yaml_item(f[1], p), "a party", &a->parties[a->nparties]) == 0)
                    a->nparties++;
            a->nparties = s_sort_unique(a->parties, a->nparties);
        }
        if (f[2] &&
            fx_yaml_word_mask(ld->diag, f[2], FX_VOCAB_CATEGORY, "categories", 0, &a->categories) ==
                0 &&
            !a->categories)
            fx_yaml_error(ld->diag, f[2], "categories of an agreement must not be empty");
        if (f[3] &&
            fx_yaml_word_mask(ld->diag, f[3], FX_VOCAB_PURPOSE, "purposes", 0, &a->purposes) == 0 &&
            !a->purposes)
            fx_yaml_error(ld->diag, f[3], "purposes of an agreement must not be empty");
        (void) s_window(ld, f[4], f[5], "an agreement", &a->has_from, &a->from, &a->has_until,
                        &a->until);
    }
    s_check_unique_ids(ld, refs, nrefs, "agreement");
    free(refs);
}

/* Taskforces (kind "taskforce", key "members", dates allowed) and exercises (kind "exercise",
 * key "participants", no dates). */
static void s_groups(loader_t *ld, const fx_yaml_node_t *node, int exercises)
{
    const char *list = exercises ? "exercises" : "taskforces";
    const char *kind = exercises ? "exercise" : "taskforce";
    const char *what = exercises ? "an exercise" : "a taskforce";
    const char *members_key = exercises ? "participants" : "members";
    size_t n;
    if (fx_yaml_list(ld->diag, node, list, &n) != 0 || n == 0)
        return;
    policy_group_t *groups = fx_calloc(n, sizeof *groups);
    uint32_t ngroups = 0;
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    /* A taskforce may have a window; an exercise may run on an accelerated clock. */
    const char *const keys[] = {"id", members_key, exercises ? "speed" : "from", "until"};
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i), *f[4];
        if (fx_yaml_fields(ld->diag, item, what, keys, exercises ? 3 : 4, f) != 0)
            continue;
        policy_group_t *g = &groups[ngroups++];
        for (int k = 0; k < 2; k++)
            if (!f[k])
                fx_yaml_error(ld->diag, item, "missing required key '%s' in %s", keys[k], what);
        if (f[0] && (g->id = s_id(ld, f[0], exercises ? "an exercise id" : "a taskforce id")))
            refs[nrefs++] = (id_ref_t){g->id, f[0]};
        if (f[1]) {
            size_t nm;
            if (fx_yaml_list(ld->diag, f[1], members_key, &nm) == 0) {
                if (nm == 0)
                    fx_yaml_error(ld->diag, f[1], "%s of %s must not be empty", members_key, what);
                g->members = fx_calloc(nm ? nm : 1, sizeof *g->members);
                for (size_t m = 0; m < nm; m++)
                    if (s_party(ld, fx_yaml_item(f[1], m), members_key, 'e',
                                &g->members[g->nmembers]) == 0)
                        g->nmembers++;
                g->nmembers = s_sort_unique(g->members, g->nmembers);
            }
        }
        long long speed = 1;
        if (exercises && f[2] &&
            fx_yaml_int(ld->diag, f[2], "speed of an exercise (exercise seconds per real second)",
                        1, FX_POLICY_MAX_EXERCISE_SPEED, &speed) != 0)
            speed = 1;
        g->speed = (int) speed;
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

/* The p-th key of a mapping, shown for a message. */
static const char *s_key_shown(const fx_yaml_node_t *map, size_t p, char buf[72])
{
    const fx_yaml_node_t *key = fx_yaml_key(map, p);
    return fx_yaml_shown(fx_yaml_text(key), fx_yaml_length(key), buf);
}

/* Values of a country, agency or principal condition (one value or a list) into sorted vals. */
static int s_cond_values(loader_t *ld, const fx_yaml_node_t *node, const char *name,
                         cond_kind_t kind, policy_cond_t *cond)
{
    size_t n = 1;
    int single = fx_yaml_type(node) == FX_YAML_SCALAR && !fx_yaml_is_null(node);
    if (!single && fx_yaml_list(ld->diag, node, name, &n) != 0)
        return -1;
    cond->vals = fx_calloc(n ? n : 1, sizeof *cond->vals);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item = single ? node : fx_yaml_item(node, i);
        int bad = kind == K_COUNTRY ? s_country(ld, item, name, &cond->vals[cond->nvals])
                                    : s_party(ld, item, name, kind == K_AGENCY ? 'a' : 'p',
                                              &cond->vals[cond->nvals]);
        if (bad)
            rc = -1;
        else
            cond->nvals++;
    }
    cond->nvals = s_sort_unique(cond->vals, cond->nvals);
    return rc;
}

static int s_condition(loader_t *ld, const fx_yaml_node_t *key, const fx_yaml_node_t *value,
                       policy_cond_t *cond)
{
    char shown[72];
    size_t f = 0;
    while (f < NFIELDS && strcmp(s_fields[f].name, fx_yaml_text(key)) != 0)
        f++;
    if (f == NFIELDS) {
        fx_yaml_error(
            ld->diag, key,
            "unknown condition '%s' (expected one of: kind, audience, purpose, subject_role, "
            "stage, tlp, categories, sender.country, sender.agency, sender.id, sender.roles, "
            "recipient.country, recipient.agency, recipient.id, recipient.roles, "
            "cross_border, consent, exercise, route)",
            fx_yaml_shown(fx_yaml_text(key), fx_yaml_length(key), shown));
        return -1;
    }
    const char *name = s_fields[f].name;
    cond_kind_t kind = s_fields[f].kind;
    fx_vocab_t vocab = s_fields[f].vocab;
    cond->field = (uint8_t) s_fields[f].field;

    if (kind == K_BOOL) {
        int b;
        if (fx_yaml_bool(ld->diag, value, name, &b) != 0)
            return -1;
        cond->op = OP_BOOL;
        cond->mask = (uint32_t) b;
        return 0;
    }
    if (kind == K_ROUTE) {
        if (fx_yaml_type(value) != FX_YAML_SCALAR || fx_yaml_is_null(value)) {
            fx_yaml_error(ld->diag, value,
                          "route takes one route pattern (such as MMR>**>MYS), found %s",
                          fx_yaml_type_name(value));
            return -1;
        }
        char why[FX_ROUTE_WHY_SIZE] = "";
        if (strlen(fx_yaml_text(value)) != fx_yaml_length(value) ||
            fx_route_pattern_parse(fx_yaml_text(value), &cond->pattern, why) != FX_OK) {
            fx_yaml_error(ld->diag, value, "bad route pattern '%s': %s",
                          fx_yaml_shown(fx_yaml_text(value), fx_yaml_length(value), shown),
                          why[0] ? why : "it contains a NUL character");
            return -1;
        }
        cond->op = OP_ROUTE;
        return 0;
    }

    /* A condition written without its value would hold never (a list of nothing) or always
     * (not nothing): a forgotten value must not turn a forbid rule into either. */
    if (fx_yaml_is_null(value)) {
        fx_yaml_error(ld->diag, value,
                      "the condition on %s has no value; write a value, a list or one operator "
                      "(an empty list is [])",
                      name);
        return -1;
    }

    /* The operator and its operand. */
    const char *op = NULL;
    const fx_yaml_node_t *operand = value;
    if (fx_yaml_type(value) == FX_YAML_MAP) {
        unsigned char *skip = fx_yaml_check_keys(ld->diag, value, name);
        size_t pairs = fx_yaml_count(value);
        int bad = 0;
        for (size_t p = 0; p < pairs; p++)
            bad |= skip[p];
        free(skip);
        if (bad)
            return -1;
        if (pairs == 0) {
            fx_yaml_error(ld->diag, value,
                          "the condition on %s is an empty mapping; write a value, a list or "
                          "one operator",
                          name);
            return -1;
        }
        if (pairs > 1) {
            char first[72];
            fx_yaml_error(ld->diag, fx_yaml_key(value, 1),
                          "more than one operator in the condition on %s ('%s' "
                          "after '%s'); write two rules instead",
                          name, s_key_shown(value, 1, shown), s_key_shown(value, 0, first));
            return -1;
        }
        const fx_yaml_node_t *opkey = fx_yaml_key(value, 0);
        op = fx_yaml_text(opkey);
        operand = fx_yaml_value(value, 0);
        int is_set_op =
            strcmp(op, "any_of") == 0 || strcmp(op, "all_of") == 0 || strcmp(op, "none_of") == 0;
        int is_order_op = strcmp(op, "at_least") == 0 || strcmp(op, "at_most") == 0;
        if (kind == K_SET && strcmp(op, "not") == 0) {
            fx_yaml_error(ld->diag, opkey,
                          "'not' does not apply to %s, which hold several values; use "
                          "none_of",
                          name);
            return -1;
        }
        if (is_order_op && kind != K_TLP) {
            fx_yaml_error(ld->diag, opkey, "'%s' applies only to tlp, not to %s", op, name);
            return -1;
        }
        if (is_set_op && kind != K_SET) {
            fx_yaml_error(ld->diag, opkey,
                          "'%s' applies only to categories, sender.roles and "
                          "recipient.roles; on %s use a value, a list or not",
                          op, name);
            return -1;
        }
        if (!is_set_op && !is_order_op && strcmp(op, "not") != 0) {
            fx_yaml_error(ld->diag, opkey,
                          "unknown operator '%s' in the condition on %s (expected %s)",
                          fx_yaml_shown(op, fx_yaml_length(opkey), shown), name,
                          kind == K_SET   ? "any_of, all_of or none_of"
                          : kind == K_TLP ? "not, at_least or at_most"
                                          : "not");
            return -1;
        }
        if (fx_yaml_is_null(operand)) {
            fx_yaml_error(ld->diag, operand, "'%s' in the condition on %s has no operand; write %s",
                          op, name,
                          is_order_op ? "one TLP word"
                          : is_set_op ? "a list (an empty list is [])"
                                      : "a value or a list (an empty list is [])");
            return -1;
        }
        if (fx_yaml_type(operand) == FX_YAML_MAP) {
            fx_yaml_error(ld->diag, operand, "the operand of '%s' must be %s, found a mapping", op,
                          is_order_op ? "one TLP word"
                          : is_set_op ? "a list"
                                      : "a value or a list");
            return -1;
        }
        if (is_set_op && fx_yaml_type(operand) != FX_YAML_LIST) {
            fx_yaml_error(ld->diag, operand, "the operand of '%s' must be a list, found a value",
                          op);
            return -1;
        }
        if (is_order_op && fx_yaml_type(operand) != FX_YAML_SCALAR) {
            fx_yaml_error(ld->diag, operand,
                          "the operand of '%s' must be one TLP word, found a list", op);
            return -1;
        }
    }

    if (kind == K_SET) {
        if (fx_yaml_word_mask(ld->diag, operand, vocab, name, 1, &cond->mask) != 0)
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
            int v = fx_yaml_word(ld->diag, operand, vocab, name);
            if (v < 0)
                return -1;
            uint32_t below = (1u << v) - 1; /* bits 0 .. v-1 */
            cond->mask = strcmp(op, "at_least") == 0 ? all & ~below : all & (below | 1u << v);
            return 0;
        }
        if (fx_yaml_word_mask(ld->diag, operand, vocab, name, 1, &mask) != 0)
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
static int s_when(loader_t *ld, const fx_yaml_node_t *node, policy_rule_t *rule)
{
    if (fx_yaml_is_null(node))
        return 0;
    if (fx_yaml_type(node) != FX_YAML_MAP) {
        fx_yaml_error(ld->diag, node, "when must be a mapping of conditions, found %s",
                      fx_yaml_type_name(node));
        return -1;
    }
    unsigned char *skip = fx_yaml_check_keys(ld->diag, node, "when");
    size_t pairs = fx_yaml_count(node);
    policy_cond_t *conds = fx_calloc(pairs ? pairs : 1, sizeof *conds);
    size_t n = 0;
    int rc = 0;
    for (size_t p = 0; p < pairs; p++) {
        if (skip[p]) {
            rc = -1;
            continue;
        }
        policy_cond_t cond = {0};
        if (s_condition(ld, fx_yaml_key(node, p), fx_yaml_value(node, p), &cond) != 0) {
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

static char *s_guideline(loader_t *ld, const fx_yaml_node_t *node)
{
    const char *text = fx_yaml_scalar(ld->diag, node, "guideline");
    if (!text)
        return NULL;
    /* Stored on one line: runs of white space (folded YAML) become one space. */
    size_t len = fx_yaml_length(node), n = 0;
    char *out = fx_malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
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
        fx_yaml_error(ld->diag, node, "guideline must be a text of 1 to %d characters",
                      MAX_GUIDELINE);
        free(out);
        return NULL;
    }
    return out;
}

static void s_rules(loader_t *ld, const fx_yaml_node_t *node)
{
    size_t n;
    if (fx_yaml_list(ld->diag, node, "rules", &n) != 0 || n == 0)
        return;
    fx_policy_t *policy = ld->policy;
    policy->rules = fx_calloc(n, sizeof *policy->rules);
    id_ref_t *refs = fx_calloc(n, sizeof *refs);
    size_t nrefs = 0;
    static const char *const keys[] = {"id", "effect", "guideline", "when"};
    char shown[72];
    for (size_t i = 0; i < n; i++) {
        const fx_yaml_node_t *item = fx_yaml_item(node, i), *f[4];
        if (fx_yaml_fields(ld->diag, item, "a rule", keys, 4, f) != 0)
            continue;
        policy_rule_t *rule = &policy->rules[policy->nrules++];
        for (int k = 0; k < 3; k++)
            if (!f[k])
                fx_yaml_error(ld->diag, item, "missing required key '%s' in a rule", keys[k]);
        if (f[0] && (rule->id = s_id(ld, f[0], "a rule id")) != NULL) {
            if (strcmp(rule->id, "default") == 0)
                fx_yaml_error(ld->diag, f[0],
                              "'default' is not a valid rule id: it names the policy's "
                              "default decision");
            else
                refs[nrefs++] = (id_ref_t){rule->id, f[0]};
        }
        if (f[1]) {
            const char *effect = fx_yaml_scalar(ld->diag, f[1], "effect");
            if (effect && strcmp(effect, "permit") == 0)
                rule->permit = 1;
            else if (effect && strcmp(effect, "forbid") != 0)
                fx_yaml_error(ld->diag, f[1], "effect must be permit or forbid, found '%s'",
                              fx_yaml_shown(effect, fx_yaml_length(f[1]), shown));
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

static void s_document(loader_t *ld, const fx_yaml_node_t *root)
{
    if (fx_yaml_is_null(root)) {
        fx_diag_add(ld->diag, 1, 1,
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
    const fx_yaml_node_t *f[9];
    if (fx_yaml_fields(ld->diag, root, "the policy", keys, 9, f) != 0)
        return;
    char shown[72];
    if (!f[0])
        fx_yaml_error(ld->diag, root,
                      "missing required key 'fusion_policy' (write fusion_policy: 1)");
    else if (fx_yaml_type(f[0]) != FX_YAML_SCALAR || fx_yaml_is_null(f[0]))
        fx_yaml_error(ld->diag, f[0], "fusion_policy must be 1, found %s", fx_yaml_type_name(f[0]));
    else if (!fx_yaml_plain(f[0])) /* "1" was called an unsupported version '1' */
        fx_yaml_error(ld->diag, f[0],
                      "fusion_policy must be the integer 1, not the string '%s' (write "
                      "fusion_policy: 1, without quotes)",
                      fx_yaml_shown(fx_yaml_text(f[0]), fx_yaml_length(f[0]), shown));
    else if (strcmp(fx_yaml_text(f[0]), "1") != 0)
        fx_yaml_error(ld->diag, f[0],
                      "unsupported policy version '%s' (this version reads fusion_policy: 1)",
                      fx_yaml_shown(fx_yaml_text(f[0]), fx_yaml_length(f[0]), shown));
    if (!f[1]) {
        fx_yaml_error(ld->diag, root,
                      "missing required key 'default' (write default: forbid or default: "
                      "permit)");
    } else {
        const char *d = fx_yaml_scalar(ld->diag, f[1], "default");
        if (d && strcmp(d, "permit") == 0)
            ld->policy->default_permit = 1;
        else if (d && strcmp(d, "forbid") != 0)
            fx_yaml_error(ld->diag, f[1], "default must be permit or forbid, found '%s'",
                          fx_yaml_shown(d, fx_yaml_length(f[1]), shown));
    }
    if (f[2])
        (void) fx_yaml_word_mask(ld->diag, f[2], FX_VOCAB_CATEGORY, "protected_categories", 0,
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
    static const fx_yaml_limits_t limits = {MAX_DEPTH, MAX_NODES, "policy"};
    *policy_p = NULL;
    if (errors_p)
        *errors_p = NULL;
    name = name ? name : "policy";
    loader_t ld = {fx_diag_new(name), fx_calloc(1, sizeof(fx_policy_t))};
    fx_diag_set_max(ld.diag, MAX_ERRORS);
    ld.policy->name = fx_strdup(name);
    fx_yaml_t *doc = NULL;
    fx_err_t rc = FX_ERR_POLICY;
    if (len > FX_POLICY_MAX_BYTES) {
        fx_diag_add(ld.diag, 0, 0, "the policy is larger than %d bytes", FX_POLICY_MAX_BYTES);
        rc = FX_ERR_TOO_LARGE;
        goto cleanup;
    }
    doc = fx_yaml_parse_ex(data, len, ld.diag, &limits);
    if (!doc)
        goto cleanup;
    s_document(&ld, fx_yaml_root(doc));
    if (fx_diag_count(ld.diag) == 0) {
        *policy_p = ld.policy;
        ld.policy = NULL;
        rc = FX_OK;
    }
cleanup:
    fx_yaml_destroy(&doc);
    fx_policy_destroy(&ld.policy);
    if (rc != FX_OK && errors_p)
        *errors_p = s_errors_new(&ld.diag);
    fx_diag_destroy(&ld.diag);
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
    struct stat st;
    if (rc == FX_ERR_IO && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = FX_ERR_INVALID; /* a wrong argument, not a failing disk */
    if (rc != FX_OK) {
        if (errors_p) {
            fx_diag_t *diag = fx_diag_new(path);
            fx_diag_add(diag, 0, 0, "%s",
                        rc == FX_ERR_NOT_FOUND   ? "no such file"
                        : rc == FX_ERR_INVALID   ? "is a directory, not a policy file"
                        : rc == FX_ERR_TOO_LARGE ? "the policy is larger than 1 MiB"
                                                 : "the file cannot be read");
            *errors_p = s_errors_new(&diag);
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

int fx_policy_exercise_participant(const fx_policy_t *self, const char *exercise,
                                   const char *principal_id)
{
    if (!exercise || !principal_id || !fx_principal_id_valid(principal_id))
        return 0;
    char agency[FX_ID_MAX];
    fx_principal_agency(principal_id, agency);
    uint32_t id_sym = fx_policy_symbol_find(&self->symbols, principal_id);
    uint32_t agency_sym = fx_policy_symbol_find(&self->symbols, agency);
    for (uint32_t i = 0; i < self->nexercises; i++) {
        const policy_group_t *g = &self->exercises[i];
        if (strcmp(g->id, exercise) != 0)
            continue;
        return (id_sym && fx_policy_sorted_has(g->members, g->nmembers, id_sym)) ||
               (agency_sym && fx_policy_sorted_has(g->members, g->nmembers, agency_sym));
    }
    return 0;
}

int fx_policy_exercise_speed(const fx_policy_t *self, const char *exercise)
{
    for (uint32_t i = 0; exercise && exercise[0] && i < self->nexercises; i++)
        if (strcmp(self->exercises[i].id, exercise) == 0)
            return self->exercises[i].speed > 1 ? self->exercises[i].speed : 1;
    return 1;
}

const char *fx_policy_rule_guideline(const fx_policy_t *self, const char *rule_id)
{
    for (uint32_t i = 0; rule_id && i < self->nrules; i++)
        if (strcmp(self->rules[i].id, rule_id) == 0)
            return self->rules[i].guideline;
    return NULL;
}

bool fx_policy_has_forbid_rule(const fx_policy_t *self, const char *rule_id)
{
    for (uint32_t i = 0; rule_id && i < self->nrules; i++)
        if (strcmp(self->rules[i].id, rule_id) == 0)
            return !self->rules[i].permit;
    return false;
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
