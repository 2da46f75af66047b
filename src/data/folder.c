/* Datasets of image files: see folder.h and dataset.h. */
#include "data/folder.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ctx.h"
#include "data/image.h"
#include "data/rng.h"
#include "ir/model_info.h"

/* symbolic-link loops end here instead of exhausting the stack */
#define MAX_DEPTH 32

/* The list being built: paths and their labels. */
typedef struct listing {
    char *buf;
    size_t len, cap;
    size_t *off;
    int64_t *labels;
    int64_t n, cap_n;
} listing;

static void listing_free(listing *l)
{
    free(l->buf), free(l->off), free(l->labels);
    memset(l, 0, sizeof *l);
}

static qfd_status listing_add(qfd_ctx *ctx, listing *l, const char *a, const char *b, int64_t label)
{
    const size_t need = strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
    if (l->len + need > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + need)
            cap *= 2;
        char *nb = realloc(l->buf, cap);
        if (!nb)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory listing images");
        l->buf = nb, l->cap = cap;
    }
    if (l->n == l->cap_n) {
        int64_t cap = l->cap_n ? 2 * l->cap_n : 256;
        size_t *no = realloc(l->off, (size_t)cap * sizeof *no);
        if (no)
            l->off = no;
        int64_t *nl = no ? realloc(l->labels, (size_t)cap * sizeof *nl) : NULL;
        if (!nl)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory listing images");
        l->labels = nl, l->cap_n = cap;
    }
    l->off[l->n] = l->len;
    l->labels[l->n++] = label;
    l->len += (size_t)snprintf(l->buf + l->len, need, b ? "%s/%s" : "%s", a, b ? b : "") + 1;
    return QFD_OK;
}

/* What torchvision's ImageFolder would load that we decode: .jpg, .jpeg
 * and .png, in any letter case. */
static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The entries of dir in byte order (Python's sorted() on UTF-8 names),
 * split into sub-folders and files (symbolic links followed). */
static qfd_status read_dir(qfd_ctx *ctx, const char *dir, char ***dirs, size_t *n_dirs, char ***files, size_t *n_files)
{
    *dirs = *files = NULL;
    *n_dirs = *n_files = 0;
    DIR *d = opendir(dir);
    if (!d)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    size_t cap_d = 0, cap_f = 0;
    qfd_status st = QFD_OK;
    struct dirent *e;
    char *path = NULL;
    size_t path_cap = 0;
    while (!st && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        if (need > path_cap) {
            char *np = realloc(path, need);
            if (!np) {
                st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
                break;
            }
            path = np, path_cap = need;
        }
        snprintf(path, need, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue; /* a dangling link: torchvision skips it too */
        bool is_dir = S_ISDIR(sb.st_mode);
        if (!is_dir && !S_ISREG(sb.st_mode))
            continue;
        char ***list = is_dir ? dirs : files;
        size_t *n = is_dir ? n_dirs : n_files, *cap = is_dir ? &cap_d : &cap_f;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            char **nl = realloc(*list, nc * sizeof *nl);
            if (!nl) {
                st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
                break;
            }
            *list = nl, *cap = nc;
        }
        if (!((*list)[*n] = strdup(e->d_name))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    free(path);
    closedir(d);
    if (st) {
        names_free(*dirs, *n_dirs), names_free(*files, *n_files);
        *dirs = *files = NULL;
        *n_dirs = *n_files = 0;
        return st;
    }
    if (*n_dirs)
        qsort(*dirs, *n_dirs, sizeof **dirs, cmp_str);
    if (*n_files)
        qsort(*files, *n_files, sizeof **files, cmp_str);
    return QFD_OK;
}

/* Every image under dir, files before sub-folders, each in sorted order. */
static qfd_status walk(qfd_ctx *ctx, listing *l, const char *dir, int64_t label, int depth)
{
    char **dirs, **files;
    size_t n_dirs, n_files;
    if (depth > MAX_DEPTH)
        return qfd_fail(ctx, QFD_ERR_INVALID, "%s: folders nested more than %d deep (a symbolic-link loop?)", dir,
                        MAX_DEPTH);
    qfd_status st = read_dir(ctx, dir, &dirs, &n_dirs, &files, &n_files);
    for (size_t i = 0; !st && i < n_files; i++)
        if (is_image_name(files[i]))
            st = listing_add(ctx, l, dir, files[i], label);
    for (size_t i = 0; !st && i < n_dirs; i++) {
        size_t need = strlen(dir) + strlen(dirs[i]) + 2;
        char *sub = malloc(need);
        if (!sub) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(sub, need, "%s/%s", dir, dirs[i]);
        st = walk(ctx, l, sub, label, depth + 1);
        free(sub);
    }
    names_free(dirs, n_dirs), names_free(files, n_files);
    return st;
}

static bool is_dir_path(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ImageFolder: classes are the sub-folders of root in sorted order; with
 * none, the images directly in root, unlabeled. */
static qfd_status list_folder(qfd_ctx *ctx, const char *root, listing *l, bool *unlabeled)
{
    char **dirs, **files;
    size_t n_dirs, n_files;
    qfd_status st = read_dir(ctx, root, &dirs, &n_dirs, &files, &n_files);
    if (st)
        return st;
    *unlabeled = n_dirs == 0;
    for (size_t i = 0; !st && n_dirs == 0 && i < n_files; i++)
        if (is_image_name(files[i]))
            st = listing_add(ctx, l, root, files[i], 0);
    for (size_t i = 0; !st && i < n_dirs; i++) {
        const int64_t before = l->n;
        size_t need = strlen(root) + strlen(dirs[i]) + 2;
        char *sub = malloc(need);
        if (!sub) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(sub, need, "%s/%s", root, dirs[i]);
        st = walk(ctx, l, sub, (int64_t)i, 1);
        if (!st && l->n == before)
            st = qfd_fail(ctx, QFD_ERR_INVALID,
                          "%s: class folder without .jpg, .jpeg or .png images (torchvision's ImageFolder refuses "
                          "it too)",
                          sub);
        free(sub);
    }
    if (!st && l->n == 0)
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: no .jpg, .jpeg or .png images and no class folders", root);
    names_free(dirs, n_dirs), names_free(files, n_files);
    return st;
}

/* "path label" per line; the label is the last word, so paths may hold
 * spaces. Blank lines and lines starting with '#' are ignored. */
static qfd_status list_file(qfd_ctx *ctx, const char *file, listing *l)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return qfd_fail(ctx, QFD_ERR_IO, "%s: cannot open: %s", file, strerror(errno));
    char *dir = strdup(file);
    if (!dir) {
        fclose(f);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        strcpy(dir, ".");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    qfd_status st = QFD_OK;
    while (!st && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)len != strlen(line)) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "%s:%lld: a NUL byte: not a text list of images", file,
                          (long long)lineno);
            break;
        }
        while (len > 0 && isspace((unsigned char)line[len - 1]))
            line[--len] = 0;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *sp = p + strlen(p);
        while (sp > p && !isspace((unsigned char)sp[-1]))
            sp--;
        char *end;
        errno = 0;
        long long label = sp > p ? strtoll(sp, &end, 10) : -1;
        if (sp == p || *end || errno || label < 0 || !isdigit((unsigned char)*sp)) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "%s:%lld: expected 'path label' with a label >= 0, got '%.80s'", file,
                          (long long)lineno, p);
            break;
        }
        while (sp > p && isspace((unsigned char)sp[-1]))
            *--sp = 0;
        st = *p == '/' ? listing_add(ctx, l, p, NULL, label) : listing_add(ctx, l, dir, p, label);
    }
    if (!st && ferror(f))
        st = qfd_fail(ctx, QFD_ERR_IO, "%s: read error", file);
    if (!st && l->n == 0)
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: lists no images", file);
    free(line);
    free(dir);
    fclose(f);
    return st;
}

void qfd_images_free(qfd_images *im)
{
    if (!im)
        return;
    free(im->paths);
    free(im->off);
    free(im);
}

qfd_status qfd_images_open(qfd_ctx *ctx, const char *path, bool is_dir, const qfd_image_opts *img, const qfd_model *m,
                           qfd_split split, int64_t limit, bool labels_optional, qfd_dataset *out)
{
    listing l = {0};
    char *root = NULL;
    qfd_images *im = NULL;
    int64_t c = 0, h = 0, w = 0;
    qfd_status st;
    const qfd_image_opts none = {0};
    img = img ? img : &none;
    if (!m)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "%s: image data needs the model's input shape", path);
    if ((st = qfd_model_image_input(ctx, m, &c, &h, &w)))
        return st;
    if (img->crop > 0) {
        if ((h && h != img->crop) || (w && w != img->crop))
            return qfd_fail(ctx, QFD_ERR_ARG, "--crop %d: the model takes %lld x %lld images", img->crop, (long long)h,
                            (long long)w);
        h = w = img->crop;
    }
    if (!h || !w)
        return qfd_fail(ctx, QFD_ERR_ARG,
                        "%s: the model's input height and width are not fixed; give --crop SIZE for images", path);
    if (img->on_bad_image && strcmp(img->on_bad_image, "skip") && strcmp(img->on_bad_image, "fail"))
        return qfd_fail(ctx, QFD_ERR_ARG, "--on-bad-image must be skip or fail, not '%s'", img->on_bad_image);
    bool unlabeled = false;
    if (is_dir) {
        /* DIR/train and DIR/val (or DIR/test) split an ImageFolder tree */
        static const char *const train_names[] = {"train"}, *const test_names[] = {"val", "test"};
        const char *const *names = split == QFD_SPLIT_TRAIN ? train_names : test_names;
        const int n_names = split == QFD_SPLIT_TRAIN ? 1 : 2;
        size_t need = strlen(path) + 8;
        if (!(root = malloc(need)))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        bool split_layout = false;
        for (int k = 0; k < 3; k++) {
            snprintf(root, need, "%s/%s", path, k == 0 ? "train" : k == 1 ? "val" : "test");
            split_layout |= is_dir_path(root);
        }
        int found = -1;
        for (int k = 0; found < 0 && k < n_names; k++) {
            snprintf(root, need, "%s/%s", path, names[k]);
            if (is_dir_path(root))
                found = k;
        }
        if (split_layout && found < 0) {
            st = qfd_fail(ctx, QFD_ERR_IO, "%s: has train/, val/ or test/ folders but no %s/ for the %s split", path,
                          split == QFD_SPLIT_TRAIN ? "train" : "val or test",
                          split == QFD_SPLIT_TRAIN ? "training" : "test");
            goto fail;
        }
        if (!split_layout)
            snprintf(root, need, "%s", path);
        st = list_folder(ctx, root, &l, &unlabeled);
        if (!st && unlabeled && !labels_optional)
            st = qfd_fail(ctx, QFD_ERR_INVALID,
                          "%s: images without class folders have no labels; this needs DIR/<class>/ folders or a "
                          "list file (quantize reads such a folder for calibration and --no-labels distillation)",
                          root);
    } else {
        st = list_file(ctx, path, &l);
    }
    if (st)
        goto fail;
    const int64_t n = limit > 0 && limit < l.n ? limit : l.n;
    if (!(im = calloc(1, sizeof *im))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    im->paths = l.buf, im->off = l.off, im->n = n;
    l.buf = NULL, l.off = NULL;
    im->c = (int)c, im->h = (int)h, im->w = (int)w;
    im->resize = img->resize, im->crop = img->crop;
    im->skip_bad = img->on_bad_image && !strcmp(img->on_bad_image, "skip");
    const int64_t xd[4] = {n, c, h, w};
    out->x.dtype = QFD_DT_FLOAT;
    out->x.rank = 4;
    memcpy(out->x.dims, xd, sizeof xd);
    if ((st = qfd_array_alloc(ctx, &out->y, QFD_DT_INT64, 1, &n)))
        goto fail;
    memcpy(out->y.data, l.labels, (size_t)n * sizeof(int64_t));
    out->n = n;
    out->images = im;
    out->labeled = !unlabeled;
    out->source = is_dir ? root : strdup(path);
    if (!is_dir)
        free(root);
    root = NULL;
    if (!out->source) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    listing_free(&l);
    return QFD_OK;
fail:
    if (out->images != im)
        qfd_images_free(im);
    listing_free(&l);
    free(root);
    return st;
}

/* ---- reading examples ---------------------------------------------------- */

/* torchvision's RandomResizedCrop.get_params with scale (0.08, 1) and ratio
 * (3/4, 4/3): ten tries at a random area and aspect, else the central crop
 * of the ratio's nearest bound. */
static void random_box(qfd_rng *r, int w, int h, int *x0, int *y0, int *cw, int *ch)
{
    const double area = (double)w * h, lo = log(3.0 / 4.0), hi = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        const double target = area * (0.08 + 0.92 * qfd_rng_unit(r));
        const double aspect = exp(lo + (hi - lo) * qfd_rng_unit(r));
        const int bw = (int)nearbyint(sqrt(target * aspect)), bh = (int)nearbyint(sqrt(target / aspect));
        if (bw > 0 && bw <= w && bh > 0 && bh <= h) {
            *y0 = (int)qfd_rng_below(r, (uint64_t)(h - bh + 1));
            *x0 = (int)qfd_rng_below(r, (uint64_t)(w - bw + 1));
            *cw = bw, *ch = bh;
            return;
        }
    }
    const double in_ratio = (double)w / h;
    if (in_ratio < 3.0 / 4.0)
        *cw = w, *ch = (int)nearbyint(w / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0)
        *ch = h, *cw = (int)nearbyint(h * (4.0 / 3.0));
    else
        *cw = w, *ch = h;
    *y0 = (h - *ch) / 2, *x0 = (w - *cw) / 2;
}

qfd_status qfd_dataset_image(qfd_ctx *ctx, const qfd_dataset *ds, int64_t i, const qfd_image_aug *aug, int n_norm,
                             const float *mean, const float *std, float *dst)
{
    const qfd_images *im = ds->images;
    if (!im || i < 0 || i >= im->n)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "no image %lld in this dataset", (long long)i);
    qfd_image a = {0}, b = {0};
    bool flip = false;
    qfd_status st = qfd_image_read(ctx, im->paths + im->off[i], im->c, &a);
    if (st)
        return st;
    if (aug && aug->random) {
        qfd_rng r = {aug->key};
        int x0, y0, cw, ch;
        random_box(&r, a.w, a.h, &x0, &y0, &cw, &ch);
        flip = aug->flip && (qfd_rng_next(&r) >> 63);
        if (!(st = qfd_image_crop(ctx, &a, x0, y0, cw, ch, &b))) {
            qfd_image_free(&a);
            st = qfd_image_resize(ctx, &b, im->w, im->h, &a);
        }
    } else if (im->resize > 0 || im->crop > 0) {
        if (im->resize > 0) {
            int rw, rh;
            qfd_image_shorter_side(a.w, a.h, im->resize, &rw, &rh);
            if (!(st = qfd_image_resize(ctx, &a, rw, rh, &b))) {
                qfd_image_free(&a);
                a = b;
                memset(&b, 0, sizeof b);
            }
        }
        if (!st && !(st = qfd_image_crop(ctx, &a, qfd_image_center_offset(a.w, im->w),
                                         qfd_image_center_offset(a.h, im->h), im->w, im->h, &b))) {
            qfd_image_free(&a);
            a = b;
            memset(&b, 0, sizeof b);
        }
    } else if (!(st = qfd_image_resize(ctx, &a, im->w, im->h, &b))) {
        qfd_image_free(&a);
        a = b;
        memset(&b, 0, sizeof b);
    }
    if (!st)
        qfd_image_to_chw(&a, n_norm, mean, std, flip, dst);
    qfd_image_free(&a);
    qfd_image_free(&b);
    return st;
}

bool qfd_dataset_bad_image(qfd_status st)
{
    return st == QFD_ERR_INVALID || st == QFD_ERR_UNSUPPORTED || st == QFD_ERR_LIMIT;
}

bool qfd_dataset_skips_bad(const qfd_dataset *ds)
{
    return ds->images && ds->images->skip_bad;
}

/* One thread's share of a qfd_dataset_read pass: examples first + t,
 * first + t + stride, ... */
typedef struct read_job {
    const qfd_dataset *ds;
    int64_t first, count, t, stride;
    int n_norm;
    const float *mean, *std;
    float *x;
    int64_t per;
    unsigned char *ok; /* [count]: 1 decoded, 0 bad */
    qfd_status st;     /* the first hard failure (out of memory, ...) or bad image of this thread */
    int64_t st_index;
    qfd_ctx ctx;
} read_job;

static void *read_main(void *arg)
{
    read_job *j = arg;
    for (int64_t k = j->t; k < j->count; k += j->stride) {
        qfd_status st = qfd_dataset_image(&j->ctx, j->ds, j->first + k, NULL, j->n_norm, j->mean, j->std,
                                          j->x + k * j->per);
        j->ok[k] = st == QFD_OK;
        /* a bad image under skip is left out; anything else stops */
        if (st && (!qfd_dataset_bad_image(st) || !j->ds->images->skip_bad)) {
            j->st = st;
            j->st_index = k;
            break;
        }
    }
    return NULL;
}

qfd_status qfd_dataset_read(qfd_ctx *ctx, const qfd_dataset *ds, int64_t start, int64_t n, int n_norm,
                            const float *mean, const float *std, int n_threads, float *x, int64_t *y, int64_t *got,
                            int64_t *next, int64_t *skipped)
{
    const int64_t per = ds->n ? qfd_array_numel(&ds->x) / ds->n : 0;
    const int64_t *labels = ds->y.data;
    *got = 0;
    *next = start;
    if (!ds->images) {
        const int64_t b = start >= ds->n ? 0 : ds->n - start < n ? ds->n - start : n;
        if (b > 0)
            qfd_dataset_normalize(ds, start, b, n_norm, mean, std, x);
        for (int64_t i = 0; y && i < b; i++)
            y[i] = labels[start + i];
        *got = b;
        *next = start + b;
        return QFD_OK;
    }
    enum { MAX_THREADS = 16 };
    const long cores = n_threads < 1 ? sysconf(_SC_NPROCESSORS_ONLN) : n_threads;
    const int64_t t_n = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : cores;
    unsigned char *ok = malloc((size_t)(n > 0 ? n : 1));
    if (!ok)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    qfd_status st = QFD_OK;
    while (!st && *got < n && *next < ds->n) {
        const int64_t want = n - *got, count = ds->n - *next < want ? ds->n - *next : want;
        const int64_t threads = count < t_n ? count : t_n;
        read_job jobs[MAX_THREADS];
        pthread_t tid[MAX_THREADS];
        bool spawned[MAX_THREADS] = {false};
        for (int64_t t = 0; t < threads; t++) {
            jobs[t] = (read_job){.ds = ds,
                                 .first = *next,
                                 .count = count,
                                 .t = t,
                                 .stride = threads,
                                 .n_norm = n_norm,
                                 .mean = mean,
                                 .std = std,
                                 .x = x + *got * per,
                                 .per = per,
                                 .ok = ok};
            jobs[t].ctx.memory_limit = ctx->memory_limit;
        }
        /* the calling thread takes share 0, and any share no thread could be started for */
        for (int64_t t = 1; t < threads; t++)
            spawned[t] = pthread_create(&tid[t], NULL, read_main, &jobs[t]) == 0;
        read_main(&jobs[0]);
        for (int64_t t = 1; t < threads; t++) {
            if (spawned[t])
                pthread_join(tid[t], NULL);
            else
                read_main(&jobs[t]);
        }
        int64_t bad_at = -1;
        const read_job *bad = NULL;
        for (int64_t t = 0; t < threads; t++)
            if (jobs[t].st && (bad_at < 0 || jobs[t].st_index < bad_at))
                bad_at = jobs[t].st_index, bad = &jobs[t];
        if (bad) {
            st = qfd_fail(ctx, bad->st, "%s%s", qfd_ctx_error(&bad->ctx),
                          qfd_dataset_bad_image(bad->st) ? " (--on-bad-image skip leaves such images out)" : "");
            break;
        }
        /* compact: the images that decoded, in order */
        float *base = x + *got * per;
        int64_t w = 0;
        for (int64_t k = 0; k < count; k++) {
            if (!ok[k]) {
                if (skipped)
                    (*skipped)++;
                continue;
            }
            if (w != k)
                memmove(base + w * per, base + k * per, (size_t)per * sizeof *base);
            if (y)
                y[*got + w] = labels[*next + k];
            w++;
        }
        *got += w;
        *next += count;
    }
    free(ok);
    return st;
}
