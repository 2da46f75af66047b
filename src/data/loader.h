/* Training (and evaluation) batches from a dataset: per-epoch shuffling,
 * random crop and horizontal flip, normalization, and optional prefetching
 * by a pool of worker threads. Arrays are cropped with zero padding
 * (crop_pad); image files are decoded here, with random-resized-crop when
 * image_random is set, so a pool of workers decodes ahead of the trainer.
 *
 * Every random choice is a pure function of (seed, epoch, position in the
 * epoch), never of the order in which batches are prepared, so batch k of
 * epoch e is the same bytes with or without prefetching, and after a resume
 * that skips the first k batches. */
#ifndef QFD_DATA_LOADER_H
#define QFD_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "data/dataset.h"

typedef struct qfd_loader_opts {
    int64_t batch; /* examples per batch (>= 1) */
    bool shuffle;  /* a seeded permutation per epoch; else dataset order */
    uint64_t seed;
    bool drop_last;        /* drop a final partial batch */
    int crop_pad;          /* random HxW crop after zero-padding this many pixels on each side (0: off) */
    bool hflip;            /* random horizontal flip with p = 0.5 */
    int n_norm;            /* 0: none; 1: one mean/std for all channels; C: one per channel (C <= 4) */
    float mean[4], std[4]; /* x' = (x - mean) / std, after augmentation (padding zeros included) */
    int prefetch;          /* batches prepared ahead by worker threads (0: synchronous) */
    int workers;           /* threads preparing batches, at most prefetch (<= 1: one) */
    bool image_random;     /* image files: random-resized-crop (else the evaluation preprocessing) */
} qfd_loader_opts;

typedef struct qfd_loader qfd_loader;

/* Validates the options against the dataset (x float32 [N,C,H,W], y int64
 * [N]) and allocates every buffer; no batch allocates afterwards. ds is
 * borrowed and must outlive the loader. No epoch is started yet. */
qfd_status qfd_loader_new(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o, qfd_loader **out);

/* Begins epoch `epoch` (0-based), skipping its first skip_batches batches
 * (0 <= skip_batches <= batches per epoch) for an exact resume. Any batch of
 * the previous epoch that is still being prepared is abandoned first. */
qfd_status qfd_loader_start_epoch(qfd_ctx *ctx, qfd_loader *l, int64_t epoch, int64_t skip_batches);

/* Next batch of the epoch: returns 1 with *x = float32 [b,C,H,W] and
 * *y = int64 [b] (b = batch, or fewer for a final partial batch or when
 * bad images were skipped), or 0 with both NULL at the end of the epoch,
 * before the first start_epoch, or when a batch failed: check
 * qfd_loader_error after a 0. The arrays belong to the loader and stay
 * valid until the next call. */
int qfd_loader_next(qfd_loader *l, const qfd_array **x, const qfd_array **y);
/* QFD_OK, or the failure that ended the epoch (a bad image naming its file),
 * with its message put into ctx. */
qfd_status qfd_loader_error(qfd_ctx *ctx, const qfd_loader *l);
/* Images left out as bad (on_bad_image "skip") in the batches handed out so far. */
int64_t qfd_loader_skipped(const qfd_loader *l);

/* Batches in every epoch: N / batch, rounded up unless drop_last. */
int64_t qfd_loader_batches_per_epoch(const qfd_loader *l);

/* Stops the worker (also mid-epoch) and frees everything; NULL is a no-op. */
void qfd_loader_free(qfd_loader *l);

#endif
