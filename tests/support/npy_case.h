/* A test case folder as the tools/ scripts write them: DIR/NAME/model.onnx
 * with its inputs input_K.npy and expected outputs expected_K.npy, K = 0,
 * 1, ... (the first missing file ends each list). */
#ifndef QFD_TESTS_NPY_CASE_H
#define QFD_TESTS_NPY_CASE_H

#include "core/ctx.h"
#include "data/npy.h"
#include "io/io.h"

#define QFD_CASE_MAX_IO 4

typedef struct qfd_npy_case {
    qfd_model *model;
    qfd_array in[QFD_CASE_MAX_IO], want[QFD_CASE_MAX_IO];
    size_t n_in, n_want;
} qfd_npy_case;

/* Fails (with ctx's message) only when the model does not load; c is then
 * empty. Free with qfd_npy_case_free either way. */
qfd_status qfd_npy_case_load(qfd_ctx *ctx, const char *dir, const char *name, qfd_npy_case *c);
void qfd_npy_case_free(qfd_npy_case *c);

#endif
