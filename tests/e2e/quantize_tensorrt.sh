#!/usr/bin/env bash
# quantize --format tensorrt end to end on one bundled model, at W8A8 and
# W4A4 (lsq, one short epoch):
#  1. the written file keeps TensorRT's rules (trt_structure) and the QDQ
#     structure every export has (qdq_structure);
#  2. ONNX Runtime's top-1 agrees with qfd-onnx's fake-quant student
#     (--save-student) on >= 99.5% of 1,000 test images, and so does the
#     report's own agreement;
#  3. the report and `info` say format tensorrt.
# There is no TensorRT here: ONNX Runtime is the oracle for what the file
# computes, the rules checker for what TensorRT would accept.
# usage: quantize_tensorrt.sh QFD_ONNX NODE REPO_ROOT QDQ_STRUCTURE TRT_STRUCTURE WORK_DIR MODEL
set -euo pipefail
qfd=$1 node=$2 root=$3 structure=$4 trt=$5 work=$6 name=$7
model=$root/models/$name.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$root/tests/e2e/ort_agree.sh"
small=(--limit 512 --epochs 1 --batch 64 --calib-images 256 --eval-limit 1000)

for bits in w8a8 w4a4; do
  out=$work/$name.$bits.onnx student=$work/$name.$bits.student.onnx
  "$qfd" quantize "$model" --$bits --format tensorrt "${small[@]}" -o "$out" --save-student "$student" \
    --report "$work/$bits.json" >"$work/$bits.log" 2>&1 || { cat "$work/$bits.log"; fail "quantize --$bits exited $?"; }
  "$trt" "$out" || fail "$bits: TensorRT rules"
  "$structure" "$out" >/dev/null || { "$structure" "$out"; fail "$bits: QDQ structure"; }
  "$node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.format !== "tensorrt" || !(r.agreement >= 0.995)) {
      console.log(`report: format ${r.format}, agreement ${r.agreement}`); process.exit(1); }' "$work/$bits.json" \
    || fail "$bits: report"
  "$qfd" info "$out" >"$work/$bits.info" || fail "$bits: info exited $?"
  grep -q "quantized    yes: format tensorrt (qfd metadata)" "$work/$bits.info" || fail "$bits: info does not say tensorrt"
  ort_agrees "$bits" "$student" "$out"
  echo "$name $bits tensorrt: onnxruntime vs student $agree; onnxruntime $(cat "$work/$bits.ort.json")"
done
echo "quantize --format tensorrt ($name): all checks passed"
