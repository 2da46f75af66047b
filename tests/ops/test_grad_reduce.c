/* Gradient checks of the reduce family: ReduceSum, ReduceMean, ReduceMax,
 * Softmax, LogSoftmax, Pad. Central differences for the smooth cases, and
 * exact checks where they cannot see the rule (ReduceMax ties) or where the
 * tensors must be large enough for the threaded loops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define PARAMS(...) ((const char *[]){__VA_ARGS__, NULL})
#define MAX_ALL 100000 /* check every element */

/* n distinct values 0.05 apart, shuffled: the argmax stays put under the
 * checker's +-1e-2 steps. */
static void distinct(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)(i - n / 2) * 0.05f;
    for (int i = n - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* op over x (param, or `data` when given) with the axes as an attribute
 * before axes_input_opset and as an int64 initializer from it; naxes < 0:
 * no axes at all. keepdims < 0: left at its default. */
static qfd_model *reduce_model(const char *op, int64_t opset, int64_t axes_input_opset, int rank, const int64_t *dims,
                               const float *data, int naxes, const int64_t *axes, int keepdims)
{
    qfd_model *m = mb_new(opset);
    mb_param(m, "x", rank, dims, data, -1.5f, 1.5f);
    qfd_node *n;
    if (opset >= axes_input_opset && naxes >= 0) {
        mb_const(m, "axes", QFD_DT_INT64, 1, (const int64_t[]){naxes}, axes);
        n = mb_node(m, op, 2, (const char *[]){"x", "axes"}, 1, (const char *[]){"y"});
    } else {
        n = mb_node(m, op, 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
        if (naxes >= 0)
            mb_attr_ints(n, "axes", naxes, axes);
    }
    if (keepdims >= 0)
        mb_attr_int(n, "keepdims", keepdims);
    mb_output(m, "y");
    return m;
}

static int reduce_sum_mean(void)
{
    int fails = 0;
    const int64_t d3[] = {2, 3, 4}, d4[] = {2, 3, 3, 3};
    const char *ops[] = {"ReduceSum", "ReduceMean"};
    const int64_t opsets[] = {11, 18};
    char label[128];
    for (int o = 0; o < 2; o++)
        for (int s = 0; s < 2; s++) {
            const char *op = ops[o];
            int64_t os = opsets[s];
            int64_t ax_in = o == 0 ? 13 : 18;
            const char *how = os >= ax_in ? "axes input" : "axes attribute";
            snprintf(label, sizeof label, "%s opset %lld (%s) axis 1", op, (long long)os, how);
            fails += gradcheck(label, reduce_model(op, os, ax_in, 3, d3, NULL, 1, (const int64_t[]){1}, -1),
                               &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
            snprintf(label, sizeof label, "%s opset %lld (%s) axes (2,3) keepdims 1", op, (long long)os, how);
            fails += gradcheck(label, reduce_model(op, os, ax_in, 4, d4, NULL, 2, (const int64_t[]){2, 3}, 1),
                               &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
            snprintf(label, sizeof label, "%s opset %lld (%s) axis -1 keepdims 0", op, (long long)os, how);
            fails += gradcheck(label, reduce_model(op, os, ax_in, 3, d3, NULL, 1, (const int64_t[]){-1}, 0),
                               &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
            /* Outer and inner axes reduced around a kept one: rows that share
             * an output are not neighbours. */
            snprintf(label, sizeof label, "%s opset %lld (%s) axes (0,2) keepdims 0", op, (long long)os, how);
            fails += gradcheck(label, reduce_model(op, os, ax_in, 3, d3, NULL, 2, (const int64_t[]){0, 2}, 0),
                               &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
            snprintf(label, sizeof label, "%s opset %lld no axes (all)", op, (long long)os);
            fails += gradcheck(label, reduce_model(op, os, ax_in, 3, d3, NULL, -1, NULL, 0),
                               &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
        }
    /* noop_with_empty_axes: identity. */
    {
        qfd_model *m = reduce_model("ReduceMean", 18, 18, 3, d3, NULL, -1, NULL, -1);
        mb_attr_int(&m->graph.nodes[0], "noop_with_empty_axes", 1);
        fails += gradcheck("ReduceMean opset 18 noop_with_empty_axes", m,
                           &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    }
    return fails;
}

static int reduce_max(void)
{
    int fails = 0;
    const int64_t d3[] = {2, 3, 4};
    float x[24];
    distinct(x, 24, 7);
    fails += gradcheck("ReduceMax opset 11 axis 1",
                       reduce_model("ReduceMax", 11, 18, 3, d3, x, 1, (const int64_t[]){1}, -1),
                       &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    fails += gradcheck("ReduceMax opset 18 axis -1 keepdims 0 (input)",
                       reduce_model("ReduceMax", 18, 18, 3, d3, x, 1, (const int64_t[]){-1}, 0),
                       &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    fails += gradcheck("ReduceMax opset 18 axes (0,2) (input)",
                       reduce_model("ReduceMax", 18, 18, 3, d3, x, 2, (const int64_t[]){0, 2}, 1),
                       &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    return fails;
}

/* Runs a training forward of m (x a parameter) on n_threads, seeds the
 * gradient of output 0 with dy (NULL: all ones), runs backward and copies
 * dL/dx into dx. Returns 0 on success. Frees the model. */
static int run_backward(const char *label, qfd_model *m, int n_threads, const float *dy, float *dx, int64_t nx)
{
    int fails = 0;
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    if (!ctx || !train) {
        printf("FAIL %s: out of memory\n", label);
        fails = 1;
        goto out;
    }
    train[qfd_graph_find(&m->graph, "x")] = 1;
    if (qfd_exec_new(ctx, m, n_threads, &e) || qfd_exec_set_trainable(ctx, e, train)) {
        printf("FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        fails = 1;
        goto out;
    }
    qfd_exec_set_training(e, true, 1);
    if (qfd_exec_run(ctx, e, NULL, 0)) {
        printf("FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        fails = 1;
        goto out;
    }
    qfd_exec_zero_grads(e);
    qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
    for (int64_t i = 0; gy && i < qfd_array_numel(gy); i++)
        ((float *)gy->data)[i] = dy ? dy[i] : 1.0f;
    if (qfd_exec_backward(ctx, e)) {
        printf("FAIL %s: backward: %s\n", label, qfd_ctx_error(ctx));
        fails = 1;
        goto out;
    }
    const qfd_array *gx = qfd_exec_grad(e, qfd_graph_find(&m->graph, "x"));
    if (!gx || qfd_array_numel(gx) != nx) {
        printf("FAIL %s: no gradient of x\n", label);
        fails = 1;
        goto out;
    }
    memcpy(dx, gx->data, (size_t)nx * sizeof *dx);
out:
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    free(train);
    qfd_model_free(m);
    return fails;
}

static int expect(const char *label, const float *got, const float *want, int64_t n, double tol)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol * fmax(1.0, fabs(want[i]))) {
            if (bad < 3)
                printf("  %s [%lld]: got %.8g, expected %.8g\n", label, (long long)i, got[i], want[i]);
            bad++;
        }
    printf("%s %s (%lld elements)\n", bad ? "FAIL" : "ok  ", label, (long long)n);
    return bad ? 1 : 0;
}

/* Ties: the whole gradient goes to the first maximum, in both the
 * row-wise kernel and the general one. */
static int reduce_max_ties(void)
{
    int fails = 0;
    const int64_t d[] = {2, 3};
    const float x[] = {1, 3, 3, 2, 2, 0};
    float dx[6];
    if (run_backward("ReduceMax ties axis 1", reduce_model("ReduceMax", 13, 18, 2, d, x, 1, (const int64_t[]){1}, 1), 1,
                     (const float[]){0.5f, 2.0f}, dx, 6))
        fails++;
    else
        fails += expect("ReduceMax ties axis 1: first maximum only", dx, (const float[]){0, 0.5f, 0, 2.0f, 0, 0}, 6, 0);
    const float x2[] = {1, 2, 3, 1, 2, 3};
    if (run_backward("ReduceMax ties axis 0", reduce_model("ReduceMax", 13, 18, 2, d, x2, 1, (const int64_t[]){0}, 1),
                     1, (const float[]){1.0f, 2.0f, 3.0f}, dx, 6))
        fails++;
    else
        fails += expect("ReduceMax ties axis 0: first maximum only", dx, (const float[]){1, 2, 3, 0, 0, 0}, 6, 0);
    return fails;
}

/* Tensors above the threading threshold, on 4 threads, against the
 * formula. */
static int threaded(void)
{
    int fails = 0;
    enum { N = 2, C = 3, H = 120, W = 100, NX = N * C * H * W };
    const int64_t d[] = {N, C, H, W};
    float *dx = malloc(NX * sizeof *dx), *want = malloc(NX * sizeof *want), *dy = malloc(NX * sizeof *dy);
    if (!dx || !want || !dy) {
        printf("FAIL threaded checks: out of memory\n");
        fails = 1;
        goto out;
    }
    for (int i = 0; i < NX; i++)
        dy[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    /* Global mean pool. */
    if (!run_backward("ReduceMean axes (2,3) 72000 elements",
                      reduce_model("ReduceMean", 13, 18, 4, d, NULL, 2, (const int64_t[]){2, 3}, 1), 4, dy, dx, NX)) {
        for (int i = 0; i < NX; i++)
            want[i] = dy[i / (H * W)] / (float)(H * W);
        fails += expect("ReduceMean axes (2,3) 72000 elements, 4 threads", dx, want, NX, 1e-6);
    } else {
        fails++;
    }
    /* Pad crops one row/column and pads others: dx = the window of dy. */
    {
        qfd_model *m = mb_new(13);
        mb_param(m, "x", 4, d, NULL, -1, 1);
        const int64_t pads[] = {0, 0, -1, 2, 0, 1, 3, -1};
        mb_const(m, "pads", QFD_DT_INT64, 1, (const int64_t[]){8}, pads);
        mb_node(m, "Pad", 2, (const char *[]){"x", "pads"}, 1, (const char *[]){"y"});
        mb_output(m, "y");
        const int64_t yd[] = {N, C + 1, H + 2, W + 1};
        float *pdy = malloc((size_t)(yd[0] * yd[1] * yd[2] * yd[3]) * sizeof *pdy);
        if (!pdy) {
            qfd_model_free(m);
            fails++;
            goto out;
        }
        for (int64_t i = 0; i < yd[0] * yd[1] * yd[2] * yd[3]; i++)
            pdy[i] = (float)((i * 13) % 29);
        if (!run_backward("Pad constant 72000 elements", m, 4, pdy, dx, NX)) {
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++)
                    for (int h = 0; h < H; h++)
                        for (int w = 0; w < W; w++) {
                            int64_t yh = h - 1, yw = w + 2;
                            want[((n * C + c) * H + h) * W + w] = yh >= 0 && yw < yd[3]
                                                                      ? pdy[((n * yd[1] + c) * yd[2] + yh) * yd[3] + yw]
                                                                      : 0.0f;
                        }
            fails += expect("Pad constant (cropping) 72000 elements, 4 threads", dx, want, NX, 0);
        } else {
            fails++;
        }
        free(pdy);
    }
out:
    free(dx);
    free(want);
    free(dy);
    return fails;
}

static qfd_model *softmax_model(const char *op, int64_t opset, int rank, const int64_t *dims, int64_t axis,
                                int set_axis)
{
    qfd_model *m = mb_new(opset);
    mb_param(m, "x", rank, dims, NULL, -2.0f, 2.0f);
    qfd_node *n = mb_node(m, op, 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    if (set_axis)
        mb_attr_int(n, "axis", axis);
    mb_output(m, "y");
    return m;
}

static int softmax(void)
{
    int fails = 0;
    const int64_t d2[] = {3, 5}, d3[] = {2, 3, 4};
    const char *ops[] = {"Softmax", "LogSoftmax"};
    char label[128];
    /* Sharper than the default tolerance: softmax gradients are small. */
    gradcheck_opts opt = {.params = PARAMS("x"), .max_elems = MAX_ALL, .tol = 5e-3};
    for (int o = 0; o < 2; o++) {
        snprintf(label, sizeof label, "%s opset 13 last axis (default)", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 13, 2, d2, 0, 0), &opt);
        snprintf(label, sizeof label, "%s opset 13 axis -1 of 3-D", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 13, 3, d3, -1, 1), &opt);
        snprintf(label, sizeof label, "%s opset 11 axis 1 of 3-D (coerced to 2-D)", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 11, 3, d3, 1, 1), &opt);
        snprintf(label, sizeof label, "%s opset 11 axis 2 of 3-D (coerced to 2-D)", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 11, 3, d3, 2, 1), &opt);
        snprintf(label, sizeof label, "%s opset 13 axis 1 of 3-D (strided)", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 13, 3, d3, 1, 1), &opt);
        snprintf(label, sizeof label, "%s opset 13 axis 0 of 3-D (strided)", ops[o]);
        fails += gradcheck(label, softmax_model(ops[o], 13, 3, d3, 0, 1), &opt);
    }
    return fails;
}

/* Pad of a [2,3,4] parameter x; pads (and axes when naxes > 0) as int64
 * initializers; the constant value as a scalar parameter "cv" when
 * with_cv. */
static qfd_model *pad_model(int64_t opset, const char *mode, const int64_t *pads, int naxes, const int64_t *axes,
                            int with_cv)
{
    const int64_t dx[] = {2, 3, 4};
    int np = naxes > 0 ? 2 * naxes : 6;
    qfd_model *m = mb_new(opset);
    mb_param(m, "x", 3, dx, NULL, -1.0f, 1.0f);
    mb_const(m, "pads", QFD_DT_INT64, 1, (const int64_t[]){np}, pads);
    if (with_cv)
        mb_param(m, "cv", 0, dx, (const float[]){0.25f}, 0, 0);
    if (naxes > 0)
        mb_const(m, "axes", QFD_DT_INT64, 1, (const int64_t[]){naxes}, axes);
    qfd_node *n = mb_node(m, "Pad",
                          naxes > 0 ? 4
                          : with_cv ? 3
                                    : 2,
                          (const char *[]){"x", "pads", with_cv ? "cv" : "", "axes"}, 1, (const char *[]){"y"});
    if (mode)
        mb_attr_str(n, "mode", mode);
    mb_output(m, "y");
    return m;
}

static int pad(void)
{
    int fails = 0;
    gradcheck_opts opt = {.params = PARAMS("x"), .max_elems = MAX_ALL};
    gradcheck_opts opt_cv = {.params = PARAMS("x", "cv"), .max_elems = MAX_ALL};
    const int64_t pos[] = {1, 0, 2, 0, 1, 1}, neg[] = {0, -1, 1, -1, 2, -2}, lastneg[] = {1, 1, -1, 0, 1, -2};
    fails += gradcheck("Pad constant opset 13 positive pads", pad_model(13, NULL, pos, 0, NULL, 0), &opt);
    fails += gradcheck("Pad constant opset 13 negative pads", pad_model(13, "constant", neg, 0, NULL, 0), &opt);
    fails += gradcheck("Pad constant opset 13 negative last-axis pads, d/d(constant_value)",
                       pad_model(13, "constant", lastneg, 0, NULL, 1), &opt_cv);
    fails += gradcheck("Pad constant opset 18 axes input (1,-1)",
                       pad_model(18, NULL, (const int64_t[]){-1, 2, 1, -1}, 2, (const int64_t[]){1, -1}, 0), &opt);
    /* Opset 2: pads as an attribute. */
    {
        const int64_t d[] = {2, 3, 4};
        qfd_model *m = mb_new(2);
        mb_param(m, "x", 3, d, NULL, -1.0f, 1.0f);
        qfd_node *n = mb_node(m, "Pad", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
        mb_attr_ints(n, "pads", 6, neg);
        mb_attr_float(n, "value", 0.5f);
        mb_output(m, "y");
        fails += gradcheck("Pad constant opset 2 (attribute) negative pads", m, &opt);
    }
    const int64_t small[] = {1, 2, 2, 1, 1, 3};
    fails += gradcheck("Pad edge opset 13", pad_model(13, "edge", small, 0, NULL, 0), &opt);
    fails += gradcheck("Pad reflect opset 13", pad_model(13, "reflect", small, 0, NULL, 0), &opt);
    fails += gradcheck("Pad wrap opset 19", pad_model(19, "wrap", (const int64_t[]){1, 2, 5, 0, -1, 3}, 0, NULL, 0),
                       &opt);
    return fails;
}

/* One parameter read by two nodes: the gradients add up. */
static int accumulation(void)
{
    const int64_t d[] = {2, 3, 4};
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 3, d, NULL, -1.0f, 1.0f);
    mb_const(m, "pads", QFD_DT_INT64, 1, (const int64_t[]){6}, (const int64_t[]){0, 1, 0, 0, 0, 1});
    mb_node(m, "ReduceSum", 1, (const char *[]){"x"}, 1, (const char *[]){"s"});
    mb_node(m, "Softmax", 1, (const char *[]){"x"}, 1, (const char *[]){"p"});
    mb_node(m, "Pad", 2, (const char *[]){"x", "pads"}, 1, (const char *[]){"q"});
    mb_output(m, "s");
    mb_output(m, "p");
    mb_output(m, "q");
    return gradcheck("ReduceSum + Softmax + Pad of one x (accumulation)", m,
                     &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
}

/* issue 16: CumSum (every exclusive/reverse combination, two axes) and
 * TopK's values. */
static int cumsum_topk(void)
{
    int fails = 0;
    const int64_t d[] = {3, 4}, one[] = {1};
    for (int c = 0; c < 8; c++) {
        char label[96];
        int64_t axis = c & 1 ? -1 : 0;
        snprintf(label, sizeof label, "CumSum axis %lld exclusive %d reverse %d", (long long)axis, c >> 1 & 1,
                 c >> 2 & 1);
        qfd_model *m = mb_new(14);
        mb_param(m, "x", 2, d, NULL, -1, 1);
        mb_const(m, "axis", QFD_DT_INT64, 0, NULL, &axis);
        qfd_node *n = mb_node(m, "CumSum", 2, (const char *[]){"x", "axis"}, 1, (const char *[]){"y"});
        mb_attr_int(n, "exclusive", c >> 1 & 1);
        mb_attr_int(n, "reverse", c >> 2 & 1);
        mb_output(m, "y");
        fails += gradcheck(label, m, &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    }
    for (int largest = 0; largest <= 1; largest++) {
        float v[12];
        distinct(v, 12, 7u + (unsigned)largest); /* no ties within eps */
        int64_t k = 2;
        qfd_model *m = mb_new(13);
        mb_param(m, "x", 2, d, v, 0, 0);
        mb_const(m, "k", QFD_DT_INT64, 1, one, &k);
        mb_attr_int(mb_node(m, "TopK", 2, (const char *[]){"x", "k"}, 2, (const char *[]){"v", "i"}), "largest",
                    largest);
        mb_output(m, "v");
        fails += gradcheck(largest ? "TopK largest k=2" : "TopK smallest k=2", m,
                           &(gradcheck_opts){.params = PARAMS("x"), .max_elems = MAX_ALL});
    }
    return fails;
}

int main(void)
{
    int fails = 0;
    fails += reduce_sum_mean();
    fails += reduce_max();
    fails += reduce_max_ties();
    fails += softmax();
    fails += pad();
    fails += accumulation();
    fails += threaded();
    fails += cumsum_topk();
    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
