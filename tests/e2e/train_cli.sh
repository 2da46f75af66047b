#!/usr/bin/env bash
# qfd-onnx train end to end on the bundled ResNet-20:
#  1. one epoch of fine-tuning with a small learning rate keeps the test
#     accuracy (within 0.5 point on 2,000 test images);
#  2. ONNX Runtime running the written model agrees with qfd-onnx eval;
#  3. SIGINT stops training, saves a checkpoint and exits 130, and --resume
#     from it gives the uninterrupted run's model byte for byte;
#  4. a loss that explodes stops with exit 2 and a clear message.
# usage: train_cli.sh QFD_ONNX NODE REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 work=$4
model=$root/models/resnet20.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
top1() { "$node" -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).top1)'; }

# 1. fine-tune: accuracy kept
"$qfd" train "$model" --epochs 1 --limit 2048 --batch 64 --lr 0.001 --no-eval -o "$work/ft.onnx" 2>"$work/train.log" \
  || { cat "$work/train.log"; fail "train exited $?"; }
before=$("$qfd" eval "$model" --limit 2000 --json | top1)
after=$("$qfd" eval "$work/ft.onnx" --limit 2000 --json | top1)
echo "top-1 on 2000 test images: before $before, after fine-tuning $after"
"$node" -e "process.exit($after >= $before - 0.005 ? 0 : 1)" || fail "fine-tuning lost accuracy ($before -> $after)"
grep -q "epoch 1/1" "$work/train.log" || fail "no progress line on stderr"

# 2. ONNX Runtime agrees on the written model
ort=$("$node" "$root/tools/ort/eval.js" "$work/ft.onnx" --limit 2000 --batch 100 | top1)
echo "onnxruntime top-1 of the fine-tuned model: $ort"
[[ "$ort" == "$after" ]] || fail "onnxruntime ($ort) and qfd-onnx ($after) disagree on the fine-tuned model"

# 3. SIGINT mid-training saves a checkpoint and exits 130; resuming from it
#    gives exactly the model of an uninterrupted run
common=(--epochs 2 --limit 2048 --batch 64 --lr 0.01 --seed 7 --no-eval)
"$qfd" train "$model" "${common[@]}" -o "$work/straight.onnx" 2>/dev/null
set +e
timeout --preserve-status -s INT 4 "$qfd" train "$model" "${common[@]}" --checkpoint "$work/ckpt" -o "$work/cut.onnx" 2>"$work/int.log"
rc=$?
set -e
[[ $rc == 130 ]] || { tail -3 "$work/int.log"; fail "SIGINT: exit $rc, expected 130 (training finished in under 4 s?)"; }
[[ -f "$work/ckpt/model.onnx" && -f "$work/ckpt/checkpoint.bin" && ! -e "$work/cut.onnx" ]] \
  || fail "SIGINT: checkpoint missing or output written"
echo "SIGINT: $(tail -1 "$work/int.log")"
"$qfd" train "$model" "${common[@]}" --resume "$work/ckpt" -o "$work/resumed.onnx" 2>/dev/null
cmp -s "$work/straight.onnx" "$work/resumed.onnx" || fail "resumed run differs from the uninterrupted one"
echo "resume: identical to the uninterrupted run"

# 4. divergence is caught
set +e
"$qfd" train "$model" --epochs 1 --limit 512 --lr 1e6 --no-eval -o "$work/nan.onnx" 2>"$work/nan.log"
rc=$?
set -e
[[ $rc == 2 ]] || fail "exploding loss: exit $rc, expected 2"
grep -q "loss exploded\|loss became" "$work/nan.log" || { cat "$work/nan.log"; fail "no message about the loss"; }
[[ ! -e "$work/nan.onnx" ]] || fail "a model was written after the loss exploded"
echo "divergence: $(tail -1 "$work/nan.log")"

echo "train CLI: all checks passed"
