"""`archkit compare` outside HTML: a terminal table (the default), CSV, Markdown and JSON, all from
`compare_data` (the same numbers the HTML report shows). CSV and JSON keep exact integers."""

from __future__ import annotations

import csv
import io

from ..profile.render import _md_table, to_text
from ..util.files import json_text

STATUS_STYLE = {"only-a": "red", "only-b": "green", "changed": "yellow", "": ""}
EXACT = ("output_a", "output_b", "params_a", "params_b", "params_delta", "ops_a", "ops_b", "ops_delta",
         "activations_a", "activations_b", "activations_delta")


def summary(data: dict) -> str:
    a, b = data["a"], data["b"]
    parts = [f"{data['changed']} of {len(data['layers'])} layers differ"]
    if data["only_a"]:
        parts.append(f"only in {a['label']}: {', '.join(data['only_a'])}")
    if data["only_b"]:
        parts.append(f"only in {b['label']}: {', '.join(data['only_b'])}")
    return "; ".join(parts) + "."


def rich_table(data: dict):
    from rich.table import Table

    a, b = data["a"], data["b"]
    table = Table(title=f"A = {a['label']} ({a['input']}), B = {b['label']} ({b['input']}); deltas are B - A "
                        f"(K = 1024 params, M = 10^6 multiply-adds)", title_justify="left")
    for i, header in enumerate(data["headers"]):
        # the layer name is never squeezed away in a narrow terminal; the numbers wrap instead
        table.add_column(header, justify="left" if i < 3 else "right", no_wrap=i == 0)
    for row in data["table"]:
        table.add_row(*row["cells"], style=STATUS_STYLE[row["status"]] or None)
    table.add_row(*data["total_cells"], style="bold")
    return table


def to_table_text(data: dict, width: int = 200) -> str:
    return to_text([rich_table(data), summary(data)], width=width)


def to_csv(data: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["layer", *EXACT])
    for layer in data["layers"]:
        writer.writerow([layer["name"], *(layer[k] for k in EXACT)])
    total = data["total"]
    writer.writerow(["total", "", "", *(total[k] for k in EXACT[2:])])
    return buf.getvalue()


def to_markdown(data: dict) -> str:
    a, b = data["a"], data["b"]
    rows = [row["cells"] for row in data["table"]] + [data["total_cells"]]
    return "\n".join([f"### {a['label']} vs {b['label']} (deltas are B - A)", "",
                      _md_table(data["headers"], rows), "", summary(data), ""])


def to_json(data: dict) -> str:
    keep = {k: data[k] for k in ("a", "b", "layers", "total", "only_a", "only_b", "changed")}
    return json_text(keep)
