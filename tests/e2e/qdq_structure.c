/* Checks the QDQ structure of a file `qfd-onnx quantize` wrote:
 *  - every layer its metadata (qfd.quant.bits, "name=wNaM,...") calls
 *    quantized has its data inputs (0 and 1) made by DequantizeLinear;
 *  - each weight DequantizeLinear reads int8 integers within the layer's
 *    weight bits, each activation one reads the output of a QuantizeLinear;
 *  - every Q/DQ has an explicit zero point and positive, finite scales;
 *  - no qfd-onnx op (domain ai.qfd) is left;
 *  - format int4 (metadata qfd.quant.format): opset 21 and IR version 10;
 *    a layer's weights of 4 bits or fewer are INT4, its activations UINT4
 *    or INT4 when they have 4 bits or fewer (8-bit types otherwise), and
 *    an activation below 4 bits is clamped (Min) at its trained qmax * scale
 *    before its QuantizeLinear.
 * usage: qdq_structure MODEL.onnx */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "core/ctx.h"
#include "ir/dtype.h"
#include "ir/edit.h"
#include "ir/model_info.h"

/* The weight and activation bits of layer `name` in "a=w4a8,b=w8a8"
 * (0 when it is not there). */
static int layer_bits(const char *bits, const char *name, int *abits)
{
    size_t n = strlen(name);
    *abits = 0;
    for (const char *p = bits; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == '=' && p[n + 1] == 'w') {
            const char *a = strchr(p + n + 2, 'a');
            *abits = a ? atoi(a + 1) : 0;
            return atoi(p + n + 2);
        }
    return 0;
}

/* Integer k of tensor q (int8, or int4 packed low nibble first). */
static int weight_int(const qfd_tensor *q, int64_t k)
{
    if (q->dtype == QFD_DT_INT8)
        return ((const int8_t *)q->data)[k];
    int v = (((const uint8_t *)q->data)[k / 2] >> (k % 2 * 4)) & 15;
    return v >= 8 ? v - 16 : v;
}

static bool four_bit_type(int32_t t)
{
    return t == QFD_DT_INT4 || t == QFD_DT_UINT4;
}

/* An int4-format activation of `abits` bits read through DequantizeLinear
 * dq: stored in a 4-bit type iff abits <= 4, and below 4 bits clamped by a
 * Min at qmax * scale right before its QuantizeLinear. */
static void check_int4_act(const qfd_graph *g, const char *lb, const qfd_node *dq, int abits)
{
    const qfd_tensor *zp = &g->tensors[dq->in[2]];
    if (four_bit_type(zp->dtype) != (abits <= 4)) {
        FAIL("%s: a %d-bit activation stored as %s", lb, abits, qfd_dtype_name(zp->dtype));
        return;
    }
    const qfd_tensor *qv = &g->tensors[dq->in[0]];
    if (abits >= 4 || qv->producer < 0)
        return;
    const qfd_node *q = &g->nodes[qv->producer];
    int p = g->tensors[q->in[0]].producer;
    while (p >= 0 && qfd_node_is(&g->nodes[p], "Max"))
        p = g->tensors[g->nodes[p].in[0]].producer;
    const float *bound = p >= 0 && qfd_node_is(&g->nodes[p], "Min") ? qfd_graph_float_init(g, g->nodes[p].in[1], 1)
                                                                    : NULL;
    const float s = *qfd_graph_float_init(g, dq->in[1], 1);
    const int qmax = zp->dtype == QFD_DT_UINT4 ? (1 << abits) - 1 : (1 << (abits - 1)) - 1;
    if (!bound || fabsf(*bound - (float)qmax * s) > 1e-6f * fabsf(*bound))
        FAIL("%s: a %d-bit activation is not clamped at %d * scale before its QuantizeLinear", lb, abits, qmax);
}

static void check_qdq(const qfd_graph *g, const qfd_node *n, size_t i)
{
    char lb[256];
    qfd_node_label(n, i, lb, sizeof lb);
    if (n->n_in < 3 || n->in[2] < 0) {
        FAIL("%s has no explicit zero point", lb);
        return;
    }
    const qfd_tensor *s = &g->tensors[n->in[1]];
    const float *sv = qfd_graph_float_init(g, n->in[1], -1);
    if (!sv) {
        FAIL("%s: scale '%s' is not a float initializer", lb, s->name);
        return;
    }
    for (int64_t k = 0; k < qfd_tensor_numel(s); k++)
        if (!(sv[k] > 0) || !isfinite(sv[k]))
            FAIL("%s: scale %lld is %g", lb, (long long)k, (double)sv[k]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
        return 2;
    }
    qfd_ctx *ctx = qfd_ctx_new();
    qfd_model *m = NULL;
    if (!ctx || qfd_model_load(ctx, argv[1], &m)) {
        printf("FAIL: %s\n", ctx ? qfd_ctx_error(ctx) : "out of memory");
        return 1;
    }
    const qfd_graph *g = &m->graph;
    const char *bits = qfd_model_metadata(m, "qfd.quant.bits"), *format = qfd_model_metadata(m, "qfd.quant.format");
    if (!bits || !*bits)
        FAIL("no qfd.quant.bits metadata");
    const bool int4 = format && !strcmp(format, "int4");
    if (int4 && (qfd_model_opset(m, "") != 21 || m->ir_version != 10))
        FAIL("int4 file at opset %lld, IR version %lld (want 21 and 10)", (long long)qfd_model_opset(m, ""),
             (long long)m->ir_version);
    int layers = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        char lb[256];
        qfd_node_label(n, i, lb, sizeof lb);
        if (n->domain && !strcmp(n->domain, "ai.qfd"))
            FAIL("%s: a qfd-onnx op is left", lb);
        if (qfd_node_is(n, "QuantizeLinear") || qfd_node_is(n, "DequantizeLinear"))
            check_qdq(g, n, i);
        int ab, wb = n->name ? layer_bits(bits, n->name, &ab) : 0;
        if (!wb)
            continue;
        layers++;
        for (size_t k = 0; k < 2 && k < n->n_in; k++) {
            int p = g->tensors[n->in[k]].producer;
            if (p < 0 || !qfd_node_is(&g->nodes[p], "DequantizeLinear")) {
                FAIL("%s: input %zu is not dequantized", lb, k);
                continue;
            }
            const qfd_node *dq = &g->nodes[p];
            const qfd_tensor *q = &g->tensors[dq->in[0]];
            if (q->flags & QFD_T_INITIALIZER) {
                int32_t want = int4 && wb <= 4 ? QFD_DT_INT4 : QFD_DT_INT8;
                if (q->dtype != want || q->nbytes < (want == QFD_DT_INT4 ? (size_t)(qfd_tensor_numel(q) + 1) / 2
                                                                         : (size_t)qfd_tensor_numel(q))) {
                    FAIL("%s: weight '%s' is %s, not %s", lb, q->name, qfd_dtype_name(q->dtype), qfd_dtype_name(want));
                    continue;
                }
                int lo = -(1 << (wb - 1)), hi = (1 << (wb - 1)) - 1;
                for (int64_t j = 0; j < qfd_tensor_numel(q); j++)
                    if (weight_int(q, j) < lo || weight_int(q, j) > hi) {
                        FAIL("%s: weight integer %d outside [%d, %d] (%d bits)", lb, weight_int(q, j), lo, hi, wb);
                        break;
                    }
            } else if (q->producer < 0 || !qfd_node_is(&g->nodes[q->producer], "QuantizeLinear")) {
                FAIL("%s: input %zu's DequantizeLinear does not read a QuantizeLinear", lb, k);
            } else if (int4 && dq->n_in > 2 && dq->in[2] >= 0) {
                check_int4_act(g, lb, dq, ab);
            }
        }
    }
    if (!layers)
        FAIL("no quantized layer found");
    printf("%s: %d quantized layers checked, %d failure%s\n", argv[1], layers, qfd_test_failures,
           qfd_test_failures == 1 ? "" : "s");
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return qfd_test_failures ? 1 : 0;
}
