#include "npy_case.h"

#include <stdio.h>
#include <string.h>

qfd_status qfd_npy_case_load(qfd_ctx *ctx, const char *dir, const char *name, qfd_npy_case *c)
{
    char path[4096];
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    qfd_status st = qfd_model_load(ctx, path, &c->model);
    if (st)
        return st;
    for (; c->n_in < QFD_CASE_MAX_IO; c->n_in++) {
        snprintf(path, sizeof path, "%s/%s/input_%zu.npy", dir, name, c->n_in);
        if (qfd_npy_read(ctx, path, &c->in[c->n_in]))
            break;
    }
    for (; c->n_want < QFD_CASE_MAX_IO; c->n_want++) {
        snprintf(path, sizeof path, "%s/%s/expected_%zu.npy", dir, name, c->n_want);
        if (qfd_npy_read(ctx, path, &c->want[c->n_want]))
            break;
    }
    return QFD_OK;
}

void qfd_npy_case_free(qfd_npy_case *c)
{
    qfd_model_free(c->model);
    for (size_t i = 0; i < QFD_CASE_MAX_IO; i++) {
        qfd_array_free(&c->in[i]);
        qfd_array_free(&c->want[i]);
    }
    memset(c, 0, sizeof *c);
}
