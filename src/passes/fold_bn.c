#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "passes/passes.h"

static qfd_status fold_one(qfd_ctx *ctx, qfd_graph *g, size_t ci, size_t bi, bool *done)
{
    *done = false;
    qfd_node *conv = &g->nodes[ci], *bn = &g->nodes[bi];
    if (conv->n_in < 2 || conv->in[1] < 0 || bn->n_in != 5 || bn->n_out < 1 || qfd_attr_int(bn, "training_mode", 0))
        return QFD_OK;
    for (size_t k = 1; k < bn->n_out; k++)
        if (bn->out[k] >= 0)
            return QFD_OK;
    const qfd_tensor *w = &g->tensors[conv->in[1]];
    if (w->rank < 3)
        return QFD_OK;
    int64_t co = w->dims[0], per = qfd_tensor_numel(w) / (co ? co : 1);
    const float *wd = qfd_graph_float_init(g, conv->in[1], qfd_tensor_numel(w));
    const float *bd = conv->n_in > 2 && conv->in[2] >= 0 ? qfd_graph_float_init(g, conv->in[2], co) : NULL;
    const float *sc = qfd_graph_float_init(g, bn->in[1], co), *sh = qfd_graph_float_init(g, bn->in[2], co);
    const float *mu = qfd_graph_float_init(g, bn->in[3], co), *var = qfd_graph_float_init(g, bn->in[4], co);
    if (!wd || !sc || !sh || !mu || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !bd))
        return QFD_OK;
    float eps = qfd_attr_float(bn, "epsilon", 1e-5f);
    float *nw = malloc((size_t)(co * per) * sizeof *nw), *nb = malloc((size_t)co * sizeof *nb);
    if (!nw || !nb) {
        free(nw);
        free(nb);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    for (int64_t o = 0; o < co; o++) {
        double s = (double)sc[o] / sqrt((double)var[o] + eps);
        for (int64_t j = 0; j < per; j++)
            nw[o * per + j] = (float)(wd[o * per + j] * s);
        nb[o] = (float)(((bd ? bd[o] : 0.0) - mu[o]) * s + sh[o]);
    }
    int64_t wdims[QFD_ARRAY_MAX_RANK], bdims[1] = {co};
    memcpy(wdims, w->dims, (size_t)w->rank * sizeof *wdims);
    int wrank = w->rank;
    char base[512];
    snprintf(base, sizeof base, "%s_bnfold", w->name);
    int tw = qfd_graph_add_init(g, base, QFD_DT_FLOAT, wrank, wdims, nw, (size_t)(co * per) * sizeof *nw);
    int tb = tw < 0 ? (free(nb), -1) : qfd_graph_add_init(g, base, QFD_DT_FLOAT, 1, bdims, nb, (size_t)co * sizeof *nb);
    if (tb < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    conv = &g->nodes[ci]; /* tensors may have moved, nodes did not */
    if (conv->n_in < 3) {
        int *in = realloc(conv->in, 3 * sizeof *in);
        if (!in)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
        conv->in = in;
        conv->n_in = 3;
    }
    conv->in[1] = tw;
    conv->in[2] = tb;
    /* The Conv now writes what the BatchNorm wrote. */
    conv->out[0] = bn->out[0];
    *done = true;
    return QFD_OK;
}

qfd_status qfd_pass_fold_bn(qfd_ctx *ctx, qfd_model *m, int *folded)
{
    qfd_graph *g = &m->graph;
    *folded = 0;
    bool *drop = calloc(g->n_nodes + 1, sizeof *drop);
    if (!drop)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    for (size_t bi = 0; bi < g->n_nodes && !st; bi++) {
        qfd_node *bn = &g->nodes[bi];
        if (!qfd_node_is(bn, "BatchNormalization") || bn->n_in < 1 || bn->in[0] < 0)
            continue;
        int x = bn->in[0], ci = g->tensors[x].producer;
        if (ci < 0 || !qfd_node_is(&g->nodes[ci], "Conv") || g->nodes[ci].out[0] != x || qfd_graph_n_readers(g, x) != 1)
            continue;
        bool done;
        if ((st = fold_one(ctx, g, (size_t)ci, bi, &done)))
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
    return st;
}

qfd_status qfd_model_fold_batchnorm(qfd_ctx *ctx, qfd_model *m, int *folded)
{
    qfd_status st = qfd_pass_fold_bn(ctx, m, folded);
    if (st && m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}
