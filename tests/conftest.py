"""Shared fixtures. Heavy objects (built models) are made once per session."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import archkit


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
