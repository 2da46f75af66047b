/* What `qfd-onnx info` reports, computed from the IR. All strings point into
 * the model, which must outlive the summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/ir.h"
#include "ir/model_info.h"
#include "passes/passes.h"
#include "quant/inspect.h"

static int cmp_ops(const void *pa, const void *pb)
{
    const qfd_op_count *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count < b->count ? 1 : -1;
    int d = strcmp(a->domain, b->domain);
    return d ? d : strcmp(a->op_type, b->op_type);
}

static const char *node_domain(const qfd_node *n)
{
    return n->domain ? n->domain : "";
}

static void fill_value(qfd_value_summary *out, const qfd_graph *g, const qfd_value_info *v)
{
    out->name = g->tensors[v->tensor].name;
    out->kind = "unknown";
    if (!v->has_type)
        return;
    if (v->type.kind == QFD_TYPE_OPAQUE) {
        out->kind = v->type.opaque_kind;
        return;
    }
    out->kind = "tensor";
    out->dtype = v->type.has_elem_type ? qfd_dtype_name(v->type.elem_type) : NULL;
    out->has_shape = v->type.has_shape;
    out->rank = v->type.rank;
}

static int count_subgraphs(const qfd_graph *g)
{
    int n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_attrs; k++)
            n += (g->nodes[i].attrs[k].g.present ? 1 : 0) + (int)g->nodes[i].attrs[k].n_graphs;
    return n;
}

/* The classifier feature, or none: a model without one is still a model
 * (no ctx, so that the search's message does not linger as an error). */
static void fill_feature(const qfd_model *m, qfd_model_summary *s, qfd_value_summary *v, qfd_dim_info *dims)
{
    qfd_feature f;
    if (qfd_pass_find_feature_info(NULL, m, NULL, &f))
        return;
    *v = (qfd_value_summary){
        m->graph.tensors[f.tensor].name, "tensor", f.dtype ? qfd_dtype_name(f.dtype) : NULL, f.rank >= 0,
        f.rank >= 0 ? f.rank : 0,        dims};
    for (int k = 0; k < v->rank; k++)
        dims[k] = f.dims[k];
    s->feature = v;
}

/* Format and per-layer bits of a quantized file; layer names of unnamed
 * nodes are written into names (LAYER_NAME bytes each). */
#define LAYER_NAME 48
static void fill_quant(const qfd_model *m, qfd_model_summary *s, qfd_qlayer_info *info_layers,
                       qfd_layer_summary *layers, char *names)
{
    const qfd_graph *g = &m->graph;
    qfd_quant_info qi = {.layers = info_layers};
    s->opset = qfd_model_opset(m, "");
    if (!s->n_qdq_nodes)
        return;
    qfd_quant_inspect(m, &qi);
    s->quant_format = qi.format;
    s->quant_format_inferred = !qi.format_from_metadata;
    for (size_t i = 0; i < qi.n_layers; i++) {
        const qfd_node *n = &g->nodes[qi.layers[i].node];
        qfd_layer_summary *L = &layers[i];
        char *nm = names + i * LAYER_NAME;
        snprintf(nm, LAYER_NAME, "%s#%d", n->op_type, qi.layers[i].node);
        *L = (qfd_layer_summary){n->name && *n->name ? n->name : nm, n->op_type, qi.layers[i].wbits,
                                 qi.layers[i].abits};
        s->n_layers_inferred += !qi.layers[i].from_metadata;
    }
    s->n_layers = qi.n_layers;
    s->layers = layers;
}

/* One allocation holds the summary and its arrays, so that free is trivial. */
qfd_status qfd_model_summarize(qfd_ctx *ctx, const qfd_model *m, qfd_model_summary **out)
{
    const qfd_graph *g = &m->graph;
    size_t ndims = 0;
    for (size_t i = 0; i < g->n_inputs; i++)
        ndims += g->inputs[i].has_type ? (size_t)g->inputs[i].type.rank : 0;
    for (size_t i = 0; i < g->n_outputs; i++)
        ndims += g->outputs[i].has_type ? (size_t)g->outputs[i].type.rank : 0;
    size_t size = sizeof(qfd_model_summary) + m->n_opsets * sizeof(qfd_opset_summary) +
                  (g->n_inputs + g->n_outputs) * sizeof(qfd_value_summary) + ndims * sizeof(qfd_dim_info) +
                  2 * m->n_metadata * sizeof(char *) + g->n_nodes * sizeof(qfd_op_count) +
                  QFD_DT_COUNT * sizeof(qfd_qtype_count) + sizeof(qfd_value_summary) +
                  QFD_ARRAY_MAX_RANK * sizeof(qfd_dim_info) +
                  g->n_nodes * (sizeof(qfd_qlayer_info) + sizeof(qfd_layer_summary) + LAYER_NAME);
    qfd_model_summary *s = calloc(1, size);
    if (!s)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    char *p = (char *)(s + 1);
#define TAKE(ptr, n) (ptr = (void *)p, p += (n) * sizeof *(ptr))
    qfd_opset_summary *opsets;
    qfd_value_summary *ins, *outs;
    qfd_dim_info *dims;
    const char **keys, **vals;
    qfd_op_count *ops;
    qfd_qtype_count *qt;
    qfd_value_summary *feature;
    qfd_dim_info *fdims;
    qfd_qlayer_info *qlayers;
    qfd_layer_summary *layers;
    char *names;
    TAKE(opsets, m->n_opsets);
    TAKE(ins, g->n_inputs);
    TAKE(outs, g->n_outputs);
    TAKE(dims, ndims);
    TAKE(keys, m->n_metadata);
    TAKE(vals, m->n_metadata);
    TAKE(ops, g->n_nodes);
    TAKE(qt, QFD_DT_COUNT);
    TAKE(feature, 1);
    TAKE(fdims, QFD_ARRAY_MAX_RANK);
    TAKE(qlayers, g->n_nodes);
    TAKE(layers, g->n_nodes);
    TAKE(names, g->n_nodes * LAYER_NAME);
#undef TAKE

    s->ir_version = m->ir_version;
    s->producer_name = m->producer_name;
    s->producer_version = m->producer_version;
    s->graph_name = g->name;
    for (size_t i = 0; i < m->n_opsets; i++)
        opsets[i] = (qfd_opset_summary){m->opsets[i].domain ? m->opsets[i].domain : "", m->opsets[i].version};
    s->n_opsets = m->n_opsets;
    s->opsets = opsets;

    for (size_t i = 0; i < g->n_inputs + g->n_outputs; i++) {
        const qfd_value_info *v = i < g->n_inputs ? &g->inputs[i] : &g->outputs[i - g->n_inputs];
        qfd_value_summary *vs = i < g->n_inputs ? &ins[i] : &outs[i - g->n_inputs];
        fill_value(vs, g, v);
        vs->dims = dims;
        for (int k = 0; k < vs->rank; k++, dims++) {
            const qfd_dim *d = &v->type.dims[k];
            dims->value = d->kind == QFD_DIM_VALUE ? d->value : -1;
            dims->param = d->kind == QFD_DIM_PARAM ? d->param : NULL;
        }
    }
    /* Inputs that are initializers (older exporters list them) are weights. */
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!(g->tensors[g->inputs[i].tensor].flags & QFD_T_INITIALIZER))
            ins[s->n_inputs++] = ins[i];
    s->n_outputs = g->n_outputs;
    s->inputs = ins;
    s->outputs = outs;

    for (size_t i = 0; i < m->n_metadata; i++) {
        keys[i] = m->metadata[i].key ? m->metadata[i].key : "";
        vals[i] = m->metadata[i].value ? m->metadata[i].value : "";
    }
    s->n_metadata = m->n_metadata;
    s->metadata_keys = keys;
    s->metadata_values = vals;

    s->n_nodes = (int64_t)g->n_nodes;
    int64_t qcount[QFD_DT_COUNT] = {0};
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        size_t k = 0;
        while (k < s->n_ops && (strcmp(ops[k].op_type, n->op_type) || strcmp(ops[k].domain, node_domain(n))))
            k++;
        if (k == s->n_ops)
            ops[s->n_ops++] = (qfd_op_count){node_domain(n), n->op_type, 0};
        ops[k].count++;
        int is_q = !strcmp(n->op_type, "QuantizeLinear"), is_dq = !strcmp(n->op_type, "DequantizeLinear");
        if ((is_q || is_dq) && !*node_domain(n)) {
            s->n_qdq_nodes++;
            int32_t dt = qfd_quant_qdq_type(g, n);
            if (dt > 0 && dt < QFD_DT_COUNT)
                qcount[dt]++;
        }
    }
    qsort(ops, s->n_ops, sizeof *ops, cmp_ops);
    s->ops = ops;
    for (int dt = 0; dt < QFD_DT_COUNT; dt++)
        if (qcount[dt])
            qt[s->n_qtypes++] = (qfd_qtype_count){qfd_dtype_name(dt), qfd_dtype_bits(dt), qcount[dt]};
    s->qtypes = qt;

    for (size_t i = 0; i < g->n_inits; i++) {
        const qfd_tensor *t = &g->tensors[g->inits[i]];
        s->n_params += qfd_tensor_numel(t);
        s->param_bytes += (int64_t)t->nbytes;
    }
    s->n_initializers = (int64_t)g->n_inits;
    s->n_subgraphs = count_subgraphs(g);
    fill_feature(m, s, feature, fdims);
    fill_quant(m, s, qlayers, layers, names);
    *out = s;
    return QFD_OK;
}

void qfd_model_summary_free(qfd_model_summary *s)
{
    free(s);
}
