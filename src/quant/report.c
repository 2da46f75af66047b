/* The JSON report of a quantize run (qfd_quantize_report_write), written
 * under a temporary name and renamed like every output. */
#include <stdio.h>
#include <string.h>

#include "core/atomic.h"
#include "quant/methods.h"
#include "train/fit.h"

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

/* Each loss term of a training run: name, weight and final value. */
static void terms(FILE *f, const qfd_train_result *t)
{
    fputs("\"loss_terms\":[", f);
    for (int i = 0; i < t->n_terms; i++) {
        fprintf(f, "%s{\"name\":\"%s\",", i ? "," : "", t->term_names[i]);
        num(f, "weight", t->term_weights[i], 0);
        num(f, "value", t->terms[i], 1);
        fputc('}', f);
    }
    fputs("]", f);
}

static void training(FILE *f, const qfd_train_result *t)
{
    fprintf(f, "{\"epochs\":%d,", t->epochs_done);
    num(f, "loss", t->loss, 0);
    terms(f, t);
    fputc(',', f);
    num(f, "accuracy", t->train_accuracy, 0);
    num(f, "images_per_second", t->images_per_second, 0);
    qfd_fit_speed_json(f, t);
    num(f, "seconds", t->seconds, 1);
    fputc('}', f);
}

/* kd, fd, qfd: the distillation settings and the teacher. */
static void distillation(FILE *f, const qfd_method *m, const qfd_quantize_result *r)
{
    fputs("\"distillation\":", f);
    if (!m->distill || !r->has_teacher) {
        fputs("null,", f);
        return;
    }
    fputc('{', f);
    num(f, "lambda", m->lambda, 0);
    if (m->kind == QFD_METHOD_KD)
        num(f, "temperature", m->temperature, 0);
    fprintf(f, "\"labels\":%s,\"teacher\":{", m->no_labels ? "false" : "true");
    str(f, "source", r->teacher_source);
    str(f, "feature", r->teacher_feature);
    if (m->kind == QFD_METHOD_QFD) {
        fprintf(f, "\"bits\":%d,\"signed\":%s,", r->teacher_bits, r->teacher_signed ? "true" : "false");
        num(f, "step", r->teacher_step, 0);
        fputs("\"stage1\":", f);
        if (r->teacher_trained)
            training(f, &r->teacher_train);
        else
            fputs("null", f);
        fputc(',', f);
    }
    num(f, "accuracy", r->teacher_top1, 1);
    fputs("}},", f);
}

static void body(FILE *f, const char *model, const qfd_quantize_opts *o, const qfd_method *m,
                 const qfd_quantize_result *r)
{
    fputc('{', f);
    str(f, "model", model);
    str(f, "method", m->name);
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
    distillation(f, m, r);
    fputs("\"training\":", f);
    training(f, &r->train);
    fputs(",\"seconds\":{", f);
    num(f, "prepare", r->seconds_prepare, 0);
    num(f, "teacher", r->seconds_teacher, 0);
    num(f, "calibrate", r->seconds_calibrate, 0);
    num(f, "train", r->seconds_train, 0);
    num(f, "export", r->seconds_export, 0);
    num(f, "evaluate", r->seconds_evaluate, 1);
    fprintf(f, "},\"skipped_images\":{\"train\":%lld,\"test\":%lld},\"accuracy\":{\"test_images\":%lld,",
            (long long)r->skipped_train, (long long)r->skipped_test, (long long)r->n_test);
    num(f, "fp32", r->fp32_top1, 0);
    num(f, "student", r->student_top1, 0);
    if (r->has_teacher)
        num(f, "teacher", r->teacher_top1, 0);
    num(f, "exported", r->exported_top1, 1);
    fputs("},", f);
    num(f, "agreement", r->agreement, 0);
    num(f, "max_logit_diff", r->max_logit_diff, 1);
    fputs("}\n", f);
}

qfd_status qfd_quantize_report_write(qfd_ctx *ctx, const char *path, const char *model, const qfd_quantize_opts *o,
                                     const qfd_quantize_result *r)
{
    qfd_method m;
    qfd_status st = qfd_method_parse(ctx, o, &m);
    qfd_atomic a;
    if (st || (st = qfd_atomic_open(ctx, path, &a)))
        return st;
    body(a.f, model, o, &m, r);
    return qfd_atomic_commit(ctx, &a);
}
