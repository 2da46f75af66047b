/* What the int4 format writes differently (used by export_qdq.c): the
 * packed 4-bit integers, and clamps that ONNX Runtime can load.
 *
 * ONNX Runtime 1.30's ClipQuantFusion throws at session creation ("Unexpected
 * data type for QuantizeLinear input y_zero_point of 21") on any Clip that
 * feeds a QuantizeLinear of a 4-bit type, so the int4 file has no such
 * Clip: the clamp a quantizer below 4 bits needs is written as Min/Max, and
 * a model's own Clip (MobileNet's Relu6) that the quantizer after it makes
 * redundant is dropped (export_qdq.c, absorb_clips). */
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
