/* Pad (opsets 1-21).
 *   y[o] = x[map(o - pad_begin)] per axis, where map is, for an index j
 *   outside [0, n): constant -> the value, edge -> clamp, reflect -> mirror
 *   without repeating the edge, wrap (19) -> j mod n.
 * Before opset 11 pads (`paddings` in opset 1) and value are attributes;
 * from 11 pads and constant_value are inputs, from 18 an axes input selects
 * the padded axes. Negative pads crop. pads = [begin_0.., end_0..].
 * Backward (float32): every y element that reads x[s] adds its dy into
 * dx[s]. In constant mode that is the window of dy over x (dx = the
 * un-padded dy; where pads are negative only the kept region of dx gets
 * dy, the cropped part nothing), and d(constant_value) = the sum of dy over
 * the padded positions. Edge, reflect and wrap scatter-add (border elements
 * collect several dy).
 */
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

/* Far beyond any tensor, far from int64 overflow when added to a dimension. */
#define PAD_MAX ((int64_t)1 << 48)

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_plan {
    int mode;
    int64_t begin[QFD_ARRAY_MAX_RANK];
} pad_plan;

static int elem_size(int32_t dt)
{
    int bits = qfd_dtype_bits(dt);
    return bits >= 8 && dt != QFD_DT_STRING ? bits / 8 : 0;
}

/* Reads mode and pads; sets y's shape when y is non-NULL. */
static qfd_status make_plan(qfd_op_ctx *oc, pad_plan *p, qfd_array *y)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing input");
    int rank = x->rank;
    const char *mode = qfd_attr_str(oc->node, "mode", "constant");
    if (!strcmp(mode, "constant"))
        p->mode = PAD_CONSTANT;
    else if (!strcmp(mode, "reflect"))
        p->mode = PAD_REFLECT;
    else if (!strcmp(mode, "edge"))
        p->mode = PAD_EDGE;
    else if (!strcmp(mode, "wrap") && oc->opset >= 19)
        p->mode = PAD_WRAP;
    else
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (!elem_size(x->dtype))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");

    int64_t pads[2 * QFD_ARRAY_MAX_RANK], axes[QFD_ARRAY_MAX_RANK];
    int64_t npads, naxes = rank;
    for (int i = 0; i < rank; i++)
        axes[i] = i;
    if (oc->opset < 11) {
        const int64_t *v;
        size_t n = qfd_attr_ints(oc->node, oc->opset < 2 ? "paddings" : "pads", &v);
        if (n != 2 * (size_t)rank)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%zu pads for a rank-%d input", n, rank);
        memcpy(pads, v, n * sizeof *v);
        npads = (int64_t)n;
    } else {
        const qfd_array *pa = qfd_op_in(oc, 1), *ax = qfd_op_in(oc, 3);
        if (!pa)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "missing pads input");
        if (!pa->data || (ax && !ax->data))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "pads and axes inputs must be known when the model is planned");
        if (ax && oc->opset >= 18) {
            naxes = qfd_array_numel(ax);
            if (naxes > rank || qfd_array_read_ints(ax, axes, QFD_ARRAY_MAX_RANK) != naxes)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "axes must be at most %d int64 values", rank);
        }
        npads = qfd_array_numel(pa);
        if (npads != 2 * naxes || qfd_array_read_ints(pa, pads, 2 * QFD_ARRAY_MAX_RANK) != npads)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%lld pads for %lld axes (need 2 int64 per axis)", (long long)npads,
                               (long long)naxes);
        const qfd_array *cv = qfd_op_in(oc, 2);
        if (cv && (qfd_array_numel(cv) != 1 || cv->dtype != x->dtype))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "constant_value must be one value of the input's type");
    }
    int64_t end[QFD_ARRAY_MAX_RANK] = {0};
    int seen[QFD_ARRAY_MAX_RANK] = {0};
    memset(p->begin, 0, sizeof p->begin);
    for (int64_t i = 0; i < naxes; i++) {
        int a = qfd_norm_axis(axes[i], rank);
        if (a < 0 || seen[a])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld out of range or repeated", (long long)axes[i]);
        seen[a] = 1;
        /* bounded so that the sums below cannot overflow (undefined) */
        if (pads[i] < -PAD_MAX || pads[i] > PAD_MAX || pads[i + naxes] < -PAD_MAX || pads[i + naxes] > PAD_MAX)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "pads %lld, %lld of axis %d are out of range", (long long)pads[i],
                               (long long)pads[i + naxes], a);
        p->begin[a] = pads[i];
        end[a] = pads[i + naxes];
    }
    for (int i = 0; i < rank; i++) {
        int64_t n = x->dims[i], o = n + p->begin[i] + end[i];
        if (o < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "pads make axis %d negative", i);
        if (p->mode != PAD_CONSTANT && o > 0 && n == 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot pad an empty axis %d in this mode", i);
        if (y)
            y->dims[i] = o;
    }
    if (y) {
        y->dtype = x->dtype;
        y->rank = rank;
    }
    return QFD_OK;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    pad_plan p;
    return make_plan(oc, &p, oc->out[0]);
}

/* Source index of j for an axis of size n, or -1 for the constant. */
static int64_t map_index(int mode, int64_t j, int64_t n)
{
    if (j >= 0 && j < n)
        return j;
    switch (mode) {
    case PAD_EDGE: return j < 0 ? 0 : n - 1;
    case PAD_WRAP: return ((j % n) + n) % n;
    case PAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t period = 2 * (n - 1), m = ((j % period) + period) % period;
        return m < n ? m : period - m;
    }
    default: return -1;
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    pad_plan p;
    qfd_status st = make_plan(oc, &p, NULL);
    if (st)
        return st;
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    size_t es = (size_t)elem_size(x->dtype);
    uint8_t cval[8] = {0};
    if (p.mode == PAD_CONSTANT) {
        const qfd_array *cv = oc->opset >= 11 ? qfd_op_in(oc, 2) : NULL;
        if (cv)
            memcpy(cval, cv->data, es);
        else if (oc->opset < 11) {
            float v = qfd_attr_float(oc->node, "value", 0.0f);
            if (x->dtype == QFD_DT_FLOAT)
                memcpy(cval, &v, sizeof v);
            else if (v != 0.0f)
                return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "a non-zero value needs float data");
        }
    }
    int rank = x->rank;
    int64_t ny = qfd_array_numel(y);
    if (ny == 0)
        return QFD_OK;
    if (rank == 0) {
        memcpy(y->data, x->data, es);
        return QFD_OK;
    }
    int last = rank - 1;
    int64_t inner_o = y->dims[last], inner_i = x->dims[last], rows = ny / inner_o;
    int64_t xstride[QFD_ARRAY_MAX_RANK];
    xstride[last] = 1;
    for (int i = last - 1; i >= 0; i--)
        xstride[i] = xstride[i + 1] * x->dims[i + 1];
    /* The run of y's row that maps straight onto x's row. */
    int64_t lo = p.begin[last] > 0 ? p.begin[last] : 0;
    int64_t hi = inner_i + p.begin[last] < inner_o ? inner_i + p.begin[last] : inner_o;
    if (hi < lo)
        hi = lo;
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    int64_t idx[QFD_ARRAY_MAX_RANK] = {0};
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *yr = yd + (size_t)(r * inner_o) * es;
        int64_t src = 0;
        for (int d = 0; d < last && src >= 0; d++) {
            int64_t s = map_index(p.mode, idx[d] - p.begin[d], x->dims[d]);
            src = s < 0 ? -1 : src + s * xstride[d];
        }
        if (src < 0) {
            for (int64_t j = 0; j < inner_o; j++)
                memcpy(yr + (size_t)j * es, cval, es);
        } else {
            const uint8_t *xr = xd + (size_t)src * es;
            for (int64_t j = 0; j < lo; j++) {
                int64_t s = map_index(p.mode, j - p.begin[last], inner_i);
                memcpy(yr + (size_t)j * es, s < 0 ? cval : xr + (size_t)s * es, es);
            }
            if (hi > lo)
                memcpy(yr + (size_t)lo * es, xr + (size_t)(lo - p.begin[last]) * es, (size_t)(hi - lo) * es);
            for (int64_t j = hi; j < inner_o; j++) {
                int64_t s = map_index(p.mode, j - p.begin[last], inner_i);
                memcpy(yr + (size_t)j * es, s < 0 ? cval : xr + (size_t)s * es, es);
            }
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return QFD_OK;
}

/* Walks y row by row as forward does: dy of an element read from x[s] is
 * added into dx[s] (when dx is non-NULL), that of a padded constant into
 * *dcv. Serial: in edge/reflect/wrap modes several rows feed the same x. */
static void scatter(const pad_plan *p, const qfd_array *x, const qfd_array *y, const float *dy, float *dx, double *dcv)
{
    int last = x->rank - 1;
    int64_t inner_o = y->dims[last], inner_i = x->dims[last], rows = qfd_array_numel(y) / inner_o;
    int64_t xstride[QFD_ARRAY_MAX_RANK], idx[QFD_ARRAY_MAX_RANK] = {0};
    xstride[last] = 1;
    for (int i = last - 1; i >= 0; i--)
        xstride[i] = xstride[i + 1] * x->dims[i + 1];
    double cv = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * inner_o;
        int64_t src = 0;
        for (int d = 0; d < last && src >= 0; d++) {
            int64_t s = map_index(p->mode, idx[d] - p->begin[d], x->dims[d]);
            src = s < 0 ? -1 : src + s * xstride[d];
        }
        for (int64_t j = 0; j < inner_o; j++) {
            int64_t s = src < 0 ? -1 : map_index(p->mode, j - p->begin[last], inner_i);
            if (s < 0)
                cv += dyr[j];
            else if (dx)
                dx[src + s] += dyr[j];
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    *dcv += cv;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0], *y = oc->out[0];
    if (!oc->gout[0] || x->dtype != QFD_DT_FLOAT)
        return QFD_OK;
    pad_plan p;
    qfd_status st = make_plan(oc, &p, NULL);
    if (st)
        return st;
    const float *dy = oc->gout[0]->data;
    float *dx = oc->gin[0] ? oc->gin[0]->data : NULL;
    /* constant_value (opset >= 11 input 2) is used only in constant mode. */
    qfd_array *gcv = p.mode == PAD_CONSTANT && oc->opset >= 11 && oc->n_in > 2 ? oc->gin[2] : NULL;
    int rank = x->rank;
    int64_t nx = qfd_array_numel(x), ny = qfd_array_numel(y);
    if (rank == 0) {
        if (dx)
            dx[0] += dy[0];
        return QFD_OK;
    }
    if (gcv && ny > 0) {
        double cv = 0;
        scatter(&p, x, y, dy, NULL, &cv);
        *(float *)gcv->data += (float)cv;
    }
    if (!dx || nx == 0 || ny == 0)
        return QFD_OK;
    if (p.mode != PAD_CONSTANT) {
        double unused = 0;
        scatter(&p, x, y, dy, dx, &unused);
        return QFD_OK;
    }
    /* Constant mode: each x row reads from at most one y row, so x rows run
     * in parallel, each finding its y row from its own index. */
    int last = rank - 1;
    int64_t inner_o = y->dims[last], inner_i = x->dims[last], rows = nx / inner_i, b = p.begin[last];
    int64_t lo = b < 0 ? -b : 0, hi = inner_o - b < inner_i ? inner_o - b : inner_i;
    if (hi <= lo)
        return QFD_OK;
#pragma omp parallel for num_threads(oc->n_threads) if (nx > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, ybase = 0, ystride = inner_o;
        int inside = 1;
        for (int d = last - 1; d >= 0 && inside; d--) {
            int64_t yi = rem % x->dims[d] + p.begin[d];
            rem /= x->dims[d];
            inside = yi >= 0 && yi < y->dims[d];
            ybase += yi * ystride;
            ystride *= y->dims[d];
        }
        if (!inside)
            continue;
        float *dxr = dx + r * inner_i;
        const float *dyr = dy + ybase + b;
        for (int64_t j = lo; j < hi; j++)
            dxr[j] += dyr[j];
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_pad = {.name = "Pad",
                               .domain = "",
                               .since = 1,
                               .param_role = QFD_ROLES_PASS0,
                               .value_inputs = 1u << 1 | 1u << 3, /* pads, axes */
                               .infer = infer,
                               .forward = forward,
                               .backward = backward};
