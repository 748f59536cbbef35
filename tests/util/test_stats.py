"""archkit's statistics against answers known without running them: hand arithmetic with textbook
t quantiles, and the intervals a recorded benchmark printed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from archkit.util.stats import bootstrap_tau, kendall_tau, mape, t_interval, welch_interval

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# Two-sided 95% Student's t quantiles t(0.975, df), from any printed table.
T975 = {2: 4.302653, 4: 2.776445, 6: 2.446912}


def test_t_interval_by_hand():
    # mean 3, s = sqrt(2.5), s / sqrt(5) = sqrt(0.5), df 4
    mean, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = T975[4] * math.sqrt(0.5)
    assert mean == 3.0 and (lo, hi) == (pytest.approx(3 - half, rel=1e-6), pytest.approx(3 + half, rel=1e-6))
    assert t_interval([0.5]) == (0.5, None, None)
    assert t_interval([0.7, 0.7, 0.7]) == (pytest.approx(0.7),) * 3  # no spread: a point


@pytest.mark.parametrize(("a", "b", "df", "se"), [
    # equal sizes and variances: df = 2 (n - 1); se^2 = 2 s^2 / n
    ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], 4, math.sqrt(2 / 3)),
    ([2.0, 4.0, 6.0, 8.0], [1.0, 3.0, 5.0, 7.0], 6, math.sqrt(2 * (20 / 3) / 4)),
    # one side constant: Welch-Satterthwaite gives the other side's n - 1
    ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 2, math.sqrt(1 / 3)),
])
def test_welch_interval_by_hand(a, b, df, se):
    delta, lo, hi = welch_interval(a, b)
    assert delta == pytest.approx(1.0)
    assert (lo, hi) == (pytest.approx(1 - T975[df] * se, rel=1e-6), pytest.approx(1 + T975[df] * se, rel=1e-6))


def test_welch_interval_edge_cases():
    assert welch_interval([0.9], [0.8]) == (pytest.approx(0.1), None, None)  # one seed: no interval
    assert welch_interval([0.9, 0.9], [0.8, 0.8]) == (pytest.approx(0.1),) * 3  # no spread: a point


def test_mape_and_tau_by_hand():
    # relative errors 0.1, 0.1, 0.5, 0 -> 0.175
    assert mape([110, 90, 3, 7], [100, 100, 2, 7]) == pytest.approx(0.175)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(2 / 3)  # one of 6 pairs discordant
    assert kendall_tau([1, 2, 3], [5, 5, 5]) is None and kendall_tau([1], [2]) is None


def test_bootstrap_tau_reproduces_a_recorded_benchmark():
    """`archkit bench proxy` on the demo (2026-11-30) printed val top-1 after one epoch against the
    final recipe as tau +0.012 [-0.273, +0.304] over 30 candidates (bootstrap seed 0) and +0.131
    [-0.514, +0.808] over the top quartile (8 candidates, seed 100, where 8 of 2000 resamples have a
    constant side and are dropped), computed then by a hand-vectorized tau-b."""
    recorded = json.loads((BENCHMARKS / "2026-11-30-proxy-demo-2M.json").read_text())
    row = next(p for p in recorded["proxies"] if p["key"] == "val_top1@1")
    scored = [c for c in recorded["candidates"] if c["ground_truth"] is not None]
    proxy, truth = [c["proxies"]["val_top1@1"] for c in scored], [c["ground_truth"] for c in scored]
    top = sorted(range(len(truth)), key=lambda i: -truth[i])[:math.ceil(len(truth) / 4)]

    overall = bootstrap_tau(proxy, truth, 2000, seed=0)
    assert (overall["tau"], overall["n"], overall["resamples"]) == (pytest.approx(row["tau"]), 30, 2000)
    assert (overall["low"], overall["high"]) == (pytest.approx(row["low"]), pytest.approx(row["high"]))
    in_top = bootstrap_tau([proxy[i] for i in sorted(top)], [truth[i] for i in sorted(top)], 2000, seed=100)
    assert (in_top["n"], in_top["resamples"]) == (8, 1992)
    assert (in_top["low"], in_top["high"]) == (pytest.approx(row["top_low"]), pytest.approx(row["top_high"]))


def test_bootstrap_tau_without_an_interval():
    assert bootstrap_tau([1, 2], [2, 1])["low"] is None  # too few to resample
    assert bootstrap_tau([1, 2, 3], [4, 4, 4]) == {"tau": None, "low": None, "high": None, "n": 3, "resamples": 0}
    # perfectly concordant: every defined resample has tau 1
    r = bootstrap_tau([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], 200, seed=1)
    assert (r["tau"], r["low"], r["high"]) == (pytest.approx(1.0),) * 3 and 190 < r["resamples"] <= 200
