/* Comparison and logic ops, numpy broadcasting, bool output:
 *   Equal (1-21), Less, Greater (7-21), LessOrEqual, GreaterOrEqual (12-21):
 *     y = a OP b for float, double and integer inputs (bool too for Equal);
 *   And, Or, Xor (7-21): y = a OP b on bools;  Not (1-21): y = !x.
 * PyTorch exports them around shape arithmetic (expand(-1) becomes
 * Where(Equal(shape, -1), ...)) and masks. No gradient flows through a bool. */
#include <string.h>

#include "ops/binary.h"

enum cmp_kind { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE, LOG_AND, LOG_OR, LOG_XOR, LOG_NOT };

typedef struct cmp_param {
    enum cmp_kind kind;
    int32_t dtype;
} cmp_param;

static enum cmp_kind kind_of(const char *op)
{
    static const char *const names[] = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
                                        "And",   "Or",   "Xor",     "Not"};
    for (int k = 0; k < 9; k++)
        if (!strcmp(op, names[k]))
            return (enum cmp_kind)k;
    return CMP_EQ;
}

#define CMP_LOOP(T)                                                 \
    do {                                                            \
        const T *x = a, *z = b;                                     \
        for (int64_t i = 0; i < n; i++) {                           \
            T u = x[(adv & 1u) ? i : 0], v = z[(adv & 2u) ? i : 0]; \
            y[i] = (uint8_t)(p->kind == CMP_EQ   ? u == v           \
                             : p->kind == CMP_LT ? u < v            \
                             : p->kind == CMP_GT ? u > v            \
                             : p->kind == CMP_LE ? u <= v           \
                                                 : u >= v);         \
        }                                                           \
    } while (0)

static void compare_rows(void *out, const void *a, const void *b, const void *c, int64_t n, unsigned adv,
                         const void *param)
{
    (void)c;
    const cmp_param *p = param;
    uint8_t *y = out;
    if (p->kind >= LOG_AND) {
        const uint8_t *x = a, *z = b;
        for (int64_t i = 0; i < n; i++) {
            int u = x[(adv & 1u) ? i : 0] != 0, v = p->kind == LOG_NOT ? 0 : z[(adv & 2u) ? i : 0] != 0;
            y[i] = (uint8_t)(p->kind == LOG_AND   ? u && v
                             : p->kind == LOG_OR  ? u || v
                             : p->kind == LOG_XOR ? u != v
                                                  : !u);
        }
        return;
    }
    switch (p->dtype) {
    case QFD_DT_FLOAT: CMP_LOOP(float); break;
    case QFD_DT_DOUBLE: CMP_LOOP(double); break;
    case QFD_DT_INT64: CMP_LOOP(int64_t); break;
    case QFD_DT_INT32: CMP_LOOP(int32_t); break;
    case QFD_DT_INT16: CMP_LOOP(int16_t); break;
    case QFD_DT_INT8: CMP_LOOP(int8_t); break;
    case QFD_DT_UINT64: CMP_LOOP(uint64_t); break;
    case QFD_DT_UINT32: CMP_LOOP(uint32_t); break;
    case QFD_DT_UINT16: CMP_LOOP(uint16_t); break;
    case QFD_DT_UINT8:
    case QFD_DT_BOOL: CMP_LOOP(uint8_t); break;
    default: break;
    }
}

static qfd_status infer(qfd_op_ctx *oc)
{
    enum cmp_kind k = kind_of(oc->node->op_type);
    size_t want = k == LOG_NOT ? 1 : 2;
    const qfd_array *a = qfd_op_in(oc, 0), *b = qfd_op_in(oc, 1);
    if (oc->n_in != want || !a || (want == 2 && !b))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "expects %zu inputs", want);
    if (want == 2 && a->dtype != b->dtype)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "inputs have different types (%s, %s)", qfd_dtype_name(a->dtype),
                           qfd_dtype_name(b->dtype));
    int ok = k >= LOG_AND ? a->dtype == QFD_DT_BOOL
                          : qfd_elem_size(a->dtype) != 0 && a->dtype != QFD_DT_FLOAT16 && a->dtype != QFD_DT_BFLOAT16 &&
                                (a->dtype != QFD_DT_BOOL || k == CMP_EQ);
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(a->dtype) ? qfd_dtype_name(a->dtype) : "?");
    qfd_array *y = oc->out[0];
    if (want == 2) {
        qfd_status st = qfd_broadcast_shape(oc, a, b, y);
        if (st)
            return st;
    } else {
        qfd_array_like(y, a);
    }
    y->dtype = QFD_DT_BOOL;
    return QFD_OK;
}

static qfd_status forward(qfd_op_ctx *oc)
{
    cmp_param p = {kind_of(oc->node->op_type), oc->in[0]->dtype};
    qfd_bcast_run(oc, oc->out[0], p.kind == LOG_NOT ? 1 : 2, oc->in, compare_rows, &p);
    return QFD_OK;
}

#define CMP_DEF(sym, op_name, since_) \
    const qfd_op_def qfd_op_##sym = { \
        .name = op_name, .domain = "", .since = since_, .flags = QFD_OP_NO_GRAD, .infer = infer, .forward = forward}

CMP_DEF(equal, "Equal", 1);
CMP_DEF(less, "Less", 1);
CMP_DEF(greater, "Greater", 1);
CMP_DEF(less_or_equal, "LessOrEqual", 12);
CMP_DEF(greater_or_equal, "GreaterOrEqual", 12);
CMP_DEF(logical_and, "And", 1);
CMP_DEF(logical_or, "Or", 1);
CMP_DEF(logical_xor, "Xor", 1);
CMP_DEF(logical_not, "Not", 1);
