/* Which options each method takes, and the student's loss terms. A flag
 * that the chosen method would ignore is refused: a user who writes
 * --temperature 4 with qfd believes it does something. */
#include "quant/methods.h"

#include <stdio.h>
#include <string.h>

#include "core/ctx.h"
#include "train/setup.h"

static const struct {
    const char *name;
    qfd_method_kind kind;
} k_methods[] = {{"ptq", QFD_METHOD_PTQ},
                 {"lsq", QFD_METHOD_LSQ},
                 {"kd", QFD_METHOD_KD},
                 {"fd", QFD_METHOD_FD},
                 {"qfd", QFD_METHOD_QFD}};

/* A flag given to a method that has no use for it. */
static qfd_status unused(qfd_ctx *ctx, const char *flag, const char *name, const char *why)
{
    return qfd_fail(ctx, QFD_ERR_ARG, "%s: --method %s %s", flag, name, why);
}

qfd_status qfd_method_parse(qfd_ctx *ctx, const qfd_quantize_opts *o, qfd_method *m)
{
    memset(m, 0, sizeof *m);
    const char *name = o->method ? o->method : QFD_DEFAULT_METHOD;
    size_t i = 0;
    while (i < sizeof k_methods / sizeof *k_methods && strcmp(k_methods[i].name, name))
        i++;
    if (i == sizeof k_methods / sizeof *k_methods)
        return qfd_fail(ctx, QFD_ERR_ARG, "--method %s: not one of ptq, lsq, kd, fd, qfd", name);
    m->kind = k_methods[i].kind;
    m->name = k_methods[i].name;
    m->train = m->kind != QFD_METHOD_PTQ;
    m->distill = m->kind >= QFD_METHOD_KD;
    const bool qfd = m->kind == QFD_METHOD_QFD, kd = m->kind == QFD_METHOD_KD;
    const char *no_distill = "has no distillation term (kd, fd and qfd have)";
    const char *no_stage1 = "has no teacher stage (qfd has)";
    if (!m->distill) {
        if (o->lambda > 0)
            return unused(ctx, "--lambda", name, no_distill);
        if (o->no_labels)
            return unused(ctx, "--no-labels", name, "trains with labels only (kd, fd and qfd can distil without)");
        if (o->teacher_path)
            return unused(ctx, "--teacher", name, no_distill);
    }
    if (o->temperature > 0 && !kd)
        return unused(ctx, "--temperature", name, "does not distil logits (kd does)");
    if (o->teacher_feature && !(m->distill && !kd))
        return unused(ctx, "--teacher-feature", name, "does not distil a feature (fd and qfd do)");
    if (!qfd) {
        if (o->teacher_bits > 0)
            return unused(ctx, "--teacher-bits", name, no_stage1);
        if (o->teacher_epochs)
            return unused(ctx, "--teacher-epochs", name, no_stage1);
        if (o->teacher_lr > 0)
            return unused(ctx, "--teacher-lr", name, no_stage1);
        if (o->save_teacher)
            return unused(ctx, "--save-teacher", name, no_stage1);
    }
    if (o->teacher_bits > 8)
        return qfd_fail(ctx, QFD_ERR_ARG, "--teacher-bits %d: must be 1 to 8", o->teacher_bits);
    m->no_labels = o->no_labels != 0;
    m->lambda = o->lambda > 0 ? o->lambda : QFD_DEFAULT_LAMBDA;
    m->temperature = o->temperature > 0 ? o->temperature : 1.0f;
    m->teacher_bits = o->teacher_bits > 0 ? o->teacher_bits : QFD_DEFAULT_TEACHER_BITS;
    m->teacher_epochs = o->teacher_epochs > 0   ? o->teacher_epochs
                        : o->teacher_epochs < 0 ? 0
                                                : QFD_DEFAULT_TEACHER_EPOCHS;
    m->teacher_lr = o->teacher_lr > 0 ? o->teacher_lr : QFD_DEFAULT_TEACHER_LR;
    return QFD_OK;
}

size_t qfd_method_losses(const qfd_method *m, const char *student, const char *teacher, float smoothing,
                         qfd_loss_term *terms)
{
    size_t n = 0;
    if (!m->no_labels)
        terms[n++] = (qfd_loss_term){QFD_LOSS_CE, NULL, NULL, 1.0f, smoothing, 1.0f};
    if (m->kind == QFD_METHOD_KD)
        terms[n++] = (qfd_loss_term){QFD_LOSS_KL, NULL, NULL, m->lambda, 0.0f, m->temperature};
    else if (m->distill)
        terms[n++] = (qfd_loss_term){QFD_LOSS_MSE, student, teacher, m->lambda, 0.0f, 1.0f};
    return n;
}

void qfd_method_config(const qfd_method *m, char *config, size_t cap)
{
    if (!m->distill)
        return;
    qfd_fit_config_add(config, cap, "--lambda", "%.7g", m->lambda);
    qfd_fit_config_add(config, cap, "--no-labels", "%.0f", m->no_labels);
    if (m->kind == QFD_METHOD_KD)
        qfd_fit_config_add(config, cap, "--temperature", "%.7g", m->temperature);
    if (m->kind == QFD_METHOD_QFD) {
        qfd_fit_config_add(config, cap, "--teacher-bits", "%.0f", m->teacher_bits);
        qfd_fit_config_add(config, cap, "--teacher-epochs", "%.0f", m->teacher_epochs);
        qfd_fit_config_add(config, cap, "--teacher-lr", "%.7g", m->teacher_lr);
    }
}
