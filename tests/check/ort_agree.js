#!/usr/bin/env node
// `qfd-onnx check --target ort` against ONNX Runtime itself: for every
// model given, ONNX Runtime (onnxruntime-node, CPU, all optimizations)
// writes its optimized graph (session option optimizedModelFilePath), and
// for each layer (Conv, ConvTranspose, Gemm, MatMul) and each Add/Mul fed
// by a DequantizeLinear, whether ONNX Runtime still runs it in float (no
// integer op named after it is left: QLinearConv, QGemm, MatMulNBits, ...)
// must match whether check reported it with a rule that claims float
// (`check --rules --json`: claims_float). A file ONNX Runtime refuses to
// load must get at least one error from check.
//
//   node tests/check/ort_agree.js QFD_ONNX MODEL.onnx... [--out DIR]
// Exit 0 when every node agrees; 1 with the disagreements listed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const ort = require(path.join(__dirname, '..', '..', 'tools', 'ort', 'node_modules', 'onnxruntime-node'));
const { scanFields } = require(path.join(__dirname, '..', '..', 'tools', 'ort', 'pb_scan.js'));

// [{name, op, domain, inputs}] of a model's main graph.
function nodesOf(buf) {
  const nodes = [];
  scanFields(buf, (f, wt, graph) => {
    if (f !== 7 || wt !== 2) return;
    scanFields(graph, (g, gwt, nd) => {
      if (g !== 1 || gwt !== 2) return;
      const n = { name: '', op: '', domain: '', inputs: [], outputs: [] };
      scanFields(nd, (k, kwt, v) => {
        if (kwt !== 2) return;
        if (k === 1) n.inputs.push(v.toString('utf8'));
        else if (k === 2) n.outputs.push(v.toString('utf8'));
        else if (k === 3) n.name = v.toString('utf8');
        else if (k === 4) n.op = v.toString('utf8');
        else if (k === 7) n.domain = v.toString('utf8');
      });
      nodes.push(n);
    });
  });
  return nodes;
}

const INTEGER_OPS = new Set(['QLinearConv', 'QLinearMatMul', 'QGemm', 'MatMulIntegerToFloat', 'MatMulNBits',
  'QLinearAdd', 'QLinearMul', 'ConvInteger', 'MatMulInteger', 'DynamicQuantizeMatMul', 'QLinearConvTranspose',
  'QAttention']);
const LAYERS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function checkJson(qfd, model) {
  try {
    return JSON.parse(execFileSync(qfd, ['check', model, '--target', 'ort', '--json'], { encoding: 'utf8' }));
  } catch (e) {
    if (e.status === 1 && e.stdout) return JSON.parse(e.stdout); // a rule failed: still a report
    throw new Error(`qfd-onnx check ${model} exited ${e.status}: ${e.stderr || e.message}`);
  }
}

async function main() {
  const args = process.argv.slice(2);
  let out = null;
  const oi = args.indexOf('--out');
  if (oi >= 0) { out = args[oi + 1]; args.splice(oi, 2); }
  const [qfd, ...models] = args;
  if (!qfd || !models.length) {
    process.stderr.write('usage: node tests/check/ort_agree.js QFD_ONNX MODEL.onnx... [--out DIR]\n');
    process.exit(2);
  }
  out = out || fs.mkdtempSync(path.join(os.tmpdir(), 'ort_agree_'));
  fs.mkdirSync(out, { recursive: true });
  const rules = JSON.parse(execFileSync(qfd, ['check', '--rules', '--json'], { encoding: 'utf8' })).rules;
  const claimsFloat = new Set(rules.filter((r) => r.claims_float).map((r) => r.id));
  let bad = 0, nodesChecked = 0, floatNodes = 0;
  for (const model of models) {
    const base = path.basename(model, '.onnx');
    const report = checkJson(qfd, model);
    const optimized = path.join(out, `${base}.optimized.onnx`);
    try {
      await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all',
        optimizedModelFilePath: optimized, logSeverityLevel: 3 });
    } catch (e) {
      const loads = report.errors > 0;
      console.log(`${base}: ONNX Runtime refuses to load it; check ${loads ? 'agrees' : 'DISAGREES'} ` +
        `(${report.errors} errors: ${Object.keys(report.counts).join(' ') || 'none'})`);
      if (!loads) bad++;
      continue;
    }
    const original = nodesOf(fs.readFileSync(model));
    const after = nodesOf(fs.readFileSync(optimized));
    const dqOutputs = new Set(original.filter((n) => n.op === 'DequantizeLinear').flatMap((n) => n.outputs));
    const isDefault = (n) => n.domain === '' || n.domain === 'ai.onnx';
    const candidates = original.filter((n) => isDefault(n) && (LAYERS.has(n.op) ||
      ((n.op === 'Add' || n.op === 'Mul') && n.inputs.some((i) => dqOutputs.has(i)))));
    let unnamed = 0;
    const lines = [];
    const allowed = new Set(report.layers.filter((l) => l.status === 'allowed_float').map((l) => l.node));
    for (const n of candidates) {
      if (!n.name) { unnamed++; continue; }
      if (allowed.has(n.name)) continue; /* kept float on purpose: check is silent, by design */
      const integer = after.some((m) => INTEGER_OPS.has(m.op) &&
        (m.name === n.name || m.name.startsWith(`${n.name}_token_`)));
      const warned = report.findings.filter((f) => claimsFloat.has(f.rule) && f.node === n.name).map((f) => f.rule);
      const agree = !integer === warned.length > 0;
      nodesChecked++;
      floatNodes += !integer;
      if (!agree) bad++;
      lines.push(`  ${agree ? 'ok' : 'DISAGREE'} ${n.op} '${n.name}': ONNX Runtime runs it ` +
        `${integer ? 'on an integer kernel' : 'in float'}; check ${warned.length ? `warned ${warned.join(' ')}` : 'did not warn'}`);
    }
    console.log(`${base}: ${candidates.length} nodes${unnamed ? ` (${unnamed} unnamed, not compared)` : ''}`);
    for (const l of lines) console.log(l);
  }
  console.log(`${models.length} models, ${nodesChecked} nodes compared (${floatNodes} run in float by ONNX Runtime): ` +
    `${bad ? `${bad} DISAGREE` : 'check agrees with ONNX Runtime on every one'}`);
  process.exit(bad ? 1 : 0);
}

main().catch((e) => { process.stderr.write(`ort_agree.js: ${e.stack || e}\n`); process.exit(2); });
