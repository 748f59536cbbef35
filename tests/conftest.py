"""Shared fixtures. Heavy objects (built models) are made once per session."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

# Every cache archkit keeps (validated built-ins, latency tables) goes to a folder of this test
# run, never the user's ~/.cache; set before archkit is imported, inherited by subprocesses.
os.environ["ARCHKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="archkit-test-cache-")

import archkit  # noqa: E402

TESTS = Path(__file__).resolve().parent
# `make test-fast` leaves these out (markers added here by path, so a new test in such a file is
# marked too): a real browser, a real PostgreSQL, and runs that take tens of seconds each
# (processes killed and resumed, data parallel, property-based fuzzing, benchmarks end to end).
# Single tests elsewhere that train on real data for 10 s or more carry @pytest.mark.slow themselves.
BROWSER = {"report/test_browser.py"}
SLOW = {"reliability/test_faults.py", "reliability/test_workers.py", "reliability/test_fuzz.py",
        "train/test_ddp.py", "search/test_bench_search.py", "search/test_bench_proxy.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        where = Path(item.fspath).resolve().relative_to(TESTS).as_posix()
        if where in BROWSER:
            item.add_marker(pytest.mark.browser)
        if where in SLOW:
            item.add_marker(pytest.mark.slow)
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def whole_images(fraction: float, images: int) -> bool:
    """An accuracy on `images` images is a whole number of them: fraction x images is an integer.
    (A counting defect — a padded batch scored twice, a split of the wrong size — breaks this.)"""
    return abs(fraction * images - round(fraction * images)) < 1e-6


@pytest.fixture(scope="session")
def googlenet() -> archkit.Spec:
    return archkit.load_spec("googlenet")


@pytest.fixture(scope="session")
def googlenet32() -> archkit.Spec:
    return archkit.load_spec("googlenet-32")


@pytest.fixture(scope="session")
def googlenet_model(googlenet):
    """The built googlenet (about 13M parameters); built once for the whole session."""
    return archkit.build(googlenet, seed=0)


@pytest.fixture
def write_spec(tmp_path: Path):
    """write_spec(text, name="spec.yaml") -> path of a file holding the dedented text."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
