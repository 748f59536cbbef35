"""`archkit search` and `archkit export` through typer's CliRunner (training faked), in a tmp cwd:
user errors are one stderr line and exit status 2; studies resume; exports round-trip."""

from __future__ import annotations

import json
import sys

import optuna
import pytest

import archkit

from .conftest import FakeTrainer, one_error_line
from .test_config import CASES

DEMO = """
base: googlenet-32
space:
  width: [0.25, 1.0]
  depth: {stage4: [2, 5]}
budget: {ops: 30M}
sampler: random
trials: 3
train: {epochs: 2}
final: null
"""




@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_configs_exit_2_with_one_line(cli, write_config, fake, text, message):
    result = cli("search", write_config(text), "--no-progress")
    assert one_error_line(result) == f"error: {message}"
    assert fake.calls == []


def test_bad_options(cli, write_config, fake, workdir):
    path = write_config(DEMO)
    assert one_error_line(cli("search", "nope.yaml")) == "error: nope.yaml: no such search config file"
    assert one_error_line(cli("search", path, "--max-ops", "12Q")) == (
        "error: search.yaml:5 budget.ops: expected a count like 1.5G, 7M or 50000, got '12Q'")
    assert one_error_line(cli("search", path, "--max-params", "0")) == (
        "error: search.yaml:5 budget.params: a budget must be positive, got '0'")
    assert one_error_line(cli("search", path, "--storage", "studies/x.db", "--no-progress")) == (
        "error: storage 'studies/x.db' is neither a URL (sqlite:///..., postgresql://...) nor a journal file "
        "(ending in .journal, .jsonl, .log)")
    line = one_error_line(cli("search", path, "--storage", "postgresql://me:secret@127.0.0.1:1/db", "--no-progress"))
    assert line.startswith("error: cannot open postgresql://me:***@127.0.0.1:1/db: ") and "secret" not in line
    assert cli("search", path, "--trials", "0").exit_code == 2
    assert fake.calls == []
    assert not (workdir / "studies").exists() or not list((workdir / "studies").glob("*.db"))


def test_search_resume_and_export(cli, write_config, fake, workdir):
    path = write_config(DEMO, "demo.yaml")
    result = cli("search", path, "--no-progress")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "study demo in sqlite:///studies/demo.db: 3 of 3 trials finished (3 complete)"
    assert lines[-1] == "export it: archkit export demo --best -o specs/"
    assert (workdir / "studies" / "demo.db").is_file()
    first = optuna.load_study(study_name="demo", storage="sqlite:///studies/demo.db").get_trials()
    assert len(fake.calls) == len([t for t in first if "duplicate_of" not in t.user_attrs]) >= 1
    calls = len(fake.calls)

    result = cli("search", path, "--trials", "5", "--epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("study demo in sqlite:///studies/demo.db: 5 of 5 trials finished")
    study = optuna.load_study(study_name="demo", storage="sqlite:///studies/demo.db")
    trials = study.get_trials()
    assert len(trials) == 5 and all(t.state.name == "COMPLETE" for t in trials)
    assert [c["epochs"] for c in fake.calls[calls:]] == [1] * len(
        [t for t in trials[3:] if "duplicate_of" not in t.user_attrs])
    best = max(trials, key=lambda t: (t.user_attrs["val_top1"], -t.number))
    assert f"best: trial {best.number} " in result.stdout

    result = cli("export", "demo", "--best", "-o", "specs")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"specs/demo-trial{best.number}.yaml"]
    # `archkit profile` of the exported spec gives exactly the trial's attrs.
    result = cli("profile", f"specs/demo-trial{best.number}.yaml", "-f", "json")
    assert result.exit_code == 0, result.output
    total = json.loads(result.stdout)["total"]
    a = best.user_attrs
    # (the profile's total also carries the memory traffic, `bytes`, which the trial does not record)
    assert {k: total[k] for k in ("params", "ops", "activations")} == {
        "params": a["params"], "ops": a["ops"], "activations": a["activations"]}
    assert archkit.load_spec(f"specs/demo-trial{best.number}.yaml") == archkit.spec_from_yaml(a["spec"])


def test_export_errors(cli, write_config, fake):
    assert one_error_line(cli("export", "nosuch")) == "error: no study storage at studies/nosuch.db"
    cli("search", write_config(DEMO, "demo.yaml"), "--trials", "1", "--no-progress")
    assert one_error_line(cli("export", "nosuch", "--storage", "sqlite:///studies/demo.db")) == (
        "error: no study named 'nosuch' in sqlite:///studies/demo.db")
    assert one_error_line(cli("export", "demo", "--best", "--pareto")) == "error: give --best or --pareto, not both"
    assert one_error_line(cli("export", "demo", "--pareto", "--cost", "flops")) == (
        "error: --cost must be ops, params or latency, got 'flops'")


def test_interrupted_search_says_how_to_resume(cli, write_config, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["archkit", "search", "demo.yaml", "--no-progress"])
    result = cli("search", write_config(DEMO, "demo.yaml"), "--no-progress", train=FakeTrainer(interrupt_at=2))
    line = one_error_line(result, code=130)
    assert line.startswith("interrupted: the running trial was marked failed; finished trials are kept in "
                           "sqlite:///studies/demo.db.")
    assert line.endswith("Resume with: archkit search demo.yaml --no-progress")
    trials = optuna.load_study(study_name="demo", storage="sqlite:///studies/demo.db").trials
    # The interrupted trial is failed, and its candidate waits to be trained again on resume.
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "WAITING"]
    assert trials[1].user_attrs["error"].startswith("interrupted (Ctrl-C)")
    assert trials[2].user_attrs["retry_of"] == 1
    assert trials[2].system_attrs["fixed_params"] == trials[1].params


def test_export_any_trial(cli, write_config, fake, workdir):
    cli("search", write_config(DEMO, "demo.yaml"), "--no-progress")
    trials = optuna.load_study(study_name="demo", storage="sqlite:///studies/demo.db").get_trials()
    result = cli("export", "demo", "--trial", "0", "-o", "specs")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["specs/demo-trial0.yaml"]
    text = (workdir / "specs/demo-trial0.yaml").read_text()
    assert text.splitlines()[0].startswith("# archkit search demo, trial 0 (the uniform-scaling reference)")
    assert archkit.load_spec("specs/demo-trial0.yaml") == archkit.spec_from_yaml(trials[0].user_attrs["spec"])
    assert one_error_line(cli("export", "demo", "--trial", "9")) == (
        "error: study 'demo' has no trial 9 (trials 0..2)")
    assert one_error_line(cli("export", "demo", "--trial", "1", "--best")) == (
        "error: give --trial alone, not with --best or --pareto")
