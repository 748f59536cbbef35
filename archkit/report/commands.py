"""`archkit compare` and `archkit report` (typer command functions; heavy imports inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

REPORTS_DIR = Path("reports")


def compare(
    spec_a: Annotated[str, typer.Argument(help="Spec A: a built-in spec name or a YAML spec file.")],
    spec_b: Annotated[str, typer.Argument(help="Spec B, compared with A (deltas are B - A).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The HTML file to write (default: reports/A-vs-B.html).")] = None,
) -> None:
    """Two specs side by side, layer by layer: output shapes, params, ops and their deltas, with
    the figures overlaid; one self-contained HTML file."""
    from ..commandline import write_output
    from ..spec import load_spec
    from .api import compare_report_html

    a, b = load_spec(spec_a), load_spec(spec_b)  # SpecError: one line, exit 2 (user_errors)
    path = output or REPORTS_DIR / f"{_file_part(a.name)}-vs-{_file_part(b.name)}.html"
    write_output(compare_report_html(a, b), path)


def report(
    study: Annotated[str, typer.Argument(help="The study name.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The HTML file to write (default: reports/STUDY.html).")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL or journal file (default: studies/STUDY.db or .journal).")] = None,
) -> None:
    """The report of a search study: the confirmation's verdict first (test top-1 by seed of the
    confirmed candidates and the reference), then Pareto fronts of accuracy vs ops and params, history,
    importances, parallel coordinates, the best candidate vs the base, every trial in a sortable
    table, the config and run facts; one self-contained HTML file. The study is only read."""
    from ..commandline import UserError, write_output
    from ..search.storage import StorageError
    from .api import load_study, study_report_html

    try:
        loaded, location = load_study(study, storage)
    except StorageError as exc:
        raise UserError(str(exc)) from None
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
