#!/usr/bin/env node
// Reference top-1 accuracy of an FP32 (or quantized) qfd-onnx model on the
// Fashion-MNIST test set, computed with ONNX Runtime (CPU) via onnxruntime-node.
//
//   cd tools/ort && npm install --ignore-scripts   # once; pinned in package.json
//   node tools/ort/eval.js MODEL.onnx [--data DIR] [--limit N] [--batch B]
//                          [--mean M --std S] [--threads T] [--dump-logits FILE]
//
// Prints one JSON line: {"top1":..., "n":..., "seconds":...} ("seconds" is
// the inference time only, not the data loading).
//
// The input normalization x' = (x/255 - mean) / std is read from the model's
// metadata_props qfd.mean / qfd.std. onnxruntime-node does not expose custom
// metadata, so the ModelProto is scanned with a minimal protobuf reader (pb_scan.js)
// (top-level field 14, repeated StringStringEntryProto {1: key, 2: value}).
// --mean/--std override the metadata; a model without either is an error.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');
const { scanFields } = require('./pb_scan');

function usage(msg) {
  if (msg) process.stderr.write(`eval.js: ${msg}\n`);
  process.stderr.write('usage: node tools/ort/eval.js MODEL.onnx [--data DIR] [--limit N] [--batch B] ' +
    '[--mean M --std S] [--threads T] [--dump-logits FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { data: '/usr/share/datasets/fashion-mnist', limit: 10000, batch: 250, threads: 0 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--data') o.data = val();
    else if (a === '--limit') o.limit = parseInt(val(), 10);
    else if (a === '--batch') o.batch = parseInt(val(), 10);
    else if (a === '--mean') o.mean = parseFloat(val());
    else if (a === '--std') o.std = parseFloat(val());
    else if (a === '--threads') o.threads = parseInt(val(), 10);
    else if (a === '--dump-logits') o.dump = val();
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 1) usage('exactly one MODEL.onnx expected');
  o.model = rest[0];
  if (!(o.limit > 0) || !(o.batch > 0)) usage('--limit and --batch must be positive integers');
  return o;
}

// ---- ModelProto.metadata_props -----------------------------------------------

function modelMetadata(file) {
  const meta = {};
  scanFields(fs.readFileSync(file), (field, wt, v) => {
    if (field !== 14 || wt !== 2) return;
    let k = '', val = '';
    scanFields(v, (f2, w2, v2) => {
      if (w2 !== 2) return;
      if (f2 === 1) k = v2.toString('utf8');
      else if (f2 === 2) val = v2.toString('utf8');
    });
    meta[k] = val;
  });
  return meta;
}

// ---- Fashion-MNIST IDX (gz) -------------------------------------------------

function readIdx(file) {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const ndim = buf[3];
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * ndim) };
}

function findFile(dir, base) {
  for (const name of [base + '.gz', base]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${base}(.gz) not found in ${dir}`);
}

// ---- main -------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const meta = modelMetadata(o.model);
  const mean = o.mean !== undefined ? o.mean : parseFloat(meta['qfd.mean']);
  const std = o.std !== undefined ? o.std : parseFloat(meta['qfd.std']);
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std <= 0) {
    usage('model has no usable qfd.mean/qfd.std metadata; pass --mean and --std');
  }

  const imgs = readIdx(findFile(o.data, 't10k-images-idx3-ubyte'));
  const labs = readIdx(findFile(o.data, 't10k-labels-idx1-ubyte'));
  const [count, h, w] = imgs.dims;
  const n = Math.min(o.limit, count);
  const px = h * w;

  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: process.env.QFD_ORT_OPT || 'all' };
  if (o.threads > 0) { opts.intraOpNumThreads = o.threads; opts.interOpNumThreads = 1; }
  const session = await ort.InferenceSession.create(o.model, opts);
  const inName = session.inputNames[0], outName = session.outputNames[0];

  const dump = o.dump ? [] : null;
  let correct = 0;
  const t0 = process.hrtime.bigint();
  for (let start = 0; start < n; start += o.batch) {
    const b = Math.min(o.batch, n - start);
    const x = new Float32Array(b * px);
    for (let i = 0; i < b * px; i++) x[i] = (imgs.data[start * px + i] / 255 - mean) / std;
    const res = await session.run({ [inName]: new ort.Tensor('float32', x, [b, 1, h, w]) });
    const logits = res[outName].data;
    const k = logits.length / b;
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      if (best === labs.data[start + i]) correct++;
    }
    if (dump) dump.push(Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dump) fs.writeFileSync(o.dump, Buffer.concat(dump));
  process.stdout.write(JSON.stringify({ top1: correct / n, n, seconds: Number(seconds.toFixed(3)) }) + '\n');
}

main().catch((e) => { process.stderr.write(`eval.js: ${e.stack || e}\n`); process.exit(1); });
