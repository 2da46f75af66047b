/* The teacher of the distilling methods (kd, fd, qfd).
 *
 * kd and fd distil an FP32 teacher as it is: the model being quantized, or
 * --teacher FILE (another architecture is fine when the compared tensors
 * have one shape). qfd first makes its own (stage 1): a copy with
 * BatchNormalization folded and a k-bit quantizer on the feature, the step
 * calibrated, then fine-tuned with cross-entropy so that the layers adapt
 * to the quantized feature (teacher_train.c). A teacher written by
 * --save-teacher carries its trained quantizer and metadata naming it
 * (qfd.teacher.*): given as --teacher it skips stage 1.
 *
 * The student's trainer runs a frozen copy: BatchNorm folded, activations
 * fused into the convolutions, the compared tensor a graph output, so that
 * a forward pass keeps nothing for a backward and its other values share
 * memory. */
#ifndef QFD_QUANT_TEACHER_H
#define QFD_QUANT_TEACHER_H

#include <stdbool.h>

#include "data/dataset.h"
#include "quant/methods.h"
#include "quant/quant.h"

/* The stage names a checkpoint records (qfd_checkpoint_meta.stage). */
#define QFD_STAGE_TEACHER "teacher (qfd stage 1)"
/* DIR/teacher.onnx: the teacher of a qfd run, saved with its checkpoints
 * when stage 1 ends, so that a run resumed in the student's stage does not
 * train it again. */
#define QFD_TEACHER_FILE "teacher.onnx"

typedef struct qfd_teacher {
    qfd_model *m;      /* the teacher: trained in stage 1, evaluated, saved */
    qfd_model *frozen; /* what the student's trainer runs (see above) */
    char *source;      /* for messages and the report: the model, --teacher FILE, a checkpoint */
    char *feature;     /* fd, qfd: its float feature */
    char *target;      /* what the student is compared with: qfd Q(feature), fd the feature, kd NULL (logits) */
    int bits;          /* qfd: the feature quantizer; 1 is binary */
    bool is_signed;
    float step;
    bool saved;          /* written by --save-teacher: its quantizer is trained, stage 1 is skipped */
    bool stage1;         /* qfd: stage 1 runs (quantizer placed, calibrated and, with epochs, trained) */
    bool resume_stage1;  /* --resume: the checkpoint was saved in stage 1 */
    bool resume_student; /* --resume: the checkpoint was saved in the student's training */
    char *plan;          /* one line: what the teacher stage does, for the stage line */
} qfd_teacher;

/* Everything that can be checked before work starts: the resume stage,
 * the teacher file, its normalization and features, the flags a saved
 * teacher does not take, and that the compared tensors of student (src,
 * its tensor student_feature) and teacher have one shape on one example of
 * ds. n_norm/mean/std: the student's normalization. */
qfd_status qfd_teacher_setup(qfd_ctx *ctx, const qfd_model *src, const char *student_feature,
                             const qfd_quantize_opts *o, const qfd_method *m, const qfd_dataset *ds, int n_norm,
                             const float *mean, const float *std, qfd_teacher *t);

/* Stage 1 when it runs (calib: the calibration images, as the student's),
 * the files it writes (DIR/teacher.onnx, --save-teacher), then the frozen
 * copy. The teacher's fields of r are filled; a run stopped by a signal
 * returns QFD_OK with r->teacher_train.stopped set. */
qfd_status qfd_teacher_make(qfd_ctx *ctx, qfd_teacher *t, const qfd_quantize_opts *o, const qfd_method *m,
                            const qfd_dataset *ds, const qfd_calib_opts *calib, qfd_quantize_result *r);

/* FNV-1a over the teacher's float initializers: a student's checkpoint
 * records it, so that it is not resumed against another teacher. */
uint64_t qfd_teacher_hash(const qfd_teacher *t);

void qfd_teacher_free(qfd_teacher *t);

/* ---- teacher_train.c ---- */

/* Fine-tunes t->m (its quantizer in place) with cross-entropy for
 * m->teacher_epochs epochs on ds, checkpointing and resuming as the
 * student does (stage QFD_STAGE_TEACHER). */
qfd_status qfd_teacher_train(qfd_ctx *ctx, qfd_teacher *t, const qfd_quantize_opts *o, const qfd_method *m,
                             const qfd_dataset *ds, qfd_train_result *r);

#endif
