/* Optimizers over parameter groups, with PyTorch's update rules so that a
 * run here can be compared step for step with torch.optim. */
#ifndef QFD_TRAIN_OPTIM_H
#define QFD_TRAIN_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qfd/qfd.h"

typedef enum { QFD_OPT_SGD, QFD_OPT_ADAMW } qfd_opt_kind;

typedef struct qfd_param_group {
    float lr;           /* learning rate before the schedule's factor */
    float weight_decay; /* SGD: L2 added to the gradient; AdamW: decoupled */
    bool frozen;        /* no update at all (e.g. calibrated 8-bit steps) */
} qfd_param_group;

typedef struct qfd_param {
    float *value, *grad;
    int64_t n;
    int group;
    /* Per-element factor on the gradient (before weight decay), or NULL: a
     * folded weight W' = W * s trains as W would (its gradient times s^2),
     * see qfd_pass_fold_bn_factors. Owned by the caller. */
    const float *precond;
    /* An upper bound, or NULL: after each update every element is at most
     * *max (a quantizer step that must stay inside the Clip before it).
     * Owned by the caller. */
    const float *max;
    /* Per-element lower bounds, or NULL: after each update element k is at
     * least min[k] (a quantizer step at least a fraction of its calibrated
     * value). Owned by the caller. */
    const float *min;
    /* A quantizer step: an update that would take an element to zero or
     * below halves it instead. A large step learning rate (or one large
     * gradient) otherwise makes a step negative and the model invalid
     * (--lr-steps 1e-2 did so on ResNet-20 W2A2). */
    bool positive;
} qfd_param;

typedef struct qfd_optim {
    qfd_opt_kind kind;
    float momentum;          /* SGD */
    bool nesterov;           /* SGD */
    float beta1, beta2, eps; /* AdamW */
    size_t n_groups, n_params;
    qfd_param_group *groups;
    qfd_param *params;
    float **m, **v; /* per parameter: momentum buffer / Adam moments */
    int64_t step;
} qfd_optim;

/* Takes ownership of nothing; buffers are allocated here. */
qfd_status qfd_optim_init(qfd_ctx *ctx, qfd_optim *o, qfd_opt_kind kind, const qfd_param_group *groups, size_t n_groups,
                          const qfd_param *params, size_t n_params);
void qfd_optim_free(qfd_optim *o);
/* One update with every group's lr multiplied by lr_factor (the schedule). */
void qfd_optim_step(qfd_optim *o, float lr_factor, int n_threads);
/* The same update one parameter at a time, as each gradient is ready:
 * begin once, then update each parameter i once (its .grad set). */
void qfd_optim_begin(qfd_optim *o);
void qfd_optim_update(qfd_optim *o, size_t i, float lr_factor, int n_threads);

typedef enum { QFD_SCHED_CONSTANT, QFD_SCHED_COSINE, QFD_SCHED_STEP } qfd_sched_kind;

typedef struct qfd_schedule {
    qfd_sched_kind kind;
    int64_t total_steps, warmup_steps;
    int64_t step_every; /* QFD_SCHED_STEP: decay period in steps */
    float gamma;        /* QFD_SCHED_STEP: decay factor */
    float min_factor;   /* QFD_SCHED_COSINE: floor */
} qfd_schedule;

/* Learning-rate factor for step (0-based): linear warm-up from 1/warmup,
 * then constant, cosine to min_factor, or step decay. */
float qfd_schedule_factor(const qfd_schedule *s, int64_t step);

#endif
