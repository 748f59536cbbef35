"""A network's weights in a file of their own, tied to the spec they are the weights of.

`archkit export --weights` writes a candidate's slice of a trained supernet this way (BigNAS's
inherited weights), `archkit.build(spec, weights=FILE)` and `archkit train SPEC --init-from FILE`
read it. The file holds the spec (as its fingerprint: the validated spec's fields, name included)
and the state dict `archkit.build(spec)` has; a file of another spec is refused in one line, never
loaded as far as the shapes happen to fit.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..spec.errors import SpecError
from ..spec.models import Spec
from ..util.files import atomic_write_bytes

FORMAT = "archkit-weights/1"


class WeightsError(SpecError):
    """A weights file that cannot be used for this spec (missing, unreadable, another spec's)."""


def fingerprint(spec: Spec) -> dict:
    """What the weights belong to: the spec's fields (as a training checkpoint records them)."""
    return spec.model_dump(mode="json", by_alias=True)


def save_weights(path: str | Path, spec: Spec, state: dict[str, torch.Tensor], source: dict[str, Any]) -> Path:
    """Write `state` (keys as `archkit.build(spec)` has them) with the spec and where it came from."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "spec": fingerprint(spec), "name": spec.name, "source": source,
                "state_dict": {k: v.detach().cpu().clone() for k, v in state.items()}}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_weights(path: str | Path) -> dict[str, Any]:
    """The file's payload (read on the CPU, tensors and plain data only)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, or not a torch file
        raise WeightsError(f"{path}: cannot read the weights: {type(exc).__name__}: {exc}".split("\n")[0]) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an archkit weights file (archkit export --weights writes them)")
    return payload


def load_weights(path: str | Path, spec: Spec) -> dict[str, torch.Tensor]:
    """The state dict in `path`, if it is `spec`'s; else one line saying whose it is."""
    payload = read_weights(path)
    if payload["spec"] != fingerprint(spec):
        theirs = payload.get("name")
        same = "of the same name with other layers or widths" if theirs == spec.name else f"{theirs!r}"
        raise WeightsError(f"{path} holds the weights of another spec ({same}), not of {spec.name!r}")
    return payload["state_dict"]
