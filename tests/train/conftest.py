"""Tiny specs (train in seconds) and data fixtures in the real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import pytest

import archkit

from .formats import write_cifar10, write_cifar100

# 8x8 input: the digits' own size (no resizing), one small inception module; trains in seconds.
TINY = """
name: tiny
input: {channels: 3, size: 8}
classes: 10
defaults: {activation: relu, batch_norm: true, bias: false}
layers:
  - {name: conv1, conv: {out: 16, kernel: 3}}
  - {name: inc, inception: {1x1: 8, 3x3_reduce: 8, 3x3: 16, 5x5_reduce: 4, 5x5: 8, pool_proj: 8}}
  - {name: avgpool, global_avgpool: {}}
  - {name: linear, linear: {}}
"""

# 16x16 input, no batch norm, an aux head after the inception module (its own small head).
TINY_AUX = """
name: tiny-aux
input: {channels: 3, size: 16}
classes: 10
layers:
  - {name: conv1, conv: {out: 8, kernel: 3, stride: 2}}
  - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
  - {name: avgpool, global_avgpool: {}}
  - {name: dropout, dropout: {p: 0.4}}
  - {name: linear, linear: {}}
aux:
  - after: inc
    weight: 0.3
    layers:
      - {name: pool, avgpool: {kernel: 2, stride: 2}}
      - {name: fc, linear: {out: 16, activation: relu}}
      - {name: linear, linear: {}}
"""


@pytest.fixture(scope="session")
def tiny() -> archkit.Spec:
    return archkit.spec_from_yaml(TINY, "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_aux() -> archkit.Spec:
    return archkit.spec_from_yaml(TINY_AUX, "tiny-aux.yaml")


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def cifar10_root(tmp_path: Path) -> Path:
    return write_cifar10(tmp_path / "cifar10")


@pytest.fixture
def cifar100_root(tmp_path: Path) -> Path:
    return write_cifar100(tmp_path / "cifar100")
