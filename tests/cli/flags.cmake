# The shared command-line parser (src/cli/args.c), seen through every command:
# numbers parsed strictly with their range, --flag=value, and "--".
# Included from tests/CMakeLists.txt (qfd_cli_test, FIX and CLI_TMP come from there).
set(model ${FIX}/small_conv.onnx)
set(trained ${CLI_TMP}/flags_trained.onnx)

# Each refused value: exit 2, one line naming the flag and the accepted range,
# and no model written (they were all accepted, or truncated, before).
foreach(case
    "epochs_fraction|--epochs|2.9|--epochs needs an integer in \\[1, 1000000\\], got '2.9'"
    "batch_fraction|--batch|64.7|--batch needs an integer in \\[1, 65536\\], got '64.7'"
    "threads_fraction|--threads|1.5|--threads needs an integer in \\[1, 256\\], got '1.5'"
    "lr_inf|--lr|inf|--lr needs a finite number > 0, got 'inf'"
    "lr_nan|--lr|nan|--lr needs a finite number > 0, got 'nan'"
    "lr_zero|--lr|0|--lr needs a finite number > 0, got '0'"
    "lr_overflow|--lr|1e999|--lr needs a finite number > 0, got '1e999'"
    "label_smoothing_2|--label-smoothing|2|--label-smoothing needs a finite number in .0, 1\\), got '2'"
    "momentum_1|--momentum|1|--momentum needs a finite number in .0, 1\\), got '1'"
    "seed_negative|--seed|-1|--seed needs an integer in \\[0, 18446744073709551615\\], got '-1'"
    "limit_hex|--limit|0x10|--limit needs an integer >= 1, got '0x10'"
    "limit_blank|--limit| 5|--limit needs an integer >= 1, got ' 5'"
    "crop_pad_negative|--crop-pad|-1|--crop-pad needs an integer in \\[0, 1048576\\], got '-1'"
    "epochs_overflow|--epochs|99999999999999999999|--epochs needs an integer in \\[1, 1000000\\], got '99999999999999999999'"
    "optimizer_unknown|--optimizer|adam|--optimizer needs one of sgd\\|adamw, got 'adam'"
    "std_zero|--std|0|--std needs 1 to 4 comma-separated values, each a finite number > 0, got '0'")
  # not list(GET): the expected messages hold brackets, which change how CMake splits lists;
  # an unbalanced one ([0, 1) is written .0, 1) for that reason
  string(REGEX MATCH "^([^|]+)\\|([^|]+)\\|([^|]*)\\|(.*)$" matched "${case}")
  set(name "${CMAKE_MATCH_1}")
  set(flag "${CMAKE_MATCH_2}")
  set(value "${CMAKE_MATCH_3}")
  set(want "${CMAKE_MATCH_4}")
  qfd_cli_test(flags_train_${name} RC 2 ONE_LINE NO_FILE ${trained}
    ARGS train ${model} --epochs 1 --limit 32 --no-eval -o ${trained} ${flag} ${value}
    STDERR "^qfd-onnx: error: ${want} \\(see 'qfd-onnx train --help'\\)")
endforeach()

# The same parser for eval and run.
qfd_cli_test(flags_eval_batch_fraction RC 2 ONE_LINE ARGS eval ${model} --batch 64.7
  STDERR "--batch needs an integer in \\[1, 4096\\], got '64.7'")
qfd_cli_test(flags_eval_mean_too_many RC 2 ONE_LINE ARGS eval ${model} --mean 1,2,3,4,5 --std 1
  STDERR "--mean needs 1 to 4 comma-separated values, each a finite number, got '1,2,3,4,5'")
qfd_cli_test(flags_eval_mean_inf RC 2 ONE_LINE ARGS eval ${model} --mean inf --std 1
  STDERR "--mean needs 1 to 4 comma-separated values, each a finite number, got 'inf'")
qfd_cli_test(flags_run_threads_zero RC 2 ONE_LINE ARGS run ${model} -i ${FIX}/small_conv_input.npy --threads 0
  STDERR "--threads needs an integer in \\[1, 256\\], got '0'")
qfd_cli_test(flags_missing_value RC 2 ONE_LINE ARGS eval ${model} --limit
  STDERR "^qfd-onnx: error: --limit needs a value \\(see 'qfd-onnx eval --help'\\)")
qfd_cli_test(flags_switch_with_value RC 2 ONE_LINE ARGS info --json=yes ${model}
  STDERR "--json takes no value, got '--json=yes'")
qfd_cli_test(flags_unknown_with_value RC 2 ONE_LINE ARGS eval ${model} --frobnicate=3
  STDERR "unknown flag '--frobnicate' \\(see 'qfd-onnx eval --help'\\)")
qfd_cli_test(flags_missing_model RC 2 ONE_LINE ARGS eval --limit 3 STDERR "missing MODEL")
qfd_cli_test(flags_extra_argument RC 2 ONE_LINE ARGS info ${model} ${model}
  STDERR "unexpected argument '.*small_conv.onnx'")

# --flag=value, next to "--flag value", for numbers, lists and strings.
qfd_cli_test(flags_equals RC 0 ARGS eval ${model} --limit=20 --batch=8 --mean=0.5 --std 0.25 --json
  STDOUT "\"n\":20,.*\"source\":\"flags\",\"mean\":\\[0.5\\],\"std\":\\[0.25\\]")
set(run_eq "${CLI_TMP}/flags_run_equals")
qfd_cli_test(flags_equals_run RC 0 ARGS run ${model} --input=${FIX}/small_conv_input.npy --output-dir=${run_eq}
  STDOUT "output 0 'logits': float\\[2,10\\] -> .*flags_run_equals/output_0.npy")
# "--" ends the flags: what follows is a path even if it starts with '-'.
qfd_cli_test(flags_double_dash RC 0 ARGS info -- ${model} STDOUT "inputs +input  float\\[N,1,28,28\\]")
qfd_cli_test(flags_double_dash_dash_name RC 2 ONE_LINE ARGS info -- -model.onnx
  STDERR "^qfd-onnx: error: -model.onnx: cannot open")
# train with every kind of flag accepted at its edges
qfd_cli_test(flags_train_edges RC 0 ARGS train ${model} --epochs=1 --limit 32 --batch 32 --lr 1e-3
  --momentum 0 --label-smoothing 0.5 --seed 18446744073709551615 --crop-pad=0 --optimizer=adamw
  --schedule constant --no-eval -o ${CLI_TMP}/flags_edges.onnx
  STDOUT "flags_edges.onnx: train loss [0-9.]+")
