"""`archkit bench search`: its statistics and a real (tiny) run end to end."""

from __future__ import annotations

import random

import pytest
from scipy.stats import kendalltau

from archkit.bench.search_bench import _kendall_tau, _longer, print_results, run


@pytest.mark.parametrize("seed", range(6))
def test_kendall_tau_b_matches_scipy_with_ties(seed):
    rng = random.Random(seed)
    a = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(12)]  # few values: many ties
    b = [x + rng.choice([-0.15, 0.0, 0.15]) for x in a]
    assert _kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic)


def test_kendall_tau_extremes():
    assert _kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert _kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


def test_longer_triples_what_the_recipe_counts():
    assert _longer({"epochs": 2, "lr": 0.05}) == {"epochs": 6, "lr": 0.05}
    assert _longer({"steps": 4, "batch_size": 16}) == {"steps": 12, "batch_size": 16}


def test_a_tiny_bench_runs_every_part(capsys):
    r = run(trials=2, seeds=1, tau_sample=2, recipe={"steps": 2, "batch_size": 16, "lr": 0.05})
    assert [(row["sampler"], row["seed"]) for row in r["studies"]] == [("tpe", 0), ("random", 0)]
    # Trial 0 of both studies is the same uniform-scaling reference, trained with the same seed.
    assert r["studies"][0]["reference"] == r["studies"][1]["reference"]
    assert all(0.0 <= row["best"] <= 1.0 for row in r["studies"])
    assert 0.0 < r["overhead_share"] < 1.0
    assert [row["trial"] for row in r["tau_sample"]] == [0, 1]
    assert [row["reference"] for row in r["tau_sample"]] == [True, False]
    assert r["recipe"]["steps"] == 2 and -1.0 <= r["tau"] <= 1.0
    print_results(r)
    out = capsys.readouterr().out
    assert "Kendall's tau-b, 2 candidates" in out and "0 (reference)" in out
