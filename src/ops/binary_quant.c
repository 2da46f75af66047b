/* BinaryQuant (domain ai.qfd, opset 1): the 1-bit quantizer of a feature
 * that can be negative (quantize --method qfd --teacher-bits 1),
 * y = s * sign(x), with sign(0) = +1 so that every finite output is one of
 * the two values -s, s; NaN stays NaN.
 *   inputs   x (float), s (float, one element)
 *   attrs    grad_scale (float, default 0: 1 / sqrt(n), n the elements per
 *            example, as FakeQuant's LSQ scale with Q = 1)
 * Backward, straight through inside the range the output can reach (the
 * clipped estimator of binarized networks: a value beyond the step gets no
 * gradient, as FakeQuant's clamped values do not), and the exact
 * derivative of y in s:
 *   dx += |x| <= s ? dy : 0
 *   ds += g * sum dy * sign(x)
 * A non-negative feature's 1-bit quantizer, {0, s}, is FakeQuant with
 * qmin 0, qmax 1: no op of its own. */
#include <math.h>

#include "ops/op.h"

/* Backward sums in fixed chunks, added in order: the step's gradient does
 * not depend on the thread count. */
#define BQ_CHUNK 16384

typedef struct bq_state {
    float grad_scale;
} bq_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    bq_state *s = state;
    s->grad_scale = qfd_attr_float(oc->node, "grad_scale", 0.0f);
    if (!(s->grad_scale >= 0.0f && isfinite(s->grad_scale)))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "grad_scale must be >= 0 (0: automatic), got %g",
                           (double)s->grad_scale);
    return QFD_OK;
}

static qfd_status check(const qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *s = qfd_op_in(oc, 1);
    if (!x || !s || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs x and s and output y");
    if (x->dtype != QFD_DT_FLOAT || s->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "x and s must be float");
    if (qfd_array_numel(s) != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "s must have one element (a per-tensor step)");
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    qfd_status st = check(oc);
    if (!st)
        qfd_array_like(oc->out[0], oc->in[0]);
    return st;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    qfd_status st = check(oc);
    if (st)
        return st;
    const float *x = oc->in[0]->data, s = *(const float *)oc->in[1]->data;
    float *y = oc->out[0]->data;
    if (!(s > 0.0f && isfinite(s)))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "step s = %g: must be positive and finite", (double)s);
    const int64_t n = qfd_array_numel(oc->in[0]);
#pragma omp parallel for num_threads(oc->n_threads) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] >= 0.0f ? s : x[i] < 0.0f ? -s : x[i];
    return QFD_OK;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    int64_t n = x ? qfd_array_numel(x) : 0;
    return (size_t)((n + BQ_CHUNK - 1) / BQ_CHUNK + 1) * sizeof(double);
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const qfd_array *xa = oc->in[0];
    const float *x = xa->data, s = *(const float *)oc->in[1]->data;
    const float *dy = oc->gout[0] ? oc->gout[0]->data : NULL;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL, *ds = oc->gin[1] ? oc->gin[1]->data : NULL;
    if (!dy)
        return QFD_OK;
    const int64_t n = qfd_array_numel(xa), n_chunks = (n + BQ_CHUNK - 1) / BQ_CHUNK;
    const bool write = oc->gin_fresh & 1u;
    double *part = oc->ws;
#pragma omp parallel for num_threads(oc->n_threads) if (n > 65536) schedule(static)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t a = k * BQ_CHUNK, b = a + BQ_CHUNK < n ? a + BQ_CHUNK : n;
        double sum = 0.0;
        for (int64_t i = a; i < b; i++) {
            float g = fabsf(x[i]) <= s ? dy[i] : 0.0f;
            if (dx)
                dx[i] = write ? g : dx[i] + g;
            sum += (double)dy[i] * (x[i] >= 0.0f ? 1.0 : x[i] < 0.0f ? -1.0 : 0.0);
        }
        part[k] = sum;
    }
    if (ds) {
        double sum = 0.0;
        for (int64_t k = 0; k < n_chunks; k++)
            sum += part[k];
        const bq_state *st = oc->state;
        int64_t per = xa->rank && xa->dims[0] > 0 ? n / xa->dims[0] : n;
        double g = st->grad_scale > 0.0f ? st->grad_scale : 1.0 / sqrt((double)(per > 0 ? per : 1));
        ds[0] += (float)(g * sum);
    }
    return QFD_OK;
}

/* dx is written in full whenever a gradient arrives. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    return k == 0 && oc->gout[0];
}

const qfd_op_def qfd_op_binary_quant = {
    .name = "BinaryQuant",
    .domain = "ai.qfd",
    .since = 1,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_STEP},
    .state_size = sizeof(bq_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward_workspace = backward_workspace,
    .backward = backward,
    .grad_writes = grad_writes,
};
