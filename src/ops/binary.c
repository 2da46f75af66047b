/* Add, Sub, Mul, Div (opsets 1-21) and Pow (opsets 1-21): y = a op b with
 * numpy broadcasting (opset >= 7) or the legacy broadcast/axis attributes
 * (opsets 1-6). Add/Sub/Mul/Div run on float, double and every integer
 * type; integer arithmetic wraps and integer Div truncates toward zero (a
 * zero divisor gives 0 rather than a trap). Pow: y = a ^ b for a float,
 * double, int32 or int64 base and a float, double or integer exponent (from
 * opset 12 the exponent's type may differ); y has the base's type.
 *
 * Backward (float32 operands; each operand's gradient summed over the
 * dimensions along which it was broadcast): Add da = dy, db = dy; Sub
 * db = -dy; Mul da = dy b, db = dy a; Div da = dy / b, db = -dy a / b^2;
 * Pow da = dy e a^(e-1), de = dy ln(a) a^e (0 where a^e is 0), the
 * exponent's only when it is float32 and needs one.
 *
 * Also the shared broadcast loop of binary.h. */
#include <math.h>
#include <string.h>

#include "ops/avx512.h"
#include "ops/binary.h"

#define MAXR QFD_ARRAY_MAX_RANK

size_t qfd_elem_size(int32_t dt)
{
    int bits = qfd_dtype_bits(dt);
    return bits >= 8 && dt != QFD_DT_STRING ? (size_t)bits / 8 : 0;
}

/* ---- broadcast loop ---- */

typedef struct bplan {
    int rank;
    int64_t dims[MAXR];
    int64_t st[3][MAXR]; /* element strides of each input, 0 where broadcast */
} bplan;

static void make_plan(const qfd_array *out, size_t n_in, const qfd_array *const *in, bplan *p)
{
    int r = out->rank;
    int64_t st[3][MAXR] = {{0}};
    for (size_t k = 0; k < n_in; k++) {
        int64_t s = 1;
        for (int d = r - 1; d >= 0; d--) {
            int id = d - (r - in[k]->rank);
            int64_t dim = id >= 0 ? in[k]->dims[id] : 1;
            st[k][d] = dim == 1 ? 0 : s;
            s *= dim;
        }
    }
    memset(p, 0, sizeof *p);
    for (int d = 0; d < r; d++) {
        if (out->dims[d] == 1)
            continue;
        int merge = p->rank > 0;
        for (size_t k = 0; merge && k < n_in; k++)
            merge = p->st[k][p->rank - 1] == st[k][d] * out->dims[d];
        if (merge) {
            p->dims[p->rank - 1] *= out->dims[d];
        } else {
            p->dims[p->rank] = out->dims[d];
            p->rank++;
        }
        for (size_t k = 0; k < n_in; k++)
            p->st[k][p->rank - 1] = st[k][d];
    }
    if (p->rank == 0) {
        p->rank = 1;
        p->dims[0] = 1;
    }
}

typedef struct brun {
    const bplan *p;
    char *y;
    const char *x[3];
    size_t oes, es[3];
    size_t n_in;
    unsigned adv;
    qfd_bcast_fn fn;
    const void *param;
} brun;

/* Element offsets of each input at the start of outer row `row`. */
static void row_offsets(const bplan *p, size_t n_in, int64_t row, int64_t *coord, int64_t *off)
{
    for (size_t k = 0; k < 3; k++)
        off[k] = 0;
    for (int d = p->rank - 2; d >= 0; d--) {
        coord[d] = row % p->dims[d];
        row /= p->dims[d];
        for (size_t k = 0; k < n_in; k++)
            off[k] += coord[d] * p->st[k][d];
    }
}

static void call(const brun *b, int64_t yoff, const int64_t *off, int64_t start, int64_t n)
{
    const void *x[3] = {NULL, NULL, NULL};
    for (size_t k = 0; k < b->n_in; k++)
        x[k] = b->x[k] + (size_t)(off[k] + ((b->adv >> k) & 1 ? start : 0)) * b->es[k];
    b->fn(b->y + (size_t)(yoff + start) * b->oes, x[0], x[1], x[2], n, b->adv, b->param);
}

/* Units [u0, u1) of `parts` pieces per row of `inner` elements. */
static void run_units(const brun *b, int64_t u0, int64_t u1, int64_t parts)
{
    const bplan *p = b->p;
    int64_t inner = p->dims[p->rank - 1], coord[MAXR] = {0}, off[3];
    if (u0 >= u1)
        return;
    if (parts > 1) {
        for (int64_t u = u0; u < u1; u++) {
            int64_t row = u / parts, part = u % parts;
            int64_t s = inner * part / parts, e = inner * (part + 1) / parts;
            row_offsets(p, b->n_in, row, coord, off);
            call(b, row * inner, off, s, e - s);
        }
        return;
    }
    row_offsets(p, b->n_in, u0, coord, off);
    for (int64_t row = u0;;) {
        call(b, row * inner, off, 0, inner);
        if (++row >= u1)
            break;
        for (int d = p->rank - 2; d >= 0; d--) {
            for (size_t k = 0; k < b->n_in; k++)
                off[k] += p->st[k][d];
            if (++coord[d] < p->dims[d])
                break;
            for (size_t k = 0; k < b->n_in; k++)
                off[k] -= p->st[k][d] * p->dims[d];
            coord[d] = 0;
        }
    }
}

void qfd_bcast_run(const qfd_op_ctx *oc, qfd_array *out, size_t n_in, const qfd_array *const *in, qfd_bcast_fn fn,
                   const void *param)
{
    int64_t n = qfd_array_numel(out);
    if (n <= 0)
        return;
    bplan p;
    make_plan(out, n_in, in, &p);
    brun b = {.p = &p, .y = out->data, .oes = qfd_elem_size(out->dtype), .n_in = n_in, .fn = fn, .param = param};
    for (size_t k = 0; k < n_in; k++) {
        b.x[k] = in[k]->data;
        b.es[k] = qfd_elem_size(in[k]->dtype);
        if (p.st[k][p.rank - 1])
            b.adv |= 1u << k;
    }
    int64_t inner = p.dims[p.rank - 1], rows = n / inner;
    int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
    /* Few long rows (same shapes, scalar operand) are split within rows. */
    int64_t parts = rows >= nt ? 1 : (nt + rows - 1) / rows, units = rows * parts;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int t = 0; t < nt; t++)
        run_units(&b, units * t / nt, units * (t + 1) / nt, parts);
}

qfd_status qfd_legacy_bcast(const qfd_op_ctx *oc, const qfd_array *a, const qfd_array *b, qfd_array *bv)
{
    *bv = *b;
    if (!qfd_attr_int(oc->node, "broadcast", 0)) {
        if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims))
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input shapes differ and attribute broadcast is 0");
        return QFD_OK;
    }
    int br = b->rank;
    if (br == 1 && b->dims[0] == 1)
        br = 0; /* a one-element B is a scalar */
    int64_t axis = qfd_attr_int(oc->node, "axis", a->rank - br);
    if (br > a->rank || axis < 0 || axis + br > a->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "B of rank %d cannot broadcast at axis %lld of A of rank %d", b->rank,
                           (long long)axis, a->rank);
    bv->rank = a->rank;
    for (int d = 0; d < a->rank; d++)
        bv->dims[d] = d >= axis && d < axis + br ? b->dims[d - axis] : 1;
    return QFD_OK;
}

/* ---- backward: broadcast reduction ---- */

/* Sum of n floats: eight float lanes (which gcc vectorises without
 * reassociating one accumulator, no -ffast-math) over blocks short enough
 * to stay accurate, the blocks' sums added in double. */
static double row_sum(const float *s, int64_t n)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += 4096) {
        int64_t m = n - b < 4096 ? n - b : 4096, i = 0;
        const float *p = s + b;
        float acc[8] = {0};
        for (; i + 8 <= m; i += 8)
            for (int k = 0; k < 8; k++)
                acc[k] += p[i + k];
        float t = 0;
        for (; i < m; i++)
            t += p[i];
        total += (double)(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + t);
    }
    return total;
}

/* Rows [r0, r1) of src (the plan's outer rows) added into dst. */
static void reduce_rows(const bplan *p, const float *src, float *dst, int64_t r0, int64_t r1, float scale)
{
    int64_t inner = p->dims[p->rank - 1], coord[MAXR] = {0}, off[3];
    int contiguous = p->st[0][p->rank - 1] != 0;
    if (r0 >= r1)
        return;
    row_offsets(p, 1, r0, coord, off);
    for (int64_t row = r0;;) {
        const float *s = src + row * inner;
        float *o = dst + off[0];
        if (contiguous)
            for (int64_t j = 0; j < inner; j++)
                o[j] += scale * s[j];
        else
            o[0] += scale * (float)row_sum(s, inner);
        if (++row >= r1)
            break;
        for (int d = p->rank - 2; d >= 0; d--) {
            off[0] += p->st[0][d];
            if (++coord[d] < p->dims[d])
                break;
            off[0] -= p->st[0][d] * p->dims[d];
            coord[d] = 0;
        }
    }
}

/* Threads only when each one's private copy of dst is small beside its
 * share of src: the partial sums are then cheap to add up. */
static int reduce_threads(const qfd_op_ctx *oc, int64_t n, int64_t m)
{
    return n > 65536 && oc->n_threads > 1 && m > 1 && m * 8 * oc->n_threads <= n ? oc->n_threads : 1;
}

size_t qfd_bcast_reduce_ws(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view)
{
    int64_t n = qfd_array_numel(out), m = qfd_array_numel(view);
    int nt = m == n ? 1 : reduce_threads(oc, n, m);
    return nt > 1 ? (size_t)nt * (size_t)m * sizeof(float) : 0;
}

void qfd_bcast_reduce(const qfd_op_ctx *oc, const qfd_array *out, const float *src, const qfd_array *view, float scale,
                      float *dst, void *scratch)
{
    int64_t n = qfd_array_numel(out), m = qfd_array_numel(view);
    if (n <= 0 || m <= 0)
        return;
    int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
    if (m == n) { /* not broadcast: same element order */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int64_t i = 0; i < n; i++)
            dst[i] += scale * src[i];
        return;
    }
    if (m == 1) { /* scalar operand */
        double total = 0;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static) reduction(+ : total)
        for (int t = 0; t < nt; t++)
            total += row_sum(src + n * t / nt, n * (t + 1) / nt - n * t / nt);
        dst[0] += scale * (float)total;
        return;
    }
    bplan p;
    const qfd_array *v[1] = {view};
    make_plan(out, 1, v, &p);
    int64_t rows = n / p.dims[p.rank - 1];
    nt = scratch ? reduce_threads(oc, n, m) : 1;
    if (nt > (int)rows)
        nt = (int)rows;
    if (nt <= 1) {
        reduce_rows(&p, src, dst, 0, rows, scale);
        return;
    }
    float *part = scratch;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        memset(part + (size_t)t * (size_t)m, 0, (size_t)m * sizeof *part);
        reduce_rows(&p, src, part + (size_t)t * (size_t)m, rows * t / nt, rows * (t + 1) / nt, 1.0f);
    }
    for (int t = 0; t < nt; t++)
        for (int64_t j = 0; j < m; j++)
            dst[j] += scale * part[(size_t)t * (size_t)m + (size_t)j];
}

size_t qfd_bcast_grad_ws(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view)
{
    int64_t n = qfd_array_numel(out), m = qfd_array_numel(view);
    if (m == n)
        return 0;
    return (size_t)n * sizeof(float) + qfd_bcast_reduce_ws(oc, out, view);
}

void qfd_bcast_grad(const qfd_op_ctx *oc, const qfd_array *out, const qfd_array *view, float *grad, size_t n_in,
                    const qfd_array *const *in, qfd_bcast_fn fn, const void *param, void *scratch)
{
    int64_t n = qfd_array_numel(out), m = qfd_array_numel(view);
    if (n <= 0)
        return;
    qfd_array g = *out;
    g.dtype = QFD_DT_FLOAT;
    g.nbytes = (size_t)n * sizeof(float);
    if (m == n) {
        g.data = grad;
        qfd_bcast_run(oc, &g, n_in, in, fn, param);
        return;
    }
    g.data = scratch;
    memset(scratch, 0, g.nbytes);
    qfd_bcast_run(oc, &g, n_in, in, fn, param);
    qfd_bcast_reduce(oc, out, scratch, view, 1.0f, grad, (char *)scratch + g.nbytes);
}

/* ---- kernels ---- */

/* X(code, T, U, kind): U is the type in which T wraps without undefined
 * behaviour; kind selects the division rule (f float, s signed, u unsigned). */
#define ARITH_TYPES(X)               \
    X(FLOAT, float, float, f)        \
    X(DOUBLE, double, double, f)     \
    X(INT8, int8_t, uint32_t, s)     \
    X(INT16, int16_t, uint32_t, s)   \
    X(INT32, int32_t, uint32_t, s)   \
    X(INT64, int64_t, uint64_t, s)   \
    X(UINT8, uint8_t, uint32_t, u)   \
    X(UINT16, uint16_t, uint32_t, u) \
    X(UINT32, uint32_t, uint32_t, u) \
    X(UINT64, uint64_t, uint64_t, u)

#define OP_ADD(x, z, T, U, K) (T)((U)(x) + (U)(z))
#define OP_SUB(x, z, T, U, K) (T)((U)(x) - (U)(z))
#define OP_MUL(x, z, T, U, K) (T)((U)(x) * (U)(z))
#define OP_DIV(x, z, T, U, K) DIV_##K(x, z, T, U)
#define DIV_f(x, z, T, U) ((x) / (z))
#define DIV_s(x, z, T, U) ((z) == 0 ? (T)0 : (z) == -1 ? (T)(0 - (U)(x)) : (T)((x) / (z)))
#define DIV_u(x, z, T, U) ((z) == 0 ? (T)0 : (T)((x) / (z)))

/* One kernel per (op, type): the four broadcast cases are separate loops so
 * that each one vectorises. */
#define BIN_KERNEL(OPN, C, T, U, K)                                                                              \
    static void k_##OPN##_##C(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv, \
                              const void *param)                                                                 \
    {                                                                                                            \
        (void)cv, (void)param;                                                                                   \
        T *y = yv;                                                                                               \
        const T *a = av, *b = bv;                                                                                \
        switch (adv & 3) {                                                                                       \
        case 3:                                                                                                  \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = OP_##OPN(a[i], b[i], T, U, K);                                                            \
            break;                                                                                               \
        case 1: {                                                                                                \
            const T z = b[0];                                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = OP_##OPN(a[i], z, T, U, K);                                                               \
        } break;                                                                                                 \
        case 2: {                                                                                                \
            const T x = a[0];                                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = OP_##OPN(x, b[i], T, U, K);                                                               \
        } break;                                                                                                 \
        default: {                                                                                               \
            const T v = OP_##OPN(a[0], b[0], T, U, K);                                                           \
            for (int64_t i = 0; i < n; i++)                                                                      \
                y[i] = v;                                                                                        \
        }                                                                                                        \
        }                                                                                                        \
    }
#define KERNELS_ADD(C, T, U, K) BIN_KERNEL(ADD, C, T, U, K)
#define KERNELS_SUB(C, T, U, K) BIN_KERNEL(SUB, C, T, U, K)
#define KERNELS_MUL(C, T, U, K) BIN_KERNEL(MUL, C, T, U, K)
#define KERNELS_DIV(C, T, U, K) BIN_KERNEL(DIV, C, T, U, K)
ARITH_TYPES(KERNELS_ADD)
ARITH_TYPES(KERNELS_SUB)
ARITH_TYPES(KERNELS_MUL)
ARITH_TYPES(KERNELS_DIV)

enum { ADD, SUB, MUL, DIV, POW };

#if QFD_HAVE_AVX512
/* The float kernels in 16 lanes (SSE2's 4 otherwise): whole vectors, then
 * a masked tail; an operand that does not advance is broadcast. */
#define BIN_AVX512(OPN, VOP)                                                                                        \
    static QFD_AVX512_FN void k_##OPN##_avx512(void *yv, const void *av, const void *bv, const void *cv, int64_t n, \
                                               unsigned adv, const void *param)                                     \
    {                                                                                                               \
        (void)cv, (void)param;                                                                                      \
        float *y = yv;                                                                                              \
        const float *a = av, *b = bv;                                                                               \
        const __m512 a0 = _mm512_set1_ps(a[0]), b0 = _mm512_set1_ps(b[0]);                                          \
        int64_t i = 0;                                                                                              \
        for (; i + 16 <= n; i += 16) {                                                                              \
            __m512 x = adv & 1 ? _mm512_loadu_ps(a + i) : a0, z = adv & 2 ? _mm512_loadu_ps(b + i) : b0;            \
            _mm512_storeu_ps(y + i, VOP(x, z));                                                                     \
        }                                                                                                           \
        if (i < n) {                                                                                                \
            __mmask16 k = qfd_mask16(n - i);                                                                        \
            __m512 x = adv & 1 ? _mm512_maskz_loadu_ps(k, a + i) : a0;                                              \
            __m512 z = adv & 2 ? _mm512_maskz_loadu_ps(k, b + i) : b0;                                              \
            _mm512_mask_storeu_ps(y + i, k, VOP(x, z));                                                             \
        }                                                                                                           \
    }
BIN_AVX512(ADD, _mm512_add_ps)
BIN_AVX512(SUB, _mm512_sub_ps)
BIN_AVX512(MUL, _mm512_mul_ps)
BIN_AVX512(DIV, _mm512_div_ps)
#endif

static qfd_bcast_fn arith_kernel(int op, int32_t dt)
{
#if QFD_HAVE_AVX512
    if (dt == QFD_DT_FLOAT && qfd_cpu_avx512())
        return op == ADD ? k_ADD_avx512 : op == SUB ? k_SUB_avx512 : op == MUL ? k_MUL_avx512 : k_DIV_avx512;
#endif
#define CASE(C, T, U, K) \
    case QFD_DT_##C: return op == ADD ? k_ADD_##C : op == SUB ? k_SUB_##C : op == MUL ? k_MUL_##C : k_DIV_##C;
    switch (dt) {
        ARITH_TYPES(CASE)
    default: return NULL;
    }
#undef CASE
}

/* float ^ float, the common case; a scalar exponent of 2 or 1 (decomposed
 * norms and distances) avoids powf with the same, exact, result. */
static void k_pow_ff(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                     const void *param)
{
    (void)cv, (void)param;
    float *y = yv;
    const float *a = av, *b = bv;
    if ((adv & 3) == 3) {
        for (int64_t i = 0; i < n; i++)
            y[i] = powf(a[i], b[i]);
    } else if (adv & 1) {
        const float z = b[0];
        if (z == 2.0f)
            for (int64_t i = 0; i < n; i++)
                y[i] = a[i] * a[i];
        else if (z == 1.0f)
            memmove(y, a, (size_t)n * sizeof *y);
        else
            for (int64_t i = 0; i < n; i++)
                y[i] = powf(a[i], z);
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] = powf(a[0], b[adv & 2 ? i : 0]);
    }
}

typedef struct pow_types {
    int32_t base, expo;
} pow_types;

static double load_num(const void *p, int32_t dt, int64_t i)
{
    switch (dt) {
    case QFD_DT_FLOAT: return ((const float *)p)[i];
    case QFD_DT_DOUBLE: return ((const double *)p)[i];
    case QFD_DT_INT8: return ((const int8_t *)p)[i];
    case QFD_DT_INT16: return ((const int16_t *)p)[i];
    case QFD_DT_INT32: return ((const int32_t *)p)[i];
    case QFD_DT_UINT8: return ((const uint8_t *)p)[i];
    case QFD_DT_UINT16: return ((const uint16_t *)p)[i];
    case QFD_DT_UINT32: return ((const uint32_t *)p)[i];
    case QFD_DT_UINT64: return (double)((const uint64_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
    }
}

static int64_t ipow(int64_t x, int64_t e)
{
    if (e < 0) /* only 1 and -1 have integer reciprocals */
        return x == 1 ? 1 : x == -1 ? (e % 2 ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    for (; e; e >>= 1, b *= b)
        if (e & 1)
            r *= b;
    return (int64_t)r;
}

static int64_t clamp_i64(double v)
{
    return v != v ? 0 : v <= -9223372036854775808.0 ? INT64_MIN : v >= 9223372036854775808.0 ? INT64_MAX : (int64_t)v;
}

/* Any other type pair: not on a hot path, so one loop through double. */
static void k_pow_any(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                      const void *param)
{
    (void)cv;
    const pow_types *t = param;
    int int_base = t->base == QFD_DT_INT32 || t->base == QFD_DT_INT64;
    int int_exp = t->expo == QFD_DT_INT32 || t->expo == QFD_DT_INT64;
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = adv & 1 ? i : 0, ib = adv & 2 ? i : 0;
        double x = load_num(av, t->base, ia), e = load_num(bv, t->expo, ib);
        int64_t iv = 0;
        double v = 0;
        if (int_base && int_exp)
            iv = ipow(t->base == QFD_DT_INT32 ? ((const int32_t *)av)[ia] : ((const int64_t *)av)[ia],
                      t->expo == QFD_DT_INT32 ? ((const int32_t *)bv)[ib] : ((const int64_t *)bv)[ib]);
        else if (int_base)
            iv = clamp_i64(pow(x, e));
        else
            v = pow(x, e);
        switch (t->base) {
        case QFD_DT_FLOAT: ((float *)yv)[i] = (float)v; break;
        case QFD_DT_DOUBLE: ((double *)yv)[i] = v; break;
        case QFD_DT_INT32: ((int32_t *)yv)[i] = (int32_t)iv; break;
        default: ((int64_t *)yv)[i] = iv; break;
        }
    }
}

/* ---- gradient kernels: y += local gradient * dy, dy the last input ---- */

#define GLOOP(EXPR, XA, XB, XC)             \
    for (int64_t i = 0; i < n; i++) {       \
        const float A = XA, B = XB, C = XC; \
        (void)A, (void)B, (void)C;          \
        y[i] += EXPR;                       \
    }
/* Two inputs (B is dy; C unused) or three (C is dy); the common broadcast
 * cases get their own loop so that each vectorises. */
#define GRAD2(NAME, EXPR)                                                                               \
    static void NAME(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv, \
                     const void *param)                                                                 \
    {                                                                                                   \
        (void)cv, (void)param;                                                                          \
        float *y = yv;                                                                                  \
        const float *a = av, *b = bv;                                                                   \
        if ((adv & 3) == 3) {                                                                           \
            GLOOP(EXPR, a[i], b[i], 0.0f)                                                               \
        } else if ((adv & 3) == 2) {                                                                    \
            const float a0 = a[0];                                                                      \
            GLOOP(EXPR, a0, b[i], 0.0f)                                                                 \
        } else {                                                                                        \
            const int64_t sa = adv & 1, sb = (adv >> 1) & 1;                                            \
            GLOOP(EXPR, a[i * sa], b[i * sb], 0.0f)                                                     \
        }                                                                                               \
    }
#define GRAD3(NAME, EXPR)                                                                               \
    static void NAME(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv, \
                     const void *param)                                                                 \
    {                                                                                                   \
        (void)param;                                                                                    \
        float *y = yv;                                                                                  \
        const float *a = av, *b = bv, *c = cv;                                                          \
        if ((adv & 7) == 7) {                                                                           \
            GLOOP(EXPR, a[i], b[i], c[i])                                                               \
        } else if ((adv & 7) == 6) {                                                                    \
            const float a0 = a[0];                                                                      \
            GLOOP(EXPR, a0, b[i], c[i])                                                                 \
        } else if ((adv & 7) == 5) {                                                                    \
            const float b0 = b[0];                                                                      \
            GLOOP(EXPR, a[i], b0, c[i])                                                                 \
        } else {                                                                                        \
            const int64_t sa = adv & 1, sb = (adv >> 1) & 1, sc = (adv >> 2) & 1;                       \
            GLOOP(EXPR, a[i * sa], b[i * sb], c[i * sc])                                                \
        }                                                                                               \
    }

/* in {other operand, dy} */
GRAD2(k_g_mul, A *B)
/* d(a/b)/da: in {b, dy} */
GRAD2(k_g_div_a, B / A)
/* d(a/b)/db = -a/b^2: in {a, b, dy} */
GRAD3(k_g_div_b, -C *A / (B * B))
/* d(a^e)/de = ln(a) a^e: in {a, y, dy}; 0 where y is 0 (a = 0, e > 0),
 * as PyTorch, instead of 0 * -inf. */
GRAD3(k_g_pow_e, B == 0.0f ? 0.0f : C * B * logf(A))

/* d(a^e)/da = e a^(e-1): in {a, e, dy}; the exponents 2 and 1 of squares
 * and norms skip powf. */
static void k_g_pow_a(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                      const void *param)
{
    (void)param;
    float *y = yv;
    const float *a = av, *e = bv, *d = cv;
    if ((adv & 7) == 5 && e[0] == 2.0f) {
        for (int64_t i = 0; i < n; i++)
            y[i] += 2.0f * a[i] * d[i];
        return;
    }
    if ((adv & 7) == 5 && e[0] == 1.0f) {
        for (int64_t i = 0; i < n; i++)
            y[i] += d[i];
        return;
    }
    const int64_t sa = adv & 1, se = (adv >> 1) & 1, sd = (adv >> 2) & 1;
    for (int64_t i = 0; i < n; i++) {
        const float x = a[i * sa], k = e[i * se];
        y[i] += k == 0.0f ? 0.0f : d[i * sd] * k * powf(x, k - 1.0f);
    }
}

/* The same for an exponent of another type (param: pow_types). */
static void k_g_pow_a_any(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,
                          const void *param)
{
    const pow_types *t = param;
    float *y = yv;
    const float *a = av, *d = cv;
    const int64_t sa = adv & 1, se = (adv >> 1) & 1, sd = (adv >> 2) & 1;
    for (int64_t i = 0; i < n; i++) {
        double k = load_num(bv, t->expo, i * se);
        y[i] += k == 0 ? 0.0f : (float)(d[i * sd] * k * pow(a[i * sa], k - 1));
    }
}

/* ---- the ops ---- */

typedef struct bin_state {
    int op;
} bin_state;

static int pow_type_ok(int32_t dt)
{
    return dt == QFD_DT_FLOAT || dt == QFD_DT_DOUBLE || dt == QFD_DT_INT32 || dt == QFD_DT_INT64;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const bin_state *s = oc->state;
    const qfd_array *a = qfd_op_in(oc, 0), *b = qfd_op_in(oc, 1);
    if (!a || !b || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs A and B and one output");
    if (s->op == POW) {
        if (!pow_type_ok(a->dtype) || (!pow_type_ok(b->dtype) && !qfd_dtype_is_integer(b->dtype)) ||
            qfd_dtype_bits(b->dtype) < 8)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "%s ^ %s is not supported",
                               qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?",
                               qfd_dtype_name(b->dtype) ? qfd_dtype_name(b->dtype) : "?");
        if (a->dtype != b->dtype && oc->opset < 12)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "base and exponent types differ (allowed from opset 12)");
    } else {
        if (a->dtype != b->dtype)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "input types differ (%d vs %d)", a->dtype, b->dtype);
        if (!arith_kernel(s->op, a->dtype))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "type %s is not supported",
                               qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?");
    }
    qfd_array bv;
    qfd_status st;
    if (oc->opset < 7 && (st = qfd_legacy_bcast(oc, a, b, &bv)))
        return st;
    if ((st = qfd_broadcast_shape(oc, a, oc->opset < 7 ? &bv : b, oc->out[0])))
        return st;
    oc->out[0]->dtype = a->dtype;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const bin_state *s = oc->state;
    const qfd_array *a = oc->in[0], *b = oc->in[1];
    qfd_array bv = *b;
    if (oc->opset < 7) {
        qfd_status st = qfd_legacy_bcast(oc, a, b, &bv);
        if (st)
            return st;
    }
    const qfd_array *in[2] = {a, &bv};
    if (s->op != POW) {
        qfd_bcast_run(oc, oc->out[0], 2, in, arith_kernel(s->op, a->dtype), NULL);
    } else if (a->dtype == QFD_DT_FLOAT && b->dtype == QFD_DT_FLOAT) {
        qfd_bcast_run(oc, oc->out[0], 2, in, k_pow_ff, NULL);
    } else {
        pow_types t = {a->dtype, b->dtype};
        qfd_bcast_run(oc, oc->out[0], 2, in, k_pow_any, &t);
    }
    return QFD_OK;
}

/* B as it broadcasts against A (legacy attributes before opset 7). */
static void b_view(const qfd_op_ctx *oc, qfd_array *bv)
{
    *bv = *oc->in[1];
    if (oc->opset < 7 && qfd_legacy_bcast(oc, oc->in[0], oc->in[1], bv))
        *bv = *oc->in[1]; /* infer has already refused these shapes */
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    qfd_array bv;
    b_view(oc, &bv);
    size_t wa = qfd_bcast_grad_ws(oc, oc->out[0], oc->in[0]), wb = qfd_bcast_grad_ws(oc, oc->out[0], &bv);
    return wa > wb ? wa : wb;
}

/* Add and Sub pass gradients on by shape alone; Mul reads the other
 * operand, Div b for either gradient and a for b's; Pow both, and y for
 * the exponent's gradient. */
static uint32_t backward_reads(const qfd_op_ctx *oc)
{
    switch (((const bin_state *)oc->state)->op) {
    case ADD:
    case SUB: return 0;
    case MUL: return qfd_reads_product(oc);
    case DIV: return (oc->gin[1] ? QFD_READS_IN(0) | QFD_READS_IN(1) : 0) | (oc->gin[0] ? QFD_READS_IN(1) : 0);
    default: return QFD_READS_INPUTS | (oc->gin[1] ? QFD_READS_OUT(0) : 0);
    }
}

/* Add and Sub write the gradient of an operand that is not broadcast (a
 * residual branch) when its life begins here: dst = scale * dy. */
static bool grad_writes(const qfd_op_ctx *oc, size_t k)
{
    const bin_state *s = oc->state;
    if (k > 1 || (s->op != ADD && s->op != SUB) || !oc->gout[0] || oc->in[0]->dtype != QFD_DT_FLOAT)
        return false;
    qfd_array bv;
    b_view(oc, &bv);
    const qfd_array *v = k == 0 ? oc->in[0] : &bv;
    return v->dtype == QFD_DT_FLOAT && qfd_array_numel(v) == qfd_array_numel(oc->out[0]);
}

static void write_scaled(const qfd_op_ctx *oc, const float *src, float scale, float *dst, int64_t n)
{
    const int nt = n > 65536 && oc->n_threads > 1 ? oc->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = scale * src[i];
}

/* Float32 operands only: an integer (or double) operand gets no gradient. */
static qfd_status backward(qfd_op_ctx *oc)
{
    const bin_state *s = oc->state;
    const qfd_array *a = oc->in[0], *y = oc->out[0], *dy = oc->gout[0];
    qfd_array bv;
    b_view(oc, &bv);
    if (!dy || a->dtype != QFD_DT_FLOAT)
        return QFD_OK;
    float *ga = oc->gin[0] ? oc->gin[0]->data : NULL;
    float *gb = oc->gin[1] && bv.dtype == QFD_DT_FLOAT ? oc->gin[1]->data : NULL;
    switch (s->op) {
    case ADD:
    case SUB:
        if (ga && (oc->gin_fresh & 1u))
            write_scaled(oc, dy->data, 1.0f, ga, qfd_array_numel(y));
        else if (ga)
            qfd_bcast_reduce(oc, y, dy->data, a, 1.0f, ga, oc->ws);
        if (gb && (oc->gin_fresh & 2u))
            write_scaled(oc, dy->data, s->op == SUB ? -1.0f : 1.0f, gb, qfd_array_numel(y));
        else if (gb)
            qfd_bcast_reduce(oc, y, dy->data, &bv, s->op == SUB ? -1.0f : 1.0f, gb, oc->ws);
        break;
    case MUL:
        if (ga)
            qfd_bcast_grad(oc, y, a, ga, 2, (const qfd_array *[]){&bv, dy}, k_g_mul, NULL, oc->ws);
        if (gb)
            qfd_bcast_grad(oc, y, &bv, gb, 2, (const qfd_array *[]){a, dy}, k_g_mul, NULL, oc->ws);
        break;
    case DIV:
        if (ga)
            qfd_bcast_grad(oc, y, a, ga, 2, (const qfd_array *[]){&bv, dy}, k_g_div_a, NULL, oc->ws);
        if (gb)
            qfd_bcast_grad(oc, y, &bv, gb, 3, (const qfd_array *[]){a, &bv, dy}, k_g_div_b, NULL, oc->ws);
        break;
    default: {
        pow_types t = {a->dtype, bv.dtype};
        if (ga)
            qfd_bcast_grad(oc, y, a, ga, 3, (const qfd_array *[]){a, &bv, dy},
                           bv.dtype == QFD_DT_FLOAT ? k_g_pow_a : k_g_pow_a_any, &t, oc->ws);
        if (gb)
            qfd_bcast_grad(oc, y, &bv, gb, 3, (const qfd_array *[]){a, y, dy}, k_g_pow_e, NULL, oc->ws);
    } break;
    }
    return QFD_OK;
}

#define BIN_DEF(sym, NAME, OP, ROLES)                                          \
    static qfd_status parse_##sym(qfd_op_ctx *oc, void *state)                 \
    {                                                                          \
        (void)oc;                                                              \
        ((bin_state *)state)->op = OP;                                         \
        return QFD_OK;                                                         \
    }                                                                          \
    const qfd_op_def qfd_op_##sym = {.name = NAME,                             \
                                     .domain = "",                             \
                                     .since = 1,                               \
                                     .flags = QFD_OP_REMAT,                    \
                                     .param_role = ROLES,                      \
                                     .state_size = sizeof(bin_state),          \
                                     .parse = parse_##sym,                     \
                                     .infer = infer,                           \
                                     .forward = forward,                       \
                                     .backward_workspace = backward_workspace, \
                                     .grad_writes = grad_writes,               \
                                     .backward = backward,                     \
                                     .backward_reads = backward_reads};

BIN_DEF(add, "Add", ADD, QFD_ROLES_ALL(QFD_ROLE_DATA))
BIN_DEF(sub, "Sub", SUB, QFD_ROLES_ALL(QFD_ROLE_DATA))
BIN_DEF(mul, "Mul", MUL, QFD_ROLES_ALL(QFD_ROLE_DATA))
BIN_DEF(div, "Div", DIV, QFD_ROLES_ALL(QFD_ROLE_DATA))
BIN_DEF(pow, "Pow", POW, {QFD_ROLE_DATA}) /* the exponent is a constant */
