/* BinaryQuant (ai.qfd): the forward gives exactly +-s (sign(0) = +1, NaN
 * kept); the input gradient is the clipped straight-through estimator and
 * the step gradient its formula, checked in double on values of both signs
 * inside and beyond the step, small and large (threads, chunks); the step
 * gradient is the true derivative, which central differences see; bad
 * steps are refused naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

static qfd_model *bq_model(int rank, const int64_t *dims, const float *x, float s, float grad_scale)
{
    const int64_t one = 1;
    qfd_model *m = mb_new(13);
    mb_param(m, "x", rank, dims, x, -1, 1);
    mb_param(m, "s", 0, &one, (const float[]){s}, 0, 0);
    qfd_node *n = mb_node(m, "BinaryQuant", 2, (const char *[]){"x", "s"}, 1, (const char *[]){"y"});
    mb_domain(m, n, "ai.qfd", 1);
    if (grad_scale > 0)
        mb_attr_float(n, "grad_scale", grad_scale);
    mb_output(m, "y");
    return m;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float uniform(float lo, float hi)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) / 16777216.0);
}

static void check_case(const char *label, int rank, const int64_t *dims, float s, float grad_scale)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *x = malloc((size_t)n * sizeof *x), *dy = malloc((size_t)n * sizeof *dy);
    for (int64_t i = 0; i < n; i++) {
        x[i] = i % 11 == 0 ? 0.0f : uniform(-2.0f * s, 2.0f * s); /* half beyond the step, some zeros */
        dy[i] = uniform(-1, 1);
    }
    qfd_model *m = bq_model(rank, dims, x, s, grad_scale);
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
        memcpy(gy->data, dy, (size_t)n * sizeof *dy);
    CHECK_OK(ctx, qfd_exec_backward(ctx, e));
    const float *y = qfd_exec_output(e, 0)->data;
    const qfd_array *gx = qfd_exec_grad(e, qfd_graph_find(&m->graph, "x"));
    const qfd_array *gs = qfd_exec_grad(e, qfd_graph_find(&m->graph, "s"));
    CHECK(gx && gs);
    int bad_y = 0, bad_dx = 0, inside = 0, beyond = 0, zeros = 0;
    double ds = 0;
    for (int64_t i = 0; i < n && gx && gs; i++) {
        float sign = x[i] >= 0.0f ? 1.0f : -1.0f;
        bad_y += y[i] != sign * s;
        bool in = fabsf(x[i]) <= s;
        inside += in;
        beyond += !in;
        zeros += x[i] == 0.0f;
        bad_dx += ((const float *)gx->data)[i] != (in ? dy[i] : 0.0f);
        ds += (double)dy[i] * sign;
    }
    double g = grad_scale > 0 ? grad_scale : 1.0 / sqrt((double)(n / dims[0]));
    double want = g * ds, got = gs ? ((const float *)gs->data)[0] : NAN;
    bool bad_ds = !(fabs(got - want) <= 1e-4 * fmax(1e-3, fabs(want)));
    printf("%s %s: %lld elements (%d inside, %d beyond, %d zeros): y %d wrong, dx %d wrong, ds %.8g (formula %.8g)\n",
           bad_y || bad_dx || bad_ds ? "FAIL" : "ok  ", label, (long long)n, inside, beyond, zeros, bad_y, bad_dx, got,
           want);
    CHECK(!bad_y && !bad_dx && !bad_ds && inside && beyond && zeros);
    free(train);
    qfd_exec_free(e);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    free(x);
    free(dy);
}

static void test_formulas(void)
{
    const int64_t small[] = {4, 16}, big[] = {3, 8, 64, 64};
    check_case("features [4,16]", 2, small, 0.7f, 0);
    check_case("features [4,16], grad_scale 0.5", 2, small, 0.25f, 0.5f);
    check_case("large [3,8,64,64] (threads, chunks)", 4, big, 1.5f, 0);
}

/* y = s * sign(x) is linear in s: backward's step gradient (grad_scale 1)
 * is its derivative. */
static void test_step_central_differences(void)
{
    const int64_t dims[] = {3, 5};
    float x[15];
    for (int i = 0; i < 15; i++)
        x[i] = uniform(-3.0f, 3.0f);
    gradcheck_opts o = {.params = (const char *[]){"s", NULL}, .eps = 1e-3};
    CHECK(gradcheck("binary quant step", bq_model(2, dims, x, 0.8f, 1.0f), &o) == 0);
}

static void test_nan_and_errors(void)
{
    const int64_t dims[] = {1, 3};
    const float x[3] = {NAN, -0.0f, 2.0f};
    qfd_model *m = bq_model(2, dims, x, 0.5f, 0);
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    CHECK_OK(ctx, qfd_exec_run(ctx, e, NULL, 0));
    const float *y = e ? qfd_exec_output(e, 0)->data : NULL;
    CHECK(y && isnan(y[0]) && y[1] == 0.5f && y[2] == 0.5f);
    qfd_exec_free(e);
    qfd_model_free(m);

    m = bq_model(2, dims, x, -0.5f, 0);
    e = NULL;
    qfd_status st = qfd_exec_new(ctx, m, 1, &e);
    if (!st)
        st = qfd_exec_run(ctx, e, NULL, 0);
    printf("negative step: %s\n", qfd_ctx_error(ctx));
    CHECK(st && strstr(qfd_ctx_error(ctx), "(BinaryQuant): step s = -0.5: must be positive"));
    qfd_exec_free(e);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
}

int main(void)
{
    test_formulas();
    test_step_central_differences();
    test_nan_and_errors();
    return TEST_DONE();
}
