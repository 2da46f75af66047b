// A minimal ONNX protobuf writer: just enough of ModelProto to state small
// test models by hand (make_nan_fixtures.js, make_limit_fixtures.js),
// without an ONNX Python install and without qfd-onnx's own writer.
'use strict';

function varint(n) {
  n = BigInt.asUintN(64, BigInt(n));
  const out = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const cat = parts => Buffer.concat(parts);
const vint = (field, n) => cat([key(field, 0), varint(n)]);
function bytes(field, b) {
  b = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  return cat([key(field, 2), varint(b.length), b]);
}
function f32(field, v) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return cat([key(field, 5), b]);
}

// AttributeProto: an integer, a float, a string or a list of integers/floats.
function attr(name, v) {
  if (typeof v === 'string') return cat([bytes(1, name), bytes(4, v), vint(20, 3)]);
  if (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0)) return cat([bytes(1, name), vint(3, v), vint(20, 2)]);
  if (typeof v === 'number') return cat([bytes(1, name), f32(2, v), vint(20, 1)]);
  if (Array.isArray(v) && v.every(Number.isInteger)) return cat([bytes(1, name), ...v.map(x => vint(8, x)), vint(20, 7)]);
  if (Array.isArray(v)) return cat([bytes(1, name), ...v.map(x => f32(7, x)), vint(20, 6)]);
  throw new Error(`attribute ${name}: unsupported value`);
}
// Float attributes that happen to be integral are written as floats with fl().
class Fl { constructor(v) { this.v = v; } }
const fl = v => new Fl(v);

// name: the node's name (default: op in lower case, "_0").
function node(op, ins, outs, attrs = {}, domain = '', name = `${op.toLowerCase()}_0`) {
  const a = Object.entries(attrs).map(([k, v]) =>
    bytes(5, v instanceof Fl ? cat([bytes(1, k), f32(2, v.v), vint(20, 1)]) : attr(k, v)));
  return cat([...ins.map(i => bytes(1, i)), ...outs.map(o => bytes(2, o)), bytes(3, name),
    bytes(4, op), ...a, ...(domain ? [bytes(7, domain)] : [])]);
}
// ValueInfoProto of a tensor; dims undefined: no shape; a string dim is
// symbolic (dim_param).
function vinfo(name, elemType, dims) {
  const dim = d => bytes(1, typeof d === 'string' ? bytes(2, d) : vint(1, d));
  const shape = dims ? bytes(2, cat(dims.map(dim))) : Buffer.alloc(0);
  return cat([bytes(1, name), bytes(2, bytes(1, cat([vint(1, elemType), shape])))]);
}
// TensorProto with raw little-endian float32 data.
function floatTensor(name, dims, values) {
  const raw = Buffer.from(Float32Array.from(values).buffer);
  return cat([...dims.map(d => vint(1, d)), vint(2, 1), bytes(8, name), bytes(9, raw)]);
}
// TensorProto of any type from its raw little-endian bytes.
function rawTensor(name, dims, dataType, raw) {
  return cat([...dims.map(d => vint(1, d)), vint(2, dataType), bytes(8, name), bytes(9, raw)]);
}
// TensorProto of int64 values (raw data).
function int64Tensor(name, dims, values) {
  const raw = Buffer.from(BigInt64Array.from(values.map(BigInt)).buffer);
  return cat([...dims.map(d => vint(1, d)), vint(2, 7), bytes(8, name), bytes(9, raw)]);
}
// Float TensorProto whose data lives in an external file (data_location
// EXTERNAL, external_data location/offset/length).
function externalTensor(name, dims, location, offset, length) {
  const kv = (k, v) => bytes(13, cat([bytes(1, k), bytes(2, String(v))]));
  return cat([...dims.map(d => vint(1, d)), vint(2, 1), bytes(8, name), kv('location', location),
    kv('offset', offset), kv('length', length), vint(14, 1)]);
}
function model({ nodes, inputs, outputs, inits = [], opset = 13 }) {
  const graph = cat([...nodes.map(n => bytes(1, n)), bytes(2, 'g'), ...inits.map(t => bytes(5, t)),
    ...inputs.map(v => bytes(11, v)), ...outputs.map(v => bytes(12, v))]);
  return cat([vint(1, 8), bytes(2, 'qfd-onnx tools/ort'), bytes(7, graph),
    bytes(8, cat([bytes(1, ''), vint(2, opset)]))]);
}

module.exports = { node, vinfo, floatTensor, int64Tensor, rawTensor, externalTensor, model, fl, FLOAT: 1, INT64: 7 };
