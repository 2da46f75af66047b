# ---- qfd-onnx check (issue 12): rules, fixtures, reports, ONNX Runtime ----
# tests/data/check holds the fixtures (tools/ort/make_check_fixtures.js);
# tests/check/cases.txt what each must raise.
set(CHK "${CMAKE_CURRENT_SOURCE_DIR}/data/check")
qfd_test_exe(test_check check/test_check.c)
add_test(NAME check.rules COMMAND test_check cases ${CHK} ${CMAKE_CURRENT_SOURCE_DIR}/check/cases.txt)
add_test(NAME check.rules_in_readme COMMAND test_check readme ${PROJECT_SOURCE_DIR}/README.md)
add_test(NAME check.backend_testdata
         COMMAND test_check testdata ${QFD_TESTDATA_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/check/testdata_expected.txt)
set_tests_properties(check.rules check.rules_in_readme check.backend_testdata PROPERTIES LABELS "check;unit")
# --target ort against ONNX Runtime's own optimized graph, on every fixture
file(GLOB CHECK_FIXTURES CONFIGURE_DEPENDS "${CHK}/*.onnx")
add_test(NAME check.ort_agrees
         COMMAND ${QFD_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/check/ort_agree.js $<TARGET_FILE:qfd-onnx>
                 --out ${CMAKE_CURRENT_BINARY_DIR}/check_ort ${CHECK_FIXTURES})
set_tests_properties(check.ort_agrees PROPERTIES LABELS "check;ort")
# README "Use in CI": the example job, as CI runs it
add_test(NAME check.ci_example
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check/ci_example.sh $<TARGET_FILE:qfd-onnx> ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/check_ci)
set_tests_properties(check.ci_example PROPERTIES LABELS "check;e2e" TIMEOUT 300)
# ---- the command line: output, exit codes 0/1/2, bad input -------------------
qfd_cli_test(check_help RC 0 ARGS check --help
  STDOUT "usage: qfd-onnx check MODEL.onnx.*--target ort\\|tensorrt\\|any.*Exit status.*0  no rule failed.*1  a rule failed.*2  the file cannot be read.*3  internal failure")
qfd_cli_test(check_in_main_help RC 0 ARGS --help STDOUT "check +validate a quantized ONNX file.*check exits 1 when a rule fails")
qfd_cli_test(check_rules RC 0 ARGS check --rules
  STDOUT "^QDQ001  error    any       the graph is well formed.*\nORT004  warning  ort       .*\nTRT002  error    tensorrt  .*\nNUM001  error    numeric   ")
qfd_cli_test(check_rules_json RC 0 ARGS check --rules --json
  STDOUT "^\\{\"rules\":\\[\\{\"id\":\"QDQ001\",\"severity\":\"error\",\"target\":\"any\",\"claims_float\":false,\"title\":")
qfd_cli_test(check_pass RC 0 ARGS check ${CHK}/conv_u8.onnx --target ort
  STDOUT "conv_u8.onnx: QDQ \\(QuantizeLinear/DequantizeLinear\\), opset 13; 1 layer: 1 quantized, 0 allowed float, 0 float\n.*conv_u8.onnx: PASS: 0 errors, 0 warnings; 24 of 36 rules ran \\(target ort\\)\n$")
qfd_cli_test(check_warnings_pass RC 0 ARGS check ${CHK}/conv_clip_narrow.onnx --target ort
  STDOUT "conv_clip_narrow.onnx: ORT004 warning: node 'conv' \\(Conv\\): Clip 'clip' \\(Clip\\), between the layer and QuantizeLinear 'y_quantize' \\(QuantizeLinear\\), is narrower.*PASS: 0 errors, 1 warning \\(ORT004 x1\\)")
qfd_cli_test(check_fail RC 1 ARGS check ${CHK}/bias_scale_off.onnx
  STDOUT "bias_scale_off.onnx: QDQ016 error: node 'conv' \\(Conv\\): bias 'b_quantized' is dequantized with scale 0.000525000039 \\(channel 0\\), but input scale x weight scale is 0.000500000024 \\(off by 5%\\).*FAIL: 1 error \\(QDQ016 x1\\), 0 warnings")
qfd_cli_test(check_invalid_graph RC 1 ARGS check ${CHK}/invalid_graph.onnx
  STDOUT "invalid_graph.onnx: QDQ001 error: node 'relu' \\(Relu\\): input 'no_such_tensor' is not produced.*FAIL: 1 error \\(QDQ001 x1\\)")
qfd_cli_test(check_expect_bits RC 1 ARGS check ${CHK}/conv_w4.onnx --expect w4a4
  STDOUT "QDQ013 error: node 'conv' \\(Conv\\): activation 'x' is quantized to 256 levels \\[0, 255\\]: more than the 16 of the 4 bits --expect gives this layer")
qfd_cli_test(check_json RC 0 ARGS check ${CHK}/qfd_meta.onnx --json
  STDOUT "^\\{\"file\":\"[^\"]*qfd_meta.onnx\",\"target\":\"any\",\"format\":\"qdq\",\"qfd_format\":\"ort\",.*\"layers\":\\[\\{\"node\":\"conv1\",\"op\":\"Conv\",\"status\":\"quantized\",\"bits\":\"w8a8\",\"bits_from\":\"the qfd metadata\"\\},.*\\{\"node\":\"head\",\"op\":\"Gemm\",\"status\":\"allowed_float\",\"bits\":null,\"bits_from\":null\\}\\],\"findings\":\\[\\],\"numbers\":null\\}\n$")
qfd_cli_test(check_qoperator RC 0 ARGS check ${CHK}/qoperator_conv.onnx
  STDOUT "QOperator \\(ONNX Runtime's QLinearConv and friends\\): the Q/DQ pair rules do not apply")
qfd_cli_test(check_dynamic RC 0 ARGS check ${CHK}/dynamic_matmul.onnx
  STDOUT "dynamic quantization \\(DynamicQuantizeLinear, MatMulInteger, ...\\)")
qfd_cli_test(check_missing_file RC 2 ONE_LINE ARGS check ${CHK}/no_such.onnx
  STDERR "^qfd-onnx: error: .*no_such.onnx: cannot open: No such file or directory")
qfd_cli_test(check_not_onnx RC 2 ONE_LINE ARGS check ${FIX}/bad/not_protobuf.onnx STDERR "not_protobuf.onnx: not a valid ONNX protobuf")
qfd_cli_test(check_no_model RC 2 ONE_LINE ARGS check STDERR "missing MODEL")
qfd_cli_test(check_rules_and_model RC 2 ONE_LINE ARGS check --rules ${CHK}/conv_u8.onnx STDERR "unexpected argument")
qfd_cli_test(check_bad_expect RC 2 ONE_LINE ARGS check ${CHK}/conv_u8.onnx --expect 4bit
  STDERR "--expect needs wNaM or wN with bits in 2..16 \\(w4a8, w8\\), got '4bit'")
qfd_cli_test(check_bad_target RC 2 ONE_LINE ARGS check ${CHK}/conv_u8.onnx --target tflite STDERR "--target")
qfd_cli_test(check_data_without_reference RC 2 ONE_LINE ARGS check ${CHK}/conv_u8.onnx --limit 10
  STDERR "--data, --limit, --max-drop, --mean, --std and the image flags need --reference")
qfd_cli_test(check_image_flag_without_reference RC 2 ONE_LINE ARGS check ${CHK}/conv_u8.onnx --resize 256
  STDERR "the image flags need --reference")
qfd_cli_test(check_bad_max_drop RC 2 ONE_LINE ARGS check ${CHK}/num_w8a8.onnx --reference ${CHK}/num_reference.onnx --max-drop -1
  STDERR "--max-drop")
qfd_cli_test(check_missing_reference RC 2 ONE_LINE ARGS check ${CHK}/num_w8a8.onnx --reference ${CHK}/no_such.onnx
  STDERR "no_such.onnx: cannot open")
qfd_cli_test(check_junit_unwritable RC 2 ONE_LINE NO_FILE ${CLI_TMP}/no_dir/j.xml ARGS check ${CHK}/conv_u8.onnx --junit ${CLI_TMP}/no_dir/j.xml
  STDERR "no_dir/j.xml: cannot write there: No such file or directory")
qfd_cli_test(check_memory_limit RC 2 ONE_LINE ARGS --max-memory 1K check ${CHK}/num_reference.onnx STDERR "over the memory limit")
qfd_cli_test(check_stdout_full RC 2 ARGS check ${CHK}/conv_u8.onnx --json STDOUT_FILE /dev/full STDERR "cannot write to standard output")
# --json is byte-identical on a rerun, numbers included; --junit a report per rule
add_test(NAME cli.check_json_twice
         COMMAND ${CMAKE_COMMAND} -DQFD=$<TARGET_FILE:qfd-onnx> -DMODEL=${CHK}/num_w8a8.onnx
                 -DREFERENCE=${CHK}/num_reference.onnx -DOUT=${CLI_TMP}/check_twice
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/check/json_twice.cmake)
set_tests_properties(cli.check_json_twice PROPERTIES LABELS "cli;check")
# quantize's own files pass with --target ort, and ONNX Runtime agrees
add_test(NAME e2e.check_quantized_outputs
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check/quantized_outputs.sh $<TARGET_FILE:qfd-onnx> ${QFD_NODE}
                 ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/check_quantized)
set_tests_properties(e2e.check_quantized_outputs PROPERTIES LABELS "check;e2e;ort;quant" TIMEOUT 600)
