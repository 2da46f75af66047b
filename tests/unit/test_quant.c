/* The quantization module (src/quant) on small built graphs:
 *  - plan: where quantizers go, their integer ranges, per-channel axes,
 *    bias entries, --skip and --first-last, and the models it refuses;
 *  - calibrate: weight steps per channel, activation steps by minmax,
 *    percentile and mse, the Relu6 cap;
 *  - export: the QDQ model computes exactly what the fake-quant model
 *    computes (bits 2 to 8, signed and unsigned ranges, Conv, Gemm, MatMul,
 *    residual Add), and has the structure ONNX Runtime needs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "../support/quant_models.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/edit.h"
#include "quant/quant.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) / 16777216.0);
}

static void rename_node(qfd_model *m, size_t i, const char *name)
{
    free(m->graph.nodes[i].name);
    m->graph.nodes[i].name = strdup(name);
}

static qfd_quant_cfg cfg_of(int wbits, int abits, qfd_first_last fl)
{
    qfd_quant_cfg c = {wbits, abits, fl, QFD_FORMAT_ORT, NULL, 0};
    return c;
}

/* The plan's entry for tensor `name`, or NULL. */
static const qfd_qtensor *planned(const qfd_quant_plan *p, const qfd_model *m, const char *name)
{
    int t = qfd_graph_find(&m->graph, name);
    for (size_t i = 0; t >= 0 && i < p->n_q; i++)
        if (p->q[i].tensor == t)
            return &p->q[i];
    return NULL;
}

static qfd_qtensor *planned_mut(qfd_quant_plan *p, const qfd_model *m, const char *name)
{
    return (qfd_qtensor *)planned(p, m, name);
}

/* An activation planned per tensor with range [qmin, qmax]. */
static bool is_act(const qfd_qtensor *q, int bits, int64_t qmin, int64_t qmax)
{
    return q && !q->weight && !q->bias && q->axis == -1 && q->bits == bits && q->qmin == qmin && q->qmax == qmax &&
           q->n_step == 1;
}

/* A weight planned per channel along axis with n_step channels. */
static bool is_weight(const qfd_qtensor *q, int bits, int axis, int64_t n_step)
{
    return q && q->weight && !q->bias && q->axis == axis && q->bits == bits && q->qmin == -(INT64_C(1) << (bits - 1)) &&
           q->qmax == (INT64_C(1) << (bits - 1)) - 1 && q->n_step == n_step;
}

static const qfd_qlayer *layer_named(const qfd_quant_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n_layers; i++)
        if (!strcmp(p->layers[i].name, name))
            return &p->layers[i];
    return NULL;
}

static void conv(qfd_model *m, const char *x, const char *w, const char *b, const char *y, int64_t cout, int64_t cin,
                 int64_t k)
{
    const int64_t wd[] = {cout, cin, k, k}, bd[] = {cout};
    mb_param(m, w, 4, wd, NULL, -0.5f, 0.5f);
    if (b)
        mb_param(m, b, 1, bd, NULL, -0.2f, 0.2f);
    qfd_node *n = mb_node(m, "Conv", b ? 3 : 2, (const char *[]){x, w, b ? b : ""}, 1, (const char *[]){y});
    const int64_t p = k / 2;
    mb_attr_ints(n, "pads", 4, (const int64_t[]){p, p, p, p});
}

/* x[2,3,8,8] -> conv0 -> Relu r0 -> conv1 -> Relu r1 -> ... -> conv{n-1} -> y
 * (nodes conv0, relu0, conv1, ...; weights w0.., biases b0..) */
static qfd_model *conv_chain(int layers)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){2, 3, 8, 8});
    char x[16] = "x", w[16], b[16], c[16], r[16], name[16];
    for (int i = 0; i < layers; i++) {
        snprintf(w, sizeof w, "w%d", i);
        snprintf(b, sizeof b, "b%d", i);
        if (i == layers - 1)
            snprintf(c, sizeof c, "y");
        else
            snprintf(c, sizeof c, "c%d", i);
        conv(m, x, w, b, c, 4, i ? 4 : 3, 3);
        snprintf(name, sizeof name, "conv%d", i);
        rename_node(m, m->graph.n_nodes - 1, name);
        if (i == layers - 1)
            break;
        snprintf(r, sizeof r, "r%d", i);
        mb_node(m, "Relu", 1, (const char *[]){c}, 1, (const char *[]){r});
        snprintf(name, sizeof name, "relu%d", i);
        rename_node(m, m->graph.n_nodes - 1, name);
        snprintf(x, sizeof x, "%s", r);
    }
    mb_output(m, "y");
    return m;
}

/* ---- plan ---------------------------------------------------------------- */

static void test_plan_conv_relu_conv(qfd_ctx *ctx)
{
    qfd_model *m = conv_chain(2);
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    /* the image is signed, the Relu output unsigned, weights signed on axis 0 */
    CHECK(is_act(planned(&p, m, "x"), 4, -8, 7));
    CHECK(is_act(planned(&p, m, "r0"), 4, 0, 15));
    CHECK(is_weight(planned(&p, m, "w0"), 4, 0, 4));
    CHECK(is_weight(planned(&p, m, "w1"), 4, 0, 4));
    /* the Conv output before its Relu: the Relu is fused, the quantizer follows it */
    CHECK(!planned(&p, m, "c0"));
    /* biases: int32 at x_step * w_step */
    const qfd_qtensor *b0 = planned(&p, m, "b0"), *b1 = planned(&p, m, "b1");
    CHECK(b0 && b0->bias && !b0->weight && b0->qmin == INT32_MIN && b0->qmax == INT32_MAX);
    CHECK(b0 && b0->x_of == qfd_graph_find(&m->graph, "x") && b0->w_of == qfd_graph_find(&m->graph, "w0"));
    CHECK(b1 && b1->bias && b1->x_of == qfd_graph_find(&m->graph, "r0") && b1->w_of == qfd_graph_find(&m->graph, "w1"));
    CHECK(p.n_layers == 2 && layer_named(&p, "conv0") && layer_named(&p, "conv1"));
    CHECK(p.n_layers == 2 && !strcmp(p.layers[0].op, "Conv") && p.layers[0].wbits == 4 && p.layers[0].abits == 4);
    qfd_quant_plan_free(&p);

    /* --first-last 8: both layers are an edge, so everything is 8-bit */
    c = cfg_of(4, 4, QFD_FIRST_LAST_8);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "x"), 8, -128, 127));
    CHECK(is_act(planned(&p, m, "r0"), 8, 0, 255));
    CHECK(is_weight(planned(&p, m, "w0"), 8, 0, 4));
    CHECK(is_weight(planned(&p, m, "w1"), 8, 0, 4));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

static void test_plan_first_last(qfd_ctx *ctx)
{
    qfd_model *m = conv_chain(3);
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(4, 3, QFD_FIRST_LAST_8);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    const qfd_qlayer *l0 = layer_named(&p, "conv0"), *l1 = layer_named(&p, "conv1"), *l2 = layer_named(&p, "conv2");
    CHECK(l0 && l0->wbits == 8 && l0->abits == 8);
    CHECK(l1 && l1->wbits == 4 && l1->abits == 3);
    CHECK(l2 && l2->wbits == 8 && l2->abits == 8);
    CHECK(is_weight(planned(&p, m, "w0"), 8, 0, 4));
    CHECK(is_weight(planned(&p, m, "w1"), 4, 0, 4));
    CHECK(is_weight(planned(&p, m, "w2"), 8, 0, 4));
    CHECK(is_act(planned(&p, m, "x"), 8, -128, 127));
    CHECK(is_act(planned(&p, m, "r1"), 8, 0, 255)); /* the last layer's input */
    /* the first layer's output is the second layer's input: low bits; the
     * last layer's output only leaves the graph: no quantizer */
    CHECK(is_act(planned(&p, m, "r0"), 3, 0, 7));
    CHECK(!planned(&p, m, "y"));
    qfd_quant_plan_free(&p);

    c.first_last = QFD_FIRST_LAST_SAME;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_weight(planned(&p, m, "w0"), 4, 0, 4) && is_weight(planned(&p, m, "w2"), 4, 0, 4));
    CHECK(is_act(planned(&p, m, "x"), 3, -4, 3));
    CHECK(is_act(planned(&p, m, "r0"), 3, 0, 7) && is_act(planned(&p, m, "r1"), 3, 0, 7));
    qfd_quant_plan_free(&p);

    c.first_last = QFD_FIRST_LAST_FP;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    l0 = layer_named(&p, "conv0"), l1 = layer_named(&p, "conv1"), l2 = layer_named(&p, "conv2");
    CHECK(l0 && l0->wbits == 0 && l0->abits == 0 && l2 && l2->wbits == 0 && l2->abits == 0);
    CHECK(l1 && l1->wbits == 4 && l1->abits == 3);
    CHECK(!planned(&p, m, "w0") && !planned(&p, m, "w2") && !planned(&p, m, "x"));
    CHECK(!planned(&p, m, "b0") && !planned(&p, m, "b2"));
    CHECK(is_weight(planned(&p, m, "w1"), 4, 0, 4) && is_act(planned(&p, m, "r0"), 3, 0, 7));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

/* x[3,6] -> Gemm(W, C, transB) -> y */
static qfd_model *gemm_model(int trans_b, float beta)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 2, (const int64_t[]){3, 6});
    const int64_t wd[2] = {trans_b ? 5 : 6, trans_b ? 6 : 5}, cd[] = {5};
    mb_param(m, "W", 2, wd, NULL, -1, 1);
    mb_param(m, "C", 1, cd, NULL, -1, 1);
    qfd_node *n = mb_node(m, "Gemm", 3, (const char *[]){"x", "W", "C"}, 1, (const char *[]){"y"});
    mb_attr_int(n, "transB", trans_b);
    if (beta != 1.0f)
        mb_attr_float(n, "beta", beta);
    mb_output(m, "y");
    return m;
}

static void test_plan_gemm_matmul(qfd_ctx *ctx)
{
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
    for (int tb = 0; tb <= 1; tb++) {
        qfd_model *m = gemm_model(tb, 1.0f);
        CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
        CHECK(is_weight(planned(&p, m, "W"), 4, tb ? 0 : 1, 5));
        CHECK(is_act(planned(&p, m, "x"), 4, -8, 7));
        const qfd_qtensor *b = planned(&p, m, "C");
        CHECK(b && b->bias && b->w_of == qfd_graph_find(&m->graph, "W"));
        CHECK(!planned(&p, m, "y")); /* only Conv gets an output quantizer */
        qfd_quant_plan_free(&p);
        qfd_model_free(m);
    }
    /* beta != 1 scales the bias: it stays float */
    qfd_model *m = gemm_model(1, 0.5f);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_weight(planned(&p, m, "W"), 4, 0, 5) && !planned(&p, m, "C"));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);

    /* MatMul by a 2-D initializer [K, N]: per channel along N (axis 1); no bias */
    m = mb_new(13);
    mb_input(m, "x", 3, (const int64_t[]){2, 3, 6});
    mb_param(m, "W", 2, (const int64_t[]){6, 5}, NULL, -1, 1);
    mb_node(m, "MatMul", 2, (const char *[]){"x", "W"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_weight(planned(&p, m, "W"), 4, 1, 5) && is_act(planned(&p, m, "x"), 4, -8, 7));
    CHECK(p.n_q == 2);
    qfd_quant_plan_free(&p);
    qfd_model_free(m);

    /* MatMul of two activations: both quantized per tensor, each with its own sign */
    m = mb_new(13);
    mb_input(m, "a", 3, (const int64_t[]){2, 3, 4});
    mb_input(m, "b", 3, (const int64_t[]){2, 4, 5});
    mb_node(m, "Relu", 1, (const char *[]){"a"}, 1, (const char *[]){"ra"});
    mb_node(m, "MatMul", 2, (const char *[]){"ra", "b"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "ra"), 4, 0, 15) && is_act(planned(&p, m, "b"), 4, -8, 7));
    CHECK(p.n_q == 2);
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

/* Relu6 as PyTorch exports it: Clip with min and max from Constant nodes. */
static void test_plan_clip_constants(qfd_ctx *ctx)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 3, 6, 6});
    conv(m, "x", "w0", "b0", "c0", 4, 3, 3);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"lo"}), "value_float", 0.0f);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"hi"}), "value_float", 6.0f);
    mb_node(m, "Clip", 3, (const char *[]){"c0", "lo", "hi"}, 1, (const char *[]){"r"});
    conv(m, "r", "w1", NULL, "y", 2, 4, 1);
    mb_output(m, "y");
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    const qfd_qtensor *r = planned(&p, m, "r");
    CHECK(is_act(r, 4, 0, 15) && r->clip_hi == 6.0f);
    CHECK(!planned(&p, m, "c0"));
    CHECK(planned(&p, m, "x") && isinf(planned(&p, m, "x")->clip_hi));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);

    /* Clip(-1, 6) can be negative: signed, no cap */
    m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 3, 6, 6});
    conv(m, "x", "w0", NULL, "c0", 4, 3, 3);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"lo"}), "value_float", -1.0f);
    mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"hi"}), "value_float", 6.0f);
    mb_node(m, "Clip", 3, (const char *[]){"c0", "lo", "hi"}, 1, (const char *[]){"r"});
    conv(m, "r", "w1", NULL, "y", 2, 4, 1);
    mb_output(m, "y");
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    r = planned(&p, m, "r");
    CHECK(is_act(r, 4, -8, 7) && isinf(r->clip_hi));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

/* x -> conv0 -> y0; Relu(x) -> r; Add(y0, r) -> s -> Add(s, k) -> z, k an initializer */
static qfd_model *residual_model(void)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 4, 6, 6});
    conv(m, "x", "w0", "b0", "y0", 4, 4, 3);
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_node(m, "Add", 2, (const char *[]){"y0", "r"}, 1, (const char *[]){"s"});
    rename_node(m, m->graph.n_nodes - 1, "residual");
    mb_param(m, "k", 3, (const int64_t[]){4, 1, 1}, NULL, -1, 1);
    mb_node(m, "Add", 2, (const char *[]){"s", "k"}, 1, (const char *[]){"z"});
    mb_output(m, "z");
    return m;
}

static void test_plan_add(qfd_ctx *ctx)
{
    qfd_model *m = residual_model();
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(8, 8, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    /* the Conv's output feeds an Add: it gets its output quantizer */
    CHECK(is_act(planned(&p, m, "y0"), 8, -128, 127));
    /* the residual Add: both inputs, r only through it (unsigned) */
    CHECK(is_act(planned(&p, m, "r"), 8, 0, 255));
    /* an Add of an activation and an initializer is no residual */
    CHECK(!planned(&p, m, "s") && !planned(&p, m, "k"));
    qfd_quant_plan_free(&p);

    /* below 8 bits the Add runs in float in ort and int4 files: no
     * quantizer on its inputs; tensorrt keeps them (signed), for TensorRT
     * to fuse the Add into the Conv */
    c.wbits = c.abits = 4;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(!planned(&p, m, "y0") && !planned(&p, m, "r"));
    qfd_quant_plan_free(&p);
    c.format = QFD_FORMAT_TENSORRT;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "y0"), 4, -8, 7) && is_act(planned(&p, m, "r"), 4, -8, 7));
    qfd_quant_plan_free(&p);
    c.format = QFD_FORMAT_ORT;

    /* --skip on the Add's name leaves its other input float */
    const char *skip[] = {"resid*"};
    c.wbits = c.abits = 8;
    c.skip = skip;
    c.n_skip = 1;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "y0"), 8, -128, 127) && !planned(&p, m, "r"));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

static void test_plan_skip(qfd_ctx *ctx)
{
    qfd_model *m = conv_chain(3);
    qfd_quant_plan p;
    const char *by_name[] = {"conv1"};
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
    c.skip = by_name;
    c.n_skip = 1;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    const qfd_qlayer *l1 = layer_named(&p, "conv1");
    CHECK(l1 && l1->wbits == 0 && l1->abits == 0);
    CHECK(!planned(&p, m, "w1") && !planned(&p, m, "b1"));
    CHECK(is_weight(planned(&p, m, "w0"), 4, 0, 4) && is_weight(planned(&p, m, "w2"), 4, 0, 4));
    CHECK(p.n_layers == 3);
    qfd_quant_plan_free(&p);

    /* by op type, with a shell pattern: conv -> flatten -> Gemm, the Gemm kept float */
    qfd_model *g = mb_new(13);
    mb_input(g, "x", 4, (const int64_t[]){2, 3, 4, 4});
    conv(g, "x", "w0", "b0", "c0", 2, 3, 3);
    mb_node(g, "Relu", 1, (const char *[]){"c0"}, 1, (const char *[]){"r0"});
    mb_node(g, "Flatten", 1, (const char *[]){"r0"}, 1, (const char *[]){"f"});
    mb_param(g, "W", 2, (const int64_t[]){5, 32}, NULL, -1, 1);
    mb_param(g, "C", 1, (const int64_t[]){5}, NULL, -1, 1);
    mb_attr_int(mb_node(g, "Gemm", 3, (const char *[]){"f", "W", "C"}, 1, (const char *[]){"y"}), "transB", 1);
    mb_output(g, "y");
    const char *by_op[] = {"no-such-node", "Ge?m"};
    c.skip = by_op;
    c.n_skip = 2;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, g, &c, &p));
    CHECK(p.n_layers == 2 && p.layers[1].wbits == 0 && !strcmp(p.layers[1].op, "Gemm"));
    CHECK(!planned(&p, g, "W") && !planned(&p, g, "C") && !planned(&p, g, "f"));
    /* below 8 bits no quantizer on an output only a float layer reads */
    CHECK(is_weight(planned(&p, g, "w0"), 4, 0, 2) && !planned(&p, g, "r0"));
    qfd_quant_plan_free(&p);
    c.wbits = c.abits = 8;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, g, &c, &p));
    CHECK(is_weight(planned(&p, g, "w0"), 8, 0, 2) && is_act(planned(&p, g, "r0"), 8, 0, 255));
    qfd_quant_plan_free(&p);
    qfd_model_free(g);
    qfd_model_free(m);
}

static void expect_refused_cfg(qfd_ctx *ctx, const char *label, qfd_model *m, const qfd_quant_cfg *cfg,
                               qfd_status want_st, const char *want)
{
    qfd_quant_plan p;
    qfd_quant_cfg c = *cfg;
    m->path = strdup("dir/model.onnx"); /* as loaded from a file: the message names it */
    qfd_status st = qfd_quant_plan_make(ctx, m, &c, &p);
    bool ok = st == want_st && !strncmp(qfd_ctx_error(ctx), "dir/model.onnx: ", 16) &&
              strstr(qfd_ctx_error(ctx), want) && p.n_q == 0 && !p.q && !p.layers;
    printf("%s plan refuses %s: %s\n", ok ? "ok  " : "FAIL", label, st ? qfd_ctx_error(ctx) : "(accepted)");
    CHECK(ok);
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
}

static void expect_refused(qfd_ctx *ctx, const char *label, qfd_model *m, qfd_status want_st, const char *want)
{
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_8);
    expect_refused_cfg(ctx, label, m, &c, want_st, want);
}

static void test_plan_refused(qfd_ctx *ctx)
{
    /* QuantizeLinear -> DequantizeLinear -> Conv */
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 1, 4, 4});
    const float one = 1.0f;
    const uint8_t zero = 0;
    mb_const(m, "s", QFD_DT_FLOAT, 0, NULL, &one);
    mb_const(m, "zp", QFD_DT_UINT8, 0, NULL, &zero);
    mb_node(m, "QuantizeLinear", 3, (const char *[]){"x", "s", "zp"}, 1, (const char *[]){"q"});
    mb_node(m, "DequantizeLinear", 3, (const char *[]){"q", "s", "zp"}, 1, (const char *[]){"dq"});
    conv(m, "dq", "w", NULL, "y", 1, 1, 1);
    mb_output(m, "y");
    expect_refused(ctx, "QDQ", m, QFD_ERR_ARG, "already quantized");

    /* a fake-quant student (FakeQuant, ai.qfd) */
    m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){1, 1, 4, 4});
    mb_const(m, "s", QFD_DT_FLOAT, 0, NULL, &one);
    qfd_node *n = mb_node(m, "FakeQuant", 2, (const char *[]){"x", "s"}, 1, (const char *[]){"xq"});
    mb_domain(m, n, "ai.qfd", 1);
    mb_attr_int(n, "qmin", -8);
    mb_attr_int(n, "qmax", 7);
    conv(m, "xq", "w", NULL, "y", 1, 1, 1);
    mb_output(m, "y");
    expect_refused(ctx, "FakeQuant", m, QFD_ERR_ARG, "already quantized");

    /* nothing to quantize */
    m = mb_new(13);
    mb_input(m, "x", 2, (const int64_t[]){2, 3});
    mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    mb_node(m, "Add", 2, (const char *[]){"r", "x"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    expect_refused(ctx, "a model without layers", m, QFD_ERR_UNSUPPORTED, "no Conv, ConvTranspose, Gemm or MatMul");

    /* every layer kept float: the written file would be the FP32 model */
    const char *all[] = {"conv0", "C*"};
    qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
    c.skip = all;
    c.n_skip = 2;
    expect_refused_cfg(ctx, "--skip of every layer", conv_chain(3), &c, QFD_ERR_ARG,
                       "all 3 Conv, ConvTranspose, Gemm and MatMul layers are kept float");
    c = cfg_of(4, 4, QFD_FIRST_LAST_FP);
    expect_refused_cfg(ctx, "--first-last fp of two layers", conv_chain(2), &c, QFD_ERR_ARG, "nothing to quantize");
}

/* ---- calibrate ------------------------------------------------------------ */

/* Calibrates plan p of m on n images of shape dims, in batches of dims[0]. */
static qfd_status calibrate(qfd_ctx *ctx, const qfd_model *m, qfd_quant_plan *p, qfd_calib_kind kind, const float *x,
                            int64_t n, int rank, const int64_t *dims)
{
    qfd_array shape = {QFD_DT_FLOAT, rank, {0}, NULL, 0};
    memcpy(shape.dims, dims, (size_t)rank * sizeof *dims);
    qfd_calib_opts o = {kind, x, n, &shape, (int)dims[0], 1, NULL, NULL};
    return qfd_quant_calibrate(ctx, m, p, &o);
}

static void test_calib_weights(qfd_ctx *ctx)
{
    /* w [3, 2, 2, 2]: channel 1 is channel 0 times 10, channel 2 all zero */
    float w[24] = {0};
    for (int i = 0; i < 8; i++) {
        w[i] = uniform(-1, 1);
        w[8 + i] = 10.0f * w[i];
    }
    float x[4 * 2 * 4 * 4];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = uniform(-1, 1);
    const int64_t xd[] = {4, 2, 4, 4};
    for (int kind = 0; kind < 3; kind++) {
        qfd_model *m = mb_new(13);
        mb_input(m, "x", 4, xd);
        mb_param(m, "w", 4, (const int64_t[]){3, 2, 2, 2}, w, 0, 0);
        mb_node(m, "Conv", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"y"});
        mb_output(m, "y");
        qfd_quant_plan p;
        qfd_quant_cfg c = cfg_of(4, 4, QFD_FIRST_LAST_SAME);
        CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
        CHECK_OK(ctx, calibrate(ctx, m, &p, (qfd_calib_kind)kind, x, 4, 4, xd));
        const qfd_qtensor *q = planned(&p, m, "w");
        CHECK(q && q->step && q->n_step == 3);
        if (q && q->step) {
            const float *s = q->step;
            double ratio = s[1] / s[0];
            float amax = 0;
            for (int i = 0; i < 8; i++)
                amax = fmaxf(amax, fabsf(w[i]));
            bool ok = fabs(ratio - 10.0) < 1e-4 && s[2] > 0 && s[2] < 1e-6f && s[0] > 0 && s[0] <= amax / 7;
            if (kind == QFD_CALIB_MINMAX)
                ok &= s[0] == amax / 7;
            else if (kind == QFD_CALIB_MSE)
                ok &= s[0] >= amax / 7 / 8; /* the candidates go down to 1/8 of the max */
            printf("%s weight steps (%s): %.6g %.6g %.3g (ratio %.6f)\n", ok ? "ok  " : "FAIL",
                   kind == QFD_CALIB_MSE          ? "mse"
                   : kind == QFD_CALIB_PERCENTILE ? "percentile"
                                                  : "minmax",
                   s[0], s[1], s[2], ratio);
            CHECK(ok);
        }
        qfd_quant_plan_free(&p);
        qfd_model_free(m);
    }
}

/* x[N,1,32,32] -> act -> r -> Conv 1x1 -> y: the step of r */
static float act_step(qfd_ctx *ctx, bool relu6, int bits, qfd_calib_kind kind, const float *x, int64_t n,
                      float clip_hi_override)
{
    const int64_t xd[] = {n, 1, 32, 32};
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, xd);
    if (relu6) {
        mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"lo"}), "value_float", 0.0f);
        mb_attr_float(mb_node(m, "Constant", 0, NULL, 1, (const char *[]){"hi"}), "value_float", 6.0f);
        mb_node(m, "Clip", 3, (const char *[]){"x", "lo", "hi"}, 1, (const char *[]){"r"});
    } else {
        mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
    }
    mb_param(m, "w", 4, (const int64_t[]){1, 1, 1, 1}, (const float[]){1.0f}, 0, 0);
    mb_node(m, "Conv", 2, (const char *[]){"r", "w"}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(bits, bits, QFD_FIRST_LAST_SAME);
    float s = -1;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    qfd_qtensor *q = planned_mut(&p, m, "r");
    CHECK(q && q->qmin == 0 && q->qmax == (1 << bits) - 1);
    if (q && clip_hi_override > 0)
        q->clip_hi = clip_hi_override;
    CHECK_OK(ctx, calibrate(ctx, m, &p, kind, x, n, 4, xd));
    if (q && q->step)
        s = q->step[0];
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
    return s;
}

static void test_calib_activations(qfd_ctx *ctx)
{
    enum { N = 16, PER = 32 * 32 };
    static float x[N * PER];
    float amax = 0;
    for (int i = 0; i < N * PER; i++) {
        x[i] = uniform(-1, 1); /* r = Relu(x): uniform on [0, 1) half the time */
        amax = fmaxf(amax, x[i]);
    }
    /* minmax: the largest value over qmax */
    float s = act_step(ctx, false, 8, QFD_CALIB_MINMAX, x, N, 0);
    printf("%s minmax step %.8g, max/qmax %.8g\n", s == amax / 255 ? "ok  " : "FAIL", s, amax / 255);
    CHECK(s == amax / 255);
    s = act_step(ctx, false, 4, QFD_CALIB_MINMAX, x, N, 0);
    CHECK(s == amax / 15);

    /* mse on a uniform distribution: 1/(q + 1/2) is optimal in theory,
     * q/(q + 1/2) of max/qmax: 0.998 at 8 bits, 0.857 at 2 */
    s = act_step(ctx, false, 8, QFD_CALIB_MSE, x, N, 0);
    double r8 = s / (amax / 255);
    s = act_step(ctx, false, 2, QFD_CALIB_MSE, x, N, 0);
    double r2 = s / (amax / 3);
    bool ok = r8 > 0.98 && r8 <= 1.0 + 1e-6 && r2 > 0.78 && r2 < 0.93;
    printf("%s mse step over max/qmax on uniform data: %.4f at 8 bits, %.4f at 2 bits\n", ok ? "ok  " : "FAIL", r8, r2);
    CHECK(ok);

    /* one outlier: minmax follows it, the 99.99th percentile does not */
    x[123] = 100.0f;
    float smm = act_step(ctx, false, 8, QFD_CALIB_MINMAX, x, N, 0);
    float spc = act_step(ctx, false, 8, QFD_CALIB_PERCENTILE, x, N, 0);
    ok = smm == 100.0f / 255 && spc < smm / 50 && spc > 0.9f / 255 && spc < 1.1f / 255;
    printf("%s one outlier at 100: minmax step %.6g, percentile step %.6g (max/qmax without it %.6g)\n",
           ok ? "ok  " : "FAIL", smm, spc, amax / 255);
    CHECK(ok);

    /* Relu6: data up to 10, the Clip output up to 6, and the step never
     * past hi / qmax, whatever the statistics say */
    for (int i = 0; i < N * PER; i++)
        x[i] = uniform(-2, 10);
    ok = true;
    for (int kind = 0; kind < 3; kind++)
        for (int bits = 2; bits <= 8; bits += 2) {
            float qmax = (float)((1 << bits) - 1);
            s = act_step(ctx, true, bits, (qfd_calib_kind)kind, x, N, 0);
            ok &= s > 0 && s * qmax <= 6.0f && (kind == QFD_CALIB_MSE || s * qmax > 5.9f);
            s = act_step(ctx, true, bits, (qfd_calib_kind)kind, x, N, 3.0f); /* a tighter cap */
            ok &= s > 0 && s * qmax <= 3.0f && s == 3.0f / qmax;
        }
    printf("%s Relu6 caps the step at hi / qmax\n", ok ? "ok  " : "FAIL");
    CHECK(ok);
}

/* ---- export ------------------------------------------------------------------ */

/* A small ResNet block and classifier: x[2,4,6,6] -> conv0 -> Relu r0 ->
 * conv1 -> y1; Add(y1, r0) -> Relu -> GlobalAveragePool -> Flatten -> Gemm */
static qfd_model *resblock_model(int64_t *xd)
{
    qfd_model *m = mb_new(13);
    xd[0] = 2, xd[1] = 4, xd[2] = 6, xd[3] = 6;
    mb_input(m, "x", 4, xd);
    conv(m, "x", "w0", "b0", "c0", 4, 4, 3);
    mb_node(m, "Relu", 1, (const char *[]){"c0"}, 1, (const char *[]){"r0"});
    conv(m, "r0", "w1", "b1", "y1", 4, 4, 3);
    mb_node(m, "Add", 2, (const char *[]){"y1", "r0"}, 1, (const char *[]){"s"});
    mb_node(m, "Relu", 1, (const char *[]){"s"}, 1, (const char *[]){"rs"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"rs"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"f"});
    mb_param(m, "W", 2, (const int64_t[]){3, 4}, NULL, -1, 1);
    mb_param(m, "C", 1, (const int64_t[]){3}, NULL, -0.3f, 0.3f);
    mb_attr_int(mb_node(m, "Gemm", 3, (const char *[]){"f", "W", "C"}, 1, (const char *[]){"logits"}), "transB", 1);
    mb_output(m, "logits");
    return m;
}

static qfd_model *conv_chain_x(int64_t *xd)
{
    xd[0] = 2, xd[1] = 3, xd[2] = 8, xd[3] = 8;
    return conv_chain(2);
}

/* The node producing tensor t in g, if it is op_type. */
static const qfd_node *made_by(const qfd_graph *g, int t, const char *op_type)
{
    if (t < 0 || g->tensors[t].producer < 0)
        return NULL;
    const qfd_node *n = &g->nodes[g->tensors[t].producer];
    return qfd_node_is(n, op_type) ? n : NULL;
}

/* The initializer t: its data when it has dtype, else NULL. */
static const void *init_of(const qfd_graph *g, int t, int32_t dtype)
{
    if (t < 0 || !(g->tensors[t].flags & QFD_T_INITIALIZER) || g->tensors[t].dtype != dtype)
        return NULL;
    return g->tensors[t].data;
}

static const qfd_qtensor *planned_name(const qfd_quant_plan *p, const qfd_model *m, const char *name)
{
    for (size_t i = 0; i < p->n_q; i++)
        if (!strcmp(m->graph.tensors[p->q[i].tensor].name, name))
            return &p->q[i];
    return NULL;
}

/* The exported model q of plan p (made for m, whose tensor names q keeps):
 * returns the number of structural defects, printing the first few. */
static int check_structure(const qfd_quant_plan *p, const qfd_model *m, const qfd_model *q)
{
    const qfd_graph *g = &q->graph;
    int bad = 0, n_q = 0, n_clip = 0, n_bias = 0, want_acts = 0, want_clips = 0, want_bias = 0;
#define DEFECT(...)                                    \
    do {                                               \
        if (bad++ < 5)                                 \
            fprintf(stderr, "  defect: " __VA_ARGS__); \
    } while (0)
    for (size_t i = 0; i < q->n_opsets; i++)
        if (q->opsets[i].domain && !strcmp(q->opsets[i].domain, QFD_FQ_DOMAIN))
            DEFECT("opset import %s left\n", QFD_FQ_DOMAIN);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (n->domain && !strcmp(n->domain, QFD_FQ_DOMAIN))
            DEFECT("node %s (%s) left\n", n->name, n->op_type);
        n_clip += qfd_node_is(n, "Clip");
        if (qfd_node_is(n, "QuantizeLinear")) {
            n_q++;
            /* activation: [Clip] -> Q(s, zp) -> DQ(s, zp), explicit uint8 zero point */
            const qfd_node *clip = made_by(g, n->in[0], "Clip");
            int base = clip ? clip->in[0] : n->in[0];
            const qfd_qtensor *e = planned_name(p, m, g->tensors[base].name);
            const float *s = n->n_in == 3 ? init_of(g, n->in[1], QFD_DT_FLOAT) : NULL;
            const uint8_t *zp = n->n_in == 3 ? init_of(g, n->in[2], QFD_DT_UINT8) : NULL;
            if (!e || e->weight || !s || !zp || qfd_tensor_numel(&g->tensors[n->in[1]]) != 1 ||
                qfd_tensor_numel(&g->tensors[n->in[2]]) != 1) {
                DEFECT("QuantizeLinear of '%s': no planned activation, or scale/zero point not scalar float/uint8\n",
                       g->tensors[base].name);
                continue;
            }
            if (!(*s > 0) || *s != e->step[0] || *zp != (e->qmin < 0 ? 128 : 0))
                DEFECT("QuantizeLinear of '%s': scale %g (step %g), zero point %d\n", g->tensors[base].name, (double)*s,
                       (double)e->step[0], *zp);
            bool narrow = e->qmax - e->qmin < 255;
            if (narrow != (clip != NULL))
                DEFECT("'%s' range [%lld, %lld]: %s Clip\n", g->tensors[base].name, (long long)e->qmin,
                       (long long)e->qmax, clip ? "a" : "no");
            if (clip) {
                const float *lo = init_of(g, clip->in[1], QFD_DT_FLOAT), *hi = init_of(g, clip->in[2], QFD_DT_FLOAT);
                if (!lo || !hi || *lo != (float)e->qmin * *s || *hi != (float)e->qmax * *s)
                    DEFECT("Clip of '%s' is not [qmin*s, qmax*s]\n", g->tensors[base].name);
            }
            int readers[4];
            size_t nr = qfd_graph_consumers(g, n->out[0], readers, 4);
            const qfd_node *dq = nr == 1 ? &g->nodes[readers[0]] : NULL;
            if (!dq || !qfd_node_is(dq, "DequantizeLinear") || dq->n_in != 3 || dq->in[1] != n->in[1] ||
                dq->in[2] != n->in[2])
                DEFECT("QuantizeLinear of '%s' is not read by one DequantizeLinear with its scale and zero point\n",
                       g->tensors[base].name);
        }
        if (!(qfd_node_is(n, "Conv") || qfd_node_is(n, "Gemm") || qfd_node_is(n, "MatMul")))
            continue;
        const qfd_qlayer *L = layer_named(p, n->name);
        if (!L || !L->wbits)
            continue;
        /* every input of a quantized layer comes from a DequantizeLinear */
        const qfd_node *dx = made_by(g, n->in[0], "DequantizeLinear"), *dw = made_by(g, n->in[1], "DequantizeLinear");
        if (!dx || !dw) {
            DEFECT("layer %s: input or weight not from a DequantizeLinear\n", n->name);
            continue;
        }
        const int8_t *wq = init_of(g, dw->in[0], QFD_DT_INT8);
        if (wq) { /* a weight: int8 in the bit range, scales > 0, zero points 0 */
            const qfd_tensor *wt = &g->tensors[dw->in[0]];
            int64_t lo = -(INT64_C(1) << (L->wbits - 1)), hi = -lo - 1, nw = qfd_tensor_numel(wt), out_of = 0;
            for (int64_t k = 0; k < nw; k++)
                out_of += wq[k] < lo || wq[k] > hi;
            const float *ws = init_of(g, dw->in[1], QFD_DT_FLOAT);
            const int8_t *wz = dw->n_in == 3 ? init_of(g, dw->in[2], QFD_DT_INT8) : NULL;
            int64_t axis = qfd_attr_int(dw, "axis", 1), nc = qfd_tensor_numel(&g->tensors[dw->in[1]]);
            bool scales_ok = ws && wz && nc == wt->dims[axis];
            for (int64_t k = 0; scales_ok && k < nc; k++)
                scales_ok = ws[k] > 0 && wz[k] == 0;
            if (out_of || !scales_ok)
                DEFECT("layer %s: %lld weight integers outside [%lld, %lld]; scales/zero points %s\n", n->name,
                       (long long)out_of, (long long)lo, (long long)hi, scales_ok ? "ok" : "wrong");
        }
        if (n->n_in < 3 || n->in[2] < 0)
            continue;
        const qfd_node *db = made_by(g, n->in[2], "DequantizeLinear");
        if (!db)
            continue; /* a float bias: fine where the plan has none */
        n_bias++;
        const float *sx = init_of(g, dx->in[1], QFD_DT_FLOAT), *sw = init_of(g, dw->in[1], QFD_DT_FLOAT);
        const float *sb = init_of(g, db->in[1], QFD_DT_FLOAT);
        const int32_t *bz = db->n_in == 3 ? init_of(g, db->in[2], QFD_DT_INT32) : NULL;
        int64_t nb = qfd_tensor_numel(&g->tensors[db->in[1]]), nsw = qfd_tensor_numel(&g->tensors[dw->in[1]]);
        bool ok = init_of(g, db->in[0], QFD_DT_INT32) && sx && sw && sb && bz && nb == nsw;
        for (int64_t k = 0; ok && k < nb; k++) {
            float want = *sx * sw[k]; /* float32, as ONNX Runtime computes it */
            ok = memcmp(&want, &sb[k], sizeof want) == 0 && bz[k] == 0;
        }
        if (!ok)
            DEFECT("layer %s: bias not int32 at exactly x_scale * w_scale\n", n->name);
    }
    for (size_t i = 0; i < p->n_q; i++) {
        const qfd_qtensor *e = &p->q[i];
        want_bias += e->bias;
        want_acts += !e->weight && !e->bias;
        want_clips += !e->weight && !e->bias && e->qmax - e->qmin < 255;
    }
    if (n_q != want_acts || n_clip != want_clips || n_bias != want_bias)
        DEFECT("%d QuantizeLinear, %d Clip, %d int32 biases; the plan has %d activations, %d narrow, %d biases\n", n_q,
               n_clip, n_bias, want_acts, want_clips, want_bias);
#undef DEFECT
    return bad;
}

typedef qfd_model *(*model_fn)(int64_t *xd);

/* Counts the elements of a and b that differ by more than 1e-6 relative
 * into *diff (a shape mismatch counts as one); returns the elements compared. */
static int64_t compare(const qfd_array *a, const qfd_array *b, int *diff)
{
    if (!a || !b || !a->data || !b->data || qfd_array_numel(a) != qfd_array_numel(b)) {
        ++*diff;
        return 0;
    }
    const float *av = a->data, *bv = b->data;
    int64_t n = qfd_array_numel(a);
    for (int64_t i = 0; i < n; i++)
        *diff += !(fabsf(av[i] - bv[i]) <= 1e-6f * fmaxf(1.0f, fabsf(av[i])));
    return n;
}

/* Plans, calibrates, inserts and exports model mk at W{bits}A{bits}, then
 * runs the fake-quant and the QDQ model on the same random inputs. */
static void export_case(qfd_ctx *ctx, const char *label, model_fn mk, int wbits, int abits, qfd_first_last fl)
{
    int64_t xd[4];
    qfd_model *m = mk(xd), *q = NULL;
    int rank = m->graph.inputs[0].type.rank;
    int64_t per = 1;
    for (int d = 1; d < rank; d++)
        per *= xd[d];
    enum { NCAL = 8 };
    float *cal = malloc((size_t)(NCAL * per) * sizeof *cal), *x = malloc((size_t)(xd[0] * per) * sizeof *x);
    for (int64_t i = 0; i < NCAL * per; i++)
        cal[i] = uniform(-1, 1);
    for (int64_t i = 0; i < xd[0] * per; i++) /* wider than calibration: clamping happens too */
        x[i] = i % 5 ? uniform(-1, 1) : uniform(-3, 3);
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(wbits, abits, fl);
    qfd_exec *ea = NULL, *eb = NULL;
    int diff = 0, defects = 0;
    size_t n_out = 0;
    int64_t n_vals = 0, n_outputs = 0;
    int n_inner = 0;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK_OK(ctx, calibrate(ctx, m, &p, QFD_CALIB_MSE, cal, NCAL, rank, xd));
    CHECK_OK(ctx, qfd_quant_insert(ctx, m, &p));
    CHECK_OK(ctx, qfd_quant_export(ctx, m, QFD_FORMAT_ORT, &q));
    qfd_array in = {QFD_DT_FLOAT, rank, {0}, x, (size_t)(xd[0] * per) * sizeof *x};
    memcpy(in.dims, xd, (size_t)rank * sizeof *xd);
    if (q) {
        defects = check_structure(&p, m, q);
        CHECK_OK(ctx, qfd_exec_new(ctx, m, 1, &ea));
        CHECK_OK(ctx, qfd_exec_new(ctx, q, 1, &eb));
    }
    if (ea && eb) {
        CHECK_OK(ctx, qfd_exec_run(ctx, ea, &in, 1));
        CHECK_OK(ctx, qfd_exec_run(ctx, eb, &in, 1));
        n_out = qfd_exec_n_outputs(ea);
        CHECK(n_out == qfd_exec_n_outputs(eb));
        for (size_t k = 0; k < n_out && k < qfd_exec_n_outputs(eb); k++) {
            int64_t n = compare(qfd_exec_output(ea, k), qfd_exec_output(eb, k), &diff);
            n_vals += n;
            n_outputs += n;
        }
        /* and every float value both graphs compute under one name: the
         * quantized activations (FakeQuant and DequantizeLinear outputs) and
         * every layer's output */
        for (size_t i = 0; i < q->graph.n_nodes; i++) {
            const qfd_node *n = &q->graph.nodes[i];
            int ta = n->n_out ? qfd_graph_find(&m->graph, q->graph.tensors[n->out[0]].name) : -1;
            if (ta < 0 || m->graph.tensors[ta].producer < 0)
                continue;
            const qfd_array *a = qfd_exec_value(ea, ta), *b = qfd_exec_value(eb, n->out[0]);
            if (a && b && a->dtype == QFD_DT_FLOAT && b->dtype == QFD_DT_FLOAT)
                n_vals += compare(a, b, &diff), n_inner++;
        }
    } else {
        diff = 1;
    }
    int n_acts = 0, n_w = 0, n_b = 0;
    for (size_t i = 0; i < p.n_q; i++)
        p.q[i].bias ? n_b++ : p.q[i].weight ? n_w++ : n_acts++;
    bool ok = !diff && !defects && n_outputs > 0 && n_inner >= n_acts;
    printf("%s export %s W%dA%d: %d activation, %d weight, %d bias quantizers; %lld values in %d tensors, %d differ, "
           "%d defects\n",
           ok ? "ok  " : "FAIL", label, wbits, abits, n_acts, n_w, n_b, (long long)n_vals, n_inner + (int)n_out, diff,
           defects);
    CHECK(ok);
    qfd_exec_free(ea);
    qfd_exec_free(eb);
    qfd_quant_plan_free(&p);
    qfd_model_free(q);
    qfd_model_free(m);
    free(cal);
    free(x);
}

static void test_export(qfd_ctx *ctx)
{
    static const struct {
        const char *label;
        model_fn mk;
    } models[] = {{"conv-relu-conv", conv_chain_x},
                  {"gemm transB 1/0", qm_gemm2},
                  {"matmul weight and activations", qm_matmul},
                  {"residual block + gemm", resblock_model}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        for (int bits = 2; bits <= 8; bits++)
            export_case(ctx, models[i].label, models[i].mk, bits, bits, QFD_FIRST_LAST_SAME);
    /* mixed: 8-bit edges around 4-bit layers, 8-bit activations with 2-bit weights */
    export_case(ctx, "residual block + gemm, first/last 8", resblock_model, 4, 4, QFD_FIRST_LAST_8);
    export_case(ctx, "residual block + gemm", resblock_model, 2, 8, QFD_FIRST_LAST_SAME);
    export_case(ctx, "conv-relu-conv", conv_chain_x, 8, 3, QFD_FIRST_LAST_SAME);
}

/* usage: test_quant plan|calibrate|export (one ctest case each) */
/* The student's step learning rate: 1e-2 at 2 bits (weights or
 * activations), 1e-3 otherwise, chosen on a held-out split. */
static void test_default_lr_steps(void)
{
    CHECK(qfd_quant_default_lr_steps(2, 2) == QFD_QUANT_LR_STEPS_2BIT);
    CHECK(qfd_quant_default_lr_steps(2, 4) == QFD_QUANT_LR_STEPS_2BIT);
    CHECK(qfd_quant_default_lr_steps(4, 2) == QFD_QUANT_LR_STEPS_2BIT);
    CHECK(qfd_quant_default_lr_steps(4, 4) == QFD_QUANT_LR_STEPS && QFD_QUANT_LR_STEPS == 1e-3f);
    CHECK(qfd_quant_default_lr_steps(8, 8) == QFD_QUANT_LR_STEPS);
    CHECK(qfd_quant_default_lr_steps(0, 0) == QFD_QUANT_LR_STEPS);
    CHECK(QFD_QUANT_LR_STEPS_2BIT == 1e-2f);
}

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "";
    qfd_ctx *ctx = qfd_ctx_new();
    if (!strcmp(part, "plan")) {
        test_plan_conv_relu_conv(ctx);
        test_plan_first_last(ctx);
        test_plan_gemm_matmul(ctx);
        test_plan_clip_constants(ctx);
        test_plan_add(ctx);
        test_plan_skip(ctx);
        test_plan_refused(ctx);
        test_default_lr_steps();
    } else if (!strcmp(part, "calibrate")) {
        test_calib_weights(ctx);
        test_calib_activations(ctx);
    } else if (!strcmp(part, "export")) {
        test_export(ctx);
    } else {
        fprintf(stderr, "usage: test_quant plan|calibrate|export\n");
        qfd_test_failures++;
    }
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
