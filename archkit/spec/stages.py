"""Stages of a network: the runs of inception modules between pools (what the search varies,
what the report groups layers by).

A concept of the spec, so the search (its config checks a base against its stages, its space
samples per stage), the supernet and the report all read it here, none from another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Spec

# What a stage is made of: inception modules, in Table 1's shorthand or the general form.
MODULE_KINDS = ("inception", "module")
_NUMBERED = re.compile(r"^(.*?)(\d+)[a-z]$")  # inception4a -> stage4


def stage_runs(names: list[str], kinds: list[str], reduces: list[bool] | None = None
               ) -> list[tuple[str, str, tuple[int, ...]]]:
    """The one definition of stages, for the search and the reports alike: each run of consecutive
    module rows (`kinds` in MODULE_KINDS) is a stage, as (name, prefix, row indices); a module that
    changes the grid (`reduces[i]`: Inception-v3's Mixed_6a, Xception's strided blocks) opens a new
    stage, as the pool it replaces would: a stage is the modules whose outputs share one grid, so
    its width multiplier sets the width of everything at that grid (a residual stage's stream
    included). Stages are named from their first rows' names where all of
    them follow the paper's pattern (`inception4a` -> `stage4`, prefix `inception4`), else numbered
    in order (`stage2`, prefix `<first name>_`)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for i, kind in enumerate(kinds):
        if kind in MODULE_KINDS:
            if current and reduces is not None and reduces[i]:
                groups.append(current)
                current = []
            current.append(i)
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    matches = [_NUMBERED.match(names[group[0]]) for group in groups]
    numbered = [f"stage{m.group(2)}" for m in matches if m]
    if len(numbered) == len(groups) and len(set(numbered)) == len(numbered):
        return [(f"stage{m.group(2)}", m.group(1) + m.group(2), tuple(g)) for m, g in zip(matches, groups, strict=True)]
    return [(f"stage{k}", f"{names[g[0]]}_", tuple(g)) for k, g in enumerate(groups, start=1)]


def layer_kind(layer) -> str:
    """A spec layer's kind (the key it was written with: conv, inception, module, ...)."""
    return next((k for k in ("inception", "module") if getattr(layer, k) is not None), "other")


@dataclass(frozen=True)
class Stage:
    """A run of consecutive module rows in the base spec (between pools or grid reductions)."""

    name: str  # "stage4"
    prefix: str  # "inception4": new modules are named prefix + letter
    indices: tuple[int, ...]  # positions in base.layers
    # The modules that keep the grid, which depth drops or repeats (all but an opening reduction).
    repeatable: tuple[int, ...] = ()


def stages_of(base: Spec) -> dict[str, Stage]:
    """The base spec's stages, in order (`stage_runs`)."""
    from .resolve import resolved

    layers = resolved(base).layers
    reduces = [layer.in_shape[1:] != layer.out_shape[1:] for layer in layers]
    runs = stage_runs([layer.name for layer in base.layers], [layer_kind(layer) for layer in base.layers], reduces)
    return {name: Stage(name, prefix, indices, tuple(i for i in indices if not reduces[i]))
            for name, prefix, indices in runs}
