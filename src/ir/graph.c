/* Graph storage: tensors, nodes, and freeing them. */
#include "ir/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t qfd_tensor_numel(const qfd_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

int qfd_graph_find(const qfd_graph *g, const char *name)
{
    return qfd_strmap_get(&g->by_name, name);
}

int qfd_graph_add_tensor(qfd_graph *g, const char *name)
{
    if (g->n_tensors == g->cap_tensors) {
        size_t cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        qfd_tensor *t = realloc(g->tensors, cap * sizeof *t);
        if (!t)
            return -1;
        g->tensors = t;
        g->cap_tensors = cap;
        /* The map borrows names, which live in separate allocations, so
         * moving the tensor array does not invalidate it. */
    }
    qfd_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->producer = -1;
    t->name = strdup(name);
    if (!t->name)
        return -1;
    if (qfd_strmap_put(&g->by_name, t->name, (int)g->n_tensors) != 0) {
        free(t->name);
        return -1;
    }
    return (int)g->n_tensors++;
}

void qfd_blob_clear(qfd_blob *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void qfd_extra_clear(qfd_extra *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->fields[i].data);
    free(e->fields);
    memset(e, 0, sizeof *e);
}

static void blobs_free(qfd_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        qfd_blob_clear(&b[i]);
    free(b);
}

static void kv_clear(qfd_kv *kv)
{
    free(kv->key);
    free(kv->value);
    qfd_extra_clear(&kv->extra);
}

void qfd_tensor_clear(qfd_tensor *t)
{
    free(t->name);
    free(t->dims);
    free(t->data);
    blobs_free(t->strings, t->n_strings);
    free(t->doc);
    for (size_t i = 0; i < t->n_external; i++)
        kv_clear(&t->external[i]);
    free(t->external);
    qfd_extra_clear(&t->extra);
    memset(t, 0, sizeof *t);
    t->producer = -1;
}

void qfd_attr_clear(qfd_attr *a)
{
    free(a->name);
    free(a->ref_attr_name);
    free(a->doc);
    qfd_blob_clear(&a->s);
    if (a->t) {
        qfd_tensor_clear(a->t);
        free(a->t);
    }
    qfd_blob_clear(&a->g);
    qfd_blob_clear(&a->sparse_tensor);
    qfd_blob_clear(&a->tp);
    free(a->floats);
    free(a->ints);
    blobs_free(a->strings, a->n_strings);
    for (size_t i = 0; i < a->n_tensors; i++)
        qfd_tensor_clear(&a->tensors[i]);
    free(a->tensors);
    blobs_free(a->graphs, a->n_graphs);
    blobs_free(a->sparse_tensors, a->n_sparse_tensors);
    blobs_free(a->type_protos, a->n_type_protos);
    qfd_extra_clear(&a->extra);
    memset(a, 0, sizeof *a);
}

void qfd_type_clear(qfd_type *t)
{
    for (int i = 0; i < t->rank; i++) {
        free(t->dims[i].param);
        free(t->dims[i].denotation);
    }
    free(t->dims);
    free(t->denotation);
    qfd_blob_clear(&t->opaque);
    memset(t, 0, sizeof *t);
}

static void node_clear(qfd_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->doc);
    free(n->in);
    free(n->out);
    for (size_t i = 0; i < n->n_attrs; i++)
        qfd_attr_clear(&n->attrs[i]);
    free(n->attrs);
    qfd_extra_clear(&n->extra);
}

static void value_infos_free(qfd_value_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qfd_type_clear(&v[i].type);
        free(v[i].doc);
        qfd_extra_clear(&v[i].extra);
    }
    free(v);
}

void qfd_graph_clear(qfd_graph *g)
{
    free(g->name);
    free(g->doc);
    for (size_t i = 0; i < g->n_tensors; i++)
        qfd_tensor_clear(&g->tensors[i]);
    free(g->tensors);
    qfd_strmap_free(&g->by_name);
    for (size_t i = 0; i < g->n_nodes; i++)
        node_clear(&g->nodes[i]);
    free(g->nodes);
    value_infos_free(g->inputs, g->n_inputs);
    value_infos_free(g->outputs, g->n_outputs);
    value_infos_free(g->value_infos, g->n_value_infos);
    free(g->inits);
    blobs_free(g->sparse_inits, g->n_sparse_inits);
    blobs_free(g->quant_annotations, g->n_quant_annotations);
    qfd_extra_clear(&g->extra);
    memset(g, 0, sizeof *g);
}

void qfd_model_free(qfd_model *m)
{
    if (!m)
        return;
    free(m->producer_name);
    free(m->producer_version);
    free(m->domain);
    free(m->doc);
    for (size_t i = 0; i < m->n_opsets; i++) {
        free(m->opsets[i].domain);
        qfd_extra_clear(&m->opsets[i].extra);
    }
    free(m->opsets);
    for (size_t i = 0; i < m->n_metadata; i++)
        kv_clear(&m->metadata[i]);
    free(m->metadata);
    blobs_free(m->training_info, m->n_training_info);
    blobs_free(m->functions, m->n_functions);
    qfd_graph_clear(&m->graph);
    qfd_extra_clear(&m->extra);
    free(m->path);
    free(m);
}

const char *qfd_node_label(const qfd_node *n, size_t idx, char *buf, size_t cap)
{
    const char *op = n->op_type && *n->op_type ? n->op_type : "node";
    if (n->name && *n->name)
        snprintf(buf, cap, "'%s' (%s)", n->name, op);
    else
        snprintf(buf, cap, "%s#%zu", op, idx);
    return buf;
}
