#include "passes/pass_util.h"

#include <stdlib.h>
#include <string.h>

int qfd_pass_consumers(const qfd_graph *g, int t)
{
    int n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            n += g->nodes[i].in[k] == t;
    for (size_t i = 0; i < g->n_outputs; i++)
        n += g->outputs[i].tensor == t;
    return n;
}

bool qfd_pass_is_default_op(const qfd_node *n, const char *op_type)
{
    return !strcmp(n->op_type, op_type) && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

void qfd_pass_drop_nodes(qfd_graph *g, const bool *drop)
{
    size_t w = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (drop[i]) {
            qfd_node *n = &g->nodes[i];
            /* the node's strings and attributes are freed with it */
            free(n->name), free(n->op_type), free(n->domain), free(n->doc), free(n->in), free(n->out);
            for (size_t k = 0; k < n->n_attrs; k++)
                qfd_attr_clear(&n->attrs[k]);
            free(n->attrs);
            qfd_extra_clear(&n->extra);
            continue;
        }
        g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;
}
