#!/usr/bin/env bash
# Training throughput of qfd-onnx against PyTorch (Debian python3-torch),
# both measured here in the same run: one FP32 epoch of ResNet-20 on the
# first N Fashion-MNIST training images, batch 128, same thread count, SGD
# with Nesterov momentum, random crop + flip. Prints images/s, the ratio,
# and both peak memory figures (max RSS).
#
#   tools/bench/train.sh [--threads T] [--limit N] [--batch B]
# Default: 2 threads, 4096 images, batch 128. Needs python3-torch:
#   apt-get install python3-torch python3-torchvision
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 limit=4096 batch=128
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
tools/deps.sh
# always rebuild (incremental): a stale binary would measure old code
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

q_err=$( { /usr/bin/time -f 'maxrss_kib %M' build/src/qfd-onnx train models/resnet20.onnx --epochs 1 \
  --limit "$limit" --batch "$batch" --threads "$threads" --nesterov --lr 0.01 --no-eval --verbose \
  -o "$out/r.onnx" >/dev/null; } 2>&1 )
q_ips=$(grep -o '[0-9.]* img/s' <<<"$q_err" | tail -1 | cut -d' ' -f1)
q_rss=$(awk '/maxrss_kib/ {printf "%.1f", $2/1024}' <<<"$q_err")
t=$(/usr/bin/python3 tools/bench/train_torch.py --limit "$limit" --batch "$batch" --threads "$threads")
t_ips=$(/usr/bin/python3 -c 'import json,sys;print("%.1f"%json.loads(sys.argv[1])["images_per_second"])' "$t")
t_rss=$(/usr/bin/python3 -c 'import json,sys;print("%.1f"%json.loads(sys.argv[1])["peak_rss_mib"])' "$t")
ratio=$(/usr/bin/python3 -c 'import sys;print("%.2f"%(float(sys.argv[1])/float(sys.argv[2])))' "$q_ips" "$t_ips")
printf '%-10s %12s %14s\n' "" "img/s" "peak RSS MiB"
printf '%-10s %12s %14s\n' qfd-onnx "$q_ips" "$q_rss"
printf '%-10s %12s %14s\n' pytorch "$t_ips" "$t_rss"
echo "ratio qfd-onnx/pytorch: ${ratio}x  (resnet20, batch $batch, $threads threads, $limit images)"
