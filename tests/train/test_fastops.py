import pytest
import torch
from torch import nn

import archkit
from archkit.training.fastops import ChannelLRN, accelerate


@pytest.mark.parametrize("size", [5, 4, 1])
@pytest.mark.parametrize("channels_last", [False, True])
def test_channel_lrn_computes_torchs_lrn(size, channels_last):
    g = torch.Generator().manual_seed(size)
    x = (torch.randn(2, 7, 5, 3, generator=g) * 20)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ref, fast = nn.LocalResponseNorm(size, 1e-3, 0.75, 2.0), ChannelLRN(size, 1e-3, 0.75, 2.0)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = ref(a), fast(b)
    assert torch.allclose(ya, yb, rtol=1e-6, atol=1e-6)
    grad = torch.randn(ya.shape, generator=g)
    ya.backward(grad)
    yb.backward(grad)
    assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    assert yb.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_accelerate_swaps_googlenets_lrn_layers(googlenet):
    model = archkit.build(googlenet, seed=0)
    before = model.state_dict()
    assert accelerate(model) == 2
    assert isinstance(model.norm1, ChannelLRN) and isinstance(model.norm2, ChannelLRN)
    assert model.state_dict().keys() == before.keys()
    assert accelerate(model) == 0
