#!/usr/bin/env node
// Writes tests/data/nan/<case>/: small models whose inputs hold NaN and
// +-Inf, their inputs, and the expected outputs, for the min/max-like ops
// (MaxPool, GlobalMaxPool, ReduceMax, Max, Min, Clip, the Relu family,
// Softmax, FusedConv's activations). tests/ops/test_nan.c runs qfd-onnx on
// them.
//
//   node tools/ort/make_nan_fixtures.js
//
// The expected outputs are ONNX Runtime's (onnxruntime-node, CPU), measured
// here. The rule they show: a NaN propagates, as in ONNX's reference
// implementation (numpy) and PyTorch, and a max is one of the values. ONNX
// Runtime 1.30's pooling and reduction kernels follow it only for some
// positions of the NaN (ReduceMax of [1, NaN, 2, 3] is 2 there, of
// [NaN, 1, 2, 3] NaN; MaxPool depends on the window's layout): for such
// cases `rule` gives the expected output, and the case's source.txt records
// what ONNX Runtime gave instead.
// Deterministic; the files are committed.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { node, vinfo, floatTensor, model, fl, FLOAT, INT64 } = require('./onnx_pb.js');

const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'nan');
const NaN_ = NaN, inf = Infinity;

function writeNpy(file, type, dims, values) {
  const descr = { float32: '<f4', int64: '<i8' }[type];
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  const body = type === 'int64' ? Buffer.from(BigInt64Array.from(values.map(BigInt)).buffer)
    : Buffer.from(Float32Array.from(values).buffer);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

const show = v => Array.from(v).map(x => (typeof x === 'bigint' ? x.toString() : String(x))).join(' ');

// One case: op applied to float inputs x0, x1, ... (shapes given), outputs
// y0, y1, ... (types given, float unless 'int64'). inits: float initializers.
const cases = [];
function add(name, c) { cases.push({ name, ...c }); }

const X24 = [NaN_, 1, -1, 2, 3, NaN_, -inf, inf]; // the example of issue 17, defect 11
// MaxPool: the example, a 2x2 window per row pair
add('maxpool_2x2', { op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2] }, inputs: [[[1, 1, 2, 4], X24]] });
// windows holding NaN after a number
add('maxpool_1x4', { op: 'MaxPool', attrs: { kernel_shape: [1, 4], strides: [1, 4] }, inputs: [[[1, 1, 2, 4], X24]],
  rule: [[NaN_, NaN_]] });
add('maxpool_pads', { op: 'MaxPool', attrs: { kernel_shape: [1, 2], pads: [0, 1, 0, 1] }, inputs: [[[1, 1, 2, 4], X24]],
  rule: [[NaN_, NaN_, 1, 2, 2, 3, NaN_, NaN_, inf, inf]] });
add('maxpool_indices', { op: 'MaxPool', attrs: { kernel_shape: [1, 4], strides: [1, 4] }, inputs: [[[1, 1, 2, 4], X24]],
  outputs: ['float', 'int64'], rule: [[NaN_, NaN_], [0, 5]] });
// -inf is a value like any other: a window of only -inf gives -inf
add('maxpool_neg_inf', { op: 'MaxPool', attrs: { kernel_shape: [1, 2], strides: [1, 2] },
  inputs: [[[1, 1, 1, 6], [-inf, -inf, 1, -inf, -inf, inf]]] });
add('maxpool_neg_inf_indices', { op: 'MaxPool', attrs: { kernel_shape: [1, 2], strides: [1, 2] },
  inputs: [[[1, 1, 1, 6], [-inf, -inf, 1, -inf, -inf, inf]]], outputs: ['float', 'int64'] });
// (ONNX Runtime starts GlobalMaxPool at -FLT_MAX, so a plane of -inf gives
// -FLT_MAX: not one of the values)
add('globalmaxpool', { op: 'GlobalMaxPool', inputs: [[[1, 3, 4, 1], [1, 2, 3, NaN_, -inf, -inf, -inf, -inf, 5, inf, 0, 1]]],
  rule: [[NaN_, -inf, inf]] });
add('globalmaxpool_nan_first', { op: 'GlobalMaxPool', inputs: [[[2, 1, 4, 1], [NaN_, 1, 2, 3, 1, NaN_, 2, 3]]],
  rule: [[NaN_, NaN_]] });
// ReduceMax: over rows (the row kernel) and over columns (the general one)
add('reducemax_rows', { op: 'ReduceMax', attrs: { axes: [1] }, inputs: [[[3, 4], [NaN_, 1, 2, 3, -inf, -inf, -inf, -inf, 1, 5, inf, 2]]] });
add('reducemax_rows_nan_later', { op: 'ReduceMax', attrs: { axes: [1] }, inputs: [[[2, 4], X24]], rule: [[NaN_, NaN_]] });
add('reducemax_cols', { op: 'ReduceMax', attrs: { axes: [0] }, inputs: [[[2, 4], X24]], rule: [[NaN_, NaN_, -1, inf]] });
add('reducemax_all', { op: 'ReduceMax', attrs: { keepdims: 0 }, inputs: [[[2, 2], [1, 2, 3, NaN_]]], rule: [[NaN_]] });
add('reducemax_opset18', { op: 'ReduceMax', opset: 18, inputs: [[[4], [-inf, -inf, -inf, -inf]]] });
// Max, Min: NaN in either input, broadcast, three inputs, a single one
const A = [NaN_, 1, NaN_, -inf, 2, 0, inf, -1], B = [1, NaN_, NaN_, 5, inf, -0, -inf, -2];
add('max2', { op: 'Max', inputs: [[[8], A], [[8], B]] });
add('min2', { op: 'Min', inputs: [[[8], A], [[8], B]] });
add('max3', { op: 'Max', inputs: [[[8], B], [[8], A], [[8], B]] });
add('min3', { op: 'Min', inputs: [[[8], B], [[8], A], [[8], B]] });
add('max_broadcast', { op: 'Max', inputs: [[[2, 4], X24], [[1], [NaN_]]] });
add('min_broadcast', { op: 'Min', inputs: [[[1], [0]], [[2, 4], X24]] });
add('max1', { op: 'Max', inputs: [[[8], A]] });
// Clip: NaN passes; a NaN bound is no bound
const C = [NaN_, -inf, inf, -5, 0.5, 7, -0, 6];
add('clip', { op: 'Clip', inputs: [[[8], C]], inits: [['lo', [], [0]], ['hi', [], [6]]] });
add('clip_nan_min', { op: 'Clip', inputs: [[[8], C]], inits: [['lo', [], [NaN_]], ['hi', [], [6]]] });
add('clip_nan_max', { op: 'Clip', inputs: [[[8], C]], inits: [['lo', [], [0]], ['hi', [], [NaN_]]] });
add('clip_opset6', { op: 'Clip', opset: 6, attrs: { min: fl(-1), max: fl(1) }, inputs: [[[8], C]] });
for (const op of ['Relu', 'LeakyRelu', 'HardSigmoid', 'Sigmoid', 'Abs', 'Neg'])
  add(op.toLowerCase(), { op, inputs: [[[8], C]] });
add('hardswish', { op: 'HardSwish', opset: 14, inputs: [[[8], C]] });
add('prelu', { op: 'PRelu', inputs: [[[8], C]], inits: [['slope', [1], [0.25]]] });
add('softmax', { op: 'Softmax', inputs: [[[3, 3], [1, NaN_, 2, 3, 4, 5, -inf, 0, 1]]] });
add('logsoftmax', { op: 'LogSoftmax', inputs: [[[3, 3], [1, NaN_, 2, 3, 4, 5, -inf, 0, 1]]] });

// Conv followed by Relu or Clip, which `run` fuses into one FusedConv: the
// direct kernels (a 3x3 depthwise one on 16 channels, as in MobileNetV2)
// apply the activation in registers.
function convCase(name, act, groups) {
  const ch = 16, H = 4, W = 20;
  const x = Array.from({ length: ch * H * W }, (_, i) => ((i * 37) % 11) - 5);
  x[3] = NaN_; x[W * H + 7] = inf; x[2 * W * H + 9] = -inf; x[5 * W * H + 41] = NaN_;
  const wDims = groups === 1 ? [ch, ch, 3, 3] : [ch, 1, 3, 3];
  const wN = wDims.reduce((a, b) => a * b, 1);
  const w = Array.from({ length: wN }, (_, i) => (((i * 13) % 7) - 3) / 8);
  const actNode = act === 'Relu' ? node('Relu', ['c'], ['y']) : node('Clip', ['c', 'lo', 'hi'], ['y']);
  const inits = [['w', wDims, w], ['b', [ch], Array.from({ length: ch }, (_, i) => i / 16 - 0.5)]];
  if (act === 'Clip') inits.push(['lo', [], [0]], ['hi', [], [6]]);
  add(name, { nodes: [node('Conv', ['x', 'w', 'b'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: groups }), actNode],
    inputs: [[[1, ch, H, W], x]], inits });
}
convCase('conv_relu', 'Relu', 1);
convCase('conv_dw_clip', 'Clip', 16);
convCase('conv_dw_relu', 'Relu', 16);

async function main() {
  const version = require('onnxruntime-node/package.json').version;
  fs.rmSync(OUT, { recursive: true, force: true });
  for (const c of cases) {
    const dir = path.join(OUT, c.name);
    fs.mkdirSync(dir, { recursive: true });
    const names = c.inputs.map((_, i) => `x${i === 0 ? '' : i}`);
    const outTypes = c.outputs || ['float'];
    const outNames = outTypes.map((_, i) => (i === 0 ? 'y' : `y${i}`));
    const inits = (c.inits || []).map(([n, d, v]) => floatTensor(n, d, v));
    const nodes = c.nodes || [node(c.op, [...names, ...(c.inits || []).map(t => t[0])], outNames, c.attrs || {})];
    const bytes = model({ nodes, inits, opset: c.opset || 13,
      inputs: c.inputs.map(([dims], i) => vinfo(names[i], FLOAT, dims)),
      outputs: outTypes.map((t, i) => vinfo(outNames[i], t === 'int64' ? INT64 : FLOAT)) });
    fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
    const feeds = {};
    c.inputs.forEach(([dims, values], i) => {
      feeds[names[i]] = new ort.Tensor('float32', Float32Array.from(values), dims);
      writeNpy(path.join(dir, `input_${i}.npy`), 'float32', dims, values);
    });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const res = await session.run(feeds);
    const lines = [];
    let differs = false;
    outNames.forEach((n, i) => {
      const t = res[n];
      let values = Array.from(t.data);
      if (c.rule) {
        const ortText = show(values);
        values = c.rule[i];
        differs = differs || show(values) !== ortText;
        lines.push(`output ${i}: onnxruntime-node ${version} gives [${ortText}], expected [${show(values)}]\n`);
      }
      writeNpy(path.join(dir, `expected_${i}.npy`), outTypes[i] === 'int64' ? 'int64' : 'float32', t.dims,
        values.map(v => (typeof v === 'bigint' ? Number(v) : v)));
    });
    const source = differs ? 'the rule: NaN propagates, a max is one of the values' : `onnxruntime-node ${version}`;
    fs.writeFileSync(path.join(dir, 'source.txt'), [`expected: ${source}\n`, ...lines].join(''));
    process.stdout.write(`${c.name}: ${outNames.map(n => show(res[n].data).slice(0, 80)).join(' | ')}\n`);
  }
}

main().catch(e => { process.stderr.write(`make_nan_fixtures.js: ${e.stack}\n`); process.exit(2); });
