/* The sd_notify protocol: one datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace). */
#include "fusion/notify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int fx_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path)
        return -1;
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &addr, addr_len);
    close(fd);
    return sent == (ssize_t) strlen(state) ? 1 : -1;
}

int fx_notify_status(const char *fmt, ...)
{
    char text[512] = "STATUS=";
    va_list args;
    va_start(args, fmt);
    vsnprintf(text + 7, sizeof text - 7, fmt, args);
    va_end(args);
    return fx_notify(text);
}

int fx_notify_reloading(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char text[96];
    snprintf(text, sizeof text, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long) now.tv_sec * 1000000ULL +
                 (unsigned long long) now.tv_nsec / 1000ULL);
    return fx_notify(text);
}
