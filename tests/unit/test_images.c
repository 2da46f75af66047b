/* Image files as data, against torchvision: the folders and reference
 * arrays under tests/data/images were written by tools/make_image_data.py
 * with Debian's torchvision 0.14 and Pillow 9.4.
 *
 * Tolerance: qfd-onnx reproduces PIL's decoding, conversions and
 * fixed-point resize, so the preprocessed tensors are expected to equal
 * torchvision's bit for bit (measured: 0); the test allows 1e-6, float
 * rounding of (x/255 - mean) / std, and no more.
 *
 * Also: a list file gives the folder's examples and labels; CIFAR-10 and
 * CIFAR-100 batches (written here) load with their labels and pixels;
 * corrupt images fail naming the file or are skipped and counted; the
 * loader's batches of image files are the same bytes with one thread or a
 * pool, and training crops have the model's shape; per-channel
 * normalization recorded in a model's metadata reads back.
 *
 * usage: test_images DATA_DIR TMP_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "core/ctx.h"
#include "data/image.h"
#include "data/loader.h"
#include "ir/dtype.h"
#include "ir/model_info.h"

static const char *dir;

static char *path_of(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Every example of the test split of data, preprocessed for model. */
static float *read_all(qfd_ctx *ctx, const char *model, const char *data, const qfd_image_opts *img, int n_norm,
                       const float *mean, const float *std, int64_t *n, int64_t **labels)
{
    qfd_model *m = NULL;
    qfd_dataset ds = {0};
    float *x = NULL;
    *n = 0;
    CHECK_OK(ctx, qfd_model_load(ctx, path_of(model), &m));
    if (!m)
        return NULL;
    qfd_status st = qfd_dataset_open(ctx, data, img, m, QFD_SPLIT_TEST, 0, false, &ds);
    CHECK_OK(ctx, st);
    if (!st) {
        const int64_t per = qfd_array_numel(&ds.x) / ds.n;
        int64_t got = 0, next = 0;
        x = malloc((size_t)(ds.n * per) * sizeof *x);
        *labels = malloc((size_t)ds.n * sizeof **labels);
        CHECK_OK(ctx, qfd_dataset_read(ctx, &ds, 0, ds.n, n_norm, mean, std, 2, x, *labels, &got, &next, NULL));
        CHECK(got == ds.n && next == ds.n);
        *n = got;
    }
    qfd_dataset_free(&ds);
    qfd_model_free(m);
    return x;
}

static void against(qfd_ctx *ctx, const char *what, const float *x, int64_t n, const char *ref_name)
{
    qfd_array ref = {0};
    CHECK_OK(ctx, qfd_tensor_file_read(ctx, path_of(ref_name), &ref));
    if (!ref.data || !x)
        return;
    CHECK(ref.dtype == QFD_DT_FLOAT && ref.dims[0] == n);
    const int64_t numel = qfd_array_numel(&ref);
    double worst = 0;
    for (int64_t i = 0; i < numel; i++) {
        double d = fabs((double)x[i] - (double)((const float *)ref.data)[i]);
        worst = d > worst || d != d ? d : worst;
    }
    printf("%-40s max |qfd - torchvision| = %g over %lld values\n", what, worst, (long long)numel);
    CHECK(worst <= 1e-6);
    qfd_array_free(&ref);
}

static void matches_torchvision(qfd_ctx *ctx)
{
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    const float gm[1] = {0.5f}, gs[1] = {0.25f};
    int64_t n, *y = NULL;
    qfd_image_opts r40 = {.resize = 40, .crop = 32}, r24 = {.resize = 24, .crop = 32}, none = {0};
    float *x = read_all(ctx, "flat_rgb32.onnx", path_of("jpeg"), &r40, 3, mean, std, &n, &y);
    against(ctx, "RGB, Resize(40), CenterCrop(32), Normalize", x, n, "ref_rgb_r40_c32.npy");
    CHECK(n == 14 && y && y[0] == 0 && y[5] == 1 && y[13] == 2);
    free(x), free(y), y = NULL;
    x = read_all(ctx, "flat_gray32.onnx", path_of("jpeg"), &r40, 1, gm, gs, &n, &y);
    against(ctx, "L, Resize(40), CenterCrop(32), Normalize", x, n, "ref_gray_r40_c32.npy");
    free(x), free(y), y = NULL;
    x = read_all(ctx, "flat_rgb32.onnx", path_of("jpeg"), &none, 0, NULL, NULL, &n, &y);
    against(ctx, "RGB, Resize((32, 32))", x, n, "ref_rgb_32x32.npy");
    free(x), free(y), y = NULL;
    x = read_all(ctx, "flat_rgb32.onnx", path_of("jpeg"), &r24, 0, NULL, NULL, &n, &y);
    against(ctx, "RGB, Resize(24), CenterCrop(32) (padded)", x, n, "ref_rgb_r24_c32.npy");
    free(x), free(y), y = NULL;

    /* the list file names the same files with the same labels */
    int64_t n2, *y2 = NULL;
    x = read_all(ctx, "flat_rgb32.onnx", path_of("jpeg_list.txt"), &r40, 3, mean, std, &n2, &y2);
    against(ctx, "list file, as the folder", x, n2, "ref_rgb_r40_c32.npy");
    CHECK(n2 == 14 && y2 && y2[0] == 0 && y2[5] == 1 && y2[13] == 2);
    free(x), free(y2);
}

/* ---- CIFAR ---------------------------------------------------------------- */

static void write_cifar(const char *path, int labels_per, int n, int seed)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (int i = 0; i < n; i++) {
        unsigned char rec[2 + 3072];
        rec[0] = (unsigned char)((i + seed) % (labels_per == 1 ? 10 : 20));
        rec[1] = (unsigned char)((i * 7 + seed) % 100);
        for (int k = 0; k < 3072; k++)
            rec[labels_per + k] = (unsigned char)((i * 31 + k + seed) % 251);
        fwrite(rec, 1, (size_t)(labels_per + 3072), f);
    }
    fclose(f);
}

static void cifar(qfd_ctx *ctx, const char *tmp)
{
    char d10[1024], d100[1024], p[1200];
    snprintf(d10, sizeof d10, "%s/cifar10", tmp);
    snprintf(d100, sizeof d100, "%s/cifar100", tmp);
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s'", d10, d100);
    CHECK(system(cmd) == 0);
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", d10, b);
        write_cifar(p, 1, 4, b);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", d10);
    write_cifar(p, 1, 3, 0);
    snprintf(p, sizeof p, "%s/train.bin", d100);
    write_cifar(p, 2, 5, 1);
    snprintf(p, sizeof p, "%s/test.bin", d100);
    write_cifar(p, 2, 2, 0);

    qfd_dataset ds = {0};
    CHECK_OK(ctx, qfd_dataset_load(ctx, d10, QFD_SPLIT_TRAIN, 0, &ds));
    CHECK(ds.n == 20 && ds.x.rank == 4 && ds.x.dims[1] == 3 && ds.x.dims[2] == 32 && ds.x.dims[3] == 32);
    if (ds.n == 20) {
        /* example 4 is batch 2's first record: seed 2, i 0 */
        const float *x = ds.x.data;
        CHECK(((int64_t *)ds.y.data)[4] == 2);
        CHECK(x[4 * 3072 + 1025] == (float)((1025 + 2) % 251) / 255.0f);
    }
    qfd_dataset_free(&ds);
    CHECK_OK(ctx, qfd_dataset_load(ctx, d10, QFD_SPLIT_TEST, 0, &ds));
    CHECK(ds.n == 3 && ((int64_t *)ds.y.data)[2] == 2);
    qfd_dataset_free(&ds);
    CHECK_OK(ctx, qfd_dataset_load(ctx, d100, QFD_SPLIT_TRAIN, 0, &ds));
    /* CIFAR-100: the fine label, the second byte */
    CHECK(ds.n == 5 && ((int64_t *)ds.y.data)[3] == (3 * 7 + 1) % 100);
    qfd_dataset_free(&ds);

    /* a batch of a wrong size names the file */
    snprintf(p, sizeof p, "%s/test_batch.bin", d10);
    FILE *f = fopen(p, "ab");
    if (f) {
        fputc(1, f);
        fclose(f);
    }
    CHECK(qfd_dataset_load(ctx, d10, QFD_SPLIT_TEST, 0, &ds) == QFD_ERR_INVALID);
    CHECK(strstr(qfd_ctx_error(ctx), "test_batch.bin") != NULL);
}

/* ---- corrupt images ------------------------------------------------------------- */

static void corrupt(qfd_ctx *ctx)
{
    qfd_model *m = NULL;
    qfd_dataset ds = {0};
    CHECK_OK(ctx, qfd_model_load(ctx, path_of("flat_rgb32.onnx"), &m));
    qfd_image_opts fail = {0}, skip = {.on_bad_image = "skip"};
    float *x = malloc(5 * 3 * 32 * 32 * sizeof *x);
    int64_t y[5], got, next, skipped = 0;
    CHECK_OK(ctx, qfd_dataset_open(ctx, path_of("corrupt"), &fail, m, QFD_SPLIT_TEST, 0, false, &ds));
    CHECK(ds.n == 5);
    CHECK(qfd_dataset_read(ctx, &ds, 0, 5, 0, NULL, NULL, 2, x, y, &got, &next, NULL) == QFD_ERR_INVALID);
    CHECK(strstr(qfd_ctx_error(ctx), "corrupt/c0/truncated.jpg: truncated JPEG") != NULL);
    qfd_dataset_free(&ds);
    CHECK_OK(ctx, qfd_dataset_open(ctx, path_of("corrupt"), &skip, m, QFD_SPLIT_TEST, 0, false, &ds));
    CHECK_OK(ctx, qfd_dataset_read(ctx, &ds, 0, 5, 0, NULL, NULL, 2, x, y, &got, &next, &skipped));
    /* c0: good_0, good_1, truncated; c1: garbage, good_2 */
    CHECK(got == 3 && next == 5 && skipped == 2 && y[0] == 0 && y[1] == 0 && y[2] == 1);
    qfd_dataset_free(&ds);

    /* decoding bytes that are no image, or a cut-off PNG, fails cleanly */
    static const unsigned char junk[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F'};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'};
    qfd_image im;
    CHECK(qfd_image_decode(ctx, "junk.jpg", junk, sizeof junk, 3, &im) == QFD_ERR_INVALID);
    CHECK(qfd_image_decode(ctx, "cut.png", png, sizeof png, 1, &im) == QFD_ERR_INVALID);
    CHECK(strstr(qfd_ctx_error(ctx), "cut.png") != NULL);
    CHECK(qfd_image_decode(ctx, "text.png", (const unsigned char *)"hello", 5, 3, &im) == QFD_ERR_INVALID);
    free(x);
    qfd_model_free(m);
}

/* ---- the loader over image files ------------------------------------------------ */

static void loader(qfd_ctx *ctx)
{
    qfd_model *m = NULL;
    qfd_dataset ds = {0};
    CHECK_OK(ctx, qfd_model_load(ctx, path_of("flat_rgb32.onnx"), &m));
    qfd_image_opts img = {.resize = 40, .crop = 32};
    CHECK_OK(ctx, qfd_dataset_open(ctx, path_of("jpeg"), &img, m, QFD_SPLIT_TEST, 0, false, &ds));
    const int64_t per = 3 * 32 * 32;
    float *a = calloc((size_t)(14 * per), sizeof *a), *b = calloc((size_t)(14 * per), sizeof *b);
    for (int pool = 0; pool < 2 && a && b; pool++) {
        qfd_loader_opts o = {.batch = 4, .shuffle = true, .seed = 7, .hflip = true, .image_random = true};
        o.prefetch = pool ? 3 : 0;
        o.workers = pool ? 3 : 0;
        qfd_loader *l = NULL;
        CHECK_OK(ctx, qfd_loader_new(ctx, &ds, &o, &l));
        if (!l)
            break;
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 1, 0));
        const qfd_array *x, *y;
        int64_t at = 0;
        while (qfd_loader_next(l, &x, &y)) {
            CHECK(x->dims[1] == 3 && x->dims[2] == 32 && x->dims[3] == 32 && at + x->dims[0] <= 14);
            memcpy((pool ? b : a) + at * per, x->data, (size_t)(x->dims[0] * per) * sizeof(float));
            at += x->dims[0];
        }
        CHECK_OK(ctx, qfd_loader_error(ctx, l));
        CHECK(at == 14);
        qfd_loader_free(l);
    }
    CHECK(a && b && !memcmp(a, b, (size_t)(14 * per) * sizeof *a));
    /* random-resized-crop gives pixels in [0, 1] and differs from the
     * evaluation crop */
    float lo = 1, hi = 0;
    for (int64_t i = 0; a && i < 14 * per; i++)
        lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
    CHECK(lo >= 0 && hi <= 1 && hi > lo);
    free(a), free(b);
    qfd_dataset_free(&ds);

    /* a bad image ends the epoch with its path */
    qfd_image_opts fail = {0};
    CHECK_OK(ctx, qfd_dataset_open(ctx, path_of("corrupt"), &fail, m, QFD_SPLIT_TEST, 0, false, &ds));
    qfd_loader_opts o = {.batch = 2, .prefetch = 2, .workers = 2};
    qfd_loader *l = NULL;
    CHECK_OK(ctx, qfd_loader_new(ctx, &ds, &o, &l));
    if (l) {
        CHECK_OK(ctx, qfd_loader_start_epoch(ctx, l, 0, 0));
        const qfd_array *x, *y;
        int batches = 0;
        while (qfd_loader_next(l, &x, &y))
            batches++;
        CHECK(batches == 1);
        CHECK(qfd_loader_error(ctx, l) == QFD_ERR_INVALID && strstr(qfd_ctx_error(ctx), "truncated.jpg"));
        qfd_loader_free(l);
    }
    qfd_dataset_free(&ds);
    qfd_model_free(m);
}

/* ---- normalization in the metadata ------------------------------------------- */

/* Per-channel --mean/--std recorded by train (or quantize) come back from
 * the written file as what a later eval uses without flags. */
static void normalization_metadata(qfd_ctx *ctx, const char *tmp)
{
    qfd_model *m = NULL;
    CHECK_OK(ctx, qfd_model_load(ctx, path_of("flat_rgb32.onnx"), &m));
    if (!m)
        return;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    char out[1024];
    snprintf(out, sizeof out, "%s/normalized.onnx", tmp);
    CHECK_OK(ctx, qfd_model_record_normalization(ctx, m, 3, mean, std));
    CHECK_OK(ctx, qfd_model_save(ctx, m, out));
    qfd_model_free(m);
    m = NULL;
    CHECK_OK(ctx, qfd_model_load(ctx, out, &m));
    if (!m)
        return;
    int n = 0;
    float gm[4], gs[4];
    const char *source = NULL;
    CHECK_OK(ctx, qfd_model_normalization(ctx, m, 0, NULL, 0, NULL, &n, gm, gs, &source));
    CHECK(n == 3 && source && !strcmp(source, "metadata"));
    for (int c = 0; c < n && c < 3; c++)
        CHECK(gm[c] == mean[c] && gs[c] == std[c]);
    /* flags still win over the metadata */
    const float fm[1] = {0.5f}, fs[1] = {0.25f};
    CHECK_OK(ctx, qfd_model_normalization(ctx, m, 1, fm, 1, fs, &n, gm, gs, &source));
    CHECK(n == 1 && !strcmp(source, "flags") && gm[0] == 0.5f && gs[0] == 0.25f);
    qfd_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_images DATA_DIR TMP_DIR\n");
        return 2;
    }
    dir = argv[1];
    qfd_ctx *ctx = qfd_ctx_new();
    if (!ctx)
        return 1;
    matches_torchvision(ctx);
    cifar(ctx, argv[2]);
    corrupt(ctx);
    loader(ctx);
    normalization_metadata(ctx, argv[2]);
    qfd_ctx_free(ctx);
    return TEST_DONE();
}
