#!/usr/bin/env bash
# Runs the ImageNet-size torchvision zoo (tools/make_zoo.py --imagenet) in
# qfd-onnx and compares each model's logits with PyTorch's. One line per
# model: the opset, max|qfd - torch| / max(1, max|torch|) and max|torch|
# (the logits' scale, so that a tiny difference is seen to mean something),
# pass (<= 1e-4) or
# FAIL, the wall time of `qfd-onnx run` (batch 1, load and plan included),
# and, for a model that cannot run, the histogram of the ops qfd-onnx lacks
# (from `qfd-onnx info --json`, which does not run it).
#
#   tools/zoo_check.sh                  every model of the default list
#   tools/zoo_check.sh resnet18 swin_t  these (exported first if missing)
#   tools/zoo_check.sh --all            every torchvision classifier
#
# Models missing from the cache ($QFD_ZOO_CACHE, else ~/.cache/qfd-onnx/zoo)
# are exported first with Debian's /usr/bin/python3 (python3-torch,
# python3-torchvision, python3-onnx). QFD_BIN names the binary (default
# build/src/qfd-onnx); QFD_THREADS the threads (default 2).
# Exit status: 0 when every model runs within 1e-4, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
BIN=${QFD_BIN:-build/src/qfd-onnx}
THREADS=${QFD_THREADS:-2}
CACHE=${QFD_ZOO_CACHE:-$HOME/.cache/qfd-onnx/zoo}
TOL=1e-4
export QFD_ZOO_CACHE=$CACHE

if [[ ! -x $BIN ]]; then
  echo "zoo_check: $BIN not found (build first, or set QFD_BIN)" >&2
  exit 2
fi
all=()
if [[ ${1:-} == --all ]]; then
  all=(--all)
  shift
fi
if (($#)); then
  models=("$@")
else
  mapfile -t models < <("$PY" tools/make_zoo.py --imagenet "${all[@]}" --list)
fi

missing=()
for m in "${models[@]}"; do
  [[ -f $CACHE/$m/model.onnx ]] || missing+=(--only "$m")
done
if ((${#missing[@]})); then
  echo "zoo_check: exporting $((${#missing[@]} / 2)) model(s) into $CACHE" >&2
  "$PY" tools/make_zoo.py --imagenet "${missing[@]}" >&2 || true # a refused export shows below as 'not exported'
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-20s %5s %10s %9s %6s %8s  %s\n' model opset rel_diff 'max|ref|' result time_s unsupported
fails=0
for m in "${models[@]}"; do
  dir=$CACHE/$m
  if [[ ! -f $dir/model.onnx ]]; then
    printf '%-20s %5s %10s %9s %6s %8s  %s\n' "$m" - - - FAIL - "not exported (see make_zoo.py's message)"
    fails=$((fails + 1))
    continue
  fi
  info=$("$BIN" info --json "$dir/model.onnx" 2>&1)
  read -r opset unsupported < <("$PY" -c '
import json, sys
try:
    j = json.loads(sys.argv[1])
except ValueError:
    print("-", "info failed: " + sys.argv[1].splitlines()[-1]); sys.exit()
opset = next((o["version"] for o in j["opsets"] if o["domain"] in ("", "ai.onnx")), "-")
miss = " ".join("%sx%d" % (u["op_type"], u["count"]) for u in j["unsupported"])
print(opset, miss or (j["runs_error"] or "-"))' "$info")
  rm -rf "${tmp:?}"/*
  t0=$(date +%s.%N)
  if ! "$BIN" run "$dir/model.onnx" --input "$dir/input.npy" -o "$tmp" --threads "$THREADS" > "$tmp/log" 2>&1; then
    t1=$(date +%s.%N)
    printf '%-20s %5s %10s %9s %6s %8.1f  %s\n' "$m" "$opset" - - FAIL "$(echo "$t1 - $t0" | bc)" \
      "${unsupported/#-/$(tail -1 "$tmp/log")}"
    fails=$((fails + 1))
    continue
  fi
  t1=$(date +%s.%N)
  read -r rel refmax < <("$PY" -c '
import numpy as np, sys
a = np.load(sys.argv[1]).astype(np.float64); b = np.load(sys.argv[2]).astype(np.float64)
print("shape -" if a.shape != b.shape else "%.3e %.3g" % (np.abs(a - b).max() / max(1.0, np.abs(b).max()), np.abs(b).max()))' \
    "$tmp/output_0.npy" "$dir/logits.npy")
  result=pass
  if [[ $rel == shape ]] || ! "$PY" -c "import sys; sys.exit(0 if float('$rel') <= $TOL else 1)"; then
    result=FAIL
    fails=$((fails + 1))
  fi
  printf '%-20s %5s %10s %9s %6s %8.1f  %s\n' "$m" "$opset" "$rel" "$refmax" "$result" "$(echo "$t1 - $t0" | bc)" "$unsupported"
done
echo "zoo_check: ${#models[@]} models, $fails failed ($(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads)"
((fails == 0))
