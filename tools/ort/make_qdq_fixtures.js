#!/usr/bin/env node
// Writes tests/data/qdq/: small QDQ files as other tools lay them out, with
// no qfd metadata, for the CLI tests of what `info` infers from the graph
// (the format from the Q/DQ types, a layer's bits from its integers and the
// Clip before a QuantizeLinear).
//
//   node tools/ort/make_qdq_fixtures.js
//
// ort_w4a4.onnx       x -> Relu -> Clip(0, 15 s) -> Q/DQ uint8 (zero point 0)
//                     -> Conv (int8 weights in [-8, 7] per channel, int32
//                     bias) -> Q/DQ uint8 (zero point 128) -> Flatten ->
//                     Gemm (float): c (Conv) w4a4, y (Gemm) float
// tensorrt_w4a4.onnx  the same layers, int8 with zero point 0 everywhere, a
//                     Clip(-8 s, 7 s) before the first Q, a float bias
// Deterministic; the files are committed.
'use strict';

const fs = require('fs');
const path = require('path');
const { node, vinfo, floatTensor, rawTensor, model, FLOAT } = require('./onnx_pb.js');

const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'qdq');
const UINT8 = 2, INT8 = 3, INT32 = 6;
fs.mkdirSync(OUT, { recursive: true });

const s = 0.125;
const weights = [-8, 7, 3, -2, 1, 0, -5, 6]; // [2, 1, 2, 2]: channel 0 reaches -8 and 7
const i8 = (v) => Buffer.from(Int8Array.from(v).buffer);
const u8 = (v) => Buffer.from(Uint8Array.from(v));
const i32 = (v) => Buffer.from(Int32Array.from(v).buffer);

function file(name, ort) {
  const zt = ort ? UINT8 : INT8, z = ort ? u8 : i8;
  // ONNX Runtime wants node names unique: each named after its output
  const named = (op, ins, outs, attrs = {}) => node(op, ins, outs, attrs, '', outs[0]);
  const nodes = [
    named('Relu', ['x'], ['r']),
    named('Clip', ['r', 'lo', 'hi'], ['rc']),
    named('QuantizeLinear', ['rc', 's', 'z'], ['rq']),
    named('DequantizeLinear', ['rq', 's', 'z'], ['rd']),
    named('DequantizeLinear', ['w', 'ws', 'wz'], ['wd'], { axis: 0 }),
    ...(ort ? [named('DequantizeLinear', ['bq', 'bs', 'bz'], ['b'], { axis: 0 })] : []),
    named('Conv', ['rd', 'wd', 'b'], ['c']),
    named('QuantizeLinear', ['c', 's', ort ? 'z128' : 'z'], ['cq']),
    named('DequantizeLinear', ['cq', 's', ort ? 'z128' : 'z'], ['cd']),
    named('Flatten', ['cd'], ['f']),
    named('Gemm', ['f', 'fw'], ['y'], { transB: 1 }),
  ];
  const inits = [
    floatTensor('lo', [], [ort ? 0 : -8 * s]), floatTensor('hi', [], [(ort ? 15 : 7) * s]),
    floatTensor('s', [], [s]), rawTensor('z', [], zt, z([0])),
    rawTensor('w', [2, 1, 2, 2], INT8, i8(weights)), floatTensor('ws', [2], [0.01, 0.02]),
    rawTensor('wz', [2], INT8, i8([0, 0])),
    ...(ort ? [rawTensor('bq', [2], INT32, i32([10, -10])), floatTensor('bs', [2], [s * 0.01, s * 0.02]),
      rawTensor('bz', [2], INT32, i32([0, 0])), rawTensor('z128', [], UINT8, u8([128]))]
      : [floatTensor('b', [2], [0.25, -0.25])]),
    floatTensor('fw', [3, 18], Array.from({ length: 54 }, (_, i) => ((i * 7) % 11 - 5) / 10)),
  ];
  fs.writeFileSync(path.join(OUT, name), model({
    nodes, inits, inputs: [vinfo('x', FLOAT, [1, 1, 4, 4])], outputs: [vinfo('y', FLOAT, [1, 3])],
  }));
}
file('ort_w4a4.onnx', true);
file('tensorrt_w4a4.onnx', false);
