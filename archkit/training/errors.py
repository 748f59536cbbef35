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


class ConfigError(TrainError):
    """A training option out of range or inconsistent with another (e.g. --steps with --epochs)."""


class ResumeError(TrainError):
    """A checkpoint that is missing, unreadable, or from a different spec, data set or setting."""


class DivergedError(TrainError):
    """The loss became NaN or infinite; names the epoch and step where it first did."""

    exit_code = 1  # the run failed, not the input

    def __init__(self, message: str, epoch: int, step: int):
        self.epoch = epoch
        self.step = step
        super().__init__(message)
