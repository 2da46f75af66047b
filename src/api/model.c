/* Public model API: load = read + validate, save = write. */
#include <string.h>

#include "core/ctx.h"
#include "io/io.h"

qfd_status qfd_model_load(qfd_ctx *ctx, const char *path, qfd_model **out)
{
    *out = NULL;
    qfd_model *m;
    qfd_status st = qfd_onnx_read(ctx, path, &m);
    if (st)
        return st;
    if ((st = qfd_graph_validate(ctx, &m->graph))) {
        qfd_ctx_prefix(ctx, path);
        qfd_model_free(m);
        return st;
    }
    if (!(m->path = strdup(path))) {
        qfd_model_free(m);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    *out = m;
    return QFD_OK;
}

qfd_status qfd_model_save(qfd_ctx *ctx, const qfd_model *model, const char *path)
{
    return qfd_onnx_write(ctx, model, path);
}
