/* The AVX-512 math of src/ops/avx512.h against libm in double: exp and erf
 * over a sweep of the float range (every 127th bit pattern, both signs) and
 * at the special values; the sgemm of gemm_avx512.c against a naive
 * product over tile edges. Skipped, and passing, on CPUs without AVX-512;
 * in a build without the kernels, only the sgemm's portable loops. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "ops/avx512.h"
#include "ops/gemm_avx512.h"

#if QFD_HAVE_AVX512
/* Distance from y to the exact value ref in units of the last place of the
 * float nearest ref (subnormal spacing below FLT_MIN). */
static double ulps(float y, double ref)
{
    if (isinf(ref) || fabs(ref) > FLT_MAX)
        return isinf(y) && (y > 0) == (ref > 0) ? 0.0 : INFINITY;
    double a = fabs(ref) < FLT_MIN ? FLT_MIN : fabs(ref);
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1): a float's ulp there is 2^(e - 24) */
    return fabs((double)y - ref) / ldexp(1.0, e - 24);
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

enum { EXP, ERF };

static QFD_AVX512_FN void apply16(int fn, const float *x, float *y)
{
    __m512 v = _mm512_loadu_ps(x);
    _mm512_storeu_ps(y, fn == EXP ? qfd_exp512(v) : qfd_erf512(v));
}

/* Largest ulp error of fn over the sweep; NaN outputs for non-NaN inputs
 * count as infinite. */
static double sweep(int fn)
{
    double worst = 0;
    float x[16], y[16];
    int k = 0;
    for (uint64_t u = 0; u < 0x7F800000u; u += 127) {
        for (int s = 0; s < 2; s++) {
            x[k++] = from_bits((uint32_t)u | (s ? 0x80000000u : 0));
            if (k < 16)
                continue;
            apply16(fn, x, y);
            for (int i = 0; i < 16; i++) {
                double ref = fn == EXP ? exp((double)x[i]) : erf((double)x[i]);
                double d = isnan(y[i]) ? INFINITY : ulps(y[i], ref);
                if (d > worst) {
                    worst = d;
                    if (d > 2)
                        fprintf(stderr, "%s(%.9g) = %.9g, want %.9g (%.2f ulp)\n", fn == EXP ? "exp" : "erf",
                                (double)x[i], (double)y[i], ref, d);
                }
            }
            k = 0;
        }
    }
    return worst;
}

static float one(int fn, float v)
{
    float x[16], y[16];
    for (int i = 0; i < 16; i++)
        x[i] = v;
    apply16(fn, x, y);
    for (int i = 1; i < 16; i++)
        CHECK(memcmp(&y[i], &y[0], sizeof y[0]) == 0);
    return y[0];
}

static void specials(void)
{
    CHECK(isnan(one(EXP, NAN)));
    CHECK(isnan(one(EXP, -NAN)));
    CHECK(one(EXP, INFINITY) == INFINITY);
    CHECK(one(EXP, -INFINITY) == 0.0f);
    CHECK(one(EXP, 0.0f) == 1.0f);
    CHECK(one(EXP, -0.0f) == 1.0f);
    CHECK(one(EXP, 88.8f) == INFINITY);
    CHECK(one(EXP, FLT_MAX) == INFINITY);
    CHECK(one(EXP, -FLT_MAX) == 0.0f);
    CHECK(one(EXP, -110.0f) == 0.0f);
    CHECK(isfinite(one(EXP, 88.72f)));
    /* subnormal results keep their value, to an ulp of the subnormal spacing */
    CHECK(ulps(one(EXP, -100.0f), exp(-100.0)) <= 1);
    CHECK(ulps(one(EXP, -88.0f), exp(-88.0)) <= 1);
    CHECK(one(EXP, 1e-30f) == 1.0f);

    CHECK(isnan(one(ERF, NAN)));
    CHECK(one(ERF, INFINITY) == 1.0f);
    CHECK(one(ERF, -INFINITY) == -1.0f);
    CHECK(one(ERF, FLT_MAX) == 1.0f);
    CHECK(one(ERF, -FLT_MAX) == -1.0f);
    CHECK(one(ERF, 0.0f) == 0.0f && !signbit(one(ERF, 0.0f)));
    CHECK(one(ERF, -0.0f) == 0.0f && signbit(one(ERF, -0.0f)));
    CHECK(one(ERF, 10.0f) == 1.0f);
    CHECK(one(ERF, -10.0f) == -1.0f);
    float tiny = from_bits(1); /* the smallest subnormal: erf(x) ~ 1.128 x */
    CHECK(ulps(one(ERF, tiny * 1000), erf((double)(tiny * 1000))) <= 1);
}

/* qfd_mask16 selects exactly the first n lanes. */
static QFD_AVX512_FN void masks(void)
{
    for (int n = 0; n <= 16; n++)
        CHECK(qfd_mask16(n) == (n == 16 ? 0xFFFFu : (1u << n) - 1u));
    CHECK(qfd_mask16(40) == 0xFFFFu);
}
#endif

/* C = A B (or C += A B) for an m x n x k product with padded strides,
 * against double sums; the padding around C must stay untouched. */
static void gemm_case(int64_t m, int64_t n, int64_t k, bool accumulate)
{
    int64_t lda = k + 3, ldb = n + 5, ldc = n + 2;
    float *a = malloc((size_t)(m * lda + 1) * sizeof *a), *b = malloc((size_t)(k * ldb + 1) * sizeof *b);
    float *c = malloc((size_t)(m * ldc + 1) * sizeof *c);
    if (!a || !b || !c) {
        CHECK(!"out of memory");
        free(a), free(b), free(c);
        return;
    }
    for (int64_t i = 0; i < m * lda; i++)
        a[i] = (float)((i * 7919) % 13) * 0.125f - 0.75f;
    for (int64_t i = 0; i < k * ldb; i++)
        b[i] = (float)((i * 104729) % 11) * 0.25f - 1.25f;
    for (int64_t i = 0; i < m * ldc; i++)
        c[i] = (float)(i % 3) - 1.0f;
    qfd_gemm_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double want = (double)((i * ldc + j) % 3) - 1.0;
            if (j < n) {
                double s = accumulate ? want : 0.0;
                for (int64_t p = 0; p < k; p++)
                    s += (double)a[i * lda + p] * b[p * ldb + j];
                want = s;
            }
            bad += fabs(c[i * ldc + j] - want) > 1e-4 * (1.0 + fabs(want));
        }
    if (bad)
        fprintf(stderr, "gemm %lldx%lldx%lld%s: %d wrong\n", (long long)m, (long long)n, (long long)k,
                accumulate ? " (accumulate)" : "", bad);
    CHECK(bad == 0);
    free(a);
    free(b);
    free(c);
}

static void gemms(void)
{
    const int64_t ms[] = {1, 5, 6, 7, 13, 49}, ns[] = {1, 15, 16, 17, 49, 64, 65, 130, 192}, ks[] = {0, 1, 16, 64};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 9; j++)
            for (int p = 0; p < 4; p++)
                gemm_case(ms[i], ns[j], ks[p], (i + j + p) % 2);
}

int main(void)
{
#if QFD_HAVE_AVX512
    if (!qfd_cpu_avx512()) {
        printf("no AVX-512 on this CPU: nothing to check\n");
        return TEST_DONE();
    }
    double e = sweep(EXP), f = sweep(ERF);
    printf("largest error: exp %.3f ulp, erf %.3f ulp\n", e, f);
    CHECK(e <= 1.5);
    CHECK(f <= 2.0);
    specials();
    masks();
    gemms();
#else
    printf("built without the AVX-512 kernels: only the sgemm's portable loops to check\n");
    gemms();
#endif
    return TEST_DONE();
}
