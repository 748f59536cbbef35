"""torch.nn blocks, one per resolved op type. Every width is named; shapes come from the resolved spec."""

from __future__ import annotations

import torch
from torch import nn

from ..spec.resolve import ConvOp, DropoutOp, GlobalPoolOp, LinearOp, LRNOp, Op, PoolOp


class ConvBlock(nn.Module):
    """conv -> optional batch norm -> optional ReLU (the paper puts a ReLU after every conv)."""

    def __init__(self, op: ConvOp):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels=op.in_shape[0],
            out_channels=op.out_channels,
            kernel_size=op.kernel,
            stride=op.stride,
            padding=op.padding,
            bias=op.bias,
        )
        self.bn = nn.BatchNorm2d(op.out_channels) if op.batch_norm else None
        self.act = nn.ReLU(inplace=True) if op.activation == "relu" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


class LinearBlock(nn.Module):
    """Flatten (C x H x W features) -> linear -> optional ReLU."""

    def __init__(self, op: LinearOp):
        super().__init__()
        self.fc = nn.Linear(in_features=op.in_features, out_features=op.out_features, bias=op.bias)
        self.act = nn.ReLU(inplace=True) if op.activation == "relu" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(torch.flatten(x, 1))
        if self.act is not None:
            x = self.act(x)
        return x


class Concat(nn.Module):
    """Parallel branches on the same input, concatenated along channels (an inception module)."""

    def __init__(self, branches: dict[str, nn.Module]):
        super().__init__()
        self.branches = nn.ModuleDict(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches.values()], dim=1)


def op_module(op: Op) -> nn.Module:
    """The torch module of one resolved op."""
    if isinstance(op, ConvOp):
        return ConvBlock(op)
    if isinstance(op, PoolOp):
        if op.mode == "max":
            return nn.MaxPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode)
        return nn.AvgPool2d(op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode,
                            count_include_pad=op.count_include_pad)
    if isinstance(op, GlobalPoolOp):
        return nn.AdaptiveAvgPool2d(1)
    if isinstance(op, LRNOp):
        return nn.LocalResponseNorm(op.size, alpha=op.alpha, beta=op.beta, k=op.k)
    if isinstance(op, DropoutOp):
        return nn.Dropout(op.p)
    if isinstance(op, LinearOp):
        return LinearBlock(op)
    raise TypeError(f"no module for op {type(op).__name__}")
