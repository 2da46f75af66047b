/* NUM001: the quantized model against its FP32 reference on labelled data,
 * both run by qfd-onnx's executor on the same images: top-1 of each, how
 * often they predict the same class, the largest logit difference, and a
 * failure when top-1 drops by more than --max-drop points. */
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "core/ctx.h"
#include "ir/model_info.h"
#include "quant/compare.h"

qfd_status chk_numeric(qfd_checker *c)
{
    const qfd_check_opts *o = c->o;
    qfd_check_result *r = c->r;
    qfd_model *ref = NULL;
    qfd_status st = qfd_model_load(c->ctx, o->reference, &ref);
    if (st)
        return st;
    int folded, fused;
    /* as eval does: the same outputs up to float rounding, faster */
    if ((st = qfd_model_fold_batchnorm(c->ctx, ref, &folded)) || (st = qfd_model_fuse_activations(c->ctx, ref, &fused)))
        goto out;
    qfd_compare_opts co = {.data = o->data,
                           .limit = o->limit,
                           .batch = 100,
                           .n_threads = o->n_threads,
                           .a = 0,
                           .b = 1,
                           .image = &o->image};
    const char *source;
    /* the flags, else the quantized file's qfd.mean/qfd.std, else the reference's */
    if ((st = qfd_model_normalization(c->ctx, c->m, o->n_mean, o->mean, o->n_std, o->std, &co.n_norm, co.mean, co.std,
                                      &source)))
        goto out;
    if (!strcmp(source, "none") &&
        (st = qfd_model_normalization(c->ctx, ref, 0, NULL, 0, NULL, &co.n_norm, co.mean, co.std, &source)))
        goto out;
    const qfd_model *models[2] = {ref, c->m};
    qfd_compare_result cr;
    if ((st = qfd_quant_compare(c->ctx, models, 2, &co, &cr)))
        goto out;
    r->has_numbers = 1;
    r->n_images = cr.n;
    r->n_skipped = cr.skipped;
    r->reference_top1 = cr.top1[0];
    r->top1 = cr.top1[1];
    r->drop_points = 100.0 * (cr.top1[0] - cr.top1[1]);
    r->agreement = cr.agreement;
    r->max_logit_diff = cr.max_logit_diff;
    double max_drop = o->max_drop >= 0 ? o->max_drop : 1.0;
    /* top-1 is a count over n images: compare counts, not rounded floats */
    if (r->drop_points > max_drop + 1e-9)
        chk_add(c, R_NUM001, -1, -1,
                "top-1 drops %.2f points from the reference (%.2f%% -> %.2f%% on %lld images), more than --max-drop "
                "%.2f",
                r->drop_points, 100 * r->reference_top1, 100 * r->top1, (long long)r->n_images, max_drop);
out:
    qfd_model_free(ref);
    return st;
}
