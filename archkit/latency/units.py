"""The units a network is cut into for the latency table, and each unit's key and features.

A network is cut into units, each timed alone on the device once per distinct signature
(`op_signature`: kind, shapes, kernel, stride, padding, groups, ..., precision, input dtype, batch):
- every leaf op (a conv with its batch norm and ReLU, a pool, LRN, a linear layer, ...), built with
  the builder's own `op_module`, so it is the very module the model runs;
- every concatenation (a module's branches, a split's sub-branches): `torch.cat` of the parts;
- every residual addition: scale, add the shortcut, activation, as the builder's `Residual` does.
What the units leave out is the Python around them: each container module a layer is built of (a
`Chain` per branch, the `Concat`/`Residual` around the branches) costs one more module call
(`LayerUnits.containers`). Each unit's multiply-adds, bytes, kind and kernel launches feed the
table's per-kind fit and the device's roofline. No torch here.
"""

from __future__ import annotations

from typing import NamedTuple

from ..spec.resolve import (
    ConvOp,
    DropoutOp,
    GlobalPoolOp,
    LinearOp,
    LRNOp,
    Op,
    PoolOp,
    ReLUOp,
    ResolvedLayer,
    ResolvedSpec,
    Shape,
    SplitOp,
)
from .errors import BYTES_PER_ELEMENT, check_batch, check_precision
from .traffic import op_elements, op_ops


class ConcatOp(NamedTuple):
    """Parts of `parts` channels each, concatenated along channels (`out_shape` the joined tensor)."""

    name: str
    in_shape: Shape  # the joined shape too: a concatenation reads as many elements as it writes
    out_shape: Shape
    parts: tuple[int, ...]


class AddOp(NamedTuple):
    """A residual module's end: activation(scale x out + shortcut), all of shape `out_shape`."""

    name: str
    in_shape: Shape
    out_shape: Shape
    scale: float
    activation: str


Unit = Op | ConcatOp | AddOp


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _pair(pair: tuple[int, int]) -> str:
    return f"{pair[0]}x{pair[1]}"


def compute_dtype(precision: str) -> str:
    """The dtype convs and linear layers give under `precision`'s autocast."""
    return "bf16" if precision == "bf16" else "fp32"


def op_signature(op: Unit, precision: str = "fp32", batch: int = 1, in_dtype: str | None = None) -> str:
    """The table's key of an op: everything that decides its latency and nothing else (not its name,
    nor batch norm's epsilon, nor dropout's rate): kind, input shape, output channels, kernel,
    stride, padding, groups, bias, batch norm, activation, pool mode and rounding, ..., then the
    precision, the input's dtype (under bf16 autocast an op after LRN gets fp32) and the batch.
    A string: hashable, a JSON key, and readable in the cache file.

    >>> from archkit.spec.resolve import ConvOp
    >>> op_signature(ConvOp("x", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, True, "relu"))
    'conv in=16x8x8 out=8 k=3x3 s=1x1 p=1x1 g=1 bias=0 bn=1 act=relu | fp32 x=fp32 b=1'
    """
    check_precision(precision)
    check_batch(batch)
    t = type(op)
    if t is ConvOp:
        body = (f"conv in={_shape(op.in_shape)} out={op.out_channels} k={_pair(op.kernel)} s={_pair(op.stride)} "
                f"p={_pair(op.padding)} g={op.groups} bias={int(op.bias)} bn={int(op.batch_norm)} act={op.activation}")
    elif t is PoolOp:
        body = (f"{op.mode}pool in={_shape(op.in_shape)} k={_pair(op.kernel)} s={_pair(op.stride)} "
                f"p={_pair(op.padding)} ceil={int(op.ceil_mode)} cip={int(op.count_include_pad)}")
    elif t is GlobalPoolOp:
        body = f"gavgpool in={_shape(op.in_shape)}"
    elif t is LRNOp:
        body = f"lrn in={_shape(op.in_shape)} size={op.size}"
    elif t is DropoutOp:
        body = f"dropout in={_shape(op.in_shape)}"  # the identity at inference, whatever its rate
    elif t is LinearOp:
        body = f"linear in={_shape(op.in_shape)} out={op.out_features} bias={int(op.bias)} act={op.activation}"
    elif t is ReLUOp:
        body = f"relu in={_shape(op.in_shape)}"
    elif t is ConcatOp:
        body = f"concat parts={'+'.join(map(str, op.parts))} hw={op.out_shape[1]}x{op.out_shape[2]}"
    elif t is AddOp:
        body = f"add shape={_shape(op.out_shape)} scale={op.scale!r} act={op.activation}"
    elif t is SplitOp:
        raise TypeError("a split is not timed alone: its sub-branches' ops and their concatenation are")
    else:
        raise TypeError(f"no signature for {t.__name__}")
    return f"{body} | {precision} x={in_dtype or compute_dtype(precision)} b={batch}"


def _out_dtype(op: Unit, dtype: str, precision: str) -> str:
    # autocast (CPU and CUDA) runs convs and matmuls in bf16 and LRN in fp32; the rest keep their input's.
    if precision == "fp32":
        return "fp32"
    t = type(op)
    if t is ConvOp or t is LinearOp:
        return "bf16"
    if t is LRNOp:
        return "fp32"
    return dtype


def _widest(dtypes) -> str:
    return "fp32" if "fp32" in dtypes else "bf16"


class LayerUnits(NamedTuple):
    """A layer cut into timed units (each with its input dtype) and the container calls around them."""

    units: list[tuple[Unit, str]]
    containers: int
    out_dtype: str


def _branches_units(branches, dtype: str, precision: str, units: list) -> tuple[int, str]:
    """Parallel branches from one input: their container calls (a Chain each) and joined dtype."""
    containers = 0
    outs = []
    for branch in branches:
        c, d = _sequence_units(branch.ops, dtype, precision, units)
        containers += 1 + c  # the branch's Chain and what it holds
        outs.append(d)
    return containers, _widest(outs)


def _sequence_units(ops, dtype: str, precision: str, units: list) -> tuple[int, str]:
    containers = 0
    for op in ops:
        if type(op) is SplitOp:
            c, dtype = _branches_units(op.branches, dtype, precision, units)
            containers += 1 + c  # its Concat and the branches
            units.append((ConcatOp(op.name, op.out_shape, op.out_shape,
                                   tuple(b.out_shape[0] for b in op.branches)), dtype))
        else:
            units.append((op, dtype))
            dtype = _out_dtype(op, dtype, precision)
    return containers, dtype


def layer_units(layer: ResolvedLayer, precision: str = "fp32", in_dtype: str = "fp32") -> LayerUnits:
    """The units of a layer as the builder builds it (`layer_module`) and its container calls."""
    units: list[tuple[Unit, str]] = []
    if not layer.parallel:
        ops = layer.branches[0].ops
        containers, dtype = _sequence_units(ops, in_dtype, precision, units)
        return LayerUnits(units, containers + (len(ops) > 1), dtype)  # a Chain when several ops
    c, dtype = _branches_units(layer.branches, in_dtype, precision, units)
    containers = 1 + c  # the Concat or Residual, and the branches
    res = layer.residual
    joined = (sum(b.out_shape[0] for b in layer.branches), *layer.branches[0].out_shape[1:])
    if res is None or len(layer.branches) > 1:  # Concat always cats; Residual skips a lone branch
        units.append((ConcatOp("concat", joined, joined, tuple(b.out_shape[0] for b in layer.branches)), dtype))
    if res is not None:
        # the projection follows the concatenation; the shortcut starts from the module's input
        c, dtype = _sequence_units(res.projection, dtype, precision, units)
        containers += c + (len(res.projection) > 1)  # a Chain when several ops
        c, skip = _sequence_units(res.shortcut, in_dtype, precision, units)
        containers += c + (len(res.shortcut) > 1)
        dtype = _widest((dtype, skip))
        units.append((AddOp("add", layer.out_shape, layer.out_shape, res.scale, res.activation), dtype))
    return LayerUnits(units, containers, dtype)


def spec_units(r: ResolvedSpec, precision: str = "fp32") -> list[tuple[str, LayerUnits]]:
    """(layer name, its units) for every layer of the inference path, dtypes flowing layer to layer."""
    out = []
    dtype = "fp32"  # the image batch
    for layer in r.layers:
        lu = layer_units(layer, precision, dtype)
        out.append((layer.name, lu))
        dtype = lu.out_dtype
    return out


def unit_bytes(op: Unit, precision: str, batch: int) -> int:
    """Bytes a unit moves (as `archkit.latency.traffic` counts them; an addition reads two terms)."""
    size = BYTES_PER_ELEMENT[precision]
    if type(op) is AddOp:
        c, h, w = op.out_shape
        return 3 * batch * c * h * w * size
    return op_elements(op, batch) * size


def unit_ops(op: Unit, batch: int) -> int:
    return 0 if type(op) in (ConcatOp, AddOp) else op_ops(op, batch)


def unit_kind(op: Unit) -> str:
    """The family a unit's latency is fitted within: its signature's kind, grouped convs apart
    (a depthwise conv is memory-bound where a dense one is compute-bound)."""
    t = type(op)
    if t is ConvOp:
        return "conv-grouped" if op.groups > 1 else "conv"
    if t is PoolOp:
        return f"{op.mode}pool"
    return {GlobalPoolOp: "gavgpool", LRNOp: "lrn", DropoutOp: "dropout", LinearOp: "linear", ReLUOp: "relu",
            ConcatOp: "concat", AddOp: "add"}[t]


def kernels(op: Unit) -> int:
    """Kernel launches (module calls for dropout) a unit makes: its share of fixed overhead."""
    t = type(op)
    if t is ConvOp:
        return 1 + op.batch_norm + (op.activation == "relu")
    if t is LinearOp:
        return 2 + (op.activation == "relu")  # flatten, linear, [relu]
    if t is AddOp:
        return 1 + (op.scale != 1.0) + (op.activation == "relu")
    return 1
