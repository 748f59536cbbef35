"""`archkit profile --measure`: a latency column per layer and the whole forward pass, memory
traffic in the JSON; bad options are one line."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from archkit.cli import app

TINY = """\
name: tiny
input: {channels: 3, size: 16}
classes: 10
defaults: {batch_norm: true, bias: false}
layers:
  - {name: stem, conv: {out: 8, kernel: 3}}
  - {name: m, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


def test_measure_adds_latency_and_traffic(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    result = CliRunner().invoke(app, ["profile", str(path), "-f", "json", "--measure", "--batch", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["rows"]}
    assert all(r["latency_ms"] > 0 and r["latency_iqr_ms"] >= 0 for r in rows.values())
    assert data["total"]["latency_ms"] > 0 and data["measured"]["batch"] == 2
    # stem: weights 3*9*8 and batch norm's four vectors of 8, + input 2 images x 3x16x16 + output
    # 2 x 8x16x16, 4 bytes each (fp32)
    assert rows["stem"]["bytes"] == 4 * (3 * 9 * 8 + 4 * 8 + 2 * 3 * 256 + 2 * 8 * 256)
    assert rows["stem"]["intensity"] == 2 * rows["stem"]["ops"] / rows["stem"]["bytes"]  # the batch's ops per byte
    assert data["total"]["bytes"] == sum(r["bytes"] for r in rows.values())
    table = CliRunner().invoke(app, ["profile", str(path), "--measure"])
    assert table.exit_code == 0 and "latency ms" in table.stdout and "whole model" in table.stdout


def test_measure_bad_options_are_one_line(tmp_path):
    for args, message in ((["--precision", "fp16"],
                           "error: --precision fp16 is for --train only (--measure and memory traffic: fp32 or bf16)"),
                          (["--measure", "--device", "tpu"], "error: unknown device 'tpu'")):
        result = CliRunner().invoke(app, ["profile", "googlenet-32", *args])
        assert result.exit_code == 2 and result.stderr.startswith(message) and result.stderr.count("\n") == 1
    if not torch.cuda.is_available():
        result = CliRunner().invoke(app, ["profile", "googlenet-32", "--measure", "--device", "cuda"])
        assert result.exit_code == 2 and result.stderr == (
            "error: no CUDA device: --device cuda needs a GPU (torch.cuda.is_available() is False)\n")
