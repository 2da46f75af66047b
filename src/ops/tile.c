/* Tile (opsets 6-21): y = x repeated repeats[d] times along each axis d,
 * y.dims[d] = x.dims[d] * repeats[d]; y[i] = x[i mod x.dims] per axis. The
 * repeats (int64, one per axis, >= 0) must be known when the model is
 * planned. Any whole-byte element type, moved by bytes.
 *
 * Forward: each output row of the last axis is x's row (found from the
 * row's outer coordinates mod x's dims) copied repeats[last] times.
 * Backward: dx[i] += sum of dy over every copy of x[i]. One pass over dy
 * (the same coordinate walk), on one thread: copies of one x element are
 * spread over all of dy, so splitting dy would let threads add to one dx. */
#include <string.h>

#include "ops/op.h"

#define MAXR QFD_ARRAY_MAX_RANK

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *r = qfd_op_in(oc, 1);
    if (!x || !r || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input, repeats and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    int64_t rep[MAXR], n;
    qfd_status st = qfd_shape_known_ints(oc, r, "repeats", rep, MAXR, &n);
    if (st)
        return st;
    if (n != x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "repeats has %lld values for an input of rank %d", (long long)n,
                           x->rank);
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x);
    for (int d = 0; d < x->rank; d++) {
        if (rep[d] < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "repeats[%d] = %lld is negative", d, (long long)rep[d]);
        if (__builtin_mul_overflow(x->dims[d], rep[d], &y->dims[d]))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "output dimension %d overflows", d);
    }
    return QFD_OK;
}

/* Element offset in x of the first element of y's row `row` (the rows of
 * the last axis). */
static int64_t src_row(const qfd_array *x, const qfd_array *y, int64_t row)
{
    int64_t off = 0, stride = x->rank ? x->dims[x->rank - 1] : 1;
    for (int d = x->rank - 2; d >= 0; d--) {
        int64_t c = row % y->dims[d];
        row /= y->dims[d];
        off += (c % x->dims[d]) * stride;
        stride *= x->dims[d];
    }
    return off;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    if (qfd_array_numel(y) <= 0)
        return QFD_OK;
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    if (x->rank == 0) {
        memcpy(y->data, x->data, es);
        return QFD_OK;
    }
    int64_t xw = x->dims[x->rank - 1], yw = y->dims[y->rank - 1];
    int64_t rows = qfd_array_numel(y) / yw;
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (qfd_array_numel(y) > 262144)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = xd + (size_t)src_row(x, y, r) * es;
        uint8_t *dst = yd + (size_t)(r * yw) * es;
        for (int64_t c = 0; c < yw; c += xw)
            memcpy(dst + (size_t)c * es, src, (size_t)xw * es);
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0];
    const qfd_array *y = oc->out[0];
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    if (qfd_array_numel(y) <= 0)
        return QFD_OK;
    if (x->rank == 0) {
        dx[0] += dy[0];
        return QFD_OK;
    }
    int64_t xw = x->dims[x->rank - 1], yw = y->dims[y->rank - 1];
    int64_t rows = qfd_array_numel(y) / yw;
    for (int64_t r = 0; r < rows; r++) {
        float *g = dx + src_row(x, y, r);
        const float *s = dy + r * yw;
        for (int64_t c = 0; c < yw; c += xw)
            for (int64_t i = 0; i < xw; i++)
                g[i] += s[c + i];
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_tile = {
    .name = "Tile",
    .domain = "",
    .since = 6,
    .value_inputs = 2u,
    .param_role = {QFD_ROLE_DATA},
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
