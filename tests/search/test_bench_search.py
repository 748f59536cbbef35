"""`archkit bench search`: its statistics against scipy and hand arithmetic, and real (tiny) runs
end to end: with a fake trainer (every part, exact counts) and through the command (`--quick`)."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

import archkit
from archkit.bench.search_bench import MergeError, kendall_tau, merge, print_results, run, summarize, t_interval
from archkit.cli import app

from ..conftest import whole_images
from .conftest import FakeTrainer

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.mark.parametrize("seed", range(4))
def test_kendall_tau_is_scipys_tau_b_with_ties(seed):
    rng = random.Random(seed)
    a = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(12)]  # few values: many ties
    b = [x + rng.choice([-0.15, 0.0, 0.15]) for x in a]
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b, variant="b").statistic)
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None  # undefined: constant input


def test_t_interval_by_hand():
    values = [0.02, 0.05, -0.01, 0.04]
    m, lo, hi = t_interval(values)
    half = 3.182446305284263 * statistics.stdev(values) / 2  # t(0.975, 3) from a table
    assert m == pytest.approx(0.025) and (lo, hi) == (pytest.approx(0.025 - half), pytest.approx(0.025 + half))
    assert t_interval([0.3]) == (0.3, None, None)


def row(seed, default_test, random_test, ref_test, conclusion, rconclusion="not distinguishable"):
    def side(best, concl, trial):
        # (the search's score made to disagree with the test score: 1 - test top-1)
        return {"best_test": best, "search_val": round(1 - best, 9), "reference_test": ref_test,
                "delta": best - ref_test, "conclusion": concl,
                "recipe": {"epochs": 10},
                "proxy_pairs": [{"trial": 0, "search_val": 0.3, "final_val": 0.8},
                                {"trial": trial, "search_val": best, "final_val": best}]}

    return {"budget": "3M", "seed": seed, "default": side(default_test, conclusion, 5),
            "random": side(random_test, rconclusion, 7)}


def test_summary_by_hand():
    rows = [row(0, 0.90, 0.85, 0.80, "better"), row(1, 0.84, 0.86, 0.82, "not distinguishable"),
            row(2, 0.88, 0.88, 0.79, "better"), row(3, 0.70, 0.75, 0.78, "worse", "worse")]
    s = summarize(rows)
    assert s["studies"] == 4
    assert s["default"]["better"] == 0.5 and s["default"]["worse"] == 0.25 and s["random"]["worse"] == 0.25
    assert s["default_over_random"] == (1 + 0 + 0.5 + 0) / 4
    assert s["default_over_random_search"] == (0 + 1 + 0.5 + 1) / 4  # on the search's score: 1 - test
    gains = [0.10, 0.02, 0.09, -0.08]
    ci = stats.t.interval(0.95, 3, loc=statistics.mean(gains), scale=stats.sem(gains))
    assert s["default"]["gain"] == pytest.approx(statistics.mean(gains))
    assert s["default"]["gain_ci95"] == [pytest.approx(ci[0]), pytest.approx(ci[1])]
    # the reference's pair is the same in both studies of a seed: counted once (4 seeds x 3 pairs)
    assert s["proxy_pairs"] == 12


def test_a_tiny_bench_with_a_fake_trainer_runs_every_part(capsys):
    fake = FakeTrainer()
    r = run(budgets=("20M",), seeds=2, trials=3, final_seeds=2, recipe={"epochs": 1, "batch_size": 16}, train=fake,
            config=STUDIES / "small-space.yaml")
    assert r["config"]["space"]["share_module_params"] == "network"  # the config's space was searched
    assert [(x["budget"], x["seed"]) for x in r["rows"]] == [("20M", 0), ("20M", 1)]
    confirmations = [c for c in fake.calls if c["score_test"]]
    # per study seed: each study's best and the reference, 2 seeds each; a network retrained with a
    # seed another study of the seed already retrained it with (always the reference, sometimes a
    # best both found) is reused, not trained again
    keys = [(c["spec"].model_copy(update={"name": ""}).to_dict().__repr__(), c["seed"]) for c in confirmations]
    assert len(keys) == len(set(keys)) and len(confirmations) <= 2 * (2 + 2 + 2)
    assert len(confirmations) + r["confirmations_reused"] == 2 * 2 * (2 + 2)
    assert all(c["epochs"] == 3 for c in confirmations)  # 3x the trial's recipe
    for x in r["rows"]:
        assert x["default"]["reference_test"] == x["random"]["reference_test"]
        # the confirmed best's own spec, as the study stored it: the network the confirmation retrained
        best = [c["spec"] for c in confirmations if c["spec"].name.endswith(f"-trial{x['default']['best_trial']}")
                and c["spec"].name.startswith(f"b20M-default-{x['seed']}")]
        assert best and archkit.spec_from_yaml(x["default"]["spec"]).to_dict() == best[0].to_dict()
        for s in ("default", "random"):
            assert x[s]["delta"] == pytest.approx(x[s]["best_test"] - x[s]["reference_test"])
    assert r["default_sampler"] in ("gp", "tpe")  # what `sampler: auto` chose for 3 trials
    import torch

    assert r["machine"]["threads"] == torch.get_num_threads() and r["machine"]["cpu"]
    assert merge([r, {**r, "rows": [], "machine": {"cpu": "other", "threads": 1}}])["machines"] == sorted(
        [r["machine"], {"cpu": "other", "threads": 1}], key=lambda m: json.dumps(m, sort_keys=True))
    assert set(r["summary"]) == {"20M"} and r["summary"]["20M"]["studies"] == 2
    print_results(r)
    out = capsys.readouterr().out
    assert "per budget" in out and "per-trial overhead" in out and "bench took" in out


def test_an_interrupted_bench_resumes_from_its_work_folder(tmp_path):
    from archkit.bench.search_bench import WorkError

    args = dict(budgets=("20M",), seeds=1, trials=3, final_seeds=2, recipe={"epochs": 1, "batch_size": 16},
                config=STUDIES / "small-space.yaml")
    whole = FakeTrainer()
    uninterrupted = run(train=whole, **args)  # in a temporary folder
    # the default study: 3 trials + 2 x 2 confirmation runs; then the random study's first trial; stop in its second
    stopped = FakeTrainer(interrupt_at=9)
    with pytest.raises(KeyboardInterrupt):
        run(train=stopped, work=tmp_path / "w", **args)
    resumed = FakeTrainer()
    r = run(train=resumed, work=tmp_path / "w", **args)
    # nothing of the finished default study is trained again: neither its trials nor its confirmation
    assert not any(c["spec"].name.startswith("b20M-default-0") for c in resumed.calls)
    # nor the reference for the random study's confirmation: the stopped run retrained it (seeds 2 x), and
    # its results were kept in the work folder
    def network(spec):
        return {k: v for k, v in spec.to_dict().items() if k not in ("name", "description", "source")}

    reference = [c for c in stopped.calls if c["score_test"]][0]["spec"]
    assert not any(c["score_test"] and network(c["spec"]) == network(reference) for c in resumed.calls)
    assert r["rows"][0]["resumed"] == ["default", "random"]
    assert r["rows"][0]["random"]["trials"] == 4  # 1 kept, the interrupted one (recorded as failed), 2 run now
    assert len([c for c in resumed.calls if not c["score_test"]]) == 2
    same = {k: v for k, v in r["rows"][0]["default"].items() if k != "search_seconds"}
    assert same == {k: v for k, v in uninterrupted["rows"][0]["default"].items() if k != "search_seconds"}
    # a finished study's seconds are its trials' own: the resumed call ran none of them
    assert 0 < r["rows"][0]["default"]["search_seconds"] <= uninterrupted["rows"][0]["default"]["search_seconds"] * 5
    with pytest.raises(WorkError, match=r"holds a benchmark run with other settings \(trials\)"):
        run(train=FakeTrainer(), work=tmp_path / "w", **{**args, "trials": 4})


def test_a_seed_uniform_scaling_cannot_confirm_is_recorded_and_the_bench_goes_on(capsys):
    import archkit
    from archkit.search.budget import MIN_SCALE
    from archkit.search.space import candidate

    # demo.yaml's base at the smallest widths budget filling reaches (1/64, divisor 4) is over 700K
    # multiply-adds: that budget has no uniform-scaling reference; 3M has one.
    smallest = archkit.profile(candidate(archkit.load_spec("googlenet-32"), {}, 4, MIN_SCALE, "g")).total.ops
    assert 700_000 < smallest < 3_000_000
    fake = FakeTrainer()
    r = run(budgets=("700K", "3M"), seeds=1, trials=3, final_seeds=2, recipe={"epochs": 1, "batch_size": 16},
            train=fake, config=STUDIES / "demo.yaml")
    skipped, kept = r["rows"]
    assert (skipped["budget"], kept["budget"]) == ("700K", "3M") and set(kept) >= {"default", "random"}
    assert set(skipped["unconfirmed"]) == {"default", "random"} and "default" not in skipped
    for why in skipped["unconfirmed"].values():
        assert "uniform scaling cannot meet the budget" in why and "ops > 700K" in why
    assert r["summary"]["700K"] == {"studies": 0, "unconfirmed": 1}
    assert r["summary"]["3M"]["studies"] == 1 and r["summary"]["3M"]["unconfirmed"] == 0
    assert r["final_recipe"] == kept["default"]["recipe"]
    # nothing under 700K was retrained for a verdict; the 3M seed was
    assert all(archkit.profile(c["spec"]).total.ops > 700_000 for c in fake.calls if c["score_test"])
    print_results(r)
    out = capsys.readouterr().out
    assert "not confirmed" in out and "700K: 1 study seed(s) could not be confirmed" in out
    assert merge([r])["summary"] == r["summary"]


def test_bench_search_quick_through_the_command(tmp_path):
    out = tmp_path / "bench.json"
    work = tmp_path / "work"
    result = CliRunner().invoke(app, ["bench", "search", "--quick", "--budgets", "3M", "-o", str(out),
                                      "--config", str(STUDIES / "demo.yaml"), "--work", str(work)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in work.glob("*.journal")) == ["b3M-default-0.journal", "b3M-random-0.journal"]
    data = json.loads(out.read_text())
    assert data["budgets"] == ["3M"] and len(data["rows"]) == 1
    x = data["rows"][0]["default"]
    assert x["conclusion"] in ("better", "worse", "not distinguishable")
    assert 0.0 <= x["best_test"] <= 1.0 and data["final_seeds"] == 2
    assert whole_images(2 * x["best_test"], 359)  # the mean of 2 seeds' test top-1 on digits' 359 test images
    # the work folder of another benchmark: refused in one line before anything runs
    settings = json.loads((work / "bench.json").read_text())
    (work / "bench.json").write_text(json.dumps({**settings, "trials": 99}))
    bad = CliRunner().invoke(app, ["bench", "search", "--quick", "--budgets", "3M", "--config", str(STUDIES / "demo.yaml"),
                                   "--work", str(work)])
    assert bad.exit_code == 2 and bad.stderr == (f"error: --work {work} holds a benchmark run with other settings "
                                                 f"(trials); give a new folder, or the same options as before\n")
    bad = CliRunner().invoke(app, ["bench", "search", "--budgets", "12Q"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --budgets: ")
    bad = CliRunner().invoke(app, ["bench", "search", "--config", str(tmp_path / "none.yaml")])
    assert bad.exit_code == 2 and bad.stderr == f"error: --config {tmp_path / 'none.yaml'}: no such search config file\n"


def part(rows, **changes):
    """A bench search result as `run` writes it, holding `rows` (the summary is merge's to compute)."""
    base = {"date": "2026-11-30", "budgets": sorted({r["budget"] for r in rows}), "seeds": [r["seed"] for r in rows],
            "trials_per_study": 10, "final_seeds": 5, "recipe": {"epochs": 4}, "final_recipe": {"epochs": 10},
            "default_sampler": "gp", "rows": rows, "summary": {}, "overhead_share": 0.0,
            "trial_times": [{"total": 10.0, "overhead": 0.1}], "bench_seconds": 100.0,
            "config": {"path": "studies/demo.yaml", "base": "googlenet-32", "data": "digits"}}
    return {**base, **changes}


def test_parts_run_apart_merge_into_the_summary_of_all_rows():
    rows = [row(0, 0.90, 0.85, 0.80, "better"), row(1, 0.84, 0.86, 0.82, "not distinguishable"),
            row(2, 0.88, 0.88, 0.79, "better"), row(3, 0.70, 0.75, 0.78, "worse", "worse")]
    a = part(rows[2:], trial_times=[{"total": 10.0, "overhead": 0.1}, {"total": 30.0, "overhead": 0.3}])
    b = part(rows[:2], trial_times=[{"total": 20.0, "overhead": 1.0}], bench_seconds=50.0)
    merged = merge([a, b])
    assert [r["seed"] for r in merged["rows"]] == [0, 1, 2, 3] and merged["seeds"] == [0, 1, 2, 3]
    assert merged["summary"]["3M"] == summarize(rows)  # as if run in one go
    assert merged["overhead_share"] == pytest.approx(1.4 / 60.0)  # pooled trial seconds, not a mean of shares
    assert merged["trial_seconds_median"] == 20.0 and merged["bench_seconds"] == 150.0 and merged["parts"] == 2


def test_merge_refuses_parts_of_other_settings_or_a_seed_twice(tmp_path):
    a, b = part([row(0, 0.9, 0.85, 0.8, "better")]), part([row(1, 0.9, 0.85, 0.8, "better")], final_seeds=3)
    with pytest.raises(MergeError, match="b.json differs from a.json in 'final_seeds'"):
        merge([a, b], ["a.json", "b.json"])
    net = {"directory": "runs/a", "limits": {"ops": 2e6}, "step": 160, "seconds": 137.0}
    with pytest.raises(MergeError, match="b.json differs from a.json in its supernet"):
        merge([part([row(0, 0.9, 0.85, 0.8, "better")], supernet=net),
               part([row(1, 0.9, 0.85, 0.8, "better")], supernet={**net, "step": 320})], ["a.json", "b.json"])
    # the same supernet, recorded with other facts (a newer part knows more of it): one benchmark
    merged = merge([part([row(0, 0.9, 0.85, 0.8, "better")], supernet=net),
                    part([row(1, 0.9, 0.85, 0.8, "better")], supernet={**net, "down_to": None})])
    assert merged["supernet"] == net and merged["summary"]["3M"]["studies"] == 2
    with pytest.raises(MergeError, match="part 2: budget 3M seed 0 is in an earlier part too"):
        merge([a, part([row(0, 0.9, 0.85, 0.8, "better")])])
    # through the command: one line, exit 2
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    (tmp_path / "c.json").write_text("{not json")
    for args, message in (([tmp_path / "a.json", tmp_path / "b.json"], "differs from"),
                          ([tmp_path / "c.json"], "not a bench search JSON file"),
                          ([tmp_path / "none.json"], "no such file")):
        result = CliRunner().invoke(app, ["bench", "search", *[x for p in args for x in ("--merge", str(p))]])
        assert result.exit_code == 2 and result.stderr.startswith("error: --merge ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def test_merge_through_the_command_prints_and_writes_the_joined_summary(tmp_path):
    rows = [row(0, 0.90, 0.85, 0.80, "better"), row(1, 0.84, 0.86, 0.82, "not distinguishable")]
    for i, r in enumerate(rows):
        x = part([r])
        for s in ("default", "random"):
            x["rows"][0][s].update(best_trial=3, search_val=0.9, ci95=[0.01, 0.1])
        (tmp_path / f"seed{i}.json").write_text(json.dumps(x))
    out = tmp_path / "all.json"
    result = CliRunner().invoke(app, ["bench", "search", "--merge", str(tmp_path / "seed0.json"),
                                      "--merge", str(tmp_path / "seed1.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["summary"]["3M"]["studies"] == 2 and data["summary"]["3M"]["default"]["better"] == 0.5
    assert "per budget" in result.stdout


@pytest.mark.parametrize(("text", "budget"), [("2M", {"ops": 2_000_000}), ("1.5G", {"ops": 1_500_000_000}),
                                              ("4ms", {"latency_ms": 4.0}), ("2.5MS", {"latency_ms": 2.5})])
def test_budgets_are_multiply_adds_or_milliseconds(text, budget):
    from archkit.bench.search_bench import budget_of

    assert budget_of(text) == budget


@pytest.mark.parametrize("text", ["0ms", "-1ms", "fastms", "infms", "12Q"])
def test_bad_budgets_are_one_line(text):
    bad = CliRunner().invoke(app, ["bench", "search", "--budgets", text, "--config", str(STUDIES / "latency.yaml")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --budgets: ") and len(bad.stderr.splitlines()) == 1


def test_a_tiny_bench_under_a_latency_budget(quick_table):
    from archkit.latency import predict
    from archkit.search.space import candidate
    from archkit.spec import load_spec

    # a budget every machine can meet: googlenet-32 thinned to a quarter, as this machine's table predicts it
    ms = predict(candidate(load_spec("googlenet-32"), {}, 4, 0.25, "g"), table=quick_table).total_ms
    budget = f"{ms:.6f}ms"
    fake = FakeTrainer()
    r = run(budgets=(budget,), seeds=1, trials=3, final_seeds=2, recipe={"epochs": 1, "batch_size": 16}, train=fake,
            config=STUDIES / "latency.yaml")
    # the config's latency section was taken, the budget is a latency budget, every part ran
    assert r["config"]["latency"] == {"device": "cpu", "batch": 1, "precision": "fp32", "threads": 1}
    assert [(x["budget"], x["seed"]) for x in r["rows"]] == [(budget, 0)]
    assert set(r["summary"]) == {budget} and r["summary"][budget]["studies"] == 1
    # every trained network (trials and confirmations) fits the budget by the same table's prediction
    trained = {id(c["spec"]): c["spec"] for c in fake.calls}
    assert trained
    for spec in trained.values():
        assert predict(spec, table=quick_table, measure_missing=False).total_ms <= float(budget[:-2]) + 1e-9
