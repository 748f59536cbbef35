"""The `archkit supernet` commands (registered in archkit/cli.py).

Only typer and the standard library at the top: torch loads when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    config: Annotated[Path, typer.Argument(help="A search config (base, space, budget, data, train: recipe).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The supernet's folder (default: runs/<config name>-supernet); a checkpoint "
                               "there is continued.", show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option(
        min=1, help="Epochs to train in all (default: the config's train: recipe; more continues a trained one).",
        show_default=False)] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Steps to train in all (instead of --epochs).",
                                              show_default=False)] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the config's train.device).",
                                               show_default=False)] = None,
    down_to: Annotated[str | None, typer.Option(
        "--down-to", help="Serve every budget from this one (a count: 1M) up to the config's: random sub-networks are "
                          "filled to budgets drawn log-uniformly in that range (default: the config's budget only).",
        show_default=False)] = None,
    nproc: Annotated[int, typer.Option(
        min=1, help="Data-parallel processes on this machine (gloo on the CPU; on CUDA, one GPU each); each "
                    "trains on its share of every batch.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or per-epoch lines.")] = False,
) -> None:
    """Train the weight-sharing supernet of a search config's space (the sandwich rule with in-place
    distillation), checkpointed every epoch; the same command again continues it, with a larger
    --epochs to train it longer. A search with `proxy: supernet` then scores candidates on it.

    Example: `archkit supernet train studies/demo.yaml --epochs 20`; for the front of several budgets
    from one training, size it by the largest and give the smallest: `--down-to 1M` with a 20M config.

    Data parallel: `--nproc 4` (four GPUs, or four processes on the CPU), or
    `torchrun --nproc-per-node 4 -m archkit supernet train ...`; every process runs the same
    sub-networks on its share of the batch (the recipe's batch size is the global one), and a
    checkpoint continues with any process count.
    """
    from ..commandline import UserError
    from ..search.loader import load_search_config
    from ..training import DivergedError, TrainError
    from ..training.ddp import from_env
    from .sandwich import default_directory, train_supernet

    if epochs is not None and steps is not None:
        raise UserError(f"give --epochs or --steps, not both (got {epochs=}, {steps=})")
    loaded = load_search_config(config)
    directory = output if output is not None else default_directory(loaded)
    try:
        run = train_supernet(loaded, directory, epochs=epochs, steps=steps, device=device, progress=not quiet,
                             down_to=down_to, nproc=nproc)
    except DivergedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except TrainError as exc:
        raise UserError(str(exc)) from None
    info = from_env()
    if not info.is_main:  # under torchrun: the first process says it
        return
    world = max(nproc, info.world)
    last = run.history[-1] if run.history else {}
    params = sum(p.numel() for p in run.net.parameters()) if run.net is not None else 0
    scores = (f": largest val top-1 {last['val_top1']:.4f}, smallest {last['val_top1_smallest']:.4f}"
              if "val_top1" in last else "")
    typer.echo(f"supernet of {loaded.study_name} ({len(run.plan.slots)} slots, {params:,} parameters){scores} after "
               f"{run.epochs:g} epochs ({run.step} steps) in {run.seconds:.1f}s ({run.device}, {run.precision}"
               f"{f', {world} processes' if world > 1 else ''}); "
               f"{directory}/supernet.pt")
