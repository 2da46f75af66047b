#!/usr/bin/env bash
# Speed at ImageNet scale (issue 13): qfd-onnx against ONNX Runtime for
# inference and against PyTorch for a training step, on the torchvision zoo
# of tools/make_zoo.py --imagenet (random weights, 224x224, dynamic batch),
# all measured in the same run. A benchmark, not a test: CI does not run it.
#
#   tools/bench/zoo.sh                       the default models, batch 1 and 8, 1 and 2 threads
#   tools/bench/zoo.sh resnet50 vit_b_16     these models
#   tools/bench/zoo.sh --quick [MODEL]       one model (default resnet18), batch 1 and 8 at 2 threads
#   options: --threads "1 2"  --batches "1 8"  --runs R (timed runs; default: as many as
#            fit in about 3 s of ONNX Runtime, the same number for qfd-onnx)
#            --train-steps S (timed steps after the first; default 3, --quick 2)
#            --no-train  --save FILE (every measurement, one JSON object a line)
#
# For each model, first `tools/zoo_check.sh MODEL` compares qfd-onnx's
# batch-1 logits with PyTorch's logits.npy (max|diff| / max(1, max|ref|)
# <= 1e-4); a model that fails gets no speed. Then:
#   inference: `qfd-onnx run --repeat R --json` and tools/bench/ort_time.js
#     (onnxruntime-node, graph optimizations on) on the same random .npy batch
#     (numpy, made once per batch size); each does one warm-up run first.
#   training (resnet18, mobilenet_v2, vit_b_16): one SGD step (lr 0.01,
#     momentum 0.9, no weight decay, cross-entropy, batch 16, random images
#     and labels, no augmentation) of `qfd-onnx train --json` on an .npz and
#     of tools/bench/zoo_torch.py (PyTorch, train mode), at the largest
#     thread count; both time the steps after the first.
# Columns: images/s of each; ratio = qfd-onnx / peer; GFLOP/s = 2 x the
# multiply-adds per image x images/s, the multiply-adds from PyTorch's
# profiler on one batch-1 forward (conv2d, mm, addmm, bmm, baddbmm: the same
# count as the ONNX graph's Conv/Gemm/MatMul; zoo_torch.py --mode macs), a
# training step counted as 3 forwards (forward, input and weight
# gradients); memory: peak RSS of the whole process (what a user pays) /
# RSS once model and data are loaded, and the engine's own, peak - loaded
# (MB = 2^20 bytes; ONNX Runtime packs its weights when it creates the
# session, inside "loaded", qfd-onnx on its first run, inside the engine's
# share: for inference the peaks compare like with like). Last, the
# geometric mean of each column's ratios over the models. The machine (CPU
# model, AVX-512/VNNI/AMX flags, cores, load average), the build, the peers'
# versions, the date and the commit are printed first.
#
# Environment: QFD_BIN the qfd-onnx binary (default build/src/qfd-onnx): to
# measure the AVX2 path, build it with `cmake -S . -B build-portable
# -DCMAKE_BUILD_TYPE=Release -DQFD_NO_AVX512=ON && cmake --build
# build-portable` and run QFD_BIN=build-portable/src/qfd-onnx
# tools/bench/zoo.sh (the header shows the build's QFD_NO_AVX512 setting).
# QFD_ZOO_CACHE the zoo (default ~/.cache/qfd-onnx/zoo; missing models are
# exported first). Needs Debian's /usr/bin/python3 with python3-torch,
# python3-torchvision, python3-onnx, and tools/ort/node_modules
# (tools/deps.sh installs them). Runs take minutes: nothing else heavy
# should run on the machine meanwhile.
set -uo pipefail
# shellcheck source=tools/bench/lib.sh
source "$(dirname "$0")/lib.sh" # PY, BIN, CACHE, caller; cd to the repository; record, header

threads=(1 2) batches=(1 8) runs=0 train_steps=3 train=1 quick=0 save="" models=()
train_models=" resnet18 mobilenet_v2 vit_b_16 "
train_batch=16
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while (($#)); do
  case "$1" in
    --quick) quick=1; shift ;;
    --threads) read -ra threads <<<"$2"; shift 2 ;;
    --batches) read -ra batches <<<"$2"; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --train-steps) train_steps=$2; shift 2 ;;
    --no-train) train=0; shift ;;
    --save) save=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "zoo.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ -z $save || $save == /* ]] || save=$caller/$save
if ((quick)); then
  ((${#models[@]})) || models=(resnet18)
  models=("${models[0]}") threads=(2) batches=(1 8) train_steps=2
fi
((${#models[@]})) || models=(resnet18 resnet50 mobilenet_v2 efficientnet_b0 regnet_x_400mf convnext_tiny vit_b_16)
for v in "${threads[@]}" "${batches[@]}" "$runs" "$train_steps"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "zoo.sh: '$v' is not a whole number" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
  echo "zoo.sh: $BIN not found (build first, or set QFD_BIN)" >&2
  exit 2
fi
if [[ ! -d tools/ort/node_modules/onnxruntime-node ]]; then
  echo "zoo.sh: tools/ort/node_modules/onnxruntime-node missing (run tools/deps.sh)" >&2
  exit 2
fi
max_t=0
for t in "${threads[@]}"; do ((t > max_t)) && max_t=$t; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results.jsonl
: >"$results"


# the machine, the build and the peers, first, so that a partial log is labelled
ort_v=$(node -p 'require("./tools/ort/node_modules/onnxruntime-node/package.json").version' 2>/dev/null)
header zoo.sh "ONNX Runtime ${ort_v:-?} (onnxruntime-node); PyTorch $(torch_version)"
echo "threads: ${threads[*]}; batches: ${batches[*]}; training: batch $train_batch at $max_t threads," \
  "$train_steps timed steps; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# x_<batch>_<C>x<H>x<W>.npy, made once per batch size and shape
input_for() { # batch model-dir
  local shape f
  shape=$("$PY" -c 'import numpy as np, sys; print("x".join(map(str, np.load(sys.argv[1], mmap_mode="r").shape[1:])))' \
    "$2/input.npy") || return 1
  f=$tmp/x_$1_$shape.npy
  [[ -f $f ]] || "$PY" -c '
import numpy as np, sys
b, shape, out = int(sys.argv[1]), [int(v) for v in sys.argv[2].split("x")], sys.argv[3]
np.save(out, np.random.default_rng(20261127 + b).standard_normal([b] + shape, dtype=np.float32))' "$1" "$shape" "$f" ||
    return 1
  echo "$f"
}

# train_<steps>_<C>x<H>x<W>.npz: (steps + 1) batches of random images and labels
train_data_for() { # model-dir
  local shape f
  shape=$("$PY" -c 'import numpy as np, sys; print("x".join(map(str, np.load(sys.argv[1], mmap_mode="r").shape[1:])))' \
    "$1/input.npy") || return 1
  f=$tmp/train_${train_steps}_$shape.npz
  [[ -f $f ]] || "$PY" -c '
import numpy as np, sys
n, shape, out = int(sys.argv[1]), [int(v) for v in sys.argv[2].split("x")], sys.argv[3]
g = np.random.default_rng(20261127)
np.savez(out, x_train=g.standard_normal([n] + shape, dtype=np.float32), y_train=g.integers(0, 1000, n, dtype=np.int64))' \
    "$((train_batch * (train_steps + 1)))" "$shape" "$f" || return 1
  echo "$f"
}

# the table of one model from its records (all models: the geometric means)
report() { # model | --summary
  "$PY" - "$results" "$@" <<'EOF'
import json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def get(model, case, engine):
    return next((r for r in recs if r["model"] == model and r["case"] == case and r["engine"] == engine), None)
def ips(r):
    return r.get("images_per_second") if r and "error" not in r else None
def engine_mb(r):
    return r["rss_peak_mb"] - r["rss_loaded_mb"] if r and r.get("rss_loaded_mb") else None
cases = []
for r in recs:
    if r["engine"] != "macs" and r["case"] not in cases:
        cases.append(r["case"])
if sys.argv[2] != "--summary":
    model = sys.argv[2]
    macs = (get(model, "macs", "macs") or {}).get("macs_per_image")
    print(f"  {'case':14s} {'qfd img/s':>10s} {'peer img/s':>10s} {'peer':>5s} {'ratio':>7s} {'qfd GF/s':>9s}"
          f" {'peer GF/s':>9s}  {'qfd MB peak/loaded':>18s} {'peer MB peak/loaded':>19s} {'engine MB qfd/peer':>18s}")
    for case in cases:
        q, peer_name = get(model, case, "qfd"), "torch" if case.startswith("train") else "ort"
        p = get(model, case, peer_name)
        if not q and not p:
            continue
        fwd = 3 if case.startswith("train") else 1  # a training step: forward + two backward products
        def col(r, fmt):
            v = ips(r)
            return fmt % v if v else "error"
        def gf(r):
            v = ips(r)
            return "%9.1f" % (2 * fwd * macs * v / 1e9) if v and macs else "%9s" % "-"
        def mem(r):
            return "%.0f/%.0f" % (r["rss_peak_mb"], r["rss_loaded_mb"]) if ips(r) and r.get("rss_loaded_mb") else "-"
        ratio = "%6.2fx" % (ips(q) / ips(p)) if ips(q) and ips(p) else "%7s" % "-"
        eq, ep = engine_mb(q) if ips(q) else None, engine_mb(p) if ips(p) else None
        eng = "%.0f/%.0f" % (eq, ep) if eq is not None and ep is not None else "-"
        print(f"  {case:14s} {col(q, '%10.2f'):>10s} {col(p, '%10.2f'):>10s} {peer_name:>5s} {ratio} {gf(q)}"
              f" {gf(p)}  {mem(q):>18s} {mem(p):>19s} {eng:>18s}")
        for r, who in ((q, "qfd-onnx"), (p, peer_name)):
            if r and "error" in r:
                print(f"  {'':14s} {who} failed: {r['error']}")
    sys.exit()
print("geometric mean over the models of qfd-onnx / peer (speed: above 1 is faster; engine memory: below 1 is less)")
if not any(r["engine"] == "qfd" and ips(r) for r in recs):
    print("  (no model measured)")
for case in cases:
    speed, mem = [], []
    for model in sorted({r["model"] for r in recs}):
        q, p = get(model, case, "qfd"), get(model, case, "torch" if case.startswith("train") else "ort")
        if ips(q) and ips(p):
            speed.append(ips(q) / ips(p))
            eq, ep = engine_mb(q), engine_mb(p)
            if eq is not None and ep:
                mem.append(max(eq, 0.1) / max(ep, 0.1))
    if speed:
        g = math.exp(sum(map(math.log, speed)) / len(speed))
        gm = "%.2fx" % math.exp(sum(map(math.log, mem)) / len(mem)) if mem else "-"
        print(f"  {case:14s} speed {g:5.2f}x  (min {min(speed):.2f}x, {len(speed)} models)   engine memory {gm}")
EOF
}

failed=()
for m in "${models[@]}"; do
  dir=$CACHE/$m
  check=$(QFD_BIN=$BIN QFD_THREADS=$max_t tools/zoo_check.sh "$m" 2>&1)
  line=$(awk -v m="$m" '$1 == m' <<<"$check")
  read -r _ _ rel _ result _ <<<"$line"
  if [[ ${result:-} != pass ]]; then
    echo "$m: FAIL: qfd-onnx's logits do not match PyTorch's (rel diff ${rel:-?} > 1e-4, or it did not run): no speed reported"
    grep -v '^model ' <<<"$check" | sed 's/^/  /'
    echo
    failed+=("$m")
    continue
  fi
  macs=$("$PY" tools/bench/zoo_torch.py "$m" --mode macs 2>/dev/null)
  record "$m" macs macs "$macs" /dev/null
  mac_g=$("$PY" -c 'import json, sys; print("%.3f" % (json.loads(sys.argv[1])["macs_per_image"] / 1e9))' "$macs" 2>/dev/null)
  echo "$m: logits match PyTorch's (rel diff $rel <= 1e-4); ${mac_g:-?} G multiply-adds per image"
  for b in "${batches[@]}"; do
    x=$(input_for "$b" "$dir") || { echo "  cannot make the batch-$b input" >&2; continue; }
    for t in "${threads[@]}"; do
      case="infer b$b t$t"
      ort_runs=()
      ((runs)) && ort_runs=(--runs "$runs")
      o=$(node tools/bench/ort_time.js "$dir/model.onnx" --input "$x" --threads "$t" "${ort_runs[@]}" 2>"$tmp/err")
      record "$m" "$case" ort "$o" "$tmp/err"
      n=$runs
      ((n)) || n=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["runs"])' "$o" 2>/dev/null || echo 3)
      mkdir -p "$tmp/out"
      q=$("$BIN" run "$dir/model.onnx" --input "$x" -o "$tmp/out" --threads "$t" --repeat "$n" --json 2>"$tmp/err")
      record "$m" "$case" qfd "$q" "$tmp/err"
    done
  done
  if ((train)) && [[ $train_models == *" $m "* ]]; then
    case="train b$train_batch t$max_t"
    if npz=$(train_data_for "$dir"); then
      q=$("$BIN" train "$dir/model.onnx" --data "$npz" --batch "$train_batch" --epochs 1 --no-eval --no-augment \
        --lr 0.01 --momentum 0.9 --wd 0 --schedule constant --threads "$max_t" -o "$tmp/trained.onnx" --json \
        2>"$tmp/err")
      record "$m" "$case" qfd "$q" "$tmp/err"
      rm -f "$tmp/trained.onnx"
      o=$("$PY" tools/bench/zoo_torch.py "$m" --mode train --batch "$train_batch" --threads "$max_t" \
        --steps "$train_steps" 2>"$tmp/err")
      record "$m" "$case" torch "$o" "$tmp/err"
    fi
  fi
  report "$m"
  echo
done
report --summary
((${#failed[@]})) && echo "no speed for (logits do not match PyTorch's): ${failed[*]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; above that, other jobs shared the CPU)"
[[ -n $save ]] && cp "$results" "$save"
((${#failed[@]} == 0))
