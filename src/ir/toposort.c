/* Producer links, cycle detection and a stable topological order.
 *
 * Kahn's algorithm that always takes the ready node with the smallest
 * original index: a file that is already sorted keeps its order exactly,
 * which a round trip needs, and an unsorted one gets the order closest to
 * the file's. */
#include "core/ctx.h"
#include "ir/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void heap_push(int *h, size_t *n, int v)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, size_t *n)
{
    int top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

static qfd_status sort_nodes(qfd_ctx *ctx, qfd_graph *g)
{
    size_t nn = g->n_nodes, nt = g->n_tensors, total_in = 0;
    for (size_t i = 0; i < nn; i++)
        total_in += g->nodes[i].n_in;
    int *indeg = calloc(nn + 1, sizeof *indeg);
    size_t *start = calloc(nt + 1, sizeof *start);
    int *users = malloc((total_in + 1) * sizeof *users);
    int *heap = malloc((nn + 1) * sizeof *heap);
    int *order = malloc((nn + 1) * sizeof *order);
    qfd_node *sorted = NULL;
    qfd_status st = QFD_OK;
    if (!indeg || !start || !users || !heap || !order) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory sorting %zu nodes", nn);
        goto out;
    }
    /* consumers of each tensor, as a CSR list */
    for (size_t i = 0; i < nn; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && g->tensors[g->nodes[i].in[k]].producer >= 0) {
                start[g->nodes[i].in[k] + 1]++;
                indeg[i]++;
            }
    for (size_t t = 0; t < nt; t++)
        start[t + 1] += start[t];
    size_t *fill = calloc(nt + 1, sizeof *fill);
    if (!fill) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory sorting %zu nodes", nn);
        goto out;
    }
    for (size_t i = 0; i < nn; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++) {
            int t = g->nodes[i].in[k];
            if (t >= 0 && g->tensors[t].producer >= 0)
                users[start[t] + fill[t]++] = (int)i;
        }
    free(fill);

    size_t nh = 0, no = 0;
    for (size_t i = 0; i < nn; i++)
        if (indeg[i] == 0)
            heap_push(heap, &nh, (int)i);
    while (nh) {
        int v = heap_pop(heap, &nh);
        order[no++] = v;
        for (size_t k = 0; k < g->nodes[v].n_out; k++) {
            int t = g->nodes[v].out[k];
            if (t < 0)
                continue;
            for (size_t u = start[t]; u < start[t + 1]; u++)
                if (--indeg[users[u]] == 0)
                    heap_push(heap, &nh, users[u]);
        }
    }
    if (no < nn) {
        for (size_t i = 0; i < nn; i++) {
            if (indeg[i] == 0)
                continue;
            const qfd_node *n = &g->nodes[i];
            const char *via = "?";
            for (size_t k = 0; k < n->n_in; k++) {
                int t = n->in[k];
                if (t >= 0 && g->tensors[t].producer >= 0 && indeg[g->tensors[t].producer] > 0) {
                    via = g->tensors[t].name;
                    break;
                }
            }
            char buf[256];
            st = qfd_fail(ctx, QFD_ERR_INVALID,
                          "graph has a cycle: node %s depends on its own output through tensor '%s'",
                          qfd_node_label(n, i, buf, sizeof buf), via);
            goto out;
        }
    }
    int in_order = 1;
    for (size_t i = 0; i < nn; i++)
        in_order &= order[i] == (int)i;
    if (!in_order) {
        sorted = malloc(nn * sizeof *sorted);
        if (!sorted) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory sorting %zu nodes", nn);
            goto out;
        }
        for (size_t i = 0; i < nn; i++)
            sorted[i] = g->nodes[order[i]];
        memcpy(g->nodes, sorted, nn * sizeof *sorted);
        for (size_t i = 0; i < nn; i++)
            for (size_t k = 0; k < g->nodes[i].n_out; k++)
                if (g->nodes[i].out[k] >= 0)
                    g->tensors[g->nodes[i].out[k]].producer = (int)i;
    }
out:
    free(indeg);
    free(start);
    free(users);
    free(heap);
    free(order);
    free(sorted);
    return st;
}

qfd_status qfd_graph_validate(qfd_ctx *ctx, qfd_graph *g)
{
    char buf[256];
    for (size_t t = 0; t < g->n_tensors; t++)
        g->tensors[t].producer = -1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_out; k++) {
            int t = n->out[k];
            if (t < 0)
                continue;
            qfd_tensor *tt = &g->tensors[t];
            if (tt->producer >= 0)
                return qfd_fail(ctx, QFD_ERR_INVALID,
                                "duplicate tensor name: '%s' is an output of node %s and of an earlier node", tt->name,
                                qfd_node_label(n, i, buf, sizeof buf));
            if (tt->flags & (QFD_T_INITIALIZER | QFD_T_INPUT))
                return qfd_fail(ctx, QFD_ERR_INVALID,
                                "duplicate tensor name: '%s' is an output of node %s and also a graph %s", tt->name,
                                qfd_node_label(n, i, buf, sizeof buf),
                                (tt->flags & QFD_T_INITIALIZER) ? "initializer" : "input");
            tt->producer = (int)i;
        }
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0)
                continue;
            const qfd_tensor *tt = &g->tensors[t];
            if (tt->producer < 0 && !(tt->flags & (QFD_T_INITIALIZER | QFD_T_INPUT)))
                return qfd_fail(ctx, QFD_ERR_INVALID,
                                "node %s: input '%s' is not produced by any node, graph input or initializer",
                                qfd_node_label(n, i, buf, sizeof buf), tt->name);
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        const qfd_tensor *tt = &g->tensors[g->outputs[i].tensor];
        if (tt->producer < 0 && !(tt->flags & (QFD_T_INITIALIZER | QFD_T_INPUT)))
            return qfd_fail(ctx, QFD_ERR_INVALID,
                            "graph output '%s' is not produced by any node, graph input or initializer", tt->name);
    }
    return sort_nodes(ctx, g);
}
