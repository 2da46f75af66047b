/* GlobalAveragePool and GlobalMaxPool (opsets 1-21): over all spatial axes
 * of X (N x C x D1 x ... x Dn),
 *   GlobalAveragePool: y[n,c,1,...,1] = mean of x[n,c,...]
 *   GlobalMaxPool:     y[n,c,1,...,1] = max of x[n,c,...], NaN if one is NaN
 * Float only.
 * Backward: GlobalAveragePool dx[n,c,...] += dy[n,c] / (spatial size);
 * GlobalMaxPool routes dy[n,c] to the first position of the max, or of the
 * first NaN (recomputed from X), as the forward's strict > keeps the first.
 */
#include <math.h>

#include "ops/op.h"

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input X is missing");
    if (x->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "X: only float is supported, got %s",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    if (x->rank < 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X must have rank >= 2 (N x C x ...), got rank %d", x->rank);
    qfd_array_like(oc->out[0], x);
    for (int i = 2; i < x->rank; i++)
        oc->out[0]->dims[i] = 1;
    return QFD_OK;
}

static void plane_sizes(const qfd_array *x, int64_t *planes, int64_t *inner)
{
    *planes = x->dims[0] * x->dims[1];
    *inner = 1;
    for (int i = 2; i < x->rank; i++)
        *inner *= x->dims[i];
}

static qfd_status forward_avg(qfd_op_ctx *oc)
{
    int64_t planes, inner;
    plane_sizes(oc->in[0], &planes, &inner);
    const float *x = oc->in[0]->data;
    float *y = oc->out[0]->data;
#pragma omp parallel for num_threads(oc->n_threads) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * inner;
        /* Eight partial sums let gcc vectorise the reduction without
         * -ffast-math, and keep the rounding error of long planes small. */
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= inner; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += xp[i + j];
        double sum = 0.0;
        for (int j = 0; j < 8; j++)
            sum += acc[j];
        for (; i < inner; i++)
            sum += xp[i];
        y[p] = inner > 0 ? (float)(sum / (double)inner) : 0.0f;
    }
    return QFD_OK;
}

static qfd_status forward_max(qfd_op_ctx *oc)
{
    int64_t planes, inner;
    plane_sizes(oc->in[0], &planes, &inner);
    const float *x = oc->in[0]->data;
    float *y = oc->out[0]->data;
#pragma omp parallel for num_threads(oc->n_threads) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * inner;
        float m = -INFINITY;
        for (int64_t i = 0; i < inner; i++)
            m = QFD_MAX_NAN(m, xp[i]);
        y[p] = m;
    }
    return QFD_OK;
}

static qfd_status backward_avg(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    int64_t planes, inner;
    plane_sizes(oc->in[0], &planes, &inner);
    const float *dy = oc->gout[0]->data;
    float *dx = oc->gin[0]->data;
    if (inner == 0)
        return QFD_OK;
    float rn = 1.0f / (float)inner;
#pragma omp parallel for num_threads(oc->n_threads) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        float v = dy[p] * rn;
        float *dp = dx + p * inner;
        for (int64_t i = 0; i < inner; i++)
            dp[i] += v;
    }
    return QFD_OK;
}

static qfd_status backward_max(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    int64_t planes, inner;
    plane_sizes(oc->in[0], &planes, &inner);
    const float *x = oc->in[0]->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0]->data;
#pragma omp parallel for num_threads(oc->n_threads) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * inner;
        float m = -INFINITY;
        int64_t at = -1;
        for (int64_t i = 0; i < inner; i++)
            if (at < 0 || xp[i] > m || (xp[i] != xp[i] && m == m)) {
                m = xp[i];
                at = i;
            }
        if (at >= 0)
            dx[p * inner + at] += dy[p];
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_globalaveragepool = {
    .name = "GlobalAveragePool",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward_avg,
    .backward = backward_avg,
    .backward_reads = qfd_reads_nothing,
};

const qfd_op_def qfd_op_globalmaxpool = {
    .name = "GlobalMaxPool",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward_max,
    .backward = backward_max,
    .backward_reads = qfd_reads_inputs,
};
