/* The AVX-512 sgemm of gemm_avx512.h. C is computed in tiles of up to 6
 * rows by 64 columns (four 16-lane vectors), 24 accumulators held in
 * registers over the whole k loop: per k, one row of B (four loads) and a
 * broadcast A value per row feed 24 FMAs. Column blocks are the outer loop,
 * so the k x 64 block of B stays in L1 while A streams past it. The last
 * column vector is masked when n is not a multiple of 16, so no edge case
 * reads or writes past the matrices. */
#include "ops/gemm_avx512.h"

#include "ops/avx512.h"

#define MR QFD_GEMM_AVX512_MR

bool qfd_gemm_avx512_suits(int64_t n, int64_t k)
{
    /* A k x 64 block of B within L1 (32 KiB at k = 128), and C rows short
     * enough that the tiles' A values are reused across few blocks. */
    return qfd_cpu_avx512() && k <= 128 && n <= 512;
}

#if QFD_HAVE_AVX512
/* One tile of mr rows and nv vectors; `last` masks the last vector. Called
 * with constant mr and nv so that the loops unroll and the accumulators
 * live in registers. */
QFD_AVX512_INLINE void tile(int mr, int nv, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                            float *c, int64_t ldc, __mmask16 last, bool accumulate)
{
    __m512 acc[MR][4];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[i][v] = accumulate ? _mm512_maskz_loadu_ps(v == nv - 1 ? last : 0xFFFF, c + i * ldc + 16 * v)
                                   : _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? last : 0xFFFF, b + p * ldb + 16 * v);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + p]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, v == nv - 1 ? last : 0xFFFF, acc[i][v]);
}

#define TILE(MRV, NVV)                                                                                                \
    static QFD_AVX512_FN void tile_##MRV##_##NVV(int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, \
                                                 float *c, int64_t ldc, __mmask16 last, bool accumulate)              \
    {                                                                                                                 \
        tile(MRV, NVV, k, a, lda, b, ldb, c, ldc, last, accumulate);                                                  \
    }
#define TILES(MRV) TILE(MRV, 1) TILE(MRV, 2) TILE(MRV, 3) TILE(MRV, 4)
TILES(1)
TILES(2)
TILES(3)
TILES(4)
TILES(5)
TILES(6)

typedef void (*tile_fn)(int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, __mmask16, bool);
#define ROW(MRV)                                                       \
    {                                                                  \
        tile_##MRV##_1, tile_##MRV##_2, tile_##MRV##_3, tile_##MRV##_4 \
    }
static const tile_fn k_tiles[MR][4] = {ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6)};

void qfd_gemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, bool accumulate)
{
    for (int64_t j = 0; j < n; j += 64) {
        int64_t w = n - j < 64 ? n - j : 64;
        int nv = (int)((w + 15) / 16);
        __mmask16 last = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1u : 0xFFFFu);
        tile_fn full = k_tiles[MR - 1][nv - 1];
        int64_t i = 0;
        for (; i + MR <= m; i += MR)
            full(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, last, accumulate);
        if (i < m)
            k_tiles[m - i - 1][nv - 1](k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, last, accumulate);
    }
}
#else
void qfd_gemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, bool accumulate)
{
    /* never chosen (qfd_gemm_avx512_suits is false); plain loops all the same */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = accumulate ? c[i * ldc + j] : 0.0f;
            for (int64_t p = 0; p < k; p++)
                s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = s;
        }
}
#endif
