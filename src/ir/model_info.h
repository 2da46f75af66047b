/* What a model says about itself beyond its graph: imported opsets and the
 * input normalization recorded in metadata_props (qfd.mean / qfd.std). */
#ifndef QFD_IR_MODEL_INFO_H
#define QFD_IR_MODEL_INFO_H

#include "ir/ir.h"

/* Version of the imported opset of domain ("" or "ai.onnx" = default), or -1. */
int64_t qfd_model_opset(const qfd_model *m, const char *domain);
/* Value of a metadata_props key, or NULL. */
const char *qfd_model_metadata(const qfd_model *m, const char *key);

/* Input normalization x' = (x - mean[c]) / std[c]: from the flags when
 * n_flags > 0 (mean and std given with as many values), else from the
 * model's qfd.mean / qfd.std, else none (*n = 0). *source says which:
 * "flags", "metadata" or "none". The flag arrays hold n_flag_mean values (1
 * to 4); mean/std past *n are 0/1. Fails on malformed or non-positive std. */
qfd_status qfd_model_normalization(qfd_ctx *ctx, const qfd_model *m, int n_flag_mean, const float *flag_mean,
                                   int n_flag_std, const float *flag_std, int *n, float mean[4], float std[4],
                                   const char **source);

/* [C,H,W] of the model's first (non-initializer) input, which image data
 * feeds: C must be 1 or 3; H or W is 0 when the graph does not fix it.
 * Fails naming the input when it is not an image batch [N,C,H,W]. */
qfd_status qfd_model_image_input(qfd_ctx *ctx, const qfd_model *m, int64_t *c, int64_t *h, int64_t *w);
/* Records normalization given by flags (n > 0) as the model's qfd.mean /
 * qfd.std, replacing what was there, so that a later eval of the file uses
 * it unasked. n 0: the model is left as it is. */
qfd_status qfd_model_record_normalization(qfd_ctx *ctx, qfd_model *m, int n, const float *mean, const float *std);

#endif
