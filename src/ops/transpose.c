/* Transpose (opsets 1-21): y.dims[i] = x.dims[perm[i]],
 * y[i0..in] = x[j] with j[perm[k]] = ik; perm defaults to reversed axes.
 * Any element type of whole bytes is moved by its size.
 *
 * Before copying, size-1 axes are dropped and axes that stay adjacent in
 * both x and y are merged, so NCHW<->NHWC becomes a batched 2-D transpose
 * (blocked for the cache) and the rest a strided copy whose inner run is a
 * memcpy when the last axis does not move.
 *
 * Backward: dx += transpose(dy, inv) with inv[perm[i]] = i, through the
 * same plan and fast paths as forward, in float and accumulating.
 */
#include <stdbool.h>
#include <string.h>

#include "ops/avx512.h"
#include "ops/op.h"

typedef struct plan {
    int rank;
    int64_t dims[QFD_ARRAY_MAX_RANK];    /* output dims, merged */
    int64_t strides[QFD_ARRAY_MAX_RANK]; /* input stride (elements) of each output axis */
} plan;

static void get_perm(const qfd_op_ctx *oc, int rank, int64_t *perm, size_t *n)
{
    const int64_t *v;
    *n = qfd_attr_ints(oc->node, "perm", &v);
    if (!qfd_attr_get(oc->node, "perm")) {
        *n = (size_t)rank;
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
    } else if (*n <= QFD_ARRAY_MAX_RANK && *n) {
        memcpy(perm, v, *n * sizeof *v);
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and one output");
    int64_t perm[QFD_ARRAY_MAX_RANK];
    size_t n;
    get_perm(oc, x->rank, perm, &n);
    if (n != (size_t)x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "perm has %zu values for a rank-%d input", n, x->rank);
    int seen[QFD_ARRAY_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank || seen[perm[i]])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "perm is not a permutation of 0..%d", x->rank - 1);
        seen[perm[i]] = 1;
    }
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (size_t i = 0; i < n; i++)
        y->dims[i] = x->dims[perm[i]];
    return QFD_OK;
}

/* Plan for moving an array of shape dims (rank) by perm. */
static void make_plan(int rank, const int64_t *dims, const int64_t *perm, plan *p)
{
    int64_t xs[QFD_ARRAY_MAX_RANK];
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        xs[i] = s;
        s *= dims[i];
    }
    p->rank = 0;
    for (int i = 0; i < rank; i++) {
        int64_t d = dims[perm[i]], st = xs[perm[i]];
        if (d == 1)
            continue;
        /* Merge with the previous output axis when it is the next-outer
         * input axis: x's stride there is exactly d times this one. */
        if (p->rank && p->strides[p->rank - 1] == st * d) {
            p->dims[p->rank - 1] *= d;
            p->strides[p->rank - 1] = st;
            continue;
        }
        p->dims[p->rank] = d;
        p->strides[p->rank] = st;
        p->rank++;
    }
}

/* True when the plan is a batched 2-D transpose, input [nb, m, nn] to
 * output [nb, nn, m]: stride 1 on the output's middle axis, nn on its last
 * (the input's outer axis, when any, must not move). */
static bool batched_2d(const plan *p, int64_t *nb, int64_t *m, int64_t *nn)
{
    int r = p->rank;
    if (!((r == 2 || (r == 3 && p->strides[0] == p->dims[1] * p->dims[2])) && p->strides[r - 2] == 1 &&
          p->strides[r - 1] == p->dims[r - 2]))
        return false;
    *nb = r == 3 ? p->dims[0] : 1;
    *m = p->dims[r - 1];
    *nn = p->dims[r - 2];
    return true;
}

/* Input offset (elements) of output row `row` (all axes but the last). */
static int64_t row_offset(const plan *p, int64_t row)
{
    int64_t off = 0, rem = row;
    for (int k = p->rank - 2; k >= 0; k--) {
        off += rem % p->dims[k] * p->strides[k];
        rem /= p->dims[k];
    }
    return off;
}

/* y[b][j][i] OP x[b][i][j] for x of shape [nb, m, nn], in 32x32 tiles;
 * OP is = for forward's copies and += for backward's accumulation. */
#define TILED(NAME, T, OP)                                                                                      \
    static void tiled_##NAME(const T *x, T *y, int64_t nb, int64_t m, int64_t nn, int nt)                       \
    {                                                                                                           \
        int64_t tiles_i = (m + 31) / 32, tiles_j = (nn + 31) / 32, total = nb * tiles_i * tiles_j;              \
        _Pragma("omp parallel for num_threads(nt) if(nb * m * nn > 65536)") for (int64_t t = 0; t < total; t++) \
        {                                                                                                       \
            int64_t b = t / (tiles_i * tiles_j), r = t % (tiles_i * tiles_j);                                   \
            int64_t i0 = r / tiles_j * 32, j0 = r % tiles_j * 32;                                               \
            int64_t i1 = i0 + 32 < m ? i0 + 32 : m, j1 = j0 + 32 < nn ? j0 + 32 : nn;                           \
            const T *xb = x + b * m * nn;                                                                       \
            T *yb = y + b * m * nn;                                                                             \
            for (int64_t j = j0; j < j1; j++)                                                                   \
                for (int64_t i = i0; i < i1; i++)                                                               \
                    yb[j * m + i] OP xb[i * nn + j];                                                            \
        }                                                                                                       \
    }
TILED(uint8_t, uint8_t, =)
TILED(uint16_t, uint16_t, =)
TILED(uint32_t, uint32_t, =)
TILED(uint64_t, uint64_t, =)
TILED(add_float, float, +=)

#if QFD_HAVE_AVX512
/* One block of up to 16 x 16 4-byte elements, x rows of stride ldx to y
 * rows of stride ldy: rows x cols read, cols x rows written, the rest
 * masked. In registers: pairs of rows interleaved by 32, 64 and 128 bits,
 * then the 128-bit lanes gathered, the usual 16 x 16 sequence. */
QFD_AVX512_INLINE void block16(const float *x, int64_t ldx, float *y, int64_t ldy, int rows, int cols)
{
    __m512 r[16], t[16];
    __mmask16 cm = qfd_mask16(cols), rm = qfd_mask16(rows);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(cm, x + i * ldx) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* r[4q + c] holds columns c, c + 4, c + 8, c + 12 of rows 4q..4q+3 */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        if (j < cols)
            _mm512_mask_storeu_ps(y + j * ldy, rm, r[j]);
}

/* tiled_uint32_t in 16 x 16 register blocks. */
static QFD_AVX512_FN void tiled_avx512(const float *x, float *y, int64_t nb, int64_t m, int64_t nn, int nt)
{
    int64_t bi = (m + 15) / 16, bj = (nn + 15) / 16, total = nb * bi * bj;
#pragma omp parallel for num_threads(nt) if (nb * m * nn > 65536) schedule(static)
    for (int64_t t = 0; t < total; t++) {
        int64_t b = t / (bi * bj), r = t % (bi * bj), i0 = r / bj * 16, j0 = r % bj * 16;
        int rows = (int)(m - i0 < 16 ? m - i0 : 16), cols = (int)(nn - j0 < 16 ? nn - j0 : 16);
        block16(x + b * m * nn + i0 * nn + j0, nn, y + b * m * nn + j0 * m + i0, m, rows, cols);
    }
}
#endif

/* The input offset of the row after the one at off, coord its outer
 * coordinates (advanced). */
static inline int64_t next_row(const plan *p, int64_t *coord, int64_t off)
{
    for (int k = p->rank - 2; k >= 0; k--) {
        off += p->strides[k];
        if (++coord[k] < p->dims[k])
            break;
        off -= p->strides[k] * p->dims[k];
        coord[k] = 0;
    }
    return off;
}

#if QFD_HAVE_AVX512
/* Rows [r0, r1) of the general case when they are contiguous runs of
 * 4-byte elements, 16 at a time (the last masked), from input offset off
 * and outer coordinates coord. */
static QFD_AVX512_FN void rows_avx512(const plan *p, const float *x, float *y, int64_t r0, int64_t r1, int64_t *coord,
                                      int64_t off)
{
    int64_t n = p->dims[p->rank - 1];
    for (int64_t row = r0;;) {
        const float *xr = x + off;
        float *yr = y + row * n;
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 k = qfd_mask16(n - i);
            _mm512_mask_storeu_ps(yr + i, k, _mm512_maskz_loadu_ps(k, xr + i));
        }
        if (++row >= r1)
            break;
        off = next_row(p, coord, off);
    }
}
#endif

/* Copies row `row` (all output axes but the last) of the general case,
 * from input offset off (elements). */
static void copy_row(const plan *p, const uint8_t *x, uint8_t *y, int64_t row, int64_t off, size_t es)
{
    int r = p->rank;
    int64_t n = p->dims[r - 1], s = p->strides[r - 1];
    uint8_t *yr = y + (size_t)(row * n) * es;
    const uint8_t *xr = x + (size_t)off * es;
    if (s == 1 && es == 4 && n <= 64) { /* short run: a call to memcpy costs more */
        for (int64_t i = 0; i < n; i++)
            ((uint32_t *)(void *)yr)[i] = ((const uint32_t *)(const void *)xr)[i];
        return;
    }
    if (s == 1) {
        memcpy(yr, xr, (size_t)n * es);
        return;
    }
    switch (es) {
    case 4:
        for (int64_t i = 0; i < n; i++)
            ((uint32_t *)(void *)yr)[i] = ((const uint32_t *)(const void *)xr)[i * s];
        break;
    case 8:
        for (int64_t i = 0; i < n; i++)
            ((uint64_t *)(void *)yr)[i] = ((const uint64_t *)(const void *)xr)[i * s];
        break;
    case 1:
        for (int64_t i = 0; i < n; i++)
            yr[i] = xr[i * s];
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(yr + (size_t)i * es, xr + (size_t)(i * s) * es, es);
    }
}

/* Row `row` of the general case in float, added: y[row][i] += x[off + i*s]. */
static void add_row(const plan *p, const float *x, float *y, int64_t row)
{
    int64_t n = p->dims[p->rank - 1], s = p->strides[p->rank - 1];
    float *yr = y + row * n;
    const float *xr = x + row_offset(p, row);
    for (int64_t i = 0; i < n; i++)
        yr[i] += xr[i * s];
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    int64_t numel = qfd_array_numel(x);
    if (numel <= 0)
        return QFD_OK;
    int64_t perm[QFD_ARRAY_MAX_RANK];
    size_t np;
    get_perm(oc, x->rank, perm, &np);
    plan p;
    make_plan(x->rank, x->dims, perm, &p);
    if (p.rank <= 1) {
        memcpy(y->data, x->data, (size_t)numel * es);
        return QFD_OK;
    }
    int64_t nb, m, nn;
    if (batched_2d(&p, &nb, &m, &nn) && (es == 1 || es == 2 || es == 4 || es == 8)) {
        switch (es) {
        case 1: tiled_uint8_t(x->data, y->data, nb, m, nn, oc->n_threads); break;
        case 2: tiled_uint16_t(x->data, y->data, nb, m, nn, oc->n_threads); break;
        case 4:
#if QFD_HAVE_AVX512
            if (qfd_cpu_avx512()) {
                tiled_avx512(x->data, y->data, nb, m, nn, oc->n_threads);
                break;
            }
#endif
            tiled_uint32_t(x->data, y->data, nb, m, nn, oc->n_threads);
            break;
        default: tiled_uint64_t(x->data, y->data, nb, m, nn, oc->n_threads); break;
        }
        return QFD_OK;
    }
    int64_t rows = numel / p.dims[p.rank - 1];
    int nt = numel > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
    if (nt > rows)
        nt = (int)rows;
    bool avx512_rows = es == 4 && p.strides[p.rank - 1] == 1 && qfd_cpu_avx512();
    (void)avx512_rows; /* unused without AVX-512 kernels */
    /* Each thread walks its rows with an odometer over the outer axes:
     * rows are often short (ViT's heads: 16 floats), and dividing out the
     * coordinates of every row cost more than the copy. */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt, coord[QFD_ARRAY_MAX_RANK] = {0};
        if (r0 >= r1)
            continue;
        int64_t off = row_offset(&p, r0), rem = r0;
        for (int k = p.rank - 2; k >= 0; k--) {
            coord[k] = rem % p.dims[k];
            rem /= p.dims[k];
        }
#if QFD_HAVE_AVX512
        if (avx512_rows) {
            rows_avx512(&p, x->data, y->data, r0, r1, coord, off);
            continue;
        }
#endif
        for (int64_t row = r0;;) {
            copy_row(&p, x->data, y->data, row, off, es);
            if (++row >= r1)
                break;
            off = next_row(&p, coord, off);
        }
    }
    return QFD_OK;
}

/* dx += transpose(dy, inv): dy (shape y) is the array being moved. */
static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *dy = oc->gout[0];
    float *dx = oc->gin[0]->data;
    const float *g = dy->data;
    int64_t numel = qfd_array_numel(dy);
    if (numel <= 0)
        return QFD_OK;
    int64_t perm[QFD_ARRAY_MAX_RANK], inv[QFD_ARRAY_MAX_RANK];
    size_t np;
    get_perm(oc, oc->in[0]->rank, perm, &np);
    for (int i = 0; i < dy->rank; i++)
        inv[perm[i]] = i;
    plan p;
    make_plan(dy->rank, dy->dims, inv, &p);
    int nt = oc->n_threads;
    if (p.rank <= 1) {
#pragma omp parallel for num_threads(nt) if (numel > 65536)
        for (int64_t i = 0; i < numel; i++)
            dx[i] += g[i];
        return QFD_OK;
    }
    int64_t nb, m, nn;
    if (batched_2d(&p, &nb, &m, &nn)) {
        tiled_add_float(g, dx, nb, m, nn, nt);
        return QFD_OK;
    }
    int64_t rows = numel / p.dims[p.rank - 1];
#pragma omp parallel for num_threads(nt) if (numel > 65536)
    for (int64_t row = 0; row < rows; row++)
        add_row(&p, g, dx, row);
    return QFD_OK;
}

const qfd_op_def qfd_op_transpose = {
    .name = "Transpose",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_REMAT,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_nothing,
};
