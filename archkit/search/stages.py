"""Stages of a base spec: the runs of inception modules between pools that the search varies.

A leaf of the search package: the config checks a base against its stages and the space samples
per stage, and neither needs the other for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..spec.models import Spec


@dataclass(frozen=True)
class Stage:
    """A run of consecutive inception rows in the base spec (between pools)."""

    name: str  # "stage4"
    prefix: str  # "inception4": new modules are named prefix + letter
    indices: tuple[int, ...]  # positions in base.layers


def stages_of(base: Spec) -> dict[str, Stage]:
    """The base spec's stages, in order. Named from the layer names where they follow the paper's
    pattern (`inception4a` -> `stage4`), else numbered."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, layer in enumerate(base.layers):
        if layer.inception is not None:
            current.append(i)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    stages: dict[str, Stage] = {}
    for k, group in enumerate(groups, start=1):
        match = re.match(r"^(.*?)(\d+)[a-z]$", base.layers[group[0]].name)
        name, prefix = (f"stage{match.group(2)}", match.group(1) + match.group(2)) if match else (
            f"stage{k}", f"{base.layers[group[0]].name}_")
        if name in stages:  # two runs with the same number: fall back to positions
            name, prefix = f"stage{k}", f"{base.layers[group[0]].name}_"
        stages[name] = Stage(name, prefix, tuple(group))
    return stages
