/* fusion-admin status: the broker's figures (the same as GET /metrics), for an operator at a
 * terminal or a monitoring script (--json). It reads the metrics page over loopback HTTP. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "fusion/cli.h"
#include "fusion/err.h"
#include "fusion/util.h"
#include "metrics.h"

#define PAGE_MAX   (1 << 20)
#define TIMEOUT_MS 5000

static void s_usage(void)
{
    printf("Usage: fusion-admin status --config BROKER.yaml [--json | --raw]\n"
           "       fusion-admin status --metrics HOST:PORT [--json | --raw]\n\n"
           "Shows the running broker's figures: messages published, accepted and rejected by\n"
           "code, and replays (a msg_id's first answer given again); deliveries sent, acknowledged "
           "and pending with the age of the oldest;\n"
           "referral escalations; policy reloads; publish latency; connected principals;\n"
           "storage errors; audit entries. They come from the broker's metrics endpoint (the\n"
           "configuration's 'metrics' address, as the broker wrote it to\n"
           "STATE_DIR/metrics-endpoint), the same figures Prometheus scrapes.\n\n"
           "Options:\n"
           "  --config FILE      the broker's configuration\n"
           "  --metrics ADDRESS  the metrics address instead (HOST:PORT on loopback)\n"
           "  --json             one JSON object instead of text\n"
           "  --raw              the metrics page itself (Prometheus text format)\n"
           "  -h, --help         this help\n\n"
           "Exit 1 when the broker reports a storage failure (it accepts nothing), 5 when it\n"
           "cannot be reached.\n");
    fx_cli_print_exit_codes();
}

/* The metrics address of a broker configuration: as bound (STATE_DIR/metrics-endpoint), else
 * as configured. NULL, with the reason printed, when there is none. */
static char *s_address_of(const char *config_path)
{
    broker_config_t config;
    fx_diag_t *diag = fx_diag_new(config_path);
    char *address = NULL;
    if (broker_config_load(config_path, &config, diag) != 0) {
        fx_diag_print(diag, stderr, ADMIN_PROG ": ");
    } else if (!config.metrics) {
        fx_cli_error(ADMIN_PROG,
                     "status: %s has no 'metrics' address (e.g. metrics: "
                     "127.0.0.1:9464)",
                     config_path);
    } else {
        char path[4096];
        uint8_t *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/metrics-endpoint", config.state_dir);
        if (fx_file_read(path, 128, &data, &len) == FX_OK && len > 0) {
            address = fx_strndup((const char *) data, strcspn((const char *) data, "\r\n"));
            free(data);
        } else {
            address = fx_strdup(config.metrics);
        }
    }
    fx_diag_destroy(&diag);
    broker_config_free(&config);
    return address;
}

/* GET /metrics from address; the body in *body_p (caller frees). */
static int s_fetch(const char *address, char **body_p)
{
    *body_p = NULL;
    const char *problem = metrics_address_problem(address);
    if (problem) {
        fx_cli_error(ADMIN_PROG, "status: metrics address %s: %s", address, problem);
        return FX_EXIT_USAGE;
    }
    char host[64];
    const char *colon = strrchr(address, ':');
    snprintf(host, sizeof host, "%.*s", (int) (colon - address), address);
    int port = atoi(colon + 1);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[') {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &ss;
        host[strlen(host) - 1] = '\0';
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) port);
        inet_pton(AF_INET6, host + 1, &v6->sin6_addr);
        len = sizeof *v6;
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *) &ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) port);
        inet_pton(AF_INET, host, &v4->sin_addr);
        len = sizeof *v4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {TIMEOUT_MS / 1000, 0};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, (struct sockaddr *) &ss, len) != 0) {
        fx_cli_error(ADMIN_PROG, "status: cannot reach the broker's metrics at %s: %s", address,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        return FX_EXIT_UNAVAILABLE;
    }
    static const char request[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char *page = fx_malloc(PAGE_MAX + 1);
    size_t got = 0;
    ssize_t n = send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
    while (n > 0 && got < PAGE_MAX && (n = recv(fd, page + got, PAGE_MAX - got, 0)) > 0)
        got += (size_t) n;
    close(fd);
    page[got] = '\0';
    char *body = strstr(page, "\r\n\r\n");
    if (n < 0 || strncmp(page, "HTTP/1.0 200", 12) != 0 || !body) {
        fx_cli_error(ADMIN_PROG, "status: %s did not answer with the metrics page%s", address,
                     n < 0 ? " in time" : "");
        free(page);
        return FX_EXIT_UNAVAILABLE;
    }
    *body_p = fx_strdup(body + 4);
    free(page);
    return FX_EXIT_OK;
}

/* Reads "name{labels} value" lines into a JSON object: plain metrics as numbers, labelled
 * ones as objects keyed by their one label's value. */
static json_t *s_parse(const char *page)
{
    json_t *all = json_object();
    const char *line = page;
    while (*line) {
        size_t n = strcspn(line, "\n");
        char text[512];
        snprintf(text, sizeof text, "%.*s", (int) (n < sizeof text - 1 ? n : sizeof text - 1),
                 line);
        line += n + (line[n] == '\n');
        if (text[0] == '#' || !text[0])
            continue;
        char *space = strrchr(text, ' ');
        if (!space)
            continue;
        *space = '\0';
        double value = strtod(space + 1, NULL);
        char *brace = strchr(text, '{');
        if (!brace) {
            json_object_set_new(all, text, json_real(value));
            continue;
        }
        *brace = '\0';
        char *quote = strchr(brace + 1, '"'), *end = quote ? strchr(quote + 1, '"') : NULL;
        if (!end)
            continue;
        *end = '\0';
        json_t *group = json_object_get(all, text);
        if (!group) {
            group = json_object();
            json_object_set_new(all, text, group);
        }
        json_object_set_new(group, quote + 1, json_real(value));
    }
    return all;
}

static double s_num(json_t *all, const char *name)
{
    return json_number_value(json_object_get(all, name));
}

/* The smallest histogram bound that holds fraction q of the observations, in ms; -1 if none. */
static double s_quantile_ms(json_t *buckets, double count, double q)
{
    if (count <= 0 || !buckets)
        return -1;
    double best = -1;
    const char *bound;
    json_t *value;
    json_object_foreach(buckets, bound, value)
    {
        if (strcmp(bound, "+Inf") == 0 || json_number_value(value) < q * count)
            continue;
        double ms = strtod(bound, NULL) * 1000.0;
        if (best < 0 || ms < best)
            best = ms;
    }
    return best;
}

static json_t *s_summary(json_t *all, const char *address)
{
    json_t *rejected = json_object_get(all, "fusion_messages_rejected_total");
    json_t *buckets = json_object_get(all, "fusion_publish_latency_seconds_bucket");
    double count = s_num(all, "fusion_publish_latency_seconds_count");
    json_t *reloads = json_object_get(all, "fusion_policy_reloads_total");
    json_t *codes = json_object();
    const char *code;
    json_t *value;
    double rejected_total = 0;
    json_object_foreach(rejected, code, value)
    {
        json_object_set_new(codes, code, json_integer((json_int_t) json_number_value(value)));
        rejected_total += json_number_value(value);
    }
    json_t *s = json_object();
    json_object_set_new(s, "endpoint", json_sprintf("http://%s/metrics", address));
    json_object_set_new(s, "published",
                        json_integer((json_int_t) s_num(all, "fusion_messages_published_total")));
    json_object_set_new(s, "accepted",
                        json_integer((json_int_t) s_num(all, "fusion_messages_accepted_total")));
    json_object_set_new(s, "rejected", json_integer((json_int_t) rejected_total));
    json_object_set_new(s, "rejected_by_code", codes);
    json_object_set_new(s, "replayed",
                        json_integer((json_int_t) s_num(all, "fusion_messages_replayed_total")));
    json_object_set_new(s, "delivered",
                        json_integer((json_int_t) s_num(all, "fusion_deliveries_total")));
    json_object_set_new(
        s, "acknowledged",
        json_integer((json_int_t) s_num(all, "fusion_deliveries_acknowledged_total")));
    json_object_set_new(s, "pending",
                        json_integer((json_int_t) s_num(all, "fusion_deliveries_pending")));
    json_object_set_new(s, "oldest_pending_seconds",
                        json_real(s_num(all, "fusion_deliveries_oldest_pending_seconds")));
    json_object_set_new(s, "referral_escalations",
                        json_integer((json_int_t) s_num(all, "fusion_referral_escalations_total")));
    json_object_set_new(
        s, "policy_reloads",
        json_integer((json_int_t) json_number_value(json_object_get(reloads, "loaded"))));
    json_object_set_new(
        s, "policy_reloads_refused",
        json_integer((json_int_t) json_number_value(json_object_get(reloads, "refused"))));
    json_object_set_new(s, "latency_p50_ms_at_most", json_real(s_quantile_ms(buckets, count, 0.5)));
    json_object_set_new(s, "latency_p99_ms_at_most",
                        json_real(s_quantile_ms(buckets, count, 0.99)));
    json_object_set_new(s, "latency_samples", json_integer((json_int_t) count));
    json_object_set_new(s, "connected",
                        json_integer((json_int_t) s_num(all, "fusion_principals_connected")));
    json_object_set_new(s, "auth_refused",
                        json_integer((json_int_t) s_num(all, "fusion_auth_refused_total")));
    json_object_set_new(s, "frames_refused",
                        json_integer((json_int_t) s_num(all, "fusion_frames_refused_total")));
    json_object_set_new(s, "storage_errors",
                        json_integer((json_int_t) s_num(all, "fusion_storage_errors_total")));
    json_object_set_new(s, "storage_failed", json_boolean(s_num(all, "fusion_storage_failed") > 0));
    json_object_set_new(s, "stored_messages",
                        json_integer((json_int_t) s_num(all, "fusion_messages_stored")));
    json_object_set_new(s, "audit_entries",
                        json_integer((json_int_t) s_num(all, "fusion_audit_entries")));
    return s;
}

static json_int_t s_int(json_t *s, const char *key)
{
    return json_integer_value(json_object_get(s, key));
}

static void s_print(json_t *s)
{
    printf("Fusion broker, %s\n", json_string_value(json_object_get(s, "endpoint")));
    printf("  messages     published %lld, accepted %lld, rejected %lld",
           (long long) s_int(s, "published"), (long long) s_int(s, "accepted"),
           (long long) s_int(s, "rejected"));
    const char *code;
    json_t *value;
    const char *sep = " (";
    json_object_foreach(json_object_get(s, "rejected_by_code"), code, value)
    {
        printf("%s%s %lld", sep, code, (long long) json_integer_value(value));
        sep = ", ";
    }
    printf("%s, replayed %lld\n", strcmp(sep, ", ") == 0 ? ")" : "",
           (long long) s_int(s, "replayed"));
    printf("  deliveries   sent %lld, acknowledged %lld, pending %lld",
           (long long) s_int(s, "delivered"), (long long) s_int(s, "acknowledged"),
           (long long) s_int(s, "pending"));
    double oldest = json_real_value(json_object_get(s, "oldest_pending_seconds"));
    if (s_int(s, "pending") > 0)
        printf(" (oldest %.1f s)", oldest);
    printf("\n  referrals    escalated %lld\n", (long long) s_int(s, "referral_escalations"));
    printf("  principals   %lld connected, %lld refused, %lld frames refused unread\n",
           (long long) s_int(s, "connected"), (long long) s_int(s, "auth_refused"),
           (long long) s_int(s, "frames_refused"));
    printf("  policy       reloaded %lld, reloads refused %lld\n",
           (long long) s_int(s, "policy_reloads"), (long long) s_int(s, "policy_reloads_refused"));
    double p50 = json_real_value(json_object_get(s, "latency_p50_ms_at_most"));
    double p99 = json_real_value(json_object_get(s, "latency_p99_ms_at_most"));
    if (s_int(s, "latency_samples") > 0)
        printf("  latency      PUBLISH->answer p50 <= %g ms, p99 <= %g ms (%lld answers)\n", p50,
               p99, (long long) s_int(s, "latency_samples"));
    else
        printf("  latency      no PUBLISH answered yet\n");
    printf("  storage      %s, %lld errors, %lld messages stored, %lld audit entries\n",
           json_is_true(json_object_get(s, "storage_failed")) ? "FAILED: accepting nothing" : "ok",
           (long long) s_int(s, "storage_errors"), (long long) s_int(s, "stored_messages"),
           (long long) s_int(s, "audit_entries"));
}

int admin_status(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"metrics", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},         {"raw", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config = NULL, *metrics = NULL;
    int json = 0, raw = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'm':
            metrics = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'r':
            raw = 1;
            break;
        case 'h':
            s_usage();
            return FX_EXIT_OK;
        default:
            fx_cli_error(ADMIN_PROG, "status: try 'fusion-admin status --help'");
            return FX_EXIT_USAGE;
        }
    }
    if (optind != argc || !config == !metrics) {
        fx_cli_error(ADMIN_PROG, "status: give either --config FILE or --metrics HOST:PORT");
        return FX_EXIT_USAGE;
    }
    if (json && raw) {
        fx_cli_error(ADMIN_PROG, "status: give --json or --raw, not both (try 'fusion-admin "
                                 "status --help')");
        return FX_EXIT_USAGE;
    }
    char *address = metrics ? fx_strdup(metrics) : s_address_of(config);
    if (!address)
        return FX_EXIT_USAGE;
    char *page = NULL;
    int rc = s_fetch(address, &page);
    if (rc == FX_EXIT_OK) {
        json_t *all = s_parse(page);
        json_t *summary = s_summary(all, address);
        if (raw) {
            fputs(page, stdout);
        } else if (json) {
            char *text = json_dumps(summary, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            puts(text);
            free(text);
        } else {
            s_print(summary);
        }
        rc = json_is_true(json_object_get(summary, "storage_failed")) ? FX_EXIT_NO : FX_EXIT_OK;
        json_decref(summary);
        json_decref(all);
    }
    free(page);
    free(address);
    return rc;
}
