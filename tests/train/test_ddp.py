"""A real 2-process data-parallel run: gloo on the CPU, processes spawned by `nproc=2`."""

import pytest
import torch

import archkit
from archkit.training import ConfigError

# No batch norm and no dropout: then two processes on half a batch each compute what one process
# computes on the whole batch (the images and their augmentation are the same), up to float rounding.
PLAIN = """
name: plain
input: {channels: 3, size: 8}
classes: 10
layers:
  - {name: conv1, conv: {out: 8, kernel: 3}}
  - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}
  - {name: avgpool, global_avgpool: {}}
  - {name: linear, linear: {}}
"""


def test_two_gloo_processes_train_like_one():
    spec = archkit.spec_from_yaml(PLAIN)
    kw = dict(steps=4, batch_size=32, lr=0.2, warmup_epochs=0.0)
    single = archkit.train(spec, "digits", **kw)
    double = archkit.train(spec, "digits", nproc=2, **kw)
    assert double.world_size == 2 and double.steps == 4 and single.world_size == 1
    moved = False
    initial = archkit.build(spec, seed=0).state_dict()
    for key, value in single.model.state_dict().items():
        other = double.model.state_dict()[key]
        assert torch.allclose(value, other, rtol=1e-4, atol=1e-6), key
        moved |= not torch.equal(other, initial[key])
    assert moved  # the two-process run did train
    # each process scored half of the held-out images; the counts were summed
    assert double.val_top1 == pytest.approx(single.val_top1, abs=1 / 359)
    assert double.val_loss == pytest.approx(single.val_loss, rel=1e-4)


def test_nproc_refuses_what_cannot_cross_processes(tiny):
    with pytest.raises(ConfigError, match="on_epoch needs nproc=1"):
        archkit.train(tiny, nproc=2, on_epoch=lambda e, m: None)
