/* QuantizeLinear and DequantizeLinear (opsets 10, 13, 19, 21), float32 side.
 *   quantize:   y = saturate(round_half_even(x / scale) + zero_point)
 *   dequantize: y = (x - zero_point) * scale
 * Scale and zero point are scalars (per tensor) or, from opset 13, 1-D along
 * `axis` (default 1, per axis). The quantized type is the zero point's, else
 * (QuantizeLinear 21) output_dtype, else uint8: int8, uint8, int16, uint16,
 * int4, uint4 (4-bit values packed two per byte, low nibble first).
 * DequantizeLinear also takes int32 (zero point 0). Blocked quantization
 * (block_size > 0) and float8 types are not supported.
 */
#include <math.h>
#include <stdint.h>

#include "ops/op.h"

typedef struct q_plan {
    int32_t qtype;
    int64_t outer, ch, inner; /* x as [outer, ch, inner]; ch = 1 per tensor */
} q_plan;

static void q_put(int32_t dt, void *p, int64_t i, int32_t v)
{
    switch (dt) {
    case QFD_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case QFD_DT_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case QFD_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case QFD_DT_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case QFD_DT_UINT4:
    case QFD_DT_INT4: {
        uint8_t *b = (uint8_t *)p + (i >> 1);
        int sh = (int)(i & 1) * 4;
        *b = (uint8_t)((*b & ~(15 << sh)) | ((v & 15) << sh));
        break;
    }
    default: break;
    }
}

static qfd_status make_plan(qfd_op_ctx *oc, int quantize, q_plan *p)
{
    const qfd_array *x = qfd_op_in(oc, 0), *s = qfd_op_in(oc, 1), *z = qfd_op_in(oc, 2);
    if (!x || !s)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "missing input");
    if (oc->opset >= 21 && qfd_attr_int(oc->node, "block_size", 0) > 0)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "blocked quantization (block_size > 0) is not supported");
    if (s->dtype != QFD_DT_FLOAT)
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "scale type %s is not supported (float only)",
                           qfd_dtype_name(s->dtype) ? qfd_dtype_name(s->dtype) : "?");
    int32_t lo, hi;
    if (quantize) {
        if (x->dtype != QFD_DT_FLOAT)
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported (float only)",
                               qfd_dtype_name(x->dtype) ? qfd_dtype_name(x->dtype) : "?");
        int64_t odt = oc->opset >= 21 ? qfd_attr_int(oc->node, "output_dtype", 0) : 0;
        if (z && odt && z->dtype != odt)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "output_dtype %lld differs from the zero point's type %d",
                               (long long)odt, z->dtype);
        p->qtype = z ? z->dtype : odt ? (int32_t)odt : QFD_DT_UINT8;
        if (p->qtype == QFD_DT_INT32 || !qfd_dtype_qrange(p->qtype, &lo, &hi))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "quantized type %s is not supported",
                               qfd_dtype_name(p->qtype) ? qfd_dtype_name(p->qtype) : "?");
    } else {
        p->qtype = x->dtype;
        if (!qfd_dtype_qrange(p->qtype, &lo, &hi))
            return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "input type %s is not supported",
                               qfd_dtype_name(p->qtype) ? qfd_dtype_name(p->qtype) : "?");
        if (z && z->dtype != x->dtype)
            return qfd_op_fail(oc, QFD_ERR_INVALID, "zero point type %d differs from the input's %d", z->dtype,
                               x->dtype);
    }
    int64_t ns = qfd_array_numel(s);
    if (z && (z->rank != s->rank || qfd_array_numel(z) != ns))
        return qfd_op_fail(oc, QFD_ERR_INVALID, "zero point and scale shapes differ");
    p->outer = 1;
    p->ch = 1;
    p->inner = qfd_array_numel(x);
    /* A one-element 1-D scale is per tensor too, as in ONNX Runtime. */
    if (s->rank == 0 || (s->rank == 1 && ns == 1))
        return QFD_OK;
    if (oc->opset < 13 || s->rank != 1)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "scale must be a scalar%s", oc->opset < 13 ? "" : " or 1-D");
    int64_t axis = qfd_attr_int(oc->node, "axis", 1);
    int ax = qfd_norm_axis(axis, x->rank);
    if (ax < 0)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis, x->rank);
    if (x->dims[ax] != ns)
        return qfd_op_fail(oc, QFD_ERR_INVALID, "%lld scales for axis %d of size %lld", (long long)ns, ax,
                           (long long)x->dims[ax]);
    p->ch = ns;
    p->inner = 1;
    for (int i = 0; i < ax; i++)
        p->outer *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++)
        p->inner *= x->dims[i];
    return QFD_OK;
}

static qfd_status infer_q(qfd_op_ctx *oc)
{
    q_plan p;
    qfd_status st = make_plan(oc, 1, &p);
    if (st)
        return st;
    qfd_array_like(oc->out[0], oc->in[0]);
    oc->out[0]->dtype = p.qtype;
    return QFD_OK;
}

static qfd_status infer_dq(qfd_op_ctx *oc)
{
    q_plan p;
    qfd_status st = make_plan(oc, 0, &p);
    if (st)
        return st;
    qfd_array_like(oc->out[0], oc->in[0]);
    oc->out[0]->dtype = QFD_DT_FLOAT;
    return QFD_OK;
}

static qfd_status forward_q(qfd_op_ctx *oc)
{
    q_plan p;
    qfd_status st = make_plan(oc, 1, &p);
    if (st)
        return st;
    const qfd_array *z = qfd_op_in(oc, 2);
    const float *x = oc->in[0]->data, *sc = oc->in[1]->data;
    void *y = oc->out[0]->data;
    int32_t lo = 0, hi = 0;
    qfd_dtype_qrange(p.qtype, &lo, &hi);
    for (int64_t c = 0; c < p.ch; c++) {
        float s = sc[c], zp = z ? (float)qfd_dtype_qget(p.qtype, z->data, c) : 0.0f;
        for (int64_t o = 0; o < p.outer; o++) {
            int64_t base = (o * p.ch + c) * p.inner;
            /* rintf rounds half to even in the default rounding mode; the
             * 8-bit loops are written out so that they vectorise. */
            if (p.qtype == QFD_DT_UINT8) {
                uint8_t *yb = (uint8_t *)y + base;
#pragma omp parallel for num_threads(oc->n_threads) if (p.inner > 65536)
                for (int64_t i = 0; i < p.inner; i++)
                    yb[i] = (uint8_t)fminf(fmaxf(rintf(x[base + i] / s) + zp, 0.0f), 255.0f);
            } else if (p.qtype == QFD_DT_INT8) {
                int8_t *yb = (int8_t *)y + base;
#pragma omp parallel for num_threads(oc->n_threads) if (p.inner > 65536)
                for (int64_t i = 0; i < p.inner; i++)
                    yb[i] = (int8_t)fminf(fmaxf(rintf(x[base + i] / s) + zp, -128.0f), 127.0f);
            } else {
                for (int64_t i = 0; i < p.inner; i++) {
                    float v = rintf(x[base + i] / s) + zp;
                    v = v < (float)lo ? (float)lo : v > (float)hi ? (float)hi : v;
                    q_put(p.qtype, y, base + i, (int32_t)v);
                }
            }
        }
    }
    return QFD_OK;
}

static qfd_status forward_dq(qfd_op_ctx *oc)
{
    q_plan p;
    qfd_status st = make_plan(oc, 0, &p);
    if (st)
        return st;
    const qfd_array *z = qfd_op_in(oc, 2);
    const void *x = oc->in[0]->data;
    const float *sc = oc->in[1]->data;
    float *y = oc->out[0]->data;
    for (int64_t c = 0; c < p.ch; c++) {
        float s = sc[c];
        int32_t zp = z ? qfd_dtype_qget(p.qtype, z->data, c) : 0;
        for (int64_t o = 0; o < p.outer; o++) {
            int64_t base = (o * p.ch + c) * p.inner;
            if (p.qtype == QFD_DT_UINT8) {
                const uint8_t *xb = (const uint8_t *)x + base;
#pragma omp parallel for num_threads(oc->n_threads) if (p.inner > 65536)
                for (int64_t i = 0; i < p.inner; i++)
                    y[base + i] = (float)((int32_t)xb[i] - zp) * s;
            } else if (p.qtype == QFD_DT_INT8) {
                const int8_t *xb = (const int8_t *)x + base;
#pragma omp parallel for num_threads(oc->n_threads) if (p.inner > 65536)
                for (int64_t i = 0; i < p.inner; i++)
                    y[base + i] = (float)((int32_t)xb[i] - zp) * s;
            } else {
#pragma omp parallel for num_threads(oc->n_threads) if (p.inner > 65536)
                for (int64_t i = 0; i < p.inner; i++)
                    y[base + i] = (float)((int64_t)qfd_dtype_qget(p.qtype, x, base + i) - zp) * s;
            }
        }
    }
    return QFD_OK;
}

const qfd_op_def qfd_op_quantize_linear = {.name = "QuantizeLinear",
                                           .domain = "",
                                           .since = 10,
                                           /* x passed on, so that a float weight behind it is seen (and
                                              refused: no backward); scale and zero point frozen */
                                           .param_role = {QFD_ROLE_PASS, QFD_ROLE_FROZEN, QFD_ROLE_FROZEN},
                                           .infer = infer_q,
                                           .forward = forward_q};
const qfd_op_def qfd_op_dequantize_linear = {.name = "DequantizeLinear",
                                             .domain = "",
                                             .since = 10,
                                             .param_role = {QFD_ROLE_PASS, QFD_ROLE_FROZEN, QFD_ROLE_FROZEN},
                                             .infer = infer_dq,
                                             .forward = forward_dq};
