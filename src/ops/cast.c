/* Cast (opsets 1-21): y = x converted to the type `to` (opset 1: a type
 * name string such as "FLOAT"; from 6: a TensorProto.DataType code), among
 * float32, float16, bfloat16, double, int8/16/32/64, uint8/16/32/64, bool.
 * Float to integer truncates toward zero; NaN gives 0 and values beyond
 * int64 saturate, then narrower integers wrap as in numpy. To bool: x != 0.
 * Float16/bfloat16 round to nearest even. String, float8 and 4-bit types
 * (and so `saturate`, which only concerns float8) are unsupported.
 * Backward: dx = dy between float types (float32, float16, bfloat16,
 * double); no gradient through an integer or bool type. */
#include <string.h>

#include "ops/op.h"

static float h2f(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0x1f) {
        u = s | 0x7f800000u | m << 13;
    } else if (e) {
        u = s | (e + 112) << 23 | m << 13;
    } else if (m) { /* subnormal: normalise */
        e = 113;
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        u = s | e << 23 | (m & 0x3ff) << 13;
    } else {
        u = s;
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t f2h(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN */
        return s | 0x7e00;
    if (a >= 0x477ff000u) /* rounds to >= 65520: inf */
        return s | 0x7c00;
    if (a < 0x38800000u) { /* below the smallest normal half */
        float v;
        memcpy(&v, &a, sizeof v);
        /* adding 0.5 scales the subnormal's bits into the low mantissa with
         * the FPU's round-to-nearest-even */
        v += 0.5f;
        uint32_t w;
        memcpy(&w, &v, sizeof w);
        return s | (uint16_t)(w - 0x3f000000u);
    }
    uint32_t odd = (a >> 13) & 1;
    a += 0xc8000fffu + odd; /* rebias exponent (-112 << 23) and round */
    return s | (uint16_t)(a >> 13);
}

static float bf2f(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t f2bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static int64_t d2i64(double v)
{
    return v != v ? 0 : v <= -9223372036854775808.0 ? INT64_MIN : v >= 9223372036854775808.0 ? INT64_MAX : (int64_t)v;
}

static uint64_t d2u64(double v)
{
    return v != v ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX : v >= 0 ? (uint64_t)v : (uint64_t)d2i64(v);
}

/* Value conversions: _Generic picks the float rule for float sources. */
#define TO_INT(T, v) _Generic((v), float : (T)d2i64(v), double : (T)d2i64(v), default : (T)(v))
#define CV_FLOAT(v) ((float)(v))
#define CV_DOUBLE(v) ((double)(v))
#define CV_INT8(v) TO_INT(int8_t, v)
#define CV_INT16(v) TO_INT(int16_t, v)
#define CV_INT32(v) TO_INT(int32_t, v)
#define CV_INT64(v) TO_INT(int64_t, v)
#define CV_UINT8(v) TO_INT(uint8_t, v)
#define CV_UINT16(v) TO_INT(uint16_t, v)
#define CV_UINT32(v) TO_INT(uint32_t, v)
#define CV_UINT64(v) _Generic((v), float : d2u64(v), double : d2u64(v), default : (uint64_t)(v))
#define CV_BOOL(v) ((uint8_t)((v) != 0))
#define CV_FLOAT16(v) f2h((float)(v))
#define CV_BFLOAT16(v) f2bf((float)(v))

/* Loaders: the value of element i of a source. */
#define LOADER(C, T, V, EXPR)                        \
    static inline V ld_##C(const void *p, int64_t i) \
    {                                                \
        const T *s = p;                              \
        return EXPR;                                 \
    }
LOADER(FLOAT, float, float, s[i])
LOADER(DOUBLE, double, double, s[i])
LOADER(INT8, int8_t, int8_t, s[i])
LOADER(INT16, int16_t, int16_t, s[i])
LOADER(INT32, int32_t, int32_t, s[i])
LOADER(INT64, int64_t, int64_t, s[i])
LOADER(UINT8, uint8_t, uint8_t, s[i])
LOADER(UINT16, uint16_t, uint16_t, s[i])
LOADER(UINT32, uint32_t, uint32_t, s[i])
LOADER(UINT64, uint64_t, uint64_t, s[i])
LOADER(BOOL, uint8_t, uint8_t, (uint8_t)(s[i] != 0))
LOADER(FLOAT16, uint16_t, float, h2f(s[i]))
LOADER(BFLOAT16, uint16_t, float, bf2f(s[i]))

/* X(code, storage type); two copies because a macro cannot nest itself. */
#define SRC_TYPES(X)     \
    X(FLOAT, float)      \
    X(DOUBLE, double)    \
    X(INT8, int8_t)      \
    X(INT16, int16_t)    \
    X(INT32, int32_t)    \
    X(INT64, int64_t)    \
    X(UINT8, uint8_t)    \
    X(UINT16, uint16_t)  \
    X(UINT32, uint32_t)  \
    X(UINT64, uint64_t)  \
    X(BOOL, uint8_t)     \
    X(FLOAT16, uint16_t) \
    X(BFLOAT16, uint16_t)
#define DST_TYPES(X, S)     \
    X(S, FLOAT, float)      \
    X(S, DOUBLE, double)    \
    X(S, INT8, int8_t)      \
    X(S, INT16, int16_t)    \
    X(S, INT32, int32_t)    \
    X(S, INT64, int64_t)    \
    X(S, UINT8, uint8_t)    \
    X(S, UINT16, uint16_t)  \
    X(S, UINT32, uint32_t)  \
    X(S, UINT64, uint64_t)  \
    X(S, BOOL, uint8_t)     \
    X(S, FLOAT16, uint16_t) \
    X(S, BFLOAT16, uint16_t)

#define DST_CASE(S, D, DT)                 \
    case QFD_DT_##D: {                     \
        DT *y = dst;                       \
        for (int64_t i = i0; i < i1; i++)  \
            y[i] = CV_##D(ld_##S(src, i)); \
    } break;
#define SRC_FN(S, ST)                                                                         \
    static void cast_from_##S(const void *src, void *dst, int32_t to, int64_t i0, int64_t i1) \
    {                                                                                         \
        switch (to) {                                                                         \
            DST_TYPES(DST_CASE, S)                                                            \
        default: break;                                                                       \
        }                                                                                     \
    }
SRC_TYPES(SRC_FN)

static int type_ok(int32_t dt)
{
    switch (dt) {
#define CASE(C, T) case QFD_DT_##C:
        SRC_TYPES(CASE)
#undef CASE
        return 1;
    default: return 0;
    }
}

static void cast(int32_t from, int32_t to, const void *src, void *dst, int64_t i0, int64_t i1)
{
    switch (from) {
#define CASE(C, T) \
    case QFD_DT_##C: cast_from_##C(src, dst, to, i0, i1); break;
        SRC_TYPES(CASE)
#undef CASE
    default: break;
    }
}

/* The target type code; opset 1 names it with a string. */
static int32_t target(const qfd_op_ctx *oc)
{
    const qfd_attr *a = qfd_attr_get(oc->node, "to");
    if (!a)
        return -1;
    if (a->has_i)
        return (int32_t)a->i;
    static const char *const names[] = {
        [QFD_DT_FLOAT] = "FLOAT",     [QFD_DT_UINT8] = "UINT8",       [QFD_DT_INT8] = "INT8",
        [QFD_DT_UINT16] = "UINT16",   [QFD_DT_INT16] = "INT16",       [QFD_DT_INT32] = "INT32",
        [QFD_DT_INT64] = "INT64",     [QFD_DT_STRING] = "STRING",     [QFD_DT_BOOL] = "BOOL",
        [QFD_DT_FLOAT16] = "FLOAT16", [QFD_DT_DOUBLE] = "DOUBLE",     [QFD_DT_UINT32] = "UINT32",
        [QFD_DT_UINT64] = "UINT64",   [QFD_DT_BFLOAT16] = "BFLOAT16",
    };
    const char *s = qfd_attr_str(oc->node, "to", NULL);
    for (int32_t i = 0; s && i < (int32_t)(sizeof names / sizeof *names); i++)
        if (names[i] && !strcmp(names[i], s))
            return i;
    return -1;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs one input and one output");
    int32_t to = target(oc);
    if (to < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "attribute 'to' is missing or not a known type");
    if (!type_ok(to) || !type_ok(x->dtype))
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?",
                           qfd_dtype_name(to) ? qfd_dtype_name(to) : "?");
    qfd_array_like(oc->out[0], x);
    oc->out[0]->dtype = to;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0];
    qfd_array *y = oc->out[0];
    int64_t n = qfd_array_numel(x);
    if (x->dtype == y->dtype) {
        if (y->data != x->data)
            memcpy(y->data, x->data, y->nbytes);
        return QFD_OK;
    }
    int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++)
        cast(x->dtype, y->dtype, x->data, y->data, n * t / nt, n * (t + 1) / nt);
    return QFD_OK;
}

static int is_float(int32_t dt)
{
    return dt == QFD_DT_FLOAT || dt == QFD_DT_DOUBLE || dt == QFD_DT_FLOAT16 || dt == QFD_DT_BFLOAT16;
}

/* Gradients are float32 whatever the value's type, so float -> float
 * passes dy through unchanged. Across an integer or bool type the function
 * is piecewise constant: nothing flows. */
static qfd_status backward(qfd_op_ctx *oc)
{
    if (!oc->gin[0] || !oc->gout[0] || !is_float(oc->in[0]->dtype) || !is_float(oc->out[0]->dtype))
        return QFD_OK;
    float *dx = oc->gin[0]->data;
    const float *dy = oc->gout[0]->data;
    int64_t n = qfd_array_numel(oc->in[0]);
    int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i];
    return QFD_OK;
}

const qfd_op_def qfd_op_cast = {.name = "Cast",
                                .domain = "",
                                .since = 1,
                                .param_role = QFD_ROLES_PASS0,
                                .infer = infer,
                                .forward = forward,
                                .backward = backward,
                                .backward_reads = qfd_reads_nothing};
