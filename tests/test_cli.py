"""The `archkit` command through typer's CliRunner, and once as a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import archkit
from archkit.cli import app

from .profile.test_googlenet_table1 import EXPECTED, INCEPTION, OUTPUTS

TABLE1_ROWS = ["conv1", "conv2", *INCEPTION, "linear"]
ALL_ROWS = [name for name, _, _ in OUTPUTS]
TOTAL_PARAMS, TOTAL_OPS = 6_990_272, 1_582_671_872


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def run(runner, *args):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def ok(runner, *args) -> str:
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(runner, *args, code: int = 2) -> str:
    """Run a failing command; return its one line of stderr."""
    result = run(runner, *args)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- specs ------------------------------------------------------------------------------------

def test_specs_lists_the_builtins_with_descriptions(runner):
    lines = ok(runner, "specs").splitlines()
    assert [line.split()[0] for line in lines] == ["bn-inception", "googlenet", "googlenet-32", "inception-resnet-v2",
                                                   "inception-v3", "inception-v4", "xception"]
    for line in lines:
        name, description = line.split(None, 1)
        published = yaml.safe_load(archkit.spec.builtin_text(name))["description"]
        assert description.strip() == published
        assert len(description.strip()) > 20


@pytest.mark.parametrize("name", ["googlenet", "googlenet-32"])
def test_specs_show_prints_yaml_that_loads_to_the_same_spec(runner, name):
    text = ok(runner, "specs", "show", name)
    assert archkit.spec_from_yaml(text) == archkit.load_spec(name)
    assert "inception5b" in text


def test_specs_show_unknown(runner):
    assert fails(runner, "specs", "show", "alexnet") == (
        "error: no built-in spec named 'alexnet' (built-ins: bn-inception, googlenet, googlenet-32, inception-resnet-v2, inception-v3, inception-v4, xception)")


# --- profile ----------------------------------------------------------------------------------

def test_profile_table(runner):
    out = ok(runner, "profile", "googlenet")
    for name in ALL_ROWS + ["aux1", "aux2"]:
        assert name in out, name
    # Table 1's units: K = 1024 params, M = 10^6 ops; 3a is 163,328 weights = 159.5K -> "160K".
    assert "9.2K" in out and "118M" in out
    assert "160K" in out and "128M" in out
    assert "112x112x64" in out and "7x7x1024" in out
    assert f"{TOTAL_PARAMS:,}" in out and f"{TOTAL_OPS:,}" in out


@pytest.fixture(scope="module")
def profile_json(runner):
    return json.loads(ok(runner, "profile", "googlenet", "--format", "json"))


def test_profile_json_document(profile_json):
    data = profile_json
    assert data["spec"] == "googlenet"
    assert data["convention"] == "paper"
    assert [r["name"] for r in data["rows"]] == ALL_ROWS
    assert [n for n in (r["name"] for r in data["rows"]) if n in EXPECTED] == TABLE1_ROWS
    for row, (name, output, depth) in zip(data["rows"], OUTPUTS):
        assert row["output"] == list(output)
        assert row["depth"] == depth
        assert row["activations"] == output[0] * output[1] * output[2]
        params, ops = EXPECTED.get(name, (0, 0))
        assert (row["params"], row["ops"]) == (params, ops)
        assert type(row["params"]) is int and type(row["ops"]) is int
        assert isinstance(row["type"], str)
    assert data["total"]["params"] == TOTAL_PARAMS
    assert data["total"]["ops"] == TOTAL_OPS


def test_profile_json_aux_heads_apart(profile_json):
    aux = profile_json["aux"]
    assert [(a["name"], a["after"]) for a in aux] == [("aux1", "inception4a"), ("aux2", "inception4d")]
    assert [r["name"] for r in aux[0]["rows"]] == ["pool", "conv", "fc", "dropout", "linear"]
    assert aux[0]["rows"][0]["output"] == [512, 4, 4]
    assert aux[0]["total"]["params"] == 512 * 128 + 2048 * 1024 + 1024 * 1000
    assert aux[1]["total"]["params"] == 528 * 128 + 2048 * 1024 + 1024 * 1000


def test_profile_json_inception_branches(profile_json):
    row = next(r for r in profile_json["rows"] if r["name"] == "inception3a")
    assert [(b["name"], b["output"], b["params"]) for b in row["branches"]] == [
        ("branch_1x1", [64, 28, 28], 192 * 64),
        ("branch_3x3", [128, 28, 28], 192 * 96 + 9 * 96 * 128),
        ("branch_5x5", [32, 28, 28], 192 * 16 + 25 * 16 * 32),
        ("branch_pool", [32, 28, 28], 192 * 32),
    ]


def test_profile_json_full_convention(runner):
    data = json.loads(ok(runner, "profile", "googlenet", "--format", "json", "--convention", "full"))
    assert data["convention"] == "full"
    biases = 64 + 64 + 192 + 1000 + sum(sum(r[1:7]) for r in INCEPTION.values())
    assert data["total"]["params"] == TOTAL_PARAMS + biases
    assert data["total"]["ops"] == TOTAL_OPS


def test_profile_csv(runner):
    records = list(csv.DictReader(io.StringIO(ok(runner, "profile", "googlenet", "--format", "csv"))))
    main = {r["name"]: r for r in records if r["section"] == "main"}
    assert list(main) == ALL_ROWS
    for name, (params, ops) in EXPECTED.items():
        assert (int(main[name]["params"]), int(main[name]["ops"])) == (params, ops)
    assert sum(int(r["ops"]) for r in main.values()) == TOTAL_OPS
    assert {r["section"] for r in records} == {"main", "aux1", "aux2"}


def test_profile_markdown(runner):
    out = ok(runner, "profile", "googlenet", "--format", "markdown")
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in rows]
    for name in ALL_ROWS:
        assert name in names
    three_a = next(line for line in rows if line.startswith("| inception3a |"))
    cells = [c.strip() for c in three_a.strip("|").split("|")]
    assert ["64", "96", "128", "16", "32", "32"] == cells[5:11]
    assert f"{TOTAL_OPS:,}" in out


def test_profile_html(runner):
    out = ok(runner, "profile", "googlenet", "--format", "html")
    assert out.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in out
    for name in ALL_ROWS:  # the Table 1 table, a row per layer
        assert f'<td class="text">{name}</td>' in out
    # the figures, with plotly.js inside the file (it opens offline)
    assert out.count('class="plotly-graph-div"') >= 3
    assert "<script src=" not in out and "<link" not in out


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "html", "table"])
def test_profile_output_file(runner, tmp_path, fmt):
    target = tmp_path / "sub" / f"googlenet.{fmt}"
    result = run(runner, "profile", "googlenet", "--format", fmt, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = target.read_text(encoding="utf-8")
    assert "inception5b" in text
    if fmt == "json":
        assert json.loads(text)["total"] == json.loads(text)["total"] | {"params": TOTAL_PARAMS, "ops": TOTAL_OPS}


def test_profile_a_spec_file(runner, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent("""\
        name: tiny
        input: {channels: 1, size: 10}
        classes: 4
        layers:
          - {name: conv1, conv: {out: 6, kernel: 3, padding: valid}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    data = json.loads(ok(runner, "profile", str(path), "--format", "json"))
    assert data["spec"] == "tiny"
    assert [(r["name"], r["output"], r["params"], r["ops"]) for r in data["rows"]] == [
        ("conv1", [6, 8, 8], 54, 54 * 64), ("gap", [6, 1, 1], 0, 0), ("fc", [4, 1, 1], 24, 24)]
    assert data["aux"] == []


# --- compare ----------------------------------------------------------------------------------

def test_compare_paper_table(runner):
    out = ok(runner, "profile", "googlenet", "--compare", "paper")
    for name in TABLE1_ROWS:
        assert name in out
    out = " ".join(out.split())  # the notes wrap at the terminal's width
    assert "derived from the printed params" in out
    assert "the printed params is the outlier" in out


def test_compare_paper_json(runner):
    data = json.loads(ok(runner, "profile", "googlenet", "--compare", "paper", "--format", "json"))
    rows = {r["name"]: r for r in data["compare"]["rows"]}
    assert list(rows) == TABLE1_ROWS
    disagree = {n for n, r in rows.items() if "disagrees" in (r["params_status"], r["ops_status"])}
    assert disagree == {"conv1", "inception4c", "inception5a"}
    assert rows["conv1"]["paper_params"] == round(2.7 * 1024)
    assert rows["conv1"]["params"] == 9408 and rows["conv1"]["flagged"] is True
    assert rows["conv2"]["flagged"] is False


def test_compare_paper_csv_and_markdown(runner):
    records = list(csv.DictReader(io.StringIO(ok(runner, "profile", "googlenet", "--compare", "paper", "-f", "csv"))))
    assert [r["name"] for r in records] == TABLE1_ROWS
    assert int(records[0]["ops_delta"]) == EXPECTED["conv1"][1] - 34_000_000
    md = ok(runner, "profile", "googlenet", "--compare", "paper", "-f", "markdown")
    assert "| inception4c |" in md


def test_compare_paper_needs_googlenet_rows(runner, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ninput: {size: 8}\nclasses: 2\nlayers:\n  - {name: gap, global_avgpool: {}}\n"
                    "  - {name: fc, linear: {}}\n")
    line = fails(runner, "profile", str(path), "--compare", "paper")
    assert line.startswith("error: ") and "googlenet" in line


def test_compare_paper_needs_the_paper_convention(runner):
    line = fails(runner, "profile", "googlenet", "--compare", "paper", "--convention", "full")
    assert line.startswith("error: ") and "--convention paper" in line


# --- verify -----------------------------------------------------------------------------------

def test_verify_googlenet_32(runner):
    result = run(runner, "profile", "googlenet-32", "--verify", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spec"] == "googlenet-32"
    assert "verify" in result.stderr and "googlenet-32" in result.stderr


def test_verify_names_that_are_torch_attributes(runner, tmp_path):
    # each of these names once ended `--verify` in a TypeError traceback from torch
    path = tmp_path / "my.yaml"
    path.write_text(textwrap.dedent("""\
        name: mine
        input: {channels: 3, size: 16}
        classes: 10
        layers:
          - {name: aux_weights, conv: {out: 8, kernel: 3}}
          - {name: _modules, module: {branches: [{name: keys, ops: [{conv: {out: 4, kernel: 1}}]},
                                                  {name: _parameters, ops: [{maxpool: {kernel: 3, stride: 1, padding: 1}}]}]}}
          - {name: _parameters, global_avgpool: {}}
          - {name: training, linear: {}}
        aux: [{after: aux_weights, name: forward}]
    """))
    result = run(runner, "profile", str(path), "--verify", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["name"] for r in rows] == ["aux_weights", "_modules", "_parameters", "training"]
    assert rows[0]["params"] == 8 * 3 * 3 * 3  # weights only, as Table 1 counts them


# --- errors -----------------------------------------------------------------------------------

def test_bad_spec_file_one_line_exit_2(runner, tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(textwrap.dedent("""\
        name: mine
        input: {channels: 3, size: 32}
        classes: 10
        layers:
          - {name: conv1, conv: {out: 8, kernel: 3}}
          - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: -3, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    line = fails(runner, "profile", str(path))
    assert line == f"error: {path}:6 layers[1].inception.3x3: must be a positive integer, got -3"


def test_python_tag_is_an_error_not_a_command(runner, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    line = fails(runner, "profile", str(path))
    assert line.startswith(f"error: {path}:1: YAML error:")
    assert not marker.exists()


def test_missing_spec(runner):
    assert fails(runner, "profile", "nosuchnet") == (
        "error: nosuchnet: no such file or built-in spec (built-in specs: bn-inception, googlenet, googlenet-32, inception-resnet-v2, inception-v3, inception-v4, xception)")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "name: [unclosed\n", "name: x\nname: y\n"])
def test_broken_documents(runner, tmp_path, text):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    line = fails(runner, "profile", str(path))
    assert line.startswith(f"error: {path}:")


def test_unwritable_output(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = fails(runner, "profile", "googlenet", "--format", "json", "-o", str(blocker / "x.json"))
    assert line.startswith("error: ") and "cannot write" in line


# --- schema -----------------------------------------------------------------------------------

def test_schema_file(runner, tmp_path):
    target = tmp_path / "spec.schema.json"
    result = run(runner, "schema", "-o", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    schema = json.loads(text)
    assert "inception" in text
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"name", "input", "classes", "layers"} <= set(schema["required"])
    inception = schema["$defs"]["Inception"]
    assert {"1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"} <= set(inception["properties"])
    assert inception["additionalProperties"] is False
    assert "inception" in schema["$defs"]["Layer"]["properties"]


def test_schema_stdout(runner):
    assert json.loads(ok(runner, "schema"))["$defs"]["Conv"]["properties"]["out"]["exclusiveMinimum"] == 0


# --- as a real process ------------------------------------------------------------------------

def test_subprocess_profile_json():
    result = subprocess.run([sys.executable, "-m", "archkit", "profile", "googlenet", "--format", "json"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["name"] for r in data["rows"]] == ALL_ROWS
    assert (data["total"]["params"], data["total"]["ops"]) == (TOTAL_PARAMS, TOTAL_OPS)
    assert result.stderr == ""


def test_subprocess_bad_spec_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ninput: {size: 8}\nclasses: 2\nlayers:\n  - {name: fc, linear: {out: 0}}\n")
    result = subprocess.run([sys.executable, "-m", "archkit", "profile", str(path)],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {path}:5 layers[0].linear.out: must be a positive integer, got 0\n"


@pytest.mark.parametrize(("args", "expected"), [
    (["train", "googlenet-32", "--output", "x.json"],
     "error: archkit train: No such option: --output (see 'archkit train --help')"),
    (["profile", "googlenet", "--format", "xml"],
     "error: archkit profile: Invalid value for '--format' / '-f':"),
    (["search"], "error: archkit search: Missing argument 'config'. (see 'archkit search --help')"),
    (["frobnicate"], "error: archkit: No such command 'frobnicate'."),
])
def test_subprocess_command_line_mistakes_are_one_line_exit_2(args, expected):
    script = Path(sys.executable).parent / "archkit"  # the console script the venv installs
    result = subprocess.run([str(script), *args],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(expected)


def test_subprocess_bare_command_prints_its_help():
    result = subprocess.run([sys.executable, "-m", "archkit"], check=False, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stderr == ""
    assert "profile" in result.stdout and "search" in result.stdout


# --- command-line polish, through the installed console script ------------------------------

ARCHKIT = str(Path(sys.executable).parent / "archkit")


def console(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ARCHKIT, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "100"})


def test_version_and_verbose_version():
    from importlib.metadata import version

    import optuna
    import torch

    done = console("--version")
    assert done.returncode == 0 and done.stdout == f"archkit {version('archkit')}\n"
    lines = console("--version", "-v").stdout.splitlines()
    assert lines[0] == f"archkit {version('archkit')}"
    assert f"torch {torch.__version__}" in lines and f"optuna {optuna.__version__}" in lines
    assert any(line.startswith("cpu: ") and f"({os.cpu_count()} cores)" in line for line in lines)
    assert any(line.startswith("gpu: ") for line in lines)


def test_unknown_keys_suggest_the_nearest(tmp_path):
    spec = tmp_path / "my.yaml"
    spec.write_text(textwrap.dedent("""\
        name: mine
        input: {channels: 3, size: 16}
        classes: 10
        layers:
          - {name: conv1, conv: {out: 8, kernal: 3}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    done = console("profile", str(spec))
    assert done.returncode == 2
    assert done.stderr == f"error: {spec}:5 layers[0].conv.kernal: unknown key (did you mean 'kernel'?)\n"
    spec.write_text(spec.read_text().replace("kernal: 3", "kernel: 3, zzz: 1"))
    assert console("profile", str(spec)).stderr == f"error: {spec}:5 layers[0].conv.zzz: unknown key\n"
    config = tmp_path / "s.yaml"
    config.write_text("base: googlenet-32\nbudget: {ops: 2M}\nspace:\n  stage_widht: [0.5, 1.0]\n")
    done = console("search", str(config))
    assert done.returncode == 2
    assert done.stderr == f"error: {config}:4 space.stage_widht: unknown key (did you mean 'stage_width'?)\n"
    config.write_text("base: googlenet-32\nbudget: {ops: 2M}\nfinal: {top: 2, seed: 3}\n")
    assert console("search", str(config)).stderr == (
        f"error: {config}:3 final.seed: unknown key (did you mean 'seeds'?)\n")


def test_help_sentences_are_not_broken_mid_way():
    # A docstring's own line breaks used to end help lines early, mid-sentence: every line of a
    # command's entry that another line continues must now run to the terminal's width.
    lines = [line for line in console("--help").stdout.splitlines() if line.startswith("│ ")]
    for line, following in zip(lines, lines[1:]):
        if following.startswith("│" + " " * 10) and following.strip("│ "):  # `line` goes on below
            assert len(line.rstrip("│").rstrip()) >= 100 - 16, f"a help line ends early: {line!r}"
    row = next(line for line in lines if "│ search " in line)
    assert "Search widths and depths under a compute budget with Optuna, then confirm the answer." in row


def test_terminal_units_adapt_to_tiny_networks(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(textwrap.dedent("""\
        name: tiny
        input: {channels: 3, size: 8}
        classes: 10
        layers:
          - {name: conv1, conv: {out: 8, kernel: 3}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    out = console("profile", str(spec)).stdout
    conv1 = next(line for line in out.splitlines() if "conv1" in line)
    # 3x3x3x8 = 216 weights; 8x8 positions x 216 = 13,824 multiply-adds (not "0.2K" and "0.0M")
    assert " 216 " in conv1 and "13.8K" in conv1
    assert json.loads(console("profile", str(spec), "-f", "json").stdout)["rows"][0]["ops"] == 13_824  # exact


def test_compare_prints_a_table_by_default(tmp_path):
    done = subprocess.run([ARCHKIT, "compare", "googlenet", "googlenet-32"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    conv1 = next(line for line in lines if "│ conv1 " in line)
    assert "112x112x64" in conv1 and "32x32x64" in conv1  # output A, output B
    assert lines[-1] == "18 of 20 layers differ; only in googlenet: norm1, norm2, pool2."
    assert not (tmp_path / "reports").exists()  # nothing written unless asked


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_export_any_trial_through_the_console_script(tmp_path):
    (tmp_path / "tiny.yaml").write_text(textwrap.dedent("""\
        name: tiny
        input: {channels: 3, size: 8}
        classes: 10
        layers:
          - {name: conv1, conv: {out: 8, kernel: 3}}
          - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
          - {name: gap, global_avgpool: {}}
          - {name: fc, linear: {}}
    """))
    (tmp_path / "s.yaml").write_text("base: tiny.yaml\nspace: {stage_width: [0.5, 1.5]}\nbudget: {ops: 200K}\n"
                                     "train: {steps: 1, batch_size: 16, precision: fp32}\nfinal: null\ntrials: 2\n"
                                     "sampler: random\n")
    done = subprocess.run([ARCHKIT, "search", "s.yaml", "--no-progress"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([ARCHKIT, "export", "s", "--trial", "0", "-o", "out"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out/s-trial0.yaml\n"
    assert "(the uniform-scaling reference)" in (tmp_path / "out/s-trial0.yaml").read_text().splitlines()[0]
    done = subprocess.run([ARCHKIT, "export", "s", "--trial", "7"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2 and done.stderr == "error: study 's' has no trial 7 (trials 0..1)\n"
