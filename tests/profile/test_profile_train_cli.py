"""`archkit profile SPEC --train`: the training cost columns in every format, the one-line answer,
`--verify --train` against torch, and bad input as one line with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.training import memory as train_memory


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *args):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_json_rows_and_totals_hold_the_training_cost(runner):
    result = invoke(runner, "profile", "googlenet-32", "--train", "--batch", "2", "-f", "json", "--memory", "8GiB")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    measured = train_memory.measure_saved(archkit.load_spec("googlenet-32"), 2, "fp32")
    for row in data["rows"]:
        assert row["saved_bytes"] == measured[("main", row["name"])]
        assert row["train_ops"] >= 2 * row["ops"]  # forward and weight gradients at least, for 2 images
    total = data["total"]
    assert total["saved_bytes"] == sum(measured.values())
    # params: 12 bytes each (weight, gradient, momentum)
    assert total["param_state_bytes"] == 12 * archkit.profile(archkit.load_spec("googlenet-32"), "full").total.params
    assert total["peak_train_bytes"] > total["saved_bytes"] + total["param_state_bytes"]
    assert total["train_ops"] == sum(r["train_ops"] for r in data["rows"])  # no aux heads here
    assert data["train"]["batch"] == 2 and data["train"]["precision"] == "fp32"
    assert re.fullmatch(r"peak training memory at batch 2, fp32: \d+\.\d\d GiB; largest batch within 8GiB: "
                        r"[\d,]+\n", result.stderr)


def test_table_says_the_answer_in_one_line(runner):
    result = invoke(runner, "profile", "googlenet", "--train", "--batch", "128", "--precision", "bf16",
                    "--memory", "80GiB")
    assert result.exit_code == 0, result.output
    assert "saved for backward" in result.stdout and "aux1.fc" in result.stdout and "loss" in result.stdout
    line = [x for x in result.stdout.splitlines() if x.startswith("peak training memory")]
    assert len(line) == 1
    m = re.fullmatch(r"peak training memory at batch 128, bf16: (\d+\.\d\d) GiB; largest batch within 80GiB: "
                     r"([\d,]+)", line[0])
    assert m is not None, line
    assert int(m.group(2).replace(",", "")) > 128


def test_csv_and_html_have_the_columns(runner):
    result = invoke(runner, "profile", "googlenet-32", "--train", "-f", "csv")
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"saved_bytes", "train_ops"} <= set(records[0])
    assert records[-1]["section"] == "loss" and int(records[-1]["saved_bytes"]) > 0
    html = invoke(runner, "profile", "googlenet-32", "--train", "-f", "html")
    assert html.exit_code == 0 and "Training cost of one step" in html.stdout


def test_verify_train_compares_with_torch(runner, monkeypatch):
    result = invoke(runner, "profile", "googlenet-32", "--train", "--verify", "--batch", "2", "-f", "json")
    assert result.exit_code == 0, result.output
    assert "verify --train: googlenet-32: saved-for-backward bytes equal torch's in all" in result.stderr

    def wrong(spec, batch, precision, **kw):
        return [(("main", "conv1"), 100, 96), (("main", "conv2"), 5, 5)]

    monkeypatch.setattr(train_memory, "compare_saved", wrong)
    result = invoke(runner, "profile", "googlenet-32", "--train", "--verify", "-f", "json")
    assert result.exit_code == 1
    assert "verify --train: conv1 saved bytes: model 100, torch 96 (+4)" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--train", "--memory", "lots"), "--memory: not an amount of memory: 'lots'"),
    (("--memory", "8GB"), "--memory needs --train"),
    (("--precision", "fp16"), "--precision fp16 is for --train only"),
    (("--train", "--precision", "fp8"), "--precision: unknown precision 'fp8'"),
    (("--train", "--memory", "10MB"), "googlenet: training it needs about 215 MB (weights, gradients and momentum "
                                      "161 MB + activations saved for backward and in flight 54.0 MB at batch 1, "
                                      "fp32) but the device (--memory 10MB) has 10.0 MB available: too large for "
                                      "this device even at batch 1"),
])
def test_bad_input_is_one_line(runner, args, message):
    result = invoke(runner, "profile", "googlenet", *args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
