/* qfd-onnx run MODEL --input FILE ...: one forward pass, outputs as .npy. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static void print_shape(const qfd_array *a)
{
    printf("%s[", qfd_dtype_str(a->dtype));
    for (int k = 0; k < a->rank; k++)
        printf("%s%" PRId64, k ? "," : "", a->dims[k]);
    printf("]");
}

static int run(qfd_ctx *ctx, int argc, char **argv)
{
    const char *path = NULL, *out_dir = ".";
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_inputs = 0, n_threads = 0, fold = 1;
    if (!inputs)
        return qfd_cli_oom();
    int rc = QFD_EXIT_OK;
    for (int i = 0; i < argc && rc == QFD_EXIT_OK; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (qfd_cli_is_help(a)) {
            fputs(qfd_cmd_run.usage, stdout);
            free(inputs);
            return QFD_EXIT_OK;
        } else if (!strcmp(a, "--input") || !strcmp(a, "-i")) {
            if (!val)
                rc = qfd_cli_usage_error(&qfd_cmd_run, "%s needs a FILE (.npy or .pb)", a);
            inputs[n_inputs++] = val, i++;
        } else if (!strcmp(a, "--output-dir") || !strcmp(a, "-o")) {
            if (!val)
                rc = qfd_cli_usage_error(&qfd_cmd_run, "%s needs a DIR", a);
            out_dir = val, i++;
        } else if (!strcmp(a, "--no-fold")) {
            fold = 0;
        } else if (!strcmp(a, "--threads")) {
            char *end;
            long t = val ? strtol(val, &end, 10) : 0;
            if (!val || *end || t < 1)
                rc = qfd_cli_usage_error(&qfd_cmd_run, "--threads needs an integer >= 1, got '%s'", val ? val : "");
            n_threads = (int)(t > 256 ? 256 : t), i++;
        } else if (a[0] == '-' && a[1]) {
            rc = qfd_cli_usage_error(&qfd_cmd_run, "unknown flag '%s'", a);
        } else if (path) {
            rc = qfd_cli_usage_error(&qfd_cmd_run, "unexpected argument '%s'", a);
        } else {
            path = a;
        }
    }
    if (rc == QFD_EXIT_OK && !path)
        rc = qfd_cli_usage_error(&qfd_cmd_run, "missing MODEL");
    if (rc != QFD_EXIT_OK) {
        free(inputs);
        return rc;
    }
    qfd_model *m = NULL;
    qfd_exec *e = NULL;
    qfd_array *arrays = calloc((size_t)n_inputs + 1, sizeof *arrays);
    if (!arrays) {
        free(inputs);
        return qfd_cli_oom();
    }
    int folded, fused;
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
    if (!st)
        st = qfd_exec_run(ctx, e, arrays, (size_t)n_inputs);
    if (!st && mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "qfd-onnx: error: %s: cannot create the output folder: %s\n", out_dir, strerror(errno));
        rc = QFD_EXIT_BAD_INPUT;
        goto out;
    }
    for (size_t i = 0; !st && i < qfd_exec_n_outputs(e); i++) {
        const qfd_array *o = qfd_exec_output(e, i);
        size_t len = strlen(out_dir) + 32;
        char *file = malloc(len);
        if (!file) {
            rc = qfd_cli_oom();
            goto out;
        }
        snprintf(file, len, "%s/output_%zu.npy", out_dir, i);
        st = qfd_npy_write(ctx, file, o);
        if (!st) {
            printf("output %zu '%s': ", i, qfd_exec_output_name(e, i));
            print_shape(o);
            printf(" -> %s\n", file);
        }
        free(file);
    }
    if (st)
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
    "                    [--threads T]\n"
    "\n"
    "Runs one forward pass. Inputs are given in the order of the graph's inputs\n"
    "(initializers excluded), each a NumPy .npy file or an ONNX TensorProto .pb\n"
    "file (the ONNX backend-test layout). Each output is written to\n"
    "DIR/output_<i>.npy in graph-output order, and its name, type and shape are\n"
    "printed.\n"
    "\n"
    "  -i, --input FILE       an input tensor (.npy or .pb); repeat per input\n"
    "  -o, --output-dir DIR   where to write output_<i>.npy (default: .; created if missing)\n"
    "  --threads T            CPU threads (default: all cores)\n"
    "  --no-fold              run the graph as written (default: BatchNormalization\n"
    "                         folded into the preceding Conv and Relu/Clip fused\n"
    "                         with it, as ONNX Runtime does)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 on success, 2 on a bad model, input file or flag.\n",
    run,
};
