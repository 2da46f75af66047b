/* Min, Max (opsets 1-21): y = elementwise min/max of 1..N inputs, numpy
 * broadcast from opset 8 (before, all shapes must be equal). Float, double
 * and every integer type (integers from opset 12). A NaN in any input gives
 * NaN, as in ONNX Runtime.
 * Backward (float32): dy goes to the input that gave each output, summed
 * over that input's broadcast dimensions; on ties to the first such input,
 * for a NaN output to the first NaN input. */
#include <string.h>

#include "ops/binary.h"

#define MM_TYPES(X) QFD_NUMERIC_TYPES(X)

#define MM_MIN(x, z) QFD_MIN_NAN(x, z)
#define MM_MAX(x, z) QFD_MAX_NAN(x, z)

#define MM_KERNEL(OPN, C, T)                                                                                     \
    static void k_##OPN##_##C(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv, \
                              const void *param)                                                                 \
    {                                                                                                            \
        (void)cv, (void)param;                                                                                   \
        T *y = yv;                                                                                               \
        const T *a = av, *b = bv;                                                                                \
        switch (adv & 3) {                                                                                       \
        case 3:                                                                                                  \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = MM_##OPN(a[i], b[i]);                                                                     \
            break;                                                                                               \
        case 1: {                                                                                                \
            const T z = b[0];                                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = MM_##OPN(a[i], z);                                                                        \
        } break;                                                                                                 \
        case 2: {                                                                                                \
            const T x = a[0];                                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = MM_##OPN(x, b[i]);                                                                        \
        } break;                                                                                                 \
        default: {                                                                                               \
            const T v = MM_##OPN(a[0], b[0]);                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = v;                                                                                        \
        }                                                                                                        \
        }                                                                                                        \
    }
#define MM_MIN_K(C, T) MM_KERNEL(MIN, C, T)
#define MM_MAX_K(C, T) MM_KERNEL(MAX, C, T)
MM_TYPES(MM_MIN_K)
MM_TYPES(MM_MAX_K)

/* y = x broadcast to y's shape (a single input, or a leading one). */
static void k_copy(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv, const void *param)
{
    (void)bv, (void)cv;
    size_t es = *(const size_t *)param;
    if (adv & 1)
        memmove(yv, av, (size_t)n * es);
    else
        for (int64_t i = 0; i < n; i++)
            memcpy((char *)yv + (size_t)i * es, av, es);
}

static qfd_bcast_fn kernel(int is_max, int32_t dt)
{
#define CASE(C, T) \
    case QFD_DT_##C: return is_max ? k_MAX_##C : k_MIN_##C;
    switch (dt) {
        MM_TYPES(CASE)
    default: return NULL;
    }
#undef CASE
}

static qfd_status infer(qfd_op_ctx *oc, int is_max)
{
    const qfd_array *x0 = qfd_op_in(oc, 0);
    if (!x0 || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs at least one input and one output");
    if (!kernel(is_max, x0->dtype))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "type %s is not supported",
                           qfd_dtype_name(x0->dtype) ? qfd_dtype_name(x0->dtype) : "?");
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x0);
    for (size_t i = 1; i < oc->n_in; i++) {
        const qfd_array *x = oc->in[i];
        if (!x)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu is missing", i);
        if (x->dtype != x0->dtype)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu has type %d, input 0 has %d", i, x->dtype, x0->dtype);
        if (oc->opset < 8 && (x->rank != x0->rank || memcmp(x->dims, x0->dims, (size_t)x->rank * sizeof *x->dims)))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input shapes differ (broadcasting needs opset 8)");
        qfd_array cur = *y;
        qfd_status st = qfd_broadcast_shape(oc, &cur, x, y);
        if (st)
            return st;
    }
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc, int is_max)
{
    qfd_array *y = oc->out[0];
    qfd_bcast_fn fn = kernel(is_max, y->dtype);
    if (oc->n_in == 1) {
        size_t es = qfd_elem_size(y->dtype);
        qfd_bcast_run(oc, y, 1, oc->in, k_copy, &es);
        return QFD_OK;
    }
    const qfd_array *pair[2] = {oc->in[0], oc->in[1]};
    qfd_bcast_run(oc, y, 2, pair, fn, NULL);
    /* Later inputs fold into y in place: y is read at the index it writes. */
    for (size_t i = 2; i < oc->n_in; i++) {
        pair[0] = y;
        pair[1] = oc->in[i];
        qfd_bcast_run(oc, y, 2, pair, fn, NULL);
    }
    return QFD_OK;
}

/* ---- backward ---- */

/* Marks in sel (out's shape) the outputs input k gave: equal to y (or both
 * NaN) and not claimed by an earlier input. in {y, x_k}; param: k. */
static void k_claim(void *sv, const void *yv, const void *xv, const void *unused, int64_t n, unsigned adv,
                    const void *param)
{
    (void)unused;
    uint8_t *sel = sv;
    const float *y = yv, *x = xv;
    const uint8_t k = (uint8_t) * (const int *)param;
    if ((adv & 3) == 3) {
        for (int64_t i = 0; i < n; i++) {
            const uint8_t s0 = sel[i];
            const float a = y[i], b = x[i];
            sel[i] = (uint8_t)(((s0 == 0xff) & ((a == b) | ((a != a) & (b != b)))) ? k : s0);
        }
        return;
    }
    const int64_t sy = adv & 1, sx = (adv >> 1) & 1;
    for (int64_t i = 0; i < n; i++)
        sel[i] = sel[i] == 0xff && (y[i * sy] == x[i * sx] || (y[i * sy] != y[i * sy] && x[i * sx] != x[i * sx]))
                     ? k
                     : sel[i];
}

/* dy where input k was selected: in {sel, dy}; param: k. */
static void k_pick(void *gv, const void *sv, const void *dv, const void *unused, int64_t n, unsigned adv,
                   const void *param)
{
    (void)unused;
    float *g = gv;
    const uint8_t *sel = sv;
    const float *d = dv;
    const uint8_t k = (uint8_t) * (const int *)param;
    if ((adv & 3) == 3) {
        for (int64_t i = 0; i < n; i++) {
            const float v = d[i];
            g[i] += sel[i] == k ? v : 0.0f;
        }
        return;
    }
    const int64_t ss = adv & 1, sd = (adv >> 1) & 1;
    for (int64_t i = 0; i < n; i++)
        g[i] += sel[i * ss] == k ? d[i * sd] : 0.0f;
}

/* sel bytes, rounded up so that the float scratch after them is aligned. */
static size_t sel_bytes(const qfd_op_ctx *oc)
{
    return ((size_t)qfd_array_numel(oc->out[0]) + 63) & ~(size_t)63;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    size_t w = 0;
    for (size_t k = 0; k < oc->n_in; k++) {
        size_t g = qfd_bcast_grad_ws(oc, oc->out[0], oc->in[k]);
        w = g > w ? g : w;
    }
    return sel_bytes(oc) + w;
}

/* Float32 only. Ties go to the first input holding the selected value,
 * which is the one the forward's strict comparisons keep. */
static qfd_status backward(qfd_op_ctx *oc)
{
    qfd_array *y = oc->out[0];
    if (!oc->gout[0] || y->dtype != QFD_DT_FLOAT)
        return QFD_OK;
    if (oc->n_in > 0xff)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "backward supports at most 255 inputs");
    size_t last = 0;
    int any = 0;
    for (size_t k = 0; k < oc->n_in; k++)
        if (oc->gin[k]) {
            last = k;
            any = 1;
        }
    if (!any)
        return QFD_OK;
    qfd_array sel = *y;
    sel.dtype = QFD_DT_UINT8;
    sel.data = oc->ws;
    sel.nbytes = (size_t)qfd_array_numel(y);
    memset(sel.data, 0xff, sel.nbytes);
    for (size_t k = 0; k <= last; k++) {
        int kk = (int)k;
        qfd_bcast_run(oc, &sel, 2, (const qfd_array *[]){y, oc->in[k]}, k_claim, &kk);
    }
    void *scratch = (char *)oc->ws + sel_bytes(oc);
    for (size_t k = 0; k <= last; k++) {
        int kk = (int)k;
        if (oc->gin[k])
            qfd_bcast_grad(oc, y, oc->in[k], oc->gin[k]->data, 2, (const qfd_array *[]){&sel, oc->gout[0]}, k_pick, &kk,
                           scratch);
    }
    return QFD_OK;
}

static qfd_status infer_min(qfd_op_ctx *oc)
{
    return infer(oc, 0);
}
static qfd_status infer_max(qfd_op_ctx *oc)
{
    return infer(oc, 1);
}
static qfd_status forward_min(qfd_op_ctx *oc)
{
    return forward(oc, 0);
}
static qfd_status forward_max(qfd_op_ctx *oc)
{
    return forward(oc, 1);
}

const qfd_op_def qfd_op_min = {.name = "Min",
                               .domain = "",
                               .since = 1,
                               .param_role = QFD_ROLES_ALL(QFD_ROLE_DATA),
                               .infer = infer_min,
                               .forward = forward_min,
                               .backward_workspace = backward_workspace,
                               .backward = backward};
const qfd_op_def qfd_op_max = {.name = "Max",
                               .domain = "",
                               .since = 1,
                               .param_role = QFD_ROLES_ALL(QFD_ROLE_DATA),
                               .infer = infer_max,
                               .forward = forward_max,
                               .backward_workspace = backward_workspace,
                               .backward = backward};
