/* Conv (opsets 1-21), float32, any number of spatial axes:
 *   Y[n, m, o] = B[m] + sum_{c, j} W[m, c, j] * X[n, g*C/group + c, o*stride - pad + j*dil]
 * with g = m / (M/group) and out-of-image taps reading 0. auto_pad SAME_*
 * gives out = ceil(in / stride) with the odd pad at the end (UPPER) or the
 * beginning (LOWER); VALID means no padding.
 * 2-D convs run a direct AVX-512 kernel where the CPU has it
 * (src/ops/conv_fast.c), group after group (each a group-1 conv on its
 * channels), with W in the kernel's layout packed once per plan when W is
 * constant; with fewer images than threads the threads split each image's
 * output channels. Otherwise, per chunk of batch items (one group;
 * im2col of the chunk side by side, bias as an extra row of ones) or per
 * batch item and group: im2col into the workspace, then one sgemm per item
 * W_g [M/group x C/group*K] * col [C/group*K x P]. A 1x1 conv with stride 1
 * and no padding multiplies X directly; depthwise 2-D convs (one input
 * channel per group) run direct kernels, cheaper than a K-deep sgemm
 * (src/ops/conv_depthwise.c).
 * Backward, per batch item and group (col = im2col(X_g)):
 *   dW_g += dY_g [M/group x P] * col^T            (sgemm, beta 1)
 *   dX_g += col2im(W_g^T * dY_g)                   (sgemm into the workspace)
 *   dB[m] += sum over n and space of dY[n, m]
 * skipping im2col/col2im for 1x1 convs and each product whose input needs no
 * gradient (a graph input X: no dX). The depthwise path runs a direct loop
 * over (batch chunk, channel), each chunk adding into its own partial dW;
 * with stride 1 and same-width rows each tap is one long dot product (dW) and
 * axpy (dX) over the whole plane, corrected at the row edges. */
#include <omp.h>
#include <string.h>

#include "ops/binary.h"
#include "ops/blas.h"
#include "ops/conv_depthwise.h"
#include "ops/im2col.h"
#include "ops/op.h"
#include "ops/simd.h"

/* Widest kernel the direct depthwise loops take (their per-column tables). */
#define DW_MAX_KW QFD_CONV_DW_MAX_KW

typedef struct conv_cfg {
    qfd_conv_geom g;
    int64_t n, c, m, group, cg, mg;
    int pointwise, depthwise, direct;
} conv_cfg;

static qfd_status setup(const qfd_op_ctx *oc, conv_cfg *cf)
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
    cf->m = w->dims[0];
    cf->group = a.group;
    if (cf->c % a.group || cf->m % a.group || w->dims[1] != cf->c / a.group)
        return qfd_op_fail(oc, QFD_ERR_INVALID,
                           "X has %lld channels and W is %lld x %lld, not divisible in %lld groups", (long long)cf->c,
                           (long long)cf->m, (long long)w->dims[1], (long long)a.group);
    cf->cg = cf->c / a.group;
    cf->mg = cf->m / a.group;
    if (b && (b->rank != 1 || b->dims[0] != cf->m))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "B must have shape [%lld]", (long long)cf->m);
    qfd_conv_geom *g = &cf->g;
    g->nsp = nsp;
    cf->pointwise = 1;
    for (int i = 0; i < nsp; i++) {
        int64_t in = x->dims[2 + i], s = a.stride[i], dk = (a.k[i] - 1) * a.dil[i] + 1, out, pb = a.pad_b[i],
                pe = a.pad_e[i];
        if (a.auto_pad == QFD_PAD_SAME_UPPER || a.auto_pad == QFD_PAD_SAME_LOWER) {
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + dk - in;
            total = total < 0 ? 0 : total;
            pb = a.auto_pad == QFD_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else if (a.auto_pad == QFD_PAD_VALID) {
            pb = pe = 0;
        }
        if (in + pb + pe < dk)
            return qfd_op_fail(oc, QFD_ERR_INVALID,
                               "spatial axis %d: padded input %lld is smaller than the kernel %lld", i,
                               (long long)(in + pb + pe), (long long)dk);
        out = (in + pb + pe - dk) / s + 1;
        g->img[i] = in;
        g->col[i] = out;
        g->k[i] = a.k[i];
        g->stride[i] = s;
        g->dil[i] = a.dil[i];
        g->pad[i] = pb;
        cf->pointwise &= a.k[i] == 1 && s == 1 && pb == 0 && pe == 0;
    }
    qfd_conv_geom_finish(g);
    cf->depthwise = !cf->pointwise && nsp == 2 && cf->cg == 1 && a.group > 1 && a.k[1] <= DW_MAX_KW;
    /* groups run one after the other, each a group-1 conv on its channels */
    cf->direct = !cf->pointwise && !cf->depthwise && qfd_conv_direct_ok(g, cf->mg, 1);
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_FLOAT;
    y->rank = cf.g.nsp + 2;
    y->dims[0] = cf.n;
    y->dims[1] = cf.m;
    for (int i = 0; i < cf.g.nsp; i++)
        y->dims[2 + i] = cf.g.col[i];
    return QFD_OK;
}

/* Forward im2col buffer the batch chunk aims at: columns of several images
 * side by side make one wide sgemm (weights packed once per chunk, wide N
 * for 7x7 planes) while the buffer still fits in a core's L2. */
#define CONV_COL_TARGET (1024 * 1024)

/* Images per forward sgemm; 1 keeps the per-image loop (groups, 1x1). */
static int64_t batch_chunk(const conv_cfg *cf)
{
    if (cf->pointwise || cf->depthwise || cf->group != 1 || cf->n < 2)
        return 1;
    int64_t per = cf->cg * cf->g.k_size * cf->g.col_size * (int64_t)sizeof(float);
    int64_t b = per > 0 ? CONV_COL_TARGET / per : cf->n;
    return b < 1 ? 1 : (b > cf->n ? cf->n : b);
}

/* Forward workspace, in floats: im2col columns [C/group*K, B*P], with
 * B > 1 their row of ones and W with the bias column, then the padded input
 * planes. */
static size_t forward_floats(const conv_cfg *cf, int64_t bc)
{
    if (cf->pointwise)
        return 0;
    size_t n = (size_t)(cf->cg * cf->g.k_size * cf->g.col_size * bc);
    if (bc > 1) /* a row of ones under col, W with the bias column */
        n += (size_t)(cf->g.col_size * bc + cf->m * (cf->cg * cf->g.k_size + 1));
    return n + qfd_im2col_batch_scratch(&cf->g, cf->cg, bc);
}

/* Images of the direct and the per-image sgemm paths run in parallel, each
 * thread on its own slice of the workspace. */
static int64_t direct_slots(const qfd_op_ctx *oc, const conv_cfg *cf)
{
    int64_t t = oc->n_threads > 1 ? oc->n_threads : 1;
    return t < cf->n ? t : (cf->n > 0 ? cf->n : 1);
}

/* The direct kernel's weights, group after group, each in its layout. */
static size_t direct_wt_floats(const conv_cfg *cf)
{
    return (size_t)cf->group * qfd_conv_direct_wt_floats(&cf->g, cf->cg, cf->mg);
}

static void direct_prepare(const conv_cfg *cf, const float *w, float *wt)
{
    const int64_t per = (int64_t)qfd_conv_direct_wt_floats(&cf->g, cf->cg, cf->mg), wg = cf->mg * cf->cg * cf->g.k_size;
    for (int64_t gi = 0; gi < cf->group; gi++)
        qfd_conv_direct_prepare(&cf->g, cf->cg, w + gi * wg, cf->mg, wt + gi * per);
}

/* Output channels [m_lo, m_hi) of group gi of image n (padded: its padded
 * planes, all groups'), m_lo and m_hi counted inside the group. */
static void direct_group(const conv_cfg *cf, const float *padded, int64_t n, int64_t gi, int64_t m_lo, int64_t m_hi,
                         const float *w, const float *wt, const float *b, float *y, const float *next)
{
    const qfd_conv_geom *g = &cf->g;
    const int64_t per = (int64_t)qfd_conv_direct_wt_floats(g, cf->cg, cf->mg);
    qfd_conv_direct_part(g, padded + gi * cf->cg * qfd_conv_direct_plane_floats(g), cf->cg,
                         w + gi * cf->mg * cf->cg * g->k_size, wt + gi * per, b ? b + gi * cf->mg : NULL, cf->mg, m_lo,
                         m_hi, y + (n * cf->m + gi * cf->mg) * g->col_size, next, 0);
}

static size_t workspace(const qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    if (setup(oc, &cf) || cf.pointwise)
        return 0;
    if (cf.depthwise)
        return qfd_conv_dw_floats(&cf.g, cf.n, cf.m, oc->n_threads, qfd_conv_dw_simd_ok(&cf.g)) * sizeof(float);
    if (cf.direct)
        return ((size_t)direct_slots(oc, &cf) * qfd_conv_direct_floats(&cf.g, cf.c, cf.m) + direct_wt_floats(&cf)) *
               sizeof(float);
    const int64_t bc = batch_chunk(&cf);
    return forward_floats(&cf, bc) * (size_t)(bc > 1 ? 1 : direct_slots(oc, &cf)) * sizeof(float);
}

/* Chunks of bc images (one group): im2col side by side into col [K, bc*P]
 * (one pass over the chunk's planes, whose padded copies stay in cache),
 * then one sgemm per image straight into its NCHW output, with beta 0: the
 * bias rides along as an extra K row of ones in col times a column of B
 * next to W (a copy of W with that column, in the workspace). */
static void batched_forward(const qfd_op_ctx *oc, const conv_cfg *cf, int64_t bc, const float *x, const float *w,
                            const float *b, const qfd_act *act, float *y)
{
    const qfd_conv_geom *g = &cf->g;
    const int64_t p = g->col_size, m_n = cf->m, ximg = cf->c * g->img_size, kk = cf->cg * g->k_size;
    const int64_t kb = kk + (b != NULL); /* K of the sgemm */
    float *col = oc->ws, *wb = col + (kk + 1) * p * bc, *scratch = wb + m_n * (kk + 1);
    const float *wa = w;
    if (b) {
        for (int64_t m = 0; m < m_n; m++) {
            memcpy(wb + m * kb, w + m * kk, (size_t)kk * sizeof *wb);
            wb[m * kb + kk] = b[m];
        }
        wa = wb;
    }
    for (int64_t n0 = 0; n0 < cf->n; n0 += bc) {
        const int64_t nb = cf->n - n0 < bc ? cf->n - n0 : bc, ld = nb * p;
        qfd_im2col_batch(x + n0 * ximg, nb, ximg, cf->cg, g, col, ld, scratch, oc->n_threads);
        if (b)
            for (int64_t o = 0; o < ld; o++)
                col[kk * ld + o] = 1.0f;
        for (int64_t i = 0; i < nb; i++) {
            float *yi = y + (n0 + i) * m_n * p;
            qfd_sgemm(false, false, m_n, p, kb, 1.0f, wa, kb, col + i * p, ld, 0.0f, yi, p);
            if (act)
                qfd_act_apply(act, NULL, yi, m_n * p);
        }
    }
}

/* Image n, group by group: im2col into cs (unless 1x1), one sgemm, then
 * bias and activation while the image's output is in cache. */
static void image_forward(const conv_cfg *cf, int64_t n, const float *x, const float *w, const float *b,
                          const qfd_act *act, float *y, float *cs, int threads)
{
    const qfd_conv_geom *g = &cf->g;
    const int64_t p = g->col_size, kk = cf->cg * g->k_size;
    for (int64_t gi = 0; gi < cf->group; gi++) {
        const float *xg = x + (n * cf->c + gi * cf->cg) * g->img_size;
        float *yg = y + (n * cf->m + gi * cf->mg) * p;
        const float *src = xg;
        if (!cf->pointwise) {
            qfd_im2col_batch(xg, 1, 0, cf->cg, g, cs, p, cs + kk * p, threads);
            src = cs;
        }
        qfd_sgemm(false, false, cf->mg, p, kk, 1.0f, w + gi * cf->mg * kk, kk, src, p, 0.0f, yg, p);
        for (int64_t m = 0; (b || act) && m < cf->mg; m++)
            qfd_act_apply(act, b ? b + gi * cf->mg + m : NULL, yg + m * p, p);
    }
}

static qfd_status forward_paths(const qfd_op_ctx *oc, const conv_cfg *pcf, const float *x, const float *w,
                                const float *b, const qfd_act *act, const float *z, float *y);

/* FusedConv's sum: y = act(c + z), c the conv's result and z = Z, both
 * broadcast to Y (numpy rules, as the Add it replaces); adv bit 0: c
 * advances per element, bit 1: z does. */
static void k_sum_act(void *y, const void *c, const void *z, const void *unused, int64_t n, unsigned adv,
                      const void *param)
{
    (void)unused;
    const qfd_act *act = param;
    float *o = y;
    const float *p = c, *q = z;
    if (adv == 3 && p == o) {
        qfd_act_apply_sum(act, q, o, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const float v = p[adv & 1u ? i : 0] + q[adv & 2u ? i : 0];
        o[i] = qfd_act_one(act, v);
    }
}

/* The conv's own output array: X's batch, W's channels, the column grid. */
static qfd_array conv_result(const qfd_op_ctx *oc, const conv_cfg *cf, float *data)
{
    qfd_array c = *oc->out[0];
    c.rank = cf->g.nsp + 2;
    c.dims[0] = cf->n;
    c.dims[1] = cf->m;
    for (int i = 0; i < cf->g.nsp; i++)
        c.dims[2 + i] = cf->g.col[i];
    c.data = data;
    c.nbytes = (size_t)qfd_array_numel(&c) * sizeof(float);
    return c;
}

/* FusedConv with Z: the conv's kernels' workspace, then (when Y is larger
 * than the conv's result, which Z broadcasts) that result. */
static size_t conv_ws_bytes(const qfd_op_ctx *oc)
{
    return (workspace(oc) + 63) & ~(size_t)63;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    const qfd_array *bx = qfd_op_in(oc, 2);
    const float *x = oc->in[0]->data, *w = oc->in[1]->data, *b = bx ? bx->data : NULL;
    float *y = oc->out[0]->data;
    /* FusedConv's activation (state), and its sum input Z: added per image
     * with the activation on the direct path when Z has Y's shape, else
     * after the conv, the paths then applying no activation themselves */
    const qfd_act *act = oc->state; /* NULL for Conv */
    const qfd_array *za = act ? qfd_op_in(oc, 3) : NULL;
    if (!za)
        return forward_paths(oc, &cf, x, w, b, act, NULL, y);
    const int64_t yn = qfd_array_numel(oc->out[0]);
    qfd_array c = conv_result(oc, &cf, y);
    const bool same = qfd_array_numel(&c) == yn;
    if (same && cf.direct && qfd_array_numel(za) == yn)
        return forward_paths(oc, &cf, x, w, b, act, za->data, y);
    if (!same) /* Y is Z's shape: the conv's result goes to the workspace */
        c.data = (char *)oc->ws + conv_ws_bytes(oc);
    if ((st = forward_paths(oc, &cf, x, w, b, NULL, NULL, c.data)))
        return st;
    qfd_bcast_run(oc, oc->out[0], 2, (const qfd_array *[]){&c, za}, k_sum_act, act);
    return QFD_OK;
}

/* The epilogue of output channels [m_lo, m_hi) of image n: Z added, then
 * the activation, while those channels are still in cache. */
static void direct_epilogue(const conv_cfg *cf, int64_t n, int64_t m_lo, int64_t m_hi, const qfd_act *act,
                            const float *z, float *y)
{
    const int64_t p = cf->g.col_size, off = (n * cf->m + m_lo) * p, len = (m_hi - m_lo) * p;
    if (z)
        qfd_act_apply_sum(act, z + off, y + off, len);
    else if (act)
        qfd_act_apply(act, NULL, y + off, len);
}

/* Images are handed out one at a time, each thread padding into its own
 * slice: a thread the OS holds back (other processes on the cores) leaves
 * its share to the others instead of keeping them at the barrier. An
 * image's result does not depend on its thread. */
static void direct_per_image(const qfd_op_ctx *oc, const conv_cfg *cf, int64_t slots, const float *x, const float *w,
                             const float *wt, const float *b, const qfd_act *act, const float *z, float *y)
{
    const qfd_conv_geom *g = &cf->g;
    const size_t sf = qfd_conv_direct_floats(g, cf->c, cf->m);
    float *col = oc->ws;
#pragma omp parallel num_threads((int)slots) if (slots > 1)
    {
        float *scratch = col + (size_t)omp_get_thread_num() * sf;
#pragma omp for schedule(dynamic, 1)
        for (int64_t n = 0; n < cf->n; n++) {
            const float *xn = x + n * cf->c * g->img_size, *next = n + 1 < cf->n ? xn + cf->c * g->img_size : NULL;
            qfd_conv_direct_pad(g, xn, cf->c, scratch);
            for (int64_t gi = 0; gi < cf->group; gi++)
                direct_group(cf, scratch, n, gi, 0, cf->mg, w, wt, b, y, gi + 1 == cf->group ? next : NULL);
            direct_epilogue(cf, n, 0, cf->m, act, z, y);
        }
    }
}

/* Fewer images than threads (batch 1): the threads share each image, one
 * padded copy of it, and split its output channels in units the kernel
 * takes, handed out one at a time for the same reason as above. */
static void direct_split_channels(const qfd_op_ctx *oc, const conv_cfg *cf, const float *x, const float *w,
                                  const float *wt, const float *b, const qfd_act *act, const float *z, float *y)
{
    const qfd_conv_geom *g = &cf->g;
    const int64_t unit = qfd_conv_direct_m_unit(g, cf->mg), per_group = (cf->mg + unit - 1) / unit;
    const int64_t parts = per_group * cf->group;
    const int threads = (int)(parts < oc->n_threads ? parts : oc->n_threads);
    float *padded = oc->ws;
    for (int64_t n = 0; n < cf->n; n++) {
        qfd_conv_direct_pad(g, x + n * cf->c * g->img_size, cf->c, padded);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(dynamic, 1)
        for (int64_t part = 0; part < parts; part++) {
            const int64_t gi = part / per_group, m_lo = part % per_group * unit;
            const int64_t m_hi = m_lo + unit < cf->mg ? m_lo + unit : cf->mg;
            direct_group(cf, padded, n, gi, m_lo, m_hi, w, wt, b, y, NULL);
            direct_epilogue(cf, n, gi * cf->mg + m_lo, gi * cf->mg + m_hi, act, z, y);
        }
    }
}

/* The conv on one of its kernels, with the activation act (or NULL) applied
 * as each output block is written, and z (or NULL, Y's shape, direct path
 * only) added before it. */
static qfd_status forward_paths(const qfd_op_ctx *oc, const conv_cfg *pcf, const float *x, const float *w,
                                const float *b, const qfd_act *act, const float *z, float *y)
{
    const conv_cfg cf = *pcf;
    const qfd_conv_geom *g = &cf.g;
    if (cf.depthwise) {
        qfd_conv_dw_forward(g, cf.n, cf.c, cf.m, x, w, b, act, y, oc->ws, oc->n_threads, qfd_conv_dw_simd_ok(g));
        return QFD_OK;
    }
    const int64_t bc = batch_chunk(&cf);
    float *col = oc->ws;
    if (cf.direct) {
        const int64_t slots = direct_slots(oc, &cf);
        const size_t sf = qfd_conv_direct_floats(g, cf.c, cf.m);
        const float *wt = oc->packed;
        if (!wt) {
            float *own = col + slots * sf;
            direct_prepare(&cf, w, own);
            wt = own;
        }
        if (cf.n < oc->n_threads)
            direct_split_channels(oc, &cf, x, w, wt, b, act, z, y);
        else
            direct_per_image(oc, &cf, slots, x, w, wt, b, act, z, y);
        return QFD_OK;
    }
    if (bc > 1) {
        batched_forward(oc, &cf, bc, x, w, b, act, y);
        return QFD_OK;
    }
    /* Threads split the batch: one image's product (a MobileNet 1x1 conv:
     * 16-384 channels, 49-784 pixels) is too small for OpenBLAS to split
     * well, its threads mostly wait. Inside the parallel region OpenBLAS's
     * OpenMP build runs each product on one thread. Images are handed out
     * one at a time as on the direct path, each thread with its own im2col
     * slice (a 1x1 conv needs none). */
    const int64_t slots = direct_slots(oc, &cf);
    const size_t sf = cf.pointwise ? 0 : forward_floats(&cf, 1);
#pragma omp parallel num_threads((int)slots) if (slots > 1)
    {
        float *cs = cf.pointwise ? NULL : col + (size_t)omp_get_thread_num() * sf;
#pragma omp for schedule(dynamic, 1)
        for (int64_t n = 0; n < cf.n; n++)
            image_forward(&cf, n, x, w, b, act, y, cs, slots > 1 ? 1 : oc->n_threads);
    }
    return QFD_OK;
}

/* Row accumulators of the depthwise dW (kernel taps x output columns): on
 * the stack of each task, so that dW's sums vectorise along the row instead
 * of reducing every short row to one float. */
#define DW_ACC_MAX 4096

/* With stride 1 and as many output as input columns, tap (kh, kw) reads X at
 * a constant offset d from the flat output index f = oh * W + o: its dW term
 * is one long dot product over the plane, and its dX term one long axpy,
 * instead of one per short row. The flat range starts and ends inside the
 * image; in between it also crosses row edges, where it pairs dY with the
 * neighbouring row's X instead of the padding: those few products are taken
 * back out. */
static int dw_flat(const qfd_conv_geom *g)
{
    return g->stride[0] == 1 && g->stride[1] == 1 && g->img[1] == g->col[1];
}

QFD_SIMD_CLONES
static void dw_plane_flat(const qfd_conv_geom *g, const float *xp, const float *wp, const float *gp, float *dx,
                          float *dw)
{
    const int64_t ih_n = g->img[0], w_n = g->col[1], oh_n = g->col[0], kh_n = g->k[0], kw_n = g->k[1];
    for (int64_t kh = 0; kh < kh_n; kh++) {
        const int64_t sv = kh * g->dil[0] - g->pad[0];
        int64_t rl, rh;
        qfd_conv_tap_range(ih_n, 1, sv, oh_n, &rl, &rh);
        for (int64_t kw = 0; kw < kw_n; kw++) {
            const int64_t s = kw * g->dil[1] - g->pad[1], d = sv * w_n + s;
            int64_t lo, hi;
            qfd_conv_tap_range(w_n, 1, s, w_n, &lo, &hi);
            if (rh <= rl || hi <= lo)
                continue;
            const int64_t f0 = rl * w_n + lo, f1 = (rh - 1) * w_n + hi;
            if (dw) {
                float sum = 0.0f, out = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int64_t f = f0; f < f1; f++)
                    sum += gp[f] * xp[f + d];
                for (int64_t oh = rl; oh < rh; oh++) {
                    const int64_t r = oh * w_n;
                    if (oh > rl)
                        for (int64_t o = 0; o < lo; o++)
                            out += gp[r + o] * xp[r + o + d];
                    if (oh < rh - 1)
                        for (int64_t o = hi; o < w_n; o++)
                            out += gp[r + o] * xp[r + o + d];
                }
                dw[kh * kw_n + kw] += sum - out;
            }
            if (dx) {
                const float wv = wp[kh * kw_n + kw];
                for (int64_t f = f0; f < f1; f++)
                    dx[f + d] += wv * gp[f];
                for (int64_t oh = rl; oh < rh; oh++) {
                    const int64_t r = oh * w_n;
                    if (oh > rl)
                        for (int64_t o = 0; o < lo; o++)
                            dx[r + o + d] -= wv * gp[r + o];
                    if (oh < rh - 1)
                        for (int64_t o = hi; o < w_n; o++)
                            dx[r + o + d] -= wv * gp[r + o];
                }
            }
        }
    }
}

/* Backward of one depthwise plane pair: gp = dY plane of output channel m,
 * xp = X plane of its input channel. dx (when non-NULL) += the taps of gp
 * through wp; dW: with the flat layout dw[tap] += the sums directly, else
 * acc[tap][o] (when non-NULL) += gp[., o] * the tap's X value, else
 * dw[tap] (when non-NULL) += their sum row by row. */
QFD_SIMD_CLONES
static void dw_plane_backward(const qfd_conv_geom *g, const float *xp, const float *wp, const float *gp, float *dx,
                              float *dw, float *acc)
{
    if (dw_flat(g)) {
        dw_plane_flat(g, xp, wp, gp, dx, dw);
        return;
    }
    const int64_t ih_n = g->img[0], iw_n = g->img[1], oh_n = g->col[0], ow_n = g->col[1];
    const int64_t kh_n = g->k[0], kw_n = g->k[1], sh = g->stride[0], sw = g->stride[1];
    int64_t lo[DW_MAX_KW], hi[DW_MAX_KW], sft[DW_MAX_KW];
    for (int64_t kw = 0; kw < kw_n; kw++) {
        sft[kw] = kw * g->dil[1] - g->pad[1];
        qfd_conv_tap_range(iw_n, sw, sft[kw], ow_n, &lo[kw], &hi[kw]);
    }
    for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *gr = gp + oh * ow_n;
        for (int64_t kh = 0; kh < kh_n; kh++) {
            int64_t ih = oh * sh - g->pad[0] + kh * g->dil[0];
            if (ih < 0 || ih >= ih_n)
                continue;
            const float *xr = xp + ih * iw_n;
            float *dxr = dx ? dx + ih * iw_n : NULL;
            const float *wr = wp + kh * kw_n;
            for (int64_t kw = 0; kw < kw_n; kw++) {
                const int64_t shift = sft[kw], l = lo[kw], h = hi[kw];
                if (acc) {
                    float *ar = acc + (kh * kw_n + kw) * ow_n;
                    if (sw == 1)
                        for (int64_t o = l; o < h; o++)
                            ar[o] += gr[o] * xr[o + shift];
                    else
                        for (int64_t o = l; o < h; o++)
                            ar[o] += gr[o] * xr[o * sw + shift];
                } else if (dw) {
                    float sum = 0.0f;
                    for (int64_t o = l; o < h; o++)
                        sum += gr[o] * xr[o * sw + shift];
                    dw[kh * kw_n + kw] += sum;
                }
                if (dxr) {
                    const float wv = wr[kw];
                    if (sw == 1)
                        for (int64_t o = l; o < h; o++)
                            dxr[o + shift] += wv * gr[o];
                    else
                        for (int64_t o = l; o < h; o++)
                            dxr[o * sw + shift] += wv * gr[o];
                }
            }
        }
    }
}

/* Batch chunks of the depthwise backward: each keeps its own partial dW (in
 * the workspace) so that (chunk, channel) tasks never share an output. */
static int64_t dw_chunks(const qfd_op_ctx *oc, const conv_cfg *cf)
{
    int64_t t = oc->n_threads > 1 ? oc->n_threads : 1;
    return t < cf->n ? t : (cf->n > 0 ? cf->n : 1);
}

static void depthwise_backward(const qfd_op_ctx *oc, const conv_cfg *cf, const float *x, const float *w,
                               const float *dy, float *dx, float *dw)
{
    const qfd_conv_geom *g = &cf->g;
    const int64_t chunks = dw_chunks(oc, cf), per = (cf->n + chunks - 1) / chunks, mk = cf->m * g->k_size;
    const int64_t nacc = g->k_size * g->col[1];
    /* One chunk writes dW directly; more keep partials to add at the end. */
    float *part = dw && chunks > 1 ? oc->ws : NULL;
    if (part)
        memset(part, 0, (size_t)(chunks * mk) * sizeof *part);
    (void)oc; /* read by the OpenMP clause only */
#pragma omp parallel for num_threads(oc->n_threads) \
    schedule(dynamic) if (cf->n * cf->m * g->col_size * g->k_size > 65536)
    for (int64_t t = 0; t < chunks * cf->c; t++) {
        /* A task owns the dX planes of input channel c in its batch chunk,
         * and the chunk's partial dW of the outputs m reading c. */
        const int64_t ch = t / cf->c, c = t % cf->c;
        float acc[DW_ACC_MAX];
        for (int64_t m = c * cf->mg; m < (c + 1) * cf->mg; m++) {
            float *dwm = dw ? (part ? part + ch * mk : dw) + m * g->k_size : NULL;
            float *ap = dwm && !dw_flat(g) && nacc <= DW_ACC_MAX ? acc : NULL;
            if (ap)
                memset(ap, 0, (size_t)nacc * sizeof *ap);
            for (int64_t n = ch * per; n < (ch + 1) * per && n < cf->n; n++)
                dw_plane_backward(g, x + (n * cf->c + c) * g->img_size, w + m * g->k_size,
                                  dy + (n * cf->m + m) * g->col_size, dx ? dx + (n * cf->c + c) * g->img_size : NULL,
                                  dwm, ap);
            for (int64_t j = 0; ap && j < g->k_size; j++) {
                float sum = 0.0f;
                for (int64_t o = 0; o < g->col[1]; o++)
                    sum += ap[j * g->col[1] + o];
                dwm[j] += sum;
            }
        }
    }
    for (int64_t ch = 0; part && ch < chunks; ch++)
        for (int64_t i = 0; i < mk; i++)
            dw[i] += part[ch * mk + i];
}

/* Backward splits the batch over threads: per-image products are too small
 * for OpenBLAS to split well (its threads mostly waited). Each thread has
 * its own im2col buffer and dW partial, added up in thread order at the
 * end, so results depend only on the thread count. */
static int64_t backward_slots(const qfd_op_ctx *oc, const conv_cfg *cf)
{
    return oc->n_threads > 1 && cf->n >= oc->n_threads ? oc->n_threads : 1;
}

/* dX of a stride-1 group-1 conv through the direct kernel, as the conv
 * gt over dY (qfd_conv_adjoint_geom): no K-times-larger column matrix
 * written by sgemm and scattered back by col2im. */
static int adjoint_direct(const qfd_op_ctx *oc, const conv_cfg *cf, qfd_conv_geom *gt)
{
    return oc->gin[0] && cf->group == 1 && !cf->pointwise && !cf->depthwise && qfd_conv_adjoint_geom(&cf->g, gt) &&
           qfd_conv_direct_ok(gt, cf->c, 1);
}

/* Backward workspace in floats, per slot (thread): the im2col columns
 * (where dW or dX still go through sgemm), a dW partial (more than one
 * slot, or dW transposed from the direct kernel), the direct dW kernel's
 * scratch, the adjoint conv's padded planes; after the slots, the adjoint
 * weights in both of the direct kernel's layouts. */
typedef struct bwd_layout {
    int adj, dwd; /* dX by the adjoint conv, dW by the direct kernel */
    qfd_conv_geom gt;
    int64_t slots, colf, dwf, partf, dwsf, adjf, slot_f, waf, wtf;
} bwd_layout;

static bwd_layout bwd_layout_of(const qfd_op_ctx *oc, const conv_cfg *cf)
{
    bwd_layout l = {0};
    const int want_dx = oc->gin[0] != NULL, want_dw = oc->gin[1] != NULL;
    l.adj = adjoint_direct(oc, cf, &l.gt);
    l.dwd = want_dw && !cf->pointwise && !cf->depthwise && qfd_conv_direct_dw_ok(&cf->g, cf->m, cf->group);
    l.slots = backward_slots(oc, cf);
    const int need_col = !cf->pointwise && ((want_dw && !l.dwd) || (want_dx && !l.adj));
    l.colf = need_col ? cf->cg * cf->g.k_size * cf->g.col_size : 0;
    l.dwf = cf->m * cf->cg * cf->g.k_size;
    l.partf = want_dw && (l.slots > 1 || l.dwd) ? l.dwf : 0;
    l.dwsf = l.dwd ? (int64_t)qfd_conv_direct_dw_floats(&cf->g, cf->c, cf->m) : 0;
    l.adjf = l.adj ? (int64_t)qfd_conv_direct_floats(&l.gt, cf->m, cf->c) : 0;
    l.slot_f = l.colf + l.partf + l.dwsf + l.adjf;
    l.waf = l.adj ? l.dwf : 0;
    l.wtf = l.adj ? (int64_t)qfd_conv_direct_wt_floats(&l.gt, cf->m, cf->c) : 0;
    return l;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    if (setup(oc, &cf))
        return 0;
    if (cf.depthwise) {
        if (!oc->gin[1] || dw_chunks(oc, &cf) < 2)
            return 0;
        return (size_t)(dw_chunks(oc, &cf) * cf.m * cf.g.k_size) * sizeof(float);
    }
    bwd_layout l = bwd_layout_of(oc, &cf);
    return (size_t)(l.slots * l.slot_f + l.waf + l.wtf) * sizeof(float);
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gout[0])
        return QFD_OK;
    conv_cfg cf = {0};
    qfd_status st = setup(oc, &cf);
    if (st)
        return st;
    const qfd_conv_geom *g = &cf.g;
    const int64_t p = g->col_size, kk = cf.cg * g->k_size;
    const float *x = oc->in[0]->data, *w = oc->in[1]->data, *dy = oc->gout[0]->data;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL, *dw = oc->gin[1] ? oc->gin[1]->data : NULL;
    float *db = oc->n_in > 2 && oc->gin[2] ? oc->gin[2]->data : NULL;
    if (db) {
        const int64_t nn = cf.n, mm = cf.m;
#pragma omp parallel for num_threads(oc->n_threads) if (cf.n * cf.m * p > 65536)
        for (int64_t m = 0; m < mm; m++) {
            float acc = 0.0f;
            for (int64_t n = 0; n < nn; n++) {
                const float *r = dy + (n * mm + m) * p;
#pragma omp simd reduction(+ : acc)
                for (int64_t o = 0; o < p; o++)
                    acc += r[o];
            }
            db[m] += acc;
        }
    }
    if (!dx && !dw)
        return QFD_OK;
    if (cf.depthwise) {
        depthwise_backward(oc, &cf, x, w, dy, dx, dw);
        return QFD_OK;
    }
    const bwd_layout l = bwd_layout_of(oc, &cf);
    const int64_t slots = l.slots;
    const bool write = oc->gin_fresh & 1u; /* see grad_writes */
    float *ws = oc->ws, *wa = ws + slots * l.slot_f, *wt = wa + l.waf;
    if (l.adj && dx) {
        qfd_conv_adjoint_weights(cf.m, cf.c, g->k_size, w, wa);
        qfd_conv_direct_prepare(&l.gt, cf.m, wa, cf.c, wt);
    }
#pragma omp parallel for num_threads(slots) if (slots > 1) schedule(static, 1)
    for (int64_t s = 0; s < slots; s++) {
        float *col = ws + s * l.slot_f, *part = col + l.colf, *dw_scratch = part + l.partf,
              *adj_scratch = dw_scratch + l.dwsf;
        float *dwp = l.partf ? part : dw;
        const int threads = slots > 1 ? 1 : oc->n_threads;
        if (l.partf)
            memset(part, 0, (size_t)l.partf * sizeof *part);
        for (int64_t n = s; n < cf.n; n += slots)
            for (int64_t gi = 0; gi < cf.group; gi++) {
                const float *xg = x + (n * cf.c + gi * cf.cg) * g->img_size, *wg = w + gi * cf.mg * kk;
                const float *dyg = dy + (n * cf.m + gi * cf.mg) * p;
                float *dxg = dx ? dx + (n * cf.c + gi * cf.cg) * g->img_size : NULL;
                if (dw && l.dwd) {
                    qfd_conv_direct_dw(g, xg, cf.c, dyg, cf.m, part, dw_scratch);
                } else if (dw) {
                    const float *src = xg;
                    if (!cf.pointwise) {
                        qfd_im2col(xg, cf.cg, g, col, threads);
                        src = col;
                    }
                    /* inside a parallel region OpenBLAS's OpenMP build runs on one thread */
                    qfd_sgemm(false, true, cf.mg, kk, p, 1.0f, dyg, p, src, p, 1.0f, dwp + gi * cf.mg * kk, kk);
                }
                if (!dxg)
                    continue;
                if (cf.pointwise) {
                    qfd_sgemm(true, false, kk, p, cf.mg, 1.0f, wg, kk, dyg, p, write ? 0.0f : 1.0f, dxg, p);
                    continue;
                }
                if (l.adj) {
                    qfd_conv_direct(&l.gt, dyg, cf.m, wa, wt, NULL, cf.c, dxg, adj_scratch, NULL, !write);
                    continue;
                }
                qfd_sgemm(true, false, kk, p, cf.mg, 1.0f, wg, kk, dyg, p, 0.0f, col, p);
                qfd_col2im(col, cf.cg, g, dxg, threads);
            }
    }
    /* the slots' partials, in slot order: results depend on the thread
     * count only */
    for (int64_t s = 0; l.partf && s < slots; s++) {
        const float *part = ws + s * l.slot_f + l.colf;
        if (l.dwd) /* [c * k_size][m] */
            for (int64_t r = 0; r < kk; r++)
                for (int64_t m = 0; m < cf.m; m++)
                    dw[m * kk + r] += part[r * cf.m + m];
        else
            for (int64_t i = 0; i < l.dwf; i++)
                dw[i] += part[i];
    }
    return QFD_OK;
}

/* dX is written outright (a fresh gradient) where one product covers all
 * of it: 1x1 convs (sgemm with beta 0) and the adjoint direct conv. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    conv_cfg cf = {0};
    qfd_conv_geom gt;
    if (k != 0 || !oc->gout[0] || setup(oc, &cf))
        return false;
    return cf.pointwise || adjoint_direct(oc, &cf, &gt);
}

/* The direct kernel's weights, transposed once per plan for inference
 * instead of at every call (9.4 MB for a 512 x 512 3x3 layer). */
static size_t packed_size(const qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    if (setup(oc, &cf) || !cf.direct)
        return 0;
    return direct_wt_floats(&cf) * sizeof(float);
}

static void pack(const qfd_op_ctx *oc, void *packed)
{
    conv_cfg cf = {0};
    if (!setup(oc, &cf))
        direct_prepare(&cf, oc->in[1]->data, packed);
}

/* Each gradient (dX, dW) is one product the size of forward's. */
static double macs(const qfd_op_ctx *oc, bool backward)
{
    conv_cfg cf = {0};
    if (setup(oc, &cf))
        return 0.0;
    double one = (double)cf.n * (double)cf.m * (double)cf.g.col_size * (double)cf.cg * (double)cf.g.k_size;
    if (!backward)
        return one;
    return one * ((oc->gin[0] != NULL) + (oc->gin[1] != NULL));
}

const qfd_op_def qfd_op_conv = {
    .name = "Conv",
    .domain = "",
    .since = 1,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_WEIGHT, QFD_ROLE_BIAS},
    .infer = infer,
    .workspace = workspace,
    .forward = forward,
    .backward_workspace = backward_workspace,
    .backward = backward,
    .backward_reads = qfd_reads_product,
    .grad_writes = grad_writes,
    .macs = macs,
    .pack_reads = 1u << 1,
    .packed_size = packed_size,
    .pack = pack,
};

/* com.microsoft FusedConv (ONNX Runtime's contrib op), made of a Conv and the
 * activation after it by the inference pass src/passes/fuse_act.c: Conv,
 * plus the optional sum input Z (a residual branch, as ONNX Runtime's
 * Conv + Add fusion makes), then the activation of attributes activation /
 * activation_params (src/ops/activation.h) on each output block while it is
 * in cache. Inference only: no backward. */
static qfd_status parse_fused(qfd_op_ctx *oc, void *state)
{
    if (oc->n_in > 4)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "expects at most 4 inputs (X, W, B, Z), got %zu", oc->n_in);
    return qfd_act_parse(oc, state);
}

/* Conv's shape rule; with Z, Y is the numpy broadcast of the conv's result
 * and Z, as the Add it replaces gave. */
static qfd_status infer_fused(qfd_op_ctx *oc)
{
    qfd_status st = infer(oc);
    const qfd_array *z = qfd_op_in(oc, 3);
    if (st || !z)
        return st;
    if (z->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input Z must be float32");
    const qfd_array c = *oc->out[0]; /* the conv's result */
    return qfd_broadcast_shape(oc, &c, z, oc->out[0]);
}

static size_t workspace_fused(const qfd_op_ctx *oc)
{
    conv_cfg cf = {0};
    if (!qfd_op_in(oc, 3) || setup(oc, &cf))
        return workspace(oc);
    qfd_array c = conv_result(oc, &cf, NULL);
    const bool same = qfd_array_numel(&c) == qfd_array_numel(oc->out[0]);
    return conv_ws_bytes(oc) + (same ? 0 : c.nbytes);
}

const qfd_op_def qfd_op_fused_conv = {
    .name = "FusedConv",
    .domain = "com.microsoft",
    .since = 1,
    .param_role = {QFD_ROLE_PASS, QFD_ROLE_WEIGHT, QFD_ROLE_BIAS},
    .state_size = sizeof(qfd_act),
    .parse = parse_fused,
    .infer = infer_fused,
    .workspace = workspace_fused,
    .forward = forward,
    .macs = macs,
    .pack_reads = 1u << 1,
    .packed_size = packed_size,
    .pack = pack,
};
