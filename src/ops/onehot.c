/* OneHot (opsets 9-21): y has indices' shape with a new axis of size depth
 * inserted at `axis` (default -1, counted in y's rank); y is values[1]
 * where that coordinate equals the index (a negative index counts from
 * depth: [-depth, depth - 1]) and values[0] elsewhere, so an index out of
 * range gives a row of values[0]. indices and depth may be any numeric
 * type; a fractional index equals no position, so its row is values[0]
 * too (ONNX's reference compares it with arange(depth); ONNX Runtime
 * agrees); depth, truncated, is a
 * one-element tensor known when the model is planned; values has two
 * elements of any whole-byte type, which y takes. No gradient: the
 * exports that use it build masks and labels from integer data. */
#include <math.h>
#include <string.h>

#include "ops/op.h"

static int read_number(const qfd_array *a, int64_t i, double *v)
{
    switch (a->dtype) {
#define X(code, T) \
    case QFD_DT_##code: *v = (double)((const T *)a->data)[i]; return 1;
        QFD_NUMERIC_TYPES(X)
#undef X
    default: return 0;
    }
}

static int get_axis(const qfd_op_ctx *oc, int in_rank)
{
    return qfd_norm_axis(qfd_attr_int(oc->node, "axis", -1), in_rank + 1);
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *idx = qfd_op_in(oc, 0), *dep = qfd_op_in(oc, 1), *val = qfd_op_in(oc, 2);
    if (!idx || !dep || !val || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs indices, depth, values and one output");
    double d;
    if (!dep->data || qfd_array_numel(dep) != 1 || !read_number(dep, 0, &d))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "depth must be one number known when the model is planned");
    if (!(d >= 1 && d < 1e15))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "depth %g must be positive", d);
    int numeric = 0;
#define X(code, T) numeric |= idx->dtype == QFD_DT_##code;
    QFD_NUMERIC_TYPES(X)
#undef X
    if (!numeric)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "indices of type %s are not supported",
                           qfd_dtype_name(idx->dtype) ? qfd_dtype_name(idx->dtype) : "?");
    int bits = qfd_dtype_bits(val->dtype);
    if (qfd_array_numel(val) != 2 || bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "values must hold two elements [off, on]");
    if (idx->rank + 1 > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output rank %d is not supported", idx->rank + 1);
    int axis = get_axis(oc, idx->rank);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for output rank %d",
                           (long long)qfd_attr_int(oc->node, "axis", -1), idx->rank + 1);
    qfd_array *y = oc->out[0];
    y->dtype = val->dtype;
    y->rank = idx->rank + 1;
    for (int i = 0, j = 0; i < y->rank; i++)
        y->dims[i] = i == axis ? (int64_t)d : idx->dims[j++];
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *idx = oc->in[0], *val = oc->in[2];
    qfd_array *y = oc->out[0];
    int axis = get_axis(oc, idx->rank);
    int64_t depth = y->dims[axis], outer = 1, inner = 1;
    for (int i = 0; i < idx->rank; i++) {
        if (i < axis)
            outer *= idx->dims[i];
        else
            inner *= idx->dims[i];
    }
    size_t es = (size_t)qfd_dtype_bits(val->dtype) / 8;
    const uint8_t *off = val->data, *on = off + es;
    uint8_t *yd = y->data;
    int64_t total = qfd_array_numel(y);
    for (int64_t i = 0; i < total; i++)
        memcpy(yd + (size_t)i * es, off, es);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < inner; c++) {
            double v = -INFINITY;
            read_number(idx, o * inner + c, &v);
            if (!(v >= -(double)depth && v < (double)depth) || v != floor(v))
                continue;
            int64_t h = (int64_t)v;
            if (h < 0)
                h += depth;
            memcpy(yd + (size_t)((o * depth + h) * inner + c) * es, on, es);
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_onehot = {
    .name = "OneHot",
    .domain = "",
    .since = 9,
    .value_inputs = 2u,
    .infer = infer,
    .forward = forward,
};
