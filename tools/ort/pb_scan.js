// A minimal protobuf reader for the ONNX files the tools inspect: walks a
// message's fields without a schema (eval.js reads metadata_props,
// optimized_ops.js the node op types).
'use strict';

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

// Calls fn(fieldNumber, wireType, valueOrSlice) for each field of a message.
function scanFields(buf, fn) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) { let v; [v, pos] = readVarint(buf, pos); fn(field, wt, v); }
    else if (wt === 1) { pos += 8; }
    else if (wt === 5) { pos += 4; }
    else if (wt === 2) {
      let len; [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error('truncated field');
      fn(field, wt, buf.subarray(pos, pos + len));
      pos += len;
    } else throw new Error(`unsupported wire type ${wt}`);
  }
}

module.exports = { scanFields };
