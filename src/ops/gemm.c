/* Gemm (opsets 1-21), float32:
 *   Y = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T (transA, transB)
 * with A, B 2-D and C optional (required before opset 11, accepted missing
 * here) and unidirectionally broadcast to [M, N]. The legacy `broadcast`
 * attribute of opsets 1-6 is ignored: broadcasting is always allowed.
 * Y is first filled with beta * C, then one sgemm accumulates into it.
 * Backward, one sgemm per operand:
 *   d op(A) = alpha * dY * op(B)^T,   d op(B) = alpha * op(A)^T * dY,
 *   dC = beta * dY summed over the axes along which C is broadcast. */
#include "ops/blas.h"
#include "ops/op.h"

typedef struct gemm_cfg {
    int64_t m, n, k;
    int ta, tb;
    float alpha, beta;
    const qfd_array *c; /* NULL when absent or multiplied by beta == 0 */
} gemm_cfg;

static qfd_status setup(const qfd_op_ctx *oc, gemm_cfg *g)
{
    const qfd_array *a = qfd_op_in(oc, 0), *b = qfd_op_in(oc, 1), *c = qfd_op_in(oc, 2);
    if (!a || !b)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs A and B are required");
    if (a->dtype != QFD_DT_FLOAT || b->dtype != QFD_DT_FLOAT || (c && c->dtype != QFD_DT_FLOAT))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "only float32 inputs are supported");
    if (a->rank != 2 || b->rank != 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "A and B must be 2-D, got ranks %d and %d", a->rank, b->rank);
    g->ta = qfd_attr_int(oc->node, "transA", 0) != 0;
    g->tb = qfd_attr_int(oc->node, "transB", 0) != 0;
    g->alpha = qfd_attr_float(oc->node, "alpha", 1.0f);
    g->beta = qfd_attr_float(oc->node, "beta", 1.0f);
    g->m = a->dims[g->ta ? 1 : 0];
    g->k = a->dims[g->ta ? 0 : 1];
    g->n = b->dims[g->tb ? 0 : 1];
    int64_t kb = b->dims[g->tb ? 1 : 0];
    if (kb != g->k)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inner dimensions differ: A gives %lld, B gives %lld", (long long)g->k,
                           (long long)kb);
    if (c) {
        int bad = c->rank > 2;
        for (int i = 0; !bad && i < c->rank; i++) {
            int64_t want = i == c->rank - 1 ? g->n : g->m, d = c->dims[i];
            bad = d != 1 && d != want;
        }
        if (bad)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "C of rank %d does not broadcast to [%lld, %lld]", c->rank,
                               (long long)g->m, (long long)g->n);
    }
    g->c = g->beta != 0.0f ? c : NULL;
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    gemm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_FLOAT;
    y->rank = 2;
    y->dims[0] = g.m;
    y->dims[1] = g.n;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    gemm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    const float *a = oc->in[0]->data, *b = oc->in[1]->data;
    float *y = oc->out[0]->data;
    if (g.c) {
        const float *c = g.c->data;
        /* Strides of C over Y's rows and columns: 0 along broadcast axes. */
        int64_t cn = g.c->rank >= 1 ? g.c->dims[g.c->rank - 1] : 1, cm = g.c->rank == 2 ? g.c->dims[0] : 1;
        int64_t sr = cm == 1 ? 0 : cn, sc = cn == 1 ? 0 : 1;
        for (int64_t i = 0; i < g.m; i++)
            for (int64_t j = 0; j < g.n; j++)
                y[i * g.n + j] = g.beta * c[i * sr + j * sc];
    }
    qfd_sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, g.ta ? g.m : g.k, b, g.tb ? g.k : g.n, g.c ? 1.0f : 0.0f, y, g.n);
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    gemm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    const float *a = oc->in[0]->data, *b = oc->in[1]->data, *dy = oc->gout[0]->data;
    const int64_t lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
    if (oc->gin[0]) {
        float *da = oc->gin[0]->data;
        if (g.ta) /* dA [K x M] += alpha * op(B) * dY^T */
            qfd_sgemm(g.tb, true, g.k, g.m, g.n, g.alpha, b, ldb, dy, g.n, 1.0f, da, g.m);
        else /* dA [M x K] += alpha * dY * op(B)^T */
            qfd_sgemm(false, !g.tb, g.m, g.k, g.n, g.alpha, dy, g.n, b, ldb, 1.0f, da, g.k);
    }
    if (oc->gin[1]) {
        float *db = oc->gin[1]->data;
        if (g.tb) /* dB [N x K] += alpha * dY^T * op(A) */
            qfd_sgemm(true, g.ta, g.n, g.k, g.m, g.alpha, dy, g.n, a, lda, 1.0f, db, g.k);
        else /* dB [K x N] += alpha * op(A)^T * dY */
            qfd_sgemm(!g.ta, false, g.k, g.n, g.m, g.alpha, a, lda, dy, g.n, 1.0f, db, g.n);
    }
    if (g.c && oc->n_in > 2 && oc->gin[2]) {
        float *dc = oc->gin[2]->data;
        int64_t cn = g.c->rank >= 1 ? g.c->dims[g.c->rank - 1] : 1, cm = g.c->rank == 2 ? g.c->dims[0] : 1;
        int64_t sr = cm == 1 ? 0 : cn, sc = cn == 1 ? 0 : 1;
        for (int64_t i = 0; i < g.m; i++)
            for (int64_t j = 0; j < g.n; j++)
                dc[i * sr + j * sc] += g.beta * dy[i * g.n + j];
    }
    return QFD_OK;
}

static double macs(const qfd_op_ctx *oc, bool backward)
{
    gemm_cfg g = {0};
    if (setup(oc, &g))
        return 0.0;
    double one = (double)g.m * (double)g.n * (double)g.k;
    return backward ? one * ((oc->gin[0] != NULL) + (oc->gin[1] != NULL)) : one;
}

const qfd_op_def qfd_op_gemm = {
    .name = "Gemm",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_WEIGHT, QFD_ROLE_WEIGHT, QFD_ROLE_BIAS},
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_product,
    .macs = macs,
};
