"""The data of a compare report: two profiles aligned layer by layer, with their deltas."""

from __future__ import annotations

import difflib

from ...profile.profiler import Profile
from ...profile.render import fmt_k, fmt_m
from .layers import layer_record, size_text, stage_names, totals_record

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


def _signed_k(n: int) -> str:
    """A params delta in the units of `fmt_k` (the count itself below 1K)."""
    if not n:
        return "0"
    return f"{n:+,}" if abs(n) < 1024 else f"{n / 1024:+,.1f}K"


def _signed_m(n: int) -> str:
    """An ops delta in the units of `fmt_m` (K below 0.1M)."""
    if not n:
        return "0"
    return f"{n / 1e3:+,.1f}K" if abs(n) < 100_000 else f"{n / 1e6:+,.1f}M"


def compare_data(profile_a: Profile, profile_b: Profile) -> dict:
    """Two profiles layer by layer (aligned by layer name): output shapes, params and ops of each,
    their deltas (B - A), totals, and a side-by-side table."""
    la = [layer_record(r, s) for r, s in zip(profile_a.rows, stage_names(profile_a.rows), strict=True)]
    lb = [layer_record(r, s) for r, s in zip(profile_b.rows, stage_names(profile_b.rows), strict=True)]
    layers, table = [], []
    for i, j in align([x["name"] for x in la], [x["name"] for x in lb]):
        a = la[i] if i is not None else None
        b = lb[j] if j is not None else None
        name = (a or b)["name"]
        entry = {"name": name, "in_a": a is not None, "in_b": b is not None}
        for key in ("params", "ops", "activations"):
            entry[f"{key}_a"] = a[key] if a else 0
            entry[f"{key}_b"] = b[key] if b else 0
            entry[f"{key}_delta"] = entry[f"{key}_b"] - entry[f"{key}_a"]
        entry["output_a"] = a["output"] if a else ""
        entry["output_b"] = b["output"] if b else ""
        layers.append(entry)
        changed = entry["output_a"] != entry["output_b"] or entry["params_delta"] or entry["ops_delta"]
        table.append({
            "cells": [name, entry["output_a"] or "—", entry["output_b"] or "—",
                      fmt_k(entry["params_a"]), fmt_k(entry["params_b"]), _signed_k(entry["params_delta"]),
                      fmt_m(entry["ops_a"]), fmt_m(entry["ops_b"]), _signed_m(entry["ops_delta"]),
                      delta_pct(entry["ops_a"], entry["ops_b"]) if entry["ops_a"] or entry["ops_b"] else ""],
            "status": ("only-a" if b is None else "only-b" if a is None else "changed" if changed else ""),
        })
    ta, tb = totals_record(profile_a.total), totals_record(profile_b.total)
    total = {f"{k}_{side}": t[k] for k in ta for side, t in (("a", ta), ("b", tb))}
    total.update({f"{k}_delta": tb[k] - ta[k] for k in ta})
    total_cells = ["total", "", "", fmt_k(ta["params"]), fmt_k(tb["params"]), _signed_k(total["params_delta"]),
                   fmt_m(ta["ops"]), fmt_m(tb["ops"]), _signed_m(total["ops_delta"]),
                   delta_pct(ta["ops"], tb["ops"])]
    label_a, label_b = side_labels(profile_a.spec, profile_b.spec)
    return {
        "a": {"spec": profile_a.spec, "label": label_a, "input": size_text(profile_a.input), "total": ta},
        "b": {"spec": profile_b.spec, "label": label_b, "input": size_text(profile_b.input), "total": tb},
        "layers": layers,
        "headers": list(COMPARE_HEADERS),
        "table": table,
        "total_cells": total_cells,
        "total": total,
        "only_a": [x["name"] for x in layers if not x["in_b"]],
        "only_b": [x["name"] for x in layers if not x["in_a"]],
        "changed": sum(1 for row in table if row["status"]),
    }


