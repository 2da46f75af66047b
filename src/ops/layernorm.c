/* LayerNormalization (opset 17+): over the trailing axes [axis, rank) of X,
 *   mean = E[x],  inv_std = 1 / sqrt(E[(x - mean)^2] + epsilon),
 *   y = (x - mean) * inv_std * Scale + B
 * Scale and B broadcast unidirectionally to X.shape[axis:]. The optional
 * outputs Mean and InvStdDev have X's shape with the normalized axes set to 1.
 * stash_type must be 1 (float statistics): only float X is supported.
 * Backward, per row of n = prod(X.shape[axis:]) values, xh = (x - mean) * inv,
 * g = dy * Scale (Scale, B expanded to the row):
 *   dx += inv * (g - mean(g) - xh * mean(g * xh))
 *         + dMean / n - dInvStdDev * inv^3 * (x - mean) / n   (when those outputs get gradients)
 *   dScale += sum over rows of dy * xh,  dB += sum over rows of dy,
 *   each reduced onto its broadcast shape.
 * The training forward keeps each row's mean and inv (2 * rows floats).
 */
#include <math.h>
#include <string.h>

#include "ops/avx512.h"
#include "ops/op.h"

typedef struct ln_state {
    int64_t axis;
    float epsilon;
} ln_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    ln_state *s = state;
    s->axis = qfd_attr_int(oc->node, "axis", -1);
    s->epsilon = qfd_attr_float(oc->node, "epsilon", 1e-5f);
    int64_t stash = qfd_attr_int(oc->node, "stash_type", 1);
    if (stash != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "stash_type %lld is not supported (only 1, float)",
                           (long long)stash);
    if (!(s->epsilon >= 0.0f))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "epsilon must be >= 0, got %g", (double)s->epsilon);
    return QFD_OK;
}

/* Checks that p broadcasts unidirectionally to x.shape[axis:]. */
static qfd_status check_param(qfd_op_ctx *oc, const qfd_array *p, const char *name, const qfd_array *x, int axis)
{
    if (p->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s: only float is supported, got %s", name,
                           qfd_dtype_name(p->dtype) ? qfd_dtype_name(p->dtype) : "?");
    int nr = x->rank - axis;
    if (p->rank > nr)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s has rank %d, more than the %d normalized axes", name, p->rank, nr);
    for (int i = 0; i < p->rank; i++) {
        int64_t pd = p->dims[i], xd = x->dims[x->rank - p->rank + i];
        if (pd != xd && pd != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%s dimension %d is %lld, does not broadcast to %lld", name, i,
                               (long long)pd, (long long)xd);
    }
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const ln_state *s = oc->state;
    const qfd_array *x = qfd_op_in(oc, 0), *scale = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);
    if (!x || !scale)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs X and Scale are required");
    if (x->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "X: only float is supported, got %s",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    int axis = qfd_norm_axis(s->axis, x->rank);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)s->axis, x->rank);
    qfd_status st = check_param(oc, scale, "Scale", x, axis);
    if (!st && b)
        st = check_param(oc, b, "B", x, axis);
    if (st)
        return st;
    qfd_array_like(oc->out[0], x);
    for (size_t k = 1; k < 3 && k < oc->n_out; k++) {
        if (!oc->out[k])
            continue;
        qfd_array_like(oc->out[k], x);
        for (int i = axis; i < x->rank; i++)
            oc->out[k]->dims[i] = 1;
    }
    return QFD_OK;
}

/* True when p already has one value per normalized element, in order. */
static int is_full(const qfd_array *p, int64_t inner)
{
    return qfd_array_numel(p) == inner;
}

/* Bytes to expand a broadcast Scale or B to the normalized shape. */
static size_t workspace(const qfd_op_ctx *oc)
{
    const ln_state *s = oc->state;
    const qfd_array *x = oc->in[0], *b = qfd_op_in(oc, 2);
    int axis = qfd_norm_axis(s->axis, x->rank);
    int64_t inner = 1;
    for (int i = axis; i < x->rank; i++)
        inner *= x->dims[i];
    size_t n = (!is_full(oc->in[1], inner)) + (b && !is_full(b, inner));
    return n * (size_t)inner * sizeof(float);
}

static void expand(const qfd_array *p, const qfd_array *x, int axis, float *dst)
{
    int nr = x->rank - axis;
    int64_t stride[QFD_ARRAY_MAX_RANK], idx[QFD_ARRAY_MAX_RANK] = {0}, inner = 1, st = 1;
    for (int i = nr - 1; i >= 0; i--) {
        int pi = i - (nr - p->rank);
        stride[i] = pi >= 0 && p->dims[pi] != 1 ? st : 0;
        if (pi >= 0)
            st *= p->dims[pi];
        inner *= x->dims[axis + i];
    }
    const float *src = p->data;
    for (int64_t j = 0; j < inner; j++) {
        int64_t off = 0;
        for (int i = 0; i < nr; i++)
            off += idx[i] * stride[i];
        dst[j] = src[off];
        for (int i = nr - 1; i >= 0 && ++idx[i] == x->dims[axis + i]; i--)
            idx[i] = 0;
    }
}

/* Normalizes one row of n values; returns its mean and 1/std. Two passes
 * in double: a one-pass E[x^2] - E[x]^2 loses the variance of rows with a
 * large mean. */
static void row(const float *xr, float *yr, const float *scale, const float *bias, int64_t n, float eps,
                float *mean_out, float *inv_out)
{
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += xr[i];
    float mean = (float)(sum / (double)n);
    for (int64_t i = 0; i < n; i++) {
        double d = (double)xr[i] - mean;
        sq += d * d;
    }
    float inv = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
    if (bias)
        for (int64_t i = 0; i < n; i++)
            yr[i] = (xr[i] - mean) * inv * scale[i] + bias[i];
    else
        for (int64_t i = 0; i < n; i++)
            yr[i] = (xr[i] - mean) * inv * scale[i];
    *mean_out = mean;
    *inv_out = inv;
}

#if QFD_HAVE_AVX512
/* row() in 16-lane passes, tails masked. The sum is still accumulated in
 * double (8 lanes of each half); the squares of x - mean, all positive,
 * in float lanes, which loses nothing that matters after the subtraction. */
static QFD_AVX512_FN void row_avx512(const float *xr, float *yr, const float *scale, const float *bias, int64_t n,
                                     float eps, float *mean_out, float *inv_out)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(qfd_mask16(n - i), xr + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    float mean = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / (double)n);
    __m512 vm = _mm512_set1_ps(mean), sq = _mm512_setzero_ps();
    for (i = 0; i < n; i += 16) {
        __mmask16 k = qfd_mask16(n - i);
        __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xr + i), vm);
        sq = _mm512_fmadd_ps(d, d, sq);
    }
    float inv = (float)(1.0 / sqrt((double)_mm512_reduce_add_ps(sq) / (double)n + (double)eps));
    __m512 vi = _mm512_set1_ps(inv);
    for (i = 0; i < n; i += 16) {
        __mmask16 k = qfd_mask16(n - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), vm), vi);
        __m512 b = bias ? _mm512_maskz_loadu_ps(k, bias + i) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(yr + i, k, _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, scale + i), b));
    }
    *mean_out = mean;
    *inv_out = inv;
}
#endif

static qfd_status forward(qfd_op_ctx *oc)
{
    const ln_state *s = oc->state;
    const qfd_array *xa = oc->in[0], *sa = oc->in[1], *ba = qfd_op_in(oc, 2);
    int axis = qfd_norm_axis(s->axis, xa->rank);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= xa->dims[i];
    for (int i = axis; i < xa->rank; i++)
        inner *= xa->dims[i];
    const float *x = xa->data, *scale = sa->data, *bias = ba ? ba->data : NULL;
    float *ws = oc->ws;
    if (!is_full(sa, inner)) {
        expand(sa, xa, axis, ws);
        scale = ws;
        ws += inner;
    }
    if (ba && !is_full(ba, inner)) {
        expand(ba, xa, axis, ws);
        bias = ws;
    }
    float *y = oc->out[0]->data;
    float *mean_out = oc->n_out > 1 && oc->out[1] ? oc->out[1]->data : NULL;
    float *inv_out = oc->n_out > 2 && oc->out[2] ? oc->out[2]->data : NULL;
    float *saved = oc->saved;
    float eps = s->epsilon;
    if (inner == 0)
        return QFD_OK;
    bool avx512 = qfd_cpu_avx512();
    (void)avx512; /* unused without AVX-512 kernels */
#pragma omp parallel for num_threads(oc->n_threads) if (outer * inner > 65536)
    for (int64_t r = 0; r < outer; r++) {
        float mean, inv;
#if QFD_HAVE_AVX512
        if (avx512)
            row_avx512(x + r * inner, y + r * inner, scale, bias, inner, eps, &mean, &inv);
        else
#endif
            row(x + r * inner, y + r * inner, scale, bias, inner, eps, &mean, &inv);
        if (mean_out)
            mean_out[r] = mean;
        if (inv_out)
            inv_out[r] = inv;
        if (saved) {
            saved[r] = mean;
            saved[outer + r] = inv;
        }
    }
    return QFD_OK;
}

static void row_sizes(const qfd_op_ctx *oc, int *axis, int64_t *outer, int64_t *inner)
{
    const ln_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    *axis = qfd_norm_axis(s->axis, x->rank);
    *outer = *inner = 1;
    for (int i = 0; i < *axis; i++)
        *outer *= x->dims[i];
    for (int i = *axis; i < x->rank; i++)
        *inner *= x->dims[i];
}

static size_t saved_size(const qfd_op_ctx *oc)
{
    int axis;
    int64_t outer, inner;
    row_sizes(oc, &axis, &outer, &inner);
    return 2 * (size_t)outer * sizeof(float);
}

/* Expanded Scale (always, for simplicity) and the full-row accumulators of
 * dScale and dB, reduced onto the parameters' shapes at the end. */
static size_t backward_workspace(const qfd_op_ctx *oc)
{
    int axis;
    int64_t outer, inner;
    row_sizes(oc, &axis, &outer, &inner);
    return 3 * (size_t)inner * sizeof(float);
}

/* The inverse of expand: dst (p's shape) += src summed over the broadcast axes. */
static void reduce_into(const qfd_array *p, const qfd_array *x, int axis, const float *src, float *dst)
{
    int nr = x->rank - axis;
    int64_t stride[QFD_ARRAY_MAX_RANK], idx[QFD_ARRAY_MAX_RANK] = {0}, inner = 1, st = 1;
    for (int i = nr - 1; i >= 0; i--) {
        int pi = i - (nr - p->rank);
        stride[i] = pi >= 0 && p->dims[pi] != 1 ? st : 0;
        if (pi >= 0)
            st *= p->dims[pi];
        inner *= x->dims[axis + i];
    }
    for (int64_t j = 0; j < inner; j++) {
        int64_t off = 0;
        for (int i = 0; i < nr; i++)
            off += idx[i] * stride[i];
        dst[off] += src[j];
        for (int i = nr - 1; i >= 0 && ++idx[i] == x->dims[axis + i]; i--)
            idx[i] = 0;
    }
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const qfd_array *xa = oc->in[0], *sa = oc->in[1], *ba = qfd_op_in(oc, 2);
    int axis;
    int64_t outer, inner;
    row_sizes(oc, &axis, &outer, &inner);
    if (!oc->saved)
        return qfd_op_fail(oc, QFD_ERR_INTERNAL, "backward without the statistics of a training forward");
    if (inner == 0 || outer == 0)
        return QFD_OK;
    const float *x = xa->data, *saved = oc->saved;
    const float *dy = oc->gout[0] ? oc->gout[0]->data : NULL;
    const float *gmean = oc->n_out > 1 && oc->gout[1] ? oc->gout[1]->data : NULL;
    const float *ginv = oc->n_out > 2 && oc->gout[2] ? oc->gout[2]->data : NULL;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL;
    float *dscale = oc->gin[1] ? oc->gin[1]->data : NULL;
    float *dbias = ba && oc->gin[2] ? oc->gin[2]->data : NULL;
    float *ws = oc->ws, *scale = ws, *acc_s = ws + inner, *acc_b = ws + 2 * inner;
    expand(sa, xa, axis, scale);
    float rn = 1.0f / (float)inner;
    if (dx) {
#pragma omp parallel for num_threads(oc->n_threads) if (outer * inner > 65536)
        for (int64_t r = 0; r < outer; r++) {
            const float *xr = x + r * inner;
            float *dr = dx + r * inner;
            float mean = saved[r], inv = saved[outer + r];
            float extra_m = gmean ? gmean[r] * rn : 0.0f;
            float extra_v = ginv ? -ginv[r] * inv * inv * inv * rn : 0.0f;
            float m1 = 0.0f, m2 = 0.0f;
            if (dy) {
                const float *gr = dy + r * inner;
                double s1 = 0.0, s2 = 0.0;
                for (int64_t i = 0; i < inner; i++) {
                    float g = gr[i] * scale[i];
                    s1 += g;
                    s2 += (double)g * ((xr[i] - mean) * inv);
                }
                m1 = (float)(s1 * rn);
                m2 = (float)(s2 * rn);
                for (int64_t i = 0; i < inner; i++) {
                    float d = xr[i] - mean;
                    dr[i] += inv * (gr[i] * scale[i] - m1 - d * inv * m2) + extra_m + extra_v * d;
                }
            } else {
                for (int64_t i = 0; i < inner; i++)
                    dr[i] += extra_m + extra_v * (xr[i] - mean);
            }
        }
    }
    if (!dy || (!dscale && !dbias))
        return QFD_OK;
    for (int64_t i = 0; i < inner; i++)
        acc_s[i] = acc_b[i] = 0.0f;
    /* Row by row, so that the inner loops run over contiguous memory. */
    for (int64_t r = 0; r < outer; r++) {
        const float *xr = x + r * inner, *gr = dy + r * inner;
        float mean = saved[r], inv = saved[outer + r];
        for (int64_t i = 0; i < inner; i++) {
            acc_s[i] += gr[i] * ((xr[i] - mean) * inv);
            acc_b[i] += gr[i];
        }
    }
    if (dscale)
        reduce_into(sa, xa, axis, acc_s, dscale);
    if (dbias)
        reduce_into(ba, xa, axis, acc_b, dbias);
    return QFD_OK;
}

const qfd_op_def qfd_op_layernorm = {
    .name = "LayerNormalization",
    .domain = "",
    .since = 17,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_NORM, QFD_ROLE_NORM},
    .state_size = sizeof(ln_state),
    .parse = parse,
    .infer = infer,
    .workspace = workspace,
    .forward = forward,
    .saved_size = saved_size,
    .backward_workspace = backward_workspace,
    .backward = backward,
    .backward_reads = qfd_reads_inputs,
};
