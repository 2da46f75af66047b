#include "core/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct qfd_arena_chunk {
    qfd_arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char mem[];
};

void *qfd_arena_alloc(qfd_arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    qfd_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) {
            a->failed = 1;
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->mem + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

void qfd_arena_free(qfd_arena *a)
{
    while (a->head) {
        qfd_arena_chunk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    a->failed = 0;
}
