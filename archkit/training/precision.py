"""Numeric precision: which one `auto` means on a device, and the autocast context for it.

`auto` picks bf16 autocast where the hardware computes bf16 natively: CUDA GPUs that support it
(Ampere and later), and CPUs with AVX-512-BF16 or AMX. Elsewhere bf16 would be emulated and slower
than fp32, so `auto` is fp32 on other CPUs and fp16 (with loss scaling) on older GPUs. The weights,
gradients and optimizer state stay fp32 in every mode; autocast only lowers the matmuls and convs.
"""

from __future__ import annotations

import contextlib

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True when this CPU has AVX-512-BF16 or AMX tiles (as PyTorch's CPU feature detection sees it)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, name)() for name in checks if hasattr(torch.cpu, name))
    except RuntimeError:
        return False


def gpu_has_native_bf16(capability: tuple[int, int]) -> bool:
    """bf16 tensor cores: compute capability 8.0 and later (Ampere, Ada, Hopper, Blackwell)."""
    return capability[0] >= 8


def auto_precision(device_type: str, *, gpu_bf16: bool = False, cpu_bf16: bool = False) -> str:
    """What `auto` means on a device with these capabilities (a pure function: tested everywhere).

    GPUs: bf16 where they compute it natively, else fp16 (with loss scaling); CPUs: bf16 with
    AVX-512-BF16 or AMX, else fp32 (emulated bf16 is slower than fp32); anything else: fp32."""
    if device_type == "cuda":
        return "bf16" if gpu_bf16 else "fp16"
    if device_type == "cpu":
        return "bf16" if cpu_bf16 else "fp32"
    return "fp32"


def resolve_precision(requested: str, device: torch.device) -> str:
    """`auto` -> the precision to use on `device` (its capabilities asked of torch); any other value
    is returned as given."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return auto_precision("cuda", gpu_bf16=torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return auto_precision("cpu", cpu_bf16=cpu_has_native_bf16())
    return auto_precision(device.type)


def autocast(device: torch.device, precision: str):
    """The autocast context of a precision (a no-op context for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str):
    """A GradScaler for fp16 (whose range is too narrow for small gradients); None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
