"""Budgets: measuring a candidate analytically, constraint values for Optuna, and budget filling
(scaling a candidate's widths until it uses the budget, as EfficientNet's compound scaling does)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..profile.profiler import profile_resolved
from ..spec.models import Spec
from ..spec.resolve import resolve
from .space import candidate

if TYPE_CHECKING:
    from .latency_cost import LatencyCost
    from .train_cost import TrainCost

# Widths are scaled within [1/64, 64] x the sampled ones; beyond that a candidate is surely absurd.
MIN_SCALE, MAX_SCALE = 1 / 64, 64.0


@dataclass(frozen=True)
class Measured:
    """A candidate's inference-path totals, as `archkit profile` reports them (paper convention),
    its predicted latency in ms when the search predicts one (else None), and the predicted peak
    bytes of one training step (`train_memory`) at the batch it trains at (`batch_size`), when
    measured (`train_cost.TrainCost`; else None). Each field is the cost of the budget limit of
    the same name (`config.Budget.limits`) and of the trial attr of the same name (`record`)."""

    ops: int
    params: int
    activations: int
    latency_ms: float | None = None
    train_memory: int | None = None
    batch_size: int | None = None

    def get(self, key: str) -> float:
        return getattr(self, key)


# Each second objective (minimized) is one of the costs above.
OBJECTIVE_COST = {"ops": "ops", "params": "params", "latency": "latency_ms"}


def measure(spec: Spec, latency: LatencyCost | None = None, *, settle: bool = True,
            train: TrainCost | None = None) -> Measured:
    """Resolve (every shape check) and profile; with `latency`, predict the latency too (`settle`:
    with every op of the network in the table, else estimated from the table as it is); with
    `train`, the batch it trains at and the predicted peak of one training step there.
    Raises `SpecError` if the candidate cannot exist."""
    r = resolve(spec)
    total = profile_resolved(r, "paper").total
    ms = None if latency is None else latency.settle(r) if settle else latency.estimate(r)
    batch, peak = train.measure(r) if train is not None else (None, None)
    return Measured(total.ops, total.params, total.activations, ms, peak, batch)


def constraint_values(measured: Measured, limits: dict[str, int]) -> list[float]:
    """Optuna's convention: one value per limit, <= 0 when satisfied (here the relative excess)."""
    return [measured.get(k) / limit - 1.0 for k, limit in limits.items()]


def feasible(measured: Measured, limits: dict[str, int]) -> bool:
    """Within every limit whose cost was measured (a caller that measures no latency or training
    memory, as `fill_budget` without them, does not bound them; a trial measures every cost it has
    a limit for)."""
    return all(measured.get(k) <= limit for k, limit in limits.items() if measured.get(k) is not None)


@dataclass(frozen=True)
class Filled:
    spec: Spec
    scale: float
    measured: Measured
    feasible: bool


# Budget filling under a latency budget: at most SETTLE_ROUNDS rounds of (fill on estimates, settle
# the chosen candidate), until a settled candidate is within the budget and uses FILL_SHARE of it.
SETTLE_ROUNDS = 4
FILL_SHARE = 0.97
RATIO_BOUNDS = (0.5, 2.0)  # how far a round's correction of the estimates may go


def fill_budget(base: Spec, params: dict, limits: dict[str, float], divisor: int, name: str | None = None,
                iterations: int = 40, latency: LatencyCost | None = None, train: TrainCost | None = None) -> Filled:
    """The largest width scale at which the candidate for `params` still fits every limit.

    Costs grow with the scale (ops and params about quadratically), so a bisection on log(scale)
    finds the boundary; rounding widths to the divisor makes costs a step function, so the result
    is the feasible step closest to the budget. If even the smallest scale is over budget, the
    smallest candidate is returned with `feasible=False`. Without limits there is no budget to
    fill: the candidate is returned as sampled (scale 1), not scaled up to MAX_SCALE.

    With `latency`, each step of the bisection estimates the latency from the table as it is
    (ops it lacks are estimated, not run: a young table's estimates run low), then the chosen
    candidate is settled: its missing ops are measured into the table and its latency predicted
    from table entries alone. Under a latency limit, a settled candidate over the limit (or using
    less than FILL_SHARE of it) starts another round, whose bisection corrects the estimates by
    the last round's settled/estimated ratio on a table that now knows more ops; after at most
    SETTLE_ROUNDS rounds the fullest settled candidate within the budget is returned (or the last
    one, infeasible). Feasibility is always decided on a settled latency, never an estimate.

    With `train` (`train_cost.TrainCost`), each step also predicts the peak training memory at the
    batch the candidate trains at: exact arithmetic, so a `train_memory` limit is filled like ops
    (with `batch_size: auto` the batch follows the widths, and a step fits while batch 1 does).
    Without `train`, a `train_memory` limit is left out: nothing here could measure it.
    """
    if train is None and "train_memory" in limits:
        limits = {k: v for k, v in limits.items() if k != "train_memory"}
    if latency is None:
        return _fill(base, params, limits, divisor, name, iterations, train=train)
    best = last = None
    ratio = 1.0
    for _ in range(SETTLE_ROUNDS if "latency_ms" in limits else 1):
        filled = _fill(base, params, limits, divisor, name, iterations, latency, ratio, train)
        r = resolve(filled.spec)
        estimate = latency.estimate(r)  # before the table learns this candidate's ops
        settled = replace(filled.measured, latency_ms=latency.settle(r))
        ok = feasible(settled, limits)
        last = Filled(filled.spec, filled.scale, settled, ok)
        if ok and (best is None or settled.latency_ms > best.measured.latency_ms):
            best = last
        if not filled.feasible or "latency_ms" not in limits:
            break  # over another limit at the smallest scale, or no latency limit to fill
        if ok and settled.latency_ms >= FILL_SHARE * limits["latency_ms"]:
            break
        ratio = min(max(settled.latency_ms / estimate, RATIO_BOUNDS[0]), RATIO_BOUNDS[1])
    return best or last


def _fill(base: Spec, params: dict, limits: dict[str, float], divisor: int, name: str | None, iterations: int,
          latency: LatencyCost | None = None, ratio: float = 1.0, train: TrainCost | None = None) -> Filled:
    """The bisection of `fill_budget`, on estimated latencies (x `ratio`) when `latency` is given."""
    def at(scale: float) -> tuple[Spec, Measured, bool]:
        spec = candidate(base, params, divisor, scale, name)
        m = measure(spec, latency, settle=False, train=train)
        if m.latency_ms is not None:
            m = replace(m, latency_ms=m.latency_ms * ratio)
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
