/* --target tensorrt: TensorRT's explicit quantization. What its ONNX parser
 * refuses is an error: other types than int8 (int4 and float8 weights
 * aside; uint8 only at the network's edge), non-zero zero points, an int32
 * bias behind a DequantizeLinear, scales computed at run time, per-axis
 * activations, QOperator and dynamic ops (TRT001-006). Its placement
 * advice is a warning: quantize both inputs of a residual Add after a Conv
 * (TRT007), and no Q/DQ between a Conv and the BatchNormalization or Relu
 * it fuses (TRT008). Rules from the TensorRT developer guide ("explicit
 * quantization", "Q/DQ placement") and onnx-tensorrt's importers. */
#include <string.h>

#include "check/check.h"
#include "ir/edit.h"

static void check_qdq(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    const bool is_q = chk_is_q(n);
    chk_qp q;
    chk_qparams(c, i, &q);
    const int t = is_q ? n->out[0] : q.data;
    const char *what = is_q ? "QuantizeLinear" : "DequantizeLinear";
    int32_t dt = q.qtype;
    bool weight = !is_q && chk_const_derived(c, q.data);
    if (dt == QFD_DT_INT32) {
        chk_add(c, R_TRT003, i, q.data,
                "dequantizes int32 '%s': TensorRT takes only activation types behind a DequantizeLinear; keep the "
                "bias float",
                c->g->tensors[q.data].name);
    } else if (dt == QFD_DT_UINT8) {
        bool edge = is_q ? chk_is_output(c, n->out[0]) : (c->g->tensors[q.data].flags & QFD_T_INPUT) != 0;
        if (!edge)
            chk_add(c, R_TRT001, i, t,
                    "%s of uint8 inside the network: TensorRT quantizes to int8 and takes uint8 only at the "
                    "network's input or output",
                    what);
    } else if (dt && dt != QFD_DT_INT8 && dt != QFD_DT_FLOAT8E4M3FN && !(dt == QFD_DT_INT4 && weight)) {
        chk_add(c, R_TRT001, i, t, "%s of %s: TensorRT quantizes to int8 (int4 and float8 for weights)", what,
                chk_type_name(dt));
    }
    if (!q.scale_c || (q.zp >= 0 && !q.zp_c)) {
        int bad = !q.scale_c ? q.scale : q.zp;
        chk_add(c, R_TRT004, i, bad, "%s '%s' is computed at run time: TensorRT needs constant scales and zero points",
                !q.scale_c ? "scale" : "zero point", bad >= 0 ? c->g->tensors[bad].name : "");
    }
    for (int64_t k = 0; q.zp_c && dt != QFD_DT_INT32 && k < qfd_tensor_numel(q.zp_c); k++) {
        int64_t z;
        if (chk_int_at(q.zp_c, k, &z) && z) {
            chk_add(c, R_TRT002, i, q.zp,
                    "zero point %lld (entry %lld of '%s'): TensorRT supports symmetric quantization only", (long long)z,
                    (long long)k, c->g->tensors[q.zp].name);
            break;
        }
    }
    bool activation = is_q ? !chk_const_derived(c, q.data) : !weight;
    if (activation && q.per_axis)
        chk_add(c, R_TRT005, i, q.scale,
                "activation '%s' is quantized per axis (by scale '%s'): TensorRT quantizes activations per tensor",
                c->g->tensors[q.data].name, c->g->tensors[q.scale].name);
}

static bool qoperator_or_dynamic(const qfd_node *n)
{
    const char *d = n->domain ? n->domain : "";
    bool default_or_ms = !*d || !strcmp(d, "ai.onnx") || !strcmp(d, "com.microsoft");
    return chk_is_int_layer(n) || chk_is(n, "DynamicQuantizeLinear") ||
           (default_or_ms && n->op_type && !strncmp(n->op_type, "QLinear", 7));
}

/* The Conv (or ConvTranspose) whose output t is, possibly through a
 * BatchNormalization; -1. */
static int conv_of(const qfd_checker *c, int t)
{
    const qfd_node *p = chk_producer(c, t);
    if (p && chk_is(p, "BatchNormalization"))
        p = p->n_in ? chk_producer(c, p->in[0]) : NULL;
    if (!p || !(chk_is(p, "Conv") || chk_is(p, "ConvTranspose")))
        return -1;
    return (int)(p - c->g->nodes);
}

/* TRT007 on Add i. */
static void check_residual(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0 || chk_const_derived(c, n->in[0]) ||
        chk_const_derived(c, n->in[1]))
        return;
    int conv = conv_of(c, n->in[0]) >= 0 ? conv_of(c, n->in[0]) : conv_of(c, n->in[1]);
    if (conv < 0)
        return;
    char lb[600];
    for (int k = 0; k < 2; k++)
        if (!chk_dq_of(c, n->in[k]))
            chk_add(c, R_TRT007, i, n->in[k],
                    "residual input '%s' does not come from a DequantizeLinear: TensorRT fuses %s with this Add in "
                    "int8 only when both inputs are quantized",
                    c->g->tensors[n->in[k]].name, chk_label(c, conv, lb, sizeof lb));
}

/* TRT008 on the BatchNormalization or Relu i. */
static void check_conv_act(qfd_checker *c, int i)
{
    const qfd_node *n = &c->g->nodes[i];
    const qfd_node *dq = n->n_in ? chk_dq_of(c, n->in[0]) : NULL;
    if (!dq)
        return;
    const qfd_node *q = chk_producer(c, dq->in[0]);
    if (!q || !chk_is_q(q))
        return;
    const qfd_node *p = chk_producer(c, q->in[0]);
    bool after_conv = p && (chk_is(p, "Conv") || chk_is(p, "ConvTranspose"));
    if (!after_conv && p && chk_is(p, "BatchNormalization") && chk_is(n, "Relu"))
        after_conv = conv_of(c, q->in[0]) >= 0;
    if (!after_conv)
        return;
    char lp[600], ln[600];
    chk_add(c, R_TRT008, (int)(q - c->g->nodes), q->in[0],
            "quantizes between %s and %s: TensorRT fuses them itself and the Q/DQ pair breaks that; quantize after "
            "the %s",
            chk_label(c, (int)(p - c->g->nodes), lp, sizeof lp), chk_label(c, i, ln, sizeof ln), n->op_type);
}

void chk_rules_tensorrt(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (chk_is_q(n) || chk_is_dq(n))
            check_qdq(c, (int)i);
        else if (qoperator_or_dynamic(n))
            chk_add(c, R_TRT006, (int)i, -1,
                    "%s is an integer op of the QOperator or dynamic format: TensorRT's ONNX parser cannot import it; "
                    "export QuantizeLinear/DequantizeLinear instead",
                    n->op_type);
        else if (chk_is(n, "Add") && c->has_qdq)
            check_residual(c, (int)i);
        else if (chk_is(n, "BatchNormalization") || chk_is(n, "Relu"))
            check_conv_act(c, (int)i);
    }
}
