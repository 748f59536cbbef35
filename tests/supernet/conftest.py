"""Shared fixtures: plans of the studies' spaces at a small budget (tiny widths: fast), and the TINY
config's supernet trained once, each made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..search.conftest import quick_table  # noqa: F401 (the latency table fixture, for test_latency.py)

STUDIES = Path(__file__).resolve().parents[2] / "studies"

# A search config small enough to train its supernet in seconds (googlenet-32 on digits, 1M multiply-adds).
TINY = """\
name: tiny
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 2], stage4: [1, 2], stage5: [1, 2]}
  factorize_5x5: true
  divisor: 4
budget: {ops: 1M}
data: digits
train: {batch_size: 32, epochs: 1, lr: 0.05, warmup_epochs: 0, schedule: constant, precision: fp32}
"""
SMALL_BUDGET = "1M"  # multiply-adds: the same spaces, narrow networks (the narrowest need ~0.5M)


def load(name: str, budget: str = SMALL_BUDGET):
    from archkit.search.loader import load_search_config

    return load_search_config(STUDIES / name, overrides={"budget.ops": budget})


@pytest.fixture(scope="session", params=["demo.yaml", "small-space.yaml"])
def planned(request):
    """(loaded config, plan) of a study's space at the small budget; the pool's corners only."""
    from archkit.supernet import plan_for

    loaded = load(request.param)
    return loaded, plan_for(loaded, classes=loaded.base.classes, samples=0)


@pytest.fixture(scope="session")
def tiny_supernet(tmp_path_factory) -> Path:
    """TINY's supernet, 2 steps on the CPU, trained once per session: its folder. A module copies it
    beside its own configs (`beside`), so that no module's studies or files meet another's."""
    from typer.testing import CliRunner

    from archkit.cli import app

    folder = tmp_path_factory.mktemp("tiny-supernet")
    (folder / "tiny.yaml").write_text(TINY)
    result = CliRunner().invoke(app, ["supernet", "train", str(folder / "tiny.yaml"), "-o", str(folder / "net"),
                                      "--steps", "2", "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    return folder / "net"


def beside(supernet: Path, folder: Path, config: str = TINY, name: str = "tiny.yaml") -> Path:
    """`folder` with a copy of the trained supernet in folder/net and `config` written as `name`."""
    import shutil

    shutil.copytree(supernet, folder / "net")
    (folder / name).write_text(config)
    return folder
