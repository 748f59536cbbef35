"""`archkit bench latency --quick` end to end, and its scores recomputed from the rows it returns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from archkit.bench.latency_bench import builtin_at, mape, print_results, run, within
from archkit.latency.model import _OPEN


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    _OPEN.clear()
    r = run(quick=True, builtins=(("googlenet-32", 16),), cache_dir=tmp_path_factory.mktemp("cache"))
    _OPEN.clear()
    return r


def test_quick_mode_runs_end_to_end(result):
    rows = result["rows"]
    assert [row["kind"] for row in rows] == ["candidate"] * 4 + ["builtin"]
    assert rows[-1]["name"] == "googlenet-32@16"
    for row in rows:
        for key in ("predicted_ms", "measured_ms", "roofline_ms", "estimated_ms", "first_predicted_ms"):
            assert row[key] > 0 and math.isfinite(row[key]), key
        # measured: the fastest block over the rounds; the median and quartiles of the same blocks
        assert row["measured_ms"] <= row["measured_q1_ms"] <= row["measured_median_ms"] <= row["measured_q3_ms"]
        assert row["measured_samples"] == 2 * 2  # quick: 2 rounds of 2 blocks
        assert row["ops"] > 0 and row["units"] > 0
    assert result["table"]["entries"] > 0
    assert not result["table"]["saved"] and not list(Path(result["table"]["path"]).parent.glob("*.json"))
    assert result["calibration"]["probes"] == 3 and result["calibration"]["scale"] >= 1.0
    assert result["table"]["build_seconds"] > 0 and result["table"]["status_at_start"] == "new"
    assert result["threads"] >= 1 and result["cpu"] and result["torch"] and result["date"]
    assert set(result["scores"]) == {"all", "candidates", "builtins"} and result["scores"]["builtins"] is None


def test_scores_are_scipys_tau_and_the_hand_mape(result):
    from scipy.stats import kendalltau

    rows = result["rows"]
    predicted = [r["predicted_ms"] for r in rows]
    measured = [r["measured_ms"] for r in rows]
    s = result["scores"]["all"]
    assert s["n"] == len(rows)
    assert s["tau"] == pytest.approx(kendalltau(predicted, measured).statistic)
    tau_ops = kendalltau([r["ops"] for r in rows], measured).statistic
    assert s["tau_ops"] is None if math.isnan(tau_ops) else s["tau_ops"] == pytest.approx(tau_ops)
    by_hand = sum(abs(p - m) / m for p, m in zip(predicted, measured)) / len(rows)
    assert s["mape"] == pytest.approx(by_hand)
    assert s["within_10pct"] == sum(abs(p - m) <= 0.1 * m for p, m in zip(predicted, measured)) / len(rows)
    cands = result["scores"]["candidates"]
    assert cands["n"] == 4
    median = result["scores_median"]["all"]
    assert median["mape"] == pytest.approx(
        sum(abs(r["predicted_ms"] - r["measured_median_ms"]) / r["measured_median_ms"] for r in rows) / len(rows))


def test_print_results(result, capsys):
    print_results(result)
    out = capsys.readouterr().out
    assert "archkit bench latency" in out and "MAPE" in out and "--quick" in out


def test_helpers():
    assert mape([110, 90], [100, 100]) == pytest.approx(0.1)
    assert within([110, 80, 100], [100, 100, 100]) == pytest.approx(2 / 3)
    spec = builtin_at("inception-v3", 160)
    assert spec.input.hw == (160, 160) and spec.aux == [] and spec.name == "inception-v3@160"
    assert builtin_at("googlenet", None).name == "googlenet"
