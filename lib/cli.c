/* Sub-command dispatch shared by fusion-broker, fusion-admin and fusion-agent. */
#include "fusion/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/err.h"

void fx_cli_print_exit_codes(void)
{
    printf("\nExit codes:\n"
           "  0  success\n"
           "  1  a check answered no (no match, verification found a problem)\n"
           "  2  invalid arguments or invalid input (file, query, policy)\n"
           "  3  refused for security (key file permissions, signature, trust, revocation)\n"
           "  4  system error (I/O, storage, resources)\n"
           "  5  the broker could not be reached\n");
}

static void s_help(const char *prog, const char *about, const fx_command_t *commands)
{
    printf("%s\n\nUsage: %s COMMAND [OPTIONS]\n       %s COMMAND --help\n\nCommands:\n", about,
           prog, prog);
    int width = 14; /* the summaries line up after the longest command name */
    for (const fx_command_t *c = commands; c->name; c++)
        if ((int) strlen(c->name) > width)
            width = (int) strlen(c->name);
    for (const fx_command_t *c = commands; c->name; c++)
        printf("  %-*s %s\n", width, c->name, c->summary);
    fx_cli_print_exit_codes();
}

int fx_cli_dispatch(const char *prog, const char *about, const fx_command_t *commands, int argc,
                    char **argv)
{
    if (argc < 2) {
        s_help(prog, about, commands);
        return FX_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        s_help(prog, about, commands);
        return FX_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("%s %s\n", prog, FX_VERSION);
        return FX_EXIT_OK;
    }
    for (const fx_command_t *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    fx_cli_error(prog, "unknown command '%s' (try '%s --help')", name, prog);
    return FX_EXIT_USAGE;
}

void fx_cli_error(const char *prog, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}

int fx_cli_close_stdout(const char *prog, int status)
{
    /* Output is buffered, so a write that fails (ENOSPC on a full disk) may show only here, at
     * the last flush. A standard output closed by the caller (`>&-`) with nothing written to it
     * is no error. */
    int pending = __fpending(stdout) != 0;
    int failed_before = ferror(stdout) != 0;
    errno = 0;
    int close_failed = fclose(stdout) != 0;
    int err = close_failed ? errno : 0;
    if (!failed_before && !(close_failed && (pending || err != EBADF)))
        return status;
    if (status != FX_EXIT_SYSTEM) {
        if (err)
            fx_cli_error(prog, "cannot write to standard output: %s", strerror(err));
        else
            fx_cli_error(prog, "cannot write to standard output");
    }
    return status == FX_EXIT_OK ? FX_EXIT_SYSTEM : status;
}

const char *fx_cli_read_problem(const char *path, int *exit_p)
{
    *exit_p = FX_EXIT_SYSTEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            *exit_p = FX_EXIT_USAGE;
        return errno == ENOENT ? "no such file" : strerror(errno);
    }
    struct stat st;
    char byte;
    const char *why = NULL;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        why = "is a directory";
        *exit_p = FX_EXIT_USAGE;
    } else if (read(fd, &byte, 1) < 0) {
        why = strerror(errno);
    }
    close(fd);
    return why;
}
