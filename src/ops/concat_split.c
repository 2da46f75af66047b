/* Concat and Split, moved as bytes so that every element type works.
 *   Concat (opsets 1-21): y = x0 ++ x1 ++ ... along axis (default 1 before
 *          opset 4, required after; negative from 11).
 *   Split  (opsets 1-21): y_i = x[.., o_i : o_i + split[i], ..] along axis
 *          (default 0). Sizes: `split` attribute before 13, optional input
 *          from 13; without them equal parts, or from opset 18 the
 *          num_outputs attribute with ceil(dim / n) parts, the last smaller.
 * Both view x as [outer, dim(axis) * inner] and copy contiguous runs.
 * Backward (float gradients only):
 *   Concat: dx_i += dy[.., o_i : o_i + dim_i(axis), ..], the slice of y
 *           that x_i filled.
 *   Split:  dx[.., o_i : o_i + split[i], ..] += dy_i; an output with no
 *           gradient (dy_i NULL) adds nothing.
 */
#include <string.h>

#include "ops/op.h"

#define MAX_SPLIT 1024

static int elem_size(int32_t dt)
{
    int bits = qfd_dtype_bits(dt);
    return bits >= 8 && bits % 8 == 0 ? bits / 8 : 0;
}

static qfd_status concat_infer(qfd_op_ctx *oc)
{
    if (oc->n_in < 1 || !oc->in[0] || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs and one output");
    const qfd_array *x0 = oc->in[0];
    int64_t axis_attr = qfd_attr_int(oc->node, "axis", oc->opset < 4 ? 1 : INT64_MIN);
    if (axis_attr == INT64_MIN)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing attribute axis");
    if (x0->rank == 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot concatenate scalars");
    int axis = qfd_norm_axis(axis_attr, x0->rank);
    if (axis < 0 || (oc->opset < 11 && axis_attr < 0))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis_attr,
                           x0->rank);
    if (!elem_size(x0->dtype))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x0->dtype);
    int64_t total = 0;
    for (size_t i = 0; i < oc->n_in; i++) {
        const qfd_array *x = oc->in[i];
        if (!x)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu is missing", i);
        if (x->dtype != x0->dtype || x->rank != x0->rank)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu differs in type or rank from input 0", i);
        for (int k = 0; k < x->rank; k++)
            if (k != axis && x->dims[k] != x0->dims[k])
                return qfd_op_fail(oc, QFD_ERR_INVALID, "input %zu: dimension %d is %lld, input 0 has %lld", i, k,
                                   (long long)x->dims[k], (long long)x0->dims[k]);
        total += x->dims[axis];
    }
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x0);
    y->dims[axis] = total;
    *(int *)oc->state = axis;
    return QFD_OK;
}

static qfd_status axis_parse(qfd_op_ctx *oc, void *state)
{
    (void)oc;
    *(int *)state = 0;
    return QFD_OK;
}

/* outer = prod(dims[:axis]); inner bytes per unit of the axis. */
static void outer_inner(const qfd_array *a, int axis, int64_t *outer, size_t *inner)
{
    *outer = 1;
    *inner = (size_t)elem_size(a->dtype);
    for (int k = 0; k < a->rank; k++) {
        if (k < axis)
            *outer *= a->dims[k];
        else if (k > axis)
            *inner *= (size_t)a->dims[k];
    }
}

static qfd_status concat_forward(qfd_op_ctx *oc)
{
    int axis = *(const int *)oc->state;
    qfd_array *y = oc->out[0];
    int64_t outer;
    size_t inner;
    outer_inner(y, axis, &outer, &inner);
    size_t yrow = inner * (size_t)y->dims[axis];
    uint8_t *yd = y->data;
    int nt = oc->n_threads;
    if (!yrow)
        return QFD_OK;
#pragma omp parallel for num_threads(nt) if (y->nbytes > 262144 && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        size_t off = (size_t)o * yrow;
        for (size_t i = 0; i < oc->n_in; i++) {
            size_t len = inner * (size_t)oc->in[i]->dims[axis];
            if (len)
                memcpy(yd + off, (const uint8_t *)oc->in[i]->data + (size_t)o * len, len);
            off += len;
        }
    }
    return QFD_OK;
}

/* Float view of outer_inner: elements per unit of the axis. */
static void outer_inner_f(const qfd_array *a, int axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int k = 0; k < a->rank; k++) {
        if (k < axis)
            *outer *= a->dims[k];
        else if (k > axis)
            *inner *= a->dims[k];
    }
}

static qfd_status concat_backward(qfd_op_ctx *oc)
{
    const qfd_array *gy = oc->gout[0];
    if (!gy)
        return QFD_OK;
    int axis = *(const int *)oc->state;
    int64_t outer, inner;
    outer_inner_f(gy, axis, &outer, &inner);
    int64_t yrow = inner * gy->dims[axis];
    const float *dy = gy->data;
    int nt = oc->n_threads;
    if (!yrow)
        return QFD_OK;
#pragma omp parallel for num_threads(nt) if (outer * yrow > 65536 && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        int64_t off = o * yrow;
        for (size_t i = 0; i < oc->n_in; i++) {
            int64_t len = inner * oc->in[i]->dims[axis];
            if (oc->gin[i]) {
                float *dx = (float *)oc->gin[i]->data + o * len;
                for (int64_t j = 0; j < len; j++)
                    dx[j] += dy[off + j];
            }
            off += len;
        }
    }
    return QFD_OK;
}

static qfd_status split_infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and outputs");
    int64_t axis_attr = qfd_attr_int(oc->node, "axis", 0);
    int axis = qfd_norm_axis(axis_attr, x->rank);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis_attr, x->rank);
    if (!elem_size(x->dtype))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (oc->n_out > MAX_SPLIT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "more than %d outputs", MAX_SPLIT);
    int64_t sizes[MAX_SPLIT], n = 0, dim = x->dims[axis];
    qfd_status st;
    const qfd_array *sp = oc->opset >= 13 ? qfd_op_in(oc, 1) : NULL;
    const qfd_attr *num = oc->opset >= 18 ? qfd_attr_get(oc->node, "num_outputs") : NULL;
    if (sp) {
        if ((st = qfd_shape_known_ints(oc, sp, "split", sizes, MAX_SPLIT, &n)))
            return st;
    } else if (oc->opset < 13 && qfd_attr_get(oc->node, "split")) {
        const int64_t *v;
        n = (int64_t)qfd_attr_ints(oc->node, "split", &v);
        if (n > MAX_SPLIT)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "more than %d outputs", MAX_SPLIT);
        if (n)
            memcpy(sizes, v, (size_t)n * sizeof *v);
    } else if (num && num->has_i) {
        if (num->i != (int64_t)oc->n_out)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "num_outputs is %lld but the node has %zu outputs",
                               (long long)num->i, oc->n_out);
        n = num->i;
        int64_t chunk = (dim + n - 1) / n;
        for (int64_t i = 0; i < n; i++)
            sizes[i] = i < n - 1 ? chunk : dim - chunk * (n - 1);
        if (sizes[n - 1] < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "dimension %lld does not split into %lld chunks of %lld",
                               (long long)dim, (long long)n, (long long)chunk);
    } else {
        n = (int64_t)oc->n_out;
        if (dim % n)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "dimension %lld does not split into %lld equal parts",
                               (long long)dim, (long long)n);
        for (int64_t i = 0; i < n; i++)
            sizes[i] = dim / n;
    }
    if (n != (int64_t)oc->n_out)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "split has %lld sizes for %zu outputs", (long long)n, oc->n_out);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "split size %lld is negative", (long long)sizes[i]);
        sum += sizes[i];
    }
    if (sum != dim)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "split sizes add up to %lld, dimension %d is %lld", (long long)sum,
                           axis, (long long)dim);
    for (size_t i = 0; i < oc->n_out; i++) {
        if (!oc->out[i]) /* forward reads each part's size from its output */
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "output %zu is omitted", i);
        qfd_array_like(oc->out[i], x);
        oc->out[i]->dims[axis] = sizes[i];
    }
    *(int *)oc->state = axis;
    return QFD_OK;
}

static qfd_status split_forward(qfd_op_ctx *oc)
{
    int axis = *(const int *)oc->state;
    const qfd_array *x = oc->in[0];
    int64_t outer;
    size_t inner;
    outer_inner(x, axis, &outer, &inner);
    size_t xrow = inner * (size_t)x->dims[axis];
    const uint8_t *xd = x->data;
    int nt = oc->n_threads;
    if (!xrow)
        return QFD_OK;
#pragma omp parallel for num_threads(nt) if (x->nbytes > 262144 && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        size_t off = (size_t)o * xrow;
        for (size_t i = 0; i < oc->n_out; i++) {
            size_t len = inner * (size_t)oc->out[i]->dims[axis];
            if (len)
                memcpy((uint8_t *)oc->out[i]->data + (size_t)o * len, xd + off, len);
            off += len;
        }
    }
    return QFD_OK;
}

static qfd_status split_backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0])
        return QFD_OK;
    int axis = *(const int *)oc->state;
    const qfd_array *x = oc->in[0];
    int64_t outer, inner;
    outer_inner_f(x, axis, &outer, &inner);
    int64_t xrow = inner * x->dims[axis];
    float *dx = oc->gin[0]->data;
    int nt = oc->n_threads;
    if (!xrow)
        return QFD_OK;
#pragma omp parallel for num_threads(nt) if (outer * xrow > 65536 && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        int64_t off = o * xrow;
        for (size_t i = 0; i < oc->n_out; i++) {
            int64_t len = inner * oc->out[i]->dims[axis];
            if (oc->gout[i]) {
                const float *dy = (const float *)oc->gout[i]->data + o * len;
                for (int64_t j = 0; j < len; j++)
                    dx[off + j] += dy[j];
            }
            off += len;
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_concat = {
    .name = "Concat",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_ALL(QFD_ROLE_DATA),
    .state_size = sizeof(int),
    .parse = axis_parse,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .backward_reads = qfd_reads_nothing,
};

const qfd_op_def qfd_op_split = {
    .name = "Split",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .value_inputs = 1u << 1,
    .state_size = sizeof(int),
    .parse = axis_parse,
    .infer = split_infer,
    .forward = split_forward,
    .backward = split_backward,
    .backward_reads = qfd_reads_nothing,
};
