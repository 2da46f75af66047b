/* Identity (opsets 1-21): y = x;  dx += dy.
 * Also the template for a simple op file. */
#include <string.h>

#include "ops/op.h"

static qfd_status infer(qfd_op_ctx *oc)
{
    qfd_array_like(oc->out[0], oc->in[0]);
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    memcpy(oc->out[0]->data, oc->in[0]->data, oc->out[0]->nbytes);
    return QFD_OK;
}

/* Inference may share x's buffer instead of copying. */
static bool view(const qfd_op_ctx *oc, size_t *offset)
{
    (void)oc;
    *offset = 0;
    return true;
}

static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0])
        return QFD_OK;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    for (int64_t i = 0, n = qfd_array_numel(oc->gin[0]); i < n; i++)
        dx[i] += dy[i];
    return QFD_OK;
}

const qfd_op_def qfd_op_identity = {
    .name = "Identity",
    .domain = "",
    .since = 1,
    .param_role = QFD_ROLES_PASS0,
    .infer = infer,
    .forward = forward,
    .view = view,
    .backward = backward,
    .backward_reads = qfd_reads_nothing,
};
