/* MatMul (opsets 1-21), float32, numpy.matmul semantics:
 *   Y[..., i, j] = sum_k A[..., i, k] * B[..., k, j]
 * A 1-D operand gains a unit axis (A in front, B at the back) that is
 * dropped from Y; batch axes broadcast. One sgemm per batch matrix, or a
 * single one when B has no batch axes (A's batch folds into its rows); that
 * one uses gemm_avx512.c's kernel when it suits the shape.
 * Backward, per batch matrix (or folded the same way as forward):
 *   dA += dY * B^T,   dB += A^T * dY,
 * summed over the batch axes along which an operand is broadcast; a 1-D
 * operand's gradient is its [1 x K] or [K x 1] matrix's. */
#include "ops/blas.h"
#include "ops/gemm_avx512.h"
#include "ops/op.h"

/* Multiply-adds below which a product runs on one thread: ~20 us of work,
 * where a fork and join would cost more than it saves, and much more when
 * another process holds a core (ViT at batch 1, 2 threads: 705 img/s with
 * its 49-row products threaded, against 1355 before they were ours). */
#define MIN_THREADED_MACS (1 << 20)

typedef struct mm_cfg {
    int64_t m, n, k;
    int br;                         /* batch rank of Y */
    int64_t bd[QFD_ARRAY_MAX_RANK]; /* Y's batch dims */
    int64_t sa[QFD_ARRAY_MAX_RANK]; /* A's matrix stride per batch axis, 0 when broadcast */
    int64_t sb[QFD_ARRAY_MAX_RANK];
    int64_t nbatch;
    int a_vec, b_vec, fold;
} mm_cfg;

static qfd_status setup(const qfd_op_ctx *oc, mm_cfg *g)
{
    const qfd_array *a = qfd_op_in(oc, 0), *b = qfd_op_in(oc, 1);
    if (!a || !b)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs A and B are required");
    if (a->dtype != QFD_DT_FLOAT || b->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "only float32 inputs are supported");
    if (a->rank < 1 || b->rank < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "operands must have rank 1 or more, got %d and %d", a->rank, b->rank);
    g->a_vec = a->rank == 1;
    g->b_vec = b->rank == 1;
    g->m = g->a_vec ? 1 : a->dims[a->rank - 2];
    g->k = a->dims[a->rank - 1];
    int64_t kb = g->b_vec ? b->dims[0] : b->dims[b->rank - 2];
    g->n = g->b_vec ? 1 : b->dims[b->rank - 1];
    if (kb != g->k)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inner dimensions differ: %lld vs %lld", (long long)g->k,
                           (long long)kb);
    int ra = a->rank < 2 ? 0 : a->rank - 2, rb = b->rank < 2 ? 0 : b->rank - 2;
    g->br = ra > rb ? ra : rb;
    int64_t ma = g->m * g->k, mb = g->k * g->n;
    g->nbatch = 1;
    for (int i = g->br - 1; i >= 0; i--) {
        int ia = i - (g->br - ra), ib = i - (g->br - rb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "batch dimension %d does not broadcast: %lld vs %lld", i,
                               (long long)da, (long long)db);
        g->bd[i] = da == 1 ? db : da;
        g->sa[i] = da == 1 ? 0 : ma;
        g->sb[i] = db == 1 ? 0 : mb;
        ma *= da;
        mb *= db;
        g->nbatch *= g->bd[i];
    }
    /* B shared by every batch and A contiguous: one tall sgemm. */
    g->fold = rb == 0 && g->br > 0 && ra == g->br;
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    mm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_FLOAT;
    int r = 0;
    for (int i = 0; i < g.br; i++)
        y->dims[r++] = g.bd[i];
    if (!g.a_vec)
        y->dims[r++] = g.m;
    if (!g.b_vec)
        y->dims[r++] = g.n;
    y->rank = r;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    mm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    const float *a = oc->in[0]->data, *b = oc->in[1]->data;
    float *y = oc->out[0]->data;
    /* A tall product by a small weight matrix (a transformer's Linear on
     * every token): the AVX-512 kernel, ~10% faster than OpenBLAS there.
     * Per-head batches of tiny matrices stay with OpenBLAS: on par. */
    if (g.fold && qfd_gemm_avx512_suits(g.n, g.k)) {
        /* row blocks over threads, whole tiles each */
        int64_t rows = g.nbatch * g.m, tiles = (rows + QFD_GEMM_AVX512_MR - 1) / QFD_GEMM_AVX512_MR;
        int nt = oc->n_threads > 1 && rows * g.n * g.k > MIN_THREADED_MACS ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int th = 0; th < nt; th++) {
            int64_t r0 = tiles * th / nt * QFD_GEMM_AVX512_MR, r1 = tiles * (th + 1) / nt * QFD_GEMM_AVX512_MR;
            r1 = r1 < rows ? r1 : rows;
            if (r0 < r1)
                qfd_gemm_avx512(r1 - r0, g.n, g.k, a + r0 * g.k, g.k, b, g.n, y + r0 * g.n, g.n, false);
        }
        return QFD_OK;
    }
    if (g.fold) {
        qfd_sgemm(false, false, g.nbatch * g.m, g.n, g.k, 1.0f, a, g.k, b, g.n, 0.0f, y, g.n);
        return QFD_OK;
    }
    /* Many small matrices (attention heads): threads split the batch and
     * each sgemm runs on one (OpenBLAS does inside a parallel region),
     * rather than every tiny sgemm paying for a threaded start. */
    int nt = oc->n_threads > 1 && g.nbatch >= oc->n_threads && g.m * g.n * g.k <= 262144 &&
                     g.nbatch * g.m * g.n * g.k > MIN_THREADED_MACS
                 ? oc->n_threads
                 : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int th = 0; th < nt; th++) {
        int64_t t0 = g.nbatch * th / nt, t1 = g.nbatch * (th + 1) / nt;
        for (int64_t t = t0; t < t1; t++) {
            int64_t oa = 0, ob = 0, rem = t;
            for (int i = g.br - 1; i >= 0; i--) {
                oa += rem % g.bd[i] * g.sa[i];
                ob += rem % g.bd[i] * g.sb[i];
                rem /= g.bd[i];
            }
            qfd_sgemm(false, false, g.m, g.n, g.k, 1.0f, a + oa, g.k, b + ob, g.n, 0.0f, y + t * g.m * g.n, g.n);
        }
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    mm_cfg g = {0};
    qfd_status st = setup(oc, &g);
    if (st)
        return st;
    const float *a = oc->in[0]->data, *b = oc->in[1]->data, *dy = oc->gout[0]->data;
    float *da = oc->gin[0] ? oc->gin[0]->data : NULL, *db = oc->gin[1] ? oc->gin[1]->data : NULL;
    if (g.fold) {
        if (da)
            qfd_sgemm(false, true, g.nbatch * g.m, g.k, g.n, 1.0f, dy, g.n, b, g.n, 1.0f, da, g.k);
        if (db)
            qfd_sgemm(true, false, g.k, g.n, g.nbatch * g.m, 1.0f, a, g.k, dy, g.n, 1.0f, db, g.n);
        return QFD_OK;
    }
    /* Broadcast batch axes map several Y matrices onto one operand matrix:
     * beta = 1 sums their gradients there. */
    int64_t idx[QFD_ARRAY_MAX_RANK] = {0};
    for (int64_t t = 0; t < g.nbatch; t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < g.br; i++) {
            oa += idx[i] * g.sa[i];
            ob += idx[i] * g.sb[i];
        }
        const float *dyt = dy + t * g.m * g.n;
        if (da)
            qfd_sgemm(false, true, g.m, g.k, g.n, 1.0f, dyt, g.n, b + ob, g.n, 1.0f, da + oa, g.k);
        if (db)
            qfd_sgemm(true, false, g.k, g.n, g.m, 1.0f, a + oa, g.k, dyt, g.n, 1.0f, db + ob, g.n);
        for (int i = g.br - 1; i >= 0 && ++idx[i] == g.bd[i]; i--)
            idx[i] = 0;
    }
    return QFD_OK;
}

static double macs(const qfd_op_ctx *oc, bool backward)
{
    mm_cfg g = {0};
    if (setup(oc, &g))
        return 0.0;
    double one = (double)g.nbatch * (double)g.m * (double)g.n * (double)g.k;
    return backward ? one * ((oc->gin[0] != NULL) + (oc->gin[1] != NULL)) : one;
}

const qfd_op_def qfd_op_matmul = {
    .name = "MatMul",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_WEIGHT, QFD_ROLE_WEIGHT},
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_product,
    .macs = macs,
};
