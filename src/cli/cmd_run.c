/* qfd-onnx run MODEL --input FILE ...: one forward pass, outputs as .npy. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "core/proc.h"

static void print_shape(const qfd_array *a)
{
    printf("%s[", qfd_dtype_str(a->dtype));
    for (int k = 0; k < a->rank; k++)
        printf("%s%" PRId64, k ? "," : "", a->dims[k]);
    printf("]");
}

/* --repeat: what the timed runs measured. */
typedef struct run_timing {
    int runs;
    int64_t batch;
    double seconds, rss_loaded_mb, rss_peak_mb;
} run_timing;

/* --json: one object on stdout instead of the output lines. */
static int print_json(const char *path, const qfd_exec *e, const char *out_dir, const run_timing *t)
{
    size_t len = strlen(out_dir) + 32;
    char *file = malloc(len);
    if (!file)
        return qfd_cli_oom();
    printf("{\"model\":");
    qfd_json_str(stdout, path);
    printf(",\"outputs\":[");
    for (size_t i = 0; i < qfd_exec_n_outputs(e); i++) {
        const qfd_array *o = qfd_exec_output(e, i);
        printf("%s{\"name\":", i ? "," : "");
        qfd_json_str(stdout, qfd_exec_output_name(e, i));
        printf(",\"dtype\":\"%s\",\"shape\":[", qfd_dtype_str(o->dtype));
        for (int k = 0; k < o->rank; k++)
            printf("%s%" PRId64, k ? "," : "", o->dims[k]);
        snprintf(file, len, "%s/output_%zu.npy", out_dir, i);
        printf("],\"file\":");
        qfd_json_str(stdout, file);
        printf("}");
    }
    free(file);
    printf("]");
    if (t->runs) {
        double per_run = t->seconds / t->runs;
        printf(",\"runs\":%d,\"batch\":%" PRId64 ",\"ms_per_run\":%.4f,\"images_per_second\":%.3f", t->runs, t->batch,
               1e3 * per_run, per_run > 0 ? (double)t->batch / per_run : 0.0);
    }
    printf(",\"rss_loaded_mb\":%.1f,\"rss_peak_mb\":%.1f}\n", t->rss_loaded_mb, t->rss_peak_mb);
    return QFD_EXIT_OK;
}

/* DIR/output_<i>.npy for every output. All are checked before any is
 * written, so an output .npy cannot hold (bfloat16, strings) leaves no
 * partial result behind. */
static int write_outputs(qfd_ctx *ctx, const qfd_exec *e, const char *out_dir, int quiet)
{
    size_t len = strlen(out_dir) + 32, i = 0;
    char *file = malloc(len);
    if (!file)
        return qfd_cli_oom();
    qfd_status st = QFD_OK;
    for (int pass = 0; pass < 2 && !st; pass++)
        for (i = 0; i < qfd_exec_n_outputs(e); i++) {
            const qfd_array *o = qfd_exec_output(e, i);
            snprintf(file, len, "%s/output_%zu.npy", out_dir, i);
            if ((st = pass ? qfd_npy_write(ctx, file, o) : qfd_npy_check(ctx, file, o)))
                break;
            if (pass && !quiet) {
                printf("output %zu '%s': ", i, qfd_exec_output_name(e, i));
                print_shape(o);
                printf(" -> %s\n", file);
            }
        }
    free(file);
    if (!st)
        return QFD_EXIT_OK;
    fprintf(stderr, "qfd-onnx: error: output %zu '%s': %s\n", i, qfd_exec_output_name(e, i), qfd_ctx_error(ctx));
    return qfd_cli_exit_code(st);
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    const char *path, *out_dir = ".";
    qfd_cli_list in = {0};
    int n_threads = 0, no_fold = 0, repeat = 0, json = 0;
    qfd_flag flags[] = {
        QFD_FLAG_LIST("--input|-i", &in),
        QFD_FLAG_STRING("--output-dir|-o", &out_dir),
        QFD_FLAG_SWITCH("--no-fold", &no_fold),
        QFD_FLAG_INT("--threads", &n_threads, 1, 256),
        QFD_FLAG_INT("--repeat", &repeat, 1, 1000000),
        QFD_FLAG_SWITCH("--json", &json),
    };
    int rc = qfd_cli_parse(&qfd_cmd_run, flags, QFD_COUNT(flags), argc, argv, "MODEL", &path, 1);
    if (rc != QFD_CLI_GO) {
        free(in.items);
        return rc;
    }
    rc = QFD_EXIT_OK;
    const char **inputs = in.items;
    int n_inputs = in.n, fold = !no_fold;
    qfd_model *m = NULL;
    qfd_exec *e = NULL;
    qfd_array *arrays = calloc((size_t)n_inputs + 1, sizeof *arrays);
    if (!arrays) {
        free(inputs);
        return qfd_cli_oom();
    }
    int folded, fused;
    run_timing t = {0};
    qfd_status st = qfd_model_load(ctx, path, &m);
    if (!st && fold)
        st = qfd_model_fold_batchnorm(ctx, m, &folded);
    if (!st && fold)
        st = qfd_model_fuse_activations(ctx, m, &fused);
    if (!st)
        st = qfd_exec_new(ctx, m, n_threads, &e);
    if (!st && (size_t)n_inputs != qfd_exec_n_inputs(e)) {
        rc = qfd_cli_usage_error(&qfd_cmd_run, "%s takes %zu input%s, %d given with --input", path,
                                 qfd_exec_n_inputs(e), qfd_exec_n_inputs(e) == 1 ? "" : "s", n_inputs);
        goto out;
    }
    for (int i = 0; !st && i < n_inputs; i++)
        st = qfd_tensor_file_read(ctx, inputs[i], &arrays[i]);
    /* "loaded": model, executor and inputs, before the first run plans and
     * allocates what running takes */
    t.rss_loaded_mb = (double)qfd_rss_bytes() / 1048576.0;
    if (!st)
        st = qfd_exec_run(ctx, e, arrays, (size_t)n_inputs);
    if (!st && mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "qfd-onnx: error: %s: cannot create the output folder: %s\n", out_dir, strerror(errno));
        rc = QFD_EXIT_BAD_INPUT;
        goto out;
    }
    if (!st && (rc = write_outputs(ctx, e, out_dir, json)) != QFD_EXIT_OK)
        goto out;
    /* The run above was the warm-up (plan, weight packing, first touch):
     * the timed runs repeat it on the same input. */
    if (!st && repeat) {
        t.runs = repeat;
        t.batch = n_inputs && arrays[0].rank ? arrays[0].dims[0] : 1;
        double t0 = qfd_now();
        for (int r = 0; !st && r < repeat; r++)
            st = qfd_exec_run(ctx, e, arrays, (size_t)n_inputs);
        t.seconds = qfd_now() - t0;
    }
    if (!st) {
        t.rss_peak_mb = (double)qfd_peak_rss_bytes() / 1048576.0;
        if (repeat) {
            double per_run = t.seconds / t.runs;
            fprintf(stderr,
                    "timing: %d runs, %.4g ms per run, %.1f images/s (batch %" PRId64
                    "), peak RSS %.1f MB, RSS after load %.1f MB\n",
                    t.runs, 1e3 * per_run, per_run > 0 ? (double)t.batch / per_run : 0.0, t.batch, t.rss_peak_mb,
                    t.rss_loaded_mb);
        }
        if (json)
            rc = print_json(path, e, out_dir, &t);
        goto out;
    }
    rc = qfd_cli_fail(ctx, st);
out:
    for (int i = 0; arrays && i < n_inputs; i++)
        qfd_array_free(&arrays[i]);
    free(arrays);
    qfd_exec_free(e);
    qfd_model_free(m);
    free(inputs);
    return rc;
}

const qfd_cli_cmd qfd_cmd_run = {
    "run",
    "run a model on input tensors and save its outputs as .npy",
    "usage: qfd-onnx run MODEL.onnx --input FILE [--input FILE ...] [--output-dir DIR]\n"
    "                    [--threads T] [--repeat N] [--json]\n"
    "\n"
    "Runs one forward pass. Inputs are given in the order of the graph's inputs\n"
    "(initializers excluded), each a NumPy .npy file or an ONNX TensorProto .pb\n"
    "file (the ONNX backend-test layout). Each output is written to\n"
    "DIR/output_<i>.npy in graph-output order, and its name, type and shape are\n"
    "printed. Every output is checked before any is written: one that .npy\n"
    "cannot hold (bfloat16, strings) fails the run with no file written.\n"
    "\n"
    "  -i, --input FILE       an input tensor (.npy or .pb); repeat per input\n"
    "  -o, --output-dir DIR   where to write output_<i>.npy (default: .; created if missing)\n"
    "  --threads T            CPU threads (default: all cores, at most 256)\n"
    "  --no-fold              run the graph as written (default: BatchNormalization\n"
    "                         folded into the preceding Conv, ConvTranspose or\n"
    "                         Gemm, and Relu/Clip fused with a Conv, as ONNX\n"
    "                         Runtime does)\n"
    "  --repeat N             then time N more runs of the same input (the first run\n"
    "                         is the warm-up) and print to stderr: ms per run,\n"
    "                         images/s (batch: the first input's first dimension),\n"
    "                         the peak RSS and the RSS after load (model, executor\n"
    "                         and inputs loaded, before the first run); MB = 2^20 bytes\n"
    "  --json                 print one JSON object on stdout instead of the output\n"
    "                         lines: model, outputs (name, dtype, shape, file),\n"
    "                         rss_loaded_mb, rss_peak_mb, and with --repeat runs,\n"
    "                         batch, ms_per_run, images_per_second\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on a bad model, input file or flag.\n",
    run,
};
