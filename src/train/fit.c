#include "train/fit.h"
#include "core/proc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"

/* NaN as null */
static void json_num(FILE *f, const char *key, double v, const char *fmt)
{
    fprintf(f, "\"%s\":", key);
    if (v == v)
        fprintf(f, fmt, v);
    else
        fputs("null", f);
    fputc(',', f);
}

void qfd_fit_speed_json(FILE *f, const qfd_train_result *r)
{
    fprintf(f, "\"steps\":%lld,", (long long)r->steps);
    json_num(f, "steady_images_per_second", r->steps >= 2 ? r->steady_images_per_second : NAN, "%.3f");
    json_num(f, "rss_loaded_mb", r->rss_loaded_bytes ? (double)r->rss_loaded_bytes / 1048576.0 : NAN, "%.1f");
    json_num(f, "rss_peak_mb", r->rss_peak_bytes ? (double)r->rss_peak_bytes / 1048576.0 : NAN, "%.1f");
}

static qfd_schedule make_schedule(const qfd_fit_opts *o, int64_t steps_per_epoch)
{
    qfd_schedule s = {0};
    s.kind = o->schedule;
    s.total_steps = steps_per_epoch * o->epochs;
    s.warmup_steps = (int64_t)llround(o->warmup_epochs * (double)steps_per_epoch);
    s.step_every = steps_per_epoch * (o->step_epochs > 0 ? o->step_epochs : 1);
    s.gamma = o->gamma > 0 ? o->gamma : 0.1f;
    return s;
}

/* The loss terms of the run, as the trainer takes them (none: one cross-entropy). */
static size_t n_terms(const qfd_fit_opts *o)
{
    size_t n = o->trainer.n_losses ? o->trainer.n_losses : 1;
    return n < QFD_LOSS_TERMS_MAX ? n : QFD_LOSS_TERMS_MAX;
}

static qfd_loss_kind term_kind(const qfd_fit_opts *o, size_t i)
{
    return o->trainer.n_losses ? o->trainer.losses[i].kind : QFD_LOSS_CE;
}

/* Top-1 on the training batches is counted by a first cross-entropy term;
 * without labels there is none. */
static double accuracy(const qfd_fit_opts *o, const qfd_train_state *s)
{
    if (term_kind(o, 0) != QFD_LOSS_CE)
        return NAN;
    return s->seen ? (double)s->hits / (double)s->seen : 0;
}

static void report(const qfd_fit_opts *o, const qfd_train_state *s, int64_t epoch, int64_t steps, int64_t seen_here,
                   double elapsed)
{
    double ips = elapsed > 0 ? (double)seen_here / elapsed : 0;
    int64_t left = ((steps - s->batch) + (o->epochs - epoch - 1) * steps) * o->loader.batch;
    qfd_train_progress p = {.epoch = (int)epoch + 1,
                            .epochs = o->epochs,
                            .step = s->batch,
                            .steps = steps,
                            .loss = s->seen ? s->loss_sum / (double)s->seen : 0,
                            .accuracy = accuracy(o, s),
                            .images_per_second = ips,
                            .eta_seconds = ips > 0 ? (double)left / ips : 0,
                            .epoch_done = s->batch == steps,
                            .phase = o->phase};
    if (n_terms(o) > 1) {
        p.n_terms = (int)n_terms(o);
        for (int i = 0; i < p.n_terms; i++) {
            p.term_names[i] = qfd_loss_kind_name(term_kind(o, (size_t)i));
            p.terms[i] = s->seen ? s->term_sum[i] / (double)s->seen : 0;
        }
    }
    o->progress(o->user, &p);
}

qfd_status qfd_fit(qfd_ctx *ctx, qfd_model *m, const qfd_dataset *ds, const qfd_fit_opts *o, qfd_train_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->epochs < 1)
        return qfd_fail(ctx, QFD_ERR_ARG, "--epochs must be at least 1");
    qfd_loader *ld = NULL;
    qfd_trainer *tr = NULL;
    qfd_status st;
    if ((st = qfd_loader_new(ctx, ds, &o->loader, &ld)))
        goto out;
    r->rss_loaded_bytes = qfd_rss_bytes(); /* the model and data, not yet what training takes */
    if ((st = qfd_trainer_new(ctx, m, &o->trainer, &tr)))
        goto out;
    const int64_t steps = qfd_loader_batches_per_epoch(ld);
    const qfd_schedule sched = make_schedule(o, steps);
    qfd_optim *opt = qfd_trainer_optim(tr);
    const int *params = qfd_trainer_param_tensors(tr);
    r->n_params = (int64_t)qfd_trainer_n_params(tr);
    if (o->profile && (st = qfd_exec_profile_start(ctx, qfd_trainer_exec(tr))))
        goto out;

    qfd_train_state s = {.seed = o->loader.seed, .batch_size = o->loader.batch, .n_terms = (int64_t)n_terms(o)};
    if (o->resume_dir && (st = qfd_checkpoint_load(ctx, o->resume_dir, m, opt, params, &o->meta, &s, NULL)))
        goto out;
    if (s.n_terms != (int64_t)n_terms(o)) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "%s was saved by a run with %lld loss terms, this one has %zu", o->resume_dir,
                      (long long)s.n_terms, n_terms(o));
        goto out;
    }
    double t0 = qfd_now(), first_loss = -1; /* the loss before this run's first update */
    double t_first = 0, t_last = 0;         /* end of this run's first and last step */
    int64_t images = 0, images_first = 0;
    for (int64_t epoch = s.epoch; epoch < o->epochs && !r->stopped; epoch++) {
        if ((st = qfd_loader_start_epoch(ctx, ld, epoch, s.batch)))
            goto out;
        if (s.batch == 0) {
            s.loss_sum = 0, s.seen = 0, s.hits = 0;
            memset(s.term_sum, 0, sizeof s.term_sum);
        }
        double te = qfd_now();
        int64_t seen_here = 0;
        const int64_t skipped_before = qfd_loader_skipped(ld);
        const qfd_array *x, *y;
        while (qfd_loader_next(ld, &x, &y)) {
            qfd_step_stats ss;
            float f = qfd_schedule_factor(&sched, s.step);
            if ((st = qfd_trainer_step(ctx, tr, x, y, f, o->loader.seed ^ (uint64_t)s.step * 0x9E3779B97F4A7C15ull,
                                       &ss))) {
                qfd_ctx_prefix(ctx, "training stopped");
                goto out;
            }
            /* Finite but exploded (weights blown up by too high a learning
             * rate): a loss never legitimately grows 1000-fold. */
            if (first_loss < 0) {
                first_loss = ss.loss;
            } else if (ss.loss > 1000.0 * (first_loss + 1.0)) {
                st = qfd_fail(ctx, QFD_ERR_INVALID,
                              "training stopped: the loss exploded from %.4g to %.4g at step %lld; lower --lr",
                              first_loss, ss.loss, (long long)s.step);
                goto out;
            }
            s.step++;
            s.batch++;
            s.loss_sum += ss.loss * (double)ss.n;
            for (int64_t k = 0; k < s.n_terms; k++)
                s.term_sum[k] += ss.terms[k] * (double)ss.n;
            s.seen += ss.n;
            s.hits += ss.correct;
            seen_here += ss.n;
            images += ss.n;
            t_last = qfd_now();
            if (++r->steps == 1)
                t_first = t_last, images_first = images;
            if (o->progress)
                report(o, &s, epoch, steps, seen_here, qfd_now() - te);
            if (o->stop && *o->stop) {
                r->stopped = 1;
                break;
            }
            bool periodic = o->checkpoint_steps > 0 && s.step % o->checkpoint_steps == 0 && s.batch < steps;
            if (o->checkpoint_dir && periodic &&
                (st = qfd_checkpoint_save(ctx, o->checkpoint_dir, m, opt, params, &s, &o->meta)))
                goto out;
        }
        if ((st = qfd_loader_error(ctx, ld)))
            goto out;
        /* every epoch meets the same bad images: count them once */
        const int64_t skipped = qfd_loader_skipped(ld) - skipped_before;
        r->skipped = skipped > r->skipped ? skipped : r->skipped;
        if (!r->stopped) {
            s.epoch = epoch + 1;
            s.batch = 0;
            /* Diverged without exploding: a model that collapses to chance
             * (a fine-tuned 0.25 becoming ln(classes) = 2.3) has a finite,
             * modest loss, but a whole epoch far above where the run began
             * never happens to a run that learns. The last checkpoint is
             * kept as it was. */
            double mean = s.seen ? s.loss_sum / (double)s.seen : 0;
            if (first_loss >= 0 && mean > 4.0 * first_loss && mean > first_loss + 1.0) {
                st = qfd_fail(ctx, QFD_ERR_INVALID,
                              "training stopped: the loss rose from %.4g (first step) to %.4g over epoch %lld: "
                              "training diverged; lower --lr",
                              first_loss, mean, (long long)epoch + 1);
                goto out;
            }
        }
        if (o->checkpoint_dir && (st = qfd_checkpoint_save(ctx, o->checkpoint_dir, m, opt, params, &s, &o->meta)))
            goto out;
    }
    r->epochs_done = (int)s.epoch;
    r->loss = s.seen ? s.loss_sum / (double)s.seen : 0;
    r->train_accuracy = accuracy(o, &s);
    r->n_terms = (int)n_terms(o);
    for (int i = 0; i < r->n_terms; i++) {
        r->term_names[i] = qfd_loss_kind_name(term_kind(o, (size_t)i));
        r->term_weights[i] = o->trainer.n_losses ? o->trainer.losses[i].weight : 1.0;
        r->terms[i] = s.seen ? s.term_sum[i] / (double)s.seen : 0;
    }
    r->seconds = qfd_now() - t0;
    r->images_per_second = r->seconds > 0 ? (double)images / r->seconds : 0;
    if (r->steps >= 2 && t_last > t_first)
        r->steady_images_per_second = (double)(images - images_first) / (t_last - t_first);
    r->rss_peak_bytes = qfd_peak_rss_bytes();
    r->train_bytes = qfd_trainer_memory(tr);
    if (o->profile)
        qfd_exec_profile_write(qfd_trainer_exec(tr), o->profile);
out:
    r->checkpointed = o->checkpoint_dir && qfd_checkpoint_exists(o->checkpoint_dir);
    qfd_trainer_free(tr);
    qfd_loader_free(ld);
    return st;
}
