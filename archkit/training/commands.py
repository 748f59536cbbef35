"""The `archkit train` and `archkit bench train` commands (registered in archkit/cli.py).

Only typer and the standard library at the top: torch loads when a command runs.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..util.choices import TRAIN_PRECISIONS, choice_enum
from .config import DEFAULT_EPOCHS, DEFAULTS
from .schedule import SCHEDULES
from .sources import DATA_CHOICES

Schedule = choice_enum("Schedule", SCHEDULES)
Precision = choice_enum("Precision", TRAIN_PRECISIONS)


def _dflt(name: str) -> str:
    """TrainConfig's default of an option, as the help text says it."""
    value = DEFAULTS[name]
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(option):
    return option.value if isinstance(option, Enum) else option


def train(
    spec: Annotated[str, typer.Argument(help="A built-in spec name or a YAML spec file.")],
    data: Annotated[str | None, typer.Option(
        help=f"{DATA_CHOICES} (default: {_dflt('data')}).",
        show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help=f"Epochs to train (default: {DEFAULT_EPOCHS}).",
                                               show_default=False)] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps to train (instead of --epochs).",
                                              show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help=f"Global batch size, split among --nproc processes (default: {_dflt('batch_size')}).",
        show_default=False)] = None,
    lr: Annotated[float | None, typer.Option(help=f"Peak learning rate (default: {_dflt('lr')}).",
                                             show_default=False)] = None,
    momentum: Annotated[float | None, typer.Option(help=f"SGD momentum (default: {_dflt('momentum')}).",
                                                   show_default=False)] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay of conv and linear weights "
                                                            f"(default: {_dflt('weight_decay')}).",
                                                   show_default=False)] = None,
    schedule: Annotated[Schedule | None, typer.Option(
        help=f"paper: lr down 4% every 8 epochs; cosine; onecycle; constant (default: {_dflt('schedule')}).",
        show_default=False)] = None,
    warmup_epochs: Annotated[float | None, typer.Option(
        "--warmup-epochs", "--warmup",
        help=f"Linear learning-rate warm-up, in epochs (default: {_dflt('warmup_epochs')}).",
        show_default=False)] = None,
    label_smoothing: Annotated[float | None, typer.Option(help=f"Label smoothing (default: "
                                                               f"{_dflt('label_smoothing')}).",
                                                          show_default=False)] = None,
    precision: Annotated[Precision | None, typer.Option(
        help="auto: bf16 autocast on GPUs and on CPUs with native bf16 (AVX-512-BF16/AMX), else fp32 "
             f"(default: {_dflt('precision')}).", show_default=False)] = None,
    channels_last: Annotated[bool | None, typer.Option(
        "--channels-last/--no-channels-last",
        help=f"Channels-last memory format (default: {_dflt('channels_last')}).",
        show_default=False)] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (minutes to compile on a "
                                                             "CPU; pays off on long GPU runs).")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int | None, typer.Option(min=0, help=f"Seed of weights, order, augmentation (default: "
                                                        f"{_dflt('seed')}).",
                                             show_default=False)] = None,
    val_fraction: Annotated[float | None, typer.Option(
        help="Share held out for validation when the data has no validation split: of the whole set "
             "(digits, image folders), of the official training images (fashion-mnist, mnist, CIFAR: "
             f"0.2 of Fashion-MNIST's 60,000 is 12,000) (default: {_dflt('val_fraction')}).",
        show_default=False)] = None,
    test_fraction: Annotated[float | None, typer.Option(
        help="Share of the whole set held out for testing when the data has no test split (default: "
             f"{_dflt('test_fraction')}; "
             "CIFAR's is its test batch).", show_default=False)] = None,
    train_fraction: Annotated[float | None, typer.Option(
        help=f"Train on this seeded share of the training split only (default: {_dflt('train_fraction')}; EcoNAS's "
             "reduced-data "
             "proxy).", show_default=False)] = None,
    score_test: Annotated[bool, typer.Option(
        "--score-test", help="Also score the test split at the end; the search never does.")] = False,
    workers: Annotated[int | None, typer.Option(min=0, help="Loader processes for image folders.",
                                                show_default=False)] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch CIFAR into ROOT when it is missing.")] = False,
    skip_bad_images: Annotated[bool, typer.Option(
        "--skip-bad-images", help="Leave image files that cannot be read out of their batches (counted and "
                                  "listed at the end) instead of stopping the run.")] = False,
    eval_every: Annotated[int | None, typer.Option(
        min=0, help="Score the validation split every N epochs and after the last; 0: after the last only "
                    f"(default: {_dflt('eval_every')}).", show_default=False)] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Write checkpoints to this folder (each epoch, and at "
                                                          "the end).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the run checkpointed in this folder.")] = None,
    init_from: Annotated[Path | None, typer.Option(
        help="Start from this weights file of the spec (archkit export --weights: its slice of a trained supernet) "
             "instead of a random initialization.", show_default=False)] = None,
    metrics_out: Annotated[Path | None, typer.Option(help="Write the result as JSON to this file.")] = None,
    nproc: Annotated[int, typer.Option(min=1, help="Data-parallel processes on this machine (DDP).")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or per-epoch lines.")] = False,
) -> None:
    """Train a spec on a data set and report validation (and with --score-test, test) top-1/top-5
    accuracy and throughput.

    Examples: `archkit train googlenet-32 --data digits --epochs 10 --metrics-out runs/d.json`;
    `archkit train googlenet --data imagefolder:~/imagenet --schedule paper --checkpoint runs/g`, then
    `--resume runs/g` to continue. Multi-GPU: `torchrun --nproc-per-node 8 -m archkit train ...`.
    """
    from ..spec import load_spec
    from . import train as run_training

    loaded = load_spec(spec)
    result = run_training(
        loaded, data, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, momentum=momentum,
        weight_decay=weight_decay,
        schedule=_value(schedule), warmup_epochs=warmup_epochs, label_smoothing=label_smoothing,
        precision=_value(precision), channels_last=channels_last, compile=compile or None, seed=seed,
        val_fraction=val_fraction, test_fraction=test_fraction, train_fraction=train_fraction, workers=workers,
        download=download or None, skip_bad_images=skip_bad_images or None, eval_every=eval_every,
        device=device, checkpoint=checkpoint, resume=resume,
        metrics_out=metrics_out, nproc=nproc, progress=not quiet, score_test=score_test, init_from=init_from)
    if _is_main():
        test = "" if result.test_top1 is None else (
            f"; test top-1 {result.test_top1:.4f}, top-5 {result.test_top5:.4f} ({result.split_sizes['test']} images)")
        typer.echo(f"{result.spec} on {result.data}: val top-1 {result.val_top1:.4f}, top-5 {result.val_top5:.4f}"
                   f"{test} after {result.epochs:g} epochs ({result.steps} steps) in {result.seconds:.1f}s; "
                   f"{result.train_images_per_s:.1f} img/s ({result.device}, {result.precision})")
        if result.skipped_images:
            listed = ", ".join(result.skipped_paths[:3]) + (", ..." if result.skipped_images > 3 else "")
            typer.echo(f"skipped {result.skipped_images} unreadable image file{'s' * (result.skipped_images != 1)}: "
                       f"{listed} (all in --metrics-out; find them with archkit data check)", err=True)
        if metrics_out is not None:
            typer.echo(f"wrote {metrics_out}", err=True)


def data_check(
    data: Annotated[str, typer.Argument(
        help="imagefolder:PATH, fashion-mnist[:DIR], mnist:DIR, cifar10:ROOT or cifar100:ROOT (as --data).")],
    workers: Annotated[int | None, typer.Option(min=1, help="Processes reading files (default: every core).",
                                                show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Read every file of a data set once and list those that cannot be read (exit 1 if any, 0 if all
    can). Run it before a long training run or search: a bad file found at hour 20 costs a day."""
    from .check import check

    if quiet:
        result = check(data, workers)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("reading", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True) as bar:
            task = bar.add_task("files", total=None)
            result = check(data, workers, on_progress=lambda done, total: bar.update(task, completed=done,
                                                                                      total=total))
    for path, reason in result.bad:
        typer.echo(f"{path}: {reason}")
    summary = (f"{result.source}: {result.checked} file{'s' * (result.checked != 1)} read, "
               f"{len(result.bad)} cannot be read")
    if result.bad:
        typer.echo(summary + " (train with --skip-bad-images to leave them out, or remove them)", err=True)
        raise typer.Exit(1)
    typer.echo(summary + (" (made in memory: nothing to read)" if result.checked == 0 else ""), err=True)


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def bench_train(
    steps: Annotated[int, typer.Option(min=1, help="Timed steps of each loop, per model.")] = 6,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps of each loop first.")] = 2,
    models: Annotated[str, typer.Option(
        help="Comma-separated cases: googlenet-32, googlenet.")] = "googlenet-32,googlenet",
    batch_32: Annotated[int, typer.Option("--batch-32", min=1, help="Batch of googlenet-32 (32x32).")] = 128,
    batch_224: Annotated[int | None, typer.Option(
        "--batch-224", min=1, help="Batch of googlenet (224x224) (default: 16 on a CPU, 128 on a GPU).",
        show_default=False)] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    compile: Annotated[bool | None, typer.Option(
        "--compile/--no-compile", help="torch.compile archkit's loop (default: on a GPU only).",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the results as JSON.")] = None,
) -> None:
    """Training img/s: archkit's engine vs a plain fp32 eager PyTorch loop on the same model and batch,
    and vs torchvision's googlenet at the same input, in one run (interleaved, so load on the machine
    affects every loop alike)."""
    from ..bench.train_bench import CASES, print_results, run
    from ..commandline import UserError, write_json

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in CASES]
    if unknown or not names:
        raise UserError(f"--models must name some of {', '.join(CASES)}, but got {models!r}")
    results = run(names, steps=steps, warmup=warmup, batch_32=batch_32, batch_224=batch_224, device=device,
                  compile=compile)
    print_results(results)
    if output is not None:
        write_json(results, output)
