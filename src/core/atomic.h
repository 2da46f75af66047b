/* An output file that appears whole or not at all: written under a
 * temporary name beside its path ("PATH.tmp.XXXXXX"), synced, then renamed
 * into place; on any failure the temporary file is removed and whatever
 * was at the path before is left as it was. */
#ifndef QFD_CORE_ATOMIC_H
#define QFD_CORE_ATOMIC_H

#include <stdio.h>

#include "qfd/qfd.h"

typedef struct qfd_atomic {
    FILE *f;
    char *tmp;
    const char *path; /* borrowed */
} qfd_atomic;

/* Creates the temporary file; fails naming the path. */
qfd_status qfd_atomic_open(qfd_ctx *ctx, const char *path, qfd_atomic *a);
/* Flushes, syncs and closes the file, renames it into place and syncs its
 * folder; a write error seen on the way (a full disk, a file-size limit)
 * fails naming the path. The temporary file is gone either way. */
qfd_status qfd_atomic_commit(qfd_ctx *ctx, qfd_atomic *a);
/* Closes and removes the temporary file. */
void qfd_atomic_abort(qfd_atomic *a);

#endif
