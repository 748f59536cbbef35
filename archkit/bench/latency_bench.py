"""`archkit bench latency`: does the lookup table predict a network's latency, and better than
multiply-adds alone rank it?

Networks: random feasible candidates of a search config's space (default the demo's, budget
filled as the search fills it: about 2M multiply-adds each, so they differ in depth and shape, not
in compute) plus built-ins of the Inception family. The built-ins run at reduced input sizes where
their full size would take most of the benchmark's time on a 2-core CPU (see BUILTINS): googlenet
and bn-inception keep 224 (their 7x7 average pool needs it), inception-v3, inception-v4,
inception-resnet-v2 and xception run at 160 (inception-v3 without its aux head, which is not on the
inference path and would not fit 160).

For each network: the prediction (`archkit.latency.predict`, the table measuring the signatures it
lacks on the spot: the time that took is reported), the estimate a search would get without
measuring anything (the table as the networks before this one left it: its per-kind fits, and the
roofline where it has too few entries of a kind), the measured whole forward pass
(`archkit.latency.measure.measure_model`: warm-up, then the median of repeats, quartiles as the
spread) and its multiply-adds. Scores: Kendall's tau-b (scipy's) of predicted against measured,
the mean absolute percentage error (MAPE), the share of predictions within +-10% of the measured
latency; the same tau for multiply-adds alone, for the bare roofline (no table) and for the
estimate without measuring;
each over all networks and over the candidates alone (whose spread of latencies is narrow, the
harder test). Targets of the issue on a 2-core CPU: tau >= 0.9, MAPE <= 15%, tau above
multiply-adds'.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ..util.stats import kendall_tau

DEFAULT_CONFIG = Path("studies/demo.yaml")
# (built-in, input size or None for its own): sizes chosen so the whole benchmark takes a few
# minutes on 2 cores (each below 3G multiply-adds); see the module's docstring.
BUILTINS: tuple[tuple[str, int | None], ...] = (
    ("googlenet-32", None),
    ("googlenet", None),
    ("bn-inception", None),
    ("inception-v3", 160),
    ("inception-v4", 160),
    ("inception-resnet-v2", 160),
    ("xception", 160),
)
QUICK = {"candidates": 4, "repeats": 3, "warmup": 1}
TARGETS = {"tau": 0.9, "mape": 0.15}


def builtin_at(name: str, size: int | None):
    """A built-in spec at input `size` (None: its own), without aux heads when resized."""
    from ..spec.loader import load_spec, spec_from_data

    spec = load_spec(name)
    if size is None or spec.input.hw == (size, size):
        return spec
    data = spec.to_dict()
    data["input"] = {"channels": spec.input.channels, "size": size}
    data.pop("aux", None)  # inference drops them; a resized aux head may not fit
    data["name"] = f"{name}@{size}"
    return spec_from_data(data, source=f"{name} at {size}x{size}")


def mape(predicted: list[float], measured: list[float]) -> float:
    """Mean absolute percentage error, as a fraction: mean(|p - m| / m)."""
    return statistics.fmean(abs(p - m) / m for p, m in zip(predicted, measured, strict=True))


def within(predicted: list[float], measured: list[float], tolerance: float = 0.10) -> float:
    """The share of predictions within +-tolerance of the measured value."""
    return sum(abs(p - m) <= tolerance * m for p, m in zip(predicted, measured, strict=True)) / len(measured)


def scores(rows: list[dict]) -> dict:
    """Kendall's tau-b against measured of: predicted (the table, measuring what it lacks),
    multiply-adds, the bare roofline, and the estimate without measuring; MAPEs; within 10%."""
    measured = [r["measured_ms"] for r in rows]
    predicted = [r["predicted_ms"] for r in rows]
    return {"n": len(rows),
            "tau": kendall_tau(predicted, measured),
            "mape": mape(predicted, measured) if rows else None,
            "within_10pct": within(predicted, measured) if rows else None,
            "tau_ops": kendall_tau([r["ops"] for r in rows], measured),
            "tau_roofline": kendall_tau([r["roofline_ms"] for r in rows], measured),
            "mape_roofline": mape([r["roofline_ms"] for r in rows], measured) if rows else None,
            "tau_estimated": kendall_tau([r["estimated_ms"] for r in rows], measured),
            "mape_estimated": mape([r["estimated_ms"] for r in rows], measured) if rows else None}


def _roofline_total(r, constants, precision: str, batch: int) -> float:
    """The bare roofline's prediction: every unit estimated, plus the same measured overheads."""
    from ..latency.model import spec_units

    total = constants.model_ms + len(r.layers) * constants.layer_ms
    for _, lu in spec_units(r, precision):
        total += lu.containers * constants.container_ms
        total += sum(constants.roofline_ms(op, precision, batch) for op, _ in lu.units)
    return total


def run(candidates: int = 30, config: str | Path = DEFAULT_CONFIG, device: str = "cpu", batch: int = 1,
        precision: str = "fp32", builtins: tuple[tuple[str, int | None], ...] | None = None, seed: int = 0, *,
        threads: int | None = None, repeats: int = 15, warmup: int = 3, quick: bool = False,
        cache_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark (see the module's docstring). `builtins`: (name, input size or None) pairs,
    default BUILTINS. `quick`: at most 4 candidates, no built-ins unless given, 3 repeats and a
    lighter table timing (a smoke test: its numbers mean little). `threads`: torch's intra-op threads
    for every measurement (default: as they are, which OMP_NUM_THREADS sets). `cache_dir`: where the
    lookup table lives (default the user's cache folder)."""
    import torch

    from .. import __version__
    from ..latency.measure import measure_model
    from ..latency.model import get_table, predict_resolved
    from ..profile.profiler import profile_resolved
    from ..search.config import load_search_config
    from ..search.space import describe
    from ..spec.loader import resolved
    from .machine import cpu_name
    from .proxy_bench import BenchError, sample_candidates

    started = time.perf_counter()
    if quick:
        candidates = min(candidates, QUICK["candidates"])
        repeats, warmup = QUICK["repeats"], QUICK["warmup"]
    if builtins is None:
        builtins = () if quick else BUILTINS
    if candidates < 0:
        raise BenchError(f"--candidates must be at least 0, got {candidates}")
    if threads is not None:
        torch.set_num_threads(threads)
    n_threads = torch.get_num_threads()
    table = get_table(device, precision, threads=n_threads, cache_dir=cache_dir)
    if quick:
        table.warmup, table.repeats, table.block_s = 1, 3, 0.0005
    table_status, table_entries = table.status, len(table.entries)
    loaded = load_search_config(config, {"seed": seed})
    networks: list[tuple[str, str, object]] = []  # (kind, label, spec)
    if candidates:
        drawn, _counts = sample_candidates(loaded, candidates)
        networks += [("candidate", f"cand{i}: {describe(c['spec'])}", c["spec"]) for i, c in enumerate(drawn)]
    for name, size in builtins:
        spec = builtin_at(name, size)
        networks.append(("builtin", spec.name, spec))
    if len(networks) < 2:
        raise BenchError("the benchmark needs at least 2 networks (Kendall's tau ranks pairs)")
    constants = table.device_constants()
    rows = []
    for i, (kind, label, spec) in enumerate(networks):
        r = resolved(spec)
        seconds_before = table.measure_seconds
        # First what a search would get without measuring: the table so far (built from the networks
        # before this one), its per-kind fits and the roofline for what it lacks.
        estimate = predict_resolved(r, table, batch, measure_missing=False, save=False)
        t0 = time.perf_counter()
        pred = predict_resolved(r, table, batch, measure_missing=True)
        predict_s = time.perf_counter() - t0
        timing = measure_model(spec, device, batch, precision, warmup=warmup, repeats=repeats)
        ops = profile_resolved(r, "paper").total.ops * batch
        rows.append({"kind": kind, "name": label, "ops": ops, "predicted_ms": pred.total_ms,
                     "measured_ms": timing.median_ms, "measured_q1_ms": timing.q1_ms, "measured_q3_ms": timing.q3_ms,
                     "measured_calls": timing.calls, "error": pred.total_ms / timing.median_ms - 1,
                     "roofline_ms": _roofline_total(r, constants, precision, batch),
                     "estimated_ms": estimate.total_ms, "estimated_covered_share": estimate.covered_share,
                     "units": pred.units, "measured_units": pred.measured_now, "overhead_ms": pred.overhead_ms,
                     "table_seconds": table.measure_seconds - seconds_before, "predict_seconds": predict_s})
        if log is not None:
            log(f"{i + 1}/{len(networks)} {label}: predicted {pred.total_ms:.3f} ms, "
                f"measured {timing.median_ms:.3f} ms ({rows[-1]['error']:+.1%}), {pred.measured_now} new table entries")
    table.save()
    groups = {"all": rows, "candidates": [r for r in rows if r["kind"] == "candidate"],
              "builtins": [r for r in rows if r["kind"] == "builtin"]}
    return {
        "benchmark": "latency",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_name(),
        "device": device,
        "device_name": table.key["device_name"],
        "threads": n_threads,
        "torch": torch.__version__,
        "archkit": __version__,
        "python": platform.python_version(),
        "settings": {"config": str(config), "candidates": candidates, "builtins": [list(b) for b in builtins],
                     "batch": batch, "precision": precision, "seed": seed, "repeats": repeats, "warmup": warmup,
                     "quick": quick, "table_repeats": table.repeats, "table_warmup": table.warmup},
        "table": {"path": str(table.path), "status_at_start": table_status, "entries_at_start": table_entries,
                  "entries": len(table.entries), "build_seconds": table.measure_seconds,
                  "saved": table.save_error is None, "save_error": table.save_error},
        "constants": {k: getattr(constants, k) for k in type(constants).__slots__},
        "scores": {k: scores(v) if len(v) >= 2 else None for k, v in groups.items()},
        "targets": TARGETS,
        "rows": rows,
        "bench_seconds": time.perf_counter() - started,
    }


def _num(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def print_results(r: dict) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    s = r["settings"]
    table = Table(title=f"archkit bench latency — {r['device_name']} ({r['device']}, {r['threads']} threads), "
                        f"batch {s['batch']}, {s['precision']}; {r['date']}, torch {r['torch']}",
                  title_justify="left")
    for col in ("network", "M mult-adds", "predicted ms", "measured ms [IQR]", "error"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for row in r["rows"]:
        table.add_row(row["name"][:70], f"{row['ops'] / 1e6:,.1f}", f"{row['predicted_ms']:.3f}",
                      f"{row['measured_ms']:.3f} [{row['measured_q1_ms']:.3f}, {row['measured_q3_ms']:.3f}]",
                      f"{row['error']:+.1%}")
    console.print(table)
    summary = Table(title="predicted vs measured whole-model latency", title_justify="left")
    for col in ("networks", "n", "tau", "MAPE", "within ±10%", "tau mult-adds", "tau roofline", "MAPE roofline",
                "tau unmeasured", "MAPE unmeasured"):
        summary.add_column(col, justify="left" if col == "networks" else "right")
    for key, sc in r["scores"].items():
        if sc is None:
            continue
        summary.add_row(key, str(sc["n"]), _num(sc["tau"], "+.3f"), _num(sc["mape"], ".1%"),
                        _num(sc["within_10pct"], ".0%"), _num(sc["tau_ops"], "+.3f"), _num(sc["tau_roofline"], "+.3f"),
                        _num(sc["mape_roofline"], ".1%"), _num(sc["tau_estimated"], "+.3f"),
                        _num(sc["mape_estimated"], ".1%"))
    console.print(summary)
    console.print("tau/MAPE: the table, measuring the signatures it lacks; roofline: every op by the roofline alone; "
                  "unmeasured: the table as it stood before the network (its per-kind fits and the roofline for "
                  "what it lacked), as a search predicting without measuring would")
    t = r["table"]
    console.print(f"lookup table: {t['entries']} entries ({t['entries_at_start']} at start, {t['status_at_start']}); "
                  f"measuring took {t['build_seconds']:.1f} s; {t['path']}")
    c = r["constants"]
    console.print(f"device constants: peak {c['peak_flops'] / 1e9:.1f} GFLOP/s, "
                  f"bandwidth {c['bandwidth'] / 1e9:.1f} GB/s, "
                  f"launch {c['launch_ms'] * 1e3:.1f} us, container call {c['container_ms'] * 1e3:.2f} us, "
                  f"model {c['model_ms'] * 1e3:.2f} us + {c['layer_ms'] * 1e3:.2f} us/layer")
    target = r["targets"]
    sc = r["scores"]["all"]
    if sc is not None and sc["tau"] is not None:
        met = (sc["tau"] >= target["tau"] and sc["mape"] <= target["mape"]
               and (sc["tau_ops"] is None or sc["tau"] > sc["tau_ops"]))
        console.print(f"targets (tau >= {target['tau']}, MAPE <= {target['mape']:.0%}, tau above mult-adds'): "
                      f"{'met' if met else 'not met'}")
    if s["quick"]:
        console.print("--quick: few candidates and repeats; the numbers are a smoke test only")
    console.print(f"bench took {r['bench_seconds']:.0f} s")
