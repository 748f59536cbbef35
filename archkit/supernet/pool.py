"""The planning pool: the candidates the supernet is sized for, and the plan made from them.

The widest filters a conv can be asked for are found where the space is at an extreme (one stage as
wide and every other as narrow as the ranges allow, the fewest modules around it, so budget filling
gives it the most), which `candidates.corner_params` enumerates; random candidates leaning on the
range ends are added to catch what the corners miss. A candidate asking for more than the plan
holds is refused when it is traced (`Plan.program`), never silently cut down.

Factorized and plain 5x5s are covered by construction, not by drawing mixes (`widest_forms`): a
module's form changes no width, only the module's own cost (its input is the previous module's
concatenation, whatever its form), so for the other parameters fixed, every mix of forms is filled
to a scale below the one where the sum over modules of each module's cheaper form exceeds the
budget; both forms are added at that scale, every width at or above any mix's.
"""

from __future__ import annotations

import random

from ..profile.profiler import profile_resolved
from ..search.budget import MAX_SCALE, MIN_SCALE
from ..search.config import LoadedConfig
from ..search.space import candidate
from ..search.stages import stages_of
from ..spec.loader import spec_from_data
from ..spec.models import Spec
from ..spec.resolve import resolve
from .candidates import candidate_spec, corner_params, random_params, searched_space
from .plan import Plan, make_plan
from .support import sizing_limits

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


FORM_KEY = "factorize_5x5"


def _with_form(params: dict, factorize: bool) -> dict:
    return {k: factorize if k.rsplit(".", 1)[-1] == FORM_KEY else v for k, v in params.items()}


def _relaxed_fits(loaded: LoadedConfig, forms: tuple[dict, dict], scale: float, limits: dict) -> bool:
    """Whether some mix of 5x5 forms could fit `limits` at `scale`: each layer's cost taken from the
    cheaper of the all-plain and all-factorized candidates, for each limit apart (a lower bound on
    the cost of every mix: a layer's cost depends on its own form and widths and on its input's
    width, which no form changes)."""
    cfg = loaded.config
    rows = [profile_resolved(resolve(candidate(loaded.base, p, cfg.space.divisor, scale)), "paper").rows
            for p in forms]
    return all(sum(min(getattr(a, key), getattr(b, key)) for a, b in zip(*rows, strict=True)) <= limit
               for key, limit in limits.items())


def widest_scale(loaded: LoadedConfig, forms: tuple[dict, dict], limits: dict, precision: float = 1.0005) -> float:
    """A width scale at or above the scale budget filling gives any mix of forms: the first scale
    found where no mix fits (costs and widths only grow with the scale), or MAX_SCALE where every
    scale fits, or MIN_SCALE where none does (the filler then returns its smallest candidate)."""
    def fits(scale: float) -> bool:
        return _relaxed_fits(loaded, forms, scale, limits)

    lo, hi = 1.0, None
    if fits(1.0):
        scale = 1.0
        while scale < MAX_SCALE:
            scale = min(scale * 2, MAX_SCALE)
            if not fits(scale):
                hi = scale
                break
            lo = scale
        if hi is None:
            return MAX_SCALE
    else:
        hi, scale, lo = 1.0, 1.0, None
        while scale > MIN_SCALE:
            scale = max(scale / 2, MIN_SCALE)
            if fits(scale):
                lo = scale
                break
            hi = scale
        if lo is None:
            return MIN_SCALE
    while hi / lo > precision:  # lo fits, hi does not: every filled scale is below hi
        mid = (lo * hi) ** 0.5
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return hi


def widest_forms(loaded: LoadedConfig, params: dict, classes: int | None = None) -> list[Spec]:
    """For `params` with 5x5 forms in them, the all-plain and all-factorized candidates at
    `widest_scale`: each of their convs at least as wide as in any candidate mixing the forms
    (otherwise the same parameters), as `candidate_spec` would fill it. Empty where the forms
    cannot mix (none sampled, or one for the whole network: each form is then a corner of its own)."""
    if sum(k.rsplit(".", 1)[-1] == FORM_KEY for k in params) < 2:
        return []
    cfg = loaded.config
    forms = (_with_form(params, False), _with_form(params, True))
    limits = sizing_limits(cfg.budget.limits()) if cfg.fill_budget else {}  # as candidate_spec fills
    scale = widest_scale(loaded, forms, limits) if limits else 1.0
    out = []
    for p, form in zip(forms, ("plain", "factorized"), strict=True):
        name = f"{loaded.study_name[:80]}-widest-{form}"
        spec = spec_from_data(candidate(loaded.base, p, cfg.space.divisor, scale, name).to_dict(), source=name)
        out.append(spec.with_classes(classes) if classes is not None and classes != spec.classes else spec)
    return out


def planning_pool(loaded: LoadedConfig, classes: int, samples: int = POOL_SAMPLES, seed: int = 0) -> list[Spec]:
    """The corner candidates and `samples` random ones, each as a trial makes it and (`widest_forms`)
    as wide as any mix of 5x5 forms makes it, and the study's uniform-scaling reference (the base
    filled to the budget: every study scores it, and its depths may lie outside the space's)."""
    params = [{}, *corner_params(loaded)]
    rng = random.Random(seed)
    params += [random_params(loaded, rng, POOL_EXTREMES) for _ in range(samples)]
    pool = []
    for p in params:
        pool.append(candidate_spec(loaded, p, classes=classes))
        pool += widest_forms(loaded, p, classes)
    return pool


def plan_for(loaded: LoadedConfig, classes: int, samples: int = POOL_SAMPLES, seed: int = 0) -> Plan:
    """The plan of the config's supernet: every candidate of its space within its budget."""
    return make_plan(loaded.base, planning_pool(loaded, classes, samples, seed), deepest(loaded))
