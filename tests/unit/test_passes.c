/* Graph passes: BatchNorm folding keeps the outputs and removes the nodes
 * it may remove, and only those. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
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

static void run(qfd_ctx *ctx, qfd_model *m, float *out, size_t n)
{
    float x[2 * 3 * 6 * 6];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = sinf((float)i * 0.37f);
    qfd_array in = {QFD_DT_FLOAT, 4, {2, 3, 6, 6}, x, sizeof x};
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    if (!e)
        return;
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    memcpy(out, qfd_exec_output(e, 0)->data, n * sizeof *out);
    qfd_exec_free(e);
}

static void check_fold(qfd_ctx *ctx, bool bias)
{
    enum { N = 2 * 4 * 6 * 6 };
    static float before[N], after[N];
    qfd_model *m = conv_bn(bias, false);
    run(ctx, m, before, N);
    int folded = 0;
    CHECK_OK(ctx, qfd_pass_fold_bn(ctx, m, &folded));
    CHECK(folded == 1);
    CHECK(m->graph.n_nodes == 1 && !strcmp(m->graph.nodes[0].op_type, "Conv"));
    CHECK(m->graph.n_inits == 2); /* the folded weight and bias only */
    run(ctx, m, after, N);
    double worst = 0;
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(before[i] - after[i]) / fmax(1.0, fabs(before[i])));
    printf("fold_bn (%s bias): largest relative change %.2g\n", bias ? "with" : "without", worst);
    CHECK(worst < 1e-5);
    qfd_model_free(m);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    check_fold(ctx, true);
    check_fold(ctx, false);
    /* The conv output feeds something else too: folding would change it. */
    qfd_model *m = conv_bn(true, true);
    int folded = -1;
    CHECK_OK(ctx, qfd_pass_fold_bn(ctx, m, &folded));
    CHECK(folded == 0 && m->graph.n_nodes == 3);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
