#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (CPU, onnxruntime-node) on .npy
// inputs and writes each output as .npy: the reference the end-to-end tests
// compare qfd-onnx against.
//
//   node tools/ort/run.js MODEL.onnx OUT_DIR INPUT.npy [INPUT.npy ...]
// writes OUT_DIR/output_<i>.npy in the session's output order.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TYPES = { '<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array] };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = (major === 1 ? 10 : 12);
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran order not supported`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(Boolean).map(Number);
  const t = TYPES[descr];
  if (!t) throw new Error(`${file}: dtype ${descr} not supported`);
  const data = buf.subarray(off + hlen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new ort.Tensor(t[0], new t[1](copy.buffer), shape);
}

function writeNpy(file, tensor) {
  const descr = { float32: '<f4', int64: '<i8', int32: '<i4', uint8: '|u1', int8: '|i1', bool: '|b1' }[tensor.type];
  if (!descr) throw new Error(`output type ${tensor.type} not supported`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [model, outDir, ...inputs] = process.argv.slice(2);
  if (!model || !outDir || !inputs.length) {
    process.stderr.write('usage: node tools/ort/run.js MODEL.onnx OUT_DIR INPUT.npy [INPUT.npy ...]\n');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const feeds = {};
  session.inputNames.forEach((name, i) => { feeds[name] = readNpy(inputs[i]); });
  const res = await session.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  session.outputNames.forEach((name, i) => writeNpy(path.join(outDir, `output_${i}.npy`), res[name]));
}

main().catch(e => { process.stderr.write(`run.js: ${e.message}\n`); process.exit(2); });
