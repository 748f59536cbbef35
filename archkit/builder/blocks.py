"""torch.nn blocks, one per resolved op type. Every width is named; shapes come from the resolved spec."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn

from ..spec.resolve import (
    ConvOp,
    DropoutOp,
    GlobalPoolOp,
    LinearOp,
    LRNOp,
    Op,
    PoolOp,
    ReLUOp,
    ResolvedBranch,
    ResolvedResidual,
    SplitOp,
)


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
            groups=op.groups,
            bias=op.bias,
        )
        self.bn = nn.BatchNorm2d(op.out_channels, eps=op.bn_eps, momentum=op.bn_momentum) if op.batch_norm else None
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


class Named(nn.Module):
    """Submodules keyed by the spec's names, kept out of attribute space.

    torch's `add_module` refuses a name that is already an attribute (`keys`, `forward`, `_modules`,
    `training`, ...), and a child named like an attribute breaks `.train()` (which assigns
    `self.training`). So children go straight into `_modules` (state-dict keys are the spec's names),
    the container's own non-module attributes win over a child of the same name, and code reaches a
    child by `container[name]` (or `child(model, "a.b")`), never by attribute. Every name a spec may
    hold therefore builds, whatever torch adds to nn.Module in a later release.
    """

    def __init__(self, children: Mapping[str, nn.Module] = ()):
        super().__init__()
        for name, module in dict(children).items():
            self._modules[name] = module

    def __setattr__(self, name: str, value) -> None:
        if not isinstance(value, (nn.Module, torch.Tensor)) and name in self.__dict__.get("_modules", ()):
            object.__setattr__(self, name, value)  # e.g. `training` while a child is named "training"
        else:
            super().__setattr__(name, value)

    # Read like nn.ModuleDict: iteration gives the names. (Methods, not children: a child named
    # `keys` is reached as container["keys"].)
    def __getitem__(self, name: str) -> nn.Module:
        return self._modules[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Chain(Named):
    """Named ops applied in order (an nn.Sequential whose names cannot collide with attributes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self._modules.values():
            x = module(x)
        return x


class Concat(nn.Module):
    """Parallel branches on the same input, concatenated along channels (an inception module)."""

    def __init__(self, branches: Mapping[str, nn.Module]):
        super().__init__()
        self.branches = Named(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches.values()], dim=1)


class Residual(nn.Module):
    """A residual module: activation(scale * projection(concat(branches(x))) + shortcut(x)).

    Registered in the order the reference networks hold their parts (Xception's skip before its
    convs, Inception-ResNet's projection after its branches), so their state dicts line up."""

    def __init__(self, branches: Mapping[str, nn.Module], projection: nn.Module | None,
                 shortcut: nn.Module | None, scale: float, activation: str):
        super().__init__()
        self.shortcut = shortcut
        self.branches = Named(branches)
        self.projection = projection
        self.scale = scale
        # Not in place: with no projection the sum is the last branch's output, which autograd may need.
        self.act = nn.ReLU() if activation == "relu" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches.values()]
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        if self.projection is not None:
            out = self.projection(out)
        if self.scale != 1.0:
            out = out * self.scale
        out = out + (self.shortcut(x) if self.shortcut is not None else x)
        return self.act(out) if self.act is not None else out


def branch_module(branch: ResolvedBranch) -> nn.Module:
    """A branch: its ops in order, named by their index."""
    return Chain({op.name: op_module(op) for op in branch.ops})


def residual_module(branches: tuple[ResolvedBranch, ...], res: ResolvedResidual) -> Residual:
    def sequence(ops) -> nn.Module | None:
        if not ops:
            return None
        return op_module(ops[0]) if len(ops) == 1 else Chain({op.name: op_module(op) for op in ops})

    return Residual({b.name: branch_module(b) for b in branches}, sequence(res.projection),
                    sequence(res.shortcut), res.scale, res.activation)


def child(module: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted path of names, looked up by key (see `Named`), not by attribute."""
    for name in path.split(".") if path else ():
        module = module._modules[name]
    return module


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
    if isinstance(op, ReLUOp):
        return nn.ReLU()  # not in place: a residual module's shortcut may still need the input
    if isinstance(op, SplitOp):
        return Concat({b.name: branch_module(b) for b in op.branches})
    raise TypeError(f"no module for op {type(op).__name__}")
