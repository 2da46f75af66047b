# Defects of issue 17 found by trying the tool as a new user would: each case
# failed before its fix. Included from tests/CMakeLists.txt.
set(model ${FIX}/small_conv.onnx)

# 1. NaN/Inf logits are wrong predictions, and eval says how many there were.
qfd_cli_test(eval_nan_logits RC 0 ONE_LINE ARGS eval ${FIX}/bad/nan_logits.onnx --limit 100 --quiet
  STDOUT "top-1 0.00%, top-5 0.00% on 100 images"
  STDERR "^qfd-onnx: warning: .*nan_logits.onnx: the logits of 100 of 100 images hold NaN or Inf; they count as wrong predictions")
qfd_cli_test(eval_nan_logits_json RC 0 ARGS eval ${FIX}/bad/nan_logits.onnx --limit 100 --json
  STDOUT "\"top1\":0.000000,\"top5\":0.000000,\"nonfinite\":100,")

# 10. One rule for eval and train: float [N,H,W] gains a channel axis in both
# (train refused it, eval fed it as it was), float [N,F] is refused by both.
qfd_cli_test(eval_rank3_float RC 0 ARGS eval ${model} --data ${FIX}/rank3_float.npz
  STDOUT "top-1 [0-9.]+%, top-5 [0-9.]+% on 16 images")
qfd_cli_test(train_rank3_float RC 0 ARGS train ${model} --data ${FIX}/rank3_float.npz --epochs 1 --batch 8
  -o ${CLI_TMP}/rank3_trained.onnx STDOUT "rank3_trained.onnx: train loss [0-9.]+.*test top-1 [0-9.]+% on 16 images")
set(rank2 "rank2_float.npz\\[x,y\\]: inputs x must be images \\[N,H,W\\] or \\[N,C,H,W\\], not of rank 2")
qfd_cli_test(eval_rank2_float RC 2 ONE_LINE ARGS eval ${model} --data ${FIX}/bad/rank2_float.npz STDERR "${rank2}")
qfd_cli_test(train_rank2_float RC 2 ONE_LINE NO_FILE ${CLI_TMP}/rank2_trained.onnx
  ARGS train ${model} --data ${FIX}/bad/rank2_float.npz --epochs 1 -o ${CLI_TMP}/rank2_trained.onnx STDERR "${rank2}")

# 12. An output .npy cannot hold (bfloat16) fails before any output is written.
set(bf16_out ${CLI_TMP}/run_bf16)
file(MAKE_DIRECTORY ${bf16_out})
qfd_cli_test(error_run_bf16_output RC 2 ONE_LINE NO_FILE ${bf16_out}/output_0.npy
  ARGS run ${FIX}/bf16_second_output.onnx -i ${FIX}/small_conv_input.npy -o ${bf16_out}
  STDERR "^qfd-onnx: error: output 1 'logits_bf16': .*run_bf16/output_1.npy: cannot write bfloat16 arrays as .npy")

# 13. A write error on stdout is an error, not a silent success.
qfd_cli_test(error_stdout_full RC 2 ONE_LINE STDOUT_FILE /dev/full ARGS info --json ${model}
  STDERR "^qfd-onnx: error: cannot write to standard output: No space left on device")
qfd_cli_test(error_stdout_full_help RC 2 ONE_LINE STDOUT_FILE /dev/full ARGS eval --help
  STDERR "cannot write to standard output")

# 14. Messages say what is wrong, in one form.
qfd_cli_test(error_empty_npy RC 2 ONE_LINE ARGS run ${model} -i ${FIX}/bad/empty.npy -o ${CLI_TMP}
  STDERR "^qfd-onnx: error: .*bad/empty.npy: file is empty, not a .npy or ONNX TensorProto .pb file")
qfd_cli_test(error_empty_npz RC 2 ONE_LINE ARGS eval ${model} --data ${FIX}/bad/empty.npz
  STDERR "^qfd-onnx: error: .*bad/empty.npz: file is empty, not a .npz archive")
qfd_cli_test(error_input_is_folder RC 2 ONE_LINE ARGS run ${model} -i ${FIX} -o ${CLI_TMP}
  STDERR "data/io: not a regular file")
# a 4 TiB Expand is the model's fault, as an oversized Reshape is: exit 2 naming the node
qfd_cli_test(error_huge_expand RC 2 ONE_LINE ARGS run ${FIX}/bad/huge_expand.onnx -i ${FIX}/small_conv_input.npy
  -o ${CLI_TMP} STDERR "huge_expand.onnx: node Expand#0: output 'big' needs 4.0 TiB, over the memory limit of 16.0 GiB")
# unnamed nodes are named by op type and index, not '?'
qfd_cli_test(error_unnamed_node RC 2 ONE_LINE ARGS run ${FIX}/bad/unnamed_add.onnx -i ${FIX}/small_conv_input.npy
  -o ${CLI_TMP} STDERR "unnamed_add.onnx: node Add#1: shapes do not broadcast")
qfd_cli_test(error_mean_std_channels RC 2 ONE_LINE ARGS train ${model} --epochs 1 --limit 8 --mean 0.5,0.5
  --std 0.2,0.2 -o ${CLI_TMP}/channels.onnx
  STDERR "^qfd-onnx: error: [^\n]*2 mean/std values for images with 1 channel \\(need 1 or one per channel\\)")
# the silent channels-last transpose of uint8 data is documented where users look
set(nhwc "uint8[^a-z]+\\[N,H,W,C\\][^a-z]+with C 1 or 3 is read as channels-last")
qfd_cli_test(help_eval_nhwc RC 0 ARGS eval --help STDOUT "${nhwc}")
qfd_cli_test(help_train_nhwc RC 0 ARGS train --help STDOUT "${nhwc}")
