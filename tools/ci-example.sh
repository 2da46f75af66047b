#!/usr/bin/env bash
# An example CI job (README, "Use in CI"): quantize a model, then gate it,
# and any other quantized ONNX files given, with `qfd-onnx check`. Each
# file gets a JUnit report in OUT_DIR/junit/ for the CI system's test view.
# The job fails (exit 1) when a rule fails on any file, or a file cannot be
# read; warnings are printed and reported but do not fail it.
#
#   tools/ci-example.sh OUT_DIR [MORE.onnx ...]
#   QFD_ONNX=path/to/qfd-onnx   (default: build/src/qfd-onnx of this checkout)
#
# ctest runs it (check.ci_example) twice: on its own it passes, and with a
# broken file added it fails and the JUnit report names the rule.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qfd=${QFD_ONNX:-$root/build/src/qfd-onnx}
out=${1:?usage: tools/ci-example.sh OUT_DIR [MORE.onnx ...]}
shift
mkdir -p "$out/junit"

# 1. Quantize (the step a pipeline already has): calibration only, seconds.
"$qfd" quantize "$root/models/resnet20.onnx" --w8a8 --method ptq --calib-images 128 --eval-limit 200 \
  -o "$out/resnet20.w8a8.onnx" --report "$out/resnet20.w8a8.json" >"$out/quantize.log" 2>&1 \
  || { cat "$out/quantize.log"; exit 1; }

# 2. Gate it: the structure ONNX Runtime needs (--target ort), the bits it
#    was asked for, and top-1 within 1 point of the FP32 model on 1,000
#    test images (both run by qfd-onnx's executor).
status=0
"$qfd" check "$out/resnet20.w8a8.onnx" --target ort --expect w8a8 \
  --reference "$root/models/resnet20.onnx" --limit 1000 --max-drop 1.0 \
  --junit "$out/junit/resnet20.w8a8.xml" || status=1

# 3. Gate the other quantized files of the repository, whoever exported them.
for f in "$@"; do
  "$qfd" check "$f" --target ort --junit "$out/junit/$(basename "$f" .onnx).xml" || status=1
done
exit $status
