/* Node attributes: reading them with defaults, and setting them. */
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"

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

/* The attribute named name, added (zeroed, named, typed) when missing or
 * cleared when present. ONNX AttributeType codes: FLOAT 1, INT 2, INTS 7. */
static qfd_attr *attr_slot(qfd_node *n, const char *name, int type)
{
    qfd_attr *a = (qfd_attr *)qfd_attr_get(n, name);
    if (a) {
        qfd_attr_clear(a);
    } else {
        qfd_attr *grown = realloc(n->attrs, (n->n_attrs + 1) * sizeof *grown);
        if (!grown)
            return NULL;
        n->attrs = grown;
        a = &n->attrs[n->n_attrs];
        memset(a, 0, sizeof *a);
    }
    if (!(a->name = strdup(name))) {
        if (a != &n->attrs[n->n_attrs])
            a->name = NULL; /* a cleared attribute without a name: drop it */
        return NULL;
    }
    if (a == &n->attrs[n->n_attrs])
        n->n_attrs++;
    a->has_type = true;
    a->type = type;
    return a;
}

int qfd_node_set_int(qfd_node *n, const char *name, int64_t v)
{
    qfd_attr *a = attr_slot(n, name, 2);
    if (!a)
        return -1;
    a->has_i = true;
    a->i = v;
    return 0;
}

int qfd_node_set_float(qfd_node *n, const char *name, float v)
{
    qfd_attr *a = attr_slot(n, name, 1);
    if (!a)
        return -1;
    a->has_f = true;
    a->f = v;
    return 0;
}

int qfd_node_set_ints(qfd_node *n, const char *name, const int64_t *v, size_t count)
{
    qfd_attr *a = attr_slot(n, name, 7);
    if (!a || !(a->ints = malloc((count ? count : 1) * sizeof *v)))
        return -1;
    memcpy(a->ints, v, count * sizeof *v);
    a->n_ints = count;
    return 0;
}

int qfd_node_set_str(qfd_node *n, const char *name, const char *v)
{
    size_t len = strlen(v);
    char *s = malloc(len + 1);
    qfd_attr *a = s ? attr_slot(n, name, 3) : NULL; /* STRING */
    if (!a) {
        free(s);
        return -1;
    }
    memcpy(s, v, len + 1);
    a->s = (qfd_blob){true, len, (uint8_t *)s};
    return 0;
}

void qfd_node_remove_attr(qfd_node *n, const char *name)
{
    qfd_attr *a = (qfd_attr *)qfd_attr_get(n, name);
    if (!a)
        return;
    qfd_attr_clear(a);
    size_t i = (size_t)(a - n->attrs);
    memmove(a, a + 1, (n->n_attrs - i - 1) * sizeof *a);
    n->n_attrs--;
}

int qfd_node_set_input(qfd_node *n, size_t k, int t)
{
    if (k >= n->n_in) {
        int *in = realloc(n->in, (k + 1) * sizeof *in);
        if (!in)
            return -1;
        for (size_t i = n->n_in; i < k; i++)
            in[i] = -1;
        n->in = in;
        n->n_in = k + 1;
    }
    n->in[k] = t;
    return 0;
}
