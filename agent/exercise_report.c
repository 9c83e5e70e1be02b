/* fusion-agent exercise report: the after-action report from a run's results (results.json):
 * report.json (the schema of docs/exercise-report.schema.json), report.md, and report.html, one
 * self-contained page (inline CSS, an inline SVG timeline with one lane per participant, no
 * external reference of any kind). Every text from the results is escaped where it is written. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "exercise.h"
#include "fusion/cli.h"
#include "fusion/scenario.h"
#include "fusion/util.h"

#define REPORT_VERSION 1

/* ---- Reading the results --------------------------------------------------------------------- */

static const char *s_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int64_t s_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

const char *exercise_results_check(const json_t *doc)
{
    static const char *const strings[] = {"exercise", "title", "scenario", "started_at"};
    static const char *const arrays[] = {"participants", "injects", "expectations", "events",
                                         "objectives"};
    if (!json_is_object(doc))
        return "not a JSON object";
    if (json_integer_value(json_object_get(doc, "fusion_exercise_results")) !=
        EXERCISE_RESULTS_VERSION)
        return "not exercise results (fusion_exercise_results: 1 is missing)";
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
        if (!json_is_string(json_object_get(doc, strings[i])))
            return "a required text field is missing";
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        if (!json_is_array(json_object_get(doc, arrays[i])))
            return "a required list is missing";
    if (!json_is_integer(json_object_get(doc, "speed")) || s_int(doc, "speed") < 1)
        return "speed is missing";
    size_t i;
    json_t *v;
    json_array_foreach(
        json_object_get(doc, "participants"), i,
        v) if (!json_is_string(json_object_get(v, "id"))) return "a participant has no id";
    json_array_foreach(json_object_get(doc, "injects"), i,
                       v) if (!json_is_string(json_object_get(v, "id")) ||
                              !json_is_string(json_object_get(v, "from")) ||
                              !json_is_integer(json_object_get(v, "at_ms")) ||
                              !json_is_string(json_object_get(
                                  v, "status"))) return "an inject lacks id, from, at_ms "
                                                        "or status";
    json_array_foreach(json_object_get(doc, "expectations"), i,
                       v) if (!json_is_string(json_object_get(v, "inject")) ||
                              !json_is_string(json_object_get(v, "kind")) ||
                              !json_is_string(json_object_get(v, "principal")) ||
                              !json_is_string(json_object_get(
                                  v, "outcome"))) return "an expectation lacks inject, "
                                                         "kind, principal or outcome";
    json_array_foreach(json_object_get(doc, "events"), i,
                       v) if (!json_is_integer(json_object_get(v, "t_ms")) ||
                              !json_is_string(json_object_get(v, "type")) ||
                              !json_is_string(json_object_get(
                                  v, "participant"))) return "an event lacks t_ms, type "
                                                             "or participant";
    return NULL;
}

/* ---- Statistics ------------------------------------------------------------------------------ */

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static json_t *s_stats(int64_t *v, size_t n)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t) n));
    if (n == 0) {
        json_object_set_new(o, "min_ms", json_null());
        json_object_set_new(o, "median_ms", json_null());
        json_object_set_new(o, "mean_ms", json_null());
        json_object_set_new(o, "max_ms", json_null());
        return o;
    }
    qsort(v, n, sizeof *v, s_cmp);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    json_object_set_new(o, "min_ms", json_integer(v[0]));
    json_object_set_new(o, "median_ms",
                        json_integer(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2));
    json_object_set_new(o, "mean_ms", json_integer(sum / (int64_t) n));
    json_object_set_new(o, "max_ms", json_integer(v[n - 1]));
    return o;
}

/* The time the inject's message went out (sent_ms), else its scheduled time. */
static int64_t s_sent(const json_t *doc, const char *inject)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "injects"), i,
                       v) if (strcmp(s_str(v, "id"), inject) ==
                              0) return json_is_integer(json_object_get(v, "sent_ms"))
        ? s_int(v, "sent_ms")
        : s_int(v, "at_ms");
    return 0;
}

/* The inject of that id in doc's injects, or NULL. */
static const json_t *s_inject_by_id(const json_t *doc, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(doc, "injects"), i, v)
    {
        if (strcmp(s_str(v, "id"), id) == 0)
            return v;
    }
    return NULL;
}

/* What became of an inject, as every part of the report states it: its status, and its detail
 * when it has one ("denied: the policy allows no recipient for any section"). A new string. */
static char *s_inject_status_text(const json_t *inj)
{
    const char *status = s_str(inj, "status");
    if (!json_is_string(json_object_get(inj, "detail")))
        return fx_strdup(status);
    const char *detail = s_str(inj, "detail");
    size_t n = strlen(status) + strlen(detail) + 3;
    char *text = fx_malloc(n);
    snprintf(text, n, "%s: %s", status, detail);
    return text;
}

/* Whether an inject was sent by the runner (or, a subscription, done): what the timeline draws
 * as a filled mark. Denied, rejected, skipped, failed and the trainee's own are not. */
static bool s_inject_went(const json_t *inj)
{
    const char *status = s_str(inj, "status");
    return strcmp(status, "sent") == 0 || strcmp(status, "done") == 0;
}

/* A duration in scenario time for people: "4 min 30 s", "45 s", "1 h 05 min". */
static void s_dur(int64_t ms, char *buf, size_t size)
{
    int64_t s = (ms + 500) / 1000;
    if (s >= 3600)
        snprintf(buf, size, "%lld h %02lld min", (long long) (s / 3600), (long long) (s / 60 % 60));
    else if (s >= 60 && s % 60 == 0)
        snprintf(buf, size, "%lld min", (long long) (s / 60));
    else if (s >= 60)
        snprintf(buf, size, "%lld min %02lld s", (long long) (s / 60), (long long) (s % 60));
    else
        snprintf(buf, size, "%lld s", (long long) s);
}

static const char *s_outcome_words(const char *outcome)
{
    return strcmp(outcome, "met") == 0                  ? "met"
           : strcmp(outcome, "missed_as_designed") == 0 ? "missed, as designed"
           : strcmp(outcome, "missed") == 0             ? "MISSED"
           : strcmp(outcome, "unobserved") == 0         ? "not observed"
                                                        : "pending";
}

/* Where an expectation's outcome was observed, in words. */
static const char *s_source_words(const json_t *x)
{
    const char *source = json_string_value(json_object_get(x, "source"));
    return !source                              ? NULL
           : strcmp(source, "participant") == 0 ? "a participant the runner plays"
           : strcmp(source, "prepare") == 0     ? "the sender's PREPARE answer"
           : strcmp(source, "audit") == 0       ? "the exercise's audit trail"
                                                : NULL;
}

/* One sentence for an expectation: "IDN.POLRI.sim1 receives it within 10 min". */
static void s_expect_text(const json_t *x, char *buf, size_t size)
{
    const char *kind = s_str(x, "kind"), *who = s_str(x, "principal");
    char within[48] = "";
    if (json_is_integer(json_object_get(x, "within_ms"))) {
        char d[32];
        s_dur(s_int(x, "within_ms"), d, sizeof d);
        snprintf(within, sizeof within, " within %s", d);
    }
    if (strcmp(kind, "delivered") == 0)
        snprintf(buf, size, "%s receives it%s", who, within);
    else if (strcmp(kind, "not_delivered") == 0)
        snprintf(buf, size, "%s does not receive it%s", who, within);
    else if (strcmp(kind, "denied") == 0)
        snprintf(buf, size, "the policy denies %s (%s%s%s)", who, s_str(x, "code"),
                 json_is_string(json_object_get(x, "rule")) ? ", rule " : "", s_str(x, "rule"));
    else if (strcmp(kind, "escalated") == 0)
        snprintf(buf, size, "%s is sent the escalation notice%s", who, within);
    else
        snprintf(buf, size, "%s answers %s%s", who,
                 strcmp(kind, "acknowledged") == 0 ? "(acknowledges)" : kind, within);
}

/* Builds the report document from the results. */
static json_t *s_report(const json_t *res)
{
    json_t *rep = json_object();
    json_object_set_new(rep, "fusion_exercise_report", json_integer(REPORT_VERSION));
    static const char *const copied[] = {"exercise", "title",       "reference",  "objectives",
                                         "scenario", "speed",       "started_at", "finished_at",
                                         "complete", "participants"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++) {
        json_t *v = json_object_get(res, copied[i]);
        json_object_set_new(rep, copied[i], v ? json_deep_copy(v) : json_null());
    }
    if (!json_is_boolean(json_object_get(rep, "complete")))
        json_object_set_new(rep, "complete", json_false());
    json_t *injects = json_array(), *expects = json_array(), *denials = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "injects"), i, v)
    {
        json_t *o = json_object();
        static const char *const keys[] = {"id",           "at_ms",       "from",   "action",
                                           "message_kind", "description", "status", "detail",
                                           "sent_ms",      "msg_id"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            json_t *f = json_object_get(v, keys[k]);
            json_object_set_new(o, keys[k], f ? json_deep_copy(f) : json_null());
        }
        json_array_append_new(injects, o);
    }
    size_t met = 0, missed = 0, designed = 0, unobserved = 0, pending = 0, as_designed = 0;
    json_array_foreach(json_object_get(res, "expectations"), i, v)
    {
        json_t *o = json_deep_copy(v);
        const char *outcome = s_str(v, "outcome");
        if (!s_source_words(o)) /* results of an older runner, or not observed */
            json_object_set_new(o, "source", json_null());
        int designed_to_fail = json_is_true(json_object_get(v, "designed_to_fail"));
        int ok = designed_to_fail ? strcmp(outcome, "missed_as_designed") == 0
                                  : strcmp(outcome, "met") == 0;
        met += strcmp(outcome, "met") == 0;
        missed += strcmp(outcome, "missed") == 0;
        designed += strcmp(outcome, "missed_as_designed") == 0;
        unobserved += strcmp(outcome, "unobserved") == 0;
        pending += strcmp(outcome, "pending") == 0;
        as_designed += ok;
        json_object_set_new(o, "as_designed", json_boolean(ok));
        json_array_append_new(expects, o);
    }
    size_t n_events = json_array_size(json_object_get(res, "events"));
    int64_t *delivery = fx_calloc(n_events + 1, sizeof *delivery);
    int64_t *latency = fx_calloc(n_events + 1, sizeof *latency);
    int64_t *response = fx_calloc(n_events + 1, sizeof *response);
    size_t nd = 0, nl = 0, nr = 0, breaches = 0, rejections = 0, escalations = 0, left = 0;
    /* Per participant, in order: how many live messages and other exercises' it left. */
    json_t *left_for = json_object();
    json_array_foreach(json_object_get(res, "events"), i, v)
    {
        const char *type = s_str(v, "type");
        const char *inject = s_str(v, "inject");
        if (strcmp(type, "delivery") == 0 && inject[0]) {
            delivery[nd++] = s_int(v, "t_ms") - s_sent(res, inject);
            if (json_is_integer(json_object_get(v, "latency_ms")))
                latency[nl++] = s_int(v, "latency_ms");
        } else if (strcmp(type, "response") == 0 && inject[0]) {
            response[nr++] = s_int(v, "t_ms") - s_sent(res, inject);
        } else if (strcmp(type, "denial") == 0) {
            json_t *d = json_object();
            json_object_set_new(d, "inject", json_string(inject));
            json_object_set_new(d, "t_ms", json_integer(s_int(v, "t_ms")));
            json_object_set_new(d, "sender", json_string(s_str(v, "from")));
            json_object_set_new(d, "recipient", json_string(s_str(v, "participant")));
            json_object_set_new(d, "section", json_integer(s_int(v, "section")));
            json_object_set_new(d, "code", json_string(s_str(v, "code")));
            json_t *rule = json_object_get(v, "rule");
            json_object_set_new(d, "rule",
                                json_is_string(rule) ? json_deep_copy(rule) : json_null());
            json_t *g = json_object_get(v, "guideline");
            json_object_set_new(d, "guideline",
                                json_is_string(g) ? json_deep_copy(g) : json_null());
            json_object_set_new(d, "reason", json_string(s_str(v, "reason")));
            json_array_append_new(denials, d);
        }
        breaches += strcmp(type, "segregation_breach") == 0;
        if (strcmp(type, "traffic_left") == 0) {
            left++;
            json_t *counts = json_object_get(left_for, s_str(v, "participant"));
            if (!counts) {
                counts = json_pack("[i, i]", 0, 0);
                json_object_set_new(left_for, s_str(v, "participant"), counts);
            }
            size_t which = s_str(v, "exercise")[0] ? 1 : 0;
            json_array_set_new(counts, which,
                               json_integer(json_integer_value(json_array_get(counts, which)) + 1));
        }
        rejections += strcmp(type, "rejection") == 0;
        escalations += strcmp(type, "escalation") == 0;
    }
    for (size_t k = 0; k < nd; k++)
        if (delivery[k] < 0)
            delivery[k] = 0;
    for (size_t k = 0; k < nr; k++)
        if (response[k] < 0)
            response[k] = 0;
    json_t *stats = json_object();
    json_object_set_new(stats, "delivery", s_stats(delivery, nd));
    json_object_set_new(stats, "delivery_latency_real", s_stats(latency, nl));
    json_object_set_new(stats, "response", s_stats(response, nr));
    json_t *summary = json_object();
    json_object_set_new(summary, "expectations",
                        json_integer((json_int_t) json_array_size(expects)));
    json_object_set_new(summary, "met", json_integer((json_int_t) met));
    json_object_set_new(summary, "missed", json_integer((json_int_t) missed));
    json_object_set_new(summary, "missed_as_designed", json_integer((json_int_t) designed));
    json_object_set_new(summary, "unobserved", json_integer((json_int_t) unobserved));
    json_object_set_new(summary, "pending", json_integer((json_int_t) pending));
    json_object_set_new(summary, "as_designed", json_integer((json_int_t) as_designed));
    json_object_set_new(summary, "denials", json_integer((json_int_t) json_array_size(denials)));
    json_object_set_new(summary, "escalations", json_integer((json_int_t) escalations));
    json_object_set_new(summary, "rejections", json_integer((json_int_t) rejections));
    json_object_set_new(summary, "segregation_breaches", json_integer((json_int_t) breaches));
    json_object_set_new(summary, "traffic_left", json_integer((json_int_t) left));

    /* Strengths and areas for improvement, from the results. */
    json_t *strengths = json_array(), *improve = json_array();
    char line[1024], d1[32], d2[32];
    size_t timed_met = 0, denied_met = 0, quiet_met = 0;
    json_array_foreach(expects, i, v)
    {
        const char *kind = s_str(v, "kind"), *outcome = s_str(v, "outcome");
        if (strcmp(outcome, "met") == 0) {
            if (strcmp(kind, "denied") == 0)
                denied_met++;
            else if (strcmp(kind, "not_delivered") == 0)
                quiet_met++;
            else
                timed_met++;
        }
        if (strcmp(outcome, "missed") == 0 || strcmp(outcome, "missed_as_designed") == 0 ||
            (strcmp(outcome, "met") == 0 && json_is_true(json_object_get(v, "designed_to_fail")))) {
            char what[512];
            s_expect_text(v, what, sizeof what);
            if (json_is_integer(json_object_get(v, "measured_ms")))
                s_dur(s_int(v, "measured_ms"), d1, sizeof d1);
            snprintf(line, sizeof line, "%s: expected that %s; %s%s%s%s.", s_str(v, "inject"), what,
                     strcmp(outcome, "met") == 0 ? "it was met although the scenario designed it "
                                                   "to be missed (check the scenario)"
                     : strcmp(outcome, "missed_as_designed") == 0 ? "missed, as the scenario "
                                                                    "designed (rehearse this "
                                                                    "step)"
                                                                  : "missed",
                     json_is_integer(json_object_get(v, "measured_ms")) ? ", measured " : "",
                     json_is_integer(json_object_get(v, "measured_ms")) ? d1 : "",
                     json_is_string(json_object_get(v, "detail")) && strcmp(outcome, "met") ? ""
                                                                                            : "");
            json_array_append_new(improve, json_string(line));
        }
    }
    if (timed_met) {
        json_t *med = json_object_get(json_object_get(stats, "delivery"), "median_ms");
        s_dur(json_is_integer(med) ? json_integer_value(med) : 0, d2, sizeof d2);
        snprintf(line, sizeof line,
                 "%zu timed expectation(s) (deliveries and answers) were met; the median "
                 "delivery took %s of exercise time.",
                 timed_met, d2);
        json_array_append_new(strengths, json_string(line));
    }
    if (denied_met) {
        snprintf(line, sizeof line,
                 "The sharing policy refused %zu recipient(s) exactly as the scenario expected, "
                 "each with the guideline that applies.",
                 denied_met);
        json_array_append_new(strengths, json_string(line));
    }
    if (quiet_met) {
        snprintf(line, sizeof line,
                 "%zu participant(s) outside a message's audience received nothing of it.",
                 quiet_met);
        json_array_append_new(strengths, json_string(line));
    }
    size_t segregated = 0;
    json_array_foreach(denials, i, v) segregated +=
        strcmp(s_str(v, "code"), "exercise_segregation") == 0;
    if (segregated) {
        snprintf(line, sizeof line,
                 "Exercise segregation kept %zu (section, recipient) pair(s) outside the "
                 "exercise from its traffic.",
                 segregated);
        json_array_append_new(strengths, json_string(line));
    }
    if (breaches == 0)
        json_array_append_new(strengths,
                              json_string("No live traffic reached the exercise's simulated "
                                          "participants (segregation held)."));
    else {
        snprintf(line, sizeof line,
                 "%zu live message(s) reached a simulated participant, which the broker's "
                 "exercise segregation should have denied: report them (their msg_id is in "
                 "the timeline) to the broker's operators.",
                 breaches);
        json_array_append_new(improve, json_string(line));
    }
    /* A played trainee is a real officer: its live traffic is not the exercise's, and the runner
     * left it for the officer's own agent. Not a breach of anything. */
    const char *who;
    json_t *counts;
    json_object_foreach(left_for, who, counts)
    {
        json_int_t live = json_integer_value(json_array_get(counts, 0));
        json_int_t other = json_integer_value(json_array_get(counts, 1));
        if (live) {
            snprintf(line, sizeof line,
                     "Live traffic for %s (%lld message(s)), a trainee the runner played, was "
                     "left for the officer's own agent: the runner did not acknowledge it, so "
                     "the broker keeps it for the officer's fusion-agent listen or inbox.",
                     who, (long long) live);
            json_array_append_new(strengths, json_string(line));
        }
        if (other) {
            snprintf(line, sizeof line,
                     "Traffic of other exercises for %s (%lld message(s)) was left for their own "
                     "runs: the runner did not acknowledge it.",
                     who, (long long) other);
            json_array_append_new(strengths, json_string(line));
        }
    }
    json_decref(left_for);
    if (rejections) {
        snprintf(line, sizeof line,
                 "%zu message(s) of the exercise were rejected by the broker or could not be "
                 "sent (see the timeline).",
                 rejections);
        json_array_append_new(improve, json_string(line));
    }
    if (unobserved) {
        snprintf(line, sizeof line,
                 "%zu expectation(s) could not be observed by the runner (trainees' own screens): "
                 "debrief them with the trainees, or rehearse with --play-trainees.",
                 unobserved);
        json_array_append_new(improve, json_string(line));
    }
    if (json_array_size(improve) == 0)
        json_array_append_new(improve,
                              json_string("None from this run: every expectation was met."));
    free(delivery);
    free(latency);
    free(response);
    json_object_set_new(rep, "summary", summary);
    json_object_set_new(rep, "statistics", stats);
    json_object_set_new(rep, "injects", injects);
    json_object_set_new(rep, "expectations", expects);
    json_object_set_new(rep, "denials", denials);
    json_object_set_new(rep, "events", json_deep_copy(json_object_get(res, "events")));
    json_object_set_new(rep, "strengths", strengths);
    json_object_set_new(rep, "improvements", improve);
    return rep;
}

/* ---- Writers -------------------------------------------------------------------------------- */

/* Writes text escaped for HTML. */
static void s_html(FILE *f, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            if ((unsigned char) *p >= 0x20 || *p == '\n' || *p == '\t')
                fputc(*p, f);
        }
    }
}

/* Writes text for a Markdown table cell or line: no new lines, '|' and markup escaped. */
static void s_md(FILE *f, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            fputc(' ', f);
        else if (strchr("|*_`<>[]\\#", *p))
            fprintf(f, "\\%c", *p);
        else if ((unsigned char) *p >= 0x20)
            fputc(*p, f);
    }
}

static void s_time(int64_t ms, char buf[24])
{
    fx_scenario_time_text(ms < 0 ? 0 : ms / 1000 * 1000, buf);
}

/* ---- The HTML page and its SVG timeline ----------------------------------------------------- */

static const char s_css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2733;"
    "margin:0;background:#f4f6f8}"
    "main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid "
    "#dfe5ea;padding-bottom:4px}h3{font-size:15px;margin:18px 0 4px}"
    ".meta{color:#5b6876;font-size:13px}"
    "table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13.5px}"
    "th,td{border:1px solid #dfe5ea;padding:4px 7px;text-align:left;vertical-align:top}"
    "th{background:#eef2f5}"
    ".met{color:#17663a;font-weight:600}.missed{color:#b3261e;font-weight:700}"
    ".designed{color:#8a5a00;font-weight:600}.unobserved{color:#5b6876}"
    ".cards{display:flex;gap:10px;flex-wrap:wrap}.card{flex:1;min-width:120px;border:1px solid "
    "#dfe5ea;border-radius:6px;padding:8px 10px}.card b{display:block;font-size:22px}"
    ".tl{overflow-x:auto;border:1px solid #dfe5ea;border-radius:6px}"
    "svg text{font:11px system-ui,sans-serif;fill:#1d2733}"
    "ul{margin:4px 0 8px 18px;padding:0}";

typedef struct {
    const char *type, *label, *color;
} marker_t;

static const marker_t s_markers[] = {
    {"inject", "inject (sent)", "#1f5fa8"},
    {"inject_not_sent", "inject (not sent by the runner)", "#1f5fa8"},
    {"delivery", "delivered", "#17663a"},
    {"response", "answer (as received)", "#6a3fa0"},
    {"answer", "answer (as sent)", "#9c7ad1"},
    {"denial", "policy denial", "#b3261e"},
    {"escalation", "escalation", "#d97706"},
    {"rejection", "rejected or not sent", "#000000"},
    {"segregation_breach", "segregation breach", "#ff00aa"},
};
#define N_MARKERS (sizeof s_markers / sizeof *s_markers)

static const marker_t *s_marker(const char *type)
{
    for (size_t i = 0; i < N_MARKERS; i++)
        if (strcmp(s_markers[i].type, type) == 0)
            return &s_markers[i];
    return NULL;
}

/* Draws a marker centred at x, y. */
static void s_shape(FILE *f, const marker_t *m, double x, double y)
{
    if (strcmp(m->type, "inject") == 0)
        fprintf(f, "<path d='M%.1f %.1fl6 6-6 6-6-6z' fill='%s'/>", x, y - 6, m->color);
    else if (strcmp(m->type, "inject_not_sent") == 0)
        fprintf(f,
                "<path d='M%.1f %.1fl5 5-5 5-5-5z' fill='#ffffff' stroke='%s' "
                "stroke-width='2'/>",
                x, y - 5, m->color);
    else if (strcmp(m->type, "denial") == 0 || strcmp(m->type, "rejection") == 0 ||
             strcmp(m->type, "segregation_breach") == 0)
        fprintf(f,
                "<path d='M%.1f %.1fl9 9m0-9l-9 9' stroke='%s' stroke-width='2.6' "
                "fill='none'/>",
                x - 4.5, y - 4.5, m->color);
    else if (strcmp(m->type, "escalation") == 0)
        fprintf(f, "<path d='M%.1f %.1fl6 11h-12z' fill='%s'/>", x, y - 6, m->color);
    else if (strcmp(m->type, "response") == 0 || strcmp(m->type, "answer") == 0)
        fprintf(f, "<rect x='%.1f' y='%.1f' width='10' height='10' fill='%s'/>", x - 5, y - 5,
                m->color);
    else
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='5' fill='%s'/>", x, y, m->color);
}

static void s_timeline(FILE *f, const json_t *rep)
{
    /* Lanes: the participants, then the other principals the expectations name (a recipient
     * expected to be denied). Principals outside the exercise that its segregation kept out are
     * not drawn (they are in the table of denials): a taskforce or agency audience can name many.
     */
    const char *lanes[256];
    size_t n_lanes = 0, i, hidden = 0;
    json_t *v;
    json_array_foreach(json_object_get(rep, "participants"), i, v) if (n_lanes < 256)
        lanes[n_lanes++] = s_str(v, "id");
    json_array_foreach(json_object_get(rep, "expectations"), i, v)
    {
        const char *p = s_str(v, "principal");
        size_t k = 0;
        while (k < n_lanes && strcmp(lanes[k], p) != 0)
            k++;
        if (k == n_lanes && n_lanes < 256)
            lanes[n_lanes++] = p;
    }
    int64_t end = 60000;
    json_array_foreach(json_object_get(rep, "events"), i, v)
    {
        const char *p = s_str(v, "participant");
        size_t k = 0;
        while (k < n_lanes && strcmp(lanes[k], p) != 0)
            k++;
        hidden += k == n_lanes;
        if (s_int(v, "t_ms") > end)
            end = s_int(v, "t_ms");
    }
    json_array_foreach(json_object_get(rep, "injects"), i, v) if (s_int(v, "at_ms") > end) end =
        s_int(v, "at_ms");
    /* Ticks every 5, 10, 15, 30 or 60 minutes, whichever gives at most 12. */
    int64_t steps[] = {300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000};
    int64_t step = steps[0];
    for (size_t k = 0; k < sizeof steps / sizeof *steps && end / steps[k] > 12; k++)
        step = k + 1 < sizeof steps / sizeof *steps ? steps[k + 1] : steps[k];
    end = (end / step + 1) * step;
    const double left = 150, right = 24, top = 30, lane_h = 34, width = 1040;
    double plot = width - left - right;
    double height = top + lane_h * (double) n_lanes + 32 + 22 * (double) ((N_MARKERS + 3) / 4);
#define X(ms) (left + plot * (double) (ms) / (double) end)
    fprintf(f,
            "<div class='tl'><svg width='%.0f' "
            "height='%.0f' viewBox='0 0 %.0f %.0f' role='img' aria-label='Timeline of the "
            "exercise'>",
            width, height, width, height);
    for (size_t k = 0; k < n_lanes; k++) {
        double y = top + lane_h * (double) k + lane_h / 2;
        fprintf(f,
                "<rect x='0' y='%.1f' width='%.0f' height='%.0f' fill='%s'/>"
                "<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#c9d2da'/>"
                "<text x='8' y='%.1f'>",
                y - lane_h / 2, width, lane_h, k % 2 ? "#ffffff" : "#f6f8fa", left, y,
                width - right, y, y + 4);
        s_html(f, lanes[k]);
        fputs("</text>", f);
    }
    for (int64_t t = 0; t <= end; t += step) {
        char label[24];
        s_time(t, label);
        fprintf(f,
                "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.1f' stroke='#dfe5ea' "
                "stroke-dasharray='2 3'/><text x='%.1f' y='%.0f' text-anchor='middle'>%s</text>",
                X(t), top - 4, X(t), top + lane_h * (double) n_lanes, X(t), top - 10, label);
    }
    /* Lines from a message's sending to its delivery. */
    json_array_foreach(json_object_get(rep, "events"), i, v)
    {
        if (strcmp(s_str(v, "type"), "delivery") != 0)
            continue;
        const char *from = s_str(v, "from"), *to = s_str(v, "participant");
        size_t a = 0, b = 0;
        while (a < n_lanes && strcmp(lanes[a], from) != 0)
            a++;
        while (b < n_lanes && strcmp(lanes[b], to) != 0)
            b++;
        if (a == n_lanes || b == n_lanes)
            continue;
        int64_t t1 = s_int(v, "t_ms");
        int64_t t0 = s_str(v, "inject")[0] ? s_sent(rep, s_str(v, "inject")) : t1;
        fprintf(f,
                "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#17663a' "
                "stroke-opacity='0.35'/>",
                X(t0), top + lane_h * (double) a + lane_h / 2, X(t1),
                top + lane_h * (double) b + lane_h / 2);
    }
    /* Deliveries first, so that the other marks are drawn over them; denials and rejections
     * sit a little above the lane's line, where a delivery at the same time leaves them seen. */
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach(json_object_get(rep, "events"), i, v)
        {
            const marker_t *m = s_marker(s_str(v, "type"));
            const char *p = s_str(v, "participant");
            /* An inject's mark follows what became of it, as its heading below states it (the
             * event is written when the inject's time comes, before that is known). */
            const json_t *inj = m && strcmp(m->type, "inject") == 0
                                    ? s_inject_by_id(rep, s_str(v, "inject"))
                                    : NULL;
            if (inj && !s_inject_went(inj))
                m = s_marker("inject_not_sent");
            size_t k = 0;
            while (k < n_lanes && strcmp(lanes[k], p) != 0)
                k++;
            if (!m || k == n_lanes || (pass == 0) != (strcmp(m->type, "delivery") == 0))
                continue;
            double lift = strcmp(m->type, "denial") == 0 || strcmp(m->type, "rejection") == 0 ||
                                  strcmp(m->type, "segregation_breach") == 0
                              ? 9
                              : 0;
            char t[24];
            s_time(s_int(v, "t_ms"), t);
            fputs("<g><title>", f);
            if (inj) {
                char *what = s_inject_status_text(inj);
                fprintf(f, "%s inject (", t);
                s_html(f, what);
                fputs("): ", f);
                free(what);
            } else {
                fprintf(f, "%s %s: ", t, m->label);
            }
            s_html(f, p);
            if (s_str(v, "inject")[0]) {
                fputs(" (", f);
                s_html(f, s_str(v, "inject"));
                fputs(")", f);
            }
            if (s_str(v, "code")[0]) {
                fputs(" ", f);
                s_html(f, s_str(v, "code"));
            }
            if (s_str(v, "status")[0]) {
                fputs(" ", f);
                s_html(f, s_str(v, "status"));
            }
            fputs("</title>", f);
            s_shape(f, m, X(s_int(v, "t_ms")), top + lane_h * (double) k + lane_h / 2 - lift);
            fputs("</g>", f);
        }
    /* The legend: rows of four. */
    for (size_t k = 0; k < N_MARKERS; k++) {
        double lx = left + (double) (k % 4) * 210,
               ly = top + lane_h * (double) n_lanes + 28 + (double) (k / 4) * 22;
        s_shape(f, &s_markers[k], lx, ly);
        fprintf(f, "<text x='%.1f' y='%.1f'>%s</text>", lx + 12, ly + 4, s_markers[k].label);
    }
#undef X
    fputs("</svg></div>\n", f);
    if (hidden)
        fprintf(f,
                "<p class='meta'>%zu mark(s) about principals that neither take part in the "
                "exercise nor are named by an expectation (recipients its segregation kept "
                "out) are not drawn; see Policy denials.</p>\n",
                hidden);
}

static const char *s_outcome_class(const char *outcome)
{
    return strcmp(outcome, "met") == 0                  ? "met"
           : strcmp(outcome, "missed") == 0             ? "missed"
           : strcmp(outcome, "missed_as_designed") == 0 ? "designed"
                                                        : "unobserved";
}

/* ---- The Markdown and the HTML page: one walk of the report -------------------------------- */

/* How a rendering writes what both have: escaped text, headings, paragraphs, lists and tables,
 * each piece as the text before and after it. */
typedef struct {
    bool html;
    void (*text)(FILE *f, const char *text); /* escaped for the format */
    const char *h2[2], *h3[2], *para[2], *bold[2], *list[2], *item[2];
    const char *table[2], *row[2], *head[2], *cell[2];
    const char *none; /* an empty cell */
} format_t;

static const format_t s_markdown = {
    .text = s_md,
    .h2 = {"## ", "\n\n"},
    .h3 = {"### ", "\n\n"},
    .para = {"", "\n\n"},
    .bold = {"**", "**"},
    .list = {"", "\n"},
    .item = {"- ", "\n"},
    .table = {"", "\n"},
    .row = {"|", "\n"},
    .head = {" ", " |"},
    .cell = {" ", " |"},
    .none = "-",
};

static const format_t s_page = {
    .html = true,
    .text = s_html,
    .h2 = {"<h2>", "</h2>\n"},
    .h3 = {"<h3>", "</h3>\n"},
    .para = {"<p>", "</p>\n"},
    .bold = {"<b>", "</b>"},
    .list = {"<ul>", "</ul>\n"},
    .item = {"<li>", "</li>"},
    .table = {"<table>", "</table>\n"},
    .row = {"<tr>", "</tr>"},
    .head = {"<th>", "</th>"},
    .cell = {"<td>", "</td>"},
    .none = "&ndash;",
};

typedef struct {
    FILE *f;
    const format_t *fmt;
} out_t;

static void s_raw(const out_t *o, const char *text)
{
    fputs(text, o->f);
}

static void s_text(const out_t *o, const char *text)
{
    o->fmt->text(o->f, text);
}

/* A piece of the format (what[0]), escaped text, and its end (what[1]). */
static void s_piece(const out_t *o, const char *const what[2], const char *text)
{
    s_raw(o, what[0]);
    s_text(o, text);
    s_raw(o, what[1]);
}

/* A heading and the strings of array as a list; nothing when the array is empty and optional. */
static void s_list(const out_t *o, const char *heading, const json_t *array, bool optional)
{
    if (optional && json_array_size(array) == 0)
        return;
    s_piece(o, o->fmt->h2, heading);
    s_raw(o, o->fmt->list[0]);
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) s_piece(o, o->fmt->item, json_string_value(v));
    s_raw(o, o->fmt->list[1]);
}

/* Opens a table with the n column headings. */
static void s_table(const out_t *o, const char *const *columns, size_t n)
{
    s_raw(o, o->fmt->table[0]);
    s_raw(o, o->fmt->row[0]);
    for (size_t i = 0; i < n; i++)
        s_piece(o, o->fmt->head, columns[i]);
    s_raw(o, o->fmt->row[1]);
    if (!o->fmt->html) {
        s_raw(o, "|");
        for (size_t i = 0; i < n; i++)
            s_raw(o, " --- |");
        s_raw(o, "\n");
    }
}

/* A cell of escaped text, or of text written as it is (numbers, durations, the format's none). */
static void s_cell(const out_t *o, const char *text)
{
    s_piece(o, o->fmt->cell, text);
}

static void s_cell_raw(const out_t *o, const char *text)
{
    s_raw(o, o->fmt->cell[0]);
    s_raw(o, text);
    s_raw(o, o->fmt->cell[1]);
}

/* A duration in ms, or the format's none when the value is missing. */
static void s_cell_ms(const out_t *o, const json_t *value)
{
    char d[32];
    if (json_is_integer(value))
        s_dur(json_integer_value(value), d, sizeof d);
    s_cell_raw(o, json_is_integer(value) ? d : o->fmt->none);
}

/* A paragraph set apart as a note (the page's smaller grey text). */
static void s_meta(const out_t *o, const char *text)
{
    s_piece(o, o->fmt->html ? (const char *const[2]){"<p class='meta'>", "</p>\n"} : o->fmt->para,
            text);
}

static void s_title(const out_t *o, const json_t *rep)
{
    const format_t *fmt = o->fmt;
    if (fmt->html) {
        s_raw(o, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                 "<meta name='viewport' content='width=device-width, initial-scale=1'><title>"
                 "After-action report: ");
        s_text(o, s_str(rep, "exercise"));
        fprintf(o->f, "</title><style>%s</style></head><body><main>\n<h1>", s_css);
        s_text(o, s_str(rep, "title"));
        s_raw(o, "</h1>\n<p class='meta'>");
    } else {
        s_raw(o, "# After-action report: ");
        s_text(o, s_str(rep, "title"));
        s_raw(o, "\n\n");
    }
    s_raw(o, "After-action report of exercise ");
    s_piece(o, fmt->bold, s_str(rep, "exercise"));
    s_raw(o, "; run ");
    s_text(o, s_str(rep, "started_at"));
    s_raw(o, " to ");
    s_text(o, json_is_string(json_object_get(rep, "finished_at")) ? s_str(rep, "finished_at")
                                                                  : "(not finished)");
    fprintf(o->f, " at clock speed %lld.", (long long) s_int(rep, "speed"));
    if (!json_is_true(json_object_get(rep, "complete"))) {
        s_raw(o, " ");
        s_piece(o, fmt->bold, "Incomplete run.");
    }
    if (json_is_string(json_object_get(rep, "reference"))) {
        s_raw(o, fmt->html ? "<br>Reference: " : "\n\nReference: ");
        s_text(o, s_str(rep, "reference"));
    }
    s_raw(o, fmt->para[1]);
}

static void s_summary(const out_t *o, const json_t *rep)
{
    const json_t *sum = json_object_get(rep, "summary");
    s_piece(o, o->fmt->h2, "Summary");
    if (o->fmt->html) {
        fprintf(o->f,
                "<div class='cards'>"
                "<div class='card'><b>%lld / %lld</b>as designed</div>"
                "<div class='card met'><b>%lld</b>met</div>"
                "<div class='card missed'><b>%lld</b>missed</div>"
                "<div class='card designed'><b>%lld</b>missed as designed</div>"
                "<div class='card unobserved'><b>%lld</b>not observed</div>"
                "<div class='card'><b>%lld</b>policy denials</div>"
                "<div class='card'><b>%lld</b>escalations</div>"
                "<div class='card'><b>%lld</b>rejections</div></div>\n",
                (long long) s_int(sum, "as_designed"), (long long) s_int(sum, "expectations"),
                (long long) s_int(sum, "met"), (long long) s_int(sum, "missed"),
                (long long) s_int(sum, "missed_as_designed"), (long long) s_int(sum, "unobserved"),
                (long long) s_int(sum, "denials"), (long long) s_int(sum, "escalations"),
                (long long) s_int(sum, "rejections"));
        s_piece(o, o->fmt->h2, "Timeline");
        s_meta(o, "Exercise time on the horizontal axis; one lane per participant (and per other "
                  "principal an expectation names). Hover a mark for details.");
        s_timeline(o->f, rep);
        return;
    }
    fprintf(o->f,
            "%lld expectation(s): %lld met, %lld missed, %lld missed as designed, %lld not "
            "observed; %lld of %lld came out as designed. %lld policy denial(s), %lld "
            "escalation(s), %lld rejection(s).\n\n",
            (long long) s_int(sum, "expectations"), (long long) s_int(sum, "met"),
            (long long) s_int(sum, "missed"), (long long) s_int(sum, "missed_as_designed"),
            (long long) s_int(sum, "unobserved"), (long long) s_int(sum, "as_designed"),
            (long long) s_int(sum, "expectations"), (long long) s_int(sum, "denials"),
            (long long) s_int(sum, "escalations"), (long long) s_int(sum, "rejections"));
}

static void s_participants(const out_t *o, const json_t *rep)
{
    s_piece(o, o->fmt->h2, "Participants");
    s_table(o, (const char *[]){"id", "who", "played by"}, 3);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rep, "participants"), i, v)
    {
        s_raw(o, o->fmt->row[0]);
        s_cell(o, s_str(v, "id"));
        s_cell(o, s_str(v, "name"));
        s_cell(o, json_is_true(json_object_get(v, "simulated")) ? "the runner (simulated)"
                  : json_is_true(json_object_get(v, "played"))  ? "the runner (rehearsal)"
                                                                : "a trainee");
        s_raw(o, o->fmt->row[1]);
    }
    s_raw(o, o->fmt->table[1]);
}

/* The expectations of inject id, as a table (nothing if it has none). */
static void s_expectations(const out_t *o, const json_t *rep, const char *id)
{
    const format_t *fmt = o->fmt;
    bool any = false;
    size_t k;
    json_t *x;
    json_array_foreach(json_object_get(rep, "expectations"), k, x)
    {
        if (strcmp(s_str(x, "inject"), id) != 0)
            continue;
        if (!any)
            s_table(o,
                    (const char *[]){"expectation", "outcome", "measured", "observed by", "note"},
                    5);
        any = true;
        char what[512];
        s_expect_text(x, what, sizeof what);
        s_raw(o, fmt->row[0]);
        s_raw(o, fmt->cell[0]);
        s_text(o, what);
        if (json_is_true(json_object_get(x, "designed_to_fail")))
            s_raw(o, fmt->html ? " <i>(designed to fail)</i>" : " (designed to fail)");
        s_raw(o, fmt->cell[1]);
        const char *outcome = s_str(x, "outcome");
        if (fmt->html)
            fprintf(o->f, "<td class='%s'>%s</td>", s_outcome_class(outcome),
                    s_outcome_words(outcome));
        else
            s_cell(o, s_outcome_words(outcome));
        s_cell_ms(o, json_object_get(x, "measured_ms"));
        if (s_source_words(x))
            s_cell(o, s_source_words(x));
        else
            s_cell_raw(o, fmt->none);
        s_cell(o,
               json_is_string(json_object_get(x, "note")) ? s_str(x, "note") : s_str(x, "detail"));
        s_raw(o, fmt->row[1]);
    }
    if (any)
        s_raw(o, fmt->table[1]);
}

static void s_injects(const out_t *o, const json_t *rep)
{
    const format_t *fmt = o->fmt;
    s_piece(o, fmt->h2, "Injects and expectations");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rep, "injects"), i, v)
    {
        char t[24];
        s_time(s_int(v, "at_ms"), t);
        s_raw(o, fmt->h3[0]);
        s_raw(o, t);
        s_raw(o, " ");
        s_text(o, s_str(v, "id"));
        s_raw(o, fmt->html ? " <span class='meta'>(" : " (");
        s_text(o, s_str(v, "from"));
        s_raw(o, ", ");
        s_text(o, json_is_string(json_object_get(v, "message_kind")) ? s_str(v, "message_kind")
                                                                     : s_str(v, "action"));
        s_raw(o, "; ");
        char *what = s_inject_status_text(v);
        s_text(o, what);
        free(what);
        s_raw(o, fmt->html ? ")</span>" : ")");
        s_raw(o, fmt->h3[1]);
        if (json_is_string(json_object_get(v, "description")))
            s_piece(o, fmt->para, s_str(v, "description"));
        s_expectations(o, rep, s_str(v, "id"));
    }
}

static void s_statistics(const out_t *o, const json_t *rep)
{
    const json_t *st = json_object_get(rep, "statistics");
    s_piece(o, o->fmt->h2, "Delivery and response times");
    s_meta(o, "In exercise time, from the sending of a message.");
    s_table(o, (const char *[]){"", "count", "min", "median", "mean", "max"}, 6);
    const char *names[] = {"delivery", "response"};
    const char *labels[] = {"delivery", "answer to a referral"};
    const char *fields[] = {"min_ms", "median_ms", "mean_ms", "max_ms"};
    for (int k = 0; k < 2; k++) {
        const json_t *row = json_object_get(st, names[k]);
        char count[24];
        snprintf(count, sizeof count, "%lld", (long long) s_int(row, "count"));
        s_raw(o, o->fmt->row[0]);
        s_cell(o, labels[k]);
        s_cell_raw(o, count);
        for (int j = 0; j < 4; j++)
            s_cell_ms(o, json_object_get(row, fields[j]));
        s_raw(o, o->fmt->row[1]);
    }
    s_raw(o, o->fmt->table[1]);
}

static void s_denials(const out_t *o, const json_t *rep)
{
    const format_t *fmt = o->fmt;
    const json_t *denials = json_object_get(rep, "denials");
    s_piece(o, fmt->h2, "Policy denials");
    if (json_array_size(denials) == 0) {
        s_piece(o, fmt->para, "None.");
        return;
    }
    s_table(o,
            (const char *[]){"time", "inject", "sender", "recipient", "section", "code", "rule",
                             "guideline and reason"},
            8);
    size_t i;
    json_t *v;
    json_array_foreach(denials, i, v)
    {
        char t[24], section[24];
        s_time(s_int(v, "t_ms"), t);
        snprintf(section, sizeof section, "%lld", (long long) s_int(v, "section"));
        s_raw(o, fmt->row[0]);
        s_cell_raw(o, t);
        s_cell(o, s_str(v, "inject"));
        s_cell(o, s_str(v, "sender"));
        s_cell(o, s_str(v, "recipient"));
        s_cell_raw(o, section);
        s_cell(o, s_str(v, "code"));
        if (json_is_string(json_object_get(v, "rule")))
            s_cell(o, s_str(v, "rule"));
        else
            s_cell_raw(o, fmt->none);
        s_raw(o, fmt->cell[0]);
        if (json_is_string(json_object_get(v, "guideline"))) {
            s_piece(o, fmt->bold, s_str(v, "guideline"));
            s_raw(o, fmt->html ? "<br>" : ": ");
        }
        s_text(o, s_str(v, "reason"));
        s_raw(o, fmt->cell[1]);
        s_raw(o, fmt->row[1]);
    }
    s_raw(o, fmt->table[1]);
}

/* The report in one format: the same sections in the same order with the same words. */
static void s_write(FILE *f, const format_t *fmt, const json_t *rep)
{
    const out_t o = {f, fmt}, *out = &o;
    s_title(out, rep);
    s_list(out, "Objectives", json_object_get(rep, "objectives"), true);
    s_summary(out, rep);
    s_participants(out, rep);
    s_injects(out, rep);
    s_statistics(out, rep);
    s_denials(out, rep);
    s_list(out, "Strengths", json_object_get(rep, "strengths"), false);
    s_list(out, "Areas for improvement", json_object_get(rep, "improvements"), false);
    if (fmt->html)
        s_raw(out, "</main></body></html>\n");
}

int exercise_report_write(const json_t *results, const char *out_dir)
{
    const char *why = exercise_results_check(results);
    if (why) {
        fx_cli_error(AGENT_PROG, "exercise report: the results are not usable: %s", why);
        return FX_EXIT_USAGE;
    }
    if (fx_mkdir_p(out_dir) != 0) {
        fx_cli_error(AGENT_PROG, "exercise report: %s: %s", out_dir, strerror(errno));
        return FX_EXIT_SYSTEM;
    }
    json_t *rep = s_report(results);
    int status = FX_EXIT_OK;
    const char *names[] = {"report.json", "report.md", "report.html"};
    for (int k = 0; k < 3 && status == 0; k++) {
        size_t n = strlen(out_dir) + 16;
        char *path = fx_malloc(n), *text = NULL;
        snprintf(path, n, "%s/%s", out_dir, names[k]);
        /* Rendered in memory, then written atomically like every other output file. */
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        int rendered = f != NULL;
        if (f && k == 0)
            rendered = json_dumpf(rep, f, JSON_INDENT(1) | JSON_SORT_KEYS) == 0;
        else if (f)
            s_write(f, k == 1 ? &s_markdown : &s_page, rep);
        if (f && fclose(f) != 0)
            rendered = 0;
        fx_err_t rc = rendered ? fx_file_write(path, text, size, 0644, 0) : FX_ERR_IO;
        if (rc != FX_OK) {
            fx_cli_error(AGENT_PROG, "exercise report: cannot write %s: %s", path,
                         fx_file_write_strerror(path, rc));
            status = fx_err_exit(rc);
        }
        free(text);
        free(path);
    }
    json_decref(rep);
    return status;
}
