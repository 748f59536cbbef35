"""The settings of a training run: one frozen dataclass, checked at construction, saved in checkpoints.

No torch here: the CLI and the search build and check a config before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, ResumeError
from .schedule import SCHEDULES

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_EPOCHS = 10


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run computes. Field names are the CLI options (`--batch-size`).

    `epochs` and `steps` are the two ways to say how long to train (give at most one; neither means
    10 epochs). `val_fraction` and `test_fraction` are the held-out shares (of the whole set) for
    data sets without their own validation or test split: digits (split by class), an imagefolder
    without val/ or test/; CIFAR's test split is its test batch, so only `val_fraction` applies there.
    """

    data: str = "digits"
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    seed: int = 0
    val_fraction: float = 0.2
    # Train on this share of the training split only (a seeded draw; val and test unchanged): the
    # reduced-data proxy of EcoNAS (Zhou et al. 2020), more epochs on less data.
    train_fraction: float = 1.0
    test_fraction: float = 0.2
    workers: int | None = None
    download: bool = False
    skip_bad_images: bool = False

    def __post_init__(self) -> None:
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.seed, "seed", 0)
        if self.epochs is not None and self.steps is not None:
            raise ConfigError(f"give --epochs or --steps, not both (got epochs={self.epochs}, steps={self.steps})")
        if self.epochs is not None:
            _check_int(self.epochs, "epochs", 1)
        if self.steps is not None:
            _check_int(self.steps, "steps", 1)
        if self.workers is not None:
            _check_int(self.workers, "workers", 0)
        _check_range(self.lr, "lr", 0.0, None, low_open=True)
        _check_range(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        _check_range(self.weight_decay, "weight_decay", 0.0, None)
        _check_range(self.warmup_epochs, "warmup_epochs", 0.0, None)
        _check_range(self.label_smoothing, "label_smoothing", 0.0, 1.0, high_open=True)
        _check_range(self.val_fraction, "val_fraction", 0.0, 1.0, low_open=True, high_open=True)
        _check_range(self.train_fraction, "train_fraction", 0.0, 1.0, low_open=True)
        _check_range(self.test_fraction, "test_fraction", 0.0, 1.0, low_open=True, high_open=True)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"--val-fraction {self.val_fraction} and --test-fraction {self.test_fraction} must "
                              f"add up to less than 1 (the training split is the rest), but they add up to "
                              f"{self.val_fraction + self.test_fraction:g}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}, but got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, but got {self.precision!r}")

    @property
    def target_epochs(self) -> int | None:
        """The epochs to train when no step count is given (the default 10 when neither is)."""
        if self.steps is not None:
            return None
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Settings a resumed run may change: how long to train, and how (not what) it computes.
RESUME_MAY_CHANGE = frozenset({"epochs", "steps", "compile", "workers", "download", "skip_bad_images"})


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def make_config(given: dict[str, Any], saved: dict[str, Any] | None = None) -> TrainConfig:
    """A config from the options a caller gave (None meaning "not given").

    Without `saved`, what is not given takes the default. With `saved` (a checkpoint's config), what
    is not given comes from the checkpoint; a given value that would change the computation (lr,
    batch size, data, ...) is an error, since the run could not continue bit-for-bit. A new --epochs
    or --steps replaces the checkpoint's length.
    """
    given = {k: v for k, v in given.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise TypeError(f"unknown training options: {sorted(unknown)}")
    if saved is None:
        return TrainConfig(**given)
    merged = {k: v for k, v in saved.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    if "test_fraction" not in merged:
        # Written before the data had a test split: the images it trained on are not today's train split.
        raise ResumeError("the checkpoint predates the train/val/test split (its training images differ from "
                          "today's split of the same data); it cannot continue bit-for-bit: start a new run")
    for key, value in given.items():
        if key not in RESUME_MAY_CHANGE and merged.get(key) != value:
            raise ResumeError(f"{option(key)} {value!r} differs from the checkpoint's {merged.get(key)!r}; "
                              f"a resumed run keeps its settings (leave {option(key)} out)")
    if "epochs" in given or "steps" in given:
        merged["epochs"] = given.get("epochs")
        merged["steps"] = given.get("steps")
    merged.update({k: v for k, v in given.items() if k in RESUME_MAY_CHANGE - {"epochs", "steps"}})
    return TrainConfig(**merged)


def _check_int(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ConfigError(f"{option(name)} must be {kind}, but got {value!r}")


def _check_range(value: Any, name: str, low: float, high: float | None, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
    if not ok:
        lo = "(" if low_open else "["
        hi = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
        raise ConfigError(f"{option(name)} must be in {lo}{low}, {hi}, but got {value!r}")
