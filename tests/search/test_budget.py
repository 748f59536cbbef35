"""Budgets: analytic measurement, Optuna constraint values, and budget filling (width scaling until
a candidate uses the budget). Every cost is recomputed here with `archkit.profile`."""

from __future__ import annotations

import pytest

import archkit
from archkit.search.budget import Measured, constraint_values, feasible, fill_budget, measure
from archkit.search.space import candidate

G32 = archkit.load_spec("googlenet-32")
G = archkit.load_spec("googlenet")

PARAMS = [
    {},
    {"width": 0.5, "stage4.depth": 3, "stage3.width": 1.7},
    {"stage4.depth": 7, "inception4a.reduce_ratio": 3.0, "stage5.width": 0.3, "inception3b.factorize_5x5": True},
    {"inception4b.share_1x1": 0.1, "inception4b.share_3x3": 0.9, "inception4b.share_5x5": 0.4,
     "inception4b.share_pool": 0.2, "stage5.depth": 1},
]


def totals(spec) -> Measured:
    t = archkit.profile(spec).total
    return Measured(t.ops, t.params, t.activations)


def test_measure_is_the_profile_total():
    assert measure(G) == Measured(1_582_671_872, 6_990_272, totals(G).activations)  # Table 1's totals
    for base in (G, G32):
        for params in PARAMS:
            spec = candidate(base, params, 8, 0.7)
            assert measure(spec) == totals(spec)


def test_measure_refuses_an_impossible_candidate(write_spec):
    spec = archkit.load_spec(write_spec("""
        name: ok
        input: {size: 8}
        classes: 3
        layers:
          - {name: c, conv: {out: 4, kernel: 3}}
          - {name: g, global_avgpool: {}}
          - {name: fc, linear: {}}
        """))
    broken = spec.model_copy(update={"layers": [spec.layers[0].model_copy(update={
        "conv": spec.layers[0].conv.model_copy(update={"kernel": 9, "padding": 0})}), *spec.layers[1:]]})
    with pytest.raises(archkit.SpecError):
        measure(broken)


def test_constraint_values_and_feasible():
    m = Measured(ops=150, params=40, activations=1000)
    assert constraint_values(m, {"ops": 100, "params": 50}) == [pytest.approx(0.5), pytest.approx(-0.2)]
    assert not feasible(m, {"ops": 100, "params": 50})
    assert feasible(m, {"ops": 150, "params": 40, "activations": 1000})
    assert constraint_values(m, {"ops": 150}) == [0.0]
    assert feasible(m, {})


# (base, limits): budgets whose width granularity with divisor 1 allows filling within 2%.
BUDGETS = [
    (G32, {"ops": 20_000_000}),
    (G32, {"ops": 100_000_000}),
    (G32, {"ops": 1_000_000_000}),  # above the base's 392M: widths grow
    (G32, {"params": 1_000_000}),
    (G32, {"activations": 300_000}),
    (G32, {"ops": 50_000_000, "params": 400_000}),
    (G, {"ops": 800_000_000}),
    (G, {"ops": 3_000_000_000, "params": 20_000_000}),
]


@pytest.mark.parametrize(("base", "limits"), BUDGETS, ids=[f"{b.name}-{'-'.join(lim)}" for b, lim in BUDGETS])
def test_budget_filling_hits_the_budget_within_2_percent(base, limits):
    for params in PARAMS:
        filled = fill_budget(base, params, limits, divisor=1, name="filled")
        assert filled.feasible
        assert filled.spec == candidate(base, params, 1, filled.scale, "filled")
        m = totals(filled.spec)
        assert filled.measured == m
        for key, limit in limits.items():
            assert m.get(key) <= limit
        # The binding limit is used to within 2%.
        assert max(m.get(key) / limit for key, limit in limits.items()) >= 0.98
        # 5% wider breaks the budget: the scale found is (about) the largest that fits.
        wider = totals(candidate(base, params, 1, filled.scale * 1.05))
        assert any(wider.get(key) > limit for key, limit in limits.items())


@pytest.mark.parametrize("params", PARAMS[:3])
def test_budget_filling_with_a_coarse_divisor_finds_the_best_step(params):
    """With widths in multiples of 8, costs jump in steps: no scale gives a candidate that fits
    and uses more of the budget than the one found (a scan of 300 scales around it)."""
    limits = {"ops": 20_000_000}
    filled = fill_budget(G32, params, limits, divisor=8)
    assert filled.feasible and totals(filled.spec).ops <= 20_000_000
    best_scanned = 0
    for i in range(300):
        scale = filled.scale * 0.5 * 4 ** (i / 299)  # from half to twice the scale found
        ops = totals(candidate(G32, params, 8, scale)).ops
        if ops <= 20_000_000:
            best_scanned = max(best_scanned, ops)
    assert best_scanned == totals(filled.spec).ops


def test_budget_filling_is_deterministic():
    a = fill_budget(G32, PARAMS[1], {"ops": 30_000_000}, 8, "x")
    b = fill_budget(G32, dict(PARAMS[1]), {"ops": 30_000_000}, 8, "x")
    assert a == b


def test_an_impossible_budget_is_reported_not_met():
    filled = fill_budget(G32, {}, {"ops": 1000}, divisor=8)
    assert not filled.feasible
    assert filled.measured == totals(filled.spec)
    assert filled.measured.ops > 1000


def test_no_limits_means_no_scaling():
    # Nothing to fill: the candidate as sampled (not the widest one allowed).
    for params in PARAMS:
        filled = fill_budget(G32, params, {}, divisor=8, name="n")
        assert filled.scale == 1.0 and filled.feasible
        assert filled.spec == candidate(G32, params, 8, 1.0, "n")


def test_uniform_scaling_reference_keeps_the_papers_proportions():
    """The reference (the base scaled uniformly): every width is the base width times one scale."""
    filled = fill_budget(G, {}, {"ops": 400_000_000}, divisor=1)
    s = filled.scale
    assert 0.4 < s < 0.6  # ops grow about quadratically: sqrt(400M / 1583M) = 0.503
    for new, old in zip(filled.spec.layers, G.layers):
        assert new.name == old.name
        if old.inception is not None:
            for key in ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj"):
                assert abs(getattr(new.inception, key) - getattr(old.inception, key) * s) <= 1
        elif old.conv is not None:
            assert abs(new.conv.out - old.conv.out * s) <= 1
    assert 0.98 * 400_000_000 <= totals(filled.spec).ops <= 400_000_000
