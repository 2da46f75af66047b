#!/usr/bin/env node
// Writes tests/data/check/*.onnx: the small files `qfd-onnx check` is
// tested on, one or two per rule that passes or fails it (tests/check/
// cases.txt says which rules each must raise), plus the shapes other
// exporters write: ONNX Runtime's QOperator and dynamic formats, an
// opset-21 int4/uint4 file, TensorRT-style all-int8 files, files with qfd
// metadata. Stated by hand with qdq_builder.js (python3-onnx 1.12 has no
// opset 21 and no int4). Deterministic: the files are committed.
//
//   node tools/ort/make_check_fixtures.js
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Graph, T, ints, floats } = require('./qdq_builder.js');

const OUT = path.join(__dirname, '..', '..', 'tests', 'data', 'check');
const written = [];
function save(name, g, opts = {}) {
  fs.writeFileSync(path.join(OUT, `${name}.onnx`), g.bytes(opts));
  written.push(name);
}

const IC = 4, OC = 8;
// x [1,4,8,8] -> Q/DQ -> Conv(int8 weight per channel, int32 bias) -> [act] -> Q/DQ -> y.
// Options change one thing at a time.
function convNet(o = {}) {
  const g = new Graph();
  const xs = o.xs ?? 0.05, ws = Array(OC).fill(0.01);
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const xd = o.xFloat ? 'x' : g.qdq('x', { scale: xs, zp: o.xzp ?? 128, dt: o.xdt ?? T.UINT8, ...(o.xq || {}) });
  const w = o.w ? o.w(g) : g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, o.wlo ?? -100, o.whi ?? 100, 7),
    { scale: ws, axis: 0, dt: o.wdt ?? T.INT8, zp: o.wzp ?? 0 });
  const ins = [xd, w];
  if (o.bias === 'float') ins.push(g.init('b', T.FLOAT, [OC], floats(OC, -1, 1, 3)));
  else if (o.bias !== 'none')
    ins.push(g.wdq('b', [OC], ints(OC, -1000, 1000, 5),
      { dt: T.INT32, scale: ws.map((s) => Math.fround(Math.fround(xs) * Math.fround(s)) * (o.biasOff ?? 1)), axis: 0 }));
  let y = g.op('Conv', ins, { pads: [1, 1, 1, 1] }, { name: 'conv' });
  if (o.act === 'relu' || o.act === 'relu_clip') y = g.op('Relu', [y], {}, { name: 'relu' });
  if (o.act === 'clip' || o.act === 'relu_clip') {
    const lo = g.init('clip_min', T.FLOAT, [], [0]), hi = g.init('clip_max', T.FLOAT, [], [o.clipMax ?? 0.75]);
    y = g.op('Clip', [y, lo, hi], {}, { name: 'clip' });
  }
  if (o.extraReader) g.output(g.op('Sigmoid', [y], {}, { name: 'side' }), T.FLOAT);
  if (o.noOutputQ) {
    g.output(y, T.FLOAT);
  } else {
    const yd = g.qdq(y, { scale: 0.1, zp: o.yzp ?? 0, dt: o.ydt ?? T.UINT8, name: 'y', ...(o.yq || {}) });
    g.output(yd, T.FLOAT);
  }
  return g;
}

// ---- the plain, correct QDQ files: ONNX Runtime style and TensorRT style
save('conv_u8', convNet({ act: 'relu' }));
// TensorRT's way: int8 everywhere, zero points 0, float bias, Q after the Relu
const trt = { xdt: T.INT8, xzp: 0, bias: 'float', act: 'relu', ydt: T.INT8, yzp: 0 };
save('conv_s8_float_bias', convNet(trt));

// ---- QDQ001 a graph that is not one: a node reads a tensor nothing makes
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, 4]);
  g.output(g.op('Relu', ['no_such_tensor'], {}, { name: 'relu' }), T.FLOAT);
  save('invalid_graph', g);
}
// a DequantizeLinear without its scale
{
  const g = new Graph();
  g.input('x', T.UINT8, [1, 4]);
  g.output(g.op('DequantizeLinear', ['x'], {}, { name: 'x_dequantize' }), T.FLOAT);
  save('dq_without_scale', g);
}
// ---- QDQ002 opsets: per-axis at opset 10, int4 at 13; int4 at 21 is fine
save('per_axis_opset10', convNet({ act: 'relu' }), { opset: 10 });
const int4w = (g) => g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -8, 7, 7),
  { scale: Array(OC).fill(0.01), axis: 0, dt: T.INT4 });
save('int4_opset13', convNet({ act: 'relu', w: int4w, bias: 'none' }), { opset: 13 });
save('int4_opset21', convNet({ act: 'relu', w: int4w, bias: 'none' }), { opset: 21 });
// ---- QDQ003 a layer left float; QDQ004 a weight computed at run time
save('conv_float_input', convNet({ act: 'relu', xFloat: true }));
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  g.input('wq', T.INT8, [OC, IC, 3, 3]);
  const xd = g.qdq('x', { zp: 128 });
  const ws = g.init('w_scale', T.FLOAT, [], [0.01]), wz = g.init('w_zero_point', T.INT8, [], [0]);
  const w = g.op('DequantizeLinear', ['wq', ws, wz], {}, { name: 'w_dequantize' });
  const y = g.op('Conv', [xd, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  g.output(g.qdq(y, { scale: 0.1, zp: 0, name: 'y' }), T.FLOAT);
  save('weight_runtime', g);
}
// weights as PyTorch QAT exports them: float -> Q -> DQ (ORT006 for ort)
save('weight_float_qdq', convNet({
  act: 'relu',
  bias: 'none',
  w: (g) => g.qdq(g.init('w', T.FLOAT, [OC, IC, 3, 3], floats(OC * IC * 9, -1, 1, 7)),
    { scale: Array(OC).fill(0.01), zp: 0, dt: T.INT8, attrs: { axis: 0 }, name: 'w' }),
}));
// ---- QDQ005-QDQ011 parameters
save('scale_negative', convNet({ act: 'relu', xs: -0.05, bias: 'none' }));
{
  const g = convNet({ act: 'relu', bias: 'none', w: (gg) => {
    const q = gg.init('w_quantized', T.INT8, [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7));
    const s = gg.init('w_scale', T.FLOAT, [], [0.01]), z = gg.init('w_zero_point', T.UINT8, [], [0]);
    return gg.op('DequantizeLinear', [q, s, z], {}, { name: 'w_dequantize' });
  } });
  save('zp_type_mismatch', g);
}
save('zp_missing', convNet({ act: 'relu', xq: { zp: null } }));
save('weight_zp_nonzero', convNet({ act: 'relu', wzp: 3 }));
// uint8 weights with zero point 128 (older ONNX Runtime quantizer): fine
save('weight_u8_zp128', convNet({ act: 'relu', wdt: T.UINT8, wzp: 128, wlo: 28, whi: 228, bias: 'none' }));
save('scale_count_wrong', convNet({ act: 'relu', bias: 'none', w: (g) => g.wdq('w', [OC, IC, 3, 3],
  ints(OC * IC * 9, -100, 100, 7), { scale: Array(IC).fill(0.01), axis: 0 }) }));
function gemmNet(o = {}) {
  const g = new Graph();
  g.input('x', T.FLOAT, [2, 16]);
  const xd = o.xFloat ? 'x' : g.qdq('x', { zp: 128 });
  const tb = o.transB ?? 1;
  const axis = o.axis ?? (tb ? 0 : 1);
  const wdims = tb ? [8, 16] : [16, 8];
  const w = g.wdq('w', wdims, ints(128, -100, 100, 7), { scale: Array(wdims[axis]).fill(0.01), axis });
  const ins = [xd, w];
  if (o.bias === 'float') ins.push(g.init('b', T.FLOAT, [8], floats(8, -1, 1, 3)));
  const y = g.op('Gemm', ins, { transB: tb }, { name: 'gemm' });
  g.output(o.noOutputQ ? y : g.qdq(y, { scale: 0.1, zp: 128, name: 'y' }), T.FLOAT);
  return g;
}
save('gemm_axis_wrong', gemmNet({ transB: 1, axis: 1 }));
save('gemm_transb0', gemmNet({ transB: 0 }));
function convTranspose(axis) {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const xd = g.qdq('x', { zp: 128 });
  const w = g.wdq('w', [IC, OC, 3, 3], ints(IC * OC * 9, -100, 100, 7),
    { scale: Array(axis ? OC : IC).fill(0.01), axis });
  const y = g.op('ConvTranspose', [xd, w], {}, { name: 'convt' });
  g.output(g.qdq(y, { scale: 0.1, zp: 128, name: 'y' }), T.FLOAT);
  return g;
}
save('convtranspose_axis0', convTranspose(0));
save('convtranspose_axis1', convTranspose(1));
// ---- QDQ012/QDQ013 bits: 4-bit weights, and a 4-bit activation kept by a Clip
const w4 = (g) => g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -8, 7, 7), { scale: Array(OC).fill(0.01), axis: 0 });
save('conv_w4', convNet({ act: 'relu', w: w4, bias: 'none' }));
// x in [0, 15 * 0.05] through a Clip: 16 levels of uint8
function clippedInput(o = {}) {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const lo = g.init('x_clip_min', T.FLOAT, [], [0]), hi = g.init('x_clip_max', T.FLOAT, [], [o.hi ?? 0.75]);
  const xc = g.op('Clip', ['x', lo, hi], {}, { name: 'x_clip' });
  const xd = g.qdq(xc, { scale: 0.05, zp: 0, name: 'x' });
  const y = g.op('Conv', [xd, w4(g)], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  g.output(g.qdq(y, { scale: 0.1, zp: 128, name: 'y' }), T.FLOAT);
  return g;
}
save('conv_w4a4_clip', clippedInput());
// ---- QDQ014-QDQ018 pairs, bias, hazards
save('pair_scale_mismatch', convNet({ act: 'relu', xq: { dqScale: 0.06 } }));
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, 4]);
  const s = g.init('s', T.FLOAT, [], [0.1]), z = g.init('z', T.UINT8, [], [0]);
  const q = g.op('QuantizeLinear', ['x', s, z], {}, { name: 'x_quantize' });
  g.output(g.op('Cast', [q], { to: T.FLOAT }, { name: 'cast' }), T.FLOAT);
  save('q_then_cast', g);
}
save('bias_scale_off', convNet({ act: 'relu', biasOff: 1.05 }));
// Q -> Transpose -> DQ on the input (NHWC to NCHW inside the pair)
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, 8, 8, IC]);
  const s = g.init('x_scale', T.FLOAT, [], [0.05]), z = g.init('x_zero_point', T.UINT8, [], [128]);
  const q = g.op('QuantizeLinear', ['x', s, z], {}, { name: 'x_quantize' });
  const t = g.op('Transpose', [q], { perm: [0, 3, 1, 2] }, { name: 'to_nchw' });
  const xd = g.op('DequantizeLinear', [t, s, z], {}, { name: 'x_dequantize' });
  const w = g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7), { scale: Array(OC).fill(0.01), axis: 0 });
  const y = g.op('Conv', [xd, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  g.output(g.qdq(y, { scale: 0.1, zp: 128, name: 'y' }), T.FLOAT);
  save('transpose_between', g);
}
function softmaxNet(dt) {
  const g = new Graph();
  g.input('x', T.FLOAT, [2, 16]);
  const xd = g.qdq('x', { zp: 128 });
  const y = g.op('Softmax', [xd], { axis: 1 }, { name: 'softmax' });
  g.output(g.qdq(y, { scale: 1 / 256, zp: dt === T.INT8 ? -128 : 0, dt, name: 'y' }), T.FLOAT);
  return g;
}
save('softmax_int8', softmaxNet(T.INT8));
save('softmax_uint8', softmaxNet(T.UINT8));
// ---- QDQ019 and qfd metadata: per-layer bits, a layer kept float
function metaNet() {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const xd = g.qdq('x', { scale: 0.05, zp: 128 });
  const w1 = g.wdq('conv1_w', [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7), { scale: Array(OC).fill(0.01), axis: 0 });
  let y = g.op('Conv', [xd, w1], { pads: [1, 1, 1, 1] }, { name: 'conv1' });
  y = g.op('Relu', [y], {}, { name: 'relu1' });
  // a4 input of conv2: the trained clamp kept by a Clip, as quantize --format ort writes it
  const lo = g.init('a_clip_min', T.FLOAT, [], [0]), hi = g.init('a_clip_max', T.FLOAT, [], [1.5]);
  y = g.op('Clip', [y, lo, hi], {}, { name: 'a_clip' });
  const yd = g.qdq(y, { scale: 0.1, zp: 0, name: 'a' });
  const w2 = g.wdq('conv2_w', [OC, OC, 3, 3], ints(OC * OC * 9, -8, 7, 9), { scale: Array(OC).fill(0.01), axis: 0 });
  y = g.op('Conv', [yd, w2], { pads: [1, 1, 1, 1] }, { name: 'conv2' });
  y = g.op('GlobalAveragePool', [y], {}, { name: 'pool' });
  y = g.op('Flatten', [y], {}, { name: 'flatten' });
  const hw = g.init('head_w', T.FLOAT, [10, OC], floats(10 * OC, -1, 1, 11));
  g.output(g.op('Gemm', [y, hw], { transB: 1 }, { name: 'head' }), T.FLOAT);
  return g;
}
save('qfd_meta', metaNet(), {
  metadata: { 'qfd.quant.bits': 'conv1=w8a8,conv2=w4a4', 'qfd.quant.float': 'head', 'qfd.quant.format': 'ort',
    'qfd.quant.method': 'lsq' },
});
save('qfd_meta_bad', metaNet(), {
  metadata: { 'qfd.quant.bits': 'conv1=w8a8,conv2=4bits,gone=w4a4', 'qfd.quant.float': 'head',
    'qfd.quant.format': 'ort' },
});
// ---- ONNX Runtime: what keeps a layer in float
save('fakequant_left', (() => {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, 4]);
  const s = g.init('s', T.FLOAT, [], [0.1]);
  g.output(g.op('FakeQuant', ['x', s], { qmin: 0, qmax: 255 }, { name: 'fq', domain: 'ai.qfd' }), T.FLOAT);
  return g;
})(), { domains: { 'ai.qfd': 1 } });
save('conv_no_output_q', convNet({ act: 'none', noOutputQ: true }));
save('conv_relu_s8', convNet({ act: 'relu', ydt: T.INT8, yzp: 0 }));
save('conv_clip_narrow', convNet({ act: 'clip', clipMax: 0.75 }));
save('conv_clip_wide', convNet({ act: 'clip', clipMax: 30 }));
save('conv_relu_clip_narrow', convNet({ act: 'relu_clip', clipMax: 1.5 }));
save('conv_output_twice', convNet({ act: 'none', extraReader: true }));
save('conv_float_bias', convNet({ act: 'relu', bias: 'float' }));
save('conv_float_weight', convNet({ act: 'relu', bias: 'float',
  w: (g) => g.init('w', T.FLOAT, [OC, IC, 3, 3], floats(OC * IC * 9, -1, 1, 7)) }));
save('gemm_float_bias_no_q', gemmNet({ bias: 'float', noOutputQ: true }));
save('gemm_no_q', gemmNet({ noOutputQ: true }));
function matmulNet(o = {}) {
  const g = new Graph();
  g.input('x', T.FLOAT, [2, 16]);
  const xd = o.xFloat ? 'x' : g.qdq('x', { zp: 128, dt: o.xdt ?? T.UINT8 });
  const w = g.wdq('w', [16, 8], o.wdt === T.INT4 ? ints(128, -8, 7, 7) : ints(128, -100, 100, 7),
    { scale: Array(8).fill(0.01), axis: 1, dt: o.wdt ?? T.INT8 });
  const y = g.op('MatMul', [xd, w], {}, { name: 'matmul' });
  g.output(o.noOutputQ ? y : g.qdq(y, { scale: 0.1, zp: 128, name: 'y' }), T.FLOAT);
  return g;
}
save('matmul_u8', matmulNet());
save('matmul_no_q', matmulNet({ noOutputQ: true }));
save('matmul_weight_only', matmulNet({ xFloat: true, noOutputQ: true }));
save('matmul_int4', matmulNet({ wdt: T.INT4 }), { opset: 21 });
// residual Add: both inputs quantized (QLinearAdd), or one left float
function residual(both) {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, OC, 8, 8]);
  const xq = g.qdq('x', { scale: 0.05, zp: 0, dt: T.INT8 });
  const w = g.wdq('w', [OC, OC, 3, 3], ints(OC * OC * 9, -100, 100, 7), { scale: Array(OC).fill(0.01), axis: 0 });
  const bb = g.init('b', T.FLOAT, [OC], floats(OC, -1, 1, 3));
  let y = g.op('Conv', [xq, w, bb], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const yd = both ? g.qdq(y, { scale: 0.1, zp: 0, dt: T.INT8, name: 'y' }) : y;
  const a = g.op('Add', [yd, xq], {}, { name: 'add' });
  const r = g.op('Relu', [a], {}, { name: 'relu' });
  g.output(g.qdq(r, { scale: 0.1, zp: 0, dt: T.INT8, name: 'out' }), T.FLOAT);
  return g;
}
save('residual_both', residual(true));
save('residual_one', residual(false));
// ---- TensorRT: what it refuses, and its placement advice
save('act_per_channel', convNet({ ...trt, xq: { scale: [0.05, 0.05, 0.05, 0.05], zp: 0, attrs: { axis: 1 } } }));
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const s = g.op('ReduceMax', ['x'], { keepdims: 0 }, { name: 'x_max' });
  const z = g.init('x_zero_point', T.INT8, [], [0]);
  const q = g.op('QuantizeLinear', ['x', s, z], {}, { name: 'x_quantize' });
  const xd = g.op('DequantizeLinear', [q, s, z], {}, { name: 'x_dequantize' });
  const w = g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7), { scale: Array(OC).fill(0.01), axis: 0 });
  const y = g.op('Conv', [xd, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const r = g.op('Relu', [y], {}, { name: 'relu' });
  g.output(g.qdq(r, { scale: 0.1, zp: 0, dt: T.INT8, name: 'y' }), T.FLOAT);
  save('scale_runtime', g);
}
// Conv -> Q -> DQ -> Relu: the pair sits where TensorRT fuses
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const xd = g.qdq('x', { zp: 0, dt: T.INT8 });
  const w = g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7), { scale: Array(OC).fill(0.01), axis: 0 });
  const y = g.op('Conv', [xd, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const yd = g.qdq(y, { scale: 0.1, zp: 0, dt: T.INT8, name: 'conv_out' });
  const r = g.op('Relu', [yd], {}, { name: 'relu' });
  g.output(g.qdq(r, { scale: 0.1, zp: 0, dt: T.INT8, name: 'y' }), T.FLOAT);
  save('qdq_between_conv_relu', g);
}
// ---- other exporters' formats
// ONNX Runtime's QOperator format: QLinearConv with its parameters
function qlinearConv(wzp) {
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const p = (n, dt, v) => g.init(n, dt, [], [v]);
  const xs = p('x_scale', T.FLOAT, 0.05), xz = p('x_zero_point', T.UINT8, 128);
  const q = g.op('QuantizeLinear', ['x', xs, xz], {}, { name: 'x_quantize' });
  const w = g.init('w', T.INT8, [OC, IC, 3, 3], ints(OC * IC * 9, -100, 100, 7));
  const ws = g.init('w_scale', T.FLOAT, [OC], Array(OC).fill(0.01));
  const wz = g.init('w_zero_point', T.INT8, [OC], Array(OC).fill(wzp));
  const ys = p('y_scale', T.FLOAT, 0.1), yz = p('y_zero_point', T.UINT8, 0);
  const b = g.init('b', T.INT32, [OC], ints(OC, -1000, 1000, 5));
  const y = g.op('QLinearConv', [q, xs, xz, w, ws, wz, ys, yz, b], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  g.output(g.op('DequantizeLinear', [y, ys, yz], {}, { name: 'y_dequantize' }), T.FLOAT);
  return g;
}
save('qoperator_conv', qlinearConv(0));
save('qoperator_conv_wzp', qlinearConv(5));
// dynamic quantization as ONNX Runtime's quantize_dynamic writes it
{
  const g = new Graph();
  g.input('x', T.FLOAT, [2, 16]);
  const [xq, xs, xz] = g.op('DynamicQuantizeLinear', ['x'], {}, { name: 'x_dynamic', outs: 3 });
  const w = g.init('w', T.INT8, [16, 8], ints(128, -100, 100, 7));
  const wz = g.init('w_zero_point', T.INT8, [], [0]);
  const acc = g.op('MatMulInteger', [xq, w, xz, wz], {}, { name: 'matmul' });
  const f = g.op('Cast', [acc], { to: T.FLOAT }, { name: 'cast' });
  const ws = g.init('w_scale', T.FLOAT, [], [0.01]);
  const sc = g.op('Mul', [xs, ws], {}, { name: 'scale' });
  g.output(g.op('Mul', [f, sc], {}, { name: 'rescale' }), T.FLOAT);
  save('dynamic_matmul', g);
}
// an opset-21 file with int4 weights and uint4 activations (the int4 format)
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const xd = g.qdq('x', { scale: 0.05, zp: 8, dt: T.UINT4 });
  const y = g.op('Conv', [xd, int4w(g)], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const r = g.op('Relu', [y], {}, { name: 'relu' });
  g.output(g.qdq(r, { scale: 0.1, zp: 0, dt: T.UINT4, name: 'y' }), T.FLOAT);
  save('int4_uint4', g, { opset: 21, metadata: { 'qfd.quant.bits': 'conv=w4a4', 'qfd.quant.format': 'int4' } });
}
// the int4 format below 4 bits: a 2-bit activation clamped by Min/Max before a uint4 Q
{
  const g = new Graph();
  g.input('x', T.FLOAT, [1, IC, 8, 8]);
  const hi = g.init('x_clamp_max', T.FLOAT, [], [0.15]), lo = g.init('x_clamp_min', T.FLOAT, [], [0]);
  const xc = g.op('Max', [g.op('Min', ['x', hi], {}, { name: 'x_clamp_max_op' }), lo], {}, { name: 'x_clamp_min_op' });
  const xd = g.qdq(xc, { scale: 0.05, zp: 0, dt: T.UINT4, name: 'x' });
  const w = g.wdq('w', [OC, IC, 3, 3], ints(OC * IC * 9, -2, 1, 7), { scale: Array(OC).fill(0.01), axis: 0, dt: T.INT4 });
  const y = g.op('Conv', [xd, w], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  g.output(g.qdq(y, { scale: 0.1, zp: 8, dt: T.UINT4, name: 'y' }), T.FLOAT);
  save('int4_w2a2_minmax', g, { opset: 21, metadata: { 'qfd.quant.bits': 'conv=w2a2', 'qfd.quant.format': 'int4' } });
}
// a TensorRT-style residual block as quantize --format tensorrt writes it
{
  const g = residual(true);
  save('tensorrt_block', g, { metadata: { 'qfd.quant.bits': 'conv=w8a8', 'qfd.quant.format': 'tensorrt' } });
}

// ---- NUM001: a classifier and two quantized copies, on Fashion-MNIST
// Nearest class mean as a linear layer: logit_c = 2 mu_c . x - |mu_c|^2,
// mu_c the mean of the class's first 200 training images (~65% top-1).
function readIdx(file) {
  const b = zlib.gunzipSync(fs.readFileSync(file));
  const dims = b[3];
  const shape = Array.from({ length: dims }, (_, i) => b.readUInt32BE(4 + 4 * i));
  return { shape, data: b.subarray(4 + 4 * dims) };
}
const FM = '/usr/share/datasets/fashion-mnist';
if (fs.existsSync(`${FM}/train-images-idx3-ubyte.gz`)) {
  const imgs = readIdx(`${FM}/train-images-idx3-ubyte.gz`), labs = readIdx(`${FM}/train-labels-idx1-ubyte.gz`);
  const P = 784, sums = Array.from({ length: 10 }, () => new Float64Array(P)), counts = new Array(10).fill(0);
  for (let i = 0; i < imgs.shape[0] && counts.some((c) => c < 200); i++) {
    const c = labs.data[i];
    if (counts[c] >= 200) continue;
    counts[c]++;
    for (let p = 0; p < P; p++) sums[c][p] += imgs.data[i * P + p] / 255;
  }
  const W = [], B = [];
  for (let c = 0; c < 10; c++) {
    let sq = 0;
    for (let p = 0; p < P; p++) {
      const mu = sums[c][p] / counts[c];
      W.push(Math.fround(2 * mu));
      sq += mu * mu;
    }
    B.push(Math.fround(-sq));
  }
  const classifier = (quant) => {
    const g = new Graph();
    g.input('image', T.FLOAT, ['N', 1, 28, 28]);
    const shape = g.init('shape', T.INT64, [2], [0, -1]);
    let x = g.op('Reshape', ['image', shape], {}, { name: 'flatten' });
    let w, b;
    if (quant) {
      x = g.qdq(x, { scale: quant.xs, zp: 0, name: 'x' });
      const ws = Math.fround(Math.max(...W.map(Math.abs)) / 127), bs = Math.fround(Math.fround(quant.xs) * ws);
      w = g.wdq('w', [10, P], W.map((v) => Math.max(-128, Math.min(127, Math.round(v / ws)))), { scale: ws });
      b = g.wdq('b', [10], B.map((v) => Math.round(v / bs)), { scale: bs, dt: T.INT32 });
    } else {
      w = g.init('w', T.FLOAT, [10, P], W);
      b = g.init('b', T.FLOAT, [10], B);
    }
    g.output(g.op('Gemm', [x, w, b], { transB: 1 }, { name: 'classifier' }), T.FLOAT);
    return g;
  };
  save('num_reference', classifier(null));
  save('num_w8a8', classifier({ xs: 1 / 255 }));
  // an input scale far too small: every pixel above 0.0004 saturates
  save('num_saturated', classifier({ xs: 1 / 255 / 64 }));
} else {
  process.stderr.write(`make_check_fixtures.js: ${FM} missing (apt-get install dataset-fashion-mnist)\n`);
  process.exit(1);
}

process.stdout.write(`wrote ${written.length} files to ${path.relative(process.cwd(), OUT) || OUT}\n`);
