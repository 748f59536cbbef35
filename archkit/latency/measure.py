"""`measure_layers(spec)`: each layer's forward latency and the whole forward pass's, measured on a
device (what `archkit profile --measure` shows).

The model is built from the spec (seeded weights), put in eval mode and run under
`torch.inference_mode()`; with bf16 every call runs inside `torch.autocast` (convs and matmuls in
bf16, the weights kept fp32), as training's precision does. One forward pass with a pre-hook on
each layer captures the layer's real input (shape, dtype, memory layout), then each layer is timed
alone on that input, then the whole model on the image batch, with `archkit.latency.timing`'s
loop (warm-up, blocks of calls, the median of repeats, the quartiles as the spread). The per-layer
times need not add up to the total: the total also holds the model's own forward loop, and a layer
timed alone finds its weights and input in cache more often than inside the model.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ..spec.models import Spec
from ..spec.resolve import resolved
from .errors import check_batch, check_precision
from .timing import REPEATS, WARMUP, Timing, check_device_precision, device_name, time_call, torch_device


@dataclass(frozen=True, slots=True)
class LayerLatencies:
    """Measured latency of a spec's inference path. `layers` maps each layer name (spec order) to
    its `Timing`; `total` is the whole forward pass (one batch of `batch` images). Milliseconds."""

    spec: str
    device: str  # "cpu" | "cuda" | "cuda:N"
    device_name: str  # the CPU's or GPU's model name
    batch: int
    precision: str
    threads: int  # torch's intra-op threads while measuring
    torch: str
    layers: dict[str, Timing]
    total: Timing

    def latency_ms(self, layer: str) -> float:
        """The median latency of one layer."""
        return self.layers[layer].median_ms

    @property
    def total_ms(self) -> float:
        return self.total.median_ms

    def to_dict(self) -> dict:
        return {"spec": self.spec, "device": self.device, "device_name": self.device_name, "batch": self.batch,
                "precision": self.precision, "threads": self.threads, "torch": self.torch,
                "layers": {name: t.to_dict() for name, t in self.layers.items()}, "total": self.total.to_dict()}


@contextlib.contextmanager
def threads_set(threads: int | None):
    """torch's intra-op thread count set to `threads` for the block (unchanged when None)."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        if threads is not None:
            torch.set_num_threads(before)


def precision_context(dev, precision: str):
    """The autocast context of `precision` on `dev` (nothing for fp32)."""
    from ..training.precision import autocast

    return autocast(dev, precision)


def checked(device: str, batch: int, precision: str):
    """Validate the options (LatencyError, one line, for a bad one) and return the torch.device."""
    check_precision(precision)
    check_batch(batch)
    dev = torch_device(device)
    check_device_precision(dev, precision)
    return dev


def measure_layers(spec: Spec, device: str = "cpu", batch: int = 1, precision: str = "fp32", *,
                   warmup: int = WARMUP, repeats: int = REPEATS, threads: int | None = None,
                   seed: int = 0) -> LayerLatencies:
    """Measure each layer's forward latency and the whole model's on `device` (see the module's
    docstring). `threads` sets torch's intra-op threads while measuring (default: as they are).

    Raises LatencyError (one line) for an unknown precision or device, a batch below 1, or
    `device="cuda"` on a machine without a GPU; SpecError for a spec that cannot be resolved, and
    its DoesNotFitError for one whose parameters and activations at `batch` exceed the device's
    free memory (before any tensor is made)."""
    import torch

    from ..builder import build
    from ..builder.memory import check_forward

    dev = checked(device, batch, precision)
    r = resolved(spec)
    check_forward(spec, dev, batch, precision)
    model = build(spec, seed=seed).eval().to(dev)
    with threads_set(threads) as n_threads, torch.inference_mode():
        x = torch.randn(batch, *r.input_shape, device=dev)
        inputs: dict = {}
        hooks = [model[name].register_forward_pre_hook(lambda _m, args, name=name: inputs.__setitem__(name, args[0]))
                 for name in model.layer_names]
        try:
            with precision_context(dev, precision):
                model(x)
        finally:
            for hook in hooks:
                hook.remove()
        layers = {}
        for name in model.layer_names:
            module, inp = model[name], inputs[name]
            with precision_context(dev, precision):
                layers[name] = time_call(lambda m=module, i=inp: m(i), dev, warmup=warmup, repeats=repeats)
        with precision_context(dev, precision):
            total = time_call(lambda: model(x), dev, warmup=warmup, repeats=repeats)
    return LayerLatencies(spec.name, str(device), device_name(dev), batch, precision, n_threads, torch.__version__,
                          layers, total)


def measure_model(spec: Spec, device: str = "cpu", batch: int = 1, precision: str = "fp32", *,
                  warmup: int = WARMUP, repeats: int = REPEATS, threads: int | None = None, seed: int = 0) -> Timing:
    """The whole forward pass's latency alone (no per-layer timing): `measure_layers(...).total`
    for a fraction of the time. Same options and errors as `measure_layers`."""
    import torch

    from ..builder import build
    from ..builder.memory import check_forward

    dev = checked(device, batch, precision)
    r = resolved(spec)
    check_forward(spec, dev, batch, precision)
    model = build(spec, seed=seed).eval().to(dev)
    with threads_set(threads), torch.inference_mode():
        x = torch.randn(batch, *r.input_shape, device=dev)
        with precision_context(dev, precision):
            return time_call(lambda: model(x), dev, warmup=warmup, repeats=repeats)
