/* Several models on the same test images in one pass (compare.c). */
#ifndef QFD_QUANT_COMPARE_H
#define QFD_QUANT_COMPARE_H

#include <stdbool.h>

#include "ir/ir.h"

#define QFD_COMPARE_MAX 4

typedef struct qfd_compare_opts {
    const char *data; /* as qfd_eval_opts */
    int64_t limit;
    int batch, n_threads;
    int n_norm;
    float mean[4], std[4];
    int a, b;                    /* the two models whose predictions and logits are compared */
    const qfd_image_opts *image; /* image files as data (NULL: defaults); models[0] gives their shape */
    bool labels_optional;        /* a test split without labels loads: agreement only, top-1 NaN */
} qfd_compare_opts;

typedef struct qfd_compare_result {
    int64_t n;
    int64_t skipped; /* images left out by --on-bad-image skip (not in n) */
    bool labeled;
    double top1[QFD_COMPARE_MAX];
    double agreement;      /* fraction of images where a and b predict the same class */
    double max_logit_diff; /* largest |a - b| logit */
} qfd_compare_result;

qfd_status qfd_quant_compare(qfd_ctx *ctx, const qfd_model *const *models, int n_models, const qfd_compare_opts *o,
                             qfd_compare_result *r);

#endif
