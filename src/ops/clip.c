/* Clip (opsets 1-21): y = min(max(x, lo), hi), so lo > hi gives hi.
 * Opsets 1-10: lo, hi from the float attributes min, max (default: no
 * bound); from 11 from the optional one-element inputs min (1) and max (2)
 * of x's type. Float32, double, and from opset 12 every integer type.
 * Backward (float x): dx = dy where lo <= x <= hi (torch.clamp's
 * convention at the bounds), else 0; dlo = sum of dy where x < lo (and y is
 * not hi), dhi = sum of dy where y was cut to hi. */
#include <float.h>

#include "ops/op.h"

#define CLIP_TYPES(X) QFD_NUMERIC_TYPES(X)

/* Bounds from inputs 1 and 2 of type T, or T's own range when omitted. */
#define CLIP_KERNEL(C, T)                                                                                        \
    static void clip_##C(const qfd_op_ctx *oc, int64_t n, T lo, T hi)                                            \
    {                                                                                                            \
        const qfd_array *a = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);                                            \
        if (oc->opset >= 11 && a && qfd_array_numel(a) == 1)                                                     \
            lo = *(const T *)a->data;                                                                            \
        if (oc->opset >= 11 && b && qfd_array_numel(b) == 1)                                                     \
            hi = *(const T *)b->data;                                                                            \
        const T *x = oc->in[0]->data;                                                                            \
        T *y = oc->out[0]->data;                                                                                 \
        int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;                                             \
        _Pragma("omp parallel for num_threads(nt) if (nt > 1) schedule(static)") for (int64_t i = 0; i < n; i++) \
        {                                                                                                        \
            T v = x[i] < lo ? lo : x[i];                                                                         \
            y[i] = v > hi ? hi : v;                                                                              \
        }                                                                                                        \
    }
#define LIMITS_FLOAT -FLT_MAX, FLT_MAX
#define LIMITS_DOUBLE -DBL_MAX, DBL_MAX
#define LIMITS_INT8 INT8_MIN, INT8_MAX
#define LIMITS_INT16 INT16_MIN, INT16_MAX
#define LIMITS_INT32 INT32_MIN, INT32_MAX
#define LIMITS_INT64 INT64_MIN, INT64_MAX
#define LIMITS_UINT8 0, UINT8_MAX
#define LIMITS_UINT16 0, UINT16_MAX
#define LIMITS_UINT32 0, UINT32_MAX
#define LIMITS_UINT64 0, UINT64_MAX
CLIP_TYPES(CLIP_KERNEL)

static int type_ok(int32_t dt)
{
    switch (dt) {
#define CASE(C, T) case QFD_DT_##C:
        CLIP_TYPES(CASE)
#undef CASE
        return 1;
    default: return 0;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input X and one output");
    if (!type_ok(x->dtype) || (oc->opset < 11 && x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    for (size_t i = 1; oc->opset >= 11 && i < 3; i++) {
        const qfd_array *b = qfd_op_in(oc, i);
        if (b && (b->dtype != x->dtype || qfd_array_numel(b) != 1))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%s must be a scalar of the input's type", i == 1 ? "min" : "max");
    }
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    int64_t n = qfd_array_numel(oc->in[0]);
    if (oc->opset < 11) {
        float lo = qfd_attr_float(oc->node, "min", -FLT_MAX), hi = qfd_attr_float(oc->node, "max", FLT_MAX);
        if (oc->in[0]->dtype == QFD_DT_DOUBLE)
            clip_DOUBLE(oc, n, lo == -FLT_MAX ? -DBL_MAX : lo, hi == FLT_MAX ? DBL_MAX : hi);
        else
            clip_FLOAT(oc, n, lo, hi);
        return QFD_OK;
    }
    switch (oc->in[0]->dtype) {
#define CASE(C, T) \
    case QFD_DT_##C: clip_##C(oc, n, LIMITS_##C); break;
        CLIP_TYPES(CASE)
#undef CASE
    default: break;
    }
    return QFD_OK;
}

/* Gradients of x (passing on [lo, hi], torch.clamp's convention) and of
 * the bound inputs (summed where they were selected), for float32 or
 * double x; lo, hi as the forward reads them. */
#define CLIP_GRAD(C, T)                                                                                               \
    static void grad_##C(const qfd_op_ctx *oc, int64_t n, T lo, T hi)                                                 \
    {                                                                                                                 \
        const qfd_array *a = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);                                                 \
        float *dlo = NULL, *dhi = NULL;                                                                               \
        if (oc->opset >= 11 && a && qfd_array_numel(a) == 1) {                                                        \
            lo = *(const T *)a->data;                                                                                 \
            dlo = oc->gin[1] ? oc->gin[1]->data : NULL;                                                               \
        }                                                                                                             \
        if (oc->opset >= 11 && b && qfd_array_numel(b) == 1) {                                                        \
            hi = *(const T *)b->data;                                                                                 \
            dhi = oc->gin[2] ? oc->gin[2]->data : NULL;                                                               \
        }                                                                                                             \
        const T *x = oc->in[0]->data;                                                                                 \
        const float *dy = oc->gout[0]->data;                                                                          \
        float *dx = oc->gin[0] ? oc->gin[0]->data : NULL;                                                             \
        int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;                                                  \
        if (dx) {                                                                                                     \
            _Pragma("omp parallel for num_threads(nt) if (nt > 1) schedule(static)") for (int64_t i = 0; i < n; i++)  \
            {                                                                                                         \
                const T v = x[i];                                                                                     \
                const float g = dy[i]; /* loaded before the select: it vectorises */                                  \
                dx[i] += v >= lo && v <= hi ? g : 0.0f;                                                               \
            }                                                                                                         \
        }                                                                                                             \
        if (!dlo && !dhi)                                                                                             \
            return;                                                                                                   \
        double slo = 0, shi = 0;                                                                                      \
        _Pragma(                                                                                                      \
            "omp parallel for num_threads(nt) if (nt > 1) schedule(static) reduction(+ : slo, shi)") for (int64_t i = \
                                                                                                              0;      \
                                                                                                          i < n; i++) \
        {                                                                                                             \
            const T v = x[i] < lo ? lo : x[i];                                                                        \
            if (v > hi)                                                                                               \
                shi += dy[i];                                                                                         \
            else if (x[i] < lo)                                                                                       \
                slo += dy[i];                                                                                         \
        }                                                                                                             \
        if (dlo)                                                                                                      \
            dlo[0] += (float)slo;                                                                                     \
        if (dhi)                                                                                                      \
            dhi[0] += (float)shi;                                                                                     \
    }
CLIP_GRAD(FLOAT, float)
CLIP_GRAD(DOUBLE, double)

/* Integer x carries no gradient. */
static qfd_status backward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    if (!oc->gout[0] || (x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE))
        return QFD_OK;
    int64_t n = qfd_array_numel(x);
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (oc->opset < 11) {
        lo = qfd_attr_float(oc->node, "min", -FLT_MAX);
        hi = qfd_attr_float(oc->node, "max", FLT_MAX);
    }
    if (x->dtype == QFD_DT_DOUBLE)
        grad_DOUBLE(oc, n, lo == -FLT_MAX ? -DBL_MAX : lo, hi == FLT_MAX ? DBL_MAX : hi);
    else
        grad_FLOAT(oc, n, lo, hi);
    return QFD_OK;
}

const qfd_op_def qfd_op_clip = {.name = "Clip",
                                .domain = "",
                                .since = 1,
                                .param_role = QFD_ROLES_PASS0,
                                .infer = infer,
                                .forward = forward,
                                .backward = backward,
                                .backward_reads = qfd_reads_inputs};
