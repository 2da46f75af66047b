#!/usr/bin/python3
"""Writes a held-out split of Fashion-MNIST's training set as an IDX folder
that `--data` reads: its train files hold the first N-H training images, its
t10k files the last H. Settings (learning rates, lambda, teacher bits) are
chosen on this split, never on the test set (docs/results.md).

    tools/make_holdout.py OUT_DIR [--holdout 5000] [--src /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import os
import struct
import sys


def read(path, magic):
    with gzip.open(path) as f:
        data = f.read()
    if struct.unpack(">I", data[:4])[0] != magic:
        sys.exit(f"{path}: not an IDX file with magic {magic:#x}")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--holdout", type=int, default=5000)
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    images = read(os.path.join(a.src, "train-images-idx3-ubyte.gz"), 0x803)
    labels = read(os.path.join(a.src, "train-labels-idx1-ubyte.gz"), 0x801)
    n, rows, cols = struct.unpack(">III", images[4:16])
    if not 0 < a.holdout < n or struct.unpack(">I", labels[4:8])[0] != n:
        sys.exit(f"--holdout must be in (0, {n}) and the label file must hold {n} labels")
    px = rows * cols
    os.makedirs(a.out, exist_ok=True)

    def write(name, header, body):
        tmp = os.path.join(a.out, name + ".tmp")
        with gzip.open(tmp, "wb") as f:
            f.write(header + body)
        os.replace(tmp, os.path.join(a.out, name))

    for prefix, lo, hi in (("train", 0, n - a.holdout), ("t10k", n - a.holdout, n)):
        write(f"{prefix}-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, hi - lo, rows, cols),
              images[16 + lo * px:16 + hi * px])
        write(f"{prefix}-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, hi - lo), labels[8 + lo:8 + hi])
    print(f"{a.out}: {n - a.holdout} training and {a.holdout} held-out images")


if __name__ == "__main__":
    main()
