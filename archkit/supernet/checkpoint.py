"""The supernet's checkpoint: DIR/supernet.pt, written atomically after every epoch.

It holds the engine's state (weights, optimizer, step, history, RNG: a resumed run continues as the
uninterrupted one would), the training config, the plan the weights are shaped by, and the identity
of the search config it was trained for (base spec, space, budget, budget filling, data). A
checkpoint of another config is refused naming what differs; an unreadable one in one line.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..search.config import LoadedConfig
from ..training.api import spec_fingerprint
from ..util.files import atomic_write_bytes
from .errors import SupernetError
from .support import sizing_limits

FORMAT = "archkit-supernet-checkpoint/1"
FILENAME = "supernet.pt"


def identity(loaded: LoadedConfig) -> dict[str, Any]:
    """What the supernet's weights are the weights of: the candidates it holds and the data they
    saw. (Not the budget's value: a smaller budget is served by the same supernet; see `covers`.)"""
    cfg = loaded.config
    return {"base": spec_fingerprint(loaded.base), "space": cfg.space.model_dump(mode="json"),
            "fill_budget": cfg.fill_budget, "data": cfg.data}


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The identity keys that differ, each with both values when short."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if a != b:
            if key == "base":
                name = a.get("name") if isinstance(a, dict) else a
                out.append(f"base (the checkpoint's is {name!r}, with other layers or widths)")
            elif key == "space" and isinstance(a, dict) and isinstance(b, dict):
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                both = ", ".join(f"{a.get(k)} vs {b.get(k)}" for k in keys)
                out.append("space." + ", space.".join(keys) + f" (checkpoint vs config: {both})")
            else:
                out.append(f"{key} ({a!r} vs {b!r})")
    return out


def path_in(directory: str | Path) -> Path:
    return Path(directory).expanduser() / FILENAME


def save(directory: str | Path, payload: dict[str, Any]) -> Path:
    path = path_in(directory)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise SupernetError(f"{directory}: cannot write {path}: {exc.strerror or exc}") from None
    return path


def load(directory: str | Path) -> dict[str, Any] | None:
    """The checkpoint in `directory` (None if there is none): read on the CPU, tensors and plain data
    only (nothing in it runs code when loaded)."""
    path = path_in(directory)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, or not a torch file: one line
        raise SupernetError(f"{path}: cannot read the supernet checkpoint: {type(exc).__name__}: {exc}"
                            .split("\n")[0]) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SupernetError(f"{path} is not an archkit supernet checkpoint")
    return payload


def check_same(payload: dict[str, Any], loaded: LoadedConfig, where: str | Path) -> None:
    """Refuse a checkpoint trained for another config, naming what differs."""
    diff = differences(payload.get("identity", {}), identity(loaded))
    if diff:
        raise SupernetError(f"{path_in(where)} is the supernet of another config ({payload.get('study')!r}): "
                            f"{'; '.join(diff)}; train this config's into another folder (-o)")


def covers(payload: dict[str, Any], limits: dict[str, float]) -> str | None:
    """Why the supernet cannot serve a search under `limits` (None if it can): every limit it was
    sized by must be there, no larger (a smaller budget's candidates are narrower: slices of it). A
    latency limit beside them only narrows the search further (`support.SIZING_KEYS`)."""
    trained = sizing_limits(payload.get("limits") or {})
    for key, value in trained.items():
        if key not in limits:
            return f"the supernet was sized by a {key} budget of {value:,g}, the search has none"
        if limits[key] > value:
            return (f"budget {key} {limits[key]:,g} is above the supernet's largest network's ({value:,g}): its "
                    "candidates would need filters it does not have; train a supernet at this budget")
    return None
