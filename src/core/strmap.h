/* Open-addressing hash map from C strings to non-negative ints; the map
 * borrows the key strings, which must outlive it. */
#ifndef QFD_CORE_STRMAP_H
#define QFD_CORE_STRMAP_H

#include <stddef.h>

typedef struct qfd_strmap {
    const char **keys;
    int *vals;
    size_t cap, len; /* cap is a power of two, or 0 */
} qfd_strmap;

void qfd_strmap_free(qfd_strmap *m);
/* -1 when absent */
int qfd_strmap_get(const qfd_strmap *m, const char *key);
/* Inserts or overwrites; returns 0, or -1 when out of memory. */
int qfd_strmap_put(qfd_strmap *m, const char *key, int val);

#endif
