"""`build(spec)`: the resolved spec as a torch.nn.Module whose submodule names are the spec's layer names."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from ..profile.memory import check_build
from ..spec.models import Spec
from ..spec.resolve import ResolvedLayer, resolved
from .blocks import Chain, Concat, Named, branch_module, op_module, residual_module


class InceptionOutput(NamedTuple):
    """What a model with aux heads returns in training mode: main logits and one tensor of aux
    logits per head, in the spec's `aux` order. In eval mode the model returns the logits tensor."""

    logits: torch.Tensor
    aux_logits: tuple[torch.Tensor, ...]


def layer_module(layer: ResolvedLayer) -> nn.Module:
    """One spec layer: a single op's module, a named sequence (conv with reduce), a Concat, or a
    Residual."""
    if layer.residual is not None:
        return residual_module(layer.branches, layer.residual)
    if layer.parallel:
        return Concat({b.name: branch_module(b) for b in layer.branches})
    ops = layer.branches[0].ops
    if len(ops) == 1:
        return op_module(ops[0])
    return Chain({op.name: op_module(op) for op in ops})


class InceptionNet(Named):
    """A network built from a spec. `model[<layer name>]` is each layer; `model[<aux name>]` each aux head
    (state-dict keys are the spec's names; any name builds, see `Named`).

    forward(x) returns logits of shape (N, classes); in training mode, when the spec has aux heads,
    an `InceptionOutput(logits, aux_logits)` instead (aux heads run only in training, as in the paper).
    """

    def __init__(self, spec: Spec):
        check_build(spec)  # before any tensor: a spec too large for the memory is one line, not a traceback
        super().__init__()
        r = resolved(spec)
        # Attributes first, children after: a layer may be named like any of them.
        self.spec = spec
        self.layer_names = [layer.name for layer in r.layers]
        self.aux_names = [head.name for head in r.aux]
        self.aux_weights = [head.weight for head in r.aux]
        self._aux_after: dict[str, list[str]] = {}
        for head in r.aux:
            self._aux_after.setdefault(head.after, []).append(head.name)
        for layer in r.layers:
            self._modules[layer.name] = layer_module(layer)
        for head in r.aux:
            self._modules[head.name] = Chain({layer.name: layer_module(layer) for layer in head.layers})
        _init_weights(self)

    def forward(self, x: torch.Tensor):
        aux: dict[str, torch.Tensor] = {}
        for name in self.layer_names:
            x = self._modules[name](x)
            if self.training and name in self._aux_after:
                for head in self._aux_after[name]:
                    aux[head] = self._modules[head](x)
        if self.training and self.aux_names:
            return InceptionOutput(x, tuple(aux[n] for n in self.aux_names))
        return x


def _init_weights(model: nn.Module) -> None:
    # He initialization for ReLU convs keeps activations from vanishing in deep nets without BN;
    # a small normal init for linear layers keeps the initial logits near uniform.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(spec: Spec, seed: int | None = None, weights: str | Path | None = None) -> InceptionNet:
    """The torch model of a spec. With `seed`, the initial weights are reproducible; with `weights`,
    a weights file of this spec (`archkit export --weights`) replaces them (another spec's: WeightsError).

    Raises DoesNotFitError (one line with the bytes) before any tensor exists when the spec's
    parameters and one forward pass at batch 1 cannot fit in this machine's available memory."""
    state = None
    if weights is not None:
        from .weights import load_weights

        state = load_weights(weights, spec)  # before building: a wrong file costs nothing
    if seed is None:
        model = InceptionNet(spec)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = InceptionNet(spec)
    if state is not None:
        model.load_state_dict(state)
    return model
