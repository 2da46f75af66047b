/* The broadcast loop shared by the elementwise ops of the binary family
 * (binary.c, minmax.c, where.c, prelu.c). */
#ifndef QFD_OPS_BINARY_H
#define QFD_OPS_BINARY_H

#include "ops/op.h"

/* Computes n outputs y[0..n) from up to three inputs; bit k of adv is set
 * when input k advances by one element per output, clear when its single
 * element x[0] is reused (broadcast along the innermost dimension). */
typedef void (*qfd_bcast_fn)(void *y, const void *a, const void *b, const void *c, int64_t n, unsigned adv,
                             const void *param);

/* Runs fn over every element of out, its n_in (1..3) inputs broadcast
 * numpy-style to out's shape (infer checked that they broadcast). Adjacent
 * dimensions are merged so that fn sees rows as long as possible. */
void qfd_bcast_run(const qfd_op_ctx *oc, qfd_array *out, size_t n_in, const qfd_array *const *in, qfd_bcast_fn fn,
                   const void *param);

/* ---- backward (float32 gradients) ----
 * `view` is an operand's shape as it broadcasts to out (its own shape, or a
 * legacy or PRelu view of it); its gradient has view's element count. */

/* Adds scale * src (out's shape) into dst (view's shape), summed over the
 * dimensions where view is broadcast. scratch: qfd_bcast_reduce_ws bytes
 * (per-thread partial sums; NULL runs on one thread). */
void qfd_bcast_reduce(const qfd_op_ctx *oc, const qfd_array *out, const float *src, const qfd_array *view, float scale,
                      float *dst, void *scratch);
size_t qfd_bcast_reduce_ws(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view);

/* One operand's gradient through fn, a qfd_bcast_fn that ADDS its local
 * gradient (times dy, one of its inputs) to y: straight into grad when view
 * is not broadcast, else into a zeroed out-sized scratch that is then
 * reduced into grad. scratch: qfd_bcast_grad_ws bytes. */
void qfd_bcast_grad(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view, float *grad, size_t n_in,
                    const qfd_array *const *in, qfd_bcast_fn fn, const void *param, void *scratch);
size_t qfd_bcast_grad_ws(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view);

/* Element size in bytes of the plain (non-packed) dtypes, 0 otherwise. */
size_t qfd_elem_size(int32_t dt);

/* For opsets before 7 (attributes broadcast/axis): *bv becomes b viewed with
 * a's rank, its dims placed at axis (default: trailing), so that numpy
 * broadcasting gives the legacy result. Copies b when broadcast is 0 and
 * fails when the shapes then differ. */
qfd_status qfd_legacy_bcast(const qfd_op_ctx *oc, const qfd_array *a, const qfd_array *b, qfd_array *bv);

#endif
