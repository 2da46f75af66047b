/* PRelu (opsets 1-21): y = x < 0 ? slope * x : x, float32. From opset 7
 * slope broadcasts unidirectionally to x (numpy rules, y has x's shape);
 * before, a 1-D slope of x's channel count (dimension 1) is per channel and
 * a one-element slope is shared, as the PyTorch 0.3 exports expect.
 * Backward: dX = x < 0 ? slope dy : dy; dslope = sum over the dimensions
 * slope is broadcast along of (x < 0 ? x dy : 0). */
#include <string.h>

#include "ops/binary.h"

static void k_prelu(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                    const void *param)
{
    (void)cv, (void)param;
    float *y = yv;
    const float *x = av, *s = bv;
    if (adv & 2) {
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], k = s[i];
            y[i] = v < 0 ? v * k : v;
        }
    } else if (adv & 1) {
        const float k = s[0];
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? x[i] * k : x[i];
    } else {
        const float v = x[0] < 0 ? x[0] * s[0] : x[0];
        for (int64_t i = 0; i < n; i++)
            y[i] = v;
    }
}

/* The slope as broadcast against x, legacy forms mapped to numpy's. */
static void slope_view(const qfd_op_ctx *oc, const qfd_array *x, const qfd_array *s, qfd_array *v)
{
    *v = *s;
    if (oc->opset < 7 && s->rank == 1 && x->rank >= 2 && s->dims[0] == x->dims[1] && s->dims[0] != 1) {
        v->rank = x->rank - 1;
        for (int d = 1; d < v->rank; d++)
            v->dims[d] = 1;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *s = qfd_op_in(oc, 1);
    if (!x || !s || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs X and slope and one output");
    if (x->dtype != QFD_DT_FLOAT || s->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "only float32 X and slope are supported");
    qfd_array v, y;
    slope_view(oc, x, s, &v);
    qfd_status st = qfd_broadcast_shape(oc, x, &v, &y);
    if (st)
        return st;
    if (y.rank != x->rank || memcmp(y.dims, x->dims, (size_t)x->rank * sizeof *x->dims))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "slope does not broadcast to the shape of X");
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    qfd_array v;
    slope_view(oc, oc->in[0], oc->in[1], &v);
    const qfd_array *in[2] = {oc->in[0], &v};
    qfd_bcast_run(oc, oc->out[0], 2, in, k_prelu, NULL);
    return QFD_OK;
}

/* dX: in {x, slope, dy}. */
static void k_grad_x(void *gv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                     const void *param)
{
    (void)param;
    float *g = gv;
    const float *x = av, *s = bv, *d = cv;
    if ((adv & 7) == 7) {
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], k = s[i], dy = d[i];
            g[i] += v < 0 ? k * dy : dy;
        }
    } else if ((adv & 7) == 5) {
        const float k = s[0];
        for (int64_t i = 0; i < n; i++) {
            const float dy = d[i];
            g[i] += x[i] < 0 ? k * dy : dy;
        }
    } else {
        const int64_t sx = adv & 1, ss = (adv >> 1) & 1, sd = (adv >> 2) & 1;
        for (int64_t i = 0; i < n; i++) {
            const float dy = d[i * sd];
            g[i] += x[i * sx] < 0 ? s[i * ss] * dy : dy;
        }
    }
}

/* dSlope before the broadcast sum: in {x, dy}. */
static void k_grad_s(void *gv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                     const void *param)
{
    (void)cv, (void)param;
    float *g = gv;
    const float *x = av, *d = bv;
    if ((adv & 3) == 3) {
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], dy = d[i];
            g[i] += v < 0 ? v * dy : 0.0f;
        }
        return;
    }
    const int64_t sx = adv & 1, sd = (adv >> 1) & 1;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i * sx];
        g[i] += v < 0 ? v * d[i * sd] : 0.0f;
    }
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    qfd_array v;
    slope_view(oc, oc->in[0], oc->in[1], &v);
    return qfd_bcast_grad_ws(oc, oc->out[0], &v);
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0], *dy = oc->gout[0];
    qfd_array v;
    slope_view(oc, x, oc->in[1], &v);
    if (oc->gin[0])
        qfd_bcast_grad(oc, oc->out[0], x, oc->gin[0]->data, 3, (const qfd_array *[]){x, &v, dy}, k_grad_x, NULL,
                       oc->ws);
    if (oc->gin[1])
        qfd_bcast_grad(oc, oc->out[0], &v, oc->gin[1]->data, 2, (const qfd_array *[]){x, dy}, k_grad_s, NULL, oc->ws);
    return QFD_OK;
}

const qfd_op_def qfd_op_prelu = {.name = "PRelu",
                                 .domain = "",
                                 .since = 1,
                                 .param_role = {QFD_ROLE_DATA, QFD_ROLE_NORM}, /* the slope, even a single one */

                                 .infer = infer,
                                 .forward = forward,
                                 .backward_workspace = backward_workspace,
                                 .backward = backward};
