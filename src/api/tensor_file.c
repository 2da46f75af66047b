/* Tensor files for `run`: .npy (by its magic) or ONNX TensorProto .pb. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ctx.h"
#include "data/npy.h"
#include "io/io.h"

const char *qfd_dtype_str(int32_t dtype)
{
    const char *s = qfd_dtype_name(dtype);
    return s ? s : "?";
}

qfd_status qfd_tensor_file_read(qfd_ctx *ctx, const char *path, qfd_array *out)
{
    memset(out, 0, sizeof *out);
    unsigned char magic[6] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
    size_t got = regular ? fread(magic, 1, sizeof magic, f) : 0;
    fclose(f);
    if (!regular)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: not a regular file", path);
    /* the .pb reader would call it "not an ONNX model" */
    if (sb.st_size == 0)
        return qfd_fail(ctx, QFD_ERR_PARSE, "%s: file is empty, not a .npy or ONNX TensorProto .pb file", path);
    if (got == sizeof magic && !memcmp(magic, "\x93NUMPY", 6))
        return qfd_npy_read(ctx, path, out);
    qfd_tensor t;
    qfd_status st = qfd_onnx_read_tensor_file(ctx, path, &t);
    if (st)
        return st;
    if (t.rank > QFD_ARRAY_MAX_RANK || t.dtype == QFD_DT_STRING || !t.data) {
        qfd_tensor_clear(&t);
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "%s: tensor of rank %d / type %s cannot be used as an input", path,
                        t.rank, qfd_dtype_str(t.dtype));
    }
    out->dtype = t.dtype;
    out->rank = t.rank;
    if (t.rank)
        memcpy(out->dims, t.dims, (size_t)t.rank * sizeof *t.dims);
    out->data = t.data;
    out->nbytes = t.nbytes;
    t.data = NULL; /* moved */
    qfd_tensor_clear(&t);
    return QFD_OK;
}
