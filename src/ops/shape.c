/* Shape (opsets 1-21): y = int64 1-D tensor of x.dims[start:end]; start
 * and end (opset 15, default 0 and rank) count from the end when
 * negative and are clamped to [0, rank]. Reads only x's shape, so the
 * executor folds it (and what follows from it) when the model is planned.
 */
#include "ops/op.h"

static void range(const qfd_op_ctx *oc, int rank, int64_t *b, int64_t *e)
{
    *b = oc->opset >= 15 ? qfd_attr_int(oc->node, "start", 0) : 0;
    *e = oc->opset >= 15 ? qfd_attr_int(oc->node, "end", rank) : rank;
    if (*b < 0)
        *b += rank;
    if (*e < 0)
        *e += rank;
    *b = *b < 0 ? 0 : *b > rank ? rank : *b;
    *e = *e < 0 ? 0 : *e > rank ? rank : *e;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and one output");
    int64_t b, e;
    range(oc, x->rank, &b, &e);
    qfd_array *y = oc->out[0];
    y->dtype = QFD_DT_INT64;
    y->rank = 1;
    y->dims[0] = e > b ? e - b : 0;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    int64_t b, e, *y = oc->out[0]->data;
    range(oc, x->rank, &b, &e);
    for (int64_t i = b; i < e; i++)
        y[i - b] = x->dims[i];
    return QFD_OK;
}

const qfd_op_def qfd_op_shape = {
    .name = "Shape",
    .domain = "",
    .since = 1,
    .flags = QFD_OP_SHAPE_ONLY,
    .infer = infer,
    .forward = forward,
};
