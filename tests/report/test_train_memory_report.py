"""Training memory in the reports (issue 23 §3): a study searched under a train_memory budget shows
the predicted memory and the batch in its trial table and hover text, an accuracy-vs-training-memory
Pareto view (its front: the stored trials' staircase) and what the memory was predicted for; a
trial measured on CUDA adds a measured column; the profile report with --train states one step's
peak memory beside the inference totals and draws the saved bytes per layer."""

from __future__ import annotations

import textwrap

import optuna
import pytest

import archkit
from archkit.report import data as D
from archkit.report import figures as F
from archkit.report.api import profile_report_html, study_report_html
from archkit.report.data import records as RD

from .conftest import fake_train
from .test_data import staircase
from .test_records import check_record

LIMIT = 60_000_000  # bytes: googlenet-32 at widths 0.15-0.5, batch 32, fp32 straddles it

CONFIG = f"""
name: memory
base: googlenet-32
space: {{width: [0.15, 0.5], depth: {{stage4: [1, 5]}}}}
budget: {{train_memory: {LIMIT}}}
fill_budget: false
sampler: random
pruner: none
data: digits
train: {{epochs: 1, batch_size: 32, precision: fp32, device: cpu}}
trials: 10
"""


@pytest.fixture(scope="module")
def memory_study(tmp_path_factory):
    from archkit.search.loader import load_search_config
    from archkit.search.runner import run_worker
    from archkit.search.storage import open_storage

    folder = tmp_path_factory.mktemp("memory")
    config = folder / "memory.yaml"
    config.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    journal = str(folder / "memory.journal")
    run_worker(load_search_config(config), journal, "memory", train=fake_train, progress=False)
    return optuna.load_study(study_name="memory", storage=open_storage(journal))


def test_the_trial_table_and_the_front(memory_study):
    d = D.study_data(memory_study)
    check_record(d, RD.StudyData)
    trials = memory_study.get_trials(deepcopy=False)
    assert {t.user_attrs["feasible"] for t in trials} == {True, False}  # the budget bites
    # the columns: predicted memory (MB) and the batch, after activations; no measured column (no CUDA trial)
    headers = d["headers"]
    at = headers.index("train memory (MB, predicted)")
    assert headers[at - 1] == "activations (K)" and headers[at + 1] == "batch"
    assert "train memory (MB, measured)" not in headers
    for row, t in zip(d["table"], trials, strict=True):
        assert row["cells"][at] == f"{t.user_attrs['train_memory'] / 1e6:,.1f}"
        assert row["sort"][at] == t.user_attrs["train_memory"] and row["cells"][at + 1] == "32"
    # the front of val top-1 vs training memory: the stored trained, within-budget trials' staircase
    trained = [t for t in trials if t.state.name == "COMPLETE" and t.user_attrs.get("feasible")
               and t.user_attrs.get("trained")]
    assert d["fronts"]["train_memory"] == staircase(trained, "train_memory")
    facts = dict(d["facts"])
    assert facts["budget"] == "train memory 60.0 MB"
    assert facts["training memory predicted for"] == "batch 32, fp32 on cpu"


def test_the_page_has_the_memory_pareto_view_and_hover(memory_study):
    html, d = study_report_html(memory_study)
    assert 'id="fig-pareto-train-memory"' in html
    assert "Training memory: the predicted peak of one training step (batch 32, fp32 on cpu)" in html
    fig = F.pareto(d, "train_memory")
    assert "accuracy vs training memory" in fig.layout.title.text
    assert fig.layout.xaxis.title.text.startswith("predicted peak training memory (MB")
    budget = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert budget and budget[0].x0 == LIMIT / 1e6
    t = next(t for t in d["trials"] if t["train_memory"] is not None)
    assert f"train memory {t['train_memory'] / 1e6:,.1f} MB predicted at batch 32" in F.trial_hover(t)


def test_a_study_without_the_budget_has_no_memory_view(study):
    d = D.study_data(study)
    assert "train_memory" not in d["fronts"]
    html, _ = study_report_html(study)
    assert "fig-pareto-train-memory" not in html


def test_a_measured_peak_gets_its_column_and_an_error(memory_study):
    """The study copied as if its trials had trained on CUDA: each trained one with a measured peak."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        copy = optuna.create_study(study_name="memory-cuda", directions=memory_study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    for key, value in memory_study.user_attrs.items():
        copy.set_user_attr(key, value)
    for t in memory_study.get_trials(deepcopy=False):
        attrs = dict(t.user_attrs)
        if attrs.get("trained") and attrs.get("duplicate_of") is None:
            attrs["measured_train_memory"] = int(attrs["train_memory"] * 1.1)
        copy.add_trial(optuna.trial.create_trial(state=t.state, values=t.values, params=t.params,
                                                 distributions=t.distributions, user_attrs=attrs))
    d = D.study_data(copy)
    check_record(d, RD.StudyData)
    at = d["headers"].index("train memory (MB, measured)")
    assert d["headers"][at - 1] == "train memory (MB, predicted)"
    measured = [t for t in d["trials"] if t["measured_train_memory"] is not None]
    assert measured
    for t in measured:
        assert d["table"][t["number"]]["cells"][at] == f"{t['measured_train_memory'] / 1e6:,.1f}"
        assert "MB measured" in F.trial_hover(t)
    assert dict(d["facts"])["training memory predicted vs measured"].startswith(
        f"mean absolute error {100 / 11:.1f}% over {len(measured)} trained trials")


def test_the_profile_report_shows_training_memory_beside_ops_and_params():
    from archkit.profile.memory import fmt_bytes
    from archkit.profile.training import train_profile

    spec = archkit.load_spec("googlenet-32")
    cost = train_profile(spec, 8, "fp32")
    html = profile_report_html(archkit.profile(spec), train=cost)
    assert (f"Training, one step at batch 8, fp32: peak memory {fmt_bytes(cost.peak_bytes)} predicted "
            f"({fmt_bytes(cost.saved_bytes)} saved for backward, exact") in html
    assert html.index("Inference path:") < html.index("Training, one step at batch 8")
    assert 'id="fig-train-saved"' in html
    fig = F.saved_bytes_bars(spec.name, [(r.name, r.saved_bytes) for r in cost.rows], 8, "fp32")
    assert list(fig.data[0].x) == [r.name for r in cost.rows]
    assert list(fig.data[0].y) == [r.saved_bytes / 1e6 for r in cost.rows]
