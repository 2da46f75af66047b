#include "ir/array.h"

#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/dtype.h"

void qfd_array_free(qfd_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

int64_t qfd_array_numel(const qfd_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++) {
        if (a->dims[i] < 0 || (a->dims[i] > 0 && n > INT64_MAX / a->dims[i]))
            return -1;
        n *= a->dims[i];
    }
    return n;
}

qfd_status qfd_array_alloc(qfd_ctx *ctx, qfd_array *a, int32_t dtype, int rank, const int64_t *dims)
{
    /* dims may point into *a, so *a is written only at the end */
    if (rank < 0 || rank > QFD_ARRAY_MAX_RANK) {
        memset(a, 0, sizeof *a);
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "array rank %d is over the limit of %d", rank, QFD_ARRAY_MAX_RANK);
    }
    qfd_array t = {.dtype = dtype, .rank = rank};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    int ok = 0;
    int64_t numel = qfd_array_numel(&t);
    size_t nbytes = numel < 0 ? 0 : qfd_dtype_nbytes(dtype, numel, &ok);
    memset(a, 0, sizeof *a);
    if (numel < 0 || !ok)
        return qfd_fail(ctx, QFD_ERR_INVALID, "array of %lld %s elements is too large or has a bad type",
                        (long long)numel, qfd_dtype_name(dtype) ? qfd_dtype_name(dtype) : "unknown");
    if (qfd_over_memory_limit(ctx, nbytes)) {
        char need[32], lim[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "array of %s is over the memory limit of %s",
                        qfd_format_bytes(need, nbytes), qfd_format_bytes(lim, qfd_ctx_memory_limit(ctx)));
    }
    /* calloc(0) may return NULL; one spare byte keeps "no data" and "failed" apart. */
    t.data = calloc(nbytes ? nbytes : 1, 1);
    if (!t.data)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for an array of %zu bytes", nbytes);
    t.nbytes = nbytes;
    *a = t;
    return QFD_OK;
}
