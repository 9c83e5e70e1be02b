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

/* Prints "prog: message" to stderr, printf-style. */
void fx_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
