"""`archkit bench latency --quick` end to end; its scores on rows whose tau and MAPE are known by hand,
and against scipy's tau on the rows it returns."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from archkit.bench.latency_bench import builtin_at, print_results, run, scores, within
from archkit.latency.table import _OPEN


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


# Four networks whose scores are known by hand: predicted 1, 2, 3, 4 ms against measured 1, 2, 4, 3.
# Of the 6 pairs only (3rd, 4th) is discordant: tau = (5 - 1) / 6 = 2/3. The relative errors are
# 0, 0, 1/4 and 1/3: MAPE = (1/4 + 1/3) / 4 = 7/48 (14.6%); 2 of 4 within +-10%. Multiply-adds rank
# like the prediction (tau 2/3); the roofline predicts 2 ms everywhere (constant: tau undefined,
# MAPE (1 + 0 + 1/2 + 1/3) / 4 = 11/24); the estimate is exact (tau 1, MAPE 0).
KNOWN = [{"predicted_ms": p, "measured_ms": m, "measured_median_ms": 2 * m, "ops": 10 * p, "roofline_ms": 2.0,
          "estimated_ms": m, "first_predicted_ms": 2 * m} for p, m in ((1, 1), (2, 2), (3, 4), (4, 3))]


def test_scores_on_rows_known_by_hand():
    s = scores(KNOWN)
    assert s["n"] == 4
    assert s["tau"] == pytest.approx(2 / 3) and s["tau_ops"] == pytest.approx(2 / 3)
    assert s["mape"] == pytest.approx(7 / 48) and s["within_10pct"] == 0.5
    assert s["tau_roofline"] is None and s["mape_roofline"] == pytest.approx(11 / 24)
    assert s["tau_estimated"] == pytest.approx(1.0) and s["mape_estimated"] == 0.0
    assert s["tau_first"] == pytest.approx(1.0) and s["mape_first"] == pytest.approx(1.0)  # every one 2x
    # against the median (twice the fastest here): |p - 2m| / 2m = 1/2, 1/2, 5/8, 1/3
    assert scores(KNOWN, "measured_median_ms")["mape"] == pytest.approx((1 / 2 + 1 / 2 + 5 / 8 + 1 / 3) / 4)


def test_end_to_end_tau_is_scipys(result):
    from scipy.stats import kendalltau

    rows = result["rows"]
    measured = [r["measured_ms"] for r in rows]
    s = result["scores"]["all"]
    assert s["n"] == len(rows) and result["scores"]["candidates"]["n"] == 4
    assert s["tau"] == pytest.approx(kendalltau([r["predicted_ms"] for r in rows], measured).statistic)
    tau_ops = kendalltau([r["ops"] for r in rows], measured).statistic
    assert s["tau_ops"] is None if math.isnan(tau_ops) else s["tau_ops"] == pytest.approx(tau_ops)
    for r in rows:  # the error column is the prediction's against the fastest block
        assert r["error"] == pytest.approx(r["predicted_ms"] / r["measured_ms"] - 1)


def test_print_results_shows_the_scores(result, capsys):
    shown = {**result, "scores": {"all": scores(KNOWN), "candidates": None, "builtins": None},
             "scores_median": {"all": None, "candidates": None, "builtins": None}}
    print_results(shown)
    out = capsys.readouterr().out
    assert "archkit bench latency" in out and "--quick" in out
    line = next(line for line in out.splitlines() if line.strip("│┃ ").startswith("all"))
    cells = [c.strip() for c in line.strip("│┃ ").split("│")]
    assert cells[:5] == ["all", "4", "+0.667", "14.6%", "50%"]  # n, tau, MAPE, within +-10%
    assert "MAPE <= 15%, tau above mult-adds'): not met" in out  # tau 0.667 < 0.9


def test_helpers():
    assert within([110, 80, 100], [100, 100, 100]) == pytest.approx(2 / 3)
    spec = builtin_at("inception-v3", 160)
    assert spec.input.hw == (160, 160) and spec.aux == [] and spec.name == "inception-v3@160"
    assert builtin_at("googlenet", None).name == "googlenet"
