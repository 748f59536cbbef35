"""`archkit train` and `archkit bench train` through typer's CliRunner."""

import json

import pytest
from typer.testing import CliRunner

from archkit.cli import app

from ..conftest import whole_images
from .test_ddp import PLAIN


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def error_line(runner, code: int, *args) -> str:
    result = invoke(runner, *args)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow  # ~10 s: `archkit train` end to end, several epochs with metrics files
def test_train_writes_metrics_and_a_summary(runner, tiny_file, tmp_path):
    out = tmp_path / "m.json"
    result = invoke(runner, "train", tiny_file, "--data", "synthetic", "--steps", 3, "--batch-size", 16,
                    "--lr", 0.05, "--schedule", "onecycle", "--label-smoothing", 0.1, "--no-channels-last",
                    "--metrics-out", out, "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("tiny on synthetic: val top-1 ") and "(cpu, " in result.stdout
    data = json.loads(out.read_text())
    assert data["steps"] == 3 and data["config"]["schedule"] == "onecycle"
    assert data["config"]["label_smoothing"] == 0.1 and data["config"]["channels_last"] is False
    assert f"wrote {out}" in result.stderr
    assert "test top-1" not in result.stdout and data["test_top1"] is None  # not without --score-test


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_train_score_test_prints_and_writes_the_test_accuracy(runner, tiny_file, tmp_path):
    out = tmp_path / "m.json"
    result = invoke(runner, "train", tiny_file, "--data", "digits", "--steps", 2, "--batch-size", 32,
                    "--val-fraction", 0.1, "--test-fraction", 0.3, "--score-test", "--metrics-out", out, "-q")
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # per class round(0.1 * n) and round(0.3 * n): 179 and 539 of the 1,797 digits (not round(179.7) = 180)
    assert data["split_sizes"] == {"train": 1079, "val": 179, "test": 539}
    assert data["config"]["test_fraction"] == 0.3 and 0 <= data["test_top1"] <= data["test_top5"] <= 1
    assert whole_images(data["test_top1"], 539) and whole_images(data["val_top1"], 179)
    assert (f"val top-1 {data['val_top1']:.4f}, top-5 {data['val_top5']:.4f}; test top-1 {data['test_top1']:.4f}, "
            f"top-5 {data['test_top5']:.4f} (539 images) after ") in result.stdout
    line = error_line(runner, 2, "train", tiny_file, "--val-fraction", 0.5, "--test-fraction", 0.5)
    assert line == ("error: --val-fraction 0.5 and --test-fraction 0.5 must add up to less than 1 (the training "
                    "split is the rest), but they add up to 1")


def test_train_checkpoint_then_resume(runner, tiny_file, tmp_path):
    ck = tmp_path / "ck"
    first = invoke(runner, "train", tiny_file, "--data", "synthetic", "--steps", 2, "--batch-size", 16,
                   "--checkpoint", ck, "-q")
    assert first.exit_code == 0, first.output and (ck / "last.pt").is_file()
    again = invoke(runner, "train", tiny_file, "--resume", ck, "--steps", 4, "-q")
    assert again.exit_code == 0, again.output
    assert "(4 steps)" in again.stdout
    line = error_line(runner, 2, "train", tiny_file, "--resume", ck, "--batch-size", 32)
    assert line == ("error: --batch-size 32 differs from the checkpoint's 16; a resumed run keeps its settings "
                    "(leave --batch-size out)")


def test_train_errors_are_one_line(runner, tiny_file, tmp_path):
    assert error_line(runner, 2, "train", tiny_file, "--data", "svhn").startswith("error: unknown data 'svhn'")
    assert error_line(runner, 2, "train", tiny_file, "--data", f"cifar10:{tmp_path / 'x'}").endswith(
        "no such folder (add --download to fetch it)")
    assert error_line(runner, 2, "train", tiny_file, "--epochs", 1, "--steps", 1) == (
        "error: give --epochs or --steps, not both (got epochs=1, steps=1)")
    assert error_line(runner, 2, "train", tmp_path / "missing.yaml").startswith("error: ")
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAIN)
    line = error_line(runner, 1, "train", plain, "--data", "synthetic", "--steps", 5, "--lr", 1e8,
                      "--warmup", 0, "-q")
    assert line.startswith("error: loss became ") and "at epoch 1, step " in line


def test_train_help_lists_the_options(runner):
    result = invoke(runner, "train", "--help")
    for option in ("--data", "--epochs", "--steps", "--batch-size", "--lr", "--schedule", "--precision", "--device",
                   "--compile", "--seed", "--checkpoint", "--resume", "--metrics-out", "--nproc",
                   "--label-smoothing", "--warmup-epochs", "--val-fraction", "--test-fraction", "--score-test"):
        assert option in result.stdout


def test_bench_train_measures_three_loops(runner, tmp_path):
    out = tmp_path / "bench.json"
    result = invoke(runner, "bench", "train", "--models", "googlenet-32", "--steps", 1, "--warmup", 0,
                    "--batch-32", 2, "-o", out)
    assert result.exit_code == 0, result.output
    assert "training img/s" in result.stdout and "torchvision" in result.stdout
    data = json.loads(out.read_text())
    (case,) = data["cases"]
    assert case["spec"] == "googlenet-32" and case["batch"] == 2 and case["input"] == [32, 32]
    assert set(case["loops"]) == {"archkit", "plain", "torchvision"}
    assert case["loops"]["plain"]["speedup_vs_plain"] == 1.0
    assert all(loop["images_per_s"] > 0 and len(loop["step_seconds"]) == 1 for loop in case["loops"].values())
    assert data["machine"]["device"] == "cpu"
    assert error_line(runner, 2, "bench", "train", "--models", "resnet") == (
        "error: --models must name some of googlenet-32, googlenet, but got 'resnet'")
