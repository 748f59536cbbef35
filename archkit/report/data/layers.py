"""Layer records shared by the profile and compare data: stages, sizes, the sunburst."""

from __future__ import annotations

from ...profile.profiler import FILTER_COLUMNS, MODULE_TYPES, Row
from ...util.numbers import fmt_k, fmt_m
from .records import BranchRecord, BranchTableRow, LayerRecord, Sunburst, Totals


def size_text(shape) -> str:
    """Table 1's output size: height x width x channels."""
    c, h, w = shape
    return f"{h}x{w}x{c}"


def stage_names(rows: list[Row]) -> list[str]:
    """The stage of each row: `stem` before the first stage, the stage's name inside it (the pool
    before a stage belongs to it), `head` after the last; stages as the search defines them
    (`archkit.spec.stages.stage_runs`)."""
    from ...spec.stages import stage_runs

    # The profile's type labels -> the spec's kinds; a module whose grid differs from the row
    # before it is a reduction, which closes its stage.
    kinds = ["module" if row.type in MODULE_TYPES else row.type for row in rows]
    reduces = [i > 0 and row.output[1:] != rows[i - 1].output[1:] for i, row in enumerate(rows)]
    runs = stage_runs([row.name for row in rows], kinds, reduces)
    if not runs:
        return ["network"] * len(rows)
    spans = [(name, indices[0], indices[-1] + 1) for name, _, indices in runs]
    out = []
    for i in range(len(rows)):
        if i < spans[0][1]:
            out.append("stem")
        elif i >= spans[-1][2]:
            out.append("head")
        else:
            # Inside a stage, or between two stages (a grid-reduction pool): the next stage.
            out.append(next(name for name, _, end in spans if i < end))
    return out


def _branch_label(name: str, role: str = "branch") -> str:
    """A part's label in the figures: a residual module's projection or shortcut by its role, a
    branch by its name without GoogLeNet's `branch_` prefix."""
    if role != "branch":
        return role
    return name.removeprefix("branch_") or "branch"


def branch_record(branch, parent: str) -> BranchRecord:
    """A `BranchRow` as plain data, with the sub-branches of its splits nested the same way (a
    tree as deep as the splits nest). `path` is its dotted name under `parent` (the layer's name,
    or the enclosing branch's path), as in the text table; `at` the index of its split among the
    enclosing branch's ops (None for a module's own parts)."""
    path = f"{parent}.{branch.name}"
    return BranchRecord(name=branch.name, label=_branch_label(branch.name, branch.role), path=path,
                        role=branch.role, at=branch.at, output=size_text(branch.output),
                        output_shape=list(branch.output), depth=branch.depth, params=branch.params,
                        ops=branch.ops, activations=branch.activations,
                        branches=[branch_record(b, path) for b in branch.branches])


def layer_record(row: Row, stage: str) -> LayerRecord:
    """A profile `Row` as plain data, in `stage`; `paper` is None (profile_data sets it when it
    compares with the paper)."""
    return LayerRecord(
        name=row.name,
        type=row.type,
        patch=row.patch,
        output=size_text(row.output),
        output_shape=list(row.output),
        depth=row.depth,
        filters={k: row.filters[k] for k in FILTER_COLUMNS if k in row.filters},
        params=row.params,
        ops=row.ops,
        activations=row.activations,
        stage=stage,
        branches=[branch_record(b, row.name) for b in row.branches],
        paper=None,
    )


def table1_cells(layer: LayerRecord) -> list[str]:
    filters = [str(layer["filters"][k]) if k in layer["filters"] else "" for k in FILTER_COLUMNS]
    return [layer["name"], layer["type"], layer["patch"], layer["output"], str(layer["depth"]), *filters,
            fmt_k(layer["params"]), fmt_m(layer["ops"])]


def totals_record(total) -> Totals:
    return Totals(params=total.params, ops=total.ops, activations=total.activations)


def _sibling_keys(parts: list[BranchRecord]) -> list[str]:
    """The id segment of each of a node's parts: its name, unique among a module's branches and
    within one split. Where two parts share a name (each split of a branch numbers its unnamed
    sub-branches from 0; a branch may be named like the module's projection), each of those gets
    its split's index or its role: `branch0@1`, `projection@shortcut` (a name never holds `@`)."""
    names = [p["name"] for p in parts]
    return [p["name"] if names.count(p["name"]) == 1 else
            f"{p['name']}@{p['at'] if p['at'] is not None else p['role']}" for p in parts]


OWN = "(own)"  # the id segment of a node's own ops besides its parts' (no name holds parentheses)


def _add_parts(tree: Sunburst, parent: str, parts: list[BranchRecord], ops: int, own_label: str) -> None:
    """The slices of a node's parts (a layer's branches, residual projection and shortcut; a
    branch's sub-branches), nested as deep as the splits nest. A node whose ops are more than its
    parts' (a branch with a conv before or after its split) gets a leaf for the rest, `own_label`,
    so that every parent's value is the sum of its children's (`branchvalues="total"`)."""
    shown = [(p, key) for p, key in zip(parts, _sibling_keys(parts), strict=True) if p["ops"]]
    if not shown:
        return
    own = ops - sum(p["ops"] for p, _ in shown)
    if own:
        _node(tree, f"{parent}/{OWN}", own_label, parent, own)
    for p, key in shown:
        pid = f"{parent}/{key}"
        _node(tree, pid, p["label"], parent, p["ops"])
        _add_parts(tree, pid, p["branches"], p["ops"], f"{p['label']} {OWN}")


def _node(tree: Sunburst, node: str, label: str, parent: str, value: int) -> None:
    tree["ids"].append(node)
    tree["labels"].append(label)
    tree["parents"].append(parent)
    tree["values"].append(value)


def sunburst(layers: list[LayerRecord]) -> Sunburst:
    """Ops as a tree, stage -> layer -> branch -> sub-branch -> ... (as deep as a module's splits
    nest; a residual module's projection and shortcut are parts of it, labelled by their role), for
    a sunburst (parallel lists: ids, labels, parents, values; a parent's value is the sum of its
    children's: a branch's ops besides its sub-branches' are a leaf `<branch> (own)`). Rows and
    branches without ops are left out: a pool or a dropout would be a slice of width zero."""
    tree = Sunburst(ids=[], labels=[], parents=[], values=[])
    stage_ops: dict[str, int] = {}
    for layer in layers:
        if layer["ops"]:
            stage_ops[layer["stage"]] = stage_ops.get(layer["stage"], 0) + layer["ops"]
    for stage, ops in stage_ops.items():
        _node(tree, stage, stage, "", ops)
    for layer in layers:
        if not layer["ops"]:
            continue
        lid = f"{layer['stage']}/{layer['name']}"
        _node(tree, lid, layer["name"], layer["stage"], layer["ops"])
        _add_parts(tree, lid, layer["branches"], layer["ops"], f"{layer['name']} {OWN}")
    return tree


def nested(layers: list[LayerRecord]) -> bool:
    """Whether any module's branch splits again (the sunburst then goes deeper than branches)."""
    return any(b["branches"] for layer in layers for b in layer["branches"])


BRANCH_HEADERS = ("layer / branch", "type", "output size", "depth", "params", "ops", "activations")


def branch_rows(layers: list[LayerRecord], prefix: str = "") -> list[BranchTableRow]:
    """The modules' parts as table rows: each module's own row, then its branches (and residual
    projection or shortcut), each followed by the sub-branches of its splits, by dotted path and
    indented one step per level (the text table's `--branches` rows). Layers without parts are
    left out. A row is a `BranchTableRow` (status "module" for a layer; level 0 for a layer, 1 for
    its parts, 2 for theirs, ...)."""
    rows: list[BranchTableRow] = []

    def add(part: BranchRecord, level: int) -> None:
        rows.append(BranchTableRow(cells=[prefix + part["path"], part["role"], part["output"], str(part["depth"]),
                                          fmt_k(part["params"]), fmt_m(part["ops"]), f"{part['activations']:,}"],
                                   status="", level=level))
        for b in part["branches"]:
            add(b, level + 1)

    for layer in layers:
        if not layer["branches"]:
            continue
        rows.append(BranchTableRow(cells=[prefix + layer["name"], layer["type"], layer["output"], str(layer["depth"]),
                                          fmt_k(layer["params"]), fmt_m(layer["ops"]), f"{layer['activations']:,}"],
                                   status="module", level=0))
        for b in layer["branches"]:
            add(b, 1)
    return rows


def pct(x: float | None) -> str:
    return f"{100 * x:.2f}" if x is not None else ""


