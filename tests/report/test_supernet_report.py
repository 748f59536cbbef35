"""The report of a `proxy: supernet` study: the supernet's training curves (largest, smallest,
sampled sub-networks by epoch, from the study attr the search sets) beside the accuracy-vs-cost
front of hundreds of scored candidates (WebGL)."""

from __future__ import annotations

from archkit.report import figures as F
from archkit.report.api import study_report_html
from archkit.report.data import records as RR
from archkit.report.data import study_data, supernet_curves
from archkit.search import record as R

from .test_many_trials import _study
from .test_records import check

HISTORY = [{"epoch": e, "step": 10 * e, "lr": 0.05, "train_loss": 1.0 / e, "val_top1": 0.5 + 0.1 * e,
            "val_top5": 0.9, "val_top1_smallest": 0.3 + 0.1 * e, "val_top1_sampled_1": 0.4 + 0.1 * e,
            "val_top1_sampled_2": 0.45 + 0.1 * e, "seconds": 5.0 * e} for e in (1, 2, 3)]
ATTR = {"directory": "runs/many-supernet", "seconds": 15.0, "step": 30, "history": HISTORY}


def test_the_curves_come_from_the_study_attr():
    sn = supernet_curves({R.SUPERNET: ATTR}, candidates=300)
    check(sn, RR.SupernetCurves)
    assert sn["epochs"] == [1.0, 2.0, 3.0] and sn["step"] == 30 and sn["candidates"] == 300
    assert sn["largest"] == [0.6, 0.7, 0.8]
    assert [round(v, 6) for v in sn["smallest"]] == [0.4, 0.5, 0.6]
    assert len(sn["sampled"]) == 2 and [round(v, 6) for v in sn["sampled"][1]] == [0.55, 0.65, 0.75]
    assert supernet_curves({}) is None  # another proxy's study
    assert supernet_curves({R.SUPERNET: "garbage"}) is None
    # A checkpoint trained before sampled sub-networks were scored: no sampled series.
    old = {**ATTR, "history": [{k: v for k, v in e.items() if "sampled" not in k} for e in HISTORY]}
    assert supernet_curves({R.SUPERNET: old})["sampled"] == []


def test_a_supernet_study_shows_its_curves_beside_the_webgl_front(tmp_path):
    study, location = _study(tmp_path, 300)
    study.set_user_attr(R.SUPERNET, ATTR)
    d = study_data(study, location)
    check(d, RR.StudyData)
    assert d["supernet"]["candidates"] == 300 and d["supernet"]["directory"] == "runs/many-supernet"
    fig = F.supernet_curves(d)
    assert [t.name for t in fig.data] == ["largest", "smallest", "sampled 1", "sampled 2"]
    assert list(fig.data[0].y) == [60.0, 70.0, 80.0] and list(fig.data[0].x) == [1.0, 2.0, 3.0]
    assert {t.type for t in F.pareto(d, "ops").data if t.mode == "markers"} == {"scattergl"}
    page, _ = study_report_html(study, location)
    assert page.index('id="pareto"') < page.index('id="supernet"') < page.index('id="importances"')
    assert "fig-supernet" in page and "runs/many-supernet" in page and "30 steps" in page


def test_another_study_has_no_supernet_section(tmp_path):
    study, location = _study(tmp_path, 12)
    d = study_data(study, location)
    assert d["supernet"] is None
    assert 'id="supernet"' not in study_report_html(study, location)[0]
