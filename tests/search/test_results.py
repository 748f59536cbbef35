"""One definition of a ranked trial: with a proxy other than val top-1, the run summary, the study
report, `archkit export` and the live progress view agree on the best trial, the score and the fronts.

The study is written by hand: its trials' proxy scores (`train_loss`: minus the summed losses,
higher is better) rank them in another order than their val top-1, so any reader that ranks by
val top-1 picks another best and other fronts."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution

import archkit
from archkit.report import figures as F
from archkit.report.api import study_report_html
from archkit.report.data import study_data
from archkit.search.export import export
from archkit.search.progress import trials_table
from archkit.search.record import read_widths
from archkit.search.results import ranked
from archkit.search.storage import open_storage
from archkit.search.studies import best_trial
from archkit.spec.yamlio import dump_yaml

# number: (val_top1, proxy_score, ops, params); trial 4 is over the budget (never trained).
TRIALS = {
    0: (0.90, -3.0, 20_000_000, 1_000_000),
    1: (0.80, -1.0, 25_000_000, 1_200_000),
    2: (0.70, -2.0, 10_000_000, 500_000),
    3: (0.95, -4.0, 30_000_000, 800_000),
}
# Worked out by hand from TRIALS. By score: 1 (-1), 2 (-2), 0 (-3), 3 (-4).
BY_SCORE = [1, 2, 0, 3]
# Higher score, lower cost. ops: 2 (10M, -2) and 1 (25M, -1); 0 and 3 are dominated by 2.
# params: 2 (0.5M, -2) and 1 (1.2M, -1); 3 (0.8M, -4) and 0 (1.0M, -3) are dominated by 2.
# (By val top-1 they would be [2, 0, 3] and [2, 3], and the best trial 3.)
FRONT_OPS, FRONT_PARAMS = [2, 1], [2, 1]


def _spec_text(number: int) -> str:
    data = archkit.load_spec("googlenet-32").to_dict()
    data["name"] = f"lossy-trial{number}"
    return dump_yaml(data)


@pytest.fixture
def lossy(tmp_path):
    """A study searched with `proxy: train_loss`, stored in a journal file: (name, location, study)."""
    location = str(tmp_path / "lossy.journal")
    study = optuna.create_study(study_name="lossy", storage=open_storage(location), direction="maximize")
    dist = {"width": FloatDistribution(0.2, 1.0)}
    for number, (val, proxy_score, ops, params) in TRIALS.items():
        attrs = {"spec": _spec_text(number), "ops": ops, "params": params, "activations": 50_000,
                 "width_scale": 1.0, "widths": "stem 16/48 | 64,96 | 128", "arch": f"arch{number}",
                 "feasible": True, "constraints": [0.0], "proxy": "train_loss", "trained": True,
                 "val_top1": val, "val_top5": 1.0, "proxy_score": proxy_score, "train_seconds": 2.0}
        study.add_trial(optuna.trial.create_trial(params={"width": 0.5}, distributions=dist, value=proxy_score,
                                                  user_attrs=attrs))
    over = {"spec": _spec_text(4), "ops": 90_000_000, "params": 3_000_000, "activations": 90_000,
            "widths": "stem 32/96 | 128,192 | 256", "arch": "arch4", "feasible": False, "constraints": [1.0],
            "trained": False}
    study.add_trial(optuna.trial.create_trial(params={"width": 0.9}, distributions=dist, value=0.0, user_attrs=over))
    study.set_user_attr("budget", {"ops": 60_000_000})
    return "lossy", location, study


def _exported_trials(paths) -> list[int]:
    """The trial numbers in the first header lines of exported files ('# archkit search lossy, trial 2 (...')."""
    return [int(p.read_text().splitlines()[0].split("trial ")[1].split()[0]) for p in paths]


def test_one_best_and_one_front_under_a_non_default_proxy(lossy, tmp_path):
    name, location, study = lossy
    assert [t.number for t in ranked(study)] == BY_SCORE
    assert best_trial(study)["number"] == 1  # the run summary

    d = study_data(study, location)
    assert d["best"]["number"] == 1
    assert (d["fronts"]["ops"], d["fronts"]["params"]) == (FRONT_OPS, FRONT_PARAMS)
    # History: the score of each trial in order and the best score so far.
    assert d["history"]["values"] == [-3.0, -1.0, -2.0, -4.0]
    assert d["history"]["best"] == [-3.0, -1.0, -1.0, -1.0]

    best = export(name, tmp_path / "best", storage=location)
    assert _exported_trials(best) == [1]
    assert best[0].read_text().splitlines()[1].startswith("# train_loss score -1 (val top-1 0.8000) (search)")
    assert _exported_trials(export(name, tmp_path / "ops", storage=location, pareto=True, cost="ops")) == FRONT_OPS
    assert _exported_trials(export(name, tmp_path / "params", storage=location, pareto=True,
                                   cost="params")) == FRONT_PARAMS

    # The report's front is drawn at the score the study ranked by, and the axis says which.
    fig = F.pareto(d, "ops")
    front = next(s for s in fig.data if s.name == "Pareto front")
    assert list(front.y) == [-2.0, -1.0]
    assert "train_loss" in fig.layout.yaxis.title.text

    # The trial table and the page say what the study ranked by.
    assert d["score_label"] == "train_loss score"
    assert d["headers"][6] == "train_loss score (ranked by)"
    assert [row["cells"][6] for row in d["table"]] == ["-3", "-1", "-2", "-4", ""]
    html, _ = study_report_html(study, location)
    assert "Best in the search within the budget: trial 1, train_loss score -1 (what the study ranked by)" in html

    # The live view marks the same best.
    assert trials_table(study, "lossy").caption.endswith("best feasible: #1 train_loss score -1")


def test_widths_stored_as_text_by_older_studies_still_load(tmp_path):
    """Before widths were stored structured, a trial held their text: the report parses it back."""
    assert read_widths("stem 16/56 | 64,128 | 144,144,136 | 224") == {
        "stem": [16, 56], "stages": [[64, 128], [144, 144, 136], [224]]}
    assert read_widths({"stem": [8], "stages": [[32, 48]]}) == {"stem": [8], "stages": [[32, 48]]}
    assert read_widths("") is None and read_widths(None) is None and read_widths("stem x | ?") is None

    study = optuna.create_study(study_name="old", storage=open_storage(str(tmp_path / "old.journal")),
                                direction="maximize")
    attrs = {"spec": _spec_text(0), "ops": 20_000_000, "params": 1_000_000, "activations": 50_000,
             "widths": "stem 16/56 | 64,128 | 144,144,136 | 224", "feasible": True, "trained": True,
             "val_top1": 0.9}
    dist = {"width": FloatDistribution(0.2, 1.0)}
    study.add_trial(optuna.trial.create_trial(params={"width": 0.5}, distributions=dist, value=0.9,
                                              user_attrs=attrs))
    t = study_data(study)["trials"][0]
    assert (t["widths"], t["depths"], t["depths_text"]) == ("stem 16/56 | 64,128 | 144,144,136 | 224", [2, 3, 1],
                                                            "2/3/1")
    assert t["score"] == 0.9 and t["category"] == "trained"
