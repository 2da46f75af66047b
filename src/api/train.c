/* qfd_model_train: FP32 fine-tuning with cross-entropy, over the shared
 * epoch loop (train/fit.c). Everything that can be checked before the first
 * step is: data of both splits, labels against the model's classes, the
 * options a resumed run must keep. */
#include <string.h>
#include <sys/stat.h>

#include "core/atomic.h"
#include "core/ctx.h"
#include "ir/model_info.h"
#include "train/setup.h"

qfd_status qfd_output_check(qfd_ctx *ctx, const char *path)
{
    struct stat sb;
    if (!*path)
        return qfd_fail(ctx, QFD_ERR_ARG, "the output path is empty");
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return qfd_fail(ctx, QFD_ERR_ARG, "%s: is a folder, not a file name", path);
    qfd_atomic probe;
    qfd_status st = qfd_atomic_open(ctx, path, &probe);
    if (!st)
        qfd_atomic_abort(&probe);
    return st;
}

qfd_status qfd_model_train(qfd_ctx *ctx, qfd_model *m, const qfd_train_opts *o, qfd_train_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->epochs < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "--epochs must be at least 1");
    if (o->resume_dir && !qfd_checkpoint_exists(o->resume_dir))
        return qfd_fail(ctx, QFD_ERR_IO, "--resume %s: no checkpoint there (%s/checkpoint.bin)", o->resume_dir,
                        o->resume_dir);
    qfd_dataset ds = {0};
    qfd_fit_opts f;
    char config[2048];
    qfd_loss_term ce = {QFD_LOSS_CE, NULL, NULL, 1.0f, o->label_smoothing, 1.0f};
    qfd_status st;
    if ((o->checkpoint_dir && (st = qfd_fit_dir_check(ctx, o->checkpoint_dir))) ||
        (st = qfd_dataset_open(ctx, o->data, &o->image, m, QFD_SPLIT_TRAIN, o->limit, false, &ds)) ||
        (st = qfd_fit_opts_from_train(ctx, m, o, ds.n, &f, config, sizeof config)) ||
        (st = qfd_fit_check_data(ctx, m, o, &ds)))
        goto out;
    f.trainer.n_losses = 1;
    f.trainer.losses = &ce;
    st = qfd_fit(ctx, m, &ds, &f, r);
    /* the normalization trained with goes with the weights, so that a later
     * eval (or quantize) of the file uses it without being told */
    if (!st && o->n_mean == o->n_std)
        st = qfd_model_record_normalization(ctx, m, o->n_mean, o->mean, o->std);
out:
    if (o->checkpoint_dir && !r->checkpointed)
        r->checkpointed = qfd_checkpoint_exists(o->checkpoint_dir);
    qfd_dataset_free(&ds);
    return st;
}
