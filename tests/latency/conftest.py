"""A tiny network with every kind of unit the latency model knows (conv with reduce, pools, LRN,
an inception module, a residual module with a split and a shortcut, a ReLU op, global pool,
dropout, linear), small enough to time in a second; and a private cache folder per test."""

from __future__ import annotations

import pytest

from archkit import spec_from_yaml

TINY = """
name: tiny
input: {channels: 3, size: 16}
classes: 4
defaults: {activation: relu, batch_norm: true, bias: false}
layers:
  - {name: conv1, conv: {out: 8, kernel: 3}}
  - {name: pool1, maxpool: {kernel: 3, stride: 2, rounding: ceil}}
  - {name: norm1, lrn: {size: 3}}
  - {name: conv2, conv: {out: 12, kernel: 3, reduce: 8}}
  - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - name: res
    module:
      branches:
        - [{conv: {out: 8}}]
        - [{conv: {out: 4}}, {split: [[{conv: {out: 4, kernel: [1, 3]}}], [{conv: {out: 4, kernel: [3, 1]}}]]}]
        - [{relu: {}}, {avgpool: {kernel: 3, padding: 1}}]
      residual:
        projection: {out: 16, bias: true, batch_norm: false, activation: none}
        shortcut: {out: 16, activation: none}
        scale: 0.5
  - {name: avgpool, global_avgpool: {}}
  - {name: dropout, dropout: {p: 0.2}}
  - {name: linear, linear: {}}
"""


@pytest.fixture(scope="session")
def tiny():
    return spec_from_yaml(TINY, "tiny")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder (also as $ARCHKIT_CACHE_DIR, so nothing touches the user's)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ARCHKIT_CACHE_DIR", str(folder))
    return folder
