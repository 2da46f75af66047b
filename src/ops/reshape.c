/* The "view" ops: they change only the shape, y has x's bytes in the same
 * order. Inference shares x's buffer when the executor allows (view());
 * otherwise, and when training, forward copies them.
 *   Reshape   (opsets 1-21): y.shape = shape (attribute before 5, input
 *             from 5); 0 copies x's dim unless allowzero=1 (opset 14);
 *             one -1 is inferred from the element count.
 *   Flatten   (opsets 1-21): y.shape = [prod(x.dims[:axis]),
 *             prod(x.dims[axis:])]; negative axis from opset 11.
 *   Squeeze   (opsets 1-21): removes the listed 1-dims (axes attribute
 *             before 13, optional input from 13), all 1-dims when no axes.
 *   Unsqueeze (opsets 1-21): inserts 1-dims at the axes of the output
 *             (attribute before 13, input from 13).
 * Backward of all four: dx += dy, element by element (same count, same
 * order; only the shape differs). The shape/axes inputs are integers and
 * get no gradient.
 */
#include <string.h>

#include "ops/op.h"

static qfd_status check_in(const qfd_op_ctx *oc, size_t n_required)
{
    for (size_t i = 0; i < n_required; i++)
        if (!qfd_op_in(oc, i))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "missing required input %zu", i);
    if (oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing output");
    return QFD_OK;
}

static qfd_status copy_forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    if (y->data != x->data && y->nbytes)
        memcpy(y->data, x->data, y->nbytes < x->nbytes ? y->nbytes : x->nbytes);
    return QFD_OK;
}

/* The output is the input's bytes from the start. */
static bool whole_view(const qfd_op_ctx *oc, size_t *offset)
{
    (void)oc;
    *offset = 0;
    return true;
}

static qfd_status view_backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    int64_t n = qfd_array_numel(oc->gin[0]);
    int nt = oc->n_threads;
#pragma omp parallel for num_threads(nt) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i];
    return QFD_OK;
}

static qfd_status reshape_infer(qfd_op_ctx *oc)
{
    qfd_status st = check_in(oc, oc->opset >= 5 ? 2 : 1);
    if (st)
        return st;
    const qfd_array *x = oc->in[0];
    int64_t shape[QFD_ARRAY_MAX_RANK];
    int64_t n;
    if (oc->opset >= 5) {
        if ((st = qfd_shape_known_ints(oc, oc->in[1], "shape", shape, QFD_ARRAY_MAX_RANK, &n)))
            return st;
    } else {
        const int64_t *v;
        n = (int64_t)qfd_attr_ints(oc->node, "shape", &v);
        if (n > QFD_ARRAY_MAX_RANK)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "rank %lld is not supported", (long long)n);
        if (n)
            memcpy(shape, v, (size_t)n * sizeof *v);
    }
    int allowzero = oc->opset >= 14 && qfd_attr_int(oc->node, "allowzero", 0);
    int64_t numel = qfd_array_numel(x), known = 1;
    int infer_at = -1;
    qfd_array *y = oc->out[0];
    for (int i = 0; i < (int)n; i++) {
        int64_t d = shape[i];
        if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "shape[%d] = 0 copies a dimension the rank-%d input lacks", i,
                                   x->rank);
            d = x->dims[i];
        } else if (d == -1) {
            if (infer_at >= 0)
                return qfd_op_fail(oc, QFD_ERR_INVALID, "shape has more than one -1");
            infer_at = i;
            continue;
        } else if (d < 0) {
            return qfd_op_fail(oc, QFD_ERR_INVALID, "shape[%d] = %lld is negative", i, (long long)d);
        }
        y->dims[i] = d;
        known *= d;
    }
    if (infer_at >= 0) {
        if (allowzero && known == 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "shape has both 0 and -1 with allowzero=1");
        if (known == 0 || numel % known)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot infer -1: %lld elements do not divide by %lld",
                               (long long)numel, (long long)known);
        y->dims[infer_at] = numel / known;
        known = numel;
    }
    if (known != numel)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot reshape %lld elements into %lld", (long long)numel,
                           (long long)known);
    y->dtype = x->dtype;
    y->rank = (int)n;
    return QFD_OK;
}

static qfd_status flatten_infer(qfd_op_ctx *oc)
{
    qfd_status st = check_in(oc, 1);
    if (st)
        return st;
    const qfd_array *x = oc->in[0];
    int64_t axis = qfd_attr_int(oc->node, "axis", 1);
    int64_t lo = oc->opset >= 11 ? -x->rank : 0;
    if (axis < lo || axis > x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
    if (axis < 0)
        axis += x->rank;
    int64_t a = 1, b = 1;
    for (int i = 0; i < x->rank; i++)
        *(i < axis ? &a : &b) *= x->dims[i];
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = 2;
    y->dims[0] = a;
    y->dims[1] = b;
    return QFD_OK;
}

/* Axes from the attribute (before opset 13) or input 1. */
static qfd_status read_axes(const qfd_op_ctx *oc, int64_t *axes, int64_t *n)
{
    *n = 0;
    if (oc->opset >= 13) {
        const qfd_array *a = qfd_op_in(oc, 1);
        return a ? qfd_shape_known_ints(oc, a, "axes", axes, QFD_ARRAY_MAX_RANK, n) : QFD_OK;
    }
    const int64_t *v;
    size_t k = qfd_attr_ints(oc->node, "axes", &v);
    if (k > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%zu axes are not supported", k);
    if (k)
        memcpy(axes, v, k * sizeof *v);
    *n = (int64_t)k;
    return QFD_OK;
}

static qfd_status squeeze_infer(qfd_op_ctx *oc)
{
    qfd_status st = check_in(oc, 1);
    if (st)
        return st;
    const qfd_array *x = oc->in[0];
    int64_t axes[QFD_ARRAY_MAX_RANK];
    int64_t n;
    if ((st = read_axes(oc, axes, &n)))
        return st;
    int drop[QFD_ARRAY_MAX_RANK] = {0};
    for (int64_t i = 0; i < n; i++) {
        int a = qfd_norm_axis(axes[i], x->rank);
        if (a < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axes[i],
                               x->rank);
        if (drop[a])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is repeated", (long long)axes[i]);
        if (x->dims[a] != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
        drop[a] = 1;
    }
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (!(n ? drop[i] : x->dims[i] == 1))
            y->dims[y->rank++] = x->dims[i];
    return QFD_OK;
}

static qfd_status unsqueeze_infer(qfd_op_ctx *oc)
{
    qfd_status st = check_in(oc, oc->opset >= 13 ? 2 : 1);
    if (st)
        return st;
    const qfd_array *x = oc->in[0];
    int64_t axes[QFD_ARRAY_MAX_RANK];
    int64_t n;
    if ((st = read_axes(oc, axes, &n)))
        return st;
    if (x->rank + n > QFD_ARRAY_MAX_RANK)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output rank %lld is not supported", (long long)(x->rank + n));
    int r = x->rank + (int)n;
    int ins[QFD_ARRAY_MAX_RANK] = {0};
    for (int64_t i = 0; i < n; i++) {
        int a = qfd_norm_axis(axes[i], r);
        if (a < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for output rank %d", (long long)axes[i],
                               r);
        if (ins[a])
            return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is repeated", (long long)axes[i]);
        ins[a] = 1;
    }
    qfd_array *y = oc->out[0];
    y->dtype = x->dtype;
    y->rank = r;
    for (int i = 0, k = 0; i < r; i++)
        y->dims[i] = ins[i] ? 1 : x->dims[k++];
    return QFD_OK;
}

const qfd_op_def qfd_op_reshape = {
    .name = "Reshape",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_REMAT,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 1u << 1,
    .infer = reshape_infer,
    .forward = copy_forward,
    .view = whole_view,
    .backward = view_backward,
    .backward_reads = qfd_reads_nothing,
};

const qfd_op_def qfd_op_flatten = {
    .name = "Flatten",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_REMAT,
    .param_role = QFD_ROLES_PASS0,
    .infer = flatten_infer,
    .forward = copy_forward,
    .view = whole_view,
    .backward = view_backward,
    .backward_reads = qfd_reads_nothing,
};

const qfd_op_def qfd_op_squeeze = {
    .name = "Squeeze",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_REMAT,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 1u << 1,
    .infer = squeeze_infer,
    .forward = copy_forward,
    .view = whole_view,
    .backward = view_backward,
    .backward_reads = qfd_reads_nothing,
};

const qfd_op_def qfd_op_unsqueeze = {
    .name = "Unsqueeze",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_REMAT,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 1u << 1,
    .infer = unsqueeze_infer,
    .forward = copy_forward,
    .view = whole_view,
    .backward = view_backward,
    .backward_reads = qfd_reads_nothing,
};
