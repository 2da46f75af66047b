#!/usr/bin/env bash
# The numbers of docs/results.md: quantizes each model with each method and
# bit width on the full Fashion-MNIST data (defaults otherwise), and prints
# a Markdown table of the test top-1 (10,000 images) of the FP32 model, the
# fake-quant student, the written file as qfd-onnx and as ONNX Runtime
# (onnxruntime-node) evaluate it, with the wall time of each run.
#
#   tools/bench/results.sh [--out DIR] [--format F] [--specs "ptq w8a8,lsq w4a4 int4"] [MODEL ...]
# (default: resnet20 mobilenetv2; each spec is "METHOD BITS [FORMAT]", FORMAT defaulting to
# --format F, itself ort; default specs: ptq w8a8, ptq w4a4, lsq w4a4, lsq w2a2 in ort, lsq w4a4
# and w2a2 in int4, ptq w8a8 and lsq w4a4 in tensorrt)
# Each row's command is `qfd-onnx quantize models/MODEL.onnx --BITS --method METHOD --format FORMAT`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/results models=() format=ort specs="ptq w8a8 ort,ptq w4a4 ort,lsq w4a4 ort,lsq w2a2 ort,lsq w4a4 int4,lsq w2a2 int4,ptq w8a8 tensorrt,lsq w4a4 tensorrt"
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    --specs) specs=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(resnet20 mobilenetv2)
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
mkdir -p "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; qfd-onnx $(git rev-parse --short HEAD)"
echo
echo "| model | method | bits | format | FP32 | student | exported (qfd-onnx) | exported (ONNX Runtime) | agreement | time |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  IFS=, read -r -a spec_list <<<"$specs"
  for spec in "${spec_list[@]}"; do
    read -r method bits fmt <<<"$spec"
    fmt=${fmt:-$format}
    f=$out/$m.$fmt.$method.$bits
    t0=$(date +%s)
    build/src/qfd-onnx quantize "models/$m.onnx" --"$bits" --method "$method" --format "$fmt" -o "$f.onnx" \
      --report "$f.json" \
      >"$f.log" 2>&1 || { echo "| $m | $method | $bits | $fmt | failed: $(tail -1 "$f.log") |"; continue; }
    secs=$(($(date +%s) - t0))
    node tools/ort/eval.js "$f.onnx" >"$f.ort.json"
    node -e '
      const fs = require("fs");
      const r = JSON.parse(fs.readFileSync(process.argv[1])), o = JSON.parse(fs.readFileSync(process.argv[2]));
      const p = (v) => (100 * v).toFixed(2) + "%";
      const [m, method, bits, format, secs] = process.argv.slice(3);
      console.log(`| ${m} | ${method} | ${bits.toUpperCase()} | ${format} | ${p(r.accuracy.fp32)} | ${p(r.accuracy.student)} | ` +
                  `${p(r.accuracy.exported)} | ${p(o.top1)} | ${p(r.agreement)} | ${Math.floor(secs / 60)}m${secs % 60}s |`);
    ' "$f.json" "$f.ort.json" "$m" "$method" "$bits" "$fmt" "$secs"
  done
done
