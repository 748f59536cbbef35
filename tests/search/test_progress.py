"""The trials view: readable in a narrow terminal and in a log file."""

from __future__ import annotations

import io

import optuna
from rich.console import Console

from archkit.search.progress import LiveView, trials_table

WIDTHS = "stem 36/112 | 88 | 168 | 252"


def _study():
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for number, (acc, ops) in enumerate([(0.357, 19_700_000), (0.841, 20_000_000)]):
        trial = study.ask()
        for key, value in {"spec": "name: demo", "widths": WIDTHS, "ops": ops, "params": 181_000, "val_top1": acc,
                           "train_seconds": 12.0, "feasible": True, "trained": True,
                           "reference": number == 0}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, acc)
    return study


def _text(renderable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(renderable)
    return buffer.getvalue()


def test_widths_stay_visible_in_an_80_column_console():
    text = _text(trials_table(_study(), "demo", limits={"ops": 20_000_000}), 80)
    # Wrapped if need be, but every part of the widths is shown.
    for part in ("36/112", "88", "168", "252"):
        assert part in text
    assert "0.841" in text and "reference:" in text and "scaling" in text
    table_lines = [line for line in text.splitlines() if line.startswith(("┏", "│", "└"))]
    assert all(line.rstrip().endswith(("┓", "│", "┘")) for line in table_lines)  # not cropped at 80
    assert "best feasible: #1 val top-1 0.841" in " ".join(text.split())


def test_a_log_file_gets_the_final_table_once_ending_in_a_newline(capsys):
    study = _study()
    with LiveView(study, "archkit search demo", {"ops": 20_000_000}) as view:
        view.event("start", {"number": 2})
        view.event("end", {})
    err = capsys.readouterr().err
    assert err.count("archkit search demo") == 1
    assert WIDTHS in err  # 120 columns: no wrapping
    assert err.endswith("\n")
