/* Resize (opsets 10, 11, 13, 18, 19), float32.
 *   y[o] = sum over taps of prod_axis w_axis * x[idx], where each output
 *   coordinate o_a maps to x_a = transform(o_a) (coordinate_transformation_mode:
 *   half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners,
 *   asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize) and the taps are
 *   nearest (1, by nearest_mode), linear (2) or cubic (4, cubic_coeff_a,
 *   exclude_outside). Neighbours outside the input are clamped to the edge;
 *   tf_crop_and_resize writes extrapolation_value outside the input.
 * Output sizes come from `sizes` or floor(in * scale); opset 18 adds the
 * axes and keep_aspect_ratio_policy attributes. Opset 10 has only scales and
 * follows ONNX Runtime: asymmetric, nearest = floor up, ceil down.
 * Antialiasing (18) is not supported.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { T_HALF, T_HALF_SYM, T_PYTORCH, T_ALIGN, T_ASYM, T_TF_NN, T_TF_CROP };
enum { N_PREFER_FLOOR, N_PREFER_CEIL, N_FLOOR, N_CEIL, N_SIMPLE };

#define MAX_COMBOS 1024

typedef struct rs_plan {
    int rank, mode, ctm, nearest, exclude;
    float cubic_a, extrapolation;
    int64_t in[QFD_ARRAY_MAX_RANK], out[QFD_ARRAY_MAX_RANK];
    float scale[QFD_ARRAY_MAX_RANK], roi0[QFD_ARRAY_MAX_RANK], roi1[QFD_ARRAY_MAX_RANK];
} rs_plan;

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static qfd_status read_floats(qfd_op_ctx *oc, const qfd_array *a, float *dst, int64_t n, const char *what)
{
    if (!a->data)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s input must be known when the model is planned", what);
    if (qfd_array_numel(a) != n)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s has %lld values, expected %lld", what,
                           (long long)qfd_array_numel(a), (long long)n);
    if (a->dtype == QFD_DT_FLOAT)
        memcpy(dst, a->data, (size_t)n * sizeof *dst);
    else if (a->dtype == QFD_DT_DOUBLE)
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)((const double *)a->data)[i];
    else
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%s must be float", what);
    return QFD_OK;
}

static qfd_status read_attrs(qfd_op_ctx *oc, rs_plan *p)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                       "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const qfd_node *n = oc->node;
    const char *s = qfd_attr_str(n, "mode", "nearest");
    p->mode = pick(s, modes, oc->opset >= 11 ? 3 : 2);
    if (p->mode < 0)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "mode '%s' is not supported", s);
    if (oc->opset < 11) {
        p->ctm = T_ASYM;
        p->nearest = N_SIMPLE;
        return QFD_OK;
    }
    s = qfd_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    p->ctm = pick(s, ctms, 7);
    if (p->ctm < 0 || (p->ctm == T_HALF_SYM && oc->opset < 19) || (p->ctm == T_TF_NN && oc->opset >= 19))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", s);
    s = qfd_attr_str(n, "nearest_mode", "round_prefer_floor");
    p->nearest = pick(s, nms, 4);
    if (p->nearest < 0)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", s);
    p->cubic_a = qfd_attr_float(n, "cubic_coeff_a", -0.75f);
    p->exclude = qfd_attr_int(n, "exclude_outside", 0) != 0;
    p->extrapolation = qfd_attr_float(n, "extrapolation_value", 0.0f);
    if (qfd_attr_int(n, "antialias", 0))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "antialias is not supported");
    return QFD_OK;
}

static qfd_status make_plan(qfd_op_ctx *oc, rs_plan *p)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing input");
    if (x->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported (float only)",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    memset(p, 0, sizeof *p);
    qfd_status st = read_attrs(oc, p);
    if (st)
        return st;
    int rank = p->rank = x->rank;
    int64_t axes[QFD_ARRAY_MAX_RANK];
    int naxes = rank;
    for (int i = 0; i < rank; i++) {
        axes[i] = i;
        p->in[i] = p->out[i] = x->dims[i];
        p->scale[i] = 1.0f;
        p->roi0[i] = 0.0f;
        p->roi1[i] = 1.0f;
    }
    if (oc->opset >= 18) {
        const int64_t *v;
        size_t na = qfd_attr_ints(oc->node, "axes", &v);
        if (na) {
            int seen[QFD_ARRAY_MAX_RANK] = {0};
            if (na > (size_t)rank)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "%zu axes for a rank-%d input", na, rank);
            for (size_t i = 0; i < na; i++) {
                int a = qfd_norm_axis(v[i], rank);
                if (a < 0 || seen[a])
                    return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld out of range or repeated", (long long)v[i]);
                seen[a] = 1;
                axes[i] = a;
            }
            naxes = (int)na;
        }
    }
    const qfd_array *roi = oc->opset >= 11 ? qfd_op_in(oc, 1) : NULL;
    const qfd_array *sc = qfd_op_in(oc, oc->opset >= 11 ? 2 : 1), *sz = oc->opset >= 11 ? qfd_op_in(oc, 3) : NULL;
    if (sc && qfd_array_numel(sc) == 0)
        sc = NULL;
    if (sz && qfd_array_numel(sz) == 0)
        sz = NULL;
    if (!sc == !sz)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "exactly one of scales and sizes must be given");
    float vals[2 * QFD_ARRAY_MAX_RANK];
    if (p->ctm == T_TF_CROP && roi && qfd_array_numel(roi) > 0) {
        if ((st = read_floats(oc, roi, vals, 2 * naxes, "roi")))
            return st;
        for (int i = 0; i < naxes; i++) {
            p->roi0[axes[i]] = vals[i];
            p->roi1[axes[i]] = vals[i + naxes];
        }
    }
    if (sc) {
        if ((st = read_floats(oc, sc, vals, naxes, "scales")))
            return st;
        for (int i = 0; i < naxes; i++) {
            int a = (int)axes[i];
            if (!(vals[i] > 0.0f))
                return qfd_op_fail(oc, QFD_ERR_INVALID, "scale %g must be positive", (double)vals[i]);
            p->scale[a] = vals[i];
            double len = (double)p->in[a] * (p->ctm == T_TF_CROP ? (double)(p->roi1[a] - p->roi0[a]) : 1.0);
            double out = floor(len * (double)vals[i]);
            /* a huge scale (or roi) must not reach the conversion: it is undefined */
            if (!(out >= 0.0 && out < 0x1p62))
                return qfd_op_fail(oc, QFD_ERR_INVALID, "scale %g on axis %d gives output size %g", (double)vals[i], a,
                                   out);
            p->out[a] = (int64_t)out;
        }
    } else {
        int64_t want[QFD_ARRAY_MAX_RANK];
        if (!sz->data)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "sizes input must be known when the model is planned");
        if (qfd_array_numel(sz) != naxes || qfd_array_read_ints(sz, want, QFD_ARRAY_MAX_RANK) != naxes)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "sizes must be %d int64 values", naxes);
        const char *pol = oc->opset >= 18 ? qfd_attr_str(oc->node, "keep_aspect_ratio_policy", "stretch") : "stretch";
        int keep = strcmp(pol, "stretch") != 0;
        if (keep && strcmp(pol, "not_larger") && strcmp(pol, "not_smaller"))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", pol);
        float common = 0.0f;
        for (int i = 0; i < naxes; i++) {
            int a = (int)axes[i];
            if (want[i] < 0 || p->in[a] == 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot resize axis %d of size %lld to %lld", a,
                                   (long long)p->in[a], (long long)want[i]);
            float s = (float)want[i] / (float)p->in[a];
            if (i == 0 || (!strcmp(pol, "not_larger") ? s < common : s > common))
                common = s;
            p->scale[a] = s;
            p->out[a] = want[i];
        }
        for (int i = 0; keep && i < naxes; i++) {
            int a = (int)axes[i];
            p->scale[a] = common;
            double out = floor((double)common * (double)p->in[a] + 0.5);
            if (!(out >= 0.0 && out < 0x1p62))
                return qfd_op_fail(oc, QFD_ERR_INVALID, "sizes give axis %d output size %g", a, out);
            p->out[a] = (int64_t)out;
        }
    }
    int64_t combos = 1;
    int taps = p->mode == M_NEAREST ? 1 : p->mode == M_LINEAR ? 2 : 4;
    for (int i = 0; i + 1 < rank; i++)
        if (p->out[i] != p->in[i] || p->scale[i] != 1.0f || p->ctm == T_TF_CROP)
            combos *= taps;
    if (combos > MAX_COMBOS)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "too many resized axes for mode '%s'",
                           qfd_attr_str(oc->node, "mode", "nearest"));
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    rs_plan p;
    qfd_status st = make_plan(oc, &p);
    if (st)
        return st;
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_FLOAT;
    y->rank = p.rank;
    memcpy(y->dims, p.out, sizeof p.out);
    return QFD_OK;
}

/* Per axis, for each output coordinate: 4 input offsets, 4 weights, 1 flag. */
static size_t workspace(const qfd_op_ctx *oc)
{
    size_t n = 0;
    const qfd_array *y = oc->out[0];
    for (int i = 0; i < y->rank; i++)
        n += (size_t)y->dims[i];
    return n * (4 * sizeof(int64_t) + 4 * sizeof(float) + 1) + 16;
}

static float to_input(const rs_plan *p, int a, int64_t j, int *outside)
{
    float s = p->scale[a], x = (float)j;
    /* As in the ONNX reference, align_corners and tf_crop_and_resize use the
     * unrounded resized length in * scale, not the output size. */
    float lin = (float)p->in[a], lout = (float)p->out[a], lres = s * lin;
    *outside = 0;
    switch (p->ctm) {
    case T_HALF: return (x + 0.5f) / s - 0.5f;
    case T_HALF_SYM: {
        float adj = lout / (s * lin), center = lin / 2.0f;
        return center * (1.0f - adj) + (x + 0.5f) / s - 0.5f;
    }
    case T_PYTORCH: return lout > 1.0f ? (x + 0.5f) / s - 0.5f : 0.0f;
    case T_ALIGN: return lres != 1.0f ? x * (lin - 1.0f) / (lres - 1.0f) : 0.0f;
    case T_TF_NN: return (x + 0.5f) / s;
    case T_TF_CROP: {
        float r0 = p->roi0[a], r1 = p->roi1[a];
        float v = lres != 1.0f ? r0 * (lin - 1.0f) + x * (r1 - r0) * (lin - 1.0f) / (lres - 1.0f)
                               : 0.5f * (r0 + r1) * (lin - 1.0f);
        *outside = v < 0.0f || v > lin - 1.0f;
        return v;
    }
    default: return x / s;
    }
}

static int64_t nearest_index(const rs_plan *p, int a, float v)
{
    double f = floor((double)v);
    int64_t i;
    switch (p->nearest) {
    case N_PREFER_FLOOR: i = (int64_t)((double)v - f == 0.5 ? f : floor((double)v + 0.5)); break;
    case N_PREFER_CEIL: i = (int64_t)floor((double)v + 0.5); break;
    case N_FLOOR: i = (int64_t)f; break;
    case N_CEIL: i = (int64_t)ceil((double)v); break;
    default: i = p->scale[a] < 1.0f ? (int64_t)ceil((double)v) : (int64_t)v; break;
    }
    return i < 0 ? 0 : i >= p->in[a] ? p->in[a] - 1 : i;
}

static int64_t clampi(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Fills axis a's table; returns its number of taps (1 when every
 * coordinate lands exactly on one input, whatever the mode). */
static int fill_axis(const rs_plan *p, int a, int64_t stride, int64_t *off, float *w, uint8_t *ext)
{
    int taps = p->mode == M_NEAREST ? 1 : p->mode == M_LINEAR ? 2 : 4;
    int exact = 1;
    int64_t n = p->in[a];
    for (int64_t j = 0; j < p->out[a]; j++) {
        int outside;
        float v = to_input(p, a, j, &outside);
        int64_t *o = off + j * 4;
        float *ww = w + j * 4;
        ext[j] = (uint8_t)outside;
        if (p->mode == M_NEAREST) {
            o[0] = nearest_index(p, a, v) * stride;
            ww[0] = 1.0f;
            continue;
        }
        float f = floorf(v), r = v - f;
        int64_t i0 = (int64_t)f;
        if (p->mode == M_LINEAR) {
            o[0] = clampi(i0, n) * stride;
            o[1] = clampi(i0 + 1, n) * stride;
            ww[0] = 1.0f - r;
            ww[1] = r;
        } else {
            float A = p->cubic_a, t[4] = {1.0f + r, r, 1.0f - r, 2.0f - r}, sum = 0.0f;
            for (int k = 0; k < 4; k++) {
                float d = t[k];
                ww[k] = d <= 1.0f ? ((A + 2.0f) * d - (A + 3.0f)) * d * d + 1.0f
                                  : ((A * d - 5.0f * A) * d + 8.0f * A) * d - 4.0f * A;
                int64_t idx = i0 - 1 + k;
                if (p->exclude && (idx < 0 || idx >= n))
                    ww[k] = 0.0f;
                sum += ww[k];
                o[k] = clampi(idx, n) * stride;
            }
            if (p->exclude && sum != 0.0f)
                for (int k = 0; k < 4; k++)
                    ww[k] /= sum;
        }
        int hit = -1;
        for (int k = 0; k < taps && exact; k++)
            if (ww[k] == 1.0f && hit < 0)
                hit = k;
            else if (ww[k] != 0.0f)
                exact = 0;
        if (exact && hit < 0)
            exact = 0;
        if (exact && hit > 0) {
            /* Swap, so that the taps stay valid if a later coordinate is not exact. */
            int64_t to = o[0];
            o[0] = o[hit];
            o[hit] = to;
            ww[hit] = ww[0];
            ww[0] = 1.0f;
        }
    }
    return exact ? 1 : taps;
}

typedef struct rs_rows {
    const rs_plan *p;
    const float *x;
    float *y;
    const int64_t *off;
    const float *w;
    const uint8_t *ext;
    const int64_t *base;
    const int *taps;
    int64_t inner;
} rs_rows;

/* Computes output row r (all coordinates but the last fixed). */
static void resize_row(const rs_rows *t, int64_t r)
{
    const rs_plan *p = t->p;
    int last = p->rank - 1, lt = t->taps[last];
    int64_t inner = t->inner, idx[QFD_ARRAY_MAX_RANK];
    const int64_t *loff = t->off + 4 * t->base[last];
    const float *lw = t->w + 4 * t->base[last], *x = t->x;
    const uint8_t *lext = t->ext + t->base[last];
    float *yr = t->y + r * inner;
    for (int a = last - 1; a >= 0; a--) {
        idx[a] = r % p->out[a];
        r /= p->out[a];
    }
    /* Combine the outer axes' taps into (offset, weight) pairs. */
    int64_t coff[MAX_COMBOS];
    float cw[MAX_COMBOS];
    int nc = 1, outside = 0;
    coff[0] = 0;
    cw[0] = 1.0f;
    for (int a = 0; a < last; a++) {
        int64_t e = t->base[a] + idx[a];
        int ta = t->taps[a], na = nc * ta;
        outside |= t->ext[e];
        for (int c = na - 1; c >= 0; c--) {
            int src = c / ta, k = c % ta;
            coff[c] = coff[src] + t->off[4 * e + k];
            cw[c] = cw[src] * t->w[4 * e + k];
        }
        nc = na;
    }
    if (outside) {
        for (int64_t j = 0; j < inner; j++)
            yr[j] = p->extrapolation;
    } else if (nc == 1 && lt == 1) {
        const float *xr = x + coff[0];
        for (int64_t j = 0; j < inner; j++)
            yr[j] = lext[j] ? p->extrapolation : xr[loff[4 * j]];
    } else {
        for (int64_t j = 0; j < inner; j++) {
            float acc = 0.0f;
            for (int c = 0; c < nc; c++)
                for (int k = 0; k < lt; k++)
                    acc += cw[c] * lw[4 * j + k] * x[coff[c] + loff[4 * j + k]];
            yr[j] = lext[j] ? p->extrapolation : acc;
        }
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    rs_plan p;
    qfd_status st = make_plan(oc, &p);
    if (st)
        return st;
    const float *x = oc->in[0]->data;
    float *y = oc->out[0]->data;
    int rank = p.rank;
    int64_t ny = qfd_array_numel(oc->out[0]);
    if (ny == 0)
        return QFD_OK;
    if (rank == 0 || qfd_array_numel(oc->in[0]) == 0) {
        for (int64_t i = 0; i < ny; i++)
            y[i] = rank == 0 ? x[0] : p.extrapolation;
        return QFD_OK;
    }
    int64_t total = 0, base[QFD_ARRAY_MAX_RANK], stride[QFD_ARRAY_MAX_RANK];
    for (int a = 0; a < rank; a++) {
        base[a] = total;
        total += p.out[a];
    }
    stride[rank - 1] = 1;
    for (int a = rank - 2; a >= 0; a--)
        stride[a] = stride[a + 1] * p.in[a + 1];
    int64_t *off = oc->ws;
    float *w = (float *)(off + 4 * total);
    uint8_t *ext = (uint8_t *)(w + 4 * total);
    int taps[QFD_ARRAY_MAX_RANK];
    for (int a = 0; a < rank; a++)
        taps[a] = fill_axis(&p, a, stride[a], off + 4 * base[a], w + 4 * base[a], ext + base[a]);

    int last = rank - 1;
    int64_t inner = p.out[last], rows = ny / inner;
    int lt = taps[last];
    int64_t combos = 1;
    for (int a = 0; a < last; a++)
        combos *= taps[a];
    if (combos > MAX_COMBOS)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "too many interpolation taps");
    rs_rows rr = {&p, x, y, off, w, ext, base, taps, inner};
#pragma omp parallel for num_threads(oc->n_threads) if (ny * combos * lt > 65536)
    for (int64_t r = 0; r < rows; r++)
        resize_row(&rr, r);
    return QFD_OK;
}

const qfd_op_def qfd_op_resize = {.name = "Resize",
                                  .domain = "",
                                  .since = 10,
                                  .value_inputs = 1u << 1 | 1u << 2 | 1u << 3, /* roi, scales, sizes */
                                  .param_role = {QFD_ROLE_PASS, QFD_ROLE_FROZEN, QFD_ROLE_FROZEN, QFD_ROLE_FROZEN},
                                  .infer = infer,
                                  .workspace = workspace,
                                  .forward = forward};
