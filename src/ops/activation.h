/* An elementwise activation that a producing op applies to its own output
 * (FusedConv, src/ops/conv.c), while that output is still in cache: a
 * separate Relu/Clip node would read and write the whole, usually large,
 * tensor once more. Written by the inference pass that fuses them
 * (src/passes/fuse_act.c) as ONNX Runtime's com.microsoft FusedConv
 * attributes: activation = "Relu" | "Clip" | "LeakyRelu", activation_params
 * = [min, max] for Clip, [alpha] for LeakyRelu. */
#ifndef QFD_OPS_ACTIVATION_H
#define QFD_OPS_ACTIVATION_H

#include <stdint.h>

#include "ops/op.h"

enum qfd_act_kind {
    QFD_ACT_NONE,
    QFD_ACT_CLIP,       /* min(max(x, lo), hi); Relu is lo = 0, hi = +inf */
    QFD_ACT_LEAKY_RELU, /* x < 0 ? alpha * x : x */
};

typedef struct qfd_act {
    int kind;
    float lo, hi, alpha;
} qfd_act;

/* The activation of a node's attributes activation / activation_params
 * (kind NONE when absent); fails naming the node on an unknown one. */
qfd_status qfd_act_parse(const qfd_op_ctx *oc, qfd_act *a);

/* The value of one element: the same rounding as the Clip, Relu and
 * LeakyRelu ops, NaN passing through. */
static inline float qfd_act_one(const qfd_act *a, float v)
{
    if (a->kind == QFD_ACT_CLIP) {
        v = v < a->lo ? a->lo : v;
        return v > a->hi ? a->hi : v;
    }
    if (a->kind == QFD_ACT_LEAKY_RELU)
        return v < 0 ? a->alpha * v : v;
    return v;
}

/* y[i] = act(y[i] + (b ? *b : 0)) for i < n: the bias and activation epilogue
 * of one output plane. a may be NULL (no activation). */
void qfd_act_apply(const qfd_act *a, const float *b, float *y, int64_t n);

/* y[i] = act(y[i] + z[i]) for i < n: FusedConv's sum input Z (a residual
 * branch) and activation in one pass. a may be NULL. */
void qfd_act_apply_sum(const qfd_act *a, const float *z, float *y, int64_t n);

#endif
