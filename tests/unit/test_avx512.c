/* The AVX-512 math of src/ops/avx512.h against libm in double: exp and erf
 * over a sweep of the float range (every 127th bit pattern, both signs) and
 * at the special values. Skipped, and passing, on CPUs without AVX-512. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"
#include "ops/avx512.h"

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

#if QFD_HAVE_AVX512
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
#else
    printf("not an x86-64 GCC/Clang build: nothing to check\n");
#endif
    return TEST_DONE();
}
