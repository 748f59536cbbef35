"""`archkit search` and `archkit export` (typer command functions; heavy imports inside)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def trainer(ctx: typer.Context | None):
    """The training function a command runs: `archkit.train`, unless the command line was invoked
    with another in its context object, `{"train": fn}` (`CliRunner().invoke(app, args,
    obj={"train": fn})`: how the tests run a search with a fake trainer). Worker processes started
    by `--workers` always train for real."""
    from .runner import _default_train

    obj = ctx.obj if ctx is not None else None
    return (obj.get("train") if isinstance(obj, dict) else None) or _default_train


def search(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="A search config YAML (see studies/demo.yaml).")],
    trials: Annotated[int | None, typer.Option(
        min=1, help="Total finished trials the study should have; rerunning resumes up to this.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs per trial.")] = None,
    max_ops: Annotated[str | None, typer.Option(help="Budget: max multiply-adds, e.g. 50M or 1.5G.")] = None,
    max_params: Annotated[str | None, typer.Option(help="Budget: max params, e.g. 2M.")] = None,
    max_latency_ms: Annotated[float | None, typer.Option(
        help="Budget: max predicted latency of one forward pass in ms, on the config's latency: device.",
        show_default=False)] = None,
    max_train_memory: Annotated[str | None, typer.Option(
        help="Budget: max predicted peak memory of one training step at the trial's batch and precision, "
             "e.g. 8G (= 8 GB) or 16GiB.", show_default=False)] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage: sqlite:///x.db, postgresql://user@host/db, or a journal file path.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: the config's name or file name).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes on this machine (one per GPU).")] = 1,
    seed: Annotated[int | None, typer.Option(min=0, help="Sampler seed.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live view of the trials.")] = True,
    final_top: Annotated[int | None, typer.Option(
        min=1, help="Confirmation: retrain this many of the best candidates (config final.top, default 3).",
        show_default=False)] = None,
    final_seeds: Annotated[int | None, typer.Option(
        min=1, help="Confirmation: seeds per candidate and for the reference (final.seeds, default 3).",
        show_default=False)] = None,
    final_epochs: Annotated[int | None, typer.Option(
        min=1, help="Confirmation: epochs of the final recipe (final.epochs, default 3x train.epochs).",
        show_default=False)] = None,
    final_rerank: Annotated[int | None, typer.Option(
        min=1, help="Confirmation: first train this many of the best once with the trials' recipe and retrain "
                    "the best of them (final.rerank; for a proxy that trains nothing).", show_default=False)] = None,
    no_final: Annotated[bool, typer.Option("--no-final", help="Skip the confirmation stage "
                                                                "(run it later with archkit confirm).")] = False,
    worker: Annotated[int | None, typer.Option(hidden=True, help="Internal: run as worker N of --workers.")] = None,
) -> None:
    """Search widths and depths under a compute budget with Optuna, then confirm the answer.

    Every trial is profiled analytically before any tensor exists, and only candidates within the
    budget are trained. Trials select on the validation split; then the best candidates and the
    uniform-scaling reference are retrained with several seeds and compared on the test split."""
    from ..commandline import UserError
    from ..latency.errors import LatencyError
    from .loader import load_search_config
    from .runner import DataStop, resolve_location, run_worker
    from .storage import describe
    from .studies import latency_cost
    from .workers import run_workers

    overrides = {k: v for k, v in (("trials", trials), ("train.epochs", epochs), ("budget.ops", max_ops),
                                   ("budget.params", max_params), ("budget.latency_ms", max_latency_ms),
                                   ("budget.train_memory", max_train_memory), ("seed", seed), ("final.top", final_top),
                                   ("final.seeds", final_seeds), ("final.epochs", final_epochs),
                                   ("final.rerank", final_rerank)) if v is not None}
    loaded = load_search_config(config, overrides)
    name = study or loaded.study_name
    location = resolve_location(storage, name, workers)
    resume = f"archkit search {' '.join(sys.argv[2:])}" if len(sys.argv) > 2 else "the same command"
    try:
        latency = latency_cost(loaded)
    except LatencyError as exc:
        raise UserError(f"{config}: latency: {exc}") from None
    try:
        if worker is not None:
            run_worker(loaded, location, name, progress=False, worker=worker, train=trainer(ctx))
            return
        if workers > 1:
            # Workers only run trials; the confirmation stage runs here once they are done.
            child_args = [str(config)] + [arg for k, v in overrides.items() if not k.startswith("final.")
                                          for arg in (f"--{_option(k)}", str(v))] + ["--no-progress"]
            summary = run_workers(loaded, location, name, workers, child_args, progress=progress)
        else:
            summary = run_worker(loaded, location, name, progress=progress, train=trainer(ctx))
    except DataStop as exc:
        raise UserError(f"{exc}. Resume with: {resume}") from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the running trial was marked failed; finished trials are kept in "
                   f"{describe(location)}. Resume with: {resume}", err=True)
        raise typer.Exit(130) from None
    complete = summary.finished >= summary.asked
    verdict = None
    if complete and loaded.config.final is not None and not no_final:
        from .confirm import ConfirmError

        try:
            verdict = _confirm(name, location, loaded.config, loaded.config.final, resume, trainer(ctx))
        except ConfirmError as exc:
            typer.echo(f"not confirmed: {exc}", err=True)
    _print_summary(summary, loaded, verdict, latency)
    if not complete and summary.stopped:
        typer.echo(f"stopped early: {summary.stopped}. Resume with: {resume}", err=True)


def _confirm(study_name: str, location: str, config, final, resume: str, train) -> dict:
    """Run (or resume) the confirmation stage with progress lines on stderr; returns the verdict.
    Raises `ConfirmError` when there is nothing to confirm."""
    import optuna

    from ..commandline import UserError
    from ..training.errors import DoesNotFitError, TrainError
    from .confirm import confirm
    from .storage import describe, open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(location))
    started = {}

    def on_run(event: str, info: dict) -> None:
        who = f"trial {info['trial']}" + (" (reference)" if info["reference"] else "")
        stage = "rerank" if info.get("rerank") else "confirm"  # (final.rerank's shortlist, trained first)
        if event == "start":
            started["line"] = f"{stage} {info['index']}/{info['total']}: {who}, seed {info['seed']}"
            return
        test = f", test top-1 {info['test_top1']:.4f}" if "test_top1" in info else ""
        typer.echo(f"{started['line']}: val top-1 {info['val_top1']:.4f}{test} ({info['seconds']:.0f} s)", err=True)

    try:
        return confirm(study, config, final, train, on_run=on_run)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished retrainings are kept in {describe(location)}. Resume with: {resume}",
                   err=True)
        raise typer.Exit(130) from None
    except (TrainError, DoesNotFitError) as exc:  # the data, an option, memory: what the user can fix (not a bug)
        raise UserError(f"confirmation stopped: {exc}".splitlines()[0]
                        + f" (finished retrainings are kept; resume with: {resume})") from None


def _option(key: str) -> str:
    return {"train.epochs": "epochs", "budget.ops": "max-ops", "budget.params": "max-params",
            "budget.latency_ms": "max-latency-ms", "budget.train_memory": "max-train-memory"}.get(key, key)


def _latency_line(latency, config) -> str:
    """Where latency is predicted, and whether these are the defaults (no `latency:` section)."""
    return (f"predicted (and measured after training) on {latency.describe()}"
            + (" — the defaults: the config has no latency: section" if config.latency is None else ""))


def _print_summary(summary, loaded, verdict: dict | None = None, latency=None) -> None:
    from ..profile.memory import fmt_bytes
    from . import record as R
    from .confirm import headline
    from .numbers import format_count
    from .results import DEFAULT_PROXY, score_label
    from .storage import describe

    typer.echo(f"study {summary.study} in {describe(summary.storage)}: {summary.finished} of {summary.asked} "
               f"trials finished ({', '.join(f'{n} {s.lower()}' for s, n in sorted(summary.states.items()))})")
    if latency is not None:
        typer.echo(f"latency: {_latency_line(latency, loaded.config)}")
    if verdict is not None:
        typer.echo(headline(verdict))
    best = summary.best
    if best is None:
        typer.echo("no trained candidate within the budget yet")
        return
    what = "the uniform-scaling reference" if best["reference"] else "a searched candidate"
    if best["proxy"] == DEFAULT_PROXY:
        found = f"val top-1 {best['val_top1']:.4f} after {_recipe_length(loaded.config.train)}"
    else:
        found = f"{score_label(best['proxy'])} {best['score']:.4g}" + (
            f" (val top-1 {best['val_top1']:.4f})" if best["val_top1"] is not None else "")
    cost = f"{format_count(best['ops'])} ops, {format_count(best['params'])} params"
    if best.get("latency_ms") is not None:
        cost += f", {best['latency_ms']:.3g} ms predicted" + (
            f" ({best['measured_latency_ms']:.3g} ms measured)" if best.get("measured_latency_ms") is not None else "")
    if best.get("train_memory") is not None and R.TRAIN_MEMORY in loaded.config.budget.limits():
        cost += f", {fmt_bytes(best['train_memory'])} training memory predicted at batch {best['batch_size']}"
    typer.echo(f"best: trial {best['number']} ({what}), {found}, {cost}; widths {best['widths']}")
    typer.echo(f"export it: archkit export {summary.study} --best -o specs/"
               + (f" --storage {summary.storage}" if summary.storage != _default(summary.study) else ""))


def _recipe_length(train) -> str:
    return f"{train.steps} steps" if train.steps else f"{train.epochs} epoch{'s' if train.epochs != 1 else ''}"


def _default(study: str) -> str:
    from .storage import default_location

    return default_location(study)


def export(
    study: Annotated[str, typer.Argument(help="The study name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the YAML specs.")] = Path("specs"),
    best: Annotated[bool, typer.Option("--best", help="The best feasible candidate (default).")] = False,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="Every candidate on the accuracy/cost Pareto front.")] = False,
    cost: Annotated[str, typer.Option(help="The Pareto front's cost axis: ops, params or latency (the predicted "
                                           "ms of a study that predicts latency).")] = "ops",
    trial: Annotated[int | None, typer.Option(min=0, help="This trial's candidate, whatever it is (0 is the "
                                                          "uniform-scaling reference).", show_default=False)] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file.")] = None,
    weights: Annotated[bool, typer.Option(
        "--weights", help="Also write each candidate's inherited weights (its slice of the study config's trained "
                          "supernet, batch norm recalibrated) beside its YAML, as NAME.pt for archkit train "
                          "--init-from.")] = False,
    supernet: Annotated[Path | None, typer.Option(
        help="The supernet folder for --weights (default: the config's supernet:, or where archkit supernet train "
             "writes).", show_default=False)] = None,
) -> None:
    """Write a study's best (or Pareto-optimal, or any trial's) candidates as YAML specs (with
    --weights, and their weights inherited from the trained supernet)."""
    from ..commandline import UserError
    from ..util.choices import either
    from .budget import OBJECTIVE_COST
    from .export import export as run_export

    if best and pareto:
        raise UserError("give --best or --pareto, not both")
    if trial is not None and (best or pareto):
        raise UserError("give --trial alone, not with --best or --pareto")
    if cost not in OBJECTIVE_COST:
        raise UserError(f"--cost must be {either(OBJECTIVE_COST)}, got {cost!r}")
    if supernet is not None and not weights:
        raise UserError("--supernet is the folder --weights reads; give --weights too")
    paths = run_export(study, output, storage=storage, pareto=pareto, cost=cost, trial=trial)
    if weights:
        from ..supernet.export import export_weights

        paths += export_weights(study, paths, storage=storage, supernet=supernet)
    for path in paths:
        typer.echo(str(path))


def confirm(
    ctx: typer.Context,
    study: Annotated[str, typer.Argument(help="The study name.")],
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL or journal file.")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Candidates to retrain (default: the config's final.top).",
                                            show_default=False)] = None,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per candidate (default: final.seeds).",
                                              show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs of the final recipe (default: final.epochs).",
                                               show_default=False)] = None,
    rerank: Annotated[int | None, typer.Option(
        min=1, help="Train this many of the best once with the trials' recipe first and retrain the best of them "
                    "(default: final.rerank).", show_default=False)] = None,
) -> None:
    """Run, resume or extend a study's confirmation stage and print the verdict.

    The best candidates and the uniform-scaling reference are retrained from scratch with several
    seeds under the final recipe, scored on val and test; finished retrainings are reused."""
    from .config import FinalRecipe
    from .confirm import headline, load_config
    from .export import load_study

    found, location = load_study(study, storage)
    config = load_config(found)
    final = config.final or FinalRecipe()
    final = final.model_copy(update={k: v for k, v in (("top", top), ("seeds", seeds), ("epochs", epochs),
                                                       ("rerank", rerank)) if v is not None})
    if final.rerank is not None and final.rerank < final.top:
        from ..commandline import UserError

        raise UserError(f"--rerank {final.rerank} shortlists the candidates --top {final.top} is taken from: give "
                        f"a rerank of at least the top")
    if epochs is not None:
        final = final.model_copy(update={"steps": None})
    resume = f"archkit confirm {' '.join(sys.argv[2:])}" if len(sys.argv) > 2 else "the same command"
    verdict = _confirm(study, location, config, final, resume, trainer(ctx))
    typer.echo(headline(verdict))
