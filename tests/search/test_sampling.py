"""Samplers for small budgets (`sampler: auto`, GP), the reference hidden from them, and the
structured priors enqueued after the reference (`warm_start`)."""

from __future__ import annotations

import warnings

import optuna
import pytest
from optuna.trial import TrialState

import archkit
from archkit.search.loader import load_search_config
from archkit.search.runner import run_worker
from archkit.search.samplers import choose_sampler, make_sampler
from archkit.search.sampling import ReferenceBlind
from archkit.search.storage import open_storage
from archkit.search.studies import enqueue_priors, enqueue_reference, open_study, prior_count

from .conftest import FakeTrainer, fake_accuracy

BASE = """
base: googlenet-32
budget: {ops: 20M}
"""


def loaded_with(write_config, **overrides):
    return load_search_config(write_config(BASE), overrides)


# --- sampler: auto ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("objective", "trials", "name", "cls", "settings"), [
    ("accuracy", 20, "gp", optuna.samplers.GPSampler, {"_n_startup_trials": 5}),
    ("accuracy", 50, "gp", optuna.samplers.GPSampler, {"_n_startup_trials": 10}),
    ("accuracy", 80, "tpe", optuna.samplers.TPESampler,
     {"_multivariate": True, "_group": True, "_n_startup_trials": 8}),
    (["accuracy", "ops"], 30, "gp", optuna.samplers.GPSampler, {"_n_startup_trials": 7}),
    (["accuracy", "params"], 70, "tpe", optuna.samplers.TPESampler,
     {"_multivariate": True, "_group": True, "_n_startup_trials": 7}),
    (["accuracy", "ops"], 150, "nsga2", optuna.samplers.NSGAIISampler, {"_population_size": 50}),
])
def test_what_auto_picks(write_config, objective, trials, name, cls, settings):
    loaded = loaded_with(write_config, objective=objective, trials=trials)
    assert loaded.config.sampler == "auto"
    chosen, why = choose_sampler(loaded)
    assert chosen == name and why.startswith("auto: ") and f"{trials} trials" in why
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated constraints_func on Optuna 5
        sampler = make_sampler(loaded, seed=4)
    assert isinstance(sampler, ReferenceBlind) and type(sampler.inner) is cls
    assert {k: getattr(sampler.inner, k) for k in settings} == settings
    # Budget constraints reach these samplers through Trial.set_constraint (trial.py), not a function.
    assert getattr(sampler.inner, "_constraints_func", None) is None


@pytest.mark.parametrize(("name", "cls"), [("gp", optuna.samplers.GPSampler), ("tpe", optuna.samplers.TPESampler),
                                           ("nsga2", optuna.samplers.NSGAIISampler),
                                           ("random", optuna.samplers.RandomSampler),
                                           ("qmc", optuna.samplers.QMCSampler)])
def test_a_named_sampler_is_used_whatever_the_trials(write_config, name, cls):
    for trials in (8, 200):
        loaded = loaded_with(write_config, sampler=name, trials=trials)
        assert choose_sampler(loaded) == (name, "as configured")
        assert type(make_sampler(loaded, seed=0).inner) is cls
    tpe = make_sampler(loaded_with(write_config, sampler="tpe", trials=20), seed=0).inner
    assert (tpe._multivariate, tpe._group, tpe._n_startup_trials) == (True, True, 3)


def test_the_study_records_the_chosen_sampler(write_config):
    study = open_study(loaded_with(write_config, trials=20), "studies/chosen.journal", "chosen")
    assert study.user_attrs["sampler"] == "gp"
    assert study.user_attrs["sampler_reason"] == "auto: one objective, 20 trials (GP up to 50)"
    # A resumed study asked for more trials may get another sampler: the attrs say the latest.
    study = open_study(loaded_with(write_config, trials=80), "studies/chosen.journal", "chosen")
    assert study.user_attrs["sampler"] == "tpe"
    assert study.user_attrs["sampler_reason"] == "auto: one objective, 80 trials (multivariate TPE above 50)"


# --- a real (short) GP study ---------------------------------------------------------------------------

# Float ranges (stage_width, reduce_ratio), int ranges and int choices (depth), categorical floats
# (branch_shares) and booleans (factorize_5x5).
GP_STUDY = """
base: googlenet-32
space:
  width: [0.15, 0.6]
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 2], stage4: {choices: [1, 3, 5]}}
  branch_shares: {choices: [0.5, 1.0, 2.0]}
  reduce_ratio: [0.5, 2.0]
  factorize_5x5: true
  share_module_params: network
  divisor: 4
budget: {ops: 25M, params: 900K}
fill_budget: FILL
sampler: gp
pruner: none
trials: 9
warm_start: false
train: {epochs: 1}
seed: 5
"""


def study_of(name: str):
    return optuna.load_study(study_name=name, storage=open_storage(f"studies/{name}.journal"))


def spec_of(trial) -> archkit.Spec:
    return archkit.spec_from_yaml(trial.user_attrs["spec"], f"trial {trial.number}")


@pytest.mark.parametrize("fill", [True, False])
def test_a_gp_study_completes_within_the_budget(write_config, fill):
    name = f"gp{fill}"
    path = write_config(GP_STUDY.replace("FILL", str(fill).lower()), f"{name}.yaml")
    fake = FakeTrainer()
    loaded = load_search_config(path)
    summary = run_worker(loaded, f"studies/{name}.journal", name, train=fake, progress=False)
    assert (summary.finished, summary.asked) == (9, 9)
    study = study_of(name)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 9
    assert trials[0].user_attrs["reference"] and trials[0].params == {}
    trained = [t for t in trials if t.user_attrs["trained"]]
    assert len(fake.calls) == len([t for t in trained if "duplicate_of" not in t.user_attrs])
    for t in trials:
        total = archkit.profile(spec_of(t)).total
        ok = total.ops <= 25_000_000 and total.params <= 900_000
        assert t.user_attrs["feasible"] is ok and t.user_attrs["trained"] is ok  # over budget: never trained
        assert t.constraints == {"ops": pytest.approx(total.ops / 25e6 - 1),
                                 "params": pytest.approx(total.params / 900e3 - 1)}
        assert t.value == (fake_accuracy(spec_of(t)) if ok else 0.0)
        p = t.params
        if t.number:
            assert ("width" in p) is not fill  # budget filling sets the global width itself
            assert 0.5 <= p["stage3.width"] <= 1.5 and 0.5 <= p["reduce_ratio"] <= 2.0
            assert p["stage3.depth"] in (1, 2) and p["stage4.depth"] in (1, 3, 5)
            assert p["share_1x1"] in (0.5, 1.0, 2.0) and p["factorize_5x5"] in (False, True)
    if fill:
        assert all(t.user_attrs["feasible"] for t in trials)
    else:
        assert any(not t.user_attrs["feasible"] for t in trials)  # the constrained GP path ran
    # After its start-up trials (3 of 9) the GP proposes the trials itself: it models the whole
    # space, because the parameter-less reference is hidden from it.
    modelled = [t.number for t in trials if "gp:relative_params:0" in t.system_attrs]
    assert modelled == list(range(4, 9))
    assert study.user_attrs["sampler"] == "gp"


def test_the_reference_would_blind_an_intersection_sampler(write_config):
    """Why the reference is hidden: with its empty params in the study, GP, NSGA-II and QMC would
    find an empty search space and sample at random for the whole study."""
    path = write_config(GP_STUDY.replace("FILL", "true").replace("trials: 9", "trials: 4"), "blind.yaml")
    loaded = load_search_config(path)
    run_worker(loaded, "studies/blind.journal", "blind", train=FakeTrainer(), progress=False)
    study = study_of("blind")
    last = study.get_trials()[-1]
    for name in ("gp", "nsga2", "qmc"):
        blind, seeing = (make_sampler(load_search_config(path, {"sampler": name}), seed=0) for _ in range(2))
        assert blind.inner.infer_relative_search_space(study, last) == {}  # (it caches: one study each)
        space = seeing.infer_relative_search_space(study, last)
        assert {"stage3.width", "stage4.depth", "reduce_ratio", "factorize_5x5"} <= set(space)


def test_two_objectives_with_auto(write_config):
    text = GP_STUDY.replace("FILL", "false").replace("sampler: gp", "objective: [accuracy, ops]\nsampler: auto") \
        .replace("trials: 9", "trials: 6")
    loaded = load_search_config(write_config(text, "pair.yaml"))
    assert run_worker(loaded, "studies/pair.journal", "pair", train=FakeTrainer(), progress=False).finished == 6
    study = study_of("pair")
    assert study.user_attrs["sampler"] == "gp"
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 6
    # GPSampler models both objectives and the constraints (a few seconds a trial on two cores).
    assert [t.number for t in study.get_trials() if "gp:relative_params:0" in t.system_attrs] == [4, 5]


# --- warm start: priors after the reference ----------------------------------------------------------

PRIORS = """
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 3], stage4: [1, 5], stage5: [1, 2]}
  factorize_5x5: true
  divisor: 4
budget: {ops: 20M}
sampler: random
pruner: none
trials: 8
train: {epochs: 1}
"""


@pytest.mark.parametrize(("trials", "count"), [(1, 0), (5, 0), (6, 1), (7, 1), (8, 2), (11, 2), (12, 3), (100, 3)])
def test_prior_count(trials, count):
    assert prior_count(trials) == count


def test_priors_run_first_after_the_reference_and_once(write_config):
    path = write_config(PRIORS, "warm.yaml")
    db = "sqlite:///studies/warm.db"  # resume on SQLite, as users do by default
    loaded = load_search_config(path)
    fake = FakeTrainer()
    assert run_worker(loaded, db, "warm", train=fake, progress=False).finished == 8
    study = optuna.load_study(study_name="warm", storage=open_storage(db))
    trials = study.get_trials()
    assert trials[0].user_attrs["reference"]
    assert [t.user_attrs.get("prior") for t in trials] == [
        None, "widths growing across stages", "fewer, wider modules per stage", None, None, None, None, None]
    # The enqueued values were taken as they are (so they lie in the space), the rest sampled.
    assert {k: trials[1].params[k] for k in ("stage3.width", "stage4.width", "stage5.width")} == {
        "stage3.width": 0.5, "stage4.width": 1.0, "stage5.width": 1.5}
    assert {k: v for k, v in trials[2].params.items() if not k.startswith("inception")} == {
        "stage3.width": 1.5, "stage4.width": 1.5, "stage5.width": 1.5,
        "stage3.depth": 1, "stage4.depth": 1, "stage5.depth": 1}
    assert "stage3.depth" in trials[1].params and "inception3a.factorize_5x5" in trials[2].params
    # Budget filling scales a prior like any candidate: fewer modules, each wider.
    one_each = spec_of(trials[2])
    assert [layer.name for layer in one_each.layers if layer.inception] == ["inception3a", "inception4a",
                                                                            "inception5a"]
    assert trials[2].user_attrs["width_scale"] > trials[0].user_attrs["width_scale"]
    assert all(t.user_attrs["feasible"] for t in trials)
    # Resumed with more trials: no priors again.
    assert run_worker(load_search_config(path, {"trials": 13}), db, "warm", train=fake, progress=False).finished == 13
    trials = study.get_trials()
    assert len(trials) == 13 and [t.number for t in trials if "prior" in t.user_attrs] == [1, 2]
    assert enqueue_priors(study, load_search_config(path, {"trials": 20})) == []


def test_no_priors_without_warm_start_or_room(write_config):
    for name, overrides in (("cold", {"warm_start": False}), ("short", {"trials": 5})):
        loaded = load_search_config(write_config(PRIORS, f"{name}.yaml"), overrides)
        run_worker(loaded, f"studies/{name}.journal", name, train=FakeTrainer(), progress=False)
        trials = study_of(name).get_trials()
        assert len(trials) == loaded.config.trials and not any("prior" in t.user_attrs for t in trials)


def test_priors_go_only_into_a_new_study(write_config):
    loaded = load_search_config(write_config(PRIORS.replace("trials: 8", "trials: 12"), "fresh.yaml"))
    study = open_study(loaded, "studies/fresh.journal", "fresh")
    assert enqueue_reference(study)
    assert enqueue_priors(study, loaded) == ["widths growing across stages", "fewer, wider modules per stage",
                                             "more, narrower modules per stage"]
    assert enqueue_priors(study, loaded) == []  # waiting priors count as started
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.number for t in waiting] == [0, 1, 2, 3]
    other = open_study(loaded, "studies/other.journal", "other")
    enqueue_reference(other)
    other.enqueue_trial({"stage3.width": 1.0})  # a study that already has a candidate of its own
    assert enqueue_priors(other, loaded) == []


# --- pruned trials and the GP -------------------------------------------------------------------------

def test_the_gp_sees_pruned_trials_with_their_last_value(write_config):
    """GPSampler models complete trials only; shown as they are, a pruned candidate would be
    proposed again and again (and pruned again). The GP sees a pruned trial as complete with the
    last accuracy it reported."""
    from archkit.search.sampling import _StudyView

    path = write_config(PRIORS.replace("pruner: none", "pruner: median").replace("sampler: random", "sampler: gp")
                        .replace("train: {epochs: 1}", "train: {epochs: 3}").replace("trials: 8", "trials: 12")
                        + "seed: 2\n", "pruned.yaml")
    run_worker(load_search_config(path), "studies/pruned.journal", "pruned", train=FakeTrainer(), progress=False)
    study = study_of("pruned")
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and len(trials) == 12
    seen = _StudyView(study, pruned_as_complete=True)._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in seen] == [t.number for t in trials[1:]]  # no reference, pruned ones included
    for t in seen:
        original = trials[t.number]
        assert t.state == TrialState.COMPLETE and t.params == original.params
        assert t.value == (original.value if original.state == TrialState.COMPLETE
                           else original.intermediate_values[max(original.intermediate_values)])
    assert trials[pruned[0].number].state == TrialState.PRUNED  # the study itself is untouched
    as_is = _StudyView(study)._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in as_is] == [t.number for t in trials[1:] if t.state == TrialState.COMPLETE]
    # Every candidate the GP proposed is new: none repeats a pruned one.
    archs = [t.user_attrs["arch"] for t in trials]
    assert all(archs.count(t.user_attrs["arch"]) == 1 for t in pruned)
