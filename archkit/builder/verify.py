"""`verify(spec)`: the built model, torch's parameter counts and fvcore's op counts against the
analytic profile, layer by layer and branch by branch. This holds builder and profiler together."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from ..profile import profile
from ..spec.models import Spec
from ..spec.resolve import resolved
from .blocks import child
from .model import build

# fvcore also counts these; archkit's "ops" are conv and linear multiply-adds only.
_NOT_OPS = (
    "aten::batch_norm", "aten::adaptive_avg_pool2d", "aten::upsample_nearest2d", "aten::upsample_bilinear2d",
    "aten::group_norm", "aten::layer_norm", "aten::instance_norm", "aten::grid_sampler",
)


@dataclass(frozen=True, slots=True)
class Check:
    where: str  # "inception3a", "inception3a.branch_3x3", "aux1.fc"
    quantity: str  # "params (full)", "params (paper)", "ops", "output shape"
    analytic: object
    measured: object

    @property
    def ok(self) -> bool:
        return self.analytic == self.measured


@dataclass(frozen=True, slots=True)
class VerifyReport:
    spec: str
    checks: tuple[Check, ...]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures


def _weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _count_nothing(inputs, outputs) -> Counter:
    return Counter()


def _flops_by_module(module: nn.Module, x: torch.Tensor) -> dict[str, int]:
    with warnings.catch_warnings():
        # Importing fvcore.nn calls torch.jit.script, which recent torch deprecates with a FutureWarning
        # that would otherwise reach the user's terminal on every `--verify`.
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(module, x)
        # A handle counting nothing (a None handle would only mark the op "ignored"; fvcore still counts it).
        analysis.set_op_handle(**{name: _count_nothing for name in _NOT_OPS})
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        return dict(analysis.by_module())


def _shapes(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, tuple]:
    seen: dict[str, tuple] = {}
    hooks = [
        child(model, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, _chw(o)))
        for n in names
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _chw(output: torch.Tensor) -> tuple:
    # A linear layer's (N, F) output is Table 1's 1x1xF.
    shape = tuple(output.shape[1:])
    return (shape[0], 1, 1) if len(shape) == 1 else shape


def _check_rows(checks: list, module: nn.Module, prefix: str, rows_paper, rows_full, flops, shapes) -> None:
    for rp, rf in zip(rows_paper, rows_full, strict=True):
        where = prefix + rp.name
        sub = child(module, rp.name)
        checks.append(Check(where, "params (full)", rf.params, _params(sub)))
        checks.append(Check(where, "params (paper)", rp.params, _weights(sub)))
        checks.append(Check(where, "ops", rp.ops, flops.get(rp.name, 0)))
        checks.append(Check(where, "output shape", tuple(rp.output), shapes.get(rp.name)))
        _check_branches(checks, sub, where, rp.name, rp.branches, rf.branches, flops)


def _check_branches(checks: list, sub: nn.Module, where: str, key: str, paper, full, flops) -> None:
    """A module's branches (and residual projection and shortcut), and the sub-branches of every
    split inside them, as deep as they nest."""
    for bp, bf in zip(paper, full, strict=True):
        if bp.at is not None:  # a sub-branch of the split at op `at` of the enclosing branch
            bsub, bkey = sub[str(bp.at)].branches[bp.name], f"{key}.{bp.at}.branches.{bp.name}"
        elif bp.role == "branch":
            bsub, bkey = sub.branches[bp.name], f"{key}.branches.{bp.name}"
        else:  # a residual module's projection or shortcut
            bsub, bkey = getattr(sub, bp.role), f"{key}.{bp.role}"
        checks.append(Check(f"{where}.{bp.name}", "params (full)", bf.params, _params(bsub)))
        checks.append(Check(f"{where}.{bp.name}", "ops", bp.ops, flops.get(bkey, 0)))
        _check_branches(checks, bsub, f"{where}.{bp.name}", bkey, bp.branches, bf.branches, flops)


def verify(spec: Spec) -> VerifyReport:
    """Build the model and compare, per layer and per branch: parameters (torch) with the "full"
    profile, conv/linear weights with the "paper" profile, multiply-adds (fvcore's
    `FlopCountAnalysis.by_module()`, one fused multiply-add = one flop) and output shapes (a real
    forward pass) with the analytic ones. Aux heads are checked on inputs of their resolved shape."""
    r = resolved(spec)
    paper, full = profile(spec, "paper"), profile(spec, "full")
    model = build(spec, seed=0).eval()
    x = torch.randn(1, *r.input_shape)
    checks: list[Check] = []
    flops = _flops_by_module(model, x)
    shapes = _shapes(model, [layer.name for layer in r.layers], x)
    _check_rows(checks, model, "", paper.rows, full.rows, flops, shapes)
    for head, ap, af in zip(r.aux, paper.aux, full.aux, strict=True):
        module = child(model, head.name).eval()
        hx = torch.randn(1, *head.layers[0].in_shape)
        hflops = _flops_by_module(module, hx)
        hshapes = _shapes(module, [layer.name for layer in head.layers], hx)
        _check_rows(checks, module, head.name + ".", ap.rows, af.rows, hflops, hshapes)
    checks.append(Check("model", "params (full), all heads", full.total.params + full.aux_total.params,
                        _params(model)))
    checks.append(Check("model", "ops, inference path", paper.total.ops, flops.get("", 0)))
    return VerifyReport(spec.name, tuple(checks))
