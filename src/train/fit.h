/* The epoch loop shared by `train` and `quantize`: batches, schedule,
 * trainer steps, progress, the loss-explosion stop, checkpoints and an
 * exact resume. What is trained, with which loss terms, groups and teacher,
 * is the trainer's business (trainer_opts); the loop only drives it. */
#ifndef QFD_TRAIN_FIT_H
#define QFD_TRAIN_FIT_H

#include "data/dataset.h"
#include "data/loader.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

typedef struct qfd_fit_opts {
    qfd_trainer_opts trainer;
    qfd_loader_opts loader; /* seed and batch also identify the run in checkpoints */
    int epochs;
    qfd_sched_kind schedule;
    float warmup_epochs;
    int step_epochs; /* QFD_SCHED_STEP: decay period (>= 1) */
    float gamma;     /* QFD_SCHED_STEP: factor */
    const char *checkpoint_dir, *resume_dir;
    int64_t checkpoint_steps; /* > 0: also save every this many steps */
    qfd_checkpoint_meta meta; /* source model, options and stage written to checkpoints */
    volatile sig_atomic_t *stop;
    const char *phase; /* in progress reports: which model trains (NULL: the only one) */
    void (*progress)(void *user, const qfd_train_progress *p);
    void *user;
    FILE *profile;
} qfd_fit_opts;

/* Trains m in place on ds (borrowed) for o->epochs epochs, or what is left
 * of them after a resume. */
qfd_status qfd_fit(qfd_ctx *ctx, qfd_model *m, const qfd_dataset *ds, const qfd_fit_opts *o, qfd_train_result *r);

/* A run's speed and memory as JSON members, each followed by a comma:
 * "steps", "steady_images_per_second" (from the end of the first step;
 * null with fewer than two steps), "rss_loaded_mb" and "rss_peak_mb"
 * (MB = 2^20 bytes; null when unknown). The quantize report's training
 * objects carry them, so tools/bench/qat.sh reads the student step as
 * train --json gives the FP32 one. */
void qfd_fit_speed_json(FILE *f, const qfd_train_result *r);

#endif
