/* Quantization parameters of every QuantizeLinear, DequantizeLinear and
 * integer op: scales finite and > 0 (QDQ005), zero points of the quantized
 * type and the scale's shape (QDQ006) and given (QDQ007), signed weights
 * symmetric (QDQ008), per-axis scales matching their axis (QDQ009), the
 * axis being the layer's output channels (QDQ010, QDQ011 for the disputed
 * ConvTranspose). */
#include <math.h>
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

static bool quant_type(int32_t t)
{
    int64_t lo, hi;
    return chk_type_range(t, &lo, &hi) || (t >= QFD_DT_FLOAT8E4M3FN && t <= QFD_DT_FLOAT8E5M2FNUZ);
}

static bool signed_type(int32_t t)
{
    return t == QFD_DT_INT8 || t == QFD_DT_INT4 || t == QFD_DT_INT16;
}

/* QDQ005 on a constant scale. */
static void check_scale(qfd_checker *c, int node, int t)
{
    const qfd_tensor *s = chk_const(c, t);
    if (!s)
        return;
    for (int64_t k = 0; k < qfd_tensor_numel(s); k++) {
        double v;
        if (!chk_float_at(s, k, &v))
            return; /* not a float type: QDQ006 */
        if (!(v > 0) || !isfinite(v)) {
            chk_add(c, R_QDQ005, node, t, "scale '%s' holds %g (entry %lld of %lld): scales must be finite and > 0",
                    c->g->tensors[t].name, v, (long long)k, (long long)qfd_tensor_numel(s));
            return;
        }
    }
}

/* QDQ006: zero point zp of the quantized tensor data (types as known). */
static void check_zp_type(qfd_checker *c, int node, int data, int zp, int scale)
{
    if (zp < 0)
        return;
    int32_t zt = c->etype[zp], dt = data >= 0 ? c->etype[data] : 0;
    const char *zn = c->g->tensors[zp].name;
    if (zt && dt && zt != dt)
        chk_add(c, R_QDQ006, node, zp,
                "zero point '%s' is %s but the quantized tensor '%s' is %s: ONNX Runtime refuses to load the file", zn,
                chk_type_name(zt), c->g->tensors[data].name, chk_type_name(dt));
    const qfd_tensor *zc = chk_const(c, zp), *sc = chk_const(c, scale);
    if (zc && sc && qfd_tensor_numel(zc) != qfd_tensor_numel(sc))
        chk_add(c, R_QDQ006, node, zp, "zero point '%s' has %lld entries, its scale '%s' %lld", zn,
                (long long)qfd_tensor_numel(zc), c->g->tensors[scale].name, (long long)qfd_tensor_numel(sc));
}

/* QDQ009 for a per-axis or blocked scale of data. */
static void check_axis(qfd_checker *c, int node, const chk_qp *q)
{
    if (!q->scale_c || (!q->per_axis && !q->block))
        return;
    int64_t dims[16];
    int rank = chk_shape(c, q->data, dims, 16);
    const char *dn = c->g->tensors[q->data].name, *sn = c->g->tensors[q->scale].name;
    int64_t ns = qfd_tensor_numel(q->scale_c);
    if (rank < 0)
        return;
    int64_t a = q->axis < 0 ? q->axis + rank : q->axis;
    if (a < 0 || a >= rank) {
        chk_add(c, R_QDQ009, node, q->scale, "axis %lld is outside the %d dimensions of '%s'", (long long)q->axis, rank,
                dn);
        return;
    }
    int64_t d = dims[a];
    if (q->block > 0) {
        int64_t want = (d + q->block - 1) / q->block;
        if (q->scale_c->rank != rank || q->scale_c->dims[a] != want)
            chk_add(
                c, R_QDQ009, node, q->scale,
                "blocked scale '%s' (block_size %lld) should have %lld entries on axis %lld of '%s' and its rank %d",
                sn, (long long)q->block, (long long)want, (long long)a, dn, rank);
        return;
    }
    if (q->scale_c->rank != 1 || ns != d)
        chk_add(c, R_QDQ009, node, q->scale,
                "scale '%s' has %lld entries for axis %lld of '%s', which has %lld channels", sn, (long long)ns,
                (long long)a, dn, (long long)d);
}

static void check_qdq(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    chk_qp q;
    chk_qparams(c, i, &q);
    const bool is_q = chk_is_q(n);
    if (q.scale >= 0)
        check_scale(c, i, q.scale);
    if (!is_q && q.data >= 0 && c->etype[q.data] && !quant_type(c->etype[q.data]))
        chk_add(c, R_QDQ006, i, q.data, "DequantizeLinear reads '%s' of type %s: it takes integer (or float8) data",
                c->g->tensors[q.data].name, chk_type_name(c->etype[q.data]));
    if (is_q && q.zp >= 0 && c->etype[q.zp] && (!quant_type(c->etype[q.zp]) || c->etype[q.zp] == QFD_DT_INT32))
        chk_add(c, R_QDQ006, i, q.zp, "QuantizeLinear zero point '%s' is %s: a quantized type is needed",
                c->g->tensors[q.zp].name, chk_type_name(c->etype[q.zp]));
    if (is_q && q.zp >= 0 && qfd_attr_get(n, "output_dtype") && qfd_attr_int(n, "output_dtype", 0) != c->etype[q.zp] &&
        c->etype[q.zp])
        chk_add(c, R_QDQ006, i, q.zp, "output_dtype %s differs from the zero point's type %s",
                chk_type_name((int32_t)qfd_attr_int(n, "output_dtype", 0)), chk_type_name(c->etype[q.zp]));
    check_zp_type(c, i, is_q ? -1 : q.data, q.zp, q.scale);
    if (q.zp < 0 && q.qtype != QFD_DT_INT32 && !(q.qtype >= QFD_DT_FLOAT8E4M3FN && q.qtype <= QFD_DT_FLOAT8E5M2FNUZ))
        chk_add(c, R_QDQ007, i, is_q ? n->out[0] : q.data,
                "no zero point: the quantized type is implicitly %s, and ONNX Runtime's Q/DQ passes may turn it into "
                "uint8 (onnxruntime#27845)",
                is_q && !qfd_attr_get(n, "output_dtype") ? "uint8" : chk_type_name(q.qtype));
    check_axis(c, i, &q);
}

/* QDQ008: a constant signed weight with a non-zero zero point. */
static void check_weight_zp(qfd_checker *c, int node, int data, int zp)
{
    const qfd_tensor *z = chk_const(c, zp), *w = chk_const(c, data);
    if (!z || !w || !signed_type(w->dtype))
        return;
    for (int64_t k = 0; k < qfd_tensor_numel(z); k++) {
        int64_t v;
        if (chk_int_at(z, k, &v) && v) {
            chk_add(c, R_QDQ008, node, zp,
                    "weight '%s' (%s) has zero point %lld (entry %lld of '%s'): signed weights must be symmetric",
                    w->name, chk_type_name(w->dtype), (long long)v, (long long)k, c->g->tensors[zp].name);
            return;
        }
    }
}

/* QDQ010/QDQ011: the weight DequantizeLinear of layer n quantized per axis. */
static void check_weight_axis(qfd_checker *c, int layer, int dq)
{
    const qfd_node *n = &c->g->nodes[layer];
    chk_qp q;
    chk_qparams(c, dq, &q);
    const qfd_tensor *w = chk_const(c, q.data);
    if (!q.per_axis || q.block || !w || w->rank < 1)
        return;
    int64_t a = q.axis < 0 ? q.axis + w->rank : q.axis, want;
    if (chk_is(n, "ConvTranspose")) {
        if (a != 0 && a != 1)
            chk_add(c, R_QDQ010, layer, q.scale,
                    "weight '%s' is quantized along axis %lld; a ConvTranspose's output channels are axis 1 (or 0, "
                    "as TensorRT's guide has it)",
                    w->name, (long long)a);
        else if (c->target == CHK_TARGET_TRT)
            chk_add(c, R_QDQ011, layer, q.scale,
                    "weight '%s' is quantized along axis %lld: TensorRT's guide asks for axis 0, ModelOpt writes 1 "
                    "(NVIDIA/TensorRT#2380); check the TensorRT version you deploy to",
                    w->name, (long long)a);
        else if (a == 0)
            chk_add(c, R_QDQ011, layer, q.scale,
                    "weight '%s' is quantized along axis 0: ONNX Runtime's quantizer uses axis 1 (the output "
                    "channels of a ConvTranspose), TensorRT's guide axis 0",
                    w->name);
        return;
    }
    if (chk_is(n, "Conv"))
        want = 0;
    else if (chk_is(n, "Gemm"))
        want = qfd_attr_int(n, "transB", 0) ? 0 : 1;
    else
        want = w->rank - 1; /* MatMul: B [..., K, N] */
    if (a != want)
        chk_add(c, R_QDQ010, layer, q.scale,
                "weight '%s' is quantized along axis %lld, not along the output channels (axis %lld)", w->name,
                (long long)a, (long long)want);
}

/* Scale, zero point and data inputs of an integer op: {data, scale, zp},
 * data -1 for the output. */
typedef struct triple {
    int data, scale, zp;
} triple;

static int int_op_triples(const qfd_node *n, triple *t)
{
    if (chk_is(n, "QLinearConv") || chk_is(n, "QLinearMatMul") || chk_is_ms(n, "QLinearConv") ||
        chk_is_ms(n, "QLinearAdd") || chk_is_ms(n, "QLinearMul")) {
        t[0] = (triple){0, 1, 2}, t[1] = (triple){3, 4, 5}, t[2] = (triple){-1, 6, 7};
        return 3;
    }
    if (chk_is_ms(n, "QGemm")) {
        t[0] = (triple){0, 1, 2}, t[1] = (triple){3, 4, 5}, t[2] = (triple){-1, 7, 8};
        return 3;
    }
    if (chk_is_ms(n, "QLinearGlobalAveragePool") || chk_is_ms(n, "QLinearAveragePool") ||
        chk_is_ms(n, "QLinearLeakyRelu") || chk_is_ms(n, "QLinearSigmoid") || chk_is_ms(n, "QLinearSoftmax")) {
        t[0] = (triple){0, 1, 2}, t[1] = (triple){-1, 3, 4};
        return 2;
    }
    if (chk_is(n, "ConvInteger") || chk_is(n, "MatMulInteger")) {
        t[0] = (triple){0, -1, 2}, t[1] = (triple){1, -1, 3};
        return 2;
    }
    return 0;
}

static int input(const qfd_node *n, int k)
{
    return k >= 0 && (size_t)k < n->n_in ? n->in[k] : -1;
}

static void check_int_op(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    triple t[3];
    int nt = int_op_triples(n, t);
    for (int k = 0; k < nt; k++) {
        int data = t[k].data >= 0 ? input(n, t[k].data) : (n->n_out ? n->out[0] : -1);
        int s = input(n, t[k].scale), z = input(n, t[k].zp);
        if (s >= 0)
            check_scale(c, i, s);
        check_zp_type(c, i, data, z, s);
        if (t[k].data >= 0 && chk_const(c, data))
            check_weight_zp(c, i, data, z);
    }
    /* QLinearConv: a per-channel weight scale has one entry per output channel */
    const qfd_tensor *w = chk_const(c, input(n, 3)), *ws = chk_const(c, input(n, 4));
    if ((chk_is(n, "QLinearConv") || chk_is_ms(n, "QLinearConv")) && w && ws && w->rank > 0 &&
        qfd_tensor_numel(ws) > 1 && qfd_tensor_numel(ws) != w->dims[0])
        chk_add(c, R_QDQ009, i, n->in[4], "weight scale '%s' has %lld entries for the %lld output channels of '%s'",
                ws->name, (long long)qfd_tensor_numel(ws), (long long)w->dims[0], w->name);
}

void chk_rules_params(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (chk_is_q(n) || chk_is_dq(n)) {
            check_qdq(c, (int)i);
            continue;
        }
        if (int_op_triples(n, (triple[3]){{0, 0, 0}}) > 0) {
            check_int_op(c, (int)i);
            continue;
        }
        if (!chk_is_layer(n) || n->n_in < 2)
            continue;
        const qfd_node *dq = chk_dq_of(c, n->in[1]);
        if (!dq)
            continue;
        int d = g->tensors[n->in[1]].producer;
        if (dq->n_in > 2)
            check_weight_zp(c, d, dq->in[0], dq->in[2]);
        check_weight_axis(c, (int)i, d);
    }
}
