/* Checks the QDQ structure of a file `qfd-onnx quantize` wrote:
 *  - every layer its metadata (qfd.quant.bits, "name=wNaM,...") calls
 *    quantized has its data inputs (0 and 1) made by DequantizeLinear;
 *  - each weight DequantizeLinear reads int8 integers within the layer's
 *    weight bits, each activation one reads the output of a QuantizeLinear;
 *  - every Q/DQ has an explicit zero point and positive, finite scales;
 *  - no qfd-onnx op (domain ai.qfd) is left.
 * usage: qdq_structure MODEL.onnx */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "ir/edit.h"
#include "ir/model_info.h"

static int fails;

#define FAIL(...)                     \
    do {                              \
        printf("FAIL: " __VA_ARGS__); \
        putchar('\n');                \
        fails++;                      \
    } while (0)

/* The weight bits of layer `name` in "a=w4a8,b=w8a8", or 0. */
static int layer_wbits(const char *bits, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = bits; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == '=' && p[n + 1] == 'w')
            return atoi(p + n + 2);
    return 0;
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
    const char *bits = qfd_model_metadata(m, "qfd.quant.bits");
    if (!bits || !*bits)
        FAIL("no qfd.quant.bits metadata");
    int layers = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const qfd_node *n = &g->nodes[i];
        char lb[256];
        qfd_node_label(n, i, lb, sizeof lb);
        if (n->domain && !strcmp(n->domain, "ai.qfd"))
            FAIL("%s: a qfd-onnx op is left", lb);
        if (qfd_node_is(n, "QuantizeLinear") || qfd_node_is(n, "DequantizeLinear"))
            check_qdq(g, n, i);
        int wb = n->name ? layer_wbits(bits, n->name) : 0;
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
                if (q->dtype != QFD_DT_INT8) {
                    FAIL("%s: weight '%s' is not int8", lb, q->name);
                    continue;
                }
                const int8_t *v = q->data;
                int lo = -(1 << (wb - 1)), hi = (1 << (wb - 1)) - 1;
                for (int64_t j = 0; j < qfd_tensor_numel(q); j++)
                    if (v[j] < lo || v[j] > hi) {
                        FAIL("%s: weight integer %d outside [%d, %d] (%d bits)", lb, v[j], lo, hi, wb);
                        break;
                    }
            } else if (q->producer < 0 || !qfd_node_is(&g->nodes[q->producer], "QuantizeLinear")) {
                FAIL("%s: input %zu's DequantizeLinear does not read a QuantizeLinear", lb, k);
            }
        }
    }
    if (!layers)
        FAIL("no quantized layer found");
    printf("%s: %d quantized layers checked, %d failure%s\n", argv[1], layers, fails, fails == 1 ? "" : "s");
    qfd_model_free(m);
    qfd_ctx_free(ctx);
    return fails ? 1 : 0;
}
