/* Range (opsets 11-21): y[i] = start + i * delta for
 * i < max(ceil((limit - start) / delta), 0); start, limit and delta are
 * scalars of one type (float, double, int16, int32, int64). The count
 * sets the output's shape, so the three values must be known when the
 * model is planned (Swin's attention masks build them from shapes). A zero
 * delta fails rather than looping forever. No gradient: the output is a
 * constant for any shape. */
#include <math.h>

#include "ops/op.h"

/* Reads a scalar of any supported type as a double (exact for the integers
 * a shape holds). */
static int scalar(const qfd_array *a, double *v)
{
    if (!a->data || qfd_array_numel(a) != 1)
        return 0;
    switch (a->dtype) {
    case QFD_DT_FLOAT: *v = *(const float *)a->data; return 1;
    case QFD_DT_DOUBLE: *v = *(const double *)a->data; return 1;
    case QFD_DT_INT16: *v = *(const int16_t *)a->data; return 1;
    case QFD_DT_INT32: *v = *(const int32_t *)a->data; return 1;
    case QFD_DT_INT64: *v = (double)*(const int64_t *)a->data; return 1;
    default: return 0;
    }
}

/* The element count for integer inputs, computed in integers so that a
 * large int64 range is not rounded. */
static int64_t int_count(int64_t start, int64_t limit, int64_t delta)
{
    int64_t span;
    if (__builtin_sub_overflow(limit, start, &span) || delta == INT64_MIN)
        return -1;
    int64_t n = span / delta + (span % delta != 0 && ((span < 0) == (delta < 0)));
    return n > 0 ? n : 0;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *s = qfd_op_in(oc, 0), *l = qfd_op_in(oc, 1), *d = qfd_op_in(oc, 2);
    if (!s || !l || !d || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs start, limit, delta and one output");
    if (s->dtype != l->dtype || s->dtype != d->dtype)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "start, limit and delta have different types");
    double vs, vl, vd;
    if (!scalar(s, &vs) || !scalar(l, &vl) || !scalar(d, &vd))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED,
                           "start, limit and delta must be scalars of type float, double, int16, int32 or int64 known "
                           "when the model is planned");
    if (vd == 0 || vd != vd)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "delta must not be zero");
    int64_t n;
    if (s->dtype == QFD_DT_INT64) {
        n = int_count(*(const int64_t *)s->data, *(const int64_t *)l->data, *(const int64_t *)d->data);
        if (n < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "the range has too many elements");
    } else {
        double c = ceil((vl - vs) / vd);
        if (!(c < 9.2e18))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "the range has too many elements");
        n = c > 0 ? (int64_t)c : 0;
    }
    qfd_array *y = oc->out[0];
    y->dtype = s->dtype;
    y->rank = 1;
    y->dims[0] = n;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *s = oc->in[0], *d = oc->in[2];
    qfd_array *y = oc->out[0];
    int64_t n = y->dims[0];
    switch (y->dtype) {
    case QFD_DT_FLOAT: {
        float a = *(const float *)s->data, b = *(const float *)d->data, *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = a + (float)i * b;
        break;
    }
    case QFD_DT_DOUBLE: {
        double a = *(const double *)s->data, b = *(const double *)d->data, *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = a + (double)i * b;
        break;
    }
    case QFD_DT_INT16: {
        int16_t a = *(const int16_t *)s->data, b = *(const int16_t *)d->data, *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = (int16_t)(a + i * b);
        break;
    }
    case QFD_DT_INT32: {
        int32_t a = *(const int32_t *)s->data, b = *(const int32_t *)d->data, *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = (int32_t)(a + i * b);
        break;
    }
    default: {
        int64_t a = *(const int64_t *)s->data, b = *(const int64_t *)d->data, *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = (int64_t)((uint64_t)a + (uint64_t)i * (uint64_t)b); /* wraps, never UB */
    }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_range = {
    .name = "Range",
    .domain = "",
    .since = 11,
    .value_inputs = 7u,
    .infer = infer,
    .forward = forward,
};
