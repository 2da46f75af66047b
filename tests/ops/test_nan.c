/* NaN and Inf semantics of the min/max-like ops.
 *
 * Forward: every case folder under DIR (tests/data/nan, written by
 * tools/ort/make_nan_fixtures.js from ONNX Runtime's outputs) holds
 * model.onnx, input_<i>.npy and expected_<j>.npy; the model runs as written
 * and after `run`'s inference rewrites (a Conv's Relu/Clip fused into it),
 * and every output must match: NaN where NaN is expected, the same infinity,
 * floats within 1e-6 relative, integers exactly.
 * Backward: a NaN max takes the gradient at the first NaN (as the forward's
 * Indices say), one element only, and no gradient becomes NaN.
 *
 * usage: test_nan DIR MIN_CASES */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "../support/npy_case.h"
#include "core/ctx.h"
#include "data/npy.h"
#include "exec/exec.h"

static int same_float(float got, float want)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabsf(got - want) <= 1e-6f * fmaxf(1.0f, fabsf(want));
}

static void compare(const char *label, const qfd_array *got, const qfd_array *want)
{
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)want->rank * sizeof *want->dims)) {
        fprintf(stderr, "FAIL %s: type or shape differs from the expected output\n", label);
        qfd_test_failures++;
        return;
    }
    int64_t n = qfd_array_numel(want), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int ok;
        if (want->dtype == QFD_DT_FLOAT) {
            float g = ((const float *)got->data)[i], w = ((const float *)want->data)[i];
            ok = same_float(g, w);
            if (!ok && bad < 4)
                fprintf(stderr, "  %s [%lld]: got %g, expected %g\n", label, (long long)i, g, w);
        } else {
            ok = ((const int64_t *)got->data)[i] == ((const int64_t *)want->data)[i];
            if (!ok && bad < 4)
                fprintf(stderr, "  %s [%lld]: got %lld, expected %lld\n", label, (long long)i,
                        (long long)((const int64_t *)got->data)[i], (long long)((const int64_t *)want->data)[i]);
        }
        bad += !ok;
    }
    if (bad) {
        fprintf(stderr, "FAIL %s: %lld of %lld elements differ\n", label, (long long)bad, (long long)n);
        qfd_test_failures++;
    }
}

/* Runs the case in dir (rewritten as `run` does when fused), checking every
 * output. Returns 1 when the case exists. */
static int run_case(qfd_ctx *ctx, const char *dir, const char *name, int fused)
{
    char label[512];
    snprintf(label, sizeof label, "%s%s", name, fused ? " (fused)" : "");
    qfd_npy_case c;
    qfd_exec *e = NULL;
    if (qfd_npy_case_load(ctx, dir, name, &c)) {
        fprintf(stderr, "FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        qfd_test_failures++;
        qfd_npy_case_free(&c);
        return 1;
    }
    qfd_model *m = c.model;
    const size_t n_want = c.n_want;
    int folded = 0, n_fused = 0;
    if (fused)
        CHECK_OK(ctx, qfd_model_fold_batchnorm(ctx, m, &folded) || qfd_model_fuse_activations(ctx, m, &n_fused));
    if (qfd_exec_new(ctx, m, 1, &e) || qfd_exec_run(ctx, e, c.in, c.n_in)) {
        fprintf(stderr, "FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        qfd_test_failures++;
    } else if (qfd_exec_n_outputs(e) != n_want || !n_want) {
        fprintf(stderr, "FAIL %s: %zu outputs, %zu expected\n", label, qfd_exec_n_outputs(e), n_want);
        qfd_test_failures++;
    } else {
        for (size_t j = 0; j < n_want; j++) {
            char out_label[600];
            snprintf(out_label, sizeof out_label, "%s output %zu", label, j);
            compare(out_label, qfd_exec_output(e, j), &c.want[j]);
        }
        printf("%-28s %s\n", label, n_fused ? "fused" : "ok");
    }
    qfd_exec_free(e);
    qfd_npy_case_free(&c);
    return 1;
}

static int forward_cases(qfd_ctx *ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "FAIL: cannot open %s\n", dir);
        return 0;
    }
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        n += run_case(ctx, dir, de->d_name, 0);
        run_case(ctx, dir, de->d_name, 1);
    }
    closedir(d);
    return n;
}

/* x (a parameter holding x0) -> op -> y; the gradient of y is all ones.
 * Checks dL/dx against want. */
static void backward_case(const char *label, qfd_model *m, int64_t nx, const float *want)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    CHECK(ctx && train);
    if (!ctx || !train)
        goto out;
    train[qfd_graph_find(&m->graph, "x")] = 1;
    if (qfd_exec_new(ctx, m, 1, &e) || qfd_exec_set_trainable(ctx, e, train) ||
        (qfd_exec_set_training(e, true, 1), qfd_exec_run(ctx, e, NULL, 0))) {
        fprintf(stderr, "FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        qfd_test_failures++;
        goto out;
    }
    qfd_exec_zero_grads(e);
    qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
    for (int64_t i = 0; gy && i < qfd_array_numel(gy); i++)
        ((float *)gy->data)[i] = 1.0f;
    CHECK_OK(ctx, qfd_exec_backward(ctx, e));
    const qfd_array *gx = qfd_exec_grad(e, qfd_graph_find(&m->graph, "x"));
    CHECK(gx && qfd_array_numel(gx) == nx);
    if (gx) {
        const float *g = gx->data;
        int bad = 0;
        for (int64_t i = 0; i < nx; i++)
            bad += g[i] != want[i]; /* a NaN gradient is never wanted */
        if (bad) {
            fprintf(stderr, "FAIL %s: gradient", label);
            for (int64_t i = 0; i < nx; i++)
                fprintf(stderr, " %g", g[i]);
            fputc('\n', stderr);
            qfd_test_failures++;
        } else {
            printf("%-28s ok\n", label);
        }
    }
out:
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    free(train);
    qfd_model_free(m);
}

static qfd_model *unary_model(int rank, const int64_t *dims, const float *x)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, x, 0, 0);
    return m;
}

static void backward_cases(void)
{
    /* two rows: a NaN after a number, and a row with no NaN */
    const float x[] = {1, NAN, 2, NAN, 3, -INFINITY, 5, 4};
    const int64_t d4[] = {1, 2, 1, 4}, d2[] = {2, 4};

    qfd_model *m = unary_model(4, d4, x);
    mb_attr_ints(mb_node(m, "MaxPool", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}), "kernel_shape", 2,
                 (const int64_t[]){1, 4});
    mb_output(m, "y");
    backward_case("MaxPool backward", m, 8, (const float[]){0, 1, 0, 0, 0, 0, 1, 0});

    m = unary_model(4, d4, x);
    mb_node(m, "GlobalMaxPool", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    backward_case("GlobalMaxPool backward", m, 8, (const float[]){0, 1, 0, 0, 0, 0, 1, 0});

    m = unary_model(2, d2, x);
    mb_attr_ints(mb_node(m, "ReduceMax", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}), "axes", 1,
                 (const int64_t[]){1});
    mb_output(m, "y");
    backward_case("ReduceMax rows backward", m, 8, (const float[]){0, 1, 0, 0, 0, 0, 1, 0});

    m = unary_model(2, d2, x);
    mb_attr_ints(mb_node(m, "ReduceMax", 1, (const char *[]){"x"}, 1, (const char *[]){"y"}), "axes", 1,
                 (const int64_t[]){0});
    mb_output(m, "y");
    backward_case("ReduceMax cols backward", m, 8, (const float[]){0, 1, 0, 1, 1, 0, 1, 0});

    /* Max(x, c): a NaN in x takes the gradient; a NaN in c leaves x none */
    m = unary_model(1, (const int64_t[]){4}, (const float[]){NAN, 1, 5, NAN});
    mb_param(m, "c", 1, (const int64_t[]){4}, (const float[]){0, NAN, 2, NAN}, 0, 0);
    mb_node(m, "Max", 2, (const char *[]){"x", "c"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    backward_case("Max backward", m, 4, (const float[]){1, 0, 1, 1});
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR MIN_CASES\n", argv[0]);
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx)
        return 1;
    int n = forward_cases(ctx, argv[1]);
    /* a missing or emptied fixture folder is a failure, not a pass */
    if (n < atoi(argv[2])) {
        fprintf(stderr, "FAIL: %d cases in %s, expected at least %s\n", n, argv[1], argv[2]);
        qfd_test_failures++;
    }
    backward_cases();
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
