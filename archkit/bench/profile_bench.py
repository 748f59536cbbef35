"""`archkit bench profile`: archkit's analytic profile against fvcore's FlopCountAnalysis, one run.

Measured, on the same machine in the same process:
- analytic: resolve + profile of `googlenet` from a validated spec (no cache), median per call;
- fvcore: a fresh `FlopCountAnalysis(model, x).by_module()` on the built googlenet (each call
  traces the model again: what a user pays per count), median per call; the counts must be equal;
- candidates/s: validate (pydantic) + resolve + profile of `googlenet-32` from plain data, as the
  search does for every sampled candidate, on one core;
- the whole `archkit profile googlenet` command as a fresh process, median wall time;
- per member of the Inception family (the built-ins at their own input sizes): analytic vs fvcore,
  each a median per call, and whether the counts agree.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit

from .machine import cpu_name


def _median_time(fn, repeats: int) -> float:
    """The median seconds of `repeats` single calls of `fn` (timeit's loop with the garbage collector
    left on, as a user's call runs: a trace's collections are part of what fvcore costs)."""
    return statistics.median(timeit.Timer(fn, setup="gc.enable()", globals={"gc": gc}).repeat(repeats, 1))


# The family rows: every built-in of the lineage, at its own input size.
FAMILY = ("googlenet", "bn-inception", "inception-v3", "inception-v4", "inception-resnet-v2", "xception")


def family_rows(names: tuple[str, ...] = FAMILY, repeats: int = 3) -> list[dict]:
    """Analytic profile (resolve + count) vs fvcore's trace + count on the built model, per spec."""
    import torch

    from .. import build, load_spec
    from ..builder.verify import _flops_by_module
    from ..profile.profiler import profile_resolved
    from ..spec.resolve import resolve

    rows = []
    for name in names:
        spec = load_spec(name)
        analytic = profile_resolved(resolve(spec), "paper")
        t_analytic = _median_time(lambda spec=spec: profile_resolved(resolve(spec), "paper"), max(repeats * 30, 50))
        model = build(spec, seed=0).eval()
        x = torch.randn(1, spec.input.channels, *spec.input.hw)
        counts: dict = {}
        with torch.no_grad():
            t_fvcore = _median_time(lambda m=model, x=x, c=counts: c.update(_flops_by_module(m, x)), repeats)
        rows.append({"spec": name, "input": list(analytic.input), "ops": analytic.total.ops,
                     "params": analytic.total.params, "analytic_ms": t_analytic * 1e3,
                     "fvcore_ms": t_fvcore * 1e3, "speedup": t_fvcore / t_analytic,
                     "counts_equal": counts[""] == analytic.total.ops})
    return rows


def run(repeats: int = 20, family: tuple[str, ...] = FAMILY, family_repeats: int = 3) -> dict:
    import torch

    from .. import build, load_spec, profile
    from ..builder.verify import _flops_by_module
    from ..profile.profiler import profile_resolved
    from ..spec import spec_from_data
    from ..spec.resolve import resolve

    torch.set_num_threads(1)  # fvcore's trace and our arithmetic both on one core: a fair ratio
    spec = load_spec("googlenet")

    def analytic():
        return profile_resolved(resolve(spec), "paper")

    analytic()
    t_analytic = _median_time(analytic, max(repeats * 50, 200))
    analytic_ops = analytic().total.ops

    model = build(spec, seed=0).eval()
    x = torch.randn(1, 3, 224, 224)
    fv_counts: dict = {}

    def fvcore_count():
        fv_counts.update(_flops_by_module(model, x))

    with torch.no_grad():
        t_fvcore = _median_time(fvcore_count, repeats)
    fvcore_ops = fv_counts[""]

    candidates = _variants(load_spec("googlenet-32").to_dict(), max(repeats * 25, 500))

    def validate_and_profile():
        for data in candidates:
            profile(spec_from_data(data), "paper")  # spec_from_data validates and resolves once

    validate_and_profile()  # warm-up (pydantic builds its validators on first use)
    start = time.perf_counter()
    validate_and_profile()
    candidates_per_s = len(candidates) / (time.perf_counter() - start)

    validated = [spec_from_data(data) for data in candidates]
    start = time.perf_counter()
    for candidate in validated:
        profile_resolved(resolve(candidate), "paper")
    resolved_per_s = len(validated) / (time.perf_counter() - start)

    cmd = [sys.executable, "-m", "archkit", "profile", "googlenet"]
    env = dict(os.environ, COLUMNS="200")
    subprocess.run(cmd, capture_output=True, check=True, env=env)  # warm the file cache
    process_s = _median_time(lambda: subprocess.run(cmd, capture_output=True, check=True, env=env),
                             max(3, min(repeats, 7)))
    return {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "analytic_ms": t_analytic * 1e3,
        "fvcore_ms": t_fvcore * 1e3,
        "speedup": t_fvcore / t_analytic,
        "analytic_ops": analytic_ops,
        "fvcore_ops": fvcore_ops,
        "counts_equal": analytic_ops == fvcore_ops,
        "candidates_per_s": candidates_per_s,
        "resolve_profile_per_s": resolved_per_s,
        "process_s": process_s,
        "family": family_rows(family, family_repeats),
    }


def _variants(base: dict, n: int) -> list[dict]:
    """`n` distinct googlenet-32 candidates: every inception width scaled by a random factor, as a
    width search samples them (so no two candidates are the same spec)."""
    import copy
    import random

    rng = random.Random(0)
    out = []
    for _ in range(n):
        data = copy.deepcopy(base)
        for layer in data["layers"]:
            if "inception" in layer:
                scale = rng.uniform(0.25, 2.0)
                layer["inception"] = {k: max(1, round(v * scale)) for k, v in layer["inception"].items()}
        out.append(data)
    return out


def print_results(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"archkit bench profile — {r['machine']}, Python {r['python']}, torch {r['torch']}, "
                        f"{r['date']}", title_justify="left")
    for col in ("measure", "value", "target"):
        table.add_column(col)
    table.add_row("analytic profile, googlenet (resolve + count)", f"{r['analytic_ms']:.3f} ms", "")
    table.add_row("fvcore FlopCountAnalysis, googlenet (trace + count)", f"{r['fvcore_ms']:.1f} ms", "")
    table.add_row("speed-up", f"{r['speedup']:,.0f}x", ">= 1000x")
    table.add_row("multiply-adds: analytic / fvcore", f"{r['analytic_ops']:,} / {r['fvcore_ops']:,}",
                  "identical" + (" (yes)" if r["counts_equal"] else " (NO)"))
    table.add_row("candidates/s, googlenet-32 variants (pydantic validate + resolve + profile, 1 core)",
                  f"{r['candidates_per_s']:,.0f}", ">= 5,000")
    table.add_row("candidates/s, same, already validated (resolve with shape checks + profile)",
                  f"{r['resolve_profile_per_s']:,.0f}", "")
    table.add_row("`archkit profile googlenet`, whole process", f"{r['process_s']:.2f} s", "< 0.3 s")
    Console().print(table)
    if r.get("family"):
        fam = Table(title="the Inception family: analytic profile vs fvcore (1 core, median per call)",
                    title_justify="left")
        for col in ("spec", "input", "multiply-adds", "params (paper)", "analytic", "fvcore", "speed-up",
                    "counts equal"):
            fam.add_column(col, justify="left" if col == "spec" else "right")
        for f in r["family"]:
            c, h, w = f["input"]
            fam.add_row(f["spec"], f"{h}x{w}x{c}", f"{f['ops']:,}", f"{f['params']:,}", f"{f['analytic_ms']:.2f} ms",
                        f"{f['fvcore_ms']:,.0f} ms", f"{f['speedup']:,.0f}x", "yes" if f["counts_equal"] else "NO")
        Console().print(fam)
