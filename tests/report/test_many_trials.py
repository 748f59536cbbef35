"""A study of hundreds of scored candidates (what a supernet study makes): its scatter plots are
drawn with WebGL, and every candidate is on them."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution

from archkit.report import figures as F
from archkit.report.data import study_data
from archkit.search.storage import open_storage


def _study(tmp_path, n: int):
    import archkit
    from archkit.spec.yamlio import dump_yaml

    location = str(tmp_path / "many.journal")
    study = optuna.create_study(study_name="many", storage=open_storage(location), direction="maximize")
    spec = dump_yaml(archkit.load_spec("googlenet-32").to_dict())
    dist = {"width": FloatDistribution(0.0, 1.0)}
    for k in range(n):
        # accuracy rises with cost, with a wobble: (k * 37) % 100 spreads the points
        ops, acc = 1_000_000 + 10_000 * k, 0.5 + 0.004 * ((k * 37) % 100)
        attrs = {"spec": spec, "ops": ops, "params": 20_000 + 100 * k, "activations": 5_000, "width_scale": 1.0,
                 "widths": {"stem": [8, 24], "stages": [[32], [48], [64]]}, "arch": f"a{k}", "feasible": True,
                 "constraints": [0.0], "trained": True, "val_top1": acc, "val_top5": 1.0}
        study.add_trial(optuna.trial.create_trial(params={"width": k / n}, distributions=dist, value=acc,
                                                  user_attrs=attrs))
    study.set_user_attr("budget", {"ops": 5_000_000})
    return study, location


def test_hundreds_of_candidates_are_drawn_with_webgl(tmp_path):
    study, location = _study(tmp_path, 300)
    d = study_data(study, location)
    fig = F.pareto(d, "ops")
    markers = [t for t in fig.data if t.mode == "markers"]
    assert {t.type for t in markers} == {"scattergl"}
    assert sum(len(t.x) for t in markers) == 300
    history = F.history(d)
    assert {t.type for t in history.data if t.mode == "markers"} == {"scattergl"}


def test_a_small_study_keeps_svg_markers(tmp_path):
    study, location = _study(tmp_path, 12)
    fig = F.pareto(study_data(study, location), "ops")
    assert {t.type for t in fig.data if t.mode == "markers"} == {"scatter"}
