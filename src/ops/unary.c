/* The float elementwise functions, one table-driven family:
 *   Relu (1-21)          y = max(x, 0)            also int8/16/32/64 (14+)
 *   LeakyRelu (1-21)     y = x < 0 ? alpha*x : x  alpha = 0.01
 *   Sigmoid (1-21)       y = 1 / (1 + exp(-x))
 *   HardSigmoid (1-21)   y = max(0, min(1, alpha*x + beta))  alpha 0.2, beta 0.5
 *   HardSwish (14-21)    y = x * max(0, min(1, x/6 + 1/2))
 *   Tanh (1-21), Erf (9-21), Sqrt, Exp, Log (1-21)
 *   Gelu (20-21)         y = x/2 * (1 + erf(x/sqrt 2)), or with approximate
 *                        "tanh": x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *                        computed as x / (1 + exp(-2 sqrt(2/pi) (...)))
 *   Neg, Abs (1-21)      also int8/16/32/64 (wrapping: -INT_MIN = INT_MIN)
 *   Reciprocal (1-21)    y = 1/x
 * Backward, dx += dy * f'(x): Relu 1 (x > 0), LeakyRelu 1 or alpha,
 * Sigmoid y(1-y), HardSigmoid alpha inside (0, 1), HardSwish x/3 + 1/2 on
 * [-3, 3] (0 below, 1 above), Tanh 1-y^2, Erf 2/sqrt(pi) exp(-x^2), Gelu
 * Phi(x) + x phi(x) (tanh form: s + x s(1-s) u', s the logistic of u), Sqrt
 * 0.5/y, Exp y, Log 1/x, Neg -1, Abs sign(x), Reciprocal -y^2.
 * Float32 and double; y has x's type and shape. Each op type has its own
 * def, sharing infer and forward; forward switches on the function once per
 * chunk so that the per-element code inlines into the loop. Float32 exp,
 * tanh, erf and gelu use the branch-free approximations below, which
 * vectorise: exp, tanh, erf within 5e-7 relative error of the double
 * result (checked over all finite floats); Log stays libm's. */
#include <math.h>
#include <string.h>

#include "ops/avx512.h"
#include "ops/op.h"

/* exp(x) in float, branch-free so that loops over it vectorise (libm's
 * expf does not without -ffast-math): Cephes' range reduction and degree-5
 * polynomial, about 2 ulp; 2^n is applied in two halves so that n = 128
 * (x near ln FLT_MAX) stays finite. Results below FLT_MIN flush to 0. */
static inline float fexp(float x)
{
    float xc = x < -87.33654f ? -87.33654f : x;
    xc = xc > 88.72283f ? 88.72283f : xc;
    float nf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t n = (int32_t)nf, h = n >> 1;
    uint32_t u1 = (uint32_t)(h + 127) << 23, u2 = (uint32_t)(n - h + 127) << 23;
    float s1, s2;
    memcpy(&s1, &u1, 4);
    memcpy(&s2, &u2, 4);
    float y = p * s1 * s2;
    y = x > 88.72283f ? INFINITY : y;
    y = x < -87.33654f ? 0.0f : y;
    return x != x ? x : y;
}

/* tanh(x) = x P(x^2) / Q(x^2) on [-7.9, 7.9] (Eigen's rational
 * approximation), +-1 beyond, x itself where |x| < 4e-4. */
static inline float ftanh(float x)
{
    float xc = x < -7.90531110763549805f ? -7.90531110763549805f : x;
    xc = xc > 7.90531110763549805f ? 7.90531110763549805f : xc;
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float y = p / q;
    return fabsf(x) < 0.0004f ? x : y;
}

/* erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (Eigen's rational approximation),
 * +-1 beyond. */
static inline float ferf(float x)
{
    float xc = x < -4.0f ? -4.0f : x;
    xc = xc > 4.0f ? 4.0f : xc;
    float x2 = xc * xc;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * xc;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p / q;
}

enum {
    RELU,
    LEAKY,
    SIGMOID,
    HSIGMOID,
    HSWISH,
    TANH,
    ERF,
    GELU,
    GELU_TANH,
    SQRT,
    EXP,
    LOG,
    NEG,
    ABS,
    RECIP,
};

typedef struct un_state {
    int kind;
    float alpha, beta;
} un_state;

/* Gelu x/2 (1 + erf(x/sqrt 2)) = x/2 erfc(-x/sqrt 2), with erfc from
 * Numerical Recipes' erfcc (fractional error < 1.2e-7) so that the tail at
 * negative x keeps its relative accuracy (1 + erf cancels there); within
 * 2e-6 relative of the double result for x > -10. */
static inline float fgelu(float x)
{
    float z = fabsf(x) * 0.70710678118654752440f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t + -0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t + -1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t + -0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t + -1.26551223f;
    float c = t * fexp(p - z * z); /* erfc(z) */
    return 0.5f * x * (x < 0 ? c : 2.0f - c);
}

static inline double dgelu(double x)
{
    return 0.5 * x * erfc(-x * 0.70710678118654752440);
}

/* The float and double loops, written once. */
#define UNARY_APPLY(NAME, T, F_EXP, F_TANH, F_ERF, F_GELU, F_SQRT, F_LOG, F_ABS)              \
    static void NAME(const un_state *s, const T *x, T *y, int64_t n)                          \
    {                                                                                         \
        const T al = (T)s->alpha, be = (T)s->beta;                                            \
        switch (s->kind) {                                                                    \
        case RELU:                                                                            \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = x[i] < 0 ? (T)0 : x[i];                                                \
            break;                                                                            \
        case LEAKY:                                                                           \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = x[i] < 0 ? al * x[i] : x[i];                                           \
            break;                                                                            \
        case SIGMOID:                                                                         \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = (T)1 / ((T)1 + F_EXP(-x[i]));                                          \
            break;                                                                            \
        case HSIGMOID:                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                 \
                T v = al * x[i] + be; /* compared so that a NaN passes */                     \
                v = v > 1 ? (T)1 : v;                                                         \
                y[i] = v < 0 ? (T)0 : v;                                                      \
            }                                                                                 \
            break;                                                                            \
        case HSWISH:                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                 \
                T v = x[i] * ((T)1 / 6) + (T)0.5;                                             \
                v = v < 1 ? v : (T)1;                                                         \
                y[i] = x[i] * (v > 0 ? v : (T)0);                                             \
            }                                                                                 \
            break;                                                                            \
        case TANH:                                                                            \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_TANH(x[i]);                                                          \
            break;                                                                            \
        case ERF:                                                                             \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_ERF(x[i]);                                                           \
            break;                                                                            \
        case GELU:                                                                            \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_GELU(x[i]);                                                          \
            break;                                                                            \
        case GELU_TANH:                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                 \
                T v = x[i];                                                                   \
                T u = (T)1.5957691216057307118 * (v + (T)0.044715 * v * v * v);               \
                y[i] = v / ((T)1 + F_EXP(-u)); /* x/2 (1 + tanh(u/2)) without cancellation */ \
            }                                                                                 \
            break;                                                                            \
        case SQRT:                                                                            \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_SQRT(x[i]);                                                          \
            break;                                                                            \
        case EXP:                                                                             \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_EXP(x[i]);                                                           \
            break;                                                                            \
        case LOG:                                                                             \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_LOG(x[i]);                                                           \
            break;                                                                            \
        case NEG:                                                                             \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = -x[i];                                                                 \
            break;                                                                            \
        case ABS:                                                                             \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = F_ABS(x[i]);                                                           \
            break;                                                                            \
        default:                                                                              \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = (T)1 / x[i];                                                           \
            break;                                                                            \
        }                                                                                     \
    }
UNARY_APPLY(apply_f32, float, fexp, ftanh, ferf, fgelu, sqrtf, logf, fabsf)
UNARY_APPLY(apply_f64, double, exp, tanh, erf, dgelu, sqrt, log, fabs)

/* Phi(x) = 1/2 erfc(-x/sqrt 2), the normal CDF, as in fgelu. */
static inline float fcdf(float x)
{
    float z = fabsf(x) * 0.70710678118654752440f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t + -0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t + -1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t + -0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t + -1.26551223f;
    float c = t * fexp(p - z * z);
    return 0.5f * (x < 0 ? c : 2.0f - c);
}

static inline double dcdf(double x)
{
    return 0.5 * erfc(-x * 0.70710678118654752440);
}

/* dx += dy * f'(x), from the forward output y where that is cheaper.
 * Kinks follow PyTorch: Relu' (0) = 0, LeakyRelu' (0) = alpha, Abs' (0) = 0,
 * HardSigmoid' = alpha strictly inside (0, 1), HardSwish' = x/3 + 1/2 on
 * [-3, 3]. */
#define UNARY_GRAD(NAME, T, F_EXP, F_ERF, F_CDF)                                                            \
    static void NAME(const un_state *s, const T *x, const T *y, const float *dy, float *dx, int64_t n)      \
    {                                                                                                       \
        const T al = (T)s->alpha, be = (T)s->beta;                                                          \
        switch (s->kind) {                                                                                  \
        case RELU: /* loads hoisted out of the selects: gcc then vectorises */                              \
            for (int64_t i = 0; i < n; i++) {                                                               \
                const T v = y[i]; /* y > 0 exactly where x > 0, NaN and -0 included */                      \
                const float g = dy[i];                                                                      \
                dx[i] += v > 0 ? g : 0.0f;                                                                  \
            }                                                                                               \
            break;                                                                                          \
        case LEAKY:                                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                               \
                const T v = x[i], g = (T)dy[i];                                                             \
                dx[i] += (float)(v > 0 ? g : al * g);                                                       \
            }                                                                                               \
            break;                                                                                          \
        case SIGMOID:                                                                                       \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)dy[i] * y[i] * ((T)1 - y[i]));                                          \
            break;                                                                                          \
        case HSIGMOID:                                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                               \
                const T v = al * x[i] + be, g = al * (T)dy[i];                                              \
                dx[i] += (float)(v > 0 && v < 1 ? g : (T)0);                                                \
            }                                                                                               \
            break;                                                                                          \
        case HSWISH:                                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                               \
                const T v = x[i], d = (T)dy[i], g = v < -3 ? (T)0 : v > 3 ? (T)1 : v * ((T)1 / 3) + (T)0.5; \
                dx[i] += (float)(g * d);                                                                    \
            }                                                                                               \
            break;                                                                                          \
        case TANH:                                                                                          \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)dy[i] * ((T)1 - y[i] * y[i]));                                          \
            break;                                                                                          \
        case ERF: /* 2/sqrt(pi) exp(-x^2) */                                                                \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)dy[i] * (T)1.1283791670955125739 * F_EXP(-x[i] * x[i]));                \
            break;                                                                                          \
        case GELU: /* Phi(x) + x phi(x) */                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                               \
                T v = x[i];                                                                                 \
                T g = F_CDF(v) + v * (T)0.39894228040143267794 * F_EXP((T)-0.5 * v * v);                    \
                dx[i] += (float)(g * (T)dy[i]);                                                             \
            }                                                                                               \
            break;                                                                                          \
        case GELU_TANH: /* y = x s(u), s the logistic: y' = s + x s (1 - s) u' */                           \
            for (int64_t i = 0; i < n; i++) {                                                               \
                T v = x[i];                                                                                 \
                T u = (T)1.5957691216057307118 * (v + (T)0.044715 * v * v * v);                             \
                T du = (T)1.5957691216057307118 * ((T)1 + (T)0.134145 * v * v);                             \
                T sg = (T)1 / ((T)1 + F_EXP(-u));                                                           \
                dx[i] += (float)((sg + v * sg * ((T)1 - sg) * du) * (T)dy[i]);                              \
            }                                                                                               \
            break;                                                                                          \
        case SQRT:                                                                                          \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)0.5 * (T)dy[i] / y[i]);                                                 \
            break;                                                                                          \
        case EXP:                                                                                           \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)dy[i] * y[i]);                                                          \
            break;                                                                                          \
        case LOG:                                                                                           \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] += (float)((T)dy[i] / x[i]);                                                          \
            break;                                                                                          \
        case NEG:                                                                                           \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] -= dy[i];                                                                             \
            break;                                                                                          \
        case ABS:                                                                                           \
            for (int64_t i = 0; i < n; i++) {                                                               \
                const T v = x[i];                                                                           \
                const float g = dy[i];                                                                      \
                dx[i] += v > 0 ? g : v < 0 ? -g : 0.0f;                                                     \
            }                                                                                               \
            break;                                                                                          \
        default: /* -1/x^2 = -y^2 */                                                                        \
            for (int64_t i = 0; i < n; i++)                                                                 \
                dx[i] -= (float)((T)dy[i] * y[i] * y[i]);                                                   \
            break;                                                                                          \
        }                                                                                                   \
    }
UNARY_GRAD(grad_f32, float, fexp, ferf, fcdf)
UNARY_GRAD(grad_f64, double, exp, erf, dcdf)

/* Relu, Neg, Abs on signed integers, in the unsigned type U so that
 * negating the minimum wraps instead of overflowing. */
#define UNARY_INT(T, U)                                          \
    static void apply_##T(int kind, const T *x, T *y, int64_t n) \
    {                                                            \
        switch (kind) {                                          \
        case RELU:                                               \
            for (int64_t i = 0; i < n; i++)                      \
                y[i] = x[i] < 0 ? 0 : x[i];                      \
            break;                                               \
        case NEG:                                                \
            for (int64_t i = 0; i < n; i++)                      \
                y[i] = (T)(0 - (U)x[i]);                         \
            break;                                               \
        default:                                                 \
            for (int64_t i = 0; i < n; i++)                      \
                y[i] = x[i] < 0 ? (T)(0 - (U)x[i]) : x[i];       \
            break;                                               \
        }                                                        \
    }
UNARY_INT(int8_t, uint32_t)
UNARY_INT(int16_t, uint32_t)
UNARY_INT(int32_t, uint32_t)
UNARY_INT(int64_t, uint64_t)

#if QFD_HAVE_AVX512
/* Float32 Erf, Exp and Sigmoid with the AVX-512 functions of avx512.h
 * (about 1 ulp, tighter than ferf and fexp above; Sigmoid 1 / (1 + exp(-x))
 * within 2), 16 lanes at a time, the tail masked. Sigmoid is half of SiLU,
 * x * sigmoid(x), the activation of every EfficientNet layer: scalar, it
 * took 45% of efficientnet_b0's inference. */
static QFD_AVX512_FN void apply_f32_avx512(int kind, const float *x, float *y, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = qfd_mask16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i), r;
        if (kind == SIGMOID)
            r = _mm512_div_ps(one, _mm512_add_ps(one, qfd_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        else
            r = kind == ERF ? qfd_erf512(v) : qfd_exp512(v);
        _mm512_mask_storeu_ps(y + i, k, r);
    }
}
#endif

static void apply(const un_state *s, int32_t dt, const void *x, void *y, int64_t i0, int64_t n)
{
#if QFD_HAVE_AVX512
    if (dt == QFD_DT_FLOAT && (s->kind == ERF || s->kind == EXP || s->kind == SIGMOID) && qfd_cpu_avx512()) {
        apply_f32_avx512(s->kind, (const float *)x + i0, (float *)y + i0, n);
        return;
    }
#endif
    switch (dt) {
    case QFD_DT_FLOAT: apply_f32(s, (const float *)x + i0, (float *)y + i0, n); break;
    case QFD_DT_DOUBLE: apply_f64(s, (const double *)x + i0, (double *)y + i0, n); break;
    case QFD_DT_INT8: apply_int8_t(s->kind, (const int8_t *)x + i0, (int8_t *)y + i0, n); break;
    case QFD_DT_INT16: apply_int16_t(s->kind, (const int16_t *)x + i0, (int16_t *)y + i0, n); break;
    case QFD_DT_INT32: apply_int32_t(s->kind, (const int32_t *)x + i0, (int32_t *)y + i0, n); break;
    default: apply_int64_t(s->kind, (const int64_t *)x + i0, (int64_t *)y + i0, n); break;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const un_state *s = oc->state;
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and one output");
    int dt = x->dtype;
    int ok = dt == QFD_DT_FLOAT || dt == QFD_DT_DOUBLE;
    if (dt == QFD_DT_INT8 || dt == QFD_DT_INT16 || dt == QFD_DT_INT32 || dt == QFD_DT_INT64)
        ok = s->kind == RELU || s->kind == NEG || s->kind == ABS;
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "type %s is not supported",
                           qfd_dtype_name(dt) ? qfd_dtype_name(dt) : "?");
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const un_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    int64_t n = qfd_array_numel(x);
    /* Transcendentals cost enough to thread smaller tensors. */
    int cheap = s->kind == RELU || s->kind == LEAKY || s->kind == HSIGMOID || s->kind == HSWISH || s->kind == NEG ||
                s->kind == ABS || s->kind == RECIP;
    int nt = n > (cheap ? 65536 : 16384) && oc->n_threads > 1 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
        apply(s, x->dtype, x->data, oc->out[0]->data, i0, i1 - i0);
    }
    return QFD_OK;
}

/* Float32 and double x (its gradient is float32); integer x gets none. */
static qfd_status backward(qfd_op_ctx *oc)
{
    const un_state *s = oc->state;
    const qfd_array *x = oc->in[0], *y = oc->out[0];
    if (!oc->gin[0] || !oc->gout[0] || (x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE))
        return QFD_OK;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    int64_t n = qfd_array_numel(x);
    int cheap = s->kind != ERF && s->kind != GELU && s->kind != GELU_TANH;
    int nt = n > (cheap ? 65536 : 16384) && oc->n_threads > 1 ? oc->n_threads : 1;
    const bool write = oc->gin_fresh & 1u;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
        if (write) /* grad_writes: float Relu only */
            for (int64_t i = i0; i < i1; i++) {
                const float v = ((const float *)y->data)[i], g = dy[i];
                dx[i] = v > 0 ? g : 0.0f;
            }
        else if (x->dtype == QFD_DT_FLOAT)
            grad_f32(s, (const float *)x->data + i0, (const float *)y->data + i0, dy + i0, dx + i0, i1 - i0);
        else
            grad_f64(s, (const double *)x->data + i0, (const double *)y->data + i0, dy + i0, dx + i0, i1 - i0);
    }
    return QFD_OK;
}

/* Relu's gradient, the one on every CNN's training path, is written
 * outright into a gradient that starts its life here. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    const un_state *s = oc->state;
    return k == 0 && s->kind == RELU && oc->gout[0] && oc->in[0]->dtype == QFD_DT_FLOAT;
}

/* Relu, Sigmoid, Tanh, Sqrt, Exp and Reciprocal need only y, Neg nothing:
 * a Conv -> Relu pair then keeps one tensor for backward, not two. */
static uint32_t backward_reads(const qfd_op_ctx *oc)
{
    switch (((const un_state *)oc->state)->kind) {
    case RELU:
    case SIGMOID:
    case TANH:
    case SQRT:
    case EXP:
    case RECIP: return QFD_READS_OUT(0);
    case NEG: return 0;
    default: return QFD_READS_IN(0);
    }
}

static qfd_status parse_common(qfd_op_ctx *oc, un_state *s, int kind)
{
    s->kind = kind;
    if (kind == LEAKY)
        s->alpha = qfd_attr_float(oc->node, "alpha", 0.01f);
    if (kind == HSIGMOID) {
        s->alpha = qfd_attr_float(oc->node, "alpha", 0.2f);
        s->beta = qfd_attr_float(oc->node, "beta", 0.5f);
    }
    if (kind == GELU) {
        const char *a = qfd_attr_str(oc->node, "approximate", "none");
        if (!strcmp(a, "tanh"))
            s->kind = GELU_TANH;
        else if (strcmp(a, "none"))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "approximate '%s' is not supported (none, tanh)", a);
    }
    return QFD_OK;
}

#define UNARY_DEF(sym, NAME, SINCE, KIND)                            \
    static qfd_status parse_##sym(qfd_op_ctx *oc, void *state)       \
    {                                                                \
        return parse_common(oc, state, KIND);                        \
    }                                                                \
    const qfd_op_def qfd_op_##sym = {.name = NAME,                   \
                                     .domain = "",                   \
                                     .since = SINCE,                 \
                                     .flags = QFD_OP_REMAT,          \
                                     .param_role = QFD_ROLES_PASS0,  \
                                     .state_size = sizeof(un_state), \
                                     .parse = parse_##sym,           \
                                     .infer = infer,                 \
                                     .forward = forward,             \
                                     .backward = backward,           \
                                     .grad_writes = grad_writes,     \
                                     .backward_reads = backward_reads};

UNARY_DEF(relu, "Relu", 1, RELU)
UNARY_DEF(leakyrelu, "LeakyRelu", 1, LEAKY)
UNARY_DEF(sigmoid, "Sigmoid", 1, SIGMOID)
UNARY_DEF(hardsigmoid, "HardSigmoid", 1, HSIGMOID)
UNARY_DEF(hardswish, "HardSwish", 14, HSWISH)
UNARY_DEF(tanh, "Tanh", 1, TANH)
UNARY_DEF(erf, "Erf", 9, ERF)
UNARY_DEF(gelu, "Gelu", 20, GELU)
UNARY_DEF(sqrt, "Sqrt", 1, SQRT)
UNARY_DEF(exp, "Exp", 1, EXP)
UNARY_DEF(log, "Log", 1, LOG)
UNARY_DEF(neg, "Neg", 1, NEG)
UNARY_DEF(abs, "Abs", 1, ABS)
UNARY_DEF(reciprocal, "Reciprocal", 1, RECIP)
