/* PRelu (opsets 1-21): y = x < 0 ? slope * x : x, float32. From opset 7
 * slope broadcasts unidirectionally to x (numpy rules, y has x's shape);
 * before, a 1-D slope of x's channel count (dimension 1) is per channel and
 * a one-element slope is shared, as the PyTorch 0.3 exports expect. */
#include <string.h>

#include "ops/binary.h"

/* Lets gcc if-convert and vectorise the float loops (a select needs both
 * sides computed, which trapping-math forbids); FP exceptions and errno are
 * never read here. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

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

const qfd_op_def qfd_op_prelu = {.name = "PRelu", .domain = "", .since = 1, .infer = infer, .forward = forward};
