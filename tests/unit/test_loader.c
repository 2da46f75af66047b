/* The training data loader: coverage of every epoch, seeded order,
 * byte-identical batches with and without prefetching and after a resume,
 * crop/flip/normalization against values computed here from the dataset,
 * clean shutdown mid-epoch, option checks, and one epoch of the real
 * Fashion-MNIST train split (dataset-fashion-mnist must be installed).
 *
 * Synthetic datasets label example i with i, so a label names the example,
 * and give every pixel of an example a distinct non-zero value, so padding
 * zeros, shifts and mirroring are all visible. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "core/ctx.h"
#include "data/loader.h"
#include "ir/dtype.h"

static float pixel(int64_t i, int64_t k)
{
    return (float)((i * 7919 + k) % 9973 + 1) / 9974.0f;
}

static bool make_ds(qfd_ctx *ctx, qfd_dataset *ds, int64_t n, int64_t c, int64_t h, int64_t w)
{
    memset(ds, 0, sizeof *ds);
    const int64_t xd[4] = {n, c, h, w};
    if (qfd_array_alloc(ctx, &ds->x, QFD_DT_FLOAT, 4, xd) || qfd_array_alloc(ctx, &ds->y, QFD_DT_INT64, 1, xd)) {
        fprintf(stderr, "%s:%d: cannot allocate a synthetic dataset: %s\n", __FILE__, __LINE__, qfd_ctx_error(ctx));
        qfd_test_failures++;
        qfd_dataset_free(ds);
        return false;
    }
    ds->n = n;
    float *x = ds->x.data;
    int64_t *y = ds->y.data;
    for (int64_t i = 0; i < n; i++) {
        y[i] = i;
        for (int64_t k = 0; k < c * h * w; k++)
            x[i * c * h * w + k] = pixel(i, k);
    }
    return true;
}

static qfd_loader_opts plain(int64_t batch)
{
    qfd_loader_opts o = {.batch = batch, .seed = 42};
    return o;
}

static qfd_loader *new_loader(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o)
{
    qfd_loader *l = NULL;
    CHECK_OK(ctx, qfd_loader_new(ctx, ds, o, &l));
    return l;
}

/* ---- a whole epoch, copied out ------------------------------------------------ */

typedef struct epoch_copy {
    int64_t n_batches;
    int64_t sizes[512];
    float *x[512];
    int64_t *y[512];
} epoch_copy;

static void copy_free(epoch_copy *e)
{
    for (int64_t k = 0; k < e->n_batches; k++)
        free(e->x[k]), free(e->y[k]);
    e->n_batches = 0;
}

/* Reads the rest of the current epoch, checking shapes against the dataset. */
static void read_epoch(qfd_loader *l, const qfd_dataset *ds, epoch_copy *e)
{
    const qfd_array *x, *y;
    memset(e, 0, sizeof *e);
    while (qfd_loader_next(l, &x, &y)) {
        CHECK(x && y && e->n_batches < 512);
        if (!x || !y || e->n_batches >= 512)
            break;
        const int64_t b = x->dims[0];
        CHECK(x->dtype == QFD_DT_FLOAT && x->rank == 4 && x->dims[1] == ds->x.dims[1] && x->dims[2] == ds->x.dims[2] &&
              x->dims[3] == ds->x.dims[3] && y->dtype == QFD_DT_INT64 && y->rank == 1 && y->dims[0] == b && b >= 1 &&
              x->nbytes == (size_t)qfd_array_numel(x) * 4 && y->nbytes == (size_t)b * 8);
        int64_t k = e->n_batches++;
        e->sizes[k] = b;
        e->x[k] = malloc(x->nbytes);
        e->y[k] = malloc(y->nbytes);
        CHECK(e->x[k] && e->y[k]);
        if (e->x[k] && e->y[k]) {
            memcpy(e->x[k], x->data, x->nbytes);
            memcpy(e->y[k], y->data, y->nbytes);
        }
    }
    CHECK(x == NULL && y == NULL);
    CHECK(qfd_loader_next(l, &x, &y) == 0); /* the end stays the end */
}

/* Batches [from, ...) of a equal batches [0, ...) of b, byte for byte. */
static bool same_batches(const epoch_copy *a, int64_t from, const epoch_copy *b, int64_t chw)
{
    if (a->n_batches - from != b->n_batches)
        return false;
    for (int64_t k = 0; k < b->n_batches; k++) {
        const int64_t s = b->sizes[k];
        if (a->sizes[from + k] != s || memcmp(a->x[from + k], b->x[k], (size_t)(s * chw) * 4) ||
            memcmp(a->y[from + k], b->y[k], (size_t)s * 8))
            return false;
    }
    return true;
}

static void order_of(const epoch_copy *e, int64_t *order, int64_t *count)
{
    *count = 0;
    for (int64_t k = 0; k < e->n_batches; k++)
        for (int64_t i = 0; i < e->sizes[k]; i++)
            order[(*count)++] = e->y[k][i];
}

/* ---- coverage ------------------------------------------------------------------ */

static void check_coverage(qfd_ctx *ctx, const qfd_dataset *ds, int64_t batch, bool shuffle, bool drop_last,
                           int prefetch)
{
    qfd_loader_opts o = plain(batch);
    o.shuffle = shuffle, o.drop_last = drop_last, o.prefetch = prefetch;
    qfd_loader *l = new_loader(ctx, ds, &o);
    if (!l)
        return;
    const int64_t n = ds->n, chw = ds->x.dims[1] * ds->x.dims[2] * ds->x.dims[3];
    const int64_t want_nb = drop_last ? n / batch : (n + batch - 1) / batch;
    CHECK(qfd_loader_batches_per_epoch(l) == want_nb);
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        epoch_copy e;
        int *seen = calloc((size_t)n, sizeof *seen);
        int64_t total = 0, in_order = 1, pixels_ok = 1;
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, epoch, 0));
        read_epoch(l, ds, &e);
        CHECK(e.n_batches == want_nb);
        for (int64_t k = 0; seen && k < e.n_batches; k++) {
            /* only the last batch may be short, and only without drop_last */
            CHECK(e.sizes[k] == batch || (!drop_last && k == e.n_batches - 1 && e.sizes[k] == n % batch));
            for (int64_t i = 0; i < e.sizes[k]; i++) {
                const int64_t id = e.y[k][i];
                CHECK(id >= 0 && id < n);
                if (id < 0 || id >= n)
                    continue;
                seen[id]++;
                in_order &= id == total;
                /* no augmentation: the example's pixels, untouched */
                pixels_ok &= !memcmp(e.x[k] + i * chw, (const float *)ds->x.data + id * chw, (size_t)chw * 4);
                total++;
            }
        }
        int64_t once = 0, never = 0;
        for (int64_t i = 0; seen && i < n; i++)
            once += seen[i] == 1, never += seen[i] == 0;
        CHECK(pixels_ok);
        CHECK(once == total); /* nobody twice */
        if (drop_last)
            CHECK(total == want_nb * batch && never == n - total && never < batch);
        else
            CHECK(total == n && never == 0);
        if (!shuffle)
            CHECK(in_order);
        else if (total > 8)
            CHECK(!in_order);
        free(seen);
        copy_free(&e);
    }
    qfd_loader_free(l);
}

static void test_coverage(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 37, 2, 3, 4))
        return;
    for (int shuffle = 0; shuffle < 2; shuffle++)
        for (int drop = 0; drop < 2; drop++)
            for (int pf = 0; pf < 3; pf += 2) {
                check_coverage(ctx, &ds, 8, shuffle, drop, pf);
                check_coverage(ctx, &ds, 1, shuffle, drop, pf);
                check_coverage(ctx, &ds, 37, shuffle, drop, pf);
                check_coverage(ctx, &ds, 50, shuffle, drop, pf); /* batch > N */
            }
    qfd_dataset_free(&ds);
}

/* ---- order ----------------------------------------------------------------------- */

static void epoch_order(qfd_ctx *ctx, qfd_loader *l, const qfd_dataset *ds, int64_t epoch, int64_t *order)
{
    epoch_copy e;
    int64_t count;
    CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, epoch, 0));
    read_epoch(l, ds, &e);
    order_of(&e, order, &count);
    CHECK(count == ds->n);
    copy_free(&e);
}

static void test_order(qfd_ctx *ctx)
{
    enum { N = 100 };
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, N, 1, 2, 2))
        return;
    qfd_loader_opts o = plain(16);
    o.shuffle = true;
    qfd_loader *a = new_loader(ctx, &ds, &o), *b = new_loader(ctx, &ds, &o);
    o.seed = 43;
    qfd_loader *c = new_loader(ctx, &ds, &o);
    if (a && b && c) {
        int64_t a0[N], a1[N], a0_again[N], b1[N], b0[N], c0[N];
        epoch_order(ctx, a, &ds, 0, a0);
        epoch_order(ctx, a, &ds, 1, a1);
        epoch_order(ctx, a, &ds, 0, a0_again);
        epoch_order(ctx, b, &ds, 1, b1); /* another loader, epochs in another order */
        epoch_order(ctx, b, &ds, 0, b0);
        epoch_order(ctx, c, &ds, 0, c0);
        CHECK(memcmp(a0, a1, sizeof a0) != 0);       /* epochs differ */
        CHECK(memcmp(a0, a0_again, sizeof a0) == 0); /* same (seed, epoch), same order */
        CHECK(memcmp(a0, b0, sizeof a0) == 0 && memcmp(a1, b1, sizeof a1) == 0);
        CHECK(memcmp(a0, c0, sizeof a0) != 0); /* the seed matters */
        int fixed = 0;
        for (int i = 0; i < N; i++)
            fixed += a0[i] == i;
        CHECK(fixed < 10); /* a real shuffle: about one fixed point expected */
    }
    qfd_loader_free(a);
    qfd_loader_free(b);
    qfd_loader_free(c);
    qfd_dataset_free(&ds);
}

/* ---- prefetch and resume give the same bytes --------------------------------------- */

static qfd_loader_opts busy_opts(int prefetch)
{
    qfd_loader_opts o = {.batch = 7,
                         .shuffle = true,
                         .seed = 7,
                         .crop_pad = 2,
                         .hflip = true,
                         .n_norm = 3,
                         .mean = {0.25f, 0.5f, 0.75f},
                         .std = {0.5f, 0.25f, 2.0f},
                         .prefetch = prefetch};
    return o;
}

static void test_prefetch_and_resume(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 50, 3, 6, 5))
        return;
    const int64_t chw = 3 * 6 * 5;
    qfd_loader_opts o = busy_opts(0);
    qfd_loader *sync = new_loader(ctx, &ds, &o);
    epoch_copy ref[2];
    for (int64_t ep = 0; sync && ep < 2; ep++) {
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, sync, ep, 0));
        read_epoch(sync, &ds, &ref[ep]);
        CHECK(ref[ep].n_batches == 8);
    }
    if (!sync) {
        qfd_dataset_free(&ds);
        return;
    }
    CHECK(!same_batches(&ref[0], 0, &ref[1], chw)); /* augmentation differs between epochs */
    for (int pf = 0; pf <= 3; pf++) {
        o = busy_opts(pf);
        qfd_loader *l = new_loader(ctx, &ds, &o);
        if (!l)
            continue;
        for (int64_t ep = 0; ep < 2; ep++) {
            epoch_copy got;
            CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, ep, 0));
            read_epoch(l, &ds, &got);
            CHECK(same_batches(&ref[ep], 0, &got, chw));
            copy_free(&got);
            /* a resume at every batch, including none left */
            for (int64_t k = 0; k <= ref[ep].n_batches; k++) {
                CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, ep, k));
                read_epoch(l, &ds, &got);
                CHECK(same_batches(&ref[ep], k, &got, chw));
                copy_free(&got);
            }
        }
        /* epoch 1 right after an abandoned epoch 0 */
        const qfd_array *x, *y;
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 0, 0));
        CHECK(qfd_loader_next(l, &x, &y) == 1);
        epoch_copy got;
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 1, 3));
        read_epoch(l, &ds, &got);
        CHECK(same_batches(&ref[1], 3, &got, chw));
        copy_free(&got);
        qfd_loader_free(l);
    }
    copy_free(&ref[0]);
    copy_free(&ref[1]);
    qfd_loader_free(sync);
    qfd_dataset_free(&ds);
}

/* ---- augmentation and normalization against values computed here ----------------------- */

/* Whether out is img shifted by (oy, ox) after a zero pad, mirrored if flip,
 * then normalized (n_norm 0: not). */
static bool is_view(const float *out, const float *img, int64_t c_n, int64_t h, int64_t w, int64_t oy, int64_t ox,
                    bool flip, int n_norm, const float *mean, const float *std)
{
    for (int64_t c = 0; c < c_n; c++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                const int64_t sy = y + oy, sx = (flip ? w - 1 - x : x) + ox;
                float v = sy >= 0 && sy < h && sx >= 0 && sx < w ? img[(c * h + sy) * w + sx] : 0.0f;
                if (n_norm)
                    v = (v - mean[n_norm == 1 ? 0 : c]) / std[n_norm == 1 ? 0 : c];
                const float got = out[(c * h + y) * w + x];
                if (!(fabsf(got - v) <= 1e-6f * (1.0f + fabsf(v))))
                    return false;
            }
    return true;
}

/* Runs one epoch and finds, for every example, the (oy, ox, flip) that
 * explains it: exactly one must, within [-pad, pad]. Counts how often each
 * offset and each flip state occurred. */
static void check_views(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o, int64_t epoch, int64_t *offsets,
                        int64_t *flips)
{
    const int64_t c = ds->x.dims[1], h = ds->x.dims[2], w = ds->x.dims[3], chw = c * h * w;
    const int pad = o->crop_pad, side = 2 * pad + 1;
    qfd_loader *l = new_loader(ctx, ds, o);
    if (!l)
        return;
    epoch_copy e;
    CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, epoch, 0));
    read_epoch(l, ds, &e);
    int64_t unexplained = 0, ambiguous = 0, total = 0;
    for (int64_t k = 0; k < e.n_batches; k++)
        for (int64_t i = 0; i < e.sizes[k]; i++) {
            const float *img = (const float *)ds->x.data + e.y[k][i] * chw, *out = e.x[k] + i * chw;
            int matches = 0;
            for (int f = 0; f < 2; f++)
                for (int oy = -pad; oy <= pad; oy++)
                    for (int ox = -pad; ox <= pad; ox++)
                        if (is_view(out, img, c, h, w, oy, ox, f, o->n_norm, o->mean, o->std)) {
                            matches++;
                            offsets[(oy + pad) * side + ox + pad]++;
                            flips[f]++;
                        }
            unexplained += matches == 0, ambiguous += matches > 1, total++;
        }
    CHECK(total == ds->n && unexplained == 0 && ambiguous == 0);
    copy_free(&e);
    qfd_loader_free(l);
}

static void test_crop_identity(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 40, 3, 5, 7))
        return;
    qfd_loader_opts o = plain(6);
    o.shuffle = true, o.prefetch = 1; /* crop_pad 0, no flip */
    int64_t offsets[1] = {0}, flips[2] = {0};
    check_views(ctx, &ds, &o, 0, offsets, flips);
    CHECK(offsets[0] == 40 && flips[0] == 40 && flips[1] == 0);
    qfd_dataset_free(&ds);
}

static void test_flip(qfd_ctx *ctx)
{
    for (int64_t c = 1; c <= 3; c += 2) {
        qfd_dataset ds;
        if (!make_ds(ctx, &ds, 400, c, 4, 5))
            return;
        qfd_loader_opts o = plain(32);
        o.hflip = true;
        int64_t offsets[1] = {0}, flips[2] = {0};
        check_views(ctx, &ds, &o, 0, offsets, flips);
        /* p = 0.5 over 400 draws: outside [140, 260] is a > 6 sigma event */
        CHECK(flips[0] + flips[1] == 400 && flips[1] >= 140 && flips[1] <= 260);
        qfd_dataset_free(&ds);
    }
    /* an image known by heart: one row 1 2 3, mirrored 3 2 1 */
    qfd_dataset ds;
    const int64_t xd[4] = {64, 1, 1, 3}, n = 64;
    memset(&ds, 0, sizeof ds);
    CHECK_OK(ctx, qfd_array_alloc(ctx, &ds.x, QFD_DT_FLOAT, 4, xd));
    CHECK_OK(ctx, qfd_array_alloc(ctx, &ds.y, QFD_DT_INT64, 1, &n));
    if (!ds.x.data || !ds.y.data) {
        qfd_dataset_free(&ds);
        return;
    }
    ds.n = n;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            ((float *)ds.x.data)[i * 3 + k] = (float)(k + 1);
    qfd_loader_opts o = plain(16);
    o.hflip = true, o.prefetch = 2;
    qfd_loader *l = new_loader(ctx, &ds, &o);
    int64_t plain_rows = 0, mirrored = 0, other = 0;
    const qfd_array *x, *y;
    for (int64_t ep = 0; l && ep < 2; ep++) {
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, ep, 0));
        while (qfd_loader_next(l, &x, &y))
            for (int64_t i = 0; i < x->dims[0]; i++) {
                const float *r = (const float *)x->data + i * 3;
                if (r[0] == 1 && r[1] == 2 && r[2] == 3)
                    plain_rows++;
                else if (r[0] == 3 && r[1] == 2 && r[2] == 1)
                    mirrored++;
                else
                    other++;
            }
    }
    CHECK(other == 0 && plain_rows + mirrored == 128 && plain_rows >= 30 && mirrored >= 30);
    qfd_loader_free(l);
    qfd_dataset_free(&ds);
}

static void test_crop(qfd_ctx *ctx)
{
    static const struct {
        int64_t c, h, w;
        int pad;
        bool flip;
        int n_norm;
    } cases[] = {
        {1, 5, 6, 2, false, 0}, {3, 5, 6, 2, false, 0}, {3, 4, 4, 1, true, 0},
        {1, 6, 4, 3, true, 0},  {3, 5, 6, 2, true, 3},  {2, 4, 5, 1, true, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        qfd_dataset ds;
        const int64_t n = 600;
        if (!make_ds(ctx, &ds, n, cases[t].c, cases[t].h, cases[t].w))
            return;
        qfd_loader_opts o = {.batch = 50,
                             .shuffle = true,
                             .seed = 9,
                             .crop_pad = cases[t].pad,
                             .hflip = cases[t].flip,
                             .n_norm = cases[t].n_norm,
                             .mean = {0.1f, 0.2f, 0.3f},
                             .std = {0.3f, 0.2f, 0.1f},
                             .prefetch = (int)(t % 3)};
        const int side = 2 * cases[t].pad + 1;
        int64_t offsets[64] = {0}, flips[2] = {0}, never = 0;
        check_views(ctx, &ds, &o, 1, offsets, flips);
        /* every offset in range occurs, none outside (check_views explained all
         * n), and about uniformly: chi-square within 6 sigma of its mean */
        const double expect = (double)n / (side * side), df = side * side - 1;
        double chi2 = 0;
        for (int i = 0; i < side * side; i++) {
            never += offsets[i] == 0;
            const double d = (double)offsets[i] - expect;
            chi2 += d * d / expect;
        }
        CHECK(never == 0);
        CHECK(chi2 <= df + 6 * sqrt(2 * df));
        CHECK(cases[t].flip ? flips[1] > n / 4 && flips[0] > n / 4 : flips[1] == 0);
        qfd_dataset_free(&ds);
    }
}

static void test_normalization(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 10, 3, 2, 3))
        return;
    /* per channel, with values known by hand for one pixel per channel */
    float *x0 = ds.x.data;
    x0[0] = 1.0f, x0[6] = 0.5f, x0[12] = 0.0f;
    qfd_loader_opts o = {.batch = 4, .n_norm = 3, .mean = {0.5f, 0.25f, 0.125f}, .std = {0.5f, 0.25f, 2.0f}};
    qfd_loader *l = new_loader(ctx, &ds, &o);
    const qfd_array *x, *y;
    if (l) {
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 0, 0));
        CHECK(qfd_loader_next(l, &x, &y) == 1);
        const float *v = x->data;
        CHECK(((const int64_t *)y->data)[0] == 0);
        CHECK(v[0] == 1.0f && v[6] == 1.0f && v[12] == -0.0625f);
    }
    qfd_loader_free(l);
    int64_t offsets[1] = {0}, flips[2] = {0};
    check_views(ctx, &ds, &o, 0, offsets, flips); /* every pixel of every example */
    CHECK(flips[0] == 10);
    o.n_norm = 1; /* one mean/std for all three channels */
    o.mean[1] = o.mean[2] = 99.0f;
    check_views(ctx, &ds, &o, 0, offsets, flips);
    CHECK(flips[0] == 20);
    qfd_dataset_free(&ds);

    /* more than 4 channels: one shared mean/std is fine */
    if (!make_ds(ctx, &ds, 5, 6, 2, 2))
        return;
    o.n_norm = 1;
    check_views(ctx, &ds, &o, 0, offsets, flips);
    CHECK(flips[0] == 25);
    qfd_dataset_free(&ds);
}

/* ---- shutdown -------------------------------------------------------------------------- */

static void test_free_mid_epoch(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 500, 3, 8, 8))
        return;
    const qfd_array *x, *y;
    for (int pf = 1; pf <= 4; pf += 3) {
        qfd_loader_opts o = busy_opts(pf);
        o.batch = 4;
        qfd_loader *l;
        /* never started */
        l = new_loader(ctx, &ds, &o);
        CHECK(l && qfd_loader_next(l, &x, &y) == 0 && !x && !y);
        qfd_loader_free(l);
        /* started, nothing taken: the worker is blocked on a full ring */
        l = new_loader(ctx, &ds, &o);
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 0, 0));
        qfd_loader_free(l);
        /* a few batches taken, then restarts and free mid-epoch */
        l = new_loader(ctx, &ds, &o);
        for (int64_t ep = 0; l && ep < 5; ep++) {
            CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, ep, ep));
            for (int k = 0; k < 3; k++)
                CHECK(qfd_loader_next(l, &x, &y) == 1 && x->dims[0] == 4);
        }
        qfd_loader_free(l);
    }
    qfd_loader_free(NULL);
    qfd_dataset_free(&ds);
}

/* ---- bad options ------------------------------------------------------------------------- */

#define EXPECT_REJECT(ds, o, want) expect_reject(ctx, ds, o, want, __LINE__)
static void expect_reject(qfd_ctx *ctx, const qfd_dataset *ds, const qfd_loader_opts *o, const char *want, int line)
{
    qfd_loader *l = (qfd_loader *)&l; /* must be overwritten with NULL */
    qfd_status st = qfd_loader_new(ctx, ds, o, &l);
    const char *msg = qfd_ctx_error(ctx);
    if (st != QFD_ERR_ARG || l != NULL || !strstr(msg, want) || strchr(msg, '\n')) {
        fprintf(stderr, "%s:%d: expected rejection with \"%s\", got %s: %s\n", __FILE__, line, qfd_status_name(st),
                want, msg);
        qfd_test_failures++;
        if (st == QFD_OK)
            qfd_loader_free(l);
    }
}

static void test_bad_options(qfd_ctx *ctx)
{
    qfd_dataset ds;
    if (!make_ds(ctx, &ds, 12, 3, 4, 4))
        return;
    qfd_loader_opts o;
    o = plain(0), EXPECT_REJECT(&ds, &o, "batch must be >= 1, got 0");
    o = plain(-3), EXPECT_REJECT(&ds, &o, "batch must be >= 1, got -3");
    o = plain(4), o.crop_pad = -1, EXPECT_REJECT(&ds, &o, "crop padding must be in [0, 1048576], got -1");
    o = plain(4), o.prefetch = -2, EXPECT_REJECT(&ds, &o, "prefetch must be in [0, 1024] batches, got -2");
    o = plain(4), o.n_norm = 2, o.std[0] = o.std[1] = 1;
    EXPECT_REJECT(&ds, &o, "2 mean/std values for images with 3 channels");
    o = plain(4), o.n_norm = -1, EXPECT_REJECT(&ds, &o, "-1 mean/std values for images with 3 channels");
    o = plain(4), o.n_norm = 3, o.std[0] = o.std[1] = 1, o.std[2] = 0;
    EXPECT_REJECT(&ds, &o, "std[2] must be > 0 and finite, got 0");
    o = plain(4), o.n_norm = 1, o.std[0] = -0.5f, EXPECT_REJECT(&ds, &o, "std[0] must be > 0");
    o = plain(4), o.n_norm = 1, o.std[0] = NAN, EXPECT_REJECT(&ds, &o, "std[0] must be > 0");
    o = plain(4), o.n_norm = 1, o.std[0] = 1, o.mean[0] = INFINITY, EXPECT_REJECT(&ds, &o, "mean[0] must be finite");

    /* datasets that are not float32 NCHW + int64 labels */
    o = plain(4);
    qfd_dataset bad = ds;
    bad.x.dtype = QFD_DT_DOUBLE, EXPECT_REJECT(&bad, &o, "x must be float32 [N,C,H,W], got double of rank 4");
    bad = ds, bad.x.rank = 3, EXPECT_REJECT(&bad, &o, "x must be float32 [N,C,H,W], got float of rank 3");
    bad = ds, bad.y.dtype = QFD_DT_INT32, EXPECT_REJECT(&bad, &o, "y must be int64 [N], got int32");
    bad = ds, bad.n = 11, EXPECT_REJECT(&bad, &o, "dataset has n = 11 but x has 12 and y 12 examples");
    bad = ds, bad.x.nbytes = 8, EXPECT_REJECT(&bad, &o, "smaller than their shapes");
    /* a 5-channel dataset cannot take 5 per-channel values (4 at most) */
    bad = ds, bad.x.dims[1] = 5, bad.x.dims[2] = 2, bad.x.dims[3] = 3, o.n_norm = 5;
    for (int i = 0; i < 4; i++)
        o.std[i] = 1;
    EXPECT_REJECT(&bad, &o, "at most 4 channels, got 5");

    /* epochs and skips out of range */
    o = plain(5);
    qfd_loader *l = new_loader(ctx, &ds, &o);
    if (l) {
        const qfd_array *x, *y;
        CHECK(qfd_loader_batches_per_epoch(l) == 3);
        CHECK(qfd_loader_start_epoch(ctx, l, -1, 0) == QFD_ERR_ARG &&
              strstr(qfd_ctx_error(ctx), "epoch must be >= 0, got -1"));
        CHECK(qfd_loader_start_epoch(ctx, l, 0, 4) == QFD_ERR_ARG &&
              strstr(qfd_ctx_error(ctx), "cannot skip 4 batches of an epoch of 3"));
        CHECK(qfd_loader_start_epoch(ctx, l, 0, -1) == QFD_ERR_ARG);
        CHECK(qfd_loader_next(l, &x, &y) == 0); /* a failed start leaves no epoch */
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 0, 3));
        CHECK(qfd_loader_next(l, &x, &y) == 0);
    }
    qfd_loader_free(l);
    qfd_dataset_free(&ds);
}

/* ---- the real thing ------------------------------------------------------------------------- */

static void test_fashion_mnist(qfd_ctx *ctx)
{
    qfd_dataset ds;
    CHECK_OK(ctx, qfd_dataset_load(ctx, NULL, QFD_SPLIT_TRAIN, 1000, &ds));
    if (ds.n != 1000) {
        CHECK(ds.n == 1000);
        qfd_dataset_free(&ds);
        return;
    }
    int64_t want[10] = {0};
    double want_sum[10] = {0};
    for (int64_t i = 0; i < 1000; i++) {
        const int64_t lab = ((const int64_t *)ds.y.data)[i];
        if (lab >= 0 && lab < 10) {
            want[lab]++;
            for (int k = 0; k < 784; k++)
                want_sum[lab] += ((const float *)ds.x.data)[i * 784 + k];
        }
    }
    for (int aug = 0; aug < 2; aug++) {
        /* plain: the same images per class; augmented: the recipe used for training */
        qfd_loader_opts o = {.batch = 128, .shuffle = true, .seed = 2024, .prefetch = 2};
        if (aug)
            o.crop_pad = 2, o.hflip = true, o.n_norm = 1, o.mean[0] = 0.2860f, o.std[0] = 0.3530f;
        qfd_loader *l = new_loader(ctx, &ds, &o);
        if (!l)
            break;
        CHECK(qfd_loader_batches_per_epoch(l) == 8);
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 3, 0));
        const qfd_array *x, *y;
        int64_t got[10] = {0}, total = 0, batches = 0, bad_label = 0, bad_value = 0;
        double got_sum[10] = {0};
        while (qfd_loader_next(l, &x, &y)) {
            batches++;
            CHECK(x->dims[0] == (batches < 8 ? 128 : 1000 - 7 * 128) && x->dims[1] == 1 && x->dims[2] == 28 &&
                  x->dims[3] == 28);
            for (int64_t i = 0; i < y->dims[0]; i++, total++) {
                const int64_t lab = ((const int64_t *)y->data)[i];
                if (lab < 0 || lab > 9) {
                    bad_label++;
                    continue;
                }
                got[lab]++;
                for (int k = 0; k < 784; k++) {
                    const float v = ((const float *)x->data)[i * 784 + k];
                    got_sum[lab] += v;
                    bad_value += !isfinite(v) || (!aug && (v < 0 || v > 1));
                }
            }
        }
        CHECK(batches == 8 && total == 1000 && bad_label == 0 && bad_value == 0);
        for (int k = 0; k < 10; k++) {
            CHECK(got[k] == want[k]);
            if (!aug)
                CHECK(fabs(got_sum[k] - want_sum[k]) <= 1e-6 * (1 + want_sum[k]));
        }
        qfd_loader_free(l);
    }
    qfd_dataset_free(&ds);
}

int main(void)
{
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx)
        return 1;
    test_coverage(ctx);
    test_order(ctx);
    test_prefetch_and_resume(ctx);
    test_crop_identity(ctx);
    test_flip(ctx);
    test_crop(ctx);
    test_normalization(ctx);
    test_free_mid_epoch(ctx);
    test_bad_options(ctx);
    test_fashion_mnist(ctx);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
