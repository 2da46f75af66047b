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
const { scanFields } = require('./pb_scan');

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
