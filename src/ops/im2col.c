/* Conv attribute parsing and the im2col / col2im transforms, for any number
 * of spatial axes. The last spatial axis is the inner loop: its in-image
 * range is computed once per kernel offset, so the copy between padding
 * runs is a plain (for stride 1, contiguous) loop that gcc vectorises.
 * 2-D images, the common case and the training hot path (im2col of X for dW,
 * col2im for dX), take block loops without the per-row index division. */
#include "ops/im2col.h"
#include "ops/simd.h"

#include <stdint.h>
#include <string.h>

static qfd_status read_axis_ints(const qfd_op_ctx *oc, const char *name, size_t want, int64_t min, int64_t *dst,
                                 int64_t def)
{
    const int64_t *v;
    size_t n = qfd_attr_ints(oc->node, name, &v);
    if (n && n != want)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute %s has %zu values, expected %zu", name, n, want);
    for (size_t i = 0; i < want; i++) {
        dst[i] = n ? v[i] : def;
        /* The bound keeps the output-size arithmetic far from overflow. */
        if (dst[i] < min || dst[i] > INT32_MAX)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute %s[%zu] = %lld is out of range", name, i,
                               (long long)dst[i]);
    }
    return QFD_OK;
}

qfd_status qfd_conv_read_attrs(const qfd_op_ctx *oc, int nsp, const int64_t *k_from_w, qfd_conv_attrs *a)
{
    qfd_status st;
    memset(a, 0, sizeof *a);
    if (nsp < 1 || nsp > QFD_CONV_MAX_SP)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%d spatial axes are not supported", nsp);
    a->nsp = nsp;
    const int64_t *ks;
    size_t nk = qfd_attr_ints(oc->node, "kernel_shape", &ks);
    if (nk && nk != (size_t)nsp)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "kernel_shape has %zu values, expected %d", nk, nsp);
    for (int i = 0; i < nsp; i++) {
        if (nk && ks[i] != k_from_w[i])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "kernel_shape[%d] = %lld but W has %lld", i, (long long)ks[i],
                               (long long)k_from_w[i]);
        if (k_from_w[i] < 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "kernel dimension %d is %lld", i, (long long)k_from_w[i]);
        a->k[i] = k_from_w[i];
    }
    int64_t pads[2 * QFD_CONV_MAX_SP];
    if ((st = read_axis_ints(oc, "strides", (size_t)nsp, 1, a->stride, 1)) ||
        (st = read_axis_ints(oc, "dilations", (size_t)nsp, 1, a->dil, 1)) ||
        (st = read_axis_ints(oc, "pads", 2 * (size_t)nsp, 0, pads, 0)))
        return st;
    for (int i = 0; i < nsp; i++) {
        a->pad_b[i] = pads[i];
        a->pad_e[i] = pads[nsp + i];
    }
    a->group = qfd_attr_int(oc->node, "group", 1);
    if (a->group < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "group = %lld", (long long)a->group);
    const char *ap = qfd_attr_str(oc->node, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") || !*ap)
        a->auto_pad = QFD_PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER"))
        a->auto_pad = QFD_PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        a->auto_pad = QFD_PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        a->auto_pad = QFD_PAD_VALID;
    else
        return qfd_op_fail(oc, QFD_ERR_INVALID, "auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", ap);
    return QFD_OK;
}

qfd_status qfd_conv_check_inputs(const qfd_op_ctx *oc, qfd_conv_attrs *a)
{
    const qfd_array *x = qfd_op_in(oc, 0), *w = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);
    if (!x || !w)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs X and W are required");
    if (x->dtype != QFD_DT_FLOAT || w->dtype != QFD_DT_FLOAT || (b && b->dtype != QFD_DT_FLOAT))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "only float32 inputs are supported");
    if (x->rank < 3 || w->rank != x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X has rank %d and W rank %d; expected equal ranks of at least 3",
                           x->rank, w->rank);
    return qfd_conv_read_attrs(oc, x->rank - 2, w->dims + 2, a);
}

void qfd_conv_geom_finish(qfd_conv_geom *g)
{
    g->img_size = g->col_size = g->k_size = 1;
    for (int i = 0; i < g->nsp; i++) {
        g->img_size *= g->img[i];
        g->col_size *= g->col[i];
        g->k_size *= g->k[i];
    }
}

/* Column positions o in [lo, hi) of axis d land inside the image for
 * kernel offset j on that axis. */
static void axis_range(const qfd_conv_geom *g, int d, int64_t j, int64_t *lo, int64_t *hi)
{
    int64_t s = g->stride[d], t = g->pad[d] - j * g->dil[d], u = g->img[d] + t;
    int64_t l = t <= 0 ? 0 : (t + s - 1) / s, h = u <= 0 ? 0 : (u + s - 1) / s;
    if (l > g->col[d])
        l = g->col[d];
    if (h > g->col[d])
        h = g->col[d];
    *lo = l;
    *hi = h < l ? l : h;
}

static void inner_range(const qfd_conv_geom *g, int64_t j, int64_t *lo, int64_t *hi)
{
    axis_range(g, g->nsp - 1, j, lo, hi);
}

/* 2-D images get their own block loops: the row range of a kernel offset is
 * computed once, where the generic path divides per row (which costs more
 * than copying a 14-wide row). One block = the rows of (channel, kh, kw). */
QFD_SIMD_CLONES
static void im2col_block2d(const qfd_conv_geom *g, const float *src, int64_t kh, int64_t kw, float *dst)
{
    const int64_t oh_n = g->col[0], ow_n = g->col[1], iw_n = g->img[1], sw = g->stride[1];
    int64_t rl, rh, lo, hi;
    axis_range(g, 0, kh, &rl, &rh);
    axis_range(g, 1, kw, &lo, &hi);
    const int64_t shift = kw * g->dil[1] - g->pad[1], ih0 = kh * g->dil[0] - g->pad[0];
    memset(dst, 0, (size_t)(rl * ow_n) * sizeof *dst);
    for (int64_t oh = rl; oh < rh; oh++) {
        const float *row = src + (oh * g->stride[0] + ih0) * iw_n;
        float *d = dst + oh * ow_n;
        for (int64_t o = 0; o < lo; o++)
            d[o] = 0.0f;
        if (sw == 1 && hi > lo)
            memcpy(d + lo, row + lo + shift, (size_t)(hi - lo) * sizeof *d);
        else if (sw != 1)
            for (int64_t o = lo; o < hi; o++)
                d[o] = row[o * sw + shift];
        for (int64_t o = hi; o < ow_n; o++)
            d[o] = 0.0f;
    }
    memset(dst + rh * ow_n, 0, (size_t)((oh_n - rh) * ow_n) * sizeof *dst);
}

QFD_SIMD_CLONES
static void col2im_block2d(const qfd_conv_geom *g, const float *src, int64_t kh, int64_t kw, float *dst)
{
    const int64_t ow_n = g->col[1], iw_n = g->img[1], sw = g->stride[1];
    int64_t rl, rh, lo, hi;
    axis_range(g, 0, kh, &rl, &rh);
    axis_range(g, 1, kw, &lo, &hi);
    const int64_t shift = kw * g->dil[1] - g->pad[1], ih0 = kh * g->dil[0] - g->pad[0];
    for (int64_t oh = rl; oh < rh; oh++) {
        float *row = dst + (oh * g->stride[0] + ih0) * iw_n;
        const float *s = src + oh * ow_n;
        if (sw == 1)
            for (int64_t o = lo; o < hi; o++)
                row[o + shift] += s[o];
        else
            for (int64_t o = lo; o < hi; o++)
                row[o * sw + shift] += s[o];
    }
}

/* Image offset of the outer (all but last) axes for column row r and
 * kernel offsets kj; -1 when that row lies in the padding. */
static int64_t outer_offset(const qfd_conv_geom *g, int64_t r, const int64_t *kj)
{
    int64_t off = 0, stride = g->img[g->nsp - 1];
    for (int d = g->nsp - 2; d >= 0; d--) {
        int64_t o = r % g->col[d];
        r /= g->col[d];
        int64_t p = o * g->stride[d] - g->pad[d] + kj[d] * g->dil[d];
        if (p < 0 || p >= g->img[d])
            return -1;
        off += p * stride;
        stride *= g->img[d];
    }
    return off;
}

static void kernel_offsets(const qfd_conv_geom *g, int64_t j, int64_t *kj)
{
    for (int d = g->nsp - 1; d >= 0; d--) {
        kj[d] = j % g->k[d];
        j /= g->k[d];
    }
}

static void im2col_rows(const float *img, int64_t channels, const qfd_conv_geom *g, float *col, int64_t ldcol,
                        int n_threads)
{
    const int last = g->nsp - 1;
    const int64_t ow_n = g->col[last], rows = g->col_size / (ow_n ? ow_n : 1);
    const int64_t s = g->stride[last];
    const int64_t work = channels * g->k_size * g->col_size;
    (void)n_threads;
    /* Rows (channel, kernel offset) are independent: parallel over both, so
     * that a 3-channel first layer still spreads over the threads. */
#pragma omp parallel for num_threads(n_threads) if (work > 65536)
    for (int64_t cj = 0; cj < channels * g->k_size; cj++) {
        const int64_t c = cj / g->k_size, j = cj % g->k_size;
        const float *src = img + c * g->img_size;
        if (g->nsp == 2) {
            im2col_block2d(g, src, j / g->k[1], j % g->k[1], col + cj * ldcol);
            continue;
        }
        int64_t kj[QFD_CONV_MAX_SP], lo, hi;
        kernel_offsets(g, j, kj);
        inner_range(g, kj[last], &lo, &hi);
        const int64_t shift = kj[last] * g->dil[last] - g->pad[last];
        float *dst = col + (c * g->k_size + j) * ldcol;
        for (int64_t r = 0; r < rows; r++, dst += ow_n) {
            int64_t off = outer_offset(g, r, kj);
            if (off < 0) {
                memset(dst, 0, (size_t)ow_n * sizeof *dst);
                continue;
            }
            /* index, not pointer, arithmetic: off + shift may be negative */
            const float *row = src + off;
            for (int64_t o = 0; o < lo; o++)
                dst[o] = 0.0f;
            if (s == 1 && hi > lo)
                memcpy(dst + lo, row + lo + shift, (size_t)(hi - lo) * sizeof *dst);
            else
                for (int64_t o = lo; o < hi; o++)
                    dst[o] = row[o * s + shift];
            for (int64_t o = hi; o < ow_n; o++)
                dst[o] = 0.0f;
        }
    }
}

void qfd_im2col(const float *img, int64_t channels, const qfd_conv_geom *g, float *col, int n_threads)
{
    im2col_rows(img, channels, g, col, g->col_size, n_threads);
}

/* Forward im2col of several images side by side. 2-D images go through a
 * zero-padded copy of each input plane (when the taps reach outside the
 * image), so that every column row is a plain strided read with no border
 * tests; with stride 1 a row is copied in 8-float chunks that may run past
 * its end into the next row, which is written afterwards (the last row of a
 * block is copied exactly, so nothing outside the block or the plane is
 * touched). A short row (7, 14, 28 floats in a small ResNet) then costs a
 * few vector moves instead of a memcpy call and the zero-fill branches. */
typedef struct pad_geom {
    int64_t ph, pw; /* rows and columns the taps read, padding included */
    int padded;     /* 0: read the image planes themselves (row stride img[1]) */
} pad_geom;

static pad_geom pad_geom_of(const qfd_conv_geom *g)
{
    pad_geom pg = {0, 0, 0};
    pg.ph = (g->col[0] - 1) * g->stride[0] + (g->k[0] - 1) * g->dil[0] + 1;
    pg.pw = (g->col[1] - 1) * g->stride[1] + (g->k[1] - 1) * g->dil[1] + 1;
    pg.padded = g->pad[0] > 0 || g->pad[1] > 0 || pg.ph > g->img[0] || pg.pw > g->img[1];
    return pg;
}

size_t qfd_im2col_batch_scratch(const qfd_conv_geom *g, int64_t channels, int64_t n_img)
{
    if (g->nsp != 2 || g->col_size == 0)
        return 0;
    pad_geom pg = pad_geom_of(g);
    return pg.padded ? (size_t)(n_img * channels * pg.ph * pg.pw) : 0;
}

QFD_SIMD_CLONES
static void pad_plane(const qfd_conv_geom *g, const pad_geom *pg, const float *src, float *dst)
{
    const int64_t ih_n = g->img[0], iw_n = g->img[1], p0 = g->pad[0], p1 = g->pad[1], pw = pg->pw;
    /* columns [c0, c1) of a padded row come from the image */
    int64_t c0 = p1 < pw ? p1 : pw, c1 = p1 + iw_n < pw ? p1 + iw_n : pw;
    for (int64_t r = 0; r < pg->ph; r++) {
        float *d = dst + r * pw;
        const int64_t ir = r - p0;
        if (ir < 0 || ir >= ih_n) {
            for (int64_t q = 0; q < pw; q++)
                d[q] = 0.0f;
            continue;
        }
        const float *s = src + ir * iw_n - p1;
        for (int64_t q = 0; q < c0; q++)
            d[q] = 0.0f;
        for (int64_t q = c0; q < c1; q++)
            d[q] = s[q];
        for (int64_t q = c1; q < pw; q++)
            d[q] = 0.0f;
    }
}

/* One block of column rows (image plane, kernel offset): dst[oh * ow + o] =
 * src[oh * sh * ld + o * sw], src already at the kernel offset. */
QFD_SIMD_CLONES
static void gather_block(const float *src, int64_t ld, int64_t oh_n, int64_t ow_n, int64_t sh, int64_t sw, float *dst)
{
    if (sw == 1) {
        /* chunked copy: the overrun stays inside the next row (of dst, and
         * of src since ld >= ow_n), see above */
        const int64_t chunked = ow_n >= 4 ? oh_n - 1 : 0;
        for (int64_t oh = 0; oh < chunked; oh++) {
            const float *s = src + oh * sh * ld;
            float *d = dst + oh * ow_n;
            for (int64_t o = 0; o < ow_n; o += 8)
                memcpy(d + o, s + o, 8 * sizeof *d);
        }
        for (int64_t oh = chunked; oh < oh_n; oh++) {
            const float *s = src + oh * sh * ld;
            float *d = dst + oh * ow_n;
            for (int64_t o = 0; o < ow_n; o++)
                d[o] = s[o];
        }
        return;
    }
    for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *s = src + oh * sh * ld;
        float *d = dst + oh * ow_n;
        for (int64_t o = 0; o < ow_n; o++)
            d[o] = s[o * sw];
    }
}

void qfd_im2col_batch(const float *img, int64_t n_img, int64_t img_step, int64_t channels, const qfd_conv_geom *g,
                      float *col, int64_t ldcol, float *scratch, int n_threads)
{
    const int64_t ks = g->k_size, p = g->col_size;
    (void)n_threads;
    if (g->nsp != 2 || p == 0) {
        for (int64_t i = 0; i < n_img; i++)
            im2col_rows(img + i * img_step, channels, g, col + i * p, ldcol, n_threads);
        return;
    }
    const pad_geom pg = pad_geom_of(g);
    const int64_t planes = n_img * channels, psize = pg.ph * pg.pw;
    const float *base = img;
    int64_t ld = g->img[1], step = g->img_size;
    if (pg.padded) {
#pragma omp parallel for num_threads(n_threads) if (planes * psize > 65536)
        for (int64_t t = 0; t < planes; t++)
            pad_plane(g, &pg, img + (t / channels) * img_step + (t % channels) * g->img_size, scratch + t * psize);
        base = scratch;
        ld = pg.pw;
        step = psize;
    }
    const int64_t oh_n = g->col[0], ow_n = g->col[1], sh = g->stride[0], sw = g->stride[1];
#pragma omp parallel for num_threads(n_threads) if (planes * ks * p > 65536)
    for (int64_t t = 0; t < planes * ks; t++) {
        const int64_t pl = t / ks, j = t % ks, i = pl / channels, c = pl % channels;
        const int64_t kh = j / g->k[1], kw = j % g->k[1];
        /* unpadded planes are read in place at their own offsets */
        const float *src = (pg.padded ? base + pl * step : base + i * img_step + c * step) + kh * g->dil[0] * ld +
                           kw * g->dil[1];
        gather_block(src, ld, oh_n, ow_n, sh, sw, col + (c * ks + j) * ldcol + i * p);
    }
}

void qfd_col2im(const float *col, int64_t channels, const qfd_conv_geom *g, float *img, int n_threads)
{
    const int last = g->nsp - 1;
    const int64_t ow_n = g->col[last], rows = g->col_size / (ow_n ? ow_n : 1);
    const int64_t s = g->stride[last];
    const int64_t work = channels * g->k_size * g->col_size;
    (void)n_threads;
    /* Parallel over channels only: kernel offsets of one channel add into
     * the same image plane. */
#pragma omp parallel for num_threads(n_threads) if (work > 65536 && channels > 1)
    for (int64_t c = 0; c < channels; c++) {
        float *dst = img + c * g->img_size;
        for (int64_t j = 0; j < g->k_size; j++) {
            if (g->nsp == 2) {
                col2im_block2d(g, col + (c * g->k_size + j) * g->col_size, j / g->k[1], j % g->k[1], dst);
                continue;
            }
            int64_t kj[QFD_CONV_MAX_SP], lo, hi;
            kernel_offsets(g, j, kj);
            inner_range(g, kj[last], &lo, &hi);
            const int64_t shift = kj[last] * g->dil[last] - g->pad[last];
            const float *src = col + (c * g->k_size + j) * g->col_size;
            for (int64_t r = 0; r < rows; r++, src += ow_n) {
                int64_t off = outer_offset(g, r, kj);
                if (off < 0)
                    continue;
                float *row = dst + off;
                if (s == 1)
                    for (int64_t o = lo; o < hi; o++)
                        row[o + shift] += src[o];
                else
                    for (int64_t o = lo; o < hi; o++)
                        row[o * s + shift] += src[o];
            }
        }
    }
}
