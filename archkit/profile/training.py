"""Training cost on paper: the bytes one training step saves for backward, per layer, and its
multiply-adds (forward, backward for inputs, backward for weights), from the resolved spec alone.
No torch here.

Saved for backward means what autograd keeps between the forward and the backward pass, counted
as torch's `saved_tensors_hooks` see it: unique storages, the model's parameters and buffers left
out. The rules below are those of archkit's training step (`archkit.training.engine`: the built
model with `fastops.accelerate`, channels-last memory unless turned off, autocast at bf16/fp16,
cross-entropy with the aux heads' losses) on torch's CPU kernels, found by measuring each op kind
with the hooks; `archkit profile --verify --train` and tests/profile/test_train_memory.py hold them
to torch, byte for byte, per layer:

- An op whose input does not require grad (nothing with parameters before it: a first max pool,
  an LRN on the image) is not recorded by autograd and saves nothing.
- conv: its input (under autocast a low-precision copy of it, made anew by each conv that reads an
  fp32 tensor; none when the input is already low precision) and, under autocast, the cast weight
  (the fp32 weight itself is a parameter). Its output is not saved by the conv.
- batch norm (training): its input (the conv's output) and two fp32 statistics per channel (the
  batch mean and inverse std); its output keeps the input's dtype.
- ReLU after a conv or linear layer runs in place: it saves its output, which is the same storage
  as the conv's (or batch norm's) output, so a following op that saves its input saves nothing new.
  A ReLU on its own (pre-activation) and a residual module's ReLU are not in place: a new tensor.
- max pool: its input and int64 indices of its output's size. avg pool: its input. global avg pool
  (a mean): nothing.
- LRN (the trainer's ChannelLRN): its input, the zero-padded squares (C + size - 1 channels), the
  base of the power and the power itself.
- dropout (p > 0) on the CPU: the scaled noise it multiplies by, in the input's dtype (CUDA's fused
  kernel keeps a bool mask instead: one byte per element). p = 0 returns its input.
- linear: its flattened input (a copy when channels-last memory makes the flattening copy: more than
  one channel and more than one position; a low-precision copy under autocast) and, when its input
  requires grad, the cast weight under autocast.
- concatenation, the residual module's scale and addition: nothing (they need no tensor to go back).
- the loss: per head, the fp32 log-softmax of its logits and a scalar; the targets once; with label
  smoothing, a bool mask of the batch and a scalar more.

Where exactness stops: CUDA kernels keep other things (cuDNN's batch norm a reserve buffer, dropout
a bool mask, both modelled as said but not checked here), and a step's peak also holds what the
model cannot know to the byte: gradients of activations while backward runs and the allocator's
rounding. `peak_bytes` is therefore an estimate: parameters, gradients and optimizer state (all
fp32: autocast keeps the master weights so), everything saved, the input batch, and the largest
op's input and output at the activation precision once more for the gradients in flight.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import Spec
from ..spec.resolve import (
    ConvOp,
    DropoutOp,
    GlobalPoolOp,
    LinearOp,
    LRNOp,
    PoolOp,
    ReLUOp,
    ResolvedLayer,
    ResolvedSpec,
    SplitOp,
    resolved,
)
from ..util.choices import DEVICES, PRECISIONS
from .counts import conv_count
from .profiler import profile_resolved

# Optimizer state per parameter, in fp32 tensors of the parameter's size: SGD's momentum buffer
# (none without momentum), Adam's two moments.
OPTIMIZERS = ("sgd", "adam")
FP32 = 4
LOW = 2  # bf16 and fp16
INDEX = 8  # int64 max-pool indices and targets


class _T:
    """A tensor of the walk: its element size, whether it requires grad, whether it is counted."""

    __slots__ = ("size", "grad", "counted")

    def __init__(self, size: int, grad: bool):
        self.size = size
        self.grad = grad
        self.counted = False


@dataclass(slots=True)
class TrainRow:
    """One layer's training cost: bytes saved for backward (`per_image` x batch + `fixed`: the
    autocast weight copies and batch norm statistics do not grow with the batch) and multiply-adds
    per image of the forward pass, the input gradients and the weight gradients."""

    name: str
    per_image: int = 0
    fixed: int = 0
    forward_ops: int = 0
    input_grad_ops: int = 0
    weight_grad_ops: int = 0
    batch: int = 1

    @property
    def saved_bytes(self) -> int:
        return self.per_image * self.batch + self.fixed

    @property
    def train_ops(self) -> int:
        """Multiply-adds of one training step on the batch: forward + both backward parts."""
        return (self.forward_ops + self.input_grad_ops + self.weight_grad_ops) * self.batch

    def to_dict(self) -> dict:
        return {"name": self.name, "saved_bytes": self.saved_bytes, "train_ops": self.train_ops,
                "forward_ops": self.forward_ops * self.batch, "input_grad_ops": self.input_grad_ops * self.batch,
                "weight_grad_ops": self.weight_grad_ops * self.batch}


@dataclass(slots=True)
class TrainProfile:
    """The training cost of one step of `spec` at `batch` images and `precision` (see the module's
    docstring for what is exact and what is estimated)."""

    spec: str
    batch: int
    precision: str
    optimizer: str
    device: str
    channels_last: bool
    rows: list[TrainRow]  # the inference path's layers, in order
    aux: list[tuple[str, list[TrainRow]]]  # each aux head's layers
    loss: TrainRow  # the losses' saved tensors (no multiply-adds)
    params: int  # every parameter, aux heads included
    state_per_param: int  # optimizer tensors per parameter
    workspace_per_image: int  # the input batch + the largest op's input and output, again (estimate)
    momentum: float = 0.9

    def all_rows(self) -> list[TrainRow]:
        return [*self.rows, *(r for _, rows in self.aux for r in rows), self.loss]

    @property
    def saved_bytes(self) -> int:
        return sum(r.saved_bytes for r in self.all_rows())

    @property
    def param_bytes(self) -> int:
        return self.params * FP32

    @property
    def param_state_bytes(self) -> int:
        """Parameters, their gradients and the optimizer's state, all fp32."""
        return self.params * FP32 * (2 + self.state_per_param)

    @property
    def workspace_bytes(self) -> int:
        return self.workspace_per_image * self.batch

    @property
    def peak_bytes(self) -> int:
        """The predicted peak of one training step (an estimate; the saved bytes in it are exact)."""
        return self.param_state_bytes + self.saved_bytes + self.workspace_bytes

    @property
    def train_ops(self) -> int:
        return sum(r.train_ops for r in self.all_rows())

    def per_image_bytes(self) -> int:
        """What one more image adds to the peak."""
        return sum(r.per_image for r in self.all_rows()) + self.workspace_per_image

    def fixed_bytes(self) -> int:
        """The peak's part that does not grow with the batch."""
        return self.param_state_bytes + sum(r.fixed for r in self.all_rows())

    def largest_batch(self, memory: int) -> int:
        """The largest batch whose predicted peak fits in `memory` bytes (0: not even one image)."""
        room = memory - self.fixed_bytes()
        return max(0, room // self.per_image_bytes()) if room > 0 else 0

    def to_dict(self) -> dict:
        return {"batch": self.batch, "precision": self.precision, "optimizer": self.optimizer,
                "device": self.device, "channels_last": self.channels_last,
                "rows": [r.to_dict() for r in self.rows],
                "aux": [{"name": name, "rows": [r.to_dict() for r in rows]} for name, rows in self.aux],
                "loss": {"saved_bytes": self.loss.saved_bytes},
                "total": {"saved_bytes": self.saved_bytes, "param_state_bytes": self.param_state_bytes,
                          "workspace_bytes": self.workspace_bytes, "peak_train_bytes": self.peak_bytes,
                          "train_ops": self.train_ops}}


class _Walk:
    """The forward pass in execution order, tensor by tensor: which storages each op saves (a
    storage saved twice counts once, where it is saved first) and its multiply-adds."""

    def __init__(self, low: int | None, channels_last: bool, device: str):
        self.low = low  # the autocast element size, None in fp32
        self.channels_last = channels_last
        self.device = device
        self.row = TrainRow("")

    def save(self, t: _T, per_image: int) -> None:
        if not t.counted:
            t.counted = True
            self.row.per_image += per_image

    def fixed(self, nbytes: int) -> None:
        self.row.fixed += nbytes

    def ops(self, count: int, input_grad: bool) -> None:
        self.row.forward_ops += count
        self.row.weight_grad_ops += count
        if input_grad:  # the first weighted op on the image needs no gradient for its input
            self.row.input_grad_ops += count

    # --- one op each ------------------------------------------------------------------------

    def conv(self, op: ConvOp, x: _T) -> _T:
        c, h, w = op.in_shape
        inp = _T(self.low, x.grad) if self.low and x.size != self.low else x
        self.save(inp, c * h * w * inp.size)
        weights, ops = conv_count(op, False)
        if self.low:
            self.fixed(weights * self.low)  # the cast weight
        self.ops(ops, x.grad)
        c, h, w = op.out_shape
        out = _T(self.low or FP32, True)
        if op.batch_norm:
            self.save(out, c * h * w * out.size)
            self.fixed(2 * c * FP32)
            out = _T(out.size, True)
        if op.activation == "relu":
            self.save(out, c * h * w * out.size)  # in place: the same storage
        return out

    def linear(self, op: LinearOp, x: _T) -> _T:
        c, h, w = op.in_shape
        if self.low and x.size != self.low:
            inp = _T(self.low, x.grad)
        elif self.channels_last and c > 1 and h * w > 1:
            inp = _T(x.size, x.grad)  # flattening channels-last memory copies
        else:
            inp = x  # a view of the same storage
        self.save(inp, op.in_features * inp.size)
        if self.low and x.grad:
            self.fixed(op.in_features * op.out_features * self.low)  # kept for the input's gradient
        self.ops(op.in_features * op.out_features, x.grad)
        out = _T(self.low or FP32, True)
        if op.activation == "relu":
            self.save(out, op.out_features * out.size)
        return out

    def pool(self, op: PoolOp, x: _T) -> _T:
        if x.grad:
            c, h, w = op.in_shape
            self.save(x, c * h * w * x.size)
            if op.mode == "max":
                c, h, w = op.out_shape
                self.row.per_image += c * h * w * INDEX
        return _T(x.size, x.grad)

    def lrn(self, op: LRNOp, x: _T) -> _T:
        if x.grad:
            c, h, w = op.in_shape
            self.save(x, c * h * w * x.size)
            # the padded squares, the power's base, the power
            self.row.per_image += (h * w * (c + op.size - 1) + 2 * c * h * w) * x.size
        return _T(x.size, x.grad)

    def dropout(self, op: DropoutOp, x: _T) -> _T:
        if op.p == 0:
            return x
        if x.grad:
            c, h, w = op.in_shape
            self.row.per_image += c * h * w * (x.size if self.device == "cpu" else 1)
        return _T(x.size, x.grad)

    def relu(self, op: ReLUOp, x: _T) -> _T:
        out = _T(x.size, x.grad)
        if x.grad:
            c, h, w = op.out_shape
            self.save(out, c * h * w * out.size)
        return out

    def op(self, op, x: _T) -> _T:
        t = type(op)
        if t is ConvOp:
            return self.conv(op, x)
        if t is PoolOp:
            return self.pool(op, x)
        if t is GlobalPoolOp:
            return _T(x.size, x.grad)
        if t is LRNOp:
            return self.lrn(op, x)
        if t is DropoutOp:
            return self.dropout(op, x)
        if t is LinearOp:
            return self.linear(op, x)
        if t is ReLUOp:
            return self.relu(op, x)
        if t is SplitOp:
            return self.concat([self.ops_of(b.ops, x) for b in op.branches])
        raise TypeError(f"no training rule for op {t.__name__}")

    def ops_of(self, ops, x: _T) -> _T:
        for op in ops:
            x = self.op(op, x)
        return x

    @staticmethod
    def concat(outs: list[_T]) -> _T:
        # torch.cat makes a new tensor (even of one part); under autocast it promotes to the widest.
        return _T(max(o.size for o in outs), any(o.grad for o in outs))

    def layer(self, layer: ResolvedLayer, x: _T) -> _T:
        if not layer.parallel:
            return self.ops_of(layer.branches[0].ops, x)
        outs = [self.ops_of(b.ops, x) for b in layer.branches]
        res = layer.residual
        if res is None:
            return self.concat(outs)
        out = outs[0] if len(outs) == 1 else self.concat(outs)
        out = self.ops_of(res.projection, out)
        skip = self.ops_of(res.shortcut, x) if res.shortcut else x
        total = _T(max(out.size, skip.size), out.grad or skip.grad)  # scale and add: nothing saved
        if res.activation == "relu" and total.grad:
            c, h, w = layer.out_shape
            total = _T(total.size, True)  # not in place
            self.save(total, c * h * w * total.size)
        return total


def train_profile(spec: Spec, batch: int = 1, precision: str = "fp32", *, optimizer: str = "sgd",
                  momentum: float = 0.9, channels_last: bool = True, label_smoothing: float = 0.0,
                  device: str = "cpu") -> TrainProfile:
    """The training cost of one step of `spec` on `batch` images at `precision` (autocast for
    bf16/fp16), as archkit's trainer runs it: saved-for-backward bytes and training multiply-adds
    per layer (aux heads and the loss apart), parameters, gradients and optimizer state, and the
    predicted peak. No tensors are made and torch is not imported."""
    return train_profile_resolved(resolved(spec), batch, precision, optimizer=optimizer, momentum=momentum,
                                  channels_last=channels_last, label_smoothing=label_smoothing, device=device)


def check_options(batch: int, precision: str, optimizer: str = "sgd", device: str = "cpu") -> None:
    """ValueError naming the bad value: a batch below 1, an unknown precision, optimizer or device."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"the batch size must be a whole number of at least 1, but got {batch=}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, but got {precision=}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {optimizer=}")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, but got {device=}")


def train_profile_resolved(r: ResolvedSpec, batch: int = 1, precision: str = "fp32", *, optimizer: str = "sgd",
                           momentum: float = 0.9, channels_last: bool = True, label_smoothing: float = 0.0,
                           device: str = "cpu") -> TrainProfile:
    """`train_profile` of an already resolved spec."""
    check_options(batch, precision, optimizer, device)
    walk = _Walk(None if precision == "fp32" else LOW, channels_last, device)
    x = _T(FP32, False)  # the batch of images: fp32, needs no gradient
    heads: dict[str, list] = {}
    for head in r.aux:
        heads.setdefault(head.after, []).append(head)
    rows: list[TrainRow] = []
    aux_rows: dict[str, list[TrainRow]] = {head.name: [] for head in r.aux}
    logits: list[tuple[_T, int]] = []
    aux_logits: dict[str, tuple[_T, int]] = {}
    p = profile_resolved(r, "full")  # the parameter count: one definition
    params = p.total.params + p.aux_total.params
    for layer in r.layers:
        walk.row = TrainRow(layer.name, batch=batch)
        x = walk.layer(layer, x)
        rows.append(walk.row)
        for head in heads.get(layer.name, ()):
            h = x
            for hl in head.layers:
                walk.row = TrainRow(hl.name, batch=batch)
                h = walk.layer(hl, h)
                aux_rows[head.name].append(walk.row)
            aux_logits[head.name] = (h, head.layers[-1].out_shape[0])
    logits.append((x, r.layers[-1].out_shape[0]))
    logits += [aux_logits[head.name] for head in r.aux]
    # The losses: each head's fp32 log-softmax and total weight; the targets once; label smoothing
    # keeps a mask of the targets and a count besides.
    loss = TrainRow("loss", batch=batch)
    loss.per_image += INDEX
    for _, classes in logits:
        loss.per_image += classes * FP32
        loss.fixed += FP32
        if label_smoothing > 0:
            loss.per_image += 1
            loss.fixed += INDEX
    c, h, w = r.input_shape
    workspace = c * h * w * FP32 + _largest_op(r) * (LOW if walk.low else FP32)
    return TrainProfile(
        spec=r.spec.name if r.spec is not None else "", batch=batch, precision=precision, optimizer=optimizer,
        device=device, channels_last=channels_last, rows=rows, aux=[(n, aux_rows[n]) for n in aux_rows], loss=loss,
        params=params, state_per_param={"sgd": 1 if momentum > 0 else 0, "adam": 2}[optimizer],
        workspace_per_image=workspace, momentum=momentum)


def _largest_op(r: ResolvedSpec) -> int:
    """Elements per image of the largest input + output of one op (as `memory.peak_activations`)."""
    peak = 0
    for layer in [*r.layers, *(layer for head in r.aux for layer in head.layers)]:
        for op in layer.ops:
            c, h, w = op.in_shape
            oc, oh, ow = op.out_shape
            peak = max(peak, c * h * w + oc * oh * ow)
    return peak
