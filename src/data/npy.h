/* NumPy .npy files (format 1.0, 2.0, 3.0; little-endian, C order) and .npz
 * archives of them (zip, members stored or deflated, zip64 directories).
 * dtypes: <f2 <f4 <f8 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 |b1, as QFD_DT_* codes. */
#ifndef QFD_DATA_NPY_H
#define QFD_DATA_NPY_H

#include "ir/array.h"

qfd_status qfd_npy_read(qfd_ctx *ctx, const char *path, qfd_array *out);
/* Writes format 1.0 under a temporary name and renames it into place, so the
 * file appears whole or not at all. */
qfd_status qfd_npy_write(qfd_ctx *ctx, const char *path, const qfd_array *a);

/* Reads member name + ".npy" (name as given to numpy.savez, e.g. "x").
 * QFD_ERR_ARG means exactly "no such member"; the message lists what exists. */
qfd_status qfd_npz_read(qfd_ctx *ctx, const char *path, const char *name, qfd_array *out);
/* Reads the first of names[0..n_names) present in the archive and sets *which
 * to its index; QFD_ERR_ARG if none is present. */
qfd_status qfd_npz_read_any(qfd_ctx *ctx, const char *path, const char *const *names, int n_names, int *which,
                            qfd_array *out);

#endif
