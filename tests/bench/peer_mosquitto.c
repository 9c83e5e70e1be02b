/* The Mosquitto peer of bench_broker: a real mosquitto broker on a random loopback port, with
 * persistence in a temporary directory, carrying COUNT 1 KiB QoS 1 messages from pipelined
 * publishers to one subscriber (persistent session, QoS 1) through libmosquitto, loaded the way
 * bench_broker loads fusion-broker. The broker's CPU time per message comes from /proc, read
 * before the first PUBLISH and after a round trip on the subscriber's connection that follows
 * its last PUBACK. Built only when libmosquitto is installed (Makefile); see docs/bench.md.
 * Usage: peer_mosquitto COUNT RESULT_FILE. The result file gets "CPU_US_PER_MSG MSG_PER_S".
 * Exit 0, 5 when mosquitto is not installed (a skip), 4 on failure. */
#include <errno.h>
#include <ftw.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "report.h"

#define PAYLOAD_BYTES  1024
#define PUBLISHERS     4 /* as bench_broker: 4 connections with 64 messages in flight each */
#define PUBLISH_WINDOW 64
#define SUBSCRIBER_WIN 512 /* the subscriber's receive maximum, as the Fusion consumer's CREDIT */
#define STALL_SECONDS  30.0
#define START_SECONDS  10.0
#define DIR_BYTES      512
#define PATH_BYTES     1024
#define TOPIC          "fusion/bench/alerts"
#define FENCE_TOPIC    "fusion/bench/fence"
#define EXIT_SKIP      5
#define EXIT_FAILED    4

/* What the clients' network threads report, under lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int in_flight[PUBLISHERS];
    size_t acked, delivered, wrong;
    int subscribed, fenced, connected, failed;
} shared_t;

/* One client and which publisher it is (-1: the subscriber). */
typedef struct {
    struct mosquitto *mosq;
    shared_t *shared;
    int index;
} client_t;

static void s_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void s_progress(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    printf("  peer_mosquitto: ");
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

/* The mosquitto broker binary: on PATH, or where Debian puts it (/usr/sbin is not on every
 * user's PATH). NULL when it is not installed. */
static const char *s_find_mosquitto(char *out, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin", path ? path : "/usr/bin");
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/mosquitto", dir);
        if (access(out, X_OK) == 0)
            return out;
    }
    return NULL;
}

/* 1 once something accepts TCP connections on 127.0.0.1:port. */
static int s_listening(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int up = fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    if (fd >= 0)
        close(fd);
    return up;
}

/* Starts mosquitto with persistence in dir on a random port from 30000 to 39999 (another one
 * when it cannot listen there); its pid, or -1. */
static pid_t s_broker_start(const char *binary, const char *dir, unsigned *port_p)
{
    char config[PATH_BYTES], log[PATH_BYTES];
    snprintf(config, sizeof config, "%s/mosquitto.conf", dir);
    snprintf(log, sizeof log, "%s/mosquitto.log", dir);
    /* Run as root, mosquitto drops to its own user, which must own the persistence directory. */
    const char *user = NULL;
    struct passwd *pw = geteuid() == 0 ? getpwnam("mosquitto") : NULL;
    if (pw && chown(dir, pw->pw_uid, pw->pw_gid) == 0)
        user = "mosquitto";
    for (int attempt = 0; attempt < 5; attempt++) {
        unsigned seed = (unsigned) time(NULL) ^ (unsigned) getpid() ^ (unsigned) attempt * 7919u;
        unsigned port = 30000 + (unsigned) rand_r(&seed) % 10000;
        FILE *file = fopen(config, "w");
        if (!file)
            return -1;
        fprintf(file,
                "listener %u 127.0.0.1\nallow_anonymous true\n"
                "persistence true\npersistence_location %s/\npersistence_file mosquitto.db\n"
                "max_inflight_messages %d\nmax_queued_messages 100000\n"
                "log_dest stderr\nlog_type error\nlog_type warning\n%s%s%s",
                port, dir, SUBSCRIBER_WIN, user ? "user " : "", user ? user : "", user ? "\n" : "");
        if (fclose(file) != 0)
            return -1;
        char *argv[] = {(char *) binary, "-c", config, NULL};
        pid_t pid = bench_proc_spawn(argv, log);
        if (pid < 0)
            return -1;
        double until = bench_now() + START_SECONDS;
        int status;
        while (bench_now() < until) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                break;
            }
            if (s_listening(port)) {
                *port_p = port;
                return pid;
            }
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    fprintf(stderr, "peer_mosquitto: mosquitto did not start (see %s)\n", log);
    return -1;
}

/* ---- Callbacks, on the clients' network threads ---------------------------------------------- */

static void s_on_connect(struct mosquitto *mosq, void *arg, int rc, int flags,
                         const mosquitto_property *props)
{
    (void) mosq;
    (void) flags;
    (void) props;
    client_t *client = arg;
    pthread_mutex_lock(&client->shared->lock);
    if (rc == 0)
        client->shared->connected++;
    else
        client->shared->failed = 1;
    pthread_cond_broadcast(&client->shared->changed);
    pthread_mutex_unlock(&client->shared->lock);
}

static void s_on_subscribe(struct mosquitto *mosq, void *arg, int mid, int qos_count,
                           const int *granted, const mosquitto_property *props)
{
    (void) mosq;
    (void) mid;
    (void) props;
    client_t *client = arg;
    pthread_mutex_lock(&client->shared->lock);
    if (qos_count != 1 || granted[0] != 1)
        client->shared->failed = 1;
    else if (!client->shared->subscribed) /* the run subscribes, then fences, one at a time */
        client->shared->subscribed = 1;
    else
        client->shared->fenced = 1;
    pthread_cond_broadcast(&client->shared->changed);
    pthread_mutex_unlock(&client->shared->lock);
}

/* A PUBACK came back to a publisher. */
static void s_on_publish(struct mosquitto *mosq, void *arg, int mid, int reason,
                         const mosquitto_property *props)
{
    (void) mosq;
    (void) mid;
    (void) props;
    client_t *client = arg;
    pthread_mutex_lock(&client->shared->lock);
    client->shared->in_flight[client->index]--;
    client->shared->acked++;
    if (reason != 0)
        client->shared->failed = 1;
    pthread_cond_broadcast(&client->shared->changed);
    pthread_mutex_unlock(&client->shared->lock);
}

/* A message reached the subscriber (libmosquitto sends its PUBACK when this returns). */
static void s_on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg,
                         const mosquitto_property *props)
{
    (void) mosq;
    (void) props;
    client_t *client = arg;
    pthread_mutex_lock(&client->shared->lock);
    if (msg->payloadlen == PAYLOAD_BYTES && msg->qos == 1)
        client->shared->delivered++;
    else
        client->shared->wrong++;
    pthread_cond_broadcast(&client->shared->changed);
    pthread_mutex_unlock(&client->shared->lock);
}

/* ---- The run ------------------------------------------------------------------------------------
 */

/* What the run waits for, read under the lock. */
typedef int (*done_fn)(const shared_t *shared, size_t arg);

static int s_connected(const shared_t *shared, size_t arg)
{
    return (size_t) shared->connected >= arg;
}

static int s_subscribed(const shared_t *shared, size_t arg)
{
    (void) arg;
    return shared->subscribed;
}

static int s_fenced(const shared_t *shared, size_t arg)
{
    (void) arg;
    return shared->fenced;
}

static int s_acked(const shared_t *shared, size_t arg)
{
    return shared->acked >= arg;
}

static int s_all_in(const shared_t *shared, size_t arg)
{
    return shared->acked >= arg && shared->delivered >= arg;
}

/* Waits, the lock held, until done(shared, arg); 0, or -1 when a client failed or nothing moved
 * for STALL_SECONDS. */
static int s_wait(shared_t *shared, done_fn done, size_t arg)
{
    size_t last = 0;
    double last_progress = bench_now();
    while (!done(shared, arg) && !shared->failed) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&shared->changed, &shared->lock, &until);
        size_t progress = shared->acked + shared->delivered + (size_t) shared->connected;
        if (progress != last) {
            last = progress;
            last_progress = bench_now();
        } else if (bench_now() - last_progress > STALL_SECONDS) {
            fprintf(stderr, "peer_mosquitto: no progress for %.0f s\n", STALL_SECONDS);
            return -1;
        }
    }
    return shared->failed ? -1 : 0;
}

/* Locks, waits, unlocks. */
static int s_wait_locked(shared_t *shared, done_fn done, size_t arg)
{
    pthread_mutex_lock(&shared->lock);
    int rc = s_wait(shared, done, arg);
    pthread_mutex_unlock(&shared->lock);
    return rc;
}

/* A client of the broker on port, MQTT v5, with its network thread running. */
static int s_client_start(client_t *client, const char *id, int clean, unsigned port)
{
    client->mosq = mosquitto_new(id, clean, client);
    if (!client->mosq)
        return -1;
    mosquitto_int_option(client->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(client->mosq, MOSQ_OPT_SEND_MAXIMUM, PUBLISH_WINDOW);
    mosquitto_int_option(client->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, SUBSCRIBER_WIN);
    mosquitto_int_option(client->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(client->mosq, s_on_connect);
    mosquitto_subscribe_v5_callback_set(client->mosq, s_on_subscribe);
    mosquitto_publish_v5_callback_set(client->mosq, s_on_publish);
    mosquitto_message_v5_callback_set(client->mosq, s_on_message);
    mosquitto_property *props = NULL;
    if (!clean) /* a persistent session: mosquitto keeps the subscriber's messages for it */
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 3600);
    int rc = mosquitto_connect_bind_v5(client->mosq, "127.0.0.1", (int) port, 60, NULL, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_loop_start(client->mosq) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "peer_mosquitto: cannot connect %s: %s\n", id, mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static void s_client_stop(client_t *client)
{
    if (!client->mosq)
        return;
    mosquitto_disconnect(client->mosq);
    mosquitto_loop_stop(client->mosq, false);
    mosquitto_destroy(client->mosq);
    client->mosq = NULL;
}

/* Publishes count messages with PUBLISH_WINDOW in flight per publisher and waits for every
 * PUBACK and every delivery, then for the fence. */
static int s_load(client_t *publishers, client_t *subscriber, shared_t *shared, size_t count,
                  const uint8_t *payload)
{
    size_t sent = 0;
    int rc = 0;
    pthread_mutex_lock(&shared->lock);
    while (rc == 0 && sent < count) {
        int room = 0;
        for (int p = 0; p < PUBLISHERS && rc == 0; p++)
            while (rc == 0 && shared->in_flight[p] < PUBLISH_WINDOW && sent < count) {
                shared->in_flight[p]++;
                sent++;
                room = 1;
                pthread_mutex_unlock(&shared->lock);
                int sent_rc = mosquitto_publish_v5(publishers[p].mosq, NULL, TOPIC, PAYLOAD_BYTES,
                                                   payload, 1, false, NULL);
                pthread_mutex_lock(&shared->lock);
                if (sent_rc != MOSQ_ERR_SUCCESS) {
                    fprintf(stderr, "peer_mosquitto: publish: %s\n", mosquitto_strerror(sent_rc));
                    rc = -1;
                }
            }
        if (rc == 0 && !room) /* every window is full: wait for one PUBACK */
            rc = s_wait(shared, s_acked, shared->acked + 1);
    }
    if (rc == 0)
        rc = s_wait(shared, s_all_in, count);
    pthread_mutex_unlock(&shared->lock);
    /* The subscriber's connection is handled in order: once this SUBACK is back, mosquitto has
     * taken every PUBACK the subscriber sent before it. */
    if (rc == 0 &&
        mosquitto_subscribe_v5(subscriber->mosq, NULL, FENCE_TOPIC, 1, 0, NULL) != MOSQ_ERR_SUCCESS)
        rc = -1;
    return rc == 0 ? s_wait_locked(shared, s_fenced, 0) : -1;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    size_t count = argc == 3 ? strtoul(argv[1], &end, 10) : 0;
    if (argc != 3 || !end || *end || count == 0) {
        fprintf(stderr, "usage: peer_mosquitto COUNT RESULT_FILE\n");
        return 2;
    }
    char binary[PATH_BYTES];
    if (!s_find_mosquitto(binary, sizeof binary)) {
        s_progress("skipped: the mosquitto broker is not installed (Debian: mosquitto)");
        return EXIT_SKIP;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp"; /* on disk */
    char dir[DIR_BYTES];
    snprintf(dir, sizeof dir, "%s/fusion-bench-mosquitto-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("peer_mosquitto: mkdtemp");
        return EXIT_FAILED;
    }
    chmod(dir, 0700);
    shared_t shared = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    client_t publishers[PUBLISHERS] = {{0}}, subscriber = {.shared = &shared, .index = -1};
    uint8_t payload[PAYLOAD_BYTES];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] =
            (uint8_t) "bench alert: vessel sighted, route MMR>THA>MYS, at_border. "[i % 60];
    int status = EXIT_FAILED;
    unsigned port = 0;
    mosquitto_lib_init();
    pid_t broker = s_broker_start(binary, dir, &port);
    if (broker < 0)
        goto cleanup;
    s_progress("mosquitto (pid %d) listening on 127.0.0.1:%u, persistence in %s", (int) broker,
               port, dir);
    if (s_client_start(&subscriber, "fusion-bench-subscriber", 0, port) != 0)
        goto cleanup;
    for (int p = 0; p < PUBLISHERS; p++) {
        char id[64];
        snprintf(id, sizeof id, "fusion-bench-publisher-%d", p + 1);
        publishers[p] = (client_t){.shared = &shared, .index = p};
        if (s_client_start(&publishers[p], id, 1, port) != 0)
            goto cleanup;
    }
    if (s_wait_locked(&shared, s_connected, PUBLISHERS + 1) != 0 ||
        mosquitto_subscribe_v5(subscriber.mosq, NULL, TOPIC, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
        s_wait_locked(&shared, s_subscribed, 0) != 0)
        goto cleanup;

    double cpu_before = bench_proc_cpu_us(broker), started = bench_now();
    int rc = s_load(publishers, &subscriber, &shared, count, payload);
    double cpu_after = bench_proc_cpu_us(broker), elapsed = bench_now() - started;
    if (rc != 0 || cpu_before < 0 || cpu_after < 0 || shared.wrong > 0) {
        fprintf(stderr, "peer_mosquitto: %zu of %zu acknowledged, %zu delivered, %zu wrong\n",
                shared.acked, count, shared.delivered, shared.wrong);
        goto cleanup;
    }
    double cpu_us = (cpu_after - cpu_before) / (double) count, rate = (double) count / elapsed;
    s_progress("%zu messages acknowledged and delivered in %.2f s; mosquitto CPU %.2f s", count,
               elapsed, (cpu_after - cpu_before) / 1e6);
    FILE *file = fopen(argv[2], "w");
    if (!file || fprintf(file, "%.3f %.1f\n", cpu_us, rate) < 0 || fclose(file) != 0) {
        fprintf(stderr, "peer_mosquitto: cannot write %s\n", argv[2]);
        goto cleanup;
    }
    status = 0;
cleanup:
    for (int p = 0; p < PUBLISHERS; p++)
        s_client_stop(&publishers[p]);
    s_client_stop(&subscriber);
    mosquitto_lib_cleanup();
    if (broker > 0) {
        kill(broker, SIGTERM);
        if (bench_proc_wait(broker, STALL_SECONDS) != 0)
            fprintf(stderr, "peer_mosquitto: mosquitto did not stop cleanly\n");
    }
    if (status == 0)
        nftw(dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "peer_mosquitto: kept %s for inspection\n", dir);
    return status;
}
