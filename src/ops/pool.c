/* MaxPool (opsets 1-21) and AveragePool (opsets 1-21) over 1-D, 2-D and 3-D
 * windows of X (N x C x D1 [x D2 [x D3]]):
 *   MaxPool:     y = max over the window taps inside X, NaN if one is NaN
 *                (Indices: flat index of the max, or of the first NaN, in X,
 *                row-major or, storage_order=1, with the first spatial axis
 *                fastest; padding not counted)
 *   AveragePool: y = sum over the window taps inside X / count, count being
 *                the taps inside X, or with count_include_pad=1 the taps
 *                inside X plus its pads
 * Window of output o along an axis: taps o*stride - pad_begin + k*dilation,
 * k < kernel. Output size: floor (ceil with ceil_mode) of
 * (in + pads - dilation*(kernel-1) - 1) / stride + 1, a last window starting
 * in the end padding dropped; auto_pad SAME_* gives ceil(in / stride), VALID
 * no padding. Attributes appear with their opsets: count_include_pad 7,
 * storage_order and Indices 8 (MaxPool), ceil_mode 10, dilations 10
 * (MaxPool) and 19 (AveragePool).
 * Backward (float X): MaxPool routes dy of each window to its argmax (the
 * first tap holding the max, in the forward's scan order, as Indices does),
 * recomputed from X rather than saved: that is one more pass over X but no
 * per-step memory; AveragePool adds dy / count to every tap inside X, count
 * being the forward's divisor. Overlapping windows accumulate.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

#define POOL_MAX_SP 3

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

typedef struct pool_state {
    int is_max;
    int nsp; /* spatial axes, from kernel_shape */
    int64_t k[POOL_MAX_SP], s[POOL_MAX_SP], d[POOL_MAX_SP], pads[2 * POOL_MAX_SP];
    int auto_pad, ceil_mode, count_include_pad, storage_order;
} pool_state;

/* Sizes of one (n, c) plane, spatial axes right-aligned in 3 slots so that
 * one kernel covers 1-D, 2-D and 3-D (unused leading slots have size 1). */
typedef struct pool_geom {
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
    int64_t planes, in_plane, out_plane;
} pool_geom;

/* An attribute given in an opset that does not define it is a model error. */
static qfd_status check_since(qfd_op_ctx *oc, const char *name, int64_t since)
{
    if (oc->opset < since && qfd_attr_get(oc->node, name))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute %s needs opset >= %lld (model uses %lld)", name,
                           (long long)since, (long long)oc->opset);
    return QFD_OK;
}

static qfd_status read_list(qfd_op_ctx *oc, const char *name, size_t want, int64_t min, int64_t def, int64_t *dst)
{
    const int64_t *v;
    size_t n = qfd_attr_ints(oc->node, name, &v);
    for (size_t i = 0; i < want; i++)
        dst[i] = def;
    if (n == 0)
        return QFD_OK;
    if (n != want)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s has %zu values, expected %zu", name, n, want);
    for (size_t i = 0; i < n; i++) {
        if (v[i] < min)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%s[%zu] = %lld, must be >= %lld", name, i, (long long)v[i],
                               (long long)min);
        dst[i] = v[i];
    }
    return QFD_OK;
}

static qfd_status parse_common(qfd_op_ctx *oc, pool_state *s, int is_max)
{
    const qfd_node *n = oc->node;
    qfd_status st;
    s->is_max = is_max;
    int64_t dil_since = is_max ? 10 : 19;
    if ((st = check_since(oc, "ceil_mode", 10)) || (st = check_since(oc, "dilations", dil_since)))
        return st;
    if (!is_max && (st = check_since(oc, "count_include_pad", 7)))
        return st;
    if (is_max && (st = check_since(oc, "storage_order", 8)))
        return st;
    if (is_max && oc->opset < 8 && oc->n_out > 1 && n->out[1] >= 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "output Indices needs opset >= 8");
    const int64_t *ks;
    size_t nk = qfd_attr_ints(n, "kernel_shape", &ks);
    if (nk == 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute kernel_shape is required");
    if (nk > POOL_MAX_SP)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%zu-D pooling is not supported (at most %d-D)", nk, POOL_MAX_SP);
    s->nsp = (int)nk;
    if ((st = read_list(oc, "kernel_shape", nk, 1, 1, s->k)) || (st = read_list(oc, "strides", nk, 1, 1, s->s)) ||
        (st = read_list(oc, "dilations", nk, 1, 1, s->d)) || (st = read_list(oc, "pads", 2 * nk, 0, 0, s->pads)))
        return st;
    const char *ap = qfd_attr_str(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET"))
        s->auto_pad = PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER"))
        s->auto_pad = PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        s->auto_pad = PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        s->auto_pad = PAD_VALID;
    else
        return qfd_op_fail(oc, QFD_ERR_INVALID, "unknown auto_pad '%s'", ap);
    for (size_t i = 0; s->auto_pad != PAD_NOTSET && i < 2 * nk; i++)
        if (s->pads[i])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "pads cannot be used together with auto_pad %s", ap);
    int64_t cm = qfd_attr_int(n, "ceil_mode", 0), cip = qfd_attr_int(n, "count_include_pad", 0);
    int64_t so = qfd_attr_int(n, "storage_order", 0);
    if (cm != 0 && cm != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "ceil_mode must be 0 or 1, got %lld", (long long)cm);
    if (cip != 0 && cip != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "count_include_pad must be 0 or 1, got %lld", (long long)cip);
    if (so != 0 && so != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "storage_order must be 0 or 1, got %lld", (long long)so);
    s->ceil_mode = (int)cm;
    s->count_include_pad = (int)cip;
    s->storage_order = (int)so;
    return QFD_OK;
}

static qfd_status parse_max(qfd_op_ctx *oc, void *state)
{
    return parse_common(oc, state, 1);
}
static qfd_status parse_avg(qfd_op_ctx *oc, void *state)
{
    return parse_common(oc, state, 0);
}

/* Fills g from the attributes and X's shape; fails when they do not fit. */
static qfd_status make_geom(qfd_op_ctx *oc, const pool_state *s, const qfd_array *x, pool_geom *g)
{
    if (x->rank != s->nsp + 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "X has rank %d but kernel_shape has %d values (rank %d expected)",
                           x->rank, s->nsp, s->nsp + 2);
    int off = 3 - s->nsp;
    g->planes = x->dims[0] * x->dims[1];
    g->in_plane = g->out_plane = 1;
    for (int j = 0; j < 3; j++) {
        g->in[j] = g->out[j] = g->k[j] = g->s[j] = g->d[j] = 1;
        g->pb[j] = g->pe[j] = 0;
    }
    for (int i = 0; i < s->nsp; i++) {
        int j = off + i;
        int64_t in = x->dims[2 + i], k = s->k[i], st = s->s[i], dl = s->d[i];
        if (k > INT32_MAX || dl > INT32_MAX || st > INT32_MAX)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "kernel, stride or dilation too large on axis %d", i);
        int64_t dk = dl * (k - 1) + 1, pb = s->pads[i], pe = s->pads[s->nsp + i], out;
        if (s->auto_pad == PAD_SAME_UPPER || s->auto_pad == PAD_SAME_LOWER) {
            out = (in + st - 1) / st;
            int64_t total = (out - 1) * st + dk - in;
            total = total > 0 ? total : 0;
            pb = s->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (s->auto_pad == PAD_VALID)
                pb = pe = 0;
            int64_t span = in + pb + pe - dk;
            if (span < 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "window (%lld) larger than the padded input (%lld) on axis %d",
                                   (long long)dk, (long long)(in + pb + pe), i);
            out = (s->ceil_mode ? span + st - 1 : span) / st + 1;
            if (s->ceil_mode && (out - 1) * st >= in + pb)
                out--; /* a window starting in the end padding is dropped */
        }
        g->in[j] = in;
        g->out[j] = out;
        g->k[j] = k;
        g->s[j] = st;
        g->d[j] = dl;
        g->pb[j] = pb;
        g->pe[j] = pe;
        g->in_plane *= in;
        g->out_plane *= out;
    }
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const pool_state *s = oc->state;
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input X is missing");
    int ok = x->dtype == QFD_DT_FLOAT || (s->is_max && (x->dtype == QFD_DT_UINT8 || x->dtype == QFD_DT_INT8));
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "X: %s is not supported (float%s)",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?",
                           s->is_max ? ", uint8, int8" : " only");
    pool_geom g;
    qfd_status st = make_geom(oc, s, x, &g);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x);
    for (int i = 0; i < s->nsp; i++)
        y->dims[2 + i] = g.out[3 - s->nsp + i];
    if (s->is_max && oc->n_out > 1 && oc->out[1]) {
        qfd_array_like(oc->out[1], y);
        oc->out[1]->dtype = QFD_DT_INT64;
    }
    return QFD_OK;
}

/* Taps k in [*lo, *hi) of a window starting at `start` that land in [a, b). */
static inline void tap_range(int64_t start, int64_t k, int64_t d, int64_t a, int64_t b, int64_t *lo, int64_t *hi)
{
    int64_t l, h;
    if (d == 1) { /* no divisions on the common undilated path */
        l = start < a ? a - start : 0;
        h = b > start ? b - start : 0;
    } else {
        l = start < a ? (a - start + d - 1) / d : 0;
        h = b > start ? (b - start + d - 1) / d : 0;
    }
    h = h < k ? h : k;
    *lo = l;
    *hi = h > l ? h : l;
}

/* Outputs [*lo, *hi) (of n) whose tap at offset off = k*dilation - pad_begin
 * from o*stride lands in [0, len). */
static inline void out_range(int64_t off, int64_t stride, int64_t len, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = len > off ? (len - off + stride - 1) / stride : 0;
    h = h < n ? h : n;
    *lo = l;
    *hi = h > l ? h : l;
}

/* Whether the argmax scan moves to tap v: the first tap, a larger one, or
 * the first NaN (after which nothing is larger), as QFD_MAX_NAN keeps. */
#define takes_tap(v, m, at) ((at) < 0 || (v) > (m) || ((v) != (v) && (m) == (m)))

/* Without Indices, a row of outputs is reduced one tap at a time: the loop
 * over outputs is long and branch-free, so gcc vectorises it, where a loop
 * over the few taps of one window cannot be. */
#define DEFINE_MAXPOOL(NAME, T, LOWEST)                                                                             \
    static void NAME(const pool_geom *g, const T *x, T *y, int n_threads)                                           \
    {                                                                                                               \
        int64_t D = g->in[0], H = g->in[1], W = g->in[2], OW = g->out[2], sw = g->s[2];                             \
        _Pragma("omp parallel for num_threads(n_threads) if (g->planes * g->in_plane > 65536)") for (int64_t p = 0; \
                                                                                                     p < g->planes; \
                                                                                                     p++)           \
        {                                                                                                           \
            const T *xp = x + p * g->in_plane;                                                                      \
            T *yr = y + p * g->out_plane;                                                                           \
            for (int64_t od = 0; od < g->out[0]; od++) {                                                            \
                int64_t sd = od * g->s[0] - g->pb[0], d0, d1;                                                       \
                tap_range(sd, g->k[0], g->d[0], 0, D, &d0, &d1);                                                    \
                for (int64_t oh = 0; oh < g->out[1]; oh++, yr += OW) {                                              \
                    int64_t sh = oh * g->s[1] - g->pb[1], h0, h1;                                                   \
                    tap_range(sh, g->k[1], g->d[1], 0, H, &h0, &h1);                                                \
                    for (int64_t ow = 0; ow < OW; ow++)                                                             \
                        yr[ow] = LOWEST;                                                                            \
                    for (int64_t kd = d0; kd < d1; kd++)                                                            \
                        for (int64_t kh = h0; kh < h1; kh++) {                                                      \
                            const T *xr = xp + ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W;                   \
                            for (int64_t kw = 0; kw < g->k[2]; kw++) {                                              \
                                int64_t off = kw * g->d[2] - g->pb[2], lo, hi;                                      \
                                out_range(off, sw, W, OW, &lo, &hi);                                                \
                                for (int64_t ow = lo; ow < hi; ow++) {                                              \
                                    T v = xr[ow * sw + off];                                                        \
                                    yr[ow] = QFD_MAX_NAN(yr[ow], v);                                                \
                                }                                                                                   \
                            }                                                                                       \
                        }                                                                                           \
                }                                                                                                   \
            }                                                                                                       \
        }                                                                                                           \
    }

/* With Indices, one window at a time, remembering where the max was. */
#define DEFINE_MAXPOOL_IDX(NAME, T, LOWEST)                                                                         \
    static void NAME(const pool_geom *g, const T *x, T *y, int64_t *ind, int col_major, int n_threads)              \
    {                                                                                                               \
        int64_t D = g->in[0], H = g->in[1], W = g->in[2], dw = g->d[2];                                             \
        _Pragma("omp parallel for num_threads(n_threads) if (g->planes * g->in_plane > 65536)") for (int64_t p = 0; \
                                                                                                     p < g->planes; \
                                                                                                     p++)           \
        {                                                                                                           \
            const T *xp = x + p * g->in_plane;                                                                      \
            int64_t o = p * g->out_plane;                                                                           \
            for (int64_t od = 0; od < g->out[0]; od++) {                                                            \
                int64_t sd = od * g->s[0] - g->pb[0], d0, d1;                                                       \
                tap_range(sd, g->k[0], g->d[0], 0, D, &d0, &d1);                                                    \
                for (int64_t oh = 0; oh < g->out[1]; oh++) {                                                        \
                    int64_t sh = oh * g->s[1] - g->pb[1], h0, h1;                                                   \
                    tap_range(sh, g->k[1], g->d[1], 0, H, &h0, &h1);                                                \
                    for (int64_t ow = 0; ow < g->out[2]; ow++, o++) {                                               \
                        int64_t sw = ow * g->s[2] - g->pb[2], w0, w1;                                               \
                        tap_range(sw, g->k[2], dw, 0, W, &w0, &w1);                                                 \
                        T m = LOWEST;                                                                               \
                        int64_t at = -1;                                                                            \
                        for (int64_t kd = d0; kd < d1; kd++)                                                        \
                            for (int64_t kh = h0; kh < h1; kh++) {                                                  \
                                int64_t row = ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W + sw;               \
                                for (int64_t kw = w0; kw < w1; kw++)                                                \
                                    if (takes_tap(xp[row + kw * dw], m, at)) {                                      \
                                        m = xp[row + kw * dw];                                                      \
                                        at = row + kw * dw;                                                         \
                                    }                                                                               \
                            }                                                                                       \
                        y[o] = m;                                                                                   \
                        int64_t id = 0, ih = 0, iw = 0;                                                             \
                        if (at >= 0) {                                                                              \
                            iw = at % W;                                                                            \
                            ih = at / W % H;                                                                        \
                            id = at / W / H;                                                                        \
                        }                                                                                           \
                        ind[o] = p * g->in_plane + (col_major ? id + ih * D + iw * D * H : (id * H + ih) * W + iw); \
                    }                                                                                               \
                }                                                                                                   \
            }                                                                                                       \
        }                                                                                                           \
    }

DEFINE_MAXPOOL(maxpool_f32, float, -INFINITY)
DEFINE_MAXPOOL(maxpool_u8, uint8_t, 0)
DEFINE_MAXPOOL(maxpool_i8, int8_t, INT8_MIN)
DEFINE_MAXPOOL_IDX(maxpool_idx_f32, float, -INFINITY)
DEFINE_MAXPOOL_IDX(maxpool_idx_u8, uint8_t, 0)
DEFINE_MAXPOOL_IDX(maxpool_idx_i8, int8_t, INT8_MIN)

/* Same row order as MaxPool; the divisor is computed per output after. */
static void avgpool_f32(const pool_geom *g, const float *x, float *y, int include_pad, int n_threads)
{
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], OW = g->out[2], sw = g->s[2];
#pragma omp parallel for num_threads(n_threads) if (g->planes * g->in_plane > 65536)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->in_plane;
        float *yr = y + p * g->out_plane;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t sd = od * g->s[0] - g->pb[0], d0, d1, pd0, pd1;
            tap_range(sd, g->k[0], g->d[0], 0, D, &d0, &d1);
            tap_range(sd, g->k[0], g->d[0], -g->pb[0], D + g->pe[0], &pd0, &pd1);
            for (int64_t oh = 0; oh < g->out[1]; oh++, yr += OW) {
                int64_t sh = oh * g->s[1] - g->pb[1], h0, h1, ph0, ph1;
                tap_range(sh, g->k[1], g->d[1], 0, H, &h0, &h1);
                tap_range(sh, g->k[1], g->d[1], -g->pb[1], H + g->pe[1], &ph0, &ph1);
                for (int64_t ow = 0; ow < OW; ow++)
                    yr[ow] = 0.0f;
                for (int64_t kd = d0; kd < d1; kd++)
                    for (int64_t kh = h0; kh < h1; kh++) {
                        const float *xr = xp + ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W;
                        for (int64_t kw = 0; kw < g->k[2]; kw++) {
                            int64_t off = kw * g->d[2] - g->pb[2], lo, hi;
                            out_range(off, sw, W, OW, &lo, &hi);
                            for (int64_t ow = lo; ow < hi; ow++)
                                yr[ow] += xr[ow * sw + off];
                        }
                    }
                int64_t rows = include_pad ? (pd1 - pd0) * (ph1 - ph0) : (d1 - d0) * (h1 - h0);
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t s0 = ow * sw - g->pb[2], w0, w1;
                    if (include_pad)
                        tap_range(s0, g->k[2], g->d[2], -g->pb[2], W + g->pe[2], &w0, &w1);
                    else
                        tap_range(s0, g->k[2], g->d[2], 0, W, &w0, &w1);
                    int64_t count = rows * (w1 - w0);
                    /* A window wholly in the padding has no taps: 0, not 0/0. */
                    yr[ow] = count > 0 ? yr[ow] / (float)count : 0.0f;
                }
            }
        }
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const pool_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    pool_geom g;
    qfd_status st = make_geom(oc, s, x, &g);
    if (st)
        return st;
    if (!s->is_max) {
        avgpool_f32(&g, x->data, oc->out[0]->data, s->count_include_pad, oc->n_threads);
        return QFD_OK;
    }
    int64_t *ind = oc->n_out > 1 && oc->out[1] ? oc->out[1]->data : NULL;
    int cm = s->storage_order, nt = oc->n_threads;
    void *y = oc->out[0]->data;
    if (x->dtype == QFD_DT_FLOAT)
        ind ? maxpool_idx_f32(&g, x->data, y, ind, cm, nt) : maxpool_f32(&g, x->data, y, nt);
    else if (x->dtype == QFD_DT_UINT8)
        ind ? maxpool_idx_u8(&g, x->data, y, ind, cm, nt) : maxpool_u8(&g, x->data, y, nt);
    else
        ind ? maxpool_idx_i8(&g, x->data, y, ind, cm, nt) : maxpool_i8(&g, x->data, y, nt);
    return QFD_OK;
}

static void maxpool_bwd(const pool_geom *g, const float *x, const float *dy, float *dx, int n_threads)
{
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], dw = g->d[2];
#pragma omp parallel for num_threads(n_threads) if (g->planes * g->in_plane > 65536)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->in_plane;
        const float *gp = dy + p * g->out_plane;
        float *dp = dx + p * g->in_plane;
        int64_t o = 0;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t sd = od * g->s[0] - g->pb[0], d0, d1;
            tap_range(sd, g->k[0], g->d[0], 0, D, &d0, &d1);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t sh = oh * g->s[1] - g->pb[1], h0, h1;
                tap_range(sh, g->k[1], g->d[1], 0, H, &h0, &h1);
                for (int64_t ow = 0; ow < g->out[2]; ow++, o++) {
                    int64_t sw = ow * g->s[2] - g->pb[2], w0, w1;
                    tap_range(sw, g->k[2], dw, 0, W, &w0, &w1);
                    float m = -INFINITY;
                    int64_t at = -1;
                    for (int64_t kd = d0; kd < d1; kd++)
                        for (int64_t kh = h0; kh < h1; kh++) {
                            int64_t row = ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W + sw;
                            for (int64_t kw = w0; kw < w1; kw++)
                                if (takes_tap(xp[row + kw * dw], m, at)) {
                                    m = xp[row + kw * dw];
                                    at = row + kw * dw;
                                }
                        }
                    if (at >= 0) /* a window wholly in the padding has no tap */
                        dp[at] += gp[o];
                }
            }
        }
    }
}

static void avgpool_bwd(const pool_geom *g, const float *dy, float *dx, int include_pad, int n_threads)
{
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], dw = g->d[2];
#pragma omp parallel for num_threads(n_threads) if (g->planes * g->in_plane > 65536)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *gp = dy + p * g->out_plane;
        float *dp = dx + p * g->in_plane;
        int64_t o = 0;
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t sd = od * g->s[0] - g->pb[0], d0, d1, pd0, pd1;
            tap_range(sd, g->k[0], g->d[0], 0, D, &d0, &d1);
            tap_range(sd, g->k[0], g->d[0], -g->pb[0], D + g->pe[0], &pd0, &pd1);
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int64_t sh = oh * g->s[1] - g->pb[1], h0, h1, ph0, ph1;
                tap_range(sh, g->k[1], g->d[1], 0, H, &h0, &h1);
                tap_range(sh, g->k[1], g->d[1], -g->pb[1], H + g->pe[1], &ph0, &ph1);
                for (int64_t ow = 0; ow < g->out[2]; ow++, o++) {
                    int64_t sw = ow * g->s[2] - g->pb[2], w0, w1, pw0, pw1;
                    tap_range(sw, g->k[2], dw, 0, W, &w0, &w1);
                    tap_range(sw, g->k[2], dw, -g->pb[2], W + g->pe[2], &pw0, &pw1);
                    int64_t count = include_pad ? (pd1 - pd0) * (ph1 - ph0) * (pw1 - pw0)
                                                : (d1 - d0) * (h1 - h0) * (w1 - w0);
                    if (count <= 0)
                        continue;
                    float v = gp[o] / (float)count;
                    for (int64_t kd = d0; kd < d1; kd++)
                        for (int64_t kh = h0; kh < h1; kh++) {
                            float *row = dp + ((sd + kd * g->d[0]) * H + sh + kh * g->d[1]) * W + sw;
                            for (int64_t kw = w0; kw < w1; kw++)
                                row[kw * dw] += v;
                        }
                }
            }
        }
    }
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const pool_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    if (x->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "backward needs float X, got %s",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    pool_geom g;
    qfd_status st = make_geom(oc, s, x, &g);
    if (st)
        return st;
    if (s->is_max)
        maxpool_bwd(&g, x->data, oc->gout[0]->data, oc->gin[0]->data, oc->n_threads);
    else
        avgpool_bwd(&g, oc->gout[0]->data, oc->gin[0]->data, s->count_include_pad, oc->n_threads);
    return QFD_OK;
}

const qfd_op_def qfd_op_maxpool = {
    .name = "MaxPool",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .state_size = sizeof(pool_state),
    .parse = parse_max,
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_inputs,
};

const qfd_op_def qfd_op_averagepool = {
    .name = "AveragePool",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .state_size = sizeof(pool_state),
    .parse = parse_avg,
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_inputs,
};
