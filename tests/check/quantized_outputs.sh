#!/usr/bin/env bash
# Files written by `qfd-onnx quantize --format ort` pass `check --target
# ort` (warnings allowed, no error), with the bits they were asked for, and
# check's ONNX Runtime predictions on them agree with ONNX Runtime's own
# optimized graph, node by node (tests/check/ort_agree.js). ptq runs:
# calibration only, seconds each.
# usage: quantized_outputs.sh QFD_ONNX NODE REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
files=()
for spec in resnet20:w8a8 resnet20:w4a4 mobilenetv2:w4a4; do
  model=${spec%%:*} bits=${spec#*:}
  out=$work/$model.$bits.onnx
  "$qfd" quantize "$root/models/$model.onnx" --$bits --method ptq --calib-images 128 --eval-limit 100 -o "$out" \
    >"$work/$model.$bits.log" 2>&1 || { cat "$work/$model.$bits.log"; fail "quantize $model --$bits"; }
  "$qfd" check "$out" --target ort --expect "$bits" >"$work/$model.$bits.check" \
    || { cat "$work/$model.$bits.check"; fail "check --target ort --expect $bits fails on quantize's $model --$bits"; }
  tail -1 "$work/$model.$bits.check"
  files+=("$out")
done
"$node" "$root/tests/check/ort_agree.js" "$qfd" "${files[@]}" --out "$work/ort" >"$work/agree.log" \
  || { cat "$work/agree.log"; fail "check's --target ort warnings disagree with ONNX Runtime"; }
tail -1 "$work/agree.log"
