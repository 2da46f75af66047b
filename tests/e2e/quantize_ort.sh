#!/usr/bin/env bash
# quantize end to end, judged by ONNX Runtime (onnxruntime-node), on one
# bundled model:
#  1. W8A8 and W4A4 (lsq, one short epoch): the written file has the QDQ
#     structure (qdq_structure), and ONNX Runtime's top-1 agrees with
#     qfd-onnx's fake-quant student (--save-student) on >= 99.5% of 1,000
#     test images;
#  2. W8A8 and W4A8: ONNX Runtime's optimized graph runs every Conv, Gemm
#     and MatMul on integer kernels (no float Conv/FusedConv/Gemm/MatMul).
# usage: quantize_ort.sh QFD_ONNX NODE REPO_ROOT QDQ_STRUCTURE WORK_DIR MODEL
set -euo pipefail
qfd=$1 node=$2 root=$3 structure=$4 work=$5 name=$6
model=$root/models/$name.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$root/tests/e2e/ort_agree.sh"
small=(--limit 512 --epochs 1 --batch 64 --calib-images 256 --eval-limit 1000)

for bits in w8a8 w4a4 w4a8; do
  method=lsq
  [[ $bits == w4a8 ]] && method=ptq
  out=$work/$name.$bits.onnx student=$work/$name.$bits.student.onnx
  "$qfd" quantize "$model" --$bits --format ort --method $method "${small[@]}" -o "$out" --save-student "$student" \
    --report "$work/$bits.json" >"$work/$bits.log" 2>&1 || { cat "$work/$bits.log"; fail "quantize --$bits exited $?"; }
  "$structure" "$out" || fail "$bits: QDQ structure"
  if [[ $bits != w4a8 ]]; then
    ort_agrees "$bits" "$student" "$out"
    echo "$name $bits: onnxruntime vs student $agree; onnxruntime $(cat "$work/$bits.ort.json")"
  fi
  if [[ $bits != w4a4 ]]; then
    ops=$("$node" "$root/tools/ort/optimized_ops.js" "$out" "$work/$bits.optimized.onnx" 2>/dev/null) \
      || fail "$bits: onnxruntime could not optimize the file"
    echo "$name $bits: onnxruntime runs $ops"
    "$node" -e '
      const ops = JSON.parse(process.argv[1]);
      const float = ["Conv", "ConvTranspose", "Gemm", "MatMul", "com.microsoft.FusedConv", "com.microsoft.FusedGemm",
                     "com.microsoft.FusedMatMul"].filter((op) => ops[op]);
      if (float.length) { console.log("float layers left: " + float.join(", ")); process.exit(1); }' "$ops" \
      || fail "$bits: onnxruntime runs some layers in float"
  fi
done
echo "quantize with onnxruntime ($name): all checks passed"
