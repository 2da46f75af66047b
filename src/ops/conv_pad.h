/* The zero-padded input planes the direct conv kernels (conv_fast.c,
 * conv_fast_dw.c) read in place: each plane of X copied into ph rows of pw
 * columns, so that no tap of a kernel needs a border test. */
#ifndef QFD_OPS_CONV_PAD_H
#define QFD_OPS_CONV_PAD_H

#include <string.h>

#include "ops/avx512.h"
#include "ops/im2col.h"

typedef struct dgeom {
    int64_t ph, pw, ps, nq, slack;
} dgeom;

static inline dgeom dgeom_of(const qfd_conv_geom *g)
{
    dgeom d;
    d.ph = (g->col[0] - 1) * g->stride[0] + (g->k[0] - 1) * g->dil[0] + 1;
    d.pw = (g->col[1] - 1) * g->stride[1] + (g->k[1] - 1) * g->dil[1] + 1;
    d.ps = d.ph * d.pw;
    d.nq = g->col[0] * d.pw;
    /* the last plane's garbage columns read this far past its end */
    d.slack = (g->k[1] - 1) * g->dil[1] + 16;
    return d;
}

#if QFD_HAVE_AVX512
static inline __mmask16 lanes_from(int64_t lo, int64_t hi, int64_t q)
{
    /* lanes l with lo <= q + l < hi */
    int64_t a = lo - q, b = hi - q;
    a = a < 0 ? 0 : a;
    b = b > 16 ? 16 : b;
    return b <= a ? (__mmask16)0 : (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
}

/* Xpad[r][q] = X[r - pad0][q - pad1], 0 outside the image: 16 columns at a
 * time, a masked load (no access to the masked-off lanes) and store; then
 * d->slack zeros after the last plane. */
__attribute__((target("avx512f"))) static inline void pad_planes(const qfd_conv_geom *g, const dgeom *d, const float *x,
                                                                 int64_t c_n, float *p)
{
    const int64_t ih_n = g->img[0], iw_n = g->img[1], p0 = g->pad[0], p1 = g->pad[1], pw = d->pw;
    const int64_t c0 = p1 < pw ? p1 : pw, c1 = p1 + iw_n < pw ? p1 + iw_n : pw;
    for (int64_t c = 0; c < c_n; c++) {
        const float *src = x + c * g->img_size;
        float *dst = p + c * d->ps;
        for (int64_t r = 0; r < d->ph; r++) {
            float *dr = dst + r * pw;
            const int64_t ir = r - p0;
            const int inside = ir >= 0 && ir < ih_n;
            /* index, not pointer, arithmetic: the row starts p1 before X's */
            const int64_t so = inside ? ir * iw_n - p1 : 0;
            for (int64_t q = 0; q < pw; q += 16) {
                const __mmask16 st = lanes_from(0, pw, q), ld = inside ? lanes_from(c0, c1, q) : 0;
                _mm512_mask_storeu_ps(dr + q, st, _mm512_maskz_loadu_ps(ld, src + (so + q + (ld ? 0 : -so - q))));
            }
        }
    }
    memset(p + c_n * d->ps, 0, (size_t)d->slack * sizeof *p);
}
#endif

#endif
