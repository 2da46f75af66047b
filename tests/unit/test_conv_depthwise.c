/* The depthwise Conv kernels (src/ops/conv_depthwise.c), AVX-512 where the
 * CPU has it and portable, against a plain loop over every output and tap:
 * strides 1 to 3, uneven pads, dilations, 1x1 to 5x5 and non-square
 * kernels, odd plane sizes from 1x1 to wider than two vectors, channel
 * multipliers, with and without bias and fused activation, 1 and 2 threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "ops/conv_depthwise.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static int64_t rnd(int64_t n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (int64_t)(rng % (uint64_t)n);
}

static float rndf(void)
{
    return (float)rnd(2001) / 1000.0f - 1.0f;
}

static void reference(const qfd_conv_geom *g, int64_t n, int64_t c, int64_t m, const float *x, const float *w,
                      const float *b, const qfd_act *act, float *y)
{
    const int64_t mg = m / c;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < m; o++)
            for (int64_t oh = 0; oh < g->col[0]; oh++)
                for (int64_t ow = 0; ow < g->col[1]; ow++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t kh = 0; kh < g->k[0]; kh++)
                        for (int64_t kw = 0; kw < g->k[1]; kw++) {
                            const int64_t ih = oh * g->stride[0] - g->pad[0] + kh * g->dil[0];
                            const int64_t iw = ow * g->stride[1] - g->pad[1] + kw * g->dil[1];
                            if (ih >= 0 && ih < g->img[0] && iw >= 0 && iw < g->img[1])
                                s += (double)w[o * g->k_size + kh * g->k[1] + kw] *
                                     x[((i * c + o / mg) * g->img[0] + ih) * g->img[1] + iw];
                        }
                    y[((i * m + o) * g->col[0] + oh) * g->col[1] + ow] = act ? qfd_act_one(act, (float)s) : (float)s;
                }
}

/* One random geometry; returns 0 when its padded input is smaller than the kernel. */
static int random_geom(qfd_conv_geom *g)
{
    static const int64_t ks[][2] = {{3, 3}, {3, 3}, {1, 1}, {5, 5}, {3, 1}, {2, 4}, {1, 7}};
    memset(g, 0, sizeof *g);
    g->nsp = 2;
    const int kc = (int)rnd(sizeof ks / sizeof *ks);
    for (int a = 0; a < 2; a++) {
        g->img[a] = 1 + rnd(a ? 40 : 20);
        g->k[a] = ks[kc][a];
        g->stride[a] = 1 + rnd(3);
        g->dil[a] = 1 + (rnd(4) == 0);
        g->pad[a] = rnd(10) ? rnd(3) : 17; /* wider than a vector, at times */
        const int64_t pe = rnd(3), dk = (g->k[a] - 1) * g->dil[a] + 1;
        if (g->img[a] + g->pad[a] + pe < dk)
            return 0;
        g->col[a] = (g->img[a] + g->pad[a] + pe - dk) / g->stride[a] + 1;
    }
    qfd_conv_geom_finish(g);
    return 1;
}

static void check_case(const qfd_conv_geom *g, int64_t n, int64_t c, int64_t m, int bias, const qfd_act *act,
                       int threads, bool simd, int *worst_case)
{
    const int64_t xn = n * c * g->img_size, yn = n * m * g->col_size;
    float *x = malloc((size_t)xn * sizeof *x), *w = malloc((size_t)(m * g->k_size) * sizeof *w);
    float *b = malloc((size_t)m * sizeof *b), *want = malloc((size_t)yn * sizeof *want);
    float *got = malloc((size_t)yn * sizeof *got);
    float *ws = malloc(qfd_conv_dw_floats(g, n, m, threads, simd) * sizeof *ws + 1);
    if (!x || !w || !b || !want || !got || !ws) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < xn; i++)
        x[i] = rndf();
    for (int64_t i = 0; i < m * g->k_size; i++)
        w[i] = rndf();
    for (int64_t i = 0; i < m; i++)
        b[i] = rndf();
    reference(g, n, c, m, x, w, bias ? b : NULL, act, want);
    for (int64_t i = 0; i < yn; i++)
        got[i] = NAN;
    qfd_conv_dw_forward(g, n, c, m, x, w, bias ? b : NULL, act, got, ws, threads, simd);
    int bad = 0;
    for (int64_t i = 0; i < yn && !bad; i++)
        bad = !(fabsf(got[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])));
    if (bad && (*worst_case)++ < 5)
        fprintf(stderr,
                "%s: img %lldx%lld k %lldx%lld stride %lld,%lld dil %lld,%lld pad %lld,%lld out %lldx%lld "
                "n %lld c %lld m %lld bias %d act %d threads %d differs\n",
                simd ? "avx512" : "portable", (long long)g->img[0], (long long)g->img[1], (long long)g->k[0],
                (long long)g->k[1], (long long)g->stride[0], (long long)g->stride[1], (long long)g->dil[0],
                (long long)g->dil[1], (long long)g->pad[0], (long long)g->pad[1], (long long)g->col[0],
                (long long)g->col[1], (long long)n, (long long)c, (long long)m, bias, act ? act->kind : 0, threads);
    CHECK(!bad);
    free(x), free(w), free(b), free(want), free(got), free(ws);
}

int main(void)
{
    const qfd_act acts[] = {{QFD_ACT_NONE, 0, 0, 0},
                            {QFD_ACT_CLIP, 0.0f, 6.0f, 0},
                            {QFD_ACT_CLIP, 0.0f, INFINITY, 0},
                            {QFD_ACT_LEAKY_RELU, 0, 0, 0.1f}};
    int cases = 0, simd_cases = 0, failures = 0;
    for (int t = 0; t < 400; t++) {
        qfd_conv_geom g;
        if (!random_geom(&g))
            continue;
        const int64_t n = 1 + rnd(3), c = 1 + rnd(5), m = c * (1 + (rnd(4) == 0));
        const int bias = (int)rnd(2), threads = 1 + (int)rnd(2);
        const qfd_act *act = rnd(3) ? &acts[rnd(4)] : NULL;
        check_case(&g, n, c, m, bias, act, threads, false, &failures);
        cases++;
        if (qfd_conv_dw_simd_ok(&g)) {
            check_case(&g, n, c, m, bias, act, threads, true, &failures);
            simd_cases++;
        }
    }
    /* MobileNet's shapes, on enough planes to take two threads (and, for
     * stride 1, the in-place kernel) */
    const int64_t sizes[][2] = {{28, 1}, {28, 2}, {14, 1}, {14, 2}, {7, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        qfd_conv_geom g = {.nsp = 2};
        for (int a = 0; a < 2; a++) {
            g.img[a] = sizes[s][0];
            g.k[a] = 3;
            g.stride[a] = sizes[s][1];
            g.dil[a] = 1;
            g.pad[a] = 1;
            g.col[a] = (g.img[a] + 2 - 3) / g.stride[a] + 1;
        }
        qfd_conv_geom_finish(&g);
        for (int simd = 0; simd < 2; simd++)
            if (!simd || qfd_conv_dw_simd_ok(&g))
                check_case(&g, 4, 64, 64, 1, &acts[1], 2, simd, &failures);
    }
    /* "same" convs (as many output as input columns, stride 1) on 256
     * planes: the AVX-512 kernel reads them in place, masking the taps
     * outside the image */
    const int64_t same[][6] = {/* h, w, k, dil, pad begin, pad end */
                               {1, 1, 3, 1, 1, 1}, {5, 17, 3, 1, 1, 1}, {9, 33, 3, 1, 0, 2},  {6, 16, 5, 1, 2, 2},
                               {7, 7, 3, 2, 2, 2}, {3, 40, 5, 2, 3, 5}, {11, 15, 1, 1, 0, 0}, {2, 3, 7, 1, 3, 3}};
    for (size_t s = 0; s < sizeof same / sizeof *same; s++) {
        qfd_conv_geom g = {.nsp = 2};
        for (int a = 0; a < 2; a++) {
            g.img[a] = same[s][a];
            g.k[a] = same[s][2];
            g.stride[a] = 1;
            g.dil[a] = same[s][3];
            g.pad[a] = same[s][4];
            g.col[a] = g.img[a] + same[s][4] + same[s][5] - (g.k[a] - 1) * g.dil[a];
        }
        qfd_conv_geom_finish(&g);
        CHECK(g.col[1] == g.img[1]);
        for (int simd = 0; simd < 2; simd++)
            if (!simd || qfd_conv_dw_simd_ok(&g))
                check_case(&g, 4, 32, 64, 1, &acts[(s + 1) % 4], 1 + (int)(s % 2), simd, &failures);
    }
    printf("%d random geometries, %d of them also on the AVX-512 kernel\n", cases, simd_cases);
    return TEST_DONE();
}
