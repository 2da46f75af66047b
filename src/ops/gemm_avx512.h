/* A single-threaded AVX-512 sgemm for the MatMuls of small transformers:
 * row-major C (+)= A B, no transposes, few columns and a short inner
 * dimension (ViT's token projections [B*T, 64] x [64, 192], its per-head
 * attention products 49x16x49). There OpenBLAS spends a good part of its
 * time packing, zeroing C for beta = 0 and in per-call overhead; this
 * kernel reads A and B in place. Callers split the work over threads. */
#ifndef QFD_OPS_GEMM_AVX512_H
#define QFD_OPS_GEMM_AVX512_H

#include <stdbool.h>
#include <stdint.h>

/* True when the CPU has AVX-512 and an n-column, k-deep product is one the
 * kernel does better than OpenBLAS. */
bool qfd_gemm_avx512_suits(int64_t n, int64_t k);

/* C[m x n] = A[m x k] B[k x n] (accumulate: C +=), row strides lda, ldb,
 * ldc. Only call when qfd_gemm_avx512_suits(n, k). */
void qfd_gemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, bool accumulate);

/* Rows per kernel tile: split M between threads in multiples of it. */
enum { QFD_GEMM_AVX512_MR = 6 };

#endif
