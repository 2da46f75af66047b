/* Internal helpers for qfd_array, the dense n-d array of the public API
 * (include/qfd/qfd.h): data readers return it, the executor computes it. */
#ifndef QFD_IR_ARRAY_H
#define QFD_IR_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "qfd/qfd.h"

/* Sets dtype and dims and allocates zeroed data for them; on failure *a is
 * left zeroed and ctx says why ("out of memory", "too large"). */
qfd_status qfd_array_alloc(qfd_ctx *ctx, qfd_array *a, int32_t dtype, int rank, const int64_t *dims);

#endif
