/* Expand (opsets 8-21): y = x broadcast (numpy rules) with the shape
 * input, y.dims = broadcast(x.dims, shape); a 1 in shape keeps x's dim.
 * Any whole-byte element type. The shape must be known when the model is
 * planned.
 *
 * The copy merges adjacent axes that are both broadcast or both not, drops
 * size-1 axes, then fills rows of the last axis: a memcpy when x varies
 * along it, a repeated element when it is broadcast.
 *
 * Backward: dx[i] += sum of dy over every position broadcast from x[i]
 * (the sum over the broadcast axes). On the same merged axes, each task
 * owns one run of dx (one index of the non-broadcast outer axes, one
 * block of the last axis) and loops over the broadcast outer axes, so
 * threads never add to one element.
 */
#include <string.h>

#include "ops/op.h"

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *sh = qfd_op_in(oc, 1);
    if (!x || !sh || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input, shape and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    qfd_array s = {.dtype = QFD_DT_INT64};
    int64_t n;
    qfd_status st = qfd_shape_known_ints(oc, sh, "shape", s.dims, QFD_ARRAY_MAX_RANK, &n);
    if (st)
        return st;
    s.rank = (int)n;
    for (int i = 0; i < s.rank; i++)
        if (s.dims[i] < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "shape[%d] = %lld is negative", i, (long long)s.dims[i]);
    qfd_array *y = oc->out[0];
    if ((st = qfd_broadcast_shape(oc, x, &s, y)))
        return st;
    y->dtype = x->dtype;
    return QFD_OK;
}

static void fill(uint8_t *dst, const uint8_t *src, int64_t n, size_t es)
{
    switch (es) {
    case 4: {
        uint32_t v;
        memcpy(&v, src, 4);
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + 4 * i, &v, 4);
        break;
    }
    case 1: memset(dst, *src, (size_t)n); break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * es, src, es);
    }
}

/* Merged axes of y: dims od, x stride xs (0 when broadcast); returns their count. */
static int merge_axes(const qfd_array *x, const qfd_array *y, int64_t *od, int64_t *xs)
{
    int64_t xstride = 1;
    int r = 0, pad = y->rank - x->rank;
    int64_t xdim[QFD_ARRAY_MAX_RANK], xst[QFD_ARRAY_MAX_RANK];
    for (int i = y->rank - 1; i >= 0; i--) {
        xdim[i] = i >= pad ? x->dims[i - pad] : 1;
        xst[i] = xdim[i] == 1 ? 0 : xstride;
        xstride *= xdim[i];
    }
    for (int i = 0; i < y->rank; i++) {
        if (y->dims[i] == 1)
            continue;
        int bc = xst[i] == 0;
        if (r && (xs[r - 1] == 0) == bc && (bc || xs[r - 1] == xst[i] * y->dims[i])) {
            od[r - 1] *= y->dims[i];
            xs[r - 1] = xst[i];
            continue;
        }
        od[r] = y->dims[i];
        xs[r] = xst[i];
        r++;
    }
    return r;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    int64_t numel = qfd_array_numel(y);
    if (numel <= 0)
        return QFD_OK;
    int64_t od[QFD_ARRAY_MAX_RANK], xs[QFD_ARRAY_MAX_RANK];
    int r = merge_axes(x, y, od, xs);
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    if (r == 0) {
        memcpy(yd, xd, es);
        return QFD_OK;
    }
    int64_t n = od[r - 1], rows = numel / n;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (numel > 65536 && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = 0, rem = row;
        for (int k = r - 2; k >= 0; k--) {
            off += rem % od[k] * xs[k];
            rem /= od[k];
        }
        uint8_t *yr = yd + (size_t)(row * n) * es;
        if (xs[r - 1])
            memcpy(yr, xd + (size_t)off * es, (size_t)n * es);
        else
            fill(yr, xd + (size_t)off * es, n, es);
    }
    return QFD_OK;
}

#define COL_BLOCK 256 /* floats of the last axis per backward task */

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0], *gy = oc->gout[0];
    float *dx = oc->gin[0]->data;
    const float *dy = gy->data;
    int64_t numel = qfd_array_numel(gy);
    if (numel <= 0)
        return QFD_OK;
    int64_t od[QFD_ARRAY_MAX_RANK], xs[QFD_ARRAY_MAX_RANK];
    int r = merge_axes(x, gy, od, xs);
    if (r == 0) {
        dx[0] += dy[0];
        return QFD_OK;
    }
    /* Outer axes 0..r-2 split into the non-broadcast ones (a, indexing dx)
     * and the broadcast ones (b, summed); rs is each one's stride in rows. */
    int64_t rs[QFD_ARRAY_MAX_RANK], acc = 1, na = 1, nb = 1;
    int ax_a[QFD_ARRAY_MAX_RANK], ax_b[QFD_ARRAY_MAX_RANK], ka = 0, kb = 0;
    for (int k = r - 2; k >= 0; k--) {
        rs[k] = acc;
        acc *= od[k];
    }
    for (int k = 0; k < r - 1; k++) {
        if (xs[k]) {
            ax_a[ka++] = k;
            na *= od[k];
        } else {
            ax_b[kb++] = k;
            nb *= od[k];
        }
    }
    int64_t n = od[r - 1];
    int last_bc = xs[r - 1] == 0;
    int64_t nblk = last_bc ? 1 : (n + COL_BLOCK - 1) / COL_BLOCK, tasks = na * nblk;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (numel > 65536 && tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t xoff = 0, rbase = 0, rem = t / nblk;
        for (int i = ka - 1; i >= 0; i--) {
            int k = ax_a[i];
            xoff += rem % od[k] * xs[k];
            rbase += rem % od[k] * rs[k];
            rem /= od[k];
        }
        int64_t c0 = last_bc ? 0 : t % nblk * COL_BLOCK;
        int64_t c1 = last_bc ? n : (c0 + COL_BLOCK < n ? c0 + COL_BLOCK : n);
        double sum = 0;
        for (int64_t b = 0; b < nb; b++) {
            int64_t row = rbase, rb = b;
            for (int i = kb - 1; i >= 0; i--) {
                int k = ax_b[i];
                row += rb % od[k] * rs[k];
                rb /= od[k];
            }
            const float *yr = dy + row * n;
            if (last_bc) {
                for (int64_t c = 0; c < n; c++)
                    sum += yr[c];
            } else {
                float *xr = dx + xoff;
                for (int64_t c = c0; c < c1; c++)
                    xr[c] += yr[c];
            }
        }
        if (last_bc)
            dx[xoff] += (float)sum;
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_expand = {
    .name = "Expand",
    .domain = "",
    .since = 8,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 1u << 1,
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_all_but_x,
};
