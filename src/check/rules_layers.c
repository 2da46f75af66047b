/* What each layer (Conv, ConvTranspose, Gemm, MatMul and the integer ops)
 * reads: activations and weights from DequantizeLinear (QDQ003), weights
 * that are constant integers (QDQ004), weight integers inside the layer's
 * bits (QDQ012), activations with no more levels than its bits (QDQ013). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

/* Input k of layer n is a weight: the kernel of Conv/ConvTranspose, B of
 * Gemm, or any MatMul operand computed from constants. */
static bool weight_role(qfd_checker *c, const qfd_node *n, size_t k)
{
    if (k == 1 && !chk_is(n, "MatMul"))
        return true;
    int dq = chk_dq_through(c, n->in[k]);
    return chk_const_derived(c, dq >= 0 ? c->g->nodes[dq].in[0] : n->in[k]);
}

/* Integers of a quantized weight: a constant integer tensor, or a constant
 * float through a QuantizeLinear (computed as the runtime would). */
typedef struct wints {
    const qfd_tensor *q, *f; /* one of them */
    const qfd_tensor *scale, *zp;
    int32_t qtype;
    int64_t axis, nch, inner; /* per-axis zero point (or scale): channel of element i */
} wints;

static int64_t channel(const wints *w, int64_t i)
{
    return w->nch > 1 ? (i / w->inner) % w->nch : 0;
}

static bool wints_at(const wints *w, int64_t i, int64_t *q, int64_t *z)
{
    int64_t ch = channel(w, i);
    *z = 0;
    if (w->zp && !chk_int_at(w->zp, qfd_tensor_numel(w->zp) > 1 ? ch : 0, z))
        return false;
    if (w->q)
        return chk_int_at(w->q, i, q);
    double x, s;
    int64_t lo, hi;
    if (!chk_float_at(w->f, i, &x) || !chk_float_at(w->scale, qfd_tensor_numel(w->scale) > 1 ? ch : 0, &s) ||
        !chk_type_range(w->qtype, &lo, &hi) || !(s > 0))
        return false;
    double r = nearbyint(x / s) + (double)*z;
    if (r != r)
        return false; /* a NaN weight has no integer */
    *q = r < (double)lo ? lo : r > (double)hi ? hi : (int64_t)r;
    return true;
}

static void set_axis(wints *w, const qfd_tensor *ref, int64_t axis, int64_t nch)
{
    w->nch = 1;
    w->inner = 1;
    if (nch <= 1 || !ref || ref->rank < 1)
        return;
    if (axis < 0)
        axis += ref->rank;
    if (axis < 0 || axis >= ref->rank || ref->dims[axis] != nch)
        return; /* QDQ009 reports it; read the zero point per tensor */
    w->axis = axis;
    w->nch = nch;
    for (int d = (int)axis + 1; d < ref->rank; d++)
        w->inner *= ref->dims[d];
}

/* QDQ012 for one weight. */
static void check_weight_bits(qfd_checker *c, int node, int tensor, const wints *w, int bits)
{
    const qfd_tensor *ref = w->q ? w->q : w->f;
    int64_t n = qfd_tensor_numel(ref), lo, hi, tlo, thi;
    if (n <= 0 || !chk_type_range(w->qtype, &tlo, &thi))
        return;
    bool unsigned_zero = w->qtype == QFD_DT_UINT8 || w->qtype == QFD_DT_UINT4 || w->qtype == QFD_DT_UINT16;
    for (int64_t i = 0; unsigned_zero && w->zp && i < qfd_tensor_numel(w->zp); i++) {
        int64_t z;
        unsigned_zero = chk_int_at(w->zp, i, &z) && z == 0;
    }
    /* unsigned with zero point 0: [0, 2^b - 1]; otherwise q - zp signed */
    lo = unsigned_zero ? 0 : -((int64_t)1 << (bits - 1));
    hi = unsigned_zero ? ((int64_t)1 << bits) - 1 : ((int64_t)1 << (bits - 1)) - 1;
    int64_t vmin = INT64_MAX, vmax = INT64_MIN, outside = 0;
    bool zp_used = false;
    for (int64_t i = 0; i < n; i++) {
        int64_t q, z;
        if (!wints_at(w, i, &q, &z))
            return;
        int64_t v = unsigned_zero ? q : q - z;
        zp_used |= !unsigned_zero && z != 0;
        vmin = v < vmin ? v : vmin;
        vmax = v > vmax ? v : vmax;
        outside += v < lo || v > hi;
    }
    if (outside)
        chk_add(c, R_QDQ012, node, tensor,
                "weight '%s' holds %s in [%lld, %lld] (%lld of %lld outside [%lld, %lld]): more than the %d bits %s "
                "gives this layer",
                c->g->tensors[tensor].name, zp_used ? "integers (minus zero point)" : "integers", (long long)vmin,
                (long long)vmax, (long long)outside, (long long)n, (long long)lo, (long long)hi, bits,
                c->bits_from[node]);
}

/* The weight integers behind DequantizeLinear dq, if known. */
static bool weight_of_dq(qfd_checker *c, int dq, wints *w)
{
    chk_qp p;
    chk_qparams(c, dq, &p);
    memset(w, 0, sizeof *w);
    w->zp = p.zp_c;
    w->qtype = p.qtype;
    int64_t lo, hi;
    if ((w->q = chk_const(c, p.data)) && chk_type_range(w->q->dtype, &lo, &hi)) {
        set_axis(w, w->q, p.axis, p.scale_c ? qfd_tensor_numel(p.scale_c) : 1);
        return p.zp < 0 || p.zp_c;
    }
    w->q = NULL;
    /* the Q must be the DQ's direct producer for its float input to be the weight as stored */
    int qn = chk_q_source(c, p.data);
    if (qn < 0 || c->g->tensors[p.data].producer != qn)
        return false;
    chk_qp qq;
    chk_qparams(c, qn, &qq);
    w->f = chk_const(c, qq.data);
    w->scale = qq.scale_c;
    w->zp = qq.zp_c;
    w->qtype = qq.qtype;
    if (!w->f || w->f->dtype != QFD_DT_FLOAT || !w->scale || (qq.zp >= 0 && !qq.zp_c))
        return false;
    set_axis(w, w->f, qq.axis, qfd_tensor_numel(w->scale));
    return true;
}

/* The constant scalar operand of a binary node's input k, if any. */
static bool scalar_operand(const qfd_checker *c, const qfd_node *n, size_t k, double *v)
{
    const qfd_tensor *t = k < n->n_in ? chk_const(c, n->in[k]) : NULL;
    return t && qfd_tensor_numel(t) == 1 && chk_float_at(t, 0, v);
}

/* The range that a chain of clamps (Relu, Clip, Min or Max by a constant)
 * ending in t leaves; false when t is not made by one. */
static bool clamp_bounds(const qfd_checker *c, int t, double *lo, double *hi)
{
    bool any = false;
    for (int hops = 0; hops < 8 && t >= 0; hops++) {
        const qfd_node *a = chk_producer(c, t);
        double v;
        if (!a || a->n_in < 1)
            break;
        int next = a->in[0];
        if (chk_is(a, "Relu")) {
            *lo = fmax(*lo, 0);
        } else if (chk_is(a, "Clip")) {
            if (scalar_operand(c, a, 1, &v))
                *lo = fmax(*lo, v);
            if (scalar_operand(c, a, 2, &v))
                *hi = fmin(*hi, v);
            if (qfd_attr_get(a, "min"))
                *lo = fmax(*lo, qfd_attr_float(a, "min", 0));
            if (qfd_attr_get(a, "max"))
                *hi = fmin(*hi, qfd_attr_float(a, "max", 0));
        } else if ((chk_is(a, "Min") || chk_is(a, "Max")) && a->n_in == 2) {
            int k = scalar_operand(c, a, 1, &v) ? 1 : scalar_operand(c, a, 0, &v) ? 0 : -1;
            if (k < 0)
                break;
            if (chk_is(a, "Min"))
                *hi = fmin(*hi, v);
            else
                *lo = fmax(*lo, v);
            next = a->in[1 - k];
        } else {
            break;
        }
        any = true;
        t = next;
    }
    return any;
}

/* QDQ013: levels of the activation quantized by Q node qn. */
static void check_act_levels(qfd_checker *c, int node, int dq, int bits)
{
    const qfd_graph *g = c->g;
    int src = g->nodes[dq].in[0];
    const qfd_node *p = chk_producer(c, src);
    int64_t qlo, qhi, z = 0;
    double s;
    const char *how = "";
    int act = src; /* the activation as the exporter named it: the Q's input */
    if (p && chk_is(p, "DynamicQuantizeLinear")) {
        qlo = 0, qhi = 255, how = " (DynamicQuantizeLinear)";
    } else {
        int qn = chk_q_source(c, src);
        if (qn < 0)
            return;
        chk_qp q;
        chk_qparams(c, qn, &q);
        act = g->nodes[qn].in[0];
        if (!q.scale_c || q.per_axis || !chk_float_at(q.scale_c, 0, &s) || !(s > 0) ||
            !chk_type_range(q.qtype, &qlo, &qhi) || (q.zp >= 0 && !(q.zp_c && chk_int_at(q.zp_c, 0, &z))))
            return;
        /* clamps right before the Q narrow what it can produce: Relu, Clip,
         * and Min/Max by a constant (the int4 format writes those) */
        double lo = -INFINITY, hi = INFINITY;
        if (clamp_bounds(c, g->nodes[qn].in[0], &lo, &hi)) {
            double l = nearbyint(lo / s) + (double)z, h = nearbyint(hi / s) + (double)z;
            /* compared as doubles first: a bound far outside the type has no int64 */
            if (l > (double)qlo)
                qlo = l >= (double)qhi ? qhi : (int64_t)l;
            if (h < (double)qhi)
                qhi = h <= (double)qlo ? qlo : (int64_t)h;
            how = " (after its clamp)";
        }
    }
    int64_t levels = qhi - qlo + 1, allowed = (int64_t)1 << bits;
    if (levels > allowed)
        chk_add(c, R_QDQ013, node, act,
                "activation '%s' is quantized to %lld levels [%lld, %lld]%s: more than the %lld of the %d bits %s "
                "gives this layer",
                g->tensors[act].name, (long long)levels, (long long)qlo, (long long)qhi, how, (long long)allowed, bits,
                c->bits_from[node]);
}

static void check_layer(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    const bool weight_only = c->wbits[i] > 0 && c->abits[i] == 0;
    for (size_t k = 0; k < 2 && k < n->n_in; k++) {
        int t = n->in[k];
        if (t < 0)
            continue;
        const char *tn = c->g->tensors[t].name;
        bool w = weight_role(c, n, k);
        int dq = chk_dq_through(c, t);
        if (dq < 0) {
            if (c->allowed_float[i] || (!w && weight_only))
                continue;
            if (w)
                chk_add(c, R_QDQ003, i, t, "weight '%s' is not quantized: no DequantizeLinear produces it", tn);
            else
                chk_add(c, R_QDQ003, i, t,
                        "activation input '%s' does not come from a DequantizeLinear: the layer runs in float", tn);
            continue;
        }
        int x = c->g->nodes[dq].in[0];
        if (w && !chk_const_derived(c, x)) {
            chk_add(c, R_QDQ004, i, t,
                    "weight '%s' is computed at run time: its DequantizeLinear reads '%s', not a constant", tn,
                    c->g->tensors[x].name);
            continue;
        }
        wints wi;
        if (w && c->wbits[i] > 0 && weight_of_dq(c, dq, &wi))
            check_weight_bits(c, i, x, &wi, c->wbits[i]);
        if (!w && c->abits[i] > 0)
            check_act_levels(c, i, dq, c->abits[i]);
    }
}

/* Weight input, its zero point and channel axis of an integer layer. */
static void check_int_layer(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    int wi = -1, zi = -1, axis = 0;
    if (chk_is(n, "QLinearConv") || chk_is_ms(n, "QLinearConv"))
        wi = 3, zi = 5, axis = 0;
    else if (chk_is(n, "QLinearMatMul"))
        wi = 3, zi = 5, axis = -1;
    else if (chk_is(n, "ConvInteger"))
        wi = 1, zi = 3, axis = 0;
    else if (chk_is(n, "MatMulInteger"))
        wi = 1, zi = 3, axis = -1;
    else if (chk_is_ms(n, "MatMulIntegerToFloat"))
        wi = 1, zi = 5, axis = -1;
    if (wi < 0 || (size_t)wi >= n->n_in || n->in[wi] < 0)
        return;
    /* a convolution's kernel is a weight; a MatMul operand only when constant */
    if (axis == 0 && !chk_const_derived(c, n->in[wi])) {
        chk_add(c, R_QDQ004, i, n->in[wi], "weight '%s' is computed at run time (or a graph input), not a constant",
                c->g->tensors[n->in[wi]].name);
        return;
    }
    if (!c->wbits[i])
        return;
    wints w = {0};
    if (!(w.q = chk_const(c, n->in[wi])))
        return;
    w.qtype = w.q->dtype;
    w.zp = zi < (int)n->n_in ? chk_const(c, n->in[zi]) : NULL;
    if (zi < (int)n->n_in && n->in[zi] >= 0 && !w.zp)
        return;
    set_axis(&w, w.q, axis < 0 ? w.q->rank - 1 : axis, w.zp ? qfd_tensor_numel(w.zp) : 1);
    check_weight_bits(c, i, n->in[wi], &w, c->wbits[i]);
}

void chk_rules_layers(qfd_checker *c)
{
    for (size_t i = 0; i < c->g->n_nodes; i++) {
        const qfd_node *n = &c->g->nodes[i];
        if (chk_is_layer(n))
            check_layer(c, (int)i);
        else if (chk_is_int_layer(n))
            check_int_layer(c, (int)i);
    }
}
