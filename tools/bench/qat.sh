#!/usr/bin/env bash
# QAT speed and memory (issue 14): the student step of `qfd-onnx quantize`
# (forward, backward, optimizer; qfd adds its frozen teacher's forward)
# against the same recipe in PyTorch (tools/bench/qat_torch.py), for lsq and
# qfd at W4A4 and W8A8, in the same run, same threads, same batch. A
# benchmark, not a test: CI does not run it.
#
#   tools/bench/qat.sh                    resnet20, mobilenetv2 (batch 128), resnet18 at 224 (batch 16)
#   tools/bench/qat.sh mobilenetv2        these models
#   tools/bench/qat.sh --quick            resnet20, W4A4, lsq and qfd
#   options: --threads T (default 2)  --steps S (timed steps after the first; default 4)
#            --bits "4 8"  --methods "lsq qfd"  --parity-steps K (default 3)  --no-parity
#            --save FILE (every measurement, one JSON object a line)
#
# Data: one .npz per model with the N = batch * (S + 1) training images of
# the timed run and a few test images: the first Fashion-MNIST images for
# the bundled models (uint8; both tools normalize them with the models'
# mean and std), random float32 images and labels for resnet18 (the zoo's
# random-weight torchvision model, tools/make_zoo.py --imagenet). Every
# quantize run: --calib-images = the batch, --no-augment, --teacher-epochs 0
# for qfd (its teacher: the FP32 model with a calibrated 4-bit feature
# quantizer; stage 1 only fine-tunes its weights, the student step does not
# change), other options at quantize's defaults.
#
# Parity first (no speed is reported for a case that fails it), from one
# start: `quantize --method ptq --save-student` (the calibrated student) is
# what qat_torch.py --init loads, checking that its placement and every
# range are qat_torch.py's; each qfd-onnx run below calibrates the same
# way from the same images, so it starts there too (for qfd, its
# --save-teacher file is qat_torch.py's teacher).
#   checked: (1) the loss of the first step (the calibrated student's
#     forward on the first batch: cross-entropy, and for qfd the MSE to the
#     teacher's quantized feature), quantize --epochs 1's report against
#     qat_torch.py: |diff| <= 1e-4; (2) the first update, against quantize
#     --save-student after that one step: the last layer's weights, bias
#     and input step (their gradient passes through no Relu) off by at most
#     5e-3 of their change; every layer before it (weights and biases, each
#     layer apart), all trained weight steps and all activation steps: the
#     cosine between the two updates >= 0.98 and the ratio of their norms
#     within 0.9-1.1. This catches a missing BatchNorm preconditioner (norm
#     ratios 0.27-3.2 on resnet20), plain momentum for Nesterov (0.5),
#     twice the step-gradient scale (1.93), no weight decay (the last layer
#     off by 1.1e-2), not a difference of a few percent.
#   Each tolerance grows to twice what PyTorch gives against itself when
#     each layer's bias is added after its product instead of inside it
#     (the "floor", printed): fake-quant layers compute sums on an integer
#     grid, so exact zeros are common (whole background regions of
#     Fashion-MNIST) and Relu's gradient there is decided by float
#     rounding, and an activation or weight that float rounding puts on the
#     other side of a rounding boundary moves everything after it by a
#     step. On resnet18 at 224 (random weights and images, tensors of
#     millions of elements) the forward alone moves by 1e-3 that way.
#   not checked, shown: the loss at step K (quantize --epochs K against the
#     K-th step here, the cosine schedule over K steps in both): one 4-bit
#     weight that lands on the other side of a rounding boundary moves the
#     loss by 1e-3, so two correct implementations drift apart by more than
#     1e-4 from the second step on (PyTorch against itself too).
# Timing: `quantize --method M --limit N --epochs 1 --report R` (S + 1
# steps): the report's steady-state images/s (from the end of the first
# step, which plans and packs, to the end of the last), rss_loaded_mb (once
# models and data are loaded, calibration images included) and rss_peak_mb
# (the process's peak when training ended: calibration counts too); and
# qat_torch.py (one warm-up step, then S timed steps on one batch; RSS after
# the models, data and optimizer exist, and the process's peak). FP32:
# `qfd-onnx train --json` on the same data and batch (BatchNorm in training
# mode, as a user fine-tunes the FP32 model).
# Columns: images/s of each, ratio = qfd-onnx / PyTorch; memory: peak RSS /
# RSS once loaded (MB = 2^20 bytes) and the engine's own, peak - loaded, of
# each, and their ratio; QAT/FP32 = qfd-onnx's QAT step time over its own
# FP32 training step; qfd/lsq = qfd-onnx's qfd step time over its lsq step
# (PyTorch's in brackets). Last, the geometric means over the models, and
# the issue's targets. The machine, the build, PyTorch's version, the date
# and the commit are printed first.
#
# Environment: QFD_BIN the qfd-onnx binary (default build/src/qfd-onnx);
# QFD_ZOO_CACHE the zoo (default ~/.cache/qfd-onnx/zoo; resnet18 is
# exported first when missing). Needs Debian's /usr/bin/python3 with
# python3-torch, python3-torchvision and python3-onnx, and
# dataset-fashion-mnist. Runs take minutes: nothing else heavy should run on
# the machine meanwhile.
set -uo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh" # PY, BIN, CACHE, caller; cd to the repository; record, header

threads=2 steps=4 bits=(4 8) methods=(lsq qfd) parity_steps=3 parity=1 save="" models=()
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while (($#)); do
  case "$1" in
    --quick) models=(resnet20) bits=(4); shift ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --bits) read -ra bits <<<"$2"; shift 2 ;;
    --methods) read -ra methods <<<"$2"; shift 2 ;;
    --parity-steps) parity_steps=$2; shift 2 ;;
    --no-parity) parity=0; shift ;;
    --save) save=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "qat.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ -z $save || $save == /* ]] || save=$caller/$save
((${#models[@]})) || models=(resnet20 mobilenetv2 resnet18)
for v in "$threads" "$steps" "$parity_steps"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "qat.sh: '$v' is not a whole number >= 1" >&2; exit 2; }
done
for b in "${bits[@]}"; do [[ $b == 4 || $b == 8 ]] || { echo "qat.sh: --bits takes 4 and 8" >&2; exit 2; }; done
for m in "${methods[@]}"; do [[ $m == lsq || $m == qfd ]] || { echo "qat.sh: --methods takes lsq and qfd" >&2; exit 2; }; done
for m in "${models[@]}"; do
  [[ $m == resnet20 || $m == mobilenetv2 || $m == resnet18 ]] || { echo "qat.sh: unknown model $m" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
  echo "qat.sh: $BIN not found (build first, or set QFD_BIN)" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results.jsonl
: >"$results"


# quantize's report -> one JSON line: the training object (step speed, memory, loss)
report_json() { # report.json
  "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps(r["training"]))' "$1" 2>/dev/null
}

# the machine, the build and the peer first, so that a partial log is labelled
header qat.sh "PyTorch $(torch_version) (qat_torch.py)"
echo "threads: $threads; timed steps: $steps after the first; bits: ${bits[*]}; methods: ${methods[*]};" \
  "parity: $( ((parity)) && echo "step 1 checked, step $parity_steps shown" || echo off);" \
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# the .npz of a model: N training images (and labels) and a few test images
make_data() { # model n out.npz
  "$PY" - "$@" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, "tools")
model, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if model == "resnet18":
    g = np.random.default_rng(20261207)
    np.savez(out, x_train=g.standard_normal((n, 3, 224, 224), dtype=np.float32), y_train=g.integers(0, 1000, n),
             x_test=g.standard_normal((16, 3, 224, 224), dtype=np.float32), y_test=g.integers(0, 1000, 16))
else:
    import make_models
    x, y = make_models.load_split("train")
    xt, yt = make_models.load_split("test")
    np.savez(out, x_train=x[:n], y_train=y[:n], x_test=xt[:64], y_test=yt[:64])
EOF
}

# verdict and table of one model, or (--summary) the geometric means
report() { # model | --summary
  "$PY" - "$results" "$1" "$parity" <<'EOF'
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
which, parity_on = sys.argv[2], sys.argv[3] == "1"
TARGET = {"speed": 1.5, "memory": 0.6, "qat_fp32": 1.3, "qfd_lsq": 1.25}

def get(model, case, engine):
    return next((r for r in recs if r["model"] == model and r["case"] == case and r["engine"] == engine), None)

def ips(r, key="images_per_second"):
    return r.get(key) if r and "error" not in r else None

def engine_mb(r):
    return r["rss_peak_mb"] - r["rss_loaded_mb"] if r and r.get("rss_loaded_mb") else None

def parity_ok(model, case):
    p = get(model, case, "parity")
    return (not parity_on) or (p is not None and p.get("pass"))

def cases_of(model):
    out = []
    for r in recs:
        if r["model"] == model and r["engine"] == "qfd" and r["case"] != "fp32" and r["case"] not in out:
            out.append(r["case"])
    return out

def gm(v):
    return math.exp(sum(map(math.log, v)) / len(v)) if v else None

def row(model, case):
    """the figures of one case: None where not measured"""
    q, t = get(model, case, "qfd"), get(model, case, "torch")
    ok = parity_ok(model, case)
    qi = ips(q, "steady_images_per_second") if ok else None
    ti = ips(t) if ok else None
    fp = ips(get(model, "fp32", "qfd"))
    method, bits = case.split()
    lsq_case = "lsq " + bits
    lq = ips(get(model, lsq_case, "qfd"), "steady_images_per_second") if parity_ok(model, lsq_case) else None
    lt = ips(get(model, lsq_case, "torch")) if parity_ok(model, lsq_case) else None
    eq, et = (engine_mb(q), engine_mb(t)) if qi and ti else (None, None)
    return {"q": q, "t": t, "qi": qi, "ti": ti,
            "speed": qi / ti if qi and ti else None,
            "memory": max(eq, 0.1) / max(et, 0.1) if eq is not None and et else None, "eq": eq, "et": et,
            "qat_fp32": fp / qi if qi and fp else None,
            "qfd_lsq": lq / qi if method == "qfd" and qi and lq else None,
            "qfd_lsq_torch": lt / ti if method == "qfd" and ti and lt else None}

if which != "--summary":
    model = which
    fp = get(model, "fp32", "qfd")
    if fp:
        if ips(fp):
            print(f"  FP32 training step (qfd-onnx train --json): {ips(fp):.2f} img/s, "
                  f"peak/loaded {fp['rss_peak_mb']:.0f}/{fp['rss_loaded_mb']:.0f} MB")
        else:
            print(f"  FP32 training step failed: {fp.get('error')}")
    for case in cases_of(model):
        p = get(model, case, "parity")
        if not p:
            continue
        if "error" in p:
            print(f"  parity {case}: FAIL: {p['error']}")
            continue
        lq, lt, fu = p["qfd_losses"], p["torch_losses"], p.get("first_update") or {}
        g, t = p["figures"], p["tolerances"]
        print(f"  parity {case}: {'pass' if p['pass'] else 'FAIL (no speed reported)'}: step-1 loss qfd-onnx "
              f"{lq[0]:.8f} torch {lt[0]:.8f} (|diff| {g[0]:.1e}, tolerance {t[0]:.0e}); first update: last layer "
              f"off by {g[1]:.1e} of its change (tolerance {t[1]:.0e}), before it cosine >= "
              f"{fu.get('cosine_min', float('nan')):.4f} (>= {1 - t[2]:.4f}), norm ratios "
              f"{fu.get('norm_ratio_min', float('nan')):.3f}-{fu.get('norm_ratio_max', float('nan')):.3f} "
              f"(within {math.exp(-t[3]):.3f}-{math.exp(t[3]):.3f})")
        k = len(lt)
        if k > 1 and len(lq) > 1:
            ba = p["torch_losses_bias_after"]
            print(f"  {'':{len(case) + 8}s}  step-{k} loss (not checked): qfd-onnx {lq[-1]:.6f} torch {lt[-1]:.6f} "
                  f"(|diff| {abs(lq[-1] - lt[-1]):.1e}); torch, bias after: {ba[-1]:.6f} "
                  f"(|diff| {abs(ba[-1] - lt[-1]):.1e} from torch)")
    print(f"  {'case':10s} {'qfd img/s':>10s} {'torch img/s':>11s} {'ratio':>7s}  {'qfd MB pk/ld':>13s}"
          f" {'torch MB pk/ld':>15s} {'engine MB q/t':>14s} {'ratio':>6s} {'QAT/FP32':>9s} {'qfd/lsq (torch)':>16s}")
    for case in cases_of(model):
        r = row(model, case)
        f = lambda v, fmt: fmt % v if v is not None else "-"
        mem = lambda x: "%.0f/%.0f" % (x["rss_peak_mb"], x["rss_loaded_mb"]) if x and x.get("rss_loaded_mb") else "-"
        eng = "%.0f/%.0f" % (r["eq"], r["et"]) if r["eq"] is not None and r["et"] is not None else "-"
        ql = (f(r["qfd_lsq"], "%.2fx") + " (" + f(r["qfd_lsq_torch"], "%.2fx") + ")") if case.startswith("qfd") else ""
        print(f"  {case:10s} {f(r['qi'], '%10.2f'):>10s} {f(r['ti'], '%11.2f'):>11s} {f(r['speed'], '%6.2fx'):>7s}"
              f"  {mem(r['q']) if r['qi'] else '-':>13s} {mem(r['t']) if r['ti'] else '-':>15s} {eng:>14s}"
              f" {f(r['memory'], '%5.2fx'):>6s} {f(r['qat_fp32'], '%8.2fx'):>9s} {ql:>16s}")
        for x, who in ((r["q"], "qfd-onnx"), (r["t"], "torch")):
            if x and "error" in x:
                print(f"  {'':10s} {who} failed: {x['error']}")
    sys.exit()

print("geometric mean over the models (targets, issue 14: speed >= 1.5x PyTorch, engine memory <= 0.6x,"
      " QAT/FP32 <= 1.3x, qfd/lsq <= 1.25x)")
models = sorted({r["model"] for r in recs})
cases = []
for m in models:
    cases += [c for c in cases_of(m) if c not in cases]
if not cases:
    print("  (nothing measured)")
for case in cases:
    cols = {k: [] for k in TARGET}
    for m in models:
        r = row(m, case)
        for k in TARGET:
            if r[k] is not None:
                cols[k].append(r[k])
    def show(k, fmt="%.2fx"):
        g = gm(cols[k])
        if g is None:
            return "-"
        ok = g >= TARGET[k] if k == "speed" else g <= TARGET[k]
        return (fmt % g) + f" (min {min(cols[k]):.2f}x, max {max(cols[k]):.2f}x, {len(cols[k])} models)" \
            + ("" if ok else " *")
    line = f"  {case:10s} speed {show('speed')}   engine memory {show('memory')}   QAT/FP32 {show('qat_fp32')}"
    if case.startswith("qfd"):
        line += f"   qfd/lsq {show('qfd_lsq')}"
    print(line)
print("  (* : the target is not met)")
EOF
}

failed=()
for m in "${models[@]}"; do
  if [[ $m == resnet18 ]]; then
    batch=16 file=$CACHE/resnet18/model.onnx n_test=16
    if [[ ! -f $file ]]; then
      echo "$m: exporting the zoo's resnet18 first (tools/make_zoo.py --imagenet --only resnet18)"
      "$PY" tools/make_zoo.py --imagenet --only resnet18 >/dev/null || { echo "$m: export failed" >&2; failed+=("$m"); continue; }
    fi
  else
    batch=128 file=models/$m.onnx n_test=64
  fi
  n=$((batch * (steps + 1)))
  npz=$tmp/$m.npz
  make_data "$m" "$n" "$npz" || { echo "$m: cannot make the data" >&2; failed+=("$m"); continue; }
  echo "$m: batch $batch, $n training images ($( [[ $m == resnet18 ]] && echo "random, 224x224" || echo "Fashion-MNIST"))"
  common=(--data "$npz" --batch "$batch" --no-augment --calib-images "$batch" --eval-limit "$n_test" --threads "$threads")

  # FP32: qfd-onnx's own training step on the same data and batch
  o=$("$BIN" train "$file" --data "$npz" --batch "$batch" --epochs 1 --limit "$n" --no-eval --no-augment \
    --threads "$threads" -o "$tmp/fp32.onnx" --json 2>"$tmp/err")
  record "$m" fp32 qfd "$o" "$tmp/err"

  for b in "${bits[@]}"; do
    w=("--w${b}a${b}")
    start=""
    if ((parity)); then
      if "$BIN" quantize "$file" "${w[@]}" --method ptq "${common[@]}" --limit "$batch" --save-student "$tmp/start.onnx" \
        -o "$tmp/ptq.onnx" >/dev/null 2>"$tmp/err"; then
        start=$tmp/start.onnx
      else
        echo "  W${b}A${b}: quantize --method ptq failed: $(tail -1 "$tmp/err")"
      fi
    fi
    for meth in "${methods[@]}"; do
      case="$meth W${b}A${b}"
      mflags=(--method "$meth")
      [[ $meth == qfd ]] && mflags+=(--teacher-epochs 0)
      teacher=()
      if ((parity)) && [[ -n $start ]]; then
        tsave=()
        [[ $meth == qfd ]] && tsave=(--save-teacher "$tmp/teacher.onnx") teacher=(--teacher "$tmp/teacher.onnx")
        rm -f "$tmp/r1.json" "$tmp/rk.json"
        "$BIN" quantize "$file" "${w[@]}" "${mflags[@]}" "${common[@]}" --limit "$batch" --epochs 1 "${tsave[@]}" \
          --save-student "$tmp/s1.onnx" --report "$tmp/r1.json" -o "$tmp/q1.onnx" >/dev/null 2>"$tmp/err1"
        if ((parity_steps > 1)); then
          "$BIN" quantize "$file" "${w[@]}" "${mflags[@]}" "${common[@]}" --limit "$batch" --epochs "$parity_steps" \
            --report "$tmp/rk.json" -o "$tmp/qk.onnx" >/dev/null 2>"$tmp/errk"
        fi
        t=$("$PY" tools/bench/qat_torch.py "$m" --method "$meth" --bits "$b" --data "$npz" --batch "$batch" \
          --threads "$threads" --init "$start" "${teacher[@]}" --parity "$parity_steps" --expect "$tmp/s1.onnx" \
          2>"$tmp/errt")
        "$PY" - "$m" "$case" "$tmp/r1.json" "$tmp/rk.json" "$t" "$tmp/err1" "$tmp/errt" >>"$results" <<'EOF'
import json, math, os, sys
model, case, r1, rk, t, err1, errt = sys.argv[1:8]
rec = {"model": model, "case": case, "engine": "parity"}
def last(path):
    lines = open(path, errors="replace").read().strip().splitlines()
    return lines[-1] if lines else "no output"
try:
    q1 = json.load(open(r1))["training"]["loss"]
except (OSError, ValueError, KeyError):
    rec["error"] = "qfd-onnx: " + last(err1)
try:
    tt = json.loads(t.strip().splitlines()[-1])
except (ValueError, IndexError):
    rec.setdefault("error", "qat_torch.py: " + last(errt))
if "error" not in rec:
    qk = [q1]
    if os.path.exists(rk):
        qk.append(json.load(open(rk))["training"]["loss"])
    # each figure within its tolerance: a fixed one, or twice what PyTorch
    # gives against itself with each bias added after the product ("floor")
    fu, fl = tt.get("first_update", {}), tt.get("first_update_bias_after", {})
    def spread(f):  # how far a comparison is from agreement: loss, last layer, 1 - cosine, |log norm ratio|
        return (f.get("last_layer_rel", math.inf), 1 - f.get("cosine_min", -1),
                max(abs(math.log(max(f.get(k, 0), 1e-30))) for k in ("norm_ratio_min", "norm_ratio_max")))
    got = (abs(q1 - tt["losses"][0]),) + spread(fu)
    floor = (abs(tt["losses_bias_after"][0] - tt["losses"][0]),) + spread(fl)
    fixed = (1e-4, 5e-3, 0.02, math.log(1.1))
    tol = tuple(max(f, 2 * x) for f, x in zip(fixed, floor))
    rec.update({"pass": all(g <= t for g, t in zip(got, tol)), "figures": got, "tolerances": tol, "floor": floor,
                "qfd_losses": qk, "torch_losses": tt["losses"], "torch_losses_bias_after": tt["losses_bias_after"],
                "first_update": fu, "first_update_bias_after": fl})
print(json.dumps(rec))
EOF
      fi
      # timing: S + 1 steps of each
      rm -f "$tmp/rt.json"
      "$BIN" quantize "$file" "${w[@]}" "${mflags[@]}" "${common[@]}" --limit "$n" --epochs 1 \
        --report "$tmp/rt.json" -o "$tmp/qt.onnx" >/dev/null 2>"$tmp/err"
      record "$m" "$case" qfd "$(report_json "$tmp/rt.json")" "$tmp/err"
      init=()
      [[ -n $start ]] && init=(--init "$start")
      o=$("$PY" tools/bench/qat_torch.py "$m" --method "$meth" --bits "$b" --data "$npz" --batch "$batch" \
        --threads "$threads" --steps "$steps" "${init[@]}" "${teacher[@]}" 2>"$tmp/err")
      record "$m" "$case" torch "$o" "$tmp/err"
    done
  done
  report "$m"
  echo
done
report --summary
((${#failed[@]})) && echo "not measured: ${failed[*]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; above that, other jobs shared the CPU)"
[[ -n $save ]] && cp "$results" "$save"
"$PY" -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(1 if any(r["engine"] == "parity" and not r.get("pass") for r in recs) else 0)' "$results" && ((${#failed[@]} == 0))
