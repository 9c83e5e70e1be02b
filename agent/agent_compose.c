/* Composing a case alert or a referral from options or a guided prompt, and the `alert` and
 * `refer` commands that send it. Every option, typed or answered, goes through
 * agent_compose_apply into a draft document; lib/draft.c then checks that document as it checks
 * a draft file (labels against content, words, routes, files), and `send`'s path previews,
 * confirms, seals and publishes it. */
#include "agent_compose.h"

#include <getopt.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_net.h"
#include "fusion/cli.h"
#include "fusion/keys.h"
#include "fusion/route.h"
#include "fusion/vocab.h"

#define MAX_ANSWER 4096

void agent_compose_init(compose_t *self, const char *command, int kind, int can_share)
{
    memset(self, 0, sizeof *self);
    self->command = command;
    self->kind = kind;
    self->can_share = can_share;
    self->timeout_ms = AGENT_DEFAULT_TIMEOUT_S * 1000;
    self->doc = json_object();
    json_object_set_new(self->doc, "sections", json_array());
    self->to = json_array();
}

/* Wipes the text of every string in value (the content an officer typed) before it is freed. */
static void s_wipe(json_t *value)
{
    const char *key;
    size_t i;
    json_t *item;
    if (json_is_string(value)) {
        sodium_memzero((char *) json_string_value(value), json_string_length(value));
    } else if (json_is_object(value)) {
        json_object_foreach(value, key, item)
        {
            s_wipe(item);
        }
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, item)
        {
            s_wipe(item);
        }
    }
}

void agent_compose_clear(compose_t *self)
{
    s_wipe(self->doc);
    json_decref(self->doc);
    json_decref(self->to);
    self->doc = self->to = NULL;
    self->section = self->body = NULL;
}

/* What error messages end with: the officer must know that nothing left. */
static const char *s_tail(const compose_t *self)
{
    return self->can_share ? "" : "; nothing was sent";
}

/* ---- One option ----------------------------------------------------------------------------- */

static int s_fail(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *why, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, size, fmt, args);
    va_end(args);
    return -1;
}

static int s_word(fx_vocab_t vocab, const char *option, const char *value, char *why, size_t size)
{
    if (fx_vocab_parse(vocab, value) > 0)
        return 0;
    char words[256];
    fx_vocab_list(vocab, words, sizeof words);
    return s_fail(why, size, "--%s: unknown %s '%s' (expected one of: %s)", option,
                  fx_vocab_title(vocab), value, words);
}

/* A comma-separated list of words into a JSON array. */
static json_t *s_words(fx_vocab_t vocab, const char *option, const char *value, char *why,
                       size_t size)
{
    uint32_t mask = 0;
    char bad[64] = "";
    if (fx_vocab_parse_mask(vocab, value, &mask, bad, sizeof bad) != 0 || mask == 0) {
        char words[256];
        fx_vocab_list(vocab, words, sizeof words);
        s_fail(why, size, "--%s: unknown %s '%s' (expected one or more of: %s)", option,
               fx_vocab_title(vocab), bad[0] ? bad : value, words);
        return NULL;
    }
    json_t *list = json_array();
    for (int v = 1; v < fx_vocab_size(vocab); v++)
        if (mask & (1u << v))
            json_array_append_new(list, json_string(fx_vocab_name(vocab, v)));
    return list;
}

/* A JSON value for text: a whole number when it is all digits (ages, grades), else a string. */
static json_t *s_scalar(const char *text)
{
    if (text[0] && strlen(text) < 10 && strspn(text, "0123456789") == strlen(text))
        return json_integer(strtoll(text, NULL, 10));
    return json_string(text);
}

/* "key=value,key=value" (a person or a document) into an object; `identifier` may repeat. */
static json_t *s_spec(const char *option, const char *value, char *why, size_t size)
{
    json_t *obj = json_object();
    char *copy = fx_strdup(value), *save = NULL;
    int ok = 1;
    for (char *item = strtok_r(copy, ",", &save); item && ok; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            ok = 0;
            s_fail(why, size,
                   "--%s: '%s' is not key=value (e.g. --person role=victim,name=...,age=16)",
                   option, item);
            break;
        }
        *eq = '\0';
        if (strcmp(item, "identifier") == 0) {
            json_t *list = json_object_get(obj, "identifiers");
            if (!list)
                json_object_set_new(obj, "identifiers", list = json_array());
            json_array_append_new(list, json_string(eq + 1));
        } else if (json_object_get(obj, item)) {
            ok = 0;
            s_fail(why, size, "--%s: '%s' is given twice", option, item);
        } else {
            /* Only an age is a number: a document number keeps its leading zeros. */
            json_object_set_new(obj, item,
                                strcmp(item, "age") == 0 ? s_scalar(eq + 1) : json_string(eq + 1));
        }
    }
    sodium_memzero(copy, strlen(value));
    free(copy);
    if (ok && json_object_size(obj) == 0) {
        ok = 0;
        s_fail(why, size, "--%s needs key=value pairs", option);
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* The structured body of the current section, created on first use. */
static json_t *s_body(compose_t *self, const char *option, char *why, size_t size)
{
    if (!self->section) {
        s_fail(why, size, "--%s belongs to a section: start one with --section TLP first", option);
        return NULL;
    }
    if (self->kind != FX_KIND_CASE_ALERT && self->kind != FX_KIND_REFERRAL) {
        s_fail(why, size, "--%s is a field of a case alert or a referral, not of a %s", option,
               fx_vocab_name(FX_VOCAB_KIND, self->kind));
        return NULL;
    }
    if (!self->body)
        json_object_set_new(self->section, "content", self->body = json_object());
    return self->body;
}

static void s_append(json_t *obj, const char *key, json_t *value)
{
    json_t *list = json_object_get(obj, key);
    if (!list)
        json_object_set_new(obj, key, list = json_array());
    json_array_append_new(list, value);
}

/* The content field an option fills in this kind of message (NULL: not in this kind). */
static const char *s_content_key(int kind, const char *option)
{
    static const struct {
        const char *option, *alert, *referral;
    } map[] = {
        {"summary", "summary", NULL},
        {"reason", NULL, "reason"},
        {"indicator", "indicators", "screening_indicators"},
        {"action", "recommended_action", "requested_action"},
        {"location", "location", "location"},
        {"modus-operandi", "modus_operandi", NULL},
        {"intel-source", "intel_source", NULL},
        {"reflection-days", NULL, "reflection_period_days"},
        {"consent-recorded", NULL, "consent_recorded"},
        {"person", "persons", "persons"},
        {"document", "documents", "documents"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].option, option) == 0)
            return kind == FX_KIND_CASE_ALERT ? map[i].alert : map[i].referral;
    return NULL;
}

static int s_content_option(compose_t *self, const char *option, const char *value, char *why,
                            size_t size)
{
    json_t *body = s_body(self, option, why, size);
    if (!body)
        return -1;
    if (strcmp(option, "reliability") == 0 || strcmp(option, "accuracy") == 0) {
        json_t *grading = json_object_get(body, "grading");
        if (!grading)
            json_object_set_new(body, "grading", grading = json_object());
        if (strcmp(option, "reliability") == 0 && (strlen(value) != 1 || !strchr("ABCX", value[0])))
            return s_fail(why, size,
                          "--reliability must be A (completely reliable), B (usually reliable), "
                          "C (fairly reliable) or X (cannot be judged), not '%s'",
                          value);
        if (strcmp(option, "accuracy") == 0 &&
            (strlen(value) != 1 || value[0] < '1' || value[0] > '4'))
            return s_fail(why, size,
                          "--accuracy must be 1 (confirmed), 2 (known personally to the source), "
                          "3 (not known personally but corroborated) or 4 (cannot be judged), "
                          "not '%s'",
                          value);
        json_object_set_new(grading,
                            option[0] == 'r' ? "source_reliability" : "information_accuracy",
                            s_scalar(value));
        return 0;
    }
    const char *key = s_content_key(self->kind, option);
    if (!key)
        return s_fail(why, size, "--%s is not a field of a %s", option,
                      fx_vocab_name(FX_VOCAB_KIND, self->kind));
    if (strcmp(option, "person") == 0 || strcmp(option, "document") == 0) {
        json_t *spec = s_spec(option, value, why, size);
        if (!spec)
            return -1;
        s_append(body, key, spec);
    } else if (strcmp(option, "indicator") == 0) {
        s_append(body, key, json_string(value));
    } else if (strcmp(option, "consent-recorded") == 0) {
        json_object_set_new(body, key, json_true());
    } else if (strcmp(option, "reflection-days") == 0) {
        json_object_set_new(body, key, s_scalar(value));
    } else {
        json_object_set_new(body, key, json_string(value));
    }
    return 0;
}

int agent_compose_apply(compose_t *self, const char *option, const char *value, char *why,
                        size_t size)
{
    static const struct {
        const char *option, *key;
        int vocab; /* -1: free text */
    } header[] = {
        {"stage", "stage", FX_VOCAB_STAGE},
        {"purpose", "purpose", FX_VOCAB_PURPOSE},
        {"subject-role", "subject_role", FX_VOCAB_SUBJECT_ROLE},
        {"urgency", "urgency", FX_VOCAB_URGENCY},
        {"taskforce", "taskforce", -1},
        {"agreement", "agreement", -1},
        {"case-ref", "case_ref", -1},
        {"exercise", "exercise", -1},
        {"expires", "expires", -1},
    };
    if (!value)
        value = "";
    if (strlen(value) > 64 * 1024)
        return s_fail(why, size, "--%s is longer than 64 KiB", option);
    json_t *probe = json_string(value); /* jansson takes UTF-8 only; nothing may be lost */
    if (!probe)
        return s_fail(why, size, "--%s is not valid UTF-8 text", option);
    json_decref(probe);
    self->composed = 1;
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++) {
        if (strcmp(header[i].option, option) != 0)
            continue;
        if (header[i].vocab >= 0 && s_word((fx_vocab_t) header[i].vocab, option, value, why, size))
            return -1;
        json_object_set_new(self->doc, header[i].key, json_string(value));
        return 0;
    }
    if (strcmp(option, "kind") == 0) {
        if (s_word(FX_VOCAB_KIND, option, value, why, size))
            return -1;
        if (self->n_sections > 0)
            return s_fail(why, size, "--kind must come before the first --section");
        self->kind = fx_vocab_parse(FX_VOCAB_KIND, value);
    } else if (strcmp(option, "audience") == 0) {
        if (s_word(FX_VOCAB_AUDIENCE, option, value, why, size))
            return -1;
        self->audience = fx_vocab_parse(FX_VOCAB_AUDIENCE, value);
    } else if (strcmp(option, "to") == 0) {
        char *copy = fx_strdup(value), *save = NULL;
        json_t *ids = json_array();
        int ok = 1;
        for (char *id = strtok_r(copy, ",", &save); id && ok; id = strtok_r(NULL, ",", &save)) {
            if (!fx_recipient_id_valid(id))
                ok = s_fail(why, size,
                            "--to: '%s' is neither a principal id (COUNTRY.AGENCY.UNIT, e.g. "
                            "IDN.POLRI.fp1) nor an agency (COUNTRY.AGENCY, e.g. IDN.POLRI)",
                            id) == 0;
            else
                json_array_append_new(ids, json_string(id));
        }
        free(copy);
        if (ok && json_array_size(ids) == 0)
            ok = s_fail(why, size, "--to needs at least one principal or agency id") == 0;
        if (ok)
            json_array_extend(self->to, ids); /* all or nothing, for a prompt that asks again */
        json_decref(ids);
        if (!ok)
            return -1;
    } else if (strcmp(option, "route") == 0) {
        fx_route_t *route = NULL;
        char reason[FX_ROUTE_WHY_SIZE];
        if (fx_route_parse(value, &route, reason) != FX_OK)
            return s_fail(why, size, "--route: invalid route '%s': %s", value, reason);
        json_object_set_new(self->doc, "route", json_string(fx_route_text(route)));
        fx_route_destroy(&route);
    } else if (strcmp(option, "consent") == 0) {
        json_object_set_new(self->doc, "consent", json_true());
    } else if (strcmp(option, "handling") == 0) {
        json_t *list = s_words(FX_VOCAB_HANDLING, option, value, why, size);
        if (!list)
            return -1;
        json_object_set_new(self->doc, "handling", list);
    } else if (strcmp(option, "section") == 0) {
        if (s_word(FX_VOCAB_TLP, option, value, why, size))
            return -1;
        if (self->n_sections >= FX_ENVELOPE_MAX_SECTIONS)
            return s_fail(why, size, "a message has at most %d sections", FX_ENVELOPE_MAX_SECTIONS);
        self->section = json_pack("{s:i, s:s}", "id", ++self->n_sections, "tlp", value);
        self->body = NULL;
        json_array_append_new(json_object_get(self->doc, "sections"), self->section);
    } else if (strcmp(option, "categories") == 0 || strcmp(option, "text") == 0 ||
               strcmp(option, "file") == 0) {
        if (!self->section)
            return s_fail(why, size,
                          "--%s belongs to a section: start one with --section TLP first", option);
        if (option[0] == 'c') {
            json_t *list = s_words(FX_VOCAB_CATEGORY, option, value, why, size);
            if (!list)
                return -1;
            json_object_set_new(self->section, "categories", list);
        } else if (json_object_get(self->section, option)) {
            return s_fail(why, size, "section %d already has --%s", self->n_sections, option);
        } else {
            json_object_set_new(self->section, option, json_string(value));
        }
    } else {
        return s_content_option(self, option, value, why, size);
    }
    return 0;
}

/* ---- Options -------------------------------------------------------------------------------- */

static const struct option s_options[] = {
    {"draft", required_argument, NULL, 0},
    {"kind", required_argument, NULL, 0},
    {"audience", required_argument, NULL, 0},
    {"to", required_argument, NULL, 0},
    {"route", required_argument, NULL, 0},
    {"stage", required_argument, NULL, 0},
    {"taskforce", required_argument, NULL, 0},
    {"agreement", required_argument, NULL, 0},
    {"purpose", required_argument, NULL, 0},
    {"subject-role", required_argument, NULL, 0},
    {"consent", no_argument, NULL, 0},
    {"urgency", required_argument, NULL, 0},
    {"handling", required_argument, NULL, 0},
    {"case-ref", required_argument, NULL, 0},
    {"expires", required_argument, NULL, 0},
    {"exercise", required_argument, NULL, 0},
    {"section", required_argument, NULL, 0},
    {"categories", required_argument, NULL, 0},
    {"text", required_argument, NULL, 0},
    {"file", required_argument, NULL, 0},
    {"summary", required_argument, NULL, 0},
    {"reason", required_argument, NULL, 0},
    {"indicator", required_argument, NULL, 0},
    {"action", required_argument, NULL, 0},
    {"location", required_argument, NULL, 0},
    {"modus-operandi", required_argument, NULL, 0},
    {"intel-source", required_argument, NULL, 0},
    {"reflection-days", required_argument, NULL, 0},
    {"consent-recorded", no_argument, NULL, 0},
    {"person", required_argument, NULL, 0},
    {"document", required_argument, NULL, 0},
    {"reliability", required_argument, NULL, 0},
    {"accuracy", required_argument, NULL, 0},
    {"yes", no_argument, NULL, 'y'},
    {"json", no_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 't'},
    {"config", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int agent_compose_options(compose_t *self, int argc, char **argv, void (*help)(void))
{
    const char *cmd = self->command;
    int opt, index = 0;
    char why[512];
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "yh", s_options, &index)) != -1) {
        if (opt == 0) {
            const char *name = s_options[index].name;
            if (strcmp(name, "draft") == 0) {
                self->draft_path = optarg;
            } else if (strcmp(name, "kind") == 0 && !self->can_share) {
                fx_cli_error(AGENT_PROG, "%s: --kind is for can-share (this command sends a %s)",
                             cmd, fx_vocab_name(FX_VOCAB_KIND, self->kind));
                return FX_EXIT_USAGE;
            } else if (agent_compose_apply(self, name, optarg, why, sizeof why) != 0) {
                fx_cli_error(AGENT_PROG, "%s: %s%s", cmd, why, s_tail(self));
                return FX_EXIT_USAGE;
            }
        } else if (opt == 'y' && !self->can_share) {
            self->yes = 1;
        } else if (opt == 'j' && self->can_share) {
            self->json = 1;
        } else if (opt == 't') {
            if (agent_parse_seconds(cmd, "--timeout", optarg, &self->timeout_ms) != 0)
                return FX_EXIT_USAGE;
        } else if (opt == 'c') {
            self->config = optarg;
        } else if (opt == 'h') {
            help();
            return -1;
        } else {
            fx_cli_error(AGENT_PROG, "%s: unknown or incomplete option '%s' (try --help)", cmd,
                         argv[optind - 1]);
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fx_cli_error(AGENT_PROG,
                     "%s: unexpected argument '%s' (options take the message; try "
                     "--help)",
                     cmd, argv[optind]);
        return FX_EXIT_USAGE;
    }
    if (self->draft_path && self->composed) {
        fx_cli_error(AGENT_PROG, "%s: give either --draft FILE or the message's options, not both",
                     cmd);
        return FX_EXIT_USAGE;
    }
    return 0;
}

void agent_compose_print_options(const compose_t *self)
{
    int alert = self->kind == FX_KIND_CASE_ALERT || self->can_share;
    int referral = self->kind == FX_KIND_REFERRAL || self->can_share;
    printf("Who receives it (the audience follows from --to, --taskforce or --route; --to and\n"
           "--taskforce are two audiences: give one):\n"
           "  --to ID,...          named principals (IDN.POLRI.fp1) or agencies (IDN.POLRI)\n"
           "  --taskforce ID       the members of a taskforce of the policy\n"
           "  --route ROUTE        everyone following the route (e.g. 'MMR>THA>MYS'; quote it)\n"
           "  --audience A         direct, taskforce, route or focal_points\n"
           "What the message is about (lower-case words):\n"
           "  --stage S            pre_travel, at_border, post_arrival\n"
           "  --purpose P          prevention, border_screening, victim_protection,\n"
           "                       investigation, prosecution, return_reintegration, training\n"
           "  --subject-role R     victim, suspect, witness, at_risk_migrant, unknown\n"
           "  --consent            the subject's consent is recorded\n"
           "  --agreement ID       the agreement it relies on (then only that one counts)\n"
           "  --urgency U          urgent or normal\n"
           "  --handling H,...     crime_prevention_only, no_judicial_use_without_consent,\n"
           "                       no_onward_sharing_without_consent\n"
           "  --case-ref REF       your case reference (no names: it is not encrypted)\n"
           "  --expires WHEN       12h, 7d (default) or a date\n"
           "  --exercise ID        exercise traffic, not live\n"
           "Sections (each --section starts one; the options after it fill it):\n"
           "  --section TLP        clear, green, amber, amber_strict or red\n"
           "  --categories C,...   its data categories; derived from structured fields when\n"
           "                       left out (required for --text and --file)\n"
           "  --text TEXT | --file PATH   free text, or a UTF-8 text file\n");
    if (alert)
        printf("  --summary TEXT       (case alert) what happened; with --modus-operandi TEXT,\n"
               "                       --indicator TEXT (repeat), --action TEXT (recommended),\n"
               "                       --intel-source TEXT\n");
    if (referral)
        printf("  --reason TEXT        (referral) why you refer; with --indicator TEXT (screening\n"
               "                       indicator met; repeat), --action TEXT (requested, e.g.\n"
               "                       victim identification through the NRM),\n"
               "                       --reflection-days N. The referral records the consent\n"
               "                       --consent gives (--consent-recorded, older, says the same\n"
               "                       and needs --consent)\n");
    printf("  --location TEXT      where\n"
           "  --person K=V,...     role, name, date_of_birth, age, nationality, sex,\n"
           "                       identifier (repeatable), biometric_ref, health_notes\n"
           "  --document K=V,...   type, number, issuing_country, expiry\n"
           "  --reliability A|B|C|X  source reliability; --accuracy 1-4 information accuracy\n"
           "Or:\n"
           "  --draft FILE         a draft file (docs/drafts.md) instead of the options above\n");
}

/* ---- The draft ------------------------------------------------------------------------------ */

static int s_infer_audience(compose_t *self)
{
    if (self->audience)
        return self->audience;
    if (json_array_size(self->to) > 0)
        return FX_AUDIENCE_DIRECT;
    if (json_object_get(self->doc, "taskforce"))
        return FX_AUDIENCE_TASKFORCE;
    if (json_object_get(self->doc, "route"))
        return FX_AUDIENCE_ROUTE;
    return 0;
}

/* Completes the document; 0, or -1 after printing the problem. */
static int s_finish(compose_t *self)
{
    const char *cmd = self->command;
    int audience = s_infer_audience(self);
    if (!audience) {
        fx_cli_error(AGENT_PROG,
                     "%s: say who receives it: --to ID,... (named recipients), --taskforce ID, "
                     "--route ROUTE, or --audience focal_points%s",
                     cmd, s_tail(self));
        return -1;
    }
    /* A taskforce and named recipients are two audiences; the policy reads a taskforce only for
     * audience taskforce, so one of them would silently decide nothing. */
    const char *taskforce = json_string_value(json_object_get(self->doc, "taskforce"));
    if (taskforce && taskforce[0] && !self->audience && json_array_size(self->to) > 0) {
        fx_cli_error(AGENT_PROG,
                     "%s: give --to (named recipients, audience direct) or --taskforce (the "
                     "taskforce's members), not both: pick one%s%s",
                     cmd,
                     self->can_share ? " (to ask whether the principals of --to may receive "
                                       "a taskforce message, add --audience taskforce)"
                                     : "",
                     s_tail(self));
        return -1;
    }
    if (taskforce && taskforce[0] && audience != FX_AUDIENCE_TASKFORCE) {
        fx_cli_error(AGENT_PROG,
                     "%s: --taskforce is only for audience taskforce (its members receive the "
                     "message), but the audience is %s: pick one%s",
                     cmd, fx_vocab_name(FX_VOCAB_AUDIENCE, audience), s_tail(self));
        return -1;
    }
    json_object_set_new(self->doc, "kind", json_string(fx_vocab_name(FX_VOCAB_KIND, self->kind)));
    json_object_set_new(self->doc, "audience",
                        json_string(fx_vocab_name(FX_VOCAB_AUDIENCE, audience)));
    if (json_array_size(self->to) > 0 && audience == FX_AUDIENCE_DIRECT) {
        json_object_set(self->doc, "recipients", self->to);
    } else if (json_array_size(self->to) > 0 && !self->can_share) {
        fx_cli_error(AGENT_PROG,
                     "%s: --to names recipients of a direct message, but the audience is %s; "
                     "nothing was sent",
                     cmd, fx_vocab_name(FX_VOCAB_AUDIENCE, audience));
        return -1;
    }
    json_t *sections = json_object_get(self->doc, "sections");
    if (json_array_size(sections) == 0) {
        fx_cli_error(AGENT_PROG,
                     "%s: the message has no section: add --section TLP with its content (try "
                     "--help)%s",
                     cmd, s_tail(self));
        return -1;
    }
    size_t i;
    json_t *section;
    json_array_foreach(sections, i, section)
    {
        int sources = (json_object_get(section, "text") != NULL) +
                      (json_object_get(section, "file") != NULL) +
                      (json_object_get(section, "content") != NULL);
        if (sources > 1) {
            fx_cli_error(AGENT_PROG,
                         "%s: section %zu has more than one of --text, --file and structured "
                         "fields (--%s, --person ...): give one per section%s",
                         cmd, i + 1, self->kind == FX_KIND_REFERRAL ? "reason" : "summary",
                         s_tail(self));
            return -1;
        }
        if (sources == 0 && self->can_share) {
            json_object_set_new(section, "text", json_string("")); /* only labels matter */
        } else if (sources == 0) {
            fx_cli_error(AGENT_PROG,
                         "%s: section %zu has no content: give --%s (and its fields), --text or "
                         "--file%s",
                         cmd, i + 1, self->kind == FX_KIND_REFERRAL ? "reason" : "summary",
                         s_tail(self));
            return -1;
        }
        json_t *body = json_object_get(section, "content");
        /* The referral's consent_recorded follows --consent; said alone, the signed header (on
         * which the policy decides) and the referral would disagree (docs/agent.md). */
        if (json_is_true(json_object_get(body, "consent_recorded")) &&
            !json_is_true(json_object_get(self->doc, "consent"))) {
            fx_cli_error(AGENT_PROG,
                         "%s: --consent-recorded says the referral records the subject's "
                         "consent, but --consent is not given, so the signed header (on which "
                         "the policy decides) would say it is not recorded: give --consent if "
                         "it is (the referral then records it too; --consent-recorded is not "
                         "needed)%s",
                         cmd, s_tail(self));
            return -1;
        }
        if (body) {
            json_incref(body);
            json_object_set_new(section, "content",
                                json_pack("{s:o}", fx_vocab_name(FX_VOCAB_KIND, self->kind), body));
        }
    }
    self->section = self->body = NULL;
    return 0;
}

int agent_compose_draft(compose_t *self, fx_draft_t **draft_p)
{
    *draft_p = NULL;
    const char *cmd = self->command;
    fx_diag_t *diag = fx_diag_new(self->draft_path ? self->draft_path : cmd);
    fx_err_t rc;
    if (self->draft_path) {
        rc = fx_draft_load(self->draft_path, fx_now_ms(), diag, draft_p);
        if (rc != FX_OK)
            fx_diag_print(diag, stderr, AGENT_PROG ": ");
    } else {
        if (s_finish(self) != 0) {
            fx_diag_destroy(&diag);
            return FX_EXIT_USAGE;
        }
        char *text = json_dumps(self->doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        size_t len = strlen(text);
        rc = fx_draft_parse((const uint8_t *) text, len, NULL, fx_now_ms(), diag, draft_p);
        sodium_memzero(text, len); /* content */
        free(text);
        /* The positions would be those of a document the officer never saw. */
        for (size_t i = 0; rc != FX_OK && i < fx_diag_count(diag); i++)
            fx_cli_error(AGENT_PROG, "%s: %s", cmd, fx_diag_message(diag, i));
    }
    fx_diag_destroy(&diag);
    if (rc != FX_OK) {
        if (!self->can_share)
            fx_cli_error(AGENT_PROG, "%s: nothing was sent", cmd);
        return FX_EXIT_USAGE;
    }
    if (!self->can_share && (int) fx_draft_header(*draft_p)->kind != self->kind) {
        fx_cli_error(AGENT_PROG, "%s: %s holds a %s, not a %s; nothing was sent", cmd,
                     self->draft_path,
                     fx_vocab_name(FX_VOCAB_KIND, (int) fx_draft_header(*draft_p)->kind),
                     fx_vocab_name(FX_VOCAB_KIND, self->kind));
        fx_draft_destroy(draft_p);
        return FX_EXIT_USAGE;
    }
    return 0;
}

/* ---- The guided prompt ---------------------------------------------------------------------- */

/* Reads one line without its new line; -1 at the end of input. */
static int s_read_line(FILE *in, char *line, size_t size)
{
    if (!fgets(line, (int) size, in))
        return -1;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n')
        line[--len] = '\0';
    else if (len == size - 1) { /* too long: drop the rest of the line */
        int c;
        while ((c = fgetc(in)) != EOF && c != '\n')
            ;
    }
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    return 0;
}

/* Asks until the answer applies (1), an optional question is skipped (0), or input ends (-1). */
static int s_ask(compose_t *self, FILE *in, FILE *out, const char *question, const char *option,
                 int required)
{
    char line[MAX_ANSWER], why[512];
    for (;;) {
        fprintf(out, "%s%s: ", question, required ? "" : " [Enter: none]");
        fflush(out);
        if (s_read_line(in, line, sizeof line) != 0) {
            fprintf(out, "\n");
            return -1;
        }
        if (!line[0] && !required)
            return 0;
        if (!line[0]) {
            fprintf(out, "  an answer is needed here\n");
            continue;
        }
        int applied = agent_compose_apply(self, option, line, why, sizeof why) == 0;
        sodium_memzero(line, sizeof line);
        if (applied)
            return 1;
        fprintf(out, "  %s\n", why);
    }
}

/* A yes/no question; 1 yes, 0 no, -1 end of input. */
static int s_ask_yes(FILE *in, FILE *out, const char *question)
{
    char line[64];
    fprintf(out, "%s [y/N]: ", question);
    fflush(out);
    if (s_read_line(in, line, sizeof line) != 0)
        return -1;
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

/* Asks a repeated field until an empty answer. */
static int s_ask_many(compose_t *self, FILE *in, FILE *out, const char *question,
                      const char *option)
{
    int rc;
    while ((rc = s_ask(self, in, out, question, option, 0)) == 1)
        ;
    return rc;
}

int agent_compose_prompt(compose_t *self, FILE *in, FILE *out)
{
    int referral = self->kind == FX_KIND_REFERRAL;
    fprintf(out,
            "Compose a %s. Answer each question; Enter skips an optional one. Nothing is sent\n"
            "before you have seen who will receive each section and confirmed.\n\n",
            referral ? "referral" : "case alert");
#define ASK(q, o, r)                                                                               \
    do {                                                                                           \
        if (s_ask(self, in, out, (q), (o), (r)) < 0)                                               \
            return -1;                                                                             \
    } while (0)
#define MANY(q, o)                                                                                 \
    do {                                                                                           \
        if (s_ask_many(self, in, out, (q), (o)) < 0)                                               \
            return -1;                                                                             \
    } while (0)
    ASK("Audience (direct, taskforce, route, focal_points)", "audience", 1);
    if (self->audience == FX_AUDIENCE_DIRECT)
        ASK("Recipients (principal or agency ids, comma-separated, e.g. IDN.POLRI.fp1)", "to", 1);
    else if (self->audience == FX_AUDIENCE_TASKFORCE)
        ASK("Taskforce id", "taskforce", 1);
    ASK("Route (e.g. MMR>THA>MYS)", "route", self->audience == FX_AUDIENCE_ROUTE);
    ASK("Stage (pre_travel, at_border, post_arrival)", "stage", 0);
    ASK("Purpose (prevention, border_screening, victim_protection, investigation, prosecution, "
        "return_reintegration, training)",
        "purpose", 0);
    ASK("Subject's role (victim, suspect, witness, at_risk_migrant, unknown)", "subject-role", 0);
    int yes = s_ask_yes(in, out, "Is the subject's consent recorded?");
    if (yes < 0)
        return -1;
    if (yes)
        agent_compose_apply(self, "consent", NULL, NULL, 0);
    ASK("Agreement it relies on (its id in the policy)", "agreement", 0);
    ASK("Urgency (urgent, normal)", "urgency", 0);
    ASK("Handling restrictions (comma-separated: crime_prevention_only, "
        "no_judicial_use_without_consent, no_onward_sharing_without_consent)",
        "handling", 0);
    ASK("Your case reference (no names)", "case-ref", 0);
    do {
        fprintf(out, "\nSection %d\n", self->n_sections + 1);
        ASK("  TLP (clear, green, amber, amber_strict, red)", "section", 1);
        ASK(referral ? "  Reason for the referral" : "  Summary", referral ? "reason" : "summary",
            1);
        MANY(referral ? "  Screening indicator met (one per answer)"
                      : "  Indicator (one per answer)",
             "indicator");
        ASK(referral ? "  Requested action" : "  Recommended action", "action", 0);
        ASK("  Location", "location", 0);
        MANY("  Person (role=...,name=...,age=...,nationality=...; one per answer)", "person");
        MANY("  Travel document (type=passport,number=...,issuing_country=...)", "document");
        ASK("  Source reliability (A, B, C, X)", "reliability", 0);
        ASK("  Information accuracy (1-4)", "accuracy", 0);
        ASK("  Categories, comma-separated (none: derived from what you entered)", "categories", 0);
    } while ((yes = s_ask_yes(in, out, "Add another section?")) == 1 &&
             self->n_sections < FX_ENVELOPE_MAX_SECTIONS);
#undef ASK
#undef MANY
    return yes < 0 ? -1 : 0;
}

/* ---- fusion-agent alert / refer ------------------------------------------------------------- */

static void s_usage(int kind)
{
    const char *name = kind == FX_KIND_REFERRAL ? "refer" : "alert";
    compose_t c;
    agent_compose_init(&c, name, kind, 0);
    printf("Usage: %s %s [OPTIONS] [--yes] [--timeout S] [--config FILE]\n\n", AGENT_PROG, name);
    if (kind == FX_KIND_REFERRAL)
        printf("Composes and sends a referral: a case handed to a focal point of another agency,\n"
               "for example a possible victim for identification through a National Referral\n"
               "Mechanism.\n\n");
    else
        printf("Composes and sends a case alert: what officers on a route, in a taskforce or at\n"
               "named agencies should look out for.\n\n");
    printf("Without options on a terminal it asks for each field. Before anything is sent the\n"
           "broker says, per section, who will receive it and who will not and why; you then\n"
           "confirm (--yes skips the question; without a terminal --yes is required). A section\n"
           "labelled below what its fields imply (a name is personal_identifiers, a victim is\n"
           "victim_identity, an age under 18 is minor ...) is refused. When the broker cannot be\n"
           "reached the message waits in the outbox (exit 5).\n\n");
    agent_compose_print_options(&c);
    printf("  -y, --yes            send without asking (required without a terminal)\n"
           "  --timeout S          seconds to wait for each answer (default %d)\n"
           "  --config FILE        agent configuration (default: $%s, else ./%s)\n"
           "  -h, --help           this help\n\n",
           AGENT_DEFAULT_TIMEOUT_S, AGENT_CONFIG_ENV, AGENT_CONFIG_DEFAULT);
    if (kind == FX_KIND_REFERRAL)
        printf("Example:\n  %s refer --to THA.RTP --purpose victim_protection --subject-role "
               "victim \\\n    --consent --agreement IDN-THA-NRM-2024 --urgency urgent \\\n"
               "    --section amber --reason 'Recruited for a scam compound' \\\n"
               "      --action 'victim identification through the NRM' \\\n"
               "      --person role=victim,name='A. Example',nationality=IDN\n",
               AGENT_PROG);
    else
        printf("Example:\n  %s alert --route 'MMR>THA>MYS' --stage at_border --purpose "
               "investigation \\\n    --section green --summary 'Minivan groups via Mae Sot' "
               "--reliability B --accuracy 2 \\\n    --section amber --summary 'The escort' "
               "--person role=suspect,name='E. Example'\n",
               AGENT_PROG);
    printf("\nExits 0 when the broker accepted it, 1 when you did not confirm, 2 for invalid\n"
           "input or a sealed message larger than the broker takes (its max_message_bytes;\n"
           "nothing is sent), 3 when the broker rejected it or nobody may receive it, 5 when\n"
           "it is queued because the broker could not be reached.\n");
    fx_cli_print_exit_codes();
    agent_compose_clear(&c);
}

static void s_alert_help(void)
{
    s_usage(FX_KIND_CASE_ALERT);
}

static void s_refer_help(void)
{
    s_usage(FX_KIND_REFERRAL);
}

static int s_compose_and_send(int kind, int argc, char **argv)
{
    const char *name = kind == FX_KIND_REFERRAL ? "refer" : "alert";
    compose_t c;
    fx_draft_t *draft = NULL;
    agent_compose_init(&c, name, kind, 0);
    int status = agent_compose_options(&c, argc, argv,
                                       kind == FX_KIND_REFERRAL ? s_refer_help : s_alert_help);
    if (status != 0) {
        status = status < 0 ? FX_EXIT_OK : status;
        goto cleanup;
    }
    int terminal = isatty(STDIN_FILENO);
    if (!c.composed && !c.draft_path) {
        if (!terminal) {
            fx_cli_error(AGENT_PROG,
                         "%s: no message given: use the options (try --help), --draft FILE, or "
                         "run it on a terminal to be asked%s",
                         name, s_tail(&c));
            status = FX_EXIT_USAGE;
            goto cleanup;
        }
        if (agent_compose_prompt(&c, stdin, stdout) != 0) {
            fx_cli_error(AGENT_PROG, "%s: the answers ended early; nothing was sent", name);
            status = FX_EXIT_USAGE;
            goto cleanup;
        }
    }
    if ((status = agent_compose_draft(&c, &draft)) != 0)
        goto cleanup;
    if (!c.yes && !terminal) {
        fx_cli_error(AGENT_PROG,
                     "%s: there is no terminal to confirm the recipients on; run it on a "
                     "terminal, or add --yes to send to whoever the policy allows without "
                     "asking%s",
                     name, s_tail(&c));
        status = FX_EXIT_USAGE;
        goto cleanup;
    }
    agent_session_t session;
    status = agent_session_open(&session, name, agent_config_path(c.config), c.timeout_ms);
    if (status == FX_EXIT_OK)
        status = agent_send_draft(&session, kind == FX_KIND_REFERRAL ? "referral" : "alert", draft,
                                  c.yes);
    agent_session_close(&session);
cleanup:
    fx_draft_destroy(&draft);
    agent_compose_clear(&c);
    return status;
}

int agent_alert(int argc, char **argv)
{
    return s_compose_and_send(FX_KIND_CASE_ALERT, argc, argv);
}

int agent_refer(int argc, char **argv)
{
    return s_compose_and_send(FX_KIND_REFERRAL, argc, argv);
}
