#include <string.h>

#include "ops/op.h"

const qfd_attr *qfd_attr_get(const qfd_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && !strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

int64_t qfd_attr_int(const qfd_node *n, const char *name, int64_t def)
{
    const qfd_attr *a = qfd_attr_get(n, name);
    return a && a->has_i ? a->i : def;
}

float qfd_attr_float(const qfd_node *n, const char *name, float def)
{
    const qfd_attr *a = qfd_attr_get(n, name);
    return a && a->has_f ? a->f : def;
}

const char *qfd_attr_str(const qfd_node *n, const char *name, const char *def)
{
    const qfd_attr *a = qfd_attr_get(n, name);
    return a && a->s.present ? (const char *)a->s.data : def;
}

size_t qfd_attr_ints(const qfd_node *n, const char *name, const int64_t **vals)
{
    const qfd_attr *a = qfd_attr_get(n, name);
    *vals = a ? a->ints : NULL;
    return a ? a->n_ints : 0;
}

size_t qfd_attr_floats(const qfd_node *n, const char *name, const float **vals)
{
    const qfd_attr *a = qfd_attr_get(n, name);
    *vals = a ? a->floats : NULL;
    return a ? a->n_floats : 0;
}
