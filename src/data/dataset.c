#include "data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ctx.h"
#include "data/folder.h"
#include "data/idx.h"
#include "data/npy.h"
#include "ir/dtype.h"

#define INSTALL_HINT "install it with: apt-get install dataset-fashion-mnist"

void qfd_dataset_free(qfd_dataset *d)
{
    if (!d)
        return;
    qfd_array_free(&d->x);
    qfd_array_free(&d->y);
    qfd_images_free(d->images);
    free(d->source);
    memset(d, 0, sizeof *d);
}

/* Element i of an integer array as int64; *ok = 0 if it does not fit. */
static int64_t int_at(const qfd_array *a, int64_t i, int *ok)
{
    *ok = 1;
    switch (a->dtype) {
    case QFD_DT_UINT8: return ((const uint8_t *)a->data)[i];
    case QFD_DT_INT8: return ((const int8_t *)a->data)[i];
    case QFD_DT_UINT16: return ((const uint16_t *)a->data)[i];
    case QFD_DT_INT16: return ((const int16_t *)a->data)[i];
    case QFD_DT_UINT32: return ((const uint32_t *)a->data)[i];
    case QFD_DT_INT32: return ((const int32_t *)a->data)[i];
    case QFD_DT_INT64: return ((const int64_t *)a->data)[i];
    case QFD_DT_UINT64: {
        uint64_t v = ((const uint64_t *)a->data)[i];
        *ok = v <= INT64_MAX;
        return (int64_t)(v & INT64_MAX);
    }
    }
    *ok = 0;
    return 0;
}

static qfd_status make_labels(qfd_ctx *ctx, const qfd_array *raw, int64_t n, qfd_array *y)
{
    if (raw->rank != 1)
        return qfd_fail(ctx, QFD_ERR_INVALID, "labels y must be a 1-d array, not rank %d", raw->rank);
    if (!qfd_dtype_is_integer(raw->dtype) || qfd_dtype_bits(raw->dtype) < 8)
        return qfd_fail(ctx, QFD_ERR_INVALID, "labels y must be integers, not %s",
                        qfd_dtype_name(raw->dtype) ? qfd_dtype_name(raw->dtype) : "an unknown type");
    qfd_status st = qfd_array_alloc(ctx, y, QFD_DT_INT64, 1, &n);
    if (st)
        return st;
    int64_t *dst = y->data;
    for (int64_t i = 0; i < n; i++) {
        int ok;
        dst[i] = int_at(raw, i, &ok);
        if (!ok || dst[i] < 0) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "label at index %lld is %s; class labels must be >= 0", (long long)i,
                          ok ? "negative" : "too large for int64");
            qfd_array_free(y);
            return st;
        }
    }
    return QFD_OK;
}

/* The first n examples of raw as float32 [N,C,H,W], uint8 scaled to [0,1].
 * One rule for eval and train, whatever the element type: [N,H,W] gains a
 * channel axis; uint8 [N,H,W,C] with C 1 or 3 is channels-last (how image
 * libraries and Keras store it) and is transposed; anything else of rank 4
 * is already NCHW. Other ranks are not images and are refused. */
static qfd_status make_inputs(qfd_ctx *ctx, const qfd_array *raw, int64_t n, qfd_array *x)
{
    int32_t dt = raw->dtype;
    if (dt != QFD_DT_UINT8 && dt != QFD_DT_FLOAT && dt != QFD_DT_DOUBLE)
        return qfd_fail(ctx, QFD_ERR_INVALID, "inputs x must be uint8 images or float32, not %s",
                        qfd_dtype_name(dt) ? qfd_dtype_name(dt) : "an unknown type");
    if (raw->rank != 3 && raw->rank != 4)
        return qfd_fail(ctx, QFD_ERR_INVALID, "inputs x must be images [N,H,W] or [N,C,H,W], not of rank %d",
                        raw->rank);
    int64_t dims[QFD_ARRAY_MAX_RANK];
    int rank = 4;
    memcpy(dims, raw->dims, sizeof dims);
    dims[0] = n;
    int nhwc = dt == QFD_DT_UINT8 && raw->rank == 4 && (dims[3] == 1 || dims[3] == 3);
    if (raw->rank == 3) {
        dims[3] = dims[2], dims[2] = dims[1], dims[1] = 1;
    } else if (nhwc) {
        int64_t c = dims[3];
        dims[3] = dims[2], dims[2] = dims[1], dims[1] = c;
    }
    if (dims[1] < 1 || dims[2] < 1 || dims[3] < 1)
        return qfd_fail(ctx, QFD_ERR_INVALID, "inputs x must have C, H, W >= 1, got [%lld,%lld,%lld]",
                        (long long)dims[1], (long long)dims[2], (long long)dims[3]);
    qfd_status st = qfd_array_alloc(ctx, x, QFD_DT_FLOAT, rank, dims);
    if (st)
        return st;
    float *dst = x->data;
    int64_t numel = qfd_array_numel(x);
    if (dt == QFD_DT_FLOAT) {
        memcpy(dst, raw->data, x->nbytes);
    } else if (dt == QFD_DT_DOUBLE) {
        for (int64_t i = 0; i < numel; i++)
            dst[i] = (float)((const double *)raw->data)[i];
    } else if (!nhwc) {
        for (int64_t i = 0; i < numel; i++)
            dst[i] = ((const uint8_t *)raw->data)[i] / 255.0f;
    } else {
        const uint8_t *src = raw->data;
        int64_t c = dims[1], hw = dims[2] * dims[3];
        for (int64_t e = 0; e < n; e++)
            for (int64_t k = 0; k < c; k++)
                for (int64_t p = 0; p < hw; p++)
                    dst[(e * c + k) * hw + p] = src[(e * hw + p) * c + k] / 255.0f;
    }
    return QFD_OK;
}

/* Finds prefix-kind-ubyte[.gz] in dir; NULL with ctx set if neither exists. */
static char *find_idx(qfd_ctx *ctx, const char *dir, const char *prefix, const char *kind, int hint)
{
    size_t len = strlen(dir) + strlen(prefix) + strlen(kind) + 16;
    char *p = malloc(len);
    struct stat sb;
    if (!p) {
        qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(p, len, "%s/%s-%s-ubyte.gz", dir, prefix, kind);
    if (stat(p, &sb) == 0)
        return p;
    p[strlen(p) - 3] = 0;
    if (stat(p, &sb) == 0)
        return p;
    free(p);
    qfd_fail(ctx, QFD_ERR_IO, "%s: no %s-%s-ubyte[.gz] in this folder%s", dir, prefix, kind,
             hint ? "; " INSTALL_HINT : "");
    return NULL;
}

/* y is left empty when the labels file is missing and labels are optional. */
static qfd_status load_idx(qfd_ctx *ctx, const char *dir, qfd_split split, int hint, bool optional, qfd_array *x,
                           qfd_array *y, char **source)
{
    const char *prefix = split == QFD_SPLIT_TRAIN ? "train" : "t10k";
    char *labels = NULL;
    qfd_status st = QFD_OK;
    if (!(*source = find_idx(ctx, dir, prefix, "images-idx3", hint))) {
        st = QFD_ERR_IO;
        goto out;
    }
    if (!(labels = find_idx(ctx, dir, prefix, "labels-idx1", hint)) && !optional) {
        st = QFD_ERR_IO;
        goto out;
    }
    if ((st = qfd_idx_read(ctx, *source, x)) || (labels && (st = qfd_idx_read(ctx, labels, y))))
        goto out;
    if (x->rank != 3 || (labels && y->rank != 1))
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: expected %s", x->rank != 3 ? *source : labels,
                      x->rank != 3 ? "images (magic 0x00000803), found labels"
                                   : "labels (magic 0x00000801), found images");
out:
    free(labels);
    return st;
}

static qfd_status load_npz(qfd_ctx *ctx, const char *path, qfd_split split, bool optional, qfd_array *x, qfd_array *y,
                           char **source)
{
    const char *xs[2] = {split == QFD_SPLIT_TRAIN ? "x_train" : "x_test", "x"};
    const char *ys[2] = {split == QFD_SPLIT_TRAIN ? "y_train" : "y_test", "y"};
    int k = 0;
    qfd_status st = qfd_npz_read_any(ctx, path, xs, 2, &k, x);
    if (st)
        return st;
    st = qfd_npz_read(ctx, path, ys[k], y);
    bool none = st == QFD_ERR_ARG && optional; /* QFD_ERR_ARG: no such member */
    if (st && !none)
        return st;
    size_t len = strlen(path) + 32;
    if (!(*source = malloc(len)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    snprintf(*source, len, none ? "%s[%s]" : "%s[%s,%s]", path, xs[k], ys[k]);
    return QFD_OK;
}

/* CIFAR binary batches: records of label byte(s) then 3072 bytes, the R, G
 * and B planes of a 32x32 image. CIFAR-10 has one label byte
 * (data_batch_1..5.bin, test_batch.bin), CIFAR-100 two, coarse then fine
 * (train.bin, test.bin); the fine label is the class. */
#define CIFAR_PIXELS 3072

static bool file_exists(const char *dir, const char *name, char *buf, size_t cap)
{
    struct stat sb;
    snprintf(buf, cap, "%s/%s", dir, name);
    return stat(buf, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* 10 or 100 when dir holds CIFAR batches, else 0. */
static int cifar_kind(const char *dir)
{
    size_t cap = strlen(dir) + 32;
    char *p = malloc(cap);
    int kind = 0;
    if (!p)
        return 0;
    if (file_exists(dir, "data_batch_1.bin", p, cap) || file_exists(dir, "test_batch.bin", p, cap))
        kind = 10;
    else if (file_exists(dir, "train.bin", p, cap) && file_exists(dir, "test.bin", p, cap))
        kind = 100;
    free(p);
    return kind;
}

static qfd_status load_cifar(qfd_ctx *ctx, const char *dir, int kind, qfd_split split, int64_t limit, qfd_array *x,
                             qfd_array *y, char **source)
{
    const int lab = kind == 10 ? 1 : 2, rec = lab + CIFAR_PIXELS;
    const char *names10[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                              "data_batch_5.bin"};
    const char *test10[1] = {"test_batch.bin"}, *train100[1] = {"train.bin"}, *test100[1] = {"test.bin"};
    const char *const *names = kind == 10 ? (split == QFD_SPLIT_TRAIN ? names10 : test10)
                                          : (split == QFD_SPLIT_TRAIN ? train100 : test100);
    const int n_files = kind == 10 && split == QFD_SPLIT_TRAIN ? 5 : 1;
    size_t cap = strlen(dir) + 32;
    char *p = malloc(cap);
    FILE *f = NULL;
    qfd_status st = QFD_OK;
    int64_t total = 0, sizes[5] = {0};
    if (!p)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_files; i++) {
        struct stat sb;
        if (!file_exists(dir, names[i], p, cap) || stat(p, &sb) != 0) {
            st = qfd_fail(ctx, QFD_ERR_IO, "%s: CIFAR-%d folder without %s", dir, kind, names[i]);
            goto out;
        }
        if (sb.st_size == 0 || sb.st_size % rec) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: %lld bytes, not a whole number of CIFAR-%d records of %d bytes", p,
                          (long long)sb.st_size, kind, rec);
            goto out;
        }
        sizes[i] = sb.st_size / rec;
        total += sizes[i];
    }
    const int64_t n = limit > 0 && limit < total ? limit : total;
    const int64_t xd[4] = {n, 3, 32, 32};
    if ((st = qfd_array_alloc(ctx, x, QFD_DT_UINT8, 4, xd)) || (st = qfd_array_alloc(ctx, y, QFD_DT_UINT8, 1, xd)))
        goto out;
    uint8_t *px = x->data, *lb = y->data, r[2 + CIFAR_PIXELS];
    int64_t at = 0;
    for (int i = 0; i < n_files && at < n; i++) {
        file_exists(dir, names[i], p, cap);
        if (!(f = fopen(p, "rb"))) {
            st = qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", p, strerror(errno));
            goto out;
        }
        for (int64_t k = 0; k < sizes[i] && at < n; k++, at++) {
            if (fread(r, 1, (size_t)rec, f) != (size_t)rec) {
                st = qfd_fail(ctx, QFD_ERR_IO, "%s: read error at record %lld", p, (long long)k);
                goto out;
            }
            lb[at] = r[lab - 1];
            if (kind == 10 && lb[at] > 9) {
                st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: record %lld has label %d; CIFAR-10 labels are 0 to 9", p,
                              (long long)k, lb[at]);
                goto out;
            }
            memcpy(px + at * CIFAR_PIXELS, r + lab, CIFAR_PIXELS);
        }
        fclose(f);
        f = NULL;
    }
    if (!(*source = malloc(cap + 32)))
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    else
        snprintf(*source, cap + 32, "%s/%s", dir, n_files > 1 ? "data_batch_*.bin" : names[0]);
out:
    if (f)
        fclose(f);
    free(p);
    return st;
}

static bool looks_like_npz(const char *path)
{
    size_t n = strlen(path);
    if (n >= 4 && !strcmp(path + n - 4, ".npz"))
        return true;
    FILE *f = fopen(path, "rb");
    char sig[4] = {0};
    bool zip = f && fread(sig, 1, 4, f) == 4 && !memcmp(sig, "PK\003\004", 4);
    if (f)
        fclose(f);
    return zip;
}

/* A folder of IDX files (either split's images present). */
static bool has_idx(const char *dir)
{
    size_t cap = strlen(dir) + 48;
    char *p = malloc(cap);
    bool found = false;
    if (!p)
        return false;
    const char *const names[4] = {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
                                  "t10k-images-idx3-ubyte.gz"};
    for (int i = 0; i < 4 && !found; i++)
        found = file_exists(dir, names[i], p, cap);
    free(p);
    return found;
}

qfd_status qfd_dataset_load(qfd_ctx *ctx, const char *path, qfd_split split, int64_t limit, qfd_dataset *out)
{
    return qfd_dataset_open(ctx, path, NULL, NULL, split, limit, false, out);
}

qfd_status qfd_dataset_open(qfd_ctx *ctx, const char *path, const qfd_image_opts *img, const qfd_model *m,
                            qfd_split split, int64_t limit, bool labels_optional, qfd_dataset *out)
{
    memset(out, 0, sizeof *out);
    const char *where = path ? path : QFD_FASHION_MNIST_DIR;
    qfd_array rx = {0}, ry = {0};
    qfd_status st = QFD_OK;
    struct stat sb;
    if (stat(where, &sb) != 0) {
        st = path ? qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", where, strerror(errno))
                  : qfd_fail(ctx, QFD_ERR_IO, "%s: Fashion-MNIST is not there; " INSTALL_HINT, where);
        goto fail;
    }
    const bool dir = S_ISDIR(sb.st_mode);
    int cifar = 0;
    if (dir && (!path || has_idx(where)))
        st = load_idx(ctx, where, split, !path, labels_optional, &rx, &ry, &out->source);
    else if (dir && (cifar = cifar_kind(where)))
        st = load_cifar(ctx, where, cifar, split, limit, &rx, &ry, &out->source);
    else if (!dir && looks_like_npz(where))
        st = load_npz(ctx, where, split, labels_optional, &rx, &ry, &out->source);
    else if ((st = qfd_images_open(ctx, where, dir, img, m, split, limit, labels_optional, out)) == QFD_OK)
        return QFD_OK;
    if (st)
        goto fail;
    out->labeled = ry.data != NULL;
    if (rx.rank < 1 || (out->labeled && (ry.rank < 1 || rx.dims[0] != ry.dims[0]))) {
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: x has %lld examples but y has %lld", out->source,
                      rx.rank ? (long long)rx.dims[0] : 0LL, ry.rank ? (long long)ry.dims[0] : 0LL);
        goto fail;
    }
    out->n = limit > 0 && limit < rx.dims[0] ? limit : rx.dims[0];
    if (out->n == 0) {
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: the dataset holds no examples", out->source);
        goto fail;
    }
    if ((st = make_inputs(ctx, &rx, out->n, &out->x)) ||
        (st = out->labeled ? make_labels(ctx, &ry, out->n, &out->y)
                           : qfd_array_alloc(ctx, &out->y, QFD_DT_INT64, 1, &out->n))) {
        qfd_ctx_prefix(ctx, out->source);
        goto fail;
    }
    qfd_array_free(&rx);
    qfd_array_free(&ry);
    return QFD_OK;
fail:
    qfd_array_free(&rx);
    qfd_array_free(&ry);
    qfd_dataset_free(out);
    return st;
}

void qfd_dataset_normalize(const qfd_dataset *ds, int64_t start, int64_t n, int n_norm, const float *mean,
                           const float *std, float *dst)
{
    const int64_t per = ds->n ? qfd_array_numel(&ds->x) / ds->n : 0;
    const int64_t channels = ds->x.rank >= 2 ? ds->x.dims[1] : 1, plane = channels ? per / channels : 1;
    const float *src = (const float *)ds->x.data + start * per;
    for (int64_t i = 0; i < n * per; i++) {
        int c = n_norm > 1 ? (int)((i / plane) % channels) : 0;
        dst[i] = n_norm ? (src[i] - mean[c]) / std[c] : src[i];
    }
}
