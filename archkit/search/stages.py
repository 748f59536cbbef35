"""Stages of a base spec: the runs of inception modules between pools that the search varies.

A leaf of the search package: the config checks a base against its stages and the space samples
per stage, and neither needs the other for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spec.models import Spec

# What a stage is made of: inception modules, in Table 1's shorthand or the general form.
MODULE_KINDS = ("inception", "module")
_NUMBERED = re.compile(r"^(.*?)(\d+)[a-z]$")  # inception4a -> stage4


def stage_runs(names: list[str], kinds: list[str]) -> list[tuple[str, str, tuple[int, ...]]]:
    """The one definition of stages, for the search and the reports alike: each run of consecutive
    module rows (`kinds` in MODULE_KINDS) is a stage, as (name, prefix, row indices). Named from the
    first row's name where it follows the paper's pattern (`inception4a` -> `stage4`, prefix
    `inception4`), else numbered (`stage2`, prefix `<first name>_`)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, kind in enumerate(kinds):
        if kind in MODULE_KINDS:
            current.append(i)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    runs: list[tuple[str, str, tuple[int, ...]]] = []
    for k, group in enumerate(groups, start=1):
        first = names[group[0]]
        match = _NUMBERED.match(first)
        name, prefix = (f"stage{match.group(2)}", match.group(1) + match.group(2)) if match else (
            f"stage{k}", f"{first}_")
        if name in {r[0] for r in runs}:  # two runs with the same number: fall back to positions
            name, prefix = f"stage{k}", f"{first}_"
        runs.append((name, prefix, tuple(group)))
    return runs


def layer_kind(layer) -> str:
    """A spec layer's kind (the key it was written with: conv, inception, module, ...)."""
    return next((k for k in ("inception", "module") if getattr(layer, k) is not None), "other")


@dataclass(frozen=True)
class Stage:
    """A run of consecutive module rows in the base spec (between pools)."""

    name: str  # "stage4"
    prefix: str  # "inception4": new modules are named prefix + letter
    indices: tuple[int, ...]  # positions in base.layers


def stages_of(base: Spec) -> dict[str, Stage]:
    """The base spec's stages, in order (`stage_runs`)."""
    runs = stage_runs([layer.name for layer in base.layers], [layer_kind(layer) for layer in base.layers])
    return {name: Stage(name, prefix, indices) for name, prefix, indices in runs}
