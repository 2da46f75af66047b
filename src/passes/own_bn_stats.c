/* Gives every BatchNormalization's running mean and variance an initializer
 * of its own before training, because a training forward updates the
 * statistics in place, in the buffer its inputs 3 and 4 point to.
 *
 * PyTorch exports tensors of equal value once (torch.onnx.export deduplicates
 * initializers by value in eval mode): the freshly initialized statistics of
 * several BatchNorms become Identity copies of one initializer, or Constant
 * outputs. Updating such a copy updates a value the executor recomputes on
 * every plan and the writer never writes: the trained model would silently
 * keep its initial statistics. Updating a shared initializer would mix the
 * statistics of several layers (or move a bias that reads the same zeros).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "passes/passes.h"

/* The float value that tensor t holds when it is an initializer or the end
 * of a chain of Identity and Constant nodes; false when it is not (with
 * *culprit the node that computes it, or -1 for a graph input). */
typedef struct folded {
    const float *data;
    size_t nbytes;
    int rank;
    const int64_t *dims;
    int64_t dims1[1]; /* for value_floats */
} folded;

static bool fold(const qfd_graph *g, int t, folded *f, int *culprit)
{
    *culprit = -1;
    for (int depth = 0; depth < 64; depth++) {
        const qfd_tensor *tt = &g->tensors[t];
        if (tt->flags & QFD_T_INITIALIZER) {
            if (tt->dtype != QFD_DT_FLOAT || (tt->nbytes && !tt->data))
                return false;
            *f = (folded){tt->data, tt->nbytes, tt->rank, tt->dims, {0}};
            return true;
        }
        int p = tt->producer;
        if (p < 0)
            return false; /* a graph input */
        const qfd_node *n = &g->nodes[p];
        *culprit = p;
        if (qfd_node_is(n, "Identity") && n->n_in == 1 && n->in[0] >= 0) {
            t = n->in[0];
            continue;
        }
        if (!qfd_node_is(n, "Constant"))
            return false;
        for (size_t i = 0; i < n->n_attrs; i++) {
            const qfd_attr *a = &n->attrs[i];
            if (!a->name)
                continue;
            if (!strcmp(a->name, "value") && a->t && a->t->dtype == QFD_DT_FLOAT && (a->t->data || !a->t->nbytes)) {
                *f = (folded){a->t->data, a->t->nbytes, a->t->rank, a->t->dims, {0}};
                return true;
            }
            if (!strcmp(a->name, "value_floats")) {
                *f = (folded){a->floats, a->n_floats * sizeof(float), 1, NULL, {(int64_t)a->n_floats}};
                f->dims = f->dims1;
                return true;
            }
        }
        return false;
    }
    return false;
}

/* Turns tensor t into a float initializer holding a copy of f. */
static bool make_init(qfd_graph *g, int t, const folded *f)
{
    int *inits = realloc(g->inits, (g->n_inits + 1) * sizeof *inits);
    if (!inits)
        return false;
    g->inits = inits;
    float *data = malloc(f->nbytes ? f->nbytes : 1);
    int64_t *dims = malloc(((size_t)f->rank + 1) * sizeof *dims);
    if (!data || !dims) {
        free(data);
        free(dims);
        return false;
    }
    if (f->nbytes)
        memcpy(data, f->data, f->nbytes);
    if (f->rank)
        memcpy(dims, f->dims, (size_t)f->rank * sizeof *dims);
    qfd_tensor *tt = &g->tensors[t];
    free(tt->data);
    free(tt->dims);
    tt->data = data;
    tt->nbytes = f->nbytes;
    tt->dims = dims;
    tt->rank = f->rank;
    tt->has_dtype = true;
    tt->dtype = QFD_DT_FLOAT;
    tt->storage = QFD_STORE_RAW;
    tt->flags |= QFD_T_INITIALIZER;
    tt->producer = -1;
    g->inits[g->n_inits++] = t;
    return true;
}

/* A new tensor named after the BatchNorm and the statistic, made unique. */
static int new_tensor(qfd_graph *g, const qfd_node *bn, int t, const char *what)
{
    char name[512];
    snprintf(name, sizeof name, "%s.%s", bn->name && *bn->name ? bn->name : g->tensors[t].name, what);
    return qfd_graph_add_value(g, name);
}

/* Readers of t among the nodes not dropped, and the graph outputs. */
static int live_consumers(const qfd_graph *g, int t, const bool *drop)
{
    int n = (g->tensors[t].flags & QFD_T_OUTPUT) ? 1 : 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; !drop[i] && k < g->nodes[i].n_in; k++)
            n += g->nodes[i].in[k] == t;
    return n;
}

/* Drops the Identity/Constant chain feeding tensor t once nothing reads t. */
static void drop_dead(const qfd_graph *g, int t, bool *drop)
{
    for (int p = g->tensors[t].producer; p >= 0 && !drop[p] && !live_consumers(g, t, drop);
         p = g->tensors[t].producer) {
        const qfd_node *n = &g->nodes[p];
        if (n->n_out != 1 || !(qfd_node_is(n, "Identity") || qfd_node_is(n, "Constant")))
            return;
        drop[p] = true;
        if (n->n_in != 1 || n->in[0] < 0)
            return;
        t = n->in[0];
    }
}

static qfd_status own_one(qfd_ctx *ctx, qfd_graph *g, size_t bi, size_t k, bool *drop, int *changed)
{
    static const char *const what[] = {"running_mean", "running_var"};
    const char *w = what[k - 3];
    int t = g->nodes[bi].in[k];
    const qfd_tensor *tt = &g->tensors[t];
    int users = live_consumers(g, t, drop);
    if ((tt->flags & QFD_T_INITIALIZER) && users == 1)
        return QFD_OK;
    folded f;
    int culprit;
    if (!fold(g, t, &f, &culprit)) {
        char lb[256], lc[256];
        qfd_node_label(&g->nodes[bi], bi, lb, sizeof lb);
        if (culprit < 0)
            return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                            "node %s: its %s '%s' is a graph input, not a stored statistic; training cannot update it",
                            lb, w, tt->name);
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                        "node %s: its %s '%s' is computed by node %s, not stored; training cannot update it", lb, w,
                        tt->name, qfd_node_label(&g->nodes[culprit], (size_t)culprit, lc, sizeof lc));
    }
    int p = tt->producer;
    /* the tensor itself becomes the initializer when only this slot reads it,
     * keeping the name the exporter gave it; else the slot gets a copy */
    bool in_place = !(tt->flags & (QFD_T_INITIALIZER | QFD_T_OUTPUT)) && users == 1;
    int dst = in_place ? t : new_tensor(g, &g->nodes[bi], t, w);
    if (dst < 0 || !make_init(g, dst, &f))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    g->nodes[bi].in[k] = dst;
    if (in_place) {
        const qfd_node *n = &g->nodes[p]; /* Identity or Constant */
        drop[p] = true;
        if (n->n_in == 1 && n->in[0] >= 0)
            drop_dead(g, n->in[0], drop);
    }
    ++*changed;
    return QFD_OK;
}

qfd_status qfd_pass_own_bn_stats(qfd_ctx *ctx, qfd_model *m, int *changed)
{
    qfd_graph *g = &m->graph;
    *changed = 0;
    bool *drop = calloc(g->n_nodes + 1, sizeof *drop);
    if (!drop)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    /* Backwards, so that of several BatchNorms sharing one initializer the
     * first keeps it and the later ones get copies. */
    for (size_t bi = g->n_nodes; bi-- > 0 && !st;) {
        const qfd_node *bn = &g->nodes[bi];
        if (!qfd_node_is(bn, "BatchNormalization") || bn->n_in < 5)
            continue;
        for (size_t k = 4; k >= 3 && !st; k--)
            if (g->nodes[bi].in[k] >= 0)
                st = own_one(ctx, g, bi, k, drop, changed);
    }
    if (!st && *changed) {
        qfd_graph_drop_nodes(g, drop);
        st = qfd_graph_validate(ctx, g);
    }
    free(drop);
    return st;
}
