"""`proxy:` in a search config: what ranks the trials. The plumbing, with a fake trainer: trial
values are the chosen proxy's (recomputed here), pruning only for val_top1, zero-cost proxies train
nothing, the confirmation stage and the export follow the proxy's ranking; bad names are one line."""

from __future__ import annotations

import optuna
import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.search.confirm import plan
from archkit.search.loader import load_search_config
from archkit.search.proxies import synflow
from archkit.search.runner import run_worker
from archkit.search.storage import open_storage
from archkit.search.studies import best_trial

from .conftest import FakeTrainer, fake_accuracy, fake_train_loss

CONFIG = """
name: px
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 3], stage4: [1, 5]}
budget: {ops: 8M}
sampler: random
pruner: median
trials: 5
train: {epochs: 3, batch_size: 16}
final: {top: 2, seeds: 2}
proxy: PROXY
"""


def make(write_config, proxy: str, trainer):
    loaded = load_search_config(write_config(CONFIG.replace("PROXY", proxy), "px.yaml"))
    run_worker(loaded, "studies/px.journal", "px", train=trainer, progress=False)
    return loaded, optuna.load_study(study_name="px", storage=open_storage("studies/px.journal"))


def spec_of(trial):
    return archkit.spec_from_yaml(trial.user_attrs["spec"])


def test_train_loss_ranks_by_the_area_under_the_loss_curve(write_config):
    trainer = FakeTrainer()
    loaded, study = make(write_config, "train_loss", trainer)
    trained = [t for t in study.trials if t.user_attrs.get("trained")]
    assert trained and len(trainer.calls) == len({t.user_attrs["arch"] for t in trained})
    for t in trained:
        acc = fake_accuracy(spec_of(t))
        expected = -sum(fake_train_loss(acc, e, 3) for e in range(3))
        assert t.value == pytest.approx(expected) and t.user_attrs["proxy_score"] == pytest.approx(expected)
        assert t.user_attrs["proxy"] == "train_loss"
        assert t.intermediate_values == {}  # no per-epoch reports: the median pruner compares val accuracies
    p = plan(study, loaded.config, loaded.config.final)
    searched = sorted((t for t in trained if not t.user_attrs.get("reference")),
                      key=lambda t: (-t.user_attrs["proxy_score"], t.number))
    assert list(p.candidates) == [t.number for t in searched][:2]


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_a_zero_cost_proxy_trains_nothing(write_config):
    trainer = FakeTrainer()
    loaded, study = make(write_config, "synflow", trainer)
    assert trainer.calls == []
    for t in study.trials:
        if t.user_attrs["feasible"]:
            assert t.value == pytest.approx(synflow(spec_of(t), seed=t.number))  # config seed 0 + trial number
            assert t.user_attrs["trained"] is False and "val_top1" not in t.user_attrs
    best = max((t for t in study.trials if t.user_attrs["feasible"]), key=lambda t: (t.value, -t.number))
    assert best_trial(study)["number"] == best.number


def test_unknown_proxies_and_train_loss_with_steps_are_one_line(write_config):
    result = CliRunner().invoke(app, ["search", str(write_config(CONFIG.replace("PROXY", "zen"), "bad.yaml"))])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: bad.yaml:12 proxy: must be one of val_top1, train_loss, synflow, naswot, "
                                     "supernet, got 'zen'")
    text = CONFIG.replace("PROXY", "train_loss").replace("train: {epochs: 3, batch_size: 16}", "train: {steps: 5}")
    result = CliRunner().invoke(app, ["search", str(write_config(text, "bad.yaml"))])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: bad.yaml:12 proxy: train_loss sums per-epoch losses: give train.epochs, "
                                     "not train.steps")
