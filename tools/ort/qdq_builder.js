// A small graph builder over onnx_pb.js for quantized test models: typed
// initializers (int4/uint4 packed two to a byte, as ONNX stores them),
// QuantizeLinear -> DequantizeLinear pairs and quantized weights in one
// call each, at any opset and IR version (python3-onnx 1.12 stops at
// opset 17 and has no int4). make_check_fixtures.js states the fixtures of
// `qfd-onnx check` with it.
'use strict';

const { node, vinfo, rawTensor, model } = require('./onnx_pb.js');

const T = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, FLOAT16: 10,
  FLOAT8E4M3FN: 17, UINT4: 21, INT4: 22,
};
const TYPE_NAME = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k.toLowerCase()]));

// Raw little-endian bytes of values in ONNX element type dt.
function rawBytes(dt, values) {
  const v = Array.from(values);
  switch (dt) {
  case T.FLOAT: return Buffer.from(Float32Array.from(v).buffer);
  case T.UINT8: return Buffer.from(Uint8Array.from(v).buffer);
  case T.INT8: return Buffer.from(Int8Array.from(v).buffer);
  case T.UINT16: return Buffer.from(Uint16Array.from(v).buffer);
  case T.INT16: return Buffer.from(Int16Array.from(v).buffer);
  case T.INT32: return Buffer.from(Int32Array.from(v).buffer);
  case T.INT64: return Buffer.from(BigInt64Array.from(v.map(BigInt)).buffer);
  case T.UINT4: case T.INT4: {
    const out = Buffer.alloc((v.length + 1) >> 1);
    v.forEach((x, i) => { out[i >> 1] |= (x & 15) << (i & 1 ? 4 : 0); });
    return out;
  }
  default: throw new Error(`element type ${dt}: no writer`);
  }
}

class Graph {
  constructor() {
    this.nodes = [];
    this.inits = [];
    this.inputs = [];
    this.outputs = [];
    this.names = new Set();
    this.count = {};
  }

  // A fresh name from base (base, base_1, base_2, ...).
  fresh(base) {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  input(name, dt, dims) { this.names.add(name); this.inputs.push(vinfo(name, dt, dims)); return name; }
  output(name, dt, dims) { this.outputs.push(vinfo(name, dt, dims)); return name; }

  // An initializer of type dt; returns its name.
  init(base, dt, dims, values) {
    const name = this.fresh(base);
    this.inits.push(rawTensor(name, dims, dt, rawBytes(dt, values)));
    return name;
  }

  // A node named `name` (default: op and a counter); outs are names or
  // counts of fresh outputs. Returns the output names (one: the name).
  op(op, ins, attrs = {}, { name, outs = 1, domain = '' } = {}) {
    const base = name || `${op.toLowerCase()}${this.count[op] = (this.count[op] || 0) + 1}`;
    const o = typeof outs === 'number' ? Array.from({ length: outs }, (_, i) => this.fresh(`${base}_out${i || ''}`))
      : outs;
    o.forEach((n) => this.names.add(n));
    this.nodes.push(node(op, ins, o, attrs, domain, base));
    return o.length === 1 ? o[0] : o;
  }

  // Scale and zero point initializers: scalars, or per-axis lists.
  qparams(base, scale, zp, dt) {
    const per = Array.isArray(scale);
    const s = this.init(`${base}_scale`, T.FLOAT, per ? [scale.length] : [], per ? scale : [scale]);
    if (zp === null) return [s];
    const zv = per ? (Array.isArray(zp) ? zp : scale.map(() => zp)) : [zp];
    return [s, this.init(`${base}_zero_point`, dt, per ? [zv.length] : [], zv)];
  }

  // x -> QuantizeLinear -> DequantizeLinear; returns the DQ output.
  // opts: scale, zp (null: none), dt (default uint8), dqScale/dqZp (a
  // different pair on the DQ side), attrs (of both), q/dq names.
  qdq(x, { scale = 0.05, zp = 0, dt = T.UINT8, dqScale, dqZp, attrs = {}, name } = {}) {
    const base = name || x;
    const qp = this.qparams(`${base}_q`, scale, zp, dt);
    const dqp = dqScale === undefined && dqZp === undefined ? qp
      : this.qparams(`${base}_dq`, dqScale ?? scale, dqZp === undefined ? zp : dqZp, dt);
    const q = this.op('QuantizeLinear', [x, ...qp], attrs, { name: `${base}_quantize` });
    return this.op('DequantizeLinear', [q, ...dqp], attrs, { name: `${base}_dequantize` });
  }

  // A constant integer weight behind a DequantizeLinear; returns its output.
  // scale: number (per tensor) or list (per axis), axis set when a list.
  wdq(base, dims, values, { scale = 0.02, zp = 0, dt = T.INT8, axis, attrs = {} } = {}) {
    const q = this.init(`${base}_quantized`, dt, dims, values);
    const qp = this.qparams(base, scale, zp, dt);
    const a = { ...attrs };
    if (axis !== undefined) a.axis = axis;
    return this.op('DequantizeLinear', [q, ...qp], a, { name: `${base}_dequantize` });
  }

  bytes({ opset = 13, irVersion, domains, metadata } = {}) {
    const ir = irVersion ?? (opset >= 21 ? 10 : opset >= 19 ? 9 : opset >= 15 ? 8 : 7);
    return model({ nodes: this.nodes, inputs: this.inputs, outputs: this.outputs, inits: this.inits, opset,
      irVersion: ir, domains, metadata });
  }
}

// n uniform numbers in [0, 1) from a fixed-seed xorshift generator.
function uniform(n, seed) {
  let s = seed >>> 0 || 1;
  const out = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out.push(s / 4294967296);
  }
  return out;
}
const ints = (n, lo, hi, seed = 1) => uniform(n, seed).map((u) => lo + Math.floor(u * (hi - lo + 1)));
const floats = (n, lo, hi, seed = 1) => uniform(n, seed).map((u) => Math.fround(lo + u * (hi - lo)));

module.exports = { Graph, T, TYPE_NAME, rawBytes, ints, floats };
