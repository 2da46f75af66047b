/* Training checkpoints: DIR/model.onnx (the weights and statistics so far)
 * and DIR/state.bin (where training stands and the optimizer's buffers).
 * Both are written under temporary names and renamed, state last, so an
 * interrupted save leaves the previous checkpoint usable. */
#ifndef QFD_TRAIN_CHECKPOINT_H
#define QFD_TRAIN_CHECKPOINT_H

#include "ir/ir.h"
#include "train/optim.h"

typedef struct qfd_train_state {
    int64_t epoch; /* next epoch to run (0-based) */
    int64_t batch; /* next batch within it */
    int64_t step;  /* optimizer steps done */
    uint64_t seed;
    int64_t batch_size; /* must match on resume */
} qfd_train_state;

qfd_status qfd_checkpoint_save(qfd_ctx *ctx, const char *dir, const qfd_model *m, const qfd_optim *o,
                               const qfd_train_state *s);
/* Reads DIR/state.bin into s and the optimizer buffers of o, which must
 * have been set up for the same parameters. */
qfd_status qfd_checkpoint_load_state(qfd_ctx *ctx, const char *dir, qfd_optim *o, qfd_train_state *s);

#endif
