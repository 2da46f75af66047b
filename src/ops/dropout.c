/* Dropout (opsets 1-21).
 * Inference: y = x and the optional mask is all kept (true; 1 of x's type
 * before opset 10). Training, when the trainer runs a training forward
 * (oc->training) or the training_mode input (opset 12+) is true: each
 * element is kept with probability 1 - ratio, y = keep ? x / (1 - ratio)
 * : 0, mask = keep. The ratio is the attribute (default 0.5) before opset
 * 12, input 1 (default 0.5) from it; ratio 0 is the identity. Before opset
 * 7 the is_test attribute is ignored. Dropping needs float32 or double x.
 * Backward: dx = dy * keep / (1 - ratio) (dx = dy when not dropping).
 *
 * The keep decision is a hash (splitmix64) of oc->seed and the element's
 * index, so the mask depends on neither global state nor the thread count;
 * it is kept in oc->saved (one byte per element) for backward. An inference
 * executor has no per-step seed: training_mode there uses seed 0. */
#include <math.h>
#include <string.h>

#include "ops/op.h"

/* Opsets 12+: 1 when training_mode is given and true, 0 when false or
 * omitted, -1 when its value is not known yet. */
static int training_input(const qfd_op_ctx *oc)
{
    const qfd_array *t = oc->opset >= 12 ? qfd_op_in(oc, 2) : NULL;
    if (!t)
        return 0;
    if (!t->data)
        return -1;
    return qfd_array_numel(t) > 0 && ((const uint8_t *)t->data)[0] != 0;
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e ? ldexpf((float)(m | 0x400), e - 25) : ldexpf((float)m, -24);
    return e == 0x1f ? NAN : h & 0x8000 ? -v : v; /* inf, NaN: refused as out of range */
}

/* The drop probability, or -1 when it is not known yet; fails outside [0, 1]. */
static qfd_status ratio_of(const qfd_op_ctx *oc, float *ratio)
{
    *ratio = 0.5f;
    const qfd_array *r = oc->opset >= 12 ? qfd_op_in(oc, 1) : NULL;
    if (oc->opset < 12)
        *ratio = qfd_attr_float(oc->node, "ratio", 0.5f);
    else if (r && !r->data)
        *ratio = -1.0f;
    else if (r) {
        if (qfd_array_numel(r) != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "ratio must be a scalar");
        switch (r->dtype) {
        case QFD_DT_FLOAT: *ratio = *(const float *)r->data; break;
        case QFD_DT_DOUBLE: *ratio = (float)*(const double *)r->data; break;
        case QFD_DT_FLOAT16: *ratio = half_to_float(*(const uint16_t *)r->data); break;
        default: return qfd_op_fail(oc, QFD_ERR_INVALID, "ratio must be float, double or float16");
        }
    }
    if (*ratio != -1.0f && !(*ratio >= 0.0f && *ratio <= 1.0f))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "ratio %g is outside [0, 1]", (double)*ratio);
    return QFD_OK;
}

/* 1 when this run drops (training and ratio > 0), 0 when it is the identity. */
static qfd_status dropping(const qfd_op_ctx *oc, int *drop, float *ratio)
{
    qfd_status st = ratio_of(oc, ratio);
    *drop = !st && (oc->training || training_input(oc) == 1) && *ratio != 0.0f;
    return st;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input data and output");
    const qfd_array *t = oc->opset >= 12 ? qfd_op_in(oc, 2) : NULL;
    if (t && (t->dtype != QFD_DT_BOOL || qfd_array_numel(t) != 1))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "training_mode must be a bool scalar");
    float ratio;
    qfd_status st = ratio_of(oc, &ratio);
    if (st)
        return st;
    qfd_array_like(oc->out[0], x);
    qfd_array *m = oc->n_out > 1 ? oc->out[1] : NULL;
    if (m) {
        int32_t dt = x->dtype;
        if (oc->opset < 10 && dt != QFD_DT_FLOAT && dt != QFD_DT_DOUBLE && dt != QFD_DT_FLOAT16)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "a mask of type %s is not supported",
                               qfd_dtype_name(dt) ? qfd_dtype_name(dt) : "?");
        qfd_array_like(m, x);
        m->dtype = oc->opset < 10 ? dt : QFD_DT_BOOL;
    }
    return QFD_OK;
}

/* Writes the mask output from keep bytes k[0..n) at element i0. */
static void write_mask(qfd_array *m, int64_t i0, const uint8_t *k, int64_t n)
{
    switch (m->dtype) {
    case QFD_DT_FLOAT:
        for (int64_t j = 0; j < n; j++)
            ((float *)m->data)[i0 + j] = k[j];
        break;
    case QFD_DT_DOUBLE:
        for (int64_t j = 0; j < n; j++)
            ((double *)m->data)[i0 + j] = k[j];
        break;
    case QFD_DT_FLOAT16:
        for (int64_t j = 0; j < n; j++)
            ((uint16_t *)m->data)[i0 + j] = k[j] ? 0x3c00 : 0; /* 1.0, 0.0 */
        break;
    default: memcpy((uint8_t *)m->data + i0, k, (size_t)n); break;
    }
}

/* Elements [i0, i1), in blocks whose keep bytes sit on the stack when
 * there is no saved buffer (an inference executor). */
static void drop_range(const qfd_op_ctx *oc, int64_t i0, int64_t i1, uint64_t thr, float scale)
{
    enum { BLOCK = 1024 };
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0], *m = oc->n_out > 1 ? oc->out[1] : NULL;
    uint8_t local[BLOCK];
    const uint64_t seed = oc->seed;
    for (int64_t b0 = i0; b0 < i1; b0 += BLOCK) {
        int64_t n = i1 - b0 < BLOCK ? i1 - b0 : BLOCK;
        uint8_t *k = oc->saved ? (uint8_t *)oc->saved + b0 : local;
        for (int64_t j = 0; j < n; j++) {
            uint64_t z = seed + (uint64_t)(b0 + j + 1) * 0x9E3779B97F4A7C15ull;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            k[j] = (z >> 32) >= thr;
        }
        if (x->dtype == QFD_DT_FLOAT) {
            const float *xs = (const float *)x->data + b0;
            float *ys = (float *)y->data + b0;
            for (int64_t j = 0; j < n; j++) {
                const float v = xs[j] * scale;
                ys[j] = k[j] ? v : 0.0f;
            }
        } else {
            const double *xs = (const double *)x->data + b0;
            double *ys = (double *)y->data + b0;
            const double sd = (double)scale;
            for (int64_t j = 0; j < n; j++) {
                const double v = xs[j] * sd;
                ys[j] = k[j] ? v : 0.0;
            }
        }
        if (m)
            write_mask(m, b0, k, n);
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    int drop;
    float ratio;
    qfd_status st = dropping(oc, &drop, &ratio);
    if (st)
        return st;
    qfd_array *y = oc->out[0], *m = oc->n_out > 1 ? oc->out[1] : NULL;
    int64_t n = qfd_array_numel(y);
    if (drop) {
        if (oc->in[0]->dtype != QFD_DT_FLOAT && oc->in[0]->dtype != QFD_DT_DOUBLE)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "training mode needs float or double data, not %s",
                               qfd_dtype_name(oc->in[0]->dtype) ? qfd_dtype_name(oc->in[0]->dtype) : "?");
        /* keep when the hash's high 32 bits reach ratio 2^32: ratio 1 keeps none */
        uint64_t thr = (uint64_t)((double)ratio * 4294967296.0);
        float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
        int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int t = 0; t < nt; t++)
            drop_range(oc, n * t / nt, n * (t + 1) / nt, thr, scale);
        return QFD_OK;
    }
    if (y->data != oc->in[0]->data)
        memcpy(y->data, oc->in[0]->data, y->nbytes);
    if (!m)
        return QFD_OK;
    switch (m->dtype) {
    case QFD_DT_FLOAT:
        for (int64_t i = 0; i < n; i++)
            ((float *)m->data)[i] = 1.0f;
        break;
    case QFD_DT_DOUBLE:
        for (int64_t i = 0; i < n; i++)
            ((double *)m->data)[i] = 1.0;
        break;
    case QFD_DT_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)m->data)[i] = 0x3c00; /* 1.0 */
        break;
    default: memset(m->data, 1, (size_t)n); break;
    }
    return QFD_OK;
}

/* The mask of a training forward, whichever mode a later run uses: the
 * plan may be made by an inference run before training starts. */
static size_t saved_size(const qfd_op_ctx *oc)
{
    int64_t n = qfd_array_numel(oc->in[0]);
    return n > 0 ? (size_t)n : 0;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    int drop;
    float ratio;
    qfd_status st = dropping(oc, &drop, &ratio);
    if (st)
        return st;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    const uint8_t *k = oc->saved;
    int64_t n = qfd_array_numel(oc->in[0]);
    int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
    if (!drop || !k) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i];
        return QFD_OK;
    }
    float scale = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = dy[i] * scale;
        dx[i] += k[i] ? g : 0.0f;
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_dropout = {.name = "Dropout",
                                   .domain = "",
                                   .since = 1,
                                   .param_role = QFD_ROLES_PASS0,
                                   .infer = infer,
                                   .forward = forward,
                                   .saved_size = saved_size,
                                   .backward = backward,
                                   .backward_reads = qfd_reads_nothing};
