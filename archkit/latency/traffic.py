"""Analytic memory traffic and arithmetic intensity, per op and per layer (pure: no torch).

Conventions, stated once:
- bytes of an op: the elements it must read and write at least, times the bytes per element of the
  precision (fp32 4, bf16 2): its weights (a conv's or linear layer's weights and bias, and batch
  norm's scale, shift, mean and variance, which inference reads too) plus its input plus its output.
  A conv's batch norm and ReLU count as fused into it (no extra pass), as an inference engine runs
  them. The batch multiplies the activations, never the weights (they are read once per batch).
- dropout is the identity at inference: 0 bytes. A split and a module's concatenation cost a read
  and a write of the joined tensor (eager PyTorch's `torch.cat` copies); a residual module's
  addition reads its two terms and writes the sum (scale and activation fused into it).
- ops: multiply-adds of convs and linear layers, as `archkit profile` counts them, times the batch;
  so intensity = ops / bytes is multiply-adds per byte (FLOPs per byte is twice that).
"""

from __future__ import annotations

from typing import NamedTuple

from ..profile.counts import count
from ..spec.resolve import ConvOp, DropoutOp, LinearOp, Op, ResolvedLayer, ResolvedSpec, Shape, SplitOp
from .errors import BYTES_PER_ELEMENT, check_batch, check_precision


class Traffic(NamedTuple):
    """Bytes moved and multiply-adds done (both for the whole batch); unpacks as (bytes, ops)."""

    bytes: int
    ops: int

    @property
    def intensity(self) -> float | None:
        """Multiply-adds per byte; None when nothing is moved."""
        return intensity(self.ops, self.bytes)


class LayerTraffic(NamedTuple):
    name: str
    bytes: int
    ops: int

    @property
    def intensity(self) -> float | None:
        return intensity(self.ops, self.bytes)


def intensity(ops: int, nbytes: int) -> float | None:
    """Arithmetic intensity: multiply-adds per byte moved; None when no byte is (0 / 0 means nothing)."""
    return ops / nbytes if nbytes else None


def elements(shape: Shape) -> int:
    c, h, w = shape
    return c * h * w


def weight_elements(op: Op) -> int:
    """Parameters (and batch norm's statistics) an op reads once per batch at inference."""
    t = type(op)
    if t is ConvOp:
        weights = op.in_shape[0] // op.groups * op.kernel[0] * op.kernel[1] * op.out_channels
        return weights + op.out_channels * (op.bias + 4 * op.batch_norm)
    if t is LinearOp:
        return op.in_features * op.out_features + op.out_features * op.bias
    if t is SplitOp:
        return sum(weight_elements(inner) for branch in op.branches for inner in branch.ops)
    return 0


def op_elements(op: Op, batch: int = 1) -> int:
    """Elements an op reads and writes for a batch: weights + batch x (input + output)."""
    t = type(op)
    if t is DropoutOp:
        return 0  # the identity at inference: nothing is read or written
    if t is SplitOp:
        inner = sum(op_elements(o, batch) for branch in op.branches for o in branch.ops)
        return inner + concat_elements(op.out_shape, batch)
    return weight_elements(op) + batch * (elements(op.in_shape) + elements(op.out_shape))


def concat_elements(out_shape: Shape, batch: int = 1) -> int:
    """A concatenation reads every part and writes the joined tensor: twice its elements."""
    return 2 * batch * elements(out_shape)


def add_elements(shape: Shape, batch: int = 1) -> int:
    """A residual addition reads its two terms and writes the sum: three times the elements."""
    return 3 * batch * elements(shape)


def op_bytes(op: Op, precision: str = "fp32", batch: int = 1) -> int:
    """Bytes an op moves at `precision` for a batch: (weights + batch x (input + output)) x bytes per
    element. A split counts its sub-ops and the concatenation of their outputs.

    >>> from archkit.spec.resolve import ConvOp
    >>> conv = ConvOp("c", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, False, "relu")
    >>> op_bytes(conv, "fp32") == (16 * 9 * 8 + 16 * 64 + 8 * 64) * 4
    True
    """
    check_precision(precision)
    check_batch(batch)
    return op_elements(op, batch) * BYTES_PER_ELEMENT[precision]


def op_ops(op: Op, batch: int = 1) -> int:
    """Multiply-adds of an op for a batch (the profile's per-image count times the batch)."""
    return count(op, False)[1] * batch


def layer_traffic(layer: ResolvedLayer, precision: str = "fp32", batch: int = 1) -> Traffic:
    """(bytes, ops) of one spec layer for a batch at `precision`: its ops' traffic (splits included),
    the concatenation of a module's branches, and a residual module's projection, shortcut and
    addition. ops are the profile row's multiply-adds times the batch, so `bytes` and `ops / bytes`
    (the intensity) are what the profile's `bytes` and `intensity` columns show."""
    check_precision(precision)
    check_batch(batch)
    size = BYTES_PER_ELEMENT[precision]
    total = ops = 0
    for branch in layer.branches:
        for op in branch.ops:
            total += op_elements(op, batch)
            ops += count(op, False)[1]
    if layer.parallel:
        res = layer.residual
        joined = _joined_shape(layer)
        # The builder's Concat always calls torch.cat; a residual module with one branch skips it.
        if res is None or len(layer.branches) > 1:
            total += concat_elements(joined, batch)
        if res is not None:
            for op in (*res.projection, *res.shortcut):
                total += op_elements(op, batch)
                ops += count(op, False)[1]
            total += add_elements(layer.out_shape, batch)
    return Traffic(total * size, ops * batch)


def _joined_shape(layer: ResolvedLayer) -> Shape:
    outs = [branch.out_shape for branch in layer.branches]
    return sum(s[0] for s in outs), outs[0][1], outs[0][2]


def spec_traffic(r: ResolvedSpec, precision: str = "fp32", batch: int = 1) -> list[LayerTraffic]:
    """`layer_traffic` of every layer of the inference path (aux heads are dropped at inference)."""
    return [LayerTraffic(layer.name, *layer_traffic(layer, precision, batch)) for layer in r.layers]
