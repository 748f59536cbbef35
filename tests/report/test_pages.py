"""The report files as HTML text: self-contained, escaped, written where asked; studies only read."""

from __future__ import annotations

import hashlib
import html
import re

import pytest
from plotly.offline import get_plotlyjs

import archkit
from archkit.report import compare_report_html, profile_report, profile_report_html, study_report

from .conftest import load


def _without_plotlyjs(text: str) -> str:
    js = get_plotlyjs()
    assert text.count(js) == 1, "plotly.js must be inlined exactly once"
    return text.replace(js, "")


@pytest.mark.parametrize("kind", ["profile", "compare", "study", "confirmed", "failed"])
def test_reports_are_self_contained(report_files, kind):
    text = report_files[kind].read_text(encoding="utf-8")
    rest = _without_plotlyjs(text)
    # Nothing of ours points at the network: no URLs, no external scripts, styles, fonts or images.
    assert not re.search(r"https?:|//cdn|<link\b|<img\b|@import|url\(", rest, re.IGNORECASE), \
        re.search(r".{60}(https?:|//cdn|<link\b|<img\b|@import|url\().{60}", rest, re.IGNORECASE | re.DOTALL)
    assert not re.search(r"<script[^>]+src=", text)
    assert rest.startswith("<!DOCTYPE html>") and rest.rstrip().endswith("</html>")


def test_profile_report_sections(report_files):
    text = report_files["profile"].read_text(encoding="utf-8")
    assert "<title>googlenet — archkit profile</title>" in text
    for anchor in ('id="paper"', 'id="table1"', 'id="fig-layers"', 'id="fig-sunburst"', 'id="fig-activations"',
                   'id="aux"'):
        assert anchor in text, anchor
    assert text.count('<tr class="disagrees">') == 3
    assert "so its ops were derived from the printed params" in text


def test_paper_numbers_only_where_they_apply(tmp_path, googlenet32):
    path = profile_report(googlenet32, tmp_path / "deep" / "er" / "g32.html")  # parents are created
    text = path.read_text(encoding="utf-8")
    assert 'id="paper"' not in text and "paper params" not in text
    with pytest.raises(ValueError, match="224x224"):
        profile_report(googlenet32, tmp_path / "x.html", paper=True)
    assert not (tmp_path / "x.html").exists()


def test_user_text_is_escaped(googlenet32):
    from archkit.spec import spec_from_data

    data = googlenet32.to_dict()
    data["name"] = '<b onmouseover="x()">net</b> & co'
    spec = spec_from_data(data, "test")
    for text in (profile_report_html(archkit.profile(spec)), compare_report_html(spec, googlenet32)):
        assert "<b onmouseover" not in text
        assert "&lt;b onmouseover=&quot;x()&quot;&gt;net&lt;/b&gt; &amp; co" in text


def test_compare_report_sections(report_files):
    text = report_files["compare"].read_text(encoding="utf-8")
    assert "<title>googlenet vs googlenet-32 — archkit compare</title>" in text
    assert "Only in A: norm1, norm2, pool2." in text
    assert text.count('<tr class="only-a">') == 3


def test_study_report_is_read_only(study_file, tmp_path):
    before = hashlib.sha256(study_file.path.read_bytes()).hexdigest()
    result = study_report(study_file.name, tmp_path / "again.html", storage=study_file.storage)
    assert hashlib.sha256(study_file.path.read_bytes()).hexdigest() == before
    assert result.message == "" and result.path.is_file()


def test_study_report_sections(report_files, study):
    text = report_files["study"].read_text(encoding="utf-8")
    for anchor in ("fig-pareto-ops", "fig-pareto-params", "fig-history", "fig-importances", "fig-parallel",
                   "fig-best", 'id="trials"', 'id="facts"', 'id="config"'):
        assert anchor in text, anchor
    assert text.count("<tr") >= len(study.trials)
    assert 'class="sortable"' in text


def _body_text(text: str) -> str:
    """The page's body as a reader sees it: scripts dropped, tags removed, entities decoded."""
    body = text.split("<body>", 1)[1]
    body = re.sub(r"<script\b.*?</script>", "", body, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_confirmed_study_report_leads_with_the_verdict(report_files, confirmed_study):
    from archkit.search.confirm import headline

    text = report_files["confirmed"].read_text(encoding="utf-8")
    line = headline(confirmed_study.user_attrs["verdict"])
    assert _body_text(text).lstrip().startswith(line)
    assert f'<p class="verdict better">{html.escape(line)}</p>' in text
    # the confirmation comes before the search's own plots, every search figure still drawn
    anchors = ['id="confirmation"', 'id="fig-confirm"', 'id="confirmed"', 'id="fig-pareto-ops"', 'id="fig-history"',
               'id="fig-best"', 'id="trials"']
    positions = [text.index(a) for a in anchors]
    assert positions == sorted(positions)
    # which split each number is on
    assert "search accuracies are validation top-1 after the search&#x27;s short recipe; the confirmation&#x27;s " \
           "are test top-1" in text
    assert "validation split, the search&#x27;s short recipe" in text  # the best-in-the-search line
    assert "not confirmed yet" not in text


def test_study_without_a_verdict_renders_as_before(report_files, study_file):
    text = report_files["study"].read_text(encoding="utf-8")
    assert "fig-confirm" not in text and 'class="verdict' not in text and 'id="confirmation"' not in text
    body = _body_text(text).lstrip()
    assert body.startswith("study demo — archkit search report")
    assert f"not confirmed yet: run archkit confirm demo --storage {study_file.storage}" in body
    assert "search accuracies are validation top-1 after the search's short recipe; ops are" in body


def test_failed_study_report_says_so(report_files, failed_study_file):
    text = report_files["failed"].read_text(encoding="utf-8")
    assert "plotly-graph-div" not in text
    assert re.search(r"class=\"message\">study &#x27;broken&#x27; has no finished trials \(\d+ failed\); last error: "
                     r"RuntimeError: CUDA out of memory", text)
    assert len(load(failed_study_file).trials) == text.count('<tr class="failed">')


def test_empty_study_report(empty_study_file, tmp_path):
    result = study_report("empty", tmp_path / "empty.html", storage=empty_study_file.storage)
    assert result.message == "study 'empty' has no trials yet: nothing to report."
    assert "has no trials yet" in result.path.read_text(encoding="utf-8")
