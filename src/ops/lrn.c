/* LRN (opsets 1-21), local response normalization across channels of
 * x [N, C, ...]:
 *   s[c] = bias + alpha / size * sum of x[c']^2 for c' in
 *          [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] within [0, C)
 *   y[c] = x[c] / s[c]^beta
 * (alpha 1e-4, beta 0.75, bias 1 by default; size required). Float only.
 * Backward, with the window of c written W(c):
 *   dx[j] = dy[j] s[j]^-beta
 *           - 2 beta alpha / size * x[j] * sum over c with j in W(c) of
 *             dy[c] x[c] s[c]^(-beta-1)
 * s is recomputed (one pass per spatial column) rather than saved. */
#include <math.h>
#include <omp.h>

#include "ops/op.h"

typedef struct lrn_state {
    float alpha, beta, bias;
    int64_t size;
} lrn_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    lrn_state *s = state;
    s->alpha = qfd_attr_float(oc->node, "alpha", 1e-4f);
    s->beta = qfd_attr_float(oc->node, "beta", 0.75f);
    s->bias = qfd_attr_float(oc->node, "bias", 1.0f);
    s->size = qfd_attr_int(oc->node, "size", 0);
    if (s->size < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "size must be a positive integer");
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input and one output");
    if (x->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    if (x->rank < 3)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input must be [N, C, D1, ...], got rank %d", x->rank);
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static void dims(const qfd_array *x, int64_t *n, int64_t *c, int64_t *hw)
{
    *n = x->dims[0];
    *c = x->dims[1];
    *hw = 1;
    for (int i = 2; i < x->rank; i++)
        *hw *= x->dims[i];
}

/* s[c] for one column (stride hw) of x at p, into out[0..C). */
static void scales(const lrn_state *s, const float *p, int64_t C, int64_t hw, float *out)
{
    int64_t lo = (s->size - 1) / 2, hi = s->size - 1 - lo;
    for (int64_t c = 0; c < C; c++) {
        double sum = 0;
        for (int64_t j = c - lo > 0 ? c - lo : 0; j <= c + hi && j < C; j++)
            sum += (double)p[j * hw] * p[j * hw];
        out[c] = (float)(s->bias + s->alpha / (double)s->size * sum);
    }
}

static size_t workspace(const qfd_op_ctx *oc)
{
    return (size_t)oc->in[0]->dims[1] * sizeof(float) * (size_t)(oc->n_threads > 0 ? oc->n_threads : 1);
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const lrn_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    int64_t N, C, hw;
    dims(x, &N, &C, &hw);
    const float *xd = x->data;
    float *yd = oc->out[0]->data, *ws = oc->ws;
    int nt = oc->n_threads > 0 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (N * C * hw > 65536)
    for (int64_t q = 0; q < N * hw; q++) {
        int th = omp_get_thread_num();
        float *sc = ws + (size_t)th * (size_t)C;
        int64_t n = q / hw, i = q % hw;
        const float *p = xd + n * C * hw + i;
        scales(s, p, C, hw, sc);
        for (int64_t c = 0; c < C; c++)
            yd[n * C * hw + c * hw + i] = p[c * hw] * powf(sc[c], -s->beta);
    }
    return QFD_OK;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    return 2 * workspace(oc);
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const lrn_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    int64_t N, C, hw;
    dims(x, &N, &C, &hw);
    int64_t lo = (s->size - 1) / 2, hi = s->size - 1 - lo;
    const float *xd = x->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0]->data, *ws = oc->ws;
    float k = 2.0f * s->beta * s->alpha / (float)s->size;
    int nt = oc->n_threads > 0 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (N * C * hw > 65536)
    for (int64_t q = 0; q < N * hw; q++) {
        int th = omp_get_thread_num();
        float *sc = ws + (size_t)th * 2 * (size_t)C, *t = sc + C;
        int64_t n = q / hw, i = q % hw, base = n * C * hw + i;
        scales(s, xd + base, C, hw, sc);
        for (int64_t c = 0; c < C; c++)
            t[c] = dy[base + c * hw] * xd[base + c * hw] * powf(sc[c], -s->beta - 1.0f);
        for (int64_t j = 0; j < C; j++) {
            double acc = 0; /* over the c whose window holds j: c in [j - hi, j + lo] */
            for (int64_t c = j - hi > 0 ? j - hi : 0; c <= j + lo && c < C; c++)
                acc += t[c];
            dx[base + j * hw] += dy[base + j * hw] * powf(sc[j], -s->beta) - k * xd[base + j * hw] * (float)acc;
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_lrn = {
    .name = "LRN",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .state_size = sizeof(lrn_state),
    .parse = parse,
    .infer = infer,
    .workspace = workspace,
    .forward = forward,
    .backward_workspace = backward_workspace,
    .backward = backward,
};
