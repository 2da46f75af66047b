# Sourced by the quantize_*.sh tests. ort_agrees TAG STUDENT FILE: qfd-onnx
# evaluates the fake-quant STUDENT and ONNX Runtime the exported FILE on the
# first 1,000 test images; fails unless their top-1 agree on >= 99.5% of
# them. Sets $agree (agree.js's line) and writes $work/TAG.ort.json (ONNX
# Runtime's accuracy). Needs $qfd, $node, $root, $work and fail().
ort_agrees() {
  local tag=$1 student=$2 out=$3
  "$qfd" eval "$student" --limit 1000 --dump-logits "$work/$tag.student.f32" >/dev/null 2>&1 \
    || fail "$tag: eval of the student"
  "$node" "$root/tools/ort/eval.js" "$out" --limit 1000 --dump-logits "$work/$tag.ort.f32" >"$work/$tag.ort.json" \
    || fail "$tag: onnxruntime could not run the file"
  agree=$("$node" "$root/tests/e2e/agree.js" "$work/$tag.student.f32" "$work/$tag.ort.f32" 10 0.995) \
    || fail "$tag: onnxruntime agrees with the student on too few images: $agree"
}
