/* Builds small models in memory for op tests: a graph of a few nodes whose
 * operands are initializers (so that they can be trained) or inputs. */
#ifndef QFD_TESTS_MODEL_BUILDER_H
#define QFD_TESTS_MODEL_BUILDER_H

#include "ir/ir.h"

/* A model importing the default domain at opset. Aborts on out of memory:
 * test code only. */
qfd_model *mb_new(int64_t opset);
/* Float initializer filled with `data` (copied) or, when data is NULL, with
 * uniform values in [lo, hi) from a fixed-seed generator. Returns its index. */
int mb_param(qfd_model *m, const char *name, int rank, const int64_t *dims, const float *data, float lo, float hi);
/* Initializer of any type with the given bytes (copied). */
int mb_const(qfd_model *m, const char *name, int32_t dtype, int rank, const int64_t *dims, const void *data);
/* A float graph input of the given shape. */
int mb_input(qfd_model *m, const char *name, int rank, const int64_t *dims);
/* A node; names "" mean an omitted optional input/output. */
qfd_node *mb_node(qfd_model *m, const char *op_type, int n_in, const char *const *ins, int n_out,
                  const char *const *outs);
/* Puts node n in domain (e.g. "ai.qfd") and imports it at version, once. */
void mb_domain(qfd_model *m, qfd_node *n, const char *domain, int64_t version);
void mb_attr_int(qfd_node *n, const char *name, int64_t v);
void mb_attr_ints(qfd_node *n, const char *name, int count, const int64_t *v);
void mb_attr_float(qfd_node *n, const char *name, float v);
void mb_attr_floats(qfd_node *n, const char *name, int count, const float *v);
void mb_attr_str(qfd_node *n, const char *name, const char *v);
/* Marks a tensor as a graph output, then validates the graph (aborts with the
 * message if it is invalid). Call once per output, after all nodes. */
void mb_output(qfd_model *m, const char *name);

#endif
