/* Ranks known without running the graph (qfd_upgrade_ranks). The upgrade
 * looks at them only to write a simpler graph (a Softmax over the last
 * axis needs no Flatten/Reshape around it); where a rank stays unknown it
 * writes the form that is exact for every rank. PyTorch writes no
 * value_info, so ranks are carried from the inputs through the ops that
 * classifiers use, and through the shape arithmetic its exports do before
 * a Reshape (Shape -> Gather -> Unsqueeze -> Concat): len[] holds the
 * element count of 1-D tensors for that. */
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "passes/upgrade.h"

static bool any_of(const qfd_node *n, const char *const *ops)
{
    for (; *ops; ops++)
        if (qfd_node_is(n, *ops))
            return true;
    return false;
}

/* clang-format off */
/* Ops whose first output has the rank of their first input. */
static const char *const same_rank[] = {
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Sign", "Not", "Relu",
    "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
    "Gelu", "Mish", "Sin", "Cos", "Tan", "Cast", "CastLike", "Identity", "Dropout", "Clip", "Softmax",
    "LogSoftmax", "Hardmax", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN", "Conv",
    "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Resize",
    "Upsample", "Slice", "Split", "Transpose", "Tile", "CumSum", "DepthToSpace", "SpaceToDepth", "Trilu",
    "QuantizeLinear", "DequantizeLinear", NULL};
/* Ops with multidirectional broadcasting: the largest input rank. */
static const char *const broadcast[] = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Greater", "Less", "And", "Or",
    "Xor", "Where", "Mod", "PRelu", "BitShift", "GreaterOrEqual", "LessOrEqual", NULL};
static const char *const reduce[] = {
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", NULL};
/* clang-format on */

static void set_tensor(const qfd_tensor *t, int *rank, int64_t *len)
{
    *rank = t->rank;
    *len = t->rank == 1 ? t->dims[0] : -1;
}

static void constant(const qfd_node *n, int *rank, int64_t *len)
{
    for (size_t i = 0; i < n->n_attrs; i++) {
        const qfd_attr *a = &n->attrs[i];
        if (!a->name)
            continue;
        if (!strcmp(a->name, "value") && a->t)
            set_tensor(a->t, rank, len);
        else if (!strcmp(a->name, "value_ints") || !strcmp(a->name, "value_floats"))
            *rank = 1, *len = (int64_t)(a->n_ints + a->n_floats);
        else if (!strcmp(a->name, "value_int") || !strcmp(a->name, "value_float"))
            *rank = 0;
    }
}

/* How many axes an Unsqueeze/Squeeze names: the attribute before opset 13,
 * the length of input 1 after; -1 when unknown. */
static int64_t n_axes(const qfd_node *n, const int64_t *len)
{
    const int64_t *v;
    if (qfd_attr_get(n, "axes"))
        return (int64_t)qfd_attr_ints(n, "axes", &v);
    return n->n_in > 1 && n->in[1] >= 0 ? len[n->in[1]] : -1;
}

/* The one int64 value of t (an initializer or a Constant's value), or def. */
static int64_t known_int(const qfd_graph *g, const qfd_node *n, size_t k, int64_t def)
{
    int t = k < n->n_in ? n->in[k] : -1;
    const qfd_tensor *v = NULL;
    if (t < 0)
        return def;
    if (g->tensors[t].flags & QFD_T_INITIALIZER)
        v = &g->tensors[t];
    else if (g->tensors[t].producer >= 0 && qfd_node_is(&g->nodes[g->tensors[t].producer], "Constant")) {
        const qfd_attr *a = qfd_attr_get(&g->nodes[g->tensors[t].producer], "value");
        v = a ? a->t : NULL;
    }
    return v && v->dtype == QFD_DT_INT64 && v->data && v->nbytes == sizeof(int64_t) ? *(const int64_t *)v->data : def;
}

/* The length of a slice of a 1-D tensor of length len (Shape's output, as
 * PyTorch takes dims[2:] of it), -1 when the bounds are not constants. */
static int64_t slice_len(const qfd_graph *g, const qfd_node *n, int64_t len)
{
    int64_t s, e;
    if (qfd_attr_get(n, "starts")) { /* before opset 10 */
        const int64_t *sv, *ev;
        if (qfd_attr_ints(n, "starts", &sv) != 1 || qfd_attr_ints(n, "ends", &ev) != 1)
            return -1;
        s = sv[0], e = ev[0];
    } else {
        s = known_int(g, n, 1, INT64_MIN), e = known_int(g, n, 2, INT64_MIN);
        if (s == INT64_MIN || e == INT64_MIN || known_int(g, n, 4, 1) != 1)
            return -1;
    }
    s = s < 0 ? s + len : s, e = e < 0 ? e + len : e;
    s = s < 0 ? 0 : s > len ? len : s, e = e < 0 ? 0 : e > len ? len : e;
    return e > s ? e - s : 0;
}

/* Rank (and 1-D length) of node n's first output from its inputs'. */
static void infer(const qfd_graph *g, const qfd_node *n, const int *rank, const int64_t *len, int *r, int64_t *l)
{
    int r0 = n->n_in && n->in[0] >= 0 ? rank[n->in[0]] : -1;
    int r1 = n->n_in > 1 && n->in[1] >= 0 ? rank[n->in[1]] : -1;
    if (qfd_node_is(n, "Constant")) {
        constant(n, r, l);
    } else if (any_of(n, same_rank)) {
        *r = r0;
        if (qfd_node_is(n, "Slice") && r0 == 1 && len[n->in[0]] >= 0)
            *l = slice_len(g, n, len[n->in[0]]);
        else if (r0 == 1 && (qfd_node_is(n, "Cast") || qfd_node_is(n, "Identity")))
            *l = len[n->in[0]];
    } else if (any_of(n, reduce)) {
        int64_t k = qfd_node_is(n, "ArgMax") || qfd_node_is(n, "ArgMin") ? 1 : n_axes(n, len);
        bool all = !qfd_attr_get(n, "axes") && (n->n_in < 2 || n->in[1] < 0) && k != 1;
        if (qfd_attr_int(n, "keepdims", 1))
            *r = r0;
        else if (r0 >= 0 && (all || k >= 0))
            *r = all ? (qfd_attr_int(n, "noop_with_empty_axes", 0) ? r0 : 0) : r0 - (int)k;
    } else if (any_of(n, broadcast)) {
        for (size_t k = 0; k < n->n_in; k++) {
            int rk = n->in[k] >= 0 ? rank[n->in[k]] : -1;
            if (rk < 0) {
                *r = -1;
                return;
            }
            *r = rk > *r ? rk : *r;
        }
    } else if (qfd_node_is(n, "MatMul")) {
        if (r0 >= 2 && r1 >= 2)
            *r = r0 > r1 ? r0 : r1;
        else if (r0 == 1 && r1 >= 2)
            *r = r1 - 1;
        else if (r1 == 1 && r0 >= 2)
            *r = r0 - 1;
    } else if (qfd_node_is(n, "Gemm") || qfd_node_is(n, "Flatten")) {
        *r = 2;
    } else if (qfd_node_is(n, "Reshape") || qfd_node_is(n, "Expand") || qfd_node_is(n, "ConstantOfShape")) {
        int64_t want = qfd_node_is(n, "Reshape")  ? (r1 >= 0 ? len[n->in[1]] : -1)
                       : qfd_node_is(n, "Expand") ? (r1 >= 0 && r0 >= 0 ? len[n->in[1]] : -1)
                                                  : (r0 >= 0 ? len[n->in[0]] : -1);
        if (want >= 0)
            *r = qfd_node_is(n, "Expand") && r0 > want ? r0 : (int)want;
    } else if (qfd_node_is(n, "Shape")) {
        *r = 1;
        if (r0 >= 0 && !qfd_attr_get(n, "start") && !qfd_attr_get(n, "end"))
            *l = r0;
    } else if (qfd_node_is(n, "Concat")) {
        *r = r0;
        *l = 0;
        for (size_t k = 0; k < n->n_in && *l >= 0; k++)
            *l = n->in[k] >= 0 && len[n->in[k]] >= 0 ? *l + len[n->in[k]] : -1;
    } else if (qfd_node_is(n, "Unsqueeze") || qfd_node_is(n, "Squeeze")) {
        int64_t k = n_axes(n, len);
        if (r0 >= 0 && k >= 0)
            *r = qfd_node_is(n, "Unsqueeze") ? r0 + (int)k : r0 - (int)k;
        if (*r == 1 && r0 == 0)
            *l = 1;
    } else if (qfd_node_is(n, "Gather")) {
        if (r0 >= 0 && r1 >= 0)
            *r = r0 + r1 - 1;
        if (*r == 1 && r0 == 1 && r1 == 1)
            *l = len[n->in[1]];
    } else if (qfd_node_is(n, "Range")) {
        *r = 1;
    }
    if (*r != 1)
        *l = -1;
}

void qfd_upgrade_ranks(const qfd_graph *g, int *rank)
{
    int64_t *len = malloc((g->n_tensors + 1) * sizeof *len);
    for (size_t t = 0; t < g->n_tensors; t++)
        rank[t] = -1;
    const qfd_value_info *lists[3] = {g->inputs, g->outputs, g->value_infos};
    const size_t counts[3] = {g->n_inputs, g->n_outputs, g->n_value_infos};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            const qfd_value_info *v = &lists[k][i];
            if (v->tensor >= 0 && v->has_type && v->type.kind == QFD_TYPE_TENSOR && v->type.has_shape)
                rank[v->tensor] = v->type.rank;
        }
    for (size_t i = 0; i < g->n_inits; i++)
        rank[g->inits[i]] = g->tensors[g->inits[i]].rank;
    if (!len) /* out of memory: the declared ranks only, which is still correct */
        return;
    for (size_t t = 0; t < g->n_tensors; t++)
        len[t] = g->tensors[t].flags & QFD_T_INITIALIZER && g->tensors[t].rank == 1 ? g->tensors[t].dims[0] : -1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        int r = -1;
        int64_t l = -1;
        infer(g, n, rank, len, &r, &l);
        for (size_t k = 0; k < n->n_out; k++) {
            int t = n->out[k];
            if (t < 0 || rank[t] >= 0)
                continue; /* a declared shape wins */
            if (k == 0 || qfd_node_is(n, "Split"))
                rank[t] = r, len[t] = k ? -1 : l;
        }
    }
    free(len);
}
