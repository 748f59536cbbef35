"""The one error a latency measurement or prediction raises for what the user asked (a leaf module:
no torch). The CLI prints it as one line and exits with status 2."""

from __future__ import annotations

from ..errors import ArchkitError
from ..util.choices import DEVICES, ELEMENT_BYTES, TIMED_PRECISIONS, either

# Element sizes in bytes of the precisions timed: fp32 is the reference; bf16 is what autocast
# computes the convs and matmuls in. (fp16 is left out: on a CPU it is emulated.)
BYTES_PER_ELEMENT = {p: ELEMENT_BYTES[p] for p in TIMED_PRECISIONS}
PRECISIONS = TIMED_PRECISIONS


class LatencyError(ArchkitError):
    """A latency option that cannot be used: an unknown precision or device, a batch below 1, or a
    device this machine lacks. `str()` is one line."""


def check_precision(precision: str) -> str:
    """`precision` if it is one archkit measures (fp32, bf16); else LatencyError."""
    if precision not in BYTES_PER_ELEMENT:
        raise LatencyError(f"unknown precision {precision!r} (choose {either(PRECISIONS)})")
    return precision


def check_batch(batch: int) -> int:
    """`batch` if it is a whole number of at least 1; else LatencyError."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise LatencyError(f"--batch must be a whole number of at least 1, got {batch!r}")
    return batch


def check_device_name(device: str) -> str:
    """`device` if it names a device kind archkit measures (cpu, cuda, cuda:N); else LatencyError.
    (Whether the machine has it is `measure.torch_device`'s question: that one needs torch.)"""
    kind, _, index = str(device).partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise LatencyError(f"unknown device {device!r} (choose {either(DEVICES)})")
    return str(device)
