/* Dropout (opsets 1-21), inference only: y = x and the optional mask is all
 * kept (true; 1 of x's type before opset 10). The ratio (attribute, or
 * input 1 from opset 12) has no effect at inference. Training mode
 * (training_mode input true, opset 12+) fails as unsupported. Before opset
 * 7 the is_test attribute is ignored: the node runs as at inference. */
#include <string.h>

#include "ops/op.h"

/* Opsets 12+: 1 when training_mode is given and true, 0 when false or
 * omitted, -1 when its value is not known yet. */
static int training(const qfd_op_ctx *oc)
{
    const qfd_array *t = oc->opset >= 12 ? qfd_op_in(oc, 2) : NULL;
    if (!t)
        return 0;
    if (!t->data)
        return -1;
    return qfd_array_numel(t) > 0 && ((const uint8_t *)t->data)[0] != 0;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input data and output");
    const qfd_array *t = oc->opset >= 12 ? qfd_op_in(oc, 2) : NULL;
    if (t && (t->dtype != QFD_DT_BOOL || qfd_array_numel(t) != 1))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "training_mode must be a bool scalar");
    if (training(oc) == 1)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "training mode is not supported");
    qfd_array_like(oc->out[0], x);
    qfd_array *m = oc->n_out > 1 ? oc->out[1] : NULL;
    if (m) {
        int32_t dt = x->dtype;
        if (oc->opset < 10 && dt != QFD_DT_FLOAT && dt != QFD_DT_DOUBLE && dt != QFD_DT_FLOAT16)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "a mask of type %s is not supported",
                               qfd_dtype_name(dt) ? qfd_dtype_name(dt) : "?");
        qfd_array_like(m, x);
        m->dtype = oc->opset < 10 ? dt : QFD_DT_BOOL;
    }
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    if (training(oc))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "training mode is not supported");
    qfd_array *y = oc->out[0];
    if (y->data != oc->in[0]->data)
        memcpy(y->data, oc->in[0]->data, y->nbytes);
    qfd_array *m = oc->n_out > 1 ? oc->out[1] : NULL;
    if (!m)
        return QFD_OK;
    int64_t n = qfd_array_numel(m);
    switch (m->dtype) {
    case QFD_DT_FLOAT:
        for (int64_t i = 0; i < n; i++)
            ((float *)m->data)[i] = 1.0f;
        break;
    case QFD_DT_DOUBLE:
        for (int64_t i = 0; i < n; i++)
            ((double *)m->data)[i] = 1.0;
        break;
    case QFD_DT_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)m->data)[i] = 0x3c00; /* 1.0 */
        break;
    default:
        memset(m->data, 1, (size_t)n);
        break;
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_dropout = {.name = "Dropout", .domain = "", .since = 1, .infer = infer, .forward = forward};
