#!/usr/bin/env bash
# One SGD step of torchvision's resnet18, mobilenet_v3_small and vit_b_16
# (ImageNet size, batch 4, random init, Dropout off) in qfd-onnx against
# PyTorch: the loss to rtol 1e-4, and every parameter and BatchNorm
# statistic after the step to max|qfd - torch| <= 1e-4 * max(1, max|torch|)
# per tensor (a per-value rtol 1e-4 is below float32's noise here: PyTorch's
# own float32 step of resnet18 differs from its float64 step by 3.4e-5 in
# conv1.weight, whose update is 0.028 at most). SGD lr 0.05, momentum 0.9,
# weight decay 5e-4 on tensors of rank >= 2: the train parity test's
# settings (tests/train/test_parity.c, which this runs on each record).
#
#   tools/zoo_train_check.sh                 the three models
#   tools/zoo_train_check.sh resnet18        one
#
# The records (model, batch, PyTorch's loss and weights after the step) are
# made with Debian's /usr/bin/python3 by tools/make_train_reference.py
# --torchvision into $QFD_ZOO_CACHE/train (default ~/.cache/qfd-onnx/zoo),
# once. QFD_BUILD names the build folder (default build).
# Exit status: 0 when all match, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
BUILD=${QFD_BUILD:-build}
CACHE=${QFD_ZOO_CACHE:-$HOME/.cache/qfd-onnx/zoo}/train
PARITY=$BUILD/tests/test_parity
if [[ ! -x $PARITY ]]; then
  echo "zoo_train_check: $PARITY not found (build the tests first, or set QFD_BUILD)" >&2
  exit 2
fi
models=("$@")
((${#models[@]})) || models=(resnet18 mobilenet_v3_small vit_b_16)
fails=0
for m in "${models[@]}"; do
  dir=$CACHE/$m
  if [[ ! -f $dir/after.npz ]]; then
    rm -rf "$dir"
    "$PY" tools/make_train_reference.py --torchvision "$m" --out "$dir" 2> "$CACHE.$m.log" ||
      { echo "FAIL $m: PyTorch record failed (see $CACHE.$m.log)"; fails=$((fails + 1)); continue; }
  fi
  t0=$(date +%s.%N)
  out=$("$PARITY" --tensor-tol 1e-4 "$dir" 2>&1)
  rc=$?
  t1=$(date +%s.%N)
  echo "$out" | grep -v '^training matches\|^FAILED$'
  printf '%s %s: one SGD step, %.1f s\n' "$([[ $rc == 0 ]] && echo 'ok  ' || echo FAIL)" "$m" "$(echo "$t1 - $t0" | bc)"
  ((rc == 0)) || fails=$((fails + 1))
done
echo "zoo_train_check: ${#models[@]} models, $fails failed"
((fails == 0))
