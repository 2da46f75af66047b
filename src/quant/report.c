/* The JSON report of a quantize run (qfd_quantize_report_write), written
 * under a temporary name and renamed like every output. */
#include <stdio.h>

#include "core/atomic.h"

static void num(FILE *f, const char *key, double v, int last)
{
    fprintf(f, "\"%s\":", key);
    if (v != v)
        fputs("null", f);
    else
        fprintf(f, "%.9g", v);
    fputs(last ? "" : ",", f);
}

static void str(FILE *f, const char *key, const char *v)
{
    fprintf(f, "\"%s\":", key);
    qfd_json_str(f, v);
    fputc(',', f);
}

static void body(FILE *f, const char *model, const qfd_quantize_opts *o, const qfd_quantize_result *r)
{
    fputc('{', f);
    str(f, "model", model);
    str(f, "method", o->method ? o->method : "lsq");
    str(f, "format", r->format ? r->format : "ort");
    fprintf(f, "\"bits\":{\"weights\":%d,\"activations\":%d},", o->wbits > 0 ? o->wbits : 4,
            o->abits > 0 ? o->abits : 4);
    str(f, "first_last", o->first_last ? o->first_last : "8");
    str(f, "calibration", o->calib ? o->calib : "mse");
    str(f, "feature", r->feature);
    fprintf(f, "\"folded_batchnorm\":%d,", r->folded_bn);
    fputs("\"layers\":[", f);
    for (size_t i = 0; i < r->n_layers; i++) {
        const qfd_quantize_layer *L = &r->layers[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        qfd_json_str(f, L->name);
        fprintf(f, ",\"op\":\"%s\",\"float\":%s,\"wbits\":%d,\"abits\":%d}", L->op, L->wbits ? "false" : "true",
                L->wbits, L->abits);
    }
    fputs("],\"quantizers\":[", f);
    for (size_t i = 0; i < r->n_tensors; i++) {
        const qfd_quantize_tensor *q = &r->tensors[i];
        fprintf(f, "%s{\"tensor\":", i ? "," : "");
        qfd_json_str(f, q->name);
        fprintf(f,
                ",\"kind\":\"%s\",\"bits\":%d,\"signed\":%s,\"qmin\":%lld,\"qmax\":%lld,\"steps\":%lld,"
                "\"step_min\":%.9g,\"step_max\":%.9g}",
                q->weight ? "weight" : "activation", q->bits, q->is_signed ? "true" : "false", (long long)q->qmin,
                (long long)q->qmax, (long long)q->n_step, (double)q->step_min, (double)q->step_max);
    }
    fputs("],", f);
    fprintf(f, "\"onnxruntime_float_groups\":%d,", r->float_groups);
    fputs("\"training\":{", f);
    fprintf(f, "\"epochs\":%d,", r->train.epochs_done);
    num(f, "loss", r->train.loss, 0);
    num(f, "accuracy", r->train.train_accuracy, 0);
    num(f, "images_per_second", r->train.images_per_second, 1);
    fputs("},\"seconds\":{", f);
    num(f, "prepare", r->seconds_prepare, 0);
    num(f, "calibrate", r->seconds_calibrate, 0);
    num(f, "train", r->seconds_train, 0);
    num(f, "export", r->seconds_export, 0);
    num(f, "evaluate", r->seconds_evaluate, 1);
    fprintf(f, "},\"accuracy\":{\"test_images\":%lld,", (long long)r->n_test);
    num(f, "fp32", r->fp32_top1, 0);
    num(f, "student", r->student_top1, 0);
    num(f, "exported", r->exported_top1, 1);
    fputs("},", f);
    num(f, "agreement", r->agreement, 0);
    num(f, "max_logit_diff", r->max_logit_diff, 1);
    fputs("}\n", f);
}

qfd_status qfd_quantize_report_write(qfd_ctx *ctx, const char *path, const char *model, const qfd_quantize_opts *o,
                                     const qfd_quantize_result *r)
{
    qfd_atomic a;
    qfd_status st = qfd_atomic_open(ctx, path, &a);
    if (st)
        return st;
    body(a.f, model, o, r);
    return qfd_atomic_commit(ctx, &a);
}
