#!/usr/bin/env bash
# A quick qfd-onnx quantize end to end (seconds): ptq at W8A8 on the bundled
# ResNet-20, then the report's fields: accuracies present and in [0, 1],
# the written file agreeing with the fake-quant student on every image
# (both run by qfd-onnx's executor), every layer with its bits, quantizers
# with positive steps; and qfd-onnx eval of the written file gives the
# report's exported accuracy.
# usage: quantize_ptq_smoke.sh QFD_ONNX NODE REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 node=$2 root=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$qfd" quantize "$root/models/resnet20.onnx" --w8a8 --method ptq --calib-images 128 --eval-limit 200 \
  --report "$work/r.json" -o "$work/q.onnx" >"$work/out.txt" 2>"$work/err.txt" \
  || { cat "$work/out.txt" "$work/err.txt"; fail "quantize exited $?"; }
cat "$work/out.txt"
[[ -s "$work/q.onnx" ]] || fail "no model written"
grep -q "^\[4/4\] evaluating" "$work/err.txt" || fail "no stage lines on stderr"

exported=$("$node" - "$work/r.json" <<'JS'
const r = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const bad = [];
const check = (ok, what) => { if (!ok) bad.push(what); };
const unit = (v) => typeof v === "number" && v >= 0 && v <= 1;
check(r.method === "ptq" && r.format === "ort", `method ${r.method}, format ${r.format}`);
check(r.bits && r.bits.weights === 8 && r.bits.activations === 8, `bits ${JSON.stringify(r.bits)}`);
const a = r.accuracy || {};
check(a.test_images === 200, `accuracy.test_images ${a.test_images}`);
for (const k of ["fp32", "student", "exported"]) check(unit(a[k]), `accuracy.${k} = ${a[k]}`);
check(a.fp32 > 0.8 && Math.abs(a.student - a.fp32) <= 0.02, `W8A8 ptq lost accuracy: ${a.fp32} -> ${a.student}`);
check(r.agreement === 1, `agreement ${r.agreement}, expected 1 (both qfd-onnx's executor)`);
check(typeof r.max_logit_diff === "number" && r.max_logit_diff < 1e-3, `max_logit_diff ${r.max_logit_diff}`);
check(Array.isArray(r.layers) && r.layers.length === 22, `${(r.layers || []).length} layers, resnet20 has 22`);
for (const L of r.layers || [])
  check(L.wbits === 8 && L.abits === 8 && L.float === false, `layer ${L.name}: ${JSON.stringify(L)}`);
check(Array.isArray(r.quantizers) && r.quantizers.length > 0, "no quantizers");
for (const q of r.quantizers || [])
  check(q.bits === 8 && q.step_min > 0 && q.step_max >= q.step_min && q.steps >= 1 &&
        (q.kind === "weight" ? q.qmin === -128 && q.qmax === 127 : q.qmax - q.qmin === 255),
        `quantizer ${q.tensor}: ${JSON.stringify(q)}`);
check(r.quantizers.filter((q) => q.kind === "weight").length === 22, "not one weight quantizer per layer");
check(r.onnxruntime_float_groups === 0, `onnxruntime_float_groups ${r.onnxruntime_float_groups} at W8A8`);
check(r.folded_batchnorm === 21, `folded_batchnorm ${r.folded_batchnorm}`);
if (bad.length) { console.error(bad.slice(0, 10).join("\n")); process.exit(1); }
console.log(a.exported);
JS
) || fail "report check"
echo "report ok: exported top-1 $exported"

# qfd-onnx eval of the written file: the accuracy the report gives
top1=$("$qfd" eval "$work/q.onnx" --limit 200 --json | "$node" -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).top1)')
"$node" -e "process.exit(Math.abs($top1 - $exported) < 1e-9 ? 0 : 1)" \
  || fail "eval of the written file gives $top1, the report $exported"
echo "ok: eval of the written file agrees ($top1)"
