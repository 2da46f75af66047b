#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test through ctest. Exits non-zero on any failure.
#
#   tools/test.sh              Release build in build/, every test
#   tools/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/, every
#                              test but the end-to-end ones (label e2e: whole
#                              models trained and evaluated, too slow under ASan)
#   tools/test.sh --portable   build in build-portable/ without the AVX-512 kernels
#                              (what a CPU without AVX-512 runs), every test
#   tools/test.sh --fuzz       clang + libFuzzer + ASan/UBSan build in build-fuzz/:
#                              replays the committed corpus (tests/fuzz/corpus)
#                              through every harness, then runs each for a fixed
#                              number of inputs with a fixed seed (ctest label
#                              fuzz; about a minute); a crash or leak fails
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
flags=(-DQFD_WERROR=ON)
select=()
case "${1:-}" in
  --sanitize) build=build-asan; flags+=(-DQFD_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo); select=(-LE e2e) ;;
  --portable) build=build-portable; flags+=(-DQFD_NO_AVX512=ON) ;;
  --fuzz) build=build-fuzz; flags+=(-DQFD_FUZZ=ON -DQFD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
          select=(-L fuzz); export CC=clang ;;
  "") ;;
  *) echo "usage: tools/test.sh [--sanitize | --portable | --fuzz]" >&2; exit 2 ;;
esac

tools/deps.sh
jobs=$(nproc)
cmake -S . -B "$build" "${flags[@]}"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" "${select[@]}"
