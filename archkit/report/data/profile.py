"""The data of one profile report: Table 1 rows, the paper beside them, the figures' inputs."""

from __future__ import annotations

from ...profile.paper import CompareRow, paper_numbers
from ...profile.profiler import FILTER_COLUMNS, Profile
from ...profile.render import HEADERS, compare_summary, fmt_k, fmt_m
from .layers import (
    BRANCH_HEADERS,
    branch_rows,
    layer_record,
    nested,
    size_text,
    stage_names,
    sunburst,
    table1_cells,
    totals_record,
)

PAPER_HEADERS = ("paper params", "paper ops", "vs paper")
STATUS_MARK = {"match": "ok", "near": "~ (within 2%)", "disagrees": "DIFFERS"}


def profile_data(profile: Profile, compare_rows: list[CompareRow] | None = None) -> dict:
    """A profile as plain data: its layers (with stages and branches), the Table 1-style table
    (formatted cells; with `compare_rows` from `compare_paper`, the published numbers beside the
    computed ones and each row's status), the aux heads, totals, the ops tree and the table of the
    modules' branches (nested as deep as their splits nest)."""
    stages = stage_names(profile.rows)
    layers = [layer_record(row, stage) for row, stage in zip(profile.rows, stages, strict=True)]
    by_name = {r.name: r for r in compare_rows or []}
    headers = list(HEADERS) + (list(PAPER_HEADERS) if compare_rows is not None else [])
    table = []
    for layer in layers:
        cells = table1_cells(layer)
        status = ""
        if compare_rows is not None:
            paper = by_name.get(layer["name"])
            if paper is None:
                cells += ["", "", ""]
            else:
                worst = max((paper.params_status, paper.ops_status), key=("match", "near", "disagrees").index)
                status = worst
                # The notes are sentences: the report prints them above the table, not in a cell.
                cells += [fmt_k(paper.paper_params), fmt_m(paper.paper_ops), STATUS_MARK[worst]]
                layer["paper"] = {"params": paper.paper_params, "ops": paper.paper_ops,
                                  "params_status": paper.params_status, "ops_status": paper.ops_status,
                                  "status": worst, "note": paper.note}
        table.append({"cells": cells, "status": status})
    total_cells = ["total", "", "", "", "", *[""] * len(FILTER_COLUMNS), fmt_k(profile.total.params),
                   fmt_m(profile.total.ops)] + (["", "", ""] if compare_rows is not None else [])
    aux = []
    for head in profile.aux:
        head_layers = [layer_record(row, head.name) for row in head.rows]
        aux.append({"name": head.name, "after": head.after, "weight": head.weight, "layers": head_layers,
                    "table": [{"cells": table1_cells(lay), "status": ""} for lay in head_layers],
                    "total": totals_record(head.total)})
    paper = None
    if compare_rows is not None:
        numbers = paper_numbers()
        paper = {"source": numbers.source, "budget_ops": numbers.budget_ops,
                 "flagged": [r.name for r in compare_rows if r.flagged],
                 "disagrees": [r.name for r in compare_rows if "disagrees" in (r.params_status, r.ops_status)],
                 "summary": compare_summary(compare_rows, profile)}
    return {
        "spec": profile.spec,
        "convention": profile.convention,
        "input": size_text(profile.input),
        "layers": layers,
        "headers": headers,
        "table": table,
        "total_cells": total_cells,
        "total": totals_record(profile.total),
        "aux": aux,
        "aux_total": totals_record(profile.aux_total),
        "sunburst": sunburst(layers),
        "nested": nested(layers),
        "branch_headers": list(BRANCH_HEADERS),
        "branch_table": branch_rows(layers) + [row for head in aux for row in branch_rows(head["layers"],
                                                                                          f"{head['name']}.")],
        "paper": paper,
    }


