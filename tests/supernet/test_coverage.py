"""The plan covers every candidate of the space by construction: candidates that mix factorized and
plain 5x5s within a stage (the mix budget filling makes widest) fit without redraws."""

from __future__ import annotations

import random

import pytest

from archkit.supernet import SupernetError
from archkit.supernet import pool as pool_module
from archkit.supernet.candidates import candidate_spec, corner_params, random_params

from .conftest import load

DRAWS = 300  # random candidates per study, leaning on the range ends, beside the mixed corners
MIXES = 3  # random mixes of 5x5 forms per corner of the space


def _mixed(loaded, rng: random.Random) -> list:
    """Every corner of the space with its modules' 5x5 forms drawn at random, and random candidates
    leaning on the range ends, as a trial makes them (the study's own budget: 2M)."""
    params = []
    for p in corner_params(loaded):
        for _ in range(MIXES):
            params.append({k: rng.random() < 0.5 if k.endswith("factorize_5x5") else v for k, v in p.items()})
    params += [random_params(loaded, rng, 0.3) for _ in range(DRAWS)]
    return [candidate_spec(loaded, p, classes=loaded.base.classes) for p in params]


def _outside(plan, specs) -> list[str]:
    out = []
    for spec in specs:
        try:
            plan.program(spec)
        except SupernetError as exc:
            out.append(str(exc))
    return out


@pytest.mark.parametrize("study", ["demo.yaml", "small-space.yaml"])
def test_every_drawn_candidate_fits_the_plan(study):
    loaded = load(study, budget="2M")
    specs = _mixed(loaded, random.Random(7))
    forms = [{inc.inception.factorize_5x5 for inc in s.layers if inc.inception is not None} for s in specs]
    if study == "demo.yaml":  # forms per module: most candidates mix them
        assert sum(len(f) == 2 for f in forms) > len(specs) / 2
    plan = pool_module.plan_for(loaded, classes=loaded.base.classes, samples=0)  # corners only, no random pool
    assert _outside(plan, specs) == []


def test_the_mixes_drawn_reach_past_the_pure_forms(monkeypatch):
    """Without the widest mixes in the pool (the corners' pure forms only), some drawn mixes ask for
    more than the plan holds (a stage-3 5x5 branch of 12 where it holds 8): the test above would see
    the gap."""
    loaded = load("demo.yaml", budget="2M")
    specs = _mixed(loaded, random.Random(7))
    monkeypatch.setattr(pool_module, "widest_forms", lambda *a, **k: [])
    outside = _outside(pool_module.plan_for(loaded, classes=loaded.base.classes, samples=0), specs)
    assert outside and all("outside the supernet" in why for why in outside)


def test_widest_forms_are_at_least_as_wide_as_a_filled_mix():
    loaded = load("demo.yaml", budget="2M")
    rng = random.Random(3)
    for _ in range(5):
        params = random_params(loaded, rng)
        widest = pool_module.widest_forms(loaded, params)
        assert len(widest) == 2
        real = candidate_spec(loaded, params)
        for a, w in zip(real.layers, widest[0].layers, strict=True):
            if a.inception is not None:
                for key in ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj"):
                    assert getattr(a.inception, key) <= getattr(w.inception, key)
