/* Constant (opsets 1-21): y = the node's value, from one attribute:
 * value (a tensor), or from opset 12 value_float / value_int (scalars),
 * value_floats / value_ints (1-D). value_string(s) and sparse_value are
 * not supported.
 * ConstantOfShape (opsets 9-21): y has dims = the shape input (known when
 * the model is planned; an empty shape gives a scalar), every element the
 * one element of the value attribute (default float 0).
 */
#include <string.h>

#include "ops/op.h"

/* The value of Constant as dtype/dims/bytes, or a failure. */
typedef struct cval {
    int32_t dtype;
    int rank;
    int64_t dims[QFD_ARRAY_MAX_RANK];
    const void *data;
    size_t nbytes;
} cval;

static qfd_status tensor_value(const qfd_op_ctx *oc, const qfd_tensor *t, const char *what, cval *v)
{
    if (!t)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute %s has no tensor", what);
    if (t->dtype == QFD_DT_STRING || qfd_dtype_bits(t->dtype) <= 0)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s of type %d is not supported", what, t->dtype);
    if (t->rank < 0 || t->rank > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s of rank %d is not supported", what, t->rank);
    v->dtype = t->dtype;
    v->rank = t->rank;
    if (t->rank)
        memcpy(v->dims, t->dims, (size_t)t->rank * sizeof *t->dims);
    int ok = 0;
    int64_t numel = qfd_tensor_numel(t);
    v->nbytes = qfd_dtype_nbytes(t->dtype, numel, &ok);
    if (!ok || t->nbytes != v->nbytes || (v->nbytes && !t->data))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s holds %zu bytes, its shape needs %zu", what, t->nbytes, v->nbytes);
    v->data = t->data;
    return QFD_OK;
}

static qfd_status constant_value(const qfd_op_ctx *oc, cval *v)
{
    static const char *const unsupported[] = {"value_string", "value_strings", "sparse_value"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (qfd_attr_get(oc->node, unsupported[i]))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "attribute %s is not supported", unsupported[i]);
    const qfd_attr *a;
    memset(v, 0, sizeof *v);
    if ((a = qfd_attr_get(oc->node, "value")))
        return tensor_value(oc, a->t, "value", v);
    if (oc->opset >= 12 && (a = qfd_attr_get(oc->node, "value_float"))) {
        *v = (cval){.dtype = QFD_DT_FLOAT, .rank = 0, .data = &a->f, .nbytes = sizeof a->f};
    } else if (oc->opset >= 12 && (a = qfd_attr_get(oc->node, "value_int"))) {
        *v = (cval){.dtype = QFD_DT_INT64, .rank = 0, .data = &a->i, .nbytes = sizeof a->i};
    } else if (oc->opset >= 12 && (a = qfd_attr_get(oc->node, "value_floats"))) {
        *v = (cval){.dtype = QFD_DT_FLOAT, .rank = 1, .data = a->floats, .nbytes = a->n_floats * sizeof(float)};
        v->dims[0] = (int64_t)a->n_floats;
    } else if (oc->opset >= 12 && (a = qfd_attr_get(oc->node, "value_ints"))) {
        *v = (cval){.dtype = QFD_DT_INT64, .rank = 1, .data = a->ints, .nbytes = a->n_ints * sizeof(int64_t)};
        v->dims[0] = (int64_t)a->n_ints;
    } else {
        return qfd_op_fail(oc, QFD_ERR_INVALID, "no value attribute");
    }
    return QFD_OK;
}

static qfd_status constant_infer(qfd_op_ctx *oc)
{
    if (oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing output");
    cval v;
    qfd_status st = constant_value(oc, &v);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = v.dtype;
    y->rank = v.rank;
    memcpy(y->dims, v.dims, sizeof y->dims);
    return QFD_OK;
}

static qfd_status constant_forward(qfd_op_ctx *oc)
{
    cval v;
    qfd_status st = constant_value(oc, &v);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    if (v.nbytes)
        memcpy(y->data, v.data, v.nbytes < y->nbytes ? v.nbytes : y->nbytes);
    return QFD_OK;
}

/* The fill element: the value attribute's single element, or float 0. */
static qfd_status fill_value(const qfd_op_ctx *oc, cval *v)
{
    static const float zero = 0.0f;
    const qfd_attr *a = qfd_attr_get(oc->node, "value");
    if (!a) {
        *v = (cval){.dtype = QFD_DT_FLOAT, .data = &zero, .nbytes = sizeof zero};
        return QFD_OK;
    }
    qfd_status st = tensor_value(oc, a->t, "value", v);
    if (st)
        return st;
    int bits = qfd_dtype_bits(v->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "value of type %d is not supported", v->dtype);
    if (qfd_tensor_numel(a->t) != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "value must hold one element");
    return QFD_OK;
}

static qfd_status cos_infer(qfd_op_ctx *oc)
{
    const qfd_array *sh = qfd_op_in(oc, 0);
    if (!sh || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs the shape input and one output");
    cval v;
    qfd_status st = fill_value(oc, &v);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    int64_t n;
    if ((st = qfd_shape_known_ints(oc, sh, "shape", y->dims, QFD_ARRAY_MAX_RANK, &n)))
        return st;
    for (int64_t i = 0; i < n; i++)
        if (y->dims[i] < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "shape[%lld] = %lld is negative", (long long)i,
                               (long long)y->dims[i]);
    y->rank = (int)n;
    y->dtype = v.dtype;
    return QFD_OK;
}

static qfd_status cos_forward(qfd_op_ctx *oc)
{
    cval v;
    qfd_status st = fill_value(oc, &v);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    int64_t numel = qfd_array_numel(y);
    uint8_t *yd = y->data;
    const uint8_t *b = v.data;
    size_t zero = 1;
    for (size_t k = 0; k < v.nbytes; k++)
        zero &= b[k] == 0;
    if (zero) { /* the common case (masks, padding): no per-element loop */
        memset(yd, 0, y->nbytes);
        return QFD_OK;
    }
    for (int64_t i = 0; i < numel; i++)
        memcpy(yd + (size_t)i * v.nbytes, b, v.nbytes);
    return QFD_OK;
}

const qfd_op_def qfd_op_constant = {
    .name = "Constant",
    .domain = "",
    .since = 1,
    .infer = constant_infer,
    .forward = constant_forward,
};

const qfd_op_def qfd_op_constant_of_shape = {
    .name = "ConstantOfShape",
    .domain = "",
    .since = 9,
    .value_inputs = 1u << 0,
    .infer = cos_infer,
    .forward = cos_forward,
};
