/* Trilu (opsets 14-21): keeps the upper (upper = 1, the default) or lower
 * triangle of the last two axes and zeroes the rest: with i the row and j
 * the column, upper keeps j - i >= k and lower keeps j - i <= k, k the
 * optional int64 scalar input (default 0). Any whole-byte element type
 * (zero is all-zero bytes for every one of them).
 * Backward: dx = dy on the kept elements, 0 elsewhere. */
#include <string.h>

#include "ops/op.h"

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *k = qfd_op_in(oc, 1);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input and one output");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (x->rank < 2)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "input rank %d is below 2", x->rank);
    if (k && (k->dtype != QFD_DT_INT64 || qfd_array_numel(k) != 1))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "k must be one int64");
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static int64_t get_k(const qfd_op_ctx *oc)
{
    const qfd_array *k = qfd_op_in(oc, 1);
    return k ? *(const int64_t *)k->data : 0;
}

/* Whether element (i, j) of a matrix is kept. */
static bool kept(int upper, int64_t k, int64_t i, int64_t j)
{
    return upper ? j - i >= k : j - i <= k;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1], k = get_k(oc);
    int64_t mats = rows > 0 && cols > 0 ? qfd_array_numel(x) / (rows * cols) : 0;
    int upper = qfd_attr_int(oc->node, "upper", 1) != 0;
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    const uint8_t *xd = x->data;
    uint8_t *yd = oc->out[0]->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                size_t o = (size_t)((m * rows + i) * cols + j) * es;
                if (kept(upper, k, i, j))
                    memcpy(yd + o, xd + o, es);
                else
                    memset(yd + o, 0, es);
            }
    return QFD_OK;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    const qfd_array *x = oc->in[0];
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1], k = get_k(oc);
    int64_t mats = rows > 0 && cols > 0 ? qfd_array_numel(x) / (rows * cols) : 0;
    int upper = qfd_attr_int(oc->node, "upper", 1) != 0;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                if (kept(upper, k, i, j))
                    dx[(m * rows + i) * cols + j] += dy[(m * rows + i) * cols + j];
    return QFD_OK;
}

const qfd_op_def qfd_op_trilu = {
    .name = "Trilu",
    .domain = "",
    .since = 14,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward,
    .backward = backward,
};
