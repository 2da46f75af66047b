/* Reading node attributes and editing a graph in place: the building
 * blocks of every pass (src/passes) and of the quantizer's rewrites.
 * Functions that allocate return -1 (or NULL) when out of memory and leave
 * the graph valid. A node added here goes at the end of the node list:
 * qfd_graph_validate puts the graph back in topological order. */
#ifndef QFD_IR_EDIT_H
#define QFD_IR_EDIT_H

#include <stdbool.h>

#include "ir/ir.h"

/* ---- attributes ---- */
const qfd_attr *qfd_attr_get(const qfd_node *n, const char *name);
int64_t qfd_attr_int(const qfd_node *n, const char *name, int64_t def);
float qfd_attr_float(const qfd_node *n, const char *name, float def);
/* NUL-terminated string attribute, or def. */
const char *qfd_attr_str(const qfd_node *n, const char *name, const char *def);
/* Number of ints (0 if absent), *vals set to them. */
size_t qfd_attr_ints(const qfd_node *n, const char *name, const int64_t **vals);
size_t qfd_attr_floats(const qfd_node *n, const char *name, const float **vals);
/* Sets (adding or replacing) an INT, FLOAT or INTS attribute; 0 or -1. */
int qfd_node_set_int(qfd_node *n, const char *name, int64_t v);
int qfd_node_set_float(qfd_node *n, const char *name, float v);
int qfd_node_set_ints(qfd_node *n, const char *name, const int64_t *v, size_t count);
int qfd_node_set_str(qfd_node *n, const char *name, const char *v);
/* Removes the attribute named name, if n has it. */
void qfd_node_remove_attr(qfd_node *n, const char *name);
/* Makes tensor t (-1: omitted) input k of n, first growing the input list
 * with omitted inputs when it is shorter; 0 or -1. */
int qfd_node_set_input(qfd_node *n, size_t k, int t);

/* ---- queries ---- */
/* Whether n is op_type of the default (ai.onnx) domain. */
bool qfd_node_is(const qfd_node *n, const char *op_type);
/* How many node inputs and graph outputs read tensor t. */
int qfd_graph_n_readers(const qfd_graph *g, int t);
/* The nodes that read t, each once, in node order: writes up to cap of
 * them and returns how many there are. */
size_t qfd_graph_consumers(const qfd_graph *g, int t, int *nodes, size_t cap);
bool qfd_graph_is_output(const qfd_graph *g, int t);
/* The float data of initializer t when it has numel elements (numel < 0:
 * any count), else NULL. */
const float *qfd_graph_float_init(const qfd_graph *g, int t, int64_t numel);

/* A float scalar known when the model is loaded: an initializer that is
 * not also a graph input, or a Constant node's value; *node is set to that
 * Constant node (-1 for an initializer). */
bool qfd_graph_known_scalar(const qfd_graph *g, int t, float *v, int *node);

/* ---- edits ---- */
/* base, or base_2, base_3, ... : the first name no tensor has (malloc'd). */
char *qfd_graph_unique_name(const qfd_graph *g, const char *base);
/* A new value (no data, no producer yet) named after base. */
int qfd_graph_add_value(qfd_graph *g, const char *base);
/* A new initializer named after base that takes ownership of data (freed
 * here on failure). */
int qfd_graph_add_init(qfd_graph *g, const char *base, int32_t dtype, int rank, const int64_t *dims, void *data,
                       size_t nbytes);
/* A new node reading in[] and producing out[] (tensor indices; -1 for an
 * omitted optional input), named name (copied; NULL: unnamed); sets the
 * producers of its outputs. Returns the node index. */
int qfd_graph_add_node(qfd_graph *g, const char *op_type, const char *domain, const char *name, const int *in,
                       size_t n_in, const int *out, size_t n_out);
/* Removes and frees the nodes i with drop[i] set, keeping the others in
 * order, and relinks producers. */
void qfd_graph_drop_nodes(qfd_graph *g, const bool *drop);
/* Drops initializers that nothing reads any more (not graph inputs). */
void qfd_graph_prune_inits(qfd_graph *g);
/* Imports domain at version (or sets the version it is imported at). */
int qfd_model_set_opset(qfd_model *m, const char *domain, int64_t version);
/* Sets (adding or replacing) a metadata_props entry. */
int qfd_model_set_metadata(qfd_model *m, const char *key, const char *value);

#endif
