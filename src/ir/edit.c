/* Graph queries and edits shared by the passes (see edit.h). */
#include "ir/edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool qfd_node_is(const qfd_node *n, const char *op_type)
{
    return !strcmp(n->op_type, op_type) && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

int qfd_graph_n_readers(const qfd_graph *g, int t)
{
    int n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            n += g->nodes[i].in[k] == t;
    for (size_t i = 0; i < g->n_outputs; i++)
        n += g->outputs[i].tensor == t;
    return n;
}

size_t qfd_graph_consumers(const qfd_graph *g, int t, int *nodes, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == t) {
                if (n < cap)
                    nodes[n] = (int)i;
                n++;
                break;
            }
    return n;
}

bool qfd_graph_is_output(const qfd_graph *g, int t)
{
    for (size_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i].tensor == t)
            return true;
    return false;
}

const float *qfd_graph_float_init(const qfd_graph *g, int t, int64_t numel)
{
    if (t < 0)
        return NULL;
    const qfd_tensor *tt = &g->tensors[t];
    if (!(tt->flags & QFD_T_INITIALIZER) || tt->dtype != QFD_DT_FLOAT || !tt->data ||
        (numel >= 0 && qfd_tensor_numel(tt) != numel))
        return NULL;
    return tt->data;
}

bool qfd_graph_known_scalar(const qfd_graph *g, int t, float *v, int *node)
{
    *node = -1;
    const qfd_tensor *tt = &g->tensors[t];
    const qfd_tensor *val = NULL;
    if (tt->flags & QFD_T_INPUT)
        return false; /* a caller may feed another value */
    if (tt->flags & QFD_T_INITIALIZER) {
        val = tt;
    } else if (tt->producer >= 0 && qfd_node_is(&g->nodes[tt->producer], "Constant")) {
        const qfd_node *c = &g->nodes[tt->producer];
        for (size_t i = 0; i < c->n_attrs; i++) {
            const qfd_attr *a = &c->attrs[i];
            if (a->name && !strcmp(a->name, "value") && a->t)
                val = a->t;
            else if (a->name && !strcmp(a->name, "value_float") && a->has_f) {
                *v = a->f;
                *node = tt->producer;
                return true;
            }
        }
        *node = tt->producer;
    }
    if (!val || val->dtype != QFD_DT_FLOAT || qfd_tensor_numel(val) != 1 || val->nbytes != sizeof(float) || !val->data)
        return false;
    memcpy(v, val->data, sizeof *v);
    return true;
}

char *qfd_graph_unique_name(const qfd_graph *g, const char *base)
{
    size_t n = strlen(base) + 24;
    char *name = malloc(n);
    if (!name)
        return NULL;
    snprintf(name, n, "%s", base);
    for (int k = 2; qfd_graph_find(g, name) >= 0; k++)
        snprintf(name, n, "%s_%d", base, k);
    return name;
}

int qfd_graph_add_value(qfd_graph *g, const char *base)
{
    char *name = qfd_graph_unique_name(g, base);
    int t = name ? qfd_graph_add_tensor(g, name) : -1;
    free(name);
    return t;
}

int qfd_graph_add_init(qfd_graph *g, const char *base, int32_t dtype, int rank, const int64_t *dims, void *data,
                       size_t nbytes)
{
    int *inits = realloc(g->inits, (g->n_inits + 1) * sizeof *inits);
    if (inits)
        g->inits = inits;
    int64_t *d = malloc((size_t)(rank ? rank : 1) * sizeof *d);
    int t = inits && d ? qfd_graph_add_value(g, base) : -1;
    if (t < 0) {
        free(d);
        free(data);
        return -1;
    }
    qfd_tensor *tt = &g->tensors[t];
    if (rank) /* a scalar may come with dims NULL, which memcpy must not get */
        memcpy(d, dims, (size_t)rank * sizeof *d);
    tt->has_dtype = true;
    tt->dtype = dtype;
    tt->rank = rank;
    tt->dims = d;
    tt->data = data;
    tt->nbytes = nbytes;
    tt->storage = QFD_STORE_RAW;
    tt->flags = QFD_T_INITIALIZER;
    g->inits[g->n_inits++] = t;
    return t;
}

int qfd_graph_add_node(qfd_graph *g, const char *op_type, const char *domain, const char *name, const int *in,
                       size_t n_in, const int *out, size_t n_out)
{
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 16;
        qfd_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes)
            return -1;
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    qfd_node n = {0};
    n.op_type = strdup(op_type);
    n.domain = domain && *domain ? strdup(domain) : NULL;
    n.name = name ? strdup(name) : NULL;
    n.in = malloc((n_in ? n_in : 1) * sizeof *n.in);
    n.out = malloc((n_out ? n_out : 1) * sizeof *n.out);
    if (!n.op_type || (domain && *domain && !n.domain) || (name && !n.name) || !n.in || !n.out) {
        free(n.op_type), free(n.domain), free(n.name), free(n.in), free(n.out);
        return -1;
    }
    memcpy(n.in, in, n_in * sizeof *in);
    memcpy(n.out, out, n_out * sizeof *out);
    n.n_in = n_in;
    n.n_out = n_out;
    int idx = (int)g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    for (size_t k = 0; k < n_out; k++)
        if (out[k] >= 0)
            g->tensors[out[k]].producer = idx;
    return idx;
}

void qfd_graph_drop_nodes(qfd_graph *g, const bool *drop)
{
    size_t w = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (drop[i]) {
            qfd_node *n = &g->nodes[i];
            free(n->name), free(n->op_type), free(n->domain), free(n->doc), free(n->in), free(n->out);
            for (size_t k = 0; k < n->n_attrs; k++)
                qfd_attr_clear(&n->attrs[k]);
            free(n->attrs);
            qfd_extra_clear(&n->extra);
            continue;
        }
        g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;
    for (size_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].producer = -1;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_out; k++)
            if (g->nodes[i].out[k] >= 0)
                g->tensors[g->nodes[i].out[k]].producer = (int)i;
}

void qfd_graph_prune_inits(qfd_graph *g)
{
    size_t w = 0;
    for (size_t i = 0; i < g->n_inits; i++) {
        int t = g->inits[i];
        if (qfd_graph_n_readers(g, t) || (g->tensors[t].flags & QFD_T_INPUT)) {
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

int qfd_model_set_opset(qfd_model *m, const char *domain, int64_t version)
{
    for (size_t i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain ? m->opsets[i].domain : "";
        if (!strcmp(d, domain) || (!*domain && !strcmp(d, "ai.onnx"))) {
            m->opsets[i].has_version = true;
            m->opsets[i].version = version;
            return 0;
        }
    }
    char *d = strdup(domain);
    qfd_opset *o = d ? realloc(m->opsets, (m->n_opsets + 1) * sizeof *o) : NULL;
    if (!o) {
        free(d);
        return -1;
    }
    m->opsets = o;
    memset(&o[m->n_opsets], 0, sizeof *o);
    o[m->n_opsets].domain = d;
    o[m->n_opsets].has_version = true;
    o[m->n_opsets].version = version;
    m->n_opsets++;
    return 0;
}

int qfd_model_set_metadata(qfd_model *m, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -1;
    for (size_t i = 0; i < m->n_metadata; i++)
        if (m->metadata[i].key && !strcmp(m->metadata[i].key, key)) {
            free(m->metadata[i].value);
            m->metadata[i].value = v;
            return 0;
        }
    char *k = strdup(key);
    qfd_kv *kv = k ? realloc(m->metadata, (m->n_metadata + 1) * sizeof *kv) : NULL;
    if (!kv) {
        free(k);
        free(v);
        return -1;
    }
    m->metadata = kv;
    memset(&kv[m->n_metadata], 0, sizeof *kv);
    kv[m->n_metadata].key = k;
    kv[m->n_metadata].value = v;
    m->n_metadata++;
    return 0;
}
