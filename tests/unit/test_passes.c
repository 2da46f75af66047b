/* Graph passes: BatchNorm folding keeps the outputs and removes the nodes
 * it may remove, and only those. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/edit.h"
#include "passes/passes.h"

static qfd_model *conv_bn(bool bias, bool share)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {2, 3, 6, 6}, w[] = {4, 3, 3, 3}, c[] = {4};
    mb_input(m, "x", 4, x);
    mb_param(m, "w", 4, w, NULL, -1, 1);
    if (bias)
        mb_param(m, "b", 1, c, NULL, -1, 1);
    mb_param(m, "s", 1, c, NULL, 0.5f, 2.0f);
    mb_param(m, "t", 1, c, NULL, -1, 1);
    mb_param(m, "mu", 1, c, NULL, -1, 1);
    mb_param(m, "var", 1, c, NULL, 0.2f, 2.0f);
    qfd_node *n = mb_node(m, "Conv", bias ? 3 : 2, (const char *[]){"x", "w", "b"}, 1, (const char *[]){"c"});
    mb_attr_ints(n, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    n = mb_node(m, "BatchNormalization", 5, (const char *[]){"c", "s", "t", "mu", "var"}, 1, (const char *[]){"y"});
    mb_attr_float(n, "epsilon", 1e-3f);
    if (share)
        mb_node(m, "Relu", 1, (const char *[]){"c"}, 1, (const char *[]){"r"});
    mb_output(m, "y");
    if (share)
        mb_output(m, "r");
    return m;
}

/* Runs m on a fixed input of the given shape (at most 2*4*6*6 elements). */
static void run_shape(qfd_ctx *ctx, qfd_model *m, int rank, const int64_t *dims, float *out, size_t n)
{
    static float x[2 * 4 * 6 * 6];
    qfd_array in = {QFD_DT_FLOAT, rank, {0}, x, 0};
    size_t numel = 1;
    for (int k = 0; k < rank; k++)
        numel *= (size_t)(in.dims[k] = dims[k]);
    for (size_t i = 0; i < numel; i++)
        x[i] = sinf((float)i * 0.37f);
    in.nbytes = numel * sizeof *x;
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    if (!e)
        return;
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    const qfd_array *y = qfd_exec_output(e, 0);
    CHECK(y->nbytes == n * sizeof *out);
    if (y->nbytes == n * sizeof *out)
        memcpy(out, y->data, n * sizeof *out);
    qfd_exec_free(e);
}

static void run(qfd_ctx *ctx, qfd_model *m, float *out, size_t n)
{
    run_shape(ctx, m, 4, (const int64_t[]){2, 3, 6, 6}, out, n);
}

/* The folded Conv weight and bias, exactly as the formula in passes.h gives
 * them (double s, one rounding to float): the arithmetic the Conv fold has
 * always used, kept bit for bit. */
static void check_conv_exact(const qfd_model *before, const qfd_model *after, bool bias)
{
    const qfd_graph *g0 = &before->graph, *g1 = &after->graph;
    const float *w = qfd_graph_float_init(g0, qfd_graph_find(g0, "w"), 108);
    const float *sc = qfd_graph_float_init(g0, qfd_graph_find(g0, "s"), 4);
    const float *sh = qfd_graph_float_init(g0, qfd_graph_find(g0, "t"), 4);
    const float *mu = qfd_graph_float_init(g0, qfd_graph_find(g0, "mu"), 4);
    const float *var = qfd_graph_float_init(g0, qfd_graph_find(g0, "var"), 4);
    const float *b = bias ? qfd_graph_float_init(g0, qfd_graph_find(g0, "b"), 4) : NULL;
    const qfd_node *conv = &g1->nodes[0];
    const float *nw = qfd_graph_float_init(g1, conv->in[1], 108), *nb = qfd_graph_float_init(g1, conv->in[2], 4);
    CHECK(w && sc && sh && mu && var && (b || !bias) && nw && nb);
    if (!w || !sc || !sh || !mu || !var || (!b && bias) || !nw || !nb)
        return;
    int same = 1;
    for (int o = 0; o < 4; o++) {
        double s = (double)sc[o] / sqrt((double)var[o] + 1e-3f);
        for (int j = 0; j < 27; j++)
            same &= nw[o * 27 + j] == (float)(w[o * 27 + j] * s);
        same &= nb[o] == (float)(((b ? b[o] : 0.0) - mu[o]) * s + sh[o]);
    }
    CHECK(same);
}

static void check_fold(qfd_ctx *ctx, bool bias)
{
    enum { N = 2 * 4 * 6 * 6 };
    static float before[N], after[N];
    qfd_model *m = conv_bn(bias, false), *orig = conv_bn(bias, false);
    run(ctx, m, before, N);
    int folded = 0;
    CHECK_OK(ctx, qfd_pass_fold_bn(ctx, m, &folded));
    CHECK(folded == 1);
    CHECK(m->graph.n_nodes == 1 && !strcmp(m->graph.nodes[0].op_type, "Conv"));
    CHECK(m->graph.n_inits == 2); /* the folded weight and bias only */
    if (folded == 1 && m->graph.n_nodes == 1)
        check_conv_exact(orig, m, bias);
    run(ctx, m, after, N);
    double worst = 0;
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(before[i] - after[i]) / fmax(1.0, fabs(before[i])));
    printf("fold_bn (%s bias): largest relative change %.2g\n", bias ? "with" : "without", worst);
    CHECK(worst < 1e-5);
    qfd_model_free(orig);
    qfd_model_free(m);
}

/* Appends BatchNormalization(y -> out) over c channels, statistics random. */
static void add_bn(qfd_model *m, int64_t c)
{
    const int64_t d[] = {c};
    mb_param(m, "s", 1, d, NULL, 0.5f, 2.0f);
    mb_param(m, "t", 1, d, NULL, -1, 1);
    mb_param(m, "mu", 1, d, NULL, -1, 1);
    mb_param(m, "var", 1, d, NULL, 0.2f, 2.0f);
    qfd_node *n = mb_node(m, "BatchNormalization", 5, (const char *[]){"y", "s", "t", "mu", "var"}, 1,
                          (const char *[]){"out"});
    mb_attr_float(n, "epsilon", 1e-3f);
    mb_output(m, "out");
}

/* ConvTranspose 4 -> 6 channels in 2 groups (W [4, 3, 3, 3]): channel o of
 * the output is (input group) * 3 + axis-1 index, which the fold must get
 * right for both groups. */
static qfd_model *convt_bn(bool bias)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {2, 4, 5, 5}, w[] = {4, 3, 3, 3}, c[] = {6};
    mb_input(m, "x", 4, x);
    mb_param(m, "w", 4, w, NULL, -1, 1);
    if (bias)
        mb_param(m, "b", 1, c, NULL, -1, 1);
    qfd_node *n = mb_node(m, "ConvTranspose", bias ? 3 : 2, (const char *[]){"x", "w", "b"}, 1, (const char *[]){"y"});
    mb_attr_int(n, "group", 2);
    mb_attr_ints(n, "strides", 2, (const int64_t[]){2, 2});
    mb_attr_ints(n, "pads", 4, (const int64_t[]){1, 1, 1, 1});
    add_bn(m, 6);
    return m;
}

enum gemm_c { C_NONE, C_VEC, C_ROW, C_SCALAR, C_FULL };

/* Gemm x [5, 7] -> [5, 3], B as [3, 7] (transB) or [7, 3], with bias C of
 * the given form, alpha 0.75 and beta 0.5 (so that both must be honoured). */
static qfd_model *gemm_bn(bool trans_b, enum gemm_c cform)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {5, 7}, bt[] = {3, 7}, bn[] = {7, 3};
    const int64_t cdims[][2] = {{0, 0}, {3, 0}, {1, 3}, {1, 0}, {5, 3}};
    const int crank[] = {0, 1, 2, 1, 2};
    mb_input(m, "x", 2, x);
    mb_param(m, "w", 2, trans_b ? bt : bn, NULL, -1, 1);
    if (cform != C_NONE)
        mb_param(m, "c", crank[cform], cdims[cform], NULL, -1, 1);
    qfd_node *n = mb_node(m, "Gemm", cform != C_NONE ? 3 : 2, (const char *[]){"x", "w", "c"}, 1,
                          (const char *[]){"y"});
    mb_attr_int(n, "transB", trans_b);
    mb_attr_float(n, "alpha", 0.75f);
    mb_attr_float(n, "beta", 0.5f);
    add_bn(m, 3);
    return m;
}

/* Folds m and compares its output with the unfolded model's, in inference
 * mode, within 1e-5 relative; want: BatchNorms expected to fold. */
static void compare_fold(qfd_ctx *ctx, qfd_model *m, int rank, const int64_t *dims, size_t n_out, int want,
                         const char *what)
{
    enum { CAP = 2 * 6 * 10 * 10 };
    static float before[CAP], after[CAP];
    CHECK(n_out <= CAP);
    run_shape(ctx, m, rank, dims, before, n_out);
    size_t nodes = m->graph.n_nodes;
    /* the layer's weight before folding, to check the reported factors */
    float *w0 = NULL;
    int64_t n0 = 0;
    for (size_t i = 0; i < m->graph.n_nodes && !w0; i++) {
        const qfd_node *n = &m->graph.nodes[i];
        if (n->n_in > 1 && (qfd_node_is(n, "Conv") || qfd_node_is(n, "ConvTranspose") || qfd_node_is(n, "Gemm"))) {
            n0 = qfd_tensor_numel(&m->graph.tensors[n->in[1]]);
            if ((w0 = malloc((size_t)n0 * sizeof *w0)))
                memcpy(w0, m->graph.tensors[n->in[1]].data, (size_t)n0 * sizeof *w0);
        }
    }
    CHECK(w0 != NULL);
    int folded = -1;
    qfd_fold_factors ff;
    CHECK_OK(ctx, qfd_pass_fold_bn_factors(ctx, m, &folded, &ff));
    CHECK(folded == want && ff.n == (size_t)want);
    /* W' = W * s, element by element, with s the factor reported */
    for (size_t k = 0; k < ff.n; k++) {
        int t = qfd_graph_find(&m->graph, ff.f[k].weight);
        CHECK(t >= 0 && ff.f[k].n == n0 && qfd_tensor_numel(&m->graph.tensors[t]) == n0);
        const float *wf = t >= 0 ? m->graph.tensors[t].data : NULL;
        for (int64_t i = 0; wf && w0 && i < n0 && ff.f[k].n == n0; i++)
            CHECK(fabs(wf[i] - w0[i] * ff.f[k].s[i]) <= 1e-5 * fmax(1.0, fabs(wf[i])) && ff.f[k].s[i] != 0);
    }
    qfd_fold_factors_free(&ff);
    free(w0);
    CHECK(m->graph.n_nodes == nodes - (size_t)want);
    for (size_t i = 0; want && i < m->graph.n_nodes; i++)
        CHECK(strcmp(m->graph.nodes[i].op_type, "BatchNormalization"));
    run_shape(ctx, m, rank, dims, after, n_out);
    double worst = 0;
    for (size_t i = 0; i < n_out; i++)
        worst = fmax(worst, fabs(before[i] - after[i]) / fmax(1.0, fabs(before[i])));
    printf("fold_bn %s: %d folded, largest relative change %.2g\n", what, folded, worst);
    CHECK(worst < 1e-5);
    qfd_model_free(m);
}

static void check_fold_forms(qfd_ctx *ctx)
{
    /* ConvTranspose: [2,4,5,5] -> [2,6,9,9] (stride 2, pads 1, kernel 3). */
    const int64_t xt[] = {2, 4, 5, 5}, xg[] = {5, 7};
    compare_fold(ctx, convt_bn(true), 4, xt, 2 * 6 * 9 * 9, 1, "ConvTranspose group 2, bias");
    compare_fold(ctx, convt_bn(false), 4, xt, 2 * 6 * 9 * 9, 1, "ConvTranspose group 2, no bias");
    const char *cname[] = {"no C", "C [N]", "C [1,N]", "C scalar", "C [M,N]"};
    for (int tb = 0; tb < 2; tb++)
        for (int c = C_NONE; c <= C_FULL; c++) {
            char what[64];
            snprintf(what, sizeof what, "Gemm transB=%d, %s", tb, cname[c]);
            /* A C that varies along M is not a per-channel bias: left alone. */
            compare_fold(ctx, gemm_bn(tb, (enum gemm_c)c), 2, xg, 5 * 3, c == C_FULL ? 0 : 1, what);
        }
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    check_fold(ctx, true);
    check_fold(ctx, false);
    check_fold_forms(ctx);
    /* The conv output feeds something else too: folding would change it. */
    qfd_model *m = conv_bn(true, true);
    int folded = -1;
    CHECK_OK(ctx, qfd_pass_fold_bn(ctx, m, &folded));
    CHECK(folded == 0 && m->graph.n_nodes == 3);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
