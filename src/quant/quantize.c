/* qfd_model_quantize: prepare -> [teacher] -> calibrate -> [train] ->
 * export -> evaluate. Every check that can fail (options, model, teacher,
 * data, paths) runs before the first step; a resumed run rebuilds the same
 * fake-quant graph (the same plan and calibration from the same data) and
 * then takes every weight and step from the checkpoint. The methods' loss
 * terms are methods.c's, the teacher teacher.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/proc.h"
#include "data/dataset.h"
#include "io/io.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "passes/passes.h"
#include "quant/compare.h"
#include "quant/methods.h"
#include "quant/quant.h"
#include "quant/teacher.h"
#include "train/setup.h"

typedef struct run {
    qfd_quant_cfg cfg;
    bool format_given; /* else chosen from the plan (choose_format) */
    qfd_calib_kind calib;
    bool train;
    const char *method;
    qfd_method meth;
} run;

static qfd_status parse_opts(qfd_ctx *ctx, const qfd_quantize_opts *o, run *r)
{
    memset(r, 0, sizeof *r);
    qfd_status st = qfd_method_parse(ctx, o, &r->meth);
    if (st)
        return st;
    r->method = r->meth.name;
    r->train = r->meth.train;
    r->cfg.wbits = o->wbits > 0 ? o->wbits : 4;
    r->cfg.abits = o->abits > 0 ? o->abits : 4;
    if (r->cfg.wbits < 2 || r->cfg.wbits > 8 || r->cfg.abits < 2 || r->cfg.abits > 8)
        return qfd_fail(ctx, QFD_ERR_ARG, "bits must be 2 to 8 (got weights %d, activations %d)", r->cfg.wbits,
                        r->cfg.abits);
    const char *fl = o->first_last ? o->first_last : "8";
    if (!strcmp(fl, "8"))
        r->cfg.first_last = QFD_FIRST_LAST_8;
    else if (!strcmp(fl, "same"))
        r->cfg.first_last = QFD_FIRST_LAST_SAME;
    else if (!strcmp(fl, "fp"))
        r->cfg.first_last = QFD_FIRST_LAST_FP;
    else
        return qfd_fail(ctx, QFD_ERR_ARG, "--first-last %s: not one of 8, same, fp", fl);
    r->format_given = o->format != NULL;
    r->cfg.format = QFD_FORMAT_ORT;
    if (o->format && qfd_quant_format_parse(o->format, &r->cfg.format))
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "--format %s: not one of ort, int4, tensorrt", o->format);
    const char *cal = o->calib ? o->calib : "mse";
    if (!strcmp(cal, "mse"))
        r->calib = QFD_CALIB_MSE;
    else if (!strcmp(cal, "percentile"))
        r->calib = QFD_CALIB_PERCENTILE;
    else if (!strcmp(cal, "minmax"))
        r->calib = QFD_CALIB_MINMAX;
    else
        return qfd_fail(ctx, QFD_ERR_ARG, "--calib %s: not one of mse, percentile, minmax", cal);
    r->cfg.skip = o->skip;
    r->cfg.n_skip = o->n_skip;
    if (o->train.resume_dir && !r->train)
        return qfd_fail(ctx, QFD_ERR_ARG, "--resume: --method %s does not train", r->method);
    return QFD_OK;
}

/* The default format: int4 when a layer other than the first and last has
 * a tensor of 4 bits or fewer, as a W4A4 or W2A2 run gives; ort otherwise.
 * Then the model at the opset the format needs: for int4 (its Q/DQ types)
 * *work is made again from src upgraded to 21, before BatchNorm folding
 * (the upgrade checks what folding would hide, such as spatial=0), and so
 * is the plan; ort needs 13 (per-channel scales). */
static qfd_status choose_format(qfd_ctx *ctx, const qfd_model *src, qfd_model **work, run *rn, qfd_quant_plan *plan,
                                int *folded, qfd_fold_factors *ff)
{
    if (!rn->format_given) {
        for (size_t i = 1; i + 1 < plan->n_layers; i++) {
            const qfd_qlayer *L = &plan->layers[i];
            if (L->wbits && (L->wbits <= 4 || L->abits <= 4))
                rn->cfg.format = QFD_FORMAT_INT4;
        }
    }
    if (rn->cfg.format != QFD_FORMAT_INT4) {
        if (qfd_model_opset(src, "") >= 13)
            return QFD_OK;
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                        "%s: the model imports ONNX opset %lld; the %s export needs opset 13 or later "
                        "(per-channel scales; --format int4 upgrades the model to 21)",
                        src->path ? src->path : "model", (long long)qfd_model_opset(src, ""),
                        qfd_quant_format_name(rn->cfg.format));
    }
    qfd_quant_plan_free(plan);
    qfd_model_free(*work);
    *work = NULL;
    qfd_status st = qfd_onnx_clone(ctx, src, work);
    if (!st && (st = qfd_pass_upgrade_opset(ctx, *work, 21)) && src->path)
        qfd_ctx_prefix(ctx, src->path);
    qfd_fold_factors_free(ff);
    if (!st)
        st = qfd_pass_fold_bn_factors(ctx, *work, folded, ff);
    return st ? st : qfd_quant_plan_make(ctx, *work, &rn->cfg, plan);
}

/* The first n images of ds that decode, normalized as the model expects
 * (*n lowered when images were skipped, counted in *skipped). They are held
 * together, so the calibration set, not the dataset, bounds the memory. */
static qfd_status calib_images(qfd_ctx *ctx, const qfd_dataset *ds, int64_t *n, int n_norm, const float *mean,
                               const float *std, int n_threads, float **x, int64_t *skipped)
{
    int64_t per = ds->n ? qfd_array_numel(&ds->x) / ds->n : 0, next;
    const uint64_t bytes = (uint64_t)*n * (uint64_t)per * sizeof **x;
    if (qfd_over_memory_limit(ctx, bytes)) {
        char b[32];
        return qfd_fail(ctx, QFD_ERR_LIMIT, "%lld calibration images take %s: lower --calib-images", (long long)*n,
                        qfd_format_bytes(b, bytes));
    }
    if (!(*x = malloc((size_t)bytes + 1)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return qfd_dataset_read(ctx, ds, 0, *n, n_norm, mean, std, n_threads, *x, NULL, n, &next, skipped);
}

/* Parameter groups of a fake-quant student: weights, biases and norms,
 * steps, and the frozen steps of 8-bit weights (their LSQ gradient is
 * multiplied by qmax = 127 at the clip boundary: see qfd-method.md). */
static int student_group(void *user, const qfd_model *m, int t, qfd_param_role role)
{
    const bool *frozen = user;
    (void)m;
    if (role == QFD_ROLE_STEP)
        return frozen[t] ? 3 : 2;
    return role == QFD_ROLE_WEIGHT ? 0 : 1;
}

/* The fold factors s become the gradient factors s^2, in place (they can
 * be as large as the weights, and nothing reads s after this). */
static void to_preconditioner(qfd_fold_factors *ff)
{
    for (size_t i = 0; i < ff->n; i++)
        for (int64_t k = 0; k < ff->f[i].n; k++)
            ff->f[i].s[k] *= ff->f[i].s[k];
}

/* A folded weight's gradient factor: s^2 per element, once
 * to_preconditioner has run (qfd_pass_fold_bn_factors gives s). */
static const float *fold_precond(void *user, const qfd_model *m, int t)
{
    const qfd_fold_factors *ff = user;
    for (size_t i = 0; i < ff->n; i++)
        if (!strcmp(ff->f[i].weight, m->graph.tensors[t].name) && ff->f[i].n == qfd_tensor_numel(&m->graph.tensors[t]))
            return ff->f[i].s;
    return NULL;
}

/* Where each step of the student may train, per tensor (the step's).
 * max: the largest value, NaN where none. The step of an activation made
 * by Clip(0, hi) (Relu6) stays at or below hi / qmax, as calibration left
 * it (calibrate.c): the quantizer then saturates where the Clip does, so
 * the export drops that Clip and ONNX Runtime fuses the layer into its
 * integer kernels. A step trained just past the bound (6.00005 / 255 at 8
 * bits) left a Clip that ONNX Runtime 1.30 fails to load the file over
 * ("two nodes with same node name"), and further past it a layer it runs
 * in float.
 * floor: per element, QFD_QUANT_STEP_FLOOR of the calibrated step (NULL
 * where none). Steps of weight channels that round to zero keep shrinking
 * under LSQ's gradient: at step lr 1e-2 one reached 0 on ResNet-20 W2A2,
 * and an int32 bias grid (the weight step times the input's) that fine no
 * longer holds the bias. Taken from the plan, not the model, so that a
 * resumed run has the same floors. */
typedef struct step_limits {
    float *max;
    const float **floor;
    float *floors; /* what floor points into */
} step_limits;

static void step_limits_free(step_limits *l)
{
    free(l->max);
    free(l->floor);
    free(l->floors);
}

static int step_limits_init(step_limits *l, const qfd_model *student, const qfd_quant_plan *plan)
{
    const qfd_graph *g = &student->graph;
    size_t n_floors = 0;
    for (size_t k = 0; k < plan->n_q; k++)
        n_floors += (size_t)plan->q[k].n_step;
    l->max = malloc((g->n_tensors + 1) * sizeof *l->max);
    l->floor = calloc(g->n_tensors + 1, sizeof *l->floor);
    l->floors = malloc((n_floors + 1) * sizeof *l->floors);
    if (!l->max || !l->floor || !l->floors) {
        step_limits_free(l);
        return -1;
    }
    for (size_t t = 0; t < g->n_tensors; t++)
        l->max[t] = NAN;
    size_t used = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!n->domain || strcmp(n->domain, QFD_FQ_DOMAIN) || strcmp(n->op_type, QFD_FQ_OP) || n->n_in < 2)
            continue;
        const int s = n->in[1];
        for (size_t k = 0; k < plan->n_q; k++) {
            const qfd_qtensor *q = &plan->q[k];
            if (q->bias || q->tensor != n->in[0])
                continue;
            if (!q->weight && isfinite(q->clip_hi) && q->qmax > 0)
                l->max[s] = q->clip_hi / (float)q->qmax;
            if (!l->floor[s] && q->n_step == qfd_tensor_numel(&g->tensors[s])) {
                for (int64_t c = 0; c < q->n_step; c++)
                    l->floors[used + (size_t)c] = q->step[c] * QFD_QUANT_STEP_FLOOR;
                l->floor[s] = &l->floors[used];
                used += (size_t)q->n_step;
            }
        }
    }
    return 0;
}

static void step_bound(void *user, const qfd_model *m, int t, const float **max, const float **min)
{
    const step_limits *l = user;
    (void)m;
    *max = isnan(l->max[t]) ? NULL : &l->max[t];
    *min = l->floor[t];
}

float qfd_quant_default_lr_steps(int wbits, int abits)
{
    const int w = wbits > 0 ? wbits : 4, a = abits > 0 ? abits : 4;
    return w <= 2 || a <= 2 ? QFD_QUANT_LR_STEPS_2BIT : QFD_QUANT_LR_STEPS;
}

static void config_str(char *config, size_t cap, const char *flag, const char *v)
{
    size_t n = strlen(config);
    snprintf(config + n, cap - n, "%s=%s\n", flag, v ? v : "");
}

static qfd_status train_student(qfd_ctx *ctx, const qfd_model *src, qfd_model *student, const qfd_dataset *ds,
                                const qfd_quantize_opts *o, const run *rn, const qfd_fold_factors *ff,
                                const qfd_quant_plan *plan, const qfd_teacher *teacher, qfd_quantize_result *r)
{
    qfd_train_opts to = o->train;
    if (teacher && teacher->resume_stage1)
        to.resume_dir = NULL; /* the checkpoint holds the teacher: the student starts afresh */
    to.epochs = to.epochs > 0 ? to.epochs : 2;
    to.lr = to.lr > 0 ? to.lr : 0.004f;
    if (!to.optimizer)
        to.nesterov = 1;
    qfd_fit_opts f;
    char config[4096];
    qfd_status st = qfd_fit_opts_from_train(ctx, student, &to, ds->n, &f, config, sizeof config);
    if (st)
        return st;
    const qfd_graph *g = &student->graph;
    bool *frozen = calloc(g->n_tensors + 1, sizeof *frozen);
    step_limits limits = {0};
    if (!frozen || step_limits_init(&limits, student, plan)) {
        free(frozen);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!strcmp(n->op_type, QFD_FQ_OP) && qfd_attr_int(n, "bits", 0) >= 8 && qfd_graph_float_init(g, n->in[0], -1))
            frozen[n->in[1]] = true;
    }
    float lr_steps = o->lr_steps > 0 ? o->lr_steps : qfd_quant_default_lr_steps(o->wbits, o->abits);
    qfd_param_group groups[4] = {{f.trainer.lr, f.trainer.weight_decay, false},
                                 {f.trainer.lr, 0.0f, false},
                                 {lr_steps, 0.0f, false},
                                 {0.0f, 0.0f, true}};
    qfd_loss_term terms[2];
    f.trainer.groups = groups;
    f.trainer.n_groups = 4;
    f.trainer.group_of = student_group;
    f.trainer.group_user = frozen;
    f.trainer.precond_of = fold_precond;
    f.trainer.precond_user = (void *)ff;
    f.trainer.bound_of = step_bound;
    f.trainer.bound_user = &limits;
    f.trainer.losses = terms;
    f.trainer.n_losses = qfd_method_losses(&rn->meth, r->feature, teacher ? teacher->target : NULL, to.label_smoothing,
                                           terms);
    f.trainer.teacher = teacher ? teacher->frozen : NULL;
    f.trainer.inference_mode = true; /* BatchNorms left unfolded keep their statistics; Dropout off */
    char num[64];
    snprintf(num, sizeof num, "%d", rn->cfg.wbits);
    config_str(config, sizeof config, "--wbits", num);
    snprintf(num, sizeof num, "%d", rn->cfg.abits);
    config_str(config, sizeof config, "--abits", num);
    config_str(config, sizeof config, "--method", rn->method);
    config_str(config, sizeof config, "--first-last", o->first_last ? o->first_last : "8");
    config_str(config, sizeof config, "--format", qfd_quant_format_name(rn->cfg.format));
    config_str(config, sizeof config, "--calib", o->calib ? o->calib : "mse");
    qfd_fit_config_add(config, sizeof config, "--calib-images", "%.0f",
                       (double)(o->calib_images > 0 ? o->calib_images : 2048));
    qfd_fit_config_add(config, sizeof config, "--lr-steps", "%.7g", lr_steps);
    for (size_t i = 0; i < o->n_skip; i++)
        config_str(config, sizeof config, "--skip", o->skip[i]);
    qfd_method_config(&rn->meth, config, sizeof config);
    if (teacher) {
        char hash[32];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)qfd_teacher_hash(teacher));
        config_str(config, sizeof config, "--feature", r->feature);
        config_str(config, sizeof config, "teacher weights (--teacher)", hash);
    }
    char stage[64];
    snprintf(stage, sizeof stage, "training (%s)", rn->method);
    f.meta.source = qfd_graph_fingerprint(&src->graph);
    f.meta.stage = stage;
    st = qfd_fit(ctx, student, ds, &f, &r->train);
    free(frozen);
    step_limits_free(&limits);
    return st;
}

static qfd_status fill_layers(qfd_ctx *ctx, const qfd_quant_plan *plan, qfd_quantize_result *r)
{
    if (!(r->layers = calloc(plan->n_layers + 1, sizeof *r->layers)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < plan->n_layers; i++) {
        qfd_quantize_layer *L = &r->layers[r->n_layers++];
        if (!(L->name = strdup(plan->layers[i].name)))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        L->op = plan->layers[i].op;
        L->wbits = plan->layers[i].wbits;
        L->abits = plan->layers[i].abits;
    }
    return QFD_OK;
}

/* Quantizers as trained: read back from the student's FakeQuant nodes. */
static qfd_status fill_tensors(qfd_ctx *ctx, const qfd_model *student, qfd_quantize_result *r)
{
    const qfd_graph *g = &student->graph;
    if (!(r->tensors = calloc(g->n_nodes + 1, sizeof *r->tensors)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        if (strcmp(n->op_type, QFD_FQ_OP))
            continue;
        qfd_quantize_tensor *q = &r->tensors[r->n_tensors++];
        const qfd_tensor *s = &g->tensors[n->in[1]];
        const float *sv = s->data;
        if (!(q->name = strdup(g->tensors[n->in[0]].name)))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        q->bits = (int)qfd_attr_int(n, "bits", 8);
        q->qmin = qfd_attr_int(n, "qmin", 0);
        q->qmax = qfd_attr_int(n, "qmax", 0);
        q->is_signed = q->qmin < 0;
        q->weight = qfd_graph_float_init(g, n->in[0], -1) != NULL;
        q->n_step = qfd_tensor_numel(s);
        q->step_min = q->step_max = sv[0];
        for (int64_t k = 1; k < q->n_step; k++) {
            q->step_min = fminf(q->step_min, sv[k]);
            q->step_max = fmaxf(q->step_max, sv[k]);
        }
        if (!q->weight && q->bits < 8)
            r->float_groups++;
    }
    return QFD_OK;
}

static qfd_status tag(qfd_ctx *ctx, qfd_model *out, const run *rn, const qfd_quantize_result *r)
{
    char buf[256];
    size_t cap = 64;
    for (size_t i = 0; i < r->n_layers; i++)
        cap += strlen(r->layers[i].name) + 16;
    char *bits = malloc(cap), *fl = malloc(cap);
    if (!bits || !fl) {
        free(bits), free(fl);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    bits[0] = fl[0] = 0;
    for (size_t i = 0; i < r->n_layers; i++) {
        const qfd_quantize_layer *L = &r->layers[i];
        char *dst = L->wbits ? bits : fl;
        size_t n = strlen(dst);
        if (L->wbits)
            snprintf(dst + n, cap - n, "%s%s=w%da%d", n ? "," : "", L->name, L->wbits, L->abits);
        else
            snprintf(dst + n, cap - n, "%s%s", n ? "," : "", L->name);
    }
    int bad = qfd_model_set_metadata(out, QFD_META_BITS, bits) || qfd_model_set_metadata(out, QFD_META_FLOAT, fl) ||
              qfd_model_set_metadata(out, "qfd.quant.method", rn->method) ||
              qfd_model_set_metadata(out, QFD_META_FORMAT, qfd_quant_format_name(rn->cfg.format));
    snprintf(buf, sizeof buf, "fp32 %.4f, student %.4f, exported %.4f on %lld test images", r->fp32_top1,
             r->student_top1, r->exported_top1, (long long)r->n_test);
    bad |= qfd_model_set_metadata(out, "qfd.quant.accuracy", buf);
    free(bits), free(fl);
    return bad ? qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory") : QFD_OK;
}

/* The feature fd and qfd distil must survive BatchNorm folding in the
 * student (a Conv's output that a BatchNormalization reads is folded away). */
static qfd_status student_feature(qfd_ctx *ctx, const qfd_model *work, const char *name, qfd_method_kind kind)
{
    if (kind == QFD_METHOD_KD || !name)
        return QFD_OK; /* kd reads the logits; a missing feature is the teacher setup's to report */
    int f = qfd_graph_find(&work->graph, name);
    if (f >= 0 && (work->graph.tensors[f].producer >= 0 || (work->graph.tensors[f].flags & QFD_T_INPUT)))
        return QFD_OK;
    return qfd_fail(ctx, QFD_ERR_ARG,
                    "--feature %s: a BatchNormalization's input, folded into its Conv: name the BatchNormalization's "
                    "output instead",
                    name);
}

/* "cross-entropy + 1 * MSE(feature, teacher's quantized feature)", for the stage line. */
static void loss_text(const qfd_method *m, char *buf, size_t cap)
{
    const char *ce = m->no_labels ? "" : "cross-entropy + ";
    if (m->kind == QFD_METHOD_KD)
        snprintf(buf, cap, "%s%g * T^2 * KL(teacher's || student's logits at T = %g)", ce, (double)m->lambda,
                 (double)m->temperature);
    else if (m->distill)
        snprintf(buf, cap, "%s%g * MSE(feature, teacher's %sfeature)", ce, (double)m->lambda,
                 m->kind == QFD_METHOD_QFD ? "quantized " : "");
    else
        snprintf(buf, cap, "cross-entropy");
}

qfd_status qfd_model_quantize(qfd_ctx *ctx, const qfd_model *src, const qfd_quantize_opts *o, qfd_model **out,
                              qfd_quantize_result *r)
{
    memset(r, 0, sizeof *r);
    *out = NULL;
    run rn;
    qfd_model *work = NULL, *exported = NULL;
    qfd_dataset ds = {0};
    qfd_quant_plan plan = {0};
    qfd_fold_factors ff = {0};
    qfd_teacher teacher = {0};
    float *cx = NULL;
    qfd_status st = parse_opts(ctx, o, &rn);
    const int stages = 4 + rn.train + rn.meth.distill;
    int stage = 0;
    char what[1024];
    double t = qfd_now();
#define STAGE(...)                                          \
    do {                                                    \
        snprintf(what, sizeof what, __VA_ARGS__);           \
        if (o->stage)                                       \
            o->stage(o->train.user, ++stage, stages, what); \
    } while (0)
    if (st)
        return st;
    r->method = rn.method;
    if (o->train.resume_dir && !qfd_checkpoint_exists(o->train.resume_dir))
        return qfd_fail(ctx, QFD_ERR_IO, "--resume %s: no checkpoint there (%s/checkpoint.bin)", o->train.resume_dir,
                        o->train.resume_dir);
    int feature = -1;
    if (o->feature && (st = qfd_pass_find_feature(ctx, src, o->feature, &feature)))
        return st;
    if (!o->feature && qfd_pass_find_feature(ctx, src, NULL, &feature) != QFD_OK)
        feature = -1; /* ptq and lsq do not need it; the distilling methods will refuse */
    if (feature >= 0 && !(r->feature = strdup(src->graph.tensors[feature].name)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if ((o->train.checkpoint_dir && (st = qfd_fit_dir_check(ctx, o->train.checkpoint_dir))) ||
        (st = qfd_onnx_clone(ctx, src, &work)) || (st = qfd_pass_fold_bn_factors(ctx, work, &r->folded_bn, &ff)) ||
        (st = qfd_quant_plan_make(ctx, work, &rn.cfg, &plan)) ||
        (st = choose_format(ctx, src, &work, &rn, &plan, &r->folded_bn, &ff)) || (st = fill_layers(ctx, &plan, r)))
        goto out;
    r->format = qfd_quant_format_name(rn.cfg.format);

    /* data, checked whole before any work */
    int n_norm;
    float mean[4], std[4];
    const char *norm_source;
    qfd_train_opts checks = o->train;
    checks.check_test = 1;
    /* calibration needs no labels, nor does distillation with --no-labels:
     * a folder of images without classes serves them */
    const bool labels_optional = rn.meth.no_labels || !rn.train;
    if ((st = qfd_model_normalization(ctx, src, o->train.n_mean, o->train.mean, o->train.n_std, o->train.std, &n_norm,
                                      mean, std, &norm_source)) ||
        (st = qfd_dataset_open(ctx, o->train.data, &o->train.image, src, QFD_SPLIT_TRAIN, o->train.limit,
                               labels_optional, &ds)) ||
        (st = qfd_fit_check_data(ctx, src, &checks, &ds)))
        goto out;
    if (rn.meth.distill &&
        ((st = student_feature(ctx, work, r->feature, rn.meth.kind)) ||
         (st = qfd_teacher_setup(ctx, src, r->feature, o, &rn.meth, &ds, n_norm, mean, std, &teacher))))
        goto out;
    int n_w = 0, n_a = 0, n_b = 0;
    for (size_t i = 0; i < plan.n_q; i++)
        plan.q[i].weight ? n_w++ : plan.q[i].bias ? n_b++ : n_a++;
    int n_quant = 0;
    for (size_t i = 0; i < plan.n_layers; i++)
        n_quant += plan.layers[i].wbits > 0;
    STAGE("prepared: %d BatchNormalization folded; %d of %zu layers quantized (W%dA%d, first/last %s); %d weight, "
          "%d activation and %d int32 bias quantizers",
          r->folded_bn, n_quant, plan.n_layers, rn.cfg.wbits, rn.cfg.abits, o->first_last ? o->first_last : "8", n_w,
          n_a, n_b);
    r->seconds_prepare = qfd_now() - t;
    int64_t nc = o->calib_images > 0 ? o->calib_images : 2048;
    nc = nc < ds.n ? nc : ds.n;
    if ((st = calib_images(ctx, &ds, &nc, n_norm, mean, std, o->train.n_threads, &cx, &r->skipped_train)))
        goto out;
    qfd_calib_opts co = {rn.calib, cx, nc, &ds.x, 64, o->train.n_threads, o->calib_progress, o->train.user};

    if (rn.meth.distill) {
        t = qfd_now();
        STAGE("%s", teacher.plan);
        st = qfd_teacher_make(ctx, &teacher, o, &rn.meth, &ds, &co, r);
        r->train.checkpointed = r->teacher_train.checkpointed; /* for the message of a failed stage 1 */
        if (st)
            goto out;
        r->seconds_teacher = qfd_now() - t;
        if ((r->train.stopped = r->teacher_train.stopped))
            goto out;
    }

    t = qfd_now();
    STAGE("calibrating on %lld training images (%s)", (long long)nc, o->calib ? o->calib : "mse");
    if ((st = qfd_quant_calibrate(ctx, work, &plan, &co)) || (st = qfd_quant_insert(ctx, work, &plan)))
        goto out;
    r->seconds_calibrate = qfd_now() - t;

    if (rn.train) {
        t = qfd_now();
        int epochs = o->train.epochs > 0 ? o->train.epochs : 2;
        char terms[128];
        loss_text(&rn.meth, terms, sizeof terms);
        STAGE("training (%s): %d epoch%s of %s%s", rn.method, epochs, epochs == 1 ? "" : "s", terms,
              teacher.resume_student ? ", resumed" : "");
        to_preconditioner(&ff);
        if ((st = train_student(ctx, src, work, &ds, o, &rn, &ff, &plan, rn.meth.distill ? &teacher : NULL, r)))
            goto out;
        r->seconds_train = qfd_now() - t;
        if (r->train.stopped)
            goto out;
    }
    qfd_dataset_free(&ds);
    if (o->student_path && (st = qfd_model_save(ctx, work, o->student_path)))
        goto out;

    t = qfd_now();
    STAGE("exporting QDQ (format %s)", r->format);
    if ((st = qfd_quant_export(ctx, work, rn.cfg.format, &exported)) || (st = fill_tensors(ctx, work, r)))
        goto out;
    r->seconds_export = qfd_now() - t;

    t = qfd_now();
    qfd_compare_opts cmp = {.data = o->train.data,
                            .limit = o->eval_limit,
                            .batch = 100,
                            .n_threads = o->train.n_threads,
                            .n_norm = n_norm,
                            .a = 1,
                            .b = 2,
                            .image = &o->train.image,
                            .labels_optional = labels_optional};
    memcpy(cmp.mean, mean, sizeof mean);
    memcpy(cmp.std, std, sizeof std);
    /* The teacher of kd and fd, unless given as a file, is the FP32 model. */
    const bool eval_teacher = teacher.m && (teacher.stage1 || o->teacher_path || teacher.saved);
    STAGE("evaluating FP32, %sstudent and exported models on the test split", eval_teacher ? "teacher, " : "");
    const qfd_model *models[4] = {src, work, exported, teacher.m};
    qfd_compare_result cr;
    if ((st = qfd_quant_compare(ctx, models, eval_teacher ? 4 : 3, &cmp, &cr)))
        goto out;
    r->n_test = cr.n;
    r->test_labeled = cr.labeled;
    r->skipped_test = cr.skipped;
    if (r->teacher_train.skipped > r->skipped_train)
        r->skipped_train = r->teacher_train.skipped;
    if (r->train.skipped > r->skipped_train)
        r->skipped_train = r->train.skipped;
    r->fp32_top1 = cr.top1[0];
    r->student_top1 = cr.top1[1];
    r->exported_top1 = cr.top1[2];
    r->teacher_top1 = !teacher.m ? NAN : eval_teacher ? cr.top1[3] : cr.top1[0];
    r->agreement = cr.agreement;
    r->max_logit_diff = cr.max_logit_diff;
    r->seconds_evaluate = qfd_now() - t;
    if ((st = tag(ctx, exported, &rn, r)) ||
        (!strcmp(norm_source, "flags") && (st = qfd_model_record_normalization(ctx, exported, n_norm, mean, std))))
        goto out;
    *out = exported;
    exported = NULL;
#undef STAGE
out:
    free(cx);
    qfd_fold_factors_free(&ff);
    qfd_quant_plan_free(&plan);
    qfd_dataset_free(&ds);
    qfd_model_free(work);
    qfd_model_free(exported);
    qfd_teacher_free(&teacher);
    return st;
}

void qfd_quantize_result_free(qfd_quantize_result *r)
{
    free(r->feature);
    free(r->teacher_source);
    free(r->teacher_feature);
    for (size_t i = 0; i < r->n_layers; i++)
        free(r->layers[i].name);
    for (size_t i = 0; i < r->n_tensors; i++)
        free(r->tensors[i].name);
    free(r->layers);
    free(r->tensors);
    memset(r, 0, sizeof *r);
}
