/* Batches for training: see loader.h for the contract.
 *
 * Randomness is counter-based: the permutation of epoch e comes from a
 * splitmix64 stream keyed by (seed, e), and each example's crop offsets and
 * flip from a stream keyed by (seed, e, position in the epoch). Nothing
 * depends on which thread prepares a batch or on what was prepared before
 * it, which is what makes prefetching and resuming byte-exact.
 *
 * Prefetching: a ring of prefetch + 1 batch slots. The consumer holds the
 * slot of the batch it was last given, and the worker fills up to `prefetch`
 * batches ahead of it. Batch k always lives in slot k % n_slots. Two counters
 * under one mutex order everything: `ready` (batches below it are filled)
 * and `freed` (slots of batches below it may be overwritten). */
#include "data/loader.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/array.h"
#include "ir/dtype.h"

/* Keeps the two kinds of streams apart even for equal (seed, epoch) keys. */
#define STREAM_PERM 0x7065726d75746531ULL /* "permute1" */
#define STREAM_AUG 0x6175676d656e7431ULL  /* "augment1" */

typedef struct slot {
    qfd_array x, y;
} slot;

struct qfd_loader {
    const qfd_dataset *ds;
    qfd_loader_opts o;
    int64_t n, c, h, w, chw;
    int64_t rows; /* examples a slot can hold: min(batch, N) */
    int64_t n_batches;
    int64_t *perm; /* example index at each position of the current epoch */
    int n_slots;
    slot *slots;

    /* Set by the consumer before the worker starts, read-only while it runs. */
    int64_t epoch, first; /* current epoch and its first batch (after skipping) */
    bool started;
    int64_t cur; /* consumer only: next batch to hand out */

    /* Prefetch. The consumer alone touches these three: */
    bool sync_ready; /* mu and both condition variables are initialised */
    bool running;    /* a worker exists and must be joined */
    pthread_t thread;
    /* and these are shared, guarded by mu (no worker runs while start_epoch
     * resets them): */
    pthread_mutex_t mu;
    pthread_cond_t filled_cv, space_cv;
    int64_t ready, freed;
    bool stop;
};

/* ---- counter-based RNG ------------------------------------------------------ */

/* splitmix64's output function: a bijection with good avalanche, so keys
 * that differ in one bit give unrelated streams. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct rng {
    uint64_t s;
} rng;

static rng rng_key(uint64_t seed, uint64_t stream, uint64_t epoch, uint64_t pos)
{
    rng r = {mix64(mix64(mix64(seed ^ stream) + epoch) + pos)};
    return r;
}

static uint64_t rng_next(rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

/* Uniform in [0, n) without modulo bias: reject the short top range. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    uint64_t lim = (0 - n) % n, v;
    do
        v = rng_next(r);
    while (v < lim);
    return v % n;
}

/* ---- one batch ---------------------------------------------------------------- */

/* Writes batch k of the current epoch into s. Pure in (seed, epoch, k), so
 * the worker and the consumer produce identical bytes. */
static void fill_batch(const qfd_loader *l, int64_t k, slot *s)
{
    const int64_t c_n = l->c, h = l->h, w = l->w, pad = l->o.crop_pad;
    const int64_t pos0 = k * l->o.batch;
    const int64_t b = l->n - pos0 < l->o.batch ? l->n - pos0 : l->o.batch;
    const float *src_x = l->ds->x.data;
    const int64_t *src_y = l->ds->y.data;
    float *dst = s->x.data;
    int64_t *dst_y = s->y.data;

    for (int64_t i = 0; i < b; i++) {
        const int64_t pos = pos0 + i, idx = l->perm[pos];
        /* Always three draws in this order, so turning crop on or off does
         * not change which examples get flipped. */
        rng r = rng_key(l->o.seed, STREAM_AUG, (uint64_t)l->epoch, (uint64_t)pos);
        const int64_t oy = (int64_t)rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
        const int64_t ox = (int64_t)rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
        const bool flip = l->o.hflip && (rng_next(&r) >> 63);
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
    s->x.dims[0] = b;
    s->x.nbytes = (size_t)(b * l->chw) * sizeof(float);
    s->y.dims[0] = b;
    s->y.nbytes = (size_t)b * sizeof(int64_t);
}

/* ---- worker ------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    qfd_loader *l = arg;
    for (int64_t k = l->first; k < l->n_batches; k++) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && k - l->freed >= l->n_slots)
            pthread_cond_wait(&l->space_cv, &l->mu);
        const bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        /* outside the lock: the consumer never touches this slot until ready > k */
        fill_batch(l, k, &l->slots[k % l->n_slots]);
        pthread_mutex_lock(&l->mu);
        l->ready = k + 1;
        pthread_cond_signal(&l->filled_cv);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

static void stop_worker(qfd_loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->space_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->running = false;
    l->stop = false; /* the worker is gone: no lock needed */
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
    if (ds->n > 0 &&
        (!x->data || !y->data || qfd_array_numel(x) < 0 || x->nbytes < (size_t)qfd_array_numel(x) * sizeof(float) ||
         y->nbytes < (size_t)ds->n * sizeof(int64_t)))
        return qfd_fail(ctx, QFD_ERR_ARG, "dataset arrays are smaller than their shapes");
    if (o->batch < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "batch must be >= 1, got %lld", (long long)o->batch);
    if (o->crop_pad < 0 || o->crop_pad > (1 << 20))
        return qfd_fail(ctx, QFD_ERR_ARG, "crop padding must be in [0, 1048576], got %d", o->crop_pad);
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
    l->n = ds->n;
    l->c = ds->x.dims[1];
    l->h = ds->x.dims[2];
    l->w = ds->x.dims[3];
    l->chw = l->c * l->h * l->w;
    l->n_batches = o->drop_last ? l->n / o->batch : l->n / o->batch + (l->n % o->batch != 0);
    /* slots never need more rows than the dataset has, whatever the batch */
    l->rows = o->batch < l->n ? o->batch : (l->n > 0 ? l->n : 1);
    l->n_slots = o->prefetch + 1;
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
    stop_worker(l);
    l->started = false;
    if (epoch < 0)
        return qfd_fail(ctx, QFD_ERR_ARG, "epoch must be >= 0, got %lld", (long long)epoch);
    if (skip_batches < 0 || skip_batches > l->n_batches)
        return qfd_fail(ctx, QFD_ERR_ARG, "cannot skip %lld batches of an epoch of %lld", (long long)skip_batches,
                        (long long)l->n_batches);
    for (int64_t i = 0; i < l->n; i++)
        l->perm[i] = i;
    if (l->o.shuffle) {
        rng r = rng_key(l->o.seed, STREAM_PERM, (uint64_t)epoch, 0);
        for (int64_t i = l->n - 1; i > 0; i--) {
            const int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1), t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->first = l->cur = skip_batches;
    l->ready = l->freed = skip_batches; /* no worker runs now: no lock needed */
    l->started = true;
    if (l->o.prefetch > 0 && skip_batches < l->n_batches) {
        int e = pthread_create(&l->thread, NULL, worker_main, l);
        if (e) {
            l->started = false;
            return qfd_fail(ctx, QFD_ERR_INTERNAL, "cannot start the prefetch thread: %s", strerror(e));
        }
        l->running = true;
    }
    return QFD_OK;
}

int qfd_loader_next(qfd_loader *l, const qfd_array **x, const qfd_array **y)
{
    *x = NULL;
    *y = NULL;
    if (!l->started || l->cur >= l->n_batches)
        return 0;
    slot *s = &l->slots[l->cur % l->n_slots];
    if (l->o.prefetch == 0) {
        fill_batch(l, l->cur, s);
    } else {
        pthread_mutex_lock(&l->mu);
        l->freed = l->cur; /* the caller is done with the batch it held */
        pthread_cond_signal(&l->space_cv);
        while (l->ready <= l->cur)
            pthread_cond_wait(&l->filled_cv, &l->mu);
        pthread_mutex_unlock(&l->mu);
    }
    l->cur++;
    *x = &s->x;
    *y = &s->y;
    return 1;
}

int64_t qfd_loader_batches_per_epoch(const qfd_loader *l)
{
    return l->n_batches;
}

void qfd_loader_free(qfd_loader *l)
{
    if (!l)
        return;
    stop_worker(l);
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
