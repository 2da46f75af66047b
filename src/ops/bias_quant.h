/* BiasQuant's rounding, shared by the op (bias_quant.c) and the QDQ export
 * (src/quant/export_qdq.c), so that the file holds what the student used:
 * the int32 that bias value b is held as at step s. */
#ifndef QFD_OPS_BIAS_QUANT_H
#define QFD_OPS_BIAS_QUANT_H

#include <math.h>
#include <stdint.h>

static inline double qfd_bias_quant_int(float b, float s)
{
    double q = rint((double)(b / s));
    return q < (double)INT32_MIN ? (double)INT32_MIN : q > (double)INT32_MAX ? (double)INT32_MAX : q;
}

#endif
