#!/usr/bin/env node
// Times ONNX Runtime (CPU, onnxruntime-node) on one model with a random
// float32 batch: the peer tools/bench/zoo.sh measures qfd-onnx against.
//
//   node tools/bench/ort_time.js MODEL.onnx --batch B --threads T [--runs R]
//
// The input is [B, C, H, W] with C, H, W from the model's first input (the
// zoo models have a dynamic batch axis). One warm-up run, then R timed runs
// (default: as many as fit in about 3 s, at least 3). Prints one JSON line:
// images_per_second, seconds_per_run, rss_loaded_mb (after the session and
// the input exist), rss_peak_mb (the whole process's peak).
'use strict';

const path = require('path');
const ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));

function usage(msg) {
  process.stderr.write(`ort_time.js: ${msg}\nusage: node tools/bench/ort_time.js MODEL.onnx --batch B --threads T [--runs R] [--shape C,H,W]\n`);
  process.exit(2);
}

async function main() {
  const argv = process.argv.slice(2);
  const o = { batch: 1, threads: 1, runs: 0, shape: [3, 224, 224] };
  let model = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--batch') o.batch = parseInt(val(), 10);
    else if (a === '--threads') o.threads = parseInt(val(), 10);
    else if (a === '--runs') o.runs = parseInt(val(), 10);
    else if (a === '--shape') o.shape = val().split(',').map(Number);
    else if (a.startsWith('-')) usage(`unknown flag ${a}`);
    else model = a;
  }
  if (!model) usage('no model given');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const n = o.batch * o.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = (s >>> 8) / 16777216; }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [o.batch, ...o.shape]) };
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
    images_per_second: +(o.batch / sec).toFixed(2), seconds_per_run: +sec.toFixed(5), runs,
    rss_loaded_mb: +(rssLoaded / 1048576).toFixed(1), rss_peak_mb: +(peak / 1048576).toFixed(1),
  }));
}

main().catch(e => { process.stderr.write(`ort_time.js: ${e.message}\n`); process.exit(2); });
