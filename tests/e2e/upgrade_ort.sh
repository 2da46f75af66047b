#!/usr/bin/env bash
# The opset upgrade judged by ONNX Runtime (onnxruntime-node): each bundled
# model and each zoo model (tests/data/zoo, PyTorch exports at opsets 11-16)
# written by `convert --opset 21` imports opset 21 at IR version 10 and
# gives ONNX Runtime the same outputs as the original file on the model's
# test inputs (rtol and atol 1e-5).
# usage: upgrade_ort.sh QFD_ONNX NODE REPO_ROOT COMPARE_NPY WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 compare=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
n=0
for model in "$root"/models/*.onnx "$root"/tests/data/zoo/*/model.onnx; do
  case $model in
    */models/*) name=$(basename "$model" .onnx) input=$root/tests/data/$name/input.npy ;;
    *) name=zoo_$(basename "$(dirname "$model")") input=$(dirname "$model")/input.npy ;;
  esac
  up=$work/$name.opset21.onnx
  "$qfd" convert "$model" "$up" --opset 21 2>"$work/$name.log" || { cat "$work/$name.log"; fail "$name: convert --opset 21"; }
  info=$("$qfd" info --json "$up")
  grep -q '"ir_version":10' <<<"$info" || fail "$name: IR version is not 10"
  grep -Eq '"opsets":\[\{"domain":"","version":21\}' <<<"$info" || fail "$name: does not import opset 21"
  "$node" "$root/tools/ort/run.js" "$model" "$work/$name.before" "$input" || fail "$name: onnxruntime on the original"
  "$node" "$root/tools/ort/run.js" "$up" "$work/$name.after" "$input" || fail "$name: onnxruntime on the upgraded file"
  for out in "$work/$name.before"/output_*.npy; do
    "$compare" "$out" "$work/$name.after/$(basename "$out")" 1e-5 1e-5 \
      || fail "$name: $(basename "$out") differs after the upgrade"
  done
  from=$("$qfd" info --json "$model" | grep -Eo '"opsets":\[\{"domain":"","version":[0-9]+' | grep -Eo '[0-9]+$')
  echo "$name: opset $from -> 21, same outputs under onnxruntime"
  n=$((n + 1))
done
((n >= 13)) || fail "only $n models found"
echo "upgrade with onnxruntime: $n models checked"
