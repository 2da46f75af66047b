#!/usr/bin/python3
"""Export a zoo of small, randomly initialised PyTorch classifiers to ONNX.

The zoo checks that qfd-onnx runs what a new user gets from a plain
torch.onnx.export call: torchvision building blocks, nn.MultiheadAttention,
x.view(x.size(0), -1) heads, torch.matmul classifiers, dynamic batch, several
opsets. Nothing is trained; the weights (and BatchNorm running statistics,
which are randomised so that BatchNorm is not an identity) come from fixed
seeds, so a rerun gives the same files.

Dependencies (Debian 12 packages only, no PyPI):

    apt-get install -y python3-torch python3-torchvision python3-onnx python3-numpy

Run with Debian's interpreter (not a pyenv/venv python), from anywhere:

    /usr/bin/python3 tools/make_zoo.py                  # every model
    /usr/bin/python3 tools/make_zoo.py --only vit_like  # one model

Outputs (paths relative to the repository root), for each <name> below:

    tests/data/zoo/<name>/model.onnx   input "input" [N,C,H,W], output "logits" [N,10],
                                       dynamic batch (dynamic_axes)
    tests/data/zoo/<name>/input.npy    a fixed random batch of 3, float32
    tests/data/zoo/<name>/logits.npy   PyTorch eval-mode logits for it, float32

    name            opset  input          what it exercises
    vgg_like        11     [3,3,32,32]    Conv-BN-ReLU x4, MaxPool, Flatten, Gemm head
    resnet_like     13     [3,3,32,32]    torchvision BasicBlock ResNet [1,1,1,1], widths 8..64
    densenet_like   12     [3,3,32,32]    torchvision DenseNet, 2 blocks x 3 layers, growth 8
    mobilenet_like  13     [3,3,64,64]    torchvision MobileNetV3-small, width 0.25, reduced tail
    vit_like        14     [3,3,32,32]    TransformerEncoderLayer (batch_first), class token
    reshape_head    16     [3,3,32,32]    x.view(x.size(0), -1) + Linear
    matmul_head     15     [3,3,32,32]    torch.matmul(x, W) + b with Parameters
    lenet_gray      11     [3,1,28,28]    LeNet-5: AvgPool, Tanh, Sigmoid
    upsample_net    10     [3,3,32,32]    F.pad, ReLU6, nearest upsampling, mean, torch.split: Pad/Clip
                                          attributes, Resize-10, ReduceMean and Split attributes
    attention_11    11     [3,3,32,32]    hand-written attention at opset 11: Softmax on 4-D scores,
                                          chunk (Split), unsqueeze/squeeze, sum and mean over tokens,
                                          log_softmax output
    swin_like       14     [3,3,32,32]    torchvision SwinTransformer, embed 16, depths [2], window 2:
                                          shifted-window masks (Mod, Range, ScatterND)
    new_ops         14     [3,3,32,32]    InstanceNorm, PixelShuffle (DepthToSpace), einsum
                                          attention, tril (Trilu), repeat (Tile), cumsum, topk

ImageNet-size mode (--imagenet): the torchvision 0.14 classifiers themselves,
1000 classes, random weights from fixed seeds (BatchNorm statistics
randomised as above), exported with a plain torch.onnx.export at an opset
from 13 to 17 each (spread over the list, --opset to force one), into a
cache folder outside git: $QFD_ZOO_CACHE, else ~/.cache/qfd-onnx/zoo.

    /usr/bin/python3 tools/make_zoo.py --imagenet               # the default list
    /usr/bin/python3 tools/make_zoo.py --imagenet --all         # every variant
    /usr/bin/python3 tools/make_zoo.py --imagenet --only swin_t # one (repeatable)

    <cache>/<name>/model.onnx   input "input" [N,3,224,224] (299 for inception_v3),
                                output "logits" [N,1000], dynamic batch
    <cache>/<name>/input.npy    a fixed random batch of 1, float32
    <cache>/<name>/logits.npy   PyTorch eval-mode logits for it, float32

tools/zoo_check.sh runs them through qfd-onnx and compares; it calls this
script for the models that are missing from the cache.

Each model is checked with onnx.checker after export. tests/CMakeLists.txt
runs every model through `qfd-onnx run` and compares with logits.npy
(rtol 1e-4, atol 1e-5): ctest -L zoo.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, conv1x1

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "data", "zoo")
SEED = 20261127
NUM_CLASSES = 10
BATCH = 3


# ---- models -----------------------------------------------------------------

def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class VGGLike(nn.Module):
    """Conv-BN-ReLU x4 with MaxPool, nn.Flatten, Linear-ReLU-Dropout-Linear."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_relu(3, 16), *conv_bn_relu(16, 16), nn.MaxPool2d(2),
            *conv_bn_relu(16, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 8 * 8, 32), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class ResNetLike(nn.Module):
    """torchvision.models.ResNet (stem, BasicBlock layers [1,1,1,1], avgpool,
    torch.flatten, fc) with widths 8/16/32/64 instead of 64/128/256/512.

    torchvision's ResNet class hard-codes the widths, so this copies its
    _make_layer/forward and reuses its BasicBlock and conv1x1.
    """

    def __init__(self, widths=(8, 16, 32, 64), layers=(1, 1, 1, 1), num_classes=NUM_CLASSES):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(widths[0], layers[0])
        self.layer2 = self._make_layer(widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * BasicBlock.expansion, stride),
                                       nn.BatchNorm2d(planes * BasicBlock.expansion))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def densenet_like():
    """torchvision.models.DenseNet: 2 dense blocks of 3 layers, growth 8, one
    transition (BN-ReLU-Conv1x1-AvgPool) between them."""
    return torchvision.models.DenseNet(growth_rate=8, block_config=(3, 3), num_init_features=16,
                                       bn_size=4, drop_rate=0.0, num_classes=NUM_CLASSES)


def mobilenet_like():
    """torchvision MobileNetV3-small at width 0.25 (Hardswish, Hardsigmoid,
    squeeze-excitation); reduced_tail halves the last stage so the file stays
    under 400 KB (120k parameters without it, 62k with)."""
    model = torchvision.models.mobilenet_v3_small(width_mult=0.25, reduced_tail=True,
                                                  num_classes=NUM_CLASSES)
    # torchvision initialises the classifier with std 0.01 and zero bias, which
    # gives logits of about 1e-3, below what atol 1e-5 can check well; nn.Linear's
    # own default initialisation gives logits of order 0.1.
    for m in model.classifier:
        if isinstance(m, nn.Linear):
            m.reset_parameters()
    return model


class ViTLike(nn.Module):
    """Tiny ViT the usual way: Conv patch embedding, class token, learned
    position embedding, nn.TransformerEncoder (batch_first), LayerNorm, a
    Linear head applied to every token (MatMul+Add on a 3-D tensor), then
    the class token's logits."""

    def __init__(self, num_classes=NUM_CLASSES, patch=4, dim=32, depth=2, heads=4, mlp=64, img=32):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        ntok = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, ntok + 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model=dim, nhead=heads, dim_feedforward=mlp, dropout=0.1,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)        # [N, T, D]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.norm(self.encoder(x))
        return self.head(x)[:, 0]


class ReshapeHead(nn.Module):
    """A small CNN with the classic x.view(x.size(0), -1) head."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 8 * 8, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class MatMulHead(nn.Module):
    """A small CNN whose classifier is torch.matmul(x, W) + b with Parameters."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.W = nn.Parameter(torch.randn(16 * 8 * 8, num_classes) * 0.03)
        self.b = nn.Parameter(torch.randn(num_classes) * 0.1)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = torch.flatten(x, 1)
        return torch.matmul(x, self.W) + self.b


class LeNetGray(nn.Module):
    """LeNet-5 on 28x28 grey images: Tanh, AvgPool, Sigmoid."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.pool(torch.tanh(self.conv1(x)))
        x = self.pool(torch.tanh(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.sigmoid(self.fc2(x))
        return self.fc3(x)


class UpsampleNet(nn.Module):
    """Old-opset CNN ops whose attributes became inputs: F.pad with a value,
    ReLU6 (Clip), nearest upsampling (Resize-10), a mean over H and W
    (ReduceMean axes) and torch.split (Split sizes)."""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = F.pad(x, (1, 0, 1, 0), value=0.5)
        x = F.relu6(self.bn1(self.conv1(x)))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv2(x)
        a, b = torch.split(x, [8, 4], dim=1)
        x = a * torch.sigmoid(b.mean(dim=1, keepdim=True))
        return self.fc(x.mean(dim=(2, 3)))


class Attention11(nn.Module):
    """Attention written out by hand, exported at opset 11, where Softmax
    still flattened its input, Split took sizes, Squeeze/Unsqueeze and
    ReduceSum/ReduceMean took axes as attributes."""

    def __init__(self, num_classes=NUM_CLASSES, dim=16, heads=2, patch=8):
        super().__init__()
        self.heads = heads
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)              # [N, T, D]
        n, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (z.reshape(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.proj(y)
        w = torch.softmax(x.sum(dim=-1), dim=1).unsqueeze(-1)    # a weight per token
        pooled = (x * w).sum(dim=1) + x.mean(dim=1)
        return F.log_softmax(self.fc(pooled.unsqueeze(1)).squeeze(1), dim=1)


# name -> (constructor, opset, input shape)
ZOO = {
    "vgg_like": (VGGLike, 11, (BATCH, 3, 32, 32)),
    "resnet_like": (ResNetLike, 13, (BATCH, 3, 32, 32)),
    "densenet_like": (densenet_like, 12, (BATCH, 3, 32, 32)),
    "mobilenet_like": (mobilenet_like, 13, (BATCH, 3, 64, 64)),
    "vit_like": (ViTLike, 14, (BATCH, 3, 32, 32)),
    "reshape_head": (ReshapeHead, 16, (BATCH, 3, 32, 32)),
    "matmul_head": (MatMulHead, 15, (BATCH, 3, 32, 32)),
    "lenet_gray": (LeNetGray, 11, (BATCH, 1, 28, 28)),
    "upsample_net": (UpsampleNet, 10, (BATCH, 3, 32, 32)),
    "attention_11": (Attention11, 11, (BATCH, 3, 32, 32)),
}


def swin_like():
    """torchvision's Swin Transformer, tiny: shifted windows, whose attention
    mask the export builds with Mod, Range and ScatterND."""
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2], num_heads=[2],
                           window_size=[2, 2], num_classes=NUM_CLASSES)


class NewOpsNet(nn.Module):
    """The ops issue 16 added, as PyTorch exports them: InstanceNorm2d
    (InstanceNormalization), PixelShuffle (DepthToSpace CRD), torch.einsum,
    torch.tril (Trilu), repeat (Tile), torch.cumsum, topk. (LocalResponseNorm
    is exported as Pad/AveragePool arithmetic under an If, not as LRN.)"""

    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.inorm = nn.InstanceNorm2d(16, affine=True)
        self.shuffle = nn.PixelShuffle(2)
        self.conv2 = nn.Conv2d(4, 8, 4, stride=4)
        self.fc = nn.Linear(4 * 8, num_classes)

    def forward(self, x):
        x = F.relu(self.inorm(self.conv1(x)))              # [N, 16, 16, 16]
        x = self.conv2(self.shuffle(x))                    # [N, 8, 8, 8]
        t = F.avg_pool2d(x, 2).flatten(2).transpose(1, 2)  # [N, 16 tokens, 8]
        s = torch.tril(torch.einsum("bqd,bkd->bqk", t, t)) / 8 ** 0.5
        t = torch.einsum("bqk,bkd->bqd", s.softmax(-1), t)
        t = torch.cumsum(t.repeat(1, 2, 1), dim=1) / 32    # [N, 32, 8]
        v, _ = t.topk(4, dim=1)                            # [N, 4, 8]
        return self.fc(v.flatten(1))


ZOO["swin_like"] = (swin_like, 14, (BATCH, 3, 32, 32))
ZOO["new_ops"] = (NewOpsNet, 14, (BATCH, 3, 32, 32))


# ---- making the files ---------------------------------------------------------

def randomize_batchnorm(model, gen):
    """Give every BatchNorm non-trivial affine parameters and running
    statistics, as a trained model would have."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(1.0 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def make_one(name, out_root):
    make, opset, shape = ZOO[name]
    torch.manual_seed(SEED)
    model = make()
    gen = torch.Generator().manual_seed(SEED + 1)
    randomize_batchnorm(model, gen)
    model.eval()
    x = torch.randn(*shape, generator=gen)
    with torch.no_grad():
        logits = model(x)

    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, x, path, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    np.save(os.path.join(out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "logits.npy"), logits.numpy().astype(np.float32))

    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    size = os.path.getsize(path)
    print(f"{name:15s} opset {opset:2d}  {size / 1024:6.1f} KB  logits {tuple(logits.shape)}  "
          f"ops: {' '.join(ops)}")
    if size > 400 * 1024:
        raise SystemExit(f"{name}: model.onnx is {size} bytes, over the 400 KB budget")


# ---- ImageNet-size torchvision classifiers (--imagenet) ----------------------

# One or two of each family: what tools/zoo_check.sh runs by default.
IMAGENET_DEFAULT = [
    "alexnet", "vgg11_bn", "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_s",
    "regnet_x_400mf", "regnet_y_400mf", "shufflenet_v2_x1_0", "squeezenet1_0", "squeezenet1_1",
    "googlenet", "inception_v3", "densenet121", "mnasnet1_0", "convnext_tiny", "vit_b_16", "swin_t",
]
IMAGENET_OPSETS = (13, 14, 15, 16, 17)


def imagenet_names(all_variants):
    if not all_variants:
        return IMAGENET_DEFAULT
    return sorted(torchvision.models.list_models(module=torchvision.models)) \
        if hasattr(torchvision.models, "list_models") else sorted(
            n for n in dir(torchvision.models)
            if not n.startswith("_") and n[0].islower() and callable(getattr(torchvision.models, n))
            and n not in ("get_weight", "get_model", "get_model_weights", "list_models")
            and not n.startswith(("detection", "segmentation", "video", "optical_flow", "quantization")))


def imagenet_opset(name):
    """Spreads the opsets 13-17 over the models, the same one for a name on every run."""
    return IMAGENET_OPSETS[sum(map(ord, name)) % len(IMAGENET_OPSETS)]


def cache_dir():
    return os.environ.get("QFD_ZOO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "qfd-onnx", "zoo")


def imagenet_model(name):
    """The torchvision classifier `name` with the zoo's random weights, the
    generator that drew them (its next draws make the input) and the input
    side; tools/bench/zoo_torch.py builds the same model through this."""
    side = 299 if name == "inception_v3" else 224
    torch.manual_seed(SEED)
    kwargs = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kwargs)
    gen = torch.Generator().manual_seed(SEED + 1)
    randomize_batchnorm(model, gen)
    with torch.no_grad():  # ViT's head starts at zero: logits would be 0 whatever the body computes
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return model, gen, side


def make_imagenet(name, out_root, opset=None):
    opset = opset or imagenet_opset(name)
    model, gen, side = imagenet_model(name)
    model.eval()
    x = torch.randn(1, 3, side, side, generator=gen)
    with torch.no_grad():
        logits = model(x)
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.onnx")
    tmp = path + ".tmp"
    t0 = time.time()
    torch.onnx.export(model, x, tmp, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(tmp, full_check=True)
    np.save(os.path.join(out, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, "logits.npy"), logits.numpy().astype(np.float32))
    os.replace(tmp, path)  # last: a model.onnx in the cache always has its reference
    ops = sorted({n.op_type for n in onnx.load(path, load_external_data=False).graph.node})
    print(f"{name:20s} opset {opset:2d}  {os.path.getsize(path) / 2**20:7.1f} MB  {time.time() - t0:5.1f} s  "
          f"ops: {' '.join(ops)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="make only this model (repeatable)")
    ap.add_argument("--out", help="output folder (default tests/data/zoo; with --imagenet the cache)")
    ap.add_argument("--imagenet", action="store_true", help="the ImageNet-size torchvision classifiers")
    ap.add_argument("--all", action="store_true", help="with --imagenet: every torchvision classifier")
    ap.add_argument("--opset", type=int, choices=IMAGENET_OPSETS, help="with --imagenet: this opset for all")
    ap.add_argument("--missing", action="store_true", help="with --imagenet: skip models already in the cache")
    ap.add_argument("--list", action="store_true", help="with --imagenet: print the model names and exit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.imagenet:
        names = args.only or imagenet_names(args.all)
        if args.list:
            print("\n".join(names))
            return 0
        out = args.out or cache_dir()
        failed = []
        for name in names:
            if args.missing and os.path.exists(os.path.join(out, name, "model.onnx")):
                continue
            try:
                make_imagenet(name, out, args.opset)
            except Exception as e:  # a model torch.onnx.export refuses: say so, go on
                print(f"{name:20s} not exported: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                      flush=True)
                failed.append(name)
        return 1 if failed else 0
    for name in args.only or ZOO:
        if name not in ZOO:
            ap.error(f"unknown model '{name}' (choose from {', '.join(sorted(ZOO))})")
        make_one(name, args.out or OUT_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
