/* FakeQuant nodes for a plan (qfd_quant_insert): tensor t becomes
 *   t -> FakeQuant(t, t_step) -> t_fq
 * and every node that read t reads t_fq; a graph output t stays t, so the
 * model's output names do not change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "quant/quant.h"

/* Every node that reads t reads y instead (the new node is added after). */
static void redirect(qfd_graph *g, int t, int y)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == t)
                g->nodes[i].in[k] = y;
}

static qfd_status insert_one(qfd_ctx *ctx, qfd_graph *g, const qfd_qtensor *q, int *step_out)
{
    char base[512];
    const int t = q->tensor;
    float *step = malloc((size_t)q->n_step * sizeof *step);
    if (!step)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    memcpy(step, q->step, (size_t)q->n_step * sizeof *step);
    int64_t dims[1] = {q->n_step};
    snprintf(base, sizeof base, "%s_step", g->tensors[t].name);
    int s = qfd_graph_add_init(g, base, QFD_DT_FLOAT, q->axis >= 0 ? 1 : 0, dims, step,
                               (size_t)q->n_step * sizeof *step);
    snprintf(base, sizeof base, "%s_fq", g->tensors[t].name);
    int y = s < 0 ? -1 : qfd_graph_add_value(g, base);
    if (y < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    *step_out = s;
    redirect(g, t, y);
    snprintf(base, sizeof base, "%s_quant", g->tensors[t].name);
    int n = qfd_graph_add_node(g, QFD_FQ_OP, QFD_FQ_DOMAIN, base, (int[]){t, s}, 2, (int[]){y}, 1);
    if (n < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_node *fq = &g->nodes[n];
    if (qfd_node_set_int(fq, "qmin", q->qmin) || qfd_node_set_int(fq, "qmax", q->qmax) ||
        qfd_node_set_int(fq, "bits", q->bits) || (q->axis >= 0 && qfd_node_set_int(fq, "axis", q->axis)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

/* b -> BiasQuant(b, x_step, w_step) -> b_fq */
static qfd_status insert_bias(qfd_ctx *ctx, qfd_graph *g, const qfd_qtensor *q, int sx, int sw)
{
    char base[512];
    const int t = q->tensor;
    snprintf(base, sizeof base, "%s_fq", g->tensors[t].name);
    int y = qfd_graph_add_value(g, base);
    if (y < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    redirect(g, t, y);
    snprintf(base, sizeof base, "%s_quant", g->tensors[t].name);
    if (qfd_graph_add_node(g, QFD_BQ_OP, QFD_FQ_DOMAIN, base, (int[]){t, sx, sw}, 3, (int[]){y}, 1) < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

qfd_status qfd_quant_insert(qfd_ctx *ctx, qfd_model *m, const qfd_quant_plan *plan)
{
    qfd_status st = QFD_OK;
    int *step = malloc((m->graph.n_tensors + 1) * sizeof *step); /* quantized tensor -> its step */
    if (!step)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->graph.n_tensors; i++)
        step[i] = -1;
    for (size_t i = 0; i < plan->n_q && !st; i++) {
        if (plan->q[i].bias)
            continue;
        if (!plan->q[i].step)
            st = qfd_fail(ctx, QFD_ERR_INTERNAL, "quantizer %zu has no step: calibrate first", i);
        else
            st = insert_one(ctx, &m->graph, &plan->q[i], &step[plan->q[i].tensor]);
    }
    for (size_t i = 0; i < plan->n_q && !st; i++)
        if (plan->q[i].bias)
            st = insert_bias(ctx, &m->graph, &plan->q[i], step[plan->q[i].x_of], step[plan->q[i].w_of]);
    free(step);
    if (!st && qfd_model_set_opset(m, QFD_FQ_DOMAIN, 1))
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return st ? st : qfd_graph_validate(ctx, &m->graph);
}
