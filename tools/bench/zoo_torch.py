#!/usr/bin/python3
"""PyTorch side of tools/bench/zoo.sh: times one torchvision classifier
(the zoo's random weights, tools/make_zoo.py's imagenet_model) on the CPU.

    /usr/bin/python3 tools/bench/zoo_torch.py MODEL --mode infer --batch B --threads T [--runs R] [--input X.npy]
    /usr/bin/python3 tools/bench/zoo_torch.py MODEL --mode train --batch 16 --threads T [--steps S]
    /usr/bin/python3 tools/bench/zoo_torch.py MODEL --mode macs

infer: eval mode under torch.no_grad(), a random [B,3,H,W] batch (or the
  .npy given), one warm-up run, then R timed runs (default: as many as fit
  in about 3 s, at least 3; ort_time.js does the same).
train: train mode, SGD (lr 0.01, momentum 0.9, no weight decay),
  cross-entropy against random labels, one random batch used for every
  step; one warm-up step (the first step allocates the momentum buffers and
  oneDNN's caches, as qfd-onnx's first step plans), then S timed steps
  (default 3).
macs: the multiply-adds of one batch-1 forward, from PyTorch's profiler
  (with_flops: conv2d, mm, addmm, bmm, baddbmm; 2 FLOP per multiply-add;
  elementwise ops, pooling and normalization not counted). For the CNNs
  this equals a count over the exported ONNX graph's Conv and Gemm nodes;
  for vit_b_16 it also counts the attention matmuls.

Prints one JSON line: images_per_second, seconds_per_run (per step for
train), runs, rss_loaded_mb (RSS from /proc/self/statm once the model, the
data and the optimizer exist, before the first run), rss_peak_mb
(getrusage's ru_maxrss: the whole process, the interpreter and torch's
libraries included), torch's version; MB = 2^20 bytes. Debian's
python3-torch and python3-torchvision only: run with /usr/bin/python3.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_zoo  # noqa: E402

MACS_OPS = ("aten::conv2d", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def timed(fn, runs):
    """Warm-up, then `runs` calls (0: enough for about 3 s); (seconds per call, calls)."""
    fn()
    if not runs:
        t0 = time.perf_counter()
        fn()
        one = time.perf_counter() - t0
        runs = max(3, min(200, round(3.0 / max(one, 1e-6))))
    t0 = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - t0) / runs, runs


def count_macs(model, side):
    from torch.profiler import profile
    model.eval()
    x = torch.randn(1, 3, side, side)
    with torch.no_grad(), profile(with_flops=True) as p:
        model(x)
    return sum(e.flops for e in p.key_averages() if e.key in MACS_OPS and e.flops) // 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a torchvision classifier name (resnet18, vit_b_16, ...)")
    ap.add_argument("--mode", choices=("infer", "train", "macs"), default="infer")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=0, help="infer: timed runs (0: about 3 s)")
    ap.add_argument("--steps", type=int, default=3, help="train: timed steps after the warm-up step")
    ap.add_argument("--input", help="infer: this .npy as the batch instead of a random one")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model, gen, side = make_zoo.imagenet_model(a.model)
    if a.mode == "macs":
        print(json.dumps({"model": a.model, "macs_per_image": count_macs(model, side)}))
        return
    if a.input:
        x = torch.from_numpy(np.load(a.input).astype(np.float32))
    else:
        x = torch.randn(a.batch, 3, side, side, generator=gen)
    batch = x.shape[0]
    if a.mode == "infer":
        model.eval()
        loaded = rss_mb()

        def run():
            with torch.no_grad():
                model(x)
        sec, runs = timed(run, a.runs)
    else:
        model.train()
        y = torch.randint(0, 1000, (batch,), generator=gen)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loaded = rss_mb()

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        sec, runs = timed(step, max(1, a.steps))
    print(json.dumps({
        "model": a.model, "mode": a.mode, "batch": batch, "threads": a.threads,
        "images_per_second": round(batch / sec, 3), "seconds_per_run": round(sec, 5), "runs": runs,
        "rss_loaded_mb": round(loaded, 1), "rss_peak_mb": round(peak_mb(), 1), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
