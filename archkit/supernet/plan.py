"""The supernet's plan: which weights it holds, how large, and which slice of them each candidate uses.

A *slot* is one shared weight tensor (with its bias and batch norm), keyed by the path of the module
that `archkit.build` makes for the op (`inception4a.branches.branch_5x5.1`) and the op's kernel
(`#5x5`). Candidates whose specs have a conv at the same path with the same kernel share its slot:
a candidate's conv keeps the first k output filters. A different kernel at the same path (a 5x5 and
the first of two factorized 3x3s) is a different slot: weights are only shared where the op is the
same op. The slot is as wide as the widest candidate of the planning pool asks for, and as deep
(input channels) as the layout that feeds it.

A *layout* is how a concatenation's channels are laid out in the supernet: every module of a stage
concatenates its branches into one stage layout, branch b at a fixed offset with room for the widest
branch b of any module of that stage. So the channels a module's 1x1 branch makes always meet the
same input columns of whatever module comes next, whichever module of the stage made them and
however deep the stage is. A candidate's channels are a list of runs (start, length) in the layout;
a conv's input columns are those runs, its output a prefix.

A *program* is a candidate traced through the plan: its ops in order, each weighted op with its slot
and the runs of input columns it reads. The supernet's forward and the sliced state dict both read
the program, so the sub-network the supernet runs is the network the candidate's spec describes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from ..search.space import candidate, module_name
from ..search.stages import stages_of
from ..spec.models import Spec
from ..spec.resolve import (
    ConvOp,
    DropoutOp,
    GlobalPoolOp,
    LinearOp,
    LRNOp,
    PoolOp,
    ReLUOp,
    ResolvedSpec,
    SplitOp,
    resolved,
)
from .errors import SupernetError

Runs = tuple[tuple[int, int], ...]  # (start, length) runs of channels in a layout


@dataclass(frozen=True)
class Slot:
    """One shared weight tensor: `out` filters (the widest asked for, `min_out` the narrowest) over
    `in_` input columns (a linear layer's: input features), and what every op using it must agree on."""

    key: str
    kind: str  # "conv" | "linear"
    out: int
    in_: int
    min_out: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    bias: bool = False
    batch_norm: bool = False
    activation: str = "none"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1

    def form(self) -> tuple:
        """What two ops sharing this slot must have in common (everything but widths)."""
        return (self.kind, self.kernel, self.stride, self.padding, self.bias, self.batch_norm, self.activation,
                self.bn_eps, self.bn_momentum)


# --- programs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weighted:
    """A conv or linear op of a candidate: `path` is its module in `archkit.build(candidate)`, `slot`
    the supernet's slot, `out` its filters (the slot's first `out`), `inputs` the runs of the slot's
    input columns it reads (for a linear layer after a spatial map: features, channel-major)."""

    op: ConvOp | LinearOp
    path: str
    slot: str
    out: int
    inputs: Runs
    columns: int = 0  # the input columns of the layout feeding it (0 while the plan is being sized)


@dataclass(frozen=True)
class Plain:
    """An op without weights (pool, LRN, dropout, ReLU): it keeps the channels as they are."""

    op: PoolOp | GlobalPoolOp | LRNOp | DropoutOp | ReLUOp


@dataclass(frozen=True)
class Concat:
    """Parallel branches on one input, concatenated (each branch a list of steps)."""

    branches: tuple[tuple[Step, ...], ...]


Step = Weighted | Plain | Concat


def prefix(runs: Runs) -> int | None:
    """n when the runs are the first n columns (slicing instead of gathering), else None."""
    if len(runs) == 1 and runs[0][0] == 0:
        return runs[0][1]
    return None


def shifted(runs: Runs, offset: int) -> Runs:
    return tuple((start + offset, n) for start, n in runs)


def width(runs: Runs) -> int:
    return sum(n for _, n in runs)


def spatial(runs: Runs, positions: int) -> Runs:
    """A flattened C x H x W map's feature runs (channel-major, as torch.flatten lays them out)."""
    if positions == 1:
        return runs
    return tuple((start * positions, n * positions) for start, n in runs)


def slot_key(op: ConvOp | LinearOp, path: str) -> str:
    if isinstance(op, LinearOp):
        return f"{path}#fc"
    return f"{path}#{op.kernel[0]}x{op.kernel[1]}"


def _form_of(op: ConvOp | LinearOp) -> dict:
    if isinstance(op, LinearOp):
        return {"kind": "linear", "bias": op.bias, "activation": op.activation}
    return {"kind": "conv", "kernel": tuple(op.kernel), "stride": tuple(op.stride), "padding": tuple(op.padding),
            "bias": op.bias, "batch_norm": op.batch_norm, "activation": op.activation, "bn_eps": op.bn_eps,
            "bn_momentum": op.bn_momentum}


def _unsupported(op) -> str | None:
    if isinstance(op, ConvOp) and op.groups != 1:
        return (f"a grouped or depthwise conv ({op.groups} groups): its filters cannot be sliced apart from "
                "its input channels")
    return None


class _Tracer:
    """Walks a resolved candidate, in network order, through the layouts (`layout(key)` -> offsets
    by branch name, or None while planning) calling `visit(step)` for every weighted op."""

    def __init__(self, layout: Callable[[str], dict[str, int] | None], stage_of: dict[str, str],
                 slot_out: Callable[[str], int] | None = None, layout_size: Callable[[str], int] | None = None):
        self.layout = layout
        self.stage_of = stage_of
        # The supernet's width of a slot's output and of a layout (None while sizing): the input
        # columns of what they feed, whatever share of them a candidate uses.
        self.slot_out = slot_out or (lambda key: 0)
        self.layout_size = layout_size or (lambda key: 0)
        self.size = 0

    def spec(self, r: ResolvedSpec) -> tuple[Step, ...]:
        steps: list[Step] = []
        runs: Runs = ((0, r.input_shape[0]),)
        self.size = r.input_shape[0]
        for layer in r.layers:
            if layer.residual is not None:
                raise SupernetError(f"{layer.name}: a residual module adds its input to its output, whose "
                                    "channels the supernet would have to slice alike; not supported")
            if layer.parallel:
                key = self.stage_of.get(layer.name, layer.name)
                step, runs = self.concat(layer.branches, key, runs, f"{layer.name}.branches.")
                steps.append(step)
            else:
                ops = layer.branches[0].ops
                at = (lambda op, name=layer.name: name) if len(ops) == 1 else \
                    (lambda op, name=layer.name: f"{name}.{op.name}")
                runs = self.ops(ops, at, runs, steps)
        return tuple(steps)

    def concat(self, branches, key: str, runs: Runs, path: str) -> tuple[Concat, Runs]:
        offsets = self.layout(key)
        parts, out = [], []
        size = self.size  # every branch reads the concatenation's input
        for branch in branches:
            inner: list[Step] = []
            here = f"{path}{branch.name}."
            bruns = self.ops(branch.ops, lambda op, here=here: here + op.name, runs, inner)
            if not any(isinstance(s, (Weighted, Concat)) for s in inner):
                raise SupernetError(f"{path}{branch.name}: a branch without a conv passes its input on, whose "
                                    "layout the supernet does not track; not supported")
            parts.append(tuple(inner))
            if offsets is not None:
                out += shifted(bruns, offsets[branch.name])
            self.on_branch(key, branch.name, width(bruns))
            self.size = size
        self.size = self.layout_size(key)
        return Concat(tuple(parts)), tuple(out)

    def on_branch(self, key: str, branch: str, channels: int) -> None:
        """Called with each branch's output channels (planning sizes the layouts from them)."""

    def ops(self, ops, path_of, runs: Runs, steps: list[Step]) -> Runs:
        for op in ops:
            kind = type(op)
            if kind is ConvOp or kind is LinearOp:
                why = _unsupported(op)
                path = path_of(op)
                if why:
                    raise SupernetError(f"{path}: {why}")
                positions = 1 if kind is ConvOp else op.in_shape[1] * op.in_shape[2]
                out = op.out_channels if kind is ConvOp else op.out_features
                key = slot_key(op, path)
                steps.append(Weighted(op, path, key, out, spatial(runs, positions), self.size * positions))
                runs = ((0, out),)
                self.size = self.slot_out(key)
            elif kind is SplitOp:
                step, runs = self.concat(op.branches, path_of(op), runs, path_of(op) + ".branches.")
                steps.append(step)
            else:
                steps.append(Plain(op))
        return runs


def weighted(steps: Iterable[Step]) -> Iterable[Weighted]:
    """Every weighted op of a program, in order (inside concatenations too)."""
    for step in steps:
        if isinstance(step, Weighted):
            yield step
        elif isinstance(step, Concat):
            for branch in step.branches:
                yield from weighted(branch)


# --- the plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything the supernet's shape depends on (plain data: it goes into checkpoints)."""

    slots: dict[str, Slot]
    layouts: dict[str, dict[str, int]]  # layout key -> branch name -> width (offsets in this order)
    stage_of: dict[str, str]  # a stage's module rows (every name depth can give them) -> the stage
    depths: dict[str, tuple[int, int]]  # stage -> (fewest, most) modules in the pool
    input_channels: int
    classes: int
    pool_size: int = 0
    _offsets: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def offsets(self, key: str) -> dict[str, int]:
        hit = self._offsets.get(key)
        if hit is None:
            hit, at = {}, 0
            for branch, n in self.layouts[key].items():
                hit[branch] = at
                at += n
            self._offsets[key] = hit
        return hit

    def layout_size(self, key: str) -> int:
        return sum(self.layouts[key].values())

    def program(self, spec: Spec) -> tuple[Step, ...]:
        """The candidate traced through the plan; `SupernetError` if it asks for more than the
        supernet holds (a slot it lacks, more filters or input columns, another form of op)."""
        r = resolved(spec)
        if r.aux:
            raise SupernetError(f"{spec.name} has aux heads; the supernet holds the main path only")

        def layout(key: str) -> dict[str, int]:
            if key not in self.layouts:
                raise SupernetError(f"{spec.name}: no layout {key!r} in the supernet (another base network?)")
            return self.offsets(key)

        tracer = _Tracer(layout, self.stage_of, lambda key: self.slots[key].out if key in self.slots else 0,
                         self.layout_size)
        tracer.on_branch = self._check_branch(spec)
        steps = tracer.spec(r)
        for w in weighted(steps):
            slot = self.slots.get(w.slot)
            if slot is None:
                raise SupernetError(f"{spec.name}: {w.path} ({w.slot.split('#')[1]}) has no weights in the supernet "
                                    "(a module or op form outside the space it was planned for)")
            if slot.form() != Slot(w.slot, min_out=0, out=0, in_=0, **_form_of(w.op)).form():
                raise SupernetError(f"{spec.name}: {w.path} differs from the supernet's op there (stride, padding, "
                                    "bias, batch norm or activation)")
            columns = max(start + n for start, n in w.inputs)
            if w.out > slot.out or columns > slot.in_:
                raise SupernetError(f"{spec.name}: {w.path} asks for {w.out} filters over {columns} input columns, "
                                    f"the supernet holds {slot.out} over {slot.in_}: the candidate is outside the "
                                    "supernet (a larger budget or space than it was trained for)")
        return steps

    def _check_branch(self, spec: Spec):
        def check(key: str, branch: str, channels: int) -> None:
            have = self.layouts[key].get(branch)
            if have is None or channels > have:
                raise SupernetError(f"{spec.name}: branch {branch} of {key} gives {channels} channels, the "
                                    f"supernet's layout holds {have or 0}: the candidate is outside the supernet "
                                    "(a larger budget or space than it was trained for)")
        return check

    # --- plain data ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"slots": [asdict(s) for s in self.slots.values()],
                "layouts": {k: dict(v) for k, v in self.layouts.items()}, "stage_of": dict(self.stage_of),
                "depths": {k: list(v) for k, v in self.depths.items()}, "input_channels": self.input_channels,
                "classes": self.classes, "pool_size": self.pool_size}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        slots = {}
        for s in data["slots"]:
            s = dict(s)
            for k in ("kernel", "stride", "padding"):
                s[k] = tuple(s[k])
            slots[s["key"]] = Slot(**s)
        return cls(slots, {k: dict(v) for k, v in data["layouts"].items()}, dict(data["stage_of"]),
                   {k: tuple(v) for k, v in data["depths"].items()}, int(data["input_channels"]),
                   int(data["classes"]), int(data.get("pool_size", 0)))

    # --- the sandwich's ends --------------------------------------------------------------------

    def extreme(self, base: Spec, widest: bool, factorize: Callable[[str], bool] | None = None) -> Spec:
        """The largest (every slot at its widest, every stage at its deepest: the whole supernet) or
        the smallest (narrowest, shallowest) network of the plan, as a spec. `factorize(module)`
        picks the form of a module's 5x5 where the plan holds both."""
        depths = {f"{stage}.depth": d[1] if widest else d[0] for stage, d in self.depths.items()}
        skeleton = candidate(base, depths, divisor=1)
        pick = (lambda s: s.out) if widest else (lambda s: s.min_out)

        def at(path: str, k: int) -> int:
            return pick(self.slots[f"{path}#{k}x{k}"])

        layers = []
        for layer in skeleton.layers:
            name = layer.name
            if layer.inception is not None:
                b = f"{name}.branches."
                forms = [f for f in (False, True) if f"{b}branch_5x5.{1}#{3 if f else 5}x{3 if f else 5}" in self.slots]
                fact = forms[0] if len(forms) == 1 else bool(factorize(name)) if factorize else forms[0]
                n5 = at(f"{b}branch_5x5.1", 3 if fact else 5)
                if fact:
                    n5 = max(n5, at(f"{b}branch_5x5.2", 3))
                inc = layer.inception.model_copy(update={
                    "n1x1": at(f"{b}branch_1x1.0", 1), "n3x3_reduce": at(f"{b}branch_3x3.0", 1),
                    "n3x3": at(f"{b}branch_3x3.1", 3), "n5x5_reduce": at(f"{b}branch_5x5.0", 1), "n5x5": n5,
                    "pool_proj": at(f"{b}branch_pool.1", 1), "factorize_5x5": fact})
                layer = layer.model_copy(update={"inception": inc})
            elif layer.conv is not None:
                conv = layer.conv
                k = conv.kernel if isinstance(conv.kernel, int) else conv.kernel[0]
                if conv.reduce is not None:
                    update = {"out": at(f"{name}.conv", k), "reduce": at(f"{name}.reduce", 1)}
                else:
                    update = {"out": at(name, k)}
                layer = layer.model_copy(update={"conv": conv.model_copy(update=update)})
            elif layer.module is not None:
                raise SupernetError(f"{name}: the sandwich's largest and smallest networks are made for `inception:` "
                                    "rows only")
            layers.append(layer)
        spec = skeleton.model_copy(update={"name": f"{base.name}-{'largest' if widest else 'smallest'}",
                                           "layers": layers})
        return spec.with_classes(self.classes) if spec.classes != self.classes else spec


def stage_names(base: Spec, most: dict[str, int]) -> dict[str, str]:
    """Every name a module of each stage can take (up to `most[stage]` modules) -> the stage."""
    out = {}
    for stage in stages_of(base).values():
        for i in stage.indices:
            out[base.layers[i].name] = stage.name
        if stage.repeatable:
            for j in range(max(most.get(stage.name, 0), len(stage.repeatable))):
                out[module_name(stage, base, j)] = stage.name
    return out


def make_plan(base: Spec, pool: list[Spec], most: dict[str, int]) -> Plan:
    """The plan holding every candidate of `pool`: each slot as wide as the widest use of it, each
    stage layout with room for the widest branch of any of its modules, each slot as deep as the
    layout that feeds it. `most`: the deepest each stage can be (names of repeated modules)."""
    if not pool:
        raise ValueError("a plan needs at least one candidate")
    stage_of = stage_names(base, most)
    slots: dict[str, Slot] = {}
    layouts: dict[str, dict[str, int]] = {}
    depths: dict[str, list[int]] = {}

    # Pass 1: filters per slot, and each layout's branch widths (no offsets needed yet).
    class Sizing(_Tracer):
        def on_branch(self, key: str, branch: str, channels: int) -> None:
            widths = layouts.setdefault(key, {})
            widths[branch] = max(widths.get(branch, 0), channels)

    sizing = Sizing(lambda key: None, stage_of)
    programs = []
    for spec in pool:
        r = resolved(spec)
        steps = sizing.spec(r)
        programs.append(r)
        for w in weighted(steps):
            form = _form_of(w.op)
            old = slots.get(w.slot)
            if old is None:
                slots[w.slot] = Slot(w.slot, out=w.out, in_=0, min_out=w.out, **form)
            else:
                if old.form() != Slot(w.slot, out=0, in_=0, min_out=0, **form).form():
                    raise SupernetError(f"{w.path}: candidates put different ops there (stride, padding, bias, "
                                        "batch norm or activation): they cannot share weights")
                slots[w.slot] = replace(old, out=max(old.out, w.out), min_out=min(old.min_out, w.out))
        counts: dict[str, int] = {}
        for layer in r.layers:
            if layer.name in stage_of:
                counts[stage_of[layer.name]] = counts.get(stage_of[layer.name], 0) + 1
        for stage, n in counts.items():
            depths.setdefault(stage, []).append(n)

    # Pass 2: input columns per slot, through the now-known layouts.
    plan = Plan(slots, layouts, stage_of, {s: (min(v), max(v)) for s, v in depths.items()}, base.input.channels,
                pool[0].classes, len(pool))
    tracer = _Tracer(plan.offsets, stage_of, lambda key: slots[key].out, plan.layout_size)
    for r in programs:
        for w in weighted(tracer.spec(r)):
            if w.columns > slots[w.slot].in_:
                slots[w.slot] = replace(slots[w.slot], in_=w.columns)
    return plan
