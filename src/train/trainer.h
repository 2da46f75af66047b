/* One training step of a model on one batch: forward (training mode), the
 * loss terms, backward, and the optimizer update.
 *
 * Loss terms name tensors of the student graph. A cross-entropy term reads
 * the batch labels; an MSE or KL term compares a student tensor with a
 * tensor of a frozen teacher graph run on the same batch (QFD: student
 * feature vs quantized teacher feature; KD: logits). Parameters are the
 * float initializers the ops declare trainable (qfd_trainer_param_roles),
 * in groups with their own learning rate and weight decay. */
#ifndef QFD_TRAIN_TRAINER_H
#define QFD_TRAIN_TRAINER_H

#include <stdbool.h>

#include "ir/ir.h"
#include "ops/op.h"
#include "train/optim.h"

typedef enum { QFD_LOSS_CE, QFD_LOSS_MSE, QFD_LOSS_KL } qfd_loss_kind;

typedef struct qfd_loss_term {
    qfd_loss_kind kind;
    const char *tensor; /* student tensor; NULL: the first graph output */
    const char *target; /* teacher tensor for MSE/KL; NULL: the teacher's first output */
    float weight;
    float smoothing;   /* CE label smoothing */
    float temperature; /* KL */
} qfd_loss_term;

/* "ce", "mse", "kl": the term's name in progress lines and reports. */
const char *qfd_loss_kind_name(qfd_loss_kind kind);

/* Which parameter group a parameter goes to, given its role (see
 * qfd_trainer_param_roles); negative: not trained. The default puts
 * weights in group 0, biases and norm scales/shifts in group 1 (no weight
 * decay), quantizer steps in group 2 (no weight decay). */
typedef int (*qfd_group_fn)(void *user, const qfd_model *m, int tensor, qfd_param_role role);
/* A parameter's per-element gradient factor (qfd_param.precond), or NULL. */
typedef const float *(*qfd_precond_fn)(void *user, const qfd_model *m, int tensor);
/* A parameter's bounds: *max (qfd_param.max) and *min (qfd_param.min),
 * each left NULL where there is none. */
typedef void (*qfd_bound_fn)(void *user, const qfd_model *m, int tensor, const float **max, const float **min);

typedef struct qfd_trainer_opts {
    qfd_opt_kind optimizer;
    float lr, momentum, weight_decay;
    bool nesterov;
    size_t n_groups; /* 0: the default three groups (weights; biases/norms; steps), lr for each, decay on weights */
    const qfd_param_group *groups;
    qfd_group_fn group_of;
    void *group_user;
    qfd_precond_fn precond_of; /* NULL: none */
    void *precond_user;
    qfd_bound_fn bound_of; /* NULL: none */
    void *bound_user;
    size_t n_losses; /* 0: one cross-entropy term on the first output */
    const qfd_loss_term *losses;
    const qfd_model *teacher; /* frozen, run in inference mode; NULL if no term needs it */
    /* Every node of the student runs as in inference (BatchNorm statistics
     * used and left as they are, Dropout off) while gradients flow through
     * it. For some nodes only: qfd_exec_set_inference_nodes on
     * qfd_trainer_exec, indexing the model's nodes after qfd_trainer_new
     * (which may rewrite the graph). */
    bool inference_mode;
    int n_threads;
    uint64_t seed; /* dropout masks */
    /* Parameter gradients stay readable after a step (qfd_exec_grad on
     * qfd_trainer_exec), each in a buffer of its own. Otherwise each
     * parameter is updated in the backward sweep as soon as its gradient is
     * complete, and the gradients share the plan's memory: the same update,
     * less memory. */
    bool keep_grads;
} qfd_trainer_opts;

typedef struct qfd_step_stats {
    double loss;     /* weighted sum of the terms */
    double terms[8]; /* each term's own value */
    int64_t correct; /* top-1 hits of the first CE term */
    int64_t n;       /* examples */
} qfd_step_stats;

typedef struct qfd_trainer qfd_trainer;

/* The trainer updates the model's initializers in place; the model and the
 * teacher must outlive it. It first gives every BatchNormalization's running
 * statistics an initializer of their own (qfd_pass_own_bn_stats), which may
 * rewrite the graph: a statistic it cannot store fails here, naming the node. */
qfd_status qfd_trainer_new(qfd_ctx *ctx, qfd_model *m, const qfd_trainer_opts *o, qfd_trainer **out);
void qfd_trainer_free(qfd_trainer *t);
/* A training step on x [b, ...] with labels y [b] (int64). lr_factor scales
 * every group's learning rate (the schedule). A non-finite loss fails
 * before the weights are touched. */
qfd_status qfd_trainer_step(qfd_ctx *ctx, qfd_trainer *t, const qfd_array *x, const qfd_array *y, float lr_factor,
                            uint64_t step_seed, qfd_step_stats *stats);
qfd_optim *qfd_trainer_optim(qfd_trainer *t);
/* The tensor of each optimizer parameter, in the optimizer's order. */
const int *qfd_trainer_param_tensors(const qfd_trainer *t);
size_t qfd_trainer_n_params(const qfd_trainer *t);
/* The student's executor (for its profile). */
qfd_exec *qfd_trainer_exec(qfd_trainer *t);
/* Bytes of activations, gradients and optimizer state after the last step. */
size_t qfd_trainer_memory(const qfd_trainer *t);

/* The parameters, as declared by the ops (qfd_op_def.param_role): roles[t]
 * is tensor t's role, QFD_ROLE_NONE for all but the float initializers
 * that a node reads through a parameter slot (directly, or through ops that
 * pass values on: Transpose(W) -> MatMul) and no node reads through a
 * frozen one. roles holds one byte per graph tensor. */
void qfd_trainer_param_roles(const qfd_model *m, uint8_t *roles);
bool qfd_trainer_is_param(const qfd_model *m, int tensor);

#endif
