"""The supernet's one error: what a user can fix (a space it cannot express, a budget beyond what it
was trained for, a checkpoint of another config or a corrupt one). A `SpecError`, so every command
prints it as one line and exits with status 2, naming the config key where there is one."""

from __future__ import annotations

from ..spec.errors import SpecError


class SupernetError(SpecError):
    """A supernet request that cannot be served; `str()` is one line."""
