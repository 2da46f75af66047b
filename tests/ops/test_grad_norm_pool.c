/* Gradient checks of the norm_pool family: BatchNormalization (training and
 * inference, and its running-statistics update), LayerNormalization,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define PARAMS(...) ((const char *[]){__VA_ARGS__, NULL})

/* n distinct values 0.05 apart, shuffled: max pooling's argmax stays put
 * under the checker's +-1e-2 steps. */
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

/* X [2,3,4,4] with per-channel scale, B, mean, var. */
static qfd_model *bn_model(int64_t opset, int training_mode)
{
    const int64_t dx[] = {2, 3, 4, 4}, dc[] = {3};
    qfd_model *m = mb_new(opset);
    mb_param(m, "x", 4, dx, NULL, -1.5f, 2.0f);
    mb_param(m, "scale", 1, dc, NULL, 0.5f, 1.5f);
    mb_param(m, "b", 1, dc, NULL, -0.5f, 0.5f);
    mb_param(m, "mean", 1, dc, NULL, -0.3f, 0.3f);
    mb_param(m, "var", 1, dc, NULL, 0.5f, 1.5f);
    const char *ins[] = {"x", "scale", "b", "mean", "var"};
    if (training_mode) {
        qfd_node *n = mb_node(m, "BatchNormalization", 5, ins, 3, (const char *[]){"y", "rm", "rv"});
        mb_attr_int(n, "training_mode", 1);
        mb_attr_float(n, "momentum", 0.7f);
        mb_output(m, "y");
        mb_output(m, "rm");
        mb_output(m, "rv");
    } else {
        mb_node(m, "BatchNormalization", 5, ins, 1, (const char *[]){"y"});
        mb_output(m, "y");
    }
    return m;
}

static int check_close(const char *what, int c, float got, double want)
{
    if (fabs(got - want) <= 1e-5 * fmax(1.0, fabs(want)))
        return 0;
    printf("FAIL %s[%d]: got %.8g, expected %.8g\n", what, c, got, want);
    return 1;
}

/* One training forward must move the running statistics, in place, by
 * running = running * momentum + batch * (1 - momentum), with the unbiased
 * batch variance; an inference forward must leave them alone. Channel 2
 * sits far from 0, where the variance needs care. */
static int bn_running_stats(void)
{
    enum { N = 2, C = 3, S = 4, M = N * S };
    const int64_t dx[] = {N, C, 2, 2}, dc[] = {C};
    const float mom = 0.8f;
    float x[N * C * S], rm0[C] = {0.1f, -0.2f, 0.3f}, rv0[C] = {1.0f, 0.5f, 2.0f};
    for (int i = 0; i < N * C * S; i++)
        x[i] = (float)((i * 7) % 11) * 0.3f - 1.0f + (float)(i / (C * S)) +
               /* a mean 1000x the spread: E[x^2] - E[x]^2 in float would lose the variance */
               (i / S % C == 2 ? 3000.0f : 0.0f);
    qfd_model *m = mb_new(15);
    mb_input(m, "x", 4, dx);
    mb_param(m, "scale", 1, dc, (const float[]){1.0f, 2.0f, 0.5f}, 0, 0);
    mb_param(m, "b", 1, dc, (const float[]){0.0f, 0.1f, -0.1f}, 0, 0);
    mb_param(m, "mean", 1, dc, rm0, 0, 0);
    mb_param(m, "var", 1, dc, rv0, 0, 0);
    qfd_node *n = mb_node(m, "BatchNormalization", 5, (const char *[]){"x", "scale", "b", "mean", "var"}, 1,
                          (const char *[]){"y"});
    mb_attr_float(n, "momentum", mom);
    mb_output(m, "y");
    int fails = 0;
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    qfd_array in = {.dtype = QFD_DT_FLOAT, .rank = 4, .dims = {N, C, 2, 2}, .data = x, .nbytes = sizeof x};
    const float *rm = m->graph.tensors[qfd_graph_find(&m->graph, "mean")].data;
    const float *rv = m->graph.tensors[qfd_graph_find(&m->graph, "var")].data;
    if (qfd_exec_new(ctx, m, 1, &e) || qfd_exec_run(ctx, e, &in, 1)) {
        printf("FAIL BatchNorm running stats: %s\n", qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    for (int c = 0; c < C; c++) {
        fails += check_close("inference forward: running mean", c, rm[c], rm0[c]);
        fails += check_close("inference forward: running var", c, rv[c], rv0[c]);
    }
    qfd_exec_set_training(e, true, 1);
    if (qfd_exec_run(ctx, e, &in, 1)) {
        printf("FAIL BatchNorm running stats: %s\n", qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    const float *y = qfd_exec_output(e, 0)->data;
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < N; b++)
            for (int i = 0; i < S; i++)
                sum += x[(b * C + c) * S + i];
        double mu = sum / M;
        for (int b = 0; b < N; b++)
            for (int i = 0; i < S; i++)
                sq += (x[(b * C + c) * S + i] - mu) * (x[(b * C + c) * S + i] - mu);
        fails += check_close("training forward: running mean", c, rm[c], rm0[c] * mom + mu * (1 - mom));
        fails += check_close("training forward: running var", c, rv[c], rv0[c] * mom + sq / (M - 1) * (1 - mom));
        /* And y is normalized with the batch statistics, biased variance. */
        const float sc[] = {1.0f, 2.0f, 0.5f}, bb[] = {0.0f, 0.1f, -0.1f};
        int at = (1 * C + c) * S + 2;
        fails += check_close("training forward: y", c, y[at], sc[c] * (x[at] - mu) / sqrt(sq / M + 1e-5) + bb[c]);
    }
    printf("%s BatchNorm training forward: running mean/var moved by the momentum rule (unbiased var)\n",
           fails ? "FAIL" : "ok  ");
out:
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return fails;
}

static qfd_model *ln_model(int axis, int64_t sdims_rank, const int64_t *sdims, int64_t bdims_rank, const int64_t *bdims,
                           int stats_out)
{
    const int64_t dx[] = {2, 3, 4};
    qfd_model *m = mb_new(17);
    mb_param(m, "x", 3, dx, NULL, -2.0f, 2.0f);
    mb_param(m, "scale", (int)sdims_rank, sdims, NULL, 0.5f, 1.5f);
    mb_param(m, "b", (int)bdims_rank, bdims, NULL, -0.5f, 0.5f);
    const char *outs[] = {"y", "mean", "inv"};
    qfd_node *n = mb_node(m, "LayerNormalization", 3, (const char *[]){"x", "scale", "b"}, stats_out ? 3 : 1, outs);
    mb_attr_int(n, "axis", axis);
    mb_output(m, "y");
    if (stats_out) {
        mb_output(m, "mean");
        mb_output(m, "inv");
    }
    return m;
}

static qfd_model *pool_model(const char *op, int64_t opset, const int64_t *xd, const int64_t *k, const int64_t *s,
                             const int64_t *pads, const int64_t *dil, int ceil_mode, int count_include_pad)
{
    qfd_model *m = mb_new(opset);
    float v[512];
    int n = (int)(xd[0] * xd[1] * xd[2] * xd[3]);
    distinct(v, n, 7u + (unsigned)n);
    mb_param(m, "x", 4, xd, v, 0, 0);
    qfd_node *nd = mb_node(m, op, 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
    if (k) {
        mb_attr_ints(nd, "kernel_shape", 2, k);
        mb_attr_ints(nd, "strides", 2, s);
    }
    if (pads)
        mb_attr_ints(nd, "pads", 4, pads);
    if (dil)
        mb_attr_ints(nd, "dilations", 2, dil);
    if (ceil_mode)
        mb_attr_int(nd, "ceil_mode", 1);
    if (count_include_pad)
        mb_attr_int(nd, "count_include_pad", 1);
    mb_output(m, "y");
    return m;
}

/* issue 16: LRN (odd and even window) and InstanceNormalization. */
static int lrn_instancenorm(void)
{
    int fails = 0;
    const int64_t d[] = {2, 5, 2, 3}, c5[] = {5};
    for (int size = 2; size <= 3; size++) {
        qfd_model *m = mb_new(13);
        mb_param(m, "x", 4, d, NULL, -1, 1);
        qfd_node *n = mb_node(m, "LRN", 1, (const char *[]){"x"}, 1, (const char *[]){"y"});
        mb_attr_int(n, "size", size);
        mb_attr_float(n, "alpha", 0.5f); /* large enough for the window term to matter */
        mb_attr_float(n, "beta", 0.75f);
        mb_attr_float(n, "bias", 1.5f);
        mb_output(m, "y");
        fails += gradcheck(size == 2 ? "LRN size 2" : "LRN size 3", m,
                           &(gradcheck_opts){.params = PARAMS("x"), .max_elems = 100000});
    }
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 4, d, NULL, -1, 1);
    mb_param(m, "scale", 1, c5, NULL, 0.5f, 1.5f);
    mb_param(m, "b", 1, c5, NULL, -1, 1);
    mb_node(m, "InstanceNormalization", 3, (const char *[]){"x", "scale", "b"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    fails += gradcheck("InstanceNormalization [2,5,2,3]", m,
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b"), .max_elems = 100000});
    return fails;
}

int main(void)
{
    int fails = 0;
    const char *const *bn_all = PARAMS("x", "scale", "b", "mean", "var");

    /* BatchNormalization */
    fails += gradcheck("BatchNorm training [2,3,4,4]", bn_model(15, 0),
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b"), .training = true, .max_elems = 96});
    fails += gradcheck("BatchNorm inference [2,3,4,4]", bn_model(15, 0), &(gradcheck_opts){.params = bn_all});
    fails += gradcheck("BatchNorm training_mode=1 outputs (plain forward)", bn_model(15, 1),
                       &(gradcheck_opts){.params = bn_all, .max_elems = 96});
    fails += bn_running_stats();

    /* LayerNormalization */
    const int64_t d4[] = {4}, d34[] = {3, 4}, d14[] = {1, 4}, d1[] = {1};
    fails += gradcheck("LayerNorm axis=-1", ln_model(-1, 1, d4, 1, d4, 0),
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b")});
    fails += gradcheck("LayerNorm axis=1 (last two)", ln_model(1, 2, d34, 2, d34, 0),
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b")});
    fails += gradcheck("LayerNorm axis=-2, Scale [1,4], B [1] (broadcast)", ln_model(-2, 2, d14, 1, d1, 0),
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b")});
    fails += gradcheck("LayerNorm axis=-1 with Mean/InvStdDev outputs", ln_model(-1, 1, d4, 1, d4, 1),
                       &(gradcheck_opts){.params = PARAMS("x", "scale", "b")});

    /* MaxPool */
    const int64_t x77[] = {1, 2, 7, 7}, x66[] = {1, 2, 6, 6}, x28[] = {2, 1, 8, 7};
    const int64_t k3[] = {3, 3}, k2[] = {2, 2}, s2[] = {2, 2}, s1[] = {1, 1}, p1[] = {1, 1, 1, 1};
    const int64_t p01[] = {0, 1, 1, 0}, dil2[] = {2, 2};
    const char *const *px = PARAMS("x");
    fails += gradcheck("MaxPool 3x3 s2 p1", pool_model("MaxPool", 13, x77, k3, s2, p1, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 98});
    fails += gradcheck("MaxPool 2x2 s2", pool_model("MaxPool", 13, x66, k2, s2, NULL, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 72});
    fails += gradcheck("MaxPool 3x3 s1 p1 (overlapping)", pool_model("MaxPool", 13, x66, k3, s1, p1, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 72});
    fails += gradcheck("MaxPool 2x2 s2 dilation 2 ceil_mode pads",
                       pool_model("MaxPool", 13, x28, k2, s2, p01, dil2, 1, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 112});

    /* AveragePool */
    fails += gradcheck("AveragePool 3x3 s2 p1", pool_model("AveragePool", 13, x77, k3, s2, p1, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 98});
    fails += gradcheck("AveragePool 3x3 s2 p1 count_include_pad",
                       pool_model("AveragePool", 13, x77, k3, s2, p1, NULL, 0, 1),
                       &(gradcheck_opts){.params = px, .max_elems = 98});
    fails += gradcheck("AveragePool 3x3 s2 p1 ceil_mode", pool_model("AveragePool", 13, x66, k3, s2, p1, NULL, 1, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 72});
    fails += gradcheck("AveragePool 3x3 s2 p1 ceil_mode count_include_pad",
                       pool_model("AveragePool", 13, x66, k3, s2, p1, NULL, 1, 1),
                       &(gradcheck_opts){.params = px, .max_elems = 72});
    fails += gradcheck("AveragePool 2x2 s2 dilation 2 ceil_mode pads (opset 19)",
                       pool_model("AveragePool", 19, x28, k2, s2, p01, dil2, 1, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 112});

    /* Global pools */
    const int64_t x2345[] = {2, 3, 4, 5};
    fails += gradcheck("GlobalAveragePool [2,3,4,5]",
                       pool_model("GlobalAveragePool", 13, x2345, NULL, NULL, NULL, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 120});
    fails += gradcheck("GlobalMaxPool [2,3,4,5]", pool_model("GlobalMaxPool", 13, x2345, NULL, NULL, NULL, NULL, 0, 0),
                       &(gradcheck_opts){.params = px, .max_elems = 120});

    fails += lrn_instancenorm();

    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
