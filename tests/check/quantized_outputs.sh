#!/usr/bin/env bash
# Files written by `qfd-onnx quantize` pass `check` (warnings allowed, no
# error) with the bits they were asked for, in every format (ort and int4,
# the default below 5 bits, with --target ort; tensorrt with --target
# tensorrt), and check's ONNX Runtime
# predictions on them agree with ONNX Runtime's own optimized graph, node
# by node (tests/check/ort_agree.js). ptq runs: calibration only, seconds.
# usage: quantized_outputs.sh QFD_ONNX NODE REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
files=()
for spec in resnet20:w8a8:ort resnet20:w4a4:ort resnet20:w2a2:int4 mobilenetv2:w4a4:int4 \
  resnet20:w8a8:tensorrt mobilenetv2:w4a4:tensorrt vit:w4a4:tensorrt; do
  IFS=: read -r model bits format <<<"$spec"
  out=$work/$model.$bits.$format.onnx
  "$qfd" quantize "$root/models/$model.onnx" --$bits --format "$format" --method ptq --calib-images 128 \
    --eval-limit 100 -o "$out" >"$work/$model.$bits.$format.log" 2>&1 \
    || { cat "$work/$model.$bits.$format.log"; fail "quantize $model --$bits --format $format"; }
  target=ort
  [[ $format == tensorrt ]] && target=tensorrt
  "$qfd" check "$out" --target $target --expect "$bits" >"$work/$model.$bits.$format.check" \
    || { cat "$work/$model.$bits.$format.check"; fail "check --target $target --expect $bits fails on $out"; }
  grep -q "written by qfd-onnx for '$format'" "$work/$model.$bits.$format.check" || fail "$out: format not recognised"
  tail -1 "$work/$model.$bits.$format.check"
  files+=("$out")
done
"$node" "$root/tests/check/ort_agree.js" "$qfd" "${files[@]}" --out "$work/ort" >"$work/agree.log" \
  || { cat "$work/agree.log"; fail "check's --target ort warnings disagree with ONNX Runtime"; }
tail -1 "$work/agree.log"
