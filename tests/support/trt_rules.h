/* TensorRT's rules for an explicitly quantized ONNX file, checked on the
 * graph (there is no TensorRT on these machines; ../shared/docs/qdq-export.md
 * "TensorRT" gives the sources):
 *  - int8 only: no uint8 initializer, no Q/DQ of another integer type (so
 *    no int32 bias behind a DequantizeLinear);
 *  - every QuantizeLinear/DequantizeLinear has an explicit int8 zero point,
 *    all zeros, and constant scales > 0; activations per tensor; a
 *    per-channel weight scale has as many values as its axis;
 *  - both data inputs of every Conv, ConvTranspose, Gemm and MatMul come
 *    from a DequantizeLinear (layers the file's qfd.quant.float metadata
 *    lists are float and skipped), with the weight's axis on its output
 *    channel; a bias is a float initializer;
 *  - both inputs of a residual Add (two activations, one of them a Conv's
 *    output or dequantized) come from a DequantizeLinear;
 *  - no Q/DQ between a Conv and the Relu or BatchNormalization after it.
 * ConvTranspose's per-channel axis is disputed (NVIDIA/TensorRT #2380): a
 * warning, not a violation. */
#ifndef QFD_TESTS_TRT_RULES_H
#define QFD_TESTS_TRT_RULES_H

#include <stdio.h>

#include "ir/ir.h"

/* Prints each violation ("FAIL: ...") and warning ("warning: ...") to out
 * (NULL: silent); returns the number of violations, *warnings the number
 * of warnings. */
int trt_rules_check(const qfd_model *m, FILE *out, int *warnings);

#endif
