"""`archkit profile` (registered in archkit/cli.py): the profile table of a spec and its optional
columns: memory traffic and measured latency (`--measure`), the training cost (`--train`), the
paper's numbers (`--compare paper`), and the checks against torch (`--verify`).

Only typer and the standard library at the top: nothing heavy loads until the command runs (a
short `archkit profile` imports neither torch nor rich).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..commandline import UserError, fail, user_errors, write_output
from ..util.choices import DEVICES, FORMATS, PRECISIONS, TIMED_PRECISIONS, choice_enum, either
from .counts import CONVENTIONS

Format = choice_enum("Format", FORMATS)
TRAIN_ONLY = tuple(p for p in PRECISIONS if p not in TIMED_PRECISIONS)  # fp16: a training step's only


Convention = choice_enum("Convention", CONVENTIONS)


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
    device: Annotated[str, typer.Option(help=f"With --measure: {either(DEVICES)}.")] = "cpu",
    batch: Annotated[int, typer.Option(min=1, help="Images per forward pass (latency and memory traffic).")] = 1,
    precision: Annotated[str, typer.Option(
        help=f"{either(TIMED_PRECISIONS)}: the element size of the memory traffic (bytes), and the autocast of "
             f"--measure; with --train also {either(TRAIN_ONLY)}.")] = "fp32",
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
    from ..spec import load_spec
    from . import render
    from .profiler import profile as profile_spec

    if precision not in PRECISIONS:
        raise UserError(f"--precision: unknown precision {precision!r} (choose {either(PRECISIONS)})")
    if precision in TRAIN_ONLY and (measure or not train):
        raise UserError(f"--precision {precision} is for --train only (--measure and memory traffic: "
                        f"{either(TIMED_PRECISIONS)})")
    if memory is not None and not train:
        raise UserError("--memory needs --train (the memory one training step must fit in)")
    loaded = load_spec(spec)
    result = profile_spec(loaded, convention.value)
    cost, answer = _train_cost(loaded, batch, precision, memory) if train else (None, "")
    measured = _measure(loaded, device, batch, precision) if measure else None
    compared = None
    if compare is not None:
        from . import compare_paper

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
        from ..report import profile_report_html

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
    from .memory import check_fits, cpu_available_bytes, parse_bytes, train_need
    from .render import fmt_gib, train_answer

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
    from ..training.memory import compare_saved
    from .memory import check_fits, cpu_available_bytes, fmt_bytes, train_need

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
    missing GPU: a LatencyError, one line)."""
    from ..latency import measure_layers

    return measure_layers(spec, device=device, batch=batch, precision=precision)


def _traffic(spec, batch: int, precision: str):
    """Each inference-path layer's memory traffic at `precision` for `batch` images (no torch)."""
    from ..latency import spec_traffic
    from ..spec import resolved

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

    from ..util.files import json_text

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
    return json_text(data)


def _cost_blocks(spec, result, measured, batch: int, precision: str) -> list:
    """The --measure table: per layer, multiply-adds, memory traffic, intensity and latency."""
    from .render import Grid, Note, fmt_m, fmt_si

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
    from . import compare_paper

    try:
        return compare_paper(result)
    except ValueError:
        return None


def _verify(spec) -> None:
    from ..builder.verify import verify as run_verify

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
