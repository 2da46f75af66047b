/* Every rule of qfd-onnx check: id, severity, when it runs, what it asks.
 * Ids are stable: a rule that changes meaning gets a new id, and a removed
 * id is never reused, so that CI configurations and reports stay valid.
 * README.md ("Use in CI") lists the same table. */
#include "check/check.h"

#define E QFD_CHECK_ERROR
#define W QFD_CHECK_WARNING

const qfd_check_rule chk_rule_table[R_COUNT] = {
    [R_QDQ001] = {"QDQ001", E, "any", "the graph is well formed: every input defined, no duplicate names, no cycle", 0},
    [R_QDQ002] = {"QDQ002", E, "any",
                  "the opset supports the quantized types and attributes (per-axis 13, int4/uint4/int16/uint16 "
                  "and blocks 21, float8 19)",
                  0},
    [R_QDQ003] = {"QDQ003", E, "any",
                  "every activation and weight input of Conv, ConvTranspose, Gemm and MatMul comes from a "
                  "DequantizeLinear, unless --allow-float or the qfd metadata keeps the layer float",
                  0},
    [R_QDQ004] = {"QDQ004", E, "any",
                  "a layer's weight is a constant integer tensor behind its DequantizeLinear (or a constant float "
                  "through a QuantizeLinear)",
                  0},
    [R_QDQ005] = {"QDQ005", E, "any", "scales are finite and greater than 0", 0},
    [R_QDQ006] = {"QDQ006", E, "any",
                  "a zero point has the quantized tensor's type and the scale's shape; Q/DQ use integer types", 0},
    [R_QDQ007] = {"QDQ007", W, "any",
                  "zero points are given explicitly (a missing one silently means uint8, onnxruntime#27845)", 0},
    [R_QDQ008] = {"QDQ008", E, "any", "signed (int8, int4, int16) weight zero points are 0", 0},
    [R_QDQ009] = {"QDQ009", E, "any", "a per-axis scale has a valid axis and one entry per channel on it", 0},
    [R_QDQ010] = {"QDQ010", E, "any",
                  "weights are quantized per output channel (Conv axis 0; Gemm 0 with transB, else 1; MatMul the "
                  "last axis)",
                  0},
    [R_QDQ011] = {"QDQ011", W, "any",
                  "ConvTranspose weight axis: the runtimes disagree (ONNX Runtime and ModelOpt use 1, TensorRT's "
                  "guide 0)",
                  0},
    [R_QDQ012] = {"QDQ012", E, "any", "weight integers fit the layer's bits (from the qfd metadata, else --expect)", 0},
    [R_QDQ013] = {"QDQ013", E, "any",
                  "a layer's activation input spans no more levels than its bits allow (a Clip before the "
                  "QuantizeLinear keeps a narrower range)",
                  0},
    [R_QDQ014] = {"QDQ014", E, "any",
                  "a QuantizeLinear and the DequantizeLinear reading it share scale, zero point and type", 0},
    [R_QDQ015] = {"QDQ015", E, "any",
                  "every QuantizeLinear output goes to a DequantizeLinear (or an integer op, or out of the graph)", 0},
    [R_QDQ016] = {"QDQ016", E, "any",
                  "an int32 bias has scale = input scale x weight scale and zero point 0 (onnxruntime#24711)", 0},
    [R_QDQ017] = {"QDQ017", W, "any",
                  "no Transpose between a QuantizeLinear and its DequantizeLinear (onnxruntime#14707)", 0},
    [R_QDQ018] = {"QDQ018", W, "any", "a Softmax output is not quantized to int8 (it wraps, onnxruntime#29727)", 0},
    [R_QDQ019] = {"QDQ019", W, "any", "the qfd metadata (qfd.quant.*) is readable and names layers of the graph", 0},
    [R_ORT001] = {"ORT001", E, "ort",
                  "ONNX Runtime can load every op: none from a domain it has no kernels for (ai.qfd, ...)", 0},
    [R_ORT002] = {"ORT002", W, "ort",
                  "a quantized group has a DequantizeLinear on every input and a QuantizeLinear on its output", 1},
    [R_ORT003] = {"ORT003", W, "ort",
                  "a Relu between a layer and its QuantizeLinear is absorbed: the zero point is the type's minimum", 1},
    [R_ORT004] = {"ORT004", W, "ort",
                  "a Clip between a layer and its QuantizeLinear is absorbed: it covers the quantized range", 1},
    [R_ORT005] = {"ORT005", W, "ort",
                  "ONNX Runtime's CPU provider has an integer kernel for the op, its types and weight layout (not "
                  "ConvTranspose, not 4 or 16 bits, not int8 activations it cannot make uint8)",
                  1},
    [R_ORT006] = {"ORT006", W, "ort",
                  "weights are stored as integers, not as floats quantized when the session starts or on every run", 0},
    [R_ORT007] = {"ORT007", W, "ort",
                  "a layer's output goes only to its QuantizeLinear: no graph output, no other reader", 1},
    [R_ORT008] = {"ORT008", W, "ort",
                  "a layer's bias is one ONNX Runtime fuses: int32 at input x weight scale, or a float initializer "
                  "it can quantize itself",
                  1},
    [R_TRT001] = {"TRT001", E, "tensorrt",
                  "Q/DQ use types TensorRT quantizes: int8 (int4 and float8 weights too); uint8 only at the "
                  "network's input or output",
                  0},
    [R_TRT002] = {"TRT002", E, "tensorrt", "zero points are 0: TensorRT is symmetric only (TensorRT#2774)", 0},
    [R_TRT003] = {"TRT003", E, "tensorrt", "no int32 bias behind a DequantizeLinear (onnx-tensorrt#850)", 0},
    [R_TRT004] = {"TRT004", E, "tensorrt", "scales and zero points are constants", 0},
    [R_TRT005] = {"TRT005", E, "tensorrt", "activations are quantized per tensor", 0},
    [R_TRT006] = {"TRT006", E, "tensorrt",
                  "no QOperator or dynamic quantization op: TensorRT's ONNX parser has no importer for them", 0},
    [R_TRT007] = {"TRT007", W, "tensorrt",
                  "both inputs of a residual Add after a Conv come from a DequantizeLinear (Conv and Add fuse in "
                  "int8)",
                  0},
    [R_TRT008] = {"TRT008", W, "tensorrt",
                  "no Q/DQ between a Conv and the BatchNormalization or Relu that TensorRT fuses into it", 0},
    [R_NUM001] = {"NUM001", E, "numeric",
                  "top-1 on the data drops by at most --max-drop points from the reference model's", 0},
};

const qfd_check_rule *qfd_check_rules(size_t *n)
{
    *n = R_COUNT;
    return chk_rule_table;
}
