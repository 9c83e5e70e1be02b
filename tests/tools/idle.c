/* idle: many raw TCP connections to the broker that never complete a handshake, for the abuse
 * tests: they send nothing (or a few bytes of garbage) and are held open. See --help. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void s_help(void)
{
    printf("Usage: idle --endpoint tcp://127.0.0.1:PORT --count N [--garbage] [--hold S]\n"
           "            [--ready FILE]\n\n"
           "Opens N TCP connections to the endpoint (raising its own open-file limit as far as\n"
           "it may), sends nothing on them (with --garbage: 64 bytes that are not ZMTP), writes\n"
           "'open <n>' to --ready FILE once all are connected, and holds them for S seconds\n"
           "(default 30) or until every one was closed by the broker. Prints\n"
           "'open <n>, closed by the broker <c>' on exit.\n"
           "Exit: 0 ok, 1 not every connection could be opened, 2 usage.\n");
}

static long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *ready = NULL;
    long count = 0, hold = 30;
    int garbage = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atol(argv[++i]);
        else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
            hold = atol(argv[++i]);
        else if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc)
            ready = argv[++i];
        else if (strcmp(argv[i], "--garbage") == 0)
            garbage = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            s_help();
            return 0;
        } else {
            s_help();
            return 2;
        }
    }
    char host[64];
    unsigned port = 0;
    if (!endpoint || sscanf(endpoint, "tcp://%63[0-9.]:%u", host, &port) != 2 || port == 0 ||
        port > 65535 || count <= 0 || count > 100000 || hold <= 0) {
        fprintf(stderr, "idle: give --endpoint tcp://IPV4:PORT and --count N (see --help)\n");
        return 2;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (rlim_t) count + 64) {
        limit.rlim_cur =
            limit.rlim_max < (rlim_t) count + 64 ? limit.rlim_max : (rlim_t) count + 64;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "idle: bad address %s\n", host);
        return 2;
    }
    struct pollfd *fds = calloc((size_t) count, sizeof *fds);
    long open_n = 0;
    static const char junk[64] = "GET / HTTP/1.0\r\n\r\n this is not a ZMTP greeting at all";
    for (long i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            fprintf(stderr, "idle: socket %ld: %s\n", i, strerror(errno));
            break;
        }
        if (connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
            fprintf(stderr, "idle: connect %ld: %s\n", i, strerror(errno));
            close(fd);
            break;
        }
        if (garbage && write(fd, junk, sizeof junk) < 0) {
            close(fd);
            break;
        }
        fds[open_n].fd = fd;
        fds[open_n].events = POLLIN;
        open_n++;
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f) {
            fprintf(f, "open %ld\n", open_n);
            fclose(f);
        }
    }
    long closed = 0, end = s_now_ms() + hold * 1000;
    char buf[512];
    while (closed < open_n && s_now_ms() < end) {
        if (poll(fds, (nfds_t) open_n, 200) <= 0)
            continue;
        for (long i = 0; i < open_n; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(fds[i].fd, buf, sizeof buf); /* a greeting, or the end */
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                closed++;
            }
        }
    }
    for (long i = 0; i < open_n; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    free(fds);
    printf("open %ld, closed by the broker %ld\n", open_n, closed);
    return open_n == count ? 0 : 1;
}
