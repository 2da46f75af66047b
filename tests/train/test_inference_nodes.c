/* Training with some nodes in inference mode: BatchNormalization uses and
 * keeps its running statistics, Dropout keeps everything, and gradients
 * still flow through both (calibration, a frozen teacher). */
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

enum { N = 2, C = 3, HW = 16, NX = N * C * HW };

/* x -> Conv 1x1 -> BatchNormalization -> Dropout (ratio 0.5) -> y, and with
 * `logits` -> GlobalAveragePool -> Flatten. Node 1 is the BatchNorm, 2 the
 * Dropout. */
static qfd_model *model(bool x_is_param, bool logits)
{
    const int64_t dx[] = {N, C, 4, 4}, dw[] = {C, C, 1, 1}, dc[] = {C};
    qfd_model *m = mb_new(13);
    if (x_is_param)
        mb_param(m, "x", 4, dx, NULL, -1.5f, 2.0f);
    else
        mb_input(m, "x", 4, dx);
    mb_param(m, "w", 4, dw, NULL, -1, 1);
    mb_param(m, "s", 1, dc, NULL, 0.5f, 1.5f);
    mb_param(m, "b", 1, dc, NULL, -0.5f, 0.5f);
    mb_param(m, "mean", 1, dc, NULL, -0.3f, 0.3f);
    mb_param(m, "var", 1, dc, NULL, 0.5f, 1.5f);
    mb_node(m, "Conv", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"c"});
    mb_node(m, "BatchNormalization", 5, (const char *[]){"c", "s", "b", "mean", "var"}, 1, (const char *[]){"bn"});
    mb_node(m, "Dropout", 1, (const char *[]){"bn"}, 1, (const char *[]){"y"});
    if (logits) {
        mb_node(m, "GlobalAveragePool", 1, (const char *[]){"y"}, 1, (const char *[]){"p"});
        mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"logits"});
        mb_output(m, "logits");
    } else {
        mb_output(m, "y");
    }
    return m;
}

static const float *init(const qfd_model *m, const char *name)
{
    return m->graph.tensors[qfd_graph_find(&m->graph, name)].data;
}

/* One training forward with per-node inference flags; y and the running
 * statistics after it, against an inference run's y and the statistics
 * before. Returns how many outputs the dropout zeroed that inference did not. */
static int run_mixed(const uint8_t *mask, bool *stats_kept, bool *same_y)
{
    static float xv[NX];
    for (int i = 0; i < NX; i++)
        xv[i] = (float)((i * 37) % 23) * 0.1f - 1.0f;
    qfd_array x = {QFD_DT_FLOAT, 4, {N, C, 4, 4}, xv, sizeof xv};
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = model(false, false);
    float mean0[C], var0[C], yref[NX];
    memcpy(mean0, init(m, "mean"), sizeof mean0);
    memcpy(var0, init(m, "var"), sizeof var0);
    qfd_exec *ref = NULL, *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors, 1);
    int zeroed = -1;
    train[qfd_graph_find(&m->graph, "w")] = 1;
    train[qfd_graph_find(&m->graph, "s")] = 1;
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &ref));
    CHECK_OK(ctx, qfd_exec_run(ctx, ref, &x, 1));
    memcpy(yref, qfd_exec_output(ref, 0)->data, sizeof yref);
    CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &e));
    CHECK_OK(ctx, qfd_exec_set_trainable(ctx, e, train));
    CHECK_OK(ctx, qfd_exec_set_inference_nodes(ctx, e, mask));
    qfd_exec_set_training(e, true, 99);
    CHECK_OK(ctx, qfd_exec_run(ctx, e, &x, 1));
    const float *y = qfd_exec_output(e, 0)->data;
    *same_y = !memcmp(y, yref, sizeof yref);
    zeroed = 0;
    for (int i = 0; i < NX; i++)
        zeroed += y[i] == 0.0f && yref[i] != 0.0f;
    *stats_kept = !memcmp(mean0, init(m, "mean"), sizeof mean0) && !memcmp(var0, init(m, "var"), sizeof var0);
    /* gradients flow through both nodes, in either mode */
    qfd_exec_zero_grads(e);
    qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
    CHECK(gy != NULL);
    for (int i = 0; gy && i < NX; i++)
        ((float *)gy->data)[i] = 1.0f;
    CHECK_OK(ctx, qfd_exec_backward(ctx, e));
    const qfd_array *gw = qfd_exec_grad(e, qfd_graph_find(&m->graph, "w"));
    double norm = 0;
    for (int i = 0; gw && i < C * C; i++)
        norm += fabs(((const float *)gw->data)[i]);
    CHECK(gw && norm > 0);
    qfd_exec_free(ref);
    qfd_exec_free(e);
    free(train);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return zeroed;
}

static void test_exec_flags(void)
{
    bool kept, same;
    /* every node in inference mode: the inference function, statistics kept */
    CHECK(run_mixed((const uint8_t[]){1, 1, 1}, &kept, &same) == 0 && kept && same);
    /* only the BatchNorm: statistics kept, dropout still drops */
    CHECK(run_mixed((const uint8_t[]){0, 1, 0}, &kept, &same) > 0 && kept && !same);
    /* only the Dropout: batch statistics, which move the running ones */
    CHECK(run_mixed((const uint8_t[]){0, 0, 1}, &kept, &same) == 0 && !kept && !same);
    /* no flags: a training forward as before */
    CHECK(run_mixed(NULL, &kept, &same) > 0 && !kept && !same);
}

/* Backward of the inference forms, through the executor in a training
 * forward with every node flagged: central differences of the same. */
static void test_gradients(void)
{
    const uint8_t all[] = {1, 1, 1};
    gradcheck_opts o = {.params = (const char *[]){"x", "w", "s", "b", NULL}, .training = true, .inference_nodes = all};
    CHECK(gradcheck("conv-bn-dropout, inference nodes", model(true, false), &o) == 0);
}

static void test_trainer_option(void)
{
    static float xv[NX];
    int64_t yv[N] = {0, 2};
    for (int i = 0; i < NX; i++)
        xv[i] = (float)((i * 37) % 23) * 0.1f - 1.0f;
    qfd_array x = {QFD_DT_FLOAT, 4, {N, C, 4, 4}, xv, sizeof xv};
    qfd_array y = {QFD_DT_INT64, 1, {N}, yv, sizeof yv};
    for (int frozen = 0; frozen < 2; frozen++) {
        qfd_ctx *ctx = qfd_ctx_new();
        qfd_model *m = model(false, true);
        float mean0[C], w0[C * C];
        memcpy(mean0, init(m, "mean"), sizeof mean0);
        memcpy(w0, init(m, "w"), sizeof w0);
        qfd_trainer_opts o = {.optimizer = QFD_OPT_SGD, .lr = 0.1f, .n_threads = 1, .inference_mode = frozen};
        qfd_trainer *t = NULL;
        qfd_step_stats s;
        CHECK_OK(ctx, qfd_trainer_new(ctx, m, &o, &t));
        if (t)
            CHECK_OK(ctx, qfd_trainer_step(ctx, t, &x, &y, 1.0f, 5, &s));
        CHECK((memcmp(mean0, init(m, "mean"), sizeof mean0) == 0) == (frozen == 1));
        CHECK(memcmp(w0, init(m, "w"), sizeof w0) != 0); /* the weights learn either way */
        qfd_trainer_free(t);
        qfd_model_free(m);
        qfd_ctx_free(ctx);
    }
}

int main(void)
{
    test_exec_flags();
    test_gradients();
    test_trainer_option();
    return TEST_DONE();
}
