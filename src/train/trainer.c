#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "ops/op.h"
#include "passes/passes.h"
#include "train/loss.h"

typedef struct term {
    qfd_loss_term spec;
    int tensor; /* in the student */
    int target; /* in the teacher, or -1 */
} term;

struct qfd_trainer {
    qfd_model *m;
    qfd_exec *e, *teacher;
    term *terms;
    size_t n_terms;
    int *param_t; /* tensor of each optimizer parameter */
    qfd_optim opt;
    int n_threads;
    /* Parameters are updated in the sweep as their gradients are ready
     * (qfd_exec_on_grad_ready), unless keep_grads. */
    bool keep_grads;
    int *param_of;    /* per tensor: its optimizer parameter, or -1 */
    uint8_t *updated; /* per parameter, in this step */
    float lr_factor;  /* this step's */
};

static qfd_param_role slot_role(const qfd_op_def *d, size_t k)
{
    return d ? (qfd_param_role)d->param_role[k < QFD_OP_ROLE_SLOTS ? k : QFD_OP_ROLE_SLOTS - 1] : QFD_ROLE_NONE;
}

/* From the roles of the slots that read a tensor (bit r for role r) to its
 * own: frozen wins, then the explicit roles, most specific first. */
static qfd_param_role resolve_role(const qfd_tensor *tt, unsigned seen)
{
    static const qfd_param_role order[] = {QFD_ROLE_STEP, QFD_ROLE_WEIGHT, QFD_ROLE_NORM, QFD_ROLE_BIAS};
    if (!(tt->flags & QFD_T_INITIALIZER) || tt->dtype != QFD_DT_FLOAT || !tt->data || (seen >> QFD_ROLE_FROZEN & 1u))
        return QFD_ROLE_NONE;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (seen >> order[i] & 1u)
            return order[i];
    if ((seen >> QFD_ROLE_DATA & 1u) && qfd_tensor_numel(tt) > 1)
        return tt->rank >= 2 ? QFD_ROLE_WEIGHT : QFD_ROLE_BIAS;
    return QFD_ROLE_NONE;
}

void qfd_trainer_param_roles(const qfd_model *m, uint8_t *roles)
{
    const qfd_graph *g = &m->graph;
    _Static_assert(QFD_ROLE_FROZEN < 8, "role bits must fit in a byte");
    memset(roles, 0, g->n_tensors);
    /* Nodes are in topological order: going backwards, every reader of a
     * PASS node's outputs has been seen when the node is. */
    for (size_t i = g->n_nodes; i-- > 0;) {
        const qfd_node *n = &g->nodes[i];
        const qfd_op_def *d = qfd_op_lookup(n->domain, n->op_type, qfd_model_opset(m, n->domain));
        uint8_t out = 0;
        for (size_t k = 0; k < n->n_out; k++)
            out |= n->out[k] >= 0 ? roles[n->out[k]] : 0;
        for (size_t k = 0; k < n->n_in; k++) {
            qfd_param_role r = slot_role(d, k);
            if (n->in[k] >= 0 && r != QFD_ROLE_NONE)
                roles[n->in[k]] |= r == QFD_ROLE_PASS ? out : (uint8_t)(1u << r);
        }
    }
    for (size_t t = 0; t < g->n_tensors; t++)
        roles[t] = (uint8_t)resolve_role(&g->tensors[t], roles[t]);
}

bool qfd_trainer_is_param(const qfd_model *m, int t)
{
    uint8_t *roles = malloc(m->graph.n_tensors + 1);
    if (!roles)
        return false;
    qfd_trainer_param_roles(m, roles);
    bool is = roles[t] != QFD_ROLE_NONE;
    free(roles);
    return is;
}

const char *qfd_loss_kind_name(qfd_loss_kind kind)
{
    return kind == QFD_LOSS_CE ? "ce" : kind == QFD_LOSS_MSE ? "mse" : "kl";
}

/* Weights decay; biases, norms and steps do not; steps have their own group
 * because their learning rate must be far smaller (docs: qfd-method.md). */
static int default_group(void *user, const qfd_model *m, int t, qfd_param_role role)
{
    (void)user;
    (void)m;
    (void)t;
    return role == QFD_ROLE_WEIGHT ? 0 : role == QFD_ROLE_STEP ? 2 : 1;
}

static qfd_status resolve(qfd_ctx *ctx, const qfd_model *m, const qfd_exec *e, const char *name, const char *what,
                          int *out)
{
    if (!name) {
        *out = qfd_exec_output_tensor(e, 0);
        return QFD_OK;
    }
    *out = qfd_graph_find(&m->graph, name);
    if (*out < 0)
        return qfd_fail(ctx, QFD_ERR_ARG, "%s: no tensor named '%s' in the model", what, name);
    return QFD_OK;
}

void qfd_trainer_free(qfd_trainer *t)
{
    if (!t)
        return;
    qfd_exec_free(t->e);
    qfd_exec_free(t->teacher);
    qfd_optim_free(&t->opt);
    free(t->terms);
    free(t->param_t);
    free(t->param_of);
    free(t->updated);
    free(t);
}

static void on_grad_ready(void *user, int tensor, qfd_array *grad)
{
    qfd_trainer *t = user;
    const int i = t->param_of[tensor];
    if (i < 0)
        return;
    t->opt.params[i].grad = grad->data;
    qfd_optim_update(&t->opt, (size_t)i, t->lr_factor, t->n_threads > 0 ? t->n_threads : 1);
    t->updated[i] = 1;
}

qfd_status qfd_trainer_new(qfd_ctx *ctx, qfd_model *m, const qfd_trainer_opts *o, qfd_trainer **out)
{
    *out = NULL;
    qfd_status st;
    const qfd_graph *g = &m->graph;
    qfd_trainer *t = calloc(1, sizeof *t);
    uint8_t *train = calloc(g->n_tensors + 1, 1), *roles = NULL;
    qfd_param *params = calloc(g->n_tensors + 1, sizeof *params);
    const qfd_loss_term ce = {QFD_LOSS_CE, NULL, NULL, 1.0f, 0.0f, 1.0f};
    size_t n_terms = o->n_losses ? o->n_losses : 1;
    if (!t || !train || !params || !(t->terms = calloc(n_terms, sizeof *t->terms)) ||
        !(t->param_t = calloc(g->n_tensors + 1, sizeof *t->param_t))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    t->m = m;
    t->n_threads = o->n_threads;
    int moved;
    if ((st = qfd_pass_own_bn_stats(ctx, m, &moved))) {
        if (m->path)
            qfd_ctx_prefix(ctx, m->path);
        goto fail;
    }
    if ((st = qfd_exec_new(ctx, m, o->n_threads, &t->e)))
        goto fail;
    /* the steps read the loss tensors (seeded below) and the outputs only */
    qfd_exec_share_values(t->e);
    if (o->inference_mode) {
        uint8_t *all = malloc(g->n_nodes + 1);
        if (all)
            memset(all, 1, g->n_nodes + 1);
        st = all ? qfd_exec_set_inference_nodes(ctx, t->e, all) : qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        free(all);
        if (st)
            goto fail;
    }
    if (o->teacher && (st = qfd_exec_new(ctx, o->teacher, o->n_threads, &t->teacher)))
        goto fail;

    qfd_param_group dflt[3] = {{o->lr, o->weight_decay, false}, {o->lr, 0.0f, false}, {o->lr, 0.0f, false}};
    const qfd_param_group *groups = o->n_groups ? o->groups : dflt;
    size_t n_groups = o->n_groups ? o->n_groups : 3, n_params = 0;
    qfd_group_fn group_of = o->group_of ? o->group_of : default_group;
    if (!(roles = malloc(g->n_tensors + 1))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    qfd_trainer_param_roles(m, roles);
    for (size_t i = 0; i < g->n_tensors; i++) {
        if (roles[i] == QFD_ROLE_NONE)
            continue;
        int grp = group_of(o->group_user, m, (int)i, (qfd_param_role)roles[i]);
        if (grp < 0)
            continue; /* the caller freezes it */
        if ((size_t)grp >= n_groups) {
            st = qfd_fail(ctx, QFD_ERR_INTERNAL, "parameter group %d out of range", grp);
            goto fail;
        }
        train[i] = 1;
        t->param_t[n_params] = (int)i;
        const float *pc = o->precond_of ? o->precond_of(o->precond_user, m, (int)i) : NULL;
        const float *pmax = NULL, *pmin = NULL;
        if (o->bound_of)
            o->bound_of(o->bound_user, m, (int)i, &pmax, &pmin);
        params[n_params++] = (qfd_param){
            g->tensors[i].data, NULL, qfd_tensor_numel(&g->tensors[i]), grp, pc, pmax, pmin, roles[i] == QFD_ROLE_STEP};
    }
    if (!n_params) {
        st = qfd_fail(ctx, QFD_ERR_UNSUPPORTED, "the model has no trainable parameters");
        goto fail;
    }
    if ((st = qfd_exec_set_trainable(ctx, t->e, train)))
        goto fail;
    t->opt.momentum = o->momentum;
    t->opt.nesterov = o->nesterov;
    if ((st = qfd_optim_init(ctx, &t->opt, o->optimizer, groups, n_groups, params, n_params)))
        goto fail;
    t->keep_grads = o->keep_grads;
    if (!(t->param_of = malloc((g->n_tensors + 1) * sizeof *t->param_of)) || !(t->updated = calloc(n_params, 1))) {
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < g->n_tensors; i++)
        t->param_of[i] = -1;
    for (size_t i = 0; i < n_params; i++)
        t->param_of[t->param_t[i]] = (int)i;
    if (!t->keep_grads)
        qfd_exec_on_grad_ready(t->e, on_grad_ready, t);

    t->n_terms = n_terms;
    for (size_t i = 0; i < n_terms; i++) {
        term *tm = &t->terms[i];
        tm->spec = o->n_losses ? o->losses[i] : ce;
        tm->target = -1;
        if ((st = resolve(ctx, m, t->e, tm->spec.tensor, "loss", &tm->tensor)))
            goto fail;
        qfd_exec_seed_grad(t->e, tm->tensor);
        if (tm->spec.kind != QFD_LOSS_CE) {
            if (!t->teacher) {
                st = qfd_fail(ctx, QFD_ERR_ARG, "an MSE or KL loss term needs a teacher model");
                goto fail;
            }
            if ((st = resolve(ctx, o->teacher, t->teacher, tm->spec.target, "teacher", &tm->target)))
                goto fail;
        }
    }
    /* The frozen teacher runs forward only: when every tensor a term reads
     * from it is a graph output, its other values share memory as in
     * inference, instead of each taking a buffer of its own. */
    bool outputs_only = t->teacher != NULL;
    for (size_t i = 0; i < n_terms; i++)
        if (t->terms[i].target >= 0 && !qfd_graph_is_output(&o->teacher->graph, t->terms[i].target))
            outputs_only = false;
    if (outputs_only)
        qfd_exec_share_values(t->teacher);
    free(train);
    free(roles);
    free(params);
    *out = t;
    return QFD_OK;
fail:
    free(train);
    free(roles);
    free(params);
    qfd_trainer_free(t);
    return st;
}

static qfd_status add_term(qfd_ctx *ctx, qfd_trainer *t, const term *tm, const qfd_array *y, double *value,
                           int64_t *correct)
{
    const qfd_graph *g = &t->m->graph;
    const qfd_array *v = qfd_exec_value(t->e, tm->tensor);
    qfd_array *grad = qfd_exec_grad(t->e, tm->tensor);
    const char *name = g->tensors[tm->tensor].name;
    if (v->dtype != QFD_DT_FLOAT)
        return qfd_fail(ctx, QFD_ERR_ARG, "loss on '%s': the tensor is not float", name);
    if (!grad)
        return qfd_fail(ctx, QFD_ERR_ARG, "loss on '%s': the tensor does not depend on any trainable parameter", name);
    int64_t n = v->rank ? v->dims[0] : 1, numel = qfd_array_numel(v), c = n ? numel / n : 0;
    if (tm->spec.kind == QFD_LOSS_CE) {
        if (v->rank != 2 || y->dims[0] != n)
            return qfd_fail(ctx, QFD_ERR_ARG, "cross-entropy on '%s' needs logits [N, classes] for the %lld labels",
                            name, (long long)y->dims[0]);
        const int64_t *lab = y->data;
        for (int64_t i = 0; i < n; i++)
            if (lab[i] < 0 || lab[i] >= c)
                return qfd_fail(ctx, QFD_ERR_INVALID, "label %lld is not one of the model's %lld classes",
                                (long long)lab[i], (long long)c);
        *value = qfd_loss_cross_entropy(v->data, lab, n, c, tm->spec.smoothing, tm->spec.weight, grad->data, correct);
        return QFD_OK;
    }
    const qfd_array *tv = qfd_exec_value(t->teacher, tm->target);
    if (tv->dtype != QFD_DT_FLOAT || qfd_array_numel(tv) != numel)
        return qfd_fail(ctx, QFD_ERR_ARG, "loss on '%s': the teacher tensor has %lld elements, the student's %lld",
                        name, (long long)qfd_array_numel(tv), (long long)numel);
    if (tm->spec.kind == QFD_LOSS_MSE)
        *value = qfd_loss_mse(v->data, tv->data, numel, tm->spec.weight, grad->data);
    else
        *value = qfd_loss_kl(v->data, tv->data, n, c, tm->spec.temperature > 0 ? tm->spec.temperature : 1.0f,
                             tm->spec.weight, grad->data);
    return QFD_OK;
}

qfd_status qfd_trainer_step(qfd_ctx *ctx, qfd_trainer *t, const qfd_array *x, const qfd_array *y, float lr_factor,
                            uint64_t step_seed, qfd_step_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    qfd_exec_set_training(t->e, true, step_seed);
    qfd_status st = qfd_exec_run(ctx, t->e, x, 1);
    if (!st && t->teacher)
        st = qfd_exec_run(ctx, t->teacher, x, 1);
    if (st)
        return st;
    qfd_exec_zero_grads(t->e);
    stats->n = x->dims[0];
    for (size_t i = 0; i < t->n_terms; i++) {
        double v = 0;
        if ((st = add_term(ctx, t, &t->terms[i], y, &v, i == 0 ? &stats->correct : NULL)))
            return st;
        if (i < sizeof stats->terms / sizeof *stats->terms)
            stats->terms[i] = v;
        stats->loss += t->terms[i].spec.weight * v;
    }
    if (!isfinite(stats->loss))
        return qfd_fail(ctx, QFD_ERR_INVALID, "the loss became %s; stopping before the weights are changed",
                        isnan(stats->loss) ? "NaN" : "infinite");
    const int nth = t->n_threads > 0 ? t->n_threads : 1;
    t->lr_factor = lr_factor;
    memset(t->updated, 0, t->opt.n_params);
    if (!t->keep_grads)
        qfd_optim_begin(&t->opt); /* on_grad_ready updates in the sweep */
    if ((st = qfd_exec_backward(ctx, t->e)))
        return st; /* the weights may be half updated: training stops */
    /* The rest: every parameter with keep_grads, else those no backward
     * reached (zero gradients). Gradient buffers are reallocated when the
     * batch shape changes. */
    for (size_t i = 0; i < t->opt.n_params; i++) {
        if (t->updated[i])
            continue;
        qfd_array *gr = qfd_exec_grad(t->e, t->param_t[i]);
        if (!gr)
            return qfd_fail(ctx, QFD_ERR_INTERNAL, "no gradient for parameter '%s'",
                            t->m->graph.tensors[t->param_t[i]].name);
        t->opt.params[i].grad = gr->data;
        if (!t->keep_grads)
            qfd_optim_update(&t->opt, i, lr_factor, nth);
    }
    if (t->keep_grads)
        qfd_optim_step(&t->opt, lr_factor, nth);
    return QFD_OK;
}

qfd_optim *qfd_trainer_optim(qfd_trainer *t)
{
    return &t->opt;
}

const int *qfd_trainer_param_tensors(const qfd_trainer *t)
{
    return t->param_t;
}

qfd_exec *qfd_trainer_exec(qfd_trainer *t)
{
    return t->e;
}

size_t qfd_trainer_n_params(const qfd_trainer *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->opt.n_params; i++)
        n += (size_t)t->opt.params[i].n;
    return n;
}

size_t qfd_trainer_memory(const qfd_trainer *t)
{
    size_t per = t->opt.kind == QFD_OPT_ADAMW ? 2 : 1;
    return qfd_exec_memory(t->e) + (t->teacher ? qfd_exec_memory(t->teacher) : 0) +
           per * qfd_trainer_n_params(t) * sizeof(float);
}
