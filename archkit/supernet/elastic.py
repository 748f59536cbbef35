"""The elastic network: the plan's slots as torch parameters, and any candidate run on them.

`ElasticNet(plan)` holds one weight tensor per slot (with its bias and batch norm). `net(x, spec)`
runs the candidate's program with functional ops on slices of those tensors, so gradients of every
sub-network land in the shared weights. `net.sub_state_dict(spec)` gives the same slices under the
names `archkit.build(spec)` uses: loaded into the built candidate, it computes what the supernet
computes (tests/supernet holds the two together).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spec.models import Spec
from ..spec.resolve import DropoutOp, GlobalPoolOp, LinearOp, LRNOp, PoolOp, ReLUOp
from .plan import Concat, Plain, Plan, Runs, Slot, Step, Weighted, prefix, weighted


class SlotWeights(nn.Module):
    """One slot: `weight` (out x in x kh x kw, or out x in for a linear layer), `bias`, and batch norm's
    scale, shift and running statistics, each as wide as the slot."""

    def __init__(self, slot: Slot):
        super().__init__()
        shape = (slot.out, slot.in_, *slot.kernel) if slot.kind == "conv" else (slot.out, slot.in_)
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(slot.out)) if slot.bias else None
        if slot.kind == "conv" and slot.batch_norm:
            self.bn_weight = nn.Parameter(torch.ones(slot.out))
            self.bn_bias = nn.Parameter(torch.zeros(slot.out))
            self.register_buffer("running_mean", torch.zeros(slot.out))
            self.register_buffer("running_var", torch.ones(slot.out))
        else:
            self.bn_weight = self.bn_bias = None
        # As the builder initializes (He for ReLU convs, a small normal for linear layers).
        if slot.kind == "conv":
            nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        else:
            nn.init.normal_(self.weight, 0, 0.01)


def _columns(runs: Runs, device: torch.device) -> torch.Tensor:
    return torch.cat([torch.arange(start, start + n, device=device) for start, n in runs])


class ElasticNet(nn.Module):
    """Every candidate of a plan in one module. `forward(x, spec)` -> the candidate's logits."""

    def __init__(self, plan: Plan):
        super().__init__()
        self.plan = plan
        self.keys = list(plan.slots)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.slots = nn.ModuleList([SlotWeights(plan.slots[key]) for key in self.keys])
        self._columns: dict[tuple[Runs, torch.device], torch.Tensor] = {}

    def slot(self, key: str) -> SlotWeights:
        return self.slots[self.index[key]]

    # --- slices ------------------------------------------------------------------------------

    def _input_slice(self, weight: torch.Tensor, runs: Runs) -> torch.Tensor:
        n = prefix(runs)
        if n is not None:
            return weight[:, :n]  # a view: no copy
        key = (runs, weight.device)
        columns = self._columns.get(key)
        if columns is None:
            columns = self._columns[key] = _columns(runs, weight.device)
        return weight.index_select(1, columns)

    def sliced(self, w: Weighted) -> dict[str, torch.Tensor | None]:
        """The weighted op's tensors: its filters' rows, its inputs' columns."""
        s = self.slot(w.slot)
        k = w.out
        return {
            "weight": self._input_slice(s.weight[:k], w.inputs),
            "bias": None if s.bias is None else s.bias[:k],
            "bn_weight": None if s.bn_weight is None else s.bn_weight[:k],
            "bn_bias": None if s.bn_bias is None else s.bn_bias[:k],
            "running_mean": None if s.bn_weight is None else s.running_mean[:k],
            "running_var": None if s.bn_weight is None else s.running_var[:k],
        }

    def sub_state_dict(self, spec: Spec, program: tuple[Step, ...] | None = None) -> dict[str, torch.Tensor]:
        """The candidate's weights (copies), keyed as `archkit.build(spec).state_dict()` keys them."""
        out: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for w in weighted(program or self.plan.program(spec)):
                t = self.sliced(w)
                if isinstance(w.op, LinearOp):
                    out[f"{w.path}.fc.weight"] = t["weight"].clone()
                    if t["bias"] is not None:
                        out[f"{w.path}.fc.bias"] = t["bias"].clone()
                    continue
                out[f"{w.path}.conv.weight"] = t["weight"].clone()
                if t["bias"] is not None:
                    out[f"{w.path}.conv.bias"] = t["bias"].clone()
                if t["bn_weight"] is not None:
                    out[f"{w.path}.bn.weight"] = t["bn_weight"].clone()
                    out[f"{w.path}.bn.bias"] = t["bn_bias"].clone()
                    out[f"{w.path}.bn.running_mean"] = t["running_mean"].clone()
                    out[f"{w.path}.bn.running_var"] = t["running_var"].clone()
                    out[f"{w.path}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
        return out

    def params_of(self, spec: Spec, full: bool = False) -> int:
        """The sub-network's parameter count, from its slices: weights only (full: biases and batch
        norm's scale and shift too)."""
        total = 0
        for w in weighted(self.plan.program(spec)):
            t = self.sliced(w)
            total += t["weight"].numel()
            if full:
                total += sum(t[k].numel() for k in ("bias", "bn_weight", "bn_bias") if t[k] is not None)
        return total

    # --- running a sub-network -----------------------------------------------------------------

    def forward(self, x: torch.Tensor, spec: Spec, program: tuple[Step, ...] | None = None) -> torch.Tensor:
        return self._run(program or self.plan.program(spec), x)

    def _run(self, steps: tuple[Step, ...], x: torch.Tensor) -> torch.Tensor:
        for step in steps:
            if isinstance(step, Weighted):
                x = self._weighted(step, x)
            elif isinstance(step, Concat):
                x = torch.cat([self._run(branch, x) for branch in step.branches], dim=1)
            else:
                x = self._plain(step, x)
        return x

    def _weighted(self, w: Weighted, x: torch.Tensor) -> torch.Tensor:
        t = self.sliced(w)
        op = w.op
        if isinstance(op, LinearOp):
            x = F.linear(torch.flatten(x, 1), t["weight"], t["bias"])
            return F.relu(x) if op.activation == "relu" else x
        x = F.conv2d(x, t["weight"], t["bias"], op.stride, op.padding)
        if t["bn_weight"] is not None:
            # In training the batch's statistics normalize and the slot's running statistics (views)
            # are updated in place; scoring recalibrates them per candidate anyway (calibrate.py).
            x = F.batch_norm(x, t["running_mean"], t["running_var"], t["bn_weight"], t["bn_bias"], self.training,
                             op.bn_momentum, op.bn_eps)
        return F.relu(x) if op.activation == "relu" else x

    def _plain(self, step: Plain, x: torch.Tensor) -> torch.Tensor:
        op = step.op
        if isinstance(op, PoolOp):
            if op.mode == "max":
                return F.max_pool2d(x, op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode)
            return F.avg_pool2d(x, op.kernel, op.stride, op.padding, ceil_mode=op.ceil_mode,
                                count_include_pad=op.count_include_pad)
        if isinstance(op, GlobalPoolOp):
            return F.adaptive_avg_pool2d(x, 1)
        if isinstance(op, LRNOp):
            return F.local_response_norm(x, op.size, alpha=op.alpha, beta=op.beta, k=op.k)
        if isinstance(op, DropoutOp):
            return F.dropout(x, op.p, self.training)
        if isinstance(op, ReLUOp):
            return F.relu(x)
        raise TypeError(f"no elastic op for {type(op).__name__}")
