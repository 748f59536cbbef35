"""`archkit bench train`: training throughput of archkit's engine against plain PyTorch, in one run.

For each case (googlenet-32 at 32x32, googlenet at 224x224) three loops train on the same batch size:
- archkit: the engine as `archkit train` runs it (its precision `auto`, channels_last, its SGD
  step and on-device batch pipeline with crops and flips, torch.compile on a GPU);
- plain: the same archkit model in a textbook fp32 eager loop (contiguous tensors, no autocast,
  SGD with momentum, one fixed batch: no data work at all);
- torchvision: `torchvision.models.googlenet(weights=None, aux_logits=False)` in the same plain loop.
The loops take turns step by step, so a burst of load on the machine slows each of them alike;
img/s is computed from the median step time (and from the best one, the least disturbed).
"""

from __future__ import annotations

import platform
import statistics
import time
from datetime import datetime, timezone

from .machine import cpu_name

CASES = {"googlenet-32": "googlenet-32", "googlenet": "googlenet"}


class PlainLoop:
    """The textbook loop: fp32, contiguous, no autocast; aux heads (if any) add their weighted loss."""

    def __init__(self, model, batch: int, hw, classes: int, device):
        import torch

        self.torch = torch
        g = torch.Generator().manual_seed(0)
        self.model = model.to(device).train()
        self.x = torch.randn(batch, 3, *hw, generator=g).to(device)
        self.y = torch.randint(0, classes, (batch,), generator=g).to(device)
        self.aux_weights = list(getattr(model, "aux_weights", []))
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step(self) -> None:
        F = self.torch.nn.functional
        out = self.model(self.x)
        if isinstance(out, tuple):
            loss = F.cross_entropy(out[0], self.y)
            for w, aux in zip(self.aux_weights, out[1], strict=True):
                loss = loss + w * F.cross_entropy(aux, self.y)
        else:
            loss = F.cross_entropy(out, self.y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


class EngineLoop:
    """archkit's engine on synthetic data of the spec's shape, batches made on the device."""

    def __init__(self, spec, batch: int, device, compile: bool):
        import torch

        from ..builder import build
        from ..training.batches import make_batches
        from ..training.config import TrainConfig
        from ..training.data import load_data, parse_data
        from ..training.engine import Engine
        from ..training.precision import resolve_precision

        config = TrainConfig(data="synthetic", batch_size=batch, compile=compile, warmup_epochs=0.0, lr=0.01)
        self.precision = resolve_precision(config.precision, device)
        data = load_data(parse_data("synthetic"), channels=spec.input.channels, hw=spec.input.hw,
                         classes=spec.classes, val_fraction=config.val_fraction, batch_size=batch)
        model = build(spec, seed=0).to(device).to(memory_format=torch.channels_last)
        batches = make_batches(data, workers=0, batch_size=batch, hw=spec.input.hw, device=device,
                               channels_last=True, seed=0)
        self.engine = Engine(model, batches, config, device=device, precision=self.precision,
                             total_steps=10**9)
        self.engine.model.train()
        self._epoch = 0
        self._it = iter(())

    def step(self) -> None:
        batch = next(self._it, None)
        if batch is None:
            self._epoch += 1
            self._it = iter(self.engine.batches.epoch(self._epoch))
            batch = next(self._it)
        self.engine.train_step(*batch)


def _device(requested: str):
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def machine(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cpu": cpu_name(), "cores": _cores(), "threads": torch.get_num_threads(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "load_average": _load()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _load() -> float | None:
    """The 1-minute load average: other work on the machine slows every loop (and widens the spread)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(names: list[str], *, steps: int = 6, warmup: int = 2, batch_32: int = 128, batch_224: int | None = None,
        device: str = "auto", compile: bool | None = None) -> dict:
    """Measure each case; returns plain data (machine, and per case the loops' step times and img/s)."""
    import torchvision

    from ..builder import build
    from ..spec import load_spec

    dev = _device(device)
    compile = dev.type == "cuda" if compile is None else compile
    results = {"machine": machine(dev), "steps": steps, "warmup": warmup, "cases": []}
    for name in names:
        spec = load_spec(CASES[name])
        hw = spec.input.hw
        batch = batch_32 if hw == (32, 32) else (batch_224 or (128 if dev.type == "cuda" else 16))
        tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True,
                                          num_classes=spec.classes)
        engine = EngineLoop(spec, batch, dev, compile)
        loops = {
            "archkit": engine,
            "plain": PlainLoop(build(spec, seed=0), batch, hw, spec.classes, dev),
            "torchvision": PlainLoop(tv, batch, hw, spec.classes, dev),
        }
        times: dict[str, list[float]] = {k: [] for k in loops}
        for loop in loops.values():
            for _ in range(warmup):
                loop.step()
        _sync(dev)
        for _ in range(steps):
            for key, loop in loops.items():
                t0 = time.perf_counter()
                loop.step()
                _sync(dev)
                times[key].append(time.perf_counter() - t0)
        plain = statistics.median(times["plain"])
        case = {"spec": name, "input": list(hw), "batch": batch, "loops": {}}
        for key, ts in times.items():
            med = statistics.median(ts)
            case["loops"][key] = {
                "precision": engine.precision if key == "archkit" else "fp32",
                "channels_last": key == "archkit", "compile": compile and key == "archkit",
                "step_seconds": ts, "images_per_s": batch / med, "best_images_per_s": batch / min(ts),
                "speedup_vs_plain": plain / med,
            }
        results["cases"].append(case)
        del loops, engine
    results["machine"]["load_average_after"] = _load()
    return results


def _sync(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def loop_label(key: str, loop: dict) -> str:
    """'archkit bf16 cl compile', 'plain fp32', 'torchvision fp32'."""
    words = [key, loop["precision"]]
    words += ["cl"] if loop["channels_last"] else []
    words += ["compile"] if loop["compile"] else []
    return " ".join(words)


def print_results(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = results["machine"]
    where = m.get("gpu") or f"{m['cpu']}, {m['threads']} threads"
    table = Table(title=f"training img/s: {where}, torch {m['torch']}, {m['date']}",
                  caption=f"median (and best) of {results['steps']} steps per loop, the loops interleaved; "
                          f"cl = channels_last; load average {m.get('load_average')} before, "
                          f"{m.get('load_average_after')} after on {m['cores']} cores")
    for col in ("model", "input", "batch", "loop", "img/s", "best", "vs plain"):
        table.add_column(col, justify="left" if col in ("model", "input", "loop") else "right")
    for case in results["cases"]:
        for key, loop in case["loops"].items():
            table.add_row(case["spec"] if key == "archkit" else "", "x".join(map(str, case["input"])),
                          str(case["batch"]), loop_label(key, loop), f"{loop['images_per_s']:.1f}",
                          f"{loop['best_images_per_s']:.1f}", f"{loop['speedup_vs_plain']:.2f}x")
    Console().print(table)
