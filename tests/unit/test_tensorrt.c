/* quantize --format tensorrt on small built graphs:
 *  - plan: what differs from ort: every activation signed (int8, zero
 *    point 0), after Relu too, at any bit width; no quantizer on a layer's
 *    output that only a non-layer reads; both inputs of a residual Add of
 *    two Conv outputs quantized; biases still held on the int32 grid;
 *    calibration of a non-negative tensor in that signed range;
 *  - export: the QDQ file computes exactly what the fake-quant model does
 *    (bits 2 to 8, Conv, depthwise Conv with Relu6, Gemm, MatMul, residual
 *    Adds), keeps every TensorRT rule, and its float biases are the values
 *    ONNX Runtime rounds a float bias to (so it computes the same);
 *  - rules: the checker (tests/support/trt_rules.c) passes good graphs and
 *    fails each broken rule. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/model_builder.h"
#include "../support/quant_models.h"
#include "../support/trt_rules.h"
#include "core/ctx.h"
#include "io/io.h"
#include "ir/edit.h"
#include "quant/quant.h"

static qfd_quant_cfg cfg_of(qfd_quant_format fmt, int wbits, int abits, qfd_first_last fl)
{
    qfd_quant_cfg c = {wbits, abits, fl, fmt, NULL, 0};
    return c;
}

static const qfd_qtensor *planned(const qfd_quant_plan *p, const qfd_model *m, const char *name)
{
    int t = qfd_graph_find(&m->graph, name);
    for (size_t i = 0; t >= 0 && i < p->n_q; i++)
        if (p->q[i].tensor == t)
            return &p->q[i];
    return NULL;
}

static bool is_act(const qfd_qtensor *q, int bits, int64_t qmin, int64_t qmax)
{
    return q && !q->weight && !q->bias && q->bits == bits && q->qmin == qmin && q->qmax == qmax;
}

/* ---- plan -------------------------------------------------------------- */

static void test_plan_signed(qfd_ctx *ctx)
{
    int64_t xd[4];
    qfd_model *m = qm_conv_chain(xd);
    qfd_quant_plan p;
    for (int bits = 2; bits <= 8; bits++) {
        int64_t lo = -(INT64_C(1) << (bits - 1)), hi = -lo - 1;
        qfd_quant_cfg c = cfg_of(QFD_FORMAT_TENSORRT, bits, bits, QFD_FIRST_LAST_SAME);
        CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
        /* after Relu: signed, where ort has [0, 2^bits - 1] */
        CHECK(is_act(planned(&p, m, "x"), bits, lo, hi));
        CHECK(is_act(planned(&p, m, "r0"), bits, lo, hi));
        CHECK(is_act(planned(&p, m, "r1"), bits, lo, hi));
        const qfd_qtensor *w = planned(&p, m, "conv1.w");
        CHECK(w && w->weight && w->axis == 0 && w->n_step == 4 && w->qmin == lo && w->qmax == hi);
        /* the bias stays on the int32 grid x_step * w_step (written as float) */
        const qfd_qtensor *b = planned(&p, m, "conv1.b");
        CHECK(b && b->bias && b->x_of == qfd_graph_find(&m->graph, "r0") &&
              b->w_of == qfd_graph_find(&m->graph, "conv1.w"));
        qfd_quant_plan_free(&p);
        c.format = QFD_FORMAT_ORT;
        CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
        CHECK(is_act(planned(&p, m, "r0"), bits, 0, 2 * hi + 1));
        qfd_quant_plan_free(&p);
    }
    /* an activation raised to 8 bits by the last layer keeps its sign:
     * r1 is conv1's output (4 bits) and the 8-bit last layer's input */
    qfd_quant_cfg c = cfg_of(QFD_FORMAT_TENSORRT, 4, 4, QFD_FIRST_LAST_8);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "r0"), 4, -8, 7));
    CHECK(is_act(planned(&p, m, "r1"), 8, -128, 127));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
    printf("ok   plan: tensorrt activations signed at 2-8 bits, after Relu too\n");
}

/* x[2,3,6,6] -> conv -> Relu r -> GlobalAveragePool -> Flatten f -> fc */
static qfd_model *conv_gap_fc(void)
{
    qfd_model *m = mb_new(13);
    mb_input(m, "x", 4, (const int64_t[]){2, 3, 6, 6});
    mb_param(m, "w", 4, (const int64_t[]){4, 3, 3, 3}, NULL, -0.5f, 0.5f);
    mb_node(m, "Conv", 2, (const char *[]){"x", "w"}, 1, (const char *[]){"c"});
    mb_node(m, "Relu", 1, (const char *[]){"c"}, 1, (const char *[]){"r"});
    mb_node(m, "GlobalAveragePool", 1, (const char *[]){"r"}, 1, (const char *[]){"p"});
    mb_node(m, "Flatten", 1, (const char *[]){"p"}, 1, (const char *[]){"f"});
    mb_param(m, "fcw", 2, (const int64_t[]){3, 4}, NULL, -1, 1);
    mb_attr_int(mb_node(m, "Gemm", 2, (const char *[]){"f", "fcw"}, 1, (const char *[]){"y"}), "transB", 1);
    mb_output(m, "y");
    return m;
}

static void test_plan_placement(qfd_ctx *ctx)
{
    /* a Conv output read by pooling only: ort quantizes it for a fused
     * QLinearConv, tensorrt leaves a layer's output to TensorRT's fusion */
    qfd_model *m = conv_gap_fc();
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(QFD_FORMAT_ORT, 8, 8, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(planned(&p, m, "r") && planned(&p, m, "f"));
    qfd_quant_plan_free(&p);
    c.format = QFD_FORMAT_TENSORRT;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(!planned(&p, m, "r") && !planned(&p, m, "c") && is_act(planned(&p, m, "f"), 8, -128, 127));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);

    /* a residual Add of two Conv outputs (the block's last conv and its
     * 1x1 shortcut), neither read by a layer: both quantized */
    int64_t xd[4];
    m = qm_resnet_block(xd);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "yb"), 8, -128, 127) && is_act(planned(&p, m, "yd"), 8, -128, 127));
    CHECK(!planned(&p, m, "s") && !planned(&p, m, "rs") && planned(&p, m, "f"));
    qfd_quant_plan_free(&p);
    /* ... unless the Conv is kept float and the other side is unquantized too */
    const char *skip[] = {"conv[bd]"};
    c.skip = skip, c.n_skip = 1;
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(!planned(&p, m, "yb") && !planned(&p, m, "yd"));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);

    /* the inverted residual: Add(projection, block input) */
    m = qm_inverted_residual(xd);
    c = cfg_of(QFD_FORMAT_TENSORRT, 4, 4, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
    CHECK(is_act(planned(&p, m, "yp"), 4, -8, 7) && is_act(planned(&p, m, "x"), 4, -8, 7));
    CHECK(is_act(planned(&p, m, "c1"), 4, -8, 7) && is_act(planned(&p, m, "c2"), 4, -8, 7));
    const qfd_qtensor *c1 = planned(&p, m, "c1");
    CHECK(c1 && c1->clip_hi == 6.0f); /* Relu6: steps stay <= 6 / qmax */
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
    printf("ok   plan: no output quantizers, residual Adds of two Convs quantized\n");
}

/* The step of r = Relu(x) -> Conv 1x1, calibrated by minmax on x in [-1, 1]:
 * amax / 127 in the signed tensorrt range, amax / 255 for ort. */
static void test_calibrate_signed(qfd_ctx *ctx)
{
    enum { N = 4, PER = 64 };
    const int64_t xd[] = {N, 1, 8, 8};
    float x[N * PER], amax = 0;
    for (int i = 0; i < N * PER; i++) {
        x[i] = sinf((float)i * 0.37f);
        amax = fmaxf(amax, x[i]);
    }
    float step[2] = {0, 0};
    for (int f = 0; f < 2; f++) {
        qfd_model *m = mb_new(13);
        mb_input(m, "x", 4, xd);
        mb_node(m, "Relu", 1, (const char *[]){"x"}, 1, (const char *[]){"r"});
        mb_param(m, "w", 4, (const int64_t[]){1, 1, 1, 1}, (const float[]){1.0f}, 0, 0);
        mb_node(m, "Conv", 2, (const char *[]){"r", "w"}, 1, (const char *[]){"y"});
        mb_output(m, "y");
        qfd_quant_plan p;
        qfd_quant_cfg c = cfg_of(f ? QFD_FORMAT_ORT : QFD_FORMAT_TENSORRT, 8, 8, QFD_FIRST_LAST_SAME);
        qfd_array shape = {QFD_DT_FLOAT, 4, {N, 1, 8, 8}, NULL, 0};
        qfd_calib_opts o = {QFD_CALIB_MINMAX, x, N, &shape, N, 1, NULL, NULL};
        CHECK_OK(ctx, qfd_quant_plan_make(ctx, m, &c, &p));
        CHECK_OK(ctx, qfd_quant_calibrate(ctx, m, &p, &o));
        const qfd_qtensor *q = planned(&p, m, "r");
        if (q && q->step)
            step[f] = q->step[0];
        qfd_quant_plan_free(&p);
        qfd_model_free(m);
    }
    bool ok = fabsf(step[0] - amax / 127) <= 1e-6f * amax && fabsf(step[1] - amax / 255) <= 1e-6f * amax;
    printf("%s calibrate: Relu output, max %g: step %g (tensorrt), %g (ort)\n", ok ? "ok  " : "FAIL", (double)amax,
           (double)step[0], (double)step[1]);
    CHECK(ok);
}

/* ---- export -------------------------------------------------------------- */

static const qfd_node *made_by(const qfd_graph *g, int t, const char *op)
{
    if (t < 0 || g->tensors[t].producer < 0)
        return NULL;
    const qfd_node *n = &g->nodes[g->tensors[t].producer];
    return qfd_node_is(n, op) ? n : NULL;
}

/* ONNX Runtime's WeightBiasQuantization on a float bias of a Conv or Gemm
 * whose input and weight are dequantized: b -> Round(b / (sx * sw)) as
 * int32 -> times sx * sw, in float32. Returns the channels it changes. */
static int ort_bias_changes(const qfd_graph *g)
{
    int changed = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!(qfd_node_is(n, "Conv") || qfd_node_is(n, "Gemm")) || n->n_in < 3 || n->in[2] < 0)
            continue;
        const qfd_node *dx = made_by(g, n->in[0], "DequantizeLinear"), *dw = made_by(g, n->in[1], "DequantizeLinear");
        const float *b = qfd_graph_float_init(g, n->in[2], -1);
        if (!dx || !dw || !b)
            continue;
        const float sx = *qfd_graph_float_init(g, dx->in[1], 1), *sw = qfd_graph_float_init(g, dw->in[1], -1);
        const int64_t nb = qfd_tensor_numel(&g->tensors[n->in[2]]), nw = qfd_tensor_numel(&g->tensors[dw->in[1]]);
        for (int64_t c = 0; c < nb; c++) {
            volatile float s = sx * sw[nw == 1 ? 0 : c], q = nearbyintf(b[c] / s), back = (float)(int32_t)q * s;
            changed += back != b[c]; /* by value: -0 and 0 are one bias */
        }
    }
    return changed;
}

/* Quantizes mk as tensorrt and checks the file: exact, TensorRT's rules,
 * int8 only, a Clip exactly where the range is narrower than int8, and
 * biases ONNX Runtime leaves as they are. */
static void export_case(qfd_ctx *ctx, const char *label, qm_model_fn mk, int wbits, int abits, qfd_first_last fl)
{
    int64_t xd[4], compared = 0;
    qfd_model *m = mk(xd), *q = NULL;
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(QFD_FORMAT_TENSORRT, wbits, abits, fl);
    int64_t diff = -1;
    int violations = -1, warnings = 0, narrow = 0, clips = 0, non_int8 = 0, bias_changes = -1;
    CHECK_OK(ctx, qm_quantize(ctx, m, xd, &c, &p, &q));
    if (q) {
        diff = qm_differences(ctx, m, q, xd, &compared);
        violations = trt_rules_check(q, stderr, &warnings);
        bias_changes = ort_bias_changes(&q->graph);
        for (size_t i = 0; i < p.n_q; i++)
            narrow += !p.q[i].weight && !p.q[i].bias && p.q[i].qmax - p.q[i].qmin < 255;
        const qfd_graph *g = &q->graph;
        for (size_t i = 0; i < g->n_nodes; i++) {
            const qfd_node *n = &g->nodes[i];
            /* the clamps the export adds, not the model's own Relu6 */
            clips += qfd_node_is(n, "Clip") && strstr(g->tensors[n->out[0]].name, "_clipped");
            if ((qfd_node_is(n, "QuantizeLinear") || qfd_node_is(n, "DequantizeLinear")) &&
                (n->n_in < 3 || g->tensors[n->in[2]].dtype != QFD_DT_INT8))
                non_int8++;
        }
    }
    bool ok = diff == 0 && compared > 0 && violations == 0 && warnings == 0 && clips == narrow && !non_int8 &&
              bias_changes == 0;
    printf("%s export tensorrt %s W%dA%d: %lld values, %lld differ; %d rule violations; %d Clips for %d narrow "
           "ranges; %d biases ONNX Runtime would round\n",
           ok ? "ok  " : "FAIL", label, wbits, abits, (long long)compared, (long long)diff, violations, clips, narrow,
           bias_changes);
    CHECK(ok);
    qfd_quant_plan_free(&p);
    qfd_model_free(q);
    qfd_model_free(m);
}

static void test_export(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    static const struct {
        const char *label;
        qm_model_fn mk;
    } models[] = {{"conv-relu chain", qm_conv_chain},
                  {"resnet block + gemm", qm_resnet_block},
                  {"inverted residual (relu6, depthwise)", qm_inverted_residual},
                  {"gemm transB 1/0", qm_gemm2},
                  {"matmul weight and activations", qm_matmul}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        for (int bits = 2; bits <= 8; bits++)
            export_case(ctx, models[i].label, models[i].mk, bits, bits, QFD_FIRST_LAST_SAME);
    export_case(ctx, "resnet block + gemm, first/last 8", qm_resnet_block, 4, 4, QFD_FIRST_LAST_8);
    export_case(ctx, "inverted residual", qm_inverted_residual, 2, 8, QFD_FIRST_LAST_SAME);
    export_case(ctx, "conv-relu chain", qm_conv_chain, 8, 3, QFD_FIRST_LAST_SAME);
    qfd_ctx_free(ctx);
}

/* ---- the rules checker ------------------------------------------------------ */

/* Violations and warnings in m, and whether a violation's message holds want. */
static bool rules(const qfd_model *m, int want_fails, int want_warnings, const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int warnings = 0, fails = f ? trt_rules_check(m, f, &warnings) : -1;
    if (f)
        fclose(f);
    bool ok = fails == want_fails && warnings == want_warnings && (!want || (buf && strstr(buf, want)));
    if (!ok)
        fprintf(stderr, "  want %d violations, %d warnings%s%s; got %d, %d:\n%s", want_fails, want_warnings,
                want ? " with " : "", want ? want : "", fails, warnings, buf ? buf : "");
    free(buf);
    return ok;
}

enum { BAD_NONE, BAD_QDQ_BEFORE_RELU, BAD_INT32_BIAS, BAD_CONV_TRANSPOSE };

/* A hand-written graph: x -> Q -> DQ -> Conv(DQ(int8 w per channel), b)
 * -> Relu, with one defect. */
static qfd_model *hand_graph(int bad)
{
    qfd_model *m = mb_new(13);
    const int64_t two[] = {2};
    const int8_t w[8] = {1, -2, 3, -4, 5, -6, 7, -8}, zp8[2] = {0, 0};
    const int32_t bq[2] = {5, -5}, zp32[2] = {0, 0};
    const float sx = 0.1f, sw[2] = {0.01f, 0.02f}, sb[2] = {0.001f, 0.002f};
    mb_input(m, "x", 4, (const int64_t[]){1, 2, 3, 3});
    mb_param(m, "sx", 0, NULL, &sx, 0, 0);
    mb_const(m, "zx", QFD_DT_INT8, 0, NULL, zp8);
    mb_node(m, "QuantizeLinear", 3, (const char *[]){"x", "sx", "zx"}, 1, (const char *[]){"xq"});
    mb_node(m, "DequantizeLinear", 3, (const char *[]){"xq", "sx", "zx"}, 1, (const char *[]){"xd"});
    mb_const(m, "w", QFD_DT_INT8, 4, (const int64_t[]){2, 2, 1, 2}, w);
    mb_param(m, "sw", 1, two, sw, 0, 0);
    mb_const(m, "zw", QFD_DT_INT8, 1, two, zp8);
    qfd_node *dw = mb_node(m, "DequantizeLinear", 3, (const char *[]){"w", "sw", "zw"}, 1, (const char *[]){"wd"});
    mb_attr_int(dw, "axis", bad == BAD_CONV_TRANSPOSE ? 1 : 0);
    if (bad == BAD_INT32_BIAS) {
        mb_const(m, "bq", QFD_DT_INT32, 1, two, bq);
        mb_param(m, "sb", 1, two, sb, 0, 0);
        mb_const(m, "zb", QFD_DT_INT32, 1, two, zp32);
        mb_attr_int(mb_node(m, "DequantizeLinear", 3, (const char *[]){"bq", "sb", "zb"}, 1, (const char *[]){"b"}),
                    "axis", 0);
    } else {
        mb_param(m, "b", 1, two, NULL, -1, 1);
    }
    mb_node(m, bad == BAD_CONV_TRANSPOSE ? "ConvTranspose" : "Conv", 3, (const char *[]){"xd", "wd", "b"}, 1,
            (const char *[]){"c"});
    const char *relu_in = "c";
    if (bad == BAD_QDQ_BEFORE_RELU) {
        mb_node(m, "QuantizeLinear", 3, (const char *[]){"c", "sx", "zx"}, 1, (const char *[]){"cq"});
        mb_node(m, "DequantizeLinear", 3, (const char *[]){"cq", "sx", "zx"}, 1, (const char *[]){"cd"});
        relu_in = "cd";
    }
    mb_node(m, "Relu", 1, (const char *[]){relu_in}, 1, (const char *[]){"y"});
    mb_output(m, "y");
    return m;
}

static qfd_node *first_node(qfd_model *m, const char *op)
{
    for (size_t i = 0; i < m->graph.n_nodes; i++)
        if (qfd_node_is(&m->graph.nodes[i], op))
            return &m->graph.nodes[i];
    return NULL;
}

static qfd_node *node_named(qfd_model *m, const char *name)
{
    for (size_t i = 0; i < m->graph.n_nodes; i++)
        if (m->graph.nodes[i].name && !strcmp(m->graph.nodes[i].name, name))
            return &m->graph.nodes[i];
    return NULL;
}

/* A weight DequantizeLinear with per-channel scales. */
static qfd_node *weight_dq(qfd_model *m)
{
    for (size_t i = 0; i < m->graph.n_nodes; i++) {
        qfd_node *n = &m->graph.nodes[i];
        if (qfd_node_is(n, "DequantizeLinear") && (m->graph.tensors[n->in[0]].flags & QFD_T_INITIALIZER) &&
            m->graph.tensors[n->in[1]].rank == 1)
            return n;
    }
    return NULL;
}

static void test_rules(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    int n0 = qfd_test_failures;
    /* hand-written graphs */
    qfd_model *h = hand_graph(BAD_NONE);
    CHECK(rules(h, 0, 0, NULL));
    qfd_model_free(h);
    h = hand_graph(BAD_QDQ_BEFORE_RELU);
    CHECK(rules(h, 1, 0, "sits between it and the Conv"));
    qfd_model_free(h);
    h = hand_graph(BAD_INT32_BIAS);
    CHECK(rules(h, 3, 0, "int32 bias behind a DequantizeLinear")); /* and its zero point, and the bias */
    qfd_model_free(h);
    h = hand_graph(BAD_CONV_TRANSPOSE);
    CHECK(rules(h, 0, 1, NULL));
    qfd_model_free(h);

    /* an ort file breaks the rules: uint8, zero point 128, int32 bias */
    int64_t xd[4];
    qfd_model *m = qm_resnet_block(xd), *ort = NULL, *trt = NULL, *bad = NULL;
    qfd_quant_plan p;
    qfd_quant_cfg c = cfg_of(QFD_FORMAT_ORT, 8, 8, QFD_FIRST_LAST_SAME);
    CHECK_OK(ctx, qm_quantize(ctx, m, xd, &c, &p, &ort));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int fails = ort && f ? trt_rules_check(ort, f, NULL) : 0;
    if (f)
        fclose(f);
    CHECK(fails > 0 && buf && strstr(buf, "is uint8") && strstr(buf, "not an int8 initializer") &&
          strstr(buf, "int32 bias"));
    free(buf);

    /* the tensorrt file passes; each defect made in a copy of it is found */
    m = qm_resnet_block(xd);
    c.format = QFD_FORMAT_TENSORRT;
    CHECK_OK(ctx, qm_quantize(ctx, m, xd, &c, &p, &trt));
    qfd_quant_plan_free(&p);
    qfd_model_free(m);
    if (!trt || !ort) {
        CHECK(!"export");
        qfd_model_free(ort);
        qfd_ctx_free(ctx);
        return;
    }
    CHECK(rules(trt, 0, 0, NULL));
    /* a zero point or scale is shared by a Q and its DQ: both break the
     * rule; a uint8 zero point is a uint8 initializer too */
    static const int want_fails[7] = {2, 1, 3, 1, 1, 1, 2};
    for (int defect = 0; defect < 7; defect++) {
        CHECK_OK(ctx, qfd_onnx_clone(ctx, trt, &bad));
        if (!bad)
            break;
        qfd_graph *g = &bad->graph;
        qfd_node *q = first_node(bad, "QuantizeLinear"), *dw = weight_dq(bad), *add = first_node(bad, "Add");
        const char *want = NULL;
        if (defect == 0) { /* a zero point of 3 */
            *(int8_t *)g->tensors[q->in[2]].data = 3;
            want = "is 3, not 0";
        } else if (defect == 1) { /* no zero point */
            q->n_in = 2;
            want = "no explicit zero point";
        } else if (defect == 2) { /* a uint8 zero point */
            g->tensors[q->in[2]].dtype = QFD_DT_UINT8;
            want = "is uint8, not an int8 initializer";
        } else if (defect == 3) { /* one scale fewer than channels */
            g->tensors[dw->in[1]].dims[0]--;
            want = "one per channel of the axis needed";
        } else if (defect == 4) { /* a layer reading a float input */
            node_named(bad, "conva")->in[0] = qfd_graph_find(g, "x");
            want = "conva' (Conv): input 0 is not made by a DequantizeLinear";
        } else if (defect == 5) { /* a residual Add reading the Conv output itself */
            add->in[1] = qfd_graph_find(g, "yd");
            want = "residual input 1 ('yd')";
        } else { /* a negative scale */
            *(float *)g->tensors[q->in[1]].data = -1.0f;
            want = "scale 0 is -1";
        }
        CHECK(rules(bad, want_fails[defect], 0, want));
        qfd_model_free(bad);
        bad = NULL;
    }
    qfd_model_free(trt);
    qfd_model_free(ort);
    qfd_ctx_free(ctx);
    printf("%s rules: hand-written graphs, an ort file and 7 broken copies of a tensorrt file\n",
           qfd_test_failures == n0 ? "ok  " : "FAIL");
}

/* usage: test_tensorrt plan|export|rules (one ctest case each) */
int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "";
    qfd_ctx *ctx = qfd_ctx_new();
    if (!strcmp(part, "plan")) {
        test_plan_signed(ctx);
        test_plan_placement(ctx);
        test_calibrate_signed(ctx);
    } else if (!strcmp(part, "export")) {
        test_export();
    } else if (!strcmp(part, "rules")) {
        test_rules();
    } else {
        fprintf(stderr, "usage: test_tensorrt plan|export|rules\n");
        qfd_test_failures++;
    }
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
