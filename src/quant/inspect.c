/* A QDQ file's format and per-layer bits (qfd_quant_inspect), for `info`.
 * The metadata quantize writes is taken first: a weight's integers do not
 * always reach the ends of its trained range, so inference can read fewer
 * bits than were trained. */
#include "quant/inspect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/model_info.h"
#include "quant/quant.h"

static bool is_q(const qfd_node *n)
{
    return qfd_node_is(n, "QuantizeLinear");
}

static bool is_dq(const qfd_node *n)
{
    return qfd_node_is(n, "DequantizeLinear");
}

static const qfd_node *producer(const qfd_graph *g, int t)
{
    return t >= 0 && g->tensors[t].producer >= 0 ? &g->nodes[g->tensors[t].producer] : NULL;
}

static bool is_init(const qfd_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].flags & QFD_T_INITIALIZER) && g->tensors[t].data;
}

/* The element type of t: its own, or what a value_info or graph input
 * declares. */
static int32_t declared_type(const qfd_graph *g, int t)
{
    if (g->tensors[t].has_dtype)
        return g->tensors[t].dtype;
    for (size_t i = 0; i < g->n_value_infos + g->n_inputs; i++) {
        const qfd_value_info *v = i < g->n_inputs ? &g->inputs[i] : &g->value_infos[i - g->n_inputs];
        if (v->tensor == t && v->has_type && v->type.kind == QFD_TYPE_TENSOR && v->type.has_elem_type)
            return v->type.elem_type;
    }
    return 0;
}

int32_t qfd_quant_qdq_type(const qfd_graph *g, const qfd_node *n)
{
    const int z = n->n_in > 2 ? n->in[2] : -1, x = is_dq(n) && n->n_in > 0 ? n->in[0] : -1;
    int32_t dt = z >= 0 ? declared_type(g, z) : 0;
    if (!dt && x >= 0)
        dt = declared_type(g, x);
    if (!dt && is_q(n))
        dt = (int32_t)qfd_attr_int(n, "output_dtype", 0);
    const qfd_node *p = !dt && x >= 0 ? producer(g, x) : NULL;
    if (p && is_q(p) && (!p->domain || !*p->domain))
        dt = qfd_quant_qdq_type(g, p);
    return dt ? dt : QFD_DT_UINT8;
}

/* The fewest bits that hold every integer in [lo, hi]: unsigned when lo >= 0. */
static int bits_for(int64_t lo, int64_t hi)
{
    int b = 1;
    if (lo >= 0)
        while (b < 32 && hi > (INT64_C(1) << b) - 1)
            b++;
    else
        while (b < 32 && (lo < -(INT64_C(1) << (b - 1)) || hi > (INT64_C(1) << (b - 1)) - 1))
            b++;
    return b;
}

/* Integers of a constant DequantizeLinear input, less their zero point. */
static int const_bits(const qfd_graph *g, const qfd_node *dq)
{
    const qfd_tensor *x = &g->tensors[dq->in[0]];
    const int z = dq->n_in > 2 ? dq->in[2] : -1;
    const qfd_tensor *zt = is_init(g, z) ? &g->tensors[z] : NULL;
    int32_t lo32, hi32;
    if (!qfd_dtype_qrange(x->dtype, &lo32, &hi32) || (zt && zt->dtype != x->dtype))
        return qfd_dtype_bits(x->dtype);
    const int64_t n = qfd_tensor_numel(x), nz = zt ? qfd_tensor_numel(zt) : 0;
    int64_t inner = 1, lo = INT64_MAX, hi = INT64_MIN;
    if (nz > 1) { /* zero point per channel along axis */
        int64_t axis = qfd_attr_int(dq, "axis", 1);
        axis = axis < 0 ? axis + x->rank : axis;
        if (axis < 0 || axis >= x->rank || x->dims[axis] != nz)
            return qfd_dtype_bits(x->dtype);
        for (int d = (int)axis + 1; d < x->rank; d++)
            inner *= x->dims[d];
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t v = qfd_dtype_qget(x->dtype, x->data, i) -
                    (zt ? qfd_dtype_qget(zt->dtype, zt->data, (i / inner) % nz) : 0);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return n ? bits_for(lo, hi) : qfd_dtype_bits(x->dtype);
}

/* A Clip's constant bound k (1 min, 2 max; attributes before opset 11). */
static float clip_bound(const qfd_graph *g, const qfd_node *c, size_t k, float def)
{
    float v;
    int node;
    if (k < c->n_in && c->in[k] >= 0)
        return qfd_graph_known_scalar(g, c->in[k], &v, &node) ? v : def;
    return qfd_attr_float(c, k == 1 ? "min" : "max", def);
}

/* Bits of the integers a QuantizeLinear can produce: its type's range
 * less the zero point, narrowed by a Clip just before it. */
static int act_bits(const qfd_graph *g, const qfd_node *q)
{
    const int32_t dt = qfd_quant_qdq_type(g, q);
    int32_t lo32, hi32;
    if (!qfd_dtype_qrange(dt, &lo32, &hi32))
        return qfd_dtype_bits(dt);
    const int s = q->n_in > 1 ? q->in[1] : -1, z = q->n_in > 2 ? q->in[2] : -1;
    const int64_t zp = is_init(g, z) && qfd_tensor_numel(&g->tensors[z]) == 1
                           ? qfd_dtype_qget(dt, g->tensors[z].data, 0)
                           : 0;
    int64_t lo = lo32 - zp, hi = hi32 - zp;
    const float *sv = s >= 0 ? qfd_graph_float_init(g, s, 1) : NULL;
    const qfd_node *c = q->n_in > 0 ? producer(g, q->in[0]) : NULL;
    if (sv && *sv > 0 && c && qfd_node_is(c, "Clip")) {
        float cl = clip_bound(g, c, 1, -INFINITY) / *sv, ch = clip_bound(g, c, 2, INFINITY) / *sv;
        if (cl > (float)lo && cl < (float)hi)
            lo = (int64_t)rintf(cl);
        if (ch > (float)lo && ch < (float)hi)
            hi = (int64_t)rintf(ch);
    }
    /* In a signed container a clamp at 0 is an activation's (Relu6 before
     * a tensorrt int8 quantizer), not an unsigned quantizer's: count the
     * bits of the signed range it sits in. */
    if (lo32 - zp < 0 && lo >= 0)
        lo = -hi - 1;
    return bits_for(lo, hi);
}

/* Bits of a layer's input t: 0 unless a DequantizeLinear makes it. */
static int input_bits(const qfd_graph *g, int t)
{
    const qfd_node *dq = producer(g, t);
    if (!dq || !is_dq(dq) || dq->n_in < 1)
        return 0;
    if (is_init(g, dq->in[0]))
        return const_bits(g, dq);
    const qfd_node *q = producer(g, dq->in[0]);
    return q && is_q(q) ? act_bits(g, q) : qfd_dtype_bits(qfd_quant_qdq_type(g, dq));
}

/* "name=w4a8" in a QFD_META_BITS list, or name in a QFD_META_FLOAT list
 * (bits 0): true when found. */
static bool meta_bits(const char *bits, const char *fl, const char *name, int *w, int *a)
{
    size_t n = strlen(name);
    for (const char *p = bits; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        int wb, ab, used = 0;
        if (!strncmp(p, name, n) && p[n] == '=' && sscanf(p + n + 1, "w%da%d%n", &wb, &ab, &used) == 2 &&
            (p[n + 1 + used] == ',' || !p[n + 1 + used])) {
            *w = wb, *a = ab;
            return true;
        }
    }
    for (const char *p = fl; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || !p[n])) {
            *w = *a = 0;
            return true;
        }
    return false;
}

static const char *infer_format(const qfd_graph *g)
{
    bool any = false, int4 = false, u8_act = false, trt = true;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!(is_q(n) || is_dq(n)) || (n->domain && *n->domain))
            continue;
        any = true;
        int32_t dt = qfd_quant_qdq_type(g, n);
        int4 |= dt == QFD_DT_INT4 || dt == QFD_DT_UINT4;
        u8_act |= dt == QFD_DT_UINT8 && !(is_dq(n) && n->n_in > 0 && is_init(g, n->in[0]));
        const int z = n->n_in > 2 ? n->in[2] : -1;
        bool zero = is_init(g, z);
        for (int64_t k = 0; zero && k < qfd_tensor_numel(&g->tensors[z]); k++)
            zero = qfd_dtype_qget(g->tensors[z].dtype, g->tensors[z].data, k) == 0;
        trt &= dt == QFD_DT_INT8 && zero;
    }
    return !any ? NULL : int4 ? "int4" : u8_act ? "ort" : trt ? "tensorrt" : "qdq";
}

void qfd_quant_inspect(const qfd_model *m, qfd_quant_info *info)
{
    const qfd_graph *g = &m->graph;
    const char *meta = qfd_model_metadata(m, QFD_META_FORMAT);
    info->format = infer_format(g);
    info->format_from_metadata = info->format && meta && *meta;
    if (info->format_from_metadata)
        info->format = meta;
    const char *bits = qfd_model_metadata(m, QFD_META_BITS), *fl = qfd_model_metadata(m, QFD_META_FLOAT);
    info->n_layers = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!(qfd_node_is(n, "Conv") || qfd_node_is(n, "ConvTranspose") || qfd_node_is(n, "Gemm") ||
              qfd_node_is(n, "MatMul")))
            continue;
        qfd_qlayer_info *L = &info->layers[info->n_layers++];
        L->node = (int)i;
        L->from_metadata = n->name && *n->name && meta_bits(bits, fl, n->name, &L->wbits, &L->abits);
        if (!L->from_metadata) {
            L->abits = n->n_in > 0 ? input_bits(g, n->in[0]) : 0;
            L->wbits = n->n_in > 1 ? input_bits(g, n->in[1]) : 0;
        }
    }
}
