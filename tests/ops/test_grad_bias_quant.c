/* BiasQuant (ai.qfd): forward against the formula in double, per tensor and
 * per channel, with exact ties (half to even) and values that saturate
 * int32; backward: db = dy exactly (added to what other readers of b give),
 * and no gradient into either step; bad steps and shapes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

enum { C = 64 };

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float uniform(float lo, float hi)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) / 16777216.0);
}

/* y = BiasQuant(b, sx, sw); also z = Identity(b) when `shared` (b read twice). */
static qfd_model *bq_model(const float *b, int64_t nb, float sx, const float *sw, int64_t nw, bool shared)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "b", 1, &nb, b, 0, 0);
    mb_param(m, "sx", 0, NULL, &sx, 0, 0);
    mb_param(m, "sw", 1, &nw, sw, 0, 0);
    qfd_node *n = mb_node(m, "BiasQuant", 3, (const char *[]){"b", "sx", "sw"}, 1, (const char *[]){"y"});
    mb_domain(m, n, "ai.qfd", 1);
    if (shared)
        mb_node(m, "Identity", 1, (const char *[]){"b"}, 1, (const char *[]){"z"});
    mb_output(m, "y");
    if (shared)
        mb_output(m, "z");
    return m;
}

/* The reference: q = round half to even of b / s (the quotient in float, as
 * the kernel and the export divide), clamped to int32, times s, in double. */
static double reference(float b, float s, double *q_out)
{
    double q = nearbyint((double)(b / s));
    q = fmin(fmax(q, (double)INT32_MIN), (double)INT32_MAX);
    *q_out = q;
    return q * (double)s;
}

static void check_case(const char *label, int64_t nw)
{
    /* steps: powers of two times small odd numbers, so that ties are exact */
    const float sx = 0.125f;
    float sw[C], b[C], dy[C], dz[C];
    for (int c = 0; c < C; c++)
        sw[c] = nw == 1 ? 0.0625f : ldexpf((float)(1 + 2 * (c % 3)), -(c % 5) - 2);
    int ties = 0, saturated = 0;
    for (int c = 0; c < C; c++) {
        float s = sx * sw[nw == 1 ? 0 : c];
        switch (c % 8) {
        case 0: /* exact ties of both parities and signs: k + 0.5 */
        case 1:
            b[c] = ((float)(c % 16) - 8.0f + 0.5f) * s;
            ties++;
            break;
        case 2: /* past int32 on either side */
            b[c] = (c % 16 < 8 ? 1e12f : -1e12f) * s;
            saturated++;
            break;
        case 3: /* just inside int32: 2^30 steps */ b[c] = (c % 16 < 8 ? 0x1p30f : -0x1p30f) * s; break;
        default: b[c] = uniform(-3.0f, 3.0f);
        }
        dy[c] = uniform(-1, 1);
        dz[c] = uniform(-1, 1);
    }
    for (int shared = 0; shared <= 1; shared++) {
        qfd_model *m = bq_model(b, C, sx, sw, nw, shared);
        qfd_ctx *ctx = qfd_ctx_new();
        qfd_exec *e = NULL;
        uint8_t *train = calloc(m->graph.n_tensors, 1);
        const int tb = qfd_graph_find(&m->graph, "b"), tsx = qfd_graph_find(&m->graph, "sx"),
                  tsw = qfd_graph_find(&m->graph, "sw");
        train[tb] = train[tsx] = train[tsw] = 1;
        CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
        CHECK_OK(ctx, qfd_exec_set_trainable(ctx, e, train));
        qfd_exec_set_training(e, true, 1);
        CHECK_OK(ctx, qfd_exec_run(ctx, e, NULL, 0));
        qfd_exec_zero_grads(e);
        qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
        qfd_array *gz = shared ? qfd_exec_grad(e, qfd_exec_output_tensor(e, 1)) : NULL;
        CHECK(gy && (!shared || gz));
        if (gy)
            memcpy(gy->data, dy, sizeof dy);
        if (gz)
            memcpy(gz->data, dz, sizeof dz);
        CHECK_OK(ctx, qfd_exec_backward(ctx, e));
        const qfd_array *ya = qfd_exec_output(e, 0), *gb = qfd_exec_grad(e, tb);
        const qfd_array *gsx = qfd_exec_grad(e, tsx), *gsw = qfd_exec_grad(e, tsw);
        int bad_y = 0, bad_db = 0, step_grads = 0, even = 0;
        const float *y = ya ? ya->data : NULL;
        for (int c = 0; c < C && y && gb; c++) {
            float s = sx * sw[nw == 1 ? 0 : c];
            double q, want = reference(b[c], s, &q);
            /* exact below 2^24 steps; past that the kernel's float(q) * s
             * may round twice */
            bool exact = fabs(q) < 0x1p24;
            if (exact ? y[c] != (float)want : fabs(y[c] - want) > 1e-7 * fabs(want)) {
                if (bad_y++ < 3)
                    fprintf(stderr, "%s: y[%d] = %.9g, reference %.9g (q %.0f)\n", label, c, y[c], want, q);
            }
            if (c % 8 <= 1) /* a tie lands on an even integer */
                even += fmod(fabs((double)y[c] / s), 2.0) == 0.0;
            float want_db = dy[c] + (shared ? dz[c] : 0.0f);
            bad_db += ((const float *)gb->data)[c] != want_db;
        }
        if (gsx)
            step_grads += ((const float *)gsx->data)[0] != 0.0f;
        for (int64_t k = 0; gsw && k < nw; k++)
            step_grads += ((const float *)gsw->data)[k] != 0.0f;
        bool ok = y && gb && !bad_y && !bad_db && !step_grads && even == ties && saturated > 0;
        printf("%s %s%s: %d values (%d ties, all to even: %s; %d saturated): y %d wrong, db %d wrong, %d nonzero "
               "step gradients\n",
               ok ? "ok  " : "FAIL", label, shared ? ", b also read by Identity" : "", C, ties,
               even == ties ? "yes" : "no", saturated, bad_y, bad_db, step_grads);
        CHECK(ok);
        free(train);
        qfd_exec_free(e);
        qfd_model_free(m);
        qfd_ctx_free(ctx);
    }
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
    const float b[3] = {1, 2, 3}, sw3[3] = {0.1f, 0.0f, 0.1f}, sw2[2] = {0.1f, 0.1f}, sw1[1] = {0.1f};
    expect_error("zero step", bq_model(b, 3, 0.5f, sw3, 3, false), "steps must be positive and finite");
    expect_error("negative x step", bq_model(b, 3, -0.5f, sw1, 1, false), "steps must be positive and finite");
    expect_error("infinite x step", bq_model(b, 3, INFINITY, sw1, 1, false), "steps must be positive and finite");
    expect_error("sw neither one nor C", bq_model(b, 3, 0.5f, sw2, 2, false), "sw one element or [C]");
}

int main(void)
{
    check_case("per tensor", 1);
    check_case("per channel", C);
    test_errors();
    return TEST_DONE();
}
