"""Checkpoints: everything a run needs to continue bit-for-bit, written atomically to DIR/last.pt.

Contents: the model's and optimizer's state, the step (the schedule is a pure function of it), the
per-epoch history, the training config and spec (a resume must match them), and the torch RNG state
of every process (dropout draws from it). Data order and augmentation need no state: they are drawn
from generators seeded by (seed, epoch, batch).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..util.files import atomic_write_bytes
from .errors import ResumeError

FORMAT = "archkit-train-checkpoint/1"
FILENAME = "last.pt"


def rng_state(device: torch.device) -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save(directory: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint (a temporary file and a rename: a crash never leaves half a file)."""
    path = Path(directory) / FILENAME
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise ResumeError(f"--checkpoint {directory}: cannot write {path}: {exc.strerror or exc}") from None
    return path


def load(directory: str | Path) -> dict[str, Any]:
    """Read DIR/last.pt on the CPU (tensors only: nothing in it runs code when loaded)."""
    path = Path(directory).expanduser() / FILENAME
    if not path.is_file():
        raise ResumeError(f"--resume {directory}: no checkpoint there ({FILENAME} is missing)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which and why, in one line
        raise ResumeError(f"--resume {directory}: cannot read {path}: {type(exc).__name__}: {exc}".split("\n")[0]) \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ResumeError(f"--resume {directory}: {path} is not an archkit training checkpoint")
    return payload
