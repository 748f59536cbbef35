"""`archkit bench search --supernet`: both studies score on a trained (tiny) supernet, a per-trial
study runs beside them, the same network retrained with the same seed is trained once; bad
--supernet / --per-trial input is one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import archkit
from archkit.bench.search_bench import print_results, run
from archkit.cli import app
from archkit.search.loader import load_search_config

from ..search.conftest import FakeTrainer
from .conftest import TINY, beside


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_supernet):
    """The tiny supernet (2 steps, sized for 1M multiply-adds) in <tmp>/net beside its config."""
    return beside(tiny_supernet, tmp_path_factory.mktemp("bench"))


def test_studies_score_on_the_supernet_beside_a_per_trial_study(tiny, capsys):
    fake = FakeTrainer()
    r = run(budgets=("1M",), seeds=1, trials=5, final_seeds=2, recipe={"epochs": 1, "batch_size": 16}, train=fake,
            config=tiny / "tiny.yaml", supernet=tiny / "net", per_trial=3)
    (row,) = r["rows"]
    assert set(row) == {"budget", "seed", "default", "random", "per_trial"}
    # Only the per-trial study trains its candidates (3 trials at most: over-budget or duplicate ones are not).
    searched = [c for c in fake.calls if not c["score_test"]]
    assert 1 <= len(searched) <= 3
    assert row["default"]["trials"] == row["random"]["trials"] == 5 and row["per_trial"]["trials"] == 3
    # distinct: every trial but those that proposed a network again (each trained one is distinct)
    assert 1 <= row["default"]["distinct"] <= 5 and len(searched) <= row["per_trial"]["distinct"] <= 3

    # The supernet studies' search score is the candidate's val top-1 on the supernet, scored here anew.
    from archkit.supernet.proxy import SupernetScorer

    loaded = load_search_config(tiny / "tiny.yaml")
    scorer = SupernetScorer(loaded, tiny / "net")
    try:
        for side in ("default", "random"):
            best = row[side]
            assert 0.0 <= best["search_val"] <= 1.0
            images = scorer.batches.data.split_sizes["val"]
            assert abs(round(best["search_val"] * images) - best["search_val"] * images) < 1e-6
    finally:
        scorer.close()

    # Every confirmation retraining of one network with one seed ran once: the reference is the same
    # network in all three studies (and two studies may confirm the same best).
    retrained = [c for c in fake.calls if c["score_test"]]
    keys = [(json.dumps({k: v for k, v in c["spec"].to_dict().items() if k != "name"}, sort_keys=True), c["seed"])
            for c in retrained]
    assert len(keys) == len(set(keys))
    requested = 3 * 2 * 2  # three studies, each a best and the reference, 2 seeds each
    assert len(retrained) + r["confirmations_reused"] == requested
    assert r["confirmations_reused"] >= 2 * 2  # at least the reference's, in the random and per-trial studies
    assert len({k for k, c in zip(keys, retrained) if c["spec"].name.endswith("trial0")}) == 2  # the reference, once a seed

    s = r["summary"]["1M"]
    expected = 1.0 if row["default"]["search_val"] > row["random"]["search_val"] else \
        0.5 if row["default"]["search_val"] == row["random"]["search_val"] else 0.0
    assert s["default_over_random_search"] == expected
    assert set(s) >= {"per_trial", "default_over_per_trial", "search_seconds"}
    assert s["search_seconds"]["per_trial"] == pytest.approx(row["per_trial"]["search_seconds"])
    assert r["supernet"]["step"] == 2 and r["supernet"]["limits"] == {"ops": 1_000_000}
    print_results(r)
    out = " ".join(capsys.readouterr().out.split())  # (rich wraps the title where the tmp path is long)
    assert "on the supernet" in out and "per-trial, 3 trained" in out and "supernet: sized for" in out


def test_bad_supernet_options_are_one_line(tiny, tmp_path):
    def bench(*args):
        result = CliRunner().invoke(app, ["bench", "search", "--config", str(tiny / "tiny.yaml"), *map(str, args)])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert result.stderr.count("\n") == 1
        return result.stderr

    assert "give --supernet DIR too" in bench("--per-trial", 4, "--budgets", "1M")
    assert "no trained supernet there" in bench("--supernet", tmp_path, "--budgets", "1M")
    assert "above the supernet's largest" in bench("--supernet", tiny / "net", "--budgets", "1M,2M")
    other = tmp_path / "other.yaml"
    other.write_text(TINY.replace("divisor: 4", "divisor: 8"))
    assert "the supernet of another config" in bench("--supernet", tiny / "net", "--budgets", "1M", "--config", other)


def test_the_spec_key_ignores_only_names():
    """The retraining cache's key: two studies' specs of one network differ in their names only."""
    from archkit.bench.search_bench import SameRunsOnce

    calls = []

    def train(spec, **kwargs):
        calls.append(spec.name)
        return len(calls)

    once = SameRunsOnce(train)
    a = archkit.load_spec("googlenet-32")
    b = a.model_copy(update={"name": "another-study-candidate"})
    assert once(a, seed=1, score_test=True, epochs=3) == once(b, seed=1, score_test=True, epochs=3) == 1
    assert once(a, seed=2, score_test=True, epochs=3) == 2  # another seed: trained
    assert once(a, seed=1, score_test=True, epochs=4) == 3  # another recipe: trained
    assert once(a, seed=1, epochs=3) == 4 and once(a, seed=1, epochs=3) == 5  # a trial's training: never shared
    assert once.reused == 1


def test_rerank_trains_each_supernet_studys_shortlist_and_confirms_its_best(tiny):
    from ..search.conftest import fake_accuracy

    fake = FakeTrainer()
    r = run(budgets=("1M",), seeds=1, trials=6, final_seeds=2, recipe={"epochs": 1, "batch_size": 16}, train=fake,
            config=tiny / "tiny.yaml", supernet=tiny / "net", rerank=2)
    (row,) = r["rows"]
    assert r["rerank"] == 2 and set(row) == {"budget", "seed", "default", "random"}
    shortlisted = [c for c in fake.calls if not c["score_test"]]  # nothing else trains without a test score
    assert len(shortlisted) == row["default"]["rerank"] + row["random"]["rerank"]
    assert all(c["epochs"] == 1 and c["batch_size"] == 16 for c in shortlisted)
    for side in ("default", "random"):
        x = row[side]
        assert 1 <= x["rerank"] <= 2 and x["rerank_seconds"] >= 0
        assert x["search_seconds"] >= x["rerank_seconds"]
    # Each study's confirmed best is the best of its shortlist by the short training's val top-1
    # (the fake trainer's accuracy, recomputed here from the trained specs).
    by_study: dict[str, list] = {}
    for c in shortlisted:
        by_study.setdefault(c["spec"].name.rsplit("-trial", 1)[0], []).append(c)
    assert len(by_study) == 2
    for study, calls in by_study.items():
        side = "default" if "-default-" in study else "random"
        best = max(calls, key=lambda c: fake_accuracy(c["spec"]))
        assert row[side]["best_trial"] == int(best["spec"].name.rsplit("trial", 1)[1])
