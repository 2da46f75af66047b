/* The executor's inference memory plan: where the values of a run live.
 *
 * Without it every node output has its own buffer, and a transformer's
 * batch walks through ~100 MB of them: each op writes memory that has left
 * the caches. When the caller reads only the graph outputs
 * (qfd_exec_share_values), the values computed at run time share one pool
 * instead: a value lives from its producer to its last reader (through any
 * views of it), graph outputs to the end, and values whose lives do not
 * overlap share memory. Inputs and outputs of one node never overlap, so no
 * op runs in place. */
#include <stdlib.h>
#include <string.h>

#include "exec/exec_impl.h"

/* The tensor whose buffer holds t's bytes: t, or the base of the view t. */
static int base_of(const qfd_exec *e, int t)
{
    for (int p = e->g->tensors[t].producer; p >= 0 && e->nodes[p].view; p = e->g->tensors[t].producer)
        t = e->g->nodes[p].in[0];
    return t;
}

static size_t padded(size_t nbytes)
{
    return (nbytes + 63) & ~(size_t)63;
}

size_t qfd_exec_pack(const size_t *bytes, int *order, size_t n, const int *first, const int *last, size_t *off)
{
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && bytes[order[b]] > bytes[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    size_t total = 0;
    for (size_t a = 0; a < n; a++) {
        int t = order[a];
        size_t size = padded(bytes[t]), at = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (size_t b = 0; b < a; b++) {
                int u = order[b];
                size_t usize = padded(bytes[u]);
                if (first[u] <= last[t] && first[t] <= last[u] && at < off[u] + usize && off[u] < at + size) {
                    at = off[u] + usize;
                    moved = true;
                }
            }
        }
        off[t] = at;
        total = at + size > total ? at + size : total;
    }
    return total;
}

static qfd_status place_pool(qfd_ctx *ctx, qfd_exec *e)
{
    const qfd_graph *g = e->g;
    size_t nt = g->n_tensors, nn = g->n_nodes, n = 0;
    for (size_t t = 0; t < nt; t++)
        n += e->owned[t] == 2;
    if (!n)
        return QFD_OK;
    int *order = malloc(n * sizeof *order), *first = malloc(nt * sizeof *first), *last = malloc(nt * sizeof *last);
    size_t *off = calloc(nt, sizeof *off), *bytes = calloc(nt, sizeof *bytes);
    qfd_status st = QFD_OK;
    if (!order || !first || !last || !off || !bytes) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory planning values");
        goto out;
    }
    for (size_t t = 0; t < nt; t++) {
        bytes[t] = e->vals[t].nbytes;
        first[t] = g->tensors[t].producer;
        last[t] = g->tensors[t].flags & QFD_T_OUTPUT ? (int)nn : first[t];
    }
    for (size_t i = 0; i < nn; i++) {
        if (e->nodes[i].folded || e->nodes[i].view)
            continue; /* not run: reads nothing at run time */
        for (size_t k = 0; k < g->nodes[i].n_in; k++) {
            if (g->nodes[i].in[k] < 0)
                continue;
            int b = base_of(e, g->nodes[i].in[k]);
            last[b] = (int)i > last[b] ? (int)i : last[b];
        }
    }
    size_t k = 0;
    for (size_t t = 0; t < nt; t++)
        if (e->owned[t] == 2)
            order[k++] = (int)t;
    size_t total = qfd_exec_pack(bytes, order, n, first, last, off);
    if (qfd_over_memory_limit(ctx, e->plan_bytes + total)) {
        char a[32], b[32], c[32];
        st = qfd_fail(
            ctx, QFD_ERR_LIMIT,
            "values shared by liveness take %s (largest: '%s', %s), over the memory limit of %s with the rest",
            qfd_format_bytes(a, total), g->tensors[order[0]].name, qfd_format_bytes(b, e->vals[order[0]].nbytes),
            qfd_format_bytes(c, qfd_ctx_memory_limit(ctx)));
        goto out;
    }
    if (!(e->value_pool = aligned_alloc(64, total ? total : 64))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for %zu bytes of values", total);
        goto out;
    }
    /* Zeroed once, as separate buffers were: no op should depend on it. */
    memset(e->value_pool, 0, total);
    e->value_pool_bytes = total;
    for (size_t a = 0; a < n; a++)
        e->vals[order[a]].data = (char *)e->value_pool + off[order[a]];
out:
    free(order);
    free(first);
    free(last);
    free(off);
    free(bytes);
    return st;
}

qfd_status qfd_exec_place_values(qfd_ctx *ctx, qfd_exec *e)
{
    qfd_status st = place_pool(ctx, e);
    if (st)
        return st;
    /* In node order, so that a view of a view finds its input placed. */
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        if (!e->nodes[i].view)
            continue;
        const qfd_node *n = &e->g->nodes[i];
        e->vals[n->out[0]].data = (char *)e->vals[n->in[0]].data + e->nodes[i].view_off;
    }
    return QFD_OK;
}
