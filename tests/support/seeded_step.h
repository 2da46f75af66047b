/* One training step of an executor for tests of its gradients: forward in
 * training mode (seed for dropout masks), parameter gradients zeroed, the
 * first output's gradient seeded with a fixed pattern in [-1, 1], backward. */
#ifndef QFD_TESTS_SEEDED_STEP_H
#define QFD_TESTS_SEEDED_STEP_H

#include <stdint.h>

#include "exec/exec.h"

/* 0 when it ran; otherwise the error is in ctx. */
int seeded_step(qfd_ctx *ctx, qfd_exec *e, const qfd_array *x, uint64_t seed);

#endif
