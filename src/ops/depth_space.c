/* DepthToSpace (opsets 1-21; mode from 11) and SpaceToDepth (opsets 1-21),
 * on [N, C, H, W] with blocksize b:
 *   DepthToSpace DCR (default): y[n, c, h*b + i, w*b + j] = x[n, (i*b + j)*C' + c, h, w]
 *   DepthToSpace CRD:           y[n, c, h*b + i, w*b + j] = x[n, (c*b + i)*b + j, h, w]
 *                               (C' = C / b^2 output channels; CRD is PixelShuffle)
 *   SpaceToDepth:               y[n, (i*b + j)*C + c, h, w] = x[n, c, h*b + i, w*b + j]
 * Any whole-byte element type, moved by bytes.
 * Backward: the same permutation read the other way, dx = P^T dy. */
#include <string.h>

#include "ops/op.h"

typedef struct ds_state {
    int to_space, crd;
    int64_t b;
} ds_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    ds_state *s = state;
    s->to_space = !strcmp(oc->node->op_type, "DepthToSpace");
    s->b = qfd_attr_int(oc->node, "blocksize", 0);
    const char *mode = qfd_attr_str(oc->node, "mode", "DCR");
    if (s->b < 1 || s->b > 65536)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "blocksize %lld must be positive", (long long)s->b);
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "mode '%s' is neither DCR nor CRD", mode);
    s->crd = s->to_space && !strcmp(mode, "CRD");
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    const ds_state *s = oc->state;
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (x->rank != 4)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input must be [N, C, H, W], got rank %d", x->rank);
    int64_t b = s->b, bb = b * b;
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x);
    if (s->to_space) {
        if (x->dims[1] % bb)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "channels %lld are not a multiple of blocksize^2 = %lld",
                               (long long)x->dims[1], (long long)bb);
        y->dims[1] = x->dims[1] / bb;
        y->dims[2] = x->dims[2] * b;
        y->dims[3] = x->dims[3] * b;
    } else {
        if (x->dims[2] % b || x->dims[3] % b)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "height %lld and width %lld must be multiples of blocksize %lld",
                               (long long)x->dims[2], (long long)x->dims[3], (long long)b);
        y->dims[1] = x->dims[1] * bb;
        y->dims[2] = x->dims[2] / b;
        y->dims[3] = x->dims[3] / b;
    }
    return QFD_OK;
}

/* Runs BODY with (dp, sp): element dp of the deep tensor [N, C*b*b, H, W]
 * and element sp of the spatial one [N, C, H*b, W*b] it maps to. */
#define DS_WALK(st, deep_dims, BODY)                                                                     \
    do {                                                                                                 \
        int64_t N_ = (deep_dims)[0], CD_ = (deep_dims)[1], H_ = (deep_dims)[2], W_ = (deep_dims)[3];     \
        int64_t b_ = (st)->b, C_ = CD_ / (b_ * b_);                                                      \
        for (int64_t n_ = 0; n_ < N_; n_++)                                                              \
            for (int64_t cd_ = 0; cd_ < CD_; cd_++) {                                                    \
                int64_t c_, i_, j_;                                                                      \
                if ((st)->crd) {                                                                         \
                    c_ = cd_ / (b_ * b_), i_ = cd_ / b_ % b_, j_ = cd_ % b_;                             \
                } else {                                                                                 \
                    i_ = cd_ / (b_ * C_), j_ = cd_ / C_ % b_, c_ = cd_ % C_;                             \
                }                                                                                        \
                for (int64_t h_ = 0; h_ < H_; h_++)                                                      \
                    for (int64_t w_ = 0; w_ < W_; w_++) {                                                \
                        int64_t dp = ((n_ * CD_ + cd_) * H_ + h_) * W_ + w_;                             \
                        int64_t sp = ((n_ * C_ + c_) * H_ * b_ + h_ * b_ + i_) * W_ * b_ + w_ * b_ + j_; \
                        BODY;                                                                            \
                    }                                                                                    \
            }                                                                                            \
    } while (0)

static qfd_status forward(qfd_op_ctx *oc)
{
    const ds_state *ds = oc->state;
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    if (ds->to_space)
        DS_WALK(ds, x->dims, memcpy(yd + (size_t)sp * es, xd + (size_t)dp * es, es));
    else
        DS_WALK(ds, y->dims, memcpy(yd + (size_t)dp * es, xd + (size_t)sp * es, es));
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const ds_state *ds = oc->state;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    if (ds->to_space)
        DS_WALK(ds, oc->in[0]->dims, dx[dp] += dy[sp]);
    else
        DS_WALK(ds, oc->out[0]->dims, dx[sp] += dy[dp]);
    return QFD_OK;
}

const qfd_op_def qfd_op_depth_to_space = {
    .name = "DepthToSpace",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .state_size = sizeof(ds_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward = backward,
};

const qfd_op_def qfd_op_space_to_depth = {
    .name = "SpaceToDepth",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .state_size = sizeof(ds_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
