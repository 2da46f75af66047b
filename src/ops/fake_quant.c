/* FakeQuant (domain ai.qfd, opset 1): the quantizer that quantization-aware
 * training trains, y = clamp(round(x / s), qmin, qmax) * s.
 *   inputs   x (float), s (float): per tensor one element, per channel [C]
 *            with C = x's dim along `axis`
 *   attrs    qmin, qmax (ints, required; e.g. -8..7, 0..15, -128..127),
 *            axis (default 1, per channel only), grad_scale (float, default 0:
 *            1 / sqrt(n * Q), see below)
 * round is half to even after the float division x / s, as ONNX
 * QuantizeLinear computes it, so that the exported Q -> DQ pair (zero point
 * 0) gives the same floats: qfd-onnx's QuantizeLinear uses rintf(x / s).
 * Backward, with v = x / s and inside = qmin <= v <= qmax:
 *   dx += inside ? dy : 0                       (straight-through estimator)
 *   ds += g * sum dy * (inside ? round(v) - v : v < qmin ? qmin : qmax)
 * the LSQ step gradient (Esser et al. 2020), summed per channel or over the
 * tensor, with g = grad_scale or 1 / sqrt(n * Q): n the elements per channel
 * (per channel) or per example (per tensor: numel / dims[0]), Q = qmax, or
 * -qmin when qmax <= 0.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"
#include "ops/simd.h"

/* |q| bound: keeps round's magic-number trick exact (|v| < 2^22). */
#define FQ_QLIMIT 65536
/* Per-tensor backward sums in fixed chunks, added in order: the step's
 * gradient does not depend on the thread count. */
#define FQ_CHUNK 16384

typedef struct fq_state {
    float qmin, qmax, grad_scale;
    int64_t axis;
} fq_state;

typedef struct fq_plan {
    int64_t outer, ch, inner; /* x as [outer, ch, inner]; ch = 1 per tensor */
    int64_t numel;
    bool per_channel;
} fq_plan;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    fq_state *s = state;
    const qfd_node *n = oc->node;
    if (!qfd_attr_get(n, "qmin") || !qfd_attr_get(n, "qmax"))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs the integer attributes qmin and qmax");
    int64_t lo = qfd_attr_int(n, "qmin", 0), hi = qfd_attr_int(n, "qmax", 0);
    if (lo >= hi || lo < -FQ_QLIMIT || hi > FQ_QLIMIT)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "qmin %lld and qmax %lld: need qmin < qmax, both within +-%d",
                           (long long)lo, (long long)hi, FQ_QLIMIT);
    s->qmin = (float)lo;
    s->qmax = (float)hi;
    s->axis = qfd_attr_int(n, "axis", 1);
    s->grad_scale = qfd_attr_float(n, "grad_scale", 0.0f);
    if (!(s->grad_scale >= 0.0f && isfinite(s->grad_scale)))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "grad_scale must be >= 0 (0: automatic), got %g",
                           (double)s->grad_scale);
    return QFD_OK;
}

static qfd_status plan_of(const qfd_op_ctx *oc, fq_plan *p)
{
    const fq_state *s = oc->state;
    const qfd_array *x = qfd_op_in(oc, 0), *st = qfd_op_in(oc, 1);
    if (!x || !st || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs x and s and output y");
    if (x->dtype != QFD_DT_FLOAT || st->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "x and s must be float");
    p->numel = qfd_array_numel(x);
    p->outer = 1;
    p->ch = 1;
    p->inner = p->numel;
    p->per_channel = qfd_array_numel(st) != 1;
    if (!p->per_channel)
        return QFD_OK;
    int axis = qfd_norm_axis(s->axis, x->rank);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)s->axis, x->rank);
    if (st->rank != 1 || st->dims[0] != x->dims[axis])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "s must have one element or shape [%lld] (x's dim %d)",
                           (long long)x->dims[axis], axis);
    p->ch = x->dims[axis];
    for (int i = 0; i < axis; i++)
        p->outer *= x->dims[i];
    p->inner = 1;
    for (int i = axis + 1; i < x->rank; i++)
        p->inner *= x->dims[i];
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    fq_plan p;
    qfd_status st = plan_of(oc, &p);
    if (!st)
        qfd_array_like(oc->out[0], oc->in[0]);
    return st;
}

static qfd_status check_steps(const qfd_op_ctx *oc, const float *s, int64_t n)
{
    for (int64_t c = 0; c < n; c++)
        if (!(s[c] > 0.0f && isfinite(s[c])))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "step s[%lld] = %g: steps must be positive and finite",
                               (long long)c, (double)s[c]);
    return QFD_OK;
}

/* clamp(round(x / s), lo, hi) * s. Clamping first is the same (lo and hi
 * are integers) and bounds v, so that adding and subtracting 1.5 * 2^23
 * rounds it half to even in any SIMD width; NaN stays NaN. */
QFD_SIMD_CLONES_AVX512
static void fq_run(const float *x, float *y, int64_t n, float s, float lo, float hi)
{
    const float magic = 0x1.8p23f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / s;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[i] = ((v + magic) - magic) * s;
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const fq_state *s = oc->state;
    fq_plan p;
    qfd_status st = plan_of(oc, &p);
    const float *x = oc->in[0]->data, *step = oc->in[1]->data;
    float *y = oc->out[0]->data;
    if (st || (st = check_steps(oc, step, p.ch)))
        return st;
    if (!p.per_channel) {
        const int64_t n_chunks = (p.numel + FQ_CHUNK - 1) / FQ_CHUNK;
#pragma omp parallel for num_threads(oc->n_threads) if (p.numel > 65536) schedule(static)
        for (int64_t k = 0; k < n_chunks; k++) {
            int64_t a = k * FQ_CHUNK, b = a + FQ_CHUNK < p.numel ? a + FQ_CHUNK : p.numel;
            fq_run(x + a, y + a, b - a, step[0], s->qmin, s->qmax);
        }
        return QFD_OK;
    }
    const int64_t runs = p.outer * p.ch;
#pragma omp parallel for num_threads(oc->n_threads) if (p.numel > 65536) schedule(static)
    for (int64_t r = 0; r < runs; r++)
        fq_run(x + r * p.inner, y + r * p.inner, p.inner, step[r % p.ch], s->qmin, s->qmax);
    return QFD_OK;
}

/* sum dy * (inside ? round(v) - v : the bound v is clamped to), in float
 * lanes, the lanes in double */
QFD_SIMD_CLONES
static double fq_step_sum(const float *x, const float *dy, int64_t n, float s, float lo, float hi)
{
    const float magic = 0x1.8p23f;
    float acc[QFD_SIMD_LANES] = {0};
    const int64_t nv = n - n % QFD_SIMD_LANES;
    for (int64_t i = 0; i < nv; i += QFD_SIMD_LANES)
        for (int j = 0; j < QFD_SIMD_LANES; j++) {
            float v = x[i + j] / s;
            float c = v < lo ? lo : v;
            c = c > hi ? hi : c;
            float r = (c + magic) - magic;
            acc[j] += dy[i + j] * (v >= lo && v <= hi ? r - v : c);
        }
    double sum = 0.0;
    for (int j = 0; j < QFD_SIMD_LANES; j++)
        sum += acc[j];
    for (int64_t i = nv; i < n; i++) {
        float v = x[i] / s;
        float c = v < lo ? lo : v;
        c = c > hi ? hi : c;
        float r = (c + magic) - magic;
        sum += (double)dy[i] * (v >= lo && v <= hi ? r - v : c);
    }
    return sum;
}

/* dx (+)= inside ? dy : 0 */
QFD_SIMD_CLONES
static void fq_input_grad(const float *x, const float *dy, float *dx, int64_t n, float s, float lo, float hi,
                          bool write)
{
    if (write)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] / s;
            dx[i] = v >= lo && v <= hi ? dy[i] : 0.0f;
        }
    else
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] / s;
            dx[i] += v >= lo && v <= hi ? dy[i] : 0.0f;
        }
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    fq_plan p;
    if (plan_of(oc, &p) || p.per_channel)
        return 0;
    return (size_t)((p.numel + FQ_CHUNK - 1) / FQ_CHUNK) * sizeof(double);
}

/* 1 / sqrt(n * Q), n the elements per channel or per example */
static float grad_scale(const fq_state *s, const fq_plan *p, const qfd_array *x)
{
    if (s->grad_scale > 0.0f)
        return s->grad_scale;
    int64_t n = p->per_channel ? p->numel / p->ch : x->rank && x->dims[0] > 0 ? p->numel / x->dims[0] : p->numel;
    double q = s->qmax > 0.0f ? s->qmax : -s->qmin;
    return (float)(1.0 / sqrt((double)(n > 0 ? n : 1) * q));
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const fq_state *s = oc->state;
    fq_plan p;
    qfd_status st = plan_of(oc, &p);
    if (st)
        return st;
    const float *x = oc->in[0]->data, *step = oc->in[1]->data;
    const float *dy = oc->gout[0] ? oc->gout[0]->data : NULL;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL, *ds = oc->gin[1] ? oc->gin[1]->data : NULL;
    const bool write = oc->gin_fresh & 1u;
    if (!dy)
        return QFD_OK;
    const float g = grad_scale(s, &p, oc->in[0]);
    if (!p.per_channel) {
        const int64_t n_chunks = (p.numel + FQ_CHUNK - 1) / FQ_CHUNK;
        double *part = oc->ws;
#pragma omp parallel for num_threads(oc->n_threads) if (p.numel > 65536) schedule(static)
        for (int64_t k = 0; k < n_chunks; k++) {
            int64_t a = k * FQ_CHUNK, b = a + FQ_CHUNK < p.numel ? a + FQ_CHUNK : p.numel;
            if (ds)
                part[k] = fq_step_sum(x + a, dy + a, b - a, step[0], s->qmin, s->qmax);
            if (dx)
                fq_input_grad(x + a, dy + a, dx + a, b - a, step[0], s->qmin, s->qmax, write);
        }
        double sum = 0.0;
        for (int64_t k = 0; ds && k < n_chunks; k++)
            sum += part[k];
        if (ds)
            ds[0] += (float)(g * sum);
        return QFD_OK;
    }
#pragma omp parallel for num_threads(oc->n_threads) if (p.numel > 65536) schedule(static)
    for (int64_t c = 0; c < p.ch; c++) {
        double sum = 0.0;
        for (int64_t o = 0; o < p.outer; o++) {
            int64_t at = (o * p.ch + c) * p.inner;
            if (ds)
                sum += fq_step_sum(x + at, dy + at, p.inner, step[c], s->qmin, s->qmax);
            if (dx)
                fq_input_grad(x + at, dy + at, dx + at, p.inner, step[c], s->qmin, s->qmax, write);
        }
        if (ds)
            ds[c] += (float)(g * sum);
    }
    return QFD_OK;
}

/* dx is written in full whenever a gradient arrives. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    return k == 0 && oc->gout[0];
}

const qfd_op_def qfd_op_fake_quant = {
    .name = "FakeQuant",
    .domain = "ai.qfd",
    .since = 1,
    /* remade from x, which its backward keeps, rather than kept beside it */
    .flags = QFD_OP_REMAT,
    /* x takes the role of what reads y (a weight behind Conv); s is a step */
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_STEP},
    .state_size = sizeof(fq_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward_workspace = backward_workspace,
    .backward = backward,
    .backward_reads = qfd_reads_inputs,
    .grad_writes = grad_writes,
};
