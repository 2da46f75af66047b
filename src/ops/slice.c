/* Slice (opsets 1-21): y[.., i, ..] = x[.., start + i * step, ..] on each
 * sliced axis, dim(y) = max(0, ceil((end - start) / step)).
 * starts/ends/axes are attributes before opset 10 (step 1); from 10 they
 * and steps are inputs, which must be known when the model is planned.
 * Negative starts/ends count from the end; then they are clamped to
 * [0, dim] for a positive step and [0, dim - 1] / [-1, dim - 1] for a
 * negative one, so INT64_MAX / INT64_MIN act as "to the end".
 * Backward: dx[.., start + i * step, ..] += dy[.., i, ..] (scatter-add at
 * the sliced positions, which are distinct, so rows run in parallel);
 * starts/ends/axes/steps are integers and get no gradient.
 */
#include <string.h>

#include "ops/op.h"

typedef struct slice_state {
    int rank;                          /* of x */
    int64_t start[QFD_ARRAY_MAX_RANK]; /* per axis of x, after clamping */
    int64_t step[QFD_ARRAY_MAX_RANK];
} slice_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    (void)oc;
    memset(state, 0, sizeof(slice_state));
    return QFD_OK;
}

/* Reads one of starts/ends/axes/steps (attribute or input) into v. */
static qfd_status get_list(const qfd_op_ctx *oc, const char *name, size_t input, int64_t *v, int64_t *n, int *present)
{
    *n = 0;
    *present = 0;
    if (oc->opset < 10) {
        const int64_t *a;
        size_t k = qfd_attr_ints(oc->node, name, &a);
        *present = qfd_attr_get(oc->node, name) != NULL;
        if (k > QFD_ARRAY_MAX_RANK)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "%s has %zu values, more than the rank", name, k);
        if (k)
            memcpy(v, a, k * sizeof *a);
        *n = (int64_t)k;
        return QFD_OK;
    }
    const qfd_array *t = qfd_op_in(oc, input);
    if (!t)
        return QFD_OK;
    *present = 1;
    return qfd_shape_known_ints(oc, t, name, v, QFD_ARRAY_MAX_RANK, n);
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    slice_state *s = oc->state;
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    int64_t starts[QFD_ARRAY_MAX_RANK], ends[QFD_ARRAY_MAX_RANK], axes[QFD_ARRAY_MAX_RANK], steps[QFD_ARRAY_MAX_RANK];
    int64_t ns, ne, na, nst;
    int ps, pe, pa, pst;
    qfd_status st;
    if ((st = get_list(oc, "starts", 1, starts, &ns, &ps)) || (st = get_list(oc, "ends", 2, ends, &ne, &pe)) ||
        (st = get_list(oc, "axes", 3, axes, &na, &pa)))
        return st;
    pst = 0;
    nst = 0;
    if (oc->opset >= 10 && (st = get_list(oc, "steps", 4, steps, &nst, &pst)))
        return st;
    if (!ps || !pe)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "starts and ends are required");
    if (ns != ne || (pa && na != ns) || (pst && nst != ns))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "starts, ends, axes and steps differ in length");
    s->rank = x->rank;
    for (int k = 0; k < x->rank; k++) {
        s->start[k] = 0;
        s->step[k] = 1;
    }
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x);
    int seen[QFD_ARRAY_MAX_RANK] = {0};
    for (int64_t i = 0; i < ns; i++) {
        int64_t ax = pa ? axes[i] : i;
        int a = qfd_norm_axis(ax, x->rank);
        if (a < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)ax, x->rank);
        if (seen[a])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is repeated", (long long)ax);
        seen[a] = 1;
        int64_t d = x->dims[a], step = pst ? steps[i] : 1, b = starts[i], e = ends[i];
        if (step == 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "step of axis %d is 0", a);
        if (b < 0)
            b += d; /* no overflow: d >= 0 */
        if (e < 0)
            e += d;
        if (step > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            e = e < 0 ? 0 : e > d ? d : e;
        } else {
            b = b < 0 ? 0 : b > d - 1 ? d - 1 : b;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
        }
        /* |e - b| <= d + 1, so this arithmetic cannot overflow. */
        int64_t len = step > 0 ? (e - b + step - 1) / step : (b - e + (-step) - 1) / (-step);
        if (len <= 0) {
            len = 0;
            b = 0;
        }
        y->dims[a] = len;
        s->start[a] = b;
        s->step[a] = step;
    }
    return QFD_OK;
}

/* Outer loop over output rows (all axes up to `last`), inner copy of a run. */
static qfd_status forward(qfd_op_ctx *oc)
{
    const slice_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    int r = x->rank;
    int64_t numel = qfd_array_numel(y);
    if (numel <= 0)
        return QFD_OK;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return QFD_OK;
    }
    /* Trailing axes taken whole form one contiguous unit of `unit` bytes. */
    int last = r - 1;
    size_t unit = es;
    while (last > 0 && s->step[last] == 1 && y->dims[last] == x->dims[last]) {
        unit *= (size_t)x->dims[last];
        last--;
    }
    int64_t xs[QFD_ARRAY_MAX_RANK]; /* strides of x in units */
    int64_t acc = 1;
    for (int k = last; k >= 0; k--) {
        xs[k] = acc;
        acc *= x->dims[k];
    }
    int64_t n = y->dims[last], step = s->step[last], rows = 1;
    for (int k = 0; k < last; k++)
        rows *= y->dims[k];
    const uint8_t *xd = x->data;
    uint8_t *yd = y->data;
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (numel > 65536 && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = s->start[last] * xs[last], rem = row;
        for (int k = last - 1; k >= 0; k--) {
            off += (s->start[k] + rem % y->dims[k] * s->step[k]) * xs[k];
            rem /= y->dims[k];
        }
        uint8_t *yr = yd + (size_t)(row * n) * unit;
        const uint8_t *xr = xd + (size_t)off * unit;
        if (step == 1) {
            memcpy(yr, xr, (size_t)n * unit);
        } else if (unit == 4) {
            for (int64_t i = 0; i < n; i++)
                memcpy(yr + 4 * i, xr + 4 * i * step, 4);
        } else {
            for (int64_t i = 0; i < n; i++)
                memcpy(yr + (size_t)i * unit, xr + (ptrdiff_t)(i * step) * (ptrdiff_t)unit, unit);
        }
    }
    return QFD_OK;
}

/* Forward's loop in float, reversed: rows of dy added into dx. */
static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const slice_state *s = oc->state;
    const qfd_array *x = oc->in[0], *gy = oc->gout[0];
    float *dx = oc->gin[0]->data;
    const float *dy = gy->data;
    int r = x->rank;
    int64_t numel = qfd_array_numel(gy);
    if (numel <= 0)
        return QFD_OK;
    if (r == 0) {
        dx[0] += dy[0];
        return QFD_OK;
    }
    /* Trailing axes taken whole form one contiguous unit of `unit` floats. */
    int last = r - 1;
    int64_t unit = 1;
    while (last > 0 && s->step[last] == 1 && gy->dims[last] == x->dims[last]) {
        unit *= x->dims[last];
        last--;
    }
    int64_t xs[QFD_ARRAY_MAX_RANK]; /* strides of x in units */
    int64_t acc = 1;
    for (int k = last; k >= 0; k--) {
        xs[k] = acc;
        acc *= x->dims[k];
    }
    int64_t n = gy->dims[last], step = s->step[last], rows = 1;
    for (int k = 0; k < last; k++)
        rows *= gy->dims[k];
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (numel > 65536 && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = s->start[last] * xs[last], rem = row;
        for (int k = last - 1; k >= 0; k--) {
            off += (s->start[k] + rem % gy->dims[k] * s->step[k]) * xs[k];
            rem /= gy->dims[k];
        }
        const float *yr = dy + row * n * unit;
        float *xr = dx + off * unit;
        if (unit == 1) {
            for (int64_t i = 0; i < n; i++)
                xr[i * step] += yr[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                for (int64_t u = 0; u < unit; u++)
                    xr[i * step * unit + u] += yr[i * unit + u];
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_slice = {
    .name = "Slice",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 0x1Eu /* starts, ends, axes, steps */,
    .state_size = sizeof(slice_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward = backward,
    .backward_reads = qfd_reads_all_but_x,
};
