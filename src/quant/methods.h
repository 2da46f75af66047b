/* The methods of `quantize` (qfd-method.md): what each trains the student
 * with, and which of the quantize options it takes.
 *   ptq  calibration only
 *   lsq  cross-entropy
 *   kd   cross-entropy + T^2 * KL(teacher logits || student logits), FP32 teacher
 *   fd   cross-entropy + lambda * MSE(student feature, teacher feature), FP32 teacher
 *   qfd  cross-entropy + lambda * MSE(student feature, Q(teacher feature)), the
 *        teacher fine-tuned with its feature quantized first (stage 1)
 * With no_labels the cross-entropy term is left out. */
#ifndef QFD_QUANT_METHODS_H
#define QFD_QUANT_METHODS_H

#include <stdbool.h>

#include "train/trainer.h"

typedef enum { QFD_METHOD_PTQ, QFD_METHOD_LSQ, QFD_METHOD_KD, QFD_METHOD_FD, QFD_METHOD_QFD } qfd_method_kind;

/* Defaults chosen by measurement on a held-out part of the training set
 * (docs/results.md says how). */
#define QFD_DEFAULT_METHOD "qfd"
#define QFD_DEFAULT_TEACHER_BITS 4
#define QFD_DEFAULT_TEACHER_EPOCHS 1
#define QFD_DEFAULT_TEACHER_LR 0.001f
#define QFD_DEFAULT_LAMBDA 1.0f

typedef struct qfd_method {
    qfd_method_kind kind;
    const char *name; /* a literal */
    bool train;       /* the student trains (all but ptq) */
    bool distill;     /* a teacher and a distillation term (kd, fd, qfd) */
    bool no_labels;
    float lambda, temperature;
    int teacher_bits, teacher_epochs;
    float teacher_lr;
} qfd_method;

/* The method and its options with their defaults; a flag the method does
 * not take fails naming it (QFD_ERR_ARG). */
qfd_status qfd_method_parse(qfd_ctx *ctx, const qfd_quantize_opts *o, qfd_method *m);

/* The student's loss terms into terms[2]: cross-entropy on the logits
 * (unless no_labels), then the distillation term, student tensor against
 * teacher tensor (NULL: the first output, the logits). Returns the count. */
size_t qfd_method_losses(const qfd_method *m, const char *student, const char *teacher, float smoothing,
                         qfd_loss_term *terms);

/* Appends the method's "--flag=value" lines, which a resumed run repeats. */
void qfd_method_config(const qfd_method *m, char *config, size_t cap);

#endif
