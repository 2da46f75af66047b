#!/usr/bin/env bash
# quantize's checkpoints, on the bundled ResNet-20 (W4A4 lsq, 2 short epochs;
# quantize_qfd.sh does the same for qfd's two stages):
#  1. SIGINT saves a checkpoint and exits 130; --resume gives the
#     uninterrupted run's file byte for byte;
#  2. SIGKILL at random moments (a checkpoint every step, so kills land in
#     saves too), resumed until done: the same file again;
#  3. a resume with other quantization options is refused, naming the flag.
# usage: quantize_resume.sh QFD_ONNX REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 root=$2 work=$3
model=$root/models/resnet20.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$(dirname "$0")/kill_resume.sh"
c=(--w4a4 --method lsq --limit 768 --epochs 2 --batch 64 --calib-images 128 --eval-limit 100 --threads 2)
"$qfd" quantize "$model" "${c[@]}" -o "$work/straight.onnx" >/dev/null 2>&1 || fail "uninterrupted run"

# 1. SIGINT in the second epoch
"$qfd" quantize "$model" "${c[@]}" --checkpoint "$work/ck" -o "$work/cut.onnx" >/dev/null 2>"$work/int.log" &
pid=$!
while kill -0 $pid 2>/dev/null && ! grep -q "epoch 2/2" "$work/int.log"; do sleep 0.05; done
kill -INT $pid 2>/dev/null || true
rc=0; wait $pid || rc=$?
[[ $rc == 130 && -f "$work/ck/checkpoint.bin" && ! -e "$work/cut.onnx" ]] \
  || { cat "$work/int.log"; fail "SIGINT: exit $rc, expected 130 with a checkpoint and no output"; }
"$qfd" quantize "$model" "${c[@]}" --resume "$work/ck" -o "$work/resumed.onnx" >/dev/null 2>&1 || fail "resume"
cmp -s "$work/straight.onnx" "$work/resumed.onnx" || fail "SIGINT + resume: the file differs from the uninterrupted run's"
echo "SIGINT + resume: identical file"

# 3. other options
rc=0
"$qfd" quantize "$model" "${c[@]}" --wbits 3 --resume "$work/ck" -o "$work/x.onnx" 2>"$work/err.log" >/dev/null || rc=$?
[[ $rc == 2 ]] && grep -q "saved with --wbits=4, this run has --wbits=3" "$work/err.log" \
  || { cat "$work/err.log"; fail "a resume with --wbits 3: exit $rc"; }
[[ ! -e "$work/x.onnx" ]] || fail "a refused resume wrote a file"

# 2. SIGKILL at random moments
RANDOM=${QFD_TEST_SEED:-23}
kill_until_done "$work/kck" "$work/killed.onnx" "$work/kill.log" "$qfd" quantize "$model" "${c[@]}" --checkpoint-steps 1
cmp -s "$work/straight.onnx" "$work/killed.onnx" || fail "killed $kills times and resumed: the file differs"
echo "SIGKILL: killed $kills times, resumed each time, same file as the uninterrupted run"
echo "quantize checkpoints: all checks passed"
