"""One self-contained HTML file per report: plotly.js inlined once in the head (the file opens
offline and can be mailed), figures, tables, notes; no network reference of our own (links,
fonts, CDNs) anywhere. The only script besides Plotly's is a few lines that sort a table by the
header clicked."""

from __future__ import annotations

import html
from datetime import datetime, timezone

from .. import __version__

# Figure divs share the page width (the content column is at most MAX_WIDTH px: a laptop screen);
# each figure sets its own height.
MAX_WIDTH = 1240
INDENT_EM = 1.5  # a tree row's indent per level (the branches table)
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}

STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }}
main {{ max-width: {MAX_WIDTH}px; margin: 0 auto; padding: 16px 24px 48px; }}
h1 {{ font-size: 1.5em; margin: 0.4em 0 0.2em; }}
h2 {{ font-size: 1.2em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }}
.sub {{ color: #666; margin: 0 0 1em; }}
.note {{ background: #f3f6fb; border-left: 4px solid #4c72b0; padding: 6px 12px; margin: 8px 0; }}
.note ul {{ margin: 4px 0; padding-left: 1.4em; }}
.message {{ background: #fff4e5; border-left: 4px solid #e6a23c; padding: 10px 14px; margin: 12px 0;
            font-size: 1.05em; }}
.verdict {{ border-left: 6px solid #e6a23c; background: #fff4e5; padding: 10px 14px; margin: 16px 0 4px;
            font-size: 1.15em; font-weight: 600; }}
.verdict.better {{ border-color: #2ca02c; background: #eaf6ea; }}
.verdict.worse {{ border-color: #d62728; background: #fdecec; }}
.scroll {{ overflow-x: auto; margin: 8px 0; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #d9d9d9; padding: 3px 6px; text-align: right; white-space: nowrap; }}
th {{ background: #f5f5f5; position: sticky; top: 0; white-space: normal; vertical-align: bottom; }}
td.text, th.text {{ text-align: left; }}
td.wrap {{ white-space: normal; min-width: 14em; text-align: left; }}
tr.total td {{ font-weight: bold; background: #fafafa; }}
tr.disagrees td {{ background: #fde2e1; }}
tr.near td {{ background: #fff4d6; }}
tr.changed td {{ background: #fff1c9; }}
tr.module td {{ font-weight: 600; background: #f7f7f7; }}
tr.only-a td, tr.only-b td {{ background: #eef3fb; font-style: italic; }}
tr.reference td {{ background: #fdecec; font-weight: 600; }}
tr.over-budget td, tr.failed td {{ color: #888; }}
table.sortable th {{ cursor: pointer; user-select: none; }}
table.sortable th[data-dir="asc"]::after {{ content: " \\25B2"; }}
table.sortable th[data-dir="desc"]::after {{ content: " \\25BC"; }}
.facts th {{ text-align: left; }} .facts td {{ text-align: left; white-space: normal; }}
pre {{ background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 12px; }}
footer {{ color: #888; font-size: 12px; margin-top: 3em; }}
"""

# Click a header: sort the body rows by that column (numbers by value via data-sort, blanks last),
# again to reverse.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.dir !== "asc", body = table.tBodies[0];
      table.querySelectorAll("thead th").forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = asc ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[col], v = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
        return v === "" ? null : (isNaN(Number(v)) ? v : Number(v));
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        var d = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? d : -d;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def esc(text) -> str:
    return html.escape(str(text))


def figure_html(fig, div_id: str) -> str:
    """A figure's div and the script that draws it (plotly.js itself is in the page head)."""
    import plotly.io as pio

    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
                       default_width="100%")


def table_html(headers, rows: list[dict], *, total: list[str] | None = None, sortable: bool = False,
               table_id: str | None = None, text_columns: int = 1, wrap_columns: tuple[int, ...] = ()) -> str:
    """A table from data rows ({"cells": [...], "status": css class, optional "sort": [...],
    optional "level": how many steps the first cell is indented, for a tree's rows}).
    The first `text_columns` columns (and `wrap_columns`) are left-aligned text; the rest numbers."""

    def cls(i: int) -> str:
        return ' class="wrap"' if i in wrap_columns else ' class="text"' if i < text_columns else ""

    head = "".join(f"<th{cls(i) if i < text_columns else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        sort = row.get("sort")
        tds = []
        level = row.get("level", 0)
        for i, cell in enumerate(row["cells"]):
            key = f' data-sort="{esc(sort[i])}"' if sort is not None else ""
            indent = f' style="padding-left: {INDENT_EM * level + 0.4:g}em"' if i == 0 and level else ""
            tds.append(f"<td{cls(i)}{key}{indent}>{esc(cell)}</td>")
        status = row.get("status", "").replace(" ", "-")
        body.append(f"<tr{f' class={chr(34)}{esc(status)}{chr(34)}' if status else ''}>{''.join(tds)}</tr>")
    foot = ""
    if total is not None:
        foot = "<tfoot><tr class=\"total\">" + "".join(f"<td{cls(i)}>{esc(c)}</td>" for i, c in enumerate(total)) \
            + "</tr></tfoot>"
    attrs = (f' id="{esc(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    return (f"<div class=\"scroll\"><table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"{foot}</table></div>")


def facts_html(pairs) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<div class=\"scroll\"><table class=\"facts\">{rows}</table></div>"


def note(text: str, kind: str = "note") -> str:
    return f"<p class=\"{kind}\">{esc(text)}</p>"


def note_list(lines: list[str]) -> str:
    """One note box: the first line, then the others as a bulleted list."""
    if not lines:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines[1:])
    return f"<div class=\"note\">{esc(lines[0])}" + (f"<ul>{items}</ul>" if items else "") + "</div>"


def section(title: str, *parts: str, section_id: str | None = None) -> str:
    sid = f' id="{esc(section_id)}"' if section_id else ""
    return f"<section{sid}><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def document(title: str, subtitle: str, parts: list[str], lead: str = "") -> str:
    """The whole page. plotly.js goes in the head, once, before any figure's script runs. `lead`
    (HTML) comes first in the body, above the title: what the reader must see before anything."""
    from plotly.offline import get_plotlyjs

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>\n<body><main>{lead}"
        f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}</p>"
        + "\n".join(parts)
        + f"<footer>archkit {esc(__version__)}, written {stamp}. Self-contained: opens without a network."
        f"</footer></main><script>{SORT_JS}</script></body></html>\n"
    )
