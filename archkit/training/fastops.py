"""Faster equivalents of slow torch modules, swapped in by the engine (the same numbers, less time).

`torch.nn.LocalResponseNorm` pools a 5-D view with avg_pool3d; on a CPU that makes each of GoogLeNet's
two LRN layers cost as much as a large convolution. `ChannelLRN` computes the same function as a
1-D average pool along the channels of an (N*H*W, 1, C) view, which in channels-last memory needs
no copy at all. It has no parameters, so state dicts and checkpoints are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLRN(nn.Module):
    """`nn.LocalResponseNorm(size, alpha, beta, k)` for 4-D inputs, computed along a channel view:
    b_c = a_c / (k + alpha/size * sum of a_j^2 over the `size` channels around c) ** beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)
        n, c, h, w = x.shape
        squares = (x * x).permute(0, 2, 3, 1).reshape(n * h * w, 1, c)
        # Zero padding as torch's LRN pads: size//2 before, (size-1)//2 after; the average counts them.
        squares = F.pad(squares, (self.size // 2, (self.size - 1) // 2))
        mean = F.avg_pool1d(squares, self.size, stride=1)
        div = mean.view(n, h, w, c).permute(0, 3, 1, 2)
        return x / div.mul(self.alpha).add(self.k).pow(self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def accelerate(model: nn.Module) -> int:
    """Replace every LocalResponseNorm in `model` by a ChannelLRN, in place; returns how many."""
    swaps = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.LocalResponseNorm:
                swaps.append((parent, name, ChannelLRN(child.size, child.alpha, child.beta, child.k)))
    for parent, name, module in swaps:
        setattr(parent, name, module)
    return len(swaps)
