"""The planning pool: the candidates the supernet is sized for, and the plan made from them.

The widest filters a conv can be asked for are found where the space is at an extreme (one stage as
wide and every other as narrow as the ranges allow, the fewest modules around it, so budget filling
gives it the most), which `candidates.corner_params` enumerates; random candidates leaning on the
range ends are added to catch what the corners miss. A candidate asking for more than the plan
holds is refused when it is traced (`Plan.program`), never silently cut down.
"""

from __future__ import annotations

import random

from ..search.config import LoadedConfig
from ..search.stages import stages_of
from ..spec.models import Spec
from .candidates import candidate_spec, corner_params, random_params, searched_space
from .plan import Plan, make_plan

POOL_SAMPLES = 200  # random candidates beside the corners
POOL_EXTREMES = 0.3  # probability of each range end when drawing them


def deepest(loaded: LoadedConfig) -> dict[str, int]:
    """The most modules each stage can have in the space."""
    space = searched_space(loaded)
    out = {}
    for stage in stages_of(loaded.base).values():
        param = (space.depth or {}).get(stage.name)
        if param is None:
            out[stage.name] = len(stage.repeatable)
        else:
            out[stage.name] = param.high if hasattr(param, "high") else max(param.choices)
    return out


def planning_pool(loaded: LoadedConfig, classes: int, samples: int = POOL_SAMPLES, seed: int = 0) -> list[Spec]:
    """The corner candidates and `samples` random ones, each as a trial makes it, and the study's
    uniform-scaling reference (the base filled to the budget: every study scores it, and its depths
    may lie outside the space's)."""
    params = [{}, *corner_params(loaded)]
    rng = random.Random(seed)
    params += [random_params(loaded, rng, POOL_EXTREMES) for _ in range(samples)]
    return [candidate_spec(loaded, p, classes=classes) for p in params]


def plan_for(loaded: LoadedConfig, classes: int, samples: int = POOL_SAMPLES, seed: int = 0) -> Plan:
    """The plan of the config's supernet: every candidate of its space within its budget."""
    return make_plan(loaded.base, planning_pool(loaded, classes, samples, seed), deepest(loaded))
