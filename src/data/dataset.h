/* A dataset: inputs x and integer class labels y (or, loaded with labels
 * optional from files that have none, inputs only). Arrays (IDX, .npz,
 * CIFAR batches) are held in memory; image files (folders, list files) are
 * only listed, and each example is decoded when it is read, so memory does
 * not grow with the number of images. */
#ifndef QFD_DATA_DATASET_H
#define QFD_DATA_DATASET_H

#include <stdbool.h>

#include "ir/array.h"

/* Where a NULL path looks: Debian's dataset-fashion-mnist package. */
#define QFD_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct qfd_images qfd_images;

typedef struct qfd_dataset {
    qfd_array x; /* float32 [N,C,H,W], uint8 pixels scaled to [0,1]; for image files only the
                    shape (data NULL): read examples with qfd_dataset_read or a loader */
    qfd_array y; /* int64 [N], every label >= 0; all 0 when !labeled */
    int64_t n;
    bool labeled;       /* false: the files hold no labels (qfd_dataset_open's labels_optional) */
    char *source;       /* the file(s) it came from, for messages */
    qfd_images *images; /* non-NULL: examples are image files, decoded on demand */
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
/* qfd_dataset_load, and also image data, which becomes the input of model m
 * (its first input's [C,H,W]; C 1 or 3) as img says:
 * - a folder in torchvision's ImageFolder layout, DIR/<class>/...*.jpg|jpeg|png
 *   (classes numbered in the sorted order of their folder names), or with
 *   DIR/train and DIR/val (else DIR/test) holding that layout per split;
 * - a folder of images without class folders: unlabeled, refused unless
 *   labels_optional;
 * - a list file, one "path label" per line, paths relative to its folder;
 * - CIFAR-10/100 binary batches: a folder with data_batch_*.bin and
 *   test_batch.bin (CIFAR-10) or train.bin and test.bin (CIFAR-100, fine
 *   labels), read into memory like the arrays.
 * img may be NULL (defaults); m may be NULL when the data is arrays.
 * labels_optional lets a split without labels load (no labels file in the
 * IDX folder, no y array in the .npz that matches x's name, a folder of
 * images without classes): y is then zeros, for the loader's sake, and
 * labeled is false. Calibration and distillation without labels (quantize
 * --no-labels) read data so. */
qfd_status qfd_dataset_open(qfd_ctx *ctx, const char *path, const qfd_image_opts *img, const qfd_model *m,
                            qfd_split split, int64_t limit, bool labels_optional, qfd_dataset *out);
void qfd_dataset_free(qfd_dataset *d);

/* Examples of ds from start on, normalized as qfd_dataset_normalize does,
 * into x (room for n) and their labels into y (may be NULL), with the
 * evaluation preprocessing for image files (decoded by up to n_threads
 * threads; one per core when n_threads < 1). An image that does not decode fails naming it, or with
 * --on-bad-image skip is left out: *got examples are written (fewer than n
 * only when images were skipped or the dataset ended), *next is where the
 * next read starts and *skipped (may be NULL) grows by the images left out. */
qfd_status qfd_dataset_read(qfd_ctx *ctx, const qfd_dataset *ds, int64_t start, int64_t n, int n_norm,
                            const float *mean, const float *std, int n_threads, float *x, int64_t *y, int64_t *got,
                            int64_t *next, int64_t *skipped);

/* How an image example is augmented for training: random-resized-crop
 * (torchvision's defaults: scale 0.08 to 1, ratio 3/4 to 4/3) to the
 * dataset's H x W and a flip with p = 0.5, each drawn from key; without
 * random, the evaluation preprocessing. */
typedef struct qfd_image_aug {
    bool random, flip;
    uint64_t key;
} qfd_image_aug;

/* Example i of an image dataset (ds->images set) into dst, float32 [C,H,W]
 * normalized. Fails (QFD_ERR_INVALID) naming the file when it does not
 * decode. Thread-safe: ctx must be the calling thread's. */
qfd_status qfd_dataset_image(qfd_ctx *ctx, const qfd_dataset *ds, int64_t i, const qfd_image_aug *aug, int n_norm,
                             const float *mean, const float *std, float *dst);
/* --on-bad-image skip was given for this image dataset. */
bool qfd_dataset_skips_bad(const qfd_dataset *ds);
/* A failure of qfd_dataset_image that is the image's fault (corrupt,
 * truncated, an unsupported layout, too large for the memory limit), which
 * --on-bad-image skip passes over; anything else (a file that vanished,
 * out of memory) stops whatever the flag. */
bool qfd_dataset_bad_image(qfd_status st);
/* Examples [start, start + n) of ds->x into dst, normalized as
 * (x - mean[c]) / std[c] (n_norm 0: copied; 1: one mean/std for every
 * channel; C: one per channel). */
void qfd_dataset_normalize(const qfd_dataset *ds, int64_t start, int64_t n, int n_norm, const float *mean,
                           const float *std, float *dst);

#endif
