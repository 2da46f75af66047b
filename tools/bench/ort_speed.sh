#!/usr/bin/env bash
# What --format ort buys at run time: ONNX Runtime's (onnxruntime-node, CPU)
# images/s on each bundled FP32 model and on its `quantize --w8a8 --format
# ort` export, measured in the same run on the same Fashion-MNIST images,
# batch and threads, with the ratio and both top-1s.
#
#   tools/bench/ort_speed.sh [--threads T] [--limit N] [--batch B] [--repeat R] [--tensorrt] [--int4] [MODEL.onnx ...]
# Default: the bundled models, 2 threads, 4096 images, batch 64, best of 3.
# The export is a ptq W8A8 (calibration only): speed does not depend on how
# the steps were trained. --tensorrt adds the `--format tensorrt` export of
# the same model, measured in the same run (ONNX Runtime is the only
# runtime here: what TensorRT itself makes of that file is not measured).
# --int4 adds the W4A4 exports in the ort and int4 formats. Each column
# after the FP32 one is an export: images/s, the ratio to FP32, top-1.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 limit=4096 batch=64 repeat=3 models=()
exports=("w8a8|--w8a8 --format ort")
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --tensorrt) exports+=("trt w8a8|--w8a8 --format tensorrt"); shift ;;
    --int4) exports+=("w4a4 ort|--w4a4 --format ort" "w4a4 int4|--w4a4 --format int4"); shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(models/*.onnx)
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); threads $threads, batch $batch, $limit images"
# best images/s of R runs (after one warm-up), and the top-1
ort() {
  node tools/ort/eval.js "$1" --limit "$batch" --batch "$batch" --threads "$threads" >/dev/null
  local best=0 top1=0 r
  for _ in $(seq "$repeat"); do
    r=$(node tools/ort/eval.js "$1" --limit "$limit" --batch "$batch" --threads "$threads")
    read -r ips top1 < <(node -e 'const o=JSON.parse(process.argv[1]);console.log((o.n/o.seconds).toFixed(1), o.top1.toFixed(4))' "$r")
    best=$(node -e 'console.log(Math.max(+process.argv[1], +process.argv[2]))' "$best" "$ips")
  done
  echo "$best $top1"
}
ratio() { node -e 'console.log((process.argv[2]/process.argv[1]).toFixed(2))' "$1" "$2"; }
printf '%-12s %18s' model "fp32 img/s top1"
for e in "${exports[@]}"; do printf ' %28s' "${e%%|*}: img/s (x) top1"; done
echo
for m in "${models[@]}"; do
  name=$(basename "$m" .onnx) files=()
  for i in "${!exports[@]}"; do
    files+=("$work/$name.$i.onnx")
    read -r -a flags <<<"${exports[$i]#*|}"
    build/src/qfd-onnx quantize "$m" "${flags[@]}" --method ptq --eval-limit 500 --threads "$threads" \
      -o "${files[$i]}" >/dev/null 2>&1 || { echo "$name: quantize ${flags[*]} failed" >&2; exit 1; }
  done
  read -r f_ips f_top1 < <(ort "$m")
  printf '%-12s %10s %7s' "$name" "$f_ips" "$f_top1"
  for f in "${files[@]}"; do
    read -r ips top1 < <(ort "$f")
    printf ' %14s (%5sx) %6s' "$ips" "$(ratio "$f_ips" "$ips")" "$top1"
  done
  echo
done
