"""Running studies with a fake trainer: what every trial records, the budget gate, duplicates,
resume after an interrupted run, pruning, two objectives, and two workers on a journal file.

Costs, accuracies and identities are recomputed here from each trial's stored spec (with
`archkit.profile` and the fake trainer's own accuracy function)."""

from __future__ import annotations

import statistics
import threading

import optuna
import pytest
from optuna.trial import TrialState

import archkit
from archkit.search.loader import load_search_config
from archkit.search.runner import run_worker
from archkit.search.space import candidate, suggest
from archkit.search.storage import open_storage
from archkit.search.studies import SearchError, enqueue_reference, open_study

from .conftest import FakeTrainer, fake_accuracy

G32 = archkit.load_spec("googlenet-32")


def where(name: str) -> str:
    """Most tests keep their study in a journal file: SQLite commits every suggested parameter and
    attribute with an fsync, which costs seconds per test. Resume and interrupts run on SQLite too."""
    return f"studies/{name}.journal"


def run(path, train, overrides=None, location=None, **kwargs):
    loaded = load_search_config(path, overrides)
    location = location or where(loaded.study_name)
    return run_worker(loaded, location, loaded.study_name, train=train, progress=False, **kwargs)


def study_of(name: str, location: str | None = None):
    return optuna.load_study(study_name=name, storage=open_storage(location or where(name)))


def spec_of(trial) -> archkit.Spec:
    return archkit.spec_from_yaml(trial.user_attrs["spec"], f"trial {trial.number}")


def identity(spec) -> dict:
    """What makes two candidates the same network: everything but name and prose."""
    data = spec.to_dict()
    for key in ("name", "source", "description"):
        data.pop(key, None)
    return data


def by_state(study, *states):
    return [t for t in study.get_trials() if t.state in states]


RICH = """
base: googlenet-32
space:
  width: [0.3, 1.0]
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 3], stage4: [2, 6]}
  branch_shares: [0.2, 1.0]
  reduce_ratio: [0.5, 2.0]
  factorize_5x5: true
  divisor: 1
budget: {ops: 30M}
sampler: tpe
pruner: none
trials: 5
train: {epochs: 2, batch_size: 16}
seed: 1
"""


def test_every_finished_trial_records_its_candidate(write_config):
    fake = FakeTrainer()
    summary = run(write_config(RICH, "rich.yaml"), fake)
    assert (summary.finished, summary.asked) == (5, 5)
    study = study_of("rich")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert trials[0].user_attrs["reference"] and trials[0].params == {}
    assert all("reference" not in t.user_attrs for t in trials[1:])
    assert len(fake.calls) == 5
    for t, call in zip(trials, fake.calls):
        a = t.user_attrs
        spec = spec_of(t)
        total = archkit.profile(spec).total  # the paper convention, as `archkit profile` prints
        assert (a["ops"], a["params"], a["activations"]) == (total.ops, total.params, total.activations)
        assert 0.98 * 30_000_000 <= a["ops"] <= 30_000_000  # budget filling, divisor 1
        assert a["feasible"] is True and a["trained"] is True
        assert a["constraints"] == [pytest.approx(total.ops / 30_000_000 - 1)]
        assert t.constraints == {"ops": pytest.approx(total.ops / 30_000_000 - 1)}
        assert identity(call["spec"]) == identity(spec)  # the trainer got exactly this candidate
        assert a["val_top1"] == t.value == fake_accuracy(spec)
        assert a["val_top5"] == pytest.approx(min(1.0, fake_accuracy(spec) + 0.1))
        assert a["train_seconds"] == FakeTrainer.SECONDS
        assert a["images_per_s"] == FakeTrainer.IMAGES_PER_S
        assert a["device"] == FakeTrainer.DEVICE and a["precision"] == "fp32"
        assert t.intermediate_values == {0: pytest.approx(a["val_top1"] / 2), 1: pytest.approx(a["val_top1"])}
        assert (call["data"], call["epochs"], call["batch_size"]) == ("digits", 2, 16)
        if t.number:
            sampled = candidate(G32, t.params, 1, a["width_scale"])
            assert sampled.layers == spec.layers
    # The reference: the base with every width times one scale, filling the budget.
    ref = spec_of(trials[0])
    assert ref.layers == candidate(G32, {}, 1, trials[0].user_attrs["width_scale"]).layers
    assert [layer.name for layer in ref.layers] == [layer.name for layer in G32.layers]
    assert len({call["seed"] for call in fake.calls}) == 5
    best = max(trials, key=lambda t: t.value)
    assert summary.best["number"] == best.number and summary.best["val_top1"] == best.value
    assert study.user_attrs["base"] == "googlenet-32" and study.user_attrs["budget"] == {"ops": 30_000_000}
    assert study.user_attrs["objectives"] == ["accuracy"]


OVER = """
base: googlenet-32
space:
  width: {choices: [0.25, 1.0]}
  depth: {stage4: [2, 5]}
budget: {ops: 100M}
fill_budget: false
sampler: random
pruner: none
trials: 5
train: {epochs: 1}
"""


def test_over_budget_candidates_never_reach_training(write_config):
    path = write_config(OVER, "over.yaml")
    loaded = load_search_config(path)
    study = open_study(loaded, where("over"), "over")
    assert enqueue_reference(study)
    for params in ({"width": 1.0, "stage4.depth": 5}, {"width": 0.25, "stage4.depth": 2},
                   {"width": 1.0, "stage4.depth": 2}, {"width": 0.25, "stage4.depth": 5}):
        study.enqueue_trial(params)
    fake = FakeTrainer()
    assert run(path, fake).finished == 5
    trials = study_of("over").get_trials()
    assert [t.params.get("width") for t in trials] == [None, 1.0, 0.25, 1.0, 0.25]
    for t in trials:
        spec = spec_of(t)
        ops = archkit.profile(spec).total.ops
        assert t.user_attrs["ops"] == ops
        if t.params.get("width") == 1.0:  # googlenet-32's full widths: 300M+ multiply-adds
            assert ops > 100_000_000
            assert t.user_attrs["feasible"] is False and t.user_attrs["trained"] is False
            assert t.user_attrs["constraints"] == [pytest.approx(ops / 100_000_000 - 1)]
            assert t.constraints["ops"] > 0
            assert t.value == 0.0 and "val_top1" not in t.user_attrs and "train_seconds" not in t.user_attrs
            assert spec.layers == candidate(G32, t.params, 8).layers  # not scaled
        else:
            assert ops <= 100_000_000 and t.user_attrs["feasible"] and t.user_attrs["trained"]
    assert len(fake.calls) == 3  # the reference and the two quarter-width candidates
    assert all(archkit.profile(s).total.ops <= 100_000_000 for s in fake.specs)


DUP = """
base: googlenet-32
space:
  width: {choices: [0.25, 0.5]}
fill_budget: false
sampler: random
trials: 7
train: {epochs: 1}
"""


def test_duplicates_are_not_retrained(write_config):
    fake = FakeTrainer()
    assert run(write_config(DUP, "dup.yaml"), fake).finished == 7
    trials = study_of("dup").get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Without a budget the reference is the base itself.
    assert spec_of(trials[0]).layers == G32.layers
    archs = [identity(spec_of(t)) for t in trials]
    distinct = []
    for arch in archs:
        if arch not in distinct:
            distinct.append(arch)
    assert len(distinct) == 3 < len(trials)
    assert len(fake.calls) == 3  # once per distinct network
    first_of = {}
    for t, arch in zip(trials, archs):
        key = distinct.index(arch)
        if key not in first_of:
            first_of[key] = t
            assert "duplicate_of" not in t.user_attrs
        else:
            original = first_of[key]
            assert t.user_attrs["duplicate_of"] == original.number
            assert t.value == original.value == t.user_attrs["val_top1"] == fake_accuracy(spec_of(t))
            assert t.user_attrs["trained"] is True and t.user_attrs["device"] == FakeTrainer.DEVICE
            assert t.user_attrs["ops"] == original.user_attrs["ops"]


RESUME = """
base: googlenet-32
space:
  width: [0.25, 1.0]
  stage_width: [0.5, 1.5]
  depth: {stage4: [2, 6]}
budget: {ops: 30M}
sampler: random
pruner: none
trials: 3
train: {epochs: 2}
"""


def test_resume_up_to_the_asked_total(write_config):
    path = write_config(RESUME, "resume.yaml")
    db = "sqlite:///studies/resume.db"
    first = FakeTrainer()
    assert run(path, first, location=db).finished == 3
    before = {t.number: t.user_attrs for t in study_of("resume", db).get_trials()}
    assert len(first.calls) == 3
    second = FakeTrainer()
    summary = run(path, second, overrides={"trials": 6}, location=db)
    assert (summary.finished, summary.asked) == (6, 6)
    trials = study_of("resume", db).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert {t.number: t.user_attrs for t in trials[:3]} == before  # old trials untouched
    new_trained = [t for t in trials[3:] if "duplicate_of" not in t.user_attrs]
    # The resumed run samples with its own seed: it proposes new candidates, not the first run's again.
    assert len(new_trained) == 3
    assert len(second.calls) == len(new_trained)
    assert [identity(s) for s in second.specs] == [identity(spec_of(t)) for t in new_trained]
    third = FakeTrainer()
    assert run(path, third, overrides={"trials": 6}, location=db).finished == 6  # nothing left to do
    assert third.calls == [] and len(study_of("resume", db).get_trials()) == 6


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_an_interrupted_run_resumes(write_config, storage):
    path = write_config(RESUME.replace("trials: 3", "trials: 4"), "cut.yaml")
    location = "sqlite:///studies/cut.db" if storage == "sqlite" else "studies/cut.journal"
    interrupted = FakeTrainer(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run(path, interrupted, location=location)
    trials = study_of("cut", location).get_trials()
    # The interrupted trial is failed; its candidate waits to be trained again.
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert "interrupted" in trials[1].user_attrs["error"]
    assert trials[2].user_attrs["retry_of"] == 1
    assert trials[0].user_attrs["trained"] and trials[0].user_attrs["reference"]
    rerun = FakeTrainer()
    summary = run(path, rerun, location=location)
    assert (summary.finished, summary.asked) == (4, 4)
    trials = study_of("cut", location).get_trials()
    assert len(by_state(study_of("cut", location), TrialState.COMPLETE)) == 4
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [1]
    assert not by_state(study_of("cut", location), TrialState.RUNNING, TrialState.WAITING)
    assert len(rerun.calls) == len([t for t in trials[2:] if "duplicate_of" not in t.user_attrs])
    assert trials[2].params == trials[1].params  # the retried candidate


def test_a_killed_worker_on_a_journal_is_retried(write_config):
    """A worker killed mid-trial leaves it RUNNING; the next command fails it and runs it again."""
    path = write_config(RESUME, "killed.yaml")
    location = "studies/killed.journal"
    loaded = load_search_config(path)
    study = open_study(loaded, location, "killed")
    enqueue_reference(study)
    study.enqueue_trial({"width": 0.5, "stage3.width": 1.0, "stage4.width": 1.0, "stage4.depth": 3,
                         "stage5.width": 1.0})
    run(path, FakeTrainer(), overrides={"trials": 1}, location=location)
    lost = study.ask()  # a worker took trial 1 and sampled it, then was killed
    suggest(lost, loaded.config.space, loaded.base)
    assert lost.number == 1 and lost.params["stage4.depth"] == 3
    fake = FakeTrainer()
    assert run(path, fake, location=location).finished == 3
    trials = study_of("killed", location).get_trials()
    assert trials[1].state == TrialState.FAIL and "interrupted" in trials[1].user_attrs["error"]
    retry = [t for t in trials if t.user_attrs.get("retry_of") == 1]
    # Budget filling sets the global width itself, so the retry samples every parameter but `width`.
    expected = {k: v for k, v in lost.params.items() if k != "width"}
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == expected
    assert len(by_state(study_of("killed", location), TrialState.COMPLETE)) == 3


PRUNE = """
base: googlenet-32
space:
  depth: {stage3: [1, 2], stage4: [1, 5], stage5: [1, 2]}
budget: {ops: 20M}
sampler: random
pruner: median
trials: 10
train: {epochs: 3}
seed: 2
"""


def test_median_pruner_stops_weak_trials(write_config):
    fake = FakeTrainer()
    summary = run(write_config(PRUNE, "prune.yaml"), fake)
    assert summary.finished == 10
    study = study_of("prune")
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(pruned) + len(complete) == 10
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert len(fake.calls) == len(trained)
    for t, epochs_run in zip(trained, fake.epochs_run):
        if t.state == TrialState.PRUNED:
            step = t.user_attrs["pruned_at_epoch"]
            assert epochs_run == step + 1 < 3  # stopped early
            # The median rule: its best value so far is below the median of the earlier finished
            # trials' values at that epoch.
            earlier = [o.intermediate_values[step] for o in complete
                       if o.number < t.number and step in o.intermediate_values]
            assert len(earlier) >= 1 and len([o for o in complete if o.number < t.number]) >= 3
            assert max(t.intermediate_values[s] for s in range(step + 1)) < statistics.median(earlier)
            assert t.user_attrs["val_top1"] == pytest.approx(fake_accuracy(spec_of(t)) * (step + 1) / 3)
        else:
            assert epochs_run == 3


@pytest.mark.parametrize("pruner", ["none", "hyperband"])
def test_other_pruners(write_config, pruner):
    fake = FakeTrainer()
    text = PRUNE.replace("pruner: median", f"pruner: {pruner}").replace("trials: 10", "trials: 5")
    assert run(write_config(text, f"p{pruner}.yaml"), fake).finished == 5
    states = {t.state for t in study_of(f"p{pruner}").get_trials()}
    if pruner == "none":
        assert states == {TrialState.COMPLETE} and set(fake.epochs_run) == {3}
    else:
        assert states <= {TrialState.COMPLETE, TrialState.PRUNED}


MULTI = """
base: googlenet-32
space:
  width: [0.1, 1.0]
  depth: {stage4: [1, 5]}
budget: {ops: 150M}
fill_budget: false
objective: [accuracy, ops]
sampler: nsga2
trials: 8
train: {epochs: 2}
"""


def test_two_objectives(write_config):
    fake = FakeTrainer()
    assert run(write_config(MULTI, "multi.yaml"), fake).finished == 8
    study = study_of("multi")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for t in study.get_trials():
        assert t.state == TrialState.COMPLETE  # no pruning with two objectives
        ops = archkit.profile(spec_of(t)).total.ops
        accuracy = fake_accuracy(spec_of(t)) if ops <= 150_000_000 else 0.0
        assert t.values == [pytest.approx(accuracy), ops]
    assert len({t.values[1] for t in study.get_trials()}) > 4


def test_a_study_with_other_objectives_is_refused(write_config):
    run(write_config(RESUME, "same.yaml"), FakeTrainer())
    path = write_config(MULTI, "same.yaml")
    with pytest.raises(SearchError, match="other objectives"):
        run(path, FakeTrainer())


def test_a_run_where_training_keeps_failing_stops(write_config):
    def broken(spec, **kwargs):
        raise RuntimeError("CUDA error: out of memory\nmore detail")

    with pytest.raises(SearchError) as info:
        run(write_config(RESUME, "broken.yaml"), broken)
    message = str(info.value)
    assert message.startswith("stopped: ") and "trials failed in this run" in message
    assert "(last errors: RuntimeError: CUDA error: out of memory | " in message and "more detail" not in message
    trials = study_of("broken").get_trials()
    assert len(trials) < 6  # it stopped instead of trying on
    assert [t.state for t in trials] == [TrialState.FAIL] * len(trials)
    assert [t.user_attrs["error"] for t in trials] == ["RuntimeError: CUDA error: out of memory"] * len(trials)


def test_two_workers_on_a_journal_finish_exactly_the_asked_trials(write_config):
    """Two workers (threads here; processes in `--workers`) share one journal-file study."""
    path = write_config(RESUME.replace("trials: 3", "trials: 7"), "pair.yaml")
    loaded = load_search_config(path)
    location = "studies/pair.journal"
    enqueue_reference(open_study(loaded, location, "pair"))
    fake = FakeTrainer(delay=0.05)
    errors = []

    def worker(i):
        try:
            run_worker(loaded, location, "pair", train=fake, progress=False, worker=i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    study = study_of("pair", location)
    finished = by_state(study, TrialState.COMPLETE, TrialState.PRUNED)
    assert len(finished) == 7
    others = [t for t in study.get_trials() if t.state not in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert all(t.state == TrialState.FAIL and "surplus" in t.user_attrs["error"] for t in others)
    assert [t.number for t in finished if t.user_attrs.get("reference")] == [0]
    assert len(fake.calls) == len([t for t in finished if "duplicate_of" not in t.user_attrs])


def test_the_search_facade(write_config):
    from archkit.search import search

    fake = FakeTrainer()
    summary = search(write_config(RESUME, "facade.yaml"), storage="studies/elsewhere.journal", study="named",
                     overrides={"trials": 2}, train=fake)
    assert (summary.study, summary.storage, summary.finished) == ("named", "studies/elsewhere.journal", 2)
    assert len(study_of("named", "studies/elsewhere.journal").get_trials()) == 2
