"""The memory guard: refuse a run whose training memory clearly exceeds the device's free memory,
before any tensor is allocated, from the analytic counts of `archkit.profile`.

The estimate (per process, fp32 master weights):
  params x (weights + gradients + momentum) x 4 bytes (+ a 2-byte copy under bf16/fp16 autocast)
+ batch x activations x bytes per element x 2 (the forward keeps each op's output for backward;
  the backward holds about as much again in gradients at its peak)
It is an estimate, not a bound: the guard exists to turn a certain out-of-memory crash minutes into
a run into a one-line refusal with numbers, not to predict usage to the byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..builder.memory import available_bytes, where
from ..profile import profile
from ..profile.counts import activations
from ..profile.memory import MemoryNeed
from ..profile.memory import check_fits as check_fits_memory
from ..spec.models import Spec
from ..spec.resolve import ConvOp, resolved

BACKWARD_FACTOR = 2


@dataclass(frozen=True)
class MemoryEstimate:
    params: int  # parameter count, aux heads included
    activations_per_image: int  # elements kept for backward, per image
    param_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.activation_bytes


def saved_activations(spec: Spec) -> int:
    """Elements per image that the forward keeps: every op's output, aux heads included; a conv with
    batch norm keeps two (the conv's output for the norm's backward, the norm's output)."""
    r = resolved(spec)
    total = 0
    layers = list(r.layers) + [layer for head in r.aux for layer in head.layers]
    for layer in layers:
        for branch in layer.branches:
            for op in branch.ops:
                n = activations(op)
                total += 2 * n if isinstance(op, ConvOp) and op.batch_norm else n
    return total


def estimate(spec: Spec, batch_size: int, precision: str) -> MemoryEstimate:
    """Training memory of one process at batch `batch_size` (that process's share of the batch)."""
    p = profile(spec, "full")
    params = p.total.params + p.aux_total.params
    half = precision in ("bf16", "fp16")
    acts = saved_activations(spec)
    return MemoryEstimate(
        params=params,
        activations_per_image=acts,
        param_bytes=params * (12 + (2 if half else 0)),
        activation_bytes=batch_size * acts * (2 if half else 4) * BACKWARD_FACTOR,
    )


def check_fits(spec: Spec, batch_size: int, precision: str, device, free: int | None = None) -> MemoryEstimate:
    """DoesNotFitError (the one memory check's, `archkit.profile.memory`) when the estimate exceeds
    the free memory (`free`, or the device's)."""
    est = estimate(spec, batch_size, precision)
    free = available_bytes(device) if free is None else free
    # A smaller batch is the way out only where one image would fit.
    smaller = free is not None and est.param_bytes + est.activation_bytes // batch_size <= free
    need = MemoryNeed(spec.name, "training it", est.param_bytes, est.activation_bytes,
                      params="weights, gradients and momentum", activations="activations kept for backward",
                      at=f"at batch {batch_size}, {precision}", bound="about",
                      hint="lower --batch-size" if smaller else "too large for this device even at batch 1")
    check_fits_memory(need, free, where(device))
    return est
