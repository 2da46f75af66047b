#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int qfd_cli_exit_code(qfd_status st)
{
    return st == QFD_ERR_NOMEM || st == QFD_ERR_INTERNAL ? QFD_EXIT_INTERNAL : QFD_EXIT_BAD_INPUT;
}

int qfd_cli_fail(qfd_ctx *ctx, qfd_status st)
{
    fprintf(stderr, "qfd-onnx: error: %s%s\n", qfd_ctx_error(ctx),
            st == QFD_ERR_LIMIT ? " (see --max-memory in 'qfd-onnx --help')" : "");
    return qfd_cli_exit_code(st);
}

int qfd_cli_oom(void)
{
    fputs("qfd-onnx: error: out of memory\n", stderr);
    return QFD_EXIT_INTERNAL;
}

int qfd_cli_usage_error(const qfd_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qfd-onnx: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'qfd-onnx %s --help')\n", cmd->name);
    va_end(ap);
    return QFD_EXIT_BAD_INPUT;
}

int qfd_cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* Signal handlers can only reach a static: SIGINT/SIGTERM set it, the
 * training loop stops after the current step and checkpoints. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

volatile sig_atomic_t *qfd_cli_catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    g_stop = 0;
    return &g_stop;
}

void qfd_cli_train_bar(void *user, const qfd_train_progress *p)
{
    qfd_cli_bar *b = user;
    int64_t tenth = p->steps >= 10 ? p->steps / 10 : 1;
    if (!b->tty && !p->epoch_done && p->step - b->last_printed < tenth)
        return;
    b->last_printed = p->epoch_done ? 0 : p->step;
    int width = 24, fill = p->steps ? (int)(width * p->step / p->steps) : width;
    char bar_s[32];
    for (int i = 0; i < width; i++)
        bar_s[i] = i < fill ? '#' : '.';
    bar_s[width] = 0;
    long eta = (long)p->eta_seconds;
    /* A distilling run shows its terms, before their weights, after the
     * total: "loss 0.41 (ce 0.25 mse 0.16)". */
    char terms[128] = "", acc[32] = "";
    for (int i = 0, n = 0; i < p->n_terms && n >= 0 && (size_t)n < sizeof terms; i++)
        n += snprintf(terms + n, sizeof terms - (size_t)n, "%s%s %.4f%s", i ? " " : " (", p->term_names[i], p->terms[i],
                      i == p->n_terms - 1 ? ")" : "");
    if (p->accuracy == p->accuracy) /* NaN without labels */
        snprintf(acc, sizeof acc, " acc %.2f%%", 100 * p->accuracy);
    fprintf(stderr, "%s%s%sepoch %d/%d [%s] %" PRId64 "/%" PRId64 " loss %.4f%s%s %.0f img/s ETA %ld:%02ld%s",
            b->tty ? "\r" : "", p->phase ? p->phase : "", p->phase ? " " : "", p->epoch, p->epochs, bar_s, p->step,
            p->steps, p->loss, terms, acc, p->images_per_second, eta / 60, eta % 60,
            b->tty && !p->epoch_done ? "" : "\n");
}

FILE *qfd_cli_create(const char *path, char **tmp)
{
    size_t n = strlen(path) + 16;
    if (!(*tmp = malloc(n)))
        return NULL;
    snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        fprintf(stderr, "qfd-onnx: error: %s: cannot write: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(*tmp);
        }
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

int qfd_cli_commit(FILE *f, char *tmp, const char *path, int keep)
{
    int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int err = errno;
    bad |= fclose(f) != 0;
    if (keep && (bad || rename(tmp, path) != 0)) {
        fprintf(stderr, "qfd-onnx: error: %s: write failed: %s\n", path, strerror(bad ? err : errno));
        keep = 0;
    }
    if (!keep)
        unlink(tmp);
    free(tmp);
    return keep ? 0 : -1;
}

void qfd_cli_warn_skipped(int64_t n, const char *what)
{
    if (n > 0)
        fprintf(stderr, "qfd-onnx: warning: %" PRId64 " bad image%s left out%s (--on-bad-image skip)\n", n,
                n == 1 ? "" : "s", what);
}
