"""Latency targets on a supernet: a supernet sized by a multiply-add budget serves searches under a
latency limit beside it (candidates meet both), a latency limit alone cannot size one, and `bench
search --supernet` keeps the supernet's multiply-add limit beside a latency budget.

Latency is real: the cpu/fp32/1-thread table measured with light timing (search conftest's
`quick_table`). Timings differ between machines, so the latency limit is set from the table's own
predictions of the candidates the same study draws without it, and every latency is checked
against an independent `archkit.latency.predict` of the trial's stored spec."""

from __future__ import annotations

import optuna
import pytest
from typer.testing import CliRunner

import archkit
from archkit.bench.search_bench import run, study_budget
from archkit.cli import app
from archkit.latency import predict
from archkit.search.loader import load_search_config
from archkit.supernet import SupernetError, check_expressible

from ..search.conftest import LATENCY_THREADS, FakeTrainer
from .conftest import TINY, beside
from .test_train import invoke

OPS = 1_000_000  # TINY's budget: the supernet holds every candidate within it
SEARCH = TINY.replace("name: tiny\n", "name: tiny\nproxy: supernet\nsupernet: net\ntrials: 8\nfinal: null\n"
                      "sampler: random\npruner: none\nwarm_start: false\n")
LATENCY = f"latency: {{device: cpu, batch: 1, precision: fp32, threads: {LATENCY_THREADS}}}\n"


def with_latency(ms: float) -> str:
    return SEARCH.replace("budget: {ops: 1M}", f"budget: {{ops: 1M, latency_ms: {ms!r}}}") + LATENCY


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_supernet):
    """The tiny supernet sized by 1M multiply-adds (2 steps) in <tmp>/net beside its config."""
    return beside(tiny_supernet, tmp_path_factory.mktemp("latency"))


def search(folder, name: str, text: str, monkeypatch) -> list[optuna.trial.FrozenTrial]:
    monkeypatch.chdir(folder)
    (folder / f"{name}.yaml").write_text(text.replace("name: tiny\n", f"name: {name}\n"))
    result = CliRunner().invoke(app, ["search", f"{name}.yaml", "--no-progress"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return optuna.load_study(study_name=name, storage=f"sqlite:///studies/{name}.db").get_trials()


def test_a_latency_limit_alone_is_refused_and_beside_an_ops_limit_accepted(tmp_path):
    (tmp_path / "alone.yaml").write_text(SEARCH.replace("budget: {ops: 1M}", "budget: {latency_ms: 3}") + LATENCY)
    with pytest.raises(SupernetError, match=r"budget.latency_ms: a latency limit alone cannot size a supernet"):
        check_expressible(load_search_config(tmp_path / "alone.yaml"))
    (tmp_path / "both.yaml").write_text(with_latency(3.0))
    check_expressible(load_search_config(tmp_path / "both.yaml"))
    # Training such a config sizes the supernet by its multiply-adds; a --down-to in ms is one line.
    result = invoke(tmp_path / "both.yaml", "-o", tmp_path / "net", "--steps", 1, "--device", "cpu",
                    "--down-to", "2ms", "-q")
    assert result.exit_code == 2 and "not latency" in result.output and result.output.count("\n") == 1


def test_a_latency_search_on_the_supernet_meets_both_limits(trained, quick_table, monkeypatch):
    # The same study seed draws the same parameters with or without the latency limit (random
    # sampler): first without it, to see each candidate's latency when filled to 1M multiply-adds.
    free = [t for t in search(trained, "free", SEARCH, monkeypatch) if t.user_attrs.get("feasible")]

    def ms_of(spec) -> float:
        return predict(spec, table=quick_table, measure_missing=True).total_ms

    full_ms = {t.number: ms_of(archkit.spec_from_yaml(t.user_attrs["spec"])) for t in free}
    # Each candidate's floor: its thinnest widths (the filler's smallest scale; latency does not
    # shrink to zero with the widths). The limit is set halfway between the floor and the 1M
    # latency of the candidate with the widest gap: that one can meet it only narrower than at 1M.
    from archkit.supernet.candidates import candidate_spec

    loaded = load_search_config(trained / "free.yaml")
    floor_ms = {t.number: ms_of(candidate_spec(loaded, t.params, limits={"ops": 1})) for t in free}
    chosen = max(free, key=lambda t: full_ms[t.number] - floor_ms[t.number]).number
    assert full_ms[chosen] > floor_ms[chosen], (full_ms, floor_ms)
    limit = (full_ms[chosen] + floor_ms[chosen]) / 2
    bound = search(trained, "bound", with_latency(limit), monkeypatch)
    by_number = {t.number: t for t in bound}

    from archkit.supernet.proxy import open_scorer

    scorer = open_scorer(load_search_config(trained / "bound.yaml"))
    narrowed = 0
    try:
        for t in free:
            twin = by_number[t.number]
            assert twin.params == t.params  # the precondition of the comparison
            if not twin.user_attrs.get("feasible"):
                assert t.number != chosen
                continue  # this candidate's floor is above the limit
            spec = archkit.spec_from_yaml(twin.user_attrs["spec"])
            ms = predict(spec, table=quick_table, measure_missing=True).total_ms
            ops = archkit.profile(spec).total.ops
            assert ms <= limit + 1e-9 and ops <= OPS
            assert twin.user_attrs["latency_ms"] == pytest.approx(ms)
            assert twin.user_attrs["proxy"] == "supernet" and scorer(spec) == pytest.approx(twin.value)
            if full_ms[t.number] > limit:  # over the limit at 1M: the latency limit made it narrower
                assert ops < archkit.profile(archkit.spec_from_yaml(t.user_attrs["spec"])).total.ops
                narrowed += t.number == chosen
    finally:
        scorer.close()
    assert narrowed == 1  # the chosen candidate was found feasible and narrower


def test_bench_search_keeps_the_supernets_limit_beside_a_latency_budget(trained, quick_table, tmp_path):
    assert study_budget("3ms") == {"latency_ms": 3.0}
    assert study_budget("3ms", {"ops": OPS}) == {"ops": OPS, "latency_ms": 3.0}
    assert study_budget("2M", {"ops": OPS}) == {"ops": 2_000_000}  # (a count budget is checked by covers)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY + LATENCY)
    fake = FakeTrainer()
    r = run(budgets=("50ms",), seeds=1, trials=3, final_seeds=1, recipe={"epochs": 1, "batch_size": 16},
            train=fake, config=config, supernet=trained / "net", per_trial=2)
    (row,) = r["rows"]
    assert set(row) >= {"default", "random", "per_trial"}
    # Every network any study trained (per-trial candidates, bests, the reference) is within the
    # supernet's multiply-adds: the per-trial study searched the supernet's candidates too.
    assert fake.calls and all(archkit.profile(c["spec"]).total.ops <= OPS for c in fake.calls)
    result = CliRunner().invoke(app, ["bench", "search", "--config", str(config), "--supernet",
                                      str(trained / "net"), "--budgets", "2M", "--trials", "200"])
    assert result.exit_code == 2 and "above the supernet's largest" in result.output
