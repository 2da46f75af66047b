#!/usr/bin/env node
// Times ONNX Runtime (CPU, onnxruntime-node) on one model with a random
// float32 batch: the peer tools/bench/zoo.sh measures qfd-onnx against.
//
//   node tools/bench/ort_time.js MODEL.onnx --batch B --threads T [--runs R]
//   node tools/bench/ort_time.js MODEL.onnx --input X.npy --threads T [--runs R]
//
// The input is a random [B, C, H, W] batch with C, H, W from --shape
// (default 3,224,224; the zoo models have a dynamic batch axis), or the
// float32 .npy given with --input (its first axis is the batch), so that
// qfd-onnx and ONNX Runtime can be fed the same file. One warm-up run, then
// R timed runs (default: as many as fit in about 3 s, at least 3). Prints
// one JSON line: images_per_second, seconds_per_run, runs, batch,
// rss_loaded_mb (after the session and the input exist), rss_peak_mb (the
// whole process's peak); MB = 2^20 bytes.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));

function usage(msg) {
  process.stderr.write(`ort_time.js: ${msg}\nusage: node tools/bench/ort_time.js MODEL.onnx [--batch B | --input X.npy] --threads T [--runs R] [--shape C,H,W]\n`);
  process.exit(2);
}

// A little-endian float32 C-order .npy (what numpy.save writes): { data, dims }.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') usage(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || descr[1] !== '<f4' || !fortran || fortran[1] !== 'False' || !shape)
    usage(`${file}: needs a float32 little-endian C-order array, header ${header.trim()}`);
  const dims = shape[1].split(',').map(t => t.trim()).filter(t => t).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  if (buf.length - off !== 4 * n) usage(`${file}: ${buf.length - off} data bytes, ${4 * n} expected`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(off + 4 * i);
  return { data, dims };
}

async function main() {
  const argv = process.argv.slice(2);
  const o = { batch: 1, threads: 1, runs: 0, shape: [3, 224, 224], input: null };
  let model = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--batch') o.batch = parseInt(val(), 10);
    else if (a === '--threads') o.threads = parseInt(val(), 10);
    else if (a === '--runs') o.runs = parseInt(val(), 10);
    else if (a === '--shape') o.shape = val().split(',').map(Number);
    else if (a === '--input') o.input = val();
    else if (a.startsWith('-')) usage(`unknown flag ${a}`);
    else model = a;
  }
  if (!model) usage('no model given');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  let x, dims;
  if (o.input) {
    ({ data: x, dims } = readNpy(o.input));
    o.batch = dims[0];
  } else {
    dims = [o.batch, ...o.shape];
    const n = dims.reduce((a, b) => a * b, 1);
    x = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
  const rssLoaded = process.memoryUsage().rss;
  await session.run(feeds); // warm-up: first-touch and plan costs
  let runs = o.runs;
  let t0 = process.hrtime.bigint();
  if (!runs) {
    await session.run(feeds);
    const one = Number(process.hrtime.bigint() - t0) / 1e9;
    runs = Math.max(3, Math.min(200, Math.round(3 / one)));
    t0 = process.hrtime.bigint();
  }
  for (let r = 0; r < runs; r++) await session.run(feeds);
  const sec = Number(process.hrtime.bigint() - t0) / 1e9 / runs;
  const peak = process.resourceUsage().maxRSS * 1024; // kB on Linux
  console.log(JSON.stringify({
    images_per_second: +(o.batch / sec).toFixed(2), seconds_per_run: +sec.toFixed(5), runs, batch: o.batch,
    rss_loaded_mb: +(rssLoaded / 1048576).toFixed(1), rss_peak_mb: +(peak / 1048576).toFixed(1),
  }));
}

main().catch(e => { process.stderr.write(`ort_time.js: ${e.message}\n`); process.exit(2); });
