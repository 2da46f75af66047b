/* The epoch loop of `qfd-onnx train`: data, schedule, steps, progress,
 * checkpoints and an exact resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctx.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "exec/exec.h"
#include "ir/model_info.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Normalisation as `eval` does it: flags, else the model's metadata. */
static qfd_status norm(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, qfd_loader_opts *lo)
{
    const char *source;
    return qfd_model_normalization(ctx, m, o->n_mean, o->mean, o->n_std, o->std, &lo->n_norm, lo->mean, lo->std,
                                   &source);
}

static qfd_status setup(qfd_ctx *ctx, const qfd_model *m, const qfd_train_opts *o, qfd_trainer_opts *to,
                        qfd_schedule *sched, int64_t steps_per_epoch)
{
    bool adamw = o->optimizer && !strcmp(o->optimizer, "adamw");
    if (o->optimizer && !adamw && strcmp(o->optimizer, "sgd"))
        return qfd_fail(ctx, QFD_ERR_ARG, "unknown optimizer '%s' (sgd or adamw)", o->optimizer);
    memset(to, 0, sizeof *to);
    to->optimizer = adamw ? QFD_OPT_ADAMW : QFD_OPT_SGD;
    to->lr = o->lr > 0 ? o->lr : adamw ? 1e-3f : 1e-2f;
    to->momentum = o->momentum >= 0 ? o->momentum : 0.9f;
    to->nesterov = o->nesterov;
    to->weight_decay = o->weight_decay >= 0 ? o->weight_decay : adamw ? 0.01f : 5e-4f;
    to->n_threads = o->n_threads;
    to->seed = o->seed;
    to->n_losses = 1;
    (void)m;
    const char *s = o->schedule ? o->schedule : "cosine";
    memset(sched, 0, sizeof *sched);
    sched->total_steps = steps_per_epoch * o->epochs;
    sched->warmup_steps = (int64_t)llround(o->warmup_epochs * (double)steps_per_epoch);
    if (!strcmp(s, "cosine"))
        sched->kind = QFD_SCHED_COSINE;
    else if (!strcmp(s, "step"))
        sched->kind = QFD_SCHED_STEP;
    else if (!strcmp(s, "constant"))
        sched->kind = QFD_SCHED_CONSTANT;
    else
        return qfd_fail(ctx, QFD_ERR_ARG, "unknown schedule '%s' (cosine, step or constant)", s);
    sched->step_every = steps_per_epoch * (o->step_epochs > 0 ? o->step_epochs : 1);
    sched->gamma = o->gamma > 0 ? o->gamma : 0.1f;
    return QFD_OK;
}

qfd_status qfd_model_train(qfd_ctx *ctx, qfd_model *m, const qfd_train_opts *o, qfd_train_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->epochs < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "--epochs must be at least 1");
    qfd_dataset ds = {0};
    qfd_loader *ld = NULL;
    qfd_trainer *tr = NULL;
    qfd_loss_term ce = {QFD_LOSS_CE, NULL, NULL, 1.0f, o->label_smoothing, 1.0f};
    qfd_loader_opts lo = {.batch = o->batch > 0 ? o->batch : 128,
                          .shuffle = true,
                          .seed = o->seed,
                          .crop_pad = o->crop_pad < 0 ? 2 : o->crop_pad,
                          .hflip = o->hflip != 0,
                          .prefetch = 2};
    qfd_status st = norm(ctx, m, o, &lo);
    if (st || (st = qfd_dataset_load(ctx, o->data, QFD_SPLIT_TRAIN, o->limit, &ds)) ||
        (st = qfd_loader_new(ctx, &ds, &lo, &ld)))
        goto out;
    int64_t steps = qfd_loader_batches_per_epoch(ld);
    qfd_trainer_opts to;
    qfd_schedule sched;
    if ((st = setup(ctx, m, o, &to, &sched, steps)))
        goto out;
    to.losses = &ce;
    if ((st = qfd_trainer_new(ctx, m, &to, &tr)))
        goto out;
    r->n_params = (int64_t)qfd_trainer_n_params(tr);
    if (o->profile && (st = qfd_exec_profile_start(ctx, qfd_trainer_exec(tr))))
        goto out;

    qfd_train_state state = {0, 0, 0, o->seed, lo.batch};
    if (o->resume_dir) {
        if ((st = qfd_checkpoint_load_state(ctx, o->resume_dir, qfd_trainer_optim(tr), &state)))
            goto out;
        if (state.batch_size != lo.batch || state.seed != o->seed) {
            st = qfd_fail(ctx, QFD_ERR_ARG, "%s: saved with --batch %lld --seed %llu; resume with the same values",
                          o->resume_dir, (long long)state.batch_size, (unsigned long long)state.seed);
            goto out;
        }
    }
    double t0 = now(), first_loss = -1;
    int64_t images = 0;
    for (int64_t epoch = state.epoch; epoch < o->epochs; epoch++) {
        if ((st = qfd_loader_start_epoch(ctx, ld, epoch, state.batch)))
            goto out;
        double loss_sum = 0, te = now();
        int64_t seen = 0, hits = 0, step_in_epoch = state.batch;
        const qfd_array *x, *y;
        while (qfd_loader_next(ld, &x, &y)) {
            qfd_step_stats ss;
            float f = qfd_schedule_factor(&sched, state.step);
            if ((st = qfd_trainer_step(ctx, tr, x, y, f, o->seed ^ (uint64_t)state.step * 0x9E3779B97F4A7C15ull,
                                       &ss))) {
                qfd_ctx_prefix(ctx, "training stopped");
                goto out;
            }
            /* Finite but exploded (weights blown up by too high a learning
             * rate): a cross-entropy never legitimately grows 1000-fold. */
            if (first_loss < 0)
                first_loss = ss.loss;
            else if (ss.loss > 1000.0 * (first_loss + 1.0)) {
                st = qfd_fail(ctx, QFD_ERR_INVALID,
                              "training stopped: the loss exploded from %.4g to %.4g at step %lld; lower --lr",
                              first_loss, ss.loss, (long long)state.step);
                goto out;
            }
            state.step++;
            step_in_epoch++;
            loss_sum += ss.loss * (double)ss.n;
            seen += ss.n;
            hits += ss.correct;
            images += ss.n;
            double el = now() - te, ips = el > 0 ? (double)seen / el : 0;
            if (o->progress) {
                int64_t left = (steps - step_in_epoch) * lo.batch + (o->epochs - epoch - 1) * steps * lo.batch;
                qfd_train_progress p = {(int)epoch + 1,
                                        o->epochs,
                                        step_in_epoch,
                                        steps,
                                        loss_sum / (double)seen,
                                        (double)hits / (double)seen,
                                        ips,
                                        ips > 0 ? (double)left / ips : 0,
                                        step_in_epoch == steps};
                o->progress(o->user, &p);
            }
            if (o->stop && *o->stop) {
                state.epoch = epoch;
                state.batch = step_in_epoch;
                r->stopped = 1;
                break;
            }
        }
        r->loss = seen ? loss_sum / (double)seen : 0;
        r->train_accuracy = seen ? (double)hits / (double)seen : 0;
        if (!r->stopped) {
            state.epoch = epoch + 1;
            state.batch = 0;
            r->epochs_done++;
        }
        if (o->checkpoint_dir && (st = qfd_checkpoint_save(ctx, o->checkpoint_dir, m, qfd_trainer_optim(tr), &state)))
            goto out;
        if (r->stopped)
            break;
    }
    r->seconds = now() - t0;
    r->images_per_second = r->seconds > 0 ? (double)images / r->seconds : 0;
    r->train_bytes = qfd_trainer_memory(tr);
    if (o->profile)
        qfd_exec_profile_write(qfd_trainer_exec(tr), o->profile);
out:
    qfd_trainer_free(tr);
    qfd_loader_free(ld);
    qfd_dataset_free(&ds);
    return st;
}
