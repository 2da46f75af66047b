/* InstanceNormalization (opsets 1-21): for x [N, C, D1, ...], scale [C]
 * and B [C], each (n, c) plane is normalised by its own mean and
 * (biased) variance: y = scale[c] (x - mean) / sqrt(var + epsilon) + B[c]
 * (epsilon 1e-5). Float only. The statistics are the same in training and
 * inference (there are no running ones).
 * Backward, per plane of m elements with xh = (x - mean) / sigma and
 * g = dy scale[c]:
 *   dx = (g - mean(g) - xh mean(g xh)) / sigma,
 *   dscale[c] += sum dy xh,  dB[c] += sum dy.
 * Mean and variance are recomputed in backward rather than saved. */
#include <math.h>

#include "ops/op.h"

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *sc = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);
    if (!x || !sc || !b || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input, scale, B and one output");
    if (x->dtype != QFD_DT_FLOAT || sc->dtype != QFD_DT_FLOAT || b->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "only float inputs are supported");
    if (x->rank < 3)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input must be [N, C, D1, ...], got rank %d", x->rank);
    if (qfd_array_numel(sc) != x->dims[1] || qfd_array_numel(b) != x->dims[1] || sc->rank != 1 || b->rank != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "scale and B must be [%lld]", (long long)x->dims[1]);
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static void geometry(const qfd_array *x, int64_t *planes, int64_t *C, int64_t *m)
{
    *C = x->dims[1];
    *planes = x->dims[0] * *C;
    *m = 1;
    for (int i = 2; i < x->rank; i++)
        *m *= x->dims[i];
}

/* Mean and 1/sigma of one plane, in double. */
static void stats(const float *p, int64_t m, double eps, double *mean, double *inv)
{
    double s = 0, v = 0;
    for (int64_t i = 0; i < m; i++)
        s += p[i];
    *mean = m ? s / (double)m : 0;
    for (int64_t i = 0; i < m; i++)
        v += ((double)p[i] - *mean) * ((double)p[i] - *mean);
    *inv = 1.0 / sqrt((m ? v / (double)m : 0) + eps);
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    int64_t planes, C, m;
    geometry(x, &planes, &C, &m);
    double eps = qfd_attr_float(oc->node, "epsilon", 1e-5f);
    const float *xd = x->data, *sc = oc->in[1]->data, *b = oc->in[2]->data;
    float *yd = oc->out[0]->data;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (planes * m > 65536 && planes > 1)
    for (int64_t q = 0; q < planes; q++) {
        double mean, inv;
        const float *p = xd + q * m;
        stats(p, m, eps, &mean, &inv);
        float a = (float)(sc[q % C] * inv), c = (float)(b[q % C] - sc[q % C] * inv * mean);
        for (int64_t i = 0; i < m; i++)
            yd[q * m + i] = a * p[i] + c;
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0];
    int64_t planes, C, m;
    geometry(x, &planes, &C, &m);
    double eps = qfd_attr_float(oc->node, "epsilon", 1e-5f);
    const float *xd = x->data, *sc = oc->in[1]->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL;
    float *dsc = oc->gin[1] ? oc->gin[1]->data : NULL, *db = oc->gin[2] ? oc->gin[2]->data : NULL;
    /* planes of one channel add into one dscale/dB: one thread per channel */
    int nt = oc->n_threads;
    int64_t N = x->dims[0];
#pragma omp parallel for num_threads(nt) if (planes * m > 65536 && C > 1)
    for (int64_t c = 0; c < C; c++) {
        for (int64_t n = 0; n < N; n++) {
            int64_t q = n * C + c;
            const float *p = xd + q * m, *g = dy + q * m;
            double mean, inv, sg = 0, sgx = 0;
            stats(p, m, eps, &mean, &inv);
            for (int64_t i = 0; i < m; i++) {
                double xh = ((double)p[i] - mean) * inv;
                sg += g[i];
                sgx += g[i] * xh;
            }
            if (dsc)
                dsc[c] += (float)sgx;
            if (db)
                db[c] += (float)sg;
            if (!dx || !m)
                continue;
            double mg = sg / (double)m * sc[c], mgx = sgx / (double)m * sc[c];
            for (int64_t i = 0; i < m; i++) {
                double xh = ((double)p[i] - mean) * inv;
                dx[q * m + i] += (float)((g[i] * sc[c] - mg - xh * mgx) * inv);
            }
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_instancenorm = {
    .name = "InstanceNormalization",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_NORM, QFD_ROLE_NORM},
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
