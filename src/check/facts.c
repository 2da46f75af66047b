/* What the rules ask of a graph: who produces and who reads a tensor, which
 * tensors are constants, element types (the quantized type of a Q/DQ
 * follows from its zero point, its output_dtype or its input), and integer
 * or float elements of constants in any width. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "core/ctx.h"
#include "ir/edit.h"

static bool domain_is(const qfd_node *n, const char *domain)
{
    const char *d = n->domain ? n->domain : "";
    if (!*domain)
        return !*d || !strcmp(d, "ai.onnx");
    return !strcmp(d, domain);
}

bool chk_is(const qfd_node *n, const char *op)
{
    return n->op_type && !strcmp(n->op_type, op) && domain_is(n, "");
}

bool chk_is_ms(const qfd_node *n, const char *op)
{
    return n->op_type && !strcmp(n->op_type, op) && domain_is(n, "com.microsoft");
}

bool chk_qdq_arity(const qfd_node *n)
{
    return n->n_in >= 2 && n->in[0] >= 0 && n->in[1] >= 0 && n->n_out >= 1 && n->out[0] >= 0;
}

/* Only a Q or DQ with its data, scale and output counts as one: the rules
 * read those without looking again; a malformed one is QDQ001's. */
bool chk_is_q(const qfd_node *n)
{
    return (chk_is(n, "QuantizeLinear") || chk_is_ms(n, "QuantizeLinear")) && chk_qdq_arity(n);
}

bool chk_is_dq(const qfd_node *n)
{
    return (chk_is(n, "DequantizeLinear") || chk_is_ms(n, "DequantizeLinear")) && chk_qdq_arity(n);
}

bool chk_is_layer(const qfd_node *n)
{
    return chk_is(n, "Conv") || chk_is(n, "ConvTranspose") || chk_is(n, "Gemm") || chk_is(n, "MatMul");
}

bool chk_is_int_layer(const qfd_node *n)
{
    static const char *const onnx[] = {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"};
    static const char *const ms[] = {"QLinearConv", "QGemm",         "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                                     "MatMulNBits", "QAttention",    "QLinearConvTranspose", "MatMulInteger16",
                                     "MatMulBnb4",  "QOrderedMatMul"};
    for (size_t i = 0; i < sizeof onnx / sizeof *onnx; i++)
        if (chk_is(n, onnx[i]))
            return true;
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        if (chk_is_ms(n, ms[i]))
            return true;
    return false;
}

const qfd_node *chk_producer(const qfd_checker *c, int t)
{
    return t >= 0 && c->g->tensors[t].producer >= 0 ? &c->g->nodes[c->g->tensors[t].producer] : NULL;
}

const qfd_node *chk_dq_of(const qfd_checker *c, int t)
{
    const qfd_node *p = chk_producer(c, t);
    return p && chk_is_dq(p) ? p : NULL;
}

const chk_edge *chk_readers(const qfd_checker *c, int t, int *n_out)
{
    *n_out = c->edge_at[t + 1] - c->edge_at[t];
    return c->edges + c->edge_at[t];
}

bool chk_is_output(const qfd_checker *c, int t)
{
    return (c->g->tensors[t].flags & QFD_T_OUTPUT) != 0;
}

const qfd_tensor *chk_const(const qfd_checker *c, int t)
{
    if (t < 0)
        return NULL;
    const qfd_tensor *x = &c->g->tensors[t];
    if ((x->flags & QFD_T_INITIALIZER) && !(x->flags & QFD_T_INPUT))
        return x->has_dtype ? x : NULL;
    const qfd_node *p = chk_producer(c, t);
    if (p && chk_is(p, "Constant")) {
        const qfd_attr *a = qfd_attr_get(p, "value");
        if (a && a->t && a->t->has_dtype)
            return a->t;
    }
    return NULL;
}

bool chk_const_derived(qfd_checker *c, int t)
{
    return t >= 0 && c->constant[t] == 1;
}

bool chk_type_range(int32_t dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case QFD_DT_UINT8: *lo = 0, *hi = 255; return true;
    case QFD_DT_INT8: *lo = -128, *hi = 127; return true;
    case QFD_DT_UINT16: *lo = 0, *hi = 65535; return true;
    case QFD_DT_INT16: *lo = -32768, *hi = 32767; return true;
    case QFD_DT_UINT4: *lo = 0, *hi = 15; return true;
    case QFD_DT_INT4: *lo = -8, *hi = 7; return true;
    case QFD_DT_INT32: *lo = INT32_MIN, *hi = INT32_MAX; return true;
    default: return false;
    }
}

const char *chk_type_name(int32_t dt)
{
    const char *s = qfd_dtype_name(dt);
    return s ? s : "an unknown type";
}

/* Whether t holds bytes for element i of its type. */
static bool has_elem(const qfd_tensor *t, int64_t i)
{
    int ok = 1;
    int64_t n = qfd_tensor_numel(t);
    size_t need = qfd_dtype_nbytes(t->dtype, n, &ok);
    return ok && i >= 0 && i < n && t->data && t->nbytes >= need;
}

bool chk_int_at(const qfd_tensor *t, int64_t i, int64_t *v)
{
    if (!has_elem(t, i))
        return false;
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case QFD_DT_UINT8: *v = p[i]; return true;
    case QFD_DT_INT8: *v = (int8_t)p[i]; return true;
    case QFD_DT_BOOL: *v = p[i] != 0; return true;
    case QFD_DT_UINT16: {
        uint16_t x;
        memcpy(&x, p + 2 * i, 2);
        *v = x;
        return true;
    }
    case QFD_DT_INT16: {
        int16_t x;
        memcpy(&x, p + 2 * i, 2);
        *v = x;
        return true;
    }
    case QFD_DT_INT32: {
        int32_t x;
        memcpy(&x, p + 4 * i, 4);
        *v = x;
        return true;
    }
    case QFD_DT_UINT32: {
        uint32_t x;
        memcpy(&x, p + 4 * i, 4);
        *v = x;
        return true;
    }
    case QFD_DT_INT64:
    case QFD_DT_UINT64: memcpy(v, p + 8 * i, 8); return true;
    case QFD_DT_UINT4: *v = (p[i >> 1] >> ((i & 1) * 4)) & 15; return true;
    case QFD_DT_INT4: {
        int64_t x = (p[i >> 1] >> ((i & 1) * 4)) & 15;
        *v = x >= 8 ? x - 16 : x;
        return true;
    }
    default: return false;
    }
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double s = h >> 15 ? -1.0 : 1.0;
    if (e == 31)
        return m ? NAN : s * INFINITY;
    if (!e)
        return s * ldexp(m, -24);
    return s * ldexp(m + 1024, e - 25);
}

bool chk_float_at(const qfd_tensor *t, int64_t i, double *v)
{
    if (!has_elem(t, i))
        return false;
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case QFD_DT_FLOAT: {
        float x;
        memcpy(&x, p + 4 * i, 4);
        *v = x;
        return true;
    }
    case QFD_DT_DOUBLE: memcpy(v, p + 8 * i, 8); return true;
    case QFD_DT_FLOAT16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        *v = half_to_double(h);
        return true;
    }
    case QFD_DT_BFLOAT16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        float x;
        memcpy(&x, &bits, 4);
        *v = x;
        return true;
    }
    default: return false;
    }
}

/* Ops that move, select or reshape elements without computing on them: an
 * integer tensor stays the same integers through them. */
static bool moves_only(const qfd_node *n)
{
    static const char *const ops[] = {"Transpose", "Reshape",      "Flatten",     "Squeeze", "Unsqueeze",
                                      "Identity",  "Gather",       "Slice",       "Expand",  "Tile",
                                      "Split",     "DepthToSpace", "SpaceToDepth"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (chk_is(n, ops[i]))
            return true;
    return false;
}

int chk_q_source(const qfd_checker *c, int t)
{
    for (int hops = 0; hops < 64 && t >= 0; hops++) {
        const qfd_node *p = chk_producer(c, t);
        if (!p)
            return -1;
        if (chk_is_q(p))
            return c->g->tensors[t].producer;
        if (!moves_only(p) || p->n_in < 1)
            return -1;
        t = p->in[0];
    }
    return -1;
}

int chk_dq_through(const qfd_checker *c, int t)
{
    for (int hops = 0; hops < 16 && t >= 0; hops++) {
        const qfd_node *p = chk_producer(c, t);
        if (!p)
            return -1;
        if (chk_is_dq(p))
            return c->g->tensors[t].producer;
        if (!(chk_is(p, "Transpose") || chk_is(p, "Reshape") || chk_is(p, "Flatten") || chk_is(p, "Squeeze") ||
              chk_is(p, "Unsqueeze") || chk_is(p, "Identity")) ||
            p->n_in < 1)
            return -1;
        t = p->in[0];
    }
    return -1;
}

bool chk_moves_only(const qfd_node *n)
{
    return moves_only(n);
}

int chk_shape(const qfd_checker *c, int t, int64_t *dims, int cap)
{
    const qfd_tensor *k = chk_const(c, t);
    if (k) {
        if (k->rank > cap)
            return -1;
        memcpy(dims, k->dims, (size_t)k->rank * sizeof *dims);
        return k->rank;
    }
    const qfd_graph *g = c->g;
    const qfd_value_info *lists[3] = {g->inputs, g->outputs, g->value_infos};
    size_t counts[3] = {g->n_inputs, g->n_outputs, g->n_value_infos};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const qfd_value_info *v = &lists[l][i];
            if (v->tensor != t || !v->has_type || v->type.kind != QFD_TYPE_TENSOR || !v->type.has_shape ||
                v->type.rank > cap)
                continue;
            for (int d = 0; d < v->type.rank; d++) {
                if (v->type.dims[d].kind != QFD_DIM_VALUE)
                    return -1;
                dims[d] = v->type.dims[d].value;
            }
            return v->type.rank;
        }
    return -1;
}

void chk_qparams(const qfd_checker *c, int i, chk_qp *q)
{
    const qfd_node *n = &c->g->nodes[i];
    memset(q, 0, sizeof *q);
    q->node = i;
    q->data = n->n_in > 0 ? n->in[0] : -1;
    q->scale = n->n_in > 1 ? n->in[1] : -1;
    q->zp = n->n_in > 2 ? n->in[2] : -1;
    q->scale_c = chk_const(c, q->scale);
    q->zp_c = chk_const(c, q->zp);
    q->per_axis = q->scale_c && qfd_tensor_numel(q->scale_c) > 1;
    int64_t sd[8];
    if (!q->scale_c && q->scale >= 0 && chk_shape(c, q->scale, sd, 8) == 1 && sd[0] > 1)
        q->per_axis = true; /* a scale given at run time, declared 1-D */
    q->axis = qfd_attr_int(n, "axis", 1);
    q->block = qfd_attr_int(n, "block_size", 0);
    if (chk_is_q(n))
        q->qtype = q->zp >= 0 ? c->etype[q->zp] : (int32_t)qfd_attr_int(n, "output_dtype", QFD_DT_UINT8);
    else
        q->qtype = q->data >= 0 && c->etype[q->data] ? c->etype[q->data] : q->zp >= 0 ? c->etype[q->zp] : 0;
}

const char *chk_label(const qfd_checker *c, int node, char *buf, size_t cap)
{
    return qfd_node_label(&c->g->nodes[node], (size_t)node, buf, cap);
}

/* Element types of node outputs, in topological order. */
static void infer_types(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].has_dtype)
            c->etype[i] = g->tensors[i].dtype;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        int32_t t = 0;
        if (n->n_out < 1 || n->out[0] < 0 || c->etype[n->out[0]])
            continue;
        if (chk_is_q(n)) {
            int zp = n->n_in > 2 ? n->in[2] : -1;
            t = zp >= 0 ? c->etype[zp] : (int32_t)qfd_attr_int(n, "output_dtype", QFD_DT_UINT8);
        } else if (chk_is_dq(n)) {
            t = n->n_in > 1 && n->in[1] >= 0 && c->etype[n->in[1]] ? c->etype[n->in[1]] : QFD_DT_FLOAT;
        } else if (chk_is(n, "DynamicQuantizeLinear")) {
            t = QFD_DT_UINT8;
            if (n->n_out > 1 && n->out[1] >= 0)
                c->etype[n->out[1]] = QFD_DT_FLOAT;
            if (n->n_out > 2 && n->out[2] >= 0)
                c->etype[n->out[2]] = QFD_DT_UINT8;
        } else if (chk_is(n, "Cast")) {
            t = (int32_t)qfd_attr_int(n, "to", 0);
        } else if (chk_is(n, "Constant")) {
            const qfd_attr *a = qfd_attr_get(n, "value");
            t = a && a->t && a->t->has_dtype ? a->t->dtype : 0;
        } else if (chk_is(n, "Shape") || chk_is(n, "Size")) {
            t = QFD_DT_INT64;
        } else if (chk_is(n, "MatMulInteger") || chk_is(n, "ConvInteger")) {
            t = QFD_DT_INT32;
        } else if (chk_is(n, "QLinearConv") || chk_is(n, "QLinearMatMul")) {
            t = n->n_in > 7 && n->in[7] >= 0 ? c->etype[n->in[7]] : 0;
        } else if ((moves_only(n) || chk_is(n, "Concat") || chk_is(n, "MaxPool")) && n->n_in > 0 && n->in[0] >= 0) {
            t = c->etype[n->in[0]];
        }
        c->etype[n->out[0]] = t;
    }
    /* value_info, inputs, outputs fill what the nodes left unknown */
    const qfd_value_info *lists[3] = {g->inputs, g->outputs, g->value_infos};
    size_t counts[3] = {g->n_inputs, g->n_outputs, g->n_value_infos};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const qfd_value_info *v = &lists[l][i];
            if (v->tensor >= 0 && v->has_type && v->type.kind == QFD_TYPE_TENSOR && v->type.has_elem_type &&
                !c->etype[v->tensor])
                c->etype[v->tensor] = v->type.elem_type;
        }
}

/* Which tensors are computed from constants only. */
static void find_constants(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    static const char *const random_ops[] = {"RandomNormal",      "RandomUniform", "RandomNormalLike",
                                             "RandomUniformLike", "Multinomial",   "Bernoulli"};
    for (size_t i = 0; i < g->n_tensors; i++)
        c->constant[i] = chk_const(c, (int)i) ? 1 : 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        bool yes = n->n_in > 0 && !chk_is(n, "Constant");
        for (size_t k = 0; k < n->n_in && yes; k++)
            yes = n->in[k] < 0 || c->constant[n->in[k]] == 1;
        for (size_t k = 0; k < sizeof random_ops / sizeof *random_ops && yes; k++)
            yes = !chk_is(n, random_ops[k]);
        for (size_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && yes)
                c->constant[n->out[k]] = 1;
    }
}

qfd_status chk_facts_init(qfd_checker *c)
{
    const qfd_graph *g = c->g;
    size_t n_edges = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        n_edges += g->nodes[i].n_in;
    c->edge_at = calloc(g->n_tensors + 2, sizeof *c->edge_at);
    c->edges = malloc((n_edges + 1) * sizeof *c->edges);
    c->etype = calloc(g->n_tensors + 1, sizeof *c->etype);
    c->constant = calloc(g->n_tensors + 1, sizeof *c->constant);
    if (!c->edge_at || !c->edges || !c->etype || !c->constant)
        return qfd_fail(c->ctx, QFD_ERR_NOMEM, "out of memory");
    /* counting sort of (tensor, node, slot) by tensor, node order kept */
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                c->edge_at[g->nodes[i].in[k] + 2]++;
    for (size_t t = 0; t < g->n_tensors; t++)
        c->edge_at[t + 2] += c->edge_at[t + 1];
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++) {
            int t = g->nodes[i].in[k];
            if (t >= 0)
                c->edges[c->edge_at[t + 1]++] = (chk_edge){(int)i, (int)k};
        }
    infer_types(c);
    find_constants(c);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        c->has_qdq |= chk_is_q(n) || chk_is_dq(n);
        c->has_qop |= chk_is(n, "QLinearConv") || chk_is(n, "QLinearMatMul") ||
                      (n->op_type && !strncmp(n->op_type, "QLinear", 7) && domain_is(n, "com.microsoft")) ||
                      chk_is_ms(n, "QGemm");
        c->has_dynamic |= chk_is(n, "DynamicQuantizeLinear") || chk_is(n, "MatMulInteger") ||
                          chk_is(n, "ConvInteger") || chk_is_ms(n, "DynamicQuantizeMatMul") ||
                          chk_is_ms(n, "MatMulIntegerToFloat");
    }
    return QFD_OK;
}

void chk_facts_free(qfd_checker *c)
{
    free(c->edges);
    free(c->edge_at);
    free(c->etype);
    free(c->constant);
}
