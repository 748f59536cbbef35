"""Training: data sets, a fast loop for CPU and GPU, checkpoints, data-parallel runs.

`archkit.train(spec, data="digits", ...)` is the entry point (also behind `archkit train` and the
search). Importing this package does not import torch: the heavy modules load when a run starts.

Modules, one concern each: `config` (the options), `schedule` (learning rates), `data` (sources and
splits), `augment` and `batches` (what the loop consumes), `precision`, `memory` (the guard),
`engine` (the loop), `checkpoint`, `ddp`, `progress`, `result`, `api` (a whole run), `commands` (CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import PRECISIONS, TrainConfig, make_config
from .errors import ConfigError, DataError, DivergedError, DoesNotFitError, ResumeError, TrainError
from .result import TrainResult
from .schedule import SCHEDULES

__all__ = [
    "PRECISIONS",
    "SCHEDULES",
    "ConfigError",
    "DataError",
    "DivergedError",
    "DoesNotFitError",
    "ResumeError",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "train",
]


def train(
    spec,
    data: str | None = None,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    schedule: str | None = None,
    warmup_epochs: float | None = None,
    label_smoothing: float | None = None,
    precision: str | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
    seed: int | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    train_fraction: float | None = None,
    workers: int | None = None,
    download: bool | None = None,
    skip_bad_images: bool | None = None,
    eval_every: int | None = None,
    device: str = "auto",
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    metrics_out: str | Path | None = None,
    nproc: int = 1,
    progress: bool = False,
    on_epoch: Callable[[int, dict], None] | None = None,
    score_test: bool = False,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Train a spec's network and score it on the validation split; returns a `TrainResult`.

    spec: an `archkit.Spec` (see `archkit.load_spec`). When the data's class count differs from the
    spec's, the classifier and aux heads follow the data (said once on stderr).
    data: "digits" (default), "fashion-mnist" (Debian's package), "fashion-mnist:DIR", "mnist:DIR",
    "synthetic", "cifar10:ROOT", "cifar100:ROOT" or "imagefolder:PATH".

    Training options (None means the default of `TrainConfig`, or the checkpoint's when resuming):
    epochs or steps (default 10 epochs), batch_size (64, the global batch), lr (0.05), momentum
    (0.9), weight_decay (5e-4), schedule ("cosine"; also "paper": lr down 4% every 8 epochs,
    "onecycle", "constant"), warmup_epochs (1.0), label_smoothing (0), precision ("auto": bf16
    autocast on GPUs and on CPUs with native bf16, else fp32; or "fp32", "bf16", "fp16"),
    channels_last (True), compile (False: torch.compile), seed (0), val_fraction (0.2) and
    test_fraction (0.2: shares of the whole set held out for validation and test, for data without
    its own such split; they must add up to less than 1; CIFAR's test split is its test batch),
    train_fraction (1.0: train on this seeded share of the training split only, EcoNAS's proxy),
    workers (loader processes for image folders), download (False: fetch CIFAR when ROOT is missing),
    skip_bad_images (False: an image file that cannot be read stops the run with a `DataError` naming
    it; True: it is left out of its batch, counted in `skipped_images` and `skipped_paths`),
    eval_every (1: score the val split after every epoch; N: every N epochs and after the last; 0:
    after the last only; a run judged by its end need not pay for the epochs in between).

    device: "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:N".
    checkpoint: a folder to write `last.pt` to after every epoch and at the end.
    resume: a folder with a checkpoint to continue from, bit-for-bit (checkpoints go on being
    written there unless `checkpoint` says otherwise). A given option that differs from the
    checkpoint's is an error, except epochs/steps (to extend a run), compile, workers, download.
    metrics_out: a JSON file for the result (`TrainResult.to_dict()`).
    nproc: data-parallel processes on this machine (DDP; gloo on the CPU, NCCL on GPUs). Under
    torchrun, leave it at 1: the processes are already there.
    progress: show a progress bar and one line per epoch on stderr.
    on_epoch: called after each epoch's evaluation as `on_epoch(epoch, metrics)`, with the 0-based
    epoch and that epoch's history entry (val_top1, val_top5, val_loss, train_loss, ...; no val_*
    keys after an epoch `eval_every` skips); what it
    raises (e.g. optuna.TrialPruned) stops the run and propagates. Not with nproc > 1.
    score_test: also score the test split, once, after training (`test_top1`, `test_top5`,
    `test_loss`; None otherwise). Selection (a search) uses the validation split and never this.
    init_from: a weights file of this spec (`archkit export --weights`: its slice of a trained
    supernet, BigNAS's inherited weights) to start from instead of the seeded initialization; a file
    of another spec raises `WeightsError` before training starts.

    Raises `DataError`, `ConfigError`, `ResumeError`, `DoesNotFitError` before training starts, and
    `DivergedError` when the loss becomes NaN or infinite.
    """
    given = dict(data=data, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, momentum=momentum,
                 weight_decay=weight_decay, schedule=schedule, warmup_epochs=warmup_epochs,
                 label_smoothing=label_smoothing, precision=precision, channels_last=channels_last,
                 compile=compile, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                 train_fraction=train_fraction, workers=workers, download=download, skip_bad_images=skip_bad_images,
                 eval_every=eval_every)
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ConfigError(f"--nproc must be a positive integer, but got {nproc!r}")
    if on_epoch is not None and nproc > 1:
        raise ConfigError("on_epoch needs nproc=1 (a callback cannot reach spawned processes)")
    saved = None
    if resume is not None:
        from . import checkpoint as ckpt

        saved = ckpt.load(resume)
    config = make_config(given, saved["config"] if saved else None)

    from .api import RunOptions, run

    options = RunOptions(device=device, checkpoint=_path(checkpoint), resume=_path(resume),
                         metrics_out=_path(metrics_out), progress=progress, on_epoch=on_epoch,
                         score_test=bool(score_test), init_from=_path(init_from))
    if options.init_from is not None:
        from ..builder.weights import load_weights

        load_weights(options.init_from, spec)  # another spec's file: refused here, before any data
    if nproc == 1:
        return run(spec, config, options, saved)
    return _spawned(spec, config, options, saved, nproc)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value).expanduser()


def _spawned(spec, config: TrainConfig, options, saved, nproc: int) -> TrainResult:
    import os

    from ..builder import build
    from ..profile.memory import check_build
    from . import ddp
    from .api import run_worker
    from .data import load_data, parse_data

    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        raise ConfigError(f"--nproc {nproc} under torchrun: torchrun already started the processes; "
                          f"leave --nproc out")
    check_build(spec)  # the model is built here at the end; each process checks its own device
    # Check the data here, once, so a bad --data is a plain error instead of N failed processes.
    data = load_data(parse_data(config.data), channels=spec.input.channels, hw=spec.input.hw,
                     classes=spec.classes, val_fraction=config.val_fraction, batch_size=config.batch_size,
                     download=config.download, test_fraction=config.test_fraction)
    out = ddp.launch(nproc, run_worker, (spec, config, options, saved))
    result = TrainResult(**out["result"])
    model = build(spec.with_classes(data.classes) if data.classes != spec.classes else spec)
    model.load_state_dict(out["state"])
    result.model = model
    return result
