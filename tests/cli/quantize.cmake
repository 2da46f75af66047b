# qfd-onnx quantize: every refused input exits 2 with one line on stderr
# naming the flag or the file, before any work (no stage line), and leaves
# no output file; --help exits 0.
# Included from tests/CMakeLists.txt (qfd_cli_test, FIX and CLI_TMP come from there).
set(model ${FIX}/small_conv.onnx)
set(see "\\(see 'qfd-onnx quantize --help'\\)")

# Flags refused by the parser, each with its accepted values.
foreach(case
    "wbits_9|--wbits|9|--wbits needs an integer in \\[2, 8\\], got '9'"
    "abits_1|--abits|1|--abits needs an integer in \\[2, 8\\], got '1'"
    "method_bogus|--method|bogus|--method needs one of qfd\\|kd\\|fd\\|lsq\\|ptq, got 'bogus'"
    "format_bogus|--format|bogus|--format needs one of ort\\|int4\\|tensorrt, got 'bogus'"
    "first_last_bogus|--first-last|bogus|--first-last needs one of 8\\|same\\|fp, got 'bogus'"
    "calib_bogus|--calib|bogus|--calib needs one of mse\\|percentile\\|minmax, got 'bogus'"
    "calib_images_0|--calib-images|0|--calib-images needs an integer >= 1, got '0'"
    "lr_steps_0|--lr-steps|0|--lr-steps needs a finite number > 0, got '0'")
  string(REGEX MATCH "^([^|]+)\\|([^|]+)\\|([^|]*)\\|(.*)$" matched "${case}")
  qfd_cli_test(quantize_${CMAKE_MATCH_1} RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_${CMAKE_MATCH_1}.onnx
    ARGS quantize ${model} -o ${CLI_TMP}/quantize_${CMAKE_MATCH_1}.onnx ${CMAKE_MATCH_2} ${CMAKE_MATCH_3}
    STDERR "^qfd-onnx: error: ${CMAKE_MATCH_4} ${see}\n$")
endforeach()

qfd_cli_test(quantize_two_presets RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_two_presets.onnx
  ARGS quantize ${model} --w4a4 --w8a8 -o ${CLI_TMP}/quantize_two_presets.onnx
  STDERR "^qfd-onnx: error: give one of --w2a2 --w3a3 --w4a4 --w4a8 --w8a8 ${see}\n$")
qfd_cli_test(quantize_missing_model RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_missing_model.onnx ARGS quantize -o ${CLI_TMP}/quantize_missing_model.onnx
  STDERR "^qfd-onnx: error: missing MODEL ${see}\n$")
qfd_cli_test(quantize_no_such_model RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_no_such_model.onnx ARGS quantize ${FIX}/no_such_model.onnx -o ${CLI_TMP}/quantize_no_such_model.onnx
  STDERR "^qfd-onnx: error: [^\n]*no_such_model.onnx: cannot open")
qfd_cli_test(quantize_help RC 0 ARGS quantize --help
  STDOUT "^usage: qfd-onnx quantize MODEL.onnx .*--first-last MODE.*--skip GLOB.*--method M.*--format F.*--resume DIR")

# --resume: only lsq trains, and the folder must hold a checkpoint
qfd_cli_test(quantize_resume_ptq RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_resume_ptq.onnx
  ARGS quantize ${model} --method ptq --resume ${CLI_TMP} -o ${CLI_TMP}/quantize_resume_ptq.onnx
  STDERR "^qfd-onnx: error: --resume: --method ptq does not train\n$")
file(MAKE_DIRECTORY "${CLI_TMP}/quantize_no_checkpoint")
qfd_cli_test(quantize_resume_no_checkpoint RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_resume_no_checkpoint.onnx
  ARGS quantize ${model} --resume ${CLI_TMP}/quantize_no_checkpoint -o ${CLI_TMP}/quantize_resume_no_checkpoint.onnx
  STDERR "^qfd-onnx: error: --resume [^\n]*quantize_no_checkpoint: no checkpoint there")

# Outputs are checked before anything runs: no stage line, no training (the
# default method trains), no file.
qfd_cli_test(quantize_output_missing_dir RC 2 ONE_LINE NO_FILE ${CLI_TMP}/missing_dir/q.onnx
  ARGS quantize ${model} --limit 64 --epochs 1 -o ${CLI_TMP}/missing_dir/q.onnx
  STDERR "^qfd-onnx: error: [^\n]*missing_dir/q.onnx: cannot write there")
qfd_cli_test(quantize_report_missing_dir RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_report_missing_dir.onnx
  ARGS quantize ${model} --limit 64 --epochs 1 -o ${CLI_TMP}/quantize_report_missing_dir.onnx --report ${CLI_TMP}/missing_dir/r.json
  STDERR "^qfd-onnx: error: [^\n]*missing_dir/r.json: cannot write there")
qfd_cli_test(quantize_student_missing_dir RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_student_missing_dir.onnx
  ARGS quantize ${model} --limit 64 --epochs 1 -o ${CLI_TMP}/quantize_student_missing_dir.onnx --save-student ${CLI_TMP}/missing_dir/s.onnx
  STDERR "^qfd-onnx: error: [^\n]*missing_dir/s.onnx: cannot write there")

# Models it cannot quantize: nothing to quantize (an Add and a Relu), or
# already quantized (its own ptq output, made by the fixture).
qfd_cli_test(quantize_no_layers RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_no_layers.onnx ARGS quantize ${FIX}/bad/unnamed_add.onnx -o ${CLI_TMP}/quantize_no_layers.onnx
  STDERR "^qfd-onnx: error: [^\n]*unnamed_add.onnx: the model has no Conv, ConvTranspose, Gemm or MatMul to quantize\n$")
qfd_cli_test(quantize_skip_everything RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_skip_everything.onnx
  ARGS quantize ${model} --skip * --method ptq --limit 64 -o ${CLI_TMP}/quantize_skip_everything.onnx
  STDERR "^qfd-onnx: error: [^\n]*small_conv.onnx: all 2 Conv, ConvTranspose, Gemm and MatMul layers are kept float \\(--skip, --first-last fp\\): nothing to quantize\n$")
# --report: the student step's steady-state images/s and both memory figures
# (tools/bench/qat.sh reads them), and null for a run of one step
foreach(case "steps|64|16|4" "one_step|32|32|1")
  string(REPLACE "|" ";" case "${case}")
  list(GET case 0 name)
  list(GET case 1 limit)
  list(GET case 2 batch)
  list(GET case 3 steps)
  add_test(NAME cli.quantize_report_speed_${name}
           COMMAND ${CMAKE_COMMAND} -DQFD=$<TARGET_FILE:qfd-onnx> -DMODEL=${model}
                   -DREPORT=${CLI_TMP}/report_speed_${name}.json -DLIMIT=${limit} -DBATCH=${batch} -DSTEPS=${steps}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/quantize_report_speed.cmake)
  set_tests_properties(cli.quantize_report_speed_${name} PROPERTIES LABELS "cli;quant")
endforeach()

set(ptq ${CLI_TMP}/quantize_ptq.onnx)
qfd_cli_test(quantize_ptq_small RC 0
  ARGS quantize ${model} --method ptq --limit 64 --calib-images 64 --eval-limit 64 -o ${ptq}
  STDOUT "quantize_ptq.onnx: W4A4 ptq, format ort.*exported .*agrees with the student on 100.00% of images")
set_tests_properties(cli.quantize_ptq_small PROPERTIES FIXTURES_SETUP quantize_ptq)
# int4 asked for on a model of opset 13 (upgraded to 21), and chosen by
# default at W4A4 only when a layer sits between the first and last: here
# there is none, so ort above.
qfd_cli_test(quantize_int4_small RC 0
  ARGS quantize ${model} --format int4 --method ptq --limit 64 --calib-images 64 --eval-limit 64
       -o ${CLI_TMP}/quantize_int4.onnx
  STDOUT "quantize_int4.onnx: W4A4 ptq, format int4.*agrees with the student on 100.00% of images.*note: ONNX Runtime")
qfd_cli_test(quantize_already_quantized RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_already_quantized.onnx ARGS quantize ${ptq} -o ${CLI_TMP}/quantize_already_quantized.onnx
  STDERR "^qfd-onnx: error: [^\n]*quantize_ptq.onnx: the model is already quantized")
set_tests_properties(cli.quantize_already_quantized PROPERTIES FIXTURES_REQUIRED quantize_ptq)
# A PyTorch export at opset 11 (the zoo's LeNet on 28x28 grey images): int4,
# the default at W4A4, upgrades it to 21; ort refuses it, pointing at int4.
set(lenet ${CMAKE_CURRENT_SOURCE_DIR}/data/zoo/lenet_gray/model.onnx)
qfd_cli_test(quantize_int4_opset11 RC 0
  ARGS quantize ${lenet} --w4a4 --method ptq --limit 64 --calib-images 64 --eval-limit 64
       -o ${CLI_TMP}/lenet_int4.onnx
  STDOUT "lenet_int4.onnx: W4A4 ptq, format int4.*agrees with the student on 100.00% of images")
qfd_cli_test(quantize_ort_opset11 RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_ort_opset11.onnx
  ARGS quantize ${lenet} --w4a4 --format ort --method ptq --limit 64 -o ${CLI_TMP}/quantize_ort_opset11.onnx
  STDERR "lenet_gray/model.onnx: the model imports ONNX opset 11; the ort export needs opset 13 or later \\(per-channel scales; --format int4 upgrades the model to 21\\)")


# Distillation flags (issue 11): a flag the method does not take, or a
# combination that cannot work, is refused naming the flag, before any work.
foreach(case
    "temperature_qfd|--temperature 4|--temperature: --method qfd does not distil logits \\(kd does\\)"
    "temperature_fd|--method fd --temperature 4|--temperature: --method fd does not distil logits"
    "lambda_lsq|--method lsq --lambda 2|--lambda: --method lsq has no distillation term"
    "no_labels_lsq|--method lsq --no-labels|--no-labels: --method lsq trains with labels only"
    "no_labels_ptq|--method ptq --no-labels|--no-labels: --method ptq trains with labels only"
    "teacher_lsq|--method lsq --teacher ${model}|--teacher: --method lsq has no distillation term"
    "teacher_bits_kd|--method kd --teacher-bits 2|--teacher-bits: --method kd has no teacher stage \\(qfd has\\)"
    "teacher_epochs_fd|--method fd --teacher-epochs 0|--teacher-epochs: --method fd has no teacher stage"
    "teacher_lr_lsq|--method lsq --teacher-lr 0.01|--teacher-lr: --method lsq has no teacher stage"
    "save_teacher_kd|--method kd --save-teacher ${CLI_TMP}/t.onnx|--save-teacher: --method kd has no teacher stage"
    "teacher_feature_kd|--method kd --teacher-feature x|--teacher-feature: --method kd does not distil a feature"
    "teacher_bits_9|--teacher-bits 9|--teacher-bits needs an integer in \\[1, 8\\], got '9'"
    "teacher_epochs_neg|--teacher-epochs -1|--teacher-epochs needs an integer in \\[0, 1000000\\], got '-1'"
    "lambda_0|--lambda 0|--lambda needs a finite number > 0, got '0'"
    "temperature_neg|--method kd --temperature -1|--temperature needs a finite number > 0, got '-1'")
  string(REGEX MATCH "^([^|]+)\\|([^|]+)\\|(.*)$" matched "${case}")
  separate_arguments(extra UNIX_COMMAND "${CMAKE_MATCH_2}")
  qfd_cli_test(quantize_${CMAKE_MATCH_1} RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_${CMAKE_MATCH_1}.onnx
    ARGS quantize ${model} -o ${CLI_TMP}/quantize_${CMAKE_MATCH_1}.onnx ${extra} STDERR "^qfd-onnx: error: ${CMAKE_MATCH_3}")
endforeach()

# Checks that need the model and data, still before any work: stage 1 needs
# labels; a teacher whose feature has another shape (MobileNetV2's 256
# against ResNet-20's 64); a teacher of another class count for kd.
set(r20 ${PROJECT_SOURCE_DIR}/models/resnet20.onnx)
qfd_cli_test(quantize_no_labels_stage1 RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_no_labels_stage1.onnx
  ARGS quantize ${r20} --no-labels --limit 64 -o ${CLI_TMP}/quantize_no_labels_stage1.onnx
  STDERR "^qfd-onnx: error: --no-labels: qfd's stage 1 trains the teacher with labels; give --teacher-epochs 0 or a --teacher written by --save-teacher\n$")
qfd_cli_test(quantize_teacher_feature_shape RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_teacher_feature_shape.onnx
  ARGS quantize ${r20} --teacher ${PROJECT_SOURCE_DIR}/models/mobilenetv2.onnx --limit 64 -o ${CLI_TMP}/quantize_teacher_feature_shape.onnx
  STDERR "^qfd-onnx: error: [^\n]*mobilenetv2.onnx: its feature '/Flatten_output_0' is \\[1,256\\] for one image, the student's '/Flatten_output_0' is \\[1,64\\]: the shapes must match \\(choose them with --feature and --teacher-feature\\)\n$")
qfd_cli_test(quantize_teacher_feature_shape_fd RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_teacher_feature_shape_fd.onnx
  ARGS quantize ${r20} --method fd --teacher ${PROJECT_SOURCE_DIR}/models/mobilenetv2.onnx --limit 64 -o ${CLI_TMP}/quantize_teacher_feature_shape_fd.onnx
  STDERR "the shapes must match")
qfd_cli_test(quantize_teacher_normalization RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_teacher_normalization.onnx
  ARGS quantize ${model} --method kd --teacher ${r20} --limit 64 -o ${CLI_TMP}/quantize_teacher_normalization.onnx
  STDERR "^qfd-onnx: error: [^\n]*resnet20.onnx: normalizes its inputs with mean 0.286, std 0.353 \\(qfd.mean/qfd.std\\), the student with mean 0.5, std 0.25: both read the same batch\n$")
qfd_cli_test(quantize_teacher_missing RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_teacher_missing.onnx
  ARGS quantize ${r20} --teacher ${FIX}/no_such_model.onnx --limit 64 -o ${CLI_TMP}/quantize_teacher_missing.onnx
  STDERR "^qfd-onnx: error: [^\n]*no_such_model.onnx: cannot open")
qfd_cli_test(quantize_teacher_feature_unknown RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_teacher_feature_unknown.onnx
  ARGS quantize ${r20} --method fd --teacher-feature nope --limit 64 -o ${CLI_TMP}/quantize_teacher_feature_unknown.onnx
  STDERR "^qfd-onnx: error: --teacher-feature nope: [^\n]*resnet20.onnx has no tensor of that name\n$")
qfd_cli_test(quantize_save_teacher_missing_dir RC 2 ONE_LINE NO_FILE ${CLI_TMP}/quantize_save_teacher_missing_dir.onnx
  ARGS quantize ${r20} --limit 64 --save-teacher ${CLI_TMP}/missing_dir/t.onnx -o ${CLI_TMP}/quantize_save_teacher_missing_dir.onnx
  STDERR "^qfd-onnx: error: [^\n]*missing_dir/t.onnx: cannot write there")

# Without -o the output is named after the model and the bits, and after the
# format when --format gives one, so that two formats do not overwrite each
# other (the model is copied: the output lands beside it).
file(COPY ${model} DESTINATION ${CLI_TMP}/default_name)
qfd_cli_test(quantize_default_name_format RC 0
  ARGS quantize ${CLI_TMP}/default_name/small_conv.onnx --w8a8 --method ptq --format tensorrt --calib-images 16
       --eval-limit 16
  STDOUT "default_name/small_conv\\.w8a8\\.tensorrt\\.onnx: W8A8 ptq, format tensorrt")
