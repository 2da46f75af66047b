/* Top-1 of several models on the same test images in one pass, and how
 * closely two of them agree: the numbers `quantize` reports (FP32, the
 * fake-quant student, the exported file). */
#include "quant/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "data/dataset.h"
#include "exec/exec.h"

/* argmax, ties to the lower class; -1 when the row holds NaN or Inf. */
static int64_t argmax(const float *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t k = 0; k < c; k++) {
        if (!isfinite(row[k]))
            return -1;
        if (row[k] > row[best])
            best = k;
    }
    return best;
}

qfd_status qfd_quant_compare(qfd_ctx *ctx, const qfd_model *const *models, int n_models, const qfd_compare_opts *o,
                             qfd_compare_result *r)
{
    memset(r, 0, sizeof *r);
    qfd_dataset ds = {0};
    qfd_exec *e[QFD_COMPARE_MAX] = {0};
    float *batch = NULL;
    int64_t *labels = NULL, done = 0;
    int64_t hits[QFD_COMPARE_MAX] = {0}, same = 0;
    qfd_status st = qfd_dataset_open(ctx, o->data, o->image, models[0], QFD_SPLIT_TEST, o->limit, o->labels_optional,
                                     &ds);
    if (st)
        return st;
    for (int i = 0; i < n_models && !st; i++)
        if (!(st = qfd_exec_new(ctx, models[i], o->n_threads, &e[i])))
            qfd_exec_share_values(e[i]);
    const int64_t n = ds.n, per = n ? qfd_array_numel(&ds.x) / n : 0, bs = o->batch > 0 ? o->batch : 100;
    const int64_t channels = ds.x.rank >= 2 ? ds.x.dims[1] : 1;
    if (!st && o->n_norm > 1 && o->n_norm != channels)
        st = qfd_fail(ctx, QFD_ERR_ARG, "%d mean/std values for data with %lld channels", o->n_norm,
                      (long long)channels);
    if (!st &&
        (!(batch = malloc((size_t)(bs * per) * sizeof *batch + 1)) || !(labels = malloc((size_t)bs * sizeof *labels))))
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    float *first = NULL; /* logits of models[a] for the batch */
    int64_t first_classes = 0;
    for (int64_t start = 0, next = 0, b = 0; !st && start < n; start = next) {
        /* images that do not decode are left out under --on-bad-image skip */
        if ((st = qfd_dataset_read(ctx, &ds, start, bs, o->n_norm, o->mean, o->std, o->n_threads, batch, labels, &b,
                                   &next, &r->skipped)) ||
            b == 0)
            break;
        done += b;
        qfd_array in = ds.x;
        in.dims[0] = b;
        in.data = batch;
        in.nbytes = (size_t)(b * per) * sizeof *batch;
        for (int mi = 0; mi < n_models && !st; mi++) {
            if ((st = qfd_exec_run(ctx, e[mi], &in, 1)))
                break;
            const qfd_array *y = qfd_exec_output(e[mi], 0);
            if (y->dtype != QFD_DT_FLOAT || y->rank != 2 || y->dims[0] != b) {
                st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "the model's first output is not float logits [N, classes]");
                break;
            }
            const int64_t classes = y->dims[1];
            const float *lg = y->data;
            for (int64_t i = 0; i < b; i++) {
                int64_t label = labels[i];
                hits[mi] += argmax(lg + i * classes, classes) == label;
            }
            if (mi == o->a) {
                free(first);
                if (!(first = malloc((size_t)(b * classes) * sizeof *first + 1))) {
                    st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
                    break;
                }
                memcpy(first, lg, (size_t)(b * classes) * sizeof *first);
                first_classes = classes;
            } else if (mi == o->b && first && classes != first_classes) {
                /* models from different sources (check --reference) need not match */
                st = qfd_fail(ctx, QFD_ERR_INVALID, "the models give %lld and %lld classes: they cannot be compared",
                              (long long)first_classes, (long long)classes);
                break;
            } else if (mi == o->b && first) {
                for (int64_t i = 0; i < b; i++) {
                    int64_t pa = argmax(first + i * classes, classes), pb = argmax(lg + i * classes, classes);
                    same += pa >= 0 && pa == pb;
                    for (int64_t k = 0; k < classes; k++) {
                        double d = fabs((double)first[i * classes + k] - (double)lg[i * classes + k]);
                        r->max_logit_diff = d > r->max_logit_diff || d != d ? d : r->max_logit_diff;
                    }
                }
            }
        }
    }
    if (!st) {
        r->n = done;
        r->labeled = ds.labeled;
        for (int i = 0; i < n_models; i++)
            r->top1[i] = !ds.labeled ? NAN : done ? (double)hits[i] / (double)done : 0;
        r->agreement = done ? (double)same / (double)done : 0;
    }
    free(first);
    free(labels);
    free(batch);
    for (int i = 0; i < n_models; i++)
        qfd_exec_free(e[i]);
    qfd_dataset_free(&ds);
    return st;
}
