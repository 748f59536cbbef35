"""`archkit compare` and `archkit report` (typer command functions; heavy imports inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..util.choices import FORMATS, SUFFIX_FORMATS

REPORTS_DIR = Path("reports")




def compare(
    spec_a: Annotated[str, typer.Argument(help="Spec A: a built-in spec name or a YAML spec file.")],
    spec_b: Annotated[str, typer.Argument(help="Spec B, compared with A (deltas are B - A).")],
    format: Annotated[str | None, typer.Option(
        "--format", "-f", help="table (the default, in the terminal), html, csv, markdown or json; with -o and no "
                               "--format, the file's suffix decides.", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Two specs side by side, layer by layer: output shapes, params, ops and their deltas. A table
    in the terminal by default; `--format html -o FILE` writes one self-contained HTML report with
    the figures overlaid (and csv, markdown, json with exact integers)."""
    from ..commandline import UserError, write_output
    from ..spec import load_spec

    if format is None:
        format = SUFFIX_FORMATS.get(output.suffix.lower(), "table") if output is not None else "table"
    if format not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    a, b = load_spec(spec_a), load_spec(spec_b)  # SpecError: one line, exit 2 (user_errors)
    if format == "html":
        from .api import compare_report_html

        path = output or REPORTS_DIR / f"{_file_part(a.name)}-vs-{_file_part(b.name)}.html"
        write_output(compare_report_html(a, b), path)
        return
    from .. import profile as profile_spec
    from . import compare_text
    from .data import compare_data

    data = compare_data(profile_spec(a), profile_spec(b))
    if format == "table" and output is None:
        import sys

        from rich.console import Console

        # Wide enough for the ten columns when piped (rich assumes 80 columns then), as `profile` does.
        console = Console(width=None if sys.stdout.isatty() else 200)
        console.print(compare_text.rich_table(data))
        console.print(compare_text.summary(data))
        return
    render = {"table": compare_text.to_table_text, "csv": compare_text.to_csv,
              "markdown": compare_text.to_markdown, "json": compare_text.to_json}[format]
    write_output(render(data), output)


def report(
    study: Annotated[str, typer.Argument(help="The study name.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The HTML file to write (default: reports/STUDY.html).")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL or journal file (default: studies/STUDY.db or .journal).")] = None,
) -> None:
    """The report of a search study: the confirmation's verdict first (test top-1 by seed of the
    confirmed candidates and the reference), then Pareto fronts of accuracy vs ops and params (and
    predicted latency, when the study predicts it), history, importances, parallel coordinates, the
    best candidate vs the base, every trial in a sortable table, the config and run facts; one
    self-contained HTML file. The study is only read."""
    from ..commandline import write_output
    from .api import load_study, study_report_html

    loaded, location = load_study(study, storage)
    text, data = study_report_html(loaded, location)
    write_output(text, output or REPORTS_DIR / f"{_file_part(study)}.html")
    if data["message"]:
        typer.echo(f"note: {data['message']} The report says so.", err=True)
    for line in data["notes"]:
        typer.echo(f"note: {line}", err=True)


def _file_part(name: str) -> str:
    """A name made safe for a file name (spec names are free text)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return safe or "report"
