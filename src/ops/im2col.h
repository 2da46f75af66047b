/* Convolution geometry shared by Conv and ConvTranspose, and the im2col /
 * col2im transforms that turn a convolution into one sgemm. */
#ifndef QFD_OPS_IM2COL_H
#define QFD_OPS_IM2COL_H

#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"

#define QFD_CONV_MAX_SP (QFD_ARRAY_MAX_RANK - 2)

/* An image of img[] positions per spatial axis is read through a kernel
 * k[] with stride, dilation and begin padding; the column grid has col[]
 * positions per axis. Image position of (col o, kernel j) on an axis:
 * o * stride - pad + j * dil; outside [0, img) it is padding. */
typedef struct qfd_conv_geom {
    int nsp;
    int64_t img[QFD_CONV_MAX_SP], col[QFD_CONV_MAX_SP], k[QFD_CONV_MAX_SP];
    int64_t stride[QFD_CONV_MAX_SP], dil[QFD_CONV_MAX_SP], pad[QFD_CONV_MAX_SP];
    int64_t img_size, col_size, k_size; /* products over the spatial axes */
} qfd_conv_geom;

/* Conv-like attributes of a node: kernel_shape, strides, dilations, pads,
 * auto_pad, group, checked against nsp spatial axes and the kernel dims of
 * W (k_from_w). Pads are the explicit ones (begin then end); auto_pad is
 * resolved by the op because Conv and ConvTranspose split it differently. */
typedef struct qfd_conv_attrs {
    int nsp;
    int64_t k[QFD_CONV_MAX_SP], stride[QFD_CONV_MAX_SP], dil[QFD_CONV_MAX_SP];
    int64_t pad_b[QFD_CONV_MAX_SP], pad_e[QFD_CONV_MAX_SP];
    int64_t group;
    enum { QFD_PAD_NOTSET, QFD_PAD_SAME_UPPER, QFD_PAD_SAME_LOWER, QFD_PAD_VALID } auto_pad;
} qfd_conv_attrs;

qfd_status qfd_conv_read_attrs(const qfd_op_ctx *oc, int nsp, const int64_t *k_from_w, qfd_conv_attrs *a);
/* Conv and ConvTranspose alike: X and W present, float32 (B too), equal
 * ranks of at least 3; then their attributes, as qfd_conv_read_attrs. */
qfd_status qfd_conv_check_inputs(const qfd_op_ctx *oc, qfd_conv_attrs *a);

/* Columns o of one output row whose tap o*s + shift lies in [0, n): [*lo, *hi). */
static inline void qfd_conv_tap_range(int64_t n, int64_t s, int64_t shift, int64_t cols, int64_t *lo, int64_t *hi)
{
    int64_t t = -shift, u = n - shift;
    int64_t l = t <= 0 ? 0 : (t + s - 1) / s, h = u <= 0 ? 0 : (u + s - 1) / s;
    l = l > cols ? cols : l;
    h = h > cols ? cols : h;
    *lo = l;
    *hi = h < l ? l : h;
}

/* Fills the products img_size, col_size, k_size. */
void qfd_conv_geom_finish(qfd_conv_geom *g);

/* col[(c * k_size + j) * col_size + o] = img[c][image position of (o, j)],
 * 0 in the padding; channels image planes of img_size floats each. */
void qfd_im2col(const float *img, int64_t channels, const qfd_conv_geom *g, float *col, int n_threads);

/* im2col of n_img images (image i at img + i * img_step) side by side:
 * image i's columns start at column i * col_size of each row, rows are
 * ldcol floats apart. scratch holds qfd_im2col_batch_scratch() floats (the
 * zero-padded input planes of 2-D images; may be 0 floats). */
size_t qfd_im2col_batch_scratch(const qfd_conv_geom *g, int64_t channels, int64_t n_img);
void qfd_im2col_batch(const float *img, int64_t n_img, int64_t img_step, int64_t channels, const qfd_conv_geom *g,
                      float *col, int64_t ldcol, float *scratch, int n_threads);

/* Direct Conv forward (src/ops/conv_fast.c), for 2-D stride-1 convs with
 * one group and a multiple of 4 output channels, on CPUs with AVX-512F:
 * qfd_conv_direct_ok says whether it applies. One image: x [c][img],
 * w [m][c * k_size], b [m] or NULL, y [m][col] (acc: y += instead);
 * scratch holds qfd_conv_direct_floats() floats per image run at the same
 * time; next (or NULL) is the input that call will read next, prefetched
 * meanwhile. */
int qfd_conv_direct_ok(const qfd_conv_geom *g, int64_t m, int64_t group);
size_t qfd_conv_direct_floats(const qfd_conv_geom *g, int64_t c, int64_t m);
/* Some shapes run on W rearranged once per call into wt, of
 * qfd_conv_direct_wt_floats() floats (0: wt unused, may be NULL). */
size_t qfd_conv_direct_wt_floats(const qfd_conv_geom *g, int64_t c, int64_t m);
void qfd_conv_direct_prepare(const qfd_conv_geom *g, int64_t c, const float *w, int64_t m, float *wt);
void qfd_conv_direct(const qfd_conv_geom *g, const float *x, int64_t c, const float *w, const float *wt, const float *b,
                     int64_t m, float *y, float *scratch, const float *next, int acc);
/* The same in two steps, for threads that share one image: pad x into
 * scratch once, then each thread computes output channels [m_lo, m_hi) of
 * y from it (m_lo and m_hi multiples of qfd_conv_direct_m_unit()). */
int64_t qfd_conv_direct_m_unit(const qfd_conv_geom *g, int64_t m);
/* Floats between two padded input planes in scratch: a group's channels
 * start at padded + first channel * this. */
int64_t qfd_conv_direct_plane_floats(const qfd_conv_geom *g);
void qfd_conv_direct_pad(const qfd_conv_geom *g, const float *x, int64_t c, float *scratch);
void qfd_conv_direct_part(const qfd_conv_geom *g, const float *padded, int64_t c, const float *w, const float *wt,
                          const float *b, int64_t m, int64_t m_lo, int64_t m_hi, float *y, const float *next, int acc);

/* The input gradient of a stride-1 conv is itself a conv: over dY, with W
 * transposed ([c][m]) and flipped in space, begin pads (k - 1) * dil - pad,
 * producing dX's grid. qfd_conv_adjoint_geom fills gt with its geometry
 * (0: not such a conv); qfd_conv_adjoint_weights writes W [m][c][k_size]
 * as that conv's weights wa [c][m][k_size]. */
int qfd_conv_adjoint_geom(const qfd_conv_geom *g, qfd_conv_geom *gt);
void qfd_conv_adjoint_weights(int64_t m, int64_t c, int64_t k_size, const float *w, float *wa);

/* Direct Conv weight gradient (src/ops/conv_fast_dw.c), for 2-D group-1
 * convs with a multiple of 16 output channels, any stride and dilation, on
 * CPUs with AVX-512F: qfd_conv_direct_dw_ok says whether it applies. One
 * image: x [c][img], dy [m][col]; adds dW transposed into dwt [c * k_size][m];
 * scratch holds qfd_conv_direct_dw_floats() floats. */
int qfd_conv_direct_dw_ok(const qfd_conv_geom *g, int64_t m, int64_t group);
size_t qfd_conv_direct_dw_floats(const qfd_conv_geom *g, int64_t c, int64_t m);
void qfd_conv_direct_dw(const qfd_conv_geom *g, const float *x, int64_t c, const float *dy, int64_t m, float *dwt,
                        float *scratch);

/* The adjoint: img[c][image position of (o, j)] += col[...] for every
 * position inside the image. */
void qfd_col2im(const float *col, int64_t channels, const qfd_conv_geom *g, float *img, int n_threads);

#endif
