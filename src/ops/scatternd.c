/* ScatterND (opsets 11-21): y = data, then for each index tuple
 * t = indices[i.., :] (its last dimension k <= rank(data)), the slice
 * y[t, ...] (data.dims[k:]) becomes updates[i.., ...], or is combined with
 * it by `reduction` (16: none, add, mul; 18: max, min). updates.dims =
 * indices.dims[:-1] ++ data.dims[k:]. Indices are int64, negative ones
 * count from the end; one out of range fails. Any whole-byte type for
 * reduction none, float, double, int32 and int64 for the others. Swin's
 * attention mask is built with it (mask[h0:h1, w0:w1] = id).
 *
 * Backward (float32, reductions none and add; the indices get none):
 *   none: d(data) += dy except on the slices some tuple overwrote,
 *         d(updates[i]) += dy[t_i]
 *   add:  d(data) += dy, d(updates[i]) += dy[t_i]
 * With repeated tuples `none` is order-dependent (ONNX leaves it
 * undefined); every update of such a slice gets dy here. */
#include <string.h>

#include "ops/op.h"

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

typedef struct scatter_state {
    int reduction;
} scatter_state;

static qfd_status parse(qfd_op_ctx *oc, void *state)
{
    scatter_state *s = state;
    const char *r = qfd_attr_str(oc->node, "reduction", "none");
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++) {
        if (!strcmp(r, names[i]) && (i < RED_MAX || oc->opset >= 18) && (i == RED_NONE || oc->opset >= 16)) {
            s->reduction = i;
            return QFD_OK;
        }
    }
    return qfd_op_fail(oc, QFD_ERR_INVALID, "reduction '%s' is not supported at opset %lld", r, (long long)oc->opset);
}

/* Slices (tuples) n, tuple length k, slice length inner (elements). */
static void geometry(const qfd_op_ctx *oc, int64_t *n, int *k, int64_t *inner)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    *k = (int)idx->dims[idx->rank - 1];
    *n = 1;
    for (int i = 0; i + 1 < idx->rank; i++)
        *n *= idx->dims[i];
    *inner = 1;
    for (int i = *k; i < x->rank; i++)
        *inner *= x->dims[i];
}

/* The element offset of tuple j's slice in data, or -1 when an index is out
 * of range. */
static int64_t slice_at(const qfd_array *x, const int64_t *t, int k, int64_t inner)
{
    int64_t off = 0;
    for (int d = 0; d < k; d++) {
        int64_t v = t[d], dim = x->dims[d];
        if (v < -dim || v >= dim)
            return -1;
        off = off * dim + (v < 0 ? v + dim : v);
    }
    return off * inner;
}

static qfd_status infer(qfd_op_ctx *oc)
{
    const qfd_array *x = qfd_op_in(oc, 0), *idx = qfd_op_in(oc, 1), *u = qfd_op_in(oc, 2);
    if (!x || !idx || !u || oc->n_out < 1 || !oc->out[0])
        return qfd_op_fail(oc, QFD_ERR_INVALID, "needs data, indices, updates and one output");
    const scatter_state *s = oc->state;
    if (idx->dtype != QFD_DT_INT64)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "indices must be int64");
    if (u->dtype != x->dtype)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "updates and data have different types");
    int bits = qfd_dtype_bits(x->dtype);
    if (bits < 8 || bits % 8)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "element type %d is not supported", x->dtype);
    if (s->reduction != RED_NONE && x->dtype != QFD_DT_FLOAT && x->dtype != QFD_DT_DOUBLE && x->dtype != QFD_DT_INT32 &&
        x->dtype != QFD_DT_INT64)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "a reduction on type %s is not supported",
                           qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
    if (idx->rank < 1 || x->rank < 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "data and indices must have rank >= 1");
    int64_t k = idx->dims[idx->rank - 1];
    if (k < 1 || k > x->rank)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "the indices' last dimension %lld is not in [1, %d]", (long long)k,
                           x->rank);
    int want = idx->rank - 1 + x->rank - (int)k;
    int ok = u->rank == want;
    for (int i = 0; ok && i < idx->rank - 1; i++)
        ok = u->dims[i] == idx->dims[i];
    for (int i = 0; ok && i < x->rank - (int)k; i++)
        ok = u->dims[idx->rank - 1 + i] == x->dims[k + i];
    if (!ok)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "updates' shape must be indices.shape[:-1] + data.shape[%lld:]",
                           (long long)k);
    qfd_array_like(oc->out[0], x);
    return QFD_OK;
}

#define COMBINE(T)                                               \
    do {                                                         \
        T *yy = (T *)y + off;                                    \
        const T *uu = (const T *)ud + j * inner;                 \
        for (int64_t c = 0; c < inner; c++) {                    \
            T a = yy[c], b = uu[c];                              \
            yy[c] = s->reduction == RED_ADD   ? (T)(a + b)       \
                    : s->reduction == RED_MUL ? (T)(a * b)       \
                    : s->reduction == RED_MAX ? (b > a ? b : a)  \
                                              : (b < a ? b : a); \
        }                                                        \
    } while (0)

static qfd_status forward(qfd_op_ctx *oc)
{
    const qfd_array *x = oc->in[0], *idx = oc->in[1], *u = oc->in[2];
    const scatter_state *s = oc->state;
    int64_t n, inner;
    int k;
    geometry(oc, &n, &k, &inner);
    size_t es = (size_t)qfd_dtype_bits(x->dtype) / 8;
    uint8_t *y = oc->out[0]->data;
    const uint8_t *ud = u->data;
    const int64_t *t = idx->data;
    if (y != x->data && x->nbytes)
        memcpy(y, x->data, (size_t)qfd_array_numel(x) * es);
    for (int64_t j = 0; j < n; j++) {
        int64_t off = slice_at(x, t + j * k, k, inner);
        if (off < 0)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "index tuple %lld is out of range", (long long)j);
        switch (s->reduction == RED_NONE ? 0 : x->dtype) {
        case 0: memcpy(y + (size_t)off * es, ud + (size_t)(j * inner) * es, (size_t)inner * es); break;
        case QFD_DT_FLOAT: COMBINE(float); break;
        case QFD_DT_DOUBLE: COMBINE(double); break;
        case QFD_DT_INT32: COMBINE(int32_t); break;
        default: COMBINE(int64_t); break;
        }
    }
    return QFD_OK;
}

static size_t backward_workspace(const qfd_op_ctx *oc)
{
    const scatter_state *s = oc->state;
    if (s->reduction != RED_NONE || !oc->gin[0])
        return 0;
    int64_t n, inner;
    int k;
    geometry(oc, &n, &k, &inner);
    int64_t slices = qfd_array_numel(oc->in[0]) / (inner > 0 ? inner : 1);
    return (size_t)(slices > 0 ? slices : 0);
}

static qfd_status backward(qfd_op_ctx *oc)
{
    const scatter_state *s = oc->state;
    if (!oc->gout[0] || (!oc->gin[0] && !oc->gin[2]))
        return QFD_OK;
    if (s->reduction != RED_NONE && s->reduction != RED_ADD)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "no gradient through reduction '%s'",
                           qfd_attr_str(oc->node, "reduction", "none"));
    const qfd_array *x = oc->in[0], *idx = oc->in[1];
    int64_t n, inner;
    int k;
    geometry(oc, &n, &k, &inner);
    const float *dy = oc->gout[0]->data;
    const int64_t *t = idx->data;
    if (oc->gin[2]) {
        float *du = oc->gin[2]->data;
        for (int64_t j = 0; j < n; j++) {
            int64_t off = slice_at(x, t + j * k, k, inner);
            for (int64_t c = 0; off >= 0 && c < inner; c++)
                du[j * inner + c] += dy[off + c];
        }
    }
    if (oc->gin[0]) {
        float *dx = oc->gin[0]->data;
        int64_t total = qfd_array_numel(x);
        if (s->reduction == RED_ADD || inner <= 0) {
            for (int64_t i = 0; i < total; i++)
                dx[i] += dy[i];
            return QFD_OK;
        }
        uint8_t *hit = oc->ws;
        int64_t slices = total / inner;
        memset(hit, 0, (size_t)slices);
        for (int64_t j = 0; j < n; j++) {
            int64_t off = slice_at(x, t + j * k, k, inner);
            if (off >= 0)
                hit[off / inner] = 1;
        }
        for (int64_t q = 0; q < slices; q++)
            for (int64_t c = 0; !hit[q] && c < inner; c++)
                dx[q * inner + c] += dy[q * inner + c];
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_scatternd = {
    .name = "ScatterND",
    .domain = "",
    .since = 11,
    .param_role = {QFD_ROLE_DATA, QFD_ROLE_NONE, QFD_ROLE_DATA},
    .state_size = sizeof(scatter_state),
    .parse = parse,
    .infer = infer,
    .forward = forward,
    .backward_workspace = backward_workspace,
    .backward = backward,
};
