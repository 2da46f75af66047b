/* The executor's training side: which values carry gradients, where their
 * buffers live, and the reverse sweep. */
#include <stdlib.h>
#include <string.h>

#include "core/proc.h"
#include "exec/exec_impl.h"

/* A float output of a node with a gradient-carrying input carries one too;
 * integer and bool outputs (Shape, Equal, Cast to int) never do. The node
 * still needs a backward unless the op says no gradient flows through it
 * (shape-only ops, comparisons): an op without one would otherwise cut the
 * gradient silently when its output is an integer (QuantizeLinear). */
qfd_status qfd_exec_mark_grads(qfd_ctx *ctx, qfd_exec *e, size_t i)
{
    const qfd_node *n = &e->g->nodes[i];
    bool any = false;
    for (size_t k = 0; k < n->n_in; k++)
        any |= n->in[k] >= 0 && e->needs_grad[n->in[k]];
    for (size_t k = 0; k < n->n_out; k++) {
        int t = n->out[k];
        if (t < 0)
            continue;
        e->needs_grad[t] = any && e->vals[t].dtype == QFD_DT_FLOAT && !(e->nodes[i].def->flags & QFD_OP_SHAPE_ONLY);
    }
    char label[256];
    const qfd_op_def *def = e->nodes[i].def;
    if (any && !def->backward && !(def->flags & (QFD_OP_SHAPE_ONLY | QFD_OP_NO_GRAD)))
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                        "node %s lies on a training path but has no backward: gradients cannot flow through it",
                        qfd_node_label(n, i, label, sizeof label));
    return QFD_OK;
}

/* The memory of a training step, on one timeline: the forward of node i at
 * position i, the loss at nn, the backward of node i at 2nn - i.
 * An intermediate gradient lives from the backward of its last consumer
 * (which first adds into it; from the loss for gradients the caller seeds)
 * to the backward of its producer (which last reads it). A value shared by
 * liveness (qfd_exec_share_values) lives from its producer to its last
 * reader, a backward that reads it (the op's backward_reads) counting at
 * its position; graph outputs and seeded tensors live to the end. Values
 * and gradients pack into one pool, so the sweep's gradients reuse the
 * activations it is done with; a value the sweep recomputes
 * (exec_remat.c) lives there twice, in the forward and again from its
 * recomputation. A parameter's gradient has a buffer of its own, read by
 * the optimizer after the sweep, unless the caller updates parameters in
 * the sweep (qfd_exec_on_grad_ready): then it is in the pool too. */
qfd_status qfd_exec_plan_training(qfd_ctx *ctx, qfd_exec *e)
{
    const qfd_graph *g = e->g;
    const size_t nt = g->n_tensors, nn = g->n_nodes;
    const int end = 2 * (int)nn + 1;
    size_t n_pool = 0;
    /* ids: value t, gradient nt + t, recomputed value 2nt + k (e->remat[k]) */
    int *order = malloc((3 * nt + 1) * sizeof *order), *first = malloc((3 * nt + 1) * sizeof *first);
    int *last = malloc((3 * nt + 1) * sizeof *last), *reader = malloc((nt + 1) * sizeof *reader);
    int *lastf = malloc((nt + 1) * sizeof *lastf), *bmin = malloc((nt + 1) * sizeof *bmin);
    int *bmax = malloc((nt + 1) * sizeof *bmax), *pmin = malloc((nt + 1) * sizeof *pmin);
    int *pmax = malloc((nt + 1) * sizeof *pmax);
    size_t *bytes = calloc(3 * nt + 1, sizeof *bytes), *off = calloc(3 * nt + 1, sizeof *off);
    qfd_status st = QFD_OK;
    if (!order || !first || !last || !reader || !lastf || !bmin || !bmax || !pmin || !pmax || !bytes || !off) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory planning a training step");
        goto out;
    }
    for (size_t t = 0; t < nt; t++) {
        reader[t] = bmax[t] = pmax[t] = -1;
        bmin[t] = pmin[t] = end;
        if (e->owned[t] != 2)
            continue;
        first[t] = lastf[t] = g->tensors[t].producer;
        bytes[t] = e->vals[t].nbytes;
    }
    for (size_t i = 0; i < nn; i++) {
        const qfd_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                reader[n->in[k]] = (int)i; /* the last node that reads it, folded or not */
        if (e->nodes[i].folded)
            continue;
        bool backward = false;
        for (size_t k = 0; k < n->n_out; k++)
            backward |= n->out[k] >= 0 && e->needs_grad[n->out[k]];
        uint32_t reads = UINT32_MAX;
        if (backward && e->nodes[i].def->backward_reads) {
            qfd_op_ctx oc;
            qfd_exec_op_ctx(e, ctx, i, &oc);
            reads = e->nodes[i].def->backward_reads(&oc);
        }
        const int at = 2 * (int)nn - (int)i;
        for (size_t k = 0; backward && k < n->n_in; k++) {
            int t = n->in[k]; /* a parameter's gradient: from pmax's backward to pmin's */
            if (t >= 0 && e->trainable[t]) {
                pmin[t] = (int)i < pmin[t] ? (int)i : pmin[t];
                pmax[t] = (int)i > pmax[t] ? (int)i : pmax[t];
            }
        }
        for (size_t k = 0; k < n->n_in + n->n_out; k++) {
            int t = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
            if (t < 0 || e->owned[t] != 2)
                continue;
            if (k < n->n_in && (int)i > lastf[t])
                lastf[t] = (int)i;
            /* slots past 16 have no bit: kept */
            size_t slot = k < n->n_in ? k : k - n->n_in, bit = k < n->n_in ? slot : 16 + slot;
            if (backward && (slot >= 16 || ((reads >> bit) & 1u))) {
                bmin[t] = at < bmin[t] ? at : bmin[t];
                bmax[t] = at > bmax[t] ? at : bmax[t];
            }
        }
    }
    for (size_t t = 0; t < nt; t++) {
        if (e->owned[t] != 2)
            continue;
        last[t] = bmax[t] > lastf[t] ? bmax[t] : lastf[t];
        if (e->seeded[t] || (g->tensors[t].flags & QFD_T_OUTPUT))
            last[t] = end;
    }
    int sc = 1; /* the fine timeline of qfd_exec_plan_remat: position p at sc p + sc - 1 */
    if ((st = qfd_exec_plan_remat(ctx, e, lastf, bmin, bmax, last, &sc)))
        goto out;
    for (size_t t = 0; t < nt; t++) {
        if (e->owned[t] != 2)
            continue;
        first[t] = sc * first[t] + sc - 1;
        order[n_pool++] = (int)t;
    }
    for (size_t k = 0; k < e->n_remat; k++) {
        const size_t id = 2 * nt + k;
        first[id] = e->remat[k].from;
        last[id] = e->remat[k].to;
        bytes[id] = e->vals[e->remat[k].tensor].nbytes;
        order[n_pool++] = (int)id;
    }
    for (size_t t = 0; t < nt; t++) {
        e->grad_first[t] = -1;
        if (!e->needs_grad[t])
            continue;
        qfd_array *gr = &e->grads[t];
        qfd_array_like(gr, &e->vals[t]);
        gr->nbytes = (size_t)qfd_array_numel(gr) * sizeof(float);
        e->grad_done[t] = -1;
        if (e->trainable[t] && e->grad_ready && pmax[t] >= 0) {
            e->grad_first[t] = pmax[t];
            e->grad_done[t] = pmin[t];
            first[nt + t] = sc * (2 * (int)nn - pmax[t]) + sc - 1;
            last[nt + t] = sc * (2 * (int)nn - pmin[t]) + sc - 1;
            bytes[nt + t] = gr->nbytes;
            order[n_pool++] = (int)(nt + t);
            continue;
        }
        if (e->trainable[t]) {
            if (!(gr->data = calloc(1, gr->nbytes ? gr->nbytes : 1))) {
                st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for the gradient of '%s'", g->tensors[t].name);
                goto out;
            }
            continue;
        }
        const int producer = g->tensors[t].producer;
        int consumer = reader[t] > producer ? reader[t] : producer;
        if (e->seeded[t] || (g->tensors[t].flags & QFD_T_OUTPUT))
            consumer = (int)nn; /* written by the caller, after the forward */
        e->grad_first[t] = consumer;
        first[nt + t] = sc * (2 * (int)nn - consumer) + sc - 1;
        last[nt + t] = sc * (2 * (int)nn - producer) + sc - 1;
        bytes[nt + t] = gr->nbytes;
        order[n_pool++] = (int)(nt + t);
    }
    size_t total = qfd_exec_pack(bytes, order, n_pool, first, last, off);
    if (qfd_over_memory_limit(ctx, e->plan_bytes + total)) {
        char a[32], b[32];
        st = qfd_fail(ctx, QFD_ERR_LIMIT,
                      "the values and gradients of a training step take %s, over the memory limit of %s with the rest",
                      qfd_format_bytes(a, total), qfd_format_bytes(b, qfd_ctx_memory_limit(ctx)));
        goto out;
    }
    if (total && !(e->train_pool = aligned_alloc(64, total))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for %zu bytes of values and gradients", total);
        goto out;
    }
    /* Zeroed once, as separate buffers were: nothing should depend on it
     * (a gradient is cleared when its life begins). */
    if (total)
        memset(e->train_pool, 0, total);
    e->train_pool_bytes = total;
    for (size_t a = 0; a < n_pool; a++) {
        size_t id = (size_t)order[a];
        if (id >= 2 * nt)
            continue;
        qfd_array *arr = id < nt ? &e->vals[id] : &e->grads[id - nt];
        arr->data = (char *)e->train_pool + off[id];
    }
    for (size_t k = 0; k < e->n_remat; k++) {
        e->remat[k].fwd = e->vals[e->remat[k].tensor].data;
        e->remat[k].bwd = (char *)e->train_pool + off[2 * nt + k];
    }
out:
    free(order);
    free(first);
    free(last);
    free(reader);
    free(lastf);
    free(bmin);
    free(bmax);
    free(pmin);
    free(pmax);
    free(bytes);
    free(off);
    return st;
}

qfd_status qfd_exec_set_trainable(qfd_ctx *ctx, qfd_exec *e, const uint8_t *trainable)
{
    const qfd_graph *g = e->g;
    size_t nt = g->n_tensors, nn = g->n_nodes, max_io = 1;
    if (!e->trainable) {
        for (size_t i = 0; i < nn; i++) {
            max_io = g->nodes[i].n_in > max_io ? g->nodes[i].n_in : max_io;
            max_io = g->nodes[i].n_out > max_io ? g->nodes[i].n_out : max_io;
        }
        e->trainable = calloc(nt + 1, 1);
        e->needs_grad = calloc(nt + 1, 1);
        e->grads = calloc(nt + 1, sizeof *e->grads);
        e->seeded = calloc(nt + 1, 1);
        e->grad_first = calloc(nt + 1, sizeof *e->grad_first);
        e->grad_done = malloc((nt + 1) * sizeof *e->grad_done);
        e->saved = calloc(nn + 1, sizeof *e->saved);
        e->gout_ptrs = calloc(max_io, sizeof *e->gout_ptrs);
        e->gin_ptrs = calloc(max_io, sizeof *e->gin_ptrs);
        if (!e->trainable || !e->needs_grad || !e->grads || !e->seeded || !e->grad_first || !e->grad_done ||
            !e->saved || !e->gout_ptrs || !e->gin_ptrs)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        for (size_t t = 0; t < nt; t++)
            e->grad_done[t] = -1;
    }
    for (size_t t = 0; t < nt; t++) {
        e->trainable[t] = trainable[t] && (g->tensors[t].flags & QFD_T_INITIALIZER) &&
                          g->tensors[t].dtype == QFD_DT_FLOAT;
        e->needs_grad[t] = e->trainable[t];
    }
    /* Which values get gradients depends on their types, known at plan time. */
    e->has_plan = false;
    return QFD_OK;
}

void qfd_exec_set_training(qfd_exec *e, bool training, uint64_t seed)
{
    e->training = training;
    e->seed = seed;
}

qfd_status qfd_exec_set_inference_nodes(qfd_ctx *ctx, qfd_exec *e, const uint8_t *per_node)
{
    if (!per_node) {
        free(e->inference_nodes);
        e->inference_nodes = NULL;
        return QFD_OK;
    }
    if (!e->inference_nodes && !(e->inference_nodes = malloc(e->g->n_nodes + 1)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    memcpy(e->inference_nodes, per_node, e->g->n_nodes);
    return QFD_OK;
}

qfd_array *qfd_exec_grad(qfd_exec *e, int tensor)
{
    return e->needs_grad && e->needs_grad[tensor] && e->grads[tensor].data ? &e->grads[tensor] : NULL;
}

/* A gradient buffer is cleared when its life begins, between two ops: on
 * one thread that is a serial section the other threads wait through. */
static void zero_bytes(void *p, size_t n, int n_threads)
{
    const int nt = n >= ((size_t)1 << 20) && n_threads > 1 ? n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++) {
        /* cut at multiples of 64 bytes: no cache line shared by two threads */
        const size_t a = (n * (size_t)t / (size_t)nt) & ~(size_t)63;
        const size_t b = t + 1 == nt ? n : (n * (size_t)(t + 1) / (size_t)nt) & ~(size_t)63;
        memset((char *)p + a, 0, b - a);
    }
}

void qfd_exec_zero_grads(qfd_exec *e)
{
    /* Pooled gradients are zeroed in the sweep when their life begins. */
    for (size_t t = 0; e->grads && t < e->g->n_tensors; t++)
        if (e->grads[t].data && (e->trainable[t] ? e->grad_done[t] < 0 : e->grad_first[t] == (int)e->g->n_nodes))
            zero_bytes(e->grads[t].data, e->grads[t].nbytes, e->n_threads);
}

void qfd_exec_seed_grad(qfd_exec *e, int tensor)
{
    if (e->seeded && !e->seeded[tensor]) {
        e->seeded[tensor] = 1;
        e->has_plan = false;
    }
}

/* The reverse sweep, the recomputed values pointed at their sweep buffers. */
static qfd_status sweep(qfd_ctx *ctx, qfd_exec *e)
{
    size_t next = 0;
    for (size_t i = e->g->n_nodes; i-- > 0;) {
        const qfd_node *n = &e->g->nodes[i];
        qfd_status st = qfd_exec_remat_run(ctx, e, i, &next);
        if (st)
            return st;
        if (e->nodes[i].folded)
            continue;
        bool any = false;
        for (size_t k = 0; k < n->n_out; k++)
            any |= n->out[k] >= 0 && e->needs_grad[n->out[k]];
        if (!any)
            continue;
        /* the zero fill of the gradients it starts counts as the node's */
        double t0 = e->prof ? qfd_now() : 0.0;
        qfd_op_ctx oc;
        qfd_exec_op_ctx(e, ctx, i, &oc);
        const qfd_op_def *def = e->nodes[i].def;
        for (size_t k = 0; k < n->n_in + n->n_out; k++) {
            int t = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
            if (t < 0 || e->grad_first[t] != (int)i || !e->grads[t].data)
                continue;
            /* A gradient whose life begins here is written, not added to,
             * by an op that says it writes all of it (not when the tensor
             * is also another input of the node: that slot adds). */
            bool once = k < n->n_in && k < 32;
            for (size_t j = 0; once && j < n->n_in; j++)
                once = j == k || n->in[j] != t;
            if (once && def->grad_writes && def->grad_writes(&oc, k))
                oc.gin_fresh |= 1u << k;
            else
                zero_bytes(e->grads[t].data, e->grads[t].nbytes, e->n_threads);
        }
        st = def->backward(&oc);
        if (st)
            return st;
        if (e->prof)
            qfd_exec_profile_add(e, i, true, qfd_now() - t0, &oc);
        for (size_t k = 0; e->grad_ready && k < n->n_in; k++) {
            int t = n->in[k];
            bool again = false; /* a tensor in two slots is reported once */
            for (size_t j = 0; j < k && !again; j++)
                again = n->in[j] == t;
            if (t >= 0 && !again && e->grad_done[t] == (int)i)
                e->grad_ready(e->grad_ready_user, t, &e->grads[t]);
        }
    }
    return QFD_OK;
}

qfd_status qfd_exec_backward(qfd_ctx *ctx, qfd_exec *e)
{
    if (!e->needs_grad || !e->has_plan)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "backward before a training forward");
    qfd_exec_remat_swap(e, true);
    qfd_status st = sweep(ctx, e);
    qfd_exec_remat_swap(e, false);
    e->prof_backwards += e->prof != NULL;
    return st;
}
