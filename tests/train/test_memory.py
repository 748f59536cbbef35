import pytest
import torch

import archkit
from archkit.training import api, memory
from archkit.training.errors import DoesNotFitError


def test_estimate_from_the_analytic_counts(tiny):
    # Every op's output per image, twice for a conv with batch norm (conv output and norm output):
    # conv1 16x8x8 -> 2048; inception: 1x1 8 -> 1024, 3x3 reduce 8 -> 1024, 3x3 16 -> 2048,
    # 5x5 reduce 4 -> 512, 5x5 8 -> 1024, pool 16 -> 1024 (no norm), pool proj 8 -> 1024;
    # global pool 40, linear 10.
    assert memory.saved_activations(tiny) == 2048 + 1024 + 1024 + 2048 + 512 + 1024 + 1024 + 1024 + 40 + 10
    est = memory.estimate(tiny, 10, "fp32")
    assert est.params == archkit.profile(tiny, "full").total.params == 3368
    assert est.param_bytes == 3368 * 12  # weights, gradients, momentum
    assert est.activation_bytes == 10 * 9778 * 4 * 2
    half = memory.estimate(tiny, 10, "bf16")
    assert half.param_bytes == 3368 * 14 and half.activation_bytes == est.activation_bytes // 2


def test_aux_heads_count(tiny_aux):
    with_aux = memory.estimate(tiny_aux, 1, "fp32")
    assert with_aux.params == archkit.profile(tiny_aux, "full").total.params + archkit.profile(
        tiny_aux, "full").aux_total.params


def test_guard_refuses_with_numbers(googlenet):
    with pytest.raises(DoesNotFitError, match=r"^googlenet: training it needs about [\d.,]+ GB \(weights, gradients "
                                              r"and momentum [\d.]+ MB \+ activations kept for backward [\d.,]+ GB at "
                                              r"batch 256, fp32\) but this machine has 1.1 GB available: "
                                              r"lower --batch-size$"):
        memory.check_fits(googlenet, 256, "fp32", torch.device("cpu"), free=2**30)
    assert memory.check_fits(googlenet, 1, "fp32", torch.device("cpu"), free=2**40).total_bytes > 0
    assert memory.available_bytes(torch.device("cpu")) > 0


def test_train_refuses_before_building_the_model(tiny, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1024)

    def no_build(*a, **k):
        raise AssertionError("the guard must refuse before a model is built")

    monkeypatch.setattr(api, "build", no_build)
    with pytest.raises(DoesNotFitError, match="tiny: training it .* at batch 64, fp32"):
        archkit.train(tiny, "synthetic", steps=1)
