/* Turning the public training options into the epoch loop's, and the
 * checks every training run makes before its first step. */
#include "train/setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/model_info.h"

/* Creates dir when missing and checks that it takes new files. */
qfd_status qfd_fit_dir_check(qfd_ctx *ctx, const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qfd_fail(ctx, QFD_ERR_IO, "checkpoint folder %s: %s", dir, strerror(errno));
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return qfd_fail(ctx, QFD_ERR_IO, "checkpoint folder %s: not a folder", dir);
    size_t n = strlen(dir) + 8;
    char *name = malloc(n);
    if (!name)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    snprintf(name, n, "%s/.probe", dir);
    qfd_atomic probe;
    qfd_status st = qfd_atomic_open(ctx, name, &probe);
    if (st)
        st = qfd_fail(ctx, QFD_ERR_IO, "checkpoint folder %s: cannot write there: %s", dir, strerror(errno));
    else
        qfd_atomic_abort(&probe);
    free(name);
    return st;
}

/* Classes of the model: the width of its first output for one example. */
static qfd_status model_classes(qfd_ctx *ctx, const qfd_model *m, const qfd_dataset *ds, int n_threads,
                                int64_t *classes)
{
    qfd_exec *e = NULL;
    const int64_t per = ds->n ? qfd_array_numel(&ds->x) / ds->n : 0;
    float *x = malloc((size_t)per * sizeof *x + 1);
    int64_t got = 0, next;
    qfd_status st = x ? QFD_OK : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    /* the first example that decodes: an image dataset is only listed */
    for (int64_t at = 0; !st && !got && at < ds->n; at = next)
        st = qfd_dataset_read(ctx, ds, at, 1, 0, NULL, NULL, 1, x, NULL, &got, &next, NULL);
    if (!st && !got)
        st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: no image decodes", ds->source);
    if (!st)
        st = qfd_exec_new(ctx, m, n_threads, &e);
    if (st) {
        free(x);
        return st;
    }
    qfd_array one = ds->x;
    one.dims[0] = 1;
    one.data = x;
    one.nbytes = (size_t)per * sizeof *x;
    if (!(st = qfd_exec_run(ctx, e, &one, 1))) {
        const qfd_array *y = qfd_exec_value(e, qfd_exec_output_tensor(e, 0));
        if (y->rank != 2 || y->dims[0] != 1)
            st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "training needs a model whose first output is logits [N, classes]");
        else
            *classes = y->dims[1];
    }
    qfd_exec_free(e);
    free(x);
    return st;
}

static qfd_status check_labels(qfd_ctx *ctx, const qfd_dataset *ds, int64_t classes)
{
    const int64_t *y = ds->y.data;
    for (int64_t i = 0; i < ds->n; i++)
        if (y[i] >= classes)
            return qfd_fail(ctx, QFD_ERR_INVALID,
                            "%s: label %lld of example %lld is not one of the model's %lld classes", ds->source,
                            (long long)y[i], (long long)i, (long long)classes);
    return QFD_OK;
}

qfd_status qfd_fit_check_data(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, const qfd_dataset *train)
{
    qfd_dataset test = {0};
    int64_t classes = 0;
    qfd_status st = model_classes(ctx, m, train, o->n_threads, &classes);
    if (!st && train->labeled)
        st = check_labels(ctx, train, classes);
    /* data without labels (distillation): the test split may have none either */
    if (!st && o->check_test) {
        if (!(st = qfd_dataset_open(ctx, o->data, &o->image, m, QFD_SPLIT_TEST, 0, !train->labeled, &test)) &&
            test.labeled)
            st = check_labels(ctx, &test, classes);
        qfd_dataset_free(&test);
    }
    return st;
}

/* Appends "--flag=value\n"; a run resumed from a checkpoint must repeat it. */
void qfd_fit_config_add(char *buf, size_t cap, const char *flag, const char *fmt, double v)
{
    size_t n = strlen(buf);
    int k = snprintf(buf + n, cap - n, "%s=", flag);
    if (k > 0 && (size_t)k < cap - n) {
        n += (size_t)k;
        snprintf(buf + n, cap - n, fmt, v);
        n = strlen(buf);
        snprintf(buf + n, cap - n, "\n");
    }
}

qfd_status qfd_fit_opts_from_train(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, int64_t n_examples,
                                   qfd_fit_opts *f, char *config, size_t cap)
{
    bool adamw = o->optimizer && !strcmp(o->optimizer, "adamw");
    if (o->optimizer && !adamw && strcmp(o->optimizer, "sgd"))
        return qfd_fail(ctx, QFD_ERR_ARG, "unknown optimizer '%s' (sgd or adamw)", o->optimizer);
    const char *s = o->schedule ? o->schedule : "cosine";
    memset(f, 0, sizeof *f);
    if (!strcmp(s, "cosine"))
        f->schedule = QFD_SCHED_COSINE;
    else if (!strcmp(s, "step"))
        f->schedule = QFD_SCHED_STEP;
    else if (!strcmp(s, "constant"))
        f->schedule = QFD_SCHED_CONSTANT;
    else
        return qfd_fail(ctx, QFD_ERR_ARG, "unknown schedule '%s' (cosine, step or constant)", s);
    qfd_trainer_opts *to = &f->trainer;
    to->optimizer = adamw ? QFD_OPT_ADAMW : QFD_OPT_SGD;
    to->lr = o->lr > 0 ? o->lr : adamw ? 1e-3f : 1e-2f;
    to->momentum = o->momentum >= 0 ? o->momentum : 0.9f;
    to->nesterov = o->nesterov;
    to->weight_decay = o->weight_decay >= 0 ? o->weight_decay : adamw ? 0.01f : 5e-4f;
    to->n_threads = o->n_threads;
    to->seed = o->seed;
    qfd_loader_opts *lo = &f->loader;
    *lo = (qfd_loader_opts){.batch = o->batch > 0 ? o->batch : 128,
                            .shuffle = true,
                            .seed = o->seed,
                            .crop_pad = o->crop_pad < 0 ? 2 : o->crop_pad,
                            .hflip = o->hflip != 0,
                            .prefetch = 2,
                            .image_random = !o->image.no_random_crop};
    /* image files are decoded as batches are made: a worker per core,
     * each a batch ahead */
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 1) {
        lo->workers = cores > 8 ? 8 : (int)cores;
        lo->prefetch = lo->workers + 1;
    }
    const char *source;
    qfd_status st = qfd_model_normalization(ctx, m, o->n_mean, o->mean, o->n_std, o->std, &lo->n_norm, lo->mean,
                                            lo->std, &source);
    if (st)
        return st;
    f->epochs = o->epochs;
    f->warmup_epochs = o->warmup_epochs;
    f->step_epochs = o->step_epochs;
    f->gamma = o->gamma;
    f->checkpoint_dir = o->checkpoint_dir;
    f->checkpoint_steps = o->checkpoint_steps;
    f->resume_dir = o->resume_dir;
    f->stop = o->stop;
    f->progress = o->progress;
    f->user = o->user;
    f->profile = o->profile;

    /* Everything that shapes the run's trajectory, --threads included:
     * some sums (weight gradients) are split by thread, so another count
     * gives other roundings. */
    config[0] = 0;
    qfd_fit_config_add(config, cap, "--epochs", "%.0f", o->epochs);
    qfd_fit_config_add(config, cap, "training examples (--data, --limit)", "%.0f", (double)n_examples);
    qfd_fit_config_add(config, cap, "--batch", "%.0f", (double)lo->batch);
    qfd_fit_config_add(config, cap, "--seed", "%.0f", (double)o->seed);
    qfd_fit_config_add(config, cap, "--lr", "%.7g", to->lr);
    qfd_fit_config_add(config, cap, "--momentum", "%.7g", to->momentum);
    qfd_fit_config_add(config, cap, "--nesterov", "%.0f", to->nesterov);
    qfd_fit_config_add(config, cap, "--wd", "%.7g", to->weight_decay);
    qfd_fit_config_add(config, cap, "--schedule", "%.0f", f->schedule);
    qfd_fit_config_add(config, cap, "--warmup", "%.7g", o->warmup_epochs);
    qfd_fit_config_add(config, cap, "--step-epochs", "%.0f", o->step_epochs);
    qfd_fit_config_add(config, cap, "--gamma", "%.7g", o->gamma);
    qfd_fit_config_add(config, cap, "--label-smoothing", "%.7g", o->label_smoothing);
    qfd_fit_config_add(config, cap, "--threads", "%.0f",
                       o->n_threads > 0 ? o->n_threads : (double)sysconf(_SC_NPROCESSORS_ONLN));
    qfd_fit_config_add(config, cap, "--crop-pad", "%.0f", lo->crop_pad);
    qfd_fit_config_add(config, cap, "--no-flip", "%.0f", !lo->hflip);
    /* only when given, so that checkpoints of array data keep their config */
    if (!lo->image_random)
        qfd_fit_config_add(config, cap, "--no-augment (random-resized-crop)", "%.0f", 1);
    if (o->image.resize)
        qfd_fit_config_add(config, cap, "--resize", "%.0f", o->image.resize);
    if (o->image.crop)
        qfd_fit_config_add(config, cap, "--crop", "%.0f", o->image.crop);
    for (int c = 0; c < lo->n_norm; c++) {
        qfd_fit_config_add(config, cap, "--mean", "%.7g", lo->mean[c]);
        qfd_fit_config_add(config, cap, "--std", "%.7g", lo->std[c]);
    }
    f->meta.source = qfd_graph_fingerprint(&m->graph);
    f->meta.config = config;
    f->meta.stage = "training";
    return QFD_OK;
}
