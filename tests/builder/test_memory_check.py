"""The memory check made before a model is built (`archkit.profile.memory`, called by the builder,
the latency measurement and training): a valid spec too large for the machine is one line with the
bytes needed and available, exit 2, before any module or tensor exists."""

from __future__ import annotations

import re
import time

import pytest
import torch
from typer.testing import CliRunner

import archkit
from archkit.builder import memory as builder_memory
from archkit.cli import app
from archkit.profile.memory import DoesNotFitError
from archkit.spec.loader import builtin_text

# 1,000,000 x 1,000,000 images: the input alone is 3 x 10^12 elements (12 TB in fp32); below the
# spec's limit on a size (2^20), so only the memory check stands between it and an allocation.
HUGE_INPUT = builtin_text("googlenet").replace("input: {channels: 3, size: 224}", "input: {channels: 3, size: 1000000}")
# 10^6 filters on 10^6 channels: 10^12 weights (4,000 GB in fp32) in one conv.
WIDE = """\
name: wide
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: conv1, conv: {out: 1000000, kernel: 1}}
  - {name: conv2, conv: {out: 1000000, kernel: 1}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""
BYTES = r"[\d.,]+ [kMG]?B"
REFUSAL = re.compile(rf"^error: (\w+): building it needs at least {BYTES} \(params {BYTES} \+ activations {BYTES} "
                     rf"at batch 1, fp32\) but this machine has {BYTES} available$")


@pytest.fixture
def no_modules(monkeypatch):
    """Any torch module made from here on fails the test: the check must come first."""

    def made(*args, **kwargs):
        raise AssertionError("a torch module was made before the memory check")

    monkeypatch.setattr(torch.nn.Module, "__init__", made)


def refused(args: list[str]) -> str:
    """Run `archkit ARGS`, which must refuse quickly in one line (exit 2); return the line."""
    start = time.perf_counter()
    result = CliRunner().invoke(app, args)
    assert time.perf_counter() - start < 20  # nothing allocated: no 12 TB tensor was filled
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_verify_of_a_huge_input_is_refused_before_building(tmp_path, no_modules):
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE_INPUT)
    line = refused(["profile", str(path), "--verify", "--format", "json"])
    match = REFUSAL.match(line)
    assert match and match.group(1) == "googlenet", line
    needed = int(re.search(r"needs at least ([\d,]+) GB", line).group(1).replace(",", ""))
    assert needed > 12_000  # the input alone is 12,000 GB


def test_measure_of_a_huge_conv_is_refused_before_building(tmp_path, no_modules):
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE)
    line = refused(["profile", str(path), "--measure"])
    assert REFUSAL.match(line) and line.startswith("error: wide: "), line
    assert "(params 4,000 GB + " in line  # 10^12 weights of conv2 (and 2 x 10^6 more), 4 bytes each


def test_build_refuses_with_the_error_of_the_spec_family(no_modules):
    spec = archkit.spec_from_yaml(WIDE)
    # conv2 holds its input and output at once: 2 x 10^6 x 8 x 8 elements, 512 MB in fp32
    with pytest.raises(DoesNotFitError, match=r"^wide: building it needs at least 4,001 GB \(params 4,000 GB "
                                              r"\+ activations 512 MB at batch 1, fp32\)"):
        archkit.build(spec)
    assert issubclass(DoesNotFitError, archkit.SpecError)


def test_a_device_is_checked_with_its_own_free_memory_batch_and_precision(monkeypatch, googlenet):
    monkeypatch.setattr(builder_memory, "available_bytes", lambda device: 10**9)
    with pytest.raises(DoesNotFitError, match=r"^googlenet: running it on cuda:0 needs at least .* at batch 4096, "
                                              r"bf16\) but cuda:0 has 1.0 GB available$"):
        builder_memory.check_forward(googlenet, torch.device("cuda", 0), batch=4096, precision="bf16")
    assert builder_memory.check_forward(googlenet, torch.device("cuda", 0)).total_bytes < 10**9  # batch 1 fits


def test_train_is_refused_before_its_data_is_made(tmp_path, no_modules):
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE)
    # synthetic data would be made at the spec's input size: the check comes before it
    line = refused(["train", str(path), "--data", "synthetic", "--steps", "1", "--device", "cpu"])
    assert line.startswith("error: wide: training it needs about ") and "at batch 64, fp32" in line, line
    assert line.endswith("available: too large for this device even at batch 1"), line
