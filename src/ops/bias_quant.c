/* BiasQuant (domain ai.qfd, opset 1): a layer's bias as the integer kernels
 * of ONNX Runtime and TensorRT hold it, int32 at the step x_step * w_step:
 *   y[c] = clamp(round(b[c] / s[c]), INT32_MIN, INT32_MAX) * s[c],
 *   s[c] = sx * sw[c]   (float32 product, as the runtimes compute it)
 *   inputs   b [C] (float), sx (one element), sw (one element or [C])
 * round is half to even. ONNX Runtime quantizes a float Conv bias this way
 * itself when it fuses the Conv, so a fake-quant model that left the bias
 * float would not compute what the exported file does (at 4 bits the step
 * is large enough to move the bias visibly).
 * Backward: db += dy (straight through); the steps get no gradient from
 * here (their own FakeQuant nodes train them). */
#include <math.h>
#include <stdint.h>

#include "ops/bias_quant.h"
#include "ops/op.h"

static qfd_status check(const qfd_op_ctx *oc, int64_t *n, int64_t *nw)
{
    const qfd_array *b = qfd_op_in(oc, 0), *sx = qfd_op_in(oc, 1), *sw = qfd_op_in(oc, 2);
    if (!b || !sx || !sw || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs b, sx, sw and output y");
    if (b->dtype != QFD_DT_FLOAT || sx->dtype != QFD_DT_FLOAT || sw->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "b, sx and sw must be float");
    *n = qfd_array_numel(b);
    *nw = qfd_array_numel(sw);
    if (b->rank != 1 || qfd_array_numel(sx) != 1 || (*nw != 1 && *nw != *n))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "b must be [C], sx one element, sw one element or [C]");
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    int64_t n = 0, nw = 0;
    qfd_status st = check(oc, &n, &nw);
    if (!st)
        qfd_array_like(oc->out[0], oc->in[0]);
    return st;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    int64_t n = 0, nw = 0;
    qfd_status st = check(oc, &n, &nw);
    if (st)
        return st;
    const float *b = oc->in[0]->data, sx = *(const float *)oc->in[1]->data, *sw = oc->in[2]->data;
    float *y = oc->out[0]->data;
    for (int64_t c = 0; c < n; c++) {
        float s = sx * sw[nw == 1 ? 0 : c];
        if (!(s > 0.0f && isfinite(s)))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "step %g of channel %lld: steps must be positive and finite",
                               (double)s, (long long)c);
        y[c] = (float)qfd_bias_quant_int(b[c], s) * s;
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const qfd_array *dy = oc->gout[0];
    qfd_array *db = oc->gin[0];
    if (!dy || !db)
        return QFD_OK;
    const int64_t n = qfd_array_numel(dy);
    const float *g = dy->data;
    float *d = db->data;
    for (int64_t c = 0; c < n; c++)
        d[c] = (oc->gin_fresh & 1u ? 0.0f : d[c]) + g[c];
    return QFD_OK;
}

static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    return k == 0 && oc->gout[0];
}

const qfd_op_def qfd_op_bias_quant = {
    .name = "BiasQuant",
    .domain = "ai.qfd",
    .since = 1,
    .param_role = {QFD_ROLE_BIAS, QFD_ROLE_STEP, QFD_ROLE_STEP},
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_nothing,
    .grad_writes = grad_writes,
};
