/* Batches for training: see loader.h for the contract.
 *
 * Randomness is counter-based: the permutation of epoch e comes from a
 * splitmix64 stream keyed by (seed, e), and each example's crop offsets and
 * flip from a stream keyed by (seed, e, position in the epoch). Nothing
 * depends on which thread prepares a batch or on what was prepared before
 * it, which is what makes prefetching and resuming byte-exact.
 *
 * Prefetching: a ring of prefetch + 1 batch slots. The consumer holds the
 * slot of the batch it was last given, and the workers fill up to
 * `prefetch` batches ahead of it, each claiming the next unclaimed batch.
 * Batch k always lives in slot k % n_slots. Under one mutex: `claimed`
 * (batches below it are taken by a worker), `freed` (slots of batches below
 * it may be overwritten) and each slot's `filled` (the batch it holds,
 * complete). A batch that fails (an image that does not decode) carries
 * its error in its slot to the consumer, which ends the epoch with it. */
#include "data/loader.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "data/rng.h"
#include "ir/array.h"
#include "ir/dtype.h"

/* Keeps the two kinds of streams apart even for equal (seed, epoch) keys. */
#define STREAM_PERM 0x7065726d75746531ULL /* "permute1" */
#define STREAM_AUG 0x6175676d656e7431ULL  /* "augment1" */
#define MAX_WORKERS 64

typedef struct slot {
    qfd_array x, y;
    int64_t filled; /* the batch it holds once complete; -1: none (guarded by mu) */
    qfd_status st;  /* the batch failed: why, the message in err */
    char err[1024];
    int64_t skipped; /* bad images left out of this batch */
} slot;

struct qfd_loader {
    const qfd_dataset *ds;
    qfd_loader_opts o;
    uint64_t memory_limit; /* the creating context's, for the workers' contexts */
    int64_t n, c, h, w, chw;
    int64_t rows; /* examples a slot can hold: min(batch, N) */
    int64_t n_batches;
    int64_t *perm; /* example index at each position of the current epoch */
    int n_slots, n_workers;
    slot *slots;

    /* Set by the consumer before the workers start, read-only while they run. */
    int64_t epoch, first; /* current epoch and its first batch (after skipping) */
    bool started;
    int64_t cur; /* consumer only: next batch to hand out */

    /* The consumer alone touches these: */
    bool sync_ready; /* mu and both condition variables are initialised */
    int n_running;   /* workers that exist and must be joined */
    pthread_t threads[MAX_WORKERS];
    qfd_ctx sync_ctx; /* for batches filled by the consumer itself (prefetch 0) */
    qfd_status st;    /* the failure that ended the epoch, message in err */
    char err[1024];
    int64_t skipped;
    /* and these are shared, guarded by mu (no worker runs while start_epoch
     * resets them): */
    pthread_mutex_t mu;
    pthread_cond_t filled_cv, space_cv;
    int64_t claimed, freed;
    bool stop;
};

/* ---- one batch ---------------------------------------------------------------- */

/* Batch k of an image dataset: each example decoded and augmented from a
 * key of (seed, epoch, position); bad images are left out under skip. */
static qfd_status fill_images(const qfd_loader *l, qfd_ctx *ctx, int64_t k, slot *s, int64_t *kept)
{
    const int64_t pos0 = k * l->o.batch;
    const int64_t b = l->n - pos0 < l->o.batch ? l->n - pos0 : l->o.batch;
    const int64_t *src_y = l->ds->y.data;
    float *dst = s->x.data;
    int64_t *dst_y = s->y.data, w = 0;
    for (int64_t i = 0; i < b; i++) {
        const int64_t pos = pos0 + i, idx = l->perm[pos];
        qfd_rng r = qfd_rng_key(l->o.seed, STREAM_AUG, (uint64_t)l->epoch, (uint64_t)pos);
        const qfd_image_aug aug = {l->o.image_random, l->o.hflip, qfd_rng_next(&r)};
        qfd_status st = qfd_dataset_image(ctx, l->ds, idx, &aug, l->o.n_norm, l->o.mean, l->o.std, dst + w * l->chw);
        if (qfd_dataset_bad_image(st) && qfd_dataset_skips_bad(l->ds)) {
            s->skipped++;
            continue;
        }
        if (st) {
            if (qfd_dataset_bad_image(st)) {
                char msg[sizeof ctx->err];
                snprintf(msg, sizeof msg, "%s", qfd_ctx_error(ctx));
                qfd_fail(ctx, st, "%s (--on-bad-image skip leaves such images out)", msg);
            }
            return st;
        }
        dst_y[w++] = src_y[idx];
    }
    *kept = w;
    return QFD_OK;
}

/* Writes batch k of the current epoch into s. Pure in (seed, epoch, k), so
 * the workers and the consumer produce identical bytes. */
static void fill_batch(const qfd_loader *l, qfd_ctx *ctx, int64_t k, slot *s)
{
    const int64_t c_n = l->c, h = l->h, w = l->w, pad = l->o.crop_pad;
    const int64_t pos0 = k * l->o.batch;
    int64_t b = l->n - pos0 < l->o.batch ? l->n - pos0 : l->o.batch;
    s->st = QFD_OK;
    s->skipped = 0;
    if (l->ds->images) {
        if ((s->st = fill_images(l, ctx, k, s, &b))) {
            snprintf(s->err, sizeof s->err, "%s", qfd_ctx_error(ctx));
            b = 0;
        }
    } else {
        const float *src_x = l->ds->x.data;
        const int64_t *src_y = l->ds->y.data;
        float *dst = s->x.data;
        int64_t *dst_y = s->y.data;
        for (int64_t i = 0; i < b; i++) {
            const int64_t pos = pos0 + i, idx = l->perm[pos];
            /* Always three draws in this order, so turning crop on or off does
             * not change which examples get flipped. */
            qfd_rng r = qfd_rng_key(l->o.seed, STREAM_AUG, (uint64_t)l->epoch, (uint64_t)pos);
            const int64_t oy = (int64_t)qfd_rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
            const int64_t ox = (int64_t)qfd_rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
            const bool flip = l->o.hflip && (qfd_rng_next(&r) >> 63);
            dst_y[i] = src_y[idx];
            for (int64_t c = 0; c < c_n; c++) {
                const float *img = src_x + idx * l->chw + c * h * w;
                float *out = dst + i * l->chw + c * h * w;
                const int nc = l->o.n_norm == 1 ? 0 : (int)c;
                const float m = l->o.n_norm ? l->o.mean[nc] : 0.0f, sd = l->o.n_norm ? l->o.std[nc] : 1.0f;
                for (int64_t y = 0; y < h; y++) {
                    const int64_t sy = y + oy;
                    for (int64_t x = 0; x < w; x++) {
                        /* the window is cropped first, then mirrored */
                        const int64_t sx = (flip ? w - 1 - x : x) + ox;
                        float v = 0.0f;
                        if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                            v = img[sy * w + sx];
                        out[y * w + x] = l->o.n_norm ? (v - m) / sd : v;
                    }
                }
            }
        }
    }
    s->x.dims[0] = b;
    s->x.nbytes = (size_t)(b * l->chw) * sizeof(float);
    s->y.dims[0] = b;
    s->y.nbytes = (size_t)b * sizeof(int64_t);
}

/* ---- workers ------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    qfd_loader *l = arg;
    qfd_ctx ctx = {.memory_limit = l->memory_limit};
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->claimed < l->n_batches && l->claimed - l->freed >= l->n_slots)
            pthread_cond_wait(&l->space_cv, &l->mu);
        if (l->stop || l->claimed >= l->n_batches)
            break;
        const int64_t k = l->claimed++;
        slot *s = &l->slots[k % l->n_slots];
        pthread_mutex_unlock(&l->mu);
        /* outside the lock: the consumer never touches this slot until it is filled with k */
        fill_batch(l, &ctx, k, s);
        pthread_mutex_lock(&l->mu);
        s->filled = k;
        pthread_cond_broadcast(&l->filled_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void stop_workers(qfd_loader *l)
{
    if (!l->n_running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->space_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_running; i++)
        pthread_join(l->threads[i], NULL);
    l->n_running = 0;
    l->stop = false; /* the workers are gone: no lock needed */
}

/* ---- public API ------------------------------------------------------------------ */

static qfd_status check_opts(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o)
{
    const qfd_array *x = &ds->x, *y = &ds->y;
    if (x->dtype != QFD_DT_FLOAT || x->rank != 4)
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset x must be float32 [N,C,H,W], got %s of rank %d",
                        qfd_dtype_str(x->dtype), x->rank);
    if (y->dtype != QFD_DT_INT64 || y->rank != 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset y must be int64 [N], got %s of rank %d", qfd_dtype_str(y->dtype),
                        y->rank);
    if (ds->n < 0 || x->dims[0] != ds->n || y->dims[0] != ds->n)
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset has n = %lld but x has %lld and y %lld examples", (long long)ds->n,
                        (long long)x->dims[0], (long long)y->dims[0]);
    if (x->dims[1] < 1 || x->dims[2] < 1 || x->dims[3] < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset images must have C, H, W >= 1, got [%lld,%lld,%lld]",
                        (long long)x->dims[1], (long long)x->dims[2], (long long)x->dims[3]);
    if (ds->n > 0 && !ds->images &&
        (!x->data || !y->data || qfd_array_numel(x) < 0 || x->nbytes < (size_t)qfd_array_numel(x) * sizeof(float) ||
         y->nbytes < (size_t)ds->n * sizeof(int64_t)))
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset arrays are smaller than their shapes");
    if (o->batch < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "batch must be >= 1, got %lld", (long long)o->batch);
    if (o->crop_pad < 0 || o->crop_pad > (1 << 20))
        return qfd_fail(ctx, QFD_ERR_ARG, "crop padding must be in [0, 1048576], got %d", o->crop_pad);
    if (o->workers < 0 || o->workers > MAX_WORKERS)
        return qfd_fail(ctx, QFD_ERR_ARG, "workers must be in [0, %d], got %d", MAX_WORKERS, o->workers);
    if (o->prefetch < 0 || o->prefetch > 1024)
        return qfd_fail(ctx, QFD_ERR_ARG, "prefetch must be in [0, 1024] batches, got %d", o->prefetch);
    const int64_t c = x->dims[1];
    if (o->n_norm != 0 && o->n_norm != 1 && o->n_norm != c)
        return qfd_fail(ctx, QFD_ERR_ARG,
                        "%d mean/std values for images with %lld channel%s (need 1 or one per channel)", o->n_norm,
                        (long long)c, c == 1 ? "" : "s");
    if (o->n_norm > 4)
        return qfd_fail(ctx, QFD_ERR_ARG, "per-channel normalization supports at most 4 channels, got %d", o->n_norm);
    for (int i = 0; i < o->n_norm; i++) {
        if (!isfinite(o->mean[i]))
            return qfd_fail(ctx, QFD_ERR_ARG, "mean[%d] must be finite, got %g", i, (double)o->mean[i]);
        if (!(o->std[i] > 0) || !isfinite(o->std[i]))
            return qfd_fail(ctx, QFD_ERR_ARG, "std[%d] must be > 0 and finite, got %g", i, (double)o->std[i]);
    }
    return QFD_OK;
}

qfd_status qfd_loader_new(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o, qfd_loader **out)
{
    qfd_status st;
    qfd_loader *l = NULL;
    if (!out || !ds || !o)
        return qfd_fail(ctx, QFD_ERR_ARG, "NULL dataset, options or output");
    *out = NULL;
    if ((st = check_opts(ctx, ds, o)))
        return st;
    if (!(l = calloc(1, sizeof *l)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    l->ds = ds;
    l->o = *o;
    l->memory_limit = qfd_ctx_memory_limit(ctx);
    l->sync_ctx.memory_limit = l->memory_limit;
    l->n = ds->n;
    l->c = ds->x.dims[1];
    l->h = ds->x.dims[2];
    l->w = ds->x.dims[3];
    l->chw = l->c * l->h * l->w;
    l->n_batches = o->drop_last ? l->n / o->batch : l->n / o->batch + (l->n % o->batch != 0);
    /* slots never need more rows than the dataset has, whatever the batch */
    l->rows = o->batch < l->n ? o->batch : (l->n > 0 ? l->n : 1);
    l->n_slots = o->prefetch + 1;
    /* more workers than batches ahead would only wait */
    l->n_workers = o->workers < 1 ? 1 : o->workers < o->prefetch ? o->workers : o->prefetch;
    l->perm = malloc((size_t)(l->n > 0 ? l->n : 1) * sizeof *l->perm);
    l->slots = calloc((size_t)l->n_slots, sizeof *l->slots);
    if (!l->perm || !l->slots) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for %lld examples", (long long)l->n);
        goto fail;
    }
    for (int i = 0; i < l->n_slots; i++) {
        const int64_t xd[4] = {l->rows, l->c, l->h, l->w};
        if ((st = qfd_array_alloc(ctx, &l->slots[i].x, QFD_DT_FLOAT, 4, xd)) ||
            (st = qfd_array_alloc(ctx, &l->slots[i].y, QFD_DT_INT64, 1, xd)))
            goto fail;
    }
    if (o->prefetch > 0) {
        int e = pthread_mutex_init(&l->mu, NULL);
        if (!e && (e = pthread_cond_init(&l->filled_cv, NULL)))
            pthread_mutex_destroy(&l->mu);
        if (!e && (e = pthread_cond_init(&l->space_cv, NULL))) {
            pthread_cond_destroy(&l->filled_cv);
            pthread_mutex_destroy(&l->mu);
        }
        if (e) {
            st = qfd_fail(ctx, QFD_ERR_INTERNAL, "cannot create prefetch locks: %s", strerror(e));
            goto fail;
        }
        l->sync_ready = true;
    }
    *out = l;
    return QFD_OK;
fail:
    qfd_loader_free(l);
    return st;
}

qfd_status qfd_loader_start_epoch(qfd_ctx *ctx, qfd_loader *l, int64_t epoch, int64_t skip_batches)
{
    if (!l)
        return qfd_fail(ctx, QFD_ERR_ARG, "NULL loader");
    stop_workers(l);
    l->started = false;
    l->st = QFD_OK;
    if (epoch < 0)
        return qfd_fail(ctx, QFD_ERR_ARG, "epoch must be >= 0, got %lld", (long long)epoch);
    if (skip_batches < 0 || skip_batches > l->n_batches)
        return qfd_fail(ctx, QFD_ERR_ARG, "cannot skip %lld batches of an epoch of %lld", (long long)skip_batches,
                        (long long)l->n_batches);
    for (int64_t i = 0; i < l->n; i++)
        l->perm[i] = i;
    if (l->o.shuffle) {
        qfd_rng r = qfd_rng_key(l->o.seed, STREAM_PERM, (uint64_t)epoch, 0);
        for (int64_t i = l->n - 1; i > 0; i--) {
            const int64_t j = (int64_t)qfd_rng_below(&r, (uint64_t)i + 1), t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->first = l->cur = skip_batches;
    /* no worker runs now: no lock needed */
    l->claimed = l->freed = skip_batches;
    for (int i = 0; i < l->n_slots; i++)
        l->slots[i].filled = -1;
    l->started = true;
    if (l->o.prefetch > 0 && skip_batches < l->n_batches) {
        for (int i = 0; i < l->n_workers; i++) {
            int e = pthread_create(&l->threads[i], NULL, worker_main, l);
            if (e && i == 0) {
                l->started = false;
                return qfd_fail(ctx, QFD_ERR_INTERNAL, "cannot start a prefetch thread: %s", strerror(e));
            }
            if (e) /* fewer workers: slower, not wrong */
                break;
            l->n_running = i + 1;
        }
    }
    return QFD_OK;
}

int qfd_loader_next(qfd_loader *l, const qfd_array **x, const qfd_array **y)
{
    *x = NULL;
    *y = NULL;
    for (;;) {
        if (!l->started || l->st || l->cur >= l->n_batches)
            return 0;
        slot *s = &l->slots[l->cur % l->n_slots];
        if (l->o.prefetch == 0) {
            fill_batch(l, &l->sync_ctx, l->cur, s);
        } else {
            pthread_mutex_lock(&l->mu);
            l->freed = l->cur; /* the caller is done with the batch it held */
            pthread_cond_broadcast(&l->space_cv);
            while (s->filled != l->cur)
                pthread_cond_wait(&l->filled_cv, &l->mu);
            pthread_mutex_unlock(&l->mu);
        }
        l->cur++;
        l->skipped += s->skipped;
        if (s->st) {
            l->st = s->st;
            memcpy(l->err, s->err, sizeof l->err);
            return 0;
        }
        if (s->x.dims[0] == 0) /* every image of the batch was skipped */
            continue;
        *x = &s->x;
        *y = &s->y;
        return 1;
    }
}

qfd_status qfd_loader_error(qfd_ctx *ctx, const qfd_loader *l)
{
    return l->st ? qfd_fail(ctx, l->st, "%s", l->err) : QFD_OK;
}

int64_t qfd_loader_skipped(const qfd_loader *l)
{
    return l->skipped;
}

int64_t qfd_loader_batches_per_epoch(const qfd_loader *l)
{
    return l->n_batches;
}

void qfd_loader_free(qfd_loader *l)
{
    if (!l)
        return;
    stop_workers(l);
    if (l->sync_ready) {
        pthread_cond_destroy(&l->space_cv);
        pthread_cond_destroy(&l->filled_cv);
        pthread_mutex_destroy(&l->mu);
    }
    for (int i = 0; l->slots && i < l->n_slots; i++) {
        qfd_array_free(&l->slots[i].x);
        qfd_array_free(&l->slots[i].y);
    }
    free(l->slots);
    free(l->perm);
    free(l);
}
