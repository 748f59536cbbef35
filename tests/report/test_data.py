"""The reports' plain data, without Plotly or a browser: what each figure and table will show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import archkit
from archkit.profile import compare_paper
from archkit.report import data as D
from archkit.search.space import candidate

from ..profile.test_googlenet_table1 import EXPECTED, INCEPTION
from .conftest import load


@pytest.fixture(scope="module")
def googlenet_profile(googlenet):
    return archkit.profile(googlenet)


@pytest.fixture(scope="module")
def googlenet_data(googlenet_profile):
    return D.profile_data(googlenet_profile, compare_paper(googlenet_profile))


# --- a profile -------------------------------------------------------------------------------


def test_data_functions_do_not_need_plotly(study_file, confirmed_study_file):
    # In a fresh process with plotly made unimportable: every data function still works.
    code = f"""
import json, sys
sys.modules["plotly"] = None
import archkit
from archkit.profile import compare_paper
from archkit.search.export import load_study
from archkit.report.data import compare_data, profile_data, study_data
p = archkit.profile(archkit.load_spec("googlenet"))
q = archkit.profile(archkit.load_spec("googlenet-32"))
a = profile_data(p, compare_paper(p))
b = compare_data(p, q)
s = study_data(load_study({study_file.name!r}, {study_file.storage!r})[0])
c = study_data(load_study({confirmed_study_file.name!r}, {confirmed_study_file.storage!r})[0])["confirmation"]
print(json.dumps([len(a["layers"]), len(b["layers"]), len(s["trials"]), len(c["rows"]), "plotly" in sys.modules and sys.modules["plotly"] is not None]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [20, 20, 16, 3, False]


def test_profile_data_rows_are_the_profile(googlenet_profile):
    d = D.profile_data(googlenet_profile)
    assert [x["name"] for x in d["layers"]] == [r.name for r in googlenet_profile.rows]
    assert d["total"] == {"params": 6_990_272, "ops": 1_582_671_872, "activations": googlenet_profile.total.activations}
    assert sum(x["ops"] for x in d["layers"]) == d["total"]["ops"]
    assert d["headers"] == list(D.HEADERS) and d["paper"] is None
    assert all(len(row["cells"]) == len(d["headers"]) for row in d["table"])
    assert [a["name"] for a in d["aux"]] == ["aux1", "aux2"]
    assert d["input"] == "224x224x3"


def test_profile_table_cells_read_like_table1(googlenet_data):
    cells = {row["cells"][0]: row["cells"] for row in googlenet_data["table"]}
    # layer, type, patch, output, depth, 6 filter columns, params (K = 1024), ops (M), paper params, ops, status
    assert cells["inception3a"][:13] == ["inception3a", "inception", "", "28x28x256", "2", "64", "96", "128", "16",
                                         "32", "32", "160K", "128M"]
    assert cells["conv2"][5:11] == ["", "64", "192", "", "", ""]
    for name in INCEPTION:
        params, ops = EXPECTED[name]
        row = googlenet_data["layers"][[x["name"] for x in googlenet_data["layers"]].index(name)]
        assert (row["params"], row["ops"]) == (params, ops)


def test_paper_rows_are_marked(googlenet_data, googlenet_profile):
    status = {row["cells"][0]: row["status"] for row in googlenet_data["table"]}
    rows = compare_paper(googlenet_profile)
    for r in rows:
        worst = "disagrees" if "disagrees" in (r.params_status, r.ops_status) else \
            "near" if "near" in (r.params_status, r.ops_status) else "match"
        assert status[r.name] == worst
    assert googlenet_data["paper"]["disagrees"] == ["conv1", "inception4c", "inception5a"]
    assert {n for n, s in status.items() if s == "disagrees"} == {"conv1", "inception4c", "inception5a"}
    # rows Table 1 has no numbers for get no status
    assert status["pool1"] == "" and status["norm1"] == ""
    conv1 = next(row for row in googlenet_data["table"] if row["cells"][0] == "conv1")
    assert conv1["cells"][-3:] == ["2.7K", "34M", "DIFFERS"]
    assert any("conv1" in line and "derived from the printed params" in line
               for line in googlenet_data["paper"]["summary"])


def test_stages_follow_the_search_names(googlenet_profile, googlenet32):
    stages = dict(zip([r.name for r in googlenet_profile.rows], D.stage_names(googlenet_profile.rows), strict=True))
    assert [stages[n] for n in ("conv1", "norm2", "pool2")] == ["stem"] * 3
    assert stages["inception3a"] == stages["inception3b"] == "stage3"
    assert stages["pool3"] == stages["inception4e"] == "stage4"  # a grid-reduction pool opens its stage
    assert stages["inception5b"] == "stage5"
    assert [stages[n] for n in ("avgpool", "dropout", "linear")] == ["head"] * 3
    from archkit.search.space import stages_of

    named = {s for s in stages.values() if s.startswith("stage")}
    assert named == set(stages_of(googlenet32))


def test_sunburst_values_add_up(googlenet_data):
    tree = googlenet_data["sunburst"]
    assert len(set(tree["ids"])) == len(tree["ids"])
    value = dict(zip(tree["ids"], tree["values"], strict=True))
    children: dict[str, list[str]] = {}
    for node, parent in zip(tree["ids"], tree["parents"], strict=True):
        if parent:
            children.setdefault(parent, []).append(node)
    for parent, kids in children.items():
        assert sum(value[k] for k in kids) == value[parent], parent
    roots = [i for i, p in zip(tree["ids"], tree["parents"], strict=True) if not p]
    assert roots == ["stem", "stage3", "stage4", "stage5", "head"]
    assert sum(value[r] for r in roots) == googlenet_data["total"]["ops"]
    assert [value[k] for k in children["stage3/inception3a"]] == [9633792, 101154816, 12443648, 4816896]
    assert "stem/pool1" not in value  # no ops, no slice


# --- two profiles ----------------------------------------------------------------------------


def test_compare_with_itself_is_all_zero(googlenet_profile):
    d = D.compare_data(googlenet_profile, googlenet_profile)
    assert d["changed"] == 0 and d["only_a"] == d["only_b"] == []
    assert all(x["params_delta"] == x["ops_delta"] == 0 for x in d["layers"])
    assert d["a"]["label"] == "googlenet (A)" and d["b"]["label"] == "googlenet (B)"
    assert d["total_cells"][-1] == "0%"


def test_compare_googlenet_with_googlenet32(googlenet_profile, googlenet32):
    p32 = archkit.profile(googlenet32)
    d = D.compare_data(googlenet_profile, p32)
    assert d["only_a"] == ["norm1", "norm2", "pool2"] and d["only_b"] == []
    assert sum(x["ops_a"] for x in d["layers"]) == googlenet_profile.total.ops
    assert sum(x["ops_b"] for x in d["layers"]) == p32.total.ops
    assert d["total"]["ops_delta"] == p32.total.ops - googlenet_profile.total.ops
    row = next(r for r in d["table"] if r["cells"][0] == "inception3a")
    assert row["cells"][1:3] == ["28x28x256", "16x16x256"] and row["status"] == "changed"
    assert next(r for r in d["table"] if r["cells"][0] == "norm1")["status"] == "only-a"


def test_compare_aligns_a_deeper_stage(googlenet32):
    deeper = candidate(googlenet32, {"stage4.depth": 6}, 8, 1.0, "deeper")
    d = D.compare_data(archkit.profile(googlenet32), archkit.profile(deeper))
    names = [x["name"] for x in d["layers"]]
    assert d["only_b"] == ["inception4f"]
    assert names.index("inception4f") == names.index("inception4e") + 1
    assert d["total"]["ops_delta"] == next(x for x in d["layers"] if x["name"] == "inception4f")["ops_b"] + sum(
        x["ops_delta"] for x in d["layers"] if x["in_a"] and x["in_b"])


def test_align_pairs_by_name():
    assert D.align(["a", "b", "c"], ["a", "x", "b"]) == [(0, 0), (None, 1), (1, 2), (2, None)]
    assert D.align([], ["a"]) == [(None, 0)]


# --- a study ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(study, study_file):
    return D.study_data(study, study_file.storage)


def test_study_trials_and_categories(demo, study):
    frozen = study.get_trials(deepcopy=False)
    assert [t["number"] for t in demo["trials"]] == [t.number for t in frozen]
    assert demo["finished"] == [t.number for t in frozen if t.state.name in ("COMPLETE", "PRUNED")]
    cats = {t["number"]: t["category"] for t in demo["trials"]}
    assert cats[0] == "reference" and demo["reference"] == 0
    for t in frozen:
        a = t.user_attrs
        expected = ("pruned" if t.state.name == "PRUNED" else "over budget" if a["feasible"] is False
                    else "reference" if a.get("reference") else "trained")
        assert cats[t.number] == expected
    # the fixture study has every kind the plots draw
    assert {"reference", "trained", "pruned", "over budget"} <= set(cats.values())
    ref = demo["trials"][0]
    # Stored structured (a list per stage), shown as text.
    assert frozen[0].user_attrs["widths"] == {"stem": [16, 56], "stages": [[64, 128], [144, 144, 136, 144, 224],
                                                                            [224, 272]]}
    assert ref["widths"] == "stem 16/56 | 64,128 | 144,144,136,144,224 | 224,272"
    assert ref["depths"] == [2, 5, 2] and ref["depths_text"] == "stage3 2, stage4 5, stage5 2"


def test_fronts_are_not_dominated(demo):
    pool = [t for t in demo["trials"] if t["category"] in ("trained", "reference")]
    for cost in ("ops", "params"):
        front = demo["fronts"][cost]
        assert front, cost
        on = [t for t in pool if t["number"] in front]
        for t in on:
            assert not any(o["val_top1"] > t["val_top1"] and o[cost] <= t[cost] for o in pool)
        for t in pool:
            if t["number"] not in front:
                assert any(o["val_top1"] >= t["val_top1"] and o[cost] <= t[cost] for o in on), t["number"]
        costs = [next(t for t in pool if t["number"] == n)[cost] for n in front]
        assert costs == sorted(costs)


def staircase(trials, cost: str) -> list[int]:
    """The Pareto front by a sweep (not archkit's pairwise test): by increasing cost, then higher
    val top-1, then lower number, keep each trial that beats every cheaper one."""
    front, best = [], float("-inf")
    for t in sorted(trials, key=lambda t: (t.user_attrs[cost], -t.user_attrs["val_top1"], t.number)):
        if t.user_attrs["val_top1"] > best:
            front.append(t.number)
            best = t.user_attrs["val_top1"]
    return front


def test_fronts_are_the_stored_trials_staircase(demo, study):
    trained = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"
               and t.user_attrs.get("feasible") and t.user_attrs.get("trained")]
    for cost in ("ops", "params"):
        assert demo["fronts"][cost] == staircase(trained, cost), cost


def test_best_and_history(demo, study):
    from archkit.search.studies import best_trial

    assert demo["best"]["number"] == best_trial(study)["number"]
    h = demo["history"]
    assert len(h["numbers"]) == len(h["values"]) == len(h["best"])
    assert h["numbers"] == sorted(h["numbers"])
    best = [b for b in h["best"] if b is not None]
    assert best == sorted(best) and best[-1] == demo["best"]["val_top1"]
    over = {t["number"] for t in demo["trials"] if t["category"] == "over budget"}
    assert not over & set(h["numbers"])  # never trained: no accuracy to plot


def test_best_vs_base_layers(demo, googlenet32):
    cmp = demo["best_layers"]
    assert cmp["a"]["spec"] == "googlenet-32"
    assert cmp["a"]["total"]["ops"] == archkit.profile(googlenet32).total.ops
    assert cmp["b"]["total"]["ops"] == demo["best"]["ops"]


def test_importances(demo):
    imp = demo["importances"]
    assert set(imp["values"]) == {"width", "stage4.depth"} and imp["note"] == ""
    assert sum(imp["values"].values()) == pytest.approx(1.0)


def _trial(number, value, sampled, category="trained"):
    return {"number": number, "category": category, "val_top1": value, "sampled": sampled}


def test_importances_guarded():
    one = D.importances([_trial(1, 0.5, {"width": 0.3})])
    assert one["values"] == {} and "at least 2" in one["note"] and "has 1" in one["note"]
    single = D.importances([_trial(1, 0.5, {"width": 0.3}), _trial(2, 0.6, {"width": 0.4})])
    assert single["values"] == {} and "only one parameter" in single["note"]
    # the reference (no sampled params) and over-budget trials do not count
    none = D.importances([_trial(0, 0.9, {}, "reference"), _trial(1, None, {"width": 0.2, "d": 2}, "over budget")])
    assert "has 0" in none["note"]
    mixed = D.importances([_trial(i, 0.5 + i / 20, {"width": 0.2 + i / 50, "factorize": i % 2 == 0})
                           for i in range(6)])
    assert set(mixed["values"]) == {"width", "factorize"}
    # a module only deeper candidates have is not common to every trial: left out, trials kept
    deeper = [_trial(i, 0.5 + i / 20, {"width": 0.2 + i / 50, "depth": 1 + i % 3, **({"m4c": 0.5} if i % 3 else {})})
              for i in range(6)]
    assert D.searched(deeper)[1] == ["depth", "width"]
    assert set(D.importances(deeper)["values"]) == {"depth", "width"}


def test_parallel_axes(demo):
    p = demo["parallel"]
    assert p["params"] == ["stage4.depth", "width"] or p["params"] == ["width", "stage4.depth"]
    assert p["params"][0] == max(demo["importances"]["values"], key=demo["importances"]["values"].get)
    assert p["numbers"] == [t["number"] for t in demo["trials"] if t["category"] == "trained"]


def test_trial_table(demo):
    rows = demo["table"]
    assert len(rows) == len(demo["trials"])
    assert all(len(r["cells"]) == len(r["sort"]) == len(demo["headers"]) for r in rows)
    ops_col = demo["headers"].index("ops (M)")
    ref = rows[0]
    assert ref["status"] == "reference" and ref["cells"][2] == "reference"
    assert ref["sort"][ops_col] == demo["trials"][0]["ops"]
    assert ref["cells"][ops_col] == f"{demo['trials'][0]['ops'] / 1e6:.1f}"
    over = next(r for r in rows if r["status"] == "over budget")
    assert over["cells"][3] == "no" and over["sort"][4] == "" and "never trained" in over["cells"][-1]


def test_facts(demo):
    facts = dict(demo["facts"])
    n_complete = sum(t["state"] == "COMPLETE" for t in demo["trials"])
    n_pruned = sum(t["state"] == "PRUNED" for t in demo["trials"])
    assert facts["trials by state"] == f"{n_complete} complete, {n_pruned} pruned"
    trained = [t for t in demo["trials"] if t["train_seconds"] is not None]
    assert facts["total train time"] == f"{1.25 * len(trained):,.1f} s"
    assert facts["devices"] == f"cpu fp32 ({len(trained)} trials)"
    assert facts["budget"] == "ops 30M" and facts["base spec"] == "googlenet-32"
    assert demo["config"]["trials"] == 16
    assert demo["message"] == "" and demo["notes"] == []


def test_study_with_only_failed_trials(failed_study_file):
    d = D.study_data(load(failed_study_file))
    assert d["finished"] == [] and d["best"] is None
    assert "has no finished trials" in d["message"] and "failed" in d["message"]
    assert "CUDA out of memory (a fake failure)" in d["message"]
    assert d["importances"]["values"] == {}
    assert all(r["status"] == "failed" for r in d["table"]) and d["table"]


def test_study_without_trials(empty_study_file):
    d = D.study_data(load(empty_study_file))
    assert d["trials"] == [] and d["message"] == "study 'empty' has no trials yet: nothing to report."
    assert dict(d["facts"])["trials by state"] == "none"


# --- the confirmation stage ------------------------------------------------------------------


def test_confirmation_rows(confirmed_study, confirmed_study_file):
    import statistics

    from scipy import stats

    from archkit.search.confirm import headline

    verdict = confirmed_study.user_attrs["verdict"]
    d = D.study_data(confirmed_study, confirmed_study_file.storage)
    c = d["confirmation"]
    assert d["notes"] == [] and d["confirm_hint"] == ""
    assert c["headline"] == headline(verdict) and c["headline"].startswith("confirmed: trial ")
    assert c["conclusion"] == "better" and c["seeds"] == 3
    # the reference first, then the verdict's best (the search's second candidate), then the other
    first, second = (x["trial"] for x in verdict["candidates"])
    assert [r["trial"] for r in c["rows"]] == [0, second, first] and c["best"] == second
    assert [r["role"] for r in c["rows"]] == ["reference", "best", "candidate"]
    assert [r["label"] for r in c["rows"]] == ["reference (trial 0)", f"trial {second} (best)", f"trial {first}"]
    hand = {"reference": ([0.905, 0.912, 0.898], [0.902, 0.915, 0.909]),
            "best": ([0.948, 0.952, 0.944], [0.951, 0.944, 0.956]),
            "candidate": ([0.931, 0.925, 0.936], [0.928, 0.919, 0.934])}
    # means by hand: (0.902 + 0.915 + 0.909) / 3 and so on
    means = {"reference": 0.9086667, "best": 0.9503333, "candidate": 0.927}
    for row in c["rows"]:
        val, test = hand[row["role"]]
        assert row["val_top1"] == val and row["test_top1"] == test
        assert row["seeds"] == [r["seed"] for r in verdict["runs"] if r["trial"] == row["trial"]]
        assert len(set(row["seeds"])) == 3
        assert row["test_mean"] == pytest.approx(means[row["role"]], abs=1e-7)
        assert row["val_mean"] == pytest.approx(statistics.mean(val))
        half = stats.t.ppf(0.975, 2) * statistics.stdev(test) / 3 ** 0.5
        assert row["test_ci95"] == pytest.approx([statistics.mean(test) - half, statistics.mean(test) + half])
        assert all(type(x) is float for x in row["test_ci95"])  # plain data, not numpy
        trial = next(t for t in d["trials"] if t["number"] == row["trial"])
        assert row["ops"] == trial["ops"] and row["search_val_top1"] == trial["val_top1"]
    # the reference's interval by hand: s = 0.006506, t(0.975, 2) = 4.3027 -> 90.87% +- 1.62
    ref = c["rows"][0]
    assert [round(100 * x, 2) for x in ref["test_ci95"]] == [89.25, 92.48]
    assert c["table"][0]["cells"][:3] == ["0", "uniform-scaling reference", "3"]
    assert c["table"][0]["cells"][5:8] == ["90.87", "89.25 .. 92.48", "90.2, 91.5, 90.9"]
    assert c["table"][0]["status"] == "reference"
    assert c["delta"] == pytest.approx(0.9503333 - 0.9086667, abs=1e-7)
    which, _, verdict_line = c["notes"]
    assert "validation top-1 after the search's short recipe (2 epochs)" in which
    assert "final recipe (40 epochs)" in which and "180 validation and 360 test images" in which
    assert f"trial {second}) with the reference on test top-1: +4.2 points" in verdict_line


def test_confirmation_with_one_seed():
    verdict = {"reference": {"trial": 0, "val_top1": [0.90], "test_top1": [0.89]},
               "best": {"trial": 4, "val_top1": [0.93], "test_top1": [0.91]},
               "candidates": [{"trial": 4, "val_top1": [0.93], "test_top1": [0.91]}],
               "delta": 0.02, "ci95": [None, None], "interval": "Welch's t (unequal variances), 95%", "seeds": 1,
               "conclusion": "not distinguishable", "recipe": {"epochs": 6}, "recipe_key": "abc", "runs": []}
    c = D.confirmation(verdict)
    assert c["headline"].startswith("not distinguishable: trial 4 vs uniform scaling, +2.0 points")
    assert [r["test_ci95"] for r in c["rows"]] == [[None, None], [None, None]]
    assert [r["test_mean"] for r in c["rows"]] == [0.89, 0.91]
    assert c["rows"][1]["seeds"] == [None] and c["rows"][1]["ops"] is None  # runs and trials not given
    assert c["table"][1]["cells"][6] == "one seed: none"
    assert "no interval with one seed each" in c["notes"][2] and "best searched candidate from scratch" in c["notes"][0]
    assert D.t_interval([0.5]) == (0.5, None, None)
    assert not any("Shortlist" in n for n in c["notes"])
    # final.rerank: the shortlist's one training each, said before the figure's legend
    shortlisted = D.confirmation({**verdict, "rerank": [{"trial": 7, "val_top1": 0.612, "seconds": 3.0},
                                                        {"trial": 4, "val_top1": 0.655, "seconds": 2.0}]})
    assert shortlisted["notes"][1] == (
        "Shortlist (final.rerank): the proxy's 2 best distinct candidates were each trained once with the search's "
        "recipe first (val top-1, in the proxy's order: trial 7 61.2%, trial 4 65.5%); the best of them went on to "
        "the confirmation.")


def test_confirmation_on_fashion_mnist_places_the_best_among_published_results():
    verdict = {"reference": {"trial": 0, "val_top1": [0.90, 0.90], "test_top1": [0.921, 0.923]},
               "best": {"trial": 4, "val_top1": [0.93, 0.94], "test_top1": [0.935, 0.937]},
               "candidates": [{"trial": 4, "val_top1": [0.93, 0.94], "test_top1": [0.935, 0.937]}],
               "delta": 0.014, "ci95": [0.01, 0.02], "interval": "Welch's t (unequal variances), 95%", "seeds": 2,
               "conclusion": "better", "recipe": {"epochs": 6}, "recipe_key": "abc", "runs": []}
    c = D.confirmation(verdict, data="fashion-mnist:/srv/fmnist")
    # the data set README's table: human 83.5% ... WRN-28-10 + random erasing 96.3%
    assert [p["test_top1"] for p in c["published"]] == [0.835, 0.916, 0.925, 0.934, 0.937, 0.939, 0.950, 0.953,
                                                         0.954, 0.963]
    assert c["published"][4]["label"] == "GoogLeNet" and c["published"][8]["params"] == 768_000
    # mean 93.6%: above human, the TF tutorial, 2 conv <100K and 2 conv + BN (93.4); below GoogLeNet (93.7)
    assert "the confirmed best's mean 93.6% is above 4 of the 10, the highest being 2 conv + pooling + BN " \
           "(93.4%)" in c["notes"][-1]
    assert D.confirmation(verdict, data="digits")["published"] == []
    assert D.confirmation(verdict)["published"] == []

    from archkit.report import figures as F

    fig = F.confirmation({"confirmation": c})
    dotted = [s for s in fig.layout.shapes if s.line.dash == "dot"]
    assert sorted(round(s.x0, 1) for s in dotted) == [83.5, 91.6, 92.5, 93.4, 93.7, 93.9, 95.0, 95.3, 95.4, 96.3]
    assert "dotted: published test top-1" in fig.layout.xaxis.title.text


def test_study_without_a_verdict(demo, study_file):
    assert demo["confirmation"] is None
    assert demo["confirm_hint"] == (f"not confirmed yet: run archkit confirm demo --storage {study_file.storage}; "
                                    "until then, every accuracy here is a validation accuracy after the search's "
                                    "short recipe.")


def test_depths_of():
    assert D.depths_of("stem 16/56 | 64,128 | 144,144,136 | 224") == [2, 3, 1]
    assert D.depths_of("") == []
    assert D.depths_of({"stem": [16, 56], "stages": [[64, 128], [144, 144, 136], [224]]}) == [2, 3, 1]
    assert D.depths_of(None) == []


def test_import_report_is_light():
    # Plotly and Optuna load when a page is drawn or a study read, not at `import archkit.report`.
    code = "import sys, archkit.report; print(sorted(m for m in ('plotly', 'optuna', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
