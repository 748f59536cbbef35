"""`archkit compare` and `archkit report` through typer's CliRunner."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from archkit.cli import app


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def fails(runner, *args) -> str:
    """A command that must fail as a user error: exit 2, one line on stderr, nothing on stdout."""
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_report_writes_the_study_report(runner, study_file, tmp_path):
    out = tmp_path / "r" / "demo.html"
    result = run(runner, "report", study_file.name, "--storage", study_file.storage, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"wrote {out}"]
    assert "fig-pareto-ops" in out.read_text(encoding="utf-8")


def test_report_default_storage_and_output(runner, study_file, tmp_path, monkeypatch):
    # `archkit report NAME` finds studies/NAME.journal (or .db) and writes reports/NAME.html.
    (tmp_path / "studies").mkdir()
    shutil.copy(study_file.path, tmp_path / "studies" / f"{study_file.name}.journal")
    monkeypatch.chdir(tmp_path)
    result = run(runner, "report", study_file.name)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / f"{study_file.name}.html").is_file()


def test_report_of_a_study_without_finished_trials(runner, failed_study_file, tmp_path):
    out = tmp_path / "broken.html"
    result = run(runner, "report", failed_study_file.name, "--storage", failed_study_file.storage, "-o", out)
    assert result.exit_code == 0, result.output
    wrote, note = result.stderr.splitlines()
    assert wrote == f"wrote {out}"
    assert note.startswith("note: study 'broken' has no finished trials (") and note.endswith("The report says so.")
    assert "has no finished trials" in out.read_text(encoding="utf-8")


def test_report_bad_study_name(runner, study_file, tmp_path):
    line = fails(runner, "report", "nosuch", "--storage", study_file.storage, "-o", tmp_path / "x.html")
    assert line == f"error: no study named 'nosuch' in {study_file.storage}"
    assert not (tmp_path / "x.html").exists()


def test_report_no_storage_file(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fails(runner, "report", "nosuch") == "error: no study storage at studies/nosuch.db"
    assert fails(runner, "report", "x", "--storage", tmp_path / "none.journal") == \
        f"error: no study storage at {tmp_path / 'none.journal'}"
    assert list(tmp_path.iterdir()) == []  # reading creates no storage


def test_report_bad_storage(runner):
    line = fails(runner, "report", "demo", "--storage", "not-a-storage")
    assert line.startswith("error: storage 'not-a-storage' is neither a URL")


def test_report_unwritable_output(runner, study_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = fails(runner, "report", study_file.name, "--storage", study_file.storage, "-o", blocker / "r.html")
    assert line.startswith(f"error: {blocker / 'r.html'}: cannot write")


def test_compare_writes_the_report(runner, tmp_path, write_spec, googlenet32):
    from archkit.spec.yamlio import dump_yaml

    data = googlenet32.to_dict()
    data["name"] = "narrow"
    data["layers"][0]["conv"]["out"] = 32
    spec = write_spec(dump_yaml(data), "narrow.yaml")
    out = tmp_path / "diff.html"
    result = run(runner, "compare", "googlenet-32", spec, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "<title>googlenet-32 vs narrow — archkit compare</title>" in text
    assert '<tr class="changed"><td class="text">conv1</td>' in text


def test_compare_default_output(runner, tmp_path, monkeypatch):
    # a table in the terminal by default; --format html without -o writes reports/A-vs-B.html
    monkeypatch.chdir(tmp_path)
    result = run(runner, "compare", "googlenet", "googlenet-32")
    assert result.exit_code == 0, result.output
    assert "inception3a" in result.stdout and "Δ params" in result.stdout and not (tmp_path / "reports").exists()
    result = run(runner, "compare", "googlenet", "googlenet-32", "--format", "html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "googlenet-vs-googlenet-32.html").is_file()


def test_compare_csv_json_markdown_by_hand(runner, tmp_path, write_spec, googlenet32):
    import csv
    import json

    from archkit.spec.yamlio import dump_yaml

    data = googlenet32.to_dict()
    data["name"] = "narrow"
    data["layers"][0]["conv"]["out"] = 32  # conv1: 64 -> 32 filters of 3x7x7... as googlenet-32 writes it
    spec = write_spec(dump_yaml(data), "narrow.yaml")
    k = googlenet32.layers[0].conv.kernel
    k = k if isinstance(k, int) else k[0]
    rows = list(csv.DictReader((tmp_path / "x.csv").open() if run(
        runner, "compare", "googlenet-32", spec, "-o", tmp_path / "x.csv").exit_code == 0 else []))
    conv1 = next(r for r in rows if r["layer"] == "conv1")
    # 3 input channels x k x k weights per filter; 32 filters fewer on a 32x32 output grid
    assert int(conv1["params_a"]) == 3 * k * k * 64 and int(conv1["params_delta"]) == -3 * k * k * 32
    assert int(conv1["ops_delta"]) == -3 * k * k * 32 * 32 * 32
    out = json.loads(run(runner, "compare", "googlenet-32", spec, "-f", "json").stdout)
    assert out["total"]["params_delta"] == sum(int(r["params_delta"]) for r in rows if r["layer"] != "total")
    md = run(runner, "compare", "googlenet-32", spec, "-f", "markdown").stdout
    assert md.startswith("### googlenet-32 vs narrow (deltas are B - A)") and "| conv1 |" in md
    assert fails(runner, "compare", "googlenet-32", spec, "-f", "pdf") == (
        "error: --format must be one of table, csv, markdown, json, html, got 'pdf'")


def test_compare_bad_spec(runner, tmp_path, write_spec):
    assert "nosuch" in fails(runner, "compare", "googlenet", "nosuch", "-o", tmp_path / "x.html")
    bad = write_spec("name: x\nlayers: 3\n", "bad.yaml")
    line = fails(runner, "compare", bad, "googlenet", "-o", tmp_path / "x.html")
    assert line.startswith(f"error: {bad}")
    assert not (tmp_path / "x.html").exists()


def test_help_lists_the_commands(runner):
    result = run(runner, "--help")
    assert result.exit_code == 0
    for command in ("compare", "report"):
        assert command in result.stdout
