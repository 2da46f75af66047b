/* Losses, optimizers and schedules against values worked out by hand and
 * against central differences. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "core/ctx.h"
#include "train/loss.h"
#include "train/optim.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol)*fmax(1.0, fabs((double)(b))))

typedef double (*loss_fn)(const float *x, float *grad);

static const float k_t[6] = {0.3f, -1.2f, 2.0f, 0.1f, 0.4f, -0.7f};
static const int64_t k_y[2] = {2, 0};

static double ce(const float *x, float *g)
{
    return qfd_loss_cross_entropy(x, k_y, 2, 3, 0.0f, 1.0f, g, NULL);
}
static double ce_smooth(const float *x, float *g)
{
    return qfd_loss_cross_entropy(x, k_y, 2, 3, 0.2f, 0.5f, g, NULL);
}
static double mse(const float *x, float *g)
{
    return qfd_loss_mse(x, k_t, 6, 1.5f, g);
}
static double kl(const float *x, float *g)
{
    return qfd_loss_kl(x, k_t, 2, 3, 3.0f, 1.0f, g);
}

/* weight * loss must have the gradient the function adds */
static void check_grad(const char *name, loss_fn f, float weight)
{
    float x[6] = {0.5f, -0.3f, 1.1f, -2.0f, 0.7f, 0.2f}, g[6] = {0};
    f(x, g);
    for (int i = 0; i < 6; i++) {
        float keep = x[i];
        x[i] = keep + 1e-3f;
        double lp = f(x, NULL);
        x[i] = keep - 1e-3f;
        double lm = f(x, NULL);
        x[i] = keep;
        double num = weight * (lp - lm) / 2e-3;
        if (!NEAR(g[i], num, 2e-3))
            fprintf(stderr, "%s: d/dx[%d] = %g, numeric %g\n", name, i, g[i], num);
        CHECK(NEAR(g[i], num, 2e-3));
    }
}

static void test_losses(void)
{
    /* CE of logits (0, 0, ln 2) with label 2: -log(2/4) = ln 2 */
    const float z[3] = {0.0f, 0.0f, (float)log(2.0)};
    const int64_t y = 2;
    int64_t hits = 0;
    CHECK(NEAR(qfd_loss_cross_entropy(z, &y, 1, 3, 0.0f, 1.0f, NULL, &hits), log(2.0), 1e-6));
    CHECK(hits == 1);
    /* smoothing 0.3: 0.7 * ln 2 + 0.3 * mean(-log p) with p = (1/4, 1/4, 1/2) */
    double want = 0.7 * log(2.0) + 0.3 * (log(4.0) + log(4.0) + log(2.0)) / 3;
    CHECK(NEAR(qfd_loss_cross_entropy(z, &y, 1, 3, 0.3f, 1.0f, NULL, NULL), want, 1e-6));
    /* MSE: mean of squares */
    const float a[2] = {1.0f, 3.0f}, b[2] = {0.0f, 1.0f};
    CHECK(NEAR(qfd_loss_mse(a, b, 2, 1.0f, NULL), 2.5, 1e-9));
    /* KL of identical distributions is 0 */
    CHECK(NEAR(qfd_loss_kl(k_t, k_t, 2, 3, 2.0f, 1.0f, NULL), 0.0, 1e-9));
    check_grad("cross-entropy", ce, 1.0f);
    check_grad("cross-entropy smoothed", ce_smooth, 0.5f);
    check_grad("mse", mse, 1.5f);
    check_grad("kl", kl, 1.0f);
}

static void test_sgd(qfd_ctx *ctx)
{
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f};
    qfd_param p = {w, g, 2, 0, NULL, NULL, NULL, false};
    qfd_param_group grp = {0.1f, 0.01f, false};
    qfd_optim o = {.momentum = 0.9f};
    CHECK_OK(ctx, qfd_optim_init(ctx, &o, QFD_OPT_SGD, &grp, 1, &p, 1));
    /* step 1: d = g + wd*w = 0.51; buf = d; w -= lr*buf */
    qfd_optim_step(&o, 1.0f, 1);
    CHECK(NEAR(w[0], 1.0 - 0.1 * 0.51, 1e-6));
    /* step 2: d = 0.5 + 0.01*w; buf = 0.9*0.51 + d */
    double w1 = 1.0 - 0.051, d = 0.5 + 0.01 * w1, buf = 0.9 * 0.51 + d;
    qfd_optim_step(&o, 0.5f, 1);
    CHECK(NEAR(w[0], w1 - 0.05 * buf, 1e-6));
    qfd_optim_free(&o);

    /* Nesterov: update with d + mu * buf */
    float w2[1] = {1.0f}, g2[1] = {1.0f};
    qfd_param p2 = {w2, g2, 1, 0, NULL, NULL, NULL, false};
    qfd_param_group grp2 = {0.1f, 0.0f, false};
    qfd_optim n = {.momentum = 0.9f, .nesterov = true};
    CHECK_OK(ctx, qfd_optim_init(ctx, &n, QFD_OPT_SGD, &grp2, 1, &p2, 1));
    qfd_optim_step(&n, 1.0f, 1);
    CHECK(NEAR(w2[0], 1.0 - 0.1 * (1.0 + 0.9 * 1.0), 1e-6));
    qfd_optim_free(&n);

    /* A frozen group does not move. */
    float w3[1] = {3.0f}, g3[1] = {1.0f};
    qfd_param p3 = {w3, g3, 1, 0, NULL, NULL, NULL, false};
    qfd_param_group frozen = {0.1f, 0.0f, true};
    qfd_optim f = {.momentum = 0.9f};
    CHECK_OK(ctx, qfd_optim_init(ctx, &f, QFD_OPT_SGD, &frozen, 1, &p3, 1));
    qfd_optim_step(&f, 1.0f, 1);
    CHECK(w3[0] == 3.0f);
    qfd_optim_free(&f);

    /* A bounded parameter (a step inside a Relu6's Clip) stops at its bound;
     * elements below it move as usual. */
    float w4[2] = {0.0233f, 0.01f}, g4[2] = {-1.0f, -1.0f};
    const float cap = 6.0f / 255.0f;
    qfd_param p4 = {w4, g4, 2, 0, NULL, &cap, NULL, false};
    qfd_param_group grp4 = {0.001f, 0.0f, false};
    qfd_optim b = {.momentum = 0.0f};
    CHECK_OK(ctx, qfd_optim_init(ctx, &b, QFD_OPT_SGD, &grp4, 1, &p4, 1));
    qfd_optim_step(&b, 1.0f, 1);
    CHECK(w4[0] == cap && NEAR(w4[1], 0.011, 1e-7));
    qfd_optim_free(&b);

    /* A quantizer step that an update would take to zero or below is halved
     * instead, with SGD and AdamW; other parameters may change sign. */
    for (int adam = 0; adam < 2; adam++) {
        float ws[3] = {0.01f, 0.01f, 0.01f}, gs[3] = {100.0f, 1.0f, 1.0f};
        qfd_param ps[2] = {{ws, gs, 2, 0, NULL, NULL, NULL, true}, {ws + 2, gs + 2, 1, 0, NULL, NULL, NULL, false}};
        qfd_param_group grps = {0.1f, 0.0f, false};
        qfd_optim os = {.momentum = 0.0f};
        CHECK_OK(ctx, qfd_optim_init(ctx, &os, adam ? QFD_OPT_ADAMW : QFD_OPT_SGD, &grps, 1, ps, 2));
        qfd_optim_step(&os, 1.0f, 1);
        CHECK(ws[0] == 0.005f && ws[1] == 0.005f && ws[2] < 0.0f);
        qfd_optim_free(&os);
    }

    /* A per-element lower bound (a step's floor) holds; elements above it
     * move as usual. */
    float wm[2] = {0.002f, 0.5f}, gm[2] = {1.0f, 1.0f};
    const float floors[2] = {0.001f, 0.001f};
    qfd_param pm = {wm, gm, 2, 0, NULL, NULL, floors, true};
    qfd_param_group grpm = {0.0015f, 0.0f, false};
    qfd_optim om = {.momentum = 0.0f};
    CHECK_OK(ctx, qfd_optim_init(ctx, &om, QFD_OPT_SGD, &grpm, 1, &pm, 1));
    qfd_optim_step(&om, 1.0f, 1);
    CHECK(wm[0] == 0.001f && NEAR(wm[1], 0.4985, 1e-7));
    qfd_optim_free(&om);

    /* A folded weight W' = W * s with gradient factor s^2 moves as W would
     * under plain SGD (momentum, Nesterov, weight decay), mapped through s. */
    const float s[2] = {2.0f, 0.5f}, s2[2] = {4.0f, 0.25f};
    float wf[2] = {2.0f, -1.0f}, wu[2] = {1.0f, -2.0f}, gf[2], gu[2];
    qfd_param pf = {wf, gf, 2, 0, s2, NULL, NULL, false}, pu = {wu, gu, 2, 0, NULL, NULL, NULL, false};
    qfd_param_group gw = {0.1f, 0.05f, false};
    qfd_optim of = {.momentum = 0.9f, .nesterov = true}, ou = {.momentum = 0.9f, .nesterov = true};
    CHECK_OK(ctx, qfd_optim_init(ctx, &of, QFD_OPT_SGD, &gw, 1, &pf, 1));
    CHECK_OK(ctx, qfd_optim_init(ctx, &ou, QFD_OPT_SGD, &gw, 1, &pu, 1));
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 2; i++) {
            gf[i] = 0.3f * (float)(i + 1) - 0.2f * wf[i]; /* dL/dW' */
            gu[i] = gf[i] * s[i];                         /* dL/dW = dL/dW' * s */
        }
        of.params[0].grad = gf, ou.params[0].grad = gu;
        qfd_optim_step(&of, 1.0f, 1);
        qfd_optim_step(&ou, 1.0f, 1);
    }
    CHECK(NEAR(wf[0], wu[0] * s[0], 1e-5) && NEAR(wf[1], wu[1] * s[1], 1e-5));
    CHECK(!NEAR(wf[0], 2.0, 1e-3)); /* it moved */
    qfd_optim_free(&of);
    qfd_optim_free(&ou);
}

static void test_adamw(qfd_ctx *ctx)
{
    float w[1] = {1.0f}, g[1] = {0.2f};
    qfd_param p = {w, g, 1, 0, NULL, NULL, NULL, false};
    qfd_param_group grp = {0.01f, 0.1f, false};
    qfd_optim o = {0};
    CHECK_OK(ctx, qfd_optim_init(ctx, &o, QFD_OPT_ADAMW, &grp, 1, &p, 1));
    /* torch.optim.AdamW: w *= 1 - lr*wd; first step moves by lr * sign(g) (bias-corrected). */
    double want = 1.0 * (1 - 0.01 * 0.1);
    double m = 0.1 * 0.2, v = 0.001 * 0.04, mh = m / 0.1, vh = v / 0.001;
    want -= 0.01 * mh / (sqrt(vh) + 1e-8);
    qfd_optim_step(&o, 1.0f, 1);
    CHECK(NEAR(w[0], want, 1e-6));
    /* second step, gradient -0.1 */
    g[0] = -0.1f;
    double w1 = want * (1 - 0.01 * 0.1);
    m = 0.9 * m + 0.1 * -0.1;
    v = 0.999 * v + 0.001 * 0.01;
    mh = m / (1 - 0.81);
    vh = v / (1 - 0.999 * 0.999);
    w1 -= 0.01 * mh / (sqrt(vh) + 1e-8);
    qfd_optim_step(&o, 1.0f, 1);
    CHECK(NEAR(w[0], w1, 1e-5));
    qfd_optim_free(&o);
}

static void test_schedules(void)
{
    qfd_schedule c = {QFD_SCHED_COSINE, 110, 10, 0, 0, 0.0f};
    CHECK(NEAR(qfd_schedule_factor(&c, 0), 0.1, 1e-6));  /* warm-up starts at 1/10 */
    CHECK(NEAR(qfd_schedule_factor(&c, 9), 1.0, 1e-6));  /* and ends at 1 */
    CHECK(NEAR(qfd_schedule_factor(&c, 10), 1.0, 1e-6)); /* cosine starts at 1 */
    CHECK(NEAR(qfd_schedule_factor(&c, 60), 0.5, 1e-6)); /* half way */
    CHECK(qfd_schedule_factor(&c, 109) < 0.01f);
    qfd_schedule s = {QFD_SCHED_STEP, 100, 0, 30, 0.1f, 0};
    CHECK(NEAR(qfd_schedule_factor(&s, 29), 1.0, 1e-6));
    CHECK(NEAR(qfd_schedule_factor(&s, 30), 0.1, 1e-6));
    CHECK(NEAR(qfd_schedule_factor(&s, 65), 0.01, 1e-6));
    qfd_schedule k = {QFD_SCHED_CONSTANT, 100, 0, 0, 0, 0};
    CHECK(qfd_schedule_factor(&k, 77) == 1.0f);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    test_losses();
    test_sgd(ctx);
    test_adamw(ctx);
    test_schedules();
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
