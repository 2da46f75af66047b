/* BatchNormalization running statistics that are not initializers of their
 * own (issue 17, defect 3): PyTorch exports equal tensors once, so fresh
 * statistics arrive as Identity copies of another layer's, as Constant
 * outputs, or as one initializer several BatchNorms read. Training must
 * update each layer's statistics where they live, exactly as it does for a
 * model whose statistics are plain initializers, or refuse naming the node. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "train/trainer.h"

enum { C = 3 };

/* x [N,C,3,3] -> Conv 1x1 -> bn1 -> bn2 -> bn3 -> GlobalAveragePool ->
 * Flatten -> logits [N,C]. With `dedup`, the statistics are written the way
 * the exporter writes equal values: bn2's mean an Identity of bn1's, bn2's
 * var a Constant, bn3's mean bn1's initializer itself, bn3's var an Identity
 * chain over a Constant. Without it, each is its own initializer. */
static qfd_model *model(bool dedup)
{
    const int64_t dx[] = {4, C, 3, 3}, dw[] = {C, C, 1, 1}, dc[] = {C};
    const float zeros[C] = {0}, ones[C] = {1, 1, 1};
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, dx);
    m->graph.inputs[0].type.dims[0].kind = QFD_DIM_UNSET; /* any batch size */
    mb_param(m, "w", 4, dw, NULL, -1, 1);
    mb_node(m, "Conv", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"c"});
    const char *in = "c", *out[] = {"y1", "y2", "y3"};
    for (int b = 0; b < 3; b++) {
        char s[16], sh[16], mean[32], var[32];
        snprintf(s, sizeof s, "s%d", b + 1);
        snprintf(sh, sizeof sh, "b%d", b + 1);
        snprintf(mean, sizeof mean, "bn%d.mean", b + 1);
        snprintf(var, sizeof var, "bn%d.var", b + 1);
        mb_param(m, s, 1, dc, NULL, 0.5f, 1.5f);
        mb_param(m, sh, 1, dc, NULL, -0.5f, 0.5f);
        if (!dedup || b == 0) {
            mb_param(m, mean, 1, dc, zeros, 0, 0);
            mb_param(m, var, 1, dc, ones, 0, 0);
        } else if (b == 1) {
            mb_node(m, "Identity", 1, (const char *[]){"bn1.mean"}, 1, (const char *[]){mean});
            mb_attr_floats(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){var}), "value_floats", C, ones);
        } else {
            snprintf(mean, sizeof mean, "bn1.mean");
            mb_attr_floats(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"ones"}), "value_floats", C, ones);
            mb_node(m, "Identity", 1, (const char *[]){"ones"}, 1, (const char *[]){"ones2"});
            mb_node(m, "Identity", 1, (const char *[]){"ones2"}, 1, (const char *[]){var});
        }
        mb_node(m, "BatchNormalization", 5, (const char *[]){in, s, sh, mean, var}, 1, (const char *[]){out[b]});
        in = out[b];
    }
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"y3"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"logits"});
    mb_output(m, "logits");
    return m;
}

/* The statistic BatchNorm b reads through input k, as stored in the model. */
static const qfd_tensor *stat(const qfd_model *m, int b, int k)
{
    int seen = 0;
    for (size_t i = 0; i < m->graph.n_nodes; i++) {
        const qfd_node *n = &m->graph.nodes[i];
        if (!strcmp(n->op_type, "BatchNormalization") && seen++ == b)
            return &m->graph.tensors[n->in[k]];
    }
    return NULL;
}

/* Three steps, the last on a smaller batch (a new plan). */
static void train(qfd_ctx *ctx, qfd_model *m)
{
    float xv[4 * C * 9];
    int64_t yv[4] = {0, 1, 2, 1};
    for (int i = 0; i < 4 * C * 9; i++)
        xv[i] = (float)((i * 37) % 23) * 0.1f - 1.0f;
    qfd_trainer_opts o = {.optimizer = QFD_OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .n_threads = 1};
    qfd_trainer *t = NULL;
    CHECK_OK(ctx, qfd_trainer_new(ctx, m, &o, &t));
    if (!t)
        return;
    for (int step = 0; step < 3; step++) {
        int64_t n = step < 2 ? 4 : 2;
        qfd_array x = {QFD_DT_FLOAT, 4, {n, C, 3, 3}, xv, (size_t)n * C * 9 * sizeof(float)};
        qfd_array y = {QFD_DT_INT64, 1, {n}, yv, (size_t)n * sizeof(int64_t)};
        qfd_step_stats s;
        CHECK_OK(ctx, qfd_trainer_step(ctx, t, &x, &y, 1.0f, (uint64_t)step, &s));
    }
    qfd_trainer_free(t);
}

static void test_dedup_matches_plain(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *plain = model(false), *dedup = model(true);
    train(ctx, plain);
    train(ctx, dedup);
    for (int b = 0; b < 3; b++)
        for (int k = 3; k <= 4; k++) {
            const qfd_tensor *want = stat(plain, b, k), *got = stat(dedup, b, k);
            CHECK(got && (got->flags & QFD_T_INITIALIZER) && got->data && qfd_tensor_numel(got) == C);
            if (!got || !got->data || qfd_tensor_numel(got) != C)
                continue;
            const float *w = want->data, *g = got->data;
            /* moved at all, and as the plain model's did */
            CHECK(w[0] != (k == 3 ? 0.0f : 1.0f));
            for (int c = 0; c < C; c++) {
                if (fabsf(w[c] - g[c]) > 1e-6f * fmaxf(1.0f, fabsf(w[c])))
                    fprintf(stderr, "bn%d input %d [%d]: %.8g, expected %.8g\n", b + 1, k, c, g[c], w[c]);
                CHECK(fabsf(w[c] - g[c]) <= 1e-6f * fmaxf(1.0f, fabsf(w[c])));
            }
        }
    /* each statistic has its own storage, and the Identity/Constant chains are gone */
    for (int b = 0; b < 3; b++)
        for (int b2 = 0; b2 < 3; b2++)
            for (int k = 3; k <= 4; k++)
                for (int k2 = 3; k2 <= 4; k2++)
                    CHECK((b == b2 && k == k2) || stat(dedup, b, k) != stat(dedup, b2, k2));
    CHECK(!strcmp(stat(dedup, 0, 3)->name, "bn1.mean") && !strcmp(stat(dedup, 1, 3)->name, "bn2.mean") &&
          !strcmp(stat(dedup, 1, 4)->name, "bn2.var") && !strcmp(stat(dedup, 2, 4)->name, "bn3.var"));
    CHECK(dedup->graph.n_nodes == plain->graph.n_nodes);
    qfd_model_free(plain);
    qfd_model_free(dedup);
    qfd_ctx_free(ctx);
}

/* A statistic computed from something other than stored values is refused,
 * naming the BatchNorm and the node. */
static void test_refused(void)
{
    const int64_t dx[] = {4, C, 3, 3}, dc[] = {C};
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, dx);
    mb_param(m, "s", 1, dc, NULL, 0.5f, 1.5f);
    mb_param(m, "b", 1, dc, NULL, -0.5f, 0.5f);
    mb_param(m, "mean", 1, dc, NULL, -0.5f, 0.5f);
    mb_param(m, "half", 1, dc, NULL, 0.5f, 0.5f);
    mb_param(m, "var0", 1, dc, NULL, 0.5f, 1.5f);
    mb_node(m, "Mul", 2, (const char *[]){"var0", "half"}, 1, (const char *[]){"var"});
    mb_node(m, "BatchNormalization", 5, (const char *[]){"x", "s", "b", "mean", "var"}, 1, (const char *[]){"y"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"y"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"logits"});
    mb_output(m, "logits");
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_trainer_opts o = {.optimizer = QFD_OPT_SGD, .lr = 0.1f, .n_threads = 1};
    qfd_trainer *t = NULL;
    qfd_status st = qfd_trainer_new(ctx, m, &o, &t);
    CHECK(st == QFD_ERR_UNSUPPORTED && !t);
    const char *want = "node 'n1' (BatchNormalization): its running_var 'var' is computed by node 'n0' (Mul)";
    if (!strstr(qfd_ctx_error(ctx), want))
        fprintf(stderr, "message: %s\n", qfd_ctx_error(ctx));
    CHECK(strstr(qfd_ctx_error(ctx), want) != NULL);
    qfd_trainer_free(t);
    qfd_model_free(m);
    qfd_ctx_free(ctx);
}

int main(void)
{
    test_dedup_matches_plain();
    test_refused();
    return TEST_DONE();
}
