# quantize --format tensorrt, and what info reads from a quantized file
# (issue 10). Included from tests/CMakeLists.txt.
#  - quant.tensorrt_*: the plan's differences from ort, calibration of a
#    non-negative tensor in a signed range, exact export, and the rules
#    checker itself on files that break each rule;
#  - quant.inspect: the format and the bits of every layer inferred from
#    exports without metadata equal the plan's (both formats, 2-8 bits);
#  - e2e.quantize_tensorrt_*: each bundled model at W8A8 and W4A4, judged by
#    the rules checker and by ONNX Runtime's agreement with the student.
qfd_test_exe(test_tensorrt unit/test_tensorrt.c)
target_link_libraries(test_tensorrt PRIVATE qfd_test_support)
foreach(part plan export rules)
  add_test(NAME quant.tensorrt_${part} COMMAND test_tensorrt ${part})
  set_tests_properties(quant.tensorrt_${part} PROPERTIES LABELS "quant;unit")
endforeach()

qfd_test_exe(test_quant_inspect unit/test_quant_inspect.c)
target_link_libraries(test_quant_inspect PRIVATE qfd_test_support)
add_test(NAME quant.inspect COMMAND test_quant_inspect)
set_tests_properties(quant.inspect PROPERTIES LABELS "quant;unit")

qfd_test_exe(trt_structure e2e/trt_structure.c)
target_link_libraries(trt_structure PRIVATE qfd_test_support)
foreach(name resnet20 mobilenetv2 vit)
  add_test(NAME e2e.quantize_tensorrt_${name}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/quantize_tensorrt.sh $<TARGET_FILE:qfd-onnx> ${QFD_NODE}
                   ${PROJECT_SOURCE_DIR} $<TARGET_FILE:qdq_structure> $<TARGET_FILE:trt_structure>
                   ${CMAKE_CURRENT_BINARY_DIR}/e2e/quantize_tensorrt_${name} ${name})
  set_tests_properties(e2e.quantize_tensorrt_${name} PROPERTIES LABELS "e2e;ort;quant" TIMEOUT 900)
endforeach()
