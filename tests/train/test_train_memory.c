/* Training plans that share values (qfd_exec_share_values, as the trainer
 * plans): each op's backward_reads must name every value its backward
 * reads. Each case puts the op between other nodes,
 *     x -> Add(p0) -> a -> OP -> b -> Add(p1) -> c -> Mul(p2) -> d -> Add(p3) -> y,
 * so that the memory of a value the op says its backward does not read
 * (a, or b) is taken by c or d before the sweep gets back to the op; every
 * parameter's gradient must then be bit for bit that of a plan where each
 * value has a buffer of its own, and the shared plan must be smaller. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "../support/seeded_step.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

typedef struct op_case {
    const char *label;
    int a_rank;
    int64_t a_dims[4];
    float lo, hi; /* range of a = x + p0 */
    /* adds the op's node (reading "a", writing "b") and its parameters, whose
     * names start with "q" */
    void (*build)(qfd_model *m);
} op_case;

static qfd_node *unary(qfd_model *m, const char *op)
{
    return mb_node(m, op, 1, (const char *[]){"a"}, 1, (const char *[]){"b"});
}

static void b_conv(qfd_model *m)
{
    mb_param(m, "qw", 4, DIMS(3, 4, 3, 3), NULL, -0.5f, 0.5f);
    mb_param(m, "qb", 1, DIMS(3), NULL, -0.5f, 0.5f);
    qfd_node *n = mb_node(m, "Conv", 3, (const char *[]){"a", "qw", "qb"}, 1, (const char *[]){"b"});
    mb_attr_ints(n, "pads", 4, DIMS(1, 1, 1, 1));
}

/* The same products with a frozen constant operand: only the gradient of
 * the activation is computed, which does not read the activation. */
static void b_conv_const(qfd_model *m)
{
    mb_param(m, "qkw", 4, DIMS(3, 4, 3, 3), NULL, -0.5f, 0.5f);
    qfd_node *n = mb_node(m, "Conv", 2, (const char *[]){"a", "qkw"}, 1, (const char *[]){"b"});
    mb_attr_ints(n, "pads", 4, DIMS(1, 1, 1, 1));
}

static void b_gemm_const(qfd_model *m)
{
    mb_param(m, "qkw", 2, DIMS(8, 5), NULL, -0.5f, 0.5f);
    mb_node(m, "Gemm", 2, (const char *[]){"a", "qkw"}, 1, (const char *[]){"b"});
}

static void b_matmul_const(qfd_model *m)
{
    mb_param(m, "qkw", 2, DIMS(8, 5), NULL, -0.5f, 0.5f);
    mb_node(m, "MatMul", 2, (const char *[]){"a", "qkw"}, 1, (const char *[]){"b"});
}

static void b_mul_const(qfd_model *m)
{
    mb_param(m, "qko", 4, DIMS(1, 4, 1, 5), NULL, -1, 1);
    mb_node(m, "Mul", 2, (const char *[]){"a", "qko"}, 1, (const char *[]){"b"});
}

static void b_div_const(qfd_model *m)
{
    mb_param(m, "qko", 4, DIMS(1, 4, 1, 5), NULL, 1, 2);
    mb_node(m, "Div", 2, (const char *[]){"a", "qko"}, 1, (const char *[]){"b"});
}

/* a constant over the activation: its gradient reads both */
static void b_div_act(qfd_model *m)
{
    mb_param(m, "qko", 4, DIMS(1, 4, 1, 5), NULL, 1, 2);
    mb_node(m, "Div", 2, (const char *[]){"qko", "a"}, 1, (const char *[]){"b"});
}

static void b_gemm(qfd_model *m)
{
    mb_param(m, "qw", 2, DIMS(8, 5), NULL, -0.5f, 0.5f);
    mb_param(m, "qc", 1, DIMS(5), NULL, -0.5f, 0.5f);
    mb_node(m, "Gemm", 3, (const char *[]){"a", "qw", "qc"}, 1, (const char *[]){"b"});
}

static void b_matmul(qfd_model *m)
{
    mb_param(m, "qw", 2, DIMS(8, 5), NULL, -0.5f, 0.5f);
    mb_node(m, "MatMul", 2, (const char *[]){"a", "qw"}, 1, (const char *[]){"b"});
}

static void fake_quant(qfd_model *m, int axis, int64_t qmin, int64_t qmax, int64_t n_steps)
{
    mb_param(m, "qs", 1, (const int64_t[]){n_steps}, NULL, 0.1f, 0.2f);
    qfd_node *n = mb_node(m, "FakeQuant", 2, (const char *[]){"a", "qs"}, 1, (const char *[]){"b"});
    mb_domain(m, n, "ai.qfd", 1);
    mb_attr_int(n, "qmin", qmin);
    mb_attr_int(n, "qmax", qmax);
    mb_attr_int(n, "axis", axis);
}

static void b_fq_tensor(qfd_model *m)
{
    fake_quant(m, 1, 0, 15, 1);
}

static void b_fq_channel(qfd_model *m)
{
    fake_quant(m, 1, -8, 7, 4);
}

static void b_clip(qfd_model *m)
{
    const float lo = -0.3f, hi = 0.4f;
    mb_const(m, "qlo", QFD_DT_FLOAT, 0, DIMS(1), &lo);
    mb_const(m, "qhi", QFD_DT_FLOAT, 0, DIMS(1), &hi);
    mb_node(m, "Clip", 3, (const char *[]){"a", "qlo", "qhi"}, 1, (const char *[]){"b"});
}

static void b_batchnorm(qfd_model *m)
{
    mb_param(m, "qscale", 1, DIMS(4), NULL, 0.5f, 1.5f);
    mb_param(m, "qbias", 1, DIMS(4), NULL, -0.5f, 0.5f);
    mb_param(m, "qmean", 1, DIMS(4), NULL, -0.2f, 0.2f);
    mb_param(m, "qvar", 1, DIMS(4), NULL, 0.5f, 1.5f);
    mb_node(m, "BatchNormalization", 5, (const char *[]){"a", "qscale", "qbias", "qmean", "qvar"}, 1,
            (const char *[]){"b"});
}

static void b_layernorm(qfd_model *m)
{
    mb_param(m, "qscale", 1, DIMS(8), NULL, 0.5f, 1.5f);
    mb_param(m, "qbias", 1, DIMS(8), NULL, -0.5f, 0.5f);
    mb_node(m, "LayerNormalization", 3, (const char *[]){"a", "qscale", "qbias"}, 1, (const char *[]){"b"});
}

static void pool(qfd_model *m, const char *op)
{
    qfd_node *n = unary(m, op);
    mb_attr_ints(n, "kernel_shape", 2, DIMS(2, 2));
}

static void b_maxpool(qfd_model *m)
{
    pool(m, "MaxPool");
}

static void b_avgpool(qfd_model *m)
{
    pool(m, "AveragePool");
}

#define UNARY(fn, op)            \
    static void fn(qfd_model *m) \
    {                            \
        unary(m, op);            \
    }
UNARY(b_gap, "GlobalAveragePool")
UNARY(b_gmp, "GlobalMaxPool")
UNARY(b_softmax, "Softmax")
UNARY(b_logsoftmax, "LogSoftmax")
UNARY(b_relu, "Relu")
UNARY(b_sigmoid, "Sigmoid")
UNARY(b_tanh, "Tanh")
UNARY(b_exp, "Exp")
UNARY(b_sqrt, "Sqrt")
UNARY(b_log, "Log")
UNARY(b_recip, "Reciprocal")
UNARY(b_neg, "Neg")
UNARY(b_abs, "Abs")
UNARY(b_erf, "Erf")
UNARY(b_leaky, "LeakyRelu")
UNARY(b_hsigmoid, "HardSigmoid")
UNARY(b_hswish, "HardSwish")
UNARY(b_identity, "Identity")
UNARY(b_dropout, "Dropout")
UNARY(b_flatten, "Flatten")

static void binary(qfd_model *m, const char *op, float lo, float hi)
{
    mb_param(m, "qo", 4, DIMS(1, 4, 1, 5), NULL, lo, hi);
    mb_node(m, op, 2, (const char *[]){"a", "qo"}, 1, (const char *[]){"b"});
}

static void b_add(qfd_model *m)
{
    binary(m, "Add", -1, 1);
}

static void b_sub(qfd_model *m)
{
    binary(m, "Sub", -1, 1);
}

static void b_mul(qfd_model *m)
{
    binary(m, "Mul", -1, 1);
}

static void b_div(qfd_model *m)
{
    binary(m, "Div", 1, 2);
}

static void b_pow(qfd_model *m)
{
    const float e = 1.5f;
    mb_const(m, "qe", QFD_DT_FLOAT, 0, DIMS(1), &e);
    mb_node(m, "Pow", 2, (const char *[]){"a", "qe"}, 1, (const char *[]){"b"});
}

static void b_pow_param(qfd_model *m)
{
    mb_param(m, "qpe", 0, DIMS(1), NULL, 1.2f, 1.8f);
    mb_node(m, "Pow", 2, (const char *[]){"a", "qpe"}, 1, (const char *[]){"b"});
}

static void reduce(qfd_model *m, const char *op)
{
    const int64_t axes[] = {1, 3};
    mb_const(m, "qaxes", QFD_DT_INT64, 1, DIMS(2), axes);
    mb_node(m, op, 2, (const char *[]){"a", "qaxes"}, 1, (const char *[]){"b"});
}

static void b_reducesum(qfd_model *m)
{
    reduce(m, "ReduceSum");
}

static void b_reducemean(qfd_model *m)
{
    reduce(m, "ReduceMean");
}

static void b_slice(qfd_model *m)
{
    const int64_t starts[] = {1, 1}, ends[] = {3, 5}, axes[] = {1, 3};
    mb_const(m, "qstarts", QFD_DT_INT64, 1, DIMS(2), starts);
    mb_const(m, "qends", QFD_DT_INT64, 1, DIMS(2), ends);
    mb_const(m, "qaxes", QFD_DT_INT64, 1, DIMS(2), axes);
    mb_node(m, "Slice", 4, (const char *[]){"a", "qstarts", "qends", "qaxes"}, 1, (const char *[]){"b"});
}

static void b_expand(qfd_model *m)
{
    const int64_t shape[] = {3, 1, 1, 1, 1};
    mb_const(m, "qshape", QFD_DT_INT64, 1, DIMS(5), shape);
    mb_node(m, "Expand", 2, (const char *[]){"a", "qshape"}, 1, (const char *[]){"b"});
}

static void b_gather(qfd_model *m)
{
    const int64_t idx[] = {3, 0, 3};
    mb_const(m, "qidx", QFD_DT_INT64, 1, DIMS(3), idx);
    mb_attr_int(mb_node(m, "Gather", 2, (const char *[]){"a", "qidx"}, 1, (const char *[]){"b"}), "axis", 1);
}

static void b_cast(qfd_model *m)
{
    mb_attr_int(unary(m, "Cast"), "to", QFD_DT_FLOAT);
}

static void b_transpose(qfd_model *m)
{
    mb_attr_ints(unary(m, "Transpose"), "perm", 4, DIMS(0, 2, 3, 1));
}

static void b_reshape(qfd_model *m)
{
    const int64_t shape[] = {2, 20, 5};
    mb_const(m, "qshape", QFD_DT_INT64, 1, DIMS(3), shape);
    mb_node(m, "Reshape", 2, (const char *[]){"a", "qshape"}, 1, (const char *[]){"b"});
}

static void b_concat(qfd_model *m)
{
    mb_param(m, "qo", 4, DIMS(2, 2, 5, 5), NULL, -1, 1);
    mb_attr_int(mb_node(m, "Concat", 2, (const char *[]){"a", "qo"}, 1, (const char *[]){"b"}), "axis", 1);
}

static void b_split(qfd_model *m)
{
    /* the second half is unused: its gradient is zero */
    mb_attr_int(mb_node(m, "Split", 1, (const char *[]){"a"}, 2, (const char *[]){"b", "qrest"}), "axis", 1);
}

#define NCHW       \
    4,             \
    {              \
        2, 4, 5, 5 \
    }
static const op_case k_cases[] = {
    {"Conv", NCHW, -1, 1, b_conv},
    {"Gemm", 2, {6, 8}, -1, 1, b_gemm},
    {"Conv, frozen weights", NCHW, -1, 1, b_conv_const},
    {"Gemm, frozen weights", 2, {6, 8}, -1, 1, b_gemm_const},
    {"MatMul, frozen weights", 3, {2, 6, 8}, -1, 1, b_matmul_const},
    {"Mul by a constant", NCHW, -1, 1, b_mul_const},
    {"Div by a constant", NCHW, -1, 1, b_div_const},
    {"Div of a constant", NCHW, 0.5f, 2, b_div_act},
    {"MatMul", 3, {2, 6, 8}, -1, 1, b_matmul},
    {"FakeQuant per tensor", NCHW, -0.5f, 2.5f, b_fq_tensor},
    {"FakeQuant per channel", NCHW, -1.5f, 1.5f, b_fq_channel},
    {"Clip", NCHW, -1, 1, b_clip},
    {"BatchNormalization", NCHW, -1, 1, b_batchnorm},
    {"LayerNormalization", 3, {2, 6, 8}, -1, 1, b_layernorm},
    {"MaxPool", NCHW, -1, 1, b_maxpool},
    {"AveragePool", NCHW, -1, 1, b_avgpool},
    {"GlobalAveragePool", NCHW, -1, 1, b_gap},
    {"GlobalMaxPool", NCHW, -1, 1, b_gmp},
    {"Softmax", NCHW, -1, 1, b_softmax},
    {"LogSoftmax", NCHW, -1, 1, b_logsoftmax},
    {"Relu", NCHW, -1, 1, b_relu},
    {"Sigmoid", NCHW, -1, 1, b_sigmoid},
    {"Tanh", NCHW, -1, 1, b_tanh},
    {"Exp", NCHW, -1, 1, b_exp},
    {"Sqrt", NCHW, 0.5f, 2, b_sqrt},
    {"Log", NCHW, 0.5f, 2, b_log},
    {"Reciprocal", NCHW, 0.5f, 2, b_recip},
    {"Neg", NCHW, -1, 1, b_neg},
    {"Abs", NCHW, -1, 1, b_abs},
    {"Erf", NCHW, -1, 1, b_erf},
    {"LeakyRelu", NCHW, -1, 1, b_leaky},
    {"HardSigmoid", NCHW, -4, 4, b_hsigmoid},
    {"HardSwish", NCHW, -4, 4, b_hswish},
    {"Identity", NCHW, -1, 1, b_identity},
    {"Dropout", NCHW, -1, 1, b_dropout},
    {"Flatten", NCHW, -1, 1, b_flatten},
    {"Add", NCHW, -1, 1, b_add},
    {"Sub", NCHW, -1, 1, b_sub},
    {"Mul", NCHW, -1, 1, b_mul},
    {"Div", NCHW, -1, 1, b_div},
    {"Pow", NCHW, 0.5f, 2, b_pow},
    {"Pow, trained exponent", NCHW, 0.5f, 2, b_pow_param},
    {"ReduceSum", NCHW, -1, 1, b_reducesum},
    {"ReduceMean", NCHW, -1, 1, b_reducemean},
    {"Slice", NCHW, -1, 1, b_slice},
    {"Expand", NCHW, -1, 1, b_expand},
    {"Gather", NCHW, -1, 1, b_gather},
    {"Cast", NCHW, -1, 1, b_cast},
    {"Transpose", NCHW, -1, 1, b_transpose},
    {"Reshape", NCHW, -1, 1, b_reshape},
    {"Concat", NCHW, -1, 1, b_concat},
    {"Split", NCHW, -1, 1, b_split},
};

static qfd_model *chain(const op_case *c)
{
    qfd_model *m = mb_new(17);
    mb_input(m, "x", c->a_rank, c->a_dims);
    mb_param(m, "p0", c->a_rank, c->a_dims, NULL, 0, 0.25f);
    mb_node(m, "Add", 2, (const char *[]){"x", "p0"}, 1, (const char *[]){"a"});
    c->build(m);
    return m;
}

/* b's shape (p1..p3 take it), from an inference run of the chain up to b. */
static int b_shape(const op_case *c, qfd_array *x, int64_t *dims)
{
    qfd_model *m = chain(c);
    mb_output(m, "b");
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    int rank = -1;
    if (!qfd_exec_new(ctx, m, 1, &e) && !qfd_exec_run(ctx, e, x, 1)) {
        const qfd_array *b = qfd_exec_output(e, 0);
        rank = b->rank;
        memcpy(dims, b->dims, (size_t)rank * sizeof *dims);
    } else {
        fprintf(stderr, "%s: %s\n", c->label, qfd_ctx_error(ctx));
    }
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return rank;
}

static qfd_model *full(const op_case *c, int rank, const int64_t *dims)
{
    qfd_model *m = chain(c);
    mb_param(m, "p1", rank, dims, NULL, -0.5f, 0.5f);
    mb_param(m, "p2", rank, dims, NULL, 0.5f, 1.5f);
    mb_param(m, "p3", rank, dims, NULL, -0.5f, 0.5f);
    mb_node(m, "Add", 2, (const char *[]){"b", "p1"}, 1, (const char *[]){"c"});
    mb_node(m, "Mul", 2, (const char *[]){"c", "p2"}, 1, (const char *[]){"d"});
    mb_node(m, "Add", 2, (const char *[]){"d", "p3"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

/* Clip's bounds, Pow's exponent, BatchNormalization's statistics, and
 * the frozen operands ("qk...") */
static bool frozen(const char *name)
{
    return !strncmp(name, "qk", 2) || !strcmp(name, "qlo") || !strcmp(name, "qhi") || !strcmp(name, "qe") ||
           !strcmp(name, "qmean") || !strcmp(name, "qvar");
}

/* One training step's parameter gradients (concatenated into *grads, in
 * tensor order) and the executor's memory. */
static int step(const op_case *c, qfd_model *m, qfd_array *x, bool share, float **grads, size_t *n_grads,
                size_t *memory)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    const qfd_graph *g = &m->graph;
    uint8_t *train = calloc(g->n_tensors + 1, 1);
    int ok = 0;
    size_t n = 0;
    for (size_t t = 0; t < g->n_tensors; t++)
        if ((g->tensors[t].flags & QFD_T_INITIALIZER) && g->tensors[t].dtype == QFD_DT_FLOAT &&
            !frozen(g->tensors[t].name)) {
            train[t] = 1;
            n += (size_t)qfd_tensor_numel(&g->tensors[t]);
        }
    *grads = calloc(n + 1, sizeof **grads);
    *n_grads = n;
    if (!train || !*grads || qfd_exec_new(ctx, m, 2, &e) || qfd_exec_set_trainable(ctx, e, train))
        goto out;
    if (share)
        qfd_exec_share_values(e);
    if (seeded_step(ctx, e, x, 99))
        goto out;
    size_t at = 0;
    for (size_t t = 0; t < g->n_tensors; t++) {
        if (!train[t])
            continue;
        const qfd_array *gr = qfd_exec_grad(e, (int)t);
        if (!gr) {
            fprintf(stderr, "%s: no gradient for '%s'\n", c->label, g->tensors[t].name);
            goto out;
        }
        memcpy(*grads + at, gr->data, gr->nbytes);
        at += (size_t)qfd_array_numel(gr);
    }
    *memory = qfd_exec_memory(e);
    ok = 1;
out:
    if (!ok)
        fprintf(stderr, "%s (%s): %s\n", c->label, share ? "shared" : "own buffers", qfd_ctx_error(ctx));
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    return ok;
}

static void check_case(const op_case *c)
{
    float xv[400];
    const int64_t nx = c->a_dims[0] * c->a_dims[1] * (c->a_rank > 2 ? c->a_dims[2] : 1) *
                       (c->a_rank > 3 ? c->a_dims[3] : 1);
    for (int64_t i = 0; i < nx; i++)
        xv[i] = c->lo + (c->hi - c->lo) * (float)((i * 37) % 101) / 101.0f;
    qfd_array x = {QFD_DT_FLOAT, c->a_rank, {0}, xv, (size_t)nx * sizeof(float)};
    memcpy(x.dims, c->a_dims, sizeof c->a_dims);
    int64_t dims[QFD_ARRAY_MAX_RANK];
    int rank = b_shape(c, &x, dims);
    CHECK(rank >= 0);
    if (rank < 0)
        return;
    float *own = NULL, *shared = NULL;
    size_t n_own = 0, n_shared = 0, mem_own = 0, mem_shared = 0;
    qfd_model *m1 = full(c, rank, dims), *m2 = full(c, rank, dims);
    int ok = step(c, m1, &x, false, &own, &n_own, &mem_own) && step(c, m2, &x, true, &shared, &n_shared, &mem_shared);
    CHECK(ok);
    size_t differ = 0;
    for (size_t i = 0; ok && i < n_own; i++)
        differ += memcmp(&own[i], &shared[i], sizeof(float)) != 0;
    if (ok && (differ || mem_shared >= mem_own)) {
        fprintf(stderr, "%s: %zu of %zu gradient elements differ; memory %zu shared, %zu own buffers\n", c->label,
                differ, n_own, mem_shared, mem_own);
        qfd_test_failures++;
    } else if (ok) {
        printf("ok   %-22s %zu gradient elements equal; memory %zu bytes shared, %zu own buffers\n", c->label, n_own,
               mem_shared, mem_own);
    }
    free(own);
    free(shared);
    qfd_model_free(m1);
    qfd_model_free(m2);
}

int main(void)
{
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++)
        check_case(&k_cases[i]);
    return qfd_test_failures ? 1 : 0;
}
