/* fusion-broker: the Fusion broker daemon. main() reads the configuration, starts zauth (so
 * CURVE fails closed from the first connection), starts the broker actor, turns SIGHUP into a
 * reload and SIGTERM into a clean stop, and tears down in reverse order. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "fusion/cli.h"
#include "fusion/err.h"
#include "fusion/notify.h"
#include "fusion/util.h"
#include "server.h"

#define PROG "fusion-broker"

/* Set by the SIGHUP handler; the main loop does the work. */
static volatile sig_atomic_t s_reload_requested;

static void s_on_sighup(int sig)
{
    (void) sig;
    s_reload_requested = 1;
}

static void s_help(void)
{
    printf("fusion-broker: the Fusion broker daemon.\n\n"
           "Usage: fusion-broker --config FILE [--check]\n\n"
           "  --config FILE  broker configuration (YAML; see docs/broker.md)\n"
           "  --check        validate the configuration, the signed policy, the directory and\n"
           "                 an existing database (read only), then exit; nothing is written\n"
           "  --help         this text\n"
           "  --version      the version\n\n"
           "Signals: SIGHUP reloads the signed policy and the directory (each installed on\n"
           "its own; an invalid one is refused and the one in force stays); SIGTERM stops\n"
           "accepting, finishes the commit in flight and exits 0.\n");
    fx_cli_print_exit_codes();
    printf("     (for the broker: its endpoint or metrics address is held by another "
           "process)\n");
}

/* Allocations of 16 KiB and more get a mapping of their own, returned to the kernel when freed,
 * instead of a place in a thread's heap. In the broker these are libzmq's, per connection: the
 * chunks of its two message pipes (256 messages of 64 bytes each, 16,400 bytes) and its receive
 * buffer (8 KiB of data and the counters of the messages in it, about 17 KiB), of which an idle
 * connection touches a page or two: 3.2 MiB less with 1,000 agents connected than in a heap
 * (docs/performance.md, Memory). At most MMAP_MAX blocks are mapped at once (about three per
 * connection), the rest go to the heap as before: the kernel allows a process 65,530 mappings,
 * and SQLite and the libraries need some. Set before any thread starts; setting the threshold
 * also stops glibc from raising it on its own. */
#define MMAP_THRESHOLD (16 * 1024)
#define MMAP_MAX       32768

static void s_malloc_tune(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallopt(M_MMAP_MAX, MMAP_MAX);
#endif
}

/* libzmq's context option ZMQ_ZERO_COPY_RECV: declared by zmq.h only for builds with the draft
 * API, and honoured by the library all the same (Debian 12's 4.3.4). */
#ifndef ZMQ_ZERO_COPY_RECV
#define ZMQ_ZERO_COPY_RECV 10
#endif

/* Every frame received is copied out of its connection's receive buffer instead of pointing
 * into it. By default libzmq hands the buffer to the frames in it and takes a new one for the
 * next read, so every connection, even one that only sends a heartbeat every few seconds,
 * replaced its 17 KiB buffer again and again, and the heap that served the new ones grew with
 * the time the broker ran: from 57.1 to 65.5 MiB over 100,000 messages stored with 1,000
 * agents connected, where with copies it goes from 53.4 to 55.5 MiB (docs/performance.md,
 * Memory). Copying a 1 KiB frame costs less than the buffer it saves. Set before the first
 * socket, which reads it from the context; a libzmq without the option keeps its default. */
static void s_zmq_tune(void)
{
    (void) zmq_ctx_set(zsys_init(), ZMQ_ZERO_COPY_RECV, 0);
}

/* The broker's whole run, from the arguments to the teardown; returns the exit code. */
static int s_run(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"check", no_argument, NULL, 'k'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int check = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'h':
            s_help();
            return FX_EXIT_OK;
        case 'V':
            printf("fusion-broker %s\n", FX_VERSION);
            return FX_EXIT_OK;
        default:
            fx_cli_error(PROG, "try 'fusion-broker --help'");
            return FX_EXIT_USAGE;
        }
    }
    if (!config_path || optind != argc) {
        fx_cli_error(PROG, "usage: fusion-broker --config FILE [--check]");
        return FX_EXIT_USAGE;
    }
    broker_config_t config;
    fx_diag_t *diag = fx_diag_new(config_path);
    if (broker_config_load(config_path, &config, diag) != 0 ||
        broker_config_check_paths(&config, diag) != 0) {
        fx_diag_print(diag, stderr, PROG ": ");
        fx_diag_destroy(&diag);
        broker_config_free(&config);
        return FX_EXIT_USAGE;
    }
    fx_diag_destroy(&diag);
    config.check_only = check;

    s_zmq_tune();
    zsys_set_logstream(stderr);
    zactor_t *auth = NULL;
    if (!check) {
        /* --check creates nothing: no state_dir, no CURVE directory, no zauth to serve it. */
        char curve_dir[4096];
        snprintf(curve_dir, sizeof curve_dir, "%s/%s", config.state_dir, BROKER_CURVE_DIR);
        if (fx_mkdir_p(curve_dir) != 0) {
            fx_cli_error(PROG, "cannot create %s: %s", curve_dir, strerror(errno));
            broker_config_free(&config);
            return FX_EXIT_SYSTEM;
        }
        /* zauth first, alive for the life of the process: with the ZAP domain enforced, a
         * client is admitted only if zauth finds its CURVE key among the directory's valid
         * principals. */
        auth = zactor_new(zauth, NULL);
        zstr_sendx(auth, "CURVE", curve_dir, NULL);
        zsock_wait(auth);
    }

    int status = FX_EXIT_OK;
    zactor_t *server = zactor_new(broker_server_actor, &config);
    int started = zsock_wait(server);
    if (started != 0) {
        status = started; /* the exit code; the reason is in the log */
    } else if (check && config.check_skipped == 0) {
        printf("%s: configuration, signed policy and directory are valid\n", config_path);
    } else if (check) {
        /* As at start: skipping a certificate only refuses its principal (fx_directory_load). */
        printf("%s: configuration and signed policy are valid; the directory is loaded without "
               "%zu certificate(s) that do not verify (named above): their principals are "
               "refused until the files are replaced\n",
               config_path, config.check_skipped);
    } else {
        struct sigaction sa = {.sa_handler = s_on_sighup};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
        zstr_send(server, "ENDPOINT");
        char *endpoint = zstr_recv(server);
        /* systemd (Type=notify) learns here that clients can connect. */
        fx_notify("READY=1");
        fx_notify_status("serving on %s", endpoint ? endpoint : "?");
        zpoller_t *poller = zpoller_new(server, NULL);
        while (!zsys_interrupted) {
            zpoller_wait(poller, 200); /* wakes on a signal or every 200 ms */
            if (s_reload_requested) {
                s_reload_requested = 0;
                fx_notify_reloading();
                zstr_send(server, "RELOAD");
                zsock_wait(server);
                fx_notify("READY=1");
                fx_notify_status("serving on %s; policy and directory reloaded (see the log)",
                                 endpoint ? endpoint : "?");
            }
        }
        zpoller_destroy(&poller);
        fx_notify("STOPPING=1\nSTATUS=stopping: finishing the commit in flight");
        zstr_free(&endpoint);
    }
    zactor_destroy(&server);
    zactor_destroy(&auth);
    broker_config_free(&config);
    return status;
}

int main(int argc, char **argv)
{
    s_malloc_tune();
    fx_init();
    return fx_cli_close_stdout(PROG, s_run(argc, argv));
}
