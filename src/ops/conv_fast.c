/* Direct Conv forward for 2-D group-1 convolutions on CPUs with AVX-512F
 * (chosen at run time; elsewhere Conv keeps im2col + sgemm):
 *   Y[m, oh, ow] = B[m] + sum_{c, kh, kw} W[m, c, kh, kw] * Xpad[c, oh*sh + kh*dh, ow*sw + kw*dw]
 * The input planes of one image are first copied into zero-padded planes of
 * pw columns (Xpad), so that no tap needs a border test, and nothing like
 * the im2col matrix (9x the input for a 3x3 conv) is written and re-read.
 * Two register-blocked kernels then read Xpad in place:
 * - channel-vector (M a multiple of 16, any stride): vectors run along the
 *   output channels; a tile is 7 pixels x 32 channels (or 14 x 16), each
 *   input value is one broadcast, each tap two (one) loads of W transposed
 *   to [c * k_size][m] once per call. Every computed value is kept.
 * - flat (M a multiple of 4, stride 1): on the flat index q = oh * pw + ow,
 *   tap (kh, kw) reads Xpad at q + kh*dh*pw + kw*dw, a constant offset, so
 *   64 consecutive q are 4 vector loads per tap for any row width; a tile is
 *   4 channels x 64 q. The q with ow >= out width are computed and dropped
 *   (pw / ow more work), packed out of the registers into Y.
 * On ResNet-20 (16-64 channels, 28x28 to 7x7) both run the FMAs near the
 * core's peak, the channel-vector one faster (no dropped columns). */
#include <string.h>

#include "ops/conv_pad.h"
#include "ops/im2col.h"

#define DC_TAPS_MAX 49

static int use_mv(const qfd_conv_geom *g, int64_t m);

int qfd_conv_direct_ok(const qfd_conv_geom *g, int64_t m, int64_t group)
{
    if (g->nsp != 2 || group != 1 || g->k_size > DC_TAPS_MAX || g->col_size == 0)
        return 0;
    if (!use_mv(g, m)) {
        /* the flat kernel: stride 1 only, not too many dropped columns */
        if (m % 4 || g->stride[0] != 1 || g->stride[1] != 1 || g->k_size < 2)
            return 0;
        dgeom d = dgeom_of(g);
        if (d.pw > 2 * g->col[1])
            return 0;
    }
    return qfd_cpu_avx512();
}

/* The channel-vector kernel whenever the output channels come in 16s: it
 * computes no dropped column and, measured on ResNet-20, runs the FMAs
 * faster than the flat kernel even on 28-wide planes. */
static int use_mv(const qfd_conv_geom *g, int64_t m)
{
    (void)g;
    return m % 16 == 0;
}

size_t qfd_conv_direct_wt_floats(const qfd_conv_geom *g, int64_t c, int64_t m)
{
    return use_mv(g, m) ? (size_t)(c * g->k_size * m) : 0;
}

void qfd_conv_direct_prepare(const qfd_conv_geom *g, int64_t c, const float *w, int64_t m, float *wt)
{
    if (!use_mv(g, m))
        return;
    const int64_t kk = c * g->k_size;
    for (int64_t i = 0; i < m; i++)
        for (int64_t k = 0; k < kk; k++)
            wt[k * m + i] = w[i * kk + k];
}

size_t qfd_conv_direct_floats(const qfd_conv_geom *g, int64_t c, int64_t m)
{
    dgeom d = dgeom_of(g);
    (void)m;
    return (size_t)(c * d.ps + d.slack);
}

#if QFD_HAVE_AVX512
/* One tile: 4 output channels (w rows m0.., bias bb or NULL) x nv vectors of
 * 16 positions from p (the tile start), masks k0..k3; nv is a constant
 * where this is inlined, so a short tile runs only its own vectors. */
#define DC_FMA4(i, v)                                  \
    do {                                               \
        a##i##0 = _mm512_fmadd_ps(v, x0, a##i##0);     \
        if (nv > 1)                                    \
            a##i##1 = _mm512_fmadd_ps(v, x1, a##i##1); \
        if (nv > 2)                                    \
            a##i##2 = _mm512_fmadd_ps(v, x2, a##i##2); \
        if (nv > 3)                                    \
            a##i##3 = _mm512_fmadd_ps(v, x3, a##i##3); \
    } while (0)
/* Lanes of vector v whose column lies inside the output (mask vm[v]) go
 * to y at yo[v] (its first such lane's index in the output plane), packed
 * together in a register: compress to memory is slow on some CPUs. */
#define DC_PUT(i, v)                                                          \
    do {                                                                      \
        __m512 r_ = _mm512_maskz_compress_ps(vm[v], a##i##v);                 \
        if (acc)                                                              \
            r_ = _mm512_add_ps(r_, _mm512_maskz_loadu_ps(sm[v], yi + yo[v])); \
        _mm512_mask_storeu_ps(yi + yo[v], sm[v], r_);                         \
    } while (0)
#define DC_STORE4(i)                  \
    do {                              \
        float *yi = y + i * col_size; \
        DC_PUT(i, 0);                 \
        if (nv > 1)                   \
            DC_PUT(i, 1);             \
        if (nv > 2)                   \
            DC_PUT(i, 2);             \
        if (nv > 3)                   \
            DC_PUT(i, 3);             \
    } while (0)

__attribute__((target("avx512f"), always_inline)) static inline void
dc_tile(const int nv, const float *p, int64_t ps, int64_t c_n, const int64_t *toff, int64_t kt, const float *w0,
        int64_t kk, const float *bb, float *y, int64_t col_size, const __mmask16 *mk, const __mmask16 *vm,
        const __mmask16 *sm, const int64_t *yo, int acc)
{
    __m512 a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
    a00 = a01 = a02 = a03 = _mm512_set1_ps(bb ? bb[0] : 0.0f);
    a10 = a11 = a12 = a13 = _mm512_set1_ps(bb ? bb[1] : 0.0f);
    a20 = a21 = a22 = a23 = _mm512_set1_ps(bb ? bb[2] : 0.0f);
    a30 = a31 = a32 = a33 = _mm512_set1_ps(bb ? bb[3] : 0.0f);
    const float *w1 = w0 + kk, *w2 = w1 + kk, *w3 = w2 + kk;
    const __mmask16 k0 = mk[0], k1 = mk[1], k2 = mk[2], k3 = mk[3];
    for (int64_t c = 0; c < c_n; c++) {
        const float *pc = p + c * ps;
        const int64_t wo = c * kt;
        for (int64_t j = 0; j < kt; j++) {
            const float *s = pc + toff[j];
            const __m512 x0 = _mm512_maskz_loadu_ps(k0, s);
            const __m512 x1 = nv > 1 ? _mm512_maskz_loadu_ps(k1, s + 16) : x0;
            const __m512 x2 = nv > 2 ? _mm512_maskz_loadu_ps(k2, s + 32) : x0;
            const __m512 x3 = nv > 3 ? _mm512_maskz_loadu_ps(k3, s + 48) : x0;
            __m512 v = _mm512_set1_ps(w0[wo + j]);
            DC_FMA4(0, v);
            v = _mm512_set1_ps(w1[wo + j]);
            DC_FMA4(1, v);
            v = _mm512_set1_ps(w2[wo + j]);
            DC_FMA4(2, v);
            v = _mm512_set1_ps(w3[wo + j]);
            DC_FMA4(3, v);
        }
    }
    DC_STORE4(0);
    DC_STORE4(1);
    DC_STORE4(2);
    DC_STORE4(3);
}

/* Y[m] for all m (a multiple of 4), from the padded planes p. */
__attribute__((target("avx512f"))) static void dc_kernel(const float *p, int64_t ps, int64_t c_n, const int64_t *toff,
                                                         int64_t kt, const float *w, const float *b, int64_t m_lo,
                                                         int64_t m_hi, float *y, int64_t pw, int64_t ow_n, int64_t nq,
                                                         int64_t col_size, int acc)
{
    const int64_t kk = c_n * kt;
    for (int64_t q0 = 0; q0 < nq; q0 += 64) {
        /* mk: lanes inside [0, nq), loaded; vm: of those, the ones inside
         * the output width; sm: as many leading lanes as vm has */
        __mmask16 mk[4], vm[4], sm[4];
        int64_t yo[4];
        for (int v = 0; v < 4; v++) {
            const int64_t qa = q0 + 16 * v, n = nq - qa;
            mk[v] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
            unsigned bits = 0;
            int cnt = 0;
            int64_t r = qa % pw;
            for (int l = 0; l < 16 && l < n; l++, r = r + 1 == pw ? 0 : r + 1)
                if (r < ow_n) {
                    bits |= 1u << l;
                    cnt++;
                }
            vm[v] = (__mmask16)bits;
            sm[v] = (__mmask16)((1u << cnt) - 1);
            const int64_t qr = n > 0 ? qa % pw : 0;
            yo[v] = n > 0 ? qa / pw * ow_n + (qr < ow_n ? qr : ow_n) : 0;
        }
        const int64_t rest = nq - q0, nv = rest >= 64 ? 4 : (rest + 15) / 16;
        for (int64_t m0 = m_lo; m0 < m_hi; m0 += 4) {
            const float *bb = b ? b + m0 : NULL, *wm = w + m0 * kk;
            float *ym = y + m0 * col_size;
            if (nv == 4)
                dc_tile(4, p + q0, ps, c_n, toff, kt, wm, kk, bb, ym, col_size, mk, vm, sm, yo, acc);
            else if (nv == 3)
                dc_tile(3, p + q0, ps, c_n, toff, kt, wm, kk, bb, ym, col_size, mk, vm, sm, yo, acc);
            else if (nv == 2)
                dc_tile(2, p + q0, ps, c_n, toff, kt, wm, kk, bb, ym, col_size, mk, vm, sm, yo, acc);
            else
                dc_tile(1, p + q0, ps, c_n, toff, kt, wm, kk, bb, ym, col_size, mk, vm, sm, yo, acc);
        }
    }
}

/* Narrow planes (7 or 14 wide) waste a quarter of a 16-lane vector on the
 * padded width; with 32 or more output channels the vectors run along m
 * instead: np pixels of one output row x 32 channels, each input value one
 * broadcast, each weight row of wt (W transposed to [c * k_size][m]) two
 * loads. The 32 x np results go out through a small transpose on the
 * stack. np is a constant where this is inlined. */
__attribute__((target("avx512f"), always_inline)) static inline void
dm_tile(const int np, const int mv, const float *p, int64_t sw, int64_t ps, int64_t c_n, const int64_t *toff,
        int64_t kt, const float *wt, int64_t m_n, const float *bb, float *y, int64_t col_size, int acc)
{
    __m512 a[14][2];
    const __m512 b0 = bb ? _mm512_loadu_ps(bb) : _mm512_setzero_ps(),
                 b1 = bb && mv > 1 ? _mm512_loadu_ps(bb + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
    for (int i = 0; i < np; i++) {
        a[i][0] = b0;
        a[i][1] = b1;
    }
    for (int64_t c = 0; c < c_n; c++) {
        const float *pc = p + c * ps;
        const float *wc = wt + c * kt * m_n;
        for (int64_t j = 0; j < kt; j++) {
            const float *s = pc + toff[j];
            const __m512 w0 = _mm512_loadu_ps(wc + j * m_n);
            const __m512 w1 = mv > 1 ? _mm512_loadu_ps(wc + j * m_n + 16) : w0;
#pragma GCC unroll 14
            for (int i = 0; i < np; i++) {
                const __m512 v = _mm512_set1_ps(s[i * sw]);
                a[i][0] = _mm512_fmadd_ps(v, w0, a[i][0]);
                if (mv > 1)
                    a[i][1] = _mm512_fmadd_ps(v, w1, a[i][1]);
            }
        }
    }
    float tmp[14][32];
#pragma GCC unroll 14
    for (int i = 0; i < np; i++) {
        _mm512_storeu_ps(tmp[i], a[i][0]);
        if (mv > 1)
            _mm512_storeu_ps(tmp[i] + 16, a[i][1]);
    }
    if (acc)
        for (int m = 0; m < 16 * mv; m++)
            for (int i = 0; i < np; i++)
                y[m * col_size + i] += tmp[i][m];
    else
        for (int m = 0; m < 16 * mv; m++)
            for (int i = 0; i < np; i++)
                y[m * col_size + i] = tmp[i][m];
}

#define DM_CASE(n, mv) \
    case n: dm_tile(n, mv, pq, sw, ps, c_n, toff, kt, wt + m0, m_n, bb, ym, col_size, acc); break

/* mv = 2: tiles of 7 pixels x 32 channels; mv = 1: 14 pixels x 16. */
__attribute__((target("avx512f"))) static void dm_kernel(const float *p, int64_t ps, int64_t c_n, const int64_t *toff,
                                                         int64_t kt, const float *wt, const float *b, int64_t m_n,
                                                         int64_t m_lo, int64_t m_hi, float *y, int64_t pw, int64_t sh,
                                                         int64_t sw, int64_t oh_n, int64_t ow_n, int64_t col_size,
                                                         const char *pf, int64_t pf_bytes, int acc)
{
    /* pf: the next image's input, fetched into the cache a slice per output
     * row while this one computes (its copy into Xpad otherwise waits on
     * memory: the previous layer's output for the whole batch is larger
     * than the caches) */
    const int64_t pf_row = pf ? (pf_bytes + oh_n - 1) / oh_n : 0;
    const int64_t mb = m_n % 32 == 0 ? 32 : 16, pmax = mb == 32 ? 7 : 14;
    for (int64_t oh = 0; oh < oh_n; oh++) {
        for (int64_t off = oh * pf_row; off < (oh + 1) * pf_row && off < pf_bytes; off += 64)
            _mm_prefetch(pf + off, _MM_HINT_T1);
        for (int64_t o0 = 0; o0 < ow_n; o0 += pmax) {
            const int64_t np = ow_n - o0 < pmax ? ow_n - o0 : pmax;
            const float *pq = p + oh * sh * pw + o0 * sw;
            for (int64_t m0 = m_lo; m0 < m_hi; m0 += mb) {
                const float *bb = b ? b + m0 : NULL;
                float *ym = y + m0 * col_size + oh * ow_n + o0;
                if (mb == 32)
                    switch (np) {
                        DM_CASE(7, 2);
                        DM_CASE(6, 2);
                        DM_CASE(5, 2);
                        DM_CASE(4, 2);
                        DM_CASE(3, 2);
                        DM_CASE(2, 2);
                        DM_CASE(1, 2);
                    }
                else
                    switch (np) {
                        DM_CASE(14, 1);
                        DM_CASE(13, 1);
                        DM_CASE(12, 1);
                        DM_CASE(11, 1);
                        DM_CASE(10, 1);
                        DM_CASE(9, 1);
                        DM_CASE(8, 1);
                        DM_CASE(7, 1);
                        DM_CASE(6, 1);
                        DM_CASE(5, 1);
                        DM_CASE(4, 1);
                        DM_CASE(3, 1);
                        DM_CASE(2, 1);
                        DM_CASE(1, 1);
                    }
            }
        }
    }
}
#endif

int64_t qfd_conv_direct_m_unit(const qfd_conv_geom *g, int64_t m)
{
    return use_mv(g, m) ? (m % 32 == 0 ? 32 : 16) : 4;
}

int64_t qfd_conv_direct_plane_floats(const qfd_conv_geom *g)
{
    return dgeom_of(g).ps;
}

void qfd_conv_direct_pad(const qfd_conv_geom *g, const float *x, int64_t c_n, float *scratch)
{
#if QFD_HAVE_AVX512
    const dgeom d = dgeom_of(g);
    pad_planes(g, &d, x, c_n, scratch);
#else
    (void)g, (void)x, (void)c_n, (void)scratch;
#endif
}

#if QFD_HAVE_AVX512
/* Input channels per pass of the channel-vector kernel over the image. A
 * pass reads its channels' weights (cb * k_size * m floats) once per tile
 * of pixels; kept under DM_BLOCK_BYTES they stay in the core's L2 for the
 * whole image. Without blocks, a layer of 512 x 512 3x3 filters (9.4 MB)
 * streamed all its weights from L3 or memory for every 7-pixel tile. The
 * later passes add into Y (a read and write of each output per pass, small
 * beside the cb * k_size multiply-adds each output gets in between). */
#define DM_BLOCK_BYTES (256 * 1024)

static int64_t dm_c_block(int64_t c_n, int64_t kt, int64_t m_n)
{
    const int64_t per = kt * m_n * (int64_t)sizeof(float);
    int64_t cb = DM_BLOCK_BYTES / (per > 0 ? per : 1);
    cb = cb < 1 ? 1 : cb;
    const int64_t passes = (c_n + cb - 1) / cb;
    return (c_n + passes - 1) / passes; /* even passes, none nearly empty */
}
#endif

void qfd_conv_direct_part(const qfd_conv_geom *g, const float *padded, int64_t c_n, const float *w, const float *wt,
                          const float *b, int64_t m_n, int64_t m_lo, int64_t m_hi, float *y, const float *next, int acc)
{
#if QFD_HAVE_AVX512
    const dgeom d = dgeom_of(g);
    int64_t toff[DC_TAPS_MAX];
    for (int64_t j = 0; j < g->k_size; j++)
        toff[j] = (j / g->k[1]) * g->dil[0] * d.pw + (j % g->k[1]) * g->dil[1];
    if (!use_mv(g, m_n)) {
        dc_kernel(padded, d.ps, c_n, toff, g->k_size, w, b, m_lo, m_hi, y, d.pw, g->col[1], d.nq, g->col_size, acc);
        return;
    }
    const int64_t cb = dm_c_block(c_n, g->k_size, m_n);
    for (int64_t c0 = 0; c0 < c_n; c0 += cb) {
        const int64_t cn = c_n - c0 < cb ? c_n - c0 : cb;
        const int last = c0 + cn == c_n; /* prefetch the next image in the last pass only */
        dm_kernel(padded + c0 * d.ps, d.ps, cn, toff, g->k_size, wt + c0 * g->k_size * m_n, c0 ? NULL : b, m_n, m_lo,
                  m_hi, y, d.pw, g->stride[0], g->stride[1], g->col[0], g->col[1], g->col_size,
                  last ? (const char *)next : NULL, last && next ? c_n * g->img_size * (int64_t)sizeof *next : 0,
                  acc || c0 > 0);
    }
#else
    (void)g, (void)padded, (void)c_n, (void)w, (void)wt, (void)b, (void)m_n, (void)m_lo, (void)m_hi, (void)y;
    (void)next, (void)acc;
#endif
}

void qfd_conv_direct(const qfd_conv_geom *g, const float *x, int64_t c_n, const float *w, const float *wt,
                     const float *b, int64_t m_n, float *y, float *scratch, const float *next, int acc)
{
    qfd_conv_direct_pad(g, x, c_n, scratch);
    qfd_conv_direct_part(g, scratch, c_n, w, wt, b, m_n, 0, m_n, y, next, acc);
}

int qfd_conv_adjoint_geom(const qfd_conv_geom *g, qfd_conv_geom *gt)
{
    if (g->nsp != 2)
        return 0;
    *gt = *g;
    for (int i = 0; i < 2; i++) {
        if (g->stride[i] != 1)
            return 0;
        gt->img[i] = g->col[i];
        gt->col[i] = g->img[i];
        gt->pad[i] = (g->k[i] - 1) * g->dil[i] - g->pad[i];
        /* a begin pad past the kernel's reach: dY's first rows feed no dX */
        if (gt->pad[i] < 0)
            return 0;
    }
    qfd_conv_geom_finish(gt);
    return 1;
}

void qfd_conv_adjoint_weights(int64_t m, int64_t c, int64_t k_size, const float *w, float *wa)
{
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t mi = 0; mi < m; mi++) {
            const float *src = w + (mi * c + ci) * k_size;
            float *dst = wa + (ci * m + mi) * k_size;
            for (int64_t j = 0; j < k_size; j++)
                dst[j] = src[k_size - 1 - j];
        }
}
