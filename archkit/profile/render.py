"""Profiles and paper comparisons as text: a table (Table 1's columns and units), CSV, Markdown,
JSON (exact integers) and a plain HTML table. Units: K = 1024 params, M = 10^6 ops.

The table is data first (`Grid` and `Note` blocks): rich draws it for a terminal (styles, the
terminal's width); for a pipe or a file, `plain_text` writes the same characters rich would, without
importing rich, or says it cannot (then rich draws it, as ever).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from typing import TYPE_CHECKING, NamedTuple

from ..util.files import json_text
from ..util.numbers import PARAMS_K, fmt_bytes, fmt_gib, fmt_k, fmt_m, fmt_si
from .profiler import FILTER_COLUMNS, Profile, Row, Totals

if TYPE_CHECKING:  # the paper's numbers (and YAML) are loaded only by what compares with them
    from .paper import CompareRow

HEADERS = ("layer", "type", "patch size/stride", "output size", "depth", "#1x1", "#3x3 reduce", "#3x3",
           "#5x5 reduce", "#5x5", "pool proj", "params", "ops")


BRANCH_ROLES = ("branch", "projection", "shortcut")  # the type column of a module's part


def _size(output) -> str:
    c, h, w = output
    return f"{h}x{w}x{c}"  # Table 1 writes height x width x channels


def _cells(row: Row) -> list[str]:
    filters = [str(row.filters[k]) if k in row.filters else "" for k in FILTER_COLUMNS]
    return [row.name, row.type, row.patch, _size(row.output), str(row.depth), *filters, fmt_k(row.params),
            fmt_m(row.ops)]


def _branch_cells(path: str, branch, level: int) -> list[list[str]]:
    """A branch's row, then its split's sub-branches' rows, indented one step deeper per level."""
    here = f"{path}.{branch.name}"
    rows = [[f"{'  ' * level}{here}", branch.role, "", _size(branch.output), str(branch.depth),
             *[""] * len(FILTER_COLUMNS), fmt_k(branch.params), fmt_m(branch.ops)]]
    for b in branch.branches:
        rows += _branch_cells(here, b, level + 1)
    return rows


def _table_rows(rows: list[Row], branches: bool) -> list[list[str]]:
    out = []
    for row in rows:
        out.append(_cells(row))
        if branches:
            for b in row.branches:
                out += _branch_cells(row.name, b, 1)
    return out


def _total_line(label: str, total: Totals) -> str:
    return (f"{label}: {total.params:,} params ({fmt_si(total.params)}), {total.ops:,} multiply-adds "
            f"({fmt_si(total.ops)}), {total.activations:,} activations")


class Grid(NamedTuple):
    """A table as data: its title, headers, and rows of cells (with a rich style for the terminal,
    and whether a rule follows the row). The first `left` columns are left-justified, the rest right."""

    title: str
    headers: tuple[str, ...]
    left: int
    rows: list[tuple[list[str], str | None, bool]]


class Note(NamedTuple):
    """A line of text under a table; `wrap=False` asks rich to leave the wrapping to the terminal
    (though `Console.print` wraps it all the same; see `plain_text`)."""

    text: str
    wrap: bool = True


def _profile_grid(title: str) -> Grid:
    return Grid(title, HEADERS, 4, [])


def _add_rows(grid: Grid, rows: list[Row], total: Totals, label: str, branches: bool, prefix: str = "") -> None:
    for cells in _table_rows(rows, branches):
        cells[0] = prefix + cells[0]
        grid.rows.append((cells, "dim" if cells[1] in BRANCH_ROLES else None, False))
    grid.rows.append(([label, "", "", "", "", *[""] * len(FILTER_COLUMNS), fmt_k(total.params), fmt_m(total.ops)],
                      "bold", True))


def profile_blocks(profile: Profile, branches: bool = False, aux: bool = True) -> list[Grid | Note]:
    """The inference path's table and its total, then one table of the aux heads and theirs."""
    main = _profile_grid(f"{profile.spec} ({profile.convention} convention, input {_size(profile.input)}; "
                         "K = 1024 params, M = 10^6 multiply-adds)")
    _add_rows(main, profile.rows, profile.total, "total", branches)
    out: list[Grid | Note] = [main, Note(_total_line("Total (inference path)", profile.total))]
    if aux and profile.aux:
        placed = "; ".join(f"{a.name} after {a.after}, loss weight {a.weight}" for a in profile.aux)
        heads = _profile_grid(f"aux heads, training only, not in the total above ({placed})")
        for a in profile.aux:
            _add_rows(heads, a.rows, a.total, f"{a.name} total", branches, prefix=f"{a.name}.")
        out += [heads, Note(_total_line("All aux heads", profile.aux_total))]
    return out


def rich_renderables(blocks: list[Grid | Note]) -> list:
    """The blocks as rich renderables (a `Table` per grid, a `Text` per note)."""
    from rich.table import Table
    from rich.text import Text

    out = []
    for block in blocks:
        if isinstance(block, Note):
            out.append(Text(block.text) if block.wrap else Text(block.text, no_wrap=True, overflow="ignore"))
            continue
        table = Table(title=block.title, title_justify="left", header_style="bold", pad_edge=False)
        for i, header in enumerate(block.headers):
            table.add_column(header, justify="left" if i < block.left else "right", no_wrap=True)
        for cells, style, end_section in block.rows:
            table.add_row(*cells, style=style, end_section=end_section)
        out.append(table)
    return out


def rich_tables(profile: Profile, branches: bool = False, aux: bool = True) -> list:
    """Renderables for a rich console: the inference path's table, then one table of the aux heads."""
    return rich_renderables(profile_blocks(profile, branches, aux))


def to_text(renderables, width: int = 200) -> str:
    """Rich renderables as plain text `width` columns wide (no styles)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def blocks_text(blocks: list[Grid | Note], width: int = 200) -> str:
    """The blocks as plain text `width` columns wide: what rich prints there, without styles."""
    text = plain_text(blocks, width)
    return text if text is not None else to_text(rich_renderables(blocks), width)


# --- the table without rich --------------------------------------------------------------------
# What rich prints for these tables when nothing has to be shrunk, cut or interpreted: its heavy-head
# box, one space of padding but none at the outer edges, each column as wide as its widest cell, the
# title left-justified, word-wrapped and padded to the table's width, notes word-wrapped at the
# page's. Anything else (a table wider than the page, a word wider than its line, a cell rich would
# read as markup or emoji, characters that are not one column wide) is left to rich, so the two
# never differ (tests/profile/test_plain_table.py holds them together).

_PLAIN_CHARS = re.compile(r"[ -~Δ]*")  # printable ASCII, and the Δ of the comparison's headers
_MARKUP = re.compile(r"\[|:\S*?:")  # [style] markup, :emoji: codes


def _plain_safe(text: str) -> bool:
    return _PLAIN_CHARS.fullmatch(text) is not None and _MARKUP.search(text) is None


def _wrapped(text: str, width: int, pad: bool) -> list[str] | None:
    """`text` word-wrapped `width` columns wide as rich wraps it (each line keeps the spaces after
    its last word that fit), padded to `width` with `pad` (a title); None when a word is wider than
    the line (rich would cut it)."""
    lines, start, offset = [], 0, 0
    for word in re.finditer(r"\s*\S+\s*", text):
        length = len(word.group().rstrip())
        if length > width:
            return None
        if width - offset >= length:
            offset += len(word.group())
        elif offset and word.start():
            lines.append(text[start:word.start()])
            start, offset = word.start(), len(word.group())
    lines.append(text[start:])
    return [line[:width].ljust(width) if pad else line[:width] for line in lines]


def _plain_grid(grid: Grid, width: int) -> list[str] | None:
    cells = [list(grid.headers), *(row[0] for row in grid.rows)]
    if not _plain_safe(grid.title) or not all(_plain_safe(c) for row in cells for c in row):
        return None
    n = len(grid.headers)
    pads = [(0 if i == 0 else 1, 0 if i == n - 1 else 1) for i in range(n)]
    inner = [max(len(row[i]) for row in cells) for i in range(n)]
    widths = [(inner[i] + sum(pads[i])) or 1 for i in range(n)]
    table_width = sum(widths) + n + 1
    if table_width > width:
        return None
    lines = _wrapped(grid.title, table_width, pad=True) if grid.title else []
    if lines is None:
        return None

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * w for w in widths) + right

    def row(cells: list[str], bar: str) -> str:
        out = []
        for i, (cell, w, (lpad, rpad)) in enumerate(zip(cells, widths, pads, strict=True)):
            text = cell.ljust(inner[i]) if i < grid.left else cell.rjust(inner[i])
            out.append((" " * lpad + text + " " * rpad).ljust(w))
        return bar + bar.join(out) + bar

    lines += [rule("┏", "━", "┳", "┓"), row(list(grid.headers), "┃"), rule("┡", "━", "╇", "┩")]
    for i, (cells, _style, end_section) in enumerate(grid.rows):
        lines.append(row(cells, "│"))
        if end_section and i < len(grid.rows) - 1:
            lines.append(rule("├", "─", "┼", "┤"))
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


def plain_text(blocks: list[Grid | Note], width: int = 200) -> str | None:
    """The blocks exactly as rich prints them `width` columns wide without styles, drawn without
    rich; None where that needs rich (see above)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Note):
            # Wrapped at the page's width, `wrap=False` or not: rich's print joins the texts it is
            # given into a new one, which keeps neither `no_wrap` nor `overflow`.
            note = _wrapped(block.text, width, pad=False) if _PLAIN_CHARS.fullmatch(block.text) else None
            if note is None:
                return None
            lines += note
            continue
        grid = _plain_grid(block, width)
        if grid is None:
            return None
        lines += grid
    return "".join(line + "\n" for line in lines)


def plain_stdout() -> bool:
    """Whether rich would print to stdout as to a file (not a terminal, no colour forced, UTF-8):
    then `plain_text` gives the same characters."""
    stream = sys.stdout
    try:
        if stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    tty = os.environ.get("TTY_COMPATIBLE", "")
    if tty == "1" or (tty != "0" and os.environ.get("FORCE_COLOR")):
        return False
    if "IPython" in sys.modules or "idlelib" in sys.modules:  # rich has its own rules there
        return False
    return (getattr(stream, "encoding", None) or "utf-8").lower().startswith("utf")


def _flat_records(profile: Profile, branches: bool, aux: bool) -> list[dict]:
    records = []
    sections = [("main", profile.rows)] + ([(a.name, a.rows) for a in profile.aux] if aux else [])
    for section, rows in sections:
        for row in rows:
            rec = {"section": section, "name": row.name, "type": row.type, "patch": row.patch,
                   "output": _size(row.output), "depth": row.depth}
            rec.update({k: row.filters.get(k, "") for k in FILTER_COLUMNS})
            rec.update(params=row.params, ops=row.ops, activations=row.activations)
            records.append(rec)
            if branches:
                records += _branch_records(section, row.name, row.branches)
    return records


def _branch_records(section: str, path: str, branches) -> list[dict]:
    out = []
    for b in branches:
        name = f"{path}.{b.name}"
        out.append({"section": section, "name": name, "type": b.role, "patch": "", "output": _size(b.output),
                    "depth": b.depth, **{k: "" for k in FILTER_COLUMNS}, "params": b.params, "ops": b.ops,
                    "activations": b.activations})
        out += _branch_records(section, name, b.branches)
    return out


def to_csv(profile: Profile, branches: bool = False, aux: bool = True) -> str:
    """Exact integers, one row per layer (and per branch with `branches`), aux heads by section."""
    records = _flat_records(profile, branches, aux)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def _md_table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def to_markdown(profile: Profile, branches: bool = False, aux: bool = True) -> str:
    parts = [f"### {profile.spec} ({profile.convention} convention)", "",
             _md_table(HEADERS, _table_rows(profile.rows, branches)), "", _total_line("Total", profile.total), ""]
    if aux:
        for a in profile.aux:
            parts += [f"#### aux head {a.name} (after {a.after}, weight {a.weight})", "",
                      _md_table(HEADERS, _table_rows(a.rows, branches)), "", _total_line("Total", a.total), ""]
    return "\n".join(parts)


def to_json(profile: Profile, compare: list[CompareRow] | None = None) -> str:
    data = profile.to_dict()
    if compare is not None:
        from .paper import compare_to_dicts, paper_numbers

        data["compare"] = {"against": paper_numbers().source, "rows": compare_to_dicts(compare)}
    return json_text(data)


def to_html(profile: Profile, branches: bool = False, aux: bool = True) -> str:
    """A self-contained HTML page with the profile table(s)."""
    import html

    def table(rows: list[Row]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                       for cells in _table_rows(rows, branches))
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    title = html.escape(f"{profile.spec} — archkit profile ({profile.convention} convention)")
    parts = [f"<h1>{title}</h1>", table(profile.rows), f"<p>{html.escape(_total_line('Total', profile.total))}</p>"]
    if aux:
        for a in profile.aux:
            parts += [f"<h2>{html.escape(f'aux head {a.name} (after {a.after}, weight {a.weight})')}</h2>",
                      table(a.rows), f"<p>{html.escape(_total_line('Total', a.total))}</p>"]
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:nth-child(-n+4){text-align:left}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")


# --- computed vs published -------------------------------------------------------------------

COMPARE_HEADERS = ("layer", "params", "paper", "Δ params", "", "ops", "paper", "Δ ops", "")


def _compare_cells(r: CompareRow) -> list[str]:
    mark = {"match": "ok", "near": "~", "disagrees": "DIFFERS"}
    return [r.name, fmt_k(r.params), fmt_k(r.paper_params), f"{r.params_delta / PARAMS_K:+.1f}K",
            mark[r.params_status], fmt_m(r.ops), fmt_m(r.paper_ops), f"{r.ops_delta / 1e6:+.1f}M",
            mark[r.ops_status]]


def compare_summary(rows: list[CompareRow], profile: Profile) -> list[str]:
    from .paper import paper_numbers

    numbers = paper_numbers()
    flagged = [r for r in rows if r.flagged]
    lines = [f"{len(rows) - len(flagged)} of {len(rows)} rows match the paper within its printed precision; "
             f"{sum(r.params_status == 'near' or r.ops_status == 'near' for r in flagged)} are within 2%; "
             f"{sum('disagrees' in (r.params_status, r.ops_status) for r in flagged)} disagree."]
    lines += [f"{r.name}: {r.note}" for r in flagged]
    lines.append(f"Total inference cost: {fmt_si(profile.total.ops)} multiply-adds computed; the paper's budget "
                 f"is {fmt_si(int(numbers.budget_ops))} ({profile.total.ops / numbers.budget_ops - 1:+.1%}).")
    return lines


def compare_blocks(rows: list[CompareRow], profile: Profile) -> list[Grid | Note]:
    from .paper import paper_numbers

    grid = Grid(f"{profile.spec} vs {paper_numbers().source} (K = 1024 params, M = 10^6 multiply-adds)",
                COMPARE_HEADERS, 1, [(_compare_cells(r), "yellow" if r.flagged else None, False) for r in rows])
    # Notes are sentences: let the terminal wrap them rather than rich cutting them at its width.
    return [grid, *(Note(line, wrap=False) for line in compare_summary(rows, profile))]


def compare_rich(rows: list[CompareRow], profile: Profile) -> list:
    return rich_renderables(compare_blocks(rows, profile))


def compare_csv(rows: list[CompareRow]) -> str:
    from .paper import compare_to_dicts

    records = compare_to_dicts(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def compare_markdown(rows: list[CompareRow], profile: Profile) -> str:
    body = _md_table(COMPARE_HEADERS, [_compare_cells(r) for r in rows])
    return body + "\n\n" + "\n".join(f"- {line}" for line in compare_summary(rows, profile)) + "\n"


# --- training cost (`archkit profile --train`) ---------------------------------------------------

TRAIN_HEADERS = ("layer", "saved for backward", "forward", "input grads", "weight grads", "train ops")


def train_answer(cost, memory: int | None, memory_label: str | None = None) -> str:
    """The one-line answer: "peak training memory at batch 128, bf16: 3.42 GiB; largest batch within
    80 GiB: 2,944" (`memory_label` says the memory as the user gave it)."""
    line = f"peak training memory at batch {cost.batch:,}, {cost.precision}: {fmt_gib(cost.peak_bytes)}"
    if memory is None:
        return line
    largest = cost.largest_batch(memory)
    return (f"{line}; largest batch within {memory_label or fmt_gib(memory)}: {largest:,}"
            + (f" (batch {cost.batch:,} does not fit)" if largest < cost.batch else ""))


def _train_cells(name: str, row) -> list[str]:
    return [name, fmt_bytes(row.saved_bytes), fmt_m(row.forward_ops * row.batch),
            fmt_m(row.input_grad_ops * row.batch), fmt_m(row.weight_grad_ops * row.batch), fmt_m(row.train_ops)]


def train_rows(cost) -> list[list[str]]:
    """The training table's cells: the layers, each aux head's (prefixed with its name), the loss."""
    rows = [_train_cells(r.name, r) for r in cost.rows]
    for head, head_rows in cost.aux:
        rows += [_train_cells(f"{head}.{r.name}", r) for r in head_rows]
    rows.append(_train_cells("loss", cost.loss))
    return rows


def train_total_cells(cost) -> list[str]:
    per = [sum(getattr(r, k) * r.batch for r in cost.all_rows())
           for k in ("forward_ops", "input_grad_ops", "weight_grad_ops")]
    return ["total", fmt_bytes(cost.saved_bytes), *(fmt_m(n) for n in per), fmt_m(cost.train_ops)]


def train_notes(cost) -> list[str]:
    state = "momentum" if cost.optimizer == "sgd" else "Adam's moments"
    autocast = "autocast" if cost.precision != "fp32" else "no autocast"
    return [f"One training step at batch {cost.batch:,}, {cost.precision} ({autocast}), on the {cost.device}"
            f"{', channels-last' if cost.channels_last else ''}: saved for backward {fmt_bytes(cost.saved_bytes)} "
            f"(exact: autograd's saved tensors, unique storages, parameters left out) + weights, gradients and "
            f"{state} {fmt_bytes(cost.param_state_bytes)} + workspace {fmt_bytes(cost.workspace_bytes)} (estimate: "
            f"the batch, and gradients in flight) = peak {fmt_bytes(cost.peak_bytes)}. Train ops = forward + input "
            f"gradients (none for the images) + weight gradients, multiply-adds: {cost.train_ops:,} "
            f"({fmt_si(cost.train_ops)})."]


def train_blocks(cost, answer: str) -> list[Grid | Note]:
    grid = Grid(f"{cost.spec}: training cost of one step (batch {cost.batch:,}, {cost.precision}; M = 10^6 "
                "multiply-adds)", TRAIN_HEADERS, 1,
                [(cells, "dim" if cells[0] == "loss" else None, False) for cells in train_rows(cost)])
    grid.rows.append((train_total_cells(cost), "bold", True))
    return [grid, *(Note(n) for n in train_notes(cost)), Note(answer)]


def with_train_json(text: str, cost) -> str:
    """The JSON document with each row's (and aux row's) `saved_bytes` and `train_ops`, and the
    totals `saved_bytes`, `param_state_bytes`, `peak_train_bytes`, `train_ops`; `train` says how."""
    data = json.loads(text)
    by_key = {("main", r.name): r for r in cost.rows}
    for head, rows in cost.aux:
        by_key.update({(head, r.name): r for r in rows})
    for row in data["rows"]:
        r = by_key[("main", row["name"])]
        row.update(saved_bytes=r.saved_bytes, train_ops=r.train_ops)
    for head in data["aux"]:
        for row in head["rows"]:
            r = by_key[(head["name"], row["name"])]
            row.update(saved_bytes=r.saved_bytes, train_ops=r.train_ops)
    d = cost.to_dict()
    data["total"].update(saved_bytes=cost.saved_bytes, param_state_bytes=cost.param_state_bytes,
                         peak_train_bytes=cost.peak_bytes, train_ops=cost.train_ops)
    data["train"] = {k: d[k] for k in ("batch", "precision", "optimizer", "device", "channels_last")}
    data["train"].update(loss_saved_bytes=cost.loss.saved_bytes, workspace_bytes=cost.workspace_bytes)
    return json_text(data)


def with_train_csv(text: str, cost) -> str:
    """The CSV with `saved_bytes` and `train_ops` columns (rows of branches left empty) and a `loss` row."""
    by_key = {("main", r.name): r for r in cost.rows}
    for head, rows in cost.aux:
        by_key.update({(head, r.name): r for r in rows})
    records = list(csv.DictReader(io.StringIO(text)))
    for rec in records:
        r = by_key.get((rec["section"], rec["name"]))
        rec["saved_bytes"] = r.saved_bytes if r is not None else ""
        rec["train_ops"] = r.train_ops if r is not None else ""
    loss = dict.fromkeys(records[0], "")
    loss.update(section="loss", name="loss", saved_bytes=cost.loss.saved_bytes, train_ops=0)
    records.append(loss)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()
