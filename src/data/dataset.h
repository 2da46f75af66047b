/* A dataset in memory: inputs x and integer class labels y (or, loaded
 * with labels optional from files that have none, inputs only). */
#ifndef QFD_DATA_DATASET_H
#define QFD_DATA_DATASET_H

#include <stdbool.h>

#include "ir/array.h"

/* Where a NULL path looks: Debian's dataset-fashion-mnist package. */
#define QFD_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct qfd_dataset {
    qfd_array x; /* float32 [N,C,H,W], uint8 pixels scaled to [0,1] */
    qfd_array y; /* int64 [N], every label >= 0; all 0 when !labeled */
    int64_t n;
    bool labeled; /* false: the files hold no labels (qfd_dataset_load_opt) */
    char *source; /* the file(s) it came from, for messages */
} qfd_dataset;

typedef enum { QFD_SPLIT_TRAIN, QFD_SPLIT_TEST } qfd_split;

/* path: a folder of MNIST-style IDX files
 * ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]); or a .npz holding
 * x_train/y_train or x_test/y_test (by split), else x and y; or NULL for
 * QFD_FASHION_MNIST_DIR. limit > 0 keeps the first limit examples.
 * x must hold images, and comes out float32 [N,C,H,W] for eval and train
 * alike: uint8 pixels become pixel/255; [N,H,W] becomes [N,1,H,W]; uint8
 * [N,H,W,C] with C in {1,3} is read as channels-last and transposed; other
 * rank-4 arrays are NCHW already; any other rank is refused. */
qfd_status qfd_dataset_load(qfd_ctx *ctx, const char *path, qfd_split split, int64_t limit, qfd_dataset *out);
/* The same, where labels_optional lets a split without labels load (no
 * labels file in the IDX folder, no y array in the .npz that matches x's
 * name): y is then zeros, for the loader's sake, and labeled is false.
 * Distillation without labels (quantize --no-labels) reads data so. */
qfd_status qfd_dataset_load_opt(qfd_ctx *ctx, const char *path, qfd_split split, int64_t limit, bool labels_optional,
                                qfd_dataset *out);
void qfd_dataset_free(qfd_dataset *d);
/* Examples [start, start + n) of ds->x into dst, normalized as
 * (x - mean[c]) / std[c] (n_norm 0: copied; 1: one mean/std for every
 * channel; C: one per channel). */
void qfd_dataset_normalize(const qfd_dataset *ds, int64_t start, int64_t n, int n_norm, const float *mean,
                           const float *std, float *dst);

#endif
