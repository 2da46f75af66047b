/* The teacher: where it comes from, its feature quantizer (qfd), the checks
 * against the student, and the frozen copy the student's trainer runs. */
#include "quant/teacher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"
#include "io/io.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "passes/passes.h"
#include "train/checkpoint.h"

#define META_FEATURE "qfd.teacher.feature"
#define META_QUANTIZED "qfd.teacher.quantized"
#define META_BITS "qfd.teacher.bits"
#define BQ_OP "BinaryQuant"

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool is_qfd_node(const qfd_node *n, const char *op)
{
    return n->domain && !strcmp(n->domain, QFD_FQ_DOMAIN) && !strcmp(n->op_type, op);
}

/* A file written by --save-teacher: its metadata names the feature and the
 * quantizer's output, which a FakeQuant or BinaryQuant of the feature must
 * produce. */
static qfd_status read_saved(qfd_ctx *ctx, qfd_teacher *t)
{
    const char *f = qfd_model_metadata(t->m, META_FEATURE), *q = qfd_model_metadata(t->m, META_QUANTIZED);
    if (!f && !q)
        return QFD_OK;
    const qfd_graph *g = &t->m->graph;
    int ft = f ? qfd_graph_find(g, f) : -1, qt = q ? qfd_graph_find(g, q) : -1;
    const qfd_node *n = qt >= 0 && g->tensors[qt].producer >= 0 ? &g->nodes[g->tensors[qt].producer] : NULL;
    bool fq = n && is_qfd_node(n, QFD_FQ_OP), bq = n && is_qfd_node(n, BQ_OP);
    if (ft < 0 || !(fq || bq) || n->n_in < 2 || n->in[0] != ft || !qfd_graph_float_init(g, n->in[1], 1))
        return qfd_fail(ctx, QFD_ERR_INVALID,
                        "%s: its %s and %s metadata do not name a feature and its quantizer: not a teacher written "
                        "by --save-teacher",
                        t->source, META_FEATURE, META_QUANTIZED);
    if (!(t->feature = strdup(f)) || !(t->target = strdup(q)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    t->saved = true;
    t->step = qfd_graph_float_init(g, n->in[1], 1)[0];
    t->bits = bq ? 1 : (int)qfd_attr_int(n, "bits", 0);
    t->is_signed = bq || qfd_attr_int(n, "qmin", 0) < 0;
    return QFD_OK;
}

/* The teacher's normalization must be the student's: both read one batch. */
static qfd_status same_normalization(qfd_ctx *ctx, const qfd_teacher *t, int n_norm, const float *mean,
                                     const float *std)
{
    int n;
    float tm[4], ts[4];
    const char *source;
    qfd_status st = qfd_model_normalization(ctx, t->m, 0, NULL, 0, NULL, &n, tm, ts, &source);
    if (st) {
        qfd_ctx_prefix(ctx, t->source);
        return st;
    }
    bool same = n == n_norm;
    for (int c = 0; same && c < n; c++)
        same = tm[c] == mean[c] && ts[c] == std[c];
    if (strcmp(source, "metadata") || same)
        return QFD_OK;
    return qfd_fail(ctx, QFD_ERR_ARG,
                    "%s: normalizes its inputs with mean %g, std %g (qfd.mean/qfd.std), the student with mean %g, "
                    "std %g: both read the same batch",
                    t->source, (double)tm[0], (double)ts[0], n_norm ? (double)mean[0] : 0.0,
                    n_norm ? (double)std[0] : 1.0);
}

/* The shape of tensor `name` (NULL: the first output) of m planned for one
 * example of ds, as text "[1,64]"; *rank < 0 when unknown. */
static qfd_status shape_of(qfd_ctx *ctx, const qfd_model *m, const char *name, const qfd_dataset *ds, int n_threads,
                           char *text, size_t cap)
{
    qfd_exec *e = NULL;
    qfd_status st = qfd_exec_new(ctx, m, n_threads, &e);
    qfd_array one = ds->x;
    one.dims[0] = 1;
    one.nbytes = ds->n ? ds->x.nbytes / (size_t)ds->n : 0;
    if (!st)
        st = qfd_exec_prepare(ctx, e, &one, 1);
    if (!st) {
        int t = name ? qfd_graph_find(&m->graph, name) : qfd_exec_output_tensor(e, 0);
        const qfd_array *v = t >= 0 ? qfd_exec_value(e, t) : NULL;
        size_t n = (size_t)snprintf(text, cap, "[");
        for (int d = 0; v && d < v->rank && n < cap; d++)
            n += (size_t)snprintf(text + n, cap - n, "%s%lld", d ? "," : "", (long long)v->dims[d]);
        if (n < cap)
            snprintf(text + n, cap - n, "]");
    }
    qfd_exec_free(e);
    return st;
}

/* The compared tensors of student and teacher have one shape. */
static qfd_status check_shapes(qfd_ctx *ctx, const qfd_model *src, const char *student, const qfd_teacher *t,
                               const qfd_method *m, const qfd_dataset *ds, int n_threads)
{
    char a[256], b[256];
    const bool kd = m->kind == QFD_METHOD_KD;
    qfd_status st = shape_of(ctx, src, kd ? NULL : student, ds, n_threads, a, sizeof a);
    if (st) {
        qfd_ctx_prefix(ctx, src->path ? src->path : "the model");
        return st;
    }
    if ((st = shape_of(ctx, t->m, kd ? NULL : t->feature, ds, n_threads, b, sizeof b))) {
        qfd_ctx_prefix(ctx, t->source);
        return st;
    }
    if (!strcmp(a, b))
        return QFD_OK;
    if (kd)
        return qfd_fail(ctx, QFD_ERR_ARG,
                        "%s: its logits are %s for one image, the student's %s: kd needs one class list", t->source, b,
                        a);
    return qfd_fail(ctx, QFD_ERR_ARG,
                    "%s: its feature '%s' is %s for one image, the student's '%s' is %s: the shapes must match "
                    "(choose them with --feature and --teacher-feature)",
                    t->source, t->feature, b, student, a);
}

/* The teacher's feature (fd, qfd): --teacher-feature, else the student's
 * name when the teacher has it (the same model, or a sibling export), else
 * the teacher's own classifier feature. */
static qfd_status pick_feature(qfd_ctx *ctx, qfd_teacher *t, const char *student, const char *flag)
{
    const char *name = flag ? flag : qfd_graph_find(&t->m->graph, student) >= 0 ? student : NULL;
    int f;
    if (flag && qfd_graph_find(&t->m->graph, flag) < 0)
        return qfd_fail(ctx, QFD_ERR_ARG, "--teacher-feature %s: %s has no tensor of that name", flag, t->source);
    qfd_status st = qfd_pass_find_feature(ctx, t->m, name, &f);
    if (st) {
        qfd_ctx_prefix(ctx, t->source);
        return st;
    }
    return (t->feature = strdup(t->m->graph.tensors[f].name)) ? QFD_OK : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
}

/* Where --resume stands: stage 1 or the student's training, refusing a
 * checkpoint of another method. */
static qfd_status resume_stage(qfd_ctx *ctx, const char *dir, const qfd_method *m, qfd_teacher *t)
{
    char *stage = NULL, want[64];
    qfd_status st = qfd_checkpoint_stage(ctx, dir, &stage);
    if (st)
        return st;
    snprintf(want, sizeof want, "training (%s)", m->name);
    if (m->kind == QFD_METHOD_QFD && !strcmp(stage, QFD_STAGE_TEACHER))
        t->resume_stage1 = true;
    else if (!strcmp(stage, want))
        t->resume_student = true;
    else
        st = qfd_fail(ctx, QFD_ERR_ARG, "--resume %s: the checkpoint was saved in stage '%s', not by a --method %s run",
                      dir, stage, m->name);
    free(stage);
    return st;
}

/* A saved teacher's quantizer and stage 1 are fixed: flags that would
 * change them are refused. */
static qfd_status saved_flags(qfd_ctx *ctx, const qfd_teacher *t, const qfd_quantize_opts *o)
{
    const char *flag = o->teacher_bits > 0  ? "--teacher-bits"
                       : o->teacher_epochs  ? "--teacher-epochs"
                       : o->teacher_lr > 0  ? "--teacher-lr"
                       : o->teacher_feature ? "--teacher-feature"
                       : o->save_teacher    ? "--save-teacher"
                                            : NULL;
    if (!flag)
        return QFD_OK;
    return qfd_fail(ctx, QFD_ERR_ARG,
                    "%s: %s is a trained teacher (written by --save-teacher, %d-bit quantizer on '%s'): stage 1 is "
                    "skipped",
                    flag, t->source, t->bits, t->feature);
}

static qfd_status describe(qfd_ctx *ctx, qfd_teacher *t, const qfd_method *m, const char *resume_dir)
{
    char buf[1024];
    char kind[32];
    if (t->bits == 1)
        snprintf(kind, sizeof kind, "binary (%s)", t->is_signed ? "+-s" : "{0, s}");
    else
        snprintf(kind, sizeof kind, "%d-bit %s", t->bits, t->is_signed ? "signed" : "unsigned");
    if (m->kind == QFD_METHOD_KD)
        snprintf(buf, sizeof buf, "teacher: %s, its logits at temperature %g", t->source, (double)m->temperature);
    else if (m->kind == QFD_METHOD_FD)
        snprintf(buf, sizeof buf, "teacher: %s, its float feature '%s'", t->source, t->feature);
    else if (t->saved)
        snprintf(buf, sizeof buf, "teacher: %s, %s (%s quantizer on '%s', step %.4g); stage 1 skipped", t->source,
                 t->resume_student ? "trained in stage 1 of the run resumed" : "a trained teacher", kind, t->feature,
                 (double)t->step);
    else if (m->teacher_epochs == 0)
        snprintf(buf, sizeof buf, "teacher (stage 1): %s with a %s quantizer on '%s', calibrated (no training)",
                 t->source, kind, t->feature);
    else
        snprintf(buf, sizeof buf,
                 "teacher (stage 1): %s with a %s quantizer on '%s', calibrated, then %d epoch%s of "
                 "cross-entropy (lr %g)%s%s",
                 t->source, kind, t->feature, m->teacher_epochs, m->teacher_epochs == 1 ? "" : "s",
                 (double)m->teacher_lr, t->resume_stage1 ? ", resumed from " : "", t->resume_stage1 ? resume_dir : "");
    return (t->plan = strdup(buf)) ? QFD_OK : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
}

/* Replaces the teacher with the file at path (loaded, source named after it). */
static qfd_status load_teacher(qfd_ctx *ctx, qfd_teacher *t, const char *path)
{
    qfd_model_free(t->m);
    t->m = NULL;
    free(t->source);
    if (!(t->source = strdup(path)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return qfd_model_load(ctx, path, &t->m);
}

qfd_status qfd_teacher_setup(qfd_ctx *ctx, const qfd_model *src, const char *student_feature,
                             const qfd_quantize_opts *o, const qfd_method *m, const qfd_dataset *ds, int n_norm,
                             const float *mean, const float *std, qfd_teacher *t)
{
    memset(t, 0, sizeof *t);
    const char *resume = o->train.resume_dir;
    char *in_dir = NULL;
    qfd_status st = QFD_OK;
    if (resume && (st = resume_stage(ctx, resume, m, t)))
        return st;
    if (m->kind != QFD_METHOD_KD && !student_feature) { /* the search's own message says where it stopped */
        st = qfd_pass_find_feature(ctx, src, NULL, &(int){0});
        return st ? st : qfd_fail(ctx, QFD_ERR_INTERNAL, "no student feature");
    }
    if (o->teacher_path) {
        st = load_teacher(ctx, t, o->teacher_path);
    } else {
        st = qfd_onnx_clone(ctx, src, &t->m);
        if (!st && !(t->source = strdup(src->path ? src->path : "the model")))
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    /* kd and fd take any model as it is, a saved qfd teacher too */
    if (st || (m->kind == QFD_METHOD_QFD && (st = read_saved(ctx, t))))
        goto out;
    if (t->saved && (st = saved_flags(ctx, t, o)))
        goto out;
    if (!o->train.n_mean && (st = same_normalization(ctx, t, n_norm, mean, std)))
        goto out;
    /* A qfd run resumed after stage 1 takes the teacher it trained. */
    if (m->kind == QFD_METHOD_QFD && !t->saved && t->resume_student) {
        free(t->feature);
        t->feature = NULL;
        if (!(in_dir = join(resume, QFD_TEACHER_FILE))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((st = load_teacher(ctx, t, in_dir)) || (st = read_saved(ctx, t)))
            goto out;
        if (!t->saved) {
            st = qfd_fail(ctx, QFD_ERR_INVALID, "%s: not the teacher of a qfd run (no %s metadata)", in_dir,
                          META_FEATURE);
            goto out;
        }
    }
    t->stage1 = m->kind == QFD_METHOD_QFD && !t->saved;
    if (t->resume_stage1 && !(t->stage1 && m->teacher_epochs > 0)) {
        st = qfd_fail(ctx, QFD_ERR_ARG,
                      "--resume %s: the checkpoint was saved in qfd's stage 1, which this run skips (%s): resume with "
                      "the same options",
                      resume, t->saved ? "--teacher is a trained teacher" : "--teacher-epochs 0");
        goto out;
    }
    if (m->no_labels && t->stage1 && m->teacher_epochs > 0) {
        st = qfd_fail(ctx, QFD_ERR_ARG,
                      "--no-labels: qfd's stage 1 trains the teacher with labels; give --teacher-epochs 0 or a "
                      "--teacher written by --save-teacher");
        goto out;
    }
    if (m->kind != QFD_METHOD_KD && !t->feature && (st = pick_feature(ctx, t, student_feature, o->teacher_feature)))
        goto out;
    if (t->stage1) {
        bool *nonneg = calloc(t->m->graph.n_tensors + 1, sizeof *nonneg);
        if (!nonneg) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto out;
        }
        qfd_quant_nonneg(&t->m->graph, nonneg);
        t->is_signed = !nonneg[qfd_graph_find(&t->m->graph, t->feature)];
        t->bits = m->teacher_bits;
        free(nonneg);
    }
    if ((st = check_shapes(ctx, src, student_feature, t, m, ds, o->train.n_threads)))
        goto out;
    st = describe(ctx, t, m, resume);
out:
    free(in_dir);
    return st;
}

/* ---- stage 1: the quantizer on the feature ---- */

/* mean |x| of the feature over the calibration images: the step of
 * s * sign(x) with the least squared error. */
static qfd_status binary_step(qfd_ctx *ctx, const qfd_model *m, int f, const qfd_calib_opts *c, float *step)
{
    qfd_exec *e = NULL;
    qfd_status st = qfd_exec_new(ctx, m, c->n_threads, &e);
    int64_t per = 1;
    for (int d = 1; d < c->shape->rank; d++)
        per *= c->shape->dims[d];
    double sum = 0;
    int64_t count = 0;
    for (int64_t start = 0; !st && start < c->n; start += c->batch) {
        int64_t b = c->n - start < c->batch ? c->n - start : c->batch;
        qfd_array in = *c->shape;
        in.dims[0] = b;
        in.data = (void *)(c->x + start * per);
        in.nbytes = (size_t)(b * per) * sizeof(float);
        if ((st = qfd_exec_run(ctx, e, &in, 1)))
            break;
        const qfd_array *v = qfd_exec_value(e, f);
        const float *x = v->data;
        for (int64_t i = 0, n = qfd_array_numel(v); i < n; i++)
            if (isfinite(x[i]))
                sum += fabs((double)x[i]), count++;
    }
    qfd_exec_free(e);
    *step = count && sum > 0 ? (float)(sum / (double)count) : 1e-8f;
    return st;
}

/* f -> FakeQuant|BinaryQuant -> f_tq, read by everything that read f. */
static qfd_status insert_quantizer(qfd_ctx *ctx, qfd_teacher *t, int f)
{
    qfd_graph *g = &t->m->graph;
    char base[512];
    float *sv = malloc(sizeof *sv);
    if (!sv)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    *sv = t->step;
    snprintf(base, sizeof base, "%s_teacher_step", t->feature);
    int s = qfd_graph_add_init(g, base, QFD_DT_FLOAT, 0, NULL, sv, sizeof *sv);
    snprintf(base, sizeof base, "%s_teacher_q", t->feature);
    int y = s < 0 ? -1 : qfd_graph_add_value(g, base);
    if (y < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == f)
                g->nodes[i].in[k] = y;
    const bool binary = t->bits == 1 && t->is_signed;
    snprintf(base, sizeof base, "%s_teacher_quant", t->feature);
    int n = qfd_graph_add_node(g, binary ? BQ_OP : QFD_FQ_OP, QFD_FQ_DOMAIN, base, (int[]){f, s}, 2, (int[]){y}, 1);
    if (n < 0 || !(t->target = strdup(g->tensors[y].name)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!binary) {
        int64_t qmin, qmax;
        qfd_quant_range(QFD_FORMAT_ORT, t->bits, t->is_signed, false, &qmin, &qmax);
        qfd_node *fq = &g->nodes[n];
        if (qfd_node_set_int(fq, "qmin", qmin) || qfd_node_set_int(fq, "qmax", qmax) ||
            qfd_node_set_int(fq, "bits", t->bits))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    if (qfd_model_set_opset(t->m, QFD_FQ_DOMAIN, 1))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return qfd_graph_validate(ctx, g);
}

/* Folds BatchNorm (the teacher trains with frozen statistics, as the
 * student does), calibrates the feature's step on the FP32 values and
 * places the quantizer. */
static qfd_status quantize_feature(qfd_ctx *ctx, qfd_teacher *t, const qfd_calib_opts *c)
{
    int folded, f;
    qfd_status st = qfd_pass_fold_bn(ctx, t->m, &folded);
    if (st)
        return st;
    f = qfd_graph_find(&t->m->graph, t->feature);
    if (f < 0 || (t->m->graph.tensors[f].producer < 0 && !(t->m->graph.tensors[f].flags & QFD_T_INPUT)))
        return qfd_fail(ctx, QFD_ERR_ARG,
                        "%s: the feature '%s' is a BatchNormalization's input, folded away: name its output instead",
                        t->source, t->feature);
    if (t->bits == 1 && t->is_signed) {
        st = binary_step(ctx, t->m, f, c, &t->step);
    } else {
        qfd_qtensor q = {.tensor = f, .bits = t->bits, .axis = -1, .clip_hi = INFINITY, .n_step = 1};
        qfd_quant_range(QFD_FORMAT_ORT, t->bits, t->is_signed, false, &q.qmin, &q.qmax);
        qfd_quant_plan plan = {.q = &q, .n_q = 1};
        qfd_calib_opts co = *c;
        co.progress = NULL;
        if (!(st = qfd_quant_calibrate(ctx, t->m, &plan, &co)))
            t->step = q.step[0];
        free(q.step);
    }
    return st ? st : insert_quantizer(ctx, t, f);
}

/* Metadata that makes the file a saved teacher (read_saved). */
static qfd_status tag(qfd_ctx *ctx, qfd_teacher *t)
{
    char bits[16];
    snprintf(bits, sizeof bits, "%d", t->bits);
    if (qfd_model_set_metadata(t->m, META_FEATURE, t->feature) ||
        qfd_model_set_metadata(t->m, META_QUANTIZED, t->target) || qfd_model_set_metadata(t->m, META_BITS, bits))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

/* Marks tensor `name` a graph output (kept by an inference run). */
static qfd_status add_output(qfd_ctx *ctx, qfd_model *m, const char *name)
{
    qfd_graph *g = &m->graph;
    int t = qfd_graph_find(g, name);
    if (t < 0)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "teacher tensor '%s' missing", name);
    if (qfd_graph_is_output(g, t))
        return QFD_OK;
    qfd_value_info *o = realloc(g->outputs, (g->n_outputs + 1) * sizeof *o);
    if (!o)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    g->outputs = o;
    memset(&o[g->n_outputs], 0, sizeof *o);
    o[g->n_outputs++].tensor = t;
    g->tensors[t].flags |= QFD_T_OUTPUT;
    return QFD_OK;
}

static qfd_status freeze(qfd_ctx *ctx, qfd_teacher *t)
{
    int n;
    qfd_status st = qfd_onnx_clone(ctx, t->m, &t->frozen);
    if (!st)
        st = qfd_pass_fold_bn(ctx, t->frozen, &n);
    if (!st && t->target)
        st = add_output(ctx, t->frozen, t->target);
    if (!st)
        st = qfd_pass_fuse_act(ctx, t->frozen, &n);
    return st;
}

qfd_status qfd_teacher_make(qfd_ctx *ctx, qfd_teacher *t, const qfd_quantize_opts *o, const qfd_method *m,
                            const qfd_dataset *ds, const qfd_calib_opts *calib, qfd_quantize_result *r)
{
    qfd_status st = QFD_OK;
    char *in_dir = NULL;
    if (t->stage1) {
        if ((st = quantize_feature(ctx, t, calib)) || (st = tag(ctx, t)))
            return st;
        if (m->teacher_epochs > 0) {
            r->teacher_trained = 1;
            if ((st = qfd_teacher_train(ctx, t, o, m, ds, &r->teacher_train)) || r->teacher_train.stopped)
                return st;
            int f = qfd_graph_find(&t->m->graph, t->target), p = f >= 0 ? t->m->graph.tensors[f].producer : -1;
            t->step = p >= 0 ? qfd_graph_float_init(&t->m->graph, t->m->graph.nodes[p].in[1], 1)[0] : t->step;
        }
        const char *dir = o->train.checkpoint_dir;
        if (dir && (!(in_dir = join(dir, QFD_TEACHER_FILE)) || (st = qfd_model_save(ctx, t->m, in_dir)))) {
            st = in_dir ? st : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            free(in_dir);
            return st;
        }
        free(in_dir);
        if (o->save_teacher && (st = qfd_model_save(ctx, t->m, o->save_teacher)))
            return st;
    }
    if (m->kind == QFD_METHOD_KD) {
        free(t->target);
        t->target = NULL;
    } else if (m->kind == QFD_METHOD_FD) {
        free(t->target);
        if (!(t->target = strdup(t->feature)))
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    r->has_teacher = 1;
    if (!(r->teacher_source = strdup(t->source)) || (t->feature && !(r->teacher_feature = strdup(t->feature))))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (m->kind == QFD_METHOD_QFD) {
        r->teacher_bits = t->bits;
        r->teacher_signed = t->is_signed;
        r->teacher_step = t->step;
    }
    return freeze(ctx, t);
}

uint64_t qfd_teacher_hash(const qfd_teacher *t)
{
    const qfd_graph *g = &t->m->graph;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < g->n_inits; i++) {
        const qfd_tensor *tt = &g->tensors[g->inits[i]];
        if (tt->dtype != QFD_DT_FLOAT || !tt->data)
            continue;
        const uint8_t *b = tt->data;
        for (size_t k = 0; k < tt->nbytes; k++)
            h = (h ^ b[k]) * 0x100000001b3ull;
    }
    return h;
}

void qfd_teacher_free(qfd_teacher *t)
{
    qfd_model_free(t->m);
    qfd_model_free(t->frozen);
    free(t->source);
    free(t->feature);
    free(t->target);
    free(t->plan);
    memset(t, 0, sizeof *t);
}
