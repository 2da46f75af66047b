/* What the int4 format writes differently (used by export_qdq.c): the
 * packed 4-bit integers, and clamps that ONNX Runtime can load.
 *
 * ONNX Runtime 1.30's ClipQuantFusion throws at session creation ("Unexpected
 * data type for QuantizeLinear input y_zero_point of 21") on any Clip that
 * feeds a QuantizeLinear of a 4-bit type, so the int4 file has no such
 * Clip: the clamp a quantizer below 4 bits needs is written as Min/Max, and
 * a model's own Clip (MobileNet's Relu6) whose range holds the 4-bit range
 * after it is dropped, as that fusion would have dropped it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/edit.h"
#include "quant/quant.h"

bool qfd_export_4bit(qfd_quant_format fmt, const qfd_node *fq)
{
    return fmt == QFD_FORMAT_INT4 && qfd_attr_int(fq, "bits", 8) <= 4;
}

size_t qfd_export_int_bytes(int32_t dtype, int64_t n)
{
    return dtype == QFD_DT_INT4 || dtype == QFD_DT_UINT4 ? (size_t)(n + 1) / 2 : (size_t)n;
}

void qfd_export_put_int(void *buf, int32_t dtype, int64_t k, int v)
{
    if (dtype != QFD_DT_INT4 && dtype != QFD_DT_UINT4) {
        ((int8_t *)buf)[k] = (int8_t)v;
        return;
    }
    uint8_t *b = (uint8_t *)buf + k / 2; /* low nibble first; buf starts zeroed */
    *b = (uint8_t)(*b | (v & 15) << (k % 2 * 4));
}

static int scalar(qfd_graph *g, const char *base, float v)
{
    float *d = malloc(sizeof *d);
    if (!d)
        return -1;
    *d = v;
    return qfd_graph_add_init(g, base, QFD_DT_FLOAT, 0, NULL, d, sizeof *d);
}

/* y = op(x, v), a new tensor named after name; -1 when out of memory. */
static int bound(qfd_graph *g, const char *op, int x, float v, const char *name, const char *what)
{
    char base[512];
    snprintf(base, sizeof base, "%.400s_%s", name, what);
    int c = scalar(g, base, v);
    snprintf(base, sizeof base, "%.400s_%sed", name, what);
    int y = c < 0 ? -1 : qfd_graph_add_value(g, base);
    snprintf(base, sizeof base, "%.400s_%s_op", name, what);
    return y < 0 || qfd_graph_add_node(g, op, "", base, (int[]){x, c}, 2, &y, 1) < 0 ? -1 : y;
}

int qfd_export_clamp_4bit(qfd_graph *g, int x, float lo, float hi, const char *name)
{
    if (hi < INFINITY && (x = bound(g, "Min", x, hi, name, "clamp_max")) < 0)
        return -1;
    if (lo > -INFINITY)
        x = bound(g, "Max", x, lo, name, "clamp_min");
    return x;
}

/* Clip's bounds when they are constants. */
static bool clip_bounds(const qfd_graph *g, const qfd_node *c, float *lo, float *hi)
{
    int node;
    *lo = -INFINITY, *hi = INFINITY;
    if (c->n_in > 1 && c->in[1] >= 0 && !qfd_graph_known_scalar(g, c->in[1], lo, &node))
        return false;
    return !(c->n_in > 2 && c->in[2] >= 0 && !qfd_graph_known_scalar(g, c->in[2], hi, &node));
}

void qfd_export_absorb_clips(qfd_graph *g, qfd_quant_format fmt, bool *drop)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        qfd_node *n = &g->nodes[i];
        if (!n->domain || strcmp(n->domain, QFD_FQ_DOMAIN) || strcmp(n->op_type, QFD_FQ_OP) ||
            !qfd_export_4bit(fmt, n) || qfd_graph_float_init(g, n->in[0], -1))
            continue;
        const int64_t qmin = qfd_attr_int(n, "qmin", 0), qmax = qfd_attr_int(n, "qmax", 15);
        if (!(qmin == -8 && qmax == 7) && !(qmin == 0 && qmax == 15))
            continue; /* narrower: the Min/Max clamp sits between the Clip and the QuantizeLinear */
        const int x = n->in[0], p = g->tensors[x].producer;
        const float s = *(const float *)g->tensors[n->in[1]].data;
        float lo, hi;
        if (p < 0 || !qfd_node_is(&g->nodes[p], "Clip") || qfd_graph_n_readers(g, x) != 1 || drop[p] ||
            !clip_bounds(g, &g->nodes[p], &lo, &hi) || (double)lo > (double)qmin * s || (double)hi < (double)qmax * s)
            continue;
        /* Outside [lo, hi] the quantizer saturates to the same integers
         * the Clip's bounds round to. */
        n->in[0] = g->nodes[p].in[0];
        drop[p] = true;
        for (size_t k = 1; k < g->nodes[p].n_in; k++) { /* bounds made by a Constant only for it */
            int b = g->nodes[p].in[k], c = b >= 0 ? g->tensors[b].producer : -1;
            if (c >= 0 && qfd_node_is(&g->nodes[c], "Constant") && qfd_graph_n_readers(g, b) == 1)
                drop[c] = true;
        }
    }
}
