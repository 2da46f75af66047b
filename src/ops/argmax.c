/* ArgMax, ArgMin (opsets 1-21; select_last_index from 12) and Hardmax
 * (opsets 1-21; per axis from 13, before which it flattens to 2-D at axis):
 *   ArgMax/ArgMin: y = the int64 index of the largest/smallest element
 *     along axis (default 0); ties give the first (the last with
 *     select_last_index = 1); keepdims (default 1) keeps the axis as 1.
 *     Float, double, int32 and int64 data; a NaN counts as the largest
 *     and the smallest (numpy's argmax), so the first NaN is picked.
 *   Hardmax: y = 1 at the first maximum along axis (default -1 from 13,
 *     1 before), 0 elsewhere, in x's type (float or double).
 * No gradient: the outputs are piecewise constant in x. */
#include <string.h>

#include "ops/op.h"

enum { K_ARGMAX, K_ARGMIN, K_HARDMAX };

typedef struct am_state {
    int kind;
} am_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    am_state *s = state;
    const char *op = oc->node->op_type;
    s->kind = !strcmp(op, "ArgMax") ? K_ARGMAX : !strcmp(op, "ArgMin") ? K_ARGMIN : K_HARDMAX;
    return QFD_OK;
}

/* The axis and the (outer, d, inner) split of x around it; Hardmax before
 * opset 13 reduces over every axis from axis on (its 2-D view). */
static int split(const qfd_op_ctx *oc, int64_t *outer, int64_t *d, int64_t *inner)
{
    const am_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    int64_t def = s->kind != K_HARDMAX ? 0 : oc->opset >= 13 ? -1 : 1;
    int axis = qfd_norm_axis(qfd_attr_int(oc->node, "axis", def), x->rank > 0 ? x->rank : 1);
    if (axis < 0)
        return -1;
    *outer = *d = *inner = 1;
    int flat = s->kind == K_HARDMAX && oc->opset < 13;
    for (int i = 0; i < x->rank; i++) {
        if (i < axis)
            *outer *= x->dims[i];
        else if (i == axis || flat)
            *d *= x->dims[i];
        else
            *inner *= x->dims[i];
    }
    return axis;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const am_state *s = oc->state;
    const qfd_array *x = qfd_op_in(oc, 0);
    if (!x || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs input and one output");
    int ok = x->dtype == QFD_DT_FLOAT || x->dtype == QFD_DT_DOUBLE ||
             (s->kind != K_HARDMAX && (x->dtype == QFD_DT_INT32 || x->dtype == QFD_DT_INT64));
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    int64_t outer, d, inner;
    int axis = split(oc, &outer, &d, &inner);
    if (axis < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis is out of range for rank %d", x->rank);
    qfd_array *y = oc->out[0];
    qfd_array_like(y, x);
    if (s->kind == K_HARDMAX)
        return QFD_OK;
    if (x->rank == 0 || x->dims[axis] == 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "cannot take an index along an empty axis");
    y->dtype = QFD_DT_INT64;
    if (qfd_attr_int(oc->node, "keepdims", 1)) {
        y->dims[axis] = 1;
    } else {
        for (int i = axis; i + 1 < x->rank; i++)
            y->dims[i] = x->dims[i + 1];
        y->rank--;
    }
    return QFD_OK;
}

/* Index along d of the pick in the column starting at p (stride inner). */
#define PICK(T)                                                                      \
    static int64_t pick_##T(const T *p, int64_t d, int64_t inner, int min, int last) \
    {                                                                                \
        int64_t best = 0;                                                            \
        T bv = p[0];                                                                 \
        for (int64_t j = 1; j < d && bv == bv; j++) {                                \
            T v = p[j * inner];                                                      \
            if (v != v || (min ? v < bv : v > bv) || (last && v == bv))              \
                best = j, bv = v;                                                    \
        }                                                                            \
        return best;                                                                 \
    }
PICK(float)
PICK(double)
PICK(int32_t)
PICK(int64_t)

static int64_t pick(const qfd_array *x, size_t at, int64_t d, int64_t inner, int min, int last)
{
    switch (x->dtype) {
    case QFD_DT_FLOAT: return pick_float((const float *)x->data + at, d, inner, min, last);
    case QFD_DT_DOUBLE: return pick_double((const double *)x->data + at, d, inner, min, last);
    case QFD_DT_INT32: return pick_int32_t((const int32_t *)x->data + at, d, inner, min, last);
    default: return pick_int64_t((const int64_t *)x->data + at, d, inner, min, last);
    }
}

static qfd_status forward(qfd_op_ctx *oc)
{
    const am_state *s = oc->state;
    const qfd_array *x = oc->in[0];
    int64_t outer, d, inner;
    split(oc, &outer, &d, &inner);
    int min = s->kind == K_ARGMIN;
    int last = s->kind != K_HARDMAX && oc->opset >= 12 && qfd_attr_int(oc->node, "select_last_index", 0);
    if (s->kind == K_HARDMAX) {
        size_t es = x->dtype == QFD_DT_FLOAT ? 4 : 8;
        memset(oc->out[0]->data, 0, (size_t)qfd_array_numel(x) * es);
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < inner; c++) {
            size_t at = (size_t)(o * d * inner + c);
            int64_t j = d > 0 ? pick(x, at, d, inner, min, last) : -1;
            if (s->kind != K_HARDMAX)
                ((int64_t *)oc->out[0]->data)[o * inner + c] = j;
            else if (j >= 0 && x->dtype == QFD_DT_FLOAT)
                ((float *)oc->out[0]->data)[at + (size_t)(j * inner)] = 1.0f;
            else if (j >= 0)
                ((double *)oc->out[0]->data)[at + (size_t)(j * inner)] = 1.0;
        }
    }
    return QFD_OK;
}

#define AM_DEF(sym, op_name)                                         \
    const qfd_op_def qfd_op_##sym = {.name = op_name,                \
                                     .domain = "",                   \
                                     .since = 1,                     \
                                     .flags = QFD_OP_NO_GRAD,        \
                                     .state_size = sizeof(am_state), \
                                     .parse = parse,                 \
                                     .infer = infer,                 \
                                     .forward = forward}

AM_DEF(argmax, "ArgMax");
AM_DEF(argmin, "ArgMin");
AM_DEF(hardmax, "Hardmax");
