/* The schema changes of the default domain, opsets 8-21, that need a node
 * rewritten to keep computing the same thing (qfd_upgrade_rules, used by
 * upgrade_opset.c). Each rule names the first opset of the new schema:
 *   attributes become inputs   ReduceSum, Squeeze, Unsqueeze, Split (13),
 *                              the other Reduce* (18), Clip, Pad (11),
 *                              Dropout ratio (12), TopK k, Slice (10),
 *                              Upsample scales (9)
 *   changed meaning            Softmax, LogSoftmax, Hardmax (13: no longer
 *                              flatten to 2-D at axis), Split (18: needs
 *                              num_outputs without a split input),
 *                              RoiAlign (16: default half_pixel),
 *                              GridSample (20: mode names)
 *   removed or narrowed        BatchNormalization spatial (9) and its
 *                              training outputs (14), Dropout's float mask
 *                              (10), Upsample (10: Resize), Resize-10's
 *                              implicit modes (11), tf_half_pixel_for_nn
 *                              (13), Scatter (11: ScatterElements)
 * New initializers and nodes are named after the node's first output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "passes/upgrade.h"

static qfd_status oom(const qfd_upgrade *u)
{
    return qfd_fail(u->ctx, QFD_ERR_NOMEM, "out of memory upgrading the opset");
}

/* "<first output>_<what>", the base name of what node i gains. */
static void base_name(const qfd_graph *g, size_t i, const char *what, char *buf, size_t cap)
{
    const qfd_node *n = &g->nodes[i];
    snprintf(buf, cap, "%.400s_%s", n->n_out && n->out[0] >= 0 ? g->tensors[n->out[0]].name : n->op_type, what);
}

/* The declared element type of tensor t (graph input, output, value_info
 * or initializer), 0 when nothing declares it. */
static int32_t elem_type(const qfd_graph *g, int t)
{
    if (t < 0)
        return 0;
    if (g->tensors[t].flags & QFD_T_INITIALIZER)
        return g->tensors[t].dtype;
    const qfd_value_info *lists[3] = {g->inputs, g->outputs, g->value_infos};
    const size_t counts[3] = {g->n_inputs, g->n_outputs, g->n_value_infos};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++)
            if (lists[k][i].tensor == t && lists[k][i].has_type && lists[k][i].type.has_elem_type)
                return lists[k][i].type.elem_type;
    return 0;
}

/* The float values of t when it is an initializer or a Constant's value. */
static const float *known_floats(const qfd_graph *g, int t, int64_t *n)
{
    const qfd_tensor *v = NULL;
    if (t < 0)
        return NULL;
    if ((g->tensors[t].flags & QFD_T_INITIALIZER) && !(g->tensors[t].flags & QFD_T_INPUT))
        v = &g->tensors[t];
    else if (g->tensors[t].producer >= 0 && qfd_node_is(&g->nodes[g->tensors[t].producer], "Constant")) {
        const qfd_attr *a = qfd_attr_get(&g->nodes[g->tensors[t].producer], "value");
        v = a ? a->t : NULL;
    }
    if (!v || v->dtype != QFD_DT_FLOAT || !v->data || v->nbytes != (size_t)qfd_tensor_numel(v) * sizeof(float))
        return NULL;
    *n = qfd_tensor_numel(v);
    return v->data;
}

static bool is_read(const qfd_graph *g, int t)
{
    return t >= 0 && qfd_graph_n_readers(g, t) > 0;
}

/* ---- attributes become inputs ---- */

/* INTS or FLOATS attribute attr of node i becomes its input k, an int64 or
 * float [n] initializer (dtype says which). An absent attribute stays an
 * absent input, and so does an empty INTS one (axes, pads: empty means
 * none); empty scales stay an empty input, which Upsample's schema reads. */
static qfd_status attr_to_input(qfd_upgrade *u, size_t i, const char *attr, size_t k, int32_t dtype)
{
    qfd_graph *g = &u->m->graph;
    const qfd_attr *a = qfd_attr_get(&g->nodes[i], attr);
    if (!a)
        return QFD_OK;
    bool floats = dtype == QFD_DT_FLOAT;
    size_t n = floats ? a->n_floats : a->n_ints, size = floats ? sizeof(float) : sizeof(int64_t);
    if (n || floats) {
        void *v = malloc((n ? n : 1) * size);
        if (!v)
            return oom(u);
        if (n)
            memcpy(v, floats ? (const void *)a->floats : (const void *)a->ints, n * size);
        char base[512];
        base_name(g, i, attr, base, sizeof base);
        int t = qfd_graph_add_init(g, base, dtype, 1, (int64_t[]){(int64_t)n}, v, n * size);
        if (t < 0 || qfd_node_set_input(&g->nodes[i], k, t))
            return oom(u);
    }
    qfd_node_remove_attr(&g->nodes[i], attr);
    return QFD_OK;
}

/* A scalar initializer of dtype (float or double) holding v, as input k. */
static qfd_status scalar_input(qfd_upgrade *u, size_t i, const char *what, int32_t dtype, double v, size_t k)
{
    qfd_graph *g = &u->m->graph;
    size_t size = dtype == QFD_DT_DOUBLE ? sizeof(double) : sizeof(float);
    void *d = malloc(size);
    if (!d)
        return oom(u);
    if (dtype == QFD_DT_DOUBLE)
        *(double *)d = v;
    else
        *(float *)d = (float)v;
    char base[512];
    base_name(g, i, what, base, sizeof base);
    int t = qfd_graph_add_init(g, base, dtype == QFD_DT_DOUBLE ? dtype : QFD_DT_FLOAT, 0, NULL, d, size);
    if (t < 0 || qfd_node_set_input(&g->nodes[i], k, t))
        return oom(u);
    return QFD_OK;
}

/* Clip's bounds and Pad's value become inputs of the data's type: float
 * and double are the types those ops took before opset 11 besides float16. */
static qfd_status check_float_data(const qfd_upgrade *u, size_t i)
{
    const qfd_graph *g = &u->m->graph;
    int32_t t = elem_type(g, g->nodes[i].n_in ? g->nodes[i].in[0] : -1);
    if (t && t != QFD_DT_FLOAT && t != QFD_DT_DOUBLE)
        return qfd_upgrade_refuse(u, i, "its input is %s; the rewrite writes float or double constants",
                                  qfd_dtype_name(t) ? qfd_dtype_name(t) : "of another type");
    return QFD_OK;
}

/* Pad writes a constant only for a nonzero value in constant mode. */
static qfd_status check_pad_11(const qfd_upgrade *u, size_t i)
{
    const qfd_node *n = &u->m->graph.nodes[i];
    bool constant = !strcmp(qfd_attr_str(n, "mode", "constant"), "constant");
    return constant && qfd_attr_float(n, "value", 0) != 0 ? check_float_data(u, i) : QFD_OK;
}

static int32_t data_type(const qfd_upgrade *u, size_t i)
{
    const qfd_graph *g = &u->m->graph;
    return elem_type(g, g->nodes[i].in[0]) == QFD_DT_DOUBLE ? QFD_DT_DOUBLE : QFD_DT_FLOAT;
}

static qfd_status clip_11(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    const qfd_attr *lo = qfd_attr_get(n, "min"), *hi = qfd_attr_get(n, "max");
    double vlo = lo ? lo->f : 0, vhi = hi ? hi->f : 0;
    int32_t dt = data_type(u, i);
    qfd_status st = QFD_OK;
    if (lo && !st)
        st = scalar_input(u, i, "min", dt, vlo, 1);
    if (hi && !st)
        st = scalar_input(u, i, "max", dt, vhi, 2); /* input 1 stays absent without min */
    if (st)
        return st;
    n = &u->m->graph.nodes[i];
    qfd_node_remove_attr(n, "min");
    qfd_node_remove_attr(n, "max");
    return QFD_OK;
}

static qfd_status pad_11(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    const qfd_attr *value = qfd_attr_get(n, "value");
    bool constant = !strcmp(qfd_attr_str(n, "mode", "constant"), "constant");
    double v = value ? value->f : 0;
    qfd_status st = attr_to_input(u, i, "pads", 1, QFD_DT_INT64);
    if (!st && value && constant && v != 0)
        st = scalar_input(u, i, "value", data_type(u, i), v, 2);
    if (!st)
        qfd_node_remove_attr(&u->m->graph.nodes[i], "value");
    return st;
}

static qfd_status axes_to_input(qfd_upgrade *u, size_t i)
{
    return attr_to_input(u, i, "axes", 1, QFD_DT_INT64);
}

static qfd_status split_13(qfd_upgrade *u, size_t i)
{
    return attr_to_input(u, i, "split", 1, QFD_DT_INT64);
}

/* Split-18 wants num_outputs when no split input gives the sizes: equal
 * parts, as before (a split that is not even was an error then). */
static qfd_status split_18(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    if ((n->n_in > 1 && n->in[1] >= 0) || qfd_attr_get(n, "num_outputs"))
        return QFD_OK;
    return qfd_node_set_int(n, "num_outputs", (int64_t)n->n_out) ? oom(u) : QFD_OK;
}

static qfd_status topk_10(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    const qfd_attr *k = qfd_attr_get(n, "k");
    if (!k)
        return QFD_OK;
    int64_t *v = malloc(sizeof *v);
    if (!v)
        return oom(u);
    *v = k->i;
    char base[512];
    base_name(&u->m->graph, i, "k", base, sizeof base);
    int t = qfd_graph_add_init(&u->m->graph, base, QFD_DT_INT64, 1, (int64_t[]){1}, v, sizeof *v);
    if (t < 0 || qfd_node_set_input(&u->m->graph.nodes[i], 1, t))
        return oom(u);
    qfd_node_remove_attr(&u->m->graph.nodes[i], "k");
    return QFD_OK;
}

static qfd_status slice_10(qfd_upgrade *u, size_t i)
{
    qfd_status st = attr_to_input(u, i, "starts", 1, QFD_DT_INT64);
    if (!st)
        st = attr_to_input(u, i, "ends", 2, QFD_DT_INT64);
    if (!st)
        st = attr_to_input(u, i, "axes", 3, QFD_DT_INT64);
    return st;
}

/* ---- Dropout and BatchNormalization: inference outputs only ---- */

static qfd_status check_dropout_10(const qfd_upgrade *u, size_t i)
{
    const qfd_node *n = &u->m->graph.nodes[i];
    if (n->n_out > 1 && is_read(&u->m->graph, n->out[1]))
        return qfd_upgrade_refuse(u, i, "its mask output is read, and opset 10 changed the mask's type to bool");
    return QFD_OK;
}

static qfd_status dropout_10(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    if (n->n_out > 1)
        n->n_out = 1; /* an unread mask */
    return QFD_OK;
}

static qfd_status dropout_12(qfd_upgrade *u, size_t i)
{
    const qfd_attr *r = qfd_attr_get(&u->m->graph.nodes[i], "ratio");
    if (!r)
        return QFD_OK; /* 0.5 both before and after */
    qfd_status st = scalar_input(u, i, "ratio", QFD_DT_FLOAT, r->f, 1);
    if (!st)
        qfd_node_remove_attr(&u->m->graph.nodes[i], "ratio");
    return st;
}

static qfd_status check_bn_9(const qfd_upgrade *u, size_t i)
{
    if (qfd_attr_int(&u->m->graph.nodes[i], "spatial", 1) == 0)
        return qfd_upgrade_refuse(u, i, "spatial=0 (per-element statistics) has no equivalent from opset 9");
    return QFD_OK;
}

static qfd_status bn_9(qfd_upgrade *u, size_t i)
{
    qfd_node_remove_attr(&u->m->graph.nodes[i], "spatial");
    return QFD_OK;
}

static qfd_status check_bn_14(const qfd_upgrade *u, size_t i)
{
    const qfd_node *n = &u->m->graph.nodes[i];
    for (size_t k = 1; k < n->n_out; k++)
        if (is_read(&u->m->graph, n->out[k]))
            return qfd_upgrade_refuse(u, i, "its training output %zu is read; opset 14 changed those outputs", k);
    return QFD_OK;
}

static qfd_status bn_14(qfd_upgrade *u, size_t i)
{
    u->m->graph.nodes[i].n_out = 1; /* unread training outputs */
    return QFD_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax (13) ----
 * Before 13 the op flattened its input to 2-D at axis (default 1) and
 * normalized each row; from 13 it normalizes along axis alone (default
 * -1). The same when axis is the last one; otherwise
 *   Flatten(x, axis) -> op(axis 1) -> Reshape(to Shape(x))
 * is exact for any rank. */
static qfd_status softmax_13(qfd_upgrade *u, size_t i)
{
    qfd_graph *g = &u->m->graph;
    qfd_node *n = &g->nodes[i];
    const int64_t axis = qfd_attr_int(n, "axis", 1);
    const int x = n->in[0], y = n->out[0];
    const int r = x >= 0 && (size_t)x < u->n_rank ? u->rank[x] : -1;
    if (axis == -1 || (r > 0 && (axis < 0 ? axis + r : axis) == r - 1))
        return qfd_node_set_int(n, "axis", axis) ? oom(u) : QFD_OK; /* written: the default changed */
    char base[512], name[512];
    base_name(g, i, "2d_in", base, sizeof base);
    int flat = qfd_graph_add_value(g, base);
    base_name(g, i, "2d", base, sizeof base);
    int y2 = flat < 0 ? -1 : qfd_graph_add_value(g, base);
    base_name(g, i, "shape", base, sizeof base);
    int shape = y2 < 0 ? -1 : qfd_graph_add_value(g, base);
    if (shape < 0)
        return oom(u);
    base_name(g, i, "flatten", name, sizeof name);
    int nf = qfd_graph_add_node(g, "Flatten", "", name, &x, 1, &flat, 1);
    base_name(g, i, "shape_of_input", name, sizeof name);
    int ns = nf < 0 ? -1 : qfd_graph_add_node(g, "Shape", "", name, &x, 1, &shape, 1);
    base_name(g, i, "reshape", name, sizeof name);
    int nr = ns < 0 ? -1 : qfd_graph_add_node(g, "Reshape", "", name, (int[]){y2, shape}, 2, &y, 1);
    if (nr < 0 || qfd_node_set_int(&g->nodes[nf], "axis", axis))
        return oom(u);
    n = &g->nodes[i];
    n->in[0] = flat;
    n->out[0] = y2;
    g->tensors[y2].producer = (int)i;
    return qfd_node_set_int(n, "axis", 1) ? oom(u) : QFD_OK;
}

/* ---- Upsample and Resize ---- */

static const char *resize_mode(const qfd_node *n)
{
    return qfd_attr_str(n, "mode", "nearest");
}

static qfd_status check_upsample_10(const qfd_upgrade *u, size_t i)
{
    const char *mode = resize_mode(&u->m->graph.nodes[i]);
    if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
        return qfd_upgrade_refuse(u, i, "mode '%s' is not one of nearest, linear", mode);
    return QFD_OK;
}

static qfd_status upsample_9(qfd_upgrade *u, size_t i)
{
    return attr_to_input(u, i, "scales", 1, QFD_DT_FLOAT);
}

/* Upsample-9 and Resize-10 compute the same (asymmetric coordinates). */
static qfd_status upsample_10(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    char *op = strdup("Resize");
    if (!op)
        return oom(u);
    free(n->op_type);
    n->op_type = op;
    return QFD_OK;
}

/* Resize-10's nearest picks floor(x) when upsampling and ceil(x) when
 * downsampling (as ONNX Runtime runs it, and qfd-onnx's resize.c): with
 * known scales one nearest_mode says the same. */
static const char *resize_10_nearest(const qfd_graph *g, const qfd_node *n)
{
    int64_t count = 0;
    const float *s = n->n_in > 1 ? known_floats(g, n->in[1], &count) : NULL;
    bool up = true, down = true;
    for (int64_t k = 0; s && k < count; k++) {
        up &= s[k] >= 1.0f;
        down &= s[k] <= 1.0f;
    }
    return !s || up ? "floor" : down ? "ceil" : NULL;
}

static qfd_status check_resize_11(const qfd_upgrade *u, size_t i)
{
    const qfd_graph *g = &u->m->graph;
    const qfd_node *n = &g->nodes[i];
    int64_t count;
    if (!strcmp(resize_mode(n), "nearest") && (n->n_in < 2 || !known_floats(g, n->in[1], &count)))
        return qfd_upgrade_refuse(u, i, "its nearest rounding depends on scales that are not constant");
    if (!strcmp(resize_mode(n), "nearest") && !resize_10_nearest(g, n))
        return qfd_upgrade_refuse(u, i, "it upsamples some axes and downsamples others");
    return QFD_OK;
}

/* Resize-10 (x, scales) -> Resize-11 (x, roi, scales), asymmetric; the
 * check refused unknown scales except for a former Upsample, whose scales
 * are >= 1 (floor). */
static qfd_status resize_11(qfd_upgrade *u, size_t i)
{
    qfd_graph *g = &u->m->graph;
    int roi = -1;
    if (u->to < 13) { /* roi is optional from 13 */
        char base[512];
        base_name(g, i, "roi", base, sizeof base);
        float *none = malloc(sizeof *none);
        if (!none || (roi = qfd_graph_add_init(g, base, QFD_DT_FLOAT, 1, (int64_t[]){0}, none, 0)) < 0)
            return oom(u);
    }
    qfd_node *n = &g->nodes[i];
    int scales = n->n_in > 1 ? n->in[1] : -1;
    const char *nearest = resize_10_nearest(g, n);
    if (qfd_node_set_input(n, 2, scales) || qfd_node_set_str(n, "coordinate_transformation_mode", "asymmetric") ||
        (!strcmp(resize_mode(n), "nearest") && qfd_node_set_str(n, "nearest_mode", nearest ? nearest : "floor")))
        return oom(u);
    n->in[1] = roi;
    return QFD_OK;
}

static qfd_status check_resize_13(const qfd_upgrade *u, size_t i)
{
    const char *ctm = qfd_attr_str(&u->m->graph.nodes[i], "coordinate_transformation_mode", "half_pixel");
    if (!strcmp(ctm, "tf_half_pixel_for_nn"))
        return qfd_upgrade_refuse(u, i, "coordinate_transformation_mode tf_half_pixel_for_nn was removed in opset 13");
    return QFD_OK;
}

/* ---- renamed ops and changed defaults ---- */

static qfd_status scatter_11(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    char *op = strdup("ScatterElements"); /* Scatter's meaning, renamed */
    if (!op)
        return oom(u);
    free(n->op_type);
    n->op_type = op;
    return QFD_OK;
}

static qfd_status roialign_16(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    if (qfd_attr_get(n, "coordinate_transformation_mode"))
        return QFD_OK;
    return qfd_node_set_str(n, "coordinate_transformation_mode", "output_half_pixel") ? oom(u) : QFD_OK;
}

static qfd_status gridsample_20(qfd_upgrade *u, size_t i)
{
    qfd_node *n = &u->m->graph.nodes[i];
    const char *mode = qfd_attr_str(n, "mode", "bilinear");
    const char *now = !strcmp(mode, "bilinear") ? "linear" : !strcmp(mode, "bicubic") ? "cubic" : NULL;
    if (!now || !qfd_attr_get(n, "mode"))
        return QFD_OK; /* nearest, or the default, which is the same mode */
    return qfd_node_set_str(n, "mode", now) ? oom(u) : QFD_OK;
}

#define REDUCE_18(op)                     \
    {                                     \
        op, 18, NULL, NULL, axes_to_input \
    }

const qfd_upgrade_rule qfd_upgrade_rules[] = {
    {"BatchNormalization", 9, NULL, check_bn_9, bn_9},
    {"BatchNormalization", 14, NULL, check_bn_14, bn_14},
    {"Clip", 11, NULL, check_float_data, clip_11},
    {"Dropout", 10, NULL, check_dropout_10, dropout_10},
    {"Dropout", 12, NULL, NULL, dropout_12},
    {"GridSample", 20, NULL, NULL, gridsample_20},
    {"Hardmax", 13, NULL, NULL, softmax_13},
    {"LogSoftmax", 13, NULL, NULL, softmax_13},
    {"Pad", 11, NULL, check_pad_11, pad_11},
    REDUCE_18("ReduceL1"),
    REDUCE_18("ReduceL2"),
    REDUCE_18("ReduceLogSum"),
    REDUCE_18("ReduceLogSumExp"),
    REDUCE_18("ReduceMax"),
    REDUCE_18("ReduceMean"),
    REDUCE_18("ReduceMin"),
    REDUCE_18("ReduceProd"),
    {"ReduceSum", 13, NULL, NULL, axes_to_input},
    REDUCE_18("ReduceSumSquare"),
    {"Resize", 11, NULL, check_resize_11, resize_11},
    {"Resize", 13, NULL, check_resize_13, NULL},
    {"RoiAlign", 16, NULL, NULL, roialign_16},
    {"Scatter", 11, "ScatterElements", NULL, scatter_11},
    {"Slice", 10, NULL, NULL, slice_10},
    {"Softmax", 13, NULL, NULL, softmax_13},
    {"Split", 13, NULL, NULL, split_13},
    {"Split", 18, NULL, NULL, split_18},
    {"Squeeze", 13, NULL, NULL, axes_to_input},
    {"TopK", 10, NULL, NULL, topk_10},
    {"Unsqueeze", 13, NULL, NULL, axes_to_input},
    {"Upsample", 9, NULL, NULL, upsample_9},
    {"Upsample", 10, "Resize", check_upsample_10, upsample_10},
};
const size_t qfd_upgrade_n_rules = sizeof qfd_upgrade_rules / sizeof *qfd_upgrade_rules;
