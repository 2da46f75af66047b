/* BatchNormalization (opsets 6-15), per channel c of X (N x C x ...):
 *   y = scale[c] * (x - mu[c]) * inv[c] + B[c],  inv[c] = 1 / sqrt(v[c] + epsilon)
 * Inference: mu, v are the inputs mean and var.
 * Batch statistics (a training forward of the trainer, oc->training, or the
 * node's own training_mode=1 at opset 14+): mu, v are the mean and biased
 * variance of x over N and the spatial axes (M values per channel).
 *   - training_mode=1 outputs (ONNX semantics, which the backend tests and the
 *     ONNX reference check): running_mean = mean * momentum + mu * (1 - momentum),
 *     running_var = var * momentum + v * (1 - momentum), v biased.
 *   - oc->training also updates the input buffers mean and var in place, but
 *     with the UNBIASED variance v * M / (M - 1) as PyTorch does, so that a
 *     model fine-tuned here has the running statistics PyTorch would give it.
 * Backward, with xh = (x - mu) * inv and sums over the M values of channel c:
 *   dB[c] += sum dy,  dscale[c] += sum dy * xh
 *   inference:  dx += dy * scale * inv,
 *               dmean += -scale * inv * sum dy,  dvar += -scale * inv^2 / 2 * sum dy * xh
 *   batch:      dx += scale * inv / M * (M dy - sum dy - xh * sum dy * xh)
 *               plus, through the running_mean/var outputs (g1, g2):
 *               dx += (1 - momentum) * (g1 + 2 g2 (x - mu)) / M,
 *               dmean += momentum * g1,  dvar += momentum * g2
 * Opsets 6-8 carry `spatial` (only 1, the per-channel form, is supported) and
 * opset 6 `is_test` (0 unsupported); before opset 14 the optional statistics
 * outputs are not supported.
 */
#include <math.h>
#include <stdbool.h>

#include "ops/op.h"
#include "ops/simd.h"

typedef struct bn_state {
    float epsilon, momentum;
    bool training_mode; /* the node's attribute: batch statistics in any forward */
} bn_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    bn_state *s = state;
    const qfd_node *n = oc->node;
    s->epsilon = qfd_attr_float(n, "epsilon", 1e-5f);
    s->momentum = qfd_attr_float(n, "momentum", 0.9f);
    if (oc->opset < 7 && qfd_attr_int(n, "is_test", 0) == 0)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "is_test=0 (training mode) is not supported");
    if (oc->opset < 9 && qfd_attr_int(n, "spatial", 1) != 1)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "spatial=0 (per-activation statistics) is not supported");
    int64_t tm = oc->opset >= 14 ? qfd_attr_int(n, "training_mode", 0) : 0;
    if (tm != 0 && tm != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "training_mode must be 0 or 1, got %lld", (long long)tm);
    s->training_mode = tm == 1;
    if (oc->opset >= 14 && oc->n_out > 3)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "has %zu outputs, at most 3 (Y, running_mean, running_var)", oc->n_out);
    for (size_t k = 1; k < oc->n_out; k++) {
        if (oc->node->out[k] < 0)
            continue;
        if (oc->opset < 14)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED,
                               "output %zu (training statistics) is not supported before opset 14", k);
        if (!s->training_mode)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "output %zu (running statistics) needs training_mode=1", k);
    }
    if (!(s->epsilon >= 0.0f))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "epsilon must be >= 0, got %g", (double)s->epsilon);
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    static const char *const names[] = {"X", "scale", "B", "mean", "var"};
    if (oc->n_in != 5)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "expects 5 inputs, got %zu", oc->n_in);
    for (int i = 0; i < 5; i++) {
        const qfd_array *a = qfd_op_in(oc, (size_t)i);
        if (!a)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %s is missing", names[i]);
        if (a->dtype != QFD_DT_FLOAT)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input %s: only float is supported, got %s", names[i],
                               qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?");
    }
    const qfd_array *x = oc->in[0];
    if (x->rank < 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X must have rank >= 2 (N x C x ...), got rank %d", x->rank);
    for (int i = 1; i < 5; i++) {
        const qfd_array *a = oc->in[i];
        if (a->rank != 1 || a->dims[0] != x->dims[1])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %s must have shape [%lld] (the channel count)", names[i],
                               (long long)x->dims[1]);
    }
    qfd_array_like(oc->out[0], x);
    for (size_t k = 1; k < oc->n_out && k < 3; k++)
        if (oc->out[k])
            qfd_array_like(oc->out[k], oc->in[3]);
    return QFD_OK;
}

/* Per-channel mean and inverse std kept for backward. */
static size_t saved_size(const qfd_op_ctx *oc)
{
    return 2 * (size_t)oc->in[0]->dims[1] * sizeof(float);
}

static void sizes(const qfd_array *x, int64_t *N, int64_t *C, int64_t *inner)
{
    *N = x->dims[0];
    *C = x->dims[1];
    *inner = 1;
    for (int i = 2; i < x->rank; i++)
        *inner *= x->dims[i];
}

static bool batch_stats(const qfd_op_ctx *oc)
{
    const bn_state *s = oc->state;
    return oc->training || s->training_mode;
}

/* Per-plane kernels: the channel loops above them run over N planes of
 * `inner` contiguous values each. */
/* sum (x - k) and sum (x - k)^2 over one plane: two loops of one lane
 * array each (one loop with two arrays vectorised badly), the second
 * reading the plane from L1 */
QFD_SIMD_CLONES
static void plane_moments(const float *x, int64_t n, float k, double *s1, double *s2)
{
    float a1[QFD_SIMD_LANES] = {0}, a2[QFD_SIMD_LANES] = {0};
    const int64_t nv = n - n % QFD_SIMD_LANES;
    for (int64_t i = 0; i < nv; i += QFD_SIMD_LANES)
        for (int j = 0; j < QFD_SIMD_LANES; j++)
            a1[j] += x[i + j] - k;
    for (int64_t i = 0; i < nv; i += QFD_SIMD_LANES)
        for (int j = 0; j < QFD_SIMD_LANES; j++) {
            float d = x[i + j] - k;
            a2[j] += d * d;
        }
    double t1 = 0.0, t2 = 0.0;
    for (int j = 0; j < QFD_SIMD_LANES; j++) {
        t1 += a1[j];
        t2 += a2[j];
    }
    for (int64_t i = nv; i < n; i++) {
        double d = (double)x[i] - k;
        t1 += d;
        t2 += d * d;
    }
    *s1 += t1;
    *s2 += t2;
}

QFD_SIMD_CLONES
static void plane_affine(const float *x, int64_t n, float mu, float a, float b, float *y)
{
    /* (x - mu) * a + b, not x * a + (b - mu * a): with a mean large against
     * the spread the latter cancels two large terms (training passes one of
     * the channel's values as mu, exactly representable unlike the mean) */
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] - mu) * a + b;
}

/* sum g and sum g * (x - mu) over one plane */
QFD_SIMD_CLONES
static void plane_grad_sums(const float *g, const float *x, int64_t n, float mu, double *sg, double *sgd)
{
    /* two loops of one lane array each, as in plane_moments */
    float a1[QFD_SIMD_LANES] = {0}, a2[QFD_SIMD_LANES] = {0};
    const int64_t nv = n - n % QFD_SIMD_LANES;
    for (int64_t i = 0; i < nv; i += QFD_SIMD_LANES)
        for (int j = 0; j < QFD_SIMD_LANES; j++)
            a1[j] += g[i + j];
    for (int64_t i = 0; i < nv; i += QFD_SIMD_LANES)
        for (int j = 0; j < QFD_SIMD_LANES; j++)
            a2[j] += g[i + j] * (x[i + j] - mu);
    double s1 = 0.0, s2 = 0.0;
    for (int j = 0; j < QFD_SIMD_LANES; j++) {
        s1 += a1[j];
        s2 += a2[j];
    }
    for (int64_t i = nv; i < n; i++) {
        s1 += g[i];
        s2 += (double)g[i] * (x[i] - mu);
    }
    *sg += s1;
    *sgd += s2;
}

/* dx (+)= k * (g - m1 - (x - mu) * k2) + r1 + r2 * (x - mu), g = 0 without
 * dy; written when `write` (a fresh gradient), else added */
QFD_SIMD_CLONES
static void plane_batch_dx(const float *g, const float *x, int64_t n, float mu, float k, float m1, float k2, float r1,
                           float r2, bool write, float *dx)
{
    if (write && g)
        for (int64_t i = 0; i < n; i++) {
            float d = x[i] - mu;
            dx[i] = k * (g[i] - m1 - d * k2) + r1 + r2 * d;
        }
    else if (g)
        for (int64_t i = 0; i < n; i++) {
            float d = x[i] - mu;
            dx[i] += k * (g[i] - m1 - d * k2) + r1 + r2 * d;
        }
    else if (write)
        for (int64_t i = 0; i < n; i++)
            dx[i] = r1 + r2 * (x[i] - mu);
    else
        for (int64_t i = 0; i < n; i++)
            dx[i] += r1 + r2 * (x[i] - mu);
}

static qfd_status forward_batch(qfd_op_ctx *oc)
{
    const bn_state *s = oc->state;
    const qfd_array *xa = oc->in[0];
    int64_t N, C, inner;
    sizes(xa, &N, &C, &inner);
    int64_t M = N * inner;
    const float *x = xa->data, *scale = oc->in[1]->data, *bias = oc->in[2]->data;
    /* The trainer owns the model: the running statistics live in the inputs. */
    float *rmean = oc->in[3]->data, *rvar = oc->in[4]->data;
    float *y = oc->out[0]->data;
    float *mean_out = oc->n_out > 1 && oc->out[1] ? oc->out[1]->data : NULL;
    float *var_out = oc->n_out > 2 && oc->out[2] ? oc->out[2]->data : NULL;
    float *saved = oc->saved;
    float eps = s->epsilon, mom = s->momentum;
    bool update = oc->training;
#pragma omp parallel for num_threads(oc->n_threads) if (M * C > 65536)
    for (int64_t c = 0; c < C; c++) {
        /* One pass over x - k with k one of the channel's values: E[x^2] -
         * E[x]^2 itself loses the variance of channels whose mean is large
         * against their spread, and k is as close to the mean as the spread.
         * Planes are summed in float lanes, planes in double. */
        const float k = M > 0 ? x[c * inner] : 0.0f;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t n = 0; n < N; n++)
            plane_moments(x + (n * C + c) * inner, inner, k, &s1, &s2);
        double d1 = M > 0 ? s1 / (double)M : 0.0, mu = k + d1;
        double var = M > 0 ? s2 / (double)M - d1 * d1 : 0.0;
        var = var > 0.0 ? var : 0.0;
        double sq = var * (double)M;
        float inv = (float)(1.0 / sqrt(var + (double)eps));
        const float a = scale[c] * inv;
        for (int64_t n = 0; n < N; n++)
            plane_affine(x + (n * C + c) * inner, inner, k, a, bias[c] - (float)(d1 * a), y + (n * C + c) * inner);
        if (saved) {
            saved[c] = (float)mu;
            saved[C + c] = inv;
        }
        /* Outputs from the running statistics as they were on entry. */
        if (mean_out)
            mean_out[c] = rmean[c] * mom + (float)mu * (1.0f - mom);
        if (var_out)
            var_out[c] = rvar[c] * mom + (float)var * (1.0f - mom);
        if (update) {
            /* M = 1 has no unbiased variance (PyTorch refuses the batch);
             * the biased one (0) keeps the statistics finite. */
            double uvar = M > 1 ? sq / (double)(M - 1) : var;
            rmean[c] = rmean[c] * mom + (float)mu * (1.0f - mom);
            rvar[c] = rvar[c] * mom + (float)uvar * (1.0f - mom);
        }
    }
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    if (batch_stats(oc))
        return forward_batch(oc);
    const bn_state *s = oc->state;
    const qfd_array *xa = oc->in[0];
    const float *x = xa->data, *scale = oc->in[1]->data, *bias = oc->in[2]->data;
    const float *mean = oc->in[3]->data, *var = oc->in[4]->data;
    float *y = oc->out[0]->data;
    int64_t N, C, inner;
    sizes(xa, &N, &C, &inner);
    int64_t planes = N * C;
    float eps = s->epsilon;
    /* Folding the statistics into one multiply-add per element per plane. */
#pragma omp parallel for num_threads(oc->n_threads) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % C;
        const float a = scale[c] / sqrtf(var[c] + eps);
        plane_affine(x + p * inner, inner, mean[c], a, bias[c], y + p * inner);
    }
    return QFD_OK;
}

static float *grad_of(const qfd_op_ctx *oc, size_t k)
{
    return oc->gin[k] ? oc->gin[k]->data : NULL;
}

static const float *gout_of(const qfd_op_ctx *oc, size_t k)
{
    return k < oc->n_out && oc->gout[k] ? oc->gout[k]->data : NULL;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const bn_state *s = oc->state;
    const qfd_array *xa = oc->in[0];
    int64_t N, C, inner;
    sizes(xa, &N, &C, &inner);
    int64_t M = N * inner;
    bool batch = batch_stats(oc);
    if (batch && !oc->saved)
        return qfd_op_fail(oc, QFD_ERR_INTERNAL, "backward without the statistics of a training forward");
    const float *x = xa->data, *scale = oc->in[1]->data;
    const float *dy = gout_of(oc, 0), *g1 = batch ? gout_of(oc, 1) : NULL, *g2 = batch ? gout_of(oc, 2) : NULL;
    float *dx = grad_of(oc, 0), *dscale = grad_of(oc, 1), *dbias = grad_of(oc, 2);
    float *dmean = grad_of(oc, 3), *dvar = grad_of(oc, 4);
    const float *saved = oc->saved;
    float eps = s->epsilon, mom = s->momentum;
    const bool write = oc->gin_fresh & 1u;
    if (M == 0)
        return QFD_OK;
#pragma omp parallel for num_threads(oc->n_threads) if (M * C > 65536)
    for (int64_t c = 0; c < C; c++) {
        float mu = batch ? saved[c] : ((const float *)oc->in[3]->data)[c];
        float inv = batch ? saved[C + c] : 1.0f / sqrtf(((const float *)oc->in[4]->data)[c] + eps);
        double sdy = 0.0, sdyxh = 0.0;
        if (dy) {
            for (int64_t n = 0; n < N; n++)
                plane_grad_sums(dy + (n * C + c) * inner, x + (n * C + c) * inner, inner, mu, &sdy, &sdyxh);
            sdyxh *= inv;
        }
        if (dbias)
            dbias[c] += (float)sdy;
        if (dscale)
            dscale[c] += (float)sdyxh;
        if (!batch) {
            if (dmean)
                dmean[c] += -scale[c] * inv * (float)sdy;
            if (dvar)
                dvar[c] += -0.5f * scale[c] * inv * inv * (float)sdyxh;
        } else {
            if (dmean && g1)
                dmean[c] += mom * g1[c];
            if (dvar && g2)
                dvar[c] += mom * g2[c];
        }
        if (!dx)
            continue;
        float k = scale[c] * inv;
        if (batch) {
            float m1 = (float)(sdy / (double)M), m2 = (float)(sdyxh / (double)M);
            float r1 = g1 ? (1.0f - mom) * g1[c] / (float)M : 0.0f;
            float r2 = g2 ? 2.0f * (1.0f - mom) * g2[c] / (float)M : 0.0f;
            for (int64_t n = 0; n < N; n++)
                plane_batch_dx(dy ? dy + (n * C + c) * inner : NULL, x + (n * C + c) * inner, inner, mu, k, m1,
                               inv * m2, r1, r2, write, dx + (n * C + c) * inner);
        } else if (dy) {
            for (int64_t n = 0; n < N; n++) {
                const float *gp = dy + (n * C + c) * inner;
                float *dp = dx + (n * C + c) * inner;
                if (write)
                    for (int64_t i = 0; i < inner; i++)
                        dp[i] = k * gp[i];
                else
                    for (int64_t i = 0; i < inner; i++)
                        dp[i] += k * gp[i];
            }
        }
    }
    return QFD_OK;
}

/* dX is written outright (a fresh gradient) on every path that computes
 * it: batch statistics, or inference form with an incoming dY. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    return k == 0 && (batch_stats(oc) || oc->gout[0]);
}

const qfd_op_def qfd_op_batchnorm = {
    .name = "BatchNormalization",
    .domain = "",
    .since = 6,
    /* running mean and variance: statistics, not weights */
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_NORM, QFD_ROLE_NORM, QFD_ROLE_FROZEN, QFD_ROLE_FROZEN},
    .state_size = sizeof(bn_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .saved_size = saved_size,
    .backward = backward,
    .backward_reads = qfd_reads_inputs,
    .grad_writes = grad_writes,
};
