"""Resolution: a validated `Spec` -> every op with its input and output shape known.

The builder and the profiler both read this resolved form and nothing else, so they cannot
disagree about what the network is. Shape rules follow PyTorch exactly (including its ceil-mode
rule that a pooling window may not start in the right padding), so the analytic shapes are the
shapes the built model produces. Errors raised here carry the field path of the offending layer.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple, Union

from .errors import SpecError
from .models import Branch, Conv, Inception, Layer, Module, Pool, Residual, Spec

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
    groups: int = 1
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1


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


class ReLUOp(NamedTuple):
    """A ReLU on its own (pre-activation); never in place, the input may still be needed."""

    name: str
    in_shape: Shape
    out_shape: Shape


class SplitOp(NamedTuple):
    """Parallel sub-branches on one input, concatenated along channels (they may split again)."""

    name: str
    in_shape: Shape
    out_shape: Shape
    branches: tuple[ResolvedBranch, ...]


Op = Union[ConvOp, PoolOp, GlobalPoolOp, LRNOp, DropoutOp, LinearOp, ReLUOp, SplitOp]


class ResolvedBranch(NamedTuple):
    """A sequence of ops; `name` is the module name the builder gives it."""

    name: str
    ops: tuple[Op, ...]

    @property
    def out_shape(self) -> Shape:
        return self.ops[-1].out_shape


class ResolvedResidual(NamedTuple):
    """A residual module's other parts: out = activation(scale * projection(concat) + shortcut(x)).
    An empty `projection` or `shortcut` is the identity."""

    projection: tuple[Op, ...]
    shortcut: tuple[Op, ...]
    scale: float
    activation: str


class ResolvedLayer(NamedTuple):
    """One spec layer. A plain layer has one branch; a module's branches run in parallel and concat
    (then, for a residual module, the projection, the scale and the shortcut's addition). Layers of
    one module body (the same object) at the same input shape share `branches` and `residual`."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    branches: tuple[ResolvedBranch, ...]
    parallel: bool
    layer: Layer
    residual: ResolvedResidual | None = None

    @property
    def ops(self) -> tuple[Op, ...]:
        """Every op with weights or a shape of its own, splits opened up, residual parts included."""
        parts = [op for branch in self.branches for op in branch.ops]
        if self.residual is not None:
            parts += [*self.residual.projection, *self.residual.shortcut]
        return tuple(leaf_ops(parts))


def leaf_ops(ops) -> list[Op]:
    """The ops of a sequence with every split replaced by its sub-branches' ops, depth first."""
    out: list[Op] = []
    for op in ops:
        if type(op) is SplitOp:
            for branch in op.branches:
                out += leaf_ops(branch.ops)
        else:
            out.append(op)
    return out


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


def _hwc(shape: Shape) -> str:
    return f"{shape[1]}x{shape[2]}x{shape[0]}"


def _concat_shape(branches: list[ResolvedBranch], path: tuple) -> Shape:
    """The shape of parallel branches concatenated along channels; they must agree in space."""
    _, h, w = branches[0][1][-1][2]  # the first branch's last op's out_shape
    channels = 0
    for b in branches:
        c, bh, bw = b[1][-1][2]
        if bh != h or bw != w:
            sizes = ", ".join(f"{b.name}: {b.out_shape[1]}x{b.out_shape[2]}" for b in branches)
            raise SpecError(f"branches must end at the same spatial size to concatenate ({sizes})", path)
        channels += c
    return channels, h, w


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


# Ops built as plain tuples of all their fields (not through each NamedTuple's own __new__: one
# Python call less per op; resolution runs for every candidate the search measures).
_new = tuple.__new__


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
        self.norm = (spec.defaults.batch_norm_eps, spec.defaults.batch_norm_momentum)
        # (id of a module's or inception's body, input shape) -> (body, branches, residual, output
        # shape): a body met again at the same input shape (Inception-ResNet-v2's 10 + 20 + 10
        # blocks, one YAML anchor each; one `Module` object used by several layers) is resolved
        # once per call. Its parts are immutable, so the layers share them. The body is held in the
        # entry, so its id cannot be reused by another object during the call.
        self.modules: dict[tuple[int, Shape], tuple] = {}

    def conv_ops(self, conv: Conv, shape: Shape, path: tuple, name: str, bn_default, bias_default,
                 index: int | None = None) -> list[ConvOp]:
        """The ops of one conv: [reduce], [depthwise], the conv itself; named `<name>reduce`,
        `<name>depthwise`, `<name>pointwise`/`<name>conv` when there are several, else `name`; or,
        with `index` (a branch's ops), `index`, `index + 1`, ... (this runs for every conv of every
        candidate the search measures: kept lean)."""
        c = conv.__dict__  # the fields, read directly (a frozen model: the same values)
        if c["in_"] is not None and c["in_"] != shape[0]:
            raise SpecError(
                f"channel mismatch: the conv expects {conv.in_} input channels, its input has {shape[0]}",
                path + ("in",),
            )
        bn = c["batch_norm"]
        if bn is None:
            bn = bn_default
        bias = c["bias"]
        if bias is None:
            bias = bias_default
        act = c["activation"] or self.defaults.activation
        eps, momentum = self.norm
        out = c["out"]
        reduce = c["reduce"]
        ops = []
        at = 0
        if reduce is not None:
            label = str(index) if index is not None else f"{name}reduce"
            reduced = (reduce, shape[1], shape[2])
            ops.append(_new(ConvOp, (label, shape, reduced, reduce, (1, 1), (1, 1), (0, 0), bias, bn, act, 1,
                                     eps, momentum)))
            shape = reduced
            at = 1
        kernel = c["kernel"]
        kernel = (kernel, kernel) if isinstance(kernel, int) else (kernel[0], kernel[1])
        stride = c["stride"]
        stride = (stride, stride) if isinstance(stride, int) else (stride[0], stride[1])
        padding = c["padding"]
        if padding == "same":
            padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
        elif padding == "valid":
            padding = (0, 0)
        else:
            padding = _pair(padding)
        oh = (shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1
        ow = (shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1
        if oh < 1 or ow < 1:
            self._out_hw(shape, kernel, stride, padding, None, path)  # raises, naming the axis
        if c["separable"]:
            depth = shape[0] * (c["multiplier"] or 1)
            if depth > MAX_EXTENT:
                raise SpecError(f"multiplier {conv.multiplier} gives {depth:,} depthwise channels: beyond any "
                                "real network", path + ("multiplier",))
            # Depthwise: each input channel convolved alone (groups = its channels); no bias, norm or
            # activation of its own (Xception's, as Keras's SeparableConv2D).
            label = str(index + at) if index is not None else f"{name}depthwise"
            deep = (depth, oh, ow)
            ops.append(_new(ConvOp, (label, shape, deep, depth, kernel, stride, padding, False, False, "none",
                                     shape[0], eps, momentum)))
            pointwise = str(index + at + 1) if index is not None else f"{name}pointwise"
            ops.append(_new(ConvOp, (pointwise, deep, (out, oh, ow), out, (1, 1), (1, 1), (0, 0), bias, bn, act, 1,
                                     eps, momentum)))
            return ops
        groups = c["groups"]
        if groups != 1:
            for channels, what in ((shape[0], "input"), (out, "output")):
                if channels % groups:
                    raise SpecError(f"groups {groups} does not divide the {channels} {what} channels "
                                    "(each group needs a whole share of both)", path + ("groups",))
        if index is not None:
            label = str(index + at)
        else:
            label = f"{name}conv" if reduce is not None else name.rstrip(".")
        ops.append(_new(ConvOp, (label, shape, (out, oh, ow), out, kernel, stride, padding, bias, bn, act, groups,
                                 eps, momentum)))
        return ops

    def pool_op(self, pool: Pool, mode: str, shape: Shape, path: tuple, name: str) -> PoolOp:
        p = pool.__dict__
        kernel, stride, padding = _pair(p["kernel"]), _pair(p["stride"]), _pair(p["padding"])
        for axis in (0, 1):
            if padding[axis] * 2 > kernel[axis]:
                raise SpecError(
                    f"padding {padding[axis]} is more than half the kernel {kernel[axis]} (PyTorch refuses it)",
                    path + ("padding",),
                )
        ceil = p["rounding"] == "ceil"
        oh = _pool_size(shape[1], kernel[0], stride[0], padding[0], ceil)
        ow = _pool_size(shape[2], kernel[1], stride[1], padding[1], ceil)
        if oh < 1 or ow < 1:
            self._out_hw(shape, kernel, stride, padding, ceil, path)  # raises, naming the axis
        return _new(PoolOp, (name, shape, (shape[0], oh, ow), mode, kernel, stride, padding, ceil,
                             p["count_include_pad"]))

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
        body = layer.__dict__[kind]
        if kind == "module" or kind == "inception":
            hit = self.modules.get((id(body), shape))
            if hit is not None and hit[0] is body:
                return _new(ResolvedLayer, (layer.name, kind, shape, hit[3], hit[1], True, layer, hit[2]))
        kpath = path + (kind,)
        d = self.defaults
        parallel = False
        if kind == "conv":
            branches = [_new(ResolvedBranch, ("", tuple(self.conv_ops(body, shape, kpath, "", d.batch_norm,
                                                                      d.bias))))]
        elif kind == "maxpool" or kind == "avgpool":
            branches = [_new(ResolvedBranch, ("", (self.pool_op(body, kind[:3], shape, kpath, ""),)))]
        elif kind == "global_avgpool":
            branches = [_new(ResolvedBranch, ("", (_new(GlobalPoolOp, ("", shape, (shape[0], 1, 1))),)))]
        elif kind == "lrn":
            branches = [_new(ResolvedBranch, ("", (_new(LRNOp, ("", shape, shape, body.size, body.alpha, body.beta,
                                                                body.k)),)))]
        elif kind == "dropout":
            branches = [_new(ResolvedBranch, ("", (_new(DropoutOp, ("", shape, shape, body.p)),)))]
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
            branches = [_new(ResolvedBranch, ("", (_new(LinearOp, ("", shape, (out, 1, 1), features, out, bias,
                                                                    body.activation)),)))]
        elif kind == "inception":
            parallel = True
            branches = self.inception_branches(body, shape, kpath)
        else:  # module
            parallel = True
            branches = self.module_branches(body, shape, kpath)
        residual = None
        if parallel:
            out_shape = _concat_shape(branches, kpath)
            if kind == "module" and body.residual is not None:
                residual, out_shape = self.residual(body.residual, shape, out_shape, kpath + ("residual",))
        else:
            out_shape = branches[0][1][-1][2]  # its last op's out_shape
        if out_shape[0] > MAX_EXTENT or out_shape[1] > MAX_EXTENT or out_shape[2] > MAX_EXTENT:
            raise SpecError(f"output {out_shape[0]}x{out_shape[1]}x{out_shape[2]} is beyond any real network", kpath)
        branches = tuple(branches)
        if parallel:
            self.modules[id(body), shape] = (body, branches, residual, out_shape)
        return _new(ResolvedLayer, (layer.name, kind, shape, out_shape, branches, parallel, layer, residual))

    def inception_branches(self, inc: Inception, shape: Shape, path: tuple) -> list[ResolvedBranch]:
        bn = inc.batch_norm if inc.batch_norm is not None else self.defaults.batch_norm
        bias = inc.bias if inc.bias is not None else self.defaults.bias

        tail = (bias, bn, self.defaults.activation, 1, *self.norm)
        new = tuple.__new__

        def conv(out: int, k: int, name: str, at: Shape) -> ConvOp:
            # Built directly (not through the Conv model, nor ConvOp's own __new__, one call
            # less): this runs for every conv of every search candidate.
            pad = (k - 1) // 2
            return new(ConvOp, (name, at, (out, at[1], at[2]), out, (k, k), (1, 1), (pad, pad), *tail))

        # (`op[2]`: an op's out_shape)
        b1 = (conv(inc.n1x1, 1, "0", shape),)
        r3 = conv(inc.n3x3_reduce, 1, "0", shape)
        b3 = (r3, conv(inc.n3x3, 3, "1", r3[2]))
        r5 = conv(inc.n5x5_reduce, 1, "0", shape)
        if inc.factorize_5x5:
            # Two stacked 3x3 convs see a 5x5 window; the first keeps the reduce width's successor.
            mid = conv(inc.n5x5, 3, "1", r5[2])
            b5 = (r5, mid, conv(inc.n5x5, 3, "2", mid[2]))
        else:
            b5 = (r5, conv(inc.n5x5, 5, "1", r5[2]))
        pool = new(PoolOp, ("0", shape, shape, inc.pool, (3, 3), (1, 1), (1, 1), False, True))  # 3x3/1, same size
        bp = (pool, conv(inc.pool_proj, 1, "1", shape))
        return [
            new(ResolvedBranch, ("branch_1x1", b1)),
            new(ResolvedBranch, ("branch_3x3", b3)),
            new(ResolvedBranch, ("branch_5x5", b5)),
            new(ResolvedBranch, ("branch_pool", bp)),
        ]

    def module_branches(self, module: Module, shape: Shape, path: tuple) -> list[ResolvedBranch]:
        return self.branches(module.branches, shape, path + ("branches",))

    def branches(self, branches: list[Branch], shape: Shape, path: tuple) -> list[ResolvedBranch]:
        """Parallel branches on one input (a module's, or a split's at `path`), each resolved."""
        out = []
        seen = set()
        for bi, branch in enumerate(branches):
            name = branch.name or f"branch{bi}"
            if name in seen:
                raise SpecError(f"duplicate branch name {name!r}", path + (bi, "name"))
            seen.add(name)
            out.append(_new(ResolvedBranch, (name, tuple(self.branch_ops(branch, shape, path, bi)))))
        return out

    def branch_ops(self, branch: Branch, shape: Shape, path: tuple, bi: int) -> list[Op]:
        """The ops of branch `bi` at `path`, on an input of `shape` (field paths built only for
        what they are needed for: this runs for every op of every module)."""
        d = self.defaults
        at = shape
        ops: list = []
        for oi, op in enumerate(branch.ops):
            o = op.__dict__
            if o["conv"] is not None:
                # A conv with reduce or a separable conv is several ops; each named by its index.
                new = self.conv_ops(o["conv"], at, path + (bi, "ops", oi, "conv"), "", d.batch_norm, d.bias,
                                    len(ops))
            elif o["relu"] is not None:
                new = [ReLUOp(str(len(ops)), at, at)]
            elif o["split"] is not None:
                spath = path + (bi, "ops", oi, "split")
                parts = self.branches(o["split"], at, spath)
                new = [SplitOp(str(len(ops)), at, _concat_shape(parts, spath), tuple(parts))]
            else:
                kind = op.kind
                new = [self.pool_op(o[kind], kind[:3], at, path + (bi, "ops", oi, kind), str(len(ops)))]
            ops += new
            at = new[-1][2]  # its out_shape
        return ops

    def residual(self, res: Residual, shape: Shape, joined: Shape, path: tuple) -> tuple[ResolvedResidual, Shape]:
        """The residual parts of a module whose input is `shape` and whose branches give `joined`;
        and the module's output shape. Everything added must have the same shape."""
        d = self.defaults
        projection, out = (), joined
        if res.projection is not None:
            projection = tuple(self.conv_ops(res.projection, joined, path + ("projection",), "", d.batch_norm, d.bias))
            out = projection[-1].out_shape
        shortcut, skip = (), shape
        if res.shortcut is not None:
            shortcut = tuple(self.conv_ops(res.shortcut, shape, path + ("shortcut",), "", d.batch_norm, d.bias))
            skip = shortcut[-1].out_shape
        if out != skip:
            what = "the projection gives" if projection else "the branches give"
            other = "the shortcut gives" if shortcut else "the module's input is"
            where = path + (("projection",) if projection else ("shortcut",) if shortcut else ())
            hint = (f"the projection's out must be {skip[0]}" if projection and out[1:] == skip[1:]
                    else "add a projection or a shortcut that makes them agree")
            raise SpecError(f"cannot add: {what} {_hwc(out)} but {other} {_hwc(skip)} ({hint})", where)
        return ResolvedResidual(projection, shortcut, res.scale, res.activation), out

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


# --- the resolution of each spec, kept ----------------------------------------------------------

# Resolution is pure and a Spec is frozen, so each spec is resolved once and the result kept for
# as long as the spec lives: a weak reference drops the entry with the spec. (Holding specs alive
# instead made a search's heap grow by thousands of specs, and the garbage collector's full passes
# over them cost more than the resolving they saved.)
_RESOLVED: dict[int, tuple[weakref.ref, ResolvedSpec]] = {}


def remember(spec: Spec, resolved: ResolvedSpec) -> None:
    """Keep `resolved` as the resolution of `spec` for as long as the spec lives."""
    key = id(spec)
    # Kept without its `spec` field, which would keep the spec alive through this very table.
    _RESOLVED[key] = (weakref.ref(spec, lambda _ref, key=key: _RESOLVED.pop(key, None)),
                      resolved._replace(spec=None))


def resolved(spec: Spec) -> ResolvedSpec:
    """The resolved form of a spec (shapes known); raises `SpecError` if it cannot be resolved."""
    hit = _RESOLVED.get(id(spec))
    if hit is not None and hit[0]() is spec:
        return hit[1]._replace(spec=spec)
    result = resolve(spec)
    remember(spec, result)
    return result
