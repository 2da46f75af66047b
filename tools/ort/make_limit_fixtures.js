#!/usr/bin/env node
// Writes tests/data/limits/: small files that ask for more memory than the
// default limit (16 GiB, qfd_ctx_set_memory_limit / --max-memory), for the
// CLI tests of that limit.
//
//   node tools/ort/make_limit_fixtures.js
//
// huge_external.onnx  a 4 TiB float initializer 'w' in external data (the
//                     data file does not exist: the limit must stop it first)
// huge_expand.onnx    Expand of a [1] input to [2^40] floats: 4 TiB planned
//                     for the output 'y' of node 'expand_0'; x1.npy its input
// Deterministic; the files are committed.
'use strict';

const fs = require('fs');
const path = require('path');
const { node, vinfo, int64Tensor, externalTensor, model, FLOAT } = require('./onnx_pb.js');

const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'limits');
fs.mkdirSync(OUT, { recursive: true });
const n = 2 ** 40;
fs.writeFileSync(path.join(OUT, 'huge_external.onnx'), model({
  nodes: [node('Add', ['x', 'w'], ['y'])],
  inits: [externalTensor('w', [n], 'weights.bin', 0, 4 * n)],
  inputs: [vinfo('x', FLOAT, [n])], outputs: [vinfo('y', FLOAT)],
}));
fs.writeFileSync(path.join(OUT, 'huge_expand.onnx'), model({
  nodes: [node('Expand', ['x', 'shape'], ['y'])],
  inits: [int64Tensor('shape', [1], [n])],
  inputs: [vinfo('x', FLOAT, [1])], outputs: [vinfo('y', FLOAT)],
}));
const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }".padEnd(117, ' ') + '\n';
const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
fs.writeFileSync(path.join(OUT, 'x1.npy'), Buffer.concat([pre, Buffer.from(header, 'latin1'),
  Buffer.from(Float32Array.of(1).buffer)]));
