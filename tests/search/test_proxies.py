"""Zero-cost proxies against computations done here by hand, and the registry."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import archkit
from archkit.search.proxies import (
    PROXIES,
    Proxy,
    naswot,
    naswot_kernel,
    proxy_batch,
    synflow,
    train_loss_of,
    val_top1_of,
)
from archkit.spec.resolve import ConvOp, LinearOp, resolved

BN_EPS = 1e-5  # torch's BatchNorm2d default


def one_conv(batch_norm: bool = False, size: int = 4) -> archkit.Spec:
    """conv 1x1 (3 -> 6, no bias) -> ReLU -> global average pool -> linear (6 -> 5, no bias)."""
    return archkit.spec_from_data({
        "name": "one-conv", "input": {"channels": 3, "size": size}, "classes": 5,
        "layers": [{"name": "conv", "conv": {"out": 6, "kernel": 1, "bias": False, "batch_norm": batch_norm}},
                   {"name": "gap", "global_avgpool": {}},
                   {"name": "fc", "linear": {"bias": False}}]})


def with_aux() -> archkit.Spec:
    """A small net with an inception module, BN, a hidden ReLU linear and an aux head (training only)."""
    return archkit.spec_from_data({
        "name": "small", "input": {"channels": 3, "size": 16}, "classes": 4,
        "defaults": {"batch_norm": True, "bias": False},
        "layers": [
            {"name": "conv1", "conv": {"out": 8, "kernel": 3}},
            {"name": "inc", "inception": {"1x1": 4, "3x3_reduce": 4, "3x3": 8, "5x5_reduce": 2, "5x5": 4,
                                          "pool_proj": 4}},
            {"name": "gap", "global_avgpool": {}},
            {"name": "hidden", "linear": {"out": 12, "activation": "relu"}},
            {"name": "fc", "linear": {}}],
        "aux": [{"name": "aux1", "after": "inc"}]})


# --- synflow --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_norm", [False, True])
def test_synflow_closed_form_of_one_conv(batch_norm):
    # With |weights| and an all-ones input, the conv's output is r_o = sum_c |W1[o, c]| at every pixel
    # (times 1/sqrt(1 + eps) through an eval-mode BN at init), the pool keeps it, and R = sum of the
    # logits = sum_o s_o r_o with s_o = sum_k |W2[k, o]|. dR/dW2[k, o] = r_o and dR/dW1[o, c] = s_o
    # (the same factor), so each layer's sum of |theta * grad| is R itself: synflow = 2R.
    spec = one_conv(batch_norm)
    model = archkit.build(spec, seed=3)
    w1 = model["conv"].conv.weight.detach().double().abs()[:, :, 0, 0]  # (6, 3)
    w2 = model["fc"].fc.weight.detach().double().abs()  # (5, 6)
    r = w1.sum(1) / (math.sqrt(1 + BN_EPS) if batch_norm else 1.0)
    expected = 2 * float((w2.sum(0) * r).sum())
    assert synflow(spec, seed=3) == pytest.approx(expected, rel=1e-12)


def test_synflow_is_deterministic_given_the_seed():
    spec = with_aux()
    assert synflow(spec, seed=1) == synflow(spec, seed=1)
    assert synflow(spec, seed=1) != synflow(spec, seed=2)
    assert math.isfinite(synflow(spec, seed=1)) and synflow(spec, seed=1) > 0


def test_synflow_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    synflow(one_conv(), seed=0)
    assert torch.equal(torch.rand(3), expected)


# --- naswot ---------------------------------------------------------------------------------------


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """K[i, j] = units - Hamming distance between the codes of images i and j, pair by pair."""
    n, units = codes.shape
    k = torch.empty((n, n), dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            k[i, j] = units - int((codes[i] != codes[j]).sum())
    return k


@pytest.mark.parametrize("batch_norm", [False, True])
def test_naswot_of_one_relu_layer_by_hand(batch_norm):
    spec = one_conv(batch_norm, size=3)
    images = torch.randn(12, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    model = archkit.build(spec, seed=5)
    pre = F.conv2d(images, model["conv"].conv.weight.detach())  # (12, 6, 3, 3)
    if batch_norm:
        # Batch norm with the mini-batch's statistics (gamma 1, beta 0 at init): x > 0 after it
        # exactly where the conv output exceeds its channel's batch mean.
        pre = pre - pre.mean(dim=(0, 2, 3), keepdim=True)
    codes = (pre > 0).reshape(12, -1)
    expected = hamming_kernel(codes)
    kernel = naswot_kernel(spec, images, seed=5)
    np.testing.assert_array_equal(kernel, expected.numpy())
    assert naswot(spec, images, seed=5) == pytest.approx(float(torch.linalg.slogdet(expected).logabsdet), rel=1e-9)


def relu_units(spec: archkit.Spec) -> int:
    """ReLU outputs per image on the inference path, from the resolved spec (no torch)."""
    total = 0
    for layer in resolved(spec).layers:
        for branch in layer.branches:
            for op in branch.ops:
                if isinstance(op, ConvOp) and op.activation == "relu":
                    total += math.prod(op.out_shape)
                elif isinstance(op, LinearOp) and op.activation == "relu":
                    total += op.out_features
    return total


def test_naswot_kernel_counts_the_inference_path_relus_only():
    spec = with_aux()
    images = torch.randn(10, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    kernel = naswot_kernel(spec, images, seed=0)
    # An image agrees with itself on every unit: the diagonal is the number of ReLU units, aux head excluded.
    assert relu_units(spec) > 0
    np.testing.assert_array_equal(np.diag(kernel), np.full(10, relu_units(spec), dtype=float))
    np.testing.assert_array_equal(kernel, kernel.T)
    assert (kernel >= 0).all() and (kernel <= relu_units(spec)).all()


def test_naswot_is_deterministic_and_minus_infinity_for_a_repeated_image():
    spec = with_aux()
    images = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert naswot(spec, images, seed=0) == naswot(spec, images, seed=0)
    assert naswot(spec, images, seed=0) != naswot(spec, images, seed=1)
    # Eval mode except batch norm: no dropout or aux head makes the score random.
    repeated = torch.cat([images, images[:1]])
    assert naswot(spec, repeated, seed=0) == float("-inf")


def test_proxy_batch_is_a_seeded_normalized_training_batch():
    spec = archkit.load_spec("googlenet-32")
    a = proxy_batch(spec, "digits", batch_size=32, seed=0)
    assert a.shape == (32, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, proxy_batch(spec, "digits", batch_size=32, seed=0))
    assert not torch.equal(a, proxy_batch(spec, "digits", batch_size=32, seed=1))
    assert abs(float(a.mean())) < 0.5  # normalized with the training split's statistics


# --- the registry ---------------------------------------------------------------------------------


def test_registry_names_every_proxy_with_a_one_line_description():
    assert list(PROXIES) == ["val_top1", "train_loss", "synflow", "naswot", "supernet"]
    for name, proxy in PROXIES.items():
        assert isinstance(proxy, Proxy) and proxy.name == name
        assert proxy.description and "\n" not in proxy.description
    assert [p.name for p in PROXIES.values() if p.trains] == ["val_top1", "train_loss"]


def test_scores_of_a_training_result():
    result = SimpleNamespace(val_top1=0.75, history=[{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.5}])
    assert val_top1_of(result) == 0.75
    assert train_loss_of(result) == -3.5
    assert PROXIES["train_loss"].score(one_conv(), result=result) == -3.5
    assert PROXIES["val_top1"].score(one_conv(), result=result) == 0.75
    assert train_loss_of(SimpleNamespace(val_top1=0.1, history=[])) is None  # a run shorter than an epoch
    with pytest.raises(ValueError, match="needs the trial's training result"):
        PROXIES["val_top1"].score(one_conv())


def test_zero_cost_scores_through_the_registry():
    spec = one_conv()
    images = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    assert PROXIES["synflow"].score(spec, seed=2) == synflow(spec, seed=2)
    assert PROXIES["naswot"].score(spec, seed=2, images=images) == naswot(spec, images, seed=2)
    with pytest.raises(ValueError, match="mini-batch"):
        PROXIES["naswot"].score(spec)


def test_the_registry_imports_without_torch():
    code = ("import sys, json; from archkit.search.proxies import PROXIES; "
            "print(json.dumps([sorted(PROXIES), 'torch' in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [sorted(PROXIES), False]
