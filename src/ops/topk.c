/* TopK (opsets 1-21; K an input from 10, largest and sorted from 11):
 * values and int64 indices of the K largest (largest = 1, the default) or
 * smallest elements along axis (default -1), in order from the largest
 * (smallest) down; equal values keep the smaller index first, as ONNX
 * specifies. sorted = 0 may return them in any order: this returns them
 * sorted anyway. K is a one-element int64 tensor known when the model is
 * planned (it sets the output shape). Float, double, int32, int64.
 * NaN sorts above every number (numpy's order).
 * Backward (float32 values): dx[index] += dvalues; none to the indices. */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

typedef struct topk_item {
    double v;
    int64_t i;
} topk_item;

static int cmp_largest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return bn - an; /* NaN first */
    if (!an && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int cmp_smallest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return an - bn; /* NaN last */
    if (!an && a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int get_axis(const qfd_op_ctx *oc)
{
    return qfd_norm_axis(qfd_attr_int(oc->node, "axis", -1), oc->in[0]->rank);
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 2 || !oc->out[0] || !oc->out[1])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input X and outputs Values, Indices");
    if (x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE && x->dtype != QFD_DT_INT32 && x->dtype != QFD_DT_INT64)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    int axis = get_axis(oc);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld is out of range for rank %d",
                           (long long)qfd_attr_int(oc->node, "axis", -1), x->rank);
    int64_t k;
    if (oc->opset >= 10) {
        int64_t n;
        qfd_status st = qfd_shape_known_ints(oc, qfd_op_in(oc, 1), "K", &k, 1, &n);
        if (st)
            return st;
        if (n != 1)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "K must hold one value");
    } else {
        k = qfd_attr_int(oc->node, "k", -1);
    }
    if (k < 0 || k > x->dims[axis])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "K = %lld is not in [0, %lld]", (long long)k, (long long)x->dims[axis]);
    qfd_array_like(oc->out[0], x);
    oc->out[0]->dims[axis] = k;
    qfd_array_like(oc->out[1], oc->out[0]);
    oc->out[1]->dtype = QFD_DT_INT64;
    return QFD_OK;
}

static void split(const qfd_op_ctx *oc, int64_t *outer, int64_t *d, int64_t *inner)
{
    const qfd_array *x = oc->in[0];
    int axis = get_axis(oc);
    *outer = *inner = 1;
    *d = x->dims[axis];
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            *outer *= x->dims[i];
        else if (i > axis)
            *inner *= x->dims[i];
    }
}

static size_t workspace(const qfd_op_ctx *oc)
{
    int64_t outer, d, inner;
    split(oc, &outer, &d, &inner);
    return (size_t)d * sizeof(topk_item);
}

static double get(const qfd_array *x, int64_t i)
{
    switch (x->dtype) {
    case QFD_DT_FLOAT: return ((const float *)x->data)[i];
    case QFD_DT_DOUBLE: return ((const double *)x->data)[i];
    case QFD_DT_INT32: return ((const int32_t *)x->data)[i];
    default: return (double)((const int64_t *)x->data)[i];
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *vals = oc->out[0], *idx = oc->out[1];
    int64_t outer, d, inner, k = vals->dims[get_axis(oc)];
    split(oc, &outer, &d, &inner);
    int largest = oc->opset < 11 || qfd_attr_int(oc->node, "largest", 1) != 0;
    topk_item *it = oc->ws;
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < inner; c++) {
            for (int64_t j = 0; j < d; j++)
                it[j] = (topk_item){get(x, (o * d + j) * inner + c), j};
            if (d > 1)
                qsort(it, (size_t)d, sizeof *it, largest ? cmp_largest : cmp_smallest);
            for (int64_t j = 0; j < k; j++) {
                int64_t src = (o * d + it[j].i) * inner + c, dst = (o * k + j) * inner + c;
                memcpy((uint8_t *)vals->data + (size_t)dst * es, (const uint8_t *)x->data + (size_t)src * es, es);
                ((int64_t *)idx->data)[dst] = it[j].i;
            }
        }
    }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    int64_t outer, d, inner, k = oc->out[0]->dims[get_axis(oc)];
    split(oc, &outer, &d, &inner);
    float *dx = oc->gin[0]->data;
    const float *dv = oc->gout[0]->data;
    const int64_t *ix = oc->out[1]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < k; j++)
            for (int64_t c = 0; c < inner; c++) {
                int64_t at = (o * k + j) * inner + c;
                dx[(o * d + ix[at]) * inner + c] += dv[at];
            }
    return QFD_OK;
}

const qfd_op_def qfd_op_topk = {
    .name = "TopK",
    .domain = "",
    .since = 1,
    .value_inputs = 2u,
    .infer = infer,
    .workspace = workspace,
    .forward = forward,
    .backward = backward,
};
