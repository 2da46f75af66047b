#!/usr/bin/env node
// Writes tests/data/ort_ops/<case>/: small models of issue 16's ops in the
// variants ONNX 1.12's backend data (Debian's libonnx-testdata) has no case
// for (ScatterND max/min of opset 18, float32 Einsum with a broadcast
// ellipsis, GatherND batch_dims on floats, LRN windows past the channels
// (ONNX Runtime takes only odd sizes and 4-D inputs), 3-D and
// 5-D InstanceNormalization, TopK with ties, float32 CumSum, Tile and OneHot
// on other ranks and types, float Range, Hardmax before opset 13, ...),
// their inputs, and ONNX Runtime's outputs (onnxruntime-node, CPU).
// tests/ops/test_ort_ops.c runs qfd-onnx on them.
//
//   node tools/ort/make_op_fixtures.js
//
// Deterministic; the files are committed.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { node, vinfo, floatTensor, int64Tensor, model, fl, FLOAT, INT64 } = require('./onnx_pb.js');

const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'ort_ops');

function writeNpy(file, type, dims, values) {
  const descr = { float32: '<f4', int64: '<i8' }[type];
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  const body = type === 'int64' ? Buffer.from(BigInt64Array.from(values.map(v => BigInt(v))).buffer)
    : Buffer.from(Float32Array.from(values).buffer);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

// Fixed pseudo-random floats in [-2, 2), two decimals (exact in float32 sums
// of a few terms is not needed: the test allows 1e-5).
function vals(n, seed) {
  const out = [];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.push(((s >>> 8) % 400) / 100 - 2);
  }
  return out;
}
const numel = d => d.reduce((a, b) => a * b, 1);

// One case: op on graph inputs (each [dims, values, type = 'float']) and
// initializers (each [name, dims, values, type = 'float']), outputs of the
// given types.
const cases = [];
function add(name, c) { cases.push({ name, ...c }); }
const fin = (dims, seed) => [dims, vals(numel(dims), seed)];

add('scatternd_max_opset18', { op: 'ScatterND', opset: 18, attrs: { reduction: 'max' },
  inputs: [fin([4, 3], 1), fin([3, 3], 2)], inits: [['idx', [3, 1], [1, 3, 1], 'int64']], order: [0, 'idx', 1] });
add('scatternd_min_opset18', { op: 'ScatterND', opset: 18, attrs: { reduction: 'min' },
  inputs: [fin([4, 3], 3), fin([3, 3], 4)], inits: [['idx', [3, 1], [1, 3, 1], 'int64']], order: [0, 'idx', 1] });
add('scatternd_negative_index', { op: 'ScatterND', opset: 16,
  inputs: [fin([2, 3, 2], 5), fin([2, 2], 6)], inits: [['idx', [2, 2], [-1, 0, 0, -2], 'int64']], order: [0, 'idx', 1] });
add('einsum_ellipsis_broadcast', { op: 'Einsum', opset: 13, attrs: { equation: '...ij,...jk->...ik' },
  inputs: [fin([2, 1, 2, 3], 7), fin([1, 3, 3, 2], 8)] });
add('einsum_implicit', { op: 'Einsum', opset: 13, attrs: { equation: 'ij,jk' }, inputs: [fin([3, 4], 9), fin([4, 2], 10)] });
add('einsum_attention', { op: 'Einsum', opset: 13, attrs: { equation: 'bhqd,bhkd->bhqk' },
  inputs: [fin([2, 2, 3, 4], 11), fin([2, 2, 5, 4], 12)] });
add('einsum_trace', { op: 'Einsum', opset: 13, attrs: { equation: 'ii' }, inputs: [fin([4, 4], 13)] });
add('einsum_three_inputs', { op: 'Einsum', opset: 13, attrs: { equation: 'ij,jk,k->i' },
  inputs: [fin([2, 3], 14), fin([3, 4], 15), fin([4], 16)] });
add('gathernd_batch_dims_float', { op: 'GatherND', opset: 13, attrs: { batch_dims: 1 },
  inputs: [fin([2, 3, 4], 17)], inits: [['idx', [2, 2, 1], [2, 0, 1, -1], 'int64']] });
add('gathernd_k2_float', { op: 'GatherND', opset: 13,
  inputs: [fin([2, 3, 4], 18)], inits: [['idx', [3, 2], [0, 1, 1, 2, 0, 1], 'int64']] });
add('lrn_size5', { op: 'LRN', opset: 13, attrs: { size: 5, alpha: fl(0.5), beta: fl(0.75), bias: fl(1.5) },
  inputs: [fin([2, 5, 2, 3], 19)] });
add('lrn_size3', { op: 'LRN', opset: 13, attrs: { size: 3, alpha: fl(0.2) }, inputs: [fin([1, 6, 5, 1], 20)] });
add('instancenorm_3d', { op: 'InstanceNormalization', opset: 13, attrs: { epsilon: fl(0.01) },
  inputs: [fin([2, 3, 5], 21)], inits: [['s', [3], [0.5, 1, 1.5]], ['b', [3], [0, -1, 1]]] });
add('instancenorm_5d', { op: 'InstanceNormalization', opset: 13,
  inputs: [fin([1, 2, 2, 2, 3], 22)], inits: [['s', [2], [1, 2]], ['b', [2], [0.5, 0]]] });
add('topk_ties_smallest', { op: 'TopK', opset: 13, attrs: { axis: 0, largest: 0 },
  inputs: [[[4, 3], [1, 2, 3, 1, 0, 3, 2, 0, 3, 1, 0, -1]]], inits: [['k', [1], [3], 'int64']], outputs: ['float', 'int64'] });
add('topk_ties_largest', { op: 'TopK', opset: 13,
  inputs: [[[2, 5], [1, 3, 3, 0, 3, 2, 2, 2, 1, 2]]], inits: [['k', [1], [4], 'int64']], outputs: ['float', 'int64'] });
add('cumsum_float_reverse_exclusive', { op: 'CumSum', opset: 14, attrs: { reverse: 1, exclusive: 1 },
  inputs: [fin([2, 4, 3], 23)], inits: [['axis', [], [1], 'int64']] });
add('cumsum_float_axis0', { op: 'CumSum', opset: 14, inputs: [fin([3, 4], 24)], inits: [['axis', [], [0], 'int64']] });
add('tile_4d', { op: 'Tile', opset: 13, inputs: [fin([1, 2, 1, 3], 25)], inits: [['r', [4], [2, 1, 3, 2], 'int64']] });
add('tile_int64', { op: 'Tile', opset: 13, inputs: [[[2, 2], [1, -2, 3, 4], 'int64']],
  inits: [['r', [2], [1, 3], 'int64']], outputs: ['int64'] });
add('onehot_float_indices_axis1', { op: 'OneHot', opset: 11, attrs: { axis: 1 },
  inputs: [[[2, 3], [0, 4, -1, 2.7, 5, -6]]], inits: [['depth', [1], [5]], ['v', [2], [-1, 3]]] });
add('range_float_negative', { op: 'Range', opset: 11, inputs: [],
  inits: [['start', [], [2.5]], ['limit', [], [-1]], ['delta', [], [-0.75]]] });
add('range_int64', { op: 'Range', opset: 11, inputs: [],
  inits: [['start', [], [-3], 'int64'], ['limit', [], [10], 'int64'], ['delta', [], [4], 'int64']], outputs: ['int64'] });
add('mod_int64_broadcast', { op: 'Mod', opset: 13, inputs: [[[2, 3], [7, -7, 8, -9, 0, 5], 'int64'], [[3], [3, 4, -5], 'int64']],
  outputs: ['int64'] });
add('mod_float_fmod', { op: 'Mod', opset: 13, attrs: { fmod: 1 }, inputs: [fin([2, 3], 26), [[1], [0.7]]] });
add('hardmax_opset11_axis1', { op: 'Hardmax', opset: 11, attrs: { axis: 1 }, inputs: [fin([2, 3, 4], 27)] });
add('argmin_keepdims0_axis2', { op: 'ArgMin', opset: 13, attrs: { axis: 2, keepdims: 0 }, inputs: [fin([2, 3, 4], 28)],
  outputs: ['int64'] });
add('depthtospace_crd_b3', { op: 'DepthToSpace', opset: 13, attrs: { blocksize: 3, mode: 'CRD' },
  inputs: [fin([1, 18, 2, 1], 29)] });
add('spacetodepth_b3', { op: 'SpaceToDepth', opset: 13, attrs: { blocksize: 3 }, inputs: [fin([2, 1, 3, 6], 30)] });
add('trilu_lower_k_input', { op: 'Trilu', opset: 14, attrs: { upper: 0 }, inputs: [fin([2, 3, 5], 31)],
  inits: [['k', [], [2], 'int64']] });

// Conv in the shapes ImageNet models bring (issue 13), which the direct
// kernels take paths for that the backend data's small cases never reach:
// a 7x7 stride-2 stem, 1x1 stride 2, groups, a 5x5 stride-2 depthwise, wide
// planes, 128-channel inputs (two channel blocks) at batch 1 (threads share
// the image). Weights are initializers, so qfd-onnx packs them once; they
// are scaled by 1/16 so that float32 sums of up to 1152 products stay well
// inside the 1e-5 the test allows.
const cw = (name, dims, seed) => [name, dims, vals(numel(dims), seed).map(v => v / 16)];
function conv(name, x, w, attrs, seed) {
  add(name, { op: 'Conv', opset: 13, attrs, inputs: [fin(x, seed)],
    inits: [cw('w', w, seed + 1), cw('b', [w[0]], seed + 2)] });
}
conv('conv_7x7_s2_stem', [1, 3, 64, 64], [64, 3, 7, 7], { strides: [2, 2], pads: [3, 3, 3, 3] }, 40);
conv('conv_1x1_s2', [2, 64, 14, 14], [128, 64, 1, 1], { strides: [2, 2] }, 43);
conv('conv_3x3_group4', [1, 64, 14, 14], [64, 16, 3, 3], { group: 4, pads: [1, 1, 1, 1] }, 46);
conv('conv_dw_5x5_s2', [2, 32, 28, 28], [32, 1, 5, 5], { group: 32, strides: [2, 2], pads: [2, 2, 2, 2] }, 49);
conv('conv_3x3_wide_plane', [1, 16, 64, 64], [32, 16, 3, 3], { pads: [1, 1, 1, 1] }, 52);
conv('conv_3x3_c128_batch1', [1, 128, 14, 14], [64, 128, 3, 3], { pads: [1, 1, 1, 1] }, 55);
conv('conv_3x3_s2_batch3', [3, 32, 15, 15], [48, 32, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }, 58);

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  for (const c of cases) {
    const dir = path.join(OUT, c.name);
    fs.mkdirSync(dir, { recursive: true });
    const names = c.inputs.map((_, i) => `x${i}`);
    const outTypes = c.outputs || ['float'];
    const outNames = outTypes.map((_, i) => `y${i}`);
    const initSpecs = c.inits || [];
    const inits = initSpecs.map(([n, d, v, t]) => (t === 'int64' ? int64Tensor(n, d, v) : floatTensor(n, d, v)));
    const order = c.order || [...names.keys(), ...initSpecs.map(t => t[0])];
    const ins = order.map(o => (typeof o === 'number' ? names[o] : o));
    const bytes = model({ nodes: [node(c.op, ins, outNames, c.attrs || {})], inits, opset: c.opset,
      inputs: c.inputs.map(([dims, , t], i) => vinfo(names[i], t === 'int64' ? INT64 : FLOAT, dims)),
      outputs: outTypes.map((t, i) => vinfo(outNames[i], t === 'int64' ? INT64 : FLOAT)) });
    fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
    const feeds = {};
    c.inputs.forEach(([dims, values, t], i) => {
      feeds[names[i]] = t === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims)
        : new ort.Tensor('float32', Float32Array.from(values), dims);
      writeNpy(path.join(dir, `input_${i}.npy`), t === 'int64' ? 'int64' : 'float32', dims, values);
    });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const res = await session.run(feeds);
    outNames.forEach((n, i) => {
      const t = res[n];
      writeNpy(path.join(dir, `expected_${i}.npy`), outTypes[i] === 'int64' ? 'int64' : 'float32', t.dims,
        Array.from(t.data, v => (typeof v === 'bigint' ? Number(v) : v)));
    });
  }
  console.log(`wrote ${cases.length} cases to ${OUT}`);
}

main().catch(e => { console.error(e); process.exit(1); });
