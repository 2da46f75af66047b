/* libFuzzer harness: the ONNX reader, as `qfd-onnx run` meets a model.
 * Reads and validates the bytes as a model file (external data may name
 * data.bin, a 4 KiB file beside it), summarizes it as `info` does, applies
 * `run`'s inference rewrites and plans the executor for the model's
 * declared input shapes (symbolic or unknown dimensions taken as 1, inputs
 * of zeros): shape inference, constant folding, buffers. It also runs
 * `check`'s rules for each target (with bits to check against) and writes
 * their JSON, as a CI gate meets any file. Any status is fine; a crash,
 * leak, hang or undefined behaviour is not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"
#include "fuzz_file.h"
#include "ir/dtype.h"

/* Inputs bigger than this are not made: planning them says nothing new. */
#define MAX_INPUT_BYTES ((size_t)1 << 20)

/* The declared type of graph input tensor t as a zero array; 0 when it has
 * none that can be made. */
static int make_input(const qfd_graph *g, int t, qfd_array *a)
{
    const qfd_value_info *vi = NULL;
    for (size_t k = 0; k < g->n_inputs && !vi; k++)
        if (g->inputs[k].tensor == t)
            vi = &g->inputs[k];
    memset(a, 0, sizeof *a);
    a->dtype = QFD_DT_FLOAT;
    if (vi && vi->has_type && vi->type.kind == QFD_TYPE_TENSOR) {
        const qfd_type *ty = &vi->type;
        if (ty->has_elem_type)
            a->dtype = ty->elem_type;
        if (ty->has_shape) {
            if (ty->rank > QFD_ARRAY_MAX_RANK)
                return 0;
            a->rank = ty->rank;
            for (int i = 0; i < ty->rank; i++)
                a->dims[i] = ty->dims[i].kind == QFD_DIM_VALUE ? ty->dims[i].value : 1;
        }
    }
    int ok = 0;
    int64_t numel = qfd_array_numel(a);
    size_t nbytes = numel < 0 ? 0 : qfd_dtype_nbytes(a->dtype, numel, &ok);
    if (!ok || a->dtype == QFD_DT_STRING || nbytes > MAX_INPUT_BYTES)
        return 0;
    a->data = calloc(1, nbytes ? nbytes : 1);
    a->nbytes = nbytes;
    return a->data != NULL;
}

static void plan(qfd_ctx *ctx, qfd_model *m)
{
    qfd_exec *e = NULL;
    if (qfd_exec_new(ctx, m, 1, &e))
        return;
    size_t n = qfd_exec_n_inputs(e), made = 0;
    qfd_array *in = calloc(n + 1, sizeof *in);
    while (in && made < n && make_input(&m->graph, qfd_exec_input_tensor(e, made), &in[made]))
        made++;
    if (in && made == n)
        qfd_exec_prepare(ctx, e, in, n);
    for (size_t i = 0; in && i < made; i++)
        qfd_array_free(&in[i]);
    free(in);
    qfd_exec_free(e);
}

static void check(qfd_ctx *ctx, const char *path)
{
    static const char *const targets[] = {"any", "ort", "tensorrt"};
    for (int t = 0; t < 3; t++) {
        qfd_check_opts o = {.target = targets[t], .expect_wbits = 4, .expect_abits = t == 1 ? 0 : 4, .max_drop = -1};
        qfd_check_result r;
        if (qfd_check_file(ctx, path, &o, &r))
            continue;
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            qfd_check_write_json(f, path, &o, &r);
            fclose(f);
        }
        qfd_check_result_free(&r);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    uint8_t bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 37 + 11);
    if (!fuzz_file("data.bin", bytes, sizeof bytes))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("model.onnx", data, size);
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = NULL;
    if (path && ctx) {
        qfd_ctx_set_memory_limit(ctx, FUZZ_MEMORY_LIMIT);
        if (qfd_model_load(ctx, path, &m) == QFD_OK) {
            qfd_model_summary *sum = NULL;
            if (qfd_model_summarize(ctx, m, &sum) == QFD_OK)
                qfd_model_summary_free(sum);
            int folded = 0, fused = 0;
            if (qfd_model_fold_batchnorm(ctx, m, &folded) == QFD_OK &&
                qfd_model_fuse_activations(ctx, m, &fused) == QFD_OK)
                plan(ctx, m);
        }
        check(ctx, path);
    }
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return 0;
}
