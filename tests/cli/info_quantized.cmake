# qfd-onnx info on quantized files (issue 10): the format, the opset and
# the bits of every layer. Included from tests/CMakeLists.txt (qfd_cli_test,
# FIX and CLI_TMP come from there).

# Files other tools wrote, without qfd metadata (tools/ort/make_qdq_fixtures.js):
# the format from the Q/DQ types, the bits from the integers and the Clip
# before a QuantizeLinear (4-bit activations in 8-bit containers).
set(QDQ "${CMAKE_CURRENT_SOURCE_DIR}/data/qdq")
qfd_cli_test(info_infer_ort RC 0 ARGS info ${QDQ}/ort_w4a4.onnx
  STDOUT "\n  quantized    yes: format ort \\(inferred from the Q/DQ types\\), opset 13\n +6 QuantizeLinear/DequantizeLinear nodes \\(containers: uint8 x4, int8 x1, int32 x1\\)\n +2 layers, 1 quantized, 1 float; bits \\(weight, activation\\) inferred from the integer ranges and Clip clamps\n +c +Conv +w4a4\n +y +Gemm +float\n$")
qfd_cli_test(info_infer_tensorrt_json RC 0 ARGS info --json ${QDQ}/tensorrt_w4a4.onnx
  STDOUT "\"quant_types\":\\[\\{\"dtype\":\"int8\",\"bits\":8,\"count\":5\\}\\],\"quant\":\\{\"format\":\"tensorrt\",\"format_source\":\"inferred\",\"opset\":13,\"bits_source\":\"inferred\",\"layers\":\\[\\{\"name\":\"c\",\"op\":\"Conv\",\"float\":false,\"wbits\":4,\"abits\":4\\},\\{\"name\":\"y\",\"op\":\"Gemm\",\"float\":true,\"wbits\":0,\"abits\":0\\}\\]\\}\\}\n$")
qfd_cli_test(info_not_quantized_json RC 0 ARGS info --json ${FIX}/small_conv.onnx
  STDOUT "\"quantized\":false,\"qdq_nodes\":0,\"quant_types\":\\[\\],\"quant\":null\\}\n$")
qfd_cli_test(help_info_quantized RC 0 ARGS info --help STDOUT "format \\(ort, int4, tensorrt.*the opset, and the bits")

# Files quantize writes (ptq on the small fixture, seconds): the format and
# the bits from their metadata. --w4a4 keeps 4-bit activations in uint8
# (ort) or int8 (tensorrt) containers; info shows 4 bits, not 8.
foreach(case "ort_w4a4|ort|--w4a4|w4a4" "ort_w8a8|ort|--w8a8|w8a8" "tensorrt_w4a4|tensorrt|--w4a4|w4a4"
             "tensorrt_w8a8|tensorrt|--w8a8|w8a8")
  string(REPLACE "|" ";" case "${case}")
  list(GET case 0 name)
  list(GET case 1 format)
  list(GET case 2 preset)
  list(GET case 3 bits)
  set(file ${CLI_TMP}/info_${name}.onnx)
  qfd_cli_test(info_quantize_${name}_setup RC 0
    ARGS quantize ${FIX}/small_conv.onnx ${preset} --format ${format} --method ptq --first-last same --limit 64
         --calib-images 64 --eval-limit 64 -o ${file}
    STDOUT "W[48]A[48] ptq, format ${format}")
  set_tests_properties(cli.info_quantize_${name}_setup PROPERTIES FIXTURES_SETUP info_${name})
  qfd_cli_test(info_quantize_${name} RC 0 ARGS info ${file}
    STDOUT "\n  quantized    yes: format ${format} \\(qfd metadata\\), opset 13\n[^\n]*\n +2 layers, 2 quantized, 0 float; bits \\(weight, activation\\) from qfd metadata\n +conv +Conv +${bits}\n +fc +Gemm +${bits}\n$")
  set_tests_properties(cli.info_quantize_${name} PROPERTIES FIXTURES_REQUIRED info_${name})
endforeach()
# a layer kept float (--skip), in JSON
set(file ${CLI_TMP}/info_tensorrt_skip.onnx)
qfd_cli_test(info_quantize_skip_setup RC 0
  ARGS quantize ${FIX}/small_conv.onnx --w8a8 --format tensorrt --skip fc --method ptq --limit 64 --calib-images 64
       --eval-limit 64 -o ${file}
  STDOUT "W8A8 ptq, format tensorrt")
set_tests_properties(cli.info_quantize_skip_setup PROPERTIES FIXTURES_SETUP info_skip)
qfd_cli_test(info_quantize_skip_json RC 0 ARGS info --json ${file}
  STDOUT "\"quant\":\\{\"format\":\"tensorrt\",\"format_source\":\"metadata\",\"opset\":13,\"bits_source\":\"metadata\",\"layers\":\\[\\{\"name\":\"conv\",\"op\":\"Conv\",\"float\":false,\"wbits\":8,\"abits\":8\\},\\{\"name\":\"fc\",\"op\":\"Gemm\",\"float\":true,\"wbits\":0,\"abits\":0\\}\\]\\}\\}\n$")
set_tests_properties(cli.info_quantize_skip_json PROPERTIES FIXTURES_REQUIRED info_skip)
