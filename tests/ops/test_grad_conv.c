/* Gradient checks of the conv and matmul families: Conv (im2col, 1x1 and
 * depthwise paths), ConvTranspose, Gemm, MatMul. Every operand is a
 * parameter so that its gradient is checked; one Conv takes X as a graph
 * input to exercise the path that skips dX, and the depthwise path is also
 * run with several threads (batch chunks with partial dW) against one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/gradcheck.h"
#include "../support/model_builder.h"
#include "core/ctx.h"
#include "exec/exec.h"

#define PARAMS(...) ((const char *[]){__VA_ARGS__, NULL})

/* Conv-like attributes; a zero count leaves the attribute out. */
typedef struct conv_attrs {
    int nsp;
    const int64_t *strides, *pads, *dil, *opad;
    int64_t group;
    const char *auto_pad;
} conv_attrs;

static qfd_model *conv_model(const char *op, int rank, const int64_t *xd, const int64_t *wd, int64_t bias_len,
                             const conv_attrs *a, int x_is_input)
{
    qfd_model *m = mb_new(13);
    if (x_is_input)
        mb_input(m, "x", rank, xd);
    else
        mb_param(m, "x", rank, xd, NULL, -1.0f, 1.0f);
    mb_param(m, "w", rank, wd, NULL, -1.0f, 1.0f);
    if (bias_len)
        mb_param(m, "b", 1, &bias_len, NULL, -0.5f, 0.5f);
    qfd_node *n = mb_node(m, op, bias_len ? 3 : 2, (const char *[]){"x", "w", "b"}, 1, (const char *[]){"y"});
    int nsp = rank - 2;
    if (a->strides)
        mb_attr_ints(n, "strides", nsp, a->strides);
    if (a->pads)
        mb_attr_ints(n, "pads", 2 * nsp, a->pads);
    if (a->dil)
        mb_attr_ints(n, "dilations", nsp, a->dil);
    if (a->opad)
        mb_attr_ints(n, "output_padding", nsp, a->opad);
    if (a->group > 1)
        mb_attr_int(n, "group", a->group);
    if (a->auto_pad)
        mb_attr_str(n, "auto_pad", a->auto_pad);
    mb_output(m, "y");
    return m;
}

static qfd_model *gemm_model(const int64_t *ad, const int64_t *bd, int crank, const int64_t *cd, int ta, int tb,
                             float alpha, float beta)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "a", 2, ad, NULL, -1.0f, 1.0f);
    mb_param(m, "b", 2, bd, NULL, -1.0f, 1.0f);
    mb_param(m, "c", crank, cd, NULL, -1.0f, 1.0f);
    qfd_node *n = mb_node(m, "Gemm", 3, (const char *[]){"a", "b", "c"}, 1, (const char *[]){"y"});
    mb_attr_int(n, "transA", ta);
    mb_attr_int(n, "transB", tb);
    mb_attr_float(n, "alpha", alpha);
    mb_attr_float(n, "beta", beta);
    mb_output(m, "y");
    return m;
}

static qfd_model *matmul_model(int ra, const int64_t *ad, int rb, const int64_t *bd)
{
    qfd_model *m = mb_new(13);
    mb_param(m, "a", ra, ad, NULL, -1.0f, 1.0f);
    mb_param(m, "b", rb, bd, NULL, -1.0f, 1.0f);
    mb_node(m, "MatMul", 2, (const char *[]){"a", "b"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

/* Gradients of x and w after one backward with a fixed dY at the given
 * thread count, copied into gx, gw. Frees the model; nonzero on failure. */
static int grads_at(qfd_model *m, int threads, float *gx, float *gw, size_t nx, size_t nw)
{
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    int tx = qfd_graph_find(&m->graph, "x"), tw = qfd_graph_find(&m->graph, "w"), rc = 1;
    train[tx] = train[tw] = 1;
    if (qfd_exec_new(ctx, m, threads, &e) || qfd_exec_set_trainable(ctx, e, train) || qfd_exec_run(ctx, e, NULL, 0))
        goto out;
    qfd_exec_zero_grads(e);
    qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
    for (int64_t i = 0; gy && i < qfd_array_numel(gy); i++)
        ((float *)gy->data)[i] = (float)((i * 37) % 11) * 0.1f - 0.5f;
    if (!gy || qfd_exec_backward(ctx, e))
        goto out;
    memcpy(gx, qfd_exec_grad(e, tx)->data, nx * sizeof *gx);
    memcpy(gw, qfd_exec_grad(e, tw)->data, nw * sizeof *gw);
    rc = 0;
out:
    if (rc)
        printf("  run at %d threads: %s\n", threads, qfd_ctx_error(ctx));
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return rc;
}

/* x -> Relu -> Conv 3x3 -> y1 -> Relu -> Conv 1x1 -> y2 -> Add(y2, y1) ->
 * Relu: on this chain Relu, Conv (adjoint and 1x1 paths) and Add write
 * gradients whose life begins at them into uncleared pool memory
 * (grad_writes). */
static qfd_model *fresh_chain_model(void)
{
    const int64_t xd[] = {2, 16, 6, 6}, w3[] = {16, 16, 3, 3}, w1[] = {16, 16, 1, 1}, p1[] = {1, 1, 1, 1}, bd[] = {16};
    /* x at least 0.1 from Relu's kink, and y1 mostly well above it (bias
     * around 5): a central difference across a kink is no derivative */
    float x[2 * 16 * 36];
    for (int i = 0; i < 2 * 16 * 36; i++) {
        int v = (i * 7) % 19 - 9;
        x[i] = v ? 0.1f * (float)v : 0.5f;
    }
    qfd_model *m = mb_new(13);
    mb_param(m, "x", 4, xd, x, 0.0f, 0.0f);
    mb_param(m, "w", 4, w3, NULL, -0.3f, 0.3f);
    mb_param(m, "b", 1, bd, NULL, 4.5f, 5.5f);
    mb_param(m, "w1", 4, w1, NULL, -0.1f, 0.1f);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r0"});
    qfd_node *c = mb_node(m, "Conv", 3, (const char *[]){"r0", "w", "b"}, 1, (const char *[]){"y1"});
    mb_attr_ints(c, "pads", 4, p1);
    mb_node(m, "Relu", 1, (const char *[]){"y1"}, 1, (const char *[]){"r1"});
    mb_node(m, "Conv", 2, (const char *[]){"r1", "w1"}, 1, (const char *[]){"y2"});
    mb_node(m, "Add", 2, (const char *[]){"y2", "y1"}, 1, (const char *[]){"s"});
    mb_node(m, "Relu", 1, (const char *[]){"s"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

/* Backward three times on one executor, with dY = A, B, A: the third runs
 * on pool memory the second left full of other gradients, which written
 * (not added) gradients must ignore: it must give the first one's dX, dW. */
static int fresh_gradients_repeat(void)
{
    enum { NX = 2 * 16 * 36, NW = 16 * 16 * 9 };
    static float gx[3][NX], gw[3][NW];
    qfd_model *m = fresh_chain_model();
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    int tx = qfd_graph_find(&m->graph, "x"), tw = qfd_graph_find(&m->graph, "w"), fails = 0;
    if (!train || qfd_exec_new(ctx, m, 1, &e))
        goto broken;
    train[tx] = train[tw] = train[qfd_graph_find(&m->graph, "w1")] = 1;
    if (qfd_exec_set_trainable(ctx, e, train))
        goto broken;
    for (int r = 0; r < 3; r++) {
        if (qfd_exec_run(ctx, e, NULL, 0))
            goto broken;
        qfd_exec_zero_grads(e);
        qfd_array *gy = qfd_exec_grad(e, qfd_exec_output_tensor(e, 0));
        for (int64_t i = 0; gy && i < qfd_array_numel(gy); i++)
            ((float *)gy->data)[i] = r == 1 ? 3.0f : (float)((i * 37) % 11) * 0.1f - 0.5f;
        if (!gy || qfd_exec_backward(ctx, e))
            goto broken;
        memcpy(gx[r], qfd_exec_grad(e, tx)->data, sizeof gx[r]);
        memcpy(gw[r], qfd_exec_grad(e, tw)->data, sizeof gw[r]);
    }
    fails = memcmp(gx[0], gx[2], sizeof gx[0]) || memcmp(gw[0], gw[2], sizeof gw[0]);
    printf("%s fresh gradients: the same dY gives the same dX, dW after another backward\n", fails ? "FAIL" : "ok  ");
    goto out;
broken:
    printf("FAIL fresh gradients: did not run: %s\n", qfd_ctx_error(ctx));
    fails = 1;
out:
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return fails;
}

/* The backward splits the batch over threads (depthwise: one chunk per
 * thread with its own partial dW; dense: images dealt round-robin, each
 * thread with its own dW partial and, on the direct path, its own padded
 * dY planes): several threads must give one thread's result. */
static int threads_agree(const char *label, const int64_t *xd, const int64_t *wd, const conv_attrs *a)
{
    const size_t nx = (size_t)(xd[0] * xd[1] * xd[2] * xd[3]), nw = (size_t)(wd[0] * wd[1] * wd[2] * wd[3]);
    float *g = malloc(2 * (nx + nw) * sizeof *g);
    if (!g) {
        printf("FAIL %s: out of memory\n", label);
        return 1;
    }
    float *gx1 = g, *gw1 = gx1 + nx, *gx3 = gw1 + nw, *gw3 = gx3 + nx;
    int fails = 0;
    if (grads_at(conv_model("Conv", 4, xd, wd, 0, a, 0), 1, gx1, gw1, nx, nw) ||
        grads_at(conv_model("Conv", 4, xd, wd, 0, a, 0), 3, gx3, gw3, nx, nw)) {
        printf("FAIL %s: 1 vs 3 threads did not run\n", label);
        fails++;
    } else {
        double worst = 0;
        for (size_t i = 0; i < nx; i++)
            worst = fmax(worst, fabs(gx1[i] - gx3[i]) / fmax(1.0, fabs(gx1[i])));
        for (size_t i = 0; i < nw; i++)
            worst = fmax(worst, fabs(gw1[i] - gw3[i]) / fmax(1.0, fabs(gw1[i])));
        fails = worst > 1e-5;
        printf("%s %s: dX, dW at 3 threads vs 1: worst relative difference %.2g\n", fails ? "FAIL" : "ok  ", label,
               worst);
    }
    free(g);
    return fails;
}

int main(void)
{
    int fails = 0;
    const char *const *xwb = PARAMS("x", "w", "b"), *const *xw = PARAMS("x", "w");

    /* ---- Conv ---- */
    const int64_t x2[] = {2, 3, 6, 6}, w43[] = {4, 3, 3, 3}, p1[] = {1, 1, 1, 1}, s2[] = {2, 2}, d2[] = {2, 2};
    const int64_t x4[] = {2, 4, 6, 6}, w4g2[] = {6, 2, 3, 3}, wdw[] = {4, 1, 3, 3}, w11[] = {5, 3, 1, 1};
    const int64_t x57[] = {1, 3, 5, 7}, pasym[] = {0, 2, 1, 0};
    fails += gradcheck("Conv 3x3 pad 1 stride 1 with bias",
                       conv_model("Conv", 4, x2, w43, 4, &(conv_attrs){.pads = p1}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv 3x3 stride 2 pad 1",
                       conv_model("Conv", 4, x2, w43, 4, &(conv_attrs){.pads = p1, .strides = s2}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv 3x3 dilation 2",
                       conv_model("Conv", 4, x2, w43, 0, &(conv_attrs){.dil = d2, .pads = p1}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 108});
    fails += gradcheck("Conv 3x3 groups 2",
                       conv_model("Conv", 4, x4, w4g2, 6, &(conv_attrs){.pads = p1, .group = 2}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv depthwise 3x3 stride 1 (direct loop)",
                       conv_model("Conv", 4, x4, wdw, 4, &(conv_attrs){.pads = p1, .group = 4}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv depthwise 3x3 stride 2 (direct loop)",
                       conv_model("Conv", 4, x4, wdw, 4, &(conv_attrs){.pads = p1, .strides = s2, .group = 4}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    const int64_t wdm[] = {8, 1, 3, 3};
    fails += gradcheck("Conv depthwise multiplier 2 (8 outputs of 4 channels), dilation 2",
                       conv_model("Conv", 4, x4, wdm, 0, &(conv_attrs){.pads = p1, .dil = d2, .group = 4}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 108});
    const int64_t xwide[] = {1, 2, 3, 500}, wwide[] = {2, 1, 3, 3}, p0101[] = {0, 1, 0, 1};
    fails += gradcheck("Conv depthwise 499 output columns (dW without row accumulators)",
                       conv_model("Conv", 4, xwide, wwide, 2, &(conv_attrs){.pads = p0101, .group = 2}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 120});
    const int64_t p2[] = {2, 2, 2, 2}, p1021[] = {1, 0, 1, 2};
    fails += gradcheck("Conv depthwise dilation 2 pad 2 (flat dW)",
                       conv_model("Conv", 4, x4, wdw, 0, &(conv_attrs){.pads = p2, .dil = d2, .group = 4}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 108});
    fails += gradcheck("Conv depthwise pads [1,0,1,2] (flat dW, rows cut unevenly)",
                       conv_model("Conv", 4, x4, wdw, 0, &(conv_attrs){.pads = p1021, .group = 4}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 108});
    fails += gradcheck("Conv 1x1 no pad (direct sgemm)", conv_model("Conv", 4, x2, w11, 5, &(conv_attrs){0}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv 3x3 stride 2 auto_pad SAME_UPPER",
                       conv_model("Conv", 4, x57, w43, 4, &(conv_attrs){.strides = s2, .auto_pad = "SAME_UPPER"}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("Conv 3x3 asymmetric pads [0,2,1,0]",
                       conv_model("Conv", 4, x57, w43, 4, &(conv_attrs){.pads = pasym}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    const int64_t x1d[] = {2, 3, 9}, w1d[] = {4, 3, 3}, p1d[] = {1, 1}, s1d[] = {2};
    fails += gradcheck("Conv 1-D k3 stride 2 pad 1",
                       conv_model("Conv", 3, x1d, w1d, 4, &(conv_attrs){.pads = p1d, .strides = s1d}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    static float xin[216];
    for (int i = 0; i < 216; i++)
        xin[i] = (float)((i * 29) % 17) * 0.12f - 1.0f;
    fails += gradcheck("Conv 3x3 with X a graph input (no dX)",
                       conv_model("Conv", 4, x2, w43, 4, &(conv_attrs){.pads = p1}, 1),
                       &(gradcheck_opts){.params = PARAMS("w", "b"),
                                         .inputs = &(qfd_array){.dtype = QFD_DT_FLOAT,
                                                                .rank = 4,
                                                                .dims = {2, 3, 6, 6},
                                                                .data = xin,
                                                                .nbytes = 216 * sizeof(float)},
                                         .n_inputs = 1,
                                         .max_elems = 108});
    const int64_t xdw[] = {5, 6, 9, 9}, wdw6[] = {6, 1, 3, 3};
    fails += threads_agree("Conv depthwise 3x3 stride 1 [5,6,9,9]", xdw, wdw6, &(conv_attrs){.pads = p1, .group = 6});
    fails += threads_agree("Conv depthwise 3x3 stride 2 [5,6,9,9]", xdw, wdw6,
                           &(conv_attrs){.pads = p1, .strides = s2, .group = 6});
    /* dX as a conv over dY (the direct kernel on CPUs with AVX-512F): its
     * channel-vector form (16 input channels), its flat form (8), and
     * pads that make the adjoint's begin and end pads differ */
    const int64_t x16[] = {2, 16, 7, 7}, w16[] = {16, 16, 3, 3}, x8[] = {2, 8, 6, 7}, w48[] = {4, 8, 3, 3};
    const int64_t p0[] = {0, 0, 0, 0};
    fails += gradcheck("Conv 3x3 16 -> 16 pad 1 (dX by the adjoint conv, channel-vector)",
                       conv_model("Conv", 4, x16, w16, 16, &(conv_attrs){.pads = p1}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 160});
    fails += gradcheck("Conv 3x3 16 -> 16 dilation 2 pad 2",
                       conv_model("Conv", 4, x16, w16, 0, &(conv_attrs){.pads = p2, .dil = d2}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 160});
    fails += gradcheck("Conv 3x3 8 -> 4 pads [0,2,1,0] (dX by the adjoint conv, flat)",
                       conv_model("Conv", 4, x8, w48, 4, &(conv_attrs){.pads = pasym}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 160});
    fails += gradcheck("Conv 3x3 8 -> 4 no pad", conv_model("Conv", 4, x8, w48, 0, &(conv_attrs){.pads = p0}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 160});
    /* dW by the direct kernel (16 or 32 output channels, any stride) */
    const int64_t w32[] = {32, 8, 3, 3}, w1s[] = {16, 8, 1, 1};
    fails += gradcheck("Conv 3x3 8 -> 32 stride 2 pad 1 (dW by the direct kernel, 32-channel tiles)",
                       conv_model("Conv", 4, x8, w32, 32, &(conv_attrs){.pads = p1, .strides = s2}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 160});
    fails += gradcheck("Conv 1x1 stride 2 8 -> 16 (a ResNet shortcut)",
                       conv_model("Conv", 4, x8, w1s, 0, &(conv_attrs){.strides = s2}, 0),
                       &(gradcheck_opts){.params = xw, .max_elems = 160});
    const int64_t x16b[] = {5, 16, 7, 7};
    fails += threads_agree("Conv 3x3 16 -> 16 pad 1 [5,16,7,7]", x16b, w16, &(conv_attrs){.pads = p1});
    fails += gradcheck("Relu, Conv 3x3, Relu, Conv 1x1, Add, Relu (gradients written, not added)", fresh_chain_model(),
                       &(gradcheck_opts){.params = PARAMS("x", "w", "w1"), .max_elems = 120});
    fails += fresh_gradients_repeat();

    /* ---- ConvTranspose ---- */
    const int64_t xt[] = {2, 3, 4, 4}, wt[] = {3, 2, 3, 3}, op1[] = {1, 1}, xtg[] = {2, 4, 3, 3}, wtg[] = {4, 3, 3, 3};
    fails += gradcheck(
        "ConvTranspose 3x3 stride 2 pad 1 output_padding 1",
        conv_model("ConvTranspose", 4, xt, wt, 2, &(conv_attrs){.pads = p1, .strides = s2, .opad = op1}, 0),
        &(gradcheck_opts){.params = xwb, .max_elems = 108});
    fails += gradcheck("ConvTranspose 3x3 group 2",
                       conv_model("ConvTranspose", 4, xtg, wtg, 6, &(conv_attrs){.group = 2}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});
    const int64_t wt1[] = {3, 5, 1, 1};
    fails += gradcheck("ConvTranspose 1x1 (direct sgemm)",
                       conv_model("ConvTranspose", 4, xt, wt1, 5, &(conv_attrs){0}, 0),
                       &(gradcheck_opts){.params = xwb, .max_elems = 108});

    /* ---- Gemm ---- */
    const char *const *abc = PARAMS("a", "b", "c");
    const int64_t m = 3, k = 4, n = 5;
    for (int ta = 0; ta <= 1; ta++)
        for (int tb = 0; tb <= 1; tb++) {
            const int64_t ad[] = {ta ? k : m, ta ? m : k}, bd[] = {tb ? n : k, tb ? k : n}, cmn[] = {m, n}, cn[] = {n};
            char label[96];
            snprintf(label, sizeof label, "Gemm transA=%d transB=%d alpha 0.7 beta 1.3 C [M,N]", ta, tb);
            fails += gradcheck(label, gemm_model(ad, bd, 2, cmn, ta, tb, 0.7f, 1.3f), &(gradcheck_opts){.params = abc});
            snprintf(label, sizeof label, "Gemm transA=%d transB=%d alpha 1.5 beta 0.5 C [N]", ta, tb);
            fails += gradcheck(label, gemm_model(ad, bd, 1, cn, ta, tb, 1.5f, 0.5f), &(gradcheck_opts){.params = abc});
        }
    const int64_t g_a[] = {3, 4}, g_b[] = {4, 5}, c_m1[] = {3, 1};
    /* rank 0: the dims pointer is not read, but must not be NULL */
    fails += gradcheck("Gemm C scalar (rank 0), beta -2", gemm_model(g_a, g_b, 0, g_a, 0, 0, 1.0f, -2.0f),
                       &(gradcheck_opts){.params = abc});
    fails += gradcheck("Gemm C [M,1], transA=1 transB=1",
                       gemm_model((const int64_t[]){4, 3}, (const int64_t[]){5, 4}, 2, c_m1, 1, 1, 0.8f, 1.1f),
                       &(gradcheck_opts){.params = abc});

    /* ---- MatMul ---- */
    const char *const *ab = PARAMS("a", "b");
    fails += gradcheck("MatMul 2-D x 2-D [3,4]x[4,5]",
                       matmul_model(2, (const int64_t[]){3, 4}, 2, (const int64_t[]){4, 5}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 3-D x 2-D [2,3,4]x[4,5] (folded)",
                       matmul_model(3, (const int64_t[]){2, 3, 4}, 2, (const int64_t[]){4, 5}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 4-D x 4-D [2,2,3,4]x[2,2,4,3] batched",
                       matmul_model(4, (const int64_t[]){2, 2, 3, 4}, 4, (const int64_t[]){2, 2, 4, 3}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul broadcast batch [1,3,4,5]x[2,1,5,6]",
                       matmul_model(4, (const int64_t[]){1, 3, 4, 5}, 4, (const int64_t[]){2, 1, 5, 6}),
                       &(gradcheck_opts){.params = ab, .max_elems = 60});
    fails += gradcheck("MatMul 2-D x 3-D [3,4]x[2,4,5] (A broadcast)",
                       matmul_model(2, (const int64_t[]){3, 4}, 3, (const int64_t[]){2, 4, 5}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 1-D x 2-D [4]x[4,5]", matmul_model(1, (const int64_t[]){4}, 2, (const int64_t[]){4, 5}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 2-D x 1-D [3,4]x[4]", matmul_model(2, (const int64_t[]){3, 4}, 1, (const int64_t[]){4}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 1-D x 3-D [4]x[2,4,5]",
                       matmul_model(1, (const int64_t[]){4}, 3, (const int64_t[]){2, 4, 5}),
                       &(gradcheck_opts){.params = ab});
    fails += gradcheck("MatMul 1-D x 1-D [4]x[4]", matmul_model(1, (const int64_t[]){4}, 1, (const int64_t[]){4}),
                       &(gradcheck_opts){.params = ab});

    printf("%s\n", fails ? "FAILED" : "all gradient checks passed");
    return fails ? 1 : 0;
}
