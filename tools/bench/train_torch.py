#!/usr/bin/python3
"""PyTorch side of tools/bench/train.sh: one FP32 training epoch of the same
ResNet-20 (tools/make_models.py) on the first N Fashion-MNIST training
images, with the same batch, threads, optimizer and augmentation as
`qfd-onnx train`. Prints one JSON line: images, seconds, images_per_second,
peak_rss_mib. Debian's python3-torch only: run with /usr/bin/python3.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_models as mm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x, y = mm.load_split("train")
    x, y = mm.normalize(x[: a.limit]), torch.from_numpy(y[: a.limit])
    model = mm.ResNet20()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(1)
    # one warm-up step, as qfd-onnx plans its buffers on the first batch
    xb = mm.augment(x[: a.batch], gen)
    F.cross_entropy(model(xb), y[: a.batch]).backward()
    opt.zero_grad(set_to_none=True)
    t0 = time.time()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), a.batch):
        idx = perm[i:i + a.batch]
        xb = mm.augment(x[idx], gen)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sec = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"images": len(x), "seconds": sec, "images_per_second": len(x) / sec, "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
