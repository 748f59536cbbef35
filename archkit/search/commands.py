"""`archkit search` and `archkit export` (typer command functions; heavy imports inside)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def search(
    config: Annotated[Path, typer.Argument(help="A search config YAML (see studies/demo.yaml).")],
    trials: Annotated[int | None, typer.Option(
        min=1, help="Total finished trials the study should have; rerunning resumes up to this.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs per trial.")] = None,
    max_ops: Annotated[str | None, typer.Option(help="Budget: max multiply-adds, e.g. 50M or 1.5G.")] = None,
    max_params: Annotated[str | None, typer.Option(help="Budget: max params, e.g. 2M.")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage: sqlite:///x.db, postgresql://user@host/db, or a journal file path.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: the config's name or file name).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes on this machine (one per GPU).")] = 1,
    seed: Annotated[int | None, typer.Option(min=0, help="Sampler seed.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live view of the trials.")] = True,
    worker: Annotated[int | None, typer.Option(hidden=True, help="Internal: run as worker N of --workers.")] = None,
) -> None:
    """Search widths and depths under a compute budget with Optuna; every trial is profiled
    analytically before any tensor exists, and only candidates within the budget are trained."""
    from ..cli import UserError
    from .config import load_search_config
    from .runner import SearchError, resolve_location, run_worker, run_workers
    from .storage import StorageError, describe

    overrides = {k: v for k, v in (("trials", trials), ("train.epochs", epochs), ("budget.ops", max_ops),
                                   ("budget.params", max_params), ("seed", seed)) if v is not None}
    loaded = load_search_config(config, overrides)
    name = study or loaded.study_name
    location = resolve_location(storage, name, workers)
    resume = f"archkit search {' '.join(sys.argv[2:])}" if len(sys.argv) > 2 else "the same command"
    try:
        if worker is not None:
            run_worker(loaded, location, name, progress=False, worker=worker)
            return
        if workers > 1:
            child_args = [str(config)] + [arg for k, v in overrides.items()
                                          for arg in (f"--{_option(k)}", str(v))] + ["--no-progress"]
            summary = run_workers(loaded, location, name, workers, child_args, progress=progress)
        else:
            summary = run_worker(loaded, location, name, progress=progress)
    except (SearchError, StorageError) as exc:
        raise UserError(str(exc)) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the running trial was marked failed; finished trials are kept in "
                   f"{describe(location)}. Resume with: {resume}", err=True)
        raise typer.Exit(130) from None
    _print_summary(summary, loaded)
    if summary.stopped and summary.finished < summary.asked:
        typer.echo(f"stopped early: {summary.stopped}. Resume with: {resume}", err=True)


def _option(key: str) -> str:
    return {"train.epochs": "epochs", "budget.ops": "max-ops", "budget.params": "max-params"}.get(key, key)


def _print_summary(summary, loaded) -> None:
    from .numbers import format_count
    from .storage import describe

    typer.echo(f"study {summary.study} in {describe(summary.storage)}: {summary.finished} of {summary.asked} "
               f"trials finished ({', '.join(f'{n} {s.lower()}' for s, n in sorted(summary.states.items()))})")
    best = summary.best
    if best is None:
        typer.echo("no trained candidate within the budget yet")
        return
    what = "the uniform-scaling reference" if best["reference"] else "a searched candidate"
    typer.echo(f"best: trial {best['number']} ({what}), val top-1 {best['val_top1']:.4f}, "
               f"{format_count(best['ops'])} ops, {format_count(best['params'])} params; widths {best['widths']}")
    typer.echo(f"export it: archkit export {summary.study} --best -o specs/"
               + (f" --storage {summary.storage}" if summary.storage != _default(summary.study) else ""))


def _default(study: str) -> str:
    from .storage import default_location

    return default_location(study)


def export(
    study: Annotated[str, typer.Argument(help="The study name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the YAML specs.")] = Path("specs"),
    best: Annotated[bool, typer.Option("--best", help="The best feasible candidate (default).")] = False,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="Every candidate on the accuracy/cost Pareto front.")] = False,
    cost: Annotated[str, typer.Option(help="The Pareto front's cost axis: ops or params.")] = "ops",
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file.")] = None,
) -> None:
    """Write a study's best (or Pareto-optimal) candidates as YAML specs."""
    from ..cli import UserError
    from .export import ExportError
    from .export import export as run_export
    from .storage import StorageError

    if best and pareto:
        raise UserError("give --best or --pareto, not both")
    if cost not in ("ops", "params"):
        raise UserError(f"--cost must be ops or params, got {cost!r}")
    try:
        paths = run_export(study, output, storage=storage, pareto=pareto, cost=cost)
    except (ExportError, StorageError) as exc:
        raise UserError(str(exc)) from None
    for path in paths:
        typer.echo(str(path))
