/* Add, Sub, Mul, Div (opsets 1-21) and Pow (opsets 1-21): y = a op b with
 * numpy broadcasting (opset >= 7) or the legacy broadcast/axis attributes
 * (opsets 1-6). Add/Sub/Mul/Div run on float, double and every integer
 * type; integer arithmetic wraps and integer Div truncates toward zero (a
 * zero divisor gives 0 rather than a trap). Pow: y = a ^ b for a float,
 * double, int32 or int64 base and a float, double or integer exponent (from
 * opset 12 the exponent's type may differ); y has the base's type.
 *
 * Also the shared broadcast loop of binary.h. */
#include <math.h>
#include <string.h>

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

/* ---- kernels ---- */

/* X(code, T, U, kind): U is the type in which T wraps without undefined
 * behaviour; kind selects the division rule (f float, s signed, u unsigned). */
#define ARITH_TYPES(X)                                                                                               \
    X(FLOAT, float, float, f)                                                                                        \
    X(DOUBLE, double, double, f)                                                                                     \
    X(INT8, int8_t, uint32_t, s)                                                                                     \
    X(INT16, int16_t, uint32_t, s)                                                                                   \
    X(INT32, int32_t, uint32_t, s)                                                                                   \
    X(INT64, int64_t, uint64_t, s)                                                                                   \
    X(UINT8, uint8_t, uint32_t, u)                                                                                   \
    X(UINT16, uint16_t, uint32_t, u)                                                                                 \
    X(UINT32, uint32_t, uint32_t, u)                                                                                 \
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
#define BIN_KERNEL(OPN, C, T, U, K)                                                                                  \
    static void k_##OPN##_##C(void *yv, const void *av, const void *bv, const void *cv, int64_t n, unsigned adv,     \
                              const void *param)                                                                     \
    {                                                                                                                \
        (void)cv, (void)param;                                                                                       \
        T *y = yv;                                                                                                   \
        const T *a = av, *b = bv;                                                                                    \
        switch (adv & 3) {                                                                                           \
        case 3:                                                                                                      \
            for (int64_t i = 0; i < n; i++)                                                                          \
                y[i] = OP_##OPN(a[i], b[i], T, U, K);                                                                \
            break;                                                                                                   \
        case 1: {                                                                                                    \
            const T z = b[0];                                                                                        \
            for (int64_t i = 0; i < n; i++)                                                                          \
                y[i] = OP_##OPN(a[i], z, T, U, K);                                                                   \
        } break;                                                                                                     \
        case 2: {                                                                                                    \
            const T x = a[0];                                                                                        \
            for (int64_t i = 0; i < n; i++)                                                                          \
                y[i] = OP_##OPN(x, b[i], T, U, K);                                                                   \
        } break;                                                                                                     \
        default: {                                                                                                   \
            const T v = OP_##OPN(a[0], b[0], T, U, K);                                                               \
            for (int64_t i = 0; i < n; i++)                                                                          \
                y[i] = v;                                                                                            \
        }                                                                                                            \
        }                                                                                                            \
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

static qfd_bcast_fn arith_kernel(int op, int32_t dt)
{
#define CASE(C, T, U, K)                                                                                             \
    case QFD_DT_##C:                                                                                                 \
        return op == ADD ? k_ADD_##C : op == SUB ? k_SUB_##C : op == MUL ? k_MUL_##C : k_DIV_##C;
    switch (dt) {
        ARITH_TYPES(CASE)
    default:
        return NULL;
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

#define BIN_DEF(sym, NAME, OP)                                                                                       \
    static qfd_status parse_##sym(qfd_op_ctx *oc, void *state)                                                       \
    {                                                                                                                \
        (void)oc;                                                                                                    \
        ((bin_state *)state)->op = OP;                                                                               \
        return QFD_OK;                                                                                               \
    }                                                                                                                \
    const qfd_op_def qfd_op_##sym = {.name = NAME,                                                                   \
                                     .domain = "",                                                                   \
                                     .since = 1,                                                                     \
                                     .state_size = sizeof(bin_state),                                                \
                                     .parse = parse_##sym,                                                           \
                                     .infer = infer,                                                                 \
                                     .forward = forward};

BIN_DEF(add, "Add", ADD)
BIN_DEF(sub, "Sub", SUB)
BIN_DEF(mul, "Mul", MUL)
BIN_DEF(div, "Div", DIV)
BIN_DEF(pow, "Pow", POW)
