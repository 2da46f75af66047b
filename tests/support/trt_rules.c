/* TensorRT's rules on a QDQ graph (trt_rules.h says which and why). */
#include "trt_rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "ir/edit.h"
#include "ir/model_info.h"

typedef struct checker {
    const qfd_graph *g;
    const char *float_layers; /* qfd.quant.float: "a,b" */
    FILE *out;
    int fails, warnings;
} checker;

static void report(checker *c, int fail, const char *fmt, ...)
{
    if (fail)
        c->fails++;
    else
        c->warnings++;
    if (!c->out)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs(fail ? "FAIL: " : "warning: ", c->out);
    vfprintf(c->out, fmt, ap);
    fputc('\n', c->out);
    va_end(ap);
}

static const qfd_node *producer(const qfd_graph *g, int t)
{
    return t >= 0 && g->tensors[t].producer >= 0 ? &g->nodes[g->tensors[t].producer] : NULL;
}

static bool made_by(const qfd_graph *g, int t, const char *op)
{
    const qfd_node *p = producer(g, t);
    return p && qfd_node_is(p, op);
}

static bool is_init(const qfd_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].flags & QFD_T_INITIALIZER);
}

static bool is_const(const qfd_graph *g, int t)
{
    return is_init(g, t) || made_by(g, t, "Constant");
}

static bool is_layer(const qfd_node *n)
{
    return qfd_node_is(n, "Conv") || qfd_node_is(n, "ConvTranspose") || qfd_node_is(n, "Gemm") ||
           qfd_node_is(n, "MatMul");
}

/* Whether the exporter kept layer `name` float (qfd.quant.float). */
static bool float_layer(const checker *c, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = c->float_layers; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
            return true;
    return false;
}

/* The tensor t is a quantized copy of, back through DequantizeLinear,
 * QuantizeLinear and the Clip that keeps a clamp before it; *through says
 * whether any Q/DQ was passed. */
static int origin(const qfd_graph *g, int t, bool *through)
{
    *through = false;
    for (int steps = 0; steps < 3; steps++) {
        const qfd_node *p = producer(g, t);
        if (p && p->n_in && (qfd_node_is(p, "DequantizeLinear") || qfd_node_is(p, "QuantizeLinear")))
            *through = true;
        else if (!(p && p->n_in && *through && qfd_node_is(p, "Clip")))
            return t;
        t = p->in[0];
    }
    return t;
}

static void check_qdq(checker *c, const qfd_node *n, const char *lb)
{
    const qfd_graph *g = c->g;
    bool dq = qfd_node_is(n, "DequantizeLinear");
    int x = n->n_in > 0 ? n->in[0] : -1, s = n->n_in > 1 ? n->in[1] : -1, z = n->n_in > 2 ? n->in[2] : -1;
    if (dq && is_init(g, x) && g->tensors[x].dtype != QFD_DT_INT8)
        report(c, 1, "%s dequantizes %s '%s': TensorRT takes int8 only%s", lb, qfd_dtype_name(g->tensors[x].dtype),
               g->tensors[x].name,
               g->tensors[x].dtype == QFD_DT_INT32 ? " (an int32 bias behind a DequantizeLinear)" : "");
    if (!dq && qfd_attr_get(n, "output_dtype") && qfd_attr_int(n, "output_dtype", 0) != QFD_DT_INT8)
        report(c, 1, "%s: output_dtype %lld, not int8", lb, (long long)qfd_attr_int(n, "output_dtype", 0));
    if (z < 0) {
        report(c, 1, "%s has no explicit zero point (the default is uint8)", lb);
    } else if (!is_init(g, z) || g->tensors[z].dtype != QFD_DT_INT8) {
        report(c, 1, "%s: zero point '%s' is %s, not an int8 initializer", lb, g->tensors[z].name,
               qfd_dtype_name(g->tensors[z].dtype));
    } else {
        const int8_t *zv = g->tensors[z].data;
        for (int64_t k = 0; k < qfd_tensor_numel(&g->tensors[z]); k++)
            if (zv[k]) {
                report(c, 1, "%s: zero point %lld is %d, not 0", lb, (long long)k, zv[k]);
                break;
            }
    }
    const float *sv = s >= 0 ? qfd_graph_float_init(g, s, -1) : NULL;
    if (!sv) {
        report(c, 1, "%s: the scale is not a constant float initializer", lb);
        return;
    }
    const qfd_tensor *st = &g->tensors[s];
    int64_t ns = qfd_tensor_numel(st);
    for (int64_t k = 0; k < ns; k++)
        if (!(sv[k] > 0) || !isfinite(sv[k])) {
            report(c, 1, "%s: scale %lld is %g", lb, (long long)k, (double)sv[k]);
            break;
        }
    bool weight = dq && is_init(g, x);
    if (!weight && ns != 1)
        report(c, 1, "%s: an activation with %lld scales (TensorRT quantizes activations per tensor)", lb,
               (long long)ns);
    if (weight && (ns != 1 || st->rank > 0)) {
        const qfd_tensor *w = &g->tensors[x];
        int64_t axis = qfd_attr_int(n, "axis", 1);
        axis = axis < 0 ? axis + w->rank : axis;
        if (axis < 0 || axis >= w->rank || st->rank != 1 || ns != w->dims[axis])
            report(c, 1, "%s: %lld scales on axis %lld of '%s' (%d dimensions): one per channel of the axis needed", lb,
                   (long long)ns, (long long)axis, w->name, w->rank);
    }
}

/* A per-channel weight's axis must be the layer's output channel. */
static void check_weight_axis(checker *c, const qfd_node *n, const char *lb)
{
    const qfd_graph *g = c->g;
    const qfd_node *dq = producer(g, n->in[1]);
    if (!dq || dq->n_in < 2 || !is_init(g, dq->in[0]) || qfd_tensor_numel(&g->tensors[dq->in[1]]) == 1)
        return;
    const qfd_tensor *w = &g->tensors[dq->in[0]];
    int64_t axis = qfd_attr_int(dq, "axis", 1);
    axis = axis < 0 ? axis + w->rank : axis;
    if (qfd_node_is(n, "ConvTranspose")) {
        report(c, 0,
               "%s: per-channel weight on axis %lld; TensorRT's axis for ConvTranspose is disputed (0 in "
               "NVIDIA/TensorRT #2380, 1 in ModelOpt)",
               lb, (long long)axis);
        return;
    }
    int64_t want = qfd_node_is(n, "Conv")   ? 0
                   : qfd_node_is(n, "Gemm") ? (qfd_attr_int(n, "transB", 0) ? 0 : 1)
                                            : w->rank - 1;
    if (axis != want)
        report(c, 1, "%s: per-channel weight on axis %lld, not the output channel (axis %lld)", lb, (long long)axis,
               (long long)want);
}

static void check_layer(checker *c, const qfd_node *n, const char *lb)
{
    const qfd_graph *g = c->g;
    if (n->name && float_layer(c, n->name))
        return;
    for (size_t k = 0; k < 2; k++)
        if (k >= n->n_in || !made_by(g, n->in[k], "DequantizeLinear"))
            report(c, 1, "%s: input %zu is not made by a DequantizeLinear", lb, k);
    if (n->n_in > 1 && made_by(g, n->in[1], "DequantizeLinear"))
        check_weight_axis(c, n, lb);
    if (n->n_in > 2 && n->in[2] >= 0 && !qfd_node_is(n, "MatMul")) {
        int b = n->in[2];
        if (!is_const(g, b) || (is_init(g, b) && g->tensors[b].dtype != QFD_DT_FLOAT))
            report(c, 1, "%s: bias '%s' is not a float initializer", lb, g->tensors[b].name);
    }
}

/* A residual Add: two activations, one of them dequantized already or the
 * output of a (quantized) Conv, which TensorRT fuses with the Add. */
static void check_add(checker *c, const qfd_node *n, const char *lb)
{
    const qfd_graph *g = c->g;
    if (n->n_in != 2 || is_const(g, n->in[0]) || is_const(g, n->in[1]))
        return;
    bool residual = false;
    for (size_t k = 0; k < 2; k++) {
        bool through;
        const qfd_node *p = producer(g, origin(g, n->in[k], &through));
        residual |= made_by(g, n->in[k], "DequantizeLinear") ||
                    (p && (qfd_node_is(p, "Conv") || qfd_node_is(p, "ConvTranspose")) &&
                     !(p->name && float_layer(c, p->name)));
    }
    for (size_t k = 0; residual && k < 2; k++)
        if (!made_by(g, n->in[k], "DequantizeLinear"))
            report(c, 1, "%s: residual input %zu ('%s') is not made by a DequantizeLinear", lb, k,
                   g->tensors[n->in[k]].name);
}

/* TensorRT fuses Conv + BatchNormalization/Relu itself: a Q/DQ between
 * them would split what it fuses. */
static void check_fused_act(checker *c, const qfd_node *n, const char *lb)
{
    bool through;
    const qfd_node *p = n->n_in ? producer(c->g, origin(c->g, n->in[0], &through)) : NULL;
    if (through && p && (qfd_node_is(p, "Conv") || qfd_node_is(p, "ConvTranspose")))
        report(c, 1, "%s: a QuantizeLinear/DequantizeLinear sits between it and the %s before it", lb, p->op_type);
}

int trt_rules_check(const qfd_model *m, FILE *out, int *warnings)
{
    checker c = {&m->graph, qfd_model_metadata(m, "qfd.quant.float"), out, 0, 0};
    const qfd_graph *g = c.g;
    for (size_t i = 0; i < g->n_inits; i++)
        if (g->tensors[g->inits[i]].dtype == QFD_DT_UINT8)
            report(&c, 1, "initializer '%s' is uint8 (TensorRT takes int8 only)", g->tensors[g->inits[i]].name);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        char lb[300];
        qfd_node_label(n, i, lb, sizeof lb);
        if (qfd_node_is(n, "QuantizeLinear") || qfd_node_is(n, "DequantizeLinear"))
            check_qdq(&c, n, lb);
        else if (is_layer(n))
            check_layer(&c, n, lb);
        else if (qfd_node_is(n, "Add"))
            check_add(&c, n, lb);
        else if (qfd_node_is(n, "Relu") || qfd_node_is(n, "Clip") || qfd_node_is(n, "BatchNormalization"))
            check_fused_act(&c, n, lb);
        else if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
            report(&c, 1, "%s: op of domain %s", lb, n->domain);
    }
    if (warnings)
        *warnings = c.warnings;
    return c.fails;
}
