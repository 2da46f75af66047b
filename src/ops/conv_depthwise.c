/* Depthwise 2-D Conv forward, one plane per (image, output channel):
 *   Y[n, m, oh, ow] = act(B[m] + sum_{kh, kw} W[m, kh, kw] * X[n, m / mg, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw])
 * with out-of-image taps reading 0. A depthwise conv does only k_size FMAs
 * per output: its cost is loads and loop overhead, and a MobileNet's planes
 * are narrow (7 to 28 columns), so a loop per output row spends most of its
 * time on the row's edges.
 *
 * AVX-512 kernels (CPUs with AVX-512F, chosen at run time; strides 1, 2):
 * - in place, for stride 1 with as many output as input columns (see
 *   dw_inplace): taps read the input plane itself, masked at its edges;
 * - otherwise the input plane is first copied into zero-padded "phase"
 *   planes, one per (row, column) stride phase, phase (pr, pc)[i][j] =
 *   Xpad[i*sh + pr][j*sw + pc], all qw columns wide. On the flat output
 *   index q = oh * qw + ow, tap (kh, kw) then reads phase ((kh*dh) % sh,
 *   (kw*dw) % sw) at q + (kh*dh / sh) * qw + (kw*dw / sw): a constant offset,
 *   so 16 consecutive q are one vector load per tap whatever the plane
 *   width, and a stride-2 conv reads contiguous memory like a stride-1 one.
 *   Vectors whose lanes run past a row's end compute the qw - ow dropped
 *   columns; the kept lanes are packed in the register and stored.
 * Both apply bias and activation in registers.
 *
 * Portable kernel: a loop per output row, the in-image column range of each
 * kernel column computed once per plane (an AVX2 clone where the build
 * allows it), then the activation over the plane while it is in cache. */
#include "ops/conv_depthwise.h"
#include "ops/avx512.h"
#include "ops/simd.h"

#include <omp.h>
#include <string.h>

/* Taps of the AVX-512 kernel (the offset table lives on the stack). */
#define DW_TAPS_MAX 64

/* Fewer output-tap products than this run on one thread: the fork costs more. */
#define DW_PARALLEL_MIN 65536

/* The in-place kernel's table (one mask per vector and tap, made at every
 * call) costs about as much as 16 planes' work: calls with fewer planes
 * than this take the padded kernel, whose table is k_size times smaller. */
#define DW_INPLACE_PLANES 256

/* Outputs per task where threads take planes as they go: a few
 * microseconds of work, against a shared counter's update per task. */
#define DW_TASK_OUTPUTS 4096

/* The AVX-512 kernel's layout of one plane's workspace. */
typedef struct dw_geom {
    int64_t qr, qw; /* rows and columns of each phase plane */
    int64_t ps;     /* floats per phase plane, with the slack the last vectors read */
    int64_t nq;     /* flat outputs computed: up to the last row's last kept column */
    int64_t nqv;    /* nq rounded up to whole vectors */
    int64_t phases; /* sh * sw */
} dw_geom;

/* Where vector v of the flat outputs goes: its lanes keep (those inside the
 * output width) packed together, to yo in the output plane. The same for
 * every plane of a call: computed once, in the workspace. */
typedef struct dw_out {
    int64_t yo;
    uint16_t keep, first; /* kept lanes; as many leading lanes */
} dw_out;

/* Workspace floats of the dw_out table, ahead of the phase planes. */
static int64_t dw_out_floats(const dw_geom *d)
{
    return (int64_t)((size_t)(d->nqv / 16) * sizeof(dw_out) / sizeof(float));
}

static dw_geom dw_geom_of(const qfd_conv_geom *g)
{
    dw_geom d;
    const int64_t sh = g->stride[0], sw = g->stride[1];
    d.qw = g->col[1] + (g->k[1] - 1) * g->dil[1] / sw;
    d.qr = g->col[0] + (g->k[0] - 1) * g->dil[0] / sh;
    d.nq = (g->col[0] - 1) * d.qw + g->col[1];
    d.nqv = (d.nq + 15) / 16 * 16;
    /* the farthest tap of the last q is the plane's last float; the round
     * up to a whole vector reads up to 15 past it */
    d.ps = (d.qr * d.qw + 16 + 15) / 16 * 16;
    d.phases = sh * sw;
    return d;
}

bool qfd_conv_dw_simd_ok(const qfd_conv_geom *g)
{
    return g->nsp == 2 && g->stride[0] <= 2 && g->stride[1] <= 2 && g->k_size <= DW_TAPS_MAX && g->col_size > 0 &&
           qfd_cpu_avx512();
}

static int64_t dw_slots(const qfd_conv_geom *g, int64_t planes, int n_threads)
{
    if (n_threads < 2 || planes * g->col_size * g->k_size < DW_PARALLEL_MIN)
        return 1;
    return planes < n_threads ? (planes > 0 ? planes : 1) : n_threads;
}

/* Stride 1 with as many output as input columns (a MobileNet's stride-1
 * layers): output q = oh * W + ow, and tap (kh, kw) reads X at q +
 * (kh*dh - ph) * W + kw*dw - pw, in the input plane itself. No padded copy
 * is made: the lanes whose tap falls outside the image (a row above or
 * below, or across a row's edge) are masked off the load, by a table of one
 * mask per (vector, tap), the same for every plane. Outputs are contiguous
 * (no dropped columns), stored as whole vectors. */
static bool dw_inplace(const qfd_conv_geom *g, int64_t planes)
{
    return g->stride[0] == 1 && g->stride[1] == 1 && g->col[1] == g->img[1] && planes >= DW_INPLACE_PLANES;
}

/* Workspace floats of the in-place kernel's mask table. */
static int64_t dw_mask_floats(const qfd_conv_geom *g)
{
    return ((g->col_size + 15) / 16 * g->k_size * (int64_t)sizeof(uint16_t) + 3) / 4;
}

size_t qfd_conv_dw_floats(const qfd_conv_geom *g, int64_t n, int64_t m, int n_threads, bool simd)
{
    if (!simd)
        return 0;
    if (dw_inplace(g, n * m))
        return (size_t)dw_mask_floats(g);
    const dw_geom d = dw_geom_of(g);
    return (size_t)(dw_out_floats(&d) + dw_slots(g, n * m, n_threads) * d.phases * d.ps);
}

/* One output plane yp of a depthwise conv from its input plane xp. */
QFD_SIMD_CLONES
static void dw_plane(const qfd_conv_geom *g, const float *xp, const float *wp, float bias, float *yp)
{
    const int64_t ih_n = g->img[0], iw_n = g->img[1], oh_n = g->col[0], ow_n = g->col[1];
    const int64_t kh_n = g->k[0], kw_n = g->k[1], sh = g->stride[0], sw = g->stride[1];
    /* The in-image column range of each kernel column is the same for
     * every output row: its divisions would otherwise dominate. */
    int64_t lo[QFD_CONV_DW_MAX_KW], hi[QFD_CONV_DW_MAX_KW], sft[QFD_CONV_DW_MAX_KW];
    for (int64_t kw = 0; kw < kw_n; kw++) {
        sft[kw] = kw * g->dil[1] - g->pad[1];
        qfd_conv_tap_range(iw_n, sw, sft[kw], ow_n, &lo[kw], &hi[kw]);
    }
    for (int64_t oh = 0; oh < oh_n; oh++) {
        float *yr = yp + oh * ow_n;
        for (int64_t o = 0; o < ow_n; o++)
            yr[o] = bias;
        for (int64_t kh = 0; kh < kh_n; kh++) {
            int64_t ih = oh * sh - g->pad[0] + kh * g->dil[0];
            if (ih < 0 || ih >= ih_n)
                continue;
            const float *xr = xp + ih * iw_n;
            const float *wr = wp + kh * kw_n;
            int64_t il = 0, ih3 = 0; /* columns where all three taps are inside */
            if (kw_n == 3) {
                il = lo[0] > lo[1] ? lo[0] : lo[1];
                il = il > lo[2] ? il : lo[2];
                ih3 = hi[0] < hi[1] ? hi[0] : hi[1];
                ih3 = ih3 < hi[2] ? ih3 : hi[2];
                ih3 = ih3 < il ? il : ih3;
                /* One pass over the row for the three taps of the
                 * interior, instead of three. */
                const float w0 = wr[0], w1 = wr[1], w2 = wr[2];
                const int64_t s0 = sft[0], s1 = sft[1], s2 = sft[2];
                if (sw == 1)
                    for (int64_t o = il; o < ih3; o++)
                        yr[o] += w0 * xr[o + s0] + w1 * xr[o + s1] + w2 * xr[o + s2];
                else
                    for (int64_t o = il; o < ih3; o++)
                        yr[o] += w0 * xr[o * sw + s0] + w1 * xr[o * sw + s1] + w2 * xr[o * sw + s2];
            }
            for (int64_t kw = 0; kw < kw_n; kw++) {
                const int64_t shift = sft[kw], l = lo[kw], h = hi[kw];
                const float wv = wr[kw];
                if (kw_n == 3) {
                    /* the edges left over by the fused interior */
                    for (int64_t o = l; o < h && o < il; o++)
                        yr[o] += wv * xr[o * sw + shift];
                    for (int64_t o = l > ih3 ? l : ih3; o < h; o++)
                        yr[o] += wv * xr[o * sw + shift];
                    continue;
                }
                if (sw == 1)
                    for (int64_t o = l; o < h; o++)
                        yr[o] += wv * xr[o + shift];
                else
                    for (int64_t o = l; o < h; o++)
                        yr[o] += wv * xr[o * sw + shift];
            }
        }
    }
}

#if QFD_HAVE_AVX512
/* Lanes l with lo <= l < hi. */
static __mmask16 lanes(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* The phase planes of one input plane xp into p (layout of dw_geom): all
 * zero, then each input row written at its padded place. Writing at an
 * offset, rather than loading at one, needs no lane shifts and no branch
 * per vector; the zeroing is a few full-vector stores into L1. */
/* The fused activation on four accumulators, in registers (Relu is a
 * Clip to [0, inf)). */
__attribute__((target("avx512f"), always_inline)) static inline void dw_act4(const qfd_act *act, __m512 *a0, __m512 *a1,
                                                                             __m512 *a2, __m512 *a3)
{
    if (act && act->kind == QFD_ACT_CLIP) {
        /* operands in this order return a NaN a as it is, like Clip */
        const __m512 lo = _mm512_set1_ps(act->lo), hi = _mm512_set1_ps(act->hi);
        *a0 = _mm512_min_ps(hi, _mm512_max_ps(lo, *a0));
        *a1 = _mm512_min_ps(hi, _mm512_max_ps(lo, *a1));
        *a2 = _mm512_min_ps(hi, _mm512_max_ps(lo, *a2));
        *a3 = _mm512_min_ps(hi, _mm512_max_ps(lo, *a3));
    } else if (act && act->kind == QFD_ACT_LEAKY_RELU) {
        const __m512 al = _mm512_set1_ps(act->alpha), z = _mm512_setzero_ps();
        *a0 = _mm512_mask_mul_ps(*a0, _mm512_cmp_ps_mask(*a0, z, _CMP_LT_OQ), *a0, al);
        *a1 = _mm512_mask_mul_ps(*a1, _mm512_cmp_ps_mask(*a1, z, _CMP_LT_OQ), *a1, al);
        *a2 = _mm512_mask_mul_ps(*a2, _mm512_cmp_ps_mask(*a2, z, _CMP_LT_OQ), *a2, al);
        *a3 = _mm512_mask_mul_ps(*a3, _mm512_cmp_ps_mask(*a3, z, _CMP_LT_OQ), *a3, al);
    }
}

__attribute__((target("avx512f"))) static void dw_pad(const qfd_conv_geom *g, const dw_geom *d, const float *xp,
                                                      float *p)
{
    const int64_t sh = g->stride[0], sw = g->stride[1], iw_n = g->img[1], qw = d->qw, p1 = g->pad[1];
    const __m512 z = _mm512_setzero_ps();
    const int64_t nz = d->phases * d->ps; /* a local: the stores below may alias d */
    for (int64_t i = 0; i < nz; i += 16)
        _mm512_storeu_ps(p + i, z);
    /* input rows that land in a phase plane */
    int64_t r0 = -g->pad[0], r1 = d->qr * sh - g->pad[0];
    r0 = r0 < 0 ? 0 : r0;
    r1 = r1 > g->img[0] ? g->img[0] : r1;
    if (sw == 1) {
        const int64_t nc = iw_n < qw - p1 ? iw_n : qw - p1; /* input columns inside the plane */
        /* padded row ir + pad0 is row i of row phase pr; stepped, not
         * divided: an integer division per row costs as much as its copy */
        for (int64_t ir = r0, pr = (r0 + g->pad[0]) % sh, i = (r0 + g->pad[0]) / sh; ir < r1;
             ir++, i += pr + 1 == sh, pr = pr + 1 == sh ? 0 : pr + 1) {
            const float *src = xp + ir * iw_n;
            float *dst = p + pr * d->ps + i * qw + p1;
            for (int64_t c = 0; c < nc; c += 16) {
                const __mmask16 k = lanes(0, nc - c);
                _mm512_mask_storeu_ps(dst + c, k, _mm512_maskz_loadu_ps(k, src + c));
            }
        }
        return;
    }
    /* stride 2: 32 input columns at a time, the even ones to one column
     * phase and the odd ones to the other */
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t ir = r0, pr = (r0 + g->pad[0]) % sh, i = (r0 + g->pad[0]) / sh; ir < r1;
         ir++, i += pr + 1 == sh, pr = pr + 1 == sh ? 0 : pr + 1) {
        const float *src = xp + ir * iw_n;
        float *row = p + pr * sw * d->ps + i * qw;
        for (int64_t c = 0; c < iw_n; c += 32) {
            const __mmask16 k0 = lanes(0, iw_n - c), k1 = lanes(0, iw_n - c - 16);
            const __m512 lo = _mm512_maskz_loadu_ps(k0, src + c);
            const __m512 hi = _mm512_maskz_loadu_ps(k1, k1 ? src + c + 16 : src);
            /* input column c + 2l + e sits in phase (c + e + p1) % 2 at (c + e + p1) / 2 + l */
            for (int64_t e = 0; e < 2; e++) {
                const int64_t pos = (c + e + p1) / 2, n = (iw_n - c - e + 1) / 2;
                const __mmask16 k = lanes(0, (n < qw - pos ? n : qw - pos));
                if (k)
                    _mm512_mask_storeu_ps(row + (c + e + p1) % 2 * d->ps + pos, k,
                                          _mm512_permutex2var_ps(lo, e ? od : ev, hi));
            }
        }
    }
}

/* nv vectors of outputs from flat index p (the phase planes at q), kt taps
 * at offsets toff with broadcast weights wv; the activation, then their
 * kept lanes into the output plane y as the table o says. The lanes are
 * packed in a register: compress to memory is slow on some CPUs. nv and kt
 * are constants where this is inlined. */
#define DW_PUT(i) _mm512_mask_storeu_ps(y + o[i].yo, o[i].first, _mm512_maskz_compress_ps(o[i].keep, a##i))
__attribute__((target("avx512f"), always_inline)) static inline void
dw_vecs(const int nv, const int64_t kt, const float *p, const int64_t *toff, const __m512 *wv, float bias,
        const qfd_act *act, const dw_out *o, float *y)
{
    __m512 a0 = _mm512_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < kt; j++) {
        const float *s = p + toff[j];
        a0 = _mm512_fmadd_ps(wv[j], _mm512_loadu_ps(s), a0);
        if (nv > 1)
            a1 = _mm512_fmadd_ps(wv[j], _mm512_loadu_ps(s + 16), a1);
        if (nv > 2)
            a2 = _mm512_fmadd_ps(wv[j], _mm512_loadu_ps(s + 32), a2);
        if (nv > 3)
            a3 = _mm512_fmadd_ps(wv[j], _mm512_loadu_ps(s + 48), a3);
    }
    dw_act4(act, &a0, &a1, &a2, &a3);
    DW_PUT(0);
    if (nv > 1)
        DW_PUT(1);
    if (nv > 2)
        DW_PUT(2);
    if (nv > 3)
        DW_PUT(3);
}

/* All nqv flat outputs of one plane, four vectors at a time; the
 * broadcast weights in a local array, which no store can alias: for a
 * constant kt they stay in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
dw_run(const int64_t kt, const dw_geom *d, const float *p, const int64_t *toff, const float *w, float bias,
       const qfd_act *act, const dw_out *o, float *y)
{
    __m512 wv[DW_TAPS_MAX];
    for (int64_t j = 0; j < kt; j++)
        wv[j] = _mm512_set1_ps(w[j]);
    int64_t q = 0;
    for (; q + 64 <= d->nqv; q += 64)
        dw_vecs(4, kt, p + q, toff, wv, bias, act, o + q / 16, y);
    switch ((d->nqv - q) / 16) {
    case 3: dw_vecs(3, kt, p + q, toff, wv, bias, act, o + q / 16, y); break;
    case 2: dw_vecs(2, kt, p + q, toff, wv, bias, act, o + q / 16, y); break;
    case 1: dw_vecs(1, kt, p + q, toff, wv, bias, act, o + q / 16, y); break;
    default: break;
    }
}

__attribute__((target("avx512f"))) static void dw_plane_simd(const qfd_conv_geom *g, const dw_geom *d,
                                                             const int64_t *toff, const dw_out *o, const float *xp,
                                                             const float *wp, float bias, const qfd_act *act, float *p,
                                                             float *yp)
{
    dw_pad(g, d, xp, p);
    if (g->k_size == 9) /* 3x3, the common case: taps unrolled, weights in registers */
        dw_run(9, d, p, toff, wp, bias, act, o, yp);
    else
        dw_run(g->k_size, d, p, toff, wp, bias, act, o, yp);
}

/* The dw_out table of geometry g into o. */
static void dw_out_table(const qfd_conv_geom *g, const dw_geom *d, dw_out *o)
{
    const int64_t ow_n = g->col[1];
    for (int64_t v = 0; v < d->nqv / 16; v++) {
        unsigned keep = 0;
        int cnt = 0;
        int64_t first = -1;
        for (int64_t l = 0, q = 16 * v, r = q % d->qw; l < 16 && q < d->nq; l++, q++, r = r + 1 == d->qw ? 0 : r + 1)
            if (r < ow_n) {
                keep |= 1u << l;
                cnt++;
                first = first < 0 ? q / d->qw * ow_n + r : first;
            }
        o[v].yo = first < 0 ? 0 : first;
        o[v].keep = (uint16_t)keep;
        o[v].first = (uint16_t)((1u << cnt) - 1);
    }
}

/* The in-place kernel's masks: mk[v * k_size + j], lanes of vector v whose
 * tap j lies inside the image; tap j's offset off[j]. Row and column are
 * stepped along the lanes, not divided: the table is made at every call. */
static void dw_mask_table(const qfd_conv_geom *g, uint16_t *mk, int64_t *off)
{
    const int64_t w_n = g->img[1], h_n = g->img[0], kt = g->k_size, nv = (g->col_size + 15) / 16;
    for (int64_t j = 0; j < kt; j++) {
        const int64_t dh = j / g->k[1] * g->dil[0] - g->pad[0], dw = j % g->k[1] * g->dil[1] - g->pad[1];
        off[j] = dh * w_n + dw;
        int64_t oh = 0, ow = 0;
        for (int64_t v = 0; v < nv; v++) {
            unsigned bits = 0;
            for (int64_t l = 0; l < 16 && 16 * v + l < g->col_size; l++) {
                const int64_t ih = oh + dh, iw = ow + dw;
                bits |= (unsigned)(ih >= 0 && ih < h_n && iw >= 0 && iw < w_n) << l;
                oh += ow + 1 == w_n;
                ow = ow + 1 == w_n ? 0 : ow + 1;
            }
            mk[v * kt + j] = (uint16_t)bits;
        }
    }
}

/* xp + i as an address, in integer arithmetic: i may point outside the
 * plane, where only masked-off lanes would read. */
static inline const float *dw_at(const float *xp, int64_t i)
{
    return (const float *)(uintptr_t)((uintptr_t)xp + (uintptr_t)i * sizeof(float));
}

/* nv vectors at flat index q of one plane: as dw_vecs, reading the input
 * plane xp through the masks mk (k_size per vector) and storing whole
 * vectors (the lanes before cs) to y + q. */
__attribute__((target("avx512f"), always_inline)) static inline void
dw_in_vecs(const int nv, const int64_t kt, const float *xp, int64_t q, int64_t cs, const int64_t *off,
           const uint16_t *mk, const __m512 *wv, float bias, const qfd_act *act, float *y)
{
    __m512 a0 = _mm512_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < kt; j++) {
        const int64_t i = q + off[j];
        a0 = _mm512_fmadd_ps(wv[j], _mm512_maskz_loadu_ps(mk[j], dw_at(xp, i)), a0);
        if (nv > 1)
            a1 = _mm512_fmadd_ps(wv[j], _mm512_maskz_loadu_ps(mk[kt + j], dw_at(xp, i + 16)), a1);
        if (nv > 2)
            a2 = _mm512_fmadd_ps(wv[j], _mm512_maskz_loadu_ps(mk[2 * kt + j], dw_at(xp, i + 32)), a2);
        if (nv > 3)
            a3 = _mm512_fmadd_ps(wv[j], _mm512_maskz_loadu_ps(mk[3 * kt + j], dw_at(xp, i + 48)), a3);
    }
    dw_act4(act, &a0, &a1, &a2, &a3);
    _mm512_mask_storeu_ps(y + q, lanes(0, cs - q), a0);
    if (nv > 1)
        _mm512_mask_storeu_ps(y + q + 16, lanes(0, cs - q - 16), a1);
    if (nv > 2)
        _mm512_mask_storeu_ps(y + q + 32, lanes(0, cs - q - 32), a2);
    if (nv > 3)
        _mm512_mask_storeu_ps(y + q + 48, lanes(0, cs - q - 48), a3);
}

__attribute__((target("avx512f"), always_inline)) static inline void
dw_in_run(const int64_t kt, const qfd_conv_geom *g, const int64_t *off, const uint16_t *mk, const float *xp,
          const float *w, float bias, const qfd_act *act, float *yp)
{
    __m512 wv[DW_TAPS_MAX];
    for (int64_t j = 0; j < kt; j++)
        wv[j] = _mm512_set1_ps(w[j]);
    const int64_t cs = g->col_size, nqv = (cs + 15) / 16 * 16;
    int64_t q = 0;
    for (; q + 64 <= nqv; q += 64)
        dw_in_vecs(4, kt, xp, q, cs, off, mk + q / 16 * kt, wv, bias, act, yp);
    switch ((nqv - q) / 16) {
    case 3: dw_in_vecs(3, kt, xp, q, cs, off, mk + q / 16 * kt, wv, bias, act, yp); break;
    case 2: dw_in_vecs(2, kt, xp, q, cs, off, mk + q / 16 * kt, wv, bias, act, yp); break;
    case 1: dw_in_vecs(1, kt, xp, q, cs, off, mk + q / 16 * kt, wv, bias, act, yp); break;
    default: break;
    }
}

__attribute__((target("avx512f"))) static void dw_plane_inplace(const qfd_conv_geom *g, const int64_t *off,
                                                                const uint16_t *mk, const float *xp, const float *wp,
                                                                float bias, const qfd_act *act, float *yp)
{
    if (g->k_size == 9)
        dw_in_run(9, g, off, mk, xp, wp, bias, act, yp);
    else
        dw_in_run(g->k_size, g, off, mk, xp, wp, bias, act, yp);
}
#endif

void qfd_conv_dw_forward(const qfd_conv_geom *g, int64_t n, int64_t c, int64_t m, const float *x, const float *w,
                         const float *b, const qfd_act *act, float *y, float *ws, int n_threads, bool simd)
{
    const int64_t planes = n * m, mg = m / c, slots = dw_slots(g, planes, n_threads);
    bool inplace = false, padded = false;
    if (act && act->kind == QFD_ACT_NONE)
        act = NULL;
#if QFD_HAVE_AVX512
    const dw_geom d = dw_geom_of(g);
    dw_out *tab = NULL;
    float *planes_ws = ws;
    int64_t slot_floats = 0;
    inplace = simd && dw_inplace(g, planes);
    padded = simd && !inplace;
    uint16_t *mk = NULL;
    int64_t ioff[DW_TAPS_MAX];
    if (inplace) {
        mk = (uint16_t *)(void *)ws;
        dw_mask_table(g, mk, ioff);
    } else if (simd) {
        tab = (dw_out *)(void *)ws; /* the workspace is malloc'd: aligned for it */
        dw_out_table(g, &d, tab);
        planes_ws = ws + dw_out_floats(&d);
        slot_floats = d.phases * d.ps;
    }
    int64_t toff[DW_TAPS_MAX];
    for (int64_t j = 0; simd && j < g->k_size; j++) {
        const int64_t rh = (j / g->k[1]) * g->dil[0], rw = (j % g->k[1]) * g->dil[1];
        toff[j] = ((rh % g->stride[0]) * g->stride[1] + rw % g->stride[1]) * d.ps + rh / g->stride[0] * d.qw +
                  rw / g->stride[1];
    }
#else
    (void)ws, (void)simd, (void)inplace, (void)padded;
#endif
    /* Planes are handed out in tasks of a few thousand outputs, so that a
     * thread the OS holds back (other processes on the cores) leaves its
     * share to the others instead of keeping them at the barrier; each
     * thread pads into its own slot of the workspace. */
    const int64_t chunk = g->col_size > 0 && g->col_size < DW_TASK_OUTPUTS ? DW_TASK_OUTPUTS / g->col_size : 1;
#pragma omp parallel num_threads((int)slots) if (slots > 1)
    {
#if QFD_HAVE_AVX512
        float *mine = padded ? planes_ws + omp_get_thread_num() * slot_floats : NULL;
#endif
#pragma omp for schedule(dynamic, chunk)
        for (int64_t pl = 0; pl < planes; pl++) {
            const int64_t mm = pl % m;
            const float *xp = x + (pl / m * c + mm / mg) * g->img_size, *wp = w + mm * g->k_size;
            float *yp = y + pl * g->col_size;
            const float bias = b ? b[mm] : 0.0f;
#if QFD_HAVE_AVX512
            if (inplace) {
                dw_plane_inplace(g, ioff, mk, xp, wp, bias, act, yp);
                continue;
            }
            if (padded) {
                dw_plane_simd(g, &d, toff, tab, xp, wp, bias, act, mine, yp);
                continue;
            }
#endif
            dw_plane(g, xp, wp, bias, yp);
            if (act)
                qfd_act_apply(act, NULL, yp, g->col_size);
        }
    }
}
