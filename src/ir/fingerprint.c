/* FNV-1a over the graph's structure (see qfd_graph_fingerprint). */
#include <string.h>

#include "ir/ir.h"

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Strings end with their terminator, so "ab","c" and "a","bc" differ. */
static uint64_t mix_str(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s) + 1) : mix(h, "\xff", 1);
}

static uint64_t mix_tensor_name(uint64_t h, const qfd_graph *g, int t)
{
    return mix_str(h, t >= 0 ? g->tensors[t].name : NULL);
}

uint64_t qfd_graph_fingerprint(const qfd_graph *g)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        h = mix_str(mix_str(h, n->op_type), n->domain);
        for (size_t k = 0; k < n->n_in; k++)
            h = mix_tensor_name(h, g, n->in[k]);
        h = mix(h, "|", 1);
        for (size_t k = 0; k < n->n_out; k++)
            h = mix_tensor_name(h, g, n->out[k]);
        for (size_t k = 0; k < n->n_attrs; k++)
            h = mix_str(h, n->attrs[k].name);
    }
    for (size_t i = 0; i < g->n_inits; i++) {
        const qfd_tensor *t = &g->tensors[g->inits[i]];
        h = mix_str(h, t->name);
        h = mix(h, &t->dtype, sizeof t->dtype);
        h = mix(h, t->dims, (size_t)t->rank * sizeof *t->dims);
    }
    return h;
}
