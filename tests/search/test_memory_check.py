"""The memory check in the search's trials and in the confirmation, with the real `archkit.train`
on a machine whose memory is made small: a candidate that does not fit fails in one line with the
bytes, before its data or model is made."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from archkit.search.loader import load_search_config
from archkit.search.runner import run_worker
from archkit.search.storage import open_storage
from archkit.search.studies import SearchError
from archkit.training import api, memory

from .conftest import FakeTrainer, one_error_line

CONFIG = """
name: mem
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
budget: {ops: 30M}
sampler: random
pruner: none
trials: 3
train: {epochs: 1, batch_size: 16}
final: {top: 1, seeds: 2}
"""


@pytest.fixture
def small_memory(monkeypatch):
    """A device with 1 MB free (googlenet-32's weights alone need more), and no model ever built."""
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**6)

    def no_build(*args, **kwargs):
        raise AssertionError("a model was built past the memory check")

    monkeypatch.setattr(api, "build", no_build)


def test_a_trial_that_does_not_fit_fails_with_the_bytes(write_config, small_memory):
    loaded = load_search_config(write_config(CONFIG, "mem.yaml"))
    with pytest.raises(SearchError, match=r"last errors: DoesNotFitError: mem-trial\d+: training it needs about"):
        run_worker(loaded, "studies/mem.journal", "mem", progress=False)  # the real trainer
    trials = optuna.load_study(study_name="mem", storage=open_storage("studies/mem.journal")).get_trials()
    assert trials and all(t.state == TrialState.FAIL for t in trials)
    for t in trials:
        assert t.user_attrs["error"].startswith("DoesNotFitError: "), t.user_attrs["error"]
        assert "(weights, gradients and momentum " in t.user_attrs["error"]
        assert "but this machine has 1.0 MB available" in t.user_attrs["error"]


def test_a_confirmation_that_does_not_fit_is_one_line(write_config, cli, monkeypatch):
    loaded = load_search_config(write_config(CONFIG, "mem.yaml"))
    run_worker(loaded, "studies/mem.journal", "mem", train=FakeTrainer(), progress=False)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**6)
    line = one_error_line(cli("confirm", "mem", "--storage", "studies/mem.journal"))  # the real trainer retrains
    assert line.startswith("error: confirmation stopped: mem-trial"), line
    assert "training it needs about " in line and "but this machine has 1.0 MB available" in line
    assert "(finished retrainings are kept; resume with: " in line, line
