/* The one door to OpenBLAS: only op kernels include this. */
#ifndef QFD_OPS_BLAS_H
#define QFD_OPS_BLAS_H

#include <stdbool.h>
#include <stdint.h>

/* Row-major C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T;
 * A is m x k after op, B is k x n after op, lda/ldb/ldc are row strides. */
void qfd_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Threads OpenBLAS may use; set by the executor before a run. OpenBLAS's
 * thread count is process-wide state of that library, not ours. */
void qfd_blas_set_threads(int n);

#endif
