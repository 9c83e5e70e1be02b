/* Readiness notification to a service manager (systemd's sd_notify protocol, Type=notify):
 * one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. Written
 * here rather than linking libsystemd, since the protocol is one sendmsg. */
#ifndef FUSION_NOTIFY_H
#define FUSION_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=serving") to the service manager. 1 when sent, 0 when no
 * service manager asked for it ($NOTIFY_SOCKET unset), -1 when it could not be sent (a
 * malformed $NOTIFY_SOCKET, or the socket refused it). */
int fx_notify(const char *state);

/* Sends "STATUS=<text>", formatted as printf does. Same return values as fx_notify. */
int fx_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends "RELOADING=1" with MONOTONIC_USEC, as systemd 253+ asks (older ones ignore the time). */
int fx_notify_reloading(void);

#endif
