/* A bump allocator for short-lived work (building protobuf messages to write
 * a file): everything is freed at once, so error paths need no bookkeeping. */
#ifndef QFD_CORE_ARENA_H
#define QFD_CORE_ARENA_H

#include <stddef.h>

typedef struct qfd_arena_chunk qfd_arena_chunk;

typedef struct qfd_arena {
    qfd_arena_chunk *head;
    int failed; /* set once an allocation failed */
} qfd_arena;

/* Zeroed memory aligned for any type, or NULL (and failed = 1). */
void *qfd_arena_alloc(qfd_arena *a, size_t size);
void qfd_arena_free(qfd_arena *a);

#endif
