"""`run`: a whole training run from a spec and a config: data, model, guard, engine, checkpoints, metrics.

`archkit.train` (in `archkit.training`) checks the options and calls this, in this process or, for
`nproc > 1`, in each of the spawned processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..builder import build
from ..spec.models import Spec
from . import checkpoint as ckpt
from . import ddp
from .batches import make_batches, mix_seed
from .config import TrainConfig
from .data import load_data, parse_data, reduced
from .engine import Engine
from .errors import ConfigError, ResumeError
from .memory import check_fits
from .precision import resolve_precision
from .progress import Quiet, RichProgress
from .result import TrainResult

log = logging.getLogger(__name__)  # unconfigured, a warning prints as its message on stderr

DROPOUT_STREAM = 1  # seeds the global RNG apart from the data order's generators (which use (seed, epoch))


@dataclass(frozen=True)
class RunOptions:
    """Where a run happens and what it writes; none of it changes what is computed."""

    device: str = "auto"
    checkpoint: Path | None = None
    resume: Path | None = None
    metrics_out: Path | None = None
    progress: bool = False
    on_epoch: Callable[[int, dict], None] | None = None
    score_test: bool = False  # score the test split once after training (never part of selection)
    # Start from these weights (`archkit export --weights`: a supernet's slice) instead of the seeded
    # initialization; the one option here that changes what is computed, as a warm start does.
    init_from: Path | None = None


def pick_device(requested: str, info: ddp.DistInfo) -> torch.device:
    """auto: CUDA when there is a GPU (one per process under DDP), else the CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, but got {requested!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {requested}: CUDA is not available on this machine")
        index = info.local_rank if device.index is None and info.enabled else (device.index or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {requested}: there are only {torch.cuda.device_count()} GPUs")
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    return device


def spec_fingerprint(spec: Spec) -> dict:
    return spec.model_dump(mode="json", by_alias=True)


def run(spec: Spec, config: TrainConfig, options: RunOptions, saved: dict | None = None) -> TrainResult:
    """Train `spec` as `config` says. `saved` is the checkpoint to continue from, if any."""
    info = ddp.from_env()
    if info.enabled and info.local_world > 1 and not torch.cuda.is_available():
        # Processes sharing the CPU: split its cores instead of oversubscribing them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.local_world))
    device = pick_device(options.device, info)
    precision = resolve_precision(config.precision, device)
    # Before the data too: a synthetic set is made at the spec's input size.
    _check_memory(spec, config, info, precision, device)

    source = parse_data(config.data)
    data = load_data(source, channels=spec.input.channels, hw=spec.input.hw, classes=spec.classes,
                     val_fraction=config.val_fraction, batch_size=config.batch_size, download=config.download,
                     test_fraction=config.test_fraction)
    data = reduced(data, config.train_fraction)
    if data.classes != spec.classes:
        if info.is_main:
            log.warning("note: %s has %d classes and %s %d: the classifier (and any aux heads) follow the data "
                        "(%d outputs)", source, data.classes, spec.name, spec.classes, data.classes)
        spec = spec.with_classes(data.classes)
        _check_memory(spec, config, info, precision, device)  # the classifier follows the data
    if saved is not None and saved.get("spec") != spec_fingerprint(spec):
        raise ResumeError(f"--resume {options.resume}: the checkpoint is of another spec than {spec.name} "
                          f"(or of the same name with other layers)")

    created = ddp.init(info, device)
    try:
        # The run draws dropout masks from the global RNG, which it seeds: fork_rng gives the
        # caller's RNG state back afterwards.
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            return _train(spec, data, config, options, saved, info, device, precision)
    finally:
        if created:
            ddp.shutdown()


def _check_memory(spec: Spec, config: TrainConfig, info: ddp.DistInfo, precision: str, device: torch.device) -> None:
    """The memory guard, before the data and the model: one step of this process's share of the
    batch, as the engine runs it (momentum, channels-last memory, label smoothing)."""
    check_fits(spec, max(1, config.batch_size // info.world), precision, device, momentum=config.momentum,
               channels_last=config.channels_last, label_smoothing=config.label_smoothing)


def _train(spec: Spec, data, config: TrainConfig, options: RunOptions, saved: dict | None, info: ddp.DistInfo,
           device: torch.device, precision: str) -> TrainResult:
    torch.manual_seed(mix_seed(config.seed, info.rank, DROPOUT_STREAM))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithms once
    model = build(spec, seed=config.seed)
    if options.init_from is not None and saved is None:  # a resumed run has its own weights
        from ..builder.weights import load_weights

        model.load_state_dict(load_weights(options.init_from, spec))
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    batches = make_batches(data, workers=_workers(config, info), batch_size=config.batch_size, hw=spec.input.hw,
                           device=device, channels_last=config.channels_last, seed=config.seed, rank=info.rank,
                           world=info.world, skip_bad=config.skip_bad_images)
    try:
        spe = batches.steps_per_epoch
        total = config.steps if config.steps is not None else config.target_epochs * spe
        progress = RichProgress() if options.progress and info.is_main else Quiet()
        engine = Engine(model, batches, config, device=device, precision=precision, total_steps=total, info=info,
                        progress=progress)
        if saved is not None:
            engine.load_state_dict(saved)
            if engine.step > total:
                raise ResumeError(f"--resume {options.resume}: the checkpoint is at step {engine.step}, past the "
                                  f"run's end ({total} steps); give a larger --epochs or --steps")
        out_dir = options.checkpoint or options.resume

        def save_checkpoint(e: Engine) -> None:
            state = e.state_dict()  # collective under DDP: every process takes part
            if out_dir is not None and info.is_main:
                ckpt.save(out_dir, {**state, "config": config.to_dict(), "spec": spec_fingerprint(spec),
                                    "world": info.world})
            ddp.barrier()

        def on_epoch_end(e: Engine) -> None:
            save_checkpoint(e)
            if options.on_epoch is not None:
                options.on_epoch(e.history[-1]["epoch"] - 1, dict(e.history[-1]))

        timer = engine.fit(on_epoch_end=on_epoch_end)
        last = engine.history[-1] if engine.history else None
        if last is None or last["step"] != engine.step or "val_top1" not in last:
            # stopped mid-epoch (--steps), or a resumed run already at its end: score it now
            metrics = engine.evaluate()
            save_checkpoint(engine)
        else:
            metrics = {k: last[k] for k in ("val_loss", "val_top1", "val_top5")}
        if options.score_test:  # after the last checkpoint: scoring test changes nothing a resumed run sees
            metrics.update(engine.evaluate("test"))
        skipped = getattr(batches, "skipped", [])
        seen, paths = set(), []
        for s in skipped:  # a bad file is met every epoch: listed once
            if s.path not in seen:
                seen.add(s.path)
                paths.append(s.path)
        result = TrainResult(
            spec=spec.name, data=str(data.source), classes=spec.classes, train_images_per_s=timer.images_per_s,
            seconds=engine.seconds, epochs=engine.step / spe, steps=engine.step, batch_size=config.batch_size,
            device=str(device), precision=precision, world_size=info.world, config=config.to_dict(),
            history=engine.history, split_sizes=data.split_sizes, model=model,
            skipped_images=int(ddp.all_sum(torch.tensor(float(len(seen)), device=device)).item()),
            skipped_paths=paths[:10], **metrics)
        if options.metrics_out is not None and info.is_main:
            try:
                result.write_json(options.metrics_out)
            except OSError as exc:
                raise ConfigError(f"--metrics-out {options.metrics_out}: cannot write: {exc.strerror or exc}") from None
        return result
    finally:
        batches.close()  # no worker process outlives the run


def _workers(config: TrainConfig, info: ddp.DistInfo) -> int:
    """Loader processes for image folders: up to 8, the machine's cores shared among its processes."""
    if config.workers is not None:
        return config.workers
    return max(1, min(8, (os.cpu_count() or 1) // info.local_world))


def run_worker(spec: Spec, config: TrainConfig, options: RunOptions, saved: dict | None) -> dict:
    """A spawned process's run; rank 0 returns the result as plain data and the model's weights."""
    result = run(spec, config, options, saved)
    return {"result": result.to_dict(), "state": {k: v.cpu() for k, v in result.model.state_dict().items()}}
