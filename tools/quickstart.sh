#!/usr/bin/env bash
# Quick start: installs what is missing, builds qfd-onnx, and runs the main
# job on the bundled ResNet-20 (Fashion-MNIST): describe the model, then
# measure its accuracy on the test set.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

model=models/resnet20.onnx
echo
echo "== qfd-onnx info $model"
build/src/qfd-onnx info "$model"
echo
echo "== qfd-onnx eval $model   (Fashion-MNIST test set, Debian's dataset-fashion-mnist)"
build/src/qfd-onnx eval "$model"
