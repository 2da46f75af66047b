/* Stage 1 of qfd: the teacher, its feature quantized, fine-tuned with
 * cross-entropy over the shared epoch loop, so that its quantizer's step
 * and the layers around it adapt. Same data, batch, seed, augmentation and
 * optimizer as the student; its own epochs and learning rate; BatchNorm
 * folded (frozen statistics, as the student); the step in its own group
 * at --lr-steps. Checkpoints record the stage, so a resume knows which
 * model the saved weights belong to. */
#include <stdio.h>
#include <string.h>

#include "core/ctx.h"
#include "quant/teacher.h"
#include "train/setup.h"

/* The line "from=value" of config becomes "to=value": the epoch loop
 * names its options as `train` does, and a resume that changes the
 * teacher's should name the teacher's flag. */
static void rename_key(char *config, size_t cap, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), len = strlen(config);
    for (char *line = config; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, from, nf) || line[nf] != '=')
            continue;
        if (len + nt - nf >= cap)
            return;
        memmove(line + nt, line + nf, strlen(line + nf) + 1);
        memcpy(line, to, nt);
        return;
    }
}

qfd_status qfd_teacher_train(qfd_ctx *ctx, qfd_teacher *t, const qfd_quantize_opts *o, const qfd_method *m,
                             const qfd_dataset *ds, qfd_train_result *r)
{
    qfd_train_opts to = o->train;
    to.epochs = m->teacher_epochs;
    to.lr = m->teacher_lr;
    if (!to.optimizer)
        to.nesterov = 1;
    to.resume_dir = t->resume_stage1 ? o->train.resume_dir : NULL;
    qfd_fit_opts f;
    char config[4096];
    qfd_status st = qfd_fit_opts_from_train(ctx, t->m, &to, ds->n, &f, config, sizeof config);
    if (st)
        return st;
    rename_key(config, sizeof config, "--epochs", "--teacher-epochs");
    rename_key(config, sizeof config, "--lr", "--teacher-lr");
    const float lr_steps = o->lr_steps > 0 ? o->lr_steps : QFD_QUANT_LR_STEPS;
    qfd_fit_config_add(config, sizeof config, "--teacher-bits", "%.0f", t->bits);
    qfd_fit_config_add(config, sizeof config, "--lr-steps", "%.7g", lr_steps);
    qfd_fit_config_add(config, sizeof config, "--calib-images", "%.0f",
                       (double)(o->calib_images > 0 ? o->calib_images : 2048));
    size_t n = strlen(config);
    snprintf(config + n, sizeof config - n, "--calib=%s\n--teacher-feature=%s\n", o->calib ? o->calib : "mse",
             t->feature);
    qfd_param_group groups[3] = {
        {f.trainer.lr, f.trainer.weight_decay, false}, {f.trainer.lr, 0.0f, false}, {lr_steps, 0.0f, false}};
    qfd_loss_term ce = {QFD_LOSS_CE, NULL, NULL, 1.0f, o->train.label_smoothing, 1.0f};
    f.trainer.groups = groups;
    f.trainer.n_groups = 3;
    f.trainer.losses = &ce;
    f.trainer.n_losses = 1;
    f.trainer.inference_mode = true;
    f.phase = "teacher";
    f.meta.stage = QFD_STAGE_TEACHER;
    return qfd_fit(ctx, t->m, ds, &f, r);
}
