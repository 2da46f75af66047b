/* AVX-512 building blocks for op kernels, and the run-time check that
 * guards them. The library is built for the baseline x86-64 ISA (SSE2), so
 * a kernel that wants AVX-512 is a separate function marked
 * QFD_AVX512_FN, called only when qfd_cpu_avx512() says the CPU has it;
 * the portable code stays the fallback. The helpers here have the same
 * target and are always inlined into those kernels.
 *
 * On other compilers or architectures, or when built with -DQFD_NO_AVX512
 * (to test the portable paths on an AVX-512 machine), QFD_HAVE_AVX512 is 0
 * and qfd_cpu_avx512() is false: callers need no #if around the dispatch,
 * only around the AVX-512 kernels themselves. */
#ifndef QFD_OPS_AVX512_H
#define QFD_OPS_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(QFD_NO_AVX512)
#define QFD_HAVE_AVX512 1
#include <immintrin.h>

#define QFD_AVX512_FN __attribute__((target("avx512f")))
/* The helpers below are always inlined: a plain inline function may be
 * left out of line when the caller's optimisation options differ (a
 * `#pragma GCC optimize` did that once), and a call per vector would cost
 * more than the math. */
#define QFD_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* __builtin_cpu_supports reads what libgcc's constructor found once: cheap
 * enough to ask per call, and no state of ours. */
static inline bool qfd_cpu_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* Lanes [0, n) of a 16-lane vector, for loop tails (n in 0..16). */
QFD_AVX512_INLINE __mmask16 qfd_mask16(int64_t n)
{
    return (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

/* exp(x) per lane, within 1.01 ulp of the exact result over the whole float
 * range (tests/unit/test_avx512.c): Cephes' reduction x = n ln2 + r,
 * |r| <= ln2/2, with ln2 split in two so that n ln2 is exact, its degree-6
 * polynomial for e^r, and scalef for the 2^n, which rounds subnormal
 * results once and overflows to inf by itself. The clamp keeps n finite
 * (-inf would make r NaN) and lets NaN through: max/min return their second
 * operand when either is NaN. */
QFD_AVX512_INLINE __m512 qfd_exp512(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x); /* e^-104 < half the smallest subnormal */
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);   /* e^89 > FLT_MAX */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* erf(x) per lane, within 1.02 ulp (tests/unit/test_avx512.c): the two
 * branches of N. Juffa's faithfully rounded erff (published on Stack
 * Overflow, "Efficient faithfully-rounded implementation of error function
 * erff"), both computed and blended. Below |x| = 0.9277, erf(x) = x +
 * x P(x^2); above, erf(|x|) = 1 - exp(Q(|x|)) with Q ~ log erfc, whose
 * exp never cancels against the 1. NaN goes through the first branch
 * unchanged; +-inf give +-1. */
QFD_AVX512_INLINE __m512 qfd_erf512(__m512 a)
{
    __m512 t = _mm512_abs_ps(a), s = _mm512_mul_ps(a, a);
    __m512 lo = _mm512_set1_ps(-5.96761703e-4f);
    lo = _mm512_fmadd_ps(lo, s, _mm512_set1_ps(4.99119423e-3f));
    lo = _mm512_fmadd_ps(lo, s, _mm512_set1_ps(-2.67681349e-2f));
    lo = _mm512_fmadd_ps(lo, s, _mm512_set1_ps(1.12819925e-1f));
    lo = _mm512_fmadd_ps(lo, s, _mm512_set1_ps(-3.76125336e-1f));
    lo = _mm512_fmadd_ps(lo, s, _mm512_set1_ps(1.28379166e-1f));
    lo = _mm512_fmadd_ps(lo, a, a);
    __mmask16 big = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.927734375f), _CMP_GT_OQ);
    if (!big)
        return lo;
    __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(-1.72853470e-5f), t, _mm512_set1_ps(3.83197126e-4f));
    __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(-3.88396438e-3f), t, _mm512_set1_ps(2.42546219e-2f));
    hi = _mm512_fmadd_ps(hi, s, u);
    hi = _mm512_fmadd_ps(hi, t, _mm512_set1_ps(-1.06777877e-1f));
    hi = _mm512_fmadd_ps(hi, t, _mm512_set1_ps(-6.34846687e-1f));
    hi = _mm512_fmadd_ps(hi, t, _mm512_set1_ps(-1.28717512e-1f));
    hi = _mm512_fmadd_ps(hi, t, _mm512_sub_ps(_mm512_setzero_ps(), t));
    hi = _mm512_sub_ps(_mm512_set1_ps(1.0f), qfd_exp512(hi));
    /* copysign: the magnitude from hi (>= 0), the sign bit from a */
    __m512i sign = _mm512_and_epi32(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u));
    hi = _mm512_castsi512_ps(_mm512_or_epi32(_mm512_castps_si512(hi), sign));
    return _mm512_mask_blend_ps(big, lo, hi);
}

#else
#define QFD_HAVE_AVX512 0
static inline bool qfd_cpu_avx512(void)
{
    return false;
}
#endif

#endif
