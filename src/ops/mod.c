/* Mod (opsets 10-21): y = a mod b, numpy broadcasting. fmod = 0 (the
 * default, integers only) takes the divisor's sign, as Python's %;
 * fmod = 1 takes the dividend's sign, as C's fmod (required for float and
 * double). Float, double and every integer type.
 *
 * A zero integer divisor gives 0 rather than a trap (as integer Div does),
 * and so does a divisor of -1, which is also the only way INT_MIN % -1
 * cannot trap. No backward: the exports that use Mod apply it to shapes
 * and window offsets (Swin's padding), never to a value that trains. */
#include <math.h>
#include <string.h>

#include "ops/binary.h"

typedef struct mod_param {
    int32_t dtype;
    int fmod;
} mod_param;

#define MOD_SINT(T)                                                    \
    do {                                                               \
        T *y = yv;                                                     \
        const T *x = av, *z = bv;                                      \
        for (int64_t i = 0; i < n; i++) {                              \
            T u = x[(adv & 1u) ? i : 0], v = z[(adv & 2u) ? i : 0], r; \
            if (v == 0 || v == -1) {                                   \
                y[i] = 0;                                              \
                continue;                                              \
            }                                                          \
            r = (T)(u % v);                                            \
            if (!p->fmod && r != 0 && ((r < 0) != (v < 0)))            \
                r = (T)(r + v);                                        \
            y[i] = r;                                                  \
        }                                                              \
    } while (0)

#define MOD_UINT(T)                                                 \
    do {                                                            \
        T *y = yv;                                                  \
        const T *x = av, *z = bv;                                   \
        for (int64_t i = 0; i < n; i++) {                           \
            T u = x[(adv & 1u) ? i : 0], v = z[(adv & 2u) ? i : 0]; \
            y[i] = v ? (T)(u % v) : 0;                              \
        }                                                           \
    } while (0)

#define MOD_FLT(T, FMOD)                                                            \
    do {                                                                            \
        T *y = yv;                                                                  \
        const T *x = av, *z = bv;                                                   \
        for (int64_t i = 0; i < n; i++) {                                           \
            T u = x[(adv & 1u) ? i : 0], v = z[(adv & 2u) ? i : 0], r = FMOD(u, v); \
            if (!p->fmod && r != 0 && ((r < 0) != (v < 0)))                         \
                r += v;                                                             \
            y[i] = r;                                                               \
        }                                                                           \
    } while (0)

static void mod_rows(void *yv, const void *av, const void *bv, const void *c, int64_t n, unsigned adv,
                     const void *param)
{
    (void)c;
    const mod_param *p = param;
    switch (p->dtype) {
    case QFD_DT_FLOAT: MOD_FLT(float, fmodf); break;
    case QFD_DT_DOUBLE: MOD_FLT(double, fmod); break;
    case QFD_DT_INT8: MOD_SINT(int8_t); break;
    case QFD_DT_INT16: MOD_SINT(int16_t); break;
    case QFD_DT_INT32: MOD_SINT(int32_t); break;
    case QFD_DT_INT64: MOD_SINT(int64_t); break;
    case QFD_DT_UINT8: MOD_UINT(uint8_t); break;
    case QFD_DT_UINT16: MOD_UINT(uint16_t); break;
    case QFD_DT_UINT32: MOD_UINT(uint32_t); break;
    case QFD_DT_UINT64: MOD_UINT(uint64_t); break;
    default: break;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *a = qfd_op_in(oc, 0), *b = qfd_op_in(oc, 1);
    if (!a || !b || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs inputs A, B and one output");
    if (a->dtype != b->dtype)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs have different types (%s, %s)", qfd_dtype_name(a->dtype),
                           qfd_dtype_name(b->dtype));
    int64_t fm = qfd_attr_int(oc->node, "fmod", 0);
    if (fm != 0 && fm != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "fmod must be 0 or 1, got %lld", (long long)fm);
    switch (a->dtype) {
    case QFD_DT_FLOAT:
    case QFD_DT_DOUBLE:
        if (!fm)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "fmod must be 1 for floating-point inputs");
        break;
    case QFD_DT_INT8:
    case QFD_DT_INT16:
    case QFD_DT_INT32:
    case QFD_DT_INT64:
    case QFD_DT_UINT8:
    case QFD_DT_UINT16:
    case QFD_DT_UINT32:
    case QFD_DT_UINT64: break;
    default:
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?");
    }
    qfd_status st = qfd_broadcast_shape(oc, a, b, oc->out[0]);
    oc->out[0]->dtype = a->dtype;
    return st;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    mod_param p = {oc->in[0]->dtype, (int)qfd_attr_int(oc->node, "fmod", 0)};
    qfd_bcast_run(oc, oc->out[0], 2, oc->in, mod_rows, &p);
    return QFD_OK;
}

const qfd_op_def qfd_op_mod = {
    .name = "Mod",
    .domain = "",
    .since = 10,
    .infer = infer,
    .forward = forward,
};
