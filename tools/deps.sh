#!/usr/bin/env bash
# Installs what qfd-onnx needs and is missing: Debian packages with apt-get
# (only those absent), and the npm package onnxruntime-node into the
# git-ignored tools/ort/node_modules. Safe to run again; does nothing when
# everything is there. Used by tools/test.sh and tools/quickstart.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# build: compiler, CMake, clang-format (style check), protobuf-c, the ONNX schema, OpenBLAS, zlib,
#        libjpeg-turbo and libpng (image folders as --data)
# fuzzing (tools/fuzz.sh, tools/test.sh --fuzz): clang, libFuzzer, clang's OpenMP
# test oracles and data: ONNX backend test data, Fashion-MNIST, Node.js + npm for ONNX Runtime
PACKAGES=(gcc make cmake libc6-dev clang-format
          libprotobuf-c-dev protobuf-c-compiler libonnx-dev libopenblas-dev libopenblas-openmp-dev zlib1g-dev
          libjpeg62-turbo-dev libpng-dev
          clang libfuzzer-14-dev libomp-dev
          libonnx-testdata dataset-fashion-mnist)

missing=()
# Node.js may come from elsewhere (with its own npm): only the commands matter.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: error: not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ -f tools/ort/package.json && ! -d tools/ort/node_modules/onnxruntime-node ]]; then
  echo "deps: installing onnxruntime-node into tools/ort/node_modules" >&2
  # --ignore-scripts: the CPU library ships inside the package; its install
  # script would try to download GPU binaries.
  (cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
