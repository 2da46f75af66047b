#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

static const float *float_init(const qfd_graph *g, int t, int64_t numel)
{
    if (t < 0)
        return NULL;
    const qfd_tensor *tt = &g->tensors[t];
    if (!(tt->flags & QFD_T_INITIALIZER) || tt->dtype != QFD_DT_FLOAT || !tt->data || qfd_tensor_numel(tt) != numel)
        return NULL;
    return tt->data;
}

static float attr_f(const qfd_node *n, const char *name, float def)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && !strcmp(n->attrs[i].name, name) && n->attrs[i].has_f)
            return n->attrs[i].f;
    return def;
}

static bool training_bn(const qfd_node *n)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && !strcmp(n->attrs[i].name, "training_mode") && n->attrs[i].has_i && n->attrs[i].i)
            return true;
    return false;
}

/* A new float initializer "<base>_bnfold" (made unique) holding data (taken). */
static int add_init(qfd_graph *g, const char *base, int rank, const int64_t *dims, float *data, size_t nbytes)
{
    char name[512];
    snprintf(name, sizeof name, "%s_bnfold", base);
    for (int k = 2; qfd_graph_find(g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s_bnfold%d", base, k);
    int *inits = realloc(g->inits, (g->n_inits + 1) * sizeof *inits);
    if (!inits)
        return -1;
    g->inits = inits;
    int t = qfd_graph_add_tensor(g, name);
    if (t < 0)
        return -1;
    qfd_tensor *tt = &g->tensors[t];
    tt->has_dtype = true;
    tt->dtype = QFD_DT_FLOAT;
    tt->rank = rank;
    tt->dims = malloc((size_t)rank * sizeof *tt->dims);
    if (!tt->dims)
        return -1;
    memcpy(tt->dims, dims, (size_t)rank * sizeof *dims);
    tt->data = data;
    tt->nbytes = nbytes;
    tt->storage = QFD_STORE_RAW;
    tt->flags = QFD_T_INITIALIZER;
    g->inits[g->n_inits++] = t;
    return t;
}

/* Drops initializers nothing reads any more (the folded BN parameters). */
static void prune_inits(qfd_graph *g)
{
    size_t w = 0;
    for (size_t i = 0; i < g->n_inits; i++) {
        int t = g->inits[i];
        if (qfd_pass_consumers(g, t) || (g->tensors[t].flags & QFD_T_INPUT)) {
            g->inits[w++] = t;
        } else {
            qfd_tensor *tt = &g->tensors[t];
            free(tt->data);
            tt->data = NULL;
            tt->nbytes = 0;
            tt->flags &= ~(uint32_t)QFD_T_INITIALIZER;
        }
    }
    g->n_inits = w;
}

static qfd_status fold_one(qfd_ctx *ctx, qfd_graph *g, size_t ci, size_t bi, bool *done)
{
    *done = false;
    qfd_node *conv = &g->nodes[ci], *bn = &g->nodes[bi];
    if (conv->n_in < 2 || conv->in[1] < 0 || bn->n_in != 5 || bn->n_out < 1 || training_bn(bn))
        return QFD_OK;
    for (size_t k = 1; k < bn->n_out; k++)
        if (bn->out[k] >= 0)
            return QFD_OK;
    const qfd_tensor *w = &g->tensors[conv->in[1]];
    if (w->rank < 3)
        return QFD_OK;
    int64_t co = w->dims[0], per = qfd_tensor_numel(w) / (co ? co : 1);
    const float *wd = float_init(g, conv->in[1], qfd_tensor_numel(w));
    const float *bd = conv->n_in > 2 && conv->in[2] >= 0 ? float_init(g, conv->in[2], co) : NULL;
    const float *sc = float_init(g, bn->in[1], co), *sh = float_init(g, bn->in[2], co);
    const float *mu = float_init(g, bn->in[3], co), *var = float_init(g, bn->in[4], co);
    if (!wd || !sc || !sh || !mu || !var || (conv->n_in > 2 && conv->in[2] >= 0 && !bd))
        return QFD_OK;
    float eps = attr_f(bn, "epsilon", 1e-5f);
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
    char *wname = w->name;
    int64_t wdims[QFD_ARRAY_MAX_RANK], bdims[1] = {co};
    memcpy(wdims, w->dims, (size_t)w->rank * sizeof *wdims);
    int wrank = w->rank;
    int tw = add_init(g, wname, wrank, wdims, nw, (size_t)(co * per) * sizeof *nw);
    if (tw < 0) {
        free(nw);
        free(nb);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
    conv = &g->nodes[ci]; /* tensors may have moved, nodes did not */
    int tb = add_init(g, g->tensors[conv->in[1]].name, 1, bdims, nb, (size_t)co * sizeof *nb);
    if (tb < 0) {
        free(nb);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory folding BatchNormalization");
    }
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
        if (!qfd_pass_is_default_op(bn, "BatchNormalization") || bn->n_in < 1 || bn->in[0] < 0)
            continue;
        int x = bn->in[0], ci = g->tensors[x].producer;
        if (ci < 0 || !qfd_pass_is_default_op(&g->nodes[ci], "Conv") || g->nodes[ci].out[0] != x ||
            qfd_pass_consumers(g, x) != 1)
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
        qfd_pass_drop_nodes(g, drop);
        prune_inits(g);
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
