"""Layer records shared by the profile and compare data: stages, sizes, the sunburst."""

from __future__ import annotations

from ...profile.profiler import FILTER_COLUMNS, Row
from ...profile.render import fmt_k, fmt_m


def size_text(shape) -> str:
    """Table 1's output size: height x width x channels."""
    c, h, w = shape
    return f"{h}x{w}x{c}"


def stage_names(rows: list[Row]) -> list[str]:
    """The stage of each row: `stem` before the first stage, the stage's name inside it (the pool
    before a stage belongs to it), `head` after the last; stages as the search defines them
    (`archkit.search.stages.stage_runs`)."""
    from ...search.stages import stage_runs

    runs = stage_runs([row.name for row in rows], [row.type for row in rows])
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


def _branch_label(name: str) -> str:
    return name.removeprefix("branch_") or "branch"


def layer_record(row: Row, stage: str) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "patch": row.patch,
        "output": size_text(row.output),
        "output_shape": list(row.output),
        "depth": row.depth,
        "filters": {k: row.filters[k] for k in FILTER_COLUMNS if k in row.filters},
        "params": row.params,
        "ops": row.ops,
        "activations": row.activations,
        "stage": stage,
        "branches": [{"name": b.name, "label": _branch_label(b.name), "output": size_text(b.output),
                      "params": b.params, "ops": b.ops, "activations": b.activations} for b in row.branches],
    }


def table1_cells(layer: dict) -> list[str]:
    filters = [str(layer["filters"][k]) if k in layer["filters"] else "" for k in FILTER_COLUMNS]
    return [layer["name"], layer["type"], layer["patch"], layer["output"], str(layer["depth"]), *filters,
            fmt_k(layer["params"]), fmt_m(layer["ops"])]


def totals_record(total) -> dict:
    return {"params": total.params, "ops": total.ops, "activations": total.activations}


def sunburst(layers: list[dict]) -> dict:
    """Ops as a tree, stage -> layer -> branch, for a sunburst (parallel lists: ids, labels, parents,
    values; a parent's value is the sum of its children's). Rows and branches without ops are left
    out: a pool or a dropout would be a slice of width zero."""
    ids, labels, parents, values = [], [], [], []
    stage_ops: dict[str, int] = {}
    for layer in layers:
        if layer["ops"]:
            stage_ops[layer["stage"]] = stage_ops.get(layer["stage"], 0) + layer["ops"]
    for stage, ops in stage_ops.items():
        ids.append(stage)
        labels.append(stage)
        parents.append("")
        values.append(ops)
    for layer in layers:
        if not layer["ops"]:
            continue
        lid = f"{layer['stage']}/{layer['name']}"
        ids.append(lid)
        labels.append(layer["name"])
        parents.append(layer["stage"])
        values.append(layer["ops"])
        for b in layer["branches"]:
            if b["ops"]:
                ids.append(f"{lid}/{b['name']}")
                labels.append(b["label"])
                parents.append(lid)
                values.append(b["ops"])
    return {"ids": ids, "labels": labels, "parents": parents, "values": values}


def pct(x: float | None) -> str:
    return f"{100 * x:.2f}" if x is not None else ""


def num(x, scale: float, digits: int) -> str:
    return f"{x / scale:,.{digits}f}" if x is not None else ""
