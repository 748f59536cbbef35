"""scripts/gpu_check.py where there is no GPU: one line, exit 0; and how it records a failing step."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: make gpu-check runs the real thing")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "-o", str(tmp_path / "g.json")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "no CUDA device: nothing to check\n" and done.stderr == ""
    assert not (tmp_path / "g.json").exists()


def test_a_failing_step_is_recorded_and_the_next_one_runs():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results: dict = {}

    def broken():
        raise RuntimeError("CUDA error: out of memory")

    module._step("broken", results, broken)
    module._step("fine", results, lambda: {"value": 3})
    assert results["broken"]["ok"] is False and results["broken"]["error"] == "RuntimeError: CUDA error: out of memory"
    assert results["fine"] == {"ok": True, "value": 3, "seconds": results["fine"]["seconds"]}


def test_a_step_whose_data_is_missing_is_skipped_not_failed(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results: dict = {}
    module._step("train fashion-mnist", results, lambda: module.train_fashion(str(tmp_path / "nowhere")))
    step = results["train fashion-mnist"]
    nowhere = tmp_path / "nowhere"
    assert step["ok"] is None and step["skipped"] == f"fashion-mnist:{nowhere}: no such folder {nowhere}"
