/* notify_sink: plays systemd's side of the sd_notify protocol for tests. Binds an AF_UNIX
 * datagram socket at PATH and prints each notification received as one line (its KEY=VALUE
 * lines joined by " | "), flushed at once, until SIGTERM or --timeout seconds pass. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4 || (argc == 4 && strcmp(argv[2], "--timeout") != 0) || argc == 3) {
        fprintf(stderr, "usage: notify_sink PATH [--timeout SECONDS]\n");
        return 2;
    }
    const char *path = argv[1];
    int timeout_s = argc == 4 ? atoi(argv[3]) : 60;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "notify_sink: %s is too long for a socket path\n", path);
        return 2;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        fprintf(stderr, "notify_sink: cannot bind %s: %s\n", path, strerror(errno));
        return 4;
    }
    time_t end = time(NULL) + timeout_s;
    while (time(NULL) < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (char *c = buf; *c; c++)
            if (*c == '\n')
                *c = '|';
        printf("%s\n", buf);
        fflush(stdout);
    }
    close(fd);
    unlink(path);
    return 0;
}
