/* Training checkpoints. DIR/checkpoint.bin is the checkpoint: where training
 * stands, the options that must not change on resume, every float
 * initializer of the model being trained (weights, BatchNormalization
 * statistics, quantizer steps) and the optimizer's buffers, all by tensor
 * name, with a CRC-32 over the whole file. It is written under a temporary
 * name, synced and renamed, so a crash or a full disk at any moment leaves
 * the previous checkpoint whole. DIR/model.onnx, written just before it, is
 * the same weights as an ONNX file for users to evaluate; resuming never
 * reads it. */
#ifndef QFD_TRAIN_CHECKPOINT_H
#define QFD_TRAIN_CHECKPOINT_H

#include <stdbool.h>

#include "ir/ir.h"
#include "train/optim.h"

typedef struct qfd_train_state {
    int64_t epoch; /* next epoch to run (0-based) */
    int64_t batch; /* next batch within it */
    int64_t step;  /* optimizer steps done */
    uint64_t seed;
    int64_t batch_size; /* must match on resume */
    /* Running sums of the epoch in progress, or of the last epoch finished
     * when batch == 0, so that a resumed run reports whole epochs. */
    double loss_sum;
    int64_t seen, hits;
    /* the same for each loss term, before its weight (n_terms <= QFD_LOSS_TERMS_MAX) */
    int64_t n_terms;
    double term_sum[QFD_LOSS_TERMS_MAX];
} qfd_train_state;

/* What a resumed run must agree with. */
typedef struct qfd_checkpoint_meta {
    uint64_t source; /* qfd_graph_fingerprint of the model the run started from */
    /* "--flag=value" lines for every option that shapes the run (epochs,
     * data size, learning rates, ...): a resume must give the same ones. */
    const char *config;
    const char *stage; /* "training", "calibrated", ...: what the run was doing */
} qfd_checkpoint_meta;

/* Saves the checkpoint. params[i] is the tensor of optimizer parameter i. */
qfd_status qfd_checkpoint_save(qfd_ctx *ctx, const char *dir, const qfd_model *m, const qfd_optim *o, const int *params,
                               const qfd_train_state *s, const qfd_checkpoint_meta *meta);
/* The stage a checkpoint was saved in (meta.stage), read and checked
 * without a model: a multi-stage run (quantize --method qfd) decides from it
 * where to resume. *stage is malloc'd. */
qfd_status qfd_checkpoint_stage(qfd_ctx *ctx, const char *dir, char **stage);
/* Loads DIR/checkpoint.bin into a model built the same way as the saved
 * one: checks the source fingerprint and the config against `expect` (the
 * message names the first option that differs), then overwrites every float
 * initializer and optimizer buffer by name. stage_out (may be NULL)
 * receives the saved stage, to be freed by the caller. */
qfd_status qfd_checkpoint_load(qfd_ctx *ctx, const char *dir, qfd_model *m, qfd_optim *o, const int *params,
                               const qfd_checkpoint_meta *expect, qfd_train_state *s, char **stage_out);
/* True when DIR holds a checkpoint file (not checked further). */
bool qfd_checkpoint_exists(const char *dir);

#endif
