"""Candidates exactly as the search makes them, drawn without an Optuna study.

A trial turns sampled parameters into a spec in three steps (`search.trial.run_trial`): the space's
`suggest`, budget filling (or the plain candidate without it), and a full validation of the result.
The supernet needs the same specs: to size its weights (the planning pool), to sample sub-networks
while it trains, and in its tests. `suggest` takes an Optuna trial; `Draw` stands in for one, answering
each `suggest_*` call from a policy, so the parameter names, their conditions (per-module parameters
only for modules that exist) and their ranges stay the search's own.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..search.budget import fill_budget
from ..search.config import LoadedConfig, Space
from ..search.space import BRANCHES, candidate, suggest
from ..spec.loader import spec_from_data
from ..spec.models import Spec
from .support import sizing_limits

# A policy answers one suggestion: (name, kind, low, high, choices) -> value; kind is "float", "int"
# or "choice" (low/high are None for a choice list).
Policy = Callable[[str, str, object, object, tuple], object]


class Draw:
    """A stand-in for an Optuna trial: `suggest_float/int/categorical` answered by `policy`."""

    def __init__(self, policy: Policy):
        self.policy = policy

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return float(self.policy(name, "float", low, high, ()))

    def suggest_int(self, name: str, low: int, high: int) -> int:
        return int(self.policy(name, "int", low, high, ()))

    def suggest_categorical(self, name: str, choices):
        return self.policy(name, "choice", None, None, tuple(choices))


def searched_space(loaded: LoadedConfig) -> Space:
    """The space a trial samples: with budget filling, the global width is the filler's, not sampled."""
    cfg = loaded.config
    space = cfg.space
    if cfg.fill_budget and cfg.budget.limits() and space.width is not None:
        space = space.model_copy(update={"width": None})
    return space


def candidate_spec(loaded: LoadedConfig, params: dict, limits: dict | None = None, name: str | None = None,
                   classes: int | None = None) -> Spec:
    """The spec a trial makes of `params` (budget filling under `limits`, default the config's own
    sizing limits: a latency limit is the search's to meet, see `support.SIZING_KEYS`),
    validated as a user's spec would be; with `classes`, the classifier follows the data's class count
    as `archkit.train` makes it do."""
    cfg = loaded.config
    limits = sizing_limits(cfg.budget.limits()) if limits is None else limits
    name = name or f"{loaded.study_name[:80]}-candidate"
    if cfg.fill_budget and limits:
        spec = fill_budget(loaded.base, params, limits, cfg.space.divisor, name).spec
    else:
        spec = candidate(loaded.base, params, cfg.space.divisor, 1.0, name)
    spec = spec_from_data(spec.to_dict(), source=name)
    if classes is not None and classes != spec.classes:
        spec = spec.with_classes(classes)
    return spec


def uniform_policy(rng: random.Random, extremes: float = 0.0) -> Policy:
    """Each value uniform in its range (choices uniform), as random sampling draws it; with
    `extremes` > 0, a range's low or high end is taken with probability `extremes` each (the planning
    pool leans on the corners, where the widest filters are asked for)."""
    def policy(name, kind, low, high, choices):
        if kind == "choice":
            return rng.choice(choices)
        u = rng.random()
        if u < extremes:
            return low
        if u < 2 * extremes:
            return high
        return rng.randint(low, high) if kind == "int" else rng.uniform(low, high)

    return policy


def random_params(loaded: LoadedConfig, rng: random.Random, extremes: float = 0.0) -> dict:
    return suggest(Draw(uniform_policy(rng, extremes)), searched_space(loaded), loaded.base)


def _ends(kind, low, high, choices, high_end: bool):
    if kind == "choice":
        values = sorted(choices)
        return values[-1] if high_end else values[0]
    return high if high_end else low


def corner_policy(stage: str | None, depth: int | None, growth: float | None, share: str | None,
                  ratio_high: bool, factorize: bool) -> Policy:
    """One extreme of the space: `stage` (if any) as wide as its range allows and every other stage as
    narrow, `stage`'s depth `depth` and every other depth at its lowest (fewer modules leave more of
    the budget to each), stage_width_growth at `growth` (a fraction of its range), branch `share` at
    its highest weight and the others at their lowest, reduce ratios at an end, every 5x5 factorized
    or not."""
    def policy(name, kind, low, high, choices):
        key = name.rsplit(".", 1)[-1]
        if key == "factorize_5x5":
            return factorize
        if key == "depth":
            if name == f"{stage}.depth" and depth is not None:
                return min(max(depth, low), high)
            return low
        if key == "width":
            # The global width (sampled only without budget filling) at its highest; a stage's own.
            return _ends(kind, low, high, choices, name == "width" or name == f"{stage}.width")
        if key == "stage_width_growth":
            if kind == "choice":
                values = sorted(choices)
                return values[round((len(values) - 1) * (growth or 0.0))]
            return low + (high - low) * (growth or 0.0)
        if key.startswith("share_"):
            return _ends(kind, low, high, choices, key == f"share_{share}")
        if key == "reduce_ratio":
            return _ends(kind, low, high, choices, ratio_high)
        return _ends(kind, low, high, choices, True)

    return policy


GROWTH_POINTS = (0.0, 1 / 3, 2 / 3, 1.0)  # the growth factor's maximum width for a middle stage may be inside


def corner_params(loaded: LoadedConfig) -> list[dict]:
    """The extreme candidates' parameters: for every module a stage can hold (and for the stem: no
    stage favoured), the corner that asks the most of it, crossed with the other keys' ends."""
    from ..search.stages import stages_of

    space = searched_space(loaded)
    targets: list[tuple[str | None, int | None]] = [(None, None)]
    for stage in stages_of(loaded.base).values():
        searched = space.depth and stage.name in space.depth
        top = space.depth[stage.name].high if searched and hasattr(space.depth[stage.name], "high") else \
            max(space.depth[stage.name].choices) if searched else len(stage.repeatable)
        targets += [(stage.name, j + 1) for j in range(top)]
    growths = GROWTH_POINTS if space.stage_width_growth is not None else (None,)
    shares = BRANCHES if space.branch_shares is not None else (None,)
    ratios = (False, True) if space.reduce_ratio is not None else (False,)
    factorize = (False, True) if space.factorize_5x5 else (False,)
    seen: list[dict] = []
    for stage, depth in targets:
        for growth in growths:
            for share in shares:
                for ratio in ratios:
                    for fact in factorize:
                        params = suggest(Draw(corner_policy(stage, depth, growth, share, ratio, fact)), space,
                                         loaded.base)
                        if params not in seen:
                            seen.append(params)
    return seen
