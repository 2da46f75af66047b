#!/usr/bin/python3
"""Train and export the FP32 reference models bundled with qfd-onnx.

Dependencies (Debian 12 packages only, no PyPI):

    apt-get install -y python3-torch python3-torchvision python3-onnx \
        python3-numpy dataset-fashion-mnist

Run with Debian's interpreter (not a pyenv/venv python):

    /usr/bin/python3 tools/make_models.py                 # all three models
    /usr/bin/python3 tools/make_models.py --only resnet20 # one model
    /usr/bin/python3 tools/make_models.py --only vit --epochs 8

Outputs (paths relative to the repository root):

    models/<name>.onnx                      FP32 model, input "input" [N,1,28,28],
                                            output "logits" [N,10], dynamic batch
    tests/data/<name>/input.npy             first 16 test images, normalized, float32
    tests/data/<name>/labels.npy            their labels, int64
    tests/data/<name>/logits.npy            PyTorch eval-mode logits, float32
    tests/data/<name>/test_data_set_0/      same, ONNX backend-test layout
                                            (input_0.pb / output_0.pb)

The data are read from /usr/share/datasets/fashion-mnist (gz IDX files of the
Debian package dataset-fashion-mnist). Everything is seeded (torch, numpy, a
dedicated torch.Generator for shuffling and augmentation), deterministic
algorithms are enforced and the CPU thread count is fixed per model (SPECS),
so a rerun on the same torch build reproduces the same training trajectory.

Pixels are scaled to [0,1] and normalized with the training-set mean/std; the
values are stored in each model's metadata_props as qfd.mean / qfd.std, with
qfd.dataset = "fashion-mnist".
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
SEED = 20261127

# Normalization of pixels scaled to [0,1]; these are the Fashion-MNIST
# training-set statistics rounded to 4 decimals (recomputed and checked below).
MEAN = 0.2860
STD = 0.3530


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_split(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    return x, y.astype(np.int64)


def normalize(x_uint8):
    x = torch.from_numpy(x_uint8.astype(np.float32) / 255.0)
    x = (x - MEAN) / STD
    return x.unsqueeze(1).contiguous()  # N,1,28,28


def augment(xb, gen, pad=2, flip=True):
    """Random crop with zero padding (in normalized space: pad value = the
    normalized value of a black pixel) + random horizontal flip."""
    n, c, h, w = xb.shape
    black = (0.0 - MEAN) / STD
    padded = F.pad(xb, (pad, pad, pad, pad), value=black)
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    out = torch.empty_like(xb)
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            m = (offs[:, 0] == dy) & (offs[:, 1] == dx)
            if m.any():
                out[m] = padded[m, :, dy:dy + h, dx:dx + w]
    if flip:
        f = torch.rand(n, generator=gen) < 0.5
        out[f] = out[f].flip(3)
    return out


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:  # option B: 1x1 conv + BN projection
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (He et al. 2016, sec. 4.2), 1 input channel."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = self.pool(x).flatten(1)
        return self.fc(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_res else y


class MobileNetV2Small(nn.Module):
    """A reduced MobileNetV2 for 28x28 inputs.
    stem 3x3 conv 16 -> [t, c, n, s]: (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,2,1)
    -> 1x1 conv 256 -> GAP -> Linear(256,10)."""

    CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 1))

    def __init__(self, num_classes=10, last=256):
        super().__init__()
        layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True)]
        cin = 16
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(last, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x).flatten(1)
        return self.fc(self.dropout(x))


class Attention(nn.Module):
    """Multi-head self-attention written with plain matmul/softmax so the ONNX
    graph shows MatMul / Softmax / Transpose / Reshape."""

    def __init__(self, dim, heads, ntok):
        super().__init__()
        self.ntok = ntok  # fixed token count: reshapes get constant shapes
        self.dim = dim
        self.heads = heads
        self.hd = dim // heads
        self.scale = self.hd ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        # batch stays dynamic through the -1; everything else is static
        qkv = self.qkv(x).reshape(-1, self.ntok, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]              # b, h, n, hd
        att = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        att = torch.softmax(att, dim=-1)
        out = torch.matmul(att, v)                   # b, h, n, hd
        out = out.transpose(1, 2).reshape(-1, self.ntok, self.dim)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, ntok):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, ntok)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(),
                                 nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class TinyViT(nn.Module):
    """Patch 4x4 (7x7 = 49 tokens), width 64, depth 4, 4 heads, MLP ratio 2,
    pre-norm, learnable position embedding, mean-pooled head."""

    def __init__(self, num_classes=10, patch=4, dim=64, depth=4, heads=4, mlp_ratio=2):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, patch)
        ntok = (28 // patch) ** 2
        self.dim, self.ntok = dim, ntok
        self.pos = nn.Parameter(torch.zeros(1, ntok, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, ntok) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch(x).reshape(-1, self.dim, self.ntok).transpose(1, 2)  # b, 49, dim
        x = x + self.pos
        x = self.blocks(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)


# name -> constructor, opset, default epochs / threads, optimizer settings.
# The defaults are the settings that produced the committed models (see
# models/README.md); the thread count is part of the recipe because it changes
# the floating-point summation order of the CPU kernels.
SPECS = {
    "resnet20": dict(make=ResNet20, opset=13, epochs=10, threads=2, opt="sgd", lr=0.15, wd=5e-4,
                     batch=128, flip=True),
    "mobilenetv2": dict(make=MobileNetV2Small, opset=13, epochs=3, threads=2, opt="sgd", lr=0.1,
                        wd=4e-5, batch=128, flip=True),
    "vit": dict(make=TinyViT, opset=17, epochs=3, threads=2, opt="adamw", lr=2e-3, wd=0.05,
                batch=128, flip=True),
}


# --------------------------------------------------------------------------
# training / evaluation
# --------------------------------------------------------------------------

def set_seeds(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def make_optimizer(model, spec):
    if spec["opt"] == "sgd":
        decay, no_decay = [], []
        for n_, p in model.named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)
        return torch.optim.SGD([{"params": decay, "weight_decay": spec["wd"]},
                                {"params": no_decay, "weight_decay": 0.0}],
                               lr=spec["lr"], momentum=0.9, nesterov=True)
    decay, no_decay = [], []
    for n_, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or n_ == "pos" else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": spec["wd"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=spec["lr"], betas=(0.9, 0.999))


def lr_at(step, total, peak, warmup_frac=0.15):
    """Linear warm-up to `peak`, then cosine decay to 0."""
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * t))


def train(name, spec, xtr, ytr, xte, yte, epochs, log):
    set_seeds(SEED)
    model = spec["make"]()
    opt = make_optimizer(model, spec)
    gen = torch.Generator().manual_seed(SEED)
    n = len(xtr)
    bs = spec["batch"]
    steps_per_epoch = n // bs  # drop last partial batch
    total = steps_per_epoch * epochs
    step = 0
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        te = time.time()
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            xb = augment(xtr[idx], gen, flip=spec["flip"])
            yb = ytr[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, spec["lr"])
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
            if i % 100 == 0:
                log(f"  [{name}] epoch {ep + 1}/{epochs} step {i}/{steps_per_epoch} "
                    f"loss {loss.item():.4f} {time.time() - te:.1f}s")
        acc = evaluate(model, xte, yte)
        log(f"[{name}] epoch {ep + 1}/{epochs} loss {loss_sum / steps_per_epoch:.4f} "
            f"test_acc {acc:.4f} epoch_time {time.time() - te:.1f}s total {time.time() - t0:.1f}s")
    train_time = time.time() - t0
    model.eval()
    return model, train_time


def export(name, model, opset, path):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, dummy, path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        do_constant_folding=True,
        # PRESERVE on a model in eval mode: inference-mode BatchNormalization
        # nodes stay in the graph. TrainingMode.EVAL runs torch's eval
        # peephole pass, which folds every BN into the preceding Conv.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    m = onnx.load(path)
    inline_identity_initializers(m)
    for k, v in (("qfd.mean", f"{MEAN:.4f}"), ("qfd.std", f"{STD:.4f}"),
                 ("qfd.dataset", "fashion-mnist")):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = f"qfd-onnx bundled FP32 {name}, trained on Fashion-MNIST by tools/make_models.py"
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return m


def inline_identity_initializers(m):
    """torch's exporter deduplicates initializers with identical contents and
    re-creates the duplicates with Identity nodes; give each consumer its own
    initializer again so the graph holds no Identity nodes on weights."""
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            g.initializer.append(t)
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)


def write_vectors(root, name, model, xte, yte, n=16):
    d = os.path.join(root, "tests", "data", name)
    ds = os.path.join(d, "test_data_set_0")
    os.makedirs(ds, exist_ok=True)
    x = xte[:n].contiguous()
    y = yte[:n]
    with torch.no_grad():
        logits = model.eval()(x)
    xn = x.numpy().astype(np.float32)
    ln = logits.numpy().astype(np.float32)
    np.save(os.path.join(d, "input.npy"), xn)
    np.save(os.path.join(d, "labels.npy"), y.numpy().astype(np.int64))
    np.save(os.path.join(d, "logits.npy"), ln)
    with open(os.path.join(ds, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(xn, "input").SerializeToString())
    with open(os.path.join(ds, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(ln, "logits").SerializeToString())


def op_histogram(m):
    h = {}
    for node in m.graph.node:
        h[node.op_type] = h.get(node.op_type, 0) + 1
    return dict(sorted(h.items(), key=lambda kv: (-kv[1], kv[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(SPECS), action="append",
                    help="build only this model (repeatable)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the number of epochs (default: per-model value)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: the per-model value in SPECS)")
    ap.add_argument("--log", default=None, help="also append log lines to this file")
    ap.add_argument("--outdir", default=ROOT,
                    help="write models/ and tests/data/ under this directory "
                         "(default: the repository root; use another one to check a rerun)")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)

    def log(msg):
        print(msg, flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(msg + "\n")

    xtr_u8, ytr_np = load_split("train")
    xte_u8, yte_np = load_split("test")
    px = xtr_u8.astype(np.float64) / 255.0
    mean, std = px.mean(), px.std()
    log(f"train-set pixel mean {mean:.5f} std {std:.5f} (using {MEAN} / {STD})")
    assert abs(mean - MEAN) < 5e-4 and abs(std - STD) < 5e-4
    xtr, ytr = normalize(xtr_u8), torch.from_numpy(ytr_np)
    xte, yte = normalize(xte_u8), torch.from_numpy(yte_np)
    log(f"torch {torch.__version__} onnx {onnx.__version__} numpy {np.__version__}")

    names = args.only or list(SPECS)
    summary = {}
    for name in names:
        spec = SPECS[name]
        epochs = args.epochs or spec["epochs"]
        threads = args.threads or spec["threads"]
        torch.set_num_threads(threads)
        log(f"[{name}] epochs {epochs} threads {torch.get_num_threads()} seed {SEED}")
        model, ttime = train(name, spec, xtr, ytr, xte, yte, epochs, log)
        acc = evaluate(model, xte, yte)
        nparams = sum(p.numel() for p in model.parameters())
        path = os.path.join(args.outdir, "models", f"{name}.onnx")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        m = export(name, model, spec["opset"], path)
        write_vectors(args.outdir, name, model, xte, yte)
        summary[name] = dict(params=nparams, epochs=epochs, threads=threads,
                             train_seconds=round(ttime, 1),
                             torch_top1=acc, opset=spec["opset"],
                             bytes=os.path.getsize(path), ops=op_histogram(m))
        log(json.dumps({name: summary[name]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
