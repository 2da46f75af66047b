/* Where (opsets 9-21): y = condition ? x : y, the three inputs broadcast
 * numpy-style. Any element type of 1, 2, 4 or 8 bytes (values are copied,
 * not interpreted).
 * Backward (float32 X, Y): dX = dy where condition, dY = dy elsewhere, each
 * summed over its broadcast dimensions; none to the condition. */
#include "ops/binary.h"

#define WHERE_KERNEL(T)                                                                                        \
    static void k_where_##T(void *yv, const void *cv, const void *xv, const void *zv, int64_t n, unsigned adv, \
                            const void *param)                                                                 \
    {                                                                                                          \
        (void)param;                                                                                           \
        T *y = yv;                                                                                             \
        const uint8_t *c = cv;                                                                                 \
        const T *x = xv, *z = zv;                                                                              \
        if (adv == 7) {                                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                                  \
                const T a = x[i], b = z[i]; /* both loaded: the select vectorises */                           \
                y[i] = c[i] ? a : b;                                                                           \
            }                                                                                                  \
            return;                                                                                            \
        }                                                                                                      \
        int64_t sc = adv & 1, sx = (adv >> 1) & 1, sz = (adv >> 2) & 1;                                        \
        for (int64_t i = 0; i < n; i++)                                                                        \
            y[i] = c[i * sc] ? x[i * sx] : z[i * sz];                                                          \
    }
WHERE_KERNEL(uint8_t)
WHERE_KERNEL(uint16_t)
WHERE_KERNEL(uint32_t)
WHERE_KERNEL(uint64_t)

static qfd_bcast_fn kernel(size_t es)
{
    switch (es) {
    case 1: return k_where_uint8_t;
    case 2: return k_where_uint16_t;
    case 4: return k_where_uint32_t;
    case 8: return k_where_uint64_t;
    default: return NULL;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *c = qfd_op_in(oc, 0), *x = qfd_op_in(oc, 1), *z = qfd_op_in(oc, 2);
    if (!c || !x || !z || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs condition, X, Y and one output");
    if (c->dtype != QFD_DT_BOOL)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "condition must be bool, not %s",
                           qfd_dtype_name(c->dtype) ? qfd_dtype_name(c->dtype) : "?");
    if (x->dtype != z->dtype)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X and Y types differ (%d vs %d)", x->dtype, z->dtype);
    if (!kernel(qfd_elem_size(x->dtype)))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    qfd_array t;
    qfd_status st = qfd_broadcast_shape(oc, c, x, &t);
    if (!st)
        st = qfd_broadcast_shape(oc, &t, z, oc->out[0]);
    oc->out[0]->dtype = x->dtype;
    return st;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    qfd_bcast_run(oc, oc->out[0], 3, oc->in, kernel(qfd_elem_size(oc->in[1]->dtype)), NULL);
    return QFD_OK;
}

/* in {condition, dy}; param: 1 for X (dy where the condition holds), 0 for
 * Y (dy elsewhere). */
static void k_grad(void *yv, const void *cv, const void *dv, const void *unused, int64_t n, unsigned adv,
                   const void *param)
{
    (void)unused;
    float *g = yv;
    const uint8_t *c = cv;
    const float *d = dv;
    const uint8_t want = *(const int *)param != 0;
    const int64_t sc = adv & 1, sd = (adv >> 1) & 1;
    if ((adv & 3) == 3) {
        for (int64_t i = 0; i < n; i++) {
            const float v = d[i]; /* loaded before the select: it vectorises */
            g[i] += (c[i] != 0) == want ? v : 0.0f;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        g[i] += (c[i * sc] != 0) == want ? d[i * sd] : 0.0f;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    size_t a = qfd_bcast_grad_ws(oc, oc->out[0], oc->in[1]), b = qfd_bcast_grad_ws(oc, oc->out[0], oc->in[2]);
    return a > b ? a : b;
}

/* X and Y of float32 only; the condition gets none. */
static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0] || oc->in[1]->dtype != QFD_DT_FLOAT)
        return QFD_OK;
    const qfd_array *in[2] = {oc->in[0], oc->gout[0]};
    for (int k = 1; k <= 2; k++) {
        int want = k == 1;
        if (oc->gin[k])
            qfd_bcast_grad(oc, oc->out[0], oc->in[k], oc->gin[k]->data, 2, in, k_grad, &want, oc->ws);
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_where = {.name = "Where",
                                 .domain = "",
                                 .since = 9,
                                 .param_role = {QFD_ROLE_NONE, QFD_ROLE_DATA, QFD_ROLE_DATA},
                                 .infer = infer,
                                 .forward = forward,
                                 .backward_workspace = backward_workspace,
                                 .backward = backward};
