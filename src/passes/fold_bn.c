/* BatchNormalization folding into the weighted op before it: Conv,
 * ConvTranspose or Gemm. Per output channel o, with s = scale / sqrt(var + eps):
 *   W'[.. o ..] = W[.. o ..] * s[o],   b'[o] = (beta * b[o] - mean[o]) * s[o] + B[o].
 * What differs between the three ops is only where o lies in the weight:
 *   Conv           W [Cout, Cin/group, k...]: axis 0
 *   ConvTranspose  W [Cin, Cout/group, k...]: axis 1, plus group offset
 *                  (input channel c belongs to group c / (Cin/group), whose
 *                  outputs are g*Cout/group + m)
 *   Gemm           B [N, K] with transB=1: axis 0; B [K, N] otherwise: axis 1
 * (BatchNormalization after a Gemm sees [M, N]: its channel is N). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "passes/passes.h"

/* The weight viewed as [outer, mid, inner]: element (a, m, i) belongs to
 * output channel (a / outer_per_group) * mid + m. Conv: [1, Cout, rest];
 * ConvTranspose: [Cin, Cout/group, rest] with Cin/group per group; Gemm:
 * [1, N, K] (transB=1) or [K, N, 1]. */
typedef struct channel_layout {
    int64_t outer, mid, inner, outer_per_group, channels;
} channel_layout;

/* The layout of node n's weight w, or false when n is not foldable. */
static bool layout_of(const qfd_node *n, const qfd_tensor *w, channel_layout *l)
{
    int64_t numel = qfd_tensor_numel(w);
    if (qfd_node_is(n, "Conv")) {
        if (w->rank < 3)
            return false;
        *l = (channel_layout){1, w->dims[0], numel / (w->dims[0] ? w->dims[0] : 1), 1, w->dims[0]};
    } else if (qfd_node_is(n, "ConvTranspose")) {
        int64_t group = qfd_attr_int(n, "group", 1);
        if (w->rank < 3 || group < 1 || w->dims[0] % group || !w->dims[0] || !w->dims[1])
            return false;
        *l = (channel_layout){w->dims[0], w->dims[1], numel / (w->dims[0] * w->dims[1]), w->dims[0] / group,
                              w->dims[1] * group};
    } else if (qfd_node_is(n, "Gemm")) {
        if (w->rank != 2)
            return false;
        if (qfd_attr_int(n, "transB", 0))
            *l = (channel_layout){1, w->dims[0], w->dims[1], 1, w->dims[0]};
        else
            *l = (channel_layout){w->dims[0], w->dims[1], 1, w->dims[0], w->dims[1]};
    } else {
        return false;
    }
    return true;
}

/* The bias input's values when they broadcast per output channel: a Conv or
 * ConvTranspose bias [C]; a Gemm C of [N], [1, N] or one element (a C that
 * varies along M cannot be folded). *stride is 0 for one element. */
static bool bias_of(const qfd_graph *g, const qfd_node *n, int64_t co, const float **bd, int64_t *stride)
{
    *bd = NULL;
    *stride = 1;
    if (n->n_in < 3 || n->in[2] < 0)
        return true;
    if (!qfd_node_is(n, "Gemm"))
        return (*bd = qfd_graph_float_init(g, n->in[2], co)) != NULL;
    const qfd_tensor *c = &g->tensors[n->in[2]];
    if (!(*bd = qfd_graph_float_init(g, n->in[2], -1)))
        return false;
    int64_t numel = qfd_tensor_numel(c);
    if (numel == 1 && co != 1) {
        *stride = 0;
        return true;
    }
    return numel == co && (c->rank == 1 || (c->rank == 2 && c->dims[0] == 1));
}

/* Records the factors of the folded weight tw. */
static qfd_status record(qfd_ctx *ctx, const qfd_graph *g, int tw, const float *s_elem, int64_t numel,
                         qfd_fold_factors *ff)
{
    qfd_fold_factor *f = realloc(ff->f, (ff->n + 1) * sizeof *f);
    if (!f)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    ff->f = f;
    f = &f[ff->n];
    f->n = numel;
    f->weight = strdup(g->tensors[tw].name);
    f->s = malloc((size_t)(numel ? numel : 1) * sizeof *f->s);
    if (!f->weight || !f->s) {
        free(f->weight);
        free(f->s);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    memcpy(f->s, s_elem, (size_t)numel * sizeof *f->s);
    ff->n++;
    return QFD_OK;
}

static qfd_status fold_one(qfd_ctx *ctx, qfd_graph *g, size_t ci, size_t bi, qfd_fold_factors *ff, bool *done)
{
    *done = false;
    qfd_node *op = &g->nodes[ci], *bn = &g->nodes[bi];
    if (op->n_in < 2 || op->in[1] < 0 || bn->n_in != 5 || bn->n_out < 1 || qfd_attr_int(bn, "training_mode", 0))
        return QFD_OK;
    for (size_t k = 1; k < bn->n_out; k++)
        if (bn->out[k] >= 0)
            return QFD_OK;
    const qfd_tensor *w = &g->tensors[op->in[1]];
    channel_layout l;
    if (!layout_of(op, w, &l))
        return QFD_OK;
    int64_t co = l.channels, numel = qfd_tensor_numel(w), bstride;
    const float *wd = qfd_graph_float_init(g, op->in[1], numel), *bd;
    const float *sc = qfd_graph_float_init(g, bn->in[1], co), *sh = qfd_graph_float_init(g, bn->in[2], co);
    const float *mu = qfd_graph_float_init(g, bn->in[3], co), *var = qfd_graph_float_init(g, bn->in[4], co);
    if (!wd || !sc || !sh || !mu || !var || !bias_of(g, op, co, &bd, &bstride))
        return QFD_OK;
    /* Gemm adds beta * C; the folded C is added with beta 1. */
    bool gemm = qfd_node_is(op, "Gemm");
    double beta = gemm ? qfd_attr_float(op, "beta", 1.0f) : 1.0;
    float eps = qfd_attr_float(bn, "epsilon", 1e-5f);
    float *nw = malloc((size_t)numel * sizeof *nw), *nb = malloc((size_t)co * sizeof *nb);
    double *s = malloc((size_t)co * sizeof *s);
    float *s_elem = ff ? malloc((size_t)(numel ? numel : 1) * sizeof *s_elem) : NULL;
    if (!nw || !nb || !s || (ff && !s_elem)) {
        free(nw);
        free(nb);
        free(s);
        free(s_elem);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    for (int64_t o = 0; o < co; o++) {
        s[o] = (double)sc[o] / sqrt((double)var[o] + eps);
        double b = bd ? (beta == 1.0 ? bd[o * bstride] : beta * bd[o * bstride]) : 0.0;
        nb[o] = (float)((b - mu[o]) * s[o] + sh[o]);
    }
    for (int64_t a = 0, i = 0; a < l.outer; a++)
        for (int64_t m = 0; m < l.mid; m++) {
            double so = s[(a / l.outer_per_group) * l.mid + m];
            for (int64_t k = 0; k < l.inner; k++, i++) {
                nw[i] = (float)(wd[i] * so);
                if (s_elem)
                    s_elem[i] = (float)so;
            }
        }
    free(s);
    int64_t wdims[QFD_ARRAY_MAX_RANK], bdims[1] = {co};
    memcpy(wdims, w->dims, (size_t)w->rank * sizeof *wdims);
    int wrank = w->rank;
    char base[512];
    snprintf(base, sizeof base, "%s_bnfold", w->name);
    int tw = qfd_graph_add_init(g, base, QFD_DT_FLOAT, wrank, wdims, nw, (size_t)numel * sizeof *nw);
    int tb = tw < 0 ? (free(nb), -1) : qfd_graph_add_init(g, base, QFD_DT_FLOAT, 1, bdims, nb, (size_t)co * sizeof *nb);
    qfd_status st = tb < 0   ? qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization")
                    : s_elem ? record(ctx, g, tw, s_elem, numel, ff)
                             : QFD_OK;
    free(s_elem);
    if (st)
        return st;
    op = &g->nodes[ci]; /* tensors may have moved, nodes did not */
    if (op->n_in < 3) {
        int *in = realloc(op->in, 3 * sizeof *in);
        if (!in)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
        op->in = in;
        op->n_in = 3;
    }
    if (gemm && qfd_attr_get(op, "beta") && qfd_node_set_float(op, "beta", 1.0f))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    op->in[1] = tw;
    op->in[2] = tb;
    /* The op now writes what the BatchNorm wrote. */
    op->out[0] = bn->out[0];
    *done = true;
    return QFD_OK;
}

qfd_status qfd_pass_fold_bn(qfd_ctx *ctx, qfd_model *m, int *folded)
{
    return qfd_pass_fold_bn_factors(ctx, m, folded, NULL);
}

void qfd_fold_factors_free(qfd_fold_factors *ff)
{
    for (size_t i = 0; i < ff->n; i++) {
        free(ff->f[i].weight);
        free(ff->f[i].s);
    }
    free(ff->f);
    memset(ff, 0, sizeof *ff);
}

qfd_status qfd_pass_fold_bn_factors(qfd_ctx *ctx, qfd_model *m, int *folded, qfd_fold_factors *ff)
{
    qfd_graph *g = &m->graph;
    *folded = 0;
    if (ff)
        memset(ff, 0, sizeof *ff);
    bool *drop = calloc(g->n_nodes + 1, sizeof *drop);
    if (!drop)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    for (size_t bi = 0; bi < g->n_nodes && !st; bi++) {
        qfd_node *bn = &g->nodes[bi];
        if (!qfd_node_is(bn, "BatchNormalization") || bn->n_in < 1 || bn->in[0] < 0)
            continue;
        int x = bn->in[0], ci = g->tensors[x].producer;
        if (ci < 0 || g->nodes[ci].n_out < 1 || g->nodes[ci].out[0] != x || qfd_graph_n_readers(g, x) != 1)
            continue;
        bool done;
        if ((st = fold_one(ctx, g, (size_t)ci, bi, ff, &done)))
            break;
        if (done) {
            drop[bi] = true;
            ++*folded;
        }
    }
    if (!st && *folded) {
        qfd_graph_drop_nodes(g, drop);
        qfd_graph_prune_inits(g);
        st = qfd_graph_validate(ctx, g);
    }
    free(drop);
    if (st && ff)
        qfd_fold_factors_free(ff);
    return st;
}

qfd_status qfd_model_fold_batchnorm(qfd_ctx *ctx, qfd_model *m, int *folded)
{
    qfd_status st = qfd_pass_fold_bn(ctx, m, folded);
    if (st && m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}
