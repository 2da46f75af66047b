/* Gather (opsets 1-21): y[a.., j.., b..] = x[a.., idx[j..], b..] on axis
 * (default 0, negative from 11); a negative index counts from the end.
 * y.dims = x.dims[:axis] ++ idx.dims ++ x.dims[axis+1:]. Indices are int32
 * or int64; data of any whole-byte type is moved by bytes. An index out of
 * range fails (in infer when the indices are known, else in forward). One
 * known index on an outermost axis selects a contiguous run, which
 * inference shares instead of copying (view()).
 * Backward: dx[a.., idx[j..], b..] += dy[a.., j.., b..], a scatter-ADD:
 * a repeated index accumulates every dy it picked. The indices get no
 * gradient. Threads split dx by outer index and by column blocks of the
 * inner run, never by j, so that two threads never add to one element.
 */
#include <string.h>

#include "ops/op.h"

static int get_axis(const qfd_op_ctx *oc, int rank)
{
    return qfd_norm_axis(qfd_attr_int(oc->node, "axis", 0), rank);
}

static int64_t index_at(const qfd_array *idx, int64_t j)
{
    return idx->dtype == QFD_DT_INT64 ? ((const int64_t *)idx->data)[j] : ((const int32_t *)idx->data)[j];
}

/* Checks every index against dim d; returns the first bad one's position or -1. */
static int64_t first_bad(const qfd_array *idx, int64_t n, int64_t d)
{
    for (int64_t j = 0; j < n; j++) {
        int64_t v = index_at(idx, j);
        if (v < -d || v >= d)
            return j;
    }
    return -1;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *idx = qfd_op_in(oc, 1);
    if (!x || !idx || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs data, indices and one output");
    int axis = get_axis(oc, x->rank);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d",
                           (long long)qfd_attr_int(oc->node, "axis", 0), x->rank);
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (idx->dtype != QFD_DT_INT64 && idx->dtype != QFD_DT_INT32)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "indices must be int32 or int64, got type %d", idx->dtype);
    int r = x->rank - 1 + idx->rank;
    if (r > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output rank %d is not supported", r);
    int64_t n = qfd_array_numel(idx), bad;
    if (idx->data && n > 0 && (bad = first_bad(idx, n, x->dims[axis])) >= 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "index %lld is out of range for dimension %lld",
                           (long long)index_at(idx, bad), (long long)x->dims[axis]);
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = r;
    int k = 0;
    for (int i = 0; i < axis; i++)
        y->dims[k++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        y->dims[k++] = idx->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        y->dims[k++] = x->dims[i];
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    qfd_array *y = oc->out[0];
    int axis = get_axis(oc, x->rank);
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8, inner = es;
    int64_t outer = 1, d = x->dims[axis], n = qfd_array_numel(idx);
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= (size_t)x->dims[i];
    }
    if (n <= 0 || outer <= 0 || !inner)
        return QFD_OK;
    int64_t bad = first_bad(idx, n, d);
    if (bad >= 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "index %lld is out of range for dimension %lld",
                           (long long)index_at(idx, bad), (long long)d);
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    int nt = oc->n_threads;
    int64_t total = outer * n;
#pragma omp parallel for num_threads(nt) if ((size_t)total * inner > 262144)
    for (int64_t t = 0; t < total; t++) {
        int64_t o = t / n, j = t % n, v = index_at(idx, j);
        if (v < 0)
            v += d;
        memcpy(yd + (size_t)t * inner, xd + ((size_t)(o * d + v)) * inner, inner);
    }
    return QFD_OK;
}

/* One known index with nothing outside the axis (ViT's q, k, v = qkv[0],
 * qkv[1], qkv[2]): y is a contiguous run of x. */
static bool view(const qfd_op_ctx *oc, size_t *offset)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    int axis = get_axis(oc, x->rank);
    if (axis < 0 || !idx->data || qfd_array_numel(idx) != 1)
        return false;
    size_t inner = (size_t)qfd_dtype_bits(x->dtype) / 8;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis && x->dims[i] != 1)
            return false;
        if (i > axis)
            inner *= (size_t)x->dims[i];
    }
    int64_t d = x->dims[axis], v = index_at(idx, 0);
    if (v < -d || v >= d)
        return false; /* forward reports it */
    *offset = (size_t)(v < 0 ? v + d : v) * inner;
    return true;
}

#define COL_BLOCK 256 /* inner floats per backward task */

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    int axis = get_axis(oc, x->rank);
    int64_t outer = 1, inner = 1, d = x->dims[axis], n = qfd_array_numel(idx);
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= x->dims[i];
    }
    if (n <= 0 || outer <= 0 || inner <= 0)
        return QFD_OK;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    int64_t nblk = (inner + COL_BLOCK - 1) / COL_BLOCK, tasks = outer * nblk;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (outer * n * inner > 65536 && tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / nblk, c0 = t % nblk * COL_BLOCK;
        int64_t c1 = c0 + COL_BLOCK < inner ? c0 + COL_BLOCK : inner;
        for (int64_t j = 0; j < n; j++) {
            int64_t v = index_at(idx, j);
            if (v < 0)
                v += d; /* forward checked the range */
            float *xr = dx + (o * d + v) * inner;
            const float *yr = dy + (o * n + j) * inner;
            for (int64_t c = c0; c < c1; c++)
                xr[c] += yr[c];
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_gather = {
    .name = "Gather",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_WEIGHT}, /* an embedding table */

    .infer = infer,
    .forward = forward,
    .view = view,
    .backward = backward,
    .backward_reads = qfd_reads_all_but_x,
};
