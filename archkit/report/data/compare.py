"""The data of a compare report: two profiles aligned layer by layer, with their deltas."""

from __future__ import annotations

import difflib

from ...profile.profiler import Profile
from ...util.numbers import fmt_k, fmt_m, signed_k, signed_m
from .layers import layer_record, size_text, stage_names, totals_record
from .records import CompareData, CompareLayer, CompareSide, CompareTotal, TableRow

COMPARE_HEADERS = ("layer", "output A", "output B", "params A", "params B", "Δ params", "ops A", "ops B",
                   "Δ ops", "Δ ops %")


def side_labels(name_a: str, name_b: str) -> tuple[str, str]:
    """Legend names for two specs; the same name twice (a spec and its edited copy) gets A and B."""
    return (f"{name_a} (A)", f"{name_b} (B)") if name_a == name_b else (name_a, name_b)


def align(names_a: list[str], names_b: list[str]) -> list[tuple[int | None, int | None]]:
    """Pairs of row indices (a, b) in network order, by layer name: a layer only one spec has (a
    module added by a deeper stage, say) gets None on the other side."""
    pairs: list[tuple[int | None, int | None]] = []
    matcher = difflib.SequenceMatcher(None, names_a, names_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pairs += list(zip(range(a0, a1), range(b0, b1), strict=True))
        else:
            pairs += [(i, None) for i in range(a0, a1)] + [(None, j) for j in range(b0, b1)]
    return pairs


def delta_pct(a: int, b: int) -> str:
    if a == b:
        return "0%"
    return f"{(b - a) / a:+.0%}" if a else "new"


def compare_data(profile_a: Profile, profile_b: Profile) -> CompareData:
    """Two profiles layer by layer (aligned by layer name): output shapes, params and ops of each,
    their deltas (B - A), totals, and a side-by-side table."""
    la = [layer_record(r, s) for r, s in zip(profile_a.rows, stage_names(profile_a.rows), strict=True)]
    lb = [layer_record(r, s) for r, s in zip(profile_b.rows, stage_names(profile_b.rows), strict=True)]
    layers: list[CompareLayer] = []
    table: list[TableRow] = []
    for i, j in align([x["name"] for x in la], [x["name"] for x in lb]):
        a = la[i] if i is not None else None
        b = lb[j] if j is not None else None
        name = (a or b)["name"]
        params_a, params_b = (a["params"] if a else 0), (b["params"] if b else 0)
        ops_a, ops_b = (a["ops"] if a else 0), (b["ops"] if b else 0)
        act_a, act_b = (a["activations"] if a else 0), (b["activations"] if b else 0)
        entry = CompareLayer(name=name, in_a=a is not None, in_b=b is not None,
                             params_a=params_a, params_b=params_b, params_delta=params_b - params_a,
                             ops_a=ops_a, ops_b=ops_b, ops_delta=ops_b - ops_a,
                             activations_a=act_a, activations_b=act_b, activations_delta=act_b - act_a,
                             output_a=a["output"] if a else "", output_b=b["output"] if b else "")
        layers.append(entry)
        changed = entry["output_a"] != entry["output_b"] or entry["params_delta"] or entry["ops_delta"]
        table.append(TableRow(
            cells=[name, entry["output_a"] or "—", entry["output_b"] or "—",
                   fmt_k(entry["params_a"]), fmt_k(entry["params_b"]), signed_k(entry["params_delta"]),
                   fmt_m(entry["ops_a"]), fmt_m(entry["ops_b"]), signed_m(entry["ops_delta"]),
                   delta_pct(entry["ops_a"], entry["ops_b"]) if entry["ops_a"] or entry["ops_b"] else ""],
            status=("only-a" if b is None else "only-b" if a is None else "changed" if changed else ""),
        ))
    ta, tb = totals_record(profile_a.total), totals_record(profile_b.total)
    total = CompareTotal(params_a=ta["params"], params_b=tb["params"], ops_a=ta["ops"], ops_b=tb["ops"],
                         activations_a=ta["activations"], activations_b=tb["activations"],
                         params_delta=tb["params"] - ta["params"], ops_delta=tb["ops"] - ta["ops"],
                         activations_delta=tb["activations"] - ta["activations"])
    total_cells = ["total", "", "", fmt_k(ta["params"]), fmt_k(tb["params"]), signed_k(total["params_delta"]),
                   fmt_m(ta["ops"]), fmt_m(tb["ops"]), signed_m(total["ops_delta"]),
                   delta_pct(ta["ops"], tb["ops"])]
    label_a, label_b = side_labels(profile_a.spec, profile_b.spec)
    return CompareData(
        a=CompareSide(spec=profile_a.spec, label=label_a, input=size_text(profile_a.input), total=ta),
        b=CompareSide(spec=profile_b.spec, label=label_b, input=size_text(profile_b.input), total=tb),
        layers=layers,
        headers=list(COMPARE_HEADERS),
        table=table,
        total_cells=total_cells,
        total=total,
        only_a=[x["name"] for x in layers if not x["in_b"]],
        only_b=[x["name"] for x in layers if not x["in_a"]],
        changed=sum(1 for row in table if row["status"]),
    )


