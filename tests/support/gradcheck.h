/* Central-difference gradient check of backward kernels through the
 * executor: L = sum over outputs of sum(out * R) with R fixed and random;
 * every listed parameter's gradient from backward must match
 * (L(p + eps) - L(p - eps)) / 2 eps element by element. */
#ifndef QFD_TESTS_GRADCHECK_H
#define QFD_TESTS_GRADCHECK_H

#include <stdbool.h>

#include "ir/ir.h"

typedef struct gradcheck_opts {
    const char *const *params; /* NULL-terminated initializer names to check */
    const qfd_array *inputs;   /* graph inputs, if any */
    size_t n_inputs;
    bool training;                  /* forward in training mode (BatchNorm statistics) */
    const uint8_t *inference_nodes; /* per node: runs as in inference even so (qfd_exec_set_inference_nodes) */
    double eps;                     /* default 1e-2 */
    double tol;                     /* relative tolerance, default 2e-2 */
    int max_elems;                  /* elements checked per parameter, default 48 (spread) */
} gradcheck_opts;

/* Prints one line per parameter; returns the number of mismatches (and
 * counts a failure to run as one). Frees the model. */
int gradcheck(const char *label, qfd_model *m, const gradcheck_opts *o);

#endif
