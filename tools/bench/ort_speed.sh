#!/usr/bin/env bash
# What --format ort buys at run time: ONNX Runtime's (onnxruntime-node, CPU)
# images/s on each bundled FP32 model and on its `quantize --w8a8 --format
# ort` export, measured in the same run on the same Fashion-MNIST images,
# batch and threads, with the ratio and both top-1s.
#
#   tools/bench/ort_speed.sh [--threads T] [--limit N] [--batch B] [--repeat R] [--tensorrt] [MODEL.onnx ...]
# Default: the bundled models, 2 threads, 4096 images, batch 64, best of 3.
# The export is a ptq W8A8 (calibration only): speed does not depend on how
# the steps were trained. --tensorrt adds the `--format tensorrt` export of
# the same model, measured in the same run (ONNX Runtime is the only
# runtime here: what TensorRT itself makes of that file is not measured).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 limit=4096 batch=64 repeat=3 models=() trt=0
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --tensorrt) trt=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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
printf '%-18s %14s %14s %8s %10s %10s' model "fp32 img/s" "w8a8 img/s" ratio "fp32 top1" "w8a8 top1"
((trt)) && printf ' %14s %8s %10s' "trt img/s" ratio "trt top1"
echo
for m in "${models[@]}"; do
  q=$work/$(basename "$m" .onnx).w8a8.onnx t=$work/$(basename "$m" .onnx).w8a8.tensorrt.onnx
  build/src/qfd-onnx quantize "$m" --w8a8 --method ptq --eval-limit 500 --threads "$threads" -o "$q" >/dev/null 2>&1
  ((trt)) && build/src/qfd-onnx quantize "$m" --w8a8 --method ptq --format tensorrt --eval-limit 500 \
    --threads "$threads" -o "$t" >/dev/null 2>&1
  read -r f_ips f_top1 < <(ort "$m")
  read -r q_ips q_top1 < <(ort "$q")
  printf '%-18s %14s %14s %7sx %10s %10s' "$(basename "$m" .onnx)" "$f_ips" "$q_ips" "$(ratio "$f_ips" "$q_ips")" \
    "$f_top1" "$q_top1"
  if ((trt)); then
    read -r t_ips t_top1 < <(ort "$t")
    printf ' %14s %7sx %10s' "$t_ips" "$(ratio "$f_ips" "$t_ips")" "$t_top1"
  fi
  echo
done
