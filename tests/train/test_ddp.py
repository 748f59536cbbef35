"""A real 2-process data-parallel run: gloo on the CPU, processes spawned by `nproc=2`."""

import pytest
import torch

import archkit
from archkit.training import ConfigError
from archkit.training.precision import cpu_has_native_bf16

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
    # fp32 pinned: `auto` is bf16 on CPUs with AVX-512-BF16 or AMX, whose rounding differs between a
    # batch of 32 and two of 16 far beyond this comparison's tolerance.
    spec = archkit.spec_from_yaml(PLAIN)
    kw = dict(steps=4, batch_size=32, lr=0.2, warmup_epochs=0.0, precision="fp32")
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


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (AVX-512-BF16 or AMX): "
                    "auto is fp32 here, which test_two_gloo_processes_train_like_one covers")
def test_two_gloo_processes_in_auto_precision_train_like_one_within_bf16_rounding():
    # Where auto means bf16, data parallel still computes the same run, up to bf16's 8-bit mantissa.
    spec = archkit.spec_from_yaml(PLAIN)
    kw = dict(steps=4, batch_size=32, lr=0.2, warmup_epochs=0.0)
    single = archkit.train(spec, "digits", **kw)
    double = archkit.train(spec, "digits", nproc=2, **kw)
    assert single.precision == double.precision == "bf16"
    initial = archkit.build(spec, seed=0).state_dict()
    for key, value in single.model.state_dict().items():
        other = double.model.state_dict()[key]
        step = (value - initial[key]).abs().max()
        # the two runs moved the weights alike: their difference is small beside how far they moved
        assert (value - other).abs().max() <= 0.1 * step + 1e-6, key
    assert double.val_top1 == pytest.approx(single.val_top1, abs=0.05)
