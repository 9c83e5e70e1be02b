/* fusion-agent can-share: "may I share this, with whom, and if not, what would make it lawful?"
 * The message comes from the same options as `alert` and `refer` (or a draft file); the
 * recipients are the named ones, or those the broker finds for the audience (PREPARE). The live
 * policy answers through EXPLAIN, and each denial is asked again with one change at a time
 * (cite no or another agreement, record consent, address the recipient directly or the focal
 * points, state another purpose): only changes the policy then allows are suggested, and when
 * none is, the verdict says what the other audiences were denied for. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_compose.h"
#include "agent_net.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/vocab.h"

#define MAX_SUGGESTIONS 3 /* shown per denied pair */

static void s_help(void)
{
    compose_t c;
    agent_compose_init(&c, "can-share", FX_KIND_CASE_ALERT, 1);
    printf(
        "Usage: %s can-share [--kind K] [OPTIONS] [--json] [--timeout S] [--config FILE]\n\n"
        "Asks the live sharing policy (through the broker) whether the message the options\n"
        "describe may go to its recipients, and answers for each recipient and section: yes\n"
        "or no, the guideline that decides, and, for a no, what you could change to share it\n"
        "lawfully. Every suggestion was checked against the policy: it turns that no into a\n"
        "yes (it is still for you to say whether it is true, e.g. that consent is recorded).\n"
        "Nothing is sent. The recipients are those of --to (for any audience), or else the\n"
        "ones the broker finds for the audience (route followers, taskforce members, focal\n"
        "points). Sections need no content here: --section TLP --categories C,... is enough.\n\n"
        "  --kind K             case_alert (default), referral, referral_response, notice, ...\n",
        AGENT_PROG);
    agent_compose_print_options(&c);
    printf("  --json               the policy's answer as JSON ({\"decisions\": [...]}, the\n"
           "                       contract of 'fusion-admin policy explain'), no suggestions\n"
           "  --timeout S          seconds to wait for each answer (default %d)\n"
           "  --config FILE        agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help           this help\n\n"
           "Example:\n  %s can-share --kind referral --to IDN.POLRI.fp1 --purpose investigation "
           "\\\n    --section amber --categories personal_identifiers,victim_identity\n\n"
           "Exits 0 when everything asked may be shared, 1 when something may not.\n",
           AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT, AGENT_PROG);
    fx_cli_print_exit_codes();
    agent_compose_clear(&c);
}

/* ---- The query ------------------------------------------------------------------------------ */

static json_t *s_principal(const fx_cert_t *cert)
{
    json_t *roles = json_array();
    for (int r = 1; r < fx_vocab_size(FX_VOCAB_ROLE); r++)
        if (fx_cert_has_role(cert, r))
            json_array_append_new(roles, json_string(fx_vocab_name(FX_VOCAB_ROLE, r)));
    return json_pack("{s:s, s:s, s:s, s:o}", "id", fx_cert_id(cert), "country",
                     fx_cert_country(cert), "agency", fx_cert_agency(cert), "roles", roles);
}

static void s_set_word(json_t *obj, const char *key, fx_vocab_t vocab, int value)
{
    const char *word = fx_vocab_name(vocab, value);
    if (word)
        json_object_set_new(obj, key, json_string(word));
}

static void s_set_text(json_t *obj, const char *key, const char *text)
{
    if (text && text[0])
        json_object_set_new(obj, key, json_string(text));
}

/* The query's message for the draft's header. */
static json_t *s_message(const fx_draft_t *draft)
{
    const Fusion__Header *h = fx_draft_header(draft);
    json_t *m = json_object();
    s_set_word(m, "kind", FX_VOCAB_KIND, (int) h->kind);
    s_set_word(m, "audience", FX_VOCAB_AUDIENCE, (int) h->audience);
    s_set_text(m, "route", h->route);
    s_set_word(m, "stage", FX_VOCAB_STAGE, (int) h->stage);
    s_set_word(m, "purpose", FX_VOCAB_PURPOSE, (int) h->purpose);
    s_set_word(m, "subject_role", FX_VOCAB_SUBJECT_ROLE, (int) h->subject_role);
    s_set_word(m, "urgency", FX_VOCAB_URGENCY, (int) h->urgency);
    json_object_set_new(m, "consent", json_boolean(h->consent));
    s_set_text(m, "taskforce", h->taskforce);
    s_set_text(m, "agreement", h->agreement);
    s_set_text(m, "exercise", h->exercise);
    if (h->n_handling) {
        json_t *list = json_array();
        for (size_t i = 0; i < h->n_handling; i++)
            json_array_append_new(
                list, json_string(fx_vocab_name(FX_VOCAB_HANDLING, (int) h->handling[i])));
        json_object_set_new(m, "handling", list);
    }
    json_t *sections = json_array();
    for (size_t i = 0; i < fx_draft_section_count(draft); i++) {
        json_t *cats = json_array();
        uint32_t mask = fx_draft_section_categories(draft, i);
        for (int c = 1; c < fx_vocab_size(FX_VOCAB_CATEGORY); c++)
            if (mask & (1u << c))
                json_array_append_new(cats, json_string(fx_vocab_name(FX_VOCAB_CATEGORY, c)));
        json_array_append_new(
            sections, json_pack("{s:i, s:s, s:o}", "id", (int) fx_draft_section_id(draft, i), "tlp",
                                fx_vocab_name(FX_VOCAB_TLP, fx_draft_section_tlp(draft, i)),
                                "categories", cats));
    }
    json_object_set_new(m, "sections", sections);
    return m;
}

/* Asks the broker; *answer_p is the checked {"decisions": [...]} (new). An exit code on failure,
 * printed. */
static int s_explain(agent_session_t *s, json_t *query, json_t **answer_p)
{
    *answer_p = NULL;
    char *text = json_dumps(query, JSON_COMPACT);
    char *reply = NULL;
    fx_answer_t answer;
    fx_err_t rc = fx_client_explain(s->client, text, s->timeout_ms, &reply, &answer);
    free(text);
    if (rc == FX_ERR_UNAVAILABLE) {
        return agent_session_unreachable(s);
    }
    if (rc != FX_OK) {
        if (answer.refused)
            fx_cli_error(AGENT_PROG, "can-share: the broker refused the question: %s: %s",
                         answer.code, answer.reason);
        else
            fx_cli_error(AGENT_PROG, "can-share: the broker's answer broke the protocol (%s)",
                         fx_strerror(rc));
        return answer.refused ? FX_EXIT_USAGE : FX_EXIT_SYSTEM;
    }
    json_t *doc = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
    free(reply);
    json_t *decisions = json_object_get(doc, "decisions");
    int ok = json_is_array(decisions);
    size_t i;
    json_t *d;
    json_array_foreach(decisions, i, d)
    {
        ok = ok && json_is_string(json_object_get(d, "recipient")) &&
             json_is_integer(json_object_get(d, "section")) &&
             json_is_boolean(json_object_get(d, "allow"));
    }
    if (!ok) {
        json_decref(doc);
        fx_cli_error(AGENT_PROG, "can-share: the broker's EXPLAIN answer is not a decision list");
        return FX_EXIT_SYSTEM;
    }
    *answer_p = doc;
    return FX_EXIT_OK;
}

static const char *s_str(const json_t *obj, const char *key)
{
    const char *text = json_string_value(json_object_get(obj, key));
    return text ? text : "";
}

/* A short string of the broker's answer for a terminal: printable ASCII, anything else '?'. */
static const char *s_shown(const json_t *obj, const char *key, char *buf, size_t size)
{
    const char *text = s_str(obj, key);
    size_t n = 0;
    for (; text[n] && n + 1 < size; n++)
        buf[n] = text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?';
    buf[n] = '\0';
    return buf;
}

/* ---- Suggestions ---------------------------------------------------------------------------- */

/* One change to the message, what it means for the officer, and the option that makes it. */
enum {
    CHANGE_AGREEMENT = 1,
    CHANGE_CONSENT = 2,
    CHANGE_DIRECT = 4,
    CHANGE_PURPOSE = 8,
    CHANGE_FOCAL = 16, /* audience focal_points */
};
#define CHANGE_AUDIENCE (CHANGE_DIRECT | CHANGE_FOCAL)

typedef struct {
    char text[256];
    json_t *message; /* the changed message (all sections; narrowed per question) */
    unsigned parts;  /* CHANGE_* */
    int purpose;     /* with CHANGE_PURPOSE */
} change_t;

typedef struct {
    change_t *items;
    size_t n, cap;
} changes_t;

static void s_change(changes_t *list, json_t *message, unsigned parts, int purpose, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

static void s_change(changes_t *list, json_t *message, unsigned parts, int purpose, const char *fmt,
                     ...)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 32;
        list->items = fx_realloc(list->items, list->cap * sizeof *list->items);
    }
    change_t *c = &list->items[list->n++];
    va_list args;
    va_start(args, fmt);
    vsnprintf(c->text, sizeof c->text, fmt, args);
    va_end(args);
    c->message = message;
    c->parts = parts;
    c->purpose = purpose;
}

/* The changes worth asking about, simplest first. */
static void s_changes(const json_t *base, changes_t *list)
{
    const char *purpose = s_str(base, "purpose");
    const char *audience = s_str(base, "audience");
    int consent = json_is_true(json_object_get(base, "consent"));
    if (json_object_get(base, "agreement")) {
        json_t *m = json_deep_copy(base);
        json_object_del(m, "agreement");
        s_change(list, m, CHANGE_AGREEMENT, 0, "do not cite agreement %s (%%AGREEMENT%%)",
                 s_str(base, "agreement"));
    }
    if (!consent) {
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "consent", json_true());
        s_change(list, m, CHANGE_CONSENT, 0,
                 "record the subject's consent, if it has been given: --consent");
    }
    if (strcmp(audience, "direct") != 0) {
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "audience", json_string("direct"));
        s_change(list, m, CHANGE_DIRECT, 0,
                 "address it directly to this recipient: --to %%RECIPIENT%%");
    }
    /* The other audience a denial's reason may point to (a taskforce needs its id: the verdict
     * says how to ask about one). */
    if (strcmp(audience, "focal_points") != 0) {
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "audience", json_string("focal_points"));
        json_object_del(m, "taskforce");
        s_change(list, m, CHANGE_FOCAL, 0,
                 "address it to the focal points (every focal point the policy allows receives "
                 "it): --audience focal_points");
    }
    for (int p = 1; p < fx_vocab_size(FX_VOCAB_PURPOSE); p++) {
        const char *word = fx_vocab_name(FX_VOCAB_PURPOSE, p);
        if (strcmp(word, purpose) == 0)
            continue;
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "purpose", json_string(word));
        s_change(list, m, CHANGE_PURPOSE, p, "if your purpose really is %s: --purpose %s", word,
                 word);
    }
    for (int p = 1; p < fx_vocab_size(FX_VOCAB_PURPOSE) && !consent; p++) {
        const char *word = fx_vocab_name(FX_VOCAB_PURPOSE, p);
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "purpose", json_string(word));
        json_object_set_new(m, "consent", json_true());
        s_change(list, m, CHANGE_PURPOSE | CHANGE_CONSENT, p,
                 "if your purpose really is %s and the subject's consent is recorded: "
                 "--purpose %s --consent",
                 word, word);
    }
    if (strcmp(audience, "direct") != 0 && !consent) {
        json_t *m = json_deep_copy(base);
        json_object_set_new(m, "audience", json_string("direct"));
        json_object_set_new(m, "consent", json_true());
        s_change(list, m, CHANGE_DIRECT | CHANGE_CONSENT, 0,
                 "address it directly (--to %%RECIPIENT%%) and record the subject's "
                 "consent (--consent)");
    }
}

/* The suggestions found for one denied (recipient, section) pair, and what the audiences its
 * reason may point to gave when they did not help. */
typedef struct {
    const char *recipient;
    json_int_t section;
    char *texts[MAX_SUGGESTIONS];
    const change_t *changes[MAX_SUGGESTIONS];
    size_t n;
    char denied_direct[48], denied_focal[48]; /* the code of the denial; "" when not asked */
} found_t;

/* The parts of a change, another audience counting as one part whichever it is. */
static unsigned s_parts(unsigned parts)
{
    return parts & CHANGE_AUDIENCE ? (parts & ~CHANGE_AUDIENCE) | CHANGE_DIRECT : parts;
}

/* 1 when a change already suggested for the pair does part of what c does: c adds nothing (one
 * other audience suggested is enough). */
static int s_redundant(const found_t *f, const change_t *c)
{
    for (size_t i = 0; i < f->n; i++) {
        const change_t *e = f->changes[i];
        if ((s_parts(e->parts) & ~s_parts(c->parts)) == 0 &&
            (!(e->parts & CHANGE_PURPOSE) || e->purpose == c->purpose))
            return 1;
    }
    return 0;
}

static void s_found_add(found_t *f, const change_t *c, const json_t *decision)
{
    if (f->n >= MAX_SUGGESTIONS || s_redundant(f, c))
        return;
    /* Fill in the placeholders: the recipient, and the agreement that covers it then. */
    char text[512];
    const char *agreement = s_str(decision, "agreement");
    char with[160];
    snprintf(with, sizeof with, "%s%s", agreement[0] ? "agreement " : "no agreement needed",
             agreement);
    const char *src = c->text;
    size_t used = 0;
    while (*src && used + 1 < sizeof text) {
        const char *rest = NULL, *insert = NULL;
        if (strncmp(src, "%RECIPIENT%", 11) == 0)
            insert = f->recipient, rest = src + 11;
        else if (strncmp(src, "%AGREEMENT%", 11) == 0)
            insert = with, rest = src + 11;
        if (insert) {
            used += (size_t) snprintf(text + used, sizeof text - used, "%s", insert);
            src = rest;
        } else {
            text[used++] = *src++;
        }
    }
    text[used < sizeof text ? used : sizeof text - 1] = '\0';
    if (agreement[0] && !strstr(c->text, "%AGREEMENT%") && used + 40 < sizeof text)
        snprintf(text + used, sizeof text - used, " (then agreement %s covers it)", agreement);
    f->changes[f->n] = c;
    f->texts[f->n++] = fx_strdup(text);
}

/* Asks, for every denied pair of the base answer, which changes would allow it. */
static int s_suggest(agent_session_t *s, const json_t *query, const json_t *answer,
                     found_t **found_p, size_t *n_found_p)
{
    const json_t *decisions = json_object_get(answer, "decisions");
    const json_t *base = json_object_get(query, "message");
    const json_t *recipients = json_object_get(query, "recipients");
    size_t n_found = 0;
    found_t *found = fx_calloc(json_array_size(decisions) + 1, sizeof *found);
    size_t i;
    json_t *d;
    json_array_foreach(decisions, i, d)
    {
        if (json_is_true(json_object_get(d, "allow")))
            continue;
        found[n_found].recipient = s_str(d, "recipient");
        found[n_found].section = json_integer_value(json_object_get(d, "section"));
        n_found++;
    }
    changes_t changes = {NULL, 0, 0};
    if (n_found)
        s_changes(base, &changes);
    int status = FX_EXIT_OK;
    /* One question per (change, section): the section alone, to the recipients denied it. */
    const json_t *sections = json_object_get(base, "sections");
    for (size_t c = 0; c < changes.n && status == FX_EXIT_OK; c++) {
        size_t k;
        json_t *section;
        json_array_foreach(sections, k, section)
        {
            json_int_t id = json_integer_value(json_object_get(section, "id"));
            json_t *asked = json_array();
            size_t r;
            json_t *principal;
            json_array_foreach(recipients, r, principal)
            {
                for (size_t f = 0; f < n_found; f++)
                    if (found[f].section == id && found[f].n < MAX_SUGGESTIONS &&
                        strcmp(found[f].recipient, s_str(principal, "id")) == 0)
                        json_array_append(asked, principal);
            }
            if (json_array_size(asked) == 0) {
                json_decref(asked);
                continue;
            }
            json_t *message = json_deep_copy(changes.items[c].message);
            json_t *only = json_array();
            json_array_append(only, section);
            json_object_set_new(message, "sections", only);
            json_t *q = json_pack("{s:O, s:o, s:o}", "sender", json_object_get(query, "sender"),
                                  "recipients", asked, "message", message);
            json_t *reply = NULL;
            status = s_explain(s, q, &reply);
            json_decref(q);
            if (status != FX_EXIT_OK)
                break;
            size_t j;
            json_t *decision;
            unsigned parts = changes.items[c].parts;
            json_array_foreach(json_object_get(reply, "decisions"), j, decision)
            {
                if (!json_is_true(json_object_get(decision, "allow"))) {
                    /* Kept for the verdict: what addressing it otherwise leaves. */
                    for (size_t f = 0;
                         f < n_found && (parts == CHANGE_DIRECT || parts == CHANGE_FOCAL); f++)
                        if (found[f].section == id &&
                            strcmp(found[f].recipient, s_str(decision, "recipient")) == 0)
                            s_shown(decision, "code",
                                    parts == CHANGE_DIRECT ? found[f].denied_direct
                                                           : found[f].denied_focal,
                                    sizeof found[f].denied_direct);
                    continue;
                }
                for (size_t f = 0; f < n_found; f++)
                    if (found[f].section == id &&
                        strcmp(found[f].recipient, s_str(decision, "recipient")) == 0)
                        s_found_add(&found[f], &changes.items[c], decision);
            }
            json_decref(reply);
        }
    }
    for (size_t c = 0; c < changes.n; c++)
        json_decref(changes.items[c].message);
    free(changes.items);
    *found_p = found;
    *n_found_p = n_found;
    return status;
}

/* ---- The answer in words -------------------------------------------------------------------- */

/* The verdict for a denied pair that no change tried turns into a yes: what was tried, what the
 * other audiences its reason may point to were denied for, and how to ask about a taskforce. */
static void s_print_no_change(const found_t *f, const json_t *message, const json_t *decision,
                              json_int_t id)
{
    char text[1024], recipient[160];
    s_shown(decision, "recipient", recipient, sizeof recipient);
    size_t used = (size_t) snprintf(text, sizeof text,
                                    "No other agreement (or none), recorded consent or other "
                                    "purpose makes it lawful");
    if (f && f->denied_direct[0])
        used += (size_t) snprintf(text + used, sizeof text - used,
                                  ", nor addressing it to %s by name (denied too: %s)", recipient,
                                  f->denied_direct);
    if (f && f->denied_focal[0] && used < sizeof text)
        used += (size_t) snprintf(text + used, sizeof text - used,
                                  ", nor to the focal points (denied too: %s)", f->denied_focal);
    if (used < sizeof text)
        used += (size_t) snprintf(text + used, sizeof text - used,
                                  "; leave section %lld out for this recipient.", (long long) id);
    /* The TLP rules point a route's amber section to a taskforce as well: its id is the
     * officer's to give. */
    if (used < sizeof text && strcmp(s_str(decision, "code"), "tlp_audience") == 0 &&
        strcmp(s_str(message, "audience"), "route") == 0)
        snprintf(text + used, sizeof text - used,
                 " A taskforce message was not asked about: --audience taskforce --taskforce ID "
                 "--to %s asks whether one may go to it.",
                 recipient);
    printf("    ");
    agent_print_text(stdout, text, "    ");
    printf("\n");
}

static void s_print_answer(const fx_draft_t *draft, const json_t *query, const json_t *answer,
                           const found_t *found, size_t n_found)
{
    const json_t *message = json_object_get(query, "message");
    printf("Can %s share this %s (audience %s)?\n", s_str(json_object_get(query, "sender"), "id"),
           s_str(message, "kind"), s_str(message, "audience"));
    const json_t *decisions = json_object_get(answer, "decisions");
    const char *current = NULL;
    size_t i, denied = 0;
    json_t *d;
    json_array_foreach(decisions, i, d)
    {
        const char *recipient = s_str(d, "recipient");
        char shown[3][160];
        if (!current || strcmp(current, recipient) != 0) {
            current = recipient;
            printf("\n%s:\n", s_shown(d, "recipient", shown[0], sizeof shown[0]));
        }
        json_int_t id = json_integer_value(json_object_get(d, "section"));
        char cats[256] = "";
        int tlp = 0;
        for (size_t k = 0; k < fx_draft_section_count(draft); k++)
            if ((json_int_t) fx_draft_section_id(draft, k) == id) {
                fx_draft_categories_text(fx_draft_section_categories(draft, k), cats, sizeof cats);
                tlp = fx_draft_section_tlp(draft, k);
            }
        int allow = json_is_true(json_object_get(d, "allow"));
        printf("  section %lld (tlp %s; %s): ", (long long) id,
               fx_vocab_name(FX_VOCAB_TLP, tlp) ? fx_vocab_name(FX_VOCAB_TLP, tlp) : "?", cats);
        s_shown(d, "rule", shown[1], sizeof shown[1]);
        s_shown(d, "agreement", shown[2], sizeof shown[2]);
        if (allow)
            printf("YES, rule %s", shown[1]);
        else
            printf("NO (%s%s%s)", s_shown(d, "code", shown[0], sizeof shown[0]),
                   shown[1][0] ? ", rule " : "", shown[1]);
        if (shown[2][0])
            printf(", under agreement %s", shown[2]);
        printf("\n    ");
        agent_print_text(stdout, s_str(d, "reason"), "    ");
        printf("\n");
        if (allow)
            continue;
        denied++;
        const found_t *f = NULL;
        for (size_t k = 0; k < n_found && !f; k++)
            if (found[k].section == id && strcmp(found[k].recipient, recipient) == 0)
                f = &found[k];
        if (f && f->n) {
            printf("    To share it lawfully (each checked against the policy):\n");
            for (size_t k = 0; k < f->n; k++) {
                printf("      - ");
                agent_print_text(stdout, f->texts[k], "        ");
                printf("\n");
            }
            printf("      - or leave section %lld out: the other sections are decided on their "
                   "own\n",
                   (long long) id);
        } else {
            s_print_no_change(f, message, d, id);
        }
    }
    size_t total = json_array_size(decisions);
    if (total == 0)
        printf("\nNobody to ask about: the audience has no recipient.\n");
    else if (denied == 0)
        printf("\nYes: every section may go to every recipient asked about.\n");
    else
        printf("\nNo: %zu of %zu decisions say no (see above).\n", denied, total);
}

/* ---- The recipients ------------------------------------------------------------------------- */

/* The certificates the question is about: --to expanded through the directory, or the
 * recipients the broker finds for the audience. An exit code on failure, printed. */
static int s_recipients(agent_session_t *s, const compose_t *c, const fx_draft_t *draft,
                        json_t *list)
{
    const fx_directory_t *dir = s->directory;
    const char *self_id = s->config->id;
    json_t *to = c->to;
    if (json_array_size(to) == 0 && fx_draft_recipient_count(draft) > 0) {
        to = json_array();
        for (size_t i = 0; i < fx_draft_recipient_count(draft); i++)
            json_array_append_new(to, json_string(fx_draft_recipients(draft)[i]));
    } else {
        json_incref(to);
    }
    int status = FX_EXIT_OK;
    if (json_array_size(to) > 0) {
        size_t n = json_array_size(to), i;
        const char **ids = fx_calloc(n, sizeof *ids);
        json_t *item;
        json_array_foreach(to, i, item)
        {
            ids[i] = json_string_value(item);
        }
        status = agent_check_recipients("can-share", dir, ids, n, "");
        free(ids);
        json_array_foreach(to, i, item)
        {
            if (status != FX_EXIT_OK)
                break;
            const char *id = json_string_value(item);
            const fx_cert_t *cert = fx_directory_find(dir, id);
            if (cert) {
                json_array_append_new(list, s_principal(cert));
                continue;
            }
            for (size_t k = 0; k < fx_directory_count(dir); k++) {
                const fx_cert_t *other = fx_directory_at(dir, k);
                if (fx_directory_status_at(dir, k) == FX_CERT_STATUS_VALID &&
                    strcmp(fx_cert_agency(other), id) == 0 &&
                    strcmp(fx_cert_id(other), self_id) != 0)
                    json_array_append_new(list, s_principal(other));
            }
        }
        json_decref(to);
        return status;
    }
    json_decref(to);
    fx_prepared_t *prepared = NULL;
    fx_answer_t answer;
    fx_err_t rc = fx_client_prepare(s->client, fx_draft_header(draft), NULL, 0, s->authority,
                                    fx_directory_revocations(dir), fx_now_ms(), s->timeout_ms,
                                    &prepared, &answer);
    if (rc == FX_ERR_UNAVAILABLE) {
        return agent_session_unreachable(s);
    }
    if (rc != FX_OK) {
        fx_cli_error(AGENT_PROG, "can-share: the broker could not find the recipients: %s: %s",
                     answer.refused ? answer.code : fx_strerror(rc), answer.reason);
        fx_prepared_destroy(&prepared);
        if (answer.refused && strcmp(answer.code, fx_err_code(FX_ERR_FORBIDDEN)) == 0)
            return FX_EXIT_NO; /* the audience alone lets no one receive it */
        return answer.refused ? FX_EXIT_USAGE : FX_EXIT_SYSTEM;
    }
    /* Every candidate, allowed or denied for some section, once, in the broker's order. */
    for (size_t i = 0; i < fx_prepared_section_count(prepared); i++) {
        for (size_t j = 0;
             j < fx_prepared_allowed_count(prepared, i) + fx_prepared_denied_count(prepared, i);
             j++) {
            size_t allowed = fx_prepared_allowed_count(prepared, i);
            const char *id = j < allowed ? fx_cert_id(fx_prepared_allowed(prepared, i, j))
                                         : fx_prepared_denied(prepared, i, j - allowed)->recipient;
            int seen = 0;
            size_t k;
            json_t *item;
            json_array_foreach(list, k, item)
            {
                seen = seen || strcmp(s_str(item, "id"), id) == 0;
            }
            const fx_cert_t *cert = seen ? NULL : fx_directory_find(dir, id);
            if (cert)
                json_array_append_new(list, s_principal(cert));
        }
    }
    fx_prepared_destroy(&prepared);
    return FX_EXIT_OK;
}

/* ---- fusion-agent can-share ----------------------------------------------------------------- */

static int s_can_share(agent_session_t *s, const compose_t *c, const fx_draft_t *draft)
{
    fx_err_t rc = agent_session_directory(s);
    if (rc == FX_ERR_UNAVAILABLE) {
        return agent_session_unreachable(s);
    }
    if (rc != FX_OK)
        return fx_err_exit(rc);
    const fx_cert_t *me = fx_directory_find(s->directory, s->config->id);
    if (!me) {
        fx_cli_error(AGENT_PROG,
                     "can-share: %s is not in the broker's directory (revoked or expired?)",
                     s->config->id);
        return FX_EXIT_REFUSED;
    }
    json_t *recipients = json_array();
    int status = s_recipients(s, c, draft, recipients);
    if (status != FX_EXIT_OK) {
        json_decref(recipients);
        return status;
    }
    json_t *query = json_pack("{s:o, s:o, s:o}", "sender", s_principal(me), "recipients",
                              recipients, "message", s_message(draft));
    json_t *answer = NULL;
    found_t *found = NULL;
    size_t n_found = 0;
    status = s_explain(s, query, &answer);
    if (status == FX_EXIT_OK && !c->json)
        status = s_suggest(s, query, answer, &found, &n_found);
    if (status == FX_EXIT_OK) {
        if (c->json) {
            char *text = json_dumps(answer, JSON_INDENT(2));
            printf("%s\n", text);
            free(text);
        } else {
            s_print_answer(draft, query, answer, found, n_found);
        }
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(answer, "decisions"), i, d)
        {
            if (!json_is_true(json_object_get(d, "allow")))
                status = FX_EXIT_NO;
        }
        if (json_array_size(json_object_get(answer, "decisions")) == 0)
            status = FX_EXIT_NO;
    }
    for (size_t i = 0; i < n_found; i++)
        for (size_t k = 0; k < found[i].n; k++)
            free(found[i].texts[k]);
    free(found);
    json_decref(answer);
    json_decref(query);
    return status;
}

int agent_can_share(int argc, char **argv)
{
    compose_t c;
    fx_draft_t *draft = NULL;
    agent_compose_init(&c, "can-share", FX_KIND_CASE_ALERT, 1);
    int status = agent_compose_options(&c, argc, argv, s_help);
    if (status != 0) {
        status = status < 0 ? FX_EXIT_OK : status;
        goto cleanup;
    }
    if (!c.composed && !c.draft_path) {
        fx_cli_error(AGENT_PROG, "can-share: describe the message with options or --draft FILE "
                                 "(try --help)");
        status = FX_EXIT_USAGE;
        goto cleanup;
    }
    if ((status = agent_compose_draft(&c, &draft)) != 0)
        goto cleanup;
    agent_session_t session;
    status = agent_session_open(&session, "can-share", agent_config_path(c.config), c.timeout_ms);
    if (status == FX_EXIT_OK)
        status = s_can_share(&session, &c, draft);
    agent_session_close(&session);
cleanup:
    fx_draft_destroy(&draft);
    agent_compose_clear(&c);
    return status;
}
