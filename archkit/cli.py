"""The `archkit` command: thin typer commands over the public API.

Errors in what the user gave (a bad spec, a missing file, a wrong option value) print one line to
stderr and exit with status 2; failed checks (`--verify`) exit with 1. Never a traceback.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .commandline import UserError, fail, user_errors, write_output

# The command tree is built per run with only the command the command line names (see `main`):
# building every command's parameters from its signature, and importing the modules the search,
# training and report commands live in, is most of a short command's start-up otherwise. `app` (the
# whole tree, for tests and tools) is built on first use.
APP_HELP = "archkit: profile, build and search Inception-family CNNs written as YAML specs."


def _version_line(verbose: bool) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"archkit {version('archkit')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        text = "archkit (not installed)"
    if not verbose:
        return text
    import platform

    import optuna
    import torch

    from .bench.machine import cpu_name

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    return "\n".join([text, f"python {platform.python_version()}", f"torch {torch.__version__}",
                      f"optuna {optuna.__version__}", f"cpu: {cpu_name()} ({os.cpu_count()} cores)",
                      f"gpu: {', '.join(gpus) if gpus else 'none (CUDA not available)'}"])


def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="With --version: also torch, optuna and the "
                                                                  "CPU/GPU archkit sees.")] = False,
) -> None:
    """archkit: profile, build and search Inception-family CNNs written as YAML specs."""
    if version:
        typer.echo(_version_line(verbose))
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


# --- specs -----------------------------------------------------------------------------------


def specs(ctx: typer.Context) -> None:
    """List the built-in specs, one per line, each with a short description."""
    if ctx.invoked_subcommand is not None:
        return
    from .spec import builtin_names, load_spec

    width = max(len(n) for n in builtin_names())
    for name in builtin_names():
        typer.echo(f"{name:<{width}}  {load_spec(name).description or ''}")


@user_errors
def specs_show(name: Annotated[str, typer.Argument(help="A built-in spec name, e.g. googlenet.")]) -> None:
    """Print the YAML of a built-in spec (a starting point for your own)."""
    from .spec import builtin_text

    sys.stdout.write(builtin_text(name))


# --- profile ---------------------------------------------------------------------------------


class Format(str, Enum):
    table = "table"
    csv = "csv"
    markdown = "markdown"
    json = "json"
    html = "html"


class Convention(str, Enum):
    paper = "paper"
    full = "full"


class Against(str, Enum):
    paper = "paper"


@user_errors
def profile(
    spec: Annotated[str, typer.Argument(help="A built-in spec name or a YAML spec file.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    convention: Annotated[Convention, typer.Option(
        help="paper: weights only, as Table 1; full: every parameter of the built model.")] = Convention.paper,
    compare: Annotated[Against | None, typer.Option(
        help="Put the published numbers beside the computed ones (googlenet).")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Build the model; check every layer against torch and fvcore.")] = False,
    branches: Annotated[bool, typer.Option("--branches", help="Also show each inception branch.")] = False,
    aux: Annotated[bool, typer.Option("--aux/--no-aux", help="Show the aux heads (apart from the total).")] = True,
    measure: Annotated[bool, typer.Option(
        "--measure", help="Also time each layer and the whole forward pass on --device (median of repeats, "
                          "the interquartile range as the spread).")] = False,
    device: Annotated[str, typer.Option(help="With --measure: cpu or cuda.")] = "cpu",
    batch: Annotated[int, typer.Option(min=1, help="Images per forward pass (latency and memory traffic).")] = 1,
    precision: Annotated[str, typer.Option(
        help="fp32 or bf16: the element size of the memory traffic (bytes), and the autocast of "
             "--measure; with --train also fp16.")] = "fp32",
    train: Annotated[bool, typer.Option(
        "--train", help="Also the training cost of one step at --batch and --precision: bytes saved for backward "
                        "and training multiply-adds per layer, parameters, gradients and momentum, the predicted "
                        "peak and the largest batch that fits in --memory. With --verify: run one training step "
                        "and compare the saved bytes per layer with torch's.")] = False,
    memory: Annotated[str | None, typer.Option(
        help="With --train: the device memory to fit in, e.g. 80GiB or 16GB [default: this machine's available "
             "memory].", show_default=False)] = None,
) -> None:
    """Per-layer params, ops (multiply-adds) and output sizes of a spec: Table 1, regenerated."""
    from . import profile as profile_spec
    from .profile import render
    from .spec import load_spec

    if precision not in ("fp32", "bf16", "fp16"):
        raise UserError(f"--precision: unknown precision {precision!r} (choose fp32, bf16 or fp16)")
    if precision == "fp16" and (measure or not train):
        raise UserError("--precision fp16 is for --train only (--measure and memory traffic: fp32 or bf16)")
    if memory is not None and not train:
        raise UserError("--memory needs --train (the memory one training step must fit in)")
    loaded = load_spec(spec)
    result = profile_spec(loaded, convention.value)
    cost, answer = _train_cost(loaded, batch, precision, memory) if train else (None, "")
    measured = _measure(loaded, device, batch, precision) if measure else None
    compared = None
    if compare is not None:
        from .profile import compare_paper

        if convention is not Convention.paper:
            raise UserError("--compare paper needs --convention paper (Table 1 counts weights only)")
        try:
            compared = compare_paper(result)
        except ValueError as exc:
            raise UserError(f"{spec}: {exc}") from None

    fmt = format.value
    if fmt == "table":
        blocks = render.compare_blocks(compared, result) if compared else render.profile_blocks(result, branches, aux)
        if measure:
            blocks = [*blocks, *_cost_blocks(loaded, result, measured, batch, precision)]
        if cost is not None:
            blocks = [*blocks, *render.train_blocks(cost, answer)]
        # Piped or written to a file: 200 columns, wide enough for Table 1's twelve (rich would assume
        # 80 when piped), drawn without rich where the characters are the same (not importing rich is
        # a good part of a short run). A terminal gets rich's styles at its width.
        if output is not None:
            write_output(render.blocks_text(blocks), output)
        elif render.plain_stdout() and (text := render.plain_text(blocks)) is not None:
            sys.stdout.write(text)
        else:
            from rich.console import Console

            console = Console(width=None if sys.stdout.isatty() else 200)
            for r in render.rich_renderables(blocks):
                console.print(r)
    elif fmt == "json":
        text = _with_costs(render.to_json(result, compared), loaded, measured, batch, precision)
        write_output(render.with_train_json(text, cost) if cost is not None else text, output)
    elif fmt == "csv":
        text = render.compare_csv(compared) if compared else render.to_csv(result, branches, aux)
        write_output(render.with_train_csv(text, cost) if cost is not None and not compared else text, output)
    elif fmt == "markdown":
        text = render.compare_markdown(compared, result) if compared else render.to_markdown(result, branches, aux)
        write_output(text + (f"\n{answer}\n" if cost is not None else ""), output)
    else:
        from .report import profile_report_html

        if compared is None and convention is Convention.paper and loaded.name == "googlenet":
            compared = _paper_rows_if_table1(result)
        traffic = _traffic(loaded, batch, precision) if measure else None
        write_output(profile_report_html(result, compared, measured, traffic, train=cost, train_answer=answer), output)
    if cost is not None and fmt != "table":
        typer.echo(answer, err=True)  # the one-line answer beside the data

    if verify:
        if train:
            _verify_train(loaded, batch, precision)
        else:
            _verify(loaded)


def _train_cost(spec, batch: int, precision: str, memory: str | None):
    """`archkit profile --train`: the training cost at `batch` and `precision`, and its one-line
    answer against `memory` (or this machine's available memory). A spec that cannot train even at
    batch 1 within that memory is refused in one line with the numbers (DoesNotFitError: exit 2)."""
    from .profile.memory import check_fits, cpu_available_bytes, parse_bytes, train_need
    from .profile.render import fmt_gib, train_answer

    if memory is not None:
        try:
            available = parse_bytes(memory)
        except ValueError as exc:
            raise UserError(f"--memory: {exc}") from None
        label, where = memory, f"the device (--memory {memory})"
    else:
        available = cpu_available_bytes()
        label, where = (f"this machine's {fmt_gib(available)} available" if available else None), "this machine"
    need, cost = train_need(spec, batch, precision, memory=available)
    if available is not None and cost.largest_batch(available) == 0:
        check_fits(need, available, where)  # not even one image: said with the numbers, not attempted
    return cost, train_answer(cost, available, label)


def _verify_train(spec, batch: int, precision: str) -> None:
    """`--verify --train`: one training step on the CPU, the bytes saved for backward per layer
    counted with torch's saved-tensor hooks, against the model's. Refused before anything is built
    when the step does not fit in this machine's memory."""
    from .profile.memory import check_fits, cpu_available_bytes, fmt_bytes, train_need
    from .training.memory import compare_saved

    check_fits(train_need(spec, batch, precision, task="verifying it")[0], cpu_available_bytes())
    rows = compare_saved(spec, batch, precision)
    bad = [(key, p, m) for key, p, m in rows if p != m]
    total = sum(m for *_, m in rows)
    if not bad:
        typer.echo(f"verify --train: {spec.name}: saved-for-backward bytes equal torch's in all {len(rows)} rows "
                   f"({fmt_bytes(total)} at batch {batch}, {precision}, one training step on the CPU)", err=True)
        return
    for (section, name), p, m in bad[:20]:
        where = name if section == "main" else f"{section}.{name}"
        typer.echo(f"verify --train: {where} saved bytes: model {p:,}, torch {m:,} ({p - m:+,})", err=True)
    raise fail(f"verify --train failed: {len(bad)} of {len(rows)} rows disagree (first: {bad[0][0][1]})", 1)


def _measure(spec, device: str, batch: int, precision: str):
    """`archkit profile --measure`: each layer and the whole forward pass timed (a bad device or a
    missing GPU is one line)."""
    from .latency import LatencyError, measure_layers

    try:
        return measure_layers(spec, device=device, batch=batch, precision=precision)
    except LatencyError as exc:
        raise UserError(str(exc)) from None


def _traffic(spec, batch: int, precision: str):
    """Each inference-path layer's memory traffic at `precision` for `batch` images (no torch)."""
    from .latency import spec_traffic
    from .spec import resolved

    return spec_traffic(resolved(spec), precision, batch)


def _costs(spec, measured, batch: int, precision: str) -> list[dict]:
    """Per layer of the inference path: memory traffic (weights + input + output at `precision`,
    computed without torch), arithmetic intensity (multiply-adds per byte) and, when measured, the
    latency with its spread."""
    rows = []
    for t in _traffic(spec, batch, precision):
        row = {"name": t.name, "bytes": t.bytes, "intensity": t.intensity}
        if measured is not None:
            timing = measured.layers[t.name]
            row.update(latency_ms=timing.median_ms, latency_iqr_ms=timing.iqr_ms)
        rows.append(row)
    return rows


def _with_costs(text: str, spec, measured, batch: int, precision: str) -> str:
    """The JSON document with each row's `bytes` and `intensity` (and `latency_ms` when measured),
    `total.bytes` (and `total.latency_ms`: the whole forward pass, measured)."""
    import json

    data = json.loads(text)
    costs = {c["name"]: c for c in _costs(spec, measured, batch, precision)}
    for row in data["rows"]:
        row.update({k: v for k, v in costs[row["name"]].items() if k != "name"})
    data["total"]["bytes"] = sum(c["bytes"] for c in costs.values())
    data["traffic"] = {"precision": precision, "batch": batch}
    if measured is not None:
        data["total"]["latency_ms"] = measured.total_ms
        data["total"]["latency_iqr_ms"] = measured.total.iqr_ms
        data["measured"] = {k: v for k, v in measured.to_dict().items() if k not in ("layers", "total")}
    return json.dumps(data, indent=2) + "\n"


def _cost_blocks(spec, result, measured, batch: int, precision: str) -> list:
    """The --measure table: per layer, multiply-adds, memory traffic, intensity and latency."""
    from .profile.render import Grid, Note, fmt_m, fmt_si

    costs = _costs(spec, measured, batch, precision)
    ops = {r.name: r.ops for r in result.rows}
    rows = [([c["name"], fmt_m(ops[c["name"]]), fmt_si(c["bytes"]) + "B",
              f"{c['intensity']:.1f}" if c["intensity"] is not None else "",
              f"{c['latency_ms']:.3f}", f"{c['latency_iqr_ms']:.3f}"], None, False) for c in costs]
    total = measured.total
    rows.append((["whole model", fmt_m(result.total.ops), fmt_si(sum(c["bytes"] for c in costs)) + "B", "",
                  f"{total.median_ms:.3f}", f"{total.iqr_ms:.3f}"], "bold", True))
    title = (f"measured on {measured.device_name} ({measured.device}, batch {batch}, {precision}, "
             f"{measured.threads} threads, torch {measured.torch}): median of {total.repeats} repeats; "
             "bytes = weights + input + output")
    grid = Grid(title, ("layer", "ops", "bytes", "ops/byte", "latency ms", "IQR ms"), 1, rows)
    return [grid, Note("The layers timed alone need not add up to the whole model (its own forward loop; "
                       "caches).")]


def _paper_rows_if_table1(result):
    """The paper's numbers for a spec that is Table 1's network (googlenet), else None."""
    from .profile import compare_paper

    try:
        return compare_paper(result)
    except ValueError:
        return None


def _verify(spec) -> None:
    from .builder.verify import verify as run_verify

    report = run_verify(spec)
    if report.ok:
        typer.echo(f"verify: {spec.name}: all {len(report.checks)} checks agree (torch params, fvcore "
                   f"multiply-adds, output shapes)", err=True)
        return
    for check in report.failures[:20]:
        typer.echo(f"verify: {check.where} {check.quantity}: analytic {check.analytic}, measured {check.measured}",
                   err=True)
    raise fail(f"verify failed: {len(report.failures)} of {len(report.checks)} checks disagree "
               f"(first: {report.failures[0].where} {report.failures[0].quantity})", 1)


# --- schema ----------------------------------------------------------------------------------


@user_errors
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """The JSON Schema of the spec format, for editors (e.g. YAML language server)."""
    import json

    from .spec.models import Spec

    data = Spec.model_json_schema(by_alias=True)
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    data["title"] = "archkit spec"
    write_output(json.dumps(data, indent=2) + "\n", output)


# --- bench -----------------------------------------------------------------------------------


@user_errors
def bench_profile(
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls of each kind.")] = 20,
    family: Annotated[bool, typer.Option(help="Also time every Inception-family built-in against fvcore "
                                              "(a minute or two: fvcore traces each 299x299 model).")] = True,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
) -> None:
    """Analytic profile vs fvcore's FlopCountAnalysis on the built googlenet (and, per built-in, on
    the Inception family), in one run."""
    from .bench.profile_bench import FAMILY, print_results, run

    results = run(repeats=repeats, family=FAMILY if family else ())
    print_results(results)
    if output is not None:
        import json

        write_output(json.dumps(results, indent=2) + "\n", output)


@user_errors
def bench_search(
    config: Annotated[Path, typer.Option(help="The search config whose base, space, data and trial recipe "
                                                "are benchmarked.")] = Path("studies/demo.yaml"),
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
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
) -> None:
    """The search against random sampling and uniform scaling at equal compute, each study's best
    confirmed on the test split with several seeds; win rates, mean gain, proxy tau, overhead."""
    from .bench.search_bench import budget_of, print_results, run

    if merge:
        results = _merged_bench_search(merge)
        print_results(results)
        if output is not None:
            import json

            write_output(json.dumps(results, indent=2) + "\n", output)
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
    if quick:
        from .bench.search_bench import bench_config

        # a few steps instead of the config's epochs; its data shares (train_fraction, val_fraction) kept
        recipe = {k: v for k, v in (bench_config(config).get("train") or {}).items() if k not in ("epochs", "steps")}
        results = run(budgets=tuple(names[:1]), seeds=1, trials=3, final_seeds=2, first_seed=first_seed,
                      recipe={**recipe, "steps": 3, "batch_size": 32, "lr": 0.05}, final_epochs=1, config=config)
    else:
        results = run(budgets=tuple(names), seeds=seeds, trials=trials, final_seeds=final_seeds,
                      final_epochs=final_epochs, progress=lambda line: typer.echo(line, err=True), config=config,
                      first_seed=first_seed)
    print_results(results)
    if output is not None:
        import json

        write_output(json.dumps(results, indent=2) + "\n", output)


def _merged_bench_search(paths: list[Path]) -> dict:
    """`bench search --merge`: the parts' JSON read and joined; a bad part is one line."""
    import json

    from .bench.search_bench import MergeError, merge

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
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
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
    from .bench.proxy_bench import BenchError, print_results, run
    from .training import DivergedError, TrainError

    try:
        results = run(config, candidates=candidates, seeds=seeds, final_epochs=final_epochs, budget_ops=budget_ops,
                      quick=quick, cache=cache, log=lambda line: typer.echo(line, err=True),
                      supernets=supernet or None, supernet_epochs=supernet_epochs, reuse=reuse)
    except DivergedError as exc:
        raise fail(str(exc), 1) from None
    except (BenchError, TrainError) as exc:
        raise UserError(str(exc)) from None
    print_results(results)
    if output is not None:
        import json

        write_output(json.dumps(results, indent=2) + "\n", output)


# --- the command tree ---------------------------------------------------------------------------
# One function per top-level name, in the order `archkit --help` lists them; each adds its command
# (or group) and imports only what that needs.


def _add_profile(app: typer.Typer) -> None:
    app.command()(profile)


def _add_schema(app: typer.Typer) -> None:
    app.command()(schema)


def _add_search(app: typer.Typer) -> None:
    from .search.commands import search

    app.command("search")(user_errors(search))


def _add_confirm(app: typer.Typer) -> None:
    from .search.commands import confirm

    app.command("confirm")(user_errors(confirm))


def _add_export(app: typer.Typer) -> None:
    from .search.commands import export

    app.command("export")(user_errors(export))


def _add_train(app: typer.Typer) -> None:
    from .training.commands import train

    app.command("train")(user_errors(train))


def _add_compare(app: typer.Typer) -> None:
    from .report.commands import compare

    app.command("compare")(user_errors(compare))


def _add_report(app: typer.Typer) -> None:
    from .report.commands import report

    app.command("report")(user_errors(report))


def _add_specs(app: typer.Typer) -> None:
    specs_app = typer.Typer(help="List the built-in specs, or print one.", invoke_without_command=True)
    specs_app.callback()(specs)
    specs_app.command("show")(specs_show)
    app.add_typer(specs_app, name="specs")


def _add_data(app: typer.Typer) -> None:
    from .training.commands import data_check

    data_app = typer.Typer(help="Data sets: check that every file can be read.", no_args_is_help=True)
    data_app.command("check")(user_errors(data_check))
    app.add_typer(data_app, name="data")


def _add_supernet(app: typer.Typer) -> None:
    from .supernet.commands import train as supernet_train

    supernet_app = typer.Typer(help="A weight-sharing supernet over a search config's space: train once, score "
                                    "many candidates.", no_args_is_help=True)
    supernet_app.command("train")(user_errors(supernet_train))
    app.add_typer(supernet_app, name="supernet")


@user_errors
def bench_latency(
    candidates: Annotated[int, typer.Option(min=2, help="Random feasible candidates of the config's space.")] = 30,
    config: Annotated[Path, typer.Option(help="The search config whose space and budget the candidates come "
                                              "from.")] = Path("studies/demo.yaml"),
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 1,
    precision: Annotated[str, typer.Option(help="fp32 or bf16.")] = "fp32",
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: a few candidates, few repeats.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
) -> None:
    """The latency model against measurement: predicted vs measured whole-model latency of random
    candidates and the built-ins (Kendall's tau, MAPE), against multiply-adds' tau."""
    from .bench.latency_bench import print_results, run
    from .latency import LatencyError

    if not config.is_file():
        raise UserError(f"--config {config}: no such search config file")
    try:
        results = run(candidates=candidates, config=config, device=device, batch=batch, precision=precision,
                      quick=quick, log=lambda line: typer.echo(line, err=True))
    except LatencyError as exc:
        raise UserError(str(exc)) from None
    print_results(results)
    if output is not None:
        import json

        write_output(json.dumps(results, indent=2) + "\n", output)


@user_errors
def bench_memory(
    candidates: Annotated[int, typer.Option(min=0, help="Random feasible candidates of the config's space.")] = 30,
    config: Annotated[Path, typer.Option(help="The search config whose space and budget the candidates come "
                                              "from.")] = Path("studies/demo.yaml"),
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: googlenet-32 and 3 candidates, one batch "
                                                        "each.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
) -> None:
    """The training memory model against torch: predicted vs measured bytes saved for backward by one
    training step on the CPU (per layer and in total), over the built-ins and random candidates at
    several batch sizes, fp32 and bf16; mean and worst error, and the old guard's."""
    from .bench.memory_bench import print_results, run

    if candidates and not config.is_file():
        raise UserError(f"--config {config}: no such search config file")
    results = run(candidates=candidates, config=config, quick=quick, log=lambda line: typer.echo(line, err=True))
    print_results(results)
    if output is not None:
        import json

        write_output(json.dumps(results, indent=2) + "\n", output)


def _add_bench(app: typer.Typer) -> None:
    from .training.commands import bench_train

    bench_app = typer.Typer(help="Benchmarks (speed and agreement, measured in one run).", no_args_is_help=True)
    bench_app.command("profile")(bench_profile)
    bench_app.command("search")(bench_search)
    bench_app.command("proxy")(bench_proxy)
    bench_app.command("latency")(bench_latency)
    bench_app.command("memory")(bench_memory)
    bench_app.command("train")(user_errors(bench_train))
    app.add_typer(bench_app, name="bench")


COMMANDS = {"profile": _add_profile, "schema": _add_schema, "search": _add_search, "confirm": _add_confirm,
            "export": _add_export, "train": _add_train, "compare": _add_compare, "report": _add_report,
            "specs": _add_specs, "data": _add_data, "supernet": _add_supernet, "bench": _add_bench}


def build_app(only: str | None = None) -> typer.Typer:
    """The `archkit` command tree: every command, or with `only` (a top-level name) just that one
    under the same root (its help, parsing and errors are the same as in the whole tree)."""
    app = typer.Typer(help=APP_HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback(invoke_without_command=True)(root)
    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(app)
    return app


def command_name(args: list[str]) -> str | None:
    """The top-level command a command line names when it is one of ours, else None (no command,
    an unknown one: the whole tree answers, with its help or its error). The root's options are all
    flags, so the first word that is not an option is the command."""
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


_whole_app: typer.Typer | None = None


def __getattr__(name: str):
    # `archkit.cli.app`: the whole tree, built when first asked for (tests drive it with CliRunner).
    global _whole_app
    if name == "app":
        if _whole_app is None:
            _whole_app = build_app()
        return _whole_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def usage_error_line(exc: typer.TyperException) -> str:
    """One line for an option or argument the command line parser refused (unknown option, bad value)."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "archkit"
    message = " ".join(exc.format_message().split())
    return f"error: {where}: {message} (see '{where} --help')"


def main() -> None:
    """The console script: exit 0 on success, 2 with one line on stderr for bad input."""
    # pydantic scans every installed package's entry points for plugins on first use; archkit uses
    # none, and the scan is a sizeable part of a short command's run time.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        # Not standalone: the parser's usage errors come back to us, instead of a multi-line box.
        code = build_app(command_name(sys.argv[1:]))(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:
        # A bare `archkit` (or group) has had its help printed already; anything else gets one line.
        if type(exc).__name__ != "NoArgsIsHelpError":
            typer.echo(usage_error_line(exc), err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
