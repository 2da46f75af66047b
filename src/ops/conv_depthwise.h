/* Depthwise 2-D Conv forward (src/ops/conv_depthwise.c): one input channel
 * per group, m = c * (m / c) output channels, output m reading input m / (m / c). */
#ifndef QFD_OPS_CONV_DEPTHWISE_H
#define QFD_OPS_CONV_DEPTHWISE_H

#include <stdbool.h>

#include "ops/activation.h"
#include "ops/im2col.h"

/* Widest kernel (its last axis) the depthwise kernels take. */
#define QFD_CONV_DW_MAX_KW 32

/* Whether the AVX-512 kernel takes this geometry on this CPU (strides 1
 * and 2, at most 64 taps). */
bool qfd_conv_dw_simd_ok(const qfd_conv_geom *g);

/* Workspace floats of qfd_conv_dw_forward for n images of m channels. */
size_t qfd_conv_dw_floats(const qfd_conv_geom *g, int64_t n, int64_t m, int n_threads, bool simd);

/* Y = act(depthwise conv of X by W + B) for a 2-D geometry g with
 * g->k[1] <= QFD_CONV_DW_MAX_KW: x [n][c][img], w [m][k_size], b [m] or
 * NULL, act or NULL, y [n][m][col]. simd picks the AVX-512 kernel (only
 * where qfd_conv_dw_simd_ok) or the portable one; both give the same
 * values up to float rounding. ws holds qfd_conv_dw_floats() floats. */
void qfd_conv_dw_forward(const qfd_conv_geom *g, int64_t n, int64_t c, int64_t m, const float *x, const float *w,
                         const float *b, const qfd_act *act, float *y, float *ws, int n_threads, bool simd);

#endif
