#!/usr/bin/env node
// Hand-made ONNX seeds for the fuzz corpus (tools/make_fuzz_corpus.sh):
// small models that reach the reader's and the planner's paths the test
// fixtures do not, each with its initializers, so that planning folds them.
//
//   node tools/ort/make_fuzz_seeds.js OUT_DIR
'use strict';

const fs = require('fs');
const path = require('path');
const { node, vinfo, floatTensor, int64Tensor, rawTensor, externalTensor, model, FLOAT } = require('./onnx_pb.js');

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node tools/ort/make_fuzz_seeds.js OUT_DIR\n');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const seeds = {};
const x = (dims) => [vinfo('x', FLOAT, dims)];
const y = [vinfo('y', FLOAT)];
const ramp = (n) => Array.from({ length: n }, (_, i) => (i % 7) - 3);

// external data in data.bin, the 4 KiB file the harness puts beside the model
seeds.external_data = model({ nodes: [node('Add', ['x', 'w'], ['y'])],
  inits: [externalTensor('w', [2, 4], 'data.bin', 64, 32)], inputs: x([2, 4]), outputs: y });
// the shape arithmetic PyTorch exports: Shape -> Gather -> Concat -> Reshape
seeds.shape_chain = model({
  nodes: [node('Shape', ['x'], ['s']), node('Gather', ['s', 'i0'], ['n'], { axis: 0 }),
    node('Unsqueeze', ['n', 'ax0'], ['n1']), node('Concat', ['n1', 'm1'], ['shape'], { axis: 0 }),
    node('Reshape', ['x', 'shape'], ['y'])],
  inits: [int64Tensor('i0', [], [0]), int64Tensor('ax0', [1], [0]), int64Tensor('m1', [1], [-1])],
  inputs: x([2, 3, 4]), outputs: y });
seeds.conv_bn_add_relu = model({
  nodes: [node('Conv', ['x', 'w', 'b'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    node('BatchNormalization', ['c', 'g', 'be', 'mu', 'var'], ['n']), node('Add', ['n', 'x'], ['s']),
    node('Relu', ['s'], ['y'])],
  inits: [floatTensor('w', [2, 2, 3, 3], ramp(36)), floatTensor('b', [2], [0.5, -0.5]), floatTensor('g', [2], [1, 2]),
    floatTensor('be', [2], [0, 1]), floatTensor('mu', [2], [0.1, 0.2]), floatTensor('var', [2], [1, 4])],
  inputs: x([1, 2, 5, 5]), outputs: y });
seeds.gemm_softmax = model({
  nodes: [node('Flatten', ['x'], ['f']), node('Gemm', ['f', 'w', 'b'], ['g'], { transB: 1 }), node('Softmax', ['g'], ['y'])],
  inits: [floatTensor('w', [3, 8], ramp(24)), floatTensor('b', [3], [1, 2, 3])], inputs: x([2, 2, 4]), outputs: y });
seeds.matmul_transpose_layernorm = model({
  nodes: [node('MatMul', ['x', 'w'], ['m']), node('Transpose', ['m'], ['t'], { perm: [0, 2, 1] }),
    node('LayerNormalization', ['t', 'g', 'b'], ['y'], { axis: -1 })],
  inits: [floatTensor('w', [4, 3], ramp(12)), floatTensor('g', [2], [1, 1]), floatTensor('b', [2], [0, 0])],
  inputs: x([1, 2, 4]), outputs: y, opset: 17 });
seeds.slice_pad_concat_split = model({
  nodes: [node('Slice', ['x', 'st', 'en', 'ax'], ['s']), node('Pad', ['s', 'pads'], ['p']),
    node('Concat', ['p', 'p'], ['c'], { axis: 1 }), node('Split', ['c'], ['y', 'z'], { axis: 1 })],
  inits: [int64Tensor('st', [1], [1]), int64Tensor('en', [1], [3]), int64Tensor('ax', [1], [1]),
    int64Tensor('pads', [4], [0, 1, 0, 1])],
  inputs: x([2, 4]), outputs: [vinfo('y', FLOAT), vinfo('z', FLOAT)] });
seeds.resize_avgpool = model({
  nodes: [node('Resize', ['x', '', 'sc'], ['r'], { mode: 'nearest' }),
    node('AveragePool', ['r'], ['y'], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 })],
  inits: [floatTensor('sc', [4], [1, 1, 2, 1.5])], inputs: x([1, 1, 3, 3]), outputs: y });
seeds.qdq = model({
  nodes: [node('QuantizeLinear', ['x', 's', 'z'], ['q']), node('DequantizeLinear', ['q', 's', 'z'], ['y'])],
  inits: [floatTensor('s', [], [0.1]), rawTensor('z', [], 2, Buffer.from([5]))], inputs: x([4]), outputs: y });
seeds.const_of_shape_where_cast = model({
  nodes: [node('ConstantOfShape', ['shape'], ['c']), node('Greater', ['x', 'c'], ['m']),
    node('Where', ['m', 'x', 'c'], ['w']), node('Cast', ['w'], ['y'], { to: 1 })],
  inits: [int64Tensor('shape', [2], [2, 3])], inputs: x([2, 3]), outputs: y });
seeds.expand_gather_reduce = model({
  nodes: [node('Expand', ['x', 'shape'], ['e']), node('Gather', ['e', 'idx'], ['g'], { axis: 1 }),
    node('ReduceMean', ['g'], ['y'], { axes: [-1], keepdims: 0 })],
  inits: [int64Tensor('shape', [3], [2, 3, 4]), int64Tensor('idx', [2], [0, -1])], inputs: x([3, 1]), outputs: y });
seeds.conv_transpose = model({
  nodes: [node('ConvTranspose', ['x', 'w'], ['y'], { strides: [2, 2], output_padding: [1, 1] })],
  inits: [floatTensor('w', [1, 2, 2, 2], ramp(8))], inputs: x([1, 1, 3, 3]), outputs: y });
seeds.symbolic_batch = model({ nodes: [node('GlobalAveragePool', ['x'], ['y'])], inputs: x(['N', 3, 2]), outputs: y });
for (const [name, bytes] of Object.entries(seeds))
  fs.writeFileSync(path.join(out, `made_${name}.onnx`), bytes);
