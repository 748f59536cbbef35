"""The settings of a training run: one frozen dataclass, checked at construction, saved in checkpoints.

Each option's range is declared on its field (pydantic constraints: `Field(gt=0)`, ...) and checked
by pydantic when a config is made; a violation is a ConfigError whose one line is written from the
field's own constraints (`--lr must be in (0.0, inf), but got -1`), so a range is stated once.
No torch here: the CLI and the search build and check a config before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any

import annotated_types
import pydantic
from pydantic import ConfigDict, Field

from ..util.choices import TRAIN_PRECISIONS
from .errors import ConfigError, ResumeError, option
from .schedule import SCHEDULES

PRECISIONS = TRAIN_PRECISIONS
DEFAULT_EPOCHS = 10

# Whole numbers (never a bool or a float) of at least 0 or 1; shares and rates in an interval.
Count = Annotated[int, Field(ge=1, strict=True)]
Index = Annotated[int, Field(ge=0, strict=True)]
Share = Annotated[float, Field(gt=0.0, lt=1.0)]  # of the whole set: neither none nor all of it


def _fields_checked_by_pydantic(cls):
    # Strict: "3" is not 3 and 1 is not True; an int is still a float (lr: 1).
    return pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(strict=True))(cls)


@_fields_checked_by_pydantic
class _Fields:
    data: str = "digits"
    epochs: Count | None = None
    steps: Count | None = None
    batch_size: Count = 64
    lr: Annotated[float, Field(gt=0.0)] = 0.05
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    weight_decay: Annotated[float, Field(ge=0.0)] = 5e-4
    schedule: str = "cosine"
    warmup_epochs: Annotated[float, Field(ge=0.0)] = 1.0
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    seed: Index = 0
    val_fraction: Share = 0.2
    # Train on this share of the training split only (a seeded draw; val and test unchanged): the
    # reduced-data proxy of EcoNAS (Zhou et al. 2020), more epochs on less data.
    train_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    test_fraction: Share = 0.2
    workers: Index | None = None
    download: bool = False
    skip_bad_images: bool = False
    # Score the validation split every N epochs and after the last one; 0: after the last one only
    # (a run judged by its end, like a search's confirmation, skips the epochs in between: scoring
    # 6,000 images costs ~30% of an epoch of 4,800). It changes no weights, so a resume may change it.
    eval_every: Index = 1

    def __post_init__(self) -> None:
        # What a single field's constraints cannot say: options that exclude or bound each other.
        if self.epochs is not None and self.steps is not None:
            raise ConfigError(f"give --epochs or --steps, not both (got epochs={self.epochs}, steps={self.steps})")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"--val-fraction {self.val_fraction} and --test-fraction {self.test_fraction} must "
                              f"add up to less than 1 (the training split is the rest), but they add up to "
                              f"{self.val_fraction + self.test_fraction:g}")
        if self.schedule not in SCHEDULES:
            raise ConfigError.of_option("schedule", f"must be one of {', '.join(SCHEDULES)}, but got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError.of_option("precision",
                                        f"must be one of {', '.join(PRECISIONS)}, but got {self.precision!r}")


class TrainConfig(_Fields):
    """Everything that decides what a run computes. Field names are the CLI options (`--batch-size`).

    `epochs` and `steps` are the two ways to say how long to train (give at most one; neither means
    10 epochs). `val_fraction` and `test_fraction` are the held-out shares (of the whole set) for
    data sets without their own validation or test split: digits (split by class), an imagefolder
    without val/ or test/; CIFAR's, Fashion-MNIST's and MNIST's test split is their official test set,
    so only `val_fraction` applies there (a share of the official training images).
    Raises ConfigError (one line naming the option) for a value out of its range or of the wrong type.
    """

    def __init__(self, **options: Any) -> None:
        try:
            super().__init__(**options)
        except pydantic.ValidationError as exc:
            raise _error(exc) from None

    @property
    def target_epochs(self) -> int | None:
        """The epochs to train when no step count is given (the default 10 when neither is)."""
        if self.steps is not None:
            return None
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Each option's default (the command line's help text says them from here).
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

# Settings a resumed run may change: how long to train, and how (not what) it computes.
RESUME_MAY_CHANGE = frozenset({"epochs", "steps", "compile", "workers", "download", "skip_bad_images",
                               "eval_every"})


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


_BOUNDS = (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt, annotated_types.Le)


def _declared(name: str) -> tuple[dict[type, Any], set[type]]:
    """A field's bounds (Gt/Ge/Lt/Le by type) and its plain types, looking inside `X | None`."""
    hint = typing.get_type_hints(_Fields, include_extras=True)[name]
    bounds: dict[type, Any] = {}
    kinds: set[type] = set()
    todo = [hint]
    while todo:
        t = todo.pop()
        if typing.get_origin(t) is Annotated:
            base, *extras = typing.get_args(t)
            todo.append(base)
            for extra in extras:
                for m in getattr(extra, "metadata", [extra]):
                    if isinstance(m, _BOUNDS):
                        bounds[type(m)] = m
        elif typing.get_args(t):
            todo.extend(typing.get_args(t))
        elif isinstance(t, type):
            kinds.add(t)
    return bounds, kinds


def _error(exc: pydantic.ValidationError) -> ConfigError:
    """The first invalid option, its rule written from the field's declared constraints."""
    error = exc.errors()[0]
    raised = (error.get("ctx") or {}).get("error")
    if isinstance(raised, ConfigError):  # __post_init__'s own (a ValueError, which pydantic wraps)
        return raised
    name, value = str(error["loc"][0]), error["input"]
    bounds, kinds = _declared(name)
    if bool in kinds:
        rule = "true or false"
    elif str in kinds:
        rule = "a string"
    elif int in kinds:
        low = bounds[annotated_types.Ge].ge
        rule = "a positive integer" if low == 1 else f"an integer >= {low}"
    else:
        low = bounds.get(annotated_types.Gt) or bounds.get(annotated_types.Ge)
        high = bounds.get(annotated_types.Lt) or bounds.get(annotated_types.Le)
        lo = f"({low.gt}" if isinstance(low, annotated_types.Gt) else f"[{low.ge}"
        hi = ("inf)" if high is None else f"{high.lt})" if isinstance(high, annotated_types.Lt) else f"{high.le}]")
        rule = f"in {lo}, {hi}"
    return ConfigError.of_option(name, f"must be {rule}, but got {value!r}")
