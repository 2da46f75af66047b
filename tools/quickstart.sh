#!/usr/bin/env bash
# Quick start: installs what is missing, builds qfd-onnx, and runs the main
# job on the bundled ResNet-20 (Fashion-MNIST): a short W4A4 quantization-
# aware training with the default method, qfd (one epoch of the teacher,
# then one of the student, on 8,192 training images: a few minutes on 2
# cores), then the FP32 model and the written QDQ file measured by ONNX
# Runtime on the whole test set.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

model=models/resnet20.onnx out=build/quickstart/resnet20.w4a4.onnx
mkdir -p build/quickstart
echo
echo "== qfd-onnx info $model"
build/src/qfd-onnx info "$model"
echo
echo "== qfd-onnx quantize $model --w4a4 --format ort --limit 8192 --epochs 1 -o $out"
build/src/qfd-onnx quantize "$model" --w4a4 --format ort --limit 8192 --epochs 1 --eval-limit 2000 -o "$out" \
  --report build/quickstart/report.json
echo
echo "== ONNX Runtime (onnxruntime-node) on the Fashion-MNIST test set (10,000 images)"
top1() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log((100*o.top1).toFixed(2)+"%")'; }
echo "FP32 $model:      top-1 $(node tools/ort/eval.js "$model" | top1)"
echo "W4A4 $out: top-1 $(node tools/ort/eval.js "$out" | top1)"
