/* find_feature: the classifier feature f that QFD quantizes in the teacher
 * and distils into the student (qfd-method.md), "the tensor fed to the
 * classifier".
 *
 * The classifier is the last Gemm or MatMul by a weight on the path back
 * from the first graph output. The path may pass through what PyTorch
 * exports after a Linear head: a bias Add (torch.matmul(x, W) + b), a
 * scaling by a constant, Softmax/LogSoftmax/Sigmoid, a token select
 * (Gather/Slice, when the head runs on every token), Flatten/Reshape/
 * Squeeze/Unsqueeze/Transpose, Identity, Dropout and Cast. Anything else
 * (a Concat of two heads, a MatMul of two activations) stops the search
 * with a message that asks for --feature.
 *
 * f is the classifier's activation input itself, so for GAP -> Flatten ->
 * Gemm it is the Flatten's output, not the pooling's: a Flatten or Reshape
 * of the pooled tensor holds the same values, and naming the tensor the
 * classifier reads makes the teacher's quantizer on f and the student's
 * quantizer on the classifier input one and the same tensor ([N, C], the
 * shape the classifier sees, whatever pooling and flattening came before).
 * Dropout and Identity right before the classifier are looked through: in
 * training Dropout masks and rescales at random, which a distillation
 * target must not see (torchvision's MobileNet reads Dropout -> Linear). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "passes/passes.h"

/* A weight is an initializer or at most this many ops (Constant,
 * Transpose, DequantizeLinear, ...) from initializers. */
enum { STATIC_DEPTH = 8 };

/* Whether t is known when the model is loaded: an initializer (listed as a
 * graph input too, as old exporters do, it is still a weight), or computed
 * only from such by Constant-rooted ops. */
static bool is_static(const qfd_graph *g, int t, int depth)
{
    if (t < 0)
        return true; /* an omitted optional input */
    const qfd_tensor *tt = &g->tensors[t];
    if (tt->flags & QFD_T_INITIALIZER)
        return true;
    if ((tt->flags & QFD_T_INPUT) || tt->producer < 0 || depth == 0)
        return false;
    const qfd_node *n = &g->nodes[tt->producer];
    bool any_input = false;
    for (size_t k = 0; k < n->n_in; k++) {
        if (n->in[k] >= 0 && !is_static(g, n->in[k], depth - 1))
            return false;
        any_input |= n->in[k] >= 0;
    }
    /* Random* ops take no input either, and are not constants. */
    return any_input || qfd_node_is(n, "Constant");
}

static bool is_one_of(const qfd_node *n, const char *const *ops)
{
    for (; *ops; ops++)
        if (qfd_node_is(n, *ops))
            return true;
    return false;
}

/* Ops the search passes through on their data input (input 0); the first
 * ones keep the shape, which lets the feature's shape follow from the
 * output's (KEEPS_SHAPE of them). */
static const char *const look_through[] = {"Identity",  "Dropout", "Cast",    "Softmax", "LogSoftmax",
                                           "Sigmoid",   "Flatten", "Reshape", "Squeeze", "Unsqueeze",
                                           "Transpose", "Gather",  "Slice",   NULL};
enum { KEEPS_SHAPE = 6 };
static const char *const by_constant[] = {"Add", "Sub", "Mul", "Div", NULL};

static bool keeps_shape(const qfd_node *n)
{
    for (int i = 0; i < KEEPS_SHAPE; i++)
        if (qfd_node_is(n, look_through[i]))
            return true;
    return false;
}

static qfd_status not_found(qfd_ctx *ctx, const qfd_model *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static qfd_status not_found(qfd_ctx *ctx, const qfd_model *m, const char *fmt, ...)
{
    char why[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    qfd_fail(ctx, QFD_ERR_INVALID, "cannot find the classifier feature: %s; pass --feature NAME", why);
    if (m->path)
        qfd_ctx_prefix(ctx, m->path);
    return QFD_ERR_INVALID;
}

/* The feature's shape when the graph declares it (value_info, inputs). */
static bool declared_shape(const qfd_graph *g, int t, qfd_feature *f)
{
    for (size_t i = 0; i < g->n_value_infos + g->n_inputs + g->n_outputs; i++) {
        const qfd_value_info *v = i < g->n_value_infos ? &g->value_infos[i]
                                  : i < g->n_value_infos + g->n_inputs
                                      ? &g->inputs[i - g->n_value_infos]
                                      : &g->outputs[i - g->n_value_infos - g->n_inputs];
        if (v->tensor != t || !v->has_type || v->type.kind != QFD_TYPE_TENSOR)
            continue;
        if (v->type.has_elem_type)
            f->dtype = v->type.elem_type;
        if (!v->type.has_shape || v->type.rank > QFD_ARRAY_MAX_RANK)
            return false;
        f->rank = v->type.rank;
        for (int k = 0; k < f->rank; k++) {
            const qfd_dim *d = &v->type.dims[k];
            f->dims[k] = (qfd_dim_info){d->kind == QFD_DIM_VALUE ? d->value : -1,
                                        d->kind == QFD_DIM_PARAM ? d->param : NULL};
        }
        return true;
    }
    return false;
}

/* Otherwise from the first output's declared shape, when only
 * shape-keeping ops lie between it and the classifier (bias_numel: the
 * constants added on the way have 1 or that many elements): Gemm [M, N]
 * reads A [M, K] (transA: [K, M]); MatMul [..., N] by a 2-D weight [K, N]
 * reads [..., K]; K from the weight. */
static void derived_shape(const qfd_graph *g, const qfd_node *c, int act, int64_t bias_numel, qfd_feature *f)
{
    const qfd_value_info *out = &g->outputs[0];
    const qfd_tensor *w = &g->tensors[c->in[1 - act]];
    if (!(w->flags & QFD_T_INITIALIZER) || w->rank != 2 || !out->has_type || out->type.kind != QFD_TYPE_TENSOR ||
        !out->type.has_shape || out->type.rank < 1 || out->type.rank > QFD_ARRAY_MAX_RANK)
        return;
    bool gemm = qfd_node_is(c, "Gemm"), tb = gemm && qfd_attr_int(c, "transB", 0);
    int r = out->type.rank;
    const qfd_dim *last = &out->type.dims[r - 1];
    int64_t n = w->dims[tb ? 0 : 1];
    if (act != 0 || (gemm && r != 2) || (last->kind == QFD_DIM_VALUE && last->value != n) ||
        (bias_numel != 1 && bias_numel != n))
        return;
    for (int k = 0; k < r; k++) {
        const qfd_dim *d = &out->type.dims[k];
        f->dims[k] = (qfd_dim_info){d->kind == QFD_DIM_VALUE ? d->value : -1,
                                    d->kind == QFD_DIM_PARAM ? d->param : NULL};
    }
    f->dims[r - 1] = (qfd_dim_info){w->dims[tb ? 1 : 0], NULL};
    if (gemm && qfd_attr_int(c, "transA", 0)) {
        qfd_dim_info m = f->dims[0];
        f->dims[0] = f->dims[1];
        f->dims[1] = m;
    }
    f->rank = r;
}

/* The tensor named by --feature: any value the graph computes or takes. */
static qfd_status find_named(qfd_ctx *ctx, const qfd_model *m, const char *name, qfd_feature *f)
{
    const qfd_graph *g = &m->graph;
    const char *model = m->path ? m->path : "the model";
    int t = qfd_graph_find(g, name);
    if (t < 0 || (g->tensors[t].producer < 0 && !(g->tensors[t].flags & (QFD_T_INPUT | QFD_T_INITIALIZER))))
        return qfd_fail(ctx, QFD_ERR_ARG, "--feature: no tensor named '%s' in %s", name, model);
    if (g->tensors[t].flags & QFD_T_INITIALIZER)
        return qfd_fail(ctx, QFD_ERR_ARG, "--feature: '%s' in %s is an initializer (a weight), not an activation", name,
                        model);
    f->tensor = t;
    declared_shape(g, t, f);
    return QFD_OK;
}

qfd_status qfd_pass_find_feature_info(qfd_ctx *ctx, const qfd_model *m, const char *override_name, qfd_feature *f)
{
    const qfd_graph *g = &m->graph;
    *f = (qfd_feature){.tensor = -1, .classifier = -1, .rank = -1};
    if (override_name)
        return find_named(ctx, m, override_name, f);
    if (!g->n_outputs)
        return not_found(ctx, m, "the graph has no output");
    const char *oname = g->tensors[g->outputs[0].tensor].name;
    char label[320];
    bool kept = true;       /* only shape-keeping ops between classifier and output */
    int64_t bias_numel = 1; /* elements of the constants added or multiplied on the way */
    int t = g->outputs[0].tensor, act = -1;
    const qfd_node *c = NULL;
    for (size_t steps = 0; !c && steps <= g->n_nodes; steps++) {
        int p = g->tensors[t].producer;
        if (p < 0)
            return not_found(ctx, m, "the path back from output '%s' reaches '%s' without a Gemm or MatMul by a weight",
                             oname, g->tensors[t].name);
        const qfd_node *n = &g->nodes[p];
        qfd_node_label(n, (size_t)p, label, sizeof label);
        bool gemm = qfd_node_is(n, "Gemm") || qfd_node_is(n, "MatMul");
        if (gemm && n->n_in >= 2 && n->in[0] >= 0 && n->in[1] >= 0 &&
            is_static(g, n->in[0], STATIC_DEPTH) != is_static(g, n->in[1], STATIC_DEPTH)) {
            c = n;
            act = is_static(g, n->in[0], STATIC_DEPTH) ? 1 : 0;
        } else if (gemm) {
            return not_found(ctx, m,
                             "node %s on the path back from output '%s' does not multiply an activation by a "
                             "weight",
                             label, oname);
        } else if (is_one_of(n, look_through) && n->n_in >= 1 && n->in[0] >= 0 &&
                   !is_static(g, n->in[0], STATIC_DEPTH)) {
            kept &= keeps_shape(n);
            t = n->in[0];
        } else if (is_one_of(n, by_constant) && n->n_in == 2 &&
                   is_static(g, n->in[0], STATIC_DEPTH) != is_static(g, n->in[1], STATIC_DEPTH)) {
            int k = is_static(g, n->in[0], STATIC_DEPTH) ? 1 : 0;
            const qfd_tensor *cst = &g->tensors[n->in[1 - k]];
            int64_t numel = qfd_tensor_numel(cst);
            /* A bias [N] or a scalar keeps the shape; other constants may broadcast it wider. */
            kept &= (cst->flags & QFD_T_INITIALIZER) && cst->rank <= 1 &&
                    (numel == 1 || bias_numel == 1 || numel == bias_numel);
            if (numel > 1)
                bias_numel = numel;
            t = n->in[k];
        } else {
            return not_found(ctx, m,
                             "the path back from output '%s' reaches node %s, which is neither a Gemm or "
                             "MatMul by a weight nor an op the search looks through",
                             oname, label);
        }
    }
    if (!c)
        return not_found(ctx, m, "the path back from output '%s' does not end", oname);
    f->classifier = (int)(c - g->nodes);
    f->tensor = c->in[act];
    for (int p; (p = g->tensors[f->tensor].producer) >= 0 &&
                (qfd_node_is(&g->nodes[p], "Dropout") || qfd_node_is(&g->nodes[p], "Identity")) &&
                g->nodes[p].n_in >= 1 && g->nodes[p].in[0] >= 0;)
        f->tensor = g->nodes[p].in[0];
    f->dtype = g->tensors[c->in[1 - act]].has_dtype ? g->tensors[c->in[1 - act]].dtype : 0;
    if (!declared_shape(g, f->tensor, f) && kept)
        derived_shape(g, c, act, bias_numel, f);
    return QFD_OK;
}

qfd_status qfd_pass_find_feature(qfd_ctx *ctx, const qfd_model *m, const char *override_name, int *tensor)
{
    qfd_feature f;
    qfd_status st = qfd_pass_find_feature_info(ctx, m, override_name, &f);
    *tensor = st ? -1 : f.tensor;
    return st;
}

qfd_status qfd_model_find_feature(qfd_ctx *ctx, const qfd_model *m, const char *name, const char **feature)
{
    int t;
    qfd_status st = qfd_pass_find_feature(ctx, m, name, &t);
    *feature = st ? NULL : m->graph.tensors[t].name;
    return st;
}
