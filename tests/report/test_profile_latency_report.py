"""`archkit profile SPEC --measure --format html`: the layer table's memory-traffic and latency
columns, where it was measured, and the ops-vs-latency view; without --measure the page is as before.

The pages are read as the browser gets them: the table's cells and the data each Plotly figure is
drawn from (the JSON in its `Plotly.newPlot` call). The comparison with `--format json` shares one
measurement between the two commands (the CLI's measuring function returns it), so that every
number can be compared exactly; a second test times a one-conv spec for real."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.latency import measure_layers, spec_traffic
from archkit.profile.render import HEADERS
from archkit.report import profile_report_html
from archkit.report.data.profile import COST_HEADERS, profile_data
from archkit.spec import resolved
from archkit.util.numbers import fmt_ms, fmt_si

from .conftest import open_report

# One conv on an 8x8x3 input (same padding, stride 1), then global average pooling and the
# classifier: conv1 does 8*8 positions x 4 filters x 3 channels x 3x3 = 6,912 multiply-adds per image.
ONE_CONV = """
name: one-conv
input: {channels: 3, size: 8}
classes: 2
layers:
  - {name: conv1, conv: {out: 4, kernel: 3}}
  - {name: gap, global_avgpool: {}}
  - {name: linear, linear: {}}
"""
ONE_CONV_OPS = {"conv1": 8 * 8 * 4 * 3 * 3 * 3, "gap": 0, "linear": 4 * 2}


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result.output


@pytest.fixture(scope="module")
def g32_measured(googlenet32):
    """googlenet-32 timed once (few repeats: the tests check what the page shows, not the timing)."""
    return measure_layers(googlenet32, repeats=3, warmup=1)


@pytest.fixture
def one_measurement(monkeypatch, g32_measured):
    """The CLI's `--measure` returns `g32_measured` (the same numbers in every output); records its calls."""
    calls = []

    def fake(spec, device="cpu", batch=1, precision="fp32"):
        calls.append((spec.name, device, batch, precision))
        return g32_measured

    monkeypatch.setattr("archkit.latency.measure_layers", fake)
    return calls


class _Tables(HTMLParser):
    """Every table of a page: {id: {"head": [cells], "body": [[cells]], "foot": [[cells]]}}."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._table = self._part = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            # A table without an id is keyed by its place: "_0", "_1", ...
            self._table = self.tables.setdefault(attrs.get("id") or f"_{len(self.tables)}",
                                                 {"head": [], "body": [], "foot": []})
        elif tag in ("thead", "tbody", "tfoot") and self._table is not None:
            self._part = {"thead": "head", "tbody": "body", "tfoot": "foot"}[tag]
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            part = self._table[self._part or "body"]
            if self._part == "head":
                part.extend(self._row)
            else:
                part.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = self._part = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(text: str) -> dict[str, dict]:
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def figure(text: str, div_id: str) -> tuple[list[dict], dict]:
    """(traces, layout) of the figure drawn in `div_id`, as the page's script passes them to Plotly."""
    match = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', text)
    assert match, f"no figure {div_id}"
    decoder = json.JSONDecoder()
    traces, end = decoder.raw_decode(text, match.end())
    layout, _ = decoder.raw_decode(text, text.index("{", end))
    return traces, layout


def points(traces: list[dict]) -> dict[str, tuple[float, float]]:
    """The scatter's layer points by name (the reference line has no customdata)."""
    out = {}
    for t in traces:
        if not t.get("customdata"):
            continue
        for name, x, y in zip(t["customdata"], t["x"], t["y"], strict=True):
            assert name not in out, f"{name} drawn twice"
            out[name] = (x, y)
    return out


@pytest.fixture
def measured_pages(runner, tmp_path, one_measurement):
    """googlenet-32 through `archkit profile --measure`: the HTML page and the JSON document."""
    page, doc = tmp_path / "g32.html", tmp_path / "g32.json"
    run(runner, "profile", "googlenet-32", "--measure", "--format", "html", "-o", page)
    run(runner, "profile", "googlenet-32", "--measure", "--format", "json", "-o", doc)
    assert one_measurement == [("googlenet-32", "cpu", 1, "fp32")] * 2
    return page, page.read_text(encoding="utf-8"), json.loads(doc.read_text(encoding="utf-8"))


def test_the_table_gets_bytes_intensity_and_latency(measured_pages, g32_measured):
    _, text, doc = measured_pages
    table = tables(text)["table1"]
    assert table["head"] == list(HEADERS) + list(COST_HEADERS)
    assert [r[0] for r in table["body"]] == [r["name"] for r in doc["rows"]]
    n = len(HEADERS)
    for cells, row in zip(table["body"], doc["rows"], strict=True):
        nbytes, intensity, latency, iqr = cells[n:]
        assert nbytes == fmt_si(row["bytes"]) + "B"
        assert intensity == (f"{row['intensity']:.1f}" if row["intensity"] is not None else "")
        assert latency == fmt_ms(row["latency_ms"]) and float(latency.replace(",", "")) > 0, row["name"]
        assert iqr == fmt_ms(row["latency_iqr_ms"])
    [total] = table["foot"]
    assert total[0] == "total"
    # The total is the whole forward pass timed on its own (the JSON's total.latency_ms), not the
    # layers' latencies summed.
    assert total[n:] == [fmt_si(doc["total"]["bytes"]) + "B", "", fmt_ms(doc["total"]["latency_ms"]),
                         fmt_ms(doc["total"]["latency_iqr_ms"])]
    assert doc["total"]["latency_ms"] == g32_measured.total_ms
    summed = sum(r["latency_ms"] for r in doc["rows"])
    assert f"the layers timed alone add up to {fmt_ms(summed)} ms" in text


def test_the_page_says_where_it_was_measured(measured_pages):
    _, text, doc = measured_pages
    m = doc["measured"]
    headline = (f"Latency measured on {m['device_name']} (cpu, batch of 1 image, fp32, {m['threads']} thread"
                f"{'s' if m['threads'] != 1 else ''}, torch {m['torch']}): whole forward pass "
                f"{fmt_ms(doc['total']['latency_ms'])} ms (IQR {fmt_ms(doc['total']['latency_iqr_ms'])} ms)")
    assert headline in text
    facts = dict(next(t for t in tables(text).values() if t["body"] and t["body"][0][0] == "device")["body"])
    assert facts["device"] == f"{m['device_name']} (cpu)"
    assert (facts["batch"], facts["precision"], facts["threads"], facts["torch"]) == ("1", "fp32", str(m["threads"]),
                                                                                       m["torch"])
    assert facts["whole forward pass"].startswith(f"{fmt_ms(doc['total']['latency_ms'])} ms (IQR ")


def test_ops_vs_latency_scatter_has_every_layer(measured_pages):
    _, text, doc = measured_pages
    traces, layout = figure(text, "fig-ops-latency")
    drawn = points(traces)
    assert set(drawn) == {r["name"] for r in doc["rows"]} and len(drawn) == len(doc["rows"])
    for row in doc["rows"]:
        x, y = drawn[row["name"]]
        assert x == pytest.approx(row["ops"] / 1e6, rel=1e-12)
        assert y == pytest.approx(row["latency_ms"], rel=1e-12)
    # Coloured by layer kind: one trace per type, its name the type.
    kinds = {t["name"]: set(t["customdata"]) for t in traces if t.get("customdata")}
    assert kinds == {k: {r["name"] for r in doc["rows"] if r["type"] == k} for k in {r["type"] for r in doc["rows"]}}
    # The hover label names the layer and gives its ops, bytes, intensity and latency.
    conv2 = next(r for r in doc["rows"] if r["name"] == "conv2")
    trace = next(t for t in traces if "conv2" in (t.get("customdata") or []))
    hover = trace["hovertext"][trace["customdata"].index("conv2")]
    for words in ("<b>conv2</b>", f"ops {conv2['ops'] / 1e6:,.3f}M", f"bytes {fmt_si(conv2['bytes'])}B",
                  f"{conv2['intensity']:,.1f} multiply-adds/byte", f"latency {fmt_ms(conv2['latency_ms'])} ms"):
        assert words in hover, words
    # Axes with units; the title says where the numbers come from.
    assert layout["xaxis"]["title"]["text"] == "ops (M multiply-adds of one image)"
    assert layout["yaxis"]["title"]["text"] == "measured latency (ms per batch, median)"
    assert f"measured on {doc['measured']['device_name']} (cpu)" in layout["title"]["text"]
    # The reference line: y = ops / rate, the layers' multiply-adds over their summed latency.
    [line] = [t for t in traces if not t.get("customdata")]
    weighted = [r for r in doc["rows"] if r["ops"]]
    rate = sum(r["ops"] for r in weighted) / sum(r["latency_ms"] for r in weighted)
    assert line["y"] == pytest.approx([x * 1e6 / rate for x in line["x"]])
    # The shares: one bar per layer in each trace, each trace summing to 100%.
    shares, _ = figure(text, "fig-latency-share")
    assert [len(t["y"]) for t in shares] == [len(doc["rows"])] * 2
    assert [sum(t["y"]) for t in shares] == [pytest.approx(100), pytest.approx(100)]


def test_one_conv_measured_for_real(runner, write_spec):
    """A one-conv spec timed for real at batch 2: a positive latency per layer, the scatter's x
    the batch's multiply-adds by hand."""
    spec = write_spec(ONE_CONV)
    page = spec.with_name("one.html")
    run(runner, "profile", spec, "--measure", "--batch", "2", "--format", "html", "-o", page)
    text = page.read_text(encoding="utf-8")
    table = tables(text)["table1"]
    latency = table["head"].index("latency ms")
    assert [r[0] for r in table["body"]] == list(ONE_CONV_OPS)
    values = [float(r[latency].replace(",", "")) for r in table["body"]]
    assert len(values) == 3 and all(v > 0 for v in values)
    assert float(table["foot"][0][latency].replace(",", "")) > 0
    traces, layout = figure(text, "fig-ops-latency")
    drawn = points(traces)
    assert {name: x for name, (x, _) in drawn.items()} == {k: pytest.approx(2 * v / 1e6, rel=1e-12)
                                                           for k, v in ONE_CONV_OPS.items()}
    assert all(y > 0 for _, y in drawn.values())
    assert layout["xaxis"]["title"]["text"] == "ops (M multiply-adds of a batch of 2 images)"
    assert "batch of 2 images" in text


@pytest.mark.parametrize("extra", [[], ["--batch", "4", "--precision", "bf16"]])
def test_without_measure_the_page_is_unchanged(runner, tmp_path, googlenet32, extra):
    page = tmp_path / "plain.html"
    run(runner, "profile", "googlenet-32", "--format", "html", "-o", page, *extra)
    text = page.read_text(encoding="utf-8")
    assert tables(text)["table1"]["head"] == list(HEADERS)
    for absent in ("fig-ops-latency", "fig-latency-share", 'id="latency"', "latency ms", "Latency measured on",
                   "ops/byte", "measured on"):
        assert absent not in text, absent
    expected = profile_report_html(archkit.profile(googlenet32))
    stamp = re.compile(r"written \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert stamp.sub("", text) == stamp.sub("", expected)


def test_profile_data_needs_both_timing_and_traffic(googlenet32, g32_measured):
    profile = archkit.profile(googlenet32)
    with pytest.raises(ValueError, match="both"):
        profile_data(profile, measured=g32_measured)
    traffic = spec_traffic(resolved(googlenet32))
    d = profile_data(profile, measured=g32_measured, traffic=traffic)
    lat = d["latency"]
    assert [r["name"] for r in lat["layers"]] == [r.name for r in profile.rows]
    assert [r["bytes"] for r in lat["layers"]] == [t.bytes for t in traffic]
    assert lat["total"]["latency_ms"] == g32_measured.total_ms
    assert profile_data(profile)["latency"] is None


@pytest.mark.browser
def test_ops_vs_latency_renders_in_chromium(browser_context, measured_pages, tmp_path):
    path, _, doc = measured_pages
    loaded = open_report(browser_context, path)
    page = loaded.page
    try:
        assert loaded.blocked == [] and loaded.console_errors == []
        drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map(d => [d.id,
            d.querySelectorAll('.main-svg').length > 0, d.getBoundingClientRect().width,
            d.getBoundingClientRect().height])""")
        assert [d[0] for d in drawn] == ["fig-ops-latency", "fig-latency-share", "fig-layers", "fig-sunburst",
                                         "fig-activations"]
        for div_id, svg, width, height in drawn:
            assert svg and 900 <= width <= 1240 and 280 <= height <= 600, (div_id, width, height)
        # Plotly drew one marker per layer (the markers' SVG paths), and the x of each is its ops.
        markers = page.locator("#fig-ops-latency .scatterlayer .trace .points path")
        assert markers.count() == len(doc["rows"])
        xs = page.evaluate("""() => Object.fromEntries(document.getElementById('fig-ops-latency').data
            .filter(t => t.customdata).flatMap(t => t.customdata.map((n, i) => [n, t.x[i]])))""")
        assert xs == {r["name"]: pytest.approx(r["ops"] / 1e6) for r in doc["rows"]}
        # Hovering the biggest layer's point shows its name and latency.
        row = max(doc["rows"], key=lambda r: r["ops"])
        page.locator("#fig-ops-latency").scroll_into_view_if_needed()
        x, y = page.evaluate("""name => {
            const gd = document.getElementById('fig-ops-latency'), fl = gd._fullLayout;
            const t = gd.data.find(t => t.customdata && t.customdata.includes(name));
            const i = t.customdata.indexOf(name), box = gd.querySelector('.main-svg').getBoundingClientRect();
            return [box.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[i]), box.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[i])];
        }""", row["name"])
        page.mouse.move(x - 30, y - 30)
        page.mouse.move(x, y, steps=5)
        label = page.locator("#fig-ops-latency .hoverlayer .hovertext")
        label.wait_for(timeout=5_000)
        assert row["name"] in label.text_content() and f"latency {fmt_ms(row['latency_ms'])} ms" in \
            label.text_content()
        page.locator("#latency").screenshot(path=str(tmp_path / "ops-latency.png"))
    finally:
        page.close()


def test_profile_report_measures_when_asked(write_spec, tmp_path):
    """The Python call behind the page: `profile_report(..., measure=True)` times the spec itself."""
    from archkit.report import profile_report

    spec = archkit.load_spec(write_spec(ONE_CONV))
    text = profile_report(spec, tmp_path / "one.html", measure=True, precision="bf16").read_text(encoding="utf-8")
    table = tables(text)["table1"]
    assert table["head"] == list(HEADERS) + list(COST_HEADERS)
    assert all(float(r[-2].replace(",", "")) > 0 for r in table["body"])
    assert ", bf16, " in text and "fig-ops-latency" in text
    plain = profile_report(spec, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "fig-ops-latency" not in plain and tables(plain)["table1"]["head"] == list(HEADERS)
