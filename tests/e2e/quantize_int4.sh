#!/usr/bin/env bash
# quantize --format int4 end to end, judged by ONNX Runtime (onnxruntime-node),
# on one bundled model: W4A4 (the default format there, which the report must
# say is int4) and W2A2 (--format int4), lsq for one short epoch, and W8A8
# (--format int4, ptq: opset 21 with int8/uint8 tensors only). Each file has
# the int4 structure (qdq_structure: opset 21, INT4/UINT4 tensors in their
# bit range, the clamps below 4 bits), and ONNX Runtime's top-1 agrees with
# qfd-onnx's fake-quant student (--save-student) on >= 99.5% of 1,000 test
# images, as the report's agreement (qfd-onnx's own run of the file) does.
# usage: quantize_int4.sh QFD_ONNX NODE REPO_ROOT QDQ_STRUCTURE WORK_DIR MODEL
set -euo pipefail
qfd=$1 node=$2 root=$3 structure=$4 work=$5 name=$6
model=$root/models/$name.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$root/tests/e2e/ort_agree.sh"
small=(--limit 512 --epochs 1 --batch 64 --calib-images 256 --eval-limit 1000)

for bits in w4a4 w2a2 w8a8; do
  format=()
  [[ $bits != w4a4 ]] && format=(--format int4)
  [[ $bits == w8a8 ]] && format+=(--method ptq)
  out=$work/$name.$bits.onnx student=$work/$name.$bits.student.onnx
  "$qfd" quantize "$model" --$bits "${format[@]}" "${small[@]}" -o "$out" --save-student "$student" \
    --report "$work/$bits.json" >"$work/$bits.log" 2>&1 || { cat "$work/$bits.log"; fail "quantize --$bits exited $?"; }
  "$node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
    if (r.format !== "int4") { console.log(`report format ${r.format}, not int4`); process.exit(1); }
    if (!(r.agreement >= 0.995)) { console.log(`report agreement ${r.agreement}`); process.exit(1); }' \
    "$work/$bits.json" || fail "$bits: report"
  "$structure" "$out" || fail "$bits: int4 structure"
  ort_agrees "$bits" "$student" "$out"
  echo "$name $bits int4: onnxruntime vs student $agree; onnxruntime $(cat "$work/$bits.ort.json")"
done
echo "quantize --format int4 with onnxruntime ($name): all checks passed"
