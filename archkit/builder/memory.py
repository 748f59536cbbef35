"""The memory check on a torch device: `archkit.profile.memory`'s check with the free memory of the
device a model will run on (CUDA's `mem_get_info`, the machine's for the CPU)."""

from __future__ import annotations

import torch

from ..profile.memory import MemoryNeed, check_fits, cpu_available_bytes, forward_need
from ..spec.models import Spec


def available_bytes(device: torch.device) -> int | None:
    """Free memory of a torch device (None when unknown, e.g. MPS: then nothing is refused)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        return cpu_available_bytes()
    return None


def where(device: torch.device) -> str:
    return "this machine" if device.type == "cpu" else str(device)


def check_forward(spec: Spec, device: torch.device, batch: int = 1, precision: str = "fp32") -> MemoryNeed:
    """Before a model of `spec` runs forward passes of `batch` images on `device`: DoesNotFitError,
    one line with the bytes, when even the floor of one pass exceeds the device's free memory."""
    task = "building it" if device.type == "cpu" else f"running it on {device}"
    return check_fits(forward_need(spec, batch, precision, task), available_bytes(device), where(device))
