/* Small graph queries and edits the passes share. */
#ifndef QFD_PASSES_PASS_UTIL_H
#define QFD_PASSES_PASS_UTIL_H

#include <stdbool.h>

#include "ir/ir.h"

/* How many node inputs and graph outputs read tensor t. */
int qfd_pass_consumers(const qfd_graph *g, int t);

/* Whether n is op_type of the default (ai.onnx) domain. */
bool qfd_pass_is_default_op(const qfd_node *n, const char *op_type);

/* Removes and frees the nodes i with drop[i] set, keeping the others in order. */
void qfd_pass_drop_nodes(qfd_graph *g, const bool *drop);

#endif
