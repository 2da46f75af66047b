/* The trained fake-quant model as QDQ ONNX (qfd_quant_export). Each
 * FakeQuant(x, s) with range [qmin, qmax] becomes what computes the same
 * floats in ONNX:
 *   weight      DequantizeLinear(q, s, 0, axis), q = clamp(round(W / s)) as
 *               int8 (a range below 8 bits is exact in the int8 container);
 *   activation  [Clip(x, qmin*s, qmax*s)] -> QuantizeLinear(s, zp) ->
 *               DequantizeLinear(s, zp), the Clip only when the range is
 *               narrower than the container (bits < 8), which keeps the
 *               trained clamp; a model's own Clip before it that the
 *               quantizer makes redundant is dropped (absorb_clips).
 * Format ort: activations are stored as uint8 whatever their sign, zero
 * point 0 for [0, 255] and 128 for [-128, 127] (the same floats as int8
 * with zero point 0: ONNX Runtime's x86 kernels are uint8 x int8, and
 * both inputs of a fused Add must share one type). Format tensorrt: int8
 * with zero point 0 everywhere (TensorRT refuses uint8 and other zero
 * points). Zero points are always written explicitly. A bias (BiasQuant)
 * becomes int32 at x_scale * w_scale, as the student computed it; for
 * tensorrt, which refuses an int32 bias behind a DequantizeLinear
 * (onnx-tensorrt #850), the float values of those integers instead: ONNX
 * Runtime rounds them back to the same integers, TensorRT takes them as
 * they are, and both compute what the student did.
 * Format int4 (opset 21): quantizers of 4 bits or fewer are stored in
 * INT4 (weights, signed activations) or UINT4 (unsigned activations), zero
 * point 0, packed two per byte (low nibble first) as ONNX lays them out;
 * below 4 bits Min/Max keep the trained clamp (export_int4.c says why not
 * a Clip). Wider ones as ort. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "io/io.h"
#include "ir/edit.h"
#include "ir/model_info.h"
#include "ops/bias_quant.h"
#include "quant/quant.h"

static int add_scalar(qfd_graph *g, const char *base, int32_t dtype, const void *v, size_t size)
{
    void *d = malloc(size);
    if (!d)
        return -1;
    memcpy(d, v, size);
    return qfd_graph_add_init(g, base, dtype, 0, NULL, d, size);
}

static qfd_status export_weight(qfd_ctx *ctx, qfd_graph *g, int fq, qfd_quant_format fmt)
{
    char base[512];
    const qfd_node *n = &g->nodes[fq];
    const int x = n->in[0], s = n->in[1], y = n->out[0];
    const qfd_tensor *w = &g->tensors[x];
    const float *wv = w->data, *sv = g->tensors[s].data;
    const float qmin = (float)qfd_attr_int(n, "qmin", -128), qmax = (float)qfd_attr_int(n, "qmax", 127);
    const int64_t axis = qfd_attr_get(n, "axis") ? qfd_attr_int(n, "axis", 0) : -1;
    const int64_t numel = qfd_tensor_numel(w), c_n = axis >= 0 ? w->dims[axis] : 1;
    int64_t inner = 1;
    for (int d = (int)axis + 1; axis >= 0 && d < w->rank; d++)
        inner *= w->dims[d];
    const int32_t dtype = qfd_export_4bit(fmt, n) ? QFD_DT_INT4 : QFD_DT_INT8;
    void *q = calloc(qfd_export_int_bytes(dtype, numel) + 1, 1);
    float *scale = malloc((size_t)c_n * sizeof *scale);
    void *zp = calloc(qfd_export_int_bytes(dtype, c_n), 1);
    if (!q || !scale || !zp) {
        free(q), free(scale), free(zp);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < numel; i++) {
        float st = sv[axis >= 0 ? (i / inner) % c_n : 0], r = rintf(wv[i] / st);
        qfd_export_put_int(q, dtype, i, (int)(r < qmin ? qmin : r > qmax ? qmax : r));
    }
    memcpy(scale, sv, (size_t)c_n * sizeof *scale);
    int64_t wdims[QFD_ARRAY_MAX_RANK], cdims[1] = {c_n};
    memcpy(wdims, w->dims, (size_t)w->rank * sizeof *wdims);
    int rank = w->rank, crank = axis >= 0 ? 1 : 0;
    snprintf(base, sizeof base, "%s_quantized", w->name);
    int tq = qfd_graph_add_init(g, base, dtype, rank, wdims, q, qfd_export_int_bytes(dtype, numel));
    snprintf(base, sizeof base, "%s_scale", g->tensors[x].name);
    int ts = tq < 0 ? (free(scale), -1) : qfd_graph_add_init(g, base, QFD_DT_FLOAT, crank, cdims, scale, c_n * 4);
    snprintf(base, sizeof base, "%s_zero_point", g->tensors[x].name);
    int tz = ts < 0 ? (free(zp), -1)
                    : qfd_graph_add_init(g, base, dtype, crank, cdims, zp, qfd_export_int_bytes(dtype, c_n));
    snprintf(base, sizeof base, "%s_dequantize", g->tensors[x].name);
    int dq = tz < 0 ? -1 : qfd_graph_add_node(g, "DequantizeLinear", "", base, (int[]){tq, ts, tz}, 3, (int[]){y}, 1);
    if (dq < 0 || (axis >= 0 && qfd_node_set_int(&g->nodes[dq], "axis", axis)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

static qfd_status export_act(qfd_ctx *ctx, qfd_graph *g, int fq, qfd_quant_format fmt)
{
    char base[512], name[400]; /* names past 400 bytes are cut; add_value keeps them unique */
    const qfd_node *n = &g->nodes[fq];
    const int x = n->in[0], y = n->out[0];
    const int64_t qmin = qfd_attr_int(n, "qmin", 0), qmax = qfd_attr_int(n, "qmax", 255);
    const float s = *(const float *)g->tensors[n->in[1]].data;
    snprintf(name, sizeof name, "%s", g->tensors[x].name);
    /* the container: uint8 for ort, int8 for tensorrt, 4-bit types in int4 */
    int32_t dtype = fmt == QFD_FORMAT_TENSORRT ? QFD_DT_INT8 : QFD_DT_UINT8;
    if (qfd_export_4bit(fmt, n))
        dtype = qmin < 0 ? QFD_DT_INT4 : QFD_DT_UINT4;
    int64_t lo = dtype == QFD_DT_UINT8 ? 0 : dtype == QFD_DT_INT8 ? -128 : dtype == QFD_DT_INT4 ? -8 : 0;
    int64_t hi = dtype == QFD_DT_UINT8 ? 255 : dtype == QFD_DT_INT8 ? 127 : dtype == QFD_DT_INT4 ? 7 : 15;
    int64_t zp = dtype == QFD_DT_UINT8 && qmin < 0 ? 128 : 0;
    if (qmin + zp < lo || qmax + zp > hi)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "quantizer of '%s': range [%lld, %lld] does not fit its container", name,
                        (long long)qmin, (long long)qmax);
    int in = x;
    if ((qmin + zp > lo || qmax + zp < hi) && qfd_export_4bit(fmt, n)) { /* keep the trained clamp */
        in = qfd_export_clamp_4bit(g, x, qmin > lo ? (float)qmin * s : -INFINITY,
                                   qmax < hi ? (float)qmax * s : INFINITY, name);
        if (in < 0)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    } else if (qmin + zp > lo || qmax + zp < hi) { /* narrower than the container: keep the trained clamp */
        float cl = (float)qmin * s, ch = (float)qmax * s;
        snprintf(base, sizeof base, "%s_clip_min", name);
        int tl = add_scalar(g, base, QFD_DT_FLOAT, &cl, sizeof cl);
        snprintf(base, sizeof base, "%s_clip_max", name);
        int th = tl < 0 ? -1 : add_scalar(g, base, QFD_DT_FLOAT, &ch, sizeof ch);
        snprintf(base, sizeof base, "%s_clipped", name);
        in = th < 0 ? -1 : qfd_graph_add_value(g, base);
        snprintf(base, sizeof base, "%s_clip", name);
        if (in < 0 || qfd_graph_add_node(g, "Clip", "", base, (int[]){x, tl, th}, 3, (int[]){in}, 1) < 0)
            return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    uint8_t zp_u8 = (uint8_t)zp;
    int8_t zp_i8 = 0;
    snprintf(base, sizeof base, "%s_scale", name);
    int ts = add_scalar(g, base, QFD_DT_FLOAT, &s, sizeof s);
    snprintf(base, sizeof base, "%s_zero_point", name);
    int tz = ts < 0 ? -1 : add_scalar(g, base, dtype, dtype == QFD_DT_UINT8 ? (void *)&zp_u8 : (void *)&zp_i8, 1);
    snprintf(base, sizeof base, "%s_quantized", name);
    int tq = tz < 0 ? -1 : qfd_graph_add_value(g, base);
    snprintf(base, sizeof base, "%s_quantize", name);
    int qn = tq < 0 ? -1 : qfd_graph_add_node(g, "QuantizeLinear", "", base, (int[]){in, ts, tz}, 3, (int[]){tq}, 1);
    snprintf(base, sizeof base, "%s_dequantize", name);
    int dq = qn < 0 ? -1 : qfd_graph_add_node(g, "DequantizeLinear", "", base, (int[]){tq, ts, tz}, 3, (int[]){y}, 1);
    if (dq < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

/* BiasQuant(b, sx, sw) -> DequantizeLinear(int32 q, sx * sw, 0[, axis 0]):
 * the same integers and the same float32 product the student used. */
static qfd_status export_bias(qfd_ctx *ctx, qfd_graph *g, int bq)
{
    char base[512];
    const qfd_node *n = &g->nodes[bq];
    const int x = n->in[0], y = n->out[0];
    const float *b = g->tensors[x].data, sx = *(const float *)g->tensors[n->in[1]].data;
    const float *sw = g->tensors[n->in[2]].data;
    const int64_t nc = qfd_tensor_numel(&g->tensors[x]), nw = qfd_tensor_numel(&g->tensors[n->in[2]]);
    int32_t *q = malloc((size_t)nc * sizeof *q), *zp = calloc((size_t)nw, sizeof *zp);
    float *scale = malloc((size_t)nw * sizeof *scale);
    if (!q || !scale || !zp) {
        free(q), free(scale), free(zp);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < nw; k++)
        scale[k] = sx * sw[k];
    for (int64_t c = 0; c < nc; c++)
        q[c] = (int32_t)qfd_bias_quant_int(b[c], scale[nw == 1 ? 0 : c]);
    int64_t dims[1] = {nc}, sdims[1] = {nw};
    int srank = nw == 1 ? 0 : 1;
    char name[400];
    snprintf(name, sizeof name, "%s", g->tensors[x].name);
    snprintf(base, sizeof base, "%s_quantized", name);
    int tq = qfd_graph_add_init(g, base, QFD_DT_INT32, 1, dims, q, (size_t)nc * sizeof *q);
    snprintf(base, sizeof base, "%s_scale", name);
    int ts = tq < 0 ? (free(scale), -1) : qfd_graph_add_init(g, base, QFD_DT_FLOAT, srank, sdims, scale, nw * 4);
    snprintf(base, sizeof base, "%s_zero_point", name);
    int tz = ts < 0 ? (free(zp), -1) : qfd_graph_add_init(g, base, QFD_DT_INT32, srank, sdims, zp, nw * 4);
    snprintf(base, sizeof base, "%s_dequantize", name);
    int dq = tz < 0 ? -1 : qfd_graph_add_node(g, "DequantizeLinear", "", base, (int[]){tq, ts, tz}, 3, (int[]){y}, 1);
    if (dq < 0 || (srank && qfd_node_set_int(&g->nodes[dq], "axis", 0)))
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    return QFD_OK;
}

/* BiasQuant(b, sx, sw) -> a float initializer holding its output, which
 * the layer reads instead. */
static qfd_status export_bias_float(qfd_ctx *ctx, qfd_graph *g, int bq)
{
    char base[512];
    const qfd_node *n = &g->nodes[bq];
    const int x = n->in[0], y = n->out[0];
    const float *b = g->tensors[x].data, sx = *(const float *)g->tensors[n->in[1]].data;
    const float *sw = g->tensors[n->in[2]].data;
    const int64_t nc = qfd_tensor_numel(&g->tensors[x]), nw = qfd_tensor_numel(&g->tensors[n->in[2]]);
    float *v = malloc((size_t)nc * sizeof *v + 1);
    if (!v)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < nc; c++) {
        float s = sx * sw[nw == 1 ? 0 : c];
        v[c] = (float)qfd_bias_quant_int(b[c], s) * s;
    }
    int64_t dims[1] = {nc};
    snprintf(base, sizeof base, "%s_rounded", g->tensors[x].name);
    int t = qfd_graph_add_init(g, base, QFD_DT_FLOAT, 1, dims, v, (size_t)nc * sizeof *v);
    if (t < 0)
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] == y)
                g->nodes[i].in[k] = t;
    return QFD_OK;
}

/* Drops the import of domain (nothing uses it any more). */
static void drop_opset(qfd_model *m, const char *domain)
{
    size_t w = 0;
    for (size_t i = 0; i < m->n_opsets; i++) {
        if (m->opsets[i].domain && !strcmp(m->opsets[i].domain, domain)) {
            free(m->opsets[i].domain);
            qfd_extra_clear(&m->opsets[i].extra);
            continue;
        }
        m->opsets[w++] = m->opsets[i];
    }
    m->n_opsets = w;
}

/* Drops a model's own Clip (a Relu6) whose only reader is an activation
 * quantizer that saturates where the Clip does: every x past a bound
 * quantizes to the integer the bound itself rounds to, qmin or qmax (a
 * margin of 0.01 step keeps float rounding out of the test), so the file
 * computes the same without it. ONNX Runtime drops such a Clip itself, but
 * not all of them: 1.30 fails to load a file whose Relu6 bound sits a
 * hair under the quantizer's range ("two nodes with same node name"), and
 * its 4-bit types make its ClipQuantFusion throw (export_int4.c). Below 4
 * bits in int4 the Min/Max clamp sits between the two: kept. */
static void absorb_clips(qfd_graph *g, qfd_quant_format fmt, bool *drop)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        qfd_node *n = &g->nodes[i];
        if (!n->domain || strcmp(n->domain, QFD_FQ_DOMAIN) || strcmp(n->op_type, QFD_FQ_OP) ||
            qfd_graph_float_init(g, n->in[0], -1))
            continue;
        const int64_t qmin = qfd_attr_int(n, "qmin", 0), qmax = qfd_attr_int(n, "qmax", 255);
        if (qfd_export_4bit(fmt, n) && !(qmin == -8 && qmax == 7) && !(qmin == 0 && qmax == 15))
            continue;
        const int x = n->in[0], p = g->tensors[x].producer;
        const double s = *(const float *)g->tensors[n->in[1]].data;
        float lo, hi;
        if (p < 0 || !qfd_node_is(&g->nodes[p], "Clip") || qfd_graph_n_readers(g, x) != 1 || drop[p] ||
            !qfd_quant_clip_bounds(g, &g->nodes[p], &lo, &hi) || !(s > 0) || lo / s > (double)qmin + 0.49 ||
            hi / s < (double)qmax - 0.49)
            continue;
        n->in[0] = g->nodes[p].in[0];
        drop[p] = true;
        for (size_t k = 1; k < g->nodes[p].n_in; k++) { /* bounds made by a Constant only for it */
            int b = g->nodes[p].in[k], c = b >= 0 ? g->tensors[b].producer : -1;
            if (c >= 0 && qfd_node_is(&g->nodes[c], "Constant") && qfd_graph_n_readers(g, b) == 1)
                drop[c] = true;
        }
    }
}

qfd_status qfd_quant_export(qfd_ctx *ctx, const qfd_model *src, qfd_quant_format fmt, qfd_model **out)
{
    *out = NULL;
    if (fmt == QFD_FORMAT_INT4 && qfd_model_opset(src, "") < 21)
        return qfd_fail(ctx, QFD_ERR_INTERNAL, "the int4 export needs the model at opset 21 (upgrade it first)");
    if (qfd_model_opset(src, "") < 13)
        return qfd_fail(ctx, QFD_ERR_UNSUPPORTED,
                        "the model imports ONNX opset %lld; per-channel QDQ needs opset 13 or later",
                        (long long)qfd_model_opset(src, ""));
    qfd_model *m;
    qfd_status st = qfd_onnx_clone(ctx, src, &m);
    if (st)
        return st;
    qfd_graph *g = &m->graph;
    size_t n_nodes = g->n_nodes;
    bool *drop = calloc(n_nodes + 1, sizeof *drop);
    if (!drop) {
        qfd_model_free(m);
        return qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    }
    absorb_clips(g, fmt, drop);
    for (size_t i = 0; i < n_nodes && !st; i++) {
        const qfd_node *n = &g->nodes[i];
        if (!n->domain || strcmp(n->domain, QFD_FQ_DOMAIN))
            continue;
        drop[i] = true;
        if (!strcmp(n->op_type, QFD_BQ_OP) && fmt == QFD_FORMAT_TENSORRT)
            st = export_bias_float(ctx, g, (int)i);
        else if (!strcmp(n->op_type, QFD_BQ_OP))
            st = export_bias(ctx, g, (int)i);
        else if (qfd_graph_float_init(g, n->in[0], -1))
            st = export_weight(ctx, g, (int)i, fmt);
        else
            st = export_act(ctx, g, (int)i, fmt);
    }
    /* The new nodes sit past n_nodes: drop only the FakeQuant ones. */
    bool *all = st ? NULL : calloc(g->n_nodes + 1, sizeof *all);
    if (!st && !all)
        st = qfd_fail(ctx, QFD_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(all, drop, n_nodes * sizeof *all);
        qfd_graph_drop_nodes(g, all);
    }
    if (!st) {
        qfd_graph_prune_inits(g);
        drop_opset(m, QFD_FQ_DOMAIN);
        st = qfd_graph_validate(ctx, g);
    }
    free(all);
    free(drop);
    if (st) {
        qfd_model_free(m);
        return st;
    }
    *out = m;
    return QFD_OK;
}
