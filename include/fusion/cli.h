/* Sub-command dispatch shared by the three binaries: `prog COMMAND [ARGS]`, --help, --version. */
#ifndef FUSION_CLI_H
#define FUSION_CLI_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit code */
    const char *summary;
} fx_command_t;

/* Runs the command named by argv[1] from the NULL-terminated table, or prints help (exit 0 for
 * --help, 2 for an unknown command). `about` is printed at the top of the help text. */
int fx_cli_dispatch(const char *prog, const char *about, const fx_command_t *commands, int argc,
                    char **argv);

/* The exit codes every binary documents in --help. */
void fx_cli_print_exit_codes(void);

/* Flushes and closes standard output at the end of main and returns the exit code: `status`, or
 * FX_EXIT_SYSTEM when it was 0 and a write to standard output failed (a full disk, a closed
 * pipe), with "prog: cannot write to standard output: REASON" on stderr. A failure status is
 * kept; the message is then printed too, unless the status is FX_EXIT_SYSTEM (the command has
 * reported its own I/O failure). Every main returns through it. */
int fx_cli_close_stdout(const char *prog, int status);

/* Prints "prog: message" to stderr, printf-style. */
void fx_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Why the file at path cannot be read, for a message (after a read failed with FX_ERR_IO, which
 * says no more, or before a read whose own errors would not say it): "is a directory", "no such
 * file" or the system's reason (e.g. "Permission denied"); NULL when it can be read. *exit_p
 * receives the exit code: 2 for a directory or no file where a file was named (bad input), 4 for
 * the rest (a system error). */
const char *fx_cli_read_problem(const char *path, int *exit_p);

#endif
