/* CumSum (opsets 11-21): y = running sum of x along axis (a one-element
 * int32/int64 input known when the model is planned); exclusive = 1 leaves
 * out the element itself (y starts at 0), reverse = 1 sums from the end.
 * Float, double, int32, int64 (integers wrap).
 * Backward: dx = the same running sum of dy taken in the other direction
 * (reverse flipped, exclusive kept): y_i depends on x_j for j <= i, so
 * dx_j = sum over i >= j of dy_i. */
#include "ops/op.h"

static qfd_status get_axis(qfd_op_ctx *oc, int *axis)
{
    int64_t a, n;
    qfd_status st = qfd_shape_known_ints(oc, qfd_op_in(oc, 1), "axis", &a, 1, &n);
    if (st)
        return st;
    *axis = n == 1 ? qfd_norm_axis(a, oc->in[0]->rank) : -1;
    if (*axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, oc->in[0]->rank);
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || !qfd_op_in(oc, 1) || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs x, axis and one output");
    if (x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE && x->dtype != QFD_DT_INT32 && x->dtype != QFD_DT_INT64)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    if (x->rank < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input must have rank >= 1");
    int axis;
    qfd_status st = get_axis(oc, &axis);
    if (st)
        return st;
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

/* Running sum of src into dst (both outer x d x inner) along the middle
 * axis; accumulate adds into dst instead of writing. The sum is kept in
 * ACC: unsigned for the integers, so that an overflow wraps instead of
 * being undefined. */
#define SCAN(T, ACC)                                                                                       \
    static void scan_##T(T *dst, const T *src, int64_t outer, int64_t d, int64_t inner, int excl, int rev, \
                         int accumulate)                                                                   \
    {                                                                                                      \
        for (int64_t o = 0; o < outer; o++)                                                                \
            for (int64_t c = 0; c < inner; c++) {                                                          \
                ACC s = 0;                                                                                 \
                for (int64_t t = 0; t < d; t++) {                                                          \
                    int64_t j = rev ? d - 1 - t : t, at = (o * d + j) * inner + c;                         \
                    T v = src[at];                                                                         \
                    if (!excl)                                                                             \
                        s = (ACC)(s + v);                                                                  \
                    dst[at] = accumulate ? (T)(dst[at] + (T)s) : (T)s;                                     \
                    if (excl)                                                                              \
                        s = (ACC)(s + v);                                                                  \
                }                                                                                          \
            }                                                                                              \
    }
SCAN(float, float)
SCAN(double, double)
SCAN(int32_t, uint32_t)
SCAN(int64_t, uint64_t)

static void split(const qfd_array *x, int axis, int64_t *outer, int64_t *d, int64_t *inner)
{
    *outer = *inner = 1;
    *d = x->dims[axis];
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            *outer *= x->dims[i];
        else if (i > axis)
            *inner *= x->dims[i];
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    int axis;
    qfd_status st = get_axis(oc, &axis);
    if (st)
        return st;
    int64_t outer, d, inner;
    split(x, axis, &outer, &d, &inner);
    int excl = qfd_attr_int(oc->node, "exclusive", 0) != 0, rev = qfd_attr_int(oc->node, "reverse", 0) != 0;
    void *y = oc->out[0]->data;
    switch (x->dtype) {
    case QFD_DT_FLOAT: scan_float(y, x->data, outer, d, inner, excl, rev, 0); break;
    case QFD_DT_DOUBLE: scan_double(y, x->data, outer, d, inner, excl, rev, 0); break;
    case QFD_DT_INT32: scan_int32_t(y, x->data, outer, d, inner, excl, rev, 0); break;
    default: scan_int64_t(y, x->data, outer, d, inner, excl, rev, 0); break;
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    int axis;
    qfd_status st = get_axis(oc, &axis);
    if (st)
        return st;
    int64_t outer, d, inner;
    split(oc->in[0], axis, &outer, &d, &inner);
    int excl = qfd_attr_int(oc->node, "exclusive", 0) != 0, rev = qfd_attr_int(oc->node, "reverse", 0) != 0;
    scan_float(oc->gin[0]->data, oc->gout[0]->data, outer, d, inner, excl, !rev, 1);
    return QFD_OK;
}

const qfd_op_def qfd_op_cumsum = {
    .name = "CumSum",
    .domain = "",
    .since = 11,
    .value_inputs = 2u,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
