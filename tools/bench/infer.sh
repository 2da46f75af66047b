#!/usr/bin/env bash
# Inference throughput of qfd-onnx against ONNX Runtime (onnxruntime-node),
# both measured here in the same run: same model, same Fashion-MNIST images,
# batch 64, same thread count. Prints images/s of each and their ratio.
#
#   tools/bench/infer.sh [--threads T] [--limit N] [--batch B] [MODEL.onnx ...]
# Default: the bundled models, 2 threads, 4096 images, batch 64.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 limit=4096 batch=64 models=()
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(models/*.onnx)
tools/deps.sh
# always rebuild (incremental): a stale binary would measure old code
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null

field() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8"));const v=o[process.argv[1]];console.log(process.argv[1]==="top1"?v.toFixed(4):v)' "$1"; }

printf '%-28s %12s %12s %8s %8s %8s\n' model "qfd img/s" "ort img/s" ratio "qfd top1" "ort top1"
for m in "${models[@]}"; do
  # one warm-up pass each, so that neither pays for first-touch costs
  build/src/qfd-onnx eval "$m" --limit "$batch" --batch "$batch" --threads "$threads" --json >/dev/null 2>&1
  q=$(build/src/qfd-onnx eval "$m" --limit "$limit" --batch "$batch" --threads "$threads" --json 2>/dev/null)
  node tools/ort/eval.js "$m" --limit "$batch" --batch "$batch" --threads "$threads" >/dev/null
  o=$(node tools/ort/eval.js "$m" --limit "$limit" --batch "$batch" --threads "$threads")
  q_ips=$(field images_per_second <<<"$q")
  o_ips=$(node -e 'const o=JSON.parse(process.argv[1]);console.log((o.n/o.seconds).toFixed(1))' "$o")
  ratio=$(node -e 'console.log((process.argv[1]/process.argv[2]).toFixed(2))' "$q_ips" "$o_ips")
  printf '%-28s %12s %12s %7sx %8s %8s\n' "$(basename "$m")" "$q_ips" "$o_ips" "$ratio" \
    "$(field top1 <<<"$q")" "$(field top1 <<<"$o")"
done
