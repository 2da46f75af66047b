/* Activation fusion: each Conv [-> Add] -> Relu / LeakyRelu / Clip it may
 * fuse becomes one com.microsoft FusedConv whose outputs equal the nodes'
 * bit for bit, on every Conv kernel (direct, depthwise, 1x1 sgemm, im2col)
 * and every shape of the sum input Z; what it must not fuse stays as it is. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/model_info.h"
#include "passes/passes.h"

enum { N = 2, C = 16, H = 9 };

typedef struct conv_case {
    const char *name;
    int64_t m, group, k, stride;
    int bias;
    const char *act; /* Relu, LeakyRelu, Clip (bounds from a Constant node and an initializer) */
} conv_case;

static qfd_model *build(const conv_case *cc, bool shared_output)
{
    qfd_model *m = mb_new(13);
    const int64_t x[] = {N, C, H, H}, w[] = {cc->m, C / cc->group, cc->k, cc->k}, b[] = {cc->m}, scalar[] = {0};
    mb_input(m, "x", 4, x);
    mb_param(m, "w", 4, w, NULL, -1, 1);
    if (cc->bias)
        mb_param(m, "b", 1, b, NULL, -1, 1);
    qfd_node *n = mb_node(m, "Conv", cc->bias ? 3 : 2, (const char *[]){"x", "w", "b"}, 1, (const char *[]){"c"});
    const int64_t p = cc->k / 2;
    mb_attr_ints(n, "pads", 4, (const int64_t[]){p, p, p, p});
    mb_attr_ints(n, "strides", 2, (const int64_t[]){cc->stride, cc->stride});
    mb_attr_int(n, "group", cc->group);
    if (!strcmp(cc->act, "Clip")) {
        const float six = 6.0f;
        n = mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"lo"});
        mb_attr_float(n, "value_float", 0.0f);
        mb_const(m, "hi", QFD_DT_FLOAT, 0, scalar, &six);
        mb_node(m, "Clip", 3, (const char *[]){"c", "lo", "hi"}, 1, (const char *[]){"y"});
    } else {
        n = mb_node(m, cc->act, 1, (const char *[]){"c"}, 1, (const char *[]){"y"});
        if (!strcmp(cc->act, "LeakyRelu"))
            mb_attr_float(n, "alpha", 0.2f);
    }
    if (shared_output)
        mb_node(m, "Neg", 1, (const char *[]){"c"}, 1, (const char *[]){"z"});
    mb_output(m, "y");
    if (shared_output)
        mb_output(m, "z");
    return m;
}

/* Runs m on a fixed input; returns the output's element count (0 on failure). */
static int64_t run(qfd_ctx *ctx, qfd_model *m, int threads, float *out, int64_t cap)
{
    static float x[N * C * H * H];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = 3.0f * sinf((float)i * 0.37f);
    qfd_array in = {QFD_DT_FLOAT, 4, {N, C, H, H}, x, sizeof x};
    qfd_exec *e = NULL;
    int64_t n = 0;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, threads, &e));
    if (!e)
        return 0;
    qfd_status st = qfd_exec_run(ctx, e, &in, 1);
    CHECK_OK(ctx, st);
    if (!st) {
        const qfd_array *y = qfd_exec_output(e, 0);
        n = qfd_array_numel(y);
        CHECK(n <= cap);
        memcpy(out, y->data, (size_t)(n < cap ? n : cap) * sizeof *out);
    }
    qfd_exec_free(e);
    return n;
}

static int count_op(const qfd_model *m, const char *op)
{
    int k = 0;
    for (size_t i = 0; i < m->graph.n_nodes; i++)
        k += !strcmp(m->graph.nodes[i].op_type, op);
    return k;
}

static void check_fused(qfd_ctx *ctx, const conv_case *cc)
{
    enum { CAP = N * 32 * H * H };
    static float before[CAP], after[CAP];
    for (int threads = 1; threads <= 2; threads++) {
        qfd_model *m = build(cc, false);
        const int64_t n = run(ctx, m, threads, before, CAP);
        int fused = 0;
        CHECK_OK(ctx, qfd_pass_fuse_act(ctx, m, &fused));
        CHECK(fused == 1);
        CHECK(m->graph.n_nodes == 1 && !strcmp(m->graph.nodes[0].op_type, "FusedConv") &&
              !strcmp(m->graph.nodes[0].domain, "com.microsoft"));
        CHECK(qfd_model_opset(m, "com.microsoft") == 1);
        CHECK(run(ctx, m, threads, after, CAP) == n && n > 0);
        int clipped = 0, same = 1;
        for (int64_t i = 0; i < n; i++) {
            same &= before[i] == after[i];
            clipped += before[i] == 6.0f || before[i] == 0.0f;
        }
        if (!same)
            fprintf(stderr, "%s (%d threads): fused outputs differ\n", cc->name, threads);
        CHECK(same);
        CHECK(clipped > 0 || strcmp(cc->act, "Clip")); /* the test reaches the bounds */
        qfd_model_free(m);
    }
    printf("fuse_act %s: outputs unchanged\n", cc->name);
}

/* Conv -> Add(., z) -> Relu, ResNet's block end, with z computed by the
 * graph from x: "same" Relu(x) (Z of Y's shape: direct path, or im2col for
 * a grouped conv), "channel" a per-channel mean [N,C,1,1] (Z broadcast),
 * "wide" the conv's output [N,C,1,1] broadcast into Relu(x) (Y is Z's
 * shape), "const" an initializer (a bias: not fused). */
static qfd_model *build_sum(const char *zkind, int group, int swap)
{
    qfd_model *m = mb_new(13);
    const bool wide = !strcmp(zkind, "wide");
    const int64_t k = wide ? H : 3, p = wide ? 0 : 1;
    const int64_t x[] = {N, C, H, H}, w[] = {C, C / group, k, k}, zc[] = {1, C, 1, 1};
    mb_input(m, "x", 4, x);
    mb_param(m, "w", 4, w, NULL, -0.3f, 0.3f);
    qfd_node *n = mb_node(m, "Conv", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"c"});
    mb_attr_ints(n, "pads", 4, (const int64_t[]){p, p, p, p});
    mb_attr_int(n, "group", group);
    if (!strcmp(zkind, "channel")) {
        n = mb_node(m, "ReduceMean", 1, (const char *[]){"x"}, 1, (const char *[]){"z"});
        mb_attr_ints(n, "axes", 2, (const int64_t[]){2, 3});
    } else if (!strcmp(zkind, "const")) {
        mb_param(m, "z", 4, zc, NULL, -1, 1);
    } else {
        mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"z"});
    }
    mb_node(m, "Add", 2, swap ? (const char *[]){"z", "c"} : (const char *[]){"c", "z"}, 1, (const char *[]){"s"});
    mb_node(m, "Relu", 1, (const char *[]){"s"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

static void check_sum(qfd_ctx *ctx, const char *zkind, int group, int swap)
{
    enum { CAP = N * C * H * H };
    static float before[CAP], after[CAP];
    for (int threads = 1; threads <= 2; threads++) {
        qfd_model *m = build_sum(zkind, group, swap);
        const int64_t n = run(ctx, m, threads, before, CAP);
        int fused = 0;
        CHECK_OK(ctx, qfd_pass_fuse_act(ctx, m, &fused));
        const bool want = strcmp(zkind, "const") != 0;
        /* the sum, then the Relu; a constant Z leaves Conv, Add and Relu */
        CHECK(fused == (want ? 2 : 0));
        CHECK(count_op(m, "Add") == !want && count_op(m, "FusedConv") == want);
        for (size_t i = 0; i < m->graph.n_nodes; i++)
            if (!strcmp(m->graph.nodes[i].op_type, "FusedConv"))
                CHECK(m->graph.nodes[i].n_in == 4);
        CHECK(run(ctx, m, threads, after, CAP) == n && n == CAP);
        int same = 1, zeros = 0;
        for (int64_t i = 0; i < n; i++) {
            same &= before[i] == after[i];
            zeros += before[i] == 0.0f;
        }
        if (!same)
            fprintf(stderr, "sum %s group %d swap %d (%d threads): fused outputs differ\n", zkind, group, swap,
                    threads);
        CHECK(same && zeros > 0 && zeros < n);
        qfd_model_free(m);
    }
    printf("fuse_act Conv + Add(%s%s%s) + Relu: outputs unchanged\n", zkind, group > 1 ? ", grouped" : "",
           swap ? ", Z first" : "");
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    const conv_case cases[] = {
        {"direct 3x3 + Clip", 32, 1, 3, 1, 1, "Clip"},
        {"depthwise 3x3 stride 2 + Clip", 16, 16, 3, 2, 1, "Clip"},
        {"depthwise x2 + Relu", 32, 16, 3, 1, 0, "Relu"},
        {"1x1 + Clip", 24, 1, 1, 1, 1, "Clip"},
        {"1x1 no bias + LeakyRelu", 24, 1, 1, 1, 0, "LeakyRelu"},
        {"grouped 3x3 (im2col) + Relu", 8, 2, 3, 1, 1, "Relu"},
        {"strided 3x3 (im2col) + LeakyRelu", 12, 1, 3, 2, 1, "LeakyRelu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_fused(ctx, &cases[i]);
    check_sum(ctx, "same", 1, 0);
    check_sum(ctx, "same", 1, 1);
    check_sum(ctx, "same", 2, 0);
    check_sum(ctx, "channel", 1, 0);
    check_sum(ctx, "wide", 1, 1);
    check_sum(ctx, "const", 1, 0);

    /* The Conv's output is read elsewhere too: fusing would change it. */
    qfd_model *m = build(&cases[0], true);
    int fused = -1;
    CHECK_OK(ctx, qfd_pass_fuse_act(ctx, m, &fused));
    CHECK(fused == 0 && count_op(m, "Conv") == 1 && count_op(m, "Clip") == 1);
    CHECK(qfd_model_opset(m, "com.microsoft") < 0);
    qfd_model_free(m);

    /* A bound a caller may feed is not known: no fusion. */
    m = build(&cases[0], false);
    for (size_t t = 0; t < m->graph.n_tensors; t++)
        if (!strcmp(m->graph.tensors[t].name, "hi"))
            m->graph.tensors[t].flags |= QFD_T_INPUT;
    CHECK_OK(ctx, qfd_pass_fuse_act(ctx, m, &fused));
    CHECK(fused == 0 && count_op(m, "Clip") == 1);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
