#!/usr/bin/python3
"""Writes the small ONNX files under tests/data/io/ that the reader/writer and
CLI tests use: valid corner cases and each kind of bad input.

Made with Debian's python3-onnx (apt-get install python3-onnx), an
implementation independent of qfd-onnx, so the fixtures test our reader
against someone else's writer. Run with Debian's interpreter:

    /usr/bin/python3 tools/make_io_fixtures.py

The output is deterministic; the files are committed.
"""
import io
import os
import struct
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "io")


def save(model, name, check=True):
    if check:
        onnx.checker.check_model(model)
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def small_conv(opset=13, ir=7):
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, dynamic batch."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "conv.w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.b")
    fw = numpy_helper.from_array(rng.standard_normal((10, 4)).astype(np.float32), "fc.w")
    fb = numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "fc.b")
    nodes = [
        helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(
        nodes, "small_conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [w, b, fw, fb])
    m = helper.make_model(g, producer_name="make_io_fixtures", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    helper.set_model_props(m, {"qfd.mean": "0.5", "qfd.std": "0.25"})
    return m


def unsorted():
    m = small_conv()
    nodes = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend([nodes[4], nodes[2], nodes[0], nodes[3], nodes[1]])
    return m


def initializers_as_inputs():
    """IR 3 style: every initializer is also listed as a graph input."""
    m = small_conv(opset=9, ir=3)
    for init in m.graph.initializer:
        m.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return m


def external():
    m = small_conv()
    blob = b""
    for t in m.graph.initializer:
        data = t.raw_data if t.raw_data else numpy_helper.to_array(t).tobytes()
        t.ClearField("raw_data")
        t.ClearField("float_data")
        off = len(blob)
        blob += data
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", str(off)), ("length", str(len(data)))):
            e = t.external_data.add()
            e.key, e.value = k, v
    os.makedirs(os.path.join(OUT, "external"), exist_ok=True)
    with open(os.path.join(OUT, "external", "weights.bin"), "wb") as f:
        f.write(blob)
    return m


def tensor(name, dtype, dims, raw=None, **typed):
    t = TensorProto()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    if raw is not None:
        t.raw_data = raw
    for field, values in typed.items():
        getattr(t, field).extend(values)
    return t


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def with_unknown(msg, field, payload):
    """Appends a length-delimited field the onnx 1.12 schema does not know."""
    data = msg.SerializeToString() + varint(field << 3 | 2) + varint(len(payload)) + payload
    out = type(msg)()
    out.ParseFromString(data)
    return out


def newer_ir():
    """IR 10 / opset 21: int4 and uint4 QDQ, float16/bfloat16/float8 storage,
    typed and raw data, strings, and NodeProto fields newer than onnx 1.12
    (overload = 8, metadata_props = 9) that must survive a round trip."""
    int4 = tensor("w.q", 22, [2, 3], raw=bytes([0x21, 0xF3, 0x8E]))  # 6 int4 values, packed
    w_scale = tensor("w.scale", TensorProto.FLOAT, [2], float_data=[0.1, 0.2])
    w_zp = tensor("w.zp", 22, [2], int32_data=[0x00])  # typed: one packed byte, two int4 zeros
    a_scale = tensor("a.scale", TensorProto.FLOAT, [], float_data=[0.05])
    a_zp = tensor("a.zp", 21, [], int32_data=[0])  # uint4
    extras = [
        tensor("k.f16", TensorProto.FLOAT16, [3], int32_data=[0x3C00, 0xC000, 0x7BFF]),
        tensor("k.bf16", TensorProto.BFLOAT16, [2], raw=struct.pack("<2H", 0x3F80, 0xC040)),
        tensor("k.f8", 17, [2], int32_data=[0x38, 0xB8]),
        tensor("k.i8", TensorProto.INT8, [3], int32_data=[-128, -1, 127]),
        tensor("k.u32", TensorProto.UINT32, [2], uint64_data=[1, 4294967295]),
        tensor("k.i64", TensorProto.INT64, [2], int64_data=[-5, 1 << 40]),
        tensor("k.f64", TensorProto.DOUBLE, [1], double_data=[3.25]),
        tensor("k.str", TensorProto.STRING, [2], string_data=[b"qfd", b""]),
        tensor("k.bool", TensorProto.BOOL, [3], raw=bytes([1, 0, 1])),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "a.scale", "a.zp"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "a.scale", "a.zp"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w.q", "w.scale", "w.zp"], ["w"], name="dq_w", axis=0),
        helper.make_node("MatMul", ["xd", "w"], ["y0"], name="matmul"),
    ]
    nodes[3] = with_unknown(nodes[3], 8, b"fast")
    entry = onnx.StringStringEntryProto(key="origin", value="fixture")
    nodes[3] = with_unknown(nodes[3], 9, entry.SerializeToString())
    nodes.append(helper.make_node("Identity", ["y0"], ["y"], name="out"))
    g = helper.make_graph(
        nodes, "newer_ir",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [int4, w_scale, w_zp, a_scale, a_zp] + extras)
    m = helper.make_model(g, producer_name="make_io_fixtures", opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def small_conv_reference(m, x):
    """small_conv's logits computed with numpy alone: an oracle for `run`."""
    w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    cw, cb = w["conv.w"], w["conv.b"]
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    c = np.zeros((n, cw.shape[0], h, wd), np.float64)
    for o in range(cw.shape[0]):
        for i in range(3):
            for j in range(3):
                c[:, o] += cw[o, 0, i, j] * xp[:, 0, i:i + h, j:j + wd]
        c[:, o] += cb[o]
    p = np.maximum(c, 0).mean(axis=(2, 3))
    return (p @ w["fc.w"].T.astype(np.float64) + w["fc.b"]).astype(np.float32)


def unsupported_ops():
    m = small_conv()
    m.graph.node[1].op_type = "Mish"
    m.graph.node[2].domain = "com.example"
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def not_upgradable():
    """A DFT at opset 17: its axis became an input in opset 20, a change the
    opset upgrade has no rule for (convert --opset 21 names the node)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 2])
    dft = helper.make_node("DFT", ["x"], ["y"], name="dft", axis=1)
    g = helper.make_graph([dft], "not_upgradable", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def bad_graph(kind):
    m = small_conv()
    nodes = m.graph.node
    if kind == "undefined_input":
        nodes[1].input[0] = "no_such_tensor"
    elif kind == "duplicate_name":
        nodes[1].output[0] = "conv.w"
    elif kind == "cycle":
        nodes[0].input[0] = "f"  # conv reads flatten's output, which depends on conv
    return m


def nan_logits():
    """small_conv whose fc bias is NaN: every logit is NaN."""
    m = small_conv()
    fb = next(t for t in m.graph.initializer if t.name == "fc.b")
    fb.CopyFrom(numpy_helper.from_array(np.full(10, np.nan, np.float32), "fc.b"))
    return m


def bf16_second_output():
    """small_conv with a second output .npy cannot hold (bfloat16)."""
    m = small_conv(opset=13)
    m.graph.node.append(helper.make_node("Cast", ["logits"], ["logits_bf16"], name="to_bf16",
                                         to=TensorProto.BFLOAT16))
    m.graph.output.append(helper.make_tensor_value_info("logits_bf16", TensorProto.BFLOAT16, ["N", 10]))
    return m


def huge_expand():
    """An unnamed Expand to [2^20, 2^20] float: 4 TiB from the model's own shapes."""
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "shape")
    g = helper.make_graph(
        [helper.make_node("Expand", ["one", "shape"], ["big"]),
         helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
         helper.make_node("Add", ["input", "s"], ["y"])],
        "huge_expand",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [one, shape])
    return helper.make_model(g, producer_name="make_io_fixtures", opset_imports=[helper.make_opsetid("", 13)])


def unnamed_add():
    """Unnamed nodes, the second one adding shapes that do not broadcast."""
    w = numpy_helper.from_array(np.ones(3, np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["r"]), helper.make_node("Add", ["r", "w"], ["y"])],
        "unnamed_add",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w])
    return helper.make_model(g, producer_name="make_io_fixtures", opset_imports=[helper.make_opsetid("", 13)])


def savez(path, **arrays):
    """np.savez with a fixed timestamp, so the file is the same on every run."""
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(a))
            z.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def datasets():
    """float32 images without a channel axis, which eval and train both take
    as [N,1,H,W]; and float32 [N,784] features, which neither takes."""
    rng = np.random.default_rng(2)
    x = rng.random((16, 28, 28), dtype=np.float32)
    y = (np.arange(16) % 10).astype(np.int64)
    savez(os.path.join(OUT, "rank3_float.npz"), x_train=x, y_train=y, x_test=x, y_test=y)
    savez(os.path.join(OUT, "bad", "rank2_float.npz"), x=x.reshape(16, 784), y=y)
    for name in ("empty.npy", "empty.npz"):
        with open(os.path.join(OUT, "bad", name), "wb"):
            pass


def main():
    os.makedirs(OUT, exist_ok=True)
    save(small_conv(), "small_conv.onnx")
    save(unsorted(), "unsorted.onnx", check=False)
    save(initializers_as_inputs(), "initializers_as_inputs.onnx")
    save(external(), "external/model.onnx", check=False)
    save(newer_ir(), "newer_ir.onnx", check=False)
    for kind in ("undefined_input", "duplicate_name", "cycle"):
        save(bad_graph(kind), f"bad/{kind}.onnx", check=False)
    good = small_conv().SerializeToString()
    with open(os.path.join(OUT, "bad", "truncated.onnx"), "wb") as f:
        f.write(good[: len(good) * 2 // 3])
    with open(os.path.join(OUT, "bad", "empty.onnx"), "wb") as f:
        pass
    with open(os.path.join(OUT, "bad", "not_protobuf.onnx"), "wb") as f:
        f.write(b"This is a text file, not an ONNX model.\n")
    m = external()
    save(m, "bad/missing_external/model.onnx", check=False)
    save(unsupported_ops(), "bad/unsupported_ops.onnx", check=False)
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    np.save(os.path.join(OUT, "small_conv_input.npy"), x)
    np.save(os.path.join(OUT, "small_conv_logits.npy"), small_conv_reference(small_conv(), x))
    with open(os.path.join(OUT, "small_conv_input.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "input").SerializeToString())
    np.save(os.path.join(OUT, "wrong_shape_input.npy"), x[:, :, :20, :])
    with open(os.path.join(OUT, "bad", "corrupt.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
    save(nan_logits(), "bad/nan_logits.onnx")
    save(bf16_second_output(), "bf16_second_output.onnx", check=False)
    save(huge_expand(), "bad/huge_expand.onnx")
    save(unnamed_add(), "bad/unnamed_add.onnx", check=False)
    save(not_upgradable(), "bad/not_upgradable.onnx")
    datasets()
    # external() rewrote external/weights.bin; bad/missing_external has none.
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
