#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/op.h"

qfd_status qfd_op_fail(const qfd_op_ctx *oc, qfd_status st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char label[256];
    return qfd_fail(oc->ctx, st, "node %s: %s", qfd_node_label(oc->node, oc->node_index, label, sizeof label), msg);
}

uint32_t qfd_reads_nothing(const qfd_op_ctx *oc)
{
    (void)oc;
    return 0;
}

uint32_t qfd_reads_inputs(const qfd_op_ctx *oc)
{
    (void)oc;
    return QFD_READS_INPUTS;
}

uint32_t qfd_reads_all_but_x(const qfd_op_ctx *oc)
{
    (void)oc;
    return QFD_READS_INPUTS & ~QFD_READS_IN(0);
}

uint32_t qfd_reads_product(const qfd_op_ctx *oc)
{
    const bool g0 = oc->n_in > 0 && oc->gin[0], g1 = oc->n_in > 1 && oc->gin[1];
    return (g1 ? QFD_READS_IN(0) : 0) | (g0 ? QFD_READS_IN(1) : 0);
}

qfd_status qfd_broadcast_shape(const qfd_op_ctx *oc, const qfd_array *a, const qfd_array *b, qfd_array *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "shapes do not broadcast: dimension %d is %lld vs %lld", i,
                               (long long)da, (long long)db);
        out->dims[i] = da == 1 ? db : da;
    }
    out->rank = r;
    return QFD_OK;
}

int qfd_norm_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

void qfd_array_like(qfd_array *out, const qfd_array *in)
{
    out->dtype = in->dtype;
    out->rank = in->rank;
    memcpy(out->dims, in->dims, sizeof out->dims);
}

int64_t qfd_array_read_ints(const qfd_array *a, int64_t *dst, int64_t cap)
{
    int64_t n = qfd_array_numel(a);
    if (n > cap)
        n = cap;
    if (a->dtype == QFD_DT_INT64)
        memcpy(dst, a->data, (size_t)n * sizeof *dst);
    else if (a->dtype == QFD_DT_INT32)
        for (int64_t i = 0; i < n; i++)
            dst[i] = ((const int32_t *)a->data)[i];
    else
        return -1;
    return n;
}

qfd_status qfd_shape_known_ints(const qfd_op_ctx *oc, const qfd_array *a, const char *what, int64_t *dst, int64_t cap,
                                int64_t *n)
{
    *n = qfd_array_numel(a);
    if (*n < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "bad %s tensor", what);
    if (a->dtype != QFD_DT_INT64 && a->dtype != QFD_DT_INT32)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s must be int64 or int32, got type %d", what, a->dtype);
    if (a->rank > 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s must be 1-D, got rank %d", what, a->rank);
    if (*n > 0 && !a->data)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED,
                           "%s input must be known when the model is planned (data-dependent shapes are not "
                           "supported)",
                           what);
    if (*n > cap)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s has %lld values; at most %lld are supported", what,
                           (long long)*n, (long long)cap);
    if (*n)
        qfd_array_read_ints(a, dst, cap);
    return QFD_OK;
}
