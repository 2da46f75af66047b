/* qfd-onnx: entry point and subcommand dispatch. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef QFD_VERSION
#define QFD_VERSION "unknown"
#endif

static const qfd_cli_cmd *const k_cmds[] = {&qfd_cmd_info,  &qfd_cmd_convert,  &qfd_cmd_run,  &qfd_cmd_eval,
                                            &qfd_cmd_train, &qfd_cmd_quantize, &qfd_cmd_check};
enum { N_CMDS = sizeof k_cmds / sizeof *k_cmds };

static void usage(FILE *f)
{
    fputs("usage: qfd-onnx COMMAND [ARGS...]\n"
          "\n"
          "Quantization-aware training for ONNX models on the CPU (QFD: quantized\n"
          "feature distillation). Commands:\n\n",
          f);
    for (int i = 0; i < N_CMDS; i++)
        fprintf(f, "  %-10s %s\n", k_cmds[i]->name, k_cmds[i]->summary);
    fputs("\n"
          "Run 'qfd-onnx COMMAND --help' for a command's flags. A flag's value\n"
          "follows it ('--epochs 3') or is joined with '=' ('--epochs=3'); '--'\n"
          "ends the flags. Numbers outside a flag's range are refused.\n"
          "  -h, --help         show this help\n"
          "  --version          print the version\n"
          "  --max-memory SIZE  with any command: the most memory a model's tensors, a data\n"
          "                     array or an execution plan may take (default 16G; 512M,\n"
          "                     2G, 1T or bytes; 'none' for no limit): a file needing more\n"
          "                     is refused with exit 2\n"
          "\n"
          "Exit status: 0 on success, 2 on bad input (model, data file or flag),\n"
          "1 on an internal failure; check exits 1 when a rule fails and 3 on an\n"
          "internal failure (see 'qfd-onnx check --help').\n",
          f);
}

/* libgomp reads its wait policy when it is loaded, before main. Its
 * default (spin ~300k iterations at every barrier) collapses when another
 * process holds a core: ResNet-20 eval on 2 threads fell to 5 images/s while
 * a PyTorch job ran beside it. Passive waiting fixes that but costs a futex
 * wake-up per parallel region (training 349 -> 229 img/s on an idle
 * machine). A short spin keeps the idle speed and degrades gracefully under
 * load, so unless the user chose a policy, run again with it. 30000 spins
 * (~0.5 ms of PAUSEs) was still too long once kernels got fast: with one
 * other busy process on the 2 cores, 2-thread eval fell to ViT 377,
 * ResNet-20 545, MobileNetV2 164-278 img/s, against 2500, 1365, 860 with
 * 1000 spins; idle, 1000 and 30000 give the same ViT (~7300) and ResNet-20
 * (~2800) eval, MobileNetV2 within noise, ResNet-20 training no slower. */
static void set_omp_wait_policy(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    setenv("GOMP_SPINCOUNT", "1000", 1);
    execv("/proc/self/exe", argv);
    /* not re-executed (no /proc): carry on with the default policy */
}

/* "512M", "16G", "1.5T", "4096": bytes (K, M, G, T are powers of 1024, an
 * optional trailing B or iB allowed); "none" is 0, no limit. -1 if malformed
 * or zero. */
static int64_t parse_size(const char *s)
{
    if (!strcmp(s, "none"))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0))
        return -1;
    for (const char *p = s; p < end; p++) /* no sign, space, exponent or hex */
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
    double scale = 1;
    const char *units = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u && *u) {
        for (const char *p = units; p <= u; p++)
            scale *= 1024;
        end++;
        if (*end == 'i')
            end++;
    }
    if (*end == 'B' || (*end == 'b' && u))
        end++;
    if (*end || v * scale > 9.2e18 || v * scale < 1)
        return -1;
    return (int64_t)(v * scale);
}

/* Takes the global --max-memory SIZE (or --max-memory=SIZE) out of argv,
 * wherever it is before a "--", so that no subcommand's parser sees it.
 * Returns 0, or 2 after printing the error. */
static int take_global_flags(int *argc, char **argv, uint64_t *limit)
{
    for (int i = 1; i < *argc && strcmp(argv[i], "--"); i++) {
        const char *val;
        int used;
        if (!strcmp(argv[i], "--max-memory")) {
            if (i + 1 >= *argc) {
                fputs("qfd-onnx: error: --max-memory needs a size such as 512M or 16G\n", stderr);
                return QFD_EXIT_BAD_INPUT;
            }
            val = argv[i + 1];
            used = 2;
        } else if (!strncmp(argv[i], "--max-memory=", 13)) {
            val = argv[i] + 13;
            used = 1;
        } else {
            continue;
        }
        int64_t v = parse_size(val);
        if (v < 0) {
            fprintf(stderr, "qfd-onnx: error: --max-memory needs a size such as 512M or 16G, or 'none', got '%s'\n",
                    val);
            return QFD_EXIT_BAD_INPUT;
        }
        *limit = (uint64_t)v;
        memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used + 1) * sizeof *argv);
        *argc -= used;
        i--;
    }
    return 0;
}

static int dispatch(int argc, char **argv, uint64_t limit)
{
    if (argc < 2) {
        usage(stderr);
        return QFD_EXIT_BAD_INPUT;
    }
    const char *name = argv[1];
    if (qfd_cli_is_help(name) || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0)
            for (int i = 0; i < N_CMDS; i++)
                if (!strcmp(argv[2], k_cmds[i]->name)) {
                    fputs(k_cmds[i]->usage, stdout);
                    return QFD_EXIT_OK;
                }
        usage(stdout);
        return QFD_EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("qfd-onnx %s\n", QFD_VERSION);
        return QFD_EXIT_OK;
    }
    for (int i = 0; i < N_CMDS; i++) {
        if (strcmp(name, k_cmds[i]->name) != 0)
            continue;
        qfd_ctx *ctx = qfd_ctx_new();
        if (!ctx)
            return qfd_cli_oom();
        qfd_ctx_set_memory_limit(ctx, limit);
        int rc = k_cmds[i]->run(ctx, argc - 2, argv + 2);
        qfd_ctx_free(ctx);
        return rc;
    }
    fprintf(stderr, "qfd-onnx: error: unknown command '%s' (see 'qfd-onnx --help')\n", name);
    return QFD_EXIT_BAD_INPUT;
}

int main(int argc, char **argv)
{
    set_omp_wait_policy(argv);
    /* Past a file-size limit (ulimit -f) a write must fail with EFBIG, which
     * is reported with the path like a full disk, not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    uint64_t limit = QFD_DEFAULT_MEMORY_LIMIT;
    int rc = take_global_flags(&argc, argv, &limit);
    if (rc)
        return rc;
    rc = dispatch(argc, argv, limit);
    /* stdio buffers stdout, so a full disk or a closed file shows only here:
     * `info --json m.onnx > /dev/full` must not exit 0 with nothing written. */
    int err = fflush(stdout) != 0 ? errno : 0;
    if (err || ferror(stdout)) {
        fprintf(stderr, "qfd-onnx: error: cannot write to standard output: %s\n", strerror(err ? err : EIO));
        if (rc == QFD_EXIT_OK)
            rc = QFD_EXIT_BAD_INPUT;
    }
    return rc;
}
