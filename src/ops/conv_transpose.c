/* ConvTranspose (opsets 1-21), float32, any number of spatial axes: the
 * adjoint of Conv,
 *   Y[n, g*M/group + m, i*stride - pad + j*dil] += X[n, g*C/group + c, i] * W[g*C/group + c, m, j]
 * plus B[m]; W is [C x M/group x k...]. Output size per axis:
 *   stride*(in-1) + output_padding + (k-1)*dil + 1 - pad_begin - pad_end,
 * or output_shape, from which the pads follow (total = full - out, the odd
 * one at the end for SAME_UPPER, at the beginning otherwise); SAME_* without
 * output_shape means out = in * stride. Per batch item and group one sgemm
 * W_g^T [M/group*K x C/group] * X_g [C/group x P] into the workspace, then
 * col2im adds the columns into Y.
 * Backward, the adjoint of that: per batch item and group, with
 * dcol = im2col(dY_g) [M/group*K x P] in the workspace (the forward's size),
 *   dX_g += W_g [C/group x M/group*K] * dcol,   dW_g += X_g * dcol^T,
 *   dB[m] += sum over n and space of dY[n, m]. */
#include <stdint.h>
#include <string.h>

#include "ops/blas.h"
#include "ops/im2col.h"
#include "ops/op.h"

typedef struct convt_cfg {
    qfd_conv_geom g; /* image = Y's spatial axes, columns = X's */
    int64_t n, c, m, group, cg, mg;
    int direct; /* 1x1, stride 1, no padding: the sgemm writes Y itself */
} convt_cfg;

static int64_t floor_div2(int64_t v)
{
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

static qfd_status setup(const qfd_op_ctx *oc, convt_cfg *cf)
{
    const qfd_array *x = qfd_op_in(oc, 0), *w = qfd_op_in(oc, 1), *b = qfd_op_in(oc, 2);
    qfd_conv_attrs a;
    qfd_status st = qfd_conv_check_inputs(oc, &a);
    if (st)
        return st;
    int nsp = x->rank - 2;
    memset(cf, 0, sizeof *cf);
    cf->n = x->dims[0];
    cf->c = x->dims[1];
    cf->group = a.group;
    if (w->dims[0] != cf->c || cf->c % a.group)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X has %lld channels and W %lld, not divisible in %lld groups",
                           (long long)cf->c, (long long)w->dims[0], (long long)a.group);
    cf->cg = cf->c / a.group;
    cf->mg = w->dims[1];
    cf->m = cf->mg * a.group;
    if (b && (b->rank != 1 || b->dims[0] != cf->m))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "B must have shape [%lld]", (long long)cf->m);

    const int64_t *opad, *oshape;
    size_t n_opad = qfd_attr_ints(oc->node, "output_padding", &opad);
    size_t n_oshape = qfd_attr_ints(oc->node, "output_shape", &oshape);
    if (n_opad && n_opad != (size_t)nsp)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "output_padding has %zu values, expected %d", n_opad, nsp);
    /* output_shape may also carry the N and C dims; the spatial ones are last. */
    if (n_oshape && n_oshape != (size_t)nsp && n_oshape != (size_t)nsp + 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "output_shape has %zu values, expected %d", n_oshape, nsp);
    if (n_oshape)
        oshape += n_oshape - (size_t)nsp;

    qfd_conv_geom *g = &cf->g;
    g->nsp = nsp;
    cf->direct = 1;
    for (int i = 0; i < nsp; i++) {
        int64_t in = x->dims[2 + i], s = a.stride[i], op = n_opad ? opad[i] : 0;
        if (op < 0 || (op >= s && op >= a.dil[i]))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "output_padding[%d] = %lld is not below stride or dilation", i,
                               (long long)op);
        int64_t full = s * (in - 1) + op + (a.k[i] - 1) * a.dil[i] + 1, out, pb = a.pad_b[i], pe = a.pad_e[i];
        if (n_oshape || a.auto_pad == QFD_PAD_SAME_UPPER || a.auto_pad == QFD_PAD_SAME_LOWER) {
            out = n_oshape ? oshape[i] : in * s;
            if (out < 1 || out > INT32_MAX)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "output size %lld on axis %d is out of range", (long long)out,
                                   i);
            int64_t total = full - out;
            pb = a.auto_pad == QFD_PAD_SAME_UPPER ? floor_div2(total) : total - floor_div2(total);
            pe = total - pb;
        } else if (a.auto_pad == QFD_PAD_VALID) {
            pb = pe = 0;
        }
        out = full - pb - pe;
        if (out < 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "spatial axis %d: output size %lld", i, (long long)out);
        g->img[i] = out;
        g->col[i] = in;
        g->k[i] = a.k[i];
        g->stride[i] = s;
        g->dil[i] = a.dil[i];
        g->pad[i] = pb;
        cf->direct &= a.k[i] == 1 && s == 1 && pb == 0 && out == in;
    }
    qfd_conv_geom_finish(g);
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    convt_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_FLOAT;
    y->rank = cf.g.nsp + 2;
    y->dims[0] = cf.n;
    y->dims[1] = cf.m;
    for (int i = 0; i < cf.g.nsp; i++)
        y->dims[2 + i] = cf.g.img[i];
    return QFD_OK;
}

static size_t workspace(const qfd_op_ctx *oc)
{
    convt_cfg cf = {0};
    if (setup(oc, &cf) || cf.direct)
        return 0;
    return (size_t)(cf.mg * cf.g.k_size * cf.g.col_size) * sizeof(float);
}

static qfd_status forward(qfd_op_ctx *oc)
{
    convt_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    const qfd_array *bx = qfd_op_in(oc, 2);
    const float *x = oc->in[0]->data, *w = oc->in[1]->data, *b = bx ? bx->data : NULL;
    float *y = oc->out[0]->data;
    const qfd_conv_geom *g = &cf.g;
    const int64_t pin = g->col_size, pout = g->img_size, mk = cf.mg * g->k_size;
    float *col = oc->ws;
    for (int64_t n = 0; n < cf.n; n++)
        for (int64_t gi = 0; gi < cf.group; gi++) {
            const float *xg = x + (n * cf.c + gi * cf.cg) * pin, *wg = w + gi * cf.cg * mk;
            float *yg = y + (n * cf.m + gi * cf.mg) * pout;
            for (int64_t m = 0; m < cf.mg; m++) {
                float v = b ? b[gi * cf.mg + m] : 0.0f;
                for (int64_t o = 0; o < pout; o++)
                    yg[m * pout + o] = v;
            }
            if (cf.direct) {
                qfd_sgemm(true, false, cf.mg, pin, cf.cg, 1.0f, wg, mk, xg, pin, 1.0f, yg, pout);
                continue;
            }
            qfd_sgemm(true, false, mk, pin, cf.cg, 1.0f, wg, mk, xg, pin, 0.0f, col, pin);
            qfd_col2im(col, cf.mg, g, yg, oc->n_threads);
        }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    convt_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    const qfd_conv_geom *g = &cf.g;
    const int64_t pin = g->col_size, pout = g->img_size, mk = cf.mg * g->k_size;
    const float *x = oc->in[0]->data, *w = oc->in[1]->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL, *dw = oc->gin[1] ? oc->gin[1]->data : NULL;
    float *db = oc->n_in > 2 && oc->gin[2] ? oc->gin[2]->data : NULL;
    if (db) {
        const int64_t nn = cf.n, mm = cf.m;
        (void)nn;
#pragma omp parallel for num_threads(oc->n_threads) if (cf.n * cf.m * pout > 65536)
        for (int64_t m = 0; m < mm; m++) {
            float acc = 0.0f;
            for (int64_t n = 0; n < nn; n++) {
                const float *r = dy + (n * mm + m) * pout;
#pragma omp simd reduction(+ : acc)
                for (int64_t o = 0; o < pout; o++)
                    acc += r[o];
            }
            db[m] += acc;
        }
    }
    if (!dx && !dw)
        return QFD_OK;
    float *col = oc->ws;
    for (int64_t n = 0; n < cf.n; n++)
        for (int64_t gi = 0; gi < cf.group; gi++) {
            const float *xg = x + (n * cf.c + gi * cf.cg) * pin, *wg = w + gi * cf.cg * mk;
            const float *dyg = dy + (n * cf.m + gi * cf.mg) * pout;
            /* dcol [M/group*K x P_in]: dY_g read through the forward's taps */
            const float *dcol = dyg;
            int64_t kdim = cf.mg;
            if (!cf.direct) {
                qfd_im2col(dyg, cf.mg, g, col, oc->n_threads);
                dcol = col;
                kdim = mk;
            }
            if (dx)
                qfd_sgemm(false, false, cf.cg, pin, kdim, 1.0f, wg, mk, dcol, pin, 1.0f,
                          dx + (n * cf.c + gi * cf.cg) * pin, pin);
            if (dw)
                qfd_sgemm(false, true, cf.cg, kdim, pin, 1.0f, xg, pin, dcol, pin, 1.0f, dw + gi * cf.cg * mk, mk);
        }
    return QFD_OK;
}

/* Every input pixel of every channel scatters into M/group x K outputs;
 * each gradient (dX, dW) is a product the size of forward's. */
static double macs(const qfd_op_ctx *oc, bool backward)
{
    convt_cfg cf = {0};
    if (setup(oc, &cf))
        return 0.0;
    double one = (double)cf.n * (double)cf.c * (double)cf.g.col_size * (double)cf.mg * (double)cf.g.k_size;
    return backward ? one * ((oc->gin[0] != NULL) + (oc->gin[1] != NULL)) : one;
}

const qfd_op_def qfd_op_conv_transpose = {
    .name = "ConvTranspose",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_WEIGHT, QFD_ROLE_BIAS},
    .infer = infer,
    .workspace = workspace,
    .forward = forward,
    .backward = backward,
    .macs = macs,
};
