#!/usr/bin/python3
"""Record what PyTorch does in 4 SGD steps, as a step-by-step oracle for qfd-onnx train.

Dependencies (Debian 12 packages only, no PyPI):

    apt-get install -y python3-torch python3-onnx python3-numpy

Run with Debian's interpreter (not a pyenv/venv python), from anywhere:

    /usr/bin/python3 tools/make_train_reference.py                      # both models
    /usr/bin/python3 tools/make_train_reference.py --only cnn_bn         # one model

Outputs, for <name> in cnn_bn, transformer_block, new_ops (see tests/data/train/README.md):

    tests/data/train/<name>/model.onnx        the model BEFORE training (torch.manual_seed(0)
                                              init), eval mode, every parameter and BatchNorm
                                              buffer an initializer named as in state_dict
    tests/data/train/<name>/x_<k>.npy         batch k = 0..3, float32
    tests/data/train/<name>/y_<k>.npy         its labels, int64 in 0..4
    tests/data/train/<name>/losses.npy        float32 [4]: the loss of step k, computed in
                                              the forward pass of step k (before its update)
    tests/data/train/<name>/after.npz         every state_dict entry after the 4 steps
                                              (parameters, BatchNorm running_mean/var;
                                              not num_batches_tracked), float32

Training: model.train(); per step zero_grad, cross-entropy (mean over the batch),
backward, step; torch.optim.SGD(lr 0.05, momentum 0.9, dampening 0, nesterov False)
with two groups: weight_decay 5e-4 for tensors of rank >= 2, 0 for rank <= 1.

Export notes (torch 1.13): torch.onnx.export with training=TrainingMode.EVAL runs an
"eval peephole" that folds BatchNormalization into the preceding Conv (the BN
parameters and buffers disappear and conv weights change), and, for a model in eval
mode, deduplicates initializers with equal VALUES (BatchNorm/LayerNorm weight = ones
= running_var, bias = zeros = running_mean at init), replacing the duplicates by
Identity nodes. So this script exports with training=TrainingMode.PRESERVE on a model
in eval mode (same eval-mode graph: BatchNormalization with one output, no Dropout,
but no folding), then turns each Identity(initializer) whose output is a state_dict
name back into an initializer of that name, and checks that every state_dict entry
is an initializer with the same name and value.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "data", "train")
STEPS = 4
BATCH = 6
NUM_CLASSES = 5
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
DATA_SEED = 1234


class CnnBn(nn.Module):
    """Conv-BN-ReLU-MaxPool, Conv(stride 2)-BN-ReLU, global average pool, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1, stride=2)
        self.bn2 = nn.BatchNorm2d(8)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, NUM_CLASSES)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(self.flatten(self.gap(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with hand-written 2-head attention, exact-erf
    GELU MLP, mean over tokens and a Linear classifier."""

    def __init__(self, dim=16, heads=2, hidden=32):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.ln1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()                    # approximate="none": exact erf
        self.fc2 = nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, NUM_CLASSES)

    def attention(self, x):
        b, t, d = x.shape
        q = self.q(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)  # [B,H,T,hd]
        k = self.k(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        out = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        x = x + self.fc2(self.act(self.fc1(self.ln2(x))))
        return self.head(x.mean(dim=1))


class NewOps(nn.Module):
    """Issue 16's trainable ops as PyTorch exports them: InstanceNorm2d
    (InstanceNormalization), PixelShuffle (DepthToSpace CRD), einsum
    attention, tril (Trilu), repeat (Tile), cumsum (CumSum), topk (TopK)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.shuffle = nn.PixelShuffle(2)
        self.conv2 = nn.Conv2d(2, 6, 4, stride=4)
        self.fc = nn.Linear(3 * 6, NUM_CLASSES)

    def forward(self, x):
        x = torch.tanh(self.inorm(self.conv1(x)))      # [N, 8, 8, 8]
        x = self.conv2(self.shuffle(x))                # [N, 6, 4, 4]
        t = x.flatten(2).transpose(1, 2)               # [N, 16 tokens, 6]
        s = torch.tril(torch.einsum("bqd,bkd->bqk", t, t)) / 6 ** 0.5
        t = torch.einsum("bqk,bkd->bqd", s.softmax(-1), t)
        t = torch.cumsum(t.repeat(1, 2, 1), dim=1) / 32
        v, _ = t.topk(3, dim=1)                        # [N, 3, 6]
        return self.fc(v.flatten(1))


# name -> (constructor, opset, shape of one input batch)
MODELS = {
    "cnn_bn": (CnnBn, 13, (BATCH, 1, 8, 8)),
    "transformer_block": (TransformerBlock, 17, (BATCH, 5, 16)),
    "new_ops": (NewOps, 14, (BATCH, 1, 8, 8)),
}


def export(model, x, path, opset):
    """Export the eval-mode model with state_dict names kept (see the docstring)."""
    model.eval()
    torch.onnx.export(model, x, path, opset_version=opset,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, keep_initializers_as_inputs=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    inits = {t.name: t for t in m.graph.initializer}
    restored = []
    for node in list(m.graph.node):
        if (node.op_type == "Identity" and node.input[0] in inits
                and node.output[0] in state and node.output[0] not in inits):
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            m.graph.initializer.append(t)
            m.graph.node.remove(node)
            restored.append(f"{node.output[0]} (was Identity of {node.input[0]})")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)

    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    bad = [k for k, v in state.items()
           if k not in inits or not np.array_equal(inits[k], v.detach().numpy())]
    if bad:
        raise SystemExit(f"{path}: state_dict entries not initializers of the same name/value: {bad}")
    extra = sorted(set(inits) - set(state))
    return restored, extra


def make_one(name, out_root):
    make, opset, shape = MODELS[name]
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)

    torch.manual_seed(0)
    model = make()
    gen = torch.Generator().manual_seed(DATA_SEED)
    xs = [torch.randn(*shape, generator=gen) for _ in range(STEPS)]
    ys = [torch.randint(0, NUM_CLASSES, (shape[0],), generator=gen) for _ in range(STEPS)]

    restored, extra = export(model, xs[0], os.path.join(out, "model.onnx"), opset)
    for k in range(STEPS):
        np.save(os.path.join(out, f"x_{k}.npy"), xs[k].numpy().astype(np.float32))
        np.save(os.path.join(out, f"y_{k}.npy"), ys[k].numpy().astype(np.int64))

    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=LR, momentum=MOMENTUM, nesterov=False)
    model.train()
    losses = []
    for k in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[k]), ys[k])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.save(os.path.join(out, "losses.npy"), np.array(losses, dtype=np.float32))
    after = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    np.savez(os.path.join(out, "after.npz"), **after)

    ops = sorted({n.op_type for n in onnx.load(os.path.join(out, "model.onnx")).graph.node})
    print(f"{name}: opset {opset}, {len(after)} state_dict entries, losses "
          f"{' '.join(f'{v:.6f}' for v in losses)}")
    print(f"  ops: {' '.join(ops)}")
    if restored:
        print(f"  restored {len(restored)} deduplicated initializers: {', '.join(restored)}")
    if extra:
        print(f"  initializers not in state_dict: {', '.join(extra)}")


def make_torchvision(name, out, opset=13, batch=4, steps=1):
    """The same record for a torchvision classifier at ImageNet size (tools/zoo_train_check.sh):
    default init from torch.manual_seed(0) (an all-zero weight matrix drawn from N(0, 0.02)
    instead), 1000 classes, Dropout set to p = 0 (a random mask cannot be matched), `steps`
    SGD steps on batches of `batch`."""
    import torchvision
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    with torch.no_grad():  # ViT's head starts at zero, which would leave the whole body without a gradient
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, 0.02)
    side = 299 if name == "inception_v3" else 224
    gen = torch.Generator().manual_seed(DATA_SEED)
    xs = [torch.randn(batch, 3, side, side, generator=gen) for _ in range(steps)]
    ys = [torch.randint(0, 1000, (batch,), generator=gen) for _ in range(steps)]
    export(model, xs[0], os.path.join(out, "model.onnx"), opset)
    for k in range(steps):
        np.save(os.path.join(out, f"x_{k}.npy"), xs[k].numpy().astype(np.float32))
        np.save(os.path.join(out, f"y_{k}.npy"), ys[k].numpy().astype(np.int64))
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=LR, momentum=MOMENTUM, nesterov=False)
    model.train()
    losses = []
    for k in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[k]), ys[k])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.save(os.path.join(out, "losses.npy"), np.array(losses, dtype=np.float32))
    after = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    np.savez(os.path.join(out, "after.npz"), **after)
    print(f"{name}: opset {opset}, batch {batch}, {steps} step(s), losses "
          f"{' '.join(f'{v:.6f}' for v in losses)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(MODELS), action="append", help="one model (repeatable)")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default tests/data/train)")
    ap.add_argument("--torchvision", metavar="NAME",
                    help="record one SGD step of this torchvision classifier (batch 4) into --out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.torchvision:
        make_torchvision(args.torchvision, args.out)
        return 0
    for name in args.only or MODELS:
        make_one(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
