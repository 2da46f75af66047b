#include "model_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "model_builder: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = xcalloc(strlen(s) + 1, 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

qfd_model *mb_new(int64_t opset)
{
    qfd_model *m = xcalloc(1, sizeof *m);
    m->has_ir_version = true;
    m->ir_version = 8;
    m->has_graph = true;
    m->graph.name = xstrdup("test");
    m->n_opsets = 1;
    m->opsets = xcalloc(1, sizeof *m->opsets);
    m->opsets[0].domain = xstrdup("");
    m->opsets[0].has_version = true;
    m->opsets[0].version = opset;
    return m;
}

static int tensor(qfd_model *m, const char *name)
{
    int t = qfd_graph_find(&m->graph, name);
    if (t < 0)
        t = qfd_graph_add_tensor(&m->graph, name);
    if (t < 0) {
        fprintf(stderr, "model_builder: out of memory\n");
        abort();
    }
    return t;
}

int mb_const(qfd_model *m, const char *name, int32_t dtype, int rank, const int64_t *dims, const void *data)
{
    qfd_graph *g = &m->graph;
    int t = tensor(m, name);
    qfd_tensor *tt = &g->tensors[t];
    tt->has_dtype = true;
    tt->dtype = dtype;
    tt->rank = rank;
    tt->dims = xcalloc((size_t)rank + 1, sizeof *tt->dims);
    if (rank)
        memcpy(tt->dims, dims, (size_t)rank * sizeof *dims);
    int ok;
    tt->nbytes = qfd_dtype_nbytes(dtype, qfd_tensor_numel(tt), &ok);
    tt->data = xcalloc(tt->nbytes + 1, 1);
    memcpy(tt->data, data, tt->nbytes);
    tt->storage = QFD_STORE_RAW;
    tt->flags |= QFD_T_INITIALIZER;
    int *inits = realloc(g->inits, (g->n_inits + 1) * sizeof *inits);
    if (!inits)
        abort();
    g->inits = inits;
    g->inits[g->n_inits++] = t;
    return t;
}

int mb_param(qfd_model *m, const char *name, int rank, const int64_t *dims, const float *data, float lo, float hi)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *v = xcalloc((size_t)n, sizeof *v);
    uint64_t s = 0x853c49e6748fea9bull ^ (uint64_t)n * 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; *name && i < strlen(name); i++)
        s = s * 31 + (unsigned char)name[i];
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = data ? data[i] : lo + (hi - lo) * (float)((s >> 40) / 16777216.0);
    }
    int t = mb_const(m, name, QFD_DT_FLOAT, rank, dims, v);
    free(v);
    return t;
}

static qfd_value_info *add_vi(qfd_value_info **list, size_t *n)
{
    qfd_value_info *l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l)
        abort();
    *list = l;
    memset(&l[*n], 0, sizeof l[*n]);
    return &l[(*n)++];
}

int mb_input(qfd_model *m, const char *name, int rank, const int64_t *dims)
{
    int t = tensor(m, name);
    m->graph.tensors[t].flags |= QFD_T_INPUT;
    qfd_value_info *v = add_vi(&m->graph.inputs, &m->graph.n_inputs);
    v->tensor = t;
    v->has_type = true;
    v->type.kind = QFD_TYPE_TENSOR;
    v->type.has_elem_type = true;
    v->type.elem_type = QFD_DT_FLOAT;
    v->type.has_shape = true;
    v->type.rank = rank;
    v->type.dims = xcalloc((size_t)rank, sizeof *v->type.dims);
    for (int i = 0; i < rank; i++) {
        v->type.dims[i].kind = QFD_DIM_VALUE;
        v->type.dims[i].value = dims[i];
    }
    return t;
}

qfd_node *mb_node(qfd_model *m, const char *op_type, int n_in, const char *const *ins, int n_out,
                  const char *const *outs)
{
    qfd_graph *g = &m->graph;
    qfd_node *nodes = realloc(g->nodes, (g->n_nodes + 1) * sizeof *nodes);
    if (!nodes)
        abort();
    g->nodes = nodes;
    qfd_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    char name[32];
    snprintf(name, sizeof name, "n%zu", g->n_nodes++);
    n->name = xstrdup(name);
    n->op_type = xstrdup(op_type);
    n->domain = xstrdup("");
    n->n_in = (size_t)n_in;
    n->n_out = (size_t)n_out;
    n->in = xcalloc((size_t)n_in, sizeof *n->in);
    n->out = xcalloc((size_t)n_out, sizeof *n->out);
    for (int i = 0; i < n_in; i++)
        n->in[i] = *ins[i] ? tensor(m, ins[i]) : -1;
    for (int i = 0; i < n_out; i++)
        n->out[i] = *outs[i] ? tensor(m, outs[i]) : -1;
    g->cap_nodes = g->n_nodes;
    return n;
}

void mb_domain(qfd_model *m, qfd_node *n, const char *domain, int64_t version)
{
    free(n->domain);
    n->domain = xstrdup(domain);
    for (size_t i = 0; i < m->n_opsets; i++)
        if (!strcmp(m->opsets[i].domain, domain))
            return;
    qfd_opset *o = realloc(m->opsets, (m->n_opsets + 1) * sizeof *o);
    if (!o)
        abort();
    m->opsets = o;
    o = &m->opsets[m->n_opsets++];
    memset(o, 0, sizeof *o);
    o->domain = xstrdup(domain);
    o->has_version = true;
    o->version = version;
}

static qfd_attr *add_attr(qfd_node *n, const char *name, int type)
{
    qfd_attr *a = realloc(n->attrs, (n->n_attrs + 1) * sizeof *a);
    if (!a)
        abort();
    n->attrs = a;
    a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = xstrdup(name);
    a->has_type = true;
    a->type = type;
    return a;
}

void mb_attr_int(qfd_node *n, const char *name, int64_t v)
{
    qfd_attr *a = add_attr(n, name, 2);
    a->has_i = true;
    a->i = v;
}

void mb_attr_ints(qfd_node *n, const char *name, int count, const int64_t *v)
{
    qfd_attr *a = add_attr(n, name, 7);
    a->n_ints = (size_t)count;
    a->ints = xcalloc((size_t)count, sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *v);
}

void mb_attr_float(qfd_node *n, const char *name, float v)
{
    qfd_attr *a = add_attr(n, name, 1);
    a->has_f = true;
    a->f = v;
}

void mb_attr_floats(qfd_node *n, const char *name, int count, const float *v)
{
    qfd_attr *a = add_attr(n, name, 6);
    a->n_floats = (size_t)count;
    a->floats = xcalloc((size_t)count, sizeof *a->floats);
    memcpy(a->floats, v, (size_t)count * sizeof *v);
}

void mb_attr_str(qfd_node *n, const char *name, const char *v)
{
    qfd_attr *a = add_attr(n, name, 3);
    a->s.present = true;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)xstrdup(v);
}

void mb_output(qfd_model *m, const char *name)
{
    int t = tensor(m, name);
    m->graph.tensors[t].flags |= QFD_T_OUTPUT;
    add_vi(&m->graph.outputs, &m->graph.n_outputs)->tensor = t;
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx || qfd_graph_validate(ctx, &m->graph) != QFD_OK) {
        fprintf(stderr, "model_builder: invalid graph: %s\n", ctx ? qfd_ctx_error(ctx) : "out of memory");
        abort();
    }
    qfd_ctx_free(ctx);
}
