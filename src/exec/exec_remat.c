/* Rematerialization in the training plan: a value some backward reads,
 * made by a cheap pure elementwise op (QFD_OP_REMAT), is computed again in
 * the sweep, from inputs still in memory there, instead of being kept from
 * the forward to the backward. An exporter's decomposed activations and
 * norms otherwise keep several tensors per layer where a fused op keeps
 * one: GELU as Div, Erf, Add, Mul, Mul keeps four of the MLP's widest
 * tensor (its input, x/sqrt(2), 1 + erf and the output), SiLU two, a
 * LayerNorm spelled in nine ops three. With this only the tensors no cheap
 * op can remake are kept (GELU's input; x - mean and the small statistics).
 *
 * On plan_training's timeline (forward of node i at i, backward at 2nn - i)
 * a chosen value v gets a second buffer, alive from R(v), the first
 * backward in the sweep that reads it or that recomputes a chosen value
 * made from it, to L(v), the last of these; its producer runs again just
 * before the backward at R(v). Each input it reads there must be chosen
 * too, or constant, or kept until R(v) anyway; a small one (an eighth of v
 * or less, a norm's statistics) is kept that long for it. */
#include <limits.h>
#include <stdlib.h>

#include "core/proc.h"
#include "exec/exec_impl.h"

static bool candidate(const qfd_exec *e, int t)
{
    const qfd_graph *g = e->g;
    const int p = g->tensors[t].producer;
    if (p < 0 || e->no_remat || e->owned[t] != 2 || e->seeded[t] || (g->tensors[t].flags & QFD_T_OUTPUT) ||
        e->vals[t].dtype != QFD_DT_FLOAT)
        return false;
    const exec_node *en = &e->nodes[p];
    return !en->folded && (en->def->flags & QFD_OP_REMAT) && !en->def->saved_size && g->nodes[p].n_out == 1;
}

static int cmp_sweep(const void *pa, const void *pb)
{
    const exec_remat *a = pa, *b = pb;
    if (a->node != b->node)
        return a->node > b->node ? -1 : 1;
    return a->producer < b->producer ? -1 : a->producer > b->producer;
}

qfd_status qfd_exec_plan_remat(qfd_ctx *ctx, qfd_exec *e, const int *lastf, const int *bmin, const int *bmax, int *last,
                               int *scale)
{
    const qfd_graph *g = e->g;
    const size_t nt = g->n_tensors, nn = g->n_nodes;
    uint8_t *banned = calloc(nt + 1, 1), *chosen = calloc(nt + 1, 1);
    int *r = malloc((nt + 1) * sizeof *r), *l = malloc((nt + 1) * sizeof *l);
    qfd_status st = QFD_OK;
    *scale = 1;
    free(e->remat);
    e->remat = NULL;
    e->n_remat = 0;
    if (!banned || !chosen || !r || !l) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory planning a training step");
        goto out;
    }
    for (bool changed = true; changed;) {
        /* Consumers first: a chosen value asks its inputs to be there at
         * its R, which makes a value no backward reads a chosen one too. */
        for (size_t t = 0; t < nt; t++) {
            r[t] = INT_MAX;
            l[t] = -1;
            chosen[t] = 0;
        }
        for (size_t i = nn; i-- > 0;) {
            const qfd_node *n = &g->nodes[i];
            const int t = n->n_out == 1 ? n->out[0] : -1;
            if (t < 0 || banned[t] || !candidate(e, t))
                continue;
            if (bmax[t] > (int)nn) {
                r[t] = bmin[t] < r[t] ? bmin[t] : r[t];
                l[t] = bmax[t] > l[t] ? bmax[t] : l[t];
            }
            if (l[t] < 0)
                continue;
            chosen[t] = 1;
            for (size_t k = 0; k < n->n_in; k++) {
                int u = n->in[k];
                if (u < 0 || e->owned[u] != 2)
                    continue;
                r[u] = r[t] < r[u] ? r[t] : r[u];
                l[u] = r[t] > l[u] ? r[t] : l[u];
            }
        }
        changed = false;
        for (size_t t = 0; t < nt; t++) {
            if (!chosen[t])
                continue;
            const qfd_node *n = &g->nodes[g->tensors[t].producer];
            for (size_t k = 0; k < n->n_in; k++) {
                int u = n->in[k];
                if (u < 0 || e->owned[u] != 2 || chosen[u] || last[u] >= r[t] ||
                    8 * e->vals[u].nbytes <= e->vals[t].nbytes)
                    continue;
                banned[t] = 1; /* kept, as without rematerialization */
                changed = true;
            }
        }
    }
    size_t count = 0;
    for (size_t t = 0; t < nt; t++)
        count += chosen[t];
    if (count && !(e->remat = calloc(count, sizeof *e->remat))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory planning a training step");
        goto out;
    }
    for (size_t t = 0; t < nt; t++)
        if (chosen[t])
            e->remat[e->n_remat++] = (exec_remat){(int)t, g->tensors[t].producer, 2 * (int)nn - r[t], 0, 0, NULL, NULL};
    /* due at one node, producers in graph order: an input before what is made of it */
    if (e->n_remat)
        qsort(e->remat, e->n_remat, sizeof *e->remat, cmp_sweep);

    /* The fine timeline: position p becomes S p + S - 1, and the j-th
     * recomputation before a backward takes sub-slot j of its position, so
     * that a value made only to make another (1 + erf on the way to GELU's
     * output) is free again before the next one starts. */
    int s_fine = 1;
    for (size_t k = 0, run = 0; k < e->n_remat; k++) {
        run = k && e->remat[k].node == e->remat[k - 1].node ? run + 1 : 0;
        e->remat[k].from = (int)run; /* the sub-slot, for now */
        s_fine = (int)run + 2 > s_fine ? (int)run + 2 : s_fine;
    }
    if ((int64_t)s_fine * (2 * (int64_t)nn + 2) > INT_MAX / 2) {
        /* so many recomputations before one backward that the fine
         * timeline would overflow: keep every value instead */
        e->n_remat = 0;
        s_fine = 1;
    }
    *scale = s_fine;
    for (size_t t = 0; t < nt; t++)
        if (e->owned[t] == 2)
            last[t] = s_fine * last[t] + s_fine - 1;
    for (size_t k = 0; k < e->n_remat; k++) {
        const int t = e->remat[k].tensor;
        r[t] = e->remat[k].from = s_fine * r[t] + e->remat[k].from;
        e->remat[k].to = bmax[t] > (int)nn ? s_fine * bmax[t] + s_fine - 1 : r[t];
        l[t] = (int)k; /* its entry */
    }
    for (size_t k = 0; k < e->n_remat; k++) {
        const qfd_node *n = &g->nodes[e->remat[k].producer];
        for (size_t i = 0; i < n->n_in; i++) {
            int u = n->in[i];
            if (u < 0 || e->owned[u] != 2)
                continue;
            int *to = chosen[u] ? &e->remat[l[u]].to : &last[u]; /* lengthened as needed */
            *to = e->remat[k].from > *to ? e->remat[k].from : *to;
        }
    }
    for (size_t k = 0; k < e->n_remat; k++)
        last[e->remat[k].tensor] = s_fine * lastf[e->remat[k].tensor] + s_fine - 1;
    /* Each recomputation reads inputs alive in the plan, in the buffers the
     * sweep points them at: checked, as a wrong life here would read
     * memory another value took without any test noticing. */
    for (size_t k = 0; k < e->n_remat; k++) {
        const qfd_node *n = &g->nodes[e->remat[k].producer];
        for (size_t i = 0; i < n->n_in; i++) {
            int u = n->in[i];
            if (u < 0 || e->owned[u] != 2)
                continue;
            const exec_remat *ur = chosen[u] ? &e->remat[l[u]] : NULL;
            int from = ur ? ur->from : s_fine * g->tensors[u].producer + s_fine - 1, to = ur ? ur->to : last[u];
            if (from >= e->remat[k].from || to < e->remat[k].from) {
                st = qfd_fail(ctx, QFD_ERR_INTERNAL, "training plan: recomputing '%s' reads '%s' outside its life",
                              g->tensors[e->remat[k].tensor].name, g->tensors[u].name);
                goto out;
            }
        }
    }
out:
    free(banned);
    free(chosen);
    free(r);
    free(l);
    return st;
}

void qfd_exec_remat_swap(qfd_exec *e, bool sweep)
{
    for (size_t k = 0; k < e->n_remat; k++)
        e->vals[e->remat[k].tensor].data = sweep ? e->remat[k].bwd : e->remat[k].fwd;
}

qfd_status qfd_exec_remat_run(qfd_ctx *ctx, qfd_exec *e, size_t i, size_t *next)
{
    for (; *next < e->n_remat && e->remat[*next].node >= (int)i; ++*next) {
        const size_t p = (size_t)e->remat[*next].producer;
        /* a recomputation's time counts as its producer's backward */
        double t0 = e->prof ? qfd_now() : 0.0;
        qfd_op_ctx oc;
        qfd_exec_op_ctx(e, ctx, p, &oc);
        qfd_status st = e->nodes[p].def->forward(&oc);
        if (st)
            return st;
        if (e->prof)
            qfd_exec_profile_add(e, p, true, qfd_now() - t0, &oc);
    }
    return QFD_OK;
}
