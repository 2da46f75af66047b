#!/usr/bin/python3
"""PyTorch side of tools/bench/qat.sh: the LSQ and QFD student step of
`qfd-onnx quantize`, written as a careful PyTorch user writes it, timed on
the CPU.

    /usr/bin/python3 tools/bench/qat_torch.py MODEL --method lsq|qfd --bits 4|8 \\
        [--data D.npz] [--init STUDENT.onnx] [--teacher TEACHER.onnx] \\
        [--batch B] [--threads T] [--steps S]
    /usr/bin/python3 tools/bench/qat_torch.py MODEL ... --parity K [--expect STUDENT_1.onnx]

MODEL: resnet20 or mobilenetv2 (tools/make_models.py, FP32 weights from
models/MODEL.onnx; batch 128) or resnet18 (torchvision at 224x224 with the
zoo's random weights, tools/make_zoo.py's imagenet_model; batch 16).

The recipe (what quantize does; src/quant/plan.c, quantize.c, methods.c):
  - BatchNorm folded into the convs (W' = W * s, b' = (b - mean) * s + beta,
    s = gamma / sqrt(var + eps)); a folded weight's gradient is multiplied by
    s^2 before the optimizer step (quantize's preconditioner: training W' so
    is training W with BatchNorm frozen). The zoo's resnet18 file was
    exported with its BatchNorm folded already, so quantize sees no
    BatchNorm there and trains plain SGD: no s^2 here either.
  - weights: per output channel LSQ, one fused autograd Function: forward
    torch.fake_quantize_per_channel_affine (one kernel), backward the
    straight-through estimator (v = w / s inside [qmin, qmax]) and the LSQ
    step gradient sum(dy * (inside ? round(v) - v : bound)) scaled by
    1 / sqrt(n * qmax), n the elements per channel. Activations: the same,
    per tensor (torch.fake_quantize_per_tensor_affine), n the elements per
    example. Ranges as quantize's: weights signed (-2^(b-1) .. 2^(b-1)-1),
    activations unsigned (0 .. 2^b-1) when they cannot be negative (after
    Relu, ReLU6, pooling of such), else signed.
  - placement as quantize's plan: the first and last layers 8-bit (weights
    and input); below 8-bit activations the inputs of every Conv and Linear
    only; at 8 bits also each conv's output (after the Relu/ReLU6 it fuses)
    and both inputs of every residual add. A quantized tensor is quantized
    once and every reader reads the quantized value (an identity shortcut
    adds the block's quantized input).
  - each layer's bias on the int32 grid x_step * w_step (round half to even,
    straight-through gradient to the bias, none to the steps), as quantize's
    BiasQuant.
  - SGD, Nesterov momentum 0.9, groups: weights (lr 0.004, weight decay
    5e-4), biases (lr 0.004, no decay), steps (lr 1e-3, no decay); the steps
    of 8-bit weights are frozen (requires_grad False), and the step of an
    activation after ReLU6 stays at or below 6 / qmax after each update, as
    quantize keeps it inside the Clip. Cosine schedule over
    the run's steps, no warm-up.
  - loss: cross-entropy; qfd adds 1.0 * MSE(student feature, teacher's
    quantized feature), the feature being the classifier's input before its
    8-bit quantizer; the teacher is the FP32 model with BatchNorm folded and
    a 4-bit unsigned quantizer on its feature, frozen, run in eval mode under
    torch.no_grad() every step.
  - no augmentation, no dropout (quantize trains in inference mode);
    ReLU6 is torch.clamp(x, 0, 6), whose gradient passes at the bounds as
    that of quantize's Clip does (F.relu6 stops it there, which matters on
    the integer grid of fake-quant sums, where exact zeros are common).

--init STUDENT.onnx takes the calibrated student that `qfd-onnx quantize
--method ptq --save-student` writes (folded weights and biases, every step):
its FakeQuant/BiasQuant nodes are matched to this script's layers in node
order, and every range and placement is checked against the file (a
mismatch stops the script). --teacher TEACHER.onnx takes quantize's
`--save-teacher` file (folded FP32 weights, the feature quantizer's step).
Without them, the weights are folded here and each step starts at LSQ's
2 * mean|x| / sqrt(qmax) on the first batch.

--data D.npz: x_train (uint8 [N,28,28] images, normalized with the bundled
models' mean and std, or float32 [N,C,H,W] used as they are) and y_train;
without it, random images and labels.

Timing (default): one warm-up step (it allocates the momentum buffers and
oneDNN's caches, as qfd-onnx's first step plans), then S timed steps
(forward, teacher forward for qfd, backward, optimizer) on the first batch
of the data. Prints one JSON line: images_per_second, seconds_per_step,
steps, rss_loaded_mb (RSS from /proc/self/statm once the models, the data
and the optimizer exist, before the first step), rss_peak_mb (getrusage's
ru_maxrss: the whole process), loss (the last step's), torch's version;
MB = 2^20 bytes.

--parity K: K steps on the first batch of the data (the same images every
step, as `quantize --limit B --batch B --epochs K --no-augment` takes them),
the cosine schedule over K steps; prints the loss of each step, and the
same K steps once more with each layer's bias added after its product
instead of inside it ("losses_bias_after": how far two correct evaluation
orders drift apart). With --expect STUDENT_1.onnx (quantize's
--save-student after one step from the same start) it compares the first
update with quantize's: the last layer's weights, bias and input step
(largest |ours - file's| relative to their largest change), and per layer
before it the cosine between the two updates and the ratio of their norms
("first_update"); "first_update_bias_after" is the same comparison between
the two evaluation orders here.

Debian's python3-torch, python3-torchvision and python3-onnx only: run with
/usr/bin/python3.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, TOOLS)
import make_models  # noqa: E402
from zoo_torch import peak_mb, rss_mb  # noqa: E402  (the same two memory figures as zoo.sh's peer)

ROOT = os.path.dirname(os.path.abspath(TOOLS))
BATCH = {"resnet20": 128, "mobilenetv2": 128, "resnet18": 16}
LR, LR_STEPS, WD, MOMENTUM, LAMBDA, TEACHER_BITS = 0.004, 1e-3, 5e-4, 0.9, 1.0, 4


def qrange(bits, signed):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


# --------------------------------------------------------------------------
# the quantizers: fused forward, STE + LSQ step gradient backward
# --------------------------------------------------------------------------

class LsqPerChannel(torch.autograd.Function):
    """Weights [C, ...], one step per output channel (axis 0)."""

    @staticmethod
    def forward(ctx, w, s, zp, qmin, qmax, g):
        ctx.save_for_backward(w, s)
        ctx.q = (qmin, qmax, g)
        return torch.fake_quantize_per_channel_affine(w, s, zp, 0, qmin, qmax)

    @staticmethod
    def backward(ctx, dy):
        w, s = ctx.saved_tensors
        qmin, qmax, g = ctx.q
        shape = (-1,) + (1,) * (w.dim() - 1)
        v = w / s.view(shape)
        vc = v.clamp(qmin, qmax)
        inside = v == vc
        dw = torch.where(inside, dy, 0.0)
        ds = None
        if ctx.needs_input_grad[1]:
            r = torch.where(inside, vc.round() - v, vc)
            ds = (dy * r).sum(dim=tuple(range(1, w.dim()))) * g
        return dw, ds, None, None, None, None


class LsqPerTensor(torch.autograd.Function):
    """Activations, one step for the tensor."""

    @staticmethod
    def forward(ctx, x, s, zp, qmin, qmax, g):
        ctx.save_for_backward(x, s)
        ctx.q = (qmin, qmax, g)
        return torch.fake_quantize_per_tensor_affine(x, s, zp, qmin, qmax)

    @staticmethod
    def backward(ctx, dy):
        x, s = ctx.saved_tensors
        qmin, qmax, g = ctx.q
        v = x / s
        vc = v.clamp(qmin, qmax)
        inside = v == vc
        dx = torch.where(inside, dy, 0.0) if ctx.needs_input_grad[0] else None
        r = torch.where(inside, vc.round() - v, vc)
        ds = (torch.dot(dy.reshape(-1), r.reshape(-1)) * g).reshape(s.shape)
        return dx, ds, None, None, None, None


class BiasQuant(torch.autograd.Function):
    """b on the int32 grid sx * sw (per channel); straight through to b."""

    @staticmethod
    def forward(ctx, b, sx, sw):
        s = sx * sw
        return torch.round(b / s).clamp(-2147483648.0, 2147483647.0) * s

    @staticmethod
    def backward(ctx, dy):
        return dy, None, None


class ActQ(nn.Module):
    """A per-tensor activation quantizer; step None: set by LSQ's rule on the first call."""

    def __init__(self, name, bits, signed):
        super().__init__()
        self.name, self.bits, self.signed = name, bits, signed
        self.qmin, self.qmax = qrange(bits, signed)
        self.step = nn.Parameter(torch.zeros(1))
        self.register_buffer("zp", torch.zeros(1, dtype=torch.int32))
        self.ready = False

    def forward(self, x):
        if not self.ready:
            with torch.no_grad():
                self.step.fill_(max(2 * x.abs().mean().item() / math.sqrt(self.qmax), 1e-8))
            self.ready = True
        n = x.numel() // x.shape[0]
        return LsqPerTensor.apply(x, self.step, self.zp, self.qmin, self.qmax, 1.0 / math.sqrt(n * self.qmax))


class QLayer(nn.Module):
    """A Conv or Linear with BatchNorm folded: W', b', per-channel weight
    step, the quantizer of its input (for the bias grid), and the name of
    its output after a fused Relu/ReLU6 (to check placement against a file)."""

    def __init__(self, mod, bn, wbits, in_name, out_name):
        super().__init__()
        w = mod.weight.detach().double()
        b = mod.bias.detach().double() if mod.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        self.precond = None
        if bn is not None:
            s = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
            b = (b - bn.running_mean.detach().double()) * s + bn.bias.detach().double()
            w = w * s.view((-1,) + (1,) * (w.dim() - 1))
            # quantize's preconditioner: the fold factor s (float), squared
            s2 = s.float() * s.float()
            self.register_buffer("s2", s2.view((-1,) + (1,) * (w.dim() - 1)).clone())
            self.precond = True
        self.weight = nn.Parameter(w.float().contiguous())
        self.bias = nn.Parameter(b.float().contiguous())
        self.conv = isinstance(mod, nn.Conv2d)
        if self.conv:
            self.stride, self.padding, self.groups = mod.stride, mod.padding, mod.groups
        self.wbits = wbits
        self.qmin, self.qmax = qrange(wbits, True)
        c = w.shape[0]
        self.step = nn.Parameter((2 * self.weight.detach().abs().reshape(c, -1).mean(1) / math.sqrt(self.qmax)).clamp(min=1e-8))
        self.step.requires_grad_(wbits < 8)  # 8-bit weight steps stay as calibrated
        self.register_buffer("zp", torch.zeros(c, dtype=torch.int32))
        self.g = 1.0 / math.sqrt(self.weight[0].numel() * self.qmax)
        self.in_name, self.out_name = in_name, out_name
        self.in_q = None  # set by the network: the ActQ of the input, or None (float)
        self.quant = True
        self.bias_after = False

    def forward(self, x):
        if self.quant:
            w = LsqPerChannel.apply(self.weight, self.step, self.zp, self.qmin, self.qmax, self.g)
            b = BiasQuant.apply(self.bias, self.in_q.step, self.step)
        else:
            w, b = self.weight, self.bias
        if self.bias_after:  # --parity's second run: another evaluation order, the same values
            if self.conv:
                return F.conv2d(x, w, None, self.stride, self.padding, 1, self.groups) + b.view(1, -1, 1, 1)
            return F.linear(x, w) + b
        if self.conv:
            return F.conv2d(x, w, b, self.stride, self.padding, 1, self.groups)
        return F.linear(x, w, b)


# --------------------------------------------------------------------------
# the networks: the FP32 forward with the plan's quantizers in it
# --------------------------------------------------------------------------

class QNet(nn.Module):
    """Quantized (quant=True) or float (the teacher) version of a model.
    self.plan: tensor name -> (bits, signed) of every quantized activation."""

    def __init__(self, quant, abits):
        super().__init__()
        self.quant, self.abits = quant, abits
        self.layers = nn.ModuleList()
        self.aq = nn.ModuleDict()
        self.plan = {}
        self.after_relu6 = set()  # names of the activations ReLU6 makes (their steps stay <= 6 / qmax)

    def want(self, name, bits, signed):
        old = self.plan.get(name)
        self.plan[name] = (max(bits, old[0]) if old else bits, signed)

    def finish(self):
        for name, (bits, signed) in self.plan.items():
            self.aq[name.replace(".", "_")] = ActQ(name, bits, signed)
        for L in self.layers:
            L.quant = self.quant
            L.in_q = self.q_of(L.in_name)

    def q_of(self, name):
        key = name.replace(".", "_")
        return self.aq[key] if self.quant and key in self.aq else None

    def q(self, name, x):
        aq = self.q_of(name)
        return aq(x) if aq is not None else x

    def q6(self, name, x):
        """relu6(x), quantized as name."""
        self.after_relu6.add(name)
        return self.q(name, relu6(x))

    def bound_steps(self):
        with torch.no_grad():
            for name in self.after_relu6:
                aq = self.q_of(name)
                if aq is not None:
                    aq.step.clamp_(max=6.0 / aq.qmax)

    def layer(self, mod, bn, in_name, out_name, edge=False):
        L = QLayer(mod, bn, 8 if edge else self.wbits, in_name, out_name)
        self.layers.append(L)
        return L


class QResNet(QNet):
    """make_models.ResNet20 (stem conv-bn-relu) and torchvision's resnet18
    (stem conv-bn-relu-maxpool): BasicBlocks of conv-bn-relu-conv-bn, a
    1x1 conv-bn shortcut where the shape changes, add, relu; pool, flatten, fc."""

    def __init__(self, m, tv, wbits, abits, quant=True):
        super().__init__(quant, abits)
        self.wbits, self.tv = wbits, tv
        a8 = abits >= 8
        self.want("input", 8, True)
        self.stem = self.layer(m.conv1, m.bn1, "input", "stem", edge=True)
        if tv:
            blocks = [b for layer in (m.layer1, m.layer2, m.layer3, m.layer4) for b in layer]
            if a8:
                self.want("stem", abits, False)  # the stem's output (MaxPool reads it)
            self.want("pool", abits, False)
            h = "pool"
        else:
            blocks = list(m.layers)
            self.want("stem", abits, False)
            h = "stem"
        self.blocks = []
        for i, b in enumerate(blocks):
            sc = b.downsample if tv else b.shortcut
            c1 = self.layer(b.conv1, b.bn1, h, f"b{i}.a")
            self.want(f"b{i}.a", abits, False)
            c2 = self.layer(b.conv2, b.bn2, f"b{i}.a", f"b{i}.c")
            if a8:
                self.want(f"b{i}.c", abits, True)  # a conv's output; a residual add's input
            s = None
            if sc is not None:
                s = self.layer(sc[0], sc[1], h, f"b{i}.s")
                if a8:
                    self.want(f"b{i}.s", abits, True)
            h = f"b{i}.out"
            if i + 1 < len(blocks):
                self.want(h, abits, False)  # the next block's input
            self.blocks.append((c1, c2, s))
        self.want("feat", 8, False)
        self.fc = self.layer(m.fc, None, "feat", "logits", edge=True)
        self.finish()

    def forward(self, x):
        h = self.q("stem", F.relu(self.stem(self.q("input", x))))
        if self.tv:
            h = self.q("pool", F.max_pool2d(h, 3, 2, 1))
        for i, (c1, c2, s) in enumerate(self.blocks):
            a = self.q(f"b{i}.a", F.relu(c1(h)))
            c = self.q(f"b{i}.c", c2(a))
            r = self.q(f"b{i}.s", s(h)) if s is not None else h
            h = self.q(f"b{i}.out", F.relu(c + r))
        feat = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        return self.fc(self.q("feat", feat)), feat


def relu6(x):
    """ReLU6 as the ONNX file's Clip(0, 6) trains in quantize: its gradient
    passes at the bounds (torch.clamp's backward, inclusive), where F.relu6
    (hardtanh) stops it. Fake-quant convs compute sums on an integer grid, so
    outputs of exactly 0 are common (Fashion-MNIST's black background) and
    the two conventions give visibly different depthwise gradients."""
    return torch.clamp(x, 0.0, 6.0)


class QMobileNetV2(QNet):
    """make_models.MobileNetV2Small: stem conv-bn-relu6, inverted residuals
    (expand 1x1 conv-bn-relu6, depthwise conv-bn-relu6, project 1x1
    conv-bn, add when the shape stays), 1x1 conv-bn-relu6, pool, flatten,
    (dropout: off in quantize's training), fc."""

    def __init__(self, m, wbits, abits, quant=True):
        super().__init__(quant, abits)
        self.wbits = wbits
        a8 = abits >= 8
        f = list(m.features)
        self.want("input", 8, True)
        self.stem = self.layer(f[0], f[1], "input", "stem", edge=True)
        self.want("stem", abits, False)
        h = "stem"
        self.blocks = []
        ir = [b for b in f if isinstance(b, make_models.InvertedResidual)]
        for i, b in enumerate(ir):
            seq = list(b.conv)
            convs = [(seq[k], seq[k + 1]) for k in range(len(seq)) if isinstance(seq[k], nn.Conv2d)]
            mods, x = [], h
            for j, (conv, bn) in enumerate(convs):
                last = j == len(convs) - 1
                out = f"b{i}.p" if last else (f"b{i}.d" if conv.groups > 1 else f"b{i}.e")
                mods.append(self.layer(conv, bn, x, out))
                if not last:
                    self.want(out, abits, False)
                x = out
            if b.use_res:
                if a8:
                    self.want(f"b{i}.p", abits, True)
                h = f"b{i}.out"
            else:
                h = f"b{i}.p"
            self.want(h, abits, True)  # the next layer's input
            self.blocks.append((mods, b.use_res))
        tail = [x for x in f[len(f) - 3:]]
        self.last = self.layer(tail[0], tail[1], h, "last")
        if a8:
            self.want("last", abits, False)
        self.want("feat", 8, False)
        self.fc = self.layer(m.fc, None, "feat", "logits", edge=True)
        self.finish()

    def forward(self, x):
        h = self.q6("stem", self.stem(self.q("input", x)))
        for i, (mods, res) in enumerate(self.blocks):
            t = h
            for L in mods[:-1]:
                t = self.q6(L.out_name, L(t))
            p = mods[-1](t)
            if res:
                h = self.q(f"b{i}.out", h + self.q(f"b{i}.p", p))
            else:
                h = self.q(f"b{i}.p", p)
        t = self.q6("last", self.last(h))
        feat = torch.flatten(F.adaptive_avg_pool2d(t, 1), 1)
        return self.fc(self.q("feat", feat)), feat


def fp32_model(name):
    """The FP32 torch model: the bundled model with models/NAME.onnx's
    weights, or the zoo's torchvision model (same seeds as its model.onnx)."""
    if name == "resnet18":
        import make_zoo
        model, _, side = make_zoo.imagenet_model(name)
        return model.eval(), (3, side, side)
    model = {"resnet20": make_models.ResNet20, "mobilenetv2": make_models.MobileNetV2Small}[name]()
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(os.path.join(ROOT, "models", name + ".onnx")).graph.initializer}
    sd = model.state_dict()
    for k in sd:
        if not k.endswith("num_batches_tracked"):
            sd[k] = torch.from_numpy(np.array(inits[k]))
    model.load_state_dict(sd)
    return model.eval(), (1, 28, 28)


def build(name, wbits, abits, quant=True):
    model, shape = fp32_model(name)
    with torch.no_grad():
        if name == "mobilenetv2":
            net = QMobileNetV2(model, wbits, abits, quant)
        else:
            net = QResNet(model, name == "resnet18", wbits, abits, quant)
    if name == "resnet18":  # quantize sees the zoo file's convs with BatchNorm folded: nothing to precondition
        for L in net.layers:
            L.precond = None
    return net, shape


# --------------------------------------------------------------------------
# quantize's files: the calibrated student and the saved teacher
# --------------------------------------------------------------------------

class OnnxGraph:
    def __init__(self, path):
        g = onnx.load(path).graph
        self.nodes = list(g.node)
        self.init = {t.name: np.array(numpy_helper.to_array(t)) for t in g.initializer}  # writable copies
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.readers = {}
        for n in self.nodes:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)
        self.layers = [n for n in self.nodes if n.op_type in ("Conv", "Gemm")]

    @staticmethod
    def attr(n, key, default=None):
        for a in n.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    def fq(self, tensor):
        """The FakeQuant that produces tensor, or None."""
        n = self.producer.get(tensor)
        return n if n is not None and n.op_type == "FakeQuant" else None

    def fq_reading(self, tensor):
        """The FakeQuant that reads tensor (after a Relu or Clip that alone reads it), or None."""
        r = self.readers.get(tensor, [])
        if len(r) == 1 and r[0].op_type in ("Relu", "Clip"):
            r = self.readers.get(r[0].output[0], [])
        fqs = [n for n in r if n.op_type == "FakeQuant"]
        return fqs[0] if fqs else None


def check(ok, what):
    if not ok:
        sys.exit(f"qat_torch.py: {what}")


def load_student(net, path):
    """Weights, biases and steps from quantize's calibrated student, checking
    that its placement and ranges are this script's."""
    g = OnnxGraph(path)
    check(len(g.layers) == len(net.layers), f"{path} has {len(g.layers)} Conv/Gemm layers, this model {len(net.layers)}")
    seen = {}
    with torch.no_grad():
        for L, n in zip(net.layers, g.layers):
            wq, xq = g.fq(n.input[1]), g.fq(n.input[0])
            check(wq is not None and xq is not None, f"{n.name}: input or weight not quantized in {path}")
            w = g.init[wq.input[0]]
            check(tuple(w.shape) == tuple(L.weight.shape), f"{n.name}: weight {w.shape} against {tuple(L.weight.shape)}")
            check((g.attr(wq, "qmin"), g.attr(wq, "qmax")) == (L.qmin, L.qmax), f"{n.name}: weight range differs")
            L.weight.copy_(torch.from_numpy(w))
            L.step.copy_(torch.from_numpy(g.init[wq.input[1]]).reshape(L.step.shape))
            b = g.producer.get(n.input[2]) if len(n.input) > 2 else None
            check(b is not None and b.op_type == "BiasQuant", f"{n.name}: no BiasQuant on the bias in {path}")
            L.bias.copy_(torch.from_numpy(g.init[b.input[0]]))
            # the input quantizer, and the output one (after a fused Relu/Clip) when the plan has it
            for tname, fq in ((L.in_name, xq), (L.out_name, g.fq_reading(n.output[0]))):
                aq = net.q_of(tname)
                check((aq is None) == (fq is None),
                      f"{n.name}: '{tname}' is {'' if fq is not None else 'not '}quantized in {path}, "
                      f"{'' if aq is not None else 'not '}here")
                if aq is None:
                    continue
                check((g.attr(fq, "qmin"), g.attr(fq, "qmax")) == (aq.qmin, aq.qmax),
                      f"'{tname}': range {g.attr(fq, 'qmin')}..{g.attr(fq, 'qmax')} in {path}, {aq.qmin}..{aq.qmax} here")
                step = float(g.init[fq.input[1]].reshape(-1)[0])
                check(seen.setdefault(tname, fq.name) == fq.name, f"'{tname}' maps to two quantizers in {path}")
                aq.step.fill_(step)
                aq.ready = True
    acts = [n for n in g.nodes if n.op_type == "FakeQuant" and n.input[0] not in g.init]
    check(len(set(seen.values())) == len(seen), f"two of this model's quantizers map to one of {path}")
    check(len(acts) == len(net.aq) == len(seen),
          f"{path} has {len(acts)} activation quantizers, this model {len(net.aq)} ({len(seen)} matched)")


def load_teacher(teacher, path):
    """The folded FP32 weights of quantize's saved teacher and its feature quantizer's step."""
    g = OnnxGraph(path)
    check(len(g.layers) == len(teacher.layers), f"{path} has {len(g.layers)} Conv/Gemm layers")
    with torch.no_grad():
        for L, n in zip(teacher.layers, g.layers):
            w = g.init[n.input[1]]
            check(tuple(w.shape) == tuple(L.weight.shape), f"{path}: {n.name} weight {w.shape}")
            L.weight.copy_(torch.from_numpy(w))
            L.bias.copy_(torch.from_numpy(g.init[n.input[2]]))
    fq = [n for n in g.nodes if n.op_type == "FakeQuant"]
    check(len(fq) == 1, f"{path}: expected one FakeQuant (the feature's), found {len(fq)}")
    return float(g.init[fq[0].input[1]].reshape(-1)[0]), (g.attr(fq[0], "qmin"), g.attr(fq[0], "qmax"))


# --------------------------------------------------------------------------
# the step
# --------------------------------------------------------------------------

def data(path, shape, n, seed=20261207):
    if path:
        z = np.load(path)
        x, y = z["x_train"][:n], z["y_train"][:n].astype(np.int64)
        check(len(x) >= n, f"{path}: {len(x)} training images, {n} needed")
        if x.dtype == np.uint8:
            x = make_models.normalize(x.reshape(n, *x.shape[-2:]))
        else:
            x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return x.reshape(n, *shape).contiguous(), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    classes = 1000 if shape[0] == 3 else 10
    return torch.randn(n, *shape, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def optimizer(net):
    weights = [L.weight for L in net.layers]
    biases = [L.bias for L in net.layers]
    steps = [L.step for L in net.layers if L.step.requires_grad] + [q.step for q in net.aq.values()]
    return torch.optim.SGD([{"params": weights, "weight_decay": WD},
                            {"params": biases, "weight_decay": 0.0},
                            {"params": steps, "lr": LR_STEPS, "weight_decay": 0.0}],
                           lr=LR, momentum=MOMENTUM, nesterov=True)


def cosine(t, total):
    """quantize's cosine schedule: the lr factor of step t (0-based) of total, no warm-up."""
    return 0.5 * (1.0 + math.cos(math.pi * t / total)) if total > 0 else 1.0


def stepper(student, x, y, target):
    """One training step of student on (x, y): forward (and the teacher's
    for qfd), loss, backward, s^2 on folded weights' gradients, SGD."""
    opt = optimizer(student)
    precond = [(L.weight, L.s2) for L in student.layers if L.precond]
    student.train()  # nothing in the student depends on the mode (no BatchNorm, no dropout)

    def step(lr_factor):
        for grp, base in zip(opt.param_groups, (LR, LR, LR_STEPS)):
            grp["lr"] = base * lr_factor
        opt.zero_grad(set_to_none=True)
        logits, feat = student(x)
        loss = F.cross_entropy(logits, y)
        if target is not None:
            loss = loss + LAMBDA * F.mse_loss(feat, target(x))
        loss.backward()
        for w, s2 in precond:
            w.grad.mul_(s2)
        opt.step()
        student.bound_steps()
        return loss
    return step


def snapshot(net):
    return [t.detach().clone() for t in params_of(net)]


def params_of(net):
    """Every trained tensor, in a fixed order: per layer weight, bias, step; then the activation steps."""
    out = []
    for L in net.layers:
        out += [L.weight, L.bias, L.step]
    return out + [q.step for q in net.aq.values()]


def student_params(net, path):
    """params_of(net)'s tensors as quantize's student file holds them."""
    g = OnnxGraph(path)
    check(len(g.layers) == len(net.layers), f"{path}: {len(g.layers)} Conv/Gemm layers")
    out, steps = [], {}
    for L, n in zip(net.layers, g.layers):
        wq = g.fq(n.input[1])
        out += [g.init[wq.input[0]], g.init[g.producer[n.input[2]].input[0]], g.init[wq.input[1]]]
        for tname, fq in ((L.in_name, g.fq(n.input[0])), (L.out_name, g.fq_reading(n.output[0]))):
            if fq is not None:
                steps[tname] = g.init[fq.input[1]]
    return [torch.from_numpy(t) for t in out] + [torch.from_numpy(steps[q.name]) for q in net.aq.values()]


def compare_update(net, before, ours, theirs):
    """Two first updates (step 1) from the same start. The last layer (its
    weights, bias and input step): its gradient passes no Relu, so the two
    must agree to rounding: the largest |ours - theirs| relative to the
    largest change. The layers before it: the cosine between the two updates
    and the ratio of their norms, per layer (weights, biases) and over all
    trained weight steps and all activation steps."""
    ours, theirs, before = ([t.detach().double().reshape(-1) for t in v] for v in (ours, theirs, before))
    k_last = 3 * (len(net.layers) - 1)
    feat = 3 * len(net.layers) + list(net.aq.keys()).index(net.layers[-1].in_name.replace(".", "_"))
    exact = 0.0
    for i in (k_last, k_last + 1, k_last + 2, feat):
        moved = (theirs[i] - before[i]).abs().max().item()
        diff = (ours[i] - theirs[i]).abs().max().item()
        exact = max(exact, diff / moved if moved > 0 else (0.0 if diff == 0 else math.inf))

    def agree(idx):
        a = torch.cat([ours[i] - before[i] for i in idx])
        b = torch.cat([theirs[i] - before[i] for i in idx])
        na, nb = a.norm().item(), b.norm().item()
        if na == 0 and nb == 0:
            return 1.0, 1.0
        return (a @ b).item() / max(na * nb, 1e-300), na / max(nb, 1e-300)
    n = len(net.layers) - 1
    both = [agree([3 * i]) for i in range(n)] + [agree([3 * i + 1]) for i in range(n)]
    trained_wsteps = [3 * i + 2 for i in range(n) if net.layers[i].step.requires_grad]
    if trained_wsteps:
        both.append(agree(trained_wsteps))
    both.append(agree(list(range(3 * len(net.layers), len(ours)))))
    return {"last_layer_rel": exact, "cosine_min": min(c for c, _ in both),
            "norm_ratio_min": min(r for _, r in both), "norm_ratio_max": max(r for _, r in both)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", choices=sorted(BATCH))
    ap.add_argument("--method", choices=("lsq", "qfd"), default="lsq")
    ap.add_argument("--bits", type=int, choices=(4, 8), default=4, help="W4A4 or W8A8")
    ap.add_argument("--batch", type=int, default=0, help="default 128, resnet18 16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up step")
    ap.add_argument("--data", help=".npz with x_train, y_train (default: random)")
    ap.add_argument("--init", help="quantize's calibrated student (--method ptq --save-student)")
    ap.add_argument("--teacher", help="qfd: quantize's --save-teacher file")
    ap.add_argument("--parity", type=int, default=0, help="K: the loss of K steps on the first batch, untimed")
    ap.add_argument("--expect", help="--parity: quantize's student after one step, to compare the first update with")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    batch = a.batch or BATCH[a.model]

    def make_student():
        student, shape = build(a.model, a.bits, a.bits)
        return student, shape

    student, shape = make_student()
    x, y = data(a.data, shape, batch)

    def init(net):
        if a.init:
            load_student(net, a.init)
        else:
            with torch.no_grad():
                net(x)  # LSQ's initial activation steps from the first batch
    init(student)
    target = None
    if a.method == "qfd":
        teacher, _ = build(a.model, a.bits, a.bits, quant=False)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        tq = ActQ("teacher feature", TEACHER_BITS, False)  # the feature follows a Relu/ReLU6 and a pool
        tq.step.requires_grad_(False)
        if a.teacher:
            step, rng = load_teacher(teacher, a.teacher)
            check(rng == (tq.qmin, tq.qmax), f"{a.teacher}: feature range {rng}, expected {(tq.qmin, tq.qmax)}")
            tq.step.fill_(step)
            tq.ready = True

        def target(xb):
            with torch.no_grad():
                return tq(teacher(xb)[1])

    out = {"model": a.model, "method": a.method, "bits": f"W{a.bits}A{a.bits}", "batch": batch, "threads": a.threads}
    if a.parity:
        # K steps, and the same K steps with one evaluation order changed
        # (each layer's bias added after its product, not inside it): how
        # far two correct runs drift apart once they have updated
        runs = []
        for bias_after in (False, True):
            net = student
            if bias_after:
                net, _ = make_student()
                init(net)
                for L in net.layers:
                    L.bias_after = True
            before = snapshot(net)
            step = stepper(net, x, y, target)
            losses = [float(step(cosine(0, a.parity)))]
            first = snapshot(net)
            losses += [float(step(cosine(t, a.parity))) for t in range(1, a.parity)]
            runs.append((losses, before, first))
        out["losses"], before, first = runs[0]
        out["losses_bias_after"] = runs[1][0]
        if a.expect:
            out["first_update"] = compare_update(student, before, first, student_params(student, a.expect))
        out["first_update_bias_after"] = compare_update(student, before, runs[1][2], first)
    else:
        step = stepper(student, x, y, target)
        total = a.steps + 1
        loaded = rss_mb()
        step(cosine(0, total))  # warm-up
        t0 = time.perf_counter()
        for t in range(1, total):
            loss = step(cosine(t, total))
        sec = (time.perf_counter() - t0) / max(1, a.steps)
        out.update({"images_per_second": round(batch / sec, 3), "seconds_per_step": round(sec, 5),
                    "steps": a.steps, "rss_loaded_mb": round(loaded, 1), "rss_peak_mb": round(peak_mb(), 1),
                    "loss": float(loss)})
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
