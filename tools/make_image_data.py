#!/usr/bin/python3
"""Writes the small image datasets under tests/data/images/ and the values
torchvision's own pipeline gives for them: the oracle of qfd-onnx's image
reading (issue 15). Never run by the tests or the program.

Needs Debian's interpreter and packages, not another python3 on PATH:

    apt-get install python3-torch python3-torchvision python3-pil python3-onnx dataset-fashion-mnist
    /usr/bin/python3 tools/make_image_data.py

Written (deterministic; committed):
  png/test/c0..c9/*.png     the first 200 Fashion-MNIST test images, 1-channel
                            lossless PNG in ImageFolder layout (c0..c9 sort in
                            label order), and png/train/... the first 64
                            training images: eval on it must give exactly the
                            accuracy of the IDX files on the same images
  jpeg/c0..c2/*             3-channel JPEGs of odd sizes made from
                            Fashion-MNIST images, plus a grayscale JPEG, an
                            Adobe CMYK JPEG, a progressive 4:2:0 JPEG, an RGBA
                            PNG, a palette PNG and a 16-bit grayscale PNG
  jpeg_list.txt             the same files as a list file ("path label")
  ref_rgb_r40_c32.npy       float32 [N,3,32,32]: Resize(40), CenterCrop(32),
                            ToTensor, Normalize(MEAN, STD) on convert('RGB')
  ref_gray_r40_c32.npy      float32 [N,1,32,32]: the same on convert('L')
  ref_rgb_32x32.npy         float32 [N,3,32,32]: Resize((32, 32)), ToTensor
  ref_rgb_r24_c32.npy       float32 [N,3,32,32]: Resize(24), CenterCrop(32)
                            (zero padding: the crop is larger than the image)
  flat_rgb32.onnx, flat_gray32.onnx  Flatten models taking [N,3|1,32,32]:
                            their "logits" are the preprocessed pixels
  corrupt/c0, corrupt/c1    good images plus a truncated JPEG and a PNG with
                            garbage after its header
Files are in ImageFolder order (classes sorted, then names sorted), which is
also the order of the reference arrays.

The 16-bit PNG: PIL clips 16-bit gray at 255 when converting to 'L' or
'RGB'; qfd-onnx keeps the high byte (what PIL does for 16-bit RGB), so its
reference is torchvision's pipeline on the image reduced to its high byte.
"""
import gzip
import os

import numpy as np
import onnx
import torch
import torchvision.transforms as T
from onnx import TensorProto, helper
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "images")
FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def idx(name):
    with gzip.open(os.path.join(FMNIST, name)) as f:
        data = f.read()
    if "labels" in name:
        return np.frombuffer(data, np.uint8, offset=8)
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)


def png_folder():
    for split, prefix, n in (("test", "t10k", 200), ("train", "train", 64)):
        x, y = idx(prefix + "-images-idx3-ubyte.gz"), idx(prefix + "-labels-idx1-ubyte.gz")
        for i in range(n):
            d = os.path.join(ROOT, "png", split, "c%d" % y[i])
            os.makedirs(d, exist_ok=True)
            Image.fromarray(x[i], "L").save(os.path.join(d, "%05d.png" % i), optimize=True)


def colour(img28, k):
    """An RGB picture from a Fashion-MNIST image: a tint per channel."""
    a = img28.astype(np.float32) / 255.0
    tint = [(1.0, 0.6, 0.3), (0.3, 0.9, 0.5), (0.5, 0.4, 1.0)][k % 3]
    rgb = np.stack([a * t * 255.0 + 20.0 * ((k + c) % 2) for c, t in enumerate(tint)], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def jpeg_folder():
    x, y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    sizes = [(37, 53), (61, 45), (100, 77), (45, 45), (33, 71), (129, 97), (53, 37), (64, 31)]
    files = []  # (relative path, label)
    for i, (w, h) in enumerate(sizes):
        label = i % 3
        im = colour(x[i], i).resize((w, h), Image.BICUBIC)
        files.append(("c%d/rgb_%02d.jpg" % (label, i), label, im, dict(quality=90)))
    g = Image.fromarray(x[20], "L").resize((41, 59), Image.BICUBIC)
    files.append(("c0/gray.jpg", 0, g, dict(quality=92)))
    c = colour(x[21], 1).resize((47, 39), Image.BICUBIC).convert("CMYK")
    files.append(("c1/cmyk.jpg", 1, c, dict(quality=95)))
    pj = colour(x[25], 2).resize((67, 51), Image.BICUBIC)
    files.append(("c1/progressive.jpg", 1, pj, dict(quality=85, progressive=True, subsampling=2)))
    a = colour(x[22], 2).resize((35, 43), Image.BICUBIC).convert("RGBA")
    a.putalpha(Image.fromarray(np.tile(np.arange(35, dtype=np.uint8) * 7, (43, 1)), "L"))
    files.append(("c2/rgba.png", 2, a, {}))
    p = colour(x[23], 0).resize((39, 33), Image.BICUBIC).convert("P", palette=Image.ADAPTIVE, colors=64)
    files.append(("c2/palette.png", 2, p, {}))
    g16 = (x[24].astype(np.uint32) * 257 + np.arange(28, dtype=np.uint32)).astype(np.uint16)
    files.append(("c0/gray16.png", 0, Image.fromarray(g16, "I;16"), {}))
    for rel, label, im, kw in files:
        path = os.path.join(ROOT, "jpeg", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        im.save(path, **kw)
    # ImageFolder order: classes sorted, then file names sorted
    files.sort(key=lambda f: (f[1], f[0]))
    with open(os.path.join(ROOT, "jpeg_list.txt"), "w") as f:
        f.write("# path label: the jpeg/ folder as a list file\n")
        for rel, label, _, _ in files:
            f.write("jpeg/%s %d\n" % (rel, label))
    return [os.path.join(ROOT, "jpeg", rel) for rel, _, _, _ in files]


def opened(path, mode):
    im = Image.open(path)
    if im.mode in ("I;16", "I"):  # our documented rule: the high byte
        im = Image.fromarray((np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8), "L")
    return im.convert(mode)


def references(paths):
    norm = T.Normalize(MEAN, STD)
    cases = {
        "ref_rgb_r40_c32": ("RGB", T.Compose([T.Resize(40), T.CenterCrop(32), T.ToTensor(), norm])),
        "ref_gray_r40_c32": ("L", T.Compose([T.Resize(40), T.CenterCrop(32), T.ToTensor(), T.Normalize(0.5, 0.25)])),
        "ref_rgb_32x32": ("RGB", T.Compose([T.Resize((32, 32)), T.ToTensor()])),
        "ref_rgb_r24_c32": ("RGB", T.Compose([T.Resize(24), T.CenterCrop(32), T.ToTensor()])),
    }
    for name, (mode, tf) in cases.items():
        arr = torch.stack([tf(opened(p, mode)) for p in paths]).numpy().astype(np.float32)
        np.save(os.path.join(ROOT, name + ".npy"), arr)


def flat_model(name, c):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", c, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", c * 32 * 32])
    g = helper.make_graph([helper.make_node("Flatten", ["input"], ["logits"], axis=1)], "flat", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_image_data.py")
    m.ir_version = 7
    onnx.checker.check_model(m)
    with open(os.path.join(ROOT, name), "wb") as f:
        f.write(m.SerializeToString())


def corrupt_folder():
    x = idx("t10k-images-idx3-ubyte.gz")
    d0, d1 = os.path.join(ROOT, "corrupt", "c0"), os.path.join(ROOT, "corrupt", "c1")
    os.makedirs(d0, exist_ok=True)
    os.makedirs(d1, exist_ok=True)
    for i in range(3):
        colour(x[i], i).save(os.path.join(d0 if i < 2 else d1, "good_%d.png" % i))
    buf = os.path.join(d0, "truncated.jpg")
    colour(x[5], 0).resize((64, 64)).save(buf, quality=90)
    with open(buf, "rb") as f:
        data = f.read()
    with open(buf, "wb") as f:
        f.write(data[: len(data) // 2])
    good = os.path.join(d1, "good_2.png")
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(d1, "garbage.png"), "wb") as f:
        f.write(data[:33] + bytes((i * 37) % 256 for i in range(200)))


def main():
    torch.manual_seed(0)
    png_folder()
    references(jpeg_folder())
    flat_model("flat_rgb32.onnx", 3)
    flat_model("flat_gray32.onnx", 1)
    corrupt_folder()


if __name__ == "__main__":
    main()
