#!/usr/bin/env bash
# A fuzzing campaign: builds the libFuzzer harnesses with clang, ASan and
# UBSan in build-fuzz/, then runs one over its committed seed corpus
# (tests/fuzz/corpus/HARNESS, only read) for SECONDS. New corpus entries go
# to build-fuzz/campaign/HARNESS/corpus; a crash, leak, timeout or UB stops
# the run, and the input that caused it is reported (and kept in
# build-fuzz/campaign/HARNESS/). Exits non-zero on a finding.
#
#   tools/fuzz.sh HARNESS SECONDS [LIBFUZZER FLAGS...]   HARNESS: onnx, npy, npz, idx
#
# A finding becomes a regression test: fix it, then copy the input to
# tests/fuzz/corpus/HARNESS/crash-<what it broke> (tools/test.sh --fuzz
# replays it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: tools/fuzz.sh HARNESS SECONDS [LIBFUZZER FLAGS...]  (HARNESS: onnx npy npz idx)" >&2; exit 2; }
(($# >= 2)) || usage
harness=$1 seconds=$2
shift 2
[[ -d tests/fuzz/corpus/$harness ]] || usage
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage

tools/deps.sh
CC=clang cmake -S . -B build-fuzz -DQFD_FUZZ=ON -DQFD_BUILD_TESTS=OFF -DQFD_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "fuzz_$harness" >/dev/null

out=build-fuzz/campaign/$harness
mkdir -p "$out/corpus"
echo "fuzz: $harness for ${seconds}s; new inputs in $out/corpus" >&2
set +e
"build-fuzz/tests/fuzz/fuzz_$harness" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/" "$@" "$out/corpus" "tests/fuzz/corpus/$harness" \
  2>"$out/log"
rc=$?
set -e
tail -n 12 "$out/log" >&2
if ((rc != 0)); then
  echo "fuzz: FOUND a failure (exit $rc); reproduce with:" >&2
  grep -h "Test unit written to" "$out/log" | sed 's/.*Test unit written to /  build-fuzz\/tests\/fuzz\/fuzz_'"$harness"' /' >&2
  exit 1
fi
echo "fuzz: no failure in ${seconds}s" >&2
