#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"

static double loss(qfd_exec *e, float *const *r, size_t n_out)
{
    double l = 0;
    for (size_t k = 0; k < n_out; k++) {
        const qfd_array *o = qfd_exec_output(e, k);
        if (o->dtype != QFD_DT_FLOAT)
            continue;
        const float *v = o->data;
        for (int64_t i = 0; i < qfd_array_numel(o); i++)
            l += (double)v[i] * r[k][i];
    }
    return l;
}

int gradcheck(const char *label, qfd_model *m, const gradcheck_opts *o)
{
    double eps = o->eps > 0 ? o->eps : 1e-2, tol = o->tol > 0 ? o->tol : 2e-2;
    int max_elems = o->max_elems > 0 ? o->max_elems : 48, fails = 0;
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_exec *e = NULL;
    uint8_t *train = calloc(m->graph.n_tensors + 1, 1);
    float **r = NULL;
    size_t n_out = 0;
    for (const char *const *p = o->params; *p; p++) {
        int t = qfd_graph_find(&m->graph, *p);
        if (t < 0) {
            printf("FAIL %s: no tensor '%s'\n", label, *p);
            fails++;
            goto out;
        }
        train[t] = 1;
    }
    if (qfd_exec_new(ctx, m, 1, &e) || qfd_exec_set_trainable(ctx, e, train)) {
        printf("FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    qfd_exec_set_training(e, o->training, 1234);
    if (o->inference_nodes && qfd_exec_set_inference_nodes(ctx, e, o->inference_nodes)) {
        printf("FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    if (qfd_exec_run(ctx, e, o->inputs, o->n_inputs)) {
        printf("FAIL %s: %s\n", label, qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    n_out = qfd_exec_n_outputs(e);
    r = calloc(n_out, sizeof *r);
    uint64_t s = 42;
    for (size_t k = 0; k < n_out; k++) {
        const qfd_array *out = qfd_exec_output(e, k);
        int64_t n = qfd_array_numel(out);
        r[k] = calloc((size_t)n + 1, sizeof **r);
        for (int64_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            r[k][i] = (float)((s >> 40) / 16777216.0) * 2.0f - 1.0f;
        }
    }
    qfd_exec_zero_grads(e);
    for (size_t k = 0; k < n_out; k++) {
        qfd_array *g = qfd_exec_grad(e, qfd_exec_output_tensor(e, k));
        if (g)
            memcpy(g->data, r[k], g->nbytes);
    }
    if (qfd_exec_backward(ctx, e)) {
        printf("FAIL %s: backward: %s\n", label, qfd_ctx_error(ctx));
        fails++;
        goto out;
    }
    for (const char *const *p = o->params; *p; p++) {
        int t = qfd_graph_find(&m->graph, *p);
        const qfd_array *ga = qfd_exec_grad(e, t);
        qfd_tensor *pt = &m->graph.tensors[t];
        int64_t n = qfd_tensor_numel(pt);
        if (!ga) {
            printf("FAIL %s: no gradient reaches '%s'\n", label, *p);
            fails++;
            continue;
        }
        float *analytic = malloc((size_t)n * sizeof *analytic + 1);
        memcpy(analytic, ga->data, (size_t)n * sizeof *analytic);
        float *x = pt->data;
        int64_t step = n > max_elems ? n / max_elems : 1;
        double worst = 0;
        int bad = 0;
        for (int64_t i = 0; i < n; i += step) {
            float keep = x[i];
            x[i] = keep + (float)eps;
            qfd_status st = qfd_exec_run(ctx, e, o->inputs, o->n_inputs);
            double lp = loss(e, r, n_out);
            x[i] = keep - (float)eps;
            st |= qfd_exec_run(ctx, e, o->inputs, o->n_inputs);
            double lm = loss(e, r, n_out);
            x[i] = keep;
            double num = (lp - lm) / (2 * eps), err = fabs(num - analytic[i]);
            double scale = fmax(1.0, fmax(fabs(num), fabs((double)analytic[i])));
            worst = fmax(worst, err / scale);
            if (st || err > tol * scale) {
                if (bad < 3)
                    printf("  %s '%s'[%lld]: backward %.6g, numeric %.6g\n", label, *p, (long long)i, analytic[i], num);
                bad++;
            }
        }
        printf("%s %s: d/d'%s' (%lld elements, checked every %lld): worst relative error %.2g\n", bad ? "FAIL" : "ok  ",
               label, *p, (long long)n, (long long)step, worst);
        fails += bad;
        free(analytic);
    }
out:
    for (size_t k = 0; r && k < n_out; k++)
        free(r[k]);
    free(r);
    free(train);
    qfd_exec_free(e);
    qfd_ctx_free(ctx);
    qfd_model_free(m);
    return fails;
}
