"""`archkit bench memory`: does the training cost model (`archkit.profile.training`, no torch) give
the bytes a training step saves for backward, and how far is the guard it replaced?

Networks: the built-ins of the Inception family (inception-v4, inception-resnet-v2 and xception at
a reduced input size, as in `bench latency`, so the run takes minutes on 2 cores; the others at
their own, aux heads included) and random feasible candidates of a search config's space (default
the demo's: budget filled, so they differ in depth and shape). For each network, batch size and
precision: the predicted saved-for-backward bytes (the model, timed) against one real training
step on the CPU counted with `saved_tensors_hooks` (`archkit.training.memory.measure_saved`: unique
storages, parameters and buffers left out), per layer and in total; the old guard's count (every
op's output, twice for a conv with batch norm, times its element size: what `archkit train` used
before) beside it for scale.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

from ..util.choices import ELEMENT_BYTES

DEFAULT_CONFIG = Path("studies/demo.yaml")
BUILTINS: tuple[tuple[str, int | None], ...] = (
    ("googlenet-32", None),
    ("googlenet", None),
    ("bn-inception", None),
    ("inception-v3", None),
    ("inception-v4", 160),
    ("inception-resnet-v2", 160),
    ("xception", 160),
)
# (precision, batches) of the built-ins and of the candidates (batch 2 at least: batch norm on a 1x1 grid,
# as in inception-v3's aux head, cannot train on one image); bf16 is emulated on most CPUs (slow),
# so it runs at the smallest batch only; the rules do not depend on the batch (bytes per image).
BUILTIN_RUNS = (("fp32", (2, 4)), ("bf16", (2,)))
CANDIDATE_RUNS = (("fp32", (2, 8, 32)), ("bf16", (8,)))
QUICK = {"candidates": 3, "builtins": (("googlenet-32", None),)}


def old_guard_bytes(spec, batch: int, precision: str) -> int:
    """The guard `archkit train` used before issue 23: every op's output per image (aux heads too),
    twice for a conv with batch norm, at the activation's element size (without its factor of 2
    for the backward's gradients: this compares saved bytes)."""
    from ..profile.counts import activations
    from ..spec.resolve import ConvOp, resolved

    r = resolved(spec)
    total = 0
    for layer in [*r.layers, *(layer for head in r.aux for layer in head.layers)]:
        for branch in layer.branches:
            for op in branch.ops:
                n = activations(op)
                total += 2 * n if isinstance(op, ConvOp) and op.batch_norm else n
    return batch * total * ELEMENT_BYTES[precision]


def _builtin(name: str, size: int | None):
    from .latency_bench import builtin_at

    return builtin_at(name, size)


def run(candidates: int = 30, config: str | Path = DEFAULT_CONFIG, quick: bool = False,
        log: Callable[[str], None] = lambda line: None) -> dict:
    import torch

    from .. import __version__
    from ..profile.training import train_profile
    from ..search.loader import load_search_config
    from ..search.space import describe
    from ..training.memory import measure_saved, row_keys
    from .machine import cpu_name
    from .proxy_bench import sample_candidates

    builtins = QUICK["builtins"] if quick else BUILTINS
    candidates = min(candidates, QUICK["candidates"]) if quick else candidates
    networks = [{"kind": "builtin", "name": _builtin(n, s).name, "spec": _builtin(n, s)} for n, s in builtins]
    if candidates:
        loaded = load_search_config(config)
        drawn, _ = sample_candidates(loaded, candidates)
        networks += [{"kind": "candidate", "name": f"cand{i}: {describe(c['spec'])}", "spec": c["spec"]}
                     for i, c in enumerate(drawn)]
    rows = []
    t_all = time.perf_counter()
    for net in networks:
        runs = BUILTIN_RUNS if net["kind"] == "builtin" else CANDIDATE_RUNS
        for precision, batches in runs:
            for batch in batches[:1] if quick else batches:
                t0 = time.perf_counter()
                cost = train_profile(net["spec"], batch, precision)
                predict_ms = (time.perf_counter() - t0) * 1e3
                t0 = time.perf_counter()
                measured = measure_saved(net["spec"], batch, precision)
                measure_s = time.perf_counter() - t0
                predicted = row_keys(cost)
                keys = set(predicted) | set(measured)
                exact_rows = sum(predicted.get(k, 0) == measured.get(k, 0) for k in keys)
                total_m = sum(measured.values())
                old = old_guard_bytes(net["spec"], batch, precision)
                rows.append({"kind": net["kind"], "name": net["name"], "batch": batch, "precision": precision,
                             "predicted_bytes": cost.saved_bytes, "measured_bytes": total_m,
                             "error": (cost.saved_bytes - total_m) / total_m, "rows": len(keys),
                             "exact_rows": exact_rows, "old_guard_bytes": old,
                             "old_guard_error": (old - total_m) / total_m,
                             "peak_train_bytes": cost.peak_bytes, "train_ops": cost.train_ops,
                             "predict_ms": predict_ms, "measure_s": measure_s})
                log(f"{net['name'][:60]} batch {batch} {precision}: predicted {cost.saved_bytes:,} measured "
                    f"{total_m:,} ({rows[-1]['error']:+.2%}; {exact_rows}/{len(keys)} rows exact)")
    return {"benchmark": "memory", "archkit": __version__, "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": cpu_name(), "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
            "settings": {"config": str(config), "candidates": candidates, "builtins": [list(b) for b in builtins],
                         "builtin_runs": [[p, list(b)] for p, b in BUILTIN_RUNS],
                         "candidate_runs": [[p, list(b)] for p, b in CANDIDATE_RUNS], "quick": quick},
            "rows": rows, "summary": summarize(rows), "seconds": time.perf_counter() - t_all}


def summarize(rows: list[dict]) -> dict:
    """Per group (all, built-ins, candidates): cases, mean and worst absolute error of the predicted
    total, cases exact to the byte, rows exact; the same errors for the old guard."""
    out = {}
    for group, keep in (("all", lambda r: True), ("builtins", lambda r: r["kind"] == "builtin"),
                        ("candidates", lambda r: r["kind"] == "candidate")):
        sel = [r for r in rows if keep(r)]
        if not sel:
            continue
        errors = [abs(r["error"]) for r in sel]
        old = [abs(r["old_guard_error"]) for r in sel]
        out[group] = {"cases": len(sel), "mean_abs_error": sum(errors) / len(sel), "worst_abs_error": max(errors),
                      "exact_cases": sum(r["predicted_bytes"] == r["measured_bytes"] for r in sel),
                      "rows": sum(r["rows"] for r in sel), "exact_rows": sum(r["exact_rows"] for r in sel),
                      "old_guard_mean_abs_error": sum(old) / len(sel), "old_guard_worst_abs_error": max(old),
                      "predict_ms_max": max(r["predict_ms"] for r in sel)}
    return out


def print_results(r: dict) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    table = Table(title=f"archkit bench memory — saved-for-backward bytes of one training step, {r['cpu']} "
                        f"({r['threads']} threads), torch {r['torch']}, {r['date']}", title_justify="left")
    for col in ("network", "batch", "precision", "predicted", "measured", "error", "rows exact", "old guard"):
        table.add_column(col, justify="left" if col == "network" else "right")
    for row in r["rows"]:
        table.add_row(row["name"][:60], str(row["batch"]), row["precision"], f"{row['predicted_bytes']:,}",
                      f"{row['measured_bytes']:,}", f"{row['error']:+.2%}", f"{row['exact_rows']}/{row['rows']}",
                      f"{row['old_guard_error']:+.1%}")
    console.print(table)
    for group, s in r["summary"].items():
        console.print(f"{group}: {s['cases']} cases, {s['exact_cases']} exact to the byte ({s['exact_rows']} of "
                      f"{s['rows']} layer rows); error mean {s['mean_abs_error']:.2%}, "
                      f"worst {s['worst_abs_error']:.2%} "
                      f"(the old guard's: mean {s['old_guard_mean_abs_error']:.1%}, worst "
                      f"{s['old_guard_worst_abs_error']:.1%}); prediction at most {s['predict_ms_max']:.1f} ms")
