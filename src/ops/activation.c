/* Fused activations: parsing (ONNX Runtime's FusedConv attributes) and the
 * plain-C epilogue. */
#include "ops/activation.h"
#include "ops/simd.h"

#include <math.h>
#include <string.h>

qfd_status qfd_act_parse(const qfd_op_ctx *oc, qfd_act *a)
{
    memset(a, 0, sizeof *a);
    const char *name = qfd_attr_str(oc->node, "activation", NULL);
    const float *p;
    size_t np = qfd_attr_floats(oc->node, "activation_params", &p);
    if (!name)
        return QFD_OK;
    if (!strcmp(name, "Relu") && np == 0) {
        *a = (qfd_act){QFD_ACT_CLIP, 0.0f, INFINITY, 0.0f};
    } else if (!strcmp(name, "Clip") && np == 2) {
        *a = (qfd_act){QFD_ACT_CLIP, p[0], p[1], 0.0f};
    } else if (!strcmp(name, "LeakyRelu") && np == 1) {
        *a = (qfd_act){QFD_ACT_LEAKY_RELU, 0.0f, 0.0f, p[0]};
    } else {
        return qfd_op_fail(oc, QFD_ERR_UNSUPPORTED, "activation '%s' with %zu parameters is not supported", name, np);
    }
    return QFD_OK;
}

/* The epilogues below run over every output of a fused Conv: AVX-512 and
 * AVX2 clones, chosen at load. */

QFD_SIMD_CLONES_AVX512
void qfd_act_apply(const qfd_act *a, const float *b, float *y, int64_t n)
{
    const int kind = a ? a->kind : QFD_ACT_NONE;
    const float bias = b ? *b : 0.0f, lo = a ? a->lo : 0.0f, hi = a ? a->hi : 0.0f, al = a ? a->alpha : 0.0f;
    /* one loop per case, so that each vectorises; without a bias nothing is
     * added (-0 + 0 would be +0) */
    if (kind == QFD_ACT_NONE) {
        for (int64_t i = 0; b && i < n; i++)
            y[i] += bias;
    } else if (kind == QFD_ACT_CLIP && b) {
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] + bias;
            v = v < lo ? lo : v;
            y[i] = v > hi ? hi : v;
        }
    } else if (kind == QFD_ACT_CLIP) {
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] < lo ? lo : y[i];
            y[i] = v > hi ? hi : v;
        }
    } else if (b) {
        for (int64_t i = 0; i < n; i++) {
            const float v = y[i] + bias;
            y[i] = v < 0 ? al * v : v;
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] < 0 ? al * y[i] : y[i];
    }
}

QFD_SIMD_CLONES_AVX512
void qfd_act_apply_sum(const qfd_act *a, const float *z, float *y, int64_t n)
{
    const int kind = a ? a->kind : QFD_ACT_NONE;
    const float lo = a ? a->lo : 0.0f, hi = a ? a->hi : 0.0f, al = a ? a->alpha : 0.0f;
    if (kind == QFD_ACT_NONE) {
        for (int64_t i = 0; i < n; i++)
            y[i] += z[i];
    } else if (kind == QFD_ACT_CLIP) {
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] + z[i];
            v = v < lo ? lo : v;
            y[i] = v > hi ? hi : v;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const float v = y[i] + z[i];
            y[i] = v < 0 ? al * v : v;
        }
    }
}
