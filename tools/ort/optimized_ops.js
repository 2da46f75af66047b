#!/usr/bin/env node
// The ops ONNX Runtime (CPU) actually runs for a model: creates a session at
// the full optimization level, has ONNX Runtime write its optimized graph
// (session option optimizedModelFilePath), and prints one JSON object
// {"op_type": count, ...} of that graph's nodes, the domain prefixed for
// contrib ops ("com.microsoft.QLinearConv"). A quantized file whose Conv,
// Gemm or MatMul still shows up as a float op here runs in float.
//
//   node tools/ort/optimized_ops.js MODEL.onnx OPTIMIZED_OUT.onnx
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

function readVarint(buf, pos) {
  let result = 0, shift = 0, b;
  do {
    if (pos >= buf.length) throw new Error('truncated varint');
    b = buf[pos++];
    result += (b & 0x7f) * Math.pow(2, shift);
    shift += 7;
  } while (b & 0x80);
  return [result, pos];
}

// Calls fn(field, wireType, value) for each field of a protobuf message.
function scanFields(buf, fn) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) { let v; [v, pos] = readVarint(buf, pos); fn(field, wt, v); }
    else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else if (wt === 2) {
      let len; [len, pos] = readVarint(buf, pos);
      fn(field, wt, buf.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`unsupported wire type ${wt}`);
  }
}

async function main() {
  const [model, out] = process.argv.slice(2);
  if (!model || !out) {
    process.stderr.write('usage: node tools/ort/optimized_ops.js MODEL.onnx OPTIMIZED_OUT.onnx\n');
    process.exit(2);
  }
  await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', optimizedModelFilePath: out,
  });
  const ops = {};
  // ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4, domain = 7
  scanFields(fs.readFileSync(out), (f, wt, graph) => {
    if (f !== 7 || wt !== 2) return;
    scanFields(graph, (g, gwt, node) => {
      if (g !== 1 || gwt !== 2) return;
      let op = '', domain = '';
      scanFields(node, (n, nwt, v) => {
        if (nwt !== 2) return;
        if (n === 4) op = v.toString('utf8');
        else if (n === 7) domain = v.toString('utf8');
      });
      const key = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
      ops[key] = (ops[key] || 0) + 1;
    });
  });
  process.stdout.write(JSON.stringify(ops) + '\n');
}

main().catch((e) => { process.stderr.write(`optimized_ops.js: ${e.stack || e}\n`); process.exit(1); });
