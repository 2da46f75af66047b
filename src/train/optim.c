#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"

qfd_status qfd_optim_init(qfd_ctx *ctx, qfd_optim *o, qfd_opt_kind kind, const qfd_param_group *groups, size_t n_groups,
                          const qfd_param *params, size_t n_params)
{
    qfd_opt_kind k = kind;
    float mom = o->momentum, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    bool nest = o->nesterov;
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->momentum = mom;
    o->nesterov = nest;
    o->beta1 = b1 > 0 ? b1 : 0.9f;
    o->beta2 = b2 > 0 ? b2 : 0.999f;
    o->eps = eps > 0 ? eps : 1e-8f;
    o->groups = malloc((n_groups + 1) * sizeof *o->groups);
    o->params = malloc((n_params + 1) * sizeof *o->params);
    o->m = calloc(n_params + 1, sizeof *o->m);
    o->v = calloc(n_params + 1, sizeof *o->v);
    if (!o->groups || !o->params || !o->m || !o->v)
        goto oom;
    memcpy(o->groups, groups, n_groups * sizeof *groups);
    memcpy(o->params, params, n_params * sizeof *params);
    o->n_groups = n_groups;
    o->n_params = n_params;
    for (size_t i = 0; i < n_params; i++) {
        size_t bytes = (size_t)params[i].n * sizeof(float) + 1;
        if (!(o->m[i] = calloc(1, bytes)) || (kind == QFD_OPT_ADAMW && !(o->v[i] = calloc(1, bytes))))
            goto oom;
    }
    return QFD_OK;
oom:
    qfd_optim_free(o);
    return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory for optimizer state");
}

void qfd_optim_free(qfd_optim *o)
{
    for (size_t i = 0; o->m && i < o->n_params; i++) {
        free(o->m[i]);
        free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o->groups);
    free(o->params);
    memset(o, 0, sizeof *o);
}

/* A positive parameter (a quantizer step) never reaches zero: halved
 * instead. A NaN stays NaN, for the trainer's divergence check. */
static inline float update(const qfd_param *p, float before, float after)
{
    return p->positive && after <= 0.0f && before > 0.0f ? 0.5f * before : after;
}

/* Each update below touches elements [a, b) of one parameter. */
static void sgd(const qfd_optim *o, const qfd_param *p, float *buf, float lr, float wd, int64_t a, int64_t b)
{
    const float mu = o->momentum;
    const bool first = o->step == 1;
    for (int64_t i = a; i < b; i++) {
        float d = (p->precond ? p->grad[i] * p->precond[i] : p->grad[i]) + wd * p->value[i];
        if (mu != 0.0f) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        p->value[i] = update(p, p->value[i], p->value[i] - lr * d);
    }
}

static void adamw(const qfd_optim *o, const qfd_param *p, float *m, float *v, float lr, float wd, int64_t a, int64_t b)
{
    const float b1 = o->beta1, b2 = o->beta2;
    const float c1 = 1.0f - powf(b1, (float)o->step), c2 = 1.0f - powf(b2, (float)o->step);
    const float step = lr / c1, sc2 = sqrtf(c2);
    for (int64_t i = a; i < b; i++) {
        float g = p->precond ? p->grad[i] * p->precond[i] : p->grad[i];
        const float w = p->value[i];
        p->value[i] *= 1.0f - lr * wd;
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p->value[i] = update(p, w, p->value[i] - step * m[i] / (sqrtf(v[i]) / sc2 + o->eps));
    }
}

static void update_range(const qfd_optim *o, size_t i, float lr_factor, int64_t a, int64_t b)
{
    const qfd_param *p = &o->params[i];
    const qfd_param_group *g = &o->groups[p->group];
    const float lr = g->lr * lr_factor;
    if (o->kind == QFD_OPT_SGD)
        sgd(o, p, o->m[i], lr, g->weight_decay, a, b);
    else
        adamw(o, p, o->m[i], o->v[i], lr, g->weight_decay, a, b);
    for (int64_t k = a; p->max && k < b; k++)
        p->value[k] = p->value[k] > *p->max ? *p->max : p->value[k];
    for (int64_t k = a; p->min && k < b; k++)
        p->value[k] = p->value[k] < p->min[k] ? p->min[k] : p->value[k];
}

void qfd_optim_begin(qfd_optim *o)
{
    o->step++;
}

void qfd_optim_update(qfd_optim *o, size_t i, float lr_factor, int n_threads)
{
    const qfd_param *p = &o->params[i];
    if (o->groups[p->group].frozen)
        return;
    /* elementwise: the same values however the elements are split */
    const int nt = p->n >= ((int64_t)1 << 16) && n_threads > 1 ? n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int c = 0; c < nt; c++)
        update_range(o, i, lr_factor, p->n * c / nt, p->n * (c + 1) / nt);
}

void qfd_optim_step(qfd_optim *o, float lr_factor, int n_threads)
{
    qfd_optim_begin(o);
    (void)n_threads;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (o->n_params > 8)
    for (size_t i = 0; i < o->n_params; i++)
        if (!o->groups[o->params[i].group].frozen)
            update_range(o, i, lr_factor, 0, o->params[i].n);
}

float qfd_schedule_factor(const qfd_schedule *s, int64_t step)
{
    if (step < s->warmup_steps)
        return (float)(step + 1) / (float)s->warmup_steps;
    int64_t t = step - s->warmup_steps, span = s->total_steps - s->warmup_steps;
    switch (s->kind) {
    case QFD_SCHED_COSINE:
        if (span <= 0)
            return 1.0f;
        return s->min_factor +
               (1.0f - s->min_factor) * 0.5f * (1.0f + cosf(3.14159265358979f * (float)t / (float)span));
    case QFD_SCHED_STEP: return s->step_every > 0 ? powf(s->gamma, (float)(t / s->step_every)) : 1.0f;
    default: return 1.0f;
    }
}
