/* The policy explain contract: validates a JSON query strictly (exactly DESIGN.md's keys, known
 * enumeration words, at least one section), runs it through the policy query API and builds the
 * answer with jansson, one decision per (recipient, section) in recipient then section order. */
#include "fusion/explain.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/keys.h"
#include "fusion/vocab.h"

/* A query being read: the principals and message in the policy API's form. */
typedef struct {
    char *why;
    size_t why_size;
    int failed;
    fx_policy_principal_t sender;
    fx_policy_principal_t *recipients;
    size_t nrecipients;
    fx_policy_message_t message;
    fx_policy_section_t *sections;
    int64_t at;
    char **upper; /* ids and agencies whose country was written in lower case, upper-cased */
    size_t nupper;
} query_t;

static void s_invalid(query_t *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_invalid(query_t *q, const char *fmt, ...)
{
    if (q->failed)
        return; /* the first problem is the one reported */
    q->failed = 1;
    va_list args;
    va_start(args, fmt);
    vsnprintf(q->why, q->why_size, fmt, args);
    va_end(args);
}

/* Quotes user text for a message: printable ASCII, at most 60 characters. */
static const char *s_shown(const char *text, char buf[72])
{
    size_t n = 0;
    for (const char *p = text; *p && n < 60; p++)
        buf[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    if (strlen(text) > 60) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* Refuses keys of obj that are not in keys[] (NULL-terminated). */
static void s_only_keys(query_t *q, const json_t *obj, const char *path, const char *const *keys)
{
    const char *key;
    json_t *value;
    char shown[72];
    json_object_foreach((json_t *) obj, key, value)
    {
        const char *const *k = keys;
        while (*k && strcmp(*k, key) != 0)
            k++;
        if (!*k)
            s_invalid(q, "unknown key '%s' in %s", s_shown(key, shown), path);
    }
}

/* A string member: NULL if absent or null (when nullable), else its text; reports other types. */
static const char *s_string(query_t *q, const json_t *obj, const char *key, const char *path,
                            int nullable)
{
    json_t *value = json_object_get(obj, key);
    if (!value || (nullable && json_is_null(value)))
        return NULL;
    if (!json_is_string(value)) {
        s_invalid(q, "%s.%s must be a string%s", path, key, nullable ? " or null" : "");
        return NULL;
    }
    const char *text = json_string_value(value);
    if (strlen(text) != json_string_length(value)) {
        s_invalid(q, "%s.%s contains a NUL character", path, key);
        return NULL;
    }
    return text;
}

static int s_word(query_t *q, const char *text, fx_vocab_t vocab, const char *path)
{
    int value = fx_vocab_parse(vocab, text);
    if (value > 0)
        return value;
    char words[512], shown[72];
    fx_vocab_list(vocab, words, sizeof words);
    s_invalid(q, "%s: unknown %s '%s' (expected one of: %s)", path, fx_vocab_title(vocab),
              s_shown(text, shown), words);
    return 0;
}

/* An enumeration member: one that may be absent or null is 0 then; a required one absent is
 * "PATH has no KEY", and null is not a word. */
static int s_enum(query_t *q, const json_t *obj, const char *key, const char *path,
                  fx_vocab_t vocab, bool required)
{
    if (required && !json_object_get(obj, key)) {
        s_invalid(q, "%s has no %s", path, key);
        return 0;
    }
    const char *text = s_string(q, obj, key, path, !required);
    if (!text)
        return 0;
    char where[96];
    snprintf(where, sizeof where, "%s.%s", path, key);
    return s_word(q, text, vocab, where);
}

/* A list of enumeration words (absent or null: empty) into a mask; one_ok also takes one word. */
static uint32_t s_enum_mask(query_t *q, const json_t *obj, const char *key, const char *path,
                            fx_vocab_t vocab, int one_ok)
{
    json_t *value = json_object_get(obj, key);
    char where[96];
    snprintf(where, sizeof where, "%s.%s", path, key);
    if (!value || json_is_null(value))
        return 0;
    if (one_ok && json_is_string(value))
        return (1u << s_word(q, json_string_value(value), vocab, where)) & ~1u;
    if (!json_is_array(value)) {
        s_invalid(q, "%s must be a list of words", where);
        return 0;
    }
    uint32_t mask = 0;
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item)
    {
        if (!json_is_string(item)) {
            s_invalid(q, "%s[%zu] must be a string", where, i);
            return 0;
        }
        char at[128];
        snprintf(at, sizeof at, "%s[%zu]", where, i);
        mask |= 1u << s_word(q, json_string_value(item), vocab, at);
    }
    return mask & ~1u;
}

/* An id or agency member, its country part upper-cased: country codes are compared whatever
 * their case (DESIGN.md), and principal ids carry their country in upper case. */
static const char *s_party(query_t *q, const json_t *obj, const char *key, const char *path,
                           int nullable)
{
    const char *text = s_string(q, obj, key, path, nullable);
    if (!text || strlen(text) >= FX_ID_MAX)
        return text; /* the policy's check of the principal says what is wrong */
    char copy[FX_ID_MAX];
    memcpy(copy, text, strlen(text) + 1);
    fx_party_country_upper(copy);
    if (strcmp(copy, text) == 0)
        return text;
    char **grown = realloc(q->upper, (q->nupper + 1) * sizeof *grown);
    char *kept = grown ? strdup(copy) : NULL;
    if (grown)
        q->upper = grown;
    if (!kept) {
        s_invalid(q, "out of memory");
        return NULL;
    }
    q->upper[q->nupper++] = kept;
    return kept;
}

static void s_principal(query_t *q, const json_t *obj, const char *path, fx_policy_principal_t *p)
{
    static const char *const keys[] = {"id", "country", "agency", "roles", NULL};
    if (!json_is_object(obj)) {
        s_invalid(q, "%s must be an object with id, country, agency and roles", path);
        return;
    }
    s_only_keys(q, obj, path, keys);
    p->id = s_party(q, obj, "id", path, 0);
    p->country = s_string(q, obj, "country", path, 1);
    p->agency = s_party(q, obj, "agency", path, 1);
    p->roles = s_enum_mask(q, obj, "roles", path, FX_VOCAB_ROLE, 0);
    if (!q->failed && !p->id)
        s_invalid(q, "%s has no id", path);
}

static void s_sections(query_t *q, const json_t *message)
{
    static const char *const keys[] = {"id", "tlp", "categories", NULL};
    json_t *sections = json_object_get(message, "sections");
    if (!sections || json_is_null(sections) ||
        (json_is_array(sections) && json_array_size(sections) == 0)) {
        s_invalid(q, "the message has no sections");
        return;
    }
    if (!json_is_array(sections)) {
        s_invalid(q, "message.sections must be a list");
        return;
    }
    size_t n = json_array_size(sections);
    if (n > FX_POLICY_MAX_SECTIONS) {
        s_invalid(q, "the message has %zu sections; at most %d are allowed", n,
                  FX_POLICY_MAX_SECTIONS);
        return;
    }
    q->sections = calloc(n, sizeof *q->sections);
    if (!q->sections) {
        s_invalid(q, "out of memory");
        return;
    }
    q->message.sections = q->sections;
    q->message.section_count = n;
    for (size_t i = 0; i < n && !q->failed; i++) {
        json_t *s = json_array_get(sections, i);
        char path[48];
        snprintf(path, sizeof path, "message.sections[%zu]", i);
        if (!json_is_object(s)) {
            s_invalid(q, "%s must be an object with id, tlp and categories", path);
            return;
        }
        s_only_keys(q, s, path, keys);
        json_t *id = json_object_get(s, "id");
        if (!id) {
            s_invalid(q, "%s has no id", path);
            return;
        }
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) > UINT32_MAX) {
            s_invalid(q, "%s.id must be a whole number", path);
            return;
        }
        q->sections[i].id = (uint32_t) json_integer_value(id);
        const char *tlp = s_string(q, s, "tlp", path, 0);
        if (!tlp) {
            s_invalid(q, "%s has no tlp", path);
            return;
        }
        char where[64];
        snprintf(where, sizeof where, "%s.tlp", path);
        q->sections[i].tlp = s_word(q, tlp, FX_VOCAB_TLP, where);
        /* Required, as the other keys of a section (DESIGN.md: exactly the keys shown): a
         * section without them is not taken as one without protected data. */
        json_t *categories = json_object_get(s, "categories");
        if (!categories) {
            s_invalid(q, "%s has no categories (write [] for none)", path);
            return;
        }
        if (json_is_null(categories)) {
            s_invalid(q, "%s.categories must be a list of words ([] for none)", path);
            return;
        }
        q->sections[i].categories = s_enum_mask(q, s, "categories", path, FX_VOCAB_CATEGORY, 0);
    }
}

static void s_message(query_t *q, const json_t *message)
{
    static const char *const keys[] = {
        "kind",      "audience",  "route",    "stage",    "purpose", "subject_role", "consent",
        "taskforce", "agreement", "exercise", "sections", "urgency", "handling",     NULL};
    if (!json_is_object(message)) {
        s_invalid(q, message ? "message must be an object" : "the query has no message");
        return;
    }
    s_only_keys(q, message, "message", keys);
    fx_policy_message_t *m = &q->message;
    /* kind and audience are required (DESIGN.md: exactly the keys shown); the keys DESIGN.md
     * lets be null (route ... exercise), consent (false) and urgency and handling may be left
     * out. */
    m->kind = s_enum(q, message, "kind", "message", FX_VOCAB_KIND, true);
    m->audience = s_enum(q, message, "audience", "message", FX_VOCAB_AUDIENCE, true);
    m->stage = s_enum(q, message, "stage", "message", FX_VOCAB_STAGE, false);
    m->purpose = s_enum(q, message, "purpose", "message", FX_VOCAB_PURPOSE, false);
    m->subject_role = s_enum(q, message, "subject_role", "message", FX_VOCAB_SUBJECT_ROLE, false);
    m->urgency = s_enum(q, message, "urgency", "message", FX_VOCAB_URGENCY, false);
    m->handling = s_enum_mask(q, message, "handling", "message", FX_VOCAB_HANDLING, 1);
    m->route = s_string(q, message, "route", "message", 1);
    /* DESIGN.md: an empty route is an error; only taskforce, agreement and exercise take "" for
     * none. (On the wire "" is the only way to say no route, so the policy takes it as such.) */
    if (m->route && !m->route[0])
        s_invalid(q, "message.route is empty, which is not a route (write null for no route)");
    m->taskforce = s_string(q, message, "taskforce", "message", 1);
    m->agreement = s_string(q, message, "agreement", "message", 1);
    m->exercise = s_string(q, message, "exercise", "message", 1);
    json_t *consent = json_object_get(message, "consent");
    if (consent && !json_is_null(consent) && !json_is_boolean(consent))
        s_invalid(q, "message.consent must be true, false or null");
    m->consent = json_is_true(consent);
    s_sections(q, message);
}

static void s_query(query_t *q, const json_t *query)
{
    static const char *const keys[] = {"at", "sender", "recipients", "message", NULL};
    if (!json_is_object(query)) {
        s_invalid(q, "the query must be a JSON object with at, sender, recipients and message");
        return;
    }
    s_only_keys(q, query, "the query", keys);
    const char *at = s_string(q, query, "at", "query", 1);
    char shown[72];
    if (at && fx_time_parse(at, &q->at) != 0)
        s_invalid(q,
                  "at '%s' is neither an RFC 3339 time (2026-11-28T00:00:00Z) nor a date "
                  "(2026-11-28)",
                  s_shown(at, shown));
    json_t *sender = json_object_get(query, "sender");
    if (!sender)
        s_invalid(q, "the query has no sender");
    else
        s_principal(q, sender, "sender", &q->sender);
    /* No recipients (left out, null or []) gives no decisions (DESIGN.md). */
    json_t *recipients = json_object_get(query, "recipients");
    if (recipients && !json_is_null(recipients)) {
        if (!json_is_array(recipients)) {
            s_invalid(q, "recipients must be a list ([] for none)");
        } else if (json_array_size(recipients) > FX_EXPLAIN_MAX_RECIPIENTS) {
            s_invalid(q, "the query has more than %d recipients", FX_EXPLAIN_MAX_RECIPIENTS);
        } else {
            q->nrecipients = json_array_size(recipients);
            q->recipients = calloc(q->nrecipients ? q->nrecipients : 1, sizeof *q->recipients);
            if (!q->recipients)
                s_invalid(q, "out of memory");
            for (size_t i = 0; i < q->nrecipients && !q->failed; i++) {
                char path[40];
                snprintf(path, sizeof path, "recipients[%zu]", i);
                s_principal(q, json_array_get(recipients, i), path, &q->recipients[i]);
            }
        }
    }
    s_message(q, json_object_get(query, "message"));
}

static json_t *s_decision_json(const fx_policy_query_t *pq, size_t r, size_t s,
                               const char *recipient, uint32_t section)
{
    fx_policy_decision_t d;
    fx_policy_decide(pq, r, s, &d);
    json_t *out = json_object();
    json_object_set_new(out, "recipient", json_string(recipient));
    json_object_set_new(out, "section", json_integer(section));
    json_object_set_new(out, "allow", json_boolean(d.allow));
    if (!d.allow)
        json_object_set_new(out, "code", json_string(fx_policy_code_name(d.code)));
    if (d.rule)
        json_object_set_new(out, "rule", json_string(d.rule));
    if (d.agreement)
        json_object_set_new(out, "agreement", json_string(d.agreement));
    char *reason = fx_policy_reason(pq, r, s, &d);
    json_object_set_new(out, "reason", json_string(reason));
    free(reason);
    return out;
}

fx_err_t fx_explain(const fx_policy_t *policy, const json_t *query, int64_t now_ms,
                    json_t **answer_p, char *why, size_t why_size)
{
    *answer_p = NULL;
    char scratch[FX_EXPLAIN_WHY_SIZE];
    query_t q = {.why = why && why_size ? why : scratch,
                 .why_size = why && why_size ? why_size : sizeof scratch,
                 .at = now_ms};
    q.why[0] = '\0';
    fx_policy_query_t *pq = NULL;
    json_t *answer = NULL;
    fx_err_t rc = FX_ERR_INVALID;
    s_query(&q, query);
    if (q.failed)
        goto cleanup;
    char bound[FX_EXPLAIN_WHY_SIZE] = "";
    if (fx_policy_query_new(policy, &q.sender, &q.message, q.at, &pq, bound, sizeof bound) !=
        FX_OK) {
        s_invalid(&q, "%s", bound);
        goto cleanup;
    }
    for (size_t i = 0; i < q.nrecipients; i++) {
        if (fx_policy_query_add_recipient(pq, &q.recipients[i], NULL, bound, sizeof bound) !=
            FX_OK) {
            s_invalid(&q, "recipients[%zu]: %s", i, bound);
            goto cleanup;
        }
    }
    answer = json_object();
    json_t *decisions = json_array();
    json_object_set_new(answer, "decisions", decisions);
    for (size_t r = 0; r < q.nrecipients; r++)
        for (size_t s = 0; s < q.message.section_count; s++)
            json_array_append_new(decisions,
                                  s_decision_json(pq, r, s, q.recipients[r].id, q.sections[s].id));
    *answer_p = answer;
    answer = NULL;
    rc = FX_OK;
cleanup:
    json_decref(answer);
    fx_policy_query_destroy(&pq);
    free(q.recipients);
    free(q.sections);
    for (size_t i = 0; i < q.nupper; i++)
        free(q.upper[i]);
    free(q.upper);
    return rc;
}

char *fx_explain_decision_text(const fx_policy_t *policy, const json_t *decision)
{
    const char *recipient = json_string_value(json_object_get(decision, "recipient"));
    json_int_t section = json_integer_value(json_object_get(decision, "section"));
    const char *code = json_string_value(json_object_get(decision, "code"));
    const char *rule = json_string_value(json_object_get(decision, "rule"));
    const char *agreement = json_string_value(json_object_get(decision, "agreement"));
    const char *reason = json_string_value(json_object_get(decision, "reason"));
    int allow = json_is_true(json_object_get(decision, "allow"));
    const char *guideline = policy && rule ? fx_policy_rule_guideline(policy, rule) : NULL;
    char head[256], rule_part[1400] = "", under[192] = "";
    snprintf(head, sizeof head, "%s, section %lld", recipient ? recipient : "?",
             (long long) section);
    if (rule && strcmp(rule, "default") == 0)
        snprintf(rule_part, sizeof rule_part, "the policy's default (permit)");
    else if (rule)
        snprintf(rule_part, sizeof rule_part, "rule %s%s%s%s", rule, guideline ? " (" : "",
                 guideline ? guideline : "", guideline ? ")" : "");
    if (agreement)
        snprintf(under, sizeof under, " under agreement %s", agreement);
    size_t size = strlen(head) + strlen(rule_part) + strlen(under) + (reason ? strlen(reason) : 0) +
                  (code ? strlen(code) : 0) + 64;
    char *line = fx_malloc(size);
    if (allow)
        snprintf(line, size, "%s: allowed by %s%s", head, rule_part, under);
    else if (rule)
        snprintf(line, size, "%s: denied (%s) by %s", head, code ? code : "forbidden", rule_part);
    else
        snprintf(line, size, "%s: denied (%s): %s", head, code ? code : "?", reason ? reason : "");
    return line;
}
