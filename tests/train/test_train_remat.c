/* Recomputation in the training plan (exec_remat.c): exporters spell GELU,
 * LayerNorm and SiLU as chains of elementwise ops, each of whose outputs a
 * backward reads. A plan that shares values recomputes those in the sweep
 * instead of keeping them. For three stacked layers of each chain,
 *     x -> [MatMul(w) -> h -> chain(h)] x 3 -> MatMul(wo) -> y,
 * the parameter gradients must be bit for bit those of a plan where every
 * value has a buffer of its own and of a shared plan without
 * recomputation, and recomputation must make the plan smaller. With it a
 * decomposed LayerNorm costs no more than the fused op, and a decomposed
 * GELU less than the fused op whose output is kept (as PyTorch keeps it):
 * over the layers it keeps only each GELU's input, and its sweep needs a
 * few tensors more than the fused op's for one layer at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "../support/seeded_step.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define D 16
#define LAYERS 8
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

typedef void (*chain_fn)(qfd_model *m, const char *h, const char *z, int layer);

static void name(char *buf, const char *stem, int layer)
{
    snprintf(buf, 32, "%s%d", stem, layer);
}

static void scalar(qfd_model *m, const char *stem, int layer, float v, char *out)
{
    name(out, stem, layer);
    mb_param(m, out, 0, NULL, &v, 0, 0);
}

/* 0.5 * h * (1 + erf(h / sqrt(2))), as torch.onnx writes nn.GELU */
static void gelu_parts(qfd_model *m, const char *h, const char *z, int l)
{
    char c2[32], c1[32], ch[32], a[32], e[32], b[32], p[32];
    scalar(m, "k_sqrt2_", l, 1.41421356f, c2);
    scalar(m, "k_one_", l, 1.0f, c1);
    scalar(m, "k_half_", l, 0.5f, ch);
    name(a, "ga", l), name(e, "ge", l), name(b, "gb", l), name(p, "gp", l);
    mb_node(m, "Div", 2, (const char *[]){h, c2}, 1, (const char *[]){a});
    mb_node(m, "Erf", 1, (const char *[]){a}, 1, (const char *[]){e});
    mb_node(m, "Add", 2, (const char *[]){e, c1}, 1, (const char *[]){b});
    mb_node(m, "Mul", 2, (const char *[]){h, b}, 1, (const char *[]){p});
    mb_node(m, "Mul", 2, (const char *[]){p, ch}, 1, (const char *[]){z});
}

static void gelu_op(qfd_model *m, const char *h, const char *z, int l)
{
    (void)l;
    mb_node(m, "Gelu", 1, (const char *[]){h}, 1, (const char *[]){z});
}

/* LayerNorm over the last axis in nine ops, with a trained scale and shift */
static void layernorm_parts(qfd_model *m, const char *h, const char *z, int l)
{
    char ax[32], c2[32], eps[32], gm[32], bt[32], mu[32], d[32], d2[32], var[32], ve[32], s[32], n[32], ng[32];
    name(ax, "k_axes_", l);
    mb_const(m, ax, QFD_DT_INT64, 1, DIMS(1), DIMS(-1));
    scalar(m, "k_two_", l, 2.0f, c2);
    scalar(m, "k_eps_", l, 1e-5f, eps);
    name(gm, "w_gamma_", l), name(bt, "w_beta_", l);
    mb_param(m, gm, 1, DIMS(D), NULL, 0.5f, 1.5f);
    mb_param(m, bt, 1, DIMS(D), NULL, -0.5f, 0.5f);
    name(mu, "lmu", l), name(d, "ld", l), name(d2, "ld2", l), name(var, "lvar", l), name(ve, "lve", l);
    name(s, "ls", l), name(n, "ln", l), name(ng, "lng", l);
    mb_node(m, "ReduceMean", 2, (const char *[]){h, ax}, 1, (const char *[]){mu});
    mb_node(m, "Sub", 2, (const char *[]){h, mu}, 1, (const char *[]){d});
    mb_node(m, "Pow", 2, (const char *[]){d, c2}, 1, (const char *[]){d2});
    mb_node(m, "ReduceMean", 2, (const char *[]){d2, ax}, 1, (const char *[]){var});
    mb_node(m, "Add", 2, (const char *[]){var, eps}, 1, (const char *[]){ve});
    mb_node(m, "Sqrt", 1, (const char *[]){ve}, 1, (const char *[]){s});
    mb_node(m, "Div", 2, (const char *[]){d, s}, 1, (const char *[]){n});
    mb_node(m, "Mul", 2, (const char *[]){n, gm}, 1, (const char *[]){ng});
    mb_node(m, "Add", 2, (const char *[]){ng, bt}, 1, (const char *[]){z});
}

static void layernorm_op(qfd_model *m, const char *h, const char *z, int l)
{
    char gm[32], bt[32];
    name(gm, "w_gamma_", l), name(bt, "w_beta_", l);
    mb_param(m, gm, 1, DIMS(D), NULL, 0.5f, 1.5f);
    mb_param(m, bt, 1, DIMS(D), NULL, -0.5f, 0.5f);
    qfd_node *n = mb_node(m, "LayerNormalization", 3, (const char *[]){h, gm, bt}, 1, (const char *[]){z});
    mb_attr_int(n, "axis", -1);
}

/* h * sigmoid(h), as EfficientNet's exports write SiLU */
static void silu_parts(qfd_model *m, const char *h, const char *z, int l)
{
    char s[32];
    name(s, "ss", l);
    mb_node(m, "Sigmoid", 1, (const char *[]){h}, 1, (const char *[]){s});
    mb_node(m, "Mul", 2, (const char *[]){h, s}, 1, (const char *[]){z});
}

/* (h/2 + 1) * (h/2 - 1): h/2, which no backward reads, is recomputed for
 * two others, and must last until the second is made */
static void fork_parts(qfd_model *m, const char *h, const char *z, int l)
{
    char c2[32], c1[32], e[32], t1[32], t2[32];
    scalar(m, "k_two_", l, 2.0f, c2);
    scalar(m, "k_one_", l, 1.0f, c1);
    name(e, "fe", l), name(t1, "ft", l), name(t2, "fu", l);
    mb_node(m, "Div", 2, (const char *[]){h, c2}, 1, (const char *[]){e});
    mb_node(m, "Add", 2, (const char *[]){e, c1}, 1, (const char *[]){t1});
    mb_node(m, "Sub", 2, (const char *[]){e, c1}, 1, (const char *[]){t2});
    mb_node(m, "Mul", 2, (const char *[]){t1, t2}, 1, (const char *[]){z});
}

static qfd_model *build(chain_fn f)
{
    qfd_model *m = mb_new(20);
    mb_input(m, "z0", 3, DIMS(2, 6, D));
    char prev[32] = "z0";
    for (int l = 1; l <= LAYERS; l++) {
        char w[32], h[32], z[32];
        name(w, "w", l), name(h, "h", l), name(z, "z", l);
        mb_param(m, w, 2, DIMS(D, D), NULL, -0.5f, 0.5f);
        mb_node(m, "MatMul", 2, (const char *[]){prev, w}, 1, (const char *[]){h});
        f(m, h, z, l);
        strcpy(prev, z);
    }
    mb_param(m, "wo", 2, DIMS(D, 5), NULL, -0.5f, 0.5f);
    mb_node(m, "MatMul", 2, (const char *[]){prev, "wo"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

typedef enum plan_kind { OWN, SHARED, REMAT } plan_kind;

/* One step's parameter gradients (names starting with "w", concatenated
 * in tensor order into grads[0..n)) and the executor's memory. */
static int step(chain_fn f, plan_kind kind, float *grads, size_t cap, size_t *n, size_t *memory)
{
    qfd_model *m = build(f);
    qfd_ctx *ctx = qfd_ctx_new();
    const qfd_graph *g = &m->graph;
    uint8_t *train = calloc(g->n_tensors + 1, 1);
    qfd_exec *e = NULL;
    float xv[2 * 6 * D];
    for (int i = 0; i < 2 * 6 * D; i++)
        xv[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    qfd_array x = {QFD_DT_FLOAT, 3, {2, 6, D}, xv, sizeof xv};
    int ok = 0;
    for (size_t t = 0; train && t < g->n_tensors; t++)
        train[t] = (g->tensors[t].flags & QFD_T_INITIALIZER) && g->tensors[t].name[0] == 'w';
    if (!train || qfd_exec_new(ctx, m, 2, &e) || qfd_exec_set_trainable(ctx, e, train))
        goto out;
    if (kind != OWN)
        qfd_exec_share_values(e);
    qfd_exec_set_remat(e, kind == REMAT);
    if (seeded_step(ctx, e, &x, 7))
        goto out;
    *n = 0;
    for (size_t t = 0; t < g->n_tensors; t++) {
        if (!train[t])
            continue;
        const qfd_array *gr = qfd_exec_grad(e, (int)t);
        size_t k = gr ? (size_t)qfd_array_numel(gr) : 0;
        if (!gr || *n + k > cap)
            goto out;
        memcpy(grads + *n, gr->data, k * sizeof(float));
        *n += k;
    }
    *memory = qfd_exec_memory(e);
    ok = 1;
out:
    if (!ok)
        fprintf(stderr, "step: %s\n", qfd_ctx_error(ctx));
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return ok;
}

#define CAP 4096

/* Checks one chain; memory[k]: that of plan kind k (0 on failure). */
static void check_chain(const char *label, chain_fn f, bool decomposed, size_t *memory)
{
    static const char *const kinds[] = {"own buffers", "shared", "shared, recomputing"};
    float *g[3] = {malloc(CAP * sizeof(float)), malloc(CAP * sizeof(float)), malloc(CAP * sizeof(float))};
    size_t n[3] = {0}, mem[3] = {0};
    int ok = g[0] && g[1] && g[2];
    for (int k = 0; ok && k < 3; k++)
        ok = step(f, (plan_kind)k, g[k], CAP, &n[k], &mem[k]);
    CHECK(ok);
    size_t differ = 0;
    for (int k = 1; ok && k < 3; k++) {
        CHECK(n[k] == n[0] && n[0] > 0);
        for (size_t i = 0; n[k] == n[0] && i < n[0]; i++)
            differ += memcmp(&g[0][i], &g[k][i], sizeof(float)) != 0;
    }
    bool smaller = decomposed ? mem[2] < mem[1] : mem[2] <= mem[1];
    if (ok && (differ || !smaller || mem[1] >= mem[0])) {
        fprintf(stderr, "%s: %zu gradient elements differ; memory %zu %s, %zu %s, %zu %s\n", label, differ, mem[0],
                kinds[0], mem[1], kinds[1], mem[2], kinds[2]);
        qfd_test_failures++;
    } else if (ok) {
        printf("ok   %-28s %zu gradient elements equal; memory %zu / %zu / %zu bytes (own / shared / recomputing)\n",
               label, n[0], mem[0], mem[1], mem[2]);
    }
    for (int k = 0; k < 3; k++) {
        free(g[k]);
        memory[k] = ok ? mem[k] : 0;
    }
}

int main(void)
{
    size_t gelu[3], gelu_fused[3], ln[3], ln_fused[3], silu[3], fork[3];
    check_chain("GELU in five ops", gelu_parts, true, gelu);
    check_chain("Gelu", gelu_op, false, gelu_fused);
    check_chain("LayerNorm in nine ops", layernorm_parts, true, ln);
    check_chain("LayerNormalization", layernorm_op, false, ln_fused);
    check_chain("SiLU as Sigmoid, Mul", silu_parts, true, silu);
    check_chain("one value, two recomputed", fork_parts, true, fork);
    if (!gelu[REMAT] || gelu[REMAT] >= gelu_fused[SHARED] || !ln[REMAT] || ln[REMAT] > ln_fused[REMAT]) {
        fprintf(stderr, "decomposed, recomputing, against fused: GELU %zu vs %zu kept, LayerNorm %zu vs %zu bytes\n",
                gelu[REMAT], gelu_fused[SHARED], ln[REMAT], ln_fused[REMAT]);
        qfd_test_failures++;
    } else {
        printf("ok   decomposed, recomputing: GELU %zu < %zu bytes (Gelu, output kept), LayerNorm %zu <= %zu\n",
               gelu[REMAT], gelu_fused[SHARED], ln[REMAT], ln_fused[REMAT]);
    }
    return qfd_test_failures ? 1 : 0;
}
