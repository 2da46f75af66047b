/* A node on a gradient path needs a backward whatever its output type:
 * QuantizeLinear's integer output once hid its missing backward, and the
 * gradient through a Q -> DQ pair was cut without a word. Comparisons,
 * whose outputs are piecewise constant, still need none.
 * With a folder argument, also writes the Q -> DQ model there as
 * qdq_on_path.onnx, for the command-line test. */
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "train/trainer.h"

enum { N = 4 };

/* x [N,1,28,28] -> Conv -> c [N,10,1,1] -> logits [N,10], through
 * Add(c, DQ(Q(c))) with `qdq`, else through Where(c > 0, c, 0.5 c). */
static qfd_model *model(bool qdq)
{
    const int64_t dx[] = {N, 1, 28, 28}, dw[] = {10, 1, 28, 28}, db[] = {10};
    const float scale = 0.05f, half = 0.5f, zero = 0.0f;
    const uint8_t zp = 128;
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, dx);
    m->graph.inputs[0].type.dims[0].kind = QFD_DIM_UNSET; /* any batch size */
    mb_param(m, "w", 4, dw, NULL, -0.05f, 0.05f);
    mb_param(m, "b", 1, db, NULL, -0.1f, 0.1f);
    mb_node(m, "Conv", 3, (const char *[]){"x", "w", "b"}, 1, (const char *[]){"c"});
    if (qdq) {
        mb_const(m, "scale", QFD_DT_FLOAT, 0, NULL, &scale);
        mb_const(m, "zp", QFD_DT_UINT8, 0, NULL, &zp);
        mb_node(m, "QuantizeLinear", 3, (const char *[]){"c", "scale", "zp"}, 1, (const char *[]){"q"});
        mb_node(m, "DequantizeLinear", 3, (const char *[]){"q", "scale", "zp"}, 1, (const char *[]){"d"});
        mb_node(m, "Add", 2, (const char *[]){"c", "d"}, 1, (const char *[]){"s"});
    } else {
        mb_const(m, "half", QFD_DT_FLOAT, 0, NULL, &half);
        mb_const(m, "zero", QFD_DT_FLOAT, 0, NULL, &zero);
        mb_node(m, "Greater", 2, (const char *[]){"c", "zero"}, 1, (const char *[]){"pos"});
        mb_node(m, "Mul", 2, (const char *[]){"c", "half"}, 1, (const char *[]){"h"});
        mb_node(m, "Where", 3, (const char *[]){"pos", "c", "h"}, 1, (const char *[]){"s"});
    }
    mb_node(m, "Flatten", 1, (const char *[]){"s"}, 1, (const char *[]){"logits"});
    mb_output(m, "logits");
    return m;
}

static qfd_status step(qfd_ctx *ctx, qfd_model *m)
{
    static float xv[N * 28 * 28];
    int64_t yv[N] = {0, 3, 7, 9};
    for (int i = 0; i < N * 28 * 28; i++)
        xv[i] = (float)((i * 37) % 23) * 0.05f;
    qfd_trainer_opts o = {.optimizer = QFD_OPT_SGD, .lr = 0.01f, .n_threads = 1};
    qfd_trainer *t = NULL;
    qfd_status st = qfd_trainer_new(ctx, m, &o, &t);
    if (!st) {
        qfd_array x = {QFD_DT_FLOAT, 4, {N, 1, 28, 28}, xv, sizeof xv};
        qfd_array y = {QFD_DT_INT64, 1, {N}, yv, sizeof yv};
        qfd_step_stats s;
        st = qfd_trainer_step(ctx, t, &x, &y, 1.0f, 1, &s);
    }
    qfd_trainer_free(t);
    return st;
}

int main(int argc, char **argv)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = model(true);
    CHECK(step(ctx, m) == QFD_ERR_UNSUPPORTED);
    const char *want = "node 'n1' (QuantizeLinear) lies on a training path but has no backward";
    if (!strstr(qfd_ctx_error(ctx), want))
        fprintf(stderr, "message: %s\n", qfd_ctx_error(ctx));
    CHECK(strstr(qfd_ctx_error(ctx), want) != NULL);
    if (argc > 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/qdq_on_path.onnx", argv[1]);
        CHECK_OK(ctx, qfd_model_save(ctx, m, path));
    }
    qfd_model_free(m);

    m = model(false);
    CHECK_OK(ctx, step(ctx, m));
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
