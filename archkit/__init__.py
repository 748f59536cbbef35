"""archkit: architecture search and analysis for Inception-family CNNs.

Public API: `load_spec`, `profile`, `build`, `train` (and `Spec`, `SpecError`, `TrainResult`;
`ArchkitError`, the base of every error a user can fix).
Heavy libraries (torch, pandas) are imported only when a function that needs them is called.
"""

from __future__ import annotations

from .errors import ArchkitError
from .profile import Profile, profile
from .spec import Spec, SpecError, builtin_names, load_spec, spec_from_data, spec_from_yaml

__version__ = "0.1.0"

__all__ = [
    "ArchkitError",
    "Profile",
    "Spec",
    "SpecError",
    "TrainResult",
    "build",
    "builtin_names",
    "load_spec",
    "profile",
    "spec_from_data",
    "spec_from_yaml",
    "train",
]


def __getattr__(name: str):
    # `train` and `TrainResult` come from the training package, imported when first asked for (it
    # imports torch only when a run starts, but its own models are not needed to profile a spec).
    if name in ("train", "TrainResult"):
        from . import training

        value = getattr(training, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(spec: Spec, seed: int | None = None, weights=None):
    """The torch.nn.Module of a spec (imports torch). See `archkit.builder.InceptionNet`. `weights`: a
    weights file of this spec (`archkit export --weights`) to load instead of the initial weights."""
    from .builder import build as _build

    return _build(spec, seed=seed, weights=weights)
