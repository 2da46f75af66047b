#!/usr/bin/env node
// Compares two files of float32 logits (row after row, CLASSES a row), as
// `qfd-onnx eval --dump-logits` and tools/ort/eval.js --dump-logits write
// them: prints {"n", "agreement" (same argmax), "max_diff"} and exits 1
// when the agreement is below MIN.
//   node agree.js A.f32 B.f32 CLASSES MIN
'use strict';
const fs = require('fs');
const [fa, fb, classes, min] = process.argv.slice(2);
const read = (f) => { const b = fs.readFileSync(f); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
const a = read(fa), b = read(fb), c = parseInt(classes, 10);
if (a.length !== b.length || !c || a.length % c) {
  process.stderr.write(`agree.js: ${fa} has ${a.length} values, ${fb} ${b.length}, not rows of ${c}\n`);
  process.exit(2);
}
const argmax = (v, r) => { let best = 0; for (let k = 1; k < c; k++) if (v[r * c + k] > v[r * c + best]) best = k; return best; };
const n = a.length / c;
let same = 0, maxDiff = 0;
for (let r = 0; r < n; r++) {
  same += argmax(a, r) === argmax(b, r);
  for (let k = 0; k < c; k++) maxDiff = Math.max(maxDiff, Math.abs(a[r * c + k] - b[r * c + k]));
}
const agreement = same / n;
process.stdout.write(JSON.stringify({ n, agreement, max_diff: maxDiff }) + '\n');
process.exit(agreement >= parseFloat(min) ? 0 : 1);
