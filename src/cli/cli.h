/* The qfd-onnx command line: one file per subcommand over the public API. */
#ifndef QFD_CLI_CLI_H
#define QFD_CLI_CLI_H

#include <stdio.h>

#include "qfd/qfd.h"

/* Exit codes: 0 success, 1 internal failure, 2 bad input (file, flag, model). */
enum { QFD_EXIT_OK = 0, QFD_EXIT_INTERNAL = 1, QFD_EXIT_BAD_INPUT = 2 };

typedef struct qfd_cli_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* full --help text */
    int (*run)(qfd_ctx *ctx, int argc, char **argv);
} qfd_cli_cmd;

extern const qfd_cli_cmd qfd_cmd_info;
extern const qfd_cli_cmd qfd_cmd_convert;
extern const qfd_cli_cmd qfd_cmd_eval;
extern const qfd_cli_cmd qfd_cmd_run;
extern const qfd_cli_cmd qfd_cmd_train;
extern const qfd_cli_cmd qfd_cmd_quantize;
extern const qfd_cli_cmd qfd_cmd_check;

/* The exit code for a failure of status st. */
int qfd_cli_exit_code(qfd_status st);
/* Prints "qfd-onnx: error: <msg>" and returns the exit code for st. */
int qfd_cli_fail(qfd_ctx *ctx, qfd_status st);
int qfd_cli_oom(void);
int qfd_cli_usage_error(const qfd_cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The warning that n bad images (n > 0) were left out by --on-bad-image
 * skip, `what` saying where ("", " of the test split"). */
void qfd_cli_warn_skipped(int64_t n, const char *what);
/* 1 when argv[i] asks for help. */
int qfd_cli_is_help(const char *arg);

/* An output file written under a temporary name: qfd_cli_create opens it
 * (NULL after printing why), qfd_cli_commit renames it into place when keep
 * is set and everything was written (0), else removes it (-1, printed). */
FILE *qfd_cli_create(const char *path, char **tmp);
int qfd_cli_commit(FILE *f, char *tmp, const char *path, int keep);

/* SIGINT/SIGTERM set the returned flag (and no longer end the process):
 * training stops after the current step and checkpoints. */
volatile sig_atomic_t *qfd_cli_catch_stop(void);

/* The per-epoch progress bar of train and quantize, on stderr: one updated
 * line on a terminal, else a line every tenth of an epoch. */
typedef struct qfd_cli_bar {
    int tty;
    int64_t last_printed;
} qfd_cli_bar;
void qfd_cli_train_bar(void *user, const qfd_train_progress *p);

#endif
