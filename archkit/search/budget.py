"""Budgets: measuring a candidate analytically, constraint values for Optuna, and budget filling
(scaling a candidate's widths until it uses the budget, as EfficientNet's compound scaling does)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..profile.profiler import profile_resolved
from ..spec.models import Spec
from ..spec.resolve import resolve
from .space import candidate

# Widths are scaled within [1/64, 64] x the sampled ones; beyond that a candidate is surely absurd.
MIN_SCALE, MAX_SCALE = 1 / 64, 64.0


@dataclass(frozen=True)
class Measured:
    """A candidate's inference-path totals, as `archkit profile` reports them (paper convention)."""

    ops: int
    params: int
    activations: int

    def get(self, key: str) -> int:
        return getattr(self, key)


def measure(spec: Spec) -> Measured:
    """Resolve (every shape check) and profile; raises `SpecError` if the candidate cannot exist."""
    total = profile_resolved(resolve(spec), "paper").total
    return Measured(total.ops, total.params, total.activations)


def constraint_values(measured: Measured, limits: dict[str, int]) -> list[float]:
    """Optuna's convention: one value per limit, <= 0 when satisfied (here the relative excess)."""
    return [measured.get(k) / limit - 1.0 for k, limit in limits.items()]


def feasible(measured: Measured, limits: dict[str, int]) -> bool:
    return all(measured.get(k) <= limit for k, limit in limits.items())


@dataclass(frozen=True)
class Filled:
    spec: Spec
    scale: float
    measured: Measured
    feasible: bool


def fill_budget(base: Spec, params: dict, limits: dict[str, int], divisor: int, name: str | None = None,
                iterations: int = 40) -> Filled:
    """The largest width scale at which the candidate for `params` still fits every limit.

    Costs grow with the scale (ops and params about quadratically), so a bisection on log(scale)
    finds the boundary; rounding widths to the divisor makes costs a step function, so the result
    is the feasible step closest to the budget. If even the smallest scale is over budget, the
    smallest candidate is returned with `feasible=False`. Without limits there is no budget to
    fill: the candidate is returned as sampled (scale 1), not scaled up to MAX_SCALE.
    """

    def at(scale: float) -> tuple[Spec, Measured, bool]:
        spec = candidate(base, params, divisor, scale, name)
        m = measure(spec)
        return spec, m, feasible(m, limits)

    spec, m, ok = at(1.0)
    if not limits:
        return Filled(spec, 1.0, m, True)
    hi = None
    if ok:  # grow until over budget
        lo, best, scale = 1.0, (spec, 1.0, m), 1.0
        while scale < MAX_SCALE:
            scale = min(scale * 2, MAX_SCALE)
            spec, m, ok = at(scale)
            if not ok:
                hi = scale
                break
            lo, best = scale, (spec, scale, m)
        if hi is None:
            return Filled(best[0], best[1], best[2], True)
    else:  # shrink until within budget
        hi, scale, best = 1.0, 1.0, None
        while scale > MIN_SCALE:
            scale = max(scale / 2, MIN_SCALE)
            spec, m, ok = at(scale)
            if ok:
                lo, best = scale, (spec, scale, m)
                break
            hi = scale
        if best is None:
            return Filled(spec, scale, m, False)
    # Invariant: lo is feasible, hi is not.
    for _ in range(iterations):
        if hi / lo < 1.0005:
            break
        mid = math.sqrt(lo * hi)
        spec, m, ok = at(mid)
        if ok:
            lo, best = mid, (spec, mid, m)
        else:
            hi = mid
    return Filled(best[0], best[1], best[2], True)
