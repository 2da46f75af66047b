#!/usr/bin/env bash
# quantize --method qfd (the default) end to end on the bundled ResNet-20,
# short runs (W4A4, 384 images, 2 student epochs of 6 steps):
#  1. a run with --save-teacher and --report: the report holds the teacher's
#     accuracy, stage 1, each loss term and the stage timings; a second run
#     given the saved teacher skips stage 1 and writes the same file byte
#     for byte;
#  2. SIGINT in the student's stage: --resume does not run stage 1 again
#     (it reads the teacher saved with the checkpoint) and writes the
#     uninterrupted run's file;
#  3. SIGINT in stage 1: --resume writes that file too;
#  4. SIGKILL at random moments of both stages, resumed until done: the
#     same file again;
#  5. --no-labels on a dataset without labels (Fashion-MNIST's image files
#     alone): kd, and qfd with --teacher-epochs 0, train and write a file;
#     qfd's stage 1 refuses.
# usage: quantize_qfd.sh QFD_ONNX NODE REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 work=$4
model=$root/models/resnet20.onnx
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
source "$(dirname "$0")/kill_resume.sh"
c=(--w4a4 --limit 384 --epochs 2 --batch 64 --calib-images 128 --eval-limit 100 --threads 2)

# 1. the uninterrupted run, its report, and the saved teacher
"$qfd" quantize "$model" "${c[@]}" --save-teacher "$work/teacher.onnx" --report "$work/r.json" \
  -o "$work/straight.onnx" >"$work/straight.out" 2>"$work/straight.log" \
  || { cat "$work/straight.log"; fail "uninterrupted run"; }
grep -q "^teacher epoch 1/1" "$work/straight.log" || fail "no stage 1 progress"
grep -q "^epoch 2/2 .* loss [0-9.]* (ce [0-9.]* mse [0-9.]*)" "$work/straight.log" || fail "progress without loss terms"
grep -q "^  teacher " "$work/straight.out" || fail "no teacher accuracy in the summary"
"$node" - "$work/r.json" <<'JS' || fail "report"
const r = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const bad = [];
const check = (ok, what) => { if (!ok) bad.push(what); };
const unit = (v) => typeof v === "number" && v >= 0 && v <= 1;
check(r.method === "qfd", `method ${r.method}`);
check(unit(r.accuracy.teacher), `accuracy.teacher ${r.accuracy.teacher}`);
const d = r.distillation || {}, t = d.teacher || {};
check(d.lambda === 1 && d.labels === true, `distillation ${JSON.stringify(d)}`);
check(t.bits === 4 && t.signed === false && t.step > 0 && t.accuracy === r.accuracy.teacher, `teacher ${JSON.stringify(t)}`);
check(t.stage1 && t.stage1.epochs === 1 && t.stage1.loss > 0 && unit(t.stage1.accuracy), `stage1 ${JSON.stringify(t.stage1)}`);
const terms = (r.training.loss_terms || []).map((x) => x.name).join(",");
check(terms === "ce,mse", `loss terms ${terms}`);
for (const x of r.training.loss_terms || []) check(x.weight === 1 && x.value > 0, `term ${JSON.stringify(x)}`);
check(r.seconds.teacher > 0 && r.seconds.train > 0, `seconds ${JSON.stringify(r.seconds)}`);
if (bad.length) { console.log(bad.join("\n")); process.exit(1); }
JS
"$qfd" quantize "$model" "${c[@]}" --teacher "$work/teacher.onnx" -o "$work/given.onnx" >/dev/null \
  2>"$work/given.log" || { cat "$work/given.log"; fail "run with the saved teacher"; }
grep -q "a trained teacher .*stage 1 skipped" "$work/given.log" || fail "the saved teacher was not recognised"
! grep -q "^teacher epoch" "$work/given.log" || fail "stage 1 ran with a saved teacher"
cmp -s "$work/straight.onnx" "$work/given.onnx" || fail "the saved teacher gives another file"
echo "saved teacher: stage 1 skipped, identical file"

# 2. SIGINT in the student's stage (its first epoch, after stage 1)
interrupt() { # interrupt DIR LOG PATTERN: runs with --checkpoint DIR, SIGINT once PATTERN is in LOG
  "$qfd" quantize "$model" "${c[@]}" --checkpoint "$1" -o "$work/cut.onnx" >/dev/null 2>"$2" &
  local pid=$! rc=0
  while kill -0 $pid 2>/dev/null && ! grep -q "$3" "$2"; do sleep 0.05; done
  kill -INT $pid 2>/dev/null || true
  wait $pid || rc=$?
  [[ $rc == 130 && -f "$1/checkpoint.bin" && ! -e "$work/cut.onnx" ]] \
    || { cat "$2"; fail "SIGINT: exit $rc, expected 130 with a checkpoint and no output"; }
}
interrupt "$work/ck2" "$work/int2.log" "^epoch 1/2"
[[ -f "$work/ck2/teacher.onnx" ]] || fail "no teacher saved with the checkpoint"
"$qfd" quantize "$model" "${c[@]}" --resume "$work/ck2" -o "$work/resumed2.onnx" >/dev/null 2>"$work/resume2.log" \
  || { cat "$work/resume2.log"; fail "resume in the student's stage"; }
! grep -q "^teacher epoch" "$work/resume2.log" || fail "the resume ran stage 1 again"
grep -q "trained in stage 1 of the run resumed" "$work/resume2.log" || fail "the resume did not take the saved teacher"
cmp -s "$work/straight.onnx" "$work/resumed2.onnx" || fail "SIGINT in stage 2 + resume: the file differs"
echo "SIGINT in the student's stage + resume: stage 1 not rerun, identical file"

# 3. SIGINT in stage 1
interrupt "$work/ck1" "$work/int1.log" "^teacher epoch 1/1"
"$qfd" quantize "$model" "${c[@]}" --resume "$work/ck1" -o "$work/resumed1.onnx" >/dev/null 2>"$work/resume1.log" \
  || { cat "$work/resume1.log"; fail "resume in stage 1"; }
cmp -s "$work/straight.onnx" "$work/resumed1.onnx" || fail "SIGINT in stage 1 + resume: the file differs"
echo "SIGINT in stage 1 + resume: identical file"

# 4. SIGKILL anywhere in either stage (a checkpoint every step)
RANDOM=${QFD_TEST_SEED:-11}
KILL_PATTERN="epoch" kill_until_done "$work/kck" "$work/killed.onnx" "$work/kill.log" "$qfd" quantize "$model" \
  "${c[@]}" --checkpoint-steps 1
cmp -s "$work/straight.onnx" "$work/killed.onnx" || fail "killed $kills times and resumed: the file differs"
echo "SIGKILL: killed $kills times in both stages, resumed each time, same file as the uninterrupted run"

# 5. no labels: the image files of Fashion-MNIST without their label files
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work/images"
ln -s "$fm/train-images-idx3-ubyte.gz" "$fm/t10k-images-idx3-ubyte.gz" "$work/images/"
for m in "kd" "qfd --teacher-epochs 0"; do
  # shellcheck disable=SC2086
  "$qfd" quantize "$model" "${c[@]}" --data "$work/images" --no-labels --method $m -o "$work/nolabels.onnx" \
    >"$work/nolabels.out" 2>"$work/nolabels.log" || { cat "$work/nolabels.log"; fail "--no-labels --method $m"; }
  grep -q "no labels: agreement only" "$work/nolabels.out" && grep -q "agrees with the student on" "$work/nolabels.out" \
    || { cat "$work/nolabels.out"; fail "--no-labels --method $m: summary"; }
  rm "$work/nolabels.onnx"
done
rc=0
"$qfd" quantize "$model" "${c[@]}" --data "$work/images" --no-labels -o "$work/x.onnx" 2>"$work/err.log" >/dev/null || rc=$?
[[ $rc == 2 ]] && grep -q "^qfd-onnx: error: --no-labels: qfd's stage 1 trains the teacher with labels" "$work/err.log" \
  || { cat "$work/err.log"; fail "--no-labels with stage 1: exit $rc"; }
echo "--no-labels on images without labels: kd and qfd (no stage 1) run; stage 1 refuses"
echo "quantize --method qfd: all checks passed"
