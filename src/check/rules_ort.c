/* --target ort: which layers ONNX Runtime's CPU provider will not run on an
 * integer kernel, and why. This predicts the QDQ selectors of ONNX Runtime
 * 1.30 (onnxruntime/core/optimizer/qdq_transformer: qdq_selectors.cc,
 * qdq_util.cc IsClipMadeRedundantByQ, bias_quantization.cc,
 * clip_quantizelinear.cc, relu_quantizelinear.cc) for the groups that
 * matter: Conv (QLinearConv), Gemm (QGemm), MatMul (QLinearMatMul,
 * MatMulIntegerToFloat, MatMulNBits) and a binary Add/Mul (QLinearAdd/Mul).
 * On x86 ONNX Runtime rewrites int8 activations to uint8 first, so the two
 * 8-bit types behave alike here. tests/check/ort_agree.js holds every
 * prediction against ONNX Runtime's own optimized graph. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

static bool int4(int32_t t)
{
    return t == QFD_DT_INT4 || t == QFD_DT_UINT4;
}

static bool int16(int32_t t)
{
    return t == QFD_DT_INT16 || t == QFD_DT_UINT16;
}

/* The single reader of t (one edge, not a graph output), or -1. */
static int lone_reader(const qfd_checker *c, int t)
{
    int nr;
    const chk_edge *e = chk_readers(c, t, &nr);
    return nr == 1 && !chk_is_output(c, t) ? e[0].node : -1;
}

/* IsClipMadeRedundantByQ: a Relu whose Q has the type's minimum as zero
 * point, or a Clip covering the Q's whole range. */
static bool redundant_before(const qfd_checker *c, const qfd_node *act, int qn)
{
    chk_qp q;
    chk_qparams(c, qn, &q);
    double s;
    int64_t z = 0, lo, hi;
    if (!q.scale_c || q.scale_c->rank != 0 || q.scale_c->dtype != QFD_DT_FLOAT || !chk_float_at(q.scale_c, 0, &s) ||
        (q.zp >= 0 && (!q.zp_c || q.zp_c->rank != 0 || !chk_int_at(q.zp_c, 0, &z))))
        return false;
    if (!chk_type_range(q.qtype, &lo, &hi) || q.qtype == QFD_DT_INT32 || int4(q.qtype))
        return false;
    if (chk_is(act, "Relu"))
        return z == lo;
    double mn = -INFINITY, mx = INFINITY, v;
    const qfd_tensor *t;
    if (act->n_in > 1 && act->in[1] >= 0) {
        if (!(t = chk_const(c, act->in[1])) || !chk_float_at(t, 0, &v))
            return false;
        mn = v;
    }
    if (act->n_in > 2 && act->in[2] >= 0) {
        if (!(t = chk_const(c, act->in[2])) || !chk_float_at(t, 0, &v))
            return false;
        mx = v;
    }
    if (qfd_attr_get(act, "min"))
        mn = qfd_attr_float(act, "min", 0);
    if (qfd_attr_get(act, "max"))
        mx = qfd_attr_float(act, "max", 0);
    if (!isfinite(mn) || !isfinite(mx))
        return false; /* ONNX Runtime reads both bounds as floats: a missing one is the type's limit */
    return nearbyint(mn / s) + (double)z <= (double)lo && nearbyint(mx / s) + (double)z >= (double)hi;
}

/* The Q readers of t: count, and the first. */
static int q_readers(const qfd_checker *c, int t, int *first, int *edges)
{
    int nr, nq = 0;
    const chk_edge *e = chk_readers(c, t, &nr);
    *first = -1;
    for (int k = 0; k < nr; k++)
        if (chk_is_q(&c->g->nodes[e[k].node])) {
            nq++;
            if (*first < 0)
                *first = e[k].node;
        }
    *edges = nr;
    return nq;
}

/* An explicit constant scalar int8 zero point of Q/DQ node i: its value. */
static bool s8_scalar_zp(const qfd_checker *c, const qfd_node *n, int64_t *z)
{
    const qfd_tensor *t = n->n_in > 2 ? chk_const(c, n->in[2]) : NULL;
    return t && t->dtype == QFD_DT_INT8 && qfd_tensor_numel(t) == 1 && chk_int_at(t, 0, z);
}

/* QDQS8ToU8Transformer: on x86 an int8 Q -> DQ pair becomes uint8 when
 * both have the same explicit scalar zero point and the Q's only reader is
 * the DQ. EnsureUniqueDQForNodeUnit runs first and gives every reader of a
 * shared DQ its own copy, so a DQ read twice keeps its pair int8 (and
 * x86 has no int8 x int8 Conv or MatMul without session.qdqisint8allowed). */
static bool s8_pair_becomes_u8(const qfd_checker *c, int dq)
{
    const qfd_node *d = &c->g->nodes[dq];
    const qfd_node *q = chk_producer(c, d->in[0]);
    int64_t zd, zq;
    int nr;
    if (!q || !chk_is_q(q) || !s8_scalar_zp(c, d, &zd) || !s8_scalar_zp(c, q, &zq) || zd != zq)
        return false;
    chk_readers(c, q->out[0], &nr);
    if (nr != 1 || chk_is_output(c, q->out[0]))
        return false;
    chk_readers(c, d->out[0], &nr);
    return nr == 1 && !chk_is_output(c, d->out[0]);
}

/* The activation type ONNX Runtime's selectors see for DequantizeLinear dq. */
static int32_t act_type(const qfd_checker *c, int dq)
{
    chk_qp q;
    chk_qparams(c, dq, &q);
    return q.qtype == QFD_DT_INT8 && s8_pair_becomes_u8(c, dq) ? QFD_DT_UINT8 : q.qtype;
}

/* The same for the output of QuantizeLinear qn (through its DQ). */
static int32_t out_type(const qfd_checker *c, int qn)
{
    chk_qp q;
    chk_qparams(c, qn, &q);
    int nr;
    const chk_edge *e = chk_readers(c, c->g->nodes[qn].out[0], &nr);
    if (q.qtype == QFD_DT_INT8 && nr == 1 && chk_is_dq(&c->g->nodes[e[0].node]) && s8_pair_becomes_u8(c, e[0].node))
        return QFD_DT_UINT8;
    return q.qtype;
}

/* The output side of group i: true when ONNX Runtime finds the Q it needs
 * (or none is needed: q_optional and no reader is a Q), else a finding.
 * *q_node is that Q, or -1. */
static bool output_side(qfd_checker *c, int i, bool q_optional, int *q_node)
{
    const qfd_node *n = &c->g->nodes[i];
    const int out = n->out[0];
    const char *on = c->g->tensors[out].name;
    char lb[600], lq[600];
    *q_node = -1;
    /* the Relu/Clip chain after the layer, each its input's only reader */
    int chain[3], len = 0, t = out;
    for (int r; len < 3 && (r = lone_reader(c, t)) >= 0;) {
        const qfd_node *a = &c->g->nodes[r];
        if (!(chk_is(a, "Relu") || chk_is(a, "Clip")) || a->n_out < 1 || a->out[0] < 0)
            break;
        chain[len++] = r;
        t = a->out[0];
    }
    if (len > 0) {
        /* the chain must end in one Q; level-1 fusions (ClipQuantFusion,
         * ReluQuantFusion) then drop each Relu/Clip that Q makes redundant,
         * from the last one back */
        int qn = -1, edges, kept = len;
        if (q_readers(c, t, &qn, &edges) != 1 || edges != 1 || chk_is_output(c, t))
            qn = -1;
        while (qn >= 0 && kept > 0 && redundant_before(c, &c->g->nodes[chain[kept - 1]], qn))
            kept--;
        if (qn >= 0 && !kept) {
            *q_node = qn;
            return true;
        }
        int clip = -1;
        for (int k = 0; k < kept; k++)
            if (chk_is(&c->g->nodes[chain[k]], "Clip") && qn >= 0 && !redundant_before(c, &c->g->nodes[chain[k]], qn))
                clip = chain[k];
        if (qn < 0)
            chk_add(c, R_ORT002, i, t,
                    "its output goes through %s to no lone QuantizeLinear: ONNX Runtime fuses a layer with a Relu or "
                    "Clip only when one QuantizeLinear follows them, so the layer runs in float",
                    chk_label(c, chain[0], lb, sizeof lb));
        else if (clip >= 0)
            chk_add(c, R_ORT004, i, c->g->nodes[clip].out[0],
                    "Clip %s, between the layer and QuantizeLinear %s, is narrower than the quantized range, so ONNX "
                    "Runtime keeps it and runs the layer in float",
                    chk_label(c, clip, lb, sizeof lb), chk_label(c, qn, lq, sizeof lq));
        else
            chk_add(c, R_ORT003, i, c->g->nodes[chain[0]].out[0],
                    "Relu %s stays between the layer and QuantizeLinear %s, whose zero point is not the type's "
                    "minimum (symmetric int8 after a Relu): ONNX Runtime runs the layer in float",
                    chk_label(c, chain[0], lb, sizeof lb), chk_label(c, qn, lq, sizeof lq));
        return false;
    }
    int qn, edges, nq = q_readers(c, out, &qn, &edges);
    if (!nq) {
        if (q_optional)
            return true;
        chk_add(c, R_ORT002, i, out,
                "its output '%s' does not go to a QuantizeLinear: ONNX Runtime has no integer kernel with a float "
                "output for it and runs it in float",
                on);
        return false;
    }
    if (nq != 1 || edges != 1 || chk_is_output(c, out)) {
        int nr;
        const chk_edge *e = chk_readers(c, out, &nr);
        int other = -1;
        for (int k = 0; k < nr && other < 0; k++)
            if (!chk_is_q(&c->g->nodes[e[k].node]))
                other = e[k].node;
        if (chk_is_output(c, out))
            chk_add(c, R_ORT007, i, out, "its output '%s' is also a graph output: ONNX Runtime cannot fuse it", on);
        else if (other >= 0)
            chk_add(c, R_ORT007, i, out,
                    "its output '%s' goes to a QuantizeLinear and to %s: ONNX Runtime cannot fuse it and runs it in "
                    "float",
                    on, chk_label(c, other, lb, sizeof lb));
        else
            chk_add(c, R_ORT007, i, out,
                    "its output '%s' goes to %d QuantizeLinear nodes: ONNX Runtime fuses a layer with one only", on,
                    nq);
        return false;
    }
    *q_node = qn;
    return true;
}

/* DQMatMulToMatMulNBits: a float A times a constant 2/4/8-bit B behind a
 * DequantizeLinear, with no Q after it. */
static bool matmul_nbits(const qfd_checker *c, const qfd_node *n, int wdq)
{
    chk_qp w;
    chk_qparams(c, wdq, &w);
    const qfd_tensor *b = chk_const(c, w.data);
    int nq, first, edges;
    if (!b || b->rank != 2 || !w.scale_c || (w.zp >= 0 && !w.zp_c) || lone_reader(c, n->in[1]) < 0 ||
        c->g->tensors[n->in[1]].producer != wdq)
        return false;
    if (!(b->dtype == QFD_DT_INT8 || b->dtype == QFD_DT_UINT8 || int4(b->dtype)) ||
        !(w.scale_c->dtype == QFD_DT_FLOAT || w.scale_c->dtype == QFD_DT_FLOAT16))
        return false;
    if ((nq = q_readers(c, n->out[0], &first, &edges)) > 0)
        return false;
    if (w.block > 0) {
        if (w.axis != 0 || w.block < 16 || (w.block & (w.block - 1)) || w.scale_c->rank != 2 ||
            w.scale_c->dims[0] != (b->dims[0] + w.block - 1) / w.block || w.scale_c->dims[1] != b->dims[1])
            return false;
    } else if (w.scale_c->rank == 1) {
        if (w.scale_c->dims[0] != b->dims[1] || w.axis != 1)
            return false;
    } else if (w.scale_c->rank != 0) {
        return false;
    }
    if (chk_is(n, "Gemm")) {
        if (qfd_attr_float(n, "alpha", 1.0f) != 1.0f || qfd_attr_int(n, "transA", 0) || qfd_attr_int(n, "transB", 0))
            return false;
        if (n->n_in > 2 && n->in[2] >= 0) {
            const qfd_tensor *bias = chk_const(c, n->in[2]);
            if (qfd_attr_float(n, "beta", 1.0f) != 1.0f || !bias || bias->rank != 1 || bias->dims[0] != b->dims[1])
                return false;
        }
    }
    return true;
}

/* IsNoBranchPathToQuantizeLinear (weight_bias_quantization.cc): from n,
 * each output read by one node only, through Relu/Clip, to a Q. */
static bool path_to_q(const qfd_checker *c, const qfd_node *n)
{
    for (int hops = 0; hops < 64; hops++) {
        int nr;
        if (n->n_out != 1 || n->out[0] < 0)
            return false;
        const chk_edge *e = chk_readers(c, n->out[0], &nr);
        if (nr != 1)
            return false;
        n = &c->g->nodes[e[0].node];
        if (chk_is_q(n))
            return true;
        if (!chk_is(n, "Relu") && !chk_is(n, "Clip"))
            return false;
    }
    return false;
}

/* WeightBiasQuantization: ONNX Runtime quantizes a float weight (int8 per
 * tensor) and a float bias (int32 at x_scale * w_scale) of a Conv, Gemm or
 * ConvTranspose whose input comes from a DequantizeLinear with a scalar
 * scale and whose output leads to a Q. NULL when it applies, else why not. */
static const char *weight_bias_quantizable(const qfd_checker *c, const qfd_node *n, bool need_weight, bool need_bias)
{
    const qfd_node *x = chk_dq_of(c, n->in[0]), *w = chk_dq_of(c, n->in[1]);
    const qfd_tensor *xs = x && x->n_in > 1 ? chk_const(c, x->in[1]) : NULL;
    if (!chk_is(n, "Conv") && !chk_is(n, "Gemm") && !chk_is(n, "ConvTranspose"))
        return "ONNX Runtime quantizes float weights and biases of Conv, ConvTranspose and Gemm only";
    if (!x || !xs || qfd_tensor_numel(xs) != 1)
        return "its input does not come from a DequantizeLinear with a constant scalar scale";
    if (!path_to_q(c, n))
        return "its output does not lead (through Relu/Clip only) to a QuantizeLinear";
    if (need_weight) {
        const qfd_tensor *wf = chk_const(c, n->in[1]);
        if (!wf || wf->dtype != QFD_DT_FLOAT || !(c->g->tensors[n->in[1]].flags & QFD_T_INITIALIZER))
            return "its weight is neither dequantized nor a float32 initializer";
    }
    if (!need_bias)
        return NULL;
    const qfd_tensor *b = chk_const(c, n->in[2]);
    if (!b || !(c->g->tensors[n->in[2]].flags & QFD_T_INITIALIZER) || b->rank != 1)
        return "the bias is not a 1-D initializer";
    const qfd_tensor *ws = w && w->n_in > 1 ? chk_const(c, w->in[1]) : NULL;
    if (w && ws && qfd_tensor_numel(ws) > 1) {
        int64_t axis = qfd_attr_int(w, "axis", 1);
        int64_t want = chk_is(n, "Gemm") ? (qfd_attr_int(n, "transB", 0) ? 0 : 1) : 0;
        if (ws->rank != 1 || ws->dims[0] != b->dims[0] || qfd_attr_int(w, "block_size", 0) || axis != want)
            return "the weight is not quantized per tensor or per output channel";
    } else if (w && !ws) {
        return "the weight's scale is not a constant";
    }
    return NULL;
}

/* Measured on ONNX Runtime 1.30: a Conv whose int32 bias scale is off
 * x_scale * w_scale by 1.0-1.1% still becomes QLinearConv, from 1.25% on
 * it stays float (with x*w scales of 5e-4 and 0.05; at 2e-6 even 3% fused,
 * hence the absolute floor). A Gemm fuses whatever the bias scale. */
static bool conv_bias_scale_blocks(const qfd_checker *c, const qfd_node *n, int bd)
{
    chk_qp b, x, w;
    int xd = chk_dq_through(c, n->in[0]), wd = chk_dq_through(c, n->in[1]);
    chk_qparams(c, bd, &b);
    chk_qparams(c, xd, &x);
    chk_qparams(c, wd, &w);
    double xs, ws, bs;
    if (!b.scale_c || !x.scale_c || !w.scale_c || !chk_float_at(x.scale_c, 0, &xs))
        return false;
    for (int64_t k = 0; k < qfd_tensor_numel(b.scale_c); k++) {
        if (!chk_float_at(w.scale_c, qfd_tensor_numel(w.scale_c) > 1 ? k : 0, &ws) || !chk_float_at(b.scale_c, k, &bs))
            return false;
        double want = (double)((float)xs * (float)ws), d = fabs(bs - want);
        if (want > 0 && d / want > 0.012 && d > 1e-7)
            return true;
    }
    return false;
}

static void check_layer(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_out < 1 || n->out[0] < 0 || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0)
        return;
    const bool conv = chk_is(n, "Conv"), gemm = chk_is(n, "Gemm"), matmul = chk_is(n, "MatMul");
    const bool has_bias = (conv || gemm || chk_is(n, "ConvTranspose")) && n->n_in > 2 && n->in[2] >= 0;
    int xd = chk_dq_through(c, n->in[0]), wd = chk_dq_through(c, n->in[1]);
    /* a float weight ONNX Runtime quantizes itself */
    bool weight_made = xd >= 0 && wd < 0 && !matmul && !weight_bias_quantizable(c, n, true, false);
    if (xd < 0 || (wd < 0 && !weight_made)) {
        if (xd < 0 && wd >= 0 && (matmul || gemm) && matmul_nbits(c, n, wd))
            return; /* MatMulNBits: a weight-only integer kernel */
        int t = xd < 0 ? n->in[0] : n->in[1];
        chk_add(c, R_ORT002, i, t,
                "input '%s' does not come from a DequantizeLinear%s: ONNX Runtime runs the layer in float",
                c->g->tensors[t].name,
                xd >= 0 ? " (ONNX Runtime quantizes only a float32 weight initializer of a Conv or Gemm whose output "
                          "leads to a QuantizeLinear)"
                        : "");
        return;
    }
    if (chk_is(n, "ConvTranspose")) {
        chk_add(c, R_ORT005, i, n->out[0],
                "ONNX Runtime's CPU provider has no integer ConvTranspose: it dequantizes the inputs and runs the "
                "layer in float");
        return;
    }
    chk_qp x, w;
    memset(&w, 0, sizeof w);
    chk_qparams(c, xd, &x);
    if (wd >= 0)
        chk_qparams(c, wd, &w);
    int32_t bad = int4(x.qtype) || int16(x.qtype) ? x.qtype : int4(w.qtype) || int16(w.qtype) ? w.qtype : 0;
    if (bad) {
        int t = int4(x.qtype) || int16(x.qtype) ? x.data : w.data;
        chk_add(c, R_ORT005, i, t,
                "'%s' is %s: ONNX Runtime's CPU provider has no integer %s kernel for %d-bit types and runs the layer "
                "in float",
                c->g->tensors[t].name, chk_type_name(bad), n->op_type, int4(bad) ? 4 : 16);
        return;
    }
    /* int8 activations ONNX Runtime cannot turn into uint8 */
    int32_t xt = act_type(c, xd);
    if (xt == QFD_DT_INT8 && wd >= 0) {
        chk_add(c, R_ORT005, i, x.data,
                "'%s' stays int8: ONNX Runtime makes an int8 Q -> DQ pair uint8 only when the DequantizeLinear has one "
                "reader and both zero points are explicit scalars, and x86 has no int8 x int8 %s kernel",
                c->g->tensors[x.data].name, n->op_type);
        return;
    }
    if (gemm && w.per_axis && w.scale_c) {
        const qfd_tensor *wt = chk_const(c, w.data);
        int64_t cols = wt && wt->rank == 2 ? wt->dims[qfd_attr_int(n, "transB", 0) ? 0 : 1] : -1;
        if (cols >= 0 && qfd_tensor_numel(w.scale_c) != cols) {
            chk_add(c, R_ORT005, i, w.scale,
                    "weight scale '%s' has %lld entries, not one per output column (%lld): ONNX Runtime has no integer "
                    "Gemm for that and runs it in float",
                    c->g->tensors[w.scale].name, (long long)qfd_tensor_numel(w.scale_c), (long long)cols);
            return;
        }
    }
    int qn;
    if (!output_side(c, i, gemm || matmul, &qn))
        return;
    int32_t yt = qn >= 0 ? out_type(c, qn) : 0;
    if (yt && (int4(yt) || int16(yt))) {
        chk_add(c, R_ORT005, i, n->out[0],
                "its output is quantized to %s: ONNX Runtime's CPU provider has no integer %s kernel writing it and "
                "runs the layer in float",
                chk_type_name(yt), n->op_type);
        return;
    }
    if (yt && yt != xt) {
        chk_add(c, R_ORT005, i, n->out[0],
                "its input is %s as ONNX Runtime sees it and its output %s: its integer kernel needs one type",
                chk_type_name(xt), chk_type_name(yt));
        return;
    }
    if (has_bias) {
        int bd = chk_dq_through(c, n->in[2]);
        const char *why = bd < 0 ? weight_bias_quantizable(c, n, false, true) : NULL;
        if (bd >= 0) {
            chk_qp b;
            chk_qparams(c, bd, &b);
            if (b.qtype != QFD_DT_INT32)
                why = "its bias behind a DequantizeLinear is not int32";
            else if (gemm && qfd_attr_float(n, "beta", 1.0f) != 1.0f)
                why = "a Gemm with a quantized bias needs beta = 1";
            else if (conv && conv_bias_scale_blocks(c, n, bd))
                why = "its int32 bias scale is more than about 1% off input scale x weight scale";
        }
        int bt = bd >= 0 ? c->g->nodes[bd].in[0] : n->in[2];
        if (why)
            chk_add(c, R_ORT008, i, bt, "bias '%s' keeps the layer in float: %s", c->g->tensors[bt].name, why);
    }
}

/* Add or Mul with a DequantizeLinear on an input: QLinearAdd/QLinearMul
 * when both inputs are dequantized and the output quantized. */
static void check_binary(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0 || n->n_out < 1 || n->out[0] < 0)
        return;
    const qfd_node *a = chk_dq_of(c, n->in[0]), *b = chk_dq_of(c, n->in[1]);
    if (!a && !b)
        return; /* not meant to be quantized */
    if (!a || !b) {
        int t = a ? n->in[1] : n->in[0];
        chk_add(c, R_ORT002, i, t,
                "input '%s' does not come from a DequantizeLinear while the other does: ONNX Runtime runs the %s "
                "in float",
                c->g->tensors[t].name, n->op_type);
        return;
    }
    chk_qp qa, qb;
    chk_qparams(c, c->g->tensors[n->in[0]].producer, &qa);
    chk_qparams(c, c->g->tensors[n->in[1]].producer, &qb);
    int32_t bad = int4(qa.qtype) || int16(qa.qtype) ? qa.qtype : int4(qb.qtype) || int16(qb.qtype) ? qb.qtype : 0;
    if (bad) {
        chk_add(c, R_ORT005, i, n->out[0],
                "an input is %s: ONNX Runtime's CPU provider has no integer %s for it and runs it in float",
                chk_type_name(bad), n->op_type);
        return;
    }
    int qn;
    if (!output_side(c, i, false, &qn))
        return;
    int32_t ta = act_type(c, c->g->tensors[n->in[0]].producer), tb = act_type(c, c->g->tensors[n->in[1]].producer);
    int32_t yt = out_type(c, qn);
    if (int4(yt) || int16(yt))
        chk_add(c, R_ORT005, i, n->out[0],
                "its output is quantized to %s: ONNX Runtime's CPU provider has no integer %s for it and runs it "
                "in float",
                chk_type_name(yt), n->op_type);
    else if (ta != tb || ta != yt)
        chk_add(c, R_ORT005, i, n->out[0],
                "its inputs and output are %s, %s and %s as ONNX Runtime sees them (an int8 pair whose "
                "DequantizeLinear has several readers stays int8): QLinear%s needs one type",
                chk_type_name(ta), chk_type_name(tb), chk_type_name(yt), n->op_type);
}

/* ORT006: a weight stored as float and quantized by a QuantizeLinear. */
static void check_weight_storage(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_in < 2)
        return;
    int wd = chk_dq_through(c, n->in[1]);
    if (wd < 0)
        return;
    int qn = chk_q_source(c, c->g->nodes[wd].in[0]);
    if (qn < 0)
        return;
    const qfd_tensor *f = chk_const(c, c->g->nodes[qn].in[0]);
    if (!f || f->dtype != QFD_DT_FLOAT)
        return;
    char lb[600];
    chk_add(c, R_ORT006, i, c->g->nodes[qn].in[0],
            "weight '%s' is stored as float and quantized by %s: ONNX Runtime folds that when a session starts with "
            "graph optimizations on, else quantizes it on every run; storing the integers makes the file 4x smaller",
            f->name, chk_label(c, qn, lb, sizeof lb));
}

void chk_rules_ort(qfd_checker *c)
{
    for (size_t i = 0; i < c->g->n_nodes; i++) {
        const qfd_node *n = &c->g->nodes[i];
        if (chk_is_layer(n)) {
            check_weight_storage(c, (int)i);
            if (!c->allowed_float[i])
                check_layer(c, (int)i);
        } else if (chk_is(n, "Add") || chk_is(n, "Mul")) {
            check_binary(c, (int)i);
        }
    }
}
