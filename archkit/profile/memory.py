"""The memory check made before any model is built: the analytic bytes of a spec against the memory
the machine has, refused in one line with the numbers (no torch here; the CUDA side is
`archkit.builder.memory`).

`forward_need` is a floor, not an estimate: whatever runs a forward pass holds every parameter and,
at some moment, at least one op's input and output together (a dropout may return its input: the
input only). If even that exceeds the memory available, the run cannot succeed, and the check turns
the allocation traceback it would end in into a refusal before any tensor exists. The training
guard (`archkit.training.memory`) asks `train_need`: the predicted peak of one training step
(`archkit.profile.training`: the bytes saved for backward exactly, parameters, gradients, optimizer
state and an estimated workspace), through the same check.

It costs one profile of the spec and a read of /proc/meminfo: made where a model is about to be
built (`archkit.build`, a measurement, a training run), never on the search's profiling path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..spec.errors import SpecError
from ..spec.models import Spec
from ..spec.resolve import DropoutOp, resolved
from ..util.choices import ELEMENT_BYTES
from ..util.numbers import fmt_bytes
from .profiler import profile
from .training import TrainProfile, train_profile

PARAM_BYTES = 4


class DoesNotFitError(SpecError):
    """A valid spec too large for the memory this machine (or device) has: a spec that cannot be used
    here, so a SpecError, which the CLI prints as one line with exit status 2."""


@dataclass(frozen=True)
class MemoryNeed:
    """The bytes a task with a model needs on one device, and how to say them."""

    spec: str  # the spec's name
    task: str  # "building it", "training it", "running it on cuda:0"
    param_bytes: int
    activation_bytes: int
    params: str = "params"  # what `param_bytes` holds
    activations: str = "activations"  # what `activation_bytes` holds
    at: str = ""  # the batch and precision of the activations: "at batch 1, fp32"
    bound: str = "at least"  # "at least" for a floor, "about" for an estimate
    hint: str = ""  # what to change, appended after a colon

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.activation_bytes

    def message(self, available: int, where: str) -> str:
        return (f"{self.spec}: {self.task} needs {self.bound} {fmt_bytes(self.total_bytes)} ({self.params} "
                f"{fmt_bytes(self.param_bytes)} + {self.activations} {fmt_bytes(self.activation_bytes)}"
                f"{' ' + self.at if self.at else ''}) but "
                f"{where} has {fmt_bytes(available)} available" + (f": {self.hint}" if self.hint else ""))


def check_fits(need: MemoryNeed, available: int | None, where: str = "this machine") -> MemoryNeed:
    """The one memory check: `need` if it fits in `available` bytes (or the amount is unknown), else
    DoesNotFitError naming the bytes needed and available."""
    if available is not None and need.total_bytes > available:
        raise DoesNotFitError(need.message(available, where))
    return need


def peak_activations(spec: Spec) -> int:
    """Elements per image that a forward pass surely holds at once: the largest input + output of
    one op (main path and aux heads; a dropout's input only, as it may hand its input on)."""
    r = resolved(spec)
    peak = 0
    for layer in [*r.layers, *(layer for head in r.aux for layer in head.layers)]:
        for op in layer.ops:
            c, h, w = op.in_shape
            held = c * h * w
            if not isinstance(op, DropoutOp):
                c, h, w = op.out_shape
                held += c * h * w
            peak = max(peak, held)
    return peak


def forward_need(spec: Spec, batch: int = 1, precision: str = "fp32", task: str = "building it") -> MemoryNeed:
    """The floor of any forward pass of `spec` at `batch` images: every parameter (aux heads
    included) as fp32, and `peak_activations` at `precision`'s element size."""
    p = profile(spec, "full")
    return MemoryNeed(
        spec=spec.name, task=task,
        param_bytes=(p.total.params + p.aux_total.params) * PARAM_BYTES,
        activation_bytes=batch * peak_activations(spec) * ELEMENT_BYTES[precision],
        at=f"at batch {batch}, {precision}")


def train_need(spec: Spec, batch: int, precision: str = "fp32", *, optimizer: str = "sgd", momentum: float = 0.9,
               channels_last: bool = True, label_smoothing: float = 0.0, device: str = "cpu",
               memory: int | None = None, task: str = "training it") -> tuple[MemoryNeed, TrainProfile]:
    """What one training step of `spec` at `batch` images needs (the predicted peak of
    `archkit.profile.training`), and that training cost. With `memory` (the bytes available), a
    need beyond it hints at the largest batch that fits."""
    cost = train_profile(spec, batch, precision, optimizer=optimizer, momentum=momentum,
                         channels_last=channels_last, label_smoothing=label_smoothing, device=device)
    hint = ""
    if memory is not None and cost.peak_bytes > memory:
        largest = cost.largest_batch(memory)
        hint = (f"the largest batch that fits is {largest:,}: lower --batch-size" if largest >= 1
                else "too large for this device even at batch 1")
    state = "momentum" if optimizer == "sgd" else "Adam's moments"
    return MemoryNeed(spec=spec.name, task=task, param_bytes=cost.param_state_bytes,
                      activation_bytes=cost.saved_bytes + cost.workspace_bytes,
                      params=f"weights, gradients and {state}",
                      activations="activations saved for backward and in flight",
                      at=f"at batch {batch}, {precision}", bound="about", hint=hint), cost


def cpu_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (what Linux can give without swapping); elsewhere the free
    physical pages; None when neither is known (then nothing is refused)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_build(spec: Spec) -> MemoryNeed:
    """What `archkit.build` asks before making a module: the forward floor at batch 1, fp32, on this
    machine's memory (the model is built there, whichever device it moves to)."""
    return check_fits(forward_need(spec), cpu_available_bytes())


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """An amount of memory as people write it: 80GiB, 8G (= 8 GB, decimal), 512 MiB, 1.5e9. ValueError
    naming the text otherwise."""
    import re

    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if m is None or m.group(2) not in _UNITS or float(m.group(1)) * _UNITS[m.group(2)] < 1:
        raise ValueError(f"not an amount of memory: {text!r} (e.g. 80GiB, 8GB, 512MiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


