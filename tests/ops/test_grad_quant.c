/* FakeQuant (ai.qfd): forward exactly as QuantizeLinear -> DequantizeLinear
 * computes it (ties to even), the straight-through input gradient and the
 * LSQ step gradient against their formulas in double, per tensor and per
 * channel, signed and unsigned ranges, values of both signs inside and
 * outside the range; central differences where the step gradient is the
 * true derivative (clamped values); bad attributes and steps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "train/trainer.h"

/* y = FakeQuant(x, s) with x and s float initializers. */
static qfd_model *fq_model(int rank, const int64_t *dims, const float *x, int64_t n_s, const float *s, int qmin,
                           int qmax, int axis, float grad_scale)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, x, -1, 1);
    mb_param(m, "s", 1, &n_s, s, 0, 0);
    qfd_node *n = mb_node(m, "FakeQuant", 2, (const char *[]){"x", "s"}, 1, (const char *[]){"y"});
    mb_domain(m, n, "ai.qfd", 1);
    mb_attr_int(n, "qmin", qmin);
    mb_attr_int(n, "qmax", qmax);
    mb_attr_int(n, "axis", axis);
    if (grad_scale > 0)
        mb_attr_float(n, "grad_scale", grad_scale);
    mb_output(m, "y");
    return m;
}

static uint64_t rng = 88172645463325252ull;
static float uniform(float lo, float hi)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) / 16777216.0);
}

/* x's elements along axis c, as [outer, ch, inner] */
typedef struct layout {
    int64_t outer, ch, inner;
} layout;

static layout layout_of(int rank, const int64_t *dims, int64_t n_s, int axis)
{
    layout l = {1, 1, 1};
    axis = axis < 0 ? axis + rank : axis;
    for (int i = 0; i < rank; i++)
        l.inner *= dims[i];
    if (n_s == 1)
        return l;
    l.ch = dims[axis];
    l.inner = 1;
    for (int i = 0; i < axis; i++)
        l.outer *= dims[i];
    for (int i = axis + 1; i < rank; i++)
        l.inner *= dims[i];
    return l;
}

/* Forward, and backward of a random dy, against the formulas in double. */
static void check_case(const char *label, int rank, const int64_t *dims, int64_t n_s, const float *s, int qmin,
                       int qmax, int axis, float grad_scale)
{
    int64_t numel = 1;
    for (int i = 0; i < rank; i++)
        numel *= dims[i];
    float *x = malloc((size_t)numel * sizeof *x), *dy = malloc((size_t)numel * sizeof *dy);
    layout l = layout_of(rank, dims, n_s, axis);
    for (int64_t i = 0; i < numel; i++) {
        float sc = s[(i / l.inner) % l.ch];
        /* both signs, a quarter outside the range, some exact ties */
        x[i] = i % 7 == 0 ? ((float)(int)uniform(2 * qmin, 2 * qmax) + 0.5f) * sc
                          : uniform((float)qmin - 0.25f * (qmax - qmin), (float)qmax + 0.25f * (qmax - qmin)) * sc;
        dy[i] = uniform(-1, 1);
    }
    qfd_model *m = fq_model(rank, dims, x, n_s, s, qmin, qmax, axis, grad_scale);
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors, 1);
    train[qfd_graph_find(&m->graph, "x")] = train[qfd_graph_find(&m->graph, "s")] = 1;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 2, &e));
    CHECK_OK(ctx, qfd_exec_set_trainable(ctx, e, train));
    qfd_exec_set_training(e, true, 1);
    CHECK_OK(ctx, qfd_exec_run(ctx, e, NULL, 0));
    qfd_exec_zero_grads(e);
    qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
    CHECK(gy != NULL);
    if (gy)
        memcpy(gy->data, dy, (size_t)numel * sizeof *dy);
    CHECK_OK(ctx, qfd_exec_backward(ctx, e));
    const float *y = qfd_exec_output(e, 0)->data;
    const qfd_array *gx = qfd_exec_grad(e, qfd_graph_find(&m->graph, "x"));
    const qfd_array *gs = qfd_exec_grad(e, qfd_graph_find(&m->graph, "s"));
    CHECK(gx && gs);
    double *ds = calloc((size_t)n_s, sizeof *ds);
    int bad_y = 0, bad_dx = 0, bad_ds = 0, inside = 0, outside = 0;
    for (int64_t i = 0; i < numel && gx && gs; i++) {
        int64_t c = (i / l.inner) % l.ch;
        float v = x[i] / s[c];
        double r = nearbyint((double)v), q = fmin(fmax(r, qmin), qmax);
        bad_y += y[i] != (float)q * s[c];
        bool in = v >= qmin && v <= qmax;
        inside += in;
        outside += !in;
        bad_dx += ((const float *)gx->data)[i] != (in ? dy[i] : 0.0f);
        ds[c] += dy[i] * (in ? r - v : v < qmin ? qmin : qmax);
    }
    int64_t n = n_s == 1 ? numel / dims[0] : numel / n_s;
    double g = grad_scale > 0 ? grad_scale : 1.0 / sqrt((double)n * (qmax > 0 ? qmax : -qmin));
    for (int64_t c = 0; c < n_s && gs; c++) {
        double want = g * ds[c], got = ((const float *)gs->data)[c];
        if (fabs(got - want) > 1e-4 * fmax(1e-3, fabs(want))) {
            if (bad_ds++ < 3)
                fprintf(stderr, "%s: ds[%lld] = %.8g, LSQ formula %.8g\n", label, (long long)c, got, want);
        }
    }
    printf("%s %s: %lld elements (%d inside, %d clamped), %lld steps: y %d wrong, dx %d wrong, ds %d wrong\n",
           bad_y || bad_dx || bad_ds ? "FAIL" : "ok  ", label, (long long)numel, inside, outside, (long long)n_s, bad_y,
           bad_dx, bad_ds);
    CHECK(!bad_y && !bad_dx && !bad_ds && inside && outside);
    free(ds);
    free(train);
    qfd_exec_free(e);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    free(x);
    free(dy);
}

static void test_formulas(void)
{
    const float s1[] = {0.05f}, s4[] = {0.02f, 0.1f, 0.25f, 0.0625f}, s3[] = {0.5f, 0.03f, 0.125f};
    const int64_t w[] = {4, 3, 3, 3}, a[] = {2, 3, 5, 5}, big[] = {3, 8, 64, 64};
    check_case("per tensor, signed 4-bit", 4, a, 1, s1, -8, 7, 1, 0);
    check_case("per tensor, unsigned 4-bit", 4, a, 1, s1, 0, 15, 1, 0);
    check_case("per tensor, int8, large (threads, chunks)", 4, big, 1, s1, -128, 127, 1, 0);
    check_case("per channel axis 0 (conv weight), signed 4-bit", 4, w, 4, s4, -8, 7, 0, 0);
    check_case("per channel axis 1, unsigned 8-bit", 4, a, 3, s3, 0, 255, 1, 0);
    check_case("per channel axis -3, 2-bit, grad_scale 0.5", 4, a, 3, s3, -2, 1, -3, 0.5f);
}

/* Where every value is clamped, y = bound * s: the step gradient is the
 * true derivative, which central differences see (grad_scale 1). */
static void test_clamped_central_differences(void)
{
    const int64_t dims[] = {2, 3, 4}, n3 = 3;
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (i % 2 ? 1.0f : -1.0f) * uniform(2.0f, 4.0f); /* |x / s| >= 8 > 7 */
    gradcheck_opts o = {.params = (const char *[]){"s", NULL}, .eps = 1e-3};
    const float s1[] = {0.25f}, s3[] = {0.25f, 0.2f, 0.125f};
    CHECK(gradcheck("fake-quant clamped, per tensor", fq_model(3, dims, x, 1, s1, -8, 7, 1, 1.0f), &o) == 0);
    CHECK(gradcheck("fake-quant clamped, per channel", fq_model(3, dims, x, n3, s3, -8, 7, 1, 1.0f), &o) == 0);
}

/* Forward against QuantizeLinear -> DequantizeLinear with zero point 0, bit
 * for bit: int8, uint8 and (opset 21) int4, per tensor and per channel, on
 * values with exact ties (x / s = k + 0.5) and out of range. */
static void check_qdq(const char *label, int64_t opset, int32_t zp_type, int qmin, int qmax, int64_t n_s)
{
    enum { C = 4, INNER = 50, N = C * INNER };
    const int64_t dims[] = {C, INNER}, sd[] = {n_s};
    float x[N], s[C] = {0.25f, 0.1f, 0.0703125f, 3.0f};
    for (int i = 0; i < N; i++) {
        float sc = s[n_s == 1 ? 0 : i / INNER];
        x[i] = i % 3 ? uniform(1.3f * qmin - 1, 1.3f * qmax + 1) * sc : ((float)(i / 3 % 40) - 20.0f + 0.5f) * sc;
    }
    qfd_model *m = mb_new(opset);
    mb_input(m, "x", 2, dims);
    mb_param(m, "s", 1, sd, s, 0, 0);
    const uint8_t zeros[C] = {0};
    mb_const(m, "zp", zp_type, 1, sd, zeros);
    /* mb_node's pointer lives until the next mb_node */
    mb_attr_int(mb_node(m, "QuantizeLinear", 3, (const char *[]){"x", "s", "zp"}, 1, (const char *[]){"q"}), "axis", 0);
    mb_attr_int(mb_node(m, "DequantizeLinear", 3, (const char *[]){"q", "s", "zp"}, 1, (const char *[]){"dq"}), "axis",
                0);
    qfd_node *f = mb_node(m, "FakeQuant", 2, (const char *[]){"x", "s"}, 1, (const char *[]){"fq"});
    mb_domain(m, f, "ai.qfd", 1);
    mb_attr_int(f, "qmin", qmin);
    mb_attr_int(f, "qmax", qmax);
    mb_attr_int(f, "axis", 0);
    mb_output(m, "dq");
    mb_output(m, "fq");
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    qfd_array in = {QFD_DT_FLOAT, 2, {C, INNER}, x, sizeof x};
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &in, 1));
    int diff = 0, ties = 0;
    if (e && qfd_exec_output(e, 1)->data) {
        const float *a = qfd_exec_output(e, 0)->data, *b = qfd_exec_output(e, 1)->data;
        for (int i = 0; i < N; i++) {
            diff += memcmp(&a[i], &b[i], sizeof *a) != 0;
            float v = x[i] / s[n_s == 1 ? 0 : i / INNER];
            ties += v == floorf(v) + 0.5f;
        }
    } else {
        diff = 1;
    }
    printf("%s %s: %d of %d outputs differ from QuantizeLinear -> DequantizeLinear (%d ties)\n", diff ? "FAIL" : "ok  ",
           label, diff, N, ties);
    CHECK(diff == 0 && ties > 10);
    qfd_exec_free(e);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
}

static void test_matches_qdq(void)
{
    check_qdq("int8 per tensor", 13, QFD_DT_INT8, -128, 127, 1);
    check_qdq("uint8 per tensor", 13, QFD_DT_UINT8, 0, 255, 1);
    check_qdq("int8 per channel", 13, QFD_DT_INT8, -128, 127, 4);
    check_qdq("int4 per channel", 21, QFD_DT_INT4, -8, 7, 4);
    check_qdq("uint4 per tensor", 21, QFD_DT_UINT4, 0, 15, 1);
}

static void expect_error(const char *label, qfd_model *m, const char *want)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    qfd_status st = qfd_exec_new(ctx, m, 1, &e);
    if (!st)
        st = qfd_exec_run(ctx, e, NULL, 0);
    bool ok = st != QFD_OK && strstr(qfd_ctx_error(ctx), want);
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", label, st ? qfd_ctx_error(ctx) : "no error");
    CHECK(ok);
    qfd_exec_free(e);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
}

static void test_errors(void)
{
    const int64_t dims[] = {2, 3};
    const float ok[] = {0.1f}, neg[] = {0.1f, -0.2f, 0.3f}, two[] = {0.1f, 0.2f};
    expect_error("qmin >= qmax", fq_model(2, dims, NULL, 1, ok, 7, 7, 1, 0), "need qmin < qmax");
    expect_error("step not positive", fq_model(2, dims, NULL, 3, neg, -8, 7, 1, 0), "step s[1] = -0.2");
    expect_error("steps not one per channel", fq_model(2, dims, NULL, 2, two, -8, 7, 1, 0),
                 "s must have one element or shape [3]");
    qfd_model *m = fq_model(2, dims, NULL, 1, ok, -8, 7, 1, 0);
    m->graph.nodes[0].attrs[0].name[1] = 'x'; /* "qxin": qmin missing */
    expect_error("qmin missing", m, "node 'n0' (FakeQuant): needs the integer attributes qmin and qmax");
}

/* The step is a parameter of role STEP even with one element; the weight
 * behind the quantizer keeps its role. */
static void test_roles(void)
{
    const int64_t dw[] = {2, 1, 1, 1}, one = 1, two = 2;
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 1, 2, 2});
    mb_param(m, "w", 4, dw, NULL, -1, 1);
    mb_param(m, "sw", 1, &two, (const float[]){0.1f, 0.1f}, 0, 0);
    mb_param(m, "sa", 1, &one, (const float[]){0.1f}, 0, 0);
    /* mb_node's pointer lives until the next mb_node */
    qfd_node *n = mb_node(m, "FakeQuant", 2, (const char *[]){"x", "sa"}, 1, (const char *[]){"xq"});
    mb_domain(m, n, "ai.qfd", 1);
    mb_attr_int(n, "qmin", 0), mb_attr_int(n, "qmax", 15);
    n = mb_node(m, "FakeQuant", 2, (const char *[]){"w", "sw"}, 1, (const char *[]){"wq"});
    mb_domain(m, n, "ai.qfd", 1);
    mb_attr_int(n, "qmin", -8), mb_attr_int(n, "qmax", 7), mb_attr_int(n, "axis", 0);
    mb_node(m, "Conv", 2, (const char *[]){"xq", "wq"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    uint8_t *roles = calloc(m->graph.n_tensors, 1);
    qfd_trainer_param_roles(m, roles);
    CHECK(roles[qfd_graph_find(&m->graph, "w")] == QFD_ROLE_WEIGHT);
    CHECK(roles[qfd_graph_find(&m->graph, "sw")] == QFD_ROLE_STEP);
    CHECK(roles[qfd_graph_find(&m->graph, "sa")] == QFD_ROLE_STEP);
    free(roles);
    qfd_model_free(m);
}

int main(void)
{
    test_formulas();
    test_clamped_central_differences();
    test_matches_qdq();
    test_errors();
    test_roles();
    return TEST_DONE();
}
