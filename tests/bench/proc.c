/* CPU time and memory of a process from /proc, and child processes for the benches. */
#include "proc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

extern char **environ;

double bench_proc_cpu_us(pid_t pid)
{
    /* The kernel's CPU clock of the process is the sum that /proc/PID/stat reports as utime +
     * stime (every thread, live or gone), in nanoseconds rather than in clock ticks of 10 ms,
     * which would blur a run of a few hundred milliseconds. /proc/PID/stat where it is not
     * available. */
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0)
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    size_t len = fread(line, 1, sizeof line - 1, file);
    fclose(file);
    line[len] = '\0';
    const char *after_name = strrchr(line, ')'); /* the name may hold spaces */
    unsigned long long utime, stime;
    if (!after_name ||
        sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        return -1;
    return (double) (utime + stime) * 1e6 / (double) sysconf(_SC_CLK_TCK);
}

double bench_proc_status_mib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    double mib = -1;
    size_t field_len = strlen(field);
    while (fgets(line, sizeof line, file))
        if (strncmp(line, field, field_len) == 0) {
            mib = strtod(line + field_len, NULL) / 1024.0;
            break;
        }
    fclose(file);
    return mib;
}

pid_t bench_proc_spawn(char *const argv[], const char *log_path)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (log_path) {
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path,
                                         O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    fflush(stdout); /* the child may write to the same terminal */
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        fprintf(stderr, "bench: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    return pid;
}

int bench_proc_wait(pid_t pid, double seconds)
{
    double until = bench_now() + seconds;
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && bench_now() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (got < 0)
        return -1;
    if (got == 0) {
        fprintf(stderr, "bench: process %d still running after %.0f s; killed\n", (int) pid,
                seconds);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
