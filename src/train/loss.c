#include "train/loss.h"

#include <math.h>

/* log-sum-exp of row[0..c) at scale 1/T, and the row's maximum */
static double lse(const float *row, int64_t c, double inv_t)
{
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < c; k++)
        m = fmax(m, row[k] * inv_t);
    for (int64_t k = 0; k < c; k++)
        s += exp(row[k] * inv_t - m);
    return m + log(s);
}

double qfd_loss_cross_entropy(const float *logits, const int64_t *labels, int64_t n, int64_t c, float smoothing,
                              float weight, float *grad, int64_t *correct)
{
    double total = 0;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = logits + i * c;
        int64_t y = labels[i], best = 0;
        double z = lse(row, c, 1.0), mean_logp = 0;
        for (int64_t k = 0; k < c; k++) {
            mean_logp += row[k] - z;
            best = row[k] > row[best] ? k : best;
        }
        hits += best == y;
        total += -(1.0 - smoothing) * (row[y] - z) - smoothing * mean_logp / (double)c;
        if (!grad)
            continue;
        for (int64_t k = 0; k < c; k++) {
            double target = smoothing / (double)c + (k == y ? 1.0 - smoothing : 0.0);
            grad[i * c + k] += (float)(weight * (exp(row[k] - z) - target) / (double)n);
        }
    }
    if (correct)
        *correct = hits;
    return n ? total / (double)n : 0;
}

double qfd_loss_mse(const float *a, const float *b, int64_t n, float weight, float *grad_a)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        total += d * d;
        if (grad_a)
            grad_a[i] += (float)(weight * 2.0 * d / (double)n);
    }
    return n ? total / (double)n : 0;
}

double qfd_loss_kl(const float *s, const float *t, int64_t n, int64_t c, float temperature, float weight, float *grad_s)
{
    double inv_t = 1.0 / temperature, total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *sr = s + i * c, *tr = t + i * c;
        double zs = lse(sr, c, inv_t), zt = lse(tr, c, inv_t);
        for (int64_t k = 0; k < c; k++) {
            double lpt = tr[k] * inv_t - zt, lps = sr[k] * inv_t - zs, pt = exp(lpt);
            total += pt * (lpt - lps);
            /* d/ds of T^2 * KL = T * (p_s - p_t) */
            if (grad_s)
                grad_s[i * c + k] += (float)(weight * temperature * (exp(lps) - pt) / (double)n);
        }
    }
    return n ? total * temperature * temperature / (double)n : 0;
}
