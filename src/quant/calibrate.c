/* Initial steps (qfd_quant_calibrate). Weights: per channel, from their own
 * values. Activations: from their FP32 values on the calibration images,
 * in two passes: the largest magnitude of each tensor, then a histogram of
 * its values over that range, from which the step is chosen:
 *   mse         the clip c (of 256 candidates up to the largest value) whose
 *               quantizer has the least squared error over the histogram;
 *   percentile  c = the 99.99th percentile of |x|;
 *   minmax      c = the largest |x|;
 * and s = c / qmax. Weights use MSE over their values, or max / qmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "exec/exec.h"
#include "quant/quant.h"

#define BINS 2048      /* per sign */
#define CANDIDATES 256 /* clip values tried by MSE */
#define MIN_STEP 1e-8f /* a tensor or channel that is all zeros still needs a positive step */

/* Squared error of clamp(round(v / s), qmin, qmax) * s over n values. */
static double quant_err(const float *v, int64_t n, int64_t stride, float s, float qmin, float qmax)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = v[i * stride], q = rintf(x / s);
        q = q < qmin ? qmin : q > qmax ? qmax : q;
        double d = (double)x - (double)(q * s);
        e += d * d;
    }
    return e;
}

/* Step of one weight channel: values v[i * stride], i < n. */
static float weight_step(const float *v, int64_t n, int64_t stride, const qfd_qtensor *q, qfd_calib_kind kind)
{
    float amax = 0, qmax = (float)q->qmax;
    for (int64_t i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(v[i * stride]));
    if (!(amax > 0))
        return MIN_STEP;
    float best = amax / qmax;
    if (kind == QFD_CALIB_MSE) {
        double best_err = INFINITY;
        for (int k = CANDIDATES; k >= CANDIDATES / 8; k--) {
            float s = amax * (float)k / CANDIDATES / qmax;
            double e = quant_err(v, n, stride, s, (float)q->qmin, qmax);
            if (e < best_err)
                best_err = e, best = s;
        }
    }
    return best > MIN_STEP ? best : MIN_STEP;
}

static qfd_status calibrate_weight(qfd_ctx *ctx, const qfd_graph *g, qfd_qtensor *q, qfd_calib_kind kind)
{
    const qfd_tensor *w = &g->tensors[q->tensor];
    const float *v = w->data;
    if (!(q->step = malloc((size_t)q->n_step * sizeof *q->step)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    int64_t numel = qfd_tensor_numel(w);
    if (q->axis < 0) {
        q->step[0] = weight_step(v, numel, 1, q, kind);
        return QFD_OK;
    }
    /* w as [outer, C, inner]; channel c is outer runs of inner values */
    int64_t c_n = w->dims[q->axis], inner = 1, outer = 1;
    for (int d = q->axis + 1; d < w->rank; d++)
        inner *= w->dims[d];
    outer = c_n ? numel / (c_n * inner) : 0;
    float *chan = malloc((size_t)(outer * inner + 1) * sizeof *chan);
    if (!chan)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < c_n; c++) {
        for (int64_t o = 0; o < outer; o++)
            memcpy(chan + o * inner, v + (o * c_n + c) * inner, (size_t)inner * sizeof *chan);
        q->step[c] = weight_step(chan, outer * inner, 1, q, kind);
    }
    free(chan);
    return QFD_OK;
}

typedef struct act_stats {
    float amax;
    double *hist; /* 2 * BINS: bin BINS + i holds [i, i+1) * amax / BINS, bin BINS - 1 - i its negative */
} act_stats;

/* Chooses the step of one activation from its histogram. */
static float act_step(const act_stats *a, const qfd_qtensor *q, qfd_calib_kind kind)
{
    float qmax = (float)q->qmax, qmin = (float)q->qmin, w = a->amax / BINS;
    if (!(a->amax > 0))
        return MIN_STEP;
    float c = a->amax;
    if (kind == QFD_CALIB_PERCENTILE) {
        double total = 0, acc = 0;
        for (int i = 0; i < 2 * BINS; i++)
            total += a->hist[i];
        for (int i = BINS - 1; i >= 0 && acc < 1e-4 * total; i--) { /* from the top magnitude down */
            acc += a->hist[BINS + i] + a->hist[BINS - 1 - i];
            c = (float)i * w;
        }
    } else if (kind == QFD_CALIB_MSE) {
        double best_err = INFINITY;
        for (int k = CANDIDATES; k >= 1; k--) {
            float ck = a->amax * (float)k / CANDIDATES, s = ck / qmax;
            double e = 0;
            for (int i = 0; i < 2 * BINS; i++) {
                if (!a->hist[i])
                    continue;
                float x = ((float)(i - BINS) + 0.5f) * w, r = rintf(x / s);
                r = r < qmin ? qmin : r > qmax ? qmax : r;
                double d = (double)x - (double)(r * s);
                e += a->hist[i] * d * d;
            }
            if (e < best_err)
                best_err = e, c = ck;
        }
    }
    float s = c / qmax;
    if (isfinite(q->clip_hi) && s * qmax > q->clip_hi)
        s = q->clip_hi / qmax;
    return s > MIN_STEP ? s : MIN_STEP;
}

/* One pass over the calibration images: amax (pass 0) or histograms. */
static qfd_status sweep(qfd_ctx *ctx, qfd_exec *e, const qfd_quant_plan *plan, act_stats *st, const qfd_calib_opts *o,
                        int pass)
{
    int64_t per = 1;
    for (int d = 1; d < o->shape->rank; d++)
        per *= o->shape->dims[d];
    for (int64_t start = 0; start < o->n; start += o->batch) {
        int64_t b = o->n - start < o->batch ? o->n - start : o->batch;
        qfd_array in = *o->shape;
        in.dims[0] = b;
        in.data = (void *)(o->x + start * per);
        in.nbytes = (size_t)(b * per) * sizeof(float);
        qfd_status s = qfd_exec_run(ctx, e, &in, 1);
        if (s)
            return s;
        for (size_t i = 0; i < plan->n_q; i++) {
            if (plan->q[i].weight || plan->q[i].bias)
                continue;
            const qfd_array *v = qfd_exec_value(e, plan->q[i].tensor);
            if (!v || v->dtype != QFD_DT_FLOAT || !v->data)
                return qfd_fail(ctx, QFD_ERR_INTERNAL, "calibration: no float value for a planned tensor");
            const float *x = v->data;
            int64_t n = qfd_array_numel(v);
            act_stats *a = &st[i];
            if (pass == 0) {
                float m = a->amax;
                for (int64_t j = 0; j < n; j++)
                    m = fmaxf(m, fabsf(x[j]));
                a->amax = m;
            } else if (a->amax > 0) {
                float scale = BINS / a->amax;
                for (int64_t j = 0; j < n; j++) {
                    if (!isfinite(x[j]))
                        continue;
                    int bin = (int)(fabsf(x[j]) * scale);
                    bin = bin >= BINS ? BINS - 1 : bin;
                    a->hist[x[j] < 0 ? BINS - 1 - bin : BINS + bin] += 1;
                }
            }
        }
        if (o->progress)
            o->progress(o->user, (pass * o->n + start + b), 2 * o->n);
    }
    return QFD_OK;
}

qfd_status qfd_quant_calibrate(qfd_ctx *ctx, const qfd_model *m, qfd_quant_plan *plan, const qfd_calib_opts *o)
{
    qfd_status st = QFD_OK;
    for (size_t i = 0; i < plan->n_q && !st; i++)
        if (plan->q[i].weight)
            st = calibrate_weight(ctx, &m->graph, &plan->q[i], o->kind);
    if (st)
        return st;
    act_stats *stats = calloc(plan->n_q + 1, sizeof *stats);
    qfd_exec *e = NULL;
    if (!stats)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < plan->n_q; i++)
        if (!plan->q[i].weight && !plan->q[i].bias && !(stats[i].hist = calloc(2 * BINS, sizeof *stats[i].hist))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto out;
        }
    if (o->n < 1) {
        st = qfd_fail(ctx, QFD_ERR_ARG, "calibration needs at least one image");
        goto out;
    }
    if ((st = qfd_exec_new(ctx, m, o->n_threads, &e)) || (st = sweep(ctx, e, plan, stats, o, 0)) ||
        (st = sweep(ctx, e, plan, stats, o, 1)))
        goto out;
    for (size_t i = 0; i < plan->n_q; i++) {
        qfd_qtensor *q = &plan->q[i];
        if (q->weight || q->bias)
            continue;
        if (!(q->step = malloc(sizeof *q->step))) {
            st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
            goto out;
        }
        q->step[0] = act_step(&stats[i], q, o->kind);
    }
out:
    qfd_exec_free(e);
    for (size_t i = 0; i < plan->n_q; i++)
        free(stats[i].hist);
    free(stats);
    return st;
}
