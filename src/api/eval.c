/* Top-1/top-5 accuracy of a classifier on a labelled dataset. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/proc.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "exec/exec.h"
#include "ir/model_info.h"

qfd_status qfd_model_evaluate(qfd_ctx *ctx, const qfd_model *m, const qfd_eval_opts *o, qfd_eval_result *r)
{
    memset(r, 0, sizeof *r);
    qfd_dataset ds = {0};
    qfd_exec *e = NULL;
    qfd_loader *ld = NULL;
    qfd_status st = qfd_model_normalization(ctx, m, o->n_mean, o->mean, o->n_std, o->std, &r->n_norm, r->mean, r->std,
                                            &r->norm_source);
    if (st)
        return st;
    if ((st = qfd_dataset_open(ctx, o->data, &o->image, m, QFD_SPLIT_TEST, o->limit, false, &ds)))
        return st;
    if ((st = qfd_exec_new(ctx, m, o->n_threads, &e)) || (o->profile && (st = qfd_exec_profile_start(ctx, e))))
        goto out;
    qfd_exec_share_values(e); /* only the logits are read */
    if (qfd_exec_n_inputs(e) != 1 || qfd_exec_n_outputs(e) < 1) {
        st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                      "eval needs a model with one input and a logits output (it has %zu inputs)",
                      qfd_exec_n_inputs(e));
        goto out;
    }
    const int64_t n = ds.n;
    const int bs = o->batch > 0 ? o->batch : 64;
    const int64_t channels = ds.x.rank >= 2 ? ds.x.dims[1] : 1;
    if (r->n_norm > 1 && r->n_norm != channels) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "%d mean/std values for images with %lld channel%s (need 1 or one per channel)",
                      r->n_norm, (long long)channels, channels == 1 ? "" : "s");
        goto out;
    }
    /* image files are decoded by a pool of workers, batches ahead of the model */
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    qfd_loader_opts lo = {.batch = bs, .n_norm = r->n_norm, .prefetch = 1, .workers = 1};
    if (ds.images && cores > 1) {
        lo.workers = cores > 8 ? 8 : (int)cores;
        lo.prefetch = lo.workers + 1;
    }
    memcpy(lo.mean, r->mean, sizeof lo.mean);
    memcpy(lo.std, r->std, sizeof lo.std);
    if ((st = qfd_loader_new(ctx, &ds, &lo, &ld)) || (st = qfd_loader_start_epoch(ctx, ld, 0, 0)))
        goto out;
    int64_t top1 = 0, top5 = 0, done = 0, seen = 0;
    double t0 = qfd_now();
    const qfd_array *bx, *by;
    while (qfd_loader_next(ld, &bx, &by)) {
        const int64_t b = bx->dims[0];
        if ((st = qfd_exec_run(ctx, e, bx, 1)))
            goto out;
        const qfd_array *logits = qfd_exec_value(e, qfd_exec_output_tensor(e, 0));
        if (logits->dtype != QFD_DT_FLOAT || logits->rank != 2 || logits->dims[0] != b) {
            st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "eval needs float logits of shape [N, classes] as first output");
            goto out;
        }
        int64_t classes = logits->dims[1];
        r->classes = classes;
        for (int64_t i = 0; i < b; i++) {
            const float *row = (const float *)logits->data + i * classes;
            int64_t label = ((const int64_t *)by->data)[i];
            if (label >= classes) {
                st = qfd_fail(ctx, QFD_ERR_INVALID,
                              "%s: label %lld of example %lld is not one of the model's %lld classes", ds.source,
                              (long long)label, (long long)(done + i), (long long)classes);
                goto out;
            }
            /* NaN compares false with everything, so a NaN row would rank
             * the true class first: a row with any non-finite logit is a
             * wrong prediction instead. */
            int64_t above = 0, finite = 1; /* classes scored higher than the true one */
            for (int64_t k = 0; k < classes; k++) {
                finite &= isfinite(row[k]) != 0;
                above += row[k] > row[label] || (row[k] == row[label] && k < label);
            }
            if (!finite) {
                r->n_nonfinite++;
                continue;
            }
            top1 += above == 0;
            top5 += above < 5;
        }
        if (o->logits &&
            fwrite(logits->data, sizeof(float), (size_t)(b * classes), o->logits) != (size_t)(b * classes)) {
            st = qfd_fail(ctx, QFD_ERR_IO, "cannot write the logits: %s", strerror(errno));
            goto out;
        }
        done += b;
        seen = done + qfd_loader_skipped(ld);
        if (o->progress)
            o->progress(o->user, seen, n);
        if (o->stop && *o->stop) {
            r->stopped = 1;
            break;
        }
    }
    if ((st = qfd_loader_error(ctx, ld)))
        goto out;
    r->skipped = qfd_loader_skipped(ld);
    r->seconds = qfd_now() - t0;
    r->n = done;
    r->top1 = done ? (double)top1 / (double)done : 0;
    r->top5 = done ? (double)top5 / (double)done : 0;
    if (o->profile)
        qfd_exec_profile_write(e, o->profile);
out:
    qfd_loader_free(ld);
    qfd_exec_free(e);
    qfd_dataset_free(&ds);
    return st;
}
