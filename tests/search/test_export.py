"""Exporting a study's candidates as YAML specs: the best, or the accuracy/cost Pareto front.
An exported file loads with `archkit.load_spec` and profiles to exactly the trial's attrs."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

import archkit
from archkit.search.export import ExportError, export
from archkit.search.loader import load_search_config
from archkit.search.results import pareto_front
from archkit.search.runner import run_worker
from archkit.search.storage import StorageError, open_storage

from .conftest import FakeTrainer

SINGLE = """
base: googlenet-32
space:
  width: [0.2, 1.0]
  depth: {stage3: [1, 2], stage4: [1, 5]}
budget: {ops: 60M}
fill_budget: false
sampler: random
warm_start: false
pruner: none
trials: 8
train: {epochs: 1}
"""

# seed 1: a study whose fronts on both cost axes hold several trials (checked below)
MULTI = SINGLE.replace("pruner: none", "objective: [accuracy, ops]\nseed: 1").replace("sampler: random",
                                                                                    "sampler: nsga2")


def make_study(write_config, text: str, name: str, location: str | None = None) -> tuple[str, list]:
    loaded = load_search_config(write_config(text, f"{name}.yaml"))
    location = location or f"studies/{name}.journal"
    run_worker(loaded, location, name, train=FakeTrainer(), progress=False)
    study = optuna.load_study(study_name=name, storage=open_storage(location))
    return location, study.get_trials()


def exportable(trials) -> list:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs["feasible"]
            and t.user_attrs["trained"]]


def check_round_trip(path, trial) -> None:
    spec = archkit.load_spec(str(path))
    total = archkit.profile(spec).total
    a = trial.user_attrs
    assert (total.ops, total.params, total.activations) == (a["ops"], a["params"], a["activations"])
    assert spec == archkit.spec_from_yaml(a["spec"])
    text = path.read_text()
    assert text.startswith("# archkit search ") and f"trial {trial.number} " in text.splitlines()[0]
    assert f"val top-1 {a['val_top1']:.4f}" in text.splitlines()[1]


def test_export_best(write_config, workdir):
    location, trials = make_study(write_config, SINGLE, "one")
    candidates = exportable(trials)
    assert 2 <= len(candidates) < len(trials)  # some over budget, never exported
    best = max(candidates, key=lambda t: (t.user_attrs["val_top1"], -t.number))
    paths = export("one", "out/specs", storage=location)
    assert [p.resolve() for p in paths] == [(workdir / "out" / "specs" / f"one-trial{best.number}.yaml").resolve()]
    check_round_trip(paths[0], best)
    # Without --storage, the study's file under studies/ is found (here the journal).
    assert [p.name for p in export("one", "again")] == [paths[0].name]
    assert (workdir / "again" / paths[0].name).read_text() == paths[0].read_text()


def test_export_pareto_front(write_config, workdir):
    location, trials = make_study(write_config, MULTI, "two")
    assert all(len(t.values) == 2 for t in trials if t.state == TrialState.COMPLETE)
    candidates = exportable(trials)
    for cost in ("ops", "params"):
        # Brute force: not beaten on one axis without being worse on the other; equal pairs once.
        front = []
        for t in candidates:
            acc, c = t.user_attrs["val_top1"], t.user_attrs[cost]
            beaten = [o for o in candidates if o.user_attrs["val_top1"] >= acc and o.user_attrs[cost] <= c
                      and (o.user_attrs["val_top1"], o.user_attrs[cost]) != (acc, c)]
            equal_earlier = [o for o in candidates if o.number < t.number
                             and (o.user_attrs["val_top1"], o.user_attrs[cost]) == (acc, c)]
            if not beaten and not equal_earlier:
                front.append(t)
        front.sort(key=lambda t: t.user_attrs[cost])
        assert len(front) >= 2
        paths = export("two", f"front-{cost}", storage=location, pareto=True, cost=cost)
        assert [p.name for p in paths] == [f"two-trial{t.number}.yaml" for t in front]
        for path, trial in zip(paths, front):
            check_round_trip(path, trial)


def trial(number, acc, ops, params=0):
    return SimpleNamespace(number=number, user_attrs={"val_top1": acc, "ops": ops, "params": params})


def test_pareto_front_by_hand():
    a, b, c, d = trial(0, 0.9, 100), trial(1, 0.8, 50), trial(2, 0.85, 120), trial(3, 0.95, 200)
    e = trial(4, 0.8, 50)  # the same point as b: kept once, as the earlier trial
    f = trial(5, 0.7, 50)  # same cost as b, worse
    g = trial(6, 0.95, 180)  # beats d at equal accuracy
    assert [t.number for t in pareto_front([a, b, c, d, e, f, g], "ops")] == [1, 0, 6]
    assert [t.number for t in pareto_front([e, b], "ops")] == [1]
    assert [t.number for t in pareto_front([a], "ops")] == [0]
    assert pareto_front([], "ops") == []
    # Another cost axis gives another front.
    h, i = trial(7, 0.9, 10, params=900), trial(8, 0.6, 999, params=100)
    assert [t.number for t in pareto_front([h, i], "params")] == [8, 7]
    assert [t.number for t in pareto_front([h, i], "ops")] == [7]


def test_nothing_to_export(write_config):
    text = SINGLE.replace("budget: {ops: 60M}", "budget: {ops: 1M}").replace("trials: 8", "trials: 2")
    location, trials = make_study(write_config, text, "none")
    assert not exportable(trials) and all(t.user_attrs["ops"] > 1_000_000 for t in trials)
    with pytest.raises(ExportError) as info:
        export("none", "out", storage=location)
    assert str(info.value) == "study 'none' has no finished, trained, within-budget trials to export"


def test_no_such_study(write_config):
    location, _ = make_study(write_config, SINGLE.replace("trials: 8", "trials: 1"), "real")
    with pytest.raises(StorageError) as info:
        export("imagined", "out", storage=location)
    assert str(info.value) == "no study named 'imagined' in studies/real.journal"
    with pytest.raises(StorageError) as info:
        export("imagined", "out")
    assert str(info.value) == "no study storage at studies/imagined.db"
    with pytest.raises(StorageError):
        export("imagined", "out", storage="nowhere/x.journal")
