/* The trainer updates each parameter in the backward sweep as soon as its
 * gradient is complete (qfd_exec_on_grad_ready), so that parameter
 * gradients share the plan's memory. That must be the same update as
 * after the sweep: after three steps of SGD (momentum, Nesterov, weight
 * decay) and of AdamW, every weight must equal, bit for bit, that of a
 * trainer keeping its gradients (keep_grads), on a model with a weight
 * read by two nodes (complete only after the second), and the trainer's
 * memory must be smaller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "train/trainer.h"

#define N 4
#define D 24
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* x -> MatMul(w1) -> Relu -> MatMul(ws) -> Add(b) -> MatMul(ws) -> Relu -> MatMul(wo) -> logits */
static qfd_model *net(void)
{
    qfd_model *m = mb_new(17);
    mb_input(m, "x", 2, DIMS(N, D));
    mb_param(m, "w1", 2, DIMS(D, D), NULL, -0.3f, 0.3f);
    mb_param(m, "ws", 2, DIMS(D, D), NULL, -0.3f, 0.3f);
    mb_param(m, "b", 1, DIMS(D), NULL, -0.1f, 0.1f);
    mb_param(m, "wo", 2, DIMS(D, 5), NULL, -0.3f, 0.3f);
    mb_node(m, "MatMul", 2, (const char *[]){"x", "w1"}, 1, (const char *[]){"h1"});
    mb_node(m, "Relu", 1, (const char *[]){"h1"}, 1, (const char *[]){"r1"});
    mb_node(m, "MatMul", 2, (const char *[]){"r1", "ws"}, 1, (const char *[]){"h2"});
    mb_node(m, "Add", 2, (const char *[]){"h2", "b"}, 1, (const char *[]){"h3"});
    mb_node(m, "MatMul", 2, (const char *[]){"h3", "ws"}, 1, (const char *[]){"h4"});
    mb_node(m, "Relu", 1, (const char *[]){"h4"}, 1, (const char *[]){"r4"});
    mb_node(m, "MatMul", 2, (const char *[]){"r4", "wo"}, 1, (const char *[]){"logits"});
    mb_output(m, "logits");
    return m;
}

/* Three steps; the model's weights are left in m, the memory in *memory. */
static int train(qfd_model *m, qfd_opt_kind kind, bool keep, size_t *memory)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_trainer *tr = NULL;
    qfd_trainer_opts o = {.optimizer = kind,
                          .lr = 0.05f,
                          .momentum = 0.9f,
                          .nesterov = true,
                          .weight_decay = 1e-3f,
                          .n_threads = 2,
                          .keep_grads = keep};
    float xv[N * D];
    int64_t yv[N] = {1, 4, 0, 2};
    qfd_array x = {QFD_DT_FLOAT, 2, {N, D}, xv, sizeof xv}, y = {QFD_DT_INT64, 1, {N}, yv, sizeof yv};
    int ok = !qfd_trainer_new(ctx, m, &o, &tr);
    for (int s = 0; ok && s < 3; s++) {
        for (int i = 0; i < N * D; i++)
            xv[i] = (float)(((i + 17 * s) * 37) % 101) / 50.0f - 1.0f;
        qfd_step_stats st;
        ok = !qfd_trainer_step(ctx, tr, &x, &y, 1.0f - 0.2f * (float)s, (uint64_t)s, &st);
    }
    if (!ok)
        fprintf(stderr, "train: %s\n", qfd_ctx_error(ctx));
    *memory = ok ? qfd_trainer_memory(tr) : 0;
    qfd_trainer_free(tr);
    qfd_ctx_free(ctx);
    return ok;
}

static void check(const char *label, qfd_opt_kind kind)
{
    qfd_model *kept = net(), *swept = net();
    size_t mem_kept = 0, mem_swept = 0;
    int ok = train(kept, kind, true, &mem_kept) && train(swept, kind, false, &mem_swept);
    CHECK(ok);
    size_t differ = 0, n = 0;
    const char *names[] = {"w1", "ws", "b", "wo"};
    for (int p = 0; ok && p < 4; p++) {
        const qfd_tensor *a = &kept->graph.tensors[qfd_graph_find(&kept->graph, names[p])];
        const qfd_tensor *b = &swept->graph.tensors[qfd_graph_find(&swept->graph, names[p])];
        const int64_t k = qfd_tensor_numel(a);
        for (int64_t i = 0; i < k; i++)
            differ += memcmp((const float *)a->data + i, (const float *)b->data + i, sizeof(float)) != 0;
        n += (size_t)k;
    }
    if (ok && (differ || mem_swept >= mem_kept)) {
        fprintf(stderr, "%s: %zu of %zu weights differ; memory %zu updating in the sweep, %zu keeping gradients\n",
                label, differ, n, mem_swept, mem_kept);
        qfd_test_failures++;
    } else if (ok) {
        printf("ok   %-6s %zu weights equal after 3 steps; memory %zu bytes updating in the sweep, %zu keeping "
               "gradients\n",
               label, n, mem_swept, mem_kept);
    }
    qfd_model_free(kept);
    qfd_model_free(swept);
}

int main(void)
{
    check("SGD", QFD_OPT_SGD);
    check("AdamW", QFD_OPT_ADAMW);
    return qfd_test_failures ? 1 : 0;
}
