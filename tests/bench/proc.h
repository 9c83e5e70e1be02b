/* The processes a bench starts and measures: their CPU time and memory as /proc reports them,
 * and starting them. Shared by bench_broker and the peer programs it drives. */
#ifndef FUSION_BENCH_PROC_H
#define FUSION_BENCH_PROC_H

#include <sys/types.h>

/* CPU time (user + system, all threads) the process has used, in microseconds, as the kernel
 * accounts it for /proc/PID/stat but to the nanosecond; -1 on error. */
double bench_proc_cpu_us(pid_t pid);

/* A "kB" field of /proc/PID/status (VmRSS:, VmHWM:) in MiB; -1 on error. */
double bench_proc_status_mib(pid_t pid, const char *field);

/* Starts argv[0] with argv and stdin from /dev/null; with log_path, stdout and stderr are
 * appended to it, otherwise they are this process's. The child's pid, or -1 (with a message). */
pid_t bench_proc_spawn(char *const argv[], const char *log_path);

/* Waits up to seconds for the child to exit: its exit status (0 to 255), or -1 when it was
 * killed by a signal, could not be waited for, or was still running (then it is killed with
 * SIGKILL and reaped). */
int bench_proc_wait(pid_t pid, double seconds);

#endif
