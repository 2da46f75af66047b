/* Q/DQ pairs and what sits around them: a pair's two halves agree (QDQ014),
 * a QuantizeLinear's integers are dequantized or used by an integer op
 * (QDQ015), an int32 bias has the scale the runtimes assume (QDQ016), and
 * the placement hazards: a Transpose inside a pair (QDQ017), an int8
 * Softmax output (QDQ018). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

/* Element k of a scalar-or-per-axis constant (entry 0 of a single one). */
static bool entry(const qfd_tensor *t, int64_t k, double *v)
{
    return chk_float_at(t, qfd_tensor_numel(t) > 1 ? k : 0, v);
}

static bool zp_entry(const qfd_tensor *t, int64_t k, int64_t *v)
{
    if (!t) {
        *v = 0;
        return true;
    }
    return chk_int_at(t, qfd_tensor_numel(t) > 1 ? k : 0, v);
}

/* QDQ014 on DequantizeLinear d and the QuantizeLinear its input comes from. */
static void check_pair(qfd_checker *c, int d)
{
    chk_qp dq, q;
    chk_qparams(c, d, &dq);
    int qn = chk_q_source(c, dq.data);
    if (qn < 0)
        return;
    chk_qparams(c, qn, &q);
    char lb[600];
    chk_label(c, qn, lb, sizeof lb);
    if (q.qtype && dq.qtype && q.qtype != dq.qtype) {
        chk_add(c, R_QDQ014, d, dq.data, "dequantizes '%s' as %s, but QuantizeLinear %s writes %s",
                c->g->tensors[dq.data].name, chk_type_name(dq.qtype), lb, chk_type_name(q.qtype));
        return;
    }
    bool direct = c->g->tensors[dq.data].producer == qn;
    if (direct && (q.per_axis || dq.per_axis) && q.axis != dq.axis) {
        chk_add(c, R_QDQ014, d, dq.scale, "dequantizes along axis %lld, but QuantizeLinear %s quantized along %lld",
                (long long)dq.axis, lb, (long long)q.axis);
        return;
    }
    if (!q.scale_c || !dq.scale_c || (q.zp >= 0 && !q.zp_c) || (dq.zp >= 0 && !dq.zp_c))
        return; /* computed at run time: nothing to compare */
    int64_t n = qfd_tensor_numel(q.scale_c), m = qfd_tensor_numel(dq.scale_c);
    int64_t count = n > m ? n : m;
    for (int64_t k = 0; k < count; k++) {
        double a, b;
        int64_t za, zb;
        if (!entry(q.scale_c, k, &a) || !entry(dq.scale_c, k, &b) || !zp_entry(q.zp_c, k, &za) ||
            !zp_entry(dq.zp_c, k, &zb))
            return;
        if (a != b) {
            chk_add(c, R_QDQ014, d, dq.scale,
                    "dequantizes with scale %.9g (entry %lld of '%s'), but QuantizeLinear %s quantized with %.9g: "
                    "every value comes out %.6gx too large",
                    b, (long long)k, c->g->tensors[dq.scale].name, lb, a, b / a);
            return;
        }
        if (za != zb) {
            chk_add(c, R_QDQ014, d, dq.zp >= 0 ? dq.zp : dq.data,
                    "dequantizes with zero point %lld (entry %lld), but QuantizeLinear %s quantized with %lld",
                    (long long)zb, (long long)k, lb, (long long)za);
            return;
        }
    }
}

/* Ops that take integers as they are: integer kernels, and ops that move
 * or select elements (whose outputs are checked in turn). */
static bool reads_ints(const qfd_node *n)
{
    if (chk_is_dq(n) || chk_is_int_layer(n))
        return true;
    const char *d = n->domain ? n->domain : "";
    return n->op_type && !strncmp(n->op_type, "QLinear", 7) && (!*d || !strcmp(d, "com.microsoft"));
}

static bool passes_ints(const qfd_node *n)
{
    return chk_moves_only(n) || chk_is(n, "MaxPool") || chk_is(n, "Concat");
}

/* The first reader of t (through integer-passing ops) that would treat the
 * integers as floats, or -1. *dead is set when t, or an integer-passing op's
 * output, is never read. */
static int float_reader(const qfd_checker *c, int t, int depth, bool *dead)
{
    int nr;
    const chk_edge *e = chk_readers(c, t, &nr);
    if (!nr && !chk_is_output(c, t)) {
        *dead = true;
        return -1;
    }
    for (int k = 0; k < nr; k++) {
        const qfd_node *n = &c->g->nodes[e[k].node];
        if (reads_ints(n))
            continue;
        if (!passes_ints(n) || depth > 16)
            return e[k].node;
        for (size_t o = 0; o < n->n_out; o++) {
            int r = n->out[o] >= 0 ? float_reader(c, n->out[o], depth + 1, dead) : -1;
            if (r >= 0)
                return r;
        }
    }
    return -1;
}

static void check_q_readers(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_out < 1 || n->out[0] < 0)
        return;
    int y = n->out[0];
    bool dead = false;
    int r = float_reader(c, y, 0, &dead);
    char lb[600];
    if (r >= 0)
        chk_add(c, R_QDQ015, i, y, "its integers '%s' go to %s, which does not dequantize them", c->g->tensors[y].name,
                chk_label(c, r, lb, sizeof lb));
    else if (dead)
        chk_add(c, R_QDQ015, i, y, "its output '%s' is never dequantized or read", c->g->tensors[y].name);
}

/* QDQ016: the int32 bias of layer i. */
static void check_bias(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_in < 3 || n->in[2] < 0)
        return;
    int bd = chk_dq_through(c, n->in[2]), xd = chk_dq_through(c, n->in[0]), wd = chk_dq_through(c, n->in[1]);
    if (bd < 0)
        return;
    chk_qp b, x, w;
    chk_qparams(c, bd, &b);
    if (b.qtype != QFD_DT_INT32)
        return;
    const qfd_tensor *bq = chk_const(c, b.data);
    const char *bn = c->g->tensors[b.data].name;
    for (int64_t k = 0; b.zp_c && k < qfd_tensor_numel(b.zp_c); k++) {
        int64_t z;
        if (chk_int_at(b.zp_c, k, &z) && z) {
            chk_add(c, R_QDQ016, i, b.zp, "bias '%s' has zero point %lld (entry %lld): an int32 bias's is 0", bn,
                    (long long)z, (long long)k);
            break;
        }
    }
    if (xd < 0 || wd < 0 || !b.scale_c || !bq)
        return;
    chk_qparams(c, xd, &x);
    chk_qparams(c, wd, &w);
    double xs;
    if (!x.scale_c || x.per_axis || !w.scale_c || !chk_float_at(x.scale_c, 0, &xs))
        return;
    int64_t channels = qfd_tensor_numel(bq), worst = -1;
    double worst_rel = 0, worst_want = 0, worst_got = 0;
    for (int64_t k = 0; k < channels; k++) {
        double ws, got;
        if (!entry(w.scale_c, k, &ws) || !entry(b.scale_c, k, &got) || !(fabs(xs) <= FLT_MAX) || !(fabs(ws) <= FLT_MAX))
            return; /* QDQ005 reports scales that are not finite floats */
        /* the float32 product, as the runtimes and exporters compute it */
        double want = (double)((float)xs * (float)ws);
        double rel = want > 0 ? fabs(got - want) / want : (got == want ? 0 : INFINITY);
        if (rel > worst_rel) {
            worst_rel = rel, worst = k, worst_want = want, worst_got = got;
        }
    }
    /* a few float32 ulps: exporters that multiply in double and round agree */
    if (worst >= 0 && worst_rel > 1e-6)
        chk_add(c, R_QDQ016, i, b.scale,
                "bias '%s' is dequantized with scale %.9g (channel %lld), but input scale x weight scale is %.9g (off "
                "by %.3g%%): ONNX Runtime's integer kernel uses the product regardless (onnxruntime#24711)",
                bn, worst_got, (long long)worst, worst_want, 100 * worst_rel);
}

/* QDQ017: a Transpose between a QuantizeLinear and DequantizeLinear d. */
static void check_transpose(qfd_checker *c, int d)
{
    int t = c->g->nodes[d].in[0], tr = -1;
    for (int hops = 0; hops < 16 && t >= 0; hops++) {
        const qfd_node *p = chk_producer(c, t);
        if (!p)
            return;
        if (chk_is_q(p))
            break;
        if (!chk_moves_only(p) || p->n_in < 1)
            return;
        if (chk_is(p, "Transpose") && tr < 0)
            tr = c->g->tensors[t].producer;
        t = p->in[0];
    }
    const qfd_node *p = chk_producer(c, t);
    if (tr < 0 || !p || !chk_is_q(p))
        return;
    char lq[600], ld[600];
    chk_add(c, R_QDQ017, tr, c->g->nodes[tr].in[0],
            "transposes integers between QuantizeLinear %s and DequantizeLinear %s: runtimes look for Q -> DQ "
            "around an op and may not see through it (onnxruntime#14707); transpose before quantizing",
            chk_label(c, c->g->tensors[t].producer, lq, sizeof lq), chk_label(c, d, ld, sizeof ld));
}

/* QDQ018: Softmax i whose output is quantized to int8. */
static void check_softmax(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_out < 1 || n->out[0] < 0)
        return;
    int nr;
    const chk_edge *e = chk_readers(c, n->out[0], &nr);
    for (int k = 0; k < nr; k++) {
        if (!chk_is_q(&c->g->nodes[e[k].node]))
            continue;
        chk_qp q;
        chk_qparams(c, e[k].node, &q);
        if (q.qtype != QFD_DT_INT8)
            continue;
        char lb[600];
        chk_add(c, R_QDQ018, i, n->out[0],
                "output '%s' is quantized to int8 by %s: a Softmax lies in [0, 1] and ONNX Runtime's int8 "
                "QLinearSoftmax wraps its top value (onnxruntime#29727); quantize it to uint8",
                c->g->tensors[n->out[0]].name, chk_label(c, e[k].node, lb, sizeof lb));
        return;
    }
}

void chk_rules_pairs(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (chk_is_dq(n)) {
            check_pair(c, (int)i);
            check_transpose(c, (int)i);
        } else if (chk_is_q(n)) {
            check_q_readers(c, (int)i);
        } else if (chk_is(n, "Conv") || chk_is(n, "ConvTranspose") || chk_is(n, "Gemm")) {
            check_bias(c, (int)i);
        } else if (chk_is(n, "Softmax")) {
            check_softmax(c, (int)i);
        }
    }
}
