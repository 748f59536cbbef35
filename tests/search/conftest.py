"""Fixtures for the search tests: a deterministic fake trainer (the real `archkit.train` is not
needed: these tests are about what happens around training) and config files in a tmp folder."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

import archkit


def fake_accuracy(spec: archkit.Spec) -> float:
    """A made-up but deterministic accuracy from the spec alone: more inception modules and more
    multiply-adds score higher. Tests recompute it from a trial's stored spec."""
    modules = sum(1 for layer in spec.layers if layer.inception is not None)
    ops = archkit.profile(spec).total.ops
    return round(modules / 20 + (ops % 9973) / 1e6, 9)


def fake_test_accuracy(val_top1: float, seed: int) -> float:
    """The fake test top-1 of a run: its val top-1 less 0.01, give or take up to 0.006 by seed."""
    return round(val_top1 - 0.01 + ((seed * 7919) % 13 - 6) / 1000, 9)


def fake_train_loss(val_top1: float, epoch: int, epochs: int) -> float:
    """The fake mean training loss of an epoch (0-based): falls as accuracy rises."""
    return round(2.0 - 1.5 * val_top1 * (epoch + 1) / epochs, 9)


class FakeTrainer:
    """Stands in for `archkit.train(spec, data=..., seed=..., on_epoch=..., **recipe)`.

    Reports `curve(accuracy, epoch, epochs)` through `on_epoch` once per epoch (the pruner reads it),
    records every call, and raises KeyboardInterrupt on call number `interrupt_at` (1-based)."""

    SECONDS = 1.25
    IMAGES_PER_S = 321.0
    DEVICE = "cpu (fake)"

    def __init__(self, accuracy=fake_accuracy, interrupt_at: int | None = None, delay: float = 0.0):
        self.accuracy = accuracy
        self.interrupt_at = interrupt_at
        self.delay = delay
        self.calls: list[dict] = []
        self.epochs_run: list[int] = []  # epochs each call reported before it returned or was pruned
        self._lock = threading.Lock()

    @property
    def specs(self) -> list[archkit.Spec]:
        return [c["spec"] for c in self.calls]

    def __call__(self, spec, *, data, seed, on_epoch, epochs, score_test=False, **recipe):
        with self._lock:
            self.calls.append({"spec": spec, "data": data, "seed": seed, "epochs": epochs, "score_test": score_test,
                               **recipe})
            self.epochs_run.append(0)
            index = len(self.calls) - 1
        if self.interrupt_at is not None and index + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        if self.delay:
            import time

            time.sleep(self.delay)
        acc = self.accuracy(spec)
        history = []
        for epoch in range(epochs):
            self.epochs_run[index] += 1
            history.append({"epoch": epoch + 1, "train_loss": fake_train_loss(acc, epoch, epochs)})
            on_epoch(epoch, {"val_top1": acc * (epoch + 1) / epochs, "val_loss": 1.0 - acc})
        test = fake_test_accuracy(acc, seed) if score_test else None
        return SimpleNamespace(val_top1=acc, val_top5=min(1.0, acc + 0.1), seconds=self.SECONDS,
                               train_images_per_s=self.IMAGES_PER_S, device=self.DEVICE, precision="fp32",
                               test_top1=test, test_top5=None if test is None else min(1.0, test + 0.1),
                               history=history)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """Run in a tmp folder, so studies/ and specs/ are never written in the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_config(workdir: Path):
    """write_config(text, name="search.yaml") -> the path (relative to the tmp cwd) of the dedented text."""

    def write(text: str, name: str = "search.yaml") -> Path:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


# --- the command line, with training faked ----------------------------------------------------


@pytest.fixture
def cli(request):
    """cli(*args, train=None) -> typer's Result of `archkit ARGS` (never a traceback). The search
    commands train with `train`, else with the test's `fake` trainer when it asks for one, else
    for real (`archkit.search.commands.trainer`)."""
    from typer.testing import CliRunner

    from archkit.cli import app

    runner = CliRunner()

    def invoke(*args, train=None):
        if train is None and "fake" in request.fixturenames:
            train = request.getfixturevalue("fake")
        result = runner.invoke(app, [str(a) for a in args], obj=None if train is None else {"train": train})
        assert "Traceback" not in result.output
        return result

    return invoke


@pytest.fixture
def fake():
    """A FakeTrainer in place of archkit.train for the search commands run through `cli`."""
    return FakeTrainer()


def one_error_line(result, code: int = 2) -> str:
    """The single stderr line of a command that failed with `code`."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- latency, measured for real but lightly ------------------------------------------------------

LATENCY_THREADS = 1  # the thread count of the `latency:` sections in these tests (studies/latency.yaml's too)


@pytest.fixture
def quick_table(tmp_path, monkeypatch):
    """The cpu/fp32/1-thread latency table a search will open, in a private cache, with light timing
    and the identity calibration (no probe networks: seconds, not tens of seconds)."""
    from archkit.latency import get_table
    from archkit.latency.calibrate import Calibration
    from archkit.latency.table import _OPEN

    monkeypatch.setenv("ARCHKIT_CACHE_DIR", str(tmp_path / "cache"))
    _OPEN.clear()
    table = get_table("cpu", "fp32", threads=LATENCY_THREADS)
    table.warmup, table.rounds, table.repeats, table.block_s = 1, 1, 2, 0.0002
    table.calibration = Calibration(1.0, 0.0, 0, None)
    yield table
    _OPEN.clear()
