/* MNIST-style IDX files, raw or gzip-compressed: a big-endian magic
 * 0x000008NN (type 0x08 = uint8, NN dims), NN big-endian uint32 sizes, data.
 * Only what MNIST and Fashion-MNIST use is accepted: 0x803 images [N,rows,cols]
 * and 0x801 labels [N]. */
#ifndef QFD_DATA_IDX_H
#define QFD_DATA_IDX_H

#include "ir/array.h"

/* out gets dtype QFD_DT_UINT8 and the header's dims. */
qfd_status qfd_idx_read(qfd_ctx *ctx, const char *path, qfd_array *out);

#endif
