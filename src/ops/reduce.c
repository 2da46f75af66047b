/* ReduceSum (opsets 1-21; axes an input from 13), ReduceMean and ReduceMax
 * (opsets 1-21; axes an input from 18).
 *   y[kept] = sum / mean / max of x over the reduced axes (a max is NaN
 *   when one of its elements is).
 * Empty axes reduce every axis, unless noop_with_empty_axes (13 for Sum, 18
 * for the others) makes the op an identity. keepdims (default 1) keeps the
 * reduced axes as size 1. ReduceSum and ReduceMax also take int32/int64.
 * Backward (float32; integer data carries no gradient), with y[o(i)] the
 * output element x[i] is reduced into:
 *   sum:  dx[i] += dy[o(i)]
 *   mean: dx[i] += dy[o(i)] / count
 *   max:  dx[i] += dy[o(i)] at the first i (row-major) with x[i] == y[o(i)]
 *         (or both NaN), 0 elsewhere: ties route the whole gradient to the
 *         first maximum, a NaN max to the first NaN.
 * keepdims only changes y's shape, not its element order, so o(i) is the
 * same for both. The noop identity passes dy through.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

enum { R_SUM, R_MEAN, R_MAX };

typedef struct reduce_plan {
    int nm; /* merged dims */
    int64_t dims[QFD_ARRAY_MAX_RANK];
    int red[QFD_ARRAY_MAX_RANK];         /* merged dim i is reduced */
    int64_t ostride[QFD_ARRAY_MAX_RANK]; /* 0 on reduced dims */
    int64_t count;                       /* elements reduced into each output */
    int noop;
} reduce_plan;

static int axes_opset(int kind)
{
    return kind == R_SUM ? 13 : 18;
}

/* Reads the axes (attribute or input) into mask; sets *noop. */
static qfd_status read_axes(qfd_op_ctx *oc, int kind, int mask[QFD_ARRAY_MAX_RANK], int *noop)
{
    int rank = oc->in[0]->rank;
    int64_t axes[QFD_ARRAY_MAX_RANK + 1];
    int64_t n = 0;
    *noop = 0;
    if (oc->opset >= axes_opset(kind)) {
        const qfd_array *a = qfd_op_in(oc, 1);
        if (a) {
            if (!a->data)
                return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "axes input must be known when the model is planned");
            int64_t na = qfd_array_numel(a);
            if (na > rank)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "%lld axes for a rank-%d input", (long long)na, rank);
            n = qfd_array_read_ints(a, axes, QFD_ARRAY_MAX_RANK);
            if (n < 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "axes input must be int64");
        }
        if (n == 0 && qfd_attr_int(oc->node, "noop_with_empty_axes", 0))
            *noop = 1;
    } else {
        const int64_t *v;
        size_t na = qfd_attr_ints(oc->node, "axes", &v);
        if (na > (size_t)rank)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%zu axes for a rank-%d input", na, rank);
        for (size_t i = 0; i < na; i++)
            axes[i] = v[i];
        n = (int64_t)na;
    }
    for (int i = 0; i < rank; i++)
        mask[i] = n == 0 && !*noop;
    for (int64_t i = 0; i < n; i++) {
        int ax = qfd_norm_axis(axes[i], rank);
        if (ax < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axes[i], rank);
        if (mask[ax])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld repeated", (long long)axes[i]);
        mask[ax] = 1;
    }
    return QFD_OK;
}

static qfd_status make_plan(qfd_op_ctx *oc, int kind, reduce_plan *p)
{
    const qfd_array *x = oc->in[0];
    int mask[QFD_ARRAY_MAX_RANK];
    qfd_status st = read_axes(oc, kind, mask, &p->noop);
    if (st)
        return st;
    /* Merge neighbouring axes of the same kind (size-1 axes go anywhere). */
    p->nm = 0;
    p->count = 1;
    for (int i = 0; i < x->rank; i++) {
        if (mask[i])
            p->count *= x->dims[i];
        if (x->dims[i] == 1 && x->rank > 1)
            continue;
        if (p->nm > 0 && p->red[p->nm - 1] == mask[i]) {
            p->dims[p->nm - 1] *= x->dims[i];
        } else {
            p->dims[p->nm] = x->dims[i];
            p->red[p->nm++] = mask[i];
        }
    }
    if (p->nm == 0) {
        p->dims[0] = 1;
        p->red[p->nm++] = 0;
    }
    int64_t s = 1;
    for (int i = p->nm - 1; i >= 0; i--) {
        p->ostride[i] = p->red[i] ? 0 : s;
        s *= p->red[i] ? 1 : p->dims[i];
    }
    if (p->noop)
        return QFD_OK;
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    int r = 0;
    int keep = (int)qfd_attr_int(oc->node, "keepdims", 1);
    for (int i = 0; i < x->rank; i++)
        if (!mask[i])
            y->dims[r++] = x->dims[i];
        else if (keep)
            y->dims[r++] = 1;
    y->rank = r;
    return QFD_OK;
}

static qfd_status infer_kind(qfd_op_ctx *oc, int kind)
{
    const qfd_array *x = oc->in[0];
    if (!x)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing input");
    int dt = x->dtype;
    if (dt != QFD_DT_FLOAT && (kind == R_MEAN || (dt != QFD_DT_INT32 && dt != QFD_DT_INT64)))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(dt) ? qfd_dtype_name(dt) : "?");
    reduce_plan p;
    qfd_status st = make_plan(oc, kind, &p);
    if (st)
        return st;
    if (p.noop)
        qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

/* One instantiation per type and op keeps the inner loops branch-free; the
 * last merged dim is innermost and contiguous. */
#define KERNEL(NAME, T, INIT, OP)                                                                              \
    static void NAME(const reduce_plan *p, const T *x, T *y, int64_t ny, int n_threads)                        \
    {                                                                                                          \
        for (int64_t i = 0; i < ny; i++)                                                                       \
            y[i] = INIT;                                                                                       \
        int last = p->nm - 1;                                                                                  \
        int64_t inner = p->dims[last], outer = 1;                                                              \
        for (int i = 0; i < last; i++)                                                                         \
            outer *= p->dims[i];                                                                               \
        if (last == 1 && !p->red[0] && p->red[1]) { /* rows reduced independently */                           \
            _Pragma("omp parallel for num_threads(n_threads) if (outer * inner > 65536)") for (int64_t o = 0;  \
                                                                                               o < outer; o++) \
            {                                                                                                  \
                const T *xr = x + o * inner;                                                                   \
                T acc = INIT;                                                                                  \
                for (int64_t j = 0; j < inner; j++)                                                            \
                    acc = OP(acc, xr[j]);                                                                      \
                y[o] = acc;                                                                                    \
            }                                                                                                  \
            return;                                                                                            \
        }                                                                                                      \
        int64_t idx[QFD_ARRAY_MAX_RANK] = {0};                                                                 \
        int64_t ybase = 0;                                                                                     \
        for (int64_t o = 0; o < outer; o++) {                                                                  \
            const T *xr = x + o * inner;                                                                       \
            if (p->red[last]) {                                                                                \
                T acc = y[ybase];                                                                              \
                for (int64_t j = 0; j < inner; j++)                                                            \
                    acc = OP(acc, xr[j]);                                                                      \
                y[ybase] = acc;                                                                                \
            } else {                                                                                           \
                T *yr = y + ybase;                                                                             \
                for (int64_t j = 0; j < inner; j++)                                                            \
                    yr[j] = OP(yr[j], xr[j]);                                                                  \
            }                                                                                                  \
            for (int d = last - 1; d >= 0; d--) {                                                              \
                ybase += p->ostride[d];                                                                        \
                if (++idx[d] < p->dims[d])                                                                     \
                    break;                                                                                     \
                ybase -= p->ostride[d] * p->dims[d];                                                           \
                idx[d] = 0;                                                                                    \
            }                                                                                                  \
        }                                                                                                      \
    }
#define OP_ADD(a, b) ((a) + (b))
#define OP_MAX(a, b) QFD_MAX_NAN(a, b)
KERNEL(sum_f32, float, 0.0f, OP_ADD)
KERNEL(max_f32, float, -INFINITY, OP_MAX)
KERNEL(sum_i32, int32_t, 0, OP_ADD)
KERNEL(max_i32, int32_t, INT32_MIN, OP_MAX)
KERNEL(sum_i64, int64_t, 0, OP_ADD)
KERNEL(max_i64, int64_t, INT64_MIN, OP_MAX)
#undef KERNEL

static qfd_status forward_kind(qfd_op_ctx *oc, int kind)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    reduce_plan p;
    qfd_status st = make_plan(oc, kind, &p);
    if (st)
        return st;
    if (p.noop) {
        memcpy(y->data, x->data, y->nbytes);
        return QFD_OK;
    }
    int64_t ny = qfd_array_numel(y);
    if (qfd_array_numel(x) == 0) {
        /* Nothing to reduce: the identity of the reduction (mean of nothing is NaN). */
        for (int64_t i = 0; i < ny; i++)
            if (x->dtype == QFD_DT_FLOAT)
                ((float *)y->data)[i] = kind == R_SUM ? 0.0f : kind == R_MAX ? -INFINITY : NAN;
            else if (x->dtype == QFD_DT_INT32)
                ((int32_t *)y->data)[i] = kind == R_SUM ? 0 : INT32_MIN;
            else
                ((int64_t *)y->data)[i] = kind == R_SUM ? 0 : INT64_MIN;
        return QFD_OK;
    }
    switch (x->dtype) {
    case QFD_DT_FLOAT:
        if (kind == R_MAX)
            max_f32(&p, x->data, y->data, ny, oc->n_threads);
        else
            sum_f32(&p, x->data, y->data, ny, oc->n_threads);
        if (kind == R_MEAN) {
            float inv = 1.0f / (float)p.count;
            float *yd = y->data;
            for (int64_t i = 0; i < ny; i++)
                yd[i] *= inv;
        }
        break;
    case QFD_DT_INT32: (kind == R_MAX ? max_i32 : sum_i32)(&p, x->data, y->data, ny, oc->n_threads); break;
    default: (kind == R_MAX ? max_i64 : sum_i64)(&p, x->data, y->data, ny, oc->n_threads); break;
    }
    return QFD_OK;
}

/* x is the max y: equal, or both NaN (the max of a row holding a NaN). */
static inline bool same(float x, float y)
{
    return x == y || (x != x && y != y);
}

/* Output offset of the first element of merged row `o` (all merged dims but
 * the last): computed from o alone so that rows can run in any order. */
static int64_t row_ybase(const reduce_plan *p, int64_t o)
{
    int64_t ybase = 0;
    for (int d = p->nm - 2; d >= 0; d--) {
        ybase += (o % p->dims[d]) * p->ostride[d];
        o /= p->dims[d];
    }
    return ybase;
}

static qfd_status backward_kind(qfd_op_ctx *oc, int kind)
{
    const qfd_array *x = oc->in[0];
    qfd_array *gx = oc->gin[0];
    if (!gx || !oc->gout[0] || x->dtype != QFD_DT_FLOAT)
        return QFD_OK;
    reduce_plan p;
    qfd_status st = make_plan(oc, kind, &p);
    if (st)
        return st;
    float *dx = gx->data;
    const float *dy = oc->gout[0]->data;
    int64_t nx = qfd_array_numel(x);
    if (p.noop) {
        for (int64_t i = 0; i < nx; i++)
            dx[i] += dy[i];
        return QFD_OK;
    }
    if (nx == 0)
        return QFD_OK;
    int last = p.nm - 1;
    int64_t inner = p.dims[last], outer = nx / inner;
    int red_last = p.red[last];
    if (kind != R_MAX) {
        float scale = kind == R_MEAN ? 1.0f / (float)p.count : 1.0f;
        /* Every x element is written by exactly one row: rows are independent. */
#pragma omp parallel for num_threads(oc->n_threads) if (nx > 65536)
        for (int64_t o = 0; o < outer; o++) {
            float *dr = dx + o * inner;
            int64_t yb = row_ybase(&p, o);
            if (red_last) {
                float g = dy[yb] * scale;
                for (int64_t j = 0; j < inner; j++)
                    dr[j] += g;
            } else {
                const float *dyr = dy + yb;
                for (int64_t j = 0; j < inner; j++)
                    dr[j] += dyr[j] * scale;
            }
        }
        return QFD_OK;
    }
    /* Max: the argmax is recovered by comparing x with the forward output
     * (exact, since y is one of the x values), so forward saves nothing. */
    const float *xd = x->data, *y = oc->out[0]->data;
    if (last == 1 && !p.red[0] && red_last) { /* rows reduced independently */
#pragma omp parallel for num_threads(oc->n_threads) if (nx > 65536)
        for (int64_t o = 0; o < outer; o++) {
            const float *xr = xd + o * inner;
            for (int64_t j = 0; j < inner; j++)
                if (same(xr[j], y[o])) {
                    dx[o * inner + j] += dy[o];
                    break;
                }
        }
        return QFD_OK;
    }
    /* General case: rows sharing an output interleave, so walk x in order
     * and mark each output once its first maximum has taken the gradient. */
    uint8_t *done = oc->ws;
    memset(done, 0, (size_t)qfd_array_numel(oc->out[0]));
    for (int64_t o = 0; o < outer; o++) {
        const float *xr = xd + o * inner;
        float *dr = dx + o * inner;
        int64_t yb = row_ybase(&p, o);
        for (int64_t j = 0; j < inner; j++) {
            int64_t k = red_last ? yb : yb + j;
            if (!done[k] && same(xr[j], y[k])) {
                dr[j] += dy[k];
                done[k] = 1;
            }
        }
    }
    return QFD_OK;
}

/* Max backward's "output already served" flags (one byte per output). */
static size_t backward_workspace_max(const qfd_op_ctx *oc)
{
    return oc->out[0] ? (size_t)qfd_array_numel(oc->out[0]) : 0;
}

static qfd_status infer_sum(qfd_op_ctx *oc)
{
    return infer_kind(oc, R_SUM);
}
static qfd_status infer_mean(qfd_op_ctx *oc)
{
    return infer_kind(oc, R_MEAN);
}
static qfd_status infer_max(qfd_op_ctx *oc)
{
    return infer_kind(oc, R_MAX);
}
static qfd_status forward_sum(qfd_op_ctx *oc)
{
    return forward_kind(oc, R_SUM);
}
static qfd_status forward_mean(qfd_op_ctx *oc)
{
    return forward_kind(oc, R_MEAN);
}
static qfd_status forward_max(qfd_op_ctx *oc)
{
    return forward_kind(oc, R_MAX);
}
static qfd_status backward_sum(qfd_op_ctx *oc)
{
    return backward_kind(oc, R_SUM);
}
static qfd_status backward_mean(qfd_op_ctx *oc)
{
    return backward_kind(oc, R_MEAN);
}
static qfd_status backward_max(qfd_op_ctx *oc)
{
    return backward_kind(oc, R_MAX);
}

const qfd_op_def qfd_op_reduce_sum = {.name = "ReduceSum",
                                      .domain = "",
                                      .since = 1,
                                      .param_role = QFD_ROLES_PASS0,
                                      .value_inputs = 1u << 1,
                                      .infer = infer_sum,
                                      .forward = forward_sum,
                                      .backward = backward_sum,
                                      .backward_reads = qfd_reads_all_but_x};
const qfd_op_def qfd_op_reduce_mean = {.name = "ReduceMean",
                                       .domain = "",
                                       .since = 1,
                                       .param_role = QFD_ROLES_PASS0,
                                       .value_inputs = 1u << 1,
                                       .infer = infer_mean,
                                       .forward = forward_mean,
                                       .backward = backward_mean,
                                       .backward_reads = qfd_reads_all_but_x};
const qfd_op_def qfd_op_reduce_max = {.name = "ReduceMax",
                                      .domain = "",
                                      .since = 1,
                                      .param_role = QFD_ROLES_PASS0,
                                      .value_inputs = 1u << 1,
                                      .infer = infer_max,
                                      .forward = forward_max,
                                      .backward_workspace = backward_workspace_max,
                                      .backward = backward_max};
