/* The broker under load: a real fusion-broker, started here in a throw-away region, against the
 * floor it is bounded by, measured in the same run. Ed25519 verifications per second on 1 and N
 * threads; a bare ZeroMQ forwarding hop (hop_forwarder) with and without CURVE; broker CPU per
 * accepted, committed and delivered 1 KiB message and the throughput of pipelined publishers;
 * publish -> ACCEPTED and publish -> delivered latency at a paced rate; the same load through
 * Mosquitto with QoS 1 (peer_mosquitto, when built); resident memory with many agents,
 * subscriptions and stored messages; the publisher's CPU per message for 1, 10 and 100
 * recipients. See docs/bench.md. */
#include <czmq.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fusion/cert.h"
#include "fusion/client.h"
#include "fusion/codec.h"
#include "fusion/envelope.h"
#include "fusion/keys.h"
#include "fusion/store.h"
#include "fusion/vocab.h"
#include "proc.h"
#include "report.h"

#define DIR_BYTES            512  /* the temporary directory */
#define PATH_BYTES           1024 /* a file inside it */
#define VERIFY_MESSAGE_BYTES 500  /* about the size of a signed header */
#define VERIFY_SECONDS       1.5
#define CONTENT_BYTES        1024   /* the encoded section content: a 1 KiB message */
#define PUBLISHERS           4      /* pipelined publisher connections, one principal each */
#define PUBLISH_WINDOW       64     /* PUBLISHes in flight per publisher */
#define CONSUMER_WINDOW      512    /* the consumer's CREDIT */
#define LATENCY_RATE         1000.0 /* messages per second in the latency phase */
#define PROBE_SECONDS        1.0    /* paced DIRECTORY round trips before the latency phase */
#define FLOOR_COMMITS        200    /* durable commits of one PUBLISH each, timed one by one */
#define AUDIT_ROUNDS         7      /* runs with and without the audit, each */
#define STORE_CHUNK          10000  /* stored messages sealed, then published, at a time */
#define BROADCAST_RECIPIENTS 100    /* agents each message of the broadcast figure goes to */
#define BROADCAST_MESSAGES   200    /* messages of the broadcast figure */
#define AGENT_WAVE           100    /* agents connecting (CURVE handshakes) at once */
#define ENROL_PARALLEL       8      /* keygen and enroll commands running at once */
#define STALL_SECONDS        30.0   /* no answer for this long fails a phase */
#define CREDIT_RESEND_S      3.0    /* an agent re-sends its window this often (protocol.md) */
#define BROKER_WAIT_S        30.0   /* to start listening, and to stop after SIGTERM */
#define MEMORY_BUDGET_MIB    64.0 /* issue 4: 1,000 agents, 10,000 subscriptions, 1,000,000 stored */
#define BROKER_ID            "RSO.FUSION.broker"
#define CONSUMER_ID          "IDN.POLRI.fp1"
#define FENCE_PATTERN        "ZZZ>ZZZ" /* a route nobody publishes on */

/* Countries of the subscription patterns and of the agents' ids. */
static const char *const s_countries[] = {"MMR", "THA", "MYS", "IDN", "LKA", "BGD", "AFG", "IRN",
                                          "TUR", "DEU", "AUS", "NZL", "PHL", "VNM", "KHM", "LAO",
                                          "CHN", "IND", "PAK", "NPL", "ARE", "QAT", "SAU", "SGP",
                                          "HKG", "JPN", "KOR", "TLS", "PNG", "FJI", "GBR", "USA"};
#define COUNTRY_COUNT (sizeof s_countries / sizeof s_countries[0])

/* The throw-away region: everything lives in dir; bin holds the binaries under test. */
typedef struct {
    char dir[DIR_BYTES];
    const char *bin;
    uint8_t authority_key[FX_KEY_BYTES];
    fx_cert_t *broker_cert; /* verified; agents take the broker's CURVE key from it */
} region_t;

/* A fusion-broker child process. */
typedef struct {
    pid_t pid;
    char endpoint[256];
    char log[PATH_BYTES];
    const char *binary; /* NULL: FUSION_BIN/fusion-broker */
} broker_t;

/* The run: its scale, its floors and the principals it plays. */
typedef struct {
    region_t region;
    int cores;
    size_t messages;          /* BENCH_MESSAGES: the throughput run */
    double latency_seconds;   /* BENCH_LATENCY_SECONDS: the paced run */
    const char *latency_file; /* BENCH_LATENCY_FILE: each paced message's times, or NULL */
    size_t n_agents;          /* BENCH_AGENTS */
    size_t subscriptions;     /* BENCH_SUBSCRIPTIONS */
    size_t stored;            /* BENCH_STORED */
    double idle_seconds;      /* BENCH_IDLE_SECONDS */
    size_t audit_messages;    /* BENCH_AUDIT_MESSAGES: each run of the audit-cost comparison */
    const char *noaudit;      /* the bench-only broker without audit appends, or NULL */
    double verify_us;         /* CPU time of one Ed25519 verification */
    double verify_rate_n;     /* verifications per second on cores threads */
    double verify_rate_1;     /* and on one thread */
    double sign_us;           /* CPU time of one Ed25519 signature */
    double box_seal_us;       /* CPU time of one sealed section key (crypto_box_seal) */
    double broker_cpu_us;     /* broker CPU per accepted, committed, delivered message */
    double hop_curve_us;      /* forwarder CPU per message of the bare CURVE ZeroMQ hop */
    double hop_plain_us;      /* and of the same hop without CURVE */
    size_t hop_messages;      /* BENCH_HOP_MESSAGES: each run of the hop floor */
    const char *hop;          /* the forwarder of the hop floor (hop_forwarder) */
    const char *mosquitto;    /* the Mosquitto peer (peer_mosquitto), or NULL: not built */
    uint64_t next_request_id;
    uint8_t *content; /* the plaintext of every message (an encoded SectionContent) */
    size_t content_len;
    fx_keys_t *publishers[PUBLISHERS];
    fx_keys_t *consumer;
    fx_keys_t **agents;
} bench_t;

/* One sealed message: its encoded PUBLISH frame and its msg_id. */
typedef struct {
    uint8_t *frame;
    size_t len;
    uint8_t msg_id[FX_MSG_ID_BYTES];
} sealed_t;

/* Frames prepared before timing starts. For a batch of messages, message i is sealed by
 * senders[i % n_senders] for recipients[(first_recipient + i * k + j) % n_recipients], j < k,
 * where k is per_message (0 counts as 1); frame i carries request_id first_request_id + i. */
typedef struct {
    fx_keys_t *const *senders;
    size_t n_senders;
    fx_keys_t *const *recipients;
    size_t n_recipients;
    size_t first_recipient;
    size_t per_message;
    const uint8_t *content;
    size_t content_len;
    uint64_t first_request_id;
    sealed_t *items;
    size_t count;
} batch_t;

/* One sealing thread: items first, first + step, ... of the batch. */
typedef struct {
    batch_t *batch;
    size_t first, step;
    int failed;
} sealer_t;

/* A run of a batch through the broker: publisher p sends frames p, p + n, p + 2n, ... keeping
 * at most window of them unanswered; with rate set, frame i leaves no earlier than i / rate
 * seconds after the start. The consumer (if any) acknowledges every DELIVER. */
typedef struct {
    bench_t *bench;
    zsock_t **publishers;
    size_t n_publishers;
    zsock_t *consumer;
    const batch_t *batch;
    size_t window;
    double rate;
    double *sent_at, *answered_at, *delivered_at; /* per frame, when not NULL */
    /* What happened */
    size_t accepted, rejected, other_answers, delivered, duplicates, strays;
    double started, last_answer, last_delivery;
} load_t;

/* One thread of the verification floor. */
typedef struct {
    const uint8_t *message, *signature, *public_key;
    double until;
    unsigned long verified;
    double cpu_seconds; /* the thread's own CPU time: immune to other processes on the machine */
    int failed;
} verifier_t;

static void s_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void s_progress(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    printf("  bench_broker: ");
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t s_env_size(const char *name, size_t fallback)
{
    const char *text = getenv(name);
    char *end;
    if (!text || !*text)
        return fallback;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end || text[0] == '-') {
        fprintf(stderr, "bench_broker: %s=%s is not a count; using %zu\n", name, text, fallback);
        return fallback;
    }
    return (size_t) value;
}

/* ---- The floor: Ed25519 verifications -------------------------------------------------- */

static double s_thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *s_verifier(void *arg)
{
    verifier_t *v = arg;
    double cpu = s_thread_cpu_seconds();
    while (bench_now() < v->until)
        for (int i = 0; i < 64; i++, v->verified++)
            if (crypto_sign_verify_detached(v->signature, v->message, VERIFY_MESSAGE_BYTES,
                                            v->public_key) != 0)
                v->failed = 1;
    v->cpu_seconds = s_thread_cpu_seconds() - cpu;
    return NULL;
}

/* Verifications per second (wall clock) of one signature over a VERIFY_MESSAGE_BYTES message on
 * threads threads at once, and the CPU time of one verification in *cpu_us_p; -1 if a thread
 * could not start or a verification failed. */
static double s_verify_rate(int threads, double *cpu_us_p)
{
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
    uint8_t message[VERIFY_MESSAGE_BYTES], signature[crypto_sign_BYTES];
    crypto_sign_keypair(public_key, secret_key);
    randombytes_buf(message, sizeof message);
    crypto_sign_detached(signature, NULL, message, sizeof message, secret_key);
    sodium_memzero(secret_key, sizeof secret_key);
    verifier_t *verifiers = fx_calloc((size_t) threads, sizeof *verifiers);
    pthread_t *ids = fx_calloc((size_t) threads, sizeof *ids);
    double start = bench_now();
    int started = 0;
    for (; started < threads; started++) {
        verifiers[started] = (verifier_t){.message = message,
                                          .signature = signature,
                                          .public_key = public_key,
                                          .until = start + VERIFY_SECONDS};
        if (pthread_create(&ids[started], NULL, s_verifier, &verifiers[started]) != 0)
            break;
    }
    unsigned long total = 0;
    double cpu = 0;
    int failed = started < threads;
    for (int t = 0; t < started; t++) {
        pthread_join(ids[t], NULL);
        total += verifiers[t].verified;
        cpu += verifiers[t].cpu_seconds;
        failed |= verifiers[t].failed;
    }
    double elapsed = bench_now() - start;
    *cpu_us_p = total ? cpu * 1e6 / (double) total : 0;
    free(ids);
    free(verifiers);
    return failed ? -1 : (double) total / elapsed;
}

/* The floors of the publisher's cost: the CPU time (this thread's) of one Ed25519 signature
 * over a VERIFY_MESSAGE_BYTES message, and of one section key sealed to a recipient's X25519
 * key (crypto_box_seal of 32 bytes, as fx_envelope_seal wraps a key), each over
 * VERIFY_SECONDS / 3 of calls. -1 if a call failed. */
static int s_publisher_floors(double *sign_us_p, double *box_seal_us_p)
{
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
    uint8_t box_public[crypto_box_PUBLICKEYBYTES], box_secret[crypto_box_SECRETKEYBYTES];
    uint8_t message[VERIFY_MESSAGE_BYTES], signature[crypto_sign_BYTES];
    uint8_t section_key[32], sealed[32 + crypto_box_SEALBYTES];
    crypto_sign_keypair(public_key, secret_key);
    crypto_box_keypair(box_public, box_secret);
    sodium_memzero(box_secret, sizeof box_secret);
    randombytes_buf(message, sizeof message);
    randombytes_buf(section_key, sizeof section_key);
    int failed = 0;
    for (int op = 0; op < 2; op++) {
        unsigned long calls = 0;
        double until = bench_now() + VERIFY_SECONDS / 3, cpu = s_thread_cpu_seconds();
        while (bench_now() < until)
            for (int i = 0; i < 16; i++, calls++)
                if (op == 0)
                    failed |= crypto_sign_detached(signature, NULL, message, sizeof message,
                                                   secret_key) != 0;
                else
                    failed |=
                        crypto_box_seal(sealed, section_key, sizeof section_key, box_public) != 0;
        *(op == 0 ? sign_us_p : box_seal_us_p) =
            (s_thread_cpu_seconds() - cpu) * 1e6 / (double) calls;
    }
    sodium_memzero(secret_key, sizeof secret_key);
    sodium_memzero(section_key, sizeof section_key);
    return failed ? -1 : 0;
}

/* ---- Processes: the CLIs and the broker ------------------------------------------------- */

/* Runs argv to completion; 0 when it exited 0. */
static int s_run(char *const argv[], const char *log_path)
{
    pid_t pid = bench_proc_spawn(argv, log_path);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_broker: %s %s failed (see %s)\n", argv[0], argv[1], log_path);
        return -1;
    }
    return 0;
}

/* Prints the last lines of a log to stderr. */
static void s_print_tail(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    char tail[2048];
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, size > (long) sizeof tail - 1 ? size - (long) sizeof tail + 1 : 0, SEEK_SET);
    size_t len = fread(tail, 1, sizeof tail - 1, file);
    fclose(file);
    tail[len] = '\0';
    fprintf(stderr, "bench_broker: the end of %s:\n%s\n", path, tail);
}

/* `fusion-agent keygen ID` (stage 0) or `fusion-admin enroll ... --roles roles` (stage 1). */
static pid_t s_enrol_step(const region_t *region, const char *id, int stage, const char *roles)
{
    char bin[PATH_BYTES], keys[PATH_BYTES], dir[PATH_BYTES], request[PATH_BYTES], log[PATH_BYTES];
    snprintf(log, sizeof log, "%s/setup.log", region->dir);
    snprintf(keys, sizeof keys, "%s/keys", region->dir);
    if (stage == 0) {
        snprintf(bin, sizeof bin, "%s/fusion-agent", region->bin);
        char *argv[] = {bin, "keygen", (char *) id, "--dir", keys, NULL};
        return bench_proc_spawn(argv, log);
    }
    snprintf(bin, sizeof bin, "%s/fusion-admin", region->bin);
    snprintf(dir, sizeof dir, "%s/region", region->dir);
    snprintf(request, sizeof request, "%s/keys/%s.request", region->dir, id);
    char *argv[] = {bin, "enroll", "--region", dir, request, "--roles", (char *) roles, NULL};
    return bench_proc_spawn(argv, log);
}

/* Generates keys for every id and enrols it with roles, through the real CLIs, with up to
 * ENROL_PARALLEL commands at once (each mostly waits for fsync; enroll locks the region). */
static int s_enrol(const region_t *region, char *const *ids, size_t count, const char *roles)
{
    struct {
        pid_t pid;
        size_t index;
        int stage;
    } jobs[ENROL_PARALLEL] = {{0}};
    size_t next = 0, done = 0;
    int running = 0, failed = 0;
    while ((done < count && !failed) || running > 0) {
        for (int j = 0; j < ENROL_PARALLEL && !failed && next < count; j++) {
            if (jobs[j].pid)
                continue;
            jobs[j].index = next++;
            jobs[j].stage = 0;
            jobs[j].pid = s_enrol_step(region, ids[jobs[j].index], 0, roles);
            if (jobs[j].pid < 0)
                jobs[j].pid = 0, failed = 1;
            else
                running++;
        }
        int reaped = 0;
        for (int j = 0; j < ENROL_PARALLEL; j++) {
            int status;
            if (!jobs[j].pid || waitpid(jobs[j].pid, &status, WNOHANG) != jobs[j].pid)
                continue;
            reaped = 1;
            running--;
            jobs[j].pid = 0;
            const char *id = ids[jobs[j].index];
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench_broker: %s of %s failed (see %s/setup.log)\n",
                        jobs[j].stage ? "fusion-admin enroll" : "fusion-agent keygen", id,
                        region->dir);
                failed = 1;
            } else if (jobs[j].stage == 1) {
                done++;
            } else if (!failed) {
                jobs[j].stage = 1;
                jobs[j].pid = s_enrol_step(region, id, 1, roles);
                if (jobs[j].pid < 0)
                    jobs[j].pid = 0, failed = 1;
                else
                    running++;
            }
        }
        if (!reaped)
            s_sleep_ms(1);
    }
    return failed ? -1 : 0;
}

static fx_keys_t *s_keys_load(const region_t *region, const char *id)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/keys/%s.key", region->dir, id);
    fx_keys_t *keys = NULL;
    fx_err_t rc = fx_keys_load(path, &keys);
    if (rc != FX_OK)
        fprintf(stderr, "bench_broker: cannot load %s: %s\n", path, fx_strerror(rc));
    return keys;
}

/* A new region in region->dir with the real CLIs: the authority, a policy that permits
 * everything (the bench measures the broker, not the policy: bench_policy does), signed. */
static int s_region_create(region_t *region)
{
    char bin[PATH_BYTES], dir[PATH_BYTES], policy[PATH_BYTES], log[PATH_BYTES], path[PATH_BYTES];
    snprintf(log, sizeof log, "%s/setup.log", region->dir);
    snprintf(dir, sizeof dir, "%s/region", region->dir);
    snprintf(bin, sizeof bin, "%s/fusion-admin", region->bin);
    char *init[] = {bin, "init", dir, NULL};
    if (s_run(init, log) != 0)
        return -1;
    snprintf(policy, sizeof policy, "%s/region/policy.yaml", region->dir);
    FILE *file = fopen(policy, "w");
    if (!file || fputs("fusion_policy: 1\ndefault: permit\n", file) < 0 || fclose(file) != 0) {
        fprintf(stderr, "bench_broker: cannot write %s\n", policy);
        return -1;
    }
    char *sign[] = {bin, "policy", "sign", "--region", dir, policy, NULL};
    if (s_run(sign, log) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/region/authority.pub", region->dir);
    if (fx_authority_key_load(path, region->authority_key) != FX_OK) {
        fprintf(stderr, "bench_broker: cannot load %s\n", path);
        return -1;
    }
    return 0;
}

/* Waits until the broker wrote its endpoint file (0), exited (1) or took too long (-1). */
static int s_broker_wait(broker_t *broker, const char *endpoint_file)
{
    double until = bench_now() + BROKER_WAIT_S;
    while (bench_now() < until) {
        uint8_t *data = NULL;
        size_t len = 0;
        if (fx_file_read(endpoint_file, sizeof broker->endpoint - 1, &data, &len) == FX_OK &&
            len > 0) {
            while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
                len--;
            memcpy(broker->endpoint, data, len);
            broker->endpoint[len] = '\0';
            free(data);
            return 0;
        }
        free(data);
        int status;
        if (waitpid(broker->pid, &status, WNOHANG) == broker->pid) {
            broker->pid = 0;
            return 1;
        }
        s_sleep_ms(10);
    }
    return -1;
}

/* SIGTERM, then a wait for the clean exit (SIGKILL after BROKER_WAIT_S). 0 when it exited 0. */
static int s_broker_stop(broker_t *broker)
{
    if (broker->pid <= 0)
        return 0;
    kill(broker->pid, SIGTERM);
    double until = bench_now() + BROKER_WAIT_S;
    int status = 0;
    pid_t got;
    while ((got = waitpid(broker->pid, &status, WNOHANG)) == 0 && bench_now() < until)
        s_sleep_ms(10);
    if (got == 0) {
        fprintf(stderr, "bench_broker: the broker did not stop within %.0f s of SIGTERM\n",
                BROKER_WAIT_S);
        kill(broker->pid, SIGKILL);
        waitpid(broker->pid, &status, 0);
    }
    broker->pid = 0;
    if (got != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "bench_broker: the broker did not exit cleanly (status %d)\n", status);
    s_print_tail(broker->log);
    return -1;
}

/* Starts a broker with its own database and state in region->dir/name, on a random port from
 * 20000 to 29999 (another one when that port is taken). 0 once it listens. */
static int s_broker_start(const region_t *region, const char *name, broker_t *broker)
{
    char state[PATH_BYTES], config[PATH_BYTES], endpoint_file[PATH_BYTES], bin[PATH_BYTES];
    snprintf(state, sizeof state, "%s/%s", region->dir, name);
    snprintf(config, sizeof config, "%s/%s.yaml", region->dir, name);
    snprintf(endpoint_file, sizeof endpoint_file, "%s/%s/endpoint", region->dir, name);
    snprintf(broker->log, sizeof broker->log, "%s/%s.log", region->dir, name);
    if (broker->binary)
        snprintf(bin, sizeof bin, "%s", broker->binary);
    else
        snprintf(bin, sizeof bin, "%s/fusion-broker", region->bin);
    if (mkdir(state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench_broker: cannot create %s: %s\n", state, strerror(errno));
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        unsigned port = 20000 + randombytes_uniform(10000);
        FILE *file = fopen(config, "w");
        if (!file)
            return -1;
        fprintf(file,
                "id: " BROKER_ID "\nkey: keys/" BROKER_ID ".key\nregion: region\n"
                "policy: region/policy.yaml\ndatabase: %s/broker.db\n"
                "endpoint: tcp://127.0.0.1:%u\nendpoint_file: %s/endpoint\nstate_dir: %s\n"
                /* The bench measures capacity: no principal may be held back by the rate
                 * limit. */
                "limits: {rate: 1000000/s, burst: 10000000}\n",
                name, port, name, name);
        if (fclose(file) != 0)
            return -1;
        unlink(endpoint_file);
        unlink(broker->log);
        char *argv[] = {bin, "--config", config, NULL};
        broker->pid = bench_proc_spawn(argv, broker->log);
        if (broker->pid < 0)
            return -1;
        int waited = s_broker_wait(broker, endpoint_file);
        if (waited == 0)
            return 0;
        if (waited < 0) {
            fprintf(stderr, "bench_broker: the broker did not listen within %.0f s\n",
                    BROKER_WAIT_S);
            s_broker_stop(broker);
            break;
        }
        uint8_t *log = NULL;
        size_t len = 0;
        int taken = fx_file_read(broker->log, 1 << 20, &log, &len) == FX_OK &&
                    strstr((char *) log, "cannot bind");
        free(log);
        if (!taken)
            break;
    }
    fprintf(stderr, "bench_broker: the broker did not start\n");
    s_print_tail(broker->log);
    return -1;
}

static double s_self_cpu_us(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
           (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/* ---- Frames ------------------------------------------------------------------------------- */

/* A DEALER connected with CURVE as the principal of keys to the broker of the certificate. */
static zsock_t *s_connect(const char *endpoint, const fx_keys_t *keys, const fx_cert_t *broker_cert)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        fprintf(stderr, "bench_broker: cannot create a socket (too many open?)\n");
        return NULL;
    }
    zsock_set_curve_serverkey_bin(sock, fx_cert_curve_key(broker_cert));
    zsock_set_curve_publickey_bin(sock, fx_keys_curve_public(keys));
    zsock_set_curve_secretkey_bin(sock, fx_keys_curve_secret(keys));
    zsock_set_sndhwm(sock, 0); /* the windows bound what is in flight */
    zsock_set_rcvhwm(sock, 0);
    zsock_set_maxmsgsize(sock, (int64_t) FX_MAX_FRAME_BYTES);
    zsock_set_linger(sock, 0);
    /* PINGs as an agent sends them (lib/client.c), so an idle broker does what it would do. */
    zsock_set_heartbeat_ivl(sock, FX_CLIENT_HEARTBEAT_IVL_MS);
    zsock_set_heartbeat_timeout(sock, FX_CLIENT_HEARTBEAT_TIMEOUT_MS);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        fprintf(stderr, "bench_broker: cannot connect to %s\n", endpoint);
        zsock_destroy(&sock);
    }
    return sock;
}

static int s_send_bytes(zsock_t *sock, const uint8_t *bytes, size_t len)
{
    return zmq_send(zsock_resolve(sock), bytes, len, 0) == (int) len ? 0 : -1;
}

/* Encodes and sends a frame with the next request id of the run. */
static int s_send(bench_t *bench, zsock_t *sock, Fusion__Frame *frame)
{
    frame->request_id = bench->next_request_id++;
    uint8_t *bytes;
    size_t len;
    fx_codec_encode(frame, &bytes, &len);
    int rc = s_send_bytes(sock, bytes, len);
    free(bytes);
    return rc;
}

/* Receives one frame without waiting: 1 with *frame_p set (free with fx_codec_free), 0 when
 * nothing is queued, -1 for a frame that does not decode. */
static int s_recv(zsock_t *sock, Fusion__Frame **frame_p)
{
    *frame_p = NULL;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, zsock_resolve(sock), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return 0;
    }
    fx_err_t rc =
        fx_codec_decode(FX_MSG_FRAME, zmq_msg_data(&msg), zmq_msg_size(&msg), (void **) frame_p);
    zmq_msg_close(&msg);
    if (rc != FX_OK) {
        fprintf(stderr, "bench_broker: the broker sent a frame that does not decode: %s\n",
                fx_strerror(rc));
        return -1;
    }
    return 1;
}

static int s_send_credit(bench_t *bench, zsock_t *sock, uint32_t window)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Credit credit = FUSION__CREDIT__INIT;
    credit.messages = window;
    frame.body_case = FUSION__FRAME__BODY_CREDIT;
    frame.credit = &credit;
    return s_send(bench, sock, &frame);
}

static int s_send_subscribe(bench_t *bench, zsock_t *sock, const char *pattern)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Subscribe subscribe = FUSION__SUBSCRIBE__INIT;
    subscribe.pattern = (char *) pattern;
    frame.body_case = FUSION__FRAME__BODY_SUBSCRIBE;
    frame.subscribe = &subscribe;
    return s_send(bench, sock, &frame);
}

/* An UNSUBSCRIBE from a pattern the agent does not hold: answered at once (not_found). */
static int s_send_ping(bench_t *bench, zsock_t *sock)
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Unsubscribe unsubscribe = FUSION__UNSUBSCRIBE__INIT;
    unsubscribe.pattern = FENCE_PATTERN;
    frame.body_case = FUSION__FRAME__BODY_UNSUBSCRIBE;
    frame.unsubscribe = &unsubscribe;
    return s_send(bench, sock, &frame);
}

static int s_send_received(bench_t *bench, zsock_t *sock, const uint8_t msg_id[FX_MSG_ID_BYTES])
{
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Received received = FUSION__RECEIVED__INIT;
    received.msg_id = (ProtobufCBinaryData){FX_MSG_ID_BYTES, (uint8_t *) msg_id};
    frame.body_case = FUSION__FRAME__BODY_RECEIVED;
    frame.received = &received;
    return s_send(bench, sock, &frame);
}

/* Waits for the answer to the frame last sent on sock (request id bench->next_request_id - 1),
 * dropping anything else; its body case, or -1 after STALL_SECONDS. */
static int s_wait_answer(bench_t *bench, zsock_t *sock)
{
    uint64_t id = bench->next_request_id - 1;
    double until = bench_now() + STALL_SECONDS;
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    while (bench_now() < until && !zsys_interrupted) {
        if (zmq_poll(&item, 1, 100) < 0 && errno != EINTR)
            break;
        Fusion__Frame *frame;
        while (s_recv(sock, &frame) == 1) {
            int body = frame->request_id == id ? (int) frame->body_case : -1;
            fx_codec_free(frame);
            if (body >= 0)
                return body;
        }
    }
    fprintf(stderr, "bench_broker: no answer from the broker within %.0f s\n", STALL_SECONDS);
    return -1;
}

/* A round trip that proves the connection is up and the broker handled what came before. */
static int s_ping(bench_t *bench, zsock_t *sock)
{
    if (s_send_ping(bench, sock) != 0)
        return -1;
    int body = s_wait_answer(bench, sock);
    return body == FUSION__FRAME__BODY_ERROR || body == FUSION__FRAME__BODY_SUBSCRIBED ? 0 : -1;
}

/* A SUBSCRIBE, answered only after the group commit: once it is back, everything the
 * connection sent before it is handled and committed. */
static int s_fence(bench_t *bench, zsock_t *sock)
{
    if (s_send_subscribe(bench, sock, FENCE_PATTERN) != 0)
        return -1;
    return s_wait_answer(bench, sock) == FUSION__FRAME__BODY_SUBSCRIBED ? 0 : -1;
}

/* ---- Batches ------------------------------------------------------------------------------ */

/* The plaintext of every message: a SectionContent of exactly CONTENT_BYTES encoded bytes. */
static void s_content_make(bench_t *bench)
{
    char *text = fx_malloc(CONTENT_BYTES);
    Fusion__SectionContent content = FUSION__SECTION_CONTENT__INIT;
    content.body_case = FUSION__SECTION_CONTENT__BODY_TEXT;
    content.text = text;
    /* One tag byte and a two-byte length precede the text. */
    size_t len = CONTENT_BYTES - 3;
    for (size_t i = 0; i < len; i++)
        text[i] = "bench alert: vessel sighted, route MMR>THA>MYS, stage at_border. "[i % 64];
    text[len] = '\0';
    fx_codec_encode(&content, &bench->content, &bench->content_len);
    free(text);
}

static void s_batch_free(batch_t *batch)
{
    for (size_t i = 0; batch->items && i < batch->count; i++)
        free(batch->items[i].frame);
    free(batch->items);
    batch->items = NULL;
    batch->count = 0;
}

static int s_seal_one(batch_t *batch, size_t i)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.urgency = FUSION__URGENCY__URGENCY_NORMAL;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    size_t k = batch->per_message ? batch->per_message : 1;
    fx_recipient_t *recipients = fx_calloc(k, sizeof *recipients);
    for (size_t j = 0; j < k; j++) {
        const fx_keys_t *to =
            batch->recipients[(batch->first_recipient + i * k + j) % batch->n_recipients];
        recipients[j] = (fx_recipient_t){fx_keys_id(to), fx_keys_box_public(to)};
    }
    fx_section_draft_t section = {.id = 1,
                                  .tlp = FX_TLP_AMBER,
                                  .categories = 1u << FX_CATEGORY_OPERATIONAL,
                                  .plaintext = batch->content,
                                  .plaintext_len = batch->content_len,
                                  .recipients = recipients,
                                  .n_recipients = k};
    fx_envelope_t *env = NULL;
    fx_err_t sealed =
        fx_envelope_seal(batch->senders[i % batch->n_senders], &draft, &section, 1, &env);
    free(recipients);
    if (sealed != FX_OK)
        return -1;
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Publish publish = FUSION__PUBLISH__INIT;
    publish.envelope = (Fusion__Envelope *) fx_envelope_message(env);
    frame.request_id = batch->first_request_id + i;
    frame.body_case = FUSION__FRAME__BODY_PUBLISH;
    frame.publish = &publish;
    sealed_t *item = &batch->items[i];
    fx_codec_encode(&frame, &item->frame, &item->len);
    memcpy(item->msg_id, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    fx_envelope_destroy(&env);
    return 0;
}

static void *s_sealer(void *arg)
{
    sealer_t *sealer = arg;
    for (size_t i = sealer->first; i < sealer->batch->count && !sealer->failed; i += sealer->step)
        if (s_seal_one(sealer->batch, i) != 0)
            sealer->failed = 1;
    return NULL;
}

/* Seals count messages into batch on threads threads (the publisher's crypto is done before
 * any timing starts). The batch's senders, recipients and content are set by the caller. */
static int s_batch_seal(bench_t *bench, batch_t *batch, size_t count, int threads)
{
    batch->count = count;
    batch->items = fx_calloc(count ? count : 1, sizeof *batch->items);
    batch->first_request_id = bench->next_request_id;
    bench->next_request_id += count;
    sealer_t *sealers = fx_calloc((size_t) threads, sizeof *sealers);
    pthread_t *ids = fx_calloc((size_t) threads, sizeof *ids);
    int started = 0, failed = 0;
    for (; started < threads; started++) {
        sealers[started] = (sealer_t){batch, (size_t) started, (size_t) threads, 0};
        if (pthread_create(&ids[started], NULL, s_sealer, &sealers[started]) != 0)
            break;
    }
    if (started == 0) { /* no thread: seal here */
        sealers[0] = (sealer_t){batch, 0, 1, 0};
        s_sealer(&sealers[0]);
        failed = sealers[0].failed;
    } else {
        failed = started < threads;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(ids[t], NULL);
        failed |= sealers[t].failed;
    }
    free(ids);
    free(sealers);
    if (failed)
        fprintf(stderr, "bench_broker: cannot seal the messages\n");
    return failed ? -1 : 0;
}

/* count DIRECTORY requests: a round trip that neither verifies nor stores anything. */
static void s_batch_probes(bench_t *bench, batch_t *batch, size_t count)
{
    batch->count = count;
    batch->items = fx_calloc(count ? count : 1, sizeof *batch->items);
    batch->first_request_id = bench->next_request_id;
    bench->next_request_id += count;
    for (size_t i = 0; i < count; i++) {
        Fusion__Frame frame = FUSION__FRAME__INIT;
        Fusion__DirectoryRequest request = FUSION__DIRECTORY_REQUEST__INIT;
        frame.request_id = batch->first_request_id + i;
        frame.body_case = FUSION__FRAME__BODY_DIRECTORY_REQUEST;
        frame.directory_request = &request;
        fx_codec_encode(&frame, &batch->items[i].frame, &batch->items[i].len);
    }
}

/* ---- A run through the broker -------------------------------------------------------------- */

/* msg_id (hex) -> index + 1 of the batch's messages. */
static zhashx_t *s_index_new(const batch_t *batch)
{
    zhashx_t *index = zhashx_new();
    char hex[2 * FX_MSG_ID_BYTES + 1];
    for (size_t i = 0; i < batch->count; i++)
        zhashx_insert(index, fx_hex(batch->items[i].msg_id, FX_MSG_ID_BYTES, hex),
                      (void *) (uintptr_t) (i + 1));
    return index;
}

/* Takes a publisher's answer to frame i of the batch. */
static void s_load_answer(load_t *load, const Fusion__Frame *frame, size_t *in_flight,
                          uint8_t *answered, size_t *answered_count)
{
    const batch_t *batch = load->batch;
    uint64_t first = batch->first_request_id;
    if (frame->request_id < first || frame->request_id - first >= batch->count) {
        load->strays++;
        return;
    }
    size_t i = (size_t) (frame->request_id - first);
    if (answered[i]) {
        load->strays++;
        return;
    }
    answered[i] = 1;
    (*answered_count)++;
    in_flight[i % load->n_publishers]--;
    load->last_answer = bench_now();
    if (load->answered_at)
        load->answered_at[i] = load->last_answer;
    if (frame->body_case == FUSION__FRAME__BODY_ACCEPTED) {
        load->accepted++;
    } else if (frame->body_case == FUSION__FRAME__BODY_REJECTED ||
               frame->body_case == FUSION__FRAME__BODY_ERROR) {
        if (load->rejected++ == 0) {
            const char *code = frame->body_case == FUSION__FRAME__BODY_REJECTED
                                   ? frame->rejected->code
                                   : frame->error->code;
            const char *reason = frame->body_case == FUSION__FRAME__BODY_REJECTED
                                     ? frame->rejected->reason
                                     : frame->error->reason;
            fprintf(stderr, "bench_broker: the broker refused a message: %s: %s\n", code, reason);
        }
    } else {
        load->other_answers++;
    }
}

/* Takes a DELIVER on the consumer: records it and acknowledges it. */
static int s_load_deliver(load_t *load, const Fusion__Frame *frame, zhashx_t *index, uint8_t *seen)
{
    const Fusion__Envelope *envelope = frame->deliver ? frame->deliver->envelope : NULL;
    Fusion__Header *header = NULL;
    if (!envelope || fx_codec_decode(FX_MSG_HEADER, envelope->header.data, envelope->header.len,
                                     (void **) &header) != FX_OK) {
        load->strays++;
        return 0;
    }
    int rc = 0;
    if (header->msg_id.len == FX_MSG_ID_BYTES) {
        char hex[2 * FX_MSG_ID_BYTES + 1];
        uintptr_t found =
            (uintptr_t) zhashx_lookup(index, fx_hex(header->msg_id.data, FX_MSG_ID_BYTES, hex));
        if (!found) {
            load->strays++;
        } else if (seen[found - 1]) {
            load->duplicates++;
        } else {
            seen[found - 1] = 1;
            load->delivered++;
            load->last_delivery = bench_now();
            if (load->delivered_at)
                load->delivered_at[found - 1] = load->last_delivery;
        }
        rc = s_send_received(load->bench, load->consumer, header->msg_id.data);
    }
    fx_codec_free(header);
    return rc;
}

/* Runs the batch through the broker until every frame is answered and, with a consumer, every
 * accepted message delivered. 0, or -1 when the broker stalled or a socket failed. */
static int s_load_run(load_t *load)
{
    const batch_t *batch = load->batch;
    size_t n = load->n_publishers, polled = n + (load->consumer ? 1 : 0);
    zmq_pollitem_t *items = fx_calloc(polled, sizeof *items);
    size_t *next = fx_calloc(n, sizeof *next), *in_flight = fx_calloc(n, sizeof *in_flight);
    uint8_t *answered = fx_calloc(batch->count + 1, 1);
    uint8_t *seen = load->consumer ? fx_calloc(batch->count + 1, 1) : NULL;
    zhashx_t *index = load->consumer ? s_index_new(batch) : NULL;
    for (size_t p = 0; p < polled; p++) {
        items[p].socket = zsock_resolve(p < n ? load->publishers[p] : load->consumer);
        items[p].events = ZMQ_POLLIN;
    }
    for (size_t p = 0; p < n; p++)
        next[p] = p;
    size_t answered_count = 0;
    int rc = 0;
    load->started = load->last_answer = load->last_delivery = bench_now();
    double last_progress = load->started, last_credit = load->started;
    while (rc == 0 && (answered_count < batch->count ||
                       (load->consumer && load->delivered < load->accepted))) {
        double now = bench_now(), next_due = 0;
        for (size_t p = 0; p < n && rc == 0; p++) {
            while (next[p] < batch->count && in_flight[p] < load->window) {
                size_t i = next[p];
                double due = load->rate > 0 ? load->started + (double) i / load->rate : 0;
                if (due > now) {
                    if (next_due == 0 || due < next_due)
                        next_due = due;
                    break;
                }
                if (load->sent_at)
                    load->sent_at[i] = bench_now();
                if (s_send_bytes(load->publishers[p], batch->items[i].frame, batch->items[i].len) !=
                    0) {
                    rc = -1;
                    break;
                }
                in_flight[p]++;
                next[p] += n;
            }
        }
        if (rc == 0 && load->consumer && now - last_credit >= CREDIT_RESEND_S) {
            rc = s_send_credit(load->bench, load->consumer, CONSUMER_WINDOW);
            last_credit = now;
        }
        long timeout = 100;
        if (next_due > 0) {
            double wait_ms = (next_due - bench_now()) * 1000.0;
            timeout = wait_ms <= 0 ? 0 : wait_ms < 100 ? (long) wait_ms + 1 : 100;
        }
        if (rc == 0 && zmq_poll(items, (int) polled, timeout) < 0 && errno != EINTR)
            rc = -1;
        size_t before = answered_count + load->delivered;
        for (size_t p = 0; p < polled && rc == 0; p++) {
            Fusion__Frame *frame;
            int got;
            while ((got = s_recv(p < n ? load->publishers[p] : load->consumer, &frame)) == 1) {
                if (p == n && frame->body_case == FUSION__FRAME__BODY_DELIVER)
                    rc = s_load_deliver(load, frame, index, seen);
                else if (p < n)
                    s_load_answer(load, frame, in_flight, answered, &answered_count);
                else
                    load->strays++;
                fx_codec_free(frame);
                if (rc != 0)
                    break;
            }
            if (got < 0)
                rc = -1;
        }
        now = bench_now();
        if (answered_count + load->delivered != before)
            last_progress = now;
        else if (now - last_progress > STALL_SECONDS) {
            fprintf(stderr,
                    "bench_broker: the broker stalled: %zu of %zu answered, %zu delivered\n",
                    answered_count, batch->count, load->delivered);
            rc = -1;
        }
        if (zsys_interrupted)
            rc = -1;
    }
    zhashx_destroy(&index);
    free(seen);
    free(answered);
    free(in_flight);
    free(next);
    free(items);
    return rc;
}

/* ---- Statistics --------------------------------------------------------------------------- */

/* The p-th percentile (nearest rank) of count values sorted in increasing order. */
static double s_percentile(const double *sorted, size_t count, double p)
{
    if (count == 0)
        return 0;
    size_t rank = (size_t) ceil(p / 100.0 * (double) count);
    return sorted[rank == 0 ? 0 : rank > count ? count - 1 : rank - 1];
}

/* Latencies in ms (end[i] - start[i] for every i that has an end), sorted; their count. */
static size_t s_latencies(const double *start, const double *end, size_t count, double *out)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (end[i] > 0)
            out[n++] = (end[i] - start[i]) * 1000.0;
    bench_sort(out, n);
    return n;
}

/* ---- Phase 0: the transport floor, a bare ZeroMQ forwarding hop -------------------------------
 */

/* The forwarder's endpoints, as it wrote them to its info file. */
typedef struct {
    char server_key[64]; /* Z85, or "-" without CURVE */
    char front[256], back[256];
} hop_info_t;

/* Waits for the forwarder's info file: 0, or -1 when it exited or took too long. */
static int s_hop_wait(pid_t pid, const char *path, hop_info_t *info)
{
    double until = bench_now() + BROKER_WAIT_S;
    while (bench_now() < until) {
        FILE *file = fopen(path, "r");
        if (file) {
            int got = fscanf(file, "%63s %255s %255s", info->server_key, info->front, info->back);
            fclose(file);
            if (got == 3)
                return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench_broker: the hop forwarder exited before it listened\n");
            return -1;
        }
        s_sleep_ms(10);
    }
    fprintf(stderr, "bench_broker: the hop forwarder did not listen within %.0f s\n",
            BROKER_WAIT_S);
    return -1;
}

/* A DEALER connected to endpoint, as a CURVE client of server_key unless it is "-". */
static zsock_t *s_hop_connect(const char *endpoint, const char *server_key)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (strcmp(server_key, "-") != 0) {
        char public_key[41], secret_key[41];
        if (zmq_curve_keypair(public_key, secret_key) != 0) {
            zsock_destroy(&sock);
            return NULL;
        }
        zsock_set_curve_serverkey(sock, server_key);
        zsock_set_curve_publickey(sock, public_key);
        zsock_set_curve_secretkey(sock, secret_key);
        sodium_memzero(secret_key, sizeof secret_key);
    }
    zsock_set_linger(sock, 0);
    if (zsock_connect(sock, "%s", endpoint) != 0)
        zsock_destroy(&sock);
    return sock;
}

/* The consumer announces itself; 0 once the forwarder answered "ready". */
static int s_hop_ready(zsock_t *consumer)
{
    if (zmq_send(zsock_resolve(consumer), "hello", 5, 0) != 5)
        return -1;
    zmq_pollitem_t item = {zsock_resolve(consumer), 0, ZMQ_POLLIN, 0};
    char answer[8];
    if (zmq_poll(&item, 1, (long) (STALL_SECONDS * 1000)) == 1 &&
        zmq_recv(zsock_resolve(consumer), answer, sizeof answer, 0) == 5 &&
        memcmp(answer, "ready", 5) == 0)
        return 0;
    fprintf(stderr, "bench_broker: the hop forwarder did not answer the consumer\n");
    return -1;
}

/* Sends count CONTENT_BYTES messages from PUBLISHERS producers, PUBLISH_WINDOW in flight each
 * (a message is in flight until the consumer has it; its first byte names its producer),
 * through the forwarder; its CPU per message in *cpu_us_p and the rate in *rate_p. */
static int s_hop_run(pid_t forwarder, zsock_t **producers, zsock_t *consumer, size_t count,
                     double *cpu_us_p, double *rate_p)
{
    uint8_t body[CONTENT_BYTES], in[CONTENT_BYTES];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t) (i * 31);
    size_t in_flight[PUBLISHERS] = {0}, sent = 0, received = 0;
    zmq_pollitem_t item = {zsock_resolve(consumer), 0, ZMQ_POLLIN, 0};
    double cpu_before = bench_proc_cpu_us(forwarder), started = bench_now();
    double last_progress = started;
    while (received < count) {
        for (size_t p = 0; p < PUBLISHERS; p++)
            while (in_flight[p] < PUBLISH_WINDOW && sent < count) {
                body[0] = (uint8_t) p;
                if (zmq_send(zsock_resolve(producers[p]), body, sizeof body, ZMQ_DONTWAIT) !=
                    (int) sizeof body)
                    break; /* at the high-water mark: the forwarder is behind */
                in_flight[p]++;
                sent++;
            }
        if (zmq_poll(&item, 1, 100) < 0 && errno != EINTR)
            return -1;
        int got;
        size_t before = received;
        while ((got = zmq_recv(item.socket, in, sizeof in, ZMQ_DONTWAIT)) >= 0) {
            if (got != (int) sizeof in || in[0] >= PUBLISHERS || in_flight[in[0]] == 0) {
                fprintf(stderr, "bench_broker: the hop delivered a message it was not sent\n");
                return -1;
            }
            in_flight[in[0]]--;
            received++;
        }
        double now = bench_now();
        if (received != before) {
            last_progress = now;
        } else if (now - last_progress > STALL_SECONDS || zsys_interrupted) {
            fprintf(stderr, "bench_broker: the hop stalled: %zu of %zu received\n", received,
                    count);
            return -1;
        }
    }
    double elapsed = bench_now() - started, cpu_after = bench_proc_cpu_us(forwarder);
    if (cpu_before < 0 || cpu_after < 0)
        return -1;
    *cpu_us_p = (cpu_after - cpu_before) / (double) count;
    *rate_p = (double) count / elapsed;
    return 0;
}

/* One run of the hop floor: a fresh forwarder process (with CURVE or without), its producers and
 * its consumer; bench->hop_messages messages. */
static int s_hop_measure(bench_t *bench, int curve, double *cpu_us_p, double *rate_p)
{
    char info_path[PATH_BYTES], log[PATH_BYTES];
    const char *mode = curve ? "curve" : "plain";
    snprintf(info_path, sizeof info_path, "%s/hop-%s.info", bench->region.dir, mode);
    snprintf(log, sizeof log, "%s/hop-%s.log", bench->region.dir, mode);
    char *argv[] = {(char *) bench->hop, (char *) mode, info_path, NULL};
    pid_t pid = bench_proc_spawn(argv, log);
    if (pid < 0)
        return -1;
    hop_info_t info;
    zsock_t *producers[PUBLISHERS] = {NULL}, *consumer = NULL;
    int rc = s_hop_wait(pid, info_path, &info);
    if (rc == 0 && !(consumer = s_hop_connect(info.back, info.server_key)))
        rc = -1;
    for (size_t p = 0; p < PUBLISHERS && rc == 0; p++)
        if (!(producers[p] = s_hop_connect(info.front, info.server_key)))
            rc = -1;
    if (rc == 0)
        rc = s_hop_ready(consumer);
    if (rc == 0)
        rc = s_hop_run(pid, producers, consumer, bench->hop_messages, cpu_us_p, rate_p);
    for (size_t p = 0; p < PUBLISHERS; p++)
        zsock_destroy(&producers[p]);
    zsock_destroy(&consumer);
    kill(pid, SIGTERM);
    if (bench_proc_wait(pid, BROKER_WAIT_S) != 0) {
        fprintf(stderr, "bench_broker: the hop forwarder did not exit cleanly\n");
        s_print_tail(log);
        rc = -1;
    }
    return rc;
}

/* The transport floor, without and with CURVE: what forwarding one 1 KiB message costs a process
 * that does nothing else, through the same sockets and the same load as the broker's. */
static int s_phase_hop(bench_t *bench)
{
    double plain_rate = 0, curve_rate = 0;
    if (s_hop_measure(bench, 0, &bench->hop_plain_us, &plain_rate) != 0 ||
        s_hop_measure(bench, 1, &bench->hop_curve_us, &curve_rate) != 0)
        return -1;
    s_progress("hop: %zu messages each; plain %.0f msg/s, CURVE %.0f msg/s", bench->hop_messages,
               plain_rate, curve_rate);
    bench_report("floor: plain ZeroMQ hop, forwarder CPU per 1 KiB msg", bench->hop_plain_us, "us",
                 0);
    bench_report("floor: CURVE ZeroMQ hop, forwarder CPU per 1 KiB msg", bench->hop_curve_us, "us",
                 bench->hop_plain_us);
    bench_report("floor: CURVE ZeroMQ hop, 1 KiB msg/s", curve_rate, "msg/s", 0);
    /* What no broker can go below that checks one signature per message and forwards it over
     * CURVE, with no store, policy or audit: issue 9's targets read against it. */
    double floor_us = bench->verify_us + bench->hop_curve_us;
    bench_report("floor: one verification + CURVE hop, CPU per msg", floor_us, "us",
                 bench->verify_us);
    char name[128];
    snprintf(name, sizeof name, "floor: verification + CURVE hop msg/s on %d cores", bench->cores);
    bench_report(name, bench->cores * 1e6 / floor_us, "msg/s", bench->verify_rate_n);
    return 0;
}

/* ---- Phase 1: CPU, throughput and latency ------------------------------------------------- */

/* The latency floor of the store: FLOOR_COMMITS transactions of one PUBLISH each, written as
 * the broker writes an accepted message (the message, its delivery row and its accepted entry;
 * the stored message is its own answer), in a database beside the broker's; each commit's
 * latency in ms goes to ms. */
static int s_commit_floor(const bench_t *bench, double *ms)
{
    char path[PATH_BYTES], why[FX_STORE_WHY_SIZE];
    snprintf(path, sizeof path, "%s/floor.db", bench->region.dir);
    fx_store_t *store = NULL;
    if (fx_store_open(path, NULL, &store, why) != FX_OK) {
        fprintf(stderr, "bench_broker: %s\n", why);
        return -1;
    }
    uint8_t envelope[CONTENT_BYTES + 300];
    randombytes_buf(envelope, sizeof envelope);
    fx_err_t rc = FX_OK;
    for (size_t i = 0; i < FLOOR_COMMITS && rc == FX_OK; i++) {
        double started = bench_now();
        fx_store_message_t message = {.sender = "THA.RTP.pub1",
                                      .sender_serial = 2,
                                      .kind = FX_KIND_CASE_ALERT,
                                      .urgency = FX_URGENCY_NORMAL,
                                      .created_at = fx_now_ms(),
                                      .expires_at = fx_now_ms() + 3600000,
                                      .envelope = envelope,
                                      .envelope_len = sizeof envelope};
        randombytes_buf(message.msg_id, sizeof message.msg_id);
        randombytes_buf(message.header_digest, sizeof message.header_digest);
        fx_store_audit_entry_t accepted = {
            .event = "accepted",
            .actor = message.sender,
            .msg_id = message.msg_id,
            .header_digest = message.header_digest,
            .details = "{\"allowed\":[{\"recipient\":\"" CONSUMER_ID "\",\"sections\":[{\"rule\":"
                       "\"bench\",\"section\":1}]}],\"denied\":[],\"kind\":\"case_alert\","
                       "\"recipients\":1,\"sections\":1}"};
        if ((rc = fx_store_begin(store)) == FX_OK &&
            (rc = fx_store_put_message(store, &message)) == FX_OK &&
            (rc = fx_store_delivery_add(store, message.msg_id, CONSUMER_ID)) == FX_OK &&
            (rc = fx_store_audit_append(store, &accepted, NULL, NULL)) == FX_OK)
            rc = fx_store_commit(store);
        ms[i] = (bench_now() - started) * 1000.0;
    }
    if (rc != FX_OK)
        fprintf(stderr, "bench_broker: the commit floor failed: %s\n", fx_store_error_text(store));
    fx_store_destroy(&store);
    return rc == FX_OK ? 0 : -1;
}

/* Connects the publishers and the consumer (which grants its window) and pings each. */
static int s_connect_traffic(bench_t *bench, const char *endpoint, zsock_t **publishers,
                             zsock_t **consumer)
{
    const fx_cert_t *broker_cert = bench->region.broker_cert;
    for (size_t p = 0; p < PUBLISHERS; p++)
        if (!(publishers[p] = s_connect(endpoint, bench->publishers[p], broker_cert)) ||
            s_ping(bench, publishers[p]) != 0)
            return -1;
    if (!consumer)
        return 0;
    if (!(*consumer = s_connect(endpoint, bench->consumer, broker_cert)) ||
        s_send_credit(bench, *consumer, CONSUMER_WINDOW) != 0 || s_ping(bench, *consumer) != 0)
        return -1;
    return 0;
}

/* The pipelined run: broker CPU per message and throughput. */
static int s_measure_throughput(bench_t *bench, const broker_t *broker, zsock_t **publishers,
                                zsock_t *consumer)
{
    batch_t batch = {.senders = bench->publishers,
                     .n_senders = PUBLISHERS,
                     .recipients = &bench->consumer,
                     .n_recipients = 1,
                     .content = bench->content,
                     .content_len = bench->content_len};
    double started = bench_now();
    int rc = s_batch_seal(bench, &batch, bench->messages, bench->cores);
    if (rc != 0)
        goto cleanup;
    s_progress("sealed %zu messages (PUBLISH frames of %zu bytes) in %.1f s", batch.count,
               batch.items[0].len, bench_now() - started);
    load_t load = {.bench = bench,
                   .publishers = publishers,
                   .n_publishers = PUBLISHERS,
                   .consumer = consumer,
                   .batch = &batch,
                   .window = PUBLISH_WINDOW};
    double cpu_before = bench_proc_cpu_us(broker->pid), self_before = s_self_cpu_us();
    rc = s_load_run(&load);
    if (rc == 0)
        rc = s_fence(bench, consumer);
    double cpu_after = bench_proc_cpu_us(broker->pid), self_after = s_self_cpu_us();
    if (rc != 0 || cpu_before < 0 || cpu_after < 0 || load.rejected > 0) {
        rc = -1;
        goto cleanup;
    }
    double accepting = load.last_answer - load.started;
    double cpu_per_message = (cpu_after - cpu_before) / (double) load.accepted;
    double throughput = (double) load.accepted / accepting;
    s_progress("%zu accepted, %zu refused, %zu delivered (%zu twice) in %.2f s; broker CPU %.2f "
               "s, this process %.1f us per message",
               load.accepted, load.rejected, load.delivered, load.duplicates,
               load.last_delivery - load.started, (cpu_after - cpu_before) / 1e6,
               (self_after - self_before) / (double) load.accepted);
    bench->broker_cpu_us = cpu_per_message;
    bench_report("broker: CPU per 1 KiB msg accepted+committed+delivered", cpu_per_message, "us",
                 bench->verify_us);
    /* What the broker spends besides the one verification it must do, against the bare CURVE
     * hop that forwards one message with nothing else (the CURVE floor of the transport). */
    bench_report("broker: CPU per msg outside the signature check",
                 cpu_per_message - bench->verify_us, "us", bench->hop_curve_us);
    char name[128];
    snprintf(name, sizeof name, "broker: accepted msg/s vs %d-thread verify rate", bench->cores);
    bench_report(name, throughput, "msg/s", bench->verify_rate_n);
    bench_report("broker: accepted msg/s vs 1-thread verify rate", throughput, "msg/s",
                 bench->verify_rate_1);
    bench_report("broker: delivered msg/s (end to end)",
                 (double) load.delivered / (load.last_delivery - load.started), "msg/s",
                 bench->verify_rate_n);
cleanup:
    s_batch_free(&batch);
    return rc;
}

/* One line per paced message, for a look at the tail in time (docs/bench.md): seconds since
 * the first send, then milliseconds to its ACCEPTED and to its DELIVER (-1: none came). */
static int s_latency_write(const char *path, const double *sent, const double *answered,
                           const double *delivered, size_t count)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "bench_broker: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t slow = 0;
    for (size_t i = 0; i < count; i++) {
        double accepted = answered[i] > 0 ? (answered[i] - sent[i]) * 1000.0 : -1;
        double deliver = delivered[i] > 0 ? (delivered[i] - sent[i]) * 1000.0 : -1;
        slow += accepted > 3.0;
        fprintf(out, "%.6f %.3f %.3f\n", sent[i] - sent[0], accepted, deliver);
    }
    if (fclose(out) != 0) {
        fprintf(stderr, "bench_broker: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    s_progress("latencies of %zu messages in %s (%zu took over 3 ms to their ACCEPTED)", count,
               path, slow);
    return 0;
}

/* The paced run, against its floor: a DIRECTORY round trip through the same broker at the same
 * pace, plus one verification, plus one durable commit of one message, at the same percentile. */
static int s_measure_latency(bench_t *bench, zsock_t *publisher, zsock_t *consumer)
{
    size_t probes_count = (size_t) (LATENCY_RATE * PROBE_SECONDS);
    size_t count = (size_t) (LATENCY_RATE * bench->latency_seconds);
    if (count == 0)
        return 0;
    size_t most = count > probes_count ? count : probes_count;
    most = most > FLOOR_COMMITS ? most : FLOOR_COMMITS;
    double *sent = fx_calloc(most, sizeof *sent), *answered = fx_calloc(most, sizeof *answered);
    double *delivered = fx_calloc(most, sizeof *delivered), *ms = fx_calloc(most, sizeof *ms);
    batch_t probes = {0}, paced = {.senders = bench->publishers,
                                   .n_senders = 1,
                                   .recipients = &bench->consumer,
                                   .n_recipients = 1,
                                   .content = bench->content,
                                   .content_len = bench->content_len};
    s_batch_probes(bench, &probes, probes_count);
    load_t probe = {.bench = bench,
                    .publishers = &publisher,
                    .n_publishers = 1,
                    .batch = &probes,
                    .window = probes_count,
                    .rate = LATENCY_RATE,
                    .sent_at = sent,
                    .answered_at = answered};
    int rc = s_load_run(&probe);
    if (rc != 0 || probe.other_answers != probes_count) {
        fprintf(stderr, "bench_broker: %zu of %zu DIRECTORY requests answered\n",
                probe.other_answers, probes_count);
        rc = -1;
        goto cleanup;
    }
    size_t n = s_latencies(sent, answered, probes_count, ms);
    double trip_p50 = s_percentile(ms, n, 50), trip_p99 = s_percentile(ms, n, 99);
    char name[128];
    snprintf(name, sizeof name, "floor: DIRECTORY round trip p50 at %.0f/s", LATENCY_RATE);
    bench_report(name, trip_p50, "ms", 0);
    snprintf(name, sizeof name, "floor: DIRECTORY round trip p99 at %.0f/s", LATENCY_RATE);
    bench_report(name, trip_p99, "ms", 0);
    if ((rc = s_commit_floor(bench, ms)) != 0)
        goto cleanup;
    bench_sort(ms, FLOOR_COMMITS);
    double commit_p50 = s_percentile(ms, FLOOR_COMMITS, 50);
    double commit_p99 = s_percentile(ms, FLOOR_COMMITS, 99);
    bench_report("floor: durable commit of one PUBLISH p50", commit_p50, "ms", 0);
    bench_report("floor: durable commit of one PUBLISH p99", commit_p99, "ms", 0);
    double floor_p50 = trip_p50 + bench->verify_us / 1000.0 + commit_p50;
    double floor_p99 = trip_p99 + bench->verify_us / 1000.0 + commit_p99;

    if ((rc = s_batch_seal(bench, &paced, count, bench->cores)) != 0)
        goto cleanup;
    memset(sent, 0, most * sizeof *sent);
    memset(answered, 0, most * sizeof *answered);
    load_t load = {.bench = bench,
                   .publishers = &publisher,
                   .n_publishers = 1,
                   .consumer = consumer,
                   .batch = &paced,
                   .window = count,
                   .rate = LATENCY_RATE,
                   .sent_at = sent,
                   .answered_at = answered,
                   .delivered_at = delivered};
    s_progress("publishing %zu messages at %.0f per second", count, LATENCY_RATE);
    if ((rc = s_load_run(&load)) != 0)
        goto cleanup;
    if (load.rejected) {
        rc = -1;
        goto cleanup;
    }
    if (bench->latency_file &&
        (rc = s_latency_write(bench->latency_file, sent, answered, delivered, count)) != 0)
        goto cleanup;
    n = s_latencies(sent, answered, count, ms);
    snprintf(name, sizeof name, "latency: PUBLISH->ACCEPTED p50 at %.0f msg/s", LATENCY_RATE);
    bench_report(name, s_percentile(ms, n, 50), "ms", floor_p50);
    snprintf(name, sizeof name, "latency: PUBLISH->ACCEPTED p99 at %.0f msg/s", LATENCY_RATE);
    bench_report(name, s_percentile(ms, n, 99), "ms", floor_p99);
    n = s_latencies(sent, delivered, count, ms);
    snprintf(name, sizeof name, "latency: PUBLISH->DELIVER p50 at %.0f msg/s", LATENCY_RATE);
    bench_report(name, s_percentile(ms, n, 50), "ms", floor_p50);
    snprintf(name, sizeof name, "latency: PUBLISH->DELIVER p99 at %.0f msg/s", LATENCY_RATE);
    bench_report(name, s_percentile(ms, n, 99), "ms", floor_p99);
cleanup:
    s_batch_free(&paced);
    s_batch_free(&probes);
    free(ms);
    free(delivered);
    free(answered);
    free(sent);
    return rc;
}

static int s_phase_traffic(bench_t *bench)
{
    broker_t broker = {0};
    zsock_t *publishers[PUBLISHERS] = {NULL}, *consumer = NULL;
    if (s_broker_start(&bench->region, "traffic", &broker) != 0)
        return -1;
    s_progress("broker (pid %d) listening on %s", (int) broker.pid, broker.endpoint);
    int rc = s_connect_traffic(bench, broker.endpoint, publishers, &consumer);
    if (rc == 0 && bench->messages > 0)
        rc = s_measure_throughput(bench, &broker, publishers, consumer);
    if (rc == 0)
        rc = s_measure_latency(bench, publishers[0], consumer);
    for (size_t p = 0; p < PUBLISHERS; p++)
        zsock_destroy(&publishers[p]);
    zsock_destroy(&consumer);
    if (s_broker_stop(&broker) != 0)
        rc = -1;
    return rc;
}

/* ---- Phase 1a: the peer, Mosquitto ------------------------------------------------------------
 */

/* The same load through Mosquitto with QoS 1 (peer_mosquitto: a real mosquitto with persistence,
 * driven through libmosquitto), its broker CPU per message read from /proc the same way; then
 * the Fusion broker's CPU outside the signature check against it. Skipped with a note when the
 * peer was not built (no libmosquitto) or mosquitto is not installed. */
static int s_phase_mosquitto(bench_t *bench)
{
    if (!bench->mosquitto || access(bench->mosquitto, X_OK) != 0) {
        s_progress("peers: Mosquitto skipped: peer_mosquitto was not built (no libmosquitto-dev; "
                   "make bench installs mosquitto and libmosquitto-dev when run as root)");
        return 0;
    }
    char result[PATH_BYTES], count[32];
    snprintf(result, sizeof result, "%s/mosquitto.result", bench->region.dir);
    snprintf(count, sizeof count, "%zu", bench->messages);
    char *argv[] = {(char *) bench->mosquitto, count, result, NULL};
    s_progress("peers: %zu messages through Mosquitto with QoS 1", bench->messages);
    pid_t pid = bench_proc_spawn(argv, NULL);
    int status = pid < 0 ? -1 : bench_proc_wait(pid, 10 * STALL_SECONDS);
    if (status == 5)
        return 0; /* mosquitto is not installed: peer_mosquitto printed the note */
    double cpu_us = 0, rate = 0;
    FILE *file = status == 0 ? fopen(result, "r") : NULL;
    int got = file ? fscanf(file, "%lf %lf", &cpu_us, &rate) : 0;
    if (file)
        fclose(file);
    if (got != 2 || cpu_us <= 0) {
        fprintf(stderr, "bench_broker: the Mosquitto peer failed (status %d)\n", status);
        return -1;
    }
    bench_report("peer: Mosquitto QoS 1, broker CPU per 1 KiB msg", cpu_us, "us",
                 bench->hop_plain_us);
    bench_report("peer: Mosquitto QoS 1, delivered msg/s (end to end)", rate, "msg/s", 0);
    bench_report("broker: CPU/msg outside signature check vs Mosquitto QoS 1",
                 bench->broker_cpu_us - bench->verify_us, "us", cpu_us);
    return 0;
}

/* ---- Phase 1b: what the audit trail costs ------------------------------------------------- */

/* Broker CPU per message (accepted, committed, delivered) for count messages on a fresh broker
 * from binary (NULL: the real one), into *cpu_us_p. */
static int s_audit_run(bench_t *bench, const char *name, const char *binary, size_t count,
                       double *cpu_us_p)
{
    broker_t broker = {.binary = binary};
    zsock_t *publishers[PUBLISHERS] = {NULL}, *consumer = NULL;
    batch_t batch = {.senders = bench->publishers,
                     .n_senders = PUBLISHERS,
                     .recipients = &bench->consumer,
                     .n_recipients = 1,
                     .content = bench->content,
                     .content_len = bench->content_len};
    int rc = s_broker_start(&bench->region, name, &broker);
    if (rc != 0)
        return -1;
    rc = s_connect_traffic(bench, broker.endpoint, publishers, &consumer);
    if (rc == 0)
        rc = s_batch_seal(bench, &batch, count, bench->cores);
    load_t load = {.bench = bench,
                   .publishers = publishers,
                   .n_publishers = PUBLISHERS,
                   .consumer = consumer,
                   .batch = &batch,
                   .window = PUBLISH_WINDOW};
    double before = bench_proc_cpu_us(broker.pid);
    if (rc == 0)
        rc = s_load_run(&load);
    if (rc == 0)
        rc = s_fence(bench, consumer);
    double after = bench_proc_cpu_us(broker.pid);
    if (rc == 0 && (before < 0 || after < 0 || load.rejected > 0 || load.accepted == 0))
        rc = -1;
    if (rc == 0) {
        *cpu_us_p = (after - before) / (double) load.accepted;
        s_progress("%s: %zu accepted, %zu delivered, broker CPU %.1f us per message", name,
                   load.accepted, load.delivered, *cpu_us_p);
    }
    s_batch_free(&batch);
    for (size_t p = 0; p < PUBLISHERS; p++)
        zsock_destroy(&publishers[p]);
    zsock_destroy(&consumer);
    if (s_broker_stop(&broker) != 0)
        rc = -1;
    return rc;
}

/* The same load on the real broker and on a bench-only build with its audit appends compiled
 * out (Makefile: fusion-broker-noaudit), AUDIT_ROUNDS times each, in pairs whose order alternates
 * (with, without; without, with; ...) so that a machine getting busier or quieter during the
 * phase favours neither; the median of each is compared, so that neither a busy neighbour in one
 * run nor a lucky run decides the ratio. */
static int s_phase_audit(bench_t *bench)
{
    double with[AUDIT_ROUNDS], without[AUDIT_ROUNDS];
    for (int round = 0; round < AUDIT_ROUNDS; round++) {
        for (int turn = 0; turn < 2; turn++) {
            bool audited = (turn == 0) == (round % 2 == 0);
            char name[32];
            snprintf(name, sizeof name, "%s-%d", audited ? "audit" : "noaudit", round);
            if (s_audit_run(bench, name, audited ? NULL : bench->noaudit, bench->audit_messages,
                            audited ? &with[round] : &without[round]) != 0)
                return -1;
        }
    }
    bench_report("broker: CPU per msg with the audit (vs without)",
                 bench_median(with, AUDIT_ROUNDS), "us", bench_median(without, AUDIT_ROUNDS));
    return 0;
}

/* ---- Phase 2b: what publishing costs the publisher ----------------------------------------------
 */

/* One message as fusion-agent publishes it, without the network send: PREPARE to the broker
 * (the client verifies every recipient certificate the broker returns), seal the 1 KiB section
 * to every allowed recipient, sign the header, encode the PUBLISH frame. 0, or -1. */
static int s_publish_prepare_seal(bench_t *bench, fx_client_t *client, const char *const *ids,
                                  size_t n)
{
    Fusion__Category categories[] = {FUSION__CATEGORY__CATEGORY_OPERATIONAL};
    Fusion__SectionDescriptor descriptor = FUSION__SECTION_DESCRIPTOR__INIT;
    descriptor.id = 1;
    descriptor.tlp = FUSION__TLP__TLP_AMBER;
    descriptor.n_categories = 1;
    descriptor.categories = categories;
    Fusion__SectionDescriptor *descriptors[] = {&descriptor};
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.urgency = FUSION__URGENCY__URGENCY_NORMAL;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.purpose = FUSION__PURPOSE__PURPOSE_INVESTIGATION;
    draft.n_sections = 1;
    draft.sections = descriptors;
    fx_prepared_t *prepared = NULL;
    fx_envelope_t *env = NULL;
    fx_answer_t answer;
    fx_err_t rc = fx_client_prepare(client, &draft, ids, n, bench->region.authority_key, NULL,
                                    fx_now_ms(), (int) (STALL_SECONDS * 1000), &prepared, &answer);
    size_t allowed = rc == FX_OK ? fx_prepared_allowed_count(prepared, 0) : 0;
    if (rc != FX_OK || allowed != n) {
        fprintf(stderr, "bench_broker: PREPARE for %zu recipients: %s, %zu allowed %s %s\n", n,
                fx_strerror(rc), allowed, answer.code, answer.reason);
        fx_prepared_destroy(&prepared);
        return -1;
    }
    fx_recipient_t *recipients = fx_calloc(allowed, sizeof *recipients);
    for (size_t j = 0; j < allowed; j++) {
        const fx_cert_t *cert = fx_prepared_allowed(prepared, 0, j);
        recipients[j] = (fx_recipient_t){fx_cert_id(cert), fx_cert_box_key(cert)};
    }
    fx_section_draft_t section = {.id = 1,
                                  .tlp = FX_TLP_AMBER,
                                  .categories = 1u << FX_CATEGORY_OPERATIONAL,
                                  .plaintext = bench->content,
                                  .plaintext_len = bench->content_len,
                                  .recipients = recipients,
                                  .n_recipients = allowed};
    rc = fx_envelope_seal(bench->publishers[0], &draft, &section, 1, &env);
    if (rc == FX_OK) {
        Fusion__Frame frame = FUSION__FRAME__INIT;
        Fusion__Publish publish = FUSION__PUBLISH__INIT;
        publish.envelope = (Fusion__Envelope *) fx_envelope_message(env);
        frame.request_id = bench->next_request_id++;
        frame.body_case = FUSION__FRAME__BODY_PUBLISH;
        frame.publish = &publish;
        uint8_t *bytes = NULL;
        size_t len = 0;
        fx_codec_encode(&frame, &bytes, &len);
        free(bytes);
    } else {
        fprintf(stderr, "bench_broker: cannot seal for %zu recipients: %s\n", n, fx_strerror(rc));
    }
    fx_envelope_destroy(&env);
    free(recipients);
    fx_prepared_destroy(&prepared);
    return rc == FX_OK ? 0 : -1;
}

/* The publisher's CPU (this process: the calling thread and ZeroMQ's, which decrypts the
 * PREPARED answer) per message for 1, 10 and 100 recipients among the enrolled agents, each
 * repeated for at least a second; against one signature, and per added recipient against what
 * each one needs at least: one section key sealed (its certificate, the same in every PREPARED,
 * was verified at the first and is remembered, lib/cert.c). */
static int s_phase_publisher(bench_t *bench, const char *endpoint)
{
    static const size_t counts[] = {1, 10, 100};
    size_t n_counts = sizeof counts / sizeof counts[0];
    double cpu_us[sizeof counts / sizeof counts[0]] = {0};
    const char **ids = fx_calloc(bench->n_agents + 1, sizeof *ids);
    for (size_t a = 0; a < bench->n_agents; a++)
        ids[a] = fx_keys_id(bench->agents[a]);
    fx_client_t *client = NULL;
    int rc =
        fx_client_new(endpoint, bench->publishers[0], bench->region.broker_cert, &client) == FX_OK
            ? 0
            : -1;
    /* The first PREPARE waits for the connection and its CURVE handshake: not counted. */
    if (rc == 0)
        rc = s_publish_prepare_seal(bench, client, ids, 1);
    size_t done = 0;
    for (; done < n_counts && rc == 0 && counts[done] <= bench->n_agents; done++) {
        size_t reps = 0;
        double cpu = 0, until = bench_now() + 1.0;
        while (rc == 0 && (reps < 5 || bench_now() < until)) {
            double before = s_self_cpu_us();
            rc = s_publish_prepare_seal(bench, client, ids, counts[done]);
            cpu += s_self_cpu_us() - before;
            reps++;
        }
        cpu_us[done] = cpu / (double) reps;
    }
    fx_client_destroy(&client);
    free(ids);
    if (rc != 0)
        return -1;
    if (done < n_counts)
        s_progress("publisher: only %zu agents enrolled (BENCH_AGENTS): no figure for %zu "
                   "recipients",
                   bench->n_agents, counts[done]);
    for (size_t i = 0; i < done; i++) {
        char name[128];
        snprintf(name, sizeof name, "publisher: CPU to prepare+seal+sign 1 KiB, %zu recipient%s",
                 counts[i], counts[i] == 1 ? "" : "s");
        bench_report(name, cpu_us[i], "us", bench->sign_us);
    }
    if (done == n_counts)
        bench_report("publisher: CPU per added recipient (1 to 100)",
                     (cpu_us[done - 1] - cpu_us[0]) / (double) (counts[done - 1] - counts[0]), "us",
                     bench->box_seal_us);
    return 0;
}

/* ---- Phase 2: memory at scale ------------------------------------------------------------- */

/* Route pattern number k: origin and destination over 32 countries in four shapes, so the
 * patterns of one agent (consecutive k) never repeat. */
static void s_pattern(size_t k, char *out, size_t size)
{
    const char *origin = s_countries[k % COUNTRY_COUNT];
    const char *destination = s_countries[(k / COUNTRY_COUNT) % COUNTRY_COUNT];
    switch ((k / (COUNTRY_COUNT * COUNTRY_COUNT)) % 4) {
    case 0:
        snprintf(out, size, "%s>**>%s", origin, destination);
        break;
    case 1:
        snprintf(out, size, "%s>*>%s", origin, destination);
        break;
    case 2:
        snprintf(out, size, "%s:AP1>**>%s", origin, destination);
        break;
    default:
        snprintf(out, size, "**>%s>**>%s", origin, destination);
        break;
    }
}

/* Connects every agent, AGENT_WAVE at a time: each grants a window of 0 (its messages stay
 * stored) and sends its share of the subscriptions, or, with none, a ping, so every agent is a
 * session of the broker. Returns once every answer is in. */
static int s_agents_connect(bench_t *bench, const char *endpoint, zsock_t **socks)
{
    size_t n = bench->n_agents, per = bench->subscriptions / n, extra = bench->subscriptions % n;
    zmq_pollitem_t items[AGENT_WAVE];
    for (size_t wave = 0; wave < n; wave += AGENT_WAVE) {
        size_t end = wave + AGENT_WAVE < n ? wave + AGENT_WAVE : n, waiting = 0;
        for (size_t a = wave; a < end; a++) {
            socks[a] = s_connect(endpoint, bench->agents[a], bench->region.broker_cert);
            if (!socks[a] || s_send_credit(bench, socks[a], 0) != 0)
                return -1;
            size_t subs = per + (a < extra), first = a * per + (a < extra ? a : extra);
            for (size_t j = 0; j < subs; j++) {
                char pattern[64];
                s_pattern(first + j, pattern, sizeof pattern);
                if (s_send_subscribe(bench, socks[a], pattern) != 0)
                    return -1;
            }
            if (subs == 0 && s_send_ping(bench, socks[a]) != 0)
                return -1;
            waiting += subs ? subs : 1;
            items[a - wave] = (zmq_pollitem_t){zsock_resolve(socks[a]), 0, ZMQ_POLLIN, 0};
        }
        double last_progress = bench_now();
        while (waiting > 0) {
            if (zmq_poll(items, (int) (end - wave), 100) < 0 && errno != EINTR)
                return -1;
            for (size_t a = wave; a < end; a++) {
                Fusion__Frame *frame;
                int got;
                while ((got = s_recv(socks[a], &frame)) == 1) {
                    int ok = frame->body_case == FUSION__FRAME__BODY_SUBSCRIBED ||
                             (frame->body_case == FUSION__FRAME__BODY_ERROR &&
                              strcmp(frame->error->code, fx_err_code(FX_ERR_NOT_FOUND)) == 0);
                    if (!ok && frame->body_case == FUSION__FRAME__BODY_ERROR)
                        fprintf(stderr, "bench_broker: %s: %s: %s\n", fx_keys_id(bench->agents[a]),
                                frame->error->code, frame->error->reason);
                    fx_codec_free(frame);
                    if (!ok)
                        return -1;
                    waiting--;
                    last_progress = bench_now();
                }
                if (got < 0)
                    return -1;
            }
            if (zsys_interrupted || bench_now() - last_progress > STALL_SECONDS) {
                fprintf(stderr, "bench_broker: %zu answers missing for agents %zu to %zu\n",
                        waiting, wave, end - 1);
                return -1;
            }
        }
        if ((end % 500 == 0 || end == n) && end > 0)
            s_progress("%zu of %zu agents connected and subscribed", end, n);
    }
    return 0;
}

/* Seals count messages of batch (its senders, recipients and content set by the caller) and
 * publishes them from the publishers, PUBLISH_WINDOW in flight each; the broker's CPU over the
 * run in *cpu_us_p, the run in *load_p. 0 when every one was accepted. */
static int s_seal_and_publish(bench_t *bench, const broker_t *broker, zsock_t **publishers,
                              batch_t *batch, size_t count, double *cpu_us_p, load_t *load_p)
{
    if (s_batch_seal(bench, batch, count, bench->cores) != 0)
        return -1;
    *load_p = (load_t){.bench = bench,
                       .publishers = publishers,
                       .n_publishers = PUBLISHERS,
                       .batch = batch,
                       .window = PUBLISH_WINDOW};
    double cpu_before = bench_proc_cpu_us(broker->pid);
    int rc = s_load_run(load_p);
    *cpu_us_p = bench_proc_cpu_us(broker->pid) - cpu_before;
    s_batch_free(batch);
    if (rc == 0 && load_p->accepted == count)
        return 0;
    fprintf(stderr, "bench_broker: %zu of %zu messages accepted\n", load_p->accepted, count);
    return -1;
}

/* Publishes bench->stored messages to the agents (window 0: they stay stored), STORE_CHUNK at a
 * time, sealed just before each chunk (created_at must stay within the replay window). The
 * broker CPU per message over all of them goes to *cpu_us_p, over the last chunk to *last_us_p. */
static int s_store_messages(bench_t *bench, const broker_t *broker, zsock_t **publishers,
                            double *cpu_us_p, double *last_us_p)
{
    batch_t batch = {.senders = bench->publishers,
                     .n_senders = PUBLISHERS,
                     .recipients = bench->n_agents ? bench->agents : &bench->consumer,
                     .n_recipients = bench->n_agents ? bench->n_agents : 1,
                     .content = bench->content,
                     .content_len = bench->content_len};
    double publishing = 0, cpu_us = 0;
    for (size_t done = 0; done < bench->stored;) {
        size_t count = bench->stored - done < STORE_CHUNK ? bench->stored - done : STORE_CHUNK;
        batch.first_recipient = done;
        load_t load;
        double chunk_us = 0;
        if (s_seal_and_publish(bench, broker, publishers, &batch, count, &chunk_us, &load) != 0)
            return -1;
        cpu_us += chunk_us;
        publishing += load.last_answer - load.started;
        done += count;
        *last_us_p = chunk_us / (double) count;
        s_progress("%zu of %zu messages stored: this chunk %.0f accepted/s, broker CPU %.0f us per "
                   "message; broker RSS %.1f MiB",
                   done, bench->stored, (double) count / (load.last_answer - load.started),
                   *last_us_p, bench_proc_status_mib(broker->pid, "VmRSS:"));
    }
    *cpu_us_p = cpu_us / (double) bench->stored;
    return 0;
}

/* The broker's CPU per message to BROADCAST_RECIPIENTS of the agents (a route alert to every
 * liaison officer on a route: one row, audit entry and delivery note per recipient), stored
 * for them (their window is 0), against a message to one of them (last_us, the stored phase's
 * last chunk). */
static int s_measure_broadcast(bench_t *bench, const broker_t *broker, zsock_t **publishers,
                               double last_us)
{
    batch_t batch = {.senders = bench->publishers,
                     .n_senders = PUBLISHERS,
                     .recipients = bench->agents,
                     .n_recipients = bench->n_agents,
                     .per_message = BROADCAST_RECIPIENTS,
                     .content = bench->content,
                     .content_len = bench->content_len};
    s_progress("broadcast: %d messages, each to %d of the agents", BROADCAST_MESSAGES,
               BROADCAST_RECIPIENTS);
    load_t load;
    double total_us = 0;
    if (s_seal_and_publish(bench, broker, publishers, &batch, BROADCAST_MESSAGES, &total_us,
                           &load) != 0)
        return -1;
    double cpu_us = total_us / BROADCAST_MESSAGES;
    char name[128];
    snprintf(name, sizeof name, "broker: CPU per 1 KiB msg to %d agents (stored)",
             BROADCAST_RECIPIENTS);
    bench_report(name, cpu_us, "us", last_us);
    bench_report("broker: CPU per added recipient (stored)",
                 (cpu_us - last_us) / (BROADCAST_RECIPIENTS - 1), "us", 0);
    return 0;
}

static int s_phase_memory(bench_t *bench)
{
    region_t *region = &bench->region;
    size_t n = bench->n_agents;
    char **ids = fx_calloc(n + 1, sizeof *ids);
    zsock_t **agents = fx_calloc(n + 1, sizeof *agents), *publishers[PUBLISHERS] = {NULL};
    broker_t broker = {0};
    int rc = -1;
    double started = bench_now(), last_us = 0;
    for (size_t a = 0; a < n; a++) {
        ids[a] = fx_malloc(FX_ID_MAX);
        snprintf(ids[a], FX_ID_MAX, "%s.LO.a%zu", s_countries[a % COUNTRY_COUNT], a);
    }
    if (n > 0) {
        s_progress("enrolling %zu agents with fusion-agent keygen and fusion-admin enroll", n);
        if (s_enrol(region, ids, n, "liaison_officer,police") != 0)
            goto cleanup;
        bench->agents = fx_calloc(n, sizeof *bench->agents);
        for (size_t a = 0; a < n; a++)
            if (!(bench->agents[a] = s_keys_load(region, ids[a])))
                goto cleanup;
        s_progress("%zu agents enrolled in %.1f s", n, bench_now() - started);
    }
    if (s_broker_start(region, "memory", &broker) != 0)
        goto cleanup;
    double idle = bench_proc_status_mib(broker.pid, "VmRSS:");
    s_progress("broker (pid %d) listening on %s, RSS %.1f MiB", (int) broker.pid, broker.endpoint,
               idle);
    bench_report("memory: broker RSS, idle", idle, "MiB", 0);

    double cpu_before = bench_proc_cpu_us(broker.pid);
    started = bench_now();
    if (n > 0 && s_agents_connect(bench, broker.endpoint, agents) != 0)
        goto cleanup;
    double cpu_after = bench_proc_cpu_us(broker.pid);
    double with_agents = bench_proc_status_mib(broker.pid, "VmRSS:");
    if (n > 0)
        s_progress("%zu agents, %zu subscriptions in %.1f s; broker CPU %.0f us per agent "
                   "(CURVE handshake, ZAP, session, subscriptions)",
                   n, bench->subscriptions, bench_now() - started,
                   (cpu_after - cpu_before) / (double) n);
    char name[160];
    snprintf(name, sizeof name, "memory: broker RSS, %zu agents, %zu subs", n,
             bench->subscriptions);
    bench_report(name, with_agents, "MiB", MEMORY_BUDGET_MIB);
    if (n > 0 && bench->idle_seconds > 0) {
        /* What the connections cost when nothing is sent: the heartbeats, both ways. */
        s_progress("idle: %zu agents connected for %.0f s (BENCH_IDLE_SECONDS)", n,
                   bench->idle_seconds);
        double cpu_idle = bench_proc_cpu_us(broker.pid), idle_started = bench_now();
        zclock_sleep((int) (bench->idle_seconds * 1000));
        double ms_per_s =
            (bench_proc_cpu_us(broker.pid) - cpu_idle) / 1000.0 / (bench_now() - idle_started);
        snprintf(name, sizeof name, "broker: CPU while idle, %zu agents connected", n);
        bench_report(name, ms_per_s, "ms/s", 1000.0); /* ratio: the share of one core */
    }

    if (bench->stored > 0) {
        if (s_connect_traffic(bench, broker.endpoint, publishers, NULL) != 0)
            goto cleanup;
        double cpu_us = 0;
        if (s_store_messages(bench, &broker, publishers, &cpu_us, &last_us) != 0)
            goto cleanup;
        bench_report("broker: CPU per 1 KiB msg accepted+committed (stored)", cpu_us, "us",
                     bench->verify_us);
        size_t last = bench->stored % STORE_CHUNK ? bench->stored % STORE_CHUNK : STORE_CHUNK;
        snprintf(name, sizeof name, "broker: CPU per stored msg, last %zu of %zu", last,
                 bench->stored);
        bench_report(name, last_us, "us", bench->verify_us);
    }
    snprintf(name, sizeof name, "memory: RSS, %zu agents, %zu subs, %zu stored", n,
             bench->subscriptions, bench->stored);
    bench_report(name, bench_proc_status_mib(broker.pid, "VmRSS:"), "MiB", MEMORY_BUDGET_MIB);
    snprintf(name, sizeof name, "memory: peak RSS (VmHWM), %zu agents, %zu stored", n,
             bench->stored);
    bench_report(name, bench_proc_status_mib(broker.pid, "VmHWM:"), "MiB", MEMORY_BUDGET_MIB);
    if (n >= BROADCAST_RECIPIENTS && bench->stored > 0 &&
        s_measure_broadcast(bench, &broker, publishers, last_us) != 0)
        goto cleanup;
    if (n > 0) {
        s_progress("publisher: PREPARE, seal and sign for 1, 10 and 100 of the agents");
        if (s_phase_publisher(bench, broker.endpoint) != 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    for (size_t p = 0; p < PUBLISHERS; p++)
        zsock_destroy(&publishers[p]);
    for (size_t a = 0; a < n; a++) {
        zsock_destroy(&agents[a]);
        free(ids[a]);
    }
    free(agents);
    free(ids);
    if (s_broker_stop(&broker) != 0)
        rc = -1;
    return rc;
}

/* ---- Set-up and main ------------------------------------------------------------------------ */

/* Room for the agents' connections here and in the broker (which inherits the limit). */
static void s_raise_fd_limit(size_t agents)
{
    struct rlimit limit;
    rlim_t wanted = (rlim_t) (4 * agents + 256);
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted)
        return;
    limit.rlim_cur =
        limit.rlim_max == RLIM_INFINITY || limit.rlim_max > wanted ? wanted : limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < wanted)
        fprintf(stderr, "bench_broker: only %llu file descriptors for %zu agents\n",
                (unsigned long long) limit.rlim_cur, agents);
}

/* Enrols the broker, the publishers and the consumer, and loads their keys. */
static int s_principals(bench_t *bench)
{
    region_t *region = &bench->region;
    char *broker_id[] = {BROKER_ID}, *people[PUBLISHERS + 1];
    char names[PUBLISHERS][FX_ID_MAX];
    for (size_t p = 0; p < PUBLISHERS; p++) {
        snprintf(names[p], sizeof names[p], "THA.RTP.pub%zu", p + 1);
        people[p] = names[p];
    }
    people[PUBLISHERS] = CONSUMER_ID;
    if (s_enrol(region, broker_id, 1, "auditor") != 0 ||
        s_enrol(region, people, PUBLISHERS + 1, "focal_point,police") != 0)
        return -1;
    for (size_t p = 0; p < PUBLISHERS; p++)
        if (!(bench->publishers[p] = s_keys_load(region, names[p])))
            return -1;
    if (!(bench->consumer = s_keys_load(region, CONSUMER_ID)))
        return -1;
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/region/directory/" BROKER_ID ".cert", region->dir);
    if (fx_broker_cert_load(path, region->authority_key, fx_now_ms(), &region->broker_cert) !=
        FX_OK) {
        fprintf(stderr, "bench_broker: cannot load the broker certificate %s\n", path);
        return -1;
    }
    return 0;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

int main(void)
{
    fx_init();
    bench_t bench = {.next_request_id = 1};
    bench.region.bin = getenv("FUSION_BIN");
    if (!bench.region.bin) {
        fprintf(stderr, "bench_broker: FUSION_BIN must name the directory of the binaries\n");
        return 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench.cores = cores > 0 ? (int) cores : 1;
    bench.messages = s_env_size("BENCH_MESSAGES", 20000);
    bench.latency_seconds = (double) s_env_size("BENCH_LATENCY_SECONDS", 3);
    bench.latency_file = getenv("BENCH_LATENCY_FILE");
    bench.n_agents = s_env_size("BENCH_AGENTS", 1000);
    bench.subscriptions = s_env_size("BENCH_SUBSCRIPTIONS", 10000);
    bench.stored = s_env_size("BENCH_STORED", 100000);
    bench.idle_seconds = (double) s_env_size("BENCH_IDLE_SECONDS", 10);
    bench.audit_messages = s_env_size("BENCH_AUDIT_MESSAGES", 20000);
    bench.noaudit = getenv("FUSION_BENCH_NOAUDIT");
    bench.hop_messages = s_env_size("BENCH_HOP_MESSAGES", 100000);
    bench.hop = getenv("FUSION_BENCH_HOP");
    bench.mosquitto = getenv("FUSION_BENCH_MOSQUITTO");
    if (bench.n_agents == 0)
        bench.subscriptions = 0;
    s_raise_fd_limit(bench.n_agents);
    zsys_init();
    zsys_set_max_sockets(bench.n_agents + PUBLISHERS + 64);
    s_content_make(&bench);

    int status = 1;
    s_progress("floors: Ed25519 verification on 1 and %d threads", bench.cores);
    double cpu_us_n;
    bench.verify_rate_1 = s_verify_rate(1, &bench.verify_us);
    bench.verify_rate_n = s_verify_rate(bench.cores, &cpu_us_n);
    if (bench.verify_rate_1 <= 0 || bench.verify_rate_n <= 0 || bench.verify_us <= 0) {
        fprintf(stderr, "bench_broker: the verification floor failed\n");
        goto cleanup;
    }
    bench_report("floor: Ed25519 verifications/s, 1 thread", bench.verify_rate_1, "verify/s", 0);
    char name[128];
    snprintf(name, sizeof name, "floor: Ed25519 verifications/s, %d threads", bench.cores);
    bench_report(name, bench.verify_rate_n, "verify/s", bench.verify_rate_1);
    bench_report("floor: CPU time of one Ed25519 verification", bench.verify_us, "us", 0);
    if (s_publisher_floors(&bench.sign_us, &bench.box_seal_us) != 0) {
        fprintf(stderr, "bench_broker: the signature floor failed\n");
        goto cleanup;
    }
    bench_report("floor: CPU time of one Ed25519 signature", bench.sign_us, "us", 0);
    bench_report("floor: CPU time of one sealed section key", bench.box_seal_us, "us", 0);

    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp"; /* on disk: fsync */
    snprintf(bench.region.dir, sizeof bench.region.dir, "%s/fusion-bench-broker-XXXXXX", base);
    if (!mkdtemp(bench.region.dir)) {
        perror("bench_broker: mkdtemp");
        bench.region.dir[0] = '\0';
        goto cleanup;
    }
    s_progress("region in %s", bench.region.dir);
    if (s_region_create(&bench.region) != 0 || s_principals(&bench) != 0)
        goto cleanup;
    s_progress("traffic: %zu messages from %d pipelined publishers (window %d), then %.0f s at "
               "%.0f msg/s",
               bench.messages, PUBLISHERS, PUBLISH_WINDOW, bench.latency_seconds, LATENCY_RATE);
    if (bench.hop && bench.hop_messages > 0) {
        s_progress("hop: %zu messages through a bare ZeroMQ forwarder, plain then CURVE "
                   "(BENCH_HOP_MESSAGES)",
                   bench.hop_messages);
        if (s_phase_hop(&bench) != 0)
            goto cleanup;
    } else {
        s_progress("hop: skipped (FUSION_BENCH_HOP names no forwarder, or BENCH_HOP_MESSAGES=0)");
    }
    if (s_phase_traffic(&bench) != 0)
        goto cleanup;
    if (bench.messages > 0 && s_phase_mosquitto(&bench) != 0)
        goto cleanup;
    if (bench.noaudit && bench.audit_messages > 0) {
        s_progress("audit: %zu messages on the broker and on a build without audit appends, "
                   "%d times each, in pairs of alternating order (BENCH_AUDIT_MESSAGES)",
                   bench.audit_messages, AUDIT_ROUNDS);
        if (s_phase_audit(&bench) != 0)
            goto cleanup;
    }
    s_progress("memory: %zu agents, %zu subscriptions, %zu stored messages (BENCH_AGENTS, "
               "BENCH_SUBSCRIPTIONS, BENCH_STORED)",
               bench.n_agents, bench.subscriptions, bench.stored);
    if (s_phase_memory(&bench) != 0)
        goto cleanup;
    status = 0;
cleanup:
    for (size_t a = 0; bench.agents && a < bench.n_agents; a++)
        fx_keys_destroy(&bench.agents[a]);
    free(bench.agents);
    for (size_t p = 0; p < PUBLISHERS; p++)
        fx_keys_destroy(&bench.publishers[p]);
    fx_keys_destroy(&bench.consumer);
    fx_cert_destroy(&bench.region.broker_cert);
    free(bench.content);
    if (bench.region.dir[0] && status == 0)
        nftw(bench.region.dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    else if (bench.region.dir[0])
        fprintf(stderr, "bench_broker: kept %s for inspection\n", bench.region.dir);
    return status;
}
