#include "core/proc.h"
#include "exec/exec_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/model_info.h"
#include "ops/blas.h"
#include "ops/op.h"

size_t qfd_exec_n_inputs(const qfd_exec *e)
{
    return e->n_in;
}
size_t qfd_exec_n_outputs(const qfd_exec *e)
{
    return e->n_out;
}
int qfd_exec_input_tensor(const qfd_exec *e, size_t i)
{
    return e->in_t[i];
}
int qfd_exec_output_tensor(const qfd_exec *e, size_t i)
{
    return e->out_t[i];
}
const qfd_array *qfd_exec_value(const qfd_exec *e, int t)
{
    return &e->vals[t];
}
const qfd_array *qfd_exec_output(const qfd_exec *e, size_t i)
{
    return &e->vals[e->out_t[i]];
}
const char *qfd_exec_input_name(const qfd_exec *e, size_t i)
{
    return e->g->tensors[e->in_t[i]].name;
}
const char *qfd_exec_output_name(const qfd_exec *e, size_t i)
{
    return e->g->tensors[e->out_t[i]].name;
}

static void release_values(qfd_exec *e)
{
    for (size_t t = 0; e->grads && t < e->g->n_tensors; t++) {
        if (e->trainable[t] && e->grad_done[t] < 0)
            free(e->grads[t].data);
        memset(&e->grads[t], 0, sizeof e->grads[t]);
        e->grad_done[t] = -1;
    }
    free(e->train_pool);
    e->train_pool = NULL;
    e->train_pool_bytes = 0;
    free(e->remat);
    e->remat = NULL;
    e->n_remat = 0;
    for (size_t i = 0; e->saved && i < e->g->n_nodes; i++) {
        free(e->saved[i]);
        e->saved[i] = NULL;
    }
    for (size_t t = 0; t < e->g->n_tensors; t++) {
        if (e->owned[t] == 1)
            free(e->vals[t].data);
        if (!(e->g->tensors[t].flags & QFD_T_INITIALIZER) || e->owned[t]) {
            memset(&e->vals[t], 0, sizeof e->vals[t]);
            e->known[t] = 0;
        }
        e->owned[t] = 0;
    }
    free(e->value_pool);
    e->value_pool = NULL;
    e->value_pool_bytes = 0;
}

/* Packed inputs belong to a plan: a new one may choose other kernels. */
static void release_packs(qfd_exec *e)
{
    for (size_t i = 0; e->nodes && i < e->g->n_nodes; i++) {
        free(e->nodes[i].packed);
        e->nodes[i].packed = NULL;
        e->nodes[i].packed_bytes = 0;
        e->nodes[i].pack_tried = false;
    }
}

void qfd_exec_free(qfd_exec *e)
{
    if (!e)
        return;
    if (e->vals)
        release_values(e);
    release_packs(e);
    for (size_t i = 0; e->nodes && i < e->g->n_nodes; i++)
        free(e->nodes[i].state);
    free(e->nodes);
    free(e->vals);
    free(e->known);
    free(e->owned);
    free(e->in_t);
    free(e->out_t);
    for (size_t i = 0; e->planned && i < e->n_in; i++)
        qfd_array_free(&e->planned[i]);
    free(e->planned);
    free(e->ws);
    free(e->in_ptrs);
    free(e->out_ptrs);
    free(e->infer_in);
    free(e->trainable);
    free(e->needs_grad);
    free(e->grads);
    free(e->seeded);
    free(e->grad_first);
    free(e->grad_done);
    free(e->saved);
    free(e->inference_nodes);
    free(e->prof);
    free(e->gout_ptrs);
    free(e->gin_ptrs);
    free(e);
}

void qfd_exec_op_ctx(qfd_exec *e, qfd_ctx *ctx, size_t i, qfd_op_ctx *oc)
{
    const qfd_node *n = &e->g->nodes[i];
    for (size_t k = 0; k < n->n_in; k++)
        e->in_ptrs[k] = n->in[k] >= 0 ? &e->vals[n->in[k]] : NULL;
    for (size_t k = 0; k < n->n_out; k++)
        e->out_ptrs[k] = n->out[k] >= 0 ? &e->vals[n->out[k]] : NULL;
    *oc = (qfd_op_ctx){ctx,
                       n,
                       i,
                       e->nodes[i].opset,
                       n->n_in,
                       n->n_out,
                       e->in_ptrs,
                       e->out_ptrs,
                       e->nodes[i].state,
                       e->ws,
                       e->n_threads,
                       e->training && !(e->inference_nodes && e->inference_nodes[i]),
                       NULL,
                       0,
                       NULL,
                       NULL,
                       0,
                       NULL};
    if (!e->needs_grad)
        return;
    /* Distinct seeds per node and step (splitmix64 of both). */
    uint64_t z = e->seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    oc->seed = z ^ (z >> 31);
    oc->saved = e->saved[i];
    for (size_t k = 0; k < n->n_in; k++)
        e->gin_ptrs[k] = n->in[k] >= 0 && e->needs_grad[n->in[k]] ? &e->grads[n->in[k]] : NULL;
    for (size_t k = 0; k < n->n_out; k++)
        e->gout_ptrs[k] = n->out[k] >= 0 && e->needs_grad[n->out[k]] ? &e->grads[n->out[k]] : NULL;
    oc->gout = e->gout_ptrs;
    oc->gin = e->gin_ptrs;
}

/* Builds "Foo (opset 13), com.x.Bar (opset 1)" for every unsupported op. */
static qfd_status unsupported(qfd_ctx *ctx, const qfd_exec *e)
{
    char msg[900] = "";
    size_t len = 0, count = 0;
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        const qfd_node *n = &e->g->nodes[i];
        if (e->nodes[i].def)
            continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !e->nodes[j].def && !strcmp(e->g->nodes[j].op_type, n->op_type) &&
                   !strcmp(e->g->nodes[j].domain ? e->g->nodes[j].domain : "", n->domain ? n->domain : "");
        if (seen)
            continue;
        count++;
        if (len < sizeof msg - 1)
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s%s%s (opset %lld)", count > 1 ? ", " : "",
                                    n->domain && *n->domain ? n->domain : "", n->domain && *n->domain ? "." : "",
                                    n->op_type, (long long)e->nodes[i].opset);
    }
    return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "%zu unsupported op%s: %s", count, count == 1 ? "" : "s", msg);
}

qfd_status qfd_exec_missing_ops(qfd_ctx *ctx, const qfd_model *m, qfd_missing_op **out, size_t *n)
{
    const qfd_graph *g = &m->graph;
    *out = NULL;
    *n = 0;
    qfd_missing_op *list = NULL;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *nd = &g->nodes[i];
        const char *dom = nd->domain ? nd->domain : "";
        int64_t opset = qfd_model_opset(m, nd->domain);
        if (qfd_op_lookup(nd->domain, nd->op_type, opset))
            continue;
        size_t j = 0;
        while (j < *n && (strcmp(list[j].op_type, nd->op_type) || strcmp(list[j].domain, dom)))
            j++;
        if (j == *n) {
            qfd_missing_op *grown = realloc(list, (*n + 1) * sizeof *list);
            if (!grown) {
                free(list);
                *n = 0;
                return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            }
            list = grown;
            list[(*n)++] = (qfd_missing_op){dom, nd->op_type, opset, 0};
        }
        list[j].count++;
    }
    *out = list;
    return QFD_OK;
}

qfd_status qfd_exec_new(qfd_ctx *ctx, const qfd_model *m, int n_threads, qfd_exec **out)
{
    *out = NULL;
    const qfd_graph *g = &m->graph;
    qfd_exec *e = calloc(1, sizeof *e);
    if (!e)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    e->m = m;
    e->g = g;
    e->n_threads = n_threads > 0 ? n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (e->n_threads < 1)
        e->n_threads = 1;
    size_t max_io = 1;
    for (size_t i = 0; i < g->n_nodes; i++) {
        max_io = g->nodes[i].n_in > max_io ? g->nodes[i].n_in : max_io;
        max_io = g->nodes[i].n_out > max_io ? g->nodes[i].n_out : max_io;
    }
    e->vals = calloc(g->n_tensors + 1, sizeof *e->vals);
    e->known = calloc(g->n_tensors + 1, 1);
    e->owned = calloc(g->n_tensors + 1, 1);
    e->nodes = calloc(g->n_nodes + 1, sizeof *e->nodes);
    e->in_t = calloc(g->n_inputs + 1, sizeof *e->in_t);
    e->out_t = calloc(g->n_outputs + 1, sizeof *e->out_t);
    e->planned = calloc(g->n_inputs + 1, sizeof *e->planned);
    e->in_ptrs = calloc(max_io, sizeof *e->in_ptrs);
    e->out_ptrs = calloc(max_io, sizeof *e->out_ptrs);
    e->infer_in = calloc(max_io, sizeof *e->infer_in);
    qfd_status st = QFD_OK;
    if (!e->vals || !e->known || !e->owned || !e->nodes || !e->in_t || !e->out_t || !e->planned || !e->in_ptrs ||
        !e->out_ptrs || !e->infer_in) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!(g->tensors[g->inputs[i].tensor].flags & QFD_T_INITIALIZER))
            e->in_t[e->n_in++] = g->inputs[i].tensor;
    for (size_t i = 0; i < g->n_outputs; i++)
        e->out_t[e->n_out++] = g->outputs[i].tensor;

    for (size_t k = 0; k < g->n_inits; k++) {
        int t = g->inits[k];
        const qfd_tensor *tt = &g->tensors[t];
        if (tt->dtype == QFD_DT_STRING || tt->rank > QFD_ARRAY_MAX_RANK)
            continue; /* no op here reads them; a node that does fails in infer */
        qfd_array *v = &e->vals[t];
        v->dtype = tt->dtype;
        v->rank = tt->rank;
        if (tt->rank)
            memcpy(v->dims, tt->dims, (size_t)tt->rank * sizeof *tt->dims);
        v->data = tt->data;
        v->nbytes = tt->nbytes;
        e->known[t] = 1;
    }

    int missing = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        e->nodes[i].opset = qfd_model_opset(m, n->domain);
        e->nodes[i].def = qfd_op_lookup(n->domain, n->op_type, e->nodes[i].opset);
        missing |= !e->nodes[i].def;
    }
    if (missing) {
        st = unsupported(ctx, e);
        goto fail;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_op_def *d = e->nodes[i].def;
        if (!d->parse)
            continue;
        if (!(e->nodes[i].state = calloc(1, d->state_size ? d->state_size : 1))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto fail;
        }
        qfd_op_ctx oc;
        qfd_exec_op_ctx(e, ctx, i, &oc);
        if ((st = d->parse(&oc, e->nodes[i].state)))
            goto fail;
    }
    *out = e;
    return QFD_OK;
fail:
    qfd_exec_free(e);
    if (m->path)
        qfd_ctx_prefix(ctx, m->path);
    return st;
}

/* Counts bytes that node i's plan adds (what: "output 'y'", "workspace")
 * against the context's memory limit, before they are allocated. */
static qfd_status charge(qfd_ctx *ctx, qfd_exec *e, size_t i, const char *what, uint64_t bytes)
{
    e->plan_bytes += bytes;
    if (!qfd_over_memory_limit(ctx, e->plan_bytes))
        return QFD_OK;
    char node[300], b[32], tot[32], lim[32];
    qfd_node_label(&e->g->nodes[i], i, node, sizeof node);
    qfd_format_bytes(lim, qfd_ctx_memory_limit(ctx));
    if (qfd_over_memory_limit(ctx, bytes))
        return qfd_fail(ctx, QFD_ERR_LIMIT, "node %s: %s needs %s, over the memory limit of %s", node, what,
                        qfd_format_bytes(b, bytes), lim);
    return qfd_fail(ctx, QFD_ERR_LIMIT, "node %s: %s (%s) brings the planned memory to %s, over the memory limit of %s",
                    node, what, qfd_format_bytes(b, bytes), qfd_format_bytes(tot, e->plan_bytes), lim);
}

/* Gives tensor t, an output of node i, a buffer of its inferred size, or
 * only the size when pooled (placed by qfd_exec_place_values at the end of
 * planning, which checks the pool against the memory limit). */
static qfd_status alloc_value(qfd_ctx *ctx, qfd_exec *e, size_t i, int t, bool pooled)
{
    qfd_array *v = &e->vals[t];
    int ok = 0;
    if (v->rank < 0 || v->rank > QFD_ARRAY_MAX_RANK)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "tensor '%s': rank %d is not supported", e->g->tensors[t].name,
                        v->rank);
    int64_t numel = qfd_array_numel(v);
    size_t nbytes = qfd_dtype_nbytes(v->dtype, numel, &ok);
    if (!ok)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "tensor '%s': cannot hold %lld elements of type %d",
                        e->g->tensors[t].name, (long long)numel, v->dtype);
    char what[300];
    snprintf(what, sizeof what, "output '%s'", e->g->tensors[t].name);
    qfd_status st = charge(ctx, e, i, what, pooled ? 0 : nbytes);
    if (st)
        return st;
    if (pooled && qfd_over_memory_limit(ctx, nbytes))
        return charge(ctx, e, i, what, nbytes);
    if (pooled) {
        v->data = NULL;
        v->nbytes = nbytes;
        e->owned[t] = 2;
        return QFD_OK;
    }
    v->data = calloc(1, nbytes ? nbytes : 1);
    if (!v->data)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for tensor '%s' (%zu bytes)", e->g->tensors[t].name, nbytes);
    v->nbytes = nbytes;
    e->owned[t] = 1;
    return QFD_OK;
}

/* True when tensor t's buffer is allocated for this plan, directly or as a
 * view into such a buffer. */
static bool planned_buffer(const qfd_exec *e, int t)
{
    int p = e->g->tensors[t].producer;
    return e->owned[t] || (p >= 0 && e->nodes[p].view);
}

/* Inference only: when the op says output 0 of node i is a run of input
 * 0's bytes, makes it a view there (pointed at the end of planning) instead
 * of giving it a buffer, and the node is not run. Only into a buffer the
 * executor allocated for this plan (stable across runs, not the caller's
 * input), and never for a graph output, which the caller may keep. */
static bool try_view(qfd_exec *e, size_t i, qfd_op_ctx *oc)
{
    const qfd_node *n = &e->g->nodes[i];
    exec_node *en = &e->nodes[i];
    size_t off = 0;
    if (e->needs_grad || !en->def->view || n->n_in < 1 || n->n_out < 1 || n->in[0] < 0 || n->out[0] < 0 ||
        !planned_buffer(e, n->in[0]))
        return false;
    for (size_t k = 0; k < e->g->n_outputs; k++)
        if (e->g->outputs[k].tensor == n->out[0])
            return false;
    const qfd_array *x = &e->vals[n->in[0]];
    qfd_array *y = &e->vals[n->out[0]];
    int ok = 0;
    size_t nbytes = qfd_dtype_nbytes(y->dtype, qfd_array_numel(y), &ok);
    if (!ok || !en->def->view(oc, &off) || off > x->nbytes || nbytes > x->nbytes - off)
        return false;
    y->data = NULL;
    y->nbytes = nbytes;
    en->view_off = off;
    return true;
}

static qfd_status ensure_ws(qfd_ctx *ctx, qfd_exec *e, size_t i, size_t need)
{
    if (need <= e->ws_size)
        return QFD_OK;
    qfd_status st = charge(ctx, e, i, "its workspace", need - e->ws_size);
    if (st)
        return st;
    void *ws = realloc(e->ws, need);
    if (!ws)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for a %zu-byte workspace", need);
    e->ws = ws;
    e->ws_size = need;
    return QFD_OK;
}

/* Gradient buffers for the node's outputs and its forward-to-backward state. */
static qfd_status alloc_training(qfd_ctx *ctx, qfd_exec *e, size_t i, qfd_op_ctx *oc)
{
    size_t sz = e->nodes[i].def->saved_size ? e->nodes[i].def->saved_size(oc) : 0;
    if (sz && !(e->saved[i] = calloc(1, sz)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for training state of node %zu", i);
    return QFD_OK;
}

/* Small integer inputs (a shape, axes, pads, sizes) are taken as known when
 * planning, so that what depends on them is folded; the plan is remade
 * when their values change. Data inputs stay unknown. */
static bool shape_like(const qfd_exec *e, size_t i, const qfd_array *a)
{
    if ((a->dtype == QFD_DT_INT64 || a->dtype == QFD_DT_INT32) && a->rank <= 1 && qfd_array_numel(a) <= 16)
        return true;
    for (size_t n = 0; n < e->g->n_nodes; n++)
        for (size_t k = 0; k < e->g->nodes[n].n_in && k < 32; k++)
            if (e->g->nodes[n].in[k] == e->in_t[i] && (e->nodes[n].def->value_inputs >> k & 1u))
                return true;
    return false;
}

static qfd_status plan(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs)
{
    const qfd_graph *g = e->g;
    release_values(e);
    release_packs(e);
    e->has_plan = false;
    e->plan_bytes = e->ws_size; /* the workspace is kept across plans */
    /* A parameter changes between steps: nothing computed from it may be folded. */
    for (size_t t = 0; e->trainable && t < g->n_tensors; t++) {
        if (g->tensors[t].flags & QFD_T_INITIALIZER)
            e->known[t] = !e->trainable[t] && e->vals[t].data;
        e->needs_grad[t] = e->trainable[t];
    }
    for (size_t i = 0; i < e->n_in; i++) {
        qfd_array *v = &e->vals[e->in_t[i]];
        qfd_array_like(v, &inputs[i]);
        qfd_array_free(&e->planned[i]);
        qfd_array_like(&e->planned[i], &inputs[i]);
        if (!shape_like(e, i, &inputs[i]))
            continue;
        if (!(e->planned[i].data = malloc(inputs[i].nbytes + 1)))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        memcpy(e->planned[i].data, inputs[i].data, inputs[i].nbytes);
        e->planned[i].nbytes = inputs[i].nbytes;
        v->data = e->planned[i].data;
        v->nbytes = inputs[i].nbytes;
        e->known[e->in_t[i]] = 1;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        exec_node *en = &e->nodes[i];
        qfd_op_ctx oc;
        qfd_exec_op_ctx(e, ctx, i, &oc);
        /* Buffers exist for every planned value, but only known ones hold
         * their value yet: infer must not read the others. */
        for (size_t k = 0; k < n->n_in; k++) {
            if (!e->in_ptrs[k])
                continue;
            e->infer_in[k] = *e->in_ptrs[k];
            if (!e->known[n->in[k]])
                e->infer_in[k].data = NULL;
            e->in_ptrs[k] = &e->infer_in[k];
        }
        qfd_status st = en->def->infer(&oc);
        if (st)
            return st;
        if (e->needs_grad && (st = qfd_exec_mark_grads(ctx, e, i)))
            return st;
        bool all_known = true;
        for (size_t k = 0; k < n->n_in; k++)
            all_known &= n->in[k] < 0 || e->known[n->in[k]];
        en->folded = all_known || (en->def->flags & QFD_OP_SHAPE_ONLY);
        en->view = !all_known && try_view(e, i, &oc);
        /* values computed here (folded) keep their own buffers */
        bool pooled = e->share_values && !en->folded;
        for (size_t k = en->view ? 1 : 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && (st = alloc_value(ctx, e, i, n->out[k], pooled)))
                return st;
        size_t ws = en->def->workspace ? en->def->workspace(&oc) : 0;
        if (e->needs_grad && en->def->backward_workspace) {
            size_t bws = en->def->backward_workspace(&oc);
            ws = bws > ws ? bws : ws;
        }
        if ((st = ensure_ws(ctx, e, i, ws)))
            return st;
        if (e->needs_grad && (st = alloc_training(ctx, e, i, &oc)))
            return st;
        if (en->folded) {
            qfd_exec_op_ctx(e, ctx, i, &oc);
            if ((st = en->def->forward(&oc)))
                return st;
            for (size_t k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    e->known[n->out[k]] = 1;
        }
    }
    qfd_status st = e->needs_grad ? qfd_exec_plan_training(ctx, e) : qfd_exec_place_values(ctx, e);
    if (st)
        return st;
    if (qfd_over_memory_limit(ctx, qfd_exec_memory(e))) {
        char a[32], b[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "values, gradients and workspace take %s, over the memory limit of %s",
                        qfd_format_bytes(a, qfd_exec_memory(e)), qfd_format_bytes(b, qfd_ctx_memory_limit(ctx)));
    }
    e->has_plan = true;
    return QFD_OK;
}

static qfd_status check_input(qfd_ctx *ctx, const qfd_exec *e, size_t i, const qfd_array *a)
{
    const qfd_graph *g = e->g;
    const char *name = g->tensors[e->in_t[i]].name;
    const qfd_value_info *vi = NULL;
    for (size_t k = 0; k < g->n_inputs && !vi; k++)
        if (g->inputs[k].tensor == e->in_t[i])
            vi = &g->inputs[k];
    if (a->rank < 0 || a->rank > QFD_ARRAY_MAX_RANK)
        return qfd_fail(ctx, QFD_ERR_ARG, "input '%s': rank %d is not supported", name, a->rank);
    if (!vi || !vi->has_type || vi->type.kind != QFD_TYPE_TENSOR)
        return QFD_OK;
    const qfd_type *t = &vi->type;
    if (t->has_elem_type && t->elem_type != a->dtype)
        return qfd_fail(ctx, QFD_ERR_ARG, "input '%s': expected %s data, got %s", name,
                        qfd_dtype_name(t->elem_type) ? qfd_dtype_name(t->elem_type) : "?",
                        qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?");
    if (!t->has_shape)
        return QFD_OK;
    int bad = t->rank != a->rank;
    for (int k = 0; !bad && k < t->rank; k++)
        bad = t->dims[k].kind == QFD_DIM_VALUE && t->dims[k].value != a->dims[k];
    if (!bad)
        return QFD_OK;
    char want[256] = "", got[256] = "";
    size_t lw = 0, lg = 0;
    for (int k = 0; k < t->rank && lw < sizeof want; k++)
        lw += (size_t)(t->dims[k].kind == QFD_DIM_VALUE
                           ? snprintf(want + lw, sizeof want - lw, "%s%lld", k ? "," : "", (long long)t->dims[k].value)
                           : snprintf(want + lw, sizeof want - lw, "%s%s", k ? "," : "",
                                      t->dims[k].kind == QFD_DIM_PARAM ? t->dims[k].param : "?"));
    for (int k = 0; k < a->rank && lg < sizeof got; k++)
        lg += (size_t)snprintf(got + lg, sizeof got - lg, "%s%lld", k ? "," : "", (long long)a->dims[k]);
    return qfd_fail(ctx, QFD_ERR_ARG, "input '%s': expected shape [%s], got [%s]", name, want, got);
}

static bool same_plan(const qfd_array *a, const qfd_array *planned)
{
    if (a->dtype != planned->dtype || a->rank != planned->rank ||
        memcmp(a->dims, planned->dims, (size_t)a->rank * sizeof *a->dims))
        return false;
    return !planned->data || (a->nbytes == planned->nbytes && !memcmp(a->data, planned->data, a->nbytes));
}

/* Checks the inputs and plans for them unless the current plan fits. */
static qfd_status prepare(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs)
{
    if (n_inputs != e->n_in)
        return qfd_fail(ctx, QFD_ERR_ARG, "model takes %zu input%s, got %zu", e->n_in, e->n_in == 1 ? "" : "s",
                        n_inputs);
    qfd_status st;
    bool replan = !e->has_plan;
    for (size_t i = 0; i < e->n_in; i++) {
        if ((st = check_input(ctx, e, i, &inputs[i])))
            return st;
        replan |= !same_plan(&inputs[i], &e->planned[i]);
    }
    qfd_blas_set_threads(e->n_threads);
    /* Planning runs folded nodes, which may read the inputs' shapes only. */
    return replan ? plan(ctx, e, inputs) : QFD_OK;
}

qfd_status qfd_exec_prepare(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs)
{
    qfd_status st = prepare(ctx, e, inputs, n_inputs);
    if (st && e->m->path)
        qfd_ctx_prefix(ctx, e->m->path);
    return st;
}

/* Node i's packed inputs (op.h: pack), made at its first run in this plan
 * when everything they are made of is known; else oc->packed stays NULL. */
static qfd_status use_pack(qfd_ctx *ctx, qfd_exec *e, size_t i, qfd_op_ctx *oc)
{
    exec_node *en = &e->nodes[i];
    if (!en->def->pack)
        return QFD_OK;
    if (!en->pack_tried) {
        en->pack_tried = true;
        const qfd_node *n = &e->g->nodes[i];
        bool fixed = true;
        for (size_t k = 0; k < n->n_in && k < 32; k++)
            if (en->def->pack_reads >> k & 1u)
                fixed &= n->in[k] >= 0 && e->known[n->in[k]];
        const size_t bytes = fixed ? en->def->packed_size(oc) : 0;
        if (bytes) {
            qfd_status st = charge(ctx, e, i, "packed weights", bytes);
            if (st)
                return st;
            if (!(en->packed = malloc(bytes)))
                return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            en->packed_bytes = bytes;
            en->def->pack(oc, en->packed);
        }
    }
    oc->packed = en->packed;
    return QFD_OK;
}

static qfd_status run_graph(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs)
{
    qfd_status st = prepare(ctx, e, inputs, n_inputs);
    if (st)
        return st;
    for (size_t i = 0; i < e->n_in; i++) {
        if (e->planned[i].data)
            continue; /* the plan's own copy of a shape-like input */
        e->vals[e->in_t[i]].data = inputs[i].data;
        e->vals[e->in_t[i]].nbytes = inputs[i].nbytes;
    }
    e->prof_runs += e->prof != NULL;
    for (size_t i = 0; i < e->g->n_nodes; i++) {
        if (e->nodes[i].folded || e->nodes[i].view)
            continue;
        qfd_op_ctx oc;
        qfd_exec_op_ctx(e, ctx, i, &oc);
        if ((st = use_pack(ctx, e, i, &oc)))
            return st;
        double t0 = e->prof ? qfd_now() : 0.0;
        if ((st = e->nodes[i].def->forward(&oc)))
            return st;
        if (e->prof)
            qfd_exec_profile_add(e, i, false, qfd_now() - t0, &oc);
    }
    return QFD_OK;
}

qfd_status qfd_exec_run(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs)
{
    qfd_status st = run_graph(ctx, e, inputs, n_inputs);
    if (st && e->m->path)
        qfd_ctx_prefix(ctx, e->m->path);
    return st;
}

void qfd_exec_share_values(qfd_exec *e)
{
    if (!e->share_values) {
        e->share_values = true;
        e->has_plan = false;
    }
}

void qfd_exec_on_grad_ready(qfd_exec *e, qfd_grad_ready_fn fn, void *user)
{
    if (e->grad_ready != fn || e->grad_ready_user != user) {
        e->grad_ready = fn;
        e->grad_ready_user = user;
        e->has_plan = false;
    }
}

void qfd_exec_set_remat(qfd_exec *e, bool on)
{
    if (e->no_remat == on) {
        e->no_remat = !on;
        e->has_plan = false;
    }
}

size_t qfd_exec_memory(const qfd_exec *e)
{
    size_t total = e->ws_size + e->train_pool_bytes + e->value_pool_bytes;
    for (size_t i = 0; i < e->g->n_nodes; i++)
        total += e->nodes[i].packed_bytes;
    for (size_t t = 0; t < e->g->n_tensors; t++) {
        total += e->owned[t] == 1 ? e->vals[t].nbytes : 0;
        total += e->grads && e->trainable[t] && e->grad_done[t] < 0 ? e->grads[t].nbytes : 0;
    }
    return total;
}
