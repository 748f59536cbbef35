"""The device's own constants, measured once per device, thread count and precision on
purpose-built probes and kept in the latency table's file: its roofline (peak FLOP/s from a large
matmul, bandwidth from a large copy, the launch overhead from a one-element op), which estimates a
unit the table lacks as max(2 x multiply-adds / peak, bytes / bandwidth) + kernels x launch; and the
fixed costs around the units (a container around an identity against the identity alone; a
one-layer and an eight-layer model against their layers alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import Spec
from .errors import BYTES_PER_ELEMENT
from .units import Unit, kernels, unit_bytes, unit_ops


@dataclass(frozen=True, slots=True)
class DeviceConstants:
    """Measured once per device (and thread count and precision), kept in the table's file.

    peak_flops: FLOP/s of a large matmul; bandwidth: bytes/s of a large copy (read + write);
    launch_ms: one module call running one kernel on one element; container_ms: one container module
    call (a Chain around an identity, minus the identity alone); model_ms and layer_ms: the model's
    forward pass around its layers, a constant and a per-layer step."""

    peak_flops: float
    bandwidth: float
    launch_ms: float
    container_ms: float
    model_ms: float
    layer_ms: float

    def roofline_ms(self, op: Unit, precision: str, batch: int) -> float:
        """max(compute time, memory time) + launch overhead per kernel, in milliseconds."""
        compute = 2 * unit_ops(op, batch) / self.peak_flops
        memory = unit_bytes(op, precision, batch) / self.bandwidth
        return max(compute, memory) * 1e3 + kernels(op) * self.launch_ms


def _probe_spec(layers: list[dict]) -> Spec:
    from ..spec.loader import spec_from_data

    return spec_from_data({"name": "latency-probe", "input": {"channels": 4, "size": 1}, "classes": 4,
                           "layers": layers})


def _peak_flops(dev, timed) -> float:
    """FLOP/s of a matmul large enough to saturate the device (under autocast for bf16)."""
    import torch

    n = 4096 if dev.type == "cuda" else 768
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    return 2 * n**3 / (timed(lambda: a @ b, 7) / 1e3)


def _bandwidth(dev, precision: str, timed) -> float:
    """Bytes/s of a copy far larger than a CPU's last-level cache (counting the read and the write)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    elements = (256 if dev.type == "cuda" else 64) * 2**20 // BYTES_PER_ELEMENT[precision]
    src, dst = torch.ones(elements, device=dev, dtype=dtype), torch.empty(elements, device=dev, dtype=dtype)
    return 2 * src.numel() * src.element_size() / (timed(lambda: dst.copy_(src), 7) / 1e3)


def measure_constants(dev, precision: str) -> DeviceConstants:
    import torch
    from torch import nn

    from ..builder import build
    from ..builder.blocks import Chain
    from .measure import precision_context
    from .timing import time_call

    def timed(fn, repeats: int = 15) -> float:
        return time_call(fn, dev, warmup=3, repeats=repeats).median_ms

    with torch.inference_mode(), precision_context(dev, precision):
        peak = _peak_flops(dev, timed)
        bandwidth = _bandwidth(dev, precision, timed)
        # Fixed costs: one kernel on one element; a container call around an identity.
        one = torch.ones(1, device=dev)
        relu, identity, chain = nn.ReLU(), nn.Identity(), Chain({"0": nn.Identity()})
        launch = timed(lambda: relu(one))
        container = max(0.0, timed(lambda: chain(one)) - timed(lambda: identity(one)))
        # The model's forward around its layers: a one-layer and an eight-layer probe.
        x = torch.randn(1, 4, 1, 1, device=dev)
        small = build(_probe_spec([{"name": "fc", "linear": {}}])).eval().to(dev)
        big = build(_probe_spec([{"name": f"d{i}", "dropout": {"p": 0.5}} for i in range(7)]
                                + [{"name": "fc", "linear": {}}])).eval().to(dev)
        fc, drop = small["fc"], big["d0"]
        t_fc, t_drop = timed(lambda: fc(x)), timed(lambda: drop(x))
        over_small = timed(lambda: small(x)) - t_fc
        over_big = timed(lambda: big(x)) - t_fc - 7 * t_drop
        layer = max(0.0, (over_big - over_small) / 7)
        model = max(0.0, over_small - layer)
    return DeviceConstants(peak, bandwidth, launch, container, model, layer)
