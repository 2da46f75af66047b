#!/usr/bin/env bash
# The numbers of docs/results.md: quantizes each model with each method and
# bit width on the full Fashion-MNIST data (defaults otherwise), and prints
# a Markdown table of the test top-1 (10,000 images) of the FP32 model, the
# fake-quant student, the written file as qfd-onnx and as ONNX Runtime
# (onnxruntime-node) evaluate it, with the wall time of each run.
#
#   tools/bench/results.sh [--out DIR] [--format F] [--specs "ptq w8a8,lsq w4a4"] [MODEL ...]
# (default: resnet20 mobilenetv2; --format ort; ptq w8a8, ptq w4a4, lsq w4a4, lsq w2a2)
# Each row's command is `qfd-onnx quantize models/MODEL.onnx --BITS --method METHOD --format F`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/results models=() format=ort specs="ptq w8a8,ptq w4a4,lsq w4a4,lsq w2a2"
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    --specs) specs=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(resnet20 mobilenetv2)
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
mkdir -p "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; qfd-onnx $(git rev-parse --short HEAD); --format $format"
echo
echo "| model | method | bits | FP32 | student | exported (qfd-onnx) | exported (ONNX Runtime) | agreement | time |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  IFS=, read -r -a spec_list <<<"$specs"
  for spec in "${spec_list[@]}"; do
    read -r method bits <<<"$spec"
    f=$out/$m.$format.$method.$bits
    t0=$(date +%s)
    build/src/qfd-onnx quantize "models/$m.onnx" --"$bits" --method "$method" --format "$format" -o "$f.onnx" \
      --report "$f.json" \
      >"$f.log" 2>&1 || { echo "| $m | $method | $bits | failed: $(tail -1 "$f.log") |"; continue; }
    secs=$(($(date +%s) - t0))
    node tools/ort/eval.js "$f.onnx" >"$f.ort.json"
    node -e '
      const fs = require("fs");
      const r = JSON.parse(fs.readFileSync(process.argv[1])), o = JSON.parse(fs.readFileSync(process.argv[2]));
      const p = (v) => (100 * v).toFixed(2) + "%";
      const [m, method, bits, secs] = process.argv.slice(3);
      console.log(`| ${m} | ${method} | ${bits.toUpperCase()} | ${p(r.accuracy.fp32)} | ${p(r.accuracy.student)} | ` +
                  `${p(r.accuracy.exported)} | ${p(o.top1)} | ${p(r.agreement)} | ${Math.floor(secs / 60)}m${secs % 60}s |`);
    ' "$f.json" "$f.ort.json" "$m" "$method" "$bits" "$secs"
  done
done
