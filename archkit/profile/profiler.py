"""`profile(spec)`: per-layer and per-branch params, ops and activations, from the spec alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..spec.models import Spec
from ..spec.resolve import ConvOp, LinearOp, ResolvedBranch, ResolvedLayer, ResolvedSpec, SplitOp, resolved
from .counts import CONVENTIONS, HANDLES, conv_count

TYPE_LABELS = {
    "conv": "convolution",
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "global_avgpool": "global avg pool",
    "lrn": "LRN",
    "inception": "inception",
    "module": "module",
    "dropout": "dropout",
    "linear": "linear",
}


# The type labels of module rows (the rest label a single op).
MODULE_TYPES = ("inception", "module", "residual module")


@dataclass(slots=True)
class Totals:
    params: int = 0
    ops: int = 0
    activations: int = 0


@dataclass(slots=True)
class BranchRow:
    """A part of a module: one of its parallel branches, or (`role`) a residual module's projection
    or shortcut. `branches` holds the sub-branches of the splits inside it (a tree, as deep as the
    splits nest), each with `at`: the index of its split among the branch's ops."""

    name: str
    output: tuple[int, int, int]
    depth: int
    params: int
    ops: int
    activations: int
    role: str = "branch"  # "branch" | "projection" | "shortcut"
    at: int | None = None
    branches: list[BranchRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "output": list(self.output), "depth": self.depth, "params": self.params,
                "ops": self.ops, "activations": self.activations, "role": self.role,
                **({"at": self.at} if self.at is not None else {}),
                "branches": [b.to_dict() for b in self.branches]}


@dataclass(slots=True)
class Row:
    """One spec layer, as a Table 1 row. `filters` holds Table 1's filter columns where they apply."""

    name: str
    type: str
    patch: str
    output: tuple[int, int, int]
    depth: int
    params: int
    ops: int
    activations: int
    filters: dict[str, int] = field(default_factory=dict)
    branches: list[BranchRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "patch": self.patch, "output": list(self.output),
                "depth": self.depth, "params": self.params, "ops": self.ops, "activations": self.activations,
                "filters": dict(self.filters), "branches": [b.to_dict() for b in self.branches]}


@dataclass(slots=True)
class AuxProfile:
    name: str
    after: str
    weight: float
    rows: list[Row]
    total: Totals


@dataclass(slots=True)
class Profile:
    """The result of `archkit.profile`. `total` is the inference path (what Table 1 totals);
    auxiliary heads are reported apart in `aux` and `aux_total`."""

    spec: str
    convention: str
    input: tuple[int, int, int]
    rows: list[Row]
    total: Totals
    aux: list[AuxProfile]
    aux_total: Totals

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        """Plain data with exact integers (the `--format json` document)."""
        return {
            "spec": self.spec,
            "convention": self.convention,
            "input": list(self.input),
            "rows": [r.to_dict() for r in self.rows],
            "total": asdict(self.total),
            "aux": [
                {"name": a.name, "after": a.after, "weight": a.weight, "rows": [r.to_dict() for r in a.rows],
                 "total": asdict(a.total)}
                for a in self.aux
            ],
            "aux_total": asdict(self.aux_total),
        }

    def to_frame(self, aux: bool = False):
        """A pandas DataFrame, one row per layer (with `section` = "main" or the aux head's name)."""
        import pandas as pd  # heavy: only here

        records = []
        sections = [("main", self.rows)] + ([(a.name, a.rows) for a in self.aux] if aux else [])
        for section, rows in sections:
            for r in rows:
                rec = {"section": section, "name": r.name, "type": r.type, "patch": r.patch,
                       "output": "x".join(map(str, r.output)), "depth": r.depth}
                rec.update({k: r.filters.get(k) for k in FILTER_COLUMNS})
                rec.update(params=r.params, ops=r.ops, activations=r.activations)
                records.append(rec)
        frame = pd.DataFrame.from_records(records)
        for col in FILTER_COLUMNS:
            frame[col] = frame[col].astype("Int64")
        return frame.set_index("name")


FILTER_COLUMNS = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")


def _patch(layer: ResolvedLayer) -> str:
    kind = layer.kind
    if kind == "conv":
        ops = layer.branches[0].ops
        # A separable conv's window is its depthwise conv's (the pointwise one is 1x1).
        last = ops[-2] if layer.layer.conv.separable else ops[-1]
    elif kind == "maxpool" or kind == "avgpool":
        last = layer.branches[0].ops[-1]
    elif kind == "global_avgpool":
        return f"{layer.in_shape[1]}x{layer.in_shape[2]}/1"
    else:  # a module's row, LRN, dropout, linear
        return ""
    kh, kw = last.kernel
    sh, sw = last.stride
    return f"{kh}x{kw}/{sh}" if sh == sw else f"{kh}x{kw}/{sh},{sw}"


def _filters(layer: ResolvedLayer) -> dict[str, int]:
    if layer.kind == "inception":
        inc = layer.layer.inception
        return {"1x1": inc.n1x1, "3x3_reduce": inc.n3x3_reduce, "3x3": inc.n3x3,
                "5x5_reduce": inc.n5x5_reduce, "5x5": inc.n5x5, "pool_proj": inc.pool_proj}
    if layer.kind == "conv" and layer.layer.conv.reduce is not None:
        # Table 1 writes conv2 (1x1 reduce then 3x3) in the 3x3 reduce / 3x3 columns.
        conv = layer.layer.conv
        return {"3x3_reduce": conv.reduce, "3x3": conv.out}
    return {}


def _label(layer: ResolvedLayer) -> str:
    if layer.kind == "dropout":
        return f"dropout ({layer.layer.dropout.p:.0%})"
    if layer.kind == "conv" and layer.layer.conv.separable:
        return "separable conv"
    if layer.kind == "conv" and layer.layer.conv.groups > 1:
        return f"conv ({layer.layer.conv.groups} groups)"
    if layer.residual is not None:
        return "residual module"
    return TYPE_LABELS[layer.kind]


def _branch_row(branch: ResolvedBranch, full: bool, role: str = "branch", at: int | None = None) -> BranchRow:
    # One pass (this runs for every branch of every search candidate): sums, depth and the rows of
    # the sub-branches of any split, as deep as they nest.
    params = total = depth = 0
    inner: list[BranchRow] = []
    for i, op in enumerate(branch.ops):
        t = type(op)
        if t is ConvOp:  # the common case, first
            p, o = conv_count(op, full)
            params += p
            total += o
            depth += 1
            continue
        if t is SplitOp:
            deepest = 0
            for b in op.branches:
                row = _branch_row(b, full, at=i)
                inner.append(row)
                params += row.params
                total += row.ops
                if row.depth > deepest:
                    deepest = row.depth
            depth += deepest
            continue
        p, o = HANDLES[t](op, full)
        params += p
        total += o
        if t in WEIGHTED:
            depth += 1
    last = branch.ops[-1].out_shape
    return BranchRow(branch.name, last, depth, params, total, last[0] * last[1] * last[2], role, at, inner)


def _copy_branch_row(b: BranchRow) -> BranchRow:
    inner = b.branches
    return BranchRow(b.name, b.output, b.depth, b.params, b.ops, b.activations, b.role, b.at,
                     [_copy_branch_row(row) for row in inner] if inner else [])


def _layer_row(layer: ResolvedLayer, full: bool, modules: dict) -> Row:
    c, h, w = layer.out_shape
    if not layer.parallel:
        # The common case, once per layer of every search candidate: one pass over its op or two
        # (a conv, a pool, LRN, dropout, linear: no splits), no branch rows.
        params = ops = depth = 0
        for op in layer.branches[0].ops:
            t = type(op)
            p, o = conv_count(op, full) if t is ConvOp else HANDLES[t](op, full)
            params += p
            ops += o
            if t in WEIGHTED:
                depth += 1
        return Row(layer.name, _label(layer), _patch(layer), layer.out_shape, depth, params, ops, c * h * w,
                   _filters(layer), [])
    # `resolve` gives the layers of one module body at one input shape the same branches and
    # residual objects: they are counted once per call (`modules`, keyed by the branches' id; the
    # entry holds them, so the id stays theirs), each layer getting rows of its own.
    seen = modules.get(id(layer.branches))
    if seen is not None and seen[0] is layer.branches and seen[1] is layer.residual:
        _, _, rows, params, ops, depth = seen
        return Row(layer.name, _label(layer), "", layer.out_shape, depth, params, ops, c * h * w,
                   _filters(layer), [_copy_branch_row(r) for r in rows])
    rows = [_branch_row(b, full) for b in layer.branches]
    params = ops = depth = 0
    for r in rows:
        params += r.params
        ops += r.ops
        if r.depth > depth:
            depth = r.depth
    res = layer.residual
    if res is not None:
        for role, part in (("projection", res.projection), ("shortcut", res.shortcut)):
            if part:
                rows.append(_branch_row(ResolvedBranch(role, part), full, role))
                params += rows[-1].params
                ops += rows[-1].ops
        # the projection follows the concatenation; the shortcut runs beside both
        through = depth + (rows[len(layer.branches)].depth if res.projection else 0)
        depth = max(through, rows[-1].depth if res.shortcut else 0)
    # (the rows themselves: they are copied for a later layer, and nothing changes them meanwhile)
    modules[id(layer.branches)] = (layer.branches, res, rows, params, ops, depth)
    return Row(layer.name, _label(layer), "", layer.out_shape, depth, params, ops, c * h * w,
               _filters(layer), rows)


WEIGHTED = frozenset((ConvOp, LinearOp))  # the ops Table 1's depth column counts


def _rows(layers, full: bool, modules: dict) -> tuple[list[Row], Totals]:
    rows = []
    params = ops = activations = 0
    for layer in layers:
        row = _layer_row(layer, full, modules)
        rows.append(row)
        params += row.params
        ops += row.ops
        activations += row.activations
    return rows, Totals(params, ops, activations)


def profile(spec: Spec, convention: str = "paper") -> Profile:
    """Analytic profile of a spec: per layer and per branch, output shape, depth, params, ops
    (multiply-adds of convs and linear layers) and activations (output elements); totals of the
    inference path, aux heads apart. No tensors are made and torch is not imported.

    convention: "paper" counts weights only (Table 1); "full" counts every parameter of the built
    model (biases, batch norm), equal to `sum(p.numel() for p in archkit.build(spec).parameters())`.
    """
    return profile_resolved(resolved(spec), convention)


def profile_resolved(r: ResolvedSpec, convention: str = "paper") -> Profile:
    """`profile` of an already resolved spec (the search resolves each candidate once)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, but got {convention=}")
    full = convention == "full"
    spec = r.spec
    modules: dict = {}  # this call's counts of each module met (see `_layer_row`)
    rows, total = _rows(r.layers, full, modules)
    aux = []
    aux_total = Totals()
    for head in r.aux:
        head_rows, head_total = _rows(head.layers, full, modules)
        aux.append(AuxProfile(head.name, head.after, head.weight, head_rows, head_total))
        aux_total.params += head_total.params
        aux_total.ops += head_total.ops
        aux_total.activations += head_total.activations
    return Profile(spec.name, convention, r.input_shape, rows, total, aux, aux_total)
