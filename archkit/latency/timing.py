"""How archkit times a piece of work on a device: the one timing loop behind the measured profile,
the lookup table and the benchmark, so that their numbers are comparable.

A call is run `warmup` times first (allocator, caches, lazy kernel selection, autocast's weight
cast), then `repeats` times a block of `calls` back-to-back calls, where `calls` is chosen (as
timeit's autorange does) so that a block lasts about `block_s`: a single call of a small op takes
microseconds, close to the clock's and the loop's own cost. Each repeat gives the mean time per call
of its block; the result is the median of the repeats (robust to a repeat that another process
preempted) with the quartiles and the extremes as the spread.

The blocks are the standard library's `timeit.Timer.repeat` (the garbage collector paused while
timing: a collection is not the network's cost) read with `torch.utils.benchmark`'s clock on CUDA,
which synchronizes the device before each reading, so the time is the kernels' and not only their
launch. `torch.utils.benchmark.Timer.blocked_autorange` is not used although it reports the same
statistic (the median and IQR of block means): it sizes blocks in powers of ten until the clock's
cost is below 1e-4 of a block (about 10 ms of calls here) and runs as many blocks as `min_run_time`
holds, so at the profile's 30 ms per layer it gave one block of 10,000 ReLU calls (IQR 0, 0.3 s);
the profile reports the median and quartiles of a fixed number of repeats, and the lookup table
keeps the fastest block over rounds timed with the same block size (see `time_samples`). Its
`Timer.timeit` would re-run a warm-up before every block, tripling the cost of one-call blocks.
"""

from __future__ import annotations

import math
import statistics
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .errors import LatencyError, check_device_name

WARMUP = 3
REPEATS = 15
BLOCK_S = 0.002  # a repeat lasts about this long: the clock and loop costs vanish against it
MAX_CALLS = 2000


@dataclass(frozen=True, slots=True)
class Timing:
    """Time per call in milliseconds: the median of `repeats` repeats (each the mean of a block of
    `calls` calls), its quartiles `q1_ms`/`q3_ms` (the spread reported: the interquartile range
    `iqr_ms`) and the fastest and slowest repeat."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    calls: int

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    @classmethod
    def of(cls, seconds: list[float], calls: int) -> Timing:
        ms = sorted(s * 1e3 for s in seconds)
        if len(ms) >= 2:
            q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        else:
            q1 = q3 = ms[0]
        return cls(statistics.median(ms), q1, q3, ms[0], ms[-1], len(ms), calls)

    def to_dict(self) -> dict:
        return {**asdict(self), "iqr_ms": self.iqr_ms}


def torch_device(device: str):
    """The torch.device for a `--device` value; LatencyError when it is unknown or absent here."""
    import torch

    check_device_name(device)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise LatencyError("no CUDA device: --device cuda needs a GPU (torch.cuda.is_available() is False)")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LatencyError(f"no CUDA device {dev.index}: this machine has {torch.cuda.device_count()}")
        return dev
    return torch.device("cpu")


def check_device_precision(dev, precision: str) -> None:
    """bf16 on a GPU that lacks it (before Ampere) would be emulated or refused: say so."""
    import torch

    if dev.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise LatencyError(f"--precision bf16: {torch.cuda.get_device_name(dev)} does not compute bf16")


def device_name(dev) -> str:
    """The device's model name: the CPU's (from /proc/cpuinfo) or the GPU's."""
    if dev.type == "cuda":
        import torch

        return torch.cuda.get_device_name(dev)
    from ..util.machine import cpu_name

    return cpu_name()


def clock(dev) -> Callable[[], float]:
    """The clock a block is read with: on CUDA `torch.utils.benchmark`'s, which synchronizes the
    device first (call it with `dev` current); on the CPU the plain one (a GPU present but unused
    is not synchronized)."""
    if dev.type == "cuda":
        from torch.utils.benchmark import timer

        return timer
    return timeit.default_timer


def time_call(fn: Callable[[], object], dev, *, warmup: int = WARMUP, repeats: int = REPEATS,
              block_s: float = BLOCK_S, max_calls: int = MAX_CALLS) -> Timing:
    """Time `fn()` on device `dev` (see the module's docstring): the median of `repeats` blocks."""
    samples, calls = time_samples(fn, dev, warmup=warmup, repeats=repeats, block_s=block_s, max_calls=max_calls)
    return Timing.of(samples, calls)


def time_samples(fn: Callable[[], object], dev, *, warmup: int = WARMUP, repeats: int = REPEATS,
                 block_s: float = BLOCK_S, max_calls: int = MAX_CALLS,
                 calls: int | None = None) -> tuple[list[float], int]:
    """`time_call`'s raw material: the seconds per call of each of `repeats` blocks, and the calls
    per block (`calls` when given, else sized to last `block_s`). For timings spread in rounds: the
    lookup table and `archkit bench latency` keep the fastest block over all rounds (timeit's advice:
    slower blocks are other processes' doing, and on a shared machine they come in phases of
    seconds), which needs blocks of the same size in every round, hence `calls`."""
    if repeats < 1:
        raise LatencyError(f"repeats must be at least 1, got {repeats}")
    import contextlib

    import torch

    timer = timeit.Timer(fn, timer=clock(dev))  # timeit pauses the garbage collector while it times
    with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():
        if warmup > 0:
            timer.timeit(warmup)
        if calls is None:
            one = timer.timeit(1)
            calls = max(1, min(max_calls, math.ceil(block_s / max(one, 1e-7))))
        samples = [block / calls for block in timer.repeat(repeat=repeats, number=calls)]
    return samples, calls
