/* The executor: runs a model's graph forward on float32 CPU kernels.
 *
 * Built once per model (ops resolved, attributes parsed); planned once per
 * set of input shapes (shapes inferred, shape subgraphs folded, buffers and
 * the shared workspace allocated); then run as often as needed with no
 * allocation. */
#ifndef QFD_EXEC_EXEC_H
#define QFD_EXEC_EXEC_H

#include <stdio.h>

#include "ir/array.h"
#include "ir/ir.h"

/* The public part (qfd_exec_new/run/free, inputs and outputs) is declared
 * in include/qfd/qfd.h; these are for the library's own use. */
int qfd_exec_input_tensor(const qfd_exec *e, size_t i);
int qfd_exec_output_tensor(const qfd_exec *e, size_t i);

/* Checks the inputs and plans for their shapes (shape inference, folded
 * nodes computed, buffers allocated) without running the graph; a later
 * qfd_exec_run with inputs of the same shapes plans no more. */
qfd_status qfd_exec_prepare(qfd_ctx *ctx, qfd_exec *e, const qfd_array *inputs, size_t n_inputs);

/* Training. set_trainable marks (per graph tensor) the float initializers
 * that get gradients, and fails naming any node on a path from them whose
 * op has no backward. A training forward (set_training) uses batch
 * statistics and dropout, with per-step seed. After a run: zero_grads, write
 * dL/d(output) into qfd_exec_grad(e, output tensor), then backward fills the
 * parameters' gradients. Parameters may change between runs: nothing
 * computed from them is folded. */
qfd_status qfd_exec_set_trainable(qfd_ctx *ctx, qfd_exec *e, const uint8_t *trainable);
void qfd_exec_set_training(qfd_exec *e, bool training, uint64_t seed);
/* Nodes that a training forward runs as inference does, while gradients
 * still flow through them: BatchNormalization normalizes with its running
 * statistics and leaves them as they are, Dropout keeps everything
 * (calibration, a frozen teacher, fine-tuning with frozen statistics).
 * per_node[i] != 0 for graph node i; NULL: none. Copied; takes effect at
 * the next run. A node's own training_mode (attribute or input) still
 * applies. */
qfd_status qfd_exec_set_inference_nodes(qfd_ctx *ctx, qfd_exec *e, const uint8_t *per_node);
qfd_array *qfd_exec_grad(qfd_exec *e, int tensor); /* NULL when the tensor gets none */
void qfd_exec_zero_grads(qfd_exec *e);
/* Declares that the caller writes the gradient of this tensor (a loss term
 * on an intermediate tensor), so that its buffer lives through the sweep.
 * Graph outputs are always treated so. Call before the first run. */
void qfd_exec_seed_grad(qfd_exec *e, int tensor);
qfd_status qfd_exec_backward(qfd_ctx *ctx, qfd_exec *e);

/* Profiling: from start on, every run and backward times each node;
 * write prints the time per op type (per run, and its share of the total),
 * most expensive first. */
qfd_status qfd_exec_profile_start(qfd_ctx *ctx, qfd_exec *e);
void qfd_exec_profile_write(const qfd_exec *e, FILE *f);

/* The caller reads only the graph outputs after a run (and, training, the
 * tensors it seeds gradients of), so that intermediate values whose lives
 * do not overlap may share memory: a working set that stays in cache in
 * inference; in training, the values no backward reads, and the gradients
 * of the sweep with the values it is done with. qfd_exec_value of other
 * tensors is then undefined after a run. Takes effect at the next plan. */
void qfd_exec_share_values(qfd_exec *e);
/* Training plans that share values recompute cheap values in the backward
 * sweep rather than keep them (exec_remat.c); on by default. Off: each kept
 * value stays from its forward to its last backward reader, for tests and
 * for measuring what recomputation costs. */
void qfd_exec_set_remat(qfd_exec *e, bool on);
/* Called in the backward sweep as soon as a trainable tensor's gradient is
 * complete (after the backward of the last node adding into it), so that
 * an optimizer can update the parameter there: the plan then keeps that
 * gradient in its pool, alive from its first contribution to its last,
 * not all through the step (a ViT's 330 MB of weight gradients). Nothing
 * in the rest of the sweep reads the parameter (its readers' backwards are
 * done), and qfd_exec_grad of it is undefined after the sweep. A tensor no
 * backward adds into is not reported; its gradient stays zero in a buffer
 * of its own. NULL (the default): every parameter gradient has its own
 * buffer, read after the sweep. Takes effect at the next plan. */
typedef void (*qfd_grad_ready_fn)(void *user, int tensor, qfd_array *grad);
void qfd_exec_on_grad_ready(qfd_exec *e, qfd_grad_ready_fn fn, void *user);

/* One op type of a model that the executor has no definition for at the
 * model's opset, with how many nodes use it. */
typedef struct qfd_missing_op {
    const char *domain, *op_type; /* the model's strings */
    int64_t opset, count;
} qfd_missing_op;

/* The ops of m the executor lacks, in order of first use, without building
 * or running anything (`info`): *out is malloc'd (free it), *n their count;
 * NULL and 0 when every op is there. Fails only when out of memory. */
qfd_status qfd_exec_missing_ops(qfd_ctx *ctx, const qfd_model *m, qfd_missing_op **out, size_t *n);

/* Bytes the executor holds: values it computed, gradients, workspace. */
size_t qfd_exec_memory(const qfd_exec *e);

/* Value of any graph tensor after a run (outputs included); owned by the
 * executor, valid until the next run. */
const qfd_array *qfd_exec_value(const qfd_exec *e, int tensor);

#endif
