"""Resolution: a validated `Spec` -> every op with its input and output shape known.

The builder and the profiler both read this resolved form and nothing else, so they cannot
disagree about what the network is. Shape rules follow PyTorch exactly (including its ceil-mode
rule that a pooling window may not start in the right padding), so the analytic shapes are the
shapes the built model produces. Errors raised here carry the field path of the offending layer.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from .errors import SpecError
from .models import Conv, Inception, Layer, Module, Pool, Spec

Shape = tuple[int, int, int]  # (channels, height, width)


class ConvOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    bias: bool
    batch_norm: bool
    activation: str


class PoolOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape
    mode: str  # "max" | "avg"
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    ceil_mode: bool
    count_include_pad: bool


class GlobalPoolOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape


class LRNOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape
    size: int
    alpha: float
    beta: float
    k: float


class DropoutOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape
    p: float


class LinearOp(NamedTuple):
    name: str
    in_shape: Shape
    out_shape: Shape
    in_features: int
    out_features: int
    bias: bool
    activation: str


Op = Union[ConvOp, PoolOp, GlobalPoolOp, LRNOp, DropoutOp, LinearOp]


class ResolvedBranch(NamedTuple):
    """A sequence of ops; `name` is the module name the builder gives it."""

    name: str
    ops: tuple[Op, ...]

    @property
    def out_shape(self) -> Shape:
        return self.ops[-1].out_shape


class ResolvedLayer(NamedTuple):
    """One spec layer. A plain layer has one branch; a module's branches run in parallel and concat."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    branches: tuple[ResolvedBranch, ...]
    parallel: bool
    layer: Layer

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for branch in self.branches for op in branch.ops)


class ResolvedAux(NamedTuple):
    name: str
    after: str
    weight: float
    layers: tuple[ResolvedLayer, ...]


class ResolvedSpec(NamedTuple):
    spec: Spec
    input_shape: Shape
    layers: tuple[ResolvedLayer, ...]
    aux: tuple[ResolvedAux, ...]

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].out_shape


# Sizes beyond this are surely a typo and would only make the arithmetic (and any build) absurd.
MAX_EXTENT = 1 << 20


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _conv_size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _pool_size(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    # PyTorch's pooling_output_shape: with ceil mode, the last window must start inside the input
    # or the left padding, else it is dropped.
    span = size + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


class _Resolver:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.defaults = spec.defaults

    def conv_ops(self, conv: Conv, shape: Shape, path: tuple, name: str, bn_default, bias_default) -> list[ConvOp]:
        ops = []
        if conv.in_ is not None and conv.in_ != shape[0]:
            raise SpecError(
                f"channel mismatch: the conv expects {conv.in_} input channels, its input has {shape[0]}",
                path + ("in",),
            )
        bn = conv.batch_norm if conv.batch_norm is not None else bn_default
        bias = conv.bias if conv.bias is not None else bias_default
        act = conv.activation or self.defaults.activation
        if conv.reduce is not None:
            reduce = ConvOp(f"{name}reduce", shape, (conv.reduce, shape[1], shape[2]), conv.reduce,
                            (1, 1), (1, 1), (0, 0), bias, bn, act)
            ops.append(reduce)
            shape = reduce.out_shape
        kernel, stride = _pair(conv.kernel), _pair(conv.stride)
        if conv.padding == "same":
            padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
        elif conv.padding == "valid":
            padding = (0, 0)
        else:
            padding = _pair(conv.padding)
        out_hw = self._out_hw(shape, kernel, stride, padding, None, path)
        ops.append(ConvOp(f"{name}conv" if conv.reduce is not None else name.rstrip("."), shape,
                          (conv.out, *out_hw), conv.out, kernel, stride, padding, bias, bn, act))
        return ops

    def pool_op(self, pool: Pool, mode: str, shape: Shape, path: tuple, name: str) -> PoolOp:
        kernel, stride, padding = _pair(pool.kernel), _pair(pool.stride), _pair(pool.padding)
        for axis in (0, 1):
            if padding[axis] * 2 > kernel[axis]:
                raise SpecError(
                    f"padding {padding[axis]} is more than half the kernel {kernel[axis]} (PyTorch refuses it)",
                    path + ("padding",),
                )
        ceil = pool.rounding == "ceil"
        out_hw = self._out_hw(shape, kernel, stride, padding, ceil, path)
        return PoolOp(name, shape, (shape[0], *out_hw), mode, kernel, stride, padding, ceil,
                      pool.count_include_pad)

    def _out_hw(self, shape: Shape, kernel, stride, padding, ceil, path: tuple) -> tuple[int, int]:
        out = []
        for axis, label in ((0, "height"), (1, "width")):
            size = shape[1 + axis]
            if ceil is None:
                new = _conv_size(size, kernel[axis], stride[axis], padding[axis])
            else:
                new = _pool_size(size, kernel[axis], stride[axis], padding[axis], ceil)
            if new < 1:
                raise SpecError(
                    f"spatial size collapses: a {kernel[0]}x{kernel[1]} window (stride {stride[axis]}, "
                    f"padding {padding[axis]}) does not fit the input {label} {size}",
                    path,
                )
            out.append(new)
        return out[0], out[1]

    def layer(self, layer: Layer, shape: Shape, path: tuple, classes: int) -> ResolvedLayer:
        kind = layer.kind
        body = getattr(layer, kind)
        kpath = path + (kind,)
        d = self.defaults
        parallel = False
        if kind == "conv":
            branches = [ResolvedBranch("", tuple(self.conv_ops(body, shape, kpath, "", d.batch_norm, d.bias)))]
        elif kind in ("maxpool", "avgpool"):
            branches = [ResolvedBranch("", (self.pool_op(body, kind[:3], shape, kpath, ""),))]
        elif kind == "global_avgpool":
            branches = [ResolvedBranch("", (GlobalPoolOp("", shape, (shape[0], 1, 1)),))]
        elif kind == "lrn":
            branches = [ResolvedBranch("", (LRNOp("", shape, shape, body.size, body.alpha, body.beta, body.k),))]
        elif kind == "dropout":
            branches = [ResolvedBranch("", (DropoutOp("", shape, shape, body.p),))]
        elif kind == "linear":
            features = shape[0] * shape[1] * shape[2]
            if body.in_ is not None and body.in_ != features:
                raise SpecError(
                    f"channel mismatch: the linear layer expects {body.in_} inputs, its flattened input "
                    f"{shape[0]}x{shape[1]}x{shape[2]} has {features}",
                    kpath + ("in",),
                )
            out = body.out if body.out is not None else classes
            bias = body.bias if body.bias is not None else d.bias
            branches = [ResolvedBranch("", (LinearOp("", shape, (out, 1, 1), features, out, bias, body.activation),))]
        elif kind == "inception":
            parallel = True
            branches = self.inception_branches(body, shape, kpath)
        else:  # module
            parallel = True
            branches = self.module_branches(body, shape, kpath)
        if parallel:
            spatial = {b.out_shape[1:] for b in branches}
            if len(spatial) > 1:
                sizes = ", ".join(f"{b.name}: {b.out_shape[1]}x{b.out_shape[2]}" for b in branches)
                raise SpecError(f"branches must end at the same spatial size to concatenate ({sizes})", kpath)
            (h, w), = spatial
            out_shape = (sum(b.out_shape[0] for b in branches), h, w)
        else:
            out_shape = branches[0].out_shape
        if max(out_shape) > MAX_EXTENT:
            raise SpecError(f"output {out_shape[0]}x{out_shape[1]}x{out_shape[2]} is beyond any real network", kpath)
        return ResolvedLayer(layer.name, kind, shape, out_shape, tuple(branches), parallel, layer)

    def inception_branches(self, inc: Inception, shape: Shape, path: tuple) -> list[ResolvedBranch]:
        bn = inc.batch_norm if inc.batch_norm is not None else self.defaults.batch_norm
        bias = inc.bias if inc.bias is not None else self.defaults.bias

        act = self.defaults.activation

        def conv(out: int, k: int, name: str, at: Shape) -> ConvOp:
            # Built directly (not through the Conv model): this runs for every search candidate.
            pad = (k - 1) // 2
            return ConvOp(name, at, (out, at[1], at[2]), out, (k, k), (1, 1), (pad, pad), bias, bn, act)

        b1 = (conv(inc.n1x1, 1, "0", shape),)
        r3 = conv(inc.n3x3_reduce, 1, "0", shape)
        b3 = (r3, conv(inc.n3x3, 3, "1", r3.out_shape))
        r5 = conv(inc.n5x5_reduce, 1, "0", shape)
        if inc.factorize_5x5:
            # Two stacked 3x3 convs see a 5x5 window; the first keeps the reduce width's successor.
            mid = conv(inc.n5x5, 3, "1", r5.out_shape)
            b5 = (r5, mid, conv(inc.n5x5, 3, "2", mid.out_shape))
        else:
            b5 = (r5, conv(inc.n5x5, 5, "1", r5.out_shape))
        pool = PoolOp("0", shape, shape, inc.pool, (3, 3), (1, 1), (1, 1), False, True)  # 3x3/1, same size
        bp = (pool, conv(inc.pool_proj, 1, "1", pool.out_shape))
        return [
            ResolvedBranch("branch_1x1", b1),
            ResolvedBranch("branch_3x3", b3),
            ResolvedBranch("branch_5x5", b5),
            ResolvedBranch("branch_pool", bp),
        ]

    def module_branches(self, module: Module, shape: Shape, path: tuple) -> list[ResolvedBranch]:
        d = self.defaults
        out = []
        seen = set()
        for bi, branch in enumerate(module.branches):
            bpath = path + ("branches", bi)
            name = branch.name or f"branch{bi}"
            if name in seen:
                raise SpecError(f"duplicate branch name {name!r}", bpath + ("name",))
            seen.add(name)
            at = shape
            ops: list = []
            for oi, op in enumerate(branch.ops):
                opath = bpath + ("ops", oi)
                if op.conv is not None:
                    new = self.conv_ops(op.conv, at, opath + ("conv",), f"{len(ops)}.", d.batch_norm, d.bias)
                    # A conv with reduce is two ops; name them by their index in the branch.
                    new = [o._replace(name=str(len(ops) + i)) for i, o in enumerate(new)]
                else:
                    mode = "max" if op.maxpool is not None else "avg"
                    pool = op.maxpool or op.avgpool
                    new = [self.pool_op(pool, mode, at, opath + (mode + "pool",), str(len(ops)))]
                ops.extend(new)
                at = new[-1].out_shape
            out.append(ResolvedBranch(name, tuple(ops)))
        return out

    def layers(self, layers, shape: Shape, path: tuple, classes: int) -> list[ResolvedLayer]:
        resolved = []
        names: dict[str, int] = {}
        for i, layer in enumerate(layers):
            if layer.name in names:
                raise SpecError(
                    f"duplicate layer name {layer.name!r} (also layers[{names[layer.name]}])",
                    path + (i, "name"),
                )
            names[layer.name] = i
            r = self.layer(layer, shape, path + (i,), classes)
            resolved.append(r)
            shape = r.out_shape
        return resolved


def resolve(spec: Spec) -> ResolvedSpec:
    """Resolve a validated spec; raises `SpecError` (with the field path) if the network cannot exist."""
    r = _Resolver(spec)
    input_shape = (spec.input.channels, *spec.input.hw)
    layers = r.layers(spec.layers, input_shape, ("layers",), spec.classes)
    by_name = {layer.name: layer for layer in layers}
    aux = []
    aux_names = set(by_name)
    for i, head in enumerate(spec.aux):
        path = ("aux", i)
        if head.after not in by_name:
            raise SpecError(f"aux head after {head.after!r}, but there is no layer of that name", path + ("after",))
        name = head.name or f"aux{i + 1}"
        if name in aux_names:
            raise SpecError(f"aux head name {name!r} is already used by a layer or another head", path + ("name",))
        aux_names.add(name)
        if by_name[head.after] is layers[-1]:
            raise SpecError("an aux head after the last layer would duplicate the classifier", path + ("after",))
        head_layers = r.layers(head.layers, by_name[head.after].out_shape, path + ("layers",), spec.classes)
        _check_classifier(head_layers, spec.classes, path + ("layers",))
        aux.append(ResolvedAux(name, head.after, head.weight, tuple(head_layers)))
    _check_classifier(layers, spec.classes, ("layers",))
    return ResolvedSpec(spec, input_shape, tuple(layers), tuple(aux))


def _check_classifier(layers: list[ResolvedLayer], classes: int, path: tuple) -> None:
    last = layers[-1]
    if last.kind != "linear":
        raise SpecError("the last layer must be a linear classifier (it gives the logits)", path + (len(layers) - 1,))
    if last.out_shape[0] != classes:
        raise SpecError(
            f"the last linear layer has {last.out_shape[0]} outputs but the spec has {classes} classes",
            path + (len(layers) - 1, "linear", "out"),
        )
