import pytest
import torch

import archkit
from archkit.profile.training import train_profile
from archkit.training import api, memory
from archkit.training.errors import DoesNotFitError


def test_guard_reads_the_training_cost_model(tiny):
    cost = memory.check_fits(tiny, 10, "fp32", torch.device("cpu"), free=2**40)
    params = archkit.profile(tiny, "full").total.params
    assert cost.params == params == 3368
    assert cost.param_state_bytes == params * 12  # weights, gradients, momentum: fp32
    assert cost.saved_bytes == train_profile(tiny, 10, "fp32").saved_bytes > 0
    half = memory.check_fits(tiny, 10, "bf16", torch.device("cpu"), free=2**40)
    assert half.param_state_bytes == cost.param_state_bytes  # autocast keeps fp32 master weights


def test_aux_heads_count(tiny_aux):
    cost = memory.check_fits(tiny_aux, 1, "fp32", torch.device("cpu"), free=2**40)
    p = archkit.profile(tiny_aux, "full")
    assert cost.params == p.total.params + p.aux_total.params
    assert cost.aux and all(rows for _, rows in cost.aux)


def test_guard_refuses_with_numbers(googlenet):
    with pytest.raises(DoesNotFitError, match=r"^googlenet: training it needs about [\d.,]+ GB \(weights, gradients "
                                              r"and momentum [\d.]+ MB \+ activations saved for backward and in "
                                              r"flight [\d.,]+ GB at batch 256, fp32\) but this machine has 1.1 GB "
                                              r"available: the largest batch that fits is \d+: lower --batch-size$"):
        memory.check_fits(googlenet, 256, "fp32", torch.device("cpu"), free=2**30)
    with pytest.raises(DoesNotFitError, match="too large for this device even at batch 1$"):
        memory.check_fits(googlenet, 1, "fp32", torch.device("cpu"), free=10**8)
    assert memory.check_fits(googlenet, 1, "fp32", torch.device("cpu"), free=2**40).peak_bytes > 0
    assert memory.available_bytes(torch.device("cpu")) > 0


def test_train_refuses_before_building_the_model(tiny, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1024)

    def no_build(*a, **k):
        raise AssertionError("the guard must refuse before a model is built")

    monkeypatch.setattr(api, "build", no_build)
    with pytest.raises(DoesNotFitError, match="tiny: training it .* at batch 64, fp32"):
        archkit.train(tiny, "synthetic", steps=1)
