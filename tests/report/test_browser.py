"""The reports in a real browser (Debian's Chromium via Playwright), opened from file:// URLs with
every network request refused: they load without errors, every figure draws, the drawn points
are the data's, hover labels name the candidate, the buttons and the sortable table work.

No Chromium is a failure with the command that installs it, never a skip (see conftest.py)."""

from __future__ import annotations

import pytest

import archkit
from archkit.profile import compare_paper
from archkit.report import data as D

from .conftest import open_report

FIGURES = {
    "profile": ["fig-layers", "fig-sunburst", "fig-activations"],
    "compare": ["fig-compare", "fig-deltas", "fig-cumulative", "fig-activations"],
    "study": ["fig-confirm", "fig-pareto-ops", "fig-pareto-params", "fig-history", "fig-importances", "fig-parallel",
              "fig-best"],
    "failed": [],
}
KINDS = list(FIGURES)
# The study page opened here is the confirmed demo study (its trials plus a verdict): one page load
# checks the confirmation and the search's figures. The page without a verdict differs only in
# lacking the confirmation (test_pages.py checks its HTML).
REPORT = {"study": "confirmed"}


@pytest.fixture(scope="module")
def opened(browser_context, report_files):
    """opened(kind) -> the report loaded once in this module's browser tab for it."""
    pages = {}

    def get(kind):
        if kind not in pages:
            pages[kind] = open_report(browser_context, report_files[REPORT.get(kind, kind)])
        return pages[kind]

    yield get
    for loaded in pages.values():
        loaded.page.close()


@pytest.fixture(scope="module")
def demo(study, study_file):
    return D.study_data(study, study_file.storage)


def plot_data(page, div_id: str) -> list[dict]:
    """The traces Plotly drew in a plot div (its `data`, after defaults), as plain JSON."""
    return page.evaluate("id => JSON.parse(JSON.stringify(document.getElementById(id).data))", div_id)


@pytest.mark.parametrize("kind", KINDS)
def test_loads_offline_without_errors(opened, kind):
    loaded = opened(kind)
    assert loaded.blocked == [], f"the page asked the network for {loaded.blocked}"
    assert loaded.requests == [loaded.path.resolve().as_uri()]
    assert loaded.console_errors == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_renders(opened, kind):
    page = opened(kind).page
    drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map(d => [d.id,
        d.classList.contains('js-plotly-plot') && d.querySelectorAll('.main-svg').length > 0,
        d.getBoundingClientRect().width, d.getBoundingClientRect().height])""")
    assert [d[0] for d in drawn] == FIGURES[kind]
    for div_id, svg, width, height in drawn:
        assert svg, f"{div_id} has no SVG"
        # sized for a laptop: the content column (at most 1240 px) and a few hundred px high
        assert 900 <= width <= 1240 and 280 <= height <= 600, (div_id, width, height)


# --- profile ---------------------------------------------------------------------------------


def test_profile_figures_show_every_layer(opened, googlenet):
    page = opened("profile").page
    p = archkit.profile(googlenet)
    d = D.profile_data(p, compare_paper(p))
    weighted = [x["name"] for x in d["layers"] if x["params"] or x["ops"]]
    bars = plot_data(page, "fig-layers")
    assert [t["name"] for t in bars[:2]] == ["computed", "computed"]
    assert bars[0]["x"] == bars[1]["x"] == weighted
    assert bars[1]["y"] == pytest.approx([x["ops"] / 1e6 for x in d["layers"] if x["params"] or x["ops"]])
    # the published numbers: every Table 1 row once per panel, each in its status's trace
    rows = compare_paper(p)
    for axis, key in (("y", "params"), ("y2", "ops")):
        published = {n: t["name"] for t in bars[2:] if t["yaxis"] == axis for n in t["x"]}
        assert published == {r.name: "Table 1: " + {"match": "agrees", "near": "within 2%", "disagrees": "disagrees"}[
            getattr(r, f"{key}_status")] for r in rows}
    legend = [t["name"] for t in bars if t.get("showlegend", True)]
    assert legend == ["computed", "Table 1: agrees", "Table 1: within 2%", "Table 1: disagrees"]
    # drawn, not only given: one bar per value in the SVG
    n_bars = page.evaluate("document.querySelectorAll('#fig-layers .trace.bars .point').length")
    assert n_bars == sum(len(t["x"]) for t in bars)
    sunburst = plot_data(page, "fig-sunburst")[0]
    assert sunburst["ids"] == d["sunburst"]["ids"]
    assert page.evaluate("document.querySelectorAll('#fig-sunburst .slice').length") == len(d["sunburst"]["ids"])
    assert plot_data(page, "fig-activations")[0]["x"] == [x["name"] for x in d["layers"]]


def test_log_toggle(opened):
    page = opened("profile").page
    axis_types = "id => { const l = document.getElementById(id).layout; return [l.yaxis.type, l.yaxis2 && l.yaxis2.type]; }"
    assert page.evaluate(axis_types, "fig-layers") in (["linear", "linear"], [None, None])
    page.locator("#fig-layers .updatemenu-button", has_text="log").click()
    page.wait_for_function("document.getElementById('fig-layers')._fullLayout.yaxis.type === 'log'")
    assert page.evaluate(axis_types, "fig-layers") == ["log", "log"]
    page.locator("#fig-layers .updatemenu-button", has_text="linear").click()
    assert page.evaluate(axis_types, "fig-layers") == ["linear", "linear"]


# --- compare ---------------------------------------------------------------------------------


def test_compare_figures_overlay_both_specs(opened, googlenet, googlenet32):
    page = opened("compare").page
    d = D.compare_data(archkit.profile(googlenet), archkit.profile(googlenet32))
    bars = plot_data(page, "fig-compare")
    assert [t["name"] for t in bars] == ["googlenet: params", "googlenet: ops", "googlenet-32: params",
                                         "googlenet-32: ops"]
    weighted = [x["name"] for x in d["layers"] if x["ops_a"] or x["ops_b"] or x["params_a"] or x["params_b"]]
    assert all(t["x"] == weighted for t in bars)
    cumulative = plot_data(page, "fig-cumulative")
    assert cumulative[0]["y"][-1] == pytest.approx(d["a"]["total"]["ops"] / 1e6)
    assert cumulative[1]["y"][-1] == pytest.approx(d["b"]["total"]["ops"] / 1e6)
    assert len(cumulative[1]["x"]) == len(d["layers"]) - len(d["only_a"])


# --- study -----------------------------------------------------------------------------------


def marker_points(traces: list[dict]) -> list[int]:
    """The trial numbers of every point in the marker traces (the front is a line)."""
    return [n for t in traces if "markers" in t["mode"] for n in t["customdata"]]


@pytest.mark.parametrize("cost", ["ops", "params"])
def test_pareto_has_one_point_per_finished_trial(opened, demo, cost):
    page = opened("study").page
    div = f"fig-pareto-{cost}"
    traces = plot_data(page, div)
    assert sorted(marker_points(traces)) == demo["finished"]
    drawn = page.evaluate(f"document.querySelectorAll('#{div} .scatterlayer .trace .points path.point').length")
    assert drawn == len(demo["finished"])
    names = {t["name"] for t in traces}
    assert {"uniform-scaling reference", "trained candidate", "over budget (not trained; drawn at 0)",
            "Pareto front"} <= names
    front = next(t for t in traces if t["name"] == "Pareto front")
    assert len(front["x"]) == len(demo["fronts"][cost])
    reference = next(t for t in traces if t["name"] == "uniform-scaling reference")
    assert reference["customdata"] == [demo["reference"]] and reference["marker"]["symbol"] == "star"
    shapes = page.evaluate(f"document.getElementById('{div}').layout.shapes || []")
    budget = demo["budget"].get(cost)
    assert [s["x0"] for s in shapes] == ([pytest.approx(budget / 1e6)] if budget else [])


def _hover(page, div_id: str, number: int) -> str:
    """Move the mouse onto trial `number`'s point and return the hover label's text."""
    page.locator(f"#{div_id}").scroll_into_view_if_needed()
    x, y = page.evaluate("""([id, number]) => {
        const gd = document.getElementById(id), fl = gd._fullLayout;
        const trace = gd.data.find(t => t.mode.includes('markers') && t.customdata.includes(number));
        const i = trace.customdata.indexOf(number);
        const box = gd.querySelector('.main-svg').getBoundingClientRect();
        return [box.left + fl.xaxis._offset + fl.xaxis.l2p(trace.x[i]),
                box.top + fl.yaxis._offset + fl.yaxis.l2p(trace.y[i])];
    }""", [div_id, number])
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    label = page.locator(f"#{div_id} .hoverlayer .hovertext")
    label.wait_for(timeout=5_000)
    return label.text_content()


@pytest.mark.parametrize("which", ["reference", "trained"])
def test_hover_names_the_candidate(opened, demo, which, tmp_path):
    page = opened("study").page
    trial = next(t for t in demo["trials"] if t["category"] == which)
    text = _hover(page, "fig-pareto-ops", trial["number"])
    page.locator("#fig-pareto-ops").screenshot(path=str(tmp_path / f"hover-{which}.png"))
    assert f"trial {trial['number']}" in text
    assert f"widths: {trial['widths']}" in text
    assert f"depths: {trial['depths_text']}" in text
    assert f"ops {trial['ops'] / 1e6:,.1f}M" in text


def test_other_study_figures(opened, demo):
    page = opened("study").page
    history = plot_data(page, "fig-history")
    points = [n for t in history if t["mode"] == "markers" for n in t["x"]]
    assert sorted(points) == demo["history"]["numbers"]
    importances = plot_data(page, "fig-importances")[0]
    assert set(importances["y"]) == set(demo["importances"]["values"])
    parallel = plot_data(page, "fig-parallel")[0]
    assert [dim["label"] for dim in parallel["dimensions"]] == [*demo["parallel"]["params"], "ops (M)",
                                                                "params (M)", "val top-1 (%)"]
    assert len(parallel["line"]["color"]) == len(demo["parallel"]["numbers"])
    best = plot_data(page, "fig-best")
    assert best[1]["name"] == f"best (trial {demo['best']['number']})"


def test_confirmation_leads_and_draws_every_seed(opened, demo, confirmed_study):
    page = opened("study").page
    c = D.confirmation(confirmed_study.user_attrs["verdict"], demo["trials"])  # the same trials
    assert page.inner_text("main").lstrip().startswith(c["headline"])
    traces = plot_data(page, "fig-confirm")
    rows = c["rows"]
    # per row: test top-1 per seed (in the legend), val top-1 per seed, the mean with its interval
    assert [t["name"] for t in traces if t.get("showlegend", True)] == [r["label"] for r in rows]
    assert len(traces) == 3 * len(rows)
    for row, (test, val, mean) in zip(rows, (traces[i:i + 3] for i in range(0, len(traces), 3)), strict=True):
        assert test["x"] == pytest.approx([100 * x for x in row["test_top1"]])
        assert val["x"] == pytest.approx([100 * x for x in row["val_top1"]])
        assert val["marker"]["symbol"] == "circle-open"
        assert mean["x"] == pytest.approx([100 * row["test_mean"]])
        lo, hi = row["test_ci95"]
        assert mean["error_x"]["array"] == pytest.approx([100 * (hi - row["test_mean"])])
        assert mean["error_x"]["arrayminus"] == pytest.approx([100 * (row["test_mean"] - lo)])
        assert test["marker"]["color"] == val["marker"]["color"] == mean["marker"]["color"]
        label = row["label"]
        for seed, hover, t, v in zip(row["seeds"], test["hovertext"], row["test_top1"], row["val_top1"], strict=True):
            assert hover == (f"<b>{label}</b>, seed {seed}<br>test top-1 {100 * t:.2f}%<br>val top-1 {100 * v:.2f}%"
                             f"<br>ops {row['ops'] / 1e6:,.1f}M, params {row['params'] / 1e6:,.3f}M")
    colors = [traces[i]["marker"]["color"] for i in range(0, len(traces), 3)]
    assert colors[0] == "#d62728" and len(set(colors[1:])) == 2 and "#d62728" not in colors[1:]  # the reference
    ticks = page.evaluate("document.getElementById('fig-confirm').layout.yaxis.ticktext")
    assert ticks[1] == f"<b>trial {c['best']} (best)</b>"
    # drawn: a dot per seed (test and val) and a mean per row; an interval bar per row
    seeds = sum(len(r["test_top1"]) for r in rows)
    assert page.evaluate("document.querySelectorAll('#fig-confirm .scatterlayer .trace .points path.point')"
                         ".length") == 2 * seeds + len(rows)
    assert page.evaluate("document.querySelectorAll('#fig-confirm .errorbar').length") == len(rows)


def test_trial_table_sorts_by_header(opened, demo):
    page = opened("study").page
    column = demo["headers"].index("ops (M)")
    header = page.locator("#trials thead th").nth(column)

    def first_column() -> list[int]:
        return [int(x) for x in page.locator("#trials tbody tr td:first-child").all_text_contents()]

    assert first_column() == [t["number"] for t in demo["trials"]]
    by_ops = sorted(demo["trials"], key=lambda t: (t["ops"], t["number"]))
    header.click()
    assert header.get_attribute("data-dir") == "asc"
    assert [t["ops"] for t in demo["trials"] if t["number"] in first_column()[:1]] == [by_ops[0]["ops"]]
    ops = {t["number"]: t["ops"] for t in demo["trials"]}
    assert [ops[n] for n in first_column()] == sorted(ops.values())
    header.click()
    assert [ops[n] for n in first_column()] == sorted(ops.values(), reverse=True)
    # blanks (untrained trials) go last whichever way accuracy is sorted
    acc = page.locator("#trials thead th").nth(demo["headers"].index("val top-1 (%)"))
    acc.click()
    cells = page.locator(f"#trials tbody tr td:nth-child({demo['headers'].index('val top-1 (%)') + 1})")
    values = cells.all_text_contents()
    filled = [float(v) for v in values if v]
    assert filled == sorted(filled) and values[len(filled):] == [""] * (len(values) - len(filled))


def test_failed_study_page_says_so(opened):
    page = opened("failed").page
    message = page.locator(".message").text_content()
    assert "has no finished trials" in message and "CUDA out of memory" in message
    assert page.locator("#trials tbody tr").count() >= 3


@pytest.mark.parametrize("kind", KINDS)
def test_screenshot(opened, kind, tmp_path):
    # Last in this file: a full-page screenshot resizes the viewport, and every responsive figure
    # redraws after it (slow in software WebGL), which the interactive tests need not wait for.
    path = tmp_path / f"{kind}.png"
    opened(kind).page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
