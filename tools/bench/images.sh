#!/usr/bin/env bash
# Does image decoding keep up with training? (issue 15)
#
# Makes N ImageNet-sized JPEGs (500x375, quality 90) in an ImageFolder and a
# torchvision ResNet-18 (10 classes) in ONNX, with Debian's /usr/bin/python3,
# then measures with qfd-onnx, T threads:
#   decode eval   eval of a GlobalAveragePool model on the folder with
#                 --resize 256 --crop 224: decoding + preprocessing alone
#   decode 224    the same on the images saved as 224x224 JPEGs (no resize:
#                 decoding, conversion and normalization alone)
#   train folder  one epoch of ResNet-18 on the folder (random-resized-crop
#                 to 224, flip; the worker pool decodes ahead)
#   train array   the same on a .npz of N 224x224 images already in memory:
#                 the training step alone
# The loader keeps up when "train folder" is as fast as "train array".
#
#   tools/bench/images.sh [--threads T] [--n N] [--batch B] [--repeat R]
# Default: 2 threads, 64 images, batch 16, one run of each (R > 1: the
# measurements alternate R times, each printed). Needs python3-torch,
# python3-torchvision, python3-pil, python3-onnx.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=2 n=64 batch=16 repeat=1
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
load0=$(cut -d' ' -f1-3 /proc/loadavg)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT && echo "kept $out" >&2

/usr/bin/python3 - "$out" "$n" <<'EOF'
import gzip, os, sys
import numpy as np
import onnx, torch, torchvision
from onnx import TensorProto, helper
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
rng = np.random.default_rng(0)
arr = np.zeros((n, 3, 224, 224), np.uint8)
for i in range(n):
    base = np.stack([x[i], x[i + 1].T, x[i + 2][::-1]], -1).astype(np.float32)
    im = Image.fromarray(base.astype(np.uint8), "RGB").resize((500, 375), Image.BICUBIC)
    noise = rng.normal(0, 12, (375, 500, 3))
    im = Image.fromarray(np.clip(np.asarray(im, np.float32) + noise, 0, 255).astype(np.uint8), "RGB")
    d = os.path.join(out, "folder", "c%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    im.save(os.path.join(d, "%05d.jpg" % i), quality=90)
    small = im.resize((224, 224), Image.BILINEAR)
    arr[i] = np.asarray(small).transpose(2, 0, 1)
    d = os.path.join(out, "folder224", "c%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    small.save(os.path.join(d, "%05d.jpg" % i), quality=90)
np.savez(os.path.join(out, "array.npz"), x_train=arr, y_train=np.arange(n) % 3, x_test=arr[:8], y_test=np.arange(8) % 3)
m = torchvision.models.resnet18(num_classes=10).eval()
torch.onnx.export(m, torch.zeros(1, 3, 224, 224), os.path.join(out, "resnet18.onnx"), input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True, opset_version=13)
xi = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])
yo = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
g = helper.make_graph([helper.make_node("GlobalAveragePool", ["input"], ["p"]),
                       helper.make_node("Flatten", ["p"], ["logits"])], "gap", [xi], [yo])
gm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
gm.ir_version = 7
onnx.save(gm, os.path.join(out, "gap.onnx"))
EOF

q=build/src/qfd-onnx
ips() { /usr/bin/python3 -c 'import json,sys;print("%.1f"%json.load(sys.stdin)["images_per_second"])'; }
rate() { grep -o '[0-9.]* img/s' | tail -1 | cut -d' ' -f1; }
dec=() dec224=() tf=() ta=()
# alternated, so that a change of load on a shared machine hits both sides
for ((r = 0; r < repeat; r++)); do
  dec+=("$($q eval "$out/gap.onnx" --data "$out/folder" --resize 256 --crop 224 --batch "$batch" \
    --threads "$threads" --json -q | ips)")
  dec224+=("$($q eval "$out/gap.onnx" --data "$out/folder224" --batch "$batch" --threads "$threads" --json -q | ips)")
  tf+=("$($q train "$out/resnet18.onnx" --data "$out/folder" --epochs 1 --batch "$batch" --threads "$threads" \
    --no-eval --verbose -o "$out/a.onnx" 2>&1 >/dev/null | rate)")
  ta+=("$($q train "$out/resnet18.onnx" --data "$out/array.npz" --epochs 1 --batch "$batch" --threads "$threads" \
    --no-augment --no-eval --verbose -o "$out/b.onnx" 2>&1 >/dev/null | rate)")
done
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, --threads $threads, $n JPEGs 500x375, batch $batch"
echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %s\n' "" "img/s (each run)"
printf '%-46s %s\n' "decode + resize 256 + crop 224 (eval path)" "${dec[*]}"
printf '%-46s %s\n' "decode 224x224 JPEG, no resize" "${dec224[*]}"
printf '%-46s %s\n' "ResNet-18 training, JPEG folder (RRC + flip)" "${tf[*]}"
printf '%-46s %s\n' "ResNet-18 training, the same images in memory" "${ta[*]}"
