#!/usr/bin/env bash
# What `train` promises when things go wrong, on the bundled ResNet-20:
#  1. bad output paths, checkpoint folders, models and data are refused
#     before the first step (no progress line), naming what is wrong, and
#     "the last good checkpoint is in DIR" is said only of a real one; a
#     run whose loss collapses to chance stops without writing a model;
#  2. --resume refuses another model and changed options, and the summary
#     of a resumed run (also of a finished checkpoint) is the whole run's;
#  3. SIGINT during the final test-set evaluation stops it (exit 130);
#  4. SIGKILL at random moments, then resuming until done, ends with the
#     uninterrupted run's model byte for byte, never meeting a broken
#     checkpoint;
#  5. a file-size limit (as a full disk) while writing the model or the
#     checkpoint exits 2 naming the file, and leaves the previous file whole.
# usage: train_reliability.sh QFD_ONNX REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 root=$2 work=$3
model=$root/models/resnet20.onnx
fmnist=/usr/share/datasets/fashion-mnist
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$(dirname "$0")/kill_resume.sh"

# expect RC PATTERN -- ARGS...: exit code, stderr pattern, and no training
# step taken (no progress line) unless RC is 0.
expect() {
  local want=$1 pat=$2 rc=0
  shift 3
  "$qfd" "$@" >"$work/out.log" 2>"$work/err.log" || rc=$?
  [[ $rc == "$want" ]] || { cat "$work/err.log"; fail "$*: exit $rc, expected $want"; }
  [[ -z $pat ]] || grep -q -- "$pat" "$work/err.log" || { cat "$work/err.log"; fail "$*: stderr lacks '$pat'"; }
}
no_steps() { ! grep -q "epoch 1/" "$work/err.log" || fail "$1: training ran before the error"; }
no_ckpt_claim() { ! grep -q "last good checkpoint" "$work/err.log" || fail "$1: named a checkpoint that does not exist"; }

small=(--limit 256 --batch 64 --epochs 1 --no-eval)

# ---- 1. checked before the first step ------------------------------------
expect 2 "/nonexistent/x.onnx: cannot write there" -- train "$model" "${small[@]}" -o /nonexistent/x.onnx
no_steps "-o in a missing folder"
mkdir -p "$work/afolder"
expect 2 "afolder: is a folder" -- train "$model" "${small[@]}" -o "$work/afolder"
no_steps "-o naming a folder"
expect 2 "checkpoint folder /nonexistent/ck" -- train "$model" "${small[@]}" --checkpoint /nonexistent/ck -o "$work/x.onnx"
no_steps "--checkpoint in a missing folder"; no_ckpt_claim "--checkpoint in a missing folder"
[[ ! -e "$work/x.onnx" ]] || fail "an output was written after a bad --checkpoint"

# Data made by hand as raw IDX files: two 28x28 images, labels a and b.
idx() { # DIR PREFIX LABEL_A LABEL_B
  mkdir -p "$1"
  printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c' >"$1/$2-images-idx3-ubyte"
  head -c 1568 /dev/zero >>"$1/$2-images-idx3-ubyte"
  printf "\\x00\\x00\\x08\\x01\\x00\\x00\\x00\\x02\\x$(printf %02x "$3")\\x$(printf %02x "$4")" >"$1/$2-labels-idx1-ubyte"
}
idx "$work/badtrain" train 3 11
idx "$work/badtrain" t10k 1 2
expect 2 "label 11 of example 1 is not one of the model's 10 classes" -- \
  train "$model" --data "$work/badtrain" --epochs 1 --checkpoint "$work/ck_bad" -o "$work/x.onnx"
no_steps "bad training label"; no_ckpt_claim "bad training label"
idx "$work/badtest" train 3 4
idx "$work/badtest" t10k 1 12
expect 2 "label 12 of example 1" -- train "$model" --data "$work/badtest" --epochs 1 -o "$work/x.onnx"
no_steps "bad test label"
[[ ! -e "$work/x.onnx" ]] || fail "a model was written although the test split is bad"
mkdir -p "$work/notest"
ln -sf "$fmnist"/train-* "$work/notest/"
expect 2 "notest" -- train "$model" --data "$work/notest" --limit 128 --epochs 1 -o "$work/x.onnx"
no_steps "missing test split"
[[ ! -e "$work/x.onnx" ]] || fail "a model was written although there is no test split"
# --no-eval needs no test split
expect 0 "epoch 1/1" -- train "$model" --data "$work/notest" --limit 128 --batch 64 --epochs 1 --no-eval -o "$work/x.onnx"
expect 2 "no_such.onnx" -- train "$work/no_such.onnx" "${small[@]}" -o "$work/y.onnx"

# A run that collapses (loss far above where it began, without exploding)
# stops after the epoch instead of writing a broken model.
expect 2 "training diverged; lower --lr" -- \
  train "$model" --lr 2 --limit 2048 --batch 64 --epochs 1 --no-eval --threads 1 -o "$work/collapsed.onnx"
[[ ! -e "$work/collapsed.onnx" ]] || fail "a collapsed run wrote its model"

# ---- 2. resume: same model, same options, whole-run summary -------------
common=(--epochs 2 --limit 512 --batch 64 --lr 0.01 --seed 3 --no-eval)
"$qfd" train "$model" "${common[@]}" --checkpoint "$work/ck" -o "$work/straight.onnx" >"$work/straight.txt" 2>/dev/null
summary() { sed 's/^[^:]*: //; s/ ([0-9]*s)$//' "$1"; }
want=$(summary "$work/straight.txt")
echo "uninterrupted: $want"
"$qfd" train "$model" "${common[@]}" --resume "$work/ck" -o "$work/again.onnx" >"$work/again.txt" 2>/dev/null
[[ $(summary "$work/again.txt") == "$want" ]] || fail "resuming a finished run reports '$(summary "$work/again.txt")'"
cmp -s "$work/straight.onnx" "$work/again.onnx" || fail "resuming a finished run changed the model"
expect 2 "made from another model" -- \
  train "$root/models/mobilenetv2.onnx" "${common[@]}" --resume "$work/ck" -o "$work/x.onnx"
expect 2 "saved with --epochs=2, this run has --epochs=3" -- \
  train "$model" "${common[@]}" --epochs 3 --resume "$work/ck" -o "$work/x.onnx"
expect 2 "saved with training examples (--data, --limit)=512" -- \
  train "$model" "${common[@]}" --limit 256 --resume "$work/ck" -o "$work/x.onnx"
expect 2 "saved with --lr=0.01, this run has --lr=0.02" -- \
  train "$model" "${common[@]}" --lr 0.02 --resume "$work/ck" -o "$work/x.onnx"
expect 2 "no checkpoint there" -- train "$model" "${common[@]}" --resume "$work/afolder" -o "$work/x.onnx"
# another thread count rounds sums differently: refused too
expect 2 "saved with --threads=$(nproc), this run has --threads=7" -- \
  train "$model" "${common[@]}" --threads 7 --resume "$work/ck" -o "$work/x.onnx"

# ---- 3. SIGINT during the final evaluation --------------------------------
rm -f "$work/evalint.onnx"
"$qfd" train "$model" --limit 64 --batch 64 --epochs 1 -o "$work/evalint.onnx" >/dev/null 2>"$work/evalint.log" &
pid=$!
for _ in $(seq 600); do [[ -e "$work/evalint.onnx" ]] && break; sleep 0.05; done
[[ -e "$work/evalint.onnx" ]] || fail "the model was not written before the final evaluation"
kill -INT $pid
rc=0; wait $pid || rc=$?
[[ $rc == 130 ]] || { cat "$work/evalint.log"; fail "SIGINT during the final evaluation: exit $rc, expected 130"; }
grep -q "during the test-set evaluation" "$work/evalint.log" || { cat "$work/evalint.log"; fail "no message"; }

# ---- 4. SIGKILL at random moments, resumed until done ---------------------
# A checkpoint every step, so that kills land in the middle of saves too.
kc=(--epochs 2 --limit 1024 --batch 64 --lr 0.01 --seed 5 --no-eval --checkpoint-steps 1 --threads 2)
"$qfd" train "$model" "${kc[@]}" -o "$work/kill_ref.onnx" >/dev/null 2>&1
RANDOM=${QFD_TEST_SEED:-17}
rm -rf "$work/kck" "$work/killed.onnx"
kill_until_done "$work/kck" "$work/killed.onnx" "$work/kill.log" "$qfd" train "$model" "${kc[@]}"
cmp -s "$work/kill_ref.onnx" "$work/killed.onnx" || fail "killed $kills times and resumed: the model differs"
echo "SIGKILL: killed $kills times, resumed each time, same model as the uninterrupted run"
# a damaged checkpoint is refused, not trusted
cp "$work/kck/checkpoint.bin" "$work/flipped.bin"
printf '\x7f' | dd of="$work/kck/checkpoint.bin" bs=1 seek=5000 conv=notrunc status=none
expect 2 "checkpoint.bin: checksum mismatch" -- \
  train "$model" "${kc[@]}" --resume "$work/kck" -o "$work/x.onnx"
head -c 100 "$work/flipped.bin" >"$work/kck/checkpoint.bin"
expect 2 "checkpoint.bin: checksum mismatch" -- \
  train "$model" "${kc[@]}" --resume "$work/kck" -o "$work/x.onnx"

# ---- 5. a full disk (file-size limit) -------------------------------------
cp "$work/straight.onnx" "$work/full.onnx"
cp "$work/ck/checkpoint.bin" "$work/ck_before.bin"
rc=0
(ulimit -f 64; exec "$qfd" train "$model" "${small[@]}" -o "$work/full.onnx") 2>"$work/full.log" || rc=$?
[[ $rc == 2 ]] || { cat "$work/full.log"; fail "output past the size limit: exit $rc, expected 2"; }
grep -q "full.onnx: write failed: File too large" "$work/full.log" || { cat "$work/full.log"; fail "no message naming the output"; }
cmp -s "$work/straight.onnx" "$work/full.onnx" || fail "the previous output was damaged"
rc=0
(ulimit -f 64; exec "$qfd" train "$model" "${small[@]}" --checkpoint "$work/ck" -o "$work/full2.onnx") \
  2>"$work/full.log" || rc=$?
[[ $rc == 2 ]] || { cat "$work/full.log"; fail "checkpoint past the size limit: exit $rc, expected 2"; }
grep -q "ck/model.onnx: write failed: File too large\|ck/checkpoint.bin: write failed: File too large" "$work/full.log" \
  || { cat "$work/full.log"; fail "no message naming the checkpoint"; }
cmp -s "$work/ck_before.bin" "$work/ck/checkpoint.bin" || fail "the previous checkpoint was damaged"
echo "full disk: exit 2 naming the file, previous files intact"

echo "train reliability: all checks passed"
