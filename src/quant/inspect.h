/* What a QDQ file holds, as `info` shows it (qfd_quant_inspect): its format
 * and the bits of each layer, from the metadata quantize writes (quant.h,
 * QFD_META_*) or, for files other tools wrote, inferred from the graph. */
#ifndef QFD_QUANT_INSPECT_H
#define QFD_QUANT_INSPECT_H

#include <stdbool.h>

#include "ir/ir.h"

typedef struct qfd_qlayer_info {
    int node;           /* a Conv, ConvTranspose, Gemm or MatMul */
    int wbits, abits;   /* its weight (input 1) and input activation (input 0); 0: float */
    bool from_metadata; /* else inferred */
} qfd_qlayer_info;

typedef struct qfd_quant_info {
    /* "ort", "int4", "tensorrt", or "qdq" (another layout); NULL without
     * QuantizeLinear/DequantizeLinear */
    const char *format;
    bool format_from_metadata;
    size_t n_layers;
    qfd_qlayer_info *layers; /* the caller's array, room for one per node */
} qfd_quant_info;

/* Fills info (layers in node order; info->layers set by the caller).
 * Inferred bits are those the integers need: a weight's from the values
 * it holds, an activation's from its QuantizeLinear's type and zero point,
 * narrowed by a Clip right before it (the clamp that keeps fewer bits in a
 * wider container; signed in a signed container). The format is inferred
 * from the Q/DQ types: int4/uint4
 * -> int4; uint8 activations -> ort; int8 only, zero points 0 -> tensorrt. */
void qfd_quant_inspect(const qfd_model *m, qfd_quant_info *info);

/* The integer type of QuantizeLinear/DequantizeLinear node n: its zero
 * point's, else the data it dequantizes, else output_dtype (Q, opset 21),
 * else the QuantizeLinear a DequantizeLinear reads, else uint8 as the spec
 * defaults. */
int32_t qfd_quant_qdq_type(const qfd_graph *g, const qfd_node *n);

#endif
