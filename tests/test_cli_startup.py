"""What a short command loads: `archkit profile` builds only its own command and imports neither the
other commands' packages nor torch, optuna, plotly, pandas or rich; the tree built for one command
answers as the whole tree does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import COMMANDS, app, build_app, command_name
from archkit.profile import render

HEAVY = ("archkit.search", "archkit.training", "archkit.report", "archkit.bench", "archkit.builder",
         "archkit.profile.paper", "torch", "optuna", "plotly", "pandas", "fvcore", "rich")

# The console script's `main` in a fresh interpreter, stdout piped; at exit, the modules of `HEAVY`
# it had imported are written to a file.
CHILD = """
import atexit, json, sys
heavy, report = json.loads(sys.argv[1]), sys.argv[2]
atexit.register(lambda: open(report, "w").write(json.dumps(sorted(m for m in heavy if m in sys.modules))))
sys.argv = ["archkit", *sys.argv[3:]]
from archkit.cli import main
main()
"""


@pytest.fixture(autouse=True)
def _xdg_decides(monkeypatch):
    """These tests place the cache by XDG_CACHE_HOME: the test run's ARCHKIT_CACHE_DIR (which
    would win) is lifted for them."""
    monkeypatch.delenv("ARCHKIT_CACHE_DIR", raising=False)


def run_main(*args: str, tmp_path) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    report = tmp_path / "loaded.json"
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(HEAVY), str(report), *args],
                            capture_output=True, text=True, timeout=120, env=env, check=False)
    return result, json.loads(report.read_text())


@pytest.mark.parametrize("cached", [False, True], ids=["first-run", "cached-spec"])
def test_profile_imports_only_what_it_needs(tmp_path, cached):
    if cached:
        run_main("profile", "googlenet", tmp_path=tmp_path)
    result, loaded = run_main("profile", "googlenet", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert loaded == []
    # ... and prints what rich prints 200 columns wide.
    expected = render.to_text(render.rich_tables(archkit.profile(archkit.load_spec("googlenet"))))
    assert result.stdout == expected


@pytest.mark.parametrize("args", [["--compare", "paper"], ["--format", "csv"], ["--format", "json"],
                                  ["--format", "markdown"], ["--branches", "--no-aux"]])
def test_other_profile_outputs_import_no_other_command(tmp_path, args):
    result, loaded = run_main("profile", "googlenet", *args, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert loaded == (["archkit.profile.paper"] if "--compare" in args else [])


def test_profile_error_is_one_line_from_a_fresh_process(tmp_path):
    result, _ = run_main("profile", "alexnet", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: alexnet: no such file or built-in spec (built-in specs: ")
    assert result.stderr.count("\n") == 1
    result, _ = run_main("profile", "googlenet", "--bogus", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: archkit profile: No such option: --bogus (see 'archkit profile --help')\n"
    result, _ = run_main("nosuch", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: archkit: No such command 'nosuch'. (see 'archkit --help')\n"


@pytest.mark.parametrize("args, name", [
    (["profile", "googlenet"], "profile"),
    (["-v", "--version"], None),
    (["--verbose", "bench", "train"], "bench"),
    (["specs"], "specs"),
    (["googlenet"], None),  # not a command: the whole tree says so
    (["--", "profile"], None),
    ([], None),
])
def test_command_name(args, name):
    assert command_name(args) == name


def test_the_whole_tree_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    # Each command's name opens a line of the Commands box ("│ profile  Per-layer ...").
    listed = [line[2:].split()[0] for line in result.stdout.splitlines() if line.startswith("│ ") and line[2] != " "]
    assert [name for name in listed if not name.startswith("-")] == list(COMMANDS)


@pytest.mark.parametrize("args", [[name, "--help"] for name in COMMANDS] + [
    ["bench", "train", "--help"], ["bench", "profile", "--help"], ["data", "check", "--help"], ["specs", "show", "--help"],
    ["profile"], ["profile", "googlenet", "--format", "nope"], ["bench", "nosuch"], ["specs", "show", "alexnet"],
])
def test_one_command_tree_answers_as_the_whole_tree(args):
    runner = CliRunner()
    whole = runner.invoke(app, args)
    one = runner.invoke(build_app(command_name(args)), args)
    assert (one.exit_code, one.stdout, one.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
