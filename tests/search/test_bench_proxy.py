"""`archkit bench proxy`: its statistics, a run with training faked, and a real `--quick` run end to end."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau
from typer.testing import CliRunner

from archkit.bench.proxy_bench import (
    GT_SEED_STRIDE,
    default_final_epochs,
    run,
    top_quartile,
)
from archkit.cli import app
from archkit.util.stats import bootstrap_tau, kendall_tau

from .conftest import fake_accuracy

# The demo's space under a tiny budget: candidates of ~1M multiply-adds train in well under a second.
TINY = """
name: tiny
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 2], stage4: [1, 2], stage5: [1, 1]}
  factorize_5x5: true
  divisor: 4
budget: {ops: 1M, params: 50K}
data: digits
train: {epochs: 2, batch_size: 64, lr: 0.05, warmup_epochs: 0.5}
seed: 0
"""
PROXY_KEYS = ["val_top1@1", "val_top1@2", "val_top1@4", "econas", "train_loss@2", "synflow", "naswot", "params",
              "ops"]


# --- statistics -----------------------------------------------------------------------------------


def test_kendall_tau_by_hand():
    # 10 pairs; (2, 3) and (4, 5) are discordant: tau = (8 - 2) / 10.
    assert kendall_tau([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]) == pytest.approx(0.6)
    assert kendall_tau([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]) == pytest.approx(kendalltau([1, 2, 3, 4, 5], [1, 3, 2, 5, 4]).statistic)
    # Ties: tau-b. x ties (1, 2); y ties (3, 4): P = 4, Q = 0, pairs not tied in x = 5, in y = 5.
    assert kendall_tau([1, 1, 2, 3], [1, 2, 3, 3]) == pytest.approx(4 / 5)
    assert kendall_tau([1, 2, 3], [5, 5, 5]) is None
    assert kendall_tau([1], [2]) is None


def noisy_pairs(n: int, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x.tolist(), (x + rng.normal(size=n)).tolist()


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_candidates():
    x, y = noisy_pairs(30, 0)
    small = bootstrap_tau(x, y, resamples=2000, seed=0)
    assert small["tau"] == pytest.approx(kendalltau(x, y).statistic)
    assert small["low"] < small["tau"] < small["high"] and small["resamples"] == 2000
    assert bootstrap_tau(x, y, resamples=2000, seed=0) == small  # seeded
    x, y = noisy_pairs(240, 0)
    large = bootstrap_tau(x, y, resamples=1000, seed=0)
    assert large["low"] < large["tau"] < large["high"]
    # The width shrinks about as 1/sqrt(n): sqrt(30 / 240) = 0.35.
    assert large["high"] - large["low"] < 0.6 * (small["high"] - small["low"])
    assert bootstrap_tau([1, 2], [2, 1])["low"] is None  # too few to resample


def test_top_quartile_and_final_length():
    truth = [0.1 * i for i in range(30)]
    assert sorted(top_quartile(truth)) == list(range(22, 30))  # ceil(30 / 4) = 8 best
    assert top_quartile([0.5, 0.9, 0.1, 0.7]) == [1]
    assert [default_final_epochs(e) for e in (1, 2, 3, 5)] == [6, 6, 9, 15]


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine, two threads per process spin against other
    processes' threads and small convolutions run an order of magnitude slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- a run with training faked --------------------------------------------------------------------


class FakeTrain:
    """archkit.train's signature; the accuracy depends on the network, the length and the seed."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, spec, *, data, seed, progress, epochs=None, steps=None, **recipe):
        self.calls.append({"arch": spec.name, "seed": seed, "epochs": epochs, "steps": steps, **recipe})
        acc = min(1.0, fake_accuracy(spec) + 0.01 * epochs + 0.001 * (seed % 7))
        return SimpleNamespace(val_top1=acc, history=[{"train_loss": 2.0 - acc - 0.1 * e} for e in range(epochs)])


def test_a_run_with_faked_training(tmp_path, one_thread):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.lstrip(), encoding="utf-8")
    cache = tmp_path / "runs.jsonl"
    fake = FakeTrain()
    r = run(config, candidates=5, seeds=2, cache=cache, bootstrap=200, train=fake)
    # Per candidate: 1-, 2- and 4-epoch proxy runs with the trial's seed, EcoNAS's 4 epochs on a quarter
    # of the data, then 2 final runs of 6 epochs.
    assert [c["epochs"] for c in fake.calls[:6]] == [1, 2, 4, 4, 6, 6]
    assert [c["train_fraction"] for c in fake.calls[:6]] == [1.0, 1.0, 1.0, 0.25, 1.0, 1.0]
    assert len(fake.calls) == 5 * 6 and all(c["steps"] is None and c["batch_size"] == 64 for c in fake.calls)
    seeds = [c["seed"] for c in fake.calls]
    assert seeds[:6] == [0, 0, 0, 0, GT_SEED_STRIDE, 2 * GT_SEED_STRIDE] and seeds[6] == 1
    assert r["settings"]["final_length"] == 6 and r["settings"]["unit"] == "epoch"
    assert [p["key"] for p in r["proxies"]] == PROXY_KEYS
    for row in r["candidates"]:
        assert row["ops"] <= 1_000_000 and row["params"] <= 50_000
        assert row["ground_truth"] == pytest.approx(sum(row["final_top1"]) / 2)
        assert row["proxies"]["train_loss@2"] is not None and row["proxies"]["synflow"] > 0
    assert len({row["arch"] for row in r["candidates"]}) == 5
    by_key = {p["key"]: p for p in r["proxies"]}
    truth = [row["ground_truth"] for row in r["candidates"]]
    assert by_key["val_top1@4"]["tau"] == pytest.approx(
        kendalltau([row["proxies"]["val_top1@4"] for row in r["candidates"]], truth).statistic)
    assert by_key["params"]["seconds_per_candidate"] < 1 and r["settings"]["top_quartile"] == 2
    assert r["seed_agreement"]["n"] == 5
    assert r["omitted"] == []
    json.dumps(r, allow_nan=False)  # plain JSON: no NaN or infinities

    # The same runs come from the cache: nothing retrained, the same numbers.
    again = FakeTrain()
    r2 = run(config, candidates=5, seeds=2, cache=cache, bootstrap=200, train=again)
    assert again.calls == []
    assert [row["ground_truth"] for row in r2["candidates"]] == truth
    assert all(row["cached_runs"] == 6 for row in r2["candidates"])


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY.lstrip(), encoding="utf-8")
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["bench", "proxy", *map(str, args)])
        assert "Traceback" not in result.output
        return result

    return invoke


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_options_are_one_line(cli):
    assert one_error_line(cli("--config", "tiny.yaml", "--candidates", "0")) == (
        "error: --candidates must be at least 2, got 0")
    assert one_error_line(cli("--config", "tiny.yaml", "--seeds", "0")) == "error: --seeds must be at least 1, got 0"
    assert one_error_line(cli("--config", "nope.yaml")) == "error: nope.yaml: no such search config file"
    assert one_error_line(cli("--config", "tiny.yaml", "--budget-ops", "12Q")) == (
        "error: tiny.yaml:8 budget.ops: expected a count like 1.5G, 7M or 50000, got '12Q'")
    line = one_error_line(cli("--config", "tiny.yaml", "--budget-ops", "1K", "--quick"))
    assert line.startswith("error: only 0 feasible, distinct candidates in 200 random draws")


def test_quick_end_to_end(cli, tmp_path, one_thread):
    result = cli("--config", "tiny.yaml", "--quick", "-o", "proxy.json")
    assert result.exit_code == 0, result.output
    assert "Kendall tau-b" in result.stdout and "econas: val top-1 after 4 steps on 25% of the training data" in \
        result.stdout
    assert result.stderr.count("candidate ") == 4
    r = json.loads((tmp_path / "proxy.json").read_text(encoding="utf-8"))
    assert {"date", "cpu", "torch", "config", "settings", "ground_truth", "proxies", "candidates"} <= set(r)
    assert r["settings"]["quick"] and r["settings"]["unit"] == "step" and r["settings"]["seeds"] == 1
    assert r["config"]["budget"] == {"ops": 1_000_000, "params": 50_000} and r["cpu"]
    assert [p["key"] for p in r["proxies"]] == PROXY_KEYS
    assert len(r["candidates"]) == 4
    for row in r["candidates"]:
        assert 0.0 <= row["ground_truth"] <= 1.0 and len(row["final_top1"]) == 1
        assert set(row["proxies"]) == set(PROXY_KEYS)
        assert row["proxies"]["train_loss@2"] is None  # 2 steps finish no epoch: no per-epoch loss
    by_key = {p["key"]: p for p in r["proxies"]}
    assert by_key["train_loss@2"]["n"] == 0 and by_key["train_loss@2"]["tau"] is None
    assert by_key["synflow"]["n"] == 4 and by_key["synflow"]["seconds_per_candidate"] > 0


# --- the supernet proxy, on reused ground truth ---------------------------------------------------


class StepFakeTrain(FakeTrain):
    """FakeTrain for --quick runs too (lengths in steps)."""

    def __call__(self, spec, *, data, seed, progress, epochs=None, steps=None, **recipe):
        return super().__call__(spec, data=data, seed=seed, progress=progress, epochs=epochs or steps, **recipe)


def no_training(spec, **kwargs):
    raise AssertionError(f"{spec.name} trained although its runs were reused")


def test_the_supernet_proxy_on_a_previous_runs_ground_truth(tmp_path, one_thread):
    from archkit.search.loader import load_search_config
    from archkit.supernet.sandwich import train_supernet

    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.lstrip(), encoding="utf-8")
    first = run(config, candidates=5, seeds=2, bootstrap=200, train=FakeTrain())
    (tmp_path / "first.json").write_text(json.dumps(first), encoding="utf-8")
    trained = train_supernet(load_search_config(config), tmp_path / "sn", steps=2, device="cpu", pool_samples=20)

    r = run(config, bootstrap=200, train=no_training, supernets=[tmp_path / "sn"], reuse=tmp_path / "first.json")
    assert [p["key"] for p in r["proxies"]] == [*PROXY_KEYS, "supernet"]
    assert r["reused"]["path"] == str(tmp_path / "first.json") and r["reused"]["date"] == first["date"]
    assert len(r["candidates"]) == 5
    for old, new in zip(first["candidates"], r["candidates"], strict=True):
        assert new["arch"] == old["arch"] and new["final_top1"] == old["final_top1"]
        assert {k: new["proxies"][k] for k in PROXY_KEYS} == old["proxies"]
        assert 0.0 <= new["proxies"]["supernet"] <= 1.0 and new["seconds"]["supernet"] > 0
    row = {p["key"]: p for p in r["proxies"]}["supernet"]
    scores = [c["proxies"]["supernet"] for c in r["candidates"]]
    truth = [c["ground_truth"] for c in r["candidates"]]
    expected = kendalltau(scores, truth).statistic
    if np.isnan(expected):  # two steps of training may leave every candidate at the same accuracy
        assert row["tau"] is None
    else:
        assert row["tau"] == pytest.approx(expected)
    assert row["n"] == 5 and row["seconds_per_candidate"] == pytest.approx(
        sum(c["seconds"]["supernet"] for c in r["candidates"]) / 5)
    sn = row["supernet"]
    assert sn["steps"] == 2 and sn["training_seconds"] == pytest.approx(trained.seconds)
    assert sn["params"] == sum(p.numel() for p in trained.net.parameters()) and sn["calibration_batches"] == 8
    # The other rows' taus are the first run's: the same values against the same ground truth.
    for old in first["proxies"]:
        assert {p["key"]: p for p in r["proxies"]}[old["key"]]["tau"] == old["tau"]
    json.dumps(r, allow_nan=False)


def test_supernet_options_of_the_command(cli, tmp_path, one_thread):
    first = run(tmp_path / "tiny.yaml", quick=True, bootstrap=100, train=StepFakeTrain())
    (tmp_path / "first.json").write_text(json.dumps(first), encoding="utf-8")
    result = cli("--config", "tiny.yaml", "--quick", "--reuse", "first.json", "--supernet", "sn",
                 "--supernet-epochs", "2", "-o", "out.json")
    assert result.exit_code == 0, result.output
    assert "supernet sn: trained to" in result.stderr and "(reused)" in result.stderr
    assert "one-off: the supernet's training took" in result.stdout
    r = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert r["proxies"][-1]["key"] == "supernet" and r["proxies"][-1]["supernet"]["steps"] == 2
    assert [c["ground_truth"] for c in r["candidates"]] == [c["ground_truth"] for c in first["candidates"]]

    assert one_error_line(cli("--config", "tiny.yaml", "--supernet-epochs", "2")) == (
        "error: --supernet-epochs needs a --supernet folder to train")
    first["config"]["budget"] = {"ops": 2_000_000}
    (tmp_path / "other.json").write_text(json.dumps(first), encoding="utf-8")
    assert one_error_line(cli("--config", "tiny.yaml", "--quick", "--reuse", "other.json", "--supernet", "sn")) == (
        "error: --reuse: the previous run's config.budget differs ({'ops': 2000000} vs "
        "{'ops': 1000000, 'params': 50000})")
    assert one_error_line(cli("--config", "tiny.yaml", "--reuse", "first.json", "--supernet", "sn")) == (
        "error: --reuse: the previous run's ground truth is 1 seed(s) x 6 steps, this one asks for 1 x 6 epochs")
    assert one_error_line(cli("--config", "tiny.yaml", "--quick", "--supernet", "nowhere")).startswith(
        "error: proxy supernet: no supernet in nowhere")


def test_a_budget_no_candidate_meets_is_one_line_through_the_one_handler():
    # 1,000 multiply-adds: below googlenet-32's stem at its narrowest (BenchError is an ArchkitError)
    result = CliRunner().invoke(app, ["bench", "proxy", "--budget-ops", "1000", "--quick"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: only 0 feasible, distinct candidates in 200 random draws (200 over "
                                    "budget, 0 duplicates)") and result.stderr.count("\n") == 1
