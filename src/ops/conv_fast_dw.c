/* Direct Conv weight gradient for 2-D group-1 convs with a multiple of 16
 * output channels, on CPUs with AVX-512F (elsewhere im2col + sgemm):
 *   dW[m, c, kh, kw] += sum_{oh, ow} dY[m, oh, ow] * Xpad[c, oh*sh + kh*dh, ow*sw + kw*dw]
 * Vectors run along m (dY of the image transposed to [pixel][m] first),
 * each Xpad value is one broadcast, and the sums over pixels stay in
 * registers: a tile is rb rows r = (c, kh, kw) of dW transposed x 16 or 32
 * channels. Unlike im2col + sgemm, nothing 9x the input is written and
 * re-read, and unlike a dot product along the pixels no horizontal sum is
 * taken. The result is dW transposed, dwt [c * k_size][m]: the caller adds
 * it up over images and threads and transposes it once. */
#include "ops/conv_pad.h"
#include "ops/im2col.h"

int qfd_conv_direct_dw_ok(const qfd_conv_geom *g, int64_t m, int64_t group)
{
    return g->nsp == 2 && group == 1 && m % 16 == 0 && g->col_size > 0 && qfd_cpu_avx512();
}

size_t qfd_conv_direct_dw_floats(const qfd_conv_geom *g, int64_t c, int64_t m)
{
    dgeom d = dgeom_of(g);
    return (size_t)(c * d.ps + d.slack + g->col_size * m);
}

#if QFD_HAVE_AVX512
#define DW_RB_MAX 28

/* rb rows of dwt (their Xpad taps at xr[i]) x 16 * mv channels from dyt. rb
 * and mv are constants where this is inlined. */
__attribute__((target("avx512f"), always_inline)) static inline void dw_tile(const int rb, const int mv,
                                                                             const float *const *xr, const float *dyt,
                                                                             int64_t m_n, int64_t oh_n, int64_t ow_n,
                                                                             int64_t row_step, int64_t sw, float *dwt)
{
    __m512 a[DW_RB_MAX][2];
#pragma GCC unroll 28
    for (int i = 0; i < rb; i++)
        a[i][0] = a[i][1] = _mm512_setzero_ps();
    for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *dr = dyt + oh * ow_n * m_n;
        const int64_t xo = oh * row_step;
        for (int64_t ow = 0; ow < ow_n; ow++) {
            const __m512 d0 = _mm512_loadu_ps(dr + ow * m_n);
            const __m512 d1 = mv > 1 ? _mm512_loadu_ps(dr + ow * m_n + 16) : d0;
            const int64_t o = xo + ow * sw;
#pragma GCC unroll 28
            for (int i = 0; i < rb; i++) {
                const __m512 v = _mm512_set1_ps(xr[i][o]);
                a[i][0] = _mm512_fmadd_ps(v, d0, a[i][0]);
                if (mv > 1)
                    a[i][1] = _mm512_fmadd_ps(v, d1, a[i][1]);
            }
        }
    }
#pragma GCC unroll 28
    for (int i = 0; i < rb; i++) {
        float *t = dwt + i * m_n;
        _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), a[i][0]));
        if (mv > 1)
            _mm512_storeu_ps(t + 16, _mm512_add_ps(_mm512_loadu_ps(t + 16), a[i][1]));
    }
}

#define DW_CASE(n, mv) \
    case n: dw_tile(n, mv, xr, dyt + m0, m_n, g->col[0], g->col[1], row_step, g->stride[1], dwt + r0 * m_n + m0); break

__attribute__((target("avx512f"))) static void dw_kernel(const qfd_conv_geom *g, const dgeom *d, const float *p,
                                                         int64_t c_n, const float *dyt, int64_t m_n, float *dwt)
{
    const int64_t kt = g->k_size, rn = c_n * kt, row_step = g->stride[0] * d->pw;
    /* 14 rows x 32 channels or 28 x 16: 28 accumulators; the last rows of
     * dW go in the largest of these tiles that fits */
    const int mv = m_n % 32 == 0 ? 2 : 1, rb_max = mv == 2 ? 14 : 28;
    static const int sizes[] = {28, 14, 7, 4, 2, 1};
    for (int64_t r0 = 0; r0 < rn;) {
        int rb = 1;
        for (int s = 0; s < 6; s++)
            if (sizes[s] <= rb_max && sizes[s] <= rn - r0) {
                rb = sizes[s];
                break;
            }
        const float *xr[DW_RB_MAX];
        for (int i = 0; i < rb; i++) {
            const int64_t r = r0 + i, c = r / kt, j = r % kt;
            xr[i] = p + c * d->ps + (j / g->k[1]) * g->dil[0] * d->pw + (j % g->k[1]) * g->dil[1];
        }
        for (int64_t m0 = 0; m0 < m_n; m0 += 16 * mv) {
            if (mv == 2)
                switch (rb) {
                    DW_CASE(14, 2);
                    DW_CASE(7, 2);
                    DW_CASE(4, 2);
                    DW_CASE(2, 2);
                    DW_CASE(1, 2);
                }
            else
                switch (rb) {
                    DW_CASE(28, 1);
                    DW_CASE(14, 1);
                    DW_CASE(7, 1);
                    DW_CASE(4, 1);
                    DW_CASE(2, 1);
                    DW_CASE(1, 1);
                }
        }
        r0 += rb;
    }
}

/* dyt [q][m] = dy [m][q] for m_n a multiple of 16: 16 x 16 blocks
 * transposed in registers (q past pn masked off). */
__attribute__((target("avx512f"))) static void transpose_dy(const float *dy, int64_t m_n, int64_t pn, float *dyt)
{
    for (int64_t q0 = 0; q0 < pn; q0 += 16) {
        const int64_t nq = pn - q0 < 16 ? pn - q0 : 16;
        const __mmask16 mk = (__mmask16)((1u << nq) - 1);
        for (int64_t m0 = 0; m0 < m_n; m0 += 16) {
            __m512 r[16], t[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_maskz_loadu_ps(mk, dy + (m0 + i) * pn + q0);
            /* 4 x 4 blocks of 4 x 4: within 128-bit lanes, then across */
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
                r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
                r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            for (int i = 0; i < 4; i++) {
                t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
                t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
                t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
                t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
            }
            for (int i = 0; i < 4; i++) {
                r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
                r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
                r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
                r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
            }
            for (int64_t i = 0; i < nq; i++)
                _mm512_storeu_ps(dyt + (q0 + i) * m_n + m0, r[i]);
        }
    }
}
#endif

void qfd_conv_direct_dw(const qfd_conv_geom *g, const float *x, int64_t c_n, const float *dy, int64_t m_n, float *dwt,
                        float *scratch)
{
#if QFD_HAVE_AVX512
    const dgeom d = dgeom_of(g);
    float *p = scratch, *dyt = scratch + c_n * d.ps + d.slack;
    const int64_t pn = g->col_size;
    pad_planes(g, &d, x, c_n, p);
    transpose_dy(dy, m_n, pn, dyt);
    dw_kernel(g, &d, p, c_n, dyt, m_n, dwt);
#else
    (void)g, (void)x, (void)c_n, (void)dy, (void)m_n, (void)dwt, (void)scratch;
#endif
}
