/* Where fake-quant goes (qfd_quant_plan_make), decided before training from
 * the graph and the export format:
 *  - both inputs of every Conv, ConvTranspose, Gemm and MatMul: weights
 *    (initializers) per output channel, activations per tensor; a MatMul of
 *    two activations quantizes both;
 *  - what ONNX Runtime and TensorRT need to run each group on integer
 *    kernels: the output of a Conv/ConvTranspose (after a Relu or Clip they
 *    absorb) when anything but a quantizer reads it (ort and int4 with
 *    8-bit activations only: see output_quantizers), and both inputs of a
 *    residual Add (two activations, one of them a quantized Conv's output
 *    or already quantized; tensorrt, or 8-bit activations: see
 *    residual_quantizers);
 *  - an activation that cannot be negative (Relu, Clip(0, hi), Sigmoid,
 *    Softmax, and pooling or reshaping of such) gets an unsigned range,
 *    except for tensorrt (int8 with zero point 0 only);
 *  - a layer's bias as int32 at x_step * w_step (BiasQuant), for every
 *    format: ONNX Runtime rounds a float bias of a Conv, ConvTranspose or
 *    Gemm whose input and weight come from DequantizeLinear to that grid
 *    itself (its WeightBiasQuantization transformer, at the basic
 *    optimization level, fused or not), so the student must too; tensorrt
 *    writes the rounded values as a float bias (export_qdq.c).
 * A quantized tensor is quantized once: every reader reads the quantizer. */
#include <fnmatch.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "quant/quant.h"

void qfd_quant_range(qfd_quant_format fmt, int bits, bool is_signed, bool weight, int64_t *qmin, int64_t *qmax)
{
    /* TensorRT takes int8 with zero point 0 only: a non-negative tensor
     * still gets the signed range (its negative half unused). */
    if (fmt == QFD_FORMAT_TENSORRT)
        is_signed = true;
    /* INT4: the ranges of ort (signed or not by the tensor); export stores
     * those of 4 bits or fewer in INT4/UINT4, wider ones in 8 bits. */
    if (weight || is_signed) {
        *qmin = -(INT64_C(1) << (bits - 1));
        *qmax = (INT64_C(1) << (bits - 1)) - 1;
    } else {
        *qmin = 0;
        *qmax = (INT64_C(1) << bits) - 1;
    }
}

/* Whether a Conv's output gets a quantizer of its own, for ONNX Runtime to
 * fuse DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv. Not for
 * tensorrt: its placement rule (developer guide, "Q/DQ layer placement")
 * is no quantizer on a layer's output, which it fuses with what follows.
 * Not below 8-bit activations either: such a quantizer gets a Clip (ort) or
 * a 4-bit type (int4), and ONNX Runtime fuses neither, so it would only add
 * error where no layer reads it (MobileNetV2's last Relu6, read by
 * GlobalAveragePool alone). */
static bool output_quantizers(const qfd_quant_cfg *cfg)
{
    return cfg->format != QFD_FORMAT_TENSORRT && cfg->abits >= 8;
}

/* Whether both inputs of a residual Add get quantizers: for TensorRT, which
 * fuses the Add into the Conv that produces one input, and for ONNX
 * Runtime's QLinearAdd at 8 bits. Below 8 bits ONNX Runtime runs the Add in
 * float, and a quantizer there would only put the residual sum itself on a
 * 2-4-bit grid (a 2-bit signed Conv output keeps the levels -2..1): the LSQ
 * and QFD papers quantize the layers' inputs alone. Measured on ResNet-20
 * W2A2 lsq (16,384 images, 2 epochs, 2,000 held-out images): 87.6% without
 * them against 56.2% with them. */
static bool residual_quantizers(const qfd_quant_cfg *cfg)
{
    return cfg->format == QFD_FORMAT_TENSORRT || cfg->abits >= 8;
}

static bool is_layer(const qfd_node *n)
{
    return qfd_node_is(n, "Conv") || qfd_node_is(n, "ConvTranspose") || qfd_node_is(n, "Gemm") ||
           qfd_node_is(n, "MatMul");
}

static bool is_init(const qfd_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].flags & QFD_T_INITIALIZER) && !(g->tensors[t].flags & QFD_T_INPUT);
}

/* The constant value of a one-element float input (Clip's min/max) in *v;
 * false (and *v = def) when the input is there but not a known constant. */
static bool scalar_input(const qfd_graph *g, const qfd_node *n, size_t k, float def, float *v)
{
    int node;
    float c;
    bool absent = k >= n->n_in || n->in[k] < 0, known = !absent && qfd_graph_known_scalar(g, n->in[k], &c, &node);
    *v = known ? c : def;
    return absent || known;
}

bool qfd_quant_clip_bounds(const qfd_graph *g, const qfd_node *n, float *lo, float *hi)
{
    const bool lo_known = scalar_input(g, n, 1, -INFINITY, lo), hi_known = scalar_input(g, n, 2, INFINITY, hi);
    *lo = qfd_attr_float(n, "min", *lo);
    *hi = qfd_attr_float(n, "max", *hi);
    return lo_known && hi_known;
}

/* nonneg[t]: tensor t cannot be negative; filled in node (topological) order. */
void qfd_quant_nonneg(const qfd_graph *g, bool *nonneg)
{
    static const char *const pass[] = {
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose",
        "Squeeze", "Unsqueeze",   "Identity",          "Resize",        "Concat",  "Relu",    "Dropout"};
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (n->n_out < 1 || n->out[0] < 0)
            continue;
        bool yes = qfd_node_is(n, "Relu") || qfd_node_is(n, "Sigmoid") || qfd_node_is(n, "Softmax");
        if (qfd_node_is(n, "Clip")) {
            float lo, hi;
            qfd_quant_clip_bounds(g, n, &lo, &hi);
            yes = lo >= 0;
        }
        for (size_t p = 0; !yes && p < sizeof pass / sizeof *pass; p++) {
            if (!qfd_node_is(n, pass[p]))
                continue;
            /* Concat: every input; the others: the data input */
            size_t data_inputs = qfd_node_is(n, "Concat") ? n->n_in : 1;
            yes = n->n_in > 0;
            for (size_t k = 0; k < data_inputs && yes; k++)
                yes = n->in[k] >= 0 && nonneg[n->in[k]];
        }
        nonneg[n->out[0]] = yes;
    }
}

static bool skipped(const qfd_node *n, const qfd_quant_cfg *cfg)
{
    for (size_t i = 0; i < cfg->n_skip; i++)
        if ((n->name && !fnmatch(cfg->skip[i], n->name, 0)) || !fnmatch(cfg->skip[i], n->op_type, 0))
            return true;
    return false;
}

/* Output-channel axis of a layer's weight, or -1 (per tensor). */
static int weight_axis(const qfd_graph *g, const qfd_node *n, int w)
{
    int rank = g->tensors[w].rank;
    if (qfd_node_is(n, "Conv"))
        return rank >= 2 ? 0 : -1;
    if (qfd_node_is(n, "ConvTranspose"))
        return rank >= 2 && qfd_attr_int(n, "group", 1) == 1 ? 1 : -1;
    if (qfd_node_is(n, "Gemm"))
        return rank == 2 ? (qfd_attr_int(n, "transB", 0) ? 0 : 1) : -1;
    return rank == 2 && n->n_in > 1 && n->in[1] == w ? 1 : -1; /* MatMul: B [K, N] */
}

typedef struct builder {
    qfd_quant_plan *plan;
    const qfd_graph *g;
    const qfd_quant_cfg *cfg;
    const bool *nonneg;
    int *slot; /* tensor -> index in plan->q, or -1 */
} builder;

/* Plans tensor t at bits (keeping the larger of two requests). */
static int want(builder *b, int t, int bits, int axis, bool weight)
{
    if (t < 0)
        return 0;
    if (b->slot[t] >= 0) {
        qfd_qtensor *q = &b->plan->q[b->slot[t]];
        if (bits > q->bits) {
            q->bits = bits;
            qfd_quant_range(b->cfg->format, bits, q->qmin < 0, q->weight, &q->qmin, &q->qmax);
        }
        return 0;
    }
    qfd_qtensor *q = realloc(b->plan->q, (b->plan->n_q + 1) * sizeof *q);
    if (!q)
        return -1;
    b->plan->q = q;
    q = &q[b->plan->n_q];
    memset(q, 0, sizeof *q);
    q->tensor = t;
    q->bits = bits;
    q->weight = weight;
    q->axis = weight ? axis : -1;
    q->clip_hi = INFINITY;
    qfd_quant_range(b->cfg->format, bits, weight || !b->nonneg[t], weight, &q->qmin, &q->qmax);
    b->slot[t] = (int)b->plan->n_q++;
    return 0;
}

static char *layer_name(const qfd_node *n, size_t i)
{
    char buf[64];
    if (n->name && *n->name)
        return strdup(n->name);
    snprintf(buf, sizeof buf, "%s#%zu", n->op_type, i);
    return strdup(buf);
}

/* The tensor a layer's output becomes after a Relu or Clip that alone reads
 * it (runtimes fuse these into the layer, before its output quantizer). */
static int fused_output(const qfd_graph *g, int t)
{
    int c;
    if (qfd_graph_is_output(g, t) || qfd_graph_consumers(g, t, &c, 1) != 1 || qfd_graph_n_readers(g, t) != 1)
        return t;
    const qfd_node *n = &g->nodes[c];
    return (qfd_node_is(n, "Relu") || qfd_node_is(n, "Clip")) && n->out[0] >= 0 ? n->out[0] : t;
}

/* t is the output of a Conv or ConvTranspose the plan quantizes: the Add
 * that reads it is the residual Add TensorRT fuses into that Conv. (With
 * output quantizers, ort, such a t is planned already.) */
static bool quantized_conv_output(const qfd_graph *g, const qfd_quant_plan *plan, int t)
{
    int p = t >= 0 ? g->tensors[t].producer : -1;
    if (p < 0 || !(qfd_node_is(&g->nodes[p], "Conv") || qfd_node_is(&g->nodes[p], "ConvTranspose")))
        return false;
    /* plan->layers holds every layer in node order: count the layers before p */
    size_t k = 0;
    for (int i = 0; i < p; i++)
        k += is_layer(&g->nodes[i]);
    return k < plan->n_layers && plan->layers[k].wbits > 0;
}

static bool quantized_model(const qfd_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (qfd_node_is(n, "QuantizeLinear") || qfd_node_is(n, "DequantizeLinear") || qfd_node_is(n, "QLinearConv") ||
            qfd_node_is(n, "QLinearMatMul") || qfd_node_is(n, "ConvInteger") || qfd_node_is(n, "MatMulInteger") ||
            !strcmp(n->op_type, QFD_FQ_OP))
            return true;
    }
    return false;
}

/* A model refused as a whole (st, with its message set): the message names
 * the file, as every bad-input message does. */
static qfd_status refuse(qfd_ctx *ctx, const qfd_model *m, qfd_status st)
{
    if (m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}

qfd_status qfd_quant_plan_make(qfd_ctx *ctx, const qfd_model *m, const qfd_quant_cfg *cfg, qfd_quant_plan *plan)
{
    const qfd_graph *g = &m->graph;
    memset(plan, 0, sizeof *plan);
    if (quantized_model(g))
        return refuse(ctx, m,
                      qfd_fail(ctx, QFD_ERR_ARG,
                               "the model is already quantized (it has QuantizeLinear/DequantizeLinear "
                               "or integer ops); give qfd-onnx the FP32 model"));
    bool *nonneg = calloc(g->n_tensors + 1, sizeof *nonneg);
    int *slot = malloc((g->n_tensors + 1) * sizeof *slot);
    plan->layers = calloc(g->n_nodes + 1, sizeof *plan->layers);
    qfd_status st = QFD_OK;
    if (!nonneg || !slot || !plan->layers) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t t = 0; t < g->n_tensors; t++)
        slot[t] = -1;
    qfd_quant_nonneg(g, nonneg);
    builder b = {plan, g, cfg, nonneg, slot};
    size_t first = g->n_nodes, last = 0, n_layers = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (is_layer(&g->nodes[i])) {
            first = first < i ? first : i;
            last = i;
            n_layers++;
        }
    if (!n_layers) {
        st = refuse(
            ctx, m,
            qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "the model has no Conv, ConvTranspose, Gemm or MatMul to quantize"));
        goto out;
    }
    bool oom = false;
    for (size_t i = 0; i < g->n_nodes && !oom; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!is_layer(n))
            continue;
        qfd_qlayer *L = &plan->layers[plan->n_layers++];
        oom |= !(L->name = layer_name(n, i));
        L->op = qfd_node_is(n, "Conv")            ? "Conv"
                : qfd_node_is(n, "ConvTranspose") ? "ConvTranspose"
                : qfd_node_is(n, "Gemm")          ? "Gemm"
                                                  : "MatMul"; /* a literal: outlives the model */
        bool edge = i == first || i == last;
        if (skipped(n, cfg) || (edge && cfg->first_last == QFD_FIRST_LAST_FP))
            continue;
        L->wbits = edge && cfg->first_last == QFD_FIRST_LAST_8 ? 8 : cfg->wbits;
        L->abits = edge && cfg->first_last == QFD_FIRST_LAST_8 ? 8 : cfg->abits;
        /* data inputs: Conv/Gemm X, W; MatMul A, B (the bias stays float) */
        for (size_t k = 0; k < 2 && k < n->n_in; k++) {
            int t = n->in[k];
            bool w = is_init(g, t) && g->tensors[t].dtype == QFD_DT_FLOAT && k == 1;
            oom |= want(&b, t, w ? L->wbits : L->abits, w ? weight_axis(g, n, t) : -1, w) != 0;
        }
        /* The output quantizer a fused integer Conv needs; when the output
         * feeds another layer this is that layer's input quantizer, so it
         * takes the model's activation bits, not the 8 bits of a first
         * layer (whose input and weights only are 8-bit by convention).
         * An output that only leaves the graph needs none. */
        int out = n->out[0] >= 0 ? fused_output(g, n->out[0]) : -1, c;
        if ((qfd_node_is(n, "Conv") || qfd_node_is(n, "ConvTranspose")) && out >= 0 &&
            qfd_graph_consumers(g, out, &c, 1) > 0 && output_quantizers(cfg))
            oom |= want(&b, out, cfg->abits, -1, false) != 0;
    }
    size_t n_quant = 0;
    for (size_t i = 0; i < plan->n_layers; i++)
        n_quant += plan->layers[i].wbits > 0;
    if (!oom && !n_quant) { /* else the "quantized" file would be the FP32 model */
        st = refuse(ctx, m,
                    qfd_fail(ctx, QFD_ERR_ARG,
                             "all %zu Conv, ConvTranspose, Gemm and MatMul layers are kept float "
                             "(--skip, --first-last fp): nothing to quantize",
                             plan->n_layers));
        goto out;
    }
    /* Biases of layers whose input and weight are both quantized: the
     * runtimes hold them as int32 at x_step * w_step. */
    for (size_t i = 0; i < g->n_nodes && !oom; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!is_layer(n) || qfd_node_is(n, "MatMul") || n->n_in < 3 || n->in[2] < 0 || n->in[0] < 0 ||
            slot[n->in[0]] < 0 || slot[n->in[1]] < 0 || !plan->q[slot[n->in[1]]].weight ||
            !qfd_graph_float_init(g, n->in[2], -1) || g->tensors[n->in[2]].rank != 1 || slot[n->in[2]] >= 0 ||
            (qfd_node_is(n, "Gemm") && qfd_attr_float(n, "beta", 1.0f) != 1.0f))
            continue;
        if (want(&b, n->in[2], 32, -1, false)) {
            oom = true;
            break;
        }
        qfd_qtensor *q = &plan->q[slot[n->in[2]]];
        q->bias = true;
        q->x_of = n->in[0];
        q->w_of = n->in[1];
        q->qmin = INT32_MIN;
        q->qmax = INT32_MAX;
    }
    /* Both inputs of a residual Add: two activations of one shape. */
    for (size_t i = 0; i < g->n_nodes && !oom; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!qfd_node_is(n, "Add") || n->n_in != 2 || is_init(g, n->in[0]) || is_init(g, n->in[1]) || skipped(n, cfg) ||
            !residual_quantizers(cfg))
            continue;
        int a = n->in[0], c = n->in[1];
        if (slot[a] < 0 && slot[c] < 0 && !quantized_conv_output(g, plan, a) && !quantized_conv_output(g, plan, c))
            continue; /* neither side near a quantized layer */
        const qfd_tensor *ta = &g->tensors[a], *tc = &g->tensors[c];
        if (ta->producer >= 0 && tc->producer >= 0 && ta->producer == tc->producer)
            continue;
        int bits = cfg->abits;
        oom |= want(&b, a, bits, -1, false) != 0 || want(&b, c, bits, -1, false) != 0;
    }
    /* Relu6-style Clip(0, hi) outputs: remember hi so calibration keeps the
     * quantizer's range inside it (ONNX Runtime then drops the Clip). */
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (qfd_node_is(n, "Clip") && n->out[0] >= 0 && slot[n->out[0]] >= 0) {
            float lo, hi;
            qfd_quant_clip_bounds(g, n, &lo, &hi);
            if (lo >= 0)
                plan->q[slot[n->out[0]]].clip_hi = hi;
        }
    }
    for (size_t i = 0; i < plan->n_q; i++)
        if (plan->q[i].weight) {
            const qfd_tensor *w = &g->tensors[plan->q[i].tensor];
            plan->q[i].n_step = plan->q[i].axis >= 0 ? w->dims[plan->q[i].axis] : 1;
        } else {
            plan->q[i].n_step = 1;
        }
    if (oom)
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
out:
    free(nonneg);
    free(slot);
    if (st)
        qfd_quant_plan_free(plan);
    return st;
}

void qfd_quant_plan_free(qfd_quant_plan *plan)
{
    for (size_t i = 0; i < plan->n_q; i++)
        free(plan->q[i].step);
    for (size_t i = 0; i < plan->n_layers; i++)
        free(plan->layers[i].name);
    free(plan->q);
    free(plan->layers);
    memset(plan, 0, sizeof *plan);
}
