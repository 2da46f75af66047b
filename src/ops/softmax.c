/* Softmax and LogSoftmax (opsets 1-21), float32.
 *   softmax:    y = exp(x - m) / sum(exp(x - m))
 *   logsoftmax: y = x - m - log(sum(exp(x - m)))
 * with m the maximum over the normalized block (for numerical stability).
 * Before opset 13 the input is coerced to 2-D [prod(dims[:axis]),
 * prod(dims[axis:])] (axis default 1) and each row is normalized; from 13
 * only dimension `axis` (default -1) is normalized.
 * Backward, from the forward output y and sums over the same block:
 *   softmax:    dx = y * (dy - sum(dy * y))
 *   logsoftmax: dx = dy - exp(y) * sum(dy)
 */
#include <math.h>
#include <stdint.h>

#include "ops/avx512.h"
#include "ops/op.h"

typedef struct sm_shape {
    int64_t outer, n, inner; /* x viewed as [outer, n, inner], normalized over n */
} sm_shape;

static qfd_status get_shape(qfd_op_ctx *oc, sm_shape *s)
{
    const qfd_array *x = oc->in[0];
    int rank = x->rank;
    int64_t axis = qfd_attr_int(oc->node, "axis", oc->opset >= 13 ? -1 : 1);
    if (rank == 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input must have rank >= 1");
    int ax = qfd_norm_axis(axis, rank);
    if (ax < 0 && !(oc->opset < 13 && axis == rank))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis, rank);
    if (ax < 0)
        ax = rank;
    s->outer = 1;
    s->n = 1;
    s->inner = 1;
    for (int i = 0; i < ax; i++)
        s->outer *= x->dims[i];
    if (oc->opset < 13) {
        for (int i = ax; i < rank; i++)
            s->n *= x->dims[i];
    } else {
        s->n = x->dims[ax];
        for (int i = ax + 1; i < rank; i++)
            s->inner *= x->dims[i];
    }
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    if (!oc->in[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing input");
    if (oc->in[0]->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported (float only)",
                           qfd_dtype_name(oc->in[0]->dtype) ? qfd_dtype_name(oc->in[0]->dtype) : "?");
    sm_shape s = {1, 1, 1};
    qfd_status st = get_shape(oc, &s);
    if (st)
        return st;
    qfd_array_like(oc->out[0], oc->in[0]);
    return QFD_OK;
}

/* Scratch for the strided case: running max and sum over the inner columns. */
static size_t workspace(const qfd_op_ctx *oc)
{
    sm_shape s = {1, 1, 1};
    if (get_shape((qfd_op_ctx *)oc, &s))
        return 0;
    return s.inner > 1 ? 2 * (size_t)s.inner * sizeof(float) : 0;
}

static void row(const float *x, float *y, int64_t n, int log_form)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    float sum = 0.0f;
    if (log_form) {
        for (int64_t i = 0; i < n; i++)
            sum += expf(x[i] - m);
        float off = m + logf(sum);
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] - off;
    } else {
        for (int64_t i = 0; i < n; i++) {
            y[i] = expf(x[i] - m);
            sum += y[i];
        }
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++)
            y[i] *= inv;
    }
}

#if QFD_HAVE_AVX512
/* row() in 16-lane passes: max, then exp(x - max) summed (and stored for
 * softmax), then the scaling; the tail runs masked. Sums in another order
 * than row(), so results differ from it in the last bits. */
static QFD_AVX512_FN void row_avx512(const float *x, float *y, int64_t n, int log_form)
{
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
    __mmask16 tail = qfd_mask16(n - i);
    vm = _mm512_mask_max_ps(vm, tail, vm, _mm512_maskz_loadu_ps(tail, x + i));
    float m = _mm512_reduce_max_ps(vm);
    vm = _mm512_set1_ps(m);
    __m512 vs = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = qfd_exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        if (!log_form)
            _mm512_storeu_ps(y + i, e);
        vs = _mm512_add_ps(vs, e);
    }
    __m512 e = qfd_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), vm));
    if (!log_form)
        _mm512_mask_storeu_ps(y + i, tail, e);
    vs = _mm512_mask_add_ps(vs, tail, vs, e);
    float sum = _mm512_reduce_add_ps(vs);
    if (log_form) {
        __m512 off = _mm512_set1_ps(m + logf(sum));
        for (i = 0; i + 16 <= n; i += 16)
            _mm512_storeu_ps(y + i, _mm512_sub_ps(_mm512_loadu_ps(x + i), off));
        _mm512_mask_storeu_ps(y + i, tail, _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), off));
    } else {
        __m512 inv = _mm512_set1_ps(1.0f / sum);
        for (i = 0; i + 16 <= n; i += 16)
            _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
        _mm512_mask_storeu_ps(y + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + i), inv));
    }
}

/* Rows [o0, o1) of n values each. */
static QFD_AVX512_FN void rows_avx512(const float *x, float *y, int64_t o0, int64_t o1, int64_t n, int log_form)
{
    for (int64_t o = o0; o < o1; o++)
        row_avx512(x + o * n, y + o * n, n, log_form);
}
#endif

/* x is [n, inner] with inner > 1: columns normalized, rows walked contiguously. */
static void block(const float *x, float *y, int64_t n, int64_t inner, float *mx, float *sum, int log_form)
{
    for (int64_t j = 0; j < inner; j++) {
        mx[j] = -INFINITY;
        sum[j] = 0.0f;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < inner; j++)
            mx[j] = x[i * inner + j] > mx[j] ? x[i * inner + j] : mx[j];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < inner; j++) {
            float e = expf(x[i * inner + j] - mx[j]);
            if (!log_form)
                y[i * inner + j] = e;
            sum[j] += e;
        }
    if (log_form) {
        for (int64_t j = 0; j < inner; j++)
            mx[j] += logf(sum[j]);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++)
                y[i * inner + j] = x[i * inner + j] - mx[j];
    } else {
        for (int64_t j = 0; j < inner; j++)
            sum[j] = 1.0f / sum[j];
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++)
                y[i * inner + j] *= sum[j];
    }
}

static qfd_status forward_form(qfd_op_ctx *oc, int log_form)
{
    sm_shape s = {1, 1, 1};
    qfd_status st = get_shape(oc, &s);
    if (st)
        return st;
    const float *x = oc->in[0]->data;
    float *y = oc->out[0]->data;
    if (s.n == 0)
        return QFD_OK;
    if (s.inner == 1) {
        int64_t outer = s.outer, n = s.n;
        bool avx512 = qfd_cpu_avx512();
        (void)avx512; /* unused without AVX-512 kernels */
        int nt = outer * n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
        if (nt > outer)
            nt = (int)outer;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int t = 0; t < nt; t++) {
            int64_t o0 = outer * t / nt, o1 = outer * (t + 1) / nt;
#if QFD_HAVE_AVX512
            if (avx512) {
                rows_avx512(x, y, o0, o1, n, log_form);
                continue;
            }
#endif
            for (int64_t o = o0; o < o1; o++)
                row(x + o * n, y + o * n, n, log_form);
        }
    } else {
        float *mx = oc->ws, *sum = mx + s.inner;
        for (int64_t o = 0; o < s.outer; o++)
            block(x + o * s.n * s.inner, y + o * s.n * s.inner, s.n, s.inner, mx, sum, log_form);
    }
    return QFD_OK;
}

/* dx += gradient of one contiguous row (inner == 1). */
static void row_backward(const float *y, const float *dy, float *dx, int64_t n, int log_form)
{
    float s = 0.0f;
    if (log_form) {
        for (int64_t i = 0; i < n; i++)
            s += dy[i];
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i] - expf(y[i]) * s;
    } else {
        for (int64_t i = 0; i < n; i++)
            s += dy[i] * y[i];
        for (int64_t i = 0; i < n; i++)
            dx[i] += y[i] * (dy[i] - s);
    }
}

/* The same for an [n, inner] block normalized per column; the column sums
 * go to acc (inner floats) so that rows are still walked contiguously. */
static void block_backward(const float *y, const float *dy, float *dx, int64_t n, int64_t inner, float *acc,
                           int log_form)
{
    for (int64_t j = 0; j < inner; j++)
        acc[j] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < inner; j++)
            acc[j] += log_form ? dy[i * inner + j] : dy[i * inner + j] * y[i * inner + j];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t k = i * inner + j;
            dx[k] += log_form ? dy[k] - expf(y[k]) * acc[j] : y[k] * (dy[k] - acc[j]);
        }
}

static qfd_status backward_form(qfd_op_ctx *oc, int log_form)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    sm_shape s = {1, 1, 1};
    qfd_status st = get_shape(oc, &s);
    if (st)
        return st;
    const float *y = oc->out[0]->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0]->data;
    if (s.n == 0)
        return QFD_OK;
    if (s.inner == 1) {
        int64_t outer = s.outer, n = s.n;
#pragma omp parallel for num_threads(oc->n_threads) if (outer * n > 65536)
        for (int64_t o = 0; o < outer; o++)
            row_backward(y + o * n, dy + o * n, dx + o * n, n, log_form);
    } else {
        int64_t blk = s.n * s.inner;
        for (int64_t o = 0; o < s.outer; o++)
            block_backward(y + o * blk, dy + o * blk, dx + o * blk, s.n, s.inner, oc->ws, log_form);
    }
    return QFD_OK;
}

static qfd_status forward_softmax(qfd_op_ctx *oc)
{
    return forward_form(oc, 0);
}
static qfd_status forward_logsoftmax(qfd_op_ctx *oc)
{
    return forward_form(oc, 1);
}
static qfd_status backward_softmax(qfd_op_ctx *oc)
{
    return backward_form(oc, 0);
}
static qfd_status backward_logsoftmax(qfd_op_ctx *oc)
{
    return backward_form(oc, 1);
}

/* Both gradients are functions of y alone. */
static uint32_t reads_y(const qfd_op_ctx *oc)
{
    (void)oc;
    return QFD_READS_OUT(0);
}

/* Backward needs inner floats of scratch in the strided case, within what
 * forward's workspace already asks for. */
const qfd_op_def qfd_op_softmax = {.name = "Softmax",
                                   .domain = "",
                                   .since = 1,
                                   .param_role = QFD_ROLES_PASS0,
                                   .infer = infer,
                                   .workspace = workspace,
                                   .forward = forward_softmax,
                                   .backward_workspace = workspace,
                                   .backward = backward_softmax,
                                   .backward_reads = reads_y};
const qfd_op_def qfd_op_log_softmax = {.name = "LogSoftmax",
                                       .domain = "",
                                       .since = 1,
                                       .param_role = QFD_ROLES_PASS0,
                                       .infer = infer,
                                       .workspace = workspace,
                                       .forward = forward_logsoftmax,
                                       .backward_workspace = workspace,
                                       .backward = backward_logsoftmax,
                                       .backward_reads = reads_y};
