#!/usr/bin/env bash
# Rebuilds the fuzz seed corpus, tests/fuzz/corpus/<harness>/, from the test
# fixtures: tests/data (models, .npy, quantized files), the .npy/.npz/IDX files test_data
# writes (valid ones and each kind of bad one), and the hand-made models of
# tools/ort/make_fuzz_seeds.js. Inputs that fuzzing found (crash-*, named by
# what they broke) are kept. Needs a built build/ (tools/test.sh).
#
#   tools/make_fuzz_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
C=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/tests/test_data "$tmp/data" >/dev/null
for h in onnx npy npz idx image; do
  mkdir -p "$C/$h"
  find "$C/$h" -type f ! -name 'crash-*' -delete
done

# onnx: the reader/writer fixtures (bad ones too), the NaN and limit cases
for f in tests/data/io/*.onnx tests/data/io/bad/*.onnx tests/data/limits/*.onnx; do
  cp "$f" "$C/onnx/io_$(basename "$f")"
done
cp tests/data/io/external/model.onnx "$C/onnx/io_external.onnx"
# quantized files without qfd metadata: what info infers (format, bits per layer)
for f in tests/data/qdq/*.onnx; do
  cp "$f" "$C/onnx/qdq_$(basename "$f")"
done
for d in maxpool_indices maxpool_pads globalmaxpool reducemax_cols reducemax_opset18 max3 min_broadcast clip \
         clip_opset6 hardsigmoid prelu softmax conv_dw_clip; do
  cp "tests/data/nan/$d/model.onnx" "$C/onnx/nan_$d.onnx"
done
cp tests/data/train/cnn_bn/model.onnx "$C/onnx/train_cnn_bn.onnx"
# check's fixtures: every quantized shape its rules read
for f in conv_u8 conv_s8_float_bias int4_uint4 qoperator_conv dynamic_matmul residual_both qfd_meta_bad \
         transpose_between softmax_int8 convtranspose_axis0 matmul_int4 weight_float_qdq scale_runtime \
         dq_without_scale act_per_channel; do
  cp "tests/data/check/$f.onnx" "$C/onnx/check_$f.onnx"
done
node tools/ort/make_fuzz_seeds.js "$C/onnx"

# npy: tests/data inputs and test_data's files (TensorProto .pb inputs too)
cp tests/data/io/small_conv_input.npy "$C/npy/io_small_conv_input.npy"
cp tests/data/io/small_conv_input.pb "$C/npy/io_small_conv_input.pb"
cp tests/data/io/bad/corrupt.npy "$C/npy/io_corrupt.npy"
cp tests/data/nan/maxpool_indices/expected_1.npy "$C/npy/nan_int64.npy"
for f in "$tmp"/data/*.npy; do cp "$f" "$C/npy/data_$(basename "$f")"; done
for f in "$tmp"/data/*.npz; do cp "$f" "$C/npz/data_$(basename "$f")"; done
# idx: raw and gzip, images and labels, and the broken ones
for f in "$tmp"/data/*.gz "$tmp"/data/images-raw "$tmp"/data/truncated-header; do
  cp "$f" "$C/idx/data_$(basename "$f")"
done
for f in "$tmp"/data/mnist_ok/*; do cp "$f" "$C/idx/mnist_$(basename "$f")"; done
# image: a mode byte (0 RGB, 1 gray, 2 CIFAR batch), then the file: every
# kind of image tests/data/images holds, the corrupt ones, a CIFAR record
image_seeds() {
  local I=tests/data/images
  for f in $I/jpeg/c0/gray.jpg $I/jpeg/c0/gray16.png $I/jpeg/c0/rgb_00.jpg $I/jpeg/c1/cmyk.jpg $I/jpeg/c1/progressive.jpg \
           $I/jpeg/c2/palette.png $I/jpeg/c2/rgba.png $I/png/test/c0/00019.png $I/corrupt/c0/truncated.jpg \
           $I/corrupt/c1/garbage.png; do
    for m in 0 1; do
      { printf "\\x0$m"; cat "$f"; } >"$C/image/m${m}_$(basename "$(dirname "$f")")_$(basename "$f")"
    done
  done
  { printf '\x02\x03'; head -c 3072 /dev/zero | tr '\0' '\7'; } >"$C/image/m2_cifar_record.bin"
}
image_seeds
du -sh "$C"
