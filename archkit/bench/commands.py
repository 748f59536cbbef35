"""The `archkit bench` commands beside their benchmarks (registered in archkit/cli.py; `bench train`
lives with training, in archkit/training/commands.py). Each runs its benchmark, prints its summary
and with -o writes the results as JSON.

Only typer and the standard library at the top: a benchmark's module loads when its command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..commandline import UserError, user_errors, write_json
from ..util.choices import DEVICES, TIMED_PRECISIONS, either

DEMO_CONFIG = Path("studies/demo.yaml")
JsonOutput = Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")]
SpaceConfig = Annotated[Path, typer.Option(help="The search config whose space and budget the candidates come from.")]


def _finish(results: dict, print_results, output: Path | None) -> None:
    """A benchmark's summary on stdout and, with -o, its results as JSON."""
    print_results(results)
    if output is not None:
        write_json(results, output)


@user_errors
def bench_profile(
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls of each kind.")] = 20,
    family: Annotated[bool, typer.Option(help="Also time every Inception-family built-in against fvcore "
                                              "(a minute or two: fvcore traces each 299x299 model).")] = True,
    output: JsonOutput = None,
) -> None:
    """Analytic profile vs fvcore's FlopCountAnalysis on the built googlenet (and, per built-in, on
    the Inception family), in one run."""
    from .profile_bench import FAMILY, print_results, run

    results = run(repeats=repeats, family=FAMILY if family else ())
    _finish(results, print_results, output)


@user_errors
def bench_search(
    config: Annotated[Path, typer.Option(help="The search config whose base, space, data and trial recipe "
                                                "are benchmarked.")] = DEMO_CONFIG,
    budgets: Annotated[str, typer.Option(help="Comma-separated budgets: multiply-adds (2M) or predicted latency "
                                              "on the config's latency: device (4ms).")] = "2M,20M",
    seeds: Annotated[int, typer.Option(min=1, help="Study seeds per budget (two studies each: default sampler "
                                                   "and random).")] = 10,
    first_seed: Annotated[int, typer.Option(min=0, help="The first study seed: run seeds N, N+1, ... (split a "
                                                        "benchmark over machines, then --merge).")] = 0,
    trials: Annotated[int, typer.Option(min=2, help="Trials per study.")] = 12,
    final_seeds: Annotated[int, typer.Option(min=2, help="Seeds of each confirmation retraining.")] = 3,
    final_epochs: Annotated[int | None, typer.Option(min=1, help="Epochs of the final recipe (default: 3x a "
                                                                 "trial's).", show_default=False)] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A tiny run (1 seed, 3 trials, a few steps): checks "
                                                        "that every part works, measures nothing.")] = False,
    merge: Annotated[list[Path] | None, typer.Option("--merge", help="Run nothing: join the JSON results of "
                                                    "parts run apart (repeat the option) and summarize them all.",
                                                    show_default=False)] = None,
    supernet: Annotated[Path | None, typer.Option(
        help="A trained supernet of the config's space (archkit supernet train CONFIG -o DIR): both studies score "
             "their candidates on it (proxy: supernet; --trials in the hundreds).", show_default=False)] = None,
    per_trial: Annotated[int | None, typer.Option(
        min=2, help="With --supernet: also run today's search beside them, this many candidates each trained with "
                    "the config's recipe (default sampler), confirmed the same way.", show_default=False)] = None,
    rerank: Annotated[int | None, typer.Option(
        min=1, help="With --supernet: each supernet study's this many best candidates are trained once with the "
                    "config's recipe and the best of them confirmed (final.rerank; counted as search time).",
        show_default=False)] = None,
    work: Annotated[Path | None, typer.Option(
        help="Keep the studies in this folder (default: a temporary one) and resume them when the same command "
             "runs again with it: an interrupted benchmark keeps its finished trials and confirmation runs.",
        show_default=False)] = None,
    output: JsonOutput = None,
) -> None:
    """The search against random sampling and uniform scaling at equal compute, each study's best
    confirmed on the test split with several seeds; win rates, mean gain, proxy tau, overhead. With
    --supernet, the studies score on a trained supernet (and --per-trial adds today's search beside).

    Example: `archkit bench search --config studies/demo.yaml --supernet runs/demo-supernet --trials 200
    --per-trial 12 --budgets 2M --final-seeds 5`."""
    from .search_bench import WorkError, budget_of, print_results, run

    if merge:
        results = _merged_bench_search(merge)
        _finish(results, print_results, output)
        return

    names = [b.strip() for b in budgets.split(",") if b.strip()]
    try:
        for name in names:
            budget_of(name)
    except ValueError as exc:
        raise UserError(f"--budgets: {exc}") from None
    if not names:
        raise UserError("--budgets needs at least one budget, e.g. 2M,20M")
    if not config.is_file():
        raise UserError(f"--config {config}: no such search config file")
    if per_trial is not None and supernet is None:
        raise UserError("--per-trial compares with a supernet search: give --supernet DIR too")
    if rerank is not None and supernet is None:
        raise UserError("--rerank shortlists a supernet study's candidates: give --supernet DIR too")
    if supernet is not None:
        _check_supernet(supernet, config, names)
    try:
        if quick:
            from .search_bench import bench_config

            # a few steps instead of the config's epochs; its data shares (train_fraction, val_fraction) kept
            recipe = {k: v for k, v in (bench_config(config).get("train") or {}).items()
                      if k not in ("epochs", "steps")}
            results = run(budgets=tuple(names[:1]), seeds=1, trials=3, final_seeds=2, first_seed=first_seed,
                          recipe={**recipe, "steps": 3, "batch_size": 32, "lr": 0.05}, final_epochs=1, config=config,
                          supernet=supernet, per_trial=3 if per_trial else None, rerank=2 if rerank else None,
                          work=work)
        else:
            results = run(budgets=tuple(names), seeds=seeds, trials=trials, final_seeds=final_seeds,
                          final_epochs=final_epochs, progress=lambda line: typer.echo(line, err=True), config=config,
                          first_seed=first_seed, supernet=supernet, per_trial=per_trial, rerank=rerank, work=work)
    except WorkError as exc:
        raise UserError(str(exc)) from None
    _finish(results, print_results, output)


def _check_supernet(directory: Path, config: Path, budgets: list[str]) -> None:
    """--supernet: a trained supernet of this config's space that covers every budget, checked before
    any study starts (one line each: no checkpoint, another config, a budget above its own)."""
    from ..search.loader import load_search_config
    from ..supernet import checkpoint as ckpt
    from ..supernet.errors import SupernetError
    from .search_bench import study_budget

    payload = ckpt.load(directory)
    if payload is None:
        raise UserError(f"--supernet {directory}: no trained supernet there (archkit supernet train "
                        f"{config} -o {directory})")
    try:
        ckpt.check_same(payload, load_search_config(config), directory)
    except SupernetError as exc:
        raise UserError(f"--supernet: {exc}") from None
    for name in budgets:
        why = ckpt.covers(payload, study_budget(name, payload.get("limits")))
        if why:
            raise UserError(f"--supernet {directory}: budget {name}: {why}")


def _merged_bench_search(paths: list[Path]) -> dict:
    """`bench search --merge`: the parts' JSON read and joined; a bad part is one line."""
    import json

    from .search_bench import MergeError, merge

    parts = []
    for path in paths:
        try:
            part = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"--merge {path}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"--merge {path}: not a bench search JSON file ({exc})") from None
        if not isinstance(part, dict) or not isinstance(part.get("rows"), list) or "budgets" not in part:
            raise UserError(f"--merge {path}: not a bench search JSON file (no rows)")
        parts.append(part)
    try:
        return merge(parts, [str(p) for p in paths])
    except MergeError as exc:
        raise UserError(f"--merge {exc}") from None
    except (KeyError, TypeError) as exc:
        raise UserError(f"--merge: a part is not a complete bench search result (missing {exc})") from None


@user_errors
def bench_proxy(
    config: Annotated[Path, typer.Option(help="The search config whose space, budget, data and recipe to use.")] = Path(
        "studies/demo.yaml"),
    candidates: Annotated[int | None, typer.Option(help="Feasible candidates sampled at random [default: 30; 4 with "
                                                        "--quick].", show_default=False)] = None,
    seeds: Annotated[int | None, typer.Option(help="Ground-truth seeds per candidate [default: 2; 1 with --quick].",
                                              show_default=False)] = None,
    final_epochs: Annotated[int | None, typer.Option(help="Length of the final recipe [default: 3x the config's "
                                                          "epochs, at least 6].", show_default=False)] = None,
    budget_ops: Annotated[str | None, typer.Option(help="Replace the config's ops budget, e.g. 50M.")] = None,
    quick: Annotated[bool, typer.Option(help="A smoke test: 4 candidates, 1 seed, steps instead of epochs.")] = False,
    cache: Annotated[Path | None, typer.Option(help="A JSON-lines file of finished runs: a rerun reuses them.")] = None,
    output: JsonOutput = None,
    supernet: Annotated[list[Path] | None, typer.Option(
        help="A supernet folder of this config (archkit supernet train): its candidates' scores are one more "
             "proxy; repeat to compare several.", show_default=False)] = None,
    supernet_epochs: Annotated[int | None, typer.Option(
        min=1, help="Train (or continue) each --supernet to this many epochs first (steps with --quick).",
        show_default=False)] = None,
    reuse: Annotated[Path | None, typer.Option(
        help="A previous bench proxy JSON of this config: its candidates, ground truth and proxies are taken "
             "as measured; only the supernets are scored.", show_default=False)] = None,
) -> None:
    """Rank fidelity of search proxies (short training, train loss, synflow, NASWOT, params, ops, a
    trained supernet): Kendall's tau against the final recipe's accuracy, with bootstrap intervals,
    and each one's cost."""
    for name, value, low in (("--candidates", candidates, 2), ("--seeds", seeds, 1),
                             ("--final-epochs", final_epochs, 1)):
        if value is not None and value < low:
            raise UserError(f"{name} must be at least {low}, got {value}")
    if supernet_epochs is not None and not supernet:
        raise UserError("--supernet-epochs needs a --supernet folder to train")
    from .proxy_bench import print_results, run

    # (a BenchError, a diverged run, a training error: ArchkitErrors, said by the one handler)
    results = run(config, candidates=candidates, seeds=seeds, final_epochs=final_epochs, budget_ops=budget_ops,
                  quick=quick, cache=cache, log=lambda line: typer.echo(line, err=True),
                  supernets=supernet or None, supernet_epochs=supernet_epochs, reuse=reuse)
    _finish(results, print_results, output)


@user_errors
def bench_latency(
    candidates: Annotated[int, typer.Option(min=2, help="Random feasible candidates of the config's space.")] = 30,
    config: SpaceConfig = DEMO_CONFIG,
    device: Annotated[str, typer.Option(help=f"{either(DEVICES)}.")] = "cpu",
    batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 1,
    precision: Annotated[str, typer.Option(help=f"{either(TIMED_PRECISIONS)}.")] = "fp32",
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: a few candidates, few repeats.")] = False,
    output: JsonOutput = None,
) -> None:
    """The latency model against measurement: predicted vs measured whole-model latency of random
    candidates and the built-ins (Kendall's tau, MAPE), against multiply-adds' tau."""
    from .latency_bench import print_results, run

    if not config.is_file():
        raise UserError(f"--config {config}: no such search config file")
    results = run(candidates=candidates, config=config, device=device, batch=batch, precision=precision,
                  quick=quick, log=lambda line: typer.echo(line, err=True))
    _finish(results, print_results, output)


@user_errors
def bench_memory(
    candidates: Annotated[int, typer.Option(min=0, help="Random feasible candidates of the config's space.")] = 30,
    config: SpaceConfig = DEMO_CONFIG,
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: googlenet-32 and 3 candidates, one batch "
                                                        "each.")] = False,
    output: JsonOutput = None,
) -> None:
    """The training memory model against torch: predicted vs measured bytes saved for backward by one
    training step on the CPU (per layer and in total), over the built-ins and random candidates at
    several batch sizes, fp32 and bf16; mean and worst error, and the old guard's."""
    from .memory_bench import print_results, run

    if candidates and not config.is_file():
        raise UserError(f"--config {config}: no such search config file")
    results = run(candidates=candidates, config=config, quick=quick, log=lambda line: typer.echo(line, err=True))
    _finish(results, print_results, output)
