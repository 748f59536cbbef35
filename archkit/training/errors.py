"""Errors of training, each one line with the bad value in it. None of them needs torch to import.

Each is an `ArchkitError`: the CLI prints it as one line and exits with status 2 (the user can fix
the input), `DivergedError` with 1 (the run itself failed).
`DoesNotFitError` is the memory check's (`archkit.profile.memory`, shared by every path that builds
a model): a SpecError, not a TrainError.
"""

from __future__ import annotations

from ..errors import ArchkitError
from ..profile.memory import DoesNotFitError  # noqa: F401 - re-exported: archkit.training.DoesNotFitError


class TrainError(ArchkitError):
    """Base class of the errors `archkit.train` raises before or during a run."""


class DataError(TrainError):
    """A `--data` value that cannot be used: unknown kind, missing folder, wrong layout."""


def option(name: str) -> str:
    """The command-line flag of a training option: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


class ConfigError(TrainError):
    """A training option out of range or inconsistent with another (e.g. --steps with --epochs).
    When one option is at fault (`of_option`), `field` is its name and `rule` what is wrong with it
    without naming it, for callers that name options their own way (the search's `train:` recipe);
    `str()` puts the flag first: "--lr must be in (0.0, inf), but got -1"."""

    def __init__(self, message: str, field: str | None = None, rule: str | None = None):
        self.field = field
        self.rule = rule
        super().__init__(message)

    @classmethod
    def of_option(cls, field: str, rule: str) -> ConfigError:
        return cls(f"{option(field)} {rule}", field, rule)


class ResumeError(TrainError):
    """A checkpoint that is missing, unreadable, or from a different spec, data set or setting."""


class DivergedError(TrainError):
    """The loss became NaN or infinite; names the epoch and step where it first did."""

    exit_code = 1  # the run failed, not the input

    def __init__(self, message: str, epoch: int, step: int):
        self.epoch = epoch
        self.step = step
        super().__init__(message)
