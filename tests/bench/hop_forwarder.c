/* The forwarding hop of the transport floor: a process that takes messages from producers on
 * one ROUTER and sends each to the one consumer on another ROUTER, as the broker's socket does,
 * with CURVE on both sides (or plain TCP), and nothing else: no decoding, no checks, no store.
 * bench_broker reads this process's CPU time from /proc. See docs/bench.md.
 * Usage: hop_forwarder curve|plain INFO_FILE. Both sockets bind an ephemeral loopback port; the
 * info file gets "SERVER_KEY FRONT_ENDPOINT BACK_ENDPOINT" (SERVER_KEY Z85, or - for plain).
 * The consumer announces itself with one message on the back socket and is answered "ready";
 * messages that come before are dropped. Stops on SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define ENDPOINT_BYTES 256

static volatile sig_atomic_t s_stop;

static void s_on_term(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* A ROUTER bound to an ephemeral loopback port, a CURVE server with secret_key when not NULL. */
static void *s_bind(void *ctx, const char *secret_key, char *endpoint)
{
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    int on = 1, zero = 0;
    size_t size = ENDPOINT_BYTES;
    if (!sock)
        return NULL;
    if (zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &on, sizeof on) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        (secret_key && (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
                        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, 40) != 0)) ||
        zmq_bind(sock, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0) {
        fprintf(stderr, "hop_forwarder: cannot bind: %s\n", zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Writes the info file whole (a temporary file renamed), so a reader never sees half of it. */
static int s_write_info(const char *path, const char *key, const char *front, const char *back)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *file = fopen(tmp, "w");
    if (!file || fprintf(file, "%s %s %s\n", key, front, back) < 0 || fclose(file) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "hop_forwarder: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* Moves every message waiting on front to the consumer; -1 when a socket fails. */
static int s_forward(void *front, void *back, zmq_msg_t *consumer)
{
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, front, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return errno == EAGAIN ? 0 : -1;
        }
        zmq_msg_init(&body);
        int rc = zmq_msg_recv(&body, front, 0) < 0 ? -1 : 0;
        zmq_msg_close(&id);
        if (rc == 0 && zmq_msg_size(consumer) > 0) {
            zmq_msg_t to;
            zmq_msg_init(&to);
            zmq_msg_copy(&to, consumer);
            /* ROUTER_MANDATORY: blocks at the consumer's high-water mark instead of dropping. */
            if (zmq_msg_send(&to, back, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, back, 0) < 0)
                rc = -1;
            zmq_msg_close(&to);
        }
        zmq_msg_close(&body);
        if (rc != 0)
            return -1;
    }
}

/* Takes the consumer's announcement (its routing id) from back and answers it with "ready":
 * from then on nothing sent to front is dropped for want of a consumer. */
static int s_announce(void *back, zmq_msg_t *consumer)
{
    zmq_msg_t body, to;
    if (zmq_msg_recv(consumer, back, ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? 0 : -1;
    zmq_msg_init(&body);
    int rc = zmq_msg_recv(&body, back, 0) < 0 ? -1 : 0;
    zmq_msg_close(&body);
    zmq_msg_init(&to);
    if (rc == 0 && (zmq_msg_copy(&to, consumer) != 0 || zmq_msg_send(&to, back, ZMQ_SNDMORE) < 0 ||
                    zmq_send(back, "ready", 5, 0) != 5))
        rc = -1;
    zmq_msg_close(&to);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "curve") != 0 && strcmp(argv[1], "plain") != 0)) {
        fprintf(stderr, "usage: hop_forwarder curve|plain INFO_FILE\n");
        return 2;
    }
    int curve = strcmp(argv[1], "curve") == 0;
    struct sigaction action = {.sa_handler = s_on_term};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    char public_key[41] = "-", secret_key[41];
    if (curve && zmq_curve_keypair(public_key, secret_key) != 0) {
        fprintf(stderr, "hop_forwarder: this libzmq has no CURVE\n");
        return 4;
    }
    void *ctx = zmq_ctx_new();
    char front_endpoint[ENDPOINT_BYTES], back_endpoint[ENDPOINT_BYTES];
    void *front = s_bind(ctx, curve ? secret_key : NULL, front_endpoint);
    void *back = s_bind(ctx, curve ? secret_key : NULL, back_endpoint);
    memset(secret_key, 0, sizeof secret_key);
    int status = 4;
    zmq_msg_t consumer;
    zmq_msg_init(&consumer);
    if (!front || !back || s_write_info(argv[2], public_key, front_endpoint, back_endpoint) != 0)
        goto cleanup;
    zmq_pollitem_t items[] = {{front, 0, ZMQ_POLLIN, 0}, {back, 0, ZMQ_POLLIN, 0}};
    while (!s_stop) {
        if (zmq_poll(items, 2, 100) < 0 && errno != EINTR)
            break;
        if ((items[1].revents & ZMQ_POLLIN) && s_announce(back, &consumer) != 0)
            break;
        if ((items[0].revents & ZMQ_POLLIN) && s_forward(front, back, &consumer) != 0 &&
            errno != EINTR)
            break;
    }
    status = s_stop ? 0 : 4;
    if (!s_stop)
        fprintf(stderr, "hop_forwarder: %s\n", zmq_strerror(errno));
cleanup:
    zmq_msg_close(&consumer);
    zmq_close(front);
    zmq_close(back);
    zmq_ctx_term(ctx);
    return status;
}
