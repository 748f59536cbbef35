"""`archkit bench latency`: does the lookup table predict a network's latency, and better than
multiply-adds alone rank it?

Networks: random feasible candidates of a search config's space (default the demo's, budget
filled as the search fills it: about 2M multiply-adds each, so they differ in depth and shape, not
in compute) plus built-ins of the Inception family. The built-ins run at reduced input sizes where
their full size would take most of the benchmark's time on a 2-core CPU (see BUILTINS): googlenet
and bn-inception keep 224 (their 7x7 average pool needs it), inception-v3, inception-v4,
inception-resnet-v2 and xception run at 160 (inception-v3 without its aux head, which is not on the
inference path and would not fit 160).

First the table's device constants and calibration (on its own probe networks, never these; see
`archkit.latency.calibrate`). Then, in `rounds` rounds across all networks: in the first round a
network's estimate without measuring (the table as the networks before it left it: its per-kind
fits, the roofline for kinds it lacks; what a search predicting without measuring would get), then
the table measures its missing units (the first prediction); in later rounds the table re-times its
units (keeping each unit's fastest); in every round the whole network is timed (`repeats` blocks
after a warm-up). Measured latency = the fastest block over all rounds, the statistic the table
keeps for its entries (timeit's advice: slower blocks are other processes' doing; on a shared or
virtual machine they come in phases of seconds, which the rounds spread the samples across); the
median of the same blocks is reported too, with scores against it. The prediction compared is the
table's after the last round.

Scores, over all networks, the candidates alone (a narrow spread of latencies: the harder test)
and the built-ins alone: Kendall's tau-b (scipy's) of predicted against measured, the mean
absolute percentage error (MAPE), the share within +-10%; tau of multiply-adds alone, tau and MAPE
of the bare roofline (every op by the roofline, calibrated alike), of the estimate without
measuring and of the first prediction. Targets of the issue on a 2-core CPU: tau >= 0.9,
MAPE <= 15%, tau above multiply-adds'.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

from ..util.stats import kendall_tau, mape

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
QUICK = {"candidates": 4, "rounds": 2, "repeats": 2, "warmup": 1}
ROUNDS = 5  # each network timed in this many rounds, interleaved across all networks
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


def within(predicted: list[float], measured: list[float], tolerance: float = 0.10) -> float:
    """The share of predictions within +-tolerance of the measured value."""
    return sum(abs(p - m) <= tolerance * m for p, m in zip(predicted, measured, strict=True)) / len(measured)


def scores(rows: list[dict], truth: str = "measured_ms") -> dict:
    """Kendall's tau-b against the measured latency (`truth`: which one) of: predicted (the table,
    measuring what it lacks), multiply-adds, the bare roofline, and the estimate without
    measuring; their MAPEs; the share of predictions within +-10%."""
    measured = [r[truth] for r in rows]
    predicted = [r["predicted_ms"] for r in rows]
    return {"n": len(rows),
            "tau": kendall_tau(predicted, measured),
            "mape": mape(predicted, measured),
            "within_10pct": within(predicted, measured),
            "tau_ops": kendall_tau([r["ops"] for r in rows], measured),
            "tau_roofline": kendall_tau([r["roofline_ms"] for r in rows], measured),
            "mape_roofline": mape([r["roofline_ms"] for r in rows], measured),
            "tau_estimated": kendall_tau([r["estimated_ms"] for r in rows], measured),
            "mape_estimated": mape([r["estimated_ms"] for r in rows], measured),
            "tau_first": kendall_tau([r["first_predicted_ms"] for r in rows], measured),
            "mape_first": mape([r["first_predicted_ms"] for r in rows], measured)}


def _roofline_total(r, constants, precision: str, batch: int, calibration) -> float:
    """The bare roofline's prediction: every unit estimated (calibrated like a table entry), plus the
    same measured overheads."""
    from ..latency.units import spec_units

    total = constants.model_ms + len(r.layers) * constants.layer_ms
    for _, lu in spec_units(r, precision):
        total += lu.containers * constants.container_ms
        total += sum(calibration.scale * constants.roofline_ms(op, precision, batch) + calibration.unit_ms
                     for op, _ in lu.units)
    return total


def run(candidates: int = 30, config: str | Path = DEFAULT_CONFIG, device: str = "cpu", batch: int = 1,
        precision: str = "fp32", builtins: tuple[tuple[str, int | None], ...] | None = None, seed: int = 0, *,
        threads: int | None = None, rounds: int = ROUNDS, repeats: int = 3, warmup: int = 2, quick: bool = False,
        cache_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark (see the module's docstring). `builtins`: (name, input size or None) pairs,
    default BUILTINS. `rounds` x `repeats`: the blocks each network is timed in, round by round
    across all networks. `quick`: at most 4 candidates, no built-ins unless given, 2 rounds and a
    lighter table timing and calibration, in a table of its own that is never saved (a smoke test:
    its numbers mean little). `threads`:
    torch's intra-op threads for every measurement (default: as they are, which OMP_NUM_THREADS
    sets). `cache_dir`: where the lookup table lives (default the user's cache folder)."""
    import torch

    from .. import __version__
    from ..builder import build
    from ..latency import LatencyTable, get_table, predict_resolved
    from ..latency.measure import checked, precision_context, threads_set
    from ..latency.timing import Timing, time_samples
    from ..latency.units import spec_units
    from ..profile.profiler import profile_resolved
    from ..search.loader import load_search_config
    from ..search.space import describe
    from ..spec.resolve import resolved
    from .machine import cpu_name
    from .proxy_bench import BenchError, sample_candidates

    started = time.perf_counter()
    if quick:
        candidates = min(candidates, QUICK["candidates"])
        rounds, repeats, warmup = QUICK["rounds"], QUICK["repeats"], QUICK["warmup"]
    if builtins is None:
        builtins = () if quick else BUILTINS
    if candidates < 0:
        raise BenchError(f"--candidates must be at least 0, got {candidates}")
    if rounds < 1 or repeats < 1:
        raise BenchError(f"rounds and repeats must be at least 1, got {rounds} and {repeats}")
    dev = checked(device, batch, precision)
    if threads is not None:
        torch.set_num_threads(threads)
    n_threads = torch.get_num_threads()
    if quick:
        # A table of its own, never saved: a smoke test's hasty entries and calibration must not
        # become the cached table that real predictions use.
        table = LatencyTable.open(device, precision, threads=n_threads, cache_dir=cache_dir)
        table.rounds, table.repeats, table.block_s = 1, 2, 0.0005
        table.probes, table.probe_rounds = 3, 1
    else:
        table = get_table(device, precision, threads=n_threads, cache_dir=cache_dir)
    table_status, table_entries = table.status, len(table.entries)
    loaded = load_search_config(config, {"seed": seed})
    networks: list[dict] = []
    if candidates:
        drawn, _counts = sample_candidates(loaded, candidates)
        networks += [{"kind": "candidate", "name": f"cand{i}: {describe(c['spec'])}", "spec": c["spec"]}
                     for i, c in enumerate(drawn)]
    for name, size in builtins:
        spec = builtin_at(name, size)
        networks.append({"kind": "builtin", "name": spec.name, "spec": spec})
    if len(networks) < 2:
        raise BenchError("the benchmark needs at least 2 networks (Kendall's tau ranks pairs)")
    t0 = time.perf_counter()
    constants = table.device_constants()
    calibration = table.calibrated(batch)
    calibration_seconds = time.perf_counter() - t0
    for net in networks:
        net["r"] = r = resolved(net["spec"])
        net["units"] = [(op, dtype) for _, lu in spec_units(r, precision) for op, dtype in lu.units]
        net["model"] = build(net["spec"], seed=0).eval().to(dev)
        net["x"] = torch.randn(batch, *r.input_shape, device=dev)
        net["samples"], net["table_seconds"] = [], 0.0
    for round_ in range(rounds):
        for i, net in enumerate(networks):
            r = net["r"]
            before = table.measure_seconds
            if round_ == 0:
                # What a search would get without measuring: the table as the networks before this
                # one left it (its per-kind fits, the roofline for kinds it lacks).
                net["estimate"] = predict_resolved(r, table, batch, measure_missing=False, save=False)
                net["first"] = predict_resolved(r, table, batch, measure_missing=True, save=False)
            else:  # the table re-times the network's units and keeps their fastest (more samples)
                table.measure_many(net["units"], batch, rounds=1, refine=True)
            net["table_seconds"] += table.measure_seconds - before
            model, x = net["model"], net["x"]
            with threads_set(n_threads), torch.inference_mode(), precision_context(dev, precision):
                got, net["calls"] = time_samples(lambda m=model, x=x: m(x), dev, warmup=warmup, repeats=repeats,
                                                 calls=net.get("calls"))
            net["samples"] += got
            if log is not None and round_ == 0:
                log(f"{i + 1}/{len(networks)} {net['name']}: first prediction {net['first'].total_ms:.3f} ms, "
                    f"fastest so far {min(got) * 1e3:.3f} ms, {net['first'].measured_now} new table entries")
        if log is not None and round_:
            log(f"round {round_ + 1}/{rounds} done")
    if not quick:
        table.save()
    rows = []
    for net in networks:
        r = net["r"]
        pred = predict_resolved(r, table, batch, measure_missing=True, save=False)
        timing = Timing.of(net["samples"], net["calls"])
        rows.append({"kind": net["kind"], "name": net["name"], "ops": profile_resolved(r, "paper").total.ops * batch,
                     "predicted_ms": pred.total_ms, "measured_ms": timing.min_ms,
                     "measured_median_ms": timing.median_ms, "measured_q1_ms": timing.q1_ms,
                     "measured_q3_ms": timing.q3_ms, "measured_samples": timing.repeats,
                     "measured_calls": timing.calls, "error": pred.total_ms / timing.min_ms - 1,
                     "first_predicted_ms": net["first"].total_ms,
                     "roofline_ms": _roofline_total(r, constants, precision, batch, calibration),
                     "estimated_ms": net["estimate"].total_ms,
                     "estimated_covered_share": net["estimate"].covered_share,
                     "units": pred.units, "new_entries": net["first"].measured_now, "overhead_ms": pred.overhead_ms,
                     "table_seconds": net["table_seconds"]})
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
                     "batch": batch, "precision": precision, "seed": seed, "rounds": rounds, "repeats": repeats,
                     "warmup": warmup, "quick": quick, "table_rounds": table.rounds, "table_repeats": table.repeats,
                     "table_warmup": table.warmup},
        "measured": "the fastest block of calls over all rounds (the table keeps its entries' fastest too); "
                    "measured_median_ms is the median of the same blocks",
        "table": {"path": str(table.path), "status_at_start": table_status, "entries_at_start": table_entries,
                  "entries": len(table.entries), "build_seconds": table.measure_seconds,
                  "calibration_seconds": calibration_seconds, "saved": not quick and table.save_error is None,
                  "save_error": "--quick: never saved" if quick else table.save_error},
        "constants": {k: getattr(constants, k) for k in type(constants).__slots__},
        "calibration": calibration.to_dict(),
        "scores": {k: scores(v) if len(v) >= 2 else None for k, v in groups.items()},
        "scores_median": {k: scores(v, "measured_median_ms") if len(v) >= 2 else None for k, v in groups.items()},
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

    console = Console(width=None if sys.stdout.isatty() else 170)
    s = r["settings"]
    table = Table(title=f"archkit bench latency — {r['device_name']} ({r['device']}, {r['threads']} threads), "
                        f"batch {s['batch']}, {s['precision']}; {r['date']}, torch {r['torch']}",
                  title_justify="left")
    for col in ("network", "M mult-adds", "predicted ms", "measured ms (fastest)", "median [IQR]", "error"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for row in r["rows"]:
        table.add_row(row["name"][:70], f"{row['ops'] / 1e6:,.1f}", f"{row['predicted_ms']:.3f}",
                      f"{row['measured_ms']:.3f}",
                      f"{row['measured_median_ms']:.3f} [{row['measured_q1_ms']:.3f}, {row['measured_q3_ms']:.3f}]",
                      f"{row['error']:+.1%}")
    console.print(table)
    for title, key in (("predicted vs measured (fastest) whole-model latency", "scores"),
                       ("the same against the measured median", "scores_median")):
        summary = Table(title=title, title_justify="left")
        for col in ("networks", "n", "tau", "MAPE", "within ±10%", "tau mult-adds", "tau roofline", "MAPE roofline",
                    "tau unmeasured", "MAPE unmeasured", "MAPE first"):
            summary.add_column(col, justify="left" if col == "networks" else "right")
        for group, sc in r[key].items():
            if sc is None:
                continue
            summary.add_row(group, str(sc["n"]), _num(sc["tau"], "+.3f"), _num(sc["mape"], ".1%"),
                            _num(sc["within_10pct"], ".0%"), _num(sc["tau_ops"], "+.3f"),
                            _num(sc["tau_roofline"], "+.3f"), _num(sc["mape_roofline"], ".1%"),
                            _num(sc["tau_estimated"], "+.3f"), _num(sc["mape_estimated"], ".1%"),
                            _num(sc["mape_first"], ".1%"))
        console.print(summary)
    console.print("predicted: the table after the last round; roofline: every op by the roofline alone; unmeasured: "
                  "the table as it stood before the network (per-kind fits, roofline), as a search predicting "
                  "without measuring would; first: right after the network's units were first measured")
    t, c, cal = r["table"], r["constants"], r["calibration"]
    console.print(f"lookup table: {t['entries']} entries ({t['entries_at_start']} at start, {t['status_at_start']}); "
                  f"measuring took {t['build_seconds']:.1f} s in all, of which device constants and calibration "
                  f"{t['calibration_seconds']:.1f} s; {t['path']}")
    console.print(f"device constants: peak {c['peak_flops'] / 1e9:.1f} GFLOP/s, "
                  f"bandwidth {c['bandwidth'] / 1e9:.1f} GB/s, "
                  f"launch {c['launch_ms'] * 1e3:.1f} us, container call {c['container_ms'] * 1e3:.2f} us, "
                  f"model {c['model_ms'] * 1e3:.2f} us + {c['layer_ms'] * 1e3:.2f} us/layer")
    error = "n/a" if cal["error"] is None else f"{cal['error']:.1%}"
    console.print(f"calibration on {cal['probes']} probe networks: unit = {cal['scale']:.3f} x table + "
                  f"{cal['unit_ms'] * 1e3:.1f} us (fit error {error} RMS)")
    target = r["targets"]
    sc = r["scores"]["all"]
    if sc is not None and sc["tau"] is not None:
        met = (sc["tau"] >= target["tau"] and sc["mape"] <= target["mape"]
               and (sc["tau_ops"] is None or sc["tau"] > sc["tau_ops"]))
        console.print(f"targets (tau >= {target['tau']}, MAPE <= {target['mape']:.0%}, tau above mult-adds'): "
                      f"{'met' if met else 'not met'}")
    if s["quick"]:
        console.print("--quick: few candidates, rounds and repeats; the numbers are a smoke test only")
    console.print(f"bench took {r['bench_seconds']:.0f} s")
